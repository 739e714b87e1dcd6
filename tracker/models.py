"""The tracker's side: users, each organisation's action plan for a finding, and its timeline."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from collections.abc import Iterable, Sequence
from typing import Any, Self

from django.conf import settings
from django.contrib.auth.models import AbstractUser, UserManager
from django.contrib.postgres.search import SearchVectorField
from django.core.exceptions import EmptyResultSet, ValidationError
from django.db import connection, connections, models, transaction
from django.db.models import BooleanField, Case, Exists, ExpressionWrapper, F, OuterRef, Q, Subquery, Value, When
from django.db.models.expressions import Combinable, RawSQL
from django.db.models.functions import Coalesce
from django.dispatch import Signal
from django.urls import reverse
from django.utils import timezone
from simple_history.models import HistoricalRecords

AMBER_WINDOW_DAYS = 30
AMBER_PERCENT_BELOW = 75


# A person's membership: which organisation they belong to and whether their account is active.
# Changing either goes through `tracker.people.release_plans` (see `User.save`).
MEMBERSHIP_FIELDS = frozenset({"organisation", "organisation_id", "is_active"})


# Sent by `User.save()` inside its transaction when it may have changed someone's organisation or active
# state, with what was stored before. Its one receiver, `tracker.people.release_plans` (connected in
# `TrackerConfig.ready`), releases the plans they may no longer own and answers with them: the rule
# writes through the workflow, which sits above the models, so the models name it only through this.
membership_saved = Signal()


class UserQuerySet(models.QuerySet["User"]):
    def update(self, **kwargs: object) -> int:
        """A bulk UPDATE never changes anyone's membership: such an update saves each person instead.

        `User.save` is where a change of organisation or a deactivation releases the person's plans
        (tracker/people.py); a plain UPDATE would skip it.
        """
        if MEMBERSHIP_FIELDS.isdisjoint(kwargs):
            return super().update(**kwargs)
        if any(isinstance(value, Combinable) for value in kwargs.values()):
            raise TypeError("Change people's organisation or active state with tracker.people.change_membership.")
        count = 0
        with transaction.atomic(using=self.db):
            for person in self.select_for_update():
                for name, value in kwargs.items():
                    setattr(person, name, value)
                person.save()
                count += 1
        return count


class PersonManager(UserManager.from_queryset(UserQuerySet)):  # type: ignore[misc]
    pass


class User(AbstractUser):
    class Role(models.TextChoices):
        STAFF = "staff", "Staff"
        MANAGER = "manager", "Manager"
        INSPECTOR = "inspector", "Inspector"

    organisation = models.ForeignKey(
        "inspections.Organisation",
        models.PROTECT,
        null=True,
        blank=True,
        related_name="users",
        help_text="Empty for inspectors and administrators.",
    )
    role = models.CharField(max_length=20, choices=Role, default=Role.STAFF)
    receive_digest = models.BooleanField(
        "email me a reminder digest", default=True, help_text="Daily digest of due-soon and overdue plans."
    )
    last_home_visit = models.DateTimeField(null=True, blank=True, editable=False)
    history = HistoricalRecords(excluded_fields=["password", "last_login", "last_home_visit"])

    objects = PersonManager()

    class Meta:
        ordering = ["username"]
        constraints = [
            models.CheckConstraint(
                condition=Q(role="inspector", organisation__isnull=True) | ~Q(role="inspector"),
                name="user_inspector_has_no_organisation",
            ),
            # Who may see what follows from the organisation (`permissions.plan_scope`): a person of a
            # role that does not see everything, without one, would see nothing yet be signed in.
            # Deactivated accounts are exempt (someone who left keeps their history).
            models.CheckConstraint(
                condition=Q(organisation__isnull=False)
                | Q(role="inspector")
                | Q(is_superuser=True)
                | Q(is_active=False),
                name="user_has_organisation_unless_sees_everything",
                violation_error_message="Staff and managers need an organisation; only inspectors and "
                "administrators have none.",
            ),
        ]

    def __str__(self) -> str:
        full = self.get_full_name()
        return f"{full} ({self.username})" if full else self.username

    @property
    def is_inspector(self) -> bool:
        return self.role == self.Role.INSPECTOR and self.is_active

    @property
    def is_manager(self) -> bool:
        return self.role == self.Role.MANAGER and self.organisation_id is not None

    @property
    def is_org_staff(self) -> bool:
        return self.role == self.Role.STAFF and self.organisation_id is not None

    @property
    def sees_everything(self) -> bool:
        return self.is_superuser or self.is_inspector

    def clean(self) -> None:
        """Per role: inspectors have no organisation; everyone else needs one (administrators aside)."""
        super().clean()
        if self.role == self.Role.INSPECTOR and self.organisation_id is not None:
            raise ValidationError(
                {"organisation": "Inspectors belong to no organisation: they see every organisation's plans."}
            )
        if (
            self.role != self.Role.INSPECTOR
            and self.organisation_id is None
            and self.is_active
            and not self.is_superuser
        ):
            raise ValidationError(
                {
                    "organisation": f"A {self.get_role_display().lower()} needs an organisation: choose the one "
                    "whose plans they work on (only inspectors and administrators have none)."
                }
            )

    def save(self, *args: object, changed_by: User | None = None, reason: str = "", **kwargs: object) -> None:
        """Save; if this moves the person to another organisation or deactivates them, release the plans
        they owned in the organisation they left (tracker.people.release_plans, through `membership_saved`),
        in the same transaction.

        Every way of changing a person ends here (the admin's forms, identity-provider sign-in through
        `tracker.people.change_membership`, commands, the shell; `User.objects.update()` saves each
        person), which is why the rule is triggered here rather than by each caller. `changed_by` is
        who made the change (the author of the timeline entries; by default the person themselves) and
        `reason` is added to each entry.
        """
        update_fields = kwargs.get("update_fields")
        if self._state.adding or (update_fields is not None and MEMBERSHIP_FIELDS.isdisjoint(update_fields)):
            super().save(*args, **kwargs)  # type: ignore[arg-type]
            return
        with transaction.atomic():
            before = (
                type(self)._default_manager.select_for_update()
                .filter(pk=self.pk)
                .values_list("organisation_id", "is_active")
                .first()
            )  # fmt: skip
            super().save(*args, **kwargs)  # type: ignore[arg-type]
            if before is not None:
                organisation_before, was_active = before
                answers = membership_saved.send(
                    type(self), person=self, organisation_before=organisation_before, was_active=was_active,
                    changed_by=changed_by, reason=reason,
                )  # fmt: skip
                self.released_plans = [plan for _, released in answers for plan in released]


def visible_organisation(user: Any) -> bool | int | None:
    """Whose plans (and their timelines and files) a user may see: True for every organisation
    (inspectors, administrators), an organisation's id, or None for nothing. The one home of the rule:
    `VisibleQuerySet.visible_to` (plans, milestones) and the search index (tracker.search) ask it."""
    if not user.is_authenticated or not user.is_active:
        return None
    if user.sees_everything:
        return True
    return user.organisation_id


# --- the rules of "overdue", "due soon" and "unowned": one home each ---------------------------------
# Each is a condition for the database here and the same rule for one plan already read
# (`ActionPlan.is_overdue_on`, `is_due_soon_on`, `active_owner`), next to each other and tested to agree;
# querysets, the RAG, the dashboard's counts, digests and pages all ask these.


def overdue(today: dt.date | None = None, *, by_stage: bool = False) -> Q:
    """Overdue: with the force (not yet reported complete) and past its target date. `by_stage` tests "with
    the force" by `stage_rule` (OVERDUE_STATUSES are that stage's statuses), for counting every plan."""
    today = today or timezone.localdate()
    if by_stage:
        return stage_rule(ActionPlan.Stage.WITH_FORCE) & Q(target_date__lt=today)
    return Q(status__in=ActionPlan.OVERDUE_STATUSES, target_date__lt=today)


def stage_rule(stage: ActionPlan.Stage) -> Q:
    """A plan is in this stage, for counting 100,000 plans at a time (`reports.theme_figures`). On
    PostgreSQL by the stage's number the database keeps (`ActionPlan.stage_number`, read with the finding
    and target date from the index `actionplan_finding_stages_idx` alone): comparing one small number
    rather than testing the status text against the stage's statuses took the counts per finding from
    about 40 to 24 ms. SQLite reads a generated column from the table, never from an index alone, which
    cost more than it saved (30 -> 41 ms), so there by the statuses, from `actionplan_finding_figures_idx`
    (docs/BENCHMARKS.md)."""
    if connection.vendor == "postgresql":
        return Q(stage_number=ActionPlan.STAGE_NUMBERS[stage])
    return Q(status__in=ActionPlan.STAGE_STATUSES[stage])


def due_soon(days: int = AMBER_WINDOW_DAYS, today: dt.date | None = None) -> Q:
    """Due soon: with the force and due today or within `days`."""
    today = today or timezone.localdate()
    return Q(
        status__in=ActionPlan.OVERDUE_STATUSES,
        target_date__gte=today,
        target_date__lte=today + dt.timedelta(days=days),
    )


def milestone_overdue(today: dt.date | None = None) -> Q:
    """A milestone overdue: with the force and an open milestone past its date (`next_milestone_date`,
    the earliest open milestone's, kept by tracker.workflow). It puts the plan at amber at least."""
    today = today or timezone.localdate()
    return Q(status__in=ActionPlan.OVERDUE_STATUSES, next_milestone_date__lt=today)


def unowned() -> Q:
    """Unowned: nobody answers for the plan, because it has no owner, a deactivated owner, or an owner of
    another organisation. (Moving or deactivating a person releases their open plans, `tracker.people`;
    the last two cases cover plans written some other way, e.g. loaded in bulk.)"""
    return Q(owner__isnull=True) | Q(owner__is_active=False) | ~Q(owner__organisation_id=F("organisation_id"))


