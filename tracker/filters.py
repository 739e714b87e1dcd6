"""The `/plans/` filters (DESIGN section 6). The view supplies the scoped queryset; these narrow it."""

from __future__ import annotations

from typing import Any

import django_filters
from django import forms
from django.db.models import Case, F, OrderBy, Q, QuerySet, Value, When
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import SafeString, mark_safe

from inspections.models import Finding, Inspection, Organisation, Region, Theme

from .models import ActionPlan, User, no_target_date

# Statuses sort in workflow order, not alphabetically.
STATUS_ORDER = Case(
    *[When(status=status, then=Value(rank)) for rank, status in enumerate(ActionPlan.Status.values)],
    default=Value(len(ActionPlan.Status.values)),
)
# Undated plans last (tracker.models.no_target_date), in the order of the index that serves each.
SOONEST: list[OrderBy | str] = [no_target_date().asc(), F("target_date").asc(), F("pk").asc()]
LATEST: list[OrderBy | str] = [no_target_date().asc(), F("target_date").desc(), F("pk").desc()]

# `sort` values, their labels and the ORDER BY each means. Every ordering ends in a unique key so that
# pages never overlap, and the list and the exports give the same rows in the same order.
SORTS: dict[str, tuple[str, list[OrderBy | str]]] = {
    "target_date": ("Target date (soonest first)", SOONEST),
    "-target_date": ("Target date (latest first)", LATEST),
    "status": ("Status (workflow order)", [STATUS_ORDER.asc(), *SOONEST]),
    "-status": ("Status (most advanced first)", [STATUS_ORDER.desc(), *SOONEST]),
    "organisation": ("Organisation (A-Z)", ["organisation__name", *SOONEST]),
    "-organisation": ("Organisation (Z-A)", ["-organisation__name", *SOONEST]),
    "-updated": ("Last update (newest first)", ["-updated_at", "-pk"]),
    "updated": ("Last update (oldest first)", ["updated_at", "pk"]),
    "-deferrals": ("Deferrals (most first)", ["-deferral_count", *SOONEST]),
    "deferrals": ("Deferrals (fewest first)", ["deferral_count", *SOONEST]),
}
DEFAULT_ORDERING = SORTS["target_date"][1]


class OnOffCheckbox(forms.CheckboxInput):
    """A checkbox for "only ..." filters: `1`, `true`, `on` or `yes` mean on; `0`, `false`, `off`, `no`
    or nothing mean off (Django's checkbox takes any value but "false" as on, so `overdue=0` would filter)."""

    def __init__(self) -> None:
        super().__init__(attrs={"value": "1"})

    def value_from_datadict(self, data: Any, files: Any, name: str) -> bool:
        return str(data.get(name, "")).strip().lower() in {"1", "true", "on", "yes"}


def _attrs(attrs: dict[str, Any]) -> str:
    """Attributes as django/forms/widgets/attrs.html writes them."""
    return "".join(
        f" {conditional_escape(name)}"
        if value is True
        else f' {conditional_escape(name)}="{conditional_escape(value)}"'
        for name, value in attrs.items()
        if value is not False and value is not None
    )


class FastSelect(forms.Select):
    """A select written in Python rather than through a template per option: the same HTML as Django's
    Select (tested), at a fraction of the cost for long lists such as 800 inspections."""

    def render(self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None) -> SafeString:
        widget = self.get_context(name, value, attrs)["widget"]
        parts = [f'<select name="{conditional_escape(widget["name"])}"{_attrs(widget["attrs"])}>']
        for group_name, options, _index in widget["optgroups"]:
            if group_name:
                parts.append(format_html('\n  <optgroup label="{}">', group_name))
            for option in options:
                parts.append(
                    f'\n  <option value="{conditional_escape(str(option["value"]))}"{_attrs(option["attrs"])}>'
                    f"{conditional_escape(option['label'])}</option>\n"
                )
            if group_name:
                parts.append("\n  </optgroup>")
        parts.append("\n</select>")
        return mark_safe("".join(parts))  # every value above is escaped


class ActionPlanFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(
        label="Search",
        method="filter_q",
        help_text="Finding text, reference or response.",
        widget=forms.TextInput(attrs={"type": "search"}),
    )
    organisation = django_filters.ModelChoiceFilter(
        queryset=Organisation.objects.none(),
        to_field_name="slug",
        empty_label="All organisations",
        label="Organisation",
        widget=FastSelect,
    )
    region = django_filters.ModelChoiceFilter(
        field_name="organisation__region",
        queryset=Region.objects.none(),
        to_field_name="slug",
        empty_label="All regions",
        null_label="No region",
        null_value="none",
        label="Region",
        widget=FastSelect,
    )
    inspection = django_filters.ModelChoiceFilter(
        field_name="finding__inspection",
        queryset=Inspection.objects.none(),
        to_field_name="slug",
        empty_label="All inspections",
        label="Inspection",
        widget=FastSelect,
    )
    kind = django_filters.ChoiceFilter(
        field_name="finding__kind",
        choices=Finding.Kind.choices,
        empty_label="All kinds",
        label="Kind",
        widget=FastSelect,
    )
    # No DISTINCT: a status is a column of the plan, and a plan's finding has each theme once, so
    # neither filter can repeat a row (and DISTINCT over long texts is slow on big exports).
    status = django_filters.MultipleChoiceFilter(
        choices=ActionPlan.Status.choices, widget=forms.CheckboxSelectMultiple, label="Status", distinct=False
    )
    rag = django_filters.ChoiceFilter(
        field_name="rag_value",
        choices=ActionPlan.Rag.choices,
        empty_label="Any RAG",
        label="RAG",
        widget=FastSelect,
    )
    theme = django_filters.ModelChoiceFilter(
        field_name="finding__themes",
        queryset=Theme.objects.none(),
        to_field_name="slug",
        empty_label="All themes",
        label="Theme",
        distinct=False,
        widget=FastSelect,
    )
    owner = django_filters.ChoiceFilter(label="Owner", method="filter_owner", empty_label="Anyone", widget=FastSelect)
    overdue = django_filters.BooleanFilter(label="Overdue only", method="filter_overdue", widget=OnOffCheckbox())
    deferred = django_filters.BooleanFilter(label="Deferred only", method="filter_deferred", widget=OnOffCheckbox())
    sort = django_filters.ChoiceFilter(
        label="Sort by",
        method="filter_sort",
        choices=[(value, label) for value, (label, _) in SORTS.items()],
        empty_label=None,
        widget=FastSelect,
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
            fields["region"].queryset = Region.objects.only("slug", "name")
        else:
            fields["organisation"].queryset = Organisation.objects.filter(pk=user.organisation_id).only("slug", "name")
            del fields["region"]  # their one organisation is in one region: nothing to choose
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
        # The findings are searched once (8,000 at national scale) rather than once per plan through the
        # join (100,000), which halves the cost of a search that has to read every response.
        findings = Finding.objects.filter(Q(reference__istartswith=value) | Q(text__icontains=value))
        return queryset.filter(Q(finding__in=findings.values("pk")) | Q(summary__icontains=value))

    def filter_owner(self, queryset: QuerySet[ActionPlan], name: str, value: str) -> QuerySet[ActionPlan]:
        if value == "me":
            return queryset.filter(owner=self.user)
        if value == "unassigned":
            # Plans whose owner has left (deactivated) count as unassigned.
            return queryset.filter(Q(owner__isnull=True) | Q(owner__is_active=False))
        return queryset.filter(owner__username=value)

    def filter_overdue(self, queryset: QuerySet[ActionPlan], name: str, value: bool) -> QuerySet[ActionPlan]:
        return queryset.overdue() if value else queryset

    def filter_sort(self, queryset: QuerySet[ActionPlan], name: str, value: str) -> QuerySet[ActionPlan]:
        return queryset.order_by(*SORTS[value][1])

    def filter_deferred(self, queryset: QuerySet[ActionPlan], name: str, value: bool) -> QuerySet[ActionPlan]:
        return queryset.filter(deferral_count__gt=0) if value else queryset
