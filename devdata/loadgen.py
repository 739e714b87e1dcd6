"""Load data: about ten years of national use, generated quickly for benchmarks.

`manage.py generate_load_data` calls `generate`. The shapes follow DESIGN sections 3 and 4:

- organisations: 43 forces, regional units and two national bodies over ten regions (at the default 60);
- inspections published over the ten years back from today; national ones (mostly thematic) address every
  force, regional ones (SOC, PEEL) the five or six organisations of one region;
- about ten findings per inspection: causes of concern each followed by one to three recommendations
  pointing to them, further recommendations and areas for improvement; long texts from a vocabulary, so a
  text search means something; one to three themes; a due date on some;
- one action plan per (finding, addressee) in every status, older inspections mostly finished; owners,
  agreed and original target dates, deferrals, overdue plans; each plan's timeline of updates follows the
  workflow (status changes in an allowed order, progress percentages, target date changes, comments), and
  the plan's fields (status, percent complete, target date, deferral count, version, updated at) are
  those its timeline leads to.

Everything is written with bulk inserts: no per-row queries, no history rows (simple-history hooks into
`save`, which bulk inserts bypass). Every slug and username starts with `load-`, so the data never
collides with `seed_demo`'s and can be found and deleted again (`delete_load_data`). The same seed on the
same day gives the same data.

The plan with the lowest id among the plans of the first organisation (`load-org-001`) has exactly
`FIFTY_UPDATES` updates (`fifty_update_plan`), for benchmarks of a long timeline.
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.apps import apps
from django.contrib.auth.hashers import make_password
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, connections, transaction
from django.db.models import Count, Q
from django.utils import timezone

from inspections.models import (
    DismissedSuggestion,
    Finding,
    FindingLink,
    Grading,
    Inspection,
    Organisation,
    Region,
    Theme,
)
from tracker import freshness
from tracker.actions import ACTIONS, Action
from tracker.models import (
    ActionPlan,
    Dependency,
    Evidence,
    Milestone,
    NoActionProposal,
    SuccessMeasure,
    Update,
    User,
)

from . import vocabulary
from .demo import THEMES as DEMO_THEMES

PREFIX = "load-"
THEME_PREFIX = "load-theme-"
DEFAULT_PASSWORD = "load-password"
FIFTY_UPDATES = 50
YEARS = 10
BATCH_SIZE = 5000
PLAN_CHUNK = 2000  # plans generated, inserted and given their updates at a time
# What blocked plans wait on, and how often (weights).
WAITING_ON_KINDS = [("national_body", 2), ("partner_agency", 3), ("procurement", 2), ("plan", 2), ("other", 1)]
MILESTONES_PER_PLAN = (2, 6)  # each plan's milestones: between these, about four on average
MILESTONE_TITLES = [
    "Agree the terms of reference", "Appoint a lead", "Review current practice", "Consult partners",
    "Draft the new procedure", "Train the teams", "Recruit to the funded posts", "Brief the chief officer group",
    "Pilot in one area", "Roll out force-wide", "Audit compliance", "Evaluate the outcome",
]  # fmt: skip
MEASURES_PER_PLAN = (0, 2)  # each plan's success measures: between these, one on average
MEASURE_TEXTS = [
    ("Intelligence reports processed within the agreed time", "95%"), ("Local profiles refreshed each year", "100%"),
    ("Vacant analyst posts", "under 5%"), ("Partners' information cited in each profile", "every quarter"),
    ("Staff who have completed the training", "90%"), ("Cases reviewed by a supervisor", "all"),
]  # fmt: skip
# 100,000 plans from 8,000 findings: what ten years of national use looks like.
AVERAGE_ADDRESSEES = 12.5
INSPECTOR_USERNAME = "load-inspector"
ADMIN_USERNAME = "load-admin"
STAFF_PER_ORGANISATION = 3

S = ActionPlan.Status
K = Update.Kind
FK = Finding.Kind


@dataclass(frozen=True)
class Scale:
    organisations: int
    inspections: int
    findings: int
    updates_per_plan: int


SCALES: dict[str, Scale] = {
    # about 1,000 plans and 10,000 updates
    "small": Scale(organisations=60, inspections=12, findings=80, updates_per_plan=10),
    # about 10,000 plans and 100,000 updates
    "medium": Scale(organisations=60, inspections=80, findings=800, updates_per_plan=10),
    # ten years of national use: about 100,000 plans and 1,000,000 updates
    "national": Scale(organisations=60, inspections=800, findings=8000, updates_per_plan=10),
}


class LoadDataExists(Exception):
    """Load data is already in the database and was not asked to be replaced."""


# --- names ---------------------------------------------------------------------------------------


def org_slug(index: int) -> str:
    return f"{PREFIX}org-{index + 1:03d}"


def region_slug(index: int) -> str:
    return f"{PREFIX}region-{index + 1:02d}"


def inspection_slug(index: int, count: int) -> str:
    return f"{PREFIX}insp-{index + 1:0{max(4, len(str(count)))}d}"


def manager_username(organisation_slug: str) -> str:
    """`load-org-001` -> `load-org-001-manager`."""
    return f"{organisation_slug}-manager"


def staff_username(organisation_slug: str, number: int) -> str:
    """`load-org-001`, 1 -> `load-org-001-staff1` (numbers 1 to 3)."""
    return f"{organisation_slug}-staff{number}"


# Fictional places, so no load organisation shares a name with a real force or the demo's. The first
# sorts first, so `load-org-001` is also the first load organisation by name, and it is a force.
PLACES = vocabulary.lines("places.txt")
REGION_NAMES = vocabulary.lines("regions.txt")
NATIONAL_BODIES = vocabulary.pairs("national_bodies.tsv")  # (name, short name)
NO_ACTION_REASONS = vocabulary.pairs("no_action.tsv")  # (why no action, the risk it leaves)
FIRST_NAMES = vocabulary.lines("first_names.txt")
LAST_NAMES = vocabulary.lines("last_names.txt")
EXTRA_THEMES = vocabulary.pairs("extra_themes.tsv")  # (slug, name)

# --- text ----------------------------------------------------------------------------------------

OBJECTS = vocabulary.lines("objects.txt")
TOPICS = vocabulary.lines("topics.txt")
VERBS = vocabulary.lines("verbs.txt")
PURPOSES = vocabulary.lines("purposes.txt")
OBSERVATIONS = vocabulary.lines("observations.txt")
DETAILS = vocabulary.lines("details.txt")
# For each kind of note, lists of fragments: a note is one fragment from each list, in order.
NOTES: dict[str, tuple[list[str], ...]] = {kind: tuple(parts) for kind, parts in vocabulary.data("notes.json").items()}


def _note_pool(parts: tuple[list[str], ...]) -> list[str]:
    """Every combination of one fragment from each list."""
    if len(parts) == 2 and parts[0] is NOTES["progress"][0]:
        return [f"{a}; {b}." for a, b in itertools.product(*parts)]
    return [" ".join(piece for piece in combo if piece) for combo in itertools.product(*parts)]


POOLS: dict[str, list[str]] = {kind: _note_pool(parts) for kind, parts in NOTES.items()}


def finding_text(rng: random.Random, subject: str) -> str:
    """Three or four sentences, several hundred characters, from the vocabulary above."""
    sentences = [
        f"{subject} should {rng.choice(VERBS)} {rng.choice(OBJECTS)} {rng.choice(PURPOSES)}.",
        *rng.sample(OBSERVATIONS, 2),
    ]
    if rng.random() < 0.6:
        sentences.append(rng.choice(DETAILS))
    return " ".join(sentences)


# --- progress ------------------------------------------------------------------------------------


class Progress:
    """A one-line progress bar per phase: redrawn with \\r on a terminal, every ~10% otherwise."""

    def __init__(self, write: Callable[[str], None] | None, tty: bool, label: str, total: int) -> None:
        self.write, self.tty, self.label, self.total = write, tty, label, total
        self.done = 0
        self.shown_step = -1
        self.last_draw = 0.0
        self.extra = ""

    def line(self) -> str:
        percent = 100 if not self.total else min(100, self.done * 100 // self.total)
        return f"{self.label:<12} {self.done:>11,}/{self.total:,}  {percent:3d}%{self.extra}"

    def advance(self, count: int, extra: str = "") -> None:
        self.done += count
        self.extra = extra
        if self.write is None:
            return
        if self.tty:
            now = time.monotonic()
            if now - self.last_draw >= 0.2 or self.done >= self.total:
                self.write("\r" + self.line())
                self.last_draw = now
        else:
            step = 10 if not self.total else min(10, self.done * 10 // self.total)
            if step > self.shown_step:
                self.shown_step = step
                self.write(self.line() + "\n")

    def finish(self) -> None:
        if self.write is not None and self.tty:
            self.write("\r" + self.line() + "\n")


# --- the result ----------------------------------------------------------------------------------


@dataclass
class Result:
    counts: dict[str, int] = field(default_factory=dict)
    deleted: dict[str, int] = field(default_factory=dict)
    elapsed: float = 0.0
    fifty_update_plan_id: int | None = None
    national_finding_id: int | None = None
    national_finding_addressees: int = 0


def existing_load_data() -> dict[str, int]:
    """What load data is in the database, by marker (slugs and usernames starting `load-`)."""
    found = {
        "organisations": Organisation.objects.filter(slug__startswith=PREFIX).count(),
        "regions": Region.objects.filter(slug__startswith=PREFIX).count(),
        "inspections": Inspection.objects.filter(slug__startswith=PREFIX).count(),
        "users": User.objects.filter(username__startswith=PREFIX).count(),
    }
    return {name: count for name, count in found.items() if count}


def delete_load_data() -> dict[str, int]:
    """Delete all load data, in dependency order (the models protect their references).

    The large tables go with single DELETE statements (no signals; nothing else points at load rows
    except as handled here); the few hundred users, organisations and regions go through the ORM.
    History rows of load objects (written if someone changed load data in the app) go too, and so do
    the ones deleting the users writes: load data leaves nothing behind.
    """
    db = connection.alias
    orgs = Organisation.objects.filter(slug__startswith=PREFIX)
    inspections = Inspection.objects.filter(slug__startswith=PREFIX)
    findings = Finding.objects.filter(inspection__in=inspections)
    plans = ActionPlan.objects.filter(Q(organisation__in=orgs) | Q(finding__in=findings))
    updates = Update.objects.filter(plan__in=plans)
    deleted: dict[str, int] = {}
    with transaction.atomic():
        org_ids = list(orgs.values_list("pk", flat=True))
        inspection_ids = list(inspections.values_list("pk", flat=True))
        old_findings = Finding.history.filter(inspection_id__in=inspection_ids)
        _history_m2m(Finding).objects.filter(history__in=old_findings.values("pk"))._raw_delete(db)
        old_findings._raw_delete(db)
        ActionPlan.history.filter(organisation_id__in=org_ids)._raw_delete(db)
        Grading.history.filter(Q(inspection_id__in=inspection_ids) | Q(organisation_id__in=org_ids))._raw_delete(db)
        Inspection.history.filter(id__in=inspection_ids)._raw_delete(db)
        deleted["evidence"] = Evidence.objects.filter(update__in=updates).delete()[0]
        deleted["milestones"] = Milestone.objects.filter(plan__in=plans)._raw_delete(db)
        deleted["dependencies"] = Dependency.objects.filter(Q(plan__in=plans) | Q(on_plan__in=plans))._raw_delete(db)
        deleted["success measures"] = SuccessMeasure.objects.filter(plan__in=plans)._raw_delete(db)
        deleted["proposals of no action"] = NoActionProposal.objects.filter(plan__in=plans)._raw_delete(db)
        deleted["updates"] = updates._raw_delete(db)
        deleted["action plans"] = plans._raw_delete(db)
        # Rows outside the load data that point at load findings lose that reference.
        ActionPlan.objects.filter(superseded_by__in=findings).update(superseded_by=None)
        Finding.objects.exclude(inspection__in=inspections).filter(cause_of_concern__in=findings).update(
            cause_of_concern=None
        )
        FindingLink.objects.filter(Q(finding__in=findings) | Q(earlier__in=findings))._raw_delete(db)
        DismissedSuggestion.objects.filter(Q(finding__in=findings) | Q(earlier__in=findings))._raw_delete(db)
        Finding.themes.through.objects.filter(finding__in=findings)._raw_delete(db)
        addressed = Finding.addressed_to.through.objects.filter(Q(finding__in=findings) | Q(organisation__in=orgs))
        deleted["addressees"] = addressed._raw_delete(db)
        deleted["gradings"] = Grading.objects.filter(
            Q(inspection__in=inspections) | Q(organisation__in=orgs)
        )._raw_delete(db)
        deleted["findings"] = findings._raw_delete(db)
        deleted["inspections"] = inspections._raw_delete(db)
        deleted["users"] = User.objects.filter(username__startswith=PREFIX).delete()[1].get(User._meta.label, 0)
        User.history.filter(username__startswith=PREFIX)._raw_delete(db)
        deleted["organisations"] = orgs.delete()[1].get(Organisation._meta.label, 0)
        deleted["regions"] = Region.objects.filter(slug__startswith=PREFIX).delete()[1].get(Region._meta.label, 0)
        deleted["themes"] = Theme.objects.filter(slug__startswith=THEME_PREFIX).delete()[1].get(Theme._meta.label, 0)
    return deleted


def _history_m2m(model: type[Finding]) -> type:
    """The history model simple-history keeps for `Finding.addressed_to`."""
    return apps.get_model(model._meta.app_label, f"Historical{model.__name__}_addressed_to")


def fifty_update_plan() -> ActionPlan | None:
    """The plan with the lowest id among the first load organisation's plans: it has exactly 50 updates."""
    return ActionPlan.objects.filter(organisation__slug=org_slug(0)).order_by("pk").first()


