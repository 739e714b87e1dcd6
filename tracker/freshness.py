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
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.db.models import F
from django.db.models.signals import m2m_changed, post_delete, post_save

from .models import DataVersion

CACHE_SECONDS = 15 * 60  # a bound on memory use only: a stale value is never read
HISTORY_CACHE_SECONDS = 24 * 60 * 60

DATA = 1
# A second counter for the past: what happened before a given day changes only when plans or updates
# are deleted or written in bulk with past dates (load data, the demo), never through the workflow,
# which dates everything it writes now. Figures about past months are kept under this one.
HISTORY = 2


def current(counter: int = DATA) -> int:
    value = DataVersion.objects.filter(pk=counter).values_list("value", flat=True).first()
    return value if value is not None else 0


def _move(counter: int) -> None:
    if not DataVersion.objects.filter(pk=counter).update(value=F("value") + 1):
        DataVersion.objects.get_or_create(pk=counter, defaults={"value": 1})


def changed() -> None:
    """The data moved: move the version, in the caller's transaction if there is one."""
    _move(DATA)


def history_changed() -> None:
    """Rows dated in the past were written or deleted: figures about the past must be computed again."""
    _move(DATA)
    _move(HISTORY)


def _cached(full_key: str, compute: Callable[[], Any], timeout: int) -> Any:
    value = cache.get(full_key)
    if value is None:
        value = compute()
        cache.set(full_key, value, timeout)
    return value


# The history version read with the data version, for `cached_history` calls made while computing.
_history: ContextVar[int | None] = ContextVar("history_version", default=None)


@dataclass(frozen=True)
class Versions:
    """Both counters, read once (one query) for every cached value a request looks up."""

    data: int
    history: int

    def cached(self, key: str, compute: Callable[[], Any]) -> Any:
        """`compute()`, or its value kept from an earlier call under the same key and data version."""
        token = _history.set(self.history)
        try:
            return _cached(f"v{self.data}:{key}", compute, CACHE_SECONDS)
        finally:
            _history.reset(token)


def versions() -> Versions:
    found = dict(DataVersion.objects.filter(pk__in=[DATA, HISTORY]).values_list("pk", "value"))
    return Versions(data=found.get(DATA, 0), history=found.get(HISTORY, 0))


def cached(key: str, compute: Callable[[], Any]) -> Any:
    """`compute()`, or its value kept from an earlier call under the same key and data version."""
    return versions().cached(key, compute)


def cached_history(key: str, compute: Callable[[], Any]) -> Any:
    """The same, for figures about the past (the key must name the period): kept until the history
    version moves, whatever else changes."""
    history = _history.get()
    if history is None:
        history = current(HISTORY)
    return _cached(f"h{history}:{key}", compute, HISTORY_CACHE_SECONDS)


# A user's sign-in, password and own preferences change nothing any cached page shows.
USER_BOOKKEEPING = frozenset({"last_login", "password", "last_home_visit", "receive_digest"})


def _on_change(sender: Any, **kwargs: Any) -> None:
    if kwargs.get("raw"):  # fixtures loading
        return
    fields = kwargs.get("update_fields")
    if fields and set(fields) <= USER_BOOKKEEPING:
        return
    changed()


def _on_history_delete(sender: Any, **kwargs: Any) -> None:
    history_changed()


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
    for label in ("tracker.ActionPlan", "tracker.Update"):
        post_delete.connect(_on_history_delete, sender=apps.get_model(label), dispatch_uid=f"history-delete-{label}")
    for through in (Finding.themes.through, Finding.addressed_to.through):
        m2m_changed.connect(_on_m2m, sender=through, dispatch_uid=f"freshness-m2m-{through._meta.label}")
