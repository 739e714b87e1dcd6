"""The signed-in user's own settings: reminder digest and two-factor authentication (TOTP)."""

from __future__ import annotations

import base64
import io

import qrcode
import qrcode.image.svg
from django import forms
from django.contrib import messages
from django.db import transaction
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django_otp import devices_for_user, match_token
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from .http import AuthedRequest
from .middleware import (
    SECOND_FACTOR_ENROLLED_KEY,
    remember_enrolment,
    second_factor_verified,
    two_factor_required,
)


class TokenForm(forms.Form):
    token = forms.CharField(
        label="Six-digit code from your authenticator app",
        min_length=6,
        max_length=8,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )


class TurnOffForm(forms.Form):
    """Turning two-factor authentication off asks for the password again, so that a session left open
    (or taken) cannot do it alone. A person who signs in only through single sign-on has no password
    here, and gives a code from the authenticator instead."""

    password = forms.CharField(strip=False)  # or, with no password, the code

    def __init__(self, *args, user, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.user = user
        field = self.fields["password"]
        if user.has_usable_password():
            field.label = "Your password"
            field.widget = forms.PasswordInput(attrs={"autocomplete": "current-password"})
        else:
            field.label = TokenForm.base_fields["token"].label
            field.widget = forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"})

    def clean_password(self) -> str:
        secret = self.cleaned_data["password"]
        if self.user.has_usable_password():
            if not self.user.check_password(secret):
                raise forms.ValidationError("That is not your password.")
        elif match_token(self.user, secret.strip()) is None:
            raise forms.ValidationError("That code is not right. Try the newest code from your authenticator app.")
        return secret


class DigestForm(forms.Form):
    receive_digest = forms.BooleanField(
        label="Email me a daily digest of my overdue and due-soon action plans", required=False
    )


def _next_url(request: AuthedRequest) -> str:
    """Where to go on from a two-factor page: a path on this site (anything else, the home page; `redirect`
    would take a bare word such as "0" for the name of a URL pattern)."""
    target = request.POST.get("next") or request.GET.get("next") or "/"
    if target.startswith("/") and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return "/"


def qr_data_uri(text: str) -> str:
    """The enrolment QR code as an SVG data URI (an <img>, so no inline markup or styles)."""
    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathFillImage, box_size=10)
    buffer = io.BytesIO()
    image.save(buffer)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode()


@never_cache
def account(request: AuthedRequest) -> HttpResponse:
    user = request.user
    form = DigestForm(
        request.POST if request.method == "POST" else None, initial={"receive_digest": user.receive_digest}
    )
    if request.method == "POST" and form.is_valid():
        user.receive_digest = form.cleaned_data["receive_digest"]
        user.save(update_fields=["receive_digest"])
        messages.success(request, "Your reminder setting is saved.")
        return redirect("account")
    return _account_page(request, form, TurnOffForm(user=user))


def _account_page(request: AuthedRequest, form: DigestForm, turn_off: TurnOffForm) -> HttpResponse:
    user = request.user
    context = {
        "form": form,
        "turn_off": turn_off,
        "has_device": any(devices_for_user(user, confirmed=True)),
        "verified": second_factor_verified(request),
        "required": two_factor_required(user),
    }
    return render(request, "registration/account.html", context)


@never_cache
def two_factor_setup(request: AuthedRequest) -> HttpResponse:
    """Enrol an authenticator: scan the code, then prove it works with one token."""
    user = request.user
    if any(devices_for_user(user, confirmed=True)):
        messages.info(request, "Two-factor authentication is already set up.")
        return redirect("account")
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)
    form = TokenForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        if device.verify_token(form.cleaned_data["token"].strip()):
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            otp_login(request, device)
            request.session[SECOND_FACTOR_ENROLLED_KEY] = True  # this session is verified; the next is asked
            messages.success(request, "Two-factor authentication is on.")
            return redirect(_next_url(request))
        form.add_error("token", "That code is not right. Check the time on your phone and try the newest code.")
    context = {
        "form": form,
        "qr": qr_data_uri(device.config_url),
        "secret": base64.b32encode(device.bin_key).decode(),
        "next": _next_url(request),
    }
    return render(request, "registration/two_factor_setup.html", context)


@never_cache
def two_factor_verify(request: AuthedRequest) -> HttpResponse:
    """Ask for a token once per session from users whose role requires two-factor authentication."""
    user = request.user
    if second_factor_verified(request):
        return redirect(_next_url(request))
    if not any(devices_for_user(user, confirmed=True)):
        if two_factor_required(user):
            return redirect(f"/accounts/two-factor/setup/?next={_next_url(request)}")
        remember_enrolment(request, user)  # turned off in another session since this one signed in
        return redirect(_next_url(request))
    form = TokenForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        device = match_token(user, form.cleaned_data["token"].strip())
        if device is not None:
            otp_login(request, device)
            return redirect(_next_url(request))
        form.add_error("token", "That code is not right. Try the newest code from your authenticator app.")
    return render(request, "registration/two_factor_verify.html", {"form": form, "next": _next_url(request)})


@never_cache
@transaction.atomic
def two_factor_remove(request: AuthedRequest) -> HttpResponse:
    """Turn two-factor authentication off: only from a session that gave a code, and with the password
    again (`TurnOffForm`). A role that requires it cannot turn it off."""
    user = request.user
    if request.method != "POST":
        return redirect("account")
    if two_factor_required(user):
        messages.error(request, "Your role requires two-factor authentication, so it cannot be turned off.")
        return redirect("account")
    if not second_factor_verified(request):
        return redirect(f"{reverse('two-factor-verify')}?next={reverse('account')}")
    turn_off = TurnOffForm(request.POST, user=user)
    if not turn_off.is_valid():
        return _account_page(request, DigestForm(initial={"receive_digest": user.receive_digest}), turn_off)
    TOTPDevice.objects.filter(user=user).delete()
    request.session[SECOND_FACTOR_ENROLLED_KEY] = False
    messages.success(request, "Two-factor authentication is off.")
    return redirect("account")
