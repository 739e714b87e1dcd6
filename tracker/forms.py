"""Forms for the plan page. Each carries the plan's version for optimistic locking."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.template.defaultfilters import filesizeformat

from inspections.models import Finding

from . import permissions
from .evidence import ALLOWED_DESCRIPTION, ALLOWED_TYPES
from .models import User

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


class PlanForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput)


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


class BlockedForm(PlanForm):
    note = forms.CharField(label="What is it waiting on?", widget=forms.Textarea(attrs={"rows": 3}))


class SubmitForm(PlanForm):
    statement = forms.CharField(
        label="Closure statement",
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="What was done and how it answers the finding.",
    )
    files = MultipleFileField(label="Evidence files", required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["files"].help_text = (
            evidence_help() + " At least one evidence file is needed, on this form or earlier in the timeline."
        )


class CommentForm(PlanForm):
    comment = forms.CharField(label="Comment", widget=forms.Textarea(attrs={"rows": 3}))


class RequiredReasonForm(PlanForm):
    comment = forms.CharField(label="Reason (required)", widget=forms.Textarea(attrs={"rows": 3}))


class TargetDateForm(PlanForm):
    target_date = forms.DateField(label="New target date", widget=forms.DateInput(attrs={"type": "date"}))
    reason = forms.CharField(label="Reason for the change", widget=forms.Textarea(attrs={"rows": 3}))


class OwnerForm(PlanForm):
    owner = forms.ModelChoiceField(
        label="Owner", queryset=User.objects.none(), required=False, empty_label="Nobody (unassigned)"
    )

    def __init__(self, *args: Any, organisation_id: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = User.objects.filter(organisation_id=organisation_id, is_active=True)


class SupersedeForm(PlanForm):
    superseding_finding = forms.ModelChoiceField(label="Superseding finding", queryset=Finding.objects.none())
    comment = forms.CharField(label="Comment (optional)", required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args: Any, finding: Finding, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Findings that record they replace this one (Finding.supersedes).
        self.fields["superseding_finding"].queryset = finding.superseded_by.select_related("inspection")
        self.fields["superseding_finding"].label_from_instance = lambda f: f"{f.inspection.title}: {f}"


class DiscussionForm(forms.Form):
    note = forms.CharField(label="Add to the discussion", widget=forms.Textarea(attrs={"rows": 3}))


class IdListField(forms.Field):
    """Plan ids from checkboxes. Any id is accepted here: visibility is decided by the scoped queryset."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value: Any) -> list[int]:
        try:
            return [int(v) for v in value or []]
        except (TypeError, ValueError) as error:
            raise forms.ValidationError("Plan ids must be numbers.") from error


class BulkForm(forms.Form):
    """What to do to the selected plans. Which actions appear depends on the user's role."""

    ACTIONS = {
        "assign_owner": "Assign owner",
        "change_target_date": "Change target date",
        "close": "Verify and close (signed-off plans)",
    }

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
        label="New target date", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    reason = forms.CharField(
        label="Reason for the date change", required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    comment = forms.CharField(label="Verification comment", required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        allowed = []
        if permissions.can_manage_some(user):
            allowed += ["assign_owner", "change_target_date"]
        if permissions.can_verify(user):
            allowed += ["close"]
        self.allowed_actions = allowed
        self.fields["action"].choices = [("", "Choose an action")] + [(a, self.ACTIONS[a]) for a in allowed]
        # Each plan's workflow call checks the owner belongs to that plan's organisation.
        owners = User.objects.filter(is_active=True, organisation__isnull=False).select_related("organisation")
        if user.organisation_id:
            owners = owners.filter(organisation_id=user.organisation_id)
        self.fields["owner"].queryset = owners if allowed else User.objects.none()
        if not user.organisation_id:
            self.fields["owner"].label_from_instance = lambda u: f"{u}, {u.organisation.display_name}"

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        action = data.get("action")
        if action == "change_target_date":
            if not data.get("target_date"):
                self.add_error("target_date", "Choose the new target date.")
            if not (data.get("reason") or "").strip():
                self.add_error("reason", "Give the reason for changing the target dates.")
        if action == "close" and not (data.get("comment") or "").strip():
            self.add_error("comment", "Add a comment recording the verification.")
        if not data.get("plans") and not data.get("all_matching"):
            raise forms.ValidationError("Select at least one plan, or choose every plan matching the filters.")
        return data