def national_finding() -> Finding | None:
    """A load finding addressed to every load force (43 at every preset scale)."""
    forces = Organisation.objects.filter(slug__startswith=PREFIX, kind=Organisation.Kind.FORCE).count()
    return (
        Finding.objects.filter(inspection__slug__startswith=PREFIX)
        .annotate(addressees=Count("addressed_to"))
        .filter(addressees=forces)
        .order_by("pk")
        .first()
    )


# --- generation ----------------------------------------------------------------------------------


# Status mix by age of the inspection: older inspections are mostly finished.
STATUS_ORDER = list(S)
STATUS_WEIGHTS = [
    # (older than, in years): weights in the order of ActionPlan.Status
    # not started, in progress, blocked, submitted, no action proposed, no action (risk accepted),
    # signed off, closed, superseded, no further action
    (6, [1, 4, 1, 2, 0, 0, 5, 70, 9, 8]),
    (3, [2, 12, 3, 4, 0, 1, 10, 55, 6, 8]),
    (1, [6, 35, 7, 8, 1, 1, 12, 25, 2, 5]),
    (0, [25, 45, 8, 8, 1, 1, 6, 4, 1, 3]),
]
if any(len(weights) != len(STATUS_ORDER) for _, weights in STATUS_WEIGHTS):  # a status added without weights
    raise ImproperlyConfigured("devdata.loadgen.STATUS_WEIGHTS needs one weight for each ActionPlan.Status.")
