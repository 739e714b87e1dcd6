"""Errors as JSON: the workflow's refusals become 400 with messages, a stale version 409."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions, status
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
    if isinstance(exc, DjangoValidationError):
        # A workflow rule (state, evidence, owner...) refused the change: not about one field.
        exc = exceptions.ValidationError({api_settings.NON_FIELD_ERRORS_KEY: exc.messages})
    return drf_exception_handler(exc, context)
