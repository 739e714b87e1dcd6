"""Browser journeys for the queues: work returned to its owner, how long each item waited, and the
Evidence panel a reviewer reads."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.e2e.test_journeys import action_form, expect_message, overdue_plan_for, send
from tests.factories import pdf_upload
from tracker import workflow
from tracker.models import ActionPlan, Update

pytestmark = pytest.mark.e2e


def test_returned_work_is_the_owners_first_action_until_it_is_resubmitted(demo, new_page, tmp_path):
    plan = overdue_plan_for(demo, "surrey.staff")
    staff = demo.user("surrey.staff")
    workflow.submit_for_sign_off(plan=plan, user=staff, statement="Backlog cleared.", files=[pdf_upload("audit.pdf")])

    manager_page = new_page("surrey.manager")
    awaiting = manager_page.get_by_role("region", name=re.compile("Awaiting your sign-off"))
    awaiting.get_by_role("link", name=re.compile("AFI9")).click()
    # The reviewer sees the file beside the closure statement, with who added it and when.
    panel = manager_page.get_by_role("region", name=re.compile("^Evidence"))
    expect(panel).to_contain_text("audit.pdf")
    expect(panel).to_contain_text(f"added by {staff.get_full_name()}")
    send(manager_page, "Return to the owner", "Return submission", Reason="Attach this month's audit too.")
    expect_message(manager_page, "Submission returned.")

    staff_page = new_page("surrey.staff")
    returned = staff_page.get_by_role("region", name=re.compile("^Returned: your action"))
    expect(returned).to_contain_text("Attach this month's audit too.")
    expect(returned).to_contain_text(timezone.localdate().strftime("%-d %b %Y"))
    headings = staff_page.locator("main h2").all_inner_texts()
    assert headings[0].startswith("Returned: your action"), headings
    returned.get_by_role("link", name=re.compile("AFI9")).click()
    expect(staff_page.locator(".returned-alert")).to_contain_text("Returned: your action")
    expect(staff_page.locator(".timeline")).to_contain_text("Returned to the owner")

    form = action_form(staff_page, "Submit for sign-off")
    form.get_by_label("Closure statement").fill("Both audits attached.")
    form.get_by_role("button", name="Submit for sign-off").click()
    expect_message(staff_page, "Submitted for sign-off.")
    staff_page.goto("/")
    expect(staff_page.get_by_role("region", name=re.compile("^Returned: your action"))).to_contain_text(
        "Nothing here."
    )


def test_each_queue_says_how_long_each_plan_waited_oldest_first(demo, new_page):
    staff = demo.user("surrey.staff")
    older = overdue_plan_for(demo, "surrey.staff")
    workflow.submit_for_sign_off(plan=older, user=staff, statement="Done.", files=[pdf_upload()])
    Update.objects.filter(plan=older, status_to=ActionPlan.Status.SUBMITTED).update(
        created_at=timezone.localtime() - dt.timedelta(days=200)  # 200 days back on the local calendar
    )
    page = new_page("surrey.manager")
    awaiting = page.get_by_role("region", name=re.compile("Awaiting your sign-off"))
    when = (timezone.localdate() - dt.timedelta(days=200)).strftime("%-d %b %Y")
    first_row = awaiting.locator("tbody tr").first
    expect(first_row).to_contain_text("AFI9")
    expect(first_row.locator("td.waiting")).to_have_text(f"submitted {when}, 200 days")
    overdue = page.get_by_role("region", name=re.compile("^Overdue"))
    expect(overdue.locator("td.waiting").first).to_have_text(re.compile(r"^\d+ days? overdue$"))
