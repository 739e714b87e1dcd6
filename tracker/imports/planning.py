"""Findings import, step 2: check every row against the file and the database, and plan the changes.

`plan_import` writes nothing: the plan lists what each row would do (create, update, unchanged) or
every error it has, so the web preview can show it and the command can offer --dry-run. It reads
with a fixed handful of queries whatever the file's size (existing inspections, findings, their
addressees and themes, action plans, organisations, themes); `applying.apply_import` writes it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from django.utils import timezone
from django.utils.text import slugify

from inspections.models import Finding, Inspection, Organisation, Theme
from tracker import date_range
from tracker.models import ActionPlan

from .columns import COLUMNS
from .milestones import MilestoneChange, MilestoneOutcome, plan_milestones
from .progress import Progress, report_progress
from .reading import MILESTONES, RowError, SourceRow

SLUG_RE = re.compile(r"^[-a-zA-Z0-9_]+$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
KINDS: dict[str, str] = {
    "cause of concern": Finding.Kind.CAUSE_OF_CONCERN,
    "causes of concern": Finding.Kind.CAUSE_OF_CONCERN,
    "coc": Finding.Kind.CAUSE_OF_CONCERN,
    "recommendation": Finding.Kind.RECOMMENDATION,
    "recommendations": Finding.Kind.RECOMMENDATION,
    "area for improvement": Finding.Kind.AREA_FOR_IMPROVEMENT,
    "areas for improvement": Finding.Kind.AREA_FOR_IMPROVEMENT,
    "afi": Finding.Kind.AREA_FOR_IMPROVEMENT,
}
KIND_HINT = "use cause_of_concern, recommendation or area_for_improvement; CoC and AFI work too"
# The finding columns in the order changes are reported ("R3: text, due_by changed").
FINDING_FIELDS = ("kind", "text", "addressed_to", "themes", "due_by", "cause_of_concern")
# (Finding's many-to-many field, the attribute of _Existing and _FindingPlan, the slug lookup)
LINKS = (("addressed_to", "organisations", "organisation__slug"), ("themes", "themes", "theme__slug"))

Key = tuple[str, str]  # (inspection slug, finding reference)


# --- the plan ------------------------------------------------------------------------------------


class ImportRejected(Exception):
    """The file has bad rows; nothing was written. `errors` lists every one."""

    def __init__(self, plan: ImportPlan) -> None:
        self.plan = plan
        self.errors = plan.errors
        super().__init__(str(self))

    def __str__(self) -> str:
        count = len(self.errors)
        heading = f"The file has {count} error{'' if count == 1 else 's'}; nothing was imported."
        return "\n".join([heading, *(str(error) for error in self.errors)])


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    UNCHANGED = "unchanged"
    ERROR = "error"


@dataclass
class RowOutcome:
    """What the import does with one row, for the preview and the command's report."""

    row: int
    inspection: str
    reference: str
    action: Action
    changes: list[str] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.reference}: {', '.join(self.changes)} changed" if self.changes else self.reference


@dataclass
class InspectionOutcome:
    slug: str
    title: str
    action: Action
    changes: list[str] = field(default_factory=list)


@dataclass
class _Existing:
    id: int
    kind: str
    text: str
    due_by: dt.date | None
    cause_of_concern_id: int | None
    organisations: frozenset[str] = frozenset()
    themes: frozenset[str] = frozenset()


@dataclass
class _FindingPlan:
    row: int
    inspection: str
    reference: str
    kind: str
    text: str
    due_by: dt.date | None
    # A reference, "" for none, or None to keep the existing link (column not given).
    cause_of_concern: str | None
    organisations: frozenset[str]
    themes: frozenset[str]
    existing: _Existing | None
    changes: list[str]


@dataclass
class _InspectionPlan:
    slug: str
    title: str
    published_on: dt.date | None
    existing: Inspection | None
    changes: list[str]
    first_row: int


class PlanCounts:
    """The figures of a plan's rows, for a plan and for a preview kept of it (`uploads.Preview`)."""

    rows: list[RowOutcome]
    errors: list[RowError]

    @property
    def is_valid(self) -> bool:
        return not self.errors

    def count(self, action: Action) -> int:
        return sum(1 for row in self.rows if row.action == action)

    @property
    def created(self) -> int:
        return self.count(Action.CREATE)

    @property
    def updated(self) -> int:
        return self.count(Action.UPDATE)

    @property
    def unchanged(self) -> int:
        return self.count(Action.UNCHANGED)

    milestones: list[MilestoneOutcome]

    def milestone_count(self, action: str) -> int:
        return sum(1 for row in self.milestones if row.action == action)

    @property
    def milestone_figures(self) -> dict[str, int]:
        """Milestones to add, change and leave as they are, and rows in error."""
        return {action: self.milestone_count(action) for action in ("create", "update", "unchanged", "error")}


