"""Findings import, step 3: write a checked plan, in bulk and in one transaction.

Applying uses bulk inserts and updates, so 10,000 findings import in a few seconds (docs/IMPORT.md).
Bulk writes send no signals, so the findings' change history is written here too.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.apps import apps
from django.db import connection, transaction
from django.db.models import Model

from inspections.models import Finding, Inspection, Organisation, Theme
from tracker import freshness
from tracker.models import ActionPlan
from tracker.workflow import import_milestones, publish_inspection

from .milestones import MilestoneChange
from .planning import ImportPlan, ImportRejected, _FindingPlan
from .progress import Progress, report_progress
from .reading import ImportFileError

if TYPE_CHECKING:
    from tracker.models import User

BATCH_SIZE = 1000


class MilestonesNeedAPerson(ImportFileError):
    """Milestone changes go on plans' timelines under a person's name; an import by nobody has none."""

    def __init__(self) -> None:
        super().__init__(
            "The file has milestones to add or change, and each change goes on its plan's timeline under the "
            "name of whoever imports it: import it as an administrator (manage.py import_findings --as USERNAME)."
        )


@dataclass(frozen=True)
class ImportResult:
    """What an applied import wrote."""

    inspections_created: int
    inspections_updated: int
    findings_created: int
    findings_updated: int
    findings_unchanged: int
    organisations_created: int
    themes_created: int
    plans_opened: int | None  # None when the import did not publish
    milestones_created: int = 0
    milestones_updated: int = 0
    milestones_unchanged: int = 0


def _batches[T](items: Sequence[T], size: int = BATCH_SIZE) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@transaction.atomic
def apply_import(
    *,
    plan: ImportPlan,
    user: User | None = None,
    publish: bool = False,
    source: str = "",
    progress: Progress | None = None,
) -> ImportResult:
    """Write a valid plan in one transaction and record the findings' change history.

    With `publish`, open action plans for every addressee of each inspection in the file.
    """
    if not plan.is_valid:
        raise ImportRejected(plan)
    reason = f"Imported from {source}"[:100] if source else "Imported"
    now = dt.datetime.now(tz=dt.UTC)
    organisation_ids, theme_ids = _create_organisations_and_themes(plan)
    inspections, created_inspections, updated_inspections = _save_inspections(plan, user=user, reason=reason)
    writer = _FindingWriter(plan, inspections, progress)
    unlinked = writer.create()
    created_rows = [writer.row(finding) for finding in writer.to_create]
    updated_rows = [writer.row(finding) for finding in writer.to_update]
    writer.update(unlinked, updated_rows)
    writer.replace_links("addressed_to", "organisations", organisation_ids, "organisation_id")
    writer.replace_links("themes", "themes", theme_ids, "theme_id")
    _record_history(created_rows, updated_rows, user=user, reason=reason, date=now)
    freshness.changed()  # the bulk writes above send no signals
    plans_opened = None
    if publish:
        plans_opened = sum(publish_inspection(inspection=inspection) for inspection in inspections.values())
    _write_milestones(plan, user=user, source=source)
    return ImportResult(
        inspections_created=created_inspections,
        inspections_updated=updated_inspections,
        findings_created=len(writer.to_create),
        findings_updated=len(writer.to_update),
        findings_unchanged=plan.unchanged,
        organisations_created=len(plan._new_organisations),
        themes_created=len(plan._new_themes),
        plans_opened=plans_opened,
        milestones_created=plan.milestone_count("create"),
        milestones_updated=plan.milestone_count("update"),
        milestones_unchanged=plan.milestone_count("unchanged"),
    )


def _write_milestones(plan: ImportPlan, *, user: User | None, source: str) -> None:
    """The milestones to add or change, plan by plan through the workflow (each plan locked, versioned,
    with one timeline entry naming the file); the plans opened above are found here too."""
    changes = plan._milestone_changes
    if not changes:
        return
    if user is None:
        raise MilestonesNeedAPerson
    keys = {change.key for change in changes}
    found = ActionPlan.objects.filter(
        finding__inspection__slug__in={k[0] for k in keys}, finding__reference__in={k[1] for k in keys},
        organisation__slug__in={k[2] for k in keys},
    ).select_related("finding__inspection", "organisation")  # fmt: skip
    plans = {(p.finding.inspection.slug, p.finding.reference, p.organisation.slug): p for p in found}
    grouped: dict[tuple[str, str, str], list[MilestoneChange]] = defaultdict(list)
    for change in changes:
        grouped[change.key].append(change)
    for key, items in grouped.items():
        import_milestones(plan=plans[key], user=user, changes=items, source=source)


def _create_organisations_and_themes(plan: ImportPlan) -> tuple[dict[str, int], dict[str, int]]:
    """Create the plan's new organisations and themes; the id of every one its findings name, by slug."""
    Organisation.objects.bulk_create(
        [
            Organisation(name=name, slug=slug, kind=Organisation.Kind.OTHER)
            for slug, name in plan._new_organisations.items()
        ],
        batch_size=BATCH_SIZE,
    )
    Theme.objects.bulk_create(
        [Theme(name=name, slug=slug) for slug, name in plan._new_themes.items()], batch_size=BATCH_SIZE
    )
    needed_organisations = {slug for finding in plan._findings for slug in finding.organisations}
    needed_themes = {slug for finding in plan._findings for slug in finding.themes}
    organisation_ids = dict(Organisation.objects.filter(slug__in=needed_organisations).values_list("slug", "id"))
    theme_ids = dict(Theme.objects.filter(slug__in=needed_themes).values_list("slug", "id"))
    return organisation_ids, theme_ids


