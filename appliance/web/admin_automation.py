"""Admin console, Automation: the rules in priority order (create, edit, move up/down, turn on/off, delete, a box to
test a message: which rule or flow would answer and why), starter packs, and the flows (steps with the checker's
problems next to the step they name, a JSON editor, activate/deactivate, import/export) with the A/B results.

Shop admins and the platform admin edit; agents see the lists, the flows and the test box (they answer next to the
automation in the inbox) but change nothing. Every change goes through the automation modules' own checks and
writes (rules.check_rule, flows.check_flow...), so the page and the JSON API refuse the same things."""
from __future__ import annotations

import json
import math
import re

from flask import Response, flash, redirect, render_template, request, url_for

from appliance.automation import ab, flows as flow_engine, packs, rules as rule_engine
from appliance.automation.match import EVENTS
from appliance.errors import AppError
from appliance.records import Channel, Flow, FlowRun, Rule, Tenant, User
from appliance.web import services
from appliance.web.admin import ADMINS, blueprint, safe_next, tenant_page
from appliance.web.i18n import error_text, format_number, gettext, language

VIEWERS = (*ADMINS, "agent")
MAX_JSON = 200_000  # characters of a pasted or uploaded flow
RULES_PAGE = 100  # rules per page of the table (a tenant may have thousands)
MAX_TEST_TEXT = 4000  # characters of the test box's message (a customer's message is shorter)


# --- rules: the table, the test box, the packs --------------------------------------------------------------------

@blueprint.get("/t/<tenant_id>/rules")
@tenant_page(*VIEWERS)
def rules(user: User, tenant: Tenant):
    """The rules table, the test box (a dry run, so a GET form: nothing changes) and the starter packs."""
    text, channel = request.args.get("text", ""), request.args.get("channel", "")
    explained, test_errors = None, {}
    if len(text) > MAX_TEST_TEXT:
        test_errors = {"text": gettext("Type a message of up to %(n)s characters.", n=format_number(MAX_TEST_TEXT))}
    elif text.strip():
        try:
            explained = explain(tenant, text, channel)
        except AppError as exc:
            test_errors = {"text": refusal(exc)}
    total = Rule.count_of(tenant.id)
    pages = max(1, math.ceil(total / RULES_PAGE))
    page = min(max(request.args.get("page", 1, type=int), 1), pages)
    return render_template("rules.html", tenant=tenant, rules=Rule.page_of(tenant.id, page, RULES_PAGE),
                           offset=(page - 1) * RULES_PAGE, total=total, page=page, pages=pages,
                           flow_names=_flow_names(tenant), can_edit=user.role in ADMINS, explained=explained,
                           test_text=text, test_channel=channel, test_errors=test_errors,
                           channel_kinds=_channel_kinds(),
                           packs=packs.available(language()) if user.role in ADMINS else [])


def _back_to_rules(tenant: Tenant):
    """The rules page the form was sent from (its page of the table)."""
    page = request.form.get("page", 1, type=int)
    return redirect(url_for("admin.rules", tenant_id=tenant.id, **({"page": page} if page and page > 1 else {}))
                    + "#rules")


def explain(tenant: Tenant, text: str, channel: str) -> dict:
    """rules.explain's answer, plus the names of the rule and the flow it names (of this tenant only)."""
    result = dict(rule_engine.explain(tenant, text, channel_kind=channel if channel in Channel.KINDS else None,
                                      services=services()))
    rule_id, flow_id = _ref(result.get("rule")), _ref(result.get("flow"))
    rule = Rule.get_or_none((Rule.id == rule_id) & (Rule.tenant == tenant.id)) if rule_id else None
    flow = Flow.get_or_none((Flow.id == flow_id) & (Flow.tenant == tenant.id)) if flow_id else None
    result.update(rule_id=rule.id if rule else None, rule_name=rule.name if rule else None,
                  flow_id=flow.id if flow else None, flow_name=flow.name if flow else None)
    return result


def refusal(exc: AppError) -> str:
    """A refusal in the reader's language; in Vietnamese with the check's English detail in brackets, since it names
    the exact field and limit."""
    text = error_text(exc.code, exc.message)
    return text if text == exc.message else f"{text} ({exc.message})"


def _ref(value) -> str | None:
    """The id of a rule or flow as explain() gives it: an id, or an object with one."""
    return value.get("id") if isinstance(value, dict) else value