class VisibleQuerySet[M: models.Model](models.QuerySet[M]):
    """Rows that belong to an organisation's plans, scoped by the one rule of who sees them
    (`visible_organisation`). `organisation_lookup` reaches the row's organisation id."""

    organisation_lookup: str

    def visible_to(self, user: User) -> Self:
        """Rows this user may see: everything for inspectors and admins, else their organisation's."""
        visible = visible_organisation(user)
        if visible is None:
            return self.none()
        if visible is True:
            return self
        return self.filter(**{self.organisation_lookup: visible})


class ActionPlanQuerySet(VisibleQuerySet["ActionPlan"]):
    organisation_lookup = "organisation_id"

    def open(self) -> ActionPlanQuerySet:
        """Not finished: the workflow may still move them (stages "with the force" and "awaiting verification")."""
        return self.filter(status__in=ActionPlan.OPEN_STATUSES)

    def returned(self) -> ActionPlanQuerySet:
        """Work sent back to the force: in progress, and its last change of status was a manager returning
        a submission or declining a proposal of no action, or an inspector reopening a signed-off plan or
        sending such a proposal back (`RETURNED_FROM`). Its owner's action, until it moves on."""
        return (
            self.filter(status=ActionPlan.Status.IN_PROGRESS)
            .alias(last_move_from=Subquery(_last_status_change().values("status_from")[:1]))
            .filter(last_move_from__in=RETURNED_FROM)
        )

    def with_return(self) -> ActionPlanQuerySet:
        """Annotate who returned the work, when and why (`returned_by`, `returned_at`, `returned_note`)."""
        last = _last_status_change().filter(status_from__in=RETURNED_FROM)
        return self.annotate(
            returned_at=Subquery(last.values("created_at")[:1]),
            returned_note=Subquery(last.values("note")[:1]),
            returned_by=Subquery(last.values("author__username")[:1]),
        )

    def longest_waiting_first(self) -> ActionPlanQuerySet:
        """A queue of submitted or signed-off plans as it is shown (home page, `sort=waiting` on /plans/):
        by when each came into its present status, oldest first (never changed: first of all)."""
        return self.with_waiting().order_by(F("waiting_since").asc(nulls_first=True), "pk")

    def oldest_returned_first(self) -> ActionPlanQuerySet:
        """Returned work as its queue shows it (home page, digest): with who returned it, when and why,
        the longest waiting first."""
        return self.with_return().order_by(F("returned_at").asc(nulls_last=True), "pk")

    def with_date_reason(self) -> ActionPlanQuerySet:
        """Annotate `date_reason`: the reason given with the last change of target date."""
        last = Update.objects.filter(plan=OuterRef("pk"), kind=Update.Kind.TARGET_DATE).order_by("-created_at", "-pk")
        return self.annotate(date_reason=Subquery(last.values("note")[:1]))

    def with_waiting(self) -> ActionPlanQuerySet:
        """Annotate `waiting_since`: when the plan came into its present status (its last change of status
        to it; None if it never changed)."""
        since = Update.objects.filter(plan=OuterRef("pk"), status_to=OuterRef("status")).order_by("-created_at", "-pk")
        return self.annotate(waiting_since=Subquery(since.values("created_at")[:1]))

    def in_stage(self, *stages: str) -> ActionPlanQuerySet:
        """Plans in any of these stages (`ActionPlan.Stage`): a filter on the status column, so it uses the
        status indexes."""
        return self.filter(status__in=statuses_of(*stages))

    def with_stage(self) -> ActionPlanQuerySet:
        """Annotate `stage_value` with exactly the rule of `ActionPlan.stage`."""
        return self.annotate(stage_value=stage_expression())

    def without_active_owner(self) -> ActionPlanQuerySet:
        """Plans nobody answers for (`unowned`)."""
        return self.filter(unowned())

    def overdue(self, today: dt.date | None = None) -> ActionPlanQuerySet:
        return self.filter(overdue(today))

    def due_soon(self, days: int = AMBER_WINDOW_DAYS, today: dt.date | None = None) -> ActionPlanQuerySet:
        return self.filter(due_soon(days, today))

    def with_rag(self, today: dt.date | None = None) -> ActionPlanQuerySet:
        """Annotate `rag_value` with exactly the rule of `ActionPlan.rag` (DESIGN section 4)."""
        return self.annotate(rag_value=rag_expression(today))

    def for_list(self) -> ActionPlanQuerySet:
        return (
            self.select_related("finding__inspection", "organisation", "owner")
            .with_rag()
            .with_recurrence()
            .annotate(brought_forward_value=brought_forward_count())
        )

    def brought_forward(self) -> ActionPlanQuerySet:
        """Plans whose target date was ever moved earlier."""
        return self.filter(Exists(_brought_forward_updates()))

    def repeats(self) -> ActionPlanQuerySet:
        """Plans whose finding repeats an earlier finding that the same organisation had a plan on."""
        return self.filter(_linked_findings(), repeat_expression())

    def recurrences(self) -> ActionPlanQuerySet:
        """Repeats whose earlier plan had been closed as verified complete: the problem came back."""
        return self.filter(_linked_findings(), repeat_expression(closed=True))

    def with_recurrence(self) -> ActionPlanQuerySet:
        """Annotate `is_recurrence` with exactly the rule of `recurrences()`."""
        return self.annotate(is_recurrence=repeat_expression(closed=True))

    def completion(self, *group_by: str, today: dt.date | None = None, distinct: bool = False) -> models.QuerySet:
        """Counts per group, computed in the database: total, open, reported complete, verified, overdue.

        `distinct` when a join can repeat a plan within a group (a to-many relation filtered and grouped
        on separately); COUNT(DISTINCT) costs a sort per figure, so it is not the default.
        """
        return self.values(*group_by).annotate(**completion_counts(today, distinct=distinct)).order_by(*group_by)

    def status_figures(self, *group_by: str, today: dt.date | None = None) -> list[dict[str, Any]]:
        """The figures of `completion_counts` per group, with the RAG counts (`rag_<value>`) and the
        deferrals (`deferred`, `deferred_with_force`), from one query grouped by the groups and the status.

        Per group and status the database gives four plain counts (`status_counts`: all, target date
        passed, due soon with little progress, deferred), which an index holding the grouped columns,
        the status, target date, progress and deferrals answers alone; the stage, overdue and RAG rules
        are then applied once per status (`fold_status_counts`) rather than per plan in SQL. Groups
        come in the order of `group_by`. Per organisation on PostgreSQL, see `_status_counts_per_organisation`.
        """
        today = today or timezone.localdate()
        if group_by == ("organisation_id",) and connections[self.db].vendor == "postgresql":
            return fold_status_counts(self._status_counts_per_organisation(today), group_by, today)
        rows = self.values(*group_by, "status").annotate(**status_counts(today)).order_by(*group_by, "status")
        return fold_status_counts(rows, group_by, today)

    def _status_counts_per_organisation(self, today: dt.date) -> list[dict[str, Any]]:
        """The rows of `status_counts` per organisation and status, counted organisation by organisation
        (`CROSS JOIN LATERAL`: each organisation's slice of `actionplan_org_figures_idx`, read alone, grouped
        by status) rather than in one grouping of every plan. The one grouping, over 100,000 plans, is
        planned with two parallel workers, which on a server of two processors wait for each other and
        the application: 16-22 ms by the clock against 15 ms for the same work in one process, and more
        when the processors are busy (docs/BENCHMARKS.md). Organisations without plans give no rows, as
        the grouping gave none."""
        organisations = self.model._meta.get_field("organisation").related_model._meta.db_table
        q = connections[self.db].ops.quote_name
        alias = q("lateral_organisation")
        per_status = (
            self.filter(organisation_id=RawSQL(f"{alias}.{q('id')}", ()))
            .values("status")
            .annotate(**status_counts(today))
            .order_by()
        )
        try:
            inner, params = per_status.query.sql_with_params()
        except EmptyResultSet:  # `none()`
            return []
        sql = (
            f"SELECT {alias}.{q('id')} AS {q('organisation_id')}, s.* FROM {q(organisations)} {alias} "
            f"CROSS JOIN LATERAL ({inner}) s ORDER BY 1, s.{q('status')}"
        )
        with connections[self.db].cursor() as cursor:
            cursor.execute(sql, params)
            names = [column.name for column in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def completion_totals(self, today: dt.date | None = None) -> dict[str, int]:
        """The same counts as `completion` over the whole queryset, in one aggregate query."""
        return self.aggregate(**completion_counts(today))

    def with_open_milestone_of(self, user: User | None = None, *, username: str = "") -> ActionPlanQuerySet:
        """Plans in which this person (a user, or a username) owns a milestone not yet done."""
        person = Q(owner=user) if user is not None else Q(owner__username=username)
        return self.filter(Exists(Milestone.objects.filter(person, plan=OuterRef("pk"), done_on__isnull=True)))

    def milestone_overdue(self, today: dt.date | None = None) -> ActionPlanQuerySet:
        """Plans with the force with a milestone past its date (`milestone_overdue`)."""
        return self.filter(milestone_overdue(today))

    def with_measure_figures(self) -> ActionPlanQuerySet:
        """Each plan's number of success measures (`measure_count`) and the latest date one is to be sustained
        until (`sustain_until`), for exports."""
        measures = SuccessMeasure.objects.filter(plan=OuterRef("pk")).order_by().values("plan")
        return self.annotate(
            measure_count=Coalesce(Subquery(measures.annotate(n=models.Count("pk")).values("n")[:1]), 0),
            sustain_until=Subquery(measures.annotate(last=models.Max("sustain_until")).values("last")[:1]),
        )

    def with_no_action_proposal(self) -> ActionPlanQuerySet:
        """Each plan's latest proposal of no action, for exports: `no_action_reason`, `no_action_risk`,
        `risk_accepted_by` (username) and `risk_accepted_on` (all empty without one)."""
        latest = NoActionProposal.objects.filter(plan=OuterRef("pk")).order_by("-proposed_at", "-pk")
        return self.annotate(
            no_action_reason=Subquery(latest.values("reason")[:1]),
            no_action_risk=Subquery(latest.values("risk")[:1]),
            risk_accepted_by=Subquery(latest.values("accepted_by__username")[:1]),
            risk_accepted_on=Subquery(latest.values("accepted_on")[:1]),
        )

    def within_reach_of(self, plan: ActionPlan) -> ActionPlanQuerySet:
        """Plans of `plan`'s organisation, or of another organisation in its region (a force's plan waiting
        on its regional unit's): the plans it may be linked to as waiting on, itself included."""
        same_region = (
            Q(organisation__region_id=plan.organisation.region_id) if plan.organisation.region_id else Q(pk__in=[])
        )
        return self.filter(Q(organisation_id=plan.organisation_id) | same_region)

    def may_be_waited_on_by(self, plan: ActionPlan) -> ActionPlanQuerySet:
        """Plans `plan` may wait on (`tracker.workflow.mark_blocked`): those `within_reach_of` it, never
        itself, nor a blocked plan already waiting on it. Chain after `visible_to` for what a person may be
        offered."""
        waiting_on_it = Dependency.objects.current().filter(on_plan=plan).values("plan_id")
        return self.within_reach_of(plan).exclude(pk=plan.pk).exclude(pk__in=waiting_on_it)

    def for_detail(
        self, *, brought_forward: bool = True, owner: bool = True, proposal_people: bool = True
    ) -> ActionPlanQuerySet:
        """A plan with what its page and the API show of it. Without `brought_forward` its count of target
        dates brought forward, without `owner` its owner, and without `proposal_people` the people of its
        proposal of no action, are left to the caller (the plan's page counts the dates in the timeline it
        reads, `count_brought_forward`, finds the owner among the people its forms offer, and reads a
        proposal's people only when there is a proposal, `proposal_with_people`): on PostgreSQL each join
        lengthens the planning of the plan's query (the owner's: 2.1 -> 1.5 ms)."""
        related = ["finding__inspection", "finding__cause_of_concern", "organisation", *(["owner"] if owner else [])]
        proposals = NoActionProposal.objects.all()
        if proposal_people:
            proposals = proposals.select_related(*NoActionProposal.PEOPLE)
        plans = (
            self.select_related(*related)
            .prefetch_related(
                models.Prefetch("milestones", queryset=Milestone.objects.select_related("owner")),
                "measures",
                models.Prefetch("no_action_proposals", queryset=proposals),
            )
            .with_recurrence()
        )
        return plans.annotate(brought_forward_value=brought_forward_count()) if brought_forward else plans


def rows_joined[M: models.Model](queryset: models.QuerySet[M], *related: str) -> list[M]:
    """The rows of `queryset` with `related` joined (`select_related`), reading first without the joins: for
    lists that are mostly empty (a finding's links, the plans waiting on a plan), where compiling the joins
    of each related row's every column cost this process about 0.5-1 ms a query even when nothing was
    found. When rows are found they are read again with the joins: one query more, only then."""
    rows = list(queryset)
    return list(queryset.select_related(*related)) if rows else rows


def count_rows(filter: Q | None = None) -> models.Count:
    """The number of rows (that match `filter`), as `COUNT(1)`: the same as counting the primary key,
    which is never null, but PostgreSQL then reads no column to count, where `COUNT(id) FILTER (...)`
    made its grouped counts of 100,000 plans twice as costly (the dashboard's counts per organisation:
    31 -> 14 ms of processor; docs/BENCHMARKS.md)."""
    return models.Count(Value(1), filter=filter)


def status_counts(today: dt.date) -> dict[str, models.Count]:
    """The counts `fold_status_counts` turns into figures, per status (see `status_figures`)."""
    window_end = today + dt.timedelta(days=AMBER_WINDOW_DAYS)
    return {
        "n": count_rows(),
        "past": count_rows(Q(target_date__lt=today)),
        "soon_low": count_rows(
            Q(target_date__gte=today, target_date__lte=window_end, percent_complete__lt=AMBER_PERCENT_BELOW)
        ),
        "deferred": count_rows(Q(deferral_count__gt=0)),
    }


def fold_status_counts(
    rows: Iterable[dict[str, Any]], group_by: Sequence[str], today: dt.date
) -> list[dict[str, Any]]:
    """Rows of `status_counts` per group and status, summed up per group into the figures of
    `completion_counts`, the RAG counts and the deferrals. The RAG of each count is `ActionPlan.rag_on`
    of a plan standing for it (target date passed; due soon with little progress; neither), so the
    rule has one home."""
    stage_of = {
        str(status): str(stage) for stage, statuses in ActionPlan.STAGE_STATUSES.items() for status in statuses
    }
    names = ["total", *(str(stage) for stage in ActionPlan.STAGE_STATUSES), "reported", "overdue", "deferred",
             "deferred_with_force", *(f"rag_{value}" for value in ActionPlan.Rag.values)]  # fmt: skip
    with_force = str(ActionPlan.Stage.WITH_FORCE)
    cases = (("past", today - dt.timedelta(days=1), 0), ("soon_low", today, 0), ("other", None, 100))

    def rules(status: str) -> tuple[str, bool, bool, bool, str, str, str]:
        """What a status's counts add to: its stage, whether it is reported complete, may be overdue and is
        with the force, and the RAG key of each count (past, soon_low, other)."""
        rags = [
            "rag_" + ActionPlan(status=status, target_date=target_date, percent_complete=percent).rag_on(today)
            for _case, target_date, percent in cases
        ]
        stage = stage_of[status]
        return (stage, status in ActionPlan.REPORTED_COMPLETE_STATUSES, status in ActionPlan.OVERDUE_STATUSES,
                stage == with_force, *rags)  # type: ignore[return-value]  # fmt: skip

    rules_of: dict[str, tuple[str, bool, bool, bool, str, str, str]] = {}
    groups: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        group = tuple([row[name] for name in group_by])
        into = groups.get(group)
        if into is None:
            into = groups[group] = {**dict(zip(group_by, group, strict=True)), **dict.fromkeys(names, 0)}
        status, n, past, soon_low, deferred = row["status"], row["n"], row["past"], row["soon_low"], row["deferred"]
        found = rules_of.get(status)
        if found is None:
            found = rules_of[status] = rules(status)
        stage, reported, may_be_overdue, is_with_force, rag_past, rag_soon_low, rag_other = found
        into["total"] += n
        into[stage] += n
        if reported:
            into["reported"] += n
        if may_be_overdue:
            into["overdue"] += past
        into["deferred"] += deferred
        if is_with_force:
            into["deferred_with_force"] += deferred
        into[rag_past] += past
        into[rag_soon_low] += soon_low
        into[rag_other] += n - past - soon_low
    return list(groups.values())


def completion_counts(today: dt.date | None = None, *, distinct: bool = False) -> dict[str, models.Count]:
    """The figures every count of plans shows (dashboard, board pack, inspection pages): the total, the
    plans in each stage (keyed by the stage's value; they add up to the total), the two headline rates'
    numerators "reported" (awaiting verification or verified) and "verified" (the stage of that name),
    and "overdue" (a part of "with the force")."""
    today = today or timezone.localdate()
    return {
        "total": models.Count("pk", distinct=distinct),
        **{
            stage: models.Count("pk", filter=Q(status__in=statuses), distinct=distinct)
            for stage, statuses in ActionPlan.STAGE_STATUSES.items()
        },
        "reported": models.Count("pk", filter=Q(status__in=ActionPlan.REPORTED_COMPLETE_STATUSES), distinct=distinct),
        "overdue": models.Count("pk", filter=overdue(today), distinct=distinct),
    }


def repeat_expression(*, closed: bool = False) -> Exists:
    """Whether a plan's finding repeats (FindingLink kind "repeats") an earlier finding on which the same
    organisation had a plan, closed as verified complete if `closed`: one home for "repeat" and "recurrence"."""
    from inspections.models import FindingLink

    # One filter() call, so that the organisation and the status are those of the same earlier plan.
    same_plan: dict[str, Any] = {"earlier__action_plans__organisation_id": OuterRef("organisation_id")}
    if closed:
        same_plan["earlier__action_plans__status"] = ActionPlan.Status.CLOSED
    return Exists(
        FindingLink.objects.filter(kind=FindingLink.Kind.REPEATS, finding_id=OuterRef("finding_id"), **same_plan)
    )


def _linked_findings() -> Q:
    """Plans on findings that repeat anything: a cheap first cut (few findings are linked) before the
    per-plan check of `repeat_expression`."""
    from inspections.models import FindingLink

    return Q(finding_id__in=FindingLink.objects.filter(kind=FindingLink.Kind.REPEATS).values("finding_id"))


def _brought_forward_updates() -> models.QuerySet:
    return Update.objects.filter(
        plan=OuterRef("pk"), kind=Update.Kind.TARGET_DATE, target_date_to__lt=F("target_date_from")
    )


def brought_forward_count() -> Coalesce:
    """How many times a plan's target date was moved earlier, read from its timeline (the one record)."""
    moves = _brought_forward_updates().order_by().values("plan").annotate(n=models.Count("pk")).values("n")
    return Coalesce(Subquery(moves[:1]), 0)


def count_brought_forward(updates: Iterable[Update]) -> int:
    """`brought_forward_count()` of a plan counted in its whole timeline, already read: its changes of
    target date to an earlier one (a date missing on either side is no move, as in SQL)."""
    return sum(
        1
        for update in updates
        if update.kind == Update.Kind.TARGET_DATE
        and update.target_date_to is not None
        and update.target_date_from is not None
        and update.target_date_to < update.target_date_from
    )


def _last_status_change() -> models.QuerySet:
    return Update.objects.filter(plan=OuterRef("pk")).exclude(status_to="").order_by("-created_at", "-pk")


def statuses_of(*stages: str) -> list[str]:
    """The statuses that make up these stages, in workflow order."""
    return [str(status) for stage in stages for status in ActionPlan.STAGE_STATUSES[ActionPlan.Stage(stage)]]


def stage_expression() -> Case:
    """The stage as a database expression; `ActionPlan.stage` is the same rule in Python."""
    return Case(
        *[When(status__in=statuses, then=Value(str(stage))) for stage, statuses in ActionPlan.STAGE_STATUSES.items()],
        output_field=models.CharField(),
    )


def rag_expression(today: dt.date | None = None) -> Case:
    """The RAG rule as a database expression; `ActionPlan.rag` is the same rule in Python."""
    today = today or timezone.localdate()
    window_end = today + dt.timedelta(days=AMBER_WINDOW_DAYS)
    S = ActionPlan.Status
    return Case(
        When(status__in=ActionPlan.TERMINAL_STATUSES, then=Value(ActionPlan.Rag.GREY)),
        When(overdue(today), then=Value(ActionPlan.Rag.RED)),
        When(status=S.BLOCKED, then=Value(ActionPlan.Rag.AMBER)),
        # A milestone past its date puts a plan with the force at amber at least.
        When(milestone_overdue(today), then=Value(ActionPlan.Rag.AMBER)),
        When(
            Q(target_date__gte=today, target_date__lte=window_end, percent_complete__lt=AMBER_PERCENT_BELOW),
            then=Value(ActionPlan.Rag.AMBER),
        ),
        default=Value(ActionPlan.Rag.GREEN),
        output_field=models.CharField(),
    )


def no_target_date() -> ExpressionWrapper:
    """`target_date IS NULL`: sorting on it first puts undated plans last, the same on every database.

    ("ORDER BY target_date NULLS LAST" says the same, but SQLite keeps NULLs first in an index and
    PostgreSQL keeps them last, so one of the two would sort every row for each page. Led by this
    expression, the ordering matches the indexes `actionplan_due_order_idx` and
    `actionplan_due_desc_idx` on both: docs/BENCHMARKS.md.)
    """
    return ExpressionWrapper(Q(target_date__isnull=True), output_field=BooleanField())


class ActionPlan(models.Model):
    class Status(models.TextChoices):
        NOT_STARTED = "not_started", "Not started"
        IN_PROGRESS = "in_progress", "In progress"
        BLOCKED = "blocked", "Blocked"
        SUBMITTED = "submitted", "Submitted for sign-off"
        NO_ACTION_PROPOSED = "no_action_proposed", "No action proposed"
        NO_ACTION_ACCEPTED = "no_action_accepted", "No action: risk accepted by the force"
        SIGNED_OFF = "signed_off", "Signed off by force"
        CLOSED = "closed", "Closed (verified complete)"
        SUPERSEDED = "superseded", "Superseded"
        NO_FURTHER_ACTION = "no_further_action", "No further action"

    class Rag(models.TextChoices):
        RED = "red", "Red: overdue"
        AMBER = "amber", "Amber: at risk"
        GREEN = "green", "Green: on track"
        GREY = "grey", "Grey: finished"

    class Stage(models.TextChoices):
        """Where a plan stands, in words every page, export, digest and the API use (DESIGN section 4).

        Every status belongs to exactly one stage (`STAGE_STATUSES`), so the stages of any set of plans
        add up to its total. "Reported complete" is awaiting verification or verified.
        """

        WITH_FORCE = "with_force", "With the force"
        AWAITING_VERIFICATION = "awaiting_verification", "Awaiting verification"
        VERIFIED = "verified", "Verified complete"
        ENDED = "ended", "Ended without completion"

    STAGE_STATUSES: dict[Stage, tuple[Status, ...]] = {
        # A proposal of no action stays with the force until the inspectorate decides: it is not reported
        # complete, whether the force's manager has accepted its risk yet (awaiting the inspector) or not.
        Stage.WITH_FORCE: (
            Status.NOT_STARTED,
            Status.IN_PROGRESS,
            Status.BLOCKED,
            Status.SUBMITTED,
            Status.NO_ACTION_PROPOSED,
            Status.NO_ACTION_ACCEPTED,
        ),
        Stage.AWAITING_VERIFICATION: (Status.SIGNED_OFF,),
        Stage.VERIFIED: (Status.CLOSED,),
        Stage.ENDED: (Status.SUPERSEDED, Status.NO_FURTHER_ACTION),
    }
    # What each stage holds, in words (filters' help, dashboard keys).
    STAGE_HELP: dict[Stage, str] = {
        Stage.WITH_FORCE: "not started, in progress, blocked, submitted for sign-off, or proposed for no action and "
        "not yet decided by the inspectorate",
        Stage.AWAITING_VERIFICATION: "signed off by the force, not yet verified by the inspectorate",
        Stage.VERIFIED: "closed by the inspectorate as verified complete",
        Stage.ENDED: "superseded or no further action",
    }

    # The workflow's groupings, from the stages. Finished: verified complete or ended.
    TERMINAL_STATUSES = STAGE_STATUSES[Stage.VERIFIED] + STAGE_STATUSES[Stage.ENDED]
    # Open: the workflow may still move them (with the force, or awaiting verification).
    OPEN_STATUSES = STAGE_STATUSES[Stage.WITH_FORCE] + STAGE_STATUSES[Stage.AWAITING_VERIFICATION]
    # With the force, not yet reported complete: these go red when the target date passes.
    OVERDUE_STATUSES = STAGE_STATUSES[Stage.WITH_FORCE]
    # Reported complete by the force: awaiting verification or verified.
    REPORTED_COMPLETE_STATUSES = STAGE_STATUSES[Stage.AWAITING_VERIFICATION] + STAGE_STATUSES[Stage.VERIFIED]
    # Each stage's number in `stage_number`, in the order of `STAGE_STATUSES`: 0 with the force, 1 awaiting
    # verification, 2 verified, 3 ended.
    STAGE_NUMBERS: dict[Stage, int] = {stage: number for number, stage in enumerate(STAGE_STATUSES)}

    # Not indexed alone: its column comes first in actionplan_one_per_finding_organisation, which serves it.
    finding = models.ForeignKey("inspections.Finding", models.PROTECT, related_name="action_plans", db_index=False)
    # Not indexed alone: its column comes first in actionplan_org_figures_idx and the other actionplan_org_*
    # indexes, which serve it.
    organisation = models.ForeignKey(
        "inspections.Organisation", models.PROTECT, related_name="action_plans", db_index=False
    )
    status = models.CharField(max_length=20, choices=Status, default=Status.NOT_STARTED)
    # Not indexed alone: its column comes first in actionplan_owner_status_idx, which serves it.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="owned_plans", db_index=False
    )
    target_date = models.DateField(null=True, blank=True, help_text="The agreed target date.")
    original_target_date = models.DateField(null=True, blank=True, editable=False)
    deferral_count = models.PositiveIntegerField(default=0, editable=False)  # later than any date agreed before
    percent_complete = models.PositiveSmallIntegerField(default=0)
    summary = models.TextField("response", blank=True)
    # Set on few plans: indexed only where set (actionplan_superseded_idx), which serves every look-up by it.
    superseded_by = models.ForeignKey(
        "inspections.Finding", models.PROTECT, null=True, blank=True, related_name="+", editable=False, db_index=False
    )
    version = models.PositiveIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)
    # The earliest target date among the plan's open milestones, kept by tracker.workflow with every
    # change of milestone, so that RAG (a milestone past its date is amber) needs no join.
    next_milestone_date = models.DateField(null=True, blank=True, editable=False)
    # The plan's stage as a small number (`STAGE_NUMBERS`), computed and stored by the database from the
    # status on every write, whatever writes it. Counting plans per stage over 100,000 of them on
    # PostgreSQL compares this number rather than testing the status text against each stage's list of
    # statuses: the dashboard's counts per theme (`reports.theme_figures`) cost it about 40% less
    # (docs/BENCHMARKS.md). Not for display: `stage` is the same rule in Python, in words.
    stage_number = models.GeneratedField(
        expression=Case(
            *[
                When(status__in=statuses, then=Value(number))
                for number, statuses in enumerate(STAGE_STATUSES.values())
            ],
            output_field=models.PositiveSmallIntegerField(),
        ),
        output_field=models.PositiveSmallIntegerField(),
        db_persist=True,
    )
    history = HistoricalRecords(
        excluded_fields=[
            "status", "percent_complete", "version", "updated_at", "deferral_count", "superseded_by",
            "next_milestone_date", "stage_number",
        ]
    )  # fmt: skip

    objects = ActionPlanQuerySet.as_manager()

    class Meta:
        ordering = ["target_date", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["finding", "organisation"], name="actionplan_one_per_finding_organisation"
            ),
            models.CheckConstraint(condition=Q(percent_complete__lte=100), name="actionplan_percent_complete_max_100"),
        ]
        indexes = [
            models.Index(fields=["status", "target_date"], name="actionplan_status_target_idx"),
            models.Index(fields=["owner", "status"], name="actionplan_owner_status_idx"),
            models.Index(
                fields=["superseded_by"], condition=Q(superseded_by__isnull=False), name="actionplan_superseded_idx"
            ),
            # /plans/ in its default order (soonest target date first) and the reverse: a page is read
            # straight from the index instead of sorting every visible plan.
            models.Index(no_target_date(), F("target_date"), F("id"), name="actionplan_due_order_idx"),
            models.Index(no_target_date(), F("target_date").desc(), F("id").desc(), name="actionplan_due_desc_idx"),
            # Plans opened in a period: the dashboard's trend reads this month's and last month's.
            models.Index(fields=["created_at"], name="actionplan_created_idx"),
            # The same order within one status: /plans/?status=..., "awaiting sign-off / verification".
            models.Index(F("status"), no_target_date(), F("target_date"), F("id"), name="actionplan_status_due_idx"),
            # One organisation's plans in that order (a manager's or staff member's list), and those of
            # one status (also counts per organisation and status, which replaced (organisation, status)).
            models.Index(
                F("organisation"), no_target_date(), F("target_date"), F("id"), name="actionplan_org_due_idx"
            ),
            models.Index(
                F("organisation"),
                F("status"),
                no_target_date(),
                F("target_date"),
                F("id"),
                name="actionplan_org_status_due_idx",
            ),
            # The dashboard's counts per organisation and per theme (`status_figures`) read these alone,
            # never the table: every column they count by is in the index.
            models.Index(
                fields=["organisation", "status", "target_date", "percent_complete", "deferral_count"],
                name="actionplan_org_figures_idx",
            ),
            models.Index(
                fields=["finding", "status", "target_date", "organisation"],
                name="actionplan_finding_figures_idx",
            ),
            # The same counts on PostgreSQL, by the stage's number (`stage_number`). SQLite reads a generated
            # column from the table, never from an index alone, so there the index above serves them.
            models.Index(
                fields=["finding", "stage_number", "target_date", "organisation"],
                name="actionplan_finding_stages_idx",
            ),
            # The most deferred plans (dashboard), everyone's and one organisation's: the first five are
            # read in order from these, which hold only deferred plans.
            models.Index(
                F("deferral_count").desc(),
                F("target_date"),
                F("id"),
                F("status"),
                condition=Q(deferral_count__gt=0),
                name="actionplan_deferred_idx",
            ),
            models.Index(
                F("organisation"),
                F("deferral_count").desc(),
                F("target_date"),
                F("id"),
                F("status"),
                condition=Q(deferral_count__gt=0),
                name="actionplan_org_deferred_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.finding.reference} - {self.organisation}"

    def get_absolute_url(self) -> str:
        return reverse("tracker:plan-detail", kwargs={"pk": self.pk})

    @property
    def stage(self) -> str:
        """The plan's stage (`Stage`); the same rule as `stage_expression`."""
        for stage, statuses in self.STAGE_STATUSES.items():
            if self.status in statuses:
                return str(stage)
        raise ValueError(f"No stage for status {self.status!r}.")

    def get_stage_display(self) -> str:
        return self.Stage(self.stage).label

    @property
    def no_action_proposal(self) -> NoActionProposal | None:
        """The latest proposal of no action (prefetched by `for_detail`), or None."""
        return next(iter(self.no_action_proposals.all()), None)

    def proposal_with_people(self) -> NoActionProposal | None:
        """`no_action_proposal` with its people (`NoActionProposal.PEOPLE`): read again with them when there is
        a proposal and they were left out (`for_detail(proposal_people=False)`), so that only a plan with a
        proposal pays for their joins."""
        proposal = self.no_action_proposal
        if proposal is None or NoActionProposal.proposed_by.is_cached(proposal):
            return proposal
        return NoActionProposal.objects.select_related(*NoActionProposal.PEOPLE).get(pk=proposal.pk)

    @property
    def is_open(self) -> bool:
        return self.status not in self.TERMINAL_STATUSES

    def rag_on(self, today: dt.date) -> str:
        """RAG on a given day; the same rule as `rag_expression` (tested to agree)."""
        if self.status in self.TERMINAL_STATUSES:
            return self.Rag.GREY
        if self.is_overdue_on(today):
            return self.Rag.RED
        if self.status == self.Status.BLOCKED:
            return self.Rag.AMBER
        if self.has_milestone_overdue_on(today):
            return self.Rag.AMBER
        if (
            self.target_date
            and today <= self.target_date <= today + dt.timedelta(days=AMBER_WINDOW_DAYS)
            and self.percent_complete < AMBER_PERCENT_BELOW
        ):
            return self.Rag.AMBER
        return self.Rag.GREEN

    @property
    def rag(self) -> str:
        return getattr(self, "rag_value", None) or self.rag_on(timezone.localdate())

    def get_rag_display(self) -> str:
        return self.Rag(self.rag).label

    def is_overdue_on(self, today: dt.date) -> bool:
        """The rule of `overdue()` for this plan."""
        return bool(self.status in self.OVERDUE_STATUSES and self.target_date and self.target_date < today)

    def has_milestone_overdue_on(self, today: dt.date) -> bool:
        """The rule of `milestone_overdue()` for this plan."""
        return bool(
            self.status in self.OVERDUE_STATUSES and self.next_milestone_date and self.next_milestone_date < today
        )

    def is_due_soon_on(self, today: dt.date, days: int = AMBER_WINDOW_DAYS) -> bool:
        """The rule of `due_soon()` for this plan."""
        return bool(
            self.status in self.OVERDUE_STATUSES
            and self.target_date
            and today <= self.target_date <= today + dt.timedelta(days=days)
        )

    def may_be_owned_by(self, user: User | None) -> bool:
        """Whether `user` can answer for the plan: an active member of its organisation (`unowned()` is
        every plan whose owner is not)."""
        return user is not None and user.is_active and user.organisation_id == self.organisation_id

    def possible_owners(self) -> models.QuerySet[User]:
        """The people `may_be_owned_by` accepts: whom a form or input may offer as the plan's owner or as
        one of its milestones' owners."""
        return User.objects.filter(organisation_id=self.organisation_id, is_active=True)

    @property
    def active_owner(self) -> User | None:
        """The owner who answers for the plan, or None when the plan is unowned: the rule of `unowned()`."""
        return self.owner if self.may_be_owned_by(self.owner) else None

    @property
    def is_overdue(self) -> bool:
        return self.is_overdue_on(timezone.localdate())

    @property
    def brought_forward_count(self) -> int:
        """Moves of the target date to an earlier one (annotated by `for_list`/`for_detail`, else read)."""
        value = getattr(self, "brought_forward_value", None)
        if value is None:
            value = self.updates.filter(kind=Update.Kind.TARGET_DATE, target_date_to__lt=F("target_date_from")).count()
        return value

    @property
    def date_moves(self) -> str:
        """How the target date has moved, in words ("deferred 2 times, brought forward 1 time, +30 days":
        the last figure against the original date); empty if it never has."""
        parts = [
            f"{what} {count} time{'s' if count != 1 else ''}"
            for count, what in (
                (self.deferral_count, "deferred"),
                (self.brought_forward_count, "brought forward"),
            )
            if count
        ]
        if not parts:
            return ""
        days = self.deferred_days
        return ", ".join([*parts, f"+{days} days" if days >= 0 else f"{days} days"])

    @property
    def deferred_days(self) -> int:
        if self.target_date and self.original_target_date:
            return (self.target_date - self.original_target_date).days
        return 0


class MilestoneQuerySet(VisibleQuerySet["Milestone"]):
    organisation_lookup = "plan__organisation_id"  # the milestones of the plans this user may see

    def open(self) -> MilestoneQuerySet:
        """Not done yet."""
        return self.filter(done_on__isnull=True)

    def with_force(self) -> MilestoneQuerySet:
        """Open, in plans still with the force (the only milestones that can be due or overdue)."""
        return self.open().filter(plan__status__in=ActionPlan.OVERDUE_STATUSES)

    def overdue(self, today: dt.date | None = None) -> MilestoneQuerySet:
        """Open, past their target date, in plans still with the force (`overdue_milestone`)."""
        return self.filter(overdue_milestone(today))

    def due_soon(self, days: int = AMBER_WINDOW_DAYS, today: dt.date | None = None) -> MilestoneQuerySet:
        """Open, due today or within `days`, in plans still with the force."""
        today = today or timezone.localdate()
        return self.with_force().filter(target_date__gte=today, target_date__lte=today + dt.timedelta(days=days))


def overdue_milestone(today: dt.date | None = None) -> Q:
    """A milestone overdue: open, past its target date, in a plan still with the force (`Milestone.is_late_on`
    for one milestone)."""
    today = today or timezone.localdate()
    return Q(done_on__isnull=True, target_date__lt=today, plan__status__in=ActionPlan.OVERDUE_STATUSES)


def attach_milestone_progress(plans: Any) -> list[ActionPlan]:
    """Give each plan `milestones_done` and `milestones_total` ("3 of 5"), for a page of plans in one query."""
    plans = list(plans)
    counts = {
        row["plan"]: row
        for row in Milestone.objects.filter(plan__in=[p.pk for p in plans])
        .order_by()
        .values("plan")
        .annotate(total=models.Count("pk"), done=models.Count("pk", filter=Q(done_on__isnull=False)))
    } if plans else {}  # fmt: skip
    for plan in plans:
        row = counts.get(plan.pk, {})
        plan.milestones_total = row.get("total", 0)
        plan.milestones_done = row.get("done", 0)
    return plans


class Milestone(models.Model):
    """One step of a plan, with its own owner and date. Written only by tracker.workflow, which keeps the
    plan's percentage (done out of all) and `next_milestone_date` in step and puts each change on the
    plan's timeline."""

    # Not indexed alone: its column comes first in milestone_plan_position_idx, which serves it.
    plan = models.ForeignKey(ActionPlan, models.PROTECT, related_name="milestones", db_index=False)
    position = models.PositiveIntegerField(default=0)
    title = models.CharField(max_length=200)
    # Not indexed alone: its column comes first in milestone_owner_done_idx, which serves it.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="owned_milestones",
        db_index=False,
    )
    target_date = models.DateField(null=True, blank=True)
    done_on = models.DateField(null=True, blank=True)
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = MilestoneQuerySet.as_manager()

    class Meta:
        ordering = ["plan", "position", "pk"]
        indexes = [
            models.Index(fields=["plan", "position"], name="milestone_plan_position_idx"),
            # A person's open milestones (home page, digests, the list's milestone-owner filter).
            models.Index(fields=["owner", "done_on"], name="milestone_owner_done_idx"),
            # Open milestones by date (digests: due and overdue).
            models.Index(fields=["done_on", "target_date"], name="milestone_done_target_idx"),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_done(self) -> bool:
        return self.done_on is not None

    def is_overdue_on(self, today: dt.date) -> bool:
        return self.done_on is None and self.target_date is not None and self.target_date < today

    @property
    def is_overdue(self) -> bool:
        return self.is_overdue_on(timezone.localdate())

    def is_late_on(self, today: dt.date, plan: ActionPlan | None = None) -> bool:
        """The rule of `overdue_milestone()` for this milestone (of `plan`, when it is at hand)."""
        plan = plan or self.plan
        return self.is_overdue_on(today) and plan.status in ActionPlan.OVERDUE_STATUSES


class DependencyQuerySet(models.QuerySet["Dependency"]):
    def current(self) -> DependencyQuerySet:
        """What blocked plans wait on now (a row outlives its plan's blocked state only if its status was
        set outside the workflow)."""
        return self.filter(plan__status=ActionPlan.Status.BLOCKED)


def waiting_on(kind: str) -> Q:
    """Blocked plans waiting on a kind of thing (`Dependency.Kind`), or on nothing recorded (`UNRECORDED`):
    the rule of the /plans/ filter `waiting_on` and the dashboard's blocked section, one home."""
    blocked = Q(status=ActionPlan.Status.BLOCKED)
    if kind == Dependency.UNRECORDED:
        return blocked & ~Exists(Dependency.objects.filter(plan=OuterRef("pk")))
    return blocked & Exists(Dependency.objects.filter(plan=OuterRef("pk"), kind=kind))


def attach_dependencies(plans: Any, user: Any = None, *, owner: bool = True) -> list[ActionPlan]:
    """Give each blocked plan of a page `waits` (its `Dependency`, with the plan it waits on, or None), in
    one query, and none at all when no plan on the page is blocked; with a `user`, also `waits_text`:
    what it waits on in words that user may read (`Dependency.describe_for`, with `owner`)."""
    plans = list(plans)
    blocked = [plan.pk for plan in plans if plan.status == ActionPlan.Status.BLOCKED]
    found = (
        {d.plan_id: d for d in Dependency.objects.filter(plan__in=blocked).select_related(*Dependency.RELATED)}
        if blocked
        else {}
    )
    for plan in plans:
        plan.waits = found.get(plan.pk)
        if user is not None:
            plan.waits_text = plan.waits.describe_for(user, owner=owner) if plan.waits else ""
    return plans


class Dependency(models.Model):
    """What a blocked plan waits on and since when: a national body, a partner agency, a procurement,
    another plan (of any organisation in the plan's region) or something else. Written only by
    tracker.workflow: recorded when the plan is marked blocked, removed when it leaves that state (its
    timeline keeps what it waited on). Who may read the plan waited on is `describe_for`'s business."""

    class Kind(models.TextChoices):
        NATIONAL_BODY = "national_body", "A national body"
        PARTNER_AGENCY = "partner_agency", "A partner agency"
        PROCUREMENT = "procurement", "A procurement"
        PLAN = "plan", "Another plan"
        OTHER = "other", "Something else"

    UNRECORDED = "unrecorded"  # the /plans/ filter's value for blocked plans with no dependency recorded
    RELATED = ("on_plan__organisation", "on_plan__finding__inspection", "on_plan__owner")

    plan = models.OneToOneField(ActionPlan, models.CASCADE, related_name="dependency")
    kind = models.CharField("waiting on", max_length=20, choices=Kind)
    name = models.CharField("what it waits on", max_length=200, blank=True)
    on_plan = models.ForeignKey(
        ActionPlan, models.PROTECT, null=True, blank=True, related_name="dependents", verbose_name="plan waited on"
    )
    since = models.DateField("blocked since")
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = DependencyQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "dependencies"
        indexes = [models.Index(fields=["kind", "plan"], name="dependency_kind_plan_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind="plan", on_plan__isnull=False) | (~Q(kind="plan") & Q(on_plan__isnull=True)),
                name="dependency_plan_only_for_plan_kind",
            ),
            models.CheckConstraint(condition=~Q(on_plan=F("plan")), name="dependency_not_on_itself"),
        ]

    def __str__(self) -> str:
        return f"{self.plan_id} waits on {self.get_kind_display().lower()}"

    def shows_plan_to(self, user: Any) -> bool:
        """Whether `user` may read the plan waited on (the rule of `ActionPlan.objects.visible_to`)."""
        if self.on_plan_id is None:
            return False
        visible = visible_organisation(user)
        return visible is True or (visible is not None and visible == self.on_plan.organisation_id)

    def describe_for(self, user: Any, *, owner: bool = True) -> str:
        """What the plan waits on, in words `user` may read, to follow "Waiting on": another plan they
        may not see is only "another organisation's plan" (no reference, no text, no status). Without
        `owner`, the plan waited on is not followed by its owner's name (for a published document)."""
        if self.kind == self.Kind.PLAN:
            if not self.shows_plan_to(user):
                return "another organisation's plan"
            other = self.on_plan
            owner = f", owner {other.owner}" if owner and other.owner_id else ""
            return (
                f"plan {other.pk}: {other.organisation} on {other.finding.reference} of "
                f"{other.finding.inspection.title} ({other.get_status_display().lower()}{owner})"
            )
        label = self.get_kind_display().lower()
        return f"{label}: {self.name}" if self.name else label


class SuccessMeasureQuerySet(models.QuerySet["SuccessMeasure"]):
    def sustaining(self, today: dt.date | None = None) -> SuccessMeasureQuerySet:
        """Measures whose demonstration period has not ended: sustained until a day still to come. A plan
        with one cannot be verified as closed (`tracker.workflow.close`)."""
        return self.filter(sustain_until__gt=today or timezone.localdate())


class SuccessMeasure(models.Model):
    """What success looks like for a plan (a closure criterion), set by the organisation's manager: the
    measure, an optional target figure and an optional date until which it must be sustained (a
    demonstration period). The submission for sign-off says how each was met. Written only by
    tracker.workflow, each change on the plan's timeline."""

    # Not indexed alone: its column comes first in measure_plan_position_idx, which serves it.
    plan = models.ForeignKey(ActionPlan, models.PROTECT, related_name="measures", db_index=False)
    position = models.PositiveIntegerField(default=0)
    text = models.CharField("measure", max_length=500)
    target_figure = models.CharField(max_length=100, blank=True, help_text='e.g. "95%" or "under 20 days".')
    sustain_until = models.DateField(
        null=True, blank=True, help_text="The end of a demonstration period: the plan is not closed before it."
    )
    how_met = models.TextField(blank=True, help_text="The last submission's account of how the measure was met.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = SuccessMeasureQuerySet.as_manager()

    class Meta:
        ordering = ["plan", "position", "pk"]
        indexes = [models.Index(fields=["plan", "position"], name="measure_plan_position_idx")]

    def __str__(self) -> str:
        return self.text

    def is_sustaining_on(self, today: dt.date) -> bool:
        """The rule of `sustaining()` for this measure."""
        return self.sustain_until is not None and self.sustain_until > today

    @property
    def is_sustaining(self) -> bool:
        return self.is_sustaining_on(timezone.localdate())


class NoActionProposal(models.Model):
    """A proposal that no action be taken on a plan (issue 15, part 4): the reason and the risk it leaves, by
    the organisation's staff or managers; the risk accepted by its manager (named and dated); then the
    inspectorate's decision, no further action or sent back. The plan's status says where it stands
    (`ActionPlan.Status.NO_ACTION_*`); this row keeps what was said. Written only by tracker.workflow."""

    class Outcome(models.TextChoices):
        OPEN = "", "Not yet decided"
        DECLINED = "declined", "Declined by the force's manager"
        AGREED = "agreed", "Agreed: no further action"
        SENT_BACK = "sent_back", "Sent back by the inspectorate"

    PEOPLE = ("proposed_by", "accepted_by", "decided_by")  # who proposed, accepted the risk and decided

    # Not indexed alone: its column comes first in noaction_plan_proposed_idx, which serves it.
    plan = models.ForeignKey(ActionPlan, models.PROTECT, related_name="no_action_proposals", db_index=False)
    reason = models.TextField("why no action is to be taken")
    risk = models.TextField("the risk it leaves")
    proposed_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, related_name="+")
    proposed_at = models.DateTimeField(default=timezone.now)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name="risk accepted by",
    )  # fmt: skip
    accepted_on = models.DateField("risk accepted on", null=True, blank=True)
    outcome = models.CharField(max_length=20, choices=Outcome, blank=True, default=Outcome.OPEN)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True)

    class Meta:
        ordering = ["-proposed_at", "-pk"]
        indexes = [models.Index(fields=["plan", "-proposed_at"], name="noaction_plan_proposed_idx")]

    def __str__(self) -> str:
        return f"No action proposed on {self.plan_id} by {self.proposed_by_id}"


