"""Migration 0018 (milestones) from the previous head: the plan table gains a column without being
rebuilt, so the search index's triggers on it survive and search still follows every change."""

from __future__ import annotations

import pytest
from django.db import connection

from tests.migrations import migrating
from tracker.models import SearchEntry
from tracker.search import schema

BEFORE = [("tracker", "0019_job_imports")]
AFTER = [("tracker", "0020_milestones")]


@pytest.mark.django_db(transaction=True)
def test_migrating_to_milestones_keeps_the_search_triggers_and_the_plans():
    with migrating(BEFORE, AFTER) as migration:
        apps = migration.before
        Organisation = apps.get_model("inspections", "Organisation")
        Inspection = apps.get_model("inspections", "Inspection")
        Finding = apps.get_model("inspections", "Finding")
        OldPlan = apps.get_model("tracker", "ActionPlan")
        surrey = Organisation.objects.create(name="Surrey Police", slug="surrey", kind="force")
        inspection = Inspection.objects.create(title="SOC", slug="soc", programme="soc")
        finding = Finding.objects.create(inspection=inspection, reference="R1", kind="recommendation", text="t")
        old = OldPlan.objects.create(finding=finding, organisation=surrey, status="in_progress", summary="analysts")
        triggers_before = schema.installed(connection)

        ActionPlan = migration.forward().get_model("tracker", "ActionPlan")

        assert schema.installed(connection) == triggers_before == schema.trigger_names(connection.vendor)
        plan = ActionPlan.objects.get(pk=old.pk)
        assert plan.next_milestone_date is None and plan.summary == "analysts"
        ActionPlan.objects.filter(pk=plan.pk).update(summary="intelligence profile refreshed")
        entry = SearchEntry.objects.get(kind=SearchEntry.Kind.PLAN, object_id=plan.pk)
        assert entry.body == "intelligence profile refreshed"  # the trigger still follows the plan
