"""HTML written in Python for the parts of pages that repeat one small piece hundreds of times (the
dashboard's matrix: 56 organisations by 10 inspections, about 20 linked numbers a cell), where Django's
template engine spends most of a page's time resolving variables and filters one by one. The markup is
the same as the templates gave (tested); every value is escaped here as the templates' autoescaping did.
"""

from __future__ import annotations

from html import escape as _escape
from typing import Any

from django import forms
from django.core.exceptions import ObjectDoesNotExist
from django.template.defaultfilters import filesizeformat, linebreaksbr
from django.template.loader import render_to_string
from django.utils import dateformat
from django.utils.dates import MONTHS_3
from django.utils.formats import localize
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import Truncator
from django.utils.timezone import template_localtime


def esc(value: Any) -> str:
    """`{{ value }}` with autoescaping: text escaped (quotes too), safe strings as they are."""
    if isinstance(value, SafeString):
        return value
    return _escape(str(value))


def number(value: Any) -> str:
    """`{{ value }}` of a count: an int as it is (what `localize` gives without thousand separators),
    anything else localized and escaped."""
    if type(value) is int:
        return str(value)
    return esc(localize(value))


def matrix_row(row: dict[str, Any]) -> SafeString:
    """One organisation's row of the dashboard's completion matrix (`reports.dashboard_figures`): its
    name, then per inspection its gradings, the reported and verified rates, and the plans per stage
    with those overdue, each number linked to the /plans/ list behind it; an empty cell is a dash."""
    parts = [f'<tr><th scope="row">{esc(row["name"])}</th>\n']
    for cell in row["cells"]:
        if not cell:
            parts.append('<td><span class="text-body-secondary">–</span></td>\n')
            continue
        links = cell["links"]
        total = number(cell["total"])
        parts.append("<td>")
        for g in cell.get("gradings") or ():
            parts.append(
                f'<span class="visually-hidden">Graded ({esc(g["area"])}): </span>'
                f'<span class="badge grade grade-{esc(g["grade"])}">{esc(g["label"])}</span> '
            )
        parts.append(
            f'\n<div><a href="{esc(links["reported"])}">{number(cell["reported"])}</a> of '
            f'<a href="{esc(links["total"])}">{total}</a> reported complete ({number(cell["reported_pct"])}%)</div>'
            f'\n<div><a href="{esc(links["verified"])}">{number(cell["verified"])}</a> of {total} verified complete'
            f" ({number(cell['verified_pct'])}%)</div>"
            '\n<ul class="list-unstyled small mb-0 stages">'
        )
        for stage in cell["stages"]:
            label = esc(str(stage["label"]).lower())
            parts.append(f'<li><a href="{esc(stage["link"])}">{number(stage["count"])}</a> {label}')
            if stage["value"] == "with_force":
                if cell["overdue"]:
                    parts.append(
                        f', <strong class="overdue-count"><a href="{esc(links["overdue"])}">{number(cell["overdue"])}'
                        "</a> overdue</strong>"
                    )
                else:
                    parts.append(f', <a href="{esc(links["overdue"])}">0</a> overdue')
            parts.append("</li>")
        parts.append("</ul></td>\n")
    parts.append("</tr>\n")
    return mark_safe("".join(parts))  # every value above is escaped


def completion_rows(rows: list[dict[str, Any]], key: str) -> SafeString:
    """The body rows of includes/completion_table.html: per region or theme (`key`), its plans, those with
    the force and overdue, awaiting verification, verified, ended and reported complete, each linked to
    the /plans/ list behind it (`figures.cell`)."""
    parts = []
    for row in rows:
        links = row["links"]
        total = number(row["total"])
        name = row["region"] if key == "region" else row["finding__themes__name"]
        if row["overdue"]:
            overdue = f'<a href="{esc(links["overdue"])}">{number(row["overdue"])}</a>'
            overdue = f'<strong class="overdue-count">{overdue}</strong>'
        else:
            overdue = f'<a href="{esc(links["overdue"])}">0</a>'
        parts.append(
            f'\n    <tr>\n      <th scope="row">{esc(name)}</th>'
            f'\n      <td><a href="{esc(links["total"])}">{total}</a></td>'
            f'\n      <td><a href="{esc(links["with_force"])}">{number(row["with_force"])}</a></td>'
            f"\n      <td>{overdue}</td>"
            f'\n      <td><a href="{esc(links["awaiting_verification"])}">'
            f"{number(row['awaiting_verification'])}</a></td>"
            f'\n      <td><a href="{esc(links["verified"])}">{number(row["verified"])}</a> '
            f'({number(row["verified_pct"])}%<span class="visually-hidden"> of {total}</span>)</td>'
            f'\n      <td><a href="{esc(links["ended"])}">{number(row["ended"])}</a></td>'
            f'\n      <td><a href="{esc(links["reported"])}">{number(row["reported"])}</a> '
            f'({number(row["reported_pct"])}%<span class="visually-hidden"> of {total}</span>)</td>'
            "\n    </tr>\n  "
        )
    return mark_safe("".join(parts))  # every value above is escaped


