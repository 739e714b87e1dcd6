"""Success measures (issue 15, part 2): a finding's "what good looks like" from the inspectorate, each plan's
measures set by its organisation's manager, answered on submission, shown to whoever signs off and
verifies, and a demonstration period that holds off closing."""

from __future__ import annotations

import csv
import datetime as dt
import io

import openpyxl
import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone
from rest_framework.test import APIClient

from tests.factories import (
    ActionPlanFactory,
    AdminFactory,
    EvidenceFactory,
    InspectorFactory,
    ManagerFactory,
    OrganisationFactory,
    StaffFactory,
    UpdateFactory,
)
from tracker import workflow
from tracker.models import ActionPlan, SuccessMeasure, Update, User

pytestmark = pytest.mark.django_db
S = ActionPlan.Status
K = Update.Kind
TODAY = timezone.localdate()


def days(n: int) -> dt.date:
    return TODAY + dt.timedelta(days=n)


@pytest.fixture
def plan():
    return ActionPlanFactory(status=S.IN_PROGRESS)


@pytest.fixture
def staff(plan):
    return StaffFactory(organisation=plan.organisation)


@pytest.fixture
def manager(plan):
    return ManagerFactory(organisation=plan.organisation, first_name="Morgan", last_name="Manager")


def add(plan, manager, text="Intelligence reports processed within 7 days", **kwargs):
    workflow.add_measure(plan=plan, user=manager, text=text, **kwargs)
    return plan.measures.get(text=text)


def snapshot(plan):
    plan = ActionPlan.objects.get(pk=plan.pk)
    return (
        plan.status, plan.version, plan.updates.count(),
        list(plan.measures.order_by("pk").values_list("text", "target_figure", "sustain_until", "how_met")),
    )  # fmt: skip


def with_evidence(plan, user):
    EvidenceFactory(update=UpdateFactory(plan=plan, author=user))


def stranded_user() -> User:
    """A person with no organisation whose role does not see everything (the database refuses to store one)."""
    return User(pk=987_654, username="stranded", role=User.Role.STAFF, organisation=None, is_active=True)


# --- the workflow ----------------------------------------------------------------------------------


def test_a_manager_sets_changes_and_removes_measures_each_on_the_timeline(plan, manager):
    first = add(plan, manager, target_figure="95%")
    add(plan, manager, "Local profile refreshed each year", sustain_until=days(90))
    workflow.edit_measure(plan=plan, user=manager, measure=first, text=first.text, target_figure="98%")
    workflow.remove_measure(plan=plan, user=manager, measure=first, reason="Replaced by the national measure.")
    assert list(plan.measures.values_list("text", "position")) == [("Local profile refreshed each year", 2)]
    notes = list(plan.updates.filter(kind=K.MEASURE).order_by("pk").values_list("note", flat=True))
    assert notes[0] == "Success measure added: “Intelligence reports processed within 7 days” (target 95%)."
    assert notes[1].startswith("Success measure added: “Local profile refreshed each year” (sustained until ")
    assert notes[2] == "Success measure “Intelligence reports processed within 7 days” changed: target 95% → 98%."
    assert notes[3] == (
        "Success measure removed: “Intelligence reports processed within 7 days” (target 98%). "
        "Replaced by the national measure."
    )
    assert ActionPlan.objects.get(pk=plan.pk).version == plan.version == 5


def test_bad_measures_are_refused_and_change_nothing(plan, manager):
    measure = add(plan, manager)
    before = snapshot(plan)
    for call, message in (
        (lambda: workflow.add_measure(plan=plan, user=manager, text="  "), "Say what the measure is."),
        (lambda: workflow.add_measure(plan=plan, user=manager, text="x" * 501), "at most 500 characters"),
        (lambda: workflow.edit_measure(plan=plan, user=manager, measure=measure, text=measure.text),
         "Nothing about the success measure has changed."),
        (lambda: workflow.remove_measure(plan=plan, user=manager, measure=measure, reason=""), "Say why"),
        (lambda: workflow.remove_measure(plan=plan, user=manager, measure=add(ActionPlanFactory(
            organisation=plan.organisation, status=S.IN_PROGRESS), manager), reason="x"), "not one of this plan's"),
        (lambda: workflow.add_measure(plan=plan, user=manager, text="Stale", expected_version=plan.version - 1),
         "changed by"),
    ):  # fmt: skip
        with pytest.raises(ValidationError, match=message):
            call()
        assert snapshot(plan) == before


