"""Simultaneous workflow calls on one plan (PostgreSQL): the row lock lets exactly one change through.

SQLite serialises writers for the whole database, so there is no race to test there.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import Client

from tests.factories import (
    ActionPlanFactory,
    FindingFactory,
    InspectionFactory,
    InspectorFactory,
    ManagerFactory,
    OrganisationFactory,
    StaffFactory,
)
from tracker import workflow
from tracker.models import ActionPlan, Update, User
from tracker.workflow import StaleVersion

S = ActionPlan.Status
THREADS = 5

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="needs PostgreSQL: SQLite serialises writers, so there is no race"
    ),
]


def run_at_once(users: list[User], plan_pk: int, call: Callable[[ActionPlan, User], Update]) -> list[object]:
    """Call `call` from one thread per user, released together; return each result or exception."""
    barrier = threading.Barrier(len(users))
    results: list[object] = [None] * len(users)

    def work(index: int) -> None:
        try:
            plan = ActionPlan.objects.get(pk=plan_pk)  # each thread reads the plan as its form would show it
            barrier.wait(timeout=30)
            results[index] = call(plan, users[index])
        except BaseException as error:  # examined by the test
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(index,)) for index in range(len(users))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return results


def split(results: list[object]) -> tuple[list[Update], list[BaseException]]:
    accepted = [result for result in results if isinstance(result, Update)]
    refused = [result for result in results if not isinstance(result, Update)]
    assert len(accepted) + len(refused) == len(results)
    return accepted, refused


@pytest.mark.parametrize(
    ("status", "service", "argument", "make_user", "status_to"),
    [
        (S.SUBMITTED, workflow.sign_off, "comment", ManagerFactory, S.SIGNED_OFF),
        (S.SUBMITTED, workflow.return_submission, "comment", ManagerFactory, S.IN_PROGRESS),
        (S.IN_PROGRESS, workflow.mark_blocked, "note", StaffFactory, S.BLOCKED),
        (S.SIGNED_OFF, workflow.close, "comment", InspectorFactory, S.CLOSED),
    ],
    ids=["sign_off", "return_submission", "mark_blocked", "close"],
)
def test_of_simultaneous_transitions_exactly_one_wins(status, service, argument, make_user, status_to):
    plan = ActionPlanFactory(status=status)
    people = [
        make_user() if make_user is InspectorFactory else make_user(organisation=plan.organisation)
        for _ in range(THREADS)
    ]

    results = run_at_once(people, plan.pk, lambda p, user: service(plan=p, user=user, **{argument: f"By {user}."}))

    accepted, refused = split(results)
    assert len(accepted) == 1, results
    assert len(refused) == THREADS - 1
    for error in refused:
        assert isinstance(error, ValidationError) and not isinstance(error, StaleVersion), repr(error)
    plan.refresh_from_db()
    assert plan.status == status_to
    assert plan.version == 1 + len(accepted)
    assert list(Update.objects.filter(plan=plan)) == accepted
    assert accepted[0].status_from == status


def test_of_simultaneous_edits_of_one_version_exactly_one_wins_and_the_rest_are_stale():
    plan = ActionPlanFactory(status=S.IN_PROGRESS, percent_complete=10)
    people = [StaffFactory(organisation=plan.organisation) for _ in range(THREADS)]
    percents = {person.pk: 20 + index for index, person in enumerate(people)}

    results = run_at_once(
        people,
        plan.pk,
        lambda p, user: workflow.record_progress(
            plan=p, user=user, note=f"By {user}.", percent_complete=percents[user.pk], expected_version=1
        ),
    )

    accepted, refused = split(results)
    assert len(accepted) == 1, results
    assert all(isinstance(error, StaleVersion) for error in refused), results
    winner = accepted[0]
    for error in refused:
        assert str(winner.author) in error.messages[0]
    plan.refresh_from_db()
    assert (plan.version, plan.percent_complete) == (2, percents[winner.author_id])
    assert list(Update.objects.filter(plan=plan)) == [winner]


def test_simultaneous_edits_without_a_version_are_all_kept():
    plan = ActionPlanFactory(status=S.IN_PROGRESS, percent_complete=10)
    people = [StaffFactory(organisation=plan.organisation) for _ in range(THREADS)]

    results = run_at_once(
        people, plan.pk, lambda p, user: workflow.record_progress(plan=p, user=user, note=f"By {user}.")
    )

    accepted, refused = split(results)
    assert refused == []
    plan.refresh_from_db()
    assert plan.version == 1 + THREADS
    assert set(Update.objects.filter(plan=plan)) == set(accepted)
    assert {update.author for update in accepted} == set(people)


def test_a_transition_racing_a_progress_note_either_wins_or_is_refused_cleanly():
    plan = ActionPlanFactory(status=S.IN_PROGRESS)
    staff = [StaffFactory(organisation=plan.organisation) for _ in range(THREADS)]
    blocker = staff[0]

    def call(p: ActionPlan, user: User) -> Update:
        if user == blocker:
            return workflow.mark_blocked(plan=p, user=user, note="Waiting on vetting.", expected_version=1)
        return workflow.record_progress(plan=p, user=user, note="Progress.", expected_version=1)

    results = run_at_once(staff, plan.pk, call)

    accepted, refused = split(results)
    assert len(accepted) == 1, results
    assert all(isinstance(error, StaleVersion) for error in refused), results
    plan.refresh_from_db()
    assert plan.version == 2
    assert plan.status == (S.BLOCKED if accepted[0].author == blocker else S.IN_PROGRESS)
    assert list(Update.objects.filter(plan=plan)) == accepted


def test_publishing_the_same_inspection_twice_at_once_opens_each_plan_once():
    inspection = InspectionFactory()
    organisations = [OrganisationFactory() for _ in range(3)]
    for reference in ("CoC1", "R1", "R2", "AFI1"):
        FindingFactory(inspection=inspection, reference=reference).addressed_to.set(organisations)
    barrier = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def publish() -> None:
        try:
            barrier.wait(timeout=30)
            workflow.publish_inspection(inspection=inspection)
        except BaseException as error:  # examined below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=publish) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert ActionPlan.objects.filter(finding__inspection=inspection).count() == 4 * len(organisations)
    assert workflow.publish_inspection(inspection=inspection) == 0


def test_a_managers_sign_off_racing_an_inspectors_decision_lets_exactly_one_through():
    plan = ActionPlanFactory(status=S.SUBMITTED)
    managers = [ManagerFactory(organisation=plan.organisation) for _ in range(2)]
    inspectors = [InspectorFactory() for _ in range(2)]

    def call(p: ActionPlan, user: User) -> Update:
        if user.is_inspector:
            return workflow.no_further_action(plan=p, user=user, comment="Overtaken.", expected_version=1)
        return workflow.sign_off(plan=p, user=user, comment="Agreed.", expected_version=1)

    results = run_at_once(managers + inspectors, plan.pk, call)

    accepted, refused = split(results)
    assert len(accepted) == 1, results
    assert all(isinstance(error, StaleVersion) for error in refused), results
    plan.refresh_from_db()
    assert plan.status == accepted[0].status_to and plan.version == 2
    assert list(Update.objects.filter(plan=plan)) == accepted


def test_simultaneous_form_posts_give_one_success_and_a_clear_conflict_to_the_rest():
    plan = ActionPlanFactory(status=S.IN_PROGRESS)
    people = [StaffFactory(organisation=plan.organisation) for _ in range(THREADS)]
    barrier = threading.Barrier(THREADS)
    responses: list[object] = [None] * THREADS

    def post(index: int) -> None:
        try:
            client = Client()
            client.force_login(people[index])
            barrier.wait(timeout=30)
            responses[index] = client.post(
                f"/plans/{plan.pk}/progress/",
                {"progress-version": 1, "progress-note": f"Note {index}", "progress-percent_complete": 30 + index},
            )
        except BaseException as error:  # examined below
            responses[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=post, args=(index,)) for index in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    statuses = sorted(getattr(r, "status_code", repr(r)) for r in responses)
    assert statuses == [302] + [409] * (THREADS - 1), statuses
    for response in responses:
        if response.status_code == 409:
            assert "This plan was changed by" in response.content.decode()
    assert Update.objects.filter(plan=plan).count() == 1
    plan.refresh_from_db()
    assert plan.version == 2
