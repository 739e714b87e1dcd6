#!/usr/bin/env python
"""Measure the documents for one organisation with many plans: the board pack PDF, and (once there)
the 56-day response as DOCX and PDF.

    .venv/bin/python scripts/measure_papers.py [--plans 2000] [--postgres postgres://user@host:5432/NAME]

Builds a throwaway SQLite database in a temporary directory (never the configured one), or with
--postgres a PostgreSQL database NAME that it creates and drops afterwards (refusing one that exists): one
organisation with N plans on N findings across 10 inspections (nine in ten of them in the first, the
one the 56-day response is measured on) (every status, a long finding text,
three timeline entries each, one in five plans deferred with a reason), and a manager of it. Each
document is then made as its page makes it (tracker.papers, from the same context), timed, with
the CPU time it used (the machine may be shared), Python's peak traced allocation (tracemalloc) and
the process's peak resident memory (VmHWM, reset before each). Prints the page counts and sizes too.

Results are in docs/BENCHMARKS.md ("Documents").
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import os
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from measure_exports import MB, setup_django  # noqa: E402 - scripts/ is not a package

TEXT = (
    "The force should make sure that it has enough trained intelligence analysts to understand the threats "
    "from serious and organised crime, and that intelligence reports are processed without delay ({i})."
)


def fill(plans: int) -> None:
    from django.utils import timezone

    from inspections.models import Finding, Grading, Inspection, Organisation, Region
    from tracker.models import ActionPlan, Update, User

    region = Region.objects.create(name="South East", slug="south-east")
    organisation = Organisation.objects.create(name="Big Force Police", short_name="Big", slug="big", region=region)
    inspections = Inspection.objects.bulk_create(
        Inspection(title=f"Inspection {i}", slug=f"inspection-{i}", published_on=dt.date(2026, 1, 1 + i))
        for i in range(10)
    )
    for inspection in inspections:
        Grading.objects.create(inspection=inspection, organisation=organisation, area="Serious and organised crime",
                               grade=Grading.Grade.REQUIRES_IMPROVEMENT)  # fmt: skip
    kinds = [Finding.Kind.CAUSE_OF_CONCERN, Finding.Kind.RECOMMENDATION, Finding.Kind.RECOMMENDATION,
             Finding.Kind.AREA_FOR_IMPROVEMENT]  # fmt: skip
    findings = Finding.objects.bulk_create(
        Finding(
            inspection=inspections[0 if i % 10 else i // 10 % 10],
            kind=kinds[i % 4],
            reference=f"R{i}",
            text=TEXT.format(i=i),
        )
        for i in range(plans)
    )
    for finding in findings:
        finding.addressed_to.add(organisation)
    staff = User.objects.create(username="owner", first_name="Jo", last_name="Evans", organisation=organisation,
                                role=User.Role.STAFF)  # fmt: skip
    User.objects.create(username="manager", organisation=organisation, role=User.Role.MANAGER)
    statuses = ActionPlan.Status.values
    today = timezone.localdate()
    now = timezone.now()
    made = ActionPlan.objects.bulk_create(
        ActionPlan(
            finding=finding,
            organisation=organisation,
            status=statuses[i % len(statuses)],
            owner=staff if i % 3 else None,
            target_date=today + dt.timedelta(days=i % 400 - 100),
            original_target_date=today + dt.timedelta(days=i % 400 - 160),
            percent_complete=(i * 13) % 101,
            deferral_count=1 if i % 5 == 0 else 0,
            summary="Analyst recruitment under way. " * 3,
            created_at=now - dt.timedelta(days=300),
            updated_at=now,
        )  # fmt: skip
        for i, finding in enumerate(findings)
    )
    Update.objects.bulk_create(
        Update(
            plan=plan, author=staff, kind=kind, note=f"{note} ({i}).", created_at=now - dt.timedelta(days=i % 200 + k)
        )
        for i, plan in enumerate(made)
        for k, (kind, note) in enumerate(
            [
                (Update.Kind.PROGRESS, "Two of four analyst posts filled; the third is advertised"),
                (Update.Kind.STATUS, "Waiting on vetting for the new analysts"),
                (
                    Update.Kind.TARGET_DATE if i % 5 == 0 else Update.Kind.COMMENT,
                    "Recruitment took longer than planned",
                ),
            ]
        )  # fmt: skip
    )


@contextlib.contextmanager
def database(url: str | None) -> Iterator[None]:
    """With `url`, a PostgreSQL database made for the measurement (and dropped after it) becomes the one
    setup_django uses; without it, the temporary SQLite file does."""
    if not url:
        yield
        return
    import psycopg

    server, name = url.rsplit("/", 1)
    with psycopg.connect(f"{server}/postgres", autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    os.environ["MEASURE_DATABASE_URL"] = url
    try:
        yield
    finally:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(f"{server}/postgres", autocommit=True) as connection:
            connection.execute(f'DROP DATABASE "{name}"')


def reset_peak_rss() -> None:
    Path("/proc/self/clear_refs").write_text("5")


def resident_now() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def peak_rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


TRACED = False  # --traced: make each document a second time under tracemalloc (slow) for its peak allocation


LAID_OUT: list = []  # the parts of the last PDF, as the processes that laid them out report them


def watch_layout() -> None:
    """Keep the parts each PDF is laid out in, for their processes' peak resident memory and CPU time."""
    from tracker import paper_layout

    original = paper_layout.lay_out_parts

    def lay_out_parts(*args, **kwargs):
        parts = original(*args, **kwargs)
        LAID_OUT.extend(parts)
        return parts

    paper_layout.lay_out_parts = lay_out_parts


