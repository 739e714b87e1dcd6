"""Which matches a search ranks when a kind has many: at most COUNT_LIMIT are counted ("1,000+" above
it), all of them are ranked up to that, and above it the newest CANDIDATES. Small limits here stand for
1,000 and 300, so that both ways of reading each database are taken: a query of words only, a phrase,
`OR`, an excluded word, and dates. Runs on SQLite and on PostgreSQL (DATABASE_URL)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.utils import timezone

from tests.factories import ActionPlanFactory, InspectorFactory, ManagerFactory, UpdateFactory
from tracker.models import SearchEntry
from tracker.search import Filters, engine, search

pytestmark = pytest.mark.django_db


@pytest.fixture
def small_limits(monkeypatch):
    import tracker.search

    for module in (engine, tracker.search):
        monkeypatch.setattr(module, "COUNT_LIMIT", 4)
        monkeypatch.setattr(module, "CANDIDATES", 2)


def notes(plan, count, text, *, day=None):
    made = []
    for index in range(count):
        update = UpdateFactory(plan=plan, note=f"{text} ({index})")
        if day is not None:
            update.created_at = timezone.make_aware(dt.datetime.combine(day, dt.time(12)))
            update.save(update_fields=["created_at"])
        made.append(update)
    return made


def ranked(made):
    """Up to the count limit PostgreSQL ranks every match (its GIN index gave them all); SQLite ranks the
    newest CANDIDATES (FTS5 reads its index newest first)."""
    return made if connection.vendor == "postgresql" else made[-2:]


def note_ids(results):
    return sorted(int(r.url.rsplit("#update-", 1)[1]) for r in results.results if r.kind == "note")


@pytest.mark.parametrize(
    "text",
    ["analysts", "intelligence analysts", '"intelligence analysts"', "analysts OR auditors", "analysts -auditors"],
)
def test_above_the_count_limit_the_newest_candidates_are_ranked(small_limits, text):
    plan = ActionPlanFactory()
    made = notes(plan, 7, "More intelligence analysts were recruited")
    result = search(user=InspectorFactory(), text=text, filters=Filters(kind="note"))
    assert result.counts == {"note": 5} and result.capped  # 4 counted, "more"
    assert note_ids(result) == sorted(u.pk for u in made[-2:])


@pytest.mark.parametrize("text", ["analysts", '"intelligence analysts"', "analysts OR auditors"])
def test_up_to_the_count_limit_every_match_is_ranked(small_limits, text):
    plan = ActionPlanFactory()
    made = notes(plan, 4, "More intelligence analysts were recruited")
    notes(plan, 3, "Nothing to do with it")
    result = search(user=InspectorFactory(), text=text, filters=Filters(kind="note"))
    assert result.counts == {"note": 4} and not result.capped
    assert note_ids(result) == sorted(u.pk for u in ranked(made))


def test_with_dates_the_newest_of_those_dates_are_ranked(small_limits):
    plan = ActionPlanFactory()
    in_2024 = notes(plan, 6, "Analysts appointed", day=dt.date(2024, 3, 1))
    notes(plan, 3, "Analysts appointed", day=dt.date(2025, 3, 1))  # later, outside the dates
    filters = Filters(kind="note", date_from=dt.date(2024, 1, 1), date_to=dt.date(2024, 12, 31))
    result = search(user=InspectorFactory(), text="analysts", filters=filters)
    assert result.counts == {"note": 5}
    entries = SearchEntry.objects.filter(kind="note", object_id__in=[u.pk for u in in_2024]).order_by("-date", "-id")
    assert note_ids(result) == sorted(entries.values_list("object_id", flat=True)[:2])


def test_a_manager_is_counted_and_ranked_only_their_organisations_matches(small_limits):
    mine, theirs = ActionPlanFactory(), ActionPlanFactory()
    own = notes(mine, 3, "Analysts appointed")
    notes(theirs, 6, "Analysts appointed")  # newer, and many: never counted or ranked for this manager
    result = search(user=ManagerFactory(organisation=mine.organisation), text="analysts", filters=Filters(kind="note"))
    assert result.counts == {"note": 3}
    assert note_ids(result) == sorted(u.pk for u in ranked(own))
