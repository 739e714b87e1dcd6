"""The tracker's side: users, each organisation's action plan for a finding, and its timeline."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid

from django.conf import settings
from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.db.models import BooleanField, Case, ExpressionWrapper, F, Q, Value, When
from django.urls import reverse
from django.utils import timezone
from simple_history.models import HistoricalRecords

AMBER_WINDOW_DAYS = 30
AMBER_PERCENT_BELOW = 75


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

    objects = UserManager()

    class Meta:
        ordering = ["username"]
        constraints = [
            models.CheckConstraint(
                condition=Q(role="inspector", organisation__isnull=True) | ~Q(role="inspector"),
                name="user_inspector_has_no_organisation",
            )
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


class ActionPlanQuerySet(models.QuerySet["ActionPlan"]):
    def visible_to(self, user: User) -> ActionPlanQuerySet:
        """Rows this user may see: everything for inspectors and admins, else their organisation's."""
        if not user.is_authenticated or not user.is_active:
            return self.none()
        if user.sees_everything:
            return self
        if user.organisation_id is None:
            return self.none()
        return self.filter(organisation_id=user.organisation_id)

    def open(self) -> ActionPlanQuerySet:
        return self.filter(status__in=ActionPlan.OPEN_STATUSES)

    def overdue(self, today: dt.date | None = None) -> ActionPlanQuerySet:
        today = today or timezone.localdate()
        return self.filter(status__in=ActionPlan.OVERDUE_STATUSES, target_date__lt=today)

    def due_soon(self, days: int = AMBER_WINDOW_DAYS, today: dt.date | None = None) -> ActionPlanQuerySet:
        today = today or timezone.localdate()
        return self.filter(
            status__in=ActionPlan.OVERDUE_STATUSES,
            target_date__gte=today,
            target_date__lte=today + dt.timedelta(days=days),
        )

    def with_rag(self, today: dt.date | None = None) -> ActionPlanQuerySet:
        """Annotate `rag_value` with exactly the rule of `ActionPlan.rag` (DESIGN section 4)."""
        return self.annotate(rag_value=rag_expression(today))

    def for_list(self) -> ActionPlanQuerySet:
        return self.select_related("finding__inspection", "organisation", "owner").with_rag()

    def completion(self, *group_by: str, today: dt.date | None = None, distinct: bool = False) -> models.QuerySet:
        """Counts per group, computed in the database: total, open, reported complete, verified, overdue.

        `distinct` when a join can repeat a plan within a group (a to-many relation filtered and grouped
        on separately); COUNT(DISTINCT) costs a sort per figure, so it is not the default.
        """
        return self.values(*group_by).annotate(**completion_counts(today, distinct=distinct)).order_by(*group_by)

    def completion_totals(self, today: dt.date | None = None) -> dict[str, int]:
        """The same counts as `completion` over the whole queryset, in one aggregate query."""
        return self.aggregate(**completion_counts(today))

    def for_detail(self) -> ActionPlanQuerySet:
        return self.select_related("finding__inspection", "finding__cause_of_concern", "organisation", "owner")


def completion_counts(today: dt.date | None = None, *, distinct: bool = False) -> dict[str, models.Count]:
    today = today or timezone.localdate()
    return {
        "total": models.Count("pk", distinct=distinct),
        "open": models.Count("pk", filter=Q(status__in=ActionPlan.OPEN_STATUSES), distinct=distinct),
        "reported": models.Count("pk", filter=Q(status__in=ActionPlan.REPORTED_COMPLETE_STATUSES), distinct=distinct),
        "verified": models.Count("pk", filter=Q(status=ActionPlan.Status.CLOSED), distinct=distinct),
        "overdue": models.Count(
            "pk", filter=Q(status__in=ActionPlan.OVERDUE_STATUSES, target_date__lt=today), distinct=distinct
        ),
    }


