"""The REST API (`/api/v1/`): every endpoint for every role, own and other organisation, and anonymous;
tokens; errors as JSON; stale versions; the same filters as `/plans/`; query counts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from tests.factories import (
    PDF_BYTES,
    ActionPlanFactory,
    EvidenceFactory,
    FindingFactory,
    GradingFactory,
    InspectionFactory,
    MilestoneFactory,
    OrganisationFactory,
    ThemeFactory,
    UpdateFactory,
    pdf_upload,
)
from tracker import actions
from tracker.api.schema import NUL_PARAMETER
from tracker.models import ActionPlan, ApiToken, Evidence, Milestone, NoActionProposal, SuccessMeasure, User

from .openapi_contract import check_response, errors_in, operation_for, served_schema

pytestmark = pytest.mark.django_db
S = ActionPlan.Status
API = "/api/v1"
NOTE = "Two of the four analyst posts are filled; the local profile refresh has started."


class Api:
    """A test client that sends `Authorization: Token <secret>` on every request, and checks every answer
    against the schema (its status documented for the operation, its body valid under strict OpenAPI 3.0)."""

    def __init__(self, user: User | None) -> None:
        self.client = Client()
        self.headers: dict[str, str] = {}
        if user is not None:
            _, secret = ApiToken.issue(user=user, name="test system")
            self.headers["Authorization"] = f"Token {secret}"

    def get(self, url: str, **params: Any) -> Any:
        response = self.client.get(url, params, headers=self.headers)
        check_response("get", url, response)
        return response

    def post(self, url: str, data: dict[str, Any], multipart: bool = False) -> Any:
        if multipart:
            response = self.client.post(url, data, headers=self.headers)
        else:
            response = self.client.post(url, data, content_type="application/json", headers=self.headers)
        check_response("post", url, response)
        return response


def ids(response: Any) -> list[int]:
    return [row["id"] for row in response.json()["results"]]


def snapshot(plan: ActionPlan) -> tuple:
    plan.refresh_from_db()
    return (
        plan.status,
        plan.version,
        plan.percent_complete,
        plan.target_date,
        plan.owner_id,
        plan.updates.count(),
        Evidence.objects.filter(update__plan=plan).count(),
    )


ROLES = ("staff", "manager", "inspector", "admin", "other_staff", "other_manager", "anonymous")


@pytest.fixture
def user_for(request: pytest.FixtureRequest) -> Callable[[str], User | None]:
    def get(role: str) -> User | None:
        return None if role == "anonymous" else request.getfixturevalue("admin_user" if role == "admin" else role)

    return get


# --- anonymous and tokens --------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/", "/organisations/", "/inspections/", "/findings/", "/plans/", "/plans/1/", "/evidence/1/download/"]
)
def test_anonymous_requests_get_401_json_not_a_login_redirect(client, db, path):
    response = client.get(API + path)
    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Authentication credentials were not provided."}
    assert response["WWW-Authenticate"] == "Token"


def test_anonymous_changes_get_401_and_change_nothing(client, plan):
    before = snapshot(plan)
    response = client.post(f"{API}/plans/{plan.pk}/block/", {"version": plan.version, "note": NOTE})
    assert response.status_code == 401
    assert snapshot(plan) == before


def test_a_token_authenticates_and_records_when_it_was_used(staff, plan):
    api = Api(staff)
    token = ApiToken.objects.get(user=staff)
    assert token.last_used_at is None
    response = api.get(f"{API}/plans/{plan.pk}/")
    assert response.status_code == 200
    token.refresh_from_db()
    assert token.last_used_at is not None
    assert ApiToken.objects.get(pk=token.pk).digest != api.headers["Authorization"].split()[1]  # only a hash kept


def test_a_revoked_token_is_refused(staff, plan):
    api = Api(staff)
    assert api.get(f"{API}/plans/").status_code == 200
    ApiToken.objects.filter(user=staff).update(revoked_at=timezone.now())
    response = api.get(f"{API}/plans/")
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid or revoked token."}


def test_the_token_of_a_deactivated_user_is_refused(staff, plan):
    api = Api(staff)
    User.objects.filter(pk=staff.pk).update(is_active=False)
    assert api.get(f"{API}/plans/").status_code == 401


def test_an_unknown_token_is_refused(client, plan):
    response = client.get(f"{API}/plans/", headers={"Authorization": "Token rt_not-a-real-token"})
    assert response.status_code == 401


def test_a_token_for_a_staff_user_cannot_sign_off(org, staff):
    plan = ActionPlanFactory(organisation=org, status=S.SUBMITTED)
    before = snapshot(plan)
    response = Api(staff).post(f"{API}/plans/{plan.pk}/sign-off/", {"version": plan.version, "comment": "Done."})
    assert response.status_code == 403
    assert response.json() == {"detail": "You do not have permission to perform this action."}
    assert snapshot(plan) == before


def test_session_authentication_works_for_reading_and_changing(client, staff, plan):
    client.force_login(staff)
    assert client.get(f"{API}/plans/{plan.pk}/").status_code == 200
    response = client.post(
        f"{API}/plans/{plan.pk}/updates/", {"version": plan.version, "note": NOTE}, content_type="application/json"
    )
    assert response.status_code == 201


def test_session_changes_need_the_csrf_token(staff, plan):
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff)
    before = snapshot(plan)
    response = client.post(
        f"{API}/plans/{plan.pk}/updates/", {"version": plan.version, "note": NOTE}, content_type="application/json"
    )
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    assert snapshot(plan) == before


def test_unverified_two_factor_session_gets_403_json_but_a_token_works(client, settings, manager, plan):
    settings.TWO_FACTOR_REQUIRED_ROLES = ["manager"]
    client.force_login(manager)
    response = client.get(f"{API}/plans/")
    assert response.status_code == 403
    assert "Two-factor" in response.json()["detail"]
    # The same person's page view is still sent to verify.
    assert client.get("/plans/").status_code == 302
    assert Api(manager).get(f"{API}/plans/").status_code == 200


def test_unknown_api_paths_are_404_json(client, staff):
    client.force_login(staff)
    for path in ("/api/v1/nothing/", "/api/v1/plans/-1/", "/api/v1/plans/abc/", "/api/v2/plans/"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.json() == {"detail": "Not found."}


def test_api_root_lists_the_endpoints(staff):
    response = Api(staff).get(f"{API}/")
    assert response.status_code == 200
    assert set(response.json()) == {"organisations", "inspections", "findings", "plans"}


# --- reading: organisations, inspections, findings --------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_reference_data_is_readable_by_every_signed_in_role(user_for, org, other_org, role):
    inspection = InspectionFactory(slug="south-east-soc-2024")
    GradingFactory(inspection=inspection, organisation=org, grade="requires_improvement")
    finding = FindingFactory(inspection=inspection, reference="R1")
    finding.addressed_to.set([org, other_org])
    api = Api(user_for(role))
    urls = [
        f"{API}/organisations/",
        f"{API}/organisations/{org.slug}/",
        f"{API}/inspections/",
        f"{API}/inspections/{inspection.slug}/",
        f"{API}/findings/",
        f"{API}/findings/{finding.pk}/",
    ]
    for url in urls:
        assert api.get(url).status_code == (401 if role == "anonymous" else 200), url


def test_inspection_comes_with_its_gradings(staff, org):
    inspection = InspectionFactory(slug="south-east-soc-2024", title="SOC in the South East")
    GradingFactory(inspection=inspection, organisation=org, area="Overall", grade="requires_improvement")
    data = Api(staff).get(f"{API}/inspections/south-east-soc-2024/").json()
    assert data["title"] == "SOC in the South East"
    assert data["gradings"] == [
        {
            "organisation": {"slug": "surrey", "name": "Surrey Police"},
            "area": "Overall",
            "grade": "requires_improvement",
        }
    ]


def test_finding_shows_only_the_responses_you_may_see(org, other_org, staff, inspector):
    finding = FindingFactory(reference="R2")
    finding.addressed_to.set([org, other_org])
    mine = ActionPlanFactory(finding=finding, organisation=org)
    theirs = ActionPlanFactory(finding=finding, organisation=other_org)
    data = Api(staff).get(f"{API}/findings/{finding.pk}/").json()
    assert data["reference"] == "R2"
    assert sorted(data["addressed_to"]) == ["hampshire", "surrey"]
    assert [p["id"] for p in data["plans"]] == [mine.pk]
    data = Api(inspector).get(f"{API}/findings/{finding.pk}/").json()
    assert {p["id"] for p in data["plans"]} == {mine.pk, theirs.pk}


def test_findings_filter_by_inspection_kind_and_addressee(staff, org, other_org):
    a = InspectionFactory(slug="a")
    # References of their own: the list is in reference order, and the factory's R9 sorts after its R10.
    one = FindingFactory(inspection=a, kind="recommendation", reference="R1")
    two = FindingFactory(inspection=a, kind="area_for_improvement", reference="R2")
    three = FindingFactory(kind="recommendation")
    one.addressed_to.set([org])
    two.addressed_to.set([other_org])
    api = Api(staff)
    assert ids(api.get(f"{API}/findings/", inspection="a")) == [one.pk, two.pk]
    assert ids(api.get(f"{API}/findings/", kind="recommendation")) == sorted([one.pk, three.pk])
    assert ids(api.get(f"{API}/findings/", addressed_to="surrey")) == [one.pk]
    assert api.get(f"{API}/findings/", kind="nonsense").status_code == 400


# --- reading: plans and what hangs off them ---------------------------------------------------


def _plan_urls(plan: ActionPlan, evidence: Evidence) -> list[str]:
    return [
        f"{API}/plans/{plan.pk}/",
        f"{API}/plans/{plan.pk}/updates/",
        f"{API}/plans/{plan.pk}/evidence/",
        f"{API}/evidence/{evidence.pk}/",
        f"{API}/evidence/{evidence.pk}/download/",
    ]


@pytest.mark.parametrize(
    "role,expected",
    [
        ("staff", 200),
        ("manager", 200),
        ("inspector", 200),
        ("admin", 200),
        ("other_staff", 404),
        ("other_manager", 404),
        ("anonymous", 401),
    ],
)
def test_a_plan_its_timeline_and_evidence_are_visible_only_to_who_may_see_them(user_for, plan, staff, role, expected):
    evidence = EvidenceFactory(update__plan=plan, update__author=staff)
    api = Api(user_for(role))
    for url in _plan_urls(plan, evidence):
        response = api.get(url)
        assert response.status_code == expected, url
        if expected == 404:
            assert response.json()["detail"].startswith("No ")  # DRF's JSON 404, not a page


@pytest.mark.parametrize(
    "role,sees",
    [
        ("staff", {"mine"}),
        ("manager", {"mine"}),
        ("other_staff", {"theirs"}),
        ("other_manager", {"theirs"}),
        ("inspector", {"mine", "theirs"}),
        ("admin", {"mine", "theirs"}),
    ],
)
def test_plan_list_holds_only_the_plans_each_role_may_see(user_for, org, other_org, role, sees):
    plans = {"mine": ActionPlanFactory(organisation=org), "theirs": ActionPlanFactory(organisation=other_org)}
    response = Api(user_for(role)).get(f"{API}/plans/")
    assert response.status_code == 200
    assert set(ids(response)) == {plans[name].pk for name in sees}


def test_plan_detail_has_the_rag_the_version_and_the_actions_this_user_may_take(org, staff, manager, inspector):
    plan = ActionPlanFactory(
        organisation=org, status=S.IN_PROGRESS, target_date=timezone.localdate() - dt.timedelta(days=3)
    )
    data = Api(staff).get(f"{API}/plans/{plan.pk}/").json()
    assert data["rag"] == "red" and data["is_overdue"] is True
    assert data["status"] == "in_progress" and data["status_display"] == "In progress"
    assert data["version"] == plan.version
    assert data["organisation"] == {"slug": "surrey", "name": "Surrey Police"}
    assert data["web_url"] == f"http://testserver/plans/{plan.pk}/"
    assert data["actions"] == ["progress", "evidence", "block", "submit", "milestone-add", "propose-no-action",
                               "comments"]  # fmt: skip
    assert Api(manager).get(f"{API}/plans/{plan.pk}/").json()["actions"] == [
        "progress", "evidence", "block", "submit", "milestone-add", "propose-no-action", "measure-add", "target-date",
        "owner", "comments",
    ]  # fmt: skip
    assert Api(inspector).get(f"{API}/plans/{plan.pk}/").json()["actions"] == [
        "supersede", "no-further-action", "comments",
    ]  # fmt: skip


def test_a_not_started_plan_offers_start(org, staff):
    plan = ActionPlanFactory(organisation=org, status=S.NOT_STARTED)
    assert Api(staff).get(f"{API}/plans/{plan.pk}/").json()["actions"][:3] == ["start", "progress", "evidence"]


def test_timeline_lists_updates_newest_first_with_their_evidence(plan, staff):
    old = UpdateFactory(plan=plan, author=staff, note="first", created_at=timezone.now() - dt.timedelta(days=2))
    new = UpdateFactory(plan=plan, author=staff, note="second")
    evidence = EvidenceFactory(update=old, original_name="profile.pdf")
    data = Api(staff).get(f"{API}/plans/{plan.pk}/updates/").json()
    assert data["count"] == 2
    assert [u["id"] for u in data["results"]] == [new.pk, old.pk]
    [attached] = data["results"][1]["evidence"]
    assert attached["original_name"] == "profile.pdf"
    assert attached["download_url"] == f"http://testserver/api/v1/evidence/{evidence.pk}/download/"


def test_evidence_download_is_an_attachment_that_is_never_sniffed(plan, staff):
    evidence = EvidenceFactory(update__plan=plan, update__author=staff, original_name="board paper.pdf")
    response = Api(staff).get(f"{API}/evidence/{evidence.pk}/download/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"].startswith("attachment;")
    assert "board paper.pdf" in response["Content-Disposition"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert b"".join(response.streaming_content) == PDF_BYTES


def test_evidence_download_still_works_when_the_client_asks_for_its_type(plan, staff):
    evidence = EvidenceFactory(update__plan=plan, update__author=staff)
    api = Api(staff)
    response = api.client.get(
        f"{API}/evidence/{evidence.pk}/download/", headers={**api.headers, "Accept": "application/octet-stream"}
    )
    assert response.status_code == 200


# --- the plan list: the same filters as /plans/ ------------------------------------------------


@pytest.fixture
def varied_plans(org, staff, manager):
    today = timezone.localdate()
    theme = ThemeFactory(slug="intelligence", name="Intelligence")
    inspection = InspectionFactory(slug="south-east-soc-2024")
    coc = FindingFactory(inspection=inspection, kind="cause_of_concern", text="Local profiles are out of date.")
    coc.themes.set([theme])
    plans = [
        ActionPlanFactory(organisation=org, status=S.IN_PROGRESS, target_date=today - dt.timedelta(days=5)),
        ActionPlanFactory(organisation=org, status=S.BLOCKED, target_date=today + dt.timedelta(days=10), owner=staff),
        ActionPlanFactory(organisation=org, finding=coc, status=S.NOT_STARTED, target_date=today + dt.timedelta(90)),
        ActionPlanFactory(organisation=org, status=S.CLOSED, target_date=today - dt.timedelta(days=50)),
        ActionPlanFactory(organisation=org, status=S.SUBMITTED, target_date=None, owner=manager),
    ]
    for count, plan in enumerate(plans):  # distinct, so every sort below has one right order
        ActionPlan.objects.filter(pk=plan.pk).update(deferral_count=count)
    ActionPlanFactory(status=S.IN_PROGRESS, target_date=today - dt.timedelta(days=5))  # another organisation
    return plans


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"overdue": "1"},
        {"status": ["in_progress", "blocked"]},
        {"rag": "amber"},
        {"owner": "me"},
        {"owner": "unassigned"},
        {"owner": "surrey.manager"},
        {"kind": "cause_of_concern"},
        {"theme": "intelligence"},
        {"inspection": "south-east-soc-2024"},
        {"organisation": "surrey"},
        {"deferred": "1"},
        {"q": "local profiles"},
        {"sort": "-target_date"},
        {"sort": "status"},
        {"sort": "-deferrals"},
    ],
)
def test_plan_list_filters_exactly_as_the_plans_page_does(client, staff, varied_plans, query):
    client.force_login(staff)
    page = client.get("/plans/", query)
    expected = [plan.pk for plan in page.context["page_obj"].object_list]
    response = Api(staff).get(f"{API}/plans/", **query)
    assert response.status_code == 200
    if "sort" in query:
        assert ids(response) == expected
    else:
        assert sorted(ids(response)) == sorted(expected)
    assert response.json()["count"] == len(expected)


def test_overdue_plans_of_my_organisation(staff, varied_plans):
    response = Api(staff).get(f"{API}/plans/", overdue="1")
    assert ids(response) == [varied_plans[0].pk]
    assert response.json()["results"][0]["rag"] == "red"


def test_bad_filter_values_are_400_with_field_messages(staff, other_org, varied_plans):
    response = Api(staff).get(f"{API}/plans/", status="finished", organisation="hampshire")
    assert response.status_code == 400
    data = response.json()
    assert set(data) == {"status", "organisation"}
    assert "not one of the available choices" in data["status"][0]


def test_pages_are_stable_when_the_sort_has_ties(staff, org):
    plans = ActionPlanFactory.create_batch(7, organisation=org, status=S.IN_PROGRESS)
    api = Api(staff)
    seen = []
    for page in (1, 2, 3):
        response = api.get(f"{API}/plans/", sort="status", page_size="3", page=str(page))
        seen += ids(response)
    assert seen == sorted(p.pk for p in plans)
    assert api.get(f"{API}/plans/", page="9").status_code == 404


# --- changing: every workflow endpoint, every role ---------------------------------------------


@dataclass
class Change:
    endpoint: str
    source: str
    allowed: frozenset[str]
    expect_status: str | None  # the plan's status after an allowed call (None: unchanged)
    payload: Callable[[ActionPlan, dict[str, User]], dict[str, Any]]
    multipart: bool = False
    created: bool = False
    extra: Callable[[ActionPlan], None] = field(default=lambda plan: None)


WORKERS = frozenset({"staff", "manager", "admin"})
MANAGERS = frozenset({"manager", "admin"})
VERIFIERS = frozenset({"inspector", "admin"})
EVERYONE = frozenset({"staff", "manager", "inspector", "admin"})


def _note(plan: ActionPlan, people: dict[str, User]) -> dict[str, Any]:
    return {"version": plan.version, "note": NOTE}


def _comment(plan: ActionPlan, people: dict[str, User]) -> dict[str, Any]:
    return {"version": plan.version, "comment": "Checked against the refreshed local profile."}


def _with_file(plan: ActionPlan, people: dict[str, User]) -> dict[str, Any]:
    return {"version": plan.version, "note": NOTE, "files": [pdf_upload("analysts.pdf")]}


def _submit(plan: ActionPlan, people: dict[str, User]) -> dict[str, Any]:
    return {"version": plan.version, "statement": "All posts filled.", "files": [pdf_upload("closure.pdf")]}


def _supersede(plan: ActionPlan, people: dict[str, User]) -> dict[str, Any]:
    newer = FindingFactory(supersedes=plan.finding)
    return {"version": plan.version, "superseding_finding": newer.pk, "comment": "Replaced by the 2025 report."}


def _target_date(plan: ActionPlan, people: dict[str, User]) -> dict[str, Any]:
    new_date = plan.target_date + dt.timedelta(days=30)
    return {"version": plan.version, "target_date": new_date.isoformat(), "reason": "Recruitment round moved."}


def _owner(plan: ActionPlan, people: dict[str, User]) -> dict[str, Any]:
    return {"version": plan.version, "owner": people["staff"].username}


def _milestone(done: bool = False, **fields: Any) -> Callable[[ActionPlan, dict[str, User]], dict[str, Any]]:
    """A body naming a milestone of the plan (two are made, the first done if `done`), plus `fields`."""

    def payload(plan: ActionPlan, people: dict[str, User]) -> dict[str, Any]:
        first = MilestoneFactory(plan=plan, position=1, done_on=timezone.localdate() if done else None)
        MilestoneFactory(plan=plan, position=2)
        return {"version": plan.version, "milestone": first.pk, **fields}

    return payload


def _measure(**fields: Any) -> Callable[[ActionPlan, dict[str, User]], dict[str, Any]]:
    """A body naming a success measure of the plan, plus `fields`."""

    def payload(plan: ActionPlan, people: dict[str, User]) -> dict[str, Any]:
        measure = SuccessMeasure.objects.create(plan=plan, text="Reports processed in 7 days", position=1)
        return {"version": plan.version, "measure": measure.pk, **fields}

    return payload


def _proposed(body: Callable[[ActionPlan, dict[str, User]], dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    """`body`, on a plan with a proposal of no action awaiting a decision (its status is the change's source)."""

    def payload(plan: ActionPlan, people: dict[str, User]) -> dict[str, Any]:
        NoActionProposal.objects.create(plan=plan, reason="Already met.", risk="It may lapse.",
                                        proposed_by=people["staff"])  # fmt: skip
        return body(plan, people)

    return payload


CHANGES = [
    Change("updates", S.IN_PROGRESS, WORKERS, S.IN_PROGRESS, lambda p, u: {**_note(p, u), "percent_complete": 40},
           created=True),
    Change("evidence", S.IN_PROGRESS, WORKERS, S.IN_PROGRESS, _with_file, multipart=True, created=True),
    Change("comments", S.IN_PROGRESS, EVERYONE, S.IN_PROGRESS, lambda p, u: {"note": NOTE}, created=True),
    Change("start", S.NOT_STARTED, WORKERS, S.IN_PROGRESS, _note),
    Change("block", S.IN_PROGRESS, WORKERS, S.BLOCKED, _note),
    Change("waiting-on", S.BLOCKED, WORKERS, S.BLOCKED,
           lambda p, u: {**_note(p, u), "waiting_on": "national_body", "waiting_on_name": "Home Office"}),
    Change("unblock", S.BLOCKED, WORKERS, S.IN_PROGRESS, _note),
    Change("submit", S.IN_PROGRESS, WORKERS, S.SUBMITTED, _submit, multipart=True),
    Change("sign-off", S.SUBMITTED, MANAGERS, S.SIGNED_OFF, _comment),
    Change("return", S.SUBMITTED, MANAGERS, S.IN_PROGRESS, _comment),
    Change("close", S.SIGNED_OFF, VERIFIERS, S.CLOSED, _comment),
    Change("reopen", S.SIGNED_OFF, VERIFIERS, S.IN_PROGRESS, _comment),
    Change("supersede", S.IN_PROGRESS, VERIFIERS, S.SUPERSEDED, _supersede),
    Change("no-further-action", S.IN_PROGRESS, VERIFIERS, S.NO_FURTHER_ACTION, _comment),
    Change("target-date", S.IN_PROGRESS, MANAGERS, S.IN_PROGRESS, _target_date),
    Change("owner", S.IN_PROGRESS, MANAGERS, S.IN_PROGRESS, _owner),
    Change("milestones", S.IN_PROGRESS, WORKERS, S.IN_PROGRESS,
           lambda p, u: {"version": p.version, "title": "Vet two analysts", "owner": u["staff"].username},
           created=True),
    Change("milestone-edit", S.IN_PROGRESS, WORKERS, S.IN_PROGRESS, _milestone(title="Vet analysts")),
    Change("milestone-complete", S.BLOCKED, WORKERS, S.BLOCKED, _milestone()),
    Change("milestone-reopen", S.NOT_STARTED, WORKERS, S.NOT_STARTED, _milestone(done=True, reason="Not vetted")),
    Change("milestone-move", S.IN_PROGRESS, WORKERS, S.IN_PROGRESS, _milestone(direction="down")),
    Change("measures", S.IN_PROGRESS, MANAGERS, S.IN_PROGRESS,
           lambda p, u: {"version": p.version, "text": "Reports processed in 7 days", "target_figure": "95%"},
           created=True),
    Change("measure-edit", S.BLOCKED, MANAGERS, S.BLOCKED, _measure(text="Reports processed in 5 days")),
    Change("measure-remove", S.NOT_STARTED, MANAGERS, S.NOT_STARTED, _measure(reason="Replaced")),
    Change("propose-no-action", S.BLOCKED, WORKERS, S.NO_ACTION_PROPOSED,
           lambda p, u: {"version": p.version, "reason": "Already met.", "risk": "It may lapse."}),
    Change("accept-risk", S.NO_ACTION_PROPOSED, MANAGERS, S.NO_ACTION_ACCEPTED, _proposed(_comment)),
    Change("decline-no-action", S.NO_ACTION_PROPOSED, MANAGERS, S.IN_PROGRESS, _proposed(_comment)),
    Change("agree-no-action", S.NO_ACTION_ACCEPTED, VERIFIERS, S.NO_FURTHER_ACTION, _proposed(_comment)),
    Change("send-back-no-action", S.NO_ACTION_ACCEPTED, VERIFIERS, S.IN_PROGRESS, _proposed(_comment)),
]  # fmt: skip


@pytest.mark.parametrize("change", CHANGES, ids=[c.endpoint for c in CHANGES])
@pytest.mark.parametrize("role", ROLES)
def test_every_change_endpoint_for_every_role(request, user_for, org, staff, change, role):
    plan = ActionPlanFactory(organisation=org, status=change.source)
    people = {"staff": staff}
    before = snapshot(plan)
    response = Api(user_for(role)).post(
        f"{API}/plans/{plan.pk}/{change.endpoint}/", change.payload(plan, people), multipart=change.multipart
    )
    if role == "anonymous":
        expected = 401
    elif role.startswith("other_"):
        expected = 404  # another organisation's plan does not exist for them
    elif role in change.allowed:
        expected = 201 if change.created else 200
    else:
        expected = 403
    assert response.status_code == expected, response.content
    if expected >= 400:
        assert snapshot(plan) == before
        return
    data = response.json()
    plan.refresh_from_db()
    assert plan.status == change.expect_status
    assert data["plan"]["status"] == change.expect_status
    assert data["plan"]["version"] == plan.version
    assert data["update"]["id"] == plan.updates.first().pk
    assert plan.updates.count() == before[5] + 1


def test_progress_updates_percent_and_starts_a_not_started_plan(org, staff):
    plan = ActionPlanFactory(organisation=org, status=S.NOT_STARTED, percent_complete=0)
    response = Api(staff).post(
        f"{API}/plans/{plan.pk}/updates/", {"version": plan.version, "note": NOTE, "percent_complete": 35}
    )
    assert response.status_code == 201
    data = response.json()
    assert data["plan"]["status"] == "in_progress" and data["plan"]["percent_complete"] == 35
    assert data["update"]["kind"] == "progress" and data["update"]["note"] == NOTE
    assert data["update"]["author"] == {"username": "surrey.staff", "name": staff.get_full_name()}


def test_progress_with_evidence_files_in_multipart(plan, staff):
    response = Api(staff).post(
        f"{API}/plans/{plan.pk}/updates/",
        {"version": plan.version, "note": NOTE, "files": [pdf_upload("a.pdf"), pdf_upload("b.pdf")]},
        multipart=True,
    )
    assert response.status_code == 201
    names = [e["original_name"] for e in response.json()["update"]["evidence"]]
    assert names == ["a.pdf", "b.pdf"]
    assert Evidence.objects.filter(update__plan=plan).count() == 2


def test_the_whole_journey_through_the_api(org, staff, manager, inspector):
    plan = ActionPlanFactory(organisation=org, status=S.NOT_STARTED)
    url = f"{API}/plans/{plan.pk}"
    as_staff, as_manager, as_inspector = Api(staff), Api(manager), Api(inspector)

    def version() -> int:
        return as_staff.get(f"{url}/").json()["version"]

    assert as_staff.post(f"{url}/start/", {"version": version(), "note": NOTE}).status_code == 200
    assert as_staff.post(f"{url}/block/", {"version": version(), "note": "Waiting on vetting."}).status_code == 200
    assert as_staff.post(f"{url}/unblock/", {"version": version(), "note": "Vetting done."}).status_code == 200
    response = as_staff.post(
        f"{url}/submit/", {"version": version(), "statement": "Done.", "files": [pdf_upload()]}, multipart=True
    )
    assert response.status_code == 200
    assert as_manager.post(f"{url}/return/", {"version": version(), "comment": "More evidence."}).status_code == 200
    assert as_staff.post(f"{url}/submit/", {"version": version(), "statement": "Done again."}).status_code == 200
    assert as_manager.post(f"{url}/sign-off/", {"version": version(), "comment": "Agreed."}).status_code == 200
    assert as_inspector.post(f"{url}/reopen/", {"version": version(), "comment": "Not yet."}).status_code == 200
    as_staff.post(f"{url}/submit/", {"version": version(), "statement": "Now done."})
    as_manager.post(f"{url}/sign-off/", {"version": version(), "comment": "Agreed."})
    response = as_inspector.post(f"{url}/close/", {"version": version(), "comment": "Verified."})
    assert response.status_code == 200
    assert response.json()["plan"]["status"] == "closed" and response.json()["plan"]["rag"] == "grey"
    kinds = [u["status_to"] for u in as_staff.get(f"{url}/updates/").json()["results"]]
    assert kinds[0] == "closed" and len(kinds) == 11


# --- edits of a milestone or success measure: what the request leaves out stays as it was ------------


def _edit(user: User, plan: ActionPlan, endpoint: str, **fields: Any) -> Any:
    plan.refresh_from_db()
    return Api(user).post(f"{API}/plans/{plan.pk}/{endpoint}/", {"version": plan.version, **fields})


def _day(days: int) -> dt.date:
    return timezone.localdate() + dt.timedelta(days=days)


def _shown(day: dt.date) -> str:
    return f"{day:%-d %b %Y}"


@pytest.fixture
def milestone(org, staff):
    plan = ActionPlanFactory(organisation=org, status=S.IN_PROGRESS)
    return MilestoneFactory(plan=plan, title="Recruit", owner=staff, target_date=_day(40), note="Two posts")


@pytest.fixture
def measure(org):
    plan = ActionPlanFactory(organisation=org, status=S.IN_PROGRESS)
    return SuccessMeasure.objects.create(
        plan=plan, text="Reports processed in 7 days", target_figure="95%", sustain_until=_day(60), position=1
    )


def _milestone_fields(milestone: Milestone) -> tuple:
    milestone.refresh_from_db()
    return (milestone.title, milestone.owner, milestone.target_date, milestone.note)


def _measure_fields(measure: SuccessMeasure) -> tuple:
    measure.refresh_from_db()
    return (measure.text, measure.target_figure, measure.sustain_until)


def test_a_milestone_edit_naming_only_the_title_keeps_its_owner_date_and_note(milestone, staff):
    response = _edit(staff, milestone.plan, "milestone-edit", milestone=milestone.pk, title="Recruit analysts")
    assert response.status_code == 200, response.content
    assert _milestone_fields(milestone) == ("Recruit analysts", staff, _day(40), "Two posts")
    # The timeline says what changed, and only that.
    assert (
        response.json()["update"]["note"]
        == "Milestone “Recruit analysts” changed: title “Recruit” → “Recruit analysts”."
    )
    assert ActionPlan.objects.get(pk=milestone.plan_id).next_milestone_date == _day(40)


def test_a_milestone_edit_naming_only_the_date_keeps_its_title_owner_and_note(milestone, staff):
    response = _edit(staff, milestone.plan, "milestone-edit", milestone=milestone.pk, target_date=_day(50).isoformat())
    assert response.status_code == 200, response.content
    assert _milestone_fields(milestone) == ("Recruit", staff, _day(50), "Two posts")
    assert response.json()["update"]["note"] == (
        f"Milestone “Recruit” changed: date {_shown(_day(40))} → {_shown(_day(50))}."
    )


def test_a_milestone_edit_clears_the_owner_date_and_note_sent_as_null_or_blank(milestone, staff):
    response = _edit(
        staff, milestone.plan, "milestone-edit", milestone=milestone.pk, owner=None, target_date=None, note=""
    )
    assert response.status_code == 200, response.content
    assert _milestone_fields(milestone) == ("Recruit", None, None, "")
    assert response.json()["update"]["note"] == (
        f"Milestone “Recruit” changed: owner {staff} → nobody; date {_shown(_day(40))} → none; note changed."
    )


def test_a_milestone_edit_that_names_nothing_new_is_refused_and_changes_nothing(milestone, staff):
    before = snapshot(milestone.plan)
    for fields in ({}, {"title": "Recruit", "owner": staff.username, "note": "Two posts"}):
        response = _edit(staff, milestone.plan, "milestone-edit", milestone=milestone.pk, **fields)
        assert response.status_code == 400, response.content
        assert response.json() == {"non_field_errors": ["Nothing about the milestone has changed."]}
    blank = _edit(staff, milestone.plan, "milestone-edit", milestone=milestone.pk, title="")
    assert blank.status_code == 400 and set(blank.json()) == {"title"}
    assert snapshot(milestone.plan) == before
    assert _milestone_fields(milestone) == ("Recruit", staff, _day(40), "Two posts")


def test_a_measure_edit_naming_only_the_text_keeps_its_target_and_demonstration_period(measure, manager):
    response = _edit(manager, measure.plan, "measure-edit", measure=measure.pk, text="Reports processed in 5 days")
    assert response.status_code == 200, response.content
    assert _measure_fields(measure) == ("Reports processed in 5 days", "95%", _day(60))
    assert response.json()["plan"]["measures"][0]["is_sustaining"] is True
    assert response.json()["update"]["note"] == (
        "Success measure “Reports processed in 5 days” changed: "
        "wording “Reports processed in 7 days” → “Reports processed in 5 days”."
    )


def test_a_measure_edit_clears_the_target_and_period_sent_as_blank_or_null(measure, manager):
    response = _edit(manager, measure.plan, "measure-edit", measure=measure.pk, target_figure="", sustain_until=None)
    assert response.status_code == 200, response.content
    assert _measure_fields(measure) == ("Reports processed in 7 days", "", None)
    assert response.json()["plan"]["measures"][0]["is_sustaining"] is False
    assert response.json()["update"]["note"] == (
        f"Success measure “Reports processed in 7 days” changed: target 95% → none; "
        f"sustained until {_shown(_day(60))} → none."
    )


def test_a_measure_edit_that_names_nothing_new_is_refused_and_changes_nothing(measure, manager):
    before = snapshot(measure.plan)
    for fields in ({}, {"text": "Reports processed in 7 days", "sustain_until": _day(60).isoformat()}):
        response = _edit(manager, measure.plan, "measure-edit", measure=measure.pk, **fields)
        assert response.status_code == 400, response.content
        assert response.json() == {"non_field_errors": ["Nothing about the success measure has changed."]}
    blank = _edit(manager, measure.plan, "measure-edit", measure=measure.pk, text="")
    assert blank.status_code == 400 and set(blank.json()) == {"text"}
    assert snapshot(measure.plan) == before
    assert _measure_fields(measure) == ("Reports processed in 7 days", "95%", _day(60))


def test_a_measure_still_sustained_still_blocks_closing_after_a_wording_only_edit(measure, manager, inspector):
    plan = measure.plan
    assert _edit(manager, plan, "measure-edit", measure=measure.pk, text="Reports in 5 days").status_code == 200
    ActionPlan.objects.filter(pk=plan.pk).update(status=S.SIGNED_OFF)
    before = snapshot(plan)
    closing = _edit(inspector, plan, "close", comment="Verified")
    assert closing.status_code == 400, closing.content
    assert closing.json() == {
        "non_field_errors": [
            f"This plan cannot be verified as closed before {_shown(_day(60))}: its success measures must be "
            f"sustained (“Reports in 5 days” until {_shown(_day(60))})."
        ]
    }
    assert snapshot(plan) == before


def test_the_page_forms_still_set_every_field_of_an_edit(client, milestone, measure, staff, manager):
    # The page always sends every field: an empty one clears, as before.
    client.force_login(staff)
    plan = milestone.plan
    response = client.post(
        reverse("tracker:plan-action", args=[plan.pk, "milestone-edit"]),
        {"milestone-edit-version": plan.version, "milestone-edit-milestone": milestone.pk,
         "milestone-edit-title": "Recruit", "milestone-edit-owner": "", "milestone-edit-target_date": "",
         "milestone-edit-note": "Two posts"},
    )  # fmt: skip
    assert response.status_code == 302
    assert _milestone_fields(milestone) == ("Recruit", None, None, "Two posts")
    client.force_login(manager)
    plan = measure.plan
    response = client.post(
        reverse("tracker:plan-action", args=[plan.pk, "measure-edit"]),
        {"measure-edit-version": plan.version, "measure-edit-measure": measure.pk,
         "measure-edit-text": "Reports processed in 5 days", "measure-edit-target_figure": "",
         "measure-edit-sustain_until": _day(60).isoformat()},
    )  # fmt: skip
    assert response.status_code == 302
    assert _measure_fields(measure) == ("Reports processed in 5 days", "", _day(60))
    assert plan.updates.first().note == (
        "Success measure “Reports processed in 5 days” changed: wording “Reports processed in 7 days” → "
        "“Reports processed in 5 days”; target 95% → none."
    )


@pytest.mark.parametrize(
    ("endpoint", "component", "named_by", "kept", "cleared"),
    [
        ("milestone-edit", "MilestoneEditInputRequest", "milestone",
         ("title", "owner", "target_date", "note"), ("owner", "target_date", "note")),
        ("measure-edit", "MeasureEditInputRequest", "measure",
         ("text", "target_figure", "sustain_until"), ("target_figure", "sustain_until")),
    ],
)  # fmt: skip
def test_the_schema_says_an_edit_keeps_what_it_leaves_out_and_clears_what_it_sends_empty(
    endpoint, component, named_by, kept, cleared
):
    schema = served_schema()["components"]["schemas"][component]
    assert sorted(schema["required"]) == sorted(["version", named_by])
    for name in kept:
        assert "default" not in schema["properties"][name], name
        assert "Kept as it was when absent" in schema["properties"][name]["description"], name
    for name in cleared:
        assert "clears it" in schema["properties"][name]["description"], name
    assert "keeps its current value" in _documented("post", f"{API}/plans/1/{endpoint}/")["description"]


# --- errors: stale versions, workflow rules, field messages ------------------------------------


def test_stale_version_is_409_and_leaves_the_plan_as_the_other_change_left_it(org, staff, manager):
    plan = ActionPlanFactory(organisation=org, status=S.IN_PROGRESS, percent_complete=20)
    read_version = plan.version
    first = {"version": read_version, "note": "Manager update.", "percent_complete": 50}
    assert Api(manager).post(f"{API}/plans/{plan.pk}/updates/", first).status_code == 201
    after_manager = snapshot(plan)
    response = Api(staff).post(f"{API}/plans/{plan.pk}/block/", {"version": read_version, "note": NOTE})
    assert response.status_code == 409
    data = response.json()
    assert data["code"] == "stale"
    assert data["current_version"] == read_version + 1
    assert "version" in data["detail"]
    assert snapshot(plan) == after_manager
    assert plan.status == S.IN_PROGRESS and plan.percent_complete == 50


def test_a_transition_the_state_does_not_allow_is_400_with_the_reason(org, manager):
    plan = ActionPlanFactory(organisation=org, status=S.IN_PROGRESS)
    before = snapshot(plan)
    response = Api(manager).post(f"{API}/plans/{plan.pk}/sign-off/", {"version": plan.version, "comment": "Ok."})
    assert response.status_code == 400
    assert response.json() == {"non_field_errors": ["Signing off is not possible while the plan is in progress."]}
    assert snapshot(plan) == before


def test_missing_and_bad_fields_are_400_with_field_messages(plan, staff):
    before = snapshot(plan)
    response = Api(staff).post(f"{API}/plans/{plan.pk}/updates/", {"note": "   ", "percent_complete": 140})
    assert response.status_code == 400
    data = response.json()
    assert data["version"] == ["This field is required."]
    assert data["note"] == ["This field may not be blank."]
    assert data["percent_complete"] == ["Ensure this value is less than or equal to 100."]
    assert snapshot(plan) == before


def test_submission_without_any_evidence_is_refused(plan, staff):
    before = snapshot(plan)
    response = Api(staff).post(f"{API}/plans/{plan.pk}/submit/", {"version": plan.version, "statement": "Done."})
    assert response.status_code == 400
    assert "evidence file" in response.json()["non_field_errors"][0]
    assert snapshot(plan) == before


@pytest.mark.parametrize(
    "name,content,message",
    [
        ("tool.exe.pdf", PDF_BYTES, "double extension"),
        ("report.pdf", b"MZ\x90\x00 not a pdf", "does not contain what its .pdf extension says"),
        ("page.html", b"<html></html>", "not an accepted type"),
    ],
)
def test_bad_evidence_files_are_refused_by_the_same_checks_and_nothing_written(plan, staff, name, content, message):
    from django.core.files.uploadedfile import SimpleUploadedFile

    before = snapshot(plan)
    response = Api(staff).post(
        f"{API}/plans/{plan.pk}/evidence/",
        {"version": plan.version, "note": NOTE, "files": [SimpleUploadedFile(name, content)]},
        multipart=True,
    )
    assert response.status_code == 400
    assert message in response.json()["files"][0]
    assert snapshot(plan) == before


def test_evidence_upload_needs_a_file(plan, staff):
    response = Api(staff).post(f"{API}/plans/{plan.pk}/evidence/", {"version": plan.version, "note": NOTE}, True)
    assert response.status_code == 400
    assert set(response.json()) == {"files"}


def test_owner_must_be_someone_of_the_plans_organisation(plan, manager, other_staff):
    before = snapshot(plan)
    response = Api(manager).post(
        f"{API}/plans/{plan.pk}/owner/", {"version": plan.version, "owner": "hampshire.staff"}
    )
    assert response.status_code == 400
    assert "does not exist" in response.json()["owner"][0]
    assert snapshot(plan) == before


def test_owner_can_be_removed_with_null(org, manager, staff):
    plan = ActionPlanFactory(organisation=org, owner=staff)
    response = Api(manager).post(f"{API}/plans/{plan.pk}/owner/", {"version": plan.version, "owner": None})
    assert response.status_code == 200
    assert response.json()["plan"]["owner"] is None


def test_supersede_needs_a_finding_that_supersedes_this_one(plan, inspector):
    unrelated = FindingFactory()
    response = Api(inspector).post(
        f"{API}/plans/{plan.pk}/supersede/", {"version": plan.version, "superseding_finding": unrelated.pk}
    )
    assert response.status_code == 400
    assert set(response.json()) == {"superseding_finding"}


def test_target_date_change_keeps_the_original(org, manager):
    original = timezone.localdate() + dt.timedelta(days=10)
    plan = ActionPlanFactory(organisation=org, target_date=original, original_target_date=original)
    new = original + dt.timedelta(days=60)
    response = Api(manager).post(
        f"{API}/plans/{plan.pk}/target-date/", {"version": plan.version, "target_date": new.isoformat(), "reason": "x"}
    )
    assert response.status_code == 200
    data = response.json()["plan"]
    assert data["target_date"] == new.isoformat() and data["original_target_date"] == original.isoformat()
    assert data["deferral_count"] == 1


def test_malformed_json_is_400(plan, staff):
    api = Api(staff)
    response = api.client.post(
        f"{API}/plans/{plan.pk}/block/", "{not json", content_type="application/json", headers=api.headers
    )
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]


