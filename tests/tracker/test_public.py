"""The public progress page and feeds (/public/<slug>/, .csv, .json), the organisation's settings page
where its managers opt in, and public statements: written by the organisation's people, published only
once a manager approves them."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from tests.factories import (
    ActionPlanFactory,
    AdminFactory,
    FindingFactory,
    GradingFactory,
    InspectionFactory,
    InspectorFactory,
    ManagerFactory,
    OrganisationFactory,
    StaffFactory,
)
from tracker import public
from tracker.models import ActionPlan, OrganisationSettings, PublicStatement

pytestmark = pytest.mark.django_db
S = ActionPlan.Status
PATHS = ("/public/{slug}/", "/public/{slug}.csv", "/public/{slug}.json")


@pytest.fixture
def surrey():
    return OrganisationFactory(name="Surrey Police", short_name="Surrey", slug="surrey")


@pytest.fixture
def people(surrey):
    return {
        "staff": StaffFactory(organisation=surrey, first_name="Jo", last_name="Evans"),
        "manager": ManagerFactory(organisation=surrey, first_name="Mark", last_name="Reid"),
    }


def opt_in(organisation, manager, public_progress=True):
    return public.set_public_progress(organisation=organisation, user=manager, public=public_progress)


def plan_on(organisation, reference, *, inspection=None, **fields):
    finding = FindingFactory(inspection=inspection or InspectionFactory(), reference=reference)
    finding.addressed_to.add(organisation)
    return ActionPlanFactory(finding=finding, organisation=organisation, **fields)


def approved(plan, people, text):
    public.write_statement(plan=plan, user=people["staff"], text=text)
    return public.approve_statement(plan=plan, user=people["manager"], seen_text=text)


# --- who may reach it ------------------------------------------------------------------------


@pytest.mark.parametrize("path", PATHS)
def test_an_organisation_that_has_not_opted_in_answers_404_like_an_unknown_one(client, surrey, people, path):
    plan_on(surrey, "R1")
    assert client.get(path.format(slug="surrey")).status_code == 404
    assert client.get(path.format(slug="no-such-force")).status_code == 404
    opt_in(surrey, people["manager"])
    assert client.get(path.format(slug="surrey")).status_code == 200
    opt_in(surrey, people["manager"], public_progress=False)
    assert client.get(path.format(slug="surrey")).status_code == 404


@pytest.mark.parametrize("path", PATHS)
def test_the_public_pages_need_no_sign_in_and_refuse_changes(client, surrey, people, path):
    opt_in(surrey, people["manager"])
    url = path.format(slug="surrey")
    assert client.get(url).status_code == 200
    assert client.head(url).status_code == 200
    assert client.post(url).status_code == 405


# --- what it shows -----------------------------------------------------------------------------


def test_it_shows_published_inspections_gradings_stages_target_dates_and_approved_statements(client, surrey, people):
    inspection = InspectionFactory(title="South East SOC 2024", published_on=dt.date(2024, 8, 30))
    GradingFactory(inspection=inspection, organisation=surrey, area="Tackling SOC", grade="requires_improvement")
    analysts = plan_on(surrey, "AFI1", inspection=inspection, target_date=dt.date(2031, 3, 31))
    partners = plan_on(surrey, "R4", inspection=inspection, status=S.SIGNED_OFF)
    approved(analysts, people, "Two analysts appointed.")
    public.write_statement(plan=partners, user=people["staff"], text="Not yet approved text.")
    future = InspectionFactory(title="Not out yet", published_on=timezone.localdate() + dt.timedelta(days=3))
    plan_on(surrey, "R9", inspection=future)
    undated = InspectionFactory(title="Never published", published_on=None)
    plan_on(surrey, "R8", inspection=undated)
    opt_in(surrey, people["manager"])

    page = client.get("/public/surrey/").content.decode()
    assert "South East SOC 2024" in page and "Tackling SOC" in page and "Requires improvement" in page
    assert "AFI1" in page and "With the force" in page and "31 Mar 2031" in page
    assert "Awaiting verification" in page  # R4, signed off by the force
    assert "Two analysts appointed." in page
    assert "Not yet approved text." not in page
    assert "Not out yet" not in page and "Never published" not in page
    assert "Evans" not in page and "Reid" not in page  # never a person's name

    feed = client.get("/public/surrey.json").json()
    [item] = feed["inspections"]
    assert item["gradings"] == [
        {"area": "Tackling SOC", "grade": "requires_improvement", "grade_label": "Requires improvement"}
    ]
    rows = {f["reference"]: f for f in item["findings"]}
    assert rows["AFI1"]["stage"] == "with_force" and rows["AFI1"]["target_date"] == "2031-03-31"
    assert rows["AFI1"]["statement"] == "Two analysts appointed."
    assert rows["AFI1"]["statement_approved_on"] == timezone.localdate().isoformat()
    assert rows["R4"]["stage_label"] == "Awaiting verification" and rows["R4"]["statement"] == ""


def test_the_stage_names_are_the_trackers_own(surrey, people):
    plan_on(surrey, "R1")
    progress = public.progress_of(surrey, timezone.localdate())
    assert [(s["value"], s["label"]) for s in progress["stages"]] == [
        (str(value), label) for value, label in ActionPlan.Stage.choices
    ]


@hypothesis_settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(statuses=st.lists(st.sampled_from(S.values), max_size=12), split=st.integers(0, 12))
def test_the_stages_add_up_to_the_findings_listed(surrey, statuses, split):
    with transaction.atomic():
        first, second = InspectionFactory(), InspectionFactory(published_on=dt.date(2025, 1, 1))
        for index, status in enumerate(statuses):
            plan_on(surrey, f"R{index}", inspection=first if index < split else second, status=status)
        progress = public.progress_of(surrey, timezone.localdate())
        listed = [f for item in progress["inspections"] for f in item["findings"]]
        assert progress["total"] == len(listed) == len(statuses)
        assert sum(s["count"] for s in progress["stages"]) == progress["total"]
        for stage in progress["stages"]:
            assert stage["count"] == sum(1 for f in listed if f["stage"] == stage["value"])
        for item in progress["inspections"]:
            assert sum(s["count"] for s in item["stages"]) == item["total"] == len(item["findings"])
        transaction.set_rollback(True)


def test_the_csv_is_the_same_rows_with_formula_cells_neutralised(client, surrey, people):
    inspection = InspectionFactory(title='=HYPERLINK("http://evil")')
    plan = plan_on(surrey, "R1", inspection=inspection)
    plan.finding.text = "+cmd|' /C calc'!A0"
    plan.finding.save()
    approved(plan, people, "@SUM(1+1) is what we did")
    opt_in(surrey, people["manager"])
    response = client.get("/public/surrey.csv")
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == public.CSV_HEADER
    [row] = rows[1:]
    values = dict(zip(rows[0], row, strict=True))
    assert values["Inspection"] == '\'=HYPERLINK("http://evil")'
    assert values["Finding"] == "'+cmd|' /C calc'!A0"
    assert values["Public statement"] == "'@SUM(1+1) is what we did"
    assert values["Stage"] == "With the force"
    feed = client.get("/public/surrey.json").json()
    assert len(rows) - 1 == sum(len(item["findings"]) for item in feed["inspections"])


def test_another_organisations_plans_on_the_same_finding_stay_off(client, surrey, people):
    hampshire = OrganisationFactory(slug="hampshire")
    finding = FindingFactory()
    finding.addressed_to.set([surrey, hampshire])
    ActionPlanFactory(finding=finding, organisation=surrey, status=S.IN_PROGRESS)
    other = ActionPlanFactory(finding=finding, organisation=hampshire, status=S.CLOSED)
    PublicStatement.objects.create(plan=other, text="Hampshire's own words", written_by=people["manager"],
                                   approved_by=people["manager"], approved_at=timezone.now())  # fmt: skip
    GradingFactory(inspection=finding.inspection, organisation=hampshire, grade="inadequate")
    opt_in(surrey, people["manager"])
    feed = client.get("/public/surrey.json").json()
    [item] = feed["inspections"]
    assert [f["stage"] for f in item["findings"]] == ["with_force"]
    assert item["gradings"] == []
    assert "Hampshire" not in client.get("/public/surrey/").content.decode()


# --- statements ----------------------------------------------------------------------------------


def test_changing_an_approved_statement_withdraws_its_approval(client, surrey, people):
    plan = plan_on(surrey, "R1")
    opt_in(surrey, people["manager"])
    statement = approved(plan, people, "First words.")
    assert statement.is_approved and statement.approved_by == people["manager"]
    assert "First words." in client.get("/public/surrey/").content.decode()

    same = public.write_statement(plan=plan, user=people["staff"], text="First words.")
    assert same.is_approved  # the same text again changes nothing

    changed = public.write_statement(plan=plan, user=people["staff"], text="Second words.")
    assert not changed.is_approved and changed.approved_by is None
    page = client.get("/public/surrey/").content.decode()
    assert "First words." not in page and "Second words." not in page
    public.approve_statement(plan=plan, user=people["manager"], seen_text="Second words.")
    assert "Second words." in client.get("/public/surrey/").content.decode()
    public.withdraw_statement(plan=plan, user=people["manager"])
    assert "Second words." not in client.get("/public/surrey/").content.decode()


def test_a_manager_cannot_approve_text_that_changed_since_they_read_it(surrey, people):
    plan = plan_on(surrey, "R1")
    public.write_statement(plan=plan, user=people["staff"], text="Draft one.")
    public.write_statement(plan=plan, user=people["staff"], text="Draft two.")
    with pytest.raises(ValidationError):
        public.approve_statement(plan=plan, user=people["manager"], seen_text="Draft one.")
    assert not PublicStatement.objects.get(plan=plan).is_approved


def test_only_the_organisations_people_write_and_only_its_managers_approve(surrey, people):
    plan = plan_on(surrey, "R1")
    outsider = ManagerFactory()
    for user in (InspectorFactory(), outsider, StaffFactory()):
        with pytest.raises(PermissionDenied):
            public.write_statement(plan=plan, user=user, text="Words.")
    public.write_statement(plan=plan, user=people["staff"], text="Words.")
    for user in (people["staff"], InspectorFactory(), outsider):
        with pytest.raises(PermissionDenied):
            public.approve_statement(plan=plan, user=user, seen_text="Words.")
    assert public.approve_statement(plan=plan, user=AdminFactory(), seen_text="Words.").is_approved


def test_the_plan_page_writes_and_approves_statements_by_role(client, surrey, people):
    plan = plan_on(surrey, "R1")
    url, approve_url = f"/plans/{plan.pk}/statement/", f"/plans/{plan.pk}/statement/approve/"
    write = {"statement-text": "We have appointed two analysts."}

    assert client.post(url, write).status_code == 302  # anonymous: to the login page
    assert client.post(url, write)["Location"].startswith("/accounts/login/")
    client.force_login(ManagerFactory())  # another organisation
    assert client.post(url, write).status_code == 404
    client.force_login(InspectorFactory())
    assert client.post(url, write).status_code == 403
    assert not PublicStatement.objects.exists()

    client.force_login(people["staff"])
    assert client.post(url, {"statement-text": "  "}).status_code == 400  # bad input: nothing saved
    assert client.post(url, {"statement-text": "x" * 601}).status_code == 400
    assert not PublicStatement.objects.exists()
    assert client.post(url, write).status_code == 302
    page = client.get(f"/plans/{plan.pk}/").content.decode()
    assert "We have appointed two analysts." in page and "Awaiting approval" in page
    assert (
        client.post(approve_url, {"approve-decision": "approve", "approve-text": write["statement-text"]}).status_code
        == 403
    )

    client.force_login(people["manager"])
    stale = {"approve-decision": "approve", "approve-text": "Something else"}
    assert client.post(approve_url, stale).status_code == 400
    assert not PublicStatement.objects.get().is_approved
    assert (
        client.post(approve_url, {"approve-decision": "approve", "approve-text": write["statement-text"]}).status_code
        == 302
    )
    statement = PublicStatement.objects.get()
    assert statement.approved_by == people["manager"]
    page = client.get(f"/plans/{plan.pk}/").content.decode()
    assert "Approved" in page and "Mark Reid" in page
    assert client.post(approve_url, {"approve-decision": "withdraw"}).status_code == 302
    assert not PublicStatement.objects.get().is_approved


# --- the settings page ---------------------------------------------------------------------------


def test_only_the_organisations_managers_and_administrators_use_its_settings(client, surrey, people):
    url = "/organisations/surrey/settings/"
    assert client.get(url)["Location"].startswith("/accounts/login/")
    for user, status in (
        (people["staff"], 403), (InspectorFactory(), 403), (ManagerFactory(), 404), (StaffFactory(), 404),
        (people["manager"], 200), (AdminFactory(), 200),
    ):  # fmt: skip
        client.force_login(user)
        assert client.get(url).status_code == status, user
        assert client.post(url, {"public_progress": "on"}).status_code == (302 if status == 200 else status)
        if status != 200:
            assert not OrganisationSettings.objects.filter(public_progress=True).exists()
        OrganisationSettings.objects.all().delete()


def test_a_manager_turns_the_public_page_on_and_off(client, surrey, people):
    client.force_login(people["manager"])
    assert "Off: the public progress page" in client.get("/organisations/surrey/settings/").content.decode()
    assert client.post("/organisations/surrey/settings/", {"public_progress": "on"}).status_code == 302
    found = OrganisationSettings.objects.get(organisation=surrey)
    assert found.public_progress and found.changed_by == people["manager"]
    page = client.get("/organisations/surrey/settings/").content.decode()
    assert 'href="/public/surrey/"' in page and "Mark Reid" in page
    # The organisation's pages link to it while it is on.
    assert 'href="/public/surrey/"' in client.get("/dashboard/").content.decode()
    assert 'href="/public/surrey/"' in client.get("/organisations/surrey/board-pack/").content.decode()
    assert client.post("/organisations/surrey/settings/", {}).status_code == 302
    assert not OrganisationSettings.objects.get(organisation=surrey).public_progress
    assert 'href="/public/surrey/"' not in client.get("/dashboard/").content.decode()
    assert 'href="/public/surrey/"' not in client.get("/organisations/surrey/board-pack/").content.decode()


def test_the_settings_page_lists_statements_awaiting_approval_and_approved(client, surrey, people):
    approved(plan_on(surrey, "R1"), people, "Published words.")
    public.write_statement(plan=plan_on(surrey, "R2"), user=people["staff"], text="Draft words.")
    client.force_login(people["manager"])
    page = client.get("/organisations/surrey/settings/").content.decode()
    assert "1 awaiting approval, 1 approved" in page
    assert page.index("Draft words.") < page.index("Published words.")


def test_the_settings_page_query_count_is_constant(client, surrey, people, django_assert_num_queries):
    client.force_login(people["manager"])
    approved(plan_on(surrey, "R1"), people, "Words.")
    client.get("/organisations/surrey/settings/")  # the session's first save
    with django_assert_num_queries(5):  # session, user, organisation, settings, statements
        client.get("/organisations/surrey/settings/")
    for index in range(5):
        public.write_statement(plan=plan_on(surrey, f"R{index + 2}"), user=people["staff"], text=f"Words {index}.")
    with django_assert_num_queries(5):
        client.get("/organisations/surrey/settings/")


# --- cached, and still never stale ---------------------------------------------------------------


def test_the_page_is_cached_and_a_change_shows_at_once(client, surrey, people, django_assert_num_queries):
    inspection = InspectionFactory()
    GradingFactory(inspection=inspection, organisation=surrey)
    plan = plan_on(surrey, "R1", inspection=inspection)
    opt_in(surrey, people["manager"])
    # First: the organisation, the data versions, then the gradings and the plans.
    with django_assert_num_queries(4):
        client.get("/public/surrey/")
    for path in PATHS:  # then from the cache, whichever of the three is asked for
        with django_assert_num_queries(2):
            assert client.get(path.format(slug="surrey")).status_code == 200
    for index in range(10):
        plan_on(surrey, f"R{index + 2}", inspection=inspection)
    with django_assert_num_queries(4):
        client.get("/public/surrey/")
    # A change to anything it shows moves the organisation's data version: the next answer has it.
    approved(plan, people, "Fresh words.")
    assert "Fresh words." in client.get("/public/surrey/").content.decode()
    ActionPlan.objects.filter(pk=plan.pk).first().save()  # (a plan saved through the ORM moves it too)
    plan.status = S.CLOSED
    plan.save()
    assert client.get("/public/surrey.json").json()["inspections"][0]["findings"][0]["stage"] == "verified"
    public.write_statement(plan=plan, user=people["staff"], text="Changed words.")
    assert "Fresh words." not in client.get("/public/surrey/").content.decode()
    opt_in(surrey, people["manager"], public_progress=False)
    assert client.get("/public/surrey/").status_code == 404


# --- rate limited ----------------------------------------------------------------------------


def test_too_many_requests_from_one_address_answer_429(client, surrey, people, settings):
    settings.PUBLIC_REQUESTS_PER_MINUTE = 3
    opt_in(surrey, people["manager"])
    for path in PATHS[:3]:
        assert client.get(path.format(slug="surrey"), REMOTE_ADDR="10.1.1.1").status_code == 200
    for path in (*PATHS, "/public/no-such-force/"):  # unknown names count too: no free scanning
        response = client.get(path.format(slug="surrey"), REMOTE_ADDR="10.1.1.1")
        assert response.status_code == 429, path
        assert 1 <= int(response["Retry-After"]) <= 61
    assert "Too many requests" in client.get("/public/surrey/", REMOTE_ADDR="10.1.1.1").content.decode()
    assert client.get("/public/surrey.json", REMOTE_ADDR="10.1.1.1").json()["detail"].startswith("Too many")
    # Another address is counted on its own.
    assert client.get("/public/surrey/", REMOTE_ADDR="10.2.2.2").status_code == 200


def test_the_limit_counts_the_address_behind_a_trusted_proxy(client, surrey, people, settings):
    settings.PUBLIC_REQUESTS_PER_MINUTE = 1
    settings.TRUSTED_PROXY_COUNT = 1
    opt_in(surrey, people["manager"])
    proxy = "10.9.9.9"
    assert client.get("/public/surrey/", REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="203.0.113.5").status_code == 200
    assert client.get("/public/surrey/", REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="203.0.113.6").status_code == 200
    assert client.get("/public/surrey/", REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="203.0.113.5").status_code == 429


def test_the_json_feed_is_the_pages_figures(client, surrey, people):
    plan_on(surrey, "R1", status=S.CLOSED)
    plan_on(surrey, "R2", status=S.SUPERSEDED)
    opt_in(surrey, people["manager"])
    feed = json.loads(client.get("/public/surrey.json").content)
    assert feed["organisation"] == {"name": "Surrey Police", "slug": "surrey"}
    counts = {s["value"]: s["count"] for s in feed["stages"]}
    assert counts == {"with_force": 0, "awaiting_verification": 0, "verified": 1, "ended": 1}
    page = client.get("/public/surrey/").content.decode()
    assert "<strong>Verified complete</strong>: 1" in page and "<strong>Ended without completion</strong>: 1" in page
