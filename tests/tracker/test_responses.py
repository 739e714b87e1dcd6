"""The police and crime commissioner's 56-day response: the draft as DOCX (read back with python-docx) and
PDF (pypdf), the deadlines on the inspection page, and recording the published response."""

from __future__ import annotations

import datetime as dt
import io
import re

import docx
import pypdf
import pytest
from django.utils import timezone

from inspections.models import Finding, Grading
from tests import pdfs, servers
from tests.factories import (
    PDF_BYTES,
    ActionPlanFactory,
    FindingFactory,
    GradingFactory,
    InspectionFactory,
    ManagerFactory,
    MilestoneFactory,
    OrganisationFactory,
    UpdateFactory,
    pdf_upload,
    stored_files,
)
from tracker.models import ActionPlan, PccResponse, Update

pytestmark = pytest.mark.django_db
S = ActionPlan.Status
K = Finding.Kind


@pytest.fixture
def report(org, other_org, staff, manager):
    """An inspection published 50 days ago addressing Surrey and Hampshire: CoC1 with R1 and R10, CoC2
    with R3, R2 on its own, R4 only to Hampshire, and two AFIs; Surrey's plans in several states."""
    today = timezone.localdate()
    inspection = InspectionFactory(title="Vetting inspection 2026", slug="vetting-2026",
                                   published_on=today - dt.timedelta(days=50))  # fmt: skip
    GradingFactory(inspection=inspection, organisation=org, area="Vetting", grade=Grading.Grade.REQUIRES_IMPROVEMENT)
    GradingFactory(inspection=inspection, organisation=other_org, area="Vetting", grade=Grading.Grade.INADEQUATE)

    def finding(reference, kind, text, cause=None, to=(org, other_org)):
        f = FindingFactory(inspection=inspection, reference=reference, kind=kind, text=text, cause_of_concern=cause)
        f.addressed_to.set(to)
        return f

    coc1 = finding("CoC1", K.CAUSE_OF_CONCERN, "Vetting decisions are not recorded.")
    coc2 = finding("CoC2", K.CAUSE_OF_CONCERN, "Aftercare is missing.")
    findings = {
        "CoC1": coc1,
        "CoC2": coc2,
        "R10": finding("R10", K.RECOMMENDATION, "Audit vetting decisions yearly.", coc1),
        "R1": finding("R1", K.RECOMMENDATION, "Record every vetting decision with its reasons.", coc1),
        "R3": finding("R3", K.RECOMMENDATION, "Introduce aftercare checks.", coc2),
        "R2": finding("R2", K.RECOMMENDATION, "Train vetting staff."),
        "R4": finding("R4", K.RECOMMENDATION, "HAMPSHIRE-ONLY recommendation.", to=(other_org,)),
        "AFI1": finding("AFI1", K.AREA_FOR_IMPROVEMENT, "Tidy vetting files."),
        "AFI2": finding("AFI2", K.AREA_FOR_IMPROVEMENT, "Shorten vetting queues."),
    }
    plans = {
        "R1": ActionPlanFactory(finding=findings["R1"], organisation=org, owner=staff, status=S.IN_PROGRESS,
                                summary="A decision log in the vetting system, with reasons.",
                                target_date=today + dt.timedelta(days=90),
                                original_target_date=today + dt.timedelta(days=60)),
        "R10": ActionPlanFactory(finding=findings["R10"], organisation=org, owner=manager, status=S.NOT_STARTED,
                                 summary="Annual audit by professional standards."),
        "R2": ActionPlanFactory(finding=findings["R2"], organisation=org, status=S.NO_FURTHER_ACTION),
        "CoC1": ActionPlanFactory(finding=coc1, organisation=org, owner=manager, summary="Board-level oversight."),
        "AFI1": ActionPlanFactory(finding=findings["AFI1"], organisation=org, status=S.CLOSED),
        "h_R1": ActionPlanFactory(finding=findings["R1"], organisation=other_org, summary="HAMPSHIRE-PLAN steps."),
    }  # fmt: skip
    UpdateFactory(plan=plans["R1"], author=staff, kind=Update.Kind.PROGRESS, note="Log built; training next.")
    MilestoneFactory(plan=plans["R1"], position=2, title="Train the vetting staff", target_date=today)
    MilestoneFactory(plan=plans["R1"], position=1, title="Build the decision log", owner=staff,
                     target_date=dt.date(2026, 6, 1), done_on=dt.date(2026, 5, 20))  # fmt: skip
    UpdateFactory(plan=plans["R2"], kind=Update.Kind.STATUS, status_from=S.IN_PROGRESS, status_to=S.NO_FURTHER_ACTION,
                  note="Training already given nationally by the College of Policing.")  # fmt: skip
    return inspection, findings, plans


