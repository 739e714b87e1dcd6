"""Moving a person to another organisation, or deactivating them (`tracker.people`): the plans they
owned in the organisation they left lose their owner, on the timeline, whichever way the change is made,
and nothing they may no longer see reaches them (issue 12, fault 1)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from tests.factories import ActionPlanFactory, ManagerFactory, OrganisationFactory, StaffFactory
from tests.tracker.test_admin import admin_url, form_data
from tracker import people, reminders, responses, workflow
from tracker.models import ActionPlan, Milestone, Update, User

S = ActionPlan.Status


def user_form(client, user) -> dict[str, str]:
    """The admin's change form for `user` as a browser would send it (no group or permission selected)."""
    data = form_data(client.get(admin_url(User, "change", user.pk)))
    for name in ("groups", "user_permissions"):
        if not data.get(name):
            data.pop(name, None)
    return data


def overdue_plan(organisation, owner, **fields) -> ActionPlan:
    return ActionPlanFactory(
        organisation=organisation, owner=owner, target_date=timezone.localdate() - dt.timedelta(days=3), **fields
    )


def digest_of(user) -> reminders.Digest | None:
    digests = reminders.build_digests(today=timezone.localdate(), days=14)
    return next((digest for digest in digests if digest.user == user), None)


@pytest.fixture
def moved(staff, manager, org, other_org):
    """Surrey's staff member owns an overdue Surrey plan, a finished one, and is then moved."""
    return {
        "open": overdue_plan(org, staff),
        "closed": overdue_plan(org, staff, status=S.CLOSED),
    }


def assert_released(plan: ActionPlan, *, author: User, says: str) -> None:
    version = plan.version
    plan.refresh_from_db()
    assert plan.owner is None
    assert plan.version == version + 1
    entry = plan.updates.first()
    assert entry.kind == Update.Kind.OWNER
    assert entry.author == author
    assert says in entry.note


def assert_listed_without_owner(digest: reminders.Digest, plan: ActionPlan) -> None:
    assert digest.organisation_overdue == [plan]
    line = next(line for section in digest.sections() for line in section.lines if line.plan == plan)
    assert line.owner.startswith("No owner")


# --- the digest: what the attack found --------------------------------------------------------


def test_a_person_moved_in_the_admin_hears_nothing_more_of_the_old_organisations_plans(
    client, admin_user, staff, manager, moved, org, other_org
):
    client.force_login(admin_user)
    data = user_form(client, staff)
    data["organisation"] = str(other_org.pk)
    response = client.post(admin_url(User, "change", staff.pk), data)
    assert response.status_code == 302, response.context and response.context["adminform"].form.errors

    assert digest_of(staff) is None
    # Their old organisation's manager now sees the plan as having no owner, in the digest and at home.
    assert_listed_without_owner(digest_of(manager), moved["open"])
    assert_released(moved["open"], author=admin_user, says=f"{staff} moved from Surrey Police to {other_org.name}")
    client.force_login(manager)
    home = client.get("/").content.decode()
    assert f"/plans/{moved['open'].pk}/" in home.split('id="unowned-heading"')[1].split("</section>")[0]
    # ... and cannot give it back to someone who is no longer theirs.
    page = client.get(moved["open"].get_absolute_url()).content.decode()
    assert f'value="{staff.pk}"' not in page.split('name="owner-owner"')[1].split("</select>")[0]


def test_a_finished_plan_keeps_its_owner_as_the_record_of_who_did_the_work(staff, moved, other_org):
    people.change_membership(staff, organisation=other_org)

    moved["closed"].refresh_from_db()
    assert moved["closed"].owner == staff
    assert not moved["closed"].updates.exists()


def test_the_digest_follows_the_pages_whatever_the_owner_field_says(staff, manager, org, other_org):
    """A plan owned by someone of another organisation (written without going through the rules) is
    not in that person's digest: every line comes from `visible_to`. Their own manager hears of it as
    having no active owner."""
    stranger = StaffFactory(organisation=other_org)
    plan = overdue_plan(org, staff)
    ActionPlan.objects.filter(pk=plan.pk).update(owner=stranger)

    assert digest_of(stranger) is None
    assert_listed_without_owner(digest_of(manager), plan)
    assert str(stranger) not in digest_of(manager).text_body()


