"""Server-side timings of the main pages on load data (`manage.py generate_load_data`).

Each page is requested in-process through the whole middleware stack with Django's test client, as the
user who would open it: a few warm-up requests are thrown away, then p50 and p95 are taken over the
repeated requests, and the SQL queries of one more request are counted. In the same run, and so on the
same data and machine state, two references are measured:

- the admin: the Django admin page a team would otherwise use for the same rows: the action plan
  changelist with the equivalent filters (for a plan's own page, the admin's page for that plan with
  its timeline inline);
- the floor: a trivial logged-in view (`FLOOR_PATH`) through the same middleware, which costs only
  what every request costs (session, authentication, CSRF, CSP, security headers).

`manage.py benchmark` runs it on the current database; `scripts/bench.py` (`make bench`) builds each
scale on each database and prints the tables that `docs/BENCHMARKS.md` records.
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import time
import tracemalloc
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.db import connection
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import path

from inspections.models import Finding, Inspection, Organisation
from tracker.models import ActionPlan, Update, User

FLOOR_PATH = "/_bench/floor/"
PER_PAGE = 25  # /plans/ page size
ADMIN_PER_PAGE = 100  # the admin's default list_per_page
ADMIN_PLANS = "/admin/tracker/actionplan/"


@login_required
def floor(request: HttpRequest) -> HttpResponse:
    """The cheapest logged-in page there can be."""
    return HttpResponse("ok", content_type="text/plain")


def _urlpatterns() -> list[Any]:
    from tracker import urls

    return [path(FLOOR_PATH.strip("/") + "/", floor), *urls.urlpatterns]


# Used as ROOT_URLCONF while benchmarking: the project's URLs plus the floor.
urlpatterns = _urlpatterns()
handler404 = "tracker.views.page_not_found"


@dataclass
class Case:
    name: str
    user: str
    path: str
    admin_path: str = ""


@dataclass
class Timing:
    p50_ms: float
    p95_ms: float
    queries: int
    status: int
    # Processor time per request (`ProcessorClock`): what the request cost, whatever else the machine ran.
    cpu_p50_ms: float = -1.0
    cpu_p95_ms: float = -1.0
    # The 1-minute load average when the measurement started and ended.
    load_start: float = -1.0
    load_end: float = -1.0


@dataclass
class Row:
    name: str
    path: str
    page: Timing
    admin: Timing | None = None
    admin_path: str = ""
    uncached: Timing | None = None  # every request with the cache emptied first (`--uncached`)


@dataclass
class Result:
    database: str
    scale: str
    counts: dict[str, int]
    requests: int
    warmup: int
    floor: Timing
    rows: list[Row] = field(default_factory=list)
    export: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    processor: str = ""  # whose processor time the cpu figures are (`ProcessorClock.covers`)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> Result:
        data = json.loads(text)
        data["floor"] = Timing(**data["floor"])
        data["rows"] = [
            Row(
                name=r["name"],
                path=r["path"],
                page=Timing(**r["page"]),
                admin=Timing(**r["admin"]) if r["admin"] else None,
                admin_path=r["admin_path"],
                uncached=Timing(**r["uncached"]) if r.get("uncached") else None,
            )
            for r in data["rows"]
        ]
        return cls(**data)


class ProcessorClock:
    """Processor time spent on the requests: this process's (`time.process_time`, every thread: on SQLite
    that is all of the work, Django's and the database's), plus, on PostgreSQL on this machine, that of the
    connection's server process (the first field of Linux's /proc/<pid>/schedstat: nanoseconds on a
    processor). On a machine shared with other work a request's clock time is partly waiting for a
    processor; its processor time is not."""

    def __init__(self) -> None:
        # Only a server on this machine: its process ids are this machine's.
        self.server_readable = connection.vendor == "postgresql" and connection.settings_dict.get("HOST") in (
            "", "127.0.0.1", "localhost", "::1",
        )  # fmt: skip

    def _server_pid(self) -> int | None:
        if connection.vendor != "postgresql" or not self.server_readable:
            return None
        connection.ensure_connection()
        return int(connection.connection.info.backend_pid)

    def _server_seconds(self, pid: int | None) -> float:
        if pid is None:
            return 0.0
        try:
            return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9
        except (OSError, ValueError, IndexError):
            self.server_readable = False  # another machine's server, or no /proc: this process only
            return 0.0

    def start(self) -> tuple[int | None, float, float]:
        pid = self._server_pid()
        return pid, time.process_time(), self._server_seconds(pid)

    def elapsed(self, started: tuple[int | None, float, float]) -> float:
        """Seconds of processor since `start`; the server's part only if the connection is still the same."""
        pid, python, server = started
        used = time.process_time() - python
        if pid is not None and self._server_pid() == pid:
            used += self._server_seconds(pid) - server
        return used

    def covers(self) -> str:
        if connection.vendor == "postgresql":
            return "this process and the PostgreSQL server process" if self.server_readable else "this process only"
        return "this process (with the database)"