def _sources(tenant: Tenant, experiments: list[dict]) -> dict[str, str]:
    """"rule:<id>" and "flow:<id>" (where these experiments are defined) -> the rule's or the flow's name."""
    rule_ids = [e["source"].removeprefix("rule:") for e in experiments if e.get("source", "").startswith("rule:")]
    return {**{f"rule:{rule_id}": name for rule_id, name in Rule.names(tenant.id, rule_ids).items()},
            **{f"flow:{flow_id}": name for flow_id, name in _flow_names(tenant).items()}}


def _flow_names(tenant: Tenant) -> dict[str, str]:
    return {flow.id: flow.name for flow in Flow.of_tenant(tenant.id)}


def _channel_kinds() -> list[tuple[str, str]]:
    names = {"whatsapp": "WhatsApp", "messenger": "Messenger", "zalo": "Zalo", "telegram": "Telegram",
             "web": gettext("Website chat")}
    return [(kind, names[kind]) for kind in Channel.KINDS]


@blueprint.post("/t/<tenant_id>/packs/<name>")
@tenant_page(*ADMINS)
def install_pack(user: User, tenant: Tenant, name: str):
    """Install a starter pack with the shop's own values (hours, address...; empty: the pack's defaults); installing
    again adds only what is missing."""
    values = {key.removeprefix("value-"): value.strip() for key, value in request.form.items()
              if key.startswith("value-") and value.strip()}
    try:
        added = packs.install(tenant, name, services(), values=values)
    except AppError as exc:
        flash(gettext("The pack was not installed: %(reason)s", reason=refusal(exc)), "error")
    else:
        flash(gettext("Installed: %(rules)s rules and %(flows)s flows.", rules=len(added.get("rules", ())),
                      flows=len(added.get("flows", ()))), "ok")
    return redirect(url_for("admin.rules", tenant_id=tenant.id))


# --- rules: the form ----------------------------------------------------------------------------------------------

@blueprint.route("/t/<tenant_id>/rules/new", methods=["GET", "POST"])
@tenant_page(*ADMINS)
def new_rule(user: User, tenant: Tenant):
    """The form for a new rule; it goes to the end of the list."""
    if request.method == "POST":
        return _save_form(tenant, None)
    return _rule_page(tenant, None, rule_fields({"enabled": True, "match": {"type": "keyword"}}), {})


@blueprint.route("/t/<tenant_id>/rules/<rule_id>", methods=["GET", "POST"])
@tenant_page(*ADMINS)
def edit_rule(user: User, tenant: Tenant, rule_id: str):
    """The form of one rule, filled in from its row."""
    rule = Rule.get_for_tenant(tenant.id, rule_id, "rule")
    if request.method == "POST":
        return _save_form(tenant, rule)
    return _rule_page(tenant, rule, rule_fields(rule_engine.rule_json(rule)), {})


def _save_form(tenant: Tenant, rule: Rule | None):
    body, errors = rule_body(request.form)
    if not errors:
        errors = _save_rule(tenant, body, rule)
    if errors:
        return _rule_page(tenant, rule, typed_fields(request.form), errors), 422
    flash(gettext("The rule %(name)s was saved.", name=body["name"]), "ok")
    return redirect(url_for("admin.rules", tenant_id=tenant.id))


def _save_rule(tenant: Tenant, body: dict, rule: Rule | None) -> dict[str, str]:
    """Store through the rules module's checks (a new rule goes last); {form field: sentence} when refused."""
    try:
        if rule is None:
            body["priority"] = max((r.priority for r in Rule.of_tenant(tenant.id)), default=0) + 10
            rule_engine.create(tenant.id, body)
        else:
            body.update(priority=rule.priority, actions=unmasked(body["actions"]))
            rule_engine.update(rule, body, partial=False)
    except AppError as exc:
        return {rule_field(exc.message, body, request.form): refusal(exc)}
    return {}


def rule_field(message: str, body: dict, form) -> str:
    """The form field a refusal names: its sentence starts with the rule's field ("actions[2].text: ...")."""
    parts = re.findall(r"[a-z_]+|\d+", message.split(":", 1)[0])
    head = parts[0] if parts else ""
    if head == "match":
        return parts[1] if len(parts) > 1 and parts[1] in ("mode", "keywords", "pattern", "payload", "event") \
            else "match_type"
    if head != "actions":
        return head if head in ("name", "conditions") else "_form"
    if len(parts) == 1 or not parts[1].isdigit():
        return "reply"  # no action at all: the reply box is the first place to give one
    if form.get("reply", "").strip() and parts[1] == "0":
        return "reply"
    if form.get("then") and int(parts[1]) == len(body["actions"]) - 1:
        return "then"
    return "actions"


