"""A job outlives the web server that took it: it is in the database, and a worker started later does it."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import openpyxl
import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from stack import Browser, Stack, free_port  # noqa: E402 - scripts/ is not a package

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL: servers and a worker share it"),
]


def database_url(suffix: str) -> str:
    parts = urlsplit(os.environ["DATABASE_URL"])
    return parts._replace(path=parts.path.rstrip("/") + suffix).geturl()


def test_an_export_asked_for_before_a_restart_is_made_and_downloaded_after_it():
    with Stack(database_url("_jobs"), [free_port()], workers=1, threads=2,
               extra_env={"EXPORT_IN_WORKER_ROWS": "5"}) as stack:  # fmt: skip
        (first,) = stack.base_urls()
        inspector = Browser(first)
        inspector.log_in("inspector", stack.password)
        offer = inspector.get("/plans/export.xlsx?organisation=hampshire")
        assert offer.status == 200 and "Make the file" in offer.body
        asked = inspector.post("/jobs/export/", {"query": "organisation=hampshire"})
        assert asked.status == 302
        job_path = asked.headers["location"]

        stack.stop_servers()  # the web server goes away with no worker running: the job waits in the database
        stack.ports = [free_port()]
        stack.start_server(stack.ports[0])
        (second,) = stack.base_urls()
        stack.wait_until_healthy(second)
        inspector.base_url = second
        assert "Waiting for a worker to start it." in inspector.get(job_path).body

        log = (stack.workdir / "worker.log").open("wb")
        worker = subprocess.Popen([sys.executable, "manage.py", "db_worker", "--no-startup-delay"], cwd=ROOT,
                                  env=stack.env(), stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while "Finished." not in (page := inspector.get(job_path)).body:
                assert "Failed" not in page.body, page.body
                assert time.monotonic() < deadline, "the worker did not finish the job"
                time.sleep(0.3)
        finally:
            worker.terminate()
            worker.wait(timeout=30)
            log.close()

        download = inspector.get(job_path + "download/")
        assert download.status == 200
        sheet = openpyxl.load_workbook(io.BytesIO(download.content))["Action plans"]
        with stack.connect() as conn:
            (hampshire,) = conn.execute(
                "SELECT count(*) FROM tracker_actionplan p JOIN inspections_organisation o "
                "ON o.id = p.organisation_id WHERE o.slug = 'hampshire'"
            ).fetchone()
        assert sheet.max_row - 1 == hampshire > 5
