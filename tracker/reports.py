"""Pages that count and export: dashboard, CSV/XLSX exports and the board pack (HTML and PDF: tracker/papers.py).

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
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.db.models import BooleanField, Count, Exists, ExpressionWrapper, F, OuterRef, Q, QuerySet
from django.db.models.functions import TruncMonth
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_safe

from inspections.models import Finding, Grading, Inspection, Organisation, Theme, heading_of

from . import flows, forms, freshness, markup, papers, permissions, xlsx
from .figures import REPORTED, REPORTED_STAGES, STAGES, Stage, cell, pct, plans_link
from .filters import DEFAULT_ORDERING, ActionPlanFilter
from .finding_links import repeat_labels
from .http import AuthedRequest, bad_query
from .models import (
    ActionPlan,
    Dependency,
    Milestone,
    OrganisationSettings,
    SuccessMeasure,
    Update,
    attach_dependencies,
    count_rows,
    overdue_milestone,
    repeat_expression,
    stage_rule,
)
from .models import overdue as overdue_rule

S = ActionPlan.Status
MATRIX_INSPECTIONS = 10


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
    cache_key: str = "", scope: str | None = None, kept: bool = False, organisation: Organisation | None = None,
) -> list[dict[str, Any]]:  # fmt: skip
    """Month-end counts of plans in each stage (keyed by the stage's value) and in all, from the update
    history: the stages add up to the total each month.

    `updates` are the timelines of `plans` (by default found through them). Running totals of each
    month's changes give each month's position. With `cache_key` (and the `scope` the plans were
    chosen by, `permissions.plan_scope`), the months before last month, which
    at national scale means reading a million updates, are computed once and kept until the history
    version moves (tracker/freshness.py: only deletions and bulk loads of past-dated rows change the
    past; the workflow dates everything now); last month and this month are read afresh each time.
    With `kept`, for `plans` that are every plan or one `organisation`'s, those months come from the
    rows kept in the database (tracker/flows.py) instead, which outlast the cache.
    """
    if updates is None:
        updates = Update.objects.filter(plan__in=plans)
    if cache_key and not scope:
        raise ValueError("A cached trend needs the scope (permissions.plan_scope) its figures are computed for.")
    this_month = timezone.localdate().replace(day=1)
    if kept:
        last_month = (this_month - dt.timedelta(days=1)).replace(day=1)
        deltas = flows.past(organisation.pk if organisation else None, last_month)
        for month, delta in flows.recent(plans, updates, [last_month, this_month]).items():
            merged = deltas.setdefault(month, dict.fromkeys(TREND_KEYS, 0))
            for key, value in delta.items():
                merged[key] += value
        deltas = {month: delta for month, delta in deltas.items() if any(delta.values())}
    elif cache_key:
        last_month = (this_month - dt.timedelta(days=1)).replace(day=1)
        boundary = timezone.make_aware(dt.datetime.combine(last_month, dt.time.min))
        deltas = freshness.cached_history(
            scope,
            f"{cache_key}:before:{last_month.isoformat()}",
            lambda: _month_deltas(plans, updates, before=boundary),
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
                "total": totals["created"],
                str(Stage.WITH_FORCE): totals["created"] - totals["reported"] - totals["ended"],
                str(Stage.AWAITING_VERIFICATION): totals["reported"] - totals["verified"],
                str(Stage.VERIFIED): totals["verified"],
                str(Stage.ENDED): totals["ended"],
            }
        )
    return series


def trend_svg(series: list[dict[str, Any]], width: int = 640, height: int = 220) -> dict[str, Any]:
    """Coordinates for a server-rendered SVG line chart (no JavaScript, no inline styles)."""
    left, right, top, bottom = 40, 10, 10, 30
    lines_of = (Stage.WITH_FORCE, Stage.AWAITING_VERIFICATION, Stage.VERIFIED)
    peak = max([1] + [max(p[key] for key in lines_of) for p in series])
    n = max(len(series) - 1, 1)

    def x(i: int) -> float:
        return round(left + (width - left - right) * i / n, 1)

    def y(v: int) -> float:
        return round(top + (height - top - bottom) * (1 - v / peak), 1)

    lines = {str(key): " ".join(f"{x(i)},{y(p[key])}" for i, p in enumerate(series)) for key in lines_of}
    labels = [{"x": x(i), "text": p["month"].strftime("%b %y")} for i, p in enumerate(series) if i % 2 == 0]
    ticks = [{"y": y(v), "value": v} for v in sorted({0, peak // 2, peak})]
    return {"width": width, "height": height, "lines": lines, "labels": labels, "ticks": ticks,
            "base": height - bottom, "left": left}  # fmt: skip


@require_safe
def dashboard(request: AuthedRequest) -> HttpResponse:
    user = request.user
    scope = permissions.plan_scope(user)
    if scope is None:  # may see nothing: signed out by tracker.middleware, refused here too
        raise PermissionDenied
    form = forms.DashboardForm(request.GET)
    if not form.is_valid():
        return bad_query(request, form)
    plans = ActionPlan.objects.visible_to(user)
    every_organisation = permissions.sees_every_organisation(user)
    organisation = None
    org_slug = form.cleaned_data["organisation"]
    if org_slug:
        choices = (
            Organisation.objects
            if every_organisation
            else Organisation.objects.filter(pk__in=plans.values("organisation_id"))
        )
        organisation = get_object_or_404(choices, slug=org_slug)
        plans = plans.filter(organisation=organisation)
    elif not every_organisation:
        organisation = user.organisation
    # Every figure below reads all of the user's plans (at national scale 100,000 plans and their
    # 1,000,000 updates), so they are computed once per data version (tracker/freshness.py), day
    # (RAG and overdue move at midnight) and scope: figures in docs/BENCHMARKS.md.
    key = f"dashboard:{organisation.pk if organisation else '-'}:{timezone.localdate().isoformat()}"
    context = freshness.cached(
        scope,
        key,
        lambda: {
            **dashboard_figures(
                plans, organisation, every_organisation=every_organisation, cache_scope=scope, viewer=user
            ),
            # Whether to link to the organisation's public page: its settings move its data version too.
            "public_page": organisation is not None
            and OrganisationSettings.objects.filter(organisation=organisation, public_progress=True).exists(),
        },
    )
    # Organisations by name, or by risk: most overdue first (then by name).
    order = "risk" if request.GET.get("order") == "risk" else "name"
    if order == "risk":
        context = {**context, "matrix": sorted(context["matrix"], key=lambda row: (-row["overdue"], row["name"]))}
    manages = organisation is not None and permissions.can_manage_organisation(user, organisation.pk)
    context = {**context, "organisation": organisation, "order": order, "can_manage_organisation": manages}
    return render(request, "tracker/dashboard.html", context)


def dashboard_figures(plans: QuerySet[ActionPlan], organisation: Organisation | None, *, every_organisation: bool,
                      cache_scope: str, viewer: Any) -> dict[str, Any]:  # fmt: skip
    scope = {"organisation": organisation.slug} if organisation else {}

    # Newest first, each checked for a visible plan until ten are found (no join of every plan).
    recent = list(
        Inspection.objects.filter(Exists(plans.filter(finding__inspection=OuterRef("pk"))))
        .order_by("-published_on", "-pk")
        .values("pk", "slug", "title", "published_on")[:MATRIX_INSPECTIONS]
    )
    for inspection in recent:
        inspection["heading"] = heading_of(inspection["title"])
    # Headings must tell the columns apart: two alike get their year of publication.
    headings = [inspection["heading"] for inspection in recent]
    for inspection in recent:
        if headings.count(inspection["heading"]) > 1 and inspection["published_on"]:
            inspection["heading"] += f" ({inspection['published_on'].year})"
    matrix_rows = plans.filter(finding__inspection_id__in=[i["pk"] for i in recent]).completion(
        "organisation__slug", "organisation__name", "finding__inspection__slug"
    )
    matrix: dict[str, dict[str, Any]] = {}
    for row in matrix_rows:
        org = matrix.setdefault(row["organisation__slug"], {"name": row["organisation__name"], "cells": {}})
        org["cells"][row["finding__inspection__slug"]] = cell(
            row, organisation=row["organisation__slug"], inspection=row["finding__inspection__slug"]
        )
    grades = dict(Grading.Grade.choices)
    gradings = Grading.objects.filter(
        inspection_id__in=[i["pk"] for i in recent], organisation__slug__in=list(matrix)
    ).values_list("organisation__slug", "inspection__slug", "area", "grade")
    for org_slug, inspection_slug, area, grade in gradings.order_by("area"):
        found = matrix[org_slug]["cells"].get(inspection_slug)
        if found is not None:
            found.setdefault("gradings", []).append({"area": area, "grade": grade, "label": grades.get(grade, grade)})
    matrix_table = [
        {
            "slug": slug,
            "name": org["name"],
            "cells": [org["cells"].get(i["slug"]) for i in recent],
            "overdue": sum(cell["overdue"] for cell in org["cells"].values()),
        }  # fmt: skip
        for slug, org in sorted(matrix.items(), key=lambda item: item[1]["name"])
    ]
    for row in matrix_table:  # written once here (and kept with the figures), not cell by cell in the template
        row["html"] = markup.matrix_row(row)
    by_theme = [cell(row, **scope, theme=row["finding__themes__slug"]) for row in theme_figures(plans)]
    # The headline figures, the RAG counts and the deferrals per organisation in one grouped query (no
    # join, read from the index actionplan_org_figures_idx alone); the totals and the regions' figures
    # are their sums.
    per_organisation = plans.status_figures("organisation_id")
    figures = ["total", *STAGES, "reported", "overdue", "deferred", "deferred_with_force",
               *(f"rag_{value}" for value in ActionPlan.Rag.values)]  # fmt: skip
    totals = {key: sum(row[key] for row in per_organisation) for key in figures}
    # Rows rather than model instances: the figures are pickled into the cache whole.
    organisations = (
        list(Organisation.objects.values("pk", "slug", "name", "region__slug", "region__name"))
        if every_organisation
        else []
    )
    by_region = []
    if every_organisation and not organisation:  # one organisation is in one region
        region_of = {o["pk"]: o for o in organisations}
        regions: dict[str, dict[str, Any]] = {}
        for row in per_organisation:
            found = region_of.get(row["organisation_id"])
            if found is not None and found["region__slug"] is not None:
                slug, name = found["region__slug"], found["region__name"]
            else:
                slug, name = "none", "No region"
            into = regions.setdefault(slug, {"region": name, **dict.fromkeys(figures, 0)})
            for key in figures:
                into[key] += row[key]
        by_region = [
            cell(row, **scope, region=slug)
            for slug, row in sorted(regions.items(), key=lambda item: (item[0] == "none", item[1]["region"]))
        ]
    overall = cell(totals, **scope) if totals["total"] else None
    rag = [
        {"value": value, "label": label, "count": totals[f"rag_{value}"], "link": plans_link(**scope, rag=value)}
        for value, label in ActionPlan.Rag.choices
    ]
    deferred = totals["deferred"]
    most_deferred = list(
        plans.in_stage(Stage.WITH_FORCE)
        .filter(deferral_count__gt=0)
        .for_list()
        .with_date_reason()
        .order_by("-deferral_count", "target_date", "pk")[:5]
    )
    # Timelines by organisation rather than `plan__in=plans` (for an inspector, every plan as a subquery).
    updates = Update.objects.filter(plan__organisation=organisation) if organisation else Update.objects.all()
    series = trend(plans, updates=updates, kept=True, organisation=organisation)
    repeats = repeat_figures(plans, scope, per_organisation, by_theme)
    context = {
        "blocked": blocked_figures(plans, scope, viewer),
        "repeats": repeats,
        "organisations": organisations,
        "recent": recent,
        "matrix": matrix_table,
        "by_theme": by_theme,
        "by_region": by_region,
        "overall": overall,
        "rag": rag,
        "deferred": deferred,
        "deferred_link": plans_link(**scope, deferred=1, sort="-deferrals"),
        "most_deferred_link": plans_link(**scope, stage=Stage.WITH_FORCE, deferred=1, sort="-deferrals"),
        "most_deferred": most_deferred,
        "deferred_with_force": totals["deferred_with_force"],
        "series": series,
        "chart": trend_svg(series) if series else None,
    }
    return context


BLOCKED_SHOWN = 5  # blocked plans listed on the dashboard, longest blocked first


def blocked_figures(plans: QuerySet[ActionPlan], scope: dict[str, Any], viewer: Any) -> dict[str, Any] | None:
    """Blocked plans by what they wait on (`Dependency.Kind`, or nothing recorded), each count linked to the
    /plans/ list of exactly those plans (`waiting_on`), adding up to the blocked total; and the plans
    blocked longest, with what each waits on in words the viewer may read (the figures are kept per
    scope, and everyone of a scope may see the same plans)."""
    blocked = plans.filter(status=ActionPlan.Status.BLOCKED)
    counts = dict(blocked.order_by().values_list("dependency__kind").annotate(n=Count("pk")))
    total = sum(counts.values())
    if not total:
        return None
    kinds = [*Dependency.Kind.choices, (Dependency.UNRECORDED, "Nothing recorded")]
    rows = [
        {"label": label, "count": counts.get(None if value == Dependency.UNRECORDED else value, 0),
         "link": plans_link(**scope, waiting_on=value)}
        for value, label in kinds
    ]  # fmt: skip
    # The five chosen first, in a subquery, and only they given the list's columns: ordering every blocked
    # plan (3,455 at national scale) with those columns computed each (RAG, recurrence, dates brought
    # forward) cost SQLite 14 ms of the inspector's dashboard.
    order = (F("dependency__since").asc(nulls_last=True), "pk")
    first = blocked.order_by(*order).values("pk")[:BLOCKED_SHOWN]
    longest = blocked.for_list().filter(pk__in=first).order_by(*order)
    return {
        "total": total,
        "link": plans_link(**scope, status=ActionPlan.Status.BLOCKED),
        "kinds": [row for row in rows if row["count"]],
        "longest": attach_dependencies(longest, viewer),
    }


SLUG, NAME = "finding__themes__slug", "finding__themes__name"  # as `completion` would name them


def theme_figures(plans: QuerySet[ActionPlan]) -> list[dict[str, Any]]:
    """The figures of `completion_counts` per theme (with its slug and name, keyed as `completion`
    would key them), in the order of the themes' slugs.

    The plans are counted per finding first (all, those of each stage but the one with the most
    statuses, which is what remains, and the overdue: with the force and past the target date), from
    an index alone and in its order; those 8,000 rows at national scale are then joined to the
    findings' themes and summed per theme id, and the themes' names joined to the twelve sums. A
    finding has each theme once, so no plan counts twice in a theme and no COUNT(DISTINCT) is needed.
    (Joining every plan to its themes and grouping that cost several times more; a count per stage,
    each testing its list of statuses for each of 100,000 plans, and grouping the joined rows by the
    themes' names, cost PostgreSQL 52 ms of processor against 30 ms, SQLite 44 against 32, with
    `count_rows`.) Each stage is tested by `stage_rule`, the overdue by `overdue(by_stage=True)`.
    """
    today = timezone.localdate()
    stages = {str(stage): statuses for stage, statuses in ActionPlan.STAGE_STATUSES.items()}
    rest = max(stages, key=lambda stage: len(stages[stage]))  # the stage counted as what remains
    counted = [stage for stage in stages if stage != rest]
    per_finding = (
        plans.order_by()
        .values("finding_id")
        .annotate(
            all_plans=count_rows(),
            **{stage: count_rows(stage_rule(ActionPlan.Stage(stage))) for stage in counted},
            overdue=count_rows(overdue_rule(today, by_stage=True)),
        )
    )
    inner, params = per_finding.query.sql_with_params()
    q = connection.ops.quote_name
    names = ["all_plans", *counted, "overdue"]
    sums = ", ".join(f"SUM(s.{q(name)}) AS {q(name)}" for name in names)
    sql = (
        f"SELECT t.{q('slug')}, t.{q('name')}, {', '.join(f'g.{q(name)}' for name in names)} FROM ("
        f"SELECT ft.{q('theme_id')} AS {q('theme_id')}, {sums} FROM ({inner}) s "
        f"INNER JOIN {q(Finding.themes.through._meta.db_table)} ft ON ft.{q('finding_id')} = s.{q('finding_id')} "
        f"GROUP BY ft.{q('theme_id')}) g INNER JOIN {q(Theme._meta.db_table)} t ON t.{q('id')} = g.{q('theme_id')} "
        f"ORDER BY 1, 2"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        found = cursor.fetchall()
    rows = []
    for slug, name, *values in found:
        figures = dict(zip(names, (int(value) for value in values), strict=True))  # PostgreSQL's SUM: numeric
        total = figures.pop("all_plans")
        row = {SLUG: slug, NAME: name, **{stage: figures.get(stage, 0) for stage in stages}}
        row[rest] = total - sum(figures[stage] for stage in counted)
        row["overdue"] = figures["overdue"]
        row["total"] = total
        row["reported"] = sum(row[stage] for stage in REPORTED_STAGES)
        rows.append(row)
    return rows


def repeat_figures(
    plans: QuerySet[ActionPlan], scope: dict[str, Any], per_organisation: list[dict[str, Any]],
    by_theme: list[dict[str, Any]],
) -> dict[str, Any] | None:  # fmt: skip
    """Repeats and recurrences (ActionPlan.objects.repeats()/recurrences()) per organisation and theme, each
    with the share of that organisation's or theme's plans (the repeat rate), every count linked to the
    /plans/ list that shows exactly those plans."""
    recurrence = Q(repeat_expression(closed=True))
    counts = {"repeats": Count("pk"), "recurrences": Count("pk", filter=recurrence)}
    rows = list(
        plans.repeats().values("organisation__slug", "organisation__name", "organisation_id").annotate(**counts)
    )
    if not rows:
        return None
    totals = {row["organisation_id"]: row["total"] for row in per_organisation}

    def figure(row: dict[str, Any], total: int, **where: Any) -> dict[str, Any]:
        return {
            **row, "total": total, "rate": pct(row["repeats"], total),
            "links": {"repeats": plans_link(**{**scope, **where, "repeat": 1}),
                      "recurrences": plans_link(**{**scope, **where, "recurrence": 1}),
                      "total": plans_link(**{**scope, **where})},
        }  # fmt: skip

    organisations = [
        figure(row, totals.get(row["organisation_id"], 0), organisation=row["organisation__slug"])
        for row in sorted(rows, key=lambda r: (-r["repeats"], r["organisation__name"]))
    ]
    theme_totals = {row["finding__themes__slug"]: row["total"] for row in by_theme}
    themes = [
        figure(row, theme_totals.get(row["finding__themes__slug"], 0), theme=row["finding__themes__slug"])
        for row in plans.repeats()
        .filter(finding__themes__isnull=False)
        .values("finding__themes__slug", "finding__themes__name")
        .annotate(repeats=Count("pk", distinct=True), recurrences=Count("pk", filter=recurrence, distinct=True))
        .order_by("-repeats", "finding__themes__name")
    ]
    all_plans = sum(totals.values())
    overall = {"repeats": sum(r["repeats"] for r in rows), "recurrences": sum(r["recurrences"] for r in rows)}
    return {"organisations": organisations, "themes": themes, "overall": figure(overall, all_plans)}


# --- exports ---------------------------------------------------------------------------------

EXPORT_HEADER = [
    "Inspection", "Reference", "Kind", "Finding", "Organisation", "Stage", "Status", "RAG", "Percent complete",
    "Target date", "Original target date", "Deferrals", "Owner", "Response", "Last update", "Link",
    "Links to earlier findings", "Recurrence", "Waiting on", "Blocked since", "Success measures", "Sustain until",
    "No action: reason", "No action: risk", "Risk accepted by", "Risk accepted on",
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
    return plans_to_export(request.user, request.GET)


def plans_to_export(user: Any, query: Any) -> QuerySet[ActionPlan]:
    """`export_queryset` for a user and a query string's parameters (also read by the export job)."""
    base = (
        ActionPlan.objects.visible_to(user).with_rag().with_recurrence().with_measure_figures().with_no_action_proposal()
        .order_by(*DEFAULT_ORDERING)
    )  # fmt: skip
    filterset = ActionPlanFilter(query, queryset=base, user=user)
    return filterset.qs if filterset.is_valid() else base.none()


def export_rows(plans: QuerySet[ActionPlan], viewer: Any = None) -> Iterator[list[Any]]:
    """One list of cell values per plan, read from the database in chunks (flat memory). What blocked
    plans wait on is read first, in one query, and described in words `viewer` may read (without a
    viewer, a plan waited on is named only if it is of the same organisation, which whoever may see
    the row may see)."""
    kinds = dict(Finding.Kind.choices)
    statuses = dict(S.choices)
    stages = {
        status: ActionPlan.Stage(stage).label
        for stage, members in ActionPlan.STAGE_STATUSES.items()
        for status in members
    }
    rags = dict(ActionPlan.Rag.choices)
    # Few findings are linked: every link's label, read once, rather than a lookup per row.
    linked = repeat_labels()
    waits = {
        d.plan_id: d
        for d in Dependency.objects.current()
        .filter(plan__in=plans.order_by().values("pk"))
        .select_related("plan", *Dependency.RELATED)
    }
    rows = plans.values_list(
        "finding__inspection__title", "finding__reference", "finding__kind", "finding__text", "organisation__name",
        "status", "rag_value", "percent_complete", "target_date", "original_target_date", "deferral_count",
        "owner__username", "summary", "updated_at", "pk", "finding_id", "is_recurrence", "measure_count",
        "sustain_until", "no_action_reason", "no_action_risk", "risk_accepted_by", "risk_accepted_on",
    )  # fmt: skip
    for row in rows.iterator(chunk_size=EXPORT_CHUNK):
        (inspection, ref, kind, text, org, status, rag, percent, target, original, deferrals, owner, summary,
         updated, pk, finding_id, recurrence, measure_count, sustain_until, no_action_reason, no_action_risk,
         risk_accepted_by, risk_accepted_on) = row  # fmt: skip
        dependency = waits.get(pk)
        yield [
            inspection, ref, kinds.get(kind, kind), text, org, stages.get(status, ""), statuses.get(status, status),
            rags.get(rag, rag),
            percent, target, original, deferrals, owner or "", summary,
            timezone.localtime(updated).replace(tzinfo=None), f"{settings.SITE_URL}/plans/{pk}/",
            linked.get(finding_id, ""), "yes" if recurrence else "",
            _waiting_words(dependency, viewer), dependency.since if dependency else None, measure_count or 0,
            sustain_until, no_action_reason or "", no_action_risk or "", risk_accepted_by or "", risk_accepted_on,
        ]  # fmt: skip


def _waiting_words(dependency: Dependency | None, viewer: Any) -> str:
    if dependency is None:
        return ""
    if viewer is None and dependency.on_plan_id is not None:
        if dependency.on_plan.organisation_id != dependency.plan.organisation_id:
            return "another organisation's plan"
        return f"plan {dependency.on_plan_id}"
    return dependency.describe_for(viewer)


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
    rows = export_rows(export_queryset(request), request.user)
    response = StreamingHttpResponse(_csv_stream(rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="action-plans-{timezone.localdate():%Y-%m-%d}.csv"'
    return response


XLSX_WIDTHS = [30, 10, 20, 60, 30, 22, 22, 16, 10, 12, 12, 10, 16, 60, 17, 40, 40, 10, 40, 12, 10, 12, 40, 40, 16, 12]


MILESTONE_HEADER = [
    "Inspection", "Reference", "Organisation", "Number", "Milestone", "Owner", "Target date", "Done on",
    "Overdue", "Note", "Link",
]  # fmt: skip
MILESTONE_WIDTHS = [30, 10, 30, 8, 50, 16, 12, 12, 9, 50, 40]


def milestone_rows(plans: QuerySet[ActionPlan]) -> Iterator[list[Any]]:
    """The exported plans' milestones, one row each, by plan and in each plan's order (chunked reads)."""
    today = timezone.localdate()
    rows = (
        Milestone.objects.filter(plan__in=plans.order_by().values("pk"))
        .annotate(late=ExpressionWrapper(overdue_milestone(today), output_field=BooleanField()))
        .order_by("plan_id", "position", "pk")
        .values_list(
            "plan__finding__inspection__title", "plan__finding__reference", "plan__organisation__name", "position",
            "title", "owner__username", "target_date", "done_on", "note", "plan_id", "late",
        )
    )  # fmt: skip
    number, last_plan = 0, None
    for inspection, ref, org, _position, title, owner, target, done, note, plan_id, late in rows.iterator(
        chunk_size=EXPORT_CHUNK
    ):
        number = number + 1 if plan_id == last_plan else 1
        last_plan = plan_id
        yield [
            inspection, ref, org, number, title, owner or "", target, done, "yes" if late else "", note,
            f"{settings.SITE_URL}/plans/{plan_id}/",
        ]  # fmt: skip


MEASURE_HEADER = [
    "Inspection", "Reference", "Organisation", "Number", "Success measure", "Target figure", "Sustain until",
    "How it was met", "Link",
]  # fmt: skip
MEASURE_WIDTHS = [30, 10, 30, 8, 50, 16, 12, 50, 40]


def measure_rows(plans: QuerySet[ActionPlan]) -> Iterator[list[Any]]:
    """The exported plans' success measures, one row each, by plan and in each plan's order (chunked reads)."""
    rows = (
        SuccessMeasure.objects.filter(plan__in=plans.order_by().values("pk"))
        .order_by("plan_id", "position", "pk")
        .values_list(
            "plan__finding__inspection__title", "plan__finding__reference", "plan__organisation__name", "text",
            "target_figure", "sustain_until", "how_met", "plan_id",
        )
    )  # fmt: skip
    number, last_plan = 0, None
    for inspection, ref, org, text, target, sustain, how_met, plan_id in rows.iterator(chunk_size=EXPORT_CHUNK):
        number = number + 1 if plan_id == last_plan else 1
        last_plan = plan_id
        yield [inspection, ref, org, number, text, target, sustain, how_met, f"{settings.SITE_URL}/plans/{plan_id}/"]


def xlsx_workbook(plans: QuerySet[ActionPlan], rows_per_chunk: int = 500, viewer: Any = None) -> Iterator[bytes]:
    """The export workbook's bytes, row by row (the page streams them; the export job stores them): the
    plans, then a Milestones sheet and a Success measures sheet for the same plans."""
    return xlsx.stream_workbook(
        EXPORT_HEADER, export_rows(plans, viewer), sheet_name="Action plans", widths=XLSX_WIDTHS,
        rows_per_chunk=rows_per_chunk,
        more_sheets=[
            xlsx.Sheet("Milestones", MILESTONE_HEADER, milestone_rows(plans), MILESTONE_WIDTHS),
            xlsx.Sheet("Success measures", MEASURE_HEADER, measure_rows(plans), MEASURE_WIDTHS),
        ],
    )  # fmt: skip


@require_safe
def export_xlsx(request: AuthedRequest) -> HttpResponse:
    """The same rows as the CSV, as a workbook streamed row by row (tracker/xlsx.py): memory stays
    flat and the first bytes leave at once, however many rows there are (figures in docs/EXPORTS.md).
    Text goes in as it is: an inline string cell is never run as a formula, so unlike the CSV it
    needs no neutralising apostrophe.

    More than settings.EXPORT_IN_WORKER_ROWS rows are made by a worker instead (docs/JOBS.md): this
    page offers to start that job, which writes nothing until it is asked for with a POST.
    """
    plans = export_queryset(request)
    count = plans.count()
    if count > settings.EXPORT_IN_WORKER_ROWS:
        context = {"count": count, "query": request.GET.urlencode()}
        return render(request, "tracker/export_in_worker.html", context)
    response = StreamingHttpResponse(xlsx_workbook(plans, viewer=request.user), content_type=xlsx.CONTENT_TYPE)
    response["Content-Disposition"] = f'attachment; filename="action-plans-{timezone.localdate():%Y-%m-%d}.xlsx"'
    return response


# --- board pack ------------------------------------------------------------------------------


def board_pack_organisation(user: Any, slug: str) -> Organisation:
    """The organisation whose pack is asked for: any for those who see everything, else only their own
    (another organisation's is a 404, as its pages are)."""
    organisations = Organisation.objects.select_related("tracker_settings")  # the public page link: no query more
    if permissions.sees_every_organisation(user):
        return get_object_or_404(organisations, slug=slug)
    return get_object_or_404(organisations, slug=slug, pk=user.organisation_id)


@require_safe
def board_pack(request: AuthedRequest, slug: str) -> HttpResponse:
    user = request.user
    organisation = board_pack_organisation(user, slug)
    today = timezone.localdate()
    form = forms.BoardPackForm(request.GET)
    # A date that does not exist is refused (400) with the field's error, over the default period.
    valid = form.is_valid()
    since = (valid and form.cleaned_data["since"]) or papers.default_since(today)
    chart = valid and form.cleaned_data["chart"] == "1"
    context = papers.board_pack_context(
        user=user, plans=ActionPlan.objects.visible_to(user), organisation=organisation, since=since, today=today,
        chart=chart,
    )  # fmt: skip
    pdf_query = urlencode({"since": since.isoformat(), **({"chart": "1"} if chart else {})})
    context |= {
        "form": form,
        "pdf_url": f"{reverse('tracker:board-pack-pdf', args=[organisation.slug])}?{pdf_query}",
        "public_page": getattr(getattr(organisation, "tracker_settings", None), "public_progress", False),
        "can_manage_organisation": permissions.can_manage_organisation(user, organisation.pk),
    }
    return render(request, "tracker/board_pack.html", context, status=200 if valid else 400)


@require_safe
def board_pack_pdf(request: AuthedRequest, slug: str) -> HttpResponse:
    """The board pack as an A4 PDF (WeasyPrint), from the page's data and template. A pack of more than
    settings.BOARD_PACK_PDF_IN_WORKER_PLANS plans is made by a worker: this page offers to start it."""
    user = request.user
    organisation = board_pack_organisation(user, slug)
    form = forms.BoardPackForm(request.GET)
    if not form.is_valid():
        return bad_query(request, form)
    today = timezone.localdate()
    since = form.cleaned_data["since"] or papers.default_since(today)
    chart = form.cleaned_data["chart"] == "1"
    plans = ActionPlan.objects.visible_to(user)
    count = plans.filter(organisation=organisation).count()
    if count > settings.BOARD_PACK_PDF_IN_WORKER_PLANS:
        offer = {"organisation": organisation, "count": count, "since": since, "chart": chart}
        return render(request, "tracker/board_pack_in_worker.html", offer)
    papers.start_layout()
    context = papers.board_pack_context(
        user=user, plans=plans, organisation=organisation, since=since, today=today, chart=chart
    )
    response = HttpResponse(papers.board_pack_pdf(context), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{papers.board_pack_filename(organisation, today)}"'
    return response