STATUS_CUMULATIVE = [(years, list(itertools.accumulate(w))) for years, w in STATUS_WEIGHTS]
# Relative number of updates by final status (scaled so the average is --updates-per-plan).
UPDATE_WEIGHT = {
    S.NOT_STARTED: 0.15, S.IN_PROGRESS: 1.0, S.BLOCKED: 1.1, S.SUBMITTED: 1.2, S.SIGNED_OFF: 1.3,
    S.CLOSED: 1.4, S.SUPERSEDED: 0.8, S.NO_FURTHER_ACTION: 0.8, S.NO_ACTION_PROPOSED: 1.0, S.NO_ACTION_ACCEPTED: 1.1,
}  # fmt: skip


def _actor(action: Action) -> str:
    """Who in the generated data does `action`: the first of a member of staff (the plan's worker), the
    organisation's manager and the inspector whom the action's permission allows."""
    plan = ActionPlan(organisation_id=1)
    people = {
        "worker": User(role=User.Role.STAFF, organisation_id=1),
        "manager": User(role=User.Role.MANAGER, organisation_id=1),
        "inspector": User(role=User.Role.INSPECTOR),
    }
    return next(name for name, person in people.items() if action.allowed(person, plan))


def operations() -> dict[str, tuple[str, str, str]]:
    """Each status change of the workflow (tracker.actions): (update kind, status it leads to, who does it)."""
    return {a.slug: (a.kind, a.target, _actor(a)) for a in ACTIONS.values() if a.target is not None}


OPERATIONS = operations()


def shortest_paths(operations: dict[str, tuple[str, str, str]]) -> dict[str, tuple[str, ...]]:
    """The fewest status changes from not started to each status (the first action in the registry's order
    where two would do)."""
    paths: dict[str, tuple[str, ...]] = {S.NOT_STARTED: ()}
    frontier = [S.NOT_STARTED]
    while frontier:
        following = []
        for status in frontier:
            for slug, (_, target, _) in operations.items():
                if status in ACTIONS[slug].sources and target not in paths:
                    paths[target] = (*paths[status], slug)
                    following.append(target)
        frontier = following
    return paths


CORE_PATHS = shortest_paths(OPERATIONS)
# Where a plan may be when it is superseded or marked no further action.
TERMINAL_PREFIXES = [(), ("start",), ("start", "block"), ("start", "submit"), ("start", "submit", "sign-off")]
DEFERRALS_CUMULATIVE = [70, 87, 96, 100]  # 0, 1, 2 or 3 deferrals
GRADES_CUMULATIVE = list(itertools.accumulate([5, 35, 30, 22, 8]))
GRADES = list(Grading.Grade)


@dataclass
class OrgInfo:
    pk: int
    slug: str
    kind: str
    region: int | None
    manager: int = 0
    staff: list[int] = field(default_factory=list)
    names: dict[int, str] = field(default_factory=dict)


@dataclass
class PlanSpec:
    finding: int  # index into the generated findings
    org: int  # index into the organisations
    status: str
    updates: int
    owner: bool
    target_event: bool  # the target date is first agreed by an update (the finding set no due date)
    minimum: int
    pinned: bool = False


