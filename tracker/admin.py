"""Admin for the tracker: people, plans and their timelines, API tokens and digests.

A plan's status, percentage and dates only change through `tracker.workflow`, so they are read-only
here; the timeline (Update, Evidence) and the digest log can be viewed but never edited or deleted.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import NoReverseMatch
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from simple_history.admin import SimpleHistoryAdmin

from inspections.admin import FindingAdmin, FindingInline, GradingInline, InspectionAdmin
from inspections.models import Finding, Inspection

from . import date_range, people, sso, suggestions, workflow
from .models import (
    ActionPlan,
    ApiToken,
    DigestLog,
    Evidence,
    GroupMapping,
    Job,
    PccResponse,
    ResponseReminder,
    SignInIdentity,
    Update,
    User,
)


def _download_link(evidence: Evidence) -> str:
    """Evidence is served only by the permission-checked view, never from the media URL."""
    try:
        url = evidence.get_absolute_url()
    except NoReverseMatch:  # the site's views are not wired up (e.g. an admin-only deployment)
        return evidence.original_name
    return format_html('<a href="{}">{}</a>', url, evidence.original_name)


class ReadOnlyAdminMixin:
    """Viewable by administrators; never added, changed or deleted through the admin."""

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


admin.site.site_header = "Recommendation Tracker administration"
admin.site.site_title = "Recommendation Tracker admin"
admin.site.index_title = "Inspections, action plans and people"


class AcceptedDates:
    """The dates an administrator types are held to the range the tracker accepts (`tracker.date_range`),
    as the import holds the same columns."""

    def formfield_for_dbfield(self, db_field: models.Field, request: HttpRequest, **kwargs: Any) -> Any:
        formfield = super().formfield_for_dbfield(db_field, request, **kwargs)  # type: ignore[misc]
        if formfield is not None and type(db_field) is models.DateField:  # not a DateTimeField
            formfield.validators.append(date_range.check)
        return formfield


class AcceptedDatesFindingInline(AcceptedDates, FindingInline):
    pass


# --- inspections: publishing opens plans, which is tracker's business ---------------------------

admin.site.unregister(Inspection)


@admin.register(Inspection)
class PublishingInspectionAdmin(AcceptedDates, InspectionAdmin):
    actions = ["publish"]
    inlines = [GradingInline, AcceptedDatesFindingInline]

    @admin.action(description="Publish to addressed organisations", permissions=["change"])
    def publish(self, request: HttpRequest, queryset: QuerySet[Inspection]) -> None:
        opened = sum(workflow.publish_inspection(inspection=inspection) for inspection in queryset)
        inspections = len(queryset)
        if opened:
            self.message_user(
                request,
                f"Opened {opened} action plan{'s' if opened != 1 else ''} "
                f"across {inspections} inspection{'s' if inspections != 1 else ''}.",
                messages.SUCCESS,
            )
        else:
            self.message_user(request, "No plans opened: every addressed organisation already has one.", messages.INFO)


# --- findings: suggested links come from the search index, which is tracker's -------------------

admin.site.unregister(Finding)


@admin.register(Finding)
class SuggestingFindingAdmin(AcceptedDates, FindingAdmin):
    """A finding's admin page lists the earlier findings it may repeat, to accept or dismiss on its page."""

    readonly_fields = ["suggested_links"]

    def get_fieldsets(self, request, obj=None):  # type: ignore[no-untyped-def]
        fieldsets = list(super().get_fieldsets(request, obj))
        return [*fieldsets, ("Suggested links", {"fields": ["suggested_links"]})] if obj is not None else fieldsets

    def response_add(self, request, obj, post_url_continue=None):  # type: ignore[no-untyped-def]
        found = suggestions.for_finding(obj)
        if found:
            listed = ", ".join(f"{s.earlier.reference} of {s.earlier.inspection.title}" for s in found)
            self.message_user(
                request,
                format_html(
                    '{} may repeat {}: <a href="{}#suggested">accept or dismiss on its page</a>.',
                    obj.reference, listed, obj.get_absolute_url(),
                ),
                messages.INFO,
            )  # fmt: skip
        return super().response_add(request, obj, post_url_continue)

    @admin.display(description="may repeat")
    def suggested_links(self, obj: Finding) -> str:
        found = suggestions.for_finding(obj)
        if not found:
            return "No earlier finding to the same organisations shares enough words with this one."
        items = format_html_join(
            "", "<li>{} of {} ({})</li>",
            ((s.earlier.reference, s.earlier.inspection.title, s.earlier.inspection.published_on or "undated")
             for s in found),
        )  # fmt: skip
        return format_html(
            '<ul>{}</ul><p><a href="{}#suggested">Accept or dismiss each on the finding\'s page</a></p>',
            items, obj.get_absolute_url(),
        )  # fmt: skip


