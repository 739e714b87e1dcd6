"""The pages of the core issue: who sees what, the forms on a plan, evidence downloads, query counts."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from tests.factories import (
    ActionPlanFactory,
    DependencyFactory,
    EvidenceFactory,
    FindingFactory,
    FindingLinkFactory,
    ManagerFactory,
    StaffFactory,
    UpdateFactory,
    pdf_upload,
)
from tracker.models import ActionPlan, Dependency, Evidence, NoActionProposal, PublicStatement, Update

pytestmark = pytest.mark.django_db
S = ActionPlan.Status


def count_queries(client, url):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(ctx.captured_queries)


# --- anonymous -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name,kwargs",
    [
        ("tracker:home", {}),
        ("tracker:plan-list", {}),
        ("tracker:dashboard", {}),
        ("inspections:inspection-list", {}),
    ],
)
def test_anonymous_users_are_sent_to_log_in(client, name, kwargs):
    response = client.get(reverse(name, kwargs=kwargs))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_anonymous_users_are_sent_to_log_in_from_a_plan_and_its_evidence(client, plan, staff):
    evidence = EvidenceFactory(update__plan=plan, update__author=staff)
    for url in (
        plan.get_absolute_url(),
        evidence.get_absolute_url(),
        reverse("tracker:plan-action", args=[plan.pk, "progress"]),
    ):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_health_check_needs_no_login_and_reports_each_dependency(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok", "ready": True, "database": "ok", "cache": "ok", "storage": "ok", "malware_scanner": "off"
    }  # fmt: skip


def test_login_page_is_public(client, db):
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    assert re.search(r'<label\s+for="id_username"', response.content.decode())


# --- visibility ------------------------------------------------------------------------------


def test_another_organisations_plan_is_not_found(client, plan, other_staff, other_manager):
    for user in (other_staff, other_manager):
        client.force_login(user)
        assert client.get(plan.get_absolute_url()).status_code == 404
        response = client.post(
            reverse("tracker:plan-action", args=[plan.pk, "progress"]),
            {"progress-note": "sneaky", "progress-version": plan.version},
        )
        assert response.status_code == 404
    assert not Update.objects.filter(plan=plan).exists()


def test_another_organisations_evidence_is_not_found(client, plan, staff, other_staff, inspector):
    evidence = EvidenceFactory(update__plan=plan, update__author=staff)
    client.force_login(other_staff)
    assert client.get(evidence.get_absolute_url()).status_code == 404
    client.force_login(inspector)
    assert client.get(evidence.get_absolute_url()).status_code == 200


def test_evidence_downloads_as_an_attachment_that_is_never_sniffed(client, plan, staff):
    evidence = EvidenceFactory(update__plan=plan, update__author=staff, original_name="Analyst plan.pdf")
    client.force_login(staff)
    response = client.get(evidence.get_absolute_url())
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    assert "Analyst plan.pdf" in response["Content-Disposition"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert response["Cache-Control"] == "private, no-store"
    assert b"".join(response.streaming_content).startswith(b"%PDF-")


@pytest.mark.parametrize("name", ['Board "final" paper.pdf', "Plan d’action – été.pdf", "a;b=c.pdf"])
def test_evidence_download_names_cannot_break_out_of_the_header(client, plan, staff, name):
    evidence = EvidenceFactory(update__plan=plan, update__author=staff, original_name=name)
    client.force_login(staff)
    response = client.get(evidence.get_absolute_url())
    disposition = response["Content-Disposition"]
    assert disposition.startswith("attachment;") and "\n" not in disposition and "\r" not in disposition
    assert response["Content-Type"] == "application/octet-stream"


def test_inspector_sees_every_organisations_plans(client, plan, inspector, other_org):
    other = ActionPlanFactory(organisation=other_org)
    client.force_login(inspector)
    response = client.get(reverse("tracker:plan-list"))
    assert {p.pk for p in response.context["object_list"]} == {plan.pk, other.pk}
    assert client.get(other.get_absolute_url()).status_code == 200


def test_staff_list_shows_only_their_organisation(client, plan, staff, other_org):
    ActionPlanFactory(organisation=other_org)
    client.force_login(staff)
    response = client.get(reverse("tracker:plan-list"))
    assert [p.pk for p in response.context["object_list"]] == [plan.pk]
    assert response.context["paginator"].count == 1


def test_finding_page_hides_other_organisations_rows(client, org, other_org, staff, inspector):
    finding = FindingFactory()
    mine = ActionPlanFactory(finding=finding, organisation=org)
    theirs = ActionPlanFactory(finding=finding, organisation=other_org)
    client.force_login(staff)
    response = client.get(finding.get_absolute_url())
    assert [p.pk for p in response.context["plans"]] == [mine.pk]
    assert other_org.name.encode() not in response.content
    client.force_login(inspector)
    response = client.get(finding.get_absolute_url())
    assert {p.pk for p in response.context["plans"]} == {mine.pk, theirs.pk}


# --- the forms each user gets ----------------------------------------------------------------


def action_slugs(response):
    return [item["action"].slug for item in response.context["action_forms"]]


@pytest.mark.parametrize(
    "who,status,expected",
    [
        ("staff", S.IN_PROGRESS, ["progress", "block", "submit", "propose-no-action"]),
        ("staff", S.SUBMITTED, []),
        ("manager", S.IN_PROGRESS, ["progress", "block", "submit", "propose-no-action", "target-date", "owner"]),
        ("manager", S.SUBMITTED, ["sign-off", "return", "target-date", "owner"]),
        ("inspector", S.IN_PROGRESS, ["supersede", "no-further-action"]),
        ("inspector", S.SIGNED_OFF, ["close", "reopen", "supersede", "no-further-action"]),
        ("inspector", S.CLOSED, []),
        ("staff", S.BLOCKED, ["progress", "waiting-on", "unblock", "propose-no-action"]),
        ("manager", S.NO_ACTION_PROPOSED, ["accept-risk", "decline-no-action", "target-date", "owner"]),
        ("inspector", S.NO_ACTION_PROPOSED, ["supersede", "no-further-action"]),
        ("inspector", S.NO_ACTION_ACCEPTED, ["supersede", "agree-no-action", "send-back-no-action"]),
    ],
)
def test_plan_page_shows_exactly_the_forms_this_user_may_use(client, request, org, who, status, expected):
    user = request.getfixturevalue(who)
    plan = ActionPlanFactory(organisation=org, status=status)
    client.force_login(user)
    response = client.get(plan.get_absolute_url())
    assert action_slugs(response) == expected
    for slug in expected:
        assert f'action="/plans/{plan.pk}/{slug}/"'.encode() in response.content


def test_staff_records_progress_with_a_pdf(client, plan, staff):
    client.force_login(staff)
    response = client.post(
        reverse("tracker:plan-action", args=[plan.pk, "progress"]),
        {
            "progress-version": plan.version,
            "progress-note": "Two analysts recruited.",
            "progress-percent_complete": 40,
            "progress-files": [pdf_upload("recruitment.pdf")],
        },
    )
    assert response.status_code == 302
    plan.refresh_from_db()
    assert plan.percent_complete == 40
    update = plan.updates.get()
    assert update.note == "Two analysts recruited."
    assert update.evidence.get().original_name == "recruitment.pdf"


@pytest.mark.parametrize(
    "name,content,message",
    [
        ("empty.pdf", b"", "is empty"),
        ("tool.pdf", b"MZ\x90\x00" + b"\x00" * 200, "does not contain what"),
        ("script.exe", b"MZ\x90\x00", "not an accepted type"),
    ],
)
def test_bad_uploads_are_refused_with_a_message_and_nothing_written(client, plan, staff, name, content, message):
    client.force_login(staff)
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = client.post(
        reverse("tracker:plan-action", args=[plan.pk, "progress"]),
        {
            "progress-version": plan.version,
            "progress-note": "Attached the plan.",
            "progress-files": [SimpleUploadedFile(name, content)],
        },
    )
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Update.objects.exists() and not Evidence.objects.exists()


def test_oversize_upload_is_refused(client, plan, staff, settings):
    settings.EVIDENCE_MAX_BYTES = 50
    client.force_login(staff)
    response = client.post(
        reverse("tracker:plan-action", args=[plan.pk, "progress"]),
        {"progress-version": plan.version, "progress-note": "Big file.", "progress-files": [pdf_upload()]},
    )
    assert response.status_code == 400
    assert "evidence files can be at most 50" in response.content.decode()
    assert not Update.objects.exists()


def test_stale_form_is_refused_keeps_the_text_and_the_newer_data(client, plan, staff, manager):
    client.force_login(manager)
    seen_version = plan.version
    # Someone else records progress first.
    client.post(
        reverse("tracker:plan-action", args=[plan.pk, "progress"]),
        {"progress-version": seen_version, "progress-note": "Manager's update.", "progress-percent_complete": 60},
    )
    client.force_login(staff)
    response = client.post(
        reverse("tracker:plan-action", args=[plan.pk, "progress"]),
        {
            "progress-version": seen_version,
            "progress-note": "My carefully typed note.",
            "progress-percent_complete": 10,
        },
    )
    assert response.status_code == 409
    body = response.content.decode()
    assert "This plan was changed by" in body and "surrey.manager" in body
    assert "your text is kept below" in body
    assert "My carefully typed note." in body
    plan.refresh_from_db()
    assert plan.percent_complete == 60
    assert list(plan.updates.values_list("note", flat=True)) == ["Manager's update."]


def test_a_stale_form_carries_the_new_version_so_sending_it_again_applies(client, plan, staff, manager):
    url = reverse("tracker:plan-action", args=[plan.pk, "progress"])
    seen_version = plan.version
    client.force_login(manager)
    client.post(url, {"progress-version": seen_version, "progress-note": "Manager's update."})
    client.force_login(staff)
    response = client.post(url, {"progress-version": seen_version, "progress-note": "My note."})
    assert response.status_code == 409
    plan.refresh_from_db()
    page_version = re.search(r'name="progress-version" value="(\d+)"', response.content.decode()).group(1)
    assert int(page_version) == plan.version != seen_version

    response = client.post(url, {"progress-version": page_version, "progress-note": "My note."})
    assert response.status_code == 302
    assert list(plan.updates.values_list("note", flat=True)) == ["My note.", "Manager's update."]


def test_required_comment_is_enforced_on_return(client, org, manager):
    plan = ActionPlanFactory(organisation=org, status=S.SUBMITTED)
    client.force_login(manager)
    response = client.post(
        reverse("tracker:plan-action", args=[plan.pk, "return"]),
        {"return-version": plan.version, "return-comment": ""},
    )
    assert response.status_code == 400
    assert "This field is required" in response.content.decode()
    plan.refresh_from_db()
    assert plan.status == S.SUBMITTED


def test_staff_posting_a_manager_action_is_forbidden(client, org, staff):
    plan = ActionPlanFactory(organisation=org, status=S.SUBMITTED)
    client.force_login(staff)
    response = client.post(
        reverse("tracker:plan-action", args=[plan.pk, "sign-off"]),
        {"sign-off-version": plan.version, "sign-off-comment": "Looks fine"},
    )
    assert response.status_code == 403
    plan.refresh_from_db()
    assert plan.status == S.SUBMITTED and not plan.updates.exists()


def test_the_whole_journey_from_progress_to_closure(client, org, staff, manager, inspector):
    plan = ActionPlanFactory(organisation=org, status=S.NOT_STARTED)
    url = lambda action: reverse("tracker:plan-action", args=[plan.pk, action])  # noqa: E731

    def post(user, action, **fields):
        client.force_login(user)
        plan.refresh_from_db()
        data = {f"{action}-version": plan.version} | {f"{action}-{k}": v for k, v in fields.items()}
        response = client.post(url(action), data)
        assert response.status_code == 302, response.content.decode()[:2000]
        plan.refresh_from_db()

    post(staff, "progress", note="Started the profile refresh.", files=[pdf_upload()])
    assert plan.status == S.IN_PROGRESS
    post(staff, "submit", statement="All profiles refreshed.")
    assert plan.status == S.SUBMITTED
    post(manager, "return", comment="Add the Guildford profile.")
    assert plan.status == S.IN_PROGRESS
    post(staff, "submit", statement="Guildford added.")
    post(manager, "sign-off", comment="Agreed.")
    assert plan.status == S.SIGNED_OFF and plan.percent_complete == 100
    post(inspector, "close", comment="Verified at revisit.", confirm="on")
    assert plan.status == S.CLOSED
    assert plan.updates.count() == 6


def test_comment_is_added_to_the_timeline(client, plan, inspector):
    client.force_login(inspector)
    response = client.post(reverse("tracker:plan-action", args=[plan.pk, "comment"]), {"comment-note": "Any update?"})
    assert response.status_code == 302
    assert plan.updates.get().kind == Update.Kind.COMMENT


def test_a_comment_without_htmx_reads_the_plan_alone_and_redirects(client, plan, staff):
    """The page is not shown, so nothing of it is read: the plan without its joins or its milestones,
    measures and proposals (3 queries fewer than the page's reads; docs/BENCHMARKS.md)."""
    client.force_login(staff)
    url = reverse("tracker:plan-action", args=[plan.pk, "comment"])
    client.post(url, {"comment-note": "First."})  # the session's first write is not this test's
    with CaptureQueriesContext(connection) as queries:
        response = client.post(url, {"comment-note": "Any update?"})
    assert response.status_code == 302 and response["Location"] == plan.get_absolute_url()
    reads = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("SELECT")]
    plan_reads = [sql for sql in reads if 'FROM "tracker_actionplan"' in sql]
    assert len(plan_reads) == 1 and "JOIN" not in plan_reads[0]
    assert not [sql for sql in reads if "tracker_milestone" in sql or "tracker_successmeasure" in sql
                or "tracker_noactionproposal" in sql]  # fmt: skip
    assert plan.updates.filter(note="Any update?").exists()


