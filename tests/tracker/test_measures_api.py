"""A finding's "what good looks like" in the REST API (issue 15, part 2): read wherever findings appear (a
plan's `finding`, the findings list and one finding), described in the OpenAPI schema as read-only, and
never changed through the API by anyone, a force's people least of all (the inspectorate sets it on the
finding's page: tests/tracker/test_measures.py)."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.factories import ActionPlanFactory, FindingFactory
from tests.tracker.openapi_contract import errors_in, operation_for, served_schema
from tracker.models import ActionPlan

pytestmark = pytest.mark.django_db
GOOD = "Every SOC local profile refreshed within the year, Good-Marker-G2"


@pytest.fixture
def plan(org):
    return ActionPlanFactory(
        organisation=org, status=ActionPlan.Status.IN_PROGRESS, finding=FindingFactory(what_good_looks_like=GOOD)
    )


def api(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def response_schema(method: str, path: str) -> dict:
    return operation_for(method, path)["responses"]["200"]["content"]["application/json"]["schema"]


@pytest.mark.parametrize("who", ["staff", "manager", "inspector"])
def test_it_is_read_in_the_plan_and_the_finding(plan, who, request):
    client = api(request.getfixturevalue(who))
    detail = client.get(f"/api/v1/plans/{plan.pk}/")
    assert detail.json()["finding"]["what_good_looks_like"] == GOOD
    assert errors_in(detail.json(), response_schema("get", f"/api/v1/plans/{plan.pk}/")) == []
    listed = client.get("/api/v1/plans/").json()["results"]
    assert [row["finding"]["what_good_looks_like"] for row in listed] == [GOOD]
    finding = client.get(f"/api/v1/findings/{plan.finding_id}/")
    assert finding.json()["what_good_looks_like"] == GOOD
    assert errors_in(finding.json(), response_schema("get", f"/api/v1/findings/{plan.finding_id}/")) == []
    assert [row["what_good_looks_like"] for row in client.get("/api/v1/findings/").json()["results"]] == [GOOD]


def test_another_organisations_people_do_not_read_it_through_the_plan(plan, other_staff):
    assert api(other_staff).get(f"/api/v1/plans/{plan.pk}/").status_code == 404


def test_the_schema_describes_it_as_read_only():
    components = served_schema()["components"]["schemas"]
    for name in ("Finding", "FindingRef", "FindingDetail"):
        field = components[name]["properties"]["what_good_looks_like"]
        assert field["readOnly"] is True and field["type"] == "string"
        assert "Read-only: set by the inspectorate" in field["description"], name


@pytest.mark.parametrize("who", ["staff", "manager", "inspector"])
@pytest.mark.parametrize("method", ["put", "patch", "post"])
def test_nobody_changes_it_through_the_api(plan, who, method, request):
    client = api(request.getfixturevalue(who))
    body = {"what_good_looks_like": "Nothing at all", "version": plan.version}
    for path in (f"/api/v1/findings/{plan.finding_id}/", f"/api/v1/plans/{plan.pk}/", "/api/v1/findings/"):
        response = getattr(client, method)(path, body, format="json")
        assert response.status_code == 405, (path, response.status_code)
    plan.finding.refresh_from_db()
    assert plan.finding.what_good_looks_like == GOOD


def test_a_workflow_call_carrying_it_leaves_it_as_it_was(plan, staff, manager):
    """The plan's changes take only their own fields: a force's people sending the finding's criteria along
    with a change of the plan change the plan, never the finding."""
    response = api(staff).post(
        f"/api/v1/plans/{plan.pk}/updates/",
        {"version": plan.version, "note": "Profiles drafted.", "what_good_looks_like": "Anything"},
        format="json",
    )
    assert response.status_code == 201, response.content
    response = api(manager).post(
        f"/api/v1/plans/{plan.pk}/measures/",
        {"version": plan.version + 1, "text": "Profiles refreshed", "what_good_looks_like": "Anything"},
        format="json",
    )
    assert response.status_code in (200, 201), response.content
    plan.finding.refresh_from_db()
    assert plan.finding.what_good_looks_like == GOOD
