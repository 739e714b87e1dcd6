"""Authorization sweep: every URL pattern in the project, for every role, with GET and POST.

The patterns come from the resolver, so a new page is swept as soon as it is routed, and a pattern
with no entry in RULES fails here with a message saying so. Two organisations, A and B, each hold a
plan, a timeline entry, an evidence file, people and an API token carrying a marker string unique to
that organisation (documents are read as their readers read them: the text of a PDF, the XML of a
DOCX). For each pattern and role the sweep asserts:

- anonymous requests reach only the login pages and the health check; every other page redirects to
  a login page (API: 401/403);
- the status each role gets is the one the rule states (another organisation's object is 404);
- a member of one organisation never sees the other organisation's marker, in any page, export or file;
- no request by anyone but an administrator changes any row in the database other than the acting
  user's own (sessions, login bookkeeping and their own authenticator aside); where a rule lets a role
  change things (bulk actions), nothing of the other organisation may change;
- every workflow action on B's plan, web form and API, is refused to everyone the DESIGN's permission
  table leaves out, and goes through for everyone it allows (so the refusals are not just a malformed
  request);
- every answer to a signed-in user, and every API answer, says `Cache-Control: no-store`;
- no HTML page carries anything the Content Security Policy would block (inline style attributes,
  event handlers, inline scripts or styles without the nonce).

Adding a rule: one entry per URL name in RULES, built with the helpers below: a page `page()`, an
organisation's object `org_object()`, administrators only `admin_only()`; for the API (DRF router
names) a read-only resource `api_read()` and a change on a plan `api_plan_change()`, which also runs
the change as every role. Format-suffix patterns share their name with the plain one and are swept
with `format=json`.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pypdf
import pytest
from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.core.files.base import ContentFile
from django.db import connection
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from django.utils.regex_helper import normalize
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.factories import (
    PDF_BYTES,
    ActionPlanFactory,
    AdminFactory,
    DependencyFactory,
    EvidenceFactory,
    FindingFactory,
    GradingFactory,
    InspectionFactory,
    InspectorFactory,
    ManagerFactory,
    MilestoneFactory,
    OrganisationFactory,
    StaffFactory,
    UpdateFactory,
    pdf_upload,
    sign_in,
)
from tracker.models import (
    ActionPlan,
    ApiToken,
    Dependency,
    Evidence,
    Job,
    Milestone,
    NoActionProposal,
    OrganisationSettings,
    PccResponse,
    PublicStatement,
    SuccessMeasure,
    Update,
    User,
)

MARKERS = {"a": "MARKER-A-4b1f9c", "b": "MARKER-B-7e2d0a"}
ORG_ROLES = ("staff_a", "manager_a", "staff_b", "manager_b")
SIGNED_IN = (*ORG_ROLES, "inspector", "admin")
ROLES = ("anonymous", *SIGNED_IN)
S = ActionPlan.Status

# What a response may be. An int or a set of ints is a status; LOGIN is a redirect to a login page;
# ANY is any status below 500 (used only for administrators inside the Django admin).
LOGIN = "login"
ANY = "any"
SKIP = "skip"  # not requested
Expect = int | frozenset[int] | str
OPEN, REDIRECT, API = "open", "redirect", "api"  # how anonymous requests are answered
NOT_FOUND = "not-found"  # the API's catch-all for unknown paths: 404 for everyone, anonymous included


# --- the world ------------------------------------------------------------------------------


@dataclass
class World:
    org: dict[str, Any]
    users: dict[str, User]
    plan: dict[str, ActionPlan]
    evidence: dict[str, Any]
    inspection: Any
    shared_finding: Any
    b_only_finding: Any
    superseding_finding: Any
    job: dict[str, Job] = field(default_factory=dict)
    # Two milestones in each organisation's plan, the first open, the second done.
    milestones: dict[str, list[Milestone]] = field(default_factory=dict)
    # One success measure in each organisation's plan.
    measures: dict[str, SuccessMeasure] = field(default_factory=dict)


def build_world() -> World:
    org = {
        "a": OrganisationFactory(name="Surrey Police", short_name="Surrey", slug="surrey"),
        "b": OrganisationFactory(name="Hampshire Constabulary", short_name="Hampshire", slug="hampshire"),
    }
    users: dict[str, User] = {}
    for side in ("a", "b"):
        users[f"staff_{side}"] = StaffFactory(
            username=f"staff.{side}", last_name=f"Staffer {MARKERS[side]}", organisation=org[side]
        )
        users[f"manager_{side}"] = ManagerFactory(
            username=f"manager.{side}", last_name=f"Manager {MARKERS[side]}", organisation=org[side]
        )
    users["inspector"] = InspectorFactory(username="inspector")
    users["admin"] = AdminFactory(username="admin")

    inspection = InspectionFactory(title="South East SOC 2024", slug="south-east-soc-2024")
    shared = FindingFactory(inspection=inspection, reference="R1")
    shared.addressed_to.set(org.values())
    b_only = FindingFactory(inspection=inspection, reference="R2")
    b_only.addressed_to.set([org["b"]])
    superseding = FindingFactory(inspection=InspectionFactory(), reference="R9", supersedes=shared)
    for side in ("a", "b"):
        GradingFactory(inspection=inspection, organisation=org[side])

    plan, evidence = {}, {}
    for side in ("a", "b"):
        marker = MARKERS[side]
        plan[side] = ActionPlanFactory(
            finding=shared, organisation=org[side], owner=users[f"staff_{side}"], summary=f"Response {marker}"
        )
        update = UpdateFactory(plan=plan[side], author=users[f"staff_{side}"], note=f"Progress {marker}")
        evidence[side] = EvidenceFactory(
            update=update,
            original_name=f"{marker}.pdf",
            file__data=PDF_BYTES + f"% {marker}\n".encode(),
        )
        TOTPDevice.objects.create(user=users[f"staff_{side}"], name=f"Phone {marker}", confirmed=True)
        ApiToken.issue(user=users[f"manager_{side}"], name=f"Sync {marker}")
    ActionPlanFactory(finding=b_only, organisation=org["b"], summary=f"Second response {MARKERS['b']}")
    # A finished export job of each organisation's staff member, with its file (background jobs).
    job = {}
    for side in ("a", "b"):
        owner = users[f"staff_{side}"]
        job[side] = Job.objects.create(
            kind=Job.Kind.EXPORT_XLSX, user=owner, scope=f"organisation-{org[side].pk}", status=Job.Status.SUCCEEDED,
            message=f"Exported {MARKERS[side]}", file_name=f"{MARKERS[side]}.xlsx",
        )  # fmt: skip
        job[side].file.save("export.xlsx", ContentFile(f"rows {MARKERS[side]}".encode()))
    # A publishes its progress page (tracker/public.py); B does not.
    OrganisationSettings.objects.create(organisation=org["a"], public_progress=True)
    # Each organisation's published 56-day response to the inspection, its file carrying the marker.
    for side in ("a", "b"):
        recorded = PccResponse(
            inspection=inspection, organisation=org[side], published_on=timezone.localdate(),
            original_name=f"Response {MARKERS[side]}.pdf", size=10, sha256="0" * 64, content_type="application/pdf",
            uploaded_by=users[f"manager_{side}"],
        )  # fmt: skip
        recorded.file.save("response.pdf", ContentFile(PDF_BYTES + f"% {MARKERS[side]}\n".encode()))
    # A finished findings import of another person's (the results page answers only its owner).
    job["import"] = Job.objects.create(
        kind=Job.Kind.IMPORT_APPLY, user=users["inspector"], status=Job.Status.SUCCEEDED,
        message=f"Imported {MARKERS['b']}.csv.", params={"summary": {"name": f"{MARKERS['b']}.csv"}},
    )  # fmt: skip
    milestones = {
        side: [
            MilestoneFactory(plan=plan[side], title=f"Step {marker}", owner=users[f"staff_{side}"], position=1),
            MilestoneFactory(plan=plan[side], title=f"Done {marker}", position=2, done_on=timezone.localdate()),
        ]
        for side, marker in MARKERS.items()
    }
    # A's plan is blocked, waiting on B's plan (whose owner's name carries B's marker): A's people read
    # only that it waits on another organisation's plan; B's people read only that one plan of another
    # organisation waits on theirs.
    ActionPlan.objects.filter(pk=plan["a"].pk).update(status=S.BLOCKED)
    plan["a"].refresh_from_db()
    DependencyFactory(plan=plan["a"], kind=Dependency.Kind.PLAN, name="", on_plan=plan["b"],
                      recorded_by=users["staff_a"])  # fmt: skip
    measures = {
        side: SuccessMeasure.objects.create(plan=plan[side], text=f"Measure {marker}", position=1)
        for side, marker in MARKERS.items()
    }
    return World(org, users, plan, evidence, inspection, shared, b_only, superseding, job, milestones, measures)


# --- rules ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    """One concrete request for a pattern: its URL arguments, query string and expected statuses.

    `post` holds the statuses for every method but GET. `data` is the body (default: generic_data()).
    `may_change` names the roles whose request may legitimately write (API writes); even they must
    leave the other organisation's rows alone. Everyone else must change nothing at all.
    """

    kwargs: dict[str, Any] = field(default_factory=dict)
    query: str = ""
    get: dict[str, Expect] = field(default_factory=dict)
    post: dict[str, Expect] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    may_change: frozenset[str] = frozenset()
    # Called after each request as (world, role): what must hold, e.g. that the rightful role's change
    # happened (so that everyone else's refusal is not just a malformed request).
    then: Callable[[World, str], None] | None = None


@dataclass(frozen=True)
class Rule:
    variants: Callable[[World], list[Variant]]
    anonymous: str = REDIRECT
    methods: tuple[str, ...] = ("get", "post")
    # Extra POSTs whose refusal and acceptance are both checked (workflow actions).
    actions: Callable[[World], list[ActionCase]] | None = None


def everyone(status: Expect) -> dict[str, Expect]:
    return dict.fromkeys(SIGNED_IN, status)


def side_object(side: str, ok: Expect = 200) -> dict[str, Expect]:
    """Statuses for an object of organisation `side`: its members and inspectors see it, the others get 404."""
    other = "b" if side == "a" else "a"
    return {
        f"staff_{side}": ok,
        f"manager_{side}": ok,
        f"staff_{other}": 404,
        f"manager_{other}": 404,
        "inspector": ok,
        "admin": ok,
    }


def page(*queries: str, post: Expect = 405) -> Rule:
    """A page every signed-in user may see (what it lists is scoped by the view)."""
    return Rule(
        lambda w: [Variant(query=q.format(w=w), get=everyone(200), post=everyone(post)) for q in queries or [""]]
    )


def org_object(kwarg: str, lookup: Callable[[World, str], Any], post: Expect = 405) -> Rule:
    """One page per organisation's object: its own members 200, the other organisation 404."""
    return Rule(
        lambda w: [
            Variant(
                kwargs={kwarg: lookup(w, side)},
                get=side_object(side),
                post=side_object(side, post) if post != 405 else everyone(405),
            )
            for side in ("a", "b")
        ]
    )


