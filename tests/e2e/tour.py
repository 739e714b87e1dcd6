"""Every main page, for every role: the stops the accessibility, small-screen and console tests visit.

Each stop leaves the page as a person would see it at its most complete: filters applied, every form
on a plan opened, forms sent back with errors, an import file uploaded and previewed.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from playwright.sync_api import Page, expect

from devdata.demo import INSPECTION_SLUG, REVISIT_SLUG
from tests.e2e.conftest import Demo
from tracker.imports.columns import COLUMNS, MILESTONE_COLUMNS, MILESTONES_MARKER

ROLES = {
    "anonymous": None,
    "staff": "surrey.staff",
    "manager": "surrey.manager",
    "inspector": "inspector",
    "admin": "admin",
}


@dataclass(frozen=True)
class Stop:
    name: str
    visit: Callable[[Page, Demo], None]


def go(path: str | Callable[[Demo], str], status: int = 200) -> Callable[[Page, Demo], None]:
    def visit(page: Page, demo: Demo) -> None:
        url = path(demo) if callable(path) else path
        response = page.goto(url)
        assert response is not None and response.status == status, f"{url}: {response and response.status}"

    return visit


def open_all_forms(page: Page) -> None:
    """Open every collapsed form (<details>) the way a person would: by its summary."""
    closed = page.locator("details:not([open])")
    for _ in range(closed.count()):
        closed.first.locator("summary").click()
    expect(closed).to_have_count(0)


def plan_with_forms(
    reference: str, organisation: str, inspection: str = INSPECTION_SLUG
) -> Callable[[Page, Demo], None]:
    def visit(page: Page, demo: Demo) -> None:
        go(demo.plan(reference, organisation, inspection).get_absolute_url())(page, demo)
        open_all_forms(page)

    return visit


def plan_form_errors(reference: str, organisation: str, form: str, button: str) -> Callable[[Page, Demo], None]:
    """Send a plan's form empty: the page comes back (400) with the errors and every form open."""

    def visit(page: Page, demo: Demo) -> None:
        go(demo.plan(reference, organisation).get_absolute_url())(page, demo)
        details = page.locator(f"#action-{form}")
        details.locator("summary").click()
        fields = details.locator("textarea")
        for index in range(fields.count()):
            fields.nth(index).fill("")
        with page.expect_response(lambda r: r.request.method == "POST") as response:
            details.get_by_role("button", name=button).click()
        assert response.value.status == 400
        expect(page.get_by_role("alert").first).to_be_visible()
        open_all_forms(page)

    return visit


def statement_errors(reference: str, organisation: str) -> Callable[[Page, Demo], None]:
    """Send a plan's public statement form empty: the page comes back (400) with the error."""

    def visit(page: Page, demo: Demo) -> None:
        go(demo.plan(reference, organisation).get_absolute_url())(page, demo)
        form = page.locator("#statement-form")
        form.locator("summary").click()
        form.get_by_role("textbox").fill("")
        with page.expect_response(lambda r: r.request.method == "POST") as response:
            form.get_by_role("button", name="Save the statement").click()
        assert response.value.status == 400
        expect(page.locator("#statement-form .invalid-feedback")).to_be_visible()
        open_all_forms(page)

    return visit


def log_in_wrongly(page: Page, demo: Demo) -> None:
    go("/accounts/login/")(page, demo)
    page.get_by_label("Username").fill("surrey.staff")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_be_visible()


def import_csv(*rows: str) -> bytes:
    return ("\r\n".join([",".join(COLUMNS), *rows]) + "\r\n").encode()


GOOD_IMPORT = import_csv(
    "Police custody thematic 2025,custody-2025,2025-06-01,R1,recommendation,"
    "Forces should record every detainee's risk assessment.,surrey;hampshire,Custody,2026-03-31,",
    "Police custody thematic 2025,custody-2025,2025-06-01,AFI1,AFI,Forces should review custody staffing.,kent,,,",
)
BAD_IMPORT = import_csv(
    "Police custody thematic 2025,custody-2025,2025-06-01,R1,recommendation,,surrey,,not-a-date,",
    "Police custody thematic 2025,custody-2025,2025-06-01,R2,verdict,Some text.,atlantis,,,CoC9",
)