# --- every path -------------------------------------------------------------------------------


def test_the_service_releases_the_plans_with_the_reason_and_the_person_as_author_when_no_one_else_decided(
    staff, moved, other_org
):
    released = people.change_membership(
        staff, organisation=other_org, role=User.Role.MANAGER, reason="Groups from the identity provider."
    )

    assert released == [moved["open"]]
    assert_released(moved["open"], author=staff, says="Groups from the identity provider.")
    staff.refresh_from_db()
    assert (staff.organisation, staff.role) == (other_org, User.Role.MANAGER)


def test_saving_a_user_anywhere_releases_the_plans(staff, moved, other_org):
    staff.organisation = other_org
    staff.save()

    assert_released(moved["open"], author=staff, says="moved from Surrey Police")


def test_a_bulk_update_of_people_releases_their_plans_too(staff, moved, org, other_org):
    colleague = StaffFactory(organisation=org)
    theirs = overdue_plan(org, colleague)

    assert User.objects.filter(pk__in=[staff.pk, colleague.pk]).update(organisation=other_org) == 2

    assert_released(moved["open"], author=staff, says="moved")
    assert_released(theirs, author=colleague, says="moved")


def test_a_bulk_update_with_an_expression_is_refused(staff):
    from django.db.models import F

    with pytest.raises(TypeError, match="change_membership"):
        User.objects.filter(pk=staff.pk).update(is_active=~F("is_active"))


def test_deactivating_someone_in_the_admin_releases_their_plans(client, admin_user, staff, moved):
    client.force_login(admin_user)
    data = user_form(client, staff)
    del data["is_active"]  # unticked
    response = client.post(admin_url(User, "change", staff.pk), data)
    assert response.status_code == 302

    assert_released(moved["open"], author=admin_user, says=f"{staff}'s account was deactivated")


def test_the_admins_deactivate_action_releases_every_selected_persons_plans(client, admin_user, staff, moved, org):
    colleague = StaffFactory(organisation=org)
    theirs = overdue_plan(org, colleague)
    client.force_login(admin_user)

    response = client.post(
        admin_url(User, "changelist"), {"action": "deactivate", "_selected_action": [staff.pk, colleague.pk]}
    )

    assert response.status_code == 302
    assert not User.objects.filter(pk__in=[staff.pk, colleague.pk], is_active=True).exists()
    assert_released(moved["open"], author=admin_user, says="deactivated")
    assert_released(theirs, author=admin_user, says="deactivated")


def test_deleting_someone_in_the_admin_releases_their_plans_first(client, admin_user, org):
    leaver = StaffFactory(organisation=org)
    plan = overdue_plan(org, leaver)
    client.force_login(admin_user)

    response = client.post(admin_url(User, "delete", leaver.pk), {"post": "yes"})

    assert response.status_code == 302
    assert not User.objects.filter(pk=leaver.pk).exists()
    assert_released(plan, author=admin_user, says="account was deleted")


def test_changes_that_keep_the_organisation_release_nothing(staff, moved):
    staff.first_name = "Renamed"
    staff.save()
    people.change_membership(staff, role=User.Role.MANAGER)

    moved["open"].refresh_from_db()
    assert moved["open"].owner == staff
    assert not moved["open"].updates.exists()


def test_plans_of_the_new_organisation_stay_with_the_person(staff, org, other_org):
    """Only plans outside the person's (new) organisation are released."""
    mine = overdue_plan(other_org, staff)  # written around the rules: owned before the move
    ActionPlan.objects.filter(pk=mine.pk).update(owner=staff)

    people.change_membership(staff, organisation=other_org)

    mine.refresh_from_db()
    assert mine.owner == staff


def test_an_invalid_membership_is_refused_and_nothing_changes(staff, moved):
    with pytest.raises(ValidationError):
        people.change_membership(staff, organisation=None)

    staff.refresh_from_db()
    moved["open"].refresh_from_db()
    assert staff.organisation is not None
    assert moved["open"].owner == staff


