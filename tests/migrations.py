"""A data migration tested from the state before it: `migrating(before, after)` takes the database back to
`before` and gives the models as they were then; `forward()` applies the migrations up to `after` and gives
the models as they are there (later migrations add columns the tables do not have yet). The database is
always migrated to the latest state again at the end, whatever the test did."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.apps.registry import Apps
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

Targets = list[tuple[str, str]]


@dataclass
class Migrating:
    before: Apps
    after_targets: Targets

    def forward(self) -> Apps:
        executor = MigrationExecutor(connection)
        executor.migrate(self.after_targets)
        return executor.loader.project_state(self.after_targets).apps


@contextmanager
def migrating(before: Targets, after: Targets) -> Iterator[Migrating]:
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    try:
        yield Migrating(before=executor.loader.project_state(before).apps, after_targets=after)
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
