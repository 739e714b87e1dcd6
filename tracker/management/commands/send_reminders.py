from __future__ import annotations

import argparse

from django.core.management.base import BaseCommand
from django.utils import timezone

from tracker import reminders, tasks


def non_negative_int(value: str) -> int:
    number = int(value)
    if number < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return number


class Command(BaseCommand):
    help = (
        "Queue today's reminder digests for a worker: one email per person of their due-soon, overdue and "
        "unowned action plans (once a day)."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--days",
            type=non_negative_int,
            default=reminders.DEFAULT_DAYS,
            help=f"'Due soon' means due within this many days (default {reminders.DEFAULT_DAYS}).",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Print each digest instead of sending it; write nothing."
        )

    def handle(self, *args, days: int, dry_run: bool, **options) -> None:
        today = timezone.localdate()
        if dry_run:
            digests = reminders.build_digests(today=today, days=days)
            already = reminders.already_sent_today([digest.user for digest in digests], today=today)
            for digest in digests:
                note = " (already sent today)" if digest.user.pk in already else ""
                self.stdout.write(f"To: {digest.user.email or '(no email address)'} [{digest.user.username}]{note}")
                self.stdout.write(f"Subject: {digest.subject}\n")
                self.stdout.write(digest.text_body())
                self.stdout.write("-" * 72)
            no_email = sum(1 for digest in digests if not digest.user.email)
            would_send = sum(1 for d in digests if d.user.email and d.user.pk not in already)
            self.stdout.write(
                f"Dry run: would send {would_send}, skipped (already sent today) {len(already)}, no email {no_email}."
            )
            return

        job = tasks.start_reminders(today=today, days=days)
        self.stdout.write(
            f"Queued today's reminder digests as job {job.pk}: a worker (manage.py db_worker) sends them, at most "
            "one per person per day."
        )