def test_a_comment_on_another_organisations_plan_is_404_and_writes_nothing(client, plan, other_staff):
    client.force_login(other_staff)
    for headers in ({}, {"HX-Request": "true"}):
        response = client.post(
            reverse("tracker:plan-action", args=[plan.pk, "comment"]), {"comment-note": "Hello"}, headers=headers
        )
        assert response.status_code == 404
    assert not plan.updates.exists()


def test_with_htmx_a_comment_swaps_in_the_timeline_only(client, plan, inspector):
    client.force_login(inspector)
    url = reverse("tracker:plan-action", args=[plan.pk, "comment"])

    response = client.post(url, {"comment-note": "Any update on recruitment?"}, headers={"HX-Request": "true"})

    assert response.status_code == 200
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="discussion">')
    assert "<html" not in body
    assert "Any update on recruitment?" in body  # now in the timeline
    assert "Comment added." in body
    assert 'name="comment-note"' in body and "Any update on recruitment?</textarea>" not in body  # form emptied
    assert plan.updates.get().note == "Any update on recruitment?"


def test_with_htmx_a_blank_comment_comes_back_with_its_error_and_writes_nothing(client, plan, inspector):
    client.force_login(inspector)
    url = reverse("tracker:plan-action", args=[plan.pk, "comment"])

    response = client.post(url, {"comment-note": "  "}, headers={"HX-Request": "true"})

    assert response.status_code == 200  # htmx only swaps successful responses
    assert response.content.decode().lstrip().startswith('<div id="discussion">')
    assert "Write a comment before sending it." in response.content.decode()
    assert not plan.updates.exists()