# A plan moved back to in progress from these was returned: a submission by its manager, a signed-off plan
# reopened by an inspector, a proposal of no action declined by its manager or sent back by an inspector.
RETURNED_FROM = [
    ActionPlan.Status.SUBMITTED,
    ActionPlan.Status.SIGNED_OFF,
    ActionPlan.Status.NO_ACTION_PROPOSED,
    ActionPlan.Status.NO_ACTION_ACCEPTED,
]


class Update(models.Model):
    """One entry of a plan's append-only timeline. Never edited or deleted."""

    class Kind(models.TextChoices):
        PROGRESS = "progress", "Progress"
        STATUS = "status", "Status change"
        TARGET_DATE = "target_date", "Target date change"
        REVIEW = "review", "Review"
        VERIFICATION = "verification", "Verification"
        COMMENT = "comment", "Comment"
        OWNER = "owner", "Owner change"
        RESPONSE = "response", "Response change"
        MILESTONE = "milestone", "Milestone"
        MEASURE = "measure", "Success measure"
        NO_ACTION = "no_action", "Proposal of no action"

    # Not indexed alone: its column comes first in update_plan_created_idx, which serves it.
    plan = models.ForeignKey(ActionPlan, models.PROTECT, related_name="updates", db_index=False)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, related_name="updates")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    kind = models.CharField(max_length=20, choices=Kind)
    note = models.TextField(blank=True)
    status_from = models.CharField(max_length=20, choices=ActionPlan.Status, blank=True)
    status_to = models.CharField(max_length=20, choices=ActionPlan.Status, blank=True)
    percent = models.PositiveSmallIntegerField(null=True, blank=True)
    target_date_from = models.DateField(null=True, blank=True)
    target_date_to = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["plan", "-created_at"], name="update_plan_created_idx"),
            # The dashboard's last two months of status changes (tracker/flows.py `recent`) read from this
            # index alone: a few thousand changes rather than every entry of those months and its row. With
            # the plan in it, one organisation's are joined to its plans without reading the changes' rows;
            # without it PostgreSQL's planner, on a compact plans table, went through each of the
            # organisation's plans' updates instead (a manager's dashboard: 4 -> 20 ms; docs/BENCHMARKS.md).
            models.Index(
                fields=["created_at", "status_from", "status_to", "plan"],
                condition=~Q(status_to=""),
                name="update_status_change_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on {self.plan_id} by {self.author_id} at {self.created_at:%Y-%m-%d %H:%M}"

    @property
    def change_label(self) -> str:
        """What the entry did, in words: a return is a return, a reopening a reopening, a date brought
        forward is not a deferral."""
        S = ActionPlan.Status
        if self.status_to == S.IN_PROGRESS and self.status_from == S.SUBMITTED:
            return "Returned to the owner"
        if self.status_to == S.IN_PROGRESS and self.status_from == S.SIGNED_OFF:
            return "Reopened by the inspectorate"
        if self.status_to == S.IN_PROGRESS and self.status_from == S.NO_ACTION_PROPOSED:
            return "Proposal of no action declined"
        if self.status_to == S.IN_PROGRESS and self.status_from == S.NO_ACTION_ACCEPTED:
            return "Proposal of no action sent back"
        if self.status_to == S.NO_FURTHER_ACTION and self.status_from == S.NO_ACTION_ACCEPTED:
            return "No further action: proposal agreed"
        if self.kind == self.Kind.TARGET_DATE and self.target_date_to:
            if self.target_date_from is None:
                return "Target date set"
            if self.target_date_to < self.target_date_from:
                return "Target date brought forward"
            return "Target date moved later"
        if self.status_to:
            return {
                S.SUBMITTED: "Submitted for sign-off", S.SIGNED_OFF: "Signed off", S.CLOSED: "Verified and closed",
                S.SUPERSEDED: "Superseded", S.NO_FURTHER_ACTION: "No further action", S.BLOCKED: "Marked blocked",
                S.NO_ACTION_PROPOSED: "No action proposed", S.NO_ACTION_ACCEPTED: "Risk of no action accepted",
            }.get(self.status_to, self.get_kind_display())  # fmt: skip
        if self.kind == self.Kind.STATUS:
            return "What it waits on changed"  # a blocked plan's dependency, changed while it stays blocked
        return self.get_kind_display()


def evidence_path(instance: Evidence, filename: str) -> str:
    # A random name: the uploader's file name is kept in the database, never on disk.
    return f"evidence/{timezone.now():%Y/%m}/{uuid.uuid4().hex}"


class Evidence(models.Model):
    update = models.ForeignKey(Update, models.PROTECT, related_name="evidence")
    file = models.FileField(upload_to=evidence_path, max_length=200)
    original_name = models.CharField(max_length=255)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    content_type = models.CharField(max_length=120)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, related_name="+")
    uploaded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["uploaded_at", "pk"]
        verbose_name_plural = "evidence"

    def __str__(self) -> str:
        return self.original_name

    def get_absolute_url(self) -> str:
        return reverse("tracker:evidence-download", kwargs={"pk": self.pk})


