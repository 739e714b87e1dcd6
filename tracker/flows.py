"""Month by month changes of plans, for the dashboard's trend (tracker/reports.py `trend`).

Each month's figures are plans opened and status changes (into minus out of "reported complete", into
"verified", into the other finished states), counted from the timelines. The months before last month
change only when the history version moves (tracker/freshness.py: deletions and bulk loads of
past-dated rows; the workflow dates everything it writes now). So they are counted once per history
version and month, for every organisation in one pass, and kept in the database as `MonthlyFlow` rows
(about 120 per organisation at ten years): a trend then reads those rows and the last two months'
timeline entries (by their date index), not a million entries. No write maintains the rows, so no
write waits on them.

The two months read afresh are counted with one condition per month rather than by truncating each
entry's date (which SQLite does in Python, row by row).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone

from . import freshness
from .figures import REPORTED
from .models import ActionPlan, FlowSet, MonthlyFlow, Update, count_rows

S = ActionPlan.Status
KEYS = ("created", "reported", "verified", "ended")
ENDED = [S.SUPERSEDED, S.NO_FURTHER_ACTION]


def _flow_counts(suffix: str = "", when: Q | None = None) -> dict[str, Count]:
    """Status changes counted as flows; `when` narrows each count (a month), `suffix` names them."""
    when = when or Q()
    into = Q(status_to__in=REPORTED) & ~Q(status_from__in=REPORTED)
    out = Q(status_from__in=REPORTED) & ~Q(status_to__in=REPORTED)
    return {
        # COUNT(1): the index of status changes answers these alone (`update_status_change_idx`).
        f"reported_in{suffix}": count_rows(when & into),
        f"reported_out{suffix}": count_rows(when & out),
        f"verified{suffix}": count_rows(when & Q(status_to=S.CLOSED)),
        f"ended{suffix}": count_rows(when & Q(status_to__in=ENDED)),
    }


def _delta(row: dict[str, Any], suffix: str = "") -> dict[str, int]:
    return {
        "reported": row[f"reported_in{suffix}"] - row[f"reported_out{suffix}"],
        "verified": row[f"verified{suffix}"],
        "ended": row[f"ended{suffix}"],
    }


def _start(month: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(month, dt.time.min))


def recent(plans: QuerySet[ActionPlan], updates: QuerySet[Update], months: list[dt.date]) -> dict[dt.date, dict]:
    """The changes of `months` (consecutive, the last running to now), from `plans` and their timelines
    `updates`: two queries, each reading only the rows dated since the first month (date indexes)."""
    starts = [_start(month) for month in months]
    ends = [*starts[1:], None]

    def within(start: dt.datetime, end: dt.datetime | None) -> Q:
        return Q(created_at__gte=start) & (Q(created_at__lt=end) if end else Q())

    created = plans.filter(created_at__gte=starts[0]).aggregate(
        **{
            f"n{i}": Count("pk", filter=within(start, end))
            for i, (start, end) in enumerate(zip(starts, ends, strict=True))
        }
    )
    counts: dict[str, Count] = {}
    for i, (start, end) in enumerate(zip(starts, ends, strict=True)):
        counts |= _flow_counts(f"_{i}", within(start, end))
    flows = updates.filter(created_at__gte=starts[0]).exclude(status_to="").aggregate(**counts)
    return {
        month: {"created": created[f"n{i}"] or 0, **{k: v or 0 for k, v in _delta(flows, f"_{i}").items()}}
        for i, month in enumerate(months)
    }


def past(organisation_id: int | None, before: dt.date) -> dict[dt.date, dict[str, int]]:
    """The changes of every month before `before`, of one organisation or (None) all of them, from the
    kept rows of the current history version; counted first if there are none (one pass for every
    organisation). Two queries when kept."""
    history = freshness.history_version()
    if not FlowSet.objects.filter(history=history, before=before).exists():
        build(history, before)
    rows = MonthlyFlow.objects.filter(history=history, before=before)
    if organisation_id is not None:
        rows = rows.filter(organisation_id=organisation_id)
    sums = rows.values("month").annotate(**{key: Sum(key) for key in KEYS}).order_by("month")
    return {row["month"]: {key: row[key] for key in KEYS} for row in sums}


def build(history: int, before: dt.date) -> None:
    """Count every organisation's months before `before` from the timelines and keep them (a set of
    rows, then its `FlowSet`), removing the sets of other versions. Two people asking at once count
    the same rows; the second set's rows are dropped as duplicates."""
    boundary = _start(before)
    rows: dict[tuple[int, dt.date], dict[str, int]] = {}

    def month_of(value: Any) -> dt.date:
        return (value.date() if isinstance(value, dt.datetime) else value).replace(day=1)

    def row(organisation_id: int, month: Any) -> dict[str, int]:
        return rows.setdefault((organisation_id, month_of(month)), dict.fromkeys(KEYS, 0))

    created = (
        ActionPlan.objects.filter(created_at__lt=boundary).annotate(month=TruncMonth("created_at"))
        .values("organisation_id", "month").annotate(n=Count("pk")).order_by()
    )  # fmt: skip
    for found in created:
        row(found["organisation_id"], found["month"])["created"] += found["n"]
    flows = (
        Update.objects.filter(created_at__lt=boundary).exclude(status_to="").annotate(month=TruncMonth("created_at"))
        .values("plan__organisation_id", "month").annotate(**_flow_counts()).order_by()
    )  # fmt: skip
    for found in flows:
        into = row(found["plan__organisation_id"], found["month"])
        for key, value in _delta(found).items():
            into[key] += value
    try:
        with transaction.atomic():
            MonthlyFlow.objects.bulk_create(
                [
                    MonthlyFlow(history=history, before=before, organisation_id=organisation_id, month=month, **counts)
                    for (organisation_id, month), counts in rows.items()
                ],
                batch_size=1000,
                ignore_conflicts=True,
            )
            FlowSet.objects.create(history=history, before=before)
    except IntegrityError:  # another request kept the same set first
        return
    MonthlyFlow.objects.exclude(history=history, before=before).delete()
    FlowSet.objects.exclude(history=history, before=before).delete()
