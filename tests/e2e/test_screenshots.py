"""The README's screenshots, taken from the demo data. Opt-in: `make screenshots` (SCREENSHOTS=1)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import PHONE

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not os.environ.get("SCREENSHOTS"), reason="writes docs/screenshots/: run make screenshots"),
]

OUTPUT = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def test_write_the_readme_screenshots(demo, new_page):
    OUTPUT.mkdir(parents=True, exist_ok=True)

    manager = new_page("surrey.manager")
    expect(manager.get_by_role("heading", name="Awaiting your sign-off")).to_be_visible()
    manager.screenshot(path=OUTPUT / "home.png", full_page=True)

    manager.goto(demo.plan("AFI1", "surrey").get_absolute_url())
    manager.locator("#action-progress > summary").click()
    manager.screenshot(path=OUTPUT / "plan-detail.png", full_page=True)

    inspector = new_page("inspector")
    inspector.goto("/dashboard/")
    inspector.screenshot(path=OUTPUT / "dashboard.png", full_page=True)

    phone = new_page("surrey.staff", viewport=PHONE)
    expect(phone.get_by_role("heading", name="My actions")).to_be_visible()
    phone.screenshot(path=OUTPUT / "home-phone.png")

    for name in ("home", "plan-detail", "dashboard", "home-phone"):
        assert (OUTPUT / f"{name}.png").stat().st_size > 10_000
