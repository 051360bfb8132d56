"""A/B experiments of rules and flows: sticky weighted variants, goals, and results with a two-proportion z-test.

A rule action {"type": "ab", "experiment", "goal", "variants": [{"name", "weight", "actions"}]} or a flow step
{"type": "ab", ..., "variants": [{"name", "weight", "next"}]} sends each customer down one variant. Which one is a
hash of (experiment, customer) laid over the weights, so it is the same on every ask and on every worker; the first
real (not dry-run) ask stores it as an Assignment row (unique per experiment and customer: two turns racing to the
first ask read back the same row), and that row is the customer's variant from then on ("reached").

An experiment's key is "<source>:<name>", the source being the turn's "rule:<id>" or "flow:<id>" (experiment_key).
The shapes are checked at save: a rule's ab action by rules.check_action, a flow's ab step by check_goal and
check_variants here.

Goals, met at most once per assignment and only after it was reached ("converted"):
    {"type": "button", "payload"}   the customer taps a button or quick reply with that payload (rules and flows call
                                    observe(customer, "button", payload))
    {"type": "tag", "tag"}          the tag is added to the customer (actions.change_tags calls observe)
    {"type": "step", "flow", "step"} the customer reaches that flow step (flows call observe(customer, "step",
                                    "<flow id>:<step id>"))
    {"type": "no_handoff", "hours"} no hand-off within `hours` after reaching. Decided on the hand-off itself: the
                                    conversation.handoff and conversation.assigned events mark the customer's open
                                    no_handoff assignments reached less than `hours` ago as lost (kept in the row, so
                                    pruned events change nothing). At results time an assignment not lost whose hours
                                    are over counts as converted; one still inside its hours is `waiting` and not
                                    counted as reached yet, so rates compare decided customers only.
"""
from __future__ import annotations

import hashlib
import math
from datetime import timedelta

from appliance.errors import AppError
from appliance.records import Assignment, Flow, FlowVersion, Rule, utcnow

GOALS = ("button", "tag", "step", "no_handoff")
MAX_VARIANTS = 10
MAX_NAME = 100
MAX_HOURS = 24 * 90
DEFAULT_HOURS = 24  # a no_handoff goal without "hours"


def experiment_key(source: str, experiment: str) -> str:
    """The key an experiment's assignments are stored under: "rule:<id>:<name>" or "flow:<id>:<name>"."""
    return f"{source}:{experiment}" if source else experiment


def actions_for(turn, action: dict) -> list[dict]:
    """The actions of the customer's variant of a rule's ab action (assigned and stored on the first real ask)."""
    key = experiment_key(turn.source, action["experiment"])
    return list(variant_for(turn, key, action["variants"], action.get("goal")).get("actions") or [])


def variant_for(turn, experiment_key: str, variants: list[dict], goal: dict | None = None) -> dict:
    """The customer's variant (a flow's ab step takes its "next"): the stored one, else the weighted pick, stored
    unless the turn is a dry run. `goal` None: the goal its rule or flow defines now."""
    customer_id = turn.customer.id
    chosen = pick(experiment_key, customer_id, variants)
    row = Assignment.get_or_none((Assignment.experiment == experiment_key) & (Assignment.customer == customer_id))
    if row is None and not turn.dry_run:  # the first ask: stored (a re-ask only reads)
        goal = goal if goal is not None else defined_goal(turn.tenant_id, experiment_key)
        row = Assignment.assign(turn.tenant_id, experiment_key, customer_id, chosen["name"], goal)
    if row is not None:
        stored = next((v for v in variants if v["name"] == row.variant), None)
        if stored is not None:
            chosen = stored
        elif not turn.dry_run:  # its variant was removed from the experiment: the customer starts again on the pick
            Assignment.restart(row.id, chosen["name"], goal if goal is not None else row.goal)
    turn.note(f"A/B {experiment_key}: variant {chosen['name']}")
    return chosen


def pick(experiment_key: str, customer_id: int, variants: list[dict]) -> dict:
    """Where (experiment, customer) falls on the weights: a hash, so every ask and every worker picks the same."""
    digest = hashlib.sha256(f"{experiment_key}\x00{customer_id}".encode()).digest()
    weights = [max(0.0, float(v.get("weight", 1))) for v in variants]
    if sum(weights) <= 0:  # refused at save; a hand-made definition still gets an answer
        return variants[0]
    point = int.from_bytes(digest[:8], "big") / 2 ** 64 * sum(weights)
    running = 0.0
    for variant, weight in zip(variants, weights):
        running += weight
        if point < running:
            return variant
    return next(v for v, w in zip(reversed(variants), reversed(weights)) if w > 0)  # float rounding at the top end


