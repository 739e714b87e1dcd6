"""Forms for the plan page. Each carries the plan's version for optimistic locking."""

from __future__ import annotations

import copy
import datetime as dt
import html
from collections.abc import Callable
from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.forms.widgets import ChoiceWidget
from django.template.defaultfilters import filesizeformat
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from inspections.models import Finding, FindingLink, Inspection, Organisation

from . import actions, permissions, workflow
from .evidence import ALLOWED_DESCRIPTION, ALLOWED_TYPES
from .filters import FastSelect
from .models import ActionPlan, Dependency, Milestone, SearchEntry, SuccessMeasure, User
from .search import Filters

ACCEPT = ",".join(f".{ext}" for ext in ALLOWED_TYPES)


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one field; each is checked by the workflow (tracker.evidence.check_upload)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": ACCEPT}))
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list:
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(item, initial) for item in data if item]
        return [single(data, initial)] if data else []


def evidence_help() -> str:
    return f"{ALLOWED_DESCRIPTION}; up to {filesizeformat(settings.EVIDENCE_MAX_BYTES)} each."


_FIELD_COPIES = (forms.Field.__deepcopy__, forms.ChoiceField.__deepcopy__, forms.ModelChoiceField.__deepcopy__)
_WIDGET_COPIES = (forms.Widget.__deepcopy__, ChoiceWidget.__deepcopy__)


def _copy_field(field: forms.Field) -> forms.Field:
    """What `copy.deepcopy` of a form field gives (`Field.__deepcopy__` and its subclasses': the field, its
    widget and the widget's attributes copied, each form free to change them), without the copying
    machinery's cost: a plan's page builds some twenty forms."""
    if type(field).__deepcopy__ not in _FIELD_COPIES or type(field.widget).__deepcopy__ not in _WIDGET_COPIES:
        return copy.deepcopy(field)  # a field or widget copying something more
    new = object.__new__(type(field))
    new.__dict__.update(field.__dict__)
    widget = object.__new__(type(field.widget))
    widget.__dict__.update(field.widget.__dict__)
    widget.attrs = field.widget.attrs.copy()
    if isinstance(widget, ChoiceWidget):
        widget.choices = copy.copy(widget.choices)
    new.widget = widget
    new.error_messages = field.error_messages.copy()
    new.validators = field.validators[:]
    if isinstance(field, forms.ModelChoiceField):
        if field.queryset is not None:
            new.queryset = field.queryset.all()  # a choice iterator of the new field's own
    elif isinstance(field, forms.ChoiceField):
        new._choices = copy.deepcopy(field._choices)
    return new


class _Fields(dict):
    """A form class's fields, copied for each form by `_copy_field`."""

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[str, forms.Field]:
        return {name: _copy_field(field) for name, field in self.items()}


class PlanForm(forms.Form):
    """A form of the plan page (`tracker.actions`): its fields are the workflow function's arguments, by name."""

    version = forms.IntegerField(widget=forms.HiddenInput)

    def __init__(self, *args: Any, plan: ActionPlan, user: User | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {})["version"] = plan.version
        cls = type(self)
        if type(cls.__dict__.get("base_fields")) is not _Fields:
            cls.base_fields = _Fields(cls.base_fields)
        super().__init__(*args, **kwargs)
        self.plan = plan
        self.user = user  # whose choices a form offers (a plan picker's plans), when it offers any


