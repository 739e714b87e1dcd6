"""The public progress page: what an organisation that has chosen to publish it shows to anyone.

`/public/<slug>/` (HTML), `/public/<slug>.csv` and `/public/<slug>.json`, anonymous and read-only:
the organisation's published inspections, its gradings, each finding's stage and target date, and the
public statements its managers approved. Nothing else: the rows are read as an explicit list of public
columns (`PUBLIC_PLAN_COLUMNS`), so no note, comment, evidence, response text or person's name is ever
loaded, let alone shown. An organisation that has not opted in answers 404, as an unknown one does.

The figures are cached under the organisation's data version (tracker/freshness.py), which every change
to its plans, gradings, statements and settings moves; requests are rate-limited per client address
(tracker/ratelimit.py).

Also here: the organisation's settings page, where its managers opt in or out, and the services that
write, approve and withdraw a plan's public statement.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from inspections.models import Finding, Grading, Organisation, report_order

from . import forms, freshness, permissions
from .http import AuthedRequest
from .models import ActionPlan, OrganisationSettings, PublicStatement, User
from .ratelimit import rate_limited
from .reports import neutralise
from .views import _get_plan, _plan_page

# --- what the public sees ----------------------------------------------------------------------

# The only columns the public page reads. Adding one here publishes it: it must be public information.
PUBLIC_PLAN_COLUMNS = (
    "finding__inspection_id", "finding__inspection__title", "finding__inspection__slug",
    "finding__inspection__published_on", "finding__inspection__report_url", "finding__reference",
    "finding__kind", "finding__text", "status", "target_date",
    "public_statement__text", "public_statement__approved_at",
)  # fmt: skip

STAGE_OF = {status: stage for stage, statuses in ActionPlan.STAGE_STATUSES.items() for status in statuses}


def public_organisations() -> Any:
    """Organisations whose managers have chosen to publish their progress."""
    return Organisation.objects.filter(tracker_settings__public_progress=True)


def is_public(organisation: Organisation) -> bool:
    return public_organisations().filter(pk=organisation.pk).exists()


def _stage_counts(stages: list[str]) -> list[dict[str, Any]]:
    """Plans per stage, every stage in order (they add up to the number of plans)."""
    return [
        {"value": str(stage), "label": stage.label, "count": sum(1 for s in stages if s == stage)}
        for stage in ActionPlan.Stage
    ]


def progress_of(organisation: Organisation, today: dt.date) -> dict[str, Any]:
    """Everything the public page and feeds show for an organisation, as plain values (two queries).

    Inspections published on or before `today` on which the organisation has a plan or a grading, newest
    first; in each, its gradings and its findings addressed to the organisation, by reference.
    """
    kinds = dict(Finding.Kind.choices)
    grades = dict(Grading.Grade.choices)
    inspections: dict[int, dict[str, Any]] = {}

    def inspection(pk: int, title: str, slug: str, published_on: dt.date, report_url: str) -> dict[str, Any]:
        return inspections.setdefault(pk, {
            "title": title, "slug": slug, "published_on": published_on, "report_url": report_url,
            "gradings": [], "findings": [],
        })  # fmt: skip

    gradings = (
        Grading.objects.filter(organisation=organisation, inspection__published_on__lte=today)
        .order_by("area", "pk")
        .values_list("inspection_id", "inspection__title", "inspection__slug", "inspection__published_on",
                     "inspection__report_url", "area", "grade")
    )  # fmt: skip
    plans = (
        ActionPlan.objects.filter(organisation=organisation, finding__inspection__published_on__lte=today)
        .order_by(*report_order("finding__"), "pk")
        .values_list(*PUBLIC_PLAN_COLUMNS)
    )
    for pk, title, slug, published_on, report_url, area, grade in gradings:
        inspection(pk, title, slug, published_on, report_url)["gradings"].append(
            {"area": area, "grade": grade, "grade_label": grades.get(grade, grade)}
        )
    for (pk, title, slug, published_on, report_url, reference, kind, text, status, target_date,
         statement, approved_at) in plans:  # fmt: skip
        stage = STAGE_OF[status]
        inspection(pk, title, slug, published_on, report_url)["findings"].append({
            "reference": reference, "kind": kind, "kind_label": kinds.get(kind, kind), "text": text,
            "stage": str(stage), "stage_label": stage.label, "target_date": target_date,
            # Only an approved statement: a statement changed since its approval has none until approved again.
            "statement": statement if approved_at is not None else "",
            "statement_approved_on": timezone.localdate(approved_at) if approved_at is not None else None,
        })  # fmt: skip
    ordered = sorted(inspections.values(), key=lambda i: (i["published_on"], i["title"]), reverse=True)
    all_stages: list[str] = []
    for item in ordered:
        item_stages = [finding["stage"] for finding in item["findings"]]
        item["stages"] = _stage_counts(item_stages)
        item["total"] = len(item_stages)
        all_stages += item_stages
    return {
        "organisation": {"name": organisation.name, "slug": organisation.slug},
        "as_of": today,
        "stages": _stage_counts(all_stages),
        "total": len(all_stages),
        "inspections": ordered,
    }


def cached_progress(organisation: Organisation) -> dict[str, Any]:
    today = timezone.localdate()
    key = freshness.organisation_key(organisation.pk)
    return freshness.cached(key, f"public-progress:{today}", lambda: progress_of(organisation, today))


def _public_organisation(slug: str) -> Organisation:
    """The organisation, if it publishes its progress; otherwise 404, exactly as for an unknown slug."""
    return get_object_or_404(public_organisations(), slug=slug)


# --- the public pages ----------------------------------------------------------------------------

TOO_MANY = "Too many requests from your address: try again in a minute."


def _refuse_page(request: HttpRequest, retry_after: int) -> HttpResponse:
    return render(request, "429.html", {"retry_after": retry_after})


def _refuse_csv(request: HttpRequest, retry_after: int) -> HttpResponse:
    return HttpResponse(TOO_MANY + "\n", content_type="text/plain; charset=utf-8")


def _refuse_json(request: HttpRequest, retry_after: int) -> HttpResponse:
    return JsonResponse({"detail": TOO_MANY})


@login_not_required
@require_safe
@rate_limited("public", _refuse_page)
def public_page(request: HttpRequest, slug: str) -> HttpResponse:
    organisation = _public_organisation(slug)
    context = {"organisation": organisation, "progress": cached_progress(organisation)}
    return render(request, "tracker/public_progress.html", context)


CSV_HEADER = [
    "Organisation", "Inspection", "Published", "Report", "Gradings", "Reference", "Kind", "Finding", "Stage",
    "Target date", "Public statement", "Statement approved on",
]  # fmt: skip


def csv_rows(progress: dict[str, Any]) -> list[list[Any]]:
    rows = []
    for item in progress["inspections"]:
        gradings = "; ".join(f"{g['area']}: {g['grade_label']}" for g in item["gradings"])
        for f in item["findings"]:
            rows.append([
                progress["organisation"]["name"], item["title"], item["published_on"], item["report_url"], gradings,
                f["reference"], f["kind_label"], f["text"], f["stage_label"], f["target_date"] or "",
                f["statement"], f["statement_approved_on"] or "",
            ])  # fmt: skip
    return rows


@login_not_required
@require_safe
@rate_limited("public", _refuse_csv)
def public_csv(request: HttpRequest, slug: str) -> HttpResponse:
    organisation = _public_organisation(slug)
    progress = cached_progress(organisation)
    out = io.StringIO()
    out.write("\ufeff")  # so Excel reads UTF-8
    writer = csv.writer(out)
    writer.writerow(CSV_HEADER)
    for row in csv_rows(progress):
        writer.writerow([neutralise(value.isoformat() if isinstance(value, dt.date) else value) for value in row])
    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{organisation.slug}-progress-{progress["as_of"]}.csv"'
    return response


def _json_value(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    return value


@login_not_required
@require_safe
@rate_limited("public", _refuse_json)
def public_json(request: HttpRequest, slug: str) -> JsonResponse:
    organisation = _public_organisation(slug)
    return JsonResponse(_json_value(cached_progress(organisation)), json_dumps_params={"ensure_ascii": False})


# --- services ------------------------------------------------------------------------------------


@transaction.atomic
def set_public_progress(*, organisation: Organisation, user: User, public: bool) -> OrganisationSettings:
    """Turn the organisation's public progress page on or off."""
    if not permissions.can_manage_organisation(user, organisation.pk):
        raise PermissionDenied
    found, _ = OrganisationSettings.objects.select_for_update().get_or_create(organisation=organisation)
    if found.public_progress != public:
        found.public_progress = public
        found.changed_by = user
        found.changed_at = timezone.now()
        found.save()
    return found


