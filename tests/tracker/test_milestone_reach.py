"""Where milestones reach beyond the plan page (issue 15, part 1): the list's filters and "3 of 5", the
home page's "Your milestones", and reminder digests naming due and overdue milestones."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.utils import timezone

from tests.factories import ActionPlanFactory, ManagerFactory, OrganisationFactory, StaffFactory
from tracker import reminders, workflow
from tracker.models import ActionPlan

pytestmark = pytest.mark.django_db
S = ActionPlan.Status
TODAY = timezone.localdate()


def days(n: int) -> dt.date:
    return TODAY + dt.timedelta(days=n)


@pytest.fixture
def org():
    return OrganisationFactory(name="Surrey Police", slug="surrey")


@pytest.fixture
def owner(org):
    return StaffFactory(organisation=org, username="plan.owner")


@pytest.fixture
def helper(org):
    return StaffFactory(organisation=org, username="milestone.owner", email="helper@example.org")


@pytest.fixture
def plans(org, owner, helper):
    """Three plans of `owner`: one with a milestone of `helper` overdue, one with `helper`'s milestone
    done, one with none."""
    late = ActionPlanFactory(organisation=org, owner=owner, target_date=days(100))
    workflow.add_milestone(plan=late, user=owner, title="Vet analysts", owner=helper, target_date=days(-2))
    workflow.add_milestone(plan=late, user=owner, title="Brief the board", owner=owner, target_date=days(50))
    done = ActionPlanFactory(organisation=org, owner=owner, target_date=days(100))
    workflow.add_milestone(plan=done, user=owner, title="Draft profile", owner=helper, target_date=days(3))
    workflow.complete_milestone(plan=done, user=helper, milestone=done.milestones.get())
    bare = ActionPlanFactory(organisation=org, owner=owner, target_date=days(100), percent_complete=80)
    return {"late": late, "done": done, "bare": bare}


def listed(client, query):
    response = client.get("/plans/?" + query)
    assert response.status_code == 200
    return {plan.pk for plan in response.context["object_list"]}, response


def test_the_list_filters_by_open_milestone_owner_and_overdue_milestones(client, plans, helper, owner):
    client.force_login(owner)
    ids, response = listed(client, "milestone_owner=milestone.owner")
    assert ids == {plans["late"].pk}  # the done milestone no longer counts
    assert "With an open milestone owned by milestone.owner: 1 plan" in response.content.decode()
    assert listed(client, "milestone_owner=me")[0] == {plans["late"].pk}
    assert listed(client, "milestone_overdue=1")[0] == {plans["late"].pk}
    client.force_login(StaffFactory(organisation=OrganisationFactory()))  # someone of another organisation
    response = client.get("/plans/?milestone_owner=milestone.owner")
    # Not one of their choices: as for any invalid filter, nothing is listed and the error is named.
    assert response.context["paginator"].count == 0
    assert "milestone_owner" in response.context["filter"].errors


def test_the_list_shows_milestone_progress(client, plans, owner):
    client.force_login(owner)
    _, response = listed(client, "")
    rows = {plan.pk: plan for plan in response.context["object_list"]}
    assert (rows[plans["late"].pk].milestones_done, rows[plans["late"].pk].milestones_total) == (0, 2)
    assert (rows[plans["done"].pk].milestones_done, rows[plans["done"].pk].milestones_total) == (1, 1)
    assert rows[plans["bare"].pk].milestones_total == 0
    page = response.content.decode()
    assert "0 of 2 milestones" in page and "1 of 1 milestones" in page
    assert rows[plans["late"].pk].rag == ActionPlan.Rag.AMBER


def test_home_lists_plans_with_my_open_milestones_even_when_i_do_not_own_them(client, plans, helper):
    client.force_login(helper)
    response = client.get("/")
    section = next(s for s in response.context["sections"] if s["id"] == "my-milestones")
    assert [p.pk for p in section["rows"]] == [plans["late"].pk]
    assert section["count"] == 1
    assert section["rows"][0].waiting_text == "“Vet analysts” 2 days overdue"
    # "See all" is the list with exactly the same plans.
    assert listed(client, section["query"])[0] == {plans["late"].pk}
    mine = next(s for s in response.context["sections"] if s["id"] == "my-actions")
    assert mine["count"] == 0  # the plans are not theirs; only the milestone is


def test_the_home_query_count_does_not_grow_with_milestones(client, org, helper, owner, plans):
    from tests.tracker.test_milestone_pages import count_queries

    client.force_login(helper)
    client.get("/accounts/")
    client.get("/")  # from the second visit on, the page also shows what changed since the last
    small = count_queries(client, "/")
    for n in range(8):
        plan = ActionPlanFactory(organisation=org, owner=owner)
        workflow.add_milestone(plan=plan, user=owner, title=f"Step {n}", owner=helper, target_date=days(n - 4))
    assert count_queries(client, "/") == small


def test_the_list_query_count_does_not_grow_with_milestones(client, org, owner, plans):
    from tests.tracker.test_milestone_pages import count_queries

    client.force_login(owner)
    client.get("/accounts/")
    small = count_queries(client, "/plans/?milestone_owner=me")
    for n in range(8):
        plan = ActionPlanFactory(organisation=org, owner=owner)
        workflow.add_milestone(plan=plan, user=owner, title=f"Step {n}", owner=owner, target_date=days(n))
    assert count_queries(client, "/plans/?milestone_owner=me") == small


def test_digests_name_each_owners_due_and_overdue_milestones(plans, helper, owner, org):
    far = ActionPlanFactory(organisation=org, owner=owner, target_date=days(100))
    workflow.add_milestone(plan=far, user=owner, title="Far off", owner=helper, target_date=days(40))
    digests = reminders.build_digests(today=TODAY, days=14)
    theirs = next(d for d in digests if d.user == helper)
    assert [m.title for m in theirs.own_milestones] == ["Vet analysts"]  # done and far-off ones are left out
    assert theirs.plans == []  # they own no plan
    assert theirs.subject == "Action plan reminders: 1 milestone of yours due or overdue"
    text = theirs.text_body()
    assert "YOUR MILESTONES" in text and "Vet analysts" in text and "2 days overdue" in text
    assert f"/plans/{plans['late'].pk}/#milestone-" in text
    html = theirs.html_body()
    assert "Your milestones" in html and "Vet analysts" in html
    assert all(d.user != owner for d in digests)  # "Brief the board" is 50 days off; their plans are not due


def test_a_milestone_owner_moved_away_hears_nothing_of_it(plans, helper):
    helper.organisation = OrganisationFactory()
    helper.save()
    digests = reminders.build_digests(today=TODAY, days=14)
    assert all(d.user != helper for d in digests)


def test_sending_digests_includes_milestone_only_digests(plans, helper, settings):
    reminders.send_reminders(today=TODAY, days=14)
    sent = [m for m in mail.outbox if m.to == [helper.email]]
    assert len(sent) == 1 and "Vet analysts" in sent[0].body


def test_a_manager_sees_their_organisations_milestone_owners_in_the_filter(client, plans, org):
    manager = ManagerFactory(organisation=org)
    client.force_login(manager)
    assert listed(client, "milestone_owner=milestone.owner")[0] == {plans["late"].pk}


# --- exports ---------------------------------------------------------------------------------------


def test_the_xlsx_export_has_a_milestones_sheet_of_the_same_plans(client, plans, owner, helper, org):
    import io

    import openpyxl

    other = ActionPlanFactory()  # another organisation's milestone never leaves with this export
    workflow.add_milestone(plan=other, user=ManagerFactory(organisation=other.organisation), title="Secret step")
    client.force_login(owner)
    response = client.get("/plans/export.xlsx?milestone_owner=milestone.owner")
    book = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    assert book.sheetnames == ["Action plans", "Milestones", "Success measures"]
    plan_rows = list(book["Action plans"].iter_rows(min_row=2, values_only=True))
    assert len(plan_rows) == 1
    sheet = book["Milestones"]
    header = [cell.value for cell in sheet[1]]
    rows = [dict(zip(header, row, strict=True)) for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert [(r["Number"], r["Milestone"], r["Owner"], r["Overdue"]) for r in rows] == [
        (1, "Vet analysts", "milestone.owner", "yes"),
        (2, "Brief the board", "plan.owner", None),
    ]
    assert rows[0]["Target date"].date() == days(-2)
    assert rows[0]["Link"].endswith(f"/plans/{plans['late'].pk}/")
    everything = client.get("/plans/export.xlsx")
    book = openpyxl.load_workbook(io.BytesIO(b"".join(everything.streaming_content)))
    titles = [row[4] for row in book["Milestones"].iter_rows(min_row=2, values_only=True)]
    assert sorted(titles) == ["Brief the board", "Draft profile", "Vet analysts"]
