"""One search over findings, responses, progress notes, comments and evidence file names, through each
database's own full-text search: PostgreSQL's (`tsvector`, GIN, `ts_rank`, `ts_headline`) or SQLite's
FTS5 (`bm25`, `snippet`). One interface (`search`), two backends that write the same plan in each
database's SQL:

1. For each kind of entry the reader may see, the newest matches that pass the filters, at most
   `CANDIDATES` of them (read in index order, so a word in 100,000 notes costs no more than a rare
   one); each is scored by the database's ranking function.
2. All kinds together, best score first (newest first between equals): one page of them.
3. The matched words of that page highlighted by the database.

Counts per kind stop at `COUNT_LIMIT` ("more than 1,000"). The number of queries is the same whatever
is searched and however much data there is: counts, page, highlights, then the page's rows.

Visibility: findings are public reports that every signed-in user may read (as their pages are);
responses, notes, comments and files follow `ActionPlan.objects.visible_to`'s rule, expressed on the
entry's organisation (`visible_organisation`), so the index is never read past what the reader may see.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db import connection
from django.db.models import Exists, OuterRef
from django.db.models.expressions import RawSQL
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from ..models import SearchEntry, User, visible_organisation
from .query import Query
from .schema import ENTRY, fts_table, organisation_lexeme, year_lexeme

CANDIDATES = 300
COUNT_LIMIT = 1000
PER_PAGE = 20
MARK_START, MARK_END = "\ue000", "\ue001"  # private-use characters: replaced by <mark> after escaping

K = SearchEntry.Kind
PLAN_SIDE = (K.PLAN, K.NOTE, K.COMMENT, K.EVIDENCE)


@dataclass(frozen=True)
class Filters:
    kind: str = ""
    inspection_id: int | None = None
    organisation_id: int | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None


@dataclass(frozen=True)
class Scope:
    """What a search may read, and with which filters, per kind."""

    kind: str
    organisation_id: int | None  # the reader's organisation for plan-side kinds, or a chosen one
    addressed_to: int | None  # findings: addressed to this organisation
    filters: Filters


@dataclass
class Page:
    hits: list[tuple[int, float]]  # (entry id, score), best first
    counts: dict[str, int]  # per kind, at most COUNT_LIMIT + 1
    highlights: dict[int, SafeString] = field(default_factory=dict)


def scopes(user: User, filters: Filters) -> list[Scope]:
    """The kinds this user may search with these filters (none of the plan side for a user who sees no plans)."""
    visible = visible_organisation(user)
    kinds = [filters.kind] if filters.kind else list(K.values)
    result = []
    for kind in kinds:
        if kind == K.FINDING:
            result.append(Scope(kind, None, filters.organisation_id, filters))
            continue
        if visible is None:
            continue
        if visible is True:
            organisation = filters.organisation_id
        elif filters.organisation_id not in (None, visible):
            continue  # another organisation's: nothing
        else:
            organisation = visible
        result.append(Scope(kind, organisation, None, filters))
    return result


def mark(text: str) -> SafeString:
    """Escape the database's snippet, then turn its match markers into <mark> elements."""
    return mark_safe(escape(text).replace(MARK_START, "<mark>").replace(MARK_END, "</mark>"))  # escaped above


class Backend:
    def page(self, query: Query, scopes: list[Scope], offset: int, limit: int) -> Page:
        raise NotImplementedError


