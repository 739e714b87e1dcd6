"""The inspectorate's side: who was inspected, what was found. Knows nothing of progress."""

from __future__ import annotations

from django.db import models
from django.urls import reverse
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

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("inspections:inspection-detail", kwargs={"slug": self.slug})


class Grading(models.Model):
    class Grade(models.TextChoices):
        OUTSTANDING = "outstanding", "Outstanding"
        GOOD = "good", "Good"
        ADEQUATE = "adequate", "Adequate"
        REQUIRES_IMPROVEMENT = "requires_improvement", "Requires improvement"
        INADEQUATE = "inadequate", "Inadequate"

    inspection = models.ForeignKey(Inspection, models.CASCADE, related_name="gradings")
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

    inspection = models.ForeignKey(Inspection, models.PROTECT, related_name="findings")
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
    supersedes = models.ForeignKey("self", models.PROTECT, null=True, blank=True, related_name="superseded_by")
    addressed_to = models.ManyToManyField(Organisation, related_name="findings", blank=True)
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
