"""The public progress page in a real browser, with JavaScript off: a manager publishes a statement a
member of staff wrote, and anyone reads it on the public page."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import PASSWORD

pytestmark = pytest.mark.e2e


def test_a_statement_goes_public_once_approved_without_javascript(demo, browser, live_server):
    contexts = []

    def no_script_page(username: str | None = None):  # type: ignore[no-untyped-def]
        context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
        contexts.append(context)
        page = context.new_page()
        if username:
            page.goto("/accounts/login/")
            page.get_by_label("Username").fill(username)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
        return page

    try:
        plan_url = demo.plan("AFI2", "surrey").get_absolute_url()
        staff = no_script_page("surrey.staff")
        staff.goto(plan_url)
        staff.locator("#statement-form summary").click()
        staff.locator("#statement-form").get_by_role("textbox").fill("Two new posts are funded and being filled.")
        staff.get_by_role("button", name="Save the statement").click()
        expect(staff.get_by_role("status")).to_contain_text("a manager must approve it before it is published")

        reader = no_script_page()
        reader.goto("/public/surrey/")
        expect(reader.get_by_role("heading", level=1)).to_have_text("Surrey Police: progress on inspection findings")
        expect(reader.get_by_text("Two new posts are funded and being filled.")).to_have_count(0)

        manager = no_script_page("surrey.manager")
        manager.goto(plan_url)
        manager.get_by_role("button", name="Approve for publication").click()
        expect(manager.get_by_role("status")).to_contain_text("Public statement approved for the public page.")

        reader.goto("/public/surrey/")
        row = reader.get_by_role("row").filter(has_text="AFI2")
        expect(row.first).to_contain_text("Two new posts are funded and being filled.")
        expect(row.first).to_contain_text("With the force")
        # The demo's two statements approved before are there too; the one awaiting approval was replaced.
        expect(
            reader.get_by_text("We have found the money for three more intelligence analysts.", exact=False)
        ).to_be_visible()
    finally:
        for context in contexts:
            context.close()
