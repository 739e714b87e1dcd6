"""Bulk actions on /plans/: each plan goes through the same workflow function and permission check
as a single action, in its own transaction, so a plan is either wholly changed or not at all."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError

from . import actions
from .models import ActionPlan, User

MAX_BULK = 500


@dataclass
class BulkResult:
    done: list[ActionPlan] = field(default_factory=list)
    refused: list[tuple[ActionPlan | int, str]] = field(default_factory=list)


def _reason(error: Exception) -> str:
    if isinstance(error, PermissionDenied):
        return "You are not allowed to do this to this plan."
    if isinstance(error, ValidationError):
        return " ".join(error.messages)
    raise error


def apply_bulk(*, user: User, plan_ids: Iterable[int], action: str, **fields: Any) -> BulkResult:
    """Apply the bulk action `action` (a slug of `tracker.actions`) to each plan, with the bulk form's
    `fields`; ids the user cannot see are refused as not found.

    An action whose page form asks for confirmation (closing as verified is final) needs `confirm`, the
    form's tick box: without it every plan is refused and nothing changes."""
    ids = list(dict.fromkeys(plan_ids))[:MAX_BULK]
    spec = actions.ACTIONS.get(action)
    if spec is None or not spec.bulk or spec.form_class is None:
        return BulkResult(refused=[(pk, f"Unknown action “{action}”.") for pk in ids])
    confirm = spec.form_class.base_fields.get("confirm")
    if confirm is not None and not fields.get("confirm"):
        return BulkResult(refused=[(pk, confirm.error_messages["required"]) for pk in ids])
    plans = {p.pk: p for p in ActionPlan.objects.visible_to(user).for_detail().filter(pk__in=ids)}
    result = BulkResult()
    for pk in ids:
        plan = plans.get(pk)
        if plan is None:
            result.refused.append((pk, "Not found."))
            continue
        try:
            spec.call(plan=plan, user=user, data=fields)
        except (PermissionDenied, ValidationError) as error:
            result.refused.append((plan, _reason(error)))
        else:
            result.done.append(plan)
    return result
