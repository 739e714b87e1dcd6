"""Single sign-on with OpenID Connect (docs/SIGN-IN.md), on mozilla-django-oidc.

The library runs the authorisation code flow with state, nonce and PKCE, exchanges the code and
checks the ID token's signature against the provider's keys. This module adds what the tracker needs
around it:

- the provider's endpoints from its discovery document, so that only the issuer is configured;
- the ID token checks the library leaves out (issuer, audience, authorised party, required claims),
  each failure named in the security log;
- the person from the claims: created or updated at every sign-in, organisation and role from the
  administrator's `GroupMapping` rows; refused with a clear page when nothing maps;
- multi-factor authentication asserted by the provider (`amr`/`acr`), which stands for the
  tracker's own TOTP step;
- RP-initiated logout: signing out ends the provider's session too, where it offers one.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlencode

import jwt
import requests
from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.contrib import auth
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured, SuspiciousOperation
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.utils import import_from_settings
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from inspections.models import Organisation

from . import people
from .models import ApiToken, GroupMapping, SignInIdentity, User
from .signals import client_address

log = logging.getLogger("tracker.security")

BACKEND = "tracker.sso.SignInBackend"
# Session keys: whether the provider asserted a second factor at this sign-in, and the ID token
# (the library stores it there, OIDC_STORE_ID_TOKEN) for the logout request's id_token_hint.
MFA_SESSION_KEY = "sso_multi_factor"
ID_TOKEN_SESSION_KEY = "oidc_id_token"
DISCOVERY_SECONDS = 3600
# When several groups map within one organisation, the highest role wins.
ROLE_RANK = {User.Role.STAFF: 0, User.Role.MANAGER: 1, User.Role.INSPECTOR: 2}

REFUSALS = {
    "unmapped": "Your account is not in any group that has access to the tracker. Ask your administrator "
    "to add you to the right group at your organisation's identity provider.",
    "missing-groups": "Your identity provider did not say which groups you are in, so the tracker cannot tell "
    "which organisation and role are yours. Ask your administrator to send the groups claim.",
    "conflicting-groups": "Your groups give you access to more than one organisation (or to an organisation and "
    "to every organisation at once). Ask your administrator to leave you in the groups of one.",
    "deactivated": "Your tracker account has been deactivated by an administrator.",
    "username-taken": "Another tracker account already uses your user name. Ask your administrator to link "
    "or rename it.",
    "cancelled": "The sign-in was cancelled at the identity provider.",
    "expired": "The sign-in took too long or was already used. Please start again.",
    "unverified": "The sign-in could not be verified, so it was refused. Please start again; if it happens "
    "again, tell your administrator.",
    "unreachable": "The identity provider could not be reached. Please try again in a few minutes.",
}


class SignInRefused(Exception):
    """A sign-in the provider vouched for (or claimed to) that the tracker refuses."""

    def __init__(self, reason: str, detail: str = "", *, claims: dict | None = None) -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
        self.claims = claims or {}


# --- configuration ------------------------------------------------------------------------------


def enabled() -> bool:
    return bool(settings.OIDC_ISSUER)


def provider_metadata() -> dict:
    """The provider's discovery document, fetched once an hour (OpenID Connect Discovery 1.0)."""
    issuer = settings.OIDC_ISSUER.rstrip("/")
    key = f"sso:discovery:{issuer}"
    metadata = cache.get(key)
    if metadata is None:
        response = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=settings.OIDC_TIMEOUT)
        response.raise_for_status()
        metadata = response.json()
        # The document must be the issuer's own (section 4.3): a mismatch would let tokens of another
        # issuer through the issuer check below.
        if str(metadata.get("issuer", "")).rstrip("/") != issuer:
            raise ImproperlyConfigured(
                f"OIDC_ISSUER is {issuer!r} but the provider calls itself {metadata.get('issuer')!r}."
            )
        cache.set(key, metadata, DISCOVERY_SECONDS)
    return metadata


