"""Pages. Views stay thin: scoped querysets in, workflow functions for every change, booleans to templates."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import Count, OuterRef, Prefetch, Q, Subquery
from django.db.models.functions import Length
from django.forms import Form
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.functional import cached_property
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST, require_safe
from django_filters.views import FilterView

from inspections.models import Finding, Inspection, Organisation

from . import bulk, forms, freshness, permissions, workflow
from .filters import DEFAULT_ORDERING, ActionPlanFilter
from .models import ActionPlan, Evidence, Update, User


class AuthedRequest(HttpRequest):
    user: User


# --- health ----------------------------------------------------------------------------------


@login_not_required
@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:  # any database failure means unhealthy
        return JsonResponse({"status": "error", "database": "unreachable"}, status=503)
    return JsonResponse({"status": "ok", "database": "ok"})


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "404.html", status=404)


# --- home ------------------------------------------------------------------------------------

HOME_ROWS = 10


@require_safe
def home(request: AuthedRequest) -> HttpResponse:
    user = request.user
    plans = ActionPlan.objects.visible_to(user)
    today = timezone.localdate()
    since = user.last_home_visit
    context: dict[str, Any] = {"since": since, "today": today}

    sections: list[tuple[str, str, Any, str]] = []  # (id, heading, queryset, query string for "see all")
    if user.sees_everything:
        sections.append(
            ("awaiting-verification", "Awaiting verification", plans.filter(status=ActionPlan.Status.SIGNED_OFF),
             "status=signed_off")
        )  # fmt: skip
        sections.append(("overdue", "Overdue across all organisations", plans.overdue(), "overdue=1"))
    elif user.role == User.Role.MANAGER:
        sections.append(
            ("awaiting-sign-off", "Awaiting your sign-off", plans.filter(status=ActionPlan.Status.SUBMITTED),
             "status=submitted")
        )  # fmt: skip
        sections.append(
            ("unowned", "Open plans with no owner",
             plans.open().filter(Q(owner__isnull=True) | Q(owner__is_active=False)), "owner=unassigned")
        )  # fmt: skip
        sections.append(("overdue", "Overdue", plans.overdue(), "overdue=1"))
    else:
        sections.append(("my-actions", "My actions", plans.open().filter(owner=user), "owner=me"))
        sections.append(("overdue", "Overdue in your organisation", plans.overdue(), "overdue=1"))
        sections.append(
            ("due-soon", "Due in the next 30 days", plans.due_soon(), "sort=target_date&status=in_progress")
        )  # fmt: skip

    context["sections"] = [
        {
            "id": sid,
            "heading": heading,
            "rows": list(qs.for_list().order_by(*DEFAULT_ORDERING)[:HOME_ROWS]),
            "count": qs.count(),
            "query": query,
        }
        for sid, heading, qs, query in sections
    ]
    if since is not None:
        # By organisation, not `plan__in=plans`: for an inspector that would be every plan as a subquery.
        updates = (
            Update.objects.all()
            if user.sees_everything
            else Update.objects.filter(plan__organisation_id=user.organisation_id)
        )
        changed = (
            updates.filter(created_at__gt=since)
            .exclude(author=user)
            .select_related("author", "plan__finding", "plan__organisation")
            .order_by("-created_at")
        )
        context["changes"] = list(changed[:HOME_ROWS])
    User.objects.filter(pk=user.pk).update(last_home_visit=timezone.now())
    return render(request, "tracker/home.html", context)


# --- plans list ------------------------------------------------------------------------------


class PlanPaginator(Paginator):
    """The /plans/ pages, with what a count and a deep page cost at national scale kept down.

    - The count is kept under the data version (tracker/freshness.py), per user, day and filters: an
      exact COUNT over 100,000 plans costs more than the rest of the query work of a page.
    - With `limit` (text searches) it counts no further than `limit` rows. A search has to read every
      response to count its matches, while a page of 25 in target-date order stops at the 25th; past
      the limit the page says "more than" it, pages go up to the limit, and the downloads hold every
      match.
    - A page deep in the list reads its 25 ids first (from the ordering index alone), then those rows
      with their joins, rather than joining every row it skips.
    """

    DEEP = 250  # rows skipped before a page is read ids first

    def __init__(self, *args: Any, limit: int | None = None, count_key: str = "",
                 versions: freshness.Versions | None = None, **kwargs: Any) -> None:  # fmt: skip
        super().__init__(*args, **kwargs)
        self.limit = limit
        self.count_key = count_key
        self.versions = versions

    def _count(self) -> int:
        if self.limit is not None:
            return self.object_list.values("pk")[: self.limit + 1].count()
        return self.object_list.count()

    @cached_property
    def counted(self) -> int:
        if self.versions is not None and self.count_key:
            return self.versions.cached(self.count_key, self._count)
        return self._count()

    @cached_property
    def count(self) -> int:  # type: ignore[override]
        return min(self.counted, self.limit) if self.limit is not None else self.counted

    @property
    def capped(self) -> bool:
        return self.limit is not None and self.counted > self.limit

    def page(self, number: Any) -> Any:
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page
        if top + self.orphans >= self.count:
            top = self.count
        if bottom < self.DEEP:
            return self._get_page(self.object_list[bottom:top], number, self)
        ids = list(self.object_list.values_list("pk", flat=True)[bottom:top])
        rows = {plan.pk: plan for plan in self.object_list.filter(pk__in=ids)}
        return self._get_page([rows[pk] for pk in ids if pk in rows], number, self)


SEARCH_COUNT_LIMIT = 1000


class PlanListView(FilterView):
    filterset_class = ActionPlanFilter
    paginate_by = 25
    template_name = "tracker/actionplan_list.html"
    request: AuthedRequest

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return ActionPlan.objects.visible_to(self.request.user).for_list().order_by(*DEFAULT_ORDERING)

    @cached_property
    def versions(self) -> freshness.Versions:
        return freshness.versions()

    def get_paginator(self, queryset, per_page, orphans=0, allow_empty_first_page=True, **kwargs):  # type: ignore[no-untyped-def]
        query = self.request.GET.copy()
        for name in ("page", "sort"):  # neither changes how many plans match
            query.pop(name, None)
        # Today's date: the overdue and RAG filters move at midnight.
        key = f"plan-count:{self.request.user.pk}:{timezone.localdate().isoformat()}:{query_key(query)}"
        searching = bool(self.request.GET.get("q", "").strip())
        return PlanPaginator(
            queryset, per_page, orphans=orphans, allow_empty_first_page=allow_empty_first_page,
            limit=SEARCH_COUNT_LIMIT if searching else None, count_key=key, versions=self.versions, **kwargs,
        )  # fmt: skip

    def get_filterset_kwargs(self, filterset_class):  # type: ignore[no-untyped-def]
        kwargs = super().get_filterset_kwargs(filterset_class)
        kwargs["user"] = self.request.user
        return kwargs

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        query = self.request.GET.copy()
        query.pop("page", None)
        context["query_without_page"] = query.urlencode()
        context["filter_fields"] = partial(
            filter_fields, self.request.user, context["filter"].form, query, self.versions
        )
        context["show_organisation"] = self.request.user.sees_everything
        bulk_form = forms.BulkForm(user=self.request.user, initial={"query": context["query_without_page"]})
        if bulk_form.allowed_actions:
            context.update(_bulk_context(bulk_form))
        return context

    def get_template_names(self) -> list[str]:
        htmx = self.request.htmx
        # A history restore (back button after the cache was evicted) needs the whole page.
        if htmx and not htmx.boosted and not htmx.history_restore_request:
            return [f"{self.template_name}#results"]
        return [self.template_name]

    def render_to_response(self, context: dict[str, Any], **response_kwargs: Any) -> HttpResponse:
        response = super().render_to_response(context, **response_kwargs)
        # One URL serves the page and its fragment: caches must tell them apart.
        patch_vary_headers(response, ["HX-Request"])
        return response


def query_key(query: QueryDict) -> str:
    """A short key for a query string, the same whatever the order of its parameters."""
    return hashlib.sha256(urlencode(sorted(query.lists()), doseq=True).encode()).hexdigest()


def filter_fields(user: User, form: Form, query: QueryDict, versions: freshness.Versions) -> str:
    """The filter form's fields as HTML, kept per user, query and data version (tracker/freshness.py).

    The form lists every organisation, region, inspection (800 at national scale) and theme, and
    rendering those fields costs more than the rest of the page; its HTML depends only on the data,
    the user (their organisation's people are the owner choices) and the query. Called from the
    template, so an htmx request for the results alone never renders it.
    """
    key = f"plan-filters:{user.pk}:{query_key(query)}"
    return versions.cached(key, lambda: render_to_string("tracker/includes/filter_fields.html", {"form": form}))


# --- plan detail and actions -----------------------------------------------------------------


@dataclass(frozen=True)
class Action:
    """One form on the plan page: who sees it, what it calls."""

    slug: str
    title: str
    form: type[Form]
    allowed: Callable[[User, ActionPlan], bool]
    states: tuple[str, ...]
    call: Callable[..., Update]
    success: str
    button: str
    style: str = "primary"


S = ActionPlan.Status
OPEN = ActionPlan.OPEN_STATUSES

ACTIONS: dict[str, Action] = {
    a.slug: a
    for a in [
        Action("progress", "Add progress", forms.ProgressForm, permissions.can_record_progress,
               (S.NOT_STARTED, S.IN_PROGRESS, S.BLOCKED),
               lambda p, u, d, f: workflow.record_progress(plan=p, user=u, note=d["note"],
                                                           percent_complete=d["percent_complete"], files=f,
                                                           expected_version=d["version"]),
               "Progress recorded.", "Save progress"),
        Action("block", "Mark as blocked", forms.BlockedForm, permissions.can_record_progress, (S.IN_PROGRESS,),
               lambda p, u, d, f: workflow.mark_blocked(plan=p, user=u, note=d["note"], expected_version=d["version"]),
               "Plan marked as blocked.", "Mark blocked", "warning"),
        Action("unblock", "Unblock", forms.NoteForm, permissions.can_record_progress, (S.BLOCKED,),
               lambda p, u, d, f: workflow.unblock(plan=p, user=u, note=d["note"], expected_version=d["version"]),
               "Plan is in progress again.", "Unblock"),
        Action("submit", "Submit for sign-off", forms.SubmitForm, permissions.can_record_progress, (S.IN_PROGRESS,),
               lambda p, u, d, f: workflow.submit_for_sign_off(plan=p, user=u, statement=d["statement"], files=f,
                                                               expected_version=d["version"]),
               "Submitted for sign-off.", "Submit for sign-off"),
        Action("sign-off", "Sign off", forms.CommentForm, permissions.can_manage, (S.SUBMITTED,),
               lambda p, u, d, f: workflow.sign_off(plan=p, user=u, comment=d["comment"],
                                                    expected_version=d["version"]),
               "Plan signed off.", "Sign off", "success"),
        Action("return", "Return to the owner", forms.RequiredReasonForm, permissions.can_manage, (S.SUBMITTED,),
               lambda p, u, d, f: workflow.return_submission(plan=p, user=u, comment=d["comment"],
                                                             expected_version=d["version"]),
               "Submission returned.", "Return submission", "warning"),
        Action("target-date", "Change target date", forms.TargetDateForm, permissions.can_manage, OPEN,
               lambda p, u, d, f: workflow.change_target_date(plan=p, user=u, target_date=d["target_date"],
                                                              reason=d["reason"], expected_version=d["version"]),
               "Target date changed.", "Change target date", "secondary"),
        Action("owner", "Assign owner", forms.OwnerForm, permissions.can_manage, OPEN,
               lambda p, u, d, f: workflow.assign_owner(plan=p, user=u, owner=d["owner"],
                                                        expected_version=d["version"]),
               "Owner updated.", "Assign owner", "secondary"),
        Action("close", "Verify and close", forms.CommentForm, permissions.can_verify, (S.SIGNED_OFF,),
               lambda p, u, d, f: workflow.close(plan=p, user=u, comment=d["comment"], expected_version=d["version"]),
               "Plan closed as verified complete.", "Close as verified", "success"),
        Action("reopen", "Reopen", forms.RequiredReasonForm, permissions.can_verify, (S.SIGNED_OFF,),
               lambda p, u, d, f: workflow.reopen(plan=p, user=u, comment=d["comment"], expected_version=d["version"]),
               "Plan reopened.", "Reopen", "warning"),
        Action("supersede", "Mark superseded", forms.SupersedeForm, permissions.can_verify, OPEN,
               lambda p, u, d, f: workflow.supersede(plan=p, user=u, superseding_finding=d["superseding_finding"],
                                                     comment=d["comment"], expected_version=d["version"]),
               "Plan marked as superseded.", "Mark superseded", "secondary"),
        Action("no-further-action", "No further action", forms.RequiredReasonForm, permissions.can_verify, OPEN,
               lambda p, u, d, f: workflow.no_further_action(plan=p, user=u, comment=d["comment"],
                                                             expected_version=d["version"]),
               "Plan marked as needing no further action.", "Record no further action", "secondary"),
    ]
}  # fmt: skip


def _make_form(action: Action, plan: ActionPlan, data: Any = None, files: Any = None) -> Form:
    kwargs: dict[str, Any] = {"prefix": action.slug, "initial": {"version": plan.version}}
    if action.form is forms.OwnerForm:
        kwargs["organisation_id"] = plan.organisation_id
    if action.form is forms.SupersedeForm:
        kwargs["finding"] = plan.finding
    if action.form is forms.TargetDateForm:
        kwargs["initial"]["target_date"] = plan.target_date
    return action.form(data, files, **kwargs)


def available_actions(user: User, plan: ActionPlan) -> list[Action]:
    return [a for a in ACTIONS.values() if plan.status in a.states and a.allowed(user, plan)]


def _plan_page(
    request: AuthedRequest,
    plan: ActionPlan,
    *,
    bound: Form | None = None,
    bound_slug: str = "",
    discussion: Form | None = None,
    status: int = 200,
    stale: bool = False,
    partial: str = "",
    comment_added: bool = False,
) -> HttpResponse:
    user = request.user
    action_forms = []
    for action in available_actions(user, plan):
        form = bound if action.slug == bound_slug and bound is not None else _make_form(action, plan)
        action_forms.append({"action": action, "form": form, "open": action.slug == bound_slug})
    updates = plan.updates.select_related("author").prefetch_related(
        Prefetch("evidence", queryset=Evidence.objects.order_by("pk"))
    )
    context = {
        "plan": plan,
        "finding": plan.finding,
        "updates": updates,
        "action_forms": action_forms,
        "can_comment": permissions.can_comment(user, plan),
        "discussion_form": discussion or forms.DiscussionForm(prefix="comment"),
        "stale": stale,
        "comment_added": comment_added,
        "today": timezone.localdate(),
    }
    template = "tracker/actionplan_detail.html" + (f"#{partial}" if partial else "")
    return TemplateResponse(request, template, context, status=status)


def _get_plan(request: AuthedRequest, pk: int) -> ActionPlan:
    return get_object_or_404(ActionPlan.objects.visible_to(request.user).for_detail(), pk=pk)


@require_GET
def plan_detail(request: AuthedRequest, pk: int) -> HttpResponse:
    return _plan_page(request, _get_plan(request, pk))


@require_POST
def plan_action(request: AuthedRequest, pk: int, action: str) -> HttpResponse:
    plan = _get_plan(request, pk)
    if action == "comment":
        return _plan_comment(request, plan)
    spec = ACTIONS.get(action)
    if spec is None:
        raise Http404("No such action.")
    if not spec.allowed(request.user, plan):
        raise PermissionDenied
    form = _make_form(spec, plan, request.POST, request.FILES)
    if form.is_valid():
        data = form.cleaned_data
        try:
            spec.call(plan, request.user, data, data.get("files") or [])
        except workflow.StaleVersion as error:
            plan = _get_plan(request, pk)
            # Keep the typed text, but with the version now on the page: once the person has read the
            # newer entries, sending the form again applies their change instead of conflicting again.
            data = request.POST.copy()
            data[form.add_prefix("version")] = plan.version
            form = _make_form(spec, plan, data)
            form.is_valid()
            form.add_error(None, error)
            if request.FILES:
                form.add_error(None, "Choose your evidence files again: a returned form cannot keep them.")
            return _plan_page(request, plan, bound=form, bound_slug=spec.slug, status=409, stale=True)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, spec.success)
            return redirect(plan)
    return _plan_page(request, plan, bound=form, bound_slug=spec.slug, status=400)


def _plan_comment(request: AuthedRequest, plan: ActionPlan) -> HttpResponse:
    """Add to the discussion. With htmx only the timeline is swapped, so the page stays where it was."""
    if not permissions.can_comment(request.user, plan):
        raise PermissionDenied
    form = forms.DiscussionForm(request.POST, prefix="comment")
    if form.is_valid():
        try:
            workflow.add_comment(plan=plan, user=request.user, note=form.cleaned_data["note"])
        except ValidationError as error:
            form.add_error(None, error)
        else:
            if request.htmx:
                return _plan_page(request, plan, partial="discussion", comment_added=True)
            messages.success(request, "Comment added.")
            return redirect(plan)
    if request.htmx:  # htmx swaps only successful responses; the form comes back with its errors
        return _plan_page(request, plan, discussion=form, partial="discussion")
    return _plan_page(request, plan, discussion=form, status=400)


@require_GET
def evidence_download(request: AuthedRequest, pk: int) -> FileResponse:
    visible = ActionPlan.objects.visible_to(request.user)
    evidence = get_object_or_404(Evidence.objects.filter(update__plan__in=visible), pk=pk)
    return evidence_file_response(evidence)


def evidence_file_response(evidence: Evidence) -> FileResponse:
    """The file as an attachment that no browser will render or sniff (shared with the API)."""
    try:
        handle = evidence.file.open("rb")
    except FileNotFoundError as error:
        raise Http404("The file is missing from storage.") from error
    response = FileResponse(
        handle, as_attachment=True, filename=evidence.original_name, content_type="application/octet-stream"
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, no-store"
    return response


# --- inspections and findings ----------------------------------------------------------------


@require_safe
def inspection_list(request: AuthedRequest) -> HttpResponse:
    inspections = Inspection.objects.annotate(
        finding_count=Count("findings", distinct=True),
    ).order_by("-published_on", "title")
    return render(request, "inspections/inspection_list.html", {"inspections": inspections})


@require_safe
def inspection_detail(request: AuthedRequest, slug: str) -> HttpResponse:
    inspection = get_object_or_404(Inspection, slug=slug)
    visible = ActionPlan.objects.visible_to(request.user).filter(finding__inspection=inspection)
    # Length first so that R2 comes before R10.
    findings = list(inspection.findings.order_by(Length("reference"), "reference"))
    by_id = {f.pk: f for f in findings}
    causes = [f for f in findings if f.kind == Finding.Kind.CAUSE_OF_CONCERN]
    for cause in causes:
        cause.children = [f for f in findings if f.cause_of_concern_id == cause.pk]
    recommendations = [
        f
        for f in findings
        if f.kind == Finding.Kind.RECOMMENDATION
        and (f.cause_of_concern_id is None or f.cause_of_concern_id not in by_id)
    ]
    afis = [f for f in findings if f.kind == Finding.Kind.AREA_FOR_IMPROVEMENT]
    rows = []
    for row in visible.completion("organisation__name", "organisation__slug"):
        row["reported_pct"] = round(100 * row["reported"] / row["total"])
        row["verified_pct"] = round(100 * row["verified"] / row["total"])
        row["query"] = urlencode({"inspection": inspection.slug, "organisation": row["organisation__slug"]})
        rows.append(row)
    gradings = inspection.gradings.select_related("organisation")
    context = {
        "inspection": inspection,
        "gradings": gradings,
        "causes": causes,
        "recommendations": recommendations,
        "afis": afis,
        "completion": rows,
    }
    return render(request, "inspections/inspection_detail.html", context)


@require_safe
def finding_detail(request: AuthedRequest, pk: int) -> HttpResponse:
    finding = get_object_or_404(Finding.objects.select_related("inspection", "cause_of_concern", "supersedes"), pk=pk)
    plans = (
        ActionPlan.objects.visible_to(request.user)
        .filter(finding=finding)
        .select_related("organisation", "owner")
        .with_rag()
        .annotate(
            last_note=Subquery(
                Update.objects.filter(plan=OuterRef("pk")).order_by("-created_at", "-pk").values("note")[:1]
            )
        )
        .order_by("organisation__name")
    )
    context = {
        "finding": finding,
        "plans": plans,
        "themes": finding.themes.all(),
        "show_history": permissions.can_see_history(request.user),
    }
    if context["show_history"]:
        context["history"] = history_with_changes(finding.history.select_related("history_user"))
    return render(request, "inspections/finding_detail.html", context)


def history_with_changes(records: Any, limit: int = 20) -> list[Any]:
    """The newest `limit` history records, each with `.changes`: dicts of field (its verbose name), old
    and new value, against the record before it. Changes of addressees read as organisation names.

    Two queries at most: the records, diffed in pairs in Python rather than each asking for its
    predecessor, and the names of the organisations that came or went.
    """
    rows = list(records.order_by("-history_date", "-history_id")[: limit + 1])
    organisation_ids: set[int] = set()
    for newer, older in zip(rows, [*rows[1:], None][: len(rows)], strict=True):
        newer.raw_changes = newer.diff_against(older).changes if older is not None else []
        for change in newer.raw_changes:
            if change.field == "addressed_to":
                for link in [*(change.old or []), *(change.new or [])]:
                    organisation_ids.add(link["organisation"])
    names = (
        dict(Organisation.objects.filter(pk__in=organisation_ids).values_list("pk", "name"))
        if organisation_ids
        else {}
    )
    for row in rows:
        model = row.instance_type
        row.changes = []
        for change in row.raw_changes:
            old, new = change.old, change.new
            if change.field == "addressed_to":
                old, new = (
                    ", ".join(sorted(names.get(link["organisation"], "?") for link in links or []))
                    for links in (old, new)
                )
            row.changes.append(
                {"field": str(model._meta.get_field(change.field).verbose_name), "old": old, "new": new}
            )
    return rows[:limit]


# --- bulk actions ----------------------------------------------------------------------------


def _bulk_context(form: forms.BulkForm) -> dict[str, Any]:
    return {"bulk_form": form, "bulk_actions": form.allowed_actions, "bulk_max": bulk.MAX_BULK}


@require_POST
def plan_bulk(request: AuthedRequest) -> HttpResponse:
    """Apply one action to the ticked plans, or to every plan matching the list's filters.

    Each plan goes through the same workflow function (and so the same permission and state checks)
    as on its own page; ids the user may not see are refused as not found.
    """
    form = forms.BulkForm(request.POST, user=request.user)
    if not form.allowed_actions:
        raise PermissionDenied
    back = f"{reverse('tracker:plan-list')}?{form.data.get('query', '')}"
    if not form.is_valid():
        context = _bulk_context(form) | {"form": form, "back": back, "selected_count": len(form.data.getlist("plans"))}
        return render(request, "tracker/bulk_result.html", context, status=400)
    data = form.cleaned_data
    ids = data["plans"]
    if data["all_matching"]:
        base = ActionPlan.objects.visible_to(request.user).with_rag().order_by(*DEFAULT_ORDERING)
        filterset = ActionPlanFilter(QueryDict(data["query"]), queryset=base, user=request.user)
        ids = list(filterset.qs.values_list("pk", flat=True)[: bulk.MAX_BULK + 1]) if filterset.is_valid() else []
    result = bulk.apply_bulk(
        user=request.user,
        plan_ids=ids,
        action=data["action"],
        owner=data.get("owner"),
        target_date=data.get("target_date"),
        reason=data.get("reason", ""),
        comment=data.get("comment", ""),
    )
    context = {
        "result": result,
        "action": forms.BulkForm.ACTIONS[data["action"]],
        "truncated": len(ids) > bulk.MAX_BULK,
        "max": bulk.MAX_BULK,
        "back": back,
    }
    return render(request, "tracker/bulk_result.html", context)