# Milestones alone (the findings' header and no finding): one good row, one whose owner is unknown.
MILESTONE_IMPORT = (
    "\r\n".join([
        ",".join(COLUMNS), MILESTONES_MARKER, ",".join(MILESTONE_COLUMNS),
        "south-east-soc-2024,R3,hampshire,Agree the briefing rota,hampshire.staff,2030-01-31,,",
        "south-east-soc-2024,R3,hampshire,Brief response teams,nobody,2030-02-28,,",
    ]) + "\r\n"
).encode()  # fmt: skip


def upload(name: str, content: bytes, *, publish: bool = False, check: bool = True) -> Callable[[Page, Demo], None]:
    """Upload a file: the page shows the check's progress; with `check`, the worker checks it and the
    page moves on to the preview by itself."""

    def visit(page: Page, demo: Demo) -> None:
        from tests.jobs import run_worker

        go("/imports/")(page, demo)
        page.get_by_label("Findings file").set_input_files({"name": name, "mimeType": "text/csv", "buffer": content})
        if publish:
            page.get_by_label("Publish: open action plans for every addressee").check()
        page.get_by_role("button", name="Upload and preview").click()
        expect(page.get_by_role("heading", level=1)).to_have_text(f"Checking {name}")
        expect(page.get_by_role("progressbar", name="Progress")).to_be_visible()
        if check:
            run_worker()
            expect(page.get_by_role("heading", level=1)).to_have_text(f"Check the import of {name}")

    return visit


def upload_nothing(page: Page, demo: Demo) -> None:
    go("/imports/")(page, demo)
    page.get_by_role("button", name="Upload and preview").click()
    expect(page.get_by_role("alert")).to_be_visible()


def import_and_confirm(page: Page, demo: Demo) -> None:
    from tests.jobs import run_worker

    upload("custody.csv", GOOD_IMPORT, publish=True)(page, demo)
    page.get_by_role("button", name="Import 2 rows").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Importing findings")
    run_worker()
    expect(page.get_by_role("heading", level=1)).to_have_text("Import of custody.csv complete")


def bulk_form(path: str, action: str) -> Callable[[Page, Demo], None]:
    """The plan list with its bulk form showing the fields of `action`."""

    def visit(page: Page, demo: Demo) -> None:
        go(path)(page, demo)
        form = page.locator("form.bulk-form")
        form.get_by_label("Action").select_option(label=action)
        expect(form.locator("fieldset:visible")).to_have_count(1)

    return visit


def bulk_apply(path: str, action: str, status: int, **fields: str) -> Callable[[Page, Demo], None]:
    """Tick every plan on the page and apply `action` with `fields` ({label: value}); expect `status`."""

    def visit(page: Page, demo: Demo) -> None:
        bulk_form(path, action)(page, demo)
        page.get_by_label("Select every plan on this page").check()
        form = page.locator("form.bulk-form")
        for label, value in fields.items():
            field = form.get_by_label(label)
            if field.evaluate("el => el.tagName") == "SELECT":
                field.select_option(label=value)
            elif field.get_attribute("type") == "checkbox":
                field.check()
            else:
                field.fill(value)
        with page.expect_response(lambda r: r.request.method == "POST") as response:
            form.get_by_role("button", name="Apply to the plans").click()
        assert response.value.status == status
        heading = "Check the bulk action" if status == 400 else f"{action}: result"
        expect(page.get_by_role("heading", level=1)).to_have_text(heading)

    return visit


def big_export(*, run: bool = False) -> Callable[[Page, Demo], None]:
    """Hampshire's plans as an export too big to stream (a lower threshold for the demo): the offer,
    then the job's page waiting for a worker, or (`run`) finished with its download link."""

    def visit(page: Page, demo: Demo) -> None:
        from django.test import override_settings

        from tests.jobs import run_worker

        with override_settings(EXPORT_IN_WORKER_ROWS=5):
            go("/plans/export.xlsx?organisation=hampshire")(page, demo)
            page.get_by_role("button", name="Make the file").click()
            expect(page.get_by_role("progressbar", name="Progress")).to_be_visible()
            if run:
                run_worker()
                expect(page.get_by_role("link", name=re.compile("^Download action-plans-"))).to_be_visible()

    return visit


def big_export_offer(page: Page, demo: Demo) -> None:
    from django.test import override_settings

    with override_settings(EXPORT_IN_WORKER_ROWS=5):
        go("/plans/export.xlsx?organisation=hampshire")(page, demo)