def _save_inspections(plan: ImportPlan, *, user: User | None, reason: str) -> tuple[dict[str, Inspection], int, int]:
    """Few inspections per file: saving each one records its history the usual way.
    Returns every inspection of the file by slug, and how many were created and updated."""
    inspections: dict[str, Inspection] = {}
    created = updated = 0
    for item in plan._inspections:
        inspection = item.existing or Inspection(slug=item.slug)
        if item.existing is None or item.changes:
            inspection.title = item.title
            inspection.published_on = item.published_on
            inspection._history_user = user  # type: ignore[attr-defined]
            inspection._change_reason = reason  # type: ignore[attr-defined]
            inspection.save()
            created += item.existing is None
            updated += item.existing is not None
        inspections[item.slug] = inspection
    return inspections, created, updated


class _FindingWriter:
    """Writes a plan's findings in bulk, knowing the id of every finding in its inspections (new ones
    too, once written) to link findings and record history."""

    def __init__(self, plan: ImportPlan, inspections: dict[str, Inspection], progress: Progress | None) -> None:
        self.inspections = inspections
        self.slug_of = {inspection.pk: slug for slug, inspection in inspections.items()}
        self.finding_ids: dict[tuple[str, str], int] = {}
        self.to_create = [finding for finding in plan._findings if finding.existing is None]
        self.to_update = [finding for finding in plan._findings if finding.changes]
        self.progress = progress
        self.total = len(self.to_create) + len(self.to_update)
        self.written = 0

    def load_ids(self) -> None:
        for pk, inspection_id, reference in Finding.objects.filter(inspection_id__in=self.slug_of).values_list(
            "id", "inspection_id", "reference"
        ):
            self.finding_ids[(self.slug_of[inspection_id], reference)] = pk

    def coc_id(self, finding: _FindingPlan) -> int | None:
        if finding.cause_of_concern is None:
            return finding.existing.cause_of_concern_id if finding.existing else None
        if not finding.cause_of_concern:
            return None
        return self.finding_ids.get((finding.inspection, finding.cause_of_concern))

    def row(self, finding: _FindingPlan) -> Finding:
        """The finding as written, with its id."""
        return Finding(
            id=self.finding_ids[(finding.inspection, finding.reference)],
            inspection_id=self.inspections[finding.inspection].pk,
            reference=finding.reference,
            kind=finding.kind,
            text=finding.text,
            due_by=finding.due_by,
            cause_of_concern_id=self.coc_id(finding),
        )

    def _wrote(self, count: int) -> None:
        self.written += count
        report_progress(self.progress, "Writing", self.written, self.total)

    def create(self) -> list[_FindingPlan]:
        """Insert the new findings; return those whose link to their cause of concern is still to write.

        New findings that accompany a new cause of concern go second, once its id is known, so that
        links are written with the rows rather than by a (slow) bulk update afterwards.
        """
        self.load_ids()
        new_keys = {(finding.inspection, finding.reference) for finding in self.to_create}
        second = [finding for finding in self.to_create if (finding.inspection, finding.cause_of_concern) in new_keys]
        first = [
            finding for finding in self.to_create if (finding.inspection, finding.cause_of_concern) not in new_keys
        ]
        unlinked: list[_FindingPlan] = []
        for wave in (first, second):
            for batch in _batches(wave):
                Finding.objects.bulk_create([self._new(finding, unlinked) for finding in batch])
                self._wrote(len(batch))
            if wave:
                self.load_ids()
        return unlinked

    def _new(self, finding: _FindingPlan, unlinked: list[_FindingPlan]) -> Finding:
        link = self.coc_id(finding)
        if finding.cause_of_concern and link is None:
            unlinked.append(finding)  # accompanies a cause of concern written in this same wave
        return Finding(
            inspection=self.inspections[finding.inspection],
            reference=finding.reference,
            kind=finding.kind,
            text=finding.text,
            due_by=finding.due_by,
            cause_of_concern_id=link,
        )

    def update(self, unlinked: list[_FindingPlan], updated_rows: list[Finding]) -> None:
        """Write the links still missing, and the changed findings."""
        Finding.objects.bulk_update(
            [self.row(finding) for finding in unlinked], ["cause_of_concern"], batch_size=BATCH_SIZE
        )
        for batch in _batches(updated_rows):
            _update_rows(batch, ["kind", "text", "due_by", "cause_of_concern"])
            self._wrote(len(batch))

    def replace_links(self, name: str, attribute: str, ids: dict[str, int], target: str) -> None:
        """Addressees or themes: replace the whole set of each finding whose set is new or changed."""
        through = getattr(Finding, name).through
        changed = [finding for finding in self.to_update if name in finding.changes]
        stale = [self.finding_ids[(finding.inspection, finding.reference)] for finding in changed]
        for batch in _batches(stale):
            through.objects.filter(finding_id__in=batch).delete()
        links = [
            (self.finding_ids[(finding.inspection, finding.reference)], ids[slug])
            for finding in (*self.to_create, *changed)
            for slug in sorted(getattr(finding, attribute))
        ]
        _insert_rows(through, ["finding_id", target], links)