def unmasked(actions: list) -> list:
    """The form's actions without the "secret_set" marks shown in place of webhook secrets (A/B variants too): the
    rules module keeps a webhook's stored secret while its URL stays the same."""
    out = []
    for item in actions:
        if isinstance(item, dict):
            item = {k: v for k, v in item.items() if k != "secret_set"}
            if isinstance(item.get("variants"), list):
                item["variants"] = [{**v, "actions": unmasked(v["actions"])}
                                    if isinstance(v, dict) and isinstance(v.get("actions"), list) else v
                                    for v in item["variants"]]
        out.append(item)
    return out


def _rule_page(tenant: Tenant, rule: Rule | None, form: dict, errors: dict):
    then = [("", gettext("Nothing more")), ("handoff", gettext("Hand off to staff")),
            ("assistant", gettext("Let the assistant answer"))]
    then += [(f"flow:{flow.id}", gettext("Start the flow %(name)s", name=flow.name))
             for flow in Flow.of_tenant(tenant.id)]
    return render_template("rule_form.html", tenant=tenant, rule=rule, form=form, errors=errors,
                           channel_kinds=_channel_kinds(), then_options=then,
                           events=[(event, event_name(event)) for event in EVENTS])


def event_name(event: str) -> str:
    """An event a rule can match, in words."""
    names = {"first_message": gettext("the customer's first message"),
             "follow": gettext("the customer follows the page"),
             "unfollow": gettext("the customer unfollows the page"),
             "opt_in": gettext("the customer opts in"),
             "reopened": gettext("a closed conversation is reopened")}
    return names.get(event, event)


def rule_fields(rule: dict) -> dict:
    """The form's fields for a rule: the simple parts in their own fields, the rest as JSON."""
    match = rule.get("match") or {}
    conditions = list(rule.get("conditions") or [])
    channel = next((c for c in conditions if c.get("type") == "channel"), None)
    if channel is not None:
        conditions.remove(channel)
    actions = list(rule.get("actions") or [])
    plain_reply = bool(actions) and set(actions[0]) == {"type", "text"} and actions[0]["type"] == "reply"
    reply = actions.pop(0)["text"] if plain_reply else ""
    then = ""
    if actions and actions[-1] in ({"type": "handoff"}, {"type": "assistant"}):
        then = actions.pop()["type"]
    elif actions and actions[-1].get("type") == "start_flow" and set(actions[-1]) == {"type", "flow"}:
        then = "flow:" + actions.pop()["flow"]
    return {"name": rule.get("name", ""), "enabled": rule.get("enabled", True), "continue": rule.get("continue", False),
            "match_type": match.get("type", "keyword"), "mode": match.get("mode", "contains"),
            "keywords": "\n".join(match.get("keywords", ())), "pattern": match.get("pattern", ""),
            "payload": match.get("payload", ""), "event": match.get("event", ""),
            "channels": channel.get("channels", []) if channel else [], "conditions": _pretty(conditions),
            "reply": reply, "actions": _pretty(actions), "then": then}


def typed_fields(form) -> dict:
    """The form's fields as they were typed (shown again next to an error)."""
    fields = {name: form.get(name, "") for name in ("name", "match_type", "mode", "keywords", "pattern", "payload",
                                                    "event", "conditions", "reply", "actions", "then")}
    return {**fields, "enabled": form.get("enabled") == "on", "continue": form.get("continue") == "on",
            "channels": form.getlist("channels")}


def rule_body(form) -> tuple[dict, dict[str, str]]:
    """The rule (the API's shape) the form stands for, and the errors only the form can make (its JSON boxes)."""
    errors = {}
    conditions = [{"type": "channel", "channels": kinds}] if (kinds := [
        kind for kind in form.getlist("channels") if kind in Channel.KINDS]) else []
    conditions += _json_list(form, "conditions", errors)
    actions = [{"type": "reply", "text": form["reply"].strip()}] if form.get("reply", "").strip() else []
    actions += _json_list(form, "actions", errors)
    then = form.get("then", "")
    if then in ("handoff", "assistant"):
        actions.append({"type": then})
    elif then.startswith("flow:"):
        actions.append({"type": "start_flow", "flow": then.removeprefix("flow:")})
    body = {"name": form.get("name", "").strip(), "enabled": form.get("enabled") == "on",
            "continue": form.get("continue") == "on", "match": _match(form), "conditions": conditions,
            "actions": actions}
    return body, errors


