"""The shape of a flow body (name, triggers, steps and their fields): every field's type and size, normalized, each
problem naming its step. What the steps mean together (references, reachability, loops, platform limits) is
flow_check's."""
from __future__ import annotations

import re

from huey import crontab

from appliance.automation.match import EVENTS, MODES
from appliance.channels import KINDS

MAX_STEPS = 200
MAX_TRIGGERS = 20
MAX_TEXT = 4096
STEP_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
VALIDATE = ("text", "number", "email", "phone", "date", "choice")
OPS = ("equals", "not_equals", "contains", "exists", "absent")
GOALS = ("button", "tag", "step", "no_handoff")
CLOCK = re.compile(r"([01]\d|2[0-3]):[0-5]\d")


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


def _flag(value, name: str) -> bool:
    if not isinstance(value, bool):
        raise Bad(f"'{name}' must be true or false.")
    return value


def _condition(value, name: str) -> dict:
    """A branch's condition: a rule's (channel, tag, field, time) or "reply" on the last answer."""
    if not isinstance(value, dict) or value.get("type") not in CONDITIONS:
        raise Bad(f"'{name}' must be a condition whose type is one of {', '.join(CONDITIONS)}.")
    fields = CONDITIONS[value["type"]]
    return _fields(value, fields, required={k for k in fields if k in ("channels", "tag", "field", "op")})


def _channels(value, name: str) -> list[str]:
    if not isinstance(value, list) or not value or any(kind not in KINDS for kind in value):
        raise Bad(f"'{name}' must be a list of channel kinds ({', '.join(KINDS)}).")
    return list(dict.fromkeys(value))


def _days(value, name: str) -> list[int]:
    if not isinstance(value, list) or not value or any(isinstance(d, bool) or d not in range(7) for d in value):
        raise Bad(f"'{name}' must be a list of weekdays, 0 (Monday) to 6 (Sunday).")
    return sorted(set(value))


def _clock(value, name: str) -> str:
    if not isinstance(value, str) or not CLOCK.fullmatch(value):
        raise Bad(f"'{name}' must be a time of day such as 08:30.")
    return value


def _branches(value, name: str) -> list[dict]:
    if not isinstance(value, list) or not 1 <= len(value) <= 20:
        raise Bad(f"'{name}' must be a list of 1 to 20 branches like {{\"if\": {{...}}, \"next\": \"step\"}}.")
    return [_fields(b, {"if": _condition, "next": _ref}, required={"if", "next"}) for b in value]


def _variants(value, name: str) -> list[dict]:
    if not isinstance(value, list) or not 2 <= len(value) <= 10:
        raise Bad(f"'{name}' must be a list of 2 to 10 variants like {{\"name\": \"A\", \"weight\": 50, \"next\": "
                  "\"step\"}}.")
    out = [_fields(v, {"name": lambda x, n: _text(x, n, 64), "weight": lambda x, n: _number(x, n, 0, 1_000_000),
                       "next": _ref}, required={"name", "weight", "next"}) for v in value]
    if len({v["name"] for v in out}) != len(out) or not any(v["weight"] > 0 for v in out):
        raise Bad(f"'{name}' need different names and at least one weight above 0.")
    return out


def _goal(value, name: str) -> dict:
    if not isinstance(value, dict) or value.get("type") not in GOALS:
        raise Bad(f"'{name}' must be an object whose type is one of {', '.join(GOALS)}.")
    if len(str(value)) > 1000:
        raise Bad(f"'{name}' is too long.")
    return dict(value)


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


def _keywords(value, name: str) -> list[str]:
    if not isinstance(value, list) or not 1 <= len(value) <= 50:
        raise Bad(f"'{name}' must be a list of 1 to 50 keywords.")
    return [_text(k, "keyword", 100) for k in value]


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
    "webhook": {"url": _url, "secret": _short(256), **NEXT},
    "handoff": {"reason": _short(500)},
    "assistant": {},
    "jump": {"to": _ref},
    "end": {},
    "ab": {"experiment": _short(64), "goal": _goal, "variants": _variants},
}
REQUIRED = {"ask": {"text"}, "condition": {"branches"}, "delay": {"seconds"}, "tag": {"tag"}, "untag": {"tag"},
            "set_field": {"field"}, "webhook": {"url"}, "jump": {"to"}, "ab": {"experiment", "variants"}}
CONDITIONS = {
    "channel": {"channels": _channels},
    "tag": {"tag": _short(64), "present": _flag},
    "field": {"field": _short(64), "op": _choice(OPS), "value": _value},
    "time": {"days": _days, "from": _clock, "to": _clock, "inside": _flag},
    "reply": {"op": _choice(OPS), "value": _value},
}
TRIGGERS = {
    "keyword": ({"mode": _choice(MODES), "keywords": _keywords}, {"keywords"}),
    "payload": ({"payload": _short(256)}, {"payload"}),
    "event": ({"event": _choice(EVENTS)}, {"event"}),
    "schedule": ({"cron": _cron, "tag": _short(64)}, {"cron", "tag"}),
}


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


def _step(raw) -> dict:
    kind = raw.get("type") if isinstance(raw, dict) else None
    if kind not in STEPS:
        raise Bad(f"'type' must be one of {', '.join(STEPS)}.")
    step = _fields(raw, STEPS[kind], REQUIRED.get(kind, set()), fixed=("id", "type"))
    if kind == "send" and not any(k in step for k in ("text", "media_url", "template")):
        raise Bad("A send step needs 'text', 'media_url' or 'template'.")
    if kind == "ask" and step.get("validate") == "choice" and not step.get("buttons"):
        raise Bad("An ask that validates a choice needs 'buttons' to choose from.")
    return step


def _trigger(raw) -> dict:
    kind = raw.get("type") if isinstance(raw, dict) else None
    if kind not in TRIGGERS:
        raise Bad(f"Each trigger's 'type' must be one of {', '.join(TRIGGERS)}.")
    fields, required = TRIGGERS[kind]
    trigger = _fields(raw, fields, required)
    if kind == "keyword":
        trigger.setdefault("mode", "contains")
    return trigger


def _steps(raw, problems: list[dict]) -> list[dict]:
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
            steps.append(_step(item))
        except Bad as exc:
            problems.append({"step": step_id, "message": str(exc)})
    return steps


def shape_problems(body) -> tuple[dict, list[dict]]:
    """(the normalized flow, its problems [{"step": id | None, "message"}]); the flow is usable only without any."""
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
    flow["steps"] = _steps(body.get("steps"), problems)
    return flow, problems
