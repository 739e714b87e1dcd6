"""Pages. Views stay thin: scoped querysets in, workflow functions for every change, booleans to templates."""

from __future__ import annotations

import hashlib
from functools import partial
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, F, OuterRef, Q, Subquery
from django.forms import Form
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.template.backends.utils import csrf_input
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.formats import date_format
from django.utils.functional import cached_property
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST, require_safe
from django_filters.views import FilterView

from inspections import links as finding_links_service
from inspections.models import Finding, FindingLink, Inspection, Organisation, report_order

from . import actions, bulk, figures, forms, freshness, health, markup, permissions, responses, suggestions, workflow
from .filters import DEFAULT_ORDERING, ActionPlanFilter, OnOffCheckbox
from .finding_links import links_of
from .http import AuthedRequest, evidence_file_response
from .models import (
    RETURNED_FROM,
    ActionPlan,
    Dependency,
    Evidence,
    Milestone,
    PublicStatement,
    Update,
    User,
    attach_dependencies,
    attach_milestone_progress,
    count_brought_forward,
    rows_joined,
)
from .search import search

# --- health ----------------------------------------------------------------------------------


@login_not_required
@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Each dependency's state (tracker.health). Only the database fails the check (503, not ready): the
    cache, a file store or scanner that is down stops nothing but speed, uploads and downloads, on every
    server alike, so taking servers out would not help."""
    ready, body = health.report()
    return JsonResponse(body, status=200 if ready else 503)


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

    # (id, heading, queryset, query string for "see all": exactly the queue, how long each item waited)
    sections: list[tuple[str, str, Any, str, str]] = []
    S = ActionPlan.Status
    if permissions.sees_every_organisation(user):
        sections.append(
            ("awaiting-verification", "Awaiting verification", plans.filter(status=S.SIGNED_OFF),
             "stage=awaiting_verification&sort=waiting", "signed off")
        )  # fmt: skip
        sections.append(
            ("no-action", "Proposals of no action awaiting your decision (risk accepted by the force)",
             plans.filter(status=S.NO_ACTION_ACCEPTED), "status=no_action_accepted&sort=waiting", "risk accepted")
        )  # fmt: skip
        sections.append(
            ("overdue", "Overdue across all organisations", plans.overdue(), "overdue=1&sort=target_date", "overdue")
        )
    elif permissions.manages_an_organisation(user):
        sections.append(
            ("awaiting-sign-off", "Awaiting your sign-off", plans.filter(status=S.SUBMITTED),
             "status=submitted&sort=waiting", "submitted")
        )  # fmt: skip
        sections.append(
            ("returned", "Returned, waiting on the owner", plans.returned(), "returned=1&sort=returned", "returned")
        )  # fmt: skip
        sections.append(
            ("no-action-proposed", "Proposals of no action: accept the risk or decline",
             plans.filter(status=S.NO_ACTION_PROPOSED), "status=no_action_proposed&sort=waiting", "proposed")
        )  # fmt: skip
        sections.append(
            ("unowned", "With the force, no owner",
             plans.in_stage(ActionPlan.Stage.WITH_FORCE).without_active_owner(), "stage=with_force&owner=unassigned",
             "")
        )  # fmt: skip
        sections.append(
            ("my-milestones", "Your milestones (plans with a milestone of yours open)",
             plans.in_stage(ActionPlan.Stage.WITH_FORCE).with_open_milestone_of(user),
             "stage=with_force&milestone_owner=me", "milestone")
        )  # fmt: skip
        sections.append(("overdue", "Overdue", plans.overdue(), "overdue=1&sort=target_date", "overdue"))
    else:
        sections.append(
            ("returned", "Returned: your action", plans.returned().filter(owner=user),
             "returned=1&owner=me&sort=returned",
             "returned")
        )  # fmt: skip
        sections.append(
            ("my-actions", "My actions (with the force)",
             plans.in_stage(ActionPlan.Stage.WITH_FORCE).filter(owner=user), "stage=with_force&owner=me", "")
        )  # fmt: skip
        sections.append(
            ("my-milestones", "Your milestones (plans with a milestone of yours open)",
             plans.in_stage(ActionPlan.Stage.WITH_FORCE).with_open_milestone_of(user),
             "stage=with_force&milestone_owner=me", "milestone")
        )  # fmt: skip
        sections.append(
            ("overdue", "Overdue in your organisation", plans.overdue(), "overdue=1&sort=target_date", "overdue")
        )
        sections.append(
            ("due-soon", "Due in the next 30 days", plans.due_soon(), "due_soon=1&sort=target_date", "due")
        )

    context["sections"] = [
        {
            "id": sid,
            "heading": heading,
            "rows": _waiting_texts(list(_queue(qs, wait)[:HOME_ROWS]), wait, today, user),
            "count": qs.count(),
            "query": query,
            "wait": wait,
        }
        for sid, heading, qs, query, wait in sections
    ]
    if since is not None:
        # By organisation, not `plan__in=plans`: for an inspector that would be every plan as a subquery.
        updates = (
            Update.objects.all()
            if permissions.sees_every_organisation(user)
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


def _queue(plans: Any, wait: str) -> Any:
    """A home page queue, oldest first: by when each plan came into its status (submitted, signed off),
    when it was returned, or its target date (overdue: most overdue first; due soon: soonest first)."""
    rows = plans.for_list()
    if wait == "returned":
        return rows.oldest_returned_first()
    if wait in {"submitted", "signed off", "proposed", "risk accepted"}:
        return rows.longest_waiting_first()
    return rows.order_by(*DEFAULT_ORDERING)


def _waiting_texts(rows: list[ActionPlan], wait: str, today: Any, user: User | None = None) -> list[ActionPlan]:
    """Each row's wait in words: "submitted 4 Aug 2026, 117 days", "12 days overdue", "due in 5 days"; for
    a person's milestones, theirs still open in the plan, soonest first ("“Recruit” 3 days overdue")."""
    if wait == "milestone":
        mine: dict[int, list[str]] = {}
        for milestone in (
            Milestone.objects.open()
            .filter(plan__in=[p.pk for p in rows], owner=user)
            .order_by(F("target_date").asc(nulls_last=True), "position")
        ):
            mine.setdefault(milestone.plan_id, []).append(_milestone_when(milestone, today))
        for plan in rows:
            plan.waiting_text = "; ".join(mine.get(plan.pk, []))
        return rows
    for plan in rows:
        if wait == "overdue" and plan.target_date:
            days = (today - plan.target_date).days
            plan.waiting_text = f"{days} day{'s' if days != 1 else ''} overdue"
        elif wait == "due" and plan.target_date:
            days = (plan.target_date - today).days
            plan.waiting_text = "due today" if days == 0 else f"due in {days} day{'s' if days != 1 else ''}"
        elif wait in {"submitted", "signed off", "returned", "proposed", "risk accepted"}:
            since = getattr(plan, "returned_at" if wait == "returned" else "waiting_since", None) or plan.updated_at
            days = (today - timezone.localtime(since).date()).days
            plan.waiting_text = (
                f"{wait} {date_format(timezone.localtime(since), 'j M Y')}, {days} day{'s' if days != 1 else ''}"
            )
    return rows


