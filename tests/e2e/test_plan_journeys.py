"""Action plans as forces run them (issue 15), in a real browser on the demo data: a manager plans
milestones, two staff owners complete theirs, a submission explains the milestone still open, a plan in
its demonstration period is refused closure, and a proposal of no action goes through to the inspector."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.e2e.conftest import PASSWORD, log_in
from tests.e2e.test_journeys import action_form, evidence_file, expect_message, expect_status, send
from tests.factories import ActionPlanFactory, FindingFactory
from tracker.models import ActionPlan, User

pytestmark = pytest.mark.e2e
S = ActionPlan.Status


def hampshire_plan(demo, reference: str, text: str) -> ActionPlan:
    finding = FindingFactory(inspection=demo.finding("R1").inspection, reference=reference, text=text)
    return ActionPlanFactory(
        finding=finding, organisation=demo.organisation("hampshire"), owner=demo.user("hampshire.staff"),
        status=S.IN_PROGRESS, target_date=timezone.localdate() + dt.timedelta(days=60), percent_complete=0,
    )  # fmt: skip


def test_milestones_planned_completed_by_two_owners_and_a_submission_explaining_the_open_one(
    demo, new_page, tmp_path: Path
):
    plan = hampshire_plan(demo, "R8", "Hampshire should train every analyst in the national SOC tools.")
    User.objects.create_user(
        username="hampshire.analyst", password=PASSWORD, first_name="Ali", last_name="Khan",
        organisation=demo.organisation("hampshire"), role=User.Role.STAFF,
    )  # fmt: skip
    soon = (timezone.localdate() + dt.timedelta(days=20)).isoformat()

    # The manager plans three milestones with their own owners.
    page = new_page()
    log_in(page, "hampshire.manager")
    page.goto(f"/plans/{plan.pk}/")
    for title, owner in (("Book the training", "Priya Shah (hampshire.staff)"),
                         ("Train the analysts", "Ali Khan (hampshire.analyst)"),
                         ("Audit tool use", "Tom Hughes (hampshire.manager)")):  # fmt: skip
        form = action_form(page, "Add a milestone")
        form.get_by_label("Milestone").fill(title)
        form.get_by_label("Owner").select_option(label=owner)
        form.get_by_label("Target date").fill(soon)
        form.get_by_role("button", name="Add milestone").click()
        expect_message(page, "Milestone added.")
    expect(page.locator(".milestone-progress")).to_have_text("0 of 3 done")

    # Two different staff owners mark theirs done.
    for username, title in (("hampshire.staff", "Book the training"), ("hampshire.analyst", "Train the analysts")):
        page = new_page()
        log_in(page, username)
        page.goto(f"/plans/{plan.pk}/")
        page.get_by_role("button", name=f"Mark “{title}” done").click()
        expect_message(page, "Milestone done.")
    expect(page.locator(".milestone-progress")).to_have_text("2 of 3 done")
    expect(page.locator(".plan-facts .progress")).to_have_attribute("aria-valuenow", "66")

    # A submission while "Audit tool use" is open must say why.
    form = action_form(page, "Submit for sign-off")
    form.get_by_label("Closure statement").fill("Every analyst is trained in the national tools.")
    form.get_by_label("Evidence files").set_input_files(evidence_file(tmp_path, "training-register.pdf"))
    form.get_by_role("button", name="Submit for sign-off").click()
    expect(page.get_by_text(re.compile("1 milestone is still open \\(Audit tool use\\)"))).to_be_visible()
    expect_status(page, "In progress")
    form = action_form(page, "Submit for sign-off")
    form.get_by_label("Evidence files").set_input_files(evidence_file(tmp_path, "training-register.pdf"))
    form.get_by_label("Why is the plan ready while a milestone is still open?").fill(
        "The audit is the quality team's annual check; training itself is complete."
    )
    form.get_by_role("button", name="Submit for sign-off").click()
    expect_message(page, "Submitted for sign-off.")
    expect_status(page, "Submitted for sign-off")
    expect(page.locator(".timeline")).to_contain_text("Submitted with 1 open milestone (Audit tool use)")
    plan.refresh_from_db()
    assert plan.status == S.SUBMITTED
    authors = set(plan.milestones.exclude(done_on=None).values_list("owner__username", flat=True))
    assert authors == {"hampshire.staff", "hampshire.analyst"}


def test_a_plan_in_its_demonstration_period_is_refused_closure(demo, new_page):
    plan = demo.plan("R4", "surrey")  # signed off; a success measure is to be sustained for 90 more days
    page = new_page()
    log_in(page, "inspector")
    page.goto(f"/plans/{plan.pk}/")
    measures = page.get_by_role("region", name="Success measures")
    expect(measures).to_contain_text("What good looks like, in the inspectorate's words")
    expect(measures).to_contain_text("How it was met:")
    expect(measures.locator(".sustaining-alert")).to_contain_text("cannot be verified as closed until")
    form = action_form(page, "Verify and close")
    form.get_by_label("Comment").fill("Verified against the agreement.")
    form.locator('input[name="close-confirm"]').check()
    form.get_by_role("button", name="Close as verified").click()
    expect(page.get_by_text(re.compile("This plan cannot be verified as closed before"))).to_be_visible()
    expect_status(page, "Signed off by force")
    assert ActionPlan.objects.get(pk=plan.pk).status == S.SIGNED_OFF


def test_a_proposal_of_no_action_goes_through_to_the_inspector(demo, new_page):
    plan = hampshire_plan(demo, "R9", "Hampshire should publish its SOC profile summary on its website.")

    page = new_page()
    log_in(page, "hampshire.staff")
    page.goto(f"/plans/{plan.pk}/")
    send(page, "Propose no action", "Propose no action", **{
        "Why should no action be taken?": "The regional unit publishes the summary for every force.",
        "What risk does taking no action leave?": "If the regional unit stops, nothing is published.",
    })  # fmt: skip
    expect_message(page, "No action proposed")
    expect_status(page, "No action proposed")

    page = new_page()
    log_in(page, "hampshire.manager")
    expect(page.get_by_role("heading", name=re.compile("Proposals of no action: accept the risk"))).to_be_visible()
    page.goto(f"/plans/{plan.pk}/")
    form = action_form(page, "Accept the risk of no action")
    form.get_by_label("Why the organisation accepts this risk").fill("The SOC board will check it each year.")
    form.locator('input[name="accept-risk-confirm"]').check()
    form.get_by_role("button", name="Accept the risk").click()
    expect_message(page, "Risk accepted")
    expect_status(page, "No action: risk accepted by the force")

    page = new_page()
    log_in(page, "inspector")
    queue = page.locator("#no-action")
    expect(queue).to_contain_text("R9")
    queue.get_by_role("link", name=re.compile("R9")).first.click()
    expect(page).to_have_url(re.compile(f"/plans/{plan.pk}/$"))
    expect(page.get_by_role("region", name=re.compile("^Proposal of no action"))).to_contain_text("Tom Hughes")
    send(page, "Record no further action", "Record no further action", Comment="Agreed: the summary suffices.")
    expect_message(page, "No further action recorded.")
    expect_status(page, "No further action")
    expect(page.locator(".timeline")).to_contain_text("No further action: proposal agreed")
    assert ActionPlan.objects.get(pk=plan.pk).status == S.NO_FURTHER_ACTION