def repeat_rows(rows: list[dict[str, Any]], name_key: str, label: str) -> SafeString:
    """The body rows of the dashboard's tables of repeats (`reports.repeat_figures`) by organisation or
    theme: its name (`name_key`, its column headed `label`), repeats, recurrences and the repeat rate of
    its plans, each count linked to the /plans/ list behind it."""
    label = esc(label)
    parts = []
    for row in rows:
        links = row["links"]
        parts.append(
            f'<tr><th scope="row" data-label="{label}">{esc(row[name_key])}</th>'
            f'<td data-label="Repeats"><a href="{esc(links["repeats"])}">{number(row["repeats"])}</a></td>'
            f'<td data-label="Recurrences"><a href="{esc(links["recurrences"])}">{number(row["recurrences"])}</a></td>'
            f'<td data-label="Repeat rate">{number(row["rate"])}% of <a href="{esc(links["total"])}">'
            f"{number(row['total'])}</a></td></tr>"
        )
    return mark_safe("".join(parts))  # every value above is escaped


# --- form fields with Bootstrap's markup, as crispy-forms' bootstrap5 pack writes them ---------------
#
# `{{ form|crispy }}` cost about 0.5 ms a field (its templates, and Django's template per widget), and
# a plan's page shows a dozen forms. `form_html` and `field_html` give the same markup (the pack's
# field.html with its default options, our bootstrap5/errors.html summary) with the widgets written in
# Python: the same field names, ids, labels, help text, error messages and aria attributes (Django's
# `BoundField.build_widget_attrs`). Fields the fast path does not cover (other widgets in a fieldset,
# a file input showing a file already there) are rendered by the pack's own template.

INPUT_TEMPLATES = frozenset(
    f"django/forms/widgets/{kind}.html"
    for kind in ("text", "date", "number", "email", "url", "password", "hidden", "checkbox", "time", "datetime")
)
TEXTAREA_TEMPLATE = "django/forms/widgets/textarea.html"
# Widgets whose template context is only their name, formatted value, attributes and input type.
_PLAIN_CONTEXTS = (forms.Widget.get_context, forms.widgets.Input.get_context)


def _attrs(attrs: dict[str, Any]) -> str:
    """Attributes as django/forms/widgets/attrs.html writes them (`value|stringformat:'s'`, escaped)."""
    return "".join(
        f" {esc(name)}" if value is True else f' {esc(name)}="{_escape(str(value))}"'
        for name, value in attrs.items()
        if value is not False
    )


def _widget(field: Any, widget: Any, attrs: dict[str, Any]) -> str:
    """`BoundField.as_widget(attrs=attrs)`, written in Python for plain inputs, text areas and selects; a
    widget that renders itself (its own `render`, such as a plan picker's list) renders as it does."""
    template = getattr(widget, "template_name", "")
    fast_select = type(widget) is forms.Select
    plain = type(widget).render is forms.Widget.render
    if not plain or (template not in INPUT_TEMPLATES and template != TEXTAREA_TEMPLATE and not fast_select):
        return str(field.as_widget(attrs=attrs))
    if field.field.localize:
        widget.is_localized = True
    attrs = field.build_widget_attrs(attrs, widget)
    if field.auto_id and "id" not in widget.attrs:
        attrs.setdefault("id", field.auto_id)
    value = field.value()
    if fast_select:
        from .filters import FastSelect

        return FastSelect.render(widget, field.html_name, value, attrs)
    if type(widget).get_context in _PLAIN_CONTEXTS and type(widget).build_attrs is forms.Widget.build_attrs:
        # What `get_context` gives these widgets, without building the rest of its dictionary.
        name, shown, attrs = field.html_name, widget.format_value(value), {**widget.attrs, **attrs}
        kind = getattr(widget, "input_type", None)
    else:
        context = widget.get_context(field.html_name, value, attrs)["widget"]
        name, shown, attrs, kind = context["name"], context["value"], context["attrs"], context.get("type")
    if template == TEXTAREA_TEMPLATE:
        text = esc(shown) if shown else ""
        return f'<textarea name="{esc(name)}"{_attrs(attrs)}>\n{text}</textarea>'
    value_attr = "" if shown is None else f' value="{_escape(str(shown))}"'
    return f'<input type="{esc(kind)}" name="{esc(name)}"{value_attr}{_attrs(attrs)}>'


def _css_class(widget: Any, bootstrap: str) -> dict[str, Any]:
    """The widget's class as crispy-forms' `crispy_field` tag sets it (on the widget itself, as it does):
    the widget's own classes, its class name in lower case, then Bootstrap's."""
    class_name = type(widget).__name__.lower()
    css = widget.attrs.get("class", "")
    if css:
        if css.find(class_name) == -1:
            css += f" {class_name}"
    else:
        css = class_name
    for word in bootstrap.split():
        if word not in css.split():
            css += f" {word}"
    widget.attrs["class"] = css
    return {}


