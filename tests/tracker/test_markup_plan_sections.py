"""A plan page's milestones and success measures sections written in Python (tracker/markup.py:
`plan_milestones`, `plan_measures`) give the same HTML, up to white space, as the template they replaced,
for every state (done, open, overdue; with and without owners, dates, notes, demonstration periods), every
set of forms a reader may be shown, and failed submissions shown again with their errors (hypothesis)."""

from __future__ import annotations

import datetime as dt
import html
import re
from typing import Any

import pytest
from django.template import Context, Template
from django.utils.safestring import mark_safe
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from inspections.models import Finding
from tracker import actions, markup
from tracker.models import ActionPlan, Milestone, SuccessMeasure, Update, User, count_brought_forward
from tracker.views import _make_form

from ..factories import ActionPlanFactory, UpdateFactory

# The sections as templates/tracker/actionplan_detail.html wrote them.
OLD_MILESTONES = """{% load fast_forms %}
    {% if milestones or milestone_add %}
    <section aria-labelledby="milestones-heading" class="mb-4 milestones">
      <h2 id="milestones-heading" class="h4">Milestones{% if milestones %} <span class="fs-6 fw-normal text-body-secondary milestone-progress">{{ milestones_done }} of {{ milestones|length }} done</span>{% endif %}</h2>
      {% if milestone_error %}
      <div class="alert alert-danger" role="alert">
        <p class="mb-1 fw-semibold">The milestone was not changed:</p>
        <ul class="mb-0">{% for error in milestone_error.non_field_errors %}<li>{{ error }}</li>{% endfor %}{% for field in milestone_error %}{% for error in field.errors %}<li>{{ field.label }}: {{ error }}</li>{% endfor %}{% endfor %}</ul>
      </div>
      {% endif %}
      {% if milestones %}
      <ol class="list-group list-group-numbered mb-3">
        {% for row in milestones %}{% with m=row.milestone %}
        <li class="list-group-item milestone{% if m.done_on %} milestone-done{% elif row.overdue %} milestone-overdue{% endif %}" id="milestone-{{ m.pk }}">
          <span class="fw-semibold">{{ m.title }}</span>
          {% if m.done_on %}<span class="badge text-bg-success">Done <time datetime="{{ m.done_on|date:'Y-m-d' }}">{{ m.done_on|date:"j M Y" }}</time></span>{% elif row.overdue %}<span class="badge text-bg-warning">Overdue</span>{% endif %}
          <div class="small text-body-secondary">
            {% if m.owner %}Owner: {{ m.owner.get_full_name|default:m.owner.username }}{% else %}No owner{% endif %}
            · {% if m.target_date %}due <time datetime="{{ m.target_date|date:'Y-m-d' }}">{{ m.target_date|date:"j M Y" }}</time>{% else %}no date{% endif %}
          </div>
          {% if m.note %}<p class="small mb-1">{{ m.note|linebreaksbr }}</p>{% endif %}
          {% if row.forms %}
          <div class="d-flex flex-wrap gap-2 mt-2 align-items-start">
            {% for slug, form in row.forms.items %}
              {% if slug == "milestone-complete" %}
              <form method="post" action="{{ action_base }}{{ slug }}/" novalidate>
                {{ csrf_input }}{% for field in form.hidden_fields %}{{ field }}{% endfor %}
                <button type="submit" class="btn btn-sm btn-success">Mark “{{ m.title|truncatechars:30 }}” done</button>
              </form>
              {% elif slug == "milestone-move" %}
                {% if not row.first %}
                <form method="post" action="{{ action_base }}{{ slug }}/" novalidate>
                  {{ csrf_input }}<input type="hidden" name="milestone-move-milestone" value="{{ m.pk }}"><input type="hidden" name="milestone-move-version" value="{{ plan.version }}"><input type="hidden" name="milestone-move-direction" value="up">
                  <button type="submit" class="btn btn-sm btn-outline-secondary">Move up<span class="visually-hidden">: {{ m.title }}</span></button>
                </form>
                {% endif %}
                {% if not row.last %}
                <form method="post" action="{{ action_base }}{{ slug }}/" novalidate>
                  {{ csrf_input }}<input type="hidden" name="milestone-move-milestone" value="{{ m.pk }}"><input type="hidden" name="milestone-move-version" value="{{ plan.version }}"><input type="hidden" name="milestone-move-direction" value="down">
                  <button type="submit" class="btn btn-sm btn-outline-secondary">Move down<span class="visually-hidden">: {{ m.title }}</span></button>
                </form>
                {% endif %}
              {% endif %}
            {% endfor %}
          </div>
          {% for slug, form in row.forms.items %}{% if slug == "milestone-edit" or slug == "milestone-reopen" %}
          <details class="mt-2"{% if row.open %} open{% endif %}>
            <summary class="small">{% if slug == "milestone-edit" %}Change “{{ m.title|truncatechars:30 }}”{% else %}Reopen “{{ m.title|truncatechars:30 }}”{% endif %}</summary>
            <form method="post" action="{{ action_base }}{{ slug }}/" class="mt-2" novalidate>
              {{ csrf_input }}
              {{ form|fast_form }}
              <button type="submit" class="btn btn-sm btn-{% if slug == 'milestone-edit' %}primary{% else %}warning{% endif %}">{% if slug == "milestone-edit" %}Save milestone{% else %}Reopen milestone{% endif %}</button>
            </form>
          </details>
          {% endif %}{% endfor %}
          {% endif %}
        </li>
        {% endwith %}{% endfor %}
      </ol>
      {% else %}
      <p>No milestones yet. Break the plan into steps with their own owners and dates: its percentage then follows them.</p>
      {% endif %}
      {% if milestone_add %}
      <details class="action-form card" id="action-milestone-add"{% if milestone_add.open %} open{% endif %}>
        <summary class="card-header fw-semibold">Add a milestone</summary>
        <div class="card-body">
          <form method="post" action="{{ action_base }}milestone-add/" novalidate>
            {{ csrf_input }}
            {{ milestone_add.form|fast_form }}
            <button type="submit" class="btn btn-primary">Add milestone</button>
          </form>
        </div>
      </details>
      {% endif %}
    </section>
    {% endif %}
"""  # noqa: E501
OLD_MEASURES = """{% load fast_forms %}
    {% if measures or measure_add or finding.what_good_looks_like %}
    <section aria-labelledby="measures-heading" class="mb-4 measures">
      <h2 id="measures-heading" class="h4">Success measures</h2>
      {% if finding.what_good_looks_like %}
      <div class="card card-body mb-3 what-good-looks-like">
        <h3 class="h6">What good looks like, in the inspectorate's words</h3>
        <p class="mb-0">{{ finding.what_good_looks_like|linebreaksbr }}</p>
      </div>
      {% endif %}
      {% if sustaining %}
      <div class="alert alert-warning sustaining-alert" role="status">
        <p class="mb-0">Demonstration period: this plan cannot be verified as closed until {% for m in sustaining %}“{{ m.text }}” has been sustained until <time datetime="{{ m.sustain_until|date:'Y-m-d' }}">{{ m.sustain_until|date:"j M Y" }}</time>{% if not forloop.last %}; {% endif %}{% endfor %}.</p>
      </div>
      {% endif %}
      {% if measure_error %}
      <div class="alert alert-danger" role="alert">
        <p class="mb-1 fw-semibold">The success measure was not changed:</p>
        <ul class="mb-0">{% for error in measure_error.non_field_errors %}<li>{{ error }}</li>{% endfor %}{% for field in measure_error %}{% for error in field.errors %}<li>{{ field.label }}: {{ error }}</li>{% endfor %}{% endfor %}</ul>
      </div>
      {% endif %}
      {% if measures %}
      <ol class="list-group list-group-numbered mb-3">
        {% for row in measures %}{% with m=row.measure %}
        <li class="list-group-item measure" id="measure-{{ m.pk }}">
          <span class="fw-semibold">{{ m.text }}</span>
          <div class="small text-body-secondary">
            Target: {{ m.target_figure|default:"none given" }}
            · {% if m.sustain_until %}sustained until <time datetime="{{ m.sustain_until|date:'Y-m-d' }}">{{ m.sustain_until|date:"j M Y" }}</time>{% if row.sustaining %} <span class="badge text-bg-warning">Demonstration period</span>{% endif %}{% else %}no demonstration period{% endif %}
          </div>
          <p class="small mb-1 how-met">{% if m.how_met %}<span class="fw-semibold">How it was met:</span> {{ m.how_met|linebreaksbr }}{% else %}Not yet reported as met.{% endif %}</p>
          {% for slug, form in row.forms.items %}
          <details class="mt-2"{% if row.open %} open{% endif %}>
            <summary class="small">{% if slug == "measure-edit" %}Change{% else %}Remove{% endif %} “{{ m.text|truncatechars:30 }}”</summary>
            <form method="post" action="{{ action_base }}{{ slug }}/" class="mt-2" novalidate>
              {{ csrf_input }}
              {{ form|fast_form }}
              <button type="submit" class="btn btn-sm btn-{% if slug == 'measure-edit' %}primary{% else %}danger{% endif %}">{% if slug == "measure-edit" %}Save measure{% else %}Remove measure{% endif %}</button>
            </form>
          </details>
          {% endfor %}
        </li>
        {% endwith %}{% endfor %}
      </ol>
      {% if evidence_files %}<p class="small">Evidence on the plan: {{ evidence_files|length }} file{{ evidence_files|length|pluralize }} (listed under Evidence above).</p>{% endif %}
      {% else %}
      <p>No success measures yet.{% if measure_add %} Say what will be true when the finding is answered, with any target figure and demonstration period.{% endif %}</p>
      {% endif %}
      {% if measure_add %}
      <details class="action-form card" id="action-measure-add"{% if measure_add.open %} open{% endif %}>
        <summary class="card-header fw-semibold">Add a success measure</summary>
        <div class="card-body">
          <form method="post" action="{{ action_base }}measure-add/" novalidate>
            {{ csrf_input }}
            {{ measure_add.form|fast_form }}
            <button type="submit" class="btn btn-primary">Add measure</button>
          </form>
        </div>
      </details>
      {% endif %}
    </section>
    {% endif %}
"""  # noqa: E501

