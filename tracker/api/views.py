"""The REST API (`/api/v1/`). As thin as the pages: the same scoped querysets, permission functions
and workflow functions; serializers only check the shape of a request.

DRF marks its views `login_not_required`, so `LoginRequiredMiddleware` leaves them alone and an
anonymous request gets DRF's 401 (JSON) from `IsAuthenticated`, the default permission class.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import django_filters
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch, QuerySet
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from drf_spectacular.views import SpectacularSwaggerView
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from inspections.models import Finding, Grading, Inspection, Organisation

from .. import permissions, workflow
from ..filters import DEFAULT_ORDERING, ActionPlanFilter
from ..models import ActionPlan, Evidence, Update, User
from ..views import available_actions, evidence_file_response
from . import serializers as s

S = ActionPlan.Status


@csrf_exempt  # it changes nothing, and a refused CSRF check would answer in HTML
@login_not_required
def not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """Unknown paths under /api/ answer in JSON, as the API's other errors do."""
    return JsonResponse({"detail": "Not found."}, status=404)


# --- organisations, inspections, findings ----------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="List organisations"),
    retrieve=extend_schema(summary="One organisation"),
)
class OrganisationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Forces, regional units and other bodies that findings are addressed to."""

    queryset = Organisation.objects.select_related("region").order_by("name", "pk")
    serializer_class = s.OrganisationSerializer
    lookup_field = "slug"
    lookup_value_converter = "slug"
    filter_backends: list[type] = []


@extend_schema_view(
    list=extend_schema(summary="List inspections with their gradings"),
    retrieve=extend_schema(summary="One inspection with its gradings"),
)
class InspectionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    queryset = Inspection.objects.prefetch_related(
        Prefetch(
            "gradings", queryset=Grading.objects.select_related("organisation").order_by("organisation__name", "area")
        )
    ).order_by("-published_on", "title", "pk")
    serializer_class = s.InspectionSerializer
    lookup_field = "slug"
    lookup_value_converter = "slug"
    filter_backends: list[type] = []


class FindingFilter(django_filters.FilterSet):
    inspection = django_filters.CharFilter(field_name="inspection__slug", help_text="Inspection slug.")
    kind = django_filters.ChoiceFilter(choices=Finding.Kind.choices)
    addressed_to = django_filters.CharFilter(
        field_name="addressed_to__slug", help_text="Slug of an organisation the finding is addressed to."
    )

    class Meta:
        model = Finding
        fields: list[str] = []


@extend_schema_view(
    list=extend_schema(summary="List findings"),
    retrieve=extend_schema(summary="One finding, with the responses to it that you may see"),
)
class FindingViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    queryset = (
        Finding.objects.select_related("inspection")
        .prefetch_related("themes", "addressed_to")
        .order_by("inspection__published_on", "inspection__slug", "reference", "pk")
    )
    filter_backends = [DjangoFilterBackend]
    filterset_class = FindingFilter
    lookup_value_converter = "int"

    def get_serializer_class(self) -> type[serializers.Serializer]:
        return s.FindingDetailSerializer if self.action == "retrieve" else s.FindingSerializer

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        finding = self.get_object()
        plans = (
            ActionPlan.objects.visible_to(request.user)
            .filter(finding=finding)
            .select_related("organisation")
            .with_rag()
            .order_by("organisation__name", "pk")
        )
        context = {**self.get_serializer_context(), "plans": plans}
        return Response(s.FindingDetailSerializer(finding, context=context).data)


# --- plans -----------------------------------------------------------------------------------


class PlanFilterBackend(DjangoFilterBackend):
    """The `/plans/` filters, given the user as the page gives them.

    Every `sort` the filters offer ends with the id (`filters.SORTS`), so pages never repeat or skip rows.
    """

    def get_filterset_kwargs(self, request: Request, queryset: QuerySet, view: Any) -> dict[str, Any]:
        return {**super().get_filterset_kwargs(request, queryset, view), "user": request.user}


def plan_actions(user: User, plan: ActionPlan) -> list[str]:
    """The action endpoints this user may call on this plan now, from the same list the plan page uses."""
    slugs = [a.slug for a in available_actions(user, plan)]
    if "progress" in slugs:
        slugs.insert(slugs.index("progress") + 1, "evidence")
        if plan.status == S.NOT_STARTED:
            slugs.insert(0, "start")
    if permissions.can_comment(user, plan):
        slugs.append("comments")
    return slugs


PLAN_FILTER_NOTE = (
    "The same filters as the `/plans/` page. `status` may repeat. `sort` takes `target_date`, `status`, "
    "`organisation`, `updated` or `deferrals`, with `-` for descending; ties are broken by id."
)
OWNER_PARAMETER = OpenApiParameter(
    "owner", OpenApiTypes.STR, description="`me`, `unassigned`, or the username of someone in your organisation."
)
ORGANISATION_PARAMETER = OpenApiParameter(
    "organisation", OpenApiTypes.STR, description="Organisation slug (yours, unless you see every organisation)."
)
REGION_PARAMETER = OpenApiParameter(
    "region", OpenApiTypes.STR, description="Region slug, or `none` for organisations in no region (inspectors only)."
)
INSPECTION_PARAMETER = OpenApiParameter("inspection", OpenApiTypes.STR, description="Inspection slug.")
THEME_PARAMETER = OpenApiParameter("theme", OpenApiTypes.STR, description="Theme slug.")


def _change_schema(summary: str, request: type[serializers.Serializer], description: str = "") -> Callable:
    return extend_schema(
        summary=summary,
        description=description,
        request=request,
        responses={200: s.WorkflowResultSerializer},
        tags=["workflow"],
    )


def _upload_schema(
    summary: str,
    upload: type[serializers.Serializer],
    plain: type[serializers.Serializer] | None,
    description: str = "",
) -> Callable:
    # Files need multipart/form-data; a request without files may be JSON as well.
    request: dict[str, type[serializers.Serializer]] = {"multipart/form-data": upload}
    if plain is not None:
        request["application/json"] = plain
    return extend_schema(
        summary=summary,
        description=description,
        request=request,
        responses={201: s.WorkflowResultSerializer},
        tags=["workflow"],
    )


@extend_schema_view(
    list=extend_schema(
        summary="List action plans you may see",
        description=PLAN_FILTER_NOTE,
        parameters=[OWNER_PARAMETER, ORGANISATION_PARAMETER, REGION_PARAMETER, INSPECTION_PARAMETER, THEME_PARAMETER],
    ),
    retrieve=extend_schema(summary="One action plan, with its RAG and the actions you may take"),
)
class PlanViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Each organisation's response to a finding. Another organisation's plan is a 404."""

    filter_backends = [PlanFilterBackend]
    filterset_class = ActionPlanFilter
    lookup_value_converter = "int"
    request: Request

    def get_queryset(self) -> QuerySet[ActionPlan]:
        plans = ActionPlan.objects.visible_to(self.request.user)
        if self.action == "list":
            return plans.for_list().order_by(*DEFAULT_ORDERING)
        return plans.for_detail()

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        # The list filters narrow the list only; a plan's own endpoints ignore query parameters.
        return super().filter_queryset(queryset) if self.action == "list" else queryset

    def get_serializer_class(self) -> type[serializers.Serializer]:
        return s.PlanSerializer if self.action == "list" else s.PlanDetailSerializer

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "actions": lambda plan: plan_actions(self.request.user, plan)}

    # --- timeline and evidence ---

    @extend_schema(summary="A plan's timeline, newest first", responses=s.UpdateSerializer(many=True))
    @action(detail=True, methods=["get"], filter_backends=[])
    def updates(self, request: Request, pk: int) -> Response:
        plan = self.get_object()
        updates = plan.updates.select_related("author").prefetch_related(
            Prefetch("evidence", queryset=Evidence.objects.select_related("uploaded_by").order_by("uploaded_at", "pk"))
        )
        page = self.paginate_queryset(updates.order_by("-created_at", "-pk"))
        return self.get_paginated_response(
            s.UpdateSerializer(page, many=True, context=self.get_serializer_context()).data
        )

    @_upload_schema(
        "Record progress",
        s.ProgressUploadInput,
        s.ProgressInput,
        "A progress note, optionally with % complete and evidence files. On a not-started plan it also starts it.",
    )
    @updates.mapping.post
    def add_progress(self, request: Request, pk: int) -> Response:
        return self._change(
            permissions.can_record_progress,
            s.ProgressUploadInput,
            lambda plan, d: workflow.record_progress(
                plan=plan, user=request.user, note=d["note"], percent_complete=d.get("percent_complete"),
                files=d.get("files", []), expected_version=d["version"],
            ),
            status.HTTP_201_CREATED,
        )  # fmt: skip

    @extend_schema(summary="A plan's evidence files", responses=s.EvidenceSerializer(many=True))
    @action(detail=True, methods=["get"], filter_backends=[])
    def evidence(self, request: Request, pk: int) -> Response:
        plan = self.get_object()
        files = Evidence.objects.filter(update__plan=plan).select_related("uploaded_by", "update")
        page = self.paginate_queryset(files.order_by("uploaded_at", "pk"))
        return self.get_paginated_response(
            s.EvidenceSerializer(page, many=True, context=self.get_serializer_context()).data
        )

    @_upload_schema(
        "Upload evidence",
        s.EvidenceInput,
        None,
        "One or more files with a note saying what they show, recorded as a progress entry on the timeline.",
    )
    @evidence.mapping.post
    def upload_evidence(self, request: Request, pk: int) -> Response:
        return self._change(
            permissions.can_record_progress,
            s.EvidenceInput,
            lambda plan, d: workflow.record_progress(
                plan=plan, user=request.user, note=d["note"], files=d["files"], expected_version=d["version"]
            ),
            status.HTTP_201_CREATED,
        )

    @extend_schema(
        summary="Add to the discussion",
        description="Anyone who can see the plan may comment. Comments do not change the plan or its version.",
        request=s.DiscussionInput,
        responses={201: s.WorkflowResultSerializer},
        tags=["workflow"],
    )
    @action(detail=True, methods=["post"])
    def comments(self, request: Request, pk: int) -> Response:
        return self._change(
            permissions.can_comment,
            s.DiscussionInput,
            lambda plan, d: workflow.add_comment(plan=plan, user=request.user, note=d["note"]),
            status.HTTP_201_CREATED,
        )

    # --- the transitions of DESIGN section 4, then the managers' other changes ---

    @_change_schema("Start work (not started to in progress)", s.NoteInput)
    @action(detail=True, methods=["post"])
    def start(self, request: Request, pk: int) -> Response:
        return self._change(
            permissions.can_record_progress,
            s.NoteInput,
            lambda plan, d: workflow.start(
                plan=plan, user=request.user, note=d["note"], expected_version=d["version"]
            ),
        )

    @_change_schema("Mark blocked", s.NoteInput, "The note says what the plan is waiting on.")
    @action(detail=True, methods=["post"])
    def block(self, request: Request, pk: int) -> Response:
        return self._change(
            permissions.can_record_progress,
            s.NoteInput,
            lambda plan, d: workflow.mark_blocked(
                plan=plan, user=request.user, note=d["note"], expected_version=d["version"]
            ),
        )

    @_change_schema("Unblock (blocked to in progress)", s.NoteInput)
    @action(detail=True, methods=["post"])
    def unblock(self, request: Request, pk: int) -> Response:
        return self._change(
            permissions.can_record_progress,
            s.NoteInput,
            lambda plan, d: workflow.unblock(
                plan=plan, user=request.user, note=d["note"], expected_version=d["version"]
            ),
        )

    @_upload_schema(
        "Submit for sign-off",
        s.SubmitUploadInput,
        s.SubmitInput,
        "Closure statement plus at least one evidence file, sent now or already on the plan's timeline.",
    )
    @action(detail=True, methods=["post"])
    def submit(self, request: Request, pk: int) -> Response:
        return self._change(
            permissions.can_record_progress,
            s.SubmitUploadInput,
            lambda plan, d: workflow.submit_for_sign_off(
                plan=plan, user=request.user, statement=d["statement"], files=d.get("files", []),
                expected_version=d["version"],
            ),
        )  # fmt: skip

    @_change_schema("Sign off (managers)", s.CommentInput)
    @action(detail=True, methods=["post"], url_path="sign-off")
    def sign_off(self, request: Request, pk: int) -> Response:
        return self._change(
            permissions.can_manage,
            s.CommentInput,
            lambda plan, d: workflow.sign_off(
                plan=plan, user=request.user, comment=d["comment"], expected_version=d["version"]
            ),
        )

    @_change_schema("Return a submission to the owner (managers)", s.CommentInput, "The comment says why.")
    @action(detail=True, methods=["post"], url_path="return")
    def return_submission(self, request: Request, pk: int) -> Response:
        return self._change(
            permissions.can_manage,
            s.CommentInput,
            lambda plan, d: workflow.return_submission(
                plan=plan, user=request.user, comment=d["comment"], expected_version=d["version"]
            ),
        )

    @_change_schema("Verify and close (inspectors)", s.CommentInput)
    @action(detail=True, methods=["post"])
    def close(self, request: Request, pk: int) -> Response:
        return self._change(
            permissions.can_verify,
            s.CommentInput,
            lambda plan, d: workflow.close(
                plan=plan, user=request.user, comment=d["comment"], expected_version=d["version"]
            ),
        )

    @_change_schema("Reopen a signed-off plan (inspectors)", s.CommentInput, "The comment says why.")
    @action(detail=True, methods=["post"])
    def reopen(self, request: Request, pk: int) -> Response:
        return self._change(
            permissions.can_verify,
            s.CommentInput,
            lambda plan, d: workflow.reopen(
                plan=plan, user=request.user, comment=d["comment"], expected_version=d["version"]
            ),
        )

    @_change_schema("Mark superseded (inspectors)", s.SupersedeInput)
    @action(detail=True, methods=["post"])
    def supersede(self, request: Request, pk: int) -> Response:
        return self._change(
            permissions.can_verify,
            s.SupersedeInput,
            lambda plan, d: workflow.supersede(
                plan=plan, user=request.user, superseding_finding=d["superseding_finding"], comment=d["comment"],
                expected_version=d["version"],
            ),
        )  # fmt: skip

    @_change_schema("Record no further action (inspectors)", s.CommentInput, "The comment says why.")
    @action(detail=True, methods=["post"], url_path="no-further-action")
    def no_further_action(self, request: Request, pk: int) -> Response:
        return self._change(
            permissions.can_verify,
            s.CommentInput,
            lambda plan, d: workflow.no_further_action(
                plan=plan, user=request.user, comment=d["comment"], expected_version=d["version"]
            ),
        )

    @_change_schema("Change the target date (managers)", s.TargetDateInput, "The original date is kept.")
    @action(detail=True, methods=["post"], url_path="target-date")
    def target_date(self, request: Request, pk: int) -> Response:
        return self._change(
            permissions.can_manage,
            s.TargetDateInput,
            lambda plan, d: workflow.change_target_date(
                plan=plan, user=request.user, target_date=d["target_date"], reason=d["reason"],
                expected_version=d["version"],
            ),
        )  # fmt: skip

    @_change_schema("Assign or remove the owner (managers)", s.OwnerInput)
    @action(detail=True, methods=["post"])
    def owner(self, request: Request, pk: int) -> Response:
        return self._change(
            permissions.can_manage,
            s.OwnerInput,
            lambda plan, d: workflow.assign_owner(
                plan=plan, user=request.user, owner=d["owner"], note=d["note"], expected_version=d["version"]
            ),
        )

    def _change(
        self,
        allowed: Callable[[User, ActionPlan], bool],
        input_class: type[serializers.Serializer],
        call: Callable[[ActionPlan, dict[str, Any]], Update],
        status_code: int = status.HTTP_200_OK,
    ) -> Response:
        """Scope, check the role (403 before looking at the request, as the page does), check the
        request's shape (400), then let the workflow function apply the rules and write."""
        plan = self.get_object()
        if not allowed(self.request.user, plan):
            raise PermissionDenied
        data = _validated(input_class, self.request, plan, self.get_serializer_context())
        update = call(plan, data)
        plan = self.get_queryset().get(pk=plan.pk)
        context = self.get_serializer_context()
        return Response(
            s.WorkflowResultSerializer({"plan": plan, "update": update}, context=context).data, status_code
        )


