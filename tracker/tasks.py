"""The work worker processes do (Django tasks; tracker/jobs.py records each one as a `Job`).

Each task takes the job's id only: everything else it needs is in the job's row, read when it runs.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from typing import Any

from django.core.files import File
from django.core.files.base import ContentFile
from django.dispatch import receiver
from django.http import QueryDict
from django.tasks import TaskResultStatus, task
from django.tasks.signals import task_finished
from django.utils import timezone

from inspections.models import Organisation

from . import jobs, papers, permissions, reminders, reports, xlsx
from .models import ActionPlan, Job

# --- action plans export (XLSX) ----------------------------------------------------------------

ROWS_PER_CHUNK = 500  # rows written between two reports of progress


def export_plans(job: Job, progress: jobs.Progress) -> str:
    """The /plans/ rows of the job's query string that its owner may see, as an XLSX file in the
    configured file storage (tracker/storage.py). They must see the same plans as when they asked."""
    user = job.user
    if user is None or permissions.plan_scope(user) != job.scope:
        raise jobs.JobRefused(
            "What you may see changed after you asked for this export, so it was not made. Ask for it again."
        )
    plans = reports.plans_to_export(user, QueryDict(job.params.get("query", "")))
    total = plans.count()
    progress(0, total)

    def counted(chunks: Any) -> Any:
        # stream_workbook yields the workbook's fixed parts, then a chunk every 500 rows, then the rest
        # (the Milestones sheet among it): each count of rows written is recorded once.
        recorded = 0
        for index, chunk in enumerate(chunks):
            yield chunk
            written = min(index * ROWS_PER_CHUNK, total)
            if index and written != recorded:
                progress(written, total)
                recorded = written

    stored = ""
    try:
        with tempfile.TemporaryFile() as spool:
            for chunk in counted(reports.xlsx_workbook(plans, rows_per_chunk=ROWS_PER_CHUNK, viewer=user)):
                spool.write(chunk)
            spool.seek(0)
            job.file.save("export.xlsx", File(spool), save=False)
            stored = job.file.name
        record_file(job, stored, total)
    except BaseException:
        if stored:  # made, but not recorded: leave nothing behind
            job.file.storage.delete(stored)
        raise
    return f"{total:,} action plan{'s' if total != 1 else ''} exported."


def record_file(job: Job, name: str, total: int) -> None:
    Job.objects.filter(pk=job.pk).update(file=name, total=total)


@task
def export_plans_xlsx(job_id: str) -> str:
    return jobs.run(job_id, export_plans)


def start_export(*, user: Any, query: str) -> Job:
    name = f"action-plans-{timezone.localdate():%Y-%m-%d}.xlsx"
    return jobs.start(
        kind=Job.Kind.EXPORT_XLSX,
        task=export_plans_xlsx,
        user=user,
        params={"query": query, "content_type": xlsx.CONTENT_TYPE},
        file_name=name,
    )


# --- board pack PDF ----------------------------------------------------------------------------


def make_board_pack(job: Job, progress: jobs.Progress) -> str:
    """The board pack PDF of the job's organisation, from the plans its owner may see, into the configured
    file storage. They must see the same plans as when they asked (and still see that organisation)."""
    user = job.user
    if user is None or permissions.plan_scope(user) != job.scope:
        raise jobs.JobRefused(
            "What you may see changed after you asked for this board pack, so it was not made. Ask for it again."
        )
    organisation = Organisation.objects.get(pk=job.params["organisation"])
    today = dt.date.fromisoformat(job.params["today"])
    since = dt.date.fromisoformat(job.params["since"]) if job.params.get("since") else papers.default_since(today)
    plans = ActionPlan.objects.visible_to(user)
    # Two steps the owner can watch: gathering the figures, then laying out the pages (most of the time).
    progress(0, 2)
    papers.start_layout()
    context = papers.board_pack_context(
        user=user, plans=plans, organisation=organisation, since=since, today=today,
        chart=job.params.get("chart", False),
    )  # fmt: skip
    count = len(context["plans"])
    progress(1, 2)
    pdf = papers.board_pack_pdf(context)
    stored = ""
    try:
        job.file.save("board-pack.pdf", ContentFile(pdf), save=False)
        stored = job.file.name
        record_file(job, stored, 2)
    except BaseException:
        if stored:
            job.file.storage.delete(stored)
        raise
    return f"Board pack of {count:,} action plan{'s' if count != 1 else ''} made."


@task
def board_pack_pdf(job_id: str) -> str:
    return jobs.run(job_id, make_board_pack)


def start_board_pack(*, user: Any, organisation: Organisation, since: str, chart: bool) -> Job:
    today = timezone.localdate()
    return jobs.start(
        kind=Job.Kind.BOARD_PACK_PDF,
        task=board_pack_pdf,
        user=user,
        params={
            "organisation": organisation.pk, "since": since, "chart": chart, "today": today.isoformat(),
            "content_type": "application/pdf",
        },
        file_name=papers.board_pack_filename(organisation, today),
    )  # fmt: skip


# --- reminder digests --------------------------------------------------------------------------


def send_reminder_digests(job: Job, progress: jobs.Progress) -> str:
    """Today's digests (the day the run was asked for), each claimed before it is sent: at most one
    per person per day (tracker/reminders.py), however many runs or workers there are."""
    today = dt.date.fromisoformat(job.params["today"])
    digests = [d for d in reminders.build_digests(today=today, days=job.params["days"]) if not d.is_empty]
    progress(0, len(digests))
    result = reminders.send_digests(digests, progress=lambda done: progress(done, len(digests)))
    if result.failed:
        names = ", ".join(user.username for user in result.failed)
        raise jobs.JobRefused(f"{result.summary()} Could not send to {names}; the next run today will retry.")
    summary = result.summary()
    if result.no_email:
        summary += " No email address: " + ", ".join(user.username for user in result.no_email) + "."
    return summary


@task
def send_reminders(job_id: str) -> str:
    return jobs.run(job_id, send_reminder_digests)


def start_reminders(*, today: dt.date, days: int) -> Job:
    return jobs.start(
        kind=Job.Kind.REMINDERS, task=send_reminders, user=None, params={"today": today.isoformat(), "days": days}
    )


# --- every job ---------------------------------------------------------------------------------


@receiver(task_finished, dispatch_uid="tracker-job-task-finished")
def _task_finished(sender: Any, task_result: Any, **kwargs: Any) -> None:
    if task_result.status == TaskResultStatus.FAILED:
        jobs.task_failed(str(task_result.id))
