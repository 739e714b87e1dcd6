"""Cached figures that are never stale: keys carry the data versions of the scope the figures were
computed for (what the user may see: everything, or one organisation), which every change they read moves.

The versions (`DataVersion` rows) are counters:

- `organisation-<id>`, one per organisation: its plans, their timelines and public statements, its
  gradings and its settings;
- `global`: what every organisation's pages read: inspections, findings and their themes, addressees
  and links, themes, regions, organisations, people;
- `history`: the past (see HISTORY below).

Figures for one organisation are kept under that organisation's counter and the global one; figures
for those who see every organisation under the sum of all the data counters, which any change moves.
Every save or delete of a record that a cached page reads moves the counters it belongs to; bulk
writes that send no signals (publishing, imports) call `changed()` themselves.

A write never holds a counter while it works: the counters a transaction touched move once, after it
commits, in one short statement of their own (`transaction.on_commit`). So a write in one organisation
never waits on another organisation's open transaction (or on an import), and its own commit is the
only thing it waits for. A reader takes the versions first, then computes: a value computed from
older data can only be stored under an older version, which no one asks for once the counters have
moved, and the counters move before the writing request answers. (Between the commit and that
statement, a few milliseconds, another reader may still be given the figures of just before the
change.) A transaction that has written reads its figures afresh and keeps none: it sees rows no one
else sees yet.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextvars import ContextVar
from typing import Any

from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Q, Sum
from django.db.models.signals import m2m_changed, post_delete, post_save

from .models import DataVersion

CACHE_SECONDS = 15 * 60  # a bound on memory use only: a stale value is never read
HISTORY_CACHE_SECONDS = 24 * 60 * 60

GLOBAL = "global"
# A counter for the past: what happened before a given day changes only when plans or updates are
# deleted or written in bulk with past dates (load data, the demo), never through the workflow, which
# dates everything it writes now. Figures about past months are kept under this one.
HISTORY = "history"
DATA = "data"  # for `current()`: the sum of every counter but the history, which any change moves


def organisation_key(organisation_id: int) -> str:
    """The counter of one organisation's data: the same text as that organisation's scope."""
    return f"organisation-{organisation_id}"


def current(counter: str = DATA) -> int:
    """One counter's value (a key above, or DATA for the sum that any change moves)."""
    if counter == DATA:
        return DataVersion.objects.exclude(key=HISTORY).aggregate(total=Sum("value"))["total"] or 0
    value = DataVersion.objects.filter(key=counter).values_list("value", flat=True).first()
    return value if value is not None else 0


def changed(*organisation_ids: int | None) -> None:
    """The data of these organisations moved (with none given: data every organisation reads)."""
    _move({organisation_key(pk) for pk in organisation_ids if pk is not None} or {GLOBAL})


def history_changed() -> None:
    """Rows dated in the past were written or deleted: figures about the past must be computed again."""
    _move({GLOBAL, HISTORY})


class _Move:
    """The counters one transaction touched, moved once when it commits (a `transaction.on_commit` hook)."""

    def __init__(self, keys: set[str]) -> None:
        self.keys = keys

    def __call__(self) -> None:
        _increment(self.keys)


def _pending() -> _Move | None:
    """This transaction's hook, if it has written anything a cached page reads."""
    for _savepoints, hook, _robust in connection.run_on_commit:
        if isinstance(hook, _Move):
            return hook
    return None


def _move(keys: set[str]) -> None:
    if not connection.in_atomic_block:  # autocommit: the change is already committed
        _increment(keys)
        return
    hook = _pending()
    if hook is None:
        transaction.on_commit(_Move(set(keys)))
    else:
        hook.keys |= keys


def _increment(keys: Iterable[str]) -> None:
    """One statement, committed at once; rows locked in key order, so two of them never deadlock."""
    keys = sorted(keys)
    if not keys:
        return
    table = connection.ops.quote_name(DataVersion._meta.db_table)
    rows = ", ".join(["(%s, 1)"] * len(keys))
    with connection.cursor() as cursor:
        key, value = connection.ops.quote_name("key"), connection.ops.quote_name("value")
        cursor.execute(
            f"INSERT INTO {table} ({key}, {value}) VALUES {rows} "
            f"ON CONFLICT ({key}) DO UPDATE SET {value} = {table}.{value} + 1",
            keys,
        )


def _cached(full_key: str, compute: Callable[[], Any], timeout: int) -> Any:
    if _pending() is not None:  # this transaction has written: its figures are its own
        return compute()
    value = cache.get(full_key)
    if value is None:
        value = compute()
        cache.set(full_key, value, timeout)
    return value


# The history version read with the data versions, for `cached_history` calls made while computing.
_history: ContextVar[int | None] = ContextVar("history_version", default=None)


class Versions:
    """The versions a request's cached values are kept under: read once per scope (one query, with the
    history counter), the first time a value of that scope is looked up."""

    def __init__(self) -> None:
        self._read: dict[str, tuple[str, int]] = {}

    def _versions(self, scope: str) -> tuple[str, int]:
        if scope not in self._read:
            self._read[scope] = _read(scope)
        return self._read[scope]

    def cached(self, scope: str, key: str, compute: Callable[[], Any]) -> Any:
        """`compute()`, or its value kept from an earlier call under the same scope, key and versions.

        `scope` is what the value was computed from (`permissions.plan_scope`: "all" or one
        organisation): a value is never given to a request of another scope.
        """
        data, history = self._versions(_scope(scope))
        token = _history.set(history)
        try:
            return _cached(f"d{data}:{scope}:{key}", compute, CACHE_SECONDS)
        finally:
            _history.reset(token)


