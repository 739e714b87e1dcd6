"""What the API reads and writes. Output serializers describe rows; input serializers check the shape
of a request, then the view hands the values to a workflow function, which applies every rule."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import QueryDict
from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from inspections.models import Finding, FindingLink, Grading, Inspection, Organisation, Region

from .. import date_range, workflow
from ..evidence import check_upload
from ..models import (
    ActionPlan,
    Dependency,
    Evidence,
    Milestone,
    NoActionProposal,
    SuccessMeasure,
    Update,
    User,
    attach_dependencies,
)

# --- people, organisations, inspections, findings --------------------------------------------


class OutputSerializer(serializers.ModelSerializer):
    """A row as the API answers it. Every field is read-only, so the schema marks each one as present in
    every response (a nullable one may be null, never missing) and generated clients need no "unset"."""

    def get_extra_kwargs(self) -> dict[str, Any]:
        extra = super().get_extra_kwargs()
        for name in self.Meta.fields:
            extra[name] = {**extra.get(name, {}), "read_only": True}
        return extra

    def include_extra_kwargs(self, kwargs: dict[str, Any], extra_kwargs: dict[str, Any]) -> dict[str, Any]:
        # Read-only drops allow_blank, which the schema needs: a blank URL is "" rather than an address.
        allow_blank = kwargs.get("allow_blank", False)
        kwargs = super().include_extra_kwargs(kwargs, extra_kwargs)
        if allow_blank:
            kwargs["allow_blank"] = True
        return kwargs


class BlankAsNullChoiceField(serializers.ChoiceField):
    """A choice kept as an empty text in the database when there is none, answered as null."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(read_only=True, allow_null=True, **kwargs)

    def to_representation(self, value: Any) -> Any:
        return None if value in ("", None) else super().to_representation(value)


class PersonSerializer(OutputSerializer):
    name = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["username", "name"]

    def get_name(self, user: User) -> str:
        return user.get_full_name() or user.username


class RegionSerializer(OutputSerializer):
    class Meta:
        model = Region
        fields = ["slug", "name"]


class OrganisationSerializer(OutputSerializer):
    region = RegionSerializer(read_only=True, allow_null=True)

    class Meta:
        model = Organisation
        fields = ["slug", "name", "short_name", "kind", "region"]


class OrganisationRefSerializer(OutputSerializer):
    class Meta:
        model = Organisation
        fields = ["slug", "name"]


class GradingSerializer(OutputSerializer):
    organisation = OrganisationRefSerializer(read_only=True)

    class Meta:
        model = Grading
        fields = ["organisation", "area", "grade"]


class InspectionSerializer(OutputSerializer):
    gradings = GradingSerializer(many=True, read_only=True)

    class Meta:
        model = Inspection
        fields = ["slug", "title", "programme", "published_on", "report_url", "summary", "gradings"]


class LinkedFindingSerializer(OutputSerializer):
    inspection = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    published_on = serializers.DateField(source="inspection.published_on", read_only=True, allow_null=True)

    class Meta:
        model = Finding
        fields = ["id", "inspection", "published_on", "reference"]


class FindingLinkSerializer(OutputSerializer):
    """One link between findings; `finding` is the one at the other end."""

    created_by = PersonSerializer(read_only=True, allow_null=True)

    class Meta:
        model = FindingLink
        fields = ["kind", "note", "created_by", "created_at"]


class EarlierLinkSerializer(FindingLinkSerializer):
    finding = LinkedFindingSerializer(source="earlier", read_only=True)

    class Meta(FindingLinkSerializer.Meta):
        fields = [*FindingLinkSerializer.Meta.fields, "finding"]


class LaterLinkSerializer(FindingLinkSerializer):
    finding = LinkedFindingSerializer(read_only=True)

    class Meta(FindingLinkSerializer.Meta):
        fields = [*FindingLinkSerializer.Meta.fields, "finding"]


# A finding's own closure criteria: the inspectorate's to set (on the finding's page), everyone's to read here.
WHAT_GOOD_LOOKS_LIKE = (
    "What good looks like for this finding, in the inspectorate's words (empty if not given). Read-only: set by "
    "the inspectorate on the finding's page."
)