def _validated(
    input_class: type[serializers.Serializer], request: Request, plan: ActionPlan, context: dict[str, Any]
) -> dict[str, Any]:
    serializer = input_class(data=request.data, context={**context, "plan": plan})
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


# --- evidence files --------------------------------------------------------------------------


@extend_schema_view(retrieve=extend_schema(summary="One evidence file's details"))
class EvidenceViewSet(mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Files attached to timeline entries; visible with the plan they belong to."""

    serializer_class = s.EvidenceSerializer
    filter_backends: list[type] = []
    lookup_value_converter = "int"

    def get_queryset(self) -> QuerySet[Evidence]:
        visible = ActionPlan.objects.visible_to(self.request.user)
        return Evidence.objects.filter(update__plan__in=visible).select_related("uploaded_by", "update")

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        # A client asking for the file's own type still gets it (and errors still come as JSON).
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        summary="Download an evidence file",
        description="Always an attachment (`application/octet-stream`, `nosniff`), as from the plan page.",
        responses={
            (200, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY, description="The file."),
        },
    )
    @action(detail=True, methods=["get"])
    def download(self, request: Request, pk: int) -> Any:
        return evidence_file_response(self.get_object())


# --- interactive documentation ---------------------------------------------------------------


class ApiDocsView(SpectacularSwaggerView):
    """Swagger UI from drf-spectacular-sidecar's static files, started by our own static script, so the
    page needs nothing beyond the site-wide Content-Security-Policy (no inline script or style)."""

    template_name = "tracker/api_docs.html"
    url_name = "api:schema"

    @classmethod
    def as_view(cls, **initkwargs: Any) -> Callable[..., Any]:
        view = super().as_view(**initkwargs)
        view.login_required = True  # a page: anonymous browsers are sent to log in, as everywhere else
        return view

    @extend_schema(exclude=True)
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        response = super().get(request, *args, **kwargs)
        # Keep the site-wide Cross-Origin-Opener-Policy (same-origin): no OAuth pop-up is used here.
        del response["Cross-Origin-Opener-Policy"]
        return response