@pytest.mark.parametrize("status", [S.SUBMITTED, S.SIGNED_OFF, S.CLOSED, S.NO_FURTHER_ACTION])
def test_measures_are_set_only_while_the_plan_is_with_its_owner(status):
    plan = ActionPlanFactory(status=status)
    with pytest.raises(ValidationError, match="not possible while the plan is"):
        workflow.add_measure(plan=plan, user=ManagerFactory(organisation=plan.organisation), text="Too late")
    assert not plan.measures.exists()


@pytest.mark.parametrize(
    ("who", "allowed"),
    [("staff", False), ("manager", True), ("admin", True), ("inspector", False), ("other_manager", False),
     ("no_organisation", False), ("inactive_manager", False)],
)  # fmt: skip
def test_who_may_set_measures(plan, who, allowed):
    org = plan.organisation
    user = {
        "staff": lambda: StaffFactory(organisation=org),
        "manager": lambda: ManagerFactory(organisation=org),
        "admin": AdminFactory,
        "inspector": InspectorFactory,
        "other_manager": lambda: ManagerFactory(organisation=OrganisationFactory()),
        "no_organisation": stranded_user,
        "inactive_manager": lambda: ManagerFactory(organisation=org, is_active=False),
    }[who]()
    existing = add(plan, ManagerFactory(organisation=org), "Existing")
    calls = [
        lambda: workflow.add_measure(plan=plan, user=user, text="New"),
        lambda: workflow.edit_measure(plan=plan, user=user, measure=existing, text="Renamed"),
        lambda: workflow.remove_measure(plan=plan, user=user, measure=existing, reason="Not needed"),
    ]
    for call in calls:
        before = snapshot(plan)
        if allowed:
            call()
            assert snapshot(plan) != before
        else:
            with pytest.raises(PermissionDenied):
                call()
            assert snapshot(plan) == before


def test_a_submission_says_how_each_measure_was_met(plan, manager, staff):
    first = add(plan, manager, target_figure="95%")
    second = add(plan, manager, "Profile refreshed")
    with_evidence(plan, staff)
    before = snapshot(plan)
    with pytest.raises(ValidationError, match="Say how each success measure was met: “Profile refreshed”"):
        workflow.submit_for_sign_off(plan=plan, user=staff, statement="Done", measures_met={str(first.pk): "96%"})
    with pytest.raises(ValidationError, match="not one of this plan's"):
        workflow.submit_for_sign_off(
            plan=plan, user=staff, statement="Done",
            measures_met={str(first.pk): "96%", str(second.pk): "Yes", "999999": "Stray"},
        )  # fmt: skip
    assert snapshot(plan) == before
    update = workflow.submit_for_sign_off(
        plan=plan, user=staff, statement="Done", measures_met={str(first.pk): "96% in May", str(second.pk): " Yes "}
    )
    assert dict(plan.measures.values_list("pk", "how_met")) == {first.pk: "96% in May", second.pk: "Yes"}
    assert update.note == (
        "Done\n\nHow the success measures were met:\n"
        "• Intelligence reports processed within 7 days: 96% in May\n• Profile refreshed: Yes"
    )


def test_a_plan_without_measures_is_submitted_as_before(plan, staff):
    with_evidence(plan, staff)
    assert workflow.submit_for_sign_off(plan=plan, user=staff, statement="Done").note == "Done"


def test_a_plan_in_its_demonstration_period_cannot_be_closed(plan, manager):
    add(plan, manager, "Profile refreshed each quarter", sustain_until=days(30))
    add(plan, manager, "Done long ago", sustain_until=days(-30))
    ActionPlan.objects.filter(pk=plan.pk).update(status=S.SIGNED_OFF)
    inspector = InspectorFactory()
    before = snapshot(plan)
    with pytest.raises(ValidationError) as refused:
        workflow.close(plan=plan, user=inspector, comment="Verified")
    assert refused.value.messages == [
        f"This plan cannot be verified as closed before {days(30):%-d %b %Y}: its success measures must be "
        f"sustained (“Profile refreshed each quarter” until {days(30):%-d %b %Y})."
    ]
    assert snapshot(plan) == before
    # The last day of the period is the day it is met: closing is possible from then.
    SuccessMeasure.objects.filter(plan=plan).update(sustain_until=TODAY)
    workflow.close(plan=plan, user=inspector, comment="Verified")
    assert ActionPlan.objects.get(pk=plan.pk).status == S.CLOSED


