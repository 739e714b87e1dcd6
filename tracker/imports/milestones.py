"""Findings import, the milestones: check each milestone row against the file and the database.

A milestone row names one organisation's action plan by its finding (inspection slug and reference) and
the organisation's slug. The plan must exist, or be opened by this import (its finding addressed to the
organisation, in the file, and the import publishing). A plan's milestone of the same title is updated
rather than added again, so importing the same file twice changes nothing. Every bad row is listed with
the findings' errors, and one error anywhere means nothing is imported. The changes are written per plan
by `tracker.workflow.import_milestones` (locked, versioned, one timeline entry per plan).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.utils import timezone

from inspections.models import Finding, Organisation
from tracker import date_range
from tracker.actions import MILESTONE_STATES
from tracker.models import ActionPlan, Milestone, User

from .reading import MILESTONES, RowError, SourceRow, in_section

PlanKey = tuple[str, str, str]  # (inspection slug, finding reference, organisation slug)
FIELDS = ("owner", "target_date", "done_on", "note")


@dataclass
class MilestoneOutcome:
    """What the import does with one milestone row."""

    row: int
    plan: str  # "south-east-soc-2024 R1, hampshire"
    title: str
    action: str  # planning.Action's values
    changes: list[str] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


@dataclass
class MilestoneChange:
    """One milestone to add or change, as `tracker.workflow.import_milestones` takes it."""

    key: PlanKey
    title: str
    owner: int | None
    target_date: dt.date | None
    done_on: dt.date | None
    note: str
    existing: int | None = None  # the milestone's id when it is changed
    changes: list[str] = field(default_factory=list)


@dataclass
class _Row:
    source: SourceRow
    key: PlanKey
    title: str
    owner: str
    dates: dict[str, dt.date | None]
    note: str
    errors: list[RowError]


def _error(row: int, column: str, message: str) -> RowError:
    return RowError(row, in_section(column, MILESTONES), message)


def _parse(source: SourceRow, today: dt.date) -> _Row:
    """One row on its own: required columns, dates (a done date not to come, each within the range the
    tracker accepts: `tracker.date_range`), the title's length."""
    values, number = source.values, source.number
    errors = list(source.problems)
    for column in ("inspection_slug", "reference", "organisation", "title"):
        if not values.get(column, "").strip():
            errors.append(_error(number, column, "required"))
    dates: dict[str, dt.date | None] = {}
    for column in ("target_date", "done_on"):
        text = values.get(column, "").strip()
        try:
            dates[column] = dt.date.fromisoformat(text) if text else None
            if text and len(text) != 10:
                raise ValueError
        except ValueError:
            dates[column] = None
            errors.append(_error(number, column, f"'{text}' is not a date (use YYYY-MM-DD)"))
    if dates["done_on"] and dates["done_on"] > today:
        errors.append(_error(number, "done_on", "a milestone cannot be done on a day still to come"))
        dates["done_on"] = None
    for column, day in dates.items():
        if day is not None and not date_range.is_accepted(day, today):
            errors.append(_error(number, column, f"'{day}' is not a date {date_range.range_words(today)}"))
    title = values.get("title", "").strip()
    if len(title) > 200:
        errors.append(_error(number, "title", "at most 200 characters"))
    key = (values.get("inspection_slug", "").strip(), values.get("reference", "").strip(),
           values.get("organisation", "").strip().lower())  # fmt: skip
    return _Row(source, key, title, values.get("owner", "").strip(), dates, values.get("note", "").strip(), errors)


@dataclass
class _Known:
    """What the checks need from the database, read in five queries whatever the number of rows."""

    plans: dict[PlanKey, tuple[int, int, str]]  # key -> (plan id, organisation id, status)
    findings: set[tuple[str, str]]  # (inspection slug, reference) of findings already imported
    organisations: set[str]
    people: dict[str, tuple[int, str | None, bool]]  # username -> (id, organisation slug, active)
    milestones: dict[tuple[int, str], Milestone]  # (plan id, title) -> the plan's milestone

    @classmethod
    def load(cls, rows: Sequence[_Row]) -> _Known:
        slugs = {row.key[0] for row in rows}
        references = {row.key[1] for row in rows}
        plan_rows = ActionPlan.objects.filter(
            finding__inspection__slug__in=slugs, finding__reference__in=references,
            organisation__slug__in={row.key[2] for row in rows},
        ).values_list("finding__inspection__slug", "finding__reference", "organisation__slug", "pk",
                      "organisation_id", "status")  # fmt: skip
        plans = {(slug, ref, org): (pk, org_id, status) for slug, ref, org, pk, org_id, status in plan_rows}
        findings = set(
            Finding.objects.filter(inspection__slug__in=slugs, reference__in=references).values_list(
                "inspection__slug", "reference"
            )
        )
        people = {
            name: (pk, org, active)
            for name, pk, org, active in User.objects.filter(username__in={r.owner for r in rows if r.owner})
            .values_list("username", "pk", "organisation__slug", "is_active")
        }  # fmt: skip
        milestones = {
            (m.plan_id, m.title): m
            for m in Milestone.objects.filter(plan_id__in=[p[0] for p in plans.values()]).select_related("owner")
        }
        wanted = {row.key[2] for row in rows}
        organisations = set(Organisation.objects.filter(slug__in=wanted).values_list("slug", flat=True))
        return cls(plans, findings, organisations, people, milestones)


