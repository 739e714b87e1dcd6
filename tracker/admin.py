"""Admin for the tracker: people, plans and their timelines, API tokens and digests.

A plan's status, percentage and dates only change through `tracker.workflow`, so they are read-only
here; the timeline (Update, Evidence) and the digest log can be viewed but never edited or deleted.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest, HttpResponse
from django.urls import NoReverseMatch
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from simple_history.admin import SimpleHistoryAdmin

from inspections.admin import InspectionAdmin
from inspections.models import Inspection

from . import workflow
from .models import ActionPlan, ApiToken, DigestLog, Evidence, Update, User


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


# --- inspections: publishing opens plans, which is tracker's business ---------------------------

admin.site.unregister(Inspection)


@admin.register(Inspection)
class PublishingInspectionAdmin(InspectionAdmin):
    actions = ["publish"]

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


# --- people --------------------------------------------------------------------------------------


@admin.register(User)
class UserAdmin(SimpleHistoryAdmin, DjangoUserAdmin):
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
    class Meta:
        model = ActionPlan
        fields = ["owner", "summary"]


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
        (None, {"fields": ["finding", "organisation", "owner", "summary"]}),
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
            form.base_fields["owner"].queryset = User.objects.filter(
                organisation_id=obj.organisation_id, is_active=True
            )
        return form

    def save_model(self, request: HttpRequest, obj: ActionPlan, form: ActionPlanForm, change: bool) -> None:
        obj._history_user = request.user  # type: ignore[attr-defined]
        # The owner change goes through the workflow so the plan's timeline records it.
        if "owner" in form.changed_data:
            current = ActionPlan.objects.get(pk=obj.pk)
            workflow.assign_owner(plan=current, user=request.user, owner=obj.owner, note="Changed in the admin.")
        if "summary" in form.changed_data:
            obj.save(update_fields=["summary"])

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
