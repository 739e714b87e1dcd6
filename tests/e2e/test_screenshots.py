"""The README's screenshots, taken from the demo data. Opt-in: `make screenshots` (SCREENSHOTS=1)."""

from __future__ import annotations

import os
import subprocess
import tempfile
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

    # The board pack PDF as the server makes it (with the trend chart): its cover and its first page of
    # progress, rendered to PNG by pdftoppm (poppler-utils).
    manager.goto("/organisations/surrey/board-pack/")
    response = manager.request.get("/organisations/surrey/board-pack.pdf?chart=1", timeout=180_000)
    assert response.ok and response.headers["content-type"] == "application/pdf"
    with tempfile.TemporaryDirectory() as directory:
        pdf = Path(directory) / "board-pack.pdf"
        pdf.write_bytes(response.body())
        response_pdf = manager.request.get("/inspections/south-east-soc-2024/response/surrey.pdf", timeout=180_000)
        assert response_pdf.ok and response_pdf.headers["content-type"] == "application/pdf"
        (Path(directory) / "response.pdf").write_bytes(response_pdf.body())
        subprocess.run(
            ["pdftoppm", "-png", "-r", "70", "-f", "1", "-l", "1", "-singlefile",
             str(Path(directory) / "response.pdf"), str(OUTPUT / "response-pdf")],
            check=True, timeout=60,
        )  # fmt: skip
        for name, number in (("board-pack-pdf", 1), ("board-pack-pdf-progress", 3)):
            subprocess.run(
                ["pdftoppm", "-png", "-r", "70", "-f", str(number), "-l", str(number), "-singlefile", str(pdf),
                 str(OUTPUT / name)],
                check=True, timeout=60,
            )  # fmt: skip

    for name in (
        "home",
        "plan-detail",
        "dashboard",
        "home-phone",
        "board-pack-pdf",
        "board-pack-pdf-progress",
        "response-pdf",
    ):
        assert (OUTPUT / f"{name}.png").stat().st_size > 10_000


def test_write_the_public_progress_page_screenshot(demo, new_page):
    OUTPUT.mkdir(parents=True, exist_ok=True)
    reader = new_page()  # anyone: no sign-in
    reader.goto("/public/surrey/")
    expect(reader.get_by_role("heading", level=1)).to_have_text("Surrey Police: progress on inspection findings")
    reader.screenshot(path=OUTPUT / "public-progress.png", full_page=True)
    assert (OUTPUT / "public-progress.png").stat().st_size > 10_000