def test_bulk_close_refuses_a_plan_in_its_demonstration_period(client, plan, manager):
    add(plan, manager, sustain_until=days(10))
    ActionPlan.objects.filter(pk=plan.pk).update(status=S.SIGNED_OFF)
    ready = ActionPlanFactory(status=S.SIGNED_OFF)
    client.force_login(InspectorFactory())
    response = client.post(
        "/plans/bulk/", {"action": "close", "plans": [plan.pk, ready.pk], "comment": "Verified", "confirm": "on",
                         "query": ""},
    )  # fmt: skip
    assert response.status_code == 200
    result = response.context["result"]
    assert [p.pk for p in result.done] == [ready.pk]
    assert [(p.pk, reason.split(":")[0]) for p, reason in result.refused] == [
        (plan.pk, f"This plan cannot be verified as closed before {days(10):%-d %b %Y}")
    ]
    assert ActionPlan.objects.get(pk=plan.pk).status == S.SIGNED_OFF


# --- the plan page -----------------------------------------------------------------------------------


def post(client, plan, action, **fields):
    data = {f"{action}-{k}": v for k, v in fields.items()}
    data.setdefault(f"{action}-version", ActionPlan.objects.get(pk=plan.pk).version)
    return client.post(f"/plans/{plan.pk}/{action}/", data)


@pytest.mark.parametrize(
    ("who", "expected"),
    [("staff", 403), ("manager", 302), ("admin", 302), ("inspector", 403), ("other_manager", 404),
     ("anonymous", "login")],
)  # fmt: skip
def test_who_may_add_a_measure_on_the_page(client, plan, who, expected):
    user = {
        "staff": lambda: StaffFactory(organisation=plan.organisation),
        "manager": lambda: ManagerFactory(organisation=plan.organisation),
        "admin": AdminFactory,
        "inspector": InspectorFactory,
        "other_manager": lambda: ManagerFactory(organisation=OrganisationFactory()),
        "anonymous": lambda: None,
    }[who]()
    if user is not None:
        client.force_login(user)
    response = post(client, plan, "measure-add", text="Reports processed in 7 days", target_figure="95%")
    if expected == "login":
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    else:
        assert response.status_code == expected
    assert plan.measures.exists() == (expected == 302)


def test_the_manager_sets_measures_on_the_page_and_everyone_who_sees_the_plan_reads_them(client, plan, manager, staff):
    client.force_login(manager)
    page = client.get(plan.get_absolute_url()).content.decode()
    assert 'id="action-measure-add"' in page
    response = post(client, plan, "measure-add", text="Reports processed in 7 days", target_figure="95%",
                    sustain_until=days(60).isoformat())  # fmt: skip
    assert response.status_code == 302
    measure = plan.measures.get()
    assert (measure.target_figure, measure.sustain_until) == ("95%", days(60))
    assert post(client, plan, "measure-edit", measure=measure.pk, text="Reports processed in 5 days",
                target_figure="95%").status_code == 302  # fmt: skip
    client.force_login(staff)
    page = client.get(plan.get_absolute_url()).content.decode()
    assert "Reports processed in 5 days" in page and "Target: 95%" in page
    assert 'id="action-measure-add"' not in page and "Remove measure" not in page
    assert "Not yet reported as met." in page


def test_a_refused_measure_change_shows_why_and_changes_nothing(client, plan, manager):
    measure = add(plan, manager)
    client.force_login(manager)
    before = snapshot(plan)
    response = post(client, plan, "measure-remove", measure=measure.pk, reason="")
    assert response.status_code == 400
    assert "The success measure was not changed" in response.content.decode()
    assert snapshot(plan) == before


def test_the_submission_form_asks_how_each_measure_was_met(client, plan, manager, staff):
    measure = add(plan, manager, target_figure="95%")
    with_evidence(plan, staff)
    client.force_login(staff)
    page = client.get(plan.get_absolute_url()).content.decode()
    assert f'name="submit-measure_{measure.pk}"' in page
    assert "How was “Intelligence reports processed within 7 days” (target 95%) met?" in page
    response = post(client, plan, "submit", statement="Done")
    assert response.status_code == 400
    assert "Say how this success measure was met." in response.content.decode()
    assert ActionPlan.objects.get(pk=plan.pk).status == S.IN_PROGRESS
    response = post(client, plan, "submit", statement="Done", **{f"measure_{measure.pk}": "97% in the audit"})
    assert response.status_code == 302
    assert ActionPlan.objects.get(pk=plan.pk).status == S.SUBMITTED
    assert plan.measures.get().how_met == "97% in the audit"


