"""`{{ form|fast_form }}` and `{{ field|fast_field }}`: crispy-forms' Bootstrap markup written in Python
(tracker/markup.py), for pages that show many forms."""

from typing import Any

from django import template
from django.utils.safestring import SafeString

from tracker import markup

register = template.Library()


@register.filter
def fast_form(form: Any) -> SafeString:
    return markup.form_html(form)


@register.filter
def fast_field(field: Any) -> SafeString:
    return markup.field_html(field)


@register.simple_tag
def plan_rows(plans: Any, *, user: Any, selectable: Any = False, show_organisation: Any = False,
              wait: Any = "") -> SafeString:  # fmt: skip
    """The body rows of includes/plan_table.html (tracker/markup.py)."""
    return markup.plan_rows(plans, user=user, selectable=selectable, show_organisation=show_organisation, wait=wait)


@register.simple_tag
def timeline_items(updates: Any) -> SafeString:
    """The items of a plan's timeline (tracker/markup.py)."""
    return markup.timeline_items(updates)


@register.simple_tag
def completion_rows(rows: Any, key: str) -> SafeString:
    """The body rows of includes/completion_table.html (tracker/markup.py)."""
    return markup.completion_rows(rows, key)


@register.simple_tag
def repeat_rows(rows: Any, name_key: str, label: str) -> SafeString:
    """The body rows of the dashboard's tables of repeats (tracker/markup.py)."""
    return markup.repeat_rows(rows, name_key, label)


@register.simple_tag(takes_context=True)
def plan_milestones(context: Any) -> SafeString:
    """A plan page's milestones section (tracker/markup.py)."""
    return markup.plan_milestones(
        milestones=context.get("milestones"), milestone_add=context.get("milestone_add"),
        milestone_error=context.get("milestone_error"), milestones_done=context.get("milestones_done"),
        plan=context.get("plan"), csrf_input=context.get("csrf_input"), action_base=context.get("action_base"),
    )  # fmt: skip


@register.simple_tag(takes_context=True)
def plan_measures(context: Any) -> SafeString:
    """A plan page's success measures section (tracker/markup.py)."""
    return markup.plan_measures(
        measures=context.get("measures"), measure_add=context.get("measure_add"),
        measure_error=context.get("measure_error"), sustaining=context.get("sustaining"),
        finding=context.get("finding"), evidence_files=context.get("evidence_files"),
        csrf_input=context.get("csrf_input"), action_base=context.get("action_base"),
    )  # fmt: skip
