"""Single sign-on against a real OpenID Connect provider (tests/oidc/provider.mjs, run by Node.js).

Each journey goes through the provider's own sign-in page and token endpoint; the tracker is driven
with Django's test client on http://127.0.0.1 (the redirect URI the provider knows).
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import threading
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests
import time_machine
from cryptography.hazmat.primitives.asymmetric import rsa
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.test import Client

from tests.factories import ActionPlanFactory, StaffFactory
from tests.oidc.fixtures import CALLBACK_PREFIX, TRACKER_HOST, SignInPageRefused, SsoWorld
from tests.tracker.test_admin import form_data
from tracker.models import ApiToken, SignInIdentity, User
from tracker.sso import unseal

pytestmark = pytest.mark.django_db


def tracker_client() -> Client:
    return Client(HTTP_HOST=TRACKER_HOST)


def begin(client: Client, path: str = "/accounts/oidc/login/") -> str:
    """Start a sign-in at the tracker; return the authorisation request it sends the browser to."""
    response = client.get(path)
    assert response.status_code == 302, response.content[:300]
    return response["Location"]


def sign_in(sso: SsoWorld, username: str, *, client: Client | None = None, browser: requests.Session | None = None):  # type: ignore[no-untyped-def]
    """The whole journey: tracker -> provider's sign-in page -> tracker's callback. Returns the
    client (signed in or not) and the callback's response."""
    client = client or tracker_client()
    callback = sso.provider.authorize(begin(client), username, browser=browser or requests.Session())
    assert callback.startswith(CALLBACK_PREFIX), callback
    return client, client.get(callback.removeprefix(f"http://{TRACKER_HOST}"))


def security_log(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == "tracker.security"]


# --- people from claims ------------------------------------------------------------------------


def test_a_surrey_staff_member_is_created_from_the_claims_and_signed_in(sso, caplog):
    caplog.set_level(logging.INFO, logger="tracker.security")
    client, response = sign_in(sso, "sam.surrey")

    assert response.status_code == 302 and response["Location"] == "/"
    user = User.objects.get(username="sam.surrey")
    assert (user.organisation, user.role) == (sso.surrey, User.Role.STAFF)
    assert (user.first_name, user.last_name, user.email) == ("Sam", "Okafor", "sam.okafor@surrey.example.police.uk")
    assert not user.has_usable_password()
    identity = user.sign_in_identity
    assert (identity.issuer, identity.subject) == (sso.provider.issuer, "3f6e1c2a-0001-4d1e-9a51-surrey-staff")
    assert identity.groups == ["tracker-surrey-staff", "surrey-all-staff"]
    assert client.get("/").status_code == 200
    assert any(line.startswith("login user=sam.surrey") for line in security_log(caplog))


def test_the_authorisation_request_uses_the_code_flow_with_pkce_state_and_nonce(sso):
    query = parse_qs(urlsplit(begin(tracker_client())).query)
    assert query["response_type"] == ["code"]
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    assert len(query["state"][0]) >= 32 and len(query["nonce"][0]) >= 32
    assert query["redirect_uri"] == [CALLBACK_PREFIX]
    assert set(query["scope"][0].split()) >= {"openid", "groups"}


def test_a_hampshire_manager_gets_the_highest_role_of_their_groups(sso):
    sign_in(sso, "helen.hampshire")
    user = User.objects.get(username="helen.hampshire")
    assert (user.organisation, user.role) == (sso.hampshire, User.Role.MANAGER)


def test_an_inspector_has_no_organisation(sso):
    client, _ = sign_in(sso, "ian.inspector")
    user = User.objects.get(username="ian.inspector")
    assert (user.organisation, user.role, user.sees_everything) == (None, User.Role.INSPECTOR, True)
    assert client.get("/dashboard/").status_code == 200


def test_a_second_sign_in_updates_the_same_user(sso):
    sign_in(sso, "sam.surrey")
    sso.provider.edit_user("sam.surrey", family_name="Okafor-Reid", email="sam.reid@surrey.example.police.uk")
    sign_in(sso, "sam.surrey")
    user = User.objects.get(sign_in_identity__subject="3f6e1c2a-0001-4d1e-9a51-surrey-staff")
    assert (user.last_name, user.email) == ("Okafor-Reid", "sam.reid@surrey.example.police.uk")
    assert User.objects.count() == 1