def test_sign_off_and_verification_show_the_measures_against_the_evidence(client, plan, manager, staff):
    add(plan, manager, target_figure="95%", sustain_until=days(45))
    with_evidence(plan, staff)
    measure = plan.measures.get()
    workflow.submit_for_sign_off(plan=plan, user=staff, statement="Done", measures_met={str(measure.pk): "97%"})
    client.force_login(manager)
    page = client.get(plan.get_absolute_url()).content.decode()
    assert 'id="action-sign-off"' in page
    assert "How it was met:</span> 97%" in page and "Evidence on the plan: 1 file" in page
    workflow.sign_off(plan=plan, user=manager, comment="Agreed")
    client.force_login(InspectorFactory())
    page = client.get(plan.get_absolute_url()).content.decode()
    assert 'id="action-close"' in page and "How it was met:</span> 97%" in page
    assert "Demonstration period: this plan cannot be verified as closed until" in page
    response = post(client, plan, "close", comment="Verified", confirm="on")
    assert response.status_code == 400
    assert "This plan cannot be verified as closed before" in response.content.decode()
    assert ActionPlan.objects.get(pk=plan.pk).status == S.SIGNED_OFF


def count_queries(client, url):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


@pytest.mark.parametrize("who", ["staff", "manager"])
def test_plan_page_query_count_does_not_grow_with_measures(client, request, plan, manager, who):
    user = request.getfixturevalue(who)
    add(plan, manager, "First", sustain_until=days(3))
    client.force_login(user)
    client.get("/accounts/")
    small = count_queries(client, plan.get_absolute_url())
    for n in range(8):
        add(plan, manager, f"More {n}", target_figure=f"{n}%", sustain_until=days(n))
    assert count_queries(client, plan.get_absolute_url()) == small


# --- what good looks like ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "expected"),
    [("staff", 403), ("manager", 403), ("inspector", 302), ("admin", 302), ("anonymous", "login")],
)
def test_the_inspectorate_says_what_good_looks_like_for_a_finding(client, plan, who, expected):
    user = {
        "staff": lambda: StaffFactory(organisation=plan.organisation),
        "manager": lambda: ManagerFactory(organisation=plan.organisation),
        "inspector": InspectorFactory,
        "admin": AdminFactory,
        "anonymous": lambda: None,
    }[who]()
    if user is not None:
        client.force_login(user)
    text = "Every analyst post filled and intelligence processed within a week."
    response = client.post(f"/findings/{plan.finding_id}/what-good-looks-like/", {"good-what_good_looks_like": text})
    finding = type(plan.finding).objects.get(pk=plan.finding_id)
    if expected == "login":
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    else:
        assert response.status_code == expected
    assert (finding.what_good_looks_like == text) == (expected == 302)
    if expected == 302:
        assert finding.history.first().what_good_looks_like == text
        client.force_login(StaffFactory(organisation=plan.organisation))
        page = client.get(plan.get_absolute_url()).content.decode()
        assert "What good looks like, in the inspectorate's words" in page and text in page
        staff_view = client.get(f"/findings/{plan.finding_id}/").content.decode()
        assert text in staff_view and "good-what_good_looks_like" not in staff_view


def test_an_unchanged_what_good_looks_like_is_refused(client, plan):
    client.force_login(InspectorFactory())
    response = client.post(f"/findings/{plan.finding_id}/what-good-looks-like/", {"good-what_good_looks_like": ""})
    assert response.status_code == 400
    assert "That is what it says already." in response.content.decode()


# --- the API, exports and the board pack -----------------------------------------------------------


