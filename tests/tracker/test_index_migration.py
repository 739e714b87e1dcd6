"""Migrations inspections.0008 and tracker.0029 (indexes that repeated another's first column), both ways, on
a database holding a plan with an update: the fields' own indexes go and come back, the tables are changed
in place (on SQLite too: no copy, so the search index's triggers stay) and search still follows."""

from __future__ import annotations

import pytest
from django.db import connection

from tests.migrations import migrating
from tracker.search import schema

BEFORE = [("tracker", "0028_searchentry_trigrams"), ("inspections", "0007_inspection_published_idx")]
AFTER = [("tracker", "0029_redundant_indexes"), ("inspections", "0008_redundant_indexes")]
ALONE = {  # table: columns that had an index of their own
    "tracker_actionplan": {"finding_id", "organisation_id", "owner_id", "superseded_by_id"},
    "tracker_update": {"plan_id"},
    "inspections_finding": {"inspection_id"},
}


def indexed_alone(table: str) -> set[str]:
    """Columns with a non-unique index of their own on `table`, not counting the partial one made for
    the superseding finding."""
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    return {
        details["columns"][0]
        for name, details in constraints.items()
        if details["index"] and not details["unique"] and len(details["columns"]) == 1
        and name != "actionplan_superseded_idx"
    }  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_the_fields_own_indexes_go_and_come_back_and_search_still_follows():
    with migrating(BEFORE, AFTER) as migration:
        for table, columns in ALONE.items():
            assert indexed_alone(table) >= columns, table  # back after the migrations were undone
        apps = migration.before
        surrey = apps.get_model("inspections", "Organisation").objects.create(name="Surrey", slug="surrey")
        author = apps.get_model("tracker", "User").objects.create(username="staff", role="staff", organisation=surrey)
        inspection = apps.get_model("inspections", "Inspection").objects.create(title="SOC", slug="soc")
        finding = apps.get_model("inspections", "Finding").objects.create(
            inspection=inspection, reference="R1", kind="recommendation", text="Analysts"
        )
        plan = apps.get_model("tracker", "ActionPlan").objects.create(finding=finding, organisation=surrey)
        apps.get_model("tracker", "Update").objects.create(plan=plan, author=author, kind="note", note="profile")
        triggers = schema.installed(connection)

        after = migration.forward()

        for table, columns in ALONE.items():
            assert indexed_alone(table).isdisjoint(columns), table
        assert schema.installed(connection) == triggers == schema.trigger_names(connection.vendor)
        assert after.get_model("tracker", "ActionPlan").objects.get().finding_id == finding.pk
        assert after.get_model("tracker", "Update").objects.get().note == "profile"
        Update, SearchEntry = after.get_model("tracker", "Update"), after.get_model("tracker", "SearchEntry")
        added = Update.objects.create(plan_id=plan.pk, author_id=author.pk, kind="comment", note="vetting checks")
        assert SearchEntry.objects.filter(object_id=added.pk, body__contains="vetting").exists()
