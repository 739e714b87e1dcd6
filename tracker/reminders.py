"""Reminder digests: one email per person a day about due-soon, overdue and unowned action plans.

`build_digests` works out who gets what (a constant number of queries, whatever the number of
people); `send_digests` claims each person's `DigestLog` row for the day and then sends. The database's
unique constraint on (user, sent_on) is what stops doubles, so any number of copies of
`manage.py send_reminders` may run at once, on any number of machines sharing the database.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, mailers
from django.core.mail.backends.base import BaseEmailBackend
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone

from inspections.models import Organisation

from .models import ActionPlan, ActionPlanQuerySet, DigestLog, User

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
        return self.days_left is not None and self.days_left < 0

    @property
    def when(self) -> str:
        days = self.days_left
        if days is None:
            return "no target date"
        if days < 0:
            return f"{_plural(-days, 'day')} overdue"
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
        return str(owner)

    @property
    def url(self) -> str:
        return settings.SITE_URL + self.plan.get_absolute_url()


@dataclass(frozen=True)
class Section:
    """A table in the digest; sections with the same `group` share a heading."""

    group: str
    title: str
    lines: list[DigestLine]
    show_owner: bool = False


@dataclass
class Digest:
    """Everything one person is told on one day. Plans appear once, in the first section that fits."""

    user: User
    today: dt.date
    days: int
    own_overdue: list[ActionPlan] = field(default_factory=list)
    own_due_soon: list[ActionPlan] = field(default_factory=list)
    organisation: Organisation | None = None
    organisation_overdue: list[ActionPlan] = field(default_factory=list)
    organisation_unowned: list[ActionPlan] = field(default_factory=list)

    @property
    def plans(self) -> list[ActionPlan]:
        return self.own_overdue + self.own_due_soon + self.organisation_overdue + self.organisation_unowned

    @property
    def is_empty(self) -> bool:
        return not self.plans

    @property
    def subject(self) -> str:
        overdue = len(self.own_overdue) + len(self.organisation_overdue)
        parts = []
        if overdue:
            parts.append(f"{overdue} overdue")
        if self.own_due_soon:
            parts.append(f"{len(self.own_due_soon)} due soon")
        if self.organisation_unowned:
            parts.append(f"{len(self.organisation_unowned)} without an owner")
        return f"Action plan reminders: {', '.join(parts)}"

    def sections(self) -> list[Section]:
        def lines(plans: list[ActionPlan]) -> list[DigestLine]:
            return [DigestLine(plan, self.today) for plan in plans]

        mine = "Plans you own"
        sections = [
            Section(mine, f"Overdue ({len(self.own_overdue)})", lines(self.own_overdue)),
            Section(
                mine,
                f"Due in the next {_plural(self.days, 'day')} ({len(self.own_due_soon)})",
                lines(self.own_due_soon),
            ),
        ]
        if self.organisation is not None:
            theirs = f"Your organisation: {self.organisation.name}"
            sections += [
                Section(theirs, f"Overdue ({len(self.organisation_overdue)})", lines(self.organisation_overdue), True),
                Section(
                    theirs,
                    f"Open, without an active owner ({len(self.organisation_unowned)})",
                    lines(self.organisation_unowned),
                    True,
                ),
            ]
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


def reminder_plans(*, today: dt.date, days: int) -> ActionPlanQuerySet:
    """Every plan some digest may list: overdue, due within `days`, or open with no active owner.

    Bounded by what needs attention, not by the size of the database; one query.
    """
    no_active_owner = Q(owner__isnull=True) | Q(owner__is_active=False)
    return (
        ActionPlan.objects.overdue(today)
        | ActionPlan.objects.due_soon(days, today)
        | ActionPlan.objects.open().filter(no_active_owner)
    ).select_related("finding__inspection", "organisation", "owner")


# The same rules as ActionPlan.objects.overdue() / .due_soon(), applied to rows already fetched.
def _is_overdue(plan: ActionPlan, today: dt.date) -> bool:
    return bool(plan.target_date and plan.target_date < today and plan.status in ActionPlan.OVERDUE_STATUSES)


def _is_due_soon(plan: ActionPlan, today: dt.date, days: int) -> bool:
    return bool(
        plan.target_date
        and today <= plan.target_date <= today + dt.timedelta(days=days)
        and plan.status in ActionPlan.OVERDUE_STATUSES
    )


def _has_active_owner(plan: ActionPlan) -> bool:
    return plan.owner is not None and plan.owner.is_active


def _wants_digest(user: User | None) -> bool:
    return user is not None and user.is_active and user.receive_digest


def build_digests(*, today: dt.date, days: int = DEFAULT_DAYS) -> list[Digest]:
    """One digest per person with something to hear about, sorted by username. Two queries in all.

    Owners hear about their own open plans that are overdue or due within `days`. Managers hear about
    their organisation's overdue plans and its open plans without an active owner (plans they own
    themselves are in their own section instead). People who are inactive or have `receive_digest`
    off get nothing. People without an email address still get a digest here; `send_digests` skips them.
    """
    plans = sorted(reminder_plans(today=today, days=days), key=_plan_order)

    digests: dict[int, Digest] = {}

    def digest_for(user: User) -> Digest:
        if user.pk not in digests:
            digests[user.pk] = Digest(user=user, today=today, days=days)
        return digests[user.pk]

    # Owners: the plan's owner came with the plan (select_related), so no query per person.
    by_organisation: dict[int, list[ActionPlan]] = defaultdict(list)
    for plan in plans:
        by_organisation[plan.organisation_id].append(plan)
        if not _wants_digest(plan.owner):
            continue
        if _is_overdue(plan, today):
            digest_for(plan.owner).own_overdue.append(plan)
        elif _is_due_soon(plan, today, days):
            digest_for(plan.owner).own_due_soon.append(plan)

    if by_organisation:
        managers = User.objects.filter(
            role=User.Role.MANAGER,
            organisation_id__in=by_organisation,
            is_active=True,
            receive_digest=True,
        ).select_related("organisation")
        for manager in managers:
            overdue, unowned = [], []
            for plan in by_organisation[manager.organisation_id]:
                if plan.owner_id == manager.pk:
                    continue  # already in the manager's own section
                if _is_overdue(plan, today):
                    overdue.append(plan)
                elif plan.status in ActionPlan.OPEN_STATUSES and not _has_active_owner(plan):
                    unowned.append(plan)
            if overdue or unowned:
                digest = digest_for(manager)
                digest.organisation = manager.organisation
                digest.organisation_overdue = overdue
                digest.organisation_unowned = unowned

    return sorted(digests.values(), key=lambda digest: digest.user.username)


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


def claim_digest(*, user: User, today: dt.date, plan_count: int) -> DigestLog | None:
    """Record that `user` gets today's digest, or return None if someone already has.

    The unique constraint (user, sent_on) decides: when two processes insert at once, PostgreSQL makes
    the second wait for the first to commit and then raises IntegrityError. The insert runs in its own
    transaction so it is committed (and visible to every other process) before any email goes out.
    """
    try:
        with transaction.atomic():
            return DigestLog.objects.create(user=user, sent_on=today, plan_count=plan_count)
    except IntegrityError:
        return None


def send_digests(digests: Iterable[Digest], *, mailer: BaseEmailBackend | None = None) -> SendResult:
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
    """
    result = SendResult()
    if mailer is None:
        mailer = mailers.default  # settings.MAILERS (or the older EMAIL_* settings)
    with mailer:  # one SMTP session for the whole run
        for digest in digests:
            user = digest.user
            if digest.is_empty:
                continue
            if not user.email:
                result.no_email.append(user)
                continue
            message = digest.message()  # rendered before the claim, to keep claim-to-send short
            claim = claim_digest(user=user, today=digest.today, plan_count=len(digest.plans))
            if claim is None:
                result.already_sent.append(user)
                continue
            try:
                if not mailer.send_messages([message]):
                    raise RuntimeError("the email backend reported nothing sent")
            except Exception:
                logger.exception("Reminder digest to %s failed; releasing today's claim for a retry", user.username)
                DigestLog.objects.filter(pk=claim.pk).delete()
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
