"""A new target date is today or later (form, API, bulk: a clear field error, nothing changes); only a date
later than any agreed before is a deferral, an earlier one is "brought forward", and both are shown."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from tests.factories import ActionPlanFactory
from tests.tracker.test_api import API, Api
from tracker import workflow
from tracker.models import ActionPlan, Update

pytestmark = pytest.mark.django_db
S = ActionPlan.Status


def days(n: int) -> dt.date:
    return timezone.localdate() + dt.timedelta(days=n)


def state(plan: ActionPlan) -> dict[str, object]:
    return {
        "row": ActionPlan.objects.filter(pk=plan.pk).values().get(),
        "updates": list(Update.objects.filter(plan=plan).values_list("pk", flat=True)),
    }


@pytest.fixture
def plan(org):
    return ActionPlanFactory(
        organisation=org, status=S.IN_PROGRESS, target_date=days(30), original_target_date=days(30)
    )


def test_the_workflow_refuses_a_date_before_today_and_accepts_today(plan, manager):
    before = state(plan)
    with pytest.raises(ValidationError) as error:
        workflow.change_target_date(plan=plan, user=manager, target_date=days(-1), reason="Back-dated.")
    assert error.value.code == "past"
    assert state(plan) == before
    workflow.change_target_date(plan=plan, user=manager, target_date=days(0), reason="Done sooner.")
    plan.refresh_from_db()
    assert (plan.target_date, plan.brought_forward_count, plan.deferral_count) == (days(0), 1, 0)


def test_the_form_shows_a_field_error_and_changes_nothing(client, plan, manager):
    client.force_login(manager)
    before = state(plan)
    response = client.post(
        f"/plans/{plan.pk}/target-date/",
        {"target-date-version": plan.version, "target-date-target_date": "2025-10-25", "target-date-reason": "x"},
    )
    assert response.status_code == 400
    form = next(f["form"] for f in response.context["action_forms"] if f["action"].slug == "target-date")
    assert "cannot be before today" in form.errors["target_date"][0]
    assert "cannot be before today" in response.content.decode()
    assert state(plan) == before


def test_the_api_refuses_a_past_date_as_a_field_error(plan, manager):
    before = state(plan)
    response = Api(manager).post(
        f"{API}/plans/{plan.pk}/target-date/",
        {"version": plan.version, "target_date": "2025-10-25", "reason": "x"},
    )
    assert response.status_code == 400
    assert "cannot be before today" in response.json()["target_date"][0]
    assert state(plan) == before


def test_a_bulk_change_to_a_past_date_is_refused_for_every_plan(client, org, plan, manager):
    other = ActionPlanFactory(organisation=org, target_date=days(5))
    client.force_login(manager)
    before = [state(plan), state(other)]
    response = client.post(
        "/plans/bulk/",
        {"query": "", "action": "target-date", "plans": [plan.pk, other.pk],
         "target_date": days(-3).isoformat(), "reason": "x"},
    )  # fmt: skip
    assert response.status_code == 400
    assert "cannot be before today" in response.content.decode()
    assert [state(plan), state(other)] == before


def test_only_a_date_later_than_any_agreed_before_is_a_deferral(plan, manager):
    # 30 -> 60 deferred; -> 45 brought forward; -> 60 back to a date agreed before (neither);
    # -> 90 deferred; -> 10 brought forward.
    moves = [(60, 1, 0), (45, 1, 1), (60, 1, 1), (90, 2, 1), (10, 2, 2)]
    for offset, deferred, brought_forward in moves:
        workflow.change_target_date(plan=plan, user=manager, target_date=days(offset), reason="Board agreed.")
        plan.refresh_from_db()
        assert (plan.deferral_count, plan.brought_forward_count) == (deferred, brought_forward), offset
    labels = [u.change_label for u in plan.updates.order_by("pk")]
    assert labels == [
        "Target date moved later",
        "Target date brought forward",
        "Target date moved later",
        "Target date moved later",
        "Target date brought forward",
    ]
    assert plan.date_moves == "deferred 2 times, brought forward 2 times, -20 days"


def test_putting_a_date_back_is_not_a_deferral(plan, manager):
    workflow.change_target_date(plan=plan, user=manager, target_date=days(20), reason="Sooner.")
    workflow.change_target_date(plan=plan, user=manager, target_date=days(30), reason="As agreed after all.")
    plan.refresh_from_db()
    assert (plan.deferral_count, plan.brought_forward_count) == (0, 1)
    assert plan.date_moves == "brought forward 1 time, +0 days"


def test_brought_forward_plans_are_shown_and_counted(client, plan, manager):
    workflow.change_target_date(plan=plan, user=manager, target_date=days(10), reason="Sooner.")
    client.force_login(manager)
    body = client.get("/plans/").content.decode()
    assert "brought forward 1 time, -20 days" in body
    response = client.get("/plans/?brought_forward=1")
    assert response.context["paginator"].count == 1
    assert client.get("/plans/?deferred=1").context["paginator"].count == 0
    detail = client.get(f"/plans/{plan.pk}/").content.decode()
    assert "Brought forward 1 time, -20 days" in detail
    assert "Last change of date" in detail and "Sooner." in detail
    assert "Target date brought forward" in detail
