"""Reminder digests (`tracker.reminders`) and `manage.py send_reminders`."""

from __future__ import annotations

import datetime as dt
import threading
from io import StringIO
from unittest import mock

import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from tests.factories import ActionPlanFactory, ManagerFactory, MilestoneFactory, OrganisationFactory, StaffFactory
from tests.jobs import run_worker
from tracker import reminders
from tracker.models import ActionPlan, DigestLog, Job

S = ActionPlan.Status


def days_from_today(days: int) -> dt.date:
    return timezone.localdate() + dt.timedelta(days=days)


def digest_for(digests: list[reminders.Digest], user) -> reminders.Digest | None:
    return next((digest for digest in digests if digest.user == user), None)


def build() -> list[reminders.Digest]:
    return reminders.build_digests(today=timezone.localdate(), days=14)


def mail_server_down():
    return mock.patch(
        "django.core.mail.backends.locmem.EmailBackend.send_messages", side_effect=OSError("mail server down")
    )


def outbox_for(user) -> list[mail.EmailMultiAlternatives]:
    return [message for message in mail.outbox if message.to == [user.email]]


@pytest.fixture
def owner_plans(staff, org):
    """The staff member's plans, one of each kind the owner rule must tell apart."""
    return {
        "overdue": ActionPlanFactory(organisation=org, owner=staff, target_date=days_from_today(-3)),
        "due_soon": ActionPlanFactory(organisation=org, owner=staff, target_date=days_from_today(5)),
        "due_today": ActionPlanFactory(organisation=org, owner=staff, target_date=days_from_today(0)),
        "edge": ActionPlanFactory(organisation=org, owner=staff, target_date=days_from_today(14)),
        "far": ActionPlanFactory(organisation=org, owner=staff, target_date=days_from_today(15)),
        "closed": ActionPlanFactory(organisation=org, owner=staff, target_date=days_from_today(-3), status=S.CLOSED),
        "signed_off": ActionPlanFactory(
            organisation=org, owner=staff, target_date=days_from_today(-3), status=S.SIGNED_OFF
        ),
        "no_date": ActionPlanFactory(organisation=org, owner=staff, target_date=None),
    }


# Who gets which plans -------------------------------------------------------------------------------


def test_owner_gets_their_overdue_and_due_soon_plans_only(staff, owner_plans):
    digest = digest_for(build(), staff)

    assert digest.own_overdue == [owner_plans["overdue"]]
    assert digest.own_due_soon == [owner_plans["due_today"], owner_plans["due_soon"], owner_plans["edge"]]
    assert digest.organisation_overdue == digest.organisation_unowned == []


def test_owner_does_not_get_someone_elses_plans(staff, org):
    colleague = StaffFactory(organisation=org)
    ActionPlanFactory(organisation=org, owner=colleague, target_date=days_from_today(-1))

    assert digest_for(build(), staff) is None
    assert digest_for(build(), colleague).own_overdue


def test_the_days_option_sets_the_due_soon_window(staff, owner_plans):
    digest = reminders.build_digests(today=timezone.localdate(), days=3)[0]

    assert digest.own_due_soon == [owner_plans["due_today"]]
    assert digest.own_overdue == [owner_plans["overdue"]]


def test_manager_gets_overdue_and_unowned_plans_of_their_own_organisation_only(
    manager, staff, org, other_org, other_staff
):
    overdue_owned = ActionPlanFactory(organisation=org, owner=staff, target_date=days_from_today(-10))
    overdue_unowned = ActionPlanFactory(organisation=org, owner=None, target_date=days_from_today(-1))
    unowned = ActionPlanFactory(organisation=org, owner=None, target_date=days_from_today(60))
    gone = StaffFactory(organisation=org, is_active=False)
    owner_deactivated = ActionPlanFactory(organisation=org, owner=gone, target_date=days_from_today(200))
    ActionPlanFactory(organisation=org, owner=staff, target_date=days_from_today(5))  # owned, due soon: not theirs
    ActionPlanFactory(organisation=org, owner=None, status=S.CLOSED)  # finished
    ActionPlanFactory(organisation=other_org, owner=None, target_date=days_from_today(-5))  # other organisation
    ActionPlanFactory(organisation=other_org, owner=other_staff, target_date=days_from_today(-5))

    digest = digest_for(build(), manager)

    assert digest.organisation == org
    assert digest.organisation_overdue == [overdue_owned, overdue_unowned]
    assert digest.organisation_unowned == [unowned, owner_deactivated]
    assert digest.own_overdue == digest.own_due_soon == []
    assert digest_for(build(), gone) is None


