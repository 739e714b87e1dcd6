"""Every change to an action plan goes through here (DESIGN section 4).

Each function checks the role rules (`permissions`), the current state (`ALLOWED_TRANSITIONS`) and
the plan's version (optimistic locking), locks the plan's row, and writes the plan and its Update in
one transaction. Views, the API, bulk actions and commands call these; nothing else sets `status`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone
from django.utils.formats import date_format

from inspections.models import Finding, Inspection

from . import freshness, permissions
from .evidence import check_upload
from .models import ActionPlan, Evidence, Update, User

S = ActionPlan.Status

ALLOWED_TRANSITIONS: dict[str, tuple[str, ...]] = {
    S.NOT_STARTED: (S.IN_PROGRESS, S.SUPERSEDED, S.NO_FURTHER_ACTION),
    S.IN_PROGRESS: (S.BLOCKED, S.SUBMITTED, S.SUPERSEDED, S.NO_FURTHER_ACTION),
    S.BLOCKED: (S.IN_PROGRESS, S.SUPERSEDED, S.NO_FURTHER_ACTION),
    S.SUBMITTED: (S.SIGNED_OFF, S.IN_PROGRESS, S.SUPERSEDED, S.NO_FURTHER_ACTION),
    S.SIGNED_OFF: (S.CLOSED, S.IN_PROGRESS, S.SUPERSEDED, S.NO_FURTHER_ACTION),
    S.CLOSED: (),
    S.SUPERSEDED: (),
    S.NO_FURTHER_ACTION: (),
}


class StaleVersion(ValidationError):
    """The plan changed since the form was shown; the caller keeps the user's text."""

    def __init__(self, plan: ActionPlan) -> None:
        # Comments leave the version alone, so the person to name is whoever last changed the plan.
        last = plan.updates.exclude(kind=Update.Kind.COMMENT).select_related("author").first()
        if last is not None:
            when = date_format(timezone.localtime(last.created_at), "j M Y H:i")
            message = f"This plan was changed by {last.author} at {when}; your text is kept below."
        else:
            message = "This plan was changed by someone else; your text is kept below."
        message += " Check the latest entries, then send your change again."
        super().__init__(message, code="stale")
        self.plan = plan


@dataclass
class Change:
    """What a workflow call does to a plan, worked out from the *locked* row."""

    kind: str
    note: str
    status_to: str | None = None
    percent: int | None = None
    target_date_to: dt.date | None = None
    plan_fields: dict[str, object] = field(default_factory=dict)


def _require(text: str, message: str) -> str:
    text = (text or "").strip()
    if not text:
        raise ValidationError(message, code="required")
    return text


def _expect(plan: ActionPlan, statuses: Sequence[str], action: str) -> None:
    if plan.status not in statuses:
        raise ValidationError(
            f"{action} is not possible while the plan is {plan.get_status_display().lower()}.",
            code="invalid_transition",
        )


def _lock(plan: ActionPlan, expected_version: int | None) -> ActionPlan:
    locked = ActionPlan.objects.select_for_update().get(pk=plan.pk)
    if expected_version is not None and locked.version != expected_version:
        raise StaleVersion(locked)
    return locked


