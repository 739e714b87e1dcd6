"""The police and crime commissioner's 56-day response to an inspection: a draft made from the records
(DOCX to edit, PDF to read), the deadline for each organisation the inspection addresses, and the
published response once a manager records it.

Everything here is scoped as the pages are: an organisation the reader may not see is a 404, and the
draft lists only plans of `ActionPlan.objects.visible_to(reader)`.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import OuterRef, Prefetch, Q, Subquery
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.loader import render_to_string
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe

from inspections.models import Finding, Grading, Inspection, Organisation, report_order

from . import date_range, papers, permissions
from .evidence import ALLOWED_DESCRIPTION, check_upload
from .http import bad_query
from .models import ActionPlan, Milestone, PccResponse, Update, User, attach_dependencies, response_deadline
from .storage import open_stored

S = ActionPlan.Status
K = Finding.Kind
ENDED = (S.NO_FURTHER_ACTION, S.SUPERSEDED)
DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


# --- who is addressed, and by when --------------------------------------------------------------


def addressees(inspection: Inspection) -> list[Organisation]:
    """Organisations the inspection addresses: those its findings are addressed to, or that it graded."""
    return list(
        Organisation.objects.filter(
            Q(pk__in=Finding.objects.filter(inspection=inspection).values("addressed_to"))
            | Q(pk__in=Grading.objects.filter(inspection=inspection).values("organisation"))
        ).order_by("name")
    )


def visible_addressees(user: User, inspection: Inspection) -> list[Organisation]:
    """The addressees `user` may see: all for those who see everything, else their own organisation."""
    return [
        o for o in addressees(inspection) if permissions.sees_every_organisation(user) or o.pk == user.organisation_id
    ]


def addressed_organisation(user: User, inspection: Inspection, slug: str) -> Organisation:
    """An addressee the user may see, by slug; anything else (another organisation, one the inspection
    does not address) is a 404."""
    for organisation in visible_addressees(user, inspection):
        if organisation.slug == slug:
            return organisation
    raise Http404("No response of this organisation to this inspection.")


@dataclass
class DeadlineRow:
    organisation: Organisation
    deadline: dt.date | None
    today: dt.date
    response: PccResponse | None
    can_record: bool
    units: list[Organisation] = field(default_factory=list)  # regional units a combined draft may cover

    @property
    def days_left(self) -> int | None:
        return (self.deadline - self.today).days if self.deadline else None

    @property
    def when(self) -> str:
        days = self.days_left
        if days is None:
            return "No deadline: the inspection has no publication date"
        if days < 0:
            return f"{-days} day{'s' if days != -1 else ''} ago"
        if days == 0:
            return "today"
        return f"in {days} day{'s' if days != 1 else ''}"


def deadline_rows(user: User, inspection: Inspection, today: dt.date | None = None) -> list[DeadlineRow]:
    """The 56-day deadline of each addressee the user may see, and its recorded response (two queries)."""
    today = today or timezone.localdate()
    organisations = visible_addressees(user, inspection)
    recorded = {
        r.organisation_id: r
        for r in PccResponse.objects.filter(inspection=inspection, organisation__in=organisations).select_related(
            "inspection"
        )
    }
    deadline = response_deadline(inspection.published_on)
    return [
        DeadlineRow(
            o,
            deadline,
            today,
            recorded.get(o.pk),
            permissions.can_record_response(user, o.pk),
            regional_units(o, organisations),
        )  # fmt: skip
        for o in organisations
    ]


def regional_units(organisation: Organisation, others: list[Organisation]) -> list[Organisation]:
    """The regional units among `others` (the addressees the reader may see) that a draft of the force
    `organisation` may cover as well: those of its own region, whose commissioner's office answers for both."""
    if organisation.kind != Organisation.Kind.FORCE or organisation.region_id is None:
        return []
    return [
        o
        for o in others
        if o.kind == Organisation.Kind.REGIONAL_UNIT and o.region_id == organisation.region_id and o != organisation
    ]


