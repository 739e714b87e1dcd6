"""Two-factor enforcement and the Permissions-Policy header."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

# Pages a signed-in user without a verified second factor may still reach.
EXEMPT_PREFIXES = ("/accounts/", "/static/", "/healthz", "/api/")


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
            return redirect("two-factor-verify")
        response = self.get_response(request)
        response.headers.setdefault("Permissions-Policy", settings.PERMISSIONS_POLICY)
        return response