class FindingSerializer(OutputSerializer):
    inspection = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    themes = serializers.SlugRelatedField(slug_field="slug", many=True, read_only=True)
    addressed_to = serializers.SlugRelatedField(slug_field="slug", many=True, read_only=True)
    supersedes = serializers.SerializerMethodField(help_text="Id of the earlier finding this one supersedes, if any.")
    links_to_earlier = EarlierLinkSerializer(
        source="links", many=True, read_only=True, help_text="Findings of earlier inspections this one repeats, "
        "supersedes or relates to."
    )  # fmt: skip
    links_from_later = LaterLinkSerializer(
        source="later_links", many=True, read_only=True, help_text="Findings raised since that link to this one."
    )

    class Meta:
        model = Finding
        fields = [
            "id",
            "inspection",
            "kind",
            "reference",
            "text",
            "what_good_looks_like",
            "themes",
            "due_by",
            "cause_of_concern",
            "supersedes",
            "addressed_to",
            "links_to_earlier",
            "links_from_later",
        ]
        extra_kwargs = {"what_good_looks_like": {"help_text": WHAT_GOOD_LOOKS_LIKE}}

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_supersedes(self, finding: Finding) -> int | None:
        return next(
            (link.earlier_id for link in finding.links.all() if link.kind == FindingLink.Kind.SUPERSEDES), None
        )


class FindingPlanSerializer(OutputSerializer):
    """One organisation's response to a finding, as the finding page shows it side by side."""

    organisation = OrganisationRefSerializer(read_only=True)
    stage = serializers.ChoiceField(choices=ActionPlan.Stage.choices, read_only=True)
    rag = serializers.ChoiceField(choices=ActionPlan.Rag.choices, read_only=True)

    class Meta:
        model = ActionPlan
        fields = ["id", "organisation", "status", "stage", "rag", "percent_complete", "target_date"]


class FindingDetailSerializer(FindingSerializer):
    plans = serializers.SerializerMethodField(help_text="The responses to this finding that you may see.")

    class Meta(FindingSerializer.Meta):
        fields = [*FindingSerializer.Meta.fields, "plans"]

    @extend_schema_field(FindingPlanSerializer(many=True))
    def get_plans(self, finding: Finding) -> list[dict[str, Any]]:
        return FindingPlanSerializer(self.context["plans"], many=True).data


# --- plans and their timeline ----------------------------------------------------------------


class FindingRefSerializer(OutputSerializer):
    inspection = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    inspection_title = serializers.CharField(source="inspection.title", read_only=True)

    class Meta:
        model = Finding
        fields = [
            "id", "inspection", "inspection_title", "reference", "kind", "text", "what_good_looks_like", "due_by",
        ]  # fmt: skip
        extra_kwargs = {"what_good_looks_like": {"help_text": WHAT_GOOD_LOOKS_LIKE}}


class WaitedOnPlanSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    organisation = OrganisationRefSerializer(read_only=True)
    finding = serializers.CharField(read_only=True, help_text="The finding's reference.")
    inspection = serializers.CharField(read_only=True, help_text="The inspection's title.")
    status = serializers.ChoiceField(choices=ActionPlan.Status.choices, read_only=True)
    status_display = serializers.CharField(read_only=True)


class WaitingOnSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=Dependency.Kind.choices, read_only=True)
    kind_display = serializers.CharField(read_only=True)
    name = serializers.CharField(read_only=True, allow_blank=True, help_text="The body, agency or procurement.")
    since = serializers.DateField(read_only=True, help_text="Blocked since.")
    plan = WaitedOnPlanSerializer(
        read_only=True, allow_null=True,
        help_text="The plan waited on, if you may see it (null otherwise, and for other kinds).",
    )  # fmt: skip
    plan_hidden = serializers.BooleanField(
        read_only=True, help_text="It waits on another organisation's plan that you may not see."
    )
    description = serializers.CharField(read_only=True, help_text="What it waits on, in words you may read.")