def admin_only(*kwargs_list: dict[str, Any], get: Expect = 200, post: Expect = 200) -> Rule:
    """Administrators only (imports): everyone else 403, or 405 where the method is not accepted at all."""

    def others(admin: Expect) -> Expect:
        return 405 if admin == 405 else 403

    return Rule(
        lambda w: [
            Variant(kwargs=kw, get=everyone(others(get)) | {"admin": get},
                    post=everyone(others(post)) | {"admin": post})
            for kw in (kwargs_list or [{}])
        ]
    )  # fmt: skip


def import_results(w: World) -> list[Variant]:
    """The import results page: administrators only; `?job=` names their own import job, anyone
    else's is a 404 and a malformed one a 400."""
    others = everyone(403)
    return [
        Variant(get=others | {"admin": 302}, post=everyone(405)),
        Variant(query=f"?job={w.job['import'].pk}", get=others | {"admin": 404}, post=everyone(405)),
        Variant(query="?job=not-a-job", get=others | {"admin": 400}, post=everyone(405)),
    ]


def export_variants(w: World) -> list[Variant]:
    return [
        Variant(get=everyone(200), post=everyone(405)),
        Variant(query="?q=MARKER", get=everyone(200), post=everyone(405)),
        *[
            # As on /plans/, a filter naming an organisation the user may not see matches nothing:
            # the export is the header row alone (the marker check proves no row of it leaks).
            Variant(query=f"?organisation={w.org[side].slug}", get=everyone(200), post=everyone(405))
            for side in ("a", "b")
        ],
    ]


def response_variants(w: World) -> list[Variant]:
    return [
        Variant(
            kwargs={"slug": w.inspection.slug, "organisation_slug": w.org[side].slug},
            get=side_object(side),
            post=everyone(405),
        )
        for side in ("a", "b")
    ]


def draft_variants(w: World) -> list[Variant]:
    """The drafts, and a draft for one organisation together with the other (`?with=`): the other is no
    regional unit of its region, so those who see both are told so (400); anyone else gets a 404."""
    kwargs = {"slug": w.inspection.slug, "organisation_slug": w.org["a"].slug}
    return [
        *response_variants(w),
        Variant(kwargs=kwargs, query=f"?with={w.org['b'].slug}",
                get=everyone(404) | {"inspector": 400, "admin": 400}, post=everyone(405)),
    ]  # fmt: skip


def job_owner_only(w: World) -> list[Variant]:
    """A job's status page and file: its owner alone; everyone else, inspectors and administrators too, 404."""
    return [
        Variant(kwargs={"pk": w.job[side].pk}, get=everyone(404) | {f"staff_{side}": 200}, post=everyone(405))
        for side in ("a", "b")
    ]


def own_account(get: Expect = 200, post: Expect = frozenset({200, 302})) -> Rule:
    """The signed-in user's own settings: every role may use them, for themselves only."""
    return Rule(lambda w: [Variant(get=everyone(get), post=everyone(post))])


def django_admin(w: World, endpoint: Endpoint) -> list[Variant]:
    """Any Django admin page: only administrators get in; everyone else is sent to the admin login."""
    # The administrator's POSTs are left out: the admin's own forms are Django's, and its autocomplete
    # widget fails (500) re-rendering an id that is not a number, which only an administrator can send.
    expect = everyone(LOGIN)
    return [Variant(kwargs=admin_arguments(w, endpoint), get=expect | {"admin": ANY}, post=expect | {"admin": SKIP})]


# --- workflow actions on B's plan -------------------------------------------------------------

LATER = timezone.localdate() + dt.timedelta(days=200)
STAFF_SIDE = frozenset({"staff_b", "manager_b", "admin"})
MANAGER_SIDE = frozenset({"manager_b", "admin"})
INSPECTOR_SIDE = frozenset({"inspector", "admin"})
ANYONE_WHO_SEES = frozenset({"staff_b", "manager_b", "inspector", "admin"})


@dataclass(frozen=True)
class ActionCase:
    action: str
    state: str
    data: Callable[[int], dict[str, Any]]
    allowed: frozenset[str]
    path: str = "/plans/{pk}/{action}/"
    success: frozenset[int] = frozenset({302})
    api: bool = False
    # Puts back what an allowed role's change altered besides the plan's status (a milestone), so the
    # next role meets the same state.
    reset: Callable[[], None] | None = None


def action_cases(w: World) -> list[ActionCase]:
    later = (timezone.localdate() + dt.timedelta(days=200)).isoformat()

    def form(prefix: str, **fields: Any) -> Callable[[int], dict[str, Any]]:
        return lambda version: {f"{prefix}-{k}": v for k, v in (fields | {"version": version}).items()}

    return [
        # B's plan has milestones, so its percentage follows them: progress is a note alone.
        ActionCase("progress", S.IN_PROGRESS, form("progress", note="Sweep"), STAFF_SIDE),
        ActionCase("block", S.IN_PROGRESS, form("block", note="Waiting on vetting", waiting_on="partner_agency",
                                                 waiting_on_name="Vetting unit"), STAFF_SIDE),
        ActionCase("waiting-on", S.BLOCKED, form("waiting-on", note="Now national", waiting_on="national_body",
                                                      waiting_on_name="Home Office"), STAFF_SIDE,
                   reset=dependency_reset(w)),
        ActionCase("unblock", S.BLOCKED, form("unblock", note="Vetting done"), STAFF_SIDE),
        ActionCase("submit", S.IN_PROGRESS, form("submit", statement="Done, see evidence",
                                                   open_milestones="The open step follows the inspection",
                                                   **{f"measure_{w.measures['b'].pk}": "Met in the audit"}),
                   STAFF_SIDE),
        ActionCase("sign-off", S.SUBMITTED, form("sign-off", comment="Agreed"), MANAGER_SIDE),
        ActionCase("return", S.SUBMITTED, form("return", comment="Needs more"), MANAGER_SIDE),
        ActionCase("target-date", S.IN_PROGRESS, form("target-date", target_date=later, reason="Vetting"),
                   MANAGER_SIDE),
        ActionCase("owner", S.IN_PROGRESS, form("owner", owner=w.users["manager_b"].pk), MANAGER_SIDE),
        ActionCase("close", S.SIGNED_OFF, form("close", comment="Verified", confirm="on"), INSPECTOR_SIDE),
        ActionCase("reopen", S.SIGNED_OFF, form("reopen", comment="Not yet"), INSPECTOR_SIDE),
        ActionCase("supersede", S.IN_PROGRESS,
                   form("supersede", superseding_finding=w.superseding_finding.pk), INSPECTOR_SIDE),
        ActionCase("no-further-action", S.IN_PROGRESS, form("no-further-action", comment="Overtaken"),
                   INSPECTOR_SIDE),
        ActionCase("comment", S.IN_PROGRESS, lambda version: {"comment-note": "Sweep comment"}, ANYONE_WHO_SEES),
        *milestone_cases(w, form),
        *measure_cases(w, form),
        *no_action_cases(w, form),
    ]  # fmt: skip


