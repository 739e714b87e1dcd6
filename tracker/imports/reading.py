"""Findings import, step 1: read a CSV, XLSX or JSON file into rows of text, one per finding.

Row numbers are those a spreadsheet user sees: the header is row 1 and the first finding is row 2.
Item 1 of a JSON list is row 2 as well, so messages read the same whatever the format. A cell's text
that no database can store is kept (escaped) with a problem noted on its row, so that checking the
rows (`planning`) lists it with every other error.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from django.conf import settings

from .columns import (
    COLUMNS,
    MILESTONE_COLUMNS,
    MILESTONE_REQUIRED,
    MILESTONES_MARKER,
    MILESTONES_SHEET,
    REQUIRED_COLUMNS,
)

FORMATS = ("csv", "xlsx", "json")
# Text no database here can store: a NUL character, or half of a surrogate pair (a JSON escape).
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
DEFAULT_MAX_ROWS = 25_000


@dataclass(frozen=True)
class RowError:
    """One problem with one cell, worded as `row N, column: message`."""

    row: int
    column: str
    message: str

    def __str__(self) -> str:
        return f"row {self.row}, {self.column}: {self.message}"


class ImportFileError(Exception):
    """The file cannot be read as findings at all: wrong format or encoding, or a bad header row."""

    def __init__(self, message: str, errors: Sequence[RowError] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.errors = list(errors)

    def __str__(self) -> str:
        return "\n".join([self.message, *(str(error) for error in self.errors)])


@dataclass(frozen=True)
class SourceRow:
    """One data row as read from the file: stripped text for each column the row gives."""

    number: int
    values: dict[str, str]
    problems: tuple[RowError, ...] = ()
    section: str = ""  # "" for a finding, MILESTONES for a milestone of a plan


MILESTONES = "milestones"


def in_section(column: str, section: str) -> str:
    """A column as messages name it: a milestone's columns say they are the milestones' ("owner (milestones)")."""
    return f"{column} ({section})" if section else column


def detect_format(name: str, data: bytes) -> str:
    """ "csv", "xlsx" or "json", from the file name, else from the first bytes."""
    suffix = PurePath(name).suffix.lower().lstrip(".")
    if suffix in FORMATS:
        return suffix
    if suffix == "xlsm":
        return "xlsx"
    if suffix in ("xls", "ods", "numbers"):
        raise ImportFileError(f"A .{suffix} file cannot be read: save it as .xlsx or as CSV (UTF-8).")
    if data.startswith(b"PK\x03\x04"):
        return "xlsx"
    if data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith((b"[", b"{")):
        return "json"
    return "csv"


def read_rows(*, name: str, data: bytes) -> list[SourceRow]:
    """Read a CSV (UTF-8, with or without BOM), XLSX (first sheet) or JSON (list of objects) file.

    Blank spreadsheet rows are skipped but still counted, so row numbers match what the user sees.
    Raises ImportFileError when the file cannot be read or its header row is wrong.
    """
    readers = {"csv": _read_csv, "xlsx": _read_xlsx, "json": _read_json}
    rows = readers[detect_format(name, data)](data)
    if len(rows) > max_rows():
        raise ImportFileError(_too_many_rows())
    if not rows:
        raise ImportFileError("The file has no findings: it needs a header row and at least one row below it.")
    return rows


def max_rows() -> int:
    """Findings one file may hold (IMPORT_MAX_ROWS): reading stops past it, so memory stays bounded."""
    return getattr(settings, "IMPORT_MAX_ROWS", DEFAULT_MAX_ROWS)


def _too_many_rows() -> str:
    return f"The file has more than {max_rows():,} findings: split it into files of {max_rows():,} or fewer."


def _shown(text: str) -> str:
    """Text from the file made safe to print in a message: NUL and lone surrogates as escapes."""
    return UNSTORABLE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def _text_problem(text: str) -> str | None:
    """Why a cell's text cannot be stored, if it cannot: PostgreSQL keeps no NUL character in text,
    and a lone surrogate (from a JSON escape such as \\ud800) is no character at all."""
    if "\x00" in text:
        return "contains a NUL character (byte 0), which cannot be stored: remove it"
    if UNSTORABLE.search(text):
        return "contains a lone surrogate escape (such as \\ud800), which is not a character: remove it"
    return None


def _normalise_column(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


def _cell_text(value: Any) -> str:
    """A cell's value as stripped text; spreadsheet dates become YYYY-MM-DD."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _header(cells: Sequence[Any], section: str = "", line: int = 1) -> list[str | None]:
    """Column name for each position (None for a blank heading); raises on unknown, repeated or missing ones."""
    known, required = (MILESTONE_COLUMNS, MILESTONE_REQUIRED) if section else (COLUMNS, REQUIRED_COLUMNS)
    columns: list[str | None] = []
    errors: list[RowError] = []
    for position, cell in enumerate(cells, start=1):
        raw = _cell_text(cell)
        name = _normalise_column(raw) if raw else None
        if name is not None and name not in known:
            errors.append(RowError(line, in_section(_shown(raw), section),
                                   f"unknown column (expected {', '.join(known)})"))  # fmt: skip
        elif name is not None and name in columns:
            repeated = f"column {position} repeats the column name"
            errors.append(RowError(line, in_section(_shown(raw), section), repeated))
        columns.append(name)
    errors.extend(RowError(line, in_section(column, section), "missing column")
                  for column in required if column not in columns)  # fmt: skip
    if not section and "inspection" not in columns and "inspection_slug" not in columns:
        errors.append(RowError(1, "inspection", "missing column (give inspection, inspection_slug or both)"))
    if errors:
        where = f"The milestones' header row (row {line})" if section else "The header row (row 1)"
        raise ImportFileError(f"{where} is not right.", errors)
    return columns


