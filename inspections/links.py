"""Linking a finding to findings of earlier inspections, and remembering suggestions turned down.

Plain functions in the house style: keyword arguments, one transaction each. Who may call them (an
inspector or an administrator) is decided by the caller (`tracker.permissions.can_link_findings`);
this app knows nothing of roles.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import transaction

from .models import DismissedSuggestion, Finding, FindingLink

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser


@transaction.atomic
def link_findings(
    *, finding: Finding, earlier: Finding, kind: str, user: AbstractBaseUser, note: str = ""
) -> FindingLink:
    """Record that `finding` repeats, supersedes or relates to `earlier`. Raises ValidationError if the
    earlier finding is not of an earlier inspection or the two are linked already."""
    link = FindingLink(finding=finding, earlier=earlier, kind=kind, note=note.strip(), created_by=user)
    link.full_clean()
    link.save()
    # A link made after all overrides an earlier "not linked".
    DismissedSuggestion.objects.filter(finding=finding, earlier=earlier).delete()
    return link


@transaction.atomic
def unlink_findings(*, link: FindingLink) -> None:
    link.delete()


@transaction.atomic
def dismiss_suggestion(*, finding: Finding, earlier: Finding, user: AbstractBaseUser) -> DismissedSuggestion:
    """Remember that `earlier` is not linked to `finding`, so it is never suggested for it again."""
    dismissed, _ = DismissedSuggestion.objects.get_or_create(
        finding=finding, earlier=earlier, defaults={"dismissed_by": user}
    )
    return dismissed
