"""Admin console, Channels: the tenant's channels with their state (and why one needs attention), a connect form
per platform with its own fields and help, then the webhook URL and verify token to copy; credentials can be
replaced but are never shown (write-only); disconnect asks first. The JSON API's connect_channel(),
change_channel() and disconnect_channel() do the work, so both check credentials alike."""
from __future__ import annotations

import secrets

import requests
from flask import flash, redirect, render_template, request, url_for

from appliance.channels import CREDENTIAL_FIELDS
from appliance.errors import AppError
from appliance.records import Channel, Tenant, User
from appliance.web import public_base, services
from appliance.web.admin import ADMINS, blueprint, form_errors, safe_next, tenant_page
from appliance.web.api import change_channel, connect_channel, disconnect_channel
from appliance.web.i18n import error_text, gettext

OPTIONAL = {"whatsapp": ("window_template", "template_language"), "messenger": ("window_template",),
            "zalo": ("refresh_token", "app_secret", "window_template"), "telegram": (), "web": ()}
SECRET = {"access_token", "app_secret", "page_access_token", "oa_secret_key", "bot_token", "refresh_token"}
GENERATED = ("verify_token", "secret_token")  # we suggest a random one; the admin pastes it into the platform
HANDSHAKE = ("whatsapp", "messenger")  # platforms that check a webhook with a GET before sending to it
CHECK_SECONDS = 5


def kind_names() -> dict[str, str]:
    """Platforms by their own names (not translated), the web chat in the reader's language."""
    return {"whatsapp": "WhatsApp", "messenger": "Messenger", "zalo": "Zalo OA", "telegram": "Telegram",
            "web": gettext("Web chat")}


def _fields(kind: str) -> list[dict]:
    """The form's credential fields of a platform: name, required, secret (a password field)."""
    return [{"name": name, "required": name in CREDENTIAL_FIELDS[kind], "secret": name in SECRET}
            for name in CREDENTIAL_FIELDS[kind] + OPTIONAL[kind]]


def _channel(tenant: Tenant, channel_id: str) -> Channel:
    channel = Channel.get_for_tenant(tenant.id, channel_id, "channel")
    if channel.deleted:
        raise AppError(404, "channel_disconnected", gettext("This channel was disconnected."))
    return channel


def _field_errors(exc: AppError, kind: str) -> dict[str, str]:
    """Credential errors under the first field they name, others by their code."""
    if exc.code in ("missing_credentials", "invalid_credentials", "credentials_required"):
        named = next((f["name"] for f in _fields(kind) if f["name"] in exc.message), "_form")
        return {named: error_text(exc.code, exc.message)}
    return form_errors(exc, {"name": "name"})


@blueprint.get("/t/<tenant_id>/channels")
@tenant_page(*ADMINS)
def channels(user: User, tenant: Tenant):
    """The tenant's channels and the platforms to connect."""
    return render_template("channels.html", tenant=tenant, names=kind_names(), channels=Channel.live_of(tenant.id), kinds=list(CREDENTIAL_FIELDS),
                           base=public_base())


@blueprint.route("/t/<tenant_id>/channels/new/<kind>", methods=["GET", "POST"])
@tenant_page(*ADMINS)
def connect(user: User, tenant: Tenant, kind: str):
    """A platform's connect form; once connected, the webhook URL and verify token to copy."""
    if kind not in CREDENTIAL_FIELDS:
        raise AppError(404, "unknown_platform", gettext("There is no such platform."))
    form, errors = request.form, {}
    if request.method == "POST":
        credentials = {f["name"]: form.get(f["name"], "").strip() for f in _fields(kind)
                       if form.get(f["name"], "").strip()}
        try:
            body = connect_channel(tenant.id, {"kind": kind, "name": form.get("name", "").strip() or None,
                                               "credentials": credentials})
        except AppError as exc:
            errors = _field_errors(exc, kind)
        else:
            flash(gettext("%(name)s is connected.", name=body["name"]), "ok")
            return render_template("channel_connected.html", tenant=tenant, names=kind_names(), channel=body,
                                   tokens={k: credentials[k] for k in GENERATED if k in credentials})
    else:
        form = {name: secrets.token_urlsafe(18) for name in GENERATED if name in CREDENTIAL_FIELDS[kind]}
    return render_template("channel_form.html", tenant=tenant, names=kind_names(), kind=kind, fields=_fields(kind), form=form,
                           errors=errors, channel=None), 422 if errors else 200


