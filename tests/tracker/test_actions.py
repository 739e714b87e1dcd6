"""The action registry (tracker.actions) is the one source of each action's facts: every entry resolves,
and a new entry reaches the transition table, the plan page, the API (route and schema), bulk actions
where it is bulk-able, and the load generator, with no other change."""

from __future__ import annotations

import inspect
import types

import pytest
from django.db import transaction
from django.test import Client, override_settings
from django.urls import include, path, reverse
from drf_spectacular.generators import SchemaGenerator

from devdata import loadgen
from tests.factories import ActionPlanFactory
from tracker import actions, forms, permissions, workflow
from tracker import urls as root_urls
from tracker.api import views as api_views
from tracker.api.urls import Router
from tracker.models import ActionPlan, ApiToken, Update

pytestmark = pytest.mark.django_db
S = ActionPlan.Status
K = Update.Kind


# --- every entry resolves --------------------------------------------------------------------------


@pytest.mark.parametrize("action", actions.ACTIONS.values(), ids=list(actions.ACTIONS))
def test_every_entry_names_a_workflow_function_that_takes_its_form_and_serializer_fields(action):
    parameters = inspect.signature(action.perform).parameters
    assert {"plan", "user"} <= set(parameters)
    assert action.allowed.__module__ == permissions.__name__
    assert action.kind in K.values
    assert action.target is None or action.target in S.values
    assert action.sources and set(action.sources) <= set(S.values)
    assert action.form or action.serializer, "an action nobody can reach"
    if action.form:
        assert issubclass(action.form_class, forms.PlanForm)
        assert action.button and action.success
        for name in action.form_class.base_fields:
            if name == "version":
                assert "expected_version" in parameters
            elif name != "confirm":  # the page's own tick box
                assert name in parameters, f"{action.form}.{name} is not an argument of workflow.{action.run}"
    if action.serializer:
        assert action.summary
        for name in action.serializer_class().fields:
            assert ("expected_version" if name == "version" else name) in parameters
    if action.bulk:
        assert action.form, "bulk actions take their fields from the page form"


def test_the_transition_table_is_every_entrys_sources_to_its_target():
    assert workflow.ALLOWED_TRANSITIONS is actions.TRANSITIONS
    edges = {(source, target) for source, targets in actions.TRANSITIONS.items() for target in targets}
    assert edges == {
        (source, action.target)
        for action in actions.ACTIONS.values()
        if action.target is not None
        for source in action.sources
        if source != action.target
    }
    assert all(not actions.TRANSITIONS[status] for status in ActionPlan.TERMINAL_STATUSES)


def test_the_schema_has_one_post_for_each_entry_with_a_serializer():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    posts = {p.removeprefix("/api/v1/plans/{id}/").strip("/") for p, ops in schema["paths"].items() if "post" in ops}
    assert posts == {a.api_path for a in actions.ACTIONS.values() if a.serializer}


# --- a new entry reaches every place ---------------------------------------------------------------


@transaction.atomic
def put_on_hold(*, plan: ActionPlan, user, note: str, expected_version: int | None = None) -> Update:
    """The new action's workflow function: the entry's role check, sources, target and kind."""
    return workflow._status_change("hold", plan=plan, user=user, note=note, expected_version=expected_version)


HOLD = actions.Action(
    "hold", "Put on hold", "Putting on hold", (S.SUBMITTED,), S.BLOCKED, K.REVIEW, permissions.can_manage,
    "put_on_hold", form="NoteForm", button="Put on hold", success="Submission put on hold.",
    serializer="NoteInput", summary="Put a submission on hold (managers)", bulk="Put on hold",
)  # fmt: skip


@pytest.fixture
def hold(monkeypatch):
    assert S.BLOCKED not in actions.TRANSITIONS[S.SUBMITTED]  # a move no action makes today
    monkeypatch.setitem(actions.ACTIONS, HOLD.slug, HOLD)
    monkeypatch.setattr(workflow, "put_on_hold", put_on_hold, raising=False)
    # The table is derived once, at import: derive it again from the registry with the new entry.
    monkeypatch.setattr(workflow, "TRANSITIONS", actions.transition_table(actions.ACTIONS))
    return HOLD


def test_a_new_entry_joins_the_transition_table(hold):
    assert S.BLOCKED in workflow.TRANSITIONS[S.SUBMITTED]


