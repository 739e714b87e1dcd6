#!/usr/bin/env python
"""Measure the evidence upload path (checks, malware scan, storage) and `move_files_to_storage`.

    .venv/bin/python scripts/measure_files.py [--runs-1mb 30] [--runs-20mb 12] [--files 2000]

Everything runs on 127.0.0.1: a throwaway SQLite database in a temporary directory (never the
configured one), Azurite and clamd started as the tests start them (tests/servers.py; clamd with the
one-signature test database, so scan times are a lower bound for production's full database).

1. Upload path: a staff member posts the plan page's progress form with one PDF of 1 MB or 20 MB
   through Django's test client (multipart parsing, the type and content checks, the scan, storing the
   file, the database writes), `--runs-*` times per set-up, and the p50/p95/max of the whole request
   are reported for: local folder without scanning (the embedded default), local folder with clamd,
   Azurite with clamd (production-like).
2. Moving files: `--files` evidence files (sizes spread from 20 KB to 2 MB, like scanned letters,
   minutes and spreadsheets) are written to a local folder, then `move_local_files` copies them into
   Azurite and reads each back to verify it; then it runs again (everything already there).

Results are in docs/STORAGE.md.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
MB = 1024 * 1024


def setup_django(workdir: Path) -> None:
    os.environ["DATABASE_URL"] = f"sqlite:///{workdir / 'db.sqlite3'}"
    os.environ["MEDIA_ROOT"] = str(workdir / "media")
    os.environ.update(DEBUG="1", DJANGO_SETTINGS_MODULE="tracker.settings", FILE_STORAGE="local", CLAMAV_ADDRESS="")
    import django

    django.setup()
    from django.core.management import call_command
    from django.test.utils import setup_test_environment

    setup_test_environment()
    call_command("migrate", verbosity=0)


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    p50, top = statistics.median(ordered), ordered[-1]
    return f"p50 {p50 * 1000:7.0f} ms   p95 {p95 * 1000:7.0f} ms   max {top * 1000:7.0f} ms"


def pdf_of(size: int, rng: random.Random) -> bytes:
    head = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n"
    tail = b"\ntrailer << /Root 1 0 R >>\n%%EOF\n"
    return head + rng.randbytes(size - len(head) - len(tail)) + tail


def measure_uploads(runs: dict[int, int], azurite: str, clamd: str) -> None:
    from django.conf import settings
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client
    from django.test.utils import override_settings
    from django.urls import reverse

    from tests import servers
    from tests.factories import ActionPlanFactory, StaffFactory
    from tracker.models import ActionPlan

    staff = StaffFactory()
    plan = ActionPlanFactory(organisation=staff.organisation, owner=staff)
    client = Client()
    client.force_login(staff)
    rng = random.Random(18)
    local = settings.STORAGES["default"]
    azure = servers.azure_storage(azurite)
    setups = [
        ("local folder, no scanning (embedded default)", local, ""),
        ("local folder, clamd", local, clamd),
        ("Azurite, clamd (production-like)", azure, clamd),
    ]
    print("\n== Upload path: the progress form with one PDF, whole request")
    for label, storage, scanner in setups:
        with override_settings(STORAGES={**settings.STORAGES, "default": storage}, CLAMAV_ADDRESS=scanner):
            for size, count in runs.items():
                data = pdf_of(size * MB, rng)
                samples = []
                for _ in range(count + 1):  # the first request warms up and is not counted
                    version = ActionPlan.objects.values_list("version", flat=True).get(pk=plan.pk)
                    started = time.perf_counter()
                    response = client.post(
                        reverse("tracker:plan-action", args=[plan.pk, "progress"]),
                        {"progress-version": version, "progress-note": "Measured upload.",
                         "progress-files": [SimpleUploadedFile("measured.pdf", data)]},
                    )  # fmt: skip
                    samples.append(time.perf_counter() - started)
                    if response.status_code != 302:
                        raise SystemExit(f"upload refused ({response.status_code}): {label}")
                print(f"{label:<48} {size:>2} MB x {count:<3} {percentiles(samples[1:])}")


def measure_move(files: int, azurite: str, workdir: Path) -> None:
    from django.conf import settings
    from django.test.utils import override_settings
    from django.utils import timezone

    from tests import servers
    from tests.factories import ActionPlanFactory, StaffFactory
    from tracker.models import Evidence, Update
    from tracker.storage import move_local_files

    source = workdir / "old-media"
    Evidence.objects.all().delete()  # the uploads measured above live elsewhere
    staff = StaffFactory()
    plan = ActionPlanFactory(organisation=staff.organisation, owner=staff)
    update = Update.objects.create(plan=plan, author=staff, kind=Update.Kind.PROGRESS, note="Old evidence.")
    rng = random.Random(2024)
    rows, total_bytes = [], 0
    for number in range(files):
        size = int(min(2 * MB, max(20 * 1024, rng.lognormvariate(12, 1.0))))  # median about 160 KB
        data = rng.randbytes(size)
        name = f"evidence/2024/{number % 12 + 1:02d}/{number:032x}"
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_bytes(data)
        total_bytes += size
        rows.append(Evidence(update=update, file=name, original_name=f"file-{number}.pdf", size=size,
                             sha256=hashlib.sha256(data).hexdigest(), content_type="application/pdf",
                             uploaded_by=staff, uploaded_at=timezone.now()))  # fmt: skip
    Evidence.objects.bulk_create(rows, batch_size=500)
    print(f"\n== move_files_to_storage: {files:,} files, {total_bytes / MB:,.0f} MB, into Azurite")
    with override_settings(STORAGES={**settings.STORAGES, "default": servers.azure_storage(azurite)}):
        for label in ("first run (copy and verify)", "second run (all already there)"):
            started = time.perf_counter()
            report = move_local_files(source=source)
            seconds = time.perf_counter() - started
            counts = f"copied {report.copied:,}, already {report.already_stored:,}, problems {report.problems}"
            print(f"{label:<34} {seconds:6.1f} s   {files / seconds:6.0f} files/s   {counts}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs-1mb", type=int, default=30)
    parser.add_argument("--runs-20mb", type=int, default=12)
    parser.add_argument("--files", type=int, default=2000)
    args = parser.parse_args()
    from tests import servers

    workdir = Path(tempfile.mkdtemp(prefix="tracker-measure-files-"))
    setup_django(workdir)
    azurite, clamd = servers.start_azurite(), servers.start_clamd()
    try:
        from azure.storage.blob import BlobServiceClient

        BlobServiceClient.from_connection_string(azurite.address).create_container(servers.AZURE_TEST_CONTAINER)
        print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start")
        measure_uploads({1: args.runs_1mb, 20: args.runs_20mb}, azurite.address, clamd.address)
        measure_move(args.files, azurite.address, workdir)
        print(f"load average {os.getloadavg()[0]:.1f} at the end")
    finally:
        azurite.stop()
        clamd.stop()


if __name__ == "__main__":
    main()
