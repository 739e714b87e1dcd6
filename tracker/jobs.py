"""Background jobs: long work done by a worker process while its owner watches a progress bar.

Django's tasks framework queues the work (settings.TASKS: django-tasks-db, the queue in the
database) and `manage.py db_worker` runs it (docs/JOBS.md). A `Job` row is what people see: who
asked, how far it has gone, the outcome or why it failed, and the file it made.

- `start` records the job and queues its task in one transaction: both exist, or neither.
- `run` is the body of every job's task. It counts the attempt, then claims the job (queued ->
  running) with one conditional UPDATE, so a job is done at most once even if its task were ever
  delivered twice; the worker's own claim (a row lock, SKIP LOCKED) already keeps two workers from
  taking one task. A failure records a message for the owner and leaves nothing behind.
- The status page (`/jobs/<id>/`) and the file answer only the job's owner; anyone else gets 404.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from django import forms
from django.core.exceptions import PermissionDenied
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models import F
from django.db.models.functions import Coalesce
from django.http import FileResponse, Http404, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.tasks import Task
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe

from . import permissions
from .models import Job, User
from .storage import open_stored

logger = logging.getLogger("tracker.jobs")

# htmx stops polling when an answer has this status (and still swaps it in).
STOP_POLLING = 286

FAILED_UNEXPECTEDLY = (
    "Something went wrong while doing this, so it was stopped and nothing was changed. "
    "The error is in the server's log under job {id}; try again, or tell your administrator if it happens again."
)
COULD_NOT_RUN = (
    "This job could not be run, so nothing was changed. The error is in the server's log under job {id}; "
    "try again, or tell your administrator if it happens again."
)


class JobRefused(Exception):
    """The job cannot do what was asked; its message is shown to the owner as it is."""


def start(
    *,
    kind: str,
    task: Task,
    user: User | None,
    params: dict[str, Any] | None = None,
    file_name: str = "",
    pk: uuid.UUID | None = None,
) -> Job:
    """Record a job for `user` and queue `task` to do it; the job and its task are written together."""
    scope = permissions.plan_scope(user) if user is not None else ""
    if user is not None and scope is None:
        raise PermissionDenied
    with transaction.atomic():
        job = Job.objects.create(
            pk=pk or uuid.uuid4(), kind=kind, user=user, scope=scope or "", params=params or {}, file_name=file_name
        )
        result = task.enqueue(str(job.pk))
        job.task_id = str(result.id)
        job.save(update_fields=["task_id"])
    return job


PROGRESS_INTERVAL = 0.5  # seconds between two records of a job's progress
PROGRESS_DB = "progress"  # the database alias of the second connection (settings.py)


class Progress:
    """Records how far a job has gone, at most every PROGRESS_INTERVAL seconds (each is one small UPDATE).

    Work done inside one transaction (a findings import) cannot record its progress on that
    transaction's connection: nobody else would see it before the commit, and a rollback would undo
    it. Inside a transaction the record is written through a second connection (the `progress`
    database alias, settings.py), which commits at once; SQLite lets one writer in at a time and has
    no such alias, so there the progress inside a transaction is shown when it commits
    (`through_second_connection`).
    """

    def __init__(self, job: Job) -> None:
        self.job = job
        self.interval = PROGRESS_INTERVAL
        self._last = 0.0
        self._stage: str | None = None
        self.alias = DEFAULT_DB_ALIAS

    def __call__(self, done: int, total: int | None = None, stage: str | None = None) -> None:
        now = time.monotonic()
        if now - self._last < self.interval and done != total and stage in (None, self._stage):
            return
        self._last = now
        fields: dict[str, Any] = {"done": done}
        if total is not None:
            fields["total"] = total
        if stage is not None:
            fields["stage"] = stage
            self._stage = stage
        Job.objects.using(self.alias).filter(pk=self.job.pk).update(**fields)

    def through_second_connection(self) -> Progress | None:
        """The same record, written through the `progress` connection for work inside a transaction;
        None where there is no second connection (SQLite)."""
        if PROGRESS_DB not in connections.settings:
            return None
        other = Progress(self.job)
        other.alias = PROGRESS_DB
        return other


Work = Callable[[Job, Progress], str]


def run(job_id: str, work: Work) -> str:
    """Do `work` for the job once: claim it, run it, record the outcome. Returns the outcome."""
    Job.objects.filter(pk=job_id).update(attempts=F("attempts") + 1)
    claimed = Job.objects.filter(pk=job_id, status=Job.Status.QUEUED).update(
        status=Job.Status.RUNNING, started_at=timezone.now()
    )
    if not claimed:
        logger.warning("Job %s was already started or is gone; not run again.", job_id)
        return "not run again"
    job = Job.objects.select_related("user").get(pk=job_id)
    try:
        outcome = work(job, Progress(job))
    except JobRefused as error:
        _finish(job, Job.Status.FAILED, str(error))
        raise
    except BaseException:
        logger.exception("Job %s (%s) failed", job.pk, job.kind)
        _finish(job, Job.Status.FAILED, FAILED_UNEXPECTEDLY.format(id=job.pk))
        raise
    _finish(job, Job.Status.SUCCEEDED, outcome)
    return outcome


def _finish(job: Job, status: str, message: str) -> None:
    fields: dict[str, Any] = {"status": status, "message": message, "finished_at": timezone.now()}
    if status == Job.Status.SUCCEEDED:
        fields["done"] = Coalesce(F("total"), F("done"))
    Job.objects.filter(pk=job.pk).update(**fields)


def task_failed(task_id: str) -> None:
    """The worker recorded the job's task as failed: a job that never got as far as `run` (its task
    could not be loaded, say) must not wait for ever. A job `run` finished keeps its own message."""
    stuck = Job.objects.filter(task_id=task_id).exclude(status__in=Job.FINISHED_STATUSES)
    for job in stuck:
        Job.objects.filter(pk=job.pk).exclude(status__in=Job.FINISHED_STATUSES).update(
            status=Job.Status.FAILED, message=COULD_NOT_RUN.format(id=job.pk), finished_at=timezone.now()
        )


# --- pages -----------------------------------------------------------------------------------


def owned_job(request: Any, pk: Any) -> Job:
    """The signed-in user's own job; anyone else's (or none) is a 404, whoever asks."""
    return get_object_or_404(Job, pk=pk, user_id=request.user.pk)


@require_safe
def job_detail(request: Any, pk: Any) -> HttpResponse:
    job = owned_job(request, pk)
    context = {"job": job, "can_download": bool(job.file) and job.status == Job.Status.SUCCEEDED}
    follows = job.params.get("next") if job.status == Job.Status.SUCCEEDED else None
    if request.htmx:
        response = render(request, "tracker/job_detail.html#progress", context)
        if job.is_finished:
            response.status_code = STOP_POLLING
        if follows:  # the page the job leads to (an import's preview or results): htmx goes there
            response["HX-Redirect"] = follows
        return response
    if follows:
        return redirect(follows)
    return render(request, "tracker/job_detail.html", context)


@require_safe
def job_download(request: Any, pk: Any) -> FileResponse:
    """The job's file, for its owner, while they may still see what it holds (the same rows as when
    they asked: their scope then and now must be the same)."""
    job = owned_job(request, pk)
    if job.status != Job.Status.SUCCEEDED or not job.file:
        raise Http404("This job has no file.")
    if job.scope != (permissions.plan_scope(request.user) or ""):
        raise Http404("What you may see has changed since this file was made; ask for it again.")
    try:
        handle = open_stored(job.file)
    except FileNotFoundError as error:
        raise Http404("The file has been deleted; ask for it again.") from error
    response = FileResponse(handle, as_attachment=True, filename=job.file_name,
                            content_type=job.params.get("content_type", "application/octet-stream"))  # fmt: skip
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, no-store"
    return response


@require_POST
def export_start(request: Any) -> HttpResponse:
    """Start an XLSX export of /plans/ with the posted query string (offered by /plans/export.xlsx
    when it is too big to stream at once); its status page follows."""
    from .tasks import start_export

    form = ExportJobForm(request.POST)
    if not form.is_valid():
        return HttpResponseBadRequest("The export's query is too long.")
    job = start_export(user=request.user, query=form.cleaned_data["query"])
    return redirect(job)


class ExportJobForm(forms.Form):
    query = forms.CharField(required=False, max_length=4000, strip=False)


@require_POST
def board_pack_start(request: Any) -> HttpResponse:
    """Start a board pack PDF for an organisation the user may see (offered by the PDF's address when
    the pack is too big to make at once); its status page follows."""
    from .forms import BoardPackForm
    from .reports import board_pack_organisation
    from .tasks import start_board_pack

    form = BoardPackJobForm(request.POST)
    if not form.is_valid():
        return HttpResponseBadRequest("Name the organisation whose board pack to make.")
    organisation = board_pack_organisation(request.user, form.cleaned_data["organisation"])
    pack = BoardPackForm(request.POST)
    if not pack.is_valid():
        return HttpResponseBadRequest("The date to show changes since is not a valid date.")
    since = pack.cleaned_data["since"]
    job = start_board_pack(
        user=request.user,
        organisation=organisation,
        since=since.isoformat() if since else "",
        chart=pack.cleaned_data["chart"] == "1",
    )
    return redirect(job)


class BoardPackJobForm(forms.Form):
    organisation = forms.SlugField(max_length=100)