def _milestone_when(milestone: Milestone, today: Any) -> str:
    if milestone.target_date is None:
        return f"“{milestone.title}”, no date"
    days = (milestone.target_date - today).days
    if days < 0:
        return f"“{milestone.title}” {-days} day{'s' if days != -1 else ''} overdue"
    if days == 0:
        return f"“{milestone.title}” due today"
    return f"“{milestone.title}” due in {days} day{'s' if days != 1 else ''}"


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

    def __init__(self, *args: Any, limit: int | None = None, count_scope: str = "", count_key: str = "",
                 versions: freshness.Versions | None = None, **kwargs: Any) -> None:  # fmt: skip
        super().__init__(*args, **kwargs)
        self.limit = limit
        self.count_scope = count_scope
        self.count_key = count_key
        self.versions = versions

    def _count(self) -> int:
        if self.limit is not None:
            return self.object_list.values("pk")[: self.limit + 1].count()
        return self.object_list.count()

    @cached_property
    def counted(self) -> int:
        if self.versions is not None and self.count_scope and self.count_key:
            return self.versions.cached(self.count_scope, self.count_key, self._count)
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
DATE_MOVE_FILTERS = ("deferred", "brought_forward")


class PlanListView(FilterView):
    filterset_class = ActionPlanFilter
    paginate_by = 25
    template_name = "tracker/actionplan_list.html"
    request: AuthedRequest

    def get_queryset(self):  # type: ignore[no-untyped-def]
        plans = ActionPlan.objects.visible_to(self.request.user).for_list().order_by(*DEFAULT_ORDERING)
        if any(OnOffCheckbox().value_from_datadict(self.request.GET, None, name) for name in DATE_MOVE_FILTERS):
            plans = plans.with_date_reason()  # a list of moved dates shows why each moved
        if OnOffCheckbox().value_from_datadict(self.request.GET, None, "returned"):
            plans = plans.with_return()  # returned work shows who returned it, when and why
        return plans

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
            limit=SEARCH_COUNT_LIMIT if searching else None, count_scope=permissions.plan_scope(self.request.user),
            count_key=key, versions=self.versions, **kwargs,
        )  # fmt: skip

    def get_filterset_kwargs(self, filterset_class):  # type: ignore[no-untyped-def]
        kwargs = super().get_filterset_kwargs(filterset_class)
        kwargs["user"] = self.request.user
        return kwargs

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        if context.get("object_list") is not None:
            # "3 of 5" milestones in one query; what blocked plans wait on in one more, if any is blocked.
            plans = attach_milestone_progress(context["object_list"])
            context["object_list"] = attach_dependencies(plans, self.request.user)
        query = self.request.GET.copy()
        query.pop("page", None)
        context["query_without_page"] = query.urlencode()
        context["filter_fields"] = partial(
            filter_fields, self.request.user, context["filter"].form, query, self.versions
        )
        context["show_organisation"] = permissions.sees_every_organisation(self.request.user)
        filterset = context["filter"]
        if self.request.GET and context.get("paginator") is not None:
            context["heading"] = filterset.describe(context["paginator"].count)

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
    return versions.cached(permissions.plan_scope(user), key, lambda: _render_filter_fields(form))


