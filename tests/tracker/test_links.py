"""Links between findings across inspections (repeats, supersedes, relates to) and recurrences."""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from django.utils import timezone

from inspections.models import DismissedSuggestion, FindingLink
from tests.factories import (
    ActionPlanFactory,
    FindingFactory,
    FindingLinkFactory,
    InspectionFactory,
    OrganisationFactory,
    UpdateFactory,
)
from tests.tracker.test_exports import csv_rows
from tracker.models import ActionPlan, Update
from tracker.reports import EXPORT_HEADER

pytestmark = pytest.mark.django_db
S = ActionPlan.Status
CLOSED_ON = dt.datetime(2021, 3, 14, 10, 0, tzinfo=dt.UTC)


@pytest.fixture
def history(org, other_org, inspector):
    """A 2019 finding closed by Surrey and open at Hampshire; a 2026 finding addressed to both and Kent."""
    kent = OrganisationFactory(name="Kent Police", short_name="Kent", slug="kent")
    old = FindingFactory(
        inspection=InspectionFactory(title="SOC 2019", slug="soc-2019", published_on=dt.date(2019, 5, 1)),
        reference="R5",
        text="Forces should refresh their serious and organised crime local profiles every year.",
    )
    new = FindingFactory(
        inspection=InspectionFactory(title="SOC 2026", slug="soc-2026", published_on=dt.date(2026, 5, 1)),
        reference="R2",
        text="The force should refresh its SOC local profile, last updated in 2019.",
    )
    surrey_old = ActionPlanFactory(finding=old, organisation=org, status=S.CLOSED)
    UpdateFactory(plan=surrey_old, kind=Update.Kind.VERIFICATION, status_from=S.SIGNED_OFF, status_to=S.CLOSED,
                  author=inspector, created_at=CLOSED_ON)  # fmt: skip
    hampshire_old = ActionPlanFactory(finding=old, organisation=other_org, status=S.IN_PROGRESS)
    plans = {org.slug: ActionPlanFactory(finding=new, organisation=org) for org in (org, other_org, kent)}
    return {"old": old, "new": new, "plans": plans, "surrey_old": surrey_old, "hampshire_old": hampshire_old}


def part(page: str, list_id: str) -> str:
    """The text of one list of linked findings, tags removed and spaces collapsed."""
    html = page.split(f'id="{list_id}"')[1].split("</ul>")[0]
    return " ".join(re.sub(r"<[^>]+>", " ", html).split()).replace(" :", ":")


def link(client, finding, earlier, kind="repeats", note="", **extra):
    data = {"link-earlier": earlier.pk, "link-kind": kind, "link-note": note, **extra}
    return client.post(f"/findings/{finding.pk}/links/", data)


def test_an_inspector_links_a_finding_to_an_earlier_one_and_it_shows_both_ways(client, inspector, history):
    client.force_login(inspector)
    response = link(client, history["new"], history["old"], note="Same gap as in 2019.")
    assert response.status_code == 302 and response["Location"] == f"/findings/{history['new'].pk}/"
    made = FindingLink.objects.get()
    assert (made.finding, made.earlier, made.kind) == (history["new"], history["old"], "repeats")
    assert made.created_by == inspector and made.created_at.date() == timezone.localdate()

    later_page = client.get(f"/findings/{history['new'].pk}/").content.decode()
    before = part(later_page, "raised-before")
    assert "Repeats" in before and "2019" in before and "R5" in before and "SOC 2019" in before
    assert "closed 14 Mar 2021" in before  # Surrey's response to the 2019 finding
    assert "Hampshire: in progress" in before
    assert "Same gap as in 2019." in before

    earlier_page = client.get(f"/findings/{history['old'].pk}/").content.decode()
    since = part(earlier_page, "raised-since")
    assert "Raised again in" in since and "R2" in since and "SOC 2026" in since


def test_the_earlier_findings_responses_shown_are_only_those_the_reader_may_see(client, other_manager, history):
    FindingLinkFactory(finding=history["new"], earlier=history["old"])
    client.force_login(other_manager)  # Hampshire
    before = part(client.get(f"/findings/{history['new'].pk}/").content.decode(), "raised-before")
    assert "Hampshire: in progress" in before
    assert "Surrey" not in before


@pytest.mark.parametrize("role", ["staff", "manager"])
def test_only_inspectors_and_administrators_may_link(client, request, role, history):
    client.force_login(request.getfixturevalue(role))
    assert link(client, history["new"], history["old"]).status_code == 403
    assert not FindingLink.objects.exists()
    page = client.get(f"/findings/{history['new'].pk}/").content.decode()
    assert "/links/" not in page  # no form offered


def test_an_administrator_may_link(client, admin_user, history):
    client.force_login(admin_user)
    assert link(client, history["new"], history["old"], kind="relates").status_code == 302
    assert FindingLink.objects.get().created_by == admin_user


def test_anonymous_linking_is_sent_to_log_in(client, history):
    response = link(client, history["new"], history["old"])
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


