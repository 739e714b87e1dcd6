"""The search index's database objects: triggers that keep `tracker_searchentry` in step with its sources,
and each database's own full-text index over it.

Why triggers: every way of writing (the workflow, the admin, imports and bulk loads that send no
signals, load data, a data migration) is followed by construction, in the same statement and so the
same transaction as the change.

- Sources: `inspections_finding` (reference and text), `tracker_actionplan` (the response), `tracker_update`
  (progress notes, status notes and comments), `tracker_evidence` (file names). An insert writes the
  entry; a change of what the entry holds deletes and writes it again; a delete removes it (a plan's
  delete removes its notes' and files' entries). A plan moved to another organisation or finding moves
  its notes' and files' entries with it, so visibility never lags; an inspection's date moves its findings'.
- PostgreSQL: a trigger fills `vector` (`to_tsvector('english', body)`, file names split at `-_.`, and
  for the plan side lexemes of the organisation and year: `vector_expression`, migration 0014); a GIN
  index serves `@@`. For suggested links (`tracker.suggestions`) the same trigger keeps a finding's
  trigrams in `trigrams` (pg_trgm's, as numbers; intarray compares them), a column of PostgreSQL's only,
  which the model does not hold. Created by migration 0008 via django.contrib.postgres; `trigrams` by
  `install()` (migration 0028).
- SQLite: an FTS5 table per kind of entry with external content (a view of that kind's entries),
  kept by triggers on `tracker_searchentry`. Its second column, `scope`, holds tokens for the entry's
  organisation, inspection and year, so that visibility and filters are matched inside the index.
  (One table per kind rather than a kind token: FTS5's bm25 reads the whole list of every token of
  the query once, and a token on 900,000 notes cost 50 ms a search at national scale.)

SQLite's schema editor rebuilds a table for many column changes and drops its triggers: `ensure()`
runs after every `migrate` (tracker.apps) and reinstalls anything missing, then rebuilds the index.
"""

from __future__ import annotations

from django.db import connection as default_connection
from django.db.backends.base.base import BaseDatabaseWrapper

ENTRY = "tracker_searchentry"
KINDS = ("finding", "plan", "note", "comment", "evidence")


def fts_table(kind: str) -> str:
    """SQLite: one FTS5 table per kind, so that ranking within a kind never reads another kind's rows."""
    return f"tracker_search_fts_{kind}"


def fts_source(kind: str) -> str:
    return f"tracker_search_fts_{kind}_source"


COLUMNS = "kind, object_id, finding_id, inspection_id, plan_id, organisation_id, date, body"
NOTE_KIND = "CASE u.kind WHEN 'comment' THEN 'comment' ELSE 'note' END"


def _date(vendor: str, column: str) -> str:
    # Django keeps datetimes as timestamptz on PostgreSQL (the session is in UTC) and as ISO text on SQLite.
    return f"date({column})" if vendor == "sqlite" else f"CAST({column} AS date)"


def sources(vendor: str) -> dict[str, str]:
    """For each kind of entry, the SELECT of its columns (in COLUMNS order) from its source; `{where}` narrows it."""
    return {
        "finding": (
            "SELECT 'finding', f.id, f.id, f.inspection_id, NULL, NULL, i.published_on, f.reference || ' ' || f.text "
            "FROM inspections_finding f JOIN inspections_inspection i ON i.id = f.inspection_id WHERE {where}"
        ),
        "plan": (
            f"SELECT 'plan', p.id, p.finding_id, f.inspection_id, p.id, p.organisation_id, "
            f"{_date(vendor, 'p.created_at')}, p.summary "
            "FROM tracker_actionplan p JOIN inspections_finding f ON f.id = p.finding_id "
            "WHERE p.summary <> '' AND {where}"
        ),
        "note": (
            f"SELECT {NOTE_KIND}, u.id, p.finding_id, f.inspection_id, p.id, p.organisation_id, "
            f"{_date(vendor, 'u.created_at')}, u.note "
            "FROM tracker_update u JOIN tracker_actionplan p ON p.id = u.plan_id "
            "JOIN inspections_finding f ON f.id = p.finding_id WHERE u.note <> '' AND {where}"
        ),
        "evidence": (
            f"SELECT 'evidence', e.id, p.finding_id, f.inspection_id, p.id, p.organisation_id, "
            f"{_date(vendor, 'e.uploaded_at')}, e.original_name "
            "FROM tracker_evidence e JOIN tracker_update u ON u.id = e.update_id "
            "JOIN tracker_actionplan p ON p.id = u.plan_id JOIN inspections_finding f ON f.id = p.finding_id "
            "WHERE {where}"
        ),
    }


