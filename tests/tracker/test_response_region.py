"""The 56-day response of a commissioner who covers a force and its regional unit: one draft for both
(`?with=<unit>`), each finding once in the report's order with each organisation's answer under it."""

from __future__ import annotations

import io
import re

import docx
import pypdf
import pytest

from inspections.models import Finding, Organisation
from tests.factories import (
    ActionPlanFactory,
    AdminFactory,
    FindingFactory,
    GradingFactory,
    InspectionFactory,
    ManagerFactory,
    OrganisationFactory,
    RegionFactory,
    StaffFactory,
)
from tracker.models import ActionPlan

pytestmark = pytest.mark.django_db
S = ActionPlan.Status
K = Finding.Kind
DOCX = "/inspections/soc-2026/response/surrey.docx"
PDF = "/inspections/soc-2026/response/surrey.pdf"
UNIT = "South East Regional Organised Crime Unit"


@pytest.fixture
def region_report(org, other_org):
    """Surrey (a force) and SEROCU (the regional unit of its region) addressed by one inspection with
    Hampshire (a force of another region): CoC1 and R1 to both, R2 to SEROCU alone, R3 to Surrey alone,
    R4 to Hampshire alone, AFI1 to both."""
    south_east = RegionFactory(name="South East", slug="south-east")
    org.region = south_east
    org.save()
    other_org.region = RegionFactory(name="Wessex", slug="wessex")
    other_org.save()
    unit = OrganisationFactory(name=UNIT, short_name="SEROCU", slug="serocu", kind=Organisation.Kind.REGIONAL_UNIT,
                               region=south_east)  # fmt: skip
    inspection = InspectionFactory(title="SOC inspection 2026", slug="soc-2026")
    for o, grade in ((org, "requires_improvement"), (unit, "good"), (other_org, "inadequate")):
        GradingFactory(inspection=inspection, organisation=o, area="Serious and organised crime", grade=grade)

    def finding(reference, kind, text, to, cause=None):
        f = FindingFactory(inspection=inspection, reference=reference, kind=kind, text=text, cause_of_concern=cause)
        f.addressed_to.set(to)
        return f

    coc1 = finding("CoC1", K.CAUSE_OF_CONCERN, "Intelligence is not shared.", (org, unit))
    findings = {
        "CoC1": coc1,
        "R1": finding("R1", K.RECOMMENDATION, "Share intelligence across the region.", (org, unit), coc1),
        "R2": finding("R2", K.RECOMMENDATION, "Recruit regional analysts.", (unit,)),
        "R3": finding("R3", K.RECOMMENDATION, "Refresh the local profile.", (org,)),
        "R4": finding("R4", K.RECOMMENDATION, "HAMPSHIRE-ONLY recommendation.", (other_org,)),
        "AFI1": finding("AFI1", K.AREA_FOR_IMPROVEMENT, "Tidy the intelligence logs.", (org, unit)),
    }
    ActionPlanFactory(finding=findings["R1"], organisation=org, summary="SURREY-R1 a shared briefing.")
    ActionPlanFactory(finding=findings["R1"], organisation=unit, summary="UNIT-R1 a regional intelligence hub.")
    ActionPlanFactory(finding=findings["R2"], organisation=unit, summary="UNIT-R2 four analysts.")
    ActionPlanFactory(finding=findings["R3"], organisation=org, summary="SURREY-R3 a new profile.")
    ActionPlanFactory(finding=findings["R4"], organisation=other_org, summary="HAMPSHIRE-PLAN steps.")
    ActionPlanFactory(finding=findings["AFI1"], organisation=org, status=S.CLOSED)
    return inspection, unit


def paragraphs(response) -> list:
    assert response.status_code == 200, response.content[:500]
    return docx.Document(io.BytesIO(response.content)).paragraphs


def test_one_draft_for_the_force_and_its_unit_gives_each_finding_once_with_each_ones_answer(
    client, region_report, inspector
):
    client.force_login(inspector)
    response = client.get(DOCX, {"with": "serocu"})
    assert response["Content-Disposition"] == 'attachment; filename="response-soc-2026-surrey-serocu.docx"'
    paras = paragraphs(response)
    text = [p.text for p in paras]
    headings = [p.text for p in paras if p.style.name.startswith("Heading")]
    addressed = [h for h in headings if h.startswith(("Cause of concern ", "Recommendation "))]
    assert addressed == ["Cause of concern CoC1", "Recommendation R1", "Recommendation R2", "Recommendation R3"]

    def block(heading: str) -> list[str]:
        start = text.index(heading)
        end = next((i for i in range(start + 1, len(paras)) if paras[i].style.name.startswith("Heading")), len(paras))
        return text[start + 1 : end]

    r1 = block("Recommendation R1")
    # Each organisation's answer under its name, the force first, then the unit.
    assert r1.index("Surrey Police") < r1.index("Planned steps: SURREY-R1 a shared briefing.") < r1.index(UNIT)
    assert r1.index(UNIT) < r1.index("Planned steps: UNIT-R1 a regional intelligence hub.")
    r2 = block("Recommendation R2")
    assert r2[1:3] == [UNIT, "Planned steps: UNIT-R2 four analysts."] and "Surrey Police" not in r2
    r3 = block("Recommendation R3")
    assert r3[1:3] == ["Surrey Police", "Planned steps: SURREY-R3 a new profile."] and UNIT not in r3
    coc1 = block("Cause of concern CoC1")
    assert coc1.count("Planned steps: No action plan has been opened for this yet.") == 2
    body = "\n".join(text)
    assert f"Draft response of Surrey Police and {UNIT}" in body
    assert "HAMPSHIRE" not in body and "Hampshire" not in body
    afis = "1 area for improvement: with the force 0, awaiting verification 0, verified complete 1"
    assert f"Surrey Police: {afis}" in body
    assert f"{UNIT}: 1 area for improvement: with the force 0" in body and "1 without an action plan yet" in body
    document = docx.Document(io.BytesIO(response.content))
    assert [[c.text for c in row.cells] for row in document.tables[0].rows] == [
        ["Organisation", "Area", "Grade"],
        ["Surrey Police", "Serious and organised crime", "Requires improvement"],
        [UNIT, "Serious and organised crime", "Good"],
    ]
    assert [c.text for c in document.tables[1].rows[1].cells] == [
        "AFI1", "Tidy the intelligence logs.", "Surrey: Verified complete; SEROCU: No action plan yet"
    ]  # fmt: skip


