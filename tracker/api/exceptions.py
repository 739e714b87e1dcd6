"""Errors as JSON: the workflow's refusals become 400 with messages, a stale version 409."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler

from .. import workflow


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, workflow.StaleVersion):
        plan = exc.plan
        return Response(
            {
                "detail": (
                    f"This plan has changed since you read it (it is now version {plan.version}). "
                    "Read it again, check the latest entries, then send your change again."
                ),
                "code": "stale",
                "current_version": plan.version,
            },
            status=status.HTTP_409_CONFLICT,
        )
    # Django's own limits on a request body, met while the body is parsed: JSON, as every refusal here.
    if isinstance(exc, TooManyFilesSent):
        limit = settings.DATA_UPLOAD_MAX_NUMBER_FILES
        return Response({"detail": f"Too many files in one request: send at most {limit} files at a time."},
                        status=status.HTTP_400_BAD_REQUEST)  # fmt: skip
    if isinstance(exc, TooManyFieldsSent):
        return Response({"detail": "Too many fields in one request."}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, RequestDataTooBig):
        return Response({"detail": "The request body is too large."}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, exceptions.UnsupportedMediaType):
        return Response({"detail": unsupported_media_type(context["request"])}, status=exc.status_code)
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(field_errors(exc))
    return drf_exception_handler(exc, context)


def field_errors(error: DjangoValidationError) -> dict[str, list[str]]:
    """A workflow refusal as the API words a request's errors. A rule about one of the request's fields (a
    date outside the accepted range, say) is named by the function's argument, which is the field's name;
    any other rule (state, evidence, owner...) is about the request as a whole."""
    if not hasattr(error, "error_dict"):
        return {api_settings.NON_FIELD_ERRORS_KEY: error.messages}
    return {
        api_settings.NON_FIELD_ERRORS_KEY if name == NON_FIELD_ERRORS else name: messages
        for name, messages in error.message_dict.items()
    }


def unsupported_media_type(request: Request) -> str:
    """Which media types the request could have been sent as: those of the parsers it was given
    (JSON, plus multipart/form-data where files may be sent: `tracker.api.views.parsers_for`)."""
    sent = (request.content_type or "").split(";")[0].strip() or "no media type"
    accepted = [parser.media_type for parser in request.parsers]
    words = "JSON (application/json)" if "application/json" in accepted else " or ".join(accepted)
    if "multipart/form-data" in accepted:
        words += ", or multipart/form-data to send files"
    return f"This request cannot be sent as {sent}: send it as {words}."