def test_an_existing_local_account_with_the_same_user_name_is_linked(sso):
    local = User.objects.create_user("sam.surrey", password="x" * 16, organisation=sso.surrey)
    plan = ActionPlanFactory(organisation=sso.surrey, owner=local)
    sign_in(sso, "sam.surrey")
    assert SignInIdentity.objects.get().user == local
    plan.refresh_from_db()
    assert plan.owner == local


def test_an_administrator_account_is_never_taken_over_by_a_provider_identity(sso, caplog):
    User.objects.create_superuser("sam.surrey", password="x" * 16)
    _, response = sign_in(sso, "sam.surrey")
    assert response.status_code == 403
    assert "already uses your user name" in response.content.decode()
    assert any("reason=username-taken" in line for line in security_log(caplog))
    assert not SignInIdentity.objects.exists()


# --- refusals ----------------------------------------------------------------------------------


def test_a_user_whose_groups_map_to_nothing_is_refused_with_a_page_and_a_log_entry(sso, caplog):
    client, response = sign_in(sso, "una.unmapped")
    assert response.status_code == 403
    page = response.content.decode()
    assert "You could not be signed in" in page and "not in any group that has access" in page
    assert not User.objects.filter(username="una.unmapped").exists()
    [line] = [line for line in security_log(caplog) if line.startswith("sso-refused")]
    assert "reason=unmapped" in line and "username=una.unmapped" in line and "groups=surrey-all-staff,finance" in line
    assert "address=127.0.0.1" in line
    assert client.get("/").status_code == 302  # not signed in


def test_a_missing_group_claim_is_refused(sso, caplog):
    _, response = sign_in(sso, "nora.nogroups")
    assert response.status_code == 403
    assert "did not say which groups you are in" in response.content.decode()
    assert any("reason=missing-groups" in line for line in security_log(caplog))
    assert not User.objects.filter(username="nora.nogroups").exists()


def test_groups_of_two_organisations_are_refused(sso, caplog):
    sso.provider.edit_user("sam.surrey", groups=["tracker-surrey-staff", "tracker-hampshire-staff"])
    _, response = sign_in(sso, "sam.surrey")
    assert response.status_code == 403
    assert any("reason=conflicting-groups" in line for line in security_log(caplog))


def test_a_group_changed_between_two_sign_ins_moves_the_user_and_ends_the_old_access_at_once(sso):
    surrey_plan = ActionPlanFactory(organisation=sso.surrey)
    hampshire_plan = ActionPlanFactory(organisation=sso.hampshire)
    first_session, _ = sign_in(sso, "sam.surrey")
    assert first_session.get(f"/plans/{surrey_plan.pk}/").status_code == 200
    owned = ActionPlanFactory(organisation=sso.surrey, owner=User.objects.get(username="sam.surrey"))

    sso.provider.edit_user("sam.surrey", groups=["tracker-hampshire-staff"])
    second_session, response = sign_in(sso, "sam.surrey")

    assert response.status_code == 302
    user = User.objects.get(username="sam.surrey")
    assert (user.organisation, user.role) == (sso.hampshire, User.Role.STAFF)
    assert second_session.get(f"/plans/{hampshire_plan.pk}/").status_code == 200
    # Both sessions, the one from before the change included, lost Surrey at once.
    assert second_session.get(f"/plans/{surrey_plan.pk}/").status_code == 404
    assert first_session.get(f"/plans/{surrey_plan.pk}/").status_code == 404
    assert user.sign_in_identity.groups == ["tracker-hampshire-staff"]
    # The Surrey plan Sam owned is released, on its timeline, with the reason.
    owned.refresh_from_db()
    assert owned.owner is None
    entry = owned.updates.order_by("-pk").first()
    assert "moved from Surrey" in entry.note and "identity provider" in entry.note


