"""What people type reaches the pages written in Python (tracker/markup.py: rows of plans, the dashboard's
matrix, a plan's timeline and forms) as text, never as markup: a name, title, note or file name holding
HTML is shown escaped on the plan list, a plan's page, the dashboard and the home page's queues."""

from __future__ import annotations

import pytest

from tests.factories import (
    ActionPlanFactory,
    DependencyFactory,
    EvidenceFactory,
    FindingFactory,
    GradingFactory,
    InspectionFactory,
    InspectorFactory,
    ManagerFactory,
    MilestoneFactory,
    OrganisationFactory,
    StaffFactory,
    UpdateFactory,
)
from tracker.models import ActionPlan, Update

pytestmark = pytest.mark.django_db

# An element, and a quote that would end an attribute (names are in aria-label and value attributes).
PAYLOAD = '<img src=x onerror=alert(1)>" onfocus="alert(2)'
ESCAPED = "&lt;img src=x onerror=alert(1)&gt;&quot; onfocus=&quot;alert(2)"


@pytest.fixture
def world():
    organisation = OrganisationFactory(name=f"Force {PAYLOAD}", short_name=f"F {PAYLOAD}")
    inspection = InspectionFactory(title=f"Inspection {PAYLOAD}")
    GradingFactory(inspection=inspection, organisation=organisation, area=f"Area {PAYLOAD}")
    staff = StaffFactory(organisation=organisation, first_name=f"Sam {PAYLOAD}")
    manager = ManagerFactory(organisation=organisation)
    finding = FindingFactory(inspection=inspection, text=f"The force should {PAYLOAD} act.")
    plan = ActionPlanFactory(finding=finding, organisation=organisation, owner=staff)
    update = UpdateFactory(plan=plan, author=staff, kind=Update.Kind.PROGRESS, note=f"Progress {PAYLOAD}")
    EvidenceFactory(update=update, original_name=f"{PAYLOAD}.pdf")
    MilestoneFactory(plan=plan, title=f"Milestone {PAYLOAD}", owner=staff)
    blocked = ActionPlanFactory(
        finding=FindingFactory(inspection=inspection), organisation=organisation, owner=staff,
        status=ActionPlan.Status.BLOCKED,
    )  # fmt: skip
    DependencyFactory(plan=blocked, name=f"the council {PAYLOAD}", recorded_by=staff)
    return {"plan": plan, "staff": staff, "manager": manager}


def _page(client, user, path: str) -> str:
    client.force_login(user)
    response = client.get(path)
    assert response.status_code == 200, path
    return response.content.decode()


def _assert_escaped(html: str, where: str) -> None:
    assert "<img src=x" not in html, f"{where}: the typed element is in the page as markup"
    assert '" onfocus="alert(2)' not in html, f"{where}: the typed quote ended an attribute"


def test_the_plan_list_shows_typed_markup_as_text(client, world):
    html = _page(client, InspectorFactory(), "/plans/")
    _assert_escaped(html, "/plans/")
    # The organisation, inspection, finding, owner and what the blocked plan waits on are all shown, escaped.
    for text in (f"F {ESCAPED}", f"Inspection {ESCAPED}", f"should {ESCAPED} act", f"Sam {ESCAPED}",
                 f"the council {ESCAPED}"):  # fmt: skip
        assert text in html, text


def test_a_plans_page_shows_typed_markup_as_text(client, world):
    html = _page(client, world["manager"], world["plan"].get_absolute_url())
    _assert_escaped(html, "plan page")
    for text in (f"Progress {ESCAPED}", f"{ESCAPED}.pdf", f"Milestone {ESCAPED}", f"should {ESCAPED} act"):
        assert text in html, text


def test_the_dashboard_and_home_queues_show_typed_markup_as_text(client, world):
    html = _page(client, InspectorFactory(), "/dashboard/")
    _assert_escaped(html, "inspector's dashboard")
    assert f"F {ESCAPED}" in html or f"Force {ESCAPED}" in html
    _assert_escaped(_page(client, world["manager"], "/dashboard/"), "manager's dashboard")
    home = _page(client, world["staff"], "/")
    _assert_escaped(home, "home")
    assert f"should {ESCAPED} act" in home or f"Milestone {ESCAPED}" in home