class PostgresBackend(Backend):
    def _scope_tsquery(self, scope: Scope) -> str:
        """The plan side's organisation and years as lexemes of the vector (`schema.vector_expression`), so
        that the GIN index itself narrows to them. The SQL conditions on the columns stay as well: the
        lexemes make the search fast, the columns decide what is seen."""
        if scope.kind == K.FINDING:
            return ""
        parts = []
        if scope.organisation_id is not None:
            parts.append(f"'{organisation_lexeme(scope.organisation_id)}'")
        f = scope.filters
        if f.date_from or f.date_to:
            first = (f.date_from or dt.date(1900, 1, 1)).year
            last = (f.date_to or dt.date(2999, 12, 31)).year
            if last - first <= 30:
                parts.append("(" + " | ".join(f"'{year_lexeme(y)}'" for y in range(first, last + 1)) + ")")
        return " & ".join(parts)

    def _match(self, scope: Scope, params: list[Any], *, walk: bool = False) -> str:
        """The text condition: the query, narrowed inside the index to the scope's lexemes. For a walk
        newest first of a query with a phrase, the same test written as the function behind `@@`
        (`ts_match_vq`), which no index serves, so that the planner walks the b-tree in order and checks
        each entry, stopping at the CANDIDATES-th match. Its statistics know how often each word occurs
        but not how often two follow each other: it guessed "local profile" matches 943 responses when it
        matches 21,000, and gathered all of them from the GIN index to sort them (250 ms). The same with
        dates: it gathered 2024's 14,000 notes with "analysts" (140 ms) rather than walk that year's
        notes newest first (20 ms). For words without dates its guess is good, and it is left to choose:
        for a word in 0.2 % of the notes, the GIN index is better than walking 150,000 notes."""
        narrowed = self._scope_tsquery(scope)
        if not narrowed:
            params.append(None)  # None: the query, filled in by the caller
            tsquery = "to_tsquery('english', %s)"
        else:
            # A query of stop words only is empty, and must stay so (it matches nothing), not become "all
            # of the organisation".
            params += [None, None, None, narrowed]
            tsquery = (
                "(CASE WHEN numnode(to_tsquery('english', %s)) = 0 THEN to_tsquery('english', %s) "
                "ELSE to_tsquery('english', %s) && %s::tsquery END)"
            )
        return f"ts_match_vq(e.vector, {tsquery})" if walk else f"e.vector @@ {tsquery}"

    def _rest(self, scope: Scope, params: list[Any]) -> str:
        """The other conditions, on the entry's columns: these decide what the reader sees."""
        clauses = ["e.kind = %s"]
        params.append(scope.kind)
        if scope.organisation_id is not None:
            clauses.append("e.organisation_id = %s")
            params.append(scope.organisation_id)
        if scope.addressed_to is not None:
            clauses.append(
                "e.finding_id IN (SELECT finding_id FROM inspections_finding_addressed_to WHERE organisation_id = %s)"
            )
            params.append(scope.addressed_to)
        f = scope.filters
        for clause, value in (("e.inspection_id = %s", f.inspection_id), ("e.date >= %s", f.date_from),
                              ("e.date <= %s", f.date_to)):  # fmt: skip
            if value is not None:
                clauses.append(clause)
                params.append(value)
        return " AND ".join(clauses)

    def _bind(self, params: list[Any], text: str) -> list[Any]:
        return [text if p is None else p for p in params]

    def page(self, query: Query, scopes: list[Scope], offset: int, limit: int) -> Page:
        """One statement gathers each kind's matches, at most COUNT_LIMIT + 1 ids: their number is the
        kind's count, and they are the candidates to rank, so each kind's matches are read once.

        - A query of words only, without dates: newest first (`ORDER BY e.id DESC LIMIT 1001`), and the
          planner, whose guess of how many entries hold a word is good, chooses how: a common word by
          walking the kind's newest entries until 1,001 match (for "analysts", 2,000-10,000 entries), a
          rarer one from its GIN index, sorted. Above COUNT_LIMIT the first CANDIDATES of them are the
          newest matches, which are what is ranked. (Counting first read the whole of a common word's
          posting list from the GIN index, 21,000 responses' or 100,000 notes', only to stop at 1,001,
          then walked the newest entries again for the candidates: 45 ms of a 60 ms page, warm.)
        - A phrase, `OR`, an excluded word or dates: the planner's guess is poor (it guessed 943 responses
          hold "local profile" when 21,000 do, and would gather and sort them all), so the matches are
          gathered in no order as they come from the GIN index; up to COUNT_LIMIT they are all ranked,
          above it the newest CANDIDATES are read by a walk newest first (`_match(walk=True)`).

        A kind with no match is not read again. (Left to itself with a LIMIT of 300, the planner
        misjudged how many rows a text search matches: it walked 200,000 comments newest first to find
        none, and 200,000 to find a manager's 425.)"""
        if not scopes:
            return Page([], {})
        text = query.tsquery()
        gathers, gather_params, wheres = [], [], []
        for scope in scopes:
            rest_params: list[Any] = []
            match_params: list[Any] = []
            rest, match = self._rest(scope, rest_params), self._match(scope, match_params)
            dated = scope.filters.date_from is not None or scope.filters.date_to is not None
            newest_first = query.words_only and not dated
            walk = self._match(scope, [], walk=query.has_phrase or dated)
            rest_params, match_params = self._bind(rest_params, text), self._bind(match_params, text)
            wheres.append((rest, rest_params, walk, match_params, dated, newest_first))
            order = " ORDER BY e.id DESC" if newest_first else ""
            gathers.append(f"ARRAY(SELECT e.id FROM {ENTRY} e WHERE {rest} AND {match}{order} LIMIT %s)")
            gather_params += [*rest_params, *match_params, COUNT_LIMIT + 1]
        with connection.cursor() as cursor:
            cursor.execute("SELECT " + ", ".join(gathers), gather_params)
            gathered = dict(zip([s.kind for s in scopes], cursor.fetchone(), strict=True))
            counts = {kind: len(ids) for kind, ids in gathered.items()}
            parts, parts_params = [], []
            for scope, where in zip(scopes, wheres, strict=True):
                rest, rest_params, walk, match_params, dated, newest_first = where
                ids = gathered[scope.kind]
                if not ids:
                    continue
                # The candidates' ids, then the rank of those only.
                if len(ids) <= COUNT_LIMIT or newest_first:
                    # (The LIMIT, of no effect on at most COUNT_LIMIT ids, keeps the planner from starting
                    # parallel workers for a few hundred index lookups: it took longer to start them.)
                    parts.append(
                        f"SELECT e.id, ts_rank(e.vector, to_tsquery('english', %s), 1) AS score "
                        f"FROM (SELECT unnest(%s::bigint[]) AS id LIMIT {COUNT_LIMIT}) c JOIN {ENTRY} e ON e.id = c.id"
                    )
                    parts_params += [text, ids if len(ids) <= COUNT_LIMIT else ids[:CANDIDATES]]
                    continue
                # Newest first, checking each entry's text until CANDIDATES match: by id, or with dates asked
                # for, by date (`searchentry_<kind>_dated`), which reads only those dates' entries rather
                # than walking past every later one.
                newest = "e.date DESC, e.id DESC" if dated else "e.id DESC"
                candidates = f"SELECT e.id FROM {ENTRY} e WHERE {rest} AND {walk} ORDER BY {newest} LIMIT {CANDIDATES}"
                parts.append(
                    f"SELECT e.id, ts_rank(e.vector, to_tsquery('english', %s), 1) AS score FROM ({candidates}) c "
                    f"JOIN {ENTRY} e ON e.id = c.id"
                )
                parts_params += [text, *rest_params, *match_params]
            if not parts:
                return Page([], counts)
            cursor.execute(
                " UNION ALL ".join(f"({p})" for p in parts) + " ORDER BY score DESC, id DESC LIMIT %s OFFSET %s",
                [*parts_params, limit, offset],
            )  # (the statement reads only the candidates the first one found)
            hits = [(row[0], float(row[1])) for row in cursor.fetchall()]
            highlights = {}
            if hits:
                options = (
                    f"StartSel={MARK_START}, StopSel={MARK_END}, MaxWords=30, MinWords=12, ShortWord=2, "
                    'MaxFragments=2, FragmentDelimiter=" … "'
                )
                cursor.execute(
                    "SELECT id, ts_headline('english', CASE WHEN kind = 'evidence' THEN translate(body, '-_.', '   ') "
                    f"ELSE body END, to_tsquery('english', %s), %s) FROM {ENTRY} WHERE id = ANY(%s)",
                    [text, options, [hit[0] for hit in hits]],
                )
                highlights = {pk: mark(snippet) for pk, snippet in cursor.fetchall()}
        return Page(hits, counts, highlights)


