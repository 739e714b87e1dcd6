"""Generate load data for benchmarks: up to ten years of national use. The work is in `devdata.loadgen`."""

from __future__ import annotations

from dataclasses import replace

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from devdata import loadgen


class Command(BaseCommand):
    help = (
        "Generate load data with bulk inserts: regions, organisations (43 forces, regional units, national "
        "bodies), their users, inspections over ten years, findings addressed to every force (national) or to "
        "five or six organisations of a region, one action plan per finding and addressee in every status, "
        "and each plan's timeline of updates. Scales: small (about 1,000 plans), medium (10,000), national "
        "(100,000 plans and 1,000,000 updates); --organisations, --inspections, --findings and "
        "--updates-per-plan override the scale's figures (plans follow from findings and their addressees). "
        "Slugs and usernames start with 'load-': organisations load-org-001 on, accounts load-admin (superuser), "
        "load-inspector and, per organisation, load-org-001-manager and load-org-001-staff1 to 3 (and so on), "
        "all with one password. Refuses if load data exists, unless --replace. "
        f"The plan with the lowest id among the plans of {loadgen.org_slug(0)} has exactly "
        f"{loadgen.FIFTY_UPDATES} updates; its id is printed at the end."
    )

    def add_arguments(self, parser) -> None:  # type: ignore[no-untyped-def]
        parser.add_argument(
            "--scale", choices=list(loadgen.SCALES), default="small", help="Preset figures (default: small)."
        )
        parser.add_argument("--organisations", type=int, help="Organisations in all (60 at every scale).")
        parser.add_argument("--inspections", type=int, help="Inspections, published over the last ten years.")
        parser.add_argument("--findings", type=int, help="Findings in all (about ten per inspection).")
        parser.add_argument(
            "--updates-per-plan", type=int, help="Average updates per plan (at least what each plan's status needs)."
        )
        parser.add_argument("--seed", type=int, default=1, help="Random seed; the same seed gives the same data.")
        parser.add_argument(
            "--password",
            default=loadgen.DEFAULT_PASSWORD,
            help=f'Password of every load account (default: "{loadgen.DEFAULT_PASSWORD}").',
        )
        parser.add_argument("--replace", action="store_true", help="Delete existing load data first.")

    def handle(self, *args: object, **options: object) -> None:
        scale = loadgen.SCALES[str(options["scale"])]
        overrides = {
            name: options[name]
            for name in ("organisations", "inspections", "findings", "updates_per_plan")
            if options.get(name) is not None
        }
        scale = replace(scale, **overrides)  # type: ignore[arg-type]
        problems = loadgen.validate(scale)
        if problems:
            raise CommandError(" ".join(problems))
        verbosity = int(options["verbosity"])  # type: ignore[call-overload]
        if not settings.DEBUG and options["password"] == loadgen.DEFAULT_PASSWORD:
            self.stderr.write(
                f"Warning: the load accounts, including the superuser {loadgen.ADMIN_USERNAME}, get the default "
                "password. Give another with --password on a database others can reach."
            )

        def write(text: str) -> None:
            self.stderr.write(text, style_func=lambda x: x, ending="")
            self.stderr.flush()

        try:
            result = loadgen.generate(
                scale,
                seed=int(options["seed"]),  # type: ignore[call-overload]
                password=str(options["password"]),
                replace=bool(options["replace"]),
                write=write if verbosity > 0 else None,
                tty=loadgen.stream_is_tty(self.stderr),
            )
        except loadgen.LoadDataExists as exists:
            found = ", ".join(f"{count:,} {name}" for name, count in exists.args[0].items())
            raise CommandError(
                f"Load data already exists ({found} with slugs or usernames starting '{loadgen.PREFIX}'). "
                "Nothing was changed. Run again with --replace to delete it and generate afresh."
            ) from None

        if result.deleted:
            removed = ", ".join(f"{count:,} {name}" for name, count in result.deleted.items() if count)
            self.stdout.write(f"Deleted the previous load data: {removed or 'nothing'}.")
        self.stdout.write(
            f"Generated load data in {result.elapsed:.1f} s (seed {options['seed']}, database {connection.vendor}):"
        )
        for label, count in loadgen.iter_counts(result):
            line = f"  {label:<20} {count:>10,}"
            if label == "themes":
                line += f"  ({result.counts.get('themes_created', 0)} created)"
            self.stdout.write(line)
        first = loadgen.org_slug(0)
        self.stdout.write(
            f"Plan with exactly {loadgen.FIFTY_UPDATES} updates: id {result.fifty_update_plan_id} "
            f"(the first plan of {first})"
        )
        self.stdout.write(
            f"Finding addressed to every force: id {result.national_finding_id} "
            f"({result.national_finding_addressees} organisations)"
        )
        self.stdout.write(
            f"Accounts: {loadgen.ADMIN_USERNAME} (superuser), {loadgen.INSPECTOR_USERNAME}, "
            f"{loadgen.manager_username(first)}, {loadgen.staff_username(first, 1)} to "
            f"{loadgen.staff_username(first, loadgen.STAFF_PER_ORGANISATION)}, and the same for every load "
            "organisation; all share one password."
        )
