"""The `/plans/` filters (DESIGN section 6). The view supplies the scoped queryset; these narrow it."""

from __future__ import annotations

from typing import Any

import django_filters
from django import forms
from django.db.models import Q, QuerySet

from inspections.models import Finding, Inspection, Organisation, Theme

from .models import ActionPlan, User


class ActionPlanFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(label="Search", method="filter_q", help_text="Finding text, reference or response.")
    organisation = django_filters.ModelChoiceFilter(
        queryset=Organisation.objects.none(),
        to_field_name="slug",
        empty_label="All organisations",
        label="Organisation",
    )
    inspection = django_filters.ModelChoiceFilter(
        field_name="finding__inspection",
        queryset=Inspection.objects.none(),
        to_field_name="slug",
        empty_label="All inspections",
        label="Inspection",
    )
    kind = django_filters.ChoiceFilter(
        field_name="finding__kind", choices=Finding.Kind.choices, empty_label="All kinds", label="Kind"
    )
    status = django_filters.MultipleChoiceFilter(
        choices=ActionPlan.Status.choices, widget=forms.CheckboxSelectMultiple, label="Status"
    )
    rag = django_filters.ChoiceFilter(
        field_name="rag_value", choices=ActionPlan.Rag.choices, empty_label="Any RAG", label="RAG"
    )
    theme = django_filters.ModelChoiceFilter(
        field_name="finding__themes",
        queryset=Theme.objects.none(),
        to_field_name="slug",
        empty_label="All themes",
        label="Theme",
    )
    owner = django_filters.ChoiceFilter(label="Owner", method="filter_owner", empty_label="Anyone")
    overdue = django_filters.BooleanFilter(
        label="Overdue only", method="filter_overdue", widget=forms.CheckboxInput(attrs={"value": "1"})
    )
    deferred = django_filters.BooleanFilter(
        label="Deferred only", method="filter_deferred", widget=forms.CheckboxInput(attrs={"value": "1"})
    )
    sort = django_filters.OrderingFilter(
        label="Sort by",
        empty_label="Target date (soonest first)",
        fields=(
            ("target_date", "target_date"),
            ("status", "status"),
            ("organisation__name", "organisation"),
            ("updated_at", "updated"),
            ("deferral_count", "deferrals"),
        ),
        field_labels={
            "target_date": "Target date (soonest first)",
            "-target_date": "Target date (latest first)",
            "status": "Status",
            "-status": "Status (descending)",
            "organisation__name": "Organisation",
            "-organisation__name": "Organisation (Z-A)",
            "updated_at": "Last update (oldest first)",
            "-updated_at": "Last update (newest first)",
            "deferral_count": "Deferrals (fewest first)",
            "-deferral_count": "Deferrals (most first)",
        },
    )

    class Meta:
        model = ActionPlan
        fields: list[str] = []

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        fields = self.filters
        if user.sees_everything:
            fields["organisation"].queryset = Organisation.objects.only("slug", "name")
        else:
            fields["organisation"].queryset = Organisation.objects.filter(pk=user.organisation_id).only("slug", "name")
        fields["inspection"].queryset = Inspection.objects.only("slug", "title")
        fields["theme"].queryset = Theme.objects.only("slug", "name")
        owner_choices = [("me", "Me"), ("unassigned", "Unassigned")]
        if user.organisation_id:
            owner_choices += [
                (u.username, str(u))
                for u in User.objects.filter(organisation_id=user.organisation_id, is_active=True).exclude(pk=user.pk)
            ]
        fields["owner"].extra["choices"] = owner_choices

    def filter_q(self, queryset: QuerySet[ActionPlan], name: str, value: str) -> QuerySet[ActionPlan]:
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(finding__reference__iexact=value) | Q(finding__text__icontains=value) | Q(summary__icontains=value)
        )

    def filter_owner(self, queryset: QuerySet[ActionPlan], name: str, value: str) -> QuerySet[ActionPlan]:
        if value == "me":
            return queryset.filter(owner=self.user)
        if value == "unassigned":
            # Plans whose owner has left (deactivated) count as unassigned.
            return queryset.filter(Q(owner__isnull=True) | Q(owner__is_active=False))
        return queryset.filter(owner__username=value)

    def filter_overdue(self, queryset: QuerySet[ActionPlan], name: str, value: bool) -> QuerySet[ActionPlan]:
        return queryset.overdue() if value else queryset

    def filter_deferred(self, queryset: QuerySet[ActionPlan], name: str, value: bool) -> QuerySet[ActionPlan]:
        return queryset.filter(deferral_count__gt=0) if value else queryset
