"""The board pack as a PDF made by the server (WeasyPrint): read back with pypdf, and looked at with pdftoppm."""

from __future__ import annotations

import datetime as dt
import io
import os
import re
import shutil
import subprocess

import pypdf
import pytest
from django.utils import timezone
from PIL import Image

from tests import pdfs
from tests.factories import ActionPlanFactory, ManagerFactory, MilestoneFactory, UpdateFactory
from tests.tracker.plan_world import build_world
from tracker import jobs
from tracker.models import Job, SuccessMeasure, Update
from tracker.tasks import make_board_pack

pytestmark = pytest.mark.django_db
URL = "/organisations/surrey/board-pack.pdf"
LONG_TEXT = (
    "Surrey Police should make sure that it has enough trained intelligence analysts to understand the threats "
    "from serious and organised crime, to process every intelligence report it receives without delay, and to "
    "refresh its serious and organised crime local profile at least once a year with its partners' data "
    "(counterterrorismpartnerships)."
)


@pytest.fixture
def world(org, other_org, staff, manager, other_staff):
    return build_world(org=org, other_org=other_org, staff=staff, manager=manager, other_staff=other_staff)


def pages_of(response) -> list[str]:
    assert response.status_code == 200, response.content[:500]
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-")
    return [page.extract_text() for page in pypdf.PdfReader(io.BytesIO(response.content)).pages]


def flat(text: str) -> str:
    """Text as read, its line breaks (where the layout wrapped it) made spaces."""
    return re.sub(r"\s+", " ", text)


def at(day: dt.date, hour: int = 12) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour)))


def test_who_may_download_which_board_pack(client, world, staff, manager, other_staff, inspector):
    assert client.get(URL).status_code == 302  # anonymous: to the login page
    for user in (staff, manager):
        client.force_login(user)
        assert client.get(URL).status_code == 200
        assert client.get("/organisations/hampshire/board-pack.pdf").status_code == 404
    client.force_login(other_staff)
    assert client.get(URL).status_code == 404
    client.force_login(inspector)
    assert client.get(URL).status_code == 200
    assert client.get("/organisations/hampshire/board-pack.pdf").status_code == 200
    assert client.get("/organisations/no-such-force/board-pack.pdf").status_code == 404


def test_the_pdf_has_a_cover_page_numbers_and_the_marking_on_every_page(client, world, manager):
    client.force_login(manager)
    response = client.get(URL, {"since": "2026-01-10"})
    assert response["Content-Disposition"] == (
        f'attachment; filename="board-pack-surrey-{timezone.localdate():%Y-%m-%d}.pdf"'
    )
    pages = pages_of(response)
    assert len(pages) >= 2
    cover = flat(pages[0])
    assert "Board pack" in cover and "Surrey Police" in cover
    assert "Changes from 10 January 2026 to " + timezone.localdate().strftime("%-d %B %Y") in cover
    assert "Contents" in cover and "Progress by finding" in cover
    for number, text in enumerate(pages, start=1):
        assert f"Page {number} of {len(pages)}" in text
        # At the head and the foot of every page: the marking twice (and never a higher one).
        assert len(re.findall(r"\bOFFICIAL\b", text)) >= 2, (number, text)
        assert "OFFICIAL-SENSITIVE" not in text


def test_official_sensitive_is_printed_on_every_page_when_set(client, world, manager, settings):
    settings.PROTECTIVE_MARKING = "OFFICIAL-SENSITIVE"
    client.force_login(manager)
    pages = pages_of(client.get(URL))
    for text in pages:
        assert text.count("OFFICIAL-SENSITIVE") >= 2


