"""The three contradictions found in the demo: each figure is in one stage, and stages add up."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import call_command

from tracker.models import ActionPlan, Update, User

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(db, client):
    call_command("seed_demo", password="a-demo-password-for-tests", stdout=io.StringIO())
    return client


def login(client, username):
    client.force_login(User.objects.get(username=username))


def test_the_surrey_board_pack_counts_each_plan_once(demo):
    login(demo, "surrey.manager")
    summary = demo.get("/organisations/surrey/board-pack/").context["summary"]
    total = ActionPlan.objects.filter(organisation__slug="surrey").count()
    assert summary["total"] == total
    assert sum(stage["count"] for stage in summary["stages"]) == total
    assert summary["reported"] == summary["awaiting_verification"] + summary["verified"]
    assert summary["overdue"] <= summary["with_force"]
    body = demo.get("/organisations/surrey/board-pack/").content.decode()
    assert " open" not in body.split('id="summary-heading"')[1].split("</section>")[0]


def test_kents_no_further_action_plan_is_counted_as_ended(demo):
    kent = ActionPlan.objects.filter(organisation__slug="kent", finding__inspection__slug="south-east-soc-2024")
    assert list(kent.values_list("status", flat=True)) == [ActionPlan.Status.NO_FURTHER_ACTION]
    login(demo, "inspector")
    response = demo.get("/dashboard/")
    row = next(r for r in response.context["matrix"] if r["slug"] == "kent")
    column = [i["slug"] for i in response.context["recent"]].index("south-east-soc-2024")
    cell = row["cells"][column]
    assert cell["total"] == 1
    assert {s["value"]: s["count"] for s in cell["stages"]} == {
        "with_force": 0, "awaiting_verification": 0, "verified": 0, "ended": 1,
    }  # fmt: skip
    body = response.content.decode()
    assert re.search(r'stage=ended">1</a> ended without completion', body.replace("&amp;", "&"))


def test_untouched_demo_plans_were_last_changed_when_they_were_opened(demo):
    # The 2024 inspection and its revisit (the follow-up report is imported on the day the demo is loaded).
    demo_plans = ActionPlan.objects.filter(
        finding__inspection__slug__in=["south-east-soc-2024", "south-east-soc-revisit-2025"]
    )
    untouched = demo_plans.exclude(pk__in=Update.objects.values("plan_id"))
    assert untouched.exists()
    for plan in untouched:
        assert plan.updated_at == plan.created_at, plan
        assert plan.updated_at.date() == plan.finding.inspection.published_on
    touched = demo_plans.filter(pk__in=Update.objects.values("plan_id"))
    for plan in touched:
        assert plan.updated_at == plan.updates.order_by("-created_at").first().created_at
