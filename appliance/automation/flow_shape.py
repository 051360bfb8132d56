"""A flow body that flow_check found well-formed, normalized for storing: the flow's own fields, triggers through
rules.check_match, branch conditions through conditions.check_one, the steps that are actions (send, ask, tag,
set_field, hand-off) through rules.check_action, ab steps through ab.check_goal/check_variants, and a webhook step's
secret sealed to its URL (hooks.check_action), so a flow and a rule accept and store the same things. Problems
name their step, as flow_check's do."""
from __future__ import annotations

from appliance.automation import ab, conditions, hooks, rules
from appliance.errors import AppError

FLOW_FIELDS = ("name", "triggers", "start", "steps", "timeout_minutes", "active")
ACTION_STEPS = {"tag": ("tag",), "untag": ("tag",), "set_field": ("field", "value"), "handoff": ("reason",)}


class Bad(ValueError):
    """One problem, as a sentence."""


def _ruled(check, value, where: str):
    """A check of the rules, A/B or webhooks, its AppError as a Bad sentence."""
    try:
        return check(value, where)
    except AppError as exc:
        raise Bad(exc.message if exc.message.endswith(".") else exc.message + ".") from None


def for_check(body: dict) -> dict:
    """The body as flow_check reads it: a stored webhook step's sealed secret stands for its secret."""
    steps = body.get("steps")
    if not isinstance(steps, list):
        return body
    shown = [{**{k: v for k, v in s.items() if k != "secret_sealed"}, "secret": "(sealed)"}
             if isinstance(s, dict) and s.get("type") == "webhook" and "secret_sealed" in s and "secret" not in s
             else s for s in steps]
    return {**body, "steps": shown}


def _trigger(trigger: dict) -> dict:
    if trigger["type"] == "schedule":
        return {"type": "schedule", "cron": " ".join(trigger["cron"].split()), "tag": trigger["tag"].strip()}
    return _ruled(rules.check_match, trigger, "trigger")


def _condition(condition: dict) -> dict:
    if condition["type"] == "reply":
        return {k: condition[k] for k in ("type", "op", "value") if k in condition}
    return _ruled(conditions.check_one, condition, "if")


def _action(step: dict) -> dict:
    """The action a send, ask, tag, set_field or hand-off step does, for rules.check_action; None for the others."""
    kind = step["type"]
    if kind in ACTION_STEPS:
        return {"type": kind, **{k: step[k] for k in ACTION_STEPS[kind] if k in step}}
    if kind in ("send", "ask") and "template" in step:
        return {"type": "template", **step["template"]}
    if kind in ("send", "ask") and "text" in step:
        return {"type": "reply", "text": step["text"], "buttons": step.get("buttons") or []}
    return None


def _step(step: dict, services) -> dict:
    """One step normalized, or Bad."""
    kind, out = step["type"], dict(step)
    action = _action(step)
    if action is not None:
        _ruled(rules.check_action, action, "step")
    if kind == "condition":
        out["branches"] = [{"if": _condition(b["if"]), "next": b["next"]} for b in step["branches"]]
    elif kind == "ab":
        out["goal"] = _ruled(lambda goal, where: ab.check_goal(goal), step.get("goal"), "goal")
        out["variants"] = _ruled(ab.check_variants, step["variants"], "variants")
    elif kind == "webhook":
        hook = {k: step[k] for k in ("type", "url", "secret", "secret_sealed") if k in step}
        checked = _ruled(lambda value, where: hooks.check_action(value, services), hook, "step")
        out = {**{k: v for k, v in step.items() if k != "secret"}, **checked}
    return out


def shape_problems(body: dict, services=None) -> tuple[dict, list[dict]]:
    """(the normalized flow, its problems [{"step": id | None, "message"}]) of a body flow_check found no problem
    in; the flow is usable only without any. `services`: for webhook steps (default: the running app's)."""
    problems: list[dict] = []
    unknown = sorted(set(body) - set(FLOW_FIELDS), key=str)
    if unknown:
        problems.append({"step": None, "message": f"'{unknown[0]}' is not a field of a flow; use name, triggers, "
                                                  "start, steps and timeout_minutes."})
    if not isinstance(body.get("name"), str):
        problems.append({"step": None, "message": "Give the flow a 'name' of 1 to 200 characters."})
    flow = {"name": str(body.get("name") or "").strip(), "start": body.get("start"), "triggers": []}
    try:
        flow["triggers"] = [_trigger(t) for t in body.get("triggers") or []]
    except Bad as exc:
        problems.append({"step": None, "message": str(exc)})
    if body.get("timeout_minutes") is not None:
        flow["timeout_minutes"] = body["timeout_minutes"]
    flow["steps"] = []
    for step in body["steps"]:
        try:
            flow["steps"].append(_step(step, services))
        except Bad as exc:
            problems.append({"step": step["id"], "message": str(exc)})
    return flow, problems