def test_a_user_taken_out_of_every_mapped_group_loses_access_plans_and_tokens(sso, caplog):
    first_session, _ = sign_in(sso, "sam.surrey")
    sam = User.objects.get(username="sam.surrey")
    plan = ActionPlanFactory(organisation=sso.surrey, owner=sam)
    _, secret = ApiToken.issue(user=sam, name="spreadsheet sync")
    manager = User.objects.create_user("surrey.manager", organisation=sso.surrey, role=User.Role.MANAGER)

    sso.provider.edit_user("sam.surrey", groups=["surrey-all-staff"])
    _, response = sign_in(sso, "sam.surrey")

    assert response.status_code == 403
    sam.refresh_from_db()
    assert not sam.is_active and sam.sign_in_identity.deactivated_by_provider
    assert first_session.get("/").status_code == 302  # the earlier session ended
    api = Client()
    assert api.get("/api/v1/plans/", headers={"Authorization": f"Token {secret}"}).status_code == 401
    manager_session = Client()
    manager_session.force_login(manager)
    unowned = manager_session.get("/plans/?owner=unassigned")
    assert plan in unowned.context["object_list"]
    assert any("user-deactivated user=sam.surrey" in line for line in security_log(caplog))

    # Put back in the group, the provider's word makes the account active again (not its tokens).
    sso.provider.edit_user("sam.surrey", groups=["tracker-surrey-staff"])
    client, response = sign_in(sso, "sam.surrey")
    assert response.status_code == 302 and client.get("/").status_code == 200
    assert api.get("/api/v1/plans/", headers={"Authorization": f"Token {secret}"}).status_code == 401


def test_an_account_an_administrator_deactivated_stays_deactivated(sso):
    sign_in(sso, "sam.surrey")
    User.objects.filter(username="sam.surrey").update(is_active=False)
    _, response = sign_in(sso, "sam.surrey")
    assert response.status_code == 403
    assert "deactivated by an administrator" in response.content.decode()
    assert not User.objects.get(username="sam.surrey").is_active


def test_a_person_removed_at_the_provider_can_no_longer_sign_in(sso):
    password = sso.provider.password("sam.surrey")
    sign_in(sso, "sam.surrey")
    sso.provider.remove_user("sam.surrey")
    client = tracker_client()
    with pytest.raises(SignInPageRefused, match="Unknown username or wrong password"):
        sso.provider.authorize(begin(client), "sam.surrey", password, browser=requests.Session())


# --- the ID token and the state ------------------------------------------------------------------


def _sign_in_with_token_response(sso: SsoWorld, username: str, monkeypatch, change) -> object:  # type: ignore[no-untyped-def]
    """A real sign-in in which the token endpoint's answer is altered on its way to the tracker by
    `change(token_response, nonce)`: what an attacker in the middle, or a confused provider, would do."""
    from tracker.sso import SignInBackend

    real_get_token = SignInBackend.get_token
    client = tracker_client()
    authorize_url = begin(client)
    nonce = parse_qs(urlsplit(authorize_url).query)["nonce"][0]

    def altered_get_token(self, payload):  # type: ignore[no-untyped-def]
        return change(real_get_token(self, payload), nonce)

    monkeypatch.setattr(SignInBackend, "get_token", altered_get_token)
    callback = sso.provider.authorize(authorize_url, username, browser=requests.Session())
    return client, client.get(callback.removeprefix(f"http://{TRACKER_HOST}"))


def test_a_token_with_a_bad_signature_is_refused(sso, monkeypatch, caplog):
    def forge(tokens: dict, nonce: str) -> dict:
        # Same claims and key id as the provider's token, signed with a key that is not the provider's.
        claims = jwt.decode(tokens["id_token"], options={"verify_signature": False})
        claims["groups"] = ["tracker-inspectors"]
        header = jwt.get_unverified_header(tokens["id_token"])
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return {**tokens, "id_token": jwt.encode(claims, key, algorithm="RS256", headers={"kid": header["kid"]})}

    client, response = _sign_in_with_token_response(sso, "sam.surrey", monkeypatch, forge)
    assert response.status_code == 403
    assert "could not be verified" in response.content.decode()
    assert any("reason=unverified detail=bad signature" in line for line in security_log(caplog))
    assert not User.objects.exists()
    assert client.get("/").status_code == 302


