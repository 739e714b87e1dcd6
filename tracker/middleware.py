"""Two-factor enforcement and the Permissions-Policy header."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

# Pages a signed-in user without a verified second factor may still reach.
# API requests with a token are not signed-in sessions here (request.user is anonymous until DRF
# authenticates the token), so only browser sessions are held to two-factor.
EXEMPT_PREFIXES = ("/accounts/login/", "/accounts/logout/", "/accounts/two-factor/", "/static/", "/healthz")


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
        ):
            return redirect(f"{reverse('two-factor-verify')}?next={quote(request.get_full_path())}")
        response = self.get_response(request)
        response.headers.setdefault("Permissions-Policy", settings.PERMISSIONS_POLICY)
        return response