@transaction.atomic
def write_statement(*, plan: ActionPlan, user: User, text: str) -> PublicStatement:
    """Write or change a plan's public statement. A change withdraws any approval: the public page shows
    the statement again only once a manager has approved the new text."""
    if not permissions.can_write_statement(user, plan):
        raise PermissionDenied
    text = text.strip()
    if not text:
        raise ValidationError("Write the statement.")
    if len(text) > PublicStatement.MAX_LENGTH:
        raise ValidationError(f"A public statement is at most {PublicStatement.MAX_LENGTH} characters.")
    statement = PublicStatement.objects.select_for_update().filter(plan=plan).first()
    if statement is None:
        return PublicStatement.objects.create(plan=plan, text=text, written_by=user)
    if statement.text != text:
        statement.text, statement.written_by, statement.written_at = text, user, timezone.now()
        statement.approved_by = statement.approved_at = None
        statement.save()
    return statement


@transaction.atomic
def approve_statement(*, plan: ActionPlan, user: User, seen_text: str) -> PublicStatement:
    """Approve a plan's public statement for publication, as the manager read it (`seen_text`): if it
    changed in the meantime nothing is approved."""
    if not permissions.can_approve_statement(user, plan):
        raise PermissionDenied
    statement = PublicStatement.objects.select_for_update().filter(plan=plan).first()
    if statement is None:
        raise ValidationError("This plan has no public statement to approve.")
    if statement.text != seen_text.strip():
        raise ValidationError("The statement has changed since you read it: read it again, then approve it.")
    if not statement.is_approved:
        statement.approved_by, statement.approved_at = user, timezone.now()
        statement.save()
    return statement