def test_a_token_issued_to_another_application_is_refused(sso, monkeypatch, caplog):
    def substitute(tokens: dict, nonce: str) -> dict:
        # A genuine token from the same provider, signed by it, with this sign-in's nonce, but for
        # another application: only the audience check stands between it and a session.
        other = sso.provider.tokens_for_other_client(username="ian.inspector", nonce=nonce)
        assert jwt.decode(other["id_token"], options={"verify_signature": False})["aud"] == "another-application"
        return {**tokens, "id_token": other["id_token"]}

    _, response = _sign_in_with_token_response(sso, "sam.surrey", monkeypatch, substitute)
    assert response.status_code == 403
    assert any("reason=unverified detail=wrong audience" in line for line in security_log(caplog))
    assert not User.objects.exists()


def test_an_expired_token_is_refused(sso, monkeypatch, caplog):
    # The provider's ID tokens live 300 s; this one reaches the tracker's check 10 minutes later.
    later = time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10), tick=True)
    travelled = []

    def arrive_late(tokens: dict, nonce: str) -> dict:
        later.start()
        travelled.append(True)
        return tokens

    try:
        _, response = _sign_in_with_token_response(sso, "sam.surrey", monkeypatch, arrive_late)
    finally:
        if travelled:
            later.stop()
    assert response.status_code == 403
    assert any("reason=unverified detail=expired token" in line for line in security_log(caplog))
    assert not User.objects.exists()


def test_a_replayed_callback_is_refused(sso, caplog):
    client = tracker_client()
    callback = sso.provider.authorize(begin(client), "sam.surrey", browser=requests.Session())
    path = callback.removeprefix(f"http://{TRACKER_HOST}")
    assert client.get(path).status_code == 302  # signed in

    # The same code and state again, in the same browser and in another one: both refused.
    again = client.get(path)
    assert again.status_code == 403 and "already used" in again.content.decode()
    elsewhere = tracker_client().get(path)
    assert elsewhere.status_code == 403
    refusals = [line for line in security_log(caplog) if line.startswith("sso-refused")]
    assert len(refusals) == 2 and all("reason=expired" in line for line in refusals)


def test_a_state_from_another_sign_in_is_refused(sso, caplog):
    client = tracker_client()
    callback = sso.provider.authorize(begin(client), "sam.surrey", browser=requests.Session())
    begin(client)  # a second sign-in started in the same browser
    query = parse_qs(urlsplit(callback).query)
    response = client.get("/accounts/oidc/callback/", {"code": query["code"][0], "state": "not-a-state-we-sent"})
    assert response.status_code == 403
    assert any("reason=expired" in line for line in security_log(caplog))


def test_cancelling_at_the_provider_shows_the_refusal_page(sso):
    client = tracker_client()
    begin(client)
    response = client.get("/accounts/oidc/callback/", {"error": "access_denied", "state": "x"})
    assert response.status_code == 403 and "cancelled" in response.content.decode()


# --- two factors -------------------------------------------------------------------------------


def test_multi_factor_asserted_by_the_provider_stands_for_the_trackers_own(sso, settings):
    settings.TWO_FACTOR_REQUIRED_ROLES = ["manager", "inspector"]
    client, _ = sign_in(sso, "helen.hampshire")  # amr: pwd, mfa
    assert client.get("/").status_code == 200
    assert client.get("/dashboard/").status_code == 200


def test_a_role_that_needs_two_factors_still_needs_totp_without_the_providers_assertion(sso, settings):
    settings.TWO_FACTOR_REQUIRED_ROLES = ["manager", "inspector"]
    client, _ = sign_in(sso, "mo.surrey")  # a Surrey manager; amr: pwd only
    response = client.get("/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/two-factor/")