def _errors(field: Any) -> str:
    """bootstrap5/layout/field_errors_block.html."""
    if not field.errors:
        return ""
    messages = "".join(
        f'<p id="error_{n}_{esc(field.auto_id)}"><strong>{esc(error)}</strong></p>'
        for n, error in enumerate(field.errors, start=1)
    )
    return (
        f'<div id="{esc(getattr(field.errors, "field_id", "") or "")}_error" class="invalid-feedback">{messages}</div>'
    )


def _help(field: Any) -> str:
    """bootstrap5/layout/help_text.html (the help text is written as it is: `|safe`)."""
    if not field.help_text:
        return ""
    ident = f'id="{esc(field.auto_id)}_helptext" ' if field.auto_id else ""
    return f'<div {ident}class="form-text">{field.help_text}</div>'


def _help_and_errors(field: Any) -> str:
    """bootstrap5/layout/help_text_and_errors.html: the errors, then the help text."""
    return _errors(field) + _help(field)


def _wrapper(field: Any) -> str:
    css = field.css_classes()
    return f'<div id="div_{esc(field.auto_id)}" class="mb-3{" " + esc(css) if css else ""}">'


def _label(field: Any) -> str:
    if not field.label:
        return ""
    for_attr = f'for="{esc(field.id_for_label)}" ' if field.id_for_label else ""
    required = " requiredField" if field.field.required else ""
    return f'<label {for_attr}class="form-label{required}">{_label_text(field)}</label> '


def _choices_field(field: Any) -> str:
    """Radios or checkboxes in a fieldset (bootstrap5/layout/radio_checkbox_select.html)."""
    widget = field.field.widget
    invalid = " is-invalid" if field.errors else ""
    parts = [_wrapper(field)]
    if field.label:
        described = field.aria_describedby
        parts.append(f"<fieldset{f' aria-describedby="{esc(described)}"' if described else ''}>")
        for_attr = f'for="{esc(field.id_for_label)}" ' if field.id_for_label else ""
        required = " requiredField" if field.field.required else ""
        parts.append(f'<legend {for_attr}class="form-label{required} fs-6">{_label_text(field)}</legend> ')
    parts.append("<div>")
    id_ = widget.attrs.get("id") or field.auto_id
    attrs = field.build_widget_attrs({"id": id_} if id_ else {})
    groups = widget.optgroups(field.html_name, widget.format_value(field.value()), attrs)
    name = esc(field.html_name)
    for group_number, (group, options, _index) in enumerate(groups, start=1):
        if group:
            parts.append(f"<strong>{esc(group)}</strong>")
        for number, option in enumerate(options, start=1):
            parts.append(
                f'<div class="form-check"><input type="{esc(option["type"])}" class="form-check-input{invalid}" '
                f'name="{name}" value="{esc(str(option["value"]))}"{_attrs(option["attrs"])}> '
                f'<label for="{esc(option["attrs"].get("id", ""))}" class="form-check-label">'
                f"{esc(str(option['label']))}</label>"
            )
            if number == len(options) and group_number == len(groups):
                parts.append(_errors(field))
            parts.append("</div>")
    parts.append(f"</div>{_help(field)}")
    if field.label:
        parts.append("</fieldset>")
    parts.append("</div>")
    return "".join(parts)


def _file_field(field: Any) -> str | None:
    """A file input (bootstrap5/layout/field_file.html), or None for one showing a file already there."""
    subwidgets = field.subwidgets
    if any(subwidget.data.get("is_initial") for subwidget in subwidgets):
        return None
    invalid = " is-invalid" if field.errors else ""
    disabled = " disabled" if field.field.disabled else ""
    parts = [_wrapper(field), _label(field)]
    for subwidget in subwidgets:
        data = subwidget.data
        css = data["attrs"].get("class")
        attrs = {name: value for name, value in data["attrs"].items() if name != "class"}
        parts.append(
            f'<div{' class="is-invalid"' if field.errors else ""}><input type="{esc(data["type"])}" '
            f'name="{esc(data["name"])}" class="form-control{" " + esc(css) if css else ""}{invalid}"{disabled}'
            f"{_attrs(attrs)}>{_help_and_errors(field)}</div>"
        )
    parts.append("</div>")
    return "".join(parts)


def _label_text(field: Any) -> str:
    star = '<span class="asteriskField">*</span>' if field.field.required else ""
    return f"{esc(field.label)}{star}"


