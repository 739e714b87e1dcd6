"""Reminder digests: one email per person a day about returned, due-soon, overdue and unowned action plans.

`build_digests` works out who gets what (a constant number of queries, whatever the number of
people); `send_digests` claims each person's `DigestLog` row for the day and then sends. The database's
unique constraint on (user, sent_on) is what stops doubles, so any number of copies of
`manage.py send_reminders` may run at once, on any number of machines sharing the database.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, mailers
from django.core.mail.backends.base import BaseEmailBackend
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone

from inspections.models import Finding, Grading, Inspection, Organisation

from . import permissions
from .models import (
    RESPONSE_DAYS,
    ActionPlan,
    ActionPlanQuerySet,
    DigestLog,
    Milestone,
    PccResponse,
    ResponseReminder,
    User,
    response_deadline,
    visible_organisation,
)

logger = logging.getLogger(__name__)

DEFAULT_DAYS = 14


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


@dataclass(frozen=True)
class DigestLine:
    """One plan as a digest shows it."""

    plan: ActionPlan
    today: dt.date

    @property
    def days_left(self) -> int | None:
        """Days until the target date; negative when overdue, None when there is no target date."""
        if self.plan.target_date is None:
            return None
        return (self.plan.target_date - self.today).days

    @property
    def is_overdue(self) -> bool:
        return self.plan.is_overdue_on(self.today)

    @property
    def when(self) -> str:
        days = self.days_left
        if days is None:
            return "no target date"
        if days < 0 and self.is_overdue:
            return f"{_plural(-days, 'day')} overdue"
        if days < 0:  # reported complete: no longer overdue
            return f"target date {_plural(-days, 'day')} ago"
        if days == 0:
            return "due today"
        return f"{_plural(days, 'day')} left"

    @property
    def owner(self) -> str:
        owner = self.plan.owner
        if owner is None:
            return "No owner"
        if not owner.is_active:
            return f"{owner} (deactivated)"
        if owner.organisation_id != self.plan.organisation_id:
            return "No owner (theirs has moved to another organisation)"
        return str(owner)

    @property
    def returned_on(self) -> dt.date | None:
        """The day the work was sent back (`ActionPlanQuerySet.with_return`), in local time."""
        returned_at = getattr(self.plan, "returned_at", None)
        return timezone.localtime(returned_at).date() if returned_at else None

    @property
    def returned_days(self) -> str:
        if self.returned_on is None:
            return ""
        return _plural((self.today - self.returned_on).days, "day")

    @property
    def returned_by(self) -> str:
        return getattr(self.plan, "returned_by", None) or ""

    @property
    def returned_note(self) -> str:
        return getattr(self.plan, "returned_note", None) or ""

    @property
    def url(self) -> str:
        return settings.SITE_URL + self.plan.get_absolute_url()


@dataclass(frozen=True)
class MilestoneLine:
    """One milestone as a digest shows it: its owner's, due within the digest's days or overdue."""

    milestone: Milestone
    today: dt.date

    @property
    def plan(self) -> ActionPlan:
        return self.milestone.plan

    @property
    def is_overdue(self) -> bool:
        return self.milestone.is_overdue_on(self.today)

    @property
    def when(self) -> str:
        days = (self.milestone.target_date - self.today).days if self.milestone.target_date else 0
        if days < 0:
            return f"{_plural(-days, 'day')} overdue"
        if days == 0:
            return "due today"
        return f"{_plural(days, 'day')} left"

    @property
    def url(self) -> str:
        return f"{settings.SITE_URL}{self.plan.get_absolute_url()}#milestone-{self.milestone.pk}"


@dataclass(frozen=True)
class Section:
    """A table in the digest; sections with the same `group` share a heading."""

    group: str
    title: str
    lines: list[DigestLine]
    show_owner: bool = False
    returned: bool = False  # lines show who returned the work, when and why


RESPONSE_WARNING_DAYS = (14, 7)  # days before a 56-day response deadline that managers are warned


@dataclass(frozen=True)
class ResponseWarning:
    """An organisation's 56-day response to an inspection, due soon and not yet recorded."""

    inspection: Inspection
    organisation: Organisation
    deadline: dt.date
    days_before: int  # the warning this is (14 or 7), sent once each
    today: dt.date

    @property
    def days_left(self) -> int:
        return (self.deadline - self.today).days

    @property
    def url(self) -> str:
        return f"{settings.SITE_URL}{self.inspection.get_absolute_url()}#responses-heading"


