"""The inspectorate's side: who was inspected, what was found. Knows nothing of progress."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Case, F, Q, Value, When
from django.db.models.functions import Length
from django.urls import reverse
from django.utils import timezone
from simple_history.models import HistoricalRecords


class Region(models.Model):
    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=100, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Organisation(models.Model):
    class Kind(models.TextChoices):
        FORCE = "force", "Force"
        REGIONAL_UNIT = "regional_unit", "Regional unit"
        NATIONAL_BODY = "national_body", "National body"
        OTHER = "other", "Other"

    name = models.CharField(max_length=200, unique=True)
    short_name = models.CharField(max_length=60, blank=True)
    slug = models.SlugField(max_length=100, unique=True)
    kind = models.CharField(max_length=20, choices=Kind, default=Kind.FORCE)
    region = models.ForeignKey(Region, models.PROTECT, related_name="organisations", null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def display_name(self) -> str:
        return self.short_name or self.name


class Inspection(models.Model):
    class Programme(models.TextChoices):
        SOC = "soc", "Serious and organised crime"
        PEEL = "peel", "PEEL"
        THEMATIC = "thematic", "Thematic"
        OTHER = "other", "Other"

    title = models.CharField(max_length=300)
    slug = models.SlugField(max_length=120, unique=True)
    programme = models.CharField(max_length=20, choices=Programme, default=Programme.OTHER)
    published_on = models.DateField(null=True, blank=True)
    report_url = models.URLField(blank=True)
    summary = models.TextField(blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-published_on", "title"]
        indexes = [
            # The dashboard's most recent inspections with a plan the viewer may see, newest first: read in
            # this order until ten are found, rather than every inspection checked and sorted.
            models.Index(F("published_on").desc(), F("id").desc(), name="inspection_published_idx"),
        ]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("inspections:inspection-detail", kwargs={"slug": self.slug})

    @property
    def heading(self) -> str:
        return heading_of(self.title)


def heading_of(title: str) -> str:
    """An inspection's name for a column heading: the title without "An inspection of the", cut at a word
    to 32 characters (the full title goes beside it, on hover and in the table's caption)."""
    for opening in ("An inspection of the ", "An inspection of ", "Inspection of the ", "Inspection of "):
        if title.startswith(opening):
            title = title[len(opening) :]
            title = title[:1].upper() + title[1:]
            break
    if len(title) <= 32:
        return title
    return title[:32].rsplit(" ", 1)[0] + "…"


class Grading(models.Model):
    class Grade(models.TextChoices):
        OUTSTANDING = "outstanding", "Outstanding"
        GOOD = "good", "Good"
        ADEQUATE = "adequate", "Adequate"
        REQUIRES_IMPROVEMENT = "requires_improvement", "Requires improvement"
        INADEQUATE = "inadequate", "Inadequate"

    # Not indexed alone: its column comes first in grading_unique_area_per_organisation, which serves it.
    inspection = models.ForeignKey(Inspection, models.CASCADE, related_name="gradings", db_index=False)
    organisation = models.ForeignKey(Organisation, models.PROTECT, related_name="gradings")
    area = models.CharField(max_length=200, default="Overall")
    grade = models.CharField(max_length=30, choices=Grade)
    history = HistoricalRecords()

    class Meta:
        ordering = ["organisation__name", "area"]
        constraints = [
            models.UniqueConstraint(
                fields=["inspection", "organisation", "area"], name="grading_unique_area_per_organisation"
            )
        ]

    def __str__(self) -> str:
        return f"{self.organisation}: {self.get_grade_display()} ({self.area})"


class Theme(models.Model):
    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=100, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Finding(models.Model):
    class Kind(models.TextChoices):
        CAUSE_OF_CONCERN = "cause_of_concern", "Cause of concern"
        RECOMMENDATION = "recommendation", "Recommendation"
        AREA_FOR_IMPROVEMENT = "area_for_improvement", "Area for improvement"

    # Not indexed alone: its column comes first in finding_unique_reference, which serves it.
    inspection = models.ForeignKey(Inspection, models.PROTECT, related_name="findings", db_index=False)
    kind = models.CharField(max_length=30, choices=Kind)
    reference = models.CharField(max_length=20, help_text='e.g. "CoC1", "R3", "AFI2"')
    text = models.TextField()
    themes = models.ManyToManyField(Theme, related_name="findings", blank=True)
    due_by = models.DateField(null=True, blank=True, help_text="Date the inspectorate set, if any.")
    cause_of_concern = models.ForeignKey(
        "self",
        models.PROTECT,
        null=True,
        blank=True,
        related_name="recommendations",
        limit_choices_to={"kind": Kind.CAUSE_OF_CONCERN},
        help_text="The cause of concern this recommendation accompanies.",
    )
    addressed_to = models.ManyToManyField(Organisation, related_name="findings", blank=True)
    # The inspectorate's own closure criteria for the finding ("what good looks like"), shown with every
    # organisation's plan beside the measures its manager sets.
    # A database default too, so rows written by code that predates the column (a server not yet updated,
    # a migration test's historical models) still go in.
    what_good_looks_like = models.TextField(
        "what good looks like", blank=True, default="", db_default="",
        help_text="The inspectorate's view of what closes this finding.",
    )  # fmt: skip
    history = HistoricalRecords(m2m_fields=[addressed_to])

    class Meta:
        ordering = ["inspection_id", "reference"]
        constraints = [models.UniqueConstraint(fields=["inspection", "reference"], name="finding_unique_reference")]

    def __str__(self) -> str:
        return f"{self.reference}: {self.short_text}"

    def get_absolute_url(self) -> str:
        return reverse("inspections:finding-detail", kwargs={"pk": self.pk})

    @property
    def short_text(self) -> str:
        return self.text if len(self.text) <= 80 else self.text[:77].rstrip() + "..."

    def superseding_findings(self) -> models.QuerySet[Finding]:
        """Later findings linked as superseding this one: what a plan on it may be superseded by."""
        return Finding.objects.filter(links__earlier=self, links__kind=FindingLink.Kind.SUPERSEDES)


def report_order(prefix: str = "") -> list:
    """Findings in the order an inspection report gives them, for `order_by`: causes of concern, then
    recommendations, then areas for improvement, each by its reference's number (the shorter reference
    first, then as text, so that AFI2 comes before AFI10). `prefix` reaches the finding from another
    model, e.g. "finding__"."""
    kinds = [When(**{f"{prefix}kind": kind}, then=Value(rank)) for rank, kind in enumerate(Finding.Kind.values)]
    return [Case(*kinds, default=Value(len(kinds))), Length(f"{prefix}reference"), F(f"{prefix}reference")]


class FindingLink(models.Model):
    """A finding's link to a finding of an earlier inspection: it repeats it, supersedes it, or relates to it.

    Typed, dated and attributed: made by an inspector or administrator (`created_by`; empty only for
    links carried over from the single "supersedes" field that came before links). Read both ways: a
    finding's `links` point back to earlier findings, its `later_links` come from findings raised since.
    """

    class Kind(models.TextChoices):
        REPEATS = "repeats", "Repeats"
        SUPERSEDES = "supersedes", "Supersedes"
        RELATES = "relates", "Relates to"

    # How the link reads from the earlier finding's side.
    REVERSE_LABELS = {Kind.REPEATS: "Raised again in", Kind.SUPERSEDES: "Superseded by", Kind.RELATES: "Related to"}

    # Not indexed alone: its column comes first in findinglink_one_per_pair, which serves it.
    finding = models.ForeignKey(
        Finding, models.CASCADE, related_name="links", help_text="The later finding.", db_index=False
    )
    # Not indexed alone: its column comes first in findinglink_earlier_kind_idx, which serves it.
    earlier = models.ForeignKey(
        Finding,
        models.PROTECT,
        related_name="later_links",
        help_text="The finding of an earlier inspection.",
        db_index=False,
    )
    kind = models.CharField(max_length=20, choices=Kind, default=Kind.REPEATS)
    note = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["finding", "earlier"], name="findinglink_one_per_pair"),
            models.CheckConstraint(condition=~Q(finding=F("earlier")), name="findinglink_not_to_itself"),
        ]
        indexes = [models.Index(fields=["earlier", "kind"], name="findinglink_earlier_kind_idx")]

    def __str__(self) -> str:
        return f"{self.finding_id} {self.kind} {self.earlier_id}"

    @property
    def reverse_label(self) -> str:
        return self.REVERSE_LABELS[self.Kind(self.kind)]

    def clean(self) -> None:
        """The earlier finding belongs to another inspection, published no later than this one's."""
        if self.finding_id is None or self.earlier_id is None:
            return
        if self.finding_id == self.earlier_id:
            raise ValidationError({"earlier": "A finding cannot be linked to itself."})
        later, earlier = self.finding.inspection, self.earlier.inspection
        if later.pk == earlier.pk:
            raise ValidationError({"earlier": "Choose a finding of an earlier inspection, not of the same one."})
        if later.published_on and earlier.published_on and earlier.published_on > later.published_on:
            message = f"{earlier.title} was published after {later.title}: link the later finding to it instead."
            raise ValidationError({"earlier": message})


class DismissedSuggestion(models.Model):
    """An earlier finding an inspector said is not linked to this one: never suggested for it again."""

    # Not indexed alone: its column comes first in dismissedsuggestion_one_per_pair, which serves it.
    finding = models.ForeignKey(Finding, models.CASCADE, related_name="dismissed_suggestions", db_index=False)
    earlier = models.ForeignKey(Finding, models.CASCADE, related_name="+")
    dismissed_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, related_name="+")
    dismissed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["dismissed_at", "pk"]
        constraints = [models.UniqueConstraint(fields=["finding", "earlier"], name="dismissedsuggestion_one_per_pair")]

    def __str__(self) -> str:
        return f"{self.earlier_id} is not linked to {self.finding_id}"
