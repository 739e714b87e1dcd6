"""The web import's work, done by a worker (tracker/jobs.py, docs/JOBS.md) while the page shows its progress.

- `check`: read the uploaded file, check every row against the database and keep the plan beside the
  upload for the preview pages (`uploads.save_preview`). Writes nothing else.
- `apply`: check the rows again (the database may have moved on) and write them, both in one
  transaction (`services.import_findings`): all or nothing. A refusal says why and changes nothing; a
  plan refused because the database moved on replaces the preview, so its errors are listed there.

Each job's parameters are the upload (as kept in its owner's session) and the pages that follow it.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from typing import Any

from django.db import DatabaseError
from django.tasks import task
from django.urls import reverse

from tracker import jobs, permissions, suggestions
from tracker.models import Job, User

from . import services, uploads

log = logging.getLogger("tracker.imports")

MAX_CHANGE_LINES = 200
STAGES = {"Reading": "Reading the rows", "Checking": "Checking every row", "Writing": "Writing the findings"}
FINISHING = "Recording the findings' history and opening action plans"
SUGGESTING = "Looking for earlier findings the new ones may repeat"
EXPIRED = (
    "The uploaded file is no longer there (it expired or was imported already), so nothing was done. Upload it again."
)


def _stage_progress(progress: jobs.Progress, rows: int, *, writing: bool) -> services.Progress:
    """The import's progress (label, done of total in that step) as one bar over its steps: reading and
    checking each row, then (when writing) writing the findings, and last recording their history and
    opening action plans (a quarter of the bar, named while it runs). Each step is counted as `rows`
    whatever it holds, so the bar never runs backwards."""
    steps = 4 if writing else 2
    offsets = {"Reading": 0, "Checking": rows, "Writing": 2 * rows}

    def report(label: str, done: int, total: int) -> None:
        within = rows * done // total if total else rows
        progress(offsets[label] + within, steps * rows, STAGES[label])
        if label == "Writing" and done == total:
            progress(3 * rows, steps * rows, FINISHING)

    return report


def _upload(job: Job) -> dict[str, Any]:
    user = job.user
    if user is None or not permissions.can_import(user):
        raise jobs.JobRefused("You may no longer import findings, so nothing was done.")
    upload = job.params["upload"]
    if not uploads.exists(upload):
        raise jobs.JobRefused(EXPIRED)
    return upload


def check_file(job: Job, progress: jobs.Progress) -> str:
    upload = _upload(job)
    progress(0, None, "Reading the file")
    try:
        rows = uploads.read(upload)
    except services.ImportFileError as error:
        uploads.save_preview(upload, None, error)
        return "The file cannot be read."
    plan = services.plan_import(
        rows=rows,
        create_organisations=upload["create_organisations"],
        progress=_stage_progress(progress, len(rows), writing=False),
        publish=upload["publish"],
    )
    uploads.save_preview(upload, plan)
    if not plan.is_valid:
        count = len(plan.errors)
        return f"The file has {count:,} error{'' if count == 1 else 's'}: nothing can be imported until each is fixed."
    return f"Checked {len(plan.rows):,} row{'' if len(plan.rows) == 1 else 's'}: ready to import."


def apply_file(job: Job, progress: jobs.Progress) -> str:
    upload = _upload(job)
    progress(0, None, "Reading the file")
    try:
        rows = uploads.read(upload)
        # The import is one transaction: its progress is written through a second connection, which
        # SQLite (one writer at a time) does not have; there the bar moves when it is committed.
        second = progress.through_second_connection()
        progress(0, 4 * len(rows), STAGES["Reading"])  # the whole bar, set before the transaction
        if second is None:
            progress(0, len(rows), "Checking and writing in one go (the bar moves when it is done)")
        outcome = services.import_findings(
            rows=rows,
            create_organisations=upload["create_organisations"],
            publish=upload["publish"],
            user=job.user,
            source=upload["name"],
            progress=_stage_progress(second, len(rows), writing=True) if second else None,
        )
    except services.ImportConflict as error:
        raise jobs.JobRefused(str(error)) from error
    except services.ImportRejected as rejected:
        uploads.save_preview(upload, rejected.plan)
        raise jobs.JobRefused(
            "Nothing was imported: the file has errors now that it did not have when it was checked "
            "(the database has changed since). They are listed on the preview."
        ) from rejected
    except services.ImportFileError as error:
        uploads.save_preview(upload, None, error)
        raise jobs.JobRefused(f"Nothing was imported: {error.message}") from error
    log.info("findings import by %s from %s", job.user.get_username() if job.user else "-", upload["name"])
    results = summary(upload, outcome)
    # The suggested links of the results page: a text search per finding written (at most 100), done here
    # once rather than each time the page is shown, in the last quarter of the bar.
    count = len(rows)

    def suggesting(done: int, total: int) -> None:
        progress(3 * count + count * done // total, 4 * count, SUGGESTING)

    try:
        results["suggested"] = suggestions.keep_for_imported([tuple(key) for key in results["written"]], suggesting)
    except DatabaseError:  # the import is committed: a failed look-up leaves the page without suggestions
        log.exception("suggested links after the import from %s", upload["name"])
        results["suggested"] = []
    jobs.Job.objects.filter(pk=job.pk).update(params={**job.params, "summary": results})
    uploads.discard(upload)
    return f"Imported {upload['name']}."


def summary(upload: dict[str, Any], outcome: services.ImportOutcome) -> dict[str, Any]:
    """What the results page shows of an applied import."""
    plan = outcome.plan
    several = len(plan.inspections) > 1
    updated = [f"{row.inspection} {row.label}" if several else row.label
               for row in plan.rows if row.action == services.Action.UPDATE]  # fmt: skip
    return {
        "name": upload["name"],
        "publish": upload["publish"],
        "result": dataclasses.asdict(outcome.result) if outcome.result else {},
        "milestones": plan.milestone_figures if plan.milestones else None,
        "inspections": [
            {"slug": item.slug, "title": item.title, "action": str(item.action), "changes": item.changes}
            for item in plan.inspections
        ],
        "updated": updated[:MAX_CHANGE_LINES],
        "more_updated": max(0, len(updated) - MAX_CHANGE_LINES),
        "new_organisations": plan.new_organisations,
        # Findings created or changed, for the suggested links on the results page (`suggested`, kept by
        # `apply_file` from these: `suggestions.keep_for_imported`).
        "written": [
            [row.inspection, row.reference]
            for row in plan.rows
            if row.action in (services.Action.CREATE, services.Action.UPDATE)
        ][: suggestions.MAX_IMPORT_FINDINGS],
        "new_themes": plan.new_themes,
        "warnings": plan.warnings,
    }


@task
def check_import(job_id: str) -> str:
    return jobs.run(job_id, check_file)


@task
def apply_import(job_id: str) -> str:
    return jobs.run(job_id, apply_file)


def start(*, kind: str, user: User, token: str, upload: dict[str, Any]) -> Job:
    """Queue checking or importing the upload `token` names, for its uploader. A check leads back to
    the preview; an import to its results, or back to the preview if it fails."""
    preview = reverse("imports:import-preview", kwargs={"token": token})
    if kind == Job.Kind.IMPORT_CHECK:
        return jobs.start(kind=kind, task=check_import, user=user, params={"upload": upload, "next": preview})
    pk = uuid.uuid4()
    done = f"{reverse('imports:import-done')}?job={pk}"
    params = {"upload": upload, "next": done, "back": preview}
    return jobs.start(kind=kind, task=apply_import, user=user, params=params, pk=pk)
