"""`/inspections/<slug>/` and `/findings/<id>/`: grouping, gradings, completion, side by side, query counts."""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest

from inspections.models import Finding
from tests.factories import (
    ActionPlanFactory,
    FindingFactory,
    GradingFactory,
    InspectionFactory,
    InspectorFactory,
    ManagerFactory,
    OrganisationFactory,
    UpdateFactory,
)
from tests.tracker.plan_world import build_world
from tracker.models import ActionPlan

pytestmark = pytest.mark.django_db
S = ActionPlan.Status


@pytest.fixture
def world(org, other_org, staff, manager, other_staff):
    return build_world(org=org, other_org=other_org, staff=staff, manager=manager, other_staff=other_staff)


def section(body: str, heading_id: str) -> str:
    return body.split(f'id="{heading_id}"')[1].split("</section>")[0]


# --- inspection page ------------------------------------------------------------------------------


def test_causes_of_concern_have_their_recommendations_beneath(client, world, inspector):
    soc = world.findings["soc_coc1"].inspection
    r2 = FindingFactory(inspection=soc, kind=Finding.Kind.RECOMMENDATION, reference="R2", text="Standalone.")
    r10 = FindingFactory(
        inspection=soc, kind=Finding.Kind.RECOMMENDATION, reference="R10", text="Accompanies the cause.",
        cause_of_concern=world.findings["soc_coc1"],
    )  # fmt: skip
    client.force_login(inspector)
    response = client.get("/inspections/soc/")
    context = response.context
    assert [f.reference for f in context["causes"]] == ["CoC1"]
    assert [f.reference for f in context["causes"][0].children] == ["R1", "R10"]  # R1 before R10
    assert [f.reference for f in context["recommendations"]] == ["R2"]
    assert [f.reference for f in context["afis"]] == ["AFI1"]

    findings = section(response.content.decode(), "findings-heading")
    card = findings.split('<div class="card mb-3">')[1].split("<h3")[0]
    assert "CoC1" in card and f'href="/findings/{world.findings["soc_r1"].pk}/"' in card
    assert f'href="/findings/{r10.pk}/"' in card
    assert f'href="/findings/{r2.pk}/"' not in card
    standalone = findings.split('<h3 class="h5">Recommendations</h3>')[1]
    assert f'href="/findings/{r2.pk}/"' in standalone.split("Areas for improvement")[0]


def test_gradings_are_shown_per_organisation(client, world, staff):
    client.force_login(staff)
    gradings = section(client.get("/inspections/soc/").content.decode(), "gradings-heading")
    assert re.search(r"Hampshire and Isle of Wight Constabulary</td>.*?grade-inadequate\">Inadequate<", gradings)
    assert re.search(r"Surrey Police</td>.*?Requires improvement<", gradings)


def test_completion_bar_per_organisation_with_counts_that_link_to_their_plans(client, world, inspector):
    client.force_login(inspector)
    response = client.get("/inspections/soc/")
    rows = {row["organisation__slug"]: row for row in response.context["completion"]}
    assert set(rows) == {"surrey", "hampshire", "essex"}
    # Surrey: s_coc (in progress), s_r1 (blocked), s_afi (signed off) -> 1 of 3 reported, s_coc overdue
    surrey = rows["surrey"]
    assert (surrey["total"], surrey["reported"], surrey["verified"], surrey["overdue"]) == (3, 1, 0, 1)
    assert surrey["reported_pct"] == 33
    completion = section(response.content.decode(), "completion-heading")
    assert 'aria-label="Reported complete, Surrey Police" aria-valuenow="33"' in completion
    assert 'class="progress-bar pct-33"' in completion
    links = re.findall(r'<a [^>]*href="(/plans/\?[^"]+)">(\d+)', completion)
    # plans, reported complete, four stages and overdue per organisation
    assert len(links) == 3 * 7
    for href, shown in links:
        assert client.get(html.unescape(href)).context["paginator"].count == int(shown), href


@pytest.mark.parametrize("who", ["staff", "manager"])
def test_staff_and_managers_see_only_their_organisations_completion(client, request, world, who):
    client.force_login(request.getfixturevalue(who))
    response = client.get("/inspections/soc/")
    assert [row["organisation__slug"] for row in response.context["completion"]] == ["surrey"]
    assert "Essex" not in section(response.content.decode(), "completion-heading")


def test_an_unknown_inspection_is_not_found(client, inspector):
    client.force_login(inspector)
    assert client.get("/inspections/no-such-inspection/").status_code == 404