@pytest.mark.parametrize(
    "earlier, message",
    [
        ("new", "cannot be linked to itself"),
        ("same_inspection", "not of the same one"),
        ("later", "was published after"),
        ("missing", "No finding has that number"),
    ],
)
def test_a_bad_link_is_refused_with_a_message_and_changes_nothing(client, inspector, history, earlier, message):
    targets = {
        "new": history["new"],
        "same_inspection": FindingFactory(inspection=history["new"].inspection, reference="R3"),
        "later": FindingFactory(inspection=InspectionFactory(published_on=dt.date(2027, 1, 1))),
    }
    client.force_login(inspector)
    if earlier == "missing":
        response = client.post(
            f"/findings/{history['new'].pk}/links/", {"link-earlier": 99999, "link-kind": "repeats"}
        )
    else:
        response = link(client, history["new"], targets[earlier])
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not FindingLink.objects.exists()


def test_linking_the_same_pair_twice_is_refused(client, inspector, history):
    client.force_login(inspector)
    link(client, history["new"], history["old"])
    response = link(client, history["new"], history["old"], kind="relates")
    assert response.status_code == 400
    assert FindingLink.objects.count() == 1


@pytest.mark.parametrize("value", ["", "abc", "-1", "0", "99999999999999999999", "1e5", "\x00"])
def test_hostile_finding_numbers_are_a_form_error(client, inspector, history, value):
    client.force_login(inspector)
    response = client.post(f"/findings/{history['new'].pk}/links/", {"link-earlier": value, "link-kind": "x"})
    assert response.status_code == 400
    assert not FindingLink.objects.exists()


def test_an_inspector_removes_a_link_from_either_side(client, inspector, history):
    made = FindingLinkFactory(finding=history["new"], earlier=history["old"])
    client.force_login(inspector)
    response = client.post(f"/findings/{history['old'].pk}/links/{made.pk}/delete/")
    assert response.status_code == 302 and response["Location"] == f"/findings/{history['old'].pk}/"
    assert not FindingLink.objects.exists()


def test_removing_is_refused_to_staff_and_a_link_of_another_finding_is_not_found(client, staff, inspector, history):
    made = FindingLinkFactory(finding=history["new"], earlier=history["old"])
    client.force_login(staff)
    assert client.post(f"/findings/{history['new'].pk}/links/{made.pk}/delete/").status_code == 403
    client.force_login(inspector)
    unrelated = FindingFactory()
    assert client.post(f"/findings/{unrelated.pk}/links/{made.pk}/delete/").status_code == 404
    assert FindingLink.objects.count() == 1


def test_a_dismissed_suggestion_is_remembered_and_a_link_made_later_clears_it(client, inspector, history):
    client.force_login(inspector)
    response = client.post(f"/findings/{history['new'].pk}/suggestions/{history['old'].pk}/dismiss/")
    assert response.status_code == 302
    dismissed = DismissedSuggestion.objects.get()
    assert (dismissed.finding, dismissed.earlier, dismissed.dismissed_by) == (
        history["new"],
        history["old"],
        inspector,
    )
    client.post(f"/findings/{history['new'].pk}/suggestions/{history['old'].pk}/dismiss/")  # again: no double
    assert DismissedSuggestion.objects.count() == 1
    link(client, history["new"], history["old"])
    assert not DismissedSuggestion.objects.exists()


def test_next_may_only_point_within_the_site(client, inspector, history):
    client.force_login(inspector)
    inside = link(client, history["new"], history["old"], next="/imports/done/")
    assert inside["Location"] == "/imports/done/"
    FindingLink.objects.all().delete()
    outside = link(client, history["new"], history["old"], next="https://evil.example/")
    assert outside["Location"] == f"/findings/{history['new'].pk}/"


# --- recurrences ---------------------------------------------------------------------------------


def test_a_repeat_of_a_closed_finding_is_a_recurrence_only_for_the_organisation_that_closed_it(history):
    FindingLinkFactory(finding=history["new"], earlier=history["old"])
    plans = history["plans"]
    assert set(ActionPlan.objects.repeats()) == {plans["surrey"], plans["hampshire"]}  # Kent never had it
    assert set(ActionPlan.objects.recurrences()) == {plans["surrey"]}  # Hampshire's is still open
    flags = dict(ActionPlan.objects.with_recurrence().values_list("pk", "is_recurrence"))
    assert [pk for pk, flag in flags.items() if flag] == [plans["surrey"].pk]


@pytest.mark.parametrize("kind", ["supersedes", "relates"])
def test_only_a_repeat_makes_a_recurrence(history, kind):
    FindingLinkFactory(finding=history["new"], earlier=history["old"], kind=kind)
    assert not ActionPlan.objects.repeats().exists()
    assert not ActionPlan.objects.recurrences().exists()


def test_the_recurrence_needs_the_same_organisations_earlier_plan_closed(history):
    """Surrey's earlier plan closed and Hampshire's open must not combine into a recurrence for Hampshire."""
    FindingLinkFactory(finding=history["new"], earlier=history["old"])
    assert history["plans"]["hampshire"] not in ActionPlan.objects.recurrences()


