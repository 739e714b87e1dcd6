"""A write in one organisation never waits on another organisation's open transaction (PostgreSQL).

Cached figures are kept under data versions (tracker/freshness.py). Each write used to move one shared
version row inside its transaction and hold that row's lock until commit, so a comment in one force
waited for as long as any other force's write, or an import of findings, was still open. The versions
now move once per transaction, after it commits, each in a statement of its own: no write holds a
version row while it works. SQLite lets one writer at a time into the whole database, so this runs
on PostgreSQL only.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from django.db import connection, transaction

from tests.factories import ActionPlanFactory, InspectorFactory
from tracker import freshness, workflow
from tracker.models import ActionPlan, Update

S = ActionPlan.Status

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite lets one writer at a time in"),
]

# Far above what a comment takes alone (tens of milliseconds), far below a transaction left open.
LOCK_TIMEOUT_MS = 3000


def elsewhere(call: Callable[[], object]) -> tuple[BaseException | None, float]:
    """Run `call` on a connection of its own (another request), giving up on any lock after
    LOCK_TIMEOUT_MS; return what it raised, if anything, and how long it took."""
    outcome: dict[str, object] = {"error": None, "seconds": None}

    def work() -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute(f"SET lock_timeout = '{LOCK_TIMEOUT_MS}ms'")
            start = time.perf_counter()
            try:
                call()
            finally:
                outcome["seconds"] = time.perf_counter() - start
        except BaseException as error:  # examined by the test
            outcome["error"] = error
        finally:
            connection.close()

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(timeout=LOCK_TIMEOUT_MS / 1000 * 3)
    assert not thread.is_alive(), "the other organisation's write is still waiting"
    return outcome["error"], outcome["seconds"]  # type: ignore[return-value]


def import_for(tmp_path: Path, slug: str) -> None:
    from tests.tracker.test_import import finding_row, run, write_csv

    rows = [finding_row(reference=f"R{n}", addressed_to=slug) for n in range(1, 41)]
    run(write_csv(tmp_path / "findings.csv", rows), "--publish")


@pytest.fixture
def open_in_a(org, staff, tmp_path):  # type: ignore[no-untyped-def]
    """What organisation A's request has written, in a transaction it has not yet committed."""
    plan = ActionPlanFactory(organisation=org, status=S.IN_PROGRESS)
    return {
        "comment": lambda: workflow.add_comment(plan=plan, user=staff, note="Waiting for the analysts."),
        "progress": lambda: workflow.record_progress(plan=plan, user=staff, note="Profiles drafted.",
                                                     percent_complete=40),
        "blocked": lambda: workflow.mark_blocked(plan=plan, user=staff, note="No analysts until April."),
        "import": lambda: import_for(tmp_path, org.slug),
    }  # fmt: skip


@pytest.mark.parametrize("a_writes", ["comment", "progress", "blocked", "import"])
@pytest.mark.parametrize("b_writes", ["comment", "progress"])
def test_a_write_in_one_organisation_never_waits_on_another_organisations_open_transaction(
    a_writes, b_writes, open_in_a, other_org, other_staff
):
    b_plan = ActionPlanFactory(organisation=other_org, status=S.IN_PROGRESS)
    b_write = {
        "comment": lambda: workflow.add_comment(plan=b_plan, user=other_staff, note="Analysts recruited."),
        "progress": lambda: workflow.record_progress(plan=b_plan, user=other_staff, note="Half done.",
                                                     percent_complete=50),
    }[b_writes]  # fmt: skip
    if a_writes == "import":
        InspectorFactory()  # the import is run by an inspector

    with transaction.atomic():
        open_in_a[a_writes]()
        error, seconds = elsewhere(b_write)
        # Organisation A's transaction is still open here.
        assert error is None, f"organisation B's write failed while A's transaction was open: {error!r}"
        assert seconds < LOCK_TIMEOUT_MS / 1000

    assert Update.objects.filter(plan=b_plan).count() == 1


def test_the_versions_move_when_the_writes_commit_and_not_before(org, other_org, staff, other_staff):
    plan = ActionPlanFactory(organisation=org, status=S.IN_PROGRESS)
    a, b = f"organisation-{org.pk}", f"organisation-{other_org.pk}"
    before = {key: freshness.current(key) for key in (a, b, freshness.DATA)}

    def seen_elsewhere() -> dict[str, int]:
        seen: dict[str, int] = {}

        def read() -> None:
            seen.update({key: freshness.current(key) for key in (a, b, freshness.DATA)})

        error, _seconds = elsewhere(read)
        assert error is None
        return seen

    with transaction.atomic():
        workflow.add_comment(plan=plan, user=staff, note="One.")
        workflow.record_progress(plan=plan, user=staff, note="Two.", percent_complete=10)
        assert seen_elsewhere() == before  # nothing committed, nothing moved
    after = seen_elsewhere()
    # Once per transaction, and only for the organisation written to (and so for the figures of
    # those who see every organisation).
    assert after[a] == before[a] + 1
    assert after[b] == before[b]
    assert after[freshness.DATA] == before[freshness.DATA] + 1
