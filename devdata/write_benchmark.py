"""Write latency of one organisation while others write (`manage.py benchmark_writes`, PostgreSQL).

One organisation's member adds comments to its plans through the page (POST /plans/<id>/comment/,
the whole middleware stack, in-process with Django's test client), one due every PACE seconds, each
timed from when it was due (so a write held up for seconds counts against every write due meanwhile).
Five phases on the same data:

- quiet: nothing else writes;
- import: meanwhile an inspector's import of FINDINGS findings with --publish (one transaction that
  creates the findings and a plan for every addressee) runs in another process;
- processor: meanwhile a process only keeps one processor busy (no database): a control, for what
  the import's process costs the others by its processor use alone;
- clients: meanwhile CLIENTS people of other organisations each add a comment or record progress
  every second or so, in another process (the workflow called directly: the database work of a
  page's write without rendering the page, so that the shared cores measure waiting for the
  database rather than for a processor).
- quiet again: the first phase repeated at the end. Its ratio to the first is the machine's own drift
  over the run (other work on a shared machine), not ours: a run whose two quiet phases differ much
  says little about the phases between them.

p50 and p95 of each phase, and loaded p95 against quiet p95 (the target: at most 1.5x). The load
average is taken at the start and end of each phase, since the machine's other work shows in the
figures too. `scripts/bench.py` runs it on a database of its own (`make bench`).
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.test import Client

from tracker.models import ActionPlan, User

S = ActionPlan.Status
PROGRESSING = (S.NOT_STARTED, S.IN_PROGRESS, S.BLOCKED)  # plans that take progress notes
PACE = 0.2  # seconds between two writes of the measured organisation
TARGET_RATIO = 1.5


@dataclass
class Phase:
    name: str
    writes: int
    p50_ms: float
    p95_ms: float
    max_ms: float
    load_before: float
    load_after: float
    seconds: float
    background: str = ""


@dataclass
class WriteResult:
    organisation: str
    findings: int
    clients: int
    phases: list[Phase] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> WriteResult:
        data = json.loads(text)
        data["phases"] = [Phase(**phase) for phase in data["phases"]]
        return cls(**data)


def _quantile(values: list[float], q: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


def _load() -> float:
    return os.getloadavg()[0]


class Writer:
    """The measured organisation's member, commenting on its plans in turn."""

    def __init__(self, user: User, plans: list[int]) -> None:
        self.client = Client(raise_request_exception=True)
        self.client.force_login(user)
        self.plans = plans
        self.count = 0

    def write(self) -> float:
        """One comment; returns the time it finished."""
        plan = self.plans[self.count % len(self.plans)]
        self.count += 1
        response = self.client.post(
            f"/plans/{plan}/comment/", {"comment-note": f"Benchmark comment {self.count}."}, secure=True
        )
        if response.status_code != 302:
            raise RuntimeError(f"A comment on plan {plan} answered {response.status_code}, not 302")
        return time.perf_counter()

    def phase(self, name: str, *, writes: int | None = None, until: Callable[[], bool] | None = None,
              background: str = "") -> Phase:  # fmt: skip
        """Writes due one every PACE seconds, each timed from when it was due: a write held up also
        counts against the writes that fell due while it waited (as they would for people sending them),
        rather than the wait showing once."""
        load_before, start = _load(), time.perf_counter()
        times: list[float] = []
        while (writes is not None and len(times) < writes) or (until is not None and not until()):
            due = start + len(times) * PACE
            time.sleep(max(0.0, due - time.perf_counter()))
            times.append((self.write() - due) * 1000)
        if not times:
            raise RuntimeError(f"No write was timed in the {name} phase")
        return Phase(
            name=name, writes=len(times), p50_ms=_quantile(times, 0.5), p95_ms=_quantile(times, 0.95),
            max_ms=max(times), load_before=load_before, load_after=_load(),
            seconds=time.perf_counter() - start, background=background,
        )  # fmt: skip


def _manage(*args: str) -> list[str]:
    return [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), *args]


