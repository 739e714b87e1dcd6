"""RAG is derived, never typed (DESIGN section 4): the Python rule and the database rule agree."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from tests.factories import ActionPlanFactory
from tracker.models import ActionPlan

S = ActionPlan.Status
R = ActionPlan.Rag
TODAY = dt.date(2025, 6, 16)
NO_DATE = None

pytestmark = pytest.mark.django_db

# (status, target date as days from TODAY or None, percent complete, expected RAG)
CASES = [
    # Past the target date and not yet signed off: red, whatever the percent.
    (S.IN_PROGRESS, -1, 20, R.RED),
    (S.IN_PROGRESS, -1, 100, R.RED),
    (S.IN_PROGRESS, -400, 0, R.RED),
    (S.NOT_STARTED, -1, 0, R.RED),
    (S.BLOCKED, -1, 20, R.RED),
    (S.SUBMITTED, -1, 100, R.RED),
    # Due today up to 30 days out and under 75%: amber; 75% or more: green.
    (S.IN_PROGRESS, 0, 20, R.AMBER),
    (S.IN_PROGRESS, 0, 74, R.AMBER),
    (S.IN_PROGRESS, 0, 75, R.GREEN),
    (S.IN_PROGRESS, 30, 74, R.AMBER),
    (S.IN_PROGRESS, 30, 75, R.GREEN),
    (S.NOT_STARTED, 0, 0, R.AMBER),
    (S.NOT_STARTED, 30, 0, R.AMBER),
    (S.SUBMITTED, 10, 74, R.AMBER),
    (S.SUBMITTED, 10, 75, R.GREEN),
    # More than 30 days out: green, however little is done.
    (S.IN_PROGRESS, 31, 0, R.GREEN),
    (S.IN_PROGRESS, 31, 74, R.GREEN),
    (S.NOT_STARTED, 31, 0, R.GREEN),
    (S.SUBMITTED, 31, 0, R.GREEN),
    # Blocked is amber even when far off or nearly done; overdue beats it.
    (S.BLOCKED, 0, 100, R.AMBER),
    (S.BLOCKED, 31, 100, R.AMBER),
    (S.BLOCKED, 365, 0, R.AMBER),
    (S.BLOCKED, NO_DATE, 0, R.AMBER),
    # Signed off by the force: never red, even past the date.
    (S.SIGNED_OFF, -1, 100, R.GREEN),
    (S.SIGNED_OFF, -400, 100, R.GREEN),
    (S.SIGNED_OFF, 0, 100, R.GREEN),
    (S.SIGNED_OFF, 31, 100, R.GREEN),
    # Finished: grey, whatever the date or percent.
    *[(status, offset, 0, R.GREY) for status in ActionPlan.TERMINAL_STATUSES for offset in (-1, 0, 30, 31)],
    # No target date: nothing can be overdue or due soon.
    (S.NOT_STARTED, NO_DATE, 0, R.GREEN),
    (S.IN_PROGRESS, NO_DATE, 0, R.GREEN),
    (S.SUBMITTED, NO_DATE, 0, R.GREEN),
    (S.SIGNED_OFF, NO_DATE, 100, R.GREEN),
    *[(status, NO_DATE, 0, R.GREY) for status in ActionPlan.TERMINAL_STATUSES],
    # A proposal of no action stays with the force until the inspectorate decides: dated like work in progress.
    (S.NO_ACTION_PROPOSED, -1, 20, R.RED),
    (S.NO_ACTION_ACCEPTED, -1, 20, R.RED),
    (S.NO_ACTION_PROPOSED, 10, 20, R.AMBER),
    (S.NO_ACTION_ACCEPTED, 10, 75, R.GREEN),
    (S.NO_ACTION_ACCEPTED, 31, 0, R.GREEN),
    (S.NO_ACTION_PROPOSED, NO_DATE, 0, R.GREEN),
]


def case_id(status: str, offset: int | None, percent: int, expected: str) -> str:
    when = "no-date" if offset is None else f"today{offset:+d}"
    return f"{status}-{when}-{percent}%-{expected}"


@pytest.mark.parametrize(
    ("status", "offset", "percent", "expected"), [pytest.param(*c, id=case_id(*c)) for c in CASES]
)
def test_the_python_rule_and_the_database_rule_agree(status, offset, percent, expected):
    target = None if offset is None else TODAY + dt.timedelta(days=offset)
    plan = ActionPlanFactory(status=status, target_date=target, original_target_date=target, percent_complete=percent)

    annotated = ActionPlan.objects.with_rag(TODAY).get(pk=plan.pk).rag_value

    assert plan.rag_on(TODAY) == expected
    assert annotated == expected


def test_the_cases_cover_every_status():
    assert {status for status, *_ in CASES} == set(S)


def test_the_rules_agree_over_a_whole_list_across_the_boundaries():
    """Every status, every boundary date and percent, read back in one query."""
    plans = [
        ActionPlanFactory(
            status=status,
            target_date=None if offset is None else TODAY + dt.timedelta(days=offset),
            percent_complete=percent,
        )
        for status in S
        for offset in (None, -31, -1, 0, 1, 29, 30, 31, 60)
        for percent in (0, 74, 75, 100)
    ]
    annotated = dict(ActionPlan.objects.with_rag(TODAY).values_list("pk", "rag_value"))
    assert {plan.pk: plan.rag_on(TODAY) for plan in plans} == annotated


def test_the_rag_property_prefers_the_annotation():
    today = timezone.localdate()
    plan = ActionPlanFactory(status=S.IN_PROGRESS, target_date=today - dt.timedelta(days=1), percent_complete=80)
    as_of_earlier_day = ActionPlan.objects.with_rag(today - dt.timedelta(days=10)).get(pk=plan.pk)
    assert plan.rag == R.RED  # against the real calendar the target date has passed
    assert as_of_earlier_day.rag == R.GREEN
    assert as_of_earlier_day.get_rag_display() == R.GREEN.label
