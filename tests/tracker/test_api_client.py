"""The API through a client generated from its schema, as a force's IT team would use it: `make api-client`
generates it with openapi-python-client (in a virtualenv of its own) into build/api-client/, and these tests
import every module of it and drive the workflow with it against a live server, every answer a typed result.

Without the generated client these tests skip (run `make api-client`, or `make test`), except under
CI=true, where they fail.
"""

from __future__ import annotations

import datetime as dt
import importlib
import io
import json
import os
import pkgutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.utils import timezone

from tests.factories import (
    PDF_BYTES,
    ActionPlanFactory,
    FindingFactory,
    InspectionFactory,
    InspectorFactory,
    ManagerFactory,
    OrganisationFactory,
    StaffFactory,
)
from tracker.models import ActionPlan, ApiToken, Evidence, Milestone, SuccessMeasure

from .openapi_contract import served_schema

CLIENT_DIR = Path(os.environ.get("API_CLIENT_DIR", Path(__file__).resolve().parents[2] / "build" / "api-client"))
PACKAGE = "tracker_api_client"
S = ActionPlan.Status


def _generated_client() -> Any:
    if not (CLIENT_DIR / PACKAGE / "__init__.py").exists():
        message = f"no generated API client in {CLIENT_DIR}: run `make api-client`"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    generated_from = yaml.safe_load((CLIENT_DIR / "schema.yml").read_text())
    # Compared as JSON: the file is YAML, the served schema Python (tuples, dates).
    assert generated_from == json.loads(json.dumps(served_schema(), default=str)), (
        "the generated client is older than the schema: run `make api-client`"
    )
    if str(CLIENT_DIR) not in sys.path:
        sys.path.insert(0, str(CLIENT_DIR))
    return importlib.import_module(PACKAGE)


@pytest.fixture(scope="module")
def generated() -> Any:
    return _generated_client()


def test_every_generated_module_imports(generated):
    names = [info.name for info in pkgutil.walk_packages(generated.__path__, f"{PACKAGE}.")]
    failures = {}
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as error:  # noqa: BLE001 - every failure is reported with its module
            failures[name] = f"{type(error).__name__}: {error}"
    assert failures == {}
    operations = [n for n in names if n.count(".") == 3 and n.split(".")[1] == "api"]
    documented = sum(len(ops) for ops in served_schema()["paths"].values())
    assert len(operations) == documented == 44
    assert len(names) >= 100


class World:
    """Surrey (staff, manager) and Hampshire, an inspector, a plan for each step, tokens for everyone."""

    def __init__(self, generated: Any, base_url: str) -> None:
        self.generated = generated
        self.base_url = base_url
        self.org = OrganisationFactory(slug="surrey", name="Surrey Police")
        self.other_org = OrganisationFactory(slug="hampshire", name="Hampshire Constabulary")
        self.staff = StaffFactory(username="surrey.staff", organisation=self.org)
        self.manager = ManagerFactory(username="surrey.manager", organisation=self.org)
        self.inspector = InspectorFactory(username="inspector")
        inspection = InspectionFactory(slug="south-east-soc-2024")
        today = timezone.localdate()

        def plan(reference: str, org: Any, status: str, days: int) -> ActionPlan:
            finding = FindingFactory(inspection=inspection, reference=reference)
            finding.addressed_to.set([org])
            return ActionPlanFactory(
                finding=finding, organisation=org, status=status, owner=self.staff if org == self.org else None,
                target_date=today + dt.timedelta(days=days), percent_complete=20,
            )  # fmt: skip

        self.journey = plan("R1", self.org, S.IN_PROGRESS, 60)
        self.late = plan("R2", self.org, S.IN_PROGRESS, -10)
        self.waiting = plan("R3", self.org, S.NOT_STARTED, 90)
        self.hidden = plan("R4", self.other_org, S.IN_PROGRESS, 60)
        self.clients: list[Any] = []

    def client(self, user: Any = None, token: str | None = None) -> Any:
        if token is None:
            _, token = ApiToken.issue(user=user, name="generated client")
        client = self.generated.AuthenticatedClient(
            base_url=self.base_url, token=token, prefix="Token", raise_on_unexpected_status=True
        )
        self.clients.append(client)
        return client


@pytest.fixture
def world(generated: Any, transactional_db: Any, live_server: Any) -> Iterator[World]:
    world = World(generated, live_server.url)
    yield world
    # Closed while the test's database is still shared with the server's threads (SQLite in memory).
    for client in world.clients:
        client.get_httpx_client().close()


