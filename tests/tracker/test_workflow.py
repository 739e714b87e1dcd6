"""The workflow services (`tracker.workflow`): DESIGN sections 4 and 5, proved at the service level.

A refused call raises PermissionDenied or ValidationError and leaves no trace: the plan's row, its
timeline and its evidence are exactly as they were.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import F
from django.utils import timezone
from django.utils.formats import date_format

from tests.factories import (
    ActionPlanFactory,
    AdminFactory,
    EvidenceFactory,
    FindingFactory,
    InspectionFactory,
    InspectorFactory,
    ManagerFactory,
    OrganisationFactory,
    StaffFactory,
    UpdateFactory,
    pdf_upload,
    stored_files,
)
from tracker import workflow
from tracker.models import ActionPlan, Evidence, NoActionProposal, Update, User
from tracker.workflow import StaleVersion

S = ActionPlan.Status
K = Update.Kind
ALL_STATUSES = tuple(S)
TEXT = "Analyst posts advertised; two of four filled."
RISK = "Profiles stay a year old until the national template arrives."

# Who a test can be: the organisation's people, the inspectorate, an administrator, the same roles
# in another organisation, and inactive (left, suspended) versions of everyone who could act.
WORKERS = frozenset({"staff", "manager", "admin"})
MANAGERS = frozenset({"manager", "admin"})
VERIFIERS = frozenset({"inspector", "admin"})
ROLES = (
    "staff",
    "manager",
    "inspector",
    "admin",
    "other org staff",
    "other org manager",
    "inactive staff",
    "inactive manager",
    "inactive inspector",
    "inactive admin",
)


@pytest.fixture
def make_user(org, other_org) -> Callable[[str], User]:
    def make(role: str) -> User:
        active = not role.startswith("inactive ")
        match role.removeprefix("inactive "):
            case "staff":
                return StaffFactory(organisation=org, is_active=active)
            case "manager":
                return ManagerFactory(organisation=org, is_active=active)
            case "inspector":
                return InspectorFactory(is_active=active)
            case "admin":
                return AdminFactory(is_active=active)
            case "other org staff":
                return StaffFactory(organisation=other_org, is_active=active)
            case "other org manager":
                return ManagerFactory(organisation=other_org, is_active=active)
        raise AssertionError(role)

    return make


@pytest.fixture
def plan_in(org) -> Callable[..., ActionPlan]:
    def make(status: str, **fields: object) -> ActionPlan:
        plan = ActionPlanFactory(organisation=org, status=status, **fields)
        if status in (S.NO_ACTION_PROPOSED, S.NO_ACTION_ACCEPTED):  # a proposal of no action awaiting a decision
            accepted = status == S.NO_ACTION_ACCEPTED
            NoActionProposal.objects.create(
                plan=plan, reason="Covered by the national programme.", risk="None beyond the programme's.",
                proposed_by=StaffFactory(organisation=org),
                accepted_by=ManagerFactory(organisation=org) if accepted else None,
                accepted_on=timezone.localdate() if accepted else None,
            )  # fmt: skip
        return plan

    return make


def days(n: int) -> dt.date:
    return timezone.localdate() + dt.timedelta(days=n)


def snapshot(plan: ActionPlan) -> dict[str, object]:
    """Everything a refused call must leave alone."""
    return {
        "row": ActionPlan.objects.filter(pk=plan.pk).values().get(),
        "updates": list(Update.objects.filter(plan=plan).values_list("pk", flat=True)),
        "evidence": Evidence.objects.count(),
        "files": stored_files(),
    }


@dataclass(frozen=True)
class Transition:
    """One row of DESIGN section 4, and how to call its service."""

    service: str
    sources: tuple[str, ...]
    target: str
    kind: str
    allowed: frozenset[str]
    text_argument: str

    def __str__(self) -> str:
        return self.service

    def __call__(self, plan: ActionPlan, user: User, text: str = TEXT, **kwargs: object) -> Update:
        if self.service == "supersede":
            kwargs.setdefault("superseding_finding", FindingFactory(inspection=plan.finding.inspection))
        if self.service == "submit_for_sign_off":
            kwargs.setdefault("files", [pdf_upload()])
        if self.service == "propose_no_action":
            kwargs.setdefault("risk", RISK)
        service = getattr(workflow, self.service)
        return service(plan=plan, user=user, **{self.text_argument: text}, **kwargs)

    def expected_note(self, update: Update, text: str = TEXT) -> str:
        if self.service == "supersede":
            finding = ActionPlan.objects.get(pk=update.plan_id).superseded_by
            return f"Superseded by {finding.inspection.title} {finding.reference}. {text}"
        if self.service == "propose_no_action":
            return f"No action proposed. Why: {text}\nRisk it leaves: {RISK}"
        if self.service == "accept_no_action_risk":
            return f"Risk accepted by {update.author} on {date_format(timezone.localdate(), 'j M Y')}: {text}"
        decided = {"decline_no_action": "declined", "agree_no_action": "agreed", "send_back_no_action": "sent back"}
        if self.service in decided:
            return f"Proposal of no action {decided[self.service]}: {text}"
        return text


TRANSITIONS = (
    Transition("start", (S.NOT_STARTED,), S.IN_PROGRESS, K.STATUS, WORKERS, "note"),
    Transition("mark_blocked", (S.IN_PROGRESS,), S.BLOCKED, K.STATUS, WORKERS, "note"),
    Transition("unblock", (S.BLOCKED,), S.IN_PROGRESS, K.STATUS, WORKERS, "note"),
    Transition("submit_for_sign_off", (S.IN_PROGRESS,), S.SUBMITTED, K.STATUS, WORKERS, "statement"),
    Transition("sign_off", (S.SUBMITTED,), S.SIGNED_OFF, K.REVIEW, MANAGERS, "comment"),
    Transition("return_submission", (S.SUBMITTED,), S.IN_PROGRESS, K.REVIEW, MANAGERS, "comment"),
    Transition("close", (S.SIGNED_OFF,), S.CLOSED, K.VERIFICATION, VERIFIERS, "comment"),
    Transition("reopen", (S.SIGNED_OFF,), S.IN_PROGRESS, K.VERIFICATION, VERIFIERS, "comment"),
    Transition("supersede", ActionPlan.OPEN_STATUSES, S.SUPERSEDED, K.VERIFICATION, VERIFIERS, "comment"),
    # The inspectorate's direct route: from every open status but a proposal of no action whose risk the force
    # has accepted, which the inspectorate decides by agreeing or sending it back (issue 15, part 4).
    Transition(
        "no_further_action",
        tuple(s for s in ActionPlan.OPEN_STATUSES if s != S.NO_ACTION_ACCEPTED),
        S.NO_FURTHER_ACTION,
        K.VERIFICATION,
        VERIFIERS,
        "comment",
    ),
    # A proposal of no action (issue 15, part 4): the force proposes, its manager accepts the risk or declines,
    # and the inspectorate agrees or sends it back.
    Transition(
        "propose_no_action", (S.NOT_STARTED, S.IN_PROGRESS, S.BLOCKED), S.NO_ACTION_PROPOSED, K.NO_ACTION, WORKERS,
        "reason",
    ),
    Transition(
        "accept_no_action_risk", (S.NO_ACTION_PROPOSED,), S.NO_ACTION_ACCEPTED, K.NO_ACTION, MANAGERS, "comment",
    ),
    Transition("decline_no_action", (S.NO_ACTION_PROPOSED,), S.IN_PROGRESS, K.NO_ACTION, MANAGERS, "comment"),
    Transition("agree_no_action", (S.NO_ACTION_ACCEPTED,), S.NO_FURTHER_ACTION, K.VERIFICATION, VERIFIERS, "comment"),
    Transition("send_back_no_action", (S.NO_ACTION_ACCEPTED,), S.IN_PROGRESS, K.VERIFICATION, VERIFIERS, "comment"),
)  # fmt: skip
# The role DESIGN section 5 gives each transition to (admin is the "via admin" column).
NATURAL_ROLE = {WORKERS: "staff", MANAGERS: "manager", VERIFIERS: "inspector"}

ALLOWED_CASES = [
    pytest.param(t, source, role, id=f"{t}-{source}-{role}")
    for t in TRANSITIONS
    for source in t.sources
    for role in sorted(t.allowed)
]
REFUSED_ROLE_CASES = [
    pytest.param(t, role, id=f"{t}-{role}") for t in TRANSITIONS for role in ROLES if role not in t.allowed
]
WRONG_STATE_CASES = [
    pytest.param(t, status, role, id=f"{t}-from-{status}-{role}")
    for t in TRANSITIONS
    for status in ALL_STATUSES
    if status not in t.sources
    for role in (NATURAL_ROLE[t.allowed], "admin")
]


def test_the_table_covers_every_transition_of_the_design():
    pairs = {(source, t.target) for t in TRANSITIONS for source in t.sources}
    allowed = {(source, target) for source, targets in workflow.ALLOWED_TRANSITIONS.items() for target in targets}
    assert pairs == allowed


# The ten transitions: allowed -------------------------------------------------------------------


@pytest.mark.parametrize(("transition", "source", "role"), ALLOWED_CASES)
def test_the_right_role_moves_the_plan_and_writes_one_update(transition, source, role, make_user, plan_in):
    user = make_user(role)
    plan = plan_in(source)
    version = plan.version

    update = transition(plan, user)

    plan.refresh_from_db()
    assert plan.status == transition.target
    assert plan.version == version + 1
    assert list(Update.objects.filter(plan=plan)) == [update]
    assert update.kind == transition.kind
    assert update.author == user
    assert update.note == transition.expected_note(update)
    assert (update.status_from, update.status_to) == (source, transition.target)
    assert update.target_date_from is None
    assert update.target_date_to is None


def test_the_callers_plan_object_is_brought_up_to_date(manager, plan_in):
    plan = plan_in(S.SUBMITTED)
    workflow.sign_off(plan=plan, user=manager, comment="Agreed at the SOC board.")
    assert plan.status == S.SIGNED_OFF
    assert plan.version == 2


def test_a_rag_annotation_on_the_callers_plan_object_does_not_go_stale(staff, plan_in):
    plan = ActionPlan.objects.with_rag().get(pk=plan_in(S.IN_PROGRESS, target_date=days(90)).pk)
    assert plan.rag == ActionPlan.Rag.GREEN
    workflow.mark_blocked(plan=plan, user=staff, note="Waiting on vetting.")
    assert plan.rag == ActionPlan.Rag.AMBER


def test_submission_keeps_the_closure_statement_and_the_evidence(staff, plan_in):
    plan = plan_in(S.IN_PROGRESS)
    update = workflow.submit_for_sign_off(plan=plan, user=staff, statement="Profile refreshed.", files=[pdf_upload()])
    plan.refresh_from_db()
    assert plan.summary == "Profile refreshed."
    evidence = update.evidence.get()
    assert (evidence.original_name, evidence.uploaded_by) == ("evidence.pdf", staff)


def test_sign_off_records_the_plan_as_complete(manager, plan_in):
    plan = plan_in(S.SUBMITTED, percent_complete=80)
    update = workflow.sign_off(plan=plan, user=manager, comment="Agreed at the SOC board.")
    plan.refresh_from_db()
    assert plan.percent_complete == 100
    assert update.percent == 100


def test_supersede_records_the_superseding_finding(inspector, plan_in):
    plan = plan_in(S.IN_PROGRESS)
    later = FindingFactory(reference="R9")
    update = workflow.supersede(plan=plan, user=inspector, superseding_finding=later)
    plan.refresh_from_db()
    assert plan.superseded_by == later
    assert update.note == f"Superseded by {later.inspection.title} R9."


# The ten transitions: refused -------------------------------------------------------------------


@pytest.mark.parametrize(("transition", "role"), REFUSED_ROLE_CASES)
def test_every_other_role_is_refused_and_nothing_changes(transition, role, make_user, plan_in):
    user = make_user(role)
    plan = plan_in(transition.sources[0])
    before = snapshot(plan)

    with pytest.raises(PermissionDenied):
        transition(plan, user)

    assert snapshot(plan) == before


@pytest.mark.parametrize(("transition", "status", "role"), WRONG_STATE_CASES)
def test_every_wrong_state_is_refused_and_nothing_changes(transition, status, role, make_user, plan_in):
    user = make_user(role)
    plan = plan_in(status)
    before = snapshot(plan)

    with pytest.raises(ValidationError) as refused:
        transition(plan, user)

    assert not isinstance(refused.value, StaleVersion)
    assert snapshot(plan) == before


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
@pytest.mark.parametrize("transition", [t for t in TRANSITIONS if t.service != "supersede"], ids=str)
def test_the_required_note_or_comment_cannot_be_blank(transition, text, make_user, plan_in):
    user = make_user(NATURAL_ROLE[transition.allowed])
    plan = plan_in(transition.sources[0])
    before = snapshot(plan)

    with pytest.raises(ValidationError):
        transition(plan, user, text=text)

    assert snapshot(plan) == before


def test_supersede_needs_the_superseding_finding(inspector, plan_in):
    plan = plan_in(S.IN_PROGRESS)
    before = snapshot(plan)
    with pytest.raises(ValidationError):
        workflow.supersede(plan=plan, user=inspector, superseding_finding=None, comment="Replaced.")
    with pytest.raises(ValidationError):
        workflow.supersede(plan=plan, user=inspector, superseding_finding=plan.finding, comment="Replaced.")
    assert snapshot(plan) == before


def test_submission_without_any_evidence_is_refused(staff, plan_in):
    plan = plan_in(S.IN_PROGRESS)
    before = snapshot(plan)

    with pytest.raises(ValidationError):
        workflow.submit_for_sign_off(plan=plan, user=staff, statement="All done.", files=[])

    assert snapshot(plan) == before


def test_evidence_on_another_plan_does_not_count(staff, org, plan_in):
    plan = plan_in(S.IN_PROGRESS)
    EvidenceFactory(update__plan=ActionPlanFactory(organisation=org))
    before = snapshot(plan)

    with pytest.raises(ValidationError):
        workflow.submit_for_sign_off(plan=plan, user=staff, statement="All done.")

    assert snapshot(plan) == before


def test_submission_may_rely_on_evidence_already_on_the_plan(staff, plan_in):
    plan = plan_in(S.IN_PROGRESS)
    EvidenceFactory(update__plan=plan, update__author=staff)

    update = workflow.submit_for_sign_off(plan=plan, user=staff, statement="All done; see the profile.")

    plan.refresh_from_db()
    assert plan.status == S.SUBMITTED
    assert (update.status_from, update.status_to) == (S.IN_PROGRESS, S.SUBMITTED)
    assert not update.evidence.exists()


# record_progress --------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["staff", "manager", "admin"])
@pytest.mark.parametrize("status", [S.IN_PROGRESS, S.BLOCKED])
def test_progress_is_recorded_without_changing_the_status(status, role, make_user, plan_in):
    user = make_user(role)
    plan = plan_in(status, percent_complete=20)

    update = workflow.record_progress(plan=plan, user=user, note=TEXT, percent_complete=45)

    plan.refresh_from_db()
    assert (plan.status, plan.percent_complete, plan.version) == (status, 45, 2)
    assert list(plan.updates.all()) == [update]
    assert (update.kind, update.author, update.note, update.percent) == (K.PROGRESS, user, TEXT, 45)
    assert (update.status_from, update.status_to) == ("", "")


def test_progress_without_a_percent_keeps_the_old_figure(staff, plan_in):
    plan = plan_in(S.IN_PROGRESS, percent_complete=30)
    update = workflow.record_progress(plan=plan, user=staff, note=TEXT)
    plan.refresh_from_db()
    assert plan.percent_complete == 30
    assert update.percent is None


def test_progress_on_a_plan_not_started_starts_it(staff, plan_in):
    plan = plan_in(S.NOT_STARTED, percent_complete=0)

    update = workflow.record_progress(plan=plan, user=staff, note=TEXT, percent_complete=10)

    plan.refresh_from_db()
    assert (plan.status, plan.percent_complete) == (S.IN_PROGRESS, 10)
    assert (update.kind, update.status_from, update.status_to) == (K.PROGRESS, S.NOT_STARTED, S.IN_PROGRESS)
    assert plan.updates.count() == 1


@pytest.mark.parametrize("percent", [0, 100])
def test_progress_accepts_the_ends_of_the_percent_range(percent, staff, plan_in):
    plan = plan_in(S.IN_PROGRESS, percent_complete=50)
    workflow.record_progress(plan=plan, user=staff, note=TEXT, percent_complete=percent)
    plan.refresh_from_db()
    assert plan.percent_complete == percent


@pytest.mark.parametrize("percent", [-1, 101, 1000])
def test_progress_refuses_a_percent_out_of_range(percent, staff, plan_in):
    plan = plan_in(S.IN_PROGRESS)
    before = snapshot(plan)
    with pytest.raises(ValidationError):
        workflow.record_progress(plan=plan, user=staff, note=TEXT, percent_complete=percent)
    assert snapshot(plan) == before


@pytest.mark.parametrize("text", ["", "  "])
def test_progress_needs_a_note(text, staff, plan_in):
    plan = plan_in(S.IN_PROGRESS)
    before = snapshot(plan)
    with pytest.raises(ValidationError):
        workflow.record_progress(plan=plan, user=staff, note=text, percent_complete=50)
    assert snapshot(plan) == before


@pytest.mark.parametrize("status", [S.SUBMITTED, S.SIGNED_OFF, *ActionPlan.TERMINAL_STATUSES])
def test_progress_is_refused_once_submitted(status, staff, plan_in):
    plan = plan_in(status)
    before = snapshot(plan)
    with pytest.raises(ValidationError):
        workflow.record_progress(plan=plan, user=staff, note=TEXT, percent_complete=50, files=[pdf_upload()])
    assert snapshot(plan) == before


@pytest.mark.parametrize("role", [r for r in ROLES if r not in WORKERS])
def test_progress_is_refused_for_other_roles(role, make_user, plan_in):
    user = make_user(role)
    plan = plan_in(S.IN_PROGRESS)
    before = snapshot(plan)
    with pytest.raises(PermissionDenied):
        workflow.record_progress(plan=plan, user=user, note=TEXT, percent_complete=50, files=[pdf_upload()])
    assert snapshot(plan) == before


# change_target_date -----------------------------------------------------------------------------


@pytest.mark.parametrize("role", sorted(MANAGERS))
def test_a_manager_changes_the_target_date_with_a_reason(role, make_user, plan_in):
    user = make_user(role)
    plan = plan_in(S.IN_PROGRESS, target_date=days(30))

    update = workflow.change_target_date(plan=plan, user=user, target_date=days(60), reason="Analysts start in May.")

    plan.refresh_from_db()
    assert (plan.target_date, plan.original_target_date, plan.deferral_count) == (days(60), days(30), 1)
    assert plan.version == 2
    assert (update.kind, update.author, update.note) == (K.TARGET_DATE, user, "Analysts start in May.")
    assert (update.target_date_from, update.target_date_to) == (days(30), days(60))
    assert (update.status_from, update.status_to) == ("", "")


def test_the_original_target_date_never_changes_and_only_later_dates_are_deferrals(manager, plan_in):
    plan = plan_in(S.IN_PROGRESS, target_date=days(30))
    # 45 is brought forward; 11 is later than 10 but not than 90, agreed before: not a deferral.
    moves = [(days(60), 1), (days(45), 1), (days(90), 2), (days(10), 2), (days(11), 2)]

    previous = days(30)
    for new_date, deferrals in moves:
        update = workflow.change_target_date(plan=plan, user=manager, target_date=new_date, reason="Board agreed.")
        plan.refresh_from_db()
        assert (plan.target_date, plan.original_target_date, plan.deferral_count) == (new_date, days(30), deferrals)
        assert (update.target_date_from, update.target_date_to) == (previous, new_date)
        previous = new_date

    assert plan.updates.filter(kind=K.TARGET_DATE).count() == len(moves)
    assert plan.deferred_days == (days(11) - days(30)).days


def test_the_first_target_date_becomes_the_original(manager, plan_in):
    plan = plan_in(S.NOT_STARTED, target_date=None, original_target_date=None)

    update = workflow.change_target_date(plan=plan, user=manager, target_date=days(90), reason="Agreed with HMICFRS.")
    workflow.change_target_date(plan=plan, user=manager, target_date=days(120), reason="Recruitment delayed.")

    plan.refresh_from_db()
    assert (plan.original_target_date, plan.target_date, plan.deferral_count) == (days(90), days(120), 1)
    assert (update.target_date_from, update.target_date_to) == (None, days(90))


@pytest.mark.parametrize("role", [r for r in ROLES if r not in MANAGERS])
def test_only_managers_change_target_dates(role, make_user, plan_in):
    user = make_user(role)
    plan = plan_in(S.IN_PROGRESS, target_date=days(30))
    before = snapshot(plan)
    with pytest.raises(PermissionDenied):
        workflow.change_target_date(plan=plan, user=user, target_date=days(60), reason="Need longer.")
    assert snapshot(plan) == before


@pytest.mark.parametrize(
    ("offset", "reason"),
    [(60, ""), (60, "   "), (None, "Need longer."), (30, "Same date.")],
    ids=["blank-reason", "whitespace-reason", "no-date", "same-date"],
)
def test_a_target_date_change_needs_a_reason_and_a_new_date(offset, reason, manager, plan_in):
    plan = plan_in(S.IN_PROGRESS, target_date=days(30))
    new_date = None if offset is None else days(offset)
    before = snapshot(plan)
    with pytest.raises(ValidationError):
        workflow.change_target_date(plan=plan, user=manager, target_date=new_date, reason=reason)
    assert snapshot(plan) == before


@pytest.mark.parametrize("status", ActionPlan.TERMINAL_STATUSES)
def test_a_finished_plan_keeps_its_target_date(status, manager, plan_in):
    plan = plan_in(status, target_date=days(30))
    before = snapshot(plan)
    with pytest.raises(ValidationError):
        workflow.change_target_date(plan=plan, user=manager, target_date=days(60), reason="Too late.")
    assert snapshot(plan) == before


# assign_owner -----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", sorted(MANAGERS))
def test_a_manager_assigns_an_owner_from_the_organisation(role, make_user, org, plan_in):
    user = make_user(role)
    owner = StaffFactory(organisation=org, first_name="Priya", last_name="Shah", username="pshah")
    plan = plan_in(S.IN_PROGRESS)

    update = workflow.assign_owner(plan=plan, user=user, owner=owner, note="Leads the analyst review.")

    plan.refresh_from_db()
    assert (plan.owner, plan.version) == (owner, 2)
    assert (update.kind, update.author) == (K.OWNER, user)
    assert update.note == "Owner set to Priya Shah (pshah). Leads the analyst review."


def test_a_manager_can_remove_the_owner(manager, staff, plan_in):
    plan = plan_in(S.IN_PROGRESS, owner=staff)
    update = workflow.assign_owner(plan=plan, user=manager, owner=None)
    plan.refresh_from_db()
    assert plan.owner is None
    assert update.note == "Owner removed."


@pytest.mark.parametrize(
    "make_owner",
    [
        lambda org, other_org: StaffFactory(organisation=org, is_active=False),
        lambda org, other_org: StaffFactory(organisation=other_org),
        lambda org, other_org: ManagerFactory(organisation=other_org),
        lambda org, other_org: InspectorFactory(),
        lambda org, other_org: AdminFactory(),
    ],
    ids=["inactive-colleague", "other-org-staff", "other-org-manager", "inspector", "admin"],
)
def test_the_owner_must_be_an_active_member_of_the_organisation(make_owner, manager, org, other_org, plan_in):
    plan = plan_in(S.IN_PROGRESS)
    owner = make_owner(org, other_org)
    before = snapshot(plan)
    with pytest.raises(ValidationError):
        workflow.assign_owner(plan=plan, user=manager, owner=owner)
    assert snapshot(plan) == before


def test_assigning_the_current_owner_again_is_refused(manager, staff, plan_in):
    plan = plan_in(S.IN_PROGRESS, owner=staff)
    before = snapshot(plan)
    with pytest.raises(ValidationError):
        workflow.assign_owner(plan=plan, user=manager, owner=staff)
    assert snapshot(plan) == before


@pytest.mark.parametrize("role", [r for r in ROLES if r not in MANAGERS])
def test_only_managers_assign_owners(role, make_user, org, plan_in):
    user = make_user(role)
    plan = plan_in(S.IN_PROGRESS)
    owner = StaffFactory(organisation=org)
    before = snapshot(plan)
    with pytest.raises(PermissionDenied):
        workflow.assign_owner(plan=plan, user=user, owner=owner)
    assert snapshot(plan) == before


# add_comment ------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["staff", "manager", "inspector", "admin"])
@pytest.mark.parametrize("status", [S.IN_PROGRESS, S.CLOSED])
def test_anyone_who_can_see_the_plan_can_comment(role, status, make_user, plan_in):
    user = make_user(role)
    plan = plan_in(status)
    before = ActionPlan.objects.filter(pk=plan.pk).values("status", "version", "percent_complete").get()

    update = workflow.add_comment(plan=plan, user=user, note="Discussed at the regional board.")

    assert list(plan.updates.all()) == [update]
    assert (update.kind, update.author, update.note) == (K.COMMENT, user, "Discussed at the regional board.")
    assert (update.status_from, update.status_to) == ("", "")
    # A comment changes nothing on the plan, so it cannot make anyone's open form stale.
    assert ActionPlan.objects.filter(pk=plan.pk).values("status", "version", "percent_complete").get() == before


@pytest.mark.parametrize("role", [r for r in ROLES if r.startswith(("other", "inactive"))])
def test_people_who_cannot_see_the_plan_cannot_comment(role, make_user, plan_in):
    user = make_user(role)
    plan = plan_in(S.IN_PROGRESS)
    before = snapshot(plan)
    with pytest.raises(PermissionDenied):
        workflow.add_comment(plan=plan, user=user, note="Looks late to me.")
    assert snapshot(plan) == before


def test_a_comment_cannot_be_blank(staff, plan_in):
    plan = plan_in(S.IN_PROGRESS)
    before = snapshot(plan)
    with pytest.raises(ValidationError):
        workflow.add_comment(plan=plan, user=staff, note="  ")
    assert snapshot(plan) == before


# publish_inspection -----------------------------------------------------------------------------


def plan_keys(inspection) -> set[tuple[str, str]]:
    return set(
        ActionPlan.objects.filter(finding__inspection=inspection).values_list(
            "finding__reference", "organisation__slug"
        )
    )


def test_publishing_opens_one_plan_per_finding_and_addressee(org, other_org):
    inspection = InspectionFactory()
    coc = FindingFactory(inspection=inspection, reference="CoC1", due_by=dt.date(2025, 3, 31))
    coc.addressed_to.set([org, other_org])
    recommendation = FindingFactory(inspection=inspection, reference="R1")
    recommendation.addressed_to.set([org])
    FindingFactory(inspection=inspection, reference="AFI1")  # addressed to nobody yet
    elsewhere = FindingFactory(reference="R1")
    elsewhere.addressed_to.set([org])

    assert workflow.publish_inspection(inspection=inspection) == 3

    assert plan_keys(inspection) == {("CoC1", "surrey"), ("CoC1", "hampshire"), ("R1", "surrey")}
    assert not ActionPlan.objects.filter(finding=elsewhere).exists()
    opened = ActionPlan.objects.get(finding=coc, organisation=org)
    assert (opened.status, opened.version, opened.percent_complete) == (S.NOT_STARTED, 1, 0)
    assert (opened.target_date, opened.original_target_date) == (dt.date(2025, 3, 31), dt.date(2025, 3, 31))
    assert ActionPlan.objects.get(finding=recommendation).target_date is None
    # Written by the database, a plan has every default a plan made in Python has.
    made = ActionPlan(finding=coc, organisation=org, target_date=opened.target_date)
    for field in ActionPlan._meta.concrete_fields:
        if field.name not in {"id", "created_at", "updated_at", "original_target_date", "stage_number"}:
            assert getattr(opened, field.attname) == getattr(made, field.attname), field.name
    assert opened.stage_number is not None
    assert opened.created_at is not None and opened.updated_at is not None


def test_publishing_again_changes_nothing(org, other_org, manager):
    inspection = InspectionFactory()
    finding = FindingFactory(inspection=inspection, reference="R1")
    finding.addressed_to.set([org, other_org])
    workflow.publish_inspection(inspection=inspection)
    started = ActionPlan.objects.get(finding=finding, organisation=org)
    workflow.record_progress(plan=started, user=manager, note=TEXT, percent_complete=40)
    before = list(ActionPlan.objects.filter(finding__inspection=inspection).order_by("pk").values())

    assert workflow.publish_inspection(inspection=inspection) == 0
    assert workflow.publish_inspection(inspection=inspection) == 0

    assert list(ActionPlan.objects.filter(finding__inspection=inspection).order_by("pk").values()) == before


def test_publishing_after_the_addressees_change_opens_only_the_missing_plans(org, other_org, manager):
    inspection = InspectionFactory()
    finding = FindingFactory(inspection=inspection, reference="R1")
    finding.addressed_to.set([org])
    later = FindingFactory(inspection=inspection, reference="R2")
    workflow.publish_inspection(inspection=inspection)
    started = ActionPlan.objects.get(finding=finding, organisation=org)
    workflow.record_progress(plan=started, user=manager, note=TEXT, percent_complete=40)

    serocu = OrganisationFactory(slug="serocu")
    finding.addressed_to.add(other_org, serocu)
    later.addressed_to.add(org)

    assert workflow.publish_inspection(inspection=inspection) == 3

    assert plan_keys(inspection) == {("R1", "surrey"), ("R1", "hampshire"), ("R1", "serocu"), ("R2", "surrey")}
    started.refresh_from_db()
    assert (started.status, started.percent_complete, started.version) == (S.IN_PROGRESS, 40, 2)


# Optimistic locking -----------------------------------------------------------------------------


def test_a_stale_version_is_refused_naming_who_changed_the_plan(staff, org, plan_in):
    colleague = ManagerFactory(organisation=org, first_name="Dana", last_name="Okafor", username="dokafor")
    plan = plan_in(S.IN_PROGRESS, percent_complete=20)
    shown_version = plan.version  # both open the form
    workflow.record_progress(
        plan=ActionPlan.objects.get(pk=plan.pk),
        user=colleague,
        note="Newer.",
        percent_complete=60,
        expected_version=shown_version,
    )
    before = snapshot(plan)

    with pytest.raises(StaleVersion) as refused:
        workflow.record_progress(
            plan=plan,
            user=staff,
            note="Older.",
            percent_complete=30,
            files=[pdf_upload()],
            expected_version=shown_version,
        )

    assert isinstance(refused.value, ValidationError)
    assert refused.value.code == "stale"
    assert "Dana Okafor (dokafor)" in refused.value.messages[0]
    assert snapshot(plan) == before
    fresh = ActionPlan.objects.get(pk=plan.pk)
    assert (fresh.percent_complete, fresh.version) == (60, shown_version + 1)
    assert plan.updates.get().note == "Newer."


def test_a_stale_version_names_who_changed_the_plan_not_who_commented_since(staff, inspector, org, plan_in):
    colleague = ManagerFactory(organisation=org, first_name="Dana", last_name="Okafor", username="dokafor")
    plan = plan_in(S.IN_PROGRESS)
    workflow.record_progress(
        plan=ActionPlan.objects.get(pk=plan.pk), user=colleague, note="Newer.", expected_version=1
    )
    workflow.add_comment(plan=plan, user=inspector, note="Thanks, noted.")

    with pytest.raises(StaleVersion) as refused:
        workflow.record_progress(plan=plan, user=staff, note="Older.", expected_version=1)

    assert "Dana Okafor (dokafor)" in refused.value.messages[0]
    assert inspector.username not in refused.value.messages[0]


def test_the_current_version_is_accepted(staff, plan_in):
    plan = plan_in(S.IN_PROGRESS)
    workflow.record_progress(plan=plan, user=staff, note=TEXT, expected_version=plan.version)
    workflow.mark_blocked(plan=plan, user=staff, note="Waiting on vetting.", expected_version=plan.version)
    plan.refresh_from_db()
    assert (plan.status, plan.version) == (S.BLOCKED, 3)


@pytest.mark.parametrize("transition", TRANSITIONS, ids=str)
def test_every_transition_refuses_a_stale_version(transition, make_user, org, plan_in):
    user = make_user(NATURAL_ROLE[transition.allowed])
    plan = plan_in(transition.sources[0])
    shown_version = plan.version
    # Someone else changed the plan after this user's form was drawn.
    other = StaffFactory(organisation=org, first_name="Lee", last_name="Grant", username="lgrant")
    UpdateFactory(plan=plan, author=other, note="Percent updated.")
    ActionPlan.objects.filter(pk=plan.pk).update(version=F("version") + 1, percent_complete=55)
    before = snapshot(plan)

    with pytest.raises(StaleVersion) as refused:
        transition(plan, user, expected_version=shown_version)

    assert "Lee Grant (lgrant)" in refused.value.messages[0]
    assert snapshot(plan) == before


def test_a_stale_version_without_a_timeline_still_explains_itself(staff, plan_in):
    plan = plan_in(S.IN_PROGRESS)
    ActionPlan.objects.filter(pk=plan.pk).update(version=F("version") + 1)
    with pytest.raises(StaleVersion) as refused:
        workflow.record_progress(plan=plan, user=staff, note=TEXT, expected_version=1)
    assert "changed by someone else" in refused.value.messages[0]
    assert not plan.updates.exists()
