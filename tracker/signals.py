"""Security events (login, logout, failed login, lock-out) go to the `tracker.security` log with user,
address and time (the log record's timestamp)."""

from __future__ import annotations

import logging

from axes.signals import user_locked_out
from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest

log = logging.getLogger("tracker.security")


def client_address(request: HttpRequest | None) -> str | None:
    """The client's address, for lock-out (AXES_CLIENT_IP_CALLABLE) and this log.

    REMOTE_ADDR, unless the app runs behind TRUSTED_PROXY_COUNT proxies that each append the address
    they received from to X-Forwarded-For: then the entry that many places from the right. Entries
    further left are whatever the client sent, so they are never trusted.
    """
    if request is None:
        return None
    count = settings.TRUSTED_PROXY_COUNT
    if count:
        hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
        if len(hops) >= count:
            return hops[-count]
    return request.META.get("REMOTE_ADDR") or None


@receiver(user_logged_in)
def on_login(sender, request, user, **kwargs) -> None:  # type: ignore[no-untyped-def]
    log.info("login user=%s address=%s", user.get_username(), client_address(request) or "-")
    if request is not None and hasattr(request, "session"):
        from .middleware import remember_enrolment

        remember_enrolment(request, user)


@receiver(user_logged_out)
def on_logout(sender, request, user, **kwargs) -> None:  # type: ignore[no-untyped-def]
    log.info("logout user=%s address=%s", user.get_username() if user else "-", client_address(request) or "-")


@receiver(user_login_failed)
def on_login_failed(sender, credentials, request=None, **kwargs) -> None:  # type: ignore[no-untyped-def]
    log.warning("login-failed user=%s address=%s", credentials.get("username", "-"), client_address(request) or "-")


@receiver(user_locked_out)
def on_locked_out(sender, request, username, ip_address, **kwargs) -> None:  # type: ignore[no-untyped-def]
    log.warning("locked-out user=%s address=%s", username or "-", ip_address or "-")