@dataclass
class Digest:
    """Everything one person is told on one day. Plans appear once, in the first section that fits."""

    user: User
    today: dt.date
    days: int
    own_returned: list[ActionPlan] = field(default_factory=list)
    own_overdue: list[ActionPlan] = field(default_factory=list)
    own_due_soon: list[ActionPlan] = field(default_factory=list)
    organisation: Organisation | None = None
    organisation_overdue: list[ActionPlan] = field(default_factory=list)
    organisation_unowned: list[ActionPlan] = field(default_factory=list)
    response_warnings: list[ResponseWarning] = field(default_factory=list)
    # Milestones this person owns, open, overdue or due within `days`, in plans with the force.
    own_milestones: list[Milestone] = field(default_factory=list)

    @property
    def milestone_lines(self) -> list[MilestoneLine]:
        return [MilestoneLine(milestone, self.today) for milestone in self.own_milestones]

    @property
    def plans(self) -> list[ActionPlan]:
        return (
            self.own_returned
            + self.own_overdue
            + self.own_due_soon
            + self.organisation_overdue
            + self.organisation_unowned
        )

    @property
    def is_empty(self) -> bool:
        return not self.plans and not self.response_warnings and not self.own_milestones

    @property
    def subject(self) -> str:
        overdue = len(self.own_overdue) + len(self.organisation_overdue)
        parts = []
        if self.own_returned:
            parts.append(f"{len(self.own_returned)} returned to you")
        if overdue:
            parts.append(f"{overdue} overdue")
        if self.own_due_soon:
            parts.append(f"{len(self.own_due_soon)} due soon")
        if self.organisation_unowned:
            parts.append(f"{len(self.organisation_unowned)} without an owner")
        if self.response_warnings:
            soonest = min(warning.days_left for warning in self.response_warnings)
            parts.append(f"56-day response due in {_plural(soonest, 'day')}")
        if self.own_milestones:
            late = sum(1 for line in self.milestone_lines if line.is_overdue)
            words = _plural(len(self.own_milestones), "milestone")
            parts.append(f"{words} of yours due or overdue" if late else f"{words} of yours due soon")
        return f"Action plan reminders: {', '.join(parts)}"

    def sections(self) -> list[Section]:
        def lines(plans: list[ActionPlan]) -> list[DigestLine]:
            return [DigestLine(plan, self.today) for plan in plans]

        mine = "Plans you own"
        sections = [
            Section(
                "Returned: your action",
                f"Returned to you, with the reviewer's comment ({len(self.own_returned)})",
                lines(self.own_returned),
                returned=True,
            ),
            Section(mine, f"Overdue ({len(self.own_overdue)})", lines(self.own_overdue)),
            Section(
                mine,
                f"Due in the next {_plural(self.days, 'day')} ({len(self.own_due_soon)})",
                lines(self.own_due_soon),
            ),
        ]
        if self.organisation is not None:
            theirs = f"Your organisation: {self.organisation.name}"
            sections.append(
                Section(theirs, f"Overdue ({len(self.organisation_overdue)})", lines(self.organisation_overdue), True)
            )
            # Unowned plans by stage, named as every page names them (`ActionPlan.Stage`).
            for stage in (ActionPlan.Stage.WITH_FORCE, ActionPlan.Stage.AWAITING_VERIFICATION):
                in_stage = [plan for plan in self.organisation_unowned if plan.stage == stage]
                sections.append(
                    Section(theirs, f"{stage.label}, without an active owner ({len(in_stage)})", lines(in_stage), True)
                )
        return [section for section in sections if section.lines]

    def context(self) -> dict[str, object]:
        return {
            "digest": self,
            "name": self.user.first_name or self.user.username,
            "subject": self.subject,
            "sections": self.sections(),
            "site_url": settings.SITE_URL,
        }

    def text_body(self) -> str:
        return render_to_string("emails/digest.txt", self.context())

    def html_body(self) -> str:
        return render_to_string("emails/digest.html", self.context())

    def message(self) -> EmailMultiAlternatives:
        message = EmailMultiAlternatives(
            subject=self.subject,
            body=self.text_body(),
            to=[self.user.email],
            # RFC 3834: tells mail servers not to send out-of-office replies to an automated message.
            headers={"Auto-Submitted": "auto-generated"},
        )
        message.attach_alternative(self.html_body(), "text/html")
        return message