def test_a_manager_moved_away_no_longer_gets_the_old_organisations_digest(manager, org, other_org):
    overdue_plan(org, None)

    assert digest_of(manager) is not None
    people.change_membership(manager, organisation=other_org)

    assert digest_of(manager) is None
    assert digest_of(ManagerFactory(organisation=org)).organisation_overdue


def test_someone_moved_to_an_organisation_sees_its_plans_in_the_digest(staff, other_org):
    """A positive control: the move changes what they hear about, it does not silence them."""
    people.change_membership(staff, organisation=other_org)
    theirs = overdue_plan(other_org, staff)

    assert digest_of(staff).own_overdue == [theirs]


def test_a_new_organisation_with_its_own_plans_is_not_confused_with_the_old(staff, org):
    elsewhere = OrganisationFactory()
    plan = overdue_plan(org, staff)

    people.change_membership(staff, organisation=elsewhere)

    assert_released(plan, author=staff, says=f"to {elsewhere}")


# --- their milestones ------------------------------------------------------------------------
# Hampshire's staff member owns milestones in Hampshire's plans: in one she owns, in one her manager
# owns (one of them done), and is then moved to Surrey, given no organisation, deactivated or deleted.


def milestone(plan: ActionPlan, owner: User, title: str, *, done: bool = False):
    """A milestone added (and completed) through the workflow, by a manager of the plan's organisation."""
    by = ManagerFactory(organisation=plan.organisation)
    workflow.add_milestone(
        plan=plan, user=by, title=title, owner=owner, target_date=timezone.localdate() + dt.timedelta(days=5)
    )
    added = plan.milestones.get(title=title)
    if done:
        workflow.complete_milestone(plan=plan, user=by, milestone=added)
    return added


@pytest.fixture
def steps(other_staff, other_manager, other_org, org, staff):
    hers = ActionPlanFactory(organisation=other_org, owner=other_staff)
    managers = ActionPlanFactory(organisation=other_org, owner=other_manager)
    surreys = ActionPlanFactory(organisation=org, owner=staff)
    return {
        "her plan": milestone(hers, other_staff, "Recruit two analysts"),
        "manager's plan": milestone(managers, other_staff, "Refresh the SOC local profile"),
        "done": milestone(managers, other_staff, "Brief the chief officers", done=True),
        "other organisation": milestone(surreys, staff, "Train the intelligence unit"),
    }


def assert_milestone_released(m: Milestone, *, person: User, author: User, says: str) -> None:
    """Released with the latest entry of its plan, a new version (two for a plan released as well)."""
    version, owned = m.plan.version, m.plan.owner_id == person.pk
    m.refresh_from_db()
    m.plan.refresh_from_db()
    assert m.owner is None
    assert m.plan.version == version + (2 if owned else 1)
    entry = m.plan.updates.first()
    assert entry.kind == Update.Kind.MILESTONE
    assert entry.author == author
    assert entry.note.startswith(f"Milestone “{m.title}” changed: owner {person} → nobody. ")
    assert says in entry.note


def test_a_person_moved_in_the_admin_no_longer_owns_milestones_in_the_old_organisations_plans(
    client, admin_user, other_staff, other_manager, other_org, org, steps
):
    client.force_login(admin_user)
    data = user_form(client, other_staff)
    data["organisation"] = str(org.pk)
    response = client.post(admin_url(User, "change", other_staff.pk), data)
    assert response.status_code == 302, response.context and response.context["adminform"].form.errors

    moved = f"{other_staff} moved from {other_org.name} to Surrey Police."
    for name in ("her plan", "manager's plan"):
        assert_milestone_released(steps[name], person=other_staff, author=admin_user, says=moved)
    # Her own plan was released too (its own entry, before the milestone's), her manager's was not.
    her_plan = steps["her plan"].plan
    assert her_plan.owner is None
    assert list(her_plan.updates.order_by("pk").values_list("kind", flat=True))[-2:] == [
        Update.Kind.OWNER, Update.Kind.MILESTONE,
    ]  # fmt: skip
    assert steps["manager's plan"].plan.owner == other_manager
    # Deriving the figures again changed nothing but the owner.
    assert steps["manager's plan"].plan.percent_complete == 50

    # The organisation's pages and papers no longer name her as the owner of an open step.
    client.force_login(other_manager)
    for name in ("her plan", "manager's plan"):
        page = client.get(steps[name].plan.get_absolute_url()).content.decode()
        item = page.split(f'id="milestone-{steps[name].pk}"')[1].split("</li>")[0]
        assert "No owner" in item and other_staff.get_full_name() not in item
    pack = client.get(f"/organisations/{other_org.slug}/board-pack/").content.decode()
    assert "Refresh the SOC local profile · no owner ·" in pack
    assert "Recruit two analysts · no owner ·" in pack
    plan = steps["manager's plan"].plan
    plan.finding.addressed_to.add(other_org)
    draft = responses.response_context(user=other_manager, inspection=plan.finding.inspection, organisation=other_org)
    lines = [text for entry in responses.addressed_in_order(draft) for _, text in entry.steps]
    assert any(text.startswith("Refresh the SOC local profile (No owner assigned yet;") for text in lines), lines


