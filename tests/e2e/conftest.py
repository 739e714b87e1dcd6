"""Browser tests: Playwright drives Debian's Chromium against pytest-django's live server.

Chromium comes from the system (`apt-get install chromium`), never from a download by a test tool.
Without it these tests skip with the reason, except under CI (CI=true), where they fail: CI must
not pass by silently skipping the browser.

Playwright's sync API keeps an asyncio loop marked as running in this thread between its calls,
and Django refuses ORM calls from a thread with a running loop (SynchronousOnlyOperation). The test
code here makes ORM calls only in between browser calls and never from the loop itself, so the
package-scoped `playwright` fixture sets DJANGO_ALLOW_ASYNC_UNSAFE while it is alive, then stops
Playwright and clears the loop marker before the rest of the suite runs.

The live server runs in a thread of this process. On SQLite the test database is in memory and
pytest-django hands the same connection to the server thread, so everything the tests create (with
`transactional_db`: committed, not inside a rolled-back transaction) is what the server sees. On
PostgreSQL the server thread simply opens its own connection to the test database.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from devdata.demo import INSPECTION_SLUG, REVISIT_SLUG, seed_demo
from inspections.models import Finding, Organisation
from tests.factories import PASSWORD
from tracker.models import ActionPlan, User

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
# Playwright's default wait for `expect` is 5 s; a shared CI machine can be slower than that.
EXPECT_TIMEOUT_MS = 10_000


def chromium_path() -> str | None:
    """CHROMIUM_PATH if set (and only that), else Debian's /usr/bin/chromium, else `chromium` on the PATH."""
    candidates = [os.environ["CHROMIUM_PATH"]] if os.environ.get("CHROMIUM_PATH") else []
    candidates = candidates or ["/usr/bin/chromium", shutil.which("chromium") or ""]
    return next((path for path in candidates if path and os.access(path, os.X_OK)), None)


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}. CI must run the browser tests: install Chromium (apt-get install chromium).")
    pytest.skip(f"{reason}: browser tests skipped (apt-get install chromium to run them)")


@pytest.fixture(scope="package")
def playwright() -> Iterator[Any]:
    path = chromium_path()
    if path is None:
        _unavailable("Chromium not found (CHROMIUM_PATH, /usr/bin/chromium or on the PATH)")
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:  # pragma: no cover - requirements-dev.txt pins it
        _unavailable("playwright is not installed")
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    manager = sync_playwright().start()
    try:
        yield manager
    finally:
        manager.stop()
        # Playwright marks its loop as running in this thread between calls; the rest of the suite
        # (and Django's async-safety check) must see a thread with no loop again.
        asyncio._set_running_loop(None)
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(scope="package")
def browser(playwright: Any) -> Iterator[Any]:
    browser = playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


# --- pages that record what goes wrong in them ---------------------------------------------------


@dataclass
class Problems:
    """JavaScript errors, CSP violations and failed requests seen by every page of a test."""

    items: list[str] = field(default_factory=list)

    def watch(self, page: Any) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.items.append(f"{page.url}: uncaught {error}"))
        page.on("response", lambda response: self._response(page, response))
        page.on("requestfailed", lambda request: self._failed(page, request))

    def _console(self, message: Any) -> None:
        # A page served with an error status on purpose (404, 403, 409) is logged as "Failed to load
        # resource"; failed sub-resources are caught by `_response` instead, with their URL.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.items.append(f"{message.location.get('url', '')}: console error: {message.text}")

    def _response(self, page: Any, response: Any) -> None:
        if response.status >= 400 and response.request.resource_type != "document":
            self.items.append(f"{page.url}: {response.status} for {response.url}")

    def _failed(self, page: Any, request: Any) -> None:
        # ERR_ABORTED is the browser cancelling a request itself: the page moved on (a click before
        # the favicon arrived) or a download took over the navigation. A CSP block is a console error.
        if "ERR_ABORTED" in (request.failure or ""):
            return
        self.items.append(f"{page.url}: request failed: {request.url} {request.failure}")

    def take(self) -> list[str]:
        items, self.items = self.items, []
        return items


@pytest.fixture
def problems() -> Iterator[Problems]:
    """Every e2e test ends with no JavaScript console error, CSP violation or failed request."""
    found = Problems()
    yield found
    assert not found.items, "Browser problems:\n" + "\n".join(found.items)


@pytest.fixture
def new_page(browser: Any, live_server: Any, problems: Problems) -> Iterator[Callable[..., Any]]:
    """Open a page in a fresh browser context (its own cookies), optionally signed in as `username`."""
    contexts = []

    def open_page(username: str | None = None, *, viewport: dict[str, int] | None = None) -> Any:
        context = browser.new_context(base_url=live_server.url, viewport=viewport or DESKTOP, accept_downloads=True)
        context.set_default_timeout(EXPECT_TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        problems.watch(page)
        context.on("page", problems.watch)  # pages the first one opens (a second tab)
        if username:
            log_in(page, username)
        return page

    yield open_page
    for context in contexts:
        context.close()


def log_in(page: Any, username: str, password: str = PASSWORD) -> None:
    from playwright.sync_api import expect

    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"^https?://[^/]+/$"))  # the home page, not the login form again


# --- the demo data ------------------------------------------------------------------------------


class Demo:
    """The South East SOC demo (seed_demo), with lookups for the tests."""

    password = PASSWORD

    def plan(self, reference: str, organisation: str, inspection: str = INSPECTION_SLUG) -> ActionPlan:
        return ActionPlan.objects.get(
            finding__inspection__slug=inspection, finding__reference=reference, organisation__slug=organisation
        )

    def finding(self, reference: str, inspection: str = INSPECTION_SLUG) -> Finding:
        return Finding.objects.get(inspection__slug=inspection, reference=reference)

    def organisation(self, slug: str) -> Organisation:
        return Organisation.objects.get(slug=slug)

    def user(self, username: str) -> User:
        return User.objects.get(username=username)

    revisit = REVISIT_SLUG


@pytest.fixture
def demo(transactional_db: None, live_server: Any) -> Demo:
    seed_demo(password=PASSWORD)
    return Demo()
