"""Every change to an action plan goes through here (DESIGN section 4).

Each function checks the role rules, the current state and the plan's version (optimistic locking),
locks the plan's row, and writes the plan and its Update in one transaction. Who may, from which
statuses, to which status and with which kind of entry are the facts of the action's entry in
`tracker.actions` (`ALLOWED_TRANSITIONS` is derived from them); the functions here hold what each action
does with its input. Views, the API, bulk actions and commands call these; nothing else sets `status`.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import connection, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone
from django.utils.formats import date_format

from inspections.models import Finding, Inspection

from . import date_range, freshness, permissions
from .actions import ACTIONS, TRANSITIONS, Action
from .evidence import check_upload
from .models import ActionPlan, Dependency, Evidence, Milestone, NoActionProposal, SuccessMeasure, Update, User

S = ActionPlan.Status

# Each status and the statuses it may become, derived from the actions' entries (tracker.actions).
ALLOWED_TRANSITIONS: dict[str, tuple[str, ...]] = TRANSITIONS


class StaleVersion(ValidationError):
    """The plan changed since the form was shown; the caller keeps the user's text."""

    def __init__(self, plan: ActionPlan) -> None:
        # Comments leave the version alone, so the person to name is whoever last changed the plan.
        last = plan.updates.exclude(kind=Update.Kind.COMMENT).select_related("author").first()
        if last is not None:
            when = date_format(timezone.localtime(last.created_at), "j M Y H:i")
            message = f"This plan was changed by {last.author} at {when}; your text is kept below."
        else:
            message = "This plan was changed by someone else; your text is kept below."
        message += " Check the latest entries, then send your change again."
        super().__init__(message, code="stale")
        self.plan = plan


class Keep(enum.Enum):
    """An edit's field that was not given: it stays as it was. Leaving a field out of an API edit keeps
    it; sending it empty (null, "") clears it. The page's forms send every field."""

    KEEP = "keep"


KEEP = Keep.KEEP


def _kept(value: Any, current: Any) -> Any:
    return current if value is KEEP else value


@dataclass
class Change:
    """What a workflow call does to a plan, worked out from the *locked* row."""

    kind: str
    note: str
    status_to: str | None = None
    percent: int | None = None
    target_date_to: dt.date | None = None
    plan_fields: dict[str, object] = field(default_factory=dict)


def _require(text: str, message: str) -> str:
    text = (text or "").strip()
    if not text:
        raise ValidationError(message, code="required")
    return text


def _field_error(name: str, message: str, code: str) -> ValidationError:
    """A refusal of one of the function's arguments, named as its form's and serializer's field: the page
    shows it beside the field, the API under the field's name."""
    return ValidationError({name: ValidationError(message, code=code)})


def _expect(plan: ActionPlan, action: Action) -> None:
    if plan.status not in action.sources:
        raise ValidationError(
            f"{action.doing} is not possible while the plan is {plan.get_status_display().lower()}.",
            code="invalid_transition",
        )


def _lock(plan: ActionPlan, expected_version: int | None) -> ActionPlan:
    locked = ActionPlan.objects.select_for_update().get(pk=plan.pk)
    if expected_version is not None and locked.version != expected_version:
        raise StaleVersion(locked)
    return locked


def _apply(
    *,
    plan: ActionPlan,
    user: User,
    action: Action | None,
    build: Callable[[ActionPlan], Change],
    expected_version: int | None,
    allowed: Callable[[User, ActionPlan], bool] | None = None,
    files: Sequence[UploadedFile] = (),
    needs_evidence: bool = False,
) -> Update:
    """Check, lock, then write the plan and its Update together. Runs inside the caller's transaction.

    An action of the registry brings its role check and the statuses it may start from: every action is
    refused on a plan outside its sources here, whatever called it (page, bulk, API, command). Changes that
    are no action of the registry (`release_owner`, `edit_response`) pass their own `allowed` instead.

    The state checks run on the locked row, so of two simultaneous calls exactly one changes the
    plan and the other sees the new state (or the new version) and is refused.
    """
    if action is not None:
        allowed = action.allowed
    assert allowed is not None
    if not allowed(user, plan):
        raise PermissionDenied
    checked = [check_upload(f, user=user.get_username()) for f in files]  # refuse bad files before any write
    locked = _lock(plan, expected_version)
    if not allowed(user, locked):
        raise PermissionDenied
    if action is not None:
        _expect(locked, action)
    change = build(locked)
    status_from = locked.status
    if change.status_to and change.status_to != status_from and change.status_to not in TRANSITIONS[status_from]:
        raise ValidationError(
            f"A plan that is {locked.get_status_display().lower()} cannot become {S(change.status_to).label.lower()}.",
            code="invalid_transition",
        )
    if needs_evidence and not checked and not Evidence.objects.filter(update__plan=locked).exists():
        raise ValidationError("Attach at least one evidence file before submitting for sign-off.", code="evidence")
    now = timezone.now()
    update = Update.objects.create(
        plan=locked,
        author=user,
        created_at=now,
        kind=change.kind,
        note=change.note,
        status_from=status_from if change.status_to else "",
        status_to=change.status_to or "",
        percent=change.percent,
        target_date_from=locked.target_date if change.target_date_to else None,
        target_date_to=change.target_date_to,
    )
    for upload, info in zip(files, checked, strict=True):
        evidence = Evidence(
            update=update,
            original_name=info.name,
            size=info.size,
            sha256=info.sha256,
            content_type=info.content_type,
            uploaded_by=user,
            uploaded_at=now,
        )
        evidence.file.save(info.name, upload, save=True)
    if status_from == S.BLOCKED and change.status_to and change.status_to != S.BLOCKED:
        # No longer waiting: what it waited on stays on the timeline, not on the plan.
        Dependency.objects.filter(plan=locked).delete()
    if change.status_to:
        locked.status = change.status_to
    if change.percent is not None:
        locked.percent_complete = change.percent
    if change.target_date_to:
        locked.target_date = change.target_date_to
    for name, value in change.plan_fields.items():
        setattr(locked, name, value)
    locked.version += 1
    locked.updated_at = now
    locked.save()
    # Keep the caller's object current so it can redirect or re-render without another read.
    plan.refresh_from_db()
    plan.__dict__.pop("rag_value", None)  # a `with_rag()` annotation would describe the old state
    plan.__dict__.pop("brought_forward_value", None)  # likewise `for_list()`'s count of dates brought forward
    return update


