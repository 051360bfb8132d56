"""Admin console, Assistant: persona, language, fallback, history, rewording, the model (local from the models
folder, or a cloud endpoint with a write-only key), and a box to try a question (reply, sources and path).
Changes go through the JSON API's change_assistant(), so the page and PUT /assistant check them alike."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for

from appliance.assistant.answer import assistant_config
from appliance.assistant.llm import DEFAULT_MODEL, list_models
from appliance.errors import AppError
from appliance.records import Tenant, User
from appliance.web import services
from appliance.web.admin import ADMINS, blueprint, form_errors, tenant_page
from appliance.web.api import ask_assistant, change_assistant
from appliance.web.i18n import error_text, gettext

TEXTS = ("persona", "tone", "language", "instructions", "fallback", "rewrite", "model", "local_model",
         "cloud_policy")
# the API's field names (from its error codes) -> this form's fields
FIELDS = {**{name: name for name in TEXTS}, "history_length": "history_length", "min_similarity": "min_similarity", "base_url": "cloud_base_url",
          "timeout": "cloud_timeout", "api_key": "cloud_api_key",
          "credentials_required": "cloud_api_key"}


def _body(form) -> tuple[dict, dict[str, str]]:
    """The PUT /assistant body this form stands for, and errors only the form can make (a history length in words)."""
    body = {name: form.get(name, "").strip() for name in TEXTS}
    body["enabled"] = form.get("enabled") == "on"
    errors = {}
    history = form.get("history_length", "").strip()
    if history:
        if history.isdigit():
            body["history_length"] = int(history)
        else:
            errors["history_length"] = gettext("Give a whole number of messages, such as 10.")
    threshold = form.get("min_similarity", "").strip().replace(",", ".")  # 0,4 is how Vietnamese write 0.4
    try:
        body["min_similarity"] = float(threshold) if threshold else None
    except ValueError:
        errors["min_similarity"] = gettext("Give a number from 0 to 1, such as 0.4.")
    body["cloud"] = cloud_body(form)
    return body, errors


def cloud_body(form) -> dict:
    """The `cloud` object of PUT /assistant from the form's cloud fields (an empty key field keeps the stored key)."""
    cloud = {"base_url": form.get("cloud_base_url", "").strip()}
    if form.get("cloud_model", "").strip():
        cloud["model"] = form["cloud_model"].strip()
    if form.get("cloud_api_key"):
        cloud["api_key"] = form["cloud_api_key"]
    elif form.get("cloud_api_key_clear") == "on":
        cloud["api_key"] = ""
    return cloud


def save_assistant(tenant: Tenant, body: dict) -> dict[str, str]:
    """Store the settings through the API's checks; {form field: error} when refused."""
    try:
        change_assistant(tenant, body)
    except AppError as exc:
        if exc.code == "invalid_model" and "cloud.model" in exc.message:
            return {"cloud_model": error_text(exc.code, exc.message)}
        return form_errors(exc, FIELDS)
    return {}


def model_options() -> list[tuple[str, str]]:
    """The GGUF files of the models folder (the bundled default first if it is not assembled yet)."""
    names = [p.name for p in list_models(services().settings.models)]
    return [(name, name) for name in ([] if DEFAULT_MODEL in names else [DEFAULT_MODEL]) + names]


@blueprint.route("/t/<tenant_id>/assistant", methods=["GET", "POST"])
@tenant_page(*ADMINS)
def assistant(user: User, tenant: Tenant):
    """The assistant's settings form."""
    errors = {}
    if request.method == "POST":
        body, errors = _body(request.form)
        if not errors:
            errors = save_assistant(tenant, body)
        if not errors:
            flash(gettext("The assistant's settings were saved."), "ok")
            return redirect(url_for("admin.assistant", tenant_id=tenant.id))
    return _page(tenant, errors, request.form if errors else None), 422 if errors else 200


def _page(tenant: Tenant, errors: dict, form, trial: dict | None = None, question: str = ""):
    config = assistant_config(Tenant.get_by_id(tenant.id))
    if form is not None:  # show what was typed, not what is stored, next to its error
        config.update({name: form.get(name, "") for name in TEXTS}, enabled=form.get("enabled") == "on",
                      history_length=form.get("history_length", ""), min_similarity=form.get("min_similarity", ""),
                      cloud={"base_url": form.get("cloud_base_url", ""), "model": form.get("cloud_model", "")})
    return render_template("assistant.html", tenant=tenant, config=config, errors=errors, models=model_options(),
                           key_set=bool(Tenant.get_by_id(tenant.id).assistant_secret), trial=trial,
                           question=question, settings=services().settings)


@blueprint.post("/t/<tenant_id>/assistant/try")
@tenant_page(*ADMINS)
def try_assistant(user: User, tenant: Tenant):
    """Ask the assistant one question, as POST /assistant/test does: the reply, its sources and its path."""
    question = request.form.get("text", "")
    try:
        trial = ask_assistant(tenant, {"text": question})
    except AppError as exc:
        return _page(tenant, {"text": error_text(exc.code, exc.message)}, None, question=question), exc.status
    return _page(tenant, {}, None, trial=trial, question=question)
