"""The dashboard read by an inspector: short inspection headings with the full title, overdue figures
emphasised by more than colour, organisations orderable by risk."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from inspections.models import heading_of
from tests.factories import ActionPlanFactory, FindingFactory, InspectionFactory, OrganisationFactory

pytestmark = pytest.mark.django_db
TITLE = "An inspection of the South East regional response to serious and organised crime"


def test_a_long_title_gets_a_short_heading():
    assert heading_of(TITLE) == "South East regional response to…"
    assert heading_of("PEEL 2025") == "PEEL 2025"


def test_headings_are_short_with_the_full_title_on_hover_and_in_the_caption(client, inspector):
    ActionPlanFactory(finding=FindingFactory(inspection=InspectionFactory(title=TITLE, slug="se-soc")))
    client.force_login(inspector)
    body = client.get("/dashboard/").content.decode()
    matrix = body.split('class="table table-sm table-bordered align-middle matrix"')[1].split("</table>")[0]
    assert f'title="{TITLE}">South East regional response to…</a></th>' in matrix
    caption = matrix.split("<caption")[1].split("</caption>")[0]
    assert "South East regional response to…</strong></span>: " + TITLE in caption


def test_organisations_order_by_risk_most_overdue_first_and_overdue_is_marked_in_words(client, inspector):
    inspection = InspectionFactory()
    late = timezone.localdate() - dt.timedelta(days=5)
    for name, overdue in (("Avon Police", 0), ("Kent Police", 3), ("Essex Police", 1)):
        organisation = OrganisationFactory(name=name)
        for n in range(3):
            ActionPlanFactory(
                organisation=organisation, finding=FindingFactory(inspection=inspection),
                target_date=late if n < overdue else late + dt.timedelta(days=60),
            )  # fmt: skip
    client.force_login(inspector)
    by_name = [row["name"] for row in client.get("/dashboard/").context["matrix"]]
    assert by_name == ["Avon Police", "Essex Police", "Kent Police"]
    response = client.get("/dashboard/?order=risk")
    assert [row["name"] for row in response.context["matrix"]] == ["Kent Police", "Essex Police", "Avon Police"]
    body = response.content.decode()
    assert '<strong class="overdue-count">' in body and "3</a> overdue</strong>" in body
    assert '<option value="risk" selected>' in body


def test_two_inspections_with_the_same_short_heading_are_told_apart_by_year(client, inspector):
    for year in (2025, 2026):
        title = f"South East serious and organised crime: a long follow-up title, {year}"
        inspection = InspectionFactory(title=title, published_on=dt.date(year, 6, 1))
        ActionPlanFactory(finding=FindingFactory(inspection=inspection))
    client.force_login(inspector)
    headings = [i["heading"] for i in client.get("/dashboard/").context["recent"]]
    assert headings == ["South East serious and… (2026)", "South East serious and… (2025)"]