# Bootstrap's class for each kind of widget, after the widget's own name (as crispy-forms gave them).
WIDGET_CLASSES = {"TextInput": "textinput form-control", "FastSelect": "fastselect form-select",
                  "OnOffCheckbox": "onoffcheckbox form-check-input"}  # fmt: skip


def _render_filter_fields(form: Form) -> str:
    for name, field in form.fields.items():
        css = WIDGET_CLASSES.get(type(field.widget).__name__)
        if css:
            field.widget.attrs["class"] = css + (" is-invalid" if form.errors.get(name) else "")
    return markup.filter_fields(form)


# --- plan detail and actions -----------------------------------------------------------------


def _make_form(
    action: actions.Action,
    plan: ActionPlan,
    data: Any = None,
    files: Any = None,
    *,
    user: User | None = None,
    **extra: Any,
) -> Form:
    """The action's page form; with the `user` it is for, the choices it offers them (a plan picker's plans)."""
    assert action.form_class is not None
    form = action.form_class(data, files, prefix=action.slug, plan=plan, user=user, **extra)
    milestones = getattr(plan, "milestone_list", None)
    if milestones is not None and data is None:
        # The page knows the plan's milestones: the percentage follows them, and a submission with one
        # still open asks why.
        if milestones and "percent_complete" in form.fields and action.slug == "progress":
            del form.fields["percent_complete"]
        if action.slug == "submit" and not any(m.done_on is None for m in milestones):
            del form.fields["open_milestones"]
    return form


class _Owners:
    """The people who may own the plan or one of its milestones, read once for every form of the page
    choosing one (each form's field would read them: on PostgreSQL through a cursor of its own)."""

    def __init__(self, plan: ActionPlan) -> None:
        self.plan = plan
        self.persons: list[User] | None = None
        self.people: list[tuple[Any, str]] | None = None

    def offer(self, form: Form) -> None:
        """Give the form's owner field, if it has one, the people as its choices (its empty choice first)."""
        field = form.fields.get("owner")
        if field is None:
            return
        if self.people is None:
            self.persons = list(self.plan.possible_owners())
            self.people = [(person.pk, str(person)) for person in self.persons]
        field.choices = [("", field.empty_label), *self.people]  # type: ignore[attr-defined]

    def attach_owner(self) -> None:
        """The plan's owner, when the plan was read without it, taken from the people read for the forms (an
        owner among them is the plan's active owner); otherwise it is read when the page asks for it."""
        plan = self.plan
        if plan.owner_id is None or self.persons is None or ActionPlan.owner.is_cached(plan):
            return
        for person in self.persons:
            if person.pk == plan.owner_id:
                ActionPlan.owner.field.set_cached_value(plan, person)
                return


