"""The papers people read away from the screen: the board pack as a PDF (and, with it, the HTML board
pack's figures), rendered by WeasyPrint from the same templates as the pages.

The board pack is built in one place (`board_pack_context`) for the page, the PDF made in the request and
the PDF made by the worker (tracker/tasks.py), so the three always carry the same figures. Every read is
scoped as the pages are: the caller passes the plans the user may see.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db.models import OuterRef, QuerySet, Subquery
from django.template.loader import render_to_string

from inspections.models import Grading, Organisation

from .figures import cell
from .models import ActionPlan, Update

BOARD_PACK_CHANGES = 200
BOARD_PACK_DEFAULT_DAYS = 90
PAPER_CSS = Path(settings.BASE_DIR) / "static" / "css" / "paper.css"


def default_since(today: dt.date) -> dt.date:
    return today - dt.timedelta(days=BOARD_PACK_DEFAULT_DAYS)


def board_pack_context(
    *, plans: QuerySet[ActionPlan], organisation: Organisation, since: dt.date, today: dt.date, chart: bool
) -> dict[str, Any]:
    """Everything the board pack shows for `organisation`'s plans among `plans` (the ones the reader may
    see): the summary by stage, gradings, progress by finding (full text), overdue plans with their latest
    explanation, deferred plans with the reason given for their last new date, changes since `since`,
    and with `chart` the trend by month (the dashboard's, for this organisation).

    Milestones and success measures join each plan's row here (as `plan.milestones`) once plans have
    them: `tracker/board_pack.html#plan-extras` is where the pack shows them.
    """
    plans = plans.filter(organisation=organisation)
    ordered = plans.for_list().order_by("finding__inspection__published_on", "finding__reference", "pk")
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
    deferred = (
        plans.filter(deferral_count__gt=0)
        .for_list()
        .with_date_reason()
        .order_by("-deferral_count", "target_date", "finding__reference", "pk")
    )
    changes = list(
        Update.objects.filter(plan__in=plans, created_at__date__gte=since)
        .select_related("author", "plan__finding")
        .order_by("-created_at", "-pk")[: BOARD_PACK_CHANGES + 1]
    )
    gradings = Grading.objects.filter(organisation=organisation).select_related("inspection")
    totals = plans.completion_totals(today)
    series: list[dict[str, Any]] = []
    trend_chart = None
    if chart:
        from .reports import trend, trend_svg

        series = trend(plans, updates=Update.objects.filter(plan__organisation=organisation))
        trend_chart = trend_svg(series) if series else None
    return {
        "organisation": organisation,
        "gradings": gradings,
        "plans": ordered,
        "overdue": overdue,
        "deferred": deferred,
        "changes": changes[:BOARD_PACK_CHANGES],
        "more_changes": len(changes) > BOARD_PACK_CHANGES,
        "since": since,
        "today": today,
        "summary": cell(totals, organisation=organisation.slug) if totals["total"] else None,
        "with_chart": chart,
        "series": series,
        "chart": trend_chart,
        "protective_marking": settings.PROTECTIVE_MARKING,
    }


def render_pdf(template: str, context: dict[str, Any]) -> bytes:
    """The template rendered as HTML, then laid out as an A4 PDF with the paper stylesheet."""
    return html_to_pdf(render_to_string(template, context))


def html_to_pdf(html: str) -> bytes:
    import weasyprint  # imported here: loading Pango is for the requests and jobs that make a PDF

    # The documents hold everything they show (text and inline SVG): nothing is fetched while rendering,
    # whatever a finding or a note says, so no document can make the server reach another address.
    nothing = weasyprint.urls.URLFetcher(allowed_protocols=())
    document = weasyprint.HTML(string=html, base_url=settings.SITE_URL + "/", url_fetcher=nothing)
    return document.write_pdf(stylesheets=[weasyprint.CSS(filename=str(PAPER_CSS))])


def board_pack_pdf(context: dict[str, Any]) -> bytes:
    return render_pdf("tracker/board_pack_document.html", {**context, "site_url": settings.SITE_URL})


def board_pack_filename(organisation: Organisation, today: dt.date) -> str:
    return f"board-pack-{organisation.slug}-{today:%Y-%m-%d}.pdf"
