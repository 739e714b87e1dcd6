"""Each rule has one home: "overdue", "due soon" and "unowned" are conditions in tracker.models that the
plans' own methods repeat for one plan (tested here to agree); role checks are functions of
tracker.permissions (templates ask `may`); and the import graph keeps its layers: no cycle through
tracker.models and tracker.workflow, and the API, reports and imports do not import tracker.views."""

from __future__ import annotations

import ast
import datetime as dt
import re
from pathlib import Path

import pytest
from django.utils import timezone

from tests.factories import ActionPlanFactory, StaffFactory
from tracker.models import ActionPlan, due_soon, milestone_overdue, overdue, unowned

pytestmark = pytest.mark.django_db
S = ActionPlan.Status
ROOT = Path(__file__).resolve().parents[2]
OFFSETS = [None, -400, -1, 0, 1, 29, 30, 31]


def test_overdue_and_due_soon_for_one_plan_agree_with_the_database(org):
    today = timezone.localdate()
    plans = [
        ActionPlanFactory(organisation=org, status=status, target_date=None if d is None else today + dt.timedelta(d))
        for status in S
        for d in OFFSETS
    ]
    ids = [p.pk for p in plans]
    in_database = set(ActionPlan.objects.filter(overdue(today), pk__in=ids).values_list("pk", flat=True))
    assert in_database == {p.pk for p in plans if p.is_overdue_on(today)}
    assert in_database == set(ActionPlan.objects.filter(pk__in=ids).overdue(today).values_list("pk", flat=True))
    assert in_database  # the cases hold some of each
    soon = set(ActionPlan.objects.filter(due_soon(30, today), pk__in=ids).values_list("pk", flat=True))
    assert soon == {p.pk for p in plans if p.is_due_soon_on(today, 30)} and soon


def test_milestone_overdue_for_one_plan_agrees_with_the_database_and_the_rag(org):
    today = timezone.localdate()
    plans = [
        ActionPlanFactory(organisation=org, status=status, target_date=today + dt.timedelta(200))
        for status in S
        for _ in OFFSETS
    ]
    for plan, d in zip(plans, OFFSETS * len(S), strict=True):
        plan.next_milestone_date = None if d is None else today + dt.timedelta(d)
    ActionPlan.objects.bulk_update(plans, ["next_milestone_date"])
    ids = [p.pk for p in plans]
    in_database = set(ActionPlan.objects.filter(milestone_overdue(today), pk__in=ids).values_list("pk", flat=True))
    assert in_database == {p.pk for p in plans if p.has_milestone_overdue_on(today)} and in_database
    assert in_database == set(
        ActionPlan.objects.filter(pk__in=ids).milestone_overdue(today).values_list("pk", flat=True)
    )
    rag = dict(ActionPlan.objects.filter(pk__in=ids).with_rag(today).values_list("pk", "rag_value"))
    assert rag == {p.pk: p.rag_on(today) for p in plans}
    assert all(rag[pk] == ActionPlan.Rag.AMBER for pk in in_database)


def test_unowned_for_one_plan_agrees_with_the_database(org, other_org):
    mine = StaffFactory(organisation=org)
    left = StaffFactory(organisation=org, is_active=False)
    elsewhere = StaffFactory(organisation=other_org)
    plans = {
        "nobody": ActionPlanFactory(organisation=org, owner=None),
        "member": ActionPlanFactory(organisation=org, owner=mine),
        "deactivated": ActionPlanFactory(organisation=org, owner=left),
        "another organisation's": ActionPlanFactory(organisation=org, owner=elsewhere),
    }
    ActionPlan.objects.filter(pk=plans["deactivated"].pk).update(owner=left)  # as loaded in bulk
    ActionPlan.objects.filter(pk=plans["another organisation's"].pk).update(owner=elsewhere)
    read = {name: ActionPlan.objects.select_related("owner").get(pk=plan.pk) for name, plan in plans.items()}
    in_database = set(
        ActionPlan.objects.filter(unowned(), pk__in=[p.pk for p in plans.values()]).values_list("pk", flat=True)
    )
    assert in_database == {plan.pk for plan in read.values() if plan.active_owner is None}
    assert {name for name, plan in read.items() if plan.active_owner is None} == {
        "nobody",
        "deactivated",
        "another organisation's",
    }
    assert read["member"].active_owner == mine


# --- each rule stated once ---------------------------------------------------------------------------


def _sources(*folders: str, suffixes: tuple[str, ...] = (".py", ".html")) -> dict[str, str]:
    return {
        str(path.relative_to(ROOT)): path.read_text()
        for folder in folders
        for path in sorted((ROOT / folder).rglob("*"))
        if path.suffix in suffixes and "migrations" not in path.parts
    }