def test_the_providers_assertion_does_not_carry_over_to_a_password_sign_in(sso, settings):
    settings.TWO_FACTOR_REQUIRED_ROLES = ["manager"]
    client, _ = sign_in(sso, "helen.hampshire")
    helen = User.objects.get(username="helen.hampshire")
    helen.set_password("a-long-local-password")
    helen.save()
    client.post("/accounts/logout/")
    client.post("/accounts/login/", {"username": "helen.hampshire", "password": "a-long-local-password"})
    response = client.get("/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/two-factor/")


# --- sign-out ----------------------------------------------------------------------------------


def test_signing_out_ends_the_trackers_session_and_the_providers(sso):
    browser = requests.Session()
    client, _ = sign_in(sso, "sam.surrey", browser=browser)
    response = client.post("/accounts/logout/")
    assert client.get("/").status_code == 302  # the tracker's session is over

    end_session = response["Location"]
    assert end_session.startswith(sso.provider.metadata()["end_session_endpoint"])
    query = parse_qs(urlsplit(end_session).query)
    assert query["post_logout_redirect_uri"] == [f"http://{TRACKER_HOST}/accounts/login/"]
    assert jwt.decode(query["id_token_hint"][0], options={"verify_signature": False})["sub"].endswith("surrey-staff")

    # The provider asks for confirmation on its own page, then sends the browser back to sign-in.
    page = browser.get(end_session, timeout=10)
    form = dict(
        (field.split('value="')[0].split('name="')[1].rstrip('" '), field.split('value="')[1].split('"')[0])
        for field in page.text.split("<input")[1:]
        if 'name="' in field and 'value="' in field
    )
    action = page.text.split('action="')[1].split('"')[0]
    done = browser.post(
        requests.compat.urljoin(page.url, action), data={**form, "logout": "yes"}, allow_redirects=False
    )
    assert done.headers["location"] == f"http://{TRACKER_HOST}/accounts/login/"
    # The provider's session is gone too: the next sign-in asks for the password again.
    next_try = browser.get(begin(tracker_client()), allow_redirects=True)
    assert 'name="password"' in next_try.text


def test_signing_out_of_a_password_session_goes_to_the_sign_in_page(sso):
    staff = StaffFactory(organisation=sso.surrey)
    client = tracker_client()
    client.force_login(staff)
    response = client.post("/accounts/logout/")
    assert response["Location"] == "/accounts/login/"


# --- the sign-in page and local accounts ---------------------------------------------------------


def test_the_sign_in_page_offers_the_provider_and_passwords(sso):
    page = tracker_client().get("/accounts/login/?next=/plans/").content.decode()
    assert "Sign in with the test provider" in page and 'href="/accounts/oidc/login/?next=/plans/"' in page
    assert 'name="password"' in page and "break-glass" not in page


def test_with_local_sign_in_off_only_administrators_may_use_a_password(sso, settings, admin_user):
    staff = StaffFactory(organisation=sso.surrey)
    settings.LOCAL_SIGN_IN = False
    page = tracker_client().get("/accounts/login/").content.decode()
    assert "Administrator sign-in (break-glass)" in page

    refused = tracker_client().post(
        "/accounts/login/", {"username": staff.username, "password": "correct-horse-battery-staple"}
    )
    assert refused.status_code == 200 and not refused.wsgi_request.user.is_authenticated
    admin = tracker_client()
    signed_in = admin.post(
        "/accounts/login/", {"username": admin_user.username, "password": "correct-horse-battery-staple"}
    )
    assert signed_in.status_code == 302 and admin.get("/").status_code == 200


def test_switching_local_sign_in_off_ends_existing_password_sessions_of_non_administrators(settings, staff):
    client = Client()
    client.post("/accounts/login/", {"username": staff.username, "password": "correct-horse-battery-staple"})
    assert client.get("/").status_code == 200
    settings.LOCAL_SIGN_IN = False
    assert client.get("/").status_code == 302


def test_single_sign_on_is_off_by_default(client, settings):
    assert settings.OIDC_ISSUER == ""
    assert client.get("/accounts/oidc/login/").status_code == 404
    assert client.get("/accounts/oidc/callback/?code=x&state=y").status_code == 404
    assert "Sign in with" not in client.get("/accounts/login/").content.decode()


