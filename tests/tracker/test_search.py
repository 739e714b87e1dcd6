"""One search (`/search/`, `/api/v1/search/`): the index follows every write, readers see only what they
may, results are ranked and highlighted, filters narrow, any input is safe, queries stay constant."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inspections.models import Finding
from tests.factories import (
    ActionPlanFactory,
    EvidenceFactory,
    FindingFactory,
    InspectionFactory,
    StaffFactory,
    UpdateFactory,
)
from tracker.models import ActionPlan, SearchEntry, Update
from tracker.search import Filters, schema, search
from tracker.search.query import parse

pytestmark = pytest.mark.django_db


def entries(kind: str) -> dict[int, SearchEntry]:
    return {e.object_id: e for e in SearchEntry.objects.filter(kind=kind)}


def titles(results) -> list[str]:
    return [r.title for r in results.results]


def fts_intact() -> None:
    """SQLite: FTS5's own check that every table agrees with its content (a bad 'delete' corrupts it)."""
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            for kind in schema.KINDS:
                table = schema.fts_table(kind)
                cursor.execute(f"INSERT INTO {table}({table}, rank) VALUES ('integrity-check', 1)")


# --- the index follows writes ----------------------------------------------------------------------


def test_every_kind_of_text_is_indexed_when_written_and_follows_changes(org, other_org, staff, inspector):
    finding = FindingFactory(reference="R7", text="Refresh the serious organised crime local profile.")
    plan = ActionPlanFactory(finding=finding, organisation=org, summary="We will refresh the profile.")
    note = UpdateFactory(plan=plan, author=staff, note="Profile workshop held with partners.")
    comment = UpdateFactory(plan=plan, author=staff, kind=Update.Kind.COMMENT, note="Please attach the profile.")
    UpdateFactory(plan=plan, author=staff, kind=Update.Kind.STATUS, note="")  # nothing to index
    evidence = EvidenceFactory(update=note, original_name="profile-board_minutes.pdf")

    assert entries("finding")[finding.pk].body == "R7 Refresh the serious organised crime local profile."
    assert entries("finding")[finding.pk].date == finding.inspection.published_on
    assert entries("plan")[plan.pk].organisation_id == org.pk
    assert entries("note")[note.pk].body == "Profile workshop held with partners."
    assert entries("comment")[comment.pk].plan_id == plan.pk
    assert entries("evidence")[evidence.pk].body == "profile-board_minutes.pdf"
    assert SearchEntry.objects.count() == 5

    Finding.objects.filter(pk=finding.pk).update(text="Refresh the local profile every year.")
    assert "every year" in entries("finding")[finding.pk].body
    ActionPlan.objects.filter(pk=plan.pk).update(summary="")
    assert plan.pk not in entries("plan")  # an empty response is not searchable
    ActionPlan.objects.filter(pk=plan.pk).update(summary="Refreshed, with partners.")
    assert entries("plan")[plan.pk].body == "Refreshed, with partners."
    finding.inspection.published_on = dt.date(2020, 1, 31)
    finding.inspection.save()
    assert entries("finding")[finding.pk].date == dt.date(2020, 1, 31)
    fts_intact()

    # Moved to another organisation: every entry of the plan moves with it, so visibility never lags.
    ActionPlan.objects.filter(pk=plan.pk).update(organisation=other_org)
    assert set(SearchEntry.objects.filter(plan=plan).values_list("organisation_id", flat=True)) == {other_org.pk}
    assert not search(user=staff, text="profile").results or all(
        r.kind == "finding" for r in search(user=staff, text="profile").results
    )
    fts_intact()

    evidence.delete()
    Update.objects.filter(plan=plan).delete()
    plan.delete()
    assert set(SearchEntry.objects.values_list("kind", flat=True)) == {"finding"}
    finding.delete()
    assert not SearchEntry.objects.exists()
    fts_intact()