# --- the draft ----------------------------------------------------------------------------------


def by_role(owner: User | None) -> str:
    """An owner by role, never by name: the response is published."""
    if owner is None:
        return "No owner assigned yet"
    return {User.Role.MANAGER: "A manager", User.Role.STAFF: "An action owner"}.get(owner.role, "An action owner")


@dataclass
class Answer:
    """One organisation's answer to a finding: its plan's planned steps, or the reason it recorded for none."""

    organisation: Organisation
    plan: ActionPlan | None

    @property
    def is_ended(self) -> bool:
        return self.plan is not None and self.plan.status in ENDED

    @property
    def owner_role(self) -> str:
        return by_role(self.plan.active_owner if self.plan else None)

    @property
    def steps(self) -> list[tuple[str, str]]:
        """The planned steps, as (label, text) lines, or the recorded reason for no action."""
        plan = self.plan
        if plan is None:
            return [("Planned steps", "No action plan has been opened for this yet.")]
        if self.is_ended:
            reason = plan.end_reason or "No reason was recorded."
            return [(f"No further action ({plan.get_status_display().lower()})", reason)]
        lines = [("Planned steps", plan.summary or "No response has been written yet.")]
        lines.append(("Owner", self.owner_role))
        if plan.target_date:
            target = f"{plan.target_date:%-d %B %Y}"
            if plan.original_target_date and plan.original_target_date != plan.target_date:
                target += f" (originally {plan.original_target_date:%-d %B %Y})"
        else:
            target = "Not set yet"
        lines.append(("Target date", target))
        lines.append(("Status", f"{plan.get_stage_display()}: {plan.get_status_display().lower()}, "
                                f"{plan.percent_complete}% complete"))  # fmt: skip
        if getattr(plan, "waits_text", ""):  # blocked: what it waits on (response_context), by no one's name
            lines.append(("Waiting on", f"{plan.waits_text}, since {plan.waits.since:%-d %B %Y}"))
        if plan.latest_progress:
            lines.append((f"Latest progress ({timezone.localtime(plan.latest_progress_at):%-d %B %Y})",
                          plan.latest_progress))  # fmt: skip
        for number, milestone in enumerate(plan.milestones.all(), start=1):
            target = f"target date {milestone.target_date:%-d %B %Y}" if milestone.target_date else "no target date"
            done = f"done on {milestone.done_on:%-d %B %Y}" if milestone.done_on else "not done yet"
            owner = by_role(milestone.owner if milestone.owner and milestone.owner.is_active else None)
            lines.append((f"Milestone {number}", f"{milestone.title} ({owner}; {target}; {done})"))
        # Success measures and proposals of no action join these lines once plans have them.
        return lines


@dataclass
class Entry:
    """A finding as the draft addresses it, with the answer of each organisation of the draft that it is
    addressed to (one, unless the draft covers a force and its regional unit), in the draft's order."""

    finding: Finding
    answers: list[Answer]
    recommendations: list[Entry] = field(default_factory=list)

    @property
    def plan(self) -> ActionPlan | None:
        return self.answers[0].plan

    @property
    def steps(self) -> list[tuple[str, str]]:
        return self.answers[0].steps