def _match(form) -> dict:
    kind = form.get("match_type", "keyword")
    if kind == "keyword":
        keywords = [k.strip() for k in re.split(r"[\n,]", form.get("keywords", "")) if k.strip()]
        return {"type": "keyword", "mode": form.get("mode", "contains"), "keywords": keywords}
    if kind == "regex":
        return {"type": "regex", "pattern": form.get("pattern", "").strip()}
    if kind == "payload":
        return {"type": "payload", "payload": form.get("payload", "").strip()}
    return {"type": kind, "event": form.get("event", "")}  # an unknown type is refused by check_rule


def _json_list(form, name: str, errors: dict) -> list:
    """A JSON box's list of objects ([] when empty); a sentence in errors[name] when it is not one."""
    text = form.get(name, "").strip()
    if not text:
        return []
    try:
        value = json.loads(text)
    except ValueError as exc:
        errors[name] = gettext("This is not valid JSON (line %(line)s, column %(column)s): check the quotes, commas "
                               "and brackets.", line=exc.lineno, column=exc.colno)
        return []
    except RecursionError:
        errors[name] = gettext("This JSON is nested too deeply; a rule needs only a few levels.")
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        errors[name] = gettext("Write a list in square brackets with one {...} object per item.")
        return []
    return value


def _pretty(items: list) -> str:
    """A JSON box's list, one item per line."""
    if not items:
        return ""
    return "[\n" + ",\n".join(" " + json.dumps(item, ensure_ascii=False) for item in items) + "\n]"


# --- rules: order, on/off, delete ---------------------------------------------------------------------------------

@blueprint.post("/t/<tenant_id>/rules/<rule_id>/move")
@tenant_page(*ADMINS)
def move_rule(user: User, tenant: Tenant, rule_id: str):
    """Swap a rule with the one above (direction=up) or below (down); priorities become 10, 20, 30..."""
    rule = Rule.get_for_tenant(tenant.id, rule_id, "rule")
    ordered = [r.id for r in Rule.of_tenant(tenant.id)]
    here = ordered.index(rule.id)
    there = here - 1 if request.form.get("direction") == "up" else here + 1
    if 0 <= there < len(ordered):
        ordered[here], ordered[there] = ordered[there], ordered[here]
        rule_engine.reorder(tenant.id, ordered)
    return _back_to_rules(tenant)


@blueprint.post("/t/<tenant_id>/rules/<rule_id>/switch")
@tenant_page(*ADMINS)
def switch_rule(user: User, tenant: Tenant, rule_id: str):
    """Turn a rule on (enabled=on) or off; turning on clears a reason the appliance disabled it for."""
    rule = Rule.get_for_tenant(tenant.id, rule_id, "rule")
    enabled = request.form.get("enabled") == "on"
    rule_engine.update(rule, {"enabled": enabled})
    flash(gettext("%(name)s is on.", name=rule.name) if enabled else gettext("%(name)s is off.", name=rule.name), "ok")
    return _back_to_rules(tenant)


@blueprint.route("/t/<tenant_id>/rules/<rule_id>/delete", methods=["GET", "POST"])
@tenant_page(*ADMINS)
def delete_rule(user: User, tenant: Tenant, rule_id: str):
    """Ask first (GET), then delete the rule (POST)."""
    rule = Rule.get_for_tenant(tenant.id, rule_id, "rule")
    back = url_for("admin.rules", tenant_id=tenant.id)
    if request.method == "POST":
        rule_engine.delete(rule)
        flash(gettext("The rule %(name)s was deleted.", name=rule.name), "ok")
        return redirect(back)
    return render_template("confirm.html", question=gettext("Delete the rule %(name)s?", name=rule.name),
                           detail=gettext("It stops answering at once. This cannot be undone."),
                           action=request.path, button=gettext("Delete"), back=back)


# --- flows --------------------------------------------------------------------------------------------------------

@blueprint.get("/t/<tenant_id>/flows")
@tenant_page(*VIEWERS)
def flows(user: User, tenant: Tenant):
    """The flows, the form for a new or imported flow (filled with a small flow to start from) and the A/B tests'
    results."""
    return _flows_page(user, tenant, {}, [], _pretty_object(starter_flow()))