def test_a_moved_plan_is_found_by_its_new_organisation_and_a_changed_date_by_its_new_year(
    org, other_org, staff, other_staff
):
    """PostgreSQL narrows a reader's organisation and a date filter inside the index (the vector holds
    lexemes of both): a plan moved to another organisation, or a note whose date changes, must be found
    there, by the organisation's own people and by the new year, at once."""
    plan = ActionPlanFactory(organisation=org, summary="Recruit two analysts.")
    note = UpdateFactory(plan=plan, author=staff, note="Analysts interviewed.",
                         created_at=dt.datetime(2024, 3, 1, tzinfo=dt.UTC))  # fmt: skip
    assert search(user=staff, text="analysts").counts["note"] == 1
    assert search(user=other_staff, text="analysts").counts.get("note", 0) == 0

    ActionPlan.objects.filter(pk=plan.pk).update(organisation=other_org)
    assert search(user=other_staff, text="analysts").counts["note"] == 1
    assert search(user=other_staff, text="analysts").counts["plan"] == 1
    assert search(user=staff, text="analysts").counts.get("note", 0) == 0

    def in_year(year: int) -> int:
        filters = Filters(kind="note", date_from=dt.date(year, 1, 1), date_to=dt.date(year, 12, 31))
        return search(user=other_staff, text="analysts", filters=filters).counts["note"]

    assert (in_year(2024), in_year(2025)) == (1, 0)
    Update.objects.filter(pk=note.pk).update(created_at=dt.datetime(2025, 6, 1, tzinfo=dt.UTC))
    assert (in_year(2024), in_year(2025)) == (0, 1)


def test_a_search_of_stop_words_only_finds_nothing_whoever_searches(org, staff, inspector):
    """Narrowed to an organisation or dates, a query PostgreSQL reads as empty (stop words only) must still
    match nothing, not everything of the organisation. (SQLite has no stop words: no text here has them.)"""
    plan = ActionPlanFactory(organisation=org, summary="Recruit analysts.")
    UpdateFactory(plan=plan, author=staff, note="Analysts hired.")
    in_dates = Filters(date_from=dt.date(2000, 1, 1), date_to=dt.date(2030, 12, 31))
    for user, filters in ((staff, Filters()), (staff, in_dates), (inspector, in_dates)):
        assert search(user=user, text="the of", filters=filters).total == 0


def test_bulk_writes_are_indexed_too(org, staff):
    finding = FindingFactory(text="Recruit analysts.")
    plans = ActionPlan.objects.bulk_create(
        [ActionPlan(finding=finding, organisation=org, summary=f"Analysts plan {n}") for n in range(1)]
    )
    Update.objects.bulk_create([Update(plan=plans[0], author=staff, note=f"Analysts hired: {n}") for n in range(5)])
    assert SearchEntry.objects.filter(kind="note").count() == 5
    assert search(user=staff, text="hired").counts["note"] == 5


def test_rebuild_writes_the_same_index(org, staff):
    plan = ActionPlanFactory(organisation=org, summary="Vetting backlog cleared.")
    UpdateFactory(plan=plan, author=staff, note="Vetting team doubled.")
    before = sorted(SearchEntry.objects.values_list("kind", "object_id", "body"))
    schema.rebuild()
    assert sorted(SearchEntry.objects.values_list("kind", "object_id", "body")) == before
    assert search(user=staff, text="vetting").total == 2
    fts_intact()


def test_missing_triggers_are_put_back_and_the_index_rebuilt_after_migrate(org, staff):
    plan = ActionPlanFactory(organisation=org, summary="Vetting backlog cleared.")
    with connection.cursor() as cursor:  # as SQLite's table rebuild in a later migration would do
        drop = "DROP TRIGGER IF EXISTS tracker_search_plan_insert"
        cursor.execute(drop if connection.vendor == "sqlite" else drop + " ON tracker_actionplan")
    ActionPlanFactory(organisation=org, summary="Missed while the trigger was gone.")
    assert schema.ensure() is True
    assert schema.trigger_names(connection.vendor) <= schema.installed()
    assert search(user=staff, text="missed").total == 1
    assert schema.ensure() is False
    assert plan.pk in entries("plan")


