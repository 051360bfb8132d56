"""Stand-ins used by flows.py only until the branches that own these are merged; delete this module then.

graph_problems  -> flow_check.problems (s15-check): references, reachability, loops without a wait, defaults, limits
parse_answer    -> answers.parse (s15-check): the validators of an asked answer
"""
from __future__ import annotations

import re
from datetime import datetime

from appliance.automation.match import words

WAITS = ("ask", "delay")
# (most buttons, longest title) a message may carry on each kind; the web widget shows any
BUTTON_LIMITS = {"whatsapp": (10, 20), "messenger": (13, 20), "zalo": (5, 100), "telegram": (100, 64)}


def _targets(step: dict) -> list[str]:
    out = [step.get(k) for k in ("next", "fallback", "default", "to")]
    out += [b["next"] for b in step.get("branches", ())] + [v["next"] for v in step.get("variants", ())]
    return [t for t in out if t]


def graph_problems(definition: dict, kinds: list[str]) -> list[dict]:
    """The minimal checks of a well-shaped definition, each naming its step."""
    steps = {s["id"]: s for s in definition["steps"]}
    problems = []
    if definition["start"] not in steps:
        problems.append({"step": None, "message": f"'start' names a step '{definition['start']}' that does not exist."})
    for step in steps.values():
        problems += [{"step": step["id"], "message": f"It goes to a step '{t}' that does not exist."}
                     for t in _targets(step) if t not in steps]
        if step["type"] == "condition" and not step.get("default"):
            problems.append({"step": step["id"], "message": "A condition needs a 'default' step for when no branch "
                                                            "applies."})
        problems += _button_problems(step, kinds)
    if problems:
        return problems
    reached = _reachable(steps, definition["start"])
    problems += [{"step": s, "message": "No step leads here; link it or remove it."} for s in steps if s not in reached]
    loop = _loop(steps)
    if loop:
        problems.append({"step": loop, "message": "This step is in a loop without an ask or a delay, so the flow would "
                                                  "never wait for the customer."})
    return problems


def _button_problems(step: dict, kinds: list[str]) -> list[dict]:
    buttons = step.get("buttons") or []
    for kind in kinds:
        most, longest = BUTTON_LIMITS.get(kind, (len(buttons), 10_000))
        if len(buttons) > most:
            return [{"step": step["id"], "message": f"{kind} shows at most {most} buttons; this step has "
                                                    f"{len(buttons)}."}]
        long = next((b["title"] for b in buttons if len(b["title"]) > longest), None)
        if long:
            return [{"step": step["id"], "message": f"{kind} button titles can be at most {longest} characters; "
                                                    f"'{long}' is longer."}]
    return []


def _reachable(steps: dict, start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        step_id = todo.pop()
        if step_id in seen or step_id not in steps:
            continue
        seen.add(step_id)
        todo += _targets(steps[step_id])
    return seen


def _loop(steps: dict) -> str | None:
    """A step on a cycle of steps none of which waits, or None."""
    edges = {s: [t for t in _targets(step) if t in steps and steps[t]["type"] not in WAITS]
             for s, step in steps.items() if step["type"] not in WAITS}
    state: dict[str, int] = {}

    def visit(node: str) -> str | None:
        state[node] = 1
        for target in edges.get(node, ()):
            if state.get(target) == 1:
                return target
            if target not in state and (found := visit(target)):
                return found
        state[node] = 2
        return None

    for node in edges:
        if node not in state and (found := visit(node)):
            return found
    return None


def parse_answer(kind: str, text: str, buttons=()):
    """The answer normalized for its kind, or None when it is not one."""
    text = (text or "").strip()
    if not text:
        return None
    if kind == "number":
        found = re.fullmatch(r"[+-]?\d+(?:[.,]\d+)?", text.replace(" ", ""))
        return float(found.group(0).replace(",", ".")) if found and re.search("[.,]", text) else (
            int(found.group(0)) if found else None)
    if kind == "email":
        return text.lower() if re.fullmatch(r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}", text) else None
    if kind == "phone":
        return _phone(text)
    if kind == "date":
        return _date(text)
    if kind == "choice":
        folded = words(text)
        return next((b["id"] for b in buttons if text == b["id"] or folded == words(b["title"])), None)
    return text


def _phone(text: str) -> str | None:
    digits = re.sub(r"[\s.()-]", "", text)
    if re.fullmatch(r"0\d{9}", digits):
        return "+84" + digits[1:]
    if re.fullmatch(r"\+?84\d{9}", digits):
        return "+" + digits.lstrip("+")
    return "+" + digits[1:] if re.fullmatch(r"\+\d{8,15}", digits) else None


def _date(text: str) -> str | None:
    folded = words(text)
    parts = re.fullmatch(r"(\d{4})[-/](\d{1,2})[-/](\d{1,2})", text)
    if parts:
        year, month, day = map(int, parts.groups())
    elif (parts := re.fullmatch(r"(\d{1,2})[/.-](\d{1,2})(?:[/.-](\d{4}))?", text)):
        day, month = int(parts.group(1)), int(parts.group(2))
        year = int(parts.group(3) or datetime.now().year)
    elif (parts := re.fullmatch(r"ngay (\d{1,2}) thang (\d{1,2})(?: nam (\d{4}))?", folded)):
        day, month = int(parts.group(1)), int(parts.group(2))
        year = int(parts.group(3) or datetime.now().year)
    else:
        return None
    try:
        return datetime(year, month, day).date().isoformat()
    except ValueError:
        return None
