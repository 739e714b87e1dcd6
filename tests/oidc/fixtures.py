"""A real OpenID Connect provider for the tests: tests/oidc/provider.mjs (the `oidc-provider` package
from package.json, installed by `npm ci`) run by Node.js on a free port of 127.0.0.1.

Without Node.js or the package the tests that need it skip, except under CI (CI=true), where they
fail: CI must not pass by silently skipping the provider.

The provider reads a copy of tests/oidc/config.json on every request; `OidcProvider.edit_user` and
`remove_user` change that copy for one test (a group changed at the provider, a person removed), and
the `oidc_provider` fixture puts the original back afterwards.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import pytest
import requests

from inspections.models import Organisation
from tests.factories import OrganisationFactory
from tracker.models import GroupMapping, User
from tracker.settings import sso_origin

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "oidc" / "provider.mjs"
CONFIG = ROOT / "tests" / "oidc" / "config.json"
PACKAGE = ROOT / "node_modules" / "oidc-provider" / "package.json"
CLIENT = json.loads(CONFIG.read_text())["clients"][0]
OTHER_CLIENT = json.loads(CONFIG.read_text())["clients"][1]
# The host the tracker is reached on in these tests: the provider knows its loopback redirect URI.
TRACKER_HOST = "127.0.0.1"
CALLBACK_PREFIX = f"http://{TRACKER_HOST}/accounts/oidc/callback/"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}. CI must run the single sign-on tests: install Node.js and run npm ci.")
    pytest.skip(f"{reason}: single sign-on tests skipped (install Node.js and run npm ci)")


@dataclass
class OidcProvider:
    issuer: str
    config_path: Path

    def users(self) -> dict:
        return json.loads(self.config_path.read_text())["users"]

    def password(self, username: str) -> str:
        return self.users()[username]["password"]

    def _write(self, users: dict) -> None:
        config = json.loads(self.config_path.read_text())
        config["users"] = users
        self.config_path.write_text(json.dumps(config, indent=2))

    def edit_user(self, username: str, **changes: object) -> None:
        users = self.users()
        users[username].update(changes)
        self._write(users)

    def remove_user(self, username: str) -> None:
        users = self.users()
        del users[username]
        self._write(users)

    def reset(self) -> None:
        shutil.copyfile(CONFIG, self.config_path)

    def metadata(self) -> dict:
        return requests.get(f"{self.issuer}/.well-known/openid-configuration", timeout=10).json()

    def authorize(self, url: str, username: str, password: str | None = None, *, browser: requests.Session) -> str:
        """Follow an authorisation request through the provider's sign-in page as a browser would,
        until the provider sends the browser back to a redirect URI; return that URL.

        `browser` keeps the provider's cookies, so a second request in it finds the provider's
        session and skips the sign-in page, as a real browser would."""
        response = browser.get(url, allow_redirects=False, timeout=10)
        for _ in range(10):
            if response.is_redirect:
                location = urljoin(response.url, response.headers["location"])
                if not location.startswith(self.issuer):
                    return location
                response = browser.get(location, allow_redirects=False, timeout=10)
            elif response.status_code == 200 and 'name="password"' in response.text:
                form = {"username": username, "password": password or self.password(username)}
                response = browser.post(response.url, data=form, allow_redirects=False, timeout=10)
                if response.status_code == 200:
                    raise SignInPageRefused(response.text)
            else:
                raise AssertionError(
                    f"unexpected answer from the provider: {response.status_code} {response.text[:300]}"
                )
        raise AssertionError("the provider never sent the browser back")

    def tokens_for_other_client(self, *, username: str, nonce: str) -> dict:
        """A real sign-in of another application registered at the same provider: its token response."""
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        params = {
            "client_id": OTHER_CLIENT["client_id"],
            "redirect_uri": OTHER_CLIENT["redirect_uris"][0],
            "response_type": "code",
            "scope": "openid email profile groups",
            "state": secrets.token_urlsafe(16),
            "nonce": nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        back = self.authorize(
            f"{self.metadata()['authorization_endpoint']}?{urlencode(params)}", username, browser=requests.Session()
        )
        code = parse_qs(urlsplit(back).query)["code"][0]
        response = requests.post(
            self.metadata()["token_endpoint"],
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": OTHER_CLIENT["redirect_uris"][0],
                "client_id": OTHER_CLIENT["client_id"],
                "client_secret": OTHER_CLIENT["client_secret"],
                "code_verifier": verifier,
            },
            timeout=10,
        )
        response.raise_for_status()
        return response.json()


class SignInPageRefused(Exception):
    """The provider's sign-in page answered with its form again (wrong password, unknown user)."""