def test_an_unreachable_provider_gives_a_clear_page(oidc_provider, settings, caplog):
    settings.OIDC_ISSUER = "http://127.0.0.1:9"  # the discard port: nothing listens
    response = tracker_client().get("/accounts/oidc/login/")
    assert response.status_code == 503 and "could not be reached" in response.content.decode()
    assert any("reason=unreachable" in line for line in security_log(caplog))


# --- the admin ---------------------------------------------------------------------------------


def test_an_administrator_maps_a_group_in_the_admin_and_a_wrong_combination_is_explained(sso, admin_user):
    client = Client()
    client.force_login(admin_user)
    response = client.post(
        "/admin/tracker/groupmapping/add/",
        {
            "value": "tracker-surrey-analysts",
            "organisation": sso.surrey.pk,
            "role": "staff",
            "description": "Analysts",
        },
    )
    assert response.status_code == 302
    refused = client.post(
        "/admin/tracker/groupmapping/add/",
        {"value": "tracker-inspectors-2", "organisation": sso.surrey.pk, "role": "inspector"},
    )
    assert refused.status_code == 200 and "leave the organisation empty" in refused.content.decode()
    sso.provider.edit_user("una.unmapped", groups=["tracker-surrey-analysts"])
    _, signed_in = sign_in(sso, "una.unmapped")
    assert signed_in.status_code == 302
    assert User.objects.get(username="una.unmapped").organisation == sso.surrey


def test_deactivating_a_user_in_the_admin_kills_their_api_tokens_for_good(sso, admin_user):
    sign_in(sso, "sam.surrey")
    sam = User.objects.get(username="sam.surrey")
    _, secret = ApiToken.issue(user=sam, name="sync")
    api = Client()
    assert api.get("/api/v1/plans/", headers={"Authorization": f"Token {secret}"}).status_code == 200
    client = Client()
    client.force_login(admin_user)
    page = client.get(f"/admin/tracker/user/{sam.pk}/change/")
    assert "3f6e1c2a-0001-4d1e-9a51-surrey-staff" in page.content.decode()  # the identity, shown read-only
    data = form_data(page)
    del data["is_active"]
    data = {key: value for key, value in data.items() if key not in {"groups", "user_permissions"}}
    response = client.post(f"/admin/tracker/user/{sam.pk}/change/", data)
    assert response.status_code == 302
    assert api.get("/api/v1/plans/", headers={"Authorization": f"Token {secret}"}).status_code == 401
    User.objects.filter(pk=sam.pk).update(is_active=True)  # made active again: the token stays dead
    assert api.get("/api/v1/plans/", headers={"Authorization": f"Token {secret}"}).status_code == 401
    # An administrator's deactivation is not undone by the provider: the next sign-in is refused.
    User.objects.filter(pk=sam.pk).update(is_active=False)
    assert sign_in(sso, "sam.surrey")[1].status_code == 403


# --- asking the provider about people between sign-ins ------------------------------------------


def test_the_refresh_token_is_kept_encrypted(sso):
    sign_in(sso, "sam.surrey")
    identity = SignInIdentity.objects.get()
    assert identity.refresh_token and unseal(identity.refresh_token)
    assert unseal(identity.refresh_token) not in identity.refresh_token


def test_a_person_removed_at_the_provider_is_deactivated_at_the_next_check(sso, caplog):
    session, _ = sign_in(sso, "sam.surrey")
    sign_in(sso, "helen.hampshire")
    sam = User.objects.get(username="sam.surrey")
    plan = ActionPlanFactory(organisation=sso.surrey, owner=sam)
    _, secret = ApiToken.issue(user=sam, name="sync")
    manager = User.objects.create_user("surrey.manager", organisation=sso.surrey, role=User.Role.MANAGER)
    sso.provider.remove_user("sam.surrey")

    out = io.StringIO()
    call_command("check_sign_in_accounts", stdout=out)

    assert "Deactivated sam.surrey" in out.getvalue()
    assert "Checked 2, moved 0, deactivated 1, failed 0." in out.getvalue()
    sam.refresh_from_db()
    assert not sam.is_active and sam.sign_in_identity.deactivated_by_provider
    assert User.objects.get(username="helen.hampshire").is_active
    assert session.get("/").status_code == 302
    assert Client().get("/api/v1/plans/", headers={"Authorization": f"Token {secret}"}).status_code == 401
    manager_session = Client()
    manager_session.force_login(manager)
    assert plan in manager_session.get("/plans/?owner=unassigned").context["object_list"]
    home = manager_session.get("/").content.decode()
    assert "With the force, no owner" in home
    assert any("user-deactivated user=sam.surrey" in line for line in security_log(caplog))


