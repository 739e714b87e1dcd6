"""An inspector imports the demo's follow-up inspection, accepts two suggested links and dismisses one,
then finds the recurrence, in a real browser."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from devdata.demo import FOLLOW_UP_FILE, FOLLOW_UP_SLUG, seed_demo
from inspections.models import DismissedSuggestion, FindingLink
from tests.e2e.conftest import PASSWORD, Demo
from tests.jobs import run_worker
from tracker.models import ActionPlan

pytestmark = pytest.mark.e2e
REPORT_2024 = "An inspection of the South East regional response to serious and organised crime"


@pytest.fixture
def demo_before_follow_up(transactional_db: None, live_server: Any) -> Demo:
    seed_demo(password=PASSWORD, follow_up=False)
    return Demo()


def test_an_inspector_imports_the_follow_up_accepts_two_suggestions_and_dismisses_one(demo_before_follow_up, new_page):
    page = new_page("admin")  # the demo's administrator is an inspector who may import
    page.goto("/imports/")
    page.get_by_label("Findings file").set_input_files(FOLLOW_UP_FILE)
    page.get_by_label("Publish: open action plans for every addressee").check()
    page.get_by_role("button", name="Upload and preview").click()
    run_worker()  # the check: the page moves on to the preview by itself
    expect(page.get_by_text("may repeat earlier findings to the same organisations")).to_be_visible()
    expect(page.get_by_text("May repeat:").first).to_be_visible()
    page.get_by_role("button", name="Import 4 rows").click()
    run_worker()  # the import: then its results
    expect(page.get_by_role("heading", name="Suggested links to earlier findings")).to_be_visible()

    page.get_by_role("button", name=f"Accept: R1 repeats R1 of {REPORT_2024}").click()
    expect(page.locator(".messages")).to_contain_text("R1 now repeats R1")
    expect(page).to_have_url(re.compile(r"/imports/done/$"))
    page.get_by_role("button", name=f"Accept: R2 repeats AFI1 of {REPORT_2024}").click()
    expect(page.locator(".messages")).to_contain_text("R2 now repeats AFI1")
    page.get_by_role("button", name=f"Dismiss AFI2 of {REPORT_2024} for R2").click()
    expect(page.locator(".messages")).to_contain_text("will not be suggested again")
    expect(page.get_by_role("button", name=f"Dismiss AFI2 of {REPORT_2024} for R2")).to_have_count(0)

    links = {(link.finding.reference, link.earlier.reference) for link in FindingLink.objects.filter(kind="repeats")}
    assert links == {("R1", "R1"), ("R2", "AFI1")}
    assert DismissedSuggestion.objects.get().earlier.reference == "AFI2"

    # Hampshire had closed 2024 R1: the follow-up's R1 is a recurrence, on the list and the plan page.
    page.goto("/plans/?recurrence=1")
    rows = page.locator("table.plan-table tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Recurrence")
    rows.first.get_by_role("link").first.click()
    expect(page.locator(".badge.recurrence")).to_be_visible()
    expect(page.locator("#raised-before")).to_contain_text(re.compile(r"Hampshire\s*:\s*closed"))
    assert ActionPlan.objects.recurrences().get().finding.inspection.slug == FOLLOW_UP_SLUG

    # And both ways: the 2024 finding says where it was raised again.
    page.goto(f"/findings/{FindingLink.objects.get(earlier__reference='R1').earlier_id}/")
    expect(page.locator("#raised-since")).to_contain_text("Raised again in")
    expect(page.locator("#raised-since")).to_contain_text("R1 of South East serious and organised crime: follow-up")


def test_the_header_search_finds_the_follow_up_and_highlights_the_words(demo, new_page):
    page = new_page("hampshire.staff")
    page.get_by_label("Search findings, plans, notes and files").fill('"local profiles"')
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.get_by_role("heading", name=re.compile("results? for"))).to_be_visible()
    expect(page.locator(".search-results mark").first).to_be_visible()
    # Findings are everyone's reading; responses, notes and files only Hampshire's own.
    expect(page.locator(".search-results")).not_to_contain_text(re.compile("Surrey's response|, Surrey"))