def _milestone_rows(
    user: User, plan: ActionPlan, bound: Form | None, bound_slug: str, owners: _Owners
) -> list[dict[str, Any]]:
    """Each milestone with the forms this user may use on it (one per milestone, ids of their own)."""
    today = timezone.localdate()
    specs = {action.slug: action for action in actions.for_items(user, plan, "milestone")}
    bound_pk = None
    if bound is not None and bound_slug in specs:
        bound_pk = str(bound.data.get(bound.add_prefix("milestone"), ""))
    rows = []
    milestones = plan.milestone_list
    for index, milestone in enumerate(milestones):
        forms_: dict[str, Form] = {}
        for slug in specs:
            if slug == "milestone-complete" and milestone.done_on is not None:
                continue
            if slug == "milestone-reopen" and milestone.done_on is None:
                continue
            if bound_pk == str(milestone.pk) and slug == bound_slug:
                forms_[slug] = bound  # type: ignore[assignment]
                continue
            if slug == "milestone-move":
                forms_[slug] = None  # type: ignore[assignment]  # its buttons are written by the template
                continue
            initial: dict[str, Any] = {"milestone": milestone.pk}
            if slug == "milestone-edit":
                initial |= {"title": milestone.title, "owner": milestone.owner_id,
                            "target_date": milestone.target_date, "note": milestone.note}  # fmt: skip
            forms_[slug] = _make_form(specs[slug], plan, initial=initial, auto_id=f"m{milestone.pk}-{slug}-%s")
            owners.offer(forms_[slug])
        rows.append({
            "milestone": milestone,
            "overdue": milestone.is_late_on(today, plan),
            "forms": forms_,
            "first": index == 0,
            "last": index == len(milestones) - 1,
            "open": bound_pk == str(milestone.pk),
        })  # fmt: skip
    return rows