ENDPOINT_SETTINGS = {
    "OIDC_OP_AUTHORIZATION_ENDPOINT": "authorization_endpoint",
    "OIDC_OP_TOKEN_ENDPOINT": "token_endpoint",
    "OIDC_OP_USER_ENDPOINT": "userinfo_endpoint",
    "OIDC_OP_JWKS_ENDPOINT": "jwks_uri",
}


def setting(name: str, *default: object) -> object:
    """The library's settings, with the provider's endpoints taken from its discovery document."""
    if name in ENDPOINT_SETTINGS:
        return provider_metadata()[ENDPOINT_SETTINGS[name]]
    return import_from_settings(name, *default)


# --- who the claims say this is -----------------------------------------------------------------


@dataclass(frozen=True)
class Membership:
    organisation: Organisation | None
    role: str


def groups_from(claims: dict) -> list[str]:
    value = claims.get(settings.OIDC_GROUPS_CLAIM)
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise SignInRefused("missing-groups", f"no usable {settings.OIDC_GROUPS_CLAIM!r} claim", claims=claims)
    return value


def membership_for(groups: Iterable[str]) -> Membership | None:
    """The organisation and role the administrator's mappings give these groups; None if none apply."""
    mappings = list(GroupMapping.objects.filter(value__in=list(groups)).select_related("organisation"))
    if not mappings:
        return None
    if len({mapping.organisation_id for mapping in mappings}) > 1:
        raise SignInRefused("conflicting-groups", ", ".join(sorted(m.value for m in mappings)))
    role = max((mapping.role for mapping in mappings), key=ROLE_RANK.__getitem__)
    return Membership(organisation=mappings[0].organisation, role=role)


def asserts_multi_factor(claims: dict) -> bool:
    """Whether the provider says it used more than one factor (RFC 8176 `amr` values, or an `acr`)."""
    amr = claims.get("amr") or []
    if isinstance(amr, str):
        amr = [amr]
    return bool(set(amr) & set(settings.OIDC_MFA_AMR_VALUES)) or claims.get("acr") in settings.OIDC_MFA_ACR_VALUES


@transaction.atomic
def deactivate_user(*, user: User, reason: str, by_provider: bool = False) -> int:
    """End a person's access: no sign-in, no session, no API token. Their open plans then count as
    unowned (an inactive owner is no owner: `ActionPlan` lists and digests). Returns the tokens revoked.

    Tokens are revoked rather than only refused while the user is inactive, so that making the
    account active again does not bring old tokens back to life.
    """
    if user.is_active:  # the admin has already saved the unticked box
        people.change_membership(user, is_active=False, reason=f"({reason}.)")
    revoked = ApiToken.objects.filter(user=user, revoked_at__isnull=True).update(revoked_at=timezone.now())
    if by_provider:
        SignInIdentity.objects.filter(user=user).update(deactivated_by_provider=True)
    log.warning("user-deactivated user=%s reason=%s tokens-revoked=%d", user.get_username(), reason, revoked)
    return revoked


def _claim(claims: dict, name: str, limit: int) -> str:
    value = claims.get(name)
    return value[:limit] if isinstance(value, str) else ""


