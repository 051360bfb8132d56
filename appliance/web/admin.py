"""The admin page: login, then the tenant's channels (with webhook URLs and embed code) and conversations."""
from __future__ import annotations

import functools
import hmac
import secrets

from flask import Blueprint, abort, redirect, render_template, request, session, url_for

from appliance.auth import check_password
from appliance.records import Channel, Conversation, Message, Tenant, User
from appliance.web import public_base

blueprint = Blueprint("admin", __name__, url_prefix="/admin", template_folder="templates")


def csrf_token() -> str:
    """The session's CSRF token, created on first use."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(24)
    return session["csrf"]


@blueprint.before_request
def _check_csrf():
    if request.method == "POST":
        sent = request.form.get("csrf", "")
        if not sent or not hmac.compare_digest(sent, session.get("csrf", "")):
            abort(400)


@blueprint.app_context_processor
def _template_globals():
    return {"csrf_token": csrf_token}


def login_required(view):
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        user = User.get_or_none(User.id == session.get("user_id")) if session.get("user_id") else None
        if user is None:
            return redirect(url_for("admin.login", next=request.path))
        return view(user, *args, **kwargs)

    return wrapper


@blueprint.route("/login", methods=["GET", "POST"])
def login():
    """E-mail and password; the session cookie is HttpOnly and SameSite=Lax."""
    error = None
    if request.method == "POST":
        email = request.form.get("email", "").strip().lower()
        user = User.get_or_none(User.email == email)
        if user and check_password(request.form.get("password", ""), user.password_hash):
            session.clear()
            session["user_id"] = user.id
            csrf_token()
            return redirect(url_for("admin.dashboard"))
        error = "That e-mail and password do not match; check them and try again."
    return render_template("login.html", error=error), 401 if error else 200


@blueprint.post("/logout")
def logout():
    session.clear()
    return redirect(url_for("admin.login"))


@blueprint.get("/")
@login_required
def dashboard(user: User):
    """Channels with the URL to paste into each platform, and the latest conversations."""
    if user.role == "platform-admin":
        tenants = list(Tenant.select().order_by(Tenant.created_at))
    else:
        tenants = [user.tenant]
    chosen = request.args.get("tenant")
    tenant = next((t for t in tenants if t.id == chosen), tenants[0] if tenants else None)
    channels, conversations = [], []
    if tenant is not None:
        channels = list(Channel.select().where((Channel.tenant == tenant) & (Channel.deleted == False)))  # noqa: E712
        conversations = list(Conversation.select().where(Conversation.tenant == tenant)
                             .order_by(Conversation.last_message_at.desc()).limit(50))
    last = {c.id: c.messages.order_by(Message.id.desc()).first() for c in conversations}
    return render_template("dashboard.html", user=user, tenants=tenants, tenant=tenant, channels=channels,
                           conversations=conversations, last=last, base=public_base())