def milestone_reset(w: World) -> Callable[[], None]:
    """Puts B's two milestones back as the world made them (the first open, the second done)."""
    step, done = w.milestones["b"]

    def reset() -> None:
        Milestone.objects.filter(pk=step.pk).update(title=step.title, done_on=None, position=1)
        Milestone.objects.filter(pk=done.pk).update(title=done.title, done_on=done.done_on, position=2)

    return reset


def milestone_cases(w: World, form: Callable[..., Callable[[int], dict[str, Any]]]) -> list[ActionCase]:
    """The plan page's milestone forms on B's plan: its staff and managers (and administrators) only."""
    step, done = w.milestones["b"]
    reset = milestone_reset(w)

    return [
        ActionCase("milestone-add", S.IN_PROGRESS, form("milestone-add", title="Sweep step"), STAFF_SIDE),
        ActionCase("milestone-edit", S.IN_PROGRESS, form("milestone-edit", milestone=step.pk, title="Renamed"),
                   STAFF_SIDE, reset=reset),
        ActionCase("milestone-complete", S.IN_PROGRESS, form("milestone-complete", milestone=step.pk), STAFF_SIDE,
                   reset=reset),
        ActionCase("milestone-reopen", S.NOT_STARTED, form("milestone-reopen", milestone=done.pk, reason="Not yet"),
                   STAFF_SIDE, reset=reset),
        ActionCase("milestone-move", S.BLOCKED, form("milestone-move", milestone=step.pk, direction="down"),
                   STAFF_SIDE, reset=reset),
    ]  # fmt: skip


def measure_reset(w: World) -> Callable[[], None]:
    """Puts B's success measure back as the world made it (a removal deletes it)."""
    measure = w.measures["b"]

    def reset() -> None:
        SuccessMeasure.objects.update_or_create(
            pk=measure.pk, defaults={"plan": measure.plan, "text": measure.text, "position": 1, "how_met": ""}
        )

    return reset


def measure_cases(w: World, form: Callable[..., Callable[[int], dict[str, Any]]]) -> list[ActionCase]:
    """The plan page's success measure forms on B's plan: its managers (and administrators) only."""
    measure = w.measures["b"]
    reset = measure_reset(w)
    return [
        ActionCase("measure-add", S.IN_PROGRESS, form("measure-add", text="Sweep measure"), MANAGER_SIDE),
        ActionCase("measure-edit", S.NOT_STARTED, form("measure-edit", measure=measure.pk, text="Renamed"),
                   MANAGER_SIDE, reset=reset),
        ActionCase("measure-remove", S.BLOCKED, form("measure-remove", measure=measure.pk, reason="Replaced"),
                   MANAGER_SIDE, reset=reset),
    ]  # fmt: skip


def dependency_reset(w: World) -> Callable[[], None]:
    """Leaves B's plan with nothing recorded that it waits on, so each role's change is a change."""

    def reset() -> None:
        Dependency.objects.filter(plan=w.plan["b"]).delete()

    return reset


def proposal_reset(w: World) -> Callable[[], None]:
    """Gives B's plan one proposal of no action awaiting a decision (the plan's status is the case's)."""

    def reset() -> None:
        NoActionProposal.objects.filter(plan=w.plan["b"]).delete()
        NoActionProposal.objects.create(plan=w.plan["b"], reason="Already met", risk="It may lapse",
                                        proposed_by=w.users["staff_b"])  # fmt: skip

    return reset


def no_action_cases(w: World, form: Callable[..., Callable[[int], dict[str, Any]]]) -> list[ActionCase]:
    """A proposal of no action on B's plan: its staff and managers propose, its managers accept the risk or
    decline, inspectors agree or send it back (administrators may do each)."""
    reset = proposal_reset(w)
    return [
        ActionCase("propose-no-action", S.IN_PROGRESS, form("propose-no-action", reason="Met", risk="May lapse"),
                   STAFF_SIDE),
        ActionCase("accept-risk", S.NO_ACTION_PROPOSED, form("accept-risk", comment="Accepted", confirm="on"),
                   MANAGER_SIDE, reset=reset),
        ActionCase("decline-no-action", S.NO_ACTION_PROPOSED, form("decline-no-action", comment="No"), MANAGER_SIDE,
                   reset=reset),
        ActionCase("agree-no-action", S.NO_ACTION_ACCEPTED, form("agree-no-action", comment="Agreed"),
                   INSPECTOR_SIDE, reset=reset),
        ActionCase("send-back-no-action", S.NO_ACTION_ACCEPTED, form("send-back-no-action", comment="Act"),
                   INSPECTOR_SIDE, reset=reset),
    ]  # fmt: skip


def refused_status(role: str, api: bool = False) -> Expect:
    if role == "anonymous":
        return frozenset({401, 403}) if api else LOGIN
    return 404 if role.endswith("_a") else 403


def api_action(
    path: str,
    state: str,
    allowed: frozenset[str],
    reset: Callable[[World], Callable[[], None]] | None = None,
    **fields: Any,
) -> Callable[[World], list[ActionCase]]:
    """One API change on B's plan, by every role: `fields` is the body (callables are called per request)."""

    def cases(w: World) -> list[ActionCase]:
        def data(version: int) -> dict[str, Any]:
            values: dict[str, Any] = {}
            for name, value in fields.items():
                value = value(w) if callable(value) else value
                # A mapping goes as a JSON object (changes without files are sent as JSON); with files (multipart)
                # as form data does: one `name.key` field per entry.
                if isinstance(value, dict) and any(map(is_file, fields.values())):
                    values |= {f"{name}.{k}": v for k, v in value.items()}
                else:
                    values[name] = value
            return values | ({"version": version} if "version" not in fields and path != "comments" else {})

        return [ActionCase(path, state, data, allowed, path=f"/api/v1/plans/{{pk}}/{path}/",
                           success=frozenset({200, 201}), api=True, reset=reset(w) if reset else None)]  # fmt: skip

    return cases


API_WRITES = ("post", "put", "patch", "delete")


def api_read(variants: Callable[[World], list[Variant]] | None = None, methods: tuple[str, ...] = API_WRITES) -> Rule:
    """A read-only API resource: its GET statuses from `variants` (default: 200 for everyone); writes 405."""
    return Rule(variants or (lambda w: [Variant(get=everyone(200), post=everyone(405))]), anonymous=API,
                methods=("get", *methods))  # fmt: skip


def api_plan_part(kwarg: str = "pk") -> Callable[[World], list[Variant]]:
    return lambda w: [Variant(kwargs={kwarg: w.plan[s].pk}, get=side_object(s), post=everyone(405)) for s in "ab"]


def api_plan_change(path: str, state: str, allowed: frozenset[str], reset: Any = None, **fields: Any) -> Rule:
    """A POST-only change on a plan: other methods 405; POST goes through the action matrix."""
    return Rule(lambda w: [Variant(kwargs={"pk": w.plan["b"].pk}, get=everyone(405), post=everyone(405))],
                anonymous=API, methods=("get", "put", "patch", "delete"),
                actions=api_action(path, state, allowed, reset=reset, **fields))  # fmt: skip


# --- the rules table: one entry per URL name --------------------------------------------------

