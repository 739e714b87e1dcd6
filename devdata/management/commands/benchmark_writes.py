"""`manage.py benchmark_writes`: one organisation's write latency, quiet and while others write (PostgreSQL)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.test.utils import override_settings

from devdata import write_benchmark


class Command(BaseCommand):
    help = (
        "Time one organisation's comments quiet, during a findings import and while people of other "
        "organisations write (fill the database with generate_load_data first). Prints a table."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--writes", type=int, default=100, help="Timed writes per phase (default 100).")
        parser.add_argument("--findings", type=int, default=10_000, help="Findings imported meanwhile (10,000).")
        parser.add_argument("--clients", type=int, default=20, help="People writing meanwhile (default 20).")
        parser.add_argument("--json", type=Path, help="Also write the figures to this file.")
        parser.add_argument("--as-clients", default="", help=(
            "Instead: be the people writing meanwhile, one per organisation slug given (comma-separated), "
            "until a line arrives on standard input."
        ))  # fmt: skip

    def handle(self, *args: Any, **options: Any) -> None:
        if options["as_clients"]:
            write_benchmark.clients(options["as_clients"].split(","))
            return
        if options["writes"] < 1 or options["findings"] < 1 or options["clients"] < 1:
            raise CommandError("--writes, --findings and --clients must be at least 1.")
        log = (lambda line: self.stderr.write(line)) if options["verbosity"] > 1 else (lambda line: None)
        try:
            with tempfile.TemporaryDirectory() as work, override_settings(ALLOWED_HOSTS=["testserver"]):
                result = write_benchmark.run(
                    writes=options["writes"], findings=options["findings"], clients=options["clients"],
                    work_dir=Path(work), log=log,
                )  # fmt: skip
        except RuntimeError as error:
            raise CommandError(str(error)) from error
        if options["json"]:
            options["json"].write_text(result.to_json())
        self.stdout.write(write_benchmark.table(result))
