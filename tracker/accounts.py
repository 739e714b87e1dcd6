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
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django_otp import devices_for_user, match_token
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from .http import AuthedRequest
from .middleware import second_factor_verified, two_factor_required


class TokenForm(forms.Form):
    token = forms.CharField(
        label="Six-digit code from your authenticator app",
        min_length=6,
        max_length=8,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )


class DigestForm(forms.Form):
    receive_digest = forms.BooleanField(
        label="Email me a daily digest of my overdue and due-soon action plans", required=False
    )


def _next_url(request: AuthedRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or "/"
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
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
    context = {
        "form": form,
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
        return redirect(f"/accounts/two-factor/setup/?next={_next_url(request)}")
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
    user = request.user
    if request.method == "POST":
        if two_factor_required(user):
            messages.error(request, "Your role requires two-factor authentication, so it cannot be turned off.")
        else:
            TOTPDevice.objects.filter(user=user).delete()
            messages.success(request, "Two-factor authentication is off.")
    return redirect("account")
