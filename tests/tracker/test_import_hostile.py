"""Hostile and oversized import files: each is a clear file- or row-level error, in the command and on
`/imports/`, and nothing is written. Found from outside: every one of these gave a traceback in the
command and a 500 on the page (RecursionError, ValueError, DataError on PostgreSQL,
UnicodeEncodeError, IntegrityError)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from openpyxl import Workbook

from inspections.models import Finding, Inspection, Organisation
from tests.factories import OrganisationFactory
from tests.tracker import import_web
from tracker.imports import columns, reading, services, uploads
from tracker.models import ActionPlan
from tracker.storage import files_under

# "__all__": on PostgreSQL the import job writes its progress through a second connection.
pytestmark = pytest.mark.django_db(databases="__all__")

HEADER = ["inspection", "inspection_slug", "published_on", "reference", "kind", "text", "addressed_to"]


def row(reference: str = "R1", text: str = "Forces should update their profiles.") -> list[str]:
    return ["Hostile files 2024", "hostile-2024", "2024-05-01", reference, "recommendation", text, "surrey"]


def csv_bytes(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    writer.writerows(rows)
    return out.getvalue().encode()


def json_item(**values: object) -> dict[str, object]:
    return dict(zip(HEADER, row(), strict=True)) | values


# name, file name, bytes, words the message must hold
HOSTILE = {
    "deeply nested JSON": ("f.json", b"[" * 100_000 + b"]" * 100_000, "nested"),
    "a 5,000-digit JSON number": ("f.json", json.dumps([json_item()]).encode()[:-2] + b', "due_by": ' + b"9" * 5000
                                  + b"}]", "due_by"),
    "a NUL byte in CSV": ("f.csv", csv_bytes([row(text="Before\x00after")]), "NUL"),
    "a NUL byte in a CSV header": ("f.csv", csv_bytes([row()]).replace(b"text", b"te\x00xt", 1), "column"),
    "a NUL byte in JSON": ("f.json", json.dumps([json_item(text="Before\x00after")]).encode(), "NUL"),
    "a lone surrogate in JSON": ("f.json", json.dumps([json_item(text="Half \ud800 a character")]).encode(),
                                 "surrogate"),
    "a lone surrogate in a JSON key": ("f.json", b'[{"te\\udc00xt": "x"}]', "column"),
}  # fmt: skip


def counts() -> tuple[int, ...]:
    return (Inspection.objects.count(), Finding.objects.count(), Organisation.objects.count(),
            ActionPlan.objects.count())  # fmt: skip


@pytest.fixture
def surrey(db):
    return OrganisationFactory(slug="surrey", name="Surrey Police")


@pytest.mark.parametrize("case", HOSTILE, ids=str)
def test_the_command_reports_a_hostile_file_and_writes_nothing(case, surrey, tmp_path):
    name, data, words = HOSTILE[case]
    path = tmp_path / name
    path.write_bytes(data)
    before = counts()
    with pytest.raises(CommandError) as raised:
        call_command("import_findings", str(path), stdout=io.StringIO())
    message = str(raised.value)
    assert words in message, message
    message.encode("utf-8")  # printable: no lone surrogate in the message itself
    assert "\x00" not in message
    assert counts() == before


@pytest.mark.parametrize("case", HOSTILE, ids=str)
def test_the_web_import_reports_a_hostile_file_and_writes_nothing(case, client, admin_user, surrey):
    name, data, words = HOSTILE[case]
    client.force_login(admin_user)
    before = counts()
    preview = import_web.upload(client, name, data)
    response = client.get(preview)
    assert response.status_code == 200
    body = response.content.decode()
    assert words in body
    confirmed = import_web.confirm(client, preview)
    assert confirmed.status_code == 200
    assert "Nothing was imported" in confirmed.content.decode()
    assert counts() == before


def test_two_imports_of_one_new_inspection_at_once_give_a_clear_error(surrey, tmp_path, monkeypatch):
    """Both imports plan to create the inspection; the other one commits first. The second's insert
    then fails on the unique slug: a clear message, nothing of its own written, and run again it
    updates what the first created."""
    path = tmp_path / "f.csv"
    path.write_bytes(csv_bytes([row()]))
    planned = services.plan_import

    def plan_then_the_other_import_commits(**kwargs):
        plan = planned(**kwargs)
        Inspection.objects.create(slug="hostile-2024", title="Hostile files 2024")
        return plan

    monkeypatch.setattr(services, "plan_import", plan_then_the_other_import_commits)
    with pytest.raises(CommandError) as raised:
        call_command("import_findings", str(path), stdout=io.StringIO())
    assert "at the same time" in str(raised.value)
    assert Finding.objects.count() == 0
    monkeypatch.setattr(services, "plan_import", planned)
    call_command("import_findings", str(path), stdout=io.StringIO())
    assert Finding.objects.get().inspection.slug == "hostile-2024"


def test_a_clash_on_the_web_is_reported_to_the_importer(client, admin_user, surrey, monkeypatch):
    client.force_login(admin_user)
    preview = import_web.upload(client, "f.csv", csv_bytes([row()]))
    planned = services.plan_import

    def plan_then_the_other_import_commits(**kwargs):
        plan = planned(**kwargs)
        Inspection.objects.create(slug="hostile-2024", title="Hostile files 2024")
        return plan

    monkeypatch.setattr(services, "plan_import", plan_then_the_other_import_commits)
    confirmed = import_web.confirm(client, preview)
    assert confirmed.status_code == 200
    assert "at the same time" in confirmed.content.decode()
    assert Finding.objects.count() == 0


def write_xlsx(path: Path, rows: int) -> Path:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet()
    sheet.append(HEADER)
    for number in range(rows):
        sheet.append(row(reference=f"R{number + 1}"))
    workbook.save(path)
    return path


def test_a_file_over_the_row_limit_is_refused_with_the_limit(surrey, tmp_path, settings):
    settings.IMPORT_MAX_ROWS = 50
    before = counts()
    for path in (write_xlsx(tmp_path / "f.xlsx", 51), tmp_path / "f.csv", tmp_path / "f.json"):
        if path.suffix == ".csv":
            path.write_bytes(csv_bytes([row(reference=f"R{n}") for n in range(51)]))
        if path.suffix == ".json":
            path.write_text(json.dumps([json_item(reference=f"R{n}") for n in range(51)]))
        with pytest.raises(CommandError, match="more than 50 findings"):
            call_command("import_findings", str(path), stdout=io.StringIO())
    assert counts() == before
    path = write_xlsx(tmp_path / "ok.xlsx", 50)
    call_command("import_findings", str(path), stdout=io.StringIO())
    assert Finding.objects.count() == 50


def test_the_row_limit_stops_reading_a_workbook_early(surrey, tmp_path, settings, monkeypatch):
    """Streaming: rows past the limit are never read, however many the sheet has."""
    settings.IMPORT_MAX_ROWS = 10
    path = write_xlsx(tmp_path / "f.xlsx", 2000)
    seen = []
    texts = reading._cell_text

    def counting(value):
        seen.append(value)
        return texts(value)

    monkeypatch.setattr(reading, "_cell_text", counting)
    with pytest.raises(services.ImportFileError):
        services.read_rows(name=path.name, data=path.read_bytes())
    assert len(seen) <= 12 * len(HEADER)


def test_a_file_too_large_for_the_web_points_to_the_command(client, admin_user, surrey, settings):
    settings.IMPORT_WEB_MAX_ROWS = 5
    client.force_login(admin_user)
    data = csv_bytes([row(reference=f"R{n}") for n in range(6)])
    preview = import_web.upload(client, "f.csv", data)
    response = client.get(preview)
    body = response.content.decode()
    assert response.status_code == 200
    assert "too large to import here" in body and "manage.py import_findings" in body
    confirmed = import_web.confirm(client, preview)
    assert "Nothing was imported" in confirmed.content.decode()
    assert Finding.objects.count() == 0
    assert columns  # the template names the same columns


def test_the_file_is_parsed_once_for_every_preview_page_and_the_confirmation(client, admin_user, surrey, tmp_path,
                                                                             monkeypatch):  # fmt: skip
    client.force_login(admin_user)
    path = write_xlsx(tmp_path / "f.xlsx", 250)
    reads = []
    read_rows = uploads.read_rows
    monkeypatch.setattr(uploads, "read_rows", lambda **kwargs: reads.append(1) or read_rows(**kwargs))
    preview = import_web.upload(client, "f.xlsx", path.read_bytes())
    for page in ("1", "2", "3"):
        assert client.get(preview, {"page": page}).status_code == 200
    confirmed = import_web.confirm(client, preview)
    assert "Imported f.xlsx" in confirmed.content.decode()
    assert len(reads) == 1
    assert Finding.objects.count() == 250
    assert files_under("imports") == []  # the upload and its parsed rows removed, whichever the storage
