"""Test-only settings and the people and plans most tests need."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterator

import pytest

from tests import servers
from tests.factories import (
    ActionPlanFactory,
    AdminFactory,
    InspectorFactory,
    ManagerFactory,
    OrganisationFactory,
    StaffFactory,
)
from tests.oidc.fixtures import oidc_provider, oidc_provider_server, sso  # noqa: F401  (single sign-on)


@pytest.fixture(autouse=True)
def _today_is_the_day_the_test_runs(request, monkeypatch):
    """Test modules name today once, when they are imported (`TODAY = timezone.localdate()`); in a run
    that goes on past midnight their tests would check yesterday's rules against today's. Each test
    sees the day it runs on."""
    from django.utils import timezone

    if isinstance(getattr(request.module, "TODAY", None), dt.date):
        monkeypatch.setattr(request.module, "TODAY", timezone.localdate())


@pytest.fixture(autouse=True)
def _empty_cache():
    """Each test's database starts at the same data version, so nothing cached may carry over."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True, scope="session")
def _commit_hooks_run_as_they_would_in_production():
    """`transaction.on_commit` hooks run when the code's outermost transaction ends, as they do in
    production, although a test's own transaction (rolled back at its end) is still open.

    Without this, hooks registered by code under test would never run (the test's transaction never
    commits), and the cache's data versions (tracker/freshness.py), which move after a commit, would
    never move. Tests with `transaction=True` commit for real and are left alone.
    """
    from django.db import transaction
    from django.db.backends.base.base import BaseDatabaseWrapper

    on_commit, exit_atomic = BaseDatabaseWrapper.on_commit, transaction.Atomic.__exit__

    def only_test_transactions(connection) -> bool:  # type: ignore[no-untyped-def]
        blocks = connection.atomic_blocks
        return connection.in_atomic_block and bool(blocks) and all(block._from_testcase for block in blocks)

    def on_commit_now_outside_the_codes_transactions(self, func, robust=False):  # type: ignore[no-untyped-def]
        if only_test_transactions(self):  # the code's own write would be committed already
            return func()
        return on_commit(self, func, robust)

    def exit_and_commit(self, exc_type, exc_value, traceback):  # type: ignore[no-untyped-def]
        result = exit_atomic(self, exc_type, exc_value, traceback)
        connection = transaction.get_connection(self.using)
        if not self._from_testcase and only_test_transactions(connection) and not connection.needs_rollback:
            # The code's outermost block ended: it would have committed. A rolled-back block's
            # hooks were discarded by Django already.
            hooks, connection.run_on_commit = connection.run_on_commit, []
            if exc_type is None:
                for _savepoints, func, _robust in hooks:
                    func()
        return result

    BaseDatabaseWrapper.on_commit = on_commit_now_outside_the_codes_transactions
    transaction.Atomic.__exit__ = exit_and_commit
    yield
    BaseDatabaseWrapper.on_commit, transaction.Atomic.__exit__ = on_commit, exit_atomic


def _server(start: Callable[[], servers.Server], env: str, what: str) -> Iterator[str]:
    """The address of a server .ci/run started (in `env`), or of one started for this session."""
    if os.environ.get(env):
        yield os.environ[env]
        return
    try:
        server = start()
    except servers.ServerUnavailable as error:
        message = f"{what} could not be started: {error}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    try:
        yield server.address
    finally:
        server.stop()


@pytest.fixture(scope="session")
def azurite() -> Iterator[str]:
    """A connection string for Azurite (Azure Blob Storage on 127.0.0.1), with a private container `tests`."""
    for address in _server(servers.start_azurite, servers.AZURITE_ENV, "Azurite"):
        from azure.core.exceptions import ResourceExistsError
        from azure.storage.blob import BlobServiceClient

        try:
            BlobServiceClient.from_connection_string(address).create_container(servers.AZURE_TEST_CONTAINER)
        except ResourceExistsError:  # one Azurite serves the whole CI run
            pass
        yield address


@pytest.fixture(scope="session")
def s3rver() -> Iterator[str]:
    """The endpoint URL of s3rver (an S3-compatible store on 127.0.0.1), with a bucket `tests`."""
    for address in _server(servers.start_s3rver, servers.S3_ENV, "s3rver"):
        import boto3

        client = boto3.client("s3", endpoint_url=address, region_name="us-east-1",
                              aws_access_key_id=servers.S3_KEY, aws_secret_access_key=servers.S3_KEY)  # fmt: skip
        try:
            client.create_bucket(Bucket=servers.S3_TEST_BUCKET)
        except client.exceptions.ClientError as error:  # one s3rver serves the whole CI run
            if error.response["Error"]["Code"] not in ("BucketAlreadyExists", "BucketAlreadyOwnedByYou"):
                raise
        yield address


@pytest.fixture(scope="session")
def clamd() -> Iterator[str]:
    """The address of clamd on 127.0.0.1, with a signature database that knows only the EICAR test file."""
    yield from _server(servers.start_clamd, servers.CLAMD_ENV, "clamd")


@pytest.fixture(autouse=True)
def _test_settings(request, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    # TEST_FILE_STORAGE=azure runs every test's files through Azurite (CI's PostgreSQL run does).
    if os.environ.get("TEST_FILE_STORAGE") == "azure":
        default = servers.azure_storage(request.getfixturevalue("azurite"))
    else:
        default = {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path / "media", "base_url": None},
        }
    settings.STORAGES = {
        **settings.STORAGES,
        "default": default,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.TWO_FACTOR_REQUIRED_ROLES = []
    settings.AXES_ENABLED = True
    # An import's syncs of the log go through the second connection, which most tests may not use; the
    # tests of tracker/logsync.py turn them on.
    settings.LOG_SYNC_SECONDS = 0


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
