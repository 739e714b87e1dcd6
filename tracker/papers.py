"""The papers people read away from the screen: the board pack as a PDF (and, with it, the HTML board
pack's figures), rendered by WeasyPrint from the same templates as the pages.

The board pack is built in one place (`board_pack_context`) for the page, the PDF made in the request and
the PDF made by the worker (tracker/tasks.py), so the three always carry the same figures. Every read is
scoped as the pages are: the caller passes the plans the user may see.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db.models import OuterRef, Prefetch, QuerySet, Subquery
from django.template.loader import render_to_string

from inspections.models import Grading, Organisation, report_order

from . import paper_layout
from .figures import cell
from .models import ActionPlan, Milestone, NoActionProposal, Update, User, attach_dependencies

BOARD_PACK_CHANGES = 200
BOARD_PACK_DEFAULT_DAYS = 90
PAPER_CSS = Path(settings.BASE_DIR) / "static" / "css" / "paper.css"
PAPER_SHORT_ROW = 0.4  # the layout time of a short entry of the board pack against a plan's (`in_parts`)


def default_since(today: dt.date) -> dt.date:
    return today - dt.timedelta(days=BOARD_PACK_DEFAULT_DAYS)


def board_pack_context(
    *,
    user: User,
    plans: QuerySet[ActionPlan],
    organisation: Organisation,
    since: dt.date,
    today: dt.date,
    chart: bool,
) -> dict[str, Any]:
    """Everything the board pack shows for `organisation`'s plans among `plans` (the ones `user`, the
    reader, may see): the summary by stage, gradings, progress by finding (full text), overdue plans with
    their latest explanation, deferred plans with the reason given for their last new date, changes since
    `since`, and with `chart` the trend by month (the dashboard's, for this organisation).

    The progress and overdue plans are lists, each blocked plan with what it waits on and since when
    (`attach_dependencies`: one query more for each list holding a blocked plan), in the words the plan
    page gives `user` (another organisation's plan waited on is named only to those who may see it).

    Each plan of the progress section comes with its milestones (`plan.milestones.all()`, in order, one
    query for all), its success measures and its latest proposal of no action (one query more each):
    `tracker/board_pack.html#plan-extras` shows them.
    """
    plans = plans.filter(organisation=organisation)
    ordered = (
        plans.for_list()
        .prefetch_related(
            Prefetch("milestones", queryset=Milestone.objects.select_related("owner")),
            "measures",
            Prefetch(
                "no_action_proposals",
                queryset=NoActionProposal.objects.select_related("proposed_by", "accepted_by", "decided_by"),
            ),
        )
        .order_by("finding__inspection__published_on", "finding__inspection_id", *report_order("finding__"), "pk")
    )
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
    ordered, overdue = attach_dependencies(ordered, user), attach_dependencies(overdue, user)
    deferred = (
        plans.filter(deferral_count__gt=0)
        .for_list()
        .with_date_reason()
        .order_by("-deferral_count", "target_date", *report_order("finding__"), "pk")
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


def paper_stylesheets(*, title: str, dated: str, first_page_plain: bool = False) -> list[str]:
    """The paper stylesheet and the running head and foot of every page: the protective marking at the
    head and the foot, `title` at the head on the right (not on the first page with `first_page_plain`),
    `dated` at the foot on the left. ("Page N of M" is stamped after the parts are joined: `pdf_in_parts`.)"""
    marking = css_string(settings.PROTECTIVE_MARKING)
    small = '8pt "DejaVu Sans", sans-serif; color: #505a5f'
    bold = 'bold 10pt "DejaVu Sans", sans-serif; color: #0b0c0c'
    page = (
        f"@page {{ @top-center {{ content: {marking}; font: {bold}; }}"
        f" @bottom-center {{ content: {marking}; font: {bold}; }}"
        f" @top-right {{ content: {css_string(title)}; font: {small}; }}"
        f" @bottom-left {{ content: {css_string(dated)}; font: {small}; }} }}"
    )
    if first_page_plain:
        page += " @page :first { @top-right { content: none; } }"
    return [PAPER_CSS.read_text(), page]


def css_string(text: str) -> str:
    """`text` as a CSS string: quoted, with its backslashes, quotes and line breaks escaped."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\a ").replace("\r", "")
    return f'"{escaped}"'


def start_layout() -> None:
    """Called as a PDF is asked for, before its queries: the layout processes' server starts meanwhile."""
    paper_layout.start_server(settings.PAPER_PROCESSES)


def lay_out_in_parts(htmls: Iterable[str], *, stylesheets: list[str]) -> list[paper_layout.Part]:
    """The documents `htmls` laid out side by side, settings.PAPER_PROCESSES at a time, in order."""
    return paper_layout.lay_out_parts(
        htmls, stylesheets=stylesheets, base_url=settings.SITE_URL + "/", processes=settings.PAPER_PROCESSES
    )


def pdf_in_parts(htmls: Iterable[str], *, stylesheets: list[str], metadata: dict[str, str]) -> bytes:
    """The documents `htmls` laid out side by side and joined in order, every page numbered "Page N of M"."""
    parts = lay_out_in_parts(htmls, stylesheets=stylesheets)
    return paper_layout.join(parts, metadata=metadata, right_mm=15, bottom_mm=20)


def html_to_pdf(html: str) -> bytes:
    """`html` laid out as one A4 PDF with the paper stylesheet (the same renderer as every document)."""
    stylesheets = paper_stylesheets(title="", dated="")
    return paper_layout.join(
        [paper_layout.lay_out(html, stylesheets, settings.SITE_URL + "/")], metadata={}, right_mm=15, bottom_mm=20
    )


@dataclass
class Section:
    name: str  # the section partial's name after "pack-" (board_pack.html), and the id its first part has
    title: str  # as the contents give it
    rows: list[Any] | None = None  # the rows of this part (a long section is split between parts)
    continued: bool = False
    template: str = ""


def in_parts(sections: list[tuple[Any, ...]], rows_per_part: int) -> list[list[Section]]:
    """The sections split into parts of about `rows_per_part` rows (a section without rows counts as 10);
    a long section's rows run on over several parts, `continued` after the first. A section given as
    (name, title, rows, weight) counts each of its rows as `weight` of a row (its layout time against a
    plan's under Progress by finding), so that the parts take about as long as each other to lay out."""
    parts: list[list[Section]] = [[]]
    room = float(rows_per_part)
    for name, title, rows, *weighted in sections:
        weight = weighted[0] if weighted else 1
        if rows is None or not rows:
            if room < 10 and parts[-1]:
                parts.append([])
                room = rows_per_part
            parts[-1].append(Section(name, title, rows))
            room -= 10
            continue
        start = 0
        while start < len(rows):
            if room < weight:
                parts.append([])
                room = rows_per_part
            take = rows[start : start + max(1, int(room / weight))]
            parts[-1].append(Section(name, title, take, continued=start > 0))
            start += len(take)
            room -= len(take) * weight
    return [part for part in parts if part]


def board_pack_pdf(context: dict[str, Any]) -> bytes:
    """The board pack as an A4 PDF: the page's sections laid out in parts of settings.PAPER_PART_ROWS rows
    side by side (`pdf_in_parts`), then the cover, whose contents give the page each section starts on."""
    organisation, today, since = context["organisation"], context["today"], context["since"]
    context = {**context, "site_url": settings.SITE_URL, "all_changes": context["changes"], "paper": True}
    sections = [
        *([("summary", "Summary", None)] if context["summary"] else []),
        *([("trend", "Trend over the last 12 months", None)] if context["chart"] else []),
        ("gradings", "Inspection gradings", None),
        ("progress", "Progress by finding", context["plans"]),
        # An overdue or deferred plan, and a change, are each one short paragraph (a finding's text is
        # under Progress by finding only): about two fifths of a plan's layout time there.
        ("overdue", "Overdue, with reasons", context["overdue"], PAPER_SHORT_ROW),
        ("deferrals", "Deferrals, with reasons", list(context["deferred"]), PAPER_SHORT_ROW),
        ("changes", f"Changes since {since:%-d %B %Y}", list(context["changes"]), PAPER_SHORT_ROW),
    ]

    def htmls() -> Iterator[str]:
        for part in in_parts(sections, settings.PAPER_PART_ROWS):
            for section in part:
                section.template = f"tracker/board_pack.html#pack-{section.name}"
            yield render_to_string("tracker/board_pack_document.html", {**context, "sections": part})

    dated = f"Dated {today:%-d %B %Y}"
    metadata = {
        "/Title": f"Board pack – {organisation.name} – {today:%-d %B %Y}",
        "/Author": organisation.name,
        "/Subject": f"Protective marking: {settings.PROTECTIVE_MARKING}",
    }
    body = lay_out_in_parts(htmls(), stylesheets=paper_stylesheets(title=organisation.name, dated=dated))
    # The cover is the first page of a part of its own: only there does the head leave the title out.
    cover_stylesheets = paper_stylesheets(title=organisation.name, dated=dated, first_page_plain=True)

    def cover(pages_before: int) -> paper_layout.Part:
        starts: dict[str, int] = {}
        for part in body:
            for name, page in part.anchors.items():
                starts.setdefault(name, pages_before + page + 1)
            pages_before += part.pages
        contents = [(title, starts.get(name, "")) for name, title, *_ in sections]
        html = render_to_string("tracker/board_pack_document.html", {**context, "cover": True, "contents": contents})
        return paper_layout.lay_out(html, cover_stylesheets, settings.SITE_URL + "/")

    first = cover(1)
    if first.pages != 1:  # a longer cover moves every section on
        first = cover(first.pages)
    return paper_layout.join([first, *body], metadata=metadata, right_mm=15, bottom_mm=20)


def board_pack_filename(organisation: Organisation, today: dt.date) -> str:
    return f"board-pack-{organisation.slug}-{today:%Y-%m-%d}.pdf"
