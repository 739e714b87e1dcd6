"""Demo data: the 2024 inspection of the South East regional response to serious and organised crime.

The organisations, the gradings of Hampshire, Surrey and SEROCU, and the findings for those three come
from the published news coverage of the report (see DESIGN.md section 1). Everything else is
illustrative and marked as such: the other forces' findings, the SEROCU area for improvement, the
2025 revisit, the people, and all progress on the plans.

`seed_demo` is idempotent. Reference data is created or brought back to the values below; dates
relative to today are set only when a row is first created, so re-running on a later day does not
move them. Plans are driven through the real workflow only the first time, so every timeline entry
is one the workflow wrote.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.contrib.auth.hashers import make_password
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import models, transaction
from django.utils import timezone

from inspections import links
from inspections.models import Finding, FindingLink, Grading, Inspection, Organisation, Region, Theme
from tracker import freshness, public, workflow
from tracker.models import ActionPlan, Dependency, Update, User

DEFAULT_PASSWORD = "demo-password-2024"  # used only when DEBUG is on and no password is given
INSPECTION_SLUG = "south-east-soc-2024"
REVISIT_SLUG = "south-east-soc-revisit-2025"

ORGANISATIONS = [
    # slug, name, short name, kind
    ("hampshire", "Hampshire and Isle of Wight Constabulary", "Hampshire", Organisation.Kind.FORCE),
    ("surrey", "Surrey Police", "Surrey", Organisation.Kind.FORCE),
    ("sussex", "Sussex Police", "Sussex", Organisation.Kind.FORCE),
    ("thames-valley", "Thames Valley Police", "Thames Valley", Organisation.Kind.FORCE),
    ("kent", "Kent Police", "Kent", Organisation.Kind.FORCE),
    ("serocu", "South East Regional Organised Crime Unit", "SEROCU", Organisation.Kind.REGIONAL_UNIT),
]

THEMES = [
    ("intelligence", "Intelligence"),
    ("workforce-and-resourcing", "Workforce and resourcing"),
    ("local-profiles", "Local profiles"),
    ("information-sharing", "Information sharing"),
    ("partnership-working", "Partnership working"),
]

GRADED_AREA = "Tackling serious and organised crime"
# The three grades reported in the news coverage. Sussex, Thames Valley and Kent are left ungraded
# rather than given invented grades.
GRADINGS = [
    ("hampshire", Grading.Grade.INADEQUATE),
    ("surrey", Grading.Grade.REQUIRES_IMPROVEMENT),
    ("serocu", Grading.Grade.GOOD),
]


@dataclass(frozen=True)
class FindingSpec:
    reference: str
    kind: str
    text: str
    addressed_to: tuple[str, ...]
    themes: tuple[str, ...]
    due_in_days: int  # relative to the day the finding is first created
    cause_of_concern: str = ""


K = Finding.Kind
FINDINGS = [
    FindingSpec(
        "CoC1",
        K.CAUSE_OF_CONCERN,
        "Hampshire and Isle of Wight Constabulary needs to make sure it fully understands the threats from "
        "serious and organised crime (SOC) affecting its communities, and shares information about SOC across "
        "the workforce. Inspectors had concerns about how intelligence is collected, analysed and shared.",
        ("hampshire",),
        ("intelligence", "information-sharing"),
        -45,
    ),
    FindingSpec(
        "R1",
        K.RECOMMENDATION,
        "The constabulary should develop up-to-date SOC local profiles. Except for one, it hadn't updated them "
        "since 2019; the policing area that had refreshed its profile said the refresh improved local teams' "
        "understanding of SOC threats.",
        ("hampshire",),
        ("local-profiles", "intelligence"),
        -120,
        cause_of_concern="CoC1",
    ),
    FindingSpec(
        "R2",
        K.RECOMMENDATION,
        "The constabulary should make sure it has enough intelligence personnel to understand SOC threats and "
        "process intelligence reports.",
        ("hampshire",),
        ("intelligence", "workforce-and-resourcing"),
        -45,
        cause_of_concern="CoC1",
    ),
    FindingSpec(
        "R3",
        K.RECOMMENDATION,
        "The constabulary should share information about SOC across the workforce, so that officers and staff "
        "understand the SOC threats in the areas they police.",
        ("hampshire",),
        ("information-sharing",),
        20,
        cause_of_concern="CoC1",
    ),
    # Illustrative: a finding addressed to several forces, to show side-by-side comparison.
    FindingSpec(
        "R4",
        K.RECOMMENDATION,
        "Forces in the region should work with partner organisations and the regional unit to share information "
        "about SOC threats, so that their SOC local profiles draw on partners' intelligence.",
        ("hampshire", "surrey", "sussex", "thames-valley", "kent"),
        ("partnership-working", "information-sharing", "local-profiles"),
        -14,
    ),
    FindingSpec(
        "AFI1",
        K.AREA_FOR_IMPROVEMENT,
        "Surrey Police should make sure it has enough intelligence analysts to understand the threats from "
        "serious and organised crime.",
        ("surrey",),
        ("intelligence", "workforce-and-resourcing"),
        10,
    ),
    FindingSpec(
        "AFI2",
        K.AREA_FOR_IMPROVEMENT,
        "Surrey Police should make sure it has enough resources to tackle serious and organised crime.",
        ("surrey",),
        ("workforce-and-resourcing",),
        25,
    ),
    # Illustrative: SEROCU was graded good; this area for improvement is not taken from the report.
    FindingSpec(
        "AFI3",
        K.AREA_FOR_IMPROVEMENT,
        "The regional unit should make sure the intelligence it develops on SOC threats reaches forces in a form "
        "they can use to keep their SOC local profiles up to date.",
        ("serocu",),
        ("intelligence", "information-sharing", "partnership-working"),
        90,
    ),
]

# Illustrative: a later revisit whose recommendation replaces 2024 R2, so a plan can be superseded.
REVISIT_FINDING = FindingSpec(
    "R1",
    K.RECOMMENDATION,
    "Hampshire and Isle of Wight Constabulary should review its whole intelligence workforce so that it has "
    "enough trained researchers and analysts to understand SOC threats and process intelligence reports "
    "without a backlog.",
    ("hampshire",),
    ("intelligence", "workforce-and-resourcing"),
    180,
)

USERS = [
    # username, first name, last name, organisation slug, role, superuser
    ("hampshire.staff", "Priya", "Shah", "hampshire", User.Role.STAFF, False),
    ("hampshire.manager", "Tom", "Hughes", "hampshire", User.Role.MANAGER, False),
    ("surrey.staff", "Jo", "Evans", "surrey", User.Role.STAFF, False),
    ("surrey.manager", "Mark", "Reid", "surrey", User.Role.MANAGER, False),
    ("inspector", "Ruth", "Adams", None, User.Role.INSPECTOR, False),
    ("admin", "Site", "Administrator", None, User.Role.INSPECTOR, True),
]


@dataclass(frozen=True)
class DemoAccount:
    username: str
    description: str


@dataclass(frozen=True)
class DemoResult:
    accounts: list[DemoAccount]
    plan_count: int
    plans_opened: int
    workflow_driven: bool


FOLLOW_UP_FILE = Path(__file__).parent / "demo_files" / "south-east-soc-follow-up-2026.csv"
FOLLOW_UP_SLUG = "south-east-soc-follow-up-2026"
# Suggested links an inspector accepted in the demo: (follow-up reference, 2024 reference). The third
# repeat (AFI1, partnership working, repeating 2024 R4) is left as a suggestion to accept or dismiss.
FOLLOW_UP_ACCEPTED = [("R1", "R1"), ("R2", "AFI1")]


def import_follow_up(*, user: User, inspector: User, slugs: dict[str, str] | None = None) -> None:
    """Import the illustrative 2026 follow-up inspection (a file, through the same import as /imports/),
    and accept two of its suggested links: Hampshire's local profiles, closed in the demo, recur.

    `slugs`: the demo's organisation slugs that are another slug in this database (organisations reused
    by name, `_reuse_by_name`), so that the file's addressees are found."""
    from tracker.imports import services

    data = FOLLOW_UP_FILE.read_bytes()
    if slugs:
        table = list(csv.DictReader(io.StringIO(data.decode("utf-8"))))
        for row in table:
            row["addressed_to"] = ";".join(slugs.get(s, s) for s in row["addressed_to"].split(";"))
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(table[0]))
        writer.writeheader()
        writer.writerows(table)
        data = out.getvalue().encode("utf-8")
    rows = services.read_rows(name=FOLLOW_UP_FILE.name, data=data)
    services.import_findings(rows=rows, publish=True, user=user, source=FOLLOW_UP_FILE.name)
    for later, earlier in FOLLOW_UP_ACCEPTED:
        finding = Finding.objects.get(inspection__slug=FOLLOW_UP_SLUG, reference=later)
        if not FindingLink.objects.filter(finding=finding).exists():
            links.link_findings(
                finding=finding, earlier=Finding.objects.get(inspection__slug=INSPECTION_SLUG, reference=earlier),
                kind=FindingLink.Kind.REPEATS, user=inspector,
            )  # fmt: skip


