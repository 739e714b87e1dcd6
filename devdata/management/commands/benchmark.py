"""`manage.py benchmark`: server-side p50/p95 and query counts of the main pages on the loaded data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from devdata import benchmark


class Command(BaseCommand):
    help = (
        "Time the main pages, their admin equivalents and a trivial logged-in view on the current database "
        "(fill it with generate_load_data first). Prints a table; --json saves the figures."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--requests", type=int, default=30, help="Timed requests per page (default 30).")
        parser.add_argument("--warmup", type=int, default=3, help="Untimed requests first (default 3).")
        parser.add_argument("--scale", default="", help="Label for the table, e.g. national.")
        parser.add_argument("--no-export", action="store_true", help="Skip the CSV export of every plan.")
        parser.add_argument("--only", action="append", default=[], help="Only pages whose name contains this.")
        parser.add_argument("--json", type=Path, help="Also write the figures to this file.")
        parser.add_argument(
            "--uncached", action="store_true", help="Also time each page with the cache emptied before every request."
        )
        parser.add_argument(
            "--targets",
            action="store_true",
            help="Only the pages with a target (devdata.benchmark.TARGETS), uncached, without the admin pages.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["requests"] < 1 or options["warmup"] < 0:
            raise CommandError("--requests must be at least 1 and --warmup at least 0.")
        log = (lambda line: self.stderr.write(line)) if options["verbosity"] > 1 else (lambda line: None)
        if options["targets"]:
            try:
                result = benchmark.run_targets(
                    database=connection.vendor, scale=options["scale"] or "current data",
                    requests=options["requests"], warmup=options["warmup"], only=options["only"], log=log,
                )  # fmt: skip
            except RuntimeError as error:
                raise CommandError(str(error)) from error
            if options["json"]:
                options["json"].write_text(result.to_json())
            self.stdout.write(benchmark.targets_table([result]))
            return
        try:
            result = benchmark.run(
                database=connection.vendor,
                scale=options["scale"] or "current data",
                requests=options["requests"],
                warmup=options["warmup"],
                export=not options["no_export"],
                only=options["only"],
                uncached=options["uncached"],
                log=log,
            )
        except RuntimeError as error:
            raise CommandError(str(error)) from error
        if options["json"]:
            options["json"].write_text(result.to_json())
        self.stdout.write(benchmark.table(result))
