"""The shape of a flow body (name, triggers, steps and their fields): every field's type and size, normalized, each
problem naming its step. Triggers, conditions and the steps that are actions (send, tag, set_field, webhook,
hand-off) pass the rules' own checks too (rules.check_match, conditions.check_one, rules.check_action), so a flow and
a rule accept the same things. What the steps mean together (references, reachability, loops, platform limits) is
flow_check's."""
from __future__ import annotations

import re

from huey import crontab

from appliance.automation import ab, conditions, hooks, rules
from appliance.channels import KINDS
from appliance.errors import AppError

MAX_STEPS = 200
MAX_TRIGGERS = 20
MAX_TEXT = 4096
STEP_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
VALIDATE = ("text", "number", "email", "phone", "date", "choice")
OPS = ("equals", "not_equals", "contains", "exists", "absent")


class Bad(ValueError):
    """One field's problem, as a sentence."""


def _text(value, name: str, limit: int = MAX_TEXT) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Bad(f"'{name}' must be a non-empty string.")
    if len(value) > limit:
        raise Bad(f"'{name}' can be at most {limit} characters.")
    return value.strip()


def _ref(value, name: str) -> str:
    if not isinstance(value, str) or not STEP_ID.fullmatch(value):
        raise Bad(f"'{name}' must name a step by its id (1-64 letters, digits, '-', '_' or '.').")
    return value


def _number(value, name: str, low: float, high: float, integer: bool = False):
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not low <= value <= high:
        raise Bad(f"'{name}' must be a {'whole ' if integer else ''}number from {low:g} to {high:g}.")
    return value


def _buttons(value, name: str) -> list[dict]:
    if not isinstance(value, list) or len(value) > 13:
        raise Bad(f"'{name}' must be a list of at most 13 buttons like {{\"id\": \"YES\", \"title\": \"Yes\"}}.")
    out = []
    for button in value:
        if not isinstance(button, dict) or set(button) - {"id", "title"}:
            raise Bad(f"Each of '{name}' must be an object with 'id' and 'title'.")
        out.append({"id": _text(button.get("id"), "id", 256), "title": _text(button.get("title"), "title", 100)})
    return out


def _template(value, name: str) -> dict:
    if not isinstance(value, dict) or set(value) - {"name", "language", "params"}:
        raise Bad(f"'{name}' must be an object with 'name' and optional 'language' and 'params'.")
    params = value.get("params") or []
    if not isinstance(params, list) or len(params) > 20 or not all(isinstance(p, str) and len(p) <= 1000 for p in params):
        raise Bad("'params' must be a list of at most 20 strings.")
    out = {"name": _text(value.get("name"), "name", 512), "params": params}
    if value.get("language") is not None:
        out["language"] = _text(value["language"], "language", 16)
    return out


def _url(value, name: str) -> str:
    url = _text(value, name, 2000)
    if not re.match(r"https?://[^\s/]+", url) or any(ch.isspace() for ch in url):
        raise Bad(f"'{name}' must be an http:// or https:// address without spaces.")
    return url


def _value(value, name: str):
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return _text(value, name, 1000)


def _choice(options):
    def check(value, name: str):
        if value not in options:
            raise Bad(f"'{name}' must be one of {', '.join(map(str, options))}.")
        return value
    return check


def _condition(value, name: str) -> dict:
    """A branch's condition: a rule's (channel, tag, field, time: conditions.check_one) or "reply" on the last answer."""
    if isinstance(value, dict) and value.get("type") == "reply":
        return _fields(value, {"op": _choice(OPS), "value": _value}, required={"op"})
    try:
        return conditions.check_one(value, name)
    except AppError as exc:
        raise Bad(exc.message if exc.message.endswith(".") else exc.message + ".") from None


def _branches(value, name: str) -> list[dict]:
    if not isinstance(value, list) or not 1 <= len(value) <= 20:
        raise Bad(f"'{name}' must be a list of 1 to 20 branches like {{\"if\": {{...}}, \"next\": \"step\"}}.")
    return [_fields(b, {"if": _condition, "next": _ref}, required={"if", "next"}) for b in value]