RULES: dict[str, Rule] = {
    # Open to anyone.
    "login": Rule(lambda w: [Variant(get=everyone(302), post=everyone(302))], anonymous=OPEN),
    "healthz": Rule(lambda w: [Variant(get=everyone(200), post=everyone(405))], anonymous=OPEN),
    # Single sign-on's start and callback: open (they sign people in), GET only, and 404 while single
    # sign-on is off, as here; with it on they are covered against a real provider in tests/tracker/test_sso.py.
    "oidc-login": Rule(lambda w: [Variant(get=everyone(404), post=everyone(405))], anonymous=OPEN),
    "oidc-callback": Rule(lambda w: [Variant(get=everyone(404), post=everyone(405))], anonymous=OPEN),
    # The public progress page and its feeds: open to anyone for an organisation that publishes them (A,
    # opted in by the world), 404 for one that does not (B), exactly as for an unknown organisation.
    # test_public_pages_show_nothing_private checks every field that must never reach them.
    **{
        name: Rule(lambda w: [Variant(kwargs={"slug": w.org["a"].slug}, get=everyone(200), post=everyone(405)),
                              Variant(kwargs={"slug": w.org["b"].slug}, get=everyone(404), post=everyone(405)),
                              Variant(kwargs={"slug": "no-such-force"}, get=everyone(404), post=everyone(405))],
                   anonymous=OPEN)
        for name in ("tracker:public-page", "tracker:public-csv", "tracker:public-json")
    },
    # Signed-in pages; lists and totals are scoped by the view.
    "tracker:home": page(),
    # Search answers only what each reader may see: the marker check covers every result kind.
    "tracker:search": page("", "?q=MARKER", "?q=Progress MARKER", "?q=MARKER&kind=evidence", "?q=Response OR Second"),
    "tracker:plan-list": page(
        "",
        "?organisation={w.org[a].slug}",
        "?organisation={w.org[b].slug}",
        "?q=MARKER",
        "?owner={w.users[staff_a].username}",
        "?owner={w.users[staff_b].username}",
        "?sort=-updated&status=in_progress",
    ),
    # An export filtered to an organisation the user may not see has no rows (export_variants).
    "tracker:plan-export-csv": Rule(lambda w: export_variants(w)),
    "tracker:plan-export-xlsx": Rule(lambda w: export_variants(w)),
    "tracker:dashboard": Rule(
        lambda w: [
            Variant(get=everyone(200), post=everyone(405)),
            *[Variant(query=f"?organisation={w.org[s].slug}", get=side_object(s), post=everyone(405)) for s in "ab"],
        ]
    ),
    "tracker:plan-detail": org_object("pk", lambda w, side: w.plan[side].pk),
    "tracker:board-pack": org_object("slug", lambda w, side: w.org[side].slug),
    # An organisation's settings: its managers (and administrators); its staff and inspectors 403.
    "tracker:organisation-settings": Rule(
        lambda w: [
            Variant(kwargs={"slug": w.org[side].slug},
                    get=side_object(side) | {f"staff_{side}": 403, "inspector": 403},
                    post=side_object(side, 302) | {f"staff_{side}": 403, "inspector": 403},
                    data={"public_progress": "on"}, may_change=frozenset({f"manager_{side}"}))
            for side in ("a", "b")
        ]
    ),
    # A plan's public statement: its organisation's staff and managers write it, its managers approve it.
    "tracker:plan-statement": Rule(
        lambda w: [
            Variant(kwargs={"pk": w.plan[side].pk}, get=everyone(405),
                    post=side_object(side, 302) | {"inspector": 403},
                    data={"statement-text": "Sweep statement"},
                    may_change=frozenset({f"staff_{side}", f"manager_{side}"}))
            for side in ("a", "b")
        ]
    ),
    # No statement to approve on these plans: the managers' request is refused (400), everyone else's sooner.
    "tracker:plan-statement-approve": Rule(
        lambda w: [
            Variant(kwargs={"pk": w.plan[side].pk}, get=everyone(405),
                    post=side_object(side, 403) | {f"manager_{side}": 400, "admin": 400},
                    data={"approve-decision": "approve", "approve-text": "Sweep"})
            for side in ("a", "b")
        ]
    ),
    # The PDF (its text read back by body_text for the marker check), and with a period and the chart.
    "tracker:board-pack-pdf": Rule(
        lambda w: [
            Variant(kwargs={"slug": w.org[side].slug}, query=query, get=side_object(side), post=everyone(405))
            for side in ("a", "b")
            for query in ("", "?since=2020-01-01&chart=1")
        ]
    ),
    "tracker:evidence-download": org_object("pk", lambda w, side: w.evidence[side].pk),
    # Background jobs: anyone signed in may ask for a big export (a job of their own: the sweep's body
    # names B's organisation, whose rows the worker would leave out for A's people); a job's page and
    # file answer its owner only.
    "tracker:job-export": Rule(
        lambda w: [Variant(get=everyone(405), post=everyone(302), may_change=frozenset(SIGNED_IN))]
    ),
    # A board pack made by a worker: only for an organisation the asker may see (another's is 404 and
    # queues nothing); a job of their own otherwise.
    "tracker:job-board-pack": Rule(
        lambda w: [
            Variant(get=everyone(405), post=side_object(side, 302) | {f"staff_{other}": 404, f"manager_{other}": 404},
                    data={"organisation": w.org[side].slug, "since": "2020-01-01"},
                    may_change=frozenset({f"staff_{side}", f"manager_{side}", "inspector", "admin"}))
            for side, other in (("a", "b"), ("b", "a"))
        ]
    ),  # fmt: skip
    "tracker:job-detail": Rule(job_owner_only),
    "tracker:job-download": Rule(job_owner_only),
    "tracker:plan-action": Rule(
        lambda w: [
            Variant(
                kwargs={"pk": w.plan[s].pk, "action": "no-such-action"}, get=everyone(405), post=side_object(s, 404)
            )
            for s in "ab"
        ],
        actions=action_cases,
    ),  # fmt: skip
    # Bulk actions: managers change their own organisation's plans, inspectors close any signed-off plan;
    # ids and filters naming the other organisation's plans must change nothing of that organisation.
    "tracker:plan-bulk": Rule(
        lambda w: [
            Variant(
                get=everyone(405),
                post=everyone(frozenset({200, 400, 403})),
                data={"action": "target-date", "plans": [w.plan["a"].pk, w.plan["b"].pk],
                      "target_date": "2031-01-31", "reason": "Sweep", "query": f"organisation={w.org['b'].slug}"},
                may_change=frozenset({"manager_a", "manager_b", "admin"}),
                then=lambda w, role: role != "manager_b" or (
                    ActionPlan.objects.get(pk=w.plan["b"].pk).target_date == dt.date(2031, 1, 31)
                ) or pytest.fail("the bulk change by B's manager did not happen"),
            ),
            Variant(
                get=everyone(405),
                post=everyone(frozenset({200, 400, 403})),
                data={"action": "close", "all_matching": "on", "query": f"organisation={w.org['b'].slug}",
                      "comment": "Sweep"},
                may_change=frozenset({"inspector", "admin"}),
            ),
        ]
    ),
    "inspections:inspection-list": page(),
    "inspections:inspection-detail": Rule(
        lambda w: [Variant(kwargs={"slug": w.inspection.slug}, get=everyone(200), post=everyone(405))]
    ),
    # The 56-day response: the drafts and the recorded file of an organisation the reader may see
    # (another's, 404); recording one is for that organisation's managers (the sweep's body is not a valid
    # upload: they are sent back to the page with the form's errors, and nothing changes).
    "inspections:response-docx": Rule(lambda w: draft_variants(w)),
    "inspections:response-pdf": Rule(lambda w: draft_variants(w)),
    "inspections:response-file": Rule(lambda w: response_variants(w)),
    "inspections:response-upload": Rule(
        lambda w: [
            Variant(kwargs={"slug": w.inspection.slug, "organisation_slug": w.org[side].slug}, get=everyone(405),
                    post=side_object(side, 403) | {f"manager_{side}": 302, "inspector": 403, "admin": 403})
            for side in ("a", "b")
        ]
    ),  # fmt: skip
    "inspections:finding-detail": Rule(
        lambda w: [
            Variant(kwargs={"pk": f.pk}, get=everyone(200), post=everyone(405))
            for f in (w.shared_finding, w.b_only_finding)
        ]
    ),
    # Links between findings: inspectors and administrators only. The sweep's bodies are not valid links,
    # and the link and finding numbers below name nothing, so nothing may change (tests/tracker/test_links.py
    # covers the changes themselves).
    "inspections:finding-link": Rule(
        lambda w: [Variant(kwargs={"pk": w.shared_finding.pk}, get=everyone(405),
                           post=everyone(403) | dict.fromkeys(INSPECTOR_SIDE, 400))]
    ),  # fmt: skip
    # What good looks like: inspectors and administrators only. The sweep's body leaves it as it was (empty),
    # which is refused as unchanged (tests/tracker/test_measures.py covers the change itself).
    "inspections:finding-success": Rule(
        lambda w: [Variant(kwargs={"pk": w.shared_finding.pk}, get=everyone(405),
                           post=everyone(403) | dict.fromkeys(INSPECTOR_SIDE, 400))]
    ),  # fmt: skip
    "inspections:finding-unlink": Rule(
        lambda w: [Variant(kwargs={"pk": w.shared_finding.pk, "link_pk": 987654}, get=everyone(405),
                           post=everyone(403) | dict.fromkeys(INSPECTOR_SIDE, 404))]
    ),  # fmt: skip
    "inspections:finding-dismiss-suggestion": Rule(
        lambda w: [Variant(kwargs={"pk": w.shared_finding.pk, "earlier_pk": 987654}, get=everyone(405),
                           post=everyone(403) | dict.fromkeys(INSPECTOR_SIDE, 404))]
    ),  # fmt: skip
    # Administrators only.
    "imports:import-upload": admin_only(),
    "imports:template-csv": admin_only(post=405),
    "imports:template-xlsx": admin_only(post=405),
    "imports:import-done": Rule(import_results),
    "imports:import-preview": admin_only({"token": "not-an-upload"}, get=404, post=405),
    "imports:import-confirm": admin_only({"token": "not-an-upload"}, get=405, post=404),
    "imports:import-cancel": admin_only({"token": "not-an-upload"}, get=405, post=302),
    # The user's own account.
    "logout": own_account(get=405, post=302),
    "account": own_account(),
    "two-factor-verify": own_account(get=frozenset({200, 302}), post=frozenset({200, 302})),
    "two-factor-setup": own_account(get=frozenset({200, 302}), post=frozenset({200, 302})),
    # POST: 302 where there is nothing to turn off; 200 with a field error where the password is wrong.
    "two-factor-remove": own_account(get=302, post=frozenset({200, 302})),
    # The Django admin: every page goes through AdminSite.admin_view (staff only). Its own login page
    # is open; every other admin pattern, including unnamed ones, takes the "admin:*" rule.
    # Signing out of the admin sends anyone not signed in to it to the admin index (then to its login).
    "admin:logout": Rule(lambda w: [Variant(get=everyone(302) | {"admin": 405}, post=everyone(302) | {"admin": 302})]),
    "admin:login": Rule(lambda w: [Variant(get=everyone(200) | {"admin": 302}, post=everyone(200))], anonymous=OPEN),
    "admin:*": Rule(lambda w: []),  # variants come from django_admin(), which needs the pattern
    # The REST API (tracker/api/urls.py), one line per router name. Anonymous requests get 401/403.
    "api:search": api_read(
        lambda w: [Variant(query=q, get=everyone(200), post=everyone(405)) for q in ("?q=MARKER", "?q=MARKER pdf")]
    ),
    "api:api-root": api_read(),
    "api:schema": api_read(),
    "api:docs": Rule(lambda w: [Variant(get=everyone(200), post=everyone(405))]),  # a page: anonymous log in
    "api:<api/^>": Rule(lambda w: [Variant(get=everyone(404), post=everyone(404))], anonymous=NOT_FOUND),
    "api:organisation-list": api_read(),
    "api:organisation-detail": api_read(lambda w: [
        Variant(kwargs={"slug": w.org[s].slug}, get=everyone(200), post=everyone(405)) for s in "ab"]),
    "api:inspection-list": api_read(),
    "api:inspection-detail": api_read(lambda w: [
        Variant(kwargs={"slug": w.inspection.slug}, get=everyone(200), post=everyone(405))]),
    "api:finding-list": api_read(),
    "api:finding-detail": api_read(lambda w: [
        Variant(kwargs={"pk": f.pk}, get=everyone(200), post=everyone(405))
        for f in (w.shared_finding, w.b_only_finding)]),
    "api:plan-list": api_read(lambda w: [
        Variant(get=everyone(200), post=everyone(405)),
        Variant(query="?q=MARKER", get=everyone(200), post=everyone(405)),
        *[Variant(query=f"?organisation={w.org[s].slug}", get=everyone(frozenset({200, 400})), post=everyone(405))
          for s in "ab"]]),
    "api:plan-detail": api_read(api_plan_part()),
    "api:plan-updates": Rule(api_plan_part(), anonymous=API, methods=("get", "put", "patch", "delete"),
                             actions=api_action("updates", S.IN_PROGRESS, STAFF_SIDE, note="Sweep")),
    "api:plan-evidence": Rule(api_plan_part(), anonymous=API, methods=("get", "put", "patch", "delete"),
                              actions=api_action("evidence", S.IN_PROGRESS, STAFF_SIDE, note="Minutes",
                                                 files=lambda w: pdf_upload())),
    "api:plan-comments": api_plan_change("comments", S.IN_PROGRESS, ANYONE_WHO_SEES, note="Sweep comment"),
    # Milestones: a plan's list (GET) and adding one (POST) share a path; changes name the milestone.
    "api:plan-milestones": Rule(api_plan_part(), anonymous=API, methods=("get", "put", "patch", "delete"),
                                actions=api_action("milestones", S.IN_PROGRESS, STAFF_SIDE, title="Sweep step")),
    "api:plan-milestone-edit": api_plan_change("milestone-edit", S.IN_PROGRESS, STAFF_SIDE, reset=milestone_reset,
                                               milestone=lambda w: w.milestones["b"][0].pk, title="Renamed"),
    "api:plan-milestone-complete": api_plan_change("milestone-complete", S.BLOCKED, STAFF_SIDE,
                                                   reset=milestone_reset,
                                                   milestone=lambda w: w.milestones["b"][0].pk),
    "api:plan-milestone-reopen": api_plan_change("milestone-reopen", S.NOT_STARTED, STAFF_SIDE,
                                                 reset=milestone_reset,
                                                 milestone=lambda w: w.milestones["b"][1].pk, reason="Not yet"),
    "api:plan-milestone-move": api_plan_change("milestone-move", S.IN_PROGRESS, STAFF_SIDE, reset=milestone_reset,
                                               milestone=lambda w: w.milestones["b"][1].pk, direction="up"),
    # Success measures: the list (GET) and adding one (POST) share a path; changes name the measure.
    "api:plan-measures": Rule(api_plan_part(), anonymous=API, methods=("get", "put", "patch", "delete"),
                              actions=api_action("measures", S.IN_PROGRESS, MANAGER_SIDE, text="Sweep measure")),
    "api:plan-measure-edit": api_plan_change("measure-edit", S.BLOCKED, MANAGER_SIDE, reset=measure_reset,
                                             measure=lambda w: w.measures["b"].pk, text="Renamed"),
    "api:plan-measure-remove": api_plan_change("measure-remove", S.NOT_STARTED, MANAGER_SIDE, reset=measure_reset,
                                               measure=lambda w: w.measures["b"].pk, reason="Replaced"),
    # A proposal of no action: proposed, the risk accepted or the proposal declined, then decided.
    "api:plan-propose-no-action": api_plan_change("propose-no-action", S.BLOCKED, STAFF_SIDE, reason="Met",
                                                  risk="May lapse"),
    "api:plan-accept-risk": api_plan_change("accept-risk", S.NO_ACTION_PROPOSED, MANAGER_SIDE, reset=proposal_reset,
                                            comment="Accepted"),
    "api:plan-decline-no-action": api_plan_change("decline-no-action", S.NO_ACTION_PROPOSED, MANAGER_SIDE,
                                                  reset=proposal_reset, comment="No"),
    "api:plan-agree-no-action": api_plan_change("agree-no-action", S.NO_ACTION_ACCEPTED, INSPECTOR_SIDE,
                                                reset=proposal_reset, comment="Agreed"),
    "api:plan-send-back-no-action": api_plan_change("send-back-no-action", S.NO_ACTION_ACCEPTED, INSPECTOR_SIDE,
                                                    reset=proposal_reset, comment="Act"),
    "api:plan-start": api_plan_change("start", S.NOT_STARTED, STAFF_SIDE, note="Starting"),
    "api:plan-block": api_plan_change("block", S.IN_PROGRESS, STAFF_SIDE, note="Waiting on vetting"),
    "api:plan-waiting-on": api_plan_change("waiting-on", S.BLOCKED, STAFF_SIDE, reset=dependency_reset,
                                           note="Now national", waiting_on="national_body",
                                           waiting_on_name="Home Office"),
    "api:plan-unblock": api_plan_change("unblock", S.BLOCKED, STAFF_SIDE, note="Vetting done"),
    "api:plan-submit": api_plan_change("submit", S.IN_PROGRESS, STAFF_SIDE, statement="Done, see evidence",
                                      open_milestones="The open step follows the inspection",
                                      **{"measures_met": lambda w: {str(w.measures["b"].pk): "Met in the audit"}}),
    "api:plan-sign-off": api_plan_change("sign-off", S.SUBMITTED, MANAGER_SIDE, comment="Agreed"),
    "api:plan-return": api_plan_change("return", S.SUBMITTED, MANAGER_SIDE, comment="Needs more"),
    "api:plan-target-date": api_plan_change("target-date", S.IN_PROGRESS, MANAGER_SIDE, reason="Vetting",
                                            target_date=lambda w: LATER.isoformat()),
    "api:plan-owner": api_plan_change("owner", S.IN_PROGRESS, MANAGER_SIDE,
                                      owner=lambda w: w.users["manager_b"].username),
    "api:plan-close": api_plan_change("close", S.SIGNED_OFF, INSPECTOR_SIDE, comment="Verified"),
    "api:plan-reopen": api_plan_change("reopen", S.SIGNED_OFF, INSPECTOR_SIDE, comment="Not yet"),
    "api:plan-supersede": api_plan_change("supersede", S.IN_PROGRESS, INSPECTOR_SIDE,
                                          superseding_finding=lambda w: w.superseding_finding.pk),
    "api:plan-no-further-action": api_plan_change("no-further-action", S.IN_PROGRESS, INSPECTOR_SIDE,
                                                  comment="Overtaken"),
    "api:evidence-detail": api_read(lambda w: [
        Variant(kwargs={"pk": w.evidence[s].pk}, get=side_object(s), post=everyone(405)) for s in "ab"]),
    "api:evidence-download": api_read(lambda w: [
        Variant(kwargs={"pk": w.evidence[s].pk}, get=side_object(s), post=everyone(405)) for s in "ab"]),
}  # fmt: skip