def field_html(field: Any) -> SafeString:
    """One field as `{{ field|as_crispy_field }}` (bootstrap5 pack, default options) gives it."""
    widget = field.field.widget
    if field.is_hidden:
        return mark_safe(_widget(field, widget, {}))
    if isinstance(widget, forms.CheckboxInput):
        _css_class(widget, "form-check-input is-invalid" if field.errors else "form-check-input")
        required = " requiredField" if field.field.required else ""
        css = field.css_classes()
        return mark_safe(
            f'<div class="mb-3"><div id="div_{esc(field.auto_id)}" class="form-check{" " + esc(css) if css else ""}">'
            f"{_widget(field, widget, {})} "
            f'<label for="{esc(field.id_for_label)}" class="form-check-label{required}">{_label_text(field)}</label>'
            f"{_help_and_errors(field)}</div></div>"
        )
    if isinstance(widget, forms.RadioSelect | forms.CheckboxSelectMultiple):
        return mark_safe(_choices_field(field))  # every value is escaped
    if isinstance(widget, forms.FileInput) and not field.use_fieldset:
        written = _file_field(field)
        return _crispy_field(field) if written is None else mark_safe(written)
    if field.use_fieldset:
        return _crispy_field(field)
    bootstrap = "form-select" if isinstance(widget, forms.Select) else "form-control"
    _css_class(widget, f"{bootstrap} is-invalid" if field.errors else bootstrap)
    return mark_safe(f"{_wrapper(field)}{_label(field)}{_widget(field, widget, {})}{_help_and_errors(field)}</div>")


def _crispy_field(field: Any) -> SafeString:
    from crispy_forms.templatetags.crispy_forms_filters import as_crispy_field
    from crispy_forms.templatetags.crispy_forms_utils import remove_spaces

    return mark_safe(remove_spaces(str(as_crispy_field(field)).strip()))


def form_html(form: Any) -> SafeString:
    """A whole form as `{{ form|crispy }}` gives it: the error summary (templates/bootstrap5/errors.html),
    then every field."""
    parts = []
    if form.errors:
        parts.append(render_to_string("bootstrap5/errors.html", {"form": form}).strip())
    parts.extend(field_html(field) for field in form)
    return mark_safe("".join(parts))


# --- rows of plans (templates/includes/plan_table.html) ------------------------------------------------


def _lookup(obj: Any, *names: str) -> Any:
    """`{{ obj.a.b }}` as the template engine resolves it: a missing attribute is empty, callables are
    called (no argument)."""
    for name in names:
        if obj is None or obj == "":
            return ""
        try:
            obj = getattr(obj, name)
        except (AttributeError, ObjectDoesNotExist):
            return ""
        if callable(obj) and not getattr(obj, "do_not_call_in_templates", False):
            obj = obj()
    return obj


def _text(value: Any) -> str:
    """`{{ value }}`: None as "None", numbers as they are, text escaped."""
    if type(value) is int:
        return str(value)
    return esc(localize(value))


def _date(value: Any, fmt: str) -> str:
    """`{{ value|date:fmt }}` (aware times in the current time zone first), escaped."""
    if value in (None, ""):
        return ""
    return esc(dateformat.format(template_localtime(value), fmt))


def _day_and_time(value: Any) -> tuple[str, str]:
    """`{{ value|date:'c' }}` and `{{ value|date:"j M Y H:i" }}` of an aware time, converted to the current
    time zone once and written without `dateformat`'s parse of each format (a timeline's hundred dates)."""
    local = template_localtime(value)
    shown = f"{local.day} {MONTHS_3[local.month].title()} {local.year:04d} {local.hour:02d}:{local.minute:02d}"
    return esc(local.isoformat()), esc(shown)


def _truncated(value: Any, length: int) -> str:
    return esc(Truncator(value).chars(length))


