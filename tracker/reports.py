"""Pages that count and export: dashboard, CSV/XLSX exports and the board pack.

All counting happens in the database (`ActionPlanQuerySet.completion`, aggregates); exports stream
rows from an iterator so memory stays flat however many rows there are.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import TruncMonth
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.views.decorators.http import require_safe

from inspections.models import Finding, Grading, Inspection, Organisation

from . import freshness, xlsx
from .filters import DEFAULT_ORDERING, ActionPlanFilter
from .models import ActionPlan, Update, completion_counts
from .views import AuthedRequest

S = ActionPlan.Status
MATRIX_INSPECTIONS = 10
BOARD_PACK_CHANGES = 200


def pct(part: int, total: int) -> int:
    return round(100 * part / total) if total else 0


def plans_link(**params: Any) -> str:
    """A /plans/ query string that reproduces a number (status may be a list)."""
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        if value in (None, ""):
            continue
        for item in value if isinstance(value, list | tuple) else [value]:
            pairs.append((key, str(item)))
    return "/plans/?" + urlencode(pairs)


OPEN = [str(s) for s in ActionPlan.OPEN_STATUSES]
REPORTED = [str(s) for s in ActionPlan.REPORTED_COMPLETE_STATUSES]


def _cell(row: dict[str, Any], **scope: Any) -> dict[str, Any]:
    return {
        **row,
        "reported_pct": pct(row["reported"], row["total"]),
        "verified_pct": pct(row["verified"], row["total"]),
        "links": {
            "total": plans_link(**scope),
            "open": plans_link(**scope, status=OPEN),
            "reported": plans_link(**scope, status=REPORTED),
            "verified": plans_link(**scope, status="closed"),
            "overdue": plans_link(**scope, overdue=1),
        },
    }


TREND_KEYS = ("created", "reported", "verified", "ended")


def _month_deltas(
    plans: QuerySet[ActionPlan], updates: QuerySet[Update], *, since: dt.datetime | None = None,
    before: dt.datetime | None = None,
) -> dict[dt.date, dict[str, int]]:  # fmt: skip
    """Per month: plans opened, and status changes counted as flows into and out of "reported
    complete" (signed off or closed), into "verified" (closed) and into the other finished states."""
    window = Q()
    if since is not None:
        window &= Q(created_at__gte=since)
    if before is not None:
        window &= Q(created_at__lt=before)
    created = (
        plans.filter(window).annotate(month=TruncMonth("created_at")).values("month").annotate(n=Count("pk"))
        .values_list("month", "n")
    )  # fmt: skip
    flows = (
        updates.filter(window)
        .exclude(status_to="")
        .annotate(month=TruncMonth("created_at"))
        .values("month")
        .annotate(
            reported_in=Count("pk", filter=Q(status_to__in=REPORTED) & ~Q(status_from__in=REPORTED)),
            reported_out=Count("pk", filter=Q(status_from__in=REPORTED) & ~Q(status_to__in=REPORTED)),
            verified=Count("pk", filter=Q(status_to=S.CLOSED)),
            ended=Count("pk", filter=Q(status_to__in=[S.SUPERSEDED, S.NO_FURTHER_ACTION])),
        )
        .order_by("month")
    )
    deltas: dict[dt.date, dict[str, int]] = {}

    def month_of(value: Any) -> dt.date:
        return (value.date() if isinstance(value, dt.datetime) else value).replace(day=1)

    for month, n in created:
        deltas.setdefault(month_of(month), dict.fromkeys(TREND_KEYS, 0))["created"] += n
    for row in flows:
        delta = deltas.setdefault(month_of(row["month"]), dict.fromkeys(TREND_KEYS, 0))
        delta["reported"] += row["reported_in"] - row["reported_out"]
        delta["verified"] += row["verified"]
        delta["ended"] += row["ended"]
    return deltas


