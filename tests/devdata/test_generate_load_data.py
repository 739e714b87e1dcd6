"""`manage.py generate_load_data`: load data of realistic shape, written in bulk (devdata.loadgen)."""

from __future__ import annotations

import io
import re

import pytest
from django.apps import apps
from django.contrib.auth.hashers import check_password
from django.core.management import CommandError, call_command
from django.db.models import Count, F, Q
from django.utils import timezone

from devdata import loadgen
from inspections.models import Finding, Grading, Inspection, Organisation, Region, Theme
from tracker.models import ActionPlan, NoActionProposal, Update, User
from tracker.workflow import ALLOWED_TRANSITIONS

S = ActionPlan.Status
# Tiny but complete: 12 organisations (9 forces in two regions, 2 regional units, 1 national body).
TINY = {"organisations": 12, "inspections": 8, "findings": 40, "updates_per_plan": 8}
LABELS = {
    "regions": Region,
    "organisations": Organisation,
    "users": User,
    "inspections": Inspection,
    "gradings": Grading,
    "findings": Finding,
    "finding addressees": Finding.addressed_to.through,
    "action plans": ActionPlan,
    "updates": Update,
    "proposals of no action": NoActionProposal,
}


def generate(**options: object) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("generate_load_data", stdout=out, stderr=err, **{**TINY, **options})
    return out.getvalue(), err.getvalue()


def printed_counts(output: str) -> dict[str, int]:
    counts = {}
    for label in [*LABELS, "themes"]:
        match = re.search(rf"^  {label} +([\d,]+)", output, re.MULTILINE)
        assert match, f"{label} not printed"
        counts[label] = int(match.group(1).replace(",", ""))
    return counts


def row_counts() -> dict[str, int]:
    """Rows of every table but the cache's version counters (tracker/freshness.py), which any write moves."""
    return {
        model._meta.label: model._default_manager.count()
        for model in apps.get_models()
        if model._meta.label != "tracker.DataVersion"
    }


def load_plans():
    return ActionPlan.objects.filter(organisation__slug__startswith=loadgen.PREFIX)


def snapshot() -> tuple[list, list]:
    """The load data without ids and insert times: what the seed decides."""
    plans = list(
        load_plans()
        .order_by("finding__inspection__slug", "finding__reference", "organisation__slug")
        .values_list(
            "finding__inspection__slug",
            "finding__inspection__published_on",
            "finding__reference",
            "finding__text",
            "organisation__slug",
            "status",
            "owner__username",
            "target_date",
            "original_target_date",
            "deferral_count",
            "percent_complete",
            "summary",
            "version",
            "updated_at",
        )
    )
    updates = list(
        Update.objects.filter(plan__in=load_plans())
        .order_by("plan__finding__inspection__slug", "plan__finding__reference", "plan__organisation__slug", "pk")
        .values_list("author__username", "created_at", "kind", "note", "status_from", "status_to", "percent")
    )
    return plans, updates


@pytest.fixture
def generated(db) -> str:
    return generate()[0]


def test_the_counts_printed_are_the_rows_created(generated):
    printed = printed_counts(generated)
    for label, model in LABELS.items():
        assert model._default_manager.count() == printed[label], label
    assert Theme.objects.count() == printed["themes"] == 12
    assert printed["organisations"] == 12 and printed["inspections"] == 8 and printed["findings"] == 40
    # Updates average --updates-per-plan over the plans.
    assert printed["updates"] == printed["action plans"] * TINY["updates_per_plan"]


def test_one_plan_per_finding_and_addressee(generated):
    addressed = set(Finding.addressed_to.through.objects.values_list("finding_id", "organisation_id"))
    plans = list(ActionPlan.objects.values_list("finding_id", "organisation_id"))
    assert len(plans) == len(set(plans)) == len(addressed)
    assert set(plans) == addressed


def test_every_status_appears(generated):
    assert set(ActionPlan.objects.values_list("status", flat=True)) == set(S.values)


def test_each_plan_proposed_for_no_action_has_its_open_proposal_by_the_people_of_its_timeline(generated):
    proposed = ActionPlan.objects.filter(status__in=(S.NO_ACTION_PROPOSED, S.NO_ACTION_ACCEPTED))
    assert proposed.exists()
    for plan in proposed:
        proposal = NoActionProposal.objects.get(plan=plan)
        assert proposal.outcome == NoActionProposal.Outcome.OPEN and proposal.reason and proposal.risk
        step = plan.updates.filter(status_to=S.NO_ACTION_PROPOSED).latest("created_at")
        assert (proposal.proposed_by_id, proposal.proposed_at) == (step.author_id, step.created_at)
        if plan.status == S.NO_ACTION_ACCEPTED:
            accepted = plan.updates.filter(status_to=S.NO_ACTION_ACCEPTED).latest("created_at")
            assert (proposal.accepted_by_id, proposal.accepted_on) == (accepted.author_id, accepted.created_at.date())
            assert proposal.accepted_by.role == User.Role.MANAGER
        else:
            assert proposal.accepted_by is None and proposal.accepted_on is None
    assert NoActionProposal.objects.count() == proposed.count()