ANONYMOUS_MAY_REACH = {"login", "healthz", "admin:login", "oidc-login", "oidc-callback",
                       "tracker:public-page", "tracker:public-csv", "tracker:public-json"}  # fmt: skip


# --- walking the resolver -------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    key: str  # URL name with namespaces, or "<namespace>:<route>" for an unnamed pattern
    route: str
    regex: str

    @property
    def params(self) -> list[str]:
        return normalize(self.regex)[0][1]

    def path(self, kwargs: dict[str, Any]) -> str:
        template, params = normalize(self.regex)[0]
        missing = [p for p in params if p not in kwargs]
        assert not missing, f"{self.key}: the rule gives no value for {missing} ({self.route})"
        return "/" + template % {p: kwargs[p] for p in params}


def walk(patterns: list[Any], regex: str = "", route: str = "", namespace: str = "") -> Iterator[Endpoint]:
    for pattern in patterns:
        part = pattern.pattern.regex.pattern.removeprefix("^")
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from walk(pattern.url_patterns, regex + part, route + str(pattern.pattern), inner)
        elif isinstance(pattern, URLPattern):
            full_route = route + str(pattern.pattern)
            key = f"{namespace}{pattern.name}" if pattern.name else f"{namespace}<{full_route}>"
            yield Endpoint(key, full_route, regex + part)