def _propose_no_action_on_follow_up(surrey: Organisation, staff: User) -> None:
    """Surrey's plan for the follow-up's R2 (analysts again): proposed for no action, awaiting its manager.
    Only a plan nobody has touched yet is proposed, so re-running changes nothing."""
    plan = ActionPlan.objects.filter(
        finding__inspection__slug=FOLLOW_UP_SLUG, finding__reference="R2", organisation=surrey
    ).first()
    if plan is None or plan.status != ActionPlan.Status.NOT_STARTED or plan.updates.exists():
        return
    workflow.propose_no_action(
        plan=plan, user=staff,
        reason="This repeats the 2024 AFI1, whose plan already covers it: two analysts are appointed and the third "
        "post is re-advertised with the regional unit.",
        risk="If the third post is not filled, analyst capacity stays one short until the next recruitment round.",
    )  # fmt: skip


def seed_demo(*, password: str, today: dt.date | None = None, follow_up: bool = True) -> DemoResult:
    """Create or refresh the demo; return the accounts to print. Safe to run any number of times.

    `follow_up`: also import the illustrative 2026 follow-up inspection, whose findings repeat three of
    2024 (suggested links, two accepted, one recurrence)."""
    today = today or timezone.localdate()
    with transaction.atomic():
        region = _reuse_by_name(Region, "south-east", "South East") or _upsert(
            Region, {"slug": "south-east"}, {"name": "South East"}
        )
        orgs = {
            slug: _reuse_by_name(Organisation, slug, name)
            or _upsert(
                Organisation,
                {"slug": slug},
                {"name": name, "short_name": short, "kind": kind, "region": region},
            )
            for slug, name, short, kind in ORGANISATIONS
        }
        themes = {
            slug: _reuse_by_name(Theme, slug, name) or _upsert(Theme, {"slug": slug}, {"name": name})
            for slug, name in THEMES
        }
        users = _seed_users(orgs, password)

        inspection = _upsert(
            Inspection,
            {"slug": INSPECTION_SLUG},
            {
                "title": "An inspection of the South East regional response to serious and organised crime",
                "programme": Inspection.Programme.SOC,
                "published_on": dt.date(2024, 8, 30),
                "report_url": "https://hmicfrs.justiceinspectorates.gov.uk/",
                "summary": (
                    "HMICFRS inspected how forces in the South East and the South East Regional Organised Crime "
                    "Unit tackle serious and organised crime. Hampshire and Isle of Wight Constabulary was graded "
                    "inadequate, Surrey Police requires improvement, and SEROCU good. Inspectors had concerns "
                    "about how intelligence is collected, analysed and shared, found SOC local profiles that had "
                    "not been refreshed since 2019, and asked forces to have enough intelligence analysts and "
                    "resources to tackle SOC."
                ),
            },
        )
        for slug, grade in GRADINGS:
            _upsert(
                Grading,
                {"inspection": inspection, "organisation": orgs[slug], "area": GRADED_AREA},
                {"grade": grade},
            )
        findings: dict[str, Finding] = {}
        for spec in FINDINGS:
            findings[spec.reference] = _seed_finding(
                inspection, spec, orgs, themes, today, cause_of_concern=findings.get(spec.cause_of_concern)
            )

        revisit = _upsert(
            Inspection,
            {"slug": REVISIT_SLUG},
            {
                "title": "South East serious and organised crime: revisit 2025",
                "programme": Inspection.Programme.SOC,
                "published_on": min(dt.date(2025, 9, 30), today),
                "summary": (
                    "Illustrative demo data, not a published report: a revisit that replaces the 2024 "
                    "recommendation on intelligence personnel with one covering the whole intelligence workforce."
                ),
            },
        )
        revisit_finding = _seed_finding(revisit, REVISIT_FINDING, orgs, themes, today)
        FindingLink.objects.get_or_create(
            finding=revisit_finding,
            earlier=findings["R2"],
            defaults={"kind": FindingLink.Kind.SUPERSEDES, "created_by": users["inspector"]},
        )

        opened = workflow.publish_inspection(inspection=inspection) + workflow.publish_inspection(inspection=revisit)
        # Only a freshly seeded inspection is driven: re-running must not add timeline entries.
        driven = not Update.objects.filter(plan__finding__inspection=inspection).exists()
        if driven:
            _drive_plans(findings, revisit_finding, orgs, users, today)
            _spread_over_time([inspection, revisit], today)
        _publish_progress(orgs["surrey"], users["surrey.manager"], users["surrey.staff"], inspection)
        if follow_up:
            import_follow_up(
                user=users["admin"], inspector=users["inspector"],
                slugs={slug: org.slug for slug, org in orgs.items() if org.slug != slug},
            )  # fmt: skip
            _propose_no_action_on_follow_up(orgs["surrey"], users["surrey.staff"])

    plan_count = ActionPlan.objects.filter(finding__inspection__in=[inspection, revisit]).count()
    return DemoResult(accounts=_accounts(users), plan_count=plan_count, plans_opened=opened, workflow_driven=driven)


