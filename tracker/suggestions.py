"""Suggested links: earlier findings to the same organisations that a new finding may repeat.

Ranked by the database's own text search over the findings' entries of the search index
(tracker/search): on PostgreSQL the full-text rank of the new text's words plus pg_trgm's trigram
similarity of the two texts (counted from the trigrams the search index keeps with each finding:
`tracker.search.schema`); on SQLite FTS5's bm25 for the same words. The words both texts share are
highlighted by the database (`ts_headline`, `snippet`). No similarity is computed here.

Used by the import preview and its results page, `manage.py import_findings`, the finding page and the
finding's admin page. An inspector accepts (a link of kind "repeats", `inspections.links`) or dismisses
each (remembered: never suggested again for that finding).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import Q
from django.utils.safestring import SafeString

from inspections.models import DismissedSuggestion, Finding, FindingLink, Organisation

from .search.engine import MARK_END, MARK_START, mark
from .search.query import parse
from .search.schema import ENTRY, fts_table

TOP = 3
MAX_WORDS = 40  # distinct words of the new text that are looked up
# PostgreSQL: an earlier finding that shares none of the words is still a candidate if its trigram
# similarity to the new text is at least this (pg_trgm's default threshold for its `%` operator).
SIMILAR = 0.3


@dataclass
class Suggestion:
    earlier: Finding
    score: float
    marked_text: str  # the database's snippet of the earlier finding's text, the shared words between markers

    @property
    def snippet(self) -> SafeString:
        """The snippet as HTML: escaped, the shared words in <mark> elements."""
        return mark(self.marked_text)


def suggest(
    *,
    text: str,
    organisation_ids: Iterable[int] = (),
    published_on: dt.date | None = None,
    exclude_inspection_id: int | None = None,
    exclude_finding_ids: Iterable[int] = (),
    for_finding_id: int | None = None,
    limit: int = TOP,
) -> list[Suggestion]:
    """The earlier findings addressed to any of `organisation_ids` (or, with `for_finding_id`, to any of
    that finding's addressees, and neither linked to it nor dismissed for it) that best match `text`."""
    organisation_ids = [int(pk) for pk in organisation_ids]
    query = parse(text, max_parts=MAX_WORDS).or_of_words()
    if not query or not (organisation_ids or for_finding_id):
        return []
    where = ["e.kind = 'finding'"]
    params: list = []
    if for_finding_id is not None:
        where += [
            "e.finding_id IN (SELECT a.finding_id FROM inspections_finding_addressed_to a WHERE a.organisation_id IN "
            "(SELECT organisation_id FROM inspections_finding_addressed_to WHERE finding_id = %s))",
            "e.finding_id NOT IN (SELECT earlier_id FROM inspections_findinglink WHERE finding_id = %s "
            "UNION SELECT finding_id FROM inspections_findinglink WHERE earlier_id = %s "
            "UNION SELECT earlier_id FROM inspections_dismissedsuggestion WHERE finding_id = %s)",
            "e.finding_id <> %s",
        ]
        params += [for_finding_id] * 5
    else:
        where.append(
            "e.finding_id IN (SELECT finding_id FROM inspections_finding_addressed_to WHERE organisation_id IN "
            f"({', '.join(['%s'] * len(organisation_ids))}))"
        )
        params += organisation_ids
    if exclude_inspection_id is not None:
        where.append("e.inspection_id <> %s")
        params.append(exclude_inspection_id)
    if published_on is not None:
        where.append("(e.date IS NULL OR e.date <= %s)")
        params.append(published_on)
    excluded = [int(pk) for pk in exclude_finding_ids]
    if excluded:
        where.append(f"e.finding_id NOT IN ({', '.join(['%s'] * len(excluded))})")
        params += excluded
    if connection.vendor == "postgresql":
        tsquery = query.tsquery()
        # `likeness` is pg_trgm's similarity(e.body, text), from the trigrams kept with each finding's entry
        # (tracker.search.schema.TRIGRAMS_FUNCTION): the shared trigrams over those of either, as `real`.
        # `OFFSET 0` keeps the inner query whole, so that the intersection is counted once a finding.
        sql = (
            "SELECT finding_id, score, ts_headline('english', body, to_tsquery('english', %s), %s) FROM ("
            "SELECT finding_id, body, rank + likeness AS score FROM ("
            "SELECT finding_id, body, rank, matched, CASE WHEN shared = 0 THEN 0::real "
            "ELSE shared::real / (size + cardinality(tracker_trigrams(%s)) - shared)::real END AS likeness FROM ("
            "SELECT e.finding_id, e.body, e.vector @@ to_tsquery('english', %s) AS matched, "
            "ts_rank(e.vector, to_tsquery('english', %s), 1) AS rank, "
            "coalesce(icount(e.trigrams & tracker_trigrams(%s)), 0) AS shared, cardinality(e.trigrams) AS size "
            f"FROM {ENTRY} e WHERE "
            + " AND ".join(where)
            + " OFFSET 0) counted) scored WHERE matched OR likeness::float8 >= %s::float8 "
            "ORDER BY score DESC, finding_id DESC LIMIT %s) best ORDER BY score DESC, finding_id DESC"
        )
        options = f"StartSel={MARK_START}, StopSel={MARK_END}, MaxWords=45, MinWords=25, MaxFragments=1"
        all_params = [tsquery, options, text, tsquery, tsquery, text, *params, SIMILAR, limit]
    else:
        table = fts_table("finding")
        sql = (
            f"SELECT e.finding_id, -bm25({table}) AS score, snippet({table}, 0, %s, %s, '…', 40) "
            f"FROM {table} f JOIN {ENTRY} e ON e.id = f.rowid WHERE {table} MATCH %s AND "
            + " AND ".join(where)
            + " ORDER BY score DESC, e.finding_id DESC LIMIT %s"
        )
        all_params = [MARK_START, MARK_END, f"body : ({query.fts5()})", *params, limit]
    with connection.cursor() as cursor:
        cursor.execute(sql, all_params)
        rows = cursor.fetchall()
    if not rows:
        return []
    findings = Finding.objects.select_related("inspection").in_bulk([row[0] for row in rows])
    return [Suggestion(findings[pk], float(score), snippet) for pk, score, snippet in rows if pk in findings]


def for_finding(finding: Finding, *, limit: int = TOP) -> list[Suggestion]:
    """Suggestions for a finding that exists: not those already linked to it, nor those dismissed for it.
    One query (two when there are suggestions)."""
    return suggest(
        text=finding.text,
        for_finding_id=finding.pk,
        published_on=finding.inspection.published_on,
        exclude_inspection_id=finding.inspection_id,
        limit=limit,
    )


def for_new_text(
    *, text: str, organisation_slugs: Iterable[str], published_on: dt.date | None, inspection_slug: str
) -> list[Suggestion]:
    """Suggestions for a finding not yet written (an import's preview)."""
    ids = Organisation.objects.filter(slug__in=list(organisation_slugs)).values_list("pk", flat=True)
    inspection = Finding.objects.filter(inspection__slug=inspection_slug).values_list("inspection_id", flat=True)
    return suggest(
        text=text,
        organisation_ids=list(ids),
        published_on=published_on,
        exclude_inspection_id=next(iter(inspection), None),
    )


# --- imports: the preview (findings not yet written), the results page and the command ------------

MAX_IMPORT_FINDINGS = 100  # findings of one import looked up (a page of the preview; the results page)


def for_import_rows(candidates: dict[int, dict[str, Any]], row_numbers: Iterable[int]) -> dict[int, list[Suggestion]]:
    """Per row of an import's preview that creates or changes a finding, the earlier findings it may
    repeat. `candidates` are `ImportPlan.suggestion_candidates()`: text, addressees, inspection and
    its date by row."""
    wanted = list(row_numbers)[:MAX_IMPORT_FINDINGS]
    found = {}
    for row in wanted:
        candidate = candidates.get(row)
        if candidate is not None:
            published = candidate["published_on"]
            found[row] = for_new_text(
                text=candidate["text"], organisation_slugs=candidate["organisations"],
                published_on=dt.date.fromisoformat(published) if published else None,
                inspection_slug=candidate["inspection"],
            )  # fmt: skip
    return {row: items for row, items in found.items() if items}


def for_imported(
    keys: Iterable[tuple[str, str]], progress: Callable[[int, int], None] | None = None
) -> list[tuple[Finding, list[Suggestion]]]:
    """For findings just imported, given as (inspection slug, reference): those with suggestions. One text
    search per finding (`for_finding`), so `progress(done, total)` is told after each."""
    keys = list(keys)[:MAX_IMPORT_FINDINGS]
    if not keys:
        return []
    wanted = Q()
    for slug, reference in keys:
        wanted |= Q(inspection__slug=slug, reference=reference)
    findings = list(Finding.objects.filter(wanted).select_related("inspection").order_by("inspection_id", "pk"))
    found = []
    for done, finding in enumerate(findings, start=1):
        items = for_finding(finding)
        if items:
            found.append((finding, items))
        if progress is not None:
            progress(done, len(findings))
    return found


# What an import job keeps of `for_imported` with its results (tracker/imports/tasks.py, docs/JOBS.md):
# [[finding id, [[earlier finding id, score, marked text], ...]], ...], in the order found.
Kept = list[list[Any]]


def keep_for_imported(keys: Iterable[tuple[str, str]], progress: Callable[[int, int], None] | None = None) -> Kept:
    """`for_imported`, worked out once by the import job and kept as data beside its results."""
    return [
        [finding.pk, [[item.earlier.pk, item.score, item.marked_text] for item in items]]
        for finding, items in for_imported(keys, progress)
    ]


def from_kept(kept: Kept) -> list[tuple[Finding, list[Suggestion]]]:
    """The suggestions an import job kept, for its results page: no text search, three queries whatever
    their number. The findings are read as they are now; a finding since deleted is left out, and so is
    a suggestion since accepted (a link either way between the two) or dismissed, as `for_finding` would."""
    finding_ids = [finding_id for finding_id, _ in kept]
    if not finding_ids:
        return []
    earlier_ids = {item[0] for _, items in kept for item in items}
    findings = Finding.objects.select_related("inspection").in_bulk([*finding_ids, *earlier_ids])
    settled = set(
        DismissedSuggestion.objects.filter(finding_id__in=finding_ids).values_list("finding_id", "earlier_id")
    )
    for finding_id, earlier_id in FindingLink.objects.filter(
        Q(finding_id__in=finding_ids) | Q(earlier_id__in=finding_ids)
    ).values_list("finding_id", "earlier_id"):
        settled |= {(finding_id, earlier_id), (earlier_id, finding_id)}
    found = []
    for finding_id, items in kept:
        finding = findings.get(finding_id)
        shown = [
            Suggestion(findings[earlier_id], score, marked_text)
            for earlier_id, score, marked_text in items
            if earlier_id in findings and (finding_id, earlier_id) not in settled
        ]
        if finding is not None and shown:
            found.append((finding, shown))
    return found


def summary_lines(keys: Iterable[tuple[str, str]]) -> list[str]:
    """What `manage.py import_findings` prints about suggested links after an import."""
    lines = []
    for finding, items in for_imported(keys):
        for item in items:
            earlier = item.earlier
            lines.append(
                f"  {finding.inspection.slug} {finding.reference} may repeat {earlier.inspection.slug} "
                f"{earlier.reference} ({earlier.inspection.published_on or 'undated'}): /findings/{finding.pk}/"
            )
    if lines:
        lines.insert(0, "Suggested links (accept or dismiss on each finding's page):")
    return lines
