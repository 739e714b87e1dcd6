"""Account settings and two-factor authentication (TOTP)."""

from __future__ import annotations

import datetime as dt
import logging

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.test import Client, RequestFactory
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.factories import PASSWORD
from tracker.middleware import SECOND_FACTOR_ENROLLED_KEY, second_factor_needed

pytestmark = pytest.mark.django_db


def code_for(device: TOTPDevice) -> str:
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"


def test_any_user_can_enrol_an_authenticator(client, staff, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # a wrong code otherwise locks out the next try for a second
    client.force_login(staff)
    response = client.get("/accounts/two-factor/setup/")
    assert response.status_code == 200
    assert b'src="data:image/svg+xml;base64,' in response.content
    device = TOTPDevice.objects.get(user=staff, confirmed=False)
    response = client.post(
        "/accounts/two-factor/setup/", {"token": "000000" if code_for(device) != "000000" else "111111"}
    )
    assert response.status_code == 200 and "not right" in response.content.decode()
    device.refresh_from_db()
    assert not device.confirmed
    response = client.post("/accounts/two-factor/setup/", {"token": code_for(device)})
    assert response.status_code == 302
    device.refresh_from_db()
    assert device.confirmed


@pytest.mark.parametrize("role_fixture,required", [("staff", False), ("manager", True), ("inspector", True)])
def test_roles_in_the_setting_must_verify_before_any_page(client, settings, request, role_fixture, required):
    settings.TWO_FACTOR_REQUIRED_ROLES = ["manager", "inspector", "admin"]
    user = request.getfixturevalue(role_fixture)
    client.force_login(user)
    response = client.get("/plans/")
    if required:
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/two-factor/?next=/plans/")
        # With no device yet, verification sends them to enrol.
        response = client.get(response["Location"])
        assert response["Location"].startswith("/accounts/two-factor/setup/")
    else:
        assert response.status_code == 200


def test_verified_session_reaches_pages(client, settings, manager):
    settings.TWO_FACTOR_REQUIRED_ROLES = ["manager"]
    device = TOTPDevice.objects.create(user=manager, name="phone", confirmed=True)
    client.force_login(manager)
    assert client.get("/plans/").status_code == 302
    response = client.post("/accounts/two-factor/?next=/plans/", {"token": code_for(device), "next": "/plans/"})
    assert response.status_code == 302 and response["Location"] == "/plans/"
    assert client.get("/plans/").status_code == 200


def test_the_admin_is_behind_two_factor_too(client, settings, admin_user):
    settings.TWO_FACTOR_REQUIRED_ROLES = ["admin"]
    client.force_login(admin_user)
    response = client.get("/admin/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/two-factor/")


def test_verify_refuses_a_wrong_code(client, settings, manager):
    settings.TWO_FACTOR_REQUIRED_ROLES = ["manager"]
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    device = TOTPDevice.objects.create(user=manager, name="phone", confirmed=True)
    client.force_login(manager)
    wrong = "123456" if code_for(device) != "123456" else "654321"
    response = client.post("/accounts/two-factor/", {"token": wrong})
    assert response.status_code == 200 and "not right" in response.content.decode()
    assert client.get("/plans/").status_code == 302


@pytest.mark.parametrize("next_", ["0", "plans", "javascript:alert(1)", "//evil.example/"])
def test_a_verified_session_goes_on_only_to_a_path_on_this_site(client, staff, next_):
    device = TOTPDevice.objects.create(user=staff, name="phone", confirmed=True)
    client.force_login(staff)
    client.post("/accounts/two-factor/", {"token": code_for(device)})
    response = client.get(f"/accounts/two-factor/?next={next_}")
    assert response.status_code == 302 and response["Location"] == "/"


def test_verify_ignores_an_offsite_next(client, settings, manager):
    settings.TWO_FACTOR_REQUIRED_ROLES = ["manager"]
    device = TOTPDevice.objects.create(user=manager, name="phone", confirmed=True)
    client.force_login(manager)
    response = client.post("/accounts/two-factor/", {"token": code_for(device), "next": "https://evil.example/"})
    assert response["Location"] == "/"


def test_required_role_cannot_turn_two_factor_off(client, settings, manager):
    settings.TWO_FACTOR_REQUIRED_ROLES = ["manager"]
    device = TOTPDevice.objects.create(user=manager, name="phone", confirmed=True)
    client.force_login(manager)
    client.post("/accounts/two-factor/", {"token": code_for(device)})
    client.post("/accounts/two-factor/remove/")
    assert TOTPDevice.objects.filter(user=manager).exists()


def test_a_user_who_turned_two_factor_on_is_asked_for_a_code_at_every_sign_in(client, settings, staff):
    """Two-factor by choice protects the account as the role's does: the password alone opens nothing."""
    settings.TWO_FACTOR_REQUIRED_ROLES = ["manager"]  # not staff
    device = TOTPDevice.objects.create(user=staff, name="phone", confirmed=True)
    response = client.post("/accounts/login/", {"username": staff.username, "password": PASSWORD})
    assert response.status_code == 302
    for path in ("/plans/", "/", "/accounts/"):
        response = client.get(path)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/two-factor/?next=")
    response = client.get("/api/v1/plans/")
    assert response.status_code == 403 and "Two-factor" in response.json()["detail"]
    response = client.post("/accounts/two-factor/", {"token": code_for(device), "next": "/plans/"})
    assert response["Location"] == "/plans/"
    assert client.get("/plans/").status_code == 200


def test_a_session_from_before_the_rule_is_asked_for_a_code_too(client, staff):
    """A session that signed in before sessions kept whether their user has an authenticator."""
    TOTPDevice.objects.create(user=staff, name="phone", confirmed=True)
    client.force_login(staff)
    session = client.session
    session.pop(SECOND_FACTOR_ENROLLED_KEY, None)
    session.save()
    response = client.get("/plans/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/two-factor/")


def test_staff_without_an_authenticator_are_not_asked_for_a_code(
    client, settings, staff, django_assert_max_num_queries
):
    settings.TWO_FACTOR_REQUIRED_ROLES = ["manager"]
    client.force_login(staff)
    assert client.get("/plans/").status_code == 200
    # Whether the user has an authenticator is read at sign-in, not on every page.
    request = RequestFactory().get("/plans/")
    request.user, request.session = staff, client.session
    assert request.session[SECOND_FACTOR_ENROLLED_KEY] is False  # read at sign-in
    with django_assert_max_num_queries(0):
        assert not second_factor_needed(request)


def test_an_authenticator_removed_in_another_session_asks_this_one_for_nothing(client, staff):
    TOTPDevice.objects.create(user=staff, name="phone", confirmed=True)
    client.force_login(staff)
    TOTPDevice.objects.filter(user=staff).delete()  # turned off in another session
    response = client.get("/plans/", follow=True)
    assert response.status_code == 200 and response.redirect_chain[-1][0] == "/plans/"
    assert client.get("/plans/").status_code == 200


def test_an_unverified_session_cannot_turn_two_factor_off(client, staff):
    """Signed in with the password alone, two-factor cannot be turned off, even with the password."""
    TOTPDevice.objects.create(user=staff, name="phone", confirmed=True)
    client.force_login(staff)
    response = client.post("/accounts/two-factor/remove/", {"password": PASSWORD})
    assert response.status_code == 302 and response["Location"].startswith("/accounts/two-factor/")
    assert TOTPDevice.objects.filter(user=staff, confirmed=True).exists()


def test_turning_two_factor_off_needs_the_password_again(client, staff):
    device = TOTPDevice.objects.create(user=staff, name="phone", confirmed=True)
    client.force_login(staff)
    client.post("/accounts/two-factor/", {"token": code_for(device)})
    response = client.post("/accounts/two-factor/remove/", {"password": "not-the-password"})
    assert response.status_code == 200
    assert "not your password" in response.content.decode()
    assert TOTPDevice.objects.filter(user=staff).exists()
    response = client.post("/accounts/two-factor/remove/", {"password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/accounts/"
    assert not TOTPDevice.objects.filter(user=staff).exists()
    # Off means off: this session and the next reach pages with no code.
    assert client.get("/plans/").status_code == 200
    client.logout()
    client.post("/accounts/login/", {"username": staff.username, "password": PASSWORD})
    assert client.get("/plans/").status_code == 200


def test_a_user_enrolling_is_verified_for_the_session_and_asked_at_the_next(client, staff):
    client.force_login(staff)
    client.get("/accounts/two-factor/setup/")
    device = TOTPDevice.objects.get(user=staff, confirmed=False)
    client.post("/accounts/two-factor/setup/", {"token": code_for(device)})
    assert client.get("/plans/").status_code == 200
    client.logout()
    client.post("/accounts/login/", {"username": staff.username, "password": PASSWORD})
    assert client.get("/plans/").status_code == 302


def test_user_can_turn_their_digest_off(client, staff):
    client.force_login(staff)
    assert client.get("/accounts/").status_code == 200
    response = client.post("/accounts/", {})
    assert response.status_code == 302
    staff.refresh_from_db()
    assert staff.receive_digest is False
    client.post("/accounts/", {"receive_digest": "on"})
    staff.refresh_from_db()
    assert staff.receive_digest is True


def test_login_logout_and_failure_are_logged_with_user_and_address(client, staff, caplog):
    caplog.set_level(logging.INFO, logger="tracker.security")
    client.post("/accounts/login/", {"username": staff.username, "password": "wrong-password"}, REMOTE_ADDR="10.1.2.3")
    client.post(
        "/accounts/login/",
        {"username": staff.username, "password": "correct-horse-battery-staple"},
        REMOTE_ADDR="10.1.2.3",
    )
    client.post("/accounts/logout/", REMOTE_ADDR="10.1.2.3")
    messages = [r.getMessage() for r in caplog.records if r.name == "tracker.security"]
    assert f"login-failed user={staff.username} address=10.1.2.3" in messages
    assert f"login user={staff.username} address=10.1.2.3" in messages
    assert f"logout user={staff.username} address=10.1.2.3" in messages
    assert all(r.created for r in caplog.records)  # each record carries its time


def test_repeated_failures_lock_the_user_and_address(client, staff, settings):
    settings.AXES_FAILURE_LIMIT = 3
    for _ in range(3):
        client.post("/accounts/login/", {"username": staff.username, "password": "nope"}, REMOTE_ADDR="10.9.9.9")
    response = client.post(
        "/accounts/login/",
        {"username": staff.username, "password": "correct-horse-battery-staple"},
        REMOTE_ADDR="10.9.9.9",
    )
    assert response.status_code == 429
    assert "Too many failed sign-in attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session
    # Another address for the same user is not locked (lock-out is per user and address).
    response = client.post(
        "/accounts/login/",
        {"username": staff.username, "password": "correct-horse-battery-staple"},
        REMOTE_ADDR="10.9.9.8",
    )
    assert response.status_code == 302


def test_a_lock_out_is_logged_and_an_administrator_can_lift_it(client, staff, admin_user, settings, caplog):
    settings.AXES_FAILURE_LIMIT = 2
    caplog.set_level(logging.INFO, logger="tracker.security")
    good = {"username": staff.username, "password": "correct-horse-battery-staple"}
    for _ in range(2):
        client.post("/accounts/login/", {**good, "password": "nope"}, REMOTE_ADDR="10.7.7.7")
    assert client.post("/accounts/login/", good, REMOTE_ADDR="10.7.7.7").status_code == 429
    assert f"locked-out user={staff.username} address=10.7.7.7" in [r.getMessage() for r in caplog.records]

    attempt = AccessAttempt.objects.get(username=staff.username)
    admin = Client()
    admin.force_login(admin_user)
    assert str(attempt.ip_address) in admin.get("/admin/axes/accessattempt/").content.decode()
    response = admin.post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302

    assert client.post("/accounts/login/", good, REMOTE_ADDR="10.7.7.7").status_code == 302


def test_forwarded_addresses_count_only_behind_the_configured_proxies(client, staff, settings, caplog):
    caplog.set_level(logging.INFO, logger="tracker.security")
    wrong = {"username": staff.username, "password": "nope"}
    client.post("/accounts/login/", wrong, REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.9")
    settings.TRUSTED_PROXY_COUNT = 1
    client.post("/accounts/login/", wrong, REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.66, 198.51.100.7")
    messages = [r.getMessage() for r in caplog.records if r.name == "tracker.security"]
    # Without a trusted proxy the header is the client's word and is ignored; behind one proxy the
    # address that proxy saw (the right-most entry) is used, not what the client put before it.
    assert messages == [
        f"login-failed user={staff.username} address=10.0.0.1",
        f"login-failed user={staff.username} address=198.51.100.7",
    ]
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"10.0.0.1", "198.51.100.7"}


def test_password_validators_refuse_short_common_numeric_and_personal_passwords(staff):
    for password in ("Sh0rt!pass", "password1234", "839201746153", "surrey.staff.2024"):
        with pytest.raises(ValidationError):
            validate_password(password, user=staff)
    validate_password("violet-harbour-lantern-42", user=staff)


def test_a_session_idle_past_the_limit_is_signed_out(client, staff):
    client.force_login(staff)
    assert client.get("/plans/").status_code == 200
    expiry = Session.objects.get(session_key=client.session.session_key).expire_date
    # A request pushes the expiry on by the idle limit (at most once a minute: SessionRefreshMiddleware).
    assert abs((expiry - timezone.now()).total_seconds() - settings.SESSION_COOKIE_AGE) < 60
    Session.objects.filter(session_key=client.session.session_key).update(
        expire_date=timezone.now() - dt.timedelta(seconds=1)
    )
    response = client.get("/plans/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_an_active_session_is_pushed_on_at_most_once_a_minute(client, staff):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(staff)
    key = client.session.session_key
    client.get("/accounts/")  # the first request after signing in refreshes the session
    first_expiry = Session.objects.get(session_key=key).expire_date

    def session_writes() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/accounts/").status_code == 200
        return sum('UPDATE "django_session"' in q["sql"] for q in queries.captured_queries)

    assert session_writes() == 0
    assert Session.objects.get(session_key=key).expire_date == first_expiry
    # A minute later the next request saves the session and so pushes the expiry on again.
    session = client.session
    session["_refreshed"] = int(session["_refreshed"]) - settings.SESSION_REFRESH_SECONDS
    session.save()
    Session.objects.filter(session_key=key).update(expire_date=timezone.now() + dt.timedelta(seconds=30))
    assert session_writes() == 1
    expiry = Session.objects.get(session_key=key).expire_date
    assert abs((expiry - timezone.now()).total_seconds() - settings.SESSION_COOKIE_AGE) < 60
