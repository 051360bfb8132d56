"""A flow definition's problems, each naming its step: `problems(definition, kinds)`.

Pure (no database): flows.check_flow calls it at save and refuses a flow with problems; the admin page shows every
problem next to its step. Fields the flow's envelope may carry besides name, triggers, start, timeout_minutes and
steps are left to the caller. The checks: the shape of every field (types, required fields, unknown fields
and step types), step ids (unique, short), `start`, every step reference (next, fallback, default, branches[].next,
jump.to, variants[].next), steps the start never reaches, loops that pass no ask or delay step (they would send
messages without end), a condition without a default, an ask for a choice without buttons, buttons and texts over
the limits of the channel kinds the flow runs on (CHANNEL_LIMITS, from the platforms' documentation and the channel
modules' send functions), delays and timeouts out of range, A/B variants and their weights, and the triggers.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

from huey import crontab

from appliance.automation import answers
from appliance.automation.match import EVENTS, MODES, words
from appliance.channels import KINDS

MAX_STEPS = 200
MAX_ID = 64  # characters of a step id
MAX_TEXT = 4096  # characters of any message text, whatever the channel
MAX_SHORT = 200  # names, tags, fields, reasons, experiment and variant names
MAX_BUTTON_ID = 1000  # the payload sent back on a tap (Messenger's limit; the others are below)
MAX_KEYWORDS = 100
MAX_PAYLOAD = 1000
MAX_REASON = 500
MAX_VALUE = 1000  # characters of a value a condition compares with
MAX_BUTTONS = 13  # on the widget too: the most any platform shows
MAX_URL = 2000
MAX_DELAY = 30 * 86400  # seconds: a delay longer than a month is a schedule, not a step
MAX_RETRIES = 10
MAX_TIMEOUT = 30 * 24 * 60  # minutes
MAX_WEIGHT = 1_000_000
MAX_VARIANTS = 10
MAX_GOAL_HOURS = 24 * 90

STEP_TYPES = ("send", "ask", "condition", "delay", "tag", "untag", "set_field", "webhook", "handoff", "assistant",
              "jump", "end", "ab")
WAITS = ("ask", "delay")  # the steps that wait for the customer or the clock: a loop must pass one
FIELD_OPS = ("equals", "not_equals", "contains", "exists", "absent")
CONDITION_TYPES = ("channel", "tag", "field", "time", "reply")
GOAL_TYPES = ("button", "tag", "step", "no_handoff")
TRIGGER_TYPES = ("keyword", "payload", "event", "schedule")
_STEP_ID = re.compile(r"[\w.-]+")
_CLOCK = re.compile(r"([01]\d|2[0-3]):[0-5]\d")  # and "24:00" for a range's end
_CRON_FIELD = re.compile(r"[0-9*,/-]+")
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(?:[_-][A-Za-z0-9]{2,8})*")  # vi, en_US, zh_HK, pt-BR
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class Limits:
    """What one channel kind shows of a message with buttons (None: no limit of its own)."""

    name: str  # as a shop owner calls it
    text: int
    text_with_buttons: int
    buttons: int  # buttons shown as buttons
    title: int
    id_limit: int | None = None
    id_bytes: bool = False  # the id limit counts UTF-8 bytes, not characters
    rows: int = 0  # more buttons than `buttons` are shown as a list of up to `rows` rows
    row_title: int = 0
    row_id: int | None = None
    row_description: int | None = None


CHANNEL_LIMITS = {
    "whatsapp": Limits("WhatsApp", 4096, 1024, 3, 20, 256, rows=10, row_title=24, row_id=200, row_description=72),
    "messenger": Limits("Messenger", 2000, 2000, 13, 20, 1000),
    "zalo": Limits("Zalo", 2000, 2000, 5, 100),
    "telegram": Limits("Telegram", 4096, 4096, 100, 64, 64, id_bytes=True),
}


def problems(definition, kinds=()) -> list[dict]:
    """Every problem of a flow definition as [{"step": id or None, "message": sentence}], in step order."""
    report = _Report()
    if not isinstance(definition, dict):
        report.add(-1, None, "Send the flow as a JSON object with 'name', 'triggers', 'start' and 'steps'.")
        return report.sorted()
    if not isinstance(kinds, (list, tuple, set, frozenset)):
        kinds = []
    kinds = [k for k in kinds if isinstance(k, str) and k in CHANNEL_LIMITS]  # the widget has no limits of its own
    _check_flow_fields(definition, report)
    steps = definition.get("steps")
    if not isinstance(steps, list) or not steps:
        report.add(-1, None, "Give the flow its 'steps' as a list with at least one step.")
        return report.sorted()
    if len(steps) > MAX_STEPS:
        report.add(-1, None, f"The flow has {len(steps)} steps; a flow can have at most {MAX_STEPS}. "
                             "Split it into smaller flows started by a start_flow action.")
    ids = _check_ids(steps, report)
    for position, step in enumerate(steps):
        if _known_type(step):
            _Step(report, position, step, ids, kinds).check()
    _check_graph(definition, steps, ids, report)
    return report.sorted()


def check_trigger(trigger) -> list[str]:
    """The problems of one flow trigger as sentences ([] when it is fine)."""
    if not isinstance(trigger, dict):
        return ["Each trigger must be an object with a 'type'."]
    kind = trigger.get("type")
    if kind not in TRIGGER_TYPES:
        return [f"The trigger type {_show(kind)} is unknown; use one of {_list(TRIGGER_TYPES)}."]
    found = [f"The {kind} trigger has the unknown field {_show(key)}; remove it."
             for key in trigger if key not in TRIGGER_FIELDS[kind]]
    return found + TRIGGER_CHECKS[kind](trigger)


# --- the flow's own fields and the step ids -------------------------------------------------------------

class _Report:
    """Problems with the position of their step (-1 for the flow), sorted by position at the end."""

    def __init__(self):
        self.items: list[tuple[int, int, str | None, str]] = []
        self.seen: set = set()

    def add(self, position: int, step: str | None, message: str) -> None:
        if (position, step, message) not in self.seen:  # two equal buttons are one problem, not two lines
            self.seen.add((position, step, message))
            self.items.append((position, len(self.items), step, message))

    def sorted(self) -> list[dict]:
        return [{"step": step, "message": message} for _, _, step, message in sorted(self.items, key=lambda i: i[:2])]


def _check_flow_fields(definition: dict, report: _Report) -> None:
    name = definition.get("name")
    if name is not None and (not isinstance(name, str) or not name.strip() or len(name) > MAX_SHORT):
        report.add(-1, None, f"Give the flow a 'name' of 1 to {MAX_SHORT} characters.")
    timeout = definition.get("timeout_minutes")
    if timeout is not None and not (_is_number(timeout) and 1 <= timeout <= MAX_TIMEOUT):
        report.add(-1, None, f"Set 'timeout_minutes' to a number of minutes from 1 to {MAX_TIMEOUT} (30 days), "
                             "or leave it out to use the flow_timeout_minutes setting.")
    triggers = definition.get("triggers", [])
    if not isinstance(triggers, list):
        report.add(-1, None, "Give the 'triggers' as a list (it may be empty when a rule starts the flow).")
        return
    for number, trigger in enumerate(triggers, 1):
        for message in check_trigger(trigger):
            report.add(-1, None, f"Trigger {number}: {message}")


def _check_ids(steps: list, report: _Report) -> dict[str, int]:
    """The position of every step by id (the first of duplicates), reporting missing, wrong and duplicate ids."""
    ids: dict[str, int] = {}
    for position, step in enumerate(steps):
        if not isinstance(step, dict):
            report.add(position, None, f"Step {position + 1} is not an object; give each step an 'id' and a 'type'.")
            continue
        step_id = step.get("id")
        if not isinstance(step_id, str) or not _STEP_ID.fullmatch(step_id) or len(step_id) > MAX_ID:
            report.add(position, step_id if isinstance(step_id, str) else None,
                       f"Step {position + 1} needs an 'id' of 1 to {MAX_ID} letters, digits, '_', '-' or '.'.")
            if not isinstance(step_id, str):
                step_id = None
        if step_id is not None and step_id in ids:
            report.add(position, step_id, f"Step {position + 1} has the id {_show(step_id)} of step "
                                          f"{ids[step_id] + 1}; give every step its own id.")
        elif step_id is not None:
            ids[step_id] = position
        kind = step.get("type")
        if not _known_type(step):
            report.add(position, step_id, f"{_name(step_id, position)} has "
                       f"{'no type' if kind is None else f'the unknown type {_show(kind)}'}; "
                       f"use one of {_list(STEP_TYPES)}.")
    return ids


# --- one step -------------------------------------------------------------------------------------------

class _Step:
    """The checks of one step of a known type; every problem is reported against it."""

    def __init__(self, report: _Report, position: int, step: dict, ids: dict, kinds: list):
        self.report, self.position, self.step, self.ids, self.kinds = report, position, step, ids, kinds
        self.id = step["id"] if isinstance(step.get("id"), str) else None
        self.name = _name(self.id, position)

    def add(self, message: str) -> None:
        self.report.add(self.position, self.id, message)

    def check(self) -> None:
        kind = self.step["type"]
        for key in self.step:
            if key not in ("id", "type") and key not in STEP_FIELDS[kind]:
                hint = " (it goes on by its branches and 'default')" if kind == "condition" and key == "next" else ""
                self.add(f"{self.name} ({kind}) has the unknown field {_show(key)}{hint}; remove it.")
        CHECKS[kind](self)
        for field, target in _targets(self.step):
            if not isinstance(target, str):
                self.add(f"{self.name}: {field} must be the id of a step.")
            elif target not in self.ids:
                self.add(f"{self.name} goes to {_show(target)} ({field}), but no step has that id.")

    # shared field checks

    def text(self, key: str, required: bool = False, limit: int = MAX_TEXT) -> str | None:
        value = self.step.get(key)
        if value is None and not required:
            return None
        if not isinstance(value, str) or not value.strip():
            self.add(f"{self.name} needs '{key}': the text to send.")
            return None
        problem = _bad_text(value, limit)
        if problem:
            self.add(f"{self.name}: '{key}' {problem}")
        return value

    def short(self, key: str, what: str, required: bool = True, limit: int = MAX_SHORT) -> None:
        value = self.step.get(key)
        if value is None and not required:
            return
        problem = _bad_short(value, limit)
        if problem:
            self.add(f"{self.name} needs '{key}' ({what}) {problem}")

    def url(self, key: str, required: bool) -> None:
        value = self.step.get(key)
        if value is None and not required:
            return
        if not _is_url(value):
            self.add(f"{self.name} needs '{key}' as an http:// or https:// address of at most {MAX_URL} characters.")

    def buttons(self) -> list:
        buttons = self.step.get("buttons")
        if buttons is None or buttons == []:
            return []
        if not isinstance(buttons, list):
            self.add(f"{self.name}: give 'buttons' as a list of {{\"id\", \"title\"}} objects.")
            return []
        good = _check_buttons(buttons, self.add, self.name)
        if self.step.get("text") is None and good:
            self.add(f"{self.name} has buttons but no 'text'; add the text shown above them.")
        for kind in self.kinds:
            for message in _over_limits(CHANNEL_LIMITS[kind], good):
                self.add(f"{self.name}: {message}")
        return good

    def texts_on_channels(self, key: str, text: str | None, with_buttons: bool) -> None:
        if not isinstance(text, str):
            return
        for kind in self.kinds:
            limits = CHANNEL_LIMITS[kind]
            limit = limits.text_with_buttons if with_buttons else limits.text
            if len(text) > limit and len(text) <= MAX_TEXT:
                self.add(f"{self.name}: '{key}' has {len(text)} characters; {limits.name} shows at most {limit}"
                         f"{' with buttons' if with_buttons and limit != limits.text else ''}. Shorten it.")


def _send(step: _Step) -> None:
    text = step.text("text")
    step.url("media_url", required=False)
    template = step.step.get("template")
    if template is not None:
        for message in _template_problems(template):
            step.add(f"{step.name}: {message}")
    if text is None and step.step.get("media_url") is None and template is None:
        step.add(f"{step.name} sends nothing; give it a 'text', a 'media_url' or a 'template'.")
    buttons = step.buttons()
    step.texts_on_channels("text", text, bool(buttons))


def _ask(step: _Step) -> None:
    text = step.text("text", required=True)
    validate = step.step.get("validate", "text")
    if validate not in answers.KINDS:
        step.add(f"{step.name}: 'validate' must be one of {_list(answers.KINDS)}, not {_show(validate)}.")
    buttons = step.buttons()
    if validate == "choice" and not buttons:
        step.add(f"{step.name} asks for a choice but has no buttons; add the choices as 'buttons' "
                 "or validate the answer another way.")
    step.texts_on_channels("text", text, bool(buttons))
    step.short("field", "the custom field that stores the answer", required=False)
    retries = step.step.get("retries")
    if retries is not None and not (_is_whole(retries) and 0 <= retries <= MAX_RETRIES):
        step.add(f"{step.name}: 'retries' must be a whole number from 0 to {MAX_RETRIES}.")
    retry_text = step.text("retry_text")
    step.texts_on_channels("retry_text", retry_text, bool(buttons))


def _condition(step: _Step) -> None:
    branches = step.step.get("branches")
    if not isinstance(branches, list) or not branches:
        step.add(f"{step.name} needs 'branches': a list of {{\"if\": condition, \"next\": step id}}.")
    else:
        for number, branch in enumerate(branches, 1):
            if not isinstance(branch, dict) or "if" not in branch or "next" not in branch:
                step.add(f"{step.name}: branch {number} must be an object with 'if' and 'next'.")
                continue
            extra = [key for key in branch if key not in ("if", "next")]
            if extra:
                step.add(f"{step.name}: branch {number} has the unknown field {_show(extra[0])}; remove it.")
            for message in check_condition(branch["if"]):
                step.add(f"{step.name}: branch {number}: {message}")
    if "default" not in step.step:
        step.add(f"{step.name} has no 'default': the step to go to when no branch holds. Add one "
                 "(it may be an end step).")


def _delay(step: _Step) -> None:
    seconds = step.step.get("seconds")
    if not (_is_number(seconds) and 1 <= seconds <= MAX_DELAY):
        step.add(f"{step.name}: 'seconds' must be a number from 1 to {MAX_DELAY} (30 days), not {_show(seconds)}.")


def _tag(step: _Step) -> None:
    step.short("tag", "the customer tag")


def _set_field(step: _Step) -> None:
    step.short("field", "the custom field's name")
    value = step.step.get("value")
    if value is not None and not _is_scalar(value):
        step.add(f"{step.name}: 'value' must be a text, a number, true or false.")
    elif isinstance(value, str) and _bad_text(value, MAX_TEXT):
        step.add(f"{step.name}: 'value' {_bad_text(value, MAX_TEXT)}")


def _webhook(step: _Step) -> None:
    step.url("url", required=True)
    step.short("secret", "the key that signs the body", required=False)
    if step.step.get("secret_sealed") is not None and not isinstance(step.step["secret_sealed"], str):
        step.add(f"{step.name}: 'secret_sealed' is what the appliance stored; give the 'secret' again instead.")


def _handoff(step: _Step) -> None:
    step.short("reason", "why a person takes over", required=False, limit=MAX_REASON)


def _nothing(step: _Step) -> None:
    """assistant, jump (its `to` is checked as a reference) and end have no field of their own to check."""


def _ab(step: _Step) -> None:
    step.short("experiment", "the experiment's name")
    goal = step.step.get("goal")
    if goal is not None:
        for message in _goal_problems(goal, step.ids):
            step.add(f"{step.name}: {message}")
    variants = step.step.get("variants")
    if not isinstance(variants, list) or not 2 <= len(variants) <= MAX_VARIANTS:
        step.add(f"{step.name} needs 'variants': a list of 2 to {MAX_VARIANTS} "
                 "{\"name\", \"weight\", \"next\"} objects.")
        return
    names, total = set(), 0
    for number, variant in enumerate(variants, 1):
        if not isinstance(variant, dict):
            step.add(f"{step.name}: variant {number} must be an object with 'name', 'weight' and 'next'.")
            continue
        for key in variant:
            if key not in ("name", "weight", "next"):
                step.add(f"{step.name}: variant {number} has the unknown field {_show(key)}; remove it.")
        name = variant.get("name")
        if _bad_short(name):
            step.add(f"{step.name}: variant {number} needs a 'name' {_bad_short(name)}")
        elif name in names:
            step.add(f"{step.name}: two variants are named '{name}'; give each its own name.")
        names.add(name if isinstance(name, str) else None)
        weight = variant.get("weight", 1)
        if not (_is_number(weight) and 0 <= weight <= MAX_WEIGHT):
            step.add(f"{step.name}: variant {number}'s 'weight' must be a number from 0 to {MAX_WEIGHT}.")
        else:
            total += weight
    if total <= 0 and all(isinstance(v, dict) and _is_number(v.get("weight", 1)) for v in variants):
        step.add(f"{step.name}: the variants' weights add up to 0; give at least one a positive weight.")


CHECKS = {"send": _send, "ask": _ask, "condition": _condition, "delay": _delay, "tag": _tag, "untag": _tag,
          "set_field": _set_field, "webhook": _webhook, "handoff": _handoff, "assistant": _nothing,
          "jump": _nothing, "end": _nothing, "ab": _ab}
STEP_FIELDS = {
    "send": ("text", "buttons", "media_url", "template", "next"),
    "ask": ("text", "buttons", "field", "validate", "retries", "retry_text", "fallback", "next"),
    "condition": ("branches", "default"),
    "delay": ("seconds", "next"),
    "tag": ("tag", "next"), "untag": ("tag", "next"),
    "set_field": ("field", "value", "next"),
    "webhook": ("url", "secret", "secret_sealed", "next"),  # flows stores the secret sealed to its URL
    "handoff": ("reason",),
    "assistant": ("next",),
    "jump": ("to",),
    "end": (),
    "ab": ("experiment", "goal", "variants"),
}


def _targets(step: dict) -> list[tuple[str, object]]:
    """Every step reference of a step as (where it is, the id), in the order a reader sees them."""
    found = [(f"'{key}'", step[key]) for key in ("next", "fallback", "default", "to") if key in step]
    for key, item_key in (("branches", "branch"), ("variants", "variant")):
        items = step.get(key)
        if isinstance(items, list):
            found += [(f"{item_key} {n}'s 'next'", item["next"]) for n, item in enumerate(items, 1)
                      if isinstance(item, dict) and "next" in item]
    if step.get("type") == "jump" and "to" not in step:
        found.append(("'to'", None))
    return found


# --- buttons and channel limits -------------------------------------------------------------------------

def _check_buttons(buttons: list, add, name: str) -> list[dict]:
    """The well-formed buttons; reports malformed, duplicate and too many buttons."""
    good, seen_ids, seen_titles = [], set(), set()
    for number, button in enumerate(buttons, 1):
        if not isinstance(button, dict) or set(button) - {"id", "title", "description"}:
            add(f"{name}: button {number} must be an object with only 'id' and 'title' (and an optional "
                "'description').")
            continue
        button_id, title = button.get("id"), button.get("title")
        bad = [f"{name}: button {number} needs {what} {problem}" for what, problem in (
            ("a 'title'", _bad_short(title)), ("an 'id'", _bad_short(button_id, MAX_BUTTON_ID))) if problem]
        if bad:
            for message in bad:
                add(message)
            continue
        typed = words(title) or title.casefold().strip()  # "Có" and "co" are one answer when typed
        if button_id in seen_ids or typed in seen_titles:
            add(f"{name}: button {number} ('{title}') repeats the id or the title of another button (titles "
                "are compared without case and accents); make each one different.")
        seen_ids.add(button_id)
        seen_titles.add(typed)
        description = button.get("description")
        if description is not None and _bad_short(description):
            add(f"{name}: button {number}'s 'description' must be a text {_bad_short(description)}")
        good.append(button)
    if len(buttons) > MAX_BUTTONS:
        add(f"{name} has {len(buttons)} buttons; a step can have at most {MAX_BUTTONS}.")
    return good


def _over_limits(limits: Limits, buttons: list[dict]) -> list[str]:
    """What of these buttons a channel kind cannot show, as sentences naming the kind and the limit."""
    if not buttons:
        return []
    found = []
    most = max(limits.buttons, limits.rows)
    if len(buttons) > most:
        found.append(f"{len(buttons)} buttons, but {limits.name} shows at most {most}"
                     f"{' (as a list)' if limits.rows else ''}. Remove {len(buttons) - most} or split them "
                     "over two steps.")
    as_list = len(buttons) > limits.buttons and limits.rows > 0
    title_limit = limits.row_title if as_list else limits.title
    id_limit = limits.row_id if as_list else limits.id_limit
    shape = "a list row" if as_list else "a button"
    for button in buttons:
        if len(button["title"]) > title_limit:
            found.append(f"the button title '{button['title']}' has {len(button['title'])} characters; "
                         f"{limits.name} shows at most {title_limit} on {shape}. Shorten it.")
        size = len(button["id"].encode("utf-8")) if limits.id_bytes else len(button["id"])
        if id_limit is not None and size > id_limit:
            unit = "bytes" if limits.id_bytes else "characters"
            found.append(f"the button id {_show(button['id'])} has {size} {unit}; {limits.name} takes at most "
                         f"{id_limit}. Shorten it.")
        description = button.get("description")
        if as_list and limits.row_description and isinstance(description, str) and len(
                description) > limits.row_description:
            found.append(f"the description of the button '{button['title']}' has {len(description)} characters; "
                         f"{limits.name} shows at most {limits.row_description} on a list row. Shorten it.")
    return found


# --- conditions, goals, templates and triggers ----------------------------------------------------------

def check_condition(condition) -> list[str]:
    """The problems of one condition (channel, tag, field, time or reply) as sentences ([] when it is fine)."""
    if not isinstance(condition, dict):
        return ["the condition must be an object with a 'type'."]
    kind = condition.get("type")
    if kind not in CONDITION_TYPES:
        return [f"the condition type {_show(kind)} is unknown; use one of {_list(CONDITION_TYPES)}."]
    found = [f"the {kind} condition has the unknown field {_show(key)}; remove it."
             for key in condition if key not in CONDITION_FIELDS[kind]]
    return found + CONDITION_CHECKS[kind](condition)


def _channel_condition(condition: dict) -> list[str]:
    channels = condition.get("channels")
    if not isinstance(channels, list) or not channels or any(c not in KINDS for c in channels):
        return [f"the channel condition needs 'channels': a list of {_list(KINDS)}."]
    return []


def _tag_condition(condition: dict) -> list[str]:
    found = [] if not _bad_short(condition.get("tag")) else [f"the tag condition needs a 'tag' "
                                                             f"{_bad_short(condition.get('tag'))}"]
    if not isinstance(condition.get("present", True), bool):
        found.append("the tag condition's 'present' must be true or false.")
    return found


def _field_condition(condition: dict) -> list[str]:
    found = [] if not _bad_short(condition.get("field")) else [f"the field condition needs a 'field' "
                                                               f"{_bad_short(condition.get('field'))}"]
    return found + _op_value("field", condition)


def _reply_condition(condition: dict) -> list[str]:
    return _op_value("reply", condition)


def _op_value(kind: str, condition: dict) -> list[str]:
    op = condition.get("op", "equals")
    if op not in FIELD_OPS:
        return [f"the {kind} condition's 'op' must be one of {_list(FIELD_OPS)}, not {_show(op)}."]
    value = condition.get("value")
    if op in ("exists", "absent"):
        return []
    if (isinstance(value, bool) and kind == "field") or not _is_scalar(value) or (
            isinstance(value, str) and _bad_text(value, MAX_VALUE)):
        return [f"the {kind} condition with op '{op}' needs a 'value': a text of at most {MAX_VALUE} characters "
                "or a number."]
    return []


def _time_condition(condition: dict) -> list[str]:
    found = []
    days = condition.get("days")
    if days is not None and (not isinstance(days, list) or not days
                             or any(not _is_whole(d) or not 0 <= d <= 6 for d in days)):
        found.append("the time condition's 'days' must be a list of day numbers from 0 (Monday) to 6 (Sunday).")
    start, end = condition.get("from", "00:00"), condition.get("to", "24:00")  # as conditions.check_one
    for key, value in (("from", start), ("to", end)):
        if not (isinstance(value, str) and (_CLOCK.fullmatch(value) or key == "to" and value == "24:00")):
            found.append(f"the time condition's '{key}' must be a time like \"08:00\" (24-hour clock"
                         f"{'; 24:00 for the end of the day' if key == 'to' else ''}).")
    if start == end:
        found.append("the time condition's range ends where it starts; give a different 'to'.")
    if not isinstance(condition.get("inside", True), bool):
        found.append("the time condition's 'inside' must be true or false.")
    return found


CONDITION_FIELDS = {"channel": ("type", "channels"), "tag": ("type", "tag", "present"),
                    "field": ("type", "field", "op", "value"), "time": ("type", "days", "from", "to", "inside"),
                    "reply": ("type", "op", "value")}
CONDITION_CHECKS = {"channel": _channel_condition, "tag": _tag_condition, "field": _field_condition,
                    "time": _time_condition, "reply": _reply_condition}


def _goal_problems(goal, ids: dict) -> list[str]:
    if not isinstance(goal, dict) or goal.get("type") not in GOAL_TYPES:
        return [f"the 'goal' must be an object whose 'type' is one of {_list(GOAL_TYPES)}."]
    kind = goal["type"]
    needs = {"button": ("payload",), "tag": ("tag",), "step": ("step",), "no_handoff": ()}[kind]
    allowed = {"button": ("payload",), "tag": ("tag",), "step": ("flow", "step"), "no_handoff": ("hours",)}[kind]
    found = [f"the {kind} goal has the unknown field {_show(key)}; remove it."
             for key in goal if key != "type" and key not in allowed]
    found += [f"the {kind} goal needs '{key}' {_bad_short(goal.get(key))}"
              for key in needs if _bad_short(goal.get(key))]
    hours = goal.get("hours", 24)
    if kind == "no_handoff" and not (_is_number(hours) and 0 < hours <= MAX_GOAL_HOURS):
        found.append(f"the no_handoff goal's 'hours' must be a number above 0 and at most {MAX_GOAL_HOURS}.")
    if kind == "step" and goal.get("flow") is None and isinstance(goal.get("step"), str) and goal["step"] not in ids:
        found.append(f"the goal's step '{goal['step']}' is not a step of this flow.")
    return found


def _template_problems(template) -> list[str]:
    if not isinstance(template, dict):
        return ["the 'template' must be an object with 'name', 'language' and 'params'."]
    found = [f"the template has the unknown field {_show(key)}; remove it."
             for key in template if key not in ("name", "language", "params")]
    if _bad_short(template.get("name")):
        found.append(f"the template needs the 'name' approved on the platform, {_bad_short(template.get('name'))}")
    language = template.get("language")
    if language is not None and not (isinstance(language, str) and _LANGUAGE.fullmatch(language)):
        found.append("the template's 'language' must be a code like \"vi\" or \"en_US\".")
    params = template.get("params", [])
    if not isinstance(params, list) or len(params) > 20 or any(
            not _is_scalar(p) or isinstance(p, bool) or (isinstance(p, str) and _bad_text(p, 1024)) for p in params):
        found.append("the template's 'params' must be a list of at most 20 texts or numbers.")
    return found


def _keyword_trigger(trigger: dict) -> list[str]:
    found = []
    if trigger.get("mode", "contains") not in MODES:
        found.append(f"The keyword trigger's 'mode' must be one of {_list(MODES)}.")
    keywords = trigger.get("keywords")
    if (not isinstance(keywords, list) or not 0 < len(keywords) <= MAX_KEYWORDS
            or any(_bad_short(k) for k in keywords)):
        found.append(f"The keyword trigger needs 'keywords': a list of 1 to {MAX_KEYWORDS} words or phrases, each "
                     f"of at most {MAX_SHORT} characters.")
    return found


def _payload_trigger(trigger: dict) -> list[str]:
    problem = _bad_short(trigger.get("payload"), MAX_PAYLOAD)
    return [f"The payload trigger needs the button's 'payload' {problem}"] if problem else []


def _event_trigger(trigger: dict) -> list[str]:
    return [] if trigger.get("event") in EVENTS else [f"The event trigger's 'event' must be one of {_list(EVENTS)}."]


def _schedule_trigger(trigger: dict) -> list[str]:
    found = [] if _is_cron(trigger.get("cron")) else [
        "The schedule trigger needs 'cron': five fields, minute hour day month weekday, like \"0 9 * * 1\" "
        "(9:00 every Monday; weekday 0 is Sunday)."]
    if _bad_short(trigger.get("tag")):  # never every customer at once: a schedule goes to the customers with a tag
        found.append(f"The schedule trigger needs 'tag' (the customers with this tag receive the flow) "
                     f"{_bad_short(trigger.get('tag'))}")
    return found


TRIGGER_FIELDS = {"keyword": ("type", "mode", "keywords"), "payload": ("type", "payload"),
                  "event": ("type", "event"), "schedule": ("type", "cron", "tag")}
TRIGGER_CHECKS = {"keyword": _keyword_trigger, "payload": _payload_trigger, "event": _event_trigger,
                  "schedule": _schedule_trigger}


def _is_cron(cron) -> bool:
    """Whether huey's crontab (the schedule's runner) takes these five fields."""
    if not isinstance(cron, str) or len(cron) > 100:
        return False
    fields = cron.split()
    if len(fields) != 5 or not all(_CRON_FIELD.fullmatch(f) for f in fields):
        return False
    minute, hour, day, month, weekday = fields
    try:
        crontab(minute, hour, day, month, weekday, strict=True)
    except (ValueError, ZeroDivisionError):
        return False
    return True


# --- the step graph -------------------------------------------------------------------------------------

def _check_graph(definition: dict, steps: list, ids: dict, report: _Report) -> None:
    """`start`, then the steps it never reaches and the loops that pass no ask or delay step."""
    graph = {position: [ids[t] for _, t in _targets(step) if isinstance(t, str) and t in ids]
             if _known_type(step) else []
             for position, step in enumerate(steps)}
    start = definition.get("start")
    if not isinstance(start, str) or start not in ids:
        report.add(-1, None, "Set 'start' to the id of the first step." if start is None
                   else f"'start' is {_show(start)}, but no step has that id; set it to the id of the first step.")
    else:
        reached, named = _reach(graph, ids[start]), set(ids.values())
        for position, step in enumerate(steps):
            if position not in reached and position in named:
                report.add(position, step["id"], f"{_name(step['id'], position)} is never reached from the start "
                                                 f"step '{start}'; link to it from another step or remove it.")
    waits = {p for p, step in enumerate(steps) if isinstance(step, dict) and step.get("type") in WAITS}
    for loop in _loops(graph, waits):
        first = loop[0]
        names = [f"'{steps[p]['id']}'" for p in loop]
        circle = " → ".join(names + [names[0]])
        report.add(first, steps[first]["id"], f"Steps {circle} go round without an ask or a delay step, so the "
                                              "customer would get messages without end; add an ask or a delay to "
                                              "the loop, or end it.")


def _reach(graph: dict[int, list[int]], start: int) -> set[int]:
    seen, todo = {start}, [start]
    while todo:
        for target in graph[todo.pop()]:
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def _loops(graph: dict[int, list[int]], waits: set[int]) -> list[list[int]]:
    """The strongly connected groups of steps without a wait (Tarjan's algorithm, iterative), each in step order."""
    edges = {v: [w for w in graph[v] if w not in waits] for v in graph if v not in waits}
    index: dict[int, int] = {}
    low: dict[int, int] = {}
    stack, on_stack, loops = [], set(), []
    for root in edges:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            v, i = work.pop()
            if i == 0:
                index[v] = low[v] = len(index)
                stack.append(v)
                on_stack.add(v)
            if i < len(edges[v]):
                work.append((v, i + 1))
                w = edges[v][i]
                if w not in index:
                    work.append((w, 0))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[v])
            if low[v] == index[v]:
                group = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    group.append(w)
                    if w == v:
                        break
                if len(group) > 1 or v in edges[v]:
                    loops.append(_in_order(group, edges))
    return sorted(loops)