def response_context(
    *, user: User, inspection: Inspection, organisation: Organisation, partner: Organisation | None = None
) -> dict[str, Any]:
    """What the draft response says: the inspection, the organisation's gradings, each cause of concern
    with its recommendations and each other recommendation addressed to it (in the report's order,
    each once) with its plan's planned steps or recorded reason for no action, and a summary of the
    areas for improvement. With `partner` (the regional unit of the organisation's region, when one
    commissioner covers both), the draft covers both: each finding addressed to either still once, with
    each one's answer in turn. Plans are those `user` may see. A constant number of queries."""
    organisations = [organisation] if partner is None else [organisation, partner]
    latest = Update.objects.filter(plan=OuterRef("pk"), kind=Update.Kind.PROGRESS).exclude(note="")
    latest = latest.order_by("-created_at", "-pk")
    ending = Update.objects.filter(plan=OuterRef("pk"), status_to__in=ENDED).order_by("-created_at", "-pk")
    plans = {
        (plan.finding_id, plan.organisation_id): plan
        for plan in ActionPlan.objects.visible_to(user)
        .filter(organisation__in=organisations, finding__inspection=inspection)
        .select_related("owner", "organisation")
        .prefetch_related(Prefetch("milestones", queryset=Milestone.objects.select_related("owner")))
        .annotate(
            latest_progress=Subquery(latest.values("note")[:1]),
            latest_progress_at=Subquery(latest.values("created_at")[:1]),
            end_reason=Subquery(ending.values("note")[:1]),
        )
    }
    # What each blocked plan waits on, as its page tells `user` (another organisation's plan only if they
    # may see it), with no owner's name: the response is published.
    attach_dependencies(plans.values(), user, owner=False)
    addressed = set(
        Finding.addressed_to.through.objects.filter(
            finding__inspection=inspection, organisation__in=organisations
        ).values_list("finding_id", "organisation_id")
    )
    findings = list(
        inspection.findings.filter(addressed_to__in=organisations).distinct().order_by(*report_order(), "pk")
    )

    def entry(f: Finding) -> Entry:
        answers = [Answer(o, plans.get((f.pk, o.pk))) for o in organisations if (f.pk, o.pk) in addressed]
        return Entry(f, answers)

    causes = [entry(f) for f in findings if f.kind == K.CAUSE_OF_CONCERN]
    by_cause = {e.finding.pk: e for e in causes}
    recommendations = []
    for f in findings:
        if f.kind != K.RECOMMENDATION:
            continue
        if f.cause_of_concern_id in by_cause:
            by_cause[f.cause_of_concern_id].recommendations.append(entry(f))
        else:
            recommendations.append(entry(f))
    afis = [entry(f) for f in findings if f.kind == K.AREA_FOR_IMPROVEMENT]
    afi_summaries = []
    for o in organisations:
        answers = [a for e in afis for a in e.answers if a.organisation == o]
        stages = [
            {"label": label, "count": sum(1 for a in answers if a.plan is not None and a.plan.stage == value)}
            for value, label in ActionPlan.Stage.choices
        ]
        without = sum(1 for a in answers if a.plan is None)
        afi_summaries.append({"organisation": o, "count": len(answers), "stages": stages, "without_plan": without})
    today = timezone.localdate()
    return {
        "inspection": inspection,
        "organisation": organisation,
        "partner": partner,
        "organisations": organisations,
        "names": " and ".join(o.name for o in organisations),
        "gradings": sorted(
            Grading.objects.filter(inspection=inspection, organisation__in=organisations).select_related(
                "organisation"
            ),
            key=lambda g: (organisations.index(g.organisation), g.area),
        ),
        "causes": causes,
        "recommendations": recommendations,
        "afis": afis,
        "afi_summaries": afi_summaries,
        "deadline": response_deadline(inspection.published_on),
        "today": today,
        "protective_marking": settings.PROTECTIVE_MARKING,
        "site_url": settings.SITE_URL,
    }


def addressed_in_order(context: dict[str, Any]) -> list[Entry]:
    """Every cause of concern and recommendation of the draft, in the order it gives them."""
    entries: list[Entry] = []
    for cause in context["causes"]:
        entries.append(cause)
        entries.extend(cause.recommendations)
    return entries + context["recommendations"]