def test_a_new_entry_is_a_form_on_the_plan_page_for_whom_it_allows(hold, client, org, manager, staff):
    plan = ActionPlanFactory(organisation=org, status=S.SUBMITTED)
    client.force_login(staff)
    assert 'id="action-hold"' not in client.get(plan.get_absolute_url()).content.decode()
    url = reverse("tracker:plan-action", args=[plan.pk, "hold"])
    assert client.post(url, {"hold-version": plan.version, "hold-note": "x"}).status_code == 403

    client.force_login(manager)
    page = client.get(plan.get_absolute_url()).content.decode()
    assert 'id="action-hold"' in page and ">Put on hold</button>" in page
    assert f'<summary class="card-header fw-semibold">{HOLD.label}</summary>' in page  # the form's heading
    response = client.post(url, {"hold-version": plan.version, "hold-note": "Waiting for the audit report."})
    assert response.status_code == 302
    plan.refresh_from_db()
    assert plan.status == S.BLOCKED
    update = plan.updates.get(kind=K.REVIEW)
    assert (update.status_from, update.status_to, update.note) == (
        S.SUBMITTED,
        S.BLOCKED,
        "Waiting for the audit report.",
    )
    # From a status not among its sources the workflow refuses it, changing nothing.
    response = client.post(url, {"hold-version": plan.version, "hold-note": "Again."})
    assert response.status_code == 400
    assert plan.updates.count() == 1 and ActionPlan.objects.get(pk=plan.pk).status == S.BLOCKED


def _api_urlconf() -> types.ModuleType:
    class PlanViewSet(api_views.PlanViewSet):
        pass

    api_views.add_workflow_endpoints(PlanViewSet)
    router = Router(use_regex_path=False)
    router.register("plans", PlanViewSet, basename="plan")
    urlconf = types.ModuleType("hold_urls")
    urlconf.urlpatterns = [path("api/v1/", include((router.urls, "api"))), *root_urls.urlpatterns]
    return urlconf


def test_a_new_entry_is_an_api_endpoint_in_the_schema(hold, org, manager, staff):
    urlconf = _api_urlconf()
    plan = ActionPlanFactory(organisation=org, status=S.SUBMITTED)
    with override_settings(ROOT_URLCONF=urlconf):
        operation = SchemaGenerator(urlconf=urlconf).get_schema(request=None, public=True)["paths"][
            "/api/v1/plans/{id}/hold/"
        ]["post"]
        assert operation["summary"] == "Put a submission on hold (managers)"
        assert operation["tags"] == ["workflow"]
        assert operation["requestBody"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/NoteInputRequest"
        }
        assert {"200", "400", "403", "404", "409"} <= set(operation["responses"])

        def api(user):
            client, (_, secret) = Client(), ApiToken.issue(user=user, name="test")
            return client, {"Authorization": f"Token {secret}"}

        client, headers = api(staff)
        url = f"/api/v1/plans/{plan.pk}/hold/"
        body = {"version": plan.version, "note": "Waiting for the audit report."}
        assert "hold" not in client.get(f"/api/v1/plans/{plan.pk}/", headers=headers).json()["actions"]
        assert client.post(url, body, content_type="application/json", headers=headers).status_code == 403

        client, headers = api(manager)
        assert "hold" in client.get(f"/api/v1/plans/{plan.pk}/", headers=headers).json()["actions"]
        response = client.post(url, body, content_type="application/json", headers=headers)
        assert response.status_code == 200, response.content
        assert response.json()["plan"]["status"] == S.BLOCKED
        assert response.json()["update"]["kind"] == K.REVIEW
        stale = client.post(url, body, content_type="application/json", headers=headers)
        assert stale.status_code == 409


def test_a_new_bulk_able_entry_is_a_bulk_action_with_its_page_forms_fields(hold, client, org, manager, staff):
    assert "hold" not in dict(forms.BulkForm(user=staff).fields["action"].choices)
    form = forms.BulkForm(user=manager)
    assert dict(form.fields["action"].choices)["hold"] == "Put on hold"
    assert [(action.slug, [f.name for f in fields]) for action, fields in form.fieldsets()][-1] == ("hold", ["note"])

    plans = ActionPlanFactory.create_batch(2, organisation=org, status=S.SUBMITTED)
    finished = ActionPlanFactory(organisation=org, status=S.CLOSED)
    client.force_login(manager)
    url = reverse("tracker:plan-bulk")
    missing = client.post(url, {"action": "hold", "plans": [plans[0].pk], "query": ""})
    assert missing.status_code == 400 and "This field is required." in missing.content.decode()
    response = client.post(
        url, {"action": "hold", "plans": [p.pk for p in [*plans, finished]], "note": "Audit first.", "query": ""}
    )
    assert response.status_code == 200
    result = response.context["result"]
    assert [p.pk for p in result.done] == [p.pk for p in plans]
    assert [(p.pk, reason) for p, reason in result.refused] == [
        (finished.pk, "Putting on hold is not possible while the plan is closed (verified complete).")
    ]
    assert set(ActionPlan.objects.filter(pk__in=[p.pk for p in plans]).values_list("status", flat=True)) == {S.BLOCKED}


