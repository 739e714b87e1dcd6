"""Checks on evidence uploads: size, name, and type by extension *and* content.

The uploader's file name is only ever shown, never used as a path; files are stored under a random
name outside static and served by a permission-checked view as attachments.
"""

from __future__ import annotations

import hashlib
import io
import unicodedata
import zipfile
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.template.defaultfilters import filesizeformat

from .malware import check_for_malware

# extension -> (content type, content family)
ALLOWED_TYPES: dict[str, tuple[str, str]] = {
    "pdf": ("application/pdf", "pdf"),
    "png": ("image/png", "png"),
    "jpg": ("image/jpeg", "jpeg"),
    "jpeg": ("image/jpeg", "jpeg"),
    "docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "ooxml:word/"),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "ooxml:xl/"),
    "pptx": ("application/vnd.openxmlformats-officedocument.presentationml.presentation", "ooxml:ppt/"),
    "doc": ("application/msword", "ole"),
    "xls": ("application/vnd.ms-excel", "ole"),
    "ppt": ("application/vnd.ms-powerpoint", "ole"),
    "csv": ("text/csv", "text"),
    "txt": ("text/plain", "text"),
}
ALLOWED_DESCRIPTION = "PDF, Word, Excel, PowerPoint, PNG, JPEG, CSV or plain text"

# Extensions that must not hide inside a name such as "report.exe.pdf".
DANGEROUS_EXTENSIONS = {
    "exe", "dll", "com", "bat", "cmd", "msi", "scr", "ps1", "vbs", "js", "jar", "sh", "php",
    "py", "pl", "html", "htm", "svg", "hta", "lnk", "app", "elf", "bin",
    "phtml", "php3", "php4", "php5", "phar", "asp", "aspx", "jsp", "cgi", "shtml", "xhtml", "wsf", "reg", "cpl",
}  # fmt: skip

# Markup that a browser (or an old content sniffer) would run if the file were ever shown inline.
MARKUP = (b"<script", b"<html", b"<!doctype", b"<svg", b"<?php", b"<iframe", b"<body")

EXECUTABLE_MAGIC = (b"MZ", b"\x7fELF", b"\xca\xfe\xba\xbe", b"\xcf\xfa\xed\xfe", b"\xfe\xed\xfa", b"#!")
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_LOCAL = b"PK\x03\x04"
ZIP_END = b"PK\x05\x06"


@dataclass(frozen=True)
class CheckedFile:
    name: str
    content_type: str
    size: int
    sha256: str


def _read_all(upload: UploadedFile) -> bytes:
    upload.seek(0)
    data = upload.read()
    upload.seek(0)
    return data


def _clean_name(raw: str) -> str:
    name = (raw or "").strip()
    if (
        not name
        or "/" in name
        or "\\" in name
        or name.startswith(".")
        or ".." in name
        # Control characters, which no real file name has and which would forge lines in logs and
        # exports, and invisible format characters such as U+202E RIGHT-TO-LEFT OVERRIDE, which make a
        # name read differently from what it is ("invoice\u202ecod.pdf" shows as "invoicefdp.doc").
        or any(unicodedata.category(char) in ("Cc", "Cf") for char in name)
    ):
        raise ValidationError(f"“{raw}” is not an acceptable file name. Rename the file and try again.")
    if len(name) > 200:
        raise ValidationError("The file name is too long (200 characters at most).")
    return name


def _content_matches(family: str, data: bytes) -> bool:
    if data.startswith(EXECUTABLE_MAGIC):
        return False
    if family in ("pdf", "png", "jpeg") and any(marker in data[:1024].lower() for marker in MARKUP):
        return False  # an image or PDF that is also a web page (a polyglot)
    if family == "pdf":
        # A PDF with a ZIP archive inside is a polyglot: it opens as something else too.
        return data.startswith(b"%PDF-") and ZIP_END not in data and ZIP_LOCAL not in data[:1024]
    if family == "png":
        return data.startswith(b"\x89PNG\r\n\x1a\n") and ZIP_END not in data
    if family == "jpeg":
        return data.startswith(b"\xff\xd8\xff") and ZIP_END not in data
    if family == "ole":
        return data.startswith(OLE_MAGIC)
    if family.startswith("ooxml:"):
        if not data.startswith(ZIP_LOCAL):
            return False
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                names = archive.namelist()
        except zipfile.BadZipFile:
            return False
        part = family.removeprefix("ooxml:")
        return "[Content_Types].xml" in names and any(n.startswith(part) for n in names)
    if family == "text":
        if b"\x00" in data:
            return False
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            try:
                text = data.decode("cp1252")
            except UnicodeDecodeError:
                return False
        # Markup anywhere in a "text" file would render as a page if it were ever opened inline.
        lowered = text.lower()
        return not any(marker.decode() in lowered for marker in MARKUP)
    return False


def check_upload(upload: UploadedFile, *, user: str = "-", scan: bool = True) -> CheckedFile:
    """Return what we know of an acceptable upload, or raise ValidationError saying why not.

    With a scanner configured the file is also scanned for malware (`user` is who sent it, for the
    security log); `scan=False` is only for callers that hand the file on to the workflow, which
    checks it again, scan included, before storing it.
    """
    name = _clean_name(upload.name or "")
    size = upload.size or 0
    if size == 0:
        raise ValidationError(f"“{name}” is empty. Choose a file with content.")
    limit = settings.EVIDENCE_MAX_BYTES
    if size > limit:
        raise ValidationError(
            f"“{name}” is {filesizeformat(size)}; evidence files can be at most {filesizeformat(limit)}."
        )
    parts = name.lower().split(".")
    extension = parts[-1] if len(parts) > 1 else ""
    if extension not in ALLOWED_TYPES:
        raise ValidationError(f"“{name}” is not an accepted type. Upload {ALLOWED_DESCRIPTION} files.")
    if any(part in DANGEROUS_EXTENSIONS for part in parts[1:-1]):
        raise ValidationError(f"“{name}” has a double extension. Rename the file and try again.")
    content_type, family = ALLOWED_TYPES[extension]
    data = _read_all(upload)
    if not _content_matches(family, data):
        raise ValidationError(
            f"“{name}” does not contain what its .{extension} extension says. Upload {ALLOWED_DESCRIPTION} files."
        )
    if scan:
        check_for_malware(upload, name=name, user=user, what="evidence")
    return CheckedFile(name=name, content_type=content_type, size=len(data), sha256=hashlib.sha256(data).hexdigest())