def test_the_pdf_holds_the_summary_that_adds_up_and_each_finding_in_full(client, world, manager):
    plan = world.plans["s_r1"]
    plan.finding.text = LONG_TEXT
    plan.finding.save()
    client.force_login(manager)
    text = flat(" ".join(pages_of(client.get(URL))))
    assert "5 action plans, each in one stage:" in text
    assert "With the force: 3, of which 1 overdue" in text
    assert "Awaiting verification: 1" in text and "Verified complete: 1" in text
    assert "Ended without completion: 0" in text
    assert "Reported complete (awaiting verification or verified complete): 2 of 5 (40%)" in text
    # The whole finding, never cut short, and no word split across lines (a long word moves whole to the
    # next line; only a word wider than its column could be broken).
    assert LONG_TEXT in text
    assert "counterterrorismpartnerships" in text
    for name in ("s_coc", "s_afi", "s_peel_r1", "s_peel_afi"):
        assert world.plans[name].finding.text in text
    # RAG in words beside its colour.
    assert "Red: overdue" in text and "Amber: at risk" in text and "Grey: finished" in text
    assert "Hampshire" not in text


def test_overdue_deferrals_and_changes_come_with_their_reasons(client, world, staff, manager):
    s_coc, s_peel_afi = world.plans["s_coc"], world.plans["s_peel_afi"]
    today = timezone.localdate()
    UpdateFactory(plan=s_coc, author=manager, kind=Update.Kind.STATUS, note="Blocked on the analyst budget.",
                  created_at=at(today - dt.timedelta(days=3)))  # fmt: skip
    UpdateFactory(plan=s_peel_afi, author=manager, kind=Update.Kind.TARGET_DATE,
                  note="Supervision review moved after the restructure.",
                  created_at=at(today - dt.timedelta(days=2)))  # fmt: skip
    UpdateFactory(plan=s_coc, author=staff, note="Before the chosen date.", created_at=at(dt.date(2026, 1, 9), 23))
    UpdateFactory(plan=s_coc, author=staff, note="On the chosen date.", created_at=at(dt.date(2026, 1, 10), 0))
    client.force_login(manager)
    text = flat(" ".join(pages_of(client.get(URL, {"since": "2026-01-10"}))))
    overdue = text.split("Overdue, with reasons")[-1].split("Deferrals, with reasons")[0]
    assert f"CoC1 ({s_coc.finding.inspection.title})" in overdue and "Blocked on the analyst budget." in overdue
    deferrals = text.split("Deferrals, with reasons")[-1].split("Changes since")[0]
    assert f"AFI1 ({s_peel_afi.finding.inspection.title})" in deferrals
    assert "Supervision review moved after the restructure." in deferrals
    # Each finding's full text is given once, under Progress by finding; the overdue and deferred plans are
    # named by their finding's reference and inspection there.
    progress = text.split("Progress by finding")[-1].split("Overdue, with reasons")[0]
    for plan in (s_coc, s_peel_afi):
        assert text.count(plan.finding.text) == 1 and plan.finding.text in progress
    changes = text.split("Changes since 10 January 2026")[-1]
    assert "On the chosen date." in changes and "Before the chosen date." not in changes


def test_the_trend_chart_is_included_only_when_asked_for(client, world, manager):
    client.force_login(manager)
    assert "Trend over the last 12 months" not in " ".join(pages_of(client.get(URL)))
    with_chart = pages_of(client.get(URL, {"chart": "1"}))
    assert "Trend over the last 12 months" in " ".join(with_chart)


@pytest.mark.parametrize(
    "query, message",
    [
        ({"since": "2024-02-30"}, "Enter a valid date."),
        ({"since": "not-a-date"}, "Enter a valid date."),
        ({"chart": "yes"}, "Give chart=1 to include the trend chart, or leave it out."),
    ],
)
def test_a_bad_parameter_is_a_clear_400_not_a_pdf(client, world, manager, query, message):
    client.force_login(manager)
    response = client.get(URL, query)
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
    body = response.content.decode()
    assert message in body and f"<code>{next(iter(query))}</code>" in body


def test_the_page_offers_the_pdf_for_the_same_period_and_chart(client, world, manager):
    client.force_login(manager)
    body = client.get("/organisations/surrey/board-pack/", {"since": "2026-01-10", "chart": "1"}).content.decode()
    assert f'<a class="btn btn-primary" href="{URL}?since=2026-01-10&amp;chart=1" download>Download PDF</a>' in body
    body = client.get("/organisations/surrey/board-pack/").content.decode()
    since = (timezone.localdate() - dt.timedelta(days=90)).isoformat()
    assert f'href="{URL}?since={since}" download>Download PDF</a>' in body


