"""manage.py move_files_to_storage [--from DIR] [--delete-local] [--dry-run]"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.storage import FileSystemStorage, storages
from django.core.management.base import BaseCommand, CommandError, CommandParser

from tracker import storage

PROGRESS_EVERY = 500


class Command(BaseCommand):
    help = (
        "Copy evidence files from a local folder into the configured object store (FILE_STORAGE) and verify "
        "each one's SHA-256 against the hash recorded at upload. Safe to run again. See docs/STORAGE.md."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--from", dest="source", default=str(settings.MEDIA_ROOT),
                            help="the local folder the files are in (default: MEDIA_ROOT)")  # fmt: skip
        parser.add_argument("--delete-local", action="store_true",
                            help="remove each local copy once its stored copy is verified")  # fmt: skip
        parser.add_argument("--dry-run", action="store_true", help="check and report; copy and delete nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        source = Path(options["source"])
        if isinstance(storages["default"], FileSystemStorage):
            raise CommandError("FILE_STORAGE is local: set FILE_STORAGE=azure or s3 (and its settings) first.")
        if not source.is_dir():
            raise CommandError(f"{source} is not a folder.")

        def progress(done: int, total: int) -> None:
            if done % PROGRESS_EVERY == 0 or done == total:
                self.stdout.write(f"  {done:,} of {total:,} checked")

        report = storage.move_local_files(
            source=source, delete_local=options["delete_local"], dry_run=options["dry_run"],
            progress=progress if options["verbosity"] > 0 else None,
        )  # fmt: skip
        copied = "would be copied" if options["dry_run"] else "copied and verified"
        self.stdout.write(f"Evidence files: {report.total:,}")
        self.stdout.write(f"  {copied}: {report.copied:,}")
        self.stdout.write(f"  already in the store, verified: {report.already_stored:,}")
        if options["delete_local"]:
            self.stdout.write(f"  local copies deleted: {report.local_deleted:,}")
        sections = [
            ("missing from both the folder and the store", report.missing),
            ("local copy does not match its recorded SHA-256 (not copied)", report.damaged_local),
            ("the store holds a different file under that name (left alone)", report.conflicts),
            ("copied but read back different (removed from the store)", report.failed_verification),
        ]
        for title, labels in sections:
            if labels:
                self.stdout.write(f"  {title}: {len(labels):,}")
                for label in labels:
                    self.stdout.write(f"    {label}")
        if report.unreferenced:
            self.stdout.write(f"Files under {source / 'evidence'} that no evidence names (left alone): "
                              f"{report.unreferenced:,}")  # fmt: skip
        if report.problems:
            raise CommandError(f"{report.problems:,} file(s) need attention (listed above).")
        if options["dry_run"]:
            self.stdout.write("Dry run: nothing was copied or deleted.")
        else:
            self.stdout.write(self.style.SUCCESS("Every evidence file is in the store with its recorded SHA-256."))