@dataclass
class ImportPlan(PlanCounts):
    """Everything an import would do, row by row, worked out without writing anything."""

    rows: list[RowOutcome]
    inspections: list[InspectionOutcome]
    errors: list[RowError]
    new_organisations: list[str] = field(default_factory=list)
    new_themes: list[str] = field(default_factory=list)
    plans_to_open: int = 0
    warnings: list[str] = field(default_factory=list)
    _findings: list[_FindingPlan] = field(default_factory=list, repr=False)
    _inspections: list[_InspectionPlan] = field(default_factory=list, repr=False)
    _new_organisations: dict[str, str] = field(default_factory=dict, repr=False)
    _new_themes: dict[str, str] = field(default_factory=dict, repr=False)
    milestones: list[MilestoneOutcome] = field(default_factory=list)
    _milestone_changes: list[MilestoneChange] = field(default_factory=list, repr=False)
    _opened: set[tuple[str, str, str]] = field(default_factory=set, repr=False)

    def suggestion_candidates(self) -> dict[int, dict[str, Any]]:
        """Per row that creates or changes a finding, what suggested links are looked up by."""
        published = {item.slug: item.published_on.isoformat() for item in self._inspections if item.published_on}
        return {
            finding.row: {
                "text": finding.text,
                "organisations": sorted(finding.organisations),
                "inspection": finding.inspection,
                "published_on": published.get(finding.inspection),
            }
            for finding in self._findings
            if finding.existing is None or finding.changes
        }

    @property
    def is_noop(self) -> bool:
        return (
            not self.created
            and not self.updated
            and not self._milestone_changes
            and all(inspection.action == Action.UNCHANGED for inspection in self.inspections)
        )


# --- checking each row on its own ----------------------------------------------------------------


def _fold(value: str) -> str:
    return " ".join(value.split()).casefold()


def _split(value: str) -> list[str]:
    seen: dict[str, str] = {}
    for part in value.split(";"):
        part = " ".join(part.split())
        if part and _fold(part) not in seen:
            seen[_fold(part)] = part
    return list(seen.values())


def _date(value: str) -> dt.date:
    if not DATE_RE.match(value):
        raise ValueError
    return dt.date.fromisoformat(value)


class _Directory:
    """Existing organisations or themes found by slug, name or unambiguous short name, ignoring case
    and spacing; names not found can be added as new rows (slug made from the name)."""

    def __init__(self, entries: Iterable[tuple[str, str, str]], name_length: int, slug_length: int = 100) -> None:
        self.keys: dict[str, str] = {}
        self.new: dict[str, str] = {}
        self.name_length = name_length
        self.slug_length = slug_length
        entries = list(entries)
        for slug, _name, _short in entries:
            self.keys.setdefault(_fold(slug), slug)
        for slug, name, _short in entries:
            self.keys.setdefault(_fold(name), slug)
        shorts: dict[str, set[str]] = defaultdict(set)
        for slug, _name, short in entries:
            if short:
                shorts[_fold(short)].add(slug)
        for short, slugs in shorts.items():
            if len(slugs) == 1:
                self.keys.setdefault(short, next(iter(slugs)))

    def find(self, value: str) -> str | None:
        return self.keys.get(_fold(value)) or self.keys.get(slugify(value))

    def add(self, value: str) -> str:
        """Register `value` as a new entry; returns its slug. Raises ValueError with a reason."""
        if len(value) > self.name_length:
            raise ValueError(f"is longer than {self.name_length} characters")
        slug = slugify(value)[: self.slug_length].strip("-")
        if not slug:
            raise ValueError("needs letters or numbers to make a slug from")
        self.new.setdefault(slug, value)
        self.keys.setdefault(_fold(value), slug)
        self.keys.setdefault(slug, slug)
        return slug


@dataclass
class _Draft:
    """One row's cells, parsed on their own; cross-row and database checks come later."""

    row: int
    given: frozenset[str]
    errors: list[RowError]
    inspection: str = ""  # slug
    title: str = ""
    published_on: dt.date | None = None
    reference: str = ""
    kind: str | None = None
    text: str = ""
    due_by: dt.date | None = None
    cause_of_concern: str = ""
    organisations: list[str] = field(default_factory=list)
    themes: list[str] = field(default_factory=list)


