"""Token authentication for systems: `Authorization: Token <secret>`, checked against a stored hash."""

from __future__ import annotations

from django.utils import timezone
from rest_framework import authentication, exceptions

from ..models import ApiToken


class HashedTokenAuthentication(authentication.TokenAuthentication):
    keyword = "Token"

    def authenticate_credentials(self, key: str):  # type: ignore[override]
        token = ApiToken.objects.active().select_related("user").filter(digest=ApiToken.hash(key)).first()
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
        return (token.user, token)