# Surrey Police publishes its progress: statements on its plans of the 2024 inspection, by finding
# reference, and whether its manager has approved them (only approved ones reach the public page).
PUBLIC_STATEMENTS = [
    ("AFI1", True, "We have found the money for three more intelligence analysts. Two have been appointed and "
     "start soon; we are advertising the third post jointly with the regional organised crime unit."),
    ("R4", True, "We have signed an agreement to share information about serious and organised crime with our "
     "local councils and the regional unit, and our local profiles now use it. The inspectorate will check "
     "this work before the recommendation is closed."),
    ("AFI2", False, "We have reviewed the resources we give to serious and organised crime and funded new posts."),
]  # fmt: skip


def _publish_progress(organisation: Organisation, manager: User, staff: User, inspection: Inspection) -> None:
    """Opt the organisation in to a public progress page, with statements (idempotent: the services
    change nothing when the setting and the texts are already so)."""
    public.set_public_progress(organisation=organisation, user=manager, public=True)
    for reference, approved, text in PUBLIC_STATEMENTS:
        plan = ActionPlan.objects.get(finding__inspection=inspection, finding__reference=reference,
                                      organisation=organisation)  # fmt: skip
        public.write_statement(plan=plan, user=staff, text=text)
        if approved:
            public.approve_statement(plan=plan, user=manager, seen_text=text)