def test_the_check_applies_a_group_change_without_waiting_for_a_sign_in(sso):
    session, _ = sign_in(sso, "sam.surrey")
    surrey_plan = ActionPlanFactory(organisation=sso.surrey)
    sso.provider.edit_user("sam.surrey", groups=["tracker-hampshire-managers"])
    out = io.StringIO()
    call_command("check_sign_in_accounts", stdout=out)
    assert "Moved sam.surrey" in out.getvalue()
    sam = User.objects.get(username="sam.surrey")
    assert (sam.organisation, sam.role) == (sso.hampshire, User.Role.MANAGER)
    assert session.get(f"/plans/{surrey_plan.pk}/").status_code == 404


def test_the_check_deactivates_someone_taken_out_of_every_mapped_group(sso):
    sign_in(sso, "sam.surrey")
    sso.provider.edit_user("sam.surrey", groups=["surrey-all-staff"])
    call_command("check_sign_in_accounts", stdout=io.StringIO())
    assert not User.objects.get(username="sam.surrey").is_active


def test_signing_out_does_not_make_the_check_deactivate_anyone(sso):
    client, _ = sign_in(sso, "sam.surrey", browser=requests.Session())
    client.post("/accounts/logout/")
    out = io.StringIO()
    call_command("check_sign_in_accounts", stdout=out)
    assert "Checked 1, moved 0, deactivated 0, failed 0." in out.getvalue()
    assert User.objects.get(username="sam.surrey").is_active


def test_an_unreachable_provider_changes_nothing_and_the_check_fails(sso, settings):
    sign_in(sso, "sam.surrey")
    settings.OIDC_ISSUER = "http://127.0.0.1:9"
    with pytest.raises(CommandError, match="could not be reached"):
        call_command("check_sign_in_accounts", stdout=io.StringIO())
    assert User.objects.get(username="sam.surrey").is_active


def test_an_unreadable_stored_token_is_reported_not_acted_on(sso, settings):
    sign_in(sso, "sam.surrey")
    settings.SECRET_KEY = "another-secret-key-" * 4
    with pytest.raises(CommandError, match="could not be checked"):
        call_command("check_sign_in_accounts", stdout=io.StringIO(), stderr=io.StringIO())
    assert User.objects.get(username="sam.surrey").is_active


def test_the_check_refuses_to_run_without_single_sign_on(db):
    with pytest.raises(CommandError, match="Single sign-on is off"):
        call_command("check_sign_in_accounts")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL: SQLite has no row locks")
def test_a_person_another_check_is_asking_about_is_skipped_not_asked_twice(sso):
    # Two servers' cron may run the check at once; a provider that rotates refresh tokens and detects
    # reuse would revoke the grant of a token presented twice, and the person would be deactivated.
    sign_in(sso, "sam.surrey")
    holding, release = threading.Event(), threading.Event()

    def other_check() -> None:
        try:
            with transaction.atomic():
                SignInIdentity.objects.select_for_update().get()  # the other run, asking the provider
                holding.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    thread = threading.Thread(target=other_check)
    thread.start()
    assert holding.wait(timeout=30)
    try:
        out = io.StringIO()
        call_command("check_sign_in_accounts", stdout=out)
        assert "Checked 0, moved 0, deactivated 0, failed 0." in out.getvalue()
    finally:
        release.set()
        thread.join(timeout=30)
    out = io.StringIO()
    call_command("check_sign_in_accounts", stdout=out)
    assert "Checked 1, moved 0, deactivated 0, failed 0." in out.getvalue()