def waiting_on_data(plan: ActionPlan, user: User) -> dict[str, Any] | None:
    """A blocked plan's dependency as `user` may read it (None when the plan is not blocked or nothing
    is recorded); reads `plan.waits` where a page of plans was given it (`attach_dependencies`)."""
    if not hasattr(plan, "waits"):
        attach_dependencies([plan])
    waits = plan.waits
    if waits is None:
        return None
    shown = waits.shows_plan_to(user)
    other = waits.on_plan if shown else None
    return {
        "kind": waits.kind, "kind_display": waits.get_kind_display(), "name": waits.name, "since": waits.since,
        "plan": {
            "id": other.pk, "organisation": other.organisation, "finding": other.finding.reference,
            "inspection": other.finding.inspection.title, "status": other.status,
            "status_display": other.get_status_display(),
        } if other else None,
        "plan_hidden": waits.on_plan_id is not None and not shown,
        "description": waits.describe_for(user),
    }  # fmt: skip


class PlanSerializer(OutputSerializer):
    finding = FindingRefSerializer(read_only=True)
    organisation = OrganisationRefSerializer(read_only=True)
    owner = PersonSerializer(read_only=True, allow_null=True)
    status_display = serializers.CharField(source="get_status_display", read_only=True)
    stage = serializers.ChoiceField(
        choices=ActionPlan.Stage.choices,
        read_only=True,
        help_text="Where the plan stands, from its status: with_force (not started, in progress, blocked, "
        "submitted), awaiting_verification (signed off), verified (closed), ended (superseded, no further action).",
    )
    stage_display = serializers.CharField(source="get_stage_display", read_only=True)
    rag = serializers.ChoiceField(
        choices=ActionPlan.Rag.choices, read_only=True, help_text="Derived from status, target date and progress."
    )
    is_overdue = serializers.BooleanField(read_only=True)
    version = serializers.IntegerField(
        read_only=True, help_text="Send this back with any change; if the plan changed meanwhile you get 409."
    )
    is_recurrence = serializers.SerializerMethodField(
        help_text="The finding repeats an earlier one whose plan for this organisation had been closed as verified."
    )
    waiting_on = serializers.SerializerMethodField(
        help_text="While the plan is blocked: what it waits on and since when (null if not blocked or not recorded)."
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
            "stage",
            "stage_display",
            "rag",
            "is_overdue",
            "target_date",
            "original_target_date",
            "percent_complete",
            "version",
            "is_recurrence",
            "waiting_on",
            "updated_at",
        ]

    @extend_schema_field(WaitingOnSerializer(allow_null=True))
    def get_waiting_on(self, plan: ActionPlan) -> dict[str, Any] | None:
        data = waiting_on_data(plan, self.context["request"].user)
        return None if data is None else WaitingOnSerializer(data).data

    def get_is_recurrence(self, plan: ActionPlan) -> bool:
        value = getattr(plan, "is_recurrence", None)  # annotated by for_list() and for_detail()
        if value is None:
            value = ActionPlan.objects.filter(pk=plan.pk).recurrences().exists()
        return bool(value)


class MilestoneSerializer(OutputSerializer):
    owner = PersonSerializer(read_only=True, allow_null=True)
    is_overdue = serializers.BooleanField(read_only=True, help_text="Open and past its target date.")

    class Meta:
        model = Milestone
        fields = ["id", "position", "title", "owner", "target_date", "done_on", "note", "is_overdue"]


class MeasureSerializer(OutputSerializer):
    is_sustaining = serializers.BooleanField(
        read_only=True, help_text="Its demonstration period runs: sustained until a day still to come."
    )

    class Meta:
        model = SuccessMeasure
        fields = ["id", "position", "text", "target_figure", "sustain_until", "how_met", "is_sustaining"]


class NoActionProposalSerializer(OutputSerializer):
    proposed_by = PersonSerializer(read_only=True)
    accepted_by = PersonSerializer(read_only=True, allow_null=True, help_text="The manager who accepted the risk.")
    decided_by = PersonSerializer(read_only=True, allow_null=True)

    class Meta:
        model = NoActionProposal
        fields = [
            "id", "reason", "risk", "proposed_by", "proposed_at", "accepted_by", "accepted_on", "outcome",
            "decided_by", "decided_at", "decision_note",
        ]  # fmt: skip


