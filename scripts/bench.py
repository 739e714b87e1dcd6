"""Build load data at each scale on each database and benchmark it (`make bench`).

For every database and scale: a database of its own (a SQLite file, or a PostgreSQL database that is
dropped and created), `migrate`, `generate_load_data --scale`, then `benchmark` with production
settings (DEBUG off). The figures go to BENCH_DATA_DIR/<database>-<scale>.json; at the end one Markdown
report with a table per run and a growth table per database is printed and saved as BENCH_DATA_DIR/results.md.

A database already built at a scale is reused (the generator takes minutes at national scale);
--rebuild builds it again. Every page is also timed with the cache emptied before each request
(--no-uncached leaves that out). On PostgreSQL the write latency of one organisation is then
measured (`benchmark_writes`: quiet, during a 10,000-finding import, while 20 people of other
organisations write) on a database of its own at small scale, built afresh each time since the
import adds to it; --no-writes skips it.
Only 127.0.0.1 is ever contacted.

    python scripts/bench.py --scales small medium national --databases sqlite postgresql
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
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tracker.settings")


def database_url(database: str, scale: str, bench_dir: Path, pg_base: str) -> str:
    if database == "sqlite":
        return f"sqlite:///{bench_dir / f'{scale}.sqlite3'}"
    return f"{pg_base.rstrip('/')}/rt_bench_{scale}"


def recreate(database: str, url: str) -> None:
    if database == "sqlite":
        path = Path(url.removeprefix("sqlite:///"))
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def analyze(database: str, url: str) -> None:
    """Planner statistics, for indexes a migration added to kept data."""
    if database == "sqlite":
        import sqlite3

        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            conn.execute("ANALYZE")
        return
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def manage(env: dict[str, str], *args: str, quiet: bool = False) -> None:
    command = [sys.executable, str(ROOT / "manage.py"), *args]
    print("$", " ".join(args), flush=True)
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL if quiet else None)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", nargs="+", default=["small", "medium", "national"])
    parser.add_argument("--databases", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"])
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--rebuild", action="store_true", help="Build the load data again even if present.")
    parser.add_argument("--uncached", action=argparse.BooleanOptionalAction, default=True,
                        help="Also time every page with the cache emptied before each request (default).")  # fmt: skip
    parser.add_argument("--no-writes", action="store_true", help="Skip the write latency run on PostgreSQL.")
    parser.add_argument("--writes", type=int, default=100, help="Timed writes per phase of the write run.")
    parser.add_argument("--write-findings", type=int, default=10_000, help="Findings imported during the write run.")
    parser.add_argument("--write-clients", type=int, default=20, help="People writing during the write run.")
    parser.add_argument("--bench-dir", type=Path, default=Path(os.environ.get("BENCH_DATA_DIR", "/tmp/rt-bench")))
    parser.add_argument(
        "--postgres", default=os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432"),
        help="PostgreSQL server (without database name); each scale gets database rt_bench_<scale>.",
    )  # fmt: skip
    options = parser.parse_args()
    bench_dir: Path = options.bench_dir
    bench_dir.mkdir(parents=True, exist_ok=True)

    base_env = {
        **os.environ,
        "DEBUG": "0",
        "SECRET_KEY": "benchmark-only-key-not-for-any-deployment-0123456789abcdefghijklmnop",
        "ALLOWED_HOSTS": "testserver",
        "TWO_FACTOR_REQUIRED_ROLES": "",
        "PYTHONHASHSEED": "0",
    }
    manage(base_env | {"DATABASE_URL": f"sqlite:///{bench_dir / 'static.sqlite3'}"}, "collectstatic", "--noinput",
           "-v0")  # fmt: skip

    import django

    django.setup()
    from devdata.benchmark import Result, growth_table, table

    results: dict[str, list[Result]] = {}
    for database in options.databases:
        for scale in options.scales:
            url = database_url(database, scale, bench_dir, options.postgres)
            env = base_env | {"DATABASE_URL": url}
            marker = bench_dir / f"{database}-{scale}.built"
            if options.rebuild or not marker.exists():
                marker.unlink(missing_ok=True)
                recreate(database, url)
                manage(env, "migrate", "--noinput", "-v0")
                start = time.perf_counter()
                manage(env, "generate_load_data", "--scale", scale)
                built = time.perf_counter() - start
                marker.write_text(f"{built:.1f}\n")
                print(f"generate_load_data --scale {scale} on {database}: {built:.0f} s", flush=True)
            else:
                manage(env, "migrate", "--noinput", "-v0")  # new indexes apply to kept data
                analyze(database, url)
            out = bench_dir / f"{database}-{scale}.json"
            manage(env, "benchmark", "--scale", scale, "--requests", str(options.requests), "--warmup",
                   str(options.warmup), "--json", str(out), "-v2", *(["--uncached"] if options.uncached else []),
                   quiet=True)  # fmt: skip
            results.setdefault(database, []).append(Result.from_json(out.read_text()))

    writes = None
    if "postgresql" in options.databases and not options.no_writes:
        from devdata.write_benchmark import WriteResult

        url = database_url("postgresql", "writes", bench_dir, options.postgres)
        env = base_env | {"DATABASE_URL": url}
        recreate("postgresql", url)
        manage(env, "migrate", "--noinput", "-v0")
        manage(env, "generate_load_data", "--scale", "small", quiet=True)
        out = bench_dir / "postgresql-writes.json"
        manage(env, "benchmark_writes", "--writes", str(options.writes), "--findings", str(options.write_findings),
               "--clients", str(options.write_clients), "--json", str(out), "-v2", quiet=True)  # fmt: skip
        writes = WriteResult.from_json(out.read_text())

    import platform

    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")), platform.processor(),
    ) if Path("/proc/cpuinfo").exists() else platform.processor()  # fmt: skip
    report = [
        f"Machine: {os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}, {platform.system()}.",
        f"Command: python scripts/bench.py --scales {' '.join(options.scales)} "
        f"--databases {' '.join(options.databases)} --requests {options.requests} --warmup {options.warmup}"
        + ("" if options.uncached else " --no-uncached")
        + (" --no-writes" if options.no_writes else ""),
        "",
    ]
    for runs in results.values():
        report += [growth_table(runs), ""]
        for result in runs:
            report += [table(result), ""]
    if writes is not None:
        from devdata.write_benchmark import table as write_table

        report += [write_table(writes), ""]
    text = "\n".join(report)
    (bench_dir / "results.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
