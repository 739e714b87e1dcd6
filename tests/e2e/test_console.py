"""Pages outside the tours also run without JavaScript errors or CSP violations under the production CSP.

The tours (tour.py) check every main page for each role; this covers the API documentation (Swagger
UI, served from drf-spectacular-sidecar) and the Django admin, which bring scripts of their own.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e


def test_api_docs_and_admin_pages_have_no_console_errors(demo, new_page, problems):
    page = new_page("admin")

    page.goto("/api/docs/")
    # Swagger UI renders only after its scripts ran and fetched the schema.
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Recommendation Tracker API")
    expect(page.locator(".swagger-ui .opblock").first).to_be_visible()
    assert problems.take() == []

    plan = demo.plan("AFI1", "surrey")
    for path in (
        "/admin/",
        "/admin/tracker/actionplan/",
        f"/admin/tracker/actionplan/{plan.pk}/change/",
        "/admin/inspections/finding/add/",
    ):
        response = page.goto(path)
        assert response.status == 200, path
        expect(page.locator("#content")).to_be_visible()
        assert problems.take() == [], path
