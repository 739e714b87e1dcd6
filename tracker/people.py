"""People and the organisations they belong to: what follows when someone moves or leaves.

A person's organisation decides which plans they may see and own. When they move to another
organisation, lose their organisation, or are deactivated, the open plans they owned in the
organisation they left are released: each gets no owner, with an "Owner change" entry on its
timeline (and a new version, like any change), so that organisation's managers find it under
"no owner" and give it to someone, and nothing (pages, reminder digests, exports) goes on treating
the person as answerable for it. Finished plans keep their owner: it records who did the work.
So do the milestones of those plans, whoever owns the plan: each open milestone the person owned
loses its owner, with a "Milestone" entry on its plan's timeline, and a milestone done keeps its owner.

Entry point: `change_membership`, for any code that decides someone's organisation, role or
active state (the admin, sign-in through an identity provider, commands). Every other way of saving a
user ends up in `release_plans` too, through `User.save()`; `User.objects.update()` of those fields
saves each person. So no path can move a person and leave their old plans assigned to them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.db.models import QuerySet

from . import workflow
from .models import ActionPlan, User

if TYPE_CHECKING:
    from inspections.models import Organisation


class _Keep:
    def __repr__(self) -> str:
        return "KEEP"


KEEP: Any = _Keep()  # "leave this as it is" for change_membership's arguments


@transaction.atomic
def change_membership(
    person: User,
    *,
    organisation: Organisation | None = KEEP,
    role: str = KEEP,
    is_active: bool = KEEP,
    changed_by: User | None = None,
    reason: str = "",
) -> list[ActionPlan]:
    """Set a person's organisation, role and/or active state, and release the plans they may no longer own.

    Arguments left out keep their value. `changed_by` is who decided the change (the author of the
    timeline entries); None when no one did it by hand, e.g. groups read from an identity provider at
    sign-in, and then the entries are the person's own. `reason` is added to each entry ("groups from
    the identity provider").

    The result is checked before anything is written: an active staff member or manager needs an
    organisation, an inspector has none (`User.clean`, and the database's constraints); otherwise
    ValidationError, and nothing changes. Returns the plans released (each with its new timeline entry).
    """
    if organisation is not KEEP:
        person.organisation = organisation
    if role is not KEEP:
        person.role = role
    if is_active is not KEEP:
        person.is_active = is_active
    person.clean()
    person.validate_constraints()
    person.save(changed_by=changed_by, reason=reason)
    return list(getattr(person, "released_plans", []))


def release_plans(
    person: User,
    *,
    organisation_before: int | None,
    was_active: bool,
    changed_by: User | None = None,
    reason: str = "",
    **sent: object,  # the signal and its sender
) -> list[ActionPlan]:
    """Release the open plans, and the open milestones of open plans, `person` may no longer own, after
    their membership changed.

    Called by `User.save()` (inside its transaction, through `models.membership_saved`) with what was
    stored before the save. The person
    may own only open plans of their own organisation, and none once deactivated; plans of any other
    organisation are released too, whichever way they came to own them. Their milestones follow the same
    rule, in any open plan of those organisations, whoever owns the plan.
    """
    moved = person.organisation_id != organisation_before
    deactivated = was_active and not person.is_active
    if not moved and not deactivated:
        return []
    plans = ActionPlan.objects.filter(status__in=ActionPlan.OPEN_STATUSES)
    if person.is_active and person.organisation_id is not None:
        plans = plans.exclude(organisation_id=person.organisation_id)
    why = _why(person, moved=moved, deactivated=deactivated, organisation_before=organisation_before)
    return _release(person, plans, why=why, reason=reason, author=changed_by or person)


@transaction.atomic
def release_before_deletion(person: User, *, changed_by: User) -> list[ActionPlan]:
    """Release every open plan, and every open milestone of an open plan, a person owns before their
    account is deleted (the admin's delete)."""
    plans = ActionPlan.objects.filter(status__in=ActionPlan.OPEN_STATUSES)
    return _release(person, plans, why=f"{person}'s account was deleted.", reason="", author=changed_by)


def _release(person: User, plans: QuerySet[ActionPlan], *, why: str, reason: str, author: User) -> list[ActionPlan]:
    """Release what `person` owns among `plans`: each plan they own, and their open milestones in each
    plan, plan by plan in the order of their numbers (as every release locks them). Returns the plans
    released."""
    if reason.strip():
        why += f" {reason.strip()}"
    released = []
    for plan in (plans.filter(owner=person) | plans.with_open_milestone_of(person)).select_for_update().order_by("pk"):
        if plan.owner_id == person.pk:
            workflow.release_owner(plan=plan, user=author, note=f"Owner removed: {why}")
            released.append(plan)
        workflow.release_milestones(plan=plan, user=author, owner=person, note=why)
    return released


def _why(person: User, *, moved: bool, deactivated: bool, organisation_before: int | None) -> str:
    """Why the person's plans and milestones lose their owner, in the words of their timeline entries."""
    from inspections.models import Organisation

    if deactivated:
        return f"{person}'s account was deactivated."
    before = Organisation.objects.filter(pk=organisation_before).first() if organisation_before else None
    if person.organisation_id is None:
        return f"{person} no longer belongs to {before or 'the organisation'}."
    return f"{person} moved from {before or 'the organisation'} to {person.organisation}."
