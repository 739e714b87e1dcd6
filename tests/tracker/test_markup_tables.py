"""The dashboard's tables of figures written in Python (tracker/markup.py: `completion_rows`, `repeat_rows`)
give the same HTML, up to white space, as the template loops they replaced, every value escaped."""

from __future__ import annotations

import re

from django.template import Context, Template

from tracker import markup
from tracker.figures import cell, pct, plans_link

# The loops as the templates wrote them (includes/completion_table.html, tracker/dashboard.html).
COMPLETION_LOOP = """{% for row in rows %}
    <tr>
      <th scope="row">{% if key == "region" %}{{ row.region }}{% else %}{{ row.finding__themes__name }}{% endif %}</th>
      <td><a href="{{ row.links.total }}">{{ row.total }}</a></td>
      <td><a href="{{ row.links.with_force }}">{{ row.with_force }}</a></td>
      <td>{% if row.overdue %}<strong class="overdue-count"><a href="{{ row.links.overdue }}">{{ row.overdue }}</a></strong>{% else %}<a href="{{ row.links.overdue }}">0</a>{% endif %}</td>
      <td><a href="{{ row.links.awaiting_verification }}">{{ row.awaiting_verification }}</a></td>
      <td><a href="{{ row.links.verified }}">{{ row.verified }}</a> ({{ row.verified_pct }}%<span class="visually-hidden"> of {{ row.total }}</span>)</td>
      <td><a href="{{ row.links.ended }}">{{ row.ended }}</a></td>
      <td><a href="{{ row.links.reported }}">{{ row.reported }}</a> ({{ row.reported_pct }}%<span class="visually-hidden"> of {{ row.total }}</span>)</td>
    </tr>
  {% endfor %}"""  # noqa: E501
REPEAT_LOOP = """{% for row in rows %}<tr><th scope="row" data-label="{{ label }}">{{ row.name }}</th><td data-label="Repeats"><a href="{{ row.links.repeats }}">{{ row.repeats }}</a></td><td data-label="Recurrences"><a href="{{ row.links.recurrences }}">{{ row.recurrences }}</a></td><td data-label="Repeat rate">{{ row.rate }}% of <a href="{{ row.links.total }}">{{ row.total }}</a></td></tr>{% endfor %}"""  # noqa: E501


def _same(html: str) -> str:
    html = re.sub(r"\s+", " ", str(html)).strip()
    return re.sub(r"\s*(<|>)\s*", r"\1", html)


def _figures(name_key: str, name: str, overdue: int, **scope: str) -> dict:
    row = {"with_force": 7 + overdue, "awaiting_verification": 300, "verified": 1234, "ended": 0, "overdue": overdue}
    row |= {"total": sum(row[k] for k in ("with_force", "awaiting_verification", "verified", "ended"))}
    row |= {"reported": row["awaiting_verification"] + row["verified"], name_key: name}
    return cell(row, **scope)


def test_the_completion_rows_are_those_of_the_template():
    for key in ("region", "finding__themes__name"):
        rows = [
            _figures(key, 'South & "East" <b>', 5, region="s&e"),
            _figures(key, "North", 0, organisation="o'1", theme="t<1>"),
        ]
        expected = Template(COMPLETION_LOOP).render(Context({"rows": rows, "key": key}))
        written = markup.completion_rows(rows, key)
        assert _same(written) == _same(expected)
        assert "South &amp; &quot;East&quot; &lt;b&gt;" in written and "s%26e&amp;stage=" in written
    assert markup.completion_rows([], "region") == ""


def test_the_repeat_rows_are_those_of_the_template():
    for name_key, label in (("organisation__name", "Organisation"), ("finding__themes__name", "Theme")):
        rows = [
            {name_key: name, "repeats": repeats, "recurrences": recurrences, "total": total,
             "rate": pct(repeats, total),
             "links": {"repeats": plans_link(organisation=slug, repeat=1),
                       "recurrences": plans_link(organisation=slug, recurrence=1),
                       "total": plans_link(organisation=slug)}}
            for name, slug, repeats, recurrences, total in (
                ('Kent & "Medway" <i>', "k&m", 12, 3, 4000), ("Surrey", "surrey", 1, 0, 3),
            )
        ]  # fmt: skip
        shown = [{**row, "name": row[name_key]} for row in rows]
        expected = Template(REPEAT_LOOP).render(Context({"rows": shown, "label": label}))
        written = markup.repeat_rows(rows, name_key, label)
        assert _same(written) == _same(expected)
        assert "Kent &amp; &quot;Medway&quot; &lt;i&gt;" in written and "organisation=k%26m&amp;repeat=1" in written