def plan_rows(plans: Any, *, user: Any, selectable: Any = False, show_organisation: Any = False,
              wait: Any = "") -> SafeString:  # fmt: skip
    """The body rows of includes/plan_table.html, written once per plan in Python rather than through
    some forty template lookups each (25 rows a page on /plans/); "No action plans match." when none."""
    user_pk = _lookup(user, "pk")
    parts = []
    for plan in plans:
        finding = plan.finding
        organisation_name = _text(_lookup(plan, "organisation", "display_name"))
        parts.append("<tr>\n")
        if selectable:
            pk = _text(plan.pk)
            parts.append(
                f'<td class="select-col" data-label="Select"><input type="checkbox" class="form-check-input" '
                f'name="plans" value="{pk}" form="bulk-form" id="select-{pk}" aria-label="Select '
                f'{_text(_lookup(finding, "reference"))}, {organisation_name}"></td>\n'
            )
        parts.append(
            f'<td data-label="Finding"><a href="{esc(plan.get_absolute_url())}"><span class="fw-semibold">'
            f"{_text(_lookup(finding, 'reference'))}</span> {_text(_lookup(finding, 'short_text'))}</a>\n"
            f'<div class="small text-body-secondary">{_text(_lookup(finding, "inspection", "title"))}</div>\n'
        )
        returned_note = _lookup(plan, "returned_note")
        if returned_note:
            yours = ": your action" if _lookup(plan, "owner_id") == user_pk else ""
            returned_at = _lookup(plan, "returned_at")
            parts.append(
                f'<div class="returned small mt-1"><strong>Returned{yours}.</strong> By '
                f'{_text(_lookup(plan, "returned_by"))}, <time datetime="{_date(returned_at, "c")}">'
                f"{_date(returned_at, 'j M Y')}</time>: {_truncated(returned_note, 200)}</div>\n"
            )
        date_reason = _lookup(plan, "date_reason")
        if date_reason:
            parts.append(f'<div class="small mt-1">Why the date moved: {_truncated(date_reason, 200)}</div>\n')
        if _lookup(plan, "is_recurrence"):
            parts.append(
                '<span class="badge recurrence">Recurrence<span class="visually-hidden">: repeats a finding this '
                "organisation had closed</span></span>"
            )
        parts.append("</td>\n")
        if show_organisation:
            parts.append(f'<td data-label="Organisation">{organisation_name}</td>\n')
        parts.append(
            f'<td data-label="Status"><span class="badge status status-{_text(plan.status)}">'
            f"{_text(plan.get_status_display())}</span>"
        )
        waits_text = _lookup(plan, "waits_text")
        if waits_text:
            since = _lookup(plan, "waits", "since")
            parts.append(
                f'<div class="small text-body-secondary waiting-on">Waiting on {_text(waits_text)}, since '
                f'<time datetime="{_date(since, "Y-m-d")}">{_date(since, "j M Y")}</time></div>'
            )
        rag = f'<span class="badge rag rag-{_text(plan.rag)}">{_text(plan.get_rag_display())}</span>'
        parts.append(f'</td>\n<td data-label="RAG">{rag}</td>\n<td data-label="Target date">')
        if plan.target_date:
            parts.append(
                f'<time datetime="{_date(plan.target_date, "Y-m-d")}">{_date(plan.target_date, "j M Y")}</time>'
            )
        else:
            parts.append("None set")
        if plan.deferral_count or plan.brought_forward_count:
            parts.append(f'\n<div class="small text-body-secondary">{_text(plan.date_moves)}</div>')
        parts.append(f'</td>\n<td data-label="Complete">{_text(plan.percent_complete)}%')
        milestones_total = _lookup(plan, "milestones_total")
        if milestones_total:
            parts.append(
                f'<div class="small text-body-secondary milestone-progress">{_text(_lookup(plan, "milestones_done"))}'
                f" of {_text(milestones_total)} milestones</div>"
            )
        parts.append('</td>\n<td data-label="Owner">')
        owner = plan.active_owner
        if owner:
            parts.append(_text(owner.get_full_name() or owner.username))
        else:
            parts.append('<span class="text-body-secondary">Unassigned</span>')
        parts.append("</td>\n")
        if wait:
            waiting = _text(_lookup(plan, "waiting_text"))
            if wait == "overdue":
                waiting = f"<strong>{waiting}</strong>"
            parts.append(f'<td data-label="Waiting" class="waiting">{waiting}</td>\n')
        parts.append("</tr>\n")
    if not parts:
        columns = 8 if wait else (8 if show_organisation else 7) if selectable else 7 if show_organisation else 6
        parts.append(f'<tr><td colspan="{columns}">No action plans match.</td></tr>\n')
    return mark_safe("".join(parts))  # every value above is escaped


# --- the /plans/ filter form's fields -----------------------------------------------------------------


def _filter_notes(field: Any) -> str:
    """A filter field's errors, then its help text (escaped, as `{{ field.help_text }}`)."""
    parts = [
        f'<div class="invalid-feedback d-block" id="{esc(field.auto_id)}_error_{n}">{esc(error)}</div>'
        for n, error in enumerate(field.errors, start=1)
    ]
    if field.help_text:
        parts.append(f'<div id="{esc(field.auto_id)}_helptext" class="form-text">{esc(field.help_text)}</div>')
    return "".join(parts)