DOCX = "/inspections/vetting-2026/response/surrey.docx"
PDF = "/inspections/vetting-2026/response/surrey.pdf"


def paragraphs(response) -> list[docx.text.paragraph.Paragraph]:
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    return docx.Document(io.BytesIO(response.content)).paragraphs


def test_the_docx_addresses_every_cause_and_recommendation_once_in_order_with_its_steps(client, report, manager):
    inspection, findings, plans = report
    client.force_login(manager)
    paras = paragraphs(client.get(DOCX))
    text = [p.text for p in paras]
    headings = [p.text for p in paras if p.style.name.startswith("Heading")]
    addressed = [h for h in headings if h.startswith(("Cause of concern ", "Recommendation "))]
    # The report's order: each cause of concern then its recommendations (R1 before R10), then the others.
    assert addressed == ["Cause of concern CoC1", "Recommendation R1", "Recommendation R10",
                         "Cause of concern CoC2", "Recommendation R3", "Recommendation R2"]  # fmt: skip
    assert [p.style.name for p in paras if p.text in addressed] == [
        "Heading 2", "Heading 3", "Heading 3", "Heading 2", "Heading 3", "Heading 2"
    ]  # fmt: skip

    def block(heading: str) -> list[str]:
        start = text.index(heading)
        end = next((i for i in range(start + 1, len(paras)) if paras[i].style.name.startswith("Heading")), len(paras))
        return text[start + 1 : end]

    today = timezone.localdate()
    r1 = block("Recommendation R1")
    assert r1[0] == findings["R1"].text
    assert "Planned steps: A decision log in the vetting system, with reasons." in r1
    assert "Owner: An action owner" in r1  # by role, never by name
    assert (f"Target date: {today + dt.timedelta(days=90):%-d %B %Y} "
            f"(originally {today + dt.timedelta(days=60):%-d %B %Y})") in r1  # fmt: skip
    assert any(line.startswith("Latest progress (") and line.endswith("Log built; training next.") for line in r1)
    assert "Owner: A manager" in block("Recommendation R10")
    # The plan's milestones, in order, each with its owner by role, its date and whether it is done.
    assert r1[-2:] == [
        "Milestone 1: Build the decision log (An action owner; target date 1 June 2026; done on 20 May 2026)",
        f"Milestone 2: Train the vetting staff (No owner assigned yet; target date {today:%-d %B %Y}; not done yet)",
    ]
    assert block("Recommendation R2")[1:] == [
        "No further action (no further action): Training already given nationally by the College of Policing."
    ]
    assert block("Recommendation R3")[1:] == ["Planned steps: No action plan has been opened for this yet."]
    assert "Planned steps: Board-level oversight." in block("Cause of concern CoC1")
    body = "\n".join(text)
    assert "HAMPSHIRE" not in body and manager.get_full_name() not in body
    assert "2 areas for improvement: with the force 0, awaiting verification 0, verified complete 1" in body
    # The gradings table, the marking in the header and the footer's page fields.
    document = docx.Document(io.BytesIO(client.get(DOCX).content))
    assert [[c.text for c in row.cells] for row in document.tables[0].rows] == [
        ["Area", "Grade"], ["Vetting", "Requires improvement"]
    ]  # fmt: skip
    assert document.sections[0].header.paragraphs[0].text == "OFFICIAL · DRAFT"
    footer = document.sections[0].footer.paragraphs[0]._p.xml
    assert "PAGE" in footer and "NUMPAGES" in footer and "OFFICIAL" in footer
    assert f"Response due by: {inspection.published_on + dt.timedelta(days=56):%-d %B %Y}" in body


