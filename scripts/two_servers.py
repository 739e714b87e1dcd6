"""Two app servers, one database: nothing is lost under concurrent load.

Creates a throwaway PostgreSQL database (migrated, demo loaded), starts two gunicorn instances on
loopback ports against it with production settings, and drives simulated people through both for a
fixed time: each signs in, then alternates between the servers, mostly reading pages (home, the plan
list with filters, plan pages, the dashboard, inspections) and sometimes recording progress on one of
their organisation's plans (the plan page's form, with its version, as a browser sends it).

Then it checks, against the database: every progress update that was accepted (a redirect back to the
plan) exists exactly once, no update exists that was not accepted, each plan's version rose by its
accepted updates, and no response was a server error (5xx). Conflicts (409, someone else changed the
plan first) are expected and counted. It prints throughput and latency percentiles and exits non-zero
if any check fails. The servers are always stopped and the database dropped.

    .venv/bin/python scripts/two_servers.py --clients 50 --duration 60 --ports 8121,8122 \\
        --database-url postgres://postgres@127.0.0.1:5432/tracker_loadcheck
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from stack import DEFAULT_DATABASE_URL, Browser, Stack, ports_from

WRITERS = ["hampshire.staff", "hampshire.manager", "surrey.staff", "surrey.manager"]
READERS = ["inspector"]
PROGRESS_STATES = ("not_started", "in_progress", "blocked")
VERSION_FIELD = re.compile(r'name="progress-version" value="(\d+)"')
READ_PATHS = [
    "/",
    "/plans/",
    "/plans/?status=in_progress",
    "/plans/?q=analyst",
    "/plans/?overdue=1&sort=-updated",
    "/dashboard/",
    "/inspections/",
    "/inspections/south-east-soc-2024/",
]


@dataclass
class Sample:
    kind: str  # "read", "write-page" (the plan page before a write), "write"
    status: int
    seconds: float
    server: int


@dataclass
class Results:
    samples: list[Sample] = field(default_factory=list)
    accepted: list[tuple[int, str]] = field(default_factory=list)  # (plan id, note)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, sample: Sample) -> None:
        with self.lock:
            self.samples.append(sample)


def writable_plans(stack: Stack) -> dict[str, list[int]]:
    """Plan ids per organisation slug on which progress can be recorded."""
    with stack.connect() as conn:
        rows = conn.execute(
            "SELECT o.slug, p.id FROM tracker_actionplan p JOIN inspections_organisation o ON o.id = p.organisation_id"
            " WHERE p.status = ANY(%s) ORDER BY p.id",
            (list(PROGRESS_STATES),),
        ).fetchall()
    plans: dict[str, list[int]] = {}
    for slug, pk in rows:
        plans.setdefault(slug, []).append(pk)
    return plans


def plan_state(stack: Stack) -> dict[int, int]:
    with stack.connect() as conn:
        return dict(conn.execute("SELECT id, version FROM tracker_actionplan").fetchall())


def load_notes(stack: Stack) -> Counter[str]:
    with stack.connect() as conn:
        rows = conn.execute("SELECT note FROM tracker_update WHERE note LIKE 'Load check %%'").fetchall()
    return Counter(note for (note,) in rows)


def person(index: int, username: str, stack: Stack, plans: list[int], write_share: float, deadline: float,
           results: Results, seed: int) -> None:  # fmt: skip
    rng = random.Random(seed)
    urls = stack.base_urls()
    browser = Browser(urls[index % len(urls)])
    try:
        browser.log_in(username, stack.password)
    except Exception as error:  # recorded; the run then fails its checks
        results.errors.append(f"client {index} ({username}) could not sign in: {error}")
        return
    n = 0
    while time.monotonic() < deadline:
        n += 1
        server = (index + n) % len(urls)  # the same session alternates between both servers
        base = urls[server]
        try:
            if plans and rng.random() < write_share:
                pk = rng.choice(plans)
                page = browser.get(f"/plans/{pk}/", base_url=base)
                results.add(Sample("write-page", page.status, page.seconds, server))
                match = VERSION_FIELD.search(page.body)
                if page.status != 200 or not match:
                    continue  # the plan left the states that take progress
                note = f"Load check client {index} request {n}"
                reply = browser.post(
                    f"/plans/{pk}/progress/",
                    {"progress-note": note, "progress-percent_complete": rng.randint(0, 100),
                     "progress-version": match.group(1)},
                    base_url=base,
                )  # fmt: skip
                results.add(Sample("write", reply.status, reply.seconds, server))
                if reply.status == 302 and reply.headers.get("location") == f"/plans/{pk}/":
                    with results.lock:
                        results.accepted.append((pk, note))
            else:
                path = rng.choice(READ_PATHS + ([f"/plans/{rng.choice(plans)}/"] if plans else []))
                reply = browser.get(path, base_url=base)
                results.add(Sample("read", reply.status, reply.seconds, server))
        except OSError as error:  # a refused or timed-out connection: counted as a failure
            results.errors.append(f"client {index}: {type(error).__name__}: {error}")
            results.add(Sample("error", 599, 0.0, server))


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(fraction * 100) - 1]


def summarise(results: Results, elapsed: float, added: Counter[str], before: dict[int, int],
              after: dict[int, int]) -> dict[str, object]:  # fmt: skip
    samples = results.samples
    statuses = Counter(s.status for s in samples)
    per_kind = {}
    for kind in ("read", "write-page", "write"):
        times = [s.seconds for s in samples if s.kind == kind]
        per_kind[kind] = {
            "requests": len(times),
            "p50_ms": round(1000 * percentile(times, 0.50), 1),
            "p95_ms": round(1000 * percentile(times, 0.95), 1),
        }
    all_times = [s.seconds for s in samples if s.kind != "error"]
    accepted_notes = Counter(note for _, note in results.accepted)
    expected_bumps = Counter(pk for pk, _ in results.accepted)
    version_mismatch = {
        pk: (after.get(pk, 0) - version, expected_bumps.get(pk, 0))
        for pk, version in before.items()
        if after.get(pk, 0) - version != expected_bumps.get(pk, 0)
    }
    writes = [s for s in samples if s.kind == "write"]
    return {
        "seconds": round(elapsed, 1),
        "requests": len(samples),
        "throughput_rps": round(len(samples) / elapsed, 1) if elapsed else 0.0,
        "p50_ms": round(1000 * percentile(all_times, 0.50), 1),
        "p95_ms": round(1000 * percentile(all_times, 0.95), 1),
        "by_kind": per_kind,
        "by_server": dict(Counter(s.server for s in samples)),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "server_errors_5xx": sum(v for k, v in statuses.items() if 500 <= k < 599),
        "client_errors": len(results.errors),
        "writes_sent": len(writes),
        "writes_accepted": len(results.accepted),
        "writes_conflict_409": sum(1 for s in writes if s.status == 409),
        "updates_in_database": sum(added.values()),
        "updates_lost": sum((accepted_notes - added).values()),
        "updates_unexpected": sum((added - accepted_notes).values()),
        "plans_with_wrong_version": len(version_mismatch),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duration", type=float, default=60, help="seconds of load")
    parser.add_argument("--write-share", type=float, default=0.3, help="share of iterations that record progress")
    parser.add_argument("--ports", default="auto", help="two ports, e.g. 8121,8122 (default: any free ports)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers per server")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker")
    parser.add_argument("--database-url", default=os.environ.get("LOADCHECK_DATABASE_URL", DEFAULT_DATABASE_URL))
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--keep-database", action="store_true")
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args()
    if not args.database_url.startswith(("postgres://", "postgresql://")):
        raise SystemExit("The load check needs PostgreSQL: give --database-url postgres://...")
    if not 1 <= args.clients <= 200 or not 0 < args.duration <= 600:
        raise SystemExit("Keep it bounded: 1-200 clients, at most 600 seconds.")

    stack = Stack(args.database_url, ports_from(args.ports, 2), workers=args.workers, threads=args.threads,
                  keep_database=args.keep_database)  # fmt: skip
    print(f"Setting up {stack.database_name} and two servers on ports {stack.ports} ...", flush=True)
    with stack:
        plans = writable_plans(stack)
        before = plan_state(stack)
        results = Results()
        deadline = time.monotonic() + args.duration
        threads = []
        for index in range(args.clients):
            username = (WRITERS + READERS)[index % (len(WRITERS) + len(READERS))]
            own = plans.get(username.split(".")[0], []) if username in WRITERS else []
            thread = threading.Thread(
                target=person,
                args=(index, username, stack, own, args.write_share, deadline, results, args.seed + index),
                daemon=True,
            )
            threads.append(thread)
        print(f"Driving {args.clients} clients for {args.duration:.0f}s ...", flush=True)
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=args.duration + 120)
        elapsed = time.monotonic() - started
        if any(thread.is_alive() for thread in threads):
            results.errors.append("some clients did not finish")
        figures = summarise(results, elapsed, load_notes(stack), before, plan_state(stack))
        logs = stack.logs()

    print(json.dumps(figures, indent=2))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(figures, handle, indent=2)
    failures = [
        name
        for name in ("server_errors_5xx", "client_errors", "updates_lost", "updates_unexpected",
                     "plans_with_wrong_version")
        if figures[name]
    ]  # fmt: skip
    if not figures["writes_accepted"]:
        failures.append("no write was accepted")
    for error in results.errors[:10]:
        print(f"error: {error}", file=sys.stderr)
    if failures:
        print(f"FAILED: {', '.join(failures)}\n{logs}", file=sys.stderr)
        return 1
    print(
        f"OK: {figures['requests']} requests through two servers, {figures['writes_accepted']} updates accepted "
        f"and all in the database, 0 lost, 0 server errors; {figures['throughput_rps']} req/s, "
        f"p50 {figures['p50_ms']} ms, p95 {figures['p95_ms']} ms."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