def response_pdf(context: dict[str, Any]) -> bytes:
    """The draft as an A4 PDF, laid out in parts of settings.PAPER_PART_ROWS findings (`papers.pdf_in_parts`):
    a cause of concern stays in one part with its recommendations."""
    inspection, today = context["inspection"], context["today"]
    parts = papers.in_parts(
        [
            ("head", "", None),
            ("causes", "", context["causes"]),
            ("recommendations", "", context["recommendations"]),
            ("afis", "", context["afis"] or None),
        ],
        settings.PAPER_PART_ROWS,
    )

    def htmls() -> Iterator[str]:
        for part in parts:
            for section in part:
                section.template = f"tracker/response_document.html#{section.name}"
            yield render_to_string("tracker/response_document.html", {**context, "sections": part})

    stylesheets = papers.paper_stylesheets(title=context["names"], dated=f"Prepared {today:%-d %B %Y}")
    metadata = {
        "/Title": f"Response to {inspection.title} – {context['names']} (draft)",
        "/Author": context["names"],
        "/Subject": f"Protective marking: {settings.PROTECTIVE_MARKING}",
    }
    return papers.pdf_in_parts(htmls(), stylesheets=stylesheets, metadata=metadata)


def response_docx(context: dict[str, Any]) -> bytes:
    """The draft as a Word document, for the commissioner's office to edit before publishing."""
    from docx import Document
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn
    from docx.shared import Pt

    inspection, names, partner = context["inspection"], context["names"], context["partner"]
    marking = context["protective_marking"]
    document = Document()
    document.core_properties.title = f"Response to {inspection.title}"
    document.core_properties.author = names
    document.styles["Normal"].font.size = Pt(11)

    def field_run(paragraph: Any, code: str) -> None:
        # A Word field (PAGE, NUMPAGES) that Word fills in as it lays the pages out.
        run = paragraph.add_run()
        begin, instruction, end = OxmlElement("w:fldChar"), OxmlElement("w:instrText"), OxmlElement("w:fldChar")
        begin.set(qn("w:fldCharType"), "begin")
        instruction.set(qn("xml:space"), "preserve")
        instruction.text = code
        end.set(qn("w:fldCharType"), "end")
        run._r.append(begin)
        run._r.append(instruction)
        run._r.append(end)

    # The heading styles looked up once: python-docx looks a style up by name through every style of the
    # document on each call, which was a third of the time on a draft of 2,000 findings.
    styles = {level: document.styles["Title" if level == 0 else f"Heading {level}"] for level in range(4)}

    def heading(text: str, level: int) -> None:
        document.add_paragraph(text, style=styles[level])

    section = document.sections[0]
    header = section.header.paragraphs[0]
    header.text = f"{marking} · DRAFT"
    header.alignment = WD_ALIGN_PARAGRAPH.CENTER
    footer = section.footer.paragraphs[0]
    footer.alignment = WD_ALIGN_PARAGRAPH.CENTER
    footer.add_run(f"{marking} · Page ")
    field_run(footer, "PAGE")
    footer.add_run(" of ")
    field_run(footer, "NUMPAGES")

    heading(f"Response to {inspection.title}", 0)
    document.add_paragraph(f"Draft response of {names}, prepared {context['today']:%-d %B %Y}.")
    facts = [("Inspection", inspection.title)]
    if inspection.published_on:
        facts.append(("Published", f"{inspection.published_on:%-d %B %Y}"))
    if context["deadline"]:
        facts.append(("Response due by", f"{context['deadline']:%-d %B %Y} (56 days after publication)"))
    if inspection.report_url:
        facts.append(("Report", inspection.report_url))
    for label, value in facts:
        paragraph = document.add_paragraph()
        paragraph.add_run(f"{label}: ").bold = True
        paragraph.add_run(value)

    these = "these organisations" if partner else "this organisation"
    heading("Gradings", 1)
    gradings = list(context["gradings"])
    if gradings:
        titles = ["Organisation", "Area", "Grade"] if partner else ["Area", "Grade"]
        table = document.add_table(rows=1, cols=len(titles))
        table.style = "Table Grid"
        for cell, text in zip(table.rows[0].cells, titles, strict=True):
            cell.text = text
        for grading in gradings:
            values = [grading.area, grading.get_grade_display()]
            for cell, text in zip(table.add_row().cells, [grading.organisation.name, *values] if partner else values,
                                  strict=True):  # fmt: skip
                cell.text = text
    else:
        document.add_paragraph(f"No gradings were given to {these}.")

    def finding_block(entry: Entry, level: int) -> None:
        heading(f"{entry.finding.get_kind_display()} {entry.finding.reference}", level)
        document.add_paragraph(entry.finding.text)
        for answer in entry.answers:
            if partner:  # whose steps follow, in the draft's order of organisations
                document.add_paragraph().add_run(answer.organisation.name).bold = True
            for label, text in answer.steps:
                paragraph = document.add_paragraph()
                paragraph.add_run(f"{label}: ").bold = True
                paragraph.add_run(text)

    heading("Causes of concern and recommendations", 1)
    if not addressed_in_order(context):
        document.add_paragraph(f"The inspection made no cause of concern or recommendation to {these}.")
    for cause in context["causes"]:
        finding_block(cause, 2)
        for recommendation in cause.recommendations:
            finding_block(recommendation, 3)
    for recommendation in context["recommendations"]:
        finding_block(recommendation, 2)

    heading("Areas for improvement", 1)
    afis = context["afis"]
    if afis:
        for summary in context["afi_summaries"]:
            stages = ", ".join(f"{s['label'].lower()} {s['count']}" for s in summary["stages"])
            if summary["without_plan"]:
                stages += f"; {summary['without_plan']} without an action plan yet"
            count = summary["count"]
            whose = f"{summary['organisation'].name}: " if partner else ""
            document.add_paragraph(f"{whose}{count} area{'s' if count != 1 else ''} for improvement: {stages}.")
        table = document.add_table(rows=1, cols=3)
        table.style = "Table Grid"
        for cell, text in zip(table.rows[0].cells, ("Reference", "Area for improvement", "Stage"), strict=True):
            cell.text = text
        for entry in afis:
            cells = table.add_row().cells
            cells[0].text, cells[1].text = entry.finding.reference, entry.finding.text
            cells[2].text = "; ".join(
                (f"{a.organisation.display_name}: " if partner else "")
                + (a.plan.get_stage_display() if a.plan else "No action plan yet")
                for a in entry.answers
            )
    else:
        document.add_paragraph(f"The inspection identified no area for improvement for {these}.")

    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


