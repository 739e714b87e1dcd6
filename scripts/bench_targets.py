"""Measure only the rows with a target, at national scale, on databases already built (`make bench-targets`).

The national databases are not built here (that takes minutes): by default they are the ones `make bench`
keeps (BENCH_DATA_DIR/national.sqlite3 and rt_bench_national); any others filled with
`manage.py generate_load_data --scale national` may be given:

    BENCH_TARGETS_SQLITE=/path/to/national.sqlite3 \\
    BENCH_TARGETS_POSTGRES=postgres://postgres@127.0.0.1:5432/rt_bench_national make bench-targets

On each database: `migrate` (indexes added since the data was built), then `manage.py benchmark
--targets` (devdata.benchmark.TARGETS: the plan list, a plan's page, the dashboards and the searches,
each request after emptying the cache, with clock and processor time and the load average). On
PostgreSQL the write latency run follows (`manage.py benchmark_writes`: one organisation's comments
quiet, during a 10,000-finding import, beside a process keeping one processor busy, and while 20
people of other organisations write), on a copy of the national database made for the run and dropped
after it (the import adds to the data). The kept databases are left as they were, apart from migrations.
One table is printed at the end and saved as BENCH_DATA_DIR/targets.md. About 5-8 minutes on an idle
machine. Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tracker.settings")

from bench import analyze, manage  # noqa: E402


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def main() -> int:
    bench_dir = Path(os.environ.get("BENCH_DATA_DIR", "/tmp/rt-bench"))
    server = os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432").rstrip("/")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sqlite", type=Path,
                        default=Path(os.environ.get("BENCH_TARGETS_SQLITE", bench_dir / "national.sqlite3")),
                        help="SQLite file with national load data (BENCH_TARGETS_SQLITE).")  # fmt: skip
    parser.add_argument("--postgres", default=os.environ.get("BENCH_TARGETS_POSTGRES", f"{server}/rt_bench_national"),
                        help="PostgreSQL database with national load data (BENCH_TARGETS_POSTGRES).")  # fmt: skip
    parser.add_argument("--databases", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"])
    parser.add_argument("--requests", type=int, default=20, help="Timed requests per page (default 20).")
    parser.add_argument("--warmup", type=int, default=2, help="Untimed requests per page first (default 2).")
    parser.add_argument("--no-writes", action="store_true", help="Leave out the write latency run.")
    parser.add_argument("--writes", type=int, default=100, help="Timed writes per phase of the write run.")
    parser.add_argument("--write-findings", type=int, default=10_000, help="Findings imported during the write run.")
    parser.add_argument("--write-clients", type=int, default=20, help="People writing during the write run.")
    parser.add_argument("--out", type=Path, default=bench_dir, help="Where the JSON figures and targets.md go.")
    options = parser.parse_args()
    options.out.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()

    base_env = {
        **os.environ,
        "DEBUG": "0",
        "SECRET_KEY": "benchmark-only-key-not-for-any-deployment-0123456789abcdefghijklmnop",
        "ALLOWED_HOSTS": "testserver",
        "TWO_FACTOR_REQUIRED_ROLES": "",
        "PYTHONHASHSEED": "0",
    }
    base_env.pop("REDIS_URL", None)  # the per-process memory cache, as `make bench`: emptied before each request
    manage(base_env | {"DATABASE_URL": f"sqlite:///{options.out / 'static.sqlite3'}"}, "collectstatic", "--noinput",
           "-v0")  # fmt: skip

    import django

    django.setup()
    from devdata.benchmark import Result, targets_table
    from devdata.write_benchmark import WriteResult
    from devdata.write_benchmark import table as write_table

    urls = {"sqlite": f"sqlite:///{options.sqlite.resolve()}", "postgresql": options.postgres}
    if "sqlite" in options.databases and not options.sqlite.exists():
        parser.error(f"{options.sqlite} does not exist: build it with generate_load_data --scale national.")
    results = []
    for database in options.databases:
        env = base_env | {"DATABASE_URL": urls[database]}
        unapplied = subprocess.run([sys.executable, str(ROOT / "manage.py"), "migrate", "--check"], env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode  # fmt: skip
        if unapplied:  # indexes added since the data was built: apply them and give the planner their statistics
            manage(env, "migrate", "--noinput", "-v0")
            analyze(database, urls[database])
        out = options.out / f"targets-{database}.json"
        print(f"{database}: the target pages (load average {_load()})", flush=True)
        manage(env, "benchmark", "--targets", "--scale", "national", "--requests", str(options.requests),
               "--warmup", str(options.warmup), "--json", str(out), "-v2", quiet=True)  # fmt: skip
        results.append(Result.from_json(out.read_text()))

    writes = None
    if "postgresql" in options.databases and not options.no_writes:
        import psycopg

        source = options.postgres.rsplit("/", 1)[1]
        copy = f"{source}_writes"
        admin_url = options.postgres.rsplit("/", 1)[0] + "/postgres"
        print(f"postgresql: copying {source} to {copy} for the write run (load average {_load()})", flush=True)
        copying = time.perf_counter()
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{copy}" WITH (FORCE)')
            try:  # a copy of the files (after a checkpoint): much faster than the WAL-logged default for 2 GB
                conn.execute(f'CREATE DATABASE "{copy}" TEMPLATE "{source}" STRATEGY FILE_COPY')
            except psycopg.errors.SyntaxError:  # PostgreSQL before 15
                conn.execute(f'CREATE DATABASE "{copy}" TEMPLATE "{source}"')
        print(f"postgresql: copied in {time.perf_counter() - copying:.0f} s", flush=True)
        try:
            out = options.out / "targets-writes.json"
            manage(base_env | {"DATABASE_URL": f"{options.postgres.rsplit('/', 1)[0]}/{copy}"}, "benchmark_writes",
                   "--writes", str(options.writes), "--findings", str(options.write_findings), "--clients",
                   str(options.write_clients), "--json", str(out), "-v2", quiet=True)  # fmt: skip
            writes = WriteResult.from_json(out.read_text())
        finally:
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{copy}" WITH (FORCE)')

    report = [
        "### Targets at national scale, with the cache emptied before every request",
        "",
        f"{options.requests} timed requests per page after {options.warmup} warm-up; ms, server-side; cpu: processor "
        "time per request (on PostgreSQL this process's and its server process's); load: 1-minute load average "
        "at the start and end of the row. 'clock'/'cpu': whether the p95 of each is within the target.",
        "",
        targets_table(results),
        "",
    ]
    if writes is not None:
        report += [write_table(writes), ""]
    report.append(f"Whole run: {time.perf_counter() - began:.0f} s; load average at the end {_load()}.")
    text = "\n".join(report)
    (options.out / "targets.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