def test_overdue_and_deferred_plans_exist_and_deferrals_move_the_date_later(generated):
    today = timezone.localdate()
    assert ActionPlan.objects.overdue(today).exists()
    deferred = ActionPlan.objects.filter(deferral_count__gt=0)
    assert deferred.exists()
    assert not deferred.filter(target_date__lte=F("original_target_date")).exists()
    # The original date is never after the agreed one, and without deferrals they are the same.
    assert not ActionPlan.objects.filter(original_target_date__gt=F("target_date")).exists()
    undeferred = ActionPlan.objects.filter(deferral_count=0, target_date__isnull=False)
    assert undeferred.exists()
    assert not undeferred.exclude(target_date=F("original_target_date")).exists()


def test_red_is_exactly_the_overdue_plans_and_the_database_agrees_with_python(generated):
    today = timezone.localdate()
    plans = list(ActionPlan.objects.with_rag(today))
    red = {plan.pk for plan in plans if plan.rag_value == ActionPlan.Rag.RED}
    assert red and red == set(ActionPlan.objects.overdue(today).values_list("pk", flat=True))
    assert all(plan.rag_value == plan.rag_on(today) for plan in plans)
    assert {plan.rag_value for plan in plans} >= {ActionPlan.Rag.RED, ActionPlan.Rag.GREY, ActionPlan.Rag.GREEN}


def test_national_findings_go_to_every_force_and_regional_ones_to_one_region(generated):
    forces = set(Organisation.objects.filter(kind=Organisation.Kind.FORCE).values_list("pk", flat=True))
    assert len(forces) == 9
    national = regional = 0
    for finding in Finding.objects.prefetch_related("addressed_to"):
        orgs = list(finding.addressed_to.all())
        if forces <= {org.pk for org in orgs}:
            national += 1
            assert all(org.kind != Organisation.Kind.REGIONAL_UNIT for org in orgs)
        else:
            regional += 1
            assert len({org.region_id for org in orgs}) == 1
            assert 5 <= len(orgs) <= 6
    assert national and regional
    assert loadgen.national_finding().addressed_to.count() == len(forces)


def test_findings_are_long_varied_and_their_recommendations_point_at_causes_of_concern(generated):
    texts = list(Finding.objects.values_list("text", flat=True))
    assert min(len(text) for text in texts) >= 200
    assert len(set(texts)) == len(texts)
    assert Finding.objects.filter(text__icontains="intelligence").exists()
    assert set(Finding.objects.values_list("kind", flat=True)) == set(Finding.Kind.values)
    for rec in Finding.objects.filter(cause_of_concern__isnull=False).select_related("cause_of_concern"):
        assert rec.kind == Finding.Kind.RECOMMENDATION
        assert rec.cause_of_concern.kind == Finding.Kind.CAUSE_OF_CONCERN
        assert rec.cause_of_concern.inspection_id == rec.inspection_id
    counts = Finding.objects.annotate(themes_count=Count("themes")).values_list("themes_count", flat=True)
    assert set(counts) <= {1, 2, 3}


def test_the_first_organisations_first_plan_has_exactly_fifty_updates(generated):
    plan = ActionPlan.objects.filter(organisation__slug="load-org-001").order_by("pk").first()
    assert plan == loadgen.fifty_update_plan()
    assert plan.updates.count() == 50
    assert f"Plan with exactly 50 updates: id {plan.pk} " in generated


def test_timelines_follow_the_workflow_and_end_where_the_plan_is(generated):
    inspector = User.objects.get(username=loadgen.INSPECTOR_USERNAME)
    now = timezone.now()
    for plan in load_plans().select_related("finding__inspection").prefetch_related("updates__author"):
        updates = sorted(plan.updates.all(), key=lambda u: (u.created_at, u.pk))
        status, percent, version, deferrals = S.NOT_STARTED, 0, 1, 0
        target = plan.finding.due_by
        for update in updates:
            assert update.author.organisation_id == plan.organisation_id or update.author == inspector
            assert plan.created_at < update.created_at <= now
            if update.status_to:
                assert update.status_from == status and update.status_to in ALLOWED_TRANSITIONS[status]
                status = update.status_to
            if update.kind == Update.Kind.VERIFICATION:
                assert update.author == inspector
            if update.percent is not None:
                percent = update.percent
            if update.kind == Update.Kind.TARGET_DATE:
                assert update.target_date_from == target
                deferrals += bool(target and update.target_date_to > target)
                target = update.target_date_to
            version += update.kind != Update.Kind.COMMENT
        assert (status, percent, target, version, deferrals) == (
            plan.status,
            plan.percent_complete,
            plan.target_date,
            plan.version,
            plan.deferral_count,
        )
        if updates:
            assert plan.updated_at == updates[-1].created_at
        if plan.status in (S.SIGNED_OFF, S.CLOSED):
            assert plan.percent_complete == 100
        if plan.status == S.SUPERSEDED:
            assert plan.superseded_by_id and plan.superseded_by_id != plan.finding_id
        if plan.owner_id:
            assert plan.owner.organisation_id == plan.organisation_id


