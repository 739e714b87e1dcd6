"""Plan edits in the Django admin go through the workflow: the version is checked, a timeline entry is
written and the version moves; a stale admin page is refused with the pages' message (issue 12, fault 3)."""

from __future__ import annotations

import pytest

from tests.factories import ActionPlanFactory, EvidenceFactory, StaffFactory
from tests.tracker.test_admin import admin_url, form_data, messages_of
from tracker import workflow
from tracker.models import ActionPlan, Update

S = ActionPlan.Status


@pytest.fixture
def plan(org, staff):
    plan = ActionPlanFactory(organisation=org, owner=staff, status=S.IN_PROGRESS, summary="")
    EvidenceFactory(update__plan=plan, update__author=staff)
    return plan


def change_page(client, plan) -> dict[str, str]:
    return form_data(client.get(admin_url(ActionPlan, "change", plan.pk)))


def test_a_stale_admin_save_is_refused_and_changes_nothing(client, admin_user, plan, staff, manager, org):
    """What the attack did: the administrator's page was read before a submission; saving it reverted
    the owner and wiped the closure statement, with no timeline entry and no new version."""
    client.force_login(admin_user)
    stale = change_page(client, plan)
    stale["owner"] = str(manager.pk)  # the administrator's own change, on a page that is now out of date

    workflow.submit_for_sign_off(plan=plan, user=staff, statement="Profiles refreshed; see the evidence.")
    plan.refresh_from_db()
    version, updates = plan.version, plan.updates.count()

    response = client.post(admin_url(ActionPlan, "change", plan.pk), stale)

    assert response.status_code == 200
    errors = " ".join(response.context["adminform"].form.non_field_errors())
    assert f"This plan was changed by {staff}" in errors
    assert "your text is kept below. Check the latest entries, then send your change again." in errors
    plan.refresh_from_db()
    assert (plan.owner, plan.summary, plan.version) == (staff, "Profiles refreshed; see the evidence.", version)
    assert plan.updates.count() == updates


def test_the_refused_page_keeps_the_typed_values_and_saving_again_applies_them(
    client, admin_user, plan, staff, manager
):
    client.force_login(admin_user)
    stale = change_page(client, plan)
    stale["owner"] = str(manager.pk)
    workflow.record_progress(plan=plan, user=staff, note="Analysts recruited.")

    refused = client.post(admin_url(ActionPlan, "change", plan.pk), stale)
    again = form_data(refused)
    assert again["owner"] == str(manager.pk)
    assert again["expected_version"] == str(ActionPlan.objects.get(pk=plan.pk).version)

    response = client.post(admin_url(ActionPlan, "change", plan.pk), again)

    assert response.status_code == 302
    plan.refresh_from_db()
    assert plan.owner == manager


def test_an_admin_edit_of_the_response_is_on_the_timeline_with_a_new_version(client, admin_user, plan):
    client.force_login(admin_user)
    data = change_page(client, plan)
    data["summary"] = "Corrected: the profiles were refreshed in March."
    version = plan.version

    response = client.post(admin_url(ActionPlan, "change", plan.pk), data)

    assert response.status_code == 302
    plan.refresh_from_db()
    assert plan.summary == "Corrected: the profiles were refreshed in March."
    assert plan.version == version + 1
    entry = plan.updates.first()
    assert (entry.kind, entry.author) == (Update.Kind.RESPONSE, admin_user)
    assert entry.note == "Response changed to: Corrected: the profiles were refreshed in March."


def test_owner_and_response_changed_together_write_two_entries_in_order(client, admin_user, plan, manager):
    client.force_login(admin_user)
    data = change_page(client, plan)
    data["owner"] = str(manager.pk)
    data["summary"] = "New response."
    version = plan.version

    assert client.post(admin_url(ActionPlan, "change", plan.pk), data).status_code == 302

    plan.refresh_from_db()
    assert (plan.owner, plan.summary, plan.version) == (manager, "New response.", version + 2)
    assert [u.kind for u in plan.updates.all()[:2]] == [Update.Kind.RESPONSE, Update.Kind.OWNER]


def test_a_change_between_the_check_and_the_save_is_refused_too(client, admin_user, plan, staff, monkeypatch):
    """The workflow checks the version again on the locked row: a change that lands after the form was
    validated (here, made while it is validated) is refused with a message, and nothing is saved."""
    from tracker.admin import ActionPlanForm

    clean = ActionPlanForm.clean

    def clean_then_someone_else_writes(self):
        cleaned = clean(self)
        workflow.record_progress(plan=ActionPlan.objects.get(pk=plan.pk), user=staff, note="Meanwhile.")
        return cleaned

    monkeypatch.setattr(ActionPlanForm, "clean", clean_then_someone_else_writes)
    client.force_login(admin_user)
    data = change_page(client, plan)
    data["summary"] = "Late change."

    response = client.post(admin_url(ActionPlan, "change", plan.pk), data, follow=True)

    assert any("This plan was changed by" in message for message in messages_of(response))
    plan.refresh_from_db()
    assert plan.summary == ""
    assert not plan.updates.filter(kind=Update.Kind.RESPONSE).exists()


def test_an_admin_save_that_changes_nothing_writes_nothing(client, admin_user, plan):
    client.force_login(admin_user)
    version, updates = plan.version, plan.updates.count()

    assert client.post(admin_url(ActionPlan, "change", plan.pk), change_page(client, plan)).status_code == 302

    plan.refresh_from_db()
    assert (plan.version, plan.updates.count()) == (version, updates)


def test_only_administrators_may_edit_a_response_through_the_workflow(plan, staff, manager):
    from django.core.exceptions import PermissionDenied

    for person in (staff, manager, StaffFactory()):
        with pytest.raises(PermissionDenied):
            workflow.edit_response(plan=plan, user=person, summary="Not mine to change.")