def trend(
    plans: QuerySet[ActionPlan], months: int = 12, *, updates: QuerySet[Update] | None = None,
    cache_key: str = "",
) -> list[dict[str, Any]]:  # fmt: skip
    """Month-end counts of open, reported complete and verified plans, from the update history.

    `updates` are the timelines of `plans` (by default found through them). Running totals of each
    month's changes give each month's position. With `cache_key`, the months before last month, which
    at national scale means reading a million updates, are computed once and kept until the history
    version moves (tracker/freshness.py: only deletions and bulk loads of past-dated rows change the
    past; the workflow dates everything now); last month and this month are read afresh each time.
    """
    if updates is None:
        updates = Update.objects.filter(plan__in=plans)
    this_month = timezone.localdate().replace(day=1)
    if cache_key:
        last_month = (this_month - dt.timedelta(days=1)).replace(day=1)
        boundary = timezone.make_aware(dt.datetime.combine(last_month, dt.time.min))
        deltas = freshness.cached_history(
            f"{cache_key}:before:{last_month.isoformat()}", lambda: _month_deltas(plans, updates, before=boundary)
        )
        deltas = {month: dict(delta) for month, delta in deltas.items()}
        for month, delta in _month_deltas(plans, updates, since=boundary).items():
            merged = deltas.setdefault(month, dict.fromkeys(TREND_KEYS, 0))
            for key, value in delta.items():
                merged[key] += value
    else:
        deltas = _month_deltas(plans, updates)
    if not deltas:
        return []
    month = this_month
    shown = []
    for _ in range(months):
        shown.append(month)
        month = (month - dt.timedelta(days=1)).replace(day=1)
    shown.reverse()
    totals = dict.fromkeys(TREND_KEYS, 0)
    pending = sorted(deltas.items())
    series = []
    for month in shown:
        while pending and pending[0][0] <= month:
            for key, value in pending.pop(0)[1].items():
                totals[key] += value
        series.append(
            {
                "month": month,
                "open": totals["created"] - totals["reported"] - totals["ended"],
                "reported": totals["reported"],
                "verified": totals["verified"],
            }
        )
    return series