def _reindex(vendor: str, source: str, kinds: str, where: str, row: str = "NEW") -> list[str]:
    """Statements that write a source row's entry afresh."""
    return [
        f"DELETE FROM {ENTRY} WHERE kind IN ({kinds}) AND object_id = {row}.id",
        f"INSERT INTO {ENTRY} ({COLUMNS}) " + sources(vendor)[source].format(where=where.format(row=row)),
    ]


def trigger_bodies(vendor: str) -> dict[str, tuple[str, str, str, list[str]]]:
    """name -> (table, event, condition, statements), the same for both databases."""
    moved = (
        f"UPDATE {ENTRY} SET organisation_id = NEW.organisation_id, finding_id = NEW.finding_id, "
        "inspection_id = (SELECT inspection_id FROM inspections_finding WHERE id = NEW.finding_id) "
        "WHERE plan_id = NEW.id"
    )
    distinct = "IS NOT" if vendor == "sqlite" else "IS DISTINCT FROM"

    def changed(*columns: str) -> str:
        return " OR ".join(f"OLD.{c} {distinct} NEW.{c}" for c in columns)

    finding = ("finding", "'finding'", "f.id = {row}.id")
    plan = ("plan", "'plan'", "p.id = {row}.id")
    note = ("note", "'note', 'comment'", "u.id = {row}.id")
    evidence = ("evidence", "'evidence'", "e.id = {row}.id")
    return {
        "finding_insert": ("inspections_finding", "INSERT", "", _reindex(vendor, *finding)[1:]),
        "finding_update": (
            "inspections_finding", "UPDATE", changed("reference", "text", "inspection_id"),
            [*_reindex(vendor, *finding),
             f"UPDATE {ENTRY} SET inspection_id = NEW.inspection_id WHERE finding_id = NEW.id"],
        ),
        "finding_delete": ("inspections_finding", "DELETE", "",
                           [f"DELETE FROM {ENTRY} WHERE kind = 'finding' AND object_id = OLD.id"]),
        "inspection_update": (
            "inspections_inspection", "UPDATE", changed("published_on"),
            [f"UPDATE {ENTRY} SET date = NEW.published_on WHERE kind = 'finding' AND inspection_id = NEW.id"],
        ),
        "plan_insert": ("tracker_actionplan", "INSERT", "", _reindex(vendor, *plan)[1:]),
        "plan_update": (
            "tracker_actionplan", "UPDATE", changed("summary", "organisation_id", "finding_id", "created_at"),
            [moved, *_reindex(vendor, *plan)],
        ),
        "plan_delete": ("tracker_actionplan", "DELETE", "", [f"DELETE FROM {ENTRY} WHERE plan_id = OLD.id"]),
        "update_insert": ("tracker_update", "INSERT", "", _reindex(vendor, *note)[1:]),
        "update_update": (
            "tracker_update", "UPDATE", changed("note", "kind", "created_at", "plan_id"), _reindex(vendor, *note)
        ),
        "update_delete": ("tracker_update", "DELETE", "",
                          [f"DELETE FROM {ENTRY} WHERE kind IN ('note', 'comment') AND object_id = OLD.id"]),
        "evidence_insert": ("tracker_evidence", "INSERT", "", _reindex(vendor, *evidence)[1:]),
        "evidence_update": (
            "tracker_evidence", "UPDATE", changed("original_name", "uploaded_at", "update_id"),
            _reindex(vendor, *evidence),
        ),
        "evidence_delete": ("tracker_evidence", "DELETE", "",
                            [f"DELETE FROM {ENTRY} WHERE kind = 'evidence' AND object_id = OLD.id"]),
    }  # fmt: skip


def scope_expression(row: str = "") -> str:
    """SQLite: the FTS5 `scope` tokens of an entry, from its own columns only (so that the FTS5 'delete'
    command, which needs the values once indexed, can always compute them again from the old row)."""
    p = f"{row}." if row else ""
    return (
        f"'o' || coalesce({p}organisation_id, 'all') || ' i' || {p}inspection_id"
        f" || ' y' || coalesce(substr({p}date, 1, 4), 'none')"
    )