class PlanDetailSerializer(PlanSerializer):
    actions = serializers.SerializerMethodField(
        help_text=(
            "What you may do to this plan now: the names of its workflow endpoints (e.g. `sign-off`), "
            "where `progress` means `POST updates/`."
        )
    )
    links_to_earlier = serializers.SerializerMethodField(
        help_text="Findings of earlier inspections that this plan's finding repeats, supersedes or relates to."
    )
    web_url = serializers.SerializerMethodField()
    milestones = MilestoneSerializer(
        many=True, read_only=True,
        help_text="The plan's milestones in order (also at `milestones/`). While it has any, `percent_complete` "
        "is the share of them done.",
    )  # fmt: skip

    measures = MeasureSerializer(
        many=True, read_only=True,
        help_text="The plan's success measures in order (also at `measures/`). While one is sustaining, the plan "
        "cannot be verified as closed.",
    )  # fmt: skip

    no_action_proposal = NoActionProposalSerializer(
        read_only=True, allow_null=True,
        help_text="The latest proposal that no action be taken, if any: its reason and risk, who accepted the risk "
        "and when, and the inspectorate's decision.",
    )  # fmt: skip

    class Meta(PlanSerializer.Meta):
        fields = [
            *PlanSerializer.Meta.fields,
            "milestones",
            "measures",
            "no_action_proposal",
            "summary",
            "deferral_count",
            "superseded_by",
            "created_at",
            "actions",
            "links_to_earlier",
            "web_url",
        ]

    @extend_schema_field(EarlierLinkSerializer(many=True))
    def get_links_to_earlier(self, plan: ActionPlan) -> list[dict[str, Any]]:
        links = plan.finding.links.select_related("earlier__inspection", "created_by")
        return EarlierLinkSerializer(links, many=True).data

    def get_actions(self, plan: ActionPlan) -> list[str]:
        return self.context["actions"](plan)

    def get_web_url(self, plan: ActionPlan) -> str:
        return self.context["request"].build_absolute_uri(plan.get_absolute_url())


class EvidenceSerializer(OutputSerializer):
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


class UpdateSerializer(OutputSerializer):
    author = PersonSerializer(read_only=True)
    evidence = EvidenceSerializer(many=True, read_only=True)
    status_from = BlankAsNullChoiceField(
        choices=ActionPlan.Status.choices, help_text="The plan's status before this entry; null if it did not change."
    )
    status_to = BlankAsNullChoiceField(
        choices=ActionPlan.Status.choices, help_text="The plan's status after this entry; null if it did not change."
    )

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
                check_upload(upload, scan=False)  # field errors early; the workflow scans before storing
            except DjangoValidationError as error:
                errors.extend(error.messages)
        if errors:
            raise serializers.ValidationError(errors)
        return files


class NoteInput(serializers.Serializer):
    version = _version_field()
    note = serializers.CharField(max_length=10_000)


class BlockInput(NoteInput):
    waiting_on = serializers.ChoiceField(
        choices=Dependency.Kind.choices, required=False, default=Dependency.Kind.OTHER,
        help_text="What the plan waits on; with `other` the note says what.",
    )  # fmt: skip
    waiting_on_name = serializers.CharField(
        max_length=200, required=False, default="", allow_blank=True,
        help_text="The national body, partner agency or procurement it waits on (required for those kinds).",
    )  # fmt: skip
    waiting_on_plan = serializers.IntegerField(
        required=False, allow_null=True, default=None, min_value=1,
        help_text="With `plan`: the number of the plan it waits on, of the same organisation or another "
        "organisation in the same region.",
    )  # fmt: skip
    blocked_since = serializers.DateField(
        required=False, allow_null=True, default=None,
        help_text=f"Since when (not later than today; {date_range.DESCRIBED}); default today.",
    )  # fmt: skip


class DependencyInput(BlockInput):
    note = serializers.CharField(max_length=10_000, help_text="What has changed about what the plan waits on.")
    waiting_on = serializers.ChoiceField(
        choices=Dependency.Kind.choices, help_text="What the plan waits on now; with `other` the note says what."
    )
    blocked_since = serializers.DateField(
        required=False, allow_null=True, default=None,
        help_text=f"Since when (not later than today; {date_range.DESCRIBED}); kept as it was when null or absent.",
    )  # fmt: skip


