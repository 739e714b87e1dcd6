"""The indexes added for /plans/ serve its default orders: the database reads a page from the index
instead of sorting every visible plan (the measured plans and timings are in docs/BENCHMARKS.md)."""

from __future__ import annotations

import pytest
from django.db import connection

from tests.factories import ActionPlanFactory, OrganisationFactory
from tracker.filters import SORTS
from tracker.models import ActionPlan

pytestmark = pytest.mark.django_db


def plan_of(queryset) -> str:  # type: ignore[no-untyped-def]
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # With a handful of rows a sequential scan and a sort are cheaper, so the planner is told
            # to avoid them where it can: what remains shows whether an index can give the order.
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("SET LOCAL enable_sort = off")
            cursor.execute("EXPLAIN " + sql, params)
        else:
            cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
        return "\n".join(" ".join(str(cell) for cell in row) for row in cursor.fetchall())


@pytest.fixture
def plans(org):
    """One organisation's plans in the shape of a real force's (few in progress, most in other stages) beside
    another organisation's, with the table's statistics read from them (inside the test's transaction, so
    they are rolled back with it): the planner's choice depends on these rows, not on what earlier tests
    left in the statistics."""
    statuses = [
        ActionPlan.Status.IN_PROGRESS,
        *[ActionPlan.Status.NOT_STARTED] * 4,
        *[ActionPlan.Status.SIGNED_OFF] * 5,
        *[ActionPlan.Status.CLOSED] * 10,
    ]
    for status in statuses:
        ActionPlanFactory(organisation=org, status=status)
    ActionPlanFactory(organisation=org, target_date=None)
    # The others in the same shape (one in ten in progress): were they all in progress, the planner would
    # take "in progress" for a condition that keeps three plans in four, and reading the organisation's
    # target-date index with the status as a filter would cost it about the same as the index of both.
    shape = [*[ActionPlan.Status.CLOSED] * 5, *[ActionPlan.Status.NOT_STARTED] * 4, ActionPlan.Status.IN_PROGRESS]
    for _ in range(3):
        other = OrganisationFactory()
        for status in shape * 2:
            ActionPlanFactory(organisation=other, status=status)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE tracker_actionplan")


@pytest.mark.parametrize(
    ("sort", "index"), [("target_date", "actionplan_due_order_idx"), ("-target_date", "actionplan_due_desc_idx")]
)
def test_the_list_in_target_date_order_is_read_from_an_index(plans, sort, index):
    page = ActionPlan.objects.for_list().order_by(*SORTS[sort][1])[:25]
    plan = plan_of(page)
    assert index in plan, plan
    assert "TEMP B-TREE FOR ORDER BY" not in plan and "Sort " not in plan, plan


def test_one_status_in_target_date_order_is_read_from_an_index(plans):
    page = ActionPlan.objects.filter(status=ActionPlan.Status.SIGNED_OFF).order_by(*SORTS["target_date"][1])[:10]
    plan = plan_of(page)
    assert "actionplan_status_due_idx" in plan, plan
    assert "TEMP B-TREE FOR ORDER BY" not in plan and "Sort " not in plan, plan


@pytest.mark.parametrize(
    ("filters", "index"),
    [({}, "actionplan_org_due_idx"), ({"status": ActionPlan.Status.IN_PROGRESS}, "actionplan_org_status_due_idx")],
)
def test_one_organisations_list_is_read_from_an_index(plans, org, filters, index):
    page = ActionPlan.objects.filter(organisation=org, **filters).for_list().order_by(*SORTS["target_date"][1])[:25]
    plan = plan_of(page)
    assert index in plan, plan
    assert "TEMP B-TREE FOR ORDER BY" not in plan and "Sort " not in plan, plan
