"""The Django admin: every page loads, the timeline stays read-only, publishing and tokens behave."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from django.contrib import admin
from django.contrib.messages import get_messages
from django.core.files.base import ContentFile
from django.urls import reverse
from django.utils import timezone
from simple_history.admin import SimpleHistoryAdmin

from inspections.models import Finding
from tests.factories import (
    PDF_BYTES,
    ActionPlanFactory,
    EvidenceFactory,
    FindingFactory,
    GradingFactory,
    InspectionFactory,
    OrganisationFactory,
    StaffFactory,
    ThemeFactory,
    UpdateFactory,
)
from tracker.models import ActionPlan, ApiToken, DigestLog, Evidence, Job, PccResponse, ResponseReminder, Update, User

REGISTERED = sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)


def admin_url(model, view: str, *args: object) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


class FormFields(HTMLParser):
    """What a browser would submit for the page's main form: inputs, textareas and selected options."""

    def __init__(self) -> None:
        super().__init__()
        self.data: dict[str, str] = {}
        self._textarea: str | None = None
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        name = a.get("name")
        if tag == "input" and name and a.get("type") not in ("submit", "button", "file"):
            if a.get("type") in ("checkbox", "radio") and "checked" not in a:
                return
            # A ticked checkbox without a value is sent as "on", as browsers do.
            self.data[name] = a.get("value") or ("on" if a.get("type") == "checkbox" else "")
        elif tag == "textarea" and name:
            self._textarea = name
            self.data[name] = ""
        elif tag == "select" and name:
            self._select = name
            self.data.setdefault(name, "")
        elif tag == "option" and self._select and "selected" in a:
            self.data[self._select] = a.get("value") or ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "textarea":
            self._textarea = None
        elif tag == "select":
            self._select = None

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self.data[self._textarea] += data.removeprefix("\n") if not self.data[self._textarea] else data


def form_data(response) -> dict[str, str]:
    parser = FormFields()
    parser.feed(response.content.decode())
    return parser.data


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def one_of_everything(admin_user, staff, manager):
    """At least one row for every model the admin shows."""
    grading = GradingFactory(organisation=staff.organisation)
    finding = FindingFactory(inspection=grading.inspection, due_by=timezone.localdate())
    finding.addressed_to.add(staff.organisation)
    finding.themes.add(ThemeFactory())
    plan = ActionPlanFactory(finding=finding, organisation=staff.organisation, owner=staff)
    evidence = EvidenceFactory(update=UpdateFactory(plan=plan, author=staff))
    ApiToken.issue(user=admin_user, name="RMS sync")
    DigestLog.objects.create(user=staff, sent_on=timezone.localdate(), plan_count=1)
    Job.objects.create(kind=Job.Kind.EXPORT_XLSX, user=staff, status=Job.Status.FAILED, message="Surrey export")
    recorded = PccResponse(
        inspection=grading.inspection, organisation=staff.organisation, published_on=timezone.localdate(),
        original_name="Surrey response.pdf", size=10, sha256="0" * 64, content_type="application/pdf",
        uploaded_by=manager,
    )  # fmt: skip
    recorded.file.save("response.pdf", ContentFile(PDF_BYTES))
    ResponseReminder.objects.create(user=manager, inspection=grading.inspection, organisation=staff.organisation,
                                    days_before=14, sent_on=timezone.localdate())  # fmt: skip
    return {"plan": plan, "evidence": evidence}


# --- every page loads ----------------------------------------------------------------------------


@pytest.mark.parametrize(("model", "model_admin"), REGISTERED, ids=[m._meta.label for m, _ in REGISTERED])
def test_every_admin_changelist_and_change_page_loads(admin_client, one_of_everything, model, model_admin):
    assert admin_client.get(admin_url(model, "changelist")).status_code == 200
    assert admin_client.get(admin_url(model, "changelist"), {"q": "surrey"}).status_code == 200
    obj = model._default_manager.first()
    if obj is not None:
        assert admin_client.get(admin_url(model, "change", obj.pk)).status_code == 200
        assert admin_client.get(admin_url(model, "history", obj.pk)).status_code == 200