def _sqlite_statements() -> list[str]:
    statements = []
    inserts, deletes = [], []
    for kind in KINDS:
        table, source = fts_table(kind), fts_source(kind)
        statements += [
            f"CREATE VIEW IF NOT EXISTS {source} AS SELECT id, body, {scope_expression()} AS scope FROM {ENTRY} "
            f"WHERE kind = '{kind}'",
            f"CREATE VIRTUAL TABLE IF NOT EXISTS {table} USING fts5(body, scope, content='{source}', "
            "content_rowid='id', tokenize='porter unicode61 remove_diacritics 2')",
        ]
        inserts.append(
            f"INSERT INTO {table}(rowid, body, scope) SELECT NEW.id, NEW.body, {scope_expression('NEW')} "
            f"WHERE NEW.kind = '{kind}';"
        )
        deletes.append(
            f"INSERT INTO {table}({table}, rowid, body, scope) SELECT 'delete', OLD.id, OLD.body, "
            f"{scope_expression('OLD')} WHERE OLD.kind = '{kind}';"
        )
    insert, delete = " ".join(inserts), " ".join(deletes)
    fts_triggers = {"fts_insert": ("INSERT", insert), "fts_delete": ("DELETE", delete),
                    "fts_update": ("UPDATE", delete + " " + insert)}  # fmt: skip
    for name, (event, body) in fts_triggers.items():
        statements.append(
            f"CREATE TRIGGER IF NOT EXISTS tracker_search_{name} AFTER {event} ON {ENTRY} BEGIN {body} END"
        )
    for name, (table, event, condition, body) in trigger_bodies("sqlite").items():
        when = f" WHEN {condition}" if condition else ""
        statements.append(
            f"CREATE TRIGGER IF NOT EXISTS tracker_search_{name} AFTER {event} ON {table}{when} "
            f"BEGIN {'; '.join(body)}; END"
        )
    return statements


def organisation_lexeme(organisation_id: int) -> str:
    """PostgreSQL: the lexeme that a plan-side entry's vector holds for its organisation. No typed word can
    be it: the search box reads words of letters and digits only, and the parser splits at `_`."""
    return f"org_{int(organisation_id)}"


def year_lexeme(year: int) -> str:
    return f"year_{int(year)}"


def vector_expression(row: str = "") -> str:
    """PostgreSQL: an entry's vector, from its own columns. Its words (`to_tsvector('english', ...)`; file
    names split at their separators so that their words are found) and, for the plan side, two lexemes
    without positions for its organisation and year: a reader's organisation and a date filter are then
    intersections inside the GIN index (as SQLite's `scope` column), not rows read from the table and
    thrown away. Findings (no organisation) have their words only, so suggested links rank as before."""
    p = f"{row}." if row else ""
    words = (
        f"to_tsvector('english', CASE WHEN {p}kind = 'evidence' THEN translate({p}body, '-_.', '   ') "
        f"ELSE {p}body END)"
    )
    scope = (
        f"array_to_tsvector(array_remove(ARRAY['org_' || {p}organisation_id, "
        f"'year_' || extract(year FROM {p}date)::int], NULL))"
    )
    return f"CASE WHEN {p}organisation_id IS NULL THEN {words} ELSE {words} || {scope} END"


# PostgreSQL: a finding's trigrams, as pg_trgm makes them (`show_trgm`: lower case, words of letters and
# digits, two spaces before and one after each word; a trigram with a letter outside ASCII is a checksum,
# which `show_trgm` prints as 0x and six hex digits), each as the number of its three bytes, sorted. pg_trgm's
# `similarity(a, b)` is the number of trigrams both texts have over the number either has, as `real`;
# kept with the entry, the same figure for a new text is intarray's count of the two arrays' intersection
# (tracker.suggestions), about 3 microseconds a finding against 50 for making both texts' trigrams again.
TRIGRAMS_FUNCTION = (
    "CREATE OR REPLACE FUNCTION tracker_trigrams(body text) RETURNS integer[] "
    "LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$ SELECT sort(array("
    "SELECT CASE WHEN length(trigram) = 3 "
    "THEN (ascii(trigram) << 16) | (ascii(substr(trigram, 2, 1)) << 8) | ascii(substr(trigram, 3, 1)) "
    "ELSE ('x' || lpad(substr(trigram, 3), 8, '0'))::bit(32)::integer END "
    "FROM unnest(show_trgm(body)) AS trigram)) $$"
)