# --- query counts ----------------------------------------------------------------------------


def count_queries(api: Api, url: str, rows: int) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = api.get(url)
    assert response.status_code == 200, url
    assert len(response.json()["results"]) >= rows, url
    return len(ctx.captured_queries)


def _rows(n: int, org, staff) -> dict[str, str]:
    inspection = InspectionFactory()
    for _ in range(n):
        finding = FindingFactory(inspection=inspection)
        finding.addressed_to.set([org, OrganisationFactory()])
        finding.themes.set([ThemeFactory()])
        GradingFactory(inspection=InspectionFactory(), organisation=org)
        plan = ActionPlanFactory(organisation=org, finding=finding, owner=staff)
    plan = ActionPlan.objects.filter(organisation=org).first()
    for _ in range(n):
        EvidenceFactory(update=UpdateFactory(plan=plan, author=staff), uploaded_by=staff)
    return {
        "plans": f"{API}/plans/?page_size=100",
        "plans filtered": f"{API}/plans/?page_size=100&status=in_progress&owner=me&sort=-updated&rag=green",
        "updates": f"{API}/plans/{plan.pk}/updates/?page_size=100",
        "evidence": f"{API}/plans/{plan.pk}/evidence/?page_size=100",
        "findings": f"{API}/findings/?page_size=100",
        "inspections": f"{API}/inspections/?page_size=100",
        "organisations": f"{API}/organisations/?page_size=100",
    }