# Recorded 56-day responses come through the upload checks on the inspection page; warnings given, from digests.
READ_ONLY_OR_WORKFLOW_ONLY = {Update, Evidence, DigestLog, ActionPlan, Job, PccResponse, ResponseReminder}


@pytest.mark.parametrize("model", [m for m, _ in REGISTERED], ids=[m._meta.label for m, _ in REGISTERED])
def test_add_pages_load_where_adding_is_allowed(admin_client, model):
    response = admin_client.get(admin_url(model, "add"))
    if model in READ_ONLY_OR_WORKFLOW_ONLY:
        assert response.status_code == 403
    elif model._meta.app_label in ("inspections", "tracker"):
        assert response.status_code == 200
    else:  # third-party admins decide for themselves
        assert response.status_code in (200, 403)


def test_models_with_history_use_the_history_admin():
    from inspections.models import Grading, Inspection

    for model in (Inspection, Grading, Finding, ActionPlan, User):
        assert isinstance(admin.site._registry[model], SimpleHistoryAdmin), model


def test_plan_history_page_shows_recorded_changes(admin_client, one_of_everything):
    plan = one_of_everything["plan"]
    response = admin_client.get(admin_url(ActionPlan, "history", plan.pk))
    assert response.status_code == 200
    assert plan.history.count() >= 1


# --- the timeline is read-only -------------------------------------------------------------------


@pytest.mark.parametrize("model", [Update, Evidence, DigestLog])
def test_timeline_and_digest_rows_cannot_be_added_changed_or_deleted(admin_client, one_of_everything, model):
    obj = model._default_manager.first()
    change_page = admin_client.get(admin_url(model, "change", obj.pk))
    assert change_page.status_code == 200
    assert b'name="_save"' not in change_page.content
    assert admin_client.post(admin_url(model, "change", obj.pk), {"note": "rewritten"}).status_code == 403
    assert admin_client.get(admin_url(model, "delete", obj.pk)).status_code == 403
    assert admin_client.post(admin_url(model, "delete", obj.pk), {"post": "yes"}).status_code == 403
    assert admin_client.get(admin_url(model, "add")).status_code == 403
    bulk = admin_client.post(
        admin_url(model, "changelist"), {"action": "delete_selected", "_selected_action": [obj.pk], "post": "yes"}
    )
    assert bulk.status_code in (200, 302)
    assert model._default_manager.filter(pk=obj.pk).exists()


def test_update_note_is_unchanged_after_a_change_post(admin_client, one_of_everything):
    update = Update.objects.get()
    admin_client.post(admin_url(Update, "change", update.pk), {"note": "rewritten", "kind": "comment"})
    update.refresh_from_db()
    assert update.note == "Analyst recruitment campaign launched."
    assert update.kind == Update.Kind.PROGRESS


def test_evidence_page_links_to_the_permission_checked_download_not_the_media_file(admin_client, one_of_everything):
    evidence = one_of_everything["evidence"]
    content = admin_client.get(admin_url(Evidence, "change", evidence.pk)).content.decode()
    assert reverse("tracker:evidence-download", args=[evidence.pk]) in content
    assert evidence.file.name not in content


def test_plan_page_shows_its_timeline_without_add_or_delete(admin_client, one_of_everything):
    plan = one_of_everything["plan"]
    response = admin_client.get(admin_url(ActionPlan, "change", plan.pk))
    content = response.content.decode()
    assert "Analyst recruitment campaign launched." in content
    assert "evidence.pdf" in content
    (timeline,) = [f for f in response.context["inline_admin_formsets"] if f.formset.prefix == "updates"]
    assert not timeline.has_add_permission and not timeline.has_change_permission
    assert not timeline.has_delete_permission
    assert 'name="updates-MAX_NUM_FORMS" value="0"' in content
    assert 'name="updates-0-DELETE"' not in content


# --- action plans: status only through the workflow ----------------------------------------------