class ApiTokenQuerySet(models.QuerySet["ApiToken"]):
    def active(self) -> ApiTokenQuerySet:
        return self.filter(revoked_at__isnull=True, user__is_active=True)


class ApiToken(models.Model):
    """A token for systems using the API. Only a hash is stored; the secret is shown once."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="What uses this token, e.g. 'force RMS sync'.")
    prefix = models.CharField(max_length=12, editable=False, db_index=True)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @staticmethod
    def hash(secret: str) -> str:
        return hashlib.sha256(secret.encode()).hexdigest()

    @classmethod
    def issue(cls, *, user: User, name: str) -> tuple[ApiToken, str]:
        secret = "rt_" + secrets.token_urlsafe(32)
        token = cls.objects.create(user=user, name=name, prefix=secret[:10], digest=cls.hash(secret))
        return token, secret


class GroupMapping(models.Model):
    """Single sign-on: one identity-provider group (or claim value) and the organisation and role it grants.

    An administrator keeps these in the admin. At each sign-in the user's groups are looked up here
    (tracker/sso.py): no match refuses the sign-in; several matches must agree on one organisation (or
    on none, for inspectors), and the highest role among them is taken.
    """

    value = models.CharField(
        "group",
        max_length=255,
        unique=True,
        help_text="Exactly as the provider sends it in the groups claim: for Entra ID the group's object ID "
        "(or the app role's value, with the roles claim).",
    )
    organisation = models.ForeignKey(
        "inspections.Organisation",
        models.CASCADE,
        null=True,
        blank=True,
        related_name="group_mappings",
        help_text="Empty for inspectors.",
    )
    role = models.CharField(max_length=20, choices=User.Role)
    description = models.CharField(
        max_length=200, blank=True, help_text="What the group is, for other administrators."
    )

    class Meta:
        ordering = ["organisation__name", "role", "value"]
        verbose_name = "sign-in group mapping"
        constraints = [
            models.CheckConstraint(
                condition=Q(role="inspector", organisation__isnull=True)
                | (~Q(role="inspector") & Q(organisation__isnull=False)),
                name="groupmapping_organisation_matches_role",
                violation_error_message="Inspectors see every organisation, so leave the organisation empty for "
                "them; staff and managers need one.",
            )
        ]

    def __str__(self) -> str:
        where = self.organisation.short_name if self.organisation_id else "every organisation"
        return f"{self.value} -> {self.get_role_display()}, {where}"


class SignInIdentity(models.Model):
    """The provider's account behind a user who signs in with single sign-on (issuer + subject)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, models.CASCADE, related_name="sign_in_identity")
    issuer = models.CharField(max_length=255)
    subject = models.CharField(max_length=255)
    groups = models.JSONField(default=list, blank=True, help_text="The groups sent at the last sign-in.")
    last_sign_in_at = models.DateTimeField(null=True, blank=True)
    refresh_token = models.TextField(
        blank=True,
        editable=False,
        help_text="The provider's refresh token, encrypted with a key derived from SECRET_KEY, for "
        "check_sign_in_accounts (needs the offline_access scope).",
    )
    last_checked_at = models.DateTimeField(null=True, blank=True)
    deactivated_by_provider = models.BooleanField(
        default=False,
        help_text="Deactivated because the provider no longer grants access; a later sign-in that the "
        "provider grants makes the account active again. An account an administrator deactivated stays so.",
    )

    class Meta:
        verbose_name = "sign-in identity"
        verbose_name_plural = "sign-in identities"
        constraints = [models.UniqueConstraint(fields=["issuer", "subject"], name="signinidentity_issuer_subject")]

    def __str__(self) -> str:
        return f"{self.subject} at {self.issuer}"


