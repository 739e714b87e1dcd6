"""WCAG 2.2 AA in a real browser: axe-core on every main page for every role, with no violations."""

from __future__ import annotations

import pytest
from axe_playwright_python.sync_playwright import Axe

from tests.e2e.tour import ROLES, visit_all

pytestmark = pytest.mark.e2e

# The WCAG 2.0, 2.1 and 2.2 level A and AA rules of axe-core (its rule tags).
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
AXE_OPTIONS = {"runOnly": {"type": "tag", "values": WCAG_TAGS}, "resultTypes": ["violations"]}
# axe-core no longer reports duplicate ids under the WCAG tags, but a label's `for` then names the
# wrong field (e.g. two forms on one page, each with an "owner").
DUPLICATE_IDS = """() => {
  const seen = new Map();
  for (const el of document.querySelectorAll("[id]")) seen.set(el.id, (seen.get(el.id) || 0) + 1);
  return [...seen].filter(([, n]) => n > 1).map(([id, n]) => `duplicate id "${id}" (${n} elements)`);
}"""
# Status and RAG are never told by colour alone: every badge says it in words.
WORDLESS_BADGES = """() => [...document.querySelectorAll(".rag, .status, .grade")]
  .filter((badge) => !badge.textContent.trim())
  .map((badge) => `badge without words: ${badge.outerHTML}`)"""


def describe(violations: list[dict]) -> list[str]:
    lines = []
    for violation in violations:
        for node in violation["nodes"]:
            lines.append(f"{violation['id']} ({violation['impact']}): {node['target']} {node['failureSummary']}")
    return lines


@pytest.mark.parametrize("role", ROLES)
def test_every_page_has_no_wcag_violations(role, demo, new_page, problems):
    axe = Axe()
    page = new_page(ROLES[role])

    def check(page, stop):
        found = describe(axe.run(page, options=AXE_OPTIONS).response["violations"])
        return found + page.evaluate(DUPLICATE_IDS) + page.evaluate(WORDLESS_BADGES) + problems.take()

    failures = visit_all(page, demo, role, check)
    assert not failures, "\n".join(f"{name}:\n  " + "\n  ".join(lines) for name, lines in failures.items())
