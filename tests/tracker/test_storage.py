"""Evidence and import files on Azure Blob Storage (Azurite) and an S3-compatible store (s3rver), both on
127.0.0.1; the storage settings; and `manage.py move_files_to_storage` (tracker.storage)."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, default_storage, storages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from tests import servers
from tests.factories import PDF_BYTES, EvidenceFactory, pdf_upload, random_filler, stored_bytes, stored_files
from tracker import workflow
from tracker.imports import uploads as import_uploads
from tracker.models import Evidence

ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.fixture
def on_azure(settings, azurite):
    """Every file in this test goes to Azurite, under a folder of the test's own."""
    settings.STORAGES = {**settings.STORAGES, "default": servers.azure_storage(azurite)}
    return storages["default"]


@pytest.fixture(params=["azure", "s3"])
def on_store(request, settings):
    """Every file in this test goes to Azurite, then (a second run) to s3rver."""
    if request.param == "azure":
        default = servers.azure_storage(request.getfixturevalue("azurite"))
    else:
        default = servers.s3_storage(request.getfixturevalue("s3rver"))
    settings.STORAGES = {**settings.STORAGES, "default": default}
    return storages["default"]


def blob_names(connection_string: str, storage) -> list[str]:
    container = BlobServiceClient.from_connection_string(connection_string).get_container_client(
        servers.AZURE_TEST_CONTAINER
    )
    return sorted(blob.name for blob in container.list_blobs(name_starts_with=storage.location + "/"))


# --- evidence through Azurite ------------------------------------------------------------------


def test_an_uploaded_file_is_stored_and_downloads_through_the_permission_check(
    client, on_store, plan, staff, other_staff, inspector, settings
):
    data = PDF_BYTES + b"% vetting backlog figures\n"
    workflow.record_progress(plan=plan, user=staff, note="Figures.", files=[pdf_upload("backlog.pdf", data)])
    evidence = Evidence.objects.get()

    assert stored_files() == [evidence.file.name]
    assert not any(path.is_file() for path in Path(settings.MEDIA_ROOT).rglob("*"))  # nothing on local disk

    client.force_login(staff)
    response = client.get(evidence.get_absolute_url())
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == data
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["Cache-Control"] == "private, no-store"

    client.force_login(other_staff)
    assert client.get(evidence.get_absolute_url()).status_code == 404
    client.force_login(inspector)
    assert client.get(evidence.get_absolute_url()).status_code == 200
    client.logout()
    assert client.get(evidence.get_absolute_url()).status_code == 302  # to the sign-in page


def test_a_file_is_one_blob_under_its_random_name_in_the_container(azurite, on_azure, plan, staff):
    workflow.record_progress(plan=plan, user=staff, note="Minutes.", files=[pdf_upload("minutes.pdf")])
    assert blob_names(azurite, on_azure) == [f"{on_azure.location}/{Evidence.objects.get().file.name}"]


def test_the_container_is_private_and_no_page_names_the_blob(client, azurite, on_azure, plan, staff):
    workflow.record_progress(plan=plan, user=staff, note="Minutes.", files=[pdf_upload("minutes.pdf")])
    evidence = Evidence.objects.get()
    blob_url = on_azure.client.get_blob_client(f"{on_azure.location}/{evidence.file.name}").url

    with pytest.raises(urllib.error.HTTPError) as refused:  # no credentials: what anyone on the network has
        urllib.request.urlopen(blob_url, timeout=10)
    assert refused.value.code in (403, 404)
    client.force_login(staff)
    page = client.get(plan.get_absolute_url()).content.decode()
    assert evidence.get_absolute_url() in page
    assert evidence.file.name not in page and "127.0.0.1:" not in page


def test_a_file_missing_from_the_store_is_a_404_not_a_broken_download(client, on_store, plan, staff):
    evidence = EvidenceFactory(update__plan=plan, update__author=staff)
    default_storage.delete(evidence.file.name)
    client.force_login(staff)
    assert client.get(evidence.get_absolute_url()).status_code == 404


def test_a_20_mb_file_goes_to_the_store_and_back_unchanged(client, on_store, plan, staff, settings):
    data = PDF_BYTES + random_filler(settings.EVIDENCE_MAX_BYTES - len(PDF_BYTES) - 10) + b"\n%%EOF\n"
    assert len(data) <= settings.EVIDENCE_MAX_BYTES
    workflow.record_progress(plan=plan, user=staff, note="Large.", files=[pdf_upload("large.pdf", data)])
    evidence = Evidence.objects.get()
    client.force_login(staff)
    downloaded = b"".join(client.get(evidence.get_absolute_url()).streaming_content)
    assert hashlib.sha256(downloaded).hexdigest() == evidence.sha256 == hashlib.sha256(data).hexdigest()


def test_stale_import_uploads_are_removed_from_the_store_and_fresh_ones_kept(
    client, on_store, admin_user, monkeypatch
):
    default_storage.save("imports/left-behind", ContentFile(b"reference,text\n"))
    client.force_login(admin_user)
    monkeypatch.setattr(import_uploads, "KEEP_UPLOADS_FOR", dt.timedelta(0))  # everything stored so far is stale

    response = client.post(
        reverse("imports:import-upload"),
        {"file": SimpleUploadedFile("findings.csv", b"reference,text\nR1,Do it\n")},
    )

    assert response.status_code == 302
    token = response["Location"].rstrip("/").rsplit("/", 1)[-1]
    assert stored_files("imports") == [f"imports/{token}"]


def test_the_health_check_reports_the_store(client, db, on_store):
    assert client.get("/healthz").json()["storage"] == "ok"


