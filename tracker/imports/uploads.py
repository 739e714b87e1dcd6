"""An uploaded findings file and what is kept beside it, in the default file storage under `imports/`.

Between upload and import the file waits as `imports/<token>`, beside it:

- `<token>.rows.json`: its rows, parsed once (a workbook of 10,000 rows takes seconds to parse), read by
  the import rather than the file again;
- `<token>.preview.json`: the checked plan the preview pages show, written by the job that checks the
  file (`tasks.check_file`), and again by an import refused because the database had moved on.

An upload is the dict kept in its uploader's session (path, name, options); the token is 128 random
bits and only names a file listed there, so no user input ever becomes part of a path.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from tracker.storage import files_under, is_missing

from .milestones import MilestoneOutcome
from .planning import Action, ImportPlan, InspectionOutcome, PlanCounts, RowOutcome
from .reading import ImportFileError, RowError, SourceRow, read_rows

UPLOAD_DIR = "imports"
KEEP_UPLOADS_FOR = dt.timedelta(days=1)
DEFAULT_WEB_MAX_ROWS = 10_000


def web_max_rows() -> int:
    """Findings the web import takes (IMPORT_WEB_MAX_ROWS); larger files go through the command."""
    return getattr(settings, "IMPORT_WEB_MAX_ROWS", DEFAULT_WEB_MAX_ROWS)


def rows_path(upload: dict[str, Any]) -> str:
    return f"{upload['path']}.rows.json"


def preview_path(upload: dict[str, Any]) -> str:
    return f"{upload['path']}.preview.json"


def exists(upload: dict[str, Any]) -> bool:
    return default_storage.exists(upload["path"])


def read(upload: dict[str, Any]) -> list[SourceRow]:
    """The file's rows, parsed once: the first reading keeps them beside the upload as JSON. Checking
    them against the database is still done each time, as the database may have moved on."""
    parsed = rows_path(upload)
    if default_storage.exists(parsed):
        with default_storage.open(parsed, "rb") as file:
            rows = [
                SourceRow(number, values, tuple(RowError(*problem) for problem in problems), section)
                for number, values, problems, section in json.load(file)
            ]
    else:
        with default_storage.open(upload["path"], "rb") as file:
            rows = read_rows(name=upload["name"], data=file.read())
        data = [
            [row.number, row.values, [[p.row, p.column, p.message] for p in row.problems], row.section] for row in rows
        ]
        default_storage.save(parsed, ContentFile(json.dumps(data).encode()))
    if len(rows) > web_max_rows():
        raise ImportFileError(
            f"The file has {len(rows):,} findings, too large to import here (at most {web_max_rows():,} on "
            f"this page). Split the file, or import it on the server with: manage.py import_findings {upload['name']}"
        )
    return rows


def discard(upload: dict[str, Any]) -> None:
    """Delete the file and everything kept beside it."""
    for path in (upload["path"], rows_path(upload), preview_path(upload)):
        default_storage.delete(path)


def remove_stale() -> None:
    """Delete uploads nobody imported or cancelled (a closed tab, an expired session)."""
    cutoff = timezone.now() - KEEP_UPLOADS_FOR
    for path in files_under(UPLOAD_DIR):
        try:
            if default_storage.get_modified_time(path) < cutoff:
                default_storage.delete(path)
        except NotImplementedError:  # a storage without times
            continue
        except Exception as error:
            if not is_missing(error):  # gone already: another server removed it
                raise


# --- the preview, as the check left it ----------------------------------------------------------


@dataclass
class Preview(PlanCounts):
    """A checked plan as the preview pages show it (the same names as `ImportPlan`), or why the file
    cannot be read. `candidates` are the findings to create or change, for suggested links."""

    file_error: ImportFileError | None = None
    rows: list[RowOutcome] = field(default_factory=list)
    inspections: list[InspectionOutcome] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    new_organisations: list[str] = field(default_factory=list)
    new_themes: list[str] = field(default_factory=list)
    plans_to_open: int = 0
    warnings: list[str] = field(default_factory=list)
    candidates: dict[int, dict[str, Any]] = field(default_factory=dict)
    milestones: list[MilestoneOutcome] = field(default_factory=list)


def save_preview(upload: dict[str, Any], plan: ImportPlan | None, file_error: ImportFileError | None = None) -> None:
    """Keep the checked plan (or why the file cannot be read) beside the upload, replacing any before."""
    if file_error is not None:
        data: dict[str, Any] = {"file_error": [file_error.message, [_error(e) for e in file_error.errors]]}
    else:
        assert plan is not None
        data = {
            "rows": [
                [r.row, r.inspection, r.reference, str(r.action), r.changes, [_error(e) for e in r.errors]]
                for r in plan.rows
            ],  # fmt: skip
            "inspections": [[i.slug, i.title, str(i.action), i.changes] for i in plan.inspections],
            "errors": [_error(error) for error in plan.errors],
            "new_organisations": plan.new_organisations,
            "new_themes": plan.new_themes,
            "plans_to_open": plan.plans_to_open,
            "warnings": plan.warnings,
            "candidates": plan.suggestion_candidates(),
            "milestones": [
                [m.row, m.plan, m.title, m.action, m.changes, [_error(e) for e in m.errors]] for m in plan.milestones
            ],
        }
    path = preview_path(upload)
    default_storage.delete(path)
    default_storage.save(path, ContentFile(json.dumps(data).encode()))


def load_preview(upload: dict[str, Any]) -> Preview | None:
    """The preview the check left, or None while there is none yet."""
    try:
        with default_storage.open(preview_path(upload), "rb") as file:
            data = json.load(file)
    except Exception as error:
        if is_missing(error):
            return None
        raise
    if "file_error" in data:
        message, errors = data["file_error"]
        return Preview(file_error=ImportFileError(message, [RowError(*error) for error in errors]))
    return Preview(
        rows=[
            RowOutcome(row, inspection, reference, Action(action), changes, [RowError(*e) for e in errors])
            for row, inspection, reference, action, changes, errors in data["rows"]
        ],  # fmt: skip
        inspections=[
            InspectionOutcome(slug, title, Action(action), changes)
            for slug, title, action, changes in data["inspections"]
        ],  # fmt: skip
        errors=[RowError(*error) for error in data["errors"]],
        new_organisations=data["new_organisations"],
        new_themes=data["new_themes"],
        plans_to_open=data["plans_to_open"],
        warnings=data["warnings"],
        candidates={int(row): candidate for row, candidate in data["candidates"].items()},
        milestones=[
            MilestoneOutcome(row, plan, title, action, changes, [RowError(*e) for e in errors])
            for row, plan, title, action, changes, errors in data.get("milestones", [])
        ],
    )


def _error(error: RowError) -> list[Any]:
    return [error.row, error.column, error.message]
