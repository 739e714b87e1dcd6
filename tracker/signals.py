"""Security events (login, logout, failed login) go to the `tracker.security` log with user, address, time."""

from __future__ import annotations

import logging

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

log = logging.getLogger("tracker.security")


def _address(request) -> str:  # type: ignore[no-untyped-def]
    return request.META.get("REMOTE_ADDR", "-") if request is not None else "-"


@receiver(user_logged_in)
def on_login(sender, request, user, **kwargs) -> None:  # type: ignore[no-untyped-def]
    log.info("login user=%s address=%s", user.get_username(), _address(request))


@receiver(user_logged_out)
def on_logout(sender, request, user, **kwargs) -> None:  # type: ignore[no-untyped-def]
    log.info("logout user=%s address=%s", user.get_username() if user else "-", _address(request))


@receiver(user_login_failed)
def on_login_failed(sender, credentials, request=None, **kwargs) -> None:  # type: ignore[no-untyped-def]
    log.warning("login-failed user=%s address=%s", credentials.get("username", "-"), _address(request))