def _spread_over_time(inspections: list[Inspection], today: dt.date) -> None:
    """Date the demo as if it had happened since each report came out, not all in one second: each
    plan opened on its inspection's publication day, its timeline spread evenly from then to now in
    the order it was written. The dashboard's trend then has a history to draw."""
    now = timezone.now()
    for inspection in inspections:
        published = inspection.published_on or today
        opened = timezone.make_aware(dt.datetime.combine(published, dt.time(9)))
        plans = ActionPlan.objects.filter(finding__inspection=inspection)
        plans.update(created_at=opened)
        for plan in plans:
            updates = list(plan.updates.order_by("pk"))
            step = (now - opened) / (len(updates) + 1)
            for index, update in enumerate(updates, start=1):
                update.created_at = opened + step * index
                update.evidence.update(uploaded_at=update.created_at)
            Update.objects.bulk_update(updates, ["created_at"])
            # Last changed: its latest timeline entry, or, untouched, the day it was opened (not the
            # moment the demo was loaded).
            plans.filter(pk=plan.pk).update(updated_at=updates[-1].created_at if updates else opened)
    freshness.history_changed()  # rows dated in the past, written without signals


# --- reference data ------------------------------------------------------------------------------


def _reuse_by_name(model: type[models.Model], slug: str, name: str) -> Any:
    """A row of the demo's name that exists under another slug (an administrator imported a real report's
    findings with `--create-organisations`, say): the demo uses it as it is, rather than creating a second
    row of the same name, which the unique name refuses. None when there is none (create or refresh by slug)."""
    manager = model._default_manager
    if manager.filter(slug=slug).exists():
        return None
    return manager.filter(name__iexact=name).first()