# --- staff and managers of the organisation -------------------------------------------------


@transaction.atomic
def record_progress(
    *,
    plan: ActionPlan,
    user: User,
    note: str,
    percent_complete: int | None = None,
    files: Sequence[UploadedFile] = (),
    expected_version: int | None = None,
) -> Update:
    """A progress note (with optional % and evidence). On a not-started plan it also starts it."""
    note = _require(note, "Say what progress has been made.")
    if percent_complete is not None and not 0 <= percent_complete <= 100:
        raise ValidationError("Percent complete must be between 0 and 100.", code="percent")

    def build(locked: ActionPlan) -> Change:
        if percent_complete is not None and locked.milestones.exists():
            raise ValidationError(
                "This plan's percentage follows its milestones: complete a milestone instead of typing a figure.",
                code="percent_from_milestones",
            )
        # Progress on a plan not yet started starts it, as "start" would.
        status_to = ACTIONS["start"].target if locked.status in ACTIONS["start"].sources else None
        return Change(kind=ACTIONS["progress"].kind, note=note, percent=percent_complete, status_to=status_to)

    return _apply(
        plan=plan,
        user=user,
        action=ACTIONS["progress"],
        build=build,
        expected_version=expected_version,
        files=files,
    )


def _status_change(
    slug: str, *, plan: ActionPlan, user: User, note: str, expected_version: int | None, **extra: object
) -> Update:
    """The action `slug` as its entry describes it: its role check, its sources, its target and kind."""
    action = ACTIONS[slug]

    def build(locked: ActionPlan) -> Change:
        return Change(kind=action.kind, note=note, status_to=action.target, **extra)  # type: ignore[arg-type]

    return _apply(plan=plan, user=user, action=action, build=build, expected_version=expected_version)


@transaction.atomic
def start(*, plan: ActionPlan, user: User, note: str, expected_version: int | None = None) -> Update:
    return _status_change(
        "start",
        plan=plan,
        user=user,
        note=_require(note, "Say how work on this plan is starting."),
        expected_version=expected_version,
    )


def _plan_waited_on(plan: ActionPlan, number: ActionPlan | int | None) -> ActionPlan:
    """The plan another waits on, by its number: any plan of the same organisation, or of another
    organisation in the same region (`ActionPlanQuerySet.within_reach_of`). Any other number, whether a
    plan has it or not, gets the same refusal, which names only the waiting plan's organisation and region:
    nothing in it tells whether a plan out of reach exists, nor whose it is."""
    if number in (None, ""):
        raise ValidationError("Give the number of the plan it waits on.", code="waiting_on_plan")
    pk = number.pk if isinstance(number, ActionPlan) else number
    other = ActionPlan.objects.within_reach_of(plan).filter(pk=pk).first()
    if other is None:
        organisation, region = plan.organisation, plan.organisation.region
        reach = (
            f"a plan of {organisation} or of another organisation in {region}"
            if region is not None
            else f"{organisation} is in no region, so its plans may wait only on its own plans"
        )
        raise ValidationError(
            f"That is not the number of a plan this plan may wait on: {reach}.", code="waiting_on_plan"
        )
    if other.pk == plan.pk:
        raise ValidationError("A plan cannot wait on itself.", code="waiting_on_plan")
    if Dependency.objects.current().filter(plan=other, on_plan=plan).exists():
        raise ValidationError(f"Plan {pk} is itself waiting on this plan.", code="waiting_on_plan")
    return other


def _dependency(
    plan: ActionPlan, kind: str, name: str, number: ActionPlan | int | None, since: dt.date | None
) -> tuple[dict[str, object], str]:
    """The checked fields of what a plan waits on, and the words the timeline says it with (which name a
    plan of another organisation only as that, since the timeline's readers may not see it)."""
    if kind not in Dependency.Kind.values:
        raise ValidationError("Choose what the plan is waiting on.", code="waiting_on")
    today = timezone.localdate()
    since = since or today
    if since > today:
        raise _field_error("blocked_since", "A plan cannot be blocked since a day still to come.", "future")
    date_range.check_fields(blocked_since=since, today=today)
    name = (name or "").strip()
    if len(name) > 200:
        raise ValidationError("Name what it waits on in at most 200 characters.", code="waiting_on_name")
    other = None
    if kind == Dependency.Kind.PLAN:
        other = _plan_waited_on(plan, number)
        name = ""  # a plan waited on is named by its number alone, shown only to those who may see it
        words = f"plan {other.pk}" if other.organisation_id == plan.organisation_id else "another organisation's plan"
    elif kind != Dependency.Kind.OTHER and not name:
        raise ValidationError(
            f"Name {Dependency.Kind(kind).label.lower()} the plan is waiting on.", code="waiting_on_name"
        )
    else:
        words = f"{Dependency.Kind(kind).label.lower()}" + (f" ({name})" if name else "")
    fields = {"kind": kind, "name": name, "on_plan": other, "since": since}
    if kind == Dependency.Kind.OTHER and not name and since == today:
        return fields, ""  # the note alone says what it waits on
    return fields, f"Waiting on {words} since {date_format(since, 'j M Y')}."


@transaction.atomic
def mark_blocked(
    *,
    plan: ActionPlan,
    user: User,
    note: str,
    waiting_on: str = Dependency.Kind.OTHER,
    waiting_on_name: str = "",
    waiting_on_plan: ActionPlan | int | None = None,
    blocked_since: dt.date | None = None,
    expected_version: int | None = None,
) -> Update:
    """Blocked, naming what it waits on (a national body, a partner agency or a procurement by name,
    another plan by its number, or something else the note describes) and since when (today unless
    given; not a day to come). The dependency is removed when the plan leaves the blocked state."""
    note = _require(note, "Say what the plan is waiting on.")
    action = ACTIONS["block"]

    def build(locked: ActionPlan) -> Change:
        fields, words = _dependency(locked, waiting_on, waiting_on_name, waiting_on_plan, blocked_since)
        Dependency.objects.update_or_create(
            plan=locked, defaults={**fields, "recorded_by": user, "recorded_at": timezone.now()}
        )
        return Change(kind=action.kind, note=f"{note}\n\n{words}" if words else note, status_to=action.target)

    return _apply(plan=plan, user=user, action=action, build=build, expected_version=expected_version)


