"""OpenAPI details drf-spectacular cannot see: which errors each operation can give (and only those),
and null written so that strict OpenAPI 3.0 validators and client generators accept it."""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import force_instance, is_serializer
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse

from . import serializers as s

FIELD_ERRORS = {
    "type": "object",
    "description": (
        "Each field name maps to a list of messages (a list of files maps each failing position to its "
        "messages); `non_field_errors` holds messages about the request as a whole, e.g. a workflow rule."
    ),
    "additionalProperties": {},
}
NUL_PARAMETER = "A query parameter holds a NUL character, which no parameter may contain; nothing was read."
NULL = {"enum": [None]}
BLANK_TEXT = {"type": "string", "maxLength": 0}


class TrackerAutoSchema(AutoSchema):
    """Adds to each operation the error answers it can give:

    - 400 to every change, and to a read that takes query parameters other than `page` and `page_size`
      (filters are checked; a bad `page` is 404 and a bad `page_size` is ignored); to every other read
      only for a NUL character in any parameter, which the app refuses before any view reads it;
    - 401 and 403 to everything (no credentials; a role that may not, or a session without two-factor);
    - 404 where there is something to find (an object in the path) or a page past the last one;
    - 409 to a change that carries the plan's `version`;
    - 415 to every change: a body in a media type it does not take (`tracker.api.views.parsers_for`).
    """

    def _get_response_bodies(self, direction: str = "response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        errors: dict[str, OpenApiResponse] = {}
        if self.method != "GET" or self._takes_checked_query_parameters():
            errors["400"] = OpenApiResponse(FIELD_ERRORS, description="The request is not valid; nothing changed.")
        else:  # tracker.middleware.QueryStringGuardMiddleware, before any view
            errors["400"] = OpenApiResponse(FIELD_ERRORS, description=NUL_PARAMETER)
        errors["401"] = OpenApiResponse(
            s.ErrorSerializer, description="No credentials, or a revoked or unknown token."
        )
        errors["403"] = OpenApiResponse(
            s.ErrorSerializer, description="Your role may not do this (nothing changed), or two-factor is needed."
        )
        not_found = self._not_found()
        if not_found:
            errors["404"] = OpenApiResponse(s.ErrorSerializer, description=not_found)
        if self.method in ("POST", "PUT", "PATCH"):
            errors["415"] = OpenApiResponse(
                s.ErrorSerializer,
                description="The body is in a media type this operation does not take (those of its request body, "
                "or JSON); nothing changed.",
            )
        if self._checks_version():
            errors["409"] = OpenApiResponse(
                s.StaleVersionSerializer, description="The plan changed since you read it; nothing changed."
            )
        for code, response in errors.items():
            if code not in responses:
                responses[code] = self._get_response_for_code(response, code, direction=direction)
        return responses

    def _takes_checked_query_parameters(self) -> bool:
        declared = [
            p for p in self.get_override_parameters() if isinstance(p, OpenApiParameter) and p.location == "query"
        ]
        return bool(declared or self._get_filter_parameters())

    def _not_found(self) -> str:
        paginated = self._is_list_view() and self._get_paginator() is not None
        if "{" in self.path and paginated:
            return "No such object that you may see, or a page past the last one."
        if "{" in self.path:
            return "No such object that you may see."
        if paginated:
            return "A page past the last one (or a `page` that is not a number)."
        return ""

    def _checks_version(self) -> bool:
        request = self.get_request_serializer() if self.method == "POST" else None
        bodies = request.values() if isinstance(request, dict) else [request]
        return any(is_serializer(body) and "version" in force_instance(body).fields for body in bodies)


def strict_openapi_30(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """What drf-spectacular writes that a strict OpenAPI 3.0 validator reads otherwise than meant:

    - a nullable nested object, `allOf: [$ref]` with `nullable: true`, reads as "never null" (the
      referenced schema refuses null): written as one of the object or null, as drf-spectacular already
      does for nullable choices;
    - a text with a format that may also be blank, `oneOf: [{format: uri}, {maxLength: 0}]`, refuses ""
      wherever the format is not checked ("" then matches both): written as `anyOf`.
    """
    schemas = result.setdefault("components", {}).setdefault("schemas", {})

    def rewrite(node: Any) -> None:
        if isinstance(node, dict):
            refs = node.get("allOf")
            if node.get("nullable") and isinstance(refs, list) and len(refs) == 1 and "$ref" in refs[0]:
                del node["allOf"]
                node["oneOf"] = [refs[0], {"$ref": "#/components/schemas/NullEnum"}]
                schemas.setdefault("NullEnum", NULL)
            if BLANK_TEXT in node.get("oneOf", []):
                node["anyOf"] = node.pop("oneOf")
            for value in node.values():
                rewrite(value)
        elif isinstance(node, list):
            for value in node:
                rewrite(value)

    rewrite(result)
    return result
