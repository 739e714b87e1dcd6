"""People who may see nothing, and cached figures kept per scope (issue 12, fault 2).

A user with no organisation whose role does not see everything used to get a dashboard with every
organisation's trend figures, and their visit filled the shared trend entry, after which the
inspectors' chart showed open = -4 for up to a day. Such a person is now impossible (a database
constraint, per-role validation, a data migration) and refused if one somehow exists; and every
cached value is kept under the scope it was computed for.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.test import RequestFactory
from django.utils import timezone

from tests.factories import (
    AdminFactory,
    InspectorFactory,
    ManagerFactory,
    StaffFactory,
    UpdateFactory,
)
from tests.migrations import migrating
from tests.tracker.test_admin import admin_url
from tracker import permissions, reports
from tracker.models import ActionPlan, Update, User

S = ActionPlan.Status


# --- impossible -------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [User.Role.STAFF, User.Role.MANAGER])
def test_staff_or_a_manager_without_an_organisation_cannot_be_saved(db, role):
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create(username="stranded", role=role, organisation=None)


def test_inspectors_administrators_and_deactivated_accounts_may_have_no_organisation(db):
    InspectorFactory()
    AdminFactory()
    User.objects.create(username="admin2", role=User.Role.STAFF, organisation=None, is_superuser=True)
    StaffFactory(organisation=None, is_active=False)  # someone who left keeps their history


def test_the_admin_form_asks_staff_and_managers_for_an_organisation(client, admin_user, org):
    client.force_login(admin_user)
    for role in (User.Role.STAFF, User.Role.MANAGER):
        response = client.post(
            admin_url(User, "add"),
            {"username": f"new.{role}", "usable_password": "false", "role": role, "organisation": ""},
        )
        assert response.status_code == 200
        errors = response.context["adminform"].form.errors
        assert "needs an organisation" in " ".join(errors["organisation"])
    assert not User.objects.filter(username__startswith="new.").exists()


def test_the_admin_form_refuses_an_organisation_for_an_inspector(client, admin_user, org):
    client.force_login(admin_user)
    response = client.post(
        admin_url(User, "add"),
        {"username": "new.inspector", "usable_password": "false", "role": User.Role.INSPECTOR, "organisation": org.pk},
    )
    assert response.status_code == 200
    assert "Inspectors belong to no organisation" in " ".join(
        response.context["adminform"].form.errors["organisation"]
    )


def test_model_validation_names_the_field(db):
    with pytest.raises(ValidationError) as error:
        User(username="x", role=User.Role.STAFF, organisation=None).full_clean()
    assert "organisation" in error.value.message_dict


# --- refused if one somehow exists -------------------------------------------------------------


def stranded_user() -> User:
    """A person the constraint now forbids, as an object (a row could only come from outside the app)."""
    return User(pk=987_654, username="stranded", role=User.Role.STAFF, organisation=None, is_active=True)


def test_a_person_who_may_see_nothing_has_no_scope_and_no_dashboard(db):
    person = stranded_user()
    assert permissions.plan_scope(person) is None
    assert not ActionPlan.objects.visible_to(person).exists()
    request = RequestFactory().get("/dashboard/")
    request.user = person
    with pytest.raises(PermissionDenied):
        reports.dashboard(request)


def test_a_signed_in_person_who_may_see_nothing_is_signed_out(client, db, org):
    """If such an account somehow existed (the database refuses to store one, so the middleware is
    given the person directly), every request would sign them out and send them to sign in."""
    from django.contrib.messages.storage.fallback import FallbackStorage
    from django.http import HttpResponse

    from tracker.middleware import NoScopeSignOutMiddleware

    request = RequestFactory().get("/plans/")
    request.user = stranded_user()
    request.session = client.session
    request._messages = FallbackStorage(request)
    response = NoScopeSignOutMiddleware(lambda r: HttpResponse("page"))(request)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert not request.user.is_authenticated


def test_a_deactivated_account_without_an_organisation_reaches_nothing(client, db):
    leaver = StaffFactory(organisation=None, is_active=False)
    client.force_login(leaver)
    for path in ("/", "/dashboard/", "/plans/", "/api/v1/plans/"):
        response = client.get(path)
        assert response.status_code in (302, 401, 403), path
        if response.status_code == 302:
            assert response["Location"].startswith("/accounts/login/"), path


# --- every cache entry is kept per scope ---------------------------------------------------------

PAGES = ("/dashboard/", "/dashboard/?organisation=surrey", "/plans/?status=in_progress")
VOLATILE = re.compile(r'nonce="[^"]*"|name="csrfmiddlewaretoken" value="[^"]*"|"x-csrftoken": "[^"]*"')


@pytest.fixture
def history(org, other_org, staff, manager, other_staff):
    """Plans opened six months ago, some signed off and closed three months ago: months before last
    month are what the trend keeps in the cache for a day."""
    from tests.tracker.plan_world import build_world

    world = build_world(org=org, other_org=other_org, staff=staff, manager=manager, other_staff=other_staff)
    long_ago = timezone.now() - dt.timedelta(days=180)
    ActionPlan.objects.update(created_at=long_ago)
    three_months = timezone.now() - dt.timedelta(days=90)
    for name in ("s_afi", "s_peel_r1", "h_coc"):
        plan = world.plans[name]
        UpdateFactory(plan=plan, kind=Update.Kind.STATUS, status_from=S.SUBMITTED, status_to=S.SIGNED_OFF,
                      created_at=three_months)  # fmt: skip
    return world


def test_every_role_sees_its_own_figures_whoever_filled_the_cache(client, history, staff, manager, other_staff):
    people = {
        "staff": staff,
        "manager": manager,
        "other_staff": other_staff,
        "other_manager": ManagerFactory(organisation=other_staff.organisation),
        "inspector": InspectorFactory(),
        "admin": AdminFactory(),
    }

    def page(role: str, path: str) -> tuple[int, str]:
        client.force_login(people[role])
        response = client.get(path)
        return response.status_code, VOLATILE.sub("", response.content.decode())

    from django.core.cache import cache

    expected = {}
    for role in people:
        for path in PAGES:
            cache.clear()  # each figure computed from the database alone
            expected[role, path] = page(role, path)
    assert any(status == 200 for status, _ in expected.values())

    def nobody_visits() -> bool:
        """The person with no organisation of the attack: refused (before the fix they filled the
        cache with every organisation's trend computed from none of its plans)."""
        request = RequestFactory().get("/dashboard/")
        request.user = stranded_user()
        try:
            reports.dashboard(request)
        except PermissionDenied:
            return True
        except Exception:  # rendering outside a full request may fail after the figures were cached
            return False
        return False

    refused = []
    for filler in [*people, "nobody"]:
        cache.clear()
        if filler == "nobody":
            refused.append(nobody_visits())
        else:
            for path in PAGES:
                page(filler, path)
        for role in people:
            if role == filler:
                continue
            for path in PAGES:
                assert page(role, path) == expected[role, path], f"{role} on {path} after {filler} filled the cache"
    assert refused == [True]


# --- the data migration ------------------------------------------------------------------------

BEFORE = [("tracker", "0009_user_manager_guards_membership")]
AFTER = [("tracker", "0010_user_needs_organisation")]


@pytest.mark.django_db(transaction=True)
def test_the_migration_deactivates_existing_people_without_an_organisation_and_releases_their_plans():
    with migrating(BEFORE, AFTER) as migration:
        apps = migration.before
        Organisation = apps.get_model("inspections", "Organisation")
        Inspection = apps.get_model("inspections", "Inspection")
        Finding = apps.get_model("inspections", "Finding")
        OldUser = apps.get_model("tracker", "User")
        OldPlan = apps.get_model("tracker", "ActionPlan")
        surrey = Organisation.objects.create(name="Surrey Police", slug="surrey", kind="force")
        kent = Organisation.objects.create(name="Kent Police", slug="kent", kind="force")
        inspection = Inspection.objects.create(title="SOC", slug="soc", programme="soc")
        findings = [Finding.objects.create(inspection=inspection, reference=f"R{n}", kind="recommendation", text="t")
                    for n in range(3)]  # fmt: skip
        stranded = OldUser.objects.create(username="stranded", role="staff", organisation=None, is_active=True)
        moved = OldUser.objects.create(username="moved", role="staff", organisation=kent, is_active=True)
        fine = OldUser.objects.create(username="fine", role="staff", organisation=surrey, is_active=True)
        OldUser.objects.create(username="inspector", role="inspector", organisation=None, is_active=True)
        owners = {stranded.pk: findings[0], moved.pk: findings[1], fine.pk: findings[2]}
        for owner_pk, finding in owners.items():
            OldPlan.objects.create(finding=finding, organisation=surrey, owner_id=owner_pk, status="in_progress")

        # The models as they were at that migration: later ones add columns the tables do not have yet.
        after = migration.forward()
        people = {u.username: u for u in after.get_model("tracker", "User").objects.all()}
        assert not people["stranded"].is_active
        assert people["moved"].is_active and people["fine"].is_active and people["inspector"].is_active
        plans = {p.owner_id: p for p in after.get_model("tracker", "ActionPlan").objects.all()}
        assert set(plans) == {None, people["fine"].pk}
        released = after.get_model("tracker", "Update").objects.filter(kind=Update.Kind.OWNER).order_by("note")
        assert [u.note for u in released] == [
            "Owner removed: moved had moved to another organisation.",
            "Owner removed: stranded's account was deactivated.",
        ]