def trigrams_expression(row: str = "") -> str:
    """PostgreSQL: an entry's `trigrams`: a finding's (suggested links compare findings only), else none."""
    p = f"{row}." if row else ""
    return f"CASE WHEN {p}kind = 'finding' THEN tracker_trigrams({p}body) END"


def _postgresql_statements() -> list[str]:
    statements = [
        # pg_trgm is created by migration 0008 (django.contrib.postgres's TrigramExtension); intarray
        # counts the trigrams two findings share. Both are trusted extensions: a database's owner may add them.
        "CREATE EXTENSION IF NOT EXISTS intarray",
        f"ALTER TABLE {ENTRY} ADD COLUMN IF NOT EXISTS trigrams integer[]",
        TRIGRAMS_FUNCTION,
        "CREATE OR REPLACE FUNCTION tracker_search_vector() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"NEW.vector := {vector_expression('NEW')}; NEW.trigrams := {trigrams_expression('NEW')}; "
        "RETURN NEW; END $$",
        f"DROP TRIGGER IF EXISTS tracker_search_vector ON {ENTRY}",
        "CREATE TRIGGER tracker_search_vector BEFORE INSERT OR UPDATE OF body, kind, organisation_id, date "
        f"ON {ENTRY} FOR EACH ROW EXECUTE FUNCTION tracker_search_vector()",
    ]
    for name, (table, event, condition, body) in trigger_bodies("postgresql").items():
        function = f"tracker_search_{name}"
        statements += [
            f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"{'; '.join(body)}; RETURN NULL; END $$",
            f"DROP TRIGGER IF EXISTS {function} ON {table}",
            f"CREATE TRIGGER {function} AFTER {event} ON {table} FOR EACH ROW"
            + (f" WHEN ({condition})" if condition else "")
            + f" EXECUTE FUNCTION {function}()",
        ]
    return statements


def trigger_names(vendor: str) -> set[str]:
    names = {f"tracker_search_{name}" for name in trigger_bodies(vendor)}
    if vendor == "sqlite":
        names |= set(FTS_TRIGGERS)
    else:
        names.add("tracker_search_vector")
    return names


def install(connection: BaseDatabaseWrapper = default_connection) -> None:
    """Create (or replace) the triggers and, on SQLite, the FTS5 table. Safe to run again."""
    statements = _sqlite_statements() if connection.vendor == "sqlite" else _postgresql_statements()
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


FTS_TRIGGERS = ("tracker_search_fts_insert", "tracker_search_fts_delete", "tracker_search_fts_update")


def rebuild(connection: BaseDatabaseWrapper = default_connection) -> None:
    """Write every entry afresh from its source (after install, or to repair the index).

    On SQLite the FTS5 tables are rebuilt in bulk from their content afterwards, with their triggers
    off meanwhile: FTS5's "delete" of a row it does not hold would corrupt the index.
    """
    vendor = connection.vendor
    with connection.cursor() as cursor:
        if vendor == "sqlite":
            for name in FTS_TRIGGERS:
                cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
        cursor.execute(f"DELETE FROM {ENTRY}")
        for select in sources(vendor).values():
            cursor.execute(f"INSERT INTO {ENTRY} ({COLUMNS}) " + select.format(where="1 = 1"))
        if vendor == "sqlite":
            for kind in KINDS:
                cursor.execute(f"INSERT INTO {fts_table(kind)}({fts_table(kind)}) VALUES ('rebuild')")
    if vendor == "sqlite":
        install(connection)


def installed(connection: BaseDatabaseWrapper = default_connection) -> set[str]:
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'tracker_search_%'")
        else:
            cursor.execute("SELECT tgname FROM pg_trigger WHERE tgname LIKE 'tracker_search_%'")
        return {row[0] for row in cursor.fetchall()}


def ensure(connection: BaseDatabaseWrapper = default_connection) -> bool:
    """Reinstall missing triggers (a table rebuilt by a later migration loses them) and rebuild the index,
    which may have missed writes meanwhile. True if anything was missing."""
    if connection.vendor not in ("sqlite", "postgresql"):
        return False
    if connection.introspection.table_names().count(ENTRY) == 0:
        return False  # not migrated this far
    if trigger_names(connection.vendor) <= installed(connection):
        return False
    install(connection)
    rebuild(connection)
    return True
