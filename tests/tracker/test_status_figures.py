"""The counts per organisation and status (`ActionPlanQuerySet.status_figures("organisation_id")`), which
PostgreSQL counts organisation by organisation (a lateral join), are those of one grouping of every plan
by organisation and status, for every plan, one organisation's and none."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.factories import ActionPlanFactory, OrganisationFactory
from tracker.models import ActionPlan, fold_status_counts, status_counts

pytestmark = pytest.mark.django_db


def grouped(plans, today: dt.date):  # type: ignore[no-untyped-def]
    """The same figures from one grouping by organisation and status."""
    rows = (
        plans.values("organisation_id", "status")
        .annotate(**status_counts(today))
        .order_by("organisation_id", "status")
    )
    return fold_status_counts(rows, ("organisation_id",), today)


@pytest.fixture
def plans():  # type: ignore[no-untyped-def]
    today = timezone.localdate()
    organisations = [OrganisationFactory() for _ in range(3)]
    OrganisationFactory()  # without plans: no figures
    dates = [None, today - dt.timedelta(days=3), today, today + dt.timedelta(days=10), today + dt.timedelta(days=90)]
    cases = itertools.product(ActionPlan.Status.values, dates, [0, 90], [0, 2])
    for i, (status, target_date, percent, deferrals) in enumerate(cases):
        ActionPlanFactory(
            organisation=organisations[i % 2],  # the third has none either
            status=status,
            target_date=target_date,
            original_target_date=target_date,
            percent_complete=percent,
            deferral_count=deferrals,
        )
    return organisations


def test_every_plans_figures_per_organisation_are_those_of_one_grouping(plans):
    today = timezone.localdate()
    everything = ActionPlan.objects.all()
    with CaptureQueriesContext(connection) as queries:
        figures = everything.status_figures("organisation_id")
    assert len(queries) == 1
    assert figures == grouped(everything, today)
    assert [row["organisation_id"] for row in figures] == sorted(o.pk for o in plans[:2])
    assert sum(row["total"] for row in figures) == everything.count()


def test_one_organisations_figures_and_none(plans):
    today = timezone.localdate()
    one = ActionPlan.objects.filter(organisation=plans[1])
    assert one.status_figures("organisation_id") == grouped(one, today)
    assert [row["organisation_id"] for row in one.status_figures("organisation_id")] == [plans[1].pk]
    assert ActionPlan.objects.filter(organisation=plans[2]).status_figures("organisation_id") == []
    assert ActionPlan.objects.none().status_figures("organisation_id") == []
