"""How good suggested links are, measured on a labelled set of realistic repeats (docs/SEARCH.md).

Each labelled case is a finding an inspectorate might write at a later inspection, in its own words,
repeating one finding of the demo's 2024 inspection (or its 2025 revisit), addressed as a real repeat
would be. `measure()` asks `tracker.suggestions.suggest` for each, as the import preview does, and
counts how often the true earlier finding is first and among the top three, and the precision of
the top three (the share of the suggestions shown that are the true repeat).

Run on the demo data: `manage.py shell -c "from devdata.suggestion_quality import report; report()"`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from inspections.models import Finding, Organisation
from tracker import suggestions

from . import vocabulary

# (new text, addressees, (inspection slug, reference) it repeats), from words/suggestion_cases.json
LABELLED: list[tuple[str, tuple[str, ...], tuple[str, str]]] = [
    (case["text"], tuple(case["addressees"]), (case["repeats"][0], case["repeats"][1]))
    for case in vocabulary.data("suggestion_cases.json")
]


@dataclass
class Result:
    queries: int
    first: int  # the true repeat ranked first
    found_in_top3: int  # the true repeat among the top three
    shown: int  # suggestions shown in all (at most three a case)

    @property
    def precision_at_3(self) -> float:
        return self.found_in_top3 / self.shown if self.shown else 0.0


def measure(published_on: dt.date = dt.date(2026, 6, 30)) -> Result:
    result = Result(0, 0, 0, 0)
    for text, addressees, (slug, reference) in LABELLED:
        expected = Finding.objects.get(inspection__slug=slug, reference=reference)
        found = suggestions.suggest(
            text=text,
            organisation_ids=Organisation.objects.filter(slug__in=addressees).values_list("pk", flat=True),
            published_on=published_on,
        )
        earlier = [s.earlier.pk for s in found]
        result.queries += 1
        result.shown += len(earlier)
        result.first += bool(earlier) and earlier[0] == expected.pk
        result.found_in_top3 += expected.pk in earlier
    return result


def report() -> None:
    result = measure()
    print(
        f"{result.queries} labelled repeats: true repeat first {result.first}, in the top three "
        f"{result.found_in_top3}; {result.shown} suggestions shown, precision of the top three "
        f"{result.precision_at_3:.2f}"
    )
