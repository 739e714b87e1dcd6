"""What may be done to an action plan: one entry per action, the single source of its facts.

Everything that offers or performs an action is derived from these entries: the workflow's transition
table (`TRANSITIONS`) and each workflow function's role and state checks (`tracker.workflow`), the plan
page's forms and buttons (`tracker.views`), the API's endpoints and their schema (`tracker.api.views`),
the bulk actions on /plans/ (`tracker.forms.BulkForm`, `tracker.bulk`) and the load generator's
timelines. A new action is one entry here plus the workflow function it names; a test checks that each
entry reaches every one of those places.

To add an action: write its workflow function in `tracker.workflow` (a plain change of status is
`_status_change(slug, ...)`, which takes the role check, sources, target and kind from the entry); if it
takes fields no existing form or serializer has, add a `forms.PlanForm` and a serializer whose fields are
named as the function's arguments; then add its entry below. The plan page offers it, the API serves
`POST plans/<id>/<slug>/` with its schema and lists it in a plan's `actions`, bulk offers it when it has a
`bulk` name, and the load data can reach its target status.

The workflow function, the page form and the API serializer are named, not imported (as Django names
models in `ForeignKey("app.Model")`): the workflow reads its checks from this module, so this module
sits below the workflow, the forms and the API it describes. `tests/tracker/test_actions.py` resolves
every name.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from importlib import import_module
from typing import TYPE_CHECKING, Any

from . import permissions
from .models import ActionPlan, Update

if TYPE_CHECKING:
    from django.forms import Form
    from rest_framework.serializers import Serializer

    from .models import User

S = ActionPlan.Status
K = Update.Kind
OPEN = ActionPlan.OPEN_STATUSES
EVERY_STATUS = tuple(S)
# Milestones and success measures are planned and worked on while the plan is with its owner; a submitted
# plan is under review.
MILESTONE_STATES = (S.NOT_STARTED, S.IN_PROGRESS, S.BLOCKED)
# The inspectorate's own route to no further action: from any open status but a proposal whose risk the
# force has accepted, which has its decision of its own (agree or send back).
DIRECT_NFA = tuple(status for status in OPEN if status != S.NO_ACTION_ACCEPTED)


@dataclass(frozen=True)
class Action:
    slug: str  # the page's URL segment and form prefix; the API's endpoint (`POST plans/<id>/<slug>/`)
    label: str  # the page's heading for the form; the bulk fieldset's legend
    doing: str  # for refusals: "<doing> is not possible while the plan is ..."
    sources: tuple[str, ...]  # statuses it may start from
    target: str | None  # status it leads to (None: the status stays as it is)
    kind: str  # the kind of timeline entry it writes (Update.Kind)
    allowed: Callable[[User, ActionPlan], bool]  # who may: a function of tracker.permissions
    run: str  # the workflow function (tracker.workflow.<run>), called with the form's or serializer's fields
    form: str = ""  # tracker.forms.<form> on the plan page ("": not on the page)
    button: str = ""  # the page form's button
    success: str = ""  # the page's message once done
    style: str = "primary"  # the button's Bootstrap colour
    serializer: str = ""  # tracker.api.serializers.<serializer>, the API's request body ("": not in the API)
    summary: str = ""  # the API operation's summary
    description: str = ""  # the API operation's description
    api_list: str = ""  # the plan's list a POST adds to (`updates`, `evidence`, `comments`): 201 at that path
    bulk: str = ""  # its name in the /plans/ bulk chooser ("": not offered in bulk)
    # What it acts on inside the plan ("milestone": its form and serializer name one of the plan's
    # milestones, and the page offers it beside each milestone rather than among the plan's forms).
    item: str = ""
    # Beyond status and role, whether the plan has anything for it to act on (a milestone still open to
    # complete, say); reads the plan's milestones, prefetched where plans are shown one at a time.
    offered: Callable[[ActionPlan], bool] | None = None

    @cached_property
    def perform(self) -> Callable[..., Update]:
        return getattr(import_module("tracker.workflow"), self.run)

    @cached_property
    def form_class(self) -> type[Form] | None:
        return getattr(import_module("tracker.forms"), self.form) if self.form else None

    @cached_property
    def serializer_class(self) -> type[Serializer] | None:
        return getattr(import_module("tracker.api.serializers"), self.serializer) if self.serializer else None

    @property
    def api_path(self) -> str:
        return self.api_list or self.slug

    def call(self, *, plan: ActionPlan, user: User, data: dict[str, Any]) -> Update:
        """Run the workflow function with a form's or serializer's cleaned fields, named as its keyword
        arguments; the plan's `version` is its `expected_version`. Fields it does not take (a form's
        `confirm` tick box) are the form's own checks."""
        taken = inspect.signature(self.perform).parameters
        kwargs = {name: value for name, value in data.items() if name in taken}
        if "version" in data and "expected_version" in taken:
            kwargs["expected_version"] = data["version"]
        return self.perform(plan=plan, user=user, **kwargs)

    def may(self, user: User, plan: ActionPlan) -> bool:
        """Offered to `user` on `plan` now: the plan is in a source status and the role allows it."""
        return (
            plan.status in self.sources and self.allowed(user, plan) and (self.offered is None or self.offered(plan))
        )


