"""Every figure adds up, whatever the plans (hypothesis).

Random sets of plans, in every status, with and without target dates (past, today, future), deferred or
not, across organisations (with and without a region), inspections and themes. For every role, each
number on the dashboard (cards, matrix cells, regions, themes, RAG) equals the row count of the /plans/
list its link opens, the rows of the CSV export for the same filters and the API's `count`; the board
pack's figures equal the dashboard's for that organisation and the lists behind them; and in every
group the stages add up to the total. Runs on SQLite and on PostgreSQL (DATABASE_URL).
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import os
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from tests.factories import (
    ActionPlanFactory,
    DependencyFactory,
    FindingFactory,
    InspectionFactory,
    InspectorFactory,
    ManagerFactory,
    OrganisationFactory,
    RegionFactory,
    StaffFactory,
    ThemeFactory,
    UpdateFactory,
)
from tests.tracker.test_dashboard import number_links
from tracker.models import ActionPlan, Dependency, Update

pytestmark = pytest.mark.django_db
S = ActionPlan.Status
STAGES = [str(stage) for stage in ActionPlan.Stage]

ORGANISATIONS = [  # slug, region slug (None: no region)
    ("surrey", "south-east"),
    ("hampshire", "south-east"),
    ("nca", None),
]
INSPECTIONS = 2
FINDINGS_PER_INSPECTION = 3
THEMES = ["intelligence", "workforce"]

plan_state = st.fixed_dictionaries(
    {
        "status": st.sampled_from(S.values),
        "target": st.one_of(st.none(), st.integers(-60, 60)),  # days from today
        "deferrals": st.integers(0, 2),
        "percent": st.sampled_from([0, 50, 74, 75, 100]),
        "age": st.integers(0, 500),  # days since the plan's last status change
        # What a blocked plan waits on (None: nothing recorded); "plan" waits on another plan of the world.
        "waits": st.sampled_from([None, *Dependency.Kind.values]),
    }
)
world_strategy = st.fixed_dictionaries(
    {
        # (organisation, finding) -> state: at most one plan per finding and organisation
        "plans": st.dictionaries(
            st.tuples(
                st.integers(0, len(ORGANISATIONS) - 1), st.integers(0, INSPECTIONS * FINDINGS_PER_INSPECTION - 1)
            ),
            plan_state,
            min_size=1,
            max_size=8,
        ),
        "themes": st.lists(
            st.sets(st.integers(0, len(THEMES) - 1)),
            min_size=INSPECTIONS * FINDINGS_PER_INSPECTION,
            max_size=INSPECTIONS * FINDINGS_PER_INSPECTION,
        ),
    }
)


def build(spec: dict[str, Any]) -> dict[str, Any]:
    today = timezone.localdate()
    now = timezone.now()
    regions = {"south-east": RegionFactory(slug="south-east", name="South East")}
    organisations = [
        OrganisationFactory(slug=slug, name=f"{slug.title()} Police", region=regions.get(region) if region else None)
        for slug, region in ORGANISATIONS
    ]
    themes = [ThemeFactory(slug=slug, name=slug.title()) for slug in THEMES]
    inspections = [
        InspectionFactory(slug=f"inspection-{n}", published_on=today - dt.timedelta(days=600 - n))
        for n in range(INSPECTIONS)
    ]
    findings = []
    for n in range(INSPECTIONS * FINDINGS_PER_INSPECTION):
        finding = FindingFactory(inspection=inspections[n // FINDINGS_PER_INSPECTION], reference=f"R{n}")
        finding.themes.set([themes[t] for t in spec["themes"][n]])
        findings.append(finding)
    author = StaffFactory(organisation=organisations[0])
    plans = []
    for (org, finding), state in spec["plans"].items():
        target = today + dt.timedelta(days=state["target"]) if state["target"] is not None else None
        original = target - dt.timedelta(days=10 * state["deferrals"]) if target and state["deferrals"] else target
        plan = ActionPlanFactory(
            organisation=organisations[org], finding=findings[finding], status=state["status"],
            target_date=target, original_target_date=original, deferral_count=state["deferrals"] if target else 0,
            percent_complete=state["percent"],
        )  # fmt: skip
        plans.append((plan, state))
        changed = now - dt.timedelta(days=state["age"])
        ActionPlan.objects.filter(pk=plan.pk).update(created_at=changed - dt.timedelta(days=30))
        if state["status"] != S.NOT_STARTED:  # the history the trend reads: one recorded change of status
            UpdateFactory(
                plan=plan, author=author, kind=Update.Kind.STATUS, status_from=S.NOT_STARTED,
                status_to=state["status"], created_at=changed,
            )  # fmt: skip
    for plan, state in plans:  # also rows left by a status set outside the workflow: not counted
        if state["waits"] is not None and (state["status"] == S.BLOCKED or state["age"] % 5 == 0):
            other = next((p for p, _ in plans if p.pk != plan.pk), None)
            kind = state["waits"] if other is not None or state["waits"] != Dependency.Kind.PLAN else "other"
            DependencyFactory(plan=plan, kind=kind, name="" if kind == Dependency.Kind.PLAN else "Body",
                              on_plan=other if kind == Dependency.Kind.PLAN else None, recorded_by=author)  # fmt: skip
    return {
        "inspector": InspectorFactory(),
        "surrey.manager": ManagerFactory(organisation=organisations[0]),
        "hampshire.staff": StaffFactory(organisation=organisations[1]),
        "nca.manager": ManagerFactory(organisation=organisations[2]),
    }


def figure_groups(context: dict[str, Any]) -> list[dict[str, Any]]:
    """Every group of figures on the dashboard: the overall cards, matrix cells, regions and themes."""
    groups = [context["overall"]] if context["overall"] else []
    groups += [cell for row in context["matrix"] for cell in row["cells"] if cell]
    return groups + list(context["by_region"]) + list(context["by_theme"])


def assert_adds_up(group: dict[str, Any]) -> None:
    assert sum(group[stage] for stage in STAGES) == group["total"], group
    assert [s["count"] for s in group["stages"]] == [group[stage] for stage in STAGES]
    assert group["reported"] == group["awaiting_verification"] + group["verified"]
    assert group["overdue"] <= group["with_force"]


def csv_rows(client, query: str) -> int:
    response = client.get("/plans/export.csv?" + query)
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return len(list(csv.reader(io.StringIO(text)))) - 1  # less the header


def api_count(client, query: str) -> int:
    response = client.get("/api/v1/plans/?" + query + "&page_size=1")
    assert response.status_code == 200, response.content
    return response.json()["count"]


def list_count(client, query: str) -> int:
    response = client.get("/plans/?" + query, headers={"HX-Request": "true"})  # the results alone
    assert response.status_code == 200
    return response.context["paginator"].count


def check_role(client, user, dashboard_query: str = "", *, links: bool = True, sample=None) -> dict[str, Any] | None:
    """The dashboard's figures for `user`: each group adds up; with `links`, every number equals the count
    of the /plans/ list its link opens, and for the links `sample` picks, the export's rows and the API's
    `count` for the same filters."""
    client.force_login(user)
    response = client.get("/dashboard/" + dashboard_query)
    assert response.status_code == 200
    context = response.context
    for group in figure_groups(context):
        assert_adds_up(group)
    if context["overall"]:
        assert sum(item["count"] for item in context["rag"]) == context["overall"]["total"]
        # The trend's latest month end is where things stand now, in the same stages.
        latest = context["series"][-1]
        assert {stage: latest[stage] for stage in STAGES} == {stage: context["overall"][stage] for stage in STAGES}
        assert latest["total"] == context["overall"]["total"]
    blocked = context["blocked"]
    if blocked:  # blocked plans by what they wait on add up to the blocked plans
        assert sum(kind["count"] for kind in blocked["kinds"]) == blocked["total"]
        assert blocked["total"] == sum(1 for _ in ActionPlan.objects.visible_to(user).filter(status=S.BLOCKED)
                                       .filter(**({"organisation__slug": context["organisation"].slug}
                                                  if context["organisation"] else {})))  # fmt: skip
    if not links:
        return context["overall"]
    seen: dict[str, int] = {}
    for href, shown in number_links(response.content):
        query = urlsplit(html.unescape(href)).query
        if query in seen:
            assert seen[query] == shown, href
            continue
        seen[query] = shown
        assert list_count(client, query) == shown, href
    for query in sample(sorted(seen)) if sample else seen:
        assert csv_rows(client, query) == seen[query], query
        assert api_count(client, query) == seen[query], query
    return context["overall"]


def check_board_pack(client, user, slug: str, dashboard_overall: dict[str, Any] | None) -> None:
    client.force_login(user)
    summary = client.get(f"/organisations/{slug}/board-pack/").context["summary"]
    if dashboard_overall is None:
        assert summary is None
        return
    keys = ["total", *STAGES, "reported", "overdue", "reported_pct", "verified_pct"]
    assert {k: summary[k] for k in keys} == {k: dashboard_overall[k] for k in keys}
    for stage in summary["stages"]:
        assert list_count(client, f"organisation={slug}&stage={stage['value']}") == stage["count"]


EXAMPLES = int(os.environ.get("FIGURES_EXAMPLES", "15"))  # more for a longer hunt
EXPORT_SAMPLE = 6  # links per dashboard whose export and API count are fetched as well


@hypothesis_settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(spec=world_strategy, data=st.data())
def test_every_figure_equals_the_lists_exports_api_and_board_pack_behind_it(client, spec, data):
    def sample(queries: list[str]) -> list[str]:
        return data.draw(st.lists(st.sampled_from(queries), max_size=EXPORT_SAMPLE, unique=True)) if queries else []

    with transaction.atomic():
        cache.clear()  # a rolled-back example leaves the data version where the next one starts
        users = build(spec)
        check_role(client, users["inspector"], sample=sample)
        for slug, _ in ORGANISATIONS:
            overall = check_role(client, users["inspector"], f"?organisation={slug}", links=False)
            check_board_pack(client, users["inspector"], slug, overall)
        overall = check_role(client, users["surrey.manager"], sample=sample)
        check_board_pack(client, users["surrey.manager"], "surrey", overall)
        check_role(client, users["hampshire.staff"], sample=sample)
        check_role(client, users["nca.manager"], sample=sample)
        transaction.set_rollback(True)
    cache.clear()