@pytest.mark.parametrize(
    "name", ["plans", "plans filtered", "updates", "evidence", "findings", "inspections", "organisations"]
)
def test_list_query_count_is_the_same_for_3_and_30_rows(org, staff, name):
    api = Api(staff)
    few = count_queries(api, _rows(3, org, staff)[name], 3)
    many = count_queries(api, _rows(27, org, staff)[name], 30)
    assert many == few, f"{name}: {few} queries for a few rows, {many} for many"


# --- schema and documentation ----------------------------------------------------------------


def test_schema_generates_without_warnings_and_validates(tmp_path):
    from django.core.management import call_command

    target = tmp_path / "schema.yml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    assert target.read_text().startswith("openapi: 3.0.3")


def test_schema_needs_credentials_and_lists_every_endpoint(client, staff):
    assert client.get("/api/schema/").status_code == 401
    response = Api(staff).get("/api/schema/", format="json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    transitions = [
        "start", "block", "waiting-on", "unblock", "submit", "sign-off", "return", "close", "reopen", "supersede",
        "no-further-action", "target-date", "owner", "comments", "milestone-edit", "milestone-complete",
        "milestone-reopen", "milestone-move", "measure-edit", "measure-remove", "propose-no-action", "accept-risk",
        "decline-no-action", "agree-no-action", "send-back-no-action",
    ]  # fmt: skip
    expected = {
        "/api/v1/organisations/": {"get"},
        "/api/v1/organisations/{slug}/": {"get"},
        "/api/v1/inspections/": {"get"},
        "/api/v1/inspections/{slug}/": {"get"},
        "/api/v1/findings/": {"get"},
        "/api/v1/findings/{id}/": {"get"},
        "/api/v1/plans/": {"get"},
        "/api/v1/plans/{id}/": {"get"},
        "/api/v1/plans/{id}/updates/": {"get", "post"},
        "/api/v1/plans/{id}/evidence/": {"get", "post"},
        "/api/v1/plans/{id}/milestones/": {"get", "post"},
        "/api/v1/plans/{id}/measures/": {"get", "post"},
        "/api/v1/evidence/{id}/": {"get"},
        "/api/v1/evidence/{id}/download/": {"get"},
        "/api/v1/search/": {"get"},
        **{f"/api/v1/plans/{{id}}/{name}/": {"post"} for name in transitions},
    }
    assert {path: set(ops) for path, ops in paths.items()} == expected
    assert sum(len(ops) for ops in expected.values()) == 44