def _plan_order(plan: ActionPlan) -> tuple[bool, dt.date, int]:
    return (plan.target_date is None, plan.target_date or dt.date.min, plan.pk)


def reminder_plans(*, today: dt.date, days: int, plans: ActionPlanQuerySet | None = None) -> ActionPlanQuerySet:
    """Every plan some digest may list: overdue, due within `days`, or open with no active owner.

    Bounded by what needs attention, not by the size of the database; one query.
    """
    plans = ActionPlan.objects.all() if plans is None else plans
    return (plans.overdue(today) | plans.due_soon(days, today) | plans.open().without_active_owner()).select_related(
        "finding__inspection", "organisation", "owner"
    )


def returned_plans(plans: ActionPlanQuerySet | None = None) -> ActionPlanQuerySet:
    """Returned work, oldest return first, with who returned it, when and why: the home page's
    "Returned: your action" queue (`ActionPlanQuerySet.returned`), for every owner at once; one query."""
    plans = ActionPlan.objects.all() if plans is None else plans
    return (
        plans.returned()
        .filter(owner__isnull=False)
        .oldest_returned_first()
        .select_related("finding__inspection", "organisation", "owner")
    )


def _wants_digest(user: User | None) -> bool:
    return user is not None and user.is_active and user.receive_digest


def build_digests(*, today: dt.date, days: int = DEFAULT_DAYS) -> list[Digest]:
    """One digest per person with something to hear about, sorted by username.

    Owners hear first about their own returned work (the home page's "Returned: your action" queue, with
    the reviewer's comment and date), then about their own open plans that are overdue or due within
    `days`. Managers hear about
    their organisation's overdue plans and its open plans without an active owner (plans they own
    themselves are in their own section instead). People who are inactive or have `receive_digest`
    off get nothing. People without an email address still get a digest here; `send_digests` skips them.

    Every line of a person's digest is a plan of `ActionPlan.objects.visible_to(person)`, the rule
    the pages follow, whatever the plan's owner says: someone moved to another organisation (or a plan
    given to someone outside its organisation) hears nothing more of plans they may not open.

    Queries: the plans needing attention, the returned plans, the managers, and the visible ones among
    them once for each scope (`permissions.plan_scope`: an organisation, or everything) of the people
    concerned; the same whatever the number of people.
    """
    plans = sorted(reminder_plans(today=today, days=days), key=_plan_order)

    visible_by_scope: dict[str, set[int]] = {}

    def visible(user: User) -> set[int]:
        scope = permissions.plan_scope(user)
        if scope is None:
            return set()
        if scope not in visible_by_scope:
            needing_attention = Q(pk__in=reminder_plans(today=today, days=days).values("pk")) | Q(
                pk__in=ActionPlan.objects.returned().values("pk")
            )
            seen = ActionPlan.objects.visible_to(user).filter(needing_attention)
            visible_by_scope[scope] = set(seen.values_list("pk", flat=True))
        return visible_by_scope[scope]

    digests: dict[int, Digest] = {}

    def digest_for(user: User) -> Digest:
        if user.pk not in digests:
            digests[user.pk] = Digest(user=user, today=today, days=days)
        return digests[user.pk]

    # Owners: the plan's owner came with the plan (select_related), so no query per person.
    returned: set[int] = set()
    for plan in returned_plans():
        if _wants_digest(plan.owner) and plan.pk in visible(plan.owner):
            digest_for(plan.owner).own_returned.append(plan)
            returned.add(plan.pk)

    by_organisation: dict[int, list[ActionPlan]] = defaultdict(list)
    for plan in plans:
        by_organisation[plan.organisation_id].append(plan)
        if plan.pk in returned or not _wants_digest(plan.owner) or plan.pk not in visible(plan.owner):
            continue  # returned work is in the owner's first section already
        if plan.is_overdue_on(today):
            digest_for(plan.owner).own_overdue.append(plan)
        elif plan.is_due_soon_on(today, days):
            digest_for(plan.owner).own_due_soon.append(plan)

    # Milestones: each open one due within `days` or overdue, in a plan with the force, to its owner if
    # the owner may see the plan (the pages' rule: `visible_organisation`); one query.
    milestones = (
        Milestone.objects.with_force()
        .filter(target_date__lte=today + dt.timedelta(days=days))
        .exclude(owner=None)
        .select_related("owner", "plan__finding__inspection", "plan__organisation")
        .order_by("target_date", "plan_id", "position")
    )
    for milestone in milestones:
        owner = milestone.owner
        visible_to_owner = visible_organisation(owner)
        if _wants_digest(owner) and visible_to_owner in (True, milestone.plan.organisation_id):
            digest_for(owner).own_milestones.append(milestone)

    if by_organisation:
        managers = permissions.digest_managers(by_organisation).select_related("organisation")
        for manager in managers:
            overdue, unowned = [], []
            seen = visible(manager)
            for plan in by_organisation[manager.organisation_id]:
                if plan.owner_id == manager.pk or plan.pk not in seen:
                    continue  # already in the manager's own section, or not theirs to see
                if plan.is_overdue_on(today):
                    overdue.append(plan)
                elif plan.is_open and plan.active_owner is None:
                    unowned.append(plan)
            if overdue or unowned:
                digest = digest_for(manager)
                digest.organisation = manager.organisation
                digest.organisation_overdue = overdue
                digest.organisation_unowned = unowned

    for manager, warnings in response_warnings(today=today).items():
        digest_for(manager).response_warnings = warnings

    return sorted(digests.values(), key=lambda digest: digest.user.username)