def test_the_health_check_reports_a_store_that_does_not_answer_without_failing(client, db, settings):
    unreachable = servers.azurite_connection_string(servers.free_port())  # nothing listens there
    settings.STORAGES = {**settings.STORAGES, "default": servers.azure_storage(unreachable)}
    response = client.get("/healthz")
    assert response.status_code == 200  # the database answers: load balancers keep the server
    assert response.json()["status"] == "degraded" and response.json()["storage"] == "unreachable"


# --- settings ------------------------------------------------------------------------------------


def settings_in_subprocess(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("FILE_STORAGE", "AZURE_", "S3_", "DJANGO_"))}
    code = (
        "import json; from django.conf import settings; print(json.dumps(settings.STORAGES['default'], default=str))"
    )
    return subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT, env=clean | env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_the_local_folder_is_the_default():
    result = settings_in_subprocess({})
    assert result.returncode == 0, result.stderr
    assert '"django.core.files.storage.FileSystemStorage"' in result.stdout and '"base_url": null' in result.stdout


def test_azure_and_s3_are_chosen_by_environment_variables():
    azure = settings_in_subprocess(
        {"FILE_STORAGE": "azure", "AZURE_STORAGE_CONNECTION_STRING": "UseDevelopmentStorage=true",
         "AZURE_STORAGE_CONTAINER": "force-evidence"}
    )  # fmt: skip
    assert azure.returncode == 0, azure.stderr
    assert "AzureStorage" in azure.stdout and '"azure_container": "force-evidence"' in azure.stdout
    assert '"overwrite_files": false' in azure.stdout

    s3 = settings_in_subprocess(
        {"FILE_STORAGE": "s3", "S3_BUCKET": "evidence", "S3_ENDPOINT_URL": "https://s3.example.org"}
    )
    assert s3.returncode == 0, s3.stderr
    assert "S3Storage" in s3.stdout and '"bucket_name": "evidence"' in s3.stdout
    assert '"default_acl": null' in s3.stdout and '"file_overwrite": false' in s3.stdout


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"FILE_STORAGE": "azure"}, "FILE_STORAGE=azure needs AZURE_STORAGE_CONNECTION_STRING"),
        ({"FILE_STORAGE": "s3"}, "FILE_STORAGE=s3 needs S3_BUCKET"),
        ({"FILE_STORAGE": "ftp"}, "FILE_STORAGE must be local, azure or s3"),
    ],
)
def test_an_incomplete_storage_setting_stops_the_app_with_a_clear_message(env, message):
    result = settings_in_subprocess(env)
    assert result.returncode != 0
    assert message in result.stderr


# --- moving local files into the store ------------------------------------------------------------


@pytest.fixture
def local_evidence(settings, tmp_path, plan, staff):
    """Three evidence files uploaded while files were kept in a local folder."""
    folder = tmp_path / "old-media"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": folder}},
    }
    for number in range(3):
        workflow.record_progress(plan=plan, user=staff, note=f"Part {number}.",
                                 files=[pdf_upload(f"part-{number}.pdf", PDF_BYTES + b"%" * number)])  # fmt: skip
    plan.refresh_from_db()
    assert isinstance(storages["default"], FileSystemStorage)
    return folder


def move(*args: str) -> str:
    from io import StringIO

    out = StringIO()
    call_command("move_files_to_storage", *args, stdout=out)
    return out.getvalue()


def test_moving_copies_every_file_verifies_it_and_is_safe_to_run_again(local_evidence, on_store):
    first = move("--from", str(local_evidence))

    assert "copied and verified: 3" in first and "already in the store, verified: 0" in first
    for evidence in Evidence.objects.all():
        assert hashlib.sha256(stored_bytes(evidence.file.name)).hexdigest() == evidence.sha256
    assert len([p for p in local_evidence.rglob("*") if p.is_file()]) == 3  # kept without --delete-local

    again = move("--from", str(local_evidence))
    assert "copied and verified: 0" in again and "already in the store, verified: 3" in again
    assert "Every evidence file is in the store" in again


def test_moving_with_delete_local_removes_only_verified_copies(local_evidence, on_store):
    damaged = Evidence.objects.order_by("pk").first()
    (local_evidence / damaged.file.name).write_bytes(PDF_BYTES + b"% changed on disk\n")

    with pytest.raises(CommandError, match="1 file"):
        move("--from", str(local_evidence), "--delete-local")

    left = sorted(p.relative_to(local_evidence).as_posix() for p in local_evidence.rglob("*") if p.is_file())
    assert left == [damaged.file.name]  # the damaged one stays for a person to look at
    assert stored_files() == sorted(e.file.name for e in Evidence.objects.exclude(pk=damaged.pk))


def test_moving_reports_missing_files_and_never_overwrites_a_different_stored_file(local_evidence, on_store):
    first, second, _third = Evidence.objects.order_by("pk")
    (local_evidence / first.file.name).unlink()
    default_storage.save(second.file.name, ContentFile(b"something else"))

    with pytest.raises(CommandError, match="2 file"):
        move("--from", str(local_evidence))

    assert stored_bytes(second.file.name) == b"something else"
    assert stored_files() == sorted([second.file.name, _third.file.name])


def test_a_dry_run_copies_nothing(local_evidence, on_store):
    out = move("--from", str(local_evidence), "--dry-run", "--delete-local")
    assert "would be copied: 3" in out and "Dry run" in out
    assert stored_files() == []
    assert len([p for p in local_evidence.rglob("*") if p.is_file()]) == 3


def test_moving_refuses_when_files_are_still_kept_locally(local_evidence):
    with pytest.raises(CommandError, match="FILE_STORAGE is local"):
        move("--from", str(local_evidence))