# --- home ------------------------------------------------------------------------------------


def test_staff_home_lists_overdue_first_and_their_own_actions(client, org, staff):
    today = timezone.localdate()
    late = ActionPlanFactory(organisation=org, target_date=today - dt.timedelta(days=3), owner=staff)
    ActionPlanFactory(organisation=org, target_date=today + dt.timedelta(days=200))
    client.force_login(staff)
    response = client.get("/")
    sections = {s["id"]: s for s in response.context["sections"]}
    assert [p.pk for p in sections["overdue"]["rows"]] == [late.pk]
    assert [p.pk for p in sections["my-actions"]["rows"]] == [late.pk]


def test_manager_home_shows_what_awaits_sign_off(client, org, manager, other_org):
    waiting = ActionPlanFactory(organisation=org, status=S.SUBMITTED)
    ActionPlanFactory(organisation=other_org, status=S.SUBMITTED)
    client.force_login(manager)
    response = client.get("/")
    sections = {s["id"]: s for s in response.context["sections"]}
    assert [p.pk for p in sections["awaiting-sign-off"]["rows"]] == [waiting.pk]


def test_inspector_home_shows_what_awaits_verification(client, org, other_org, inspector):
    a = ActionPlanFactory(organisation=org, status=S.SIGNED_OFF)
    b = ActionPlanFactory(organisation=other_org, status=S.SIGNED_OFF)
    client.force_login(inspector)
    response = client.get("/")
    sections = {s["id"]: s for s in response.context["sections"]}
    assert {p.pk for p in sections["awaiting-verification"]["rows"]} == {a.pk, b.pk}


