"""Authentication backend for passwords: Django's, loading the user's organisation in the same query.

Every page names the user's organisation in the navigation and scopes its rows by it, so fetching
it with the user saves one query per request. With LOCAL_SIGN_IN off (single sign-on only), only
superusers, the break-glass administrators, may sign in with a password, and other people's password
sessions end at their next request.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.backends import ModelBackend

from .models import User


class UserWithOrganisationBackend(ModelBackend):
    def get_user(self, user_id: int) -> User | None:  # type: ignore[override]
        user = User._default_manager.select_related("organisation").filter(pk=user_id).first()
        return user if user is not None and self.user_can_authenticate(user) else None

    def user_can_authenticate(self, user: User) -> bool:  # type: ignore[override]
        return super().user_can_authenticate(user) and (settings.LOCAL_SIGN_IN or user.is_superuser)
