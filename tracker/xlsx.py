"""A streamed XLSX workbook: the first bytes leave before the last row is read.

openpyxl (used for reading imports) builds the whole workbook in a temporary file before anything
can be sent, which at 100,000 rows takes longer than a proxy or gunicorn waits. An XLSX file is a ZIP
of a few small XML parts (ECMA-376 Part 1, SpreadsheetML); here the sheet part is written row by row
into a ZIP stream (`zipfile` writes data descriptors when its output cannot seek), and each chunk is
yielded as soon as it is compressed.

Cells: text as inline strings (never formulas), numbers as numbers, dates and datetimes as date
serials with a date format, so spreadsheets sort and filter them as dates.
"""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape, quoteattr

CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# Characters XML 1.0 cannot carry (control characters pasted from other systems are dropped).
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# Day 0 of the 1900 date system as spreadsheets count it (serial 1 = 1 January 1900, with Lotus's leap day).
_EPOCH = dt.datetime(1899, 12, 30)

# Style indexes into cellXfs below.
_BOLD, _DATE, _DATETIME = 1, 2, 3

_NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'


def _content_types(sheets: int) -> str:
    return (
        _HEAD + '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        + "".join(
            f'<Override PartName="/xl/worksheets/sheet{n}.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
            for n in range(1, sheets + 1)
        )
        + '<Override PartName="/xl/styles.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
        "</Types>"
    )


CONTENT_TYPES = _content_types(1)
ROOT_RELS = (
    _HEAD + f'<Relationships xmlns="{_PKG_REL_NS}">'
    f'<Relationship Id="rId1" Type="{_REL_NS}/officeDocument" Target="xl/workbook.xml"/>'
    "</Relationships>"
)


def _workbook_rels(sheets: int) -> str:
    # The styles take the first id, the sheets the ones after it (rId2 for sheet 1, ...).
    return (
        _HEAD + f'<Relationships xmlns="{_PKG_REL_NS}">'
        f'<Relationship Id="rId1" Type="{_REL_NS}/styles" Target="styles.xml"/>'
        + "".join(
            f'<Relationship Id="rId{n + 1}" Type="{_REL_NS}/worksheet" Target="worksheets/sheet{n}.xml"/>'
            for n in range(1, sheets + 1)
        )
        + "</Relationships>"
    )


STYLES = (
    _HEAD + f"<styleSheet {_NS}>"
    '<numFmts count="2"><numFmt numFmtId="164" formatCode="yyyy-mm-dd"/>'
    '<numFmt numFmtId="165" formatCode="yyyy-mm-dd hh:mm"/></numFmts>'
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="4"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)


def _workbook(sheet_names: Sequence[str]) -> str:
    sheets = "".join(
        f'<sheet name={quoteattr(name[:31])} sheetId="{n}" r:id="rId{n + 1}"/>'
        for n, name in enumerate(sheet_names, start=1)
    )
    return _HEAD + f'<workbook {_NS} xmlns:r="{_REL_NS}"><sheets>{sheets}</sheets></workbook>'


@dataclass(frozen=True)
class Sheet:
    """One sheet of a streamed workbook: its rows are read only when the sheet is written."""

    name: str
    header: Sequence[str]
    rows: Iterable[Sequence[Any]]
    widths: Sequence[int] = ()


def column_letter(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA."""
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


def clean_text(value: str) -> str:
    return _ILLEGAL.sub("", value)


def _cell(ref: str, value: Any, style: int = 0) -> str:
    s = f' s="{style}"' if style else ""
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        return f'<c r="{ref}" t="b"{s}><v>{int(value)}</v></c>'
    if isinstance(value, int | float):
        return f'<c r="{ref}"{s}><v>{value}</v></c>'
    if isinstance(value, dt.datetime):
        serial = (value.replace(tzinfo=None) - _EPOCH) / dt.timedelta(days=1)
        return f'<c r="{ref}" s="{_DATETIME}"><v>{serial:.10f}</v></c>'
    if isinstance(value, dt.date):
        serial = (value - _EPOCH.date()).days
        return f'<c r="{ref}" s="{_DATE}"><v>{serial}</v></c>'
    text = escape(clean_text(str(value)))
    space = ' xml:space="preserve"' if text != text.strip() else ""
    return f'<c r="{ref}" t="inlineStr"{s}><is><t{space}>{text}</t></is></c>'


class _Chunks:
    """A write-only file for zipfile that hands back what was written since the last call."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


def stream_workbook(
    header: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    sheet_name: str = "Sheet1",
    widths: Sequence[int] = (),
    rows_per_chunk: int = 500,
    more_sheets: Sequence[Sheet] = (),
) -> Iterator[bytes]:
    """Yield an XLSX file: a bold, frozen header row, then `rows`; then each of `more_sheets` alike."""
    sheets = [Sheet(sheet_name, header, rows, widths), *more_sheets]
    sink = _Chunks()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as package:
        package.writestr("[Content_Types].xml", _content_types(len(sheets)))
        package.writestr("_rels/.rels", ROOT_RELS)
        package.writestr("xl/workbook.xml", _workbook([sheet.name for sheet in sheets]))
        package.writestr("xl/_rels/workbook.xml.rels", _workbook_rels(len(sheets)))
        package.writestr("xl/styles.xml", STYLES)
        yield sink.take()
        for n, sheet in enumerate(sheets, start=1):
            yield from _write_sheet(package, sink, f"xl/worksheets/sheet{n}.xml", sheet, rows_per_chunk)
    yield sink.take()


def _write_sheet(
    package: zipfile.ZipFile, sink: _Chunks, part: str, sheet: Sheet, rows_per_chunk: int
) -> Iterator[bytes]:
    letters = [column_letter(i) for i in range(len(sheet.header))]
    with package.open(part, "w", force_zip64=True) as out:
        cols = "".join(
            f'<col min="{i}" max="{i}" width="{w}" customWidth="1"/>' for i, w in enumerate(sheet.widths, start=1)
        )
        out.write(
            (
                _HEAD + f'<worksheet {_NS}><sheetViews><sheetView workbookViewId="0">'
                '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
                "</sheetView></sheetViews>" + (f"<cols>{cols}</cols>" if cols else "") + "<sheetData>"
                '<row r="1">'
                + "".join(_cell(f"{letters[i]}1", title, _BOLD) for i, title in enumerate(sheet.header))
                + "</row>"
            ).encode()
        )
        buffer: list[str] = []
        for number, row in enumerate(sheet.rows, start=2):
            cells = "".join(_cell(f"{letters[i]}{number}", value) for i, value in enumerate(row))
            buffer.append(f'<row r="{number}">{cells}</row>')
            if len(buffer) >= rows_per_chunk:
                out.write("".join(buffer).encode())
                buffer.clear()
                yield sink.take()
        out.write(("".join(buffer) + "</sheetData></worksheet>").encode())
    yield sink.take()
