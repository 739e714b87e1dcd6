"""`manage.py benchmark_writes` on a little load data (PostgreSQL): every phase writes and is timed."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from devdata import write_benchmark
from tracker.models import Update

pytestmark = [
    pytest.mark.postgres,
    # The import and the clients run in processes of their own: they must see committed load data.
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the write benchmark runs on PostgreSQL"),
]


def test_the_write_benchmark_times_one_organisations_writes_quiet_and_loaded(tmp_path, settings, monkeypatch):
    settings.ALLOWED_HOSTS = ["testserver"]
    # The other processes use the test database too.
    monkeypatch.setenv("DATABASE_URL", _url())
    monkeypatch.setattr(write_benchmark, "PACE", 0.01)
    call_command(
        "generate_load_data", "--organisations", "6", "--inspections", "2", "--findings", "10",
        "--updates-per-plan", "1", verbosity=0,
    )  # fmt: skip
    before = Update.objects.count()
    out = io.StringIO()
    call_command("benchmark_writes", "--writes", "3", "--findings", "30", "--clients", "2",
                 "--json", tmp_path / "w.json", stdout=out)  # fmt: skip
    result = write_benchmark.WriteResult.from_json((tmp_path / "w.json").read_text())
    assert [phase.name for phase in result.phases] == ["quiet", "import", "processor", "clients", "quiet again"]
    for phase in result.phases:
        assert phase.writes >= (3 if phase.name != "import" else 1)
        assert phase.p95_ms >= phase.p50_ms > 0
    assert "import of 30 findings" in result.phases[1].background
    assert "2 clients in other organisations" in result.phases[3].background
    assert Update.objects.count() > before + 3 * 3  # the measured comments and the clients' writes
    assert "p95 / quiet p95" in out.getvalue()
    assert json.loads((tmp_path / "w.json").read_text())["clients"] == 2


def test_the_write_benchmark_needs_enough_organisations(db):
    with pytest.raises(CommandError, match="generate_load_data"):
        call_command("benchmark_writes", "--writes", "1", stdout=io.StringIO())


def _url() -> str:
    params = connection.settings_dict
    return f"postgres://{params['USER']}@{params['HOST']}:{params['PORT']}/{params['NAME']}"
