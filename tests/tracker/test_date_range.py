"""Dates people and files give are accepted only from 1 January 2000 to 31 December 25 years ahead
(tracker.date_range), on top of each action's own rule: through the API (400 naming the field), the plan
page's forms (the field's error), bulk actions, the findings import (every bad row listed, nothing
written) and the admin. Found from outside: 0001-01-01 and 9999-12-31 were recorded everywhere, and read
back as "since 1 Jan 0001", "+2912153 days" and a spreadsheet date of "#####"."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import pytest
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import RequestFactory
from django.utils import timezone

from inspections.models import Finding, Inspection
from tests.factories import ActionPlanFactory, FindingFactory, InspectionFactory, MilestoneFactory, pdf_upload
from tests.tracker import import_web
from tests.tracker.test_api import API, Api
from tracker import date_range, workflow
from tracker.imports import columns
from tracker.models import ActionPlan, Dependency, Milestone, PccResponse, SuccessMeasure, Update

pytestmark = pytest.mark.django_db(databases="__all__")
S = ActionPlan.Status
TODAY = timezone.localdate()
FIRST = dt.date(2000, 1, 1)
LAST = dt.date(TODAY.year + 25, 12, 31)
RANGE = f"Enter a date between 1 January 2000 and 31 December {TODAY.year + 25}."


def state(plan: ActionPlan) -> tuple:
    """Everything an action could change on the plan."""
    return (
        ActionPlan.objects.filter(pk=plan.pk).values().get(),
        list(Update.objects.filter(plan=plan).values_list("pk", flat=True)),
        list(Dependency.objects.filter(plan=plan).values()),
        list(Milestone.objects.filter(plan=plan).values()),
        list(SuccessMeasure.objects.filter(plan=plan).values()),
    )


@pytest.fixture
def plan(org):
    return ActionPlanFactory(organisation=org, status=S.IN_PROGRESS, target_date=TODAY + dt.timedelta(days=30))


# --- the range and its words -------------------------------------------------------------------


def test_the_range_runs_from_2000_to_the_end_of_the_year_25_years_ahead():
    assert date_range.accepted(dt.date(2026, 12, 1)) == (dt.date(2000, 1, 1), dt.date(2051, 12, 31))
    assert date_range.message(dt.date(2026, 12, 1)) == "Enter a date between 1 January 2000 and 31 December 2051."
    for inside in (dt.date(2000, 1, 1), dt.date(2051, 12, 31)):
        date_range.check(inside, dt.date(2026, 12, 1))
    for outside in (dt.date(1, 1, 1), dt.date(1999, 12, 31), dt.date(2052, 1, 1), dt.date(9999, 12, 31)):
        with pytest.raises(ValidationError) as refused:
            date_range.check(outside, dt.date(2026, 12, 1))
        assert refused.value.code == "date_range"


# --- the API: 400 naming the field, nothing changed -----------------------------------------------


def test_the_api_refuses_blocked_since_0001_01_01(plan, staff):
    before = state(plan)
    response = Api(staff).post(
        f"{API}/plans/{plan.pk}/block/",
        {"version": plan.version, "note": "Waiting on vetting.", "waiting_on": "other", "blocked_since": "0001-01-01"},
    )
    assert response.status_code == 400
    assert response.json() == {"blocked_since": [RANGE]}
    assert state(plan) == before


def test_the_api_refuses_a_target_date_of_9999_12_31(plan, manager):
    before = state(plan)
    response = Api(manager).post(
        f"{API}/plans/{plan.pk}/target-date/",
        {"version": plan.version, "target_date": "9999-12-31", "reason": "The board agreed."},
    )
    assert response.status_code == 400
    assert response.json() == {"target_date": [RANGE]}
    assert state(plan) == before


def test_the_api_refuses_a_milestone_done_on_0001_01_01(plan, staff):
    milestone = MilestoneFactory(plan=plan)
    before = state(plan)
    response = Api(staff).post(
        f"{API}/plans/{plan.pk}/milestone-complete/",
        {"version": plan.version, "milestone": milestone.pk, "done_on": "0001-01-01"},
    )
    assert response.status_code == 400
    assert response.json() == {"done_on": [RANGE]}
    assert state(plan) == before


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("milestones", {"title": "Recruit analysts", "target_date": "0001-01-01"}, "target_date"),
        ("milestone-edit", {"title": "Recruit analysts", "target_date": "9999-12-31"}, "target_date"),
        ("measures", {"text": "Every profile refreshed", "sustain_until": "9999-12-31"}, "sustain_until"),
        ("measure-edit", {"text": "Every profile refreshed", "sustain_until": "0001-01-01"}, "sustain_until"),
    ],
    ids=["milestone-add", "milestone-edit", "measure-add", "measure-edit"],
)
def test_the_api_refuses_milestone_and_measure_dates_outside_the_range(plan, manager, path, body, field):
    if path == "milestone-edit":
        body["milestone"] = MilestoneFactory(plan=plan).pk
    if path == "measure-edit":
        body["measure"] = SuccessMeasure.objects.create(plan=plan, text="Analysts in post", position=1).pk
    before = state(plan)
    response = Api(manager).post(f"{API}/plans/{plan.pk}/{path}/", {"version": plan.version, **body})
    assert response.status_code == 400
    assert response.json() == {field: [RANGE]}
    assert state(plan) == before


def test_the_api_refuses_a_dependency_changed_to_0001_01_01(plan, staff):
    workflow.mark_blocked(plan=plan, user=staff, note="Waiting on vetting.")
    plan.refresh_from_db()
    before = state(plan)
    response = Api(staff).post(
        f"{API}/plans/{plan.pk}/waiting-on/",
        {
            "version": plan.version,
            "note": "Earlier than we said.",
            "waiting_on": "other",
            "blocked_since": "0001-01-01",
        },
    )
    assert response.status_code == 400
    assert response.json() == {"blocked_since": [RANGE]}
    assert state(plan) == before


def test_the_existing_rules_still_apply_inside_the_range_and_name_their_field(plan, staff, manager):
    milestone = MilestoneFactory(plan=plan)
    tomorrow = (TODAY + dt.timedelta(days=1)).isoformat()
    done = Api(staff).post(f"{API}/plans/{plan.pk}/milestone-complete/",
                           {"version": plan.version, "milestone": milestone.pk, "done_on": tomorrow})  # fmt: skip
    assert done.status_code == 400
    assert "day still to come" in done.json()["done_on"][0]
    blocked = Api(staff).post(f"{API}/plans/{plan.pk}/block/",
                              {"version": plan.version, "note": "n", "blocked_since": tomorrow})  # fmt: skip
    assert blocked.status_code == 400
    assert "day still to come" in blocked.json()["blocked_since"][0]
    moved = Api(manager).post(f"{API}/plans/{plan.pk}/target-date/",
                              {"version": plan.version, "target_date": "2001-01-01", "reason": "x"})  # fmt: skip
    assert moved.status_code == 400
    assert "cannot be before today" in moved.json()["target_date"][0]


# --- the plan page: the form field's error, nothing changed ---------------------------------------


def _bound_form(response, slug):
    return next(f["form"] for f in response.context["action_forms"] if f["action"].slug == slug)


def test_the_page_shows_blocked_since_0001_01_01_as_the_fields_error(client, plan, staff):
    client.force_login(staff)
    before = state(plan)
    response = client.post(f"/plans/{plan.pk}/block/", {
        "block-version": plan.version, "block-note": "Waiting on vetting.", "block-waiting_on": "other",
        "block-blocked_since": "0001-01-01",
    })  # fmt: skip
    assert response.status_code == 400
    assert _bound_form(response, "block").errors["blocked_since"] == [RANGE]
    assert RANGE in response.content.decode()
    assert state(plan) == before


def test_the_page_shows_a_target_date_of_9999_12_31_as_the_fields_error(client, plan, manager):
    client.force_login(manager)
    before = state(plan)
    response = client.post(f"/plans/{plan.pk}/target-date/", {
        "target-date-version": plan.version, "target-date-target_date": "9999-12-31", "target-date-reason": "x",
    })  # fmt: skip
    assert response.status_code == 400
    assert _bound_form(response, "target-date").errors["target_date"] == [RANGE]
    assert state(plan) == before


def test_the_page_shows_a_milestone_done_on_0001_01_01_beside_the_milestone(client, plan, staff):
    milestone = MilestoneFactory(plan=plan, title="Recruit analysts")
    client.force_login(staff)
    before = state(plan)
    response = client.post(f"/plans/{plan.pk}/milestone-complete/", {
        "milestone-complete-version": plan.version, "milestone-complete-milestone": milestone.pk,
        "milestone-complete-done_on": "0001-01-01",
    })  # fmt: skip
    assert response.status_code == 400
    assert f"Done on: {RANGE}" in response.content.decode()
    assert state(plan) == before


def test_a_bulk_change_to_9999_12_31_is_refused_for_every_plan(client, org, plan, manager):
    other = ActionPlanFactory(organisation=org, target_date=TODAY + dt.timedelta(days=5))
    client.force_login(manager)
    before = [state(plan), state(other)]
    response = client.post("/plans/bulk/", {
        "query": "", "action": "target-date", "plans": [plan.pk, other.pk], "target_date": "9999-12-31",
        "reason": "x",
    })  # fmt: skip
    assert response.status_code == 400
    assert RANGE in response.content.decode()
    assert [state(plan), state(other)] == before


# --- the first and the last date of the range are accepted ------------------------------------------


def test_the_first_and_the_last_accepted_dates_are_recorded(plan, staff, manager):
    api = Api(manager)
    version = plan.version

    def post(path: str, body: dict, who: Api = api) -> dict:
        nonlocal version
        response = who.post(f"{API}/plans/{plan.pk}/{path}/", {"version": version, **body})
        assert response.status_code in (200, 201), (path, response.json())
        version = response.json()["plan"]["version"]
        return response.json()

    post("milestones", {"title": "Recruit analysts", "target_date": FIRST.isoformat()})
    post("milestones", {"title": "Refresh the profile", "target_date": LAST.isoformat()})
    first, last = plan.milestones.order_by("position")
    post("milestone-complete", {"milestone": first.pk, "done_on": FIRST.isoformat()})
    post("measures", {"text": "Every profile refreshed", "sustain_until": LAST.isoformat()})
    post("measures", {"text": "Analysts in post", "sustain_until": FIRST.isoformat()})
    post("target-date", {"target_date": LAST.isoformat(), "reason": "The board agreed a long programme."})
    post("block", {"note": "Waiting on vetting.", "waiting_on": "other", "blocked_since": FIRST.isoformat()},
         Api(staff))  # fmt: skip

    plan.refresh_from_db()
    assert list(plan.milestones.order_by("position").values_list("target_date", "done_on")) == [
        (FIRST, FIRST), (LAST, None),
    ]  # fmt: skip
    assert sorted(plan.measures.values_list("sustain_until", flat=True)) == [FIRST, LAST]
    assert (plan.status, plan.target_date, Dependency.objects.get(plan=plan).since) == (S.BLOCKED, LAST, FIRST)


def test_the_day_before_the_first_and_after_the_last_are_refused(plan, manager):
    for day in (FIRST - dt.timedelta(days=1), LAST + dt.timedelta(days=1)):
        with pytest.raises(ValidationError) as refused:
            workflow.add_milestone(plan=plan, user=manager, title="Recruit analysts", target_date=day)
        assert refused.value.message_dict == {"target_date": [RANGE]}
    assert not plan.milestones.exists()


# --- the findings import: every bad row listed, nothing written -------------------------------------


def _finding(**values: str) -> dict[str, str]:
    row = {
        "inspection": "South East SOC", "inspection_slug": "south-east-soc-2024", "published_on": "2024-08-30",
        "reference": "R1", "kind": "recommendation", "text": "Update the local profiles.", "addressed_to": "surrey",
        "themes": "", "due_by": "2025-03-31", "cause_of_concern": "",
    }  # fmt: skip
    return row | values


def _csv(rows: list[dict[str, str]]) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=columns.COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode()


def _counts() -> tuple[int, int]:
    return Inspection.objects.count(), Finding.objects.count()


def test_the_import_refuses_due_by_0001_01_01_and_lists_its_row(tmp_path: Path, org):
    rows = [
        _finding(reference="R1"),
        _finding(reference="R2", due_by="0001-01-01"),
        _finding(reference="R3", due_by=f"{TODAY.year + 26}-01-01"),
    ]
    path = tmp_path / "findings.csv"
    path.write_bytes(_csv(rows))
    with pytest.raises(CommandError) as refused:
        call_command("import_findings", str(path), stdout=io.StringIO())
    message = str(refused.value)
    range_words = f"between 1 January 2000 and 31 December {TODAY.year + 25}"
    assert f"row 3, due_by: '0001-01-01' is not a date {range_words}" in message
    assert f"row 4, due_by: '{TODAY.year + 26}-01-01' is not a date {range_words}" in message
    assert "The file has 2 errors; nothing was imported." in message
    assert _counts() == (0, 0)


def test_the_import_refuses_published_on_0001_01_01(tmp_path: Path, org):
    path = tmp_path / "findings.csv"
    path.write_bytes(_csv([_finding(published_on="0001-01-01")]))
    with pytest.raises(CommandError) as refused:
        call_command("import_findings", str(path), stdout=io.StringIO())
    assert "row 2, published_on: '0001-01-01' is not a date between 1 January 2000" in str(refused.value)
    assert _counts() == (0, 0)


def test_the_import_accepts_the_first_and_the_last_dates(tmp_path: Path, org):
    path = tmp_path / "findings.csv"
    path.write_bytes(_csv([_finding(published_on=FIRST.isoformat(), due_by=LAST.isoformat())]))
    call_command("import_findings", str(path), stdout=io.StringIO())
    finding = Finding.objects.select_related("inspection").get()
    assert (finding.inspection.published_on, finding.due_by) == (FIRST, LAST)


def test_the_web_import_lists_the_row_with_due_by_0001_01_01_and_imports_nothing(client, admin_user, org):
    client.force_login(admin_user)
    preview = import_web.upload(
        client, "findings.csv", _csv([_finding(), _finding(reference="R2", due_by="0001-01-01")])
    )
    body = client.get(preview).content.decode()
    assert "0001-01-01" in body and "is not a date between 1 January 2000" in body
    confirmed = import_web.confirm(client, preview)
    assert "Nothing was imported" in confirmed.content.decode()
    assert _counts() == (0, 0)


def test_the_milestone_rows_of_an_import_are_held_to_the_range(tmp_path: Path, org, admin_user):
    finding = FindingFactory(inspection=InspectionFactory(slug="south-east-soc-2024"), reference="R1")
    finding.addressed_to.set([org])
    plan = ActionPlanFactory(finding=finding, organisation=org, status=S.IN_PROGRESS)
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(columns.COLUMNS)
    writer.writerow([columns.MILESTONES_MARKER])
    writer.writerow(columns.MILESTONE_COLUMNS)
    for title, target, done in (("Recruit", "9999-12-31", ""), ("Refresh", "", "0001-01-01")):
        writer.writerow(["south-east-soc-2024", "R1", "surrey", title, "", target, done, ""])
    path = tmp_path / "milestones.csv"
    path.write_text(buffer.getvalue(), encoding="utf-8")
    with pytest.raises(CommandError) as refused:
        call_command("import_findings", str(path), "--as", "admin", stdout=io.StringIO())
    message = str(refused.value)
    assert "row 4, target_date (milestones): '9999-12-31' is not a date between 1 January 2000" in message
    assert "row 5, done_on (milestones): '0001-01-01' is not a date between 1 January 2000" in message
    assert not plan.milestones.exists()


# --- the admin and the 56-day response ---------------------------------------------------------


def test_the_admin_refuses_a_finding_due_by_0001_01_01(admin_user):
    finding = FindingFactory()
    request = RequestFactory().get("/admin/")
    request.user = admin_user
    model_admin = admin.site._registry[Finding]
    form_class = model_admin.get_form(request, finding)
    data = {"inspection": finding.inspection_id, "kind": finding.kind, "reference": finding.reference,
            "text": finding.text, "due_by": "0001-01-01"}  # fmt: skip
    form = form_class(data, instance=finding)
    assert form.errors["due_by"] == [RANGE]
    inspection_admin = admin.site._registry[Inspection]
    inspection_form = inspection_admin.get_form(request, finding.inspection)(
        {"title": "T", "slug": "t", "programme": finding.inspection.programme, "published_on": "9999-12-31"},
        instance=finding.inspection,
    )
    assert inspection_form.errors["published_on"] == [RANGE]


def test_a_response_of_an_undated_report_cannot_be_published_on_0001_01_01(client, org, manager):
    inspection = InspectionFactory(published_on=None)
    finding = FindingFactory(inspection=inspection)
    finding.addressed_to.set([org])
    client.force_login(manager)
    response = client.post(
        f"/inspections/{inspection.slug}/response/{org.slug}/",
        {"file": pdf_upload(), "published_on": "0001-01-01"},
        follow=True,
    )
    assert RANGE in response.content.decode()
    assert not PccResponse.objects.exists()