def _upsert(
    model: type[models.Model],
    lookup: dict[str, Any],
    values: dict[str, Any],
    create_only: dict[str, Any] | None = None,
) -> Any:
    """Get or create; on an existing row save only fields that differ, so a re-run writes no history."""
    obj = model._default_manager.filter(**lookup).first()
    if obj is None:
        return model._default_manager.create(**lookup, **values, **(create_only or {}))
    changed = [name for name, value in values.items() if getattr(obj, name) != value]
    if changed:
        for name in changed:
            setattr(obj, name, values[name])
        obj.save(update_fields=changed)
    return obj


def _set_m2m(manager: Any, wanted: Iterable[models.Model]) -> None:
    wanted = list(wanted)
    if {o.pk for o in manager.all()} != {o.pk for o in wanted}:
        manager.set(wanted)


def _seed_finding(
    inspection: Inspection,
    spec: FindingSpec,
    orgs: dict[str, Organisation],
    themes: dict[str, Theme],
    today: dt.date,
    *,
    cause_of_concern: Finding | None = None,
) -> Finding:
    finding = _upsert(
        Finding,
        {"inspection": inspection, "reference": spec.reference},
        {"kind": spec.kind, "text": spec.text, "cause_of_concern": cause_of_concern},
        create_only={"due_by": today + dt.timedelta(days=spec.due_in_days)},
    )
    _set_m2m(finding.addressed_to, [orgs[slug] for slug in spec.addressed_to])
    _set_m2m(finding.themes, [themes[slug] for slug in spec.themes])
    return finding


def _seed_users(orgs: dict[str, Organisation], password: str) -> dict[str, User]:
    users = {}
    for username, first, last, org_slug, role, superuser in USERS:
        values = {
            "first_name": first,
            "last_name": last,
            "email": f"{username}@example.org",
            "organisation": orgs[org_slug] if org_slug else None,
            "role": role,
            "is_active": True,
            "is_staff": superuser,
            "is_superuser": superuser,
        }
        user = User.objects.filter(username=username).first()
        if user is None:
            user = User.objects.create_user(username=username, password=password, **values)
        else:
            user = _upsert(User, {"pk": user.pk}, values)
            # Reset the password on every run without writing a history row (passwords are not tracked).
            User.objects.filter(pk=user.pk).update(password=make_password(password))
        users[username] = user
    return users


def _accounts(users: dict[str, User]) -> list[DemoAccount]:
    accounts = []
    for username, user in users.items():
        if user.is_superuser:
            description = "administrator (Django admin at /admin/)"
        elif user.organisation:
            description = f"{user.get_role_display().lower()}, {user.organisation.display_name}"
        else:
            description = "inspector, all organisations"
        accounts.append(DemoAccount(username=username, description=description))
    return accounts


# --- plans in every state, through the real workflow ---------------------------------------------


def _pdf(title: str, *lines: str) -> SimpleUploadedFile:
    """A one-page PDF with a few lines of Helvetica: small, valid, and accepted by `check_upload`."""

    def escape(text: str) -> str:
        return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    text = [f"BT /F1 16 Tf 72 770 Td ({escape(title)}) Tj /F1 11 Tf"]
    text += [f"0 -20 Td ({escape(line)}) Tj" for line in (*lines, "Demo evidence: not a real document.")]
    stream = "\n".join([*text, "ET"]).encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    name = title.lower().replace(" ", "-") + ".pdf"
    return SimpleUploadedFile(name, bytes(out), content_type="application/pdf")