def _parse(source: SourceRow, today: dt.date) -> _Draft:
    """One row's cells checked on their own: every problem is noted on the draft. Its dates are held to
    the range the tracker accepts (`tracker.date_range`) as of `today`."""
    values = source.values
    draft = _Draft(row=source.number, given=frozenset(values), errors=list(source.problems))

    def error(column: str, message: str) -> None:
        draft.errors.append(RowError(source.number, column, message))

    draft.title = " ".join(values.get("inspection", "").split())
    slug = values.get("inspection_slug", "")
    if len(draft.title) > 300:
        error("inspection", "the title is longer than 300 characters")
    if slug:
        if not SLUG_RE.match(slug) or len(slug) > 120:
            error("inspection_slug", f"'{slug}' is not a slug (letters, numbers and hyphens, up to 120)")
        else:
            draft.inspection = slug
    elif draft.title:
        draft.inspection = slugify(draft.title)[:120].strip("-")
        if not draft.inspection:
            error("inspection", "needs letters or numbers to make a slug from (or give inspection_slug)")
    else:
        error("inspection", "missing: give the inspection title, its inspection_slug or both")

    for column in ("published_on", "due_by"):
        value = values.get(column, "")
        if value:
            try:
                day = _date(value)
            except ValueError:
                error(column, f"'{value}' is not a date in the form YYYY-MM-DD")
                continue
            if date_range.is_accepted(day, today):
                setattr(draft, column, day)
            else:
                error(column, f"'{value}' is not a date {date_range.range_words(today)}")

    draft.reference = values.get("reference", "")
    if not draft.reference:
        error("reference", "missing: every finding needs its reference, e.g. R1")
    elif len(draft.reference) > 20:
        error("reference", "is longer than 20 characters")

    kind = values.get("kind", "")
    if not kind:
        error("kind", f"missing ({KIND_HINT})")
    else:
        draft.kind = KINDS.get(" ".join(re.split(r"[\s_\-]+", kind.strip().casefold())).strip())
        if draft.kind is None:
            error("kind", f"unknown kind '{kind}' ({KIND_HINT})")

    draft.text = values.get("text", "").replace("\r\n", "\n").replace("\r", "\n").strip()
    if not draft.text:
        error("text", "missing: every finding needs its text")

    draft.cause_of_concern = values.get("cause_of_concern", "")
    draft.organisations = _split(values.get("addressed_to", ""))
    draft.themes = _split(values.get("themes", ""))
    return draft


# --- what the database holds ---------------------------------------------------------------------


@dataclass
class _Known:
    """Everything the checks need from the database, read in a few queries."""

    inspections: dict[str, Inspection]  # by slug, those the file names
    findings: dict[Key, _Existing]  # the findings of those inspections
    references: dict[int, Key]  # finding id -> key, for the same findings
    plan_pairs: set[tuple[str, str, str]]  # (inspection slug, reference, organisation slug) of open plans
    organisations: _Directory
    themes: _Directory

    @classmethod
    def load(cls, drafts: Sequence[_Draft]) -> _Known:
        slugs = {draft.inspection for draft in drafts if draft.inspection}
        inspections = {inspection.slug: inspection for inspection in Inspection.objects.filter(slug__in=slugs)}
        inspection_ids = {inspection.pk: slug for slug, inspection in inspections.items()}
        findings, references = _existing_findings(inspection_ids)
        return cls(
            inspections=inspections,
            findings=findings,
            references=references,
            plan_pairs=_plan_pairs(inspection_ids, references),
            organisations=_Directory(Organisation.objects.values_list("slug", "name", "short_name"), name_length=200),
            themes=_Directory(((slug, name, "") for slug, name in Theme.objects.values_list("slug", "name")), 100),
        )


