"""Conditions of a rule (and of a flow's condition step): the channel, a customer tag, a custom field, the time of day
and week in the appliance's time zone (the `timezone` setting: opening hours).

`check(conditions, where)` validates them at save (a 422 naming the field); `why_not(conditions, context)` says at
run time which one does not hold, or None when all do. Texts compare folded (lower case, no accents), so a field
"Hà Nội" equals "ha noi". A time range whose `to` is earlier than its `from` crosses midnight: 22:00-02:00 on
Friday also covers Saturday 01:30 (the early hours belong to the day the range started)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from appliance.assistant.prompts import fold
from appliance.channels import KINDS
from appliance.errors import AppError
from appliance.records import utcnow

TYPES = ("channel", "tag", "field", "time")
FIELD_OPS = ("equals", "not_equals", "contains", "exists", "absent")
MAX_CONDITIONS = 20
MAX_NAME = 100  # a tag or a field name
MAX_VALUE = 1000
CLOCK = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass
class Facts:
    """What conditions look at: the channel kind, the customer's tags and fields, the time zone and now (UTC)."""

    channel_kind: str | None = None
    tags: list = field(default_factory=list)
    fields: dict = field(default_factory=dict)
    zone: str = "UTC"
    now: datetime | None = None  # naive UTC; None: the current time

    @classmethod
    def of(cls, context) -> "Facts":
        """The facts of a responders.Context (or anything with services, channel and conversation.customer)."""
        customer = context.conversation.customer
        return cls(context.channel.kind, list(customer.tags or []), dict(customer.custom_fields or {}),
                   context.services.settings.timezone)


class ConditionError(AppError):
    """A condition that may not be saved; the message names it (conditions[1].value: ...)."""

    def __init__(self, message: str):
        super().__init__(422, "invalid_condition", message)


# --- at save ---------------------------------------------------------------------------------------------

def check(conditions, where: str = "conditions") -> list[dict]:
    """The conditions normalized, or ConditionError naming the first bad field."""
    if conditions is None:
        return []
    if not isinstance(conditions, list):
        raise ConditionError(f"{where}: give the conditions as a list.")
    if len(conditions) > MAX_CONDITIONS:
        raise ConditionError(f"{where}: a rule can have at most {MAX_CONDITIONS} conditions.")
    return [check_one(c, f"{where}[{n}]") for n, c in enumerate(conditions)]


def check_one(condition, where: str) -> dict:
    """One condition normalized (see TYPES), or ConditionError naming the field."""
    if not isinstance(condition, dict):
        raise ConditionError(f"{where}: give the condition as an object with a 'type'.")
    kind = condition.get("type")
    if kind not in CHECKS:
        raise ConditionError(f"{where}.type: use one of {', '.join(TYPES)}.")
    return {"type": kind, **CHECKS[kind](condition, where)}


def _only(condition: dict, allowed: tuple[str, ...], where: str) -> None:
    unknown = sorted(str(k) for k in set(condition) - {"type", *allowed})
    if unknown:
        raise ConditionError(f"{where}.{unknown[0]}: not a field of a {condition['type']} condition; "
                             f"use {', '.join(allowed)}.")


def name_of(value, where: str, what: str) -> str:
    """A tag or field name: a non-empty string of at most MAX_NAME characters (trimmed)."""
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_NAME:
        raise ConditionError(f"{where}: give the {what} as a non-empty string of at most {MAX_NAME} characters.")
    return value.strip()


def _check_channel(condition: dict, where: str) -> dict:
    _only(condition, ("channels",), where)
    channels = condition.get("channels")
    if not isinstance(channels, list) or not channels or not all(isinstance(c, str) and c in KINDS for c in channels):
        raise ConditionError(f"{where}.channels: give a list of channel kinds from {', '.join(KINDS)}.")
    return {"channels": list(dict.fromkeys(channels))}


def _check_tag(condition: dict, where: str) -> dict:
    _only(condition, ("tag", "present"), where)
    present = condition.get("present", True)
    if not isinstance(present, bool):
        raise ConditionError(f"{where}.present: give true (the customer has the tag) or false (does not).")
    return {"tag": name_of(condition.get("tag"), f"{where}.tag", "tag"), "present": present}


def _check_field(condition: dict, where: str) -> dict:
    _only(condition, ("field", "op", "value"), where)
    op = condition.get("op", "equals")
    if op not in FIELD_OPS:
        raise ConditionError(f"{where}.op: use one of {', '.join(FIELD_OPS)}.")
    checked = {"field": name_of(condition.get("field"), f"{where}.field", "field name"), "op": op}
    if op in ("exists", "absent"):
        return checked
    value = condition.get("value")
    if isinstance(value, bool) or not isinstance(value, (str, int, float)) or len(str(value)) > MAX_VALUE:
        raise ConditionError(f"{where}.value: give the value to compare with as a string or a number "
                             f"(at most {MAX_VALUE} characters).")
    return {**checked, "value": value}