# --- goals ------------------------------------------------------------------------------------------------

def observe(customer_id: int, goal_type: str, value) -> int:
    """The customer did something that may be a goal (a button payload, a tag set, "flow:step" reached): their
    open assignments with that goal count as converted; how many did."""
    rows = Assignment.open_of(customer_id, goal_type)
    met = [row.id for row in rows if _meets(row.goal or {}, goal_type, value)]
    return Assignment.mark(met, "converted_at", utcnow())


def _meets(goal: dict, goal_type: str, value: str) -> bool:
    if goal_type == "button":
        return goal.get("payload") == value
    if goal_type == "tag":
        return goal.get("tag") == value
    if goal_type == "step":  # "<flow id>:<step id>", or {"flow", "step"}
        reached = f"{value.get('flow')}:{value.get('step')}" if isinstance(value, dict) else value
        return f"{goal.get('flow')}:{goal.get('step')}" == reached
    return False


def on_handoff(event) -> None:
    """A person took the conversation (conversation.handoff / .assigned): the customer's no_handoff goals reached
    within their hours are lost."""
    customer_id = (event.data.get("customer") or {}).get("id")
    if customer_id is None:
        return
    now = utcnow()
    lost = [row.id for row in Assignment.open_of(customer_id, "no_handoff")
            if now - row.reached_at < timedelta(hours=_hours(row.goal))]
    Assignment.mark(lost, "lost_at", now)


def _hours(goal: dict | None) -> float:
    return float((goal or {}).get("hours") or DEFAULT_HOURS)


# --- results ------------------------------------------------------------------------------------------------

def two_proportion(converted_a: int, reached_a: int, converted_b: int, reached_b: int) -> tuple[float | None, float | None]:
    """(z, two-sided p) of B's rate against A's with the pooled two-proportion z-test; (None, None) when undefined
    (a side with nobody, or every customer on both sides converted or none did)."""
    if reached_a == 0 or reached_b == 0:
        return None, None
    pooled = (converted_a + converted_b) / (reached_a + reached_b)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / reached_a + 1 / reached_b))
    if spread == 0:
        return None, None
    z = (converted_b / reached_b - converted_a / reached_a) / spread
    return z, math.erfc(abs(z) / math.sqrt(2))


def results(tenant_id: str) -> list[dict]:
    """Per experiment of the tenant (defined in a rule or flow, or with assignments): per variant reached, converted,
    rate, and z/p against the first variant; the experiment's z/p is its comparison with the smallest p."""
    defined = definitions(tenant_id)
    counted: dict[str, dict[str, tuple]] = {}
    for key, variant, reached, converted, waiting in Assignment.tallies(tenant_id, utcnow()):
        counted.setdefault(key, {})[variant] = (int(reached or 0), int(converted or 0), int(waiting or 0))
    out = []
    for key in list(defined) + sorted(k for k in counted if k not in defined):
        definition = defined.get(key, {"goal": None, "weights": {}})
        tallies = counted.get(key, {})
        names = list(definition["weights"]) + sorted(n for n in tallies if n not in definition["weights"])
        out.append(_experiment(key, definition, names, tallies))
    return out


def _experiment(key: str, definition: dict, names: list[str], tallies: dict[str, tuple]) -> dict:
    parts = key.split(":", 2)
    source, name = (":".join(parts[:2]), parts[2]) if len(parts) == 3 and parts[0] in ("rule", "flow") else ("", key)
    variants = []
    for variant in names:
        reached, converted, waiting = tallies.get(variant, (0, 0, 0))
        variants.append({"name": variant, "weight": definition["weights"].get(variant), "reached": reached,
                         "converted": converted, "rate": round(converted / reached, 4) if reached else None,
                         "waiting": waiting, "z": None, "p": None})
    best = {"z": None, "p": None, "compared": None}
    for variant in variants[1:]:
        z, p = two_proportion(variants[0]["converted"], variants[0]["reached"], variant["converted"],
                              variant["reached"])
        variant["z"], variant["p"] = (round(z, 4), round(p, 6)) if z is not None else (None, None)
        if p is not None and (best["p"] is None or p < best["p"]):
            best = {"z": variant["z"], "p": variant["p"], "compared": variant["name"]}
    return {"experiment": key, "source": source, "name": name, "goal": definition["goal"],
            "defined": bool(definition["weights"]), "variants": variants, **best}


