"""Admin console, the first-run wizard: 1) connect a channel, 2) upload documents, 3) choose the model, 4) try the
assistant (reply, sources, path), 5) done: the embed code. Shown on the overview until finished; the step reached
is kept on the tenant, so it can be left and resumed. Each step calls the same functions as its full page."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for

from appliance.assistant.answer import assistant_config
from appliance.errors import AppError
from appliance.records import Channel, Document, Tenant, User
from appliance.web import public_base
from appliance.web.admin import ADMINS, blueprint, tenant_page
from appliance.web.admin_assistant import cloud_body, model_options, save_assistant
from appliance.web.admin_channels import kind_names
from appliance.web.admin_knowledge import UNFINISHED, upload_from_form
from appliance.web.api import ask_assistant
from appliance.web.i18n import error_text, gettext

STEPS = ("channel", "documents", "model", "test", "done")


def _render(tenant: Tenant, step: str, errors: dict | None = None, status: int = 200, **extra):
    if tenant.setup_step != "done" and tenant.setup_step != step:
        Tenant.update(setup_step=step).where(Tenant.id == tenant.id).execute()
    documents = Document.of_tenant(tenant.id)
    page = render_template("setup.html", tenant=tenant, step=step, steps=STEPS, number=STEPS.index(step) + 1,
                           errors=errors or {}, channels=Channel.live_of(tenant.id), names=kind_names(),
                           documents=documents, polling=any(d.status in UNFINISHED for d in documents),
                           config=assistant_config(Tenant.get_by_id(tenant.id)), models=model_options(),
                           key_set=bool(Tenant.get_by_id(tenant.id).assistant_secret), base=public_base(), **extra)
    return page, status


@blueprint.get("/t/<tenant_id>/setup")
@tenant_page(*ADMINS)
def setup(user: User, tenant: Tenant):
    """Resume the wizard where it was left."""
    step = tenant.setup_step if tenant.setup_step in STEPS[:-1] else "channel"
    return redirect(url_for("admin.setup_step", tenant_id=tenant.id, step=step))


@blueprint.route("/t/<tenant_id>/setup/<step>", methods=["GET", "POST"])
@tenant_page(*ADMINS)
def setup_step(user: User, tenant: Tenant, step: str):
    """One step of the wizard; its form (if any) posts back here."""
    if step not in STEPS:
        abort(404)
    if request.method == "GET":
        return _render(tenant, step)
    return ACTIONS[step](tenant)


def _documents(tenant: Tenant):
    errors = upload_from_form(tenant)
    if errors:
        return _render(tenant, "documents", errors, 422)
    return redirect(url_for("admin.setup_step", tenant_id=tenant.id, step="documents"))


def _model(tenant: Tenant):
    form = request.form
    body = {"model": form.get("model", ""), "local_model": form.get("local_model", ""),
            "cloud_policy": form.get("cloud_policy", ""), "cloud": cloud_body(form)}
    errors = save_assistant(tenant, body)
    if errors:
        return _render(tenant, "model", errors, 422)
    flash(gettext("The assistant's settings were saved."), "ok")
    return redirect(url_for("admin.setup_step", tenant_id=tenant.id, step="test"))


def _test(tenant: Tenant):
    question = request.form.get("text", "")
    try:
        trial = ask_assistant(tenant, {"text": question})
    except AppError as exc:
        return _render(tenant, "test", {"text": error_text(exc.code, exc.message)}, exc.status, question=question)
    return _render(tenant, "test", trial=trial, question=question)


def _done(tenant: Tenant):
    Tenant.update(setup_step="done").where(Tenant.id == tenant.id).execute()
    flash(gettext("%(name)s is set up. Customers can write now.", name=tenant.name), "ok")
    return redirect(url_for("admin.dashboard", tenant=tenant.id))


def _no_form(tenant: Tenant):
    abort(405)


ACTIONS = {"channel": _no_form, "documents": _documents, "model": _model, "test": _test, "done": _done}