class ProgressForm(PlanForm):
    note = forms.CharField(label="What has been done", widget=forms.Textarea(attrs={"rows": 4}))
    percent_complete = forms.IntegerField(
        label="Percent complete", min_value=0, max_value=100, required=False, help_text="0 to 100."
    )
    files = MultipleFileField(label="Evidence files (optional)", required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["files"].help_text = evidence_help()


class NoteForm(PlanForm):
    note = forms.CharField(label="Note", widget=forms.Textarea(attrs={"rows": 3}))


class PlanPicker(forms.TextInput):
    """A plan's number, typed or chosen from a list of the plans offered (`options`: number and label), which
    the browser filters as the person types a reference, an inspection or an organisation (a `datalist`:
    no script needed). Only plans the person may see are offered; a number may still be typed."""

    input_type = "text"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__({"inputmode": "numeric", "autocomplete": "off", **(attrs or {})})
        # The plans offered, read only when the field is shown (a form that is sent and succeeds reads none).
        self.options: Callable[[], list[tuple[int, str]]] = list

    def render(self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None) -> str:
        attrs = dict(attrs or {})
        options = self.options()
        if not options:
            return super().render(name, value, attrs, renderer)
        list_id = f"{attrs.get('id') or name}-plans"
        attrs["list"] = list_id
        # The options escaped as `format_html_join` escapes them, without its call per option (200 of them).
        items = mark_safe(
            "".join(
                f'<option value="{html.escape(str(pk))}">{html.escape(str(label))}</option>' for pk, label in options
            )
        )
        return format_html('{}<datalist id="{}">{}</datalist>', super().render(name, value, attrs, renderer),
                           list_id, items)  # fmt: skip


# How many plans a picker offers at most: the newest open ones; any other plan is typed by its number.
PLAN_PICKER_LIMIT = 200


def plans_to_wait_on(user: User, plan: ActionPlan) -> list[tuple[int, str]]:
    """The open plans `user` may see that `plan` may wait on (the newest `PLAN_PICKER_LIMIT`), by inspection
    (newest first) and finding reference, labelled with the reference, inspection and organisation. One query,
    by the plans' ids: ordered by inspection in the database it read every plan of the organisation (30 ms of
    PostgreSQL at 3,000 plans, against 0.6). Only the newest plans are joined to their findings, inspections
    and organisations, and they are read as rows rather than objects (200 plans: about 4 ms less)."""
    newest = (ActionPlan.objects.visible_to(user).may_be_waited_on_by(plan).open().order_by("-pk").values("pk"))[
        :PLAN_PICKER_LIMIT
    ]
    rows = (
        ActionPlan.objects.filter(pk__in=newest)
        .order_by()
        .values_list(
            "pk",
            "status",
            "finding__reference",
            "finding__inspection__title",
            "finding__inspection__published_on",
            "organisation__name",
            "organisation__short_name",
        )
    )
    labels = {value: str(label).lower() for value, label in ActionPlan.Status.choices}

    def order(row: tuple[Any, ...]) -> tuple[Any, ...]:
        pk, _status, reference, title, published_on, name, _short = row
        published = -(published_on or dt.date.min).toordinal()
        return (published, title, len(reference), reference, name, pk)

    return [
        (pk, f"{reference}, {title}: {short_name or name} ({labels.get(status, status)})")
        for pk, status, reference, title, _published, name, short_name in sorted(rows, key=order)
    ]


class BlockedForm(PlanForm):
    waiting_on = forms.ChoiceField(label="Waiting on", choices=Dependency.Kind.choices, widget=forms.RadioSelect)
    waiting_on_name = forms.CharField(
        label="Which one",
        max_length=200,
        required=False,
        help_text="The national body, partner agency or procurement (for example the College of Policing).",
    )
    waiting_on_plan = forms.IntegerField(
        label="Which plan",
        min_value=1,
        required=False,
        widget=PlanPicker,
        help_text="For another plan: type its finding's reference, its inspection or its organisation and choose "
        "it from the list, or type its number (shown on its page): a plan of your organisation or of another "
        "organisation in your region.",
    )
    blocked_since = forms.DateField(
        label="Blocked since",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text="Leave empty for today.",
    )
    note = forms.CharField(label="What is it waiting on?", widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.user is not None:
            user, plan = self.user, self.plan
            self.fields["waiting_on_plan"].widget.options = lambda: plans_to_wait_on(user, plan)


class DependencyForm(BlockedForm):
    """What a blocked plan waits on, changed while it stays blocked: the form starts from what it waits on now."""

    note = forms.CharField(label="What has changed?", widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["blocked_since"].help_text = "Leave as it is unless the plan has been waiting since another day."
        # What it waits on now: attached by the plan page (`attach_dependencies`), else read here.
        current = self.plan.waits if hasattr(self.plan, "waits") else Dependency.objects.filter(plan=self.plan).first()
        if current is not None and not self.is_bound:
            self.initial |= {
                "waiting_on": current.kind,
                "waiting_on_name": current.name,
                "blocked_since": current.since,
            }
            # The number of a plan waited on only for those who may see it (left empty, it stays the same).
            if self.user is not None and current.shows_plan_to(self.user):
                self.initial["waiting_on_plan"] = current.on_plan_id
        if current is not None and current.kind == Dependency.Kind.PLAN:
            self.fields["waiting_on_plan"].help_text += " Leave it empty to keep the plan it waits on now."


class SubmitForm(PlanForm):
    statement = forms.CharField(
        label="Closure statement",
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="What was done and how it answers the finding.",
    )
    files = MultipleFileField(label="Evidence files", required=False)
    # Shown while the plan has an open milestone (the workflow refuses the submission without it).
    open_milestones = forms.CharField(
        label="Why is the plan ready while a milestone is still open?",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["files"].help_text = (
            evidence_help() + " At least one evidence file is needed, on this form or earlier in the timeline."
        )
        # How each success measure was met: one answer per measure (the workflow's `measures_met`).
        for measure in self.plan.measures.all():
            target = f" (target {measure.target_figure})" if measure.target_figure else ""
            self.fields[f"measure_{measure.pk}"] = forms.CharField(
                label=f"How was “{measure.text}”{target} met?",
                widget=forms.Textarea(attrs={"rows": 2}),
                error_messages={"required": "Say how this success measure was met."},
            )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        cleaned["measures_met"] = {
            name.removeprefix("measure_"): cleaned[name]
            for name in self.fields
            if name.startswith("measure_") and name in cleaned
        }
        return cleaned


def _plan_queryset(plan: ActionPlan, name: str, build: Callable[[ActionPlan], Any]) -> Any:
    """A queryset of the plan's choices, built once for the plan's forms (a page builds a form per milestone;
    each field takes its own copy of it, `ModelChoiceField.queryset`)."""
    built = plan.__dict__.setdefault("_form_querysets", {})
    if name not in built:
        built[name] = build(plan)
    return built[name]


class MilestonePlanForm(PlanForm):
    """A form about one plan's milestones: owners are the plan's organisation's people, and a milestone
    named must be one of the plan's."""

    def __init__(self, *args: Any, plan: ActionPlan, **kwargs: Any) -> None:
        super().__init__(*args, plan=plan, **kwargs)
        if "owner" in self.fields:
            self.fields["owner"].queryset = _plan_queryset(plan, "people", ActionPlan.possible_owners)
        if "milestone" in self.fields:
            self.fields["milestone"].queryset = _plan_queryset(
                plan, "milestones", lambda plan: Milestone.objects.filter(plan_id=plan.pk)
            )


def _milestone_field() -> forms.ModelChoiceField:
    return forms.ModelChoiceField(
        queryset=Milestone.objects.none(), widget=forms.HiddenInput,
        error_messages={"invalid_choice": "That milestone is not one of this plan's."},
    )  # fmt: skip


class MilestoneForm(MilestonePlanForm):
    title = forms.CharField(label="Milestone", max_length=200)
    owner = forms.ModelChoiceField(
        label="Owner", queryset=User.objects.none(), required=False, empty_label="Nobody yet"
    )
    target_date = forms.DateField(
        label="Target date", required=False, widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    note = forms.CharField(label="Note (optional)", required=False, widget=forms.Textarea(attrs={"rows": 2}))


class MilestoneEditForm(MilestoneForm):
    milestone = _milestone_field()


class MilestoneCompleteForm(MilestonePlanForm):
    milestone = _milestone_field()
    done_on = forms.DateField(
        label="Done on", required=False, help_text="Leave empty for today.",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )  # fmt: skip
    note = forms.CharField(label="Note (optional)", required=False)


class MilestoneReopenForm(MilestonePlanForm):
    milestone = _milestone_field()
    reason = forms.CharField(label="Why is it not done?")


class MilestoneMoveForm(MilestonePlanForm):
    milestone = _milestone_field()
    direction = forms.ChoiceField(choices=[("up", "Up"), ("down", "Down")], widget=forms.HiddenInput)


class MeasureForm(PlanForm):
    text = forms.CharField(
        label="Success measure", max_length=500, widget=forms.Textarea(attrs={"rows": 2}),
        help_text="What will be true when the finding is answered.",
    )  # fmt: skip
    target_figure = forms.CharField(
        label="Target figure (optional)", max_length=100, required=False, help_text='e.g. "95%" or "under 20 days".'
    )
    sustain_until = forms.DateField(
        label="Sustain until (optional)", required=False,
        help_text="The end of a demonstration period: the plan cannot be verified as closed before this date.",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )  # fmt: skip


def _measure_field() -> forms.ModelChoiceField:
    return forms.ModelChoiceField(
        queryset=SuccessMeasure.objects.none(), widget=forms.HiddenInput,
        error_messages={"invalid_choice": "That success measure is not one of this plan's."},
    )  # fmt: skip


class MeasurePlanForm(PlanForm):
    """A form naming one of the plan's success measures."""

    measure = _measure_field()

    def __init__(self, *args: Any, plan: ActionPlan, **kwargs: Any) -> None:
        super().__init__(*args, plan=plan, **kwargs)
        self.fields["measure"].queryset = _plan_queryset(
            plan, "measures", lambda plan: SuccessMeasure.objects.filter(plan_id=plan.pk)
        )


class MeasureEditForm(MeasurePlanForm, MeasureForm):
    pass


class MeasureRemoveForm(MeasurePlanForm):
    reason = forms.CharField(label="Why is it no longer a measure?")


class NoActionProposalForm(PlanForm):
    reason = forms.CharField(
        label="Why should no action be taken?", widget=forms.Textarea(attrs={"rows": 3}),
        help_text="For example: the finding is already met by existing arrangements, or the cost outweighs the "
        "benefit. This reason appears in the organisation's response.",
    )  # fmt: skip
    risk = forms.CharField(
        label="What risk does taking no action leave?", widget=forms.Textarea(attrs={"rows": 3}),
        help_text="The organisation's manager must accept this risk before the inspectorate decides.",
    )  # fmt: skip


class AcceptRiskForm(PlanForm):
    comment = forms.CharField(label="Why the organisation accepts this risk", widget=forms.Textarea(attrs={"rows": 3}))
    confirm = forms.BooleanField(
        label="I accept the risk on behalf of the organisation (recorded with my name and today's date).",
        error_messages={"required": "Tick to confirm that you accept the risk."},
    )


class CommentForm(PlanForm):
    comment = forms.CharField(label="Comment", widget=forms.Textarea(attrs={"rows": 3}))


class RequiredReasonForm(PlanForm):
    comment = forms.CharField(label="Reason (required)", widget=forms.Textarea(attrs={"rows": 3}))


class TargetDateForm(PlanForm):
    # A date field's value must be ISO (YYYY-MM-DD) whatever the locale, or browsers show it empty.
    target_date = forms.DateField(
        label="New target date", widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    reason = forms.CharField(label="Reason for the change", widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args: Any, plan: ActionPlan, **kwargs: Any) -> None:
        super().__init__(*args, plan=plan, **kwargs)
        self.initial.setdefault("target_date", plan.target_date)

    def clean_target_date(self) -> Any:
        value = self.cleaned_data["target_date"]
        workflow.check_new_target_date(value)
        return value


class OwnerForm(PlanForm):
    owner = forms.ModelChoiceField(
        label="Owner", queryset=User.objects.none(), required=False, empty_label="Nobody (unassigned)"
    )

    def __init__(self, *args: Any, plan: ActionPlan, **kwargs: Any) -> None:
        super().__init__(*args, plan=plan, **kwargs)
        self.fields["owner"].queryset = _plan_queryset(plan, "people", ActionPlan.possible_owners)


class SupersedeForm(PlanForm):
    superseding_finding = forms.ModelChoiceField(label="Superseding finding", queryset=Finding.objects.none())
    comment = forms.CharField(label="Comment (optional)", required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args: Any, plan: ActionPlan, **kwargs: Any) -> None:
        super().__init__(*args, plan=plan, **kwargs)
        # Later findings linked as replacing this one (FindingLink, kind "supersedes").
        self.fields["superseding_finding"].queryset = plan.finding.superseding_findings().select_related("inspection")
        self.fields["superseding_finding"].label_from_instance = lambda f: f"{f.inspection.title}: {f}"


class WhatGoodLooksLikeForm(forms.Form):
    """The inspectorate's own closure criteria for a finding (on the finding page)."""

    what_good_looks_like = forms.CharField(
        label="What good looks like", required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Shown with every organisation's plan beside the success measures its manager sets. "
        "Leave empty to remove it.",
    )  # fmt: skip


class FindingLinkForm(forms.Form):
    """Link a finding to one of an earlier inspection (on the finding page; suggestions send the same)."""

    earlier = forms.IntegerField(
        label="Earlier finding's number",
        min_value=1,
        max_value=2**31 - 1,
        help_text="The number in the earlier finding's address, e.g. 12 for /findings/12/.",
    )
    kind = forms.ChoiceField(label="This finding", choices=FindingLink.Kind.choices, initial=FindingLink.Kind.REPEATS)
    note = forms.CharField(label="Note (optional)", required=False, max_length=500)

    def clean_earlier(self) -> Finding:
        earlier = Finding.objects.select_related("inspection").filter(pk=self.cleaned_data["earlier"]).first()
        if earlier is None:
            raise forms.ValidationError("No finding has that number.")
        return earlier


class CloseForm(CommentForm):
    """Closing as verified is final (a closed plan is never reopened): the inspector confirms it."""

    confirm = forms.BooleanField(
        label="I confirm the plan is verified complete. Closing is final: a closed plan cannot be reopened.",
        error_messages={"required": workflow.CLOSE_NOT_CONFIRMED},
    )


class DiscussionForm(forms.Form):
    # Optional to the person reading the page (no "required" mark); an empty comment is refused on sending.
    note = forms.CharField(label="Add to the discussion", required=False, widget=forms.Textarea(attrs={"rows": 3}))

    def clean_note(self) -> str:
        note = self.cleaned_data["note"].strip()
        if not note:
            raise forms.ValidationError("Write a comment before sending it.", code="required")
        return note


class IdListField(forms.Field):
    """Plan ids from checkboxes. Any id is accepted here: visibility is decided by the scoped queryset."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value: Any) -> list[int]:
        try:
            return [int(v) for v in value or []]
        except (TypeError, ValueError) as error:
            raise forms.ValidationError("Plan ids must be numbers.") from error


class BulkForm(forms.Form):
    """What to do to the selected plans: the bulk actions of `tracker.actions` the user's role allows.

    Its fields are those of each bulk action's page form, by the same names (without the version), so
    each plan's workflow call takes them as it takes the page form's; each is required for its action
    where the page form requires it. Those declared here say it for several plans; any other is the
    page form's own field.
    """

    action = forms.ChoiceField(
        label="Action", choices=(), error_messages={"required": "Choose what to do to the plans."}
    )
    plans = IdListField(required=False)
    all_matching = forms.BooleanField(required=False, label="Apply to every plan matching the filters")
    query = forms.CharField(required=False, widget=forms.HiddenInput)
    owner = forms.ModelChoiceField(
        label="New owner", queryset=User.objects.none(), required=False, empty_label="Nobody (unassigned)"
    )
    target_date = forms.DateField(
        label="New target date", required=False, widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={"required": "Choose the new target date."},
    )  # fmt: skip
    reason = forms.CharField(
        label="Reason for the date change", required=False, widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={"required": "Give the reason for changing the target dates."},
    )  # fmt: skip
    comment = forms.CharField(
        label="Verification comment", required=False, widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={"required": "Add a comment recording the verification."},
    )  # fmt: skip
    confirm = forms.BooleanField(
        label="I confirm these plans are verified complete. Closing is final: a closed plan cannot be reopened.",
        required=False, error_messages={"required": workflow.CLOSE_NOT_CONFIRMED},
    )  # fmt: skip

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        # Its ids must not clash with the filter form's on the same page (both have an "owner").
        kwargs.setdefault("auto_id", "bulk_%s")
        super().__init__(*args, **kwargs)
        self.allowed_actions = {a.slug: a for a in actions.in_bulk(user)}
        for action in self.allowed_actions.values():
            for name in self.fields_of(action):
                if name not in self.fields:  # a field only its page form names: as there, but optional here
                    self.fields[name] = copy.deepcopy(action.form_class.base_fields[name])  # type: ignore[union-attr]
                    self.fields[name].required = False
        self.fields["action"].choices = [("", "Choose an action")] + [
            (a.slug, a.bulk) for a in self.allowed_actions.values()
        ]
        # Each plan's workflow call checks the owner belongs to that plan's organisation.
        owners = User.objects.filter(is_active=True, organisation__isnull=False).select_related("organisation")
        if user.organisation_id:
            owners = owners.filter(organisation_id=user.organisation_id)
        self.fields["owner"].queryset = owners if self.allowed_actions else User.objects.none()
        if not user.organisation_id:
            self.fields["owner"].label_from_instance = lambda u: f"{u}, {u.organisation.display_name}"

    @staticmethod
    def fields_of(action: actions.Action) -> list[str]:
        """The bulk form's fields for `action`: its page form's, but the version."""
        assert action.form_class is not None
        return [name for name in action.form_class.base_fields if name != "version"]

    def fieldsets(self) -> list[tuple[actions.Action, list[forms.BoundField]]]:
        return [(action, [self[name] for name in self.fields_of(action)]) for action in self.allowed_actions.values()]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        action = self.allowed_actions.get(data.get("action", ""))
        if action is not None:
            assert action.form_class is not None
            for name in self.fields_of(action):
                value = data.get(name)
                if action.form_class.base_fields[name].required and (
                    not value or (isinstance(value, str) and not value.strip())
                ):
                    self.add_error(name, self.fields[name].error_messages["required"])
                elif name == "target_date":
                    try:
                        workflow.check_new_target_date(value)
                    except ValidationError as error:
                        self.add_error(name, error)
        if not data.get("plans") and not data.get("all_matching"):
            raise forms.ValidationError("Select at least one plan, or choose every plan matching the filters.")
        return data


class SearchForm(forms.Form):
    """The search page's and the search API's parameters. Any text is accepted; filters are checked."""

    q = forms.CharField(label="Search for", required=False, widget=forms.TextInput(attrs={"type": "search"}))
    kind = forms.ChoiceField(
        label="Kind", required=False, choices=[("", "Everything"), *SearchEntry.Kind.choices], widget=FastSelect
    )
    inspection = forms.ModelChoiceField(
        label="Inspection", queryset=Inspection.objects.none(), to_field_name="slug", required=False,
        empty_label="All inspections", widget=FastSelect,
    )  # fmt: skip
    organisation = forms.ModelChoiceField(
        label="Organisation", queryset=Organisation.objects.none(), to_field_name="slug", required=False,
        empty_label="All organisations", widget=FastSelect,
    )  # fmt: skip
    date_from = forms.DateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    page = forms.IntegerField(required=False, min_value=1, max_value=10_000, widget=forms.HiddenInput)

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            field.widget.attrs["class"] = (
                "form-select" if name in ("kind", "inspection", "organisation") else "form-control"
            )
        self.fields["inspection"].queryset = Inspection.objects.only("slug", "title")
        organisations = Organisation.objects.only("slug", "name")
        if not permissions.sees_every_organisation(user):
            organisations = organisations.filter(pk=user.organisation_id)
        self.fields["organisation"].queryset = organisations

    def full_clean(self) -> None:
        super().full_clean()
        for name in self.errors:
            if name in self.fields:  # marked for sight and for screen readers
                self.fields[name].widget.attrs["class"] += " is-invalid"
                self.fields[name].widget.attrs["aria-invalid"] = "true"

    def filters(self) -> Filters:
        """The valid form's filters, for `tracker.search.search`."""
        data = self.cleaned_data
        return Filters(
            kind=data["kind"] or "",
            inspection_id=data["inspection"].pk if data["inspection"] else None,
            organisation_id=data["organisation"].pk if data["organisation"] else None,
            date_from=data["date_from"],
            date_to=data["date_to"],
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", "The end date is before the start date.")
        return data


class BoardPackForm(forms.Form):
    since = forms.DateField(required=False)
    chart = forms.ChoiceField(
        required=False,
        choices=[("", "No chart"), ("1", "Include the trend chart")],
        error_messages={"invalid_choice": "Give chart=1 to include the trend chart, or leave it out."},
    )


class DashboardForm(forms.Form):
    # Only the shape here: which organisations a user may narrow to is the view's lookup (404 otherwise).
    organisation = forms.SlugField(
        required=False, max_length=100, error_messages={"invalid": "Choose an organisation from the list."}
    )


class OrganisationSettingsForm(forms.Form):
    public_progress = forms.BooleanField(
        label="Publish a public progress page",
        required=False,
        help_text="Anyone, signed in or not, may then read this organisation's published inspections, gradings, "
        "each finding's stage and target date, and the public statements a manager has approved: never notes, "
        "comments, evidence or anyone's name.",
    )


class PublicStatementForm(forms.Form):
    text = forms.CharField(
        label="Public statement",
        max_length=600,
        widget=forms.Textarea(attrs={"rows": 3, "maxlength": 600}),
        help_text="A short account of progress for the public page, at most 600 characters. A manager must approve "
        "it before it is published; changing an approved statement withdraws the approval until it is approved again.",
    )

    def clean_text(self) -> str:
        text = self.cleaned_data["text"].strip()
        if not text:
            raise ValidationError("Write the statement, or leave it as it was.")
        return text


class ApproveStatementForm(forms.Form):
    """Approve the statement as the manager read it (`text`, carried in the form), or withdraw it."""

    decision = forms.ChoiceField(choices=[("approve", "Approve"), ("withdraw", "Withdraw")], widget=forms.HiddenInput)
    text = forms.CharField(max_length=600, required=False, widget=forms.HiddenInput)
