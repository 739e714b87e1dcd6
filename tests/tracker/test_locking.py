"""Every workflow function locks the plan's row before it reads the state it changes (PostgreSQL).

The races themselves are in test_concurrency.py; this checks the mechanism for each function, so a new
or changed workflow function that forgets the lock fails here. SQLite has no row locks (Django leaves
FOR UPDATE out there), so this runs on PostgreSQL only.
"""

from __future__ import annotations

import datetime as dt
import inspect

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.factories import (
    ActionPlanFactory,
    EvidenceFactory,
    FindingFactory,
    ManagerFactory,
    MilestoneFactory,
    StaffFactory,
    pdf_upload,
)
from tracker import workflow
from tracker.imports.milestones import MilestoneChange
from tracker.models import ActionPlan, Milestone, NoActionProposal, SuccessMeasure

S = ActionPlan.Status

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite has no row locks"),
]

LATER = timezone.localdate() + dt.timedelta(days=365)

CALLS = {
    "record_progress": (S.IN_PROGRESS, "staff", lambda p, u: workflow.record_progress(plan=p, user=u, note="n",
                                                                                      files=[pdf_upload()])),
    "start": (S.NOT_STARTED, "staff", lambda p, u: workflow.start(plan=p, user=u, note="n")),
    "mark_blocked": (S.IN_PROGRESS, "staff", lambda p, u: workflow.mark_blocked(plan=p, user=u, note="n")),
    "change_dependency": (S.BLOCKED, "staff", lambda p, u: workflow.change_dependency(
        plan=p, user=u, note="n", waiting_on="national_body", waiting_on_name="Home Office")),
    "unblock": (S.BLOCKED, "staff", lambda p, u: workflow.unblock(plan=p, user=u, note="n")),
    "submit_for_sign_off": (S.IN_PROGRESS, "staff",
                            lambda p, u: workflow.submit_for_sign_off(plan=p, user=u, statement="s")),
    "sign_off": (S.SUBMITTED, "manager", lambda p, u: workflow.sign_off(plan=p, user=u, comment="c")),
    "return_submission": (S.SUBMITTED, "manager",
                          lambda p, u: workflow.return_submission(plan=p, user=u, comment="c")),
    "change_target_date": (S.IN_PROGRESS, "manager",
                           lambda p, u: workflow.change_target_date(plan=p, user=u, target_date=LATER, reason="r")),
    "assign_owner": (S.IN_PROGRESS, "manager", lambda p, u: workflow.assign_owner(plan=p, user=u, owner=u)),
    "edit_response": (S.IN_PROGRESS, "admin_user", lambda p, u: workflow.edit_response(plan=p, user=u, summary="s")),
    "release_owner": (S.IN_PROGRESS, "manager", lambda p, u: workflow.release_owner(plan=p, user=u, note="n")),
    "close": (S.SIGNED_OFF, "inspector", lambda p, u: workflow.close(plan=p, user=u, comment="c")),
    "reopen": (S.SIGNED_OFF, "inspector", lambda p, u: workflow.reopen(plan=p, user=u, comment="c")),
    "supersede": (S.IN_PROGRESS, "inspector", lambda p, u: workflow.supersede(
        plan=p, user=u, superseding_finding=p.finding.superseding_findings().get())),
    "no_further_action": (S.IN_PROGRESS, "inspector",
                          lambda p, u: workflow.no_further_action(plan=p, user=u, comment="c")),
    # The milestone functions find the plan's two milestones (one done, then one open) made before the call.
    "add_milestone": (S.IN_PROGRESS, "staff", lambda p, u: workflow.add_milestone(plan=p, user=u, title="t")),
    "edit_milestone": (S.IN_PROGRESS, "staff", lambda p, u: workflow.edit_milestone(
        plan=p, user=u, milestone=_open_milestone(p), title="t2")),
    "complete_milestone": (S.IN_PROGRESS, "staff", lambda p, u: workflow.complete_milestone(
        plan=p, user=u, milestone=_open_milestone(p))),
    "reopen_milestone": (S.IN_PROGRESS, "staff", lambda p, u: workflow.reopen_milestone(
        plan=p, user=u, milestone=Milestone.objects.get(plan=p, done_on__isnull=False).pk, reason="r")),
    "move_milestone": (S.IN_PROGRESS, "staff", lambda p, u: workflow.move_milestone(
        plan=p, user=u, milestone=_open_milestone(p), direction="up")),
    # The open milestone is the user's here: released as if they had left the organisation.
    "release_milestones": (S.IN_PROGRESS, "manager", lambda p, u: workflow.release_milestones(
        plan=p, user=u, owner=u, note="n")),
    # A findings import's milestones for one plan (tracker.imports.milestones), by an administrator.
    "import_milestones": (S.IN_PROGRESS, "admin_user", lambda p, u: workflow.import_milestones(
        plan=p, user=u, source="f.csv", changes=[MilestoneChange(key=("s", "R1", "o"), title="Imported step",
                                                                  owner=None, target_date=None, done_on=None,
                                                                  note="")])),
    # The success measure functions find the plan's one measure made before the call.
    "add_measure": (S.IN_PROGRESS, "manager", lambda p, u: workflow.add_measure(plan=p, user=u, text="m")),
    "edit_measure": (S.IN_PROGRESS, "manager", lambda p, u: workflow.edit_measure(
        plan=p, user=u, measure=p.measures.get().pk, text="m2")),
    "remove_measure": (S.IN_PROGRESS, "manager", lambda p, u: workflow.remove_measure(
        plan=p, user=u, measure=p.measures.get().pk, reason="r")),
    # The proposal functions other than the proposal itself find the plan's open proposal made before the call.
    "propose_no_action": (S.IN_PROGRESS, "staff", lambda p, u: workflow.propose_no_action(
        plan=p, user=u, reason="r", risk="k")),
    "accept_no_action_risk": (S.NO_ACTION_PROPOSED, "manager", lambda p, u: workflow.accept_no_action_risk(
        plan=p, user=u, comment="c")),
    "decline_no_action": (S.NO_ACTION_PROPOSED, "manager", lambda p, u: workflow.decline_no_action(
        plan=p, user=u, comment="c")),
    "agree_no_action": (S.NO_ACTION_ACCEPTED, "inspector", lambda p, u: workflow.agree_no_action(
        plan=p, user=u, comment="c")),
    "send_back_no_action": (S.NO_ACTION_ACCEPTED, "inspector", lambda p, u: workflow.send_back_no_action(
        plan=p, user=u, comment="c")),
}  # fmt: skip