class DigestLog(models.Model):
    """One row per person per day a reminder digest went out; the unique constraint stops doubles."""

    # Not indexed alone: its column comes first in digestlog_one_per_user_per_day, which serves it.
    user = models.ForeignKey(settings.AUTH_USER_MODEL, models.CASCADE, related_name="digests", db_index=False)
    sent_on = models.DateField()
    sent_at = models.DateTimeField(default=timezone.now)
    plan_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-sent_on"]
        constraints = [models.UniqueConstraint(fields=["user", "sent_on"], name="digestlog_one_per_user_per_day")]

    def __str__(self) -> str:
        return f"Digest for {self.user_id} on {self.sent_on}"


class DataVersion(models.Model):
    """A counter that moves whenever data behind cached pages changes (tracker/freshness.py).

    One row per organisation (`organisation-<id>`: its plans, their timelines, its gradings), one for
    what every organisation's pages read (`global`: inspections, findings, their links, themes,
    regions, organisations, people) and one for the past (`history`). Cached figures are keyed on the
    counters of the scope they were computed for, so a change makes exactly the copies it affects
    unreachable, on every server. Counters move after the change commits, never inside it: no write
    holds one of these rows while it works.
    """

    key = models.CharField(max_length=40, primary_key=True)
    value = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = "data version"

    def __str__(self) -> str:
        return f"Data version {self.key} {self.value}"


