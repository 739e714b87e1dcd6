"""What the pages, the API, reports and imports share about requests and responses."""

from __future__ import annotations

from django.forms import Form
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from .models import Evidence, User
from .storage import open_stored


class AuthedRequest(HttpRequest):
    """A request from a signed-in user (every page but the few marked `login_not_required`)."""

    user: User


def bad_query(request: HttpRequest, form: Form) -> HttpResponse:
    """A page's query parameters that do not validate: 400, naming each parameter and what is wrong."""
    errors = [(name, [str(message) for message in messages_]) for name, messages_ in form.errors.items()]
    return render(request, "400.html", {"errors": errors}, status=400)


def evidence_file_response(evidence: Evidence) -> FileResponse:
    """The file as an attachment that no browser will render or sniff (shared with the API)."""
    try:
        handle = open_stored(evidence.file)
    except FileNotFoundError as error:
        raise Http404("The file is missing from storage.") from error
    response = FileResponse(
        handle, as_attachment=True, filename=evidence.original_name, content_type="application/octet-stream"
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, no-store"
    return response