def definitions(tenant_id: str, source: str | None = None) -> dict[str, dict]:
    """Every ab action of the tenant's rules and ab step of its flows' current versions (or of one source, "rule:<id>"
    or "flow:<id>"): key -> goal and weights."""
    found: dict[str, dict] = {}
    kind, _, source_id = (source or "").partition(":")
    if kind in ("", "rule"):
        rules = Rule.select(Rule.id, Rule.actions).where(Rule.tenant == tenant_id).order_by(Rule.created_at)
        for rule in rules.where(Rule.id == source_id) if source_id else rules:
            _collect(found, f"rule:{rule.id}", rule.actions or [])
    if kind in ("", "flow"):
        current = (FlowVersion.select(FlowVersion.definition, Flow.id).join(Flow)
                   .where((Flow.tenant == tenant_id) & (FlowVersion.version == Flow.version)).order_by(Flow.created_at))
        for version in current.where(Flow.id == source_id) if source_id else current:
            _collect(found, f"flow:{version.flow.id}", (version.definition or {}).get("steps") or [])
    return found


def defined_goal(tenant_id: str, experiment_key: str) -> dict | None:
    """The goal the experiment's rule or flow defines now (None: none, or not found)."""
    parts = experiment_key.split(":", 2)
    if len(parts) != 3 or parts[0] not in ("rule", "flow"):
        return None
    return definitions(tenant_id, f"{parts[0]}:{parts[1]}").get(experiment_key, {}).get("goal")


def _collect(found: dict, source: str, items: list) -> None:
    """The ab actions (or steps) among `items`."""
    for item in items:
        if not isinstance(item, dict) or item.get("type") != "ab" or not isinstance(item.get("variants"), list):
            continue
        variants = [v for v in item["variants"] if isinstance(v, dict) and isinstance(v.get("name"), str)]
        found[experiment_key(source, str(item.get("experiment")))] = {
            "goal": item.get("goal"), "weights": {v["name"]: v.get("weight", 1) for v in variants}}


# --- validation at save (flow steps; rules.check_action checks a rule's ab action) ------------------------

def check_goal(goal) -> dict | None:
    """A goal ready to store (None: no goal, reached only), else AppError 422 naming the field."""
    if goal is None:
        return None
    if not isinstance(goal, dict) or goal.get("type") not in GOALS:
        raise _invalid("goal", f"'goal' must be an object whose 'type' is one of {', '.join(GOALS)}.")
    kind = goal["type"]
    if kind == "button":
        return {"type": kind, "payload": _name(goal.get("payload"), "goal.payload")}
    if kind == "tag":
        return {"type": kind, "tag": _name(goal.get("tag"), "goal.tag")}
    if kind == "step":
        return {"type": kind, "flow": _name(goal.get("flow"), "goal.flow"), "step": _name(goal.get("step"), "goal.step")}
    hours = goal.get("hours", DEFAULT_HOURS)
    if isinstance(hours, bool) or not isinstance(hours, (int, float)) or not 0 < hours <= MAX_HOURS:
        raise _invalid("goal", f"'goal.hours' must be a number of hours above 0 and at most {MAX_HOURS}.")
    return {"type": kind, "hours": hours}


def check_variants(variants, where: str = "variants") -> list[dict]:
    """Variants ready to store (names unique, weights numbers >= 0, some weight above 0; their other keys as given:
    the caller checks "actions" or "next"), else AppError 422 naming the variant."""
    if not isinstance(variants, list) or not 2 <= len(variants) <= MAX_VARIANTS:
        raise _invalid("variants", f"'{where}' must be a list of 2 to {MAX_VARIANTS} variants.")
    out, names = [], set()
    for n, variant in enumerate(variants, 1):
        if not isinstance(variant, dict):
            raise _invalid("variants", f"Variant {n} of '{where}' must be an object with 'name' and 'weight'.")
        name = _name(variant.get("name"), f"{where}[{n}].name")
        if name in names:
            raise _invalid("variants", f"Two variants of '{where}' are called '{name}'; give each its own name.")
        weight = variant.get("weight", 1)
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 <= weight <= 1e6 \
                or weight != weight:
            raise _invalid("variants", f"The weight of variant '{name}' must be a number from 0 to 1000000.")
        names.add(name)
        out.append({**variant, "name": name, "weight": weight})
    if not any(v["weight"] > 0 for v in out):
        raise _invalid("variants", f"At least one variant of '{where}' needs a weight above 0.")
    return out


def _name(value, field: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > MAX_NAME:
        raise _invalid(field.split(".")[0].split("[")[0], f"'{field}' must be a non-empty text of at most "
                                                          f"{MAX_NAME} characters.")
    return value.strip()


def _invalid(field: str, message: str) -> AppError:
    return AppError(422, f"invalid_{field}", message)
