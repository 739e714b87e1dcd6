"""The board pack: gradings, progress by finding, overdue with reasons, changes since a date, printing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from tests.factories import ActionPlanFactory, InspectorFactory, ManagerFactory, MilestoneFactory, UpdateFactory
from tests.tracker.plan_world import SURREY, build_world
from tracker.models import ActionPlan, Update

pytestmark = pytest.mark.django_db
S = ActionPlan.Status
URL = "/organisations/surrey/board-pack/"


@pytest.fixture
def world(org, other_org, staff, manager, other_staff):
    return build_world(org=org, other_org=other_org, staff=staff, manager=manager, other_staff=other_staff)


def section(body: str, heading_id: str) -> str:
    return body.split(f'id="{heading_id}"')[1].split("</section>")[0]


def at(day: dt.date, hour: int = 12) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour)))


def test_who_may_open_which_board_pack(client, world, staff, manager, other_staff, inspector):
    assert client.get(URL).status_code == 302  # anonymous: to the login page
    client.force_login(manager)
    assert client.get(URL).status_code == 200
    assert client.get("/organisations/hampshire/board-pack/").status_code == 404
    client.force_login(other_staff)
    assert client.get(URL).status_code == 404
    client.force_login(inspector)
    assert client.get(URL).status_code == 200
    assert client.get("/organisations/hampshire/board-pack/").status_code == 200


def test_summary_gradings_and_progress_by_finding(client, world, manager):
    client.force_login(manager)
    response = client.get(URL)
    body = response.content.decode()
    summary = section(body, "summary-heading")
    # s_afi signed off and s_peel_r1 closed; s_coc overdue (s_afi is past its date but signed off)
    # Each plan in one stage, and the stages add up: 3 + 1 + 1 + 0 = 5 (not "2 reported complete ... 4 open").
    assert "5 action plans, each in one stage:" in summary
    assert "<strong>With the force</strong>: 3, of which <strong>1 overdue</strong>" in summary
    assert "<strong>Awaiting verification</strong>: 1<" in summary
    assert "<strong>Verified complete</strong>: 1<" in summary
    assert "<strong>Ended without completion</strong>: 0<" in summary
    assert "Reported complete (awaiting verification or verified complete): 2 of 5 (40%)" in summary
    assert "Verified complete by the inspectorate: 1 of 5 (20%)" in summary
    gradings = section(body, "gradings-heading")
    assert "SOC inspection 2024" in gradings and "Requires improvement" in gradings
    assert "Inadequate" not in gradings  # Hampshire's
    progress = section(body, "progress-heading")
    assert [p.pk for p in response.context["plans"]] == [
        world.plans[name].pk for name in ("s_coc", "s_r1", "s_afi", "s_peel_r1", "s_peel_afi")
    ]  # by inspection (oldest first), then in the report's order: causes of concern, recommendations, AFIs
    for name in SURREY:
        assert f'href="{world.plans[name].get_absolute_url()}"' in progress
    assert "Blocked" in progress and "Amber: at risk" in progress and "Closed (verified complete)" in progress
    assert "deferred 1 time" in progress
    assert "Hampshire" not in body


def test_overdue_plans_come_with_their_latest_explanation(client, world, staff, manager):
    s_coc = world.plans["s_coc"]
    today = timezone.localdate()
    UpdateFactory(plan=s_coc, author=staff, kind=Update.Kind.PROGRESS, note="First progress.",
                  created_at=at(today - dt.timedelta(days=20)))  # fmt: skip
    UpdateFactory(plan=s_coc, author=manager, kind=Update.Kind.TARGET_DATE, note="Awaiting the analyst budget.",
                  created_at=at(today - dt.timedelta(days=3)))  # fmt: skip
    UpdateFactory(plan=s_coc, author=manager, kind=Update.Kind.COMMENT, note="A comment is not an explanation.",
                  created_at=at(today - dt.timedelta(days=1)))  # fmt: skip
    UpdateFactory(plan=s_coc, author=staff, kind=Update.Kind.PROGRESS, note="", created_at=timezone.now())
    unexplained = ActionPlanFactory(organisation=s_coc.organisation, target_date=today - dt.timedelta(days=2))
    client.force_login(manager)
    response = client.get(URL)
    overdue = section(response.content.decode(), "overdue-heading")
    assert [p.pk for p in response.context["overdue"]] == [s_coc.pk, unexplained.pk]  # oldest target first
    assert "Awaiting the analyst budget." in overdue
    assert "A comment is not an explanation." not in overdue and "First progress." not in overdue
    assert "No explanation recorded." in overdue
    assert world.plans["s_afi"].finding.reference not in overdue  # signed off: not overdue


def test_changes_since_a_chosen_date(client, world, staff):
    s_r1 = world.plans["s_r1"]
    since = dt.date(2026, 1, 10)
    UpdateFactory(plan=s_r1, author=staff, note="Before the date.", created_at=at(since - dt.timedelta(days=1), 23))
    UpdateFactory(plan=s_r1, author=staff, note="On the date.", created_at=at(since, 0))
    UpdateFactory(plan=s_r1, author=staff, note="After the date.", created_at=at(since + dt.timedelta(days=5)))
    UpdateFactory(plan=world.plans["h_r1"], author=world.users["other_staff"], note="Hampshire's change.",
                  created_at=at(since + dt.timedelta(days=5)))  # fmt: skip
    client.force_login(staff)
    response = client.get(URL + "?since=2026-01-10")
    changes = section(response.content.decode(), "changes-heading")
    assert "Changes since 10 January 2026" in changes
    assert "On the date." in changes and "After the date." in changes
    assert "Before the date." not in changes and "Hampshire" not in changes
    assert changes.index("After the date.") < changes.index("On the date.")  # newest first
    assert 'value="2026-01-10"' in response.content.decode()


def test_changes_default_to_the_last_90_days_and_a_bad_date_is_refused_with_a_message(client, world, staff):
    today = timezone.localdate()
    UpdateFactory(
        plan=world.plans["s_r1"], author=staff, note="Long ago.", created_at=at(today - dt.timedelta(days=91))
    )
    UpdateFactory(
        plan=world.plans["s_r1"], author=staff, note="Recently.", created_at=at(today - dt.timedelta(days=89))
    )
    client.force_login(staff)
    for query, status in (("", 200), ("?since=not-a-date", 400)):
        response = client.get(URL + query)
        assert response.status_code == status
        assert response.context["since"] == today - dt.timedelta(days=90)
        changes = section(response.content.decode(), "changes-heading")
        assert "Recently." in changes and "Long ago." not in changes
    assert "Enter a valid date." in response.content.decode()


@pytest.mark.parametrize("since", ["2024-02-30", "0000-00-00", "2024-13-01", "99999-01-01"])
def test_a_date_that_does_not_exist_is_a_clear_error_not_a_server_error(client, world, staff, since):
    """Found from outside: `since=2024-02-30` and `since=0000-00-00` looked like dates, so the parser
    tried them and raised (500) on both databases."""
    client.force_login(staff)
    response = client.get(URL, {"since": since})
    assert response.status_code == 400
    body = response.content.decode()
    assert "Enter a valid date." in body
    assert 'aria-invalid="true"' in body  # the field is marked, for sight and for screen readers
    assert response.context["since"] == timezone.localdate() - dt.timedelta(days=90)


def test_a_nul_character_in_the_date_is_refused_naming_the_parameter(client, world, staff):
    client.force_login(staff)
    response = client.get(URL, {"since": "2024-02-01\x00"})
    assert response.status_code == 400
    assert "<code>since</code>: holds a NUL character" in response.content.decode()


def test_a_long_period_shows_the_latest_changes_and_says_so(client, world, staff):
    plan = world.plans["s_r1"]
    now = timezone.now()
    Update.objects.bulk_create(
        Update(plan=plan, author=staff, kind=Update.Kind.PROGRESS, note=f"Change {i}",
               created_at=now - dt.timedelta(minutes=i))
        for i in range(205)
    )  # fmt: skip
    client.force_login(staff)
    response = client.get(URL)
    changes = section(response.content.decode(), "changes-heading")
    assert len(response.context["changes"]) == 200
    assert "Only the 200 most recent changes in this period are shown." in changes
    assert "Change 0<" in changes and "Change 199<" in changes and "Change 200<" not in changes


def test_it_prints(client, world, manager):
    client.force_login(manager)
    body = client.get(URL).content.decode()
    assert '<link rel="stylesheet" href="/static/css/print.css" media="print">' in body
    assert '<button type="button" class="btn btn-outline-secondary" data-print>Print / Save as PDF</button>' in body
    assert 'src="/static/js/app.js"' in body
    # the date form and the button sit in a block the print stylesheet hides
    controls = body.split('mb-4 no-print">')[1].split("<section")[0]
    assert "<form" in controls and "data-print" in controls
    print_css = (Path(settings.BASE_DIR) / "static" / "css" / "print.css").read_text()
    assert ".no-print" in print_css and "display: none" in print_css and "@page" in print_css
    # Printed from the browser: RAG badges keep their colour, tables flow across pages (no whole section
    # pushed to the next page), and the phone layout's stacked rows are for screens only.
    assert "print-color-adjust: exact" in print_css
    assert "section { page-break-inside: avoid" not in print_css and "break-inside: avoid; }" in print_css
    app_css = (Path(settings.BASE_DIR) / "static" / "css" / "app.css").read_text()
    assert "@media screen and (max-width: 767.98px)" in app_css and "@media (max-width: 767.98px)" not in app_css
    assert "window.print()" in (Path(settings.BASE_DIR) / "static" / "js" / "app.js").read_text()


@pytest.mark.parametrize("n", [3, 30])
def test_board_pack_queries_do_not_grow(client, django_assert_num_queries, org, staff, n):
    today = timezone.localdate()
    for plan in ActionPlanFactory.create_batch(n, organisation=org, target_date=today - dt.timedelta(days=1)):
        UpdateFactory.create_batch(2, plan=plan, author=staff, kind=Update.Kind.STATUS)
        MilestoneFactory.create_batch(2, plan=plan, owner=staff)
    client.force_login(ManagerFactory(organisation=org))
    # session, user, organisation, changes (author, plan and finding joined), summary aggregate,
    # gradings (inspection joined), plans (finding, inspection, owner joined), their milestones (owner
    # joined), their success measures, their proposals of no action, overdue plans with their latest
    # explanation, deferred plans with their latest reason, session save (3)
    with django_assert_num_queries(15):
        response = client.get(URL)
    assert len(response.context["plans"]) == n
    assert len(response.context["overdue"]) == n
    client.force_login(InspectorFactory())
    # the same for an inspector
    with django_assert_num_queries(15):
        client.get(URL)


def test_each_plan_shows_its_milestones_in_order_with_owner_dates_and_whether_done(client, world, staff, manager):
    plan = world.plans["s_r1"]
    today = timezone.localdate()
    MilestoneFactory(plan=plan, position=2, title="Second: recruit two analysts", owner=None,
                     target_date=dt.date(2027, 3, 1))  # fmt: skip
    MilestoneFactory(plan=plan, position=1, title="First: agree the analyst budget", owner=staff,
                     target_date=dt.date(2026, 9, 1), done_on=today)  # fmt: skip
    client.force_login(manager)
    body = client.get(URL).content.decode()
    progress = body.split('id="progress-heading"')[1].split('id="overdue-heading"')[0]
    first = progress.index("First: agree the analyst budget")
    assert first < progress.index("Second: recruit two analysts")
    done = f"done {today:%-d %b %Y}"
    assert f"First: agree the analyst budget · {staff.get_full_name()} · target 1 Sep 2026 · {done}" in progress
    assert "Second: recruit two analysts · no owner · target 1 Mar 2027 · not done yet" in progress
    # In its own plan's block, under the plan's finding.
    assert plan.finding.text in progress[progress.rfind('class="pack-plan"', 0, first) : first]