def test_a_manager_who_owns_plans_gets_one_digest_with_both_sections(manager, staff, org):
    mine = ActionPlanFactory(organisation=org, owner=manager, target_date=days_from_today(-2))
    theirs = ActionPlanFactory(organisation=org, owner=staff, target_date=days_from_today(-2))

    digests = [digest for digest in build() if digest.user == manager]

    assert len(digests) == 1
    assert digests[0].own_overdue == [mine]
    assert digests[0].organisation_overdue == [theirs]  # listed once, in the manager's own section

    reminders.send_reminders()
    (message,) = outbox_for(manager)
    assert "PLANS YOU OWN" in message.body
    assert f"YOUR ORGANISATION: {org.name.upper()}" in message.body


def test_people_with_the_digest_off_or_deactivated_get_nothing(org):
    quiet = StaffFactory(organisation=org, receive_digest=False)
    quiet_manager = ManagerFactory(organisation=org, receive_digest=False)
    gone_manager = ManagerFactory(organisation=org, is_active=False)
    ActionPlanFactory(organisation=org, owner=quiet, target_date=days_from_today(-1))
    ActionPlanFactory(organisation=org, owner=None, target_date=days_from_today(-1))

    assert build() == []

    result = reminders.send_reminders()

    assert mail.outbox == []
    assert result.sent == []
    assert not DigestLog.objects.filter(user__in=[quiet, quiet_manager, gone_manager]).exists()


def test_building_digests_takes_a_number_of_queries_independent_of_the_number_of_people(
    django_assert_num_queries, org, other_org
):
    def add_people_and_plans(organisation, owners=3):
        ManagerFactory(organisation=organisation)
        for _ in range(owners):
            owner = StaffFactory(organisation=organisation)
            ActionPlanFactory(organisation=organisation, owner=owner, target_date=days_from_today(-1))
            ActionPlanFactory(organisation=organisation, owner=owner, target_date=days_from_today(3))
        ActionPlanFactory(organisation=organisation, owner=None)

    def digests_in(queries):
        # The plans needing attention and the returned ones, with owners, findings and organisations; the
        # managers; for each organisation concerned, which of those plans its people may see (`visible_to`,
        # once per scope); the inspections whose 56-day responses are due soon (none here); and the
        # milestones due or overdue, with their owners and plans.
        with django_assert_num_queries(queries):
            digests = build()
            for digest in digests:
                digest.text_body()
                digest.html_body()
        return digests

    add_people_and_plans(org)
    assert len(digests_in(3 + 1 + 1 + 1)) == 4

    add_people_and_plans(org, owners=6)  # more people, same organisation: no more queries
    assert len(digests_in(3 + 1 + 1 + 1)) == 11

    add_people_and_plans(other_org)
    add_people_and_plans(OrganisationFactory())
    # Milestones due, owned by people with plans and by people without: still no more queries.
    for plan in ActionPlan.objects.filter(organisation=org)[:4]:
        MilestoneFactory(plan=plan, owner=StaffFactory(organisation=org), target_date=days_from_today(-2))
    assert len(digests_in(3 + 3 + 1 + 1)) == 23


# The email ------------------------------------------------------------------------------------------