CSRF = mark_safe('<input type="hidden" name="csrfmiddlewaretoken" value="token">')
BASE = "/plans/7/"
TODAY = dt.date(2026, 11, 30)


def _same(html: str) -> str:
    """White space between and inside tags does not change what HTML means."""
    html = re.sub(r"\s+", " ", str(html)).strip()
    return re.sub(r"\s*(<|>)\s*", r"\1", html)


# Text with what must be escaped, line breaks (`linebreaksbr`) and more than 30 letters (`truncatechars`).
text = st.text(alphabet=st.sampled_from(list("ab <>&\"'\n“é")), min_size=1, max_size=40)
maybe_text = st.one_of(st.just(""), text)
day = st.one_of(st.none(), st.dates(min_value=dt.date(999, 1, 1), max_value=dt.date(2040, 12, 31)))
person = st.one_of(
    st.none(),
    st.tuples(maybe_text, maybe_text, st.text(alphabet="abc<&", min_size=1, max_size=8)),
)


def _form(plan: ActionPlan, slug: str, pk: int, invalid: bool, owner_choices: list[tuple[Any, str]]) -> Any:
    """The form of `slug` as the page builds it (or sent with errors, as a failed submission comes back)."""
    spec = actions.ACTIONS[slug]
    if invalid:
        data = {f"{slug}-milestone": "999999", f"{slug}-measure": "999999", f"{slug}-version": "x",
                f"{slug}-direction": "sideways", f"{slug}-target_date": "not a date", f"{slug}-done_on": "never",
                f"{slug}-sustain_until": "soon"}  # fmt: skip
        form = _make_form(spec, plan, data)
        assert not form.is_valid()
    else:
        key = "measure" if slug.startswith("measure") else "milestone"
        initial = {} if slug.endswith("-add") else {key: pk}
        form = _make_form(spec, plan, initial=initial, auto_id=f"x{pk}-{slug}-%s")
    if "owner" in form.fields:
        form.fields["owner"].choices = [("", form.fields["owner"].empty_label), *owner_choices]
    return form


