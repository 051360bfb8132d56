"""The rules responder: a tenant's enabled rules by priority, first match wins (unless it says "continue": then later
matching rules' actions run too), conditions checked, actions gathered into a Turn that becomes the reply.

Matches are keywords, regexes, button payloads or events. Message events: `first_message` (the customer's first
message ever) and `reopened` (a message that starts a new conversation after a closed one) compete with the other
rules of the message by priority. `follow`, `unfollow` and `opt_in` (a Messenger opt-in) come as their own platform
events (pipeline.EVENT_HANDLERS -> on_event): a reply goes to the customer through conversations.reply, except after
an unfollow (nobody is listening; rules refuse replies there at save).

The "assistant" action: with no message of the rule's own the rule lets the assistant answer (the responder returns
None after the rule's other actions, so the reply is the assistant's, recorded as usual); with messages, the rule's
messages go first and the assistant's answer follows in the same turn (recorded with path "automation" and the
assistant's model; its tokens are not recorded on these rows).

Rules are checked at save (`check_rule`: a 422 naming the field, such as "actions[2].text: ...") and cached per
tenant; every change goes through create/update/delete/reorder here, which forget the cache.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, replace

from appliance.automation import actions, conditions, match, safe_regex
from appliance.automation.actions import Turn
from appliance.automation.conditions import Facts
from appliance.channels import KINDS, Outbound
from appliance.errors import AppError
from appliance.records import Conversation, Customer, Flow, Message, Rule, utcnow

log = logging.getLogger(__name__)

FIELDS = ("name", "enabled", "priority", "continue", "match", "conditions", "actions")
READ_ONLY = ("id", "matches", "last_matched_at", "disabled_reason", "created_at", "updated_at")  # a GET's extras
MAX_RULES = 5000
MAX_NAME, MAX_TEXT, MAX_ACTIONS = 200, 4096, 20
MAX_KEYWORDS, MAX_KEYWORD, MAX_PAYLOAD = 100, 100, 1000
MAX_BUTTONS, MAX_BUTTON_ID, MAX_TITLE = 13, 256, 80
MAX_PRIORITY = 1_000_000
MAX_PARAMS = 20
MESSAGE_EVENTS = ("first_message", "reopened")  # found from the message itself; the others are platform events
SILENT_EVENTS = ("unfollow",)  # nobody to answer
SPEAKING = ("reply", "template", "assistant", "start_flow")


class RuleError(AppError):
    """A rule or action that may not be saved; the message starts with the field (actions[2].text: ...)."""

    def __init__(self, message: str, code: str = "invalid_rule"):
        super().__init__(422, code, message)


# --- checks at save ----------------------------------------------------------------------------------------

def check_rule(body, partial: bool = False) -> dict:
    """The rule normalized (API names: "continue", not the column's "proceed"), or RuleError naming the field."""
    if not isinstance(body, dict):
        raise RuleError("Send the rule as a JSON object.")
    unknown = sorted(str(k) for k in set(body) - set(FIELDS) - set(READ_ONLY))
    if unknown:
        raise RuleError(f"{unknown[0]}: not a field of a rule; use {', '.join(FIELDS)}.", "unknown_field")
    if not partial:
        missing = [name for name in ("name", "match", "actions") if name not in body]
        if missing:
            raise RuleError(f"{missing[0]}: a rule needs a name, a match and its actions.")
        body = {"enabled": True, "priority": 100, "continue": False, "conditions": [], **body}
    rule = {name: CHECKS[name](body[name]) for name in FIELDS if name in body}
    if rule.get("match", {}).get("event") in SILENT_EVENTS:
        for n, action in enumerate(rule.get("actions", ())):
            if action["type"] in SPEAKING:
                raise RuleError(f"actions[{n}].type: a customer who unfollowed cannot be answered; use tag, untag, "
                                "set_field or webhook here.", "invalid_action")
    return rule


def _name(value) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_NAME:
        raise RuleError(f"name: give the rule a name of 1-{MAX_NAME} characters.")
    return value.strip()


def _flag(name: str):
    def check(value) -> bool:
        if not isinstance(value, bool):
            raise RuleError(f"{name}: give true or false.")
        return value
    return check


def _priority(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_PRIORITY:
        raise RuleError(f"priority: give a whole number from 0 to {MAX_PRIORITY} (lower runs first).")
    return value


def _text(value, where: str, limit: int, what: str, code: str = "invalid_action") -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise RuleError(f"{where}: give {what} as a non-empty string of at most {limit} characters.", code)
    return value.strip()


def _only(given: dict, allowed: tuple[str, ...], where: str, what: str, code: str) -> None:
    unknown = sorted(str(k) for k in set(given) - {"type", *allowed})
    if unknown:
        listed = ", ".join(allowed) if allowed else "no other field"
        raise RuleError(f"{where}.{unknown[0]}: not a field of {what}; use {listed}.", code)


def check_match(value, where: str = "match") -> dict:
    """A rule's (or a flow trigger's) match normalized, or RuleError naming the field."""
    if not isinstance(value, dict) or value.get("type") not in MATCH_FIELDS:
        raise RuleError(f"{where}.type: use one of {', '.join(MATCH_FIELDS)}.", "invalid_match")
    kind = value["type"]
    _only(value, MATCH_FIELDS[kind], where, f"a {kind} match", "invalid_match")
    if kind == "keyword":
        mode = value.get("mode", "contains")
        if mode not in match.MODES:
            raise RuleError(f"{where}.mode: use one of {', '.join(match.MODES)}.", "invalid_match")
        keywords = value.get("keywords")
        if not isinstance(keywords, list) or not 0 < len(keywords) <= MAX_KEYWORDS:
            raise RuleError(f"{where}.keywords: give a list of 1-{MAX_KEYWORDS} keywords.", "invalid_match")
        checked = [_text(k, f"{where}.keywords[{n}]", MAX_KEYWORD, "the keyword", "invalid_match")
                   for n, k in enumerate(keywords)]
        for n, keyword in enumerate(checked):
            if not match.words(keyword):
                raise RuleError(f"{where}.keywords[{n}]: a keyword needs a letter or a digit.", "invalid_match")
        return {"type": kind, "mode": mode, "keywords": checked}
    if kind == "regex":
        try:
            return {"type": kind, "pattern": safe_regex.check(value.get("pattern"))}
        except AppError as exc:
            raise AppError(exc.status, exc.code, f"{where}.pattern: {exc.message}") from None
    if kind == "payload":
        return {"type": kind, "payload": _text(value.get("payload"), f"{where}.payload", MAX_PAYLOAD, "the payload",
                                               "invalid_match")}
    if value.get("event") not in match.EVENTS:
        raise RuleError(f"{where}.event: use one of {', '.join(match.EVENTS)}.", "invalid_match")
    return {"type": kind, "event": value["event"]}


MATCH_FIELDS = {"keyword": ("mode", "keywords"), "regex": ("pattern",), "payload": ("payload",), "event": ("event",)}


def _actions(value) -> list[dict]:
    if not isinstance(value, list) or not 0 < len(value) <= MAX_ACTIONS:
        raise RuleError(f"actions: give a list of 1-{MAX_ACTIONS} actions.", "invalid_action")
    return [check_action(action, f"actions[{n}]") for n, action in enumerate(value)]


def _conditions(value) -> list[dict]:
    return conditions.check(value, "conditions")


def _buttons(value, where: str) -> list[dict]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_BUTTONS:
        raise RuleError(f"{where}: give a list of at most {MAX_BUTTONS} buttons.", "invalid_action")
    out = []
    for n, button in enumerate(value):
        if not isinstance(button, dict):
            raise RuleError(f"{where}[{n}]: give a button as {{\"id\", \"title\"}}.", "invalid_action")
        _only(button, ("id", "title"), f"{where}[{n}]", "a button", "invalid_action")
        out.append({"id": _text(button.get("id"), f"{where}[{n}].id", MAX_BUTTON_ID, "the button's payload id"),
                    "title": _text(button.get("title"), f"{where}[{n}].title", MAX_TITLE, "the button's title")})
    return out


def _scalar(value, where: str) -> str | int | float | bool | None:
    if value is None or isinstance(value, bool) or (isinstance(value, (int, float)) and abs(value) < 1e15):
        return value
    if isinstance(value, str) and len(value) <= conditions.MAX_VALUE:
        return value
    raise RuleError(f"{where}: give a string (at most {conditions.MAX_VALUE} characters), a number, true/false or "
                    "null.", "invalid_action")


def _check_reply(action: dict, where: str) -> dict:
    checked = {"text": _text(action.get("text"), f"{where}.text", MAX_TEXT, "the reply's text")}
    buttons = _buttons(action.get("buttons"), f"{where}.buttons")
    quick = _buttons(action.get("quick_replies"), f"{where}.quick_replies")
    if len(buttons) + len(quick) > MAX_BUTTONS:
        raise RuleError(f"{where}.quick_replies: a reply can carry at most {MAX_BUTTONS} buttons and quick replies "
                        "together.", "invalid_action")
    return {**checked, **({"buttons": buttons} if buttons else {}), **({"quick_replies": quick} if quick else {})}


def _check_template(action: dict, where: str) -> dict:
    checked = {"name": _text(action.get("name"), f"{where}.name", MAX_NAME, "the template's name")}
    if action.get("language") is not None:
        checked["language"] = _text(action["language"], f"{where}.language", 20, "the template's language")
    params = action.get("params", [])
    if not isinstance(params, list) or len(params) > MAX_PARAMS:
        raise RuleError(f"{where}.params: give a list of at most {MAX_PARAMS} parameters.", "invalid_action")
    checked["params"] = [_scalar(p, f"{where}.params[{n}]") for n, p in enumerate(params)]
    if action.get("text") is not None:
        checked["text"] = _text(action["text"], f"{where}.text", MAX_TEXT, "the template's text")
    return checked


def _check_tag(action: dict, where: str) -> dict:
    return {"tag": _text(action.get("tag"), f"{where}.tag", conditions.MAX_NAME, "the tag")}


def _check_set_field(action: dict, where: str) -> dict:
    return {"field": _text(action.get("field"), f"{where}.field", conditions.MAX_NAME, "the field's name"),
            "value": _scalar(action.get("value"), f"{where}.value")}


def _check_handoff(action: dict, where: str) -> dict:
    reason = action.get("reason")
    return {"reason": _text(reason, f"{where}.reason", 500, "the reason")} if reason is not None else {}


def _check_start_flow(action: dict, where: str) -> dict:
    flow = action.get("flow")
    if not isinstance(flow, str) or not flow.startswith("flw_") or len(flow) > 64:
        raise RuleError(f"{where}.flow: give the id of one of your flows (flw_...).", "invalid_action")
    return {"flow": flow}


def _check_webhook(action: dict, where: str) -> dict:
    url = _text(action.get("url"), f"{where}.url", 2000, "the webhook's URL")
    if not url.lower().startswith(("https://", "http://")):
        raise RuleError(f"{where}.url: give the webhook's address as an https:// URL.", "invalid_action")
    secret = action.get("secret")  # sealed to the URL when the rule is stored (hooks.check_action)
    return {"url": url, **({"secret": _text(secret, f"{where}.secret", 256, "the signing secret")}
                           if secret is not None else {})}


def _check_ab(action: dict, where: str) -> dict:
    """An A/B action: its goal and variants by ab's checks (as a flow's ab step), each variant's actions here."""
    from appliance.automation import ab

    experiment = _text(action.get("experiment"), f"{where}.experiment", ab.MAX_NAME, "the experiment's name")
    try:
        goal = ab.check_goal(action.get("goal"))
        variants = ab.check_variants(action.get("variants"), f"{where}.variants")
    except AppError as exc:
        raise AppError(exc.status, exc.code, f"{where}: {exc.message}") from None
    return {"experiment": experiment, "goal": goal,
            "variants": [_variant(variant, f"{where}.variants[{n}]") for n, variant in enumerate(variants)]}


def _variant(variant: dict, where: str) -> dict:
    _only(variant, ("name", "weight", "actions"), where, "a variant", "invalid_action")
    inner = variant.get("actions")
    if not isinstance(inner, list) or not 0 < len(inner) <= MAX_ACTIONS:
        raise RuleError(f"{where}.actions: give a list of 1-{MAX_ACTIONS} actions.", "invalid_action")
    for n, item in enumerate(inner):
        if isinstance(item, dict) and item.get("type") == "ab":
            raise RuleError(f"{where}.actions[{n}].type: an A/B variant cannot hold another A/B action.",
                            "invalid_action")
    return {"name": variant["name"], "weight": variant["weight"],
            "actions": [check_action(item, f"{where}.actions[{n}]") for n, item in enumerate(inner)]}


ACTION_CHECKS = {"reply": _check_reply, "template": _check_template, "tag": _check_tag, "untag": _check_tag,
                 "set_field": _check_set_field, "handoff": _check_handoff, "start_flow": _check_start_flow,
                 "webhook": _check_webhook, "assistant": lambda action, where: {}, "ab": _check_ab}
ACTION_FIELDS = {"reply": ("text", "buttons", "quick_replies"), "template": ("name", "language", "params", "text"),
                 "tag": ("tag",), "untag": ("tag",), "set_field": ("field", "value"), "handoff": ("reason",),
                 "start_flow": ("flow",), "webhook": ("url", "secret", "secret_set"), "assistant": (),
                 "ab": ("experiment", "goal", "variants")}


def check_action(action, where: str) -> dict:
    """One action normalized (see appliance/automation/__init__.py), or RuleError naming the field (`where`.text)."""
    if not isinstance(action, dict) or action.get("type") not in ACTION_CHECKS:
        raise RuleError(f"{where}.type: use one of {', '.join(actions.ACTIONS)}.", "invalid_action")
    kind = action["type"]
    _only(action, ACTION_FIELDS[kind], where, f"a {kind} action", "invalid_action")
    return {"type": kind, **ACTION_CHECKS[kind](action, where)}


CHECKS = {"name": _name, "enabled": _flag("enabled"), "priority": _priority, "continue": _flag("continue"),
          "match": check_match, "conditions": _conditions, "actions": _actions}


# --- the one write path of rules ------------------------------------------------------------------------------

def _flows_used(rule_actions: list[dict]) -> list[tuple[str, str]]:
    """(where, flow id) of every start_flow action, A/B variants included."""
    found = []
    for n, action in enumerate(rule_actions):
        if action["type"] == "start_flow":
            found.append((f"actions[{n}].flow", action["flow"]))
        for v, variant in enumerate(action.get("variants") or ()):
            found += [(f"actions[{n}].variants[{v}].{where}", flow) for where, flow in _flows_used(variant["actions"])]
    return found


def _check_flows(tenant_id: str, rule_actions: list[dict]) -> None:
    for where, flow_id in _flows_used(rule_actions):
        if Flow.get_or_none((Flow.id == flow_id) & (Flow.tenant == tenant_id)) is None:
            raise RuleError(f"{where}: no flow with id {flow_id} in this tenant.", "invalid_action")


def _columns(checked: dict) -> dict:
    """The checked rule's fields as Rule columns."""
    names = {"continue": "proceed"}
    return {names.get(k, k): v for k, v in checked.items()}


def _seal_webhooks(rule_actions: list[dict], services, previous=(), where: str = "actions") -> list[dict]:
    """The actions with each webhook's URL checked and its secret sealed to it (hooks.check_action): a stored
    secret is kept for the same URL (`previous`: the stored actions)."""
    from appliance.automation import hooks

    sealed = []
    for n, action in enumerate(rule_actions):
        if action["type"] == "webhook":
            try:
                action = hooks.check_action(action, services, previous)
            except AppError as exc:
                raise AppError(exc.status, exc.code, f"{where}[{n}]: {exc.message}") from None
        elif action["type"] == "ab":
            action = {**action, "variants": [{**v, "actions": _seal_webhooks(
                v["actions"], services, previous, f"{where}[{n}].variants[{i}].actions")}
                for i, v in enumerate(action["variants"])]}
        sealed.append(action)
    return sealed


def create(tenant_id: str, body, services=None) -> Rule:
    """Check and store a new rule of the tenant (the API, the admin pages and the starter packs call this;
    `services` defaults to the running app's)."""
    checked = check_rule(body)
    _check_flows(tenant_id, checked["actions"])
    checked["actions"] = _seal_webhooks(checked["actions"], services)
    if Rule.count_of(tenant_id) >= MAX_RULES:
        raise AppError(409, "too_many_rules", f"A shop can have at most {MAX_RULES} rules; delete some first.")
    rule = Rule.create(tenant=tenant_id, **_columns(checked))
    changed(tenant_id)
    return rule


def update(rule: Rule, body, partial: bool = True, services=None) -> Rule:
    """Check and apply a change (PATCH: partial; PUT: the whole rule); enabling clears the appliance's reason.
    A webhook keeps its stored secret while its URL stays the same."""
    checked = check_rule(body, partial=partial)
    if "actions" in checked:
        _check_flows(rule.tenant_id, checked["actions"])
        checked["actions"] = _seal_webhooks(checked["actions"], services, rule.actions or [])
    for name, value in _columns(checked).items():
        setattr(rule, name, value)
    if checked.get("enabled"):
        rule.disabled_reason = None
    rule.updated_at = utcnow()
    rule.save()
    changed(rule.tenant_id)
    return rule


def delete(rule: Rule) -> None:
    """Remove a rule."""
    rule.delete_instance()
    changed(rule.tenant_id)


def reorder(tenant_id: str, ids) -> list[Rule]:
    """Set the order of all the tenant's rules: `ids` names each once, first runs first (priorities 10, 20...)."""
    rules = {r.id: r for r in Rule.of_tenant(tenant_id)}
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise RuleError("ids: give the list of your rule ids in the order they should run.")
    unknown = [i for i in ids if i not in rules]
    if unknown:
        raise RuleError(f"ids: no rule with id {unknown[0][:80]} in this tenant.")
    if len(set(ids)) != len(ids) or len(ids) != len(rules):
        named = set(ids)
        missing = [i for i in rules if i not in named]
        problem = f"{missing[0]} is missing" if missing else "a rule is named twice"
        raise RuleError(f"ids: name each of your rules exactly once ({problem}).")
    Rule.set_priorities({rule_id: 10 * (n + 1) for n, rule_id in enumerate(ids)})
    changed(tenant_id)
    return Rule.of_tenant(tenant_id)


def rule_json(rule: Rule) -> dict:
    """The API shape of a rule; webhook secrets are write-only (shown as secret_set)."""
    def stamp(value):
        return value.isoformat() + "Z" if value else None

    return {"id": rule.id, "name": rule.name, "enabled": rule.enabled, "priority": rule.priority,
            "continue": rule.proceed, "match": rule.match, "conditions": rule.conditions or [],
            "actions": [_masked(a) for a in rule.actions or []], "matches": rule.matches,
            "last_matched_at": stamp(rule.last_matched_at), "disabled_reason": rule.disabled_reason,
            "created_at": stamp(rule.created_at), "updated_at": stamp(rule.updated_at)}


def _masked(action: dict) -> dict:
    shown = {k: v for k, v in action.items() if k not in ("secret", "secret_sealed")}
    if "secret" in action or "secret_sealed" in action:
        shown["secret_set"] = True
    if "variants" in action:
        shown["variants"] = [{**v, "actions": [_masked(a) for a in v["actions"]]} for v in action["variants"]]
    return shown


# --- the cache: each tenant's enabled rules, ready to match ------------------------------------------------

@dataclass(frozen=True)
class Compiled:
    """An enabled rule as the responder runs it."""

    id: str
    name: str
    proceed: bool
    match: dict
    conditions: tuple
    actions: tuple


@dataclass(frozen=True)
class Active:
    """A tenant's enabled rules in running order, with their matches indexed (match.Index: keys are positions)."""

    rules: tuple[Compiled, ...]
    index: match.Index
    budget_ms: float
    stamp: tuple = ()  # Rule.stamp when read
    checked: float = 0.0  # time.monotonic() when the stamp was last compared


RECHECK_SECONDS = 2.0  # another process on the same data (a CLI, a restore) may change rules: compare stamps this often


_CACHE: dict[str, Active] = {}
_GENERATION: dict[str, int] = {}
_LOCK = threading.Lock()


def changed(tenant_id: str) -> None:
    """Forget the tenant's cached rules (every write here calls it; call it after changing Rule rows elsewhere)."""
    with _LOCK:
        _CACHE.pop(tenant_id, None)
        _GENERATION[tenant_id] = _GENERATION.get(tenant_id, 0) + 1


def active(tenant_id: str, budget_ms: float = safe_regex.DEFAULT_BUDGET_MS) -> Active:
    """The tenant's enabled rules in order, indexed for matching with this regex budget (cached until they change:
    every write here says so at once, a write from another process is seen within RECHECK_SECONDS)."""
    with _LOCK:
        cached = _CACHE.get(tenant_id)
        generation = _GENERATION.get(tenant_id, 0)
    if cached is not None and cached.budget_ms == budget_ms:
        if time.monotonic() - cached.checked < RECHECK_SECONDS:
            return cached
        if Rule.stamp(tenant_id) == cached.stamp:
            with _LOCK:
                if _CACHE.get(tenant_id) is cached:
                    _CACHE[tenant_id] = replace(cached, checked=time.monotonic())
            return cached
    stamp = Rule.stamp(tenant_id)
    rules = tuple(Compiled(r.id, r.name, r.proceed, r.match, tuple(r.conditions or ()), tuple(r.actions or ()))
                  for r in Rule.of_tenant(tenant_id, enabled_only=True))
    built = Active(rules, match.Index.build(enumerate(r.match for r in rules), budget_ms), budget_ms, stamp,
                   time.monotonic())
    with _LOCK:
        if _GENERATION.get(tenant_id, 0) == generation:  # no change came in while we read: keep it
            _CACHE[tenant_id] = built
    return built


def _budget(services) -> float:
    """The `regex_budget_ms` setting (the default without services: a dry run from a script)."""
    return services.settings.regex_budget_ms if services is not None else safe_regex.DEFAULT_BUDGET_MS


# --- matching ----------------------------------------------------------------------------------------------

def hits(rules: Active, message: match.Message, events: tuple[str, ...], slow: list) -> list[tuple[int, str]]:
    """(position, why) of every rule matching the message or one of its events, in running order; a regex over its
    budget adds (position, sentence) to `slow` instead."""
    found = dict(rules.index.hits(message, slow))
    for event in events:
        for position, reason in rules.index.hits(match.Message.of(event=event), slow):
            found.setdefault(position, reason)
    return sorted(found.items())


def run(turn: Turn, rules: Active, message: match.Message, events: tuple[str, ...], facts: Facts) -> list[Compiled]:
    """Apply the actions of the matching rules whose conditions hold into the turn, in order (the first ends it
    unless it says continue); the rules that matched. A rule whose regex ran over its budget is disabled."""
    matched: list[Compiled] = []
    slow: list = []
    for position, reason in hits(rules, message, events, slow):
        rule = rules.rules[position]
        problem = conditions.why_not(rule.conditions, replace(facts, tags=list(turn.customer.tags or []),
                                                                     fields=dict(turn.customer.custom_fields or {})))
        if problem is not None:
            turn.note(f"rule '{rule.name}' matched ({reason}) but {problem}")
            continue
        turn.note(f"rule '{rule.name}' matched: {reason}")
        turn.source = turn.source or f"rule:{rule.id}"
        for action in rule.actions:
            actions.apply(turn, action)
        matched.append(rule)
        if not rule.proceed:
            break
    for position, sentence in slow:
        _too_slow(turn, rules.rules[position], sentence)
    return matched


def _too_slow(turn: Turn, rule: Compiled, sentence: str) -> None:
    """A regex over its time budget: the rule is switched off with the engine's sentence (never in a dry run)."""
    turn.note(f"rule '{rule.name}' skipped: its pattern ran over its time budget")
    if turn.dry_run:
        return
    Rule.disable(rule.id, sentence)
    changed(turn.tenant_id)
    log.warning("rule %s of tenant %s disabled: its pattern ran over its time budget", rule.id, turn.tenant_id)


def _message_events(rules: Active, customer_id: int, message_id: int | None,
                    conversation_id: int | None) -> tuple[str, ...]:
    """Which of first_message / reopened this message is, looked up only when a rule waits for one."""
    wanted = set(rules.index.events) & set(MESSAGE_EVENTS)
    found = []
    if "first_message" in wanted and not _wrote_before(customer_id, message_id):
        found.append("first_message")
    if "reopened" in wanted and conversation_id is not None and not Message.wrote_before(
            customer_id, message_id, conversation_id) and Conversation.closed_before(customer_id, conversation_id):
        found.append("reopened")
    return tuple(found)


def _wrote_before(customer_id: int | None, message_id: int | None) -> bool:
    if customer_id is None:
        return False
    return Message.wrote_before(customer_id, message_id if message_id is not None else 2**63 - 1)


def _observe(customer_id: int, payload: str | None) -> None:
    """A button tap may be an A/B goal."""
    from appliance.automation import ab

    if payload is not None:
        ab.observe(customer_id, "button", payload)


# --- the responder ----------------------------------------------------------------------------------------

def responder(context):
    """The first matching rule's answer (with those after it while they say continue), or None."""
    inbound, customer = context.message, context.conversation.customer
    payload = (inbound.payload or {}).get("button_id") if inbound.kind == "button" else None
    _observe(customer.id, payload)
    rules = active(context.tenant.id, _budget(context.services))
    if not rules.rules:
        return None
    started = time.monotonic()
    message = match.Message.of(inbound.text, payload)
    events = _message_events(rules, customer.id, inbound.id, context.conversation.id)
    turn = Turn(context.services, context.tenant.id, customer, conversation_id=context.conversation.id,
                text=inbound.text)
    matched = run(turn, rules, message, events, Facts.of(context))
    if not matched:
        return None
    Rule.record_matches([rule.id for rule in matched])
    if turn.start_flow:
        _start_flow(turn, context)
    return _response(turn, matched, context, started)


def _start_flow(turn: Turn, context) -> None:
    from appliance.automation import flows  # here: flows checks its steps with this module's checks

    flows.start(turn, turn.start_flow, context)


def _response(turn: Turn, matched: list[Compiled], context, started: float):
    from appliance.responders import Response, assistant_responder

    outbounds, model = list(turn.outbounds), None
    handoff = turn.handoff
    if turn.assistant:
        if not outbounds and handoff is None:
            return None  # the rule lets the assistant answer (its other actions are done)
        answer = assistant_responder(context)
        if answer is not None and (answer.text or answer.template):
            outbounds.append(answer.outbound())
            model = answer.meta.get("model")
        if answer is not None and answer.action == "handoff" and handoff is None:
            handoff = answer.reason
    meta = {"sender": "automation", "path": "automation", "model": model,
            "sources": [{"rule": rule.id} for rule in matched],
            "latency_ms": int((time.monotonic() - started) * 1000)}
    first = outbounds[0] if outbounds else Outbound(to="")
    return Response(first.text, "handoff" if handoff is not None else None, handoff or "", list(first.buttons),
                    meta=meta, more=tuple(outbounds[1:]), template=first.template)


# --- platform events: follow, unfollow, opt-in --------------------------------------------------------------

def on_event(services, event, kind: str, customer: Customer) -> list[str]:
    """Run the tenant's rules for a platform event (follow, unfollow, opt_in) of a customer; a reply goes to them
    through conversations.reply (not after an unfollow). The ids of the rules that matched."""
    from appliance import conversations

    rules = active(event.tenant_id, _budget(services))
    if kind not in rules.index.events:
        return []
    channel = event.channel
    turn = Turn(services, event.tenant_id, customer)
    facts = Facts(channel.kind, list(customer.tags or []), dict(customer.custom_fields or {}),
                  services.settings.timezone)
    matched = run(turn, rules, match.Message.of(event=kind), (kind,), facts)
    if not matched:
        return []
    Rule.record_matches([rule.id for rule in matched])
    if kind in SILENT_EVENTS or not (turn.outbounds or turn.handoff):
        return [rule.id for rule in matched]
    conversation = conversations.open_conversation(services, event.tenant_id, channel, customer)
    if turn.outbounds:
        try:
            conversations.reply(services, conversation, turn.outbounds[0], "automation", inline=True,
                                more=tuple(turn.outbounds[1:]), path="automation",
                                sources=[{"rule": rule.id} for rule in matched])
        except AppError as exc:  # the window is closed or the channel went away: the event is still handled
            log.info("the %s rules of tenant %s could not answer: %s", kind, event.tenant_id, exc.code)
    if turn.handoff is not None:
        conversations.handoff(services, conversation, reason=turn.handoff)
    return [rule.id for rule in matched]


# --- the test box: what would answer and why (no side effect) ------------------------------------------------

def explain(tenant, text: str, channel_kind: str | None = None, customer: Customer | None = None,
            payload: str | None = None, services=None) -> dict:
    """What would answer this message and why, changing nothing: {"answered_by": "handoff"|"flow"|"rule"|
    "assistant", "rule"?, "rules"?, "flow"?, "why": [...], "replies": [...]}. `services` gives the time zone."""
    from appliance.assistant import smalltalk

    if text and smalltalk.intent(text) == "handoff":
        return {"answered_by": "handoff", "why": ["the customer asks for a person: the hand-off comes before rules"],
                "replies": []}
    zone = services.settings.timezone if services is not None else "UTC"
    person = customer or Customer(tenant=tenant.id, tags=[], custom_fields={})
    kind = channel_kind or (customer.channel.kind if customer is not None else None)
    facts = Facts(kind if kind in KINDS else None, list(person.tags or []), dict(person.custom_fields or {}), zone)
    message = match.Message.of(text or "", payload)
    by_flow = _flow_explain(tenant, message, facts, customer)
    if by_flow is not None:
        return by_flow
    rules = active(tenant.id, _budget(services))
    events = _explain_events(rules, customer)
    turn = Turn(services, tenant.id, person, dry_run=True)
    matched = run(turn, rules, message, events, facts)
    if not matched:
        return {"answered_by": "assistant", "why": turn.why + ["no rule matched: the assistant answers"],
                "replies": []}
    result = {"answered_by": "rule", "rule": {"id": matched[0].id, "name": matched[0].name},
              "rules": [{"id": r.id, "name": r.name} for r in matched], "why": turn.why,
              "replies": [_reply_json(o) for o in turn.outbounds]}
    if turn.assistant and not turn.outbounds and turn.handoff is None:
        result["answered_by"] = "assistant"
        result["why"] = turn.why + ["the rule lets the assistant answer"]
    if turn.handoff is not None:
        result["handoff"] = turn.handoff
    if turn.start_flow:
        result["flow"] = turn.start_flow
    return result


def _flow_explain(tenant, message: match.Message, facts: Facts, customer: Customer | None) -> dict | None:
    """The flows' own dry run (a waiting ask, a stop word, a trigger): flows answer before rules."""
    from appliance.automation import flows

    return flows.explain(tenant, message, facts, customer)


def _explain_events(rules: Active, customer: Customer | None) -> tuple[str, ...]:
    """The message events of the customer's next message (a new customer: a first message)."""
    if customer is None:
        return ("first_message",)
    events = _message_events(rules, customer.id, None, None)
    if Conversation.open_of(customer.id) is None and Conversation.closed_before(customer.id):
        events += ("reopened",)
    return events


def _reply_json(outbound: Outbound) -> dict:
    return {"text": outbound.text, **({"buttons": outbound.buttons} if outbound.buttons else {}),
            **({"template": outbound.template} if outbound.template else {})}