def test_plan_status_and_dates_are_not_editable_in_the_admin(admin_client, one_of_everything):
    plan = one_of_everything["plan"]
    page = admin_client.get(admin_url(ActionPlan, "change", plan.pk))
    data = form_data(page)
    assert "status" not in data and "percent_complete" not in data and "target_date" not in data
    data.update(status="closed", percent_complete="100", target_date="2030-01-01", summary="Posts funded.")
    response = admin_client.post(admin_url(ActionPlan, "change", plan.pk), data)
    assert response.status_code == 302, response.context and response.context["adminform"].form.errors
    plan.refresh_from_db()
    assert plan.status == ActionPlan.Status.IN_PROGRESS
    assert plan.percent_complete == 20
    assert plan.summary == "Posts funded."


def test_changing_the_owner_in_the_admin_writes_a_timeline_entry(admin_client, one_of_everything, manager):
    plan = one_of_everything["plan"]
    updates_before = set(Update.objects.values_list("pk", "note"))
    data = form_data(admin_client.get(admin_url(ActionPlan, "change", plan.pk)))
    data["owner"] = str(manager.pk)
    response = admin_client.post(admin_url(ActionPlan, "change", plan.pk), data)
    assert response.status_code == 302
    plan.refresh_from_db()
    assert plan.owner == manager
    new = Update.objects.exclude(pk__in=[pk for pk, _ in updates_before]).get()
    assert new.kind == Update.Kind.OWNER
    assert str(manager) in new.note
    assert updates_before <= set(Update.objects.values_list("pk", "note"))


def test_only_members_of_the_plans_organisation_can_be_made_owner(admin_client, one_of_everything, other_staff):
    plan = one_of_everything["plan"]
    data = form_data(admin_client.get(admin_url(ActionPlan, "change", plan.pk)))
    data["owner"] = str(other_staff.pk)
    response = admin_client.post(admin_url(ActionPlan, "change", plan.pk), data)
    assert response.status_code == 200
    assert "owner" in response.context["adminform"].form.errors
    plan.refresh_from_db()
    assert plan.owner != other_staff


# --- publishing ----------------------------------------------------------------------------------


def test_publish_action_opens_missing_plans_once(admin_client, org, other_org):
    inspection = InspectionFactory()
    finding = FindingFactory(inspection=inspection, due_by=timezone.localdate())
    finding.addressed_to.add(org, other_org)
    url = admin_url(type(inspection), "changelist")
    action = {"action": "publish", "_selected_action": [inspection.pk]}

    response = admin_client.post(url, action, follow=True)
    assert ActionPlan.objects.filter(finding=finding).count() == 2
    assert "Opened 2 action plans across 1 inspection." in messages_of(response)

    response = admin_client.post(url, action, follow=True)
    assert ActionPlan.objects.filter(finding=finding).count() == 2
    assert "No plans opened: every addressed organisation already has one." in messages_of(response)

    finding.addressed_to.add(OrganisationFactory())
    response = admin_client.post(url, action, follow=True)
    assert ActionPlan.objects.filter(finding=finding).count() == 3
    assert "Opened 1 action plan across 1 inspection." in messages_of(response)
    plan = ActionPlan.objects.filter(finding=finding).first()
    assert plan.status == ActionPlan.Status.NOT_STARTED
    assert plan.target_date == plan.original_target_date == finding.due_by


def test_action_plans_cannot_be_added_by_hand(admin_client):
    assert admin_client.get(admin_url(ActionPlan, "add")).status_code == 403


def test_finding_page_edits_addressees_and_themes(admin_client, one_of_everything):
    finding = Finding.objects.get()
    content = admin_client.get(admin_url(Finding, "change", finding.pk)).content.decode()
    assert 'name="addressed_to"' in content and 'name="themes"' in content
    assert "selectfilter" in content  # filter_horizontal widget


def test_inspection_page_has_grading_and_finding_inlines(admin_client, one_of_everything):
    inspection = Finding.objects.get().inspection
    response = admin_client.get(admin_url(type(inspection), "change", inspection.pk))
    prefixes = {formset.formset.prefix for formset in response.context["inline_admin_formsets"]}
    assert prefixes == {"gradings", "findings"}


# --- users ---------------------------------------------------------------------------------------