@pytest.mark.parametrize("rows_per_part", [200, 1])  # one part, or a part for each finding laid out side by side
def test_the_pdf_draft_says_the_same_with_the_marking_and_page_numbers(client, report, manager, settings,
                                                                        rows_per_part):  # fmt: skip
    settings.PROTECTIVE_MARKING = "OFFICIAL-SENSITIVE"
    settings.PAPER_PART_ROWS, settings.PAPER_PROCESSES = rows_per_part, 2
    client.force_login(manager)
    response = client.get(PDF)
    assert response["Content-Type"] == "application/pdf"
    pages = [page.extract_text() for page in pypdf.PdfReader(io.BytesIO(response.content)).pages]
    text = re.sub(r"\s+", " ", " ".join(pages))
    for number, page in enumerate(pages, start=1):
        assert f"Page {number} of {len(pages)}" in page and page.count("OFFICIAL-SENSITIVE") >= 2
    order = [text.index(f"{kind} {ref} ") for kind, ref in (
        ("Cause of concern", "CoC1"), ("Recommendation", "R1"), ("Recommendation", "R10"),
        ("Cause of concern", "CoC2"), ("Recommendation", "R3"), ("Recommendation", "R2"))]  # fmt: skip
    assert order == sorted(order)
    assert "A decision log in the vetting system, with reasons." in text
    assert "Training already given nationally by the College of Policing." in text
    assert "HAMPSHIRE" not in text


def test_every_font_of_the_pdf_draft_is_embedded_page_numbers_included(client, report, manager, settings):
    settings.PAPER_PART_ROWS, settings.PAPER_PROCESSES = 2, 2
    client.force_login(manager)
    response = client.get(PDF)
    assert response.status_code == 200 and len(pypdf.PdfReader(io.BytesIO(response.content)).pages) >= 2
    used = pdfs.fonts(response.content)
    assert used and not any("Helvetica" in name for name in used)
    assert pdfs.not_embedded(response.content) == []


def test_who_may_download_which_draft(client, report, staff, manager, other_staff, inspector):
    assert client.get(DOCX).status_code == 302
    for user in (staff, manager):
        client.force_login(user)
        assert client.get(DOCX).status_code == 200
        assert client.get("/inspections/vetting-2026/response/hampshire.docx").status_code == 404
    client.force_login(other_staff)
    assert client.get(DOCX).status_code == 404 and client.get(PDF).status_code == 404
    client.force_login(inspector)
    assert client.get("/inspections/vetting-2026/response/hampshire.docx").status_code == 200
    # An organisation the inspection does not address has no response to draft.
    OrganisationFactory(slug="essex")
    assert client.get("/inspections/vetting-2026/response/essex.docx").status_code == 404
    assert client.get("/inspections/no-such/response/surrey.docx").status_code == 404


def test_the_inspection_page_shows_each_visible_deadline(client, report, staff, inspector):
    inspection = report[0]
    deadline = inspection.published_on + dt.timedelta(days=56)
    client.force_login(staff)
    body = client.get("/inspections/vetting-2026/").content.decode()
    section = body.split('id="responses-heading"')[1].split("</section>")[0]
    assert f'{deadline:%-d %B %Y} <span class="small">(in 6 days)</span>' in section
    assert "Not recorded yet" in section
    assert "Hampshire" not in section
    assert "<form" not in section  # staff may not record it
    client.force_login(inspector)
    section = client.get("/inspections/vetting-2026/").content.decode().split('id="responses-heading"')[1]
    assert "Hampshire" in section and "Surrey Police" in section and "<form" not in section.split("</section>")[0]


