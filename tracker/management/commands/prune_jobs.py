from __future__ import annotations

import argparse
import datetime as dt

from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils import timezone

from tracker.models import Job


def positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return number


class Command(BaseCommand):
    help = "Delete finished background jobs older than --days, with their files (run it daily, as reminders are)."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--days",
            type=positive_int,
            default=settings.JOB_FILES_KEEP_DAYS,
            help=f"Keep jobs that finished within this many days (default JOB_FILES_KEEP_DAYS, "
            f"{settings.JOB_FILES_KEEP_DAYS}).",
        )

    def handle(self, *args, days: int, **options) -> None:
        cutoff = timezone.now() - dt.timedelta(days=days)
        old = Job.objects.filter(status__in=Job.FINISHED_STATUSES, finished_at__lt=cutoff)
        files = 0
        for job in old.exclude(file="").only("pk", "file"):
            job.file.delete(save=False)  # the file first: a row is never left pointing at nothing it made
            files += 1
        deleted, _ = old.delete()
        self.stdout.write(f"Deleted {deleted} finished job(s) older than {days} day(s) and {files} file(s).")
