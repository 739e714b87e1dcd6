"""Proposals of no action (issue 15, part 4): force staff or managers propose, with the reason and the risk
it leaves; the force's manager accepts the risk (named, dated) or declines; the inspectorate records no
further action or sends it back. The inspectorate's own route to no further action stays."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone
from rest_framework.test import APIClient

from tests.factories import (
    ActionPlanFactory,
    AdminFactory,
    InspectorFactory,
    ManagerFactory,
    OrganisationFactory,
    StaffFactory,
)
from tracker import workflow
from tracker.models import ActionPlan, NoActionProposal, Update, User

pytestmark = pytest.mark.django_db
S = ActionPlan.Status
K = Update.Kind
O = NoActionProposal.Outcome  # noqa: E741
REASON = "Existing arrangements already meet the recommendation."
RISK = "If they lapse, nobody is tracking it."


@pytest.fixture
def plan():
    return ActionPlanFactory(status=S.IN_PROGRESS)


@pytest.fixture
def staff(plan):
    return StaffFactory(organisation=plan.organisation, first_name="Sam", last_name="Staff")


@pytest.fixture
def manager(plan):
    return ManagerFactory(organisation=plan.organisation, first_name="Morgan", last_name="Manager")


@pytest.fixture
def inspector():
    return InspectorFactory()


def snapshot(plan):
    plan = ActionPlan.objects.get(pk=plan.pk)
    return (
        plan.status, plan.version, plan.updates.count(),
        list(plan.no_action_proposals.values_list("outcome", "accepted_by", "accepted_on", "decided_by")),
    )  # fmt: skip


def stranded_user() -> User:
    """A person with no organisation whose role does not see everything (the database refuses to store one)."""
    return User(pk=987_654, username="stranded", role=User.Role.STAFF, organisation=None, is_active=True)


def propose(plan, user):
    return workflow.propose_no_action(plan=plan, user=user, reason=REASON, risk=RISK)


# --- the workflow ----------------------------------------------------------------------------------


def test_a_proposal_goes_from_staff_to_the_manager_to_the_inspector_and_ends_in_no_further_action(
    plan, staff, manager, inspector
):
    update = propose(plan, staff)
    assert (update.kind, update.status_from, update.status_to) == (K.NO_ACTION, S.IN_PROGRESS, S.NO_ACTION_PROPOSED)
    assert update.note == f"No action proposed. Why: {REASON}\nRisk it leaves: {RISK}"
    assert update.change_label == "No action proposed"
    proposal = plan.no_action_proposals.get()
    assert (proposal.reason, proposal.risk, proposal.proposed_by, proposal.outcome) == (REASON, RISK, staff, O.OPEN)

    update = workflow.accept_no_action_risk(plan=plan, user=manager, comment="The board accepts it.")
    proposal.refresh_from_db()
    assert (proposal.accepted_by, proposal.accepted_on) == (manager, timezone.localdate())
    assert update.note == f"Risk accepted by {manager} on {timezone.localdate():%-d %b %Y}: The board accepts it."
    assert ActionPlan.objects.get(pk=plan.pk).status == S.NO_ACTION_ACCEPTED

    update = workflow.agree_no_action(plan=plan, user=inspector, comment="Agreed on the evidence.")
    proposal.refresh_from_db()
    assert (proposal.outcome, proposal.decided_by, proposal.decision_note) == (
        O.AGREED,
        inspector,
        "Agreed on the evidence.",
    )
    assert update.change_label == "No further action: proposal agreed"
    plan = ActionPlan.objects.get(pk=plan.pk)
    assert plan.status == S.NO_FURTHER_ACTION and plan.stage == ActionPlan.Stage.ENDED


def test_the_inspector_may_send_it_back_and_the_manager_may_decline(plan, staff, manager, inspector):
    propose(plan, staff)
    workflow.accept_no_action_risk(plan=plan, user=manager, comment="Accepted.")
    update = workflow.send_back_no_action(plan=plan, user=inspector, comment="Action is still needed.")
    assert update.change_label == "Proposal of no action sent back"
    assert ActionPlan.objects.get(pk=plan.pk).status == S.IN_PROGRESS
    assert plan.no_action_proposals.get().outcome == O.SENT_BACK

    propose(plan, manager)
    update = workflow.decline_no_action(plan=plan, user=manager, comment="We will act after all.")
    assert update.change_label == "Proposal of no action declined"
    assert ActionPlan.objects.get(pk=plan.pk).status == S.IN_PROGRESS
    assert list(plan.no_action_proposals.values_list("outcome", flat=True)) == [O.DECLINED, O.SENT_BACK]


def test_a_proposal_sits_with_the_force_until_the_inspectorate_decides(plan, staff, manager):
    propose(plan, staff)
    plan.refresh_from_db()
    assert plan.stage == ActionPlan.Stage.WITH_FORCE
    workflow.accept_no_action_risk(plan=plan, user=manager, comment="Accepted.")
    plan.refresh_from_db()
    assert plan.stage == ActionPlan.Stage.WITH_FORCE
    assert plan.status not in ActionPlan.REPORTED_COMPLETE_STATUSES


def test_incomplete_or_out_of_turn_steps_are_refused_and_change_nothing(plan, staff, manager, inspector):
    before = snapshot(plan)
    for call, message in (
        (lambda: workflow.propose_no_action(plan=plan, user=staff, reason="", risk=RISK), "Say why"),
        (lambda: workflow.propose_no_action(plan=plan, user=staff, reason=REASON, risk=" "), "what risk"),
        (lambda: workflow.accept_no_action_risk(plan=plan, user=manager, comment="x"), "not possible while"),
        (lambda: workflow.agree_no_action(plan=plan, user=inspector, comment="x"), "not possible while"),
    ):
        with pytest.raises(ValidationError, match=message):
            call()
        assert snapshot(plan) == before
    propose(plan, staff)
    before = snapshot(plan)
    with pytest.raises(ValidationError, match="not possible while"):
        workflow.send_back_no_action(plan=plan, user=inspector, comment="Too early: the manager has not accepted.")
    with pytest.raises(ValidationError, match="Say why the organisation accepts"):
        workflow.accept_no_action_risk(plan=plan, user=manager, comment="")
    assert snapshot(plan) == before


def test_the_inspectorates_own_route_to_no_further_action_stays(plan, inspector, staff):
    workflow.no_further_action(plan=plan, user=inspector, comment="Overtaken by events.")
    assert ActionPlan.objects.get(pk=plan.pk).status == S.NO_FURTHER_ACTION
    other = ActionPlanFactory(organisation=plan.organisation, status=S.IN_PROGRESS)
    propose(other, staff)
    workflow.no_further_action(plan=other, user=inspector, comment="Decided without waiting.")
    assert ActionPlan.objects.get(pk=other.pk).status == S.NO_FURTHER_ACTION


ROLES = ["staff", "manager", "admin", "inspector", "other_staff", "other_manager", "no_organisation"]


def person(plan, who):
    org = plan.organisation
    return {
        "staff": lambda: StaffFactory(organisation=org),
        "manager": lambda: ManagerFactory(organisation=org),
        "admin": AdminFactory,
        "inspector": InspectorFactory,
        "other_staff": lambda: StaffFactory(organisation=OrganisationFactory()),
        "other_manager": lambda: ManagerFactory(organisation=OrganisationFactory()),
        "no_organisation": stranded_user,
    }[who]()


STEPS = {  # the step, the status it starts from, who may take it
    "propose": (S.IN_PROGRESS, {"staff", "manager", "admin"}),
    "accept": (S.NO_ACTION_PROPOSED, {"manager", "admin"}),
    "decline": (S.NO_ACTION_PROPOSED, {"manager", "admin"}),
    "agree": (S.NO_ACTION_ACCEPTED, {"inspector", "admin"}),
    "send_back": (S.NO_ACTION_ACCEPTED, {"inspector", "admin"}),
}


@pytest.mark.parametrize("step", list(STEPS))
@pytest.mark.parametrize("who", ROLES)
def test_who_may_take_each_step(plan, staff, manager, step, who):
    source, allowed = STEPS[step]
    if source != S.IN_PROGRESS:
        propose(plan, staff)
        if source == S.NO_ACTION_ACCEPTED:
            workflow.accept_no_action_risk(plan=plan, user=manager, comment="Accepted.")
    user = person(plan, who)
    call = {
        "propose": lambda: workflow.propose_no_action(plan=plan, user=user, reason=REASON, risk=RISK),
        "accept": lambda: workflow.accept_no_action_risk(plan=plan, user=user, comment="Accepted."),
        "decline": lambda: workflow.decline_no_action(plan=plan, user=user, comment="No."),
        "agree": lambda: workflow.agree_no_action(plan=plan, user=user, comment="Agreed."),
        "send_back": lambda: workflow.send_back_no_action(plan=plan, user=user, comment="Act."),
    }[step]
    before = snapshot(plan)
    if who in allowed:
        call()
        assert snapshot(plan) != before
    else:
        with pytest.raises(PermissionDenied):
            call()
        assert snapshot(plan) == before


# --- the plan page -----------------------------------------------------------------------------------


def post(client, plan, action, **fields):
    data = {f"{action}-{k}": v for k, v in fields.items()}
    data.setdefault(f"{action}-version", ActionPlan.objects.get(pk=plan.pk).version)
    return client.post(f"/plans/{plan.pk}/{action}/", data)


@pytest.mark.parametrize(
    ("who", "expected"),
    [("staff", 302), ("manager", 302), ("admin", 302), ("inspector", 403), ("other_staff", 404),
     ("anonymous", "login")],
)  # fmt: skip
def test_who_may_propose_on_the_page(client, plan, who, expected):
    if who != "anonymous":
        client.force_login(person(plan, who))
    response = post(client, plan, "propose-no-action", reason=REASON, risk=RISK)
    if expected == "login":
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    else:
        assert response.status_code == expected
    assert (ActionPlan.objects.get(pk=plan.pk).status == S.NO_ACTION_PROPOSED) == (expected == 302)


def test_the_journey_through_the_page(client, plan, staff, manager, inspector):
    client.force_login(staff)
    assert 'id="action-propose-no-action"' in client.get(plan.get_absolute_url()).content.decode()
    assert post(client, plan, "propose-no-action", reason=REASON, risk=RISK).status_code == 302
    page = client.get(plan.get_absolute_url()).content.decode()
    assert "Proposal of no action: awaiting the manager" in page and RISK in page
    assert 'id="action-accept-risk"' not in page

    client.force_login(manager)
    page = client.get(plan.get_absolute_url()).content.decode()
    assert 'id="action-accept-risk"' in page and 'id="action-decline-no-action"' in page
    refused = post(client, plan, "accept-risk", comment="Accepted by the board.")
    assert refused.status_code == 400 and "Tick to confirm that you accept the risk." in refused.content.decode()
    assert ActionPlan.objects.get(pk=plan.pk).status == S.NO_ACTION_PROPOSED
    assert post(client, plan, "accept-risk", comment="Accepted by the board.", confirm="on").status_code == 302
    home = client.get("/").content.decode()
    assert "Proposals of no action: accept the risk or decline" in home

    client.force_login(inspector)
    home = client.get("/").content.decode()
    assert "Proposals of no action awaiting your decision" in home and plan.finding.reference in home
    page = client.get(plan.get_absolute_url()).content.decode()
    assert "risk accepted, awaiting the inspectorate" in page
    assert f'Morgan Manager, <time datetime="{timezone.localdate():%Y-%m-%d}">' in page
    assert 'id="action-agree-no-action"' in page and 'id="action-send-back-no-action"' in page
    assert 'id="action-no-further-action"' not in page  # the proposal's own decision replaces it here
    assert post(client, plan, "agree-no-action", comment="Agreed.").status_code == 302
    page = client.get(plan.get_absolute_url()).content.decode()
    assert "Proposal of no action: agreed: no further action" in page
    assert "No further action: proposal agreed" in page  # on the timeline


# --- the API, exports and the board pack -----------------------------------------------------------


def api(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_the_api_takes_a_proposal_to_the_inspector(plan, staff, manager, inspector):
    url = f"/api/v1/plans/{plan.pk}"

    def version():
        return api(staff).get(f"{url}/").json()["version"]

    assert "propose-no-action" in api(staff).get(f"{url}/").json()["actions"]
    response = api(staff).post(f"{url}/propose-no-action/", {"version": version(), "reason": REASON, "risk": RISK},
                               format="json")  # fmt: skip
    assert response.status_code == 200, response.content
    assert response.json()["plan"]["status"] == S.NO_ACTION_PROPOSED
    assert api(staff).post(f"{url}/accept-risk/", {"version": version(), "comment": "x"},
                           format="json").status_code == 403  # fmt: skip
    assert api(manager).post(f"{url}/accept-risk/", {"version": version(), "comment": "Accepted."},
                             format="json").status_code == 200  # fmt: skip
    detail = api(inspector).get(f"{url}/").json()
    assert detail["actions"] == ["supersede", "agree-no-action", "send-back-no-action", "comments"]
    proposal = detail["no_action_proposal"]
    assert (proposal["reason"], proposal["risk"], proposal["outcome"]) == (REASON, RISK, "")
    assert proposal["accepted_by"]["username"] == manager.username
    assert proposal["accepted_on"] == timezone.localdate().isoformat()
    other = ManagerFactory(organisation=OrganisationFactory())
    assert api(other).get(f"{url}/").status_code == 404
    response = api(inspector).post(f"{url}/send-back-no-action/", {"version": version(), "comment": "Act."},
                                   format="json")  # fmt: skip
    assert response.status_code == 200 and response.json()["plan"]["status"] == S.IN_PROGRESS


def test_exports_and_the_board_pack_carry_the_proposal(client, plan, staff, manager):
    propose(plan, staff)
    workflow.accept_no_action_risk(plan=plan, user=manager, comment="Accepted.")
    client.force_login(manager)
    rows = list(csv.reader(io.StringIO(b"".join(client.get("/plans/export.csv").streaming_content).decode())))
    header, row = rows[0], rows[1]
    assert header[-4:] == ["No action: reason", "No action: risk", "Risk accepted by", "Risk accepted on"]
    assert row[-4:] == [REASON, RISK, manager.username, timezone.localdate().isoformat()]
    assert row[header.index("Status")] == "No action: risk accepted by the force"
    assert row[header.index("Stage")] == "With the force"
    page = client.get(f"/organisations/{plan.organisation.slug}/board-pack/").content.decode()
    assert "Proposal of no action</span>" in page and RISK in page
    assert f"Risk accepted by Morgan Manager on {timezone.localdate():%-d %b %Y}." in page


def test_the_plan_list_filters_by_the_proposals_statuses(client, plan, staff, manager):
    propose(plan, staff)
    client.force_login(manager)
    response = client.get("/plans/?status=no_action_proposed")
    assert response.status_code == 200
    assert [p.pk for p in response.context["object_list"]] == [plan.pk]