def test_home_shows_what_changed_since_the_last_visit(client, plan, staff, manager):
    client.force_login(staff)
    client.get("/")
    UpdateFactory(plan=plan, author=manager, kind=Update.Kind.COMMENT, note="Please update")
    response = client.get("/")
    assert [u.note for u in response.context["changes"]] == ["Please update"]


# --- query counts ----------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["staff", "manager", "inspector"])
def test_home_query_count_does_not_grow_with_plans(client, request, org, who):
    user = request.getfixturevalue(who)
    client.force_login(user)
    today = timezone.localdate()
    ActionPlanFactory.create_batch(3, organisation=org, owner=None, target_date=today - dt.timedelta(days=1))
    client.get("/")  # first visit sets last_home_visit
    small = count_queries(client, "/")
    ActionPlanFactory.create_batch(27, organisation=org, owner=None, target_date=today - dt.timedelta(days=1))
    assert count_queries(client, "/") == small


@pytest.mark.parametrize(
    "query", ["", "?status=in_progress&overdue=1", "?q=analysts&sort=-updated", "?owner=me&rag=green"]
)
def test_plan_list_query_count_does_not_grow_with_plans(client, org, manager, query):
    client.force_login(manager)
    client.get("/accounts/")  # the first request after signing in also refreshes the session
    ActionPlanFactory.create_batch(3, organisation=org)
    small = count_queries(client, "/plans/" + query)
    ActionPlanFactory.create_batch(27, organisation=org)
    assert count_queries(client, "/plans/" + query) == small
    assert small <= 13  # the page's rows' milestone progress ("3 of 5") is one query


