"""Cached dashboard figures are never stale: every change moves the data versions of the figures it
affects (tracker/freshness.py), once per transaction, when it commits."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from inspections.models import Grading
from tests.factories import (
    ActionPlanFactory,
    FindingFactory,
    GradingFactory,
    InspectionFactory,
    InspectorFactory,
    ManagerFactory,
    OrganisationFactory,
    ThemeFactory,
    UpdateFactory,
)
from tracker import freshness, workflow
from tracker.models import ActionPlan, Update, User

pytestmark = pytest.mark.django_db
S = ActionPlan.Status


def moves(change) -> bool:  # type: ignore[no-untyped-def]
    before = freshness.current()
    change()
    return freshness.current() > before


def test_saves_deletes_and_links_of_everything_a_dashboard_reads_move_the_version(org):
    plan = ActionPlanFactory(organisation=org)
    finding = plan.finding
    assert moves(lambda: ActionPlan.objects.get(pk=plan.pk).save())
    assert moves(lambda: UpdateFactory(plan=plan))
    assert moves(lambda: finding.themes.add(ThemeFactory()))
    assert moves(lambda: finding.themes.clear())
    assert moves(lambda: finding.addressed_to.add(OrganisationFactory()))
    assert moves(lambda: FindingFactory(inspection=finding.inspection))
    assert moves(lambda: InspectionFactory())
    assert moves(lambda: GradingFactory(organisation=org, inspection=finding.inspection))
    assert moves(lambda: Grading.objects.filter(organisation=org).first().delete())  # type: ignore[union-attr]
    assert moves(lambda: OrganisationFactory())
    manager = ManagerFactory(organisation=org)
    manager.is_active = False
    assert moves(manager.save)


def test_signing_in_does_not_move_the_version(client, org):
    manager = ManagerFactory(organisation=org)
    before = freshness.current()
    client.force_login(manager)  # saves last_login only
    User.objects.get(pk=manager.pk).save(update_fields=["last_home_visit"])
    assert freshness.current() == before


def test_an_import_moves_the_version(tmp_path, org, other_org):
    from tests.tracker.test_import import good_rows, run, write_csv

    assert moves(lambda: run(write_csv(tmp_path / "findings.csv", good_rows())))
    # Changing only findings' text is done with bulk updates, which send no signals.
    rows = good_rows()
    for row in rows:
        row["text"] += " Revised."
    assert moves(lambda: run(write_csv(tmp_path / "revised.csv", rows)))


def test_publishing_moves_the_version(org):
    finding = FindingFactory()
    finding.addressed_to.add(org)
    assert moves(lambda: workflow.publish_inspection(inspection=finding.inspection))
    # Publishing again opens nothing and so changes nothing.
    assert not moves(lambda: workflow.publish_inspection(inspection=finding.inspection))


def test_cached_is_recomputed_only_when_the_version_moves(org):
    calls = []

    def compute():  # type: ignore[no-untyped-def]
        calls.append(1)
        return {"n": len(calls)}

    assert freshness.cached("all", "k", compute) == {"n": 1}
    assert freshness.cached("all", "k", compute) == {"n": 1}
    freshness.changed()
    assert freshness.cached("all", "k", compute) == {"n": 2}
    assert len(calls) == 2


def test_the_dashboard_shows_a_change_made_after_it_was_cached(client, org, staff, manager):
    plan = ActionPlanFactory(organisation=org, status=S.NOT_STARTED)
    client.force_login(manager)
    first = client.get("/dashboard/").context
    assert first["overall"]["total"] == 1 and first["overall"]["reported"] == 0
    assert client.get("/dashboard/").context["overall"]["with_force"] == 1  # from the cache

    workflow.start(plan=plan, user=staff, note="Started", expected_version=plan.version)
    plan.refresh_from_db()
    workflow.submit_for_sign_off(
        plan=plan, user=staff, statement="Done", files=[_pdf()], expected_version=plan.version
    )
    plan.refresh_from_db()
    response = client.post(
        f"/plans/{plan.pk}/sign-off/", {"sign-off-comment": "Agreed", "sign-off-version": plan.version}
    )
    assert response.status_code == 302
    after = client.get("/dashboard/").context
    assert after["overall"]["reported"] == 1


def test_dashboard_figures_are_kept_per_organisation(client, org, other_org):
    ActionPlanFactory.create_batch(2, organisation=org)
    ActionPlanFactory(organisation=other_org)
    client.force_login(ManagerFactory(organisation=org))
    assert client.get("/dashboard/").context["overall"]["total"] == 2
    client.force_login(ManagerFactory(organisation=other_org))
    assert client.get("/dashboard/").context["overall"]["total"] == 1
    client.force_login(InspectorFactory())
    assert client.get("/dashboard/").context["overall"]["total"] == 3
    assert client.get(f"/dashboard/?organisation={other_org.slug}").context["overall"]["total"] == 1


def test_overdue_figures_move_at_midnight_without_any_change(client, org, manager, monkeypatch):
    today = timezone.localdate()
    ActionPlanFactory(organisation=org, status=S.IN_PROGRESS, target_date=today)
    client.force_login(manager)
    assert client.get("/dashboard/").context["overall"]["overdue"] == 0
    tomorrow = today + dt.timedelta(days=1)
    monkeypatch.setattr(timezone, "localdate", lambda *args, **kwargs: tomorrow)
    assert client.get("/dashboard/").context["overall"]["overdue"] == 1


def _pdf():  # type: ignore[no-untyped-def]
    from tests.factories import pdf_upload

    return pdf_upload()


def test_the_kept_filter_form_lists_what_was_added_since(client, org, manager):
    client.force_login(manager)
    assert "Thematic review of vetting" not in client.get("/plans/").content.decode()
    InspectionFactory(title="Thematic review of vetting")
    assert "Thematic review of vetting" in client.get("/plans/").content.decode()
    colleague = ManagerFactory(organisation=org, username="new.colleague")
    assert 'value="new.colleague"' in client.get("/plans/").content.decode()
    colleague.is_active = False
    colleague.save()
    assert 'value="new.colleague"' not in client.get("/plans/").content.decode()


def test_the_kept_filter_form_is_each_users_own(client, org, other_org):
    ManagerFactory(organisation=org, username="org.colleague")
    ManagerFactory(organisation=other_org, username="other.colleague")
    client.force_login(ManagerFactory(organisation=org))
    page = client.get("/plans/?status=in_progress").content.decode()
    assert 'value="org.colleague"' in page and 'value="other.colleague"' not in page
    client.force_login(ManagerFactory(organisation=other_org))
    page = client.get("/plans/?status=in_progress").content.decode()
    assert 'value="other.colleague"' in page and 'value="org.colleague"' not in page
    # The selection is part of what is kept: another query shows its own choices ticked.
    assert 'value="blocked" checked' not in page
    assert 'value="blocked"' in client.get("/plans/?status=blocked").content.decode()
    assert "checked" in client.get("/plans/?status=blocked").content.decode().split('value="blocked"')[1][:40]


def test_the_trend_keeps_the_months_before_last_and_reads_the_last_two_afresh(org, manager, inspector):
    from tests.tracker.test_dashboard import moved, opened
    from tracker.reports import trend

    plan = opened(org, 6)
    moved(plan, manager, 5, S.SUBMITTED, S.SIGNED_OFF)
    plans = ActionPlan.objects.filter(organisation=org)

    def reported(series, months_ago):  # type: ignore[no-untyped-def]
        point = series[-1 - months_ago]
        return point["awaiting_verification"] + point["verified"]  # reported complete

    first = trend(plans, scope="all", cache_key="t")
    assert reported(first, 5) == 1 and reported(first, 0) == 1
    # A change through the workflow is dated now: it shows at once.
    moved(plan, inspector, 0, S.SIGNED_OFF, S.IN_PROGRESS)
    assert reported(trend(plans, scope="all", cache_key="t"), 0) == 0
    # So does anything dated last month.
    moved(plan, inspector, 1, S.SIGNED_OFF, S.CLOSED)
    assert trend(plans, scope="all", cache_key="t")[-2]["verified"] == 1
    # Rows dated earlier come only from bulk loads, which move the history version (the load data
    # generator does); until then the kept months stand.
    Update.objects.bulk_create(
        [Update(plan=plan, author=manager, kind=Update.Kind.STATUS, status_from=S.SIGNED_OFF,
                status_to=S.IN_PROGRESS, created_at=first[-4]["month"].replace(day=15))]  # type: ignore[index]
    )  # fmt: skip
    assert reported(trend(plans, scope="all", cache_key="t"), 3) == 1
    freshness.history_changed()
    assert reported(trend(plans, scope="all", cache_key="t"), 3) == 0
    assert trend(plans, scope="all", cache_key="t") == trend(plans)  # the same figures as computing everything afresh


def test_the_kept_months_give_the_trend_computed_afresh_for_each_organisation_and_for_all(org, manager, inspector):
    from tests.tracker.test_dashboard import moved, opened
    from tracker.models import FlowSet, MonthlyFlow
    from tracker.reports import trend

    other = OrganisationFactory()
    for organisation, months in ((org, (9, 6, 3)), (other, (8, 1))):
        for months_ago in months:
            plan = opened(organisation, months_ago)
            moved(plan, manager, max(months_ago - 1, 0), S.SUBMITTED, S.SIGNED_OFF)
            moved(plan, inspector, max(months_ago - 2, 0), S.SIGNED_OFF, S.CLOSED)
    freshness.history_changed()  # rows dated in the past, as a bulk load writes them
    everyone = ActionPlan.objects.all()
    for organisation in (org, other):
        plans = ActionPlan.objects.filter(organisation=organisation)
        assert trend(plans, kept=True, organisation=organisation) == trend(plans)
    assert trend(everyone, kept=True) == trend(everyone)
    assert FlowSet.objects.count() == 1  # counted once, for every organisation
    # A change this month or last shows at once (those two months are read afresh).
    moved(opened(org, 0), manager, 0, S.IN_PROGRESS, S.SIGNED_OFF)
    moved(opened(other, 1), manager, 1, S.IN_PROGRESS, S.SIGNED_OFF)
    assert trend(everyone, kept=True) == trend(everyone)
    # Past-dated rows count once the history version moves: the kept set is replaced, the old one goes.
    moved(ActionPlan.objects.filter(organisation=other).first(), inspector, 5, S.CLOSED, S.IN_PROGRESS)
    freshness.history_changed()
    assert trend(everyone, kept=True) == trend(everyone)
    assert FlowSet.objects.count() == 1
    assert MonthlyFlow.objects.values("history").distinct().count() == 1


def test_deleting_a_plan_recomputes_the_past(org):
    from tests.tracker.test_dashboard import opened
    from tracker.reports import trend

    opened(org, 6)
    doomed = opened(org, 6)
    plans = ActionPlan.objects.filter(organisation=org)
    assert trend(plans, scope="all", cache_key="t")[-7]["with_force"] == 2
    doomed.delete()
    assert trend(plans, scope="all", cache_key="t")[-7]["with_force"] == 1


def test_load_data_dated_in_the_past_moves_the_history_version(db):
    from django.core.management import call_command

    before = freshness.current(freshness.HISTORY)
    call_command(
        "generate_load_data", "--organisations", "12", "--inspections", "3", "--findings", "12",
        "--updates-per-plan", "2", verbosity=0,
    )  # fmt: skip
    assert freshness.current(freshness.HISTORY) > before


# --- a version per organisation, moved once per transaction at commit ---------------------------


def counting(value: str):  # type: ignore[no-untyped-def]
    calls: list[str] = []

    def compute() -> str:
        calls.append(value)
        return f"{value} {len(calls)}"

    return compute, calls


def test_a_write_in_one_organisation_recomputes_its_figures_and_everyones_but_no_other_organisations(
    org, other_org, staff
):
    plan = ActionPlanFactory(organisation=org, status=S.IN_PROGRESS)
    scopes = {"a": f"organisation-{org.pk}", "b": f"organisation-{other_org.pk}", "all": "all"}
    computes = {name: counting(name) for name in scopes}

    def values() -> dict[str, str]:
        return {name: freshness.cached(scope, "k", computes[name][0]) for name, scope in scopes.items()}

    first = values()
    assert values() == first  # all kept
    workflow.add_comment(plan=plan, user=staff, note="A comment in A.")
    second = values()
    assert second["a"] != first["a"] and second["all"] != first["all"]
    assert second["b"] == first["b"]
    workflow.record_progress(plan=plan, user=staff, note="Progress in A.", percent_complete=20)
    third = values()
    assert third["a"] != second["a"] and third["all"] != second["all"] and third["b"] == first["b"]
    # Data every organisation reads: every scope is computed again.
    InspectionFactory()
    fourth = values()
    assert all(fourth[name] != third[name] for name in scopes)


@pytest.mark.parametrize(
    "change",
    ["plan saved", "update written", "grading saved", "plan deleted"],
)
def test_each_kind_of_organisation_data_moves_that_organisations_version(change, org, other_org, staff):
    plan = ActionPlanFactory(organisation=org)
    grading_finding = FindingFactory()
    a, b = f"organisation-{org.pk}", f"organisation-{other_org.pk}"
    before = {key: freshness.current(key) for key in (a, b, freshness.DATA)}
    {
        "plan saved": lambda: ActionPlan.objects.get(pk=plan.pk).save(),
        # Written without the plan object at hand: its organisation is looked up.
        "update written": lambda: Update.objects.create(plan_id=plan.pk, author=staff, kind=Update.Kind.COMMENT,
                                                        note="n"),
        "grading saved": lambda: GradingFactory(organisation=org, inspection=grading_finding.inspection),
        "plan deleted": lambda: ActionPlan.objects.get(pk=plan.pk).delete(),
    }[change]()  # fmt: skip
    assert freshness.current(a) > before[a]
    assert freshness.current(freshness.DATA) > before[freshness.DATA]
    assert freshness.current(b) == before[b]


def test_the_versions_move_once_per_transaction_and_not_at_all_if_it_rolls_back(org, staff):
    from django.db import transaction

    plan = ActionPlanFactory(organisation=org, status=S.IN_PROGRESS)
    key = f"organisation-{org.pk}"
    before = freshness.current(key)
    with transaction.atomic():
        for n in range(3):
            workflow.add_comment(plan=plan, user=staff, note=f"Comment {n}.")
        assert freshness.current(key) == before  # not before the commit
    assert freshness.current(key) == before + 1

    with pytest.raises(RuntimeError), transaction.atomic():
        workflow.add_comment(plan=plan, user=staff, note="Never kept.")
        raise RuntimeError
    assert freshness.current(key) == before + 1


def test_a_transaction_that_has_written_computes_its_figures_afresh_and_keeps_none(org, staff):
    from django.db import transaction

    plan = ActionPlanFactory(organisation=org, status=S.IN_PROGRESS)
    scope = f"organisation-{org.pk}"
    compute, calls = counting("figures")
    kept = freshness.cached(scope, "k", compute)
    with pytest.raises(RuntimeError), transaction.atomic():
        workflow.add_comment(plan=plan, user=staff, note="Rolled back.")
        # Inside the transaction, figures include its own rows, which no one else sees yet.
        assert freshness.cached(scope, "k", compute) != kept
        raise RuntimeError
    # Nothing it computed was kept: the others still get the figures of the committed data.
    assert freshness.cached(scope, "k", compute) == kept
    assert len(calls) == 2