def _read(scope: str) -> tuple[str, int]:
    """The data version of `scope` as a key part, and the history counter."""
    if scope.startswith("organisation-"):
        found = dict(DataVersion.objects.filter(key__in=[GLOBAL, scope, HISTORY]).values_list("key", "value"))
        return f"{found.get(GLOBAL, 0)}.{found.get(scope, 0)}", found.get(HISTORY, 0)
    # Every organisation ("all"): the sum of the counters, which any change moves and never brings back.
    totals = DataVersion.objects.aggregate(
        data=Sum("value", filter=~Q(key=HISTORY)), history=Sum("value", filter=Q(key=HISTORY))
    )
    return str(totals["data"] or 0), totals["history"] or 0


def versions() -> Versions:
    return Versions()


def cached(scope: str, key: str, compute: Callable[[], Any]) -> Any:
    """`compute()`, or its value kept from an earlier call under the same scope, key and versions."""
    return versions().cached(scope, key, compute)


def history_version() -> int:
    """The history counter: as read with the data versions while computing a cached value (no query),
    else read now."""
    history = _history.get()
    return current(HISTORY) if history is None else history


def cached_history(scope: str, key: str, compute: Callable[[], Any]) -> Any:
    """The same, for figures about the past (the key must name the period): kept until the history
    version moves, whatever else changes."""
    history = history_version()
    return _cached(f"past{history}:{_scope(scope)}:{key}", compute, HISTORY_CACHE_SECONDS)


def _scope(scope: str) -> str:
    # Figures for no one (a person who may see nothing) are never computed, let alone shared.
    if not scope or not isinstance(scope, str):
        raise ValueError(f"A cached value needs the scope it was computed for, not {scope!r}.")
    return scope


# A user's sign-in, password and own preferences change nothing any cached page shows.
USER_BOOKKEEPING = frozenset({"last_login", "password", "last_home_visit", "receive_digest"})


def _on_change(sender: Any, **kwargs: Any) -> None:
    """Data every organisation's pages read."""
    if kwargs.get("raw"):  # fixtures loading
        return
    fields = kwargs.get("update_fields")
    if fields and set(fields) <= USER_BOOKKEEPING:
        return
    changed()


def _on_organisation_change(sender: Any, instance: Any, **kwargs: Any) -> None:
    """A plan or a grading: its organisation's data. (A plan never moves to another organisation.)"""
    if kwargs.get("raw"):
        return
    changed(instance.organisation_id)


def _on_update_saved(sender: Any, instance: Any, **kwargs: Any) -> None:
    """A timeline entry: its plan's organisation's data."""
    if kwargs.get("raw"):
        return
    plan_field = sender._meta.get_field("plan")
    if plan_field.is_cached(instance):
        changed(instance.plan.organisation_id)
        return
    from .models import ActionPlan

    changed(ActionPlan.objects.filter(pk=instance.plan_id).values_list("organisation_id", flat=True).first())


def _on_history_delete(sender: Any, **kwargs: Any) -> None:
    history_changed()


def _on_m2m(sender: Any, action: str, **kwargs: Any) -> None:
    if action in {"post_add", "post_remove", "post_clear"}:
        changed()


def connect() -> None:
    from django.apps import apps

    from inspections.models import Finding

    for label in (
        "tracker.User", "inspections.Finding", "inspections.Inspection", "inspections.Organisation",
        "inspections.Region", "inspections.Theme", "inspections.FindingLink",
    ):  # fmt: skip
        model = apps.get_model(label)
        post_save.connect(_on_change, sender=model, dispatch_uid=f"freshness-save-{label}")
        post_delete.connect(_on_change, sender=model, dispatch_uid=f"freshness-delete-{label}")
    for label in ("tracker.ActionPlan", "inspections.Grading", "tracker.OrganisationSettings"):
        model = apps.get_model(label)
        post_save.connect(_on_organisation_change, sender=model, dispatch_uid=f"freshness-save-{label}")
        post_delete.connect(_on_organisation_change, sender=model, dispatch_uid=f"freshness-delete-{label}")
    update = apps.get_model("tracker.Update")
    post_save.connect(_on_update_saved, sender=update, dispatch_uid="freshness-save-tracker.Update")
    # A plan's public statement: its organisation's public page (tracker/public.py).
    statement = apps.get_model("tracker.PublicStatement")
    post_save.connect(_on_update_saved, sender=statement, dispatch_uid="freshness-save-tracker.PublicStatement")
    post_delete.connect(_on_update_saved, sender=statement, dispatch_uid="freshness-delete-tracker.PublicStatement")
    for label in ("tracker.ActionPlan", "tracker.Update"):
        post_delete.connect(_on_history_delete, sender=apps.get_model(label), dispatch_uid=f"history-delete-{label}")
    for through in (Finding.themes.through, Finding.addressed_to.through):
        m2m_changed.connect(_on_m2m, sender=through, dispatch_uid=f"freshness-m2m-{through._meta.label}")