@pytest.mark.parametrize("who", ["staff", "manager", "inspector"])
def test_plan_detail_query_count_does_not_grow_with_updates(client, request, org, who):
    user = request.getfixturevalue(who)
    plan = ActionPlanFactory(organisation=org)
    author = request.getfixturevalue("staff")
    for _ in range(3):
        EvidenceFactory(update=UpdateFactory(plan=plan, author=author))
    client.force_login(user)
    client.get("/accounts/")  # the first request after signing in also refreshes the session
    small = count_queries(client, plan.get_absolute_url())
    for _ in range(27):
        EvidenceFactory(update=UpdateFactory(plan=plan, author=author))
    assert count_queries(client, plan.get_absolute_url()) == small
    # Who may block the plan is offered the plans it may wait on (the block form's plan picker): one query.
    # The people offered as owners are read once for every form choosing one: one query.
    assert small <= (11 if who == "inspector" else 12)


def test_each_timeline_entry_lists_its_own_evidence_and_the_panel_every_file(client, org, staff):
    """The files are read by plan, once, and handed to the entries they were sent with (`views._timeline`):
    each entry of the timeline lists its own files and no other's; the evidence panel lists them all."""
    plan = ActionPlanFactory(organisation=org)
    first, bare, second = (UpdateFactory(plan=plan, author=staff) for _ in range(3))
    EvidenceFactory(update=first, original_name="first-a.pdf")
    EvidenceFactory(update=second, original_name="second-a.pdf")
    EvidenceFactory(update=first, original_name="first-b.pdf")
    other = EvidenceFactory(update=UpdateFactory(author=staff), original_name="another-plan.pdf")
    assert other.update.plan_id != plan.pk
    client.force_login(staff)
    page = client.get(plan.get_absolute_url()).content.decode()

    def entry(update: Update) -> str:
        start = page.index(f'id="update-{update.pk}"')
        end = page.find('<li class="timeline-item', start)  # the next entry (newest first), or the list's end
        return page[start : end if end != -1 else page.index("</ol>", start)]

    files = re.compile(r"download>([^<]+)</a>")
    assert files.findall(entry(first)) == ["first-a.pdf", "first-b.pdf"]
    assert files.findall(entry(second)) == ["second-a.pdf"]
    assert files.findall(entry(bare)) == []
    panel = page[page.index('id="evidence-heading"') : page.index("</section>", page.index('id="evidence-heading"'))]
    assert files.findall(panel) == ["first-a.pdf", "second-a.pdf", "first-b.pdf"]
    assert "another-plan.pdf" not in page