def make_inspection_for(n: int):
    """An inspection with a cause of concern, a recommendation and an AFI for each of n organisations."""
    inspection = InspectionFactory(slug="big")
    coc = FindingFactory(inspection=inspection, kind=Finding.Kind.CAUSE_OF_CONCERN, reference="CoC1")
    findings = [
        coc,
        FindingFactory(inspection=inspection, reference="R1", cause_of_concern=coc),
        FindingFactory(inspection=inspection, kind=Finding.Kind.AREA_FOR_IMPROVEMENT, reference="AFI1"),
    ]
    organisations = [OrganisationFactory() for _ in range(n)]
    for organisation in organisations:
        GradingFactory(inspection=inspection, organisation=organisation)
        for finding in findings:
            ActionPlanFactory(organisation=organisation, finding=finding)
    return inspection, coc, organisations


@pytest.mark.parametrize("n", [3, 30])
def test_inspection_page_queries_do_not_grow(client, django_assert_num_queries, n):
    inspection, _, organisations = make_inspection_for(n)
    client.force_login(InspectorFactory())
    # session, user, inspection, findings, completion per organisation, gradings (organisation
    # joined), the organisations addressed and their recorded 56-day responses, session save (3)
    with django_assert_num_queries(11):
        response = client.get(inspection.get_absolute_url())
    assert len(response.context["completion"]) == n
    client.force_login(ManagerFactory(organisation=organisations[0]))
    # the same for a manager (their organisation comes with the user)
    with django_assert_num_queries(11):
        response = client.get(inspection.get_absolute_url())
    assert len(response.context["completion"]) == 1


# --- finding page ---------------------------------------------------------------------------------


def test_every_addressed_organisation_side_by_side(client, world, inspector, manager):
    finding = world.findings["soc_r1"]
    s_r1, h_r1 = world.plans["s_r1"], world.plans["h_r1"]
    ActionPlan.objects.filter(pk=s_r1.pk).update(
        target_date=dt.date(2027, 3, 31), original_target_date=dt.date(2026, 12, 31), deferral_count=1
    )
    UpdateFactory(plan=s_r1, author=manager, note="Older note", created_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    UpdateFactory(plan=s_r1, author=manager, note="Waiting for the analyst posts to be funded.")
    client.force_login(inspector)
    response = client.get(finding.get_absolute_url())
    plans = {plan.organisation.slug: plan for plan in response.context["plans"]}
    assert list(plans) == ["essex", "hampshire", "surrey"]  # by name
    body = section(response.content.decode(), "plans-heading")
    assert '<th scope="col">Agreed target date</th><th scope="col">Original target date</th>' in body
    surrey_row = body.split("Surrey Police</a>")[1].split("</tr>")[0]
    assert "Blocked" in surrey_row and "Amber: at risk" in surrey_row
    assert "31 Mar 2027" in surrey_row and "31 Dec 2026" in surrey_row and "deferred 1 time" in surrey_row
    assert "Waiting for the analyst posts to be funded." in surrey_row and "Older note" not in surrey_row
    assert "20%" in surrey_row and "Unassigned" in surrey_row
    hampshire_row = body.split("Hampshire and Isle of Wight Constabulary</a>")[1].split("</tr>")[0]
    assert "74%" in hampshire_row and h_r1.owner.get_full_name() in hampshire_row
    assert f"{h_r1.updated_at:%-d %b %Y}" in hampshire_row
    essex_row = body.split("Essex Police</a>")[1].split("</tr>")[0]
    assert essex_row.count("None set") == 2  # neither an agreed nor an original date


@pytest.mark.parametrize("who", ["staff", "manager"])
def test_staff_and_managers_see_only_their_organisations_response(client, request, world, who):
    client.force_login(request.getfixturevalue(who))
    response = client.get(world.findings["soc_r1"].get_absolute_url())
    assert [plan.pk for plan in response.context["plans"]] == [world.plans["s_r1"].pk]
    assert "Hampshire" not in section(response.content.decode(), "plans-heading")


@pytest.mark.parametrize("n", [3, 30])
def test_finding_page_queries_do_not_grow(client, django_assert_num_queries, manager, n):
    _, coc, organisations = make_inspection_for(n)
    for plan in coc.action_plans.all():
        UpdateFactory.create_batch(2, plan=plan, author=manager)
    client.force_login(InspectorFactory())
    # session, user, finding (inspection and cause joined), themes, plans (organisation and owner joined,
    # RAG and latest note computed in the same query), links to other findings (none here, so no
    # responses to them are read), suggested links (inspectors; none here), the finding's change history
    # (inspectors), session save (3)
    with django_assert_num_queries(11):
        response = client.get(coc.get_absolute_url())
    assert len(response.context["plans"]) == n
    client.force_login(ManagerFactory(organisation=organisations[0]))
    # no change history for a manager: 9
    with django_assert_num_queries(9):
        response = client.get(coc.get_absolute_url())
    assert len(response.context["plans"]) == 1