def _existing_findings(inspection_ids: dict[int, str]) -> tuple[dict[Key, _Existing], dict[int, Key]]:
    """The findings of these inspections with their addressees and themes, by key and key by id."""
    existing: dict[Key, _Existing] = {}
    references: dict[int, Key] = {}
    finding_rows = Finding.objects.filter(inspection_id__in=inspection_ids).values_list(
        "id", "inspection_id", "reference", "kind", "text", "due_by", "cause_of_concern_id"
    )
    for pk, inspection_id, reference, kind, text, due_by, coc_id in finding_rows:
        key = (inspection_ids[inspection_id], reference)
        existing[key] = _Existing(pk, kind, text, due_by, coc_id)
        references[pk] = key
    by_id = {found.id: found for found in existing.values()}
    for name, attribute, lookup in LINKS:
        through = getattr(Finding, name).through
        grouped: dict[int, set[str]] = defaultdict(set)
        for finding_id, slug in through.objects.filter(finding__inspection_id__in=inspection_ids).values_list(
            "finding_id", lookup
        ):
            grouped[finding_id].add(slug)
        for finding_id, members in grouped.items():
            setattr(by_id[finding_id], attribute, frozenset(members))
    return existing, references


def _plan_pairs(inspection_ids: dict[int, str], references: dict[int, Key]) -> set[tuple[str, str, str]]:
    """(inspection slug, reference, organisation slug) of every action plan of these inspections."""
    return {
        (*references[finding_id], slug)
        for finding_id, slug in ActionPlan.objects.filter(finding__inspection_id__in=inspection_ids).values_list(
            "finding_id", "organisation__slug"
        )
        if finding_id in references
    }


# --- planning ------------------------------------------------------------------------------------


def plan_import(
    *,
    rows: Sequence[SourceRow],
    create_organisations: bool = False,
    progress: Progress | None = None,
    publish: bool = False,
) -> ImportPlan:
    """Check every row against the file and the database and work out what importing it would do.

    Reads with a fixed number of queries and writes nothing. The plan lists every error; apply it
    with `apply_import` only when `plan.is_valid`. Milestone rows (`imports.milestones`) may name plans
    this import opens only when it publishes.
    """
    milestone_rows = [row for row in rows if row.section == MILESTONES]
    rows = [row for row in rows if row.section != MILESTONES]
    total = len(rows)
    drafts = []
    today = timezone.localdate()
    for done, source in enumerate(rows, start=1):
        drafts.append(_parse(source, today))
        report_progress(progress, "Reading", done, total)
    known = _Known.load(drafts)
    inspections = _plan_inspections(drafts, known.inspections)
    findings, kinds = _check_rows(drafts, known, create_organisations=create_organisations, progress=progress)
    # Links between findings, once every row's kind is known (checked on rows with other errors too).
    for draft, _finding in findings:
        _check_link(draft, kinds)
    plan = _plan_rows(findings, known, inspections)
    _plan_inspection_outcomes(plan, inspections, known)
    if milestone_rows:
        in_file = {(finding.inspection, finding.reference) for finding in plan._findings}
        opened = plan._opened if publish else set()
        plan.milestones, plan._milestone_changes, errors = plan_milestones(
            milestone_rows, opened=opened, in_file=in_file
        )
        plan.errors.extend(errors)
    return plan


def _plan_inspections(drafts: Sequence[_Draft], existing: dict[str, Inspection]) -> dict[str, _InspectionPlan]:
    """Inspections: created or updated once, from the first title and date each gives."""
    inspections: dict[str, _InspectionPlan] = {}
    seen_title: dict[str, tuple[str, int]] = {}
    seen_date: dict[str, tuple[dt.date, int]] = {}
    for draft in drafts:
        slug = draft.inspection
        if not slug:
            continue
        if slug not in inspections:
            found = existing.get(slug)
            inspections[slug] = _InspectionPlan(
                slug=slug,
                title=found.title if found else "",
                published_on=found.published_on if found else None,
                existing=found,
                changes=[],
                first_row=draft.row,
            )
        _take_title_and_date(draft, inspections[slug], seen_title, seen_date)
    for slug, item in inspections.items():
        if item.existing is None:
            if not item.title:
                first = next(draft for draft in drafts if draft.inspection == slug)
                first.errors.append(
                    RowError(item.first_row, "inspection", f"'{slug}' is a new inspection: give its title")
                )
            continue
        if item.title != item.existing.title:
            item.changes.append("title")
        if item.published_on != item.existing.published_on:
            item.changes.append("published_on")
    return inspections


def _take_title_and_date(
    draft: _Draft,
    item: _InspectionPlan,
    seen_title: dict[str, tuple[str, int]],
    seen_date: dict[str, tuple[dt.date, int]],
) -> None:
    """The row's title and date for its inspection, or an error where an earlier row gave others."""
    slug = draft.inspection
    if draft.title:
        if slug in seen_title and seen_title[slug][0] != draft.title:
            first, row = seen_title[slug]
            draft.errors.append(RowError(draft.row, "inspection", f"differs from '{first}' on row {row}"))
        else:
            seen_title.setdefault(slug, (draft.title, draft.row))
            item.title = draft.title
    if draft.published_on:
        if slug in seen_date and seen_date[slug][0] != draft.published_on:
            first_date, row = seen_date[slug]
            draft.errors.append(
                RowError(draft.row, "published_on", f"differs from {first_date.isoformat()} on row {row}")
            )
        else:
            seen_date.setdefault(slug, (draft.published_on, draft.row))
            item.published_on = draft.published_on