class SqliteBackend(Backend):
    """FTS5, a table per kind, with the entry's organisation, inspection and year as tokens of its `scope`
    column (tracker.search.schema), so that visibility and most filters are intersections inside the index."""

    def _match(self, query: Query, scope: Scope) -> str:
        text = f"body : ({query.fts5()})"
        if scope.organisation_id is not None:
            text += f' AND scope : ("o{int(scope.organisation_id)}")'
        f = scope.filters
        if f.inspection_id is not None:
            text += f' AND scope : ("i{int(f.inspection_id)}")'
        if f.date_from or f.date_to:
            first = (f.date_from or dt.date(1900, 1, 1)).year
            last = (f.date_to or dt.date(2999, 12, 31)).year
            if last - first <= 30:  # years as tokens narrow the index; the dates themselves are checked below
                text += " AND scope : (" + " OR ".join(f'"y{y}"' for y in range(first, last + 1)) + ")"
        return text

    def _joined(self, scope: Scope, params: list[Any]) -> str:
        clauses = []
        f = scope.filters
        if f.date_from is not None:
            clauses.append("e.date >= %s")
            params.append(f.date_from.isoformat())
        if f.date_to is not None:
            clauses.append("e.date <= %s")
            params.append(f.date_to.isoformat())
        if scope.addressed_to is not None:
            clauses.append(
                "e.finding_id IN (SELECT finding_id FROM inspections_finding_addressed_to WHERE organisation_id = %s)"
            )
            params.append(scope.addressed_to)
        return "".join(f" AND {c}" for c in clauses)

    def page(self, query: Query, scopes: list[Scope], offset: int, limit: int) -> Page:
        if not scopes:
            return Page([], {})
        counts_sql, counts_params, parts, parts_params = [], [], [], []
        for scope in scopes:
            table = fts_table(scope.kind)
            params: list[Any] = [self._match(query, scope)]
            extra = self._joined(scope, params)
            source = (
                f"FROM {table} f JOIN {ENTRY} e ON e.id = f.rowid WHERE {table} MATCH %s{extra}"
                if extra
                else f"FROM {table} f WHERE {table} MATCH %s"
            )
            counts_sql.append(f"(SELECT count(*) FROM (SELECT 1 {source} LIMIT %s))")
            counts_params += [*params, COUNT_LIMIT + 1]
            parts.append(
                f"SELECT * FROM (SELECT f.rowid AS id, '{scope.kind}' AS kind, bm25({table}, 1.0, 0.0) AS score "
                f"{source} ORDER BY f.rowid DESC LIMIT %s)"
            )
            parts_params += [*params, CANDIDATES]
        with connection.cursor() as cursor:
            cursor.execute("SELECT " + ", ".join(counts_sql), counts_params)
            counts = dict(zip([s.kind for s in scopes], cursor.fetchone(), strict=True))
            # bm25: lower is better.
            cursor.execute(
                " UNION ALL ".join(parts) + " ORDER BY score ASC, id DESC LIMIT %s OFFSET %s",
                [*parts_params, limit, offset],
            )
            rows = cursor.fetchall()
            hits = [(row[0], -float(row[2])) for row in rows]
            highlights = {}
            if rows:
                # One row at a time (rowid = ?): FTS5 seeks straight to it, where `rowid IN (...)` would
                # read the whole list of every word. Still one statement.
                match = f"body : ({query.fts5()})"
                selects, params = [], []
                for pk, kind, _ in rows:
                    table = fts_table(kind)
                    selects.append(
                        f"SELECT * FROM (SELECT rowid, snippet({table}, 0, %s, %s, '…', 24) FROM {table} "
                        f"WHERE {table} MATCH %s AND rowid = %s)"
                    )
                    params += [MARK_START, MARK_END, match, pk]
                cursor.execute(" UNION ALL ".join(selects), params)
                highlights = {pk: mark(snippet) for pk, snippet in cursor.fetchall()}
        return Page(hits, counts, highlights)


