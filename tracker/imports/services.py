"""Findings import: read a file into rows, check every row into a plan of changes, then apply the plan.

The steps are separate so that the web preview can show the plan before anything is written and the
command can offer --dry-run. Every row is checked before anything is written, and the writing happens
in one transaction, so a file with any bad row changes nothing at all.

- `reading`: a CSV, XLSX or JSON file into rows of text (`read_rows`);
- `planning`: every row checked against the file and the database into a plan (`plan_import`);
- `applying`: a valid plan written in bulk in one transaction (`apply_import`);
- `reporting`: the summary the command prints (`summary_lines`);
- here: the whole import, as the command, the web import and the demo run it (`import_findings`).

Speed: a plan takes a fixed handful of queries whatever the file's size, and applying it uses bulk
inserts and updates, so 10,000 findings import in a few seconds (docs/IMPORT.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db import IntegrityError, transaction

from ..logsync import syncing_log
from .applying import ImportResult, MilestonesNeedAPerson, apply_import
from .planning import Action, ImportPlan, ImportRejected, InspectionOutcome, RowOutcome, plan_import
from .progress import Progress
from .reading import ImportFileError, RowError, SourceRow, detect_format, max_rows, read_rows
from .reporting import summary_lines

if TYPE_CHECKING:
    from tracker.models import User

__all__ = [
    "Action",
    "ImportConflict",
    "ImportFileError",
    "ImportOutcome",
    "ImportPlan",
    "ImportRejected",
    "ImportResult",
    "MilestonesNeedAPerson",
    "InspectionOutcome",
    "Progress",
    "RowError",
    "RowOutcome",
    "SourceRow",
    "apply_import",
    "detect_format",
    "import_findings",
    "max_rows",
    "plan_import",
    "read_rows",
    "summary_lines",
]


class ImportConflict(ImportFileError):
    """A simultaneous import wrote the same rows first; nothing of this one was written."""


@dataclass(frozen=True)
class ImportOutcome:
    plan: ImportPlan
    result: ImportResult | None  # None for a dry run


def import_findings(
    *,
    rows: Sequence[SourceRow],
    create_organisations: bool = False,
    publish: bool = False,
    dry_run: bool = False,
    user: User | None = None,
    source: str = "",
    progress: Progress | None = None,
) -> ImportOutcome:
    """Check the rows and, unless it is a dry run, apply them. Raises ImportRejected listing every error.

    Checking and writing share one transaction, so what is written is what was checked.
    """
    if dry_run:
        plan = plan_import(rows=rows, create_organisations=create_organisations, progress=progress, publish=publish)
        if not plan.is_valid:
            raise ImportRejected(plan)
        return ImportOutcome(plan, None)
    try:
        with transaction.atomic():
            plan = plan_import(
                rows=rows, create_organisations=create_organisations, progress=progress, publish=publish
            )
            if not plan.is_valid:
                raise ImportRejected(plan)
            with syncing_log():  # people's writes meanwhile do not wait to sync the import's log
                result = apply_import(plan=plan, user=user, publish=publish, source=source, progress=progress)
    except IntegrityError as error:
        # Another import created the same inspection, finding, organisation or theme between this
        # one's check and its write (two people importing one new report at once). Everything of
        # this one was rolled back; run again, it finds what the other wrote and updates it.
        raise ImportConflict(
            "Another import wrote some of the same inspections or findings at the same time; nothing was "
            "imported from this file. Import it again: it will update what the other import created."
        ) from error
    return ImportOutcome(plan, result)