# --- pages ----------------------------------------------------------------------------------------


def _document(request: Any, slug: str, organisation_slug: str) -> tuple[dict[str, Any], str] | HttpResponse:
    """The draft's context and file name; with `?with=<slug>`, for the force together with that regional
    unit of its region (both addressed by the inspection, both visible to the reader, else 404), or a 400
    naming what is wrong."""
    inspection = get_object_or_404(Inspection, slug=slug)
    organisation = addressed_organisation(request.user, inspection, organisation_slug)
    form = ResponseDraftForm(request.GET)
    if not form.is_valid():
        return bad_query(request, form)
    partner = None
    if form.cleaned_data["with"]:
        partner = addressed_organisation(request.user, inspection, form.cleaned_data["with"])
        if partner not in regional_units(organisation, visible_addressees(request.user, inspection)):
            form.add_error("with", f"{partner.name} is not a regional unit of {organisation.name}'s region.")
            return bad_query(request, form)
    context = response_context(user=request.user, inspection=inspection, organisation=organisation, partner=partner)
    name = f"response-{inspection.slug}-{organisation.slug}" + (f"-{partner.slug}" if partner else "")
    return context, name


class ResponseDraftForm(forms.Form):
    """The draft's query: `with`, the slug of the regional unit the draft covers as well (a Python keyword,
    so the field is added below)."""


ResponseDraftForm.base_fields["with"] = forms.SlugField(
    required=False,
    max_length=100,
    error_messages={"invalid": "Give with= the address name of a regional unit of the organisation's region."},
)


