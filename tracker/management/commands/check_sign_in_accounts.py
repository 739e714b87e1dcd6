from __future__ import annotations

import requests
from django.core.management.base import BaseCommand, CommandError

from tracker import sso


class Command(BaseCommand):
    help = "Ask the identity provider whether it still vouches for each single sign-on user; apply its answer."

    def handle(self, *args, **options) -> None:
        if not sso.enabled():
            raise CommandError("Single sign-on is off (OIDC_ISSUER is not set).")
        try:
            result = sso.check_accounts()
        except (requests.RequestException, ValueError) as error:
            raise CommandError(f"The identity provider could not be reached: {error}") from error
        for username in result.deactivated:
            self.stdout.write(f"Deactivated {username}: the provider no longer grants access.")
        for username in result.moved:
            self.stdout.write(f"Moved {username}: their groups changed at the provider.")
        for line in result.failed:
            self.stderr.write(f"Not checked: {line}")
        self.stdout.write(
            f"Checked {result.checked}, moved {len(result.moved)}, deactivated {len(result.deactivated)}, "
            f"failed {len(result.failed)}."
        )
        if result.failed:
            raise CommandError(f"{len(result.failed)} account(s) could not be checked; run again later.")