def filter_fields(form: Any) -> SafeString:
    """The /plans/ filter form's fields with Bootstrap's markup (checkbox groups in a fieldset, the
    "only ..." checkboxes after their box, every other field after its label)."""
    parts = []
    for field in form:
        widget = field.field.widget
        auto_id = esc(field.auto_id)
        if isinstance(widget, forms.CheckboxSelectMultiple):
            described = f' aria-describedby="{auto_id}_helptext"' if field.help_text else ""
            invalid = " is-invalid" if field.errors else ""
            name = esc(field.html_name)
            parts.append(
                f'<div id="div_{auto_id}" class="mb-3"><fieldset{described}><legend class="form-label fs-6">'
                f"{esc(field.label)}</legend><div>\n"
            )
            for choice in field:
                data = choice.data
                ident = esc(choice.id_for_label)
                checked = " checked" if data["selected"] else ""
                parts.append(
                    f'<div class="form-check"><input type="checkbox" class="form-check-input{invalid}" name="{name}" '
                    f'value="{_text(data["value"])}" id="{ident}"{checked}> '
                    f'<label for="{ident}" class="form-check-label">{_text(data["label"])}</label></div>\n'
                )
            parts.append(f"</div>{_filter_notes(field)}</fieldset></div>\n")
        elif isinstance(widget, forms.CheckboxInput):
            parts.append(
                f'<div class="mb-3"><div id="div_{auto_id}" class="form-check">{_widget(field, widget, {})} '
                f'<label for="{esc(field.id_for_label)}" class="form-check-label">{esc(field.label)}</label>'
                f"{_filter_notes(field)}</div></div>\n"
            )
        else:
            parts.append(
                f'<div id="div_{auto_id}" class="mb-3"><label for="{esc(field.id_for_label)}" class="form-label">'
                f"{esc(field.label)}</label> {_widget(field, widget, {})}{_filter_notes(field)}</div>\n"
            )
    return mark_safe("".join(parts))  # every value above is escaped


# --- a plan's timeline (templates/tracker/actionplan_detail.html) -------------------------------------


def timeline_items(updates: Any) -> SafeString:
    """The items of a plan's timeline: each entry's change, author and time, the status, target date and
    percentage it moved, its note and its evidence files; "No updates yet." when there are none."""
    parts = []
    for update in updates:
        author = update.author
        by = _text(_lookup(author, "get_full_name") or _lookup(author, "username"))
        iso, shown = _day_and_time(update.created_at)
        parts.append(
            f'<li class="timeline-item kind-{_text(update.kind)}" id="update-{_text(update.pk)}">\n'
            f'<div class="d-flex flex-wrap gap-2 align-items-baseline">\n<span class="fw-semibold">'
            f"{_text(update.change_label)}</span>\n"
            f'<span class="text-body-secondary small">by {by}, <time datetime="{iso}">{shown}</time></span>\n</div>\n'
        )
        if update.status_to:
            parts.append(
                f'<p class="mb-1 small">Status: {_text(update.get_status_from_display())} → '
                f"{_text(update.get_status_to_display())}</p>\n"
            )
        if update.target_date_to:
            parts.append(
                f'<p class="mb-1 small">Target date: {_date(update.target_date_from, "j M Y") or "none"} → '
                f"{_date(update.target_date_to, 'j M Y')}</p>\n"
            )
        if update.percent is not None:
            parts.append(f'<p class="mb-1 small">Complete: {_text(update.percent)}%</p>\n')
        if update.note:
            parts.append(f'<p class="mb-1">{linebreaksbr(update.note, autoescape=True)}</p>\n')
        files = update.files  # read with the timeline (`views._timeline`)
        if files:
            parts.append('<ul class="evidence small">\n')
            parts.extend(
                f'<li><a href="{esc(file.get_absolute_url())}" download>{_text(file.original_name)}</a> '
                f'({esc(filesizeformat(file.size))}, SHA-256 <code class="sha">{_truncated(file.sha256, 13)}</code>)'
                "</li>\n"
                for file in files
            )
            parts.append("</ul>\n")
        parts.append("</li>\n")
    if not parts:
        parts.append("<li>No updates yet.</li>\n")
    return mark_safe("".join(parts))  # every value above is escaped


# --- a plan's milestones and success measures (templates/tracker/actionplan_detail.html) --------------


def _day(value: Any) -> tuple[str, str]:
    """`{{ value|date:'Y-m-d' }}` and `{{ value|date:"j M Y" }}` of a date, without `dateformat`'s parse of
    each format (a plan's milestones and measures have a few dates each)."""
    return (
        f"{value.year:04d}-{value.month:02d}-{value.day:02d}",
        esc(f"{value.day} {MONTHS_3[value.month].title()} {value.year:04d}"),
    )


def _not_changed(form: Any, what: str) -> str:
    """The alert heading a section whose form failed: the form's own errors, then each field's, labelled."""
    parts = [
        f'<div class="alert alert-danger" role="alert">\n<p class="mb-1 fw-semibold">The {what} was not changed:</p>\n'
        '<ul class="mb-0">'
    ]
    parts.extend(f"<li>{esc(error)}</li>" for error in form.non_field_errors())
    for field in form:
        parts.extend(f"<li>{esc(field.label)}: {esc(error)}</li>" for error in field.errors)
    parts.append("</ul>\n</div>\n")
    return "".join(parts)


def _hidden_fields(form: Any) -> str:
    """`{% for field in form.hidden_fields %}{{ field }}{% endfor %}`."""
    return "".join(
        str(field) if field.field.show_hidden_initial else _widget(field, field.field.widget, {})
        for field in form.hidden_fields()
    )


