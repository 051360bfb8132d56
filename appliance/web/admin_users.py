"""Admin console, Users: the tenant's staff (agents and shop admins), add one, reset a password, remove one.
Accounts are made and changed by appliance.auth, as `appliance user create` does."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for

from appliance.auth import create_user, remove_user, set_password
from appliance.errors import AppError
from appliance.records import Tenant, User
from appliance.web.admin import ADMINS, blueprint, tenant_page
from appliance.web.i18n import error_text, gettext

STAFF_ROLES = ("agent", "tenant-admin")
FIELDS = {"invalid_email": "email", "email_taken": "email", "weak_password": "password", "invalid_role": "role"}


def _member(tenant: Tenant, user_id: int) -> User:
    """A user of this tenant, else a 404 (another tenant's staff do not exist here)."""
    return User.get_for_tenant(tenant.id, user_id, "user")


@blueprint.route("/t/<tenant_id>/users", methods=["GET", "POST"])
@tenant_page(*ADMINS)
def users(user: User, tenant: Tenant):
    """The staff list and the form adding one."""
    errors = {}
    if request.method == "POST":
        role = request.form.get("role", "")
        try:
            if role not in STAFF_ROLES:
                raise AppError(422, "invalid_role", gettext("Choose agent or shop admin."))
            added = create_user(request.form.get("email", ""), request.form.get("password", ""), role, tenant)
        except AppError as exc:
            errors = {FIELDS.get(exc.code, "_form"): error_text(exc.code, exc.message)}
        else:
            flash(gettext("%(email)s can sign in now.", email=added.email), "ok")
            return redirect(url_for("admin.users", tenant_id=tenant.id))
    return render_template("users.html", tenant=tenant, users=User.of_tenant(tenant.id), errors=errors,
                           form=request.form), 422 if errors else 200


@blueprint.post("/t/<tenant_id>/users/<int:user_id>/password")
@tenant_page(*ADMINS)
def reset_password(user: User, tenant: Tenant, user_id: int):
    """Give a staff member a new password; their sessions end."""
    member = _member(tenant, user_id)
    try:
        set_password(member, request.form.get("password", ""))
    except AppError as exc:
        flash(gettext("The password of %(email)s was not changed: %(reason)s", email=member.email,
                      reason=error_text(exc.code, exc.message)), "error")
    else:
        flash(gettext("%(email)s has a new password and was signed out everywhere.", email=member.email), "ok")
    return redirect(url_for("admin.users", tenant_id=tenant.id))


@blueprint.route("/t/<tenant_id>/users/<int:user_id>/remove", methods=["GET", "POST"])
@tenant_page(*ADMINS)
def remove(user: User, tenant: Tenant, user_id: int):
    """Ask first (GET), then remove the account (POST)."""
    member = _member(tenant, user_id)
    back = url_for("admin.users", tenant_id=tenant.id)
    if request.method == "POST":
        try:
            remove_user(user, member)
        except AppError as exc:
            flash(error_text(exc.code, exc.message), "error")
        else:
            flash(gettext("%(email)s was removed.", email=member.email), "ok")
        return redirect(back)
    return render_template("confirm.html", question=gettext("Remove %(email)s?", email=member.email),
                           detail=gettext("They can no longer sign in; the conversations they answered stay."),
                           action=request.path, button=gettext("Remove"), back=back)