def _variants(value, name: str) -> list[dict]:
    """An ab step's variants (ab.check_variants: names, weights), each going on to a step."""
    checked = _ruled(lambda v, where: ab.check_variants(v, where), value, name)
    return [_fields(v, {"name": _short(100), "weight": lambda x, n: x, "next": _ref}, {"name", "next"}, fixed=())
            for v in checked]


def _goal(value, name: str) -> dict | None:
    return _ruled(lambda v, where: ab.check_goal(v), value, name)


def _cron(value, name: str) -> str:
    text = _text(value, name, 100)
    parts = text.split()
    try:
        if len(parts) != 5:
            raise ValueError
        crontab(*parts, strict=True)
    except ValueError:
        raise Bad(f"'{name}' must be a cron schedule of five fields (minute hour day month weekday), such as "
                  "'0 9 * * 1'.") from None
    return " ".join(parts)


def _short(limit: int):
    return lambda value, name: _text(value, name, limit)


NEXT = {"next": _ref}
STEPS = {
    "send": {"text": _text, "buttons": _buttons, "media_url": _url, "template": _template, **NEXT},
    "ask": {"text": _text, "buttons": _buttons, "field": _short(64), "validate": _choice(VALIDATE),
            "retries": lambda v, n: _number(v, n, 0, 10, integer=True), "retry_text": _text, "fallback": _ref, **NEXT},
    "condition": {"branches": _branches, "default": _ref},
    "delay": {"seconds": lambda v, n: _number(v, n, 1, 30 * 86400), **NEXT},
    "tag": {"tag": _short(64), **NEXT},
    "untag": {"tag": _short(64), **NEXT},
    "set_field": {"field": _short(64), "value": _value, **NEXT},
    "webhook": {"url": _url, "secret": _short(256), "secret_sealed": _short(4096), **NEXT},
    "handoff": {"reason": _short(500)},
    "assistant": {},
    "jump": {"to": _ref},
    "end": {},
    "ab": {"experiment": _short(100), "goal": _goal, "variants": _variants},
}
REQUIRED = {"ask": {"text"}, "condition": {"branches"}, "delay": {"seconds"}, "tag": {"tag"}, "untag": {"tag"},
            "set_field": {"field"}, "webhook": {"url"}, "jump": {"to"}, "ab": {"experiment", "variants"}}
TRIGGERS = {  # keyword, payload and event: rules.check_match
    "keyword": None, "payload": None, "event": None,
    "schedule": ({"cron": _cron, "tag": _short(64)}, {"cron", "tag"}),
}
ACTION_STEPS = ("tag", "untag", "set_field", "handoff")


def _fields(value, fields: dict, required: set, fixed: tuple[str, ...] = ("type",)) -> dict:
    """An object's known fields checked and normalized (None values dropped), or Bad naming the first problem."""
    if not isinstance(value, dict):
        raise Bad("Each item must be a JSON object.")
    unknown = sorted(set(value) - set(fields) - set(fixed), key=str)
    if unknown:
        raise Bad(f"'{unknown[0]}' is not a field here; use {', '.join(sorted(fields)) or 'none'}.")
    missing = sorted(k for k in required if value.get(k) is None)
    if missing:
        raise Bad(f"'{missing[0]}' is required.")
    out = {k: value[k] for k in fixed if k in value}
    out.update({k: check(value[k], k) for k, check in fields.items() if value.get(k) is not None})
    return out


def _step(raw, services) -> dict:
    kind = raw.get("type") if isinstance(raw, dict) else None
    if kind not in STEPS:
        raise Bad(f"'type' must be one of {', '.join(STEPS)}.")
    step = _fields(raw, STEPS[kind], REQUIRED.get(kind, set()), fixed=("id", "type"))
    if kind == "send" and not any(k in step for k in ("text", "media_url", "template")):
        raise Bad("A send step needs 'text', 'media_url' or 'template'.")
    if kind == "ask" and step.get("validate") == "choice" and not step.get("buttons"):
        raise Bad("An ask that validates a choice needs 'buttons' to choose from.")
    return _as_action(step, services)


