"""Forms for the plan page. Each carries the plan's version for optimistic locking."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.template.defaultfilters import filesizeformat

from inspections.models import Finding

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
    # A date field's value must be ISO (YYYY-MM-DD) whatever the locale, or browsers show it empty.
    target_date = forms.DateField(
        label="New target date", widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
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