def rag_expression(today: dt.date | None = None) -> Case:
    """The RAG rule as a database expression; `ActionPlan.rag` is the same rule in Python."""
    today = today or timezone.localdate()
    window_end = today + dt.timedelta(days=AMBER_WINDOW_DAYS)
    S = ActionPlan.Status
    return Case(
        When(status__in=ActionPlan.TERMINAL_STATUSES, then=Value(ActionPlan.Rag.GREY)),
        When(
            Q(target_date__lt=today) & Q(status__in=ActionPlan.OVERDUE_STATUSES),
            then=Value(ActionPlan.Rag.RED),
        ),
        When(status=S.BLOCKED, then=Value(ActionPlan.Rag.AMBER)),
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
        SIGNED_OFF = "signed_off", "Signed off by force"
        CLOSED = "closed", "Closed (verified complete)"
        SUPERSEDED = "superseded", "Superseded"
        NO_FURTHER_ACTION = "no_further_action", "No further action"

    class Rag(models.TextChoices):
        RED = "red", "Red: overdue"
        AMBER = "amber", "Amber: at risk"
        GREEN = "green", "Green: on track"
        GREY = "grey", "Grey: finished"

    TERMINAL_STATUSES = (Status.CLOSED, Status.SUPERSEDED, Status.NO_FURTHER_ACTION)
    OPEN_STATUSES = (
        Status.NOT_STARTED,
        Status.IN_PROGRESS,
        Status.BLOCKED,
        Status.SUBMITTED,
        Status.SIGNED_OFF,
    )
    # Not yet reported complete by the force: these go red when the target date passes.
    OVERDUE_STATUSES = (Status.NOT_STARTED, Status.IN_PROGRESS, Status.BLOCKED, Status.SUBMITTED)
    REPORTED_COMPLETE_STATUSES = (Status.SIGNED_OFF, Status.CLOSED)

    finding = models.ForeignKey("inspections.Finding", models.PROTECT, related_name="action_plans")
    organisation = models.ForeignKey("inspections.Organisation", models.PROTECT, related_name="action_plans")
    status = models.CharField(max_length=20, choices=Status, default=Status.NOT_STARTED)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="owned_plans"
    )
    target_date = models.DateField(null=True, blank=True, help_text="The agreed target date.")
    original_target_date = models.DateField(null=True, blank=True, editable=False)
    deferral_count = models.PositiveIntegerField(default=0, editable=False)
    percent_complete = models.PositiveSmallIntegerField(default=0)
    summary = models.TextField("response", blank=True)
    superseded_by = models.ForeignKey(
        "inspections.Finding", models.PROTECT, null=True, blank=True, related_name="+", editable=False
    )
    version = models.PositiveIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)
    history = HistoricalRecords(
        excluded_fields=["status", "percent_complete", "version", "updated_at", "deferral_count", "superseded_by"]
    )

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
        ]

    def __str__(self) -> str:
        return f"{self.finding.reference} - {self.organisation}"

    def get_absolute_url(self) -> str:
        return reverse("tracker:plan-detail", kwargs={"pk": self.pk})

    def can_move_to(self, new_status: str) -> bool:
        from .workflow import ALLOWED_TRANSITIONS

        return new_status in ALLOWED_TRANSITIONS.get(self.status, ())

    @property
    def is_open(self) -> bool:
        return self.status not in self.TERMINAL_STATUSES

    def rag_on(self, today: dt.date) -> str:
        """RAG on a given day; the same rule as `rag_expression` (tested to agree)."""
        if self.status in self.TERMINAL_STATUSES:
            return self.Rag.GREY
        if self.target_date and self.target_date < today and self.status in self.OVERDUE_STATUSES:
            return self.Rag.RED
        if self.status == self.Status.BLOCKED:
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

    @property
    def is_overdue(self) -> bool:
        return bool(
            self.target_date and self.target_date < timezone.localdate() and self.status in self.OVERDUE_STATUSES
        )

    @property
    def deferred_days(self) -> int:
        if self.target_date and self.original_target_date:
            return (self.target_date - self.original_target_date).days
        return 0


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

    plan = models.ForeignKey(ActionPlan, models.PROTECT, related_name="updates")
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
        indexes = [models.Index(fields=["plan", "-created_at"], name="update_plan_created_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on {self.plan_id} by {self.author_id} at {self.created_at:%Y-%m-%d %H:%M}"


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


class DigestLog(models.Model):
    """One row per person per day a reminder digest went out; the unique constraint stops doubles."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, models.CASCADE, related_name="digests")
    sent_on = models.DateField()
    sent_at = models.DateTimeField(default=timezone.now)
    plan_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-sent_on"]
        constraints = [models.UniqueConstraint(fields=["user", "sent_on"], name="digestlog_one_per_user_per_day")]

    def __str__(self) -> str:
        return f"Digest for {self.user_id} on {self.sent_on}"


class DataVersion(models.Model):
    """A counter that moves whenever data behind a cached page changes (tracker/freshness.py).

    One row. Cached figures are keyed on its value, so a change anywhere makes every cached copy
    unreachable at once, on every server, without a cache that all servers share.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    value = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = "data version"

    def __str__(self) -> str:
        return f"Data version {self.value}"