class FlowSet(models.Model):
    """A complete set of `MonthlyFlow` rows: every organisation's months before `before`, computed from the
    timelines at history version `history` (tracker/freshness.py). Written last, so a set is read only
    once all its rows are in."""

    history = models.BigIntegerField()
    before = models.DateField()
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["history", "before"], name="flowset_unique")]

    def __str__(self) -> str:
        return f"Months before {self.before} at history {self.history}"


class MonthlyFlow(models.Model):
    """What changed in one organisation's plans in one month, for the dashboard's trend
    (tracker/flows.py): plans opened, status changes into minus out of "reported complete", into
    "verified" and into the other finished states.

    Kept only for months before last month, which change only when the history version moves
    (deletions, bulk loads of past-dated rows; the workflow dates everything now): so the trend reads
    about 120 rows per organisation rather than every timeline entry, and no write maintains them.
    Derived data: a set whose history version is not the current one is never read, and is deleted
    when the next set is written.
    """

    history = models.BigIntegerField()
    before = models.DateField()
    organisation = models.ForeignKey("inspections.Organisation", models.CASCADE, related_name="+")
    month = models.DateField()
    created = models.IntegerField(default=0)
    reported = models.IntegerField(default=0)
    verified = models.IntegerField(default=0)
    ended = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["history", "before", "organisation", "month"], name="monthlyflow_unique")
        ]

    def __str__(self) -> str:
        return f"{self.organisation_id} {self.month:%Y-%m}"


