"""External dependencies (issue 15, part 3): a blocked plan names what it waits on and since when.

Recorded by the block action of the registry (`tracker.workflow.mark_blocked`: locked, versioned, on the
timeline) and removed when the plan leaves the blocked state. A plan may wait on another plan of its own
organisation or of another organisation in its region; whoever may not see that plan reads only that it
waits on another organisation's plan: no number, no reference, no status, no owner.
"""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from inspections.models import Organisation
from tests.factories import (
    ActionPlanFactory,
    AdminFactory,
    FindingFactory,
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
SECRET_OWNER = "Unit-Owner-Q7"  # the regional unit's plan owner: a name only those who may see it read


@pytest.fixture
def region():
    return RegionFactory(name="South East", slug="south-east")


@pytest.fixture
def force(region):
    return OrganisationFactory(name="Hampshire Constabulary", slug="hampshire", region=region)


@pytest.fixture
def unit(region):
    return OrganisationFactory(
        name="South East Regional Organised Crime Unit", slug="serocu", region=region,
        kind=Organisation.Kind.REGIONAL_UNIT,
    )  # fmt: skip


@pytest.fixture
def plan(force):
    return ActionPlanFactory(organisation=force, status=S.IN_PROGRESS, finding=FindingFactory(reference="R4"))


@pytest.fixture
def unit_plan(unit):
    owner = StaffFactory(organisation=unit, last_name=SECRET_OWNER)
    return ActionPlanFactory(organisation=unit, status=S.IN_PROGRESS, finding=FindingFactory(reference="AFI3"),
                             owner=owner)  # fmt: skip


@pytest.fixture
def staff(force):
    return StaffFactory(organisation=force)


def block_on_unit(plan, staff, unit_plan, **extra):
    return workflow.mark_blocked(
        plan=plan, user=staff, note="Needs the unit's new products.", waiting_on=K.PLAN,
        waiting_on_plan=unit_plan.pk, **extra,
    )  # fmt: skip


# --- the workflow ------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["staff", "manager", "admin"])
@pytest.mark.parametrize(
    ("kind", "name", "words"),
    [
        (K.NATIONAL_BODY, "College of Policing", "Waiting on a national body (College of Policing) since"),
        (K.PARTNER_AGENCY, "the county council", "Waiting on a partner agency (the county council) since"),
        (K.PROCUREMENT, "analytics platform", "Waiting on a procurement (analytics platform) since"),
        (K.OTHER, "vetting backlog", "Waiting on something else (vetting backlog) since"),
    ],
)
def test_the_organisations_people_block_a_plan_naming_what_it_waits_on(plan, role, kind, name, words):
    user = {"staff": StaffFactory, "manager": ManagerFactory}.get(role, lambda **_: AdminFactory())(
        organisation=plan.organisation
    )
    since = TODAY - dt.timedelta(days=9)
    version = plan.version
    update = workflow.mark_blocked(
        plan=plan, user=user, note="Nothing moves until they answer.", waiting_on=kind, waiting_on_name=name,
        blocked_since=since, expected_version=version,
    )  # fmt: skip
    plan.refresh_from_db()
    assert (plan.status, plan.version) == (S.BLOCKED, version + 1)
    dependency = Dependency.objects.get(plan=plan)
    assert (dependency.kind, dependency.name, dependency.since, dependency.on_plan, dependency.recorded_by) == (
        kind, name, since, None, user,
    )  # fmt: skip
    assert update.kind == Update.Kind.STATUS and update.status_to == S.BLOCKED
    assert update.note.startswith("Nothing moves until they answer.\n\n" + words)
    assert since.strftime("%-d %b %Y") in update.note


def test_blocked_since_is_today_unless_given_and_never_a_day_to_come(plan, staff):
    with pytest.raises(ValidationError, match="a day still to come"):
        workflow.mark_blocked(plan=plan, user=staff, note="n", waiting_on=K.OTHER,
                              blocked_since=TODAY + dt.timedelta(days=1))  # fmt: skip
    assert not Dependency.objects.exists() and ActionPlan.objects.get(pk=plan.pk).status == S.IN_PROGRESS
    workflow.mark_blocked(plan=plan, user=staff, note="Waiting on vetting.")
    assert Dependency.objects.get(plan=plan).since == TODAY
    assert Dependency.objects.get(plan=plan).kind == K.OTHER


@pytest.mark.parametrize("kind", [K.NATIONAL_BODY, K.PARTNER_AGENCY, K.PROCUREMENT])
def test_a_body_agency_or_procurement_must_be_named(plan, staff, kind):
    with pytest.raises(ValidationError, match=f"Name {K(kind).label.lower()}"):
        workflow.mark_blocked(plan=plan, user=staff, note="n", waiting_on=kind, waiting_on_name="  ")
    assert not Dependency.objects.exists() and not plan.updates.exists()


def test_an_unknown_kind_is_refused(plan, staff):
    with pytest.raises(ValidationError, match="Choose what the plan is waiting on"):
        workflow.mark_blocked(plan=plan, user=staff, note="n", waiting_on="weather")
    assert not Dependency.objects.exists()


@pytest.mark.parametrize("role", ["inspector", "other_staff", "other_manager", "no_organisation", "inactive"])
def test_others_may_not_block(plan, role):
    user = {
        "inspector": lambda: InspectorFactory(),
        "other_staff": lambda: StaffFactory(),
        "other_manager": lambda: ManagerFactory(),
        "no_organisation": lambda: User(pk=987_654, username="stranded", role=User.Role.STAFF, organisation=None),
        "inactive": lambda: StaffFactory(organisation=plan.organisation, is_active=False),
    }[role]()
    with pytest.raises(PermissionDenied):
        workflow.mark_blocked(plan=plan, user=user, note="n", waiting_on=K.PARTNER_AGENCY, waiting_on_name="x")
    assert not Dependency.objects.exists() and not plan.updates.exists()


def test_a_plan_may_wait_on_a_plan_of_another_organisation_of_its_region(plan, staff, unit_plan):
    update = block_on_unit(plan, staff, unit_plan)
    dependency = Dependency.objects.get(plan=plan)
    assert (dependency.kind, dependency.on_plan, dependency.name) == (K.PLAN, unit_plan, "")
    # The timeline is read by the plan's people, who may not see the other plan: no number, no reference.
    assert "another organisation's plan" in update.note
    assert str(unit_plan.pk) not in update.note.replace(TODAY.strftime("%-d %b %Y"), "")
    assert "AFI3" not in update.note


def test_a_plan_may_wait_on_a_plan_of_its_own_organisation(plan, staff):
    other = ActionPlanFactory(organisation=plan.organisation)
    update = workflow.mark_blocked(plan=plan, user=staff, note="n", waiting_on=K.PLAN, waiting_on_plan=other.pk)
    assert Dependency.objects.get(plan=plan).on_plan == other
    assert f"Waiting on plan {other.pk} since" in update.note


OUT_OF_REACH = (
    "That is not the number of a plan this plan may wait on: a plan of Hampshire Constabulary or of another "
    "organisation in South East."
)


def test_a_plan_of_another_region_is_refused_with_a_clear_message(plan, staff):
    elsewhere = ActionPlanFactory(organisation=OrganisationFactory(region=RegionFactory(name="North West")))
    with pytest.raises(ValidationError) as refused:
        workflow.mark_blocked(plan=plan, user=staff, note="n", waiting_on=K.PLAN, waiting_on_plan=elsewhere.pk)
    assert refused.value.messages == [OUT_OF_REACH]
    assert ActionPlan.objects.get(pk=plan.pk).status == S.IN_PROGRESS and not Dependency.objects.exists()


def test_an_organisation_in_no_region_may_wait_only_on_its_own_plans(staff):
    lonely = ActionPlanFactory(organisation=OrganisationFactory(region=None), status=S.IN_PROGRESS)
    person = StaffFactory(organisation=lonely.organisation)
    other = ActionPlanFactory(organisation=OrganisationFactory(region=None))
    with pytest.raises(ValidationError, match="is in no region"):
        workflow.mark_blocked(plan=lonely, user=person, note="n", waiting_on=K.PLAN, waiting_on_plan=other.pk)
    own = ActionPlanFactory(organisation=lonely.organisation)
    workflow.mark_blocked(plan=lonely, user=person, note="n", waiting_on=K.PLAN, waiting_on_plan=own.pk)
    assert Dependency.objects.get(plan=lonely).on_plan == own


@pytest.mark.parametrize(
    ("number", "message"),
    [(None, "Give the number of the plan it waits on."), (99_999_999, OUT_OF_REACH)],
)
def test_a_missing_or_unknown_plan_number_is_refused(plan, staff, number, message):
    with pytest.raises(ValidationError) as refused:
        workflow.mark_blocked(plan=plan, user=staff, note="n", waiting_on=K.PLAN, waiting_on_plan=number)
    assert refused.value.messages == [message]
    assert not Dependency.objects.exists()


def test_a_refusal_does_not_tell_a_plan_out_of_reach_from_a_number_no_plan_has(client, plan, staff):
    """Whether the number is another region's plan or no plan at all, the page form, the API and the
    workflow give the same refusal, naming neither that plan's organisation nor its region."""
    elsewhere = ActionPlanFactory(
        organisation=OrganisationFactory(name="Cumbria Constabulary", region=RegionFactory(name="North West"))
    )
    missing = elsewhere.pk + 1000
    assert not ActionPlan.objects.filter(pk=missing).exists()

    def refusals(number: int) -> tuple[list[str], object, str]:
        with pytest.raises(ValidationError) as refused:
            workflow.mark_blocked(plan=plan, user=staff, note="n", waiting_on=K.PLAN, waiting_on_plan=number)
        body = {"version": plan.version, "note": "n", "waiting_on": "plan", "waiting_on_plan": number}
        response = api(staff).post(f"/api/v1/plans/{plan.pk}/block/", body, format="json")
        assert response.status_code == 400
        client.force_login(staff)
        page = client.post(reverse("tracker:plan-action", args=[plan.pk, "block"]), {
            "block-version": plan.version, "block-note": "n", "block-waiting_on": "plan",
            "block-waiting_on_plan": number,
        })  # fmt: skip
        assert page.status_code == 400
        return refused.value.messages, response.json(), page.content.decode()

    out_of_reach, missing_number = refusals(elsewhere.pk), refusals(missing)

    assert out_of_reach[0] == missing_number[0] == [OUT_OF_REACH]
    assert out_of_reach[1] == missing_number[1]
    for page in (out_of_reach[2], missing_number[2]):
        assert OUT_OF_REACH in page
        for word in ("Cumbria", "North West", "There is no plan", "belongs to"):
            assert word not in page and word not in str(out_of_reach[1])
    assert ActionPlan.objects.get(pk=plan.pk).status == S.IN_PROGRESS and not Dependency.objects.exists()


def test_a_plan_cannot_wait_on_itself_or_on_a_plan_waiting_on_it(plan, staff, unit_plan):
    with pytest.raises(ValidationError, match="cannot wait on itself"):
        workflow.mark_blocked(plan=plan, user=staff, note="n", waiting_on=K.PLAN, waiting_on_plan=plan.pk)
    unit_staff = StaffFactory(organisation=unit_plan.organisation)
    workflow.mark_blocked(plan=unit_plan, user=unit_staff, note="n", waiting_on=K.PLAN, waiting_on_plan=plan.pk)
    with pytest.raises(ValidationError, match=f"Plan {unit_plan.pk} is itself waiting on this plan"):
        block_on_unit(plan, staff, unit_plan)
    assert not Dependency.objects.filter(plan=plan).exists()


@pytest.mark.parametrize(
    ("leave", "status"),
    [
        (lambda plan, staff, inspector: workflow.unblock(plan=plan, user=staff, note="Answered."), S.IN_PROGRESS),
        (lambda plan, staff, inspector: workflow.no_further_action(plan=plan, user=inspector, comment="Moot."),
         S.NO_FURTHER_ACTION),
    ],
)  # fmt: skip
def test_the_dependency_goes_when_the_plan_leaves_the_blocked_state_and_the_timeline_keeps_it(
    plan, staff, leave, status
):
    workflow.mark_blocked(plan=plan, user=staff, note="n", waiting_on=K.PROCUREMENT, waiting_on_name="Contract X")
    leave(plan, staff, InspectorFactory())
    plan.refresh_from_db()
    assert plan.status == status
    assert not Dependency.objects.exists()
    assert plan.updates.filter(note__contains="Waiting on a procurement (Contract X)").exists()


def test_blocking_again_records_the_new_dependency(plan, staff):
    workflow.mark_blocked(plan=plan, user=staff, note="n", waiting_on=K.PROCUREMENT, waiting_on_name="First")
    workflow.unblock(plan=plan, user=staff, note="Bought.")
    workflow.mark_blocked(plan=plan, user=staff, note="n", waiting_on=K.NATIONAL_BODY, waiting_on_name="NPCC")
    assert list(Dependency.objects.values_list("kind", "name")) == [(K.NATIONAL_BODY, "NPCC")]


def test_a_stale_version_records_nothing(plan, staff):
    with pytest.raises(workflow.StaleVersion):
        workflow.mark_blocked(plan=plan, user=staff, note="n", waiting_on=K.PARTNER_AGENCY, waiting_on_name="x",
                              expected_version=plan.version + 1)  # fmt: skip
    assert not Dependency.objects.exists()


# --- who reads what: the plan page ---------------------------------------------------------------------


def readers(force, unit):
    return {
        "force.staff": StaffFactory(organisation=force),
        "force.manager": ManagerFactory(organisation=force),
        "unit.staff": StaffFactory(organisation=unit),
        "unit.manager": ManagerFactory(organisation=unit),
        "inspector": InspectorFactory(),
        "admin": AdminFactory(),
    }


def test_the_force_reads_only_that_its_plan_waits_on_another_organisations_plan(
    client, plan, staff, unit_plan, force, unit
):
    block_on_unit(plan, staff, unit_plan, blocked_since=TODAY - dt.timedelta(days=12))
    people = readers(force, unit)
    for who in ("force.staff", "force.manager"):
        client.force_login(people[who])
        page = client.get(plan.get_absolute_url()).content.decode()
        assert "Another organisation&#x27;s plan" in page or "Another organisation's plan" in page, who
        for secret in (SECRET_OWNER, "AFI3", unit_plan.get_absolute_url(), f"Plan {unit_plan.pk}", "In progress)"):
            assert secret not in page, (who, secret)
        assert "Blocked since" in page
    for who in ("inspector", "admin"):
        client.force_login(people[who])
        page = client.get(plan.get_absolute_url()).content.decode()
        assert f'<a href="{unit_plan.get_absolute_url()}">Plan {unit_plan.pk}: {unit} on AFI3' in page, who
        assert SECRET_OWNER in page and "(in progress" in page


def test_the_plan_waited_on_shows_who_waits_only_as_far_as_the_reader_may_see(
    client, plan, staff, unit_plan, force, unit
):
    block_on_unit(plan, staff, unit_plan)
    people = readers(force, unit)
    client.force_login(people["unit.staff"])
    page = client.get(unit_plan.get_absolute_url()).content.decode()
    assert "Plans waiting on this one" in page and "1 plan of another organisation" in page
    assert "Hampshire" not in page and plan.get_absolute_url() not in page
    client.force_login(people["inspector"])
    page = client.get(unit_plan.get_absolute_url()).content.decode()
    assert f'<a href="{plan.get_absolute_url()}">Plan {plan.pk}: ' in page
    assert "of another organisation" not in page


@pytest.mark.parametrize("who", ["force.staff", "force.manager", "unit.staff", "unit.manager", "inspector"])
def test_the_plan_pages_are_404_to_other_organisations(client, plan, staff, unit_plan, force, unit, who):
    block_on_unit(plan, staff, unit_plan)
    client.force_login(readers(force, unit)[who])
    mine = {"force": plan, "unit": unit_plan}
    for side, page in mine.items():
        expected = 200 if who == "inspector" or who.startswith(side) else 404
        assert client.get(page.get_absolute_url()).status_code == expected, (who, side)


def test_the_page_form_records_the_dependency(client, plan, staff, unit_plan):
    client.force_login(staff)
    url = reverse("tracker:plan-action", args=[plan.pk, "block"])
    page = client.get(plan.get_absolute_url()).content.decode()
    assert 'name="block-waiting_on"' in page and 'name="block-waiting_on_plan"' in page
    response = client.post(url, {
        "block-version": plan.version, "block-note": "Needs the unit's products.", "block-waiting_on": "plan",
        "block-waiting_on_plan": unit_plan.pk, "block-blocked_since": (TODAY - dt.timedelta(days=3)).isoformat(),
    })  # fmt: skip
    assert response.status_code == 302
    dependency = Dependency.objects.get(plan=plan)
    assert (dependency.on_plan, dependency.since) == (unit_plan, TODAY - dt.timedelta(days=3))


def test_a_refused_page_form_says_why_and_changes_nothing(client, plan, staff):
    elsewhere = ActionPlanFactory(organisation=OrganisationFactory(region=RegionFactory(name="Wales")))
    client.force_login(staff)
    url = reverse("tracker:plan-action", args=[plan.pk, "block"])
    response = client.post(url, {"block-version": plan.version, "block-note": "n", "block-waiting_on": "plan",
                                 "block-waiting_on_plan": elsewhere.pk})  # fmt: skip
    assert response.status_code == 400
    assert OUT_OF_REACH in response.content.decode()
    assert ActionPlan.objects.get(pk=plan.pk).status == S.IN_PROGRESS and not Dependency.objects.exists()


@pytest.mark.parametrize("who", ["inspector", "other_staff", "anonymous"])
def test_the_page_form_is_refused_to_others(client, plan, who):
    url = reverse("tracker:plan-action", args=[plan.pk, "block"])
    data = {"block-version": plan.version, "block-note": "n", "block-waiting_on": "other"}
    if who != "anonymous":
        client.force_login(InspectorFactory() if who == "inspector" else StaffFactory())
    response = client.post(url, data)
    expected = {"inspector": 403, "other_staff": 404}.get(who)
    if expected:
        assert response.status_code == expected
    else:
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert not Dependency.objects.exists() and not plan.updates.exists()


# --- lists, exports and the API ----------------------------------------------------------------------


def test_the_list_filters_blocked_plans_by_what_they_wait_on_and_says_so(client, plan, staff, unit_plan):
    block_on_unit(plan, staff, unit_plan)
    other = ActionPlanFactory(organisation=plan.organisation, status=S.IN_PROGRESS)
    workflow.mark_blocked(plan=other, user=staff, note="n", waiting_on=K.PARTNER_AGENCY, waiting_on_name="Council")
    silent = ActionPlanFactory(organisation=plan.organisation, status=S.BLOCKED)  # blocked before part 3
    client.force_login(staff)
    for value, expected in [("plan", [plan]), ("partner_agency", [other]), ("unrecorded", [silent]),
                            ("procurement", [])]:  # fmt: skip
        response = client.get(f"/plans/?waiting_on={value}")
        assert response.status_code == 200
        assert [p.pk for p in response.context["object_list"]] == [p.pk for p in expected], value
    page = client.get("/plans/?waiting_on=plan").content.decode()
    assert "Blocked, waiting on: another plan: 1 plan" in page
    assert "Waiting on another organisation&#x27;s plan" in page and SECRET_OWNER not in page
    refused = client.get("/plans/?waiting_on=weather")  # as every filter: the form's error, no rows
    assert refused.status_code == 200 and not refused.context["object_list"]
    assert "Select a valid choice" in refused.content.decode()


def test_list_query_count_does_not_grow_with_blocked_plans(client, django_assert_max_num_queries, force, staff):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def blocked(n):
        for _ in range(n):
            p = ActionPlanFactory(organisation=force, status=S.IN_PROGRESS)
            workflow.mark_blocked(plan=p, user=staff, note="n", waiting_on=K.NATIONAL_BODY, waiting_on_name="NPCC")

    blocked(1)
    client.force_login(staff)
    client.get("/accounts/")

    def count():
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/plans/?waiting_on=national_body", headers={"HX-Request": "true"}).status_code == 200
        return len(queries)

    small = count()
    blocked(8)
    assert count() == small


def export_rows(client, path):
    response = client.get(path)
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


def test_the_csv_export_names_what_it_waits_on_as_the_reader_may_see_it(client, plan, staff, unit_plan, force, unit):
    block_on_unit(plan, staff, unit_plan, blocked_since=TODAY - dt.timedelta(days=4))
    people = readers(force, unit)
    client.force_login(people["force.manager"])
    (row,) = export_rows(client, "/plans/export.csv?waiting_on=plan")
    assert (row["Waiting on"], row["Blocked since"]) == (
        "another organisation's plan",
        (TODAY - dt.timedelta(days=4)).isoformat(),
    )
    client.force_login(people["inspector"])
    (row,) = export_rows(client, "/plans/export.csv?waiting_on=plan")
    assert row["Waiting on"].startswith(f"plan {unit_plan.pk}: {unit} on AFI3") and SECRET_OWNER in row["Waiting on"]


def test_the_xlsx_export_has_the_columns(client, plan, staff, unit_plan):
    from openpyxl import load_workbook

    workflow.mark_blocked(plan=plan, user=staff, note="n", waiting_on=K.PROCUREMENT, waiting_on_name="Radios")
    client.force_login(staff)
    response = client.get("/plans/export.xlsx")
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content)))["Action plans"]
    header = [c.value for c in sheet[1]]
    row = {name: value for name, value in zip(header, [c.value for c in sheet[2]], strict=True)}
    assert row["Waiting on"] == "a procurement: Radios"
    assert row["Blocked since"].date() == TODAY


