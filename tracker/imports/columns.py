"""The import file layout: column names, what each means, and the downloadable templates.

Only the standard library and openpyxl are imported here, so `devdata.import_bench` can build
sample files without setting Django up.
"""

from __future__ import annotations

import csv
import datetime as dt
import io

COLUMNS: tuple[str, ...] = (
    "inspection",
    "inspection_slug",
    "published_on",
    "reference",
    "kind",
    "text",
    "addressed_to",
    "themes",
    "due_by",
    "cause_of_concern",
)

# Every row needs these (and an inspection title or slug).
REQUIRED_COLUMNS: tuple[str, ...] = ("reference", "kind", "text")

COLUMN_HELP: dict[str, str] = {
    "inspection": "Inspection title. Needed when the inspection is new; a different title renames it.",
    "inspection_slug": "Identifies the inspection. Left blank, it is made from the title.",
    "published_on": "Date the report was published, YYYY-MM-DD (optional).",
    "reference": 'The finding\'s reference, unique within the inspection, e.g. "CoC1", "R3", "AFI2".',
    "kind": 'Cause of concern, recommendation or area for improvement ("CoC", "AFI" and the like work too).',
    "text": "The finding as the report words it.",
    "addressed_to": "Organisations that must respond: slugs or names separated by semicolons.",
    "themes": "Theme names separated by semicolons; themes not yet known are created.",
    "due_by": "Date the inspectorate set, YYYY-MM-DD (optional).",
    "cause_of_concern": "For a recommendation: the reference of the cause of concern it accompanies.",
}

EXAMPLE_ROW: dict[str, str] = {
    "inspection": "An inspection of the South East regional response to serious and organised crime",
    "inspection_slug": "south-east-soc-2024",
    "published_on": "2024-08-30",
    "reference": "R1",
    "kind": "recommendation",
    "text": "By 31 March 2025, forces in the region should update their serious and organised crime local profiles.",
    "addressed_to": "hampshire; surrey",
    "themes": "Local profiles; Intelligence",
    "due_by": "2025-03-31",
    "cause_of_concern": "",
}

DATE_COLUMNS = ("published_on", "due_by")

# The milestones of action plans: an XLSX file's sheet named MILESTONES_SHEET, the CSV rows after a line
# whose first cell is MILESTONES_MARKER (with their own header row), or a JSON file's "milestones" list
# (the findings then under "findings"). Each row is one milestone of one organisation's plan for a finding.
MILESTONES_SHEET = "Milestones"
MILESTONES_MARKER = "[milestones]"
MILESTONE_COLUMNS: tuple[str, ...] = (
    "inspection_slug",
    "reference",
    "organisation",
    "title",
    "owner",
    "target_date",
    "done_on",
    "note",
)
MILESTONE_REQUIRED: tuple[str, ...] = ("inspection_slug", "reference", "organisation", "title")
MILESTONE_HELP: dict[str, str] = {
    "inspection_slug": "The inspection of the finding (in this file or already imported).",
    "reference": "The finding's reference in that inspection.",
    "organisation": "The slug of the organisation whose action plan the milestone belongs to.",
    "title": "What is to be done; a plan's milestone of the same title is updated rather than added again.",
    "owner": "Username of an active member of that organisation (optional).",
    "target_date": "YYYY-MM-DD (optional).",
    "done_on": "The day it was done, YYYY-MM-DD, not later than today (blank: still open).",
    "note": "Optional.",
}


def template_csv() -> bytes:
    """A CSV template: header and one example row, UTF-8 with a BOM so spreadsheet programs read it right."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    writer.writerow([EXAMPLE_ROW[column] for column in COLUMNS])
    writer.writerow([])
    writer.writerow([MILESTONES_MARKER])
    writer.writerow(MILESTONE_COLUMNS)  # no example row: its plan exists only once the findings are published
    return buffer.getvalue().encode("utf-8-sig")


def template_xlsx() -> bytes:
    """An XLSX template: findings on the first sheet (the one the import reads), milestones on the sheet
    of that name, column notes on a third."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Findings"
    sheet.append(list(COLUMNS))
    example: list[object] = []
    for column in COLUMNS:
        value = EXAMPLE_ROW[column]
        example.append(dt.date.fromisoformat(value) if column in DATE_COLUMNS and value else value)
    sheet.append(example)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for cell in sheet[2]:
        if isinstance(cell.value, dt.date):
            cell.number_format = "yyyy-mm-dd"
    for index, column in enumerate(COLUMNS, start=1):
        sheet.column_dimensions[sheet.cell(row=1, column=index).column_letter].width = (
            60 if column in ("inspection", "text") else 20
        )
    sheet.freeze_panes = "A2"

    milestones = workbook.create_sheet(MILESTONES_SHEET)
    milestones.append(list(MILESTONE_COLUMNS))  # no example row: its plan exists once the findings are published
    for cell in milestones[1]:
        cell.font = Font(bold=True)
    milestones.column_dimensions["D"].width = 50
    milestones.freeze_panes = "A2"

    notes = workbook.create_sheet("Notes")
    notes.append(["column", "meaning"])
    for cell in notes[1]:
        cell.font = Font(bold=True)
    for column in COLUMNS:
        notes.append([column, COLUMN_HELP[column]])
    for column in MILESTONE_COLUMNS:
        notes.append([f"{MILESTONES_SHEET}: {column}", MILESTONE_HELP[column]])
    notes.column_dimensions["A"].width = 20
    notes.column_dimensions["B"].width = 100

    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