def _measure_rows(user: User, plan: ActionPlan, bound: Form | None, bound_slug: str) -> list[dict[str, Any]]:
    """Each success measure with the forms this user may use on it (ids of their own)."""
    today = timezone.localdate()
    specs = {action.slug: action for action in actions.for_items(user, plan, "measure")}
    bound_pk = None
    if bound is not None and bound_slug in specs:
        bound_pk = str(bound.data.get(bound.add_prefix("measure"), ""))
    rows = []
    for measure in plan.measure_list:
        forms_: dict[str, Form] = {}
        for slug, spec in specs.items():
            if bound_pk == str(measure.pk) and slug == bound_slug:
                forms_[slug] = bound  # type: ignore[assignment]
                continue
            initial: dict[str, Any] = {"measure": measure.pk}
            if slug == "measure-edit":
                initial |= {"text": measure.text, "target_figure": measure.target_figure,
                            "sustain_until": measure.sustain_until}  # fmt: skip
            forms_[slug] = _make_form(spec, plan, initial=initial, auto_id=f"s{measure.pk}-{slug}-%s")
        rows.append({
            "measure": measure, "sustaining": measure.is_sustaining_on(today), "forms": forms_,
            "open": bound_pk == str(measure.pk),
        })  # fmt: skip
    return rows


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
    statement_form: Form | None = None,
    approve_form: Form | None = None,
) -> HttpResponse:
    user = request.user
    updates = _timeline(plan)
    plan.brought_forward_value = count_brought_forward(updates)  # the whole timeline is at hand
    plan.milestone_list = list(plan.milestones.all())  # prefetched with their owners (`for_detail`)
    plan.measure_list = list(plan.measures.all())  # prefetched (`for_detail`)
    dependency = _dependency_context(user, plan)  # before the forms: the one changing it starts from it
    action_forms = []
    milestone_add = measure_add = None
    owners = _Owners(plan)
    for action in actions.on_page(user, plan):
        if action.slug == bound_slug and bound is not None:
            form = bound
        else:
            form = _make_form(action, plan, user=user)
            owners.offer(form)
        item = {"action": action, "form": form, "open": action.slug == bound_slug}
        if action.slug == "milestone-add":
            milestone_add = item  # shown in the milestones section
        elif action.slug == "measure-add":
            measure_add = item  # shown in the success measures section
        else:
            action_forms.append(item)
    # Every file on the plan, oldest first, for whoever reviews it (read with the timeline: no query more).
    evidence = sorted((file for update in updates for file in update.files), key=lambda f: (f.uploaded_at, f.pk))
    last_move = next((u for u in updates if u.status_to), None)
    returned = (
        last_move
        if last_move and plan.status == ActionPlan.Status.IN_PROGRESS and last_move.status_from in RETURNED_FROM
        else None
    )
    milestone_rows = _milestone_rows(user, plan, bound, bound_slug, owners)
    owners.attach_owner()
    context = {
        "plan": plan,
        "finding": plan.finding,
        **dependency,
        "updates": updates,
        "action_forms": action_forms,
        "milestones": milestone_rows,
        "milestone_add": milestone_add,
        "milestones_done": sum(1 for m in plan.milestone_list if m.done_on is not None),
        # A milestone form that failed: its errors head the milestones section.
        "milestone_error": bound if bound is not None and bound_slug.startswith("milestone-") else None,
        # The latest proposal of no action (prefetched by `for_detail`), shown while it awaits a decision or
        # once decided.
        "proposal": plan.proposal_with_people(),
        "measures": _measure_rows(user, plan, bound, bound_slug),
        "measure_add": measure_add,
        "measure_error": bound if bound is not None and bound_slug.startswith("measure-") else None,
        # A success measure still in its demonstration period: the plan cannot yet be verified as closed.
        "sustaining": [m for m in plan.measure_list if m.is_sustaining_on(timezone.localdate())],
        "can_comment": permissions.can_comment(user, plan),
        "links": links_of(plan.finding, user, organisation_id=plan.organisation_id),
        "can_link": permissions.can_link_findings(user),
        "discussion_form": discussion or forms.DiscussionForm(prefix="comment"),
        "stale": stale,
        "comment_added": comment_added,
        "today": timezone.localdate(),
        # The page's dozen forms share one token field and post to the plan's actions (`plan-action`), written
        # once here rather than by a tag per form.
        "csrf_input": csrf_input(request),
        "action_base": reverse("tracker:plan-action", args=[plan.pk, "comment"]).removesuffix("comment/"),
        "evidence_files": evidence,
        "returned": returned,
        # Why the date last moved, for the summary box (read with the timeline: no query more).
        "last_date_reason": next((u for u in updates if u.kind == Update.Kind.TARGET_DATE), None),
        **_statement_context(user, plan, statement_form, approve_form),
    }
    template = "tracker/actionplan_detail.html" + (f"#{partial}" if partial else "")
    return TemplateResponse(request, template, context, status=status)


def _timeline(plan: ActionPlan) -> list[Update]:
    """The plan's updates with their authors, each with its evidence files (`files`, by upload): the files
    read in one query by plan rather than prefetched by the updates' ids (a prefetch over a timeline of 50
    updates cost this process about 1 ms more: docs/BENCHMARKS.md)."""
    updates = list(plan.updates.select_related("author"))
    files: dict[int, list[Evidence]] = {update.pk: [] for update in updates}
    for file in Evidence.objects.filter(update__plan=plan).select_related("uploaded_by").order_by("pk"):
        if file.update_id in files:  # not a file sent after the timeline was read, with an update of its own
            files[file.update_id].append(file)
    for update in updates:
        update.files = files[update.pk]
    return updates


