"""Bulk writing that syncs its own write-ahead log as it goes (PostgreSQL), so that people's writes meanwhile
do not wait to sync it.

PostgreSQL's log is one stream for every connection, and a commit waits until the log is on disk up to its
own commit record: everything any other transaction wrote before it, committed or not, is synced with it. A
findings import writes its log at about 20 MB a second (10,000 findings published to their addressees: 117
MB in one transaction); the server's log writer syncs it only every 200 ms (`wal_writer_delay`), so a
person's comment committed meanwhile synced up to 4 MB of the import's log, 10-20 ms more for that comment
on the benchmark machine's disk (docs/BENCHMARKS.md, "Writes during an import").

`syncing_log()` wraps the import's writing: after its statements, at most every `settings.LOG_SYNC_SECONDS`,
a one-statement transaction on the second connection (the `progress` alias, settings.py) moves a sequence
kept for it (`tracker_log_sync`, migration 0027: its value counts the syncs) and commits. Setting a
sequence writes to the log and gives the transaction an id, so its commit waits for the log to be synced up
to it, the import's log included: the import carries that cost, and a person's commit finds little of it
left. It changes nothing the import writes or reads, and nothing is left behind; should a sync fail (the
second connection refused, say), the import goes on without them. SQLite (one writer at a time, no second
connection) and a setting of 0 leave the import as it was.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections

logger = logging.getLogger(__name__)

SECOND_CONNECTION = "progress"  # settings.DATABASES: the same database, its own transactions
SEQUENCE = "tracker_log_sync"


class _Syncer:
    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.last = time.monotonic()
        self.syncs = 0
        self.failed = False

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:
        result = execute(sql, params, many, context)
        if not self.failed and time.monotonic() - self.last >= self.interval:
            self.sync()
        return result

    def sync(self) -> None:
        try:
            with connections[SECOND_CONNECTION].cursor() as cursor:
                # The sequence moved on by one (it counts the syncs) and set, which writes to the log; in
                # autocommit, so committed, and synced, at once.
                cursor.execute("SELECT setval(%s, nextval(%s))", [SEQUENCE, SEQUENCE])
        except DatabaseError:
            # Only a saving for others' writes: the import goes on without it (its own transaction is
            # another connection's, untouched), and the server's log writer syncs as before.
            logger.warning("The import could not sync the log through its second connection", exc_info=True)
            self.failed = True
            return
        self.last = time.monotonic()
        self.syncs += 1


@contextmanager
def syncing_log(alias: str = DEFAULT_DB_ALIAS) -> Iterator[_Syncer | None]:
    """Within the block, the statements on `alias` are followed, at most every LOG_SYNC_SECONDS, by a sync
    of the log through the second connection (yields the syncer, or None where there is none)."""
    interval = getattr(settings, "LOG_SYNC_SECONDS", 0)
    connection = connections[alias]
    if not interval or connection.vendor != "postgresql" or SECOND_CONNECTION not in connections.settings:
        yield None
        return
    syncer = _Syncer(interval)
    with connection.execute_wrapper(syncer):
        yield syncer
