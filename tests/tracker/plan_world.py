"""A small, fully known set of plans for the list, dashboard, export and board pack tests.

Two inspections, three regions (one organisation has none), two themes, plans in every RAG and in most
statuses, owned, unowned and owned by someone who has left. Each plan has a short name so that a test
can say exactly which plans it expects.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.utils import timezone

from inspections.models import Finding, Grading
from tests.factories import (
    ActionPlanFactory,
    FindingFactory,
    GradingFactory,
    InspectionFactory,
    OrganisationFactory,
    RegionFactory,
    StaffFactory,
    ThemeFactory,
)
from tracker.models import ActionPlan, User

S = ActionPlan.Status
K = Finding.Kind


@dataclass
class World:
    today: dt.date
    plans: dict[str, ActionPlan] = field(default_factory=dict)
    findings: dict[str, Finding] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)

    def names(self, prefix: str = "") -> set[str]:
        return {name for name in self.plans if name.startswith(prefix)}

    def ids(self, names: set[str] | list[str]) -> set[int]:
        return {self.plans[name].pk for name in names}

    def name_of(self, pk: int) -> str:
        return next(name for name, plan in self.plans.items() if plan.pk == pk)


def build_world(*, org, other_org, staff, manager, other_staff) -> World:
    """Surrey (`org`, plans "s_..."), Hampshire (`other_org`, "h_..."), Essex ("e_...") and the NCA ("n_...")."""
    today = timezone.localdate()
    world = World(today=today)
    south_east = RegionFactory(name="South East", slug="south-east")
    eastern = RegionFactory(name="Eastern", slug="eastern")
    for organisation in (org, other_org):
        organisation.region = south_east
        organisation.save()
    essex = OrganisationFactory(name="Essex Police", short_name="Essex", slug="essex", region=eastern)
    nca = OrganisationFactory(name="National Crime Agency", short_name="NCA", slug="nca", region=None)

    intelligence = ThemeFactory(name="Intelligence", slug="intelligence")
    workforce = ThemeFactory(name="Workforce", slug="workforce")
    soc = InspectionFactory(title="SOC inspection 2024", slug="soc", published_on=dt.date(2024, 8, 30))
    peel = InspectionFactory(title="PEEL 2025", slug="peel", published_on=dt.date(2025, 3, 1))
    GradingFactory(inspection=soc, organisation=other_org, grade=Grading.Grade.INADEQUATE)
    GradingFactory(inspection=soc, organisation=org, grade=Grading.Grade.REQUIRES_IMPROVEMENT)

    def finding(name, inspection, kind, reference, text, themes=(), cause=None):
        f = FindingFactory(inspection=inspection, kind=kind, reference=reference, text=text, cause_of_concern=cause)
        f.themes.set(themes)
        world.findings[name] = f
        return f

    coc1 = finding(
        "soc_coc1",
        soc,
        K.CAUSE_OF_CONCERN,
        "CoC1",
        "The force needs to understand the threat from serious and organised crime.",
        [intelligence],
    )
    r1 = finding(
        "soc_r1",
        soc,
        K.RECOMMENDATION,
        "R1",
        "Forces should refresh their SOC local profiles.",
        [intelligence, workforce],
        cause=coc1,
    )
    afi1 = finding(
        "soc_afi1",
        soc,
        K.AREA_FOR_IMPROVEMENT,
        "AFI1",
        "Make sure there are enough intelligence analysts.",
        [workforce],
    )
    peel_r1 = finding("peel_r1", peel, K.RECOMMENDATION, "R1", "Improve how the force records crime.")
    peel_afi1 = finding("peel_afi1", peel, K.AREA_FOR_IMPROVEMENT, "AFI1", "Review supervision of investigations.",
                        [workforce])  # fmt: skip

    leaver = StaffFactory(username="surrey.leaver", organisation=org, is_active=False)
    world.users = {"staff": staff, "manager": manager, "other_staff": other_staff, "leaver": leaver}

    def days(n):
        return None if n is None else today + dt.timedelta(days=n)

    # name: (organisation, finding, status, target date in days from today, percent, owner, summary, deferrals)
    rows = {
        "s_coc": (org, coc1, S.IN_PROGRESS, -5, 40, staff, "Threat assessment commissioned", 0),
        "s_r1": (org, r1, S.BLOCKED, 10, 20, None, "", 0),
        "s_afi": (org, afi1, S.SIGNED_OFF, -3, 100, manager, "", 0),
        "s_peel_r1": (org, peel_r1, S.CLOSED, -40, 100, staff, "", 0),
        "s_peel_afi": (org, peel_afi1, S.NOT_STARTED, 60, 0, leaver, "", 1),
        "h_coc": (other_org, coc1, S.SUBMITTED, -1, 80, other_staff, "", 0),
        "h_r1": (other_org, r1, S.IN_PROGRESS, 30, 74, other_staff, "Profile refresh under way with partners", 0),
        "h_afi": (other_org, afi1, S.SUPERSEDED, 20, 0, None, "", 0),
        "h_peel_r1": (other_org, peel_r1, S.NO_FURTHER_ACTION, -10, 0, None, "", 0),
        "e_r1": (essex, r1, S.IN_PROGRESS, None, 0, None, "", 0),
        "n_afi": (nca, peel_afi1, S.IN_PROGRESS, 31, 10, None, "", 0),
    }
    for name, (organisation, f, status, offset, percent, owner, summary, deferrals) in rows.items():
        target = days(offset)
        world.plans[name] = ActionPlanFactory(
            organisation=organisation,
            finding=f,
            status=status,
            target_date=target,
            original_target_date=target - dt.timedelta(days=30 * deferrals) if target else None,
            percent_complete=percent,
            owner=owner,
            summary=summary,
            deferral_count=deferrals,
        )
    return world


SURREY = {"s_coc", "s_r1", "s_afi", "s_peel_r1", "s_peel_afi"}
HAMPSHIRE = {"h_coc", "h_r1", "h_afi", "h_peel_r1"}
EVERYONE = SURREY | HAMPSHIRE | {"e_r1", "n_afi"}
