"""Milestones in the findings import (issue 15): an XLSX sheet named Milestones, the CSV rows after a
`[milestones]` line, or a JSON file's "milestones" list. All or nothing: every bad row is listed with the
findings' errors; a valid file adds or changes milestones through the workflow (each plan locked,
versioned, one timeline entry), and importing it again changes nothing."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from openpyxl import Workbook, load_workbook

from tests.factories import (
    ActionPlanFactory,
    AdminFactory,
    FindingFactory,
    InspectionFactory,
    MilestoneFactory,
    OrganisationFactory,
    StaffFactory,
)
from tracker.imports import columns, services
from tracker.models import ActionPlan, Milestone, Update

pytestmark = pytest.mark.django_db
S = ActionPlan.Status
TODAY = timezone.localdate()
SLUG = "south-east-soc-2024"


@pytest.fixture
def world():
    hampshire = OrganisationFactory(slug="hampshire", name="Hampshire Constabulary")
    surrey = OrganisationFactory(slug="surrey", name="Surrey Police")
    inspection = InspectionFactory(slug=SLUG, title="South East SOC")
    finding = FindingFactory(inspection=inspection, reference="R1")
    finding.addressed_to.set([hampshire, surrey])
    plan = ActionPlanFactory(finding=finding, organisation=hampshire, status=S.IN_PROGRESS, percent_complete=10)
    return {
        "plan": plan,
        "staff": StaffFactory(organisation=hampshire, username="hants.staff"),
        "surrey.staff": StaffFactory(organisation=surrey, username="surrey.staff"),
        "admin": AdminFactory(username="admin.one"),
    }


def milestone(**values: str) -> dict[str, str]:
    row = {"inspection_slug": SLUG, "reference": "R1", "organisation": "hampshire", "title": "Recruit analysts",
           "owner": "hants.staff", "target_date": (TODAY + dt.timedelta(days=30)).isoformat(), "done_on": "",
           "note": ""}  # fmt: skip
    row.update(values)
    return row


def csv_file(path: Path, milestones: list[dict[str, str]], findings: list[dict[str, str]] = ()) -> Path:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(columns.COLUMNS)
    for row in findings:
        writer.writerow([row.get(c, "") for c in columns.COLUMNS])
    writer.writerow([columns.MILESTONES_MARKER])
    writer.writerow(columns.MILESTONE_COLUMNS)
    for row in milestones:
        writer.writerow([row[c] for c in columns.MILESTONE_COLUMNS])
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


def xlsx_file(path: Path, milestones: list[dict[str, str]]) -> Path:
    workbook = Workbook()
    workbook.active.append(list(columns.COLUMNS))
    sheet = workbook.create_sheet("Milestones")
    sheet.append(list(columns.MILESTONE_COLUMNS))
    for row in milestones:
        sheet.append([row[c] for c in columns.MILESTONE_COLUMNS])
    workbook.save(path)
    return path


def run(path: Path, *args: str) -> str:
    out = io.StringIO()
    call_command("import_findings", str(path), *args, stdout=out)
    return out.getvalue()


def state() -> list[tuple]:
    return [
        *Milestone.objects.order_by("pk").values_list("plan_id", "title", "owner__username", "target_date", "done_on"),
        *ActionPlan.objects.order_by("pk").values_list("pk", "version", "percent_complete"),
        Update.objects.count(),
    ]


@pytest.mark.parametrize("maker", [csv_file, xlsx_file], ids=["csv", "xlsx"])
def test_milestones_are_added_through_the_workflow_and_a_second_import_changes_nothing(tmp_path, world, maker):
    plan = world["plan"]
    done = (TODAY - dt.timedelta(days=2)).isoformat()
    path = maker(tmp_path / f"m.{maker.__name__[:-5]}", [milestone(), milestone(title="Brief teams", done_on=done)])
    output = run(path, "--as", "admin.one")
    assert "Milestones: 2 added, 0 changed, 0 unchanged." in output
    plan.refresh_from_db()
    assert list(plan.milestones.values_list("title", "owner__username", "done_on", "position")) == [
        ("Recruit analysts", "hants.staff", None, 1),
        ("Brief teams", "hants.staff", TODAY - dt.timedelta(days=2), 2),
    ]
    assert plan.percent_complete == 50 and plan.version == 2  # derived from the milestones; one change
    entry = plan.updates.get()
    assert entry.kind == Update.Kind.MILESTONE and entry.author.username == "admin.one"
    assert "Milestones imported from" in entry.note and "“Brief teams”" in entry.note
    before = state()
    assert "Milestones: 0 added, 0 changed, 2 unchanged." in run(path, "--as", "admin.one")
    assert state() == before


def test_a_changed_row_updates_the_milestone_of_the_same_title(tmp_path, world):
    plan = world["plan"]
    MilestoneFactory(plan=plan, title="Recruit analysts", owner=world["staff"], position=1)
    later = (TODAY + dt.timedelta(days=90)).isoformat()
    output = run(csv_file(tmp_path / "m.csv", [milestone(target_date=later, note="Second round")]), "--as",
                 "admin.one")  # fmt: skip
    assert "Milestones: 0 added, 1 changed, 0 unchanged." in output
    assert plan.milestones.get().target_date.isoformat() == later
    assert "(target_date, note)" in plan.updates.get().note


def test_every_bad_row_is_listed_and_nothing_is_imported(tmp_path, world):
    other = ActionPlanFactory(finding=FindingFactory(inspection=world["plan"].finding.inspection, reference="R2"),
                              organisation=world["plan"].organisation, status=S.SUBMITTED)  # fmt: skip
    rows = [
        milestone(),  # good
        milestone(reference="R9"),  # unknown finding
        milestone(organisation="surrey"),  # addressed, but no plan opened and no publishing
        milestone(organisation="kent"),  # no such organisation
        milestone(title="Other owner", owner="surrey.staff"),  # owner of another organisation
        milestone(title="Nobody", owner="no.such.person"),
        milestone(title="Bad date", target_date="31/12/2026"),
        milestone(title="Too soon", done_on=(TODAY + dt.timedelta(days=1)).isoformat()),
        milestone(title=""),
        milestone(),  # repeats row 3's milestone
        milestone(reference="R2", title="Under review"),  # the plan is submitted
    ]
    before = state()
    with pytest.raises(CommandError) as refused:
        run(csv_file(tmp_path / "m.csv", rows), "--as", "admin.one")
    message = str(refused.value)
    # The findings' header is row 1 and the file has no finding rows: the marker is row 2, the milestones'
    # header row 3, so the milestones are rows 4 to 14.
    expected = [
        "row 5, reference (milestones): no finding 'R9' in inspection 'south-east-soc-2024'",
        "row 6, organisation (milestones): surrey has no action plan for R1",
        "row 6, owner (milestones): 'hants.staff' is not an active member of surrey",  # nor of that plan's
        "row 7, organisation (milestones): no organisation 'kent'",
        "row 7, owner (milestones): 'hants.staff' is not an active member of kent",
        "row 8, owner (milestones): 'surrey.staff' is not an active member of hampshire",
        "row 9, owner (milestones): no person with username 'no.such.person'",
        "row 10, target_date (milestones): '31/12/2026' is not a date (use YYYY-MM-DD)",
        "row 11, done_on (milestones): a milestone cannot be done on a day still to come",
        "row 12, title (milestones): required",
        "row 13, title (milestones): repeats row 4's milestone",
        "row 14, reference (milestones): the plan is submitted for sign-off",
    ]
    for line in expected:
        assert line in message, line
    assert "The file has 12 errors; nothing was imported." in message
    assert state() == before and not other.milestones.exists()


def test_milestones_of_plans_the_import_opens_need_it_to_publish(tmp_path, world):
    finding = {"inspection": "Revisit", "inspection_slug": "revisit-2026", "reference": "R1",
               "kind": "recommendation", "text": "Do better.", "addressed_to": "surrey"}  # fmt: skip
    row = milestone(inspection_slug="revisit-2026", organisation="surrey", owner="surrey.staff")
    path = csv_file(tmp_path / "m.csv", [row], [finding])
    with pytest.raises(CommandError, match="surrey has no action plan for R1"):
        run(path, "--as", "admin.one")
    output = run(path, "--as", "admin.one", "--publish")
    assert "Milestones: 1 added" in output
    opened = ActionPlan.objects.get(finding__inspection__slug="revisit-2026", organisation__slug="surrey")
    assert list(opened.milestones.values_list("title", flat=True)) == ["Recruit analysts"]


def test_the_command_needs_an_administrator_for_milestones(tmp_path, world):
    path = csv_file(tmp_path / "m.csv", [milestone()])
    with pytest.raises(CommandError, match="--as USERNAME"):
        run(path)
    with pytest.raises(CommandError, match="no active administrator"):
        run(path, "--as", "hants.staff")
    assert "Milestones that would be: 1 added" in run(path, "--dry-run")
    assert not Milestone.objects.exists()


def test_a_json_file_gives_findings_and_milestones(tmp_path, world):
    path = tmp_path / "m.json"
    path.write_text(json.dumps({"findings": [], "milestones": [milestone()]}))
    assert "Milestones: 1 added" in run(path, "--as", "admin.one")
    path.write_text(json.dumps({"findings": [], "milestones": [milestone(owner="nobody")]}))
    with pytest.raises(CommandError, match="row 2, owner \\(milestones\\): no person"):
        run(path, "--as", "admin.one")


def test_a_bad_milestones_header_is_refused(tmp_path, world):
    path = tmp_path / "m.csv"
    path.write_text(",".join(columns.COLUMNS) + "\n[milestones]\ninspection_slug,reference,colour\n")
    with pytest.raises(CommandError) as refused:
        run(path, "--as", "admin.one")
    assert "The milestones' header row (row 3) is not right." in str(refused.value)
    assert "row 3, colour (milestones): unknown column" in str(refused.value)
    assert "row 3, organisation (milestones): missing column" in str(refused.value)


def test_the_templates_offer_the_milestone_columns_and_still_import_cleanly(tmp_path):
    text = columns.template_csv().decode("utf-8-sig")
    assert f"{columns.MILESTONES_MARKER}\r\n{','.join(columns.MILESTONE_COLUMNS)}" in text
    workbook = load_workbook(io.BytesIO(columns.template_xlsx()))
    assert [c.value for c in workbook["Milestones"][1]] == list(columns.MILESTONE_COLUMNS)
    notes = [row[0] for row in workbook["Notes"].iter_rows(values_only=True)]
    assert "Milestones: owner" in notes
    OrganisationFactory(slug="hampshire")
    OrganisationFactory(slug="surrey")
    (tmp_path / "t.csv").write_bytes(columns.template_csv())
    assert "1 created" in run(tmp_path / "t.csv")


# --- the web import: preview and results ----------------------------------------------------------------


def test_the_preview_lists_bad_milestone_rows_and_the_results_count_them(client, tmp_path, world):
    from tests.tracker.import_web import confirm, upload

    client.force_login(world["admin"])
    bad = csv_file(tmp_path / "bad.csv", [milestone(), milestone(title="Nobody", owner="nobody")])
    preview = client.get(upload(client, "bad.csv", bad.read_bytes()))
    page = preview.content.decode()
    assert "no person with username &#x27;nobody&#x27;" in page
    assert "Milestones: 1 to add, 0 to change, 0 unchanged, 1 row with errors" in page
    good = csv_file(tmp_path / "good.csv", [milestone(), milestone(title="Brief teams")])
    url = upload(client, "good.csv", good.read_bytes())
    assert "Milestones: 2 to add, 0 to change, 0 unchanged" in client.get(url).content.decode()
    done = confirm(client, url)
    assert "Milestones: 2 added, 0 changed, 0 unchanged." in done.content.decode()
    assert world["plan"].milestones.count() == 2
    assert world["plan"].updates.get().author == world["admin"]


def test_checking_milestones_reads_a_fixed_number_of_queries(django_assert_max_num_queries, tmp_path, world):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries(count: int) -> int:
        rows = [milestone(title=f"Step {n}") for n in range(count)]
        data = csv_file(tmp_path / "m.csv", rows).read_bytes()
        with CaptureQueriesContext(connection) as captured:
            plan = services.plan_import(rows=services.read_rows(name="m.csv", data=data))
        assert plan.is_valid and len(plan.milestones) == count
        return len(captured)

    assert queries(1) == queries(40)
