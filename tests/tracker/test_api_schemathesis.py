"""Property-based run of the API against its own OpenAPI schema (schemathesis, in process over WSGI).

Schemathesis reads `/api/schema/`, generates requests for every operation (valid ones and, in its
negative mode, invalid ones) and checks that no answer is a server error and that every answer, its
status code, content type and body match what the schema says. Bounded: `MAX_EXAMPLES` generated
requests per operation and a fixed seed, so a CI run takes well under two minutes and is repeatable.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections
from django.utils import timezone
from drf_spectacular.views import SpectacularAPIView
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.config import SchemathesisConfig

from tests.factories import (
    ActionPlanFactory,
    AdminFactory,
    EvidenceFactory,
    FindingFactory,
    GradingFactory,
    InspectionFactory,
    OrganisationFactory,
    StaffFactory,
    ThemeFactory,
)
from tracker.models import ActionPlan, ApiToken, Evidence

MAX_EXAMPLES = 12
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
CALLS: Counter[str] = Counter()
HEADERS: dict[str, str] = {}


def served_schema() -> dict[str, Any]:
    """What `/api/schema/` serves, built by the same generator and settings as that view (no request
    needed), so the tests can be made at collection time, one per operation."""
    return SpectacularAPIView().generator_class(urlconf=None, api_version=None).get_schema(request=None, public=True)


# Generated requests only (the fuzzing phase, valid and invalid data), a fixed number per operation.
CONFIG = SchemathesisConfig.from_dict(
    {
        "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True},
        "phases": {"examples": {"enabled": False}, "coverage": {"enabled": False}, "stateful": {"enabled": False}},
    }
)
schema = schemathesis.openapi.from_dict(served_schema(), config=CONFIG)
APP = WSGIHandler()
KNOWN: dict[str, list[Any]] = {}


@pytest.fixture
def api_data(db: Any) -> Any:
    """A small organisation with plans in every state, and an administrator's token: every action is
    open to an administrator, so the success paths are reached as well as the refusals."""
    org = OrganisationFactory(slug="surrey", name="Surrey Police")
    staff = StaffFactory(username="surrey.staff", organisation=org)
    inspection = InspectionFactory(slug="south-east-soc-2024")
    GradingFactory(inspection=inspection, organisation=org)
    theme = ThemeFactory(slug="intelligence")
    today = timezone.localdate()
    plans = []
    for number, status in enumerate(ActionPlan.Status):
        finding = FindingFactory(inspection=inspection, reference=f"R{number + 1}")
        finding.addressed_to.set([org])
        finding.themes.set([theme])
        FindingFactory(supersedes=finding)
        plans.append(
            ActionPlanFactory(
                finding=finding, organisation=org, status=status, owner=staff,
                target_date=today + dt.timedelta(days=30 * number - 60),
            )
        )  # fmt: skip
    EvidenceFactory(update__plan=plans[1], update__author=staff)
    _, secret = ApiToken.issue(user=AdminFactory(username="admin"), name="schemathesis")
    HEADERS["Authorization"] = f"Token {secret}"
    KNOWN.update(
        plans=[p.pk for p in plans],
        evidence=list(Evidence.objects.values_list("pk", flat=True)),
        findings=[plans[0].finding_id],
        organisations=["surrey"],
        inspections=["south-east-soc-2024"],
    )
    # Requests go straight into Django's WSGI handler on this thread, inside the test's transaction:
    # keep the handler from closing that connection between requests (as Django's test client does).
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@schema.hook
def before_generate_path_parameters(context: Any, strategy: st.SearchStrategy) -> st.SearchStrategy:
    # Mostly objects that exist, so requests get past the 404 and into the workflow.
    resource = context.operation.path.removeprefix("/api/v1/").split("/")[0]
    if resource not in KNOWN:  # no path parameters (search)
        return strategy
    name = "slug" if resource in ("organisations", "inspections") else "id"
    existing = st.deferred(lambda: st.sampled_from(KNOWN[resource])).map(lambda value: {name: value})
    return st.one_of(existing, existing, strategy)


@schema.hook
def flatmap_case(context: Any, case: Any) -> st.SearchStrategy:
    # A change carries the plan's version: send the current one as often as a generated one.
    plan_id = (case.path_parameters or {}).get("id")
    if not (isinstance(case.body, dict) and "version" in case.body and isinstance(plan_id, int)):
        return st.just(case)
    current = ActionPlan.objects.filter(pk=plan_id).values_list("version", flat=True).first()
    if current is None:
        return st.just(case)

    def with_version(version: Any) -> Any:
        case.body = {**case.body, "version": version}
        return case

    return st.sampled_from([current, case.body["version"]]).map(with_version)


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_answers_every_generated_request_as_its_schema_says(case: Any, api_data: Any) -> None:
    response = case.call_and_validate(app=APP, headers=HEADERS, checks=CHECKS)
    CALLS[f"{case.method} {case.path}"] += 1
    CALLS[str(response.status_code)] += 1


def test_the_run_uses_exactly_the_schema_served_at_api_schema(client, admin_user):
    client.force_login(admin_user)
    response = client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    assert response.json() == schema.raw_schema