def _dependency_context(user: User, plan: ActionPlan) -> dict[str, Any]:
    """What the plan waits on (the plan waited on linked only for those who may see it) and the plans
    that wait on it: those the user may see, and a count of the others (no name, no reference)."""
    attach_dependencies([plan], user)
    waits = plan.waits
    waiting = None
    if waits is not None:
        link = waits.on_plan.get_absolute_url() if waits.shows_plan_to(user) else ""
        waiting = {"text": plan.waits_text, "since": waits.since, "link": link}
    waiting_on_it = Dependency.objects.current().filter(on_plan=plan).order_by("plan_id")
    waiting_plans = [d.plan for d in rows_joined(waiting_on_it, "plan__organisation", "plan__finding")]
    shown = [other for other in waiting_plans if permissions.can_view_plan(user, other)]
    hidden = len(waiting_plans) - len(shown)
    return {"waiting": waiting, "waited_on_by": {"shown": shown, "hidden": hidden} if waiting_plans else None}


def _statement_context(user: User, plan: ActionPlan, form: Form | None, approve_form: Form | None) -> dict[str, Any]:
    """The plan's public statement panel (tracker/public.py): read with the plan (`_get_plan`), and its writer
    and approver only when the plan has a statement."""
    statement = getattr(plan, "public_statement", None)
    if statement is not None and not PublicStatement.written_by.is_cached(statement):
        statement = PublicStatement.objects.select_related("written_by", "approved_by").get(pk=statement.pk)
    settings = getattr(plan.organisation, "tracker_settings", None)
    can_write = permissions.can_write_statement(user, plan)
    if form is None and can_write:
        form = forms.PublicStatementForm(prefix="statement", initial={"text": statement.text if statement else ""})
    return {
        "statement": statement,
        "organisation_is_public": bool(settings and settings.public_progress),
        "can_write_statement": can_write,
        "can_approve_statement": permissions.can_approve_statement(user, plan),
        "statement_form": form,
        "approve_errors": approve_form.non_field_errors() if approve_form is not None else [],
    }


def _get_plan(request: AuthedRequest, pk: int, *, owner: bool = True) -> ActionPlan:
    """The plan with what its page shows (its owner only with `owner`: `_Owners.attach_owner`). The dates
    brought forward are counted in the timeline the page reads (`_plan_page`): no subquery."""
    plans = ActionPlan.objects.visible_to(request.user).for_detail(
        brought_forward=False, owner=owner, proposal_people=False
    )
    # The public statement panel's facts, in the same query; the statement's people only when there is one
    # (`_statement_context`): most plans have none, and their two joins cost 0.5 ms of compiling and 0.3
    # of PostgreSQL's planning.
    plans = plans.select_related("organisation__tracker_settings", "public_statement")
    return get_object_or_404(plans, pk=pk)


@require_GET
def plan_detail(request: AuthedRequest, pk: int) -> HttpResponse:
    # A member of an organisation is offered its people as owners on its plans (read once for the forms):
    # the plan's owner is found among them rather than joined to the plan's query.
    return _plan_page(request, _get_plan(request, pk, owner=request.user.organisation_id is None))


@require_POST
def plan_action(request: AuthedRequest, pk: int, action: str) -> HttpResponse:
    if action == "comment":
        return _plan_comment(request, pk)
    plan = _get_plan(request, pk)
    spec = actions.ACTIONS.get(action)
    if spec is None or spec.form_class is None:
        raise Http404("No such action.")
    if not spec.allowed(request.user, plan):
        raise PermissionDenied
    form = _make_form(spec, plan, request.POST, request.FILES, user=request.user)
    if form.is_valid():
        try:
            spec.call(plan=plan, user=request.user, data=form.cleaned_data)
        except workflow.StaleVersion as error:
            plan = _get_plan(request, pk)
            # Keep the typed text, but with the version now on the page: once the person has read the
            # newer entries, sending the form again applies their change instead of conflicting again.
            data = request.POST.copy()
            data[form.add_prefix("version")] = plan.version
            form = _make_form(spec, plan, data, user=request.user)
            form.is_valid()
            form.add_error(None, error)
            if request.FILES:
                form.add_error(None, "Choose your evidence files again: a returned form cannot keep them.")
            return _plan_page(request, plan, bound=form, bound_slug=spec.slug, status=409, stale=True)
        except ValidationError as error:
            _add_refusal(form, error)
            if not spec.item and not spec.may(request.user, plan):
                # The plan is past this action (closed meanwhile, say): its form is no longer on the page, so
                # the refusal is said at the top of it.
                for message in error.messages:
                    messages.error(request, message)
        else:
            messages.success(request, spec.success)
            return redirect(plan)
    return _plan_page(request, plan, bound=form, bound_slug=spec.slug, status=400)


