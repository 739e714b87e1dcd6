"""The two-servers load check, short: 10 clients for 10 seconds through two gunicorn instances.

`make loadcheck` runs the full one (50 clients, 60 seconds); docs/SECURITY.md has its figures.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL: two servers share one database"),
]


def test_two_servers_on_one_database_lose_no_update_and_give_no_server_error(tmp_path):
    # A database of its own, named after the one the suite runs on, so parallel checkouts do not collide.
    parts = urlsplit(os.environ["DATABASE_URL"])
    url = parts._replace(path=parts.path.rstrip("/") + "_loadcheck").geturl()
    figures_file = tmp_path / "figures.json"

    result = subprocess.run(
        [sys.executable, "scripts/two_servers.py", "--clients", "10", "--duration", "10", "--database-url", url,
         "--json", str(figures_file)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    figures = json.loads(figures_file.read_text())
    assert figures["server_errors_5xx"] == 0
    assert figures["writes_accepted"] > 0
    assert figures["updates_in_database"] == figures["writes_accepted"]
    assert figures["updates_lost"] == 0 and figures["updates_unexpected"] == 0
    assert set(figures["by_server"]) == {"0", "1"}  # both servers answered
