#!/usr/bin/env python
"""Measure a big XLSX export through the worker: N plans asked for on the page, made by `db_worker`.

    .venv/bin/python scripts/measure_jobs.py [--rows 100000]

Builds a throwaway SQLite database in a temporary directory (never the configured one), filled as
scripts/measure_exports.py fills it, then as an inspector (Django's test client): opens
/plans/export.xlsx (which counts the rows and offers a job), posts the offer, and starts a real worker
process (`manage.py db_worker --batch`) that makes the file into the file storage (a temporary
folder). While the worker runs, the job's status fragment is polled every second, as the page does.
Reports the time of each step, the job's own time from start to finish, the worker's peak resident
memory, the status poll's response times, then downloads the file and checks its rows.

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
sys.path.insert(0, str(ROOT / "scripts"))

from measure_exports import MB, fill, setup_django  # noqa: E402 - scripts/ is not a package


def peak_rss(pid: int) -> int:
    """The process's peak resident memory so far (VmHWM), in bytes; 0 once it has gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="number of action plans (default 100000)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="measure-jobs-") as directory:
        database = Path(directory) / "jobs.sqlite3"
        media = Path(directory) / "media"
        os.environ["MEDIA_ROOT"] = str(media)
        setup_django(database, migrate=True)
        started = time.perf_counter()
        fill(args.rows)
        from django.test import Client

        from tracker.models import Job, User

        inspector = User.objects.create(username="inspector", role=User.Role.INSPECTOR)
        print(f"Filled {args.rows:,} plans in {time.perf_counter() - started:.1f} s")

        client = Client()
        client.force_login(inspector)
        client.get("/plans/export.xlsx?organisation=force-0")  # warm up imports and templates

        started = time.perf_counter()
        offer = client.get("/plans/export.xlsx")
        offer_seconds = time.perf_counter() - started
        assert offer.status_code == 200 and b"Make the file" in offer.content, offer.status_code

        started = time.perf_counter()
        asked = client.post("/jobs/export/", {"query": ""})
        ask_seconds = time.perf_counter() - started
        assert asked.status_code == 302, asked.status_code
        job_path = asked["Location"]

        env = {**os.environ, "DATABASE_URL": f"sqlite:///{database}", "MEDIA_ROOT": str(media)}
        env.pop("DJANGO_SETTINGS_MODULE", None)
        started = time.perf_counter()
        worker = subprocess.Popen(
            [sys.executable, "manage.py", "db_worker", "--batch", "--no-reload", "--no-startup-delay", "-v0"],
            cwd=ROOT, env=env,
        )  # fmt: skip
        polls: list[float] = []
        progress: list[int] = []
        rss = 0
        while worker.poll() is None:
            rss = max(rss, peak_rss(worker.pid))
            poll_started = time.perf_counter()
            fragment = client.get(job_path, headers={"HX-Request": "true"})
            polls.append(time.perf_counter() - poll_started)
            assert fragment.status_code in (200, 286), fragment.status_code
            progress.append(Job.objects.values_list("done", flat=True).get())
            time.sleep(1)
        worker_seconds = time.perf_counter() - started
        assert worker.returncode == 0, worker.returncode

        job = Job.objects.get()
        assert job.status == Job.Status.SUCCEEDED, job.message
        job_seconds = (job.finished_at - job.started_at).total_seconds()

        started = time.perf_counter()
        download = client.get(f"{job_path}download/")
        data = b"".join(download.streaming_content)
        download_seconds = time.perf_counter() - started
        import openpyxl

        sheet = openpyxl.load_workbook(io.BytesIO(data), read_only=True)["Action plans"]
        rows = sum(1 for _ in sheet.iter_rows(min_row=2, values_only=True))
        assert rows == args.rows, rows

        print(f"Offer page (counts the rows):        {offer_seconds:8.2f} s")
        print(f"Asking for the job (POST):           {ask_seconds:8.2f} s")
        print(f"Worker process, start to exit:       {worker_seconds:8.1f} s")
        print(f"The job, started to finished:        {job_seconds:8.1f} s  ({args.rows / job_seconds:,.0f} rows/s)")
        print(f"Worker peak resident memory:         {rss / MB:8.0f} MB")
        print(f"Status polls: {len(polls)}, median {statistics.median(polls) * 1000:.0f} ms, "
              f"slowest {max(polls) * 1000:.0f} ms; progress seen: {sorted(set(progress))[:12]}...")  # fmt: skip
        size = len(data) / MB
        print(f"Download of the stored file:         {download_seconds:8.2f} s  ({size:.1f} MB, {rows:,} rows)")


if __name__ == "__main__":
    main()