def _add_form(item: Any, slug: str, summary: str, button: str, csrf: str, base: str) -> str:
    """The card with a section's form adding an item (a milestone, a success measure)."""
    opened = " open" if item["open"] else ""
    return (
        f'<details class="action-form card" id="action-{slug}"{opened}>\n'
        f'<summary class="card-header fw-semibold">{summary}</summary>\n<div class="card-body">\n'
        f'<form method="post" action="{base}{slug}/" novalidate>\n{csrf}\n{form_html(item["form"])}\n'
        f'<button type="submit" class="btn btn-primary">{button}</button>\n</form>\n</div>\n</details>\n'
    )


def plan_milestones(
    *, milestones: Any, milestone_add: Any, milestone_error: Any, milestones_done: Any, plan: Any,
    csrf_input: Any, action_base: Any,
) -> SafeString:  # fmt: skip
    """A plan page's milestones section (the view's `_milestone_rows`): each milestone with its state (done,
    overdue), owner, date and note, and the forms its reader may use on it (mark done, move, change,
    reopen); a failed form's errors first, the form adding one last. Nothing when there is neither."""
    if not (milestones or milestone_add):
        return mark_safe("")
    csrf, base = esc(csrf_input), esc(action_base)
    parts = ['<section aria-labelledby="milestones-heading" class="mb-4 milestones">\n'
             '<h2 id="milestones-heading" class="h4">Milestones']  # fmt: skip
    if milestones:
        parts.append(
            f' <span class="fs-6 fw-normal text-body-secondary milestone-progress">{number(milestones_done)} of '
            f"{len(milestones)} done</span>"
        )
    parts.append("</h2>\n")
    if milestone_error:
        parts.append(_not_changed(milestone_error, "milestone"))
    if milestones:
        parts.append('<ol class="list-group list-group-numbered mb-3">\n')
        version = _text(plan.version)
        for row in milestones:
            m = row["milestone"]
            pk = _text(m.pk)
            title = esc(m.title)
            done_on = m.done_on
            state = " milestone-done" if done_on else " milestone-overdue" if row["overdue"] else ""
            parts.append(
                f'<li class="list-group-item milestone{state}" id="milestone-{pk}">\n'
                f'<span class="fw-semibold">{title}</span>\n'
            )
            if done_on:
                iso, shown = _day(done_on)
                parts.append(f'<span class="badge text-bg-success">Done <time datetime="{iso}">{shown}</time></span>')
            elif row["overdue"]:
                parts.append('<span class="badge text-bg-warning">Overdue</span>')
            owner = m.owner
            owner_text = f"Owner: {esc(owner.get_full_name() or owner.username)}" if owner else "No owner"
            if m.target_date:
                iso, shown = _day(m.target_date)
                due = f'due <time datetime="{iso}">{shown}</time>'
            else:
                due = "no date"
            parts.append(f'\n<div class="small text-body-secondary">\n{owner_text}\n· {due}\n</div>\n')
            if m.note:
                parts.append(f'<p class="small mb-1">{linebreaksbr(m.note, autoescape=True)}</p>\n')
            row_forms = row["forms"]
            if row_forms:
                short = _truncated(m.title, 30)
                parts.append('<div class="d-flex flex-wrap gap-2 mt-2 align-items-start">\n')
                for slug, form in row_forms.items():
                    if slug == "milestone-complete":
                        parts.append(
                            f'<form method="post" action="{base}{esc(slug)}/" novalidate>\n'
                            f"{csrf}{_hidden_fields(form)}\n"
                            f'<button type="submit" class="btn btn-sm btn-success">Mark “{short}” done</button>\n'
                            "</form>\n"
                        )
                    elif slug == "milestone-move":
                        for shown_when, direction, label in ((not row["first"], "up", "Move up"),
                                                             (not row["last"], "down", "Move down")):  # fmt: skip
                            if shown_when:
                                parts.append(
                                    f'<form method="post" action="{base}{esc(slug)}/" novalidate>\n{csrf}'
                                    f'<input type="hidden" name="milestone-move-milestone" value="{pk}">'
                                    f'<input type="hidden" name="milestone-move-version" value="{version}">'
                                    f'<input type="hidden" name="milestone-move-direction" value="{direction}">\n'
                                    f'<button type="submit" class="btn btn-sm btn-outline-secondary">{label}'
                                    f'<span class="visually-hidden">: {title}</span></button>\n</form>\n'
                                )
                parts.append("</div>\n")
                opened = " open" if row["open"] else ""
                for slug, form in row_forms.items():
                    if slug == "milestone-edit":
                        summary, style, button = f"Change “{short}”", "primary", "Save milestone"
                    elif slug == "milestone-reopen":
                        summary, style, button = f"Reopen “{short}”", "warning", "Reopen milestone"
                    else:
                        continue
                    parts.append(
                        f'<details class="mt-2"{opened}>\n<summary class="small">{summary}</summary>\n'
                        f'<form method="post" action="{base}{esc(slug)}/" class="mt-2" novalidate>\n{csrf}\n'
                        f'{form_html(form)}\n<button type="submit" class="btn btn-sm btn-{style}">{button}</button>\n'
                        "</form>\n</details>\n"
                    )
            parts.append("</li>\n")
        parts.append("</ol>\n")
    else:
        parts.append(
            "<p>No milestones yet. Break the plan into steps with their own owners and dates: its percentage then "
            "follows them.</p>\n"
        )
    if milestone_add:
        parts.append(_add_form(milestone_add, "milestone-add", "Add a milestone", "Add milestone", csrf, base))
    parts.append("</section>\n")
    return mark_safe("".join(parts))  # every value above is escaped


