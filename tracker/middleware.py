"""Session refresh, two-factor enforcement, signing out people who may see nothing, and the
Permissions-Policy header."""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import quote

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django_otp import devices_for_user

from . import permissions

REFRESHED_KEY = "_refreshed"
# Elements that ask for themselves every second (a job's progress): their requests neither keep a
# session alive nor write it (on SQLite such a write would wait on a long import's transaction).
POLLING_ELEMENTS = frozenset({"job-progress"})


class SessionRefreshMiddleware:
    """Idle expiry without a database write on every request.

    A session ends SESSION_COOKIE_AGE seconds after it was last saved. Rather than saving on every
    request (SESSION_SAVE_EVERY_REQUEST, a write per page), the session is marked changed when it was
    last saved SESSION_REFRESH_SECONDS or more ago, so an active user's session is pushed on at most
    once a minute and idle expiry is exact to within that minute. Polls of a job's progress do not
    count.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        session = getattr(request, "session", None)
        if request.headers.get("HX-Trigger") in POLLING_ELEMENTS:
            return self.get_response(request)  # a page left open polling is not someone at work
        if session is not None and session.session_key and not session.is_empty():
            now = int(time.time())
            if now - int(session.get(REFRESHED_KEY, 0)) >= settings.SESSION_REFRESH_SECONDS:
                session[REFRESHED_KEY] = now
        return self.get_response(request)


# Pages a signed-in user without a verified second factor may still reach.
EXEMPT_PREFIXES = (
    "/accounts/login/",
    "/accounts/logout/",
    "/accounts/oidc/",
    "/accounts/two-factor/",
    "/static/",
    "/healthz",
)
# API answers are JSON, so an unverified session gets a 403 there rather than a redirect.
API_PREFIXES = ("/api/v1/", "/api/schema/")


def uses_api_token(request: HttpRequest) -> bool:
    """A token call to the API. Two-factor is for people signing in with a password: a token is issued
    by an administrator to a system, is a 256-bit secret stored only as a hash, and is revoked in the
    admin, so it stands on its own. Such a request is authenticated by DRF from the header alone
    (a session cookie sent alongside is ignored), so the session's two-factor state does not apply."""
    return request.path.startswith(API_PREFIXES) and request.headers.get("Authorization", "").startswith("Token ")


def two_factor_required(user) -> bool:  # type: ignore[no-untyped-def]
    """Whether the user's role requires two-factor authentication, so that it cannot be turned off."""
    return permissions.needs_second_factor(user, set(settings.TWO_FACTOR_REQUIRED_ROLES))


# Whether the session's user has a confirmed authenticator: read at sign-in and kept in the session, so
# that no page asks the database again. Enrolling and turning it off in a session change it there.
SECOND_FACTOR_ENROLLED_KEY = "_second_factor_enrolled"


def remember_enrolment(request: HttpRequest, user) -> bool:  # type: ignore[no-untyped-def]
    enrolled = any(devices_for_user(user, confirmed=True))
    request.session[SECOND_FACTOR_ENROLLED_KEY] = enrolled
    return enrolled


def second_factor_needed(request: HttpRequest) -> bool:
    """Whether this session must give a code before any page: the user's role requires two-factor
    authentication, or the user turned it on. A session that signed in before sessions kept the
    latter reads it once."""
    user = request.user
    if not user.is_authenticated:
        return False
    if two_factor_required(user):
        return True
    enrolled = request.session.get(SECOND_FACTOR_ENROLLED_KEY)
    return remember_enrolment(request, user) if enrolled is None else enrolled


def second_factor_verified(request: HttpRequest) -> bool:
    """A TOTP code this session, or multi-factor authentication asserted by the identity provider
    when the session signed in with single sign-on (its `amr`/`acr` claims: tracker.sso)."""
    from .sso import provider_verified_second_factor

    return request.user.is_verified() or provider_verified_second_factor(request)  # type: ignore[union-attr]


class TwoFactorEnforcementMiddleware:
    """Users whose role needs TOTP, and users who turned it on, are sent to enrol or verify before any
    other page."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if (
            not request.path.startswith(EXEMPT_PREFIXES)
            and not uses_api_token(request)
            and second_factor_needed(request)
            and not second_factor_verified(request)
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


class NoScopeSignOutMiddleware:
    """A signed-in person who may see nothing (no organisation, and a role that does not see
    everything: `permissions.plan_scope`) is signed out and told why, whatever signed them in.

    Such an account cannot be stored (a database constraint and `User.clean`); this is the refusal
    if one somehow exists, e.g. written into the database from outside the app.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        from .permissions import plan_scope

        user = request.user
        if user.is_authenticated and plan_scope(user) is None:
            logout(request)
            message = "Your account has no organisation, so there is nothing it may see: ask an administrator."
            if request.path.startswith(API_PREFIXES):
                return JsonResponse({"detail": message}, status=403)
            messages.error(request, message)
            return redirect(f"{reverse(settings.LOGIN_URL)}?next={quote(request.get_full_path())}")
        return self.get_response(request)


class QueryStringGuardMiddleware:
    """Refuse (400) a query string that no page here can use, before any view reads it.

    A NUL character, in a parameter's name or value: no parameter can mean one and PostgreSQL refuses
    it in any text it is compared with (a 500 wherever a value reaches a query before a form checks
    it). And the admin's `_to_field` given empty, which its change pages then look up as a field
    named "" (a KeyError in Django). Every other check of a parameter is its page's form.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        problem = self.problem(request)
        if problem is None:
            return self.get_response(request)
        name, message = problem
        if request.path.startswith(API_PREFIXES):
            return JsonResponse({name: [message]}, status=400)
        return render(request, "400.html", {"errors": [(name, [message])]}, status=400)

    @staticmethod
    def problem(request: HttpRequest) -> tuple[str, str] | None:
        """(parameter, what is wrong with it), or None when the query string may go on to the page."""
        for name, values in request.GET.lists():
            if "\x00" in name or any("\x00" in value for value in values):
                return name.replace("\x00", "\\x00"), "holds a NUL character, which no parameter may contain."
        if request.path.startswith("/admin/") and request.GET.get("_to_field", None) == "":
            return "_to_field", "is empty: name a field or leave the parameter out."
        return None


class NoStoreMiddleware:
    """`Cache-Control: no-store` on every answer to a signed-in user and on every API answer: pages,
    exports and JSON hold what only that person may see, and must stay out of shared caches and off
    the disk of a shared computer (the back button after signing out shows nothing)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # Signed in when the request came (signing out answers a signed-in browser) or after it.
        signed_in = request.user.is_authenticated  # type: ignore[attr-defined]
        response = self.get_response(request)
        private = signed_in or request.path.startswith("/api/") or request.user.is_authenticated  # type: ignore[attr-defined]
        if private and "no-store" not in response.get("Cache-Control", ""):  # evidence downloads set their own
            add_never_cache_headers(response)
        return response