@pytest.mark.parametrize("who", ["staff", "manager", "inspector"])
def test_a_plan_page_joins_links_waiting_plans_and_a_proposals_people_only_when_there_are_any(
    client, request, org, staff, who
):
    """A finding's links, the plans waiting on the plan and the people of its proposal of no action are read
    without their joins first (`models.rows_joined`, `ActionPlan.proposal_with_people`), and a public
    statement's people only when there is a statement (`views._statement_context`): a plan with none of
    them is shown without those joins, and one with each of them shows them, one query more each (and the
    linked finding's responses)."""
    user = request.getfixturevalue(who)
    client.force_login(user)
    client.get("/accounts/")  # the first request after signing in also refreshes the session
    bare, plan = ActionPlanFactory(organisation=org), ActionPlanFactory(organisation=org)
    with CaptureQueriesContext(connection) as bare_page:
        assert client.get(bare.get_absolute_url()).status_code == 200
    reads = {
        table: [q["sql"] for q in bare_page.captured_queries if q["sql"].startswith(f'SELECT "{table}".')]
        for table in ("inspections_findinglink", "tracker_dependency", "tracker_noactionproposal")
    }
    for table, sqls in reads.items():  # one read each, of the table's own columns alone
        assert len(sqls) == 1, table
        columns = sqls[0].split(" FROM ")[0].removeprefix("SELECT ").split(", ")
        assert all(column.startswith(f'"{table}".') for column in columns), sqls[0]
    small = len(bare_page.captured_queries)

    earlier = FindingFactory(reference="R-EARLIER", inspection__title="An earlier inspection")
    FindingLinkFactory(finding=plan.finding, earlier=earlier, created_by=staff)
    waiting = DependencyFactory(kind=Dependency.Kind.PLAN, name="", on_plan=plan, plan__organisation=org)
    proposer = StaffFactory(organisation=org, first_name="Priya", last_name="Proposer")
    NoActionProposal.objects.create(plan=plan, reason="Done elsewhere.", risk="Little.", proposed_by=proposer)
    approver = ManagerFactory(organisation=org, first_name="Anwen", last_name="Approver")
    PublicStatement.objects.create(plan=plan, text="On track.", written_by=proposer, approved_by=approver,
                                   approved_at=timezone.now())  # fmt: skip
    with CaptureQueriesContext(connection) as page_queries:
        page = client.get(plan.get_absolute_url()).content.decode()
    # One more each for the three read again with their joins and for the statement's people, and one for the
    # linked finding's responses.
    assert len(page_queries.captured_queries) == small + 5
    assert "R-EARLIER" in page
    assert waiting.plan.get_absolute_url() in page
    assert "Priya Proposer" in page
    assert "Written by Priya Proposer" in page and "by Anwen Approver" in page


