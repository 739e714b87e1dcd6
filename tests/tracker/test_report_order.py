"""Findings in the order an inspection report gives them (`inspections.models.report_order`): causes of
concern, then recommendations, then areas for improvement, each by its number, so that AFI2 comes
before AFI10, on every page and in every paper and list that orders findings."""

from __future__ import annotations

import datetime as dt
import random
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inspections.models import Finding, report_order
from tests.factories import ActionPlanFactory, FindingFactory, InspectionFactory
from tracker import papers, public
from tracker.models import ActionPlan

pytestmark = pytest.mark.django_db

PREFIX = {Finding.Kind.CAUSE_OF_CONCERN: "CoC", Finding.Kind.RECOMMENDATION: "R",
          Finding.Kind.AREA_FOR_IMPROVEMENT: "AFI"}  # fmt: skip
IN_ORDER = ["CoC1", "CoC2", "R1", "R2", "R9", "R10", "R11", "AFI1", "AFI2", "AFI10", "AFI12"]


def kind_of(reference: str) -> str:
    return next(kind for kind, prefix in PREFIX.items() if re.fullmatch(f"{prefix}\\d+", reference))


@pytest.fixture
def report(org):
    """An inspection whose findings were written in a shuffled order, each addressed to org with a plan."""
    inspection = InspectionFactory(slug="peel-2026", published_on=dt.date(2026, 3, 1))
    shuffled = IN_ORDER[:]
    random.Random(4).shuffle(shuffled)
    for reference in shuffled:
        finding = FindingFactory(inspection=inspection, reference=reference, kind=kind_of(reference))
        finding.addressed_to.set([org])
        ActionPlanFactory(finding=finding, organisation=org)
    return inspection


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(numbers=st.lists(st.tuples(st.sampled_from(list(PREFIX)), st.integers(1, 150)), min_size=1, max_size=12,
                        unique=True))  # fmt: skip
def test_the_order_is_kind_then_number(numbers):
    inspection = InspectionFactory()
    for kind, number in numbers:
        FindingFactory(inspection=inspection, kind=kind, reference=f"{PREFIX[kind]}{number}")
    listed = list(inspection.findings.order_by(*report_order(), "pk").values_list("reference", flat=True))
    ranks = list(PREFIX)
    assert listed == [
        f"{PREFIX[kind]}{number}" for kind, number in sorted(numbers, key=lambda k: (ranks.index(k[0]), k[1]))
    ]
    inspection.findings.all().delete()


def test_the_inspection_page_lists_findings_in_report_order(client, inspector, report):
    client.force_login(inspector)
    body = client.get(f"/inspections/{report.slug}/").content.decode()
    found = sorted(IN_ORDER, key=lambda reference: re.search(rf"\b{reference}\b", body).start())
    assert found == IN_ORDER


def test_the_api_lists_findings_in_report_order(client, staff, report):
    client.force_login(staff)
    data = client.get("/api/v1/findings/", {"inspection": report.slug, "page_size": 100}).json()
    assert [item["reference"] for item in data["results"]] == IN_ORDER


def test_the_board_pack_lists_plans_in_report_order(staff, org, report):
    today = dt.date(2026, 6, 1)
    context = papers.board_pack_context(user=staff, plans=ActionPlan.objects.visible_to(staff), organisation=org,
                                        since=today - dt.timedelta(days=90), today=today, chart=False)  # fmt: skip
    assert [plan.finding.reference for plan in context["plans"]] == IN_ORDER


def test_the_public_page_lists_findings_in_report_order(org, report):
    progress = public.progress_of(org, dt.date(2026, 6, 1))
    assert [finding["reference"] for finding in progress["inspections"][0]["findings"]] == IN_ORDER


def test_the_admin_lists_findings_in_report_order_newest_inspection_first(client, admin_user, report):
    older = InspectionFactory(slug="peel-2019", title="Peel 2019", published_on=dt.date(2019, 3, 1))
    FindingFactory(inspection=older, reference="R3", kind=Finding.Kind.RECOMMENDATION, text="Older R3")
    client.force_login(admin_user)
    body = client.get("/admin/inspections/finding/").content.decode()
    listed = re.findall(r'<th class="field-reference"><a href="[^"]*">([^<]+)</a>', body)
    assert listed == [*IN_ORDER, "R3"]
    # The autocomplete the finding form's cause-of-concern field uses gives the same order.
    data = client.get("/admin/autocomplete/", {"app_label": "inspections", "model_name": "finding",
                                               "field_name": "cause_of_concern", "term": "CoC"}).json()  # fmt: skip
    assert [item["text"].split(":")[0] for item in data["results"]] == ["CoC1", "CoC2"]
