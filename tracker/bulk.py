"""Bulk actions on /plans/: each plan goes through the same workflow function and permission check
as a single action, in its own transaction, so a plan is either wholly changed or not at all."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.core.exceptions import PermissionDenied, ValidationError

from . import workflow
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


def apply_bulk(
    *,
    user: User,
    plan_ids: Iterable[int],
    action: str,
    owner: User | None = None,
    target_date: dt.date | None = None,
    reason: str = "",
    comment: str = "",
) -> BulkResult:
    """Apply `action` to each plan; ids the user cannot see are refused as not found."""
    ids = list(dict.fromkeys(plan_ids))[:MAX_BULK]
    plans = {p.pk: p for p in ActionPlan.objects.visible_to(user).for_detail().filter(pk__in=ids)}
    result = BulkResult()
    for pk in ids:
        plan = plans.get(pk)
        if plan is None:
            result.refused.append((pk, "Not found."))
            continue
        try:
            if action == "assign_owner":
                workflow.assign_owner(plan=plan, user=user, owner=owner)
            elif action == "change_target_date":
                workflow.change_target_date(plan=plan, user=user, target_date=target_date, reason=reason)
            elif action == "close":
                workflow.close(plan=plan, user=user, comment=comment)
            else:
                raise ValidationError(f"Unknown action “{action}”.")
        except (PermissionDenied, ValidationError) as error:
            result.refused.append((plan, _reason(error)))
        else:
            result.done.append(plan)
    return result