def big_board_pack_offer(page: Page, demo: Demo) -> None:
    """A board pack PDF too big to make in the request (a lower threshold for the demo): the offer."""
    from django.test import override_settings

    with override_settings(BOARD_PACK_PDF_IN_WORKER_PLANS=2):
        go("/organisations/surrey/board-pack.pdf?chart=1")(page, demo)
        expect(page.get_by_role("button", name="Make the PDF")).to_be_visible()


def plan_url(reference: str, organisation: str, inspection: str = INSPECTION_SLUG) -> Callable[[Demo], str]:
    return lambda demo: demo.plan(reference, organisation, inspection).get_absolute_url()


def finding_url(reference: str, inspection: str = INSPECTION_SLUG) -> Callable[[Demo], str]:
    return lambda demo: demo.finding(reference, inspection).get_absolute_url()


def evidence_url(reference: str, organisation: str) -> Callable[[Demo], str]:
    def url(demo: Demo) -> str:
        from tracker.models import Evidence

        return Evidence.objects.filter(update__plan=demo.plan(reference, organisation)).first().get_absolute_url()

    return url


SINCE = (dt.date.today() - dt.timedelta(days=30)).isoformat()
NOT_FOUND = Stop("404: another organisation's plan", go(plan_url("R3", "hampshire"), 404))