@transaction.atomic
def change_dependency(
    *,
    plan: ActionPlan,
    user: User,
    note: str,
    waiting_on: str = Dependency.Kind.OTHER,
    waiting_on_name: str = "",
    waiting_on_plan: ActionPlan | int | None = None,
    blocked_since: dt.date | None = None,
    expected_version: int | None = None,
) -> Update:
    """While the plan stays blocked, change what it waits on (the procurement is now a national body's
    work, say) and since when, by the same rules as `mark_blocked`; what is not given stays as it was
    (the day, and the plan waited on). The note says what changed. A change that changes nothing is
    refused, so the timeline records only real changes."""
    note = _require(note, "Say what has changed about what the plan is waiting on.")
    action = ACTIONS["waiting-on"]

    def build(locked: ActionPlan) -> Change:
        current = Dependency.objects.filter(plan=locked).first()
        since = blocked_since or (current.since if current is not None else None)  # empty: as it was
        number = waiting_on_plan
        if number in (None, "") and waiting_on == Dependency.Kind.PLAN and current is not None and current.on_plan_id:
            number = current.on_plan_id  # still the same plan (whose number its readers may not be shown)
        fields, words = _dependency(locked, waiting_on, waiting_on_name, number, since)
        on_plan = fields["on_plan"]
        given = (fields["kind"], fields["name"], on_plan.pk if on_plan else None, fields["since"])
        if current is not None and (current.kind, current.name, current.on_plan_id, current.since) == given:
            raise ValidationError(
                "That is what the plan already waits on, since the same day: change what it waits on or since when.",
                code="unchanged",
            )
        Dependency.objects.update_or_create(
            plan=locked, defaults={**fields, "recorded_by": user, "recorded_at": timezone.now()}
        )
        words = words or "Waiting on what the note describes."
        return Change(kind=action.kind, note=f"{note}\n\nNow: {words[0].lower()}{words[1:]}")

    return _apply(plan=plan, user=user, action=action, build=build, expected_version=expected_version)


@transaction.atomic
def unblock(*, plan: ActionPlan, user: User, note: str, expected_version: int | None = None) -> Update:
    return _status_change(
        "unblock",
        plan=plan,
        user=user,
        note=_require(note, "Say what has unblocked the plan."),
        expected_version=expected_version,
    )


@transaction.atomic
def submit_for_sign_off(
    *,
    plan: ActionPlan,
    user: User,
    statement: str,
    files: Sequence[UploadedFile] = (),
    open_milestones: str = "",
    measures_met: dict[str, str] | None = None,
    expected_version: int | None = None,
) -> Update:
    """Closure statement plus at least one evidence file (new, or already on the plan). A plan with a
    milestone still open is submitted only with `open_milestones`, the submitter's explanation of why
    it is ready without them, which goes on the timeline with the statement. A plan with success
    measures is submitted only with `measures_met`: how each was met, by the measure's id; each answer
    is kept with its measure (for the sign-off and verification) and goes on the timeline."""
    statement = _require(statement, "Write a closure statement: what was done and how it answers the finding.")
    explanation = (open_milestones or "").strip()
    answers = {str(key): (value or "").strip() for key, value in (measures_met or {}).items()}

    def build(locked: ActionPlan) -> Change:
        note = statement
        still_open = list(locked.milestones.open().values_list("title", flat=True))
        if still_open:
            count = len(still_open)
            names = "; ".join(still_open)
            if not explanation:
                raise ValidationError(
                    f"{count} milestone{'s are' if count != 1 else ' is'} still open ({names}): explain why "
                    f"the plan is ready for sign-off without {'them' if count != 1 else 'it'}.",
                    code="open_milestones",
                )
            note += f"\n\nSubmitted with {count} open milestone{'s' if count != 1 else ''} ({names}): {explanation}"
        note += _measures_met(locked, answers)
        return Change(kind=action.kind, note=note, status_to=action.target, plan_fields={"summary": statement})

    action = ACTIONS["submit"]
    return _apply(
        plan=plan,
        user=user,
        action=action,
        build=build,
        expected_version=expected_version,
        files=files,
        needs_evidence=True,
    )


def _measures_met(locked: ActionPlan, answers: dict[str, str]) -> str:
    """Keep each measure's answer, refusing a submission that leaves one unanswered or names a measure not
    of this plan; the timeline's account of them."""
    measures = list(locked.measures.select_for_update(of=("self",)))
    known = {str(m.pk) for m in measures}
    if set(answers) - known:
        raise ValidationError("An answer names a success measure that is not one of this plan's.", code="measure")
    missing = [m.text for m in measures if not answers.get(str(m.pk))]
    if missing:
        raise ValidationError(
            "Say how each success measure was met: " + "; ".join(f"“{text}”" for text in missing) + ".",
            code="measures_met",
        )
    if not measures:
        return ""
    now = timezone.now()
    lines = []
    for measure in measures:
        measure.how_met = answers[str(measure.pk)]
        measure.updated_at = now
        measure.save(update_fields=["how_met", "updated_at"])
        lines.append(f"• {measure.text}: {measure.how_met}")
    return "\n\nHow the success measures were met:\n" + "\n".join(lines)


# --- success measures (the organisation's managers) -------------------------------------------


def _describe_measure(text: str, target_figure: str, sustain_until: dt.date | None) -> str:
    parts = []
    if target_figure:
        parts.append(f"target {target_figure}")
    if sustain_until:
        parts.append(f"sustained until {date_format(sustain_until, 'j M Y')}")
    return f"“{text}”" + (f" ({', '.join(parts)})" if parts else "")


def _measure_text(text: str) -> str:
    text = _require(text, "Say what the measure is.")
    if len(text) > 500:
        raise ValidationError("A success measure is at most 500 characters.", code="text")
    return text


def _target_figure(target_figure: str) -> str:
    target_figure = (target_figure or "").strip()
    if len(target_figure) > 100:
        raise ValidationError("A target figure is at most 100 characters.", code="target_figure")
    return target_figure


def _day_or_none(day: dt.date | None) -> str:
    return date_format(day, "j M Y") if day else "none"


def _locked_measure(locked: ActionPlan, measure: SuccessMeasure | int) -> SuccessMeasure:
    pk = measure.pk if isinstance(measure, SuccessMeasure) else measure
    found = locked.measures.select_for_update(of=("self",)).filter(pk=pk).first()
    if found is None:
        raise ValidationError("That success measure is not one of this plan's.", code="measure")
    return found