# --- people --------------------------------------------------------------------------------------


class SignInIdentityInline(admin.StackedInline):
    """The provider's account behind a single sign-on user: read-only, written at each sign-in."""

    model = SignInIdentity
    fields = ["issuer", "subject", "groups", "last_sign_in_at", "deactivated_by_provider"]
    readonly_fields = fields
    can_delete = True  # unlinking lets an administrator re-link the account to another identity
    extra = 0
    max_num = 0

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(User)
class UserAdmin(SimpleHistoryAdmin, DjangoUserAdmin):
    inlines = [SignInIdentityInline]
    fieldsets = (
        *DjangoUserAdmin.fieldsets[:2],
        ("Organisation and role", {"fields": ("organisation", "role", "receive_digest")}),
        *DjangoUserAdmin.fieldsets[2:],
    )
    add_fieldsets = (
        *DjangoUserAdmin.add_fieldsets,
        (
            "Organisation and role",
            {
                "classes": ("wide",),
                "fields": ("first_name", "last_name", "email", "organisation", "role"),
                "description": "Inspectors and administrators have no organisation.",
            },
        ),
    )
    list_display = ("username", "email", "first_name", "last_name", "organisation", "role", "is_active", "is_staff")
    list_filter = ("role", "organisation", "is_active", "is_staff", "is_superuser", "receive_digest")
    list_select_related = ("organisation",)
    autocomplete_fields = ("organisation",)
    actions = ["deactivate"]

    # Moving someone to another organisation or deactivating them releases the plans they owned in the
    # organisation they left, each with a timeline entry by the administrator (tracker/people.py);
    # deactivating also ends their access (sessions, API tokens: tracker/sso.py).
    def save_model(self, request: HttpRequest, obj: User, form: ModelForm, change: bool) -> None:
        obj.save(changed_by=request.user)
        if change and "is_active" in form.changed_data and not obj.is_active:
            sso.deactivate_user(user=obj, reason=f"deactivated in the admin by {request.user.get_username()}")

    def delete_model(self, request: HttpRequest, obj: User) -> None:
        people.release_before_deletion(obj, changed_by=request.user)
        super().delete_model(request, obj)

    @transaction.atomic
    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        for person in queryset:
            people.release_before_deletion(person, changed_by=request.user)
        super().delete_queryset(request, queryset)

    @admin.action(description="Deactivate selected people (their open plans lose their owner)", permissions=["change"])
    def deactivate(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        released = 0
        people_count = 0
        for person in queryset.filter(is_active=True):
            released += len(people.change_membership(person, is_active=False, changed_by=request.user))
            sso.deactivate_user(user=person, reason=f"deactivated in the admin by {request.user.get_username()}")
            people_count += 1
        self.message_user(
            request,
            f"Deactivated {people_count} {'person' if people_count == 1 else 'people'}; "
            f"{released} open plan{'' if released == 1 else 's'} now {'has' if released == 1 else 'have'} no owner.",
            messages.SUCCESS,
        )

    def get_inlines(self, request: HttpRequest, obj: User | None = None) -> list:
        # Only people who have signed in with the provider have an identity to show.
        return self.inlines if obj is not None and hasattr(obj, "sign_in_identity") else []


@admin.register(GroupMapping)
class GroupMappingAdmin(admin.ModelAdmin):
    """Single sign-on: which provider group gives which organisation and role (docs/SIGN-IN.md)."""

    list_display = ["value", "organisation", "role", "description"]
    list_filter = ["role", "organisation"]
    search_fields = ["value", "description", "organisation__name"]
    list_select_related = ["organisation"]
    autocomplete_fields = ["organisation"]


# --- plans and their timelines ------------------------------------------------------------------


class UpdateInline(admin.TabularInline):
    """The plan's timeline, newest first. Read-only: it is written only by the workflow."""

    model = Update
    fields = ["created_at", "kind", "author", "status_from", "status_to", "percent", "target_date_to", "note", "files"]
    readonly_fields = fields
    can_delete = False
    show_change_link = True
    extra = 0

    def get_queryset(self, request: HttpRequest) -> QuerySet[Update]:
        return super().get_queryset(request).select_related("author").prefetch_related("evidence")

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.display(description="evidence")
    def files(self, obj: Update) -> str:
        return format_html_join(", ", "{}", ((_download_link(e),) for e in obj.evidence.all()))


class ActionPlanForm(ModelForm):
    """Owner and response, changed through the workflow (tracker.workflow) like everywhere else: the
    form carries the plan's version, and a page that has gone stale is refused with the pages' message."""

    expected_version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)

    class Meta:
        model = ActionPlan
        fields = ["owner", "summary"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            self.fields["expected_version"].initial = self.instance.version

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        version = cleaned.get("expected_version")
        current = ActionPlan.objects.filter(pk=self.instance.pk).first()
        if current is not None and version is not None and version != current.version:
            # As on the plan page: the typed values stay, with the version now current, so that once the
            # administrator has read the newer entries, saving again applies the change.
            self.data = self.data.copy()
            self.data[self.add_prefix("expected_version")] = str(current.version)
            raise workflow.StaleVersion(current)
        return cleaned


@admin.register(ActionPlan)
class ActionPlanAdmin(SimpleHistoryAdmin):
    form = ActionPlanForm
    list_display = [
        "reference",
        "inspection",
        "organisation",
        "status",
        "rag",
        "owner",
        "target_date",
        "percent_complete",
        "updated_at",
    ]
    list_filter = ["status", "organisation", "finding__inspection", "finding__kind", "finding__themes"]
    search_fields = [
        "finding__reference",
        "finding__text",
        "finding__inspection__title",
        "organisation__name",
        "owner__username",
        "summary",
    ]
    list_select_related = ["finding__inspection", "organisation", "owner"]
    date_hierarchy = "target_date"
    fieldsets = [
        (None, {"fields": ["finding", "organisation", "owner", "summary", "expected_version"]}),
        (
            "Progress (changed only through the workflow)",
            {
                "fields": [
                    "status",
                    "rag",
                    "percent_complete",
                    "target_date",
                    "original_target_date",
                    "deferral_count",
                    "superseded_by",
                    "version",
                    "created_at",
                    "updated_at",
                ]
            },
        ),
    ]
    readonly_fields = [
        "finding",
        "organisation",
        "status",
        "rag",
        "percent_complete",
        "target_date",
        "original_target_date",
        "deferral_count",
        "superseded_by",
        "version",
        "created_at",
        "updated_at",
    ]
    inlines = [UpdateInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ActionPlan]:
        return super().get_queryset(request).with_rag()

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Plans are opened by publishing an inspection, one per (finding, addressee).
        return False

    def get_form(self, request, obj=None, change=False, **kwargs):  # type: ignore[no-untyped-def]
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is not None and "owner" in form.base_fields:
            form.base_fields["owner"].queryset = obj.possible_owners()
        return form

    def save_model(self, request: HttpRequest, obj: ActionPlan, form: ActionPlanForm, change: bool) -> None:
        """Each change through the workflow: the version checked on the locked row, a timeline entry, a
        new version. A change made between the form's check and this save is refused the same way."""
        plan = ActionPlan.objects.get(pk=obj.pk)
        version = form.cleaned_data["expected_version"]
        try:
            with transaction.atomic():
                if "owner" in form.changed_data:
                    workflow.assign_owner(plan=plan, user=request.user, owner=obj.owner,
                                          note="Changed in the admin.", expected_version=version)  # fmt: skip
                    version = plan.version
                if "summary" in form.changed_data:
                    workflow.edit_response(plan=plan, user=request.user, summary=obj.summary, expected_version=version)
        except ValidationError as error:  # StaleVersion included
            request.plan_refused = error  # type: ignore[attr-defined]

    def log_change(self, request: HttpRequest, obj: ActionPlan, message: Any) -> Any:
        if getattr(request, "plan_refused", None) is None:  # a refused change changed nothing
            return super().log_change(request, obj, message)
        return None

    def response_change(self, request: HttpRequest, obj: ActionPlan) -> HttpResponse:
        error = getattr(request, "plan_refused", None)
        if error is not None:
            self.message_user(request, " ".join(error.messages), messages.ERROR)
            return HttpResponseRedirect(request.path)
        return super().response_change(request, obj)

    @admin.display(description="finding", ordering="finding__reference")
    def reference(self, obj: ActionPlan) -> str:
        return obj.finding.reference

    @admin.display(description="inspection", ordering="finding__inspection__published_on")
    def inspection(self, obj: ActionPlan) -> Inspection:
        return obj.finding.inspection

    @admin.display(description="RAG", ordering="rag_value")
    def rag(self, obj: ActionPlan) -> str:
        return obj.get_rag_display()


class EvidenceInline(admin.TabularInline):
    model = Evidence
    fields = ["download", "size", "content_type", "sha256", "uploaded_by", "uploaded_at"]
    readonly_fields = fields
    can_delete = False
    show_change_link = True
    extra = 0

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.display(description="file")
    def download(self, obj: Evidence) -> str:
        return _download_link(obj)


@admin.register(Update)
class UpdateAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["created_at", "plan", "kind", "author", "status_from", "status_to", "percent"]
    list_filter = ["kind", "status_to", "plan__organisation", "plan__finding__inspection"]
    search_fields = ["note", "plan__finding__reference", "plan__organisation__name", "author__username"]
    list_select_related = ["plan__finding", "plan__organisation", "author"]
    date_hierarchy = "created_at"
    fields = [
        "plan",
        "created_at",
        "author",
        "kind",
        "note",
        "status_from",
        "status_to",
        "percent",
        "target_date_from",
        "target_date_to",
    ]
    readonly_fields = fields
    inlines = [EvidenceInline]


@admin.register(Evidence)
class EvidenceAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["original_name", "plan", "size", "content_type", "uploaded_by", "uploaded_at"]
    list_filter = ["content_type", "uploaded_at"]
    search_fields = ["original_name", "sha256", "update__plan__finding__reference", "uploaded_by__username"]
    list_select_related = ["update__plan__finding", "update__plan__organisation", "uploaded_by"]
    date_hierarchy = "uploaded_at"
    # No raw `file` field: its link would point at the media URL, bypassing the permission check.
    fields = ["download", "update", "size", "content_type", "sha256", "uploaded_by", "uploaded_at"]
    readonly_fields = fields

    @admin.display(description="file")
    def download(self, obj: Evidence) -> str:
        return _download_link(obj)

    @admin.display(description="plan", ordering="update__plan")
    def plan(self, obj: Evidence) -> ActionPlan:
        return obj.update.plan


# --- API tokens and digests ---------------------------------------------------------------------


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "prefix", "created_at", "last_used_at", "revoked_at", "is_active"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter), "created_at"]
    search_fields = ["name", "prefix", "user__username"]
    list_select_related = ["user"]
    autocomplete_fields = ["user"]
    actions = ["revoke"]

    def get_fields(self, request: HttpRequest, obj: ApiToken | None = None) -> list[str]:
        if obj is None:
            return ["user", "name"]
        return ["user", "name", "prefix", "created_at", "last_used_at", "revoked_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: ApiToken | None = None) -> list[str]:
        # Revoking is an action, never undone by clearing a date.
        return [] if obj is None else ["user", "prefix", "created_at", "last_used_at", "revoked_at"]

    def save_model(self, request: HttpRequest, obj: ApiToken, form: ModelForm, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        # The secret exists only here: the database keeps its hash, the admin sees it once.
        token, secret = ApiToken.issue(user=obj.user, name=obj.name)
        obj.pk, obj.prefix, obj.digest, obj.created_at = token.pk, token.prefix, token.digest, token.created_at
        obj._state.adding = False
        obj._state.db = token._state.db
        obj.issued_secret = secret  # type: ignore[attr-defined]

    def response_add(self, request: HttpRequest, obj: ApiToken, post_url_continue: str | None = None) -> HttpResponse:
        secret = getattr(obj, "issued_secret", None)
        if secret:
            self.message_user(
                request,
                f"The token for “{obj.name}” is {secret} — copy it now: it is stored only as a hash "
                "and will not be shown again.",
                messages.WARNING,
            )
        return super().response_add(request, obj, post_url_continue)

    @admin.display(boolean=True, description="active")
    def is_active(self, obj: ApiToken) -> bool:
        return obj.revoked_at is None

    @admin.action(description="Revoke selected tokens", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        count = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"Revoked {count} token{'s' if count != 1 else ''}.", messages.SUCCESS)


@admin.register(DigestLog)
class DigestLogAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["user", "sent_on", "sent_at", "plan_count"]
    list_filter = ["sent_on"]
    search_fields = ["user__username", "user__email"]
    list_select_related = ["user"]
    date_hierarchy = "sent_on"


@admin.register(Job)
class JobAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Background jobs (docs/JOBS.md), read-only: who asked, how it went, and why a failed one failed.
    Their files are downloaded only by their owners, from the job's page."""

    list_display = ["created_at", "kind", "user", "status", "done", "total", "finished_at"]
    list_filter = ["kind", "status"]
    search_fields = ["user__username", "message"]
    list_select_related = ["user"]
    exclude = ["file"]
    date_hierarchy = "created_at"


@admin.register(PccResponse)
class PccResponseAdmin(admin.ModelAdmin):
    """Recorded 56-day responses (recorded by the organisation's managers on the inspection page). Viewed
    here, and deleted when one was recorded by mistake (its manager can then record the right one); never
    added or changed here, so every file goes through the upload checks."""

    list_display = ["inspection", "organisation", "published_on", "original_name", "uploaded_by", "uploaded_at"]
    list_filter = ["published_on"]
    search_fields = ["inspection__title", "organisation__name", "original_name"]
    list_select_related = ["inspection", "organisation", "uploaded_by"]
    readonly_fields = ["inspection", "organisation", "published_on", "file", "original_name", "size", "sha256",
                       "content_type", "uploaded_by", "uploaded_at"]  # fmt: skip

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def delete_model(self, request: HttpRequest, obj: PccResponse) -> None:
        name = obj.file.name
        super().delete_model(request, obj)
        transaction.on_commit(lambda: obj.file.storage.delete(name))


@admin.register(ResponseReminder)
class ResponseReminderAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["user", "inspection", "organisation", "days_before", "sent_on"]
    list_select_related = ["user", "inspection", "organisation"]