TOURS: dict[str, list[Stop]] = {
    "anonymous": [
        Stop("login", go("/accounts/login/")),
        Stop("login with an error", log_in_wrongly),
        Stop("public progress page", go("/public/surrey/")),
        Stop("404: an organisation that publishes no public page", go("/public/hampshire/", 404)),
    ],
    "staff": [
        Stop("home", go("/")),
        Stop("plans, filtered", go("/plans/?status=in_progress&status=submitted&owner=me&sort=-target_date")),
        Stop("plan in progress, every form open", plan_with_forms("AFI1", "surrey")),
        Stop("plan, progress form with errors", plan_form_errors("AFI1", "surrey", "progress", "Save progress")),
        Stop("plan, public statement with errors", statement_errors("AFI2", "surrey")),
        Stop("plan submitted", plan_with_forms("AFI2", "surrey")),
        Stop("dashboard", go("/dashboard/")),
        Stop("inspections", go("/inspections/")),
        Stop("inspection", go("/inspections/south-east-soc-2024/")),
        Stop("finding", go(finding_url("R4"))),
        Stop("board pack", go(f"/organisations/surrey/board-pack/?since={SINCE}")),
        Stop("search help", go("/search/")),
        Stop("search results", go("/search/?q=analysts")),
        Stop("search with a bad filter", go("/search/?q=analysts&date_from=2024-02-30", 400)),
        Stop("account", go("/accounts/")),
        Stop("two-factor setup", go("/accounts/two-factor/setup/")),
        NOT_FOUND,
        Stop("404: another organisation's evidence", go(evidence_url("R3", "hampshire"), 404)),
        Stop("403: imports", go("/imports/", 403)),
    ],
    "manager": [
        Stop("home", go("/")),
        Stop("plans, filtered", go("/plans/?kind=area_for_improvement&rag=amber&q=analysts")),
        Stop("plan submitted, every form open", plan_with_forms("AFI2", "surrey")),
        Stop("plan in progress, every form open", plan_with_forms("AFI1", "surrey")),
        Stop("plans, bulk form for a date change", bulk_form("/plans/", "Change target date")),
        Stop("bulk action with errors", bulk_apply("/plans/?status=in_progress", "Change target date", 400)),
        Stop(
            "bulk action result",
            bulk_apply("/plans/?status=in_progress", "Assign owner", 200, **{"New owner": "Jo Evans (surrey.staff)"}),
        ),
        Stop("plan, return form with errors", plan_form_errors("AFI2", "surrey", "return", "Return submission")),
        Stop(
            "plan proposed for no action, every form open",
            plan_with_forms("R2", "surrey", "south-east-soc-follow-up-2026"),
        ),
        Stop(
            "plan, target date form with errors",
            plan_form_errors("AFI1", "surrey", "target-date", "Change target date"),
        ),
        Stop("dashboard", go("/dashboard/")),
        Stop("board pack", go("/organisations/surrey/board-pack/")),
        Stop("board pack with the trend chart", go("/organisations/surrey/board-pack/?chart=1")),
        Stop("board pack with a bad date", go("/organisations/surrey/board-pack/?since=2024-02-30", 400)),
        Stop("big board pack PDF offered", big_board_pack_offer),
        Stop("inspection", go("/inspections/south-east-soc-2024/")),
        Stop("finding", go(finding_url("AFI1"))),
        Stop("organisation settings", go("/organisations/surrey/settings/")),
        Stop("public progress page", go("/public/surrey/")),
        Stop("account", go("/accounts/")),
        NOT_FOUND,
        Stop("403: imports", go("/imports/", 403)),
    ],
    "inspector": [
        Stop("home", go("/")),
        Stop("plans, filtered", go("/plans/?organisation=hampshire&overdue=1&theme=intelligence")),
        Stop("plan signed off, every form open", plan_with_forms("R4", "surrey")),
        Stop("plan blocked, every form open", plan_with_forms("R3", "hampshire")),
        Stop("plan blocked on the regional unit's plan", go(plan_url("R4", "hampshire"))),
        Stop("plans waiting on another plan", go("/plans/?waiting_on=plan")),
        Stop(
            "plan whose risk of no action was accepted, every form open",
            plan_with_forms("R1", "hampshire", REVISIT_SLUG),
        ),
        Stop("plan closed", go(plan_url("R1", "hampshire"))),
        Stop("plan superseded", go(plan_url("R2", "hampshire"))),
        Stop("plan, close form with errors", plan_form_errors("R4", "surrey", "close", "Close as verified")),
        Stop(
            "plans, bulk form for closing",
            bulk_form("/plans/?status=signed_off", "Verify and close (signed-off plans)"),
        ),
        Stop(
            "bulk close result",
            bulk_apply(
                "/plans/?status=signed_off",
                "Verify and close (signed-off plans)",
                200,
                **{"Verification comment": "Evidence seen at the revisit.", "I confirm these plans": "on"},
            ),
        ),
        Stop("dashboard", go("/dashboard/")),
        Stop("dashboard, one organisation", go("/dashboard/?organisation=hampshire")),
        Stop("inspections", go("/inspections/")),
        Stop("inspection", go("/inspections/south-east-soc-2024/")),
        Stop("finding across organisations", go(finding_url("R4"))),
        Stop("finding with history", go(finding_url("R1", REVISIT_SLUG))),
        Stop("finding raised again, with its links", go(finding_url("R1"))),
        Stop("follow-up finding with suggestions", go(finding_url("AFI1", "south-east-soc-follow-up-2026"))),
        Stop("plan that is a recurrence", go(plan_url("R1", "hampshire", "south-east-soc-follow-up-2026"))),
        Stop("recurrences", go("/plans/?recurrence=1")),
        Stop("search, filtered", go("/search/?q=%22local+profile%22&kind=finding&organisation=hampshire")),
        Stop("big export offered", big_export_offer),
        Stop("export job waiting for a worker", big_export()),
        Stop("export job finished", big_export(run=True)),
        Stop("board pack", go("/organisations/hampshire/board-pack/")),
        Stop("account", go("/accounts/")),
        Stop("two-factor setup", go("/accounts/two-factor/setup/")),
        Stop("404", go("/plans/999999/", 404)),
        Stop("403: imports", go("/imports/", 403)),
    ],
    "admin": [
        Stop("home", go("/")),
        Stop("import upload", go("/imports/")),
        Stop("import upload with an error", upload_nothing),
        Stop("import file being checked", upload("bad.csv", BAD_IMPORT, check=False)),
        Stop("import preview with errors", upload("bad.csv", BAD_IMPORT)),
        Stop("import preview with a bad milestone", upload("milestones.csv", MILESTONE_IMPORT)),
        Stop("import preview", upload("custody.csv", GOOD_IMPORT, publish=True)),
        Stop("import preview, rows to create", lambda page, demo: go(page.url + "?show=create")(page, demo)),
        Stop("import done", import_and_confirm),
        Stop("plans", go("/plans/?inspection=south-east-soc-2024&status=not_started")),
        Stop("plan not started, every form open", plan_with_forms("R4", "sussex")),
        Stop("dashboard", go("/dashboard/")),
        Stop("account", go("/accounts/")),
        Stop("404", go("/no-such-page/", 404)),
    ],
}


def visit_all(page: Page, demo: Demo, role: str, check: Callable[[Page, Stop], Any]) -> dict[str, Any]:
    """Visit every stop of `role`'s tour; return {stop name: what `check` found} for the stops with findings."""
    found = {}
    for stop in TOURS[role]:
        stop.visit(page, demo)
        result = check(page, stop)
        if result:
            found[stop.name] = result
    return found