@require_safe
def response_docx_view(request: Any, slug: str, organisation_slug: str) -> HttpResponse:
    made = _document(request, slug, organisation_slug)
    if isinstance(made, HttpResponse):
        return made
    context, name = made
    response = HttpResponse(response_docx(context), content_type=DOCX_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{name}.docx"'
    return response


@require_safe
def response_pdf_view(request: Any, slug: str, organisation_slug: str) -> HttpResponse:
    made = _document(request, slug, organisation_slug)
    if isinstance(made, HttpResponse):
        return made
    context, name = made
    response = HttpResponse(response_pdf(context), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{name}.pdf"'
    return response


class ResponseUploadForm(forms.Form):
    file = forms.FileField(label="The published response", help_text=f"{ALLOWED_DESCRIPTION} file.")
    published_on = forms.DateField(label="Date it was published", widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args: Any, inspection: Inspection, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.inspection = inspection

    def clean_published_on(self) -> dt.date:
        day = self.cleaned_data["published_on"]
        if day > timezone.localdate():
            raise ValidationError("The response cannot have been published after today.")
        if self.inspection.published_on and day < self.inspection.published_on:
            raise ValidationError(
                f"The response cannot predate the report ({self.inspection.published_on:%-d %B %Y})."
            )
        date_range.check(day)  # a report with no date of its own leaves only this lower bound
        return day


@require_POST
def response_upload(request: Any, slug: str, organisation_slug: str) -> HttpResponse:
    """A manager of the organisation records its published response: the file goes through the evidence
    checks (type, size, content, malware scan) before it is stored."""
    inspection = get_object_or_404(Inspection, slug=slug)
    organisation = addressed_organisation(request.user, inspection, organisation_slug)
    if not permissions.can_record_response(request.user, organisation.pk):
        raise PermissionDenied
    form = ResponseUploadForm(request.POST, request.FILES, inspection=inspection)
    if form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            checked = check_upload(upload, user=request.user.get_username())
            with transaction.atomic():
                response = PccResponse(
                    inspection=inspection, organisation=organisation,
                    published_on=form.cleaned_data["published_on"], original_name=checked.name, size=checked.size,
                    sha256=checked.sha256, content_type=checked.content_type, uploaded_by=request.user,
                )  # fmt: skip
                response.file.save(checked.name, upload, save=False)
                try:
                    response.save()
                except IntegrityError as error:
                    response.file.storage.delete(response.file.name)
                    raise ValidationError(
                        f"{organisation.name}'s response to this inspection is already recorded."
                    ) from error
        except ValidationError as error:
            for message in error.messages:
                messages.error(request, message)
        else:
            messages.success(request, f"{organisation.name}'s published response is recorded.")
    else:
        for name, errors in form.errors.items():
            label = form.fields[name].label if name in form.fields else ""
            for message in errors:
                messages.error(request, f"{label}: {message}" if label else message)
    return redirect(f"{inspection.get_absolute_url()}#responses-heading")


@require_safe
def response_file(request: Any, slug: str, organisation_slug: str) -> FileResponse:
    """The recorded response file, for those who may see the organisation."""
    inspection = get_object_or_404(Inspection, slug=slug)
    organisation = addressed_organisation(request.user, inspection, organisation_slug)
    recorded = get_object_or_404(PccResponse, inspection=inspection, organisation=organisation)
    try:
        handle = open_stored(recorded.file)
    except FileNotFoundError as error:
        raise Http404("The file is missing from storage.") from error
    response = FileResponse(handle, as_attachment=True, filename=recorded.original_name,
                            content_type="application/octet-stream")  # fmt: skip
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, no-store"
    return response


def inspection_context(request: Any, inspection: Inspection) -> dict[str, Any]:
    """The inspection page's "56-day responses" section."""
    return {"responses": deadline_rows(request.user, inspection), "response_form_description": ALLOWED_DESCRIPTION}