def _add_refusal(form: forms.PlanForm, error: ValidationError) -> None:
    """The workflow's refusal on the form: beside the field it names (a date outside the accepted range,
    say), else at the top of the form."""
    named = getattr(error, "error_dict", {})
    if any(name != NON_FIELD_ERRORS and name not in form.fields for name in named):
        error = ValidationError(error.messages)  # a field this form does not show: said at its top
    form.add_error(None, error)


def _plan_comment(request: AuthedRequest, pk: int) -> HttpResponse:
    """Add to the discussion. With htmx only the timeline is swapped, so the page stays where it was.

    Without htmx a comment answers with a redirect: the plan is read alone, without what its page shows
    (3 queries fewer and its joins: docs/BENCHMARKS.md), and read with it only if the page is shown."""
    if request.htmx:
        plan = _get_plan(request, pk)
    else:
        plan = get_object_or_404(ActionPlan.objects.visible_to(request.user), pk=pk)
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
    return _plan_page(request, _get_plan(request, pk), discussion=form, status=400)


@require_GET
def evidence_download(request: AuthedRequest, pk: int) -> FileResponse:
    visible = ActionPlan.objects.visible_to(request.user)
    evidence = get_object_or_404(Evidence.objects.filter(update__plan__in=visible), pk=pk)
    return evidence_file_response(evidence)


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
    findings = list(inspection.findings.order_by(*report_order(), "pk"))
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
        rows.append(figures.cell(row, inspection=inspection.slug, organisation=row["organisation__slug"]))
    gradings = inspection.gradings.select_related("organisation")
    context = {
        "inspection": inspection,
        "gradings": gradings,
        "causes": causes,
        "recommendations": recommendations,
        "afis": afis,
        "completion": rows,
        **responses.inspection_context(request, inspection),
    }
    return render(request, "inspections/inspection_detail.html", context)


@require_safe
def finding_detail(request: AuthedRequest, pk: int) -> HttpResponse:
    finding = get_object_or_404(Finding.objects.select_related("inspection", "cause_of_concern"), pk=pk)
    return render(
        request,
        "inspections/finding_detail.html",
        _finding_context(request, finding, _finding_plans(request, finding)),
    )


