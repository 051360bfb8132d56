"""The admin console's shell: login, sessions, CSRF, roles, the tenant a page is about, navigation, language,
the account page and the platform admin's tenants. Each area's pages live in admin_<area>.py on this blueprint.

| path                          | who                 | does                                           |
|-------------------------------|---------------------|------------------------------------------------|
| /admin/login, /admin/logout   | anyone / signed in  | sign in (limited), sign out everywhere         |
| /admin/                       | signed in           | overview: channels, embed code, conversations  |
| /admin/tenants                | platform admin      | every tenant; create one                       |
| /admin/switch                 | platform admin      | the same page for another tenant               |
| /admin/language               | anyone              | English or Vietnamese (stored on the user)     |
| /admin/account                | signed in           | language and password                          |
| /admin/t/<tenant>/<area>      | by area (see below) | knowledge, assistant, channels, users          |
| /admin/t/<tenant>/inbox...    | the shop's staff    | conversations, replies, hand-off (admin_inbox) |
"""
from __future__ import annotations

import functools
import hmac
import math
import secrets
import time
from importlib.resources import files

from flask import (Blueprint, Response, abort, current_app, flash, g, redirect, render_template, request, session,
                   url_for)

from appliance.auth import check_login, check_password, create_tenant, set_password
from appliance.errors import AppError
from appliance.limits import RateLimit, too_many
from appliance.records import Channel, Conversation, Message, Tenant, User
from appliance.web import client_address, public_base, services
from appliance.web.i18n import LANGUAGES, error_text, gettext

blueprint = Blueprint("admin", __name__, url_prefix="/admin", template_folder="templates")
ADMINS = ("platform-admin", "tenant-admin")
STATIC = {"admin.js": "application/javascript", "admin.css": "text/css"}


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
    return {"csrf_token": csrf_token, "user": g.get("user"), "current_tenant": _nav_tenant(),
            "tenants_to_switch": _switchable(), "has_page": lambda endpoint: endpoint in current_app.view_functions}


def _nav_tenant() -> Tenant | None:
    """The tenant the navigation links to: the page's, else the user's, else the platform admin's last one."""
    user = g.get("user")
    if g.get("tenant") is not None or user is None:
        return g.get("tenant")
    if user.tenant_id:
        return user.tenant
    return Tenant.get_or_none(Tenant.id == session.get("tenant", "")) or next(iter(Tenant.oldest_first()), None)


def _switchable() -> list[Tenant]:
    user = g.get("user")
    if user is None or user.role != "platform-admin":
        return []
    return Tenant.oldest_first()


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
        lang = session.get("lang")
        session.clear()
        if lang:
            session["lang"] = lang
        return None
    return user


@blueprint.before_request
def _load_user():
    g.user = _current_user()


def login_required(view):
    """The view gets the signed-in user first; others go to the login page."""
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        if g.user is None:
            return redirect(url_for("admin.login", next=request.path))
        return view(g.user, *args, **kwargs)

    return wrapper


def tenant_page(*roles: str):
    """A page about one tenant (/admin/t/<tenant_id>/...): the view gets (user, tenant). A role not in `roles` gets
    a 403 page; another tenant's id is a 404 for anyone but the platform admin (it does not exist for them)."""

    def decorate(view):
        @functools.wraps(view)
        def wrapper(tenant_id: str, *args, **kwargs):
            user = g.user
            if user is None:
                return redirect(url_for("admin.login", next=request.path))
            if user.role not in roles:
                raise AppError(403, "admins_only", gettext("This page is for admins; ask your shop's admin if you "
                                                         "need something changed here."))
            tenant = Tenant.get_or_none(Tenant.id == tenant_id)
            if tenant is None or (user.role != "platform-admin" and user.tenant_id != tenant.id):
                raise AppError(404, "unknown_tenant", gettext("There is no such shop."))
            g.tenant = tenant
            if user.role == "platform-admin":
                session["tenant"] = tenant.id  # the nav of pages without a tenant in their URL follows it
            return view(user, tenant, *args, **kwargs)

        return wrapper

    return decorate


def form_errors(exc: AppError, fields: dict[str, str]) -> dict[str, str]:
    """An API error as {form field: sentence}: the field its code names (invalid_<name>, <name>_too_long, by
    `fields`: the API's names to the form's), else "_form" for the form as a whole."""
    name = exc.code.removeprefix("invalid_").removesuffix("_too_long")
    return {fields.get(name, "_form"): error_text(exc.code, exc.message)}


def _start_session(user: User) -> None:
    lang = session.get("lang")
    session.clear()  # a fresh session (and CSRF token) at every login
    session.permanent = True  # the cookie expires after admin_session_hours (PERMANENT_SESSION_LIFETIME)
    session.update(user_id=user.id, version=User.get_by_id(user.id).session_version, since=int(time.time()))
    if lang:
        session["lang"] = lang
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
            raise too_many(wait, gettext("Too many wrong passwords for this account or from this address; wait "
                                         "%(minutes)s minute(s) and try again.", minutes=math.ceil(wait / 60)))
        user = check_login(email, request.form.get("password", ""))
        if user is not None:
            limits.account.reset(email)
            if session.get("lang") and not user.language:  # chosen on the login page: keep it for this user
                User.update(language=session["lang"]).where(User.id == user.id).execute()
            _start_session(user)
            return redirect(safe_next(request.args.get("next")))
        limits.failed(email, address)
        error = gettext("That e-mail and password do not match; check them and try again.")
    return render_template("login.html", error=error), 401 if error else 200