def _open_milestone(plan: ActionPlan) -> int:
    return Milestone.objects.get(plan=plan, done_on__isnull=True).pk


def test_the_table_names_every_workflow_function_that_changes_a_plan():
    changing = {
        name
        for name, function in inspect.getmembers(workflow, inspect.isfunction)
        if function.__module__ == workflow.__name__
        and not name.startswith("_")
        and "plan" in inspect.signature(function).parameters
    }
    # add_comment appends to the timeline without changing the plan (comments never conflict).
    assert changing - {"add_comment"} == set(CALLS)


@pytest.mark.parametrize("name", sorted(CALLS))
def test_workflow_function_locks_the_plan_row_first(name, request):
    status, role, call = CALLS[name]
    user = request.getfixturevalue(role)
    plan = ActionPlanFactory(status=status, organisation=user.organisation or request.getfixturevalue("org"))
    EvidenceFactory(update__plan=plan)  # submission needs evidence on the plan
    FindingFactory(supersedes=plan.finding)  # and superseding needs a finding that replaces it
    if name.endswith("_milestone") or name == "release_milestones":
        MilestoneFactory(plan=plan, position=0, done_on=timezone.localdate())
        MilestoneFactory(plan=plan, position=1, owner=user if name == "release_milestones" else None)
    if name.endswith("_measure") and name != "add_measure":
        SuccessMeasure.objects.create(plan=plan, text="Profiles refreshed", position=1)
    if status in (S.NO_ACTION_PROPOSED, S.NO_ACTION_ACCEPTED):
        accepted = status == S.NO_ACTION_ACCEPTED
        NoActionProposal.objects.create(
            plan=plan,
            reason="r",
            risk="k",
            proposed_by=StaffFactory(organisation=plan.organisation),
            accepted_by=ManagerFactory(organisation=plan.organisation) if accepted else None,
            accepted_on=timezone.localdate() if accepted else None,
        )

    with CaptureQueriesContext(connection) as queries:
        call(plan, user)

    sql = [q["sql"] for q in queries.captured_queries]
    locks = [i for i, q in enumerate(sql) if "FOR UPDATE" in q and '"tracker_actionplan"' in q]
    writes = [i for i, q in enumerate(sql) if q.startswith(("INSERT", "UPDATE"))]
    assert locks, f"{name} never locks the plan's row"
    assert locks[0] < writes[0], f"{name} writes before it takes the lock"