def _trigger(raw) -> dict:
    kind = raw.get("type") if isinstance(raw, dict) else None
    if kind not in TRIGGERS:
        raise Bad(f"Each trigger's 'type' must be one of {', '.join(TRIGGERS)}.")
    if kind != "schedule":
        return _ruled(rules.check_match, raw, "trigger")
    fields, required = TRIGGERS[kind]
    return _fields(raw, fields, required)


def _ruled(check, value: dict, where: str) -> dict:
    """The rules' check of a match or an action, its RuleError as this module's Bad."""
    try:
        return check(value, where)
    except AppError as exc:
        raise Bad(exc.message if exc.message.endswith(".") else exc.message + ".") from None


def _as_action(step: dict, services) -> dict:
    """A step that is an action passes rules.check_action (the same limits as a rule's); a webhook's secret is
    sealed to its URL (hooks.check_action: the step keeps "secret_sealed", never the secret)."""
    kind = step["type"]
    if kind == "webhook":
        action = {k: step[k] for k in ("type", "url", "secret", "secret_sealed") if k in step}
        checked = _ruled(lambda a, where: hooks.check_action(a, services), action, "step")
        return {**{k: v for k, v in step.items() if k != "secret"}, **checked}
    if kind in ACTION_STEPS:
        action = {"type": kind, **{k: step[k] for k in STEPS[kind] if k in step and k != "next"}}
    elif kind in ("send", "ask") and "template" in step:
        action = {"type": "template", **step["template"]}
    elif kind in ("send", "ask") and "text" in step:
        action = {"type": "reply", "text": step["text"], "buttons": step.get("buttons")}
    else:
        return step
    _ruled(rules.check_action, action, "step")
    return step


def _steps(raw, problems: list[dict], services) -> list[dict]:
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_STEPS:
        problems.append({"step": None, "message": f"'steps' must be a list of 1 to {MAX_STEPS} steps."})
        return []
    steps, seen = [], set()
    for n, item in enumerate(raw, 1):
        step_id = item.get("id") if isinstance(item, dict) else None
        if not isinstance(step_id, str) or not STEP_ID.fullmatch(step_id):
            problems.append({"step": None, "message": f"Step {n} needs an 'id' of 1-64 letters, digits, '-', '_' "
                                                      "or '.'."})
            continue
        if step_id in seen:
            problems.append({"step": step_id, "message": "Another step has the same id; give each step its own."})
            continue
        seen.add(step_id)
        try:
            steps.append(_step(item, services))
        except Bad as exc:
            problems.append({"step": step_id, "message": str(exc)})
    return steps


def shape_problems(body, services=None) -> tuple[dict, list[dict]]:
    """(the normalized flow, its problems [{"step": id | None, "message"}]); the flow is usable only without any.
    `services`: for a webhook step's URL check and sealing (default: the running app's)."""
    if not isinstance(body, dict):
        return {}, [{"step": None, "message": "Send the flow as a JSON object with 'name', 'start' and 'steps'."}]
    problems: list[dict] = []
    unknown = sorted(set(body) - {"name", "triggers", "start", "steps", "timeout_minutes", "active"}, key=str)
    if unknown:
        problems.append({"step": None, "message": f"'{unknown[0]}' is not a field of a flow; use name, triggers, "
                                                  "start, steps and timeout_minutes."})
    flow: dict = {}
    for name, check in (("name", _short(200)), ("start", _ref)):
        try:
            flow[name] = check(body.get(name), name)
        except Bad as exc:
            problems.append({"step": None, "message": str(exc)})
    triggers = body.get("triggers") or []
    if not isinstance(triggers, list) or len(triggers) > MAX_TRIGGERS:
        problems.append({"step": None, "message": f"'triggers' must be a list of at most {MAX_TRIGGERS} triggers."})
        triggers = []
    try:
        flow["triggers"] = [_trigger(t) for t in triggers]
        if body.get("timeout_minutes") is not None:
            flow["timeout_minutes"] = _number(body["timeout_minutes"], "timeout_minutes", 1, 60 * 24 * 30)
    except Bad as exc:
        problems.append({"step": None, "message": str(exc)})
    flow["steps"] = _steps(body.get("steps"), problems, services)
    return flow, problems