def starter_flow() -> dict:
    """A small flow in the reader's language for the new-flow box: a keyword trigger, a question, a thank-you."""
    return {"name": gettext("New flow"),
            "triggers": [{"type": "keyword", "mode": "contains", "keywords": [gettext("book")]}],
            "start": "ask_phone", "steps": [
                {"id": "ask_phone", "type": "ask", "text": gettext("Which phone number can we call you on?"),
                 "field": "phone", "validate": "phone", "next": "thanks"},
                {"id": "thanks", "type": "send", "text": gettext("Thank you! We will call you soon.")}]}


def _flows_page(user: User, tenant: Tenant, errors: dict, problems: list, definition: str):
    experiments = ab.results(tenant.id)
    return render_template("flows.html", tenant=tenant, flows=Flow.of_tenant(tenant.id),
                           running={flow: figures["active"] for flow, figures in FlowRun.counts(tenant.id).items()},
                           experiments=experiments, sources=_sources(tenant, experiments),
                           can_edit=user.role in ADMINS, errors=errors, problems=problems, definition=definition)


@blueprint.post("/t/<tenant_id>/flows/import")
@tenant_page(*ADMINS)
def import_flow(user: User, tenant: Tenant):
    """A flow from a JSON file or the pasted JSON, checked like a new flow of the API."""
    upload = request.files.get("file")
    source = upload.read(MAX_JSON + 1).decode("utf-8", "replace") if upload and upload.filename else ""
    source = source or request.form.get("definition", "")
    field = "file" if upload and upload.filename else "definition"
    body, error = _parse_flow(source)
    if error:
        return _flows_page(user, tenant, {field: error}, [], request.form.get("definition", "")), 422
    try:
        flow = flow_engine.import_flow(tenant.id, body) if "format" in body else flow_engine.create(tenant.id, body)
    except AppError as exc:
        problems = flow_problems(exc)
        errors = {} if problems else {field: refusal(exc)}
        return _flows_page(user, tenant, errors, problems, request.form.get("definition", "")), exc.status
    flash(gettext("The flow %(name)s was imported.", name=flow.name), "ok")
    return redirect(url_for("admin.flow", tenant_id=tenant.id, flow_id=flow.id))


def _parse_flow(source: str) -> tuple[dict, str | None]:
    """The flow's JSON object, or the sentence saying why it is not one."""
    if not source.strip():
        return {}, gettext("Choose a file or paste a flow's JSON.")
    if len(source) > MAX_JSON:
        return {}, gettext("A flow's JSON may be up to %(n)s characters long.", n=format_number(MAX_JSON))
    try:
        body = json.loads(source)
    except ValueError as exc:
        return {}, gettext("This is not valid JSON (line %(line)s, column %(column)s): check the quotes, commas and "
                           "brackets.", line=exc.lineno, column=exc.colno)
    except RecursionError:
        return {}, gettext("This JSON is nested too deeply; a flow needs only a few levels.")
    if not isinstance(body, dict):
        return {}, gettext("A flow is one JSON object in curly brackets, with its name, triggers, start and steps.")
    return body, None


def flow_problems(exc: AppError) -> list[dict]:
    """The checker's problems carried by a refused flow ([{"step", "message"}]); [] for another refusal."""
    return [p for p in getattr(exc, "problems", None) or [] if isinstance(p, dict) and p.get("message")]


@blueprint.route("/t/<tenant_id>/flows/<flow_id>", methods=["GET", "POST"])
@tenant_page(*VIEWERS)
def flow(user: User, tenant: Tenant, flow_id: str):
    """One flow: its triggers and steps (with the checker's problems next to their step) and its JSON; saving the
    JSON makes a new version (shop admins only)."""
    flow = Flow.get_for_tenant(tenant.id, flow_id, "flow")
    if request.method == "GET":
        body = flow_engine.export(tenant.id, flow.id)["flow"]
        return _flow_page(user, tenant, flow, body, _pretty_object(body), [], {})
    if user.role not in ADMINS:
        raise AppError(403, "admins_only", gettext("This page is for admins; ask your shop's admin if you need "
                                                   "something changed here."))
    source = request.form.get("definition", "")
    body, error = _parse_flow(source)
    if error:
        stored = flow_engine.export(tenant.id, flow.id)["flow"]
        return _flow_page(user, tenant, flow, stored, source, [], {"definition": error}), 422
    try:
        flow_engine.update(tenant.id, flow.id, body)
    except AppError as exc:
        problems = flow_problems(exc)
        errors = {} if problems else {"definition": refusal(exc)}
        return _flow_page(user, tenant, flow, body, source, problems, errors), exc.status
    flash(gettext("The flow %(name)s was saved as a new version.", name=body.get("name") or flow.name), "ok")
    return redirect(url_for("admin.flow", tenant_id=tenant.id, flow_id=flow.id))


