"""manage.py import_findings FILE [--publish] [--dry-run] [--create-organisations] [--as USERNAME]"""

from __future__ import annotations

import getpass
import io
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser, OutputWrapper

from tracker import permissions, suggestions
from tracker.imports import services
from tracker.malware import check_for_malware
from tracker.models import User

# Below this many rows an import is over before a progress bar would be any use.
PROGRESS_MIN_ROWS = 1000


class ProgressBar:
    """A one-line text bar, redrawn in place; only used when stdout is a terminal."""

    def __init__(self, out: OutputWrapper, width: int = 30) -> None:
        self.out = out
        self.width = width

    def __call__(self, label: str, done: int, total: int) -> None:
        filled = self.width * done // total if total else self.width
        bar = "#" * filled + "." * (self.width - filled)
        self.out.write(f"\r{label:<9} [{bar}] {done}/{total}", ending="\n" if done >= total else "")
        self.out.flush()


class Command(BaseCommand):
    help = (
        "Import inspection findings from a CSV, XLSX or JSON file, all or nothing. Rows are numbered as a "
        "spreadsheet shows them: the header is row 1, so the first finding is row 2 (in a JSON list, item 1 is "
        "row 2). See docs/IMPORT.md."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="a .csv (UTF-8), .xlsx (first sheet) or .json (list of objects) file")
        parser.add_argument("--publish", action="store_true", help="open action plans for every addressee")
        parser.add_argument("--dry-run", action="store_true", help="check the file and report, writing nothing")
        parser.add_argument(
            "--create-organisations",
            action="store_true",
            help="create addressees not found by slug or name (kind 'other', slug made from the name)",
        )
        parser.add_argument(
            "--as",
            dest="as_user",
            metavar="USERNAME",
            default="",
            help="the administrator whose name the milestones' changes go on the plans' timelines under "
            "(needed when the file has milestones to add or change)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["file"])
        try:
            data = path.read_bytes()
        except OSError as error:
            raise CommandError(f"Cannot read {path}: {error.strerror}.") from error
        try:  # before reading a row, when a scanner is configured
            check_for_malware(
                io.BytesIO(data), name=path.name, user=f"{getpass.getuser()} (command line)", what="import"
            )
        except ValidationError as error:
            raise CommandError(error.messages[0]) from error
        user = None
        if options["as_user"]:
            user = User.objects.filter(username=options["as_user"], is_active=True).first()
            if user is None or not permissions.can_import(user):
                raise CommandError(f"--as {options['as_user']}: no active administrator has that username.")
        try:
            rows = services.read_rows(name=path.name, data=data)
            outcome = services.import_findings(
                user=user,
                rows=rows,
                create_organisations=options["create_organisations"],
                publish=options["publish"],
                dry_run=options["dry_run"],
                source=path.name,
                progress=ProgressBar(self.stdout) if self.stdout.isatty() and len(rows) >= PROGRESS_MIN_ROWS else None,
            )
        except (services.ImportFileError, services.ImportRejected) as error:
            raise CommandError(str(error)) from error
        for line in services.summary_lines(outcome, publish=options["publish"], list_all=options["verbosity"] > 1):
            self.stdout.write(line)
        if outcome.result is not None:
            written = [(row.inspection, row.reference) for row in outcome.plan.rows
                       if row.action in (services.Action.CREATE, services.Action.UPDATE)]  # fmt: skip
            for line in suggestions.summary_lines(written):
                self.stdout.write(line)