@transaction.atomic
def add_measure(
    *,
    plan: ActionPlan,
    user: User,
    text: str,
    target_figure: str = "",
    sustain_until: dt.date | None = None,
    expected_version: int | None = None,
) -> Update:
    """A success measure at the end of the plan's list."""
    text, target_figure = _measure_text(text), _target_figure(target_figure)
    date_range.check_fields(sustain_until=sustain_until)
    action = ACTIONS["measure-add"]

    def build(locked: ActionPlan) -> Change:
        _expect(locked, ACTIONS["measure-add"])
        last = locked.measures.order_by("-position").values_list("position", flat=True).first()
        SuccessMeasure.objects.create(
            plan=locked, text=text, target_figure=target_figure, sustain_until=sustain_until, position=(last or 0) + 1
        )
        described = _describe_measure(text, target_figure, sustain_until)
        return Change(kind=action.kind, note=f"Success measure added: {described}.")

    return _apply(plan=plan, user=user, action=action, build=build, expected_version=expected_version)


@transaction.atomic
def edit_measure(
    *,
    plan: ActionPlan,
    user: User,
    measure: SuccessMeasure | int,
    text: str | Keep = KEEP,
    target_figure: str | Keep = KEEP,
    sustain_until: dt.date | None | Keep = KEEP,
    expected_version: int | None = None,
) -> Update:
    """Change a measure's wording, target figure or sustain-until date. A field not given (`KEEP`) stays as
    it was; an empty target figure or no date clears it. The timeline names each change, and only those."""
    if text is not KEEP:
        text = _measure_text(text)
    if target_figure is not KEEP:
        target_figure = _target_figure(target_figure)
    if sustain_until is not KEEP:
        date_range.check_fields(sustain_until=sustain_until)
    action = ACTIONS["measure-edit"]

    def build(locked: ActionPlan) -> Change:
        _expect(locked, ACTIONS["measure-edit"])
        row = _locked_measure(locked, measure)
        new_text = _kept(text, row.text)
        new_figure = _kept(target_figure, row.target_figure)
        new_until = _kept(sustain_until, row.sustain_until)
        changes = []
        if row.text != new_text:
            changes.append(f"wording “{row.text}” → “{new_text}”")
        if row.target_figure != new_figure:
            changes.append(f"target {row.target_figure or 'none'} → {new_figure or 'none'}")
        if row.sustain_until != new_until:
            changes.append(f"sustained until {_day_or_none(row.sustain_until)} → {_day_or_none(new_until)}")
        if not changes:
            raise ValidationError("Nothing about the success measure has changed.", code="unchanged")
        row.text, row.target_figure, row.sustain_until = new_text, new_figure, new_until
        row.updated_at = timezone.now()
        row.save()
        return Change(kind=action.kind, note=f"Success measure “{new_text}” changed: {'; '.join(changes)}.")

    return _apply(plan=plan, user=user, action=action, build=build, expected_version=expected_version)


@transaction.atomic
def remove_measure(
    *, plan: ActionPlan, user: User, measure: SuccessMeasure | int, reason: str, expected_version: int | None = None
) -> Update:
    """A measure that no longer says what success is: removed, with the reason on the timeline."""
    reason = _require(reason, "Say why the success measure is removed.")
    action = ACTIONS["measure-remove"]

    def build(locked: ActionPlan) -> Change:
        _expect(locked, ACTIONS["measure-remove"])
        row = _locked_measure(locked, measure)
        described = _describe_measure(row.text, row.target_figure, row.sustain_until)
        row.delete()
        return Change(kind=action.kind, note=f"Success measure removed: {described}. {reason}")

    return _apply(plan=plan, user=user, action=action, build=build, expected_version=expected_version)


# --- milestones (staff and managers of the organisation) --------------------------------------


def _check_milestone_owner(plan: ActionPlan, owner: User | None) -> None:
    if owner is not None and not plan.may_be_owned_by(owner):
        raise ValidationError("A milestone's owner must be an active member of the plan's organisation.", code="owner")


