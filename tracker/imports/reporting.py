"""Findings import, step 4: the report of what an import did, or would do, as the command prints it."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from .planning import Action, RowOutcome

if TYPE_CHECKING:
    from .services import ImportOutcome

MAX_LISTED = 20


def _listed(references: list[str], limit: int | None) -> str:
    if limit is None or len(references) <= limit:
        return ", ".join(references)
    return f"{', '.join(references[:limit])} and {len(references) - limit} more"


def summary_lines(outcome: ImportOutcome, *, publish: bool = False, list_all: bool = False) -> list[str]:
    """The report the command prints: per inspection what happens, with each updated finding's changes."""
    plan, result = outcome.plan, outcome.result
    dry_run = result is None
    lines = ["Dry run: nothing was written."] if dry_run else []
    verb = {Action.CREATE: "created", Action.UPDATE: "updated", Action.UNCHANGED: "unchanged"}
    by_inspection: dict[str, list[RowOutcome]] = defaultdict(list)
    for row in plan.rows:
        by_inspection[row.inspection].append(row)
    for inspection in plan.inspections:
        state = verb[inspection.action]
        if dry_run and inspection.action != Action.UNCHANGED:
            state = f"would be {state}"
        if inspection.changes:
            state += f" ({', '.join(inspection.changes)} changed)"
        lines.append(f"Inspection {inspection.slug}: {state}.")
        rows = by_inspection[inspection.slug]
        created = [row.reference for row in rows if row.action == Action.CREATE]
        if created:
            listed = _listed(created, None if list_all else MAX_LISTED)
            lines.append(f"  {'would create' if dry_run else 'created'}: {listed}")
        lines.extend(f"  {row.label}" for row in rows if row.action == Action.UPDATE)
    prefix = "Findings that would be" if dry_run else "Findings"
    lines.append(f"{prefix}: {plan.created} created, {plan.updated} updated, {plan.unchanged} unchanged.")
    if plan.new_organisations:
        label = "Organisations that would be created" if dry_run else "Organisations created"
        lines.append(f"{label}: {', '.join(plan.new_organisations)}.")
    if plan.new_themes:
        label = "Themes that would be created" if dry_run else "Themes created"
        lines.append(f"{label}: {', '.join(plan.new_themes)}.")
    if publish:
        opened = plan.plans_to_open if result is None or result.plans_opened is None else result.plans_opened
        lines.append(f"Action plans {'that would be ' if dry_run else ''}opened: {opened}.")
    elif plan.plans_to_open:
        lines.append(f"{plan.plans_to_open} action plans are not open yet: publish to open them.")
    if plan.milestones:
        figures = plan.milestone_figures
        prefix = "Milestones that would be" if dry_run else "Milestones"
        lines.append(f"{prefix}: {figures['create']} added, {figures['update']} changed, "
                     f"{figures['unchanged']} unchanged.")  # fmt: skip
    lines.extend(f"Warning: {warning}" for warning in plan.warnings)
    return lines