@transaction.atomic
def withdraw_statement(*, plan: ActionPlan, user: User) -> PublicStatement:
    """Take an approved statement off the public page (it stays, awaiting approval again)."""
    if not permissions.can_approve_statement(user, plan):
        raise PermissionDenied
    statement = PublicStatement.objects.select_for_update().filter(plan=plan).first()
    if statement is None:
        raise ValidationError("This plan has no public statement.")
    if statement.is_approved:
        statement.approved_by = statement.approved_at = None
        statement.save()
    return statement


# --- the organisation's settings and the statement forms -----------------------------------------


def _visible_organisation(request: AuthedRequest, slug: str) -> Organisation:
    """The organisation if the user may see it (another organisation's is a 404)."""
    user = request.user
    if permissions.sees_every_organisation(user):
        return get_object_or_404(Organisation, slug=slug)
    return get_object_or_404(Organisation, slug=slug, pk=user.organisation_id)


@require_http_methods(["GET", "POST"])
def organisation_settings(request: AuthedRequest, slug: str) -> HttpResponse:
    organisation = _visible_organisation(request, slug)
    if not permissions.can_manage_organisation(request.user, organisation.pk):
        raise PermissionDenied
    current = OrganisationSettings.objects.filter(organisation=organisation).select_related("changed_by").first()
    status = 200
    if request.method == "POST":
        form = forms.OrganisationSettingsForm(request.POST)
        if form.is_valid():
            public = form.cleaned_data["public_progress"]
            set_public_progress(organisation=organisation, user=request.user, public=public)
            messages.success(
                request, "The public progress page is on." if public else "The public progress page is off."
            )
            return redirect("tracker:organisation-settings", slug=organisation.slug)
        status = 400
    else:
        form = forms.OrganisationSettingsForm(initial={"public_progress": bool(current and current.public_progress)})
    statements = list(
        PublicStatement.objects.filter(plan__organisation=organisation)
        .select_related("plan__finding__inspection", "written_by", "approved_by")
        .order_by(F("approved_at").asc(nulls_first=True), "-written_at", "pk")
    )
    context = {
        "organisation": organisation,
        "form": form,
        "current": current,
        "is_public": bool(current and current.public_progress),
        "awaiting": [s for s in statements if not s.is_approved],
        "approved": [s for s in statements if s.is_approved],
    }
    return render(request, "tracker/organisation_settings.html", context, status=status)


@require_POST
def plan_statement(request: AuthedRequest, pk: int) -> HttpResponse:
    plan = _get_plan(request, pk)
    if not permissions.can_write_statement(request.user, plan):
        raise PermissionDenied
    form = forms.PublicStatementForm(request.POST, prefix="statement")
    if form.is_valid():
        try:
            statement = write_statement(plan=plan, user=request.user, text=form.cleaned_data["text"])
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(
                request, "Public statement saved." if statement.is_approved else
                "Public statement saved: a manager must approve it before it is published.",
            )  # fmt: skip
            return redirect(plan)
    return _plan_page(request, _get_plan(request, pk), statement_form=form, status=400)


@require_POST
def plan_statement_approve(request: AuthedRequest, pk: int) -> HttpResponse:
    plan = _get_plan(request, pk)
    if not permissions.can_approve_statement(request.user, plan):
        raise PermissionDenied
    form = forms.ApproveStatementForm(request.POST, prefix="approve")
    if form.is_valid():
        try:
            if form.cleaned_data["decision"] == "withdraw":
                withdraw_statement(plan=plan, user=request.user)
                done = "Public statement withdrawn from the public page."
            else:
                approve_statement(plan=plan, user=request.user, seen_text=form.cleaned_data["text"])
                done = "Public statement approved for the public page."
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, done)
            return redirect(plan)
    return _plan_page(request, _get_plan(request, pk), approve_form=form, status=400)
