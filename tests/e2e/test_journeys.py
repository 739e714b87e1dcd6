"""Each user's journey in a real browser, on the demo data, through the pages and forms people use."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Locator, Page, expect

from devdata.demo import INSPECTION_SLUG
from inspections.models import Finding
from tests.e2e.conftest import log_in
from tests.factories import PDF_BYTES, ActionPlanFactory, FindingFactory, pdf_upload
from tracker import workflow
from tracker.models import ActionPlan, Evidence, SuccessMeasure

pytestmark = pytest.mark.e2e
S = ActionPlan.Status


# --- helpers: the plan page ----------------------------------------------------------------------


def action_form(page: Page, title: str) -> Locator:
    """The collapsible form `title` on a plan page, opened."""
    details = page.locator("details.action-form").filter(
        has=page.locator("summary", has_text=re.compile(f"^{title}$"))
    )
    if details.get_attribute("open") is None:
        details.locator("summary").click()
    expect(details).to_have_attribute("open", "")
    return details


def send(page: Page, title: str, button: str, **fields: str) -> None:
    """Fill the plan form `title` ({label: text}) and send it."""
    form = action_form(page, title)
    for label, value in fields.items():
        form.get_by_label(label).fill(value)
    form.get_by_role("button", name=button).click()


def expect_message(page: Page, text: str) -> None:
    expect(page.locator(".messages")).to_contain_text(text)


def expect_status(page: Page, status: str) -> None:
    expect(page.locator(".plan-facts .status")).to_have_text(status)


def overdue_plan_for(demo, username: str) -> ActionPlan:
    """An in-progress Surrey plan owned by `username`, ten days past its target date."""
    past = timezone.localdate() - dt.timedelta(days=10)
    finding = FindingFactory(
        inspection=demo.finding("AFI1").inspection,
        kind=Finding.Kind.AREA_FOR_IMPROVEMENT,
        reference="AFI9",
        text="Surrey Police should grade every SOC intelligence report within five working days.",
    )
    return ActionPlanFactory(
        finding=finding,
        organisation=demo.organisation("surrey"),
        owner=demo.user(username),
        status=S.IN_PROGRESS,
        target_date=past,
        original_target_date=past,
        percent_complete=40,
    )


def evidence_file(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    path.write_bytes(PDF_BYTES)
    return path


# --- staff ---------------------------------------------------------------------------------------


def test_staff_find_their_overdue_plan_record_progress_with_evidence_and_submit_it(demo, new_page, tmp_path):
    plan = overdue_plan_for(demo, "surrey.staff")
    page = new_page()
    log_in(page, "surrey.staff")
    expect(page.get_by_role("heading", name=re.compile("Overdue in your organisation"))).to_be_visible()

    # Find it through the filters; htmx updates the results in place (no page load) under the CSP.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Action plans").click()
    page.evaluate("window.sameDocument = true")
    filters = page.get_by_role("search", name="Filter action plans")
    filters.get_by_label("Overdue only").check()
    filters.get_by_label("Owner").select_option(label="Me")
    expect(page).to_have_url(re.compile(r"overdue=1.*owner=me|owner=me.*overdue=1"))
    results = page.locator("#results")
    expect(results.locator(".result-count")).to_have_text(re.compile(r"^1 action plan\."))
    assert page.evaluate("window.sameDocument") is True
    results.get_by_role("link", name=re.compile("AFI9")).click()
    expect(page).to_have_url(re.compile(f"/plans/{plan.pk}/$"))
    expect(page.locator(".plan-facts .rag")).to_have_text("Red: overdue")

    # Progress with an evidence PDF, which then downloads intact.
    form = action_form(page, "Add progress")
    form.get_by_label("What has been done").fill("Grading backlog cleared; weekly checks in place.")
    form.get_by_label("Percent complete").fill("70")
    form.get_by_label("Evidence files (optional)").set_input_files(evidence_file(tmp_path, "grading-audit.pdf"))
    form.get_by_role("button", name="Save progress").click()
    expect_message(page, "Progress recorded.")
    expect(page.locator(".plan-facts .progress")).to_have_attribute("aria-valuenow", "70")
    with page.expect_download() as download:
        # From the Evidence panel (the timeline entry links the same file).
        page.get_by_role("region", name=re.compile("^Evidence")).get_by_role("link", name="grading-audit.pdf").click()
    assert download.value.suggested_filename == "grading-audit.pdf"
    assert Path(download.value.path()).read_bytes() == PDF_BYTES

    # What the plan waits on is named (issue 15, part 3): a procurement, by name.
    action_form(page, "Mark as blocked").get_by_role("radio", name="A procurement").check()
    waits = {"Which one": "The new records management system", "What is it waiting on?": "The new RMS release."}
    send(page, "Mark as blocked", "Mark blocked", **waits)
    expect_message(page, "Plan marked as blocked.")
    expect_status(page, "Blocked")
    # Still blocked, what it waits on changes (the system is now procured nationally); the form starts from what
    # it waits on now, and its plan picker offers Surrey's own plans, never another organisation's.
    form = action_form(page, "Change what it waits on")
    expect(form.get_by_label("Which one")).to_have_value("The new records management system")
    offered = form.locator("datalist option")
    expect(offered.filter(has_text=re.compile(r": Surrey \("))).not_to_have_count(0)
    expect(offered.filter(has_text=re.compile(r": Hampshire \("))).to_have_count(0)
    form.get_by_role("radio", name="A national body").check()
    send(page, "Change what it waits on", "Save what it waits on",
         **{"Which one": "Home Office", "What has changed?": "Bought nationally now."})  # fmt: skip
    expect_message(page, "What the plan waits on is changed.")
    expect(page.locator(".waiting-on")).to_contain_text("A national body: Home Office")

    send(page, "Unblock", "Unblock", Note="RMS release installed.")
    expect_message(page, "Plan is in progress again.")
    expect_status(page, "In progress")

    send(page, "Submit for sign-off", "Submit for sign-off", **{"Closure statement": "Every report is graded."})
    expect_message(page, "Submitted for sign-off.")
    expect_status(page, "Submitted for sign-off")
    expect(page.get_by_role("heading", name="What you can do")).to_have_count(0)

    plan.refresh_from_db()
    assert (plan.status, plan.percent_complete, plan.summary) == (S.SUBMITTED, 70, "Every report is graded.")
    assert list(plan.updates.values_list("kind", "status_to")) == [
        ("status", S.SUBMITTED),
        ("status", S.IN_PROGRESS),
        ("status", ""),  # what it waits on, changed while blocked
        ("status", S.BLOCKED),
        ("progress", ""),
    ]
    assert Evidence.objects.get(update__plan=plan).original_name == "grading-audit.pdf"


# --- manager -------------------------------------------------------------------------------------


def test_manager_returns_a_submission_signs_off_the_resubmission_and_defers_the_date(demo, new_page, tmp_path):
    plan = overdue_plan_for(demo, "surrey.staff")
    staff = demo.user("surrey.staff")
    workflow.submit_for_sign_off(plan=plan, user=staff, statement="Backlog cleared.", files=[pdf_upload("audit.pdf")])
    manager_page = new_page("surrey.manager")
    awaiting = manager_page.get_by_role("region", name=re.compile("Awaiting your sign-off"))
    awaiting.get_by_role("link", name=re.compile("AFI9")).click()
    expect_status(manager_page, "Submitted for sign-off")

    send(manager_page, "Return to the owner", "Return submission", Reason="Attach this month's audit too.")
    expect_message(manager_page, "Submission returned.")
    expect_status(manager_page, "In progress")

    staff_page = new_page("surrey.staff")
    staff_page.goto(plan.get_absolute_url())
    expect(staff_page.locator(".timeline")).to_contain_text("Attach this month's audit too.")
    form = action_form(staff_page, "Submit for sign-off")
    form.get_by_label("Closure statement").fill("Backlog cleared; both audits attached.")
    form.get_by_label("Evidence files").set_input_files(evidence_file(tmp_path, "second-audit.pdf"))
    form.get_by_role("button", name="Submit for sign-off").click()
    expect_message(staff_page, "Submitted for sign-off.")

    manager_page.reload()
    send(manager_page, "Sign off", "Sign off", Comment="Both audits checked.")
    expect_message(manager_page, "Plan signed off.")
    expect_status(manager_page, "Signed off by force")

    plan.refresh_from_db()
    new_date = plan.target_date + dt.timedelta(days=40)
    form = action_form(manager_page, "Change target date")
    expect(form.get_by_label("New target date")).to_have_value(plan.target_date.isoformat())  # the current date
    form.get_by_label("New target date").fill(new_date.isoformat())
    form.get_by_label("Reason for the change").fill("Inspectorate revisit moved.")
    form.get_by_role("button", name="Change target date").click()
    expect_message(manager_page, "Target date changed.")
    expect(manager_page.locator(".plan-facts")).to_contain_text("Deferred 1 time, +40 days")
    manager_page.goto("/plans/?deferred=1&q=AFI9")
    expect(manager_page.locator("table.plan-table tbody tr")).to_have_count(1)
    expect(manager_page.locator("table.plan-table")).to_contain_text("deferred 1 time, +40 days")

    plan.refresh_from_db()
    assert (plan.status, plan.target_date, plan.deferral_count) == (S.SIGNED_OFF, new_date, 1)


# --- inspector -----------------------------------------------------------------------------------


def test_inspector_follows_the_dashboard_to_the_plans_closes_one_and_supersedes_another(demo, new_page):
    revisit_r2 = FindingFactory(
        inspection=demo.finding("R1", demo.revisit).inspection,
        reference="R2",
        text="Hampshire should brief every team on SOC threats through the new briefing system.",
        supersedes=demo.finding("R3"),
    )
    # The demonstration period of Surrey R4's success measure has ended by the time of this visit (closing while
    # it runs is refused: tests/e2e/test_plan_journeys.py).
    SuccessMeasure.objects.filter(plan=demo.plan("R4", "surrey")).update(
        sustain_until=timezone.localdate() - dt.timedelta(days=1)
    )
    page = new_page("inspector")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Dashboard").click()
    matrix = page.get_by_role("table", name="Completion matrix")
    # Surrey's cell for the 2024 inspection lists its plans in each stage; "N awaiting verification"
    # links to those plans (the demo also has the 2026 follow-up, in a column of its own).
    surrey_awaiting = (
        matrix.get_by_role("row", name=re.compile("^Surrey Police"))
        .locator("li", has_text=re.compile(r"^\d+ awaiting verification$"))
        .locator(f'a[href*="inspection={INSPECTION_SLUG}"]')
    )
    awaiting_count = int(surrey_awaiting.inner_text())
    surrey = ActionPlan.objects.filter(organisation__slug="surrey", finding__inspection__slug=INSPECTION_SLUG)
    assert awaiting_count == surrey.in_stage(ActionPlan.Stage.AWAITING_VERIFICATION).count() > 0
    surrey_awaiting.click()
    expect(page.locator(".result-count")).to_have_text(
        re.compile(rf"^{awaiting_count} action plan{'s' if awaiting_count != 1 else ''}\.")
    )
    expect(page.locator("table.plan-table tbody tr")).to_have_count(awaiting_count)

    page.locator("table.plan-table").get_by_role("link", name=re.compile("^R4 ")).click()
    expect_status(page, "Signed off by force")
    form = action_form(page, "Verify and close")
    form.get_by_label("Comment").fill("Agreement and profile seen on the revisit.")
    form.get_by_role("button", name="Close as verified").click()  # not yet confirmed: refused
    expect(form.get_by_text("Tick to confirm: closing as verified cannot be undone.", exact=True)).to_be_visible()
    form = action_form(page, "Verify and close")
    form.locator('input[name="close-confirm"]').check()
    form.get_by_role("button", name="Close as verified").click()
    expect_message(page, "Plan closed as verified complete.")
    expect_status(page, "Closed (verified complete)")
    expect(page.locator(".plan-facts .rag")).to_have_text("Grey: finished")

    blocked = demo.plan("R3", "hampshire")
    page.goto(blocked.get_absolute_url())
    form = action_form(page, "Mark superseded")
    form.get_by_label("Superseding finding").select_option(label=f"{revisit_r2.inspection.title}: {revisit_r2}")
    form.get_by_role("button", name="Mark superseded").click()
    expect_message(page, "Plan marked as superseded.")
    expect_status(page, "Superseded")
    expect(page.locator(".plan-facts")).to_contain_text("Superseded by")

    assert demo.plan("R4", "surrey").status == S.CLOSED
    blocked.refresh_from_db()
    assert (blocked.status, blocked.superseded_by) == (S.SUPERSEDED, revisit_r2)


def test_the_discussion_takes_comments_in_place_with_htmx(demo, new_page):
    plan = demo.plan("R4", "surrey")
    page = new_page("inspector")
    page.goto(plan.get_absolute_url())
    page.evaluate("window.sameDocument = true")
    discussion = page.locator("#discussion")

    discussion.get_by_role("button", name="Add comment").click()
    expect(discussion.locator(".error-summary")).to_be_focused()
    expect(discussion.get_by_label("Add to the discussion")).to_have_attribute("aria-invalid", "true")

    discussion.get_by_label("Add to the discussion").fill("Could you share the agreement's review date?")
    discussion.get_by_role("button", name="Add comment").click()
    expect(discussion.get_by_role("status")).to_have_text("Comment added.")
    expect(discussion.locator(".timeline li").first).to_contain_text("Could you share the agreement's review date?")
    assert page.evaluate("window.sameDocument") is True
    assert plan.updates.first().note == "Could you share the agreement's review date?"


# --- another organisation ------------------------------------------------------------------------


def test_another_organisations_staff_get_not_found_for_the_plan_and_its_evidence(demo, new_page):
    plan = demo.plan("AFI1", "surrey")
    evidence = Evidence.objects.filter(update__plan=plan).first()
    page = new_page("hampshire.staff")
    for url in (plan.get_absolute_url(), evidence.get_absolute_url()):
        response = page.goto(url)
        assert response.status == 404
        expect(page.get_by_role("heading", level=1)).to_have_text("Page not found")
        expect(page.locator("main")).not_to_contain_text(plan.finding.text[:40])
    # Surrey's own staff do get the file.
    own = new_page("surrey.staff")
    own.goto(plan.get_absolute_url())
    with own.expect_download() as download:
        panel = own.get_by_role("region", name=re.compile("^Evidence"))
        panel.get_by_role("link", name=evidence.original_name).click()
    assert download.value.suggested_filename == evidence.original_name


# --- two tabs ------------------------------------------------------------------------------------


def test_a_stale_form_shows_the_conflict_keeps_the_text_and_can_be_sent_again(demo, new_page):
    plan = demo.plan("AFI1", "surrey")
    first = new_page("surrey.staff")
    first.goto(plan.get_absolute_url())
    second = first.context.new_page()
    second.goto(plan.get_absolute_url())

    send(first, "Add progress", "Save progress", **{"What has been done": "Third analyst appointed."})
    expect_message(first, "Progress recorded.")

    typed = "Vetting for the new analysts is complete."
    with second.expect_response(lambda r: r.request.method == "POST") as response:
        send(second, "Add progress", "Save progress", **{"What has been done": typed})
    assert response.value.status == 409
    expect(second.get_by_role("alert").first).to_contain_text("This plan changed while you were working on it")
    summary = second.locator(".error-summary")
    expect(summary).to_contain_text("This plan was changed by Jo Evans (surrey.staff)")
    expect(summary).to_be_focused()
    expect(second.locator(".timeline")).to_contain_text("Third analyst appointed.")
    expect(action_form(second, "Add progress").get_by_label("What has been done")).to_have_value(typed)

    # Having seen the newer entry, sending the kept text again applies it.
    action_form(second, "Add progress").get_by_role("button", name="Save progress").click()
    expect_message(second, "Progress recorded.")
    assert list(plan.updates.values_list("note", flat=True)[:2]) == [typed, "Third analyst appointed."]
