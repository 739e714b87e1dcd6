"""The REST API (`/api/v1/`). As thin as the pages: the same scoped querysets, permission functions
and workflow functions; serializers only check the shape of a request.

DRF marks its views `login_not_required`, so `LoginRequiredMiddleware` leaves them alone and an
anonymous request gets DRF's 401 (JSON) from `IsAuthenticated`, the default permission class.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
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
from rest_framework.decorators import action as rest_action
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import BaseParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from inspections.models import Finding, FindingLink, Grading, Inspection, Organisation, report_order

from .. import actions
from ..filters import DEFAULT_ORDERING, ActionPlanFilter
from ..forms import SearchForm
from ..http import evidence_file_response
from ..models import ActionPlan, Evidence, SearchEntry, attach_dependencies
from ..search import search
from . import serializers as s

S = ActionPlan.Status


@csrf_exempt  # it changes nothing, and a refused CSRF check would answer in HTML
@login_not_required
def not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """Unknown paths under /api/ answer in JSON, as the API's other errors do."""
    return JsonResponse({"detail": "Not found."}, status=404)


class ListFiltersOnly:
    """The list's filters narrow the list only: an object's own endpoints ignore query parameters (so a
    read of one object is never a 400, and a filter cannot hide it)."""

    action: str | None

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        return super().filter_queryset(queryset) if self.action == "list" else queryset  # type: ignore[misc]


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
class FindingViewSet(ListFiltersOnly, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    queryset = (
        Finding.objects.select_related("inspection")
        .prefetch_related(
            "themes",
            "addressed_to",
            Prefetch("links", queryset=FindingLink.objects.select_related("earlier__inspection", "created_by")),
            Prefetch("later_links", queryset=FindingLink.objects.select_related("finding__inspection", "created_by")),
        )
        .order_by("inspection__published_on", "inspection__slug", *report_order(), "pk")
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


PLAN_FILTER_NOTE = (
    "The same filters as the `/plans/` page. `status` and `stage` may repeat. `sort` takes `target_date`, `status`, "
    "`organisation`, `updated` or `deferrals`, with `-` for descending, or the home page queues' orders `waiting` "
    "(longest in the present status first) and `returned` (returned longest ago first); ties are broken by id."
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


WITHOUT_FILES_AS_JSON = " Without files, the same fields may also be sent as JSON."


def success_status(action: actions.Action) -> int:
    """One rule for every change: a POST that adds an entry to one of the plan's lists (`updates/`,
    `evidence/`, `comments/`) answers 201 Created; a named action (`start/`, `submit/`, `sign-off/`...)
    answers 200 OK. The schema documents it and `PlanViewSet._change` answers it, so they cannot disagree."""
    return status.HTTP_201_CREATED if action.api_list else status.HTTP_200_OK


def _file_fields(action: actions.Action) -> list[s.EvidenceFilesField]:
    assert action.serializer_class is not None
    return [f for f in action.serializer_class().fields.values() if isinstance(f, s.EvidenceFilesField)]


def parsers_for(action: actions.Action) -> list[type[BaseParser]]:
    """The bodies a change takes (issue 20's contract): JSON, and multipart/form-data only where files may
    be sent. Any other media type (a form-encoded body, say) is a 415 (`exceptions.exception_handler`)."""
    return [JSONParser, MultiPartParser] if _file_fields(action) else [JSONParser]


def workflow_action(action: actions.Action) -> Callable:
    """Documents the endpoint of a change to a plan from its entry (`tracker.actions`).

    The body is documented as JSON, except where files may be sent: multipart/form-data only, so that a
    generated client has one way to send each request (`parsers_for` still takes JSON there)."""
    request = action.serializer_class
    files = _file_fields(action)
    description = action.description
    if files and not any(f.required for f in files):
        description += WITHOUT_FILES_AS_JSON
    media_type = "multipart/form-data" if files else "application/json"
    return extend_schema(
        summary=action.summary,
        description=description,
        request={media_type: request},
        responses={success_status(action): s.WorkflowResultSerializer},
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
class PlanViewSet(ListFiltersOnly, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
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

    def get_serializer_class(self) -> type[serializers.Serializer]:
        return s.PlanSerializer if self.action == "list" else s.PlanDetailSerializer

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "actions": partial(actions.in_api, self.request.user)}

    def paginate_queryset(self, queryset: Any) -> Any:
        page = super().paginate_queryset(queryset)
        # What each blocked plan of the page waits on, in one query (none if no plan is blocked).
        return attach_dependencies(page) if page is not None and self.action == "list" else page

    def get_parsers(self) -> list[BaseParser]:
        """A change's own media types (`parsers_for`); every other request, JSON only (the default)."""
        method = getattr(getattr(self, "request", None), "method", None) or ""
        name = getattr(self, "action_map", {}).get(method.lower(), "")
        action = getattr(getattr(self, name, None), "workflow_action", None) if name else None
        if action is None:
            return super().get_parsers()
        return [parser() for parser in parsers_for(action)]

    # --- timeline and evidence ---

    @extend_schema(summary="A plan's timeline, newest first", responses=s.UpdateSerializer(many=True))
    @rest_action(detail=True, methods=["get"], filter_backends=[])
    def updates(self, request: Request, pk: int) -> Response:
        plan = self.get_object()
        updates = plan.updates.select_related("author").prefetch_related(
            Prefetch("evidence", queryset=Evidence.objects.select_related("uploaded_by").order_by("uploaded_at", "pk"))
        )
        page = self.paginate_queryset(updates.order_by("-created_at", "-pk"))
        return self.get_paginated_response(
            s.UpdateSerializer(page, many=True, context=self.get_serializer_context()).data
        )

    @extend_schema(summary="A plan's evidence files", responses=s.EvidenceSerializer(many=True))
    @rest_action(detail=True, methods=["get"], filter_backends=[])
    def evidence(self, request: Request, pk: int) -> Response:
        plan = self.get_object()
        files = Evidence.objects.filter(update__plan=plan).select_related("uploaded_by", "update")
        page = self.paginate_queryset(files.order_by("uploaded_at", "pk"))
        return self.get_paginated_response(
            s.EvidenceSerializer(page, many=True, context=self.get_serializer_context()).data
        )

    # --- milestones (changes to them are the registry's actions: `POST milestones/`, `milestone-*/`) ---

    @extend_schema(
        summary="A plan's milestones, in order",
        description="The same list as the plan's `milestones`. While a plan has milestones its `percent_complete` "
        "is the share of them done.",
        responses=s.MilestoneSerializer(many=True),
    )
    @rest_action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def milestones(self, request: Request, pk: int) -> Response:
        plan = self.get_object()
        return Response(s.MilestoneSerializer(plan.milestones.select_related("owner"), many=True).data)

    @extend_schema(
        summary="A plan's success measures, in order",
        description="The same list as the plan's `measures`: what closes the plan, set by its organisation's "
        "managers, with how each was met once submitted.",
        responses=s.MeasureSerializer(many=True),
    )
    @rest_action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def measures(self, request: Request, pk: int) -> Response:
        plan = self.get_object()
        return Response(s.MeasureSerializer(plan.measures.all(), many=True).data)

    def _change(self, action: actions.Action) -> Response:
        """Scope, check the role (403 before looking at the request, as the page does), check the
        request's shape (400) with the serializer the schema documents, then let the workflow function
        apply the rules and write, and answer with the status the schema documents (`workflow_action`)."""
        plan = self.get_object()
        if not action.allowed(self.request.user, plan):
            raise PermissionDenied
        assert action.serializer_class is not None
        data = _validated(action.serializer_class, self.request, plan, self.get_serializer_context())
        update = action.call(plan=plan, user=self.request.user, data=data)
        plan = self.get_queryset().get(pk=plan.pk)
        context = self.get_serializer_context()
        result = s.WorkflowResultSerializer({"plan": plan, "update": update}, context=context).data
        return Response(result, success_status(action))


def _endpoint(action: actions.Action, name: str) -> Callable[..., Response]:
    def endpoint(self: PlanViewSet, request: Request, pk: int) -> Response:
        return self._change(action)

    endpoint.__name__ = endpoint.__qualname__ = name
    endpoint.workflow_action = action  # type: ignore[attr-defined]  # its media types: PlanViewSet.get_parsers
    return endpoint


def add_workflow_endpoints(viewset: type[PlanViewSet]) -> None:
    """One endpoint for each action of `tracker.actions` that has a request body (DESIGN section 4): `POST
    plans/<id>/<slug>/`, or, for an entry added to one of the plan's lists, `POST` to that list's path."""
    for action in actions.ACTIONS.values():
        read = getattr(viewset, action.api_path.replace("-", "_"), None)
        if read is not None and "get" not in read.mapping:
            read = None  # not a list: this action's own endpoint, already added
        name = f"add_{action.slug}" if read is not None else action.api_path.replace("-", "_")
        if not action.serializer or hasattr(viewset, name):  # not in the API, or already there
            continue
        if read is not None:  # the list's own GET: its POST adds to it
            endpoint = read.mapping.post(_endpoint(action, name))
        else:
            endpoint = rest_action(detail=True, methods=["post"], url_path=action.api_path)(_endpoint(action, name))
        setattr(viewset, name, workflow_action(action)(endpoint))


add_workflow_endpoints(PlanViewSet)


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
    @rest_action(detail=True, methods=["get"])
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


# --- search ----------------------------------------------------------------------------------


class SearchResultSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=SearchEntry.Kind.choices)
    title = serializers.CharField()
    url = serializers.CharField(help_text="The page (or, for evidence, the file) on this site.")
    snippet = serializers.CharField(help_text="HTML: the matched words in <mark> elements, everything else escaped.")
    date = serializers.DateField(allow_null=True)
    inspection = serializers.CharField()
    organisation = serializers.CharField(help_text="Empty for findings.")
    reference = serializers.CharField()
    score = serializers.FloatField(help_text="The database's rank: higher is better, within one search.")


class SearchResponseSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text="Matches you may see, at most 1,000 per kind.")
    count_is_lower_bound = serializers.BooleanField(help_text="True when some kind has more than 1,000 matches.")
    counts = serializers.DictField(child=serializers.IntegerField(), help_text="Per kind, at most 1,001.")
    page = serializers.IntegerField()
    pages = serializers.IntegerField()
    results = SearchResultSerializer(many=True)


@extend_schema_view(
    get=extend_schema(
        summary="Search findings, responses, progress notes, comments and evidence file names",
        description=(
            "The same search as `/search/`, over what you may see, best first. `q` takes words, "
            '"quoted phrases", `OR` and `-word`; without words the answer is empty. Filters: `kind`, '
            "`inspection` and `organisation` (slugs), `date_from`, `date_to`, `page` (20 results a page)."
        ),
        parameters=[
            OpenApiParameter("q", OpenApiTypes.STR),
            OpenApiParameter("kind", OpenApiTypes.STR, enum=SearchEntry.Kind.values),
            OpenApiParameter("inspection", OpenApiTypes.STR),
            OpenApiParameter("organisation", OpenApiTypes.STR),
            OpenApiParameter("date_from", OpenApiTypes.DATE),
            OpenApiParameter("date_to", OpenApiTypes.DATE),
            OpenApiParameter("page", OpenApiTypes.INT),
        ],
        responses=SearchResponseSerializer,
    )
)
class SearchView(GenericAPIView):
    filter_backends: list[type] = []
    serializer_class = SearchResponseSerializer

    def get(self, request: Request) -> Response:
        form = SearchForm(request.query_params, user=request.user)
        if not form.is_valid():
            return Response(form.errors.get_json_data(), status=status.HTTP_400_BAD_REQUEST)
        found = search(
            user=request.user, text=form.cleaned_data["q"], filters=form.filters(),
            page=form.cleaned_data["page"] or 1,
        )  # fmt: skip
        data = {
            "count": found.total,
            "count_is_lower_bound": found.capped,
            "counts": {kind: count for kind, _, count, _ in found.kind_counts()},
            "page": found.page,
            "pages": found.pages,
            "results": [
                {**vars(hit), "url": request.build_absolute_uri(hit.url), "snippet": str(hit.snippet)}
                for hit in found.results
            ],
        }
        return Response(SearchResponseSerializer(data).data)