def test_a_file_sent_while_the_timeline_is_read_waits_for_the_next_page(org, staff):
    """The timeline and its files are two reads (`views._timeline`): a progress update with a file recorded
    between them is left to the next page, neither a server error nor a file without its entry."""
    from tracker.views import _timeline

    plan = ActionPlanFactory(organisation=org)
    EvidenceFactory(update=UpdateFactory(plan=plan, author=staff), original_name="before.pdf")
    sent = []

    def send_one_meanwhile(execute, sql, params, many, context):
        if not sent and sql.startswith('SELECT "tracker_evidence"'):
            sent.append(EvidenceFactory(update=UpdateFactory(plan=plan, author=staff), original_name="later.pdf"))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(send_one_meanwhile):
        updates = _timeline(plan)
    assert sent
    assert [[file.original_name for file in update.files] for update in updates] == [["before.pdf"]]


def test_each_plan_form_has_fields_of_its_own(plan, staff):
    """The plan page's forms copy their class's fields without `copy.deepcopy` (tracker.forms._copy_field):
    changing one form's field, widget, choices or messages leaves the class and every other form as they were."""
    from tracker import forms

    first, second = forms.MilestoneEditForm(plan=plan), forms.MilestoneEditForm(plan=plan)
    first.fields["owner"].widget.attrs["class"] = "changed"
    first.fields["owner"].choices = [("", "Only this")]
    first.fields["title"].error_messages["required"] = "Changed."
    first.fields["title"].validators.append(lambda value: None)
    for other in (second.fields, forms.MilestoneEditForm.base_fields):
        assert "class" not in other["owner"].widget.attrs
        assert other["title"].error_messages["required"] != "Changed."
        assert len(other["title"].validators) == len(forms.MilestoneEditForm.base_fields["title"].validators)
    # The other form's owner choices are still its own field's people (`ModelChoiceIterator` of that field).
    assert second.fields["owner"].widget.choices.field is second.fields["owner"]
    assert [label for _value, label in second.fields["owner"].choices] == ["Nobody yet", str(staff)]
    blocked, other_blocked = forms.BlockedForm(plan=plan), forms.BlockedForm(plan=plan)
    blocked.fields["waiting_on"].choices = [("other", "Something else")]
    assert len(other_blocked.fields["waiting_on"].choices) > 1
    assert other_blocked.fields["waiting_on"].widget.choices is not blocked.fields["waiting_on"].widget.choices


@pytest.mark.parametrize("who", ["staff", "manager", "inspector"])
def test_plan_page_shows_its_owner_without_a_query_more(client, request, org, who):
    """A member of the organisation is offered its people as owners, and the plan's owner is found among them
    rather than joined to the plan's query (an inspector's page joins it); an owner who has left is shown as
    unassigned."""
    user = request.getfixturevalue(who)
    owner = StaffFactory(organisation=org, first_name="Olwen", last_name="Owner")
    unowned, owned = ActionPlanFactory(organisation=org), ActionPlanFactory(organisation=org, owner=owner)
    client.force_login(user)
    client.get("/accounts/")  # the first request after signing in also refreshes the session
    assert count_queries(client, owned.get_absolute_url()) == count_queries(client, unowned.get_absolute_url())

    def shown_owner() -> str:
        page = re.sub(r"\s+", " ", client.get(owned.get_absolute_url()).content.decode())
        return re.search(r"<dt>Owner</dt><dd>(.*?)</dd>", page).group(1)

    assert shown_owner() == f"Olwen Owner ({owner.username})"
    owner.is_active = False
    owner.save()
    assert shown_owner() == "Unassigned"