def _milestone_figures(locked: ActionPlan) -> dict[str, object]:
    """The plan's percentage and next milestone date, from its milestones as they are now (after the
    change, inside the same transaction)."""
    rows = list(locked.milestones.values_list("done_on", "target_date"))
    if not rows:
        return {"next_milestone_date": None}
    done = sum(1 for done_on, _ in rows if done_on is not None)
    dates = [target for done_on, target in rows if done_on is None and target is not None]
    return {"percent": done * 100 // len(rows), "next_milestone_date": min(dates, default=None)}


def _milestone_change(locked: ActionPlan, note: str) -> Change:
    figures = _milestone_figures(locked)
    percent = figures.pop("percent", None)
    return Change(kind=Update.Kind.MILESTONE, note=note, percent=percent, plan_fields=figures)  # type: ignore[arg-type]


def _describe(milestone: Milestone) -> str:
    parts = []
    if milestone.owner_id:
        parts.append(f"owner {milestone.owner}")
    if milestone.target_date:
        parts.append(f"due {date_format(milestone.target_date, 'j M Y')}")
    return f"“{milestone.title}”" + (f" ({', '.join(parts)})" if parts else "")


def _owner_words(before: User | None, after: User | None) -> str:
    """A change of a milestone's owner, as the timeline says it."""
    return f"owner {before or 'nobody'} → {after or 'nobody'}"


def _locked_milestone(locked: ActionPlan, milestone: Milestone | int) -> Milestone:
    pk = milestone.pk if isinstance(milestone, Milestone) else milestone
    found = locked.milestones.select_for_update(of=("self",)).select_related("owner").filter(pk=pk).first()
    if found is None:
        raise ValidationError("That milestone is not one of this plan's.", code="milestone")
    return found


def _milestone_text(title: str) -> str:
    title = _require(title, "Give the milestone a title.")
    if len(title) > 200:
        raise ValidationError("A milestone's title is at most 200 characters.", code="title")
    return title


@transaction.atomic
def add_milestone(
    *,
    plan: ActionPlan,
    user: User,
    title: str,
    owner: User | None = None,
    target_date: dt.date | None = None,
    note: str = "",
    expected_version: int | None = None,
) -> Update:
    """A new milestone at the end of the plan's list. From then on the plan's percentage is derived."""
    title = _milestone_text(title)
    _check_milestone_owner(plan, owner)
    date_range.check_fields(target_date=target_date)

    def build(locked: ActionPlan) -> Change:
        last = locked.milestones.order_by("-position").values_list("position", flat=True).first()
        milestone = Milestone.objects.create(
            plan=locked, title=title, owner=owner, target_date=target_date, note=(note or "").strip(),
            position=(last or 0) + 1,
        )  # fmt: skip
        return _milestone_change(locked, f"Milestone added: {_describe(milestone)}.")

    return _apply(plan=plan, user=user, action=ACTIONS["milestone-add"], build=build,
                  expected_version=expected_version)  # fmt: skip


@transaction.atomic
def edit_milestone(
    *,
    plan: ActionPlan,
    user: User,
    milestone: Milestone | int,
    title: str | Keep = KEEP,
    owner: User | None | Keep = KEEP,
    target_date: dt.date | None | Keep = KEEP,
    note: str | Keep = KEEP,
    expected_version: int | None = None,
) -> Update:
    """Change a milestone's title, owner, date or note. A field not given (`KEEP`) stays as it was; no owner,
    no date or an empty note clears it. The timeline names each change, and only those."""
    if title is not KEEP:
        title = _milestone_text(title)
    if owner is not KEEP:
        _check_milestone_owner(plan, owner)
    if note is not KEEP:
        note = (note or "").strip()
    if target_date is not KEEP:
        date_range.check_fields(target_date=target_date)

    def build(locked: ActionPlan) -> Change:
        row = _locked_milestone(locked, milestone)
        new_title = _kept(title, row.title)
        new_owner = _kept(owner, row.owner)
        new_date = _kept(target_date, row.target_date)
        new_note = _kept(note, row.note)
        changes = []
        if row.title != new_title:
            changes.append(f"title “{row.title}” → “{new_title}”")
        if row.owner_id != (new_owner.pk if new_owner else None):
            changes.append(_owner_words(row.owner, new_owner))
        if row.target_date != new_date:
            changes.append(f"date {_day_or_none(row.target_date)} → {_day_or_none(new_date)}")
        if row.note != new_note:
            changes.append("note changed")
        if not changes:
            raise ValidationError("Nothing about the milestone has changed.", code="unchanged")
        row.title, row.owner, row.target_date, row.note = new_title, new_owner, new_date, new_note
        row.updated_at = timezone.now()
        row.save()
        return _milestone_change(locked, f"Milestone “{new_title}” changed: {'; '.join(changes)}.")

    return _apply(plan=plan, user=user, action=ACTIONS["milestone-edit"], build=build,
                  expected_version=expected_version)  # fmt: skip


@transaction.atomic
def complete_milestone(
    *,
    plan: ActionPlan,
    user: User,
    milestone: Milestone | int,
    done_on: dt.date | None = None,
    note: str = "",
    expected_version: int | None = None,
) -> Update:
    """Mark a milestone done (today, or the day it was done: not in the future)."""
    today = timezone.localdate()
    done_on = done_on or today
    if done_on > today:
        raise _field_error("done_on", "A milestone cannot be done on a day still to come.", "future")
    date_range.check_fields(done_on=done_on, today=today)

    def build(locked: ActionPlan) -> Change:
        row = _locked_milestone(locked, milestone)
        if row.done_on is not None:
            raise ValidationError(f"“{row.title}” is already done.", code="unchanged")
        row.done_on = done_on
        row.updated_at = timezone.now()
        row.save(update_fields=["done_on", "updated_at"])
        text = (
            f"Milestone done: “{row.title}”"
            + (f" on {date_format(done_on, 'j M Y')}" if done_on != today else "")
            + "."
        )
        if note.strip():
            text += f" {note.strip()}"
        return _milestone_change(locked, text)

    return _apply(plan=plan, user=user, action=ACTIONS["milestone-complete"], build=build,
                  expected_version=expected_version)  # fmt: skip


@transaction.atomic
def reopen_milestone(
    *, plan: ActionPlan, user: User, milestone: Milestone | int, reason: str, expected_version: int | None = None
) -> Update:
    """A milestone marked done that is not: open again, with the reason."""
    reason = _require(reason, "Say why the milestone is open again.")

    def build(locked: ActionPlan) -> Change:
        row = _locked_milestone(locked, milestone)
        if row.done_on is None:
            raise ValidationError(f"“{row.title}” is not done.", code="unchanged")
        row.done_on = None
        row.updated_at = timezone.now()
        row.save(update_fields=["done_on", "updated_at"])
        return _milestone_change(locked, f"Milestone reopened: “{row.title}”. {reason}")

    return _apply(plan=plan, user=user, action=ACTIONS["milestone-reopen"], build=build,
                  expected_version=expected_version)  # fmt: skip


@transaction.atomic
def move_milestone(
    *, plan: ActionPlan, user: User, milestone: Milestone | int, direction: str, expected_version: int | None = None
) -> Update:
    """Move a milestone one place up or down the plan's list."""
    if direction not in ("up", "down"):
        raise ValidationError("Move a milestone up or down.", code="direction")

    def build(locked: ActionPlan) -> Change:
        row = _locked_milestone(locked, milestone)
        order = list(locked.milestones.select_for_update().order_by("position", "pk"))
        index = next(i for i, m in enumerate(order) if m.pk == row.pk)
        other = index - 1 if direction == "up" else index + 1
        if not 0 <= other < len(order):
            raise ValidationError(
                f"“{row.title}” is already {'first' if direction == 'up' else 'last'}.", code="unchanged"
            )
        order[index], order[other] = order[other], order[index]
        for position, item in enumerate(order, start=1):
            if item.position != position:
                item.position = position
                item.save(update_fields=["position"])
        return _milestone_change(locked, f"Milestone “{row.title}” moved {direction} to number {other + 1}.")

    return _apply(plan=plan, user=user, action=ACTIONS["milestone-move"], build=build,
                  expected_version=expected_version)  # fmt: skip


@transaction.atomic
def import_milestones(*, plan: ActionPlan, user: User, changes: Sequence[Any], source: str = "") -> Update:
    """Milestones added or changed by a findings import (`tracker.imports.milestones.MilestoneChange`:
    title, owner id, target date, done date, note, and the id of the milestone it changes, if any), by an
    administrator: the plan locked and versioned like any milestone change, one timeline entry naming
    the file and every milestone."""

    def build(locked: ActionPlan) -> Change:
        _expect(locked, ACTIONS["milestone-add"])
        last = locked.milestones.order_by("-position").values_list("position", flat=True).first() or 0
        added, changed = [], []
        for item in changes:
            fields = {"title": item.title, "owner_id": item.owner, "target_date": item.target_date,
                      "done_on": item.done_on, "note": item.note}  # fmt: skip
            if item.existing is None:
                last += 1
                Milestone.objects.create(plan=locked, position=last, **fields)
                added.append(f"“{item.title}”")
            else:
                row = _locked_milestone(locked, item.existing)
                for name, value in {**fields, "updated_at": timezone.now()}.items():
                    setattr(row, name, value)
                row.save()
                changed.append(f"“{item.title}” ({', '.join(item.changes)})")
        parts = [f"{verb} {'; '.join(names)}" for verb, names in (("added", added), ("changed", changed)) if names]
        return _milestone_change(locked, f"Milestones imported from {source or 'a file'}: {'; '.join(parts)}.")

    return _apply(plan=plan, user=user, action=None, allowed=lambda u, _p: permissions.can_import(u), build=build,
                  expected_version=None)  # fmt: skip


@transaction.atomic
def release_milestones(*, plan: ActionPlan, user: User, owner: User, note: str) -> list[Update]:
    """Take the plan's open milestones from `owner`, who left the plan's organisation or was deactivated
    (`tracker.people`), as `release_owner` takes the plan: each has no owner until someone of the
    organisation gives it one, with its own timeline entry, as any change of a milestone's owner has.
    No role check, for the reason `release_owner` gives. A milestone done keeps its owner: it records who
    did it. Returns the entries (none if `owner` has no open milestone in the plan)."""
    # The plan locked first, as every change of its milestones locks it: none of them changes meanwhile.
    locked = _lock(plan, None)
    updates = []
    for row in locked.milestones.open().filter(owner=owner).order_by("position", "pk"):

        def build(locked: ActionPlan, row: Milestone = row) -> Change:
            text = f"Milestone “{row.title}” changed: {_owner_words(owner, None)}. {note}".rstrip()
            row.owner = None
            row.updated_at = timezone.now()
            row.save(update_fields=["owner", "updated_at"])
            return _milestone_change(locked, text)

        updates.append(_apply(plan=plan, user=user, action=None, allowed=_anyone, build=build, expected_version=None))
    return updates


# --- managers --------------------------------------------------------------------------------


@transaction.atomic
def sign_off(*, plan: ActionPlan, user: User, comment: str, expected_version: int | None = None) -> Update:
    return _status_change(
        "sign-off",
        plan=plan,
        user=user,
        percent=100,
        note=_require(comment, "Add a comment recording the sign-off."),
        expected_version=expected_version,
    )


@transaction.atomic
def return_submission(*, plan: ActionPlan, user: User, comment: str, expected_version: int | None = None) -> Update:
    return _status_change(
        "return",
        plan=plan,
        user=user,
        note=_require(comment, "Say why the submission is being returned."),
        expected_version=expected_version,
    )


def check_new_target_date(target_date: dt.date, today: dt.date | None = None) -> None:
    """A new target date is today or later (DESIGN section 4), and within the dates the tracker accepts
    (`tracker.date_range`): the one rule the form, bulk changes, the API and `change_target_date` all apply."""
    today = today or timezone.localdate()
    if target_date < today:
        raise ValidationError(
            f"The new target date cannot be before today ({date_format(today, 'j M Y')}): "
            "choose today or a later date.",
            code="past",
        )
    date_range.check(target_date, today)


class TargetDateMove:
    """What a change of target date is: a deferral (later than any date agreed before), brought forward
    (earlier than the current date), or back to a later date already agreed (neither)."""

    DEFERRED = "deferred"
    BROUGHT_FORWARD = "brought forward"
    RESTORED = "moved back to a date agreed before"


def classify_date_move(*, current: dt.date | None, new: dt.date, furthest: dt.date | None) -> str:
    if current is not None and new < current:
        return TargetDateMove.BROUGHT_FORWARD
    if current is not None and furthest is not None and new <= furthest:
        return TargetDateMove.RESTORED
    return TargetDateMove.DEFERRED if current is not None else ""


@transaction.atomic
def change_target_date(
    *, plan: ActionPlan, user: User, target_date: dt.date | None, reason: str, expected_version: int | None = None
) -> Update:
    """Managers only, with a reason, to today or later. The original date never changes. A date later
    than any agreed before counts as a deferral; an earlier one as brought forward; a return to a date
    already agreed as neither."""
    reason = _require(reason, "Give the reason for changing the target date.")
    if target_date is None:
        raise ValidationError("Choose the new target date.", code="required")
    check_new_target_date(target_date)

    def build(locked: ActionPlan) -> Change:
        if target_date == locked.target_date:
            raise ValidationError("The new target date is the same as the current one.", code="unchanged")
        fields: dict[str, object] = {}
        if locked.original_target_date is None:
            fields["original_target_date"] = locked.target_date or target_date
        agreed = [d for d in locked.updates.values_list("target_date_to", flat=True) if d]
        agreed += [d for d in (locked.original_target_date, locked.target_date) if d]
        move = classify_date_move(current=locked.target_date, new=target_date, furthest=max(agreed, default=None))
        if move == TargetDateMove.DEFERRED:
            fields["deferral_count"] = locked.deferral_count + 1
        return Change(kind=action.kind, note=reason, target_date_to=target_date, plan_fields=fields)

    action = ACTIONS["target-date"]
    return _apply(plan=plan, user=user, action=action, build=build, expected_version=expected_version)


@transaction.atomic
def assign_owner(
    *, plan: ActionPlan, user: User, owner: User | None, note: str = "", expected_version: int | None = None
) -> Update:
    """Managers give a plan to a person of the same organisation (or to nobody)."""
    if owner is not None and not plan.may_be_owned_by(owner):
        raise ValidationError("The owner must be an active member of the plan's organisation.", code="owner")

    def build(locked: ActionPlan) -> Change:
        if (owner.pk if owner else None) == locked.owner_id:
            raise ValidationError(f"{owner or 'Nobody'} already owns this plan.", code="unchanged")
        text = f"Owner set to {owner}." if owner else "Owner removed."
        if note.strip():
            text += f" {note.strip()}"
        return Change(kind=action.kind, note=text, plan_fields={"owner": owner})

    action = ACTIONS["owner"]
    return _apply(plan=plan, user=user, action=action, build=build, expected_version=expected_version)


@transaction.atomic
def release_owner(*, plan: ActionPlan, user: User, note: str) -> Update:
    """Take a plan from an owner who left its organisation or was deactivated (`tracker.people`).

    The plan has no owner until a manager assigns one. No role check: `user` (who changed the person's
    membership, or the person) is not acting on the plan; the membership change is the decision and
    this is its consequence, recorded on the timeline like any other change of owner.
    """

    def build(locked: ActionPlan) -> Change:
        return Change(kind=Update.Kind.OWNER, note=note, plan_fields={"owner": None})

    return _apply(plan=plan, user=user, action=None, allowed=_anyone, build=build, expected_version=None)


def _anyone(user: User, plan: ActionPlan) -> bool:
    return True


@transaction.atomic
def edit_response(*, plan: ActionPlan, user: User, summary: str, expected_version: int | None = None) -> Update:
    """Administrators correct a plan's response (the closure statement submitted for sign-off) in the admin.

    The new text goes on the timeline, so what was submitted and what it became can both be read there.
    """
    summary = summary.strip()

    def build(locked: ActionPlan) -> Change:
        if summary == locked.summary.strip():
            raise ValidationError("The response is unchanged.", code="unchanged")
        note = f"Response changed to: {summary}" if summary else "Response cleared."
        return Change(kind=Update.Kind.RESPONSE, note=note, plan_fields={"summary": summary})

    return _apply(
        plan=plan,
        user=user,
        action=None,
        allowed=permissions.can_edit_response,
        build=build,
        expected_version=expected_version,
    )


# --- inspectors ------------------------------------------------------------------------------


# Closing as verified is final (a closed plan is never reopened): the inspector confirms it, on the plan
# page (forms.CloseForm) and in bulk (forms.BulkForm, and tracker.bulk refuses an unconfirmed bulk close).
CLOSE_NOT_CONFIRMED = "Tick to confirm: closing as verified cannot be undone."


@transaction.atomic
def close(*, plan: ActionPlan, user: User, comment: str, expected_version: int | None = None) -> Update:
    """Verify a signed-off plan as complete: not while a success measure's demonstration period runs (a
    measure to be sustained until a day still to come)."""
    note = _require(comment, "Add a comment recording the verification.")
    action = ACTIONS["close"]

    def build(locked: ActionPlan) -> Change:
        _expect(locked, ACTIONS["close"])
        sustaining = list(locked.measures.sustaining())
        if sustaining:
            raise ValidationError(sustaining_message(sustaining), code="sustaining")
        return Change(kind=action.kind, note=note, status_to=action.target)

    return _apply(plan=plan, user=user, action=action, build=build, expected_version=expected_version)


def sustaining_message(measures: Sequence[SuccessMeasure]) -> str:
    """Why a plan cannot yet be verified as closed: its measures still in their demonstration period."""
    last = max(m.sustain_until for m in measures if m.sustain_until)
    named = "; ".join(f"“{m.text}” until {date_format(m.sustain_until, 'j M Y')}" for m in measures)
    return (
        f"This plan cannot be verified as closed before {date_format(last, 'j M Y')}: its success measures must "
        f"be sustained ({named})."
    )


@transaction.atomic
def reopen(*, plan: ActionPlan, user: User, comment: str, expected_version: int | None = None) -> Update:
    return _status_change(
        "reopen",
        plan=plan,
        user=user,
        note=_require(comment, "Say why the plan is being reopened."),
        expected_version=expected_version,
    )


@transaction.atomic
def supersede(
    *,
    plan: ActionPlan,
    user: User,
    superseding_finding: Finding | None,
    comment: str = "",
    expected_version: int | None = None,
) -> Update:
    if superseding_finding is None:
        raise ValidationError("Choose the finding that supersedes this one.", code="required")
    if superseding_finding.pk == plan.finding_id:
        raise ValidationError("A finding cannot supersede itself.", code="invalid")
    note = f"Superseded by {superseding_finding.inspection.title} {superseding_finding.reference}."
    if comment.strip():
        note += f" {comment.strip()}"
    return _status_change(
        "supersede",
        plan=plan,
        user=user,
        note=note,
        plan_fields={"superseded_by": superseding_finding},
        expected_version=expected_version,
    )


@transaction.atomic
def no_further_action(*, plan: ActionPlan, user: User, comment: str, expected_version: int | None = None) -> Update:
    return _status_change(
        "no-further-action",
        plan=plan,
        user=user,
        note=_require(comment, "Say why no further action is needed."),
        expected_version=expected_version,
    )


# --- a proposal of no action ---------------------------------------------------------------------


def _open_proposal(locked: ActionPlan) -> NoActionProposal:
    proposal = locked.no_action_proposals.select_for_update(of=("self",)).filter(outcome="").first()
    if proposal is None:
        raise ValidationError("This plan has no proposal of no action awaiting a decision.", code="proposal")
    return proposal


@transaction.atomic
def propose_no_action(
    *, plan: ActionPlan, user: User, reason: str, risk: str, expected_version: int | None = None
) -> Update:
    """Staff or managers propose that no action be taken, saying why and what risk that leaves. The plan
    stays with the force until its manager accepts the risk and the inspectorate decides."""
    reason = _require(reason, "Say why no action is to be taken.")
    risk = _require(risk, "Say what risk taking no action leaves.")
    action = ACTIONS["propose-no-action"]

    def build(locked: ActionPlan) -> Change:
        _expect(locked, ACTIONS["propose-no-action"])
        NoActionProposal.objects.create(plan=locked, reason=reason, risk=risk, proposed_by=user)
        return Change(kind=action.kind, note=f"No action proposed. Why: {reason}\nRisk it leaves: {risk}",
                      status_to=action.target)  # fmt: skip

    return _apply(plan=plan, user=user, action=action, build=build, expected_version=expected_version)


@transaction.atomic
def accept_no_action_risk(
    *, plan: ActionPlan, user: User, comment: str, expected_version: int | None = None
) -> Update:
    """The organisation's manager accepts the risk that no action leaves: named and dated on the proposal,
    which then awaits the inspectorate."""
    comment = _require(comment, "Say why the organisation accepts this risk.")
    action = ACTIONS["accept-risk"]

    def build(locked: ActionPlan) -> Change:
        _expect(locked, ACTIONS["accept-risk"])
        proposal = _open_proposal(locked)
        proposal.accepted_by = user
        proposal.accepted_on = timezone.localdate()
        proposal.save(update_fields=["accepted_by", "accepted_on"])
        when = date_format(proposal.accepted_on, "j M Y")
        return Change(kind=action.kind, note=f"Risk accepted by {user} on {when}: {comment}", status_to=action.target)

    return _apply(plan=plan, user=user, action=action, build=build, expected_version=expected_version)


def _decide(slug: str, outcome: str, *, plan: ActionPlan, user: User, comment: str, expected_version: int | None,
            prefix: str) -> Update:  # fmt: skip
    action = ACTIONS[slug]

    def build(locked: ActionPlan) -> Change:
        _expect(locked, action)
        proposal = _open_proposal(locked)
        proposal.outcome, proposal.decided_by, proposal.decided_at = outcome, user, timezone.now()
        proposal.decision_note = comment
        proposal.save(update_fields=["outcome", "decided_by", "decided_at", "decision_note"])
        return Change(kind=action.kind, note=f"{prefix} {comment}", status_to=action.target)

    return _apply(plan=plan, user=user, action=action, build=build, expected_version=expected_version)


@transaction.atomic
def decline_no_action(*, plan: ActionPlan, user: User, comment: str, expected_version: int | None = None) -> Update:
    """The organisation's manager does not accept the risk: the plan is in progress again."""
    comment = _require(comment, "Say why the proposal is declined.")
    return _decide("decline-no-action", NoActionProposal.Outcome.DECLINED, plan=plan, user=user, comment=comment,
                   expected_version=expected_version, prefix="Proposal of no action declined:")  # fmt: skip


@transaction.atomic
def agree_no_action(*, plan: ActionPlan, user: User, comment: str, expected_version: int | None = None) -> Update:
    """The inspectorate agrees to a proposal whose risk the force accepted: no further action."""
    comment = _require(comment, "Add a comment recording the decision.")
    return _decide("agree-no-action", NoActionProposal.Outcome.AGREED, plan=plan, user=user, comment=comment,
                   expected_version=expected_version, prefix="Proposal of no action agreed:")  # fmt: skip


@transaction.atomic
def send_back_no_action(*, plan: ActionPlan, user: User, comment: str, expected_version: int | None = None) -> Update:
    """The inspectorate does not agree: action is still needed, and the plan is in progress again."""
    comment = _require(comment, "Say why action is still needed.")
    return _decide("send-back-no-action", NoActionProposal.Outcome.SENT_BACK, plan=plan, user=user,
                   comment=comment, expected_version=expected_version,
                   prefix="Proposal of no action sent back:")  # fmt: skip


# --- anyone who can see the plan -------------------------------------------------------------


@transaction.atomic
def add_comment(*, plan: ActionPlan, user: User, note: str) -> Update:
    """Discussion does not change the plan, so it takes no version: comments never conflict."""
    note = _require(note, "Write a comment.")
    action = ACTIONS["comments"]
    if not action.allowed(user, plan):
        raise PermissionDenied
    update = Update.objects.create(plan=plan, author=user, kind=action.kind, note=note)
    ActionPlan.objects.filter(pk=plan.pk).update(updated_at=update.created_at)
    return update


# --- publishing ------------------------------------------------------------------------------


# Plans opened per statement: a statement of 500 writes about 1 MB of log, which the import syncs after it
# (tracker/logsync.py); all of an inspection's in one wrote several.
PUBLISH_BATCH = 500


@transaction.atomic
def publish_inspection(*, inspection: Inspection) -> int:
    """Open a plan for every (finding, addressee) that has none. Idempotent; returns how many opened.

    The plans are written by the database from the addressees (`INSERT ... SELECT`), about PUBLISH_BATCH
    to a statement, so that publishing an inspection of thousands of findings builds no plan in Python
    (an import's 30,000 plans as objects cost it 1.9 s of its 7.7 s of processor time: docs/BENCHMARKS.md)."""
    through = Finding.addressed_to.through
    missing = (
        through.objects.filter(finding__inspection=inspection)
        .exclude(
            Exists(
                ActionPlan.objects.filter(
                    finding_id=OuterRef("finding_id"), organisation_id=OuterRef("organisation_id")
                )
            )
        )
        .order_by("finding_id")
        .values_list("finding_id", "organisation_id")
    )
    pairs = list(missing)
    opened = sum(_open_plans(inspection.pk, first, last) for first, last in _finding_ranges(pairs, PUBLISH_BATCH))
    if opened:
        freshness.changed(*{organisation_id for _, organisation_id in pairs})  # no signals for these rows
    return opened


def _finding_ranges(pairs: Sequence[tuple[int, int]], size: int) -> list[tuple[int, int]]:
    """(first, last) finding ids, each range holding about `size` of `pairs` (sorted by finding) and never
    splitting one finding's."""
    ranges: list[tuple[int, int]] = []
    start = 0
    while start < len(pairs):
        end = min(start + size, len(pairs)) - 1
        while end + 1 < len(pairs) and pairs[end + 1][0] == pairs[end][0]:
            end += 1
        ranges.append((pairs[start][0], pairs[end][0]))
        start = end + 1
    return ranges


def _open_plans(inspection_id: int, first: int, last: int) -> int:
    """One statement: a new plan for each addressee without one, of the inspection's findings with ids from
    `first` to `last`, with every field's default as a new ActionPlan has it. Returns how many."""
    blank = ActionPlan()
    columns, values, params = [], [], []
    from_addressee = {"finding_id": "a.finding_id", "organisation_id": "a.organisation_id",
                      "target_date": "f.due_by", "original_target_date": "f.due_by"}  # fmt: skip
    for model_field in ActionPlan._meta.concrete_fields:
        if model_field.primary_key or model_field.generated:
            continue
        columns.append(connection.ops.quote_name(model_field.column))
        if model_field.attname in from_addressee:
            values.append(from_addressee[model_field.attname])
        else:
            values.append("%s")
            params.append(model_field.get_db_prep_save(model_field.pre_save(blank, add=True), connection))
    plans = connection.ops.quote_name(ActionPlan._meta.db_table)
    sql = (
        f"INSERT INTO {plans} ({', '.join(columns)}) SELECT {', '.join(values)} "
        f"FROM {Finding.addressed_to.through._meta.db_table} a JOIN {Finding._meta.db_table} f ON f.id = a.finding_id "
        "WHERE f.inspection_id = %s AND a.finding_id BETWEEN %s AND %s AND NOT EXISTS "
        f"(SELECT 1 FROM {plans} p WHERE p.finding_id = a.finding_id AND p.organisation_id = a.organisation_id) "
        "ORDER BY a.finding_id, a.organisation_id ON CONFLICT DO NOTHING"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, inspection_id, first, last])
        return cursor.rowcount