def test_docs_page_sends_anonymous_browsers_to_log_in(client, db):
    response = client.get("/api/docs/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_docs_page_loads_swagger_ui_from_static_files_under_the_site_csp(client, staff):
    import re

    from django.contrib.staticfiles import finders

    client.force_login(staff)
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    sources = [re.search(r'src="([^"]+)"', attrs).group(1) for attrs, body in scripts]
    assert all(body.strip() == "" for _, body in scripts)  # no inline script for the CSP to allow
    assert "<style" not in html and " style=" not in html
    sheets = re.findall(r'<link rel="stylesheet" href="([^"]+)"', html)
    assert sources == [
        "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js",
        "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-standalone-preset.js",
        "/static/js/api-docs.js",
    ]
    assert sheets == ["/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui.css", "/static/css/api-docs.css"]
    for url in sources + sheets:
        assert finders.find(url.removeprefix("/static/")), url  # shipped by a package or the project
    csp = response["Content-Security-Policy"]
    # The site-wide policy, unchanged: scripts and styles from this site only (a nonce only where used).
    assert re.search(r"script-src 'self'( 'nonce-[^']+')?;", csp) and re.search(
        r"style-src 'self'( 'nonce-[^']+')?;", csp
    )
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert 'data-schema-url="/api/schema/"' in html


# --- the contract a generated client relies on ---------------------------------------------------

FILE_ACTIONS = {"updates", "evidence", "submit"}  # may carry files: multipart/form-data
# a POST adds an entry to the plan's list: 201
COLLECTIONS = {"updates", "evidence", "comments", "milestones", "measures"}


def _documented(method: str, path: str) -> dict[str, Any]:
    operation = operation_for(method, path)
    assert operation is not None, f"{method} {path} is not in the schema"
    return operation


def test_the_change_table_covers_every_change_the_schema_documents():
    posts = {
        path.removeprefix("/api/v1/plans/{id}/").strip("/")
        for path, operations in served_schema()["paths"].items()
        if "post" in operations
    }
    assert posts == {change.endpoint for change in CHANGES}
    assert len(posts) == 29


@pytest.mark.parametrize("change", CHANGES, ids=[c.endpoint for c in CHANGES])
def test_every_change_answers_the_one_success_status_its_schema_documents(admin_user, org, staff, change):
    plan = ActionPlanFactory(organisation=org, status=change.source)
    path = f"{API}/plans/{plan.pk}/{change.endpoint}/"
    successes = [code for code in _documented("post", path)["responses"] if code.startswith("2")]
    # One rule for every change: adding to one of the plan's lists is 201 Created, a named action 200 OK.
    assert successes == (["201"] if change.endpoint in COLLECTIONS else ["200"])
    response = Api(admin_user).post(path, change.payload(plan, {"staff": staff}), multipart=change.multipart)
    assert str(response.status_code) == successes[0], response.content


BY_ENDPOINT = {a.api_path: a for a in actions.ACTIONS.values() if a.serializer}


@pytest.mark.parametrize(
    "change",
    [c for c in CHANGES if c.endpoint != "comments"],
    ids=[c.endpoint for c in CHANGES if c.endpoint != "comments"],
)
def test_every_change_is_refused_on_a_finished_plan_its_entry_does_not_start_from(admin_user, org, staff, change):
    # One rule, the registry's sources, whatever the action: an ended or verified plan is left as it is.
    action = BY_ENDPOINT[change.endpoint]
    status = next(s for s in ActionPlan.TERMINAL_STATUSES if s not in action.sources)
    plan = ActionPlanFactory(organisation=org, status=status)
    before = snapshot(plan)
    response = Api(admin_user).post(
        f"{API}/plans/{plan.pk}/{change.endpoint}/", change.payload(plan, {"staff": staff}), multipart=change.multipart
    )
    assert response.status_code == 400, response.content
    label = S(status).label.lower()
    assert response.json() == {"non_field_errors": [f"{action.doing} is not possible while the plan is {label}."]}
    assert snapshot(plan) == before


@pytest.mark.parametrize("change", CHANGES, ids=[c.endpoint for c in CHANGES])
def test_request_bodies_are_json_except_where_files_may_be_sent(change):
    body = _documented("post", f"{API}/plans/1/{change.endpoint}/")["requestBody"]
    expected = "multipart/form-data" if change.endpoint in FILE_ACTIONS else "application/json"
    assert list(body["content"]) == [expected]
    assert body["required"] is True


def _form_fields(payload: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in payload.items() if name != "files"}


@pytest.mark.parametrize("change", CHANGES, ids=[c.endpoint for c in CHANGES])
@pytest.mark.parametrize("body", ["form-urlencoded", "multipart"])
def test_a_body_in_a_media_type_the_change_does_not_take_is_415_and_changes_nothing(
    user_for, org, staff, change, body
):
    # JSON everywhere; multipart/form-data only where files may be sent (issue 20's contract).
    if body == "multipart" and change.endpoint in FILE_ACTIONS:
        pytest.skip("multipart is this change's own media type")
    plan = ActionPlanFactory(organisation=org, status=change.source)
    api = Api(user_for(next(role for role in ("staff", "manager", "inspector") if role in change.allowed)))
    before = snapshot(plan)
    path = f"{API}/plans/{plan.pk}/{change.endpoint}/"
    fields = _form_fields(change.payload(plan, {"staff": staff}))
    if body == "multipart":
        response = api.client.post(path, fields, headers=api.headers)
        sent = "multipart/form-data"
    else:
        response = api.client.post(path, urlencode(fields), "application/x-www-form-urlencoded", headers=api.headers)
        sent = "application/x-www-form-urlencoded"
    check_response("post", path, response)  # a documented answer, with a body valid under its schema
    assert response.status_code == 415, response.content
    accepted = "JSON (application/json)" + (
        ", or multipart/form-data to send files" if change.endpoint in FILE_ACTIONS else ""
    )
    assert response.json() == {"detail": f"This request cannot be sent as {sent}: send it as {accepted}."}
    assert snapshot(plan) == before


def test_a_method_a_path_does_not_take_is_405_in_json_as_the_schema_says(org, staff):
    plan = ActionPlanFactory(organisation=org, status=S.NOT_STARTED)
    api = Api(staff)
    removed = api.client.delete(f"{API}/plans/{plan.pk}/", headers=api.headers)
    assert removed.status_code == 405 and removed.json() == {"detail": 'Method "DELETE" not allowed.'}
    assert removed["Allow"] == "GET, HEAD, OPTIONS"
    read = api.client.get(f"{API}/plans/{plan.pk}/start/", headers=api.headers)
    assert read.status_code == 405 and read.json() == {"detail": 'Method "GET" not allowed.'}
    # No operation can document it (it answers a method no operation has): the API's description does.
    assert "405" in served_schema()["info"]["description"]
    assert snapshot(plan)[:2] == (S.NOT_STARTED, plan.version)


@pytest.mark.parametrize("change", CHANGES, ids=[c.endpoint for c in CHANGES])
def test_every_change_documents_its_415(change):
    responses = _documented("post", f"{API}/plans/1/{change.endpoint}/")["responses"]
    assert "415" in responses
    assert responses["415"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}


def test_submit_and_progress_without_files_are_still_accepted_as_json(org, staff):
    plan = ActionPlanFactory(organisation=org, status=S.IN_PROGRESS)
    EvidenceFactory(update__plan=plan, update__author=staff)
    api = Api(staff)
    assert api.post(f"{API}/plans/{plan.pk}/updates/", {"version": plan.version, "note": NOTE}).status_code == 201
    plan.refresh_from_db()
    response = api.post(f"{API}/plans/{plan.pk}/submit/", {"version": plan.version, "statement": "Done."})
    assert response.status_code == 200 and response.json()["plan"]["status"] == S.SUBMITTED


@pytest.mark.parametrize("sent", ["", "null", "None"])
def test_an_explicit_null_percent_in_multipart_progress_leaves_the_percent_alone(org, staff, sent):
    # In form data null has no spelling of its own: a generated client sends "None", others "" or "null".
    plan = ActionPlanFactory(organisation=org, status=S.IN_PROGRESS, percent_complete=30)
    response = Api(staff).post(
        f"{API}/plans/{plan.pk}/updates/",
        {"version": plan.version, "note": NOTE, "percent_complete": sent, "files": [pdf_upload()]},
        multipart=True,
    )
    assert response.status_code == 201, response.content
    assert response.json()["update"]["percent"] is None
    plan.refresh_from_db()
    assert plan.percent_complete == 30 and plan.updates.count() == 1


@pytest.mark.parametrize("sent", ["forty", "140", "none"])
def test_a_bad_percent_in_multipart_progress_is_still_400(plan, staff, sent):
    before = snapshot(plan)
    response = Api(staff).post(
        f"{API}/plans/{plan.pk}/updates/", {"version": plan.version, "note": NOTE, "percent_complete": sent}, True
    )
    assert response.status_code == 400 and set(response.json()) == {"percent_complete"}
    assert snapshot(plan) == before


def test_json_percent_complete_null_is_no_percent_but_the_text_null_is_refused(org, staff):
    plan = ActionPlanFactory(organisation=org, status=S.IN_PROGRESS, percent_complete=30)
    url = f"{API}/plans/{plan.pk}/updates/"
    assert Api(staff).post(url, {"version": plan.version, "note": NOTE, "percent_complete": "null"}).status_code == 400
    response = Api(staff).post(url, {"version": plan.version, "note": NOTE, "percent_complete": None})
    assert response.status_code == 201 and response.json()["plan"]["percent_complete"] == 30


def test_unassigning_the_owner_with_json_null_is_valid_under_the_schema(org, manager, staff):
    plan = ActionPlanFactory(organisation=org, owner=staff)
    response = Api(manager).post(f"{API}/plans/{plan.pk}/owner/", {"version": plan.version, "owner": None})
    assert response.status_code == 200  # and Api checked the body, null owner included, against the schema
    assert response.json()["plan"]["owner"] is None and response.json()["update"]["kind"] == "owner"
    plan.refresh_from_db()
    assert plan.owner is None
    assert Api(manager).get(f"{API}/plans/{plan.pk}/").json()["owner"] is None


def test_entries_that_keep_the_status_have_null_status_from_and_to(org, staff):
    plan = ActionPlanFactory(organisation=org, status=S.NOT_STARTED)
    api = Api(staff)
    started = api.post(f"{API}/plans/{plan.pk}/start/", {"version": plan.version, "note": NOTE}).json()["update"]
    assert (started["status_from"], started["status_to"]) == ("not_started", "in_progress")
    comment = api.post(f"{API}/plans/{plan.pk}/comments/", {"note": "Noted."}).json()["update"]
    assert (comment["status_from"], comment["status_to"]) == (None, None)
    assert plan.updates.get(pk=comment["id"]).status_from == ""  # stored as before: no status is ""


def test_every_response_field_is_required_and_nulls_validate_strictly():
    schemas = served_schema()["components"]["schemas"]
    responses = {name: c for name, c in schemas.items() if not name.endswith("Request") and "properties" in c}
    assert len(responses) >= 25
    optional = {name: sorted(set(c["properties"]) - set(c.get("required", []))) for name, c in responses.items()}
    assert {name: fields for name, fields in optional.items() if fields} == {}
    plan = schemas["Plan"]["properties"]
    assert errors_in(None, plan["owner"]) == [] and errors_in(None, plan["target_date"]) == []
    assert errors_in(None, schemas["Organisation"]["properties"]["region"]) == []
    status_from = schemas["Update"]["properties"]["status_from"]
    assert errors_in(None, status_from) == [] and errors_in("closed", status_from) == []
    assert errors_in("", status_from) != []  # no blank strings for "no status"
    assert errors_in({"username": "a", "name": "A"}, plan["owner"]) == [] and errors_in(3, plan["owner"]) != []


def test_the_schema_documents_only_the_errors_each_operation_gives():
    paths = served_schema()["paths"]
    for path, operations in paths.items():
        for method, operation in operations.items():
            codes = set(operation["responses"])
            name = f"{method} {path}"
            assert {"401", "403"} <= codes, name
            if method == "post":
                # Comments carry no version, so cannot be stale.
                assert codes >= {"400", "404"} and ("409" in codes) == ("comments" not in path), name
            elif "{" in path and not path.endswith(("/updates/", "/evidence/")):
                # One object: found or not; a 400 only for a NUL character in a query parameter.
                assert "404" in codes and operation["responses"]["400"]["description"] == NUL_PARAMETER, name
    lists = [p for p, ops in paths.items() if "get" in ops and "Paginated" in str(ops["get"]["responses"]["200"])]
    assert len(lists) == 6
    for path in lists:
        responses = paths[path]["get"]["responses"]
        assert "page past the last one" in responses["404"]["description"], path
        filters = path in ("/api/v1/plans/", "/api/v1/findings/")
        assert (responses["400"]["description"] == NUL_PARAMETER) != filters, path
    assert "404" not in paths["/api/v1/search/"]["get"]["responses"]  # a page past the end is empty
    assert "400" in paths["/api/v1/search/"]["get"]["responses"]


def test_a_nul_character_in_any_query_parameter_is_the_documented_400(plan, staff):
    api = Api(staff)  # checks the status and the body against the schema
    for path in (f"{API}/plans/{plan.pk}/", f"{API}/organisations/", f"{API}/plans/"):
        response = api.get(path, **{"anything": "a\x00b"})
        assert response.status_code == 400, path
        assert "NUL" in response.json()["anything"][0], path


def test_a_page_past_the_end_is_404_as_documented(plan, staff):
    api = Api(staff)  # checks the status against the schema
    assert api.get(f"{API}/plans/{plan.pk}/updates/", page="2").status_code == 404
    assert api.get(f"{API}/organisations/", page="2").status_code == 404
    assert api.get(f"{API}/organisations/", page="x").status_code == 404


def test_reading_one_object_ignores_the_lists_filters(org, staff):
    finding = FindingFactory()
    finding.addressed_to.set([org])
    plan = ActionPlanFactory(organisation=org, finding=finding)
    api = Api(staff)
    assert api.get(f"{API}/findings/{finding.pk}/", kind="no-such-kind", inspection="nowhere").status_code == 200
    assert api.get(f"{API}/plans/{plan.pk}/", status="no-such-status").status_code == 200
    assert api.get(f"{API}/findings/", kind="no-such-kind").status_code == 400


def test_the_schema_is_valid_openapi_30_by_openapi_spec_validator():
    from openapi_spec_validator import OpenAPIV30SpecValidator

    schema = served_schema()
    assert schema["openapi"] == "3.0.3"
    assert [error.message for error in OpenAPIV30SpecValidator(schema).iter_errors()] == []


def test_too_many_files_in_one_upload_is_answered_in_json(plan, staff, settings):
    """Django refuses a request with more files than DATA_UPLOAD_MAX_NUMBER_FILES before any view
    runs; the API says so in JSON, like every other refusal, rather than with the HTML error page."""
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 3
    before = snapshot(plan)
    response = Api(staff).post(
        f"{API}/plans/{plan.pk}/evidence/",
        {"note": "Minutes", "version": plan.version, "files": [pdf_upload() for _ in range(4)]},
        multipart=True,
    )
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert "at most 3 files" in response.json()["detail"]
    assert snapshot(plan) == before