milestone = st.fixed_dictionaries({
    "title": text, "owner": person, "target_date": day, "done_on": day, "note": maybe_text,
    "overdue": st.booleans(), "open": st.booleans(),
    "forms": st.lists(st.sampled_from(["milestone-complete", "milestone-move", "milestone-edit", "milestone-reopen"]),
                      unique=True),
    "invalid": st.sampled_from([None, "milestone-edit", "milestone-complete", "milestone-reopen", "milestone-move"]),
})  # fmt: skip
measure = st.fixed_dictionaries({
    "text": text, "target_figure": maybe_text, "sustain_until": day, "how_met": maybe_text,
    "sustaining": st.booleans(), "open": st.booleans(),
    "forms": st.lists(st.sampled_from(["measure-edit", "measure-remove"]), unique=True),
    "invalid": st.sampled_from([None, "measure-edit", "measure-remove"]),
})  # fmt: skip
adding = st.one_of(st.none(), st.fixed_dictionaries({"open": st.booleans(), "invalid": st.booleans()}))


def _owner(spec: Any, pk: int) -> User | None:
    if spec is None:
        return None
    first, last, username = spec
    return User(pk=pk, first_name=first, last_name=last, username=username)


def _milestones_context(plan: ActionPlan, drawn: dict[str, Any]) -> dict[str, Any]:
    owners = [(900 + n, f"Person <{n}> & co") for n in range(3)]
    rows, error = [], None
    for n, spec in enumerate(drawn["milestones"]):
        m = Milestone(pk=100 + n, plan=plan, title=spec["title"], target_date=spec["target_date"],
                      done_on=spec["done_on"], note=spec["note"], owner=_owner(spec["owner"], 500 + n))  # fmt: skip
        forms = {}
        for slug in spec["forms"]:
            invalid = spec["invalid"] == slug
            forms[slug] = (
                None if slug == "milestone-move" and not invalid else _form(plan, slug, m.pk, invalid, owners)
            )
            if invalid:
                error = forms[slug]
        rows.append({"milestone": m, "overdue": spec["overdue"], "forms": forms, "first": n == 0,
                     "last": n == len(drawn["milestones"]) - 1, "open": spec["open"]})  # fmt: skip
    add = drawn["add"]
    if add is not None:
        add = {"form": _form(plan, "milestone-add", 0, add["invalid"], owners), "open": add["open"]}
        error = error or (add["form"] if add["form"].is_bound else None)
    return {
        "milestones": rows, "milestone_add": add, "milestone_error": error,
        "milestones_done": sum(1 for row in rows if row["milestone"].done_on), "plan": plan,
        "csrf_input": CSRF, "action_base": BASE,
    }  # fmt: skip


