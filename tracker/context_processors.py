"""What every page's template may ask about the signed-in user: flags from `tracker.permissions`, so that
templates never work a role out for themselves."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest

from . import permissions


class May:
    """`{{ may.<flag> }}`: each worked out when a template first asks."""

    def __init__(self, user: Any) -> None:
        self.user = user

    @cached_property
    def see_every_organisation(self) -> bool:
        return permissions.sees_every_organisation(self.user)

    @cached_property
    def see_dashboard_in_menu(self) -> bool:
        return permissions.offers_dashboard(self.user)

    @cached_property
    def administer(self) -> bool:
        return permissions.is_admin(self.user)


def may(request: HttpRequest) -> dict[str, May]:
    return {"may": May(getattr(request, "user", None) or AnonymousUser())}
