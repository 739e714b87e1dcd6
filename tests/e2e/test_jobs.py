"""A big export in a real browser: offered as a job, its progress bar polled by htmx, then the download."""

from __future__ import annotations

import io
import re
from pathlib import Path

import openpyxl
import pytest
from playwright.sync_api import expect

from tests.jobs import run_worker
from tracker.models import ActionPlan, Job
from tracker.reports import EXPORT_HEADER

pytestmark = pytest.mark.e2e


def test_a_big_export_shows_its_progress_bar_then_the_download(demo, new_page, settings):
    settings.EXPORT_IN_WORKER_ROWS = 5  # the demo's plans count as a big export
    hampshire = ActionPlan.objects.filter(organisation__slug="hampshire").count()
    assert hampshire > 5
    page = new_page("inspector")
    page.goto("/plans/?organisation=hampshire")
    page.get_by_role("link", name="Download Excel").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Excel download")
    expect(page.get_by_text(f"This download holds {hampshire} action plans")).to_be_visible()
    page.get_by_role("button", name="Make the file").click()

    expect(page).to_have_url(re.compile(r"/jobs/[0-9a-f-]{36}/$"))
    state = page.locator("#job-progress [role=status]")
    bar = page.get_by_role("progressbar", name="Progress")
    expect(state).to_contain_text("Waiting for a worker to start it.")
    expect(bar).to_have_attribute("aria-valuenow", "0")
    expect(page.get_by_role("link", name=re.compile("^Download"))).to_have_count(0)
    page.evaluate("window.sameDocument = true")  # gone if the page were reloaded

    run_worker()  # the worker, between two polls of the page

    link = page.get_by_role("link", name=re.compile(r"^Download action-plans-.*\.xlsx$"))
    expect(link).to_be_visible()
    expect(state).to_contain_text(f"Finished. {hampshire} action plans exported.")
    expect(bar).to_have_attribute("aria-valuenow", "100")
    assert page.evaluate("window.sameDocument") is True  # polled in place, not reloaded
    with page.expect_download() as download:
        link.click()
    assert download.value.suggested_filename == Job.objects.get().file_name
    sheet = openpyxl.load_workbook(io.BytesIO(Path(download.value.path()).read_bytes()))["Action plans"]
    rows = list(sheet.iter_rows(min_row=2, values_only=True))
    assert len(rows) == hampshire
    assert {row[EXPORT_HEADER.index("Organisation")] for row in rows} == {"Hampshire and Isle of Wight Constabulary"}


def test_a_web_import_shows_the_checks_progress_then_the_preview_then_the_imports_progress(demo, new_page):
    """Both steps of a web import are jobs: the page polls the job's progress bar in place and moves on
    by itself when it is done (to the preview, then to the results)."""
    header = "inspection,inspection_slug,published_on,reference,kind,text,addressed_to\n"
    data = (header + "Custody 2026,custody-2026,2026-02-01,R1,recommendation,Review custody staffing.,kent\n").encode()
    page = new_page("admin")
    page.goto("/imports/")
    page.get_by_label("Findings file").set_input_files({"name": "custody.csv", "mimeType": "text/csv", "buffer": data})
    page.get_by_role("button", name="Upload and preview").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Checking custody.csv")
    bar = page.get_by_role("progressbar", name="Progress")
    expect(bar).to_have_attribute("aria-valuenow", "0")
    expect(page.locator("#job-progress [role=status]")).to_contain_text("Waiting for a worker to start it.")
    run_worker()  # the check, between two polls
    expect(page.get_by_role("heading", level=1)).to_have_text("Check the import of custody.csv")
    expect(page.get_by_text("1 finding to create")).to_be_visible()

    page.get_by_role("button", name="Import 1 row").click()
    expect(page).to_have_url(re.compile(r"/jobs/[0-9a-f-]{36}/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Importing findings")
    page.evaluate("window.sameDocument = true")
    assert not Job.objects.filter(kind=Job.Kind.IMPORT_APPLY, status=Job.Status.SUCCEEDED).exists()
    run_worker()  # the import
    expect(page.get_by_role("heading", level=1)).to_have_text("Import of custody.csv complete")
    expect(page.get_by_text("Findings: 1 created, 0 updated, 0 unchanged.")).to_be_visible()
    assert page.evaluate("window.sameDocument") is None  # htmx went on to the results page
    assert Job.objects.get(kind=Job.Kind.IMPORT_APPLY).attempts == 1
