"""Load the South East SOC 2024 demo (DESIGN section 7). The work is in `devdata.demo`."""

from __future__ import annotations

import os

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from devdata import demo


class Command(BaseCommand):
    help = "Load or refresh the South East SOC 2024 demo: organisations, findings, users and plans in every state."

    def add_arguments(self, parser) -> None:  # type: ignore[no-untyped-def]
        parser.add_argument(
            "--password",
            help="Password for every demo account (default: $DEMO_PASSWORD; with DEBUG on, "
            f'"{demo.DEFAULT_PASSWORD}").',
        )

    def handle(self, *args: object, password: str | None = None, **options: object) -> None:
        password = password or os.environ.get("DEMO_PASSWORD")
        if not password:
            if not settings.DEBUG:
                raise CommandError(
                    "DEBUG is off: refusing to create demo accounts with the default password. "
                    "Give one with --password or the DEMO_PASSWORD environment variable."
                )
            password = demo.DEFAULT_PASSWORD

        result = demo.seed_demo(password=password)

        if result.workflow_driven:
            self.stdout.write(f"Demo loaded: {result.plan_count} action plans in every status.")
        else:
            self.stdout.write(f"Demo already loaded ({result.plan_count} action plans); accounts refreshed.")
        self.stdout.write("\nDemo accounts (all use the same password):")
        width = max(len(account.username) for account in result.accounts)
        for account in result.accounts:
            self.stdout.write(f"  {account.username:<{width}}  {account.description}")
        self.stdout.write(f"\nPassword: {password}")
        self.stdout.write(self.style.SUCCESS(f"Open {settings.SITE_URL}"))
