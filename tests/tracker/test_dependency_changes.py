"""What a blocked plan waits on, changed while it stays blocked (issue 15, part 3), and the plan picker of
the forms that name another plan.

The change is the registry's `waiting-on` action (`tracker.workflow.change_dependency`): the same people
who may block a plan, only while it is blocked; locked, versioned and on the timeline. The picker offers
only plans the person may see that the plan may wait on.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from inspections.models import Organisation
from tests.factories import (
    ActionPlanFactory,
    AdminFactory,
    DependencyFactory,
    FindingFactory,
    InspectionFactory,
    InspectorFactory,
    ManagerFactory,
    OrganisationFactory,
    RegionFactory,
    StaffFactory,
)
from tracker import workflow
from tracker.models import ActionPlan, Dependency, Update, User

pytestmark = pytest.mark.django_db
S = ActionPlan.Status
K = Dependency.Kind
TODAY = timezone.localdate()
SINCE = TODAY - dt.timedelta(days=10)


@pytest.fixture
def region():
    return RegionFactory(name="South East", slug="south-east")


@pytest.fixture
def force(region):
    return OrganisationFactory(name="Hampshire Constabulary", short_name="Hampshire", slug="hampshire", region=region)


@pytest.fixture
def unit(region):
    return OrganisationFactory(
        name="Unit Marker-U5", slug="serocu", region=region, kind=Organisation.Kind.REGIONAL_UNIT
    )


@pytest.fixture
def blocked(force):
    """A blocked plan waiting on a procurement since ten days ago."""
    plan = ActionPlanFactory(organisation=force, status=S.BLOCKED, finding=FindingFactory(reference="R4"))
    DependencyFactory(plan=plan, kind=K.PROCUREMENT, name="Analytics platform", since=SINCE)
    return plan


def stranded_user() -> User:
    """A person with no organisation whose role does not see everything (the database refuses to store one)."""
    return User(pk=987_654, username="stranded", role=User.Role.STAFF, organisation=None, is_active=True)


def person(plan, who):
    org = plan.organisation
    return {
        "staff": lambda: StaffFactory(organisation=org),
        "manager": lambda: ManagerFactory(organisation=org),
        "admin": AdminFactory,
        "inspector": InspectorFactory,
        "other_staff": lambda: StaffFactory(organisation=OrganisationFactory()),
        "other_manager": lambda: ManagerFactory(organisation=OrganisationFactory()),
        "no_organisation": stranded_user,
    }[who]()


def change(plan, user, **fields):
    fields = {"note": "The procurement is now the national body's.", "waiting_on": K.NATIONAL_BODY,
              "waiting_on_name": "Home Office"} | fields  # fmt: skip
    return workflow.change_dependency(plan=plan, user=user, **fields)


# --- the workflow ------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["staff", "manager", "admin"])
def test_the_plans_people_change_what_it_waits_on_keeping_since_when(blocked, who):
    user = person(blocked, who)
    version = blocked.version
    update = change(blocked, user, expected_version=version)
    blocked.refresh_from_db()
    dependency = Dependency.objects.get(plan=blocked)
    assert (dependency.kind, dependency.name, dependency.since) == (K.NATIONAL_BODY, "Home Office", SINCE)
    assert dependency.recorded_by == user
    assert blocked.status == S.BLOCKED and blocked.version == version + 1
    assert update.kind == Update.Kind.STATUS and not update.status_to
    assert update.change_label == "What it waits on changed"
    assert update.note == (
        "The procurement is now the national body's.\n\n"
        f"Now: waiting on a national body (Home Office) since {SINCE:%-d %b %Y}."
    )


@pytest.mark.parametrize("who", ["inspector", "other_staff", "other_manager", "no_organisation"])
def test_nobody_else_may_change_it(blocked, who):
    with pytest.raises(PermissionDenied):
        change(blocked, person(blocked, who))
    assert Dependency.objects.get(plan=blocked).kind == K.PROCUREMENT
    assert not blocked.updates.exists()


@pytest.mark.parametrize("status", [s for s in S if s != S.BLOCKED])
def test_only_a_blocked_plan_has_what_it_waits_on_changed(force, status):
    plan = ActionPlanFactory(organisation=force, status=status)
    with pytest.raises(ValidationError, match="not possible while the plan is"):
        change(plan, StaffFactory(organisation=force))
    assert not Dependency.objects.filter(plan=plan).exists()


def test_a_change_that_changes_nothing_is_refused(blocked):
    staff = StaffFactory(organisation=blocked.organisation)
    with pytest.raises(ValidationError, match="already waits on"):
        change(blocked, staff, waiting_on=K.PROCUREMENT, waiting_on_name="Analytics platform")
    assert not blocked.updates.exists()
    change(blocked, staff, waiting_on=K.PROCUREMENT, waiting_on_name="Analytics platform",
           blocked_since=SINCE - dt.timedelta(days=5))  # fmt: skip
    assert Dependency.objects.get(plan=blocked).since == SINCE - dt.timedelta(days=5)


def test_the_same_rules_as_blocking_apply(blocked, region):
    staff = StaffFactory(organisation=blocked.organisation)
    with pytest.raises(ValidationError, match="day still to come"):
        change(blocked, staff, blocked_since=TODAY + dt.timedelta(days=1))
    with pytest.raises(ValidationError, match="Name a national body"):
        change(blocked, staff, waiting_on_name="")
    elsewhere = ActionPlanFactory(organisation=OrganisationFactory(region=RegionFactory()))
    with pytest.raises(ValidationError, match="not the number of a plan this plan may wait on"):
        change(blocked, staff, waiting_on=K.PLAN, waiting_on_plan=elsewhere.pk)
    assert Dependency.objects.get(plan=blocked).kind == K.PROCUREMENT


def test_a_blocked_plan_with_nothing_recorded_gets_what_it_waits_on(force):
    plan = ActionPlanFactory(organisation=force, status=S.BLOCKED)
    change(plan, StaffFactory(organisation=force))
    assert Dependency.objects.get(plan=plan).since == TODAY


def test_the_plan_waited_on_stays_when_no_number_is_given(blocked, unit):
    unit_plan = ActionPlanFactory(organisation=unit)
    staff = StaffFactory(organisation=blocked.organisation)
    change(blocked, staff, waiting_on=K.PLAN, waiting_on_plan=unit_plan.pk)
    update = change(blocked, staff, waiting_on=K.PLAN, waiting_on_plan=None, blocked_since=TODAY)
    assert Dependency.objects.get(plan=blocked).on_plan == unit_plan
    assert "another organisation's plan" in update.note and f"plan {unit_plan.pk}" not in update.note


def test_a_stale_version_is_refused(blocked):
    staff = StaffFactory(organisation=blocked.organisation)
    with pytest.raises(workflow.StaleVersion):
        change(blocked, staff, expected_version=blocked.version - 1)


# --- the plan page ---------------------------------------------------------------------------------


def test_the_page_offers_the_change_prefilled_and_makes_it(client, blocked):
    staff = StaffFactory(organisation=blocked.organisation)
    client.force_login(staff)
    page = client.get(blocked.get_absolute_url()).content.decode()
    assert 'id="action-waiting-on"' in page
    assert 'value="Analytics platform"' in page and f'value="{SINCE:%Y-%m-%d}"' in page
    response = client.post(
        reverse("tracker:plan-action", args=[blocked.pk, "waiting-on"]),
        {"waiting-on-version": blocked.version, "waiting-on-note": "Now national.",
         "waiting-on-waiting_on": K.NATIONAL_BODY, "waiting-on-waiting_on_name": "Home Office",
         "waiting-on-blocked_since": SINCE.isoformat()},
    )  # fmt: skip
    assert response.status_code == 302
    assert Dependency.objects.get(plan=blocked).name == "Home Office"
    page = client.get(blocked.get_absolute_url()).content.decode()
    assert "What it waits on changed" in page and "Now: waiting on a national body (Home Office)" in page


def test_the_page_says_why_a_change_is_refused(client, blocked):
    client.force_login(StaffFactory(organisation=blocked.organisation))
    response = client.post(
        reverse("tracker:plan-action", args=[blocked.pk, "waiting-on"]),
        {"waiting-on-version": blocked.version, "waiting-on-note": "Same.", "waiting-on-waiting_on": K.PROCUREMENT,
         "waiting-on-waiting_on_name": "Analytics platform", "waiting-on-blocked_since": SINCE.isoformat()},
    )  # fmt: skip
    assert response.status_code == 400
    assert "already waits on" in response.content.decode()


@pytest.mark.parametrize(
    ("who", "offered", "post_status"),
    [("staff", True, 302), ("manager", True, 302), ("admin", True, 302), ("inspector", False, 403),
     ("other_staff", False, 404), ("other_manager", False, 404)],
)  # fmt: skip
def test_who_is_offered_the_change_on_the_page(client, blocked, who, offered, post_status):
    client.force_login(person(blocked, who))
    page = client.get(blocked.get_absolute_url())
    if post_status == 404:
        assert page.status_code == 404
    else:
        assert ('id="action-waiting-on"' in page.content.decode()) is offered
    response = client.post(
        reverse("tracker:plan-action", args=[blocked.pk, "waiting-on"]),
        {"waiting-on-version": blocked.version, "waiting-on-note": "n", "waiting-on-waiting_on": K.OTHER},
    )
    assert response.status_code == post_status
    assert (Dependency.objects.get(plan=blocked).kind == K.OTHER) is (post_status == 302)


def test_anonymous_people_are_sent_to_log_in(client, blocked):
    response = client.post(reverse("tracker:plan-action", args=[blocked.pk, "waiting-on"]), {})
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert Dependency.objects.get(plan=blocked).kind == K.PROCUREMENT


def test_an_in_progress_plan_has_no_change_form(client, force):
    plan = ActionPlanFactory(organisation=force, status=S.IN_PROGRESS)
    client.force_login(StaffFactory(organisation=force))
    page = client.get(plan.get_absolute_url()).content.decode()
    assert 'id="action-block"' in page and 'id="action-waiting-on"' not in page


# --- the API ---------------------------------------------------------------------------------------


def api(user=None):
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


@pytest.mark.parametrize(
    ("who", "expected"),
    [("staff", 200), ("manager", 200), ("admin", 200), ("inspector", 403), ("other_staff", 404),
     ("other_manager", 404), ("anonymous", 401)],
)  # fmt: skip
def test_the_api_changes_what_it_waits_on_for_the_same_people(blocked, who, expected):
    client = api(None if who == "anonymous" else person(blocked, who))
    response = client.post(
        f"/api/v1/plans/{blocked.pk}/waiting-on/",
        {"version": blocked.version, "note": "Now national.", "waiting_on": "national_body",
         "waiting_on_name": "Home Office"},
        format="json",
    )  # fmt: skip
    assert response.status_code in ({expected} if expected != 401 else {401, 403}), response.content
    dependency = Dependency.objects.get(plan=blocked)
    assert (dependency.kind == K.NATIONAL_BODY) is (expected == 200)
    if expected == 200:
        assert dependency.since == SINCE
        assert client.get(f"/api/v1/plans/{blocked.pk}/").json()["waiting_on"]["kind"] == "national_body"


def test_the_api_lists_the_action_only_while_blocked(blocked, force):
    staff = StaffFactory(organisation=force)
    assert "waiting-on" in api(staff).get(f"/api/v1/plans/{blocked.pk}/").json()["actions"]
    other = ActionPlanFactory(organisation=force, status=S.IN_PROGRESS)
    assert "waiting-on" not in api(staff).get(f"/api/v1/plans/{other.pk}/").json()["actions"]
    response = api(staff).post(
        f"/api/v1/plans/{other.pk}/waiting-on/",
        {"version": other.version, "note": "n", "waiting_on": "other"},
        format="json",
    )
    assert response.status_code == 400


# --- the plan picker -------------------------------------------------------------------------------


@pytest.fixture
def world(force, unit, region):
    """Plans the force's people may see (their own) and plans they may not (the unit's, and another
    region's), each marked in its finding's reference."""
    inspection = InspectionFactory(title="South East SOC 2024")
    own = [ActionPlanFactory(organisation=force, finding=FindingFactory(inspection=inspection, reference=f"R{n}"))
           for n in (1, 2)]  # fmt: skip
    done = ActionPlanFactory(organisation=force, status=S.CLOSED,
                             finding=FindingFactory(inspection=inspection, reference="R9"))  # fmt: skip
    unit_plan = ActionPlanFactory(organisation=unit, finding=FindingFactory(reference="AFI-UNITMARK"))
    far = ActionPlanFactory(organisation=OrganisationFactory(region=RegionFactory()),
                            finding=FindingFactory(reference="R-FARMARK"))  # fmt: skip
    return {"own": own, "done": done, "unit": unit_plan, "far": far}


def picker_options(page: str) -> list[str]:
    start = page.index('<datalist id="id_block-waiting_on_plan-plans">')
    return page[start : page.index("</datalist>", start)].split("<option ")[1:]


def test_the_block_form_offers_the_plans_the_person_may_see_labelled(client, force, world):
    plan = ActionPlanFactory(organisation=force, status=S.IN_PROGRESS, finding=FindingFactory(reference="R5"))
    client.force_login(StaffFactory(organisation=force))
    page = client.get(plan.get_absolute_url()).content.decode()
    assert 'list="id_block-waiting_on_plan-plans"' in page
    options = picker_options(page)
    first, second = world["own"]
    assert options[0].startswith(f'value="{first.pk}">R1, South East SOC 2024: Hampshire (in progress)')
    assert options[1].startswith(f'value="{second.pk}">R2, South East SOC 2024: Hampshire')
    assert len(options) == 2  # not the plan itself, nor a finished plan
    assert f'value="{world["done"].pk}"' not in page
    assert "UNITMARK" not in page and "FARMARK" not in page
    assert f'value="{world["unit"].pk}"' not in page and f'value="{world["far"].pk}"' not in page


def test_an_administrator_is_offered_the_regions_plans_and_no_others(client, force, world):
    plan = ActionPlanFactory(organisation=force, status=S.IN_PROGRESS)
    client.force_login(AdminFactory())
    page = client.get(plan.get_absolute_url()).content.decode()
    options = "".join(picker_options(page))
    assert "UNITMARK" in options and "FARMARK" not in options


def test_the_picker_leaves_out_a_plan_waiting_on_this_one(client, force, world):
    plan = ActionPlanFactory(organisation=force, status=S.IN_PROGRESS)
    waiting = world["own"][0]
    ActionPlan.objects.filter(pk=waiting.pk).update(status=S.BLOCKED)
    DependencyFactory(plan=waiting, kind=K.PLAN, name="", on_plan=plan)
    client.force_login(StaffFactory(organisation=force))
    options = "".join(picker_options(client.get(plan.get_absolute_url()).content.decode()))
    assert f'value="{waiting.pk}"' not in options and f'value="{world["own"][1].pk}"' in options


def test_a_plan_chosen_from_the_picker_is_waited_on(client, force, world):
    plan = ActionPlanFactory(organisation=force, status=S.IN_PROGRESS)
    client.force_login(StaffFactory(organisation=force))
    response = client.post(
        reverse("tracker:plan-action", args=[plan.pk, "block"]),
        {"block-version": plan.version, "block-note": "Needs R2 first.", "block-waiting_on": K.PLAN,
         "block-waiting_on_plan": str(world["own"][1].pk)},
    )  # fmt: skip
    assert response.status_code == 302
    assert Dependency.objects.get(plan=plan).on_plan == world["own"][1]


def test_the_change_form_names_another_organisations_plan_by_no_number(client, blocked, world):
    """The plan waited on is the unit's, which the force's people may not see: its number is not shown to
    them, and leaving the field empty keeps it."""
    staff = StaffFactory(organisation=blocked.organisation)
    change(blocked, staff, waiting_on=K.PLAN, waiting_on_plan=world["unit"].pk)
    client.force_login(staff)
    page = client.get(blocked.get_absolute_url()).content.decode()
    field = re.search(r'<input[^>]*name="waiting-on-waiting_on_plan"[^>]*>', page)
    assert field is not None and "value=" not in field.group(0)
    # Nor anywhere else as a plan: no link to it, no option for it (other numbers on the page, such as a
    # person's id in the owner choices, may equal it by chance).
    unit = world["unit"].pk
    offered = "".join(re.findall(r"<datalist[^>]*>(.*?)</datalist>", page, re.S))
    assert f"/plans/{unit}/" not in page and f'<option value="{unit}">' not in offered
    assert "UNITMARK" not in page
    assert "Leave it empty to keep the plan it waits on now." in page
    client.force_login(AdminFactory())
    page = client.get(blocked.get_absolute_url()).content.decode()
    assert f'name="waiting-on-waiting_on_plan" value="{world["unit"].pk}"' in page


def test_the_picker_costs_one_query(client, force, world, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    plan = ActionPlanFactory(organisation=force, status=S.IN_PROGRESS)
    client.force_login(StaffFactory(organisation=force))
    client.get(plan.get_absolute_url())
    with CaptureQueriesContext(connection) as before:
        client.get(plan.get_absolute_url())
    ActionPlanFactory.create_batch(5, organisation=force)
    with CaptureQueriesContext(connection) as after:
        client.get(plan.get_absolute_url())
    assert len(after.captured_queries) == len(before.captured_queries)
    assert sum("LIMIT 200" in q["sql"] for q in after.captured_queries) == 1
