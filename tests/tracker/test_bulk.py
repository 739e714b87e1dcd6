"""Bulk actions on /plans/: each plan through the same workflow call, refusals listed with reasons."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.factories import ActionPlanFactory, StaffFactory
from tracker import bulk
from tracker.models import ActionPlan, Update

pytestmark = pytest.mark.django_db
S = ActionPlan.Status
URL = reverse("tracker:plan-bulk")


def snapshot(*plans):
    """Everything a bulk action could change on these plans, to prove nothing moved."""
    return [
        (p.status, p.owner_id, p.target_date, p.original_target_date, p.deferral_count, p.version, p.updates.count())
        for p in ActionPlan.objects.filter(pk__in=[p.pk for p in plans]).order_by("pk")
    ]


def post(client, **data):
    data.setdefault("query", "")
    if data.get("action") == "close":
        data.setdefault("confirm", "on")  # closing is confirmed unless a test says otherwise
    return client.post(URL, data)


def test_manager_bulk_defers_some_and_lists_the_refused_with_reasons(client, org, manager, other_org):
    today = timezone.localdate()
    deferrable = ActionPlanFactory.create_batch(2, organisation=org, target_date=today + dt.timedelta(days=10))
    finished = ActionPlanFactory(organisation=org, status=S.CLOSED)
    elsewhere = ActionPlanFactory(organisation=other_org)
    before_refused = snapshot(finished, elsewhere)
    new_date = today + dt.timedelta(days=70)
    client.force_login(manager)

    response = post(
        client,
        action="target-date",
        plans=[p.pk for p in [*deferrable, finished, elsewhere]],
        target_date=new_date.isoformat(),
        reason="Analyst recruitment moved to the spring intake.",
    )

    assert response.status_code == 200
    result = response.context["result"]
    assert [p.pk for p in result.done] == [p.pk for p in deferrable]
    reasons = dict((getattr(p, "pk", p), reason) for p, reason in result.refused)
    assert reasons == {
        finished.pk: "Changing the target date is not possible while the plan is closed (verified complete).",
        elsewhere.pk: "Not found.",
    }
    body = response.content.decode()
    assert "2 plans changed, 2 refused." in body
    assert "Changing the target date is not possible while the plan is closed (verified complete)." in body
    # The other organisation's plan is not even named on the result page.
    assert elsewhere.finding.reference not in body
    for plan in deferrable:
        plan.refresh_from_db()
        assert plan.target_date == new_date
        assert plan.original_target_date == today + dt.timedelta(days=10)
        assert plan.deferral_count == 1
        update = plan.updates.get()
        assert update.kind == Update.Kind.TARGET_DATE
        assert update.note == "Analyst recruitment moved to the spring intake."
        assert update.author == manager
    assert snapshot(finished, elsewhere) == before_refused


def test_manager_bulk_assigns_an_owner(client, org, manager):
    plans = ActionPlanFactory.create_batch(3, organisation=org)
    owner = StaffFactory(organisation=org)
    client.force_login(manager)

    response = post(client, action="owner", plans=[p.pk for p in plans], owner=owner.pk)

    assert response.status_code == 200
    assert len(response.context["result"].done) == 3
    assert set(ActionPlan.objects.filter(owner=owner).values_list("pk", flat=True)) == {p.pk for p in plans}
    assert Update.objects.filter(kind=Update.Kind.OWNER, plan__in=plans).count() == 3


def test_owner_from_another_organisation_is_not_offered(client, org, manager, other_staff):
    plan = ActionPlanFactory(organisation=org)
    client.force_login(manager)
    before = snapshot(plan)

    response = post(client, action="owner", plans=[plan.pk], owner=other_staff.pk)

    assert response.status_code == 400
    assert "owner" in response.context["form"].errors
    assert snapshot(plan) == before


def test_inspector_bulk_closes_signed_off_plans_and_refuses_the_rest(client, org, other_org, inspector):
    signed_off = [
        ActionPlanFactory(organisation=org, status=S.SIGNED_OFF),
        ActionPlanFactory(organisation=org, status=S.SIGNED_OFF),
        ActionPlanFactory(organisation=other_org, status=S.SIGNED_OFF),
    ]
    still_open = ActionPlanFactory(organisation=org, status=S.IN_PROGRESS)
    before = snapshot(still_open)
    client.force_login(inspector)

    response = post(
        client, action="close", plans=[p.pk for p in [*signed_off, still_open]], comment="Evidence verified on site."
    )

    assert response.status_code == 200
    result = response.context["result"]
    assert [p.pk for p in result.done] == [p.pk for p in signed_off]
    assert [(p.pk, reason) for p, reason in result.refused] == [
        (still_open.pk, "Closing is not possible while the plan is in progress.")
    ]
    for plan in signed_off:
        plan.refresh_from_db()
        assert plan.status == S.CLOSED
        assert plan.updates.get().status_to == S.CLOSED
    assert snapshot(still_open) == before


def test_all_matching_applies_to_exactly_the_filtered_plans(client, org, inspector, other_org):
    surrey = ActionPlanFactory.create_batch(2, organisation=org, status=S.SIGNED_OFF)
    hampshire = ActionPlanFactory(organisation=other_org, status=S.SIGNED_OFF)
    client.force_login(inspector)

    response = post(
        client,
        action="close",
        all_matching="on",
        query=f"organisation={org.slug}&status=signed_off",
        comment="Verified.",
    )

    assert response.status_code == 200
    assert {p.pk for p in response.context["result"].done} == {p.pk for p in surrey}
    hampshire.refresh_from_db()
    assert hampshire.status == S.SIGNED_OFF


def test_all_matching_for_a_manager_never_reaches_another_organisation(client, org, other_org, manager):
    own = ActionPlanFactory(organisation=org)
    other = ActionPlanFactory(organisation=other_org)
    before = snapshot(other)
    client.force_login(manager)

    # A crafted query naming the other organisation matches nothing the manager can see.
    response = post(
        client,
        action="target-date",
        all_matching="on",
        query=f"organisation={other_org.slug}",
        target_date=(timezone.localdate() + dt.timedelta(days=200)).isoformat(),
        reason="Crafted.",
    )
    assert response.status_code == 200
    assert response.context["result"].done == []
    assert snapshot(other) == before

    response = post(
        client,
        action="target-date",
        all_matching="on",
        query="",
        target_date=(timezone.localdate() + dt.timedelta(days=200)).isoformat(),
        reason="Every plan of ours.",
    )
    assert [p.pk for p in response.context["result"].done] == [own.pk]
    assert snapshot(other) == before


def test_staff_cannot_use_bulk_actions(client, org, staff):
    plan = ActionPlanFactory(organisation=org)
    before = snapshot(plan)
    client.force_login(staff)

    response = post(
        client,
        action="target-date",
        plans=[plan.pk],
        target_date=(timezone.localdate() + dt.timedelta(days=200)).isoformat(),
        reason="Not mine to change.",
    )

    assert response.status_code == 403
    assert snapshot(plan) == before


def test_manager_cannot_bulk_close(client, org, manager):
    plan = ActionPlanFactory(organisation=org, status=S.SIGNED_OFF)
    before = snapshot(plan)
    client.force_login(manager)

    response = post(client, action="close", plans=[plan.pk], comment="Closing my own work.")

    assert response.status_code == 400
    assert "action" in response.context["form"].errors
    assert snapshot(plan) == before


def test_anonymous_is_sent_to_log_in(client, plan):
    before = snapshot(plan)
    response = post(client, action="close", plans=[plan.pk], comment="x")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert snapshot(plan) == before


@pytest.mark.parametrize(
    "data,field,message",
    [
        ({"action": "target-date", "target_date": "2030-01-01"}, "reason", "Give the reason"),
        ({"action": "target-date", "reason": "Because."}, "target_date", "Choose the new target date"),
        ({"action": "owner"}, None, "Select at least one plan"),
        ({"action": "", "owner": ""}, "action", "Choose what to do to the plans."),
    ],
)
def test_incomplete_bulk_form_changes_nothing_and_says_why(client, org, manager, data, field, message):
    plan = ActionPlanFactory(organisation=org)
    before = snapshot(plan)
    client.force_login(manager)
    if field is not None:
        data = {**data, "plans": [plan.pk]}

    response = post(client, **data)

    assert response.status_code == 400
    form = response.context["form"]
    errors = form.errors.get(field or "__all__")
    assert errors and message in errors[0]
    assert message in response.content.decode()
    assert "Nothing was changed" in response.content.decode()
    assert snapshot(plan) == before
    if field is not None:
        # The ticked plans are carried on the correction form, so nothing has to be ticked again.
        assert f'name="plans" value="{plan.pk}"' in response.content.decode()


def test_bulk_is_capped_and_says_so(client, org, inspector, monkeypatch):
    monkeypatch.setattr(bulk, "MAX_BULK", 2)
    ActionPlanFactory.create_batch(3, organisation=org, status=S.SIGNED_OFF)
    client.force_login(inspector)

    response = post(client, action="close", all_matching="on", comment="Verified.")

    assert len(response.context["result"].done) == 2
    assert "Only the first 2 matching plans were considered" in response.content.decode()
    assert ActionPlan.objects.filter(status=S.SIGNED_OFF).count() == 1


def test_list_offers_checkboxes_and_the_bulk_form_only_to_those_who_may_use_it(client, org, staff, manager):
    plan = ActionPlanFactory(organisation=org)
    checkbox = f'name="plans" value="{plan.pk}"'

    client.force_login(staff)
    body = client.get(reverse("tracker:plan-list")).content.decode()
    assert checkbox not in body
    assert 'id="bulk-form"' not in body

    client.force_login(manager)
    body = client.get(reverse("tracker:plan-list") + "?overdue=&q=").content.decode()
    assert checkbox in body
    assert 'id="bulk-form"' in body
    assert 'value="overdue=&amp;q="' in body  # the filters travel with the form for "all matching"


@pytest.mark.parametrize("confirm", [None, "", "false"])
def test_bulk_close_without_the_confirmation_is_refused_and_changes_nothing(client, org, inspector, confirm):
    plans = ActionPlanFactory.create_batch(2, organisation=org, status=S.SIGNED_OFF)
    before = [snapshot(plan) for plan in plans]
    client.force_login(inspector)
    data = {"action": "close", "plans": [p.pk for p in plans], "comment": "Verified.", "query": ""}
    if confirm is not None:
        data["confirm"] = confirm

    response = client.post(URL, data)

    assert response.status_code == 400
    assert response.context["form"].errors["confirm"] == ["Tick to confirm: closing as verified cannot be undone."]
    assert "Tick to confirm: closing as verified cannot be undone." in response.content.decode()
    assert [snapshot(plan) for plan in plans] == before
    assert not Update.objects.filter(plan__in=plans).exists()


def test_bulk_close_with_the_confirmation_closes(client, org, inspector):
    plan = ActionPlanFactory(organisation=org, status=S.SIGNED_OFF)
    client.force_login(inspector)
    response = client.post(
        URL, {"action": "close", "plans": [plan.pk], "comment": "Verified.", "confirm": "on", "query": ""}
    )
    assert response.status_code == 200
    plan.refresh_from_db()
    assert plan.status == S.CLOSED


def test_the_bulk_form_asks_for_the_confirmation_when_closing(client, org, inspector):
    ActionPlanFactory(organisation=org, status=S.SIGNED_OFF)
    client.force_login(inspector)
    body = client.get("/plans/?status=signed_off").content.decode()
    fieldset = body.split('data-bulk-action="close"')[1].split("</fieldset>")[0]
    assert 'type="checkbox" name="confirm"' in fieldset
    assert "Closing is final" in fieldset


def test_apply_bulk_refuses_an_unconfirmed_close_whoever_calls_it(org, inspector):
    plan = ActionPlanFactory(organisation=org, status=S.SIGNED_OFF)
    result = bulk.apply_bulk(user=inspector, plan_ids=[plan.pk], action="close", comment="Verified.")
    assert result.done == []
    assert result.refused == [(plan.pk, "Tick to confirm: closing as verified cannot be undone.")]
    plan.refresh_from_db()
    assert plan.status == S.SIGNED_OFF
