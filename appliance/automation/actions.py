"""What a rule or a flow step does, gathered into a `Turn`: messages to send in order, a hand-off, a flow to start,
or "let the assistant answer". Customer changes (tags, fields) are written at once unless the turn is a dry run
(POST /automation/test says what would happen and changes nothing)."""
from __future__ import annotations

from dataclasses import dataclass, field

from appliance.automation import ab
from appliance.channels import Outbound
from appliance.db import database
from appliance.records import Customer

ACTIONS = ("reply", "template", "tag", "untag", "set_field", "handoff", "start_flow", "webhook", "assistant", "ab")


@dataclass
class Turn:
    """The automation's answer to one message, built action by action."""

    services: object
    tenant_id: str
    customer: Customer
    dry_run: bool = False
    outbounds: list[Outbound] = field(default_factory=list)
    handoff: str | None = None  # the reason, when the conversation goes to a person
    start_flow: str | None = None  # a flow id to start after this turn
    assistant: bool = False  # the assistant answers this message (after any reply here)
    why: list[str] = field(default_factory=list)  # what matched and what was done, for /automation/test
    source: str = ""  # "rule:<id>" or "flow:<id>": recorded on the reply (path "automation")
    conversation_id: int | None = None  # the conversation answered (a webhook call names it)
    text: str = ""  # the customer's message this turn answers, if any (a webhook call carries it)

    def note(self, text: str) -> None:
        self.why.append(text)


def apply(turn: Turn, action: dict) -> None:
    """Do one action (validated at save: see rules.check_action)."""
    kind = action["type"]
    turn.note(kind)
    if kind == "reply":
        buttons = list(action.get("buttons") or []) + list(action.get("quick_replies") or [])
        turn.outbounds.append(Outbound(to="", text=action["text"], buttons=buttons))
    elif kind == "template":
        template = {"name": action["name"], "language": action.get("language") or "en_US",
                    "params": list(action.get("params") or [])}
        turn.outbounds.append(Outbound(to="", text=action.get("text", ""), template=template))
    elif kind in ("tag", "untag"):
        change_tags(turn, add=[action["tag"]] if kind == "tag" else [], remove=[action["tag"]] if kind == "untag" else [])
    elif kind == "set_field":
        set_field(turn, action["field"], action.get("value"))
    elif kind == "handoff":
        turn.handoff = action.get("reason") or "automation"
    elif kind == "start_flow":
        turn.start_flow = action["flow"]
    elif kind == "assistant":
        turn.assistant = True
    elif kind == "webhook":
        if not turn.dry_run:
            from appliance.automation import hooks

            hooks.call(turn.services, turn.tenant_id, action, turn)
    elif kind == "ab":
        from appliance.automation import ab

        for inner in ab.actions_for(turn, action):
            apply(turn, inner)
    else:
        raise ValueError(f"unknown action {kind!r}")


def change_tags(turn: Turn, add: list[str] = (), remove: list[str] = ()) -> None:
    """Add and remove customer tags (in one transaction with a fresh read: two turns never lose each other's)."""
    if turn.dry_run:
        return
    with database.atomic("IMMEDIATE"):
        customer = Customer.get_by_id(turn.customer.id)
        tags = [t for t in (customer.tags or []) if t not in remove]
        tags += [t for t in add if t not in tags]
        Customer.update(tags=tags).where(Customer.id == customer.id).execute()
    added = [t for t in tags if t not in (customer.tags or [])]
    turn.customer.tags = tags
    for tag in added:  # a tag set is an A/B goal
        ab.observe(customer.id, "tag", tag)


def set_field(turn: Turn, name: str, value) -> None:
    """Set (or with None remove) one custom field of the customer."""
    if turn.dry_run:
        return
    with database.atomic("IMMEDIATE"):
        customer = Customer.get_by_id(turn.customer.id)
        fields = dict(customer.custom_fields or {})
        if value is None:
            fields.pop(name, None)
        else:
            fields[name] = value
        Customer.update(custom_fields=fields).where(Customer.id == customer.id).execute()
    turn.customer.custom_fields = fields
