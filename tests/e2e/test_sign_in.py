"""Single sign-on in a real browser: Chromium goes from the tracker to the real OpenID Connect provider
(tests/oidc/provider.mjs), signs in on the provider's own page, and comes back signed in, with the
authorisation code flow and PKCE. Then sign-out ends both sessions.

The browser reaches the tracker at 127.0.0.1, the loopback address whose redirect URI the provider knows.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Page, expect

from tests.oidc.fixtures import OidcProvider, map_test_groups
from tracker.models import ActionPlan, User

pytestmark = pytest.mark.e2e


@pytest.fixture
def sso_demo(demo: Any, oidc_provider: OidcProvider, live_server: Any) -> tuple[Any, OidcProvider, str]:
    map_test_groups(surrey=demo.organisation("surrey"), hampshire=demo.organisation("hampshire"))
    return demo, oidc_provider, live_server.url.replace("localhost", "127.0.0.1")


def sign_in_with_provider(page: Page, tracker: str, provider: OidcProvider, username: str) -> dict[str, list[str]]:
    """From the tracker's sign-in page through the provider's; returns the authorisation request's query."""
    page.goto(f"{tracker}/accounts/login/")
    with page.expect_request(re.compile(re.escape(provider.issuer) + r"/auth\?")) as authorize:
        page.get_by_role("link", name="Sign in with the test provider").click()
    expect(page.get_by_role("heading", name="Test identity provider")).to_be_visible()
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(provider.password(username))
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{tracker}/")
    return parse_qs(urlsplit(authorize.value.url).query)


@pytest.mark.parametrize(
    ("username", "organisation", "role", "navigation"),
    [
        ("sam.surrey", "surrey", User.Role.STAFF, "Sam Okafor"),
        ("helen.hampshire", "hampshire", User.Role.MANAGER, "Helen Marsh"),
        ("ian.inspector", None, User.Role.INSPECTOR, "Ian Reid"),
    ],
)
def test_people_sign_in_through_the_providers_page_and_get_their_organisation_and_role(
    sso_demo, new_page, username, organisation, role, navigation
):
    demo, provider, tracker = sso_demo
    page = new_page()
    request = sign_in_with_provider(page, tracker, provider, username)

    assert request["response_type"] == ["code"] and request["code_challenge_method"] == ["S256"]
    expect(page.get_by_role("link", name=re.compile(re.escape(navigation)))).to_be_visible()
    user = User.objects.get(username=username)
    assert (getattr(user.organisation, "slug", None), user.role) == (organisation, role)
    # What they see is their organisation's (or, for the inspector, everyone's).
    page.goto(f"{tracker}/plans/")
    rows = page.locator("table tbody tr")
    expect(rows.first).to_be_visible()
    elsewhere = ActionPlan.objects.exclude(organisation__slug=organisation or "surrey").first()
    expected = 200 if organisation is None else 404
    assert page.goto(f"{tracker}/plans/{elsewhere.pk}/").status == expected


def test_a_refused_person_sees_why_in_the_browser(sso_demo, new_page):
    _, provider, tracker = sso_demo
    page = new_page()
    page.goto(f"{tracker}/accounts/login/")
    page.get_by_role("link", name="Sign in with the test provider").click()
    page.get_by_label("Username").fill("una.unmapped")
    page.get_by_label("Password").fill(provider.password("una.unmapped"))
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="You could not be signed in")).to_be_visible()
    expect(page.get_by_text("not in any group that has access")).to_be_visible()


def test_signing_out_ends_the_trackers_and_the_providers_session(sso_demo, new_page):
    _, provider, tracker = sso_demo
    page = new_page()
    sign_in_with_provider(page, tracker, provider, "sam.surrey")
    page.get_by_role("button", name="Sign out").click()
    # The provider's own page asks to confirm, then sends the browser back to the tracker's sign-in.
    expect(page).to_have_url(re.compile(re.escape(provider.issuer) + "/session/end"))
    page.get_by_role("button", name=re.compile("Yes, sign me out", re.I)).click()
    expect(page).to_have_url(f"{tracker}/accounts/login/")
    page.goto(f"{tracker}/")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    # The provider asks for the password again: its session ended too.
    page.get_by_role("link", name="Sign in with the test provider").click()
    expect(page.get_by_label("Password")).to_be_visible()


def test_the_sign_in_pages_have_no_wcag_violations(sso_demo, new_page, settings, problems):
    from axe_playwright_python.sync_playwright import Axe

    from tests.e2e.test_accessibility import AXE_OPTIONS, describe

    _, _, tracker = sso_demo
    axe = Axe()
    page = new_page()
    failures = {}
    page.goto(f"{tracker}/accounts/login/")
    failures["sign-in with the provider and a password"] = describe(
        axe.run(page, options=AXE_OPTIONS).response["violations"]
    )
    settings.LOCAL_SIGN_IN = False
    page.goto(f"{tracker}/accounts/login/")
    page.get_by_text("Administrator sign-in (break-glass)").click()
    expect(page.get_by_label("Password")).to_be_visible()
    failures["sign-in, passwords for administrators only"] = describe(
        axe.run(page, options=AXE_OPTIONS).response["violations"]
    )
    page.goto(f"{tracker}/accounts/oidc/callback/?error=access_denied&state=x")
    expect(page.get_by_role("heading", name="You could not be signed in")).to_be_visible()
    failures["sign-in refused"] = describe(axe.run(page, options=AXE_OPTIONS).response["violations"])
    failures = {name: lines for name, lines in failures.items() if lines}
    assert not failures, failures
