"""The `/plans/` filters (DESIGN section 6). The view supplies the scoped queryset; these narrow it."""

from __future__ import annotations

from collections.abc import Callable
from html import escape as html_escape
from typing import Any

import django_filters
from django import forms
from django.db.models import Case, F, OrderBy, Q, QuerySet, Value, When
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import SafeString, mark_safe

from inspections.models import Finding, Inspection, Organisation, Region, Theme

from . import permissions
from .models import ActionPlan, ActionPlanQuerySet, Dependency, User, no_target_date, waiting_on

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
# The home page queues' orders (tracker.views._queue), so that "See all" opens a queue in its own order.
# Each needs an annotation first, so the queryset method is the one home of the order; each ends in the id.
QUEUE_SORTS: dict[str, tuple[str, Callable[[ActionPlanQuerySet], ActionPlanQuerySet]]] = {
    "waiting": ("Waiting longest in present status (oldest first)", ActionPlanQuerySet.longest_waiting_first),
    "returned": ("Returned longest ago (oldest first)", ActionPlanQuerySet.oldest_returned_first),
}
FEW_MATCHES = 2000  # plans a text search gathers and sorts; above this it walks the list's order


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


def _escaped_all(texts: list[str]) -> list[str]:
    """`html.escape` of each of `texts`, in one call over them all (the hundreds of values and labels of a
    select's options; one call per text was most of the select's cost). They are joined by a character no
    text holds and `escape` leaves as it is; should one hold it, each is escaped alone."""
    joined = "\x00".join(texts)
    if joined.count("\x00") != len(texts) - 1:
        return [html_escape(text) for text in texts]
    return html_escape(joined).split("\x00") if texts else []


class FastSelect(forms.Select):
    """A select written in Python rather than through a template per option: the same HTML as Django's
    Select (tested), at a fraction of the cost for long lists such as 800 inspections. The choices are
    read once, straight (no option dictionaries); a model field's come as values, not model instances
    (`ValuesChoiceIterator`). The options' values and labels are escaped together (`_escaped_all`); a label
    already safe (`__html__`) is written as it is, as Django's template would."""

    def render(self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None) -> SafeString:
        attrs = self.build_attrs(self.attrs, attrs)
        chosen = {str(v) for v in self.format_value(value)}
        values: list[str] = []  # each option's value and label, groups flattened
        labels: list[Any] = []
        tags: dict[int, list[str]] = {}  # group tags to write before the option of each position
        for option_value, label in self.choices:
            if isinstance(label, list | tuple):
                named = option_value is not None and option_value  # a group without a name has no tags
                if named:
                    tags.setdefault(len(values), []).append(format_html('\n  <optgroup label="{}">', option_value))
                for v, sublabel in label:
                    values.append(str(v))  # None is "None" in a group, as in Django's
                    labels.append(sublabel)
                if named:
                    tags.setdefault(len(values), []).append("\n  </optgroup>")
            else:
                values.append("" if option_value is None else str(option_value))
                labels.append(label)
        # A value is escaped whatever it is (Django's template writes it through `stringformat`); a label
        # already safe is written as it is.
        safe = [hasattr(label, "__html__") for label in labels]
        escaped = iter(_escaped_all([str(label) for label, is_safe in zip(labels, safe, strict=True) if not is_safe]))
        texts = [label.__html__() if is_safe else next(escaped) for label, is_safe in zip(labels, safe, strict=True)]
        options = [
            f'\n  <option value="{v}">{text}</option>\n' for v, text in zip(_escaped_all(values), texts, strict=True)
        ]
        first = next((i for i, v in enumerate(values) if v in chosen), None) if chosen else None
        if first is not None:  # a single select marks its first match only, as Django's does
            options[first] = options[first].replace('">', '" selected>', 1)
        for position in sorted(tags, reverse=True):
            options[position:position] = tags[position]
        return mark_safe(f'<select name="{conditional_escape(name)}"{_attrs(attrs)}>{"".join(options)}\n</select>')


