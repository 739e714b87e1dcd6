"""Small faults found by trying the demo: the demo beside a real import, where `make run` serves, the
discussion box's label, and the label of an empty progress bar."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pytest
from django.core.management import call_command

from inspections.models import Organisation, Theme
from tests.factories import ActionPlanFactory
from tracker.models import ActionPlan, Update

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def test_the_demo_reuses_organisations_and_themes_an_import_created_under_other_slugs(tmp_path):
    findings = tmp_path / "findings.csv"
    findings.write_text(
        "inspection,inspection_slug,published_on,reference,kind,text,addressed_to,themes\n"
        "Real report,real-report,2026-01-10,R1,recommendation,Refresh the profile.,"
        "Surrey Police;Kent Police,Intelligence\n"
    )
    call_command("import_findings", str(findings), "--create-organisations", "--publish", stdout=io.StringIO())
    imported = Organisation.objects.get(name="Surrey Police")
    assert imported.slug != "surrey"  # created from the name

    call_command("seed_demo", password="a-demo-password-for-tests", stdout=io.StringIO())

    assert Organisation.objects.filter(name="Surrey Police").count() == 1
    assert ActionPlan.objects.filter(organisation=imported, finding__inspection__slug="south-east-soc-2024").exists()
    assert Theme.objects.filter(name__iexact="Intelligence").count() == 1
    # and again: nothing more
    call_command("seed_demo", password="a-demo-password-for-tests", stdout=io.StringIO())
    assert Organisation.objects.filter(name="Surrey Police").count() == 1


@pytest.mark.parametrize(("host", "port"), [("127.0.0.1", "8000"), ("0.0.0.0", "8123")])
def test_make_run_sets_site_url_to_the_address_it_serves_on(host, port):
    args = ["make", "-n", "run", f"HOST={host}", f"PORT={port}"]
    commands = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    serve = next(line for line in commands.splitlines() if "scripts/serve.py" in line)
    assert serve.rstrip().endswith(f"scripts/serve.py {host}:{port}")
    assert f"SITE_URL=http://{host}:{port}" in serve
    assert f"SITE_URL=http://{host}:{port}" in commands


def test_the_optional_discussion_box_has_no_required_mark_and_refuses_an_empty_comment(client, plan, staff):
    client.force_login(staff)
    page = client.get(f"/plans/{plan.pk}/").content.decode()
    label = page.split('for="id_comment-note"')[1].split("</label>")[0]
    assert "*" not in label and "asteriskField" not in label
    before = Update.objects.filter(plan=plan).count()
    response = client.post(f"/plans/{plan.pk}/comment/", {"comment-note": "   "})
    assert response.status_code == 400
    assert "Write a comment before sending it." in response.content.decode()
    assert Update.objects.filter(plan=plan).count() == before


def test_an_empty_progress_bar_shows_its_figure_beside_the_bar(client, org, manager):
    ActionPlanFactory(organisation=org, finding__inspection__slug="empty", status=ActionPlan.Status.IN_PROGRESS)
    client.force_login(manager)
    body = client.get("/inspections/empty/").content.decode()
    bar = body.split('class="progress-bar pct-0"')[1].split("</div>")[0]
    assert "0%" not in bar  # nothing written in white on an empty bar
    assert "(0%)" in body.split('class="progress-bar pct-0"')[1].split("</td>")[0]
    plan_page = client.get(f"/plans/{ActionPlan.objects.get().pk}/").content.decode()
    assert 'pct-20"></div></div><span class="small">20%</span>' in plan_page