class FormNullableIntegerField(serializers.IntegerField):
    """Form data has no null: there an empty value, `null` or `None` (what generated clients send for an
    explicit null in multipart) means none, as null does in JSON."""

    FORM_NULLS = ("", "null", "None")

    def validate_empty_values(self, data: Any) -> tuple[bool, Any]:
        sent_as_form = isinstance(getattr(self.root, "initial_data", None), QueryDict)
        if self.allow_null and sent_as_form and data in self.FORM_NULLS:
            return (True, None)
        return super().validate_empty_values(data)


class ProgressInput(serializers.Serializer):
    version = _version_field()
    note = serializers.CharField(max_length=10_000, help_text="What has been done.")
    percent_complete = FormNullableIntegerField(
        min_value=0, max_value=100, required=False, allow_null=True, help_text="Left as it was when null or absent."
    )


class ProgressUploadInput(ProgressInput):
    files = EvidenceFilesField(required=False, help_text="Evidence files.")


class EvidenceInput(serializers.Serializer):
    version = _version_field()
    note = serializers.CharField(max_length=10_000, help_text="What the files show.")
    files = EvidenceFilesField(min_length=1, help_text="One or more evidence files.")


class SubmitInput(serializers.Serializer):
    version = _version_field()
    statement = serializers.CharField(max_length=10_000, help_text="Closure statement: what was done.")
    open_milestones = serializers.CharField(
        max_length=10_000, required=False, allow_blank=True,
        help_text="Needed while any of the plan's milestones is open: why the plan is ready without it.",
    )  # fmt: skip
    measures_met = serializers.DictField(
        child=serializers.CharField(max_length=10_000), required=False, default=dict,
        help_text="How each of the plan's success measures was met, keyed by the measure's id; every measure needs "
        "an answer. As form data, one field `measures_met.<id>` per measure.",
    )  # fmt: skip


class SubmitUploadInput(SubmitInput):
    files = EvidenceFilesField(
        required=False, help_text="Evidence files; at least one is needed here or earlier in the timeline."
    )


class CommentInput(serializers.Serializer):
    version = _version_field()
    comment = serializers.CharField(max_length=10_000)


class TargetDateInput(serializers.Serializer):
    version = _version_field()
    target_date = serializers.DateField(help_text=f"Today or later ({date_range.DESCRIBED}).")
    reason = serializers.CharField(max_length=10_000)

    def validate_target_date(self, value: dt.date) -> dt.date:
        try:
            workflow.check_new_target_date(value)
        except DjangoValidationError as error:
            raise serializers.ValidationError(error.messages) from error
        return value


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
            self.fields["owner"].queryset = plan.possible_owners()


