"""Session refresh, two-factor enforcement and the Permissions-Policy header."""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import quote

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse

REFRESHED_KEY = "_refreshed"


class SessionRefreshMiddleware:
    """Idle expiry without a database write on every request.

    A session ends SESSION_COOKIE_AGE seconds after it was last saved. Rather than saving on every
    request (SESSION_SAVE_EVERY_REQUEST, a write per page), the session is marked changed when it was
    last saved SESSION_REFRESH_SECONDS or more ago, so an active user's session is pushed on at most
    once a minute and idle expiry is exact to within that minute.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        session = getattr(request, "session", None)
        if session is not None and session.session_key and not session.is_empty():
            now = int(time.time())
            if now - int(session.get(REFRESHED_KEY, 0)) >= settings.SESSION_REFRESH_SECONDS:
                session[REFRESHED_KEY] = now
        return self.get_response(request)


# Pages a signed-in user without a verified second factor may still reach.
EXEMPT_PREFIXES = ("/accounts/login/", "/accounts/logout/", "/accounts/two-factor/", "/static/", "/healthz")
# API answers are JSON, so an unverified session gets a 403 there rather than a redirect.
API_PREFIXES = ("/api/v1/", "/api/schema/")


def uses_api_token(request: HttpRequest) -> bool:
    """A token call to the API. Two-factor is for people signing in with a password: a token is issued
    by an administrator to a system, is a 256-bit secret stored only as a hash, and is revoked in the
    admin, so it stands on its own. Such a request is authenticated by DRF from the header alone
    (a session cookie sent alongside is ignored), so the session's two-factor state does not apply."""
    return request.path.startswith(API_PREFIXES) and request.headers.get("Authorization", "").startswith("Token ")


def two_factor_required(user) -> bool:  # type: ignore[no-untyped-def]
    roles = set(settings.TWO_FACTOR_REQUIRED_ROLES)
    if not roles or not user.is_authenticated:
        return False
    return ("admin" in roles and user.is_superuser) or user.role in roles


class TwoFactorEnforcementMiddleware:
    """Users whose role needs TOTP are sent to enrol or verify before any other page."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if (
            two_factor_required(user)
            and not user.is_verified()  # type: ignore[union-attr]
            and not request.path.startswith(EXEMPT_PREFIXES)
            and not uses_api_token(request)
        ):
            if request.path.startswith(API_PREFIXES):
                return JsonResponse(
                    {"detail": "Two-factor verification is needed: verify at /accounts/two-factor/ first."},
                    status=403,
                )
            return redirect(f"{reverse('two-factor-verify')}?next={quote(request.get_full_path())}")
        response = self.get_response(request)
        response.headers.setdefault("Permissions-Policy", settings.PERMISSIONS_POLICY)
        return response
