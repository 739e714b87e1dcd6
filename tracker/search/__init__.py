"""Search: `search(user=..., text=..., filters=..., page=...)` answers the header's search box, `/search/`
and `/api/v1/search/` alike. How it reads the database: `engine.py`; what may be typed: `query.py`;
how the index follows every write: `schema.py`."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

from django.urls import reverse
from django.utils.safestring import SafeString

from ..models import SearchEntry, Update, User
from .engine import CANDIDATES, COUNT_LIMIT, PER_PAGE, Filters, backend, scopes
from .query import Query, parse

K = SearchEntry.Kind
KIND_LABELS = dict(K.choices)
MAX_PAGE = math.ceil(len(K.values) * CANDIDATES / PER_PAGE)


@dataclass
class Result:
    kind: str
    kind_label: str
    title: str
    url: str
    snippet: SafeString | str
    date: dt.date | None
    inspection: str
    organisation: str
    reference: str
    score: float
    plan_url: str = ""


@dataclass
class Results:
    query: Query
    results: list[Result] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)  # per kind searched, up to COUNT_LIMIT + 1
    page: int = 1

    @property
    def total(self) -> int:
        return sum(min(n, COUNT_LIMIT) for n in self.counts.values())

    @property
    def capped(self) -> bool:
        return any(n > COUNT_LIMIT for n in self.counts.values())

    @property
    def pages(self) -> int:
        """Pages that can be shown: each kind contributes at most its newest CANDIDATES matches."""
        return max(1, math.ceil(sum(min(n, CANDIDATES) for n in self.counts.values()) / PER_PAGE))

    def kind_counts(self) -> list[tuple[str, str, int, bool]]:
        return [(kind, KIND_LABELS[kind], min(n, COUNT_LIMIT), n > COUNT_LIMIT) for kind, n in self.counts.items()]


def search(*, user: User, text: str, filters: Filters | None = None, page: int = 1) -> Results:
    """A page of what `user` may see that matches `text`, best first. Never raises on any text."""
    query = parse(text)
    results = Results(query=query, page=page)
    if not query:
        return results
    page = max(1, min(page, MAX_PAGE))
    found = backend().page(query, scopes(user, filters or Filters()), (page - 1) * PER_PAGE, PER_PAGE)
    results.counts, results.page = found.counts, page
    entries = {
        entry.pk: entry
        for entry in SearchEntry.objects.filter(pk__in=[pk for pk, _ in found.hits]).select_related(
            "finding__inspection", "organisation"
        )
    }
    authors = {
        update.pk: update.author
        for update in Update.objects.filter(
            pk__in=[e.object_id for e in entries.values() if e.kind in (K.NOTE, K.COMMENT)]
        ).select_related("author")
    } if any(e.kind in (K.NOTE, K.COMMENT) for e in entries.values()) else {}  # fmt: skip
    for pk, score in found.hits:
        entry = entries.get(pk)
        if entry is not None:  # removed since the page was read
            results.results.append(_result(entry, score, found.highlights.get(pk, ""), authors))
    return results


def _result(entry: SearchEntry, score: float, snippet: SafeString | str, authors: dict[int, User]) -> Result:
    finding = entry.finding
    organisation = entry.organisation.display_name if entry.organisation else ""
    plan_url = reverse("tracker:plan-detail", args=[entry.plan_id]) if entry.plan_id else ""
    if entry.kind == K.FINDING:
        title = f"{finding.reference}: {finding.get_kind_display()}"
        url = finding.get_absolute_url()
    elif entry.kind == K.PLAN:
        title = f"{organisation}'s response to {finding.reference}"
        url = plan_url
    elif entry.kind == K.EVIDENCE:
        title = f"{entry.body} (evidence on {finding.reference}, {organisation})"
        url = reverse("tracker:evidence-download", args=[entry.object_id])
    else:
        author = authors.get(entry.object_id)
        by = f" by {author.get_full_name() or author.username}" if author else ""
        label = "Comment" if entry.kind == K.COMMENT else "Progress note"
        title = f"{label}{by} on {finding.reference}, {organisation}"
        url = f"{plan_url}#update-{entry.object_id}"
    return Result(
        kind=entry.kind, kind_label=KIND_LABELS[entry.kind], title=title, url=url, snippet=snippet or entry.body[:200],
        date=entry.date, inspection=finding.inspection.title, organisation=organisation, reference=finding.reference,
        score=score, plan_url=plan_url,
    )  # fmt: skip


__all__ = ["Filters", "Result", "Results", "search"]