def test_a_new_entry_with_a_target_is_an_operation_of_the_load_generator(hold):
    operations = loadgen.operations()
    assert operations["hold"] == (K.REVIEW, S.BLOCKED, "manager")
    assert "hold" not in loadgen.OPERATIONS  # derived at import, from the registry as it was
    assert loadgen.shortest_paths(operations)[S.BLOCKED] == ("start", "block")  # still the shortest way there


def test_an_action_without_a_bulk_name_is_not_offered_in_bulk(manager, inspector, staff):
    offered = {a.slug for user in (manager, inspector, staff) for a in actions.in_bulk(user)}
    assert offered == {a.slug for a in actions.ACTIONS.values() if a.bulk}
    assert {a.slug for a in actions.in_bulk(staff)} == set()


# --- a finished plan: every way in refuses an action whose sources it is not in ---------------------

ENDED = [S.CLOSED, S.SUPERSEDED, S.NO_FURTHER_ACTION]


def _owner_refusal(status: str) -> str:
    return f"Assigning the owner is not possible while the plan is {S(status).label.lower()}."


def _plan_row(plan: ActionPlan) -> tuple:
    plan.refresh_from_db()
    return plan.status, plan.owner_id, plan.version, plan.updates.count()


@pytest.mark.parametrize("status", ENDED)
def test_the_workflow_refuses_an_owner_for_a_finished_plan(org, manager, staff, status):
    plan = ActionPlanFactory(organisation=org, status=status)
    before = _plan_row(plan)
    with pytest.raises(workflow.ValidationError) as refused:
        workflow.assign_owner(plan=plan, user=manager, owner=staff, expected_version=plan.version)
    assert refused.value.messages == [_owner_refusal(status)]
    assert _plan_row(plan) == before


@pytest.mark.parametrize("status", ENDED)
def test_the_plan_page_refuses_an_owner_for_a_finished_plan(client, org, manager, staff, status):
    plan = ActionPlanFactory(organisation=org, status=status)
    before = _plan_row(plan)
    client.force_login(manager)
    response = client.post(
        reverse("tracker:plan-action", args=[plan.pk, "owner"]),
        {"owner-version": plan.version, "owner-owner": staff.pk},
    )
    assert response.status_code == 400
    assert _owner_refusal(status) in response.content.decode()
    assert _plan_row(plan) == before


@pytest.mark.parametrize("status", ENDED)
def test_bulk_refuses_an_owner_for_a_finished_plan(client, org, manager, staff, status):
    open_plan = ActionPlanFactory(organisation=org, status=S.IN_PROGRESS)
    plan = ActionPlanFactory(organisation=org, status=status)
    before = _plan_row(plan)
    client.force_login(manager)
    response = client.post(
        reverse("tracker:plan-bulk"),
        {"action": "owner", "plans": [open_plan.pk, plan.pk], "owner": staff.pk, "query": ""},
    )
    assert response.status_code == 200
    result = response.context["result"]
    assert [p.pk for p in result.done] == [open_plan.pk]
    assert [(p.pk, reason) for p, reason in result.refused] == [(plan.pk, _owner_refusal(status))]
    assert _owner_refusal(status) in response.content.decode()
    assert _plan_row(plan) == before


@pytest.mark.parametrize("status", ENDED)
def test_the_api_refuses_an_owner_for_a_finished_plan(org, manager, staff, status):
    plan = ActionPlanFactory(organisation=org, status=status)
    before = _plan_row(plan)
    _, secret = ApiToken.issue(user=manager, name="test system")
    response = Client().post(
        f"/api/v1/plans/{plan.pk}/owner/",
        {"version": plan.version, "owner": staff.username},
        content_type="application/json",
        headers={"Authorization": f"Token {secret}"},
    )
    assert response.status_code == 400
    assert response.json() == {"non_field_errors": [_owner_refusal(status)]}
    assert _plan_row(plan) == before