def run(*, writes: int = 100, findings: int = 10_000, clients: int = 20, work_dir: Path,
        log: Callable[[str], None] = print) -> WriteResult:  # fmt: skip
    """The phases on the current database (load data: `generate_load_data`)."""
    if connection.vendor != "postgresql":
        raise RuntimeError("The write benchmark needs PostgreSQL: SQLite lets one writer at a time in.")
    organisations = (
        ActionPlan.objects.filter(organisation__slug__startswith="load-", status__in=PROGRESSING)
        .values_list("organisation_id", "organisation__slug")
        .distinct()
        .order_by("organisation__slug")
    )
    pairs = list(organisations)
    if len(pairs) < clients + 1:
        raise RuntimeError(f"Need {clients + 1} organisations with open plans: run generate_load_data first.")
    measured_id, measured_slug = pairs[0]
    user = User.objects.get(username=f"{measured_slug}-staff1")
    plans = list(
        ActionPlan.objects.filter(organisation_id=measured_id, status__in=ActionPlan.OPEN_STATUSES)
        .order_by("pk")
        .values_list("pk", flat=True)[:20]
    )
    writer = Writer(user, plans)
    for _ in range(5):  # warm-up
        writer.write()
        time.sleep(PACE)
    result = WriteResult(organisation=measured_slug, findings=findings, clients=clients)

    log(f"quiet: {writes} comments in {measured_slug}")
    result.phases.append(writer.phase("quiet", writes=writes))

    from .import_bench import write_csv

    work_dir.mkdir(parents=True, exist_ok=True)
    path = work_dir / f"findings-{findings}.csv"
    with path.open("w", encoding="utf-8", newline="") as out:
        write_csv(out, findings)
    log(f"import: {findings} findings with --publish in another process")
    started = time.perf_counter()
    importer = subprocess.Popen(
        _manage("import_findings", str(path), "--create-organisations", "--publish"),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    phase = writer.phase("import", until=lambda: importer.poll() is not None,
                         background=f"import of {findings:,} findings")  # fmt: skip
    _, errors = importer.communicate()
    if importer.returncode != 0:
        raise RuntimeError(f"The import failed: {errors.strip()[-2000:]}")
    phase.background += f" ({time.perf_counter() - started:.1f} s)"
    result.phases.append(phase)

    # A control: a process that only spins on one processor, as the import's process does for most of
    # its run. What this phase adds to the quiet figure is the processor, not waiting for the database.
    log("processor: a process spinning on one processor, no database")
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        result.phases.append(writer.phase("processor", writes=writes, background="one processor kept busy"))
    finally:
        spinner.kill()
        spinner.wait()

    others = ",".join(slug for _, slug in pairs[1 : clients + 1])
    log(f"clients: {clients} people of other organisations writing in another process")
    background = subprocess.Popen(
        _manage("benchmark_writes", "--as-clients", others), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert background.stdout is not None and background.stdin is not None
    if background.stdout.readline().strip() != "ready":
        raise RuntimeError(f"The clients did not start: {background.stderr.read() if background.stderr else ''}")
    phase = writer.phase("clients", writes=writes)
    out, errors = background.communicate("stop\n", timeout=120)
    if background.returncode != 0:
        raise RuntimeError(f"The clients failed: {errors.strip()[-2000:]}")
    phase.background = f"{clients} clients in other organisations: {out.strip()}"
    result.phases.append(phase)

    # Quiet again: nothing of ours runs, so how far this differs from the first phase is the machine's own
    # drift over the run (other work on it), against which the loaded phases' ratios are to be read.
    log("quiet again: the first phase repeated, for the machine's drift")
    result.phases.append(writer.phase("quiet again", writes=writes, background="nothing else (the machine's drift)"))
    return result


def clients(slugs: list[str], *, think: float = 1.0) -> None:
    """Run one person per organisation in `slugs`, each writing (a comment or progress, through the
    workflow) then pausing about `think` seconds, until a line arrives on standard input. Prints
    "ready" when all are signed in, and at the end how many writes were made and their p95."""
    from tracker import workflow

    stop = threading.Event()
    times: list[float] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def person(slug: str, seed: int) -> None:
        rng = random.Random(seed)
        try:
            user = User.objects.get(username=f"{slug}-staff2")
            plans = list(
                ActionPlan.objects.filter(organisation__slug=slug, status__in=PROGRESSING)
                .order_by("pk")
                .values_list("pk", flat=True)[:10]
            )
            ready.wait()
            n = 0
            while not stop.is_set():
                n += 1
                plan = ActionPlan.objects.get(pk=plans[n % len(plans)])
                start = time.perf_counter()
                if n % 2:
                    workflow.record_progress(plan=plan, user=user, note=f"Progress {n}.")
                else:
                    workflow.add_comment(plan=plan, user=user, note=f"Comment {n}.")
                with lock:
                    times.append((time.perf_counter() - start) * 1000)
                stop.wait(think * rng.uniform(0.5, 1.5))
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    ready = threading.Event()
    threads = [threading.Thread(target=person, args=(slug, index)) for index, slug in enumerate(slugs)]
    for thread in threads:
        thread.start()
    ready.set()
    print("ready", flush=True)
    sys.stdin.readline()
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    if errors:
        raise errors[0]
    print(f"{len(times)} writes, p95 {_quantile(times, 0.95):.1f} ms" if times else "no writes", flush=True)


def table(result: WriteResult) -> str:
    quiet = next(phase for phase in result.phases if phase.name == "quiet")
    lines = [
        f"### postgresql: write latency of {result.organisation} (a comment through the page)",
        "",
        f"One write due every {PACE} s, timed from when it was due; ms, server-side. "
        f"Target: loaded p95 at most {TARGET_RATIO}x quiet p95.",
        "",
        "| phase | meanwhile | writes | p50 | p95 | max | p95 / quiet p95 | load average (start, end) |",
        "|---|---|--:|--:|--:|--:|--:|--:|",
    ]
    for phase in result.phases:
        lines.append(
            f"| {phase.name} | {phase.background or '-'} | {phase.writes} | {phase.p50_ms:.1f} | "
            f"{phase.p95_ms:.1f} | {phase.max_ms:.1f} | {phase.p95_ms / quiet.p95_ms:.2f}x | "
            f"{phase.load_before:.2f}, {phase.load_after:.2f} |"
        )
    return "\n".join(lines)