def endpoints() -> list[Endpoint]:
    found: dict[tuple[str, str], Endpoint] = {}
    for endpoint in walk(get_resolver().url_patterns):
        found.setdefault((endpoint.key, endpoint.regex), endpoint)
    return list(found.values())


def rule_for(endpoint: Endpoint) -> Rule | None:
    if endpoint.key in RULES:
        return RULES[endpoint.key]
    namespace = endpoint.key.split(":", 1)[0] + ":*" if ":" in endpoint.key else None
    return RULES.get(namespace) if namespace else None


def admin_arguments(w: World, endpoint: Endpoint) -> dict[str, Any]:
    """URL arguments for an admin pattern, taken from the objects the pattern is about."""
    parts = endpoint.route.split("/")
    model = None
    if len(parts) > 2:
        try:
            model = apps.get_model(parts[1], parts[2])
        except (LookupError, ValueError):
            model = None
    instance = model._default_manager.order_by("pk").first() if model is not None else None
    values: dict[str, Any] = {"app_label": "tracker", "url": "no-such-page/", "format": "json"}
    if instance is not None:
        values |= {"object_id": instance.pk, "pk": instance.pk, "id": instance.pk, "_0": instance.pk}
        history = getattr(instance, "history", None)
        values["_1"] = history.order_by("pk").first().pk if history is not None and history.exists() else 1
    else:
        values |= {"object_id": 1, "pk": 1, "id": 1, "_0": 1, "_1": 1}
    values |= {"content_type_id": ContentType.objects.get_for_model(ActionPlan).pk}
    if endpoint.key == "admin:view_on_site":
        values["object_id"] = w.plan["b"].pk
    return values


ENDPOINTS = endpoints()


def test_every_url_pattern_has_a_rule():
    missing = [f"{e.key}  ({e.route})" for e in ENDPOINTS if rule_for(e) is None]
    assert not missing, (
        "These URL patterns have no rule in tests/test_authorization_sweep.py RULES; add one saying who may "
        "reach them:\n  " + "\n  ".join(missing)
    )


def test_only_login_and_the_health_check_are_open_to_anonymous_users():
    assert {key for key, rule in RULES.items() if rule.anonymous == OPEN} == ANONYMOUS_MAY_REACH


def test_the_sweep_sees_the_project_and_the_admin():
    keys = {e.key for e in ENDPOINTS}
    assert {"tracker:plan-detail", "tracker:plan-action", "imports:import-upload", "admin:index", "healthz"} <= keys
    # Format-suffix and other regex patterns are turned into real paths.
    assert all(e.path(admin_arguments_stub(e)).startswith("/") for e in ENDPOINTS)


def admin_arguments_stub(endpoint: Endpoint) -> dict[str, Any]:
    return dict.fromkeys(endpoint.params, "1")


# --- the sweep ------------------------------------------------------------------------------

WRITE = re.compile(r"""^\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM|REPLACE\s+INTO)\s+["`]?(\w+)""", re.IGNORECASE)
# Sign-in bookkeeping every request may write: sessions and django-axes' attempt logs.
# And figures derived from the timelines that a read keeps the first time (tracker/flows.py: the
# dashboard's past months, counted once per history version, for every organisation alike).
BOOKKEEPING_TABLES = {"django_session", "axes_accessattempt", "axes_accesslog", "axes_accessfailurelog",
                      "tracker_monthlyflow", "tracker_flowset"}  # fmt: skip
NOT_SNAPSHOTTED = {"sessions.session", "axes.accessattempt", "axes.accesslog", "axes.accessfailurelog",
                   "tracker.historicaluser", "tracker.monthlyflow", "tracker.flowset"}  # fmt: skip
# Fields of the acting user's own row that their own requests may change.
OWN_FIELDS = {"last_home_visit", "receive_digest"}


def body_text(response: Any) -> str:
    """Everything a response discloses, including streamed exports and the inside of XLSX files."""
    raw = b"".join(response.streaming_content) if getattr(response, "streaming", False) else response.content
    parts = [raw]
    if raw.startswith(b"PK\x03\x04"):
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            parts += [archive.read(name) for name in archive.namelist()]
    # A PDF the app made (stored files, such as evidence, are sent as they are, and are in `raw`): its text
    # is compressed, so read it as a reader would.
    if response.get("Content-Type") == "application/pdf" and raw.startswith(b"%PDF-"):
        parts += [page.extract_text().encode() for page in pypdf.PdfReader(io.BytesIO(raw)).pages]
        parts.append(str(pypdf.PdfReader(io.BytesIO(raw)).metadata).encode())
    parts.append(" ".join(f"{k}: {v}" for k, v in response.items()).encode())
    return b"\n".join(parts).decode("utf-8", "replace")


def snapshot() -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, except sign-in bookkeeping (sessions, attempts, last_login)."""
    rows = {}
    for model in apps.get_models():
        label = model._meta.label_lower
        if label not in NOT_SNAPSHOTTED:
            fields = [f.attname for f in model._meta.concrete_fields if f.attname != "last_login"]
            rows[label] = list(model._default_manager.order_by("pk").values_list(*fields))
    return rows


def without_own(rows: dict[str, list[tuple[Any, ...]]], acting: User | None) -> dict[str, list[tuple[Any, ...]]]:
    """The snapshot less what the acting user may change of their own: a few account fields, their devices."""
    if acting is None:
        return rows
    result = dict(rows)
    user_fields = [f.attname for f in User._meta.concrete_fields if f.attname != "last_login"]
    keep = [i for i, name in enumerate(user_fields) if name not in OWN_FIELDS]
    result["tracker.user"] = [
        tuple(row[i] for i in keep) if row[0] == acting.pk else row for row in rows["tracker.user"]
    ]
    device_user = [f.attname for f in TOTPDevice._meta.concrete_fields].index("user_id")
    label = TOTPDevice._meta.label_lower
    result[label] = [row for row in rows[label] if row[device_user] != acting.pk]
    return result


def org_rows(w: World, side: str) -> dict[str, list[Any]]:
    """The rows belonging to one organisation: its plans, their timeline and evidence, its people."""
    org = w.org[side]
    return {
        "plans": list(ActionPlan.objects.filter(organisation=org).order_by("pk").values_list()),
        "updates": list(Update.objects.filter(plan__organisation=org).order_by("pk").values_list()),
        "evidence": list(Evidence.objects.filter(update__plan__organisation=org).order_by("pk").values_list()),
        "users": list(User.objects.filter(organisation=org).order_by("pk").values_list("pk", "username", "role",
                                                                                        "is_active", "password")),
        "devices": list(TOTPDevice.objects.filter(user__organisation=org).order_by("pk").values_list()),
        "tokens": list(ApiToken.objects.filter(user__organisation=org).order_by("pk").values_list()),
        "milestones": list(Milestone.objects.filter(plan__organisation=org).order_by("pk").values_list()),
        "dependencies": list(Dependency.objects.filter(plan__organisation=org).order_by("pk").values_list()),
        "measures": list(SuccessMeasure.objects.filter(plan__organisation=org).order_by("pk").values_list()),
        "proposals": list(NoActionProposal.objects.filter(plan__organisation=org).order_by("pk").values_list()),
    }  # fmt: skip


def is_login_redirect(response: Any) -> bool:
    """A redirect to a login page (or to the admin index, which sends anyone not signed in to its login)."""
    location = response.get("Location", "")
    return response.status_code == 302 and (location.startswith(("/accounts/login/", "/admin/login/")) or
                                            location == "/admin/")  # fmt: skip


def check_status(expected: Expect, response: Any, where: str) -> None:
    status = response.status_code
    assert status < 500, f"{where}: server error {status}"
    if expected == LOGIN:
        assert is_login_redirect(response), f"{where}: expected a redirect to log in, got {status}"
    elif isinstance(expected, frozenset):
        assert status in expected, f"{where}: expected one of {sorted(expected)}, got {status}"
    elif expected != ANY:
        assert status == expected, f"{where}: expected {expected}, got {status}"


INLINE_STYLE = re.compile(r"<[a-z][^>]*\sstyle\s*=", re.IGNORECASE)
SCRIPT_TAG = re.compile(r"<script\b[^>]*>", re.IGNORECASE)
EVENT_HANDLER = re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.IGNORECASE)


def check_csp_compatible(html: str, where: str) -> None:
    """Nothing on the page that the Content Security Policy would block: no inline style attribute or
    event handler, no inline <style> or <script> without the nonce (scripts loaded from the site are allowed)."""
    assert not INLINE_STYLE.search(html), f"{where}: inline style attribute {INLINE_STYLE.search(html).group()!r}"
    assert not EVENT_HANDLER.search(html), f"{where}: inline event handler {EVENT_HANDLER.search(html).group()!r}"
    inline_scripts = [tag for tag in SCRIPT_TAG.findall(html) if " src=" not in tag]
    for tag in inline_scripts + re.findall(r"<style\b[^>]*>", html, re.IGNORECASE):
        assert "nonce=" in tag or 'type="application/json"' in tag, f"{where}: {tag} has no nonce"


def generic_data(w: World) -> dict[str, Any]:
    """A POST body naming B's objects in every field name a form here uses."""
    b = w.plan["b"]
    return {
        "note": "sweep", "comment": "sweep", "statement": "sweep", "reason": "sweep", "version": b.version,
        "pk": b.pk, "plan": b.pk, "plans": [b.pk], "organisation": w.org["b"].slug, "owner": w.users["staff_a"].pk,
        "percent_complete": 99, "target_date": "2031-01-31", "receive_digest": "", "token": "123456",
        "username": "nobody-here", "password": "not-the-password", "action": "close", "all_matching": "on",
        "query": f"organisation={w.org['b'].slug}", "status": S.CLOSED,
    }  # fmt: skip


