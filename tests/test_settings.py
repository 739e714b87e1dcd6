"""Production settings: check --deploy is clean, the default key is refused, headers are strict."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": "a-long-random-production-secret-key-for-the-deploy-check-0123456789abcdef",
    "ALLOWED_HOSTS": "tracker.example.org",
    "DATABASE_URL": "sqlite:////tmp/deploy-check.sqlite3",
}


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY", "DJANGO_SETTINGS_MODULE"}}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=clean | env, capture_output=True, text=True, timeout=120
    )


def test_check_deploy_reports_nothing_with_production_settings():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_debug_off_refuses_to_start_with_the_default_secret_key():
    env = {k: v for k, v in PRODUCTION.items() if k != "SECRET_KEY"}
    result = manage("check", env=env)
    assert result.returncode != 0
    assert "Set SECRET_KEY" in result.stderr


def test_production_cookie_and_transport_settings():
    code = (
        "from django.conf import settings as s;"
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY, s.SECURE_SSL_REDIRECT,"
        " s.SECURE_HSTS_SECONDS >= 31536000, s.X_FRAME_OPTIONS)"
    )
    result = manage("shell", "-c", code, env=PRODUCTION)
    assert result.stdout.strip().splitlines()[-1].split() == ["True", "True", "True", "True", "True", "DENY"], (
        result.stderr
    )


@pytest.mark.django_db
def test_pages_carry_strict_security_headers_with_a_script_nonce(client, staff):
    client.force_login(staff)
    response = client.get("/plans/")
    csp = response["Content-Security-Policy"]
    nonce = re.search(r"'nonce-([^']+)'", csp).group(1)
    assert "script-src 'self' 'nonce-" in csp
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    body = response.content.decode()
    scripts = re.findall(r"<script\b[^>]*>", body)
    assert scripts and all(f'nonce="{nonce}"' in tag for tag in scripts)
    assert "style=" not in body  # no inline style attributes to allow
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "camera=()" in response["Permissions-Policy"]


@pytest.mark.django_db
def test_idle_sessions_expire(client, staff, settings):
    from django.conf import settings as live

    assert live.SESSION_COOKIE_AGE == 30 * 60
    assert live.SESSION_REFRESH_SECONDS == 60
    client.force_login(staff)
    client.get("/")
    assert 0 < client.session.get_expiry_age() <= 30 * 60


def test_production_requires_two_factor_for_managers_inspectors_and_admins_by_default():
    code = "from django.conf import settings as s; print(','.join(s.TWO_FACTOR_REQUIRED_ROLES))"
    assert manage("shell", "-c", code, env=PRODUCTION).stdout.strip().splitlines()[-1] == "manager,inspector,admin"
    override = PRODUCTION | {"TWO_FACTOR_REQUIRED_ROLES": "staff,manager,inspector,admin"}
    assert manage("shell", "-c", code, env=override).stdout.strip().splitlines()[-1] == "staff,manager,inspector,admin"


def test_check_deploy_is_silent_behind_a_tls_proxy_too():
    env = PRODUCTION | {"SECURE_PROXY_SSL_HEADER": "1", "TRUSTED_PROXY_COUNT": "1"}
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_protective_marking_is_official_by_default_and_checked_at_start_up():
    code = "from django.conf import settings as s; print(s.PROTECTIVE_MARKING)"
    assert manage("shell", "-c", code, env={}).stdout.strip().splitlines()[-1] == "OFFICIAL"
    sensitive = manage("shell", "-c", code, env={"PROTECTIVE_MARKING": "official-sensitive"})
    assert sensitive.stdout.strip().splitlines()[-1] == "OFFICIAL-SENSITIVE", sensitive.stderr
    for wrong in ("SECRET", "OFFICIAL SENSITIVE", "TOP SECRET"):
        result = manage("check", env={"PROTECTIVE_MARKING": wrong})
        assert result.returncode != 0
        assert "PROTECTIVE_MARKING must be OFFICIAL or OFFICIAL-SENSITIVE" in result.stderr
