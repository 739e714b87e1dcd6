"""What the API reads and writes. Output serializers describe rows; input serializers check the shape
of a request, then the view hands the values to a workflow function, which applies every rule."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from inspections.models import Finding, Grading, Inspection, Organisation, Region

from ..evidence import check_upload
from ..models import ActionPlan, Evidence, Update, User

# --- people, organisations, inspections, findings --------------------------------------------


class PersonSerializer(serializers.ModelSerializer):
    name = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["username", "name"]

    def get_name(self, user: User) -> str:
        return user.get_full_name() or user.username


class RegionSerializer(serializers.ModelSerializer):
    class Meta:
        model = Region
        fields = ["slug", "name"]


class OrganisationSerializer(serializers.ModelSerializer):
    region = RegionSerializer(read_only=True, allow_null=True)

    class Meta:
        model = Organisation
        fields = ["slug", "name", "short_name", "kind", "region"]


class OrganisationRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Organisation
        fields = ["slug", "name"]


class GradingSerializer(serializers.ModelSerializer):
    organisation = OrganisationRefSerializer(read_only=True)

    class Meta:
        model = Grading
        fields = ["organisation", "area", "grade"]


class InspectionSerializer(serializers.ModelSerializer):
    gradings = GradingSerializer(many=True, read_only=True)

    class Meta:
        model = Inspection
        fields = ["slug", "title", "programme", "published_on", "report_url", "summary", "gradings"]


class FindingSerializer(serializers.ModelSerializer):
    inspection = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    themes = serializers.SlugRelatedField(slug_field="slug", many=True, read_only=True)
    addressed_to = serializers.SlugRelatedField(slug_field="slug", many=True, read_only=True)

    class Meta:
        model = Finding
        fields = [
            "id",
            "inspection",
            "kind",
            "reference",
            "text",
            "themes",
            "due_by",
            "cause_of_concern",
            "supersedes",
            "addressed_to",
        ]


class FindingPlanSerializer(serializers.ModelSerializer):
    """One organisation's response to a finding, as the finding page shows it side by side."""

    organisation = OrganisationRefSerializer(read_only=True)
    rag = serializers.ChoiceField(choices=ActionPlan.Rag.choices, read_only=True)

    class Meta:
        model = ActionPlan
        fields = ["id", "organisation", "status", "rag", "percent_complete", "target_date"]


class FindingDetailSerializer(FindingSerializer):
    plans = serializers.SerializerMethodField(help_text="The responses to this finding that you may see.")

    class Meta(FindingSerializer.Meta):
        fields = [*FindingSerializer.Meta.fields, "plans"]

    @extend_schema_field(FindingPlanSerializer(many=True))
    def get_plans(self, finding: Finding) -> list[dict[str, Any]]:
        return FindingPlanSerializer(self.context["plans"], many=True).data


# --- plans and their timeline ----------------------------------------------------------------


class FindingRefSerializer(serializers.ModelSerializer):
    inspection = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    inspection_title = serializers.CharField(source="inspection.title", read_only=True)

    class Meta:
        model = Finding
        fields = ["id", "inspection", "inspection_title", "reference", "kind", "text", "due_by"]


class PlanSerializer(serializers.ModelSerializer):
    finding = FindingRefSerializer(read_only=True)
    organisation = OrganisationRefSerializer(read_only=True)
    owner = PersonSerializer(read_only=True, allow_null=True)
    status_display = serializers.CharField(source="get_status_display", read_only=True)
    rag = serializers.ChoiceField(
        choices=ActionPlan.Rag.choices, read_only=True, help_text="Derived from status, target date and progress."
    )
    is_overdue = serializers.BooleanField(read_only=True)
    version = serializers.IntegerField(
        read_only=True, help_text="Send this back with any change; if the plan changed meanwhile you get 409."
    )

    class Meta:
        model = ActionPlan
        fields = [
            "id",
            "finding",
            "organisation",
            "owner",
            "status",
            "status_display",
            "rag",
            "is_overdue",
            "target_date",
            "original_target_date",
            "percent_complete",
            "version",
            "updated_at",
        ]


class PlanDetailSerializer(PlanSerializer):
    actions = serializers.SerializerMethodField(
        help_text=(
            "What you may do to this plan now: the names of its workflow endpoints (e.g. `sign-off`), "
            "where `progress` means `POST updates/`."
        )
    )
    web_url = serializers.SerializerMethodField()

    class Meta(PlanSerializer.Meta):
        fields = [
            *PlanSerializer.Meta.fields,
            "summary",
            "deferral_count",
            "superseded_by",
            "created_at",
            "actions",
            "web_url",
        ]

    def get_actions(self, plan: ActionPlan) -> list[str]:
        return self.context["actions"](plan)

    def get_web_url(self, plan: ActionPlan) -> str:
        return self.context["request"].build_absolute_uri(plan.get_absolute_url())