def api(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_the_api_sets_lists_and_answers_measures(plan, manager, staff):
    response = api(manager).post(
        f"/api/v1/plans/{plan.pk}/measures/",
        {"version": plan.version, "text": "Reports in 7 days", "target_figure": "95%",
         "sustain_until": days(20).isoformat()}, format="json",
    )  # fmt: skip
    assert response.status_code == 201, response.content
    assert response.json()["update"]["kind"] == K.MEASURE
    refused = api(staff).post(f"/api/v1/plans/{plan.pk}/measures/", {"version": 2, "text": "x"}, format="json")
    assert refused.status_code == 403
    listed = api(staff).get(f"/api/v1/plans/{plan.pk}/measures/").json()
    measure_id = listed[0]["id"]
    assert listed == [{"id": measure_id, "position": 1, "text": "Reports in 7 days", "target_figure": "95%",
                       "sustain_until": days(20).isoformat(), "how_met": "", "is_sustaining": True}]  # fmt: skip
    detail = api(manager).get(f"/api/v1/plans/{plan.pk}/").json()
    assert detail["measures"] == listed
    assert {"measure-add", "measure-edit", "measure-remove"} <= set(detail["actions"])
    assert "measure-add" not in api(staff).get(f"/api/v1/plans/{plan.pk}/").json()["actions"]
    other = ManagerFactory(organisation=OrganisationFactory())
    assert api(other).get(f"/api/v1/plans/{plan.pk}/measures/").status_code == 404

    with_evidence(plan, staff)
    version = ActionPlan.objects.get(pk=plan.pk).version
    missing = api(staff).post(f"/api/v1/plans/{plan.pk}/submit/", {"version": version, "statement": "Done"},
                              format="json")  # fmt: skip
    assert missing.status_code == 400 and "Say how each success measure was met" in missing.content.decode()
    done = api(staff).post(
        f"/api/v1/plans/{plan.pk}/submit/", {"version": version, "statement": "Done", f"measures_met.{measure_id}":
                                             "96% in the audit"}, format="multipart",
    )  # fmt: skip
    assert done.status_code == 200, done.content
    assert SuccessMeasure.objects.get(pk=measure_id).how_met == "96% in the audit"

    ActionPlan.objects.filter(pk=plan.pk).update(status=S.SIGNED_OFF)
    version = ActionPlan.objects.get(pk=plan.pk).version
    closing = api(InspectorFactory()).post(
        f"/api/v1/plans/{plan.pk}/close/", {"version": version, "comment": "Verified"}, format="json"
    )
    assert closing.status_code == 400 and "cannot be verified as closed" in closing.content.decode()
    assert ActionPlan.objects.get(pk=plan.pk).status == S.SIGNED_OFF


def test_the_api_shows_what_good_looks_like_with_the_finding(plan, staff):
    type(plan.finding).objects.filter(pk=plan.finding_id).update(what_good_looks_like="Profiles current.")
    assert api(staff).get(f"/api/v1/plans/{plan.pk}/").json()["finding"]["what_good_looks_like"] == "Profiles current."
    assert api(staff).get(f"/api/v1/findings/{plan.finding_id}/").json()["what_good_looks_like"] == "Profiles current."


def test_exports_carry_the_measures(client, plan, manager):
    add(plan, manager, target_figure="95%", sustain_until=days(30))
    add(plan, manager, "Second")
    client.force_login(manager)
    rows = list(csv.reader(io.StringIO(b"".join(client.get("/plans/export.csv").streaming_content).decode())))
    header, row = rows[0], rows[1]
    at = header.index("Success measures")
    assert header[at : at + 2] == ["Success measures", "Sustain until"]
    assert row[at : at + 2] == ["2", days(30).isoformat()]
    workbook = openpyxl.load_workbook(io.BytesIO(b"".join(client.get("/plans/export.xlsx").streaming_content)))
    sheet = workbook["Success measures"]
    values = [[cell.value for cell in line] for line in sheet.iter_rows()]
    assert values[0][:8] == ["Inspection", "Reference", "Organisation", "Number", "Success measure", "Target figure",
                             "Sustain until", "How it was met"]  # fmt: skip
    assert [line[3:6] for line in values[1:]] == [
        [1, "Intelligence reports processed within 7 days", "95%"],
        [2, "Second", None],
    ]


def test_the_board_pack_shows_each_plans_measures(client, plan, manager):
    add(plan, manager, target_figure="95%", sustain_until=days(30))
    client.force_login(manager)
    page = client.get(f"/organisations/{plan.organisation.slug}/board-pack/").content.decode()
    assert "Success measures:" in page
    assert "Intelligence reports processed within 7 days (target 95%), sustained until" in page
    assert "(demonstration period)" in page