@dataclass
class Response:
    status_code: int
    headers: dict[str, str]
    text: str
    writes: set[str]

    def get(self, name: str, default: str = "") -> str:
        return self.headers.get(name, default)


class Sweeper:
    """Sends each request as a role (one signed-in client per role) and notes which tables it wrote."""

    def __init__(self, w: World, *, second_factor: bool = True) -> None:
        self.w = w
        self.clients: dict[str, Client] = {}
        self.second_factor = second_factor  # False: signed in with the password only
        self.rebase()

    def rebase(self) -> None:
        self.baseline = snapshot()
        self.org_baseline = {side: org_rows(self.w, side) for side in ("a", "b")}

    def client(self, role: str) -> Client:
        client = self.clients.setdefault(role, Client())
        if role != "anonymous" and "_auth_user_id" not in client.session:  # first use, or after a sign-out
            sign_in(client, self.w.users[role], second_factor=self.second_factor)
        return client

    def send(self, role: str, method: str, path: str, data: dict[str, Any] | None = None) -> Response:
        client = self.client(role)
        writes: set[str] = set()

        def watch(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
            match = WRITE.match(sql)
            if match:
                writes.add(match.group(1).lower())
            return execute(sql, params, many, context)

        with connection.execute_wrapper(watch):
            if method in ("get", "delete"):
                response = getattr(client, method)(path)
            elif method == "post" and path.startswith("/api/") and not any(map(is_file, (data or {}).values())):
                # The API's changes take JSON; multipart only where files are sent (tracker.api.views.parsers_for).
                response = client.post(path, data or {}, content_type="application/json")
            elif method == "post":
                response = client.post(path, data or {})
            else:
                response = getattr(client, method)(path, data or {}, content_type="application/json")
            text = body_text(response)
        return Response(response.status_code, dict(response.items()), text, writes - BOOKKEEPING_TABLES)


def is_file(value: Any) -> bool:
    values = value if isinstance(value, list | tuple) else [value]
    return any(hasattr(item, "read") for item in values)


def variants_for(w: World, endpoint: Endpoint, rule: Rule) -> list[Variant]:
    if rule is RULES["admin:*"] and endpoint.key not in RULES:
        return django_admin(w, endpoint)
    return rule.variants(w)


def path_for(endpoint: Endpoint, variant: Variant) -> str:
    kwargs = dict(variant.kwargs)
    if "format" in endpoint.params:  # DRF format-suffix patterns
        kwargs.setdefault("format", "json")
    return endpoint.path(kwargs) + variant.query


def sweep_one(sweeper: Sweeper, endpoint: Endpoint, rule: Rule, variant: Variant, role: str, method: str) -> None:
    w = sweeper.w
    expected = LOGIN if role == "anonymous" else (variant.get if method == "get" else variant.post).get(role, ANY)
    if expected == SKIP:
        return
    path = path_for(endpoint, variant)
    where = f"{method.upper()} {path} as {role} ({endpoint.key})"
    data = None if method == "get" else (variant.data or generic_data(w))
    response = sweeper.send(role, method, path, data)

    if role == "anonymous":
        assert response.status_code < 500, f"{where}: server error {response.status_code}"
        if rule.anonymous == API:
            assert response.status_code in (401, 403), f"{where}: anonymous API request got {response.status_code}"
        elif rule.anonymous == NOT_FOUND:
            assert response.status_code == 404, f"{where}: anonymous got {response.status_code}"
        elif rule.anonymous == REDIRECT:
            assert is_login_redirect(response), f"{where}: anonymous got {response.status_code}, not a login redirect"
    else:
        check_status(expected, response, where)
    if role in ORG_ROLES:
        forbidden = MARKERS["b" if role.endswith("_a") else "a"]
        assert forbidden not in response.text, f"{where}: shows the other organisation's data"
    if role != "anonymous" or rule.anonymous in (API, NOT_FOUND):
        # Signed-in pages, exports and every API answer stay out of every cache.
        assert "no-store" in response.get("Cache-Control"), f"{where}: Cache-Control {response.get('Cache-Control')!r}"
    if response.get("Content-Type").startswith("text/html"):
        check_csp_compatible(response.text, where)
    if response.writes:
        acting = w.users.get(role)
        after = snapshot()
        if role != "admin" and role not in variant.may_change:
            before = without_own(sweeper.baseline, acting)
            differs = [label for label, rows in without_own(after, acting).items() if before[label] != rows]
            assert differs == [], f"{where}: changed rows of {differs}"
        if role in ORG_ROLES:
            other = "b" if role.endswith("_a") else "a"
            assert org_rows(w, other) == sweeper.org_baseline[other], f"{where}: changed the other organisation"
        sweeper.rebase()
    if variant.then is not None and method != "get":
        variant.then(w, role)


def sweep_actions(sweeper: Sweeper, case: ActionCase) -> None:
    """Each role tries the action on B's plan: refused ones write nothing, allowed ones add an Update."""
    w = sweeper.w
    plan = w.plan["b"]
    path = case.path.format(pk=plan.pk, action=case.action)
    target_date = plan.target_date
    for role in ROLES:
        ActionPlan.objects.filter(pk=plan.pk).update(status=case.state, owner=w.users["staff_b"],
                                                     target_date=target_date)  # fmt: skip
        if case.reset is not None:
            case.reset()
        plan.refresh_from_db()
        updates = Update.objects.filter(plan=plan).count()
        where = f"POST {path} ({case.action} from {case.state}) as {role}"
        response = sweeper.send(role, "post", path, case.data(plan.version))
        if role in case.allowed:
            assert response.status_code in case.success, f"{where}: the allowed role got {response.status_code}"
            assert Update.objects.filter(plan=plan).count() == updates + 1, f"{where}: no timeline entry"
        else:
            check_status(refused_status(role, case.api), response, where)
            assert response.writes == set(), f"{where}: a refused action wrote to {response.writes}"
            if role in ORG_ROLES:
                assert MARKERS["b"] not in response.text or role.endswith("_b"), f"{where}: shows B's data"
    sweeper.rebase()


@pytest.fixture
def world(db, settings) -> World:
    settings.AXES_FAILURE_LIMIT = 10_000  # the sweep's wrong passwords must not lock anyone out mid-sweep
    return build_world()


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.key)
def test_sweep(endpoint, world):
    rule = rule_for(endpoint)
    if rule is None:
        pytest.fail(f"No rule for {endpoint.key} ({endpoint.route}): add one to RULES in {__name__}.")
    variants = variants_for(world, endpoint, rule)
    assert variants, f"{endpoint.key}: the rule makes no request"
    sweeper = Sweeper(world)
    for variant in variants:
        for method in rule.methods:
            for role in ROLES:
                sweep_one(sweeper, endpoint, rule, variant, role, method)
    if rule.actions is not None:
        for case in rule.actions(world):
            sweep_actions(sweeper, case)


