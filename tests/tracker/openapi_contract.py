"""The API's answers checked against its own OpenAPI schema by a strict OpenAPI 3.0 validator
(openapi-schema-validator's `OAS30StrictValidator`, with format checks), as a generated client reads them:
the status must be one the operation documents, and a JSON body must match that status's schema."""

from __future__ import annotations

import functools
import re
from typing import Any

from drf_spectacular.views import SpectacularAPIView
from openapi_schema_validator import OAS30StrictValidator, oas30_strict_format_checker


@functools.cache
def served_schema() -> dict[str, Any]:
    """What `/api/schema/` serves, from the same generator and settings as that view."""
    return SpectacularAPIView().generator_class(urlconf=None, api_version=None).get_schema(request=None, public=True)


@functools.cache
def _operations() -> list[tuple[re.Pattern[str], str, dict[str, Any]]]:
    found = []
    for template, operations in served_schema()["paths"].items():
        pattern = re.compile("^" + re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(template)) + "$")
        for method, operation in operations.items():
            found.append((pattern, method, operation))
    return found


def operation_for(method: str, path: str) -> dict[str, Any] | None:
    path = path.split("?")[0]
    for pattern, documented_method, operation in _operations():
        if documented_method == method.lower() and pattern.match(path):
            return operation
    return None


def errors_in(instance: Any, schema: dict[str, Any]) -> list[str]:
    """Every way `instance` breaks `schema` (which may refer to the components)."""
    root = {**schema, "components": served_schema()["components"]}
    validator = OAS30StrictValidator(root, format_checker=oas30_strict_format_checker)
    return [f"{'/'.join(map(str, e.absolute_path)) or '(body)'}: {e.message}" for e in validator.iter_errors(instance)]


def check_response(method: str, path: str, response: Any) -> None:
    """Fails the test if the answer is not what the schema says this operation can answer."""
    operation = operation_for(method, path)
    if operation is None:
        return  # not an operation of the schema (an unknown path, the schema itself)
    status = str(response.status_code)
    documented = operation["responses"]
    assert status in documented, f"{method.upper()} {path} answered {status}, documented: {sorted(documented)}"
    content_type = response.get("Content-Type", "").split(";")[0]
    content = documented[status].get("content", {})
    assert content_type in content or not content, f"{method.upper()} {path}: {content_type} not documented"
    if content_type == "application/json":
        problems = errors_in(response.json(), content[content_type]["schema"])
        assert not problems, f"{method.upper()} {path} {status} breaks its schema:\n" + "\n".join(problems)
