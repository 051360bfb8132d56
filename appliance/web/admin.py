"""The admin page: login, then the tenant's channels (with webhook URLs and embed code) and conversations."""
from __future__ import annotations

import functools
import hmac
import math
import secrets
import time
from importlib.resources import files

from flask import Blueprint, Response, abort, current_app, redirect, render_template, request, session, url_for

from appliance.auth import check_login
from appliance.limits import RateLimit, too_many
from appliance.records import Channel, Conversation, Message, Tenant, User
from appliance.web import client_address, public_base, services

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


class LoginLimits:
    """Failed sign-ins counted per e-mail and per client address; either over its limit refuses further tries."""

    def __init__(self, settings):
        window = settings.login_window_seconds
        self.account = RateLimit(settings.login_failures_per_account, window)
        self.address = RateLimit(settings.login_failures_per_address, window)

    def wait(self, email: str, address: str) -> float:
        """Seconds until this e-mail may try again from this address (0: now)."""
        return max(self.account.retry_after(email), self.address.retry_after(address))

    def failed(self, email: str, address: str) -> None:
        """Count one wrong password."""
        self.account.hit(email)
        self.address.hit(address)


def _login_limits() -> LoginLimits:
    extensions = current_app.extensions
    if "appliance_login_limits" not in extensions:
        extensions.setdefault("appliance_login_limits", LoginLimits(services().settings))
    return extensions["appliance_login_limits"]


def _current_user() -> User | None:
    """The signed-in user, if the cookie is from a session that was not ended (logout) and has not expired."""
    if not session.get("user_id"):
        return None
    user = User.get_or_none(User.id == session["user_id"])
    lifetime = current_app.permanent_session_lifetime.total_seconds()
    if (user is None or session.get("version") != user.session_version
            or time.time() - session.get("since", 0) > lifetime):
        session.clear()
        return None
    return user


def login_required(view):
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        user = _current_user()
        if user is None:
            return redirect(url_for("admin.login", next=request.path))
        return view(user, *args, **kwargs)

    return wrapper


def _start_session(user: User) -> None:
    session.clear()  # a fresh session (and CSRF token) at every login
    session.permanent = True  # the cookie expires after admin_session_hours (PERMANENT_SESSION_LIFETIME)
    session.update(user_id=user.id, version=user.session_version, since=int(time.time()))
    csrf_token()


@blueprint.route("/login", methods=["GET", "POST"])
def login():
    """E-mail and password, with failures limited per e-mail and per address (429 + Retry-After)."""
    error = None
    if request.method == "POST":
        email = request.form.get("email", "").strip().lower()
        address = client_address()
        limits = _login_limits()
        wait = limits.wait(email, address)
        if wait:  # refused before the password is checked: a right guess during the pause does not get in
            raise too_many(wait, "Too many wrong passwords for this account or from this address; "
                                 f"wait {math.ceil(wait / 60)} minute(s) and try again.")
        user = check_login(email, request.form.get("password", ""))
        if user is not None:
            limits.account.reset(email)
            _start_session(user)
            return redirect(url_for("admin.dashboard"))
        limits.failed(email, address)
        error = "That e-mail and password do not match; check them and try again."
    return render_template("login.html", error=error), 401 if error else 200


@blueprint.post("/logout")
def logout():
    """Sign out everywhere: the session version goes up, so every earlier cookie of this user stops working."""
    user = _current_user()
    if user is not None:
        User.end_sessions(user.id)
    session.clear()
    return redirect(url_for("admin.login"))


@blueprint.get("/admin.js")
def script():
    """The admin pages' script, a file of our own: the Content-Security-Policy allows no inline script."""
    source = files("appliance.web").joinpath("static/admin.js").read_text(encoding="utf-8")
    return Response(source, mimetype="application/javascript", headers={"Cache-Control": "no-cache"})


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
        channels = list(Channel.connected(tenant))
        conversations = list(Conversation.select().where(Conversation.tenant == tenant)
                             .order_by(Conversation.last_message_at.desc()).limit(50))
    last = {c.id: c.messages.order_by(Message.id.desc()).first() for c in conversations}
    return render_template("dashboard.html", user=user, tenants=tenants, tenant=tenant, channels=channels,
                           conversations=conversations, last=last, base=public_base())