def api(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_the_api_blocks_with_a_dependency_and_shows_it_as_the_reader_may(plan, staff, unit_plan, force, unit):
    response = api(staff).post(
        f"/api/v1/plans/{plan.pk}/block/",
        {"version": plan.version, "note": "Needs the unit.", "waiting_on": "plan", "waiting_on_plan": unit_plan.pk},
        format="json",
    )
    assert response.status_code == 200, response.content
    people = readers(force, unit)
    mine = api(people["force.manager"]).get(f"/api/v1/plans/{plan.pk}/").json()["waiting_on"]
    assert mine == {
        "kind": "plan", "kind_display": "Another plan", "name": "", "since": TODAY.isoformat(), "plan": None,
        "plan_hidden": True, "description": "another organisation's plan",
    }  # fmt: skip
    seen = api(people["inspector"]).get(f"/api/v1/plans/{plan.pk}/").json()["waiting_on"]
    assert seen["plan"]["id"] == unit_plan.pk and seen["plan"]["status"] == "in_progress"
    assert seen["plan_hidden"] is False
    listed = api(people["force.staff"]).get("/api/v1/plans/?waiting_on=plan").json()
    assert [p["id"] for p in listed["results"]] == [plan.pk]
    assert listed["results"][0]["waiting_on"]["plan"] is None
    assert SECRET_OWNER not in str(listed)


def test_the_api_refuses_another_region_and_others_roles(plan, staff, force):
    elsewhere = ActionPlanFactory(organisation=OrganisationFactory(region=RegionFactory(name="Wales")))
    body = {"version": plan.version, "note": "n", "waiting_on": "plan", "waiting_on_plan": elsewhere.pk}
    response = api(staff).post(f"/api/v1/plans/{plan.pk}/block/", body, format="json")
    assert response.status_code == 400
    assert OUT_OF_REACH in str(response.json())
    assert api(InspectorFactory()).post(f"/api/v1/plans/{plan.pk}/block/", body, format="json").status_code == 403
    assert api(StaffFactory()).post(f"/api/v1/plans/{plan.pk}/block/", body, format="json").status_code == 404
    assert APIClient().post(f"/api/v1/plans/{plan.pk}/block/", body, format="json").status_code in (401, 403)
    assert not Dependency.objects.exists() and ActionPlan.objects.get(pk=plan.pk).status == S.IN_PROGRESS


def test_the_api_still_blocks_with_a_note_alone(plan, staff):
    response = api(staff).post(f"/api/v1/plans/{plan.pk}/block/", {"version": plan.version, "note": "Vetting."},
                               format="json")  # fmt: skip
    assert response.status_code == 200
    assert Dependency.objects.get(plan=plan).kind == K.OTHER


# --- the dashboard -------------------------------------------------------------------------------------


def test_the_dashboard_counts_blocked_plans_by_what_they_wait_on(client, plan, staff, unit_plan, force):
    block_on_unit(plan, staff, unit_plan, blocked_since=TODAY - dt.timedelta(days=30))
    for name in ("NPCC", "College of Policing"):
        other = ActionPlanFactory(organisation=force, status=S.IN_PROGRESS)
        workflow.mark_blocked(plan=other, user=staff, note="n", waiting_on=K.NATIONAL_BODY, waiting_on_name=name)
    ActionPlanFactory(organisation=force, status=S.BLOCKED)
    client.force_login(ManagerFactory(organisation=force))
    response = client.get("/dashboard/")
    blocked = response.context["blocked"]
    assert blocked["total"] == 4
    assert [(k["label"], k["count"]) for k in blocked["kinds"]] == [
        ("A national body", 2),
        ("Another plan", 1),
        ("Nothing recorded", 1),
    ]
    assert blocked["longest"][0].pk == plan.pk  # blocked longest
    page = response.content.decode()
    assert "Blocked plans and what they wait on" in page
    assert "Waiting on another organisation&#x27;s plan" in page and SECRET_OWNER not in page


# --- the papers: the board pack and the 56-day response --------------------------------------------


def pdf_text(response) -> str:
    import pypdf

    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    pages = pypdf.PdfReader(io.BytesIO(response.content)).pages
    return " ".join(" ".join(page.extract_text().split()) for page in pages)


def docx_text(response) -> str:
    import docx

    assert response.status_code == 200
    return "\n".join(p.text for p in docx.Document(io.BytesIO(response.content)).paragraphs)


def test_the_board_pack_names_what_a_blocked_plan_waits_on_as_the_reader_may_see_it(
    client, plan, staff, unit_plan, force, unit
):
    """In the progress and overdue sections, page and PDF alike: the force reads only that its plan waits
    on another organisation's plan; an inspector reads which plan, its status and owner, as on the plan page."""
    plan.target_date = TODAY - dt.timedelta(days=3)  # overdue too
    plan.save()
    block_on_unit(plan, staff, unit_plan, blocked_since=TODAY - dt.timedelta(days=12))
    since = f"since {TODAY - dt.timedelta(days=12):%-d %b %Y}"
    people = readers(force, unit)
    client.force_login(people["force.manager"])
    page = client.get(f"/organisations/{force.slug}/board-pack/").content.decode()
    pdf = pdf_text(client.get(f"/organisations/{force.slug}/board-pack.pdf"))
    for text in (page.replace("&#x27;", "'"), pdf):
        progress, overdue = text.split("Progress by finding")[-1].split("Overdue, with reasons")
        overdue = overdue.split("Deferrals, with reasons")[0]
        for section in (progress, overdue):
            assert f"Blocked · Waiting on another organisation's plan, {since}" in section
        for secret in (SECRET_OWNER, "AFI3", f"plan {unit_plan.pk}", unit_plan.get_absolute_url()):
            assert secret not in text
    client.force_login(people["inspector"])
    words = (
        f"Waiting on plan {unit_plan.pk}: {unit} on AFI3 of {unit_plan.finding.inspection.title} (in progress, owner"
    )
    page = client.get(f"/organisations/{force.slug}/board-pack/").content.decode()
    pdf = pdf_text(client.get(f"/organisations/{force.slug}/board-pack.pdf"))
    for text in (page, pdf):
        progress = text.split("Progress by finding")[-1].split("Overdue, with reasons")[0]
        assert words in progress and SECRET_OWNER in progress and since in progress


def test_the_board_pack_names_a_body_agency_or_procurement_and_shows_nothing_for_plans_not_blocked(
    client, plan, staff, force
):
    workflow.mark_blocked(plan=plan, user=staff, note="n", waiting_on=K.PROCUREMENT, waiting_on_name="Radios",
                          blocked_since=TODAY - dt.timedelta(days=5))  # fmt: skip
    ActionPlanFactory(organisation=force, status=S.IN_PROGRESS)
    client.force_login(ManagerFactory(organisation=force))
    text = pdf_text(client.get(f"/organisations/{force.slug}/board-pack.pdf"))
    assert text.count(f"Waiting on a procurement: Radios, since {TODAY - dt.timedelta(days=5):%-d %b %Y}") == 1
    progress = text.split("Progress by finding")[-1].split("Overdue, with reasons")[0]
    assert progress.count("Waiting on") == 1  # the other plan is not blocked


def test_the_56_day_response_says_what_a_blocked_plan_waits_on_by_no_ones_name(
    client, plan, staff, unit_plan, force, unit
):
    """In the draft (DOCX and PDF): the force's reader is told only "another organisation's plan"; an
    inspector which plan and its status, but never its owner's name (the response is published)."""
    plan.finding.addressed_to.add(force)
    block_on_unit(plan, staff, unit_plan, blocked_since=TODAY - dt.timedelta(days=12))
    since = f"since {TODAY - dt.timedelta(days=12):%-d %B %Y}"
    address = f"/inspections/{plan.finding.inspection.slug}/response/{force.slug}"
    people = readers(force, unit)
    client.force_login(people["force.manager"])
    document = docx_text(client.get(f"{address}.docx"))
    assert f"Waiting on: another organisation's plan, {since}" in document.splitlines()
    pdf = pdf_text(client.get(f"{address}.pdf"))
    assert f"Waiting on: another organisation's plan, {since}" in pdf
    for text in (document, pdf):
        for secret in (SECRET_OWNER, "AFI3", f"plan {unit_plan.pk}"):
            assert secret not in text
    client.force_login(people["inspector"])
    words = f"Waiting on: plan {unit_plan.pk}: {unit} on AFI3 of {unit_plan.finding.inspection.title} (in progress), "
    words += since
    document = docx_text(client.get(f"{address}.docx"))
    pdf = pdf_text(client.get(f"{address}.pdf"))
    assert words in document.splitlines() and words in pdf
    assert SECRET_OWNER not in document and SECRET_OWNER not in pdf
