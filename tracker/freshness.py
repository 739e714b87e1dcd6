"""Cached figures that are never stale: keys carry the data version, which every change moves.

Every save or delete of a record that a cached page reads (plans, updates, findings and their
themes and addressees, inspections, gradings, organisations, regions, themes, users) moves the
version in the same transaction; bulk writes that send no signals (publishing, imports) call
`changed()` themselves. A reader takes the version, then computes: a value computed from older data
can only be stored under an older version, which no later reader asks for (the new version and the
new data become visible together, at commit).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.cache import cache
from django.db.models import F
from django.db.models.signals import m2m_changed, post_delete, post_save

from .models import DataVersion

CACHE_SECONDS = 15 * 60  # a bound on memory use only: a stale value is never read


def current() -> int:
    value = DataVersion.objects.filter(pk=1).values_list("value", flat=True).first()
    return value if value is not None else 0


def changed() -> None:
    """The data moved: move the version, in the caller's transaction if there is one."""
    if not DataVersion.objects.filter(pk=1).update(value=F("value") + 1):
        DataVersion.objects.get_or_create(pk=1, defaults={"value": 1})


def cached(key: str, compute: Callable[[], Any]) -> Any:
    """`compute()`, or its value kept from an earlier call under the same key and data version."""
    full_key = f"v{current()}:{key}"
    value = cache.get(full_key)
    if value is None:
        value = compute()
        cache.set(full_key, value, CACHE_SECONDS)
    return value


# A user's sign-in, password and own preferences change nothing any cached page shows.
USER_BOOKKEEPING = frozenset({"last_login", "password", "last_home_visit", "receive_digest"})


def _on_change(sender: Any, **kwargs: Any) -> None:
    if kwargs.get("raw"):  # fixtures loading
        return
    fields = kwargs.get("update_fields")
    if fields and set(fields) <= USER_BOOKKEEPING:
        return
    changed()


def _on_m2m(sender: Any, action: str, **kwargs: Any) -> None:
    if action in {"post_add", "post_remove", "post_clear"}:
        changed()


def connect() -> None:
    from django.apps import apps

    from inspections.models import Finding

    for label in (
        "tracker.ActionPlan", "tracker.Update", "tracker.User", "inspections.Finding", "inspections.Inspection",
        "inspections.Grading", "inspections.Organisation", "inspections.Region", "inspections.Theme",
    ):  # fmt: skip
        model = apps.get_model(label)
        post_save.connect(_on_change, sender=model, dispatch_uid=f"freshness-save-{label}")
        post_delete.connect(_on_change, sender=model, dispatch_uid=f"freshness-delete-{label}")
    for through in (Finding.themes.through, Finding.addressed_to.through):
        m2m_changed.connect(_on_m2m, sender=through, dispatch_uid=f"freshness-m2m-{through._meta.label}")