def _in_order(group: list[int], edges: dict[int, list[int]]) -> list[int]:
    """A loop's steps in the order they run, from its first step in the flow (for a readable "a → b → a")."""
    members, order, v = set(group), [], min(group)
    while v not in order:
        order.append(v)
        v = next((w for w in edges[v] if w in members and w not in order), None)
        if v is None:
            break
    return order + sorted(members - set(order))


# --- small checks of values -----------------------------------------------------------------------------

def _known_type(step) -> bool:
    return isinstance(step, dict) and isinstance(step.get("type"), str) and step["type"] in CHECKS


def _is_number(value) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, int) and not isinstance(value, bool)  # a huge int is finite (and out of any range)


def _is_whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_scalar(value) -> bool:
    return isinstance(value, (str, bool)) or _is_number(value)


def _is_url(value) -> bool:
    return (isinstance(value, str) and len(value) <= MAX_URL and not _bad_text(value, MAX_URL)
            and re.fullmatch(r"https?://[^\s/?#]+[^\s]*", value, re.IGNORECASE) is not None)


def _bad_text(value: str, limit: int) -> str | None:
    """Why a text cannot be sent ("has 5000 characters; ..."), or None."""
    if len(value) > limit:
        return f"has {len(value)} characters; the most is {limit}. Shorten it."
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "has a broken character (a lone surrogate) that no channel can send; retype it."
    if _CONTROL.search(value):
        return "has a control character; retype it without it."
    return None


def _bad_short(value, limit: int = MAX_SHORT) -> str | None:
    """Why a value is not a short text (a name, tag, field or id), or None."""
    if not isinstance(value, str) or not value.strip():
        return f"as a text of 1 to {limit} characters."
    problem = _bad_text(value, limit)
    return f"as a text of 1 to {limit} characters: it {problem}" if problem else None


def _name(step_id, position: int) -> str:
    """How a sentence names a step: by its id when it is a proper one, else by its number."""
    if isinstance(step_id, str) and len(step_id) <= MAX_ID and _STEP_ID.fullmatch(step_id):
        return f"Step '{step_id}'"
    return f"Step {position + 1}"


def _show(value) -> str:
    """A value inside a sentence, short and printable (a list or an object only named: it may nest without end)."""
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return "a very large number"  # repr of a huge int is slow, and refused past 4300 digits
    text = f"'{value}'" if isinstance(value, str) else repr(value)
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= 40 else text[:39] + "…'"


def _list(names) -> str:
    names = list(names)
    return ", ".join(names[:-1]) + " or " + names[-1]