def test_user_admin_shows_and_filters_organisation_and_role(admin_client, staff):
    page = admin_client.get(admin_url(User, "change", staff.pk)).content.decode()
    for field in ("organisation", "role", "receive_digest"):
        assert f'name="{field}"' in page
    listing = admin_client.get(admin_url(User, "changelist"), {"role__exact": "staff"})
    assert staff.username in listing.content.decode()


def test_admin_can_add_a_manager_with_organisation_and_role(admin_client, org):
    response = admin_client.post(
        admin_url(User, "add"),
        {
            "username": "surrey.manager2",
            "usable_password": "true",
            "password1": "a-long-enough-password-42",
            "password2": "a-long-enough-password-42",
            "first_name": "Ann",
            "last_name": "Lee",
            "email": "ann@example.org",
            "organisation": org.pk,
            "role": User.Role.MANAGER,
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    user = User.objects.get(username="surrey.manager2")
    assert (user.organisation, user.role) == (org, User.Role.MANAGER)
    assert user.check_password("a-long-enough-password-42")


def test_user_admin_refuses_an_inspector_with_an_organisation(admin_client, staff, org):
    data = form_data(admin_client.get(admin_url(User, "change", staff.pk)))
    data["role"] = User.Role.INSPECTOR
    response = admin_client.post(admin_url(User, "change", staff.pk), data)
    assert response.status_code == 200
    staff.refresh_from_db()
    assert staff.role == User.Role.STAFF


# --- API tokens ----------------------------------------------------------------------------------


def test_token_added_in_the_admin_shows_its_secret_once_and_stores_only_a_hash(admin_client, staff):
    response = admin_client.post(admin_url(ApiToken, "add"), {"user": staff.pk, "name": "RMS sync"}, follow=True)
    assert response.status_code == 200
    shown = [m for m in messages_of(response) if "will not be shown again" in m]
    assert len(shown) == 1
    secret = re.search(r"rt_[A-Za-z0-9_-]+", shown[0]).group()
    assert len(secret) > len("rt_") + 40

    token = ApiToken.objects.get()
    assert (token.user, token.name) == (staff, "RMS sync")
    assert token.digest == ApiToken.hash(secret)
    assert secret.startswith(token.prefix)
    stored = [str(value) for value in ApiToken.objects.values().get().values()]
    assert not any(secret in value for value in stored)

    # Never shown again: not on the next page, nor on the token's own page.
    assert secret not in admin_client.get(admin_url(ApiToken, "changelist")).content.decode()
    assert secret not in admin_client.get(admin_url(ApiToken, "change", token.pk)).content.decode()


def test_token_change_page_cannot_edit_the_secret_or_unrevoke(admin_client, admin_user):
    token, _ = ApiToken.issue(user=admin_user, name="old")
    token.revoked_at = timezone.now()
    token.save()
    data = form_data(admin_client.get(admin_url(ApiToken, "change", token.pk)))
    assert set(data) & {"digest", "prefix", "revoked_at", "user"} == set()
    data.update(name="renamed", revoked_at="", digest="0" * 64)
    assert admin_client.post(admin_url(ApiToken, "change", token.pk), data).status_code == 302
    token.refresh_from_db()
    assert token.name == "renamed"
    assert token.revoked_at is not None
    assert token.digest != "0" * 64


def test_revoke_action_revokes_selected_tokens(admin_client, admin_user):
    keep, _ = ApiToken.issue(user=admin_user, name="keep")
    revoke, _ = ApiToken.issue(user=admin_user, name="revoke")
    response = admin_client.post(
        admin_url(ApiToken, "changelist"), {"action": "revoke", "_selected_action": [revoke.pk]}, follow=True
    )
    assert "Revoked 1 token." in messages_of(response)
    assert list(ApiToken.objects.active()) == [keep]


def test_staff_without_superuser_cannot_reach_the_admin(client, db):
    user = StaffFactory(is_staff=False)
    client.force_login(user)
    response = client.get(admin_url(ActionPlan, "changelist"))
    assert response.status_code == 302
    assert "/admin/login/" in response.url