def backend() -> Backend:
    return PostgresBackend() if connection.vendor == "postgresql" else SqliteBackend()


def matching_objects(kind: str, query: Query) -> RawSQL:
    """The ids of the source rows of `kind` whose text matches, as a subquery for `pk__in=` (the plan
    list's `q`): read from the full-text index, not by reading every text. No visibility applied: the
    caller filters a queryset already scoped to the reader."""
    if connection.vendor == "postgresql":
        return RawSQL(
            f"SELECT object_id FROM {ENTRY} WHERE kind = %s AND vector @@ to_tsquery('english', %s)",
            (kind, query.tsquery()),
        )
    table = fts_table(kind)
    return RawSQL(
        f"SELECT object_id FROM {ENTRY} WHERE id IN (SELECT rowid FROM {table} WHERE {table} MATCH %s)",
        (f"body : ({query.fts5()})",),
    )


def matching_ids(kind: str, query: Query, limit: int) -> list[int]:
    """The ids of at most `limit` source rows of `kind` that match (more than `limit`: there are many)."""
    if connection.vendor == "postgresql":
        sql = f"SELECT object_id FROM {ENTRY} WHERE kind = %s AND vector @@ to_tsquery('english', %s) LIMIT %s"
        params: tuple = (kind, query.tsquery(), limit)
    else:
        table = fts_table(kind)
        sql = f"SELECT e.object_id FROM {table} f JOIN {ENTRY} e ON e.id = f.rowid WHERE {table} MATCH %s LIMIT %s"
        params = (f"body : ({query.fts5()})", limit)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [row[0] for row in cursor.fetchall()]


def matches_row(kind: str, query: Query, outer: str) -> Exists:
    """Whether the source row of `kind` whose id is the outer query's `outer` matches: one lookup of its
    entry per row the outer query reads (for walking a list in its own order until a page is full)."""
    from ..models import SearchEntry

    if connection.vendor == "postgresql":
        # A range of one rather than `=`: PostgreSQL would otherwise turn the check into a hash of every
        # match (reading all of them), where one index lookup per row read is what keeps this bounded.
        entries = SearchEntry.objects.filter(
            kind=kind, object_id__gte=OuterRef(outer), object_id__lte=OuterRef(outer)
        ).extra(where=["vector @@ to_tsquery('english', %s)"], params=[query.tsquery()])
    else:
        table = fts_table(kind)
        in_index = RawSQL(f"SELECT rowid FROM {table} WHERE {table} MATCH %s", (f"body : ({query.fts5()})",))
        entries = SearchEntry.objects.filter(kind=kind, object_id=OuterRef(outer), id__in=in_index)
    return Exists(entries)