def _table_rows(
    header: Sequence[Any], body: Iterable[Sequence[Any]], section: str = "", line: int = 1, before: int = 0
) -> list[SourceRow]:
    """The rows below a header row at `line`; `before` rows already read count towards the limit."""
    columns = _header(header, section, line)
    rows = []
    for number, cells in enumerate(body, start=line + 1):
        texts = [_cell_text(cell) for cell in cells]
        if not any(texts):
            continue
        values = {column: "" for column in columns if column}
        problems = []
        for position, text in enumerate(texts):
            column = columns[position] if position < len(columns) else None
            if column:
                problem = _text_problem(text)
                if problem:
                    problems.append(RowError(number, in_section(column, section), problem))
                    text = _shown(text)
                values[column] = text
            elif text:
                problems.append(RowError(number, in_section(f"column {position + 1}", section),
                                         f"has a value but no column name in row {line}"))  # fmt: skip
        rows.append(SourceRow(number, values, tuple(problems), section))
        if before + len(rows) > max_rows():  # stop reading: a streamed workbook's further rows are never loaded
            raise ImportFileError(_too_many_rows())
    return rows


def _read_csv(data: bytes) -> list[SourceRow]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ImportFileError(
            f"The file is not UTF-8 text (byte {error.start + 1}): save it as CSV UTF-8 and try again."
        ) from error
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if header is None:
            raise ImportFileError("The file is empty.")
        findings: list[list[str]] = []
        for cells in reader:
            if _is_marker(cells):
                rows = _table_rows(header, findings)
                return rows + _csv_milestones(reader, line=len(findings) + 3, before=len(rows))
            findings.append(cells)
        return _table_rows(header, findings)
    except csv.Error as error:
        raise ImportFileError(f"The CSV file cannot be read: {error}.") from error


def _is_marker(cells: Sequence[str]) -> bool:
    """The line that starts a CSV file's milestones: its first cell `[milestones]`, the others empty."""
    return bool(cells) and cells[0].strip().lower() == MILESTONES_MARKER and not any(c.strip() for c in cells[1:])


