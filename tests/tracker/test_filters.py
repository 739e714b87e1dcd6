"""`/plans/`: every filter alone and combined, sorting, paging, the result count, htmx, scoping, query counts."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone
from django.utils.safestring import mark_safe
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.factories import ActionPlanFactory, InspectorFactory, ManagerFactory, OrganisationFactory
from tests.tracker.plan_world import EVERYONE, HAMPSHIRE, SURREY, build_world
from tracker.filters import QUEUE_SORTS, SORTS
from tracker.models import ActionPlan, Update

pytestmark = pytest.mark.django_db
S = ActionPlan.Status


@pytest.fixture
def world(org, other_org, staff, manager, other_staff):
    return build_world(org=org, other_org=other_org, staff=staff, manager=manager, other_staff=other_staff)


def listed(client, query: str) -> tuple[set[int], int]:
    """The ids on the first page of /plans/?query and the count the page announces."""
    response = client.get("/plans/?" + query)
    assert response.status_code == 200
    shown = re.search(r'class="result-count"><strong>(\d+)</strong>', response.content.decode())
    assert shown is not None
    ids = [plan.pk for plan in response.context["object_list"]]
    assert len(ids) == len(set(ids)), "a plan is listed twice"
    assert int(shown.group(1)) == response.context["paginator"].count
    return set(ids), int(shown.group(1))


# (query string, the plans an inspector gets). See plan_world for what each plan is.
CASES = [
    ("", EVERYONE),
    # organisation, region, inspection, kind
    ("organisation=surrey", SURREY),
    ("organisation=hampshire", HAMPSHIRE),
    ("inspection=soc", {"s_coc", "s_r1", "s_afi", "h_coc", "h_r1", "h_afi", "e_r1"}),
    ("inspection=peel", {"s_peel_r1", "s_peel_afi", "h_peel_r1", "n_afi"}),
    ("kind=cause_of_concern", {"s_coc", "h_coc"}),
    ("kind=recommendation", {"s_r1", "s_peel_r1", "h_r1", "h_peel_r1", "e_r1"}),
    ("kind=area_for_improvement", {"s_afi", "s_peel_afi", "h_afi", "n_afi"}),
    # status: one, several
    ("status=in_progress", {"s_coc", "h_r1", "e_r1", "n_afi"}),
    ("status=in_progress&status=blocked", {"s_coc", "s_r1", "h_r1", "e_r1", "n_afi"}),
    ("status=closed&status=superseded&status=no_further_action", {"s_peel_r1", "h_afi", "h_peel_r1"}),
    # theme (a finding may have several themes)
    ("theme=intelligence", {"s_coc", "s_r1", "h_coc", "h_r1", "e_r1"}),
    ("theme=workforce", {"s_r1", "h_r1", "e_r1", "s_afi", "h_afi", "s_peel_afi", "n_afi"}),
    # RAG, derived: today-5 and today-1 are red; blocked and today+30 under 75% amber; today+31 green;
    # signed off past its date green; finished grey
    ("rag=red", {"s_coc", "h_coc"}),
    ("rag=amber", {"s_r1", "h_r1"}),
    ("rag=green", {"s_afi", "s_peel_afi", "e_r1", "n_afi"}),
    ("rag=grey", {"s_peel_r1", "h_afi", "h_peel_r1"}),
    # overdue: past the target date and not yet signed off (a signed-off plan past its date is not)
    ("overdue=1", {"s_coc", "h_coc"}),
    ("overdue=", EVERYONE),
    ("overdue=true", {"s_coc", "h_coc"}),
    ("overdue=0", EVERYONE),
    ("overdue=false", EVERYONE),
    ("deferred=1", {"s_peel_afi"}),
    ("deferred=0", EVERYONE),
    # owner: "unassigned" includes plans whose owner has left
    ("owner=unassigned", {"s_r1", "s_peel_afi", "h_afi", "h_peel_r1", "e_r1", "n_afi"}),
    ("owner=me", set()),
    # q: finding text, reference (from its start) and response, any case, surrounding spaces ignored
    ("q=analysts", {"s_afi", "h_afi"}),
    ("q=ANALYSTS", {"s_afi", "h_afi"}),
    ("q=partners", {"h_r1"}),
    ("q=+threat+", {"s_coc", "h_coc"}),
    ("q=AFI", {"s_afi", "s_peel_afi", "h_afi", "n_afi"}),
    ("q=coc1", {"s_coc", "h_coc"}),
    ("q=nothing+matches+this", set()),
    # combined
    ("organisation=surrey&status=in_progress&status=blocked", {"s_coc", "s_r1"}),
    ("inspection=soc&kind=recommendation&rag=amber", {"s_r1", "h_r1"}),
    ("theme=intelligence&overdue=1", {"s_coc", "h_coc"}),
    ("theme=intelligence&overdue=1&organisation=hampshire", {"h_coc"}),
    ("inspection=peel&owner=unassigned&status=not_started&status=no_further_action", {"s_peel_afi", "h_peel_r1"}),
    ("q=threat&rag=red&kind=cause_of_concern&inspection=soc", {"s_coc", "h_coc"}),
    ("deferred=1&organisation=hampshire", set()),
    ("theme=workforce&kind=area_for_improvement&rag=green&sort=-updated", {"s_afi", "s_peel_afi", "n_afi"}),
]
# Inspectors only: managers and staff have one organisation, so one region.
REGION_CASES = [
    ("region=south-east", SURREY | HAMPSHIRE),
    ("region=eastern", {"e_r1"}),
    ("region=none", {"n_afi"}),
    ("region=south-east&status=in_progress", {"s_coc", "h_r1"}),
    ("region=eastern&inspection=peel", set()),
]


@pytest.mark.parametrize(
    ("query", "expected"), CASES + REGION_CASES, ids=[q or "none" for q, _ in CASES + REGION_CASES]
)
def test_each_filter_alone_and_combined_gives_exactly_the_expected_plans(client, world, inspector, query, expected):
    client.force_login(inspector)
    ids, count = listed(client, query)
    assert {world.name_of(pk) for pk in ids} == expected
    assert count == len(expected)


@pytest.mark.parametrize("who", ["staff", "manager"])
def test_staff_and_managers_get_the_same_filters_over_their_own_organisation_only(client, request, world, who):
    client.force_login(request.getfixturevalue(who))
    for query, expected in CASES:
        if "owner=me" in query:
            continue  # "me" differs by person: see the owner tests
        ids, count = listed(client, query)
        names = {world.name_of(pk) for pk in ids}
        if "organisation=hampshire" in query:
            assert names == set(), query  # another organisation is not a choice they have
        else:
            assert names == expected & SURREY, query
        assert count == len(names), query


@pytest.mark.parametrize(
    ("who", "query", "expected"),
    [
        ("staff", "owner=me", {"s_coc", "s_peel_r1"}),
        ("manager", "owner=me", {"s_afi"}),
        ("manager", "owner=surrey.staff", {"s_coc", "s_peel_r1"}),
        ("staff", "owner=surrey.manager", {"s_afi"}),
        ("manager", "owner=unassigned", {"s_r1", "s_peel_afi"}),
        ("manager", "owner=me&status=signed_off", {"s_afi"}),
        ("staff", "owner=me&overdue=1", {"s_coc"}),
        # someone in another organisation is not a choice: nothing, rather than their plans
        ("manager", "owner=hampshire.staff", set()),
    ],
)
def test_owner_filter(client, request, world, who, query, expected):
    client.force_login(request.getfixturevalue(who))
    ids, _ = listed(client, query)
    assert {world.name_of(pk) for pk in ids} == expected


def test_owner_choices_are_me_unassigned_and_active_colleagues(client, world, manager):
    client.force_login(manager)
    form = client.get("/plans/").context["filter"].form
    choices = [value for value, _ in form.fields["owner"].choices]
    assert choices[:3] == ["", "me", "unassigned"]
    assert "surrey.staff" in choices
    assert "surrey.leaver" not in choices  # has left
    assert "hampshire.staff" not in choices  # another organisation
    assert "surrey.manager" not in choices  # that is "me"


def test_region_is_offered_to_inspectors_only(client, world, inspector, manager):
    client.force_login(inspector)
    assert "region" in client.get("/plans/").context["filter"].form.fields
    client.force_login(manager)
    assert "region" not in client.get("/plans/").context["filter"].form.fields


@pytest.mark.parametrize("who", ["staff", "manager"])
def test_another_organisations_plans_never_appear_in_the_list(client, request, world, who):
    client.force_login(request.getfixturevalue(who))
    for query in ["", "organisation=hampshire", "q=partners", "status=submitted", "rag=grey", "owner=unassigned"]:
        response = client.get("/plans/?" + query)
        ids = {plan.pk for plan in response.context["object_list"]}
        assert not ids & world.ids(EVERYONE - SURREY), query
        assert response.context["paginator"].count == len(ids)
        assert "Hampshire" not in response.content.decode().split('id="results"')[1]


def test_invalid_choices_show_no_plans_and_an_error(client, world, inspector):
    client.force_login(inspector)
    response = client.get("/plans/?status=bogus")
    assert response.status_code == 200
    assert response.context["paginator"].count == 0
    assert response.context["filter"].errors


# --- sorting and paging ---------------------------------------------------------------------

STATUS_RANK = {status: rank for rank, status in enumerate(S.values)}
FAR = dt.date.max


def soonest(plan):
    return (plan.target_date or FAR, plan.pk)  # plans with no date come last


def by(key, *, reverse=False, then=soonest):
    """Sort by `key` (either way), ties by `then` ascending: two stable sorts."""
    return lambda plans: sorted(sorted(plans, key=then), key=key, reverse=reverse)


# What each sort means, written out independently of the ORDER BY that implements it.
EXPECTED_ORDER = {
    "": by(soonest),
    "target_date": by(soonest),
    # latest first, plans with no date still last, ties newest id first
    "-target_date": lambda plans: sorted(
        plans, key=lambda p: (p.target_date is None, -(p.target_date or FAR).toordinal(), -p.pk)
    ),
    "status": by(lambda p: STATUS_RANK[p.status]),
    "-status": by(lambda p: STATUS_RANK[p.status], reverse=True),
    "organisation": by(lambda p: p.organisation.name),
    "-organisation": by(lambda p: p.organisation.name, reverse=True),
    "updated": by(lambda p: (p.updated_at, p.pk)),
    "-updated": by(lambda p: (p.updated_at, p.pk), reverse=True),
    "deferrals": by(lambda p: p.deferral_count),
    "-deferrals": by(lambda p: p.deferral_count, reverse=True),
    # the home page queues' orders: when the plan came into its present status (never: first), and when it
    # was last sent back by a manager or an inspector (never: last); ties by id
    "waiting": lambda plans: sorted(plans, key=lambda p: (came_into_status(p) is not None, came_into_status(p), p.pk)),
    "returned": lambda plans: sorted(plans, key=lambda p: (returned_at(p) is None, returned_at(p), p.pk)),
}


def came_into_status(plan):
    moves = Update.objects.filter(plan=plan, status_to=plan.status).order_by("created_at", "pk")
    return moves.last().created_at if moves.exists() else None


def returned_at(plan):
    returns = Update.objects.filter(plan=plan, status_from__in=[S.SUBMITTED, S.SIGNED_OFF]).exclude(status_to="")
    return returns.order_by("created_at", "pk").last().created_at if returns.exists() else None


def test_every_sort_option_is_specified_here():
    assert set(EXPECTED_ORDER) - {""} == set(SORTS) | set(QUEUE_SORTS)


@pytest.mark.parametrize("sort", list(EXPECTED_ORDER))
def test_each_sort_gives_the_documented_order(client, world, inspector, sort):
    # Shuffle last-update times so that "updated" is not simply creation order.
    for offset, plan in enumerate(reversed(list(world.plans.values()))):
        ActionPlan.objects.filter(pk=plan.pk).update(updated_at=timezone.now() - dt.timedelta(hours=offset))
    client.force_login(inspector)
    response = client.get(f"/plans/?sort={sort}")
    shown = [plan.pk for plan in response.context["object_list"]]
    plans = ActionPlan.objects.select_related("organisation").filter(pk__in=shown)
    assert shown == [p.pk for p in EXPECTED_ORDER[sort](plans)]
    assert len(shown) == len(EVERYONE)


def test_sort_labels_say_which_way(client, world, inspector):
    client.force_login(inspector)
    labels = dict(client.get("/plans/").context["filter"].form.fields["sort"].choices)
    assert labels["target_date"] == "Target date (soonest first)"
    assert labels["-updated"] == "Last update (newest first)"
    assert labels["-organisation"] == "Organisation (Z-A)"
    assert not [label for label in labels.values() if "descending" in label]


def test_pages_cover_every_plan_once_in_order_and_keep_the_filters(client, org, manager):
    today = timezone.localdate()
    # Many plans share a target date: paging must still neither repeat nor skip one.
    plans = ActionPlanFactory.create_batch(30, organisation=org, target_date=today + dt.timedelta(days=90))
    client.force_login(manager)
    first = client.get("/plans/?status=in_progress&sort=status")
    second = client.get("/plans/?status=in_progress&sort=status&page=2")
    ids = [p.pk for p in first.context["object_list"]] + [p.pk for p in second.context["object_list"]]
    assert len(first.context["object_list"]) == 25
    assert sorted(ids) == sorted(p.pk for p in plans)
    assert ids == sorted(ids)  # same status and date: the id decides
    html = first.content.decode()
    assert "<strong>30</strong> action plans, page 1 of 2" in html
    assert 'href="?status=in_progress&amp;sort=status&amp;page=2"' in html


# --- the query string is the state; htmx --------------------------------------------------------


def test_the_form_shows_the_filters_from_the_query_string(client, world, inspector):
    client.force_login(inspector)
    html = client.get("/plans/?organisation=surrey&status=blocked&q=profiles&sort=-updated").content.decode()
    assert '<option value="surrey" selected>' in html
    assert re.search(r'name="status" value="blocked"[^>]*checked', html)
    assert 'value="profiles"' in html
    assert '<option value="-updated" selected>' in html
    # the export links carry the same filters
    assert "/plans/export.csv?organisation=surrey&amp;status=blocked&amp;q=profiles&amp;sort=-updated" in html


def test_htmx_gets_the_results_fragment_and_the_page_pushes_its_url(client, world, inspector):
    client.force_login(inspector)
    page = client.get("/plans/?status=blocked")
    assert 'hx-push-url="true"' in page.content.decode()
    fragment = client.get("/plans/?status=blocked", headers={"HX-Request": "true"})
    html = fragment.content.decode()
    assert html.lstrip().startswith('<div id="results"')
    assert "filter-form" not in html and "<html" not in html  # the results alone, not the filters
    assert "<strong>1</strong> action plan." in html
    assert "HX-Request" in fragment["Vary"] and "HX-Request" in page["Vary"]


def test_htmx_history_restore_gets_the_whole_page(client, world, inspector):
    client.force_login(inspector)
    response = client.get(
        "/plans/?status=blocked", headers={"HX-Request": "true", "HX-History-Restore-Request": "true"}
    )
    assert "<html" in response.content.decode()


# --- query counts ------------------------------------------------------------------------------


def make_organisations_with_plans(n: int) -> None:
    for _ in range(n):
        ActionPlanFactory(organisation=OrganisationFactory(), status=S.IN_PROGRESS)


@pytest.mark.parametrize("n", [3, 30])
def test_plan_list_queries_for_an_inspector_do_not_grow(client, django_assert_num_queries, n):
    inspector = InspectorFactory()
    make_organisations_with_plans(n)
    client.force_login(inspector)
    client.get("/accounts/")  # the first request after signing in also refreshes the session
    # session, user, COUNT, plan rows (finding, inspection, organisation, owner joined), the rows'
    # milestone progress, data version, the choices of organisation, region, inspection and theme
    with django_assert_num_queries(10):
        client.get("/plans/")
    # The filter form's HTML and the count are kept until the data changes: no choices, no COUNT.
    with django_assert_num_queries(5):
        client.get("/plans/")
    # the three chosen values checked (organisation, region, inspection), the form for this query, and
    # the search index's counts of matching responses and findings (which choose the plan): 15
    plan = ActionPlan.objects.select_related("organisation__region", "finding__inspection").first()
    query = (
        f"organisation={plan.organisation.slug}&region={plan.organisation.region.slug}"
        f"&inspection={plan.finding.inspection.slug}&status=in_progress&q=analysts&owner=unassigned&sort=-updated"
    )
    with django_assert_num_queries(15):
        response = client.get("/plans/?" + query)
    assert response.context["paginator"].count == 1


@pytest.mark.parametrize("n", [3, 30])
def test_plan_list_queries_for_a_manager_do_not_grow(client, django_assert_num_queries, org, n):
    manager = ManagerFactory(organisation=org)
    ActionPlanFactory.create_batch(n, organisation=org, owner=None)
    make_organisations_with_plans(n)  # other organisations' plans change nothing
    client.force_login(manager)
    client.get("/accounts/")  # the first request after signing in also refreshes the session
    # session, user (organisation joined), colleagues (owner choices), COUNT, plan rows, the rows'
    # milestone progress, data version, the choices of organisation, inspection and theme, colleagues
    # again (the bulk form's owner choices)
    with django_assert_num_queries(11):
        client.get("/plans/")
    with django_assert_num_queries(7):  # the filter form's HTML and the count are kept
        client.get("/plans/")
    # plus the organisation chosen, checked, and the search index's two counts: 14
    with django_assert_num_queries(14):
        response = client.get(
            f"/plans/?organisation={org.slug}&status=in_progress&status=blocked&q=analysts&owner=unassigned"
            "&rag=green&sort=organisation"
        )
    assert response.context["paginator"].count == n


def test_rag_is_a_badge_with_words_and_agrees_with_the_filter(client, world, inspector):
    client.force_login(inspector)
    for value, label in ActionPlan.Rag.choices:
        response = client.get(f"/plans/?rag={value}")
        results = response.content.decode().split('id="results"')[1]
        assert (
            results.count(f'<span class="badge rag rag-{value}">{label}</span>') == response.context["paginator"].count
        )
        assert all(plan.rag == value for plan in response.context["object_list"])


# --- the select widget written in Python ---------------------------------------------------------


@pytest.mark.parametrize("value", ["", "b&c", None, ["a"]])
def test_fast_select_writes_exactly_what_djangos_select_writes(value):
    from django import forms as django_forms

    from tracker.filters import FastSelect

    choices = [("", "All"), ("a", "Ann <Org>"), ("b&c", 'B "and" C'), ("Group", [("g1", "G one"), ("g2", "G two")])]
    attrs = {"id": "id_x", "class": "form-select", "aria-describedby": "x_help", "disabled": False, "required": True}
    fast = FastSelect(choices=choices).render("x", value, attrs=attrs)
    django = django_forms.Select(choices=choices).render("x", value, attrs=attrs)
    assert fast == django
    selected = {"": 'value="" selected', "b&c": 'value="b&amp;c" selected', None: "", "a": 'value="a" selected'}
    assert selected[value[0] if isinstance(value, list) else value] in fast


_TEXT = st.text(alphabet=st.sampled_from(list("aZ9 -&<>\"'\x00é")), max_size=8)
_LABEL = st.one_of(_TEXT, _TEXT.map(mark_safe), st.integers(-5, 5))
_OPTION = st.tuples(st.one_of(_TEXT, st.integers(0, 9), st.none()), _LABEL)
_CHOICE = st.one_of(_OPTION, st.tuples(_TEXT, st.lists(_OPTION, max_size=3)))


@settings(max_examples=300, deadline=None)
@given(choices=st.lists(_CHOICE, max_size=8), value=st.one_of(st.none(), _TEXT, st.lists(_TEXT, max_size=2)))
def test_fast_select_writes_what_djangos_select_writes_for_any_choices(choices, value):
    """Values and labels with every character HTML escapes (and the one `_escaped_all` joins by), labels
    already safe, numbers, empty values, groups, and values that match several options or none."""
    from django import forms as django_forms

    from tracker.filters import FastSelect

    attrs = {"id": "id_x", "class": "form-select"}
    assert FastSelect(choices=choices).render("x", value, attrs=attrs) == django_forms.Select(choices=choices).render(
        "x", value, attrs=attrs
    )


def test_the_filter_form_renders_every_select_in_python(client):
    from tracker.filters import ActionPlanFilter, FastSelect

    selects = [
        name
        for name, f in ActionPlanFilter(user=InspectorFactory()).form.fields.items()
        if isinstance(f.widget, django_forms_select())
    ]
    fast = [
        name
        for name, f in ActionPlanFilter(user=InspectorFactory()).form.fields.items()
        if isinstance(f.widget, FastSelect)
    ]
    assert selects == fast and "inspection" in fast


def django_forms_select():
    from django import forms as django_forms

    return django_forms.Select


# --- searches count no further than they need ---------------------------------------------------


def test_a_search_matching_more_than_the_limit_says_more_than_and_pages_to_the_limit(
    client, org, manager, monkeypatch
):
    monkeypatch.setattr("tracker.views.SEARCH_COUNT_LIMIT", 30)  # the real limit is 1,000: the rule is the same
    ActionPlanFactory.create_batch(31, organisation=org, summary="Twelve trainees recruited.")
    ActionPlanFactory(organisation=org, summary="Unrelated.")
    client.force_login(manager)
    response = client.get("/plans/?q=recruited")
    html = response.content.decode()
    assert "More than <strong>30</strong> action plans match" in html
    assert response.context["paginator"].num_pages == 2
    assert len(client.get("/plans/?q=recruited&page=2").context["page_obj"].object_list) == 5
    assert "Apply to all plans matching" in html  # no number that is not the whole count
    # The export holds every match.
    rows = b"".join(client.get("/plans/export.csv?q=recruited").streaming_content).decode().splitlines()
    assert len(rows) == 1 + 31
    # At or under the limit the count is exact.
    assert "<strong>1</strong> action plan." in client.get("/plans/?q=unrelated").content.decode()


def test_without_a_search_the_count_is_exact_however_many(client, org, manager, monkeypatch):
    monkeypatch.setattr("tracker.views.SEARCH_COUNT_LIMIT", 5)
    ActionPlanFactory.create_batch(7, organisation=org)
    client.force_login(manager)
    assert client.get("/plans/").context["paginator"].count == 7


def test_deep_pages_read_ids_first_and_still_cover_every_plan_once_in_order(client, org, manager, monkeypatch):
    from tracker.views import PlanPaginator

    monkeypatch.setattr(PlanPaginator, "DEEP", 25)  # from page 2 on (in real use, from page 11)
    today = timezone.localdate()
    plans = [ActionPlanFactory(organisation=org, target_date=today + dt.timedelta(days=n % 7)) for n in range(60)]
    plans += ActionPlanFactory.create_batch(3, organisation=org, target_date=None)
    client.force_login(manager)
    shown = []
    for page in (1, 2, 3):
        shown += [p.pk for p in client.get(f"/plans/?sort=-target_date&page={page}").context["object_list"]]
    expected = sorted(plans, key=lambda p: (p.target_date is None, -(p.target_date or today).toordinal(), -p.pk))
    assert shown == [p.pk for p in expected]


def test_the_count_is_kept_until_the_data_changes(client, org, manager):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    ActionPlanFactory.create_batch(3, organisation=org)
    client.force_login(manager)
    assert client.get("/plans/?status=in_progress").context["paginator"].count == 3
    # Another order of the same plans: the count is the one kept.
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/plans/?status=in_progress&sort=-updated")
    assert response.context["paginator"].count == 3
    # (The page's rows count each plan's dates brought forward in a subquery; the list's count is "__count".)
    assert not [q for q in queries.captured_queries if '"__count"' in q["sql"]]
    ActionPlanFactory(organisation=org)
    assert client.get("/plans/?status=in_progress").context["paginator"].count == 4
