"""Keyboard only: the skip link, a visible focus ring on everything reached by Tab, and the progress and
sign-off forms completed with Tab, Enter and typing alone (no clicks, no filling by the test)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.e2e

TAB_LIMIT = 80

FOCUS_RING = """() => {
  const el = document.activeElement;
  const style = getComputedStyle(el);
  const ring = style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 2;
  return ring ? "" : `${el.outerHTML.slice(0, 120)} has outline ${style.outlineStyle} ${style.outlineWidth}`;
}"""


def tab_to(page: Page, selector: str) -> None:
    """Press Tab until the element matching `selector` has focus, checking every stop shows its focus."""
    for _ in range(TAB_LIMIT):
        page.keyboard.press("Tab")
        missing_ring = page.evaluate(FOCUS_RING)
        assert not missing_ring, f"no visible focus: {missing_ring}"
        if page.evaluate("s => document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"{selector} not reached in {TAB_LIMIT} presses of Tab")


def test_the_skip_link_is_the_first_stop_and_moves_to_the_main_content(demo, new_page):
    page = new_page("surrey.staff")
    page.goto("/plans/")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to main content")
    expect(skip).to_be_focused()
    expect(skip).to_be_visible()
    assert skip.bounding_box()["width"] > 1  # shown, not just present
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()
    # The next Tab continues from the main content, past the navigation.
    page.keyboard.press("Tab")
    assert page.evaluate("document.querySelector('main').contains(document.activeElement)")


def test_progress_form_with_the_keyboard_alone(demo, new_page):
    plan = demo.plan("AFI1", "surrey")
    page = new_page("surrey.staff")
    page.goto(plan.get_absolute_url())

    tab_to(page, "#action-progress > summary")
    page.keyboard.press("Enter")
    expect(page.locator("#action-progress")).to_have_attribute("open", "")
    tab_to(page, "#id_progress-note")
    page.keyboard.type("Third analyst post filled; induction starts next month.")
    tab_to(page, "#id_progress-percent_complete")
    page.keyboard.type("65")
    tab_to(page, "#action-progress button[type=submit]")
    page.keyboard.press("Enter")

    expect(page.locator(".messages")).to_contain_text("Progress recorded.")
    expect(page.locator(".plan-facts .progress")).to_have_attribute("aria-valuenow", "65")
    latest = plan.updates.first()
    assert (latest.note, latest.percent) == ("Third analyst post filled; induction starts next month.", 65)


def test_sign_off_form_with_the_keyboard_alone(demo, new_page):
    plan = demo.plan("AFI2", "surrey")
    page = new_page("surrey.manager")
    page.goto(plan.get_absolute_url())

    tab_to(page, "#action-sign-off > summary")
    page.keyboard.press("Enter")
    tab_to(page, "#id_sign-off-comment")
    page.keyboard.type("Funded posts and start dates checked.")
    tab_to(page, "#action-sign-off button[type=submit]")
    page.keyboard.press("Enter")

    expect(page.locator(".messages")).to_contain_text("Plan signed off.")
    expect(page.locator(".plan-facts .status")).to_have_text("Signed off by force")
    plan.refresh_from_db()
    assert plan.status == "signed_off"


def test_form_errors_are_summarised_focused_and_linked_to_their_fields(demo, new_page):
    plan = demo.plan("AFI1", "surrey")
    page = new_page("surrey.manager")
    page.goto(plan.get_absolute_url())

    tab_to(page, "#action-target-date > summary")
    page.keyboard.press("Enter")
    tab_to(page, "#action-target-date button[type=submit]")
    page.keyboard.press("Enter")  # no reason given

    summary = page.locator("#action-target-date .error-summary")
    expect(summary).to_have_attribute("role", "alert")
    expect(summary).to_be_focused()
    reason = page.locator("#id_target-date-reason")
    expect(reason).to_have_attribute("aria-invalid", "true")
    described_by = reason.get_attribute("aria-describedby").split()
    assert any(page.locator(f"#{ident}").inner_text().strip() == "This field is required." for ident in described_by)

    page.keyboard.press("Tab")
    expect(summary.get_by_role("link", name="Reason for the change: This field is required.")).to_be_focused()
    page.keyboard.press("Enter")
    expect(reason).to_be_focused()
