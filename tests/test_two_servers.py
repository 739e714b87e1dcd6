"""The two-servers load check, short: 10 clients for 10 seconds through two gunicorn instances.

`make loadcheck` runs the full one (50 clients, 60 seconds); docs/SECURITY.md has its figures.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from stack import Browser, Stack, free_port  # noqa: E402 - scripts/ is not a package

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL: two servers share one database"),
]


def database_url(suffix: str) -> str:
    """A database of its own, named after the one the suite runs on, so parallel checkouts do not collide."""
    parts = urlsplit(os.environ["DATABASE_URL"])
    return parts._replace(path=parts.path.rstrip("/") + suffix).geturl()


def test_two_servers_on_one_database_lose_no_update_and_give_no_server_error(tmp_path):
    url = database_url("_loadcheck")
    figures_file = tmp_path / "figures.json"

    result = subprocess.run(
        [sys.executable, "scripts/two_servers.py", "--clients", "10", "--duration", "10", "--database-url", url,
         "--json", str(figures_file)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    figures = json.loads(figures_file.read_text())
    assert figures["server_errors_5xx"] == 0
    assert figures["writes_accepted"] > 0
    assert figures["updates_in_database"] == figures["writes_accepted"]
    assert figures["updates_lost"] == 0 and figures["updates_unexpected"] == 0
    assert set(figures["by_server"]) == {"0", "1"}  # both servers answered


def test_a_file_uploaded_through_one_server_downloads_through_the_other(azurite):
    from azure.storage.blob import BlobServiceClient

    container = f"two-servers-{uuid.uuid4().hex[:12]}"
    BlobServiceClient.from_connection_string(azurite).create_container(container)  # private, as in production
    env = {"FILE_STORAGE": "azure", "AZURE_STORAGE_CONNECTION_STRING": azurite, "AZURE_STORAGE_CONTAINER": container}
    data = b"%PDF-1.4\n% recruitment figures for the regional unit\n%%EOF\n"

    with Stack(database_url("_files"), [free_port(), free_port()], workers=1, threads=2, extra_env=env) as stack:
        first, second = stack.base_urls()
        with stack.connect() as conn:
            (plan_id,) = conn.execute(
                "SELECT p.id FROM tracker_actionplan p JOIN inspections_organisation o ON o.id = p.organisation_id "
                "WHERE o.slug = 'surrey' AND p.status IN ('not_started', 'in_progress') ORDER BY p.id LIMIT 1"
            ).fetchone()
        staff = Browser(first)
        staff.log_in("surrey.staff", stack.password)
        page = staff.get(f"/plans/{plan_id}/")
        version = re.search(r'name="progress-version" value="(\d+)"', page.body).group(1)

        reply = staff.post(
            f"/plans/{plan_id}/progress/",
            {"progress-version": version, "progress-note": "Recruitment figures attached."},
            files={"progress-files": ("recruitment.pdf", data)},
        )

        assert reply.status == 302, reply.body[-2000:]
        with stack.connect() as conn:
            evidence_id, name = conn.execute(
                "SELECT id, file FROM tracker_evidence WHERE original_name = 'recruitment.pdf'"
            ).fetchone()
        download = staff.get(f"/evidence/{evidence_id}/", base_url=second)
        assert download.status == 200
        assert download.content == data
        assert download.headers["content-disposition"].startswith("attachment;")
        other = Browser(second)
        other.log_in("hampshire.staff", stack.password)
        assert other.get(f"/evidence/{evidence_id}/").status == 404
        media = stack.workdir / "media"
        assert not media.exists() or not any(path.is_file() for path in media.rglob("*"))  # no local copy

    blobs = BlobServiceClient.from_connection_string(azurite).get_container_client(container)
    assert hashlib.sha256(blobs.download_blob(name).readall()).hexdigest() == hashlib.sha256(data).hexdigest()
