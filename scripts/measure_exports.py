#!/usr/bin/env python
"""Measure the plan exports at scale: time and memory growth while streaming N plans as CSV and XLSX.

    .venv/bin/python scripts/measure_exports.py [--rows 100000]

Builds a throwaway SQLite database in a temporary directory (never the configured one), fills it with
`--rows` action plans using bulk_create, then downloads /plans/export.csv and /plans/export.xlsx as an
inspector through Django's test client, reading the streamed response chunk by chunk and throwing the
bytes away, as a browser saving the file would. For each export it reports:

- seconds to the first byte and in total, and the size of the file;
- growth of the process's resident memory (RSS, sampled every 10 ms from /proc) over its level before
  the request, in a fresh process for each export (after one small warm-up export);
- the peak of Python allocations during the request (tracemalloc), in a second, separate run because
  tracing slows the code down.

Results are in docs/EXPORTS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MB = 1024 * 1024


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class RssSampler(threading.Thread):
    """The highest RSS seen while running, sampled every 10 ms."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = rss_bytes()
        self._stop = threading.Event()

    def run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes())
            time.sleep(0.01)

    def stop(self) -> int:
        self._stop.set()
        self.join()
        return max(self.peak, rss_bytes())


def setup_django(database: Path, *, migrate: bool) -> None:
    # MEASURE_DATABASE_URL: a database made for the measurement (scripts/measure_papers.py --postgres).
    os.environ["DATABASE_URL"] = os.environ.get("MEASURE_DATABASE_URL") or f"sqlite:///{database}"
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tracker.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.test.utils import setup_test_environment

    setup_test_environment()  # lets the test client's host in
    if migrate:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)


def fill(rows: int) -> None:
    """`rows` plans: 100 organisations, rows/100 findings across 10 inspections, every status."""
    from django.utils import timezone

    from inspections.models import Finding, Inspection, Organisation, Region
    from tracker.models import ActionPlan, User

    region = Region.objects.create(name="South East", slug="south-east")
    organisations = Organisation.objects.bulk_create(
        Organisation(name=f"Force {i} Police", short_name=f"Force {i}", slug=f"force-{i}", region=region)
        for i in range(100)
    )
    inspections = Inspection.objects.bulk_create(
        Inspection(title=f"Inspection {i}", slug=f"inspection-{i}", published_on=dt.date(2024, 1, 1))
        for i in range(10)
    )
    per_organisation = -(-rows // len(organisations))
    findings = Finding.objects.bulk_create(
        Finding(
            inspection=inspections[i % len(inspections)],
            kind=Finding.Kind.RECOMMENDATION,
            reference=f"R{i}",
            text=f"The force should make sure it has enough intelligence analysts to understand SOC threats ({i}).",
        )
        for i in range(per_organisation)
    )
    owners = User.objects.bulk_create(
        User(username=f"owner{i}", organisation=organisations[i], role=User.Role.STAFF) for i in range(100)
    )
    statuses = ActionPlan.Status.values
    today = timezone.localdate()
    now = timezone.now()
    batch: list[ActionPlan] = []
    made = 0
    for o, organisation in enumerate(organisations):
        for f, finding in enumerate(findings):
            if made == rows:
                break
            target = today + dt.timedelta(days=(f * 7 + o) % 400 - 100)
            batch.append(
                ActionPlan(
                    finding=finding,
                    organisation=organisation,
                    status=statuses[(f + o) % len(statuses)],
                    owner=owners[o] if f % 3 else None,
                    target_date=target,
                    original_target_date=target,
                    percent_complete=(f * 13) % 101,
                    summary="Analyst recruitment under way; two posts filled, one re-advertised. " * 2,
                    created_at=now,
                    updated_at=now,
                )
            )
            made += 1
            if len(batch) == 5000:
                ActionPlan.objects.bulk_create(batch)
                batch = []
    ActionPlan.objects.bulk_create(batch)


def download(client, path: str) -> tuple[float, float, int]:
    """(seconds to first byte, seconds in total, bytes), reading the stream as a browser would."""
    started = time.perf_counter()
    response = client.get(path)
    assert response.status_code == 200, response.status_code
    size = 0
    first = None
    for chunk in response.streaming_content:
        if first is None:
            first = time.perf_counter() - started
        size += len(chunk)
    response.close()
    return first or 0.0, time.perf_counter() - started, size


def measure(path: str) -> dict[str, float]:
    """Run in a fresh process (see main), so that RSS growth is not hidden by memory freed after filling."""
    from django.test import Client

    from tracker.models import User

    client = Client()
    client.force_login(User.objects.get(username="inspector"))
    download(client, path + "?organisation=force-0")  # warm up imports, templates and caches
    before = rss_bytes()
    sampler = RssSampler()
    sampler.start()
    first, total, size = download(client, path)
    peak = sampler.stop()

    tracemalloc.start()
    download(client, path)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "first": first, "total": total, "size": size, "before": before, "rss": peak - before, "traced": traced_peak,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="number of action plans (default 100000)")
    parser.add_argument("--measure", help=argparse.SUPPRESS)  # internal: DATABASE:PATH, run in a child process
    args = parser.parse_args()

    if args.measure:
        database, path = args.measure.split(":", 1)
        setup_django(Path(database), migrate=False)
        print(json.dumps(measure(path)))
        return

    with tempfile.TemporaryDirectory(prefix="measure-exports-") as directory:
        database = Path(directory) / "exports.sqlite3"
        setup_django(database, migrate=True)
        started = time.perf_counter()
        fill(args.rows)
        from tracker.models import User

        User.objects.create(username="inspector", role=User.Role.INSPECTOR)
        print(f"Filled {args.rows} plans in {time.perf_counter() - started:.1f} s")
        print(f"{'export':<7}{'rows':>8}{'file MB':>9}{'first byte s':>14}{'total s':>9}"
              f"{'RSS before MB':>15}{'RSS growth MB':>15}{'traced peak MB':>16}")  # fmt: skip
        for name in ("csv", "xlsx"):
            child = subprocess.run(
                [sys.executable, __file__, "--measure", f"{database}:/plans/export.{name}"],
                check=True, capture_output=True, text=True,
            )  # fmt: skip
            r = json.loads(child.stdout.strip().splitlines()[-1])
            print(f"{name:<7}{args.rows:>8}{r['size'] / MB:>9.1f}{r['first']:>14.2f}{r['total']:>9.1f}"
                  f"{r['before'] / MB:>15.0f}{r['rss'] / MB:>15.1f}{r['traced'] / MB:>16.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