def test_the_whole_workflow_through_the_generated_client(world):
    from tracker_api_client.api.plans import plans_list, plans_retrieve, plans_updates_list
    from tracker_api_client.api.workflow import (
        plans_close_create,
        plans_evidence_create,
        plans_owner_create,
        plans_sign_off_create,
        plans_submit_create,
        plans_updates_create,
    )
    from tracker_api_client.models import (
        CommentInputRequest,
        EvidenceInputRequest,
        OwnerInputRequest,
        PaginatedPlanList,
        PlanDetail,
        PlansListStatusItem,
        PlanStatusEnum,
        ProgressUploadInputRequest,
        SubmitUploadInputRequest,
        UpdateKindEnum,
        WorkflowResult,
    )
    from tracker_api_client.types import File

    staff, manager, inspector = world.client(world.staff), world.client(world.manager), world.client(world.inspector)

    # Read and filter: only Surrey's plans, then only the overdue one, then by status.
    everything = plans_list.sync(client=staff)
    assert isinstance(everything, PaginatedPlanList)
    assert sorted(p.id for p in everything.results) == sorted([world.journey.pk, world.late.pk, world.waiting.pk])
    assert everything.next_ is None and everything.previous is None and everything.count == 3
    overdue = plans_list.sync(client=staff, overdue=True)
    assert [p.id for p in overdue.results] == [world.late.pk]
    waiting = plans_list.sync(client=staff, status=[PlansListStatusItem.NOT_STARTED])
    assert [(p.id, p.status) for p in waiting.results] == [(world.waiting.pk, PlanStatusEnum.NOT_STARTED)]
    pk = world.journey.pk
    plan = plans_retrieve.sync(pk, client=staff)
    assert isinstance(plan, PlanDetail) and plan.owner.username == "surrey.staff" and plan.percent_complete == 20

    # Progress (multipart, with an explicit null percent: left as it was), then 60%.
    result = plans_updates_create.sync(
        pk, client=staff, body=ProgressUploadInputRequest(version=plan.version, note="Posts advertised.",
                                                          percent_complete=None),
    )  # fmt: skip
    assert isinstance(result, WorkflowResult) and result.plan.percent_complete == 20
    assert result.update.kind == UpdateKindEnum.PROGRESS and result.update.status_to is None
    result = plans_updates_create.sync(
        pk, client=staff, body=ProgressUploadInputRequest(version=result.plan.version, note="Two posts filled.",
                                                          percent_complete=60),
    )  # fmt: skip
    assert result.plan.percent_complete == 60

    # Evidence, uploaded as a file.
    pdf = File(payload=io.BytesIO(PDF_BYTES), file_name="analysts.pdf", mime_type="application/pdf")
    result = plans_evidence_create.sync(
        pk, client=staff, body=EvidenceInputRequest(version=result.plan.version, note="Job offers.", files=[pdf])
    )
    assert [e.original_name for e in result.update.evidence] == ["analysts.pdf"]
    assert Evidence.objects.filter(update__plan_id=pk).count() == 1

    # Submit (the evidence is already on the timeline), sign off, close.
    response = plans_submit_create.sync_detailed(
        pk, client=staff, body=SubmitUploadInputRequest(version=result.plan.version, statement="All posts filled.")
    )
    assert response.status_code == 200 and response.parsed.plan.status == PlanStatusEnum.SUBMITTED
    version = response.parsed.plan.version
    signed = CommentInputRequest(version=version, comment="Agreed.")
    result = plans_sign_off_create.sync(pk, client=manager, body=signed)
    assert result.plan.status == PlanStatusEnum.SIGNED_OFF
    result = plans_close_create.sync(
        pk, client=inspector, body=CommentInputRequest(version=result.plan.version, comment="Verified.")
    )
    assert result.plan.status == PlanStatusEnum.CLOSED
    assert (result.update.status_from, result.update.status_to) == (PlanStatusEnum.SIGNED_OFF, PlanStatusEnum.CLOSED)

    # Unassign an owner with null.
    late = plans_retrieve.sync(world.late.pk, client=manager)
    result = plans_owner_create.sync(
        world.late.pk, client=manager, body=OwnerInputRequest(version=late.version, owner=None)
    )
    assert result.plan.owner is None and result.update.kind == UpdateKindEnum.OWNER
    world.late.refresh_from_db()
    assert world.late.owner is None

    timeline = plans_updates_list.sync(pk, client=staff)
    assert [u.status_to for u in timeline.results][:3] == [
        PlanStatusEnum.CLOSED, PlanStatusEnum.SIGNED_OFF, PlanStatusEnum.SUBMITTED
    ]  # fmt: skip
    assert timeline.count == 6