def _measures_context(plan: ActionPlan, drawn: dict[str, Any]) -> dict[str, Any]:
    rows, error, sustaining = [], None, []
    for n, spec in enumerate(drawn["measures"]):
        m = SuccessMeasure(pk=200 + n, plan=plan, text=spec["text"], target_figure=spec["target_figure"],
                           sustain_until=spec["sustain_until"], how_met=spec["how_met"])  # fmt: skip
        forms = {}
        for slug in spec["forms"]:
            forms[slug] = _form(plan, slug, m.pk, spec["invalid"] == slug, [])
            if spec["invalid"] == slug:
                error = forms[slug]
        rows.append({"measure": m, "sustaining": spec["sustaining"], "forms": forms, "open": spec["open"]})
        if m.sustain_until and m.is_sustaining_on(TODAY):
            sustaining.append(m)
    add = drawn["add"]
    if add is not None:
        add = {"form": _form(plan, "measure-add", 0, add["invalid"], []), "open": add["open"]}
        error = error or (add["form"] if add["form"].is_bound else None)
    return {
        "measures": rows, "measure_add": add, "measure_error": error, "sustaining": sustaining,
        "finding": Finding(what_good_looks_like=drawn["good"]), "evidence_files": [object()] * drawn["files"],
        "csrf_input": CSRF, "action_base": BASE,
    }  # fmt: skip


EXAMPLES = 60
SLOW = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large]


@pytest.mark.django_db
@hypothesis_settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=SLOW)
@given(drawn=st.fixed_dictionaries({"milestones": st.lists(milestone, max_size=4), "add": adding}))
def test_the_milestones_section_is_that_of_the_template(plan, drawn):
    expected = Template(OLD_MILESTONES).render(Context(_milestones_context(plan, drawn)))
    written = markup.plan_milestones(**_milestones_context(plan, drawn))
    assert _same(written) == _same(expected)
    for row in drawn["milestones"]:  # each title escaped, as the template's autoescaping did
        assert f'<span class="fw-semibold">{html.escape(row["title"])}</span>' in written


