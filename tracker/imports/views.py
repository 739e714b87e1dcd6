"""Web import of findings for administrators: upload, preview row by row, confirm, done.

The work is done by a worker (tracker/imports/tasks.py, docs/JOBS.md): checking the uploaded file
for the preview, then importing it, each a job whose progress the page shows. Between the steps the
uploaded file waits in the default file storage beside what was made of it (tracker/imports/uploads.py):

- not in the session: a 10,000-finding file is megabytes, and sessions live in the database (or a
  signed cookie) and are read and written on every request;
- not re-sent in a hidden field: browsers cannot refill a file input, so the page would carry the
  whole file back and forth, and what is confirmed might not be what was previewed.

The token is 128 random bits and only names a file listed in the uploader's own session, so nobody
else can preview or confirm it, and no user input ever becomes part of a path; the jobs answer only
their owner. Stored files are never served directly. Files are removed on import or cancel, and any
left behind are removed a day later, at the next upload.
"""

from __future__ import annotations

import logging
import secrets
import uuid
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.storage import default_storage
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from tracker import permissions, suggestions
from tracker.http import AuthedRequest, bad_query
from tracker.malware import check_for_malware
from tracker.models import Job

from . import columns, services, tasks, uploads
from .forms import ImportForm, PreviewQueryForm

log = logging.getLogger(__name__)

UPLOADS_KEY = "findings_import_uploads"
RESULT_KEY = "findings_import_result"  # the id of the last import job, for /imports/done/
ROWS_PER_PAGE = 100
SHOW_CHOICES = {
    "all": "All rows",
    services.Action.CREATE: "To create",
    services.Action.UPDATE: "To update",
    services.Action.UNCHANGED: "Unchanged",
    services.Action.ERROR: "With errors",
}


def _require_admin(request: AuthedRequest) -> None:
    if not permissions.can_import(request.user):
        raise PermissionDenied


def _upload(request: AuthedRequest, token: str) -> dict[str, Any]:
    """The upload `token` names, if this session made it and its file is still there."""
    upload = request.session.get(UPLOADS_KEY, {}).get(token)
    if upload is None or not uploads.exists(upload):
        raise Http404("This upload has expired: upload the file again.")
    return upload


def _remember(request: AuthedRequest, token: str, upload: dict[str, Any] | None) -> None:
    """Keep (or, with None, forget) the upload in the session."""
    known = request.session.get(UPLOADS_KEY, {})
    if upload is None:
        known.pop(token, None)
    else:
        known[token] = upload
    request.session[UPLOADS_KEY] = known


def _job(request: AuthedRequest, upload: dict[str, Any], key: str) -> Job | None:
    """The upload's check or import job (`key`), the signed-in user's own."""
    job_id = upload.get(key)
    return Job.objects.filter(pk=job_id, user_id=request.user.pk).first() if job_id else None


def _start(request: AuthedRequest, token: str, upload: dict[str, Any], kind: str, key: str) -> Job:
    job = tasks.start(kind=kind, user=request.user, token=token, upload=_stored(upload))
    _remember(request, token, {**upload, key: str(job.pk)})
    return job


def _stored(upload: dict[str, Any]) -> dict[str, Any]:
    """What a job needs of the upload: where it is and what was chosen (not the session's job ids)."""
    return {name: upload[name] for name in ("path", "name", "create_organisations", "publish")}


def _scanned(request: AuthedRequest, form: ImportForm) -> bool:
    """Scan the file for malware before it is stored (when a scanner is configured)."""
    file = form.cleaned_data["file"]
    try:
        check_for_malware(file, name=file.name, user=request.user.get_username(), what="import")
    except ValidationError as error:
        form.add_error("file", error)
        return False
    return True


@require_http_methods(["GET", "POST"])
def import_upload(request: AuthedRequest) -> HttpResponse:
    _require_admin(request)
    form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid() and _scanned(request, form):
        uploads.remove_stale()
        token = secrets.token_hex(16)
        file = form.cleaned_data["file"]
        path = default_storage.save(f"{uploads.UPLOAD_DIR}/{token}", file)
        upload = {
            "path": path,
            "name": file.name,
            "create_organisations": form.cleaned_data["create_organisations"],
            "publish": form.cleaned_data["publish"],
        }
        _start(request, token, upload, Job.Kind.IMPORT_CHECK, "check_job")
        return redirect("imports:import-preview", token=token)
    return render(request, "imports/import_upload.html", {"form": form, "columns": columns.COLUMN_HELP.items()})