# --- who sees what -------------------------------------------------------------------------------


@pytest.fixture
def two_sides(org, other_org, staff, other_staff):
    finding = FindingFactory(reference="R1", text="Analysts should be recruited in every force.")
    finding.addressed_to.set([org, other_org])
    sides = {}
    for organisation, person, marker in ((org, staff, "MARKERSURREY"), (other_org, other_staff, "MARKERHANTS")):
        plan = ActionPlanFactory(finding=finding, organisation=organisation, summary=f"Response {marker} analysts")
        note = UpdateFactory(plan=plan, author=person, note=f"Progress {marker} analysts")
        UpdateFactory(plan=plan, author=person, kind=Update.Kind.COMMENT, note=f"Comment {marker} analysts")
        EvidenceFactory(update=note, original_name=f"{marker}-analysts.pdf")
        sides[organisation.slug] = plan
    return sides


@pytest.mark.parametrize("role", ["staff", "manager"])
def test_an_organisation_never_finds_anothers_text(client, request, two_sides, role):
    user = request.getfixturevalue(role)  # Surrey
    client.force_login(user)
    for text in ("MARKERHANTS", "analysts", "MARKERHANTS OR MARKERSURREY", '"Progress MARKERHANTS"'):
        # What the page lists (the search words themselves are echoed, in the box and in links).
        results = client.get("/search/", {"q": text}).context["results"].results
        page = " ".join(f"{r.title} {r.snippet} {r.url}" for r in results)
        api = str(client.get("/api/v1/search/", {"q": text}).json()["results"])
        assert "MARKERHANTS" not in page and "MARKERHANTS" not in api
    found = search(user=user, text="analysts")
    assert found.counts == {"finding": 1, "plan": 1, "note": 1, "comment": 1, "evidence": 1}
    assert client.get("/search/", {"q": "analysts", "organisation": "hampshire"}).status_code == 400


def test_an_inspector_finds_every_organisations_text_and_can_narrow_to_one(inspector, two_sides, other_org):
    assert search(user=inspector, text="analysts").counts == {
        "finding": 1, "plan": 2, "note": 2, "comment": 2, "evidence": 2,
    }  # fmt: skip
    narrowed = search(user=inspector, text="analysts", filters=Filters(organisation_id=other_org.pk))
    assert narrowed.counts == {"finding": 1, "plan": 1, "note": 1, "comment": 1, "evidence": 1}
    assert all("MARKERSURREY" not in str(r.snippet) + r.title for r in narrowed.results)


def test_a_user_with_no_organisation_finds_only_findings(two_sides):
    # Such an account cannot be stored (a database constraint) nor stay signed in; if one existed:
    nobody = StaffFactory.build(organisation=None)
    found = search(user=nobody, text="analysts")
    assert found.counts == {"finding": 1}


# --- ranking, highlighting, filters -------------------------------------------------------------


def test_results_are_ranked_and_highlighted(inspector):
    FindingFactory(reference="R1", text="Intelligence analysts: the force needs analysts, more analysts.")
    FindingFactory(reference="R2", text="Governance should improve; one mention of analysts in a long text " * 3)
    found = search(user=inspector, text="analysts")
    assert titles(found)[0].startswith("R1")
    assert found.results[0].score > found.results[1].score
    assert "<mark>analysts</mark>" in str(found.results[0].snippet).lower()


def test_highlighting_escapes_the_text_it_marks(inspector):
    FindingFactory(text="<script>alert(1)</script> analysts & partners")
    snippet = str(search(user=inspector, text="analysts").results[0].snippet)
    # SQLite's snippet keeps the text (escaped here); PostgreSQL's headline drops what looks like tags.
    assert "<script>" not in snippet and "<mark>analysts</mark> &amp; partners" in snippet


