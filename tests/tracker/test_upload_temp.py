"""Large uploads wait in FILE_UPLOAD_TEMP_DIR; what a dead worker left there is removed at start-up."""

from __future__ import annotations

import os
import time

from django.apps import apps
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings

from tracker import upload_temp


def test_files_left_by_a_dead_worker_are_removed_when_a_process_starts(tmp_path, settings):
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path / "uploads")
    settings.UPLOAD_TEMP_MAX_AGE = 3600
    folder = tmp_path / "uploads"
    folder.mkdir()
    left = folder / "tmpab12cd.upload.pdf"  # as Django names them
    left.write_bytes(b"half an upload")
    two_hours_ago = time.time() - 7200
    os.utime(left, (two_hours_ago, two_hours_ago))
    current = folder / "tmpef34gh.upload.pdf"  # another worker's upload, still being written
    current.write_bytes(b"in progress")
    apps.get_app_config("tracker").ready()  # what every process runs as it starts
    assert not left.exists()
    assert current.exists()


def test_the_folder_is_made_if_it_is_missing(tmp_path, settings):
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path / "not" / "yet")
    assert upload_temp.reap() == 0
    assert (tmp_path / "not" / "yet").is_dir()


def test_a_large_upload_is_written_there_and_removed_after_the_request(client, admin_user, tmp_path):
    folder = tmp_path / "uploads"
    upload_temp_dir = str(folder)
    with override_settings(FILE_UPLOAD_TEMP_DIR=upload_temp_dir, FILE_UPLOAD_MAX_MEMORY_SIZE=10):
        upload_temp.reap()
        client.force_login(admin_user)
        data = b"inspection,reference\n" + b"x,R1\n" * 100
        client.post("/imports/", {"file": SimpleUploadedFile("f.csv", data)})
    assert folder.is_dir() and list(folder.iterdir()) == []
