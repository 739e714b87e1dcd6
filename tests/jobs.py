"""Running queued jobs in tests: the worker of django-tasks-db, in this process or as real processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from unittest import mock
from urllib.parse import quote

from django.db import connection
from django_tasks_db.management.commands.db_worker import Worker

ROOT = Path(__file__).resolve().parent.parent


def run_worker(worker_id: str = "test-worker") -> None:
    """Run every queued task, then return: `manage.py db_worker --batch`'s loop, in this process.

    The worker closes the connection between tasks (as requests do), which inside a test's transaction
    would end the test's own: here the test's connection is kept. Tests about worker processes use
    `worker_process`.
    """
    worker = Worker(
        queue_names=["default"], interval=0, batch=True, backend_name="default", startup_delay=False,
        max_tasks=None, worker_id=worker_id, excluded_queue_names=[],
    )  # fmt: skip
    with mock.patch("django_tasks_db.management.commands.db_worker.close_old_connections"):
        worker.run()


def database_url() -> str:
    """The URL of the database this test runs on (PostgreSQL: the test database pytest-django made)."""
    settings = connection.settings_dict
    assert connection.vendor == "postgresql", "worker processes need a database they can share"
    user = quote(settings["USER"] or "postgres")
    password = f":{quote(settings['PASSWORD'])}" if settings["PASSWORD"] else ""
    host = settings["HOST"] or "127.0.0.1"
    port = settings["PORT"] or "5432"
    return f"postgres://{user}{password}@{host}:{port}/{settings['NAME']}"


def worker_process(worker_id: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """`manage.py db_worker` as a process of its own on this test's (PostgreSQL) database."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST_"))}
    environment.update(DATABASE_URL=database_url(), REDIS_URL="", **(env or {}))
    return subprocess.Popen(
        [sys.executable, "manage.py", "db_worker", "--worker-id", worker_id, "--no-reload", "--interval", "0.05",
         "--no-startup-delay", *args],
        cwd=ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
