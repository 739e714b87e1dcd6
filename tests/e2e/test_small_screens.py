"""Phones: at 390 px wide no page scrolls sideways, wide tables stay in their own box, the menu collapses."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import PHONE
from tests.e2e.tour import ROLES, visit_all

pytestmark = pytest.mark.e2e

# Tables wider than the screen must scroll inside their own container (Bootstrap's .table-responsive)
# or be stacked into labelled rows (.plan-table, .stack-table in static/css/app.css).
OVERFLOW = """() => {
  const root = document.documentElement;
  const problems = [];
  if (root.scrollWidth > root.clientWidth) {
    // Name what sticks out: elements past the right edge that no scroll box of their own contains
    // (an absolutely positioned one escapes a box that is not its containing block).
    const outside = [...document.body.querySelectorAll("*")].filter((el) => {
      if (el.getBoundingClientRect().right <= root.clientWidth + 0.5) return false;
      const box = el.parentElement.closest(".table-responsive");
      return !box || (getComputedStyle(el).position === "absolute" && getComputedStyle(box).position === "static");
    });
    const names = outside.slice(0, 3).map((el) => `<${el.tagName.toLowerCase()} class="${el.className}">`);
    problems.push(`page is ${root.scrollWidth}px wide in a ${root.clientWidth}px window: ${names.join(", ")}`);
  }
  for (const table of document.querySelectorAll("main table")) {
    const box = table.closest(".table-responsive");
    const right = table.getBoundingClientRect().right;
    if (!box && right > root.clientWidth + 0.5) {
      const name = table.caption?.textContent.trim();
      problems.push(`table "${name}" ends at ${Math.round(right)}px, outside any scroll box`);
    }
  }
  return problems;
}"""


@pytest.mark.parametrize("role", ROLES)
def test_no_page_scrolls_sideways_on_a_phone(role, demo, new_page, problems):
    page = new_page(ROLES[role], viewport=PHONE)

    def check(page, stop):
        found = page.evaluate(OVERFLOW)
        if ROLES[role] and "/public/" not in page.url:  # the public page has no app navigation, for anyone
            toggler = page.get_by_role("button", name="Show navigation")
            if not toggler.is_visible():
                found.append("the navigation toggler is not visible")
            if page.get_by_role("navigation", name="Main").get_by_role("link", name="Action plans").is_visible():
                found.append("the navigation is not collapsed")
        return found + problems.take()

    failures = visit_all(page, demo, role, check)
    assert not failures, "\n".join(f"{name}: {'; '.join(lines)}" for name, lines in failures.items())


def test_the_collapsed_navigation_opens_and_closes(demo, new_page):
    page = new_page("surrey.manager", viewport=PHONE)
    page.goto("/")
    toggler = page.get_by_role("button", name="Show navigation")
    plans_link = page.get_by_role("navigation", name="Main").get_by_role("link", name="Action plans")
    expect(plans_link).to_be_hidden()
    expect(toggler).to_have_attribute("aria-expanded", "false")

    toggler.click()
    expect(plans_link).to_be_visible()
    expect(toggler).to_have_attribute("aria-expanded", "true")
    plans_link.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Action plans")
    # The stacked plan table labels each value, because its column headings are hidden.
    first_row = page.locator("table.plan-table tbody tr").first
    expect(first_row.locator("td[data-label='Status']")).to_be_visible()
    label = first_row.locator("td[data-label='Status']").evaluate("td => getComputedStyle(td, '::before').content")
    assert label == '"Status: "'
