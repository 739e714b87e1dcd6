"""manage.py import_findings and the service behind it (tracker.imports.services)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from openpyxl import Workbook

from devdata import import_bench as bench
from inspections.models import Finding, Inspection, Organisation, Theme
from tests.factories import ActionPlanFactory, FindingFactory, InspectionFactory, OrganisationFactory
from tracker.imports import columns, services
from tracker.models import ActionPlan

pytestmark = pytest.mark.django_db

SLUG = "south-east-soc-2024"
TITLE = "South East regional response to serious and organised crime"


def finding_row(**values: str) -> dict[str, str]:
    row = {
        "inspection": TITLE,
        "inspection_slug": SLUG,
        "published_on": "2024-08-30",
        "reference": "R1",
        "kind": "recommendation",
        "text": "Forces should update their serious and organised crime local profiles.",
        "addressed_to": "surrey",
        "themes": "Local profiles",
        "due_by": "2025-03-31",
        "cause_of_concern": "",
    }
    row.update(values)
    return row


def good_rows() -> list[dict[str, str]]:
    return [
        finding_row(reference="CoC1", kind="cause_of_concern", text="Local profiles are out of date.", due_by=""),
        finding_row(reference="R1", cause_of_concern="CoC1"),
        finding_row(reference="R3", text="Forces should have enough analysts.", addressed_to="surrey; hampshire"),
        finding_row(reference="AFI1", kind="area_for_improvement", text="Share SOC information.", themes=""),
    ]


def write_csv(path: Path, rows: list[dict[str, str]], *, bom: bool = False, fieldnames=columns.COLUMNS) -> Path:
    with path.open("w", encoding="utf-8-sig" if bom else "utf-8", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=fieldnames)
        writer.writeheader()
        writer.writerows(rows)
    return path


def run(path: Path, *args: str) -> str:
    out = io.StringIO()
    call_command("import_findings", str(path), *args, stdout=out)
    return out.getvalue()


def counts() -> dict[str, int]:
    return {
        "inspections": Inspection.objects.count(),
        "findings": Finding.objects.count(),
        "organisations": Organisation.objects.count(),
        "themes": Theme.objects.count(),
        "addressees": Finding.addressed_to.through.objects.count(),
        "finding themes": Finding.themes.through.objects.count(),
        "plans": ActionPlan.objects.count(),
        "history": Finding.history.count(),
        "inspection history": Inspection.history.count(),
    }


def rejected(path: Path, *args: str) -> str:
    before = counts()
    with pytest.raises(CommandError) as error:
        run(path, *args)
    assert counts() == before, "a rejected file must leave the database exactly as it was"
    return str(error.value)


# --- reading the three formats ---------------------------------------------------------------


def test_it_imports_a_csv_file_with_a_byte_order_mark(tmp_path, org, other_org):
    out = run(write_csv(tmp_path / "findings.csv", good_rows(), bom=True))

    assert "Findings: 4 created, 0 updated, 0 unchanged." in out
    inspection = Inspection.objects.get(slug=SLUG)
    assert inspection.title == TITLE
    assert inspection.published_on == dt.date(2024, 8, 30)
    coc, r1, r3, afi = (inspection.findings.get(reference=ref) for ref in ("CoC1", "R1", "R3", "AFI1"))
    assert coc.kind == Finding.Kind.CAUSE_OF_CONCERN and coc.due_by is None
    assert r1.kind == Finding.Kind.RECOMMENDATION
    assert r1.cause_of_concern == coc
    assert r1.due_by == dt.date(2025, 3, 31)
    assert set(r3.addressed_to.values_list("slug", flat=True)) == {"surrey", "hampshire"}
    assert afi.kind == Finding.Kind.AREA_FOR_IMPROVEMENT
    assert list(afi.themes.all()) == []
    theme = Theme.objects.get()
    assert (theme.name, theme.slug) == ("Local profiles", "local-profiles")
    assert set(r1.themes.all()) == {theme}


def test_it_imports_a_csv_file_without_a_byte_order_mark(tmp_path, org, other_org):
    run(write_csv(tmp_path / "findings.csv", good_rows(), bom=False))
    assert Finding.objects.count() == 4


def test_it_imports_the_first_sheet_of_an_xlsx_workbook_with_date_cells(tmp_path, org, other_org):
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(list(columns.COLUMNS))
    for row in good_rows():
        values: list[object] = [row[column] for column in columns.COLUMNS]
        values[columns.COLUMNS.index("published_on")] = dt.datetime(2024, 8, 30)  # how Excel stores dates
        sheet.append(values)
    sheet.append([None] * len(columns.COLUMNS))  # a blank row is skipped
    other = workbook.create_sheet("Ignored")
    other.append(["not", "read"])
    workbook.save(tmp_path / "findings.xlsx")

    out = run(tmp_path / "findings.xlsx")

    assert "4 created" in out
    assert Inspection.objects.get(slug=SLUG).published_on == dt.date(2024, 8, 30)
    assert Finding.objects.get(reference="R1").cause_of_concern.reference == "CoC1"


def test_it_imports_a_json_list_of_objects(tmp_path, org, other_org):
    items = good_rows()
    items[2]["addressed_to"] = ["surrey", "Hampshire and Isle of Wight Constabulary"]  # a list works too
    (tmp_path / "findings.json").write_text(json.dumps(items), encoding="utf-8")

    out = run(tmp_path / "findings.json")

    assert "4 created" in out
    r3 = Finding.objects.get(reference="R3")
    assert set(r3.addressed_to.values_list("slug", flat=True)) == {"surrey", "hampshire"}


def test_json_items_are_numbered_from_row_2_like_a_spreadsheet(tmp_path, org):
    items = [finding_row(reference="R1"), finding_row(reference="R2", text="")]
    (tmp_path / "findings.json").write_text(json.dumps(items), encoding="utf-8")

    message = rejected(tmp_path / "findings.json")

    assert "row 3, text: missing" in message


def test_a_key_left_out_of_a_json_item_keeps_the_existing_value(tmp_path, org):
    run(write_csv(tmp_path / "findings.csv", [finding_row(reference="R1")]))
    item = {key: value for key, value in finding_row(reference="R1").items() if key not in ("themes", "due_by")}
    (tmp_path / "findings.json").write_text(json.dumps([item]), encoding="utf-8")

    out = run(tmp_path / "findings.json")

    assert "0 created, 0 updated, 1 unchanged" in out
    finding = Finding.objects.get(reference="R1")
    assert finding.due_by == dt.date(2025, 3, 31)
    assert finding.themes.count() == 1


def test_kinds_and_addressees_are_matched_whatever_the_case_and_spacing(tmp_path, org, other_org):
    rows = [
        finding_row(reference="CoC1", kind="  Cause  of concern ", addressed_to="SURREY"),
        finding_row(reference="CoC2", kind="CoC", addressed_to="  surrey   police "),
        finding_row(reference="R1", kind="Recommendation", addressed_to="Hampshire; surrey ;"),
        finding_row(reference="AFI1", kind="AFI", addressed_to="hampshire and isle of wight constabulary"),
        finding_row(reference="AFI2", kind="Area_for_Improvement", addressed_to=""),
    ]
    run(write_csv(tmp_path / "findings.csv", rows))

    kinds = dict(Finding.objects.values_list("reference", "kind"))
    assert kinds == {
        "CoC1": "cause_of_concern",
        "CoC2": "cause_of_concern",
        "R1": "recommendation",
        "AFI1": "area_for_improvement",
        "AFI2": "area_for_improvement",
    }
    assert Finding.objects.get(reference="R1").addressed_to.count() == 2
    assert list(Finding.objects.get(reference="AFI1").addressed_to.values_list("slug", flat=True)) == ["hampshire"]


def test_one_file_may_hold_several_inspections(tmp_path, org):
    rows = [
        finding_row(reference="R1"),
        finding_row(inspection="Second inspection", inspection_slug="", reference="R1", published_on=""),
    ]
    out = run(write_csv(tmp_path / "findings.csv", rows))

    assert "Inspection south-east-soc-2024: created." in out
    assert "Inspection second-inspection: created." in out
    assert Inspection.objects.get(slug="second-inspection").findings.count() == 1


def test_a_recommendation_may_accompany_a_cause_of_concern_already_in_the_database(tmp_path, org):
    inspection = InspectionFactory(slug=SLUG, title=TITLE, published_on=dt.date(2024, 8, 30))
    coc = FindingFactory(inspection=inspection, reference="CoC1", kind=Finding.Kind.CAUSE_OF_CONCERN)

    run(write_csv(tmp_path / "findings.csv", [finding_row(reference="R9", cause_of_concern="CoC1")]))

    assert Finding.objects.get(reference="R9").cause_of_concern == coc


# --- all or nothing --------------------------------------------------------------------------

BAD_ROWS = {
    "missing text": ({"text": ""}, "row 3, text: missing"),
    "missing reference": ({"reference": ""}, "row 3, reference: missing"),
    "unknown kind": ({"kind": "suggestion"}, "row 3, kind: unknown kind 'suggestion'"),
    "missing kind": ({"kind": ""}, "row 3, kind: missing"),
    "unknown organisation": (
        {"addressed_to": "surrey; Nowhere Police"},
        "row 3, addressed_to: unknown organisation 'Nowhere Police'",
    ),
    "bad due date": ({"due_by": "31/03/2025"}, "row 3, due_by: '31/03/2025' is not a date in the form YYYY-MM-DD"),
    "impossible date": ({"due_by": "2025-02-30"}, "row 3, due_by: '2025-02-30' is not a date"),
    "bad published date": ({"published_on": "August 2024"}, "row 3, published_on: 'August 2024' is not a date"),
    "duplicate reference": (
        {"reference": "CoC1", "cause_of_concern": ""},
        "row 3, reference: 'CoC1' appears again for inspection 'south-east-soc-2024' (first on row 2)",
    ),
    "unknown cause of concern": ({"cause_of_concern": "CoC9"}, "row 3, cause_of_concern: no finding 'CoC9'"),
    "cause of concern that is not one": (
        {"cause_of_concern": "R3"},
        "row 3, cause_of_concern: 'R3' is a recommendation, not a cause of concern",
    ),
    "missing inspection": ({"inspection": "", "inspection_slug": ""}, "row 3, inspection: missing"),
    "bad inspection slug": ({"inspection_slug": "south east"}, "row 3, inspection_slug: 'south east' is not a slug"),
    "conflicting title": ({"inspection": "Another title"}, "row 3, inspection: differs from"),
}


@pytest.mark.parametrize("case", BAD_ROWS, ids=list(BAD_ROWS))
def test_one_bad_row_rejects_the_whole_file(tmp_path, org, other_org, case):
    change, expected = BAD_ROWS[case]
    rows = good_rows()
    rows[1].update(change)  # row 3 as a spreadsheet numbers it

    message = rejected(write_csv(tmp_path / "findings.csv", rows))

    assert expected in message
    assert "The file has 1 error; nothing was imported." in message
    assert not Inspection.objects.exists()
    assert not Theme.objects.exists()


def test_every_error_in_the_file_is_listed(tmp_path, org, other_org):
    rows = good_rows() + [
        finding_row(reference="R4", text=""),
        finding_row(reference="R5", kind="nonsense", due_by="soon"),
        finding_row(reference="R1"),
        finding_row(reference="R6", addressed_to="Atlantis", cause_of_concern="R3"),
        finding_row(reference="", inspection="", inspection_slug=""),
    ]

    message = rejected(write_csv(tmp_path / "findings.csv", rows))

    expected = [
        "row 6, text: missing",
        "row 7, due_by: 'soon' is not a date in the form YYYY-MM-DD",
        "row 7, kind: unknown kind 'nonsense'",
        "row 8, reference: 'R1' appears again",
        "row 9, addressed_to: unknown organisation 'Atlantis'",
        "row 9, cause_of_concern: 'R3' is a recommendation",
        "row 10, inspection: missing",
        "row 10, reference: missing",
    ]
    for text in expected:
        assert text in message
    assert "The file has 8 errors; nothing was imported." in message


def test_a_bad_row_after_good_ones_writes_nothing_even_for_existing_inspections(tmp_path, org, other_org):
    run(write_csv(tmp_path / "first.csv", good_rows()))
    rows = good_rows()
    rows[0]["text"] = "A corrected text that must not be saved."
    rows.append(finding_row(reference="R8", addressed_to="Unknown Force", themes="Brand new theme"))

    rejected(write_csv(tmp_path / "second.csv", rows), "--publish")

    assert Finding.objects.get(reference="CoC1").text == "Local profiles are out of date."
    assert not Theme.objects.filter(name="Brand new theme").exists()


def test_an_unreadable_file_is_refused(tmp_path):
    (tmp_path / "latin1.csv").write_bytes("reference,kind,text,inspection\nR1,AFI,Caf\xe9,X\n".encode("latin-1"))
    assert "not UTF-8" in rejected(tmp_path / "latin1.csv")
    (tmp_path / "broken.json").write_text("[{", encoding="utf-8")
    assert "not valid JSON" in rejected(tmp_path / "broken.json")
    (tmp_path / "object.json").write_text('{"reference": "R1"}', encoding="utf-8")
    assert "list of objects" in rejected(tmp_path / "object.json")
    (tmp_path / "fake.xlsx").write_bytes(b"not a workbook")
    assert "not an XLSX workbook" in rejected(tmp_path / "fake.xlsx")
    (tmp_path / "empty.csv").write_text("", encoding="utf-8")
    assert "empty" in rejected(tmp_path / "empty.csv")
    assert "Cannot read" in rejected(tmp_path / "missing.csv")


def test_an_unknown_or_missing_column_is_reported_on_row_1(tmp_path, org):
    path = tmp_path / "findings.csv"
    path.write_text("inspection_slug,reference,kind,addresed_to\nx,R1,AFI,surrey\n", encoding="utf-8")

    message = rejected(path)

    assert "row 1, addresed_to: unknown column" in message
    assert "row 1, text: missing column" in message


# --- re-importing ----------------------------------------------------------------------------


def test_importing_the_same_file_again_changes_nothing(tmp_path, org, other_org):
    path = write_csv(tmp_path / "findings.csv", good_rows())
    run(path, "--publish")
    before = counts()

    out = run(path, "--publish")

    assert "Findings: 0 created, 0 updated, 4 unchanged." in out
    assert "Inspection south-east-soc-2024: unchanged." in out
    assert "Action plans opened: 0." in out
    assert counts() == before


def test_a_corrected_file_updates_the_changed_findings_and_says_what_changed(tmp_path, org, other_org):
    run(write_csv(tmp_path / "findings.csv", good_rows()))
    rows = good_rows()
    rows[2].update(text="Forces should have enough intelligence analysts.", due_by="2025-06-30")
    rows[3].update(addressed_to="hampshire", themes="Intelligence")
    rows[1].update(kind="AFI", cause_of_concern="")
    for row in rows:
        row["inspection"] = "A corrected title"

    out = run(write_csv(tmp_path / "corrected.csv", rows))

    assert "R3: text, due_by changed" in out
    assert "AFI1: addressed_to, themes changed" in out
    assert "R1: kind, cause_of_concern changed" in out
    assert "Inspection south-east-soc-2024: updated (title changed)." in out
    assert "Findings: 0 created, 3 updated, 1 unchanged." in out
    r3 = Finding.objects.get(reference="R3")
    assert r3.text == "Forces should have enough intelligence analysts."
    assert r3.due_by == dt.date(2025, 6, 30)
    r1 = Finding.objects.get(reference="R1")
    assert (r1.kind, r1.cause_of_concern) == (Finding.Kind.AREA_FOR_IMPROVEMENT, None)
    afi = Finding.objects.get(reference="AFI1")
    assert list(afi.addressed_to.values_list("slug", flat=True)) == ["hampshire"]
    assert list(afi.themes.values_list("slug", flat=True)) == ["intelligence"]
    assert Inspection.objects.get().title == "A corrected title"
    # The change history records the update, with the addressees as they now are.
    record = r3.history.first()
    assert record.history_type == "~"
    assert record.history_change_reason == "Imported from corrected.csv"
    assert record.text == r3.text
    latest = afi.history.first()
    assert list(latest.addressed_to.values_list("organisation__slug", flat=True)) == ["hampshire"]


def test_the_import_records_history_for_created_findings(tmp_path, org, other_org):
    run(write_csv(tmp_path / "findings.csv", good_rows()))

    r3 = Finding.objects.get(reference="R3")
    record = r3.history.get()
    assert record.history_type == "+"
    assert set(record.addressed_to.values_list("organisation__slug", flat=True)) == {"surrey", "hampshire"}
    assert Inspection.objects.get().history.get().history_type == "+"
    # Every field of the finding as written, and one record each: the history is written in bulk.
    for field in Finding._meta.concrete_fields:
        assert getattr(record, field.attname) == getattr(r3, field.attname), field.name
    assert record.history_change_reason == "Imported from findings.csv"
    assert Finding.history.count() == Finding.objects.count()
    assert sorted(Finding.history.values_list("id", flat=True)) == sorted(Finding.objects.values_list("id", flat=True))


def test_removing_an_addressee_with_an_open_plan_is_reported(tmp_path, org, other_org):
    run(write_csv(tmp_path / "findings.csv", good_rows()), "--publish")
    rows = good_rows()
    rows[2]["addressed_to"] = "surrey"

    out = run(write_csv(tmp_path / "corrected.csv", rows))

    assert "R3: addressed_to changed" in out
    assert "Warning: row 4: R3 is no longer addressed to hampshire" in out
    assert ActionPlan.objects.filter(finding__reference="R3", organisation=other_org).exists()


# --- options ---------------------------------------------------------------------------------


def test_dry_run_reports_and_writes_nothing(tmp_path, org, other_org):
    run(write_csv(tmp_path / "findings.csv", good_rows()[:2]))
    before = counts()
    rows = good_rows()
    rows[1]["text"] = "Changed text."

    out = run(write_csv(tmp_path / "changed.csv", rows), "--dry-run", "--publish")

    assert counts() == before
    assert "Dry run: nothing was written." in out
    assert "would create: R3, AFI1" in out
    assert "R1: text changed" in out
    assert "Findings that would be: 2 created, 1 updated, 1 unchanged." in out
    assert "Action plans that would be opened: 5." in out


def test_dry_run_still_rejects_bad_files(tmp_path, org):
    assert "row 2, text: missing" in rejected(write_csv(tmp_path / "f.csv", [finding_row(text="")]), "--dry-run")


def test_publish_opens_plans_for_every_addressee(tmp_path, org, other_org):
    out = run(write_csv(tmp_path / "findings.csv", good_rows()), "--publish")

    assert "Action plans opened: 5." in out
    plans = ActionPlan.objects.all()
    assert {(plan.finding.reference, plan.organisation.slug) for plan in plans} == {
        ("CoC1", "surrey"),
        ("R1", "surrey"),
        ("R3", "surrey"),
        ("R3", "hampshire"),
        ("AFI1", "surrey"),
    }
    assert ActionPlan.objects.get(finding__reference="R1").target_date == dt.date(2025, 3, 31)


def test_without_publish_no_plans_are_opened_and_the_report_says_so(tmp_path, org, other_org):
    out = run(write_csv(tmp_path / "findings.csv", good_rows()))

    assert not ActionPlan.objects.exists()
    assert "5 action plans are not open yet" in out


def test_publishing_a_later_import_opens_only_the_missing_plans(tmp_path, org, other_org):
    inspection = InspectionFactory(slug=SLUG, title=TITLE, published_on=dt.date(2024, 8, 30))
    finding = FindingFactory(inspection=inspection, reference="R1")
    finding.addressed_to.add(org)
    ActionPlanFactory(finding=finding, organisation=org)

    out = run(
        write_csv(tmp_path / "findings.csv", [finding_row(reference="R1", addressed_to="surrey; hampshire")]),
        "--publish",
    )

    assert "Action plans opened: 1." in out
    assert ActionPlan.objects.filter(finding=finding).count() == 2


def test_create_organisations_creates_unknown_addressees(tmp_path, org):
    rows = [
        finding_row(addressed_to="surrey; Thames Valley Police"),
        finding_row(reference="R2", addressed_to="thames valley police"),
    ]

    out = run(write_csv(tmp_path / "findings.csv", rows), "--create-organisations")

    created = Organisation.objects.get(slug="thames-valley-police")
    assert (created.name, created.kind) == ("Thames Valley Police", Organisation.Kind.OTHER)
    assert "Organisations created: Thames Valley Police." in out
    assert Finding.objects.get(reference="R2").addressed_to.get() == created


def test_unknown_addressees_are_errors_without_create_organisations(tmp_path, org):
    message = rejected(write_csv(tmp_path / "findings.csv", [finding_row(addressed_to="Thames Valley Police")]))
    assert "row 2, addressed_to: unknown organisation 'Thames Valley Police'" in message


def test_an_existing_inspection_gets_its_new_publication_date(tmp_path, org):
    InspectionFactory(slug=SLUG, title=TITLE, published_on=dt.date(2024, 1, 1))

    out = run(write_csv(tmp_path / "findings.csv", [finding_row(inspection="")]))

    assert "Inspection south-east-soc-2024: updated (published_on changed)." in out
    inspection = Inspection.objects.get()
    assert (inspection.title, inspection.published_on) == (TITLE, dt.date(2024, 8, 30))


# --- progress and speed ----------------------------------------------------------------------


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_progress_bar_is_drawn_only_on_a_terminal(tmp_path):
    path = tmp_path / "large.csv"
    with path.open("w", encoding="utf-8", newline="") as file:
        bench.write_csv(file, 1000, inspections=2)

    terminal = Terminal()
    call_command("import_findings", str(path), "--create-organisations", "--dry-run", stdout=terminal)
    assert "\rChecking  [" in terminal.getvalue()
    assert "1000/1000" in terminal.getvalue()

    plain = io.StringIO()
    call_command("import_findings", str(path), "--create-organisations", "--dry-run", stdout=plain)
    assert "\r" not in plain.getvalue()


def test_checking_a_file_takes_the_same_number_of_queries_whatever_its_size(
    tmp_path, org, other_org, django_assert_num_queries
):
    def plan(count: int) -> services.ImportPlan:
        rows = [finding_row(reference=f"R{number}") for number in range(count)]
        data = write_csv(tmp_path / "f.csv", rows).read_bytes()
        return services.plan_import(rows=services.read_rows(name="f.csv", data=data))

    InspectionFactory(slug=SLUG, title=TITLE)
    with django_assert_num_queries(7):  # inspections, findings, addressees, themes, plans, organisations, themes
        plan(3)
    with django_assert_num_queries(7):
        plan(300)


def test_ten_thousand_findings_import_whole_and_reimport_unchanged(tmp_path):
    """The file `make bench-import` times (docs/IMPORT.md); here only what it produces is checked."""
    path = tmp_path / "large.csv"
    with path.open("w", encoding="utf-8", newline="") as file:
        bench.write_csv(file, 10_000)

    out = run(path, "--create-organisations", "--publish")

    assert "Findings: 10000 created, 0 updated, 0 unchanged." in out
    assert Finding.objects.count() == 10_000
    assert Finding.objects.filter(cause_of_concern__isnull=False).count() == 6_000
    assert "0 created, 0 updated, 10000 unchanged" in run(path)


def test_the_templates_import_cleanly(tmp_path, org, other_org):
    (tmp_path / "template.csv").write_bytes(columns.template_csv())
    (tmp_path / "template.xlsx").write_bytes(columns.template_xlsx())

    assert "1 created" in run(tmp_path / "template.csv")
    assert "0 created, 0 updated, 1 unchanged" in run(tmp_path / "template.xlsx")


def test_a_short_name_two_organisations_share_matches_neither(tmp_path):
    # Short names that two organisations share are ambiguous, so they are not used to match.
    OrganisationFactory(name="Alpha Police", short_name="Police", slug="alpha")
    OrganisationFactory(name="Beta Police", short_name="Police", slug="beta")
    message = rejected(write_csv(tmp_path / "f.csv", [finding_row(addressed_to="police")]))
    assert "unknown organisation 'police'" in message