def response_warnings(*, today: dt.date) -> dict[User, list[ResponseWarning]]:
    """For each manager who should hear of it: their organisation's 56-day responses due within 14 days
    (or 7) that are not recorded yet and whose 14-day (or 7-day) warning they have not had. Each warning
    goes out once (`ResponseReminder`, written when the digest is claimed); a response due in 5 days
    whose 14-day warning never went out gets the 7-day one only.

    Managers hear of their own organisation's responses only (`permissions.can_record_response`, the
    people who record them). Queries: inspections due, their addressees, the recorded responses, the
    warnings already given and the managers: the same whatever their number.
    """
    latest = today - dt.timedelta(days=RESPONSE_DAYS)  # published on or after this: deadline today or later
    earliest = today - dt.timedelta(days=RESPONSE_DAYS - max(RESPONSE_WARNING_DAYS))
    inspections = list(Inspection.objects.filter(published_on__gte=latest, published_on__lte=earliest))
    if not inspections:
        return {}
    addressed = set(
        Finding.objects.filter(inspection__in=inspections)
        .values_list("inspection_id", "addressed_to")
        .exclude(addressed_to=None)
    ) | set(Grading.objects.filter(inspection__in=inspections).values_list("inspection_id", "organisation_id"))
    recorded = set(
        PccResponse.objects.filter(inspection__in=inspections).values_list("inspection_id", "organisation_id")
    )
    given = set(
        ResponseReminder.objects.filter(inspection__in=inspections).values_list(
            "user_id", "inspection_id", "organisation_id", "days_before"
        )
    )
    due = [(i, o) for i, o in addressed if (i, o) not in recorded]
    if not due:
        return {}
    by_id = {inspection.pk: inspection for inspection in inspections}
    managers = permissions.digest_managers({o for _, o in due}).select_related("organisation")
    warnings: dict[User, list[ResponseWarning]] = {}
    for manager in managers:
        for inspection_id, organisation_id in sorted(due):
            if not permissions.can_record_response(manager, organisation_id):
                continue
            inspection = by_id[inspection_id]
            deadline = response_deadline(inspection.published_on)
            days_left = (deadline - today).days
            # The tightest warning that applies: 7 days once within 7, else 14.
            days_before = min(d for d in RESPONSE_WARNING_DAYS if days_left <= d)
            if (manager.pk, inspection_id, organisation_id, days_before) in given:
                continue
            warnings.setdefault(manager, []).append(
                ResponseWarning(inspection, manager.organisation, deadline, days_before, today)
            )
    return warnings


