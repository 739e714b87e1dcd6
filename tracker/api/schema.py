"""OpenAPI details drf-spectacular cannot see: the error answers every operation can give."""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse

from . import serializers as s

FIELD_ERRORS = {
    "type": "object",
    "description": (
        "Each field name maps to a list of messages (a list of files maps each failing position to its "
        "messages); `non_field_errors` holds messages about the request as a whole, e.g. a workflow rule."
    ),
    "additionalProperties": {},
}


class TrackerAutoSchema(AutoSchema):
    def _get_response_bodies(self, direction: str = "response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        errors: dict[str, OpenApiResponse] = {
            "400": OpenApiResponse(FIELD_ERRORS, description="The request is not valid; nothing changed."),
            "401": OpenApiResponse(s.ErrorSerializer, description="No credentials, or a revoked or unknown token."),
            "403": OpenApiResponse(
                s.ErrorSerializer, description="Your role may not do this (nothing changed), or two-factor is needed."
            ),
            "404": OpenApiResponse(s.ErrorSerializer, description="No such object that you may see."),
        }
        if self.method == "POST" and "{" in self.path:
            errors["409"] = OpenApiResponse(
                s.StaleVersionSerializer, description="The plan changed since you read it; nothing changed."
            )
        for code, response in errors.items():
            if code not in responses:
                responses[code] = self._get_response_for_code(response, code, direction=direction)
        return responses