def test_the_pdf_for_both_says_the_same_in_the_same_order(client, region_report, inspector, settings):
    settings.PAPER_PART_ROWS = 1  # a part for each finding, laid out side by side
    client.force_login(inspector)
    response = client.get(PDF, {"with": "serocu"})
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    pages = [page.extract_text() for page in pypdf.PdfReader(io.BytesIO(response.content)).pages]
    text = re.sub(r"\s+", " ", " ".join(pages))
    for number, page in enumerate(pages, start=1):
        assert f"Page {number} of {len(pages)}" in page and page.count("OFFICIAL") >= 2
    order = [
        text.index(f"{kind} {ref} ")
        for kind, ref in (
            ("Cause of concern", "CoC1"),
            ("Recommendation", "R1"),
            ("Recommendation", "R2"),
            ("Recommendation", "R3"),
        )
    ]
    assert order == sorted(order)  # fmt: skip
    assert all(text.count(f"Recommendation {ref} ") == 1 for ref in ("R1", "R2", "R3"))
    r1 = text[order[1] : order[2]]
    assert r1.index("Surrey Police") < r1.index("SURREY-R1") < r1.index(UNIT) < r1.index("UNIT-R1")
    assert "HAMPSHIRE" not in text


def test_who_may_draw_the_draft_for_both(client, region_report, org, staff, manager, other_staff, inspector):
    _, unit = region_report
    unit_manager = ManagerFactory(organisation=unit)
    assert client.get(DOCX, {"with": "serocu"}).status_code == 302  # anonymous: to the login page
    # Each organisation's people see their own plans only, as on every page: the other's are a 404.
    for user in (staff, manager, other_staff, unit_manager, StaffFactory(organisation=unit)):
        client.force_login(user)
        assert client.get(DOCX, {"with": "serocu"}).status_code == 404, user
        assert client.get(PDF, {"with": "serocu"}).status_code == 404, user
    # (A person of neither role with no organisation cannot exist: tests/tracker/test_scope.py.)
    for user in (inspector, AdminFactory()):
        client.force_login(user)
        assert client.get(DOCX, {"with": "serocu"}).status_code == 200
        assert client.get(PDF, {"with": "serocu"}).status_code == 200


@pytest.mark.parametrize(
    "path, query, status, message",
    [
        (DOCX, {"with": "hampshire"}, 400, "Hampshire and Isle of Wight Constabulary is not a regional unit of"),
        (PDF, {"with": "surrey"}, 400, "Surrey Police is not a regional unit of Surrey"),
        (
            "/inspections/soc-2026/response/hampshire.docx",
            {"with": "serocu"},
            400,
            f"{UNIT} is not a regional unit of Hampshire",
        ),
        ("/inspections/soc-2026/response/serocu.docx", {"with": "surrey"}, 400, "Surrey Police is not a regional"),
        (DOCX, {"with": "not a slug!"}, 400, "Give with= the address name of a regional unit"),
        (DOCX, {"with": "no-such-unit"}, 404, ""),
    ],
)
def test_a_bad_partner_is_a_clear_400_or_a_404(client, region_report, inspector, path, query, status, message):
    client.force_login(inspector)
    response = client.get(path, query)
    assert response.status_code == status
    if message:
        assert message in response.content.decode() and "<code>with</code>" in response.content.decode()


def test_the_inspection_page_offers_the_draft_for_both_to_those_who_may_draw_it(client, region_report, manager,
                                                                               inspector):  # fmt: skip
    client.force_login(inspector)
    body = client.get("/inspections/soc-2026/").content.decode()
    assert f'href="{DOCX}?with=serocu" download>' in body and f'href="{PDF}?with=serocu" download>' in body
    assert "/response/hampshire.docx?with=" not in body  # another region's force
    client.force_login(manager)
    body = client.get("/inspections/soc-2026/").content.decode()
    assert f'href="{DOCX}" download>' in body and "?with=" not in body
