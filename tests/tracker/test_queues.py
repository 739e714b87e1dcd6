"""Queues that say what to do next: returned work, how long each item waited (oldest first), "see all"
opening exactly that queue under a heading in words, the evidence panel, reasons for moved dates, and
closing as verified only when confirmed."""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest
from django.utils import timezone

from tests.factories import ActionPlanFactory, InspectionFactory, UpdateFactory, pdf_upload
from tracker import workflow
from tracker.models import ActionPlan, Update

pytestmark = pytest.mark.django_db
S = ActionPlan.Status


def days_ago(n: int) -> dt.datetime:
    """This time of day, `n` days back on the local calendar (`now() - n days` falls on the next local day
    in the hour before midnight when summer time separates the two days)."""
    return timezone.localtime() - dt.timedelta(days=n)


def submitted(plan, staff, *, ago: int) -> None:
    """Submit through the workflow, then date the submission `ago` days back."""
    workflow.submit_for_sign_off(plan=plan, user=staff, statement="Profile refreshed.", files=[pdf_upload()])
    Update.objects.filter(plan=plan, status_to=S.SUBMITTED).update(created_at=days_ago(ago))


@pytest.fixture
def returned_plan(org, staff, manager):
    plan = ActionPlanFactory(organisation=org, owner=staff, status=S.IN_PROGRESS)
    submitted(plan, staff, ago=10)
    workflow.return_submission(plan=plan, user=manager, comment="The profile still dates from 2019.")
    Update.objects.filter(plan=plan, kind=Update.Kind.REVIEW).update(created_at=days_ago(3))
    return plan


def section(body: str, section_id: str) -> str:
    return body.split(f'id="{section_id}-heading"')[1].split("</section>")[0]


def test_staff_see_returned_work_first_with_the_managers_comment_and_date(client, returned_plan, staff):
    client.force_login(staff)
    body = client.get("/").content.decode()
    headings = re.findall(r'<h2 id="([\w-]+)-heading"', body)
    assert headings[0] == "returned"
    returned = section(body, "returned")
    assert "Returned: your action" in returned
    assert "The profile still dates from 2019." in returned
    assert (timezone.localdate() - dt.timedelta(days=3)).strftime("%-d %b %Y") in returned
    assert "returned " in returned and ", 3 days" in returned


def test_returned_work_leaves_the_queue_when_resubmitted(client, returned_plan, staff):
    workflow.submit_for_sign_off(plan=returned_plan, user=staff, statement="Refreshed in full.")
    client.force_login(staff)
    assert client.get("/").context["sections"][0]["count"] == 0
    assert client.get("/plans/?returned=1").context["paginator"].count == 0


def test_the_plan_page_and_timeline_name_a_return_as_a_return(client, returned_plan, staff, manager):
    client.force_login(staff)
    page = client.get(f"/plans/{returned_plan.pk}/").content.decode()
    assert "Returned: your action" in page.split('class="alert alert-warning returned-alert"')[1].split("</div>")[0]
    assert "Returned to the owner" in page.split('id="timeline-heading"')[1]
    client.force_login(manager)
    pack = client.get(f"/organisations/{returned_plan.organisation.slug}/board-pack/?since=2000-01-01")
    assert "Returned to the owner: now in progress" in pack.content.decode()


def test_the_manager_queue_shows_how_long_each_waited_oldest_first(client, org, staff, manager):
    newer = ActionPlanFactory(organisation=org, owner=staff)
    older = ActionPlanFactory(organisation=org, owner=staff)
    submitted(newer, staff, ago=2)
    submitted(older, staff, ago=117)
    client.force_login(manager)
    queue = next(s for s in client.get("/").context["sections"] if s["id"] == "awaiting-sign-off")
    assert [p.pk for p in queue["rows"]] == [older.pk, newer.pk]
    when = (timezone.localdate() - dt.timedelta(days=117)).strftime("%-d %b %Y")
    assert queue["rows"][0].waiting_text == f"submitted {when}, 117 days"


