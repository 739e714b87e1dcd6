"""Admin for the inspectorate's side. Administrators load inspections and findings here.

Publishing an inspection opens action plans, which belong to tracker; that action is added to the
Inspection admin in `tracker/admin.py`, because this app never imports tracker.
"""

from __future__ import annotations

from django.contrib import admin
from django.db import models
from django.forms import Textarea
from simple_history.admin import SimpleHistoryAdmin

from .models import Finding, FindingLink, Grading, Inspection, Organisation, Region, Theme, report_order


@admin.register(Region)
class RegionAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "organisation_count"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(organisation_total=models.Count("organisations"))

    @admin.display(description="organisations", ordering="organisation_total")
    def organisation_count(self, obj: Region) -> int:
        return obj.organisation_total


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    list_display = ["name", "short_name", "slug", "kind", "region"]
    list_filter = ["kind", "region"]
    search_fields = ["name", "short_name", "slug"]
    list_select_related = ["region"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Theme)
class ThemeAdmin(admin.ModelAdmin):
    list_display = ["name", "slug"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}


class GradingInline(admin.TabularInline):
    model = Grading
    fields = ["organisation", "area", "grade"]
    autocomplete_fields = ["organisation"]
    extra = 0


class FindingInline(admin.TabularInline):
    """A quick view of the findings; addressees, themes and links are edited on the finding's own page."""

    model = Finding
    fields = ["reference", "kind", "text", "due_by"]
    formfield_overrides = {models.TextField: {"widget": Textarea(attrs={"rows": 2, "cols": 70})}}
    show_change_link = True
    extra = 0


@admin.register(Inspection)
class InspectionAdmin(SimpleHistoryAdmin):
    list_display = ["title", "programme", "published_on", "finding_count"]
    list_filter = ["programme", "published_on"]
    search_fields = ["title", "slug", "summary"]
    date_hierarchy = "published_on"
    prepopulated_fields = {"slug": ["title"]}
    inlines = [GradingInline, FindingInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(finding_total=models.Count("findings"))

    @admin.display(description="findings", ordering="finding_total")
    def finding_count(self, obj: Inspection) -> int:
        return obj.finding_total


@admin.register(Grading)
class GradingAdmin(SimpleHistoryAdmin):
    list_display = ["organisation", "inspection", "area", "grade"]
    list_filter = ["grade", "inspection", "organisation"]
    search_fields = ["organisation__name", "inspection__title", "area"]
    list_select_related = ["organisation", "inspection"]
    autocomplete_fields = ["inspection", "organisation"]


class FindingLinkInline(admin.TabularInline):
    """Links from this finding to findings of earlier inspections; who made each and when is recorded."""

    model = FindingLink
    fk_name = "finding"
    fields = ["kind", "earlier", "note", "created_by", "created_at"]
    readonly_fields = ["created_by", "created_at"]
    autocomplete_fields = ["earlier"]
    extra = 0
    verbose_name = "link to an earlier finding"
    verbose_name_plural = "links to earlier findings (repeats, supersedes, relates to)"


@admin.register(Finding)
class FindingAdmin(SimpleHistoryAdmin):
    list_display = ["reference", "inspection", "kind", "short_text", "due_by", "addressees"]
    list_filter = ["kind", "inspection", "themes", "addressed_to", "due_by"]
    search_fields = ["reference", "text", "inspection__title"]
    list_select_related = ["inspection"]
    # Newest inspection first (as the inspections are listed), and within one the findings in the order its
    # report gives them (CoC, R, AFI, each by number: R2 before R10), not by reference as text.
    ordering = ["-inspection__published_on", "inspection__title", "inspection_id", *report_order()]
    autocomplete_fields = ["inspection", "cause_of_concern"]
    filter_horizontal = ["addressed_to", "themes"]
    fieldsets = [
        (None, {"fields": ["inspection", "kind", "reference", "text", "due_by"]}),
        ("Addressed to", {"fields": ["addressed_to"]}),
        ("Themes", {"fields": ["themes"]}),
        ("Cause of concern", {"fields": ["cause_of_concern"]}),
    ]
    inlines = [FindingLinkInline]

    def save_formset(self, request, form, formset, change):  # type: ignore[no-untyped-def]
        """Attribute each new link to the administrator who adds it."""
        for obj in formset.save(commit=False):
            if isinstance(obj, FindingLink) and obj.created_by_id is None and obj._state.adding:
                obj.created_by = request.user
            obj.save()
        for obj in formset.deleted_objects:
            obj.delete()
        formset.save_m2m()

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("addressed_to")

    @admin.display(description="addressed to")
    def addressees(self, obj: Finding) -> str:
        return ", ".join(org.display_name for org in obj.addressed_to.all())
