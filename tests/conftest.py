"""Test-only settings and the people and plans most tests need."""

from __future__ import annotations

import pytest

from tests.factories import (
    ActionPlanFactory,
    AdminFactory,
    InspectorFactory,
    ManagerFactory,
    OrganisationFactory,
    StaffFactory,
)


@pytest.fixture(autouse=True)
def _empty_cache():
    """Each test's database starts at the same data version, so nothing cached may carry over."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _test_settings(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path / "media", "base_url": None},
        },
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.TWO_FACTOR_REQUIRED_ROLES = []
    settings.AXES_ENABLED = True


@pytest.fixture
def org(db):
    return OrganisationFactory(name="Surrey Police", short_name="Surrey", slug="surrey")


@pytest.fixture
def other_org(db):
    return OrganisationFactory(
        name="Hampshire and Isle of Wight Constabulary", short_name="Hampshire", slug="hampshire"
    )


@pytest.fixture
def staff(org):
    return StaffFactory(username="surrey.staff", organisation=org)


@pytest.fixture
def manager(org):
    return ManagerFactory(username="surrey.manager", organisation=org)


@pytest.fixture
def other_staff(other_org):
    return StaffFactory(username="hampshire.staff", organisation=other_org)


@pytest.fixture
def other_manager(other_org):
    return ManagerFactory(username="hampshire.manager", organisation=other_org)


@pytest.fixture
def inspector(db):
    return InspectorFactory(username="inspector")


@pytest.fixture
def admin_user(db):
    return AdminFactory(username="admin")


@pytest.fixture
def plan(org):
    return ActionPlanFactory(organisation=org)