class Bench:
    def __init__(self, *, requests: int = 30, warmup: int = 3, log: Callable[[str], None] = print) -> None:
        self.requests = requests
        self.warmup = warmup
        self.log = log
        self.clients: dict[str, Client] = {}
        self.processor = ProcessorClock()

    def client(self, username: str) -> Client:
        if username not in self.clients:
            client = Client(raise_request_exception=True)
            client.force_login(User.objects.get(username=username))
            self.clients[username] = client
        return self.clients[username]

    def _get(self, client: Client, url: str) -> tuple[int, int]:
        # secure=True: with DEBUG off every plain-http request would be a redirect to https.
        response = client.get(url, secure=True)
        size = 0
        if response.streaming:
            for chunk in response.streaming_content:
                size += len(chunk)
        else:
            size = len(response.content)
        return response.status_code, size

    def measure(self, username: str, url: str, *, uncached: bool = False) -> Timing:
        """p50 and p95 of `url`; with `uncached`, the cache is emptied before every request (outside the
        timing), so every cached figure is computed from the database."""
        client = self.client(username)
        load_start = os.getloadavg()[0]
        for _ in range(self.warmup):
            if uncached:
                cache.clear()
            self._get(client, url)
        times, cpu = [], []
        status = 0
        for _ in range(self.requests):
            if uncached:
                cache.clear()
            processor = self.processor.start()
            start = time.perf_counter()
            status, _size = self._get(client, url)
            times.append((time.perf_counter() - start) * 1000)
            cpu.append(self.processor.elapsed(processor) * 1000)
        load_end = os.getloadavg()[0]
        if uncached:
            cache.clear()
        with CaptureQueriesContext(connection) as queries:
            status, _size = self._get(client, url)
        if status != 200:
            raise RuntimeError(f"{url} as {username} answered {status}, not 200")
        return Timing(
            p50_ms=_quantile(times, 0.50), p95_ms=_quantile(times, 0.95), queries=len(queries), status=status,
            cpu_p50_ms=_quantile(cpu, 0.50), cpu_p95_ms=_quantile(cpu, 0.95), load_start=load_start,
            load_end=load_end,
        )  # fmt: skip

    def export(self, username: str, url: str, runs: int = 2) -> dict[str, float]:
        """Time and memory of a whole streamed export: the process's peak RSS growth (Linux) and the
        peak of Python allocations (tracemalloc, on a separate run because tracing slows it down)."""
        client = self.client(username)
        times, rss_growth, size = [], [], 0
        for _ in range(runs):
            gc.collect()
            before = _reset_peak_rss()
            start = time.perf_counter()
            status, size = self._get(client, url)
            times.append(time.perf_counter() - start)
            peak = _peak_rss()
            if status != 200:
                raise RuntimeError(f"{url} answered {status}")
            if before is not None and peak is not None:
                rss_growth.append((peak - before) / 2**20)
        gc.collect()
        tracemalloc.start()
        self._get(client, url)
        _current, traced_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        with CaptureQueriesContext(connection) as queries:
            self._get(client, url)
        return {
            "seconds": min(times),
            "seconds_max": max(times),
            "megabytes": size / 2**20,
            "rss_growth_mb": max(rss_growth) if rss_growth else -1.0,
            "traced_peak_mb": traced_peak / 2**20,
            "queries": len(queries),
            "lines": -1,
        }


