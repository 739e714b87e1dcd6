"""A findings import syncs its own write-ahead log as it writes (tracker/logsync.py, PostgreSQL).

The log is one stream, and a commit waits until it is on disk up to the commit's own record: without
these syncs a person's comment committed during an import synced the import's log written since the
server's last sync, up to 4 MB (docs/BENCHMARKS.md). With them the import's statements are synced by the
import, through its second connection, while its transaction is still open.
"""

from __future__ import annotations

import pytest
from django.db import connection, connections, transaction

from tests.tracker.test_import import finding_row, write_csv
from tracker.imports import services
from tracker.logsync import SECOND_CONNECTION, SEQUENCE, syncing_log

pytestmark = [
    pytest.mark.postgres,
    # Committed for real: the second connection's syncs must commit while the first's transaction is open.
    pytest.mark.django_db(transaction=True, databases="__all__"),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite has one writer and no second connection"),
]


def syncs_so_far() -> int:
    with connections[SECOND_CONNECTION].cursor() as cursor:
        cursor.execute(f"SELECT last_value, is_called FROM {SEQUENCE}")
        value, called = cursor.fetchone()
    return value if called else 0


def flushed_past(position: str) -> bool:
    """Whether the log is on disk up to `position`, asked on the second connection."""
    with connections[SECOND_CONNECTION].cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_flush_lsn() >= %s::pg_lsn", [position])
        return cursor.fetchone()[0]


@pytest.fixture
def probe():
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE log_sync_probe (id serial PRIMARY KEY, body text)")
    yield
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE log_sync_probe")


def write_probe_rows() -> str:
    """Insert rows in the open transaction; the log's position after the last one's."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO log_sync_probe (body) SELECT repeat('x', 400) FROM generate_series(1, 3000) "
            "RETURNING pg_current_wal_insert_lsn()::text"
        )
        return cursor.fetchall()[-1][0]


def test_a_statement_in_an_open_transaction_is_synced_by_the_writer_itself(settings, probe):
    settings.LOG_SYNC_SECONDS = 1e-9  # after every statement
    with transaction.atomic():  # left open, as an import's is while it writes
        with syncing_log() as syncer:
            written = write_probe_rows()
            assert flushed_past(written), "the rows just written are not yet on disk"
        assert syncer is not None and syncer.syncs == 1


def test_syncs_are_at_most_every_interval(settings, probe):
    settings.LOG_SYNC_SECONDS = 3600
    with transaction.atomic(), syncing_log() as syncer:
        write_probe_rows()
        write_probe_rows()
    assert syncer is not None and syncer.syncs == 0


def test_none_when_turned_off(settings):
    settings.LOG_SYNC_SECONDS = 0
    with syncing_log() as syncer:
        assert syncer is None


def test_an_import_syncs_its_log_while_it_writes_and_writes_the_same(settings, org, other_org, tmp_path):
    settings.LOG_SYNC_SECONDS = 1e-9
    before = syncs_so_far()
    rows = [
        finding_row(reference=f"R{n}", text=f"Forces should do thing {n}.", addressed_to="surrey; hampshire")
        for n in range(1, 41)
    ]
    data = write_csv(tmp_path / "findings.csv", rows).read_bytes()
    outcome = services.import_findings(rows=services.read_rows(name="findings.csv", data=data), publish=True)
    # Every statement of the import's writing was followed by a sync: dozens (findings, their links,
    # history, plans), each committed on the second connection while the import's was open.
    assert syncs_so_far() - before >= 10
    assert outcome.result.findings_created == 40 and outcome.result.plans_opened == 80


def test_an_import_goes_on_when_the_log_cannot_be_synced(settings, org, tmp_path, caplog):
    """The syncs are a saving for others' writes, never a reason for an import to fail."""
    settings.LOG_SYNC_SECONDS = 1e-9
    with connection.cursor() as cursor:
        cursor.execute(f"DROP SEQUENCE {SEQUENCE}")
    try:
        data = write_csv(tmp_path / "findings.csv", [finding_row(reference=f"R{n}") for n in range(1, 6)]).read_bytes()
        outcome = services.import_findings(rows=services.read_rows(name="findings.csv", data=data), publish=True)
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE SEQUENCE {SEQUENCE}")
    assert outcome.result.findings_created == 5 and outcome.result.plans_opened == 5
    assert "could not sync the log" in caplog.text
