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


def template_csv() -> bytes:
    """A CSV template: header and one example row, UTF-8 with a BOM so spreadsheet programs read it right."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    writer.writerow([EXAMPLE_ROW[column] for column in COLUMNS])
    return buffer.getvalue().encode("utf-8-sig")


def template_xlsx() -> bytes:
    """An XLSX template: findings on the first sheet (the one the import reads), column notes on a second."""
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

    notes = workbook.create_sheet("Notes")
    notes.append(["column", "meaning"])
    for cell in notes[1]:
        cell.font = Font(bold=True)
    for column in COLUMNS:
        notes.append([column, COLUMN_HELP[column]])
    notes.column_dimensions["A"].width = 20
    notes.column_dimensions["B"].width = 100

    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
