#!/usr/bin/env python
"""Measure a web import of N findings end to end through the worker: upload, check, preview, import, results.

    [DEBUG=0] .venv/bin/python scripts/measure_import_jobs.py [--findings 10000] [--database-url postgres://.../db]

On a throwaway SQLite database in a temporary directory (or, with --database-url, an empty PostgreSQL
database that it migrates; never the configured one), as an administrator (Django's test client), with
the development settings or, with DEBUG=0, the production ones (`PRODUCTION` fills in what a deployment sets):
uploads a CSV of N findings (`devdata.import_bench`, addressed to five organisations made first),
then a real worker process (`manage.py db_worker`, started beforehand) checks it while the page's status fragment is
polled every second; opens the first page of the preview; confirms; the worker imports it (one
transaction, publishing: action plans opened) while polled again; then the results page. Reports each
request's time, each job's own time, the end-to-end time, the polls and the progress they saw.

Results are in docs/JOBS.md.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


# With DEBUG=0 (production settings, as `make bench` measures): what a deployment would set, for this run only.
PRODUCTION = {
    "SECRET_KEY": "measurement-only-key-not-for-any-deployment-0123456789abcdefghijklmnop",
    "ALLOWED_HOSTS": "testserver",
    # The test client speaks plain HTTP; in production TLS ends at the proxy, before the app.
    "SECURE_SSL_REDIRECT": "0",
    # The administrator is signed in by the script, not through a second factor.
    "TWO_FACTOR_REQUIRED_ROLES": "",
}


def setup(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tracker.settings")
    if os.environ["DEBUG"].strip().lower() in {"0", "false", "no", "off"}:
        for name, value in PRODUCTION.items():
            os.environ.setdefault(name, value)
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.test.utils import setup_test_environment

    setup_test_environment()  # lets the test client's host in
    call_command("migrate", verbosity=0)
    if not settings.DEBUG:  # pages name their static files through the manifest that collectstatic writes
        call_command("collectstatic", interactive=False, verbosity=0)


def timed(call):  # noqa: ANN001, ANN201 - a tiny helper
    started = time.perf_counter()
    result = call()
    return result, time.perf_counter() - started


def follow_job(client, job_path: str) -> tuple[list[float], list[int]]:  # noqa: ANN001
    """Poll the job's fragment every second, as the page does, until the job is finished."""
    from tracker.models import Job

    polls: list[float] = []
    percents: list[int] = []
    job_id = job_path.rstrip("/").rsplit("/", 1)[1]
    while True:
        fragment, seconds = timed(
            lambda: client.get(job_path, headers={"HX-Request": "true", "HX-Trigger": "job-progress"})
        )
        polls.append(seconds)
        assert fragment.status_code in (200, 286), fragment.status_code
        job = Job.objects.get(pk=job_id)
        percents.append(job.percent)
        if job.is_finished:
            return polls, percents
        time.sleep(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--findings", type=int, default=10_000, help="at most IMPORT_WEB_MAX_ROWS (10000)")
    parser.add_argument("--worker-start", type=float, default=30, help="seconds the worker is given to start")
    parser.add_argument("--database-url", default="", help="an empty PostgreSQL database (default: SQLite)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="measure-import-") as directory:
        media = Path(directory) / "media"
        os.environ["MEDIA_ROOT"] = str(media)
        database_url = args.database_url or f"sqlite:///{Path(directory) / 'import.sqlite3'}"
        setup(database_url)
        from django.conf import settings
        from django.core.files.uploadedfile import SimpleUploadedFile
        from django.test import Client

        from devdata.import_bench import ORGANISATIONS, write_csv
        from inspections.models import Finding, Organisation
        from tracker.models import ActionPlan, Job, User

        Organisation.objects.bulk_create(Organisation(name=name, slug=name.lower().replace(" ", "-"))
                                         for name in ORGANISATIONS)  # fmt: skip
        admin = User.objects.create(username="admin", role=User.Role.INSPECTOR, is_staff=True, is_superuser=True)
        buffer = io.StringIO()
        write_csv(buffer, args.findings)
        data = buffer.getvalue().encode()
        client = Client()
        client.force_login(admin)
        client.get("/imports/")  # warm up imports and templates
        env = {**os.environ, "DATABASE_URL": database_url, "MEDIA_ROOT": str(media)}
        env.pop("DJANGO_SETTINGS_MODULE", None)
        # One worker, already running when the file is uploaded (as with make run, or in production).
        worker = subprocess.Popen(
            [sys.executable, "manage.py", "db_worker", "--no-reload", "--interval", "0.2", "-v0"], cwd=ROOT, env=env
        )
        time.sleep(args.worker_start)
        print(
            f"{args.findings:,} findings, {len(data) / 1e6:.1f} MB CSV, on {settings.DATABASES['default']['ENGINE']}"
        )

        begun = time.perf_counter()
        upload = {"file": SimpleUploadedFile("findings.csv", data), "publish": "on"}
        uploaded, upload_seconds = timed(lambda: client.post("/imports/", upload))
        preview_path = uploaded["Location"]
        waiting, waiting_seconds = timed(lambda: client.get(preview_path))
        assert b"Checking findings.csv" in waiting.content
        check_job = Job.objects.get(kind=Job.Kind.IMPORT_CHECK)
        check_polls, check_percents = follow_job(client, check_job.get_absolute_url())
        check_job.refresh_from_db()
        assert check_job.status == Job.Status.SUCCEEDED, check_job.message
        preview, preview_seconds = timed(lambda: client.get(preview_path))
        assert f"Import {args.findings:,}".replace(",", "").encode() in preview.content.replace(b",", b"")
        confirmed, confirm_seconds = timed(lambda: client.post(f"{preview_path}confirm/"))
        apply_job = Job.objects.get(kind=Job.Kind.IMPORT_APPLY)
        apply_polls, apply_percents = follow_job(client, confirmed["Location"])
        apply_job.refresh_from_db()
        assert apply_job.status == Job.Status.SUCCEEDED, apply_job.message
        done, done_seconds = timed(lambda: client.get(confirmed["Location"], follow=True))
        assert b"complete" in done.content
        total = time.perf_counter() - begun
        worker.terminate()
        worker.wait(timeout=60)
        assert Finding.objects.count() == args.findings

        def job_time(job: Job) -> float:
            return (job.finished_at - job.started_at).total_seconds()

        print(f"Upload (POST, the file stored, the check queued):  {upload_seconds:7.2f} s")
        print(f"The page while it waits:                           {waiting_seconds:7.2f} s")
        print(f"Check job, started to finished:                    {job_time(check_job):7.2f} s")
        print(f"Preview, first page:                               {preview_seconds:7.2f} s")
        print(f"Confirm (POST, the import queued):                 {confirm_seconds:7.2f} s")
        print(f"Import job, started to finished:                   {job_time(apply_job):7.2f} s")
        print(f"Results page:                                      {done_seconds:7.2f} s")
        print(f"End to end (upload to the results page, polling once a second): {total:.1f} s")
        polls = check_polls + apply_polls
        print(f"Status polls: {len(polls)}, median {statistics.median(polls) * 1000:.0f} ms, "
              f"slowest {max(polls) * 1000:.0f} ms")  # fmt: skip
        print(f"Progress seen (%): check {check_percents}, import {apply_percents}")
        print(f"Action plans opened: {ActionPlan.objects.count():,}; load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