def _check_rows(
    drafts: Sequence[_Draft], known: _Known, *, create_organisations: bool, progress: Progress | None
) -> tuple[list[tuple[_Draft, _FindingPlan | None]], dict[Key, str | None]]:
    """Findings: each row resolved against the file so far and the database.

    Returns each draft with its finding's plan (None for a row with errors) and the kind of every
    finding in the file or the database, by key, for the links between findings.
    """
    first_rows: dict[Key, int] = {}
    kinds: dict[Key, str | None] = {key: found.kind for key, found in known.findings.items()}
    findings: list[tuple[_Draft, _FindingPlan | None]] = []
    total = len(drafts)
    for done, draft in enumerate(drafts, start=1):
        report_progress(progress, "Checking", done, total)
        key = (draft.inspection, draft.reference)
        if draft.inspection and draft.reference:
            if key in first_rows:
                draft.errors.append(
                    RowError(
                        draft.row,
                        "reference",
                        f"'{draft.reference}' appears again for inspection '{draft.inspection}'"
                        f" (first on row {first_rows[key]})",
                    )
                )
            else:
                first_rows[key] = draft.row
                kinds[key] = draft.kind
        organisation_slugs = _organisations(draft, known.organisations, create=create_organisations)
        theme_slugs = _themes(draft, known.themes)
        if draft.errors or draft.kind is None:
            findings.append((draft, None))
        else:
            findings.append((draft, _finding_plan(draft, known.findings.get(key), organisation_slugs, theme_slugs)))
    return findings, kinds


def _organisations(draft: _Draft, directory: _Directory, *, create: bool) -> set[str]:
    """The slugs of the row's addressees, created where asked; an error for each name not found."""
    slugs = set()
    for name in draft.organisations:
        slug = directory.find(name)
        if slug is None and create:
            try:
                slug = directory.add(name)
            except ValueError as problem:
                draft.errors.append(
                    RowError(draft.row, "addressed_to", f"cannot create organisation '{name}': {problem}")
                )
        elif slug is None:
            draft.errors.append(
                RowError(
                    draft.row,
                    "addressed_to",
                    f"unknown organisation '{name}' (give an existing organisation's slug or name,"
                    " or choose to create missing organisations)",
                )
            )
        if slug:
            slugs.add(slug)
    return slugs


def _themes(draft: _Draft, directory: _Directory) -> set[str]:
    """The slugs of the row's themes, a theme not found being created."""
    slugs = set()
    for name in draft.themes:
        slug = directory.find(name)
        if slug is None:
            try:
                slug = directory.add(name)
            except ValueError as problem:
                draft.errors.append(RowError(draft.row, "themes", f"cannot create theme '{name}': {problem}"))
        if slug:
            slugs.add(slug)
    return slugs


def _finding_plan(
    draft: _Draft, found: _Existing | None, organisation_slugs: set[str], theme_slugs: set[str]
) -> _FindingPlan:
    """What the row's finding becomes. A column the row leaves out (a JSON key, say) keeps an
    existing finding's value."""
    current = found or _Existing(0, "", "", None, None)

    def given(column: str) -> bool:
        return found is None or column in draft.given

    return _FindingPlan(
        row=draft.row,
        inspection=draft.inspection,
        reference=draft.reference,
        kind=draft.kind,  # type: ignore[arg-type]  (rows without a kind have no plan)
        text=draft.text,
        due_by=draft.due_by if given("due_by") else current.due_by,
        cause_of_concern=draft.cause_of_concern if given("cause_of_concern") else None,
        organisations=frozenset(organisation_slugs) if given("addressed_to") else current.organisations,
        themes=frozenset(theme_slugs) if given("themes") else current.themes,
        existing=found,
        changes=[],
    )


