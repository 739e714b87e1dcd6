"""Who may do what (DESIGN section 5). Small pure functions; views pass their answers to templates.

Row scoping (which plans a user may see at all) is `ActionPlan.objects.visible_to(user)`; these
functions assume the plan is already visible and answer whether an action is allowed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser
    from django.db.models import QuerySet

    from .models import ActionPlan, User


def _active(user: User | AnonymousUser) -> bool:
    return bool(user.is_authenticated and user.is_active)


ALL = "all"


def plan_scope(user: User | AnonymousUser) -> str | None:
    """Which plans `user` may see, as a key: "all", "organisation-<id>", or None for none at all.

    `models.visible_organisation` (the rule `ActionPlan.objects.visible_to` applies) written as a key:
    anything computed from what a user may see (cached figures, digests) is kept per scope, so a value
    worked out for one scope is never given to another. A person with no organisation whose role does
    not see everything has no scope (and is signed out: `tracker.middleware.NoScopeSignOutMiddleware`).
    """
    from .models import visible_organisation

    visible = visible_organisation(user)
    if visible is None:
        return None
    return ALL if visible is True else f"organisation-{visible}"


def is_admin(user: User | AnonymousUser) -> bool:
    return _active(user) and user.is_superuser


def sees_every_organisation(user: User | AnonymousUser) -> bool:
    """Inspectors and administrators: every organisation's plans, and pages that compare organisations."""
    return _active(user) and user.sees_everything


def manages_an_organisation(user: User | AnonymousUser) -> bool:
    """A manager of an organisation (whose home page holds the sign-off queue and the unowned plans)."""
    from .models import User

    return _active(user) and user.role == User.Role.MANAGER and user.organisation_id is not None


def offers_dashboard(user: User | AnonymousUser) -> bool:
    """The dashboard in the menu: for managers, inspectors and administrators (staff may still open it)."""
    from .models import User

    return (_active(user) and user.role != User.Role.STAFF) or is_admin(user)


def needs_second_factor(user: User | AnonymousUser, roles: set[str]) -> bool:
    """Whether `user` must sign in with a second factor, given the roles that need one ("admin" for
    administrators; `settings.TWO_FACTOR_REQUIRED_ROLES`)."""
    if not roles or not user.is_authenticated:
        return False
    return ("admin" in roles and user.is_superuser) or user.role in roles


def digest_managers(organisation_ids: Iterable[int]) -> QuerySet[User]:
    """Who hears about an organisation's overdue and unowned plans in the reminder digest: its managers
    (those `can_manage` allows as members), active and wanting the digest."""
    from .models import User

    return User.objects.filter(
        role=User.Role.MANAGER, organisation_id__in=organisation_ids, is_active=True, receive_digest=True
    )


def belongs_to(user: User | AnonymousUser, plan: ActionPlan) -> bool:
    return _active(user) and user.organisation_id is not None and user.organisation_id == plan.organisation_id


def can_view_plan(user: User | AnonymousUser, plan: ActionPlan) -> bool:
    return _active(user) and (user.sees_everything or belongs_to(user, plan))


def can_record_progress(user: User | AnonymousUser, plan: ActionPlan) -> bool:
    """Progress notes, blocked/unblocked and submission: the organisation's staff and managers."""
    from .models import User

    return (belongs_to(user, plan) and user.role in (User.Role.STAFF, User.Role.MANAGER)) or is_admin(user)


def can_plan_milestones(user: User | AnonymousUser, plan: ActionPlan) -> bool:
    """Add, change, reorder, complete and reopen a plan's milestones: the organisation's staff and managers."""
    return can_record_progress(user, plan)


def can_set_measures(user: User | AnonymousUser, plan: ActionPlan) -> bool:
    """Set a plan's success measures (what closes it, with any demonstration period): the organisation's
    managers, who answer for the plan being done."""
    return can_manage(user, plan)


def can_describe_success(user: User | AnonymousUser) -> bool:
    """Write a finding's own "what good looks like": the inspectorate (inspectors and administrators)."""
    return _active(user) and (user.is_inspector or user.is_superuser)


def can_manage(user: User | AnonymousUser, plan: ActionPlan) -> bool:
    """Assign owner, change target date, sign off or return: the organisation's managers."""
    from .models import User

    return (belongs_to(user, plan) and user.role == User.Role.MANAGER) or is_admin(user)


def may_somewhere(user: User | AnonymousUser, allowed: Callable[[User | AnonymousUser, ActionPlan], bool]) -> bool:
    """Whether `allowed` lets `user` act on some plan: on one of their own organisation's plans (or, for a
    role that sees every organisation, on any plan). Offers actions on several plans at once."""
    from .models import ActionPlan

    return _active(user) and allowed(user, ActionPlan(organisation_id=user.organisation_id))


def can_verify(user: User | AnonymousUser, plan: ActionPlan | None = None) -> bool:
    """Close, reopen, supersede, no further action: inspectors."""
    return _active(user) and (user.is_inspector or user.is_superuser)


def can_comment(user: User | AnonymousUser, plan: ActionPlan) -> bool:
    return can_view_plan(user, plan)


def can_link_findings(user: User | AnonymousUser) -> bool:
    """Link findings across inspections (repeats, supersedes, relates to) and accept or dismiss suggested
    links: inspectors and administrators."""
    return _active(user) and (user.is_inspector or user.is_superuser)


def can_edit_response(user: User | AnonymousUser, plan: ActionPlan) -> bool:
    """Correct a plan's response text outside the workflow's forms: administrators (in the admin)."""
    return is_admin(user)


def can_import(user: User | AnonymousUser) -> bool:
    return is_admin(user)


def can_see_history(user: User | AnonymousUser) -> bool:
    return sees_every_organisation(user)


def can_manage_organisation(user: User | AnonymousUser, organisation_id: int) -> bool:
    """An organisation's settings (whether its progress is public): its managers, and administrators."""
    from .models import User

    return (_active(user) and user.role == User.Role.MANAGER and user.organisation_id == organisation_id) or is_admin(
        user
    )


def can_write_statement(user: User | AnonymousUser, plan: ActionPlan) -> bool:
    """Write or change a plan's public statement: the organisation's staff and managers."""
    return can_record_progress(user, plan)


def can_approve_statement(user: User | AnonymousUser, plan: ActionPlan) -> bool:
    """Approve a plan's public statement for the public page: the organisation's managers."""
    return can_manage(user, plan)


def can_record_response(user: User | AnonymousUser, organisation_id: int) -> bool:
    """Upload an organisation's published 56-day response to an inspection: that organisation's managers
    (they hold the papers of their police and crime commissioner's office). Administrators see them in the
    admin, and may delete one recorded by mistake."""
    from .models import User

    return _active(user) and user.role == User.Role.MANAGER and user.organisation_id == organisation_id