ACTIONS: dict[str, Action] = {
    action.slug: action
    for action in (
        # --- staff and managers of the organisation ---
        Action(
            "start", "Start work", "Starting", (S.NOT_STARTED,), S.IN_PROGRESS, K.STATUS,
            permissions.can_record_progress, "start",
            serializer="NoteInput", summary="Start work (not started to in progress)",
        ),
        Action(
            "progress", "Add progress", "Adding progress", (S.NOT_STARTED, S.IN_PROGRESS, S.BLOCKED), None, K.PROGRESS,
            permissions.can_record_progress, "record_progress",
            form="ProgressForm", button="Save progress", success="Progress recorded.",
            serializer="ProgressUploadInput", summary="Record progress", api_list="updates",
            description="A progress note, optionally with % complete and evidence files. On a not-started plan it "
            "also starts it.",
        ),
        Action(
            "evidence", "Upload evidence", "Adding progress", (S.NOT_STARTED, S.IN_PROGRESS, S.BLOCKED), None,
            K.PROGRESS, permissions.can_record_progress, "record_progress",
            serializer="EvidenceInput", summary="Upload evidence", api_list="evidence",
            description="One or more files with a note saying what they show, recorded as a progress entry on the "
            "timeline.",
        ),
        Action(
            "block", "Mark as blocked", "Marking blocked", (S.IN_PROGRESS,), S.BLOCKED, K.STATUS,
            permissions.can_record_progress, "mark_blocked",
            form="BlockedForm", button="Mark blocked", success="Plan marked as blocked.", style="warning",
            serializer="BlockInput", summary="Mark blocked",
            description="Names what the plan waits on (a national body, a partner agency or a procurement by name, "
            "another plan by its number, or something else the note describes) and since when.",
        ),
        Action(
            "waiting-on", "Change what it waits on", "Changing what the plan waits on", (S.BLOCKED,), None,
            K.STATUS, permissions.can_record_progress, "change_dependency",
            form="DependencyForm", button="Save what it waits on", success="What the plan waits on is changed.",
            style="secondary", serializer="DependencyInput", summary="Change what a blocked plan waits on",
            description="While the plan stays blocked: what it waits on now and since when (kept as it was when "
            "absent), with a note saying what changed.",
        ),
        Action(
            "unblock", "Unblock", "Unblocking", (S.BLOCKED,), S.IN_PROGRESS, K.STATUS,
            permissions.can_record_progress, "unblock",
            form="NoteForm", button="Unblock", success="Plan is in progress again.",
            serializer="NoteInput", summary="Unblock (blocked to in progress)",
        ),
        Action(
            "submit", "Submit for sign-off", "Submitting for sign-off", (S.IN_PROGRESS,), S.SUBMITTED, K.STATUS,
            permissions.can_record_progress, "submit_for_sign_off",
            form="SubmitForm", button="Submit for sign-off", success="Submitted for sign-off.",
            serializer="SubmitUploadInput", summary="Submit for sign-off",
            description="Closure statement plus at least one evidence file, sent now or already on the plan's "
            "timeline, and how each of the plan's success measures was met.",
        ),
        # --- milestones: staff and managers of the organisation, while the plan is with its owner ---
        Action(
            "milestone-add", "Add a milestone", "Adding a milestone", MILESTONE_STATES, None, K.MILESTONE,
            permissions.can_plan_milestones, "add_milestone",
            form="MilestoneForm", button="Add milestone", success="Milestone added.",
            serializer="MilestoneInput", summary="Add a milestone", api_list="milestones",
            description="A step of the plan with its own owner (a member of the plan's organisation) and date. While "
            "a plan has milestones, its percentage is the share of them done.",
        ),
        Action(
            "milestone-edit", "Change", "Changing a milestone", MILESTONE_STATES, None, K.MILESTONE,
            permissions.can_plan_milestones, "edit_milestone",
            form="MilestoneEditForm", button="Save milestone", success="Milestone changed.", style="secondary",
            serializer="MilestoneEditInput", summary="Change a milestone's title, owner, date or note",
            description="A field left out keeps its current value; `owner` or `target_date` sent as null, or "
            "`note` sent as \"\", clears it. The timeline names what changed.",
            item="milestone", offered=lambda plan: bool(plan.milestones.all()),
        ),
        Action(
            "milestone-complete", "Mark done", "Completing a milestone", MILESTONE_STATES, None, K.MILESTONE,
            permissions.can_plan_milestones, "complete_milestone",
            form="MilestoneCompleteForm", button="Mark done", success="Milestone done.", style="success",
            serializer="MilestoneCompleteInput", summary="Mark a milestone done",
            description="Done today, or on the day given (not a day still to come).", item="milestone",
            offered=lambda plan: any(m.done_on is None for m in plan.milestones.all()),
        ),
        Action(
            "milestone-reopen", "Reopen", "Reopening a milestone", MILESTONE_STATES, None, K.MILESTONE,
            permissions.can_plan_milestones, "reopen_milestone",
            form="MilestoneReopenForm", button="Reopen milestone", success="Milestone reopened.", style="warning",
            serializer="MilestoneReopenInput", summary="Reopen a milestone marked done",
            description="The reason says why it is not done.", item="milestone",
            offered=lambda plan: any(m.done_on is not None for m in plan.milestones.all()),
        ),
        Action(
            "milestone-move", "Move", "Reordering milestones", MILESTONE_STATES, None, K.MILESTONE,
            permissions.can_plan_milestones, "move_milestone",
            form="MilestoneMoveForm", button="Move", success="Milestones reordered.", style="secondary",
            serializer="MilestoneMoveInput", summary="Move a milestone one place up or down", item="milestone",
            offered=lambda plan: len(plan.milestones.all()) > 1,
        ),
        # --- a proposal of no action: staff or managers propose, the manager accepts the risk (or declines) ---
        Action(
            "propose-no-action", "Propose no action", "Proposing no action", MILESTONE_STATES,
            S.NO_ACTION_PROPOSED, K.NO_ACTION, permissions.can_record_progress, "propose_no_action",
            form="NoActionProposalForm", button="Propose no action", success="No action proposed: the manager decides "
            "whether to accept the risk.", style="secondary",
            serializer="NoActionProposalInput", summary="Propose that no action be taken",
            description="The reason and the risk it leaves. The organisation's manager then accepts the risk (or "
            "declines), and the inspectorate records no further action or sends it back.",
        ),
        Action(
            "accept-risk", "Accept the risk of no action", "Accepting the risk", (S.NO_ACTION_PROPOSED,),
            S.NO_ACTION_ACCEPTED, K.NO_ACTION, permissions.can_manage, "accept_no_action_risk",
            form="AcceptRiskForm", button="Accept the risk", success="Risk accepted: the proposal goes to the "
            "inspectorate.", style="warning",
            serializer="CommentInput", summary="Accept the risk of a proposal of no action (managers)",
            description="Recorded with your name and today's date; the proposal then awaits the inspectorate.",
        ),
        Action(
            "decline-no-action", "Decline the proposal", "Declining the proposal", (S.NO_ACTION_PROPOSED,),
            S.IN_PROGRESS, K.NO_ACTION, permissions.can_manage, "decline_no_action",
            form="RequiredReasonForm", button="Decline the proposal", success="Proposal declined: the plan is in "
            "progress again.", style="secondary",
            serializer="CommentInput", summary="Decline a proposal of no action (managers)",
            description="The comment says why; the plan is in progress again.",
        ),
        # --- success measures: the organisation's managers, while the plan is with its owner ---
        Action(
            "measure-add", "Add a success measure", "Adding a success measure", MILESTONE_STATES, None, K.MEASURE,
            permissions.can_set_measures, "add_measure",
            form="MeasureForm", button="Add measure", success="Success measure added.",
            serializer="MeasureInput", summary="Add a success measure (managers)", api_list="measures",
            description="What success looks like: the measure, an optional target figure and an optional date until "
            "which it must be sustained (a demonstration period; the plan cannot be verified as closed before it). "
            "The submission for sign-off says how each measure was met.",
        ),
        Action(
            "measure-edit", "Change", "Changing a success measure", MILESTONE_STATES, None, K.MEASURE,
            permissions.can_set_measures, "edit_measure",
            form="MeasureEditForm", button="Save measure", success="Success measure changed.", style="secondary",
            serializer="MeasureEditInput", summary="Change a success measure (managers)",
            description="A field left out keeps its current value; `target_figure` sent as \"\", or "
            "`sustain_until` sent as null, clears it (clearing `sustain_until` ends the demonstration period "
            "that holds off closing). The timeline names what changed.",
            item="measure", offered=lambda plan: bool(plan.measures.all()),
        ),
        Action(
            "measure-remove", "Remove", "Removing a success measure", MILESTONE_STATES, None, K.MEASURE,
            permissions.can_set_measures, "remove_measure",
            form="MeasureRemoveForm", button="Remove measure", success="Success measure removed.", style="danger",
            serializer="MeasureRemoveInput", summary="Remove a success measure (managers)",
            description="The reason says why it no longer measures the plan's success.",
            item="measure", offered=lambda plan: bool(plan.measures.all()),
        ),
        # --- managers ---
        Action(
            "sign-off", "Sign off", "Signing off", (S.SUBMITTED,), S.SIGNED_OFF, K.REVIEW,
            permissions.can_manage, "sign_off",
            form="CommentForm", button="Sign off", success="Plan signed off.", style="success",
            serializer="CommentInput", summary="Sign off (managers)",
        ),
        Action(
            "return", "Return to the owner", "Returning", (S.SUBMITTED,), S.IN_PROGRESS, K.REVIEW,
            permissions.can_manage, "return_submission",
            form="RequiredReasonForm", button="Return submission", success="Submission returned.", style="warning",
            serializer="CommentInput", summary="Return a submission to the owner (managers)",
            description="The comment says why.",
        ),
        Action(
            "target-date", "Change target date", "Changing the target date", OPEN, None, K.TARGET_DATE,
            permissions.can_manage, "change_target_date",
            form="TargetDateForm", button="Change target date", success="Target date changed.", style="secondary",
            serializer="TargetDateInput", summary="Change the target date (managers)",
            description="The original date is kept.", bulk="Change target date",
        ),
        Action(
            "owner", "Assign owner", "Assigning the owner", OPEN, None, K.OWNER,
            permissions.can_manage, "assign_owner",
            form="OwnerForm", button="Assign owner", success="Owner updated.", style="secondary",
            serializer="OwnerInput", summary="Assign or remove the owner (managers)", bulk="Assign owner",
        ),
        # --- inspectors ---
        Action(
            "close", "Verify and close", "Closing", (S.SIGNED_OFF,), S.CLOSED, K.VERIFICATION,
            permissions.can_verify, "close",
            form="CloseForm", button="Close as verified", success="Plan closed as verified complete.",
            style="success", serializer="CommentInput", summary="Verify and close (inspectors)",
            bulk="Verify and close (signed-off plans)",
        ),
        Action(
            "reopen", "Reopen", "Reopening", (S.SIGNED_OFF,), S.IN_PROGRESS, K.VERIFICATION,
            permissions.can_verify, "reopen",
            form="RequiredReasonForm", button="Reopen", success="Plan reopened.", style="warning",
            serializer="CommentInput", summary="Reopen a signed-off plan (inspectors)",
            description="The comment says why.",
        ),
        Action(
            "supersede", "Mark superseded", "Superseding", OPEN, S.SUPERSEDED, K.VERIFICATION,
            permissions.can_verify, "supersede",
            form="SupersedeForm", button="Mark superseded", success="Plan marked as superseded.", style="secondary",
            serializer="SupersedeInput", summary="Mark superseded (inspectors)",
        ),
        Action(
            "agree-no-action", "Record no further action", "Agreeing to no action", (S.NO_ACTION_ACCEPTED,),
            S.NO_FURTHER_ACTION, K.VERIFICATION, permissions.can_verify, "agree_no_action",
            form="CommentForm", button="Record no further action", success="No further action recorded.",
            style="secondary", serializer="CommentInput",
            summary="Agree to a proposal of no action (inspectors)",
            description="Records no further action on a proposal whose risk the force's manager has accepted.",
        ),
        Action(
            "send-back-no-action", "Send the proposal back", "Sending the proposal back", (S.NO_ACTION_ACCEPTED,),
            S.IN_PROGRESS, K.VERIFICATION, permissions.can_verify, "send_back_no_action",
            form="RequiredReasonForm", button="Send back", success="Proposal sent back: the plan is in progress "
            "again.", style="warning", serializer="CommentInput",
            summary="Send a proposal of no action back (inspectors)",
            description="The comment says why action is still needed; the plan is in progress again.",
        ),
        Action(
            "no-further-action", "No further action", "Marking no further action", DIRECT_NFA, S.NO_FURTHER_ACTION,
            K.VERIFICATION, permissions.can_verify, "no_further_action",
            form="RequiredReasonForm", button="Record no further action",
            success="Plan marked as needing no further action.", style="secondary",
            serializer="CommentInput", summary="Record no further action (inspectors)",
            description="The comment says why.",
        ),
        # --- anyone who can see the plan (the page's discussion form is its own: tracker.views._plan_comment) ---
        Action(
            "comments", "Add to the discussion", "Commenting", EVERY_STATUS, None, K.COMMENT,
            permissions.can_comment, "add_comment",
            serializer="DiscussionInput", summary="Add to the discussion", api_list="comments",
            description="Anyone who can see the plan may comment. Comments do not change the plan or its version.",
        ),
    )
}  # fmt: skip