class Generator:
    def __init__(
        self,
        scale: Scale,
        *,
        seed: int,
        password: str,
        today: dt.date,
        write: Callable[[str], None] | None,
        tty: bool,
    ) -> None:
        self.scale = scale
        self.rng = random.Random(seed)
        # Milestones draw from a stream of their own, so the rest of the data is the same with or without them.
        self.milestone_rng = random.Random(seed + 1)
        self.dependency_rng = random.Random(seed + 2)  # likewise what blocked plans wait on
        # Success measures likewise.
        self.measure_rng = random.Random(seed + 3)
        self.proposal_rng = random.Random(seed + 4)  # and the reasons of proposals of no action
        self.password = password
        self.today = today
        self.write = write
        self.tty = tty
        # Timelines end at the start of today, so a run repeated the same day gives the same data.
        self.now = timezone.make_aware(dt.datetime.combine(today, dt.time(0, 0))).astimezone(dt.UTC)
        self.result = Result()

    def progress(self, label: str, total: int) -> Progress:
        return Progress(self.write, self.tty, label, total)

    # --- reference data --------------------------------------------------------------------------

    def make_reference(self) -> None:
        n = self.scale.organisations
        bodies = 2 if n >= 20 else (1 if n >= 8 else 0)
        forces = max(1, round(n * 43 / 60))
        units = max(0, n - forces - bodies)
        forces = n - units - bodies
        region_count = max(1, min(len(REGION_NAMES) if n <= 60 else n // 6, round(forces / 4.3)))

        regions = Region.objects.bulk_create(
            [Region(name=self._numbered(REGION_NAMES, i), slug=region_slug(i)) for i in range(region_count)]
        )
        # Forces in contiguous blocks of four or five per region, then regional units round the regions.
        force_region = []
        for r in range(region_count):
            force_region += [r] * (forces // region_count + (1 if r < forces % region_count else 0))
        rows: list[tuple[str, str, str, int | None]] = []
        for i in range(forces):
            place = self._numbered(PLACES, i)
            suffix = "Constabulary" if i % 3 != 1 else "Police"
            rows.append((f"{place} {suffix}", place, Organisation.Kind.FORCE, force_region[i]))
        for i in range(units):
            r = i % region_count
            region_name = regions[r].name
            if i < region_count:
                name, short = f"{region_name} Regional Organised Crime Unit", f"{region_name} ROCU"
            elif i < 2 * region_count:
                name, short = f"{region_name} Counter Terrorism Unit", f"{region_name} CTU"
            else:
                name, short = f"{region_name} Regional Unit {i // region_count - 1}", f"{region_name} RU"
            rows.append((name, short, Organisation.Kind.REGIONAL_UNIT, r))
        for i in range(bodies):
            name, short = NATIONAL_BODIES[i]
            rows.append((name, short, Organisation.Kind.NATIONAL_BODY, None))
        orgs = Organisation.objects.bulk_create(
            [
                Organisation(
                    name=name,
                    short_name=short,
                    slug=org_slug(i),
                    kind=kind,
                    region=regions[r] if r is not None else None,
                )
                for i, (name, short, kind, r) in enumerate(rows)
            ],
            batch_size=BATCH_SIZE,
        )
        self.orgs = [
            OrgInfo(pk=o.pk, slug=o.slug, kind=o.kind, region=r) for o, (*_, r) in zip(orgs, rows, strict=True)
        ]
        self.force_indexes = [i for i, o in enumerate(self.orgs) if o.kind == Organisation.Kind.FORCE]
        self.body_indexes = [i for i, o in enumerate(self.orgs) if o.kind == Organisation.Kind.NATIONAL_BODY]
        self.region_names = [region.name for region in regions]
        self.region_orgs = [[i for i, o in enumerate(self.orgs) if o.region == r] for r in range(region_count)]

        # One password hash for everyone: hashing is deliberately slow.
        password = make_password(self.password)
        users: list[User] = []
        for info in self.orgs:
            for username, role in [(manager_username(info.slug), User.Role.MANAGER)] + [
                (staff_username(info.slug, k), User.Role.STAFF) for k in range(1, STAFF_PER_ORGANISATION + 1)
            ]:
                users.append(self._user(username, role, password, organisation_id=info.pk))
        users.append(self._user(INSPECTOR_USERNAME, User.Role.INSPECTOR, password))
        admin = self._user(ADMIN_USERNAME, User.Role.INSPECTOR, password)
        admin.is_staff = admin.is_superuser = True
        users.append(admin)
        users = User.objects.bulk_create(users, batch_size=BATCH_SIZE)
        per_org = 1 + STAFF_PER_ORGANISATION
        for i, info in enumerate(self.orgs):
            mine = users[i * per_org : (i + 1) * per_org]
            info.manager = mine[0].pk
            info.staff = [u.pk for u in mine[1:]]
            info.names = {u.pk: str(u) for u in mine}
        self.inspector = users[-2].pk

        # Themes: the demo's five (shared, so `seed_demo` finds them by slug) and seven more of our own.
        themes = []
        created = 0
        for slug, name in [*DEMO_THEMES, *((THEME_PREFIX + slug, name) for slug, name in EXTRA_THEMES)]:
            theme = Theme.objects.filter(Q(slug=slug) | Q(name=name)).first()
            if theme is None:
                theme = Theme.objects.create(slug=slug, name=name)
                created += 1
            themes.append(theme.pk)
        self.themes = themes
        self.result.counts.update(
            regions=len(regions), organisations=len(orgs), users=len(users), themes=len(themes), themes_created=created
        )

    @staticmethod
    def _numbered(names: list[str], i: int) -> str:
        return names[i] if i < len(names) else f"{names[i % len(names)]} {i // len(names) + 1}"

    def _user(self, username: str, role: str, password: str, organisation_id: int | None = None) -> User:
        rng = self.rng
        return User(
            username=username,
            first_name=rng.choice(FIRST_NAMES),
            last_name=rng.choice(LAST_NAMES),
            email=f"{username}@example.org",
            password=password,
            organisation_id=organisation_id,
            role=role,
            is_active=True,
        )

    # --- inspections and findings ----------------------------------------------------------------

    def make_inspections(self) -> None:
        rng = self.rng
        count = self.scale.inspections
        total_findings = self.scale.findings
        # Findings per inspection: an even share, then shuffled between neighbours (the total stays exact).
        per = [total_findings // count + (1 if i < total_findings % count else 0) for i in range(count)]
        for i in range(count - 1):
            shift = rng.randint(-3, 3)
            shift = max(-(per[i] - 1), min(per[i + 1] - 1, shift))
            per[i] += shift
            per[i + 1] -= shift

        # Publication dates spread over ten years back from today, oldest first.
        span = YEARS * 365
        ages = sorted(
            (max(14, round(span * (count - i - 0.5) / count) + rng.randint(-10, 10)) for i in range(count)),
            reverse=True,
        )
        # National or regional: decided so the plans per finding stay near AVERAGE_ADDRESSEES over time.
        forces = len(self.force_indexes)
        regional_sets = []
        for i in range(count):
            region = (i * 3 + 1) % len(self.region_orgs)
            members = self.region_orgs[region]
            size = min(len(members), rng.choice((5, 6)))
            regional_sets.append(sorted(rng.sample(members, size)) if size < len(members) else list(members))
        regional_average = sum(len(s) for s in regional_sets) / count
        if forces > regional_average:
            share = (AVERAGE_ADDRESSEES - regional_average) / (forces - regional_average)
            share = max(0.1, min(0.5, share))
        else:
            share = 0.5
        target_average = regional_average + share * (forces - regional_average)
        national = []
        plans = findings_so_far = 0.0
        for i in range(count):
            findings_so_far += per[i]
            goal = target_average * findings_so_far
            as_national = plans + per[i] * forces
            as_regional = plans + per[i] * len(regional_sets[i])
            is_national = abs(as_national - goal) < abs(as_regional - goal)
            national.append(is_national)
            plans = as_national if is_national else as_regional
        if not any(national):
            national[-1] = True
        if all(national) and count > 1:
            national[0] = False

        width = max(4, len(str(count)))
        inspections = []
        self.insp_meta = []  # (published_on, national, addressee indexes, title)
        for i in range(count):
            published = self.today - dt.timedelta(days=ages[i])
            year = published.year
            if national[i]:
                programme = rng.choices(
                    [Inspection.Programme.THEMATIC, Inspection.Programme.PEEL, Inspection.Programme.OTHER], [7, 2, 1]
                )[0]
                topic = rng.choice(TOPICS)
                title = f"An inspection of {topic} ({year})"
                if programme == Inspection.Programme.PEEL:
                    title = f"PEEL spotlight report: {topic} ({year})"
                addressees = list(self.force_indexes)
                summary_subject = "Chief constables"
            else:
                programme = rng.choices([Inspection.Programme.SOC, Inspection.Programme.PEEL], [3, 2])[0]
                addressees = regional_sets[i]
                region_name = self.region_names[self.orgs[addressees[0]].region]  # type: ignore[index]
                if programme == Inspection.Programme.SOC:
                    title = (
                        f"An inspection of the {region_name} regional response to serious and organised crime ({year})"
                    )
                else:
                    title = f"PEEL inspections in the {region_name} region ({year})"
                summary_subject = "Forces in the region"
            inspections.append(
                Inspection(
                    title=title,
                    slug=inspection_slug(i, count),
                    programme=programme,
                    published_on=published,
                    report_url=f"https://example.org/reports/{PREFIX}insp-{i + 1:0{width}d}",
                    summary=finding_text(rng, summary_subject),
                )
            )
            self.insp_meta.append((published, national[i], addressees, title))
        inspections = Inspection.objects.bulk_create(inspections, batch_size=BATCH_SIZE)
        self.inspection_pks = [insp.pk for insp in inspections]

        # Gradings for most regional inspections: one per inspected organisation.
        gradings = []
        for i, (_, is_national, addressees, _) in enumerate(self.insp_meta):
            if is_national or rng.random() < 0.3:
                continue
            area = (
                "Tackling serious and organised crime"
                if inspections[i].programme == Inspection.Programme.SOC
                else "Overall effectiveness"
            )
            for org in addressees:
                grade = GRADES[_pick(rng, GRADES_CUMULATIVE)]
                gradings.append(
                    Grading(inspection_id=inspections[i].pk, organisation_id=self.orgs[org].pk, area=area, grade=grade)
                )
        Grading.objects.bulk_create(gradings, batch_size=BATCH_SIZE)
        self.result.counts.update(inspections=len(inspections), gradings=len(gradings))
        self.make_findings(per)

    def make_findings(self, per: list[int]) -> None:
        rng = self.rng
        bar = self.progress("findings", self.scale.findings)
        # (inspection index, kind, reference, cause of concern's position or None, text, due_by, themes, addressees)
        specs: list[tuple] = []
        for i, n in enumerate(per):
            published, is_national, addressees, _ = self.insp_meta[i]
            subject = "Chief constables" if is_national else rng.choice(["The force", "Forces in the region"])
            kinds: list[tuple[str, int | None]] = []  # (kind, index of its cause of concern within kinds)
            causes = min(n // 4, rng.choice((0, 0, 1)) if is_national else rng.choice((0, 1, 1, 2)))
            for c in range(causes):
                coc = len(kinds)
                kinds.append((FK.CAUSE_OF_CONCERN, None))
                room = n - len(kinds) - (causes - c - 1)
                kinds += [(FK.RECOMMENDATION, coc)] * min(rng.randint(1, 3), room)
            rest = n - len(kinds)
            afis = round(rest * (rng.uniform(0.0, 0.3) if is_national else rng.uniform(0.3, 0.6)))
            kinds += [(FK.RECOMMENDATION, None)] * (rest - afis) + [(FK.AREA_FOR_IMPROVEMENT, None)] * afis
            numbers = {FK.CAUSE_OF_CONCERN: 0, FK.RECOMMENDATION: 0, FK.AREA_FOR_IMPROVEMENT: 0}
            prefixes = {FK.CAUSE_OF_CONCERN: "CoC", FK.RECOMMENDATION: "R", FK.AREA_FOR_IMPROVEMENT: "AFI"}
            first = len(specs)
            first_recommendation = True
            for kind, coc in kinds:
                numbers[kind] += 1
                due = published + dt.timedelta(days=rng.randint(90, 400)) if rng.random() < 0.4 else None
                themes = rng.sample(self.themes, rng.randint(1, 3))
                to = addressees
                if is_national and kind == FK.RECOMMENDATION and first_recommendation:
                    # National recommendations sometimes go to national bodies as well.
                    to = addressees + self.body_indexes
                    first_recommendation = False
                text = finding_text(rng, subject)
                if kind == FK.CAUSE_OF_CONCERN:
                    text = "Cause of concern: " + text
                specs.append(
                    (i, kind, f"{prefixes[kind]}{numbers[kind]}", None if coc is None else first + coc, text, due,
                     themes, to)
                )  # fmt: skip

        # Causes of concern first, so the recommendations can point at them.
        objects: list[Finding | None] = [None] * len(specs)
        for pass_causes in (True, False):
            batch = []
            positions = []
            for position, (i, kind, ref, coc, text, due, _, _) in enumerate(specs):
                if (kind == FK.CAUSE_OF_CONCERN) != pass_causes:
                    continue
                batch.append(
                    Finding(
                        inspection_id=self.inspection_pks[i],
                        kind=kind,
                        reference=ref,
                        text=text,
                        due_by=due,
                        cause_of_concern_id=None if coc is None else objects[coc].pk,  # type: ignore[union-attr]
                    )
                )
                positions.append(position)
            for start in range(0, len(batch), BATCH_SIZE):
                created = Finding.objects.bulk_create(batch[start : start + BATCH_SIZE])
                for position, obj in zip(positions[start : start + BATCH_SIZE], created, strict=True):
                    objects[position] = obj
                bar.advance(len(created))
        bar.finish()
        self.finding_pks = [obj.pk for obj in objects]  # type: ignore[union-attr]
        self.finding_meta = [(i, due, to, ref) for (i, _, ref, _, _, due, _, to) in specs]

        theme_rows = [
            Finding.themes.through(finding_id=pk, theme_id=theme)
            for pk, spec in zip(self.finding_pks, specs, strict=True)
            for theme in spec[6]
        ]
        Finding.themes.through.objects.bulk_create(theme_rows, batch_size=BATCH_SIZE)
        addressed = [
            Finding.addressed_to.through(finding_id=pk, organisation_id=self.orgs[org].pk)
            for pk, spec in zip(self.finding_pks, specs, strict=True)
            for org in spec[7]
        ]
        Finding.addressed_to.through.objects.bulk_create(addressed, batch_size=BATCH_SIZE)
        forces = len(self.force_indexes)
        exact = [k for k, spec in enumerate(specs) if len(spec[7]) == forces]
        widest = exact[0] if exact else max(range(len(specs)), key=lambda k: len(specs[k][7]))
        self.result.national_finding_id = self.finding_pks[widest]
        self.result.national_finding_addressees = len(specs[widest][7])
        self.result.counts.update(findings=len(specs), addressees=len(addressed), finding_themes=len(theme_rows))

    # --- plans and updates -----------------------------------------------------------------------

    def plan_specs(self) -> list[PlanSpec]:
        """Each plan's final status and number of updates, so the totals are known before writing."""
        rng = self.rng
        specs: list[PlanSpec] = []
        weights: list[float] = []
        pinned_done = False
        for f, (i, due, addressees, _) in enumerate(self.finding_meta):
            published = self.insp_meta[i][0]
            years = (self.today - published).days / 365
            cumulative = next(c for limit, c in STATUS_CUMULATIVE if years >= limit)
            age_factor = 0.6 + 0.4 * min(years / 5, 1)
            for org in addressees:
                status = STATUS_ORDER[_pick(rng, cumulative)]
                owner = rng.random() < (0.55 if status == S.NOT_STARTED else 0.88)
                target_event = due is None and not (status == S.NOT_STARTED and rng.random() < 0.4)
                pinned = org == 0 and not pinned_done
                if pinned:
                    # The first organisation's first plan: a long-running plan with exactly 50 updates.
                    status, owner, target_event, pinned_done = S.IN_PROGRESS, True, due is None, True
                minimum = len(CORE_PATHS[status]) + owner + target_event
                specs.append(PlanSpec(f, org, status, 0, owner, target_event, minimum, pinned))
                weights.append(UPDATE_WEIGHT[status] * age_factor * rng.uniform(0.3, 1.7))

        # Every status appears (given enough plans): a missing one is taken from the most common status.
        by_status: dict[str, list[int]] = {status: [] for status in STATUS_ORDER}
        for k, spec in enumerate(specs):
            if not spec.pinned:
                by_status[spec.status].append(k)
        for status in STATUS_ORDER:
            common = max(by_status, key=lambda s: len(by_status[s]))
            if by_status[status] or len(by_status[common]) < 2:
                continue
            k = by_status[common].pop(rng.randrange(len(by_status[common])))
            by_status[status].append(k)
            spec = specs[k]
            weights[k] *= UPDATE_WEIGHT[status] / UPDATE_WEIGHT[spec.status]
            spec.status = status
            spec.minimum = len(CORE_PATHS[status]) + spec.owner + spec.target_event

        # Scale the weights to the wanted total, keep each plan's minimum, then settle the rounding.
        wanted = round(len(specs) * self.scale.updates_per_plan)
        free = [k for k, spec in enumerate(specs) if not spec.pinned]
        fixed = sum(FIFTY_UPDATES for spec in specs if spec.pinned)
        total_weight = sum(weights[k] for k in free) or 1.0
        factor = max(0, wanted - fixed) / total_weight
        for k, spec in enumerate(specs):
            spec.updates = FIFTY_UPDATES if spec.pinned else max(spec.minimum, round(weights[k] * factor))
        diff = wanted - sum(spec.updates for spec in specs)
        while diff and free:
            changed = False
            for k in rng.sample(free, len(free)) if abs(diff) < len(free) else free:
                spec = specs[k]
                if diff > 0:
                    spec.updates += 1
                    diff -= 1
                    changed = True
                elif spec.updates > spec.minimum and spec.status != S.NOT_STARTED:
                    spec.updates -= 1
                    diff += 1
                    changed = True
                if not diff:
                    break
            if not changed:
                break
        return specs

    def make_plans(self) -> None:
        self.published_times = [self.published_at(i) for i in range(len(self.insp_meta))]
        self.later_start = self._first_finding_after()
        specs = self.plan_specs()
        total_updates = sum(spec.updates for spec in specs)
        bar = self.progress("updates", total_updates)
        plan_count = update_count = milestone_count = measure_count = 0
        created_range: dict[int, list[int]] = {}  # inspection index -> [lowest, highest] plan pk
        for start in range(0, len(specs), PLAN_CHUNK):
            chunk = specs[start : start + PLAN_CHUNK]
            plans: list[ActionPlan] = []
            timelines: list[list[tuple]] = []
            steps: list[list[Milestone]] = []
            criteria: list[list[SuccessMeasure]] = []
            for spec in chunk:
                plan, events = self.plan_and_timeline(spec)
                plans.append(plan)
                timelines.append(events)
                steps.append(self.milestones_of(plan, spec))
                criteria.append(self.measures_of(plan))
            plans = ActionPlan.objects.bulk_create(plans, batch_size=BATCH_SIZE)
            for plan, milestones, measures in zip(plans, steps, criteria, strict=True):
                for item in (*milestones, *measures):
                    item.plan_id = plan.pk
            milestones = [milestone for group in steps for milestone in group]
            Milestone.objects.bulk_create(milestones, batch_size=BATCH_SIZE)
            milestone_count += len(milestones)
            measures = [measure for group in criteria for measure in group]
            SuccessMeasure.objects.bulk_create(measures, batch_size=BATCH_SIZE)
            measure_count += len(measures)
            updates = []
            for spec, plan, events in zip(chunk, plans, timelines, strict=True):
                pk = plan.pk
                i = self.finding_meta[spec.finding][0]
                bounds = created_range.setdefault(i, [pk, pk])
                bounds[0], bounds[1] = min(bounds[0], pk), max(bounds[1], pk)
                for author, created, kind, note, s_from, s_to, percent, d_from, d_to in events:
                    updates.append(
                        Update(
                            plan_id=pk,
                            author_id=author,
                            created_at=created,
                            kind=kind,
                            note=note,
                            status_from=s_from,
                            status_to=s_to,
                            percent=percent,
                            target_date_from=d_from,
                            target_date_to=d_to,
                        )
                    )
            Update.objects.bulk_create(updates, batch_size=BATCH_SIZE)
            plan_count += len(plans)
            update_count += len(updates)
            bar.advance(len(updates), f"  plans {plan_count:,}/{len(specs):,}")
        bar.finish()
        # `created_at` is set on insert to the time of the insert; a plan was opened when its report came out.
        load_orgs = [info.pk for info in self.orgs]
        for i, (low, high) in created_range.items():
            ActionPlan.objects.filter(pk__gte=low, pk__lte=high, organisation_id__in=load_orgs).update(
                created_at=self.published_times[i]
            )
        self.result.counts.update(
            plans=plan_count, updates=update_count, milestones=milestone_count, measures=measure_count
        )

    def measures_of(self, plan: ActionPlan) -> list[SuccessMeasure]:
        """The plan's success measures: answered once it was submitted; some with a demonstration period,
        over by the time a plan was closed and, for a quarter of those signed off, still running."""
        rng = self.measure_rng
        chosen = rng.sample(MEASURE_TEXTS, rng.randint(*MEASURES_PER_PLAN))
        answered = plan.status in (S.SUBMITTED, S.SIGNED_OFF, S.CLOSED)
        measures = []
        for n, (text, target) in enumerate(chosen):
            sustain = None
            if rng.random() < 0.2:
                ahead = plan.status == S.SIGNED_OFF and rng.random() < 0.25
                sustain = self.today + dt.timedelta(days=rng.randint(1, 120) * (1 if ahead else -1))
            measures.append(
                SuccessMeasure(
                    text=text, target_figure=target, sustain_until=sustain, position=n + 1,
                    how_met=f"Met: {target} in the last audit." if answered else "",
                )
            )  # fmt: skip
        return measures

    def make_dependencies(self) -> None:
        """What each blocked plan waits on, from a stream of its own (the rest of the data is the same with or
        without it): a national body, a partner agency or a procurement by name, another plan of an
        organisation of its region (a regional unit's, where the region has one), or something else; blocked
        since its last change of status, as the workflow records it."""
        rng = self.dependency_rng
        load_orgs = {info.pk: info for info in self.orgs}
        blocked = list(
            ActionPlan.objects.filter(status=ActionPlan.Status.BLOCKED, organisation_id__in=list(load_orgs))
            .order_by("pk")
            .values_list("pk", "organisation_id", "finding_id", "updated_at")
        )
        # Plans wait on their region's regional unit's plans (which themselves wait on no plan: no cycles).
        unit_plans: dict[int, list[int]] = {}
        for pk, org in (
            ActionPlan.objects.filter(
                organisation_id__in=[i.pk for i in self.orgs if i.kind == Organisation.Kind.REGIONAL_UNIT]
            )
            .order_by("pk")
            .values_list("pk", "organisation_id")
        ):
            unit_plans.setdefault(org, []).append(pk)
        names = vocabulary.pairs("waiting_on.tsv")
        bodies = [name for name, _ in NATIONAL_BODIES]
        kinds, weights = zip(*WAITING_ON_KINDS, strict=True)
        rows = []
        for pk, org, _, changed in blocked:
            kind = rng.choices(kinds, weights)[0]
            info = load_orgs[org]
            on_plan, name = None, ""
            if kind == Dependency.Kind.PLAN:
                region = self.region_orgs[info.region] if info.region is not None else []
                units = [self.orgs[i].pk for i in region if self.orgs[i].kind == Organisation.Kind.REGIONAL_UNIT]
                others = [] if info.kind == Organisation.Kind.REGIONAL_UNIT else [
                    p for unit in units for p in unit_plans.get(unit, [])
                ]  # fmt: skip
                if not others:
                    kind = Dependency.Kind.OTHER
                else:
                    on_plan = rng.choice(others)
            if kind == Dependency.Kind.NATIONAL_BODY:
                name = rng.choice(bodies)
            elif kind in (Dependency.Kind.PARTNER_AGENCY, Dependency.Kind.PROCUREMENT):
                name = rng.choice([text for k, text in names if k == kind])
            rows.append(
                Dependency(plan_id=pk, kind=kind, name=name, on_plan_id=on_plan, since=changed.date(),
                           recorded_by_id=info.staff[0], recorded_at=changed)
            )  # fmt: skip
        Dependency.objects.bulk_create(rows, batch_size=BATCH_SIZE)
        self.result.counts.update(dependencies=len(rows))

    def make_proposals(self) -> None:
        """The open proposal of each plan whose timeline ends proposing no action (and, where it goes on, the
        manager accepting the risk), by the people and at the times of those timeline entries, with a reason
        and a risk from a stream of their own."""
        rng = self.proposal_rng
        wanted = (S.NO_ACTION_PROPOSED, S.NO_ACTION_ACCEPTED)
        steps = (
            Update.objects.filter(plan__organisation_id__in=[info.pk for info in self.orgs], status_to__in=wanted)
            .order_by("plan_id", "created_at", "pk")
            .values_list("plan_id", "status_to", "author_id", "created_at")
        )
        proposals: dict[int, NoActionProposal] = {}
        for plan, status, author, at in steps:
            if status == S.NO_ACTION_PROPOSED:
                reason, risk = rng.choice(NO_ACTION_REASONS)
                proposals[plan] = NoActionProposal(plan_id=plan, reason=reason, risk=risk, proposed_by_id=author,
                                                   proposed_at=at)  # fmt: skip
            else:
                proposals[plan].accepted_by_id, proposals[plan].accepted_on = author, at.date()
        NoActionProposal.objects.bulk_create(proposals.values(), batch_size=BATCH_SIZE)
        self.result.counts.update(proposals=len(proposals))

    def milestone_plan(self, final: str, progress_notes: int) -> tuple[int, int]:
        """How many milestones a plan has and how many are done, as its final status allows: all of them once
        signed off (sign-off makes it 100%), none while no progress was ever recorded, else some."""
        rng = self.milestone_rng
        count = rng.randint(*MILESTONES_PER_PLAN)
        if final in (S.SIGNED_OFF, S.CLOSED):
            return count, count
        if not progress_notes:
            return count, 0
        if final == S.SUBMITTED:
            return count, count if rng.random() < 0.8 else count - 1  # submitted with one open, explained
        return count, rng.randint(1, count - 1)

    def milestones_of(self, plan: ActionPlan, spec: PlanSpec) -> list[Milestone]:
        """The plan's milestones (`milestone_plan`), spread from its opening to its target date, the first ones
        done; the plan's next milestone date follows them, as the workflow keeps it."""
        rng = self.milestone_rng
        org = self.orgs[spec.org]
        count, done = plan.milestone_plan  # type: ignore[attr-defined]
        opened = self.published_times[self.finding_meta[spec.finding][0]].date()
        end = plan.target_date or opened + dt.timedelta(days=365)
        span = max((end - opened).days, count)
        titles = rng.sample(MILESTONE_TITLES, count)
        milestones = []
        for n in range(count):
            target = opened + dt.timedelta(days=span * (n + 1) // count)
            done_on = min(target + dt.timedelta(days=rng.randint(-20, 20)), self.today) if n < done else None
            owner = org.manager if rng.random() < 0.25 else rng.choice(org.staff)
            milestones.append(
                Milestone(title=titles[n], position=n + 1, owner_id=owner, target_date=target, done_on=done_on)
            )
        plan.next_milestone_date = min((m.target_date for m in milestones if m.done_on is None), default=None)
        return milestones

    def published_at(self, inspection: int) -> dt.datetime:
        published = self.insp_meta[inspection][0]
        return timezone.make_aware(dt.datetime.combine(published, dt.time(9, 0))).astimezone(dt.UTC)

    def plan_and_timeline(self, spec: PlanSpec) -> tuple[ActionPlan, list[tuple]]:
        rng = self.rng
        final = spec.status
        i, due, _, _ = self.finding_meta[spec.finding]
        org = self.orgs[spec.org]
        published_at = self.published_times[i]

        # The status path: the shortest path to the final status, with detours when there is room.
        spare = spec.updates - spec.minimum
        extra = spare // 2
        path = list(CORE_PATHS[final])
        if final in (S.SUPERSEDED, S.NO_FURTHER_ACTION):
            prefix = rng.choice([p for p in TERMINAL_PREFIXES if len(p) <= extra])
            extra -= len(prefix)
            path = [*prefix, *path]
        if path and path[0] == "start":
            if extra >= 2 and rng.random() < 0.25:
                path[1:1] = ["block", "unblock"]
                extra -= 2
            if "submit" in path and extra >= 2 and rng.random() < 0.2:
                k = path.index("submit")
                path[k : k + 1] = ["submit", "return", "submit"]
                extra -= 2
            if final == S.CLOSED and extra >= 3 and rng.random() < 0.15:
                k = path.index("sign-off")
                path[k + 1 : k + 1] = ["reopen", "submit", "sign-off"]
                extra -= 3
        states = [S.NOT_STARTED] + [OPERATIONS[op][1] for op in path]

        # The other updates go into the gaps between status changes where they make sense.
        fillers = spec.updates - len(path) - spec.owner - spec.target_event
        has_target = due is not None or spec.target_event
        deferrals = min(fillers, _pick(rng, DEFERRALS_CUMULATIVE)) if has_target else 0
        progress_gaps = [j for j, s in enumerate(states) if s == S.IN_PROGRESS]
        defer_gaps = [j for j, s in enumerate(states) if s in (S.NOT_STARTED, S.IN_PROGRESS, S.BLOCKED)]
        gaps: list[list[str]] = [[] for _ in states]
        for n in range(fillers):
            if n < deferrals:
                gaps[rng.choice(defer_gaps)].append("defer")
            elif progress_gaps and rng.random() < 0.6:
                gaps[rng.choice(progress_gaps)].append("progress")
            else:
                gaps[rng.randrange(len(states))].append("comment")
        sequence: list[str] = []
        if spec.owner:
            sequence.append("owner")
        if spec.target_event:
            sequence.append("target0")
        for j, gap in enumerate(gaps):
            if len(gap) > 1:
                rng.shuffle(gap)
            sequence += gap
            if j < len(path):
                sequence.append(path[j])

        # Times: between publication and the end of the plan's active life, in order.
        start = published_at + dt.timedelta(days=1)
        span = (self.now - start).total_seconds()
        if final in ActionPlan.TERMINAL_STATUSES or final == S.SIGNED_OFF:
            end_fraction = rng.uniform(0.25, 0.9)
        else:
            end_fraction = rng.uniform(0.7, 1.0)
        length = max(0.0, span * end_fraction)
        offsets = sorted(rng.random() for _ in sequence)
        # An owner and a target date are usually settled soon after publication.
        for k in range(spec.owner + spec.target_event):
            offsets[k] *= 0.1

        # People.
        staff = org.staff
        owner = rng.choice(staff) if spec.owner and rng.random() < 0.9 else (org.manager if spec.owner else None)
        worker = owner if owner is not None else rng.choice(staff)
        people = [org.manager, *staff]

        # Walk the sequence, keeping the plan's state as the workflow would. The plan's percentage is that
        # of its milestones done (the workflow derives it so): the progress notes climb to it.
        progress_total = sequence.count("progress")
        milestone_count, milestones_done = self.milestone_plan(final, progress_total)
        percent_end = milestones_done * 100 // milestone_count
        progress_seen = 0
        status = S.NOT_STARTED
        percent = 0
        target = due
        original = due
        deferral_count = 0
        version = 1
        summary = ""
        superseded_by = None
        events: list[tuple] = []
        for op, offset in zip(sequence, offsets, strict=True):
            created = start + dt.timedelta(seconds=int(offset * length))
            s_from = s_to = ""
            value = None
            d_from = d_to = None
            if op == "progress":
                progress_seen += 1
                percent = max(1, round(percent_end * progress_seen / progress_total))
                value = percent
                kind, author, note = (
                    K.PROGRESS,
                    worker if rng.random() < 0.8 else rng.choice(people),
                    rng.choice(POOLS["progress"]),
                )
            elif op == "comment":
                kind = K.COMMENT
                author = self.inspector if rng.random() < 0.15 else rng.choice(people)
                note = rng.choice(POOLS["comment"])
            elif op == "owner":
                kind, author = K.OWNER, org.manager
                note = f"Owner set to {org.names[owner]}." if owner is not None else "Owner removed."
            elif op == "target0":
                target = original = created.date() + dt.timedelta(days=rng.randint(60, 450))
                kind, author, note = K.TARGET_DATE, org.manager, rng.choice(POOLS["target0"])
                d_to = target
            elif op == "defer":
                d_from = target
                delay = rng.randint(30, 180)
                target = max(target + dt.timedelta(days=delay), created.date() + dt.timedelta(days=delay // 2))  # type: ignore[operator]
                d_to = target
                deferral_count += 1
                kind, author, note = K.TARGET_DATE, org.manager, rng.choice(POOLS["defer"])
            else:
                kind, s_to, role = OPERATIONS[op]
                s_from = status
                status = s_to
                author = worker if role == "worker" else org.manager if role == "manager" else self.inspector
                if op == "supersede":
                    superseded_by, note = self.superseding(spec.finding)
                else:
                    note = rng.choice(
                        POOLS.get(op) or POOLS["comment"]
                    )  # an action with no notes of its own: a remark
                if op == "sign-off":
                    percent = value = 100
                elif op == "submit":
                    summary = note
            if kind != K.COMMENT:
                version += 1
            events.append((author, created, kind, note, s_from, s_to, value, d_from, d_to))
        if not summary and (final != S.NOT_STARTED or rng.random() < 0.3):
            summary = rng.choice(POOLS["response"])
        plan = ActionPlan(
            finding_id=self.finding_pks[spec.finding],
            organisation_id=org.pk,
            status=status,
            owner_id=owner,
            target_date=target,
            original_target_date=original,
            deferral_count=deferral_count,
            percent_complete=percent,
            summary=summary,
            superseded_by_id=superseded_by,
            version=version,
            updated_at=events[-1][1] if events else published_at,
        )
        plan.milestone_plan = (milestone_count, milestones_done)  # type: ignore[attr-defined]
        return plan, events

    def superseding(self, finding: int) -> tuple[int, str]:
        """A finding of a later inspection (or, for the latest, another finding) and the note naming it."""
        start = self.later_start[self.finding_meta[finding][0]]
        if start < len(self.finding_pks):
            other = self.rng.randrange(start, len(self.finding_pks))
        else:
            other = (finding + 1) % len(self.finding_pks) if len(self.finding_pks) > 1 else finding
        j, _, _, ref = self.finding_meta[other]
        return self.finding_pks[other], f"Superseded by {self.insp_meta[j][3]} {ref}."

    def _first_finding_after(self) -> list[int]:
        """For each inspection, the position of the first finding of a later inspection."""
        firsts = [len(self.finding_meta)] * (len(self.insp_meta) + 1)
        for position in range(len(self.finding_meta) - 1, -1, -1):
            firsts[self.finding_meta[position][0]] = position
        result = []
        for i in range(len(self.insp_meta)):
            later = [firsts[j] for j in range(i + 1, len(self.insp_meta)) if firsts[j] < len(self.finding_meta)]
            result.append(min(later) if later else len(self.finding_meta))
        return result


def _pick(rng: random.Random, cumulative: list[int]) -> int:
    """An index drawn with the weights whose running totals are `cumulative`."""
    x = rng.random() * cumulative[-1]
    for index, bound in enumerate(cumulative):
        if x < bound:
            return index
    return len(cumulative) - 1


def validate(scale: Scale) -> list[str]:
    problems = []
    if scale.organisations < 1:
        problems.append("--organisations must be at least 1.")
    if scale.inspections < 1:
        problems.append("--inspections must be at least 1.")
    if scale.findings < scale.inspections:
        problems.append("--findings must be at least --inspections (every inspection has a finding).")
    if scale.updates_per_plan < 0:
        problems.append("--updates-per-plan cannot be negative.")
    return problems


def generate(
    scale: Scale,
    *,
    seed: int = 1,
    password: str = DEFAULT_PASSWORD,
    replace: bool = False,
    today: dt.date | None = None,
    write: Callable[[str], None] | None = None,
    tty: bool = False,
) -> Result:
    """Generate load data in one transaction; refuse (LoadDataExists) if there is some, unless `replace`.

    `write` receives the progress lines (None: silent); with `tty` they are redrawn in place.
    """
    problems = validate(scale)
    if problems:
        raise ValueError(" ".join(problems))
    started = time.monotonic()
    today = today or timezone.localdate()
    generator = Generator(scale, seed=seed, password=password, today=today, write=write, tty=tty)
    with transaction.atomic():
        existing = existing_load_data()
        if existing:
            if not replace:
                raise LoadDataExists(existing)
            generator.result.deleted = delete_load_data()
        with _no_query_log():
            generator.make_reference()
            generator.make_inspections()
            generator.make_plans()
            generator.make_dependencies()
            generator.make_proposals()
        plan = fifty_update_plan()
        if plan is None or plan.updates.count() != FIFTY_UPDATES:  # a guard on the promise benchmarks rely on
            raise RuntimeError("The first organisation's first plan does not have exactly 50 updates.")
        generator.result.fifty_update_plan_id = plan.pk
        freshness.history_changed()  # bulk inserts dated in the past send no signals
    with connection.cursor() as cursor:
        # Statistics for the planner; on PostgreSQL also the visibility map that autovacuum would
        # build in time, without which index-only scans still read every table page. VACUUM cannot
        # run inside a transaction (as under a test), so there it is only ANALYZE.
        vacuum = connection.vendor == "postgresql" and not connection.in_atomic_block
        cursor.execute("VACUUM ANALYZE" if vacuum else "ANALYZE")
    generator.result.elapsed = time.monotonic() - started
    return generator.result


@contextmanager
def _no_query_log() -> Iterator[None]:
    """With DEBUG on, Django keeps the SQL of every query, values and all: for bulk inserts of a million
    rows that costs time and hundreds of megabytes. Generation uses plain cursors instead."""
    wrapper = connections[connection.alias]
    wrapper.make_debug_cursor = wrapper.make_cursor  # an instance attribute, removed again below
    try:
        yield
    finally:
        del wrapper.make_debug_cursor


def iter_counts(result: Result) -> Iterator[tuple[str, int]]:
    names = [
        ("regions", "regions"),
        ("organisations", "organisations"),
        ("users", "users"),
        ("themes", "themes"),
        ("inspections", "inspections"),
        ("gradings", "gradings"),
        ("findings", "findings"),
        ("addressees", "finding addressees"),
        ("plans", "action plans"),
        ("updates", "updates"),
        ("milestones", "milestones"),
        ("measures", "success measures"),
        ("dependencies", "dependencies"),
        ("proposals", "proposals of no action"),
    ]
    for key, label in names:
        yield label, result.counts.get(key, 0)


def stream_is_tty(stream: object) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


__all__ = [
    "DEFAULT_PASSWORD",
    "FIFTY_UPDATES",
    "SCALES",
    "LoadDataExists",
    "Result",
    "Scale",
    "delete_load_data",
    "existing_load_data",
    "fifty_update_plan",
    "generate",
    "manager_username",
    "national_finding",
    "staff_username",
]