class _PlanPeople(serializers.Serializer):
    """An input naming a person of the plan's organisation (by username) and, where it has one, one of the
    plan's milestones (by id): others are refused as not found, never revealed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        plan = self.context.get("plan")
        if plan is not None:
            if "owner" in self.fields:
                self.fields["owner"].queryset = plan.possible_owners()
            if "milestone" in self.fields:
                self.fields["milestone"].queryset = Milestone.objects.filter(plan_id=plan.pk)


def _milestone_field() -> serializers.PrimaryKeyRelatedField:
    return serializers.PrimaryKeyRelatedField(
        queryset=Milestone.objects.none(), help_text="Id of one of the plan's milestones."
    )


class MilestoneInput(_PlanPeople):
    version = _version_field()
    title = serializers.CharField(max_length=200)
    owner = serializers.SlugRelatedField(
        slug_field="username", queryset=User.objects.none(), allow_null=True, required=False, default=None,
        help_text="Username of an active member of the plan's organisation, or null.",
    )  # fmt: skip
    target_date = serializers.DateField(
        required=False, allow_null=True, default=None, help_text=f"When it is due ({date_range.DESCRIBED})."
    )
    note = serializers.CharField(max_length=10_000, required=False, default="", allow_blank=True)


KEPT_WHEN_ABSENT = "Kept as it was when absent."


class MilestoneEditInput(_PlanPeople):
    """A change to one of the plan's milestones: a field left out keeps its current value; one sent empty
    (`owner` or `target_date` as null, `note` as "") clears it."""

    version = _version_field()
    milestone = _milestone_field()
    title = serializers.CharField(max_length=200, required=False, help_text=KEPT_WHEN_ABSENT)
    owner = serializers.SlugRelatedField(
        slug_field="username", queryset=User.objects.none(), allow_null=True, required=False,
        help_text=f"Username of an active member of the plan's organisation; null clears it. {KEPT_WHEN_ABSENT}",
    )  # fmt: skip
    target_date = serializers.DateField(
        required=False,
        allow_null=True,
        help_text=f"The milestone's date ({date_range.DESCRIBED}); null clears it. {KEPT_WHEN_ABSENT}",
    )
    note = serializers.CharField(
        max_length=10_000, required=False, allow_blank=True, help_text=f'"" clears it. {KEPT_WHEN_ABSENT}'
    )


class MilestoneCompleteInput(_PlanPeople):
    version = _version_field()
    milestone = _milestone_field()
    done_on = serializers.DateField(
        required=False,
        allow_null=True,
        default=None,
        help_text=f"When it was done (not later than today; {date_range.DESCRIBED}); default today.",
    )
    note = serializers.CharField(max_length=10_000, required=False, default="", allow_blank=True)


class MilestoneReopenInput(_PlanPeople):
    version = _version_field()
    milestone = _milestone_field()
    reason = serializers.CharField(max_length=10_000)


class MilestoneMoveInput(_PlanPeople):
    version = _version_field()
    milestone = _milestone_field()
    direction = serializers.ChoiceField(choices=["up", "down"])


def _measure_field() -> serializers.PrimaryKeyRelatedField:
    return serializers.PrimaryKeyRelatedField(
        queryset=SuccessMeasure.objects.none(), help_text="Id of one of the plan's success measures."
    )


class _PlanMeasure(serializers.Serializer):
    """An input naming one of the plan's success measures (by id): others are refused as not found."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        plan = self.context.get("plan")
        if plan is not None and "measure" in self.fields:
            self.fields["measure"].queryset = SuccessMeasure.objects.filter(plan_id=plan.pk)


class MeasureInput(_PlanMeasure):
    version = _version_field()
    text = serializers.CharField(max_length=500, help_text="What will be true when the finding is answered.")
    target_figure = serializers.CharField(max_length=100, required=False, default="", allow_blank=True)
    sustain_until = serializers.DateField(
        required=False, allow_null=True, default=None,
        help_text=f"The end of a demonstration period: the plan cannot be verified as closed before it "
        f"({date_range.DESCRIBED}).",
    )  # fmt: skip


class MeasureEditInput(_PlanMeasure):
    """A change to one of the plan's success measures: a field left out keeps its current value; one sent
    empty (`target_figure` as "", `sustain_until` as null) clears it."""

    version = _version_field()
    measure = _measure_field()
    text = serializers.CharField(
        max_length=500, required=False,
        help_text=f"What will be true when the finding is answered. {KEPT_WHEN_ABSENT}",
    )  # fmt: skip
    target_figure = serializers.CharField(
        max_length=100, required=False, allow_blank=True, help_text=f'"" clears it. {KEPT_WHEN_ABSENT}'
    )
    sustain_until = serializers.DateField(
        required=False, allow_null=True,
        help_text=f"The end of a demonstration period ({date_range.DESCRIBED}): the plan cannot be verified as "
        f"closed before it; null clears it (and so ends the period). {KEPT_WHEN_ABSENT}",
    )  # fmt: skip


class MeasureRemoveInput(_PlanMeasure):
    version = _version_field()
    measure = _measure_field()
    reason = serializers.CharField(max_length=10_000)


class NoActionProposalInput(serializers.Serializer):
    version = _version_field()
    reason = serializers.CharField(max_length=10_000, help_text="Why no action is to be taken.")
    risk = serializers.CharField(max_length=10_000, help_text="The risk that taking no action leaves.")


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
            self.fields["superseding_finding"].queryset = plan.finding.superseding_findings().select_related(
                "inspection"
            )


class DiscussionInput(serializers.Serializer):
    note = serializers.CharField(max_length=10_000)


# --- errors (for the schema) -----------------------------------------------------------------


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()


class StaleVersionSerializer(serializers.Serializer):
    detail = serializers.CharField()
    code = serializers.CharField()
    current_version = serializers.IntegerField()