def test_phrases_or_and_excluded_words(inspector):
    FindingFactory(reference="R1", text="Refresh the local profile with partners.")
    FindingFactory(reference="R2", text="The profile is local to one area.")
    FindingFactory(reference="R3", text="Vetting of new staff.")
    assert [t[:2] for t in titles(search(user=inspector, text='"local profile"'))] == ["R1"]
    assert sorted(t[:2] for t in titles(search(user=inspector, text="vetting OR partners"))) == ["R1", "R3"]
    assert [t[:2] for t in titles(search(user=inspector, text="profile -partners"))] == ["R2"]
    assert [t[:2] for t in titles(search(user=inspector, text="profiles"))] != []  # stemmed


def test_filters_by_kind_inspection_and_date(inspector, org, staff):
    early = InspectionFactory(slug="early", published_on=dt.date(2019, 5, 1))
    late = InspectionFactory(slug="late", published_on=dt.date(2025, 5, 1))
    FindingFactory(inspection=early, text="Analysts in 2019.")
    plan = ActionPlanFactory(finding=FindingFactory(inspection=late, text="Analysts in 2025."), organisation=org)
    UpdateFactory(plan=plan, author=staff, note="Analysts hired.", created_at=dt.datetime(2025, 7, 1, tzinfo=dt.UTC))
    assert search(user=inspector, text="analysts", filters=Filters(kind="note")).counts == {"note": 1}
    assert search(user=inspector, text="analysts", filters=Filters(inspection_id=early.pk)).total == 1
    in_2025 = Filters(date_from=dt.date(2025, 1, 1), date_to=dt.date(2025, 12, 31))
    assert search(user=inspector, text="analysts", filters=in_2025).counts == {
        "finding": 1, "plan": 0, "note": 1, "comment": 0, "evidence": 0,
    }  # fmt: skip
    june = Filters(date_from=dt.date(2025, 6, 1), date_to=dt.date(2025, 6, 30))
    assert search(user=inspector, text="analysts", filters=june).total == 0


def test_evidence_file_names_are_found_by_their_words(inspector, org, staff):
    note = UpdateFactory(plan=ActionPlanFactory(organisation=org), author=staff)
    EvidenceFactory(update=note, original_name="board_minutes-2025.03.pdf")
    found = search(user=inspector, text="minutes", filters=Filters(kind="evidence"))
    assert titles(found) and titles(found)[0].startswith("board_minutes-2025.03.pdf")
    assert found.results[0].url.startswith("/evidence/")


# --- the page and the API ------------------------------------------------------------------------


def test_an_empty_search_shows_how_to_search(client, staff):
    client.force_login(staff)
    for params in ({}, {"q": ""}, {"q": "   "}, {"q": "-only -excluded"}, {"q": '""'}):
        response = client.get("/search/", params)
        assert response.status_code == 200
        assert "How to search" in response.content.decode()


def test_the_header_has_a_search_box_on_every_page(client, staff):
    client.force_login(staff)
    page = client.get("/").content.decode()
    assert 'role="search"' in page and 'action="/search/"' in page and 'name="q"' in page


def test_the_page_lists_results_with_counts_per_kind(client, inspector, two_sides):
    client.force_login(inspector)
    page = client.get("/search/", {"q": "analysts"}).content.decode()
    assert "9 results" in page
    assert "Progress notes (2)" in page and "Evidence files (2)" in page
    assert "<mark>" in page


HOSTILE = [
    '"', '""', '"unclosed phrase', "AND", "OR", "NOT", "NEAR(a b)", "a* b^ c:", "col:value", "-", "--x",
    "(((", ")", "'", "';DROP TABLE tracker_update;--", "\\", "%", "_", "*", "{body}: x", "a OR OR b",
    "ünïcödé Ωμέγα 漢字 العربية 🚓", "\u200b\u202e", "x" * 10_000, "word " * 500, "\t\n\r",
]  # fmt: skip