class EvidenceSerializer(serializers.ModelSerializer):
    uploaded_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    plan = serializers.IntegerField(source="update.plan_id", read_only=True)
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = Evidence
        fields = [
            "id",
            "plan",
            "update",
            "original_name",
            "size",
            "sha256",
            "content_type",
            "uploaded_by",
            "uploaded_at",
            "download_url",
        ]

    def get_download_url(self, evidence: Evidence) -> str:
        url = reverse("api:evidence-download", kwargs={"pk": evidence.pk})
        return self.context["request"].build_absolute_uri(url)


class UpdateSerializer(serializers.ModelSerializer):
    author = PersonSerializer(read_only=True)
    evidence = EvidenceSerializer(many=True, read_only=True)

    class Meta:
        model = Update
        fields = [
            "id",
            "plan",
            "kind",
            "author",
            "created_at",
            "note",
            "status_from",
            "status_to",
            "percent",
            "target_date_from",
            "target_date_to",
            "evidence",
        ]


class WorkflowResultSerializer(serializers.Serializer):
    """What every change answers: the plan as it now is (with its new version) and the timeline entry."""

    plan = PlanDetailSerializer(read_only=True)
    update = UpdateSerializer(read_only=True)


# --- requests --------------------------------------------------------------------------------


def _version_field() -> serializers.IntegerField:
    return serializers.IntegerField(
        min_value=1, help_text="The plan's `version` as you last read it (optimistic locking)."
    )


class EvidenceFilesField(serializers.ListField):
    """Evidence files, each checked by the same rules as the web forms (`tracker.evidence.check_upload`)."""

    child = serializers.FileField()

    def to_internal_value(self, data: Any) -> list:
        files = super().to_internal_value(data)
        errors = []
        for upload in files:
            try:
                check_upload(upload)
            except DjangoValidationError as error:
                errors.extend(error.messages)
        if errors:
            raise serializers.ValidationError(errors)
        return files


class NoteInput(serializers.Serializer):
    version = _version_field()
    note = serializers.CharField(max_length=10_000)


class ProgressInput(serializers.Serializer):
    version = _version_field()
    note = serializers.CharField(max_length=10_000, help_text="What has been done.")
    percent_complete = serializers.IntegerField(min_value=0, max_value=100, required=False, allow_null=True)


class ProgressUploadInput(ProgressInput):
    files = EvidenceFilesField(required=False, help_text="Evidence files.")


class EvidenceInput(serializers.Serializer):
    version = _version_field()
    note = serializers.CharField(max_length=10_000, help_text="What the files show.")
    files = EvidenceFilesField(min_length=1, help_text="One or more evidence files.")


class SubmitInput(serializers.Serializer):
    version = _version_field()
    statement = serializers.CharField(max_length=10_000, help_text="Closure statement: what was done.")


class SubmitUploadInput(SubmitInput):
    files = EvidenceFilesField(
        required=False, help_text="Evidence files; at least one is needed here or earlier in the timeline."
    )


class CommentInput(serializers.Serializer):
    version = _version_field()
    comment = serializers.CharField(max_length=10_000)


class TargetDateInput(serializers.Serializer):
    version = _version_field()
    target_date = serializers.DateField()
    reason = serializers.CharField(max_length=10_000)


class OwnerInput(serializers.Serializer):
    version = _version_field()
    owner = serializers.SlugRelatedField(
        slug_field="username",
        queryset=User.objects.none(),
        allow_null=True,
        help_text="Username of an active member of the plan's organisation, or null to unassign.",
    )
    note = serializers.CharField(max_length=10_000, required=False, default="", allow_blank=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Only the plan's own people can be named: other organisations' usernames are not revealed.
        plan = self.context.get("plan")
        if plan is not None:
            self.fields["owner"].queryset = User.objects.filter(organisation_id=plan.organisation_id, is_active=True)


class SupersedeInput(serializers.Serializer):
    version = _version_field()
    superseding_finding = serializers.PrimaryKeyRelatedField(
        queryset=Finding.objects.none(), help_text="Id of a finding recorded as superseding this plan's finding."
    )
    comment = serializers.CharField(max_length=10_000, required=False, default="", allow_blank=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        plan = self.context.get("plan")
        if plan is not None:
            self.fields["superseding_finding"].queryset = plan.finding.superseded_by.select_related("inspection")


class DiscussionInput(serializers.Serializer):
    note = serializers.CharField(max_length=10_000)


# --- errors (for the schema) -----------------------------------------------------------------


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()


class StaleVersionSerializer(serializers.Serializer):
    detail = serializers.CharField()
    code = serializers.CharField()
    current_version = serializers.IntegerField()