@pytest.mark.skipif(not shutil.which("pdftoppm") and not os.environ.get("CI"), reason="needs poppler-utils")
def test_rag_badges_print_in_colour(client, world, manager, tmp_path):
    """The printed pack used to turn every RAG badge into a black outline: rendered, the progress page
    holds the red, amber, green and grey of the badges (beside their words, checked above)."""
    client.force_login(manager)
    response = client.get(URL)
    (tmp_path / "pack.pdf").write_bytes(response.content)
    pages = pages_of(response)
    subprocess.run(["pdftoppm", "-png", "-r", "60", str(tmp_path / "pack.pdf"), str(tmp_path / "page")],
                   check=True, timeout=60)  # fmt: skip
    colours = set()
    for image in sorted(tmp_path.glob("page-*.png")):
        colours |= {colour for _, colour in Image.open(image).convert("RGB").getcolors(1_000_000)}
    for rag, rgb in {"red": (0xB1, 0x0E, 0x1E), "amber": (0xFF, 0xDD, 0x00), "grey": (0x50, 0x5A, 0x5F)}.items():
        assert rgb in colours, rag
    # Page one is the cover: its facts sit in the top half, and the pack proper starts on page two.
    assert "Board pack" in pages[0] and "Summary" in pages[1]


def test_a_big_pack_is_made_by_a_worker(client, world, manager, settings):
    settings.BOARD_PACK_PDF_IN_WORKER_PLANS = 4  # Surrey has 5 plans
    client.force_login(manager)
    offer = client.get(URL, {"since": "2026-01-10", "chart": "1"})
    assert offer.status_code == 200 and offer["Content-Type"].startswith("text/html")
    body = offer.content.decode()
    assert "<strong>5</strong> action plans" in body
    assert 'action="/jobs/board-pack/"' in body and 'name="since" value="2026-01-10"' in body
    assert not Job.objects.exists()  # a GET starts nothing

    asked = client.post("/jobs/board-pack/", {"organisation": "surrey", "since": "2026-01-10", "chart": "1"})
    job = Job.objects.get()
    assert asked.status_code == 302 and asked["Location"] == job.get_absolute_url()
    assert (job.kind, job.user, job.params["organisation"], job.params["since"], job.params["chart"]) == (
        Job.Kind.BOARD_PACK_PDF, manager, world.plans["s_coc"].organisation_id, "2026-01-10", True
    )  # fmt: skip
    assert jobs.run(str(job.pk), make_board_pack) == "Board pack of 5 action plans made."
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED
    download = client.get(f"/jobs/{job.pk}/download/")
    assert download["Content-Type"] == "application/pdf"
    pdf = b"".join(download.streaming_content)
    text = flat(" ".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages))
    assert "Board pack" in text and "Changes since 10 January 2026" in text and "Trend over the last 12 months" in text


def test_a_pack_job_for_another_organisation_is_refused_and_nothing_is_queued(client, world, manager):
    client.force_login(manager)
    assert client.post("/jobs/board-pack/", {"organisation": "hampshire"}).status_code == 404
    assert client.post("/jobs/board-pack/", {"organisation": "surrey", "since": "2024-02-30"}).status_code == 400
    assert client.post("/jobs/board-pack/", {}).status_code == 400
    assert client.get("/jobs/board-pack/").status_code == 405
    assert not Job.objects.exists()


def test_a_pack_job_is_not_made_if_its_owner_moved_meanwhile(client, world, manager, other_org):
    client.force_login(manager)
    client.post("/jobs/board-pack/", {"organisation": "surrey"})
    job = Job.objects.get()
    manager.organisation = other_org
    manager.save()
    with pytest.raises(jobs.JobRefused):
        jobs.run(str(job.pk), make_board_pack)
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED and not job.file
    assert "What you may see changed" in job.message


