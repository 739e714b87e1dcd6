"""Reminder digests open with "Returned: your action": the owner's returned work, with the reviewer's
comment and date (the home page's returned queue), and name plan states by their stages."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.utils import timezone

from tests.factories import ActionPlanFactory, ManagerFactory, StaffFactory, pdf_upload
from tracker import reminders, workflow
from tracker.models import ActionPlan, Update

pytestmark = pytest.mark.django_db
S = ActionPlan.Status


def days_ago(n: int) -> dt.datetime:
    """This time of day, `n` days back on the local calendar (`now() - n days` falls on the next local day
    in the hour before midnight when summer time separates the two days)."""
    return timezone.localtime() - dt.timedelta(days=n)


def returned(plan, owner, reviewer, *, comment: str, ago: int) -> ActionPlan:
    """Submit through the workflow, have the manager return it, and date the return `ago` days back."""
    workflow.submit_for_sign_off(plan=plan, user=owner, statement="Profile refreshed.", files=[pdf_upload()])
    Update.objects.filter(plan=plan, status_to=S.SUBMITTED).update(created_at=days_ago(ago + 7))
    workflow.return_submission(plan=plan, user=reviewer, comment=comment)
    Update.objects.filter(plan=plan, kind=Update.Kind.REVIEW).update(created_at=days_ago(ago))
    return plan


def build() -> list[reminders.Digest]:
    return reminders.build_digests(today=timezone.localdate(), days=14)


def digest_for(user) -> reminders.Digest | None:
    return next((digest for digest in build() if digest.user == user), None)


def outbox_for(user):
    return [message for message in mail.outbox if message.to == [user.email]]


@pytest.fixture
def returned_plan(org, staff, manager):
    plan = ActionPlanFactory(organisation=org, owner=staff, status=S.IN_PROGRESS, finding__reference="R4")
    return returned(plan, staff, manager, comment="The profile still dates from 2019.", ago=3)


def test_the_owner_hears_of_returned_work_first_with_the_comment_and_date(returned_plan, staff, org):
    overdue = ActionPlanFactory(organisation=org, owner=staff, target_date=timezone.localdate() - dt.timedelta(days=2))
    digest = digest_for(staff)
    assert digest.own_returned == [returned_plan]
    assert digest.own_overdue == [overdue]
    assert digest.subject == "Action plan reminders: 1 returned to you, 1 overdue"
    sections = digest.sections()
    assert sections[0].group == "Returned: your action"
    assert [line.plan for line in sections[0].lines] == [returned_plan]

    reminders.send_reminders()
    (message,) = outbox_for(staff)
    day = (timezone.localdate() - dt.timedelta(days=3)).strftime("%-d %b %Y")
    text = message.body
    assert text.index("RETURNED: YOUR ACTION") < text.index("PLANS YOU OWN")
    assert f"Returned {day} (3 days ago) by surrey.manager: The profile still dates from 2019." in text
    ((html, _),) = message.alternatives
    assert html.index("Returned: your action") < html.index("Plans you own")
    assert "The profile still dates from 2019." in html and day in html
    assert "Reviewer&#x27;s comment" in html or "Reviewer's comment" in html


def test_returned_work_is_listed_once_even_when_also_overdue(org, staff, manager):
    plan = ActionPlanFactory(
        organisation=org, owner=staff, status=S.IN_PROGRESS, target_date=timezone.localdate() - dt.timedelta(days=1)
    )
    returned(plan, staff, manager, comment="Missing the action log.", ago=1)
    digest = digest_for(staff)
    assert digest.own_returned == [plan]
    assert digest.own_overdue == []
    assert digest.plans == [plan]


def test_returned_work_is_oldest_return_first_the_home_page_order(client, org, staff, manager):
    newer = returned(
        ActionPlanFactory(organisation=org, owner=staff, status=S.IN_PROGRESS), staff, manager, comment="B", ago=1
    )
    older = returned(
        ActionPlanFactory(organisation=org, owner=staff, status=S.IN_PROGRESS), staff, manager, comment="A", ago=5
    )
    assert digest_for(staff).own_returned == [older, newer]
    client.force_login(staff)
    home = client.get("/").context["sections"][0]
    assert home["id"] == "returned"
    assert list(home["rows"]) == [older, newer]


def test_only_the_owner_hears_of_their_returned_work(returned_plan, org, staff, manager):
    colleague = StaffFactory(organisation=org)
    assert digest_for(colleague) is None
    manager_digest = digest_for(manager)
    assert manager_digest is None or manager_digest.own_returned == []


def test_resubmitted_work_is_no_longer_returned(returned_plan, staff):
    workflow.submit_for_sign_off(plan=returned_plan, user=staff, statement="Refreshed in full.")
    digest = digest_for(staff)
    assert digest is None or digest.own_returned == []


def test_never_another_organisations_returned_work(returned_plan, org, other_org, staff):
    """An owner moved to another organisation hears nothing more of the plan they may no longer open, and
    the other organisation's people never hear of it."""
    other_manager = ManagerFactory(organisation=other_org)
    other_staff = StaffFactory(organisation=other_org)
    elsewhere = returned(
        ActionPlanFactory(organisation=other_org, owner=other_staff, status=S.IN_PROGRESS),
        other_staff,
        other_manager,
        comment="Not yet.",
        ago=2,
    )
    assert digest_for(staff).own_returned == [returned_plan]
    assert digest_for(other_staff).own_returned == [elsewhere]

    # The plan is given, outside the workflow, to someone in another organisation.
    ActionPlan.objects.filter(pk=returned_plan.pk).update(owner=other_staff)
    assert digest_for(other_staff).own_returned == [elsewhere]
    assert digest_for(staff) is None


def test_people_with_the_digest_off_hear_nothing_of_returned_work(returned_plan, staff):
    staff.receive_digest = False
    staff.save()
    assert digest_for(staff) is None


def test_unowned_plans_are_named_by_their_stage(org, manager):
    with_force = ActionPlanFactory(organisation=org, owner=None, status=S.IN_PROGRESS)
    awaiting = ActionPlanFactory(organisation=org, owner=None, status=S.SIGNED_OFF)
    reminders.send_reminders()
    (message,) = outbox_for(manager)
    titles = [section.title for section in digest_for(manager).sections()]
    assert titles == [
        "With the force, without an active owner (1)",
        "Awaiting verification, without an active owner (1)",
    ]
    assert "Open, without" not in message.body
    assert "With the force, without an active owner (1)" in message.body
    assert with_force.get_absolute_url() in message.body and awaiting.get_absolute_url() in message.body