def test_the_overdue_queue_shows_days_overdue_most_overdue_first(client, org, staff):
    today = timezone.localdate()
    a = ActionPlanFactory(organisation=org, target_date=today - dt.timedelta(days=2))
    b = ActionPlanFactory(organisation=org, target_date=today - dt.timedelta(days=40))
    client.force_login(staff)
    body = client.get("/").content.decode()
    overdue = section(body, "overdue")
    assert overdue.index(f"/plans/{b.pk}/") < overdue.index(f"/plans/{a.pk}/")
    assert "<strong>40 days overdue</strong>" in overdue and "<strong>2 days overdue</strong>" in overdue


@pytest.mark.parametrize("who", ["staff", "manager", "inspector"])
def test_see_all_opens_exactly_each_queue_with_a_heading_in_words(client, request, org, staff, manager, who):
    today = timezone.localdate()
    for n in range(12):  # more than a home page shows, in every queue
        ActionPlanFactory(organisation=org, owner=staff, target_date=today - dt.timedelta(days=n + 1))
        ActionPlanFactory(organisation=org, owner=staff, target_date=today + dt.timedelta(days=n + 1))
        ActionPlanFactory(organisation=org, owner=None, status=S.NOT_STARTED, target_date=today + dt.timedelta(200))
        ActionPlanFactory(organisation=org, status=S.SUBMITTED)
        ActionPlanFactory(organisation=org, status=S.SIGNED_OFF)
    ActionPlanFactory(organisation=org, status=S.IN_PROGRESS, target_date=today + dt.timedelta(days=90))  # no queue
    client.force_login(request.getfixturevalue(who))
    response = client.get("/")
    sections = response.context["sections"]
    links = dict(re.findall(r'<a href="(/plans/\?[^"]+)">See all (\d+)', response.content.decode()))
    assert len(links) == len([s for s in sections if s["count"] > len(s["rows"])]) > 0
    for href, count in links.items():
        listed = client.get(html.unescape(href))
        assert listed.context["paginator"].count == int(count), href
        heading = listed.context["heading"]
        assert heading.endswith(f": {count} plans"), heading


def moved(plan, *, status_from, status_to, ago: int) -> None:
    """A change of status `ago` days back (the plan row already has `status_to`)."""
    update = UpdateFactory(plan=plan, kind=Update.Kind.REVIEW, status_from=status_from, status_to=status_to)
    Update.objects.filter(pk=update.pk).update(created_at=days_ago(ago))


@pytest.mark.parametrize("who", ["staff", "manager", "inspector"])
def test_see_all_lists_each_queue_in_the_queues_own_order(client, request, org, staff, manager, who):
    """The oldest waiting come first on the home page and in the list its "See all" opens; the plans are
    made newest-waiting first, so the order is not simply creation order."""
    today = timezone.localdate()
    for n in range(12):
        ActionPlanFactory(organisation=org, owner=staff, target_date=today - dt.timedelta(days=n + 1))
        ActionPlanFactory(organisation=org, owner=staff, target_date=today + dt.timedelta(days=30 - n))
        submitted_plan = ActionPlanFactory(organisation=org, status=S.SUBMITTED)
        moved(submitted_plan, status_from=S.IN_PROGRESS, status_to=S.SUBMITTED, ago=n + 1)
        signed_off = ActionPlanFactory(organisation=org, status=S.SIGNED_OFF)
        moved(signed_off, status_from=S.SUBMITTED, status_to=S.SIGNED_OFF, ago=n + 1)
        returned = ActionPlanFactory(organisation=org, owner=staff, status=S.IN_PROGRESS)
        moved(returned, status_from=S.IN_PROGRESS, status_to=S.SUBMITTED, ago=n + 40)
        moved(returned, status_from=S.SUBMITTED, status_to=S.IN_PROGRESS, ago=n + 1)
    client.force_login(request.getfixturevalue(who))
    response = client.get("/")
    sections = {section["query"]: section for section in response.context["sections"]}
    links = re.findall(r'<a href="/plans/\?([^"]+)">See all', response.content.decode())
    assert len(links) >= 2
    for query in map(html.unescape, links):
        shown = [plan.pk for plan in sections[query]["rows"]]
        listed = [plan.pk for plan in client.get(f"/plans/?{query}").context["object_list"]]
        assert listed[: len(shown)] == shown, query
        assert len(shown) == 10 and len(listed) == min(25, sections[query]["count"]), query
    if who != "staff":  # oldest first: made newest first, so the last made leads
        waiting = next(query for query in sections if "sort=waiting" in query)
        rows = sections[waiting]["rows"]
        assert rows == sorted(rows, key=lambda plan: -plan.pk)