def _apply(
    *,
    plan: ActionPlan,
    user: User,
    allowed: Callable[[User, ActionPlan], bool],
    build: Callable[[ActionPlan], Change],
    expected_version: int | None,
    files: Sequence[UploadedFile] = (),
    needs_evidence: bool = False,
) -> Update:
    """Check, lock, then write the plan and its Update together. Runs inside the caller's transaction.

    The state checks run on the locked row, so of two simultaneous calls exactly one changes the
    plan and the other sees the new state (or the new version) and is refused.
    """
    if not allowed(user, plan):
        raise PermissionDenied
    checked = [check_upload(f) for f in files]  # refuse bad files before anything is written
    locked = _lock(plan, expected_version)
    if not allowed(user, locked):
        raise PermissionDenied
    change = build(locked)
    status_from = locked.status
    if change.status_to and change.status_to != status_from and not locked.can_move_to(change.status_to):
        raise ValidationError(
            f"A plan that is {locked.get_status_display().lower()} cannot become {S(change.status_to).label.lower()}.",
            code="invalid_transition",
        )
    if needs_evidence and not checked and not Evidence.objects.filter(update__plan=locked).exists():
        raise ValidationError("Attach at least one evidence file before submitting for sign-off.", code="evidence")
    now = timezone.now()
    update = Update.objects.create(
        plan=locked,
        author=user,
        created_at=now,
        kind=change.kind,
        note=change.note,
        status_from=status_from if change.status_to else "",
        status_to=change.status_to or "",
        percent=change.percent,
        target_date_from=locked.target_date if change.target_date_to else None,
        target_date_to=change.target_date_to,
    )
    for upload, info in zip(files, checked, strict=True):
        evidence = Evidence(
            update=update,
            original_name=info.name,
            size=info.size,
            sha256=info.sha256,
            content_type=info.content_type,
            uploaded_by=user,
            uploaded_at=now,
        )
        evidence.file.save(info.name, upload, save=True)
    if change.status_to:
        locked.status = change.status_to
    if change.percent is not None:
        locked.percent_complete = change.percent
    if change.target_date_to:
        locked.target_date = change.target_date_to
    for name, value in change.plan_fields.items():
        setattr(locked, name, value)
    locked.version += 1
    locked.updated_at = now
    locked.save()
    # Keep the caller's object current so it can redirect or re-render without another read.
    plan.refresh_from_db()
    plan.__dict__.pop("rag_value", None)  # a `with_rag()` annotation would describe the old state
    return update


# --- staff and managers of the organisation -------------------------------------------------


@transaction.atomic
def record_progress(
    *,
    plan: ActionPlan,
    user: User,
    note: str,
    percent_complete: int | None = None,
    files: Sequence[UploadedFile] = (),
    expected_version: int | None = None,
) -> Update:
    """A progress note (with optional % and evidence). On a not-started plan it also starts it."""
    note = _require(note, "Say what progress has been made.")
    if percent_complete is not None and not 0 <= percent_complete <= 100:
        raise ValidationError("Percent complete must be between 0 and 100.", code="percent")

    def build(locked: ActionPlan) -> Change:
        _expect(locked, (S.NOT_STARTED, S.IN_PROGRESS, S.BLOCKED), "Adding progress")
        status_to = S.IN_PROGRESS if locked.status == S.NOT_STARTED else None
        return Change(kind=Update.Kind.PROGRESS, note=note, percent=percent_complete, status_to=status_to)

    return _apply(plan=plan, user=user, allowed=permissions.can_record_progress, build=build,
                  expected_version=expected_version, files=files)  # fmt: skip


def _status_change(
    *,
    plan: ActionPlan,
    user: User,
    allowed: Callable[[User, ActionPlan], bool],
    sources: Sequence[str],
    action: str,
    kind: str,
    note: str,
    status_to: str,
    expected_version: int | None,
    **extra: object,
) -> Update:
    def build(locked: ActionPlan) -> Change:
        _expect(locked, sources, action)
        return Change(kind=kind, note=note, status_to=status_to, **extra)  # type: ignore[arg-type]

    return _apply(plan=plan, user=user, allowed=allowed, build=build, expected_version=expected_version)


@transaction.atomic
def start(*, plan: ActionPlan, user: User, note: str, expected_version: int | None = None) -> Update:
    return _status_change(
        plan=plan, user=user, allowed=permissions.can_record_progress, sources=(S.NOT_STARTED,),
        action="Starting", kind=Update.Kind.STATUS, status_to=S.IN_PROGRESS,
        note=_require(note, "Say how work on this plan is starting."), expected_version=expected_version,
    )  # fmt: skip


@transaction.atomic
def mark_blocked(*, plan: ActionPlan, user: User, note: str, expected_version: int | None = None) -> Update:
    return _status_change(
        plan=plan, user=user, allowed=permissions.can_record_progress, sources=(S.IN_PROGRESS,),
        action="Marking blocked", kind=Update.Kind.STATUS, status_to=S.BLOCKED,
        note=_require(note, "Say what the plan is waiting on."), expected_version=expected_version,
    )  # fmt: skip