def _csv(name: str, *rows: str) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, ("\r\n".join(rows) + "\r\n").encode(), content_type="text/csv")


def _drive_plans(
    findings: dict[str, Finding],
    revisit_finding: Finding,
    orgs: dict[str, Organisation],
    users: dict[str, User],
    today: dt.date,
) -> None:
    """Move the demo plans into every status, as the people who would do it."""

    def plan(reference: str, org_slug: str) -> ActionPlan:
        return ActionPlan.objects.get(finding=findings[reference], organisation=orgs[org_slug])

    hants_staff, hants_manager = users["hampshire.staff"], users["hampshire.manager"]
    surrey_staff, surrey_manager = users["surrey.staff"], users["surrey.manager"]
    inspector = users["inspector"]

    # Hampshire CoC1: in progress and past its date, so it shows red.
    coc = plan("CoC1", "hampshire")
    workflow.assign_owner(plan=coc, user=hants_manager, owner=hants_manager, note="Reporting to the SOC board.")
    workflow.record_progress(
        plan=coc,
        user=hants_manager,
        note="SOC improvement board set up, chaired by the ACC, meeting monthly; it oversees R1 to R3.",
        percent_complete=25,
        files=[_pdf("SOC improvement board terms of reference", "Chair: Assistant Chief Constable.")],
    )
    workflow.record_progress(
        plan=coc,
        user=hants_manager,
        note="Review of the intelligence function commissioned; report due to the board next quarter.",
        percent_complete=40,
    )
    workflow.add_comment(
        plan=coc, user=inspector, note="Please attach the intelligence function review's terms of reference."
    )
    # Broken into five milestones with their own owners and dates: two done, one past its date.
    for title, owner, due, done in (
        ("Set up the SOC improvement board", hants_manager, -60, -50),
        ("Commission a review of the intelligence function", hants_manager, -30, -25),
        ("Agree the review's recommendations at the SOC board", hants_manager, -7, None),
        ("Recruit three intelligence analysts", hants_staff, 45, None),
        ("Evaluate SOC disruption outcomes after six months", hants_staff, 180, None),
    ):
        workflow.add_milestone(
            plan=coc, user=hants_manager, title=title, owner=owner, target_date=today + dt.timedelta(days=due)
        )
        if done is not None:
            workflow.complete_milestone(
                plan=coc, user=owner, milestone=coc.milestones.get(title=title),
                done_on=today + dt.timedelta(days=done),
            )  # fmt: skip

    # Hampshire R1 (local profiles): the whole way to closed.
    profiles = plan("R1", "hampshire")
    workflow.assign_owner(plan=profiles, user=hants_manager, owner=hants_staff)
    workflow.record_progress(
        plan=profiles,
        user=hants_staff,
        note="Refreshing the SOC local profiles, using the template of the area that refreshed its profile.",
        percent_complete=50,
        files=[
            _csv(
                "soc-local-profiles-status.csv",
                "policing_area,last_refreshed,status",
                "Eastern,2019-06-30,in progress",
                "Western,2019-06-30,in progress",
                "Northern,2023-11-15,current",
                "Isle of Wight,2019-06-30,in progress",
            )
        ],
    )
    workflow.record_progress(
        plan=profiles,
        user=hants_staff,
        note="All local profiles refreshed with partners' input and agreed by the area commanders.",
        percent_complete=100,
    )
    workflow.submit_for_sign_off(
        plan=profiles,
        user=hants_staff,
        statement="Every SOC local profile has been refreshed and an annual refresh is now in the intelligence "
        "calendar. The status list is attached.",
    )
    workflow.sign_off(
        plan=profiles, user=hants_manager, comment="Checked against the national template; agreed at the SOC board."
    )
    workflow.close(
        plan=profiles, user=inspector, comment="Verified: profiles are current and used by neighbourhood teams."
    )

    # Hampshire R2 (intelligence personnel): superseded by the revisit's wider recommendation.
    personnel = plan("R2", "hampshire")
    workflow.assign_owner(plan=personnel, user=hants_manager, owner=hants_staff)
    workflow.record_progress(
        plan=personnel,
        user=hants_staff,
        note="Business case for extra intelligence researchers submitted to the chief officer group.",
        percent_complete=20,
    )
    workflow.supersede(
        plan=personnel,
        user=inspector,
        superseding_finding=revisit_finding,
        comment="The revisit covers the whole intelligence workforce; continue under the new plan.",
    )

    # Hampshire R3 (sharing SOC information): blocked on a dependency.
    sharing = plan("R3", "hampshire")
    workflow.assign_owner(plan=sharing, user=hants_manager, owner=hants_staff)
    workflow.record_progress(
        plan=sharing,
        user=hants_staff,
        note="Drafted a monthly SOC briefing for neighbourhood and response teams.",
        percent_complete=30,
        files=[_pdf("SOC briefing draft", "Monthly briefing for neighbourhood and response teams.")],
    )
    workflow.mark_blocked(
        plan=sharing,
        user=hants_staff,
        note="Waiting on the briefing system upgrade so briefings reach every team's devices; no date from "
        "the supplier yet.",
        waiting_on=Dependency.Kind.PROCUREMENT,
        waiting_on_name="Briefing system upgrade",
        blocked_since=today - dt.timedelta(days=40),
    )

    # Hampshire R4 (partners' intelligence in the local profiles): blocked on the regional unit's plan for
    # AFI3 (its intelligence reaching forces in a usable form). Hampshire's people cannot see that plan, so
    # they read only that it waits on another organisation's plan; the inspector sees which and its status.
    partners = plan("R4", "hampshire")
    workflow.assign_owner(plan=partners, user=hants_manager, owner=hants_staff)
    workflow.start(
        plan=partners, user=hants_staff, note="Mapped which partners hold SOC intelligence for each policing area."
    )
    workflow.mark_blocked(
        plan=partners,
        user=hants_staff,
        note="The profiles need the regional unit's intelligence products in a form we can load; SEROCU is "
        "redesigning them under its own plan.",
        waiting_on=Dependency.Kind.PLAN,
        waiting_on_plan=plan("AFI3", "serocu"),
        blocked_since=today - dt.timedelta(days=12),
    )

    # Surrey AFI1 (analysts): in progress with evidence, owned by surrey.staff, target date deferred.
    analysts = plan("AFI1", "surrey")
    workflow.assign_owner(plan=analysts, user=surrey_manager, owner=surrey_staff)
    workflow.record_progress(
        plan=analysts,
        user=surrey_staff,
        note="Analyst establishment reviewed against SOC demand: a gap of three analysts. Figures attached.",
        percent_complete=30,
        files=[
            _csv(
                "analyst-establishment.csv",
                "team,funded_posts,filled_posts",
                "SOC intelligence,8,5",
                "Force intelligence bureau,12,12",
            )
        ],
    )
    workflow.change_target_date(
        plan=analysts,
        user=surrey_manager,
        target_date=today + dt.timedelta(days=120),
        reason="The first recruitment campaign found no appointable candidates for two posts; re-advertised "
        "jointly with the regional unit. Agreed at the force SOC board.",
    )
    workflow.record_progress(
        plan=analysts,
        user=surrey_staff,
        note="Two analysts appointed with start dates agreed; the third post is re-advertised.",
        percent_complete=55,
    )

    # Surrey AFI2 (resources): submitted, returned once, then submitted again.
    resources = plan("AFI2", "surrey")
    workflow.assign_owner(plan=resources, user=surrey_manager, owner=surrey_staff)
    workflow.record_progress(
        plan=resources,
        user=surrey_staff,
        note="SOC resourcing reviewed as part of the force management statement.",
        percent_complete=60,
        files=[_pdf("SOC resourcing review", "Demand, capacity and funded posts for SOC work.")],
    )
    workflow.submit_for_sign_off(
        plan=resources,
        user=surrey_staff,
        statement="SOC resourcing has been reviewed and extra posts funded in this year's budget.",
    )
    workflow.return_submission(
        plan=resources,
        user=surrey_manager,
        comment="Please list the funded posts and their start dates before I sign this off.",
    )
    workflow.record_progress(
        plan=resources,
        user=surrey_staff,
        note="Funded posts and start dates added.",
        percent_complete=80,
        files=[
            _csv(
                "soc-funded-posts.csv",
                "post,team,start",
                "Detective sergeant,SOC disruption,next quarter",
                "Financial investigator,Economic crime,next quarter",
            )
        ],
    )
    workflow.submit_for_sign_off(
        plan=resources,
        user=surrey_staff,
        statement="SOC resourcing has been reviewed; the funded posts and their start dates are attached.",
    )

    # Surrey R4 (partnership): signed off by the force, waiting for the inspector to verify; its success
    # measures include a demonstration period still running, so it cannot be closed yet.
    partnership = findings["R4"]
    partnership.what_good_looks_like = (
        "Partners' information reaches the SOC local profiles routinely, under a signed agreement, and shapes "
        "the force's SOC priorities."
    )
    partnership.save(update_fields=["what_good_looks_like"])
    surrey_partners = plan("R4", "surrey")
    workflow.assign_owner(plan=surrey_partners, user=surrey_manager, owner=surrey_staff)
    workflow.add_measure(
        plan=surrey_partners, user=surrey_manager, text="Information-sharing agreement signed by every partner",
        target_figure="4 of 4 partners",
    )  # fmt: skip
    workflow.add_measure(
        plan=surrey_partners, user=surrey_manager,
        text="Each quarterly local profile cites partners' information", target_figure="every quarter",
        sustain_until=today + dt.timedelta(days=90),
    )  # fmt: skip
    workflow.record_progress(
        plan=surrey_partners,
        user=surrey_staff,
        note="Information-sharing agreement signed with the local authorities and the regional unit.",
        percent_complete=90,
        files=[_pdf("SOC information sharing agreement", "Parties: the force, local authorities, SEROCU.")],
    )
    workflow.submit_for_sign_off(
        plan=surrey_partners,
        user=surrey_staff,
        statement="Partners' SOC information now feeds the local profiles under a signed agreement.",
        measures_met={
            str(m.pk): answer
            for m, answer in zip(
                surrey_partners.measures.all(),
                (
                    "Signed by both local authorities, the fire service and SEROCU; the agreement is attached.",
                    "The last two quarterly profiles cite partners' information; the next two will be checked.",
                ),
                strict=True,
            )
        },
    )
    workflow.sign_off(
        plan=surrey_partners,
        user=surrey_manager,
        comment="Signed off: the agreement is in place and the latest profile cites partners' information.",
    )

    # Hampshire's revisit R1 (the whole intelligence workforce): proposed for no action, the risk accepted by
    # its manager, awaiting the inspector's decision.
    revisit_plan = ActionPlan.objects.get(finding=revisit_finding, organisation=orgs["hampshire"])
    workflow.propose_no_action(
        plan=revisit_plan, user=hants_staff,
        reason="The review this recommendation asks for is already under way as a milestone of the CoC1 plan "
        "(three analysts being recruited, reported to the SOC improvement board); a second review would duplicate it.",
        risk="If the CoC1 plan slips, the researchers' backlog has no plan of its own; the SOC board would see it "
        "first in the monthly intelligence figures.",
    )  # fmt: skip
    workflow.accept_no_action_risk(
        plan=revisit_plan, user=hants_manager,
        comment="Accepted: the SOC improvement board tracks the workforce review under CoC1 and reviews the "
        "backlog figures monthly.",
    )  # fmt: skip

    # Kent R4: no further action. Sussex and Thames Valley R4, SEROCU AFI3 (which Hampshire R4 waits on) and the
    # revisit stay not started.
    workflow.no_further_action(
        plan=plan("R4", "kent"),
        user=inspector,
        comment="The force's existing SOC partnership arrangements already meet this recommendation.",
    )
