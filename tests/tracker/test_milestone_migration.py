"""Migration 0018 (milestones) from the previous head: the plan table gains a column without being
rebuilt, so the search index's triggers on it survive and search still follows every change."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from tracker.models import SearchEntry
from tracker.search import schema

BEFORE = [("tracker", "0019_job_imports")]
AFTER = [("tracker", "0020_milestones")]


@pytest.mark.django_db(transaction=True)
def test_migrating_to_milestones_keeps_the_search_triggers_and_the_plans():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    try:
        apps = executor.loader.project_state(BEFORE).apps
        Organisation = apps.get_model("inspections", "Organisation")
        Inspection = apps.get_model("inspections", "Inspection")
        Finding = apps.get_model("inspections", "Finding")
        OldPlan = apps.get_model("tracker", "ActionPlan")
        surrey = Organisation.objects.create(name="Surrey Police", slug="surrey", kind="force")
        inspection = Inspection.objects.create(title="SOC", slug="soc", programme="soc")
        finding = Finding.objects.create(inspection=inspection, reference="R1", kind="recommendation", text="t")
        old = OldPlan.objects.create(finding=finding, organisation=surrey, status="in_progress", summary="analysts")
        triggers_before = schema.installed(connection)

        executor = MigrationExecutor(connection)
        executor.migrate(AFTER)

        assert schema.installed(connection) == triggers_before == schema.trigger_names(connection.vendor)
        ActionPlan = executor.loader.project_state(AFTER).apps.get_model("tracker", "ActionPlan")
        plan = ActionPlan.objects.get(pk=old.pk)
        assert plan.next_milestone_date is None and plan.summary == "analysts"
        ActionPlan.objects.filter(pk=plan.pk).update(summary="intelligence profile refreshed")
        entry = SearchEntry.objects.get(kind=SearchEntry.Kind.PLAN, object_id=plan.pk)
        assert entry.body == "intelligence profile refreshed"  # the trigger still follows the plan
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
