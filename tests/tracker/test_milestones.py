"""Milestones inside a plan (issue 15, part 1): the workflow functions, the plan page and its permissions.

Every change goes through `tracker.workflow`: locked and versioned like any change of the plan, on its
timeline, and keeping the plan's derived figures (percentage, next milestone date) in step.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from tests.factories import (
    ActionPlanFactory,
    AdminFactory,
    EvidenceFactory,
    InspectorFactory,
    ManagerFactory,
    OrganisationFactory,
    StaffFactory,
    UpdateFactory,
)
from tracker import workflow
from tracker.models import ActionPlan, Milestone, Update
from tracker.workflow import StaleVersion

pytestmark = pytest.mark.django_db
S = ActionPlan.Status
TODAY = timezone.localdate()


def days(n: int) -> dt.date:
    return TODAY + dt.timedelta(days=n)


@pytest.fixture
def plan():
    return ActionPlanFactory(status=S.IN_PROGRESS, percent_complete=20)


@pytest.fixture
def staff(plan):
    return StaffFactory(organisation=plan.organisation)


@pytest.fixture
def manager(plan):
    return ManagerFactory(organisation=plan.organisation)


def add(plan, user, title="Refresh the SOC local profile", **kwargs):
    workflow.add_milestone(plan=plan, user=user, title=title, **kwargs)
    return plan.milestones.get(title=title)


def snapshot(plan):
    plan = ActionPlan.objects.get(pk=plan.pk)
    return (
        plan.status, plan.version, plan.percent_complete, plan.next_milestone_date,
        list(plan.milestones.values_list("pk", "title", "owner_id", "target_date", "done_on", "position")),
        plan.updates.count(),
    )  # fmt: skip


# --- the workflow ----------------------------------------------------------------------------


def test_adding_milestones_derives_the_percentage_and_records_each_on_the_timeline(plan, manager, staff):
    first = add(plan, manager, "Appoint two analysts", owner=staff, target_date=days(10))
    plan.refresh_from_db()
    assert (plan.percent_complete, plan.next_milestone_date, plan.version) == (0, days(10), 2)
    add(plan, manager, "Refresh the profile", target_date=days(40))
    workflow.complete_milestone(plan=plan, user=staff, milestone=first)
    plan.refresh_from_db()
    assert plan.percent_complete == 50
    assert plan.next_milestone_date == days(40)  # only open milestones count
    entries = list(plan.updates.order_by("created_at", "pk").values_list("kind", "note", "percent", "author_id"))
    assert [e[0] for e in entries] == [Update.Kind.MILESTONE] * 3
    assert "Appoint two analysts" in entries[0][1] and str(staff) in entries[0][1]
    assert entries[2][1] == "Milestone done: “Appoint two analysts”."
    assert [e[2] for e in entries] == [0, 0, 50]
    assert entries[2][3] == staff.pk
    assert list(plan.milestones.values_list("position", flat=True)) == [1, 2]


def test_a_milestone_done_on_an_earlier_day_says_so_and_a_future_day_is_refused(plan, staff):
    milestone = add(plan, staff)
    before = snapshot(plan)
    with pytest.raises(ValidationError, match="day still to come"):
        workflow.complete_milestone(plan=plan, user=staff, milestone=milestone, done_on=days(1))
    assert snapshot(plan) == before
    workflow.complete_milestone(plan=plan, user=staff, milestone=milestone, done_on=days(-3), note="Agreed at board.")
    milestone.refresh_from_db()
    assert milestone.done_on == days(-3)
    assert plan.updates.first().note.endswith(f"on {days(-3):%-d %b %Y}. Agreed at board.")


def test_reopening_a_milestone_needs_a_reason_and_lowers_the_percentage(plan, staff):
    milestone = add(plan, staff, target_date=days(-2))
    workflow.complete_milestone(plan=plan, user=staff, milestone=milestone)
    plan.refresh_from_db()
    assert (plan.percent_complete, plan.next_milestone_date) == (100, None)
    with pytest.raises(ValidationError, match="Say why"):
        workflow.reopen_milestone(plan=plan, user=staff, milestone=milestone, reason=" ")
    workflow.reopen_milestone(plan=plan, user=staff, milestone=milestone, reason="Profile not yet approved.")
    plan.refresh_from_db()
    assert (plan.percent_complete, plan.next_milestone_date) == (0, days(-2))
    assert "Profile not yet approved." in plan.updates.first().note
    with pytest.raises(ValidationError, match="is not done"):
        workflow.reopen_milestone(plan=plan, user=staff, milestone=milestone, reason="Again")


def test_editing_names_each_change_and_refuses_an_unchanged_milestone(plan, staff, manager):
    milestone = add(plan, manager, "Recruit", target_date=days(5))
    workflow.edit_milestone(plan=plan, user=staff, milestone=milestone, title="Recruit analysts", owner=staff,
                            target_date=days(20), note="Two posts")  # fmt: skip
    note = plan.updates.first().note
    assert "title “Recruit” → “Recruit analysts”" in note
    assert f"owner nobody → {staff}" in note
    assert "note changed" in note
    plan.refresh_from_db()
    assert plan.next_milestone_date == days(20)
    before = snapshot(plan)
    with pytest.raises(ValidationError, match="Nothing about the milestone"):
        workflow.edit_milestone(plan=plan, user=staff, milestone=milestone, title="Recruit analysts", owner=staff,
                                target_date=days(20), note="Two posts")  # fmt: skip
    assert snapshot(plan) == before


def test_reordering_moves_one_place_and_refuses_past_the_ends(plan, staff):
    a, b, c = (add(plan, staff, title) for title in ("A", "B", "C"))
    workflow.move_milestone(plan=plan, user=staff, milestone=c, direction="up")
    assert list(plan.milestones.values_list("title", flat=True)) == ["A", "C", "B"]
    assert plan.updates.first().note == "Milestone “C” moved up to number 2."
    before = snapshot(plan)
    with pytest.raises(ValidationError, match="already first"):
        workflow.move_milestone(plan=plan, user=staff, milestone=a, direction="up")
    with pytest.raises(ValidationError, match="up or down"):
        workflow.move_milestone(plan=plan, user=staff, milestone=a, direction="sideways")
    assert snapshot(plan) == before


def test_an_owner_must_be_an_active_member_of_the_plans_organisation(plan, staff):
    before = snapshot(plan)
    for owner in (StaffFactory(), StaffFactory(organisation=plan.organisation, is_active=False)):
        with pytest.raises(ValidationError, match="active member"):
            add(plan, staff, owner=owner)
    assert snapshot(plan) == before


def test_a_milestone_of_another_plan_is_refused(plan, staff):
    other = ActionPlanFactory(organisation=plan.organisation)
    theirs = add(other, staff, "Theirs")
    before = snapshot(plan)
    with pytest.raises(ValidationError, match="not one of this plan's"):
        workflow.complete_milestone(plan=plan, user=staff, milestone=theirs)
    assert snapshot(plan) == before
    assert Milestone.objects.get(pk=theirs.pk).done_on is None


def test_milestone_changes_are_versioned_like_every_plan_change(plan, staff):
    milestone = add(plan, staff)
    with pytest.raises(StaleVersion):
        workflow.complete_milestone(plan=plan, user=staff, milestone=milestone, expected_version=1)
    assert Milestone.objects.get(pk=milestone.pk).done_on is None
    workflow.complete_milestone(plan=plan, user=staff, milestone=milestone, expected_version=2)
    assert ActionPlan.objects.get(pk=plan.pk).version == 3


@pytest.mark.parametrize("status", [S.SUBMITTED, S.SIGNED_OFF, S.CLOSED, S.SUPERSEDED, S.NO_FURTHER_ACTION])
def test_milestones_change_only_while_the_plan_is_with_its_owner(status, staff):
    plan = ActionPlanFactory(status=status)
    staff.organisation = plan.organisation
    staff.save()
    before = snapshot(plan)
    with pytest.raises(ValidationError, match="not possible while the plan is"):
        add(plan, staff)
    assert snapshot(plan) == before


@pytest.mark.parametrize(
    ("who", "allowed"),
    [("staff", True), ("manager", True), ("admin", True), ("inspector", False), ("other_staff", False),
     ("other_manager", False), ("inactive_staff", False)],
)  # fmt: skip
def test_who_may_plan_and_complete_milestones(plan, who, allowed):
    org = plan.organisation
    user = {
        "staff": lambda: StaffFactory(organisation=org),
        "manager": lambda: ManagerFactory(organisation=org),
        "admin": AdminFactory,
        "inspector": InspectorFactory,
        "other_staff": lambda: StaffFactory(organisation=OrganisationFactory()),
        "other_manager": lambda: ManagerFactory(organisation=OrganisationFactory()),
        "inactive_staff": lambda: StaffFactory(organisation=org, is_active=False),
    }[who]()
    existing = add(plan, ManagerFactory(organisation=org), "Existing")
    calls = [
        lambda: workflow.add_milestone(plan=plan, user=user, title="New"),
        lambda: workflow.edit_milestone(plan=plan, user=user, milestone=existing, title="Renamed"),
        lambda: workflow.complete_milestone(plan=plan, user=user, milestone=existing),
        lambda: workflow.reopen_milestone(plan=plan, user=user, milestone=existing, reason="Not yet"),
        lambda: workflow.move_milestone(plan=plan, user=user, milestone=existing, direction="down"),
    ]
    for call in calls:
        before = snapshot(plan)
        if allowed:
            call()
            assert snapshot(plan) != before
        else:
            with pytest.raises(PermissionDenied):
                call()
            assert snapshot(plan) == before


def test_typed_percentages_are_refused_once_a_plan_has_milestones(plan, staff):
    workflow.record_progress(plan=plan, user=staff, note="Started", percent_complete=30)
    add(plan, staff)
    before = snapshot(plan)
    with pytest.raises(ValidationError, match="follows its milestones"):
        workflow.record_progress(plan=plan, user=staff, note="More", percent_complete=60)
    assert snapshot(plan) == before
    workflow.record_progress(plan=plan, user=staff, note="A note without a figure")
    assert ActionPlan.objects.get(pk=plan.pk).percent_complete == 0


def test_submitting_with_an_open_milestone_needs_an_explanation(plan, staff):
    EvidenceFactory(update=UpdateFactory(plan=plan, author=staff))
    done = add(plan, staff, "Recruit")
    add(plan, staff, "Evaluate after six months")
    workflow.complete_milestone(plan=plan, user=staff, milestone=done)
    before = snapshot(plan)
    with pytest.raises(ValidationError, match=r"1 milestone is still open \(Evaluate after six months\)"):
        workflow.submit_for_sign_off(plan=plan, user=staff, statement="Done")
    assert snapshot(plan) == before
    workflow.submit_for_sign_off(plan=plan, user=staff, statement="Done",
                                 open_milestones="The evaluation is the inspectorate's own revisit.")  # fmt: skip
    plan.refresh_from_db()
    assert plan.status == S.SUBMITTED and plan.summary == "Done"
    assert plan.updates.first().note.endswith(
        "Submitted with 1 open milestone (Evaluate after six months): "
        "The evaluation is the inspectorate's own revisit."
    )


def test_submitting_with_every_milestone_done_needs_no_explanation(plan, staff):
    EvidenceFactory(update=UpdateFactory(plan=plan, author=staff))
    milestone = add(plan, staff)
    workflow.complete_milestone(plan=plan, user=staff, milestone=milestone)
    workflow.submit_for_sign_off(plan=plan, user=staff, statement="Done")
    assert ActionPlan.objects.get(pk=plan.pk).status == S.SUBMITTED


# --- RAG ---------------------------------------------------------------------------------------


def test_a_milestone_past_its_date_makes_a_plan_with_the_force_amber(plan, staff):
    plan.target_date = days(200)
    plan.save()
    milestone = add(plan, staff, target_date=days(-1))
    rag = lambda: ActionPlan.objects.with_rag().get(pk=plan.pk)  # noqa: E731
    assert rag().rag_value == ActionPlan.Rag.AMBER == ActionPlan.objects.get(pk=plan.pk).rag
    workflow.complete_milestone(plan=plan, user=staff, milestone=milestone)
    assert rag().rag_value == ActionPlan.Rag.GREEN == ActionPlan.objects.get(pk=plan.pk).rag


def test_a_plan_past_its_own_date_stays_red_whatever_its_milestones(plan, staff):
    add(plan, staff, target_date=days(-1))
    ActionPlan.objects.filter(pk=plan.pk).update(target_date=days(-1))
    assert ActionPlan.objects.with_rag().get(pk=plan.pk).rag_value == ActionPlan.Rag.RED