class ValuesChoiceIterator(forms.models.ModelChoiceIterator):
    """A model choice field's choices as (key, label) read as values, not model instances: for a field
    whose label is one column (`label_field`, what the model's `__str__` gives)."""

    def __iter__(self):  # type: ignore[no-untyped-def]
        if self.field.empty_label is not None:
            yield ("", self.field.empty_label)
        null_label = getattr(self.field, "null_label", None)
        if null_label is not None:
            yield (self.field.null_value, null_label)
        key = self.field.to_field_name or "pk"
        yield from self.queryset.values_list(key, self.field.widget.label_field)

    def __len__(self) -> int:
        return super().__len__() + (getattr(self.field, "null_label", None) is not None)


class ValuesModelChoiceField(django_filters.fields.ModelChoiceField):
    iterator = ValuesChoiceIterator


class ValuesModelChoiceFilter(django_filters.ModelChoiceFilter):
    """A model choice filter whose select is written from values (`FastSelect` with `label_field`)."""

    field_class = ValuesModelChoiceField

    def __init__(self, *args: Any, label_field: str, **kwargs: Any) -> None:
        kwargs["widget"] = type("FastSelect", (FastSelect,), {"label_field": label_field})
        super().__init__(*args, **kwargs)


class ActionPlanFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(
        label="Search",
        method="filter_q",
        help_text="Words in the finding or the response, or a reference such as R3.",
        widget=forms.TextInput(attrs={"type": "search"}),
    )
    organisation = ValuesModelChoiceFilter(
        queryset=Organisation.objects.none(),
        to_field_name="slug",
        empty_label="All organisations",
        label="Organisation",
        label_field="name",
    )
    region = ValuesModelChoiceFilter(
        field_name="organisation__region",
        queryset=Region.objects.none(),
        to_field_name="slug",
        empty_label="All regions",
        null_label="No region",
        null_value="none",
        label="Region",
        label_field="name",
    )
    inspection = ValuesModelChoiceFilter(
        field_name="finding__inspection",
        queryset=Inspection.objects.none(),
        to_field_name="slug",
        empty_label="All inspections",
        label="Inspection",
        label_field="title",
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
    stage = django_filters.MultipleChoiceFilter(
        choices=ActionPlan.Stage.choices,
        widget=forms.CheckboxSelectMultiple,
        label="Stage",
        method="filter_stage",
        help_text="With the force: not started, in progress, blocked or submitted. Awaiting verification: "
        "signed off. Verified complete: closed. Ended without completion: superseded or no further action.",
    )
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
    theme = ValuesModelChoiceFilter(
        field_name="finding__themes",
        queryset=Theme.objects.none(),
        to_field_name="slug",
        empty_label="All themes",
        label="Theme",
        distinct=False,
        label_field="name",
    )
    owner = django_filters.ChoiceFilter(label="Owner", method="filter_owner", empty_label="Anyone", widget=FastSelect)
    milestone_owner = django_filters.ChoiceFilter(
        label="Open milestone owned by",
        method="filter_milestone_owner",
        empty_label="Anyone",
        widget=FastSelect,
        help_text="Plans in which this person has a milestone not yet done.",
    )
    milestone_overdue = django_filters.BooleanFilter(
        label="A milestone is overdue",
        method="filter_milestone_overdue",
        widget=OnOffCheckbox(),
        help_text="With the force, with a milestone past its date (these are at least amber).",
    )
    waiting_on = django_filters.ChoiceFilter(
        label="Blocked, waiting on",
        method="filter_waiting_on",
        choices=[*Dependency.Kind.choices, (Dependency.UNRECORDED, "Nothing recorded")],
        empty_label="Any plan",
        widget=FastSelect,
        help_text="Blocked plans by what they wait on.",
    )
    overdue = django_filters.BooleanFilter(label="Overdue only", method="filter_overdue", widget=OnOffCheckbox())
    due_soon = django_filters.BooleanFilter(
        label="Due in the next 30 days", method="filter_due_soon", widget=OnOffCheckbox()
    )
    returned = django_filters.BooleanFilter(
        label="Returned only",
        method="filter_returned",
        widget=OnOffCheckbox(),
        help_text="Sent back to the force: a submission returned or a proposal of no action declined by its "
        "manager, or a plan reopened or a proposal of no action sent back by the inspectorate.",
    )
    deferred = django_filters.BooleanFilter(
        label="Deferred only",
        method="filter_deferred",
        widget=OnOffCheckbox(),
        help_text="The target date was moved later than any date agreed before.",
    )
    brought_forward = django_filters.BooleanFilter(
        label="Brought forward only", method="filter_brought_forward", widget=OnOffCheckbox()
    )
    repeat = django_filters.BooleanFilter(
        label="Repeats only",
        method="filter_repeat",
        widget=OnOffCheckbox(),
        help_text="The finding repeats an earlier one the organisation had a plan on.",
    )
    recurrence = django_filters.BooleanFilter(
        label="Recurrences only",
        method="filter_recurrence",
        widget=OnOffCheckbox(),
        help_text="A repeat of a finding whose plan had been closed as verified complete.",
    )
    sort = django_filters.ChoiceFilter(
        label="Sort by",
        method="filter_sort",
        choices=[(value, label) for value, (label, _) in (SORTS | QUEUE_SORTS).items()],
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
        if permissions.sees_every_organisation(user):
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
        fields["milestone_owner"].extra["choices"] = [c for c in owner_choices if c[0] != "unassigned"]

    def filter_q(self, queryset: QuerySet[ActionPlan], name: str, value: str) -> QuerySet[ActionPlan]:
        from .search.engine import matches_row, matching_ids
        from .search.query import parse

        value = value.strip()
        if not value:
            return queryset
        # The words are looked up in the search index (tracker/search), as the header's search box does,
        # rather than by reading every finding and response: the same words, phrases, OR and -word.
        query = parse(value)
        references = Finding.objects.filter(reference__istartswith=value[:20]).values("pk")
        if not query:
            return queryset.filter(finding_id__in=references)
        # Few matches: read them from the indexes and sort those. Many: walk the list's own order and
        # check each plan's entries, which stops at the page's last row (gathering every match of a
        # common word would read and sort tens of thousands of plans, more as the data grows).
        plans = matching_ids("plan", query, FEW_MATCHES + 1)
        findings = matching_ids("finding", query, FEW_MATCHES // 12 + 1)
        if len(plans) <= FEW_MATCHES and len(findings) <= FEW_MATCHES // 12:
            return queryset.filter(Q(finding_id__in=references) | Q(finding_id__in=findings) | Q(pk__in=plans))
        return queryset.filter(
            Q(finding_id__in=references)
            | matches_row("finding", query, "finding_id")
            | matches_row("plan", query, "pk")
        )

    def filter_stage(self, queryset: QuerySet[ActionPlan], name: str, value: list[str]) -> QuerySet[ActionPlan]:
        return queryset.in_stage(*value) if value else queryset

    def filter_owner(self, queryset: QuerySet[ActionPlan], name: str, value: str) -> QuerySet[ActionPlan]:
        if value == "me":
            return queryset.filter(owner=self.user)
        if value == "unassigned":
            # Plans whose owner has left (deactivated, or moved to another organisation) count as unassigned.
            return queryset.without_active_owner()
        return queryset.filter(owner__username=value)

    def filter_milestone_owner(self, queryset: QuerySet[ActionPlan], name: str, value: str) -> QuerySet[ActionPlan]:
        if value == "me":
            return queryset.with_open_milestone_of(self.user)
        return queryset.with_open_milestone_of(username=value)  # one of the choices: the user's organisation

    def filter_milestone_overdue(self, queryset: QuerySet[ActionPlan], name: str, value: bool) -> QuerySet[ActionPlan]:
        return queryset.milestone_overdue() if value else queryset

    def filter_waiting_on(self, queryset: QuerySet[ActionPlan], name: str, value: str) -> QuerySet[ActionPlan]:
        return queryset.filter(waiting_on(value)) if value else queryset

    def filter_overdue(self, queryset: QuerySet[ActionPlan], name: str, value: bool) -> QuerySet[ActionPlan]:
        return queryset.overdue() if value else queryset

    def filter_sort(self, queryset: QuerySet[ActionPlan], name: str, value: str) -> QuerySet[ActionPlan]:
        if value in QUEUE_SORTS:
            return QUEUE_SORTS[value][1](queryset)  # type: ignore[arg-type]
        return queryset.order_by(*SORTS[value][1])

    def filter_repeat(self, queryset: QuerySet[ActionPlan], name: str, value: bool) -> QuerySet[ActionPlan]:
        return queryset.repeats() if value else queryset

    def filter_recurrence(self, queryset: QuerySet[ActionPlan], name: str, value: bool) -> QuerySet[ActionPlan]:
        return queryset.recurrences() if value else queryset

    def filter_brought_forward(self, queryset: QuerySet[ActionPlan], name: str, value: bool) -> QuerySet[ActionPlan]:
        return queryset.brought_forward() if value else queryset

    def filter_due_soon(self, queryset: QuerySet[ActionPlan], name: str, value: bool) -> QuerySet[ActionPlan]:
        return queryset.due_soon() if value else queryset

    def filter_returned(self, queryset: QuerySet[ActionPlan], name: str, value: bool) -> QuerySet[ActionPlan]:
        return queryset.returned() if value else queryset

    def describe(self, count: int) -> str:
        """What the list shows, in words: "Surrey Police, South East SOC 2024, overdue: 2 plans"."""
        if not self.is_valid():
            return ""
        data = self.form.cleaned_data
        parts: list[str] = []
        for name in ("organisation", "region", "inspection", "theme"):
            value = data.get(name)
            if isinstance(value, Inspection):
                parts.append(value.title)
            elif isinstance(value, str) and value:  # the region filter's "none"
                parts.append("no region")
            elif value:
                parts.append(value.name)
        if data.get("kind"):
            parts.append(str(dict(Finding.Kind.choices)[data["kind"]]).lower() + "s")
        stages = dict(ActionPlan.Stage.choices)
        statuses = dict(ActionPlan.Status.choices)
        parts += [str(stages[s]).lower() for s in data.get("stage") or []]
        if data.get("status"):
            parts.append(" or ".join(str(statuses[s]).lower() for s in data["status"]))
        if data.get("rag"):
            parts.append(str(dict(ActionPlan.Rag.choices)[data["rag"]]).lower())
        owner = data.get("owner")
        if owner:
            parts.append({"me": "owned by you", "unassigned": "no owner"}.get(owner, f"owned by {owner}"))
        milestone_owner = data.get("milestone_owner")
        if milestone_owner:
            whose = "you" if milestone_owner == "me" else milestone_owner
            parts.append(f"with an open milestone owned by {whose}")
        if data.get("milestone_overdue"):
            parts.append("a milestone overdue")
        waits = data.get("waiting_on")
        if waits:
            kinds = dict(self.filters["waiting_on"].extra["choices"])
            parts.append(f"blocked, waiting on: {str(kinds[waits]).lower()}")
        for flag, words in (("overdue", "overdue"), ("due_soon", "due in the next 30 days"),
                            ("returned", "returned: the owner's action"), ("deferred", "deferred"),
                            ("brought_forward", "brought forward"), ("repeat", "repeats"),
                            ("recurrence", "recurrences")):  # fmt: skip
            if data.get(flag):
                parts.append(words)
        if (data.get("q") or "").strip():
            parts.append(f"matching “{data['q'].strip()}”")
        what = ", ".join(parts) if parts else "All action plans you can see"
        return f"{what[:1].upper()}{what[1:]}: {count} plan{'s' if count != 1 else ''}"

    def filter_deferred(self, queryset: QuerySet[ActionPlan], name: str, value: bool) -> QuerySet[ActionPlan]:
        return queryset.filter(deferral_count__gt=0) if value else queryset