@pytest.mark.parametrize("text", HOSTILE)
def test_no_input_makes_search_fail(client, inspector, two_sides, text):
    client.force_login(inspector)
    assert client.get("/search/", {"q": text}).status_code == 200
    assert client.get("/api/v1/search/", {"q": text}).status_code == 200


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=300))
def test_any_text_parses_into_a_query_each_database_accepts(inspector, text):
    FindingFactory(text="Analysts.")
    query = parse(text)
    assert len(query.groups) <= 10
    search(user=inspector, text=text)  # raises if the database refuses what parse() wrote


@pytest.mark.parametrize(
    "params",
    [
        {"q": "x", "kind": "nonsense"},
        {"q": "x", "inspection": "no-such-inspection"},
        {"q": "x", "date_from": "2024-02-30"},
        {"q": "x", "date_from": "2025-01-01", "date_to": "2024-01-01"},
        {"q": "x", "page": "0"},
        {"q": "x", "page": "99999999999999999999"},
    ],
)
def test_bad_filters_are_a_clear_error_not_a_failure(client, inspector, params):
    client.force_login(inspector)
    response = client.get("/search/", params)
    assert response.status_code == 400
    assert "The search could not be run" in response.content.decode()
    assert client.get("/api/v1/search/", params).status_code == 400


@pytest.mark.parametrize(("params", "name"), [({"q": "x", "organisation": "\x00"}, "organisation"),
                                              ({"q": "x\x00"}, "q")])  # fmt: skip
def test_a_nul_character_is_refused_before_the_search_naming_the_parameter(client, inspector, params, name):
    client.force_login(inspector)
    response = client.get("/search/", params)
    assert response.status_code == 400
    assert f"<code>{name}</code>: holds a NUL character" in response.content.decode()
    api = client.get("/api/v1/search/", params)
    assert api.status_code == 400 and "NUL" in api.json()[name][0]


def test_anonymous_users_are_sent_to_log_in(client):
    assert client.get("/search/?q=x")["Location"].startswith("/accounts/login/")
    assert client.get("/api/v1/search/?q=x").status_code in (401, 403)


def test_the_api_answers_json_with_counts_and_highlighted_results(client, inspector, two_sides):
    client.force_login(inspector)
    data = client.get("/api/v1/search/", {"q": "analysts", "kind": "plan"}).json()
    assert data["count"] == 2 and data["counts"] == {"plan": 2} and data["count_is_lower_bound"] is False
    assert {r["kind"] for r in data["results"]} == {"plan"}
    assert all(r["url"].startswith("http://testserver/plans/") and "<mark>" in r["snippet"] for r in data["results"])


@pytest.mark.parametrize("n", [2, 12])
def test_search_queries_do_not_grow_with_data(client, django_assert_max_num_queries, inspector, org, staff, n):
    for i in range(n):
        plan = ActionPlanFactory(organisation=org, summary=f"Analysts {i}")
        note = UpdateFactory(plan=plan, author=staff, note=f"Analysts hired {i}")
        UpdateFactory(plan=plan, author=staff, kind=Update.Kind.COMMENT, note=f"Analysts? {i}")
        EvidenceFactory(update=note, original_name=f"analysts-{i}.pdf")
    client.force_login(inspector)
    client.get("/accounts/")  # the session refresh of the first request
    # session, user, counts, page, highlights, the page's entries, their notes' authors, the form's
    # inspection and organisation choices
    with django_assert_max_num_queries(9):
        response = client.get("/search/", {"q": "analysts"})
    assert len(response.context["results"].results) == min(20, 4 * n + n)


def test_an_inspector_may_narrow_to_any_organisation_on_the_page(client, inspector, two_sides, other_org):
    client.force_login(inspector)
    response = client.get("/search/", {"q": "analysts", "organisation": other_org.slug, "kind": "plan"})
    assert response.status_code == 200
    assert response.context["results"].counts == {"plan": 1}
