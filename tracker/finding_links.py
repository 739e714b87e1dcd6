"""Links between findings as the pages, the API and the exports show them.

Each linked finding comes with the responses to it that the reader may see, and for each response
when it was closed, so a page can say "raised before: 2019, R5, closed 14 Mar 2021".
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db.models import Max, Q

from inspections.models import Finding, FindingLink

from .models import ActionPlan, User, rows_joined


@dataclass
class LinkedFinding:
    link: FindingLink
    finding: Finding  # the finding at the other end
    label: str  # how the link reads from this side: "Repeats", "Raised again in", ...
    plans: list[ActionPlan] = field(default_factory=list)  # responses to it the reader may see, with `closed_at`

    @property
    def kind(self) -> str:
        return self.link.kind


@dataclass
class FindingLinks:
    earlier: list[LinkedFinding]  # findings of earlier inspections that this one repeats, supersedes, relates to
    later: list[LinkedFinding]  # findings raised since that point back at this one

    def __bool__(self) -> bool:
        return bool(self.earlier or self.later)


def links_of(finding: Finding, user: User, *, organisation_id: int | None = None) -> FindingLinks:
    """Both directions of `finding`'s links, with the visible responses to each linked finding (only
    `organisation_id`'s when given). One query when the finding has no links, as most have none; three
    when it has (`rows_joined`)."""
    links = rows_joined(
        FindingLink.objects.filter(Q(finding=finding) | Q(earlier=finding)),
        "finding__inspection",
        "earlier__inspection",
        "created_by",
    )
    others = [link.earlier if link.finding_id == finding.pk else link.finding for link in links]
    plans_by_finding = _plans_by_finding([other.pk for other in others], user, organisation_id)
    earlier, later = [], []
    for link, other in zip(links, others, strict=True):
        if link.finding_id == finding.pk:
            earlier.append(LinkedFinding(link, other, link.get_kind_display(), plans_by_finding[other.pk]))
        else:
            later.append(LinkedFinding(link, other, link.reverse_label, plans_by_finding[other.pk]))

    def published(item: LinkedFinding) -> tuple[dt.date, str]:
        return (item.finding.inspection.published_on or dt.date.min, item.finding.reference)

    earlier.sort(key=published, reverse=True)
    later.sort(key=published)
    return FindingLinks(earlier, later)


def _plans_by_finding(
    finding_ids: Iterable[int], user: User, organisation_id: int | None
) -> defaultdict[int, list[ActionPlan]]:
    grouped: defaultdict[int, list[ActionPlan]] = defaultdict(list)
    finding_ids = list(finding_ids)
    if not finding_ids:
        return grouped
    plans = (
        ActionPlan.objects.visible_to(user)
        .filter(finding_id__in=finding_ids)
        .select_related("organisation")
        .annotate(
            closed_at=Max("updates__created_at", filter=Q(updates__status_to=ActionPlan.Status.CLOSED)),
        )
        .order_by("organisation__name", "pk")
    )
    if organisation_id is not None:
        plans = plans.filter(organisation_id=organisation_id)
    for plan in plans:
        grouped[plan.finding_id].append(plan)
    return grouped


def repeat_labels() -> dict[int, str]:
    """For exports: per linked finding, the earlier findings it links to, e.g. "repeats South East SOC 2024 R5".
    Every link at once, in one query: few findings are linked, and an export may hold every plan."""
    labels: defaultdict[int, list[str]] = defaultdict(list)
    links = FindingLink.objects.select_related("earlier__inspection").order_by(
        "finding_id", "earlier__inspection__published_on", "earlier__reference"
    )
    for link in links:
        labels[link.finding_id].append(
            f"{link.get_kind_display().lower()} {link.earlier.inspection.title} {link.earlier.reference}"
        )
    return {finding_id: "; ".join(parts) for finding_id, parts in labels.items()}