def test_an_edit_through_the_generated_client_changes_only_what_it_sets(world):
    from tracker_api_client.api.workflow import plans_measure_edit_create, plans_milestone_edit_create
    from tracker_api_client.models import MeasureEditInputRequest, MilestoneEditInputRequest

    today = timezone.localdate()
    plan = world.journey
    milestone = Milestone.objects.create(plan=plan, title="Recruit", owner=world.staff, position=1,
                                         target_date=today + dt.timedelta(days=30), note="Two posts")  # fmt: skip
    measure = SuccessMeasure.objects.create(plan=plan, text="Reports in 7 days", target_figure="95%", position=1,
                                            sustain_until=today + dt.timedelta(days=60))  # fmt: skip
    staff, manager = world.client(world.staff), world.client(world.manager)

    # Fields left unset are not sent, and keep their values; None is sent as null, and clears.
    body = MilestoneEditInputRequest(version=plan.version, milestone=milestone.pk, title="Recruit analysts")
    result = plans_milestone_edit_create.sync(plan.pk, client=staff, body=body)
    milestone.refresh_from_db()
    assert (milestone.title, milestone.owner, milestone.note) == ("Recruit analysts", world.staff, "Two posts")
    body = MilestoneEditInputRequest(version=result.plan.version, milestone=milestone.pk, owner=None)
    result = plans_milestone_edit_create.sync(plan.pk, client=staff, body=body)
    milestone.refresh_from_db()
    assert (milestone.title, milestone.owner, milestone.note) == ("Recruit analysts", None, "Two posts")
    body = MeasureEditInputRequest(version=result.plan.version, measure=measure.pk, text="Reports in 5 days")
    result = plans_measure_edit_create.sync(plan.pk, client=manager, body=body)
    assert [(m.text, m.target_figure, m.is_sustaining) for m in result.plan.measures] == [
        ("Reports in 5 days", "95%", True)
    ]


def test_refusals_come_back_as_typed_results(world):
    from tracker_api_client.api.plans import plans_list, plans_retrieve
    from tracker_api_client.api.workflow import plans_block_create, plans_sign_off_create, plans_start_create
    from tracker_api_client.models import (
        CommentInputRequest,
        Error,
        NoteInputRequest,
        PlansListResponse400,
        PlansStartCreateResponse400,
        StaleVersion,
    )

    staff = world.client(world.staff)
    pk, version = world.journey.pk, world.journey.version
    before = ActionPlan.objects.values().get(pk=pk)

    # 409: a stale version.
    plans_block_create.sync(pk, client=staff, body=NoteInputRequest(version=version, note="Waiting on vetting."))
    stale = plans_block_create.sync_detailed(pk, client=staff, body=NoteInputRequest(version=version, note="Again."))
    assert stale.status_code == 409 and isinstance(stale.parsed, StaleVersion)
    assert stale.parsed.code == "stale" and stale.parsed.current_version == version + 1

    # 403: staff may not sign off.
    refused = plans_sign_off_create.sync_detailed(pk, client=staff, body=CommentInputRequest(version=1, comment="x"))
    assert refused.status_code == 403 and isinstance(refused.parsed, Error) and refused.parsed.detail

    # 404: another organisation's plan does not exist for them.
    missing = plans_retrieve.sync_detailed(world.hidden.pk, client=staff)
    assert missing.status_code == 404 and isinstance(missing.parsed, Error)

    # 400: a rule of the workflow (the plan is not in "not started"), and a bad filter.
    bad = plans_start_create.sync_detailed(
        world.late.pk, client=staff, body=NoteInputRequest(version=world.late.version, note="Go.")
    )
    assert bad.status_code == 400 and isinstance(bad.parsed, PlansStartCreateResponse400)
    assert "not possible" in bad.parsed.additional_properties["non_field_errors"][0]
    bad_filter = plans_list.sync_detailed(client=staff, organisation="hampshire")
    assert bad_filter.status_code == 400 and isinstance(bad_filter.parsed, PlansListResponse400)

    # 401: an unknown token.
    unknown = plans_list.sync_detailed(client=world.client(token="not-a-token"))
    assert unknown.status_code == 401 and isinstance(unknown.parsed, Error)
    assert unknown.parsed.detail == "Invalid or revoked token."

    after = ActionPlan.objects.values().get(pk=pk)
    assert after["version"] == before["version"] + 1 and after["status"] == S.BLOCKED  # only the first block
