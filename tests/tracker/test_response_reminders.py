"""Reminder digests warn an organisation's managers 14 and 7 days before its 56-day response is due,
exactly once each, and never once the response is recorded."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail

from tests.factories import (
    FindingFactory,
    GradingFactory,
    InspectionFactory,
    ManagerFactory,
    OrganisationFactory,
    StaffFactory,
    pdf_upload,
)
from tests.tracker.test_reminders import mail_server_down
from tracker import reminders
from tracker.models import PccResponse, ResponseReminder

pytestmark = pytest.mark.django_db
PUBLISHED = dt.date(2026, 3, 2)  # the deadline is 27 April 2026
DEADLINE = PUBLISHED + dt.timedelta(days=56)


@pytest.fixture
def inspection(org, other_org):
    inspection = InspectionFactory(title="Vetting inspection 2026", slug="vetting-2026", published_on=PUBLISHED)
    finding = FindingFactory(inspection=inspection, reference="R1")
    finding.addressed_to.set([org])
    GradingFactory(inspection=inspection, organisation=other_org)  # graded only: addressed too
    return inspection


def outbox_for(user) -> list[mail.EmailMultiAlternatives]:
    return [message for message in mail.outbox if message.to == [user.email]]


def run_on(day: dt.date) -> reminders.SendResult:
    return reminders.send_reminders(today=day)


def test_managers_are_warned_14_and_7_days_before_exactly_once_each(inspection, manager, staff, other_manager):
    for days_before in range(20, -2, -1):  # every day from 20 days before to the day after the deadline
        run_on(DEADLINE - dt.timedelta(days=days_before))
        run_on(DEADLINE - dt.timedelta(days=days_before))  # a second run the same day changes nothing
    messages = outbox_for(manager)
    assert [m.subject for m in messages] == [
        "Action plan reminders: 56-day response due in 14 days",
        "Action plan reminders: 56-day response due in 7 days",
    ]
    assert "Surrey Police's response to Vetting inspection 2026" in messages[0].body
    assert "Due by 27 Apr 2026 (14 days left), not recorded yet." in messages[0].body
    assert "/inspections/vetting-2026/#responses-heading" in messages[0].body
    assert "56-day responses due" in messages[1].alternatives[0].content
    # Hampshire's manager hears of Hampshire's response (graded, so addressed), never of Surrey's.
    theirs = outbox_for(other_manager)
    assert len(theirs) == 2 and all("Surrey" not in m.body for m in theirs)
    assert "Hampshire" in theirs[0].body
    assert outbox_for(staff) == []  # staff do not record responses
    assert ResponseReminder.objects.filter(user=manager).count() == 2


def test_a_late_first_run_gives_the_7_day_warning_only(inspection, manager):
    run_on(DEADLINE - dt.timedelta(days=5))
    run_on(DEADLINE - dt.timedelta(days=4))
    assert [m.subject for m in outbox_for(manager)] == ["Action plan reminders: 56-day response due in 5 days"]


def test_no_warning_once_the_response_is_recorded(inspection, manager, org):
    upload = pdf_upload("response.pdf")
    recorded = PccResponse(inspection=inspection, organisation=org, published_on=PUBLISHED + dt.timedelta(days=30),
                           original_name="response.pdf", size=upload.size, sha256="0" * 64,
                           content_type="application/pdf", uploaded_by=manager)  # fmt: skip
    recorded.file.save("response.pdf", upload)
    run_on(DEADLINE - dt.timedelta(days=14))
    run_on(DEADLINE - dt.timedelta(days=7))
    assert outbox_for(manager) == []


def test_a_failed_send_gives_the_warning_again_on_the_next_run(inspection, manager):
    day = DEADLINE - dt.timedelta(days=14)
    with mail_server_down():
        result = run_on(day)
    assert result.failed == [manager] and not ResponseReminder.objects.exists()
    run_on(day)
    assert [m.subject for m in outbox_for(manager)] == ["Action plan reminders: 56-day response due in 14 days"]


def test_people_who_turned_digests_off_or_left_hear_nothing(inspection, org):
    quiet = ManagerFactory(organisation=org, receive_digest=False)
    gone = ManagerFactory(organisation=org, is_active=False)
    elsewhere = ManagerFactory(organisation=OrganisationFactory())
    StaffFactory(organisation=org)
    run_on(DEADLINE - dt.timedelta(days=14))
    for user in (quiet, gone, elsewhere):
        assert outbox_for(user) == []


def test_the_warnings_take_a_number_of_queries_independent_of_the_number_of_managers_and_inspections(
    django_assert_num_queries, inspection, org, other_org
):
    day = DEADLINE - dt.timedelta(days=14)

    def warnings_in(queries: int) -> int:
        # inspections due, their addressees by finding and by grading, recorded responses, warnings given,
        # managers
        with django_assert_num_queries(queries):
            return sum(len(w) for w in reminders.response_warnings(today=day).values())

    ManagerFactory(organisation=org)
    assert warnings_in(6) == 1
    for _ in range(5):
        ManagerFactory(organisation=org)
        ManagerFactory(organisation=other_org)
        sooner = InspectionFactory(published_on=PUBLISHED - dt.timedelta(days=2))  # due in 12 days
        FindingFactory(inspection=sooner).addressed_to.set([org, other_org])
    assert warnings_in(6) == 6 * 6 + 5 * 6