@pytest.mark.parametrize("n", [3, 30])
def test_pdf_queries_do_not_grow(client, django_assert_num_queries, org, n):
    today = timezone.localdate()
    for plan in ActionPlanFactory.create_batch(n, organisation=org, target_date=today - dt.timedelta(days=1)):
        UpdateFactory(plan=plan, kind=Update.Kind.TARGET_DATE, note="Later.")
        MilestoneFactory.create_batch(2, plan=plan)
    client.force_login(ManagerFactory(organisation=org))
    # session, user, organisation, plan count, changes, summary, gradings, plans, their milestones, their
    # success measures, their proposals of no action, overdue, deferred, session save (3)
    with django_assert_num_queries(16):
        response = client.get(URL)
    assert response.status_code == 200


def test_rendering_fetches_nothing_whatever_the_markup_says(tmp_path):
    """Finding text is escaped, and even markup that reached the renderer fetches nothing: no file, no address."""
    import http.server
    import threading

    from tracker import papers

    asked: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the standard library's name
            asked.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    address = f"http://127.0.0.1:{server.server_port}"
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET-ON-DISK")
    try:
        pdf = papers.html_to_pdf(
            f'<link rel="stylesheet" href="{address}/x.css"><p>Hello</p><img src="{address}/x.png">'
            f'<iframe src="file://{secret}"></iframe><object data="file://{secret}"></object>'
        )
    finally:
        server.shutdown()
    assert asked == []
    text = " ".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages)
    assert "Hello" in text and "SECRET-ON-DISK" not in text


def test_a_long_pack_laid_out_in_parts_is_numbered_and_marked_throughout_and_holds_each_plan_once(
    client, org, manager, settings
):
    """Laid out in parts side by side (two processes, a few rows each) and joined: every page numbered
    "Page N of M" of the whole, the marking at its head and foot, each plan's finding once in the
    progress section in order, and the contents giving the page each section starts on."""
    settings.PAPER_PART_ROWS, settings.PAPER_PROCESSES = 7, 2
    today = timezone.localdate()
    plans = [
        ActionPlanFactory(organisation=org, finding__reference=f"R{i}", finding__text=f"FINDING-{i:02} {LONG_TEXT}",
                          target_date=today - dt.timedelta(days=1 + i % 3), deferral_count=i % 4 == 0)
        for i in range(1, 25)
    ]  # fmt: skip
    client.force_login(manager)
    pages = pages_of(client.get(URL))
    assert len(pages) >= 8
    for number, text in enumerate(pages, start=1):
        assert f"Page {number} of {len(pages)}" in text, (number, text[-200:])
        assert len(re.findall(r"\bOFFICIAL\b", text)) >= 2, (number, text)
    body = flat(" ".join(pages[1:]))  # after the cover and its contents
    progress = body.split("Progress by finding", 1)[1].split("Overdue, with reasons")[0]
    ordered = [plan.finding.text for plan in sorted(plans, key=lambda p: (  # by inspection, then R2 before R10
        p.finding.inspection.published_on, p.finding.inspection_id, len(p.finding.reference), p.finding.reference,
        p.pk))]  # fmt: skip
    at = [progress.index(text) for text in ordered]
    assert at == sorted(at) and all(progress.count(text) == 1 for text in ordered)
    assert "Progress by finding (continued)" in body
    # The contents' page numbers are the pages the sections start on.
    cover = flat(pages[0])
    for title in ("Summary", "Progress by finding", "Overdue, with reasons", "Deferrals, with reasons"):
        page = int(re.search(re.escape(title) + r" \.*\s*(\d+)", cover).group(1))
        assert flat(pages[page - 1]).count(title) >= 1, title
        assert all(title not in flat(p) for p in pages[1 : page - 1]), title


def test_the_running_head_holds_an_organisation_name_with_quotes_as_it_is(client, org, manager):
    org.name = 'O"Brien \\ Police'
    org.save()
    ActionPlanFactory(organisation=org)
    client.force_login(manager)
    pages = pages_of(client.get(URL))
    assert 'O"Brien \\ Police' in pages[1]  # the head on the right, from the second page