def plan_measures(
    *, measures: Any, measure_add: Any, measure_error: Any, sustaining: Any, finding: Any, evidence_files: Any,
    csrf_input: Any, action_base: Any,
) -> SafeString:  # fmt: skip
    """A plan page's success measures section (the view's `_measure_rows`): what good looks like in the
    inspectorate's words, the measures still in their demonstration period, each measure with its target,
    period and how it was met and the forms its reader may use on it (change, remove); a failed form's
    errors first, the form adding one last. Nothing when there is none of these."""
    good = _lookup(finding, "what_good_looks_like")
    if not (measures or measure_add or good):
        return mark_safe("")
    csrf, base = esc(csrf_input), esc(action_base)
    parts = ['<section aria-labelledby="measures-heading" class="mb-4 measures">\n'
             '<h2 id="measures-heading" class="h4">Success measures</h2>\n']  # fmt: skip
    if good:
        parts.append(
            '<div class="card card-body mb-3 what-good-looks-like">\n'
            '<h3 class="h6">What good looks like, in the inspectorate\'s words</h3>\n'
            f'<p class="mb-0">{linebreaksbr(good, autoescape=True)}</p>\n</div>\n'
        )
    if sustaining:
        periods = []
        for m in sustaining:
            iso, shown = _day(m.sustain_until)
            periods.append(f'“{esc(m.text)}” has been sustained until <time datetime="{iso}">{shown}</time>')
        parts.append(
            '<div class="alert alert-warning sustaining-alert" role="status">\n<p class="mb-0">Demonstration period: '
            f"this plan cannot be verified as closed until {'; '.join(periods)}.</p>\n</div>\n"
        )
    if measure_error:
        parts.append(_not_changed(measure_error, "success measure"))
    if measures:
        parts.append('<ol class="list-group list-group-numbered mb-3">\n')
        for row in measures:
            m = row["measure"]
            parts.append(
                f'<li class="list-group-item measure" id="measure-{_text(m.pk)}">\n'
                f'<span class="fw-semibold">{esc(m.text)}</span>\n<div class="small text-body-secondary">\n'
                f"Target: {esc(m.target_figure or 'none given')}\n· "
            )
            if m.sustain_until:
                iso, shown = _day(m.sustain_until)
                parts.append(f'sustained until <time datetime="{iso}">{shown}</time>')
                if row["sustaining"]:
                    parts.append(' <span class="badge text-bg-warning">Demonstration period</span>')
            else:
                parts.append("no demonstration period")
            parts.append('\n</div>\n<p class="small mb-1 how-met">')
            if m.how_met:
                parts.append(
                    f'<span class="fw-semibold">How it was met:</span> {linebreaksbr(m.how_met, autoescape=True)}'
                )
            else:
                parts.append("Not yet reported as met.")
            parts.append("</p>\n")
            row_forms = row["forms"]
            if row_forms:
                short = _truncated(m.text, 30)
                opened = " open" if row["open"] else ""
                for slug, form in row_forms.items():
                    edit = slug == "measure-edit"
                    style = "primary" if edit else "danger"
                    parts.append(
                        f'<details class="mt-2"{opened}>\n<summary class="small">{"Change" if edit else "Remove"} '
                        f"“{short}”</summary>\n"
                        f'<form method="post" action="{base}{esc(slug)}/" class="mt-2" novalidate>\n{csrf}\n'
                        f'{form_html(form)}\n<button type="submit" class="btn btn-sm btn-{style}">'
                        f"{'Save measure' if edit else 'Remove measure'}</button>\n</form>\n</details>\n"
                    )
            parts.append("</li>\n")
        parts.append("</ol>\n")
        if evidence_files:
            n = len(evidence_files)
            parts.append(
                f'<p class="small">Evidence on the plan: {n} file{"" if n == 1 else "s"} (listed under Evidence '
                "above).</p>\n"
            )
    else:
        parts.append("<p>No success measures yet.")
        if measure_add:
            parts.append(
                " Say what will be true when the finding is answered, with any target figure and demonstration period."
            )
        parts.append("</p>\n")
    if measure_add:
        parts.append(_add_form(measure_add, "measure-add", "Add a success measure", "Add measure", csrf, base))
    parts.append("</section>\n")
    return mark_safe("".join(parts))  # every value above is escaped