def _finding_plans(request: AuthedRequest, finding: Finding) -> Any:
    return (
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


def _finding_context(
    request: AuthedRequest,
    finding: Finding,
    plans: Any,
    link_form: forms.FindingLinkForm | None = None,
    success_form: forms.WhatGoodLooksLikeForm | None = None,
) -> dict[str, Any]:
    context = {
        "finding": finding,
        "plans": plans,
        "themes": finding.themes.all(),
        "links": links_of(finding, request.user),
        "can_link": permissions.can_link_findings(request.user),
        "show_history": permissions.can_see_history(request.user),
    }
    context["can_describe_success"] = permissions.can_describe_success(request.user)
    if context["can_describe_success"]:
        context["success_form"] = success_form or forms.WhatGoodLooksLikeForm(
            prefix="good", initial={"what_good_looks_like": finding.what_good_looks_like}
        )
    if context["can_link"]:
        context["link_form"] = link_form or forms.FindingLinkForm(prefix="link")
        context["suggestions"] = suggestions.for_finding(finding)
    if context["show_history"]:
        context["history"] = history_with_changes(finding.history.select_related("history_user"))
    return context


def _back_to(request: AuthedRequest, finding: Finding) -> HttpResponse:
    """Back where the form was (the finding page, or an import's results), never off this site."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure()):
        return redirect(target)
    return redirect(finding)


@require_POST
def finding_link(request: AuthedRequest, pk: int) -> HttpResponse:
    """Link this finding to one of an earlier inspection (also how a suggested link is accepted)."""
    if not permissions.can_link_findings(request.user):
        raise PermissionDenied
    finding = get_object_or_404(Finding.objects.select_related("inspection", "cause_of_concern"), pk=pk)
    form = forms.FindingLinkForm(request.POST, prefix="link")
    if form.is_valid():
        try:
            link = finding_links_service.link_findings(
                finding=finding, earlier=form.cleaned_data["earlier"], kind=form.cleaned_data["kind"],
                user=request.user, note=form.cleaned_data["note"],
            )  # fmt: skip
        except ValidationError as error:
            for message in error.messages:
                form.add_error("earlier", message)
        else:
            messages.success(
                request, f"{finding.reference} now {link.get_kind_display().lower()} {link.earlier.reference} "
                f"of {link.earlier.inspection.title}."
            )  # fmt: skip
            return _back_to(request, finding)
    context = _finding_context(request, finding, _finding_plans(request, finding), link_form=form)
    return render(request, "inspections/finding_detail.html", context, status=400)


@require_POST
def finding_success(request: AuthedRequest, pk: int) -> HttpResponse:
    """The inspectorate says what good looks like for a finding (recorded in the finding's history)."""
    if not permissions.can_describe_success(request.user):
        raise PermissionDenied
    finding = get_object_or_404(Finding.objects.select_related("inspection", "cause_of_concern"), pk=pk)
    form = forms.WhatGoodLooksLikeForm(request.POST, prefix="good")
    if form.is_valid():
        text = form.cleaned_data["what_good_looks_like"].strip()
        if text == finding.what_good_looks_like:
            form.add_error("what_good_looks_like", "That is what it says already.")
        else:
            finding.what_good_looks_like = text
            finding._change_reason = "What good looks like"
            finding.save(update_fields=["what_good_looks_like"])
            messages.success(request, "What good looks like saved." if text else "What good looks like removed.")
            return redirect(finding)
    context = _finding_context(request, finding, _finding_plans(request, finding), success_form=form)
    return render(request, "inspections/finding_detail.html", context, status=400)


@require_POST
def finding_unlink(request: AuthedRequest, pk: int, link_pk: int) -> HttpResponse:
    if not permissions.can_link_findings(request.user):
        raise PermissionDenied
    link = get_object_or_404(
        FindingLink.objects.select_related("finding", "earlier"), Q(finding_id=pk) | Q(earlier_id=pk), pk=link_pk
    )
    finding = link.finding if link.finding_id == pk else link.earlier
    finding_links_service.unlink_findings(link=link)
    messages.success(request, f"Link between {link.finding.reference} and {link.earlier.reference} removed.")
    return _back_to(request, finding)


@require_POST
def finding_dismiss_suggestion(request: AuthedRequest, pk: int, earlier_pk: int) -> HttpResponse:
    """Not linked: the earlier finding is never suggested for this one again."""
    if not permissions.can_link_findings(request.user):
        raise PermissionDenied
    finding = get_object_or_404(Finding, pk=pk)
    earlier = get_object_or_404(Finding.objects.exclude(pk=pk), pk=earlier_pk)
    finding_links_service.dismiss_suggestion(finding=finding, earlier=earlier, user=request.user)
    messages.success(request, f"{earlier.reference} of {earlier.inspection.title} will not be suggested again.")
    return _back_to(request, finding)


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
    action = form.allowed_actions[data["action"]]
    fields = {name: data[name] for name in form.fields_of(action)}
    result = bulk.apply_bulk(user=request.user, plan_ids=ids, action=action.slug, **fields)
    context = {
        "result": result,
        "action": action.bulk,
        "truncated": len(ids) > bulk.MAX_BULK,
        "max": bulk.MAX_BULK,
        "back": back,
    }
    return render(request, "tracker/bulk_result.html", context)


# --- search ----------------------------------------------------------------------------------


@require_safe
def search_page(request: AuthedRequest) -> HttpResponse:
    """One search over what the user may see; without words, how to search."""
    form = forms.SearchForm(request.GET or None, user=request.user)
    context: dict[str, Any] = {"form": form}
    status = 200
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        context["results"] = search(user=request.user, text=data["q"], filters=form.filters(), page=data["page"] or 1)
        query = request.GET.copy()
        for name in ("page", "kind"):
            query.pop(name, None)
        context["query_without_kind"] = query.urlencode()
        query = request.GET.copy()
        query.pop("page", None)
        context["query_without_page"] = query.urlencode()
    elif form.is_bound:
        status = 400
    return render(request, "tracker/search.html", context, status=status)