@dataclass
class SendResult:
    """Who got a digest, who already had one today, who has no address, and whose send failed."""

    sent: list[User] = field(default_factory=list)
    already_sent: list[User] = field(default_factory=list)
    no_email: list[User] = field(default_factory=list)
    failed: list[User] = field(default_factory=list)

    def summary(self) -> str:
        text = (
            f"Sent {len(self.sent)}, skipped (already sent today) {len(self.already_sent)}, "
            f"no email {len(self.no_email)}"
        )
        if self.failed:
            text += f", failed {len(self.failed)}"
        return text + "."


def claim_digest(
    *, user: User, today: dt.date, plan_count: int, warnings: Sequence[ResponseWarning] = ()
) -> DigestLog | None:
    """Record that `user` gets today's digest, or return None if someone already has.

    The unique constraint (user, sent_on) decides: when two processes insert at once, PostgreSQL makes
    the second wait for the first to commit and then raises IntegrityError. The insert runs in its own
    transaction so it is committed (and visible to every other process) before any email goes out.
    """
    try:
        with transaction.atomic():
            claim = DigestLog.objects.create(user=user, sent_on=today, plan_count=plan_count)
            for warning in warnings:
                # Unique per person, response and warning: a warning already given (by another run) stops
                # this claim too, and the next build leaves it out.
                ResponseReminder.objects.create(
                    user=user, inspection=warning.inspection, organisation=warning.organisation,
                    days_before=warning.days_before, sent_on=today,
                )  # fmt: skip
            return claim
    except IntegrityError:
        return None


def send_digests(
    digests: Iterable[Digest], *, mailer: BaseEmailBackend | None = None, progress: Callable[[int], None] | None = None
) -> SendResult:
    """Claim, then send, each digest; at most one per person per day.

    Call it outside any transaction (as the command does): each claim must commit on its own, before
    its email goes out, for other processes to see it.

    Trade-off: claiming *before* sending makes delivery at-most-once. Two runs can never both send,
    but if this process dies between the claim and the send (or the send fails and the claim cannot be
    deleted), that person gets no digest until tomorrow. Sending first and recording afterwards would
    be at-least-once instead: concurrent runs would email the same person twice. A missed daily
    reminder costs less than duplicates that teach people to ignore the email, so we claim first, and
    undo the claim when the send fails so that a later run the same day can retry. One more edge: if
    the mail server accepted the message but the connection then failed, the retry sends a second copy.

    `progress` is told how many digests have been dealt with after each one.
    """
    result = SendResult()
    if mailer is None:
        mailer = mailers.default  # settings.MAILERS (or the older EMAIL_* settings)
    with mailer:  # one SMTP session for the whole run
        for done, digest in enumerate(digests, start=1):
            if progress is not None and done > 1:
                progress(done - 1)
            user = digest.user
            if digest.is_empty:
                continue
            if not user.email:
                result.no_email.append(user)
                continue
            message = digest.message()  # rendered before the claim, to keep claim-to-send short
            claim = claim_digest(
                user=user, today=digest.today, plan_count=len(digest.plans), warnings=digest.response_warnings
            )
            if claim is None:
                result.already_sent.append(user)
                continue
            try:
                if not mailer.send_messages([message]):
                    raise RuntimeError("the email backend reported nothing sent")
            except Exception:
                logger.exception("Reminder digest to %s failed; releasing today's claim for a retry", user.username)
                DigestLog.objects.filter(pk=claim.pk).delete()
                ResponseReminder.objects.filter(user=user, sent_on=digest.today).delete()
                result.failed.append(user)
            else:
                result.sent.append(user)
    return result


def send_reminders(*, today: dt.date | None = None, days: int = DEFAULT_DAYS) -> SendResult:
    """Build today's digests and send them. Safe to run concurrently and more than once a day."""
    today = today or timezone.localdate()
    return send_digests(build_digests(today=today, days=days))


def already_sent_today(users: Sequence[User], *, today: dt.date) -> set[int]:
    """Ids of those `users` who have had today's digest (for reporting; one query)."""
    return set(
        DigestLog.objects.filter(user__in=[user.pk for user in users], sent_on=today).values_list("user_id", flat=True)
    )