@pytest.mark.parametrize(
    ("pattern", "home"),
    [
        (r"OVERDUE_STATUSES", "tracker/models.py"),  # what "overdue" and "due soon" are made of
        (r"target_date__lt\b", "tracker/models.py"),
        (r"next_milestone_date__lt\b", "tracker/models.py"),  # what "a milestone overdue" is made of
        (r"owner__is_active|owner\.is_active %\}", "tracker/models.py"),  # what "unowned" is made of
    ],
)
def test_the_parts_of_each_rule_appear_only_in_its_home(pattern, home):
    found = {
        name for name, text in _sources("tracker", "templates", "inspections").items() if re.search(pattern, text)
    }
    assert found == {home}


ROLE_CHECKS = re.compile(r"\.role\b|Role\.(STAFF|MANAGER|INSPECTOR)|sees_everything|is_superuser|is_inspector")


@pytest.mark.parametrize(
    "name",
    [
        "tracker/views.py",
        "tracker/reports.py",
        "tracker/reminders.py",
        "tracker/filters.py",
        "tracker/forms.py",
        "tracker/middleware.py",
    ],
)
def test_pages_reports_and_digests_ask_permissions_rather_than_check_roles(name):
    assert not ROLE_CHECKS.search((ROOT / name).read_text())


def test_templates_ask_permission_flags_rather_than_check_roles():
    found = {name for name, text in _sources("templates", suffixes=(".html",)).items() if ROLE_CHECKS.search(text)}
    assert found == set()


# --- the import graph ------------------------------------------------------------------------------


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(*packages: str) -> dict[str, set[str]]:
    """Each first-party module and the first-party modules it imports, anywhere in it (a function's own
    import counts as much as one at the top)."""
    graph: dict[str, set[str]] = {}
    for package in packages:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            module = _module(path)
            package_of = module if path.name == "__init__.py" else module.rpartition(".")[0]
            edges = graph.setdefault(module, set())
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom):
                    base = node.module or ""
                    if node.level:
                        anchor = package_of.split(".")[: len(package_of.split(".")) - node.level + 1]
                        base = ".".join([*anchor, base] if base else anchor)
                    names = [base, *(f"{base}.{alias.name}" for alias in node.names)]
                else:
                    continue
                edges.update(name for name in names if name.split(".")[0] in packages)
    return {module: {e for e in edges if e in graph} for module, edges in graph.items()}


def reaches(graph: dict[str, set[str]], start: str, goal: str) -> list[str] | None:
    """A chain of imports from `start` to `goal`, or None."""
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for module in frontier:
            for other in sorted(graph.get(module, ())):
                if other not in paths:
                    paths[other] = [*paths[module], other]
                    following.append(other)
        frontier = following
    return paths.get(goal)


GRAPH = import_graph("tracker", "inspections", "devdata")


def test_the_graph_sees_imports_at_the_top_and_inside_functions():
    assert "tracker.models" in GRAPH["tracker.workflow"]
    assert "tracker.models" in GRAPH["tracker.permissions"]  # imported inside its functions


def test_no_import_cycle_runs_through_the_models_and_the_workflow():
    assert reaches(GRAPH, "tracker.workflow", "tracker.models")
    assert reaches(GRAPH, "tracker.models", "tracker.workflow") is None, reaches(
        GRAPH, "tracker.models", "tracker.workflow"
    )
    assert reaches(GRAPH, "tracker.models", "tracker.actions") is None


@pytest.mark.parametrize(
    "module",
    sorted(
        m
        for m in GRAPH
        if m.startswith(("tracker.api", "tracker.imports")) or m in {"tracker.reports", "tracker.accounts"}
    ),
)
def test_the_api_reports_and_imports_do_not_import_the_pages(module):
    assert "tracker.views" not in GRAPH[module]


def test_the_visibility_rule_has_one_home_for_plans_and_milestones():
    from tracker import models

    # One method, reached by both querysets; no other queryset of the models asks the rule's function.
    assert models.ActionPlanQuerySet.visible_to is models.MilestoneQuerySet.visible_to
    tree = ast.parse((ROOT / "tracker" / "models.py").read_text())
    asking = {
        cls.name
        for cls in tree.body
        if isinstance(cls, ast.ClassDef) and cls.name.endswith("QuerySet")
        for node in ast.walk(cls)
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "visible_organisation"
    }
    assert asking == {"VisibleQuerySet"}


@pytest.mark.parametrize("who", ["staff", "manager", "other_staff", "inspector", "admin_user", "anonymous"])
def test_the_milestones_a_user_sees_are_those_of_the_plans_they_see(request, org, other_org, who):
    from django.contrib.auth.models import AnonymousUser

    from tests.factories import MilestoneFactory
    from tracker.models import Milestone

    for organisation in (org, other_org):
        for plan in ActionPlanFactory.create_batch(2, organisation=organisation):
            MilestoneFactory.create_batch(2, plan=plan)
    user = AnonymousUser() if who == "anonymous" else request.getfixturevalue(who)
    seen = set(Milestone.objects.visible_to(user).values_list("pk", flat=True))
    assert seen == set(
        Milestone.objects.filter(plan__in=ActionPlan.objects.visible_to(user)).values_list("pk", flat=True)
    )
    assert len(seen) == {"anonymous": 0, "inspector": 8, "admin_user": 8}.get(who, 4)