def trend_svg(series: list[dict[str, Any]], width: int = 640, height: int = 220) -> dict[str, Any]:
    """Coordinates for a server-rendered SVG line chart (no JavaScript, no inline styles)."""
    left, right, top, bottom = 40, 10, 10, 30
    peak = max([1] + [max(p["open"], p["reported"], p["verified"]) for p in series])
    n = max(len(series) - 1, 1)

    def x(i: int) -> float:
        return round(left + (width - left - right) * i / n, 1)

    def y(v: int) -> float:
        return round(top + (height - top - bottom) * (1 - v / peak), 1)

    lines = {
        key: " ".join(f"{x(i)},{y(p[key])}" for i, p in enumerate(series)) for key in ("open", "reported", "verified")
    }
    labels = [{"x": x(i), "text": p["month"].strftime("%b %y")} for i, p in enumerate(series) if i % 2 == 0]
    ticks = [{"y": y(v), "value": v} for v in sorted({0, peak // 2, peak})]
    return {"width": width, "height": height, "lines": lines, "labels": labels, "ticks": ticks,
            "base": height - bottom, "left": left}  # fmt: skip


@require_safe
def dashboard(request: AuthedRequest) -> HttpResponse:
    user = request.user
    plans = ActionPlan.objects.visible_to(user)
    organisation = None
    org_slug = request.GET.get("organisation", "")
    if org_slug:
        organisation = get_object_or_404(
            Organisation.objects.filter(pk__in=plans.values("organisation_id")) if not user.sees_everything
            else Organisation.objects, slug=org_slug
        )  # fmt: skip
        plans = plans.filter(organisation=organisation)
    elif not user.sees_everything:
        organisation = user.organisation
    # Every figure below reads all of the user's plans (at national scale 100,000 plans and their
    # 1,000,000 updates), so they are computed once per data version (tracker/freshness.py), day
    # (RAG and overdue move at midnight) and scope: figures in docs/BENCHMARKS.md.
    scope = "all" if user.sees_everything else f"organisation-{user.organisation_id}"
    key = f"dashboard:{scope}:{organisation.pk if organisation else '-'}:{timezone.localdate().isoformat()}"
    context = freshness.cached(
        key, lambda: dashboard_figures(plans, organisation, sees_everything=user.sees_everything)
    )
    return render(request, "tracker/dashboard.html", {**context, "organisation": organisation})


def dashboard_figures(plans: QuerySet[ActionPlan], organisation: Organisation | None, *, sees_everything: bool
                      ) -> dict[str, Any]:  # fmt: skip
    scope = {"organisation": organisation.slug} if organisation else {}

    recent = list(
        Inspection.objects.filter(findings__action_plans__in=plans)
        .distinct()
        .order_by("-published_on", "-pk")
        .values("pk", "slug", "title")[:MATRIX_INSPECTIONS]
    )
    matrix_rows = plans.filter(finding__inspection_id__in=[i["pk"] for i in recent]).completion(
        "organisation__slug", "organisation__name", "finding__inspection__slug"
    )
    matrix: dict[str, dict[str, Any]] = {}
    for row in matrix_rows:
        org = matrix.setdefault(row["organisation__slug"], {"name": row["organisation__name"], "cells": {}})
        org["cells"][row["finding__inspection__slug"]] = _cell(
            row, organisation=row["organisation__slug"], inspection=row["finding__inspection__slug"]
        )
    grades = dict(Grading.Grade.choices)
    gradings = Grading.objects.filter(
        inspection_id__in=[i["pk"] for i in recent], organisation__slug__in=list(matrix)
    ).values_list("organisation__slug", "inspection__slug", "area", "grade")
    for org_slug, inspection_slug, area, grade in gradings.order_by("area"):
        cell = matrix[org_slug]["cells"].get(inspection_slug)
        if cell is not None:
            cell.setdefault("gradings", []).append({"area": area, "grade": grade, "label": grades.get(grade, grade)})
    matrix_table = [
        {"slug": slug, "name": org["name"], "cells": [org["cells"].get(i["slug"]) for i in recent]}
        for slug, org in sorted(matrix.items(), key=lambda item: item[1]["name"])
    ]
    by_theme = [
        _cell(row, **scope, theme=row["finding__themes__slug"])
        for row in plans.filter(finding__themes__isnull=False).completion(
            "finding__themes__slug", "finding__themes__name", distinct=True
        )
    ]
    # The headline figures, the RAG counts and the deferrals per organisation in one grouped query (no
    # join); the totals and the regions' figures are their sums.
    per_organisation = list(
        plans.with_rag()
        .values("organisation_id")
        .annotate(
            **completion_counts(),
            **{f"rag_{value}": Count("pk", filter=Q(rag_value=value)) for value in ActionPlan.Rag.values},
            deferred=Count("pk", filter=Q(deferral_count__gt=0)),
        )
        .order_by()
    )
    figures = ["total", "open", "reported", "verified", "overdue", "deferred",
               *(f"rag_{value}" for value in ActionPlan.Rag.values)]  # fmt: skip
    totals = {key: sum(row[key] for row in per_organisation) for key in figures}
    organisations = (
        list(Organisation.objects.select_related("region").only("slug", "name", "region__slug", "region__name"))
        if sees_everything
        else []
    )
    by_region = []
    if sees_everything and not organisation:  # one organisation is in one region
        region_of = {o.pk: o.region for o in organisations}
        regions: dict[str, dict[str, Any]] = {}
        for row in per_organisation:
            region = region_of.get(row["organisation_id"])
            slug, name = (region.slug, region.name) if region else ("none", "No region")
            into = regions.setdefault(slug, {"region": name, **dict.fromkeys(figures, 0)})
            for key in figures:
                into[key] += row[key]
        by_region = [
            _cell(row, **scope, region=slug)
            for slug, row in sorted(regions.items(), key=lambda item: (item[0] == "none", item[1]["region"]))
        ]
    overall = _cell(totals, **scope) if totals["total"] else None
    rag = [
        {"value": value, "label": label, "count": totals[f"rag_{value}"], "link": plans_link(**scope, rag=value)}
        for value, label in ActionPlan.Rag.choices
    ]
    deferred = totals["deferred"]
    most_deferred = list(
        plans.open().filter(deferral_count__gt=0).for_list().order_by("-deferral_count", "target_date", "pk")[:5]
    )
    # Timelines by organisation rather than `plan__in=plans` (for an inspector, every plan as a subquery).
    updates = Update.objects.filter(plan__organisation=organisation) if organisation else Update.objects.all()
    series = trend(plans, updates=updates, cache_key=f"trend:{organisation.pk if organisation else 'all'}")
    context = {
        "organisations": organisations,
        "recent": recent,
        "matrix": matrix_table,
        "by_theme": by_theme,
        "by_region": by_region,
        "overall": overall,
        "rag": rag,
        "deferred": deferred,
        "deferred_link": plans_link(**scope, deferred=1, sort="-deferrals"),
        "most_deferred": most_deferred,
        "series": series,
        "chart": trend_svg(series) if series else None,
    }
    return context


# --- exports ---------------------------------------------------------------------------------

EXPORT_HEADER = [
    "Inspection", "Reference", "Kind", "Finding", "Organisation", "Status", "RAG", "Percent complete",
    "Target date", "Original target date", "Deferrals", "Owner", "Response", "Last update", "Link",
]  # fmt: skip
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
EXPORT_CHUNK = 2000


def neutralise(value: Any) -> Any:
    """Stop a spreadsheet from running a cell as a formula (OWASP 'CSV injection')."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def export_queryset(request: AuthedRequest) -> QuerySet[ActionPlan]:
    """Exactly the plans `/plans/` shows for the same query string and user, in the same order.

    Built (and the filters checked) before the response starts, so that nothing can fail mid-stream.
    An invalid filter gives no rows, as it does on the list.
    """
    base = ActionPlan.objects.visible_to(request.user).with_rag().order_by(*DEFAULT_ORDERING)
    filterset = ActionPlanFilter(request.GET, queryset=base, user=request.user)
    return filterset.qs if filterset.is_valid() else base.none()


def export_rows(plans: QuerySet[ActionPlan]) -> Iterator[list[Any]]:
    """One list of cell values per plan, read from the database in chunks (flat memory)."""
    kinds = dict(Finding.Kind.choices)
    statuses = dict(S.choices)
    rags = dict(ActionPlan.Rag.choices)
    rows = plans.values_list(
        "finding__inspection__title", "finding__reference", "finding__kind", "finding__text", "organisation__name",
        "status", "rag_value", "percent_complete", "target_date", "original_target_date", "deferral_count",
        "owner__username", "summary", "updated_at", "pk",
    )  # fmt: skip
    for row in rows.iterator(chunk_size=EXPORT_CHUNK):
        (inspection, ref, kind, text, org, status, rag, percent, target, original, deferrals, owner, summary,
         updated, pk) = row  # fmt: skip
        yield [
            inspection, ref, kinds.get(kind, kind), text, org, statuses.get(status, status), rags.get(rag, rag),
            percent, target, original, deferrals, owner or "", summary,
            timezone.localtime(updated).replace(tzinfo=None), f"{settings.SITE_URL}/plans/{pk}/",
        ]  # fmt: skip


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_stream(rows: Iterable[list[Any]]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield "\ufeff"  # so Excel reads UTF-8
    yield writer.writerow(EXPORT_HEADER)
    for row in rows:
        yield writer.writerow(
            [neutralise(v.isoformat(sep=" ", timespec="minutes") if isinstance(v, dt.datetime) else v) for v in row]
        )


@require_safe
def export_csv(request: AuthedRequest) -> StreamingHttpResponse:
    rows = export_rows(export_queryset(request))
    response = StreamingHttpResponse(_csv_stream(rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="action-plans-{timezone.localdate():%Y-%m-%d}.csv"'
    return response


@require_safe
def export_xlsx(request: AuthedRequest) -> StreamingHttpResponse:
    """The same rows as the CSV, as a workbook streamed row by row (tracker/xlsx.py): memory stays
    flat and the first bytes leave at once, however many rows there are (figures in docs/EXPORTS.md)."""
    rows = ([neutralise(value) for value in row] for row in export_rows(export_queryset(request)))
    widths = [30, 10, 20, 60, 30, 22, 16, 10, 12, 12, 10, 16, 60, 17, 40]
    response = StreamingHttpResponse(
        xlsx.stream_workbook(EXPORT_HEADER, rows, sheet_name="Action plans", widths=widths),
        content_type=xlsx.CONTENT_TYPE,
    )
    response["Content-Disposition"] = f'attachment; filename="action-plans-{timezone.localdate():%Y-%m-%d}.xlsx"'
    return response


# --- board pack ------------------------------------------------------------------------------


@require_safe
def board_pack(request: AuthedRequest, slug: str) -> HttpResponse:
    user = request.user
    if user.sees_everything:
        organisation = get_object_or_404(Organisation, slug=slug)
    else:
        organisation = get_object_or_404(Organisation, slug=slug, pk=user.organisation_id)
    plans = ActionPlan.objects.visible_to(user).filter(organisation=organisation)
    today = timezone.localdate()
    since = parse_date(request.GET.get("since", "") or "") or (today - dt.timedelta(days=90))
    plan_rows = plans.for_list().order_by("finding__inspection__published_on", "finding__reference", "pk")
    # The latest explanation on each overdue plan: a status note (e.g. what it is blocked on), a
    # target-date reason or a progress note.
    latest_reason = (
        Update.objects.filter(
            plan=OuterRef("pk"), kind__in=[Update.Kind.STATUS, Update.Kind.TARGET_DATE, Update.Kind.PROGRESS]
        )
        .exclude(note="")
        .order_by("-created_at", "-pk")
        .values("note")[:1]
    )
    overdue = plans.overdue(today).for_list().annotate(reason=Subquery(latest_reason)).order_by("target_date", "pk")
    changes = list(
        Update.objects.filter(plan__in=plans, created_at__date__gte=since)
        .select_related("author", "plan__finding")
        .order_by("-created_at", "-pk")[: BOARD_PACK_CHANGES + 1]
    )
    gradings = Grading.objects.filter(organisation=organisation).select_related("inspection")
    totals = plans.completion_totals()
    context = {
        "organisation": organisation,
        "gradings": gradings,
        "plans": plan_rows,
        "overdue": overdue,
        "changes": changes[:BOARD_PACK_CHANGES],
        "more_changes": len(changes) > BOARD_PACK_CHANGES,
        "since": since,
        "today": today,
        "summary": _cell(totals, organisation=organisation.slug) if totals["total"] else None,
    }
    return render(request, "tracker/board_pack.html", context)
