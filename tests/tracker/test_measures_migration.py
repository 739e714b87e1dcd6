"""Migration inspections 0006 (a finding's "what good looks like") from the previous head, on a database
that already holds findings and plans: the finding table gains a column without being rebuilt, so the
search index's triggers on it survive and search still follows every change."""

from __future__ import annotations

import pytest
from django.db import connection, migrations
from django.db.migrations.executor import MigrationExecutor

from inspections.models import Finding
from tests.migrations import migrating
from tracker.models import SearchEntry
from tracker.search import schema

BEFORE = [("inspections", "0005_remove_finding_supersedes"), ("tracker", "0021_dependencies")]
AFTER = [("inspections", "0006_finding_what_good_looks_like")]


@pytest.mark.django_db(transaction=True)
def test_migrating_to_what_good_looks_like_keeps_the_findings_and_the_search_triggers():
    with migrating(BEFORE, AFTER) as migration:
        apps = migration.before
        Organisation = apps.get_model("inspections", "Organisation")
        Inspection = apps.get_model("inspections", "Inspection")
        OldFinding = apps.get_model("inspections", "Finding")
        OldPlan = apps.get_model("tracker", "ActionPlan")
        surrey = Organisation.objects.create(name="Surrey Police", slug="surrey", kind="force")
        inspection = Inspection.objects.create(title="SOC", slug="soc", programme="soc")
        old = OldFinding.objects.create(inspection=inspection, reference="R1", kind="recommendation", text="profiles")
        OldPlan.objects.create(finding=old, organisation=surrey, status="in_progress", summary="analysts")
        triggers_before = schema.installed(connection)

        migration.forward()

        assert schema.installed(connection) == triggers_before == schema.trigger_names(connection.vendor)
        finding = Finding.objects.get(pk=old.pk)
        assert finding.what_good_looks_like == "" and finding.text == "profiles"
        Finding.objects.filter(pk=finding.pk).update(text="local profiles refreshed every year")
        entry = SearchEntry.objects.get(kind=SearchEntry.Kind.FINDING, object_id=finding.pk)
        assert "refreshed every year" in entry.body  # the trigger still follows the finding


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "sqlite", reason="only SQLite rebuilds a table to change it")
def test_no_migration_after_the_search_index_rebuilds_a_table_that_has_search_triggers():
    """SQLite cannot add most columns in place, so Django copies the table to `new__<table>`, drops the
    old one and renames: the search triggers on it (and the triggers of other tables that read it)
    break the copy of a database that holds rows. Every migration since the search index must change
    those tables in place, or drop the search triggers first and install them again last (as 0025, the
    plans' stage number, must: tested on a database holding rows in test_stage_number_migration.py)."""
    executor = MigrationExecutor(connection)
    graph = executor.loader.graph
    before_search = set(graph.forwards_plan(("tracker", "0008_searchentry")))
    since = [key for leaf in graph.leaf_nodes() for key in graph.forwards_plan(leaf) if key not in before_search]
    watched = {table for table, *_ in schema.trigger_bodies("sqlite").values()}
    rebuilt = {}
    for key in dict.fromkeys(since):
        migration = executor.loader.graph.nodes[key]
        statements = executor.loader.collect_sql([(migration, False)])
        tables = {table for table in watched if any(f'"new__{table}"' in sql for sql in statements)}
        if tables and not _sets_the_search_triggers_aside(migration):
            rebuilt[key] = tables
    assert rebuilt == {}


def _sets_the_search_triggers_aside(migration) -> bool:
    """Its first operation drops the search triggers and its last schema change is followed by one
    installing them again."""
    names = [getattr(getattr(operation, "code", None), "__name__", "") for operation in migration.operations]
    if not names or names[0] != "drop_search_triggers" or "install_search_triggers" not in names:
        return False
    installed_at = names.index("install_search_triggers")
    return all(not isinstance(operation, migrations.AddField | migrations.AlterField | migrations.RemoveField)
               for operation in migration.operations[installed_at:])  # fmt: skip