def measure(name: str, make: Callable[[], bytes], pages: Callable[[bytes], int]) -> None:
    """Timed on its own (tracemalloc slows Python down several times), then with --traced made again under it.
    "CPU time" is this process's and that of the processes that laid out its parts; "peak resident" is
    this process's, then the largest of those processes'."""
    before = resident_now()
    reset_peak_rss()
    LAID_OUT.clear()
    started, cpu = time.perf_counter(), time.process_time()
    data = make()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    resident = peak_rss()
    parts = len(LAID_OUT)
    from django.conf import settings

    # Parts laid out in this process (one process) are in its own CPU time already.
    part_cpu = sum(part.cpu for part in LAID_OUT) if settings.PAPER_PROCESSES > 1 else 0
    part_peak = max((part.peak_resident for part in LAID_OUT), default=0)
    traced = "-"
    if TRACED:
        tracemalloc.start()
        make()
        traced = f"{tracemalloc.get_traced_memory()[1] / MB:.0f} MB"
        tracemalloc.stop()
    parts_cell = f"{parts} ({part_peak / MB:.0f} MB)" if parts else "-"
    print(f"| {name} | {seconds:.1f} s | {cpu + part_cpu:.1f} s | {os.getloadavg()[0]:.1f} | {pages(data)} | "
          f"{len(data) / MB:.1f} MB | {traced} | "
          f"{resident / MB:.0f} MB ({before / MB:.0f} before) | {parts_cell} |", flush=True)  # fmt: skip


def pdf_pages(data: bytes) -> int:
    import pypdf

    return len(pypdf.PdfReader(io.BytesIO(data)).pages)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plans", type=int, default=2000, help="action plans of the organisation (default 2000)")
    parser.add_argument("--traced", action="store_true", help="also the peak traced allocation (slow)")
    parser.add_argument("--postgres", metavar="URL", help="a PostgreSQL database to create, fill and drop")
    parser.add_argument("--no-chart", action="store_true", help="leave out the board pack without the chart")
    args = parser.parse_args()
    global TRACED
    TRACED = args.traced

    with tempfile.TemporaryDirectory(prefix="measure-papers-") as directory, database(args.postgres):
        setup_django(Path(directory) / "papers.sqlite3", migrate=True)
        started = time.perf_counter()
        fill(args.plans)
        print(f"Filled {args.plans:,} plans in {time.perf_counter() - started:.1f} s", flush=True)
        from django.utils import timezone

        from inspections.models import Organisation
        from tracker import papers
        from tracker.models import ActionPlan, User

        manager = User.objects.get(username="manager")
        organisation = Organisation.objects.get(slug="big")
        today = timezone.localdate()

        def board_pack(chart: bool) -> Callable[[], bytes]:
            def make() -> bytes:
                papers.start_layout()  # as the address and the worker do, before the queries
                context = papers.board_pack_context(
                    user=manager, plans=ActionPlan.objects.visible_to(manager), organisation=organisation,
                    since=today - dt.timedelta(days=90), today=today, chart=chart,
                )  # fmt: skip
                return papers.board_pack_pdf(context)

            return make

        watch_layout()
        print(
            "| document | time | CPU time | load | pages | size | peak traced (Python) | peak resident | "
            "parts (largest peak resident of their processes) |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|", flush=True)
        measure("board pack PDF, with the trend chart", board_pack(True), pdf_pages)
        if not args.no_chart:
            measure("board pack PDF, no chart", board_pack(False), pdf_pages)
        for name, make, pages in extra_measures(manager, organisation):
            measure(name, make, pages)


def extra_measures(manager, organisation) -> list[tuple[str, Callable[[], bytes], Callable[[bytes], int]]]:
    """The 56-day response to the inspection holding most of the plans, as DOCX and as PDF."""
    from inspections.models import Inspection
    from tracker import responses

    inspection = Inspection.objects.get(slug="inspection-0")

    def context() -> dict:
        return responses.response_context(user=manager, inspection=inspection, organisation=organisation)

    def docx_paragraphs(data: bytes) -> int:
        import docx

        return len(docx.Document(io.BytesIO(data)).paragraphs)

    count = inspection.findings.count()
    return [
        (f"56-day response DOCX ({count:,} findings; paragraphs, not pages)",
         lambda: responses.response_docx(context()), docx_paragraphs),
        (f"56-day response PDF ({count:,} findings)", lambda: responses.response_pdf(context()), pdf_pages),
    ]  # fmt: skip


if __name__ == "__main__":
    os.environ.setdefault("PROTECTIVE_MARKING", "OFFICIAL")
    main()
