"""Change history of records edited outside the workflow: who, when, old and new value."""

from __future__ import annotations

import pytest

from inspections.models import Finding, Grading
from tests.factories import ActionPlanFactory, FindingFactory, GradingFactory
from tests.tracker.test_admin import admin_url, form_data
from tracker.models import ActionPlan, User

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def edit_in_admin(client, model, obj, **changes):
    data = form_data(client.get(admin_url(model, "change", obj.pk)))
    for name in ("themes", "addressed_to", "groups", "user_permissions"):
        if data.get(name) == "":  # a browser sends nothing for a multiple select with nothing chosen
            del data[name]
    data.update(changes)
    response = client.post(admin_url(model, "change", obj.pk), data)
    assert response.status_code == 302, response.context and response.context["adminform"].form.errors
    return response


def test_an_admin_edit_of_a_finding_records_who_and_what_changed(admin_client, admin_user, org):
    finding = FindingFactory(text="Forces should refresh their SOC local profiles.")
    finding.addressed_to.add(org)

    edit_in_admin(admin_client, Finding, finding, text="Forces should refresh their SOC local profiles every year.")

    latest = finding.history.order_by("-history_date", "-history_id").first()
    assert latest.history_user == admin_user
    assert latest.history_type == "~"
    change = next(c for c in latest.diff_against(latest.prev_record).changes if c.field == "text")
    assert change.old == "Forces should refresh their SOC local profiles."
    assert change.new == "Forces should refresh their SOC local profiles every year."


def test_an_admin_edit_of_a_grading_records_the_admin(admin_client, admin_user):
    grading = GradingFactory(grade=Grading.Grade.GOOD)

    edit_in_admin(admin_client, Grading, grading, grade=Grading.Grade.REQUIRES_IMPROVEMENT)

    latest = grading.history.order_by("-history_date", "-history_id").first()
    assert (latest.history_user, latest.grade) == (admin_user, Grading.Grade.REQUIRES_IMPROVEMENT)
    assert latest.prev_record.grade == Grading.Grade.GOOD


def test_a_change_of_role_records_the_admin_and_the_old_role(admin_client, admin_user, staff):
    edit_in_admin(admin_client, User, staff, role=User.Role.MANAGER)

    latest = staff.history.order_by("-history_date", "-history_id").first()
    assert latest.history_user == admin_user
    change = next(c for c in latest.diff_against(latest.prev_record).changes if c.field == "role")
    assert (change.old, change.new) == (User.Role.STAFF, User.Role.MANAGER)


def test_an_admin_edit_of_a_plans_response_records_the_admin(admin_client, admin_user, org):
    plan = ActionPlanFactory(organisation=org, summary="")

    edit_in_admin(admin_client, ActionPlan, plan, summary="Two analyst posts funded from April.")

    latest = plan.history.order_by("-history_date", "-history_id").first()
    assert latest.history_user == admin_user
    assert latest.summary == "Two analyst posts funded from April."


def test_inspectors_see_a_findings_history_with_old_and_new_values(client, admin_client, inspector, org):
    finding = FindingFactory(reference="R7", text="Old wording of the recommendation.")
    finding.addressed_to.add(org)
    edit_in_admin(admin_client, Finding, finding, text="New wording of the recommendation.")

    client.force_login(inspector)
    body = client.get(finding.get_absolute_url()).content.decode()

    assert "Change history of this finding" in body
    assert "Old wording of the recommendation." in body
    assert "New wording of the recommendation." in body
    assert "admin" in body  # who made the change


@pytest.mark.parametrize("who", ["staff", "manager"])
def test_organisation_users_do_not_see_the_history(client, request, org, who):
    finding = FindingFactory()
    finding.addressed_to.add(org)
    ActionPlanFactory(finding=finding, organisation=org)
    client.force_login(request.getfixturevalue(who))

    body = client.get(finding.get_absolute_url()).content.decode()

    assert "Change history of this finding" not in body


def test_a_finding_with_no_recorded_history_shows_its_page(client, inspector, org):
    # Findings written in bulk (imports of old data, load data) have no history records.
    finding = FindingFactory()
    finding.history.all().delete()
    client.force_login(inspector)
    response = client.get(f"/findings/{finding.pk}/")
    assert response.status_code == 200
    assert response.context["history"] == []


def test_a_change_of_addressees_reads_as_organisation_names(client, admin_client, inspector, org, other_org):
    finding = FindingFactory(reference="R8")
    finding.addressed_to.add(org)
    edit_in_admin(admin_client, Finding, finding, addressed_to=[org.pk, other_org.pk])

    client.force_login(inspector)
    response = client.get(finding.get_absolute_url())
    body = response.content.decode()
    change = next(c for record in response.context["history"] for c in record.changes if c["field"] == "addressed to")
    assert change["old"] == org.name
    assert change["new"] == ", ".join(sorted([org.name, other_org.name]))
    assert "{&#x27;" not in body and "{'" not in body  # no raw link rows
