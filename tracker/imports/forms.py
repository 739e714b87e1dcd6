"""The upload form of the web import."""

from __future__ import annotations

from pathlib import PurePath

from django import forms
from django.conf import settings
from django.template.defaultfilters import filesizeformat

EXTENSIONS = (".csv", ".xlsx", ".json")
DEFAULT_MAX_BYTES = 20 * 1024 * 1024  # 10,000 findings come to about 2 MB as CSV


def max_bytes() -> int:
    return getattr(settings, "IMPORT_MAX_BYTES", DEFAULT_MAX_BYTES)


class ImportForm(forms.Form):
    file = forms.FileField(
        label="Findings file",
        widget=forms.ClearableFileInput(attrs={"accept": ",".join(EXTENSIONS)}),
    )
    create_organisations = forms.BooleanField(
        label="Create organisations that are not found",
        required=False,
        help_text="Addressees matching no organisation's slug or name are created with the kind “other”. "
        "Leave this off to have them reported as errors instead.",
    )
    publish = forms.BooleanField(
        label="Publish: open action plans for every addressee",
        required=False,
        help_text="Addressed organisations can start responding at once. Plans already open are kept.",
    )

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields[
            "file"
        ].help_text = (
            f"CSV (UTF-8), XLSX (first sheet) or JSON (a list of objects), up to {filesizeformat(max_bytes())}."
        )

    def clean_file(self):  # type: ignore[no-untyped-def]
        upload = self.cleaned_data["file"]
        if PurePath(upload.name).suffix.lower() not in EXTENSIONS:
            raise forms.ValidationError("Choose a .csv, .xlsx or .json file.", code="extension")
        if upload.size > max_bytes():
            raise forms.ValidationError(
                f"The file is larger than {filesizeformat(max_bytes())}: split it into smaller files.", code="size"
            )
        return upload


class PreviewQueryForm(forms.Form):
    """The preview's query parameters: which rows (`show`: all, or those of one action) and which page of
    them. Empty is the default (all rows, the first page); a value that means nothing is a 400 naming it; a
    page past the last shows the last."""

    show = forms.ChoiceField(required=False)
    page = forms.IntegerField(required=False, min_value=1)

    def __init__(self, *args: object, choices: dict[str, str], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["show"].choices = list(choices.items())  # type: ignore[attr-defined]
