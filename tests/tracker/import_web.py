"""The web import as a person goes through it, with the worker doing each job in between."""

from __future__ import annotations

from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile

from tests.jobs import run_worker


def upload(client: Any, name: str, data: bytes, **options: str) -> str:
    """Upload a file and let the worker check it; returns the preview's URL."""
    response = client.post("/imports/", {"file": SimpleUploadedFile(name, data), **options})
    assert response.status_code == 302, response.content
    run_worker()
    return response["Location"]


def token_of(preview_url: str) -> str:
    return preview_url.rstrip("/").rsplit("/", 1)[1]


def confirm(client: Any, preview_url: str) -> Any:
    """Confirm the import, let the worker do it, and follow to the page that ends it: the results,
    the job's failure, or the preview (refused before any job started)."""
    response = client.post(f"{preview_url}confirm/")
    assert response.status_code == 302, response.content
    run_worker()
    return client.get(response["Location"], follow=True)