def _quantile(values: list[float], q: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


def _reset_peak_rss() -> int | None:
    """Reset the kernel's high-water mark of this process and return the current RSS in bytes."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return _status_kb("VmRSS") * 1024
    except OSError:
        return None


def _peak_rss() -> int | None:
    try:
        return _status_kb("VmHWM") * 1024
    except OSError:
        return None


def _status_kb(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise OSError(key)


# --- what is measured ------------------------------------------------------------------------


def cases() -> tuple[list[Case], list[str]]:
    """The pages of the issue, on whatever data is loaded: picks the users and objects to open."""
    notes: list[str] = []
    inspector = User.objects.filter(role=User.Role.INSPECTOR, is_active=True).order_by("pk").first()
    admin = User.objects.filter(is_superuser=True, is_active=True).order_by("pk").first()
    if inspector is None or admin is None:
        raise RuntimeError("No inspector or superuser: run manage.py generate_load_data first.")
    # The organisation with the most plans, and its manager.
    busiest = Organisation.objects.annotate(n=Count("action_plans")).filter(n__gt=0).order_by("-n", "pk").first()
    if busiest is None:
        raise RuntimeError("No action plans: run manage.py generate_load_data first.")
    manager = User.objects.filter(organisation=busiest, role=User.Role.MANAGER, is_active=True).first()
    if manager is None:
        raise RuntimeError(f"{busiest} has no manager.")
    # The load data's plan with exactly 50 updates, else the plan with the most.
    from .loadgen import fifty_update_plan

    fifty = fifty_update_plan()
    plan_id = fifty.pk if fifty is not None else None
    if plan_id is None:
        most = Update.objects.values("plan").annotate(n=Count("pk")).order_by("-n", "plan")
        plan_id = most.values_list("plan", flat=True)[0]
        notes.append("No load data plan with 50 updates; the plan with the most is used.")
    plan = ActionPlan.objects.select_related("organisation").get(pk=plan_id)
    plan_manager = User.objects.filter(organisation=plan.organisation_id, role=User.Role.MANAGER).first()
    # The finding addressed to the most organisations (43 forces in the generated data).
    finding = Finding.objects.annotate(n=Count("action_plans")).order_by("-n", "pk").first()
    assert finding is not None
    # The inspection with the most plans.
    inspection = Inspection.objects.annotate(n=Count("findings__action_plans")).order_by("-n", "pk").first()
    assert inspection is not None

    total = ActionPlan.objects.count()
    last_page = max(1, -(-total // PER_PAGE))
    page = min(200, last_page)
    if page != 200:
        notes.append(f"Only {total:,} plans ({last_page} pages): page {page} stands for page 200.")
    admin_page = 1 + (page - 1) * PER_PAGE // ADMIN_PER_PAGE  # the admin page holding the same rows
    status = ActionPlan.Status.IN_PROGRESS
    org = busiest
    word = "analysts"
    # The admin changelist's column index for target_date (its "o" parameter is 1-based).
    from tracker.admin import ActionPlanAdmin

    target_col = ActionPlanAdmin.list_display.index("target_date") + 1
    i, m, a = inspector.username, manager.username, admin.username
    return [
        Case("/plans/", i, "/plans/", ADMIN_PLANS),
        Case(
            "/plans/ organisation + status",
            i,
            f"/plans/?organisation={org.slug}&status={status}",
            f"{ADMIN_PLANS}?organisation__id__exact={org.pk}&status__exact={status}",
        ),
        Case(f"/plans/ q={word}", i, f"/plans/?q={word}", f"{ADMIN_PLANS}?q={word}"),
        Case("/plans/ sorted by target date", i, "/plans/?sort=-target_date", f"{ADMIN_PLANS}?o=-{target_col}"),
        Case("/plans/ page 200", i, f"/plans/?page={page}", f"{ADMIN_PLANS}?p={admin_page}"),
        Case("/plans/ as manager", m, "/plans/", f"{ADMIN_PLANS}?organisation__id__exact={org.pk}"),
        Case(
            f"/plans/<id>/ ({plan.updates.count()} updates)",
            plan_manager.username if plan_manager else i,
            f"/plans/{plan.pk}/",
            f"{ADMIN_PLANS}{plan.pk}/change/",
        ),
        Case("/dashboard/ as manager", m, "/dashboard/", f"{ADMIN_PLANS}?organisation__id__exact={org.pk}"),
        Case("/dashboard/ as inspector", i, "/dashboard/", ADMIN_PLANS),
        Case(
            "/dashboard/ as inspector, one organisation",
            i,
            f"/dashboard/?organisation={org.slug}",
            f"{ADMIN_PLANS}?organisation__id__exact={org.pk}",
        ),
        Case(
            "/inspections/<slug>/",
            i,
            f"/inspections/{inspection.slug}/",
            f"{ADMIN_PLANS}?finding__inspection__id__exact={inspection.pk}",
        ),
        Case(
            f"/findings/<id>/ ({finding.n} organisations)",
            i,
            f"/findings/{finding.pk}/",
            f"{ADMIN_PLANS}?finding__id__exact={finding.pk}",
        ),
        Case("/api/v1/plans/", i, "/api/v1/plans/", ADMIN_PLANS),
        Case("/ (home) as inspector", i, "/", ""),
        # Search (tracker/search): a word in ~15% of 1,000,000 notes, a phrase, a rare word, either of two
        # words, a word with filters; as the inspector (every organisation) and the busiest manager.
        Case(f"/search/ q={word}", i, f"/search/?q={word}", f"{ADMIN_PLANS}?q={word}"),
        Case(f"/search/ q={word} as manager", m, f"/search/?q={word}", ""),
        Case('/search/ q="local profile"', i, "/search/?q=%22local+profile%22", ""),
        Case('/search/ q="local profile" as manager', m, "/search/?q=%22local+profile%22", ""),
        Case("/search/ q=procurement", i, "/search/?q=procurement", ""),
        Case("/search/ q=vetting OR corruption", i, "/search/?q=vetting+OR+corruption", ""),
        Case(
            f"/search/ q={word} notes of 2024",
            i,
            f"/search/?q={word}&kind=note&date_from=2024-01-01&date_to=2024-12-31",
            "",
        ),  # fmt: skip
        Case(f"/api/v1/search/ q={word}", i, f"/api/v1/search/?q={word}", ""),
        Case("/plans/ recurrences", i, "/plans/?recurrence=1", ""),
    ], notes + [f"Admin pages are opened as {a}."]


def run(
    *,
    database: str,
    scale: str,
    requests: int = 30,
    warmup: int = 3,
    export: bool = True,
    only: Iterable[str] = (),
    uncached: bool = False,
    log: Callable[[str], None] = print,
) -> Result:
    from django.test.utils import override_settings

    bench = Bench(requests=requests, warmup=warmup, log=log)
    counts = {
        "organisations": Organisation.objects.count(),
        "inspections": Inspection.objects.count(),
        "findings": Finding.objects.count(),
        "plans": ActionPlan.objects.count(),
        "updates": Update.objects.count(),
    }
    with override_settings(ROOT_URLCONF="devdata.benchmark", ALLOWED_HOSTS=["testserver"]):
        case_list, notes = cases()
        admin_user = User.objects.filter(is_superuser=True, is_active=True).order_by("pk").first()
        assert admin_user is not None
        inspector = case_list[0].user
        log(f"floor {FLOOR_PATH}")
        result = Result(
            database=database,
            scale=scale,
            counts=counts,
            requests=requests,
            warmup=warmup,
            floor=bench.measure(inspector, FLOOR_PATH),
            notes=notes,
        )
        only = list(only)
        for case in case_list:
            if only and not any(o in case.name for o in only):
                continue
            log(f"{case.name}: {case.path}")
            page = bench.measure(case.user, case.path)
            admin = bench.measure(admin_user.username, case.admin_path) if case.admin_path else None
            cold = bench.measure(case.user, case.path, uncached=True) if uncached else None
            result.rows.append(Row(case.name, case.path, page, admin, case.admin_path, cold))
        if export:
            log("/plans/export.csv")
            result.export = bench.export(inspector, "/plans/export.csv")
            result.export["lines"] = ActionPlan.objects.count()
    result.processor = bench.processor.covers()
    return result


# --- the targets -----------------------------------------------------------------------------

# The measured targets at national scale (docs/BENCHMARKS.md, "Targets"): a page of `cases()` (by the start
# of its name) and the most its p95 may take, in ms, on each database, with the cache emptied before every
# request. `scripts/bench_targets.py` (`make bench-targets`) measures these rows alone.
LIST, DASHBOARD = {"sqlite": 50.0, "postgresql": 50.0}, {"sqlite": 150.0, "postgresql": 150.0}
SEARCH = {"sqlite": 200.0, "postgresql": 100.0}
TARGETS: list[tuple[str, dict[str, float]]] = [
    ("/plans/", LIST),
    ("/plans/ as manager", LIST),
    ("/plans/<id>/", LIST),
    ("/dashboard/ as inspector", DASHBOARD),
    ("/dashboard/ as inspector, one organisation", DASHBOARD),
    ("/dashboard/ as manager", DASHBOARD),
    ("/search/ q=analysts", SEARCH),
    ("/search/ q=analysts as manager", SEARCH),
    ('/search/ q="local profile"', SEARCH),
    ("/search/ q=procurement", SEARCH),
    ("/search/ q=vetting OR corruption", SEARCH),
    ("/search/ q=analysts notes of 2024", SEARCH),
    ("/api/v1/search/ q=analysts", SEARCH),
]


def _target_of(name: str) -> dict[str, float] | None:
    for prefix, limits in TARGETS:
        if name == prefix or (name.startswith(prefix + " (") and prefix.endswith("/")):
            return limits
    return None


def run_targets(*, database: str, scale: str, requests: int = 20, warmup: int = 2, only: Iterable[str] = (),
                log: Callable[[str], None] = print) -> Result:  # fmt: skip
    """The target rows only, uncached (each request after emptying the cache), with the floor; `only`
    narrows them to those whose name contains one of its strings."""
    only = list(only)
    from django.test.utils import override_settings

    bench = Bench(requests=requests, warmup=warmup, log=log)
    counts = {
        "organisations": Organisation.objects.count(),
        "inspections": Inspection.objects.count(),
        "findings": Finding.objects.count(),
        "plans": ActionPlan.objects.count(),
        "updates": Update.objects.count(),
    }
    with override_settings(ROOT_URLCONF="devdata.benchmark", ALLOWED_HOSTS=["testserver"]):
        case_list, notes = cases()
        result = Result(database=database, scale=scale, counts=counts, requests=requests, warmup=warmup,
                        floor=bench.measure(case_list[0].user, FLOOR_PATH), notes=notes[:-1])  # fmt: skip
        for case in case_list:
            if _target_of(case.name) is None or (only and not any(o in case.name for o in only)):
                continue
            log(f"{case.name}: {case.path} (uncached)")
            cold = bench.measure(case.user, case.path, uncached=True)
            result.rows.append(Row(case.name, case.path, cold, uncached=cold))
    result.processor = bench.processor.covers()
    return result


def targets_table(results: list[Result]) -> str:
    """Each target row on each database: clock and processor p50/p95 (uncached), queries, the limit, and
    the load average during the row."""
    lines = [
        "| database | page | p50 | p95 | cpu p50 | cpu p95 | queries | target p95 | clock | cpu | load |",
        "|---|---|--:|--:|--:|--:|--:|--:|---|---|--:|",
    ]
    for result in results:
        for row in result.rows:
            limits = _target_of(row.name)
            if limits is None or row.uncached is None:
                continue
            limit, u = limits[result.database], row.uncached
            lines.append(
                f"| {result.database} | {row.name} | {u.p50_ms:.1f} | {u.p95_ms:.1f} | {_cpu(u)} | {u.queries} | "
                f"{limit:.0f} | {'met' if u.p95_ms <= limit else 'over'} | "
                f"{'met' if 0 <= u.cpu_p95_ms <= limit else 'over'} | {_loads(u)} |"
            )
        f = result.floor
        lines.append(
            f"| {result.database} | floor (trivial logged-in view) | {f.p50_ms:.1f} | {f.p95_ms:.1f} | {_cpu(f)} | "
            f"{f.queries} | - | - | - | {_loads(f)} |"
        )
    return "\n".join(lines)


# --- tables ----------------------------------------------------------------------------------


def _ratio(a: float, b: float, digits: int = 1) -> str:
    return f"{a / b:.{digits}f}x" if b else "-"


def _cpu(timing: Timing) -> str:
    return f"{timing.cpu_p50_ms:.1f} | {timing.cpu_p95_ms:.1f}" if timing.cpu_p50_ms >= 0 else "- | -"


def _loads(*timings: Timing | None) -> str:
    """The load average at the start of the row's first measurement and at the end of its last."""
    taken = [t for t in timings if t is not None and t.load_start >= 0]
    return f"{taken[0].load_start:.1f}-{taken[-1].load_end:.1f}" if taken else "-"


def table(result: Result) -> str:
    """One scale on one database: every page (clock and processor time), its admin equivalent, the
    floor, and the page with the cache emptied before every request."""
    c = result.counts
    cold = any(row.uncached for row in result.rows)
    floor = result.floor
    lines = [
        f"### {result.database}, {result.scale}: {c['organisations']} organisations, {c['inspections']} inspections, "
        f"{c['findings']:,} findings, {c['plans']:,} plans, {c['updates']:,} updates",
        "",
        f"{result.requests} timed requests per page after {result.warmup} warm-up; times in ms, server-side; "
        f"cpu: processor time per request ({result.processor or 'this process'}); load: the 1-minute load "
        f"average at the start of the row's first measurement and the end of its last. Floor (trivial "
        f"logged-in view): p50 {floor.p50_ms:.1f}, p95 {floor.p95_ms:.1f}, cpu p50 {floor.cpu_p50_ms:.1f}, "
        f"{floor.queries} queries.",
        "",
        "| page | p50 | p95 | cpu p50 | cpu p95 | queries | admin p50 | admin p95 | admin queries | page/admin (p95) "
        "| page/floor (p95) |"
        + (" uncached p50 | uncached p95 | uncached cpu p50 | uncached cpu p95 | uncached queries |" if cold else "")
        + " load |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|" + ("--:|--:|--:|--:|--:|" if cold else "") + "--:|",
    ]
    for row in result.rows:
        a, u = row.admin, row.uncached
        lines.append(
            f"| {row.name} | {row.page.p50_ms:.1f} | {row.page.p95_ms:.1f} | {_cpu(row.page)} | {row.page.queries} | "
            + (f"{a.p50_ms:.1f} | {a.p95_ms:.1f} | {a.queries} | {_ratio(row.page.p95_ms, a.p95_ms, 2)} | " if a else
               "- | - | - | - | ")
            + f"{_ratio(row.page.p95_ms, result.floor.p95_ms)} |"
            + ((f" {u.p50_ms:.1f} | {u.p95_ms:.1f} | {_cpu(u)} | {u.queries} |" if u else " - | - | - | - | - |")
               if cold else "")
            + f" {_loads(row.page, a, u)} |"
        )  # fmt: skip
    if result.export:
        e = result.export
        lines += [
            "",
            f"`/plans/export.csv` of {int(e['lines']):,} rows ({e['megabytes']:.1f} MB): {e['seconds']:.1f} s "
            f"(slowest of the runs {e['seconds_max']:.1f} s), peak RSS growth {e['rss_growth_mb']:.1f} MB, "
            f"peak traced Python allocations {e['traced_peak_mb']:.1f} MB, {int(e['queries'])} queries.",
        ]
    if result.notes:
        lines += ["", *[f"- {note}" for note in result.notes]]
    return "\n".join(lines)


def growth_table(results: list[Result]) -> str:
    """p95 and queries of each page at each scale, and how much p95 grew from the first to the last."""
    if not results:
        return ""
    first, last = results[0], results[-1]
    head = " | ".join(f"{r.scale} p95" for r in results)
    queries = " | ".join(f"{r.scale} queries" for r in results)
    lines = [
        f"### {first.database}: growth from {first.scale} ({first.counts['plans']:,} plans) "
        f"to {last.scale} ({last.counts['plans']:,} plans)",
        "",
        f"| page | {head} | growth | {queries} |",
        "|---|" + "--:|" * (2 * len(results) + 1),
    ]
    names = [row.name for row in first.rows]
    for index, name in enumerate(names):
        rows = [r.rows[index] if index < len(r.rows) else None for r in results]
        p95s = " | ".join(f"{row.page.p95_ms:.1f}" if row else "-" for row in rows)
        qs = " | ".join(str(row.page.queries) if row else "-" for row in rows)
        growth = _ratio(rows[-1].page.p95_ms, rows[0].page.p95_ms) if rows[0] and rows[-1] else "-"
        lines.append(f"| {_generic(name)} | {p95s} | {growth} | {qs} |")
    floor = " | ".join(f"{r.floor.p95_ms:.1f}" for r in results)
    fq = " | ".join(str(r.floor.queries) for r in results)
    lines.append(f"| floor | {floor} | {_ratio(last.floor.p95_ms, first.floor.p95_ms)} | {fq} |")
    if all(r.export for r in results):
        secs = " | ".join(f"{r.export['seconds']:.2f} s" for r in results)
        mem = " | ".join(f"{r.export['rss_growth_mb']:.0f} MB" for r in results)
        lines.append(f"| export.csv time | {secs} | | |")
        lines.append(f"| export.csv peak RSS growth | {mem} | | |")
    return "\n".join(lines)


def _generic(name: str) -> str:
    """Row names carry scale-dependent details (page number, update count); keep the first word group."""
    return name.split(" (")[0] if name.startswith(("/plans/<id>/", "/findings/")) else name