def _insert_rows(model: type[Model], fields: Sequence[str], rows: Sequence[tuple]) -> None:
    """Insert plain rows (values of `fields`, in order) into `model`'s table, many to a statement, without
    making a model object of each (docs/BENCHMARKS.md, "The import writes without a model object per row")."""
    table = connection.ops.quote_name(model._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(model._meta.get_field(name).column) for name in fields)
    row = f"({', '.join(['%s'] * len(fields))})"
    size = min(BATCH_SIZE, (connection.features.max_query_params or BATCH_SIZE * len(fields)) // len(fields))
    with connection.cursor() as cursor:
        for batch in _batches(rows, size):
            values = ", ".join([row] * len(batch))
            cursor.execute(
                f"INSERT INTO {table} ({columns}) VALUES {values}", [value for item in batch for value in item]
            )


def _update_rows(rows: Sequence[Finding], names: Sequence[str]) -> None:
    """UPDATE each row by primary key in one executemany.

    `bulk_update` builds a CASE expression per field and takes about 4 seconds for 10,000 findings on
    SQLite; a parameterised UPDATE run for every row takes a few hundredths of that.
    """
    fields = [Finding._meta.get_field(name) for name in names]
    table = connection.ops.quote_name(Finding._meta.db_table)
    assignments = ", ".join(f"{connection.ops.quote_name(field.column)} = %s" for field in fields)
    pk = connection.ops.quote_name(Finding._meta.pk.column)
    params = [
        [*(field.get_db_prep_save(getattr(row, field.attname), connection) for field in fields), row.pk]
        for row in rows
    ]
    with connection.cursor() as cursor:
        cursor.executemany(f"UPDATE {table} SET {assignments} WHERE {pk} = %s", params)


def _record_history(
    created: list[Finding],
    updated: list[Finding],
    *,
    user: User | None,
    reason: str,
    date: dt.datetime,
) -> None:
    """Bulk writes skip the signals that record history, so write the history rows here, addressees too.

    Written by the database from the rows just saved (`INSERT ... SELECT`, a batch of findings to a
    statement), as `simple_history` would record a save of each: every field of the finding, when, by
    whom, why, and the addressees the finding has now."""
    history = Finding.history.model  # type: ignore[attr-defined]
    addressees = apps.get_model("inspections", "HistoricalFinding_addressed_to")
    qn = connection.ops.quote_name
    finding_columns = {field.attname: field.column for field in Finding._meta.concrete_fields}
    for history_type, findings in (("+", created), ("~", updated)):
        given = {"history_date": date, "history_change_reason": reason, "history_type": history_type,
                 "history_user_id": user.pk if user else None}  # fmt: skip
        stamp = history._meta.get_field("history_date").get_db_prep_save(date, connection)
        columns, values, params = [], [], []
        for field in history._meta.concrete_fields:
            if field.attname == "history_id":
                continue
            columns.append(qn(field.column))
            if field.attname in given:
                values.append("%s")
                params.append(field.get_db_prep_save(given[field.attname], connection))
            else:
                values.append(f"f.{qn(finding_columns[field.attname])}")  # KeyError: a field with no source
        for batch in _batches([finding.pk for finding in findings]):
            marks = ", ".join(["%s"] * len(batch))
            with connection.cursor() as cursor:
                cursor.execute(
                    f"INSERT INTO {qn(history._meta.db_table)} ({', '.join(columns)}) SELECT {', '.join(values)} "
                    f"FROM {qn(Finding._meta.db_table)} f WHERE f.id IN ({marks}) ORDER BY f.id",
                    [*params, *batch],
                )
                cursor.execute(
                    f"INSERT INTO {qn(addressees._meta.db_table)} (history_id, id, finding_id, organisation_id) "
                    f"SELECT h.history_id, a.id, a.finding_id, a.organisation_id FROM {qn(history._meta.db_table)} h "
                    f"JOIN {qn(Finding.addressed_to.through._meta.db_table)} a ON a.finding_id = h.id "
                    f"WHERE h.id IN ({marks}) AND h.history_date = %s AND h.history_type = %s "
                    "ORDER BY h.history_id, a.id",
                    [*batch, stamp, history_type],
                )