def _check_plan(row: _Row, known: _Known, opened: set[PlanKey], in_file: set[tuple[str, str]]) -> int | None:
    """The plan's id (None for one this import opens), or an error on the row."""
    slug, reference, organisation = row.key
    number = row.source.number
    found = known.plans.get(row.key)
    if found is not None:
        if found[2] not in MILESTONE_STATES:
            status = ActionPlan.Status(found[2]).label.lower()
            row.errors.append(_error(number, "reference", f"the plan is {status}: its milestones change only while "
                                     "it is with the organisation"))  # fmt: skip
        return found[0]
    if row.key in opened:
        return None
    if (slug, reference) not in known.findings and (slug, reference) not in in_file:
        row.errors.append(_error(number, "reference", f"no finding '{reference}' in inspection '{slug}', in the "
                                 "file or already imported"))  # fmt: skip
    elif organisation not in known.organisations:
        row.errors.append(_error(number, "organisation", f"no organisation '{organisation}'"))
    else:
        row.errors.append(_error(number, "organisation", f"{organisation} has no action plan for {reference}: the "
                                 "finding is not addressed to it, or the import does not publish it"))  # fmt: skip
    return None


def _check_owner(row: _Row, known: _Known) -> int | None:
    if not row.owner:
        return None
    person = known.people.get(row.owner)
    if person is None:
        row.errors.append(_error(row.source.number, "owner", f"no person with username '{row.owner}'"))
        return None
    if person[1] != row.key[2] or not person[2]:
        row.errors.append(_error(row.source.number, "owner", f"'{row.owner}' is not an active member of "
                                 f"{row.key[2]}, the plan's organisation"))  # fmt: skip
    return person[0]


def _compare(change: MilestoneChange, existing: Milestone | None) -> str:
    """create, update (noting what changes) or unchanged."""
    if existing is None:
        return "create"
    change.existing = existing.pk
    old = {"owner": existing.owner_id, "target_date": existing.target_date, "done_on": existing.done_on,
           "note": existing.note}  # fmt: skip
    change.changes = [name for name in FIELDS if old[name] != getattr(change, name)]
    return "update" if change.changes else "unchanged"


def plan_milestones(
    sources: Sequence[SourceRow], *, opened: set[PlanKey], in_file: set[tuple[str, str]]
) -> tuple[list[MilestoneOutcome], list[MilestoneChange], list[RowError]]:
    """Every milestone row checked: its outcome, the changes to write (once no row anywhere has an error)
    and every error. `opened` are the plans the import opens; `in_file` the findings the file holds."""
    today = timezone.localdate()
    rows = [_parse(source, today) for source in sources]
    known = _Known.load(rows)
    outcomes, changes, errors, seen = [], [], [], {}
    for row in rows:
        number = row.source.number
        plan_id = _check_plan(row, known, opened, in_file) if all(row.key) else None
        owner = _check_owner(row, known)
        if (row.key, row.title) in seen:
            row.errors.append(_error(number, "title", f"repeats row {seen[row.key, row.title]}'s milestone"))
        seen.setdefault((row.key, row.title), number)
        label = f"{row.key[0]} {row.key[1]}, {row.key[2]}"
        if row.errors:
            outcomes.append(MilestoneOutcome(number, label, row.title, "error", [], row.errors))
            errors.extend(row.errors)
            continue
        change = MilestoneChange(row.key, row.title, owner, row.dates["target_date"], row.dates["done_on"], row.note)
        action = _compare(change, known.milestones.get((plan_id, row.title)) if plan_id else None)
        outcomes.append(MilestoneOutcome(number, label, row.title, action, change.changes))
        if action != "unchanged":
            changes.append(change)
    return outcomes, changes, errors