@require_GET
def import_preview(request: AuthedRequest, token: str) -> HttpResponse:
    """What confirming would do, row by row, as the check left it; nothing is written. While the
    check is running, its progress."""
    _require_admin(request)
    upload = _upload(request, token)
    context: dict[str, Any] = {"upload": upload, "token": token}
    preview = uploads.load_preview(upload)
    if preview is None:
        job = _job(request, upload, "check_job") or _start(request, token, upload, Job.Kind.IMPORT_CHECK, "check_job")
        return render(request, "imports/import_checking.html", context | {"job": job})
    if preview.file_error is not None:
        context["file_error"] = preview.file_error
        return render(request, "imports/import_preview.html", context)
    query = PreviewQueryForm(request.GET, choices=SHOW_CHOICES)
    if not query.is_valid():
        return bad_query(request, query)
    show = query.cleaned_data["show"] or "all"
    shown = preview.rows if show == "all" else [row for row in preview.rows if row.action == show]
    counts = {"all": len(preview.rows)} | {action: preview.count(action) for action in services.Action}
    page = Paginator(shown, ROWS_PER_PAGE).get_page(query.cleaned_data["page"])
    if preview.is_valid:
        suggested = suggestions.for_import_rows(preview.candidates, [row.row for row in page])
        for row in page:
            row.suggestions = suggested.get(row.row, [])  # type: ignore[attr-defined]
        context["suggested_count"] = len(suggested)
    context |= {
        "plan": preview,
        "page": page,
        "show": show,
        "filters": [(value, label, counts[value]) for value, label in SHOW_CHOICES.items()],
        "error_count": len(preview.errors),
        "importing": _job(request, upload, "apply_job"),
    }
    return render(request, "imports/import_preview.html", context)


@require_POST
def import_confirm(request: AuthedRequest, token: str) -> HttpResponse:
    """Import the file: a job checks it again (the database may have moved on since the preview) and
    writes it, all or nothing. Asking twice starts one job."""
    _require_admin(request)
    upload = _upload(request, token)
    job = _job(request, upload, "apply_job")
    if job is None or job.status == Job.Status.FAILED:
        preview = uploads.load_preview(upload)
        if preview is None or not preview.is_valid:
            messages.error(request, "Nothing was imported: the file has errors, listed below.")
            return redirect("imports:import-preview", token=token)
        job = _start(request, token, upload, Job.Kind.IMPORT_APPLY, "apply_job")
    return redirect(job)


@require_POST
def import_cancel(request: AuthedRequest, token: str) -> HttpResponse:
    _require_admin(request)
    upload = request.session.get(UPLOADS_KEY, {}).get(token)
    job = _job(request, upload, "apply_job") if upload else None
    if job is not None and job.status != Job.Status.FAILED:
        messages.error(request, "This file is being imported (or was), so it cannot be cancelled.")
        return redirect(job)
    if upload is not None:
        uploads.discard(upload)
        _remember(request, token, None)
    messages.info(request, "Import cancelled: nothing was written and the uploaded file was removed.")
    return redirect("imports:import-upload")


@require_GET
def import_done(request: AuthedRequest) -> HttpResponse:
    """The results of the signed-in user's last import. `?job=<id>` (where an import job leads) makes
    that job the last one, if it is theirs (anyone else's is a 404), and comes back here."""
    _require_admin(request)
    if "job" in request.GET:
        try:
            job_id = uuid.UUID(request.GET["job"])
        except ValueError:
            return HttpResponseBadRequest("job must be a job's id.")
        job = get_object_or_404(Job, pk=job_id, user_id=request.user.pk, kind=Job.Kind.IMPORT_APPLY)
        request.session[RESULT_KEY] = str(job.pk)
        _forget_imported(request, str(job.pk))
        return redirect("imports:import-done")
    last = request.session.get(RESULT_KEY)  # a string we stored (an older session may hold something else)
    job = Job.objects.filter(pk=last, user_id=request.user.pk).first() if isinstance(last, str) else None
    if job is None:
        return redirect("imports:import-upload")
    if job.status != Job.Status.SUCCEEDED:
        return redirect(job)
    summary = job.params.get("summary", {})
    # Worked out by the import job (`tasks.apply_file`): read here, never searched for while the page waits.
    suggested = suggestions.from_kept(summary.get("suggested", []))
    return render(request, "imports/import_done.html", {"summary": summary, "suggested": suggested, "job": job})


def _forget_imported(request: AuthedRequest, job_id: str) -> None:
    """The session need not keep an upload once it is imported."""
    for token, upload in list(request.session.get(UPLOADS_KEY, {}).items()):
        if upload.get("apply_job") == job_id:
            _remember(request, token, None)


@require_GET
def template_csv(request: AuthedRequest) -> HttpResponse:
    _require_admin(request)
    response = HttpResponse(columns.template_csv(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="findings-template.csv"'
    return response


@require_GET
def template_xlsx(request: AuthedRequest) -> HttpResponse:
    _require_admin(request)
    response = HttpResponse(
        columns.template_xlsx(), content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    response["Content-Disposition"] = 'attachment; filename="findings-template.xlsx"'
    return response