@blueprint.route("/t/<tenant_id>/channels/<channel_id>", methods=["GET", "POST"])
@tenant_page(*ADMINS)
def edit_channel(user: User, tenant: Tenant, channel_id: str):
    """Rename a channel or replace some of its credentials (blank fields keep what is stored)."""
    channel = _channel(tenant, channel_id)
    form, errors = request.form, {}
    if request.method == "POST":
        body = {"name": form.get("name", "").strip()}
        credentials = {f["name"]: form[f["name"]].strip() for f in _fields(channel.kind)
                       if form.get(f["name"], "").strip()}
        if credentials:
            body["credentials"] = credentials
        try:
            change_channel(tenant.id, channel.id, body)
        except AppError as exc:
            errors = _field_errors(exc, channel.kind)
        else:
            flash(gettext("%(name)s was saved.", name=body["name"]), "ok")
            return redirect(url_for("admin.channels", tenant_id=tenant.id))
    else:
        form = {"name": channel.name}
    return render_template("channel_form.html", tenant=tenant, names=kind_names(), kind=channel.kind, fields=_fields(channel.kind),
                           form=form, errors=errors, channel=channel), 422 if errors else 200


@blueprint.route("/t/<tenant_id>/channels/<channel_id>/disconnect", methods=["GET", "POST"])
@tenant_page(*ADMINS)
def disconnect(user: User, tenant: Tenant, channel_id: str):
    """Ask first (GET), then disconnect (POST): its webhooks stop answering, its conversations stay."""
    channel = _channel(tenant, channel_id)
    back = url_for("admin.channels", tenant_id=tenant.id)
    if request.method == "POST":
        disconnect_channel(tenant.id, channel.id)
        flash(gettext("%(name)s was disconnected.", name=channel.name), "ok")
        return redirect(back)
    return render_template("confirm.html", question=gettext("Disconnect %(name)s?", name=channel.name),
                           detail=gettext("Customers writing there get no answers any more; its conversations "
                                          "stay. Its credentials are forgotten."),
                           action=request.path, button=gettext("Disconnect"), back=back)


@blueprint.post("/t/<tenant_id>/channels/<channel_id>/check")
@tenant_page(*ADMINS)
def check(user: User, tenant: Tenant, channel_id: str):
    """Do what Meta does before it sends anything: the hub.challenge handshake, against this appliance's own public
    webhook URL with the channel's verify token, so a wrong public_url, proxy or token shows up here first."""
    channel = _channel(tenant, channel_id)
    if channel.kind not in HANDSHAKE or not channel.credentials:
        raise AppError(404, "no_handshake", gettext("Only WhatsApp and Messenger channels have a webhook check."))
    ok, reason = _handshake(channel)
    if ok:
        flash(gettext("The webhook answered the handshake at %(url)s: the platform can verify it.", url=reason), "ok")
    else:
        flash(gettext("The webhook check failed: %(reason)s", reason=reason), "error")
    return redirect(safe_next(request.form.get("next")) if request.form.get("next")
                    else url_for("admin.channels", tenant_id=tenant.id))


def _handshake(channel: Channel) -> tuple[bool, str]:
    """(passed, the URL or why not) for a GET of the channel's public webhook URL with a fresh challenge."""
    url = public_base() + channel.webhook_path
    token = services().vault.decrypt(channel.credentials, f"channel:{channel.id}")["verify_token"]
    challenge = secrets.token_hex(8)
    try:
        answer = requests.get(url, params={"hub.mode": "subscribe", "hub.verify_token": token,
                                           "hub.challenge": challenge}, timeout=CHECK_SECONDS, allow_redirects=False)
    except requests.RequestException as exc:
        return False, gettext("%(url)s could not be reached (%(error)s); check the public_url setting and that this "
                              "address reaches the appliance from the internet.", url=url, error=type(exc).__name__)
    if answer.status_code != 200 or answer.text != challenge:
        return False, gettext("%(url)s answered with status %(status)s instead of the challenge; check that this "
                              "address reaches the appliance (not another server or a login page).",
                              url=url, status=answer.status_code)
    return True, url
