"""The streamed XLSX writer: a valid workbook, real dates, safe text, and bytes before the last row."""

from __future__ import annotations

import datetime as dt
import io
import zipfile

import openpyxl
import pytest

from tracker import xlsx


def workbook(chunks) -> openpyxl.Workbook:
    return openpyxl.load_workbook(io.BytesIO(b"".join(chunks)))


@pytest.mark.parametrize("index,letters", [(0, "A"), (25, "Z"), (26, "AA"), (51, "AZ"), (52, "BA"), (701, "ZZ")])
def test_column_letters(index, letters):
    assert xlsx.column_letter(index) == letters


def test_values_keep_their_types():
    rows = [
        ["R1", 55, 2.5, dt.date(2025, 3, 31), dt.datetime(2025, 3, 31, 14, 30), None, True],
        ['=HYPERLINK("x")', 0, -1, dt.date(1900, 3, 1), dt.datetime(2024, 1, 1), "", False],
    ]
    sheet = workbook(xlsx.stream_workbook(["a", "b", "c", "d", "e", "f", "g"], rows, sheet_name="Plans")).active

    assert sheet.title == "Plans"
    assert [c.value for c in sheet[1]] == ["a", "b", "c", "d", "e", "f", "g"]
    assert all(c.font.b for c in sheet[1])
    first = [c.value for c in sheet[2]]
    assert first == ["R1", 55, 2.5, dt.datetime(2025, 3, 31), dt.datetime(2025, 3, 31, 14, 30), None, True]
    assert sheet["D2"].is_date and sheet["D2"].number_format == "yyyy-mm-dd"
    assert sheet["E2"].is_date and sheet["E2"].number_format == "yyyy-mm-dd hh:mm"
    # Text is stored as text: a leading "=" is never a formula.
    assert sheet["A3"].data_type == "s"
    assert sheet["A3"].value == '=HYPERLINK("x")'
    assert sheet["D3"].value == dt.datetime(1900, 3, 1)
    assert sheet.freeze_panes == "A2"


def test_text_is_escaped_and_cleaned_of_characters_xml_cannot_carry():
    text = 'Analysts <5> & "partners"\x0b\x00 needed  '
    sheet = workbook(xlsx.stream_workbook(["note"], [[text]])).active

    assert sheet["A2"].value == 'Analysts <5> & "partners" needed  '


def test_bytes_leave_before_the_last_row_is_read():
    consumed = []

    def rows():
        for n in range(5000):
            consumed.append(n)
            yield [f"row {n}", n]

    stream = xlsx.stream_workbook(["text", "number"], rows(), rows_per_chunk=100)
    first = next(stream)  # the package's fixed parts
    second = next(stream)
    assert first.startswith(b"PK")
    assert second and len(consumed) <= 200
    rest = list(stream)
    assert len(consumed) == 5000

    sheet = workbook([first, second, *rest]).active
    assert sheet.max_row == 5001
    assert sheet["A5001"].value == "row 4999"
    assert zipfile.ZipFile(io.BytesIO(b"".join([first, second, *rest]))).testzip() is None
