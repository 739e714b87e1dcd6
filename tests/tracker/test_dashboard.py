"""`/dashboard/`: every number is a link to the plans behind it; scoping; gradings; the trend; query counts."""

from __future__ import annotations

import datetime as dt
import html
from html.parser import HTMLParser

import pytest
from django.core.cache import cache
from django.utils import timezone

from tests.factories import (
    ActionPlanFactory,
    FindingFactory,
    GradingFactory,
    InspectionFactory,
    InspectorFactory,
    ManagerFactory,
    OrganisationFactory,
    ThemeFactory,
    UpdateFactory,
)
from tests.tracker.plan_world import EVERYONE, SURREY, build_world
from tracker.models import ActionPlan, Update
from tracker.reports import trend

pytestmark = pytest.mark.django_db
S = ActionPlan.Status


@pytest.fixture
def world(org, other_org, staff, manager, other_staff):
    return build_world(org=org, other_org=other_org, staff=staff, manager=manager, other_staff=other_staff)


class NumberLinks(HTMLParser):
    """Every <a href="/plans/?..."> whose text starts with a number: (href, number)."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, int]] = []
        self._href: str | None = None
        self._text = ""

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self._href, self._text = dict(attrs).get("href"), ""

    def handle_data(self, data):
        if self._href is not None:
            self._text += data

    def handle_endtag(self, tag):
        if tag == "a" and self._href is not None:
            words = self._text.split()
            if self._href.startswith("/plans/") and words and words[0].isdigit():
                self.links.append((self._href, int(words[0])))
            self._href = None


def number_links(content: bytes) -> list[tuple[str, int]]:
    parser = NumberLinks()
    parser.feed(content.decode())
    return parser.links


@pytest.mark.parametrize(
    ("who", "query", "at_least"),
    [
        # 6 headline figures + 4 RAG + 2 inspections x 5 matrix numbers + 2 themes x 5
        ("manager", "", 30),
        ("staff", "", 30),
        # 6 + 4 + 4 organisations' cells (6 with two inspections) x 5 + 2 themes x 5 + 3 regions x 5
        ("inspector", "", 6 + 4 + 6 * 5 + 2 * 5 + 3 * 5),
        ("inspector", "?organisation=hampshire", 30),
    ],
)
def test_every_number_on_the_dashboard_equals_the_count_behind_its_link(client, request, world, who, query, at_least):
    client.force_login(request.getfixturevalue(who))
    response = client.get("/dashboard/" + query)
    assert response.status_code == 200
    links = number_links(response.content)
    assert len(links) >= at_least
    assert sum(n for _, n in links) > 0
    for href, shown in links:
        behind = client.get(html.unescape(href))
        assert behind.status_code == 200, href
        assert behind.context["paginator"].count == shown, href


def test_headline_figures_for_an_inspector(client, world, inspector):
    client.force_login(inspector)
    context = client.get("/dashboard/").context
    overall = context["overall"]
    assert overall["total"] == len(EVERYONE)
    assert overall["with_force"] == len({"s_coc", "s_r1", "s_peel_afi", "h_coc", "h_r1", "e_r1", "n_afi"})
    assert overall["awaiting_verification"] == len({"s_afi"})
    assert overall["verified"] == len({"s_peel_r1"})
    assert overall["ended"] == len({"h_afi", "h_peel_r1"})  # superseded, no further action
    assert sum(stage["count"] for stage in overall["stages"]) == overall["total"]
    assert overall["reported"] == len({"s_afi", "s_peel_r1"})  # signed off or closed
    assert overall["overdue"] == len({"s_coc", "h_coc"})
    assert context["deferred"] == 1
    assert {r["value"]: r["count"] for r in context["rag"]} == {"red": 2, "amber": 2, "green": 4, "grey": 3}


@pytest.mark.parametrize("who", ["staff", "manager"])
def test_staff_and_managers_see_only_their_organisation(client, request, world, who):
    client.force_login(request.getfixturevalue(who))
    response = client.get("/dashboard/")
    body = response.content.decode()
    assert response.context["overall"]["total"] == len(SURREY)
    assert {r["value"]: r["count"] for r in response.context["rag"]} == {"red": 1, "amber": 1, "green": 2, "grey": 1}
    # intelligence: s_coc, s_r1; workforce: s_r1, s_afi, s_peel_afi
    assert {row["finding__themes__slug"]: row["total"] for row in response.context["by_theme"]} == {
        "intelligence": 2,
        "workforce": 3,
    }
    assert [row["name"] for row in response.context["matrix"]] == ["Surrey Police"]
    assert response.context["by_region"] == []
    for name in ("Hampshire", "Essex", "National Crime Agency", "Inadequate"):
        assert name not in body
    surrey_only = trend(ActionPlan.objects.filter(organisation=world.plans["s_coc"].organisation))
    assert response.context["series"] == surrey_only
    assert client.get("/dashboard/?organisation=hampshire").status_code == 404


def test_inspector_sees_each_organisations_grading_in_the_matrix(client, world, inspector):
    client.force_login(inspector)
    response = client.get("/dashboard/")
    rows = {row["name"]: row for row in response.context["matrix"]}
    slugs = [i["slug"] for i in response.context["recent"]]
    assert slugs == ["peel", "soc"]  # most recent first
    hampshire_soc = rows["Hampshire and Isle of Wight Constabulary"]["cells"][1]
    assert [g["label"] for g in hampshire_soc["gradings"]] == ["Inadequate"]
    assert (hampshire_soc["total"], hampshire_soc["overdue"]) == (3, 1)
    assert "grade-inadequate" in response.content.decode()
    assert rows["Essex Police"]["cells"][0] is None  # no plans for PEEL: an empty cell


def test_inspector_can_narrow_the_dashboard_to_one_organisation(client, world, inspector):
    client.force_login(inspector)
    response = client.get("/dashboard/?organisation=hampshire")
    assert response.context["overall"]["total"] == 4
    assert all("organisation=hampshire" in r["link"] for r in response.context["rag"])
    assert "/organisations/hampshire/board-pack/" in response.content.decode()


def test_a_theme_row_counts_each_plan_once(client, org, manager):
    theme = ThemeFactory(slug="intelligence")
    plan = ActionPlanFactory(organisation=org)
    plan.finding.themes.set([theme, ThemeFactory(slug="workforce")])
    client.force_login(manager)
    rows = {row["finding__themes__slug"]: row["total"] for row in client.get("/dashboard/").context["by_theme"]}
    assert rows == {"intelligence": 1, "workforce": 1}


# --- the trend -------------------------------------------------------------------------------------


def month_start(months_ago: int) -> dt.date:
    day = timezone.localdate().replace(day=1)
    for _ in range(months_ago):
        day = (day - dt.timedelta(days=1)).replace(day=1)
    return day


def mid_month(months_ago: int) -> dt.datetime:
    if months_ago == 0:
        return timezone.now()
    day = month_start(months_ago) + dt.timedelta(days=14)
    return timezone.make_aware(dt.datetime.combine(day, dt.time(12)))


def opened(org, months_ago):
    plan = ActionPlanFactory(organisation=org)
    ActionPlan.objects.filter(pk=plan.pk).update(created_at=mid_month(months_ago))
    return plan


def moved(plan, author, months_ago, status_from, status_to):
    UpdateFactory(
        plan=plan, author=author, kind=Update.Kind.STATUS, status_from=status_from, status_to=status_to,
        created_at=mid_month(months_ago),
    )  # fmt: skip


@pytest.fixture
def history(org, staff, manager, inspector):
    a = opened(org, 3)
    moved(a, manager, 2, S.SUBMITTED, S.SIGNED_OFF)
    moved(a, inspector, 1, S.SIGNED_OFF, S.CLOSED)
    opened(org, 2)  # stays open
    c = opened(org, 2)
    moved(c, inspector, 1, S.IN_PROGRESS, S.SUPERSEDED)
    d = opened(org, 1)
    moved(d, manager, 1, S.SUBMITTED, S.SIGNED_OFF)
    moved(d, inspector, 0, S.SIGNED_OFF, S.IN_PROGRESS)  # reopened
    moved(d, staff, 0, S.IN_PROGRESS, S.IN_PROGRESS)  # not a move in or out of "reported complete"


def test_the_trend_counts_each_month_end_from_the_history(history):
    series = trend(ActionPlan.objects.all())
    assert len(series) == 12
    assert [p["month"] for p in series[-4:]] == [month_start(n) for n in (3, 2, 1, 0)]
    stages = ("with_force", "awaiting_verification", "verified", "ended")
    assert [tuple(p[stage] for stage in stages) for p in series[-5:]] == [
        (0, 0, 0, 0),  # nothing yet
        (1, 0, 0, 0),  # A opened
        (2, 1, 0, 0),  # B, C opened; A signed off
        (1, 1, 1, 1),  # D opened and signed off; A closed; C superseded
        (2, 0, 1, 1),  # D reopened
    ]
    assert [p["total"] for p in series[-5:]] == [0, 1, 3, 4, 4]
    assert all(sum(p[stage] for stage in stages) == p["total"] for p in series)


def test_the_trend_is_drawn_as_svg_with_a_table_alternative(client, history, manager):
    client.force_login(manager)
    response = client.get("/dashboard/")
    body = response.content.decode()
    series = response.context["series"]
    chart = response.context["chart"]
    assert '<svg class="chart' in body and 'role="img"' in body and "<desc" in body
    for line, css in (("with_force", "open"), ("awaiting_verification", "reported"), ("verified", "verified")):
        assert len(chart["lines"][line].split()) == 12
        assert f'class="line-{css}"' in body
    assert "Show the trend as a table" in body
    table = body.split("Show the trend as a table")[1]
    for point in series:
        row = (
            f'<th scope="row">{point["month"]:%B %Y}</th><td>{point["with_force"]}</td>'
            f"<td>{point['awaiting_verification']}</td><td>{point['verified']}</td><td>{point['ended']}</td>"
            f"<td>{point['total']}</td>"
        )
        assert row in table
    assert "<script" not in body.split('<svg class="chart')[1].split("</svg>")[0]


# --- query counts ----------------------------------------------------------------------------------


def make_organisations(n: int) -> None:
    """n organisations, each graded in one inspection, with a plan on a themed finding and a status change."""
    theme = ThemeFactory(slug="intelligence")
    inspection = InspectionFactory()
    for _ in range(n):
        organisation = OrganisationFactory()
        plan = ActionPlanFactory(organisation=organisation, finding=FindingFactory(inspection=inspection))
        plan.finding.themes.add(theme)
        GradingFactory(organisation=organisation, inspection=inspection)
        moved(plan, InspectorFactory(), 0, S.NOT_STARTED, S.IN_PROGRESS)


@pytest.mark.parametrize("n", [3, 30])
def test_dashboard_queries_for_an_inspector_do_not_grow(client, django_assert_num_queries, n):
    make_organisations(n)
    client.force_login(InspectorFactory())
    client.get("/dashboard/")  # the first counts and keeps the past months (tracker/flows.py) once
    cache.clear()  # every figure computed again, as after a change
    # session, user, data and history versions, recent inspections, matrix counts, gradings, theme
    # counts, headline, RAG and deferral counts per organisation, organisations (choices and regions),
    # most deferred plans, blocked plans by what they wait on (none blocked here, so no list of them),
    # repeats per organisation (none here, so none per theme), trend (the kept months before last
    # month: 2; plans opened and status changes since: 2); the session was refreshed by the first request
    with django_assert_num_queries(16):
        response = client.get("/dashboard/")
    assert response.context["overall"]["total"] == n
    assert len(response.context["matrix"]) == n
    # Again, with nothing changed: session, user, versions; the figures come from the cache.
    with django_assert_num_queries(3):
        again = client.get("/dashboard/")
    assert again.context["overall"] == response.context["overall"]
    assert len(again.context["matrix"]) == n


@pytest.mark.parametrize("n", [3, 30])
def test_dashboard_queries_for_a_manager_do_not_grow(client, django_assert_num_queries, org, n):
    theme = ThemeFactory(slug="intelligence")
    for plan in ActionPlanFactory.create_batch(n, organisation=org):
        plan.finding.themes.add(theme)
        GradingFactory(organisation=org, inspection=plan.finding.inspection)
    make_organisations(n)  # other organisations change nothing
    client.force_login(ManagerFactory(organisation=org))
    client.get("/dashboard/")  # the first counts and keeps the past months (tracker/flows.py) once
    cache.clear()  # every figure computed again, as after a change
    # session, user (organisation joined), data and history versions, recent inspections, matrix
    # counts, gradings, theme counts, headline, RAG and deferral counts, repeats (none), most deferred
    # plans, blocked plans by what they wait on (none blocked), trend (4), whether the organisation
    # publishes a public page; the session was refreshed by the first request
    with django_assert_num_queries(16):
        response = client.get("/dashboard/")
    assert response.context["overall"]["total"] == n
    with django_assert_num_queries(3):  # session, user, versions
        again = client.get("/dashboard/")
    assert again.context["overall"] == response.context["overall"]


@pytest.mark.parametrize("value", ["\x00", "hamp\x00shire", "no such place", "ü", "x" * 300])
def test_an_organisation_that_cannot_be_a_slug_is_a_clear_bad_request(client, world, inspector, value):
    """Found from outside: `?organisation=%00` reached the database, which on PostgreSQL refuses a NUL
    character in text (500). A value that cannot name an organisation is refused before any lookup."""
    client.force_login(inspector)
    response = client.get("/dashboard/", {"organisation": value})
    assert response.status_code == 400
    assert "organisation" in response.content.decode().lower()


def test_an_organisation_that_does_not_exist_is_still_not_found(client, world, inspector):
    client.force_login(inspector)
    assert client.get("/dashboard/?organisation=atlantis").status_code == 404