@pytest.mark.django_db
@hypothesis_settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=SLOW)
@given(drawn=st.fixed_dictionaries({
    "measures": st.lists(measure, max_size=4), "add": adding, "good": maybe_text, "files": st.integers(0, 2),
}))  # fmt: skip
def test_the_success_measures_section_is_that_of_the_template(plan, drawn):
    expected = Template(OLD_MEASURES).render(Context(_measures_context(plan, drawn)))
    written = markup.plan_measures(**_measures_context(plan, drawn))
    assert _same(written) == _same(expected)


@pytest.mark.django_db
def test_the_sections_show_each_state_and_escape_what_they_show(plan):
    """A few fixed cases that the comparison above must have met: the states read as they should."""
    drawn = {
        "milestones": [
            {"title": "Recruit <analysts> & train them for the new unit", "owner": ("Ann", "Lee", "ann"),
             "target_date": dt.date(2026, 1, 2), "done_on": None, "note": "line one\nline <two>", "overdue": True,
             "open": True, "forms": ["milestone-complete", "milestone-move", "milestone-edit"], "invalid": None},
            {"title": "Done one", "owner": None, "target_date": None, "done_on": dt.date(2025, 3, 4), "note": "",
             "overdue": False, "open": False, "forms": ["milestone-move", "milestone-reopen"],
             "invalid": "milestone-reopen"},
        ],
        "add": {"open": False, "invalid": False},
    }  # fmt: skip
    page = markup.plan_milestones(**_milestones_context(plan, drawn))
    assert "1 of 2 done" in page and "milestone-overdue" in page and "milestone-done" in page
    assert "Recruit &lt;analysts&gt; &amp; train them" in page and "<analysts>" not in page
    assert "Mark “Recruit &lt;analysts&gt; &amp; train th…” done" in page
    assert 'Done <time datetime="2025-03-04">4 Mar 2025</time>' in page and "No owner" in page and "no date" in page
    assert "line one<br>line &lt;two&gt;" in page and "Owner: Ann Lee" in page
    assert page.count('value="up"') == 1 and page.count('value="down"') == 1  # the first moves down, the last up
    assert "The milestone was not changed:" in page and "Add a milestone" in page
    assert markup.plan_milestones(**_milestones_context(plan, {"milestones": [], "add": None})) == ""
    measures = {
        "measures": [{"text": "Calls answered", "target_figure": "", "sustain_until": dt.date(2027, 1, 1),
                      "how_met": "", "sustaining": True, "open": False, "forms": ["measure-edit", "measure-remove"],
                      "invalid": None}],
        "add": None, "good": "Fewer <delays>", "files": 1,
    }  # fmt: skip
    page = markup.plan_measures(**_measures_context(plan, measures))
    assert "Target: none given" in page and "Demonstration period</span>" in page
    assert "Fewer &lt;delays&gt;" in page and "1 file (listed" in page and "Not yet reported as met." in page
    assert "“Calls answered” has been sustained until" in page and "Remove measure" in page


@pytest.mark.django_db
def test_dates_brought_forward_are_counted_in_the_timeline_as_the_database_counts_them(org):
    plan = ActionPlanFactory(organisation=org)
    moves = [(dt.date(2026, 5, 1), dt.date(2026, 4, 1)), (dt.date(2026, 4, 1), dt.date(2026, 6, 1)),
             (None, dt.date(2026, 3, 1)), (dt.date(2026, 6, 1), dt.date(2026, 2, 1))]  # fmt: skip
    for before, after in moves:
        UpdateFactory(plan=plan, kind=Update.Kind.TARGET_DATE, target_date_from=before, target_date_to=after)
    UpdateFactory(plan=plan, kind=Update.Kind.COMMENT, target_date_from=dt.date(2026, 9, 1),
                  target_date_to=dt.date(2026, 1, 1))  # fmt: skip
    counted = count_brought_forward(plan.updates.all())
    assert counted == 2
    assert counted == ActionPlan.objects.for_detail().get(pk=plan.pk).brought_forward_count
    assert not hasattr(ActionPlan.objects.for_detail(brought_forward=False).get(pk=plan.pk), "brought_forward_value")