def _csv_milestones(reader: Iterable[list[str]], *, line: int, before: int) -> list[SourceRow]:
    """The milestones after the marker: a header row (at `line` of the file), then one row each."""
    lines = iter(reader)
    header = next(lines, None)
    if header is None:
        raise ImportFileError(f"The milestones section has no header row (row {line}).")
    return _table_rows(header, lines, MILESTONES, line, before)


def _read_xlsx(data: bytes) -> list[SourceRow]:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises many kinds of error for a damaged or foreign file
        raise ImportFileError("The file is not an XLSX workbook that can be read.") from error
    try:
        if not workbook.worksheets:
            raise ImportFileError("The workbook has no sheets.")
        lines = workbook.worksheets[0].iter_rows(values_only=True)
        header = next(lines, None)
        if header is None:
            raise ImportFileError("The first sheet of the workbook is empty.")
        rows = _table_rows(header, lines)
        sheet = next(
            (ws for ws in workbook.worksheets[1:] if ws.title.strip().lower() == MILESTONES_SHEET.lower()), None
        )
        if sheet is not None:
            lines = sheet.iter_rows(values_only=True)
            header = next(lines, None)
            if header is not None:
                rows += _table_rows(header, lines, MILESTONES, 1, len(rows))
        return rows
    finally:
        workbook.close()


def _read_json(data: bytes) -> list[SourceRow]:
    try:
        # Whole numbers stay text: a finding has no number in it, and Python refuses to turn more
        # than 4,300 digits into an int (the value is then checked like any other text).
        payload = json.loads(data.decode("utf-8-sig"), parse_int=str)
    except UnicodeDecodeError as error:
        raise ImportFileError("The file is not UTF-8 text.") from error
    except json.JSONDecodeError as error:
        raise ImportFileError(
            f"The file is not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}."
        ) from error
    except RecursionError as error:
        raise ImportFileError(
            "The JSON file is nested too deeply to read: it must be a list of objects, one object per finding."
        ) from error
    milestones: Any = []
    if isinstance(payload, dict) and set(payload) <= {"findings", MILESTONES} and "findings" in payload:
        payload, milestones = payload["findings"], payload.get(MILESTONES) or []
    if not isinstance(payload, list) or not isinstance(milestones, list):
        raise ImportFileError(
            "The JSON file must hold a list of objects, one object per finding (or an object with that list as "
            '"findings" and its milestones as "milestones").'
        )
    if len(payload) + len(milestones) > max_rows():
        raise ImportFileError(_too_many_rows())
    return _json_rows(payload, "") + _json_rows(milestones, MILESTONES)


def _json_rows(payload: list[Any], section: str) -> list[SourceRow]:
    known = MILESTONE_COLUMNS if section else COLUMNS
    rows = []
    for number, item in enumerate(payload, start=2):
        if not isinstance(item, dict):
            problem = RowError(number, in_section("item", section), "expected an object of column: value")
            rows.append(SourceRow(number, {}, (problem,), section))
            continue
        values: dict[str, str] = {}
        problems = []
        for key, value in item.items():
            column = _normalise_column(str(key))
            if column not in known:
                problems.append(RowError(number, in_section(_shown(str(key)), section),
                                         f"unknown column (expected {', '.join(known)})"))  # fmt: skip
                continue
            if isinstance(value, list) and all(isinstance(part, str) for part in value):
                text = ";".join(value)
            elif isinstance(value, (list, dict)):
                expected = "expected text, a number or a list of text"
                problems.append(RowError(number, in_section(column, section), expected))
                continue
            else:
                text = _cell_text(value)
            problem = _text_problem(text)
            if problem:
                problems.append(RowError(number, in_section(column, section), problem))
                text = _shown(text)
            values[column] = text
        rows.append(SourceRow(number, values, tuple(problems), section))
    return rows