@transaction.atomic
def unblock(*, plan: ActionPlan, user: User, note: str, expected_version: int | None = None) -> Update:
    return _status_change(
        plan=plan, user=user, allowed=permissions.can_record_progress, sources=(S.BLOCKED,),
        action="Unblocking", kind=Update.Kind.STATUS, status_to=S.IN_PROGRESS,
        note=_require(note, "Say what has unblocked the plan."), expected_version=expected_version,
    )  # fmt: skip


@transaction.atomic
def submit_for_sign_off(
    *,
    plan: ActionPlan,
    user: User,
    statement: str,
    files: Sequence[UploadedFile] = (),
    expected_version: int | None = None,
) -> Update:
    """Closure statement plus at least one evidence file (new, or already on the plan)."""
    statement = _require(statement, "Write a closure statement: what was done and how it answers the finding.")

    def build(locked: ActionPlan) -> Change:
        _expect(locked, (S.IN_PROGRESS,), "Submitting for sign-off")
        return Change(
            kind=Update.Kind.STATUS, note=statement, status_to=S.SUBMITTED, plan_fields={"summary": statement}
        )

    return _apply(plan=plan, user=user, allowed=permissions.can_record_progress, build=build,
                  expected_version=expected_version, files=files, needs_evidence=True)  # fmt: skip


# --- managers --------------------------------------------------------------------------------


@transaction.atomic
def sign_off(*, plan: ActionPlan, user: User, comment: str, expected_version: int | None = None) -> Update:
    return _status_change(
        plan=plan, user=user, allowed=permissions.can_manage, sources=(S.SUBMITTED,),
        action="Signing off", kind=Update.Kind.REVIEW, status_to=S.SIGNED_OFF, percent=100,
        note=_require(comment, "Add a comment recording the sign-off."), expected_version=expected_version,
    )  # fmt: skip


@transaction.atomic
def return_submission(*, plan: ActionPlan, user: User, comment: str, expected_version: int | None = None) -> Update:
    return _status_change(
        plan=plan, user=user, allowed=permissions.can_manage, sources=(S.SUBMITTED,),
        action="Returning", kind=Update.Kind.REVIEW, status_to=S.IN_PROGRESS,
        note=_require(comment, "Say why the submission is being returned."), expected_version=expected_version,
    )  # fmt: skip


@transaction.atomic
def change_target_date(
    *, plan: ActionPlan, user: User, target_date: dt.date | None, reason: str, expected_version: int | None = None
) -> Update:
    """Managers only, with a reason. The original date never changes; a later date counts as a deferral."""
    reason = _require(reason, "Give the reason for changing the target date.")
    if target_date is None:
        raise ValidationError("Choose the new target date.", code="required")

    def build(locked: ActionPlan) -> Change:
        if not locked.is_open:
            raise ValidationError("The target date of a finished plan cannot change.", code="state")
        if target_date == locked.target_date:
            raise ValidationError("The new target date is the same as the current one.", code="unchanged")
        fields: dict[str, object] = {}
        if locked.original_target_date is None:
            fields["original_target_date"] = locked.target_date or target_date
        if locked.target_date is not None and target_date > locked.target_date:
            fields["deferral_count"] = locked.deferral_count + 1
        return Change(kind=Update.Kind.TARGET_DATE, note=reason, target_date_to=target_date, plan_fields=fields)

    return _apply(plan=plan, user=user, allowed=permissions.can_manage, build=build,
                  expected_version=expected_version)  # fmt: skip


@transaction.atomic
def assign_owner(
    *, plan: ActionPlan, user: User, owner: User | None, note: str = "", expected_version: int | None = None
) -> Update:
    """Managers give a plan to a person of the same organisation (or to nobody)."""
    if owner is not None and (not owner.is_active or owner.organisation_id != plan.organisation_id):
        raise ValidationError("The owner must be an active member of the plan's organisation.", code="owner")

    def build(locked: ActionPlan) -> Change:
        if (owner.pk if owner else None) == locked.owner_id:
            raise ValidationError(f"{owner or 'Nobody'} already owns this plan.", code="unchanged")
        text = f"Owner set to {owner}." if owner else "Owner removed."
        if note.strip():
            text += f" {note.strip()}"
        return Change(kind=Update.Kind.OWNER, note=text, plan_fields={"owner": owner})

    return _apply(plan=plan, user=user, allowed=permissions.can_manage, build=build,
                  expected_version=expected_version)  # fmt: skip