def test_the_queue_sorts_are_checked_like_the_others(client, manager):
    client.force_login(manager)
    assert client.get("/plans/?sort=waiting").status_code == 200
    assert client.get("/plans/?sort=returned").status_code == 200
    response = client.get("/plans/?sort=oldest")
    assert response.status_code == 200  # refused as the other sort values are: a field error, list unchanged
    assert "sort" in response.context["filter"].errors


def test_the_list_heading_says_what_it_shows(client, org, manager):
    today = timezone.localdate()
    inspection = InspectionFactory(title="South East SOC 2024", slug="se-soc")
    for days in (3, 9):
        ActionPlanFactory(
            organisation=org, finding__inspection=inspection, target_date=today - dt.timedelta(days=days)
        )
    client.force_login(manager)
    response = client.get(f"/plans/?organisation={org.slug}&inspection=se-soc&overdue=1")
    assert response.context["heading"] == f"{org.name}, South East SOC 2024, overdue: 2 plans"
    assert f"{org.name}, South East SOC 2024, overdue: 2 plans" in response.content.decode()


def test_reviewers_see_every_file_in_one_evidence_panel(client, org, staff, manager):
    plan = ActionPlanFactory(organisation=org, owner=staff)
    workflow.record_progress(plan=plan, user=staff, note="Draft profile.", files=[pdf_upload("draft.pdf")])
    workflow.submit_for_sign_off(plan=plan, user=staff, statement="Done.", files=[pdf_upload("final.pdf")])
    client.force_login(manager)
    body = client.get(f"/plans/{plan.pk}/").content.decode()
    panel = body.split('id="evidence-heading"')[1].split("</section>")[0]
    assert panel.index("draft.pdf") < panel.index("final.pdf")
    assert panel.count(f"added by {staff.get_full_name()}") == 2


def test_the_summary_box_shows_the_last_reason_for_moving_the_date(client, org, manager):
    plan = ActionPlanFactory(organisation=org, target_date=timezone.localdate() + dt.timedelta(days=10))
    workflow.change_target_date(
        plan=plan, user=manager, target_date=plan.target_date + dt.timedelta(days=30), reason="Analysts start in May."
    )
    client.force_login(manager)
    facts = client.get(f"/plans/{plan.pk}/").content.decode().split('class="plan-facts')[1].split("</dl>")[0]
    assert "Last change of date" in facts and "Analysts start in May." in facts


def test_the_deferred_list_shows_why_each_date_moved(client, org, manager):
    plan = ActionPlanFactory(organisation=org, target_date=timezone.localdate() + dt.timedelta(days=10))
    workflow.change_target_date(
        plan=plan, user=manager, target_date=plan.target_date + dt.timedelta(days=30), reason="Vetting backlog."
    )
    client.force_login(manager)
    assert "Why the date moved: Vetting backlog." in client.get("/plans/?deferred=1").content.decode()
    assert "Why the date moved: Vetting backlog." in client.get("/dashboard/").content.decode()


def test_closing_as_verified_asks_to_confirm(client, org, inspector):
    plan = ActionPlanFactory(organisation=org, status=S.SIGNED_OFF)
    client.force_login(inspector)
    data = {"close-version": plan.version, "close-comment": "Evidence checked."}
    response = client.post(f"/plans/{plan.pk}/close/", data)
    assert response.status_code == 400
    assert "Tick to confirm: closing as verified cannot be undone." in response.content.decode()
    plan.refresh_from_db()
    assert plan.status == S.SIGNED_OFF
    response = client.post(f"/plans/{plan.pk}/close/", {**data, "close-confirm": "on"})
    assert response.status_code == 302
    plan.refresh_from_db()
    assert plan.status == S.CLOSED