class SearchEntry(models.Model):
    """One searchable text: a finding, a plan's response, a progress note or comment, an evidence file's name.

    The search index (`tracker/search/`), kept by the database itself: triggers on the source tables
    write, rewrite and delete these rows in the same statement as the change (installed by migration
    0008 and checked after every `migrate`: `tracker.search.schema`), so every way of writing (pages,
    API, admin, imports, bulk loads) is followed. On PostgreSQL a trigger also fills `vector`
    (full-text, GIN index); on SQLite an FTS5 table follows these rows. Never written by the app.
    """

    class Kind(models.TextChoices):
        FINDING = "finding", "Findings"
        PLAN = "plan", "Responses"
        NOTE = "note", "Progress notes"
        COMMENT = "comment", "Comments"
        EVIDENCE = "evidence", "Evidence files"

    kind = models.CharField(max_length=10, choices=Kind)
    object_id = models.BigIntegerField()
    # What the entry belongs to, for filters, visibility and links; kept by the triggers, so no constraints.
    finding = models.ForeignKey(
        "inspections.Finding", models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    inspection = models.ForeignKey(
        "inspections.Inspection", models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    plan = models.ForeignKey(
        ActionPlan, models.DO_NOTHING, db_constraint=False, db_index=False, null=True, related_name="+"
    )
    organisation = models.ForeignKey(
        "inspections.Organisation", models.DO_NOTHING, db_constraint=False, db_index=False, null=True, related_name="+"
    )
    date = models.DateField(null=True)
    body = models.TextField()
    vector = SearchVectorField(null=True)  # PostgreSQL only

    class Meta:
        verbose_name_plural = "search entries"
        constraints = [models.UniqueConstraint(fields=["kind", "object_id"], name="searchentry_one_per_object")]
        # What the triggers look up. PostgreSQL's search indexes are in migration 0008 (SQLite's FTS5
        # tables serve its searches).
        indexes = [
            models.Index(fields=["plan"], name="searchentry_plan_idx"),
            models.Index(fields=["finding"], name="searchentry_finding_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.object_id}"


def job_file_path(instance: Job, filename: str) -> str:
    # A random folder per job: the name a person downloads is kept in `result_name`.
    return f"jobs/{timezone.now():%Y/%m}/{instance.pk.hex}/{uuid.uuid4().hex}"


class Job(models.Model):
    """Long work done by a worker process (tracker/jobs.py, docs/JOBS.md), as its owner sees it.

    The queue itself is django-tasks-db's table (`task_id` names the queued task); this row is what
    the status page shows: progress, the outcome or why it failed, and the file it made. A job with no
    user was started by a scheduled command (reminder digests) and has no status page.
    """

    class Kind(models.TextChoices):
        EXPORT_XLSX = "export_xlsx", "Action plans export (Excel)"
        REMINDERS = "reminders", "Reminder digests"
        BOARD_PACK_PDF = "board_pack_pdf", "Board pack (PDF)"
        IMPORT_CHECK = "import_check", "Checking a findings file"
        IMPORT_APPLY = "import_apply", "Importing findings"

    class Status(models.TextChoices):
        QUEUED = "queued", "Waiting for a worker"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Finished"
        FAILED = "failed", "Failed"

    FINISHED_STATUSES = (Status.SUCCEEDED, Status.FAILED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=20, choices=Kind)
    # Not indexed alone: its column comes first in job_user_created_idx, which serves it.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.CASCADE, null=True, blank=True, related_name="jobs", db_index=False
    )
    # `permissions.plan_scope` of the user when they asked: what the job may read, and what the
    # user must still be able to see to download its file.
    scope = models.CharField(max_length=40, blank=True)
    params = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status, default=Status.QUEUED)
    task_id = models.CharField(max_length=64, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)  # times a worker began it: one, always
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(null=True, blank=True)
    stage = models.CharField(max_length=60, blank=True)  # what it is doing now, for a job of several steps
    message = models.TextField(blank=True)  # the outcome, or why it failed, in words for its owner
    file = models.FileField(upload_to=job_file_path, max_length=200, blank=True)
    file_name = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "-created_at"], name="job_user_created_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.get_status_display()})"

    def get_absolute_url(self) -> str:
        return reverse("tracker:job-detail", kwargs={"pk": self.pk})

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED_STATUSES

    @property
    def percent(self) -> int:
        if self.status == self.Status.SUCCEEDED:
            return 100
        if not self.total:
            return 0
        return min(100, self.done * 100 // self.total)


class OrganisationSettings(models.Model):
    """An organisation's own choices, made by its managers on its settings page: for now, whether its
    progress is published on a public page (`/public/<slug>/`, tracker/public.py)."""

    organisation = models.OneToOneField("inspections.Organisation", models.CASCADE, related_name="tracker_settings")
    public_progress = models.BooleanField(
        "publish a public progress page",
        default=False,
        help_text="Anyone, signed in or not, may read the organisation's published inspections, gradings, "
        "each finding's stage and target date, and the public statements a manager has approved.",
    )
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+")
    changed_at = models.DateTimeField(default=timezone.now)
    history = HistoricalRecords()

    class Meta:
        verbose_name = "organisation settings"
        verbose_name_plural = "organisation settings"

    def __str__(self) -> str:
        return f"Settings of {self.organisation}"


class PublicStatement(models.Model):
    """A short statement of a plan's progress for the public page, written by the organisation's staff or
    managers and shown there only once a manager has approved it. Changing the text withdraws the approval
    (`tracker.public.write_statement`): what the public reads is always what a manager approved."""

    MAX_LENGTH = 600

    plan = models.OneToOneField(ActionPlan, models.CASCADE, related_name="public_statement")
    text = models.TextField(max_length=MAX_LENGTH)
    written_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, related_name="+")
    written_at = models.DateTimeField(default=timezone.now)
    approved_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+")
    approved_at = models.DateTimeField(null=True, blank=True)
    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(approved_by__isnull=True, approved_at__isnull=True)
                | Q(approved_by__isnull=False, approved_at__isnull=False),
                name="publicstatement_approved_by_and_at",
            )
        ]

    def __str__(self) -> str:
        return f"Public statement on {self.plan_id}"

    @property
    def is_approved(self) -> bool:
        return self.approved_at is not None