# --- inspectors ------------------------------------------------------------------------------


@transaction.atomic
def close(*, plan: ActionPlan, user: User, comment: str, expected_version: int | None = None) -> Update:
    """Verify a signed-off plan as complete."""
    return _status_change(
        plan=plan, user=user, allowed=permissions.can_verify, sources=(S.SIGNED_OFF,),
        action="Closing", kind=Update.Kind.VERIFICATION, status_to=S.CLOSED,
        note=_require(comment, "Add a comment recording the verification."), expected_version=expected_version,
    )  # fmt: skip


@transaction.atomic
def reopen(*, plan: ActionPlan, user: User, comment: str, expected_version: int | None = None) -> Update:
    return _status_change(
        plan=plan, user=user, allowed=permissions.can_verify, sources=(S.SIGNED_OFF,),
        action="Reopening", kind=Update.Kind.VERIFICATION, status_to=S.IN_PROGRESS,
        note=_require(comment, "Say why the plan is being reopened."), expected_version=expected_version,
    )  # fmt: skip


@transaction.atomic
def supersede(
    *,
    plan: ActionPlan,
    user: User,
    superseding_finding: Finding | None,
    comment: str = "",
    expected_version: int | None = None,
) -> Update:
    if superseding_finding is None:
        raise ValidationError("Choose the finding that supersedes this one.", code="required")
    if superseding_finding.pk == plan.finding_id:
        raise ValidationError("A finding cannot supersede itself.", code="invalid")
    note = f"Superseded by {superseding_finding.inspection.title} {superseding_finding.reference}."
    if comment.strip():
        note += f" {comment.strip()}"
    return _status_change(
        plan=plan, user=user, allowed=permissions.can_verify, sources=ActionPlan.OPEN_STATUSES,
        action="Superseding", kind=Update.Kind.VERIFICATION, status_to=S.SUPERSEDED, note=note,
        plan_fields={"superseded_by": superseding_finding}, expected_version=expected_version,
    )  # fmt: skip


@transaction.atomic
def no_further_action(*, plan: ActionPlan, user: User, comment: str, expected_version: int | None = None) -> Update:
    return _status_change(
        plan=plan, user=user, allowed=permissions.can_verify, sources=ActionPlan.OPEN_STATUSES,
        action="Marking no further action", kind=Update.Kind.VERIFICATION, status_to=S.NO_FURTHER_ACTION,
        note=_require(comment, "Say why no further action is needed."), expected_version=expected_version,
    )  # fmt: skip


# --- anyone who can see the plan -------------------------------------------------------------


@transaction.atomic
def add_comment(*, plan: ActionPlan, user: User, note: str) -> Update:
    """Discussion does not change the plan, so it takes no version: comments never conflict."""
    note = _require(note, "Write a comment.")
    if not permissions.can_comment(user, plan):
        raise PermissionDenied
    update = Update.objects.create(plan=plan, author=user, kind=Update.Kind.COMMENT, note=note)
    ActionPlan.objects.filter(pk=plan.pk).update(updated_at=update.created_at)
    return update


# --- publishing ------------------------------------------------------------------------------


@transaction.atomic
def publish_inspection(*, inspection: Inspection) -> int:
    """Open a plan for every (finding, addressee) that has none. Idempotent; returns how many opened."""
    pairs = Finding.addressed_to.through.objects.filter(finding__inspection=inspection).values_list(
        "finding_id", "organisation_id", "finding__due_by"
    )
    existing = set(
        ActionPlan.objects.filter(finding__inspection=inspection).values_list("finding_id", "organisation_id")
    )
    new = [
        ActionPlan(finding_id=f, organisation_id=o, target_date=due, original_target_date=due)
        for f, o, due in pairs
        if (f, o) not in existing
    ]
    ActionPlan.objects.bulk_create(new, ignore_conflicts=True)
    if new:
        freshness.changed()  # bulk_create sends no signals
    return len(new)
