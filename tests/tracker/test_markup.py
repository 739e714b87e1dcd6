"""tracker/markup.py writes crispy-forms' bootstrap5 markup in Python: the same HTML as `{{ form|crispy }}`
and `{{ field|as_crispy_field }}` up to white space, for every kind of field, shown afresh and with errors."""

from __future__ import annotations

import datetime as dt
import re

from crispy_forms.templatetags.crispy_forms_filters import as_crispy_field, as_crispy_form
from django import forms

from tracker import markup
from tracker.forms import MultipleFileField, PlanPicker


def _same(html: str) -> str:
    """White space between and inside tags does not change what HTML means."""
    html = re.sub(r"\s+", " ", str(html)).strip()
    html = re.sub(r"\s*(<|>)\s*", r"\1", html)
    return html.replace("<div >", "<div>")


class EveryKind(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput, initial=3)
    title = forms.CharField(label="Title <b>", max_length=20, help_text="At most <em>20</em> letters.")
    note = forms.CharField(label="Note", required=False, widget=forms.Textarea(attrs={"rows": 2}))
    owner = forms.ChoiceField(label="Owner", choices=[("", "Nobody yet"), ("1", "Ann & Bo"), ("2", '"Cy"')])
    due = forms.DateField(
        label="Due", required=False, widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    percent = forms.IntegerField(label="Percent", min_value=0, max_value=100, required=False, help_text="0 to 100.")
    agree = forms.BooleanField(label="I agree", help_text="Tick it.")
    kind = forms.ChoiceField(label="Kind", choices=[("a", "A"), ("b", "B <c>")], widget=forms.RadioSelect)
    tags = forms.MultipleChoiceField(
        label="Tags", choices=[("x", "X"), ("y", "Y")], widget=forms.CheckboxSelectMultiple, required=False
    )
    files = MultipleFileField(label="Files", required=False, help_text="Up to 20 MB.")
    other = forms.IntegerField(label="Which plan", required=False, widget=PlanPicker)


def _forms() -> list[forms.Form]:
    fresh = EveryKind(prefix="p", initial={"title": "Tea & <cake>", "due": dt.date(2026, 1, 2), "owner": "1"})
    fresh.fields["other"].widget.options = lambda: [(7, "R3, PEEL: Kent (in progress)")]
    invalid = EveryKind(
        {"p-version": "x", "p-title": "x" * 30, "p-percent": "200", "p-due": "not a date", "p-kind": "z"},
        prefix="p",
    )
    assert not invalid.is_valid()
    return [fresh, invalid, EveryKind(auto_id=False)]


def test_a_form_is_written_as_crispy_forms_writes_it():
    for form, again in zip(_forms(), _forms(), strict=True):
        assert _same(markup.form_html(form)) == _same(as_crispy_form(again))


def test_each_field_is_written_as_crispy_forms_writes_it():
    for form, again in zip(_forms(), _forms(), strict=True):
        for name in form.fields:
            assert _same(markup.field_html(form[name])) == _same(as_crispy_field(again[name])), name


def test_values_are_escaped_and_errors_described():
    form = _forms()[1]
    html = markup.form_html(form)
    assert "<cake>" not in str(markup.form_html(_forms()[0]))
    assert 'aria-invalid="true"' in html and "error-summary" in html
    assert 'id="error_1_id_p-title"' in html