def _clock(value, where: str) -> str:
    if not isinstance(value, str) or not CLOCK.fullmatch(value):
        raise ConditionError(f"{where}: give a time of day as HH:MM (24 hours), such as 08:00 (or 24:00 for 'to').")
    return value


def _check_time(condition: dict, where: str) -> dict:
    _only(condition, ("days", "from", "to", "inside"), where)
    days = condition.get("days", list(range(7)))
    if not isinstance(days, list) or not days or not all(
            isinstance(d, int) and not isinstance(d, bool) and 0 <= d <= 6 for d in days):
        raise ConditionError(f"{where}.days: give a list of week days, 0 (Monday) to 6 (Sunday).")
    start = _clock(condition.get("from", "00:00"), f"{where}.from")
    end = condition.get("to", "24:00")
    end = end if end == "24:00" else _clock(end, f"{where}.to")
    if start == end:
        raise ConditionError(f"{where}.to: the range ends where it starts; give a different 'to'.")
    inside = condition.get("inside", True)
    if not isinstance(inside, bool):
        raise ConditionError(f"{where}.inside: give true (inside the hours) or false (outside them).")
    return {"days": sorted(set(days)), "from": start, "to": end, "inside": inside}


CHECKS = {"channel": _check_channel, "tag": _check_tag, "field": _check_field, "time": _check_time}


# --- at run time -------------------------------------------------------------------------------------------

def why_not(conditions: list, context) -> str | None:
    """None when every condition holds for the context (a responders.Context or Facts), else a sentence naming the
    first that does not."""
    if not conditions:
        return None
    facts = context if isinstance(context, Facts) else Facts.of(context)
    for condition in conditions:
        problem = TESTS[condition["type"]](condition, facts)
        if problem is not None:
            return problem
    return None


def _channel(condition: dict, facts: Facts) -> str | None:
    if facts.channel_kind in condition["channels"]:
        return None
    return f"the channel is {facts.channel_kind or 'not known'}, not {' or '.join(condition['channels'])}"


def _tag(condition: dict, facts: Facts) -> str | None:
    has = fold(condition["tag"]) in {fold(str(t)) for t in facts.tags}
    if has == condition["present"]:
        return None
    return f"the customer {'lacks' if condition['present'] else 'has'} the tag '{condition['tag']}'"


def _field(condition: dict, facts: Facts) -> str | None:
    name, op = condition["field"], condition["op"]
    value = facts.fields.get(name)
    present = value is not None and str(value).strip() != ""
    if op in ("exists", "absent"):
        holds = present if op == "exists" else not present
    else:
        have, want = fold(str(value)).strip() if present else "", fold(str(condition["value"])).strip()
        holds = {"equals": have == want, "not_equals": have != want, "contains": present and want in have}[op]
    if holds:
        return None
    return f"the field '{name}' fails {op}{'' if op in ('exists', 'absent') else ' ' + repr(condition['value'])}"


def local_now(facts: Facts) -> datetime:
    """Now (or the facts' time) in the time zone, naive."""
    now = (facts.now or utcnow()).replace(tzinfo=timezone.utc)
    return now.astimezone(ZoneInfo(facts.zone)).replace(tzinfo=None)


def within(condition: dict, moment: datetime) -> bool:
    """Whether a local time falls in the condition's days and hours (a range across midnight counts its early hours
    for the day before)."""
    start = time.fromisoformat(condition["from"])
    end = time.max if condition["to"] == "24:00" else time.fromisoformat(condition["to"])
    clock, day = moment.time().replace(second=0, microsecond=0), moment.weekday()
    if start < end:
        return day in condition["days"] and start <= clock < end
    if clock >= start:
        return day in condition["days"]
    return clock < end and (moment - timedelta(days=1)).weekday() in condition["days"]


def _time(condition: dict, facts: Facts) -> str | None:
    moment = local_now(facts)
    if within(condition, moment) == condition["inside"]:
        return None
    return (f"it is {DAY_NAMES[moment.weekday()]} {moment:%H:%M} ({facts.zone}), "
            f"{'outside' if condition['inside'] else 'inside'} {condition['from']}-{condition['to']}")


TESTS = {"channel": _channel, "tag": _tag, "field": _field, "time": _time}
