"""Migration 0025 (the plans' stage number, a column the database computes) from the previous head, on a
database that holds plans of every status: on SQLite the plans' table is built anew to add a stored
generated column, with the search index's triggers set aside meanwhile; afterwards every plan has its
stage's number, the triggers are all there and search still follows every change."""

from __future__ import annotations

import pytest
from django.db import connection

from tests.migrations import migrating
from tracker.models import ActionPlan, SearchEntry
from tracker.search import schema

BEFORE = [("tracker", "0024_no_action_proposals")]
AFTER = [("tracker", "0026_plan_stage_number_statistics")]


@pytest.mark.django_db(transaction=True)
def test_migrating_to_the_stage_number_keeps_the_plans_and_the_search_triggers():
    with migrating(BEFORE, AFTER) as migration:
        apps = migration.before
        Organisation = apps.get_model("inspections", "Organisation")
        Inspection = apps.get_model("inspections", "Inspection")
        Finding = apps.get_model("inspections", "Finding")
        OldPlan = apps.get_model("tracker", "ActionPlan")
        OldUpdate = apps.get_model("tracker", "Update")
        surrey = Organisation.objects.create(name="Surrey Police", slug="surrey", kind="force")
        author = apps.get_model("tracker", "User").objects.create(username="staff", role="staff", organisation=surrey)
        inspection = Inspection.objects.create(title="SOC", slug="soc", programme="soc")
        old = {}
        for n, status in enumerate(ActionPlan.Status.values):
            finding = Finding.objects.create(inspection=inspection, reference=f"R{n}", kind="recommendation", text="t")
            old[status] = OldPlan.objects.create(
                finding=finding, organisation=surrey, status=status, summary=f"analysts {status}"
            )
            OldUpdate.objects.create(plan=old[status], author=author, kind="note", note=f"profile {status}")
        triggers_before = schema.installed(connection)
        assert triggers_before == schema.trigger_names(connection.vendor)

        Plan = migration.forward().get_model("tracker", "ActionPlan")

        assert schema.installed(connection) == triggers_before
        rows = dict(Plan.objects.values_list("status", "stage_number"))
        stage_of = {status: stage for stage, statuses in ActionPlan.STAGE_STATUSES.items() for status in statuses}
        assert rows == {status: ActionPlan.STAGE_NUMBERS[stage_of[status]] for status in ActionPlan.Status.values}
        assert Plan.objects.count() == len(ActionPlan.Status.values)

        plan = old[ActionPlan.Status.IN_PROGRESS]
        Plan.objects.filter(pk=plan.pk).update(status=ActionPlan.Status.CLOSED, summary="profiles refreshed")
        assert Plan.objects.get(pk=plan.pk).stage_number == ActionPlan.STAGE_NUMBERS[ActionPlan.Stage.VERIFIED]
        entry = SearchEntry.objects.get(kind=SearchEntry.Kind.PLAN, object_id=plan.pk)
        assert entry.body == "profiles refreshed"  # the plan's trigger still follows it
        OldUpdate.objects.create(plan_id=plan.pk, author=author, kind="note", note="vetting backlog cleared")
        assert SearchEntry.objects.filter(kind=SearchEntry.Kind.NOTE, body="vetting backlog cleared").exists()