def _fernet() -> Fernet:
    # A key of its own, derived from SECRET_KEY: a database copy alone does not reveal refresh tokens.
    digest = hashlib.sha256(b"tracker.sso refresh tokens:" + settings.SECRET_KEY.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def seal(secret: str) -> str:
    return _fernet().encrypt(secret.encode()).decode() if secret else ""


def unseal(sealed: str) -> str:
    return _fernet().decrypt(sealed.encode()).decode()


def sign_in_from_claims(claims: dict, *, refresh_token: str | None = None) -> User:
    """The user these verified claims describe, created or brought up to date; or SignInRefused.

    Identity is the issuer and subject, never the e-mail address (which people change and reuse).
    An existing local account with the same user name is linked on first sign-in, so that forces
    moving to single sign-on keep their people's plans; administrators (superusers) never are.
    """
    issuer, subject = claims["iss"], claims["sub"]
    identity = SignInIdentity.objects.select_related("user").filter(issuer=issuer, subject=subject).first()
    groups = groups_from(claims)
    membership = membership_for(groups)
    if membership is None:
        if identity is not None and identity.user.is_active:
            deactivate_user(user=identity.user, reason="no mapped group", by_provider=True)
        raise SignInRefused("unmapped", ", ".join(groups) or "no groups", claims=claims)

    with transaction.atomic():
        if identity is None:
            identity = SignInIdentity(issuer=issuer, subject=subject, user=_new_or_linked_user(claims))
        user = identity.user
        reactivate = False
        if not user.is_active:
            if not identity.deactivated_by_provider:
                raise SignInRefused("deactivated", claims=claims)
            reactivate = True
            identity.deactivated_by_provider = False
        user.first_name = _claim(claims, "given_name", 150) or user.first_name
        user.last_name = _claim(claims, "family_name", 150) or user.last_name
        user.email = _claim(claims, "email", 254) or user.email
        # Organisation, role and active state through people.change_membership (which checks them
        # and releases the plans the person may no longer own); a new person is created with them.
        people.change_membership(
            user,
            organisation=membership.organisation,
            role=membership.role,
            is_active=True if reactivate else people.KEEP,
            reason="(Groups from the identity provider.)",
        )
        identity.user = user
        identity.groups = groups
        if refresh_token is not None:  # a sign-in (a check keeps the token it has just stored)
            identity.refresh_token = seal(refresh_token)
            identity.last_sign_in_at = timezone.now()
        identity.save()
    return user


def _new_or_linked_user(claims: dict) -> User:
    username = _claim(claims, settings.OIDC_USERNAME_CLAIM, 150) or _claim(claims, "email", 150) or claims["sub"][:150]
    existing = User.objects.filter(username__iexact=username).first()
    if existing is not None:
        if existing.is_superuser or SignInIdentity.objects.filter(user=existing).exists():
            raise SignInRefused("username-taken", username, claims=claims)
        return existing
    user = User(username=username)
    user.set_unusable_password()  # signs in only through the provider
    return user


# --- the library's backend and views ------------------------------------------------------------


class SignInBackend(OIDCAuthenticationBackend):
    """mozilla-django-oidc's backend with endpoints from discovery and complete ID token checks."""

    get_settings = staticmethod(setting)

    def __init__(self, *args: object, **kwargs: object) -> None:
        # The library reads every endpoint here; Django makes a backend for each request that has a
        # session, so they are read only when a sign-in needs them (the properties below).
        self.UserModel = User

    OIDC_OP_TOKEN_ENDPOINT = property(lambda self: setting("OIDC_OP_TOKEN_ENDPOINT"))
    OIDC_OP_USER_ENDPOINT = property(lambda self: setting("OIDC_OP_USER_ENDPOINT"))
    OIDC_OP_JWKS_ENDPOINT = property(lambda self: setting("OIDC_OP_JWKS_ENDPOINT"))
    OIDC_RP_CLIENT_ID = property(lambda self: settings.OIDC_RP_CLIENT_ID)
    OIDC_RP_CLIENT_SECRET = property(lambda self: settings.OIDC_RP_CLIENT_SECRET)
    OIDC_RP_SIGN_ALGO = property(lambda self: settings.OIDC_RP_SIGN_ALGO)
    OIDC_RP_IDP_SIGN_KEY = None

    def authenticate(self, request: HttpRequest | None, **kwargs: object) -> User | None:  # type: ignore[override]
        # Only the callback view passes a nonce; a password form must never reach the token endpoint.
        if request is None or "nonce" not in kwargs or not enabled():
            return None
        return super().authenticate(request, **kwargs)

    def get_user(self, user_id: int) -> User | None:  # type: ignore[override]
        user = User._default_manager.select_related("organisation").filter(pk=user_id).first()
        return user if user is not None and self.user_can_authenticate(user) else None

    def _verify_jws(self, payload: bytes, key: object) -> dict:  # type: ignore[override]
        """Signature, expiry, issuer, audience and authorised party (OpenID Connect Core 3.1.3.7).

        The library's own check skips the audience and the issuer: a token the provider issued to
        another application would pass it.
        """
        header = jwt.get_unverified_header(payload)
        if header.get("alg") != self.OIDC_RP_SIGN_ALGO:
            raise SignInRefused("unverified", f"algorithm {header.get('alg')!r}")
        client_id = self.OIDC_RP_CLIENT_ID
        try:
            claims = jwt.decode(
                payload,
                key,
                algorithms=[self.OIDC_RP_SIGN_ALGO],
                audience=client_id,
                issuer=provider_metadata()["issuer"],
                leeway=settings.OIDC_CLOCK_LEEWAY_SECONDS,
                options={"require": ["iss", "sub", "aud", "exp", "iat"]},
            )
        except jwt.ExpiredSignatureError as error:
            raise SignInRefused("unverified", "expired token") from error
        except jwt.InvalidAudienceError as error:
            raise SignInRefused("unverified", "wrong audience") from error
        except jwt.InvalidIssuerError as error:
            raise SignInRefused("unverified", "wrong issuer") from error
        except jwt.InvalidSignatureError as error:
            raise SignInRefused("unverified", "bad signature") from error
        except jwt.PyJWTError as error:
            raise SignInRefused("unverified", f"invalid token ({error})") from error
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != client_id:
            raise SignInRefused("unverified", "wrong authorised party")
        return claims

    def get_token(self, payload: dict) -> dict:  # type: ignore[override]
        tokens = super().get_token(payload)
        self.refresh_token = tokens.get("refresh_token") or ""
        return tokens

    def claims(self, access_token: str, id_token: str, payload: dict) -> dict:
        userinfo = self.get_userinfo(access_token, id_token, payload)
        if userinfo.get("sub") != payload.get("sub"):  # Core 5.3.2: the same person, or nothing
            raise SignInRefused("unverified", "userinfo subject differs from the ID token's")
        # The ID token's claims win: groups, amr and acr are signed there (Entra ID sends them only there).
        return {**userinfo, **payload}

    def get_or_create_user(self, access_token: str, id_token: str, payload: dict) -> User:  # type: ignore[override]
        claims = self.claims(access_token, id_token, payload)
        user = sign_in_from_claims(claims, refresh_token=getattr(self, "refresh_token", ""))
        self.request.session[MFA_SESSION_KEY] = asserts_multi_factor(claims)
        return user

    def verify_id_token(self, id_token: str) -> dict:
        """An ID token from a refresh: the same checks, without a nonce (no browser request to bind)."""
        return self._verify_jws(id_token.encode(), self.retrieve_matching_jwk(id_token.encode()))


# --- asking the provider about people who are not signing in ------------------------------------


@dataclass
class CheckResult:
    checked: int = 0
    moved: list[str] = field(default_factory=list)
    deactivated: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def check_accounts() -> CheckResult:
    """Ask the provider, with each active person's refresh token, whether it still vouches for them.

    A refused refresh token (`invalid_grant`: the account was removed or disabled, or its access
    revoked) deactivates the person as a sign-in with no mapped group does: sessions end, API tokens
    are revoked, open plans count as unowned. Accepted, the new ID token's groups are applied as at a
    sign-in, so a group change takes effect without waiting for the person to sign in. Anything else
    (the provider down, an unreadable token) changes nothing and is reported as failed.
    """
    result = CheckResult()
    metadata = provider_metadata()
    ids = SignInIdentity.objects.filter(issuer=metadata["issuer"], user__is_active=True).exclude(refresh_token="")
    for pk in ids.values_list("pk", flat=True):
        _check_one(pk, metadata, result)
    log.info(
        "sso-check checked=%d moved=%d deactivated=%d failed=%d",
        result.checked,
        len(result.moved),
        len(result.deactivated),
        len(result.failed),
    )
    return result


@transaction.atomic
def _check_one(pk: int, metadata: dict, result: CheckResult) -> None:
    # The row stays locked while the provider is asked: a second run at the same time (another
    # server's cron) skips this person rather than presenting a refresh token that the first run is
    # rotating, which a provider detecting reuse would answer by revoking the grant.
    identity = (
        SignInIdentity.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("user")
        .filter(pk=pk, user__is_active=True)
        .first()
    )
    if identity is None:
        return
    result.checked += 1
    username = identity.user.get_username()
    try:
        refresh_token = unseal(identity.refresh_token)
    except InvalidToken:
        result.failed.append(f"{username}: the stored token cannot be read (SECRET_KEY changed?)")
        return
    try:
        response = requests.post(
            metadata["token_endpoint"],
            data={
                "grant_type": "refresh_token",
                "refresh_token": refresh_token,
                "client_id": settings.OIDC_RP_CLIENT_ID,
                "client_secret": settings.OIDC_RP_CLIENT_SECRET,
            },
            timeout=settings.OIDC_TIMEOUT,
        )
        answer = response.json()
    except (requests.RequestException, ValueError) as error:
        result.failed.append(f"{username}: {error}")
        return
    if response.status_code in (400, 401) and answer.get("error") == "invalid_grant":
        deactivate_user(user=identity.user, reason="the provider no longer accepts the account", by_provider=True)
        result.deactivated.append(username)
        return
    if response.status_code != 200:
        result.failed.append(f"{username}: the provider answered {response.status_code} {answer.get('error', '')}")
        return
    identity.refresh_token = seal(answer.get("refresh_token") or refresh_token)
    identity.last_checked_at = timezone.now()
    identity.save(update_fields=["refresh_token", "last_checked_at"])
    if not answer.get("id_token"):
        return
    before = (identity.user.organisation_id, identity.user.role)
    backend = SignInBackend()
    try:
        payload = backend.verify_id_token(answer["id_token"])
        if payload["sub"] != identity.subject:
            raise SignInRefused("unverified", "the refreshed ID token names someone else")
        user = sign_in_from_claims(backend.claims(answer.get("access_token", ""), answer["id_token"], payload))
    except SignInRefused as refusal:
        if refusal.reason == "unmapped":
            result.deactivated.append(username)
        else:
            result.failed.append(f"{username}: {refusal}")
        return
    except (requests.RequestException, SuspiciousOperation) as error:
        result.failed.append(f"{username}: {error}")
        return
    if (user.organisation_id, user.role) != before:
        result.moved.append(username)


def refuse(request: HttpRequest, reason: str, detail: str = "", claims: dict | None = None) -> HttpResponse:
    claims = claims or {}
    log.warning(
        "sso-refused reason=%s detail=%s subject=%s username=%s groups=%s address=%s",
        reason,
        detail or "-",
        claims.get("sub", "-"),
        claims.get(settings.OIDC_USERNAME_CLAIM, "-"),
        ",".join(claims[settings.OIDC_GROUPS_CLAIM])
        if isinstance(claims.get(settings.OIDC_GROUPS_CLAIM), list)
        else "-",
        client_address(request) or "-",
    )
    context = {"message": REFUSALS[reason], "provider_name": settings.OIDC_PROVIDER_NAME}
    status = 503 if reason == "unreachable" else 403
    return render(request, "registration/sign_in_refused.html", context, status=status)


class SignInStartView(OIDCAuthenticationRequestView):
    get_settings = staticmethod(setting)

    def __init__(self, *args: object, **kwargs: object) -> None:
        super(OIDCAuthenticationRequestView, self).__init__(*args, **kwargs)

    def get(self, request: HttpRequest) -> HttpResponse:
        if not enabled():
            raise Http404("Single sign-on is not configured.")
        try:
            self.OIDC_OP_AUTH_ENDPOINT = setting("OIDC_OP_AUTHORIZATION_ENDPOINT")
        except (requests.RequestException, ValueError, KeyError) as error:
            return refuse(request, "unreachable", str(error))
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID
        return super().get(request)


class SignInCallbackView(OIDCAuthenticationCallbackView):
    get_settings = staticmethod(setting)

    def get(self, request: HttpRequest) -> HttpResponse:
        if not enabled():
            raise Http404("Single sign-on is not configured.")
        try:
            return super().get(request)
        except SignInRefused as refusal:
            return refuse(request, refusal.reason, refusal.detail, refusal.claims)
        except SuspiciousOperation as error:  # the library's: unknown state, nonce mismatch, no key
            reason = "expired" if "state" in str(error) else "unverified"
            return refuse(request, reason, str(error))
        except requests.RequestException as error:  # the token or userinfo endpoint refused or failed
            status = getattr(error.response, "status_code", None)
            if status is not None and 400 <= status < 500:
                return refuse(request, "expired", f"provider answered {status}")
            return refuse(request, "unreachable", str(error))

    def login_failure(self) -> HttpResponse:
        error = self.request.GET.get("error")
        if error:
            return refuse(
                self.request, "cancelled" if error == "access_denied" else "unverified", f"provider error {error}"
            )
        return refuse(self.request, "expired", "no sign-in in progress in this session")


sign_in_start = login_not_required(SignInStartView.as_view())
sign_in_callback = login_not_required(SignInCallbackView.as_view())


# --- the sign-in page, two-factor and sign-out --------------------------------------------------


class SignInView(auth_views.LoginView):
    """The sign-in page: the provider's button when single sign-on is on, and the password form
    (for everyone, or only for break-glass administrators when LOCAL_SIGN_IN is off)."""

    redirect_authenticated_user = True

    def get_context_data(self, **kwargs: object) -> dict:
        context = super().get_context_data(**kwargs)
        context["sso_enabled"] = enabled()
        context["sso_name"] = settings.OIDC_PROVIDER_NAME
        context["local_sign_in"] = settings.LOCAL_SIGN_IN
        return context


def signed_in_with_provider(request: HttpRequest) -> bool:
    return request.session.get(auth.BACKEND_SESSION_KEY) == BACKEND


def provider_verified_second_factor(request: HttpRequest) -> bool:
    """The provider asserted multi-factor authentication when this session signed in."""
    return signed_in_with_provider(request) and request.session.get(MFA_SESSION_KEY) is True


def provider_logout_url(request: HttpRequest) -> str | None:
    """Where to end the provider's session too (RP-initiated logout), if it offers that."""
    if not (enabled() and signed_in_with_provider(request)):
        return None
    try:
        endpoint = provider_metadata().get("end_session_endpoint")
    except (requests.RequestException, ValueError):
        return None
    if not endpoint:
        return None
    params = {
        "client_id": settings.OIDC_RP_CLIENT_ID,
        "post_logout_redirect_uri": request.build_absolute_uri(reverse(settings.LOGOUT_REDIRECT_URL)),
    }
    if request.session.get(ID_TOKEN_SESSION_KEY):
        params["id_token_hint"] = request.session[ID_TOKEN_SESSION_KEY]
    return f"{endpoint}?{urlencode(params)}"


@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    """End the tracker's session, then the provider's where there is one to end."""
    provider_url = provider_logout_url(request)
    auth.logout(request)
    return redirect(provider_url or settings.LOGOUT_REDIRECT_URL)
