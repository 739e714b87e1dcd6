"""The plan page's milestones (issue 15, part 1): shown to everyone who sees the plan, changed through
its forms by the organisation's staff and managers, each change on the timeline."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from tests.factories import (
    ActionPlanFactory,
    EvidenceFactory,
    InspectorFactory,
    ManagerFactory,
    MilestoneFactory,
    StaffFactory,
    UpdateFactory,
)
from tracker import workflow
from tracker.models import ActionPlan, Milestone, Update

pytestmark = pytest.mark.django_db
S = ActionPlan.Status
TODAY = timezone.localdate()


def days(n: int) -> dt.date:
    return TODAY + dt.timedelta(days=n)


@pytest.fixture
def plan():
    return ActionPlanFactory(status=S.IN_PROGRESS)


@pytest.fixture
def staff(plan):
    return StaffFactory(organisation=plan.organisation, first_name="Sam", last_name="Analyst")


@pytest.fixture
def manager(plan):
    return ManagerFactory(organisation=plan.organisation)


def post(client, plan, action, **fields):
    data = {f"{action}-{k}": v for k, v in fields.items()}
    data.setdefault(f"{action}-version", ActionPlan.objects.get(pk=plan.pk).version)
    return client.post(f"/plans/{plan.pk}/{action}/", data)


def test_a_manager_plans_milestones_and_two_staff_owners_complete_them(client, plan, manager, staff):
    other = StaffFactory(organisation=plan.organisation, username="other.staff")
    client.force_login(manager)
    for title, owner, due in (("Recruit analysts", staff, days(20)), ("Refresh the profile", other, days(40))):
        response = post(client, plan, "milestone-add", title=title, owner=owner.pk, target_date=due.isoformat())
        assert response.status_code == 302
    page = client.get(plan.get_absolute_url()).content.decode()
    assert "0 of 2 done" in page and "Recruit analysts" in page and "Sam Analyst" in page
    first, second = plan.milestones.order_by("position")
    for person, milestone in ((staff, first), (other, second)):
        client.force_login(person)
        assert post(client, plan, "milestone-complete", milestone=milestone.pk).status_code == 302
    plan.refresh_from_db()
    assert plan.percent_complete == 100
    authors = list(
        plan.updates.filter(kind=Update.Kind.MILESTONE).order_by("pk").values_list("author__username", flat=True)
    )
    assert authors == [manager.username, manager.username, staff.username, other.username]
    page = client.get(plan.get_absolute_url()).content.decode()
    assert "2 of 2 done" in page and "(2 of 2 milestones done)" in page


def test_edit_reorder_and_reopen_through_the_page(client, plan, staff):
    client.force_login(staff)
    for title in ("A", "B"):
        post(client, plan, "milestone-add", title=title)
    a, b = plan.milestones.order_by("position")
    assert post(client, plan, "milestone-move", milestone=b.pk, direction="up").status_code == 302
    assert list(plan.milestones.values_list("title", flat=True)) == ["B", "A"]
    assert post(client, plan, "milestone-edit", milestone=a.pk, title="A, renamed", owner=staff.pk,
                target_date=days(3).isoformat(), note="").status_code == 302  # fmt: skip
    assert Milestone.objects.get(pk=a.pk).title == "A, renamed"
    post(client, plan, "milestone-complete", milestone=a.pk)
    assert post(client, plan, "milestone-reopen", milestone=a.pk, reason="Found a gap").status_code == 302
    assert Milestone.objects.get(pk=a.pk).done_on is None


def test_a_refused_milestone_change_shows_why_and_changes_nothing(client, plan, staff):
    client.force_login(staff)
    post(client, plan, "milestone-add", title="A")
    milestone = plan.milestones.get()
    version = ActionPlan.objects.get(pk=plan.pk).version
    response = post(client, plan, "milestone-move", milestone=milestone.pk, direction="up")
    assert response.status_code == 400
    assert "The milestone was not changed" in response.content.decode()
    assert "is already first" in response.content.decode()
    response = post(client, plan, "milestone-add", title="")
    assert response.status_code == 400 and "This field is required" in response.content.decode()
    assert ActionPlan.objects.get(pk=plan.pk).version == version


def test_a_milestone_of_another_plan_is_not_found_in_the_form(client, plan, staff):
    theirs = MilestoneFactory(plan=ActionPlanFactory(organisation=plan.organisation))
    client.force_login(staff)
    response = post(client, plan, "milestone-complete", milestone=theirs.pk)
    assert response.status_code == 400
    assert "not one of this plan" in response.content.decode()
    assert Milestone.objects.get(pk=theirs.pk).done_on is None


def test_an_overdue_milestone_is_marked_and_the_plan_is_amber(client, plan, staff):
    plan.target_date = days(200)
    plan.save()
    workflow.add_milestone(plan=plan, user=staff, title="Late step", target_date=days(-3))
    client.force_login(staff)
    page = client.get(plan.get_absolute_url()).content.decode()
    assert "milestone-overdue" in page and ">Overdue<" in page
    assert "Amber" in page


def test_the_page_asks_why_only_while_a_milestone_is_open(client, plan, staff):
    client.force_login(staff)
    assert "submit-open_milestones" not in client.get(plan.get_absolute_url()).content.decode()
    workflow.add_milestone(plan=plan, user=staff, title="Evaluate")
    page = client.get(plan.get_absolute_url()).content.decode()
    assert "submit-open_milestones" in page
    assert "progress-percent_complete" not in page  # the percentage follows the milestones


def test_submission_with_an_open_milestone_is_refused_without_an_explanation(client, plan, staff):
    EvidenceFactory(update=UpdateFactory(plan=plan, author=staff))
    workflow.add_milestone(plan=plan, user=staff, title="Evaluate")
    client.force_login(staff)
    response = post(client, plan, "submit", statement="Done")
    assert response.status_code == 400
    assert "1 milestone is still open (Evaluate)" in response.content.decode()
    assert ActionPlan.objects.get(pk=plan.pk).status == S.IN_PROGRESS
    response = post(client, plan, "submit", statement="Done", open_milestones="Evaluation after the revisit.")
    assert response.status_code == 302
    assert ActionPlan.objects.get(pk=plan.pk).status == S.SUBMITTED


def test_an_inspector_sees_milestones_but_no_forms(client, plan, staff):
    workflow.add_milestone(plan=plan, user=staff, title="Recruit analysts")
    client.force_login(InspectorFactory())
    page = client.get(plan.get_absolute_url()).content.decode()
    assert "Recruit analysts" in page
    assert "milestone-add" not in page and "Mark “" not in page
    milestone = plan.milestones.get()
    assert post(client, plan, "milestone-complete", milestone=milestone.pk).status_code == 403


def count_queries(client, url):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


@pytest.mark.parametrize("who", ["staff", "manager"])
def test_plan_page_query_count_does_not_grow_with_milestones(client, request, plan, who):
    user = request.getfixturevalue(who)
    for n in range(2):
        workflow.add_milestone(plan=plan, user=user, title=f"Step {n}", owner=user, target_date=days(n))
    client.force_login(user)
    client.get("/accounts/")
    small = count_queries(client, plan.get_absolute_url())
    for n in range(10):
        workflow.add_milestone(plan=plan, user=user, title=f"More {n}", owner=user, target_date=days(n))
    workflow.complete_milestone(plan=plan, user=user, milestone=plan.milestones.first())
    assert count_queries(client, plan.get_absolute_url()) == small


# --- the API -------------------------------------------------------------------------------------


def api(user):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(user)
    return client


def test_the_api_lists_milestones_and_inlines_them_in_the_plan(plan, staff):
    workflow.add_milestone(plan=plan, user=staff, title="Recruit", owner=staff, target_date=days(-1))
    workflow.add_milestone(plan=plan, user=staff, title="Evaluate")
    listed = api(staff).get(f"/api/v1/plans/{plan.pk}/milestones/").json()
    assert [m["title"] for m in listed] == ["Recruit", "Evaluate"]
    assert listed[0]["owner"] == {"username": staff.username, "name": "Sam Analyst"}
    assert listed[0]["is_overdue"] is True and listed[1]["is_overdue"] is False
    detail = api(staff).get(f"/api/v1/plans/{plan.pk}/").json()
    assert detail["milestones"] == listed
    assert detail["rag"] == "amber"
    assert {"milestone-add", "milestone-edit", "milestone-complete", "milestone-move"} <= set(detail["actions"])
    assert "milestone-reopen" not in detail["actions"]


def test_the_api_plans_and_completes_milestones_through_the_workflow(plan, staff, manager):
    client = api(manager)
    response = client.post(f"/api/v1/plans/{plan.pk}/milestones/",
                           {"version": plan.version, "title": "Recruit", "owner": staff.username,
                            "target_date": days(9).isoformat()}, format="json")  # fmt: skip
    assert response.status_code == 201, response.json()
    assert response.json()["update"]["kind"] == "milestone"
    milestone = plan.milestones.get()
    version = response.json()["plan"]["version"]
    response = api(staff).post(f"/api/v1/plans/{plan.pk}/milestone-complete/",
                               {"version": version, "milestone": milestone.pk}, format="json")  # fmt: skip
    assert response.status_code == 200
    assert response.json()["plan"]["percent_complete"] == 100
    body = {"version": version, "milestone": milestone.pk, "reason": "No"}
    stale = api(staff).post(f"/api/v1/plans/{plan.pk}/milestone-reopen/", body, format="json")
    assert stale.status_code == 409
    other_org_person = StaffFactory()
    refused = client.post(f"/api/v1/plans/{plan.pk}/milestones/",
                          {"version": version + 1, "title": "X", "owner": other_org_person.username},
                          format="json")  # fmt: skip
    assert refused.status_code == 400
    assert "owner" in str(refused.json())
    assert plan.milestones.count() == 1
