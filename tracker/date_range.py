"""The range of dates the tracker accepts from people and files: one home for it.

Every date a person types (on a page, through the API, in a bulk action, in the admin) or a file brings
(the findings import, its milestones) must fall between `EARLIEST` and the last day of the year
`YEARS_AHEAD` years from today. Each action's own rule still applies on top of this one: a milestone is
not done on a day still to come, a new target date is today or later, a response does not predate its
report.

Why these bounds:

- 1 January 2000: the inspections, findings and action plans the tracker holds are all from this
  century; a year before it is a slip of the keyboard (0202 for 2022), a spreadsheet's empty date
  (its day 0 is in 1899 or 1900) or a placeholder such as 0001-01-01. Such a date would read as
  "since 1 Jan 0001" in a board pack, skew every figure counted in days, and has no date serial a
  spreadsheet can show, so exports would write "#####".
- 31 December, 25 years ahead: long-term commitments (a ten-year strategy, a demonstration period of a
  few years) fit well inside it, while 9999-12-31 or 2205 for 2025 do not, and would count as a
  deferral of millions of days. Counting whole years from today keeps the rule easy to say and moves it
  on by itself each new year.

`check` refuses a date outside the range with the range in plain words ("Enter a date between 1 January
2000 and 31 December 2051."); `check_fields` does the same for a workflow function's named arguments,
so the refusal is a field error on the page's form and in the API's answer.
"""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.formats import date_format

EARLIEST = dt.date(2000, 1, 1)
YEARS_AHEAD = 25
CODE = "date_range"
# The range in words that do not change from day to day (the API's field descriptions).
DESCRIBED = f"from {EARLIEST.day} {EARLIEST:%B %Y} to 31 December {YEARS_AHEAD} years ahead"


def accepted(today: dt.date | None = None) -> tuple[dt.date, dt.date]:
    """The first and the last date accepted (both included), as of `today`."""
    today = today or timezone.localdate()
    return EARLIEST, dt.date(today.year + YEARS_AHEAD, 12, 31)


def is_accepted(value: dt.date, today: dt.date | None = None) -> bool:
    first, last = accepted(today)
    return first <= value <= last


def range_words(today: dt.date | None = None) -> str:
    """ "between 1 January 2000 and 31 December 2051"."""
    first, last = accepted(today)
    return f"between {date_format(first, 'j F Y')} and {date_format(last, 'j F Y')}"


def message(today: dt.date | None = None) -> str:
    return f"Enter a date {range_words(today)}."


def check(value: dt.date | None, today: dt.date | None = None) -> None:
    """Refuse a date outside the accepted range (none given is not this rule's business). Usable as a
    form field's validator."""
    if value is not None and not is_accepted(value, today):
        raise ValidationError(message(today), code=CODE)


def check_fields(*, today: dt.date | None = None, **values: dt.date | None) -> None:
    """Refuse dates outside the accepted range, each error under the name of its field (a workflow
    function's argument, named as its form's and serializer's field)."""
    errors = {}
    for name, value in values.items():
        try:
            check(value, today)
        except ValidationError as error:
            errors[name] = error
    if errors:
        raise ValidationError(errors)