def _flow_page(user: User, tenant: Tenant, flow: Flow, body: dict, source: str, problems: list, errors: dict):
    steps = body.get("steps") if isinstance(body.get("steps"), list) else []
    definition = {**body, "steps": [s for s in steps if isinstance(s, dict)]}
    ids = {str(s.get("id")) for s in definition["steps"]}
    by_step: dict[str, list[str]] = {}
    for problem in problems:
        if problem.get("step") is not None:
            by_step.setdefault(str(problem["step"]), []).append(problem["message"])
    return render_template("flow.html", tenant=tenant, flow=Flow.get_by_id(flow.id), definition=definition,
                           source=source, errors=errors, by_step=by_step, can_edit=user.role in ADMINS,
                           general=[p for p in problems if p.get("step") is None],
                           orphans=[(step, messages) for step, messages in by_step.items() if step not in ids],
                           running=FlowRun.counts(tenant.id).get(flow.id, {}).get("active", 0))


def _pretty_object(body: dict) -> str:
    return json.dumps(body, ensure_ascii=False, indent=2)


@blueprint.get("/t/<tenant_id>/flows/<flow_id>/export")
@tenant_page(*ADMINS)
def export_flow(user: User, tenant: Tenant, flow_id: str):
    """The flow's current version as a JSON file, the same shape the import takes."""
    flow = Flow.get_for_tenant(tenant.id, flow_id, "flow")
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", flow.name).strip("-")[:60] or flow.id
    return Response(_pretty_object(flow_engine.export(tenant.id, flow.id)), mimetype="application/json",
                    headers={"Content-Disposition": f'attachment; filename="{name}.json"'})


@blueprint.post("/t/<tenant_id>/flows/<flow_id>/activate")
@tenant_page(*ADMINS)
def activate_flow(user: User, tenant: Tenant, flow_id: str):
    """Start answering its triggers; a flow with problems is refused with the first one."""
    flow = Flow.get_for_tenant(tenant.id, flow_id, "flow")
    try:
        flow_engine.activate(tenant.id, flow.id)
    except AppError as exc:
        problems = flow_problems(exc)
        reason = problems[0]["message"] if problems else refusal(exc)
        flash(gettext("%(name)s was not activated: %(reason)s", name=flow.name, reason=reason), "error")
    else:
        flash(gettext("%(name)s is active.", name=flow.name), "ok")
    return redirect(safe_next(request.form.get("next")))


@blueprint.post("/t/<tenant_id>/flows/<flow_id>/deactivate")
@tenant_page(*ADMINS)
def deactivate_flow(user: User, tenant: Tenant, flow_id: str):
    """Stop starting it; customers in the middle of it finish."""
    flow = Flow.get_for_tenant(tenant.id, flow_id, "flow")
    flow_engine.deactivate(tenant.id, flow.id)
    flash(gettext("%(name)s is inactive; customers in it now finish it.", name=flow.name), "ok")
    return redirect(safe_next(request.form.get("next")))


@blueprint.route("/t/<tenant_id>/flows/<flow_id>/delete", methods=["GET", "POST"])
@tenant_page(*ADMINS)
def delete_flow(user: User, tenant: Tenant, flow_id: str):
    """Ask first (GET), then delete the flow, its versions and its runs (POST)."""
    flow = Flow.get_for_tenant(tenant.id, flow_id, "flow")
    back = url_for("admin.flows", tenant_id=tenant.id)
    if request.method == "POST":
        flow_engine.delete(tenant.id, flow.id)
        flash(gettext("The flow %(name)s was deleted.", name=flow.name), "ok")
        return redirect(back)
    return render_template("confirm.html", question=gettext("Delete the flow %(name)s?", name=flow.name),
                           detail=gettext("Customers in it leave it, and rules that start it do nothing. This cannot "
                                          "be undone."), action=request.path, button=gettext("Delete"), back=back)