def test_the_plan_list_filters_repeats_and_recurrences_and_marks_them(client, inspector, history):
    FindingLinkFactory(finding=history["new"], earlier=history["old"])
    client.force_login(inspector)
    recurrences = client.get("/plans/?recurrence=1")
    assert [p.pk for p in recurrences.context["page_obj"]] == [history["plans"]["surrey"].pk]
    assert "Recurrence" in recurrences.content.decode()
    repeats = client.get("/plans/?repeat=1")
    assert {p.pk for p in repeats.context["page_obj"]} == {
        history["plans"]["surrey"].pk,
        history["plans"]["hampshire"].pk,
    }
    assert client.get("/plans/?recurrence=0").context["paginator"].count == ActionPlan.objects.count()


def test_the_plan_page_shows_the_recurrence_and_this_organisations_earlier_response(client, manager, history):
    FindingLinkFactory(finding=history["new"], earlier=history["old"])
    client.force_login(manager)  # Surrey
    page = client.get(history["plans"]["surrey"].get_absolute_url()).content.decode()
    assert "badge recurrence" in page
    before = part(page, "raised-before")
    assert "Surrey: closed 14 Mar 2021" in before and "Hampshire" not in before


def test_the_api_shows_links_both_ways_and_the_recurrence(client, inspector, history):
    FindingLinkFactory(finding=history["new"], earlier=history["old"], created_by=inspector, note="Again")
    client.force_login(inspector)
    new = client.get(f"/api/v1/findings/{history['new'].pk}/").json()
    assert new["links_to_earlier"][0]["kind"] == "repeats"
    assert new["links_to_earlier"][0]["finding"] == {
        "id": history["old"].pk, "inspection": "soc-2019", "published_on": "2019-05-01", "reference": "R5",
    }  # fmt: skip
    assert new["links_to_earlier"][0]["created_by"]["username"] == inspector.username
    old = client.get(f"/api/v1/findings/{history['old'].pk}/").json()
    assert old["links_from_later"][0]["finding"]["reference"] == "R2"
    plan = client.get(f"/api/v1/plans/{history['plans']['surrey'].pk}/").json()
    assert plan["is_recurrence"] is True
    assert plan["links_to_earlier"][0]["finding"]["reference"] == "R5"
    listed = {row["id"]: row["is_recurrence"] for row in client.get("/api/v1/plans/?repeat=1").json()["results"]}
    assert listed == {history["plans"]["surrey"].pk: True, history["plans"]["hampshire"].pk: False}


def test_the_exports_carry_the_links_and_the_recurrence(client, inspector, history):
    FindingLinkFactory(finding=history["new"], earlier=history["old"])
    client.force_login(inspector)
    header, rows = EXPORT_HEADER, csv_rows(client, "inspection=soc-2026&sort=organisation")
    links, recurrence = header.index("Links to earlier findings"), header.index("Recurrence")
    by_org = {row[header.index("Organisation")]: row for row in rows}
    assert by_org["Surrey Police"][links] == "repeats SOC 2019 R5"
    assert by_org["Surrey Police"][recurrence] == "yes"
    assert by_org["Kent Police"][recurrence] == ""
    workbook = client.get("/plans/export.xlsx?recurrence=1")
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(b"".join(workbook.streaming_content))).active
    values = list(sheet.values)
    assert len(values) == 2 and values[1][values[0].index("Recurrence")] == "yes"


def test_the_old_supersedes_field_became_links_that_the_supersede_form_offers(client, inspector, history):
    revisit = FindingFactory(inspection=InspectionFactory(published_on=dt.date(2027, 1, 1)), supersedes=history["new"])
    assert list(history["new"].superseding_findings()) == [revisit]
    client.force_login(inspector)
    page = client.get(history["plans"]["kent"].get_absolute_url()).content.decode()
    assert f'value="{revisit.pk}"' in page


# --- the dashboard's repeat figures ---------------------------------------------------------------


def test_the_dashboards_repeat_figures_equal_the_lists_they_link_to_and_add_up(client, inspector, manager, history):
    from tests.factories import ThemeFactory

    theme = ThemeFactory(slug="local-profiles", name="Local profiles")
    history["new"].themes.set([theme])
    FindingLinkFactory(finding=history["new"], earlier=history["old"])
    for user in (inspector, manager):
        client.force_login(user)
        repeats = client.get("/dashboard/").context["repeats"]
        rows = [*repeats["organisations"], *repeats["themes"], repeats["overall"]]
        for row in rows:
            for figure in ("repeats", "recurrences", "total"):
                listed = client.get(row["links"][figure]).context["paginator"].count
                assert listed == row[figure], (user, row, figure)
            assert row["rate"] == round(100 * row["repeats"] / row["total"])
        assert repeats["overall"]["repeats"] == sum(r["repeats"] for r in repeats["organisations"])
        assert repeats["overall"]["recurrences"] == sum(r["recurrences"] for r in repeats["organisations"])
    client.force_login(inspector)
    overall = client.get("/dashboard/").context["repeats"]["overall"]
    assert (overall["repeats"], overall["recurrences"]) == (2, 1)