def test_users_per_organisation_share_one_password(generated):
    for org in Organisation.objects.all():
        roles = sorted(org.users.values_list("username", "role"))
        assert roles == [
            (f"{org.slug}-manager", User.Role.MANAGER),
            *((f"{org.slug}-staff{n}", User.Role.STAFF) for n in (1, 2, 3)),
        ]
    admin = User.objects.get(username="load-admin")
    assert admin.is_superuser and admin.organisation is None
    assert User.objects.get(username="load-inspector").role == User.Role.INSPECTOR
    assert len(set(User.objects.values_list("password", flat=True))) == 1
    assert check_password(loadgen.DEFAULT_PASSWORD, admin.password)


def test_running_again_without_replace_refuses_and_changes_nothing(generated):
    before = row_counts()
    with pytest.raises(CommandError, match="already exists.*--replace"):
        generate(seed=2)
    assert row_counts() == before


def test_replace_deletes_the_previous_load_data_first(generated):
    old_plans = set(ActionPlan.objects.values_list("pk", flat=True))
    output, _ = generate(seed=2, replace=True, inspections=5, findings=20)
    assert "Deleted the previous load data" in output
    assert not ActionPlan.objects.filter(pk__in=old_plans).exists()
    printed = printed_counts(output)
    for label, model in LABELS.items():
        assert model._default_manager.count() == printed[label], label
    assert Inspection.objects.count() == 5 and Finding.objects.count() == 20


def test_the_same_seed_gives_the_same_data(generated):
    first = snapshot()
    generate(replace=True)
    assert snapshot() == first
    generate(replace=True, seed=2)
    assert snapshot() != first


def test_load_data_lives_beside_the_demo_without_touching_it(db):
    call_command("seed_demo", password="a-demo-password-for-tests", stdout=io.StringIO())
    demo = row_counts()
    demo_plans = set(ActionPlan.objects.values_list("pk", "status", "version"))
    generate()
    generate(replace=True, seed=3)
    assert set(
        ActionPlan.objects.exclude(organisation__slug__startswith="load-").values_list("pk", "status", "version")
    ) == (demo_plans)
    loadgen.delete_load_data()
    assert row_counts() == demo


def test_progress_goes_to_stderr_in_steps_and_verbosity_zero_silences_it(db):
    output, progress = generate()
    assert re.search(r"^updates +[\d,]+/[\d,]+ +100%", progress, re.MULTILINE)
    assert "\r" not in progress  # not a terminal: whole lines
    assert "%" not in output
    _, silent = generate(replace=True, verbosity=0, password="another-load-password")
    assert silent == ""


def test_the_default_password_is_warned_about_when_debug_is_off(db, settings):
    settings.DEBUG = False
    _, err = generate()
    assert "superuser load-admin, get the default password" in err
    _, err = generate(replace=True, password="another-load-password")
    assert "Warning" not in err
    assert check_password("another-load-password", User.objects.get(username="load-admin").password)


def test_explicit_counts_are_checked(db):
    with pytest.raises(CommandError, match="--findings must be at least --inspections"):
        generate(inspections=10, findings=5)
    assert not Organisation.objects.exists()


def test_scales_are_about_the_documented_sizes():
    # Plans follow from findings and addressees: 12.5 per finding at 60 organisations.
    for name, plans in [("small", 1_000), ("medium", 10_000), ("national", 100_000)]:
        scale = loadgen.SCALES[name]
        assert scale.organisations == 60 and scale.updates_per_plan == 10
        assert scale.findings * loadgen.AVERAGE_ADDRESSEES == pytest.approx(plans, rel=0.05)


@pytest.mark.parametrize("organisations", [1, 3])
def test_very_few_organisations_still_work(db, organisations):
    output, _ = generate(organisations=organisations, inspections=3, findings=6)
    assert Organisation.objects.count() == organisations
    assert loadgen.fifty_update_plan().updates.count() == 50
    assert printed_counts(output)["action plans"] == ActionPlan.objects.count() > 0


def test_the_load_marker_is_on_every_slug_and_username(generated):
    assert not Organisation.objects.exclude(slug__startswith="load-org-").exists()
    assert not Region.objects.exclude(slug__startswith="load-region-").exists()
    assert not Inspection.objects.exclude(slug__startswith="load-insp-").exists()
    assert not User.objects.exclude(username__startswith="load-").exists()
    # Themes are the demo's five (shared by slug) and seven of the load data's own.
    assert Theme.objects.filter(Q(slug__startswith="load-theme-")).count() == 7