def test_the_email_has_text_and_html_parts_listing_each_plan_with_a_link(settings, staff, manager, org):
    settings.SITE_URL = "https://tracker.example.org"
    plan = ActionPlanFactory(
        organisation=org,
        owner=staff,
        target_date=days_from_today(-3),
        finding__reference="R7",
        finding__text="The force should refresh its serious and organised crime local profile <now>.",
    )
    soon = ActionPlanFactory(organisation=org, owner=staff, target_date=days_from_today(1))

    reminders.send_reminders()

    (message,) = outbox_for(staff)
    assert message.subject == "Action plan reminders: 1 overdue, 1 due soon"
    link = f"https://tracker.example.org/plans/{plan.pk}/"
    text = message.body
    for expected in (
        "R7",
        "refresh its serious and organised crime local profile <now>.",  # plain text is not HTML-escaped
        org.display_name,
        plan.target_date.strftime("%-d %b %Y"),
        "3 days overdue",
        "1 day left",
        link,
        f"https://tracker.example.org/plans/{soon.pk}/",
    ):
        assert expected in text

    ((html, mimetype),) = message.alternatives
    assert mimetype == "text/html"
    assert f'<a href="{link}"' in html
    assert "local profile &lt;now&gt;." in html
    assert '<th scope="col"' in html and "<caption" in html and 'lang="en-GB"' in html
    assert "3 days overdue" in html
    assert message.extra_headers["Auto-Submitted"] == "auto-generated"
    # People turn the digest off themselves, on their account page.
    assert "https://tracker.example.org/accounts/" in text
    assert 'href="https://tracker.example.org/accounts/"' in html

    (manager_message,) = outbox_for(manager)
    assert link in manager_message.body
    assert "Owner: " + str(staff) in manager_message.body


# Once a day ---------------------------------------------------------------------------------------


def test_running_twice_the_same_day_sends_nothing_new(staff, manager, org):
    ActionPlanFactory(organisation=org, owner=staff, target_date=days_from_today(-1))

    first = reminders.send_reminders()
    second = reminders.send_reminders()

    assert sorted(user.username for user in first.sent) == [manager.username, staff.username]
    assert second.sent == []
    assert sorted(user.username for user in second.already_sent) == [manager.username, staff.username]
    assert len(mail.outbox) == 2
    assert DigestLog.objects.count() == 2
    assert DigestLog.objects.get(user=staff).plan_count == 1


def test_the_claim_is_what_stops_a_second_send_not_a_check_beforehand(staff, org):
    ActionPlanFactory(organisation=org, owner=staff, target_date=days_from_today(-1))
    built_by_first_run, built_by_second_run = build(), build()  # both before either sends

    reminders.send_digests(built_by_first_run)
    result = reminders.send_digests(built_by_second_run)

    assert result.already_sent == [staff]
    assert len(mail.outbox) == 1


def test_a_new_day_sends_again(staff, org):
    ActionPlanFactory(organisation=org, owner=staff, target_date=days_from_today(-1))
    today = timezone.localdate()

    reminders.send_reminders(today=today)
    reminders.send_reminders(today=today + dt.timedelta(days=1))

    assert len(mail.outbox) == 2
    assert sorted(DigestLog.objects.values_list("sent_on", flat=True)) == [today, today + dt.timedelta(days=1)]


def test_a_failed_send_releases_the_claim_so_a_later_run_retries(staff, org):
    ActionPlanFactory(organisation=org, owner=staff, target_date=days_from_today(-1))

    with mock.patch(
        "django.core.mail.backends.locmem.EmailBackend.send_messages", side_effect=OSError("mail server down")
    ):
        failed = reminders.send_reminders()
    assert failed.failed == [staff]
    assert not DigestLog.objects.exists()

    retried = reminders.send_reminders()
    assert retried.sent == [staff]
    assert len(mail.outbox) == 1


def test_people_without_an_email_address_are_skipped_and_reported(org):
    nameless = StaffFactory(organisation=org, email="")
    ActionPlanFactory(organisation=org, owner=nameless, target_date=days_from_today(-1))

    result = reminders.send_reminders()

    assert result.no_email == [nameless]
    assert mail.outbox == []
    assert not DigestLog.objects.exists()


# The command --------------------------------------------------------------------------------------


def run_command(*args: str) -> tuple[str, str]:
    """The command queues a job; a worker then runs it. Returns the command's output and the job's outcome."""
    out, err = StringIO(), StringIO()
    call_command("send_reminders", *args, stdout=out, stderr=err)
    if "--dry-run" in args:
        return out.getvalue(), err.getvalue()
    run_worker()
    job = Job.objects.order_by("-created_at").first()
    return out.getvalue() + job.message, err.getvalue()