def _check_link(draft: _Draft, kinds: dict[Key, str | None]) -> None:
    """The cause of concern a row accompanies must be another finding of its inspection, and a cause of concern."""
    if not draft.inspection or not draft.cause_of_concern:
        return
    target = (draft.inspection, draft.cause_of_concern)
    if draft.cause_of_concern == draft.reference:
        draft.errors.append(RowError(draft.row, "cause_of_concern", "a finding cannot accompany itself"))
    elif target not in kinds:
        draft.errors.append(
            RowError(
                draft.row,
                "cause_of_concern",
                f"no finding '{draft.cause_of_concern}' in inspection '{draft.inspection}',"
                " in the file or already imported",
            )
        )
    elif kinds[target] not in (None, Finding.Kind.CAUSE_OF_CONCERN):
        label = Finding.Kind(kinds[target]).label.lower()
        draft.errors.append(
            RowError(
                draft.row,
                "cause_of_concern",
                f"'{draft.cause_of_concern}' is {'an' if label[0] in 'aeiou' else 'a'} {label},"
                " not a cause of concern",
            )
        )


def _plan_rows(
    findings: list[tuple[_Draft, _FindingPlan | None]], known: _Known, inspections: dict[str, _InspectionPlan]
) -> ImportPlan:
    """The plan's rows and errors, and the plans that publishing these inspections would open
    (whatever was already published stays)."""
    plan = ImportPlan(rows=[], inspections=[], errors=[])
    final_pairs: set[tuple[str, str, str]] = set()
    in_file: set[Key] = set()
    for draft, finding in findings:
        if draft.errors or finding is None:
            draft.errors.sort(key=lambda error: COLUMNS.index(error.column) if error.column in COLUMNS else -1)
            plan.rows.append(RowOutcome(draft.row, draft.inspection, draft.reference, Action.ERROR, [], draft.errors))
            plan.errors.extend(draft.errors)
            continue
        in_file.add((finding.inspection, finding.reference))
        final_pairs.update((finding.inspection, finding.reference, slug) for slug in finding.organisations)
        action = _compare(finding, known, plan.warnings)
        plan.rows.append(RowOutcome(finding.row, finding.inspection, finding.reference, action, finding.changes))
        plan._findings.append(finding)
    for key, found in known.findings.items():
        if key[0] in inspections and key not in in_file:
            final_pairs.update((*key, slug) for slug in found.organisations)
    plan._opened = final_pairs - known.plan_pairs
    plan.plans_to_open = len(plan._opened)
    return plan


def _compare(finding: _FindingPlan, known: _Known, warnings: list[str]) -> Action:
    """Create, update (noting the columns that change on the plan) or leave unchanged; a warning for
    each addressee dropped whose action plan stays."""
    found = finding.existing
    if found is None:
        return Action.CREATE
    current_coc = ""
    if found.cause_of_concern_id:
        # A link to a finding outside this inspection has no reference here: show its id.
        linked = known.references.get(found.cause_of_concern_id)
        current_coc = linked[1] if linked else f"finding {found.cause_of_concern_id}"
    wanted_coc = current_coc if finding.cause_of_concern is None else finding.cause_of_concern
    comparisons = {
        "kind": (finding.kind, found.kind),
        "text": (finding.text, found.text),
        "addressed_to": (finding.organisations, found.organisations),
        "themes": (finding.themes, found.themes),
        "due_by": (finding.due_by, found.due_by),
        "cause_of_concern": (wanted_coc, current_coc),
    }
    finding.changes = [name for name in FINDING_FIELDS if comparisons[name][0] != comparisons[name][1]]
    for slug in sorted(found.organisations - finding.organisations):
        if (finding.inspection, finding.reference, slug) in known.plan_pairs:
            warnings.append(
                f"row {finding.row}: {finding.reference} is no longer addressed to {slug}, whose action"
                " plan for it stays as it is"
            )
    return Action.UPDATE if finding.changes else Action.UNCHANGED


def _plan_inspection_outcomes(plan: ImportPlan, inspections: dict[str, _InspectionPlan], known: _Known) -> None:
    """Each inspection's outcome, and the organisations and themes the import would create."""
    for slug, inspection_plan in inspections.items():
        if inspection_plan.existing is None:
            action = Action.CREATE
        else:
            action = Action.UPDATE if inspection_plan.changes else Action.UNCHANGED
        plan.inspections.append(InspectionOutcome(slug, inspection_plan.title, action, inspection_plan.changes))
        plan._inspections.append(inspection_plan)
    plan._new_organisations = known.organisations.new
    plan._new_themes = known.themes.new
    plan.new_organisations = sorted(known.organisations.new.values())
    plan.new_themes = sorted(known.themes.new.values())