def test_a_manager_records_the_published_response(client, report, manager, other_manager, staff):
    inspection = report[0]
    page = "/inspections/vetting-2026/"
    client.force_login(manager)
    assert 'action="/inspections/vetting-2026/response/surrey/"' in client.get(page).content.decode()
    today = timezone.localdate()
    response = client.post("/inspections/vetting-2026/response/surrey/",
                           {"file": pdf_upload("PCC response.pdf"), "published_on": today.isoformat()})  # fmt: skip
    assert response.status_code == 302
    recorded = PccResponse.objects.get()
    assert (recorded.inspection, recorded.organisation, recorded.published_on, recorded.uploaded_by) == (
        inspection, manager.organisation, today, manager
    )  # fmt: skip
    assert recorded.original_name == "PCC response.pdf"
    assert stored_files("responses")
    body = client.get(page).content.decode()
    assert f"Recorded: published {today:%-d %B %Y}" in body
    download = client.get("/inspections/vetting-2026/response/surrey/file/")
    assert b"".join(download.streaming_content) == PDF_BYTES
    assert download["Cache-Control"] == "private, no-store"
    # A second one is refused; nothing changes.
    client.post("/inspections/vetting-2026/response/surrey/", {"file": pdf_upload(), "published_on": today})
    assert PccResponse.objects.count() == 1 and len(stored_files("responses")) == 1
    # Staff may not record it; another organisation's manager gets 404 for it.
    client.force_login(staff)
    assert client.post("/inspections/vetting-2026/response/surrey/").status_code == 403
    client.force_login(other_manager)
    assert client.post("/inspections/vetting-2026/response/surrey/").status_code == 404
    assert client.get("/inspections/vetting-2026/response/surrey/file/").status_code == 404


@pytest.mark.parametrize(
    "data, message",
    [
        ({"published_on": "2026-01-01"}, "The published response: This field is required."),
        ({"file": "bad", "published_on": "2024-02-30"}, "Date it was published: Enter a valid date."),
        ({"file": "future", "published_on": "future"}, "The response cannot have been published after today."),
        ({"file": "early", "published_on": "early"}, "The response cannot predate the report"),
        ({"file": "exe", "published_on": "today"}, "is not an accepted type"),
        ({"file": "lying", "published_on": "today"}, "does not contain what its .pdf extension says"),
    ],
)
def test_a_bad_upload_is_refused_with_a_message_and_nothing_stored(client, report, manager, data, message):
    today = timezone.localdate()
    files = {"bad": pdf_upload(), "future": pdf_upload(), "early": pdf_upload(),
             "exe": pdf_upload("response.exe"), "lying": pdf_upload("response.pdf", b"MZ not a pdf")}  # fmt: skip
    days = {"future": today + dt.timedelta(days=1), "early": report[0].published_on - dt.timedelta(days=1),
            "today": today}  # fmt: skip
    post = {key: (files[value] if key == "file" else days.get(value, value)) for key, value in data.items()}
    client.force_login(manager)
    response = client.post("/inspections/vetting-2026/response/surrey/", post, follow=True)
    assert message in response.content.decode()
    assert not PccResponse.objects.exists() and not stored_files("responses")


def test_an_infected_response_is_refused_and_nothing_stored(client, report, manager, settings, clamd):
    settings.CLAMAV_ADDRESS = clamd
    client.force_login(manager)
    infected = pdf_upload("response.pdf", PDF_BYTES + b"% " + servers.EICAR + b"\n")
    response = client.post("/inspections/vetting-2026/response/surrey/",
                           {"file": infected, "published_on": timezone.localdate()}, follow=True)  # fmt: skip
    body = response.content.decode()
    assert "response.pdf” was refused: the virus scanner found Tracker.Test.EICAR.UNOFFICIAL in it." in body
    assert not PccResponse.objects.exists() and not stored_files("responses")


def test_a_manager_of_an_organisation_not_addressed_gets_404(client, report):
    client.force_login(ManagerFactory(organisation=OrganisationFactory()))
    assert client.get(DOCX).status_code == 404
    assert client.post("/inspections/vetting-2026/response/surrey/").status_code == 404


def test_an_administrator_may_delete_a_response_recorded_by_mistake_and_its_file_goes(
    client, report, manager, django_capture_on_commit_callbacks
):
    from tests.factories import AdminFactory

    client.force_login(manager)
    client.post("/inspections/vetting-2026/response/surrey/",
                {"file": pdf_upload(), "published_on": timezone.localdate()})  # fmt: skip
    recorded = PccResponse.objects.get()
    client.force_login(AdminFactory())
    assert client.get("/admin/tracker/pccresponse/").status_code == 200
    assert client.get("/admin/tracker/pccresponse/add/").status_code == 403
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/admin/tracker/pccresponse/{recorded.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not PccResponse.objects.exists() and not stored_files("responses")