def test_command_sends_and_prints_a_summary(staff, org):
    nameless = StaffFactory(organisation=org, email="", username="no.address")
    ActionPlanFactory(organisation=org, owner=staff, target_date=days_from_today(-1))
    ActionPlanFactory(organisation=org, owner=nameless, target_date=days_from_today(2))

    out, _ = run_command()
    assert "Sent 1, skipped (already sent today) 0, no email 1." in out
    assert "No email address: no.address." in out

    out, _ = run_command()
    assert "Sent 0, skipped (already sent today) 1, no email 1." in out
    assert len(mail.outbox) == 1


def test_command_days_option_widens_the_window(staff, org):
    ActionPlanFactory(organisation=org, owner=staff, target_date=days_from_today(20))

    out, _ = run_command()
    assert "Sent 0," in out

    out, _ = run_command("--days", "30")
    assert "Sent 1," in out


def test_command_rejects_negative_days(db):
    with pytest.raises(CommandError):
        run_command("--days", "-1")


def test_dry_run_prints_each_digest_and_sends_and_writes_nothing(staff, org):
    plan = ActionPlanFactory(organisation=org, owner=staff, target_date=days_from_today(-1))

    out, _ = run_command("--dry-run")

    assert f"To: {staff.email}" in out
    assert "Subject: Action plan reminders: 1 overdue" in out
    assert plan.finding.reference in out and f"/plans/{plan.pk}/" in out
    assert "Dry run: would send 1" in out
    assert mail.outbox == []
    assert not DigestLog.objects.exists()
    assert not Job.objects.exists()


def test_a_run_whose_send_fails_is_a_failed_job(staff, org):
    ActionPlanFactory(organisation=org, owner=staff, target_date=days_from_today(-1))

    with mock.patch(
        "django.core.mail.backends.locmem.EmailBackend.send_messages", side_effect=OSError("mail server down")
    ):
        run_command()
    assert Job.objects.get().status == Job.Status.FAILED
    assert not DigestLog.objects.exists()


# Two copies at once (PostgreSQL) ------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_copies_running_at_once_send_one_digest_per_person():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serialises writers, so there is no race to test")

    org = OrganisationFactory()
    people = [ManagerFactory(organisation=org)] + [StaffFactory(organisation=org) for _ in range(8)]
    for person in people:
        ActionPlanFactory(organisation=org, owner=person, target_date=days_from_today(-1))
        ActionPlanFactory(organisation=org, owner=person, target_date=days_from_today(4))

    start = threading.Barrier(2)
    results: list[reminders.SendResult] = []
    errors: list[BaseException] = []

    def run_copy() -> None:
        try:
            digests = build()  # each thread has its own database connection
            start.wait(timeout=10)  # both have built before either claims
            results.append(reminders.send_digests(digests))
        except BaseException as error:  # surfaced by the assertions below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run_copy) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert len(results) == 2
    for person in people:
        assert len(outbox_for(person)) == 1, person.username
    assert len(mail.outbox) == len(people)
    assert sum(len(result.sent) for result in results) == len(people)
    assert sum(len(result.already_sent) for result in results) == len(people)
    assert DigestLog.objects.count() == len(people)


def test_a_signed_off_plan_past_its_date_is_not_called_overdue_in_the_digest(manager, org):
    """Overdue is one rule (`tracker.models.overdue`): a plan the force has reported complete is not
    overdue, in a digest as on every page, though its target date has passed."""
    signed_off = ActionPlanFactory(organisation=org, owner=None, status=S.SIGNED_OFF, target_date=days_from_today(-3))
    overdue = ActionPlanFactory(organisation=org, owner=None, status=S.IN_PROGRESS, target_date=days_from_today(-3))
    today = timezone.localdate()

    lines = {line.plan: line for line in (reminders.DigestLine(plan, today) for plan in (signed_off, overdue))}

    assert (lines[overdue].is_overdue, lines[overdue].when) == (True, "3 days overdue")
    assert (lines[signed_off].is_overdue, lines[signed_off].when) == (False, "target date 3 days ago")
    assert digest_for(build(), manager).organisation_unowned == [signed_off]
