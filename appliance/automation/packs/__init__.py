"""Starter packs: ready-made rules and flows for a shop, a spa and a restaurant, in Vietnamese and English, installed
with one call and edited afterwards like any rule or flow the owner made.

A pack is a JSON file next to this one: {"name", "title" and "description" ({"vi", "en"}), "values", "flows",
"rules"}. Flows and rules have the shapes of appliance/automation/__init__.py plus a "key" naming them in the pack.
"values" are the shop's own words ("[[hours_vi]]" in a text) with a default that answers sensibly as installed and
a help line; installing fills them in (the owner's values, else the defaults; "shop" defaults to the tenant's
name), and a line whose value is empty is left out ("Address: [[address]]" when no address was given).

Each language has its own rules and flows: a Vietnamese keyword gets the Vietnamese reply, an English one the
English reply, and an owner editing a rule sees one language in it, no conditions to read.

Installing validates every rule and flow as the API does (rules.create, flows.create) and marks each row with
"<pack>:<key>" (the `pack` column, unique per tenant): installing again creates only what is missing. A rule or flow
the owner edited is kept as edited; one the owner deleted comes back."""
from __future__ import annotations

import json
import logging
import re
from functools import lru_cache
from pathlib import Path

from appliance.db import database
from appliance.errors import AppError
from appliance.records import Flow, Rule

log = logging.getLogger(__name__)

FOLDER = Path(__file__).resolve().parent  # the JSON files ship as package data (build.spec)
NAMES = tuple(sorted(path.stem for path in FOLDER.glob("*.json")))
LANGUAGES = ("vi", "en")
MAX_VALUE = 1000  # characters of one value (a price list fits)
_VALUE = re.compile(r"\[\[(\w+)\]\]")


@lru_cache(maxsize=None)
def _read(name: str) -> str:
    return (FOLDER / f"{name}.json").read_text(encoding="utf-8")


def load(name: str) -> dict:
    """The pack's JSON (a fresh copy), or a 404 naming the packs there are."""
    if name not in NAMES:
        raise AppError(404, "unknown_pack",
                       f"There is no starter pack named '{name[:40]}'; choose one of: {', '.join(NAMES)}.")
    return json.loads(_read(name))


def available(language: str = "en") -> list[dict]:
    """Every pack: name, title and description in `language`, and the values an owner may give at install."""
    language = language if language in LANGUAGES else "en"
    out = []
    for name in NAMES:
        pack = load(name)
        values = [{"name": key, "default": spec["default"], "help": spec["help"][language]}
                  for key, spec in pack["values"].items()]
        out.append({"name": name, "title": pack["title"][language], "description": pack["description"][language],
                    "values": values, "rules": len(pack["rules"]), "flows": len(pack["flows"])})
    return out


def install(tenant, pack_name: str, services=None, values: dict | None = None) -> dict:
    """Create the pack's flows (active) and rules for the tenant, those it does not have yet; the ids created and
    those kept: {"pack", "rules", "flows", "kept": {"rules", "flows"}}. (`services`: the interface's; unused today.)"""
    from appliance.automation import flows, rules

    pack = load(pack_name)
    filled = fill(pack, chosen_values(pack, tenant, values))
    created, kept = {"rules": [], "flows": []}, {"rules": [], "flows": []}
    makers = (("flows", Flow, lambda body: flows.create(tenant.id, body, active=True)),  # first: rules may start them
              ("rules", Rule, lambda body: rules.create(tenant.id, body)))
    with database.atomic("IMMEDIATE"):  # one installer at a time: two clicks never make two sets
        for kind, model, make in makers:
            have = model.of_pack(tenant.id, pack_name)
            for item in filled[kind]:
                marker = f"{pack_name}:{item.pop('key')}"
                if marker in have:
                    kept[kind].append(have[marker])
                    continue
                row = make(item)
                model.mark_pack(row.id, marker)
                created[kind].append(row.id)
    rules.changed(tenant.id)  # after the commit: a worker that compiled the rules meanwhile saw none of these
    log.info("starter pack %s installed for %s: %d rules and %d flows created, %d kept", pack_name, tenant.id,
             len(created["rules"]), len(created["flows"]), len(kept["rules"]) + len(kept["flows"]))
    return {"pack": pack_name, **created, "kept": kept}


def chosen_values(pack: dict, tenant, given: dict | None) -> dict[str, str]:
    """The pack's values: the owner's where given (checked), else the defaults; "shop" defaults to the tenant's name."""
    if given is None:
        given = {}
    if not isinstance(given, dict):
        raise AppError(422, "invalid_values",
                       "Give 'values' as an object of texts, e.g. {\"hours_vi\": \"8:00 – 21:00\"}.")
    unknown = sorted(set(given) - set(pack["values"]))
    if unknown:
        raise AppError(422, "unknown_value", f"The {pack['name']} pack has no value '{unknown[0][:40]}'; it has: "
                                             f"{', '.join(pack['values'])}.")
    chosen = {}
    for key, spec in pack["values"].items():
        value = given.get(key, spec["default"])
        if not isinstance(value, str):
            raise AppError(422, "invalid_values", f"Give the value '{key}' as a text.")
        if len(value) > MAX_VALUE:
            raise AppError(413, "value_too_long", f"The value '{key}' can be at most {MAX_VALUE} characters.")
        chosen[key] = value.strip()  # may span lines (a price list): lines are left out before values go in
    if not chosen.get("shop"):
        chosen["shop"] = tenant.name
    return chosen


def fill(item, values: dict[str, str]):
    """The item (a pack, a rule, a text...) with every [[name]] replaced by its value; a line of a text whose value
    is empty is left out."""
    if isinstance(item, dict):
        return {key: fill(value, values) for key, value in item.items()}
    if isinstance(item, list):
        return [fill(value, values) for value in item]
    if not isinstance(item, str) or "[[" not in item:
        return item
    lines = [line for line in item.split("\n") if all(values[name] for name in _VALUE.findall(line))]
    return _VALUE.sub(lambda m: values[m.group(1)], "\n".join(lines))