def safe_next(target: str | None) -> str:
    """Back to the admin page the login interrupted, never to another site."""
    if target and target.startswith("/admin/") and not target.startswith("//"):
        return target
    return url_for("admin.dashboard")


@blueprint.post("/logout")
def logout():
    """Sign out everywhere: the session version goes up, so every earlier cookie of this user stops working."""
    if g.user is not None:
        User.end_sessions(g.user.id)
    session.clear()
    return redirect(url_for("admin.login"))


@blueprint.get("/admin.js")
def script():
    """The admin pages' script, a file of our own: the Content-Security-Policy allows no inline script."""
    return asset("admin.js")


@blueprint.get("/static/<name>")
def asset(name: str):
    """The admin pages' style sheet and script (files of the package; no CDN, no build step)."""
    if name not in STATIC:
        abort(404)
    source = files("appliance.web").joinpath("static", name).read_bytes()
    return Response(source, mimetype=STATIC[name], headers={"Cache-Control": "no-cache"})


@blueprint.post("/language")
def choose_language():
    """English or Vietnamese: stored on the signed-in user (else in the session, for the login page)."""
    chosen = request.form.get("language", "")
    if chosen not in LANGUAGES:
        chosen = ""  # back to the browser's choice
    session["lang"] = chosen
    if g.user is not None:
        User.update(language=chosen).where(User.id == g.user.id).execute()
    g.pop("lang", None)
    return redirect(safe_next(request.form.get("next")))


@blueprint.get("/")
@login_required
def dashboard(user: User):
    """Channels with the URL to paste into each platform, and the latest conversations."""
    if user.role == "platform-admin":
        tenants = Tenant.oldest_first()
        chosen = request.args.get("tenant") or session.get("tenant")
    else:
        tenants, chosen = [user.tenant], None
    tenant = next((t for t in tenants if t.id == chosen), tenants[0] if tenants else None)
    channels, conversations = [], []
    if tenant is not None:
        g.tenant = tenant
        channels = Channel.live_of(tenant.id)
        conversations = Conversation.latest(tenant.id, 50)
    last = Message.last_of([c.id for c in conversations])
    return render_template("dashboard.html", tenants=tenants, tenant=tenant, channels=channels,
                           conversations=conversations, last=last, base=public_base())


@blueprint.get("/switch")
@login_required
def switch(user: User):
    """The platform admin's tenant switcher: the page they are on, for the tenant they picked."""
    tenant = Tenant.get_or_none(Tenant.id == request.args.get("tenant", ""))
    if user.role != "platform-admin" or tenant is None:
        raise AppError(404, "unknown_tenant", gettext("There is no such shop."))
    session["tenant"] = tenant.id
    page = request.args.get("page", "")
    rule = next((r for r in current_app.url_map.iter_rules() if r.endpoint == page), None)
    if rule is not None and rule.arguments == {"tenant_id"}:
        return redirect(url_for(page, tenant_id=tenant.id))
    return redirect(url_for("admin.dashboard", tenant=tenant.id))


@blueprint.route("/tenants", methods=["GET", "POST"])
@login_required
def tenants(user: User):
    """Every tenant (the platform admin's start page); the form creates one and shows its API token once."""
    if user.role != "platform-admin":
        raise AppError(403, "platform_admin_only", gettext("Only the platform admin manages shops."))
    errors, created = {}, None
    if request.method == "POST":
        try:
            tenant, token = create_tenant(request.form.get("name", ""))
        except AppError as exc:
            errors = {"name": error_text(exc.code, exc.message)}
        else:
            created = {"tenant": tenant, "token": token}
            flash(gettext("Shop %(name)s created.", name=tenant.name), "ok")
    return render_template("tenants.html", tenants=Tenant.oldest_first(), errors=errors, created=created,
                           form=request.form), 422 if errors else 200


@blueprint.route("/account", methods=["GET", "POST"])
@login_required
def account(user: User):
    """The signed-in user's language and password."""
    errors = {}
    if request.method == "POST":
        errors = _change_password(user, request.form)
        if not errors:
            _start_session(user)  # every other session of this user ended with the old password
            flash(gettext("Your password was changed; other devices are signed out."), "ok")
            return redirect(url_for("admin.account"))
    return render_template("account.html", errors=errors), 422 if errors else 200


def _change_password(user: User, form) -> dict[str, str]:
    if not check_password(form.get("current", ""), user.password_hash):
        return {"current": gettext("This is not your current password.")}
    if form.get("new", "") != form.get("repeat", ""):
        return {"repeat": gettext("The two new passwords differ; type the same one twice.")}
    try:
        set_password(user, form.get("new", ""))
    except AppError as exc:
        return {"new": error_text(exc.code, exc.message)}
    return {}