TWO_FACTOR_EXEMPT = {
    "login",
    "logout",
    "oidc-login",
    "oidc-callback",
    "healthz",
    "two-factor-verify",
    "two-factor-setup",
    "two-factor-remove",
}


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.key)
def test_roles_that_need_two_factor_reach_nothing_before_verifying(endpoint, world, settings):
    """The roles that require two-factor authentication, and a staff member who turned it on by choice."""
    settings.TWO_FACTOR_REQUIRED_ROLES = ["manager", "inspector", "admin"]
    rule = rule_for(endpoint)
    if rule is None or endpoint.key in TWO_FACTOR_EXEMPT or rule.anonymous == API:
        pytest.skip("no rule, exempt from two-factor, or an API pattern (tokens are not browser sessions)")
    path = path_for(endpoint, variants_for(world, endpoint, rule)[0])
    assert TOTPDevice.objects.filter(user=world.users["staff_a"], confirmed=True).exists()
    sweeper = Sweeper(world, second_factor=False)
    for role in ("manager_b", "inspector", "admin", "staff_a"):
        for method in ("get", "post"):
            response = sweeper.send(role, method, path, generic_data(world))
            where = f"{method.upper()} {path} as unverified {role}"
            assert response.status_code == 302, f"{where}: {response.status_code}"
            assert response.get("Location").startswith("/accounts/two-factor/"), f"{where}: {response.get('Location')}"
            assert response.writes == set(), f"{where}: wrote to {response.writes}"


# --- what leaves the app by email -----------------------------------------------------------


def test_reminder_digests_never_show_another_organisations_data(world):
    """Every person's digest, text and HTML, is checked for the other organisation's marker, as pages
    are: digests follow `visible_to`. The second round gives B's plan to A's staff member without going
    through any rule (a path that might exist one day); A's digest must still say nothing of it."""
    from tracker import reminders

    ActionPlan.objects.update(target_date=timezone.localdate() - dt.timedelta(days=5))  # everything overdue

    def bodies() -> dict[str, str]:
        digests = reminders.build_digests(today=timezone.localdate(), days=14)
        by_user = {digest.user.pk: digest.text_body() + digest.html_body() for digest in digests}
        return {role: by_user.get(world.users[role].pk, "") for role in ORG_ROLES}

    first = bodies()
    # The check can fail: a manager's digest names their own organisation's owners, markers and all.
    assert MARKERS["a"] in first["manager_a"] and MARKERS["b"] in first["manager_b"]
    ActionPlan.objects.filter(pk=world.plan["b"].pk).update(owner=world.users["staff_a"])
    second = bodies()
    assert "Hampshire" in second["manager_b"]  # B's manager still hears of B's plans
    for round_, texts in (("first", first), ("second", second)):
        for role, text in texts.items():
            forbidden = MARKERS["b" if role.endswith("_a") else "a"]
            assert forbidden not in text, f"{role}'s digest ({round_} round) shows the other organisation's data"
            assert "Hampshire" not in text or role.endswith("_b"), f"{role}'s digest lists B's plans ({round_} round)"


# --- the public progress page ---------------------------------------------------------------


def test_public_pages_show_nothing_private(world):
    """A's public page and feeds, asked for by everyone (anonymous included), never show a field that is
    not public: a marker in each. The world's markers already stand in people's names, progress notes,
    evidence file names, the plans' responses, devices, tokens and jobs (MARKERS); here also comments,
    review and target-date notes, an unapproved statement and one changed since its approval, the names
    of who wrote and approved a statement, B's statement and grading on the same finding, and a finding
    and grading of an inspection not yet published."""
    from tracker import public

    w = world
    private = {
        "comment": "PRIVATE-COMMENT-5c1e",
        "review": "PRIVATE-REVIEW-81aa",
        "date reason": "PRIVATE-DATE-REASON-3f0d",
        "unapproved statement": "PRIVATE-UNAPPROVED-9b2c",
        "statement changed since approval": "PRIVATE-CHANGED-4e7a",
        "writer's name": "PRIVATE-WRITER-d2b1",
        "approver's name": "PRIVATE-APPROVER-77c0",
        "B's statement": "PRIVATE-B-STATEMENT-0a9e",
        "B's grading area": "PRIVATE-B-GRADING-6d3f",
        "unpublished inspection": "PRIVATE-UNPUBLISHED-1c8b",
    }
    shown = "PUBLIC-APPROVED-e5f4"
    staff, manager = w.users["staff_a"], w.users["manager_a"]
    staff.first_name, manager.first_name = private["writer's name"], private["approver's name"]
    staff.save()
    manager.save()
    plan_a = w.plan["a"]
    UpdateFactory(plan=plan_a, author=staff, kind=Update.Kind.COMMENT, note=private["comment"])
    UpdateFactory(plan=plan_a, author=manager, kind=Update.Kind.REVIEW, note=private["review"])
    UpdateFactory(plan=plan_a, author=manager, kind=Update.Kind.TARGET_DATE, note=private["date reason"])
    public.write_statement(plan=plan_a, user=staff, text=shown)
    public.approve_statement(plan=plan_a, user=manager, seen_text=shown)
    # A second plan of A's: approved, then changed (so no longer approved); a third, never approved.
    for key, approve in (("statement changed since approval", True), ("unapproved statement", False)):
        finding = FindingFactory(inspection=w.inspection)
        finding.addressed_to.add(w.org["a"])
        other = ActionPlanFactory(finding=finding, organisation=w.org["a"])
        public.write_statement(plan=other, user=staff, text=f"First {key}")
        if approve:
            public.approve_statement(plan=other, user=manager, seen_text=f"First {key}")
            public.write_statement(plan=other, user=staff, text=private[key])
        else:
            public.write_statement(plan=other, user=staff, text=private[key])
    PublicStatement.objects.create(plan=w.plan["b"], text=private["B's statement"], written_by=w.users["staff_b"],
                                   approved_by=w.users["manager_b"], approved_at=timezone.now())  # fmt: skip
    GradingFactory(inspection=w.inspection, organisation=w.org["b"], area=private["B's grading area"])
    later = InspectionFactory(title=private["unpublished inspection"], published_on=None)
    GradingFactory(inspection=later, organisation=w.org["a"], area=private["unpublished inspection"])
    unpublished = FindingFactory(inspection=later, text=private["unpublished inspection"])
    ActionPlanFactory(finding=unpublished, organisation=w.org["a"])

    sweeper = Sweeper(w)
    slug = w.org["a"].slug
    for path in (f"/public/{slug}/", f"/public/{slug}.csv", f"/public/{slug}.json"):
        for role in ROLES:
            response = sweeper.send(role, "get", path)
            where = f"GET {path} as {role}"
            assert response.status_code == 200, f"{where}: {response.status_code}"
            assert shown in response.text, (
                f"{where}: the approved statement is missing (the check would prove nothing)"
            )
            for marker in MARKERS.values():
                assert marker not in response.text, f"{where}: shows {marker} (a name, note, file, response...)"
            for what, marker in private.items():
                assert marker not in response.text, f"{where}: shows the {what}"
            assert response.writes == set(), f"{where}: wrote to {response.writes}"


def test_a_plan_waiting_on_another_organisations_plan_names_it_only_to_those_who_may_see_it(world):
    """A's plan waits on B's (build_world). Every place that says what a plan waits on, read by A's people,
    says only "another organisation's plan": never B's marker (its owner's name), number or link. Read by
    an inspector or an administrator, the same places name B's plan, marker and all (the check can fail)."""
    from rest_framework.test import APIClient

    w = world
    a, b = w.plan["a"], w.plan["b"]
    places = [f"/plans/{a.pk}/", "/plans/?waiting_on=plan", "/plans/export.csv?waiting_on=plan", "/dashboard/"]
    for role in SIGNED_IN:
        client = Client()
        sign_in(client, w.users[role])
        api = APIClient()
        api.force_authenticate(w.users[role])
        texts = []
        for path in places:
            response = client.get(path)
            texts.append(
                b"".join(response.streaming_content).decode() if response.streaming else response.content.decode()
            )
        texts.append(api.get(f"/api/v1/plans/{a.pk}/").content.decode() if role.endswith("_a") or
                     role in ("inspector", "admin") else "")  # fmt: skip
        text = "\n".join(texts)
        if role.endswith("_a"):
            assert "another organisation" in text.replace("&#x27;", "'"), role
            for secret in (MARKERS["b"], f"Plan {b.pk}", f"plan {b.pk}", f"/plans/{b.pk}/"):
                assert secret not in text, f"{role} reads {secret!r}"
        elif role in ("inspector", "admin"):
            assert MARKERS["b"] in text and f"/plans/{b.pk}/" in text, role
        else:  # B's people: their plan is waited on by one plan they may not see
            page = client.get(f"/plans/{b.pk}/").content.decode()
            assert "1 plan of another organisation" in page, role
            assert MARKERS["a"] not in page and f"/plans/{a.pk}/" not in page, role
