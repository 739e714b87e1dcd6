"""Web import of findings for administrators: upload, preview row by row, confirm, done.

The same service as `manage.py import_findings` does the work. Between preview and confirm the
uploaded file waits in the default storage (MEDIA_ROOT) as `imports/<token>`:

- not in the session: a 10,000-finding file is megabytes, and sessions live in the database (or a
  signed cookie) and are read and written on every request;
- not re-sent in a hidden field: browsers cannot refill a file input, so the page would carry the
  whole file back and forth, and what is confirmed might not be what was previewed.

The token is 128 random bits and only names a file listed in the uploader's own session, so nobody
else can preview or confirm it, and no user input ever becomes part of a path. MEDIA_ROOT is never
served directly (evidence goes through a permission-checked view). Files are removed on confirm or
cancel, and any left behind are removed a day later, at the next upload.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import secrets
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.files.storage import default_storage
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from tracker import permissions
from tracker.views import AuthedRequest

from . import columns, services
from .forms import ImportForm

log = logging.getLogger(__name__)

UPLOAD_DIR = "imports"
UPLOADS_KEY = "findings_import_uploads"
RESULT_KEY = "findings_import_result"
KEEP_UPLOADS_FOR = dt.timedelta(days=1)
ROWS_PER_PAGE = 100
MAX_CHANGE_LINES = 200
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
    if upload is None or not default_storage.exists(upload["path"]):
        raise Http404("This upload has expired: upload the file again.")
    return upload


def _discard(request: AuthedRequest, token: str) -> None:
    uploads = request.session.get(UPLOADS_KEY, {})
    upload = uploads.pop(token, None)
    request.session[UPLOADS_KEY] = uploads
    if upload is not None:
        default_storage.delete(upload["path"])


def _remove_stale_uploads() -> None:
    """Delete uploads nobody confirmed or cancelled (a closed tab, an expired session)."""
    cutoff = timezone.now() - KEEP_UPLOADS_FOR
    try:
        _folders, names = default_storage.listdir(UPLOAD_DIR)
    except FileNotFoundError:
        return
    for name in names:
        path = f"{UPLOAD_DIR}/{name}"
        try:
            if default_storage.get_modified_time(path) < cutoff:
                default_storage.delete(path)
        except (FileNotFoundError, NotImplementedError):  # gone already, or a storage without times
            continue


def _read(upload: dict[str, Any]) -> list[services.SourceRow]:
    with default_storage.open(upload["path"], "rb") as file:
        return services.read_rows(name=upload["name"], data=file.read())


@require_http_methods(["GET", "POST"])
def import_upload(request: AuthedRequest) -> HttpResponse:
    _require_admin(request)
    form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        _remove_stale_uploads()
        token = secrets.token_hex(16)
        file = form.cleaned_data["file"]
        path = default_storage.save(f"{UPLOAD_DIR}/{token}", file)
        uploads = request.session.get(UPLOADS_KEY, {})
        uploads[token] = {
            "path": path,
            "name": file.name,
            "create_organisations": form.cleaned_data["create_organisations"],
            "publish": form.cleaned_data["publish"],
        }
        request.session[UPLOADS_KEY] = uploads
        return redirect("imports:import-preview", token=token)
    return render(request, "imports/import_upload.html", {"form": form, "columns": columns.COLUMN_HELP.items()})


@require_GET
def import_preview(request: AuthedRequest, token: str) -> HttpResponse:
    """What confirming would do, row by row; nothing is written."""
    _require_admin(request)
    upload = _upload(request, token)
    context: dict[str, Any] = {"upload": upload, "token": token}
    try:
        rows = _read(upload)
    except services.ImportFileError as error:
        context["file_error"] = error
        return render(request, "imports/import_preview.html", context)
    plan = services.plan_import(rows=rows, create_organisations=upload["create_organisations"])
    show = request.GET.get("show", "all")
    if show not in SHOW_CHOICES:
        show = "all"
    shown = plan.rows if show == "all" else [row for row in plan.rows if row.action == show]
    counts = {"all": len(plan.rows)} | {action: plan.count(action) for action in services.Action}
    context |= {
        "plan": plan,
        "page": Paginator(shown, ROWS_PER_PAGE).get_page(request.GET.get("page")),
        "show": show,
        "filters": [(value, label, counts[value]) for value, label in SHOW_CHOICES.items()],
        "error_count": len(plan.errors),
    }
    return render(request, "imports/import_preview.html", context)


@require_POST
def import_confirm(request: AuthedRequest, token: str) -> HttpResponse:
    """Check the file again (the database may have moved on since the preview) and import it."""
    _require_admin(request)
    upload = _upload(request, token)
    try:
        outcome = services.import_findings(
            rows=_read(upload),
            create_organisations=upload["create_organisations"],
            publish=upload["publish"],
            user=request.user,
            source=upload["name"],
        )
    except (services.ImportFileError, services.ImportRejected):
        messages.error(request, "Nothing was imported: the file has errors, listed below.")
        return redirect("imports:import-preview", token=token)
    _discard(request, token)
    log.info("findings import by %s from %s", request.user.get_username(), upload["name"])
    several = len(outcome.plan.inspections) > 1
    updated = [
        f"{row.inspection} {row.label}" if several else row.label
        for row in outcome.plan.rows
        if row.action == services.Action.UPDATE
    ]
    request.session[RESULT_KEY] = {
        "name": upload["name"],
        "publish": upload["publish"],
        "result": dataclasses.asdict(outcome.result) if outcome.result else {},
        "inspections": [
            {"slug": item.slug, "title": item.title, "action": str(item.action), "changes": item.changes}
            for item in outcome.plan.inspections
        ],
        "updated": updated[:MAX_CHANGE_LINES],
        "more_updated": max(0, len(updated) - MAX_CHANGE_LINES),
        "new_organisations": outcome.plan.new_organisations,
        "new_themes": outcome.plan.new_themes,
        "warnings": outcome.plan.warnings,
    }
    messages.success(request, f"Imported {upload['name']}.")
    return redirect("imports:import-done")


@require_POST
def import_cancel(request: AuthedRequest, token: str) -> HttpResponse:
    _require_admin(request)
    _discard(request, token)
    messages.info(request, "Import cancelled: nothing was written and the uploaded file was removed.")
    return redirect("imports:import-upload")


@require_GET
def import_done(request: AuthedRequest) -> HttpResponse:
    _require_admin(request)
    summary = request.session.get(RESULT_KEY)
    if summary is None:
        return redirect("imports:import-upload")
    return render(request, "imports/import_done.html", {"summary": summary})


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
