"""`manage.py seed_demo`: the South East SOC 2024 demo (DESIGN section 7)."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.apps import apps
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.utils import timezone

from devdata.demo import DEFAULT_PASSWORD
from inspections.models import Finding, Grading, Inspection, Organisation
from tracker import workflow
from tracker.evidence import check_upload
from tracker.models import ActionPlan, Evidence, Update, User

PASSWORD = "a-demo-password-for-tests"
S = ActionPlan.Status


def seed(**options: object) -> str:
    out = io.StringIO()
    call_command("seed_demo", stdout=out, **options)
    return out.getvalue()


def row_counts() -> dict[str, int]:
    return {model._meta.label: model._default_manager.count() for model in apps.get_models()}


@pytest.fixture
def seeded(db) -> str:
    return seed(password=PASSWORD)


def test_running_twice_leaves_the_same_rows_in_every_table(db):
    seed(password=PASSWORD)
    first = row_counts()
    output = seed(password=PASSWORD)
    assert row_counts() == first
    assert "already loaded" in output
    assert first["tracker.ActionPlan"] > 0 and first["tracker.Update"] > 0 and first["tracker.Evidence"] > 0


def test_every_plan_status_is_present(seeded):
    assert set(ActionPlan.objects.values_list("status", flat=True)) == set(S.values)


def test_the_six_demo_users_have_their_roles_and_organisations(seeded):
    expected = {
        "hampshire.staff": ("hampshire", User.Role.STAFF),
        "hampshire.manager": ("hampshire", User.Role.MANAGER),
        "surrey.staff": ("surrey", User.Role.STAFF),
        "surrey.manager": ("surrey", User.Role.MANAGER),
        "inspector": (None, User.Role.INSPECTOR),
        "admin": (None, User.Role.INSPECTOR),
    }
    users = {u.username: u for u in User.objects.select_related("organisation")}
    assert set(users) == set(expected)
    for username, (org_slug, role) in expected.items():
        user = users[username]
        assert (user.organisation.slug if user.organisation else None, user.role) == (org_slug, role), username
        assert user.check_password(PASSWORD), username
        assert user.is_active
    assert users["admin"].is_superuser and users["admin"].is_staff
    assert not any(u.is_staff or u.is_superuser for name, u in users.items() if name != "admin")


def test_passwords_are_reset_on_every_run(seeded):
    seed(password="a-second-password-for-tests")
    assert all(user.check_password("a-second-password-for-tests") for user in User.objects.all())


def test_it_refuses_to_run_with_debug_off_and_no_password(db, settings, monkeypatch):
    settings.DEBUG = False
    monkeypatch.delenv("DEMO_PASSWORD", raising=False)
    with pytest.raises(CommandError, match="--password or the DEMO_PASSWORD"):
        seed()
    assert not User.objects.exists()
    assert not Inspection.objects.exists()


def test_it_takes_the_password_from_the_environment(db, settings, monkeypatch):
    settings.DEBUG = False
    monkeypatch.setenv("DEMO_PASSWORD", "from-the-environment")
    output = seed()
    assert User.objects.get(username="surrey.staff").check_password("from-the-environment")
    assert "from-the-environment" in output


def test_with_debug_on_and_no_password_it_uses_the_documented_default(db, settings, monkeypatch):
    settings.DEBUG = True
    monkeypatch.delenv("DEMO_PASSWORD", raising=False)
    seed()
    assert DEFAULT_PASSWORD == "demo-password-2024"
    assert User.objects.get(username="inspector").check_password(DEFAULT_PASSWORD)


def test_it_prints_the_accounts_password_and_address(seeded):
    for text in ("hampshire.staff", "surrey.manager", "inspector", "admin", PASSWORD, "http://127.0.0.1:8000"):
        assert text in seeded


def test_the_inspection_organisations_and_gradings_follow_the_report(seeded):
    inspection = Inspection.objects.get(slug="south-east-soc-2024")
    assert inspection.programme == Inspection.Programme.SOC
    assert inspection.published_on == dt.date(2024, 8, 30)
    assert "South East" in inspection.title and "serious and organised crime" in inspection.title
    slugs = set(Organisation.objects.values_list("slug", flat=True))
    assert {"hampshire", "surrey", "sussex", "thames-valley", "kent", "serocu"} <= slugs
    assert Organisation.objects.get(slug="serocu").kind == Organisation.Kind.REGIONAL_UNIT
    assert all(org.region and org.region.name == "South East" for org in Organisation.objects.all())
    grades = dict(inspection.gradings.values_list("organisation__slug", "grade"))
    assert grades["hampshire"] == Grading.Grade.INADEQUATE
    assert grades["surrey"] == Grading.Grade.REQUIRES_IMPROVEMENT
    assert grades["serocu"] == Grading.Grade.GOOD


def test_findings_include_the_hampshire_cause_of_concern_and_the_surrey_and_serocu_findings(seeded):
    findings = Finding.objects.filter(inspection__slug="south-east-soc-2024")
    coc = findings.get(kind=Finding.Kind.CAUSE_OF_CONCERN)
    assert list(coc.addressed_to.values_list("slug", flat=True)) == ["hampshire"]
    under_coc = " ".join(coc.recommendations.values_list("text", flat=True))
    assert "2019" in under_coc and "intelligence personnel" in under_coc and "across the workforce" in under_coc
    surrey = " ".join(findings.filter(addressed_to__slug="surrey").values_list("text", flat=True))
    assert "intelligence analysts" in surrey and "enough resources" in surrey
    assert findings.filter(addressed_to__slug="serocu", kind=Finding.Kind.AREA_FOR_IMPROVEMENT).exists()
    assert any(f.addressed_to.count() > 1 for f in findings)
    theme_slugs = set(findings.values_list("themes__slug", flat=True))
    assert {"intelligence", "workforce-and-resourcing", "local-profiles", "information-sharing"} <= theme_slugs


def test_some_plans_are_overdue_and_some_due_in_the_future(seeded):
    today = timezone.localdate()
    assert ActionPlan.objects.overdue(today).exists()
    assert ActionPlan.objects.open().filter(target_date__gt=today).exists()


def test_the_superseded_plan_points_at_the_revisit_finding(seeded):
    plan = ActionPlan.objects.get(status=S.SUPERSEDED)
    assert plan.superseded_by.inspection.slug != "south-east-soc-2024"
    assert plan.superseded_by in plan.finding.superseding_findings()


def test_surrey_staff_can_submit_their_in_progress_plan_with_evidence(seeded):
    surrey_staff = User.objects.get(username="surrey.staff")
    plan = ActionPlan.objects.get(
        organisation__slug="surrey", owner=surrey_staff, status=S.IN_PROGRESS, updates__evidence__isnull=False
    )
    workflow.submit_for_sign_off(plan=plan, user=surrey_staff, statement="Analysts in post.")
    plan.refresh_from_db()
    assert plan.status == S.SUBMITTED
    assert ActionPlan.objects.filter(organisation__slug="surrey", status=S.SUBMITTED).count() == 2


def test_a_surrey_plan_is_waiting_for_sign_off(seeded):
    assert ActionPlan.objects.filter(organisation__slug="surrey", status=S.SUBMITTED).exists()


def test_a_target_date_was_deferred_with_a_reason(seeded):
    change = Update.objects.get(kind=Update.Kind.TARGET_DATE)
    assert change.note.strip()
    assert change.target_date_to > change.target_date_from
    assert change.plan.deferral_count == 1
    assert change.plan.original_target_date == change.target_date_from


def test_every_status_change_is_on_the_timeline_as_the_person_who_made_it(seeded):
    for plan in ActionPlan.objects.exclude(status=S.NOT_STARTED):
        last_change = plan.updates.exclude(status_to="").first()
        assert last_change is not None and last_change.status_to == plan.status, plan
    closed = ActionPlan.objects.get(status=S.CLOSED)
    assert closed.updates.get(status_to=S.CLOSED).author.username == "inspector"
    assert closed.updates.get(status_to=S.SIGNED_OFF).author.username == "hampshire.manager"


def test_evidence_files_pass_the_upload_checks(seeded):
    evidence = list(Evidence.objects.all())
    assert {e.content_type for e in evidence} == {"application/pdf", "text/csv"}
    for item in evidence:
        with item.file.open("rb") as stored:
            data = stored.read()
        checked = check_upload(SimpleUploadedFile(item.original_name, data))
        assert (checked.sha256, checked.size) == (item.sha256, item.size)


def test_the_demo_has_a_hampshire_plan_of_five_milestones_one_overdue(db):
    from devdata.demo import seed_demo
    from tracker.models import ActionPlan, Milestone

    seed_demo(password="demo-password-2024", follow_up=False)
    plan = ActionPlan.objects.get(organisation__slug="hampshire", finding__reference="CoC1",
                                  finding__inspection__slug="south-east-soc-2024")  # fmt: skip
    milestones = list(plan.milestones.order_by("position"))
    assert len(milestones) == 5
    assert [m.is_overdue for m in milestones] == [False, False, True, False, False]
    assert sum(m.done_on is not None for m in milestones) == 2
    assert plan.percent_complete == 40
    assert {m.owner.username for m in milestones} == {"hampshire.manager", "hampshire.staff"}
    seed_demo(password="demo-password-2024", follow_up=False)  # re-running adds none
    assert Milestone.objects.filter(plan=plan).count() == 5