# --- the police and crime commissioner's 56-day response ---------------------------------------

# Days from an inspection report's publication within which the local policing body must publish its
# comments on it (Police Act 1996, s.55).
RESPONSE_DAYS = 56


def response_deadline(published_on: dt.date | None) -> dt.date | None:
    return published_on + dt.timedelta(days=RESPONSE_DAYS) if published_on else None


def response_path(instance: PccResponse, filename: str) -> str:
    # A random name, as for evidence: the uploader's file name is kept in the database, never in storage.
    return f"responses/{timezone.now():%Y/%m}/{uuid.uuid4().hex}"


class PccResponse(models.Model):
    """The published 56-day response of an organisation (its police and crime commissioner) to an
    inspection: the file as published, and the day it was published. One per organisation and inspection."""

    # Not indexed alone: its column comes first in pccresponse_one_per_organisation, which serves it.
    inspection = models.ForeignKey("inspections.Inspection", models.PROTECT, related_name="+", db_index=False)
    organisation = models.ForeignKey("inspections.Organisation", models.PROTECT, related_name="+")
    published_on = models.DateField()
    file = models.FileField(upload_to=response_path, max_length=200)
    original_name = models.CharField(max_length=255)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    content_type = models.CharField(max_length=120)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, related_name="+")
    uploaded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["inspection", "organisation"]
        verbose_name = "PCC response"
        constraints = [
            models.UniqueConstraint(fields=["inspection", "organisation"], name="pccresponse_one_per_organisation")
        ]

    def __str__(self) -> str:
        return f"{self.organisation_id}'s response to {self.inspection_id}"

    @property
    def deadline(self) -> dt.date | None:
        return response_deadline(self.inspection.published_on)


class ResponseReminder(models.Model):
    """One row per manager, organisation, inspection and warning (14 or 7 days before the 56-day
    deadline) that reached a digest: the unique constraint keeps each warning to exactly one."""

    # Not indexed alone: its column comes first in responsereminder_once_each, which serves it.
    user = models.ForeignKey(settings.AUTH_USER_MODEL, models.CASCADE, related_name="+", db_index=False)
    inspection = models.ForeignKey("inspections.Inspection", models.CASCADE, related_name="+")
    organisation = models.ForeignKey("inspections.Organisation", models.CASCADE, related_name="+")
    days_before = models.PositiveSmallIntegerField()
    sent_on = models.DateField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "inspection", "organisation", "days_before"], name="responsereminder_once_each"
            )
        ]

    def __str__(self) -> str:
        return f"{self.days_before}-day warning to {self.user_id} on {self.sent_on}"