def transition_table(actions: dict[str, Action]) -> dict[str, tuple[str, ...]]:
    """Each status and the statuses it may become: every action's sources to its target, in order."""
    table: dict[str, list[str]] = {status: [] for status in S}
    for action in actions.values():
        if action.target is None:
            continue
        for source in action.sources:
            if action.target != source and action.target not in table[source]:
                table[source].append(action.target)
    return {status: tuple(targets) for status, targets in table.items()}


# The workflow's transition table (DESIGN section 4), from the entries above.
TRANSITIONS: dict[str, tuple[str, ...]] = transition_table(ACTIONS)


def on_page(user: User, plan: ActionPlan) -> list[Action]:
    """The plan page's forms for this user on this plan now, in the registry's order (those acting on one
    of the plan's milestones are shown beside each milestone: `for_items`)."""
    return [a for a in ACTIONS.values() if a.form and not a.item and a.may(user, plan)]


def for_items(user: User, plan: ActionPlan, item: str) -> list[Action]:
    """The forms this user may use now on each of the plan's items of a kind ("milestone")."""
    return [a for a in ACTIONS.values() if a.form and a.item == item and a.may(user, plan)]


def in_api(user: User, plan: ActionPlan) -> list[str]:
    """The API endpoints this user may call on this plan now (the plan's `actions`)."""
    return [a.slug for a in ACTIONS.values() if a.serializer and a.may(user, plan)]


def in_bulk(user: User) -> list[Action]:
    """The bulk actions offered to `user`: those their role allows on some plan they may see."""
    return [a for a in ACTIONS.values() if a.bulk and permissions.may_somewhere(user, a.allowed)]
