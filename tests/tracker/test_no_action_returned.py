"""A proposal of no action that the force's manager declines, or the inspectorate sends back, is returned
work (issue 15, part 4): like a returned submission it is in the owner's "Returned: your action" queue and
the manager's "Returned, waiting on the owner", in the /plans/ `returned` filter those queues link to, in
the owner's reminder digest and at the head of the plan's page, each with who returned it, when and why.
Every figure equals the list it links to."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.utils import timezone

from tests.factories import ActionPlanFactory, StaffFactory, pdf_upload
from tracker import reminders, workflow
from tracker.models import ActionPlan, Update

pytestmark = pytest.mark.django_db
S = ActionPlan.Status
DECLINED = "Still needed: the profile dates from 2019."
SENT_BACK = "The inspectorate still expects analysts in post."


def days_ago(n: int) -> dt.datetime:
    return timezone.now() - dt.timedelta(days=n)


def propose(plan, user):
    return workflow.propose_no_action(plan=plan, user=user, reason="Met by the regional unit.", risk="It may lapse.")


@pytest.fixture
def declined(org, staff, manager):
    """Proposed by another member of staff, declined by the manager three days ago; owned by `staff`."""
    plan = ActionPlanFactory(organisation=org, owner=staff, status=S.IN_PROGRESS, finding__reference="R4")
    propose(plan, StaffFactory(organisation=org))
    Update.objects.filter(plan=plan).update(created_at=days_ago(10))
    workflow.decline_no_action(plan=plan, user=manager, comment=DECLINED)
    Update.objects.filter(plan=plan, status_from=S.NO_ACTION_PROPOSED).update(created_at=days_ago(3))
    return plan


@pytest.fixture
def sent_back(org, staff, manager, inspector):
    plan = ActionPlanFactory(organisation=org, owner=staff, status=S.BLOCKED, finding__reference="R7")
    propose(plan, staff)
    workflow.accept_no_action_risk(plan=plan, user=manager, comment="Risk accepted.")
    Update.objects.filter(plan=plan).update(created_at=days_ago(10))
    workflow.send_back_no_action(plan=plan, user=inspector, comment=SENT_BACK)
    Update.objects.filter(plan=plan, status_from=S.NO_ACTION_ACCEPTED).update(created_at=days_ago(1))
    return plan


def home_section(client, section_id: str) -> dict:
    return next(s for s in client.get("/").context["sections"] if s["id"] == section_id)


def listed(client, url: str) -> list[int]:
    return [plan.pk for plan in client.get(url).context["object_list"]]


def test_declined_and_sent_back_proposals_are_returned_work(declined, sent_back, org):
    assert set(ActionPlan.objects.returned().values_list("pk", flat=True)) == {declined.pk, sent_back.pk}
    notes = dict(ActionPlan.objects.with_return().filter(pk__in=[declined.pk, sent_back.pk]).values_list(
        "pk", "returned_note"))  # fmt: skip
    assert notes == {
        declined.pk: f"Proposal of no action declined: {DECLINED}",
        sent_back.pk: f"Proposal of no action sent back: {SENT_BACK}",
    }


def test_the_owners_queue_shows_them_with_the_reason_and_its_figure_equals_its_list(
    client, declined, sent_back, staff, org
):
    other = ActionPlanFactory(organisation=org, owner=staff, status=S.IN_PROGRESS)
    propose(other, staff)  # awaiting the manager: not returned
    client.force_login(staff)
    body = client.get("/").content.decode()
    returned = body.split('id="returned-heading"')[1].split("</section>")[0]
    assert "Returned: your action" in returned
    assert DECLINED in returned and SENT_BACK in returned
    section = home_section(client, "returned")
    assert section["count"] == 2
    assert sorted(listed(client, "/plans/?" + section["query"])) == sorted([declined.pk, sent_back.pk])
    # Oldest return first, as every returned queue.
    assert listed(client, "/plans/?returned=1&owner=me&sort=returned") == [declined.pk, sent_back.pk]


def test_the_managers_queue_shows_them_too(client, declined, sent_back, manager):
    client.force_login(manager)
    section = home_section(client, "returned")
    assert section["count"] == 2
    assert sorted(listed(client, "/plans/?" + section["query"])) == sorted([declined.pk, sent_back.pk])


def test_another_organisations_people_see_none_of_them(client, declined, sent_back, other_staff, other_manager):
    for person in (other_staff, other_manager):
        client.force_login(person)
        assert home_section(client, "returned")["count"] == 0
        assert listed(client, "/plans/?returned=1") == []


def test_the_plan_page_heads_with_the_return(client, declined, staff, manager):
    client.force_login(staff)
    page = client.get(declined.get_absolute_url()).content.decode()
    alert = page.split('class="alert alert-warning returned-alert"')[1].split("</div>")[0]
    assert "Returned: your action" in alert
    assert "Proposal of no action declined by" in alert and DECLINED in alert


def test_the_owners_digest_opens_with_them(declined, sent_back, staff):
    digest = next(d for d in reminders.build_digests(today=timezone.localdate(), days=14) if d.user == staff)
    assert digest.own_returned == [declined, sent_back]
    reminders.send_reminders()
    (message,) = [m for m in mail.outbox if m.to == [staff.email]]
    day = (timezone.localdate() - dt.timedelta(days=3)).strftime("%-d %b %Y")
    assert f"Returned {day} (3 days ago) by {declined.updates.first().author.username}: Proposal of no action " \
           f"declined: {DECLINED}" in message.body  # fmt: skip


@pytest.mark.parametrize("then", ["proposed again", "blocked", "submitted"])
def test_it_leaves_the_queue_once_the_owner_acts(client, declined, staff, then):
    if then == "proposed again":
        propose(declined, staff)
    elif then == "blocked":
        workflow.mark_blocked(plan=declined, user=staff, note="Waiting on vetting.")
    else:
        workflow.submit_for_sign_off(plan=declined, user=staff, statement="Done.", files=[pdf_upload()])
    client.force_login(staff)
    assert home_section(client, "returned")["count"] == 0
    assert listed(client, "/plans/?returned=1&owner=me") == []
