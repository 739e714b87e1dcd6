"""`manage.py benchmark` on a little load data: every page answers, the table has every figure."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.db import connection

from devdata import benchmark

pytestmark = pytest.mark.django_db


@pytest.fixture
def load_data():
    call_command(
        "generate_load_data", "--organisations", "12", "--inspections", "6", "--findings", "40",
        "--updates-per-plan", "3", verbosity=0,
    )  # fmt: skip


def test_the_benchmark_measures_every_page_the_admin_and_the_floor(load_data, tmp_path):
    out = io.StringIO()
    call_command("benchmark", "--requests", "2", "--warmup", "1", "--scale", "tiny", "--json", tmp_path / "r.json",
                 stdout=out)  # fmt: skip
    table = out.getvalue()
    result = benchmark.Result.from_json((tmp_path / "r.json").read_text())
    names = [row.name for row in result.rows]
    for page in ("/plans/", "/plans/ q=analysts", "/plans/ page 200", "/dashboard/ as manager",
                 "/dashboard/ as inspector", "/inspections/<slug>/", "/api/v1/plans/"):  # fmt: skip
        assert page in names
    assert any(name.startswith("/plans/<id>/ (50 updates)") for name in names)
    assert any(name.startswith("/findings/<id>/") for name in names)
    for row in result.rows:
        assert row.page.status == 200 and row.page.p95_ms >= row.page.p50_ms > 0
        # A plan's page reads its milestones, success measures, open proposal of no action and dependency with one
        # query each (constant in their number: tests/tracker/test_measures.py and the others), and for whoever may
        # block it, the plans it may wait on (the block form's plan picker); every other page 12.
        assert row.page.queries <= (14 if row.name.startswith("/plans/<id>/") else 12), row
        if row.admin:
            assert row.admin.status == 200
        assert f"| {row.name} |" in table
    assert result.floor.queries <= 3
    assert result.export["lines"] == result.counts["plans"] and result.export["seconds"] > 0
    assert "page/admin (p95)" in table and "page/floor (p95)" in table
    assert json.loads((tmp_path / "r.json").read_text())["scale"] == "tiny"


def test_the_growth_table_compares_each_page_across_scales(load_data, tmp_path):
    small = benchmark.run(database="sqlite", scale="small", requests=2, warmup=0, export=False, log=lambda _: None)
    large = benchmark.Result.from_json(small.to_json())
    large.scale = "national"
    for row in large.rows:
        row.page.p95_ms *= 2
    text = benchmark.growth_table([small, large])
    assert "growth from small" in text
    assert "| /plans/ |" in text and "| 2.0x |" in text


def test_the_benchmark_refuses_an_empty_database():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="generate_load_data"):
        call_command("benchmark", "--requests", "1", stdout=io.StringIO())


def test_uncached_timings_compute_every_figure_from_the_database(load_data, tmp_path):
    out = io.StringIO()
    call_command("benchmark", "--requests", "2", "--warmup", "1", "--no-export", "--only", "/dashboard/",
                 "--uncached", "--json", tmp_path / "r.json", stdout=out)  # fmt: skip
    result = benchmark.Result.from_json((tmp_path / "r.json").read_text())
    assert result.rows
    for row in result.rows:
        assert row.uncached is not None and row.uncached.status == 200
        # The dashboard's figures are computed again: more queries than when they come from the cache.
        assert row.uncached.queries > row.page.queries, row
    assert "uncached p95" in out.getvalue()


def test_every_timing_has_its_processor_time_and_the_load_average(load_data, tmp_path):
    out = io.StringIO()
    call_command("benchmark", "--requests", "3", "--warmup", "0", "--no-export", "--only", "/plans/",
                 "--uncached", "--json", tmp_path / "r.json", stdout=out)  # fmt: skip
    result = benchmark.Result.from_json((tmp_path / "r.json").read_text())
    assert result.rows and result.processor
    for timing in [result.floor, *(t for row in result.rows for t in (row.page, row.uncached))]:
        assert timing is not None
        # A request costs some processor time, and (in this process) never more than the time it took.
        assert 0 < timing.cpu_p50_ms <= timing.cpu_p95_ms
        assert timing.cpu_p50_ms <= timing.p50_ms * 1.05 + 1
        assert timing.load_start >= 0 and timing.load_end >= 0
    assert "| cpu p50 | cpu p95 |" in out.getvalue() and "uncached cpu p95" in out.getvalue()
    assert f"cpu: processor time per request ({result.processor})" in out.getvalue()


def test_the_processor_clock_counts_the_work_done_between_its_readings():
    clock = benchmark.ProcessorClock()
    started = clock.start()
    total = sum(n * n for n in range(300_000))  # some work for this process
    assert total > 0
    assert clock.elapsed(started) > 0.001


def test_targets_measure_only_the_rows_with_a_target_uncached(load_data, tmp_path):
    out = io.StringIO()
    call_command("benchmark", "--targets", "--requests", "2", "--warmup", "0", "--json", tmp_path / "t.json",
                 stdout=out)  # fmt: skip
    result = benchmark.Result.from_json((tmp_path / "t.json").read_text())
    names = [row.name for row in result.rows]
    assert names[0] == "/plans/" and "/dashboard/ as inspector" in names
    assert "/dashboard/ as inspector, one organisation" in names and "/search/ q=analysts" in names
    assert any(name.startswith("/plans/<id>/") for name in names)
    assert "/plans/ page 200" not in names and "/inspections/<slug>/" not in names  # no target
    assert len(names) == len(benchmark.TARGETS)
    for row in result.rows:
        assert row.uncached is not None and row.admin is None and row.uncached.status == 200
    table = out.getvalue()
    vendor = connection.vendor  # the rows name the database they were measured on, with its search target
    search_target = {"sqlite": "| 200 |", "postgresql": "| 100 |"}[vendor]
    assert f"| {vendor} | /plans/ |" in table and "| 50 |" in table and search_target in table
    assert f"| {vendor} | floor (trivial logged-in view) |" in table


def test_only_narrows_the_targets_to_the_rows_named(load_data, tmp_path):
    call_command("benchmark", "--targets", "--only", "/dashboard/ as inspector", "--requests", "1", "--warmup", "0",
                 "--json", tmp_path / "t.json", stdout=io.StringIO())  # fmt: skip
    result = benchmark.Result.from_json((tmp_path / "t.json").read_text())
    assert [row.name for row in result.rows] == [
        "/dashboard/ as inspector",
        "/dashboard/ as inspector, one organisation",
    ]