def test_a_milestone_done_keeps_its_owner_as_the_record_of_who_did_it(other_staff, org, steps):
    people.change_membership(other_staff, organisation=org)

    done = Milestone.objects.get(pk=steps["done"].pk)
    assert done.owner == other_staff and done.done_on is not None
    # Its plan's timeline has one new entry: the release of her open milestone, not of the done one.
    notes = list(done.plan.updates.filter(kind=Update.Kind.MILESTONE).values_list("note", flat=True))
    assert sum("changed: owner" in note for note in notes) == 1
    assert not any("Brief the chief officers” changed" in note for note in notes)


def test_another_organisations_milestones_are_untouched(other_staff, org, staff, steps):
    theirs = steps["other organisation"]
    version = ActionPlan.objects.get(pk=theirs.plan_id).version
    entries = theirs.plan.updates.count()

    people.change_membership(other_staff, organisation=org)

    theirs.refresh_from_db()
    assert theirs.owner == staff
    assert (theirs.plan.version, theirs.plan.updates.count()) == (version, entries)


def test_milestones_in_the_new_organisations_plans_stay_with_the_person(other_staff, org):
    """Only milestones in plans outside the person's (new) organisation are released, as for plans."""
    plan = ActionPlanFactory(organisation=org)
    mine = milestone(plan, StaffFactory(organisation=org), "Review the tasking process")
    Milestone.objects.filter(pk=mine.pk).update(owner=other_staff)  # written around the rules

    people.change_membership(other_staff, organisation=org)

    mine.refresh_from_db()
    assert mine.owner == other_staff


@pytest.mark.parametrize("how", ["deactivated", "no organisation", "deleted"])
def test_deactivating_or_deleting_someone_or_leaving_them_without_an_organisation_releases_their_milestones(
    client, admin_user, other_staff, other_org, steps, how
):
    if how == "deactivated":
        people.change_membership(other_staff, is_active=False, changed_by=admin_user)
        says = f"{other_staff}'s account was deactivated."
    elif how == "no organisation":  # an inspector belongs to no organisation
        people.change_membership(other_staff, organisation=None, role=User.Role.INSPECTOR, changed_by=admin_user)
        says = f"{other_staff} no longer belongs to {other_org.name}."
    else:
        client.force_login(admin_user)
        assert client.post(admin_url(User, "delete", other_staff.pk), {"post": "yes"}).status_code == 302
        says = f"{other_staff}'s account was deleted."

    for name in ("her plan", "manager's plan"):
        assert_milestone_released(steps[name], person=other_staff, author=admin_user, says=says)
    assert Milestone.objects.get(pk=steps["done"].pk).owner_id == (None if how == "deleted" else other_staff.pk)


def test_a_person_who_now_sees_every_organisation_hears_nothing_of_the_milestones_they_left(
    other_staff, other_org, steps
):
    """Made an inspector, she sees every plan: her digest would still list Hampshire's milestones as hers."""
    assert digest_of(other_staff).own_milestones  # before: hers, due within the digest's days

    people.change_membership(other_staff, organisation=None, role=User.Role.INSPECTOR)

    digest = digest_of(other_staff)
    assert digest is None or not digest.own_milestones
    assert not Milestone.objects.open().filter(owner=other_staff).exists()
    assert Milestone.objects.filter(owner=other_staff).get() == steps["done"]  # the record of the done one
