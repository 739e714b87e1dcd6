"""Who may do what (DESIGN section 5). Small pure functions; views pass their answers to templates.

Row scoping (which plans a user may see at all) is `ActionPlan.objects.visible_to(user)`; these
functions assume the plan is already visible and answer whether an action is allowed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from .models import ActionPlan, User


def _active(user: User | AnonymousUser) -> bool:
    return bool(user.is_authenticated and user.is_active)


def is_admin(user: User | AnonymousUser) -> bool:
    return _active(user) and user.is_superuser


def belongs_to(user: User | AnonymousUser, plan: ActionPlan) -> bool:
    return _active(user) and user.organisation_id is not None and user.organisation_id == plan.organisation_id


def can_view_plan(user: User | AnonymousUser, plan: ActionPlan) -> bool:
    return _active(user) and (user.sees_everything or belongs_to(user, plan))


def can_record_progress(user: User | AnonymousUser, plan: ActionPlan) -> bool:
    """Progress notes, blocked/unblocked and submission: the organisation's staff and managers."""
    from .models import User

    return (belongs_to(user, plan) and user.role in (User.Role.STAFF, User.Role.MANAGER)) or is_admin(user)


def can_manage(user: User | AnonymousUser, plan: ActionPlan) -> bool:
    """Assign owner, change target date, sign off or return: the organisation's managers."""
    from .models import User

    return (belongs_to(user, plan) and user.role == User.Role.MANAGER) or is_admin(user)


def can_manage_some(user: User | AnonymousUser) -> bool:
    """Managers of an organisation and admins: may be offered manager actions on several plans at once."""
    from .models import User

    return (_active(user) and user.role == User.Role.MANAGER and user.organisation_id is not None) or is_admin(user)


def can_verify(user: User | AnonymousUser, plan: ActionPlan | None = None) -> bool:
    """Close, reopen, supersede, no further action: inspectors."""
    return _active(user) and (user.is_inspector or user.is_superuser)


def can_comment(user: User | AnonymousUser, plan: ActionPlan) -> bool:
    return can_view_plan(user, plan)


def can_import(user: User | AnonymousUser) -> bool:
    return is_admin(user)


def can_see_history(user: User | AnonymousUser) -> bool:
    return _active(user) and user.sees_everything