def test_the_pdf_shows_each_plans_milestones(client, world, staff, manager):
    plan = world.plans["s_r1"]
    MilestoneFactory(plan=plan, position=1, title="Agree the analyst budget", owner=staff,
                     target_date=dt.date(2026, 9, 1), done_on=dt.date(2026, 8, 20))  # fmt: skip
    MilestoneFactory(plan=plan, position=2, title="Recruit two analysts", target_date=dt.date(2027, 3, 1))
    client.force_login(manager)
    text = flat(" ".join(pages_of(client.get(URL))))
    progress = text.split("Progress by finding")[-1].split("Overdue, with reasons")[0]
    assert f"Agree the analyst budget · {staff.get_full_name()} · target 1 Sep 2026 · done 20 Aug 2026" in progress
    assert "Recruit two analysts · no owner · target 1 Mar 2027 · not done yet" in progress
    assert progress.index("Agree the analyst budget") < progress.index("Recruit two analysts")


def test_the_pdf_shows_each_plans_success_measures(client, world, manager):
    plan = world.plans["s_r1"]
    SuccessMeasure.objects.create(plan=plan, position=1, text="Intelligence reports triaged within a week",
                                  target_figure="95%", sustain_until=dt.date(2027, 6, 30))  # fmt: skip
    client.force_login(manager)
    text = flat(" ".join(pages_of(client.get(URL))))
    progress = text.split("Progress by finding")[-1].split("Overdue, with reasons")[0]
    assert "Success measures:" in progress
    assert "Intelligence reports triaged within a week (target 95%), sustained until 30 Jun 2027" in progress


def test_every_font_of_the_pack_is_embedded_page_numbers_included(client, world, manager, settings):
    """Every font the pack uses is in the PDF (the page numbers are stamped after the parts are joined, in
    the documents' own font, not in a reader's Helvetica), with the trend chart and in several parts."""
    settings.PAPER_PART_ROWS, settings.PAPER_PROCESSES = 2, 2
    client.force_login(manager)
    response = client.get(URL, {"chart": "1"})
    pages_of(response)
    used = pdfs.fonts(response.content)
    assert used and any("DejaVu" in name for name in used)
    assert pdfs.not_embedded(response.content) == []
    assert not any("Helvetica" in name for name in used)


def test_the_outline_of_a_pack_laid_out_in_parts_leads_to_each_section_in_order(client, org, manager, settings):
    """The bookmarks of the parts survive their joining: the cover's, then each section's once (never its
    "continued" headings), in the order of the contents, each leading to the page the contents give."""
    settings.PAPER_PART_ROWS, settings.PAPER_PROCESSES = 5, 2
    today = timezone.localdate()
    for i in range(1, 19):
        ActionPlanFactory(organisation=org, finding__reference=f"R{i}", finding__text=f"FINDING-{i:02} {LONG_TEXT}",
                          target_date=today - dt.timedelta(days=1 + i % 3), deferral_count=i % 3 == 0)  # fmt: skip
    client.force_login(manager)
    response = client.get(URL, {"since": "2026-01-10"})
    pages = pages_of(response)
    cover = flat(pages[0])
    sections = ["Summary", "Inspection gradings", "Progress by finding", "Overdue, with reasons",
                "Deferrals, with reasons", "Changes since 10 January 2026"]  # fmt: skip
    contents = {title: int(re.search(re.escape(title) + r" \.*\s*(\d+)", cover).group(1)) for title in sections}
    assert contents["Progress by finding"] < contents["Overdue, with reasons"] - 1  # over several pages
    entries = pdfs.outline(response.content)
    assert entries[0] == (0, "Board pack", 1)
    in_sections = [(title, page) for depth, title, page in entries if title in sections]
    assert in_sections == [(title, contents[title]) for title in sections]
    assert not any("continued" in title for _, title, _ in entries)
    for title, page in in_sections:
        assert title in flat(pages[page - 1])