@pytest.fixture(scope="session")
def oidc_provider_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcProvider]:
    node = shutil.which("node")
    if node is None:
        _unavailable("Node.js not found")
    if not PACKAGE.exists():
        _unavailable("the oidc-provider package is not installed (npm ci)")
    folder = tmp_path_factory.mktemp("oidc-provider")
    config_path = folder / "config.json"
    shutil.copyfile(CONFIG, config_path)
    log = (folder / "provider.log").open("w")
    process = subprocess.Popen(
        [node, str(SCRIPT), str(config_path), "0"], cwd=ROOT, stdout=subprocess.PIPE, stderr=log, text=True
    )
    ready: list[str] = []
    reader = threading.Thread(target=lambda: ready.append(process.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout=30)
    if not ready or not ready[0].startswith("ready "):
        process.kill()
        log.close()
        _unavailable(f"the OpenID Connect provider did not start: {(folder / 'provider.log').read_text()[-2000:]}")
    try:
        yield OidcProvider(issuer=ready[0].split()[1], config_path=config_path)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def map_test_groups(*, surrey: Organisation, hampshire: Organisation) -> None:
    """What an administrator would enter in the admin for the groups of tests/oidc/config.json."""
    for value, organisation, role in [
        ("tracker-surrey-staff", surrey, User.Role.STAFF),
        ("tracker-surrey-managers", surrey, User.Role.MANAGER),
        ("tracker-hampshire-staff", hampshire, User.Role.STAFF),
        ("tracker-hampshire-managers", hampshire, User.Role.MANAGER),
        ("tracker-inspectors", None, User.Role.INSPECTOR),
    ]:
        GroupMapping.objects.create(value=value, organisation=organisation, role=role)


@pytest.fixture
def oidc_provider(oidc_provider_server: OidcProvider, settings) -> Iterator[OidcProvider]:  # type: ignore[no-untyped-def]
    """Single sign-on switched on against the test provider (its users as in config.json)."""
    oidc_provider_server.reset()
    settings.OIDC_ISSUER = oidc_provider_server.issuer
    settings.OIDC_RP_CLIENT_ID = CLIENT["client_id"]
    settings.OIDC_RP_CLIENT_SECRET = CLIENT["client_secret"]
    settings.OIDC_RP_SCOPES = "openid email profile groups offline_access"
    settings.OIDC_PROVIDER_NAME = "the test provider"
    settings.AUTHENTICATION_BACKENDS = [*settings.AUTHENTICATION_BACKENDS, "tracker.sso.SignInBackend"]
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, TRACKER_HOST, "localhost", "testserver"]
    csp = settings.SECURE_CSP
    settings.SECURE_CSP = {**csp, "form-action": [*csp["form-action"], sso_origin(oidc_provider_server.issuer)]}
    yield oidc_provider_server
    oidc_provider_server.reset()


@dataclass
class SsoWorld:
    provider: OidcProvider
    surrey: Organisation
    hampshire: Organisation


@pytest.fixture
def sso(oidc_provider: OidcProvider, db: None) -> SsoWorld:
    """The provider, Surrey and Hampshire, and the test groups mapped to them."""
    surrey = OrganisationFactory(name="Surrey Police", short_name="Surrey", slug="surrey")
    hampshire = OrganisationFactory(
        name="Hampshire and Isle of Wight Constabulary", short_name="Hampshire", slug="hampshire"
    )
    map_test_groups(surrey=surrey, hampshire=hampshire)
    return SsoWorld(provider=oidc_provider, surrey=surrey, hampshire=hampshire)
