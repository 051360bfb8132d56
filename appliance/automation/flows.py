"""Flows: named, versioned lists of steps a customer walks through (shapes: appliance/automation/__init__.py).

Editing a flow makes a new version; a customer's run stays on the version it started on. A run is a row (FlowRun):
its step and status are written in one transaction with the rest of a turn, so a restart or a kill -9 continues at
the same step (and a message answered again after a crash gets the same messages). A run
waits on an ask (the next message is its answer), on a delay (`resume_at`: a huey scheduled ring, the minutely
sweep and the start-up resume it; huey only rings, the row is the ledger) or ends. An unanswered run times out
(`flow_timeout_minutes` or the flow's `timeout_minutes`) and the conversation returns to normal; "stop", "hủy",
"thoát", "cancel" leave it. All messages of one turn go out as one reply (`Response.more`)."""
from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from huey import crontab

from appliance.assistant import prompts
from appliance.automation import ab, actions, answers, conditions, flow_check, match
from appliance.automation.conditions import Facts
from appliance.automation.flow_shape import for_check, shape_problems
from appliance.channels import KINDS, Outbound
from appliance.db import database
from appliance.errors import AppError
from appliance.records import Channel, Conversation, Customer, Flow, FlowRun, FlowVersion, Message, utcnow

log = logging.getLogger(__name__)

STEP_BUDGET = flow_check.MAX_STEPS  # a turn takes at most every step once unless it loops: a loop that slipped through
# the check (an old version, a row written by hand) stops here
STOP_WORDS = {"stop": "en", "cancel": "en", "huy": "vi", "thoat": "vi"}  # folded: "hủy", "thoát" too
# words a stop word may come with and still mean "leave": "thôi hủy đi", "hủy đơn nhé", "cancel my booking please"
_STOP_COMPANY = set("thoi di nhe nha a oi shop ban em minh toi luon don lich dat ve cai nay it my the this order "
                    "booking please pls now".split())
STOPPED = {"vi": "Đã dừng. Bạn cần gì cứ nhắn cho shop nhé.", "en": "Stopped. Write to us any time you need something."}
EXPORT_FORMAT = "appliance-flow-1"
CRASH_GRACE = timedelta(minutes=2)  # a run "running" this long was left by a crash mid-turn


class FlowInvalid(AppError):
    """A flow that may not be saved; `problems` name the steps ([{"step", "message"}])."""

    def __init__(self, problems: list[dict]):
        first = problems[0]
        named = first.get("step") and not first["message"].startswith("Step ")  # flow_check's sentences name it
        where = f"Step '{first['step']}': " if named else ""
        super().__init__(422, "invalid_flow", where + first["message"])
        self.problems = problems


# --- saving: check, create, edit, activate, import and export ---------------------------------------------------

def check_flow(body, kinds: list[str] | None = None, services=None) -> dict:
    """The normalized flow {"name", "triggers", "start", "steps", "timeout_minutes"?}, or FlowInvalid with every
    problem naming its step (flow_check.problems, then the rules' own checks). `kinds`: the channel kinds it is
    triggered on (their button and text limits apply); None: every kind. `services`: for webhook steps (their URL
    checked, their secret sealed); default: the running app's."""
    if not isinstance(body, dict):
        raise FlowInvalid([{"step": None, "message": "Send the flow as a JSON object with 'name', 'start' and "
                                                     "'steps'."}])
    problems = flow_check.problems(for_check(body), list(KINDS) if kinds is None else kinds)
    flow = None
    if not problems:
        flow, problems = shape_problems(body, services)
    if problems:
        raise FlowInvalid(problems)
    return flow


def kinds_of(tenant_id: str) -> list[str]:
    """The kinds of the tenant's connected channels (a flow's button limits are theirs)."""
    return sorted({channel.kind for channel in Channel.live_of(tenant_id)})


def create(tenant_id: str, body, active: bool = False, services=None) -> Flow:
    """A new flow (version 1) from a checked body; inactive unless asked."""
    flow = check_flow(body, kinds_of(tenant_id), services)
    with database.atomic("IMMEDIATE"):
        row = Flow.create(tenant=tenant_id, name=flow["name"], active=active)
        FlowVersion.create(flow=row, version=1, definition=_definition(flow))
    return row


def update(tenant_id: str, flow_id: str, body, services=None) -> Flow:
    """Save an edit as a new version (new runs start on it; running customers finish on theirs)."""
    flow = check_flow(body, kinds_of(tenant_id), services)
    with database.atomic("IMMEDIATE"):
        row = Flow.get_for_tenant(tenant_id, flow_id, "flow")
        if FlowVersion.definition_of(row.id, row.version) != _definition(flow) or row.name != flow["name"]:
            row.version += 1
            FlowVersion.create(flow=row, version=row.version, definition=_definition(flow))
        Flow.update(name=flow["name"], version=row.version, updated_at=utcnow()).where(Flow.id == row.id).execute()
    return Flow.get_by_id(row.id)


def _definition(flow: dict) -> dict:
    return {k: v for k, v in flow.items() if k != "name"}


def activate(tenant_id: str, flow_id: str, active: bool = True) -> Flow:
    """Switch a flow on (its triggers start runs) or off (no new runs; running customers finish)."""
    row = Flow.get_for_tenant(tenant_id, flow_id, "flow")
    Flow.update(active=active, updated_at=utcnow()).where(Flow.id == row.id).execute()
    return Flow.get_by_id(row.id)


def deactivate(tenant_id: str, flow_id: str) -> Flow:
    """Switch a flow off."""
    return activate(tenant_id, flow_id, False)


def delete(tenant_id: str, flow_id: str) -> None:
    """Remove a flow, its versions and its runs."""
    Flow.get_for_tenant(tenant_id, flow_id, "flow").delete_instance(recursive=True)


def export(tenant_id: str, flow_id: str) -> dict:
    """The flow's current version as a JSON document `import_flow` takes (here or on another appliance); a webhook
    step's sealed secret stays here (the importer gives the secret again)."""
    row = Flow.get_for_tenant(tenant_id, flow_id, "flow")
    definition = FlowVersion.definition_of(row.id, row.version)
    steps = [{k: v for k, v in step.items() if k != "secret_sealed"} for step in definition["steps"]]
    return {"format": EXPORT_FORMAT, "flow": {"name": row.name, **definition, "steps": steps}}


def import_flow(tenant_id: str, document, services=None) -> Flow:
    """A new, inactive flow from an exported document."""
    if not isinstance(document, dict) or document.get("format") != EXPORT_FORMAT or "flow" not in document:
        raise FlowInvalid([{"step": None, "message": f"Send an exported flow: {{\"format\": \"{EXPORT_FORMAT}\", "
                                                     "\"flow\": {...}} (GET /flows/<id>/export gives one)."}])
    return create(tenant_id, document["flow"], services=services)


def flow_json(row: Flow, figures: dict | None = None, detail: bool = False) -> dict:
    """The API shape of a flow; `detail` adds the current definition and the list of versions."""
    figures = figures or {}
    data = {"id": row.id, "name": row.name, "active": row.active, "version": row.version,
            "runs": figures.get("runs", 0), "running": figures.get("active", 0),
            "created_at": row.created_at.isoformat() + "Z", "updated_at": row.updated_at.isoformat() + "Z"}
    if detail:
        data["definition"] = FlowVersion.definition_of(row.id, row.version)
        data["versions"] = FlowVersion.listing(row.id)
    return data


# --- running: one turn of a run ----------------------------------------------------------------------------------

@functools.lru_cache(maxsize=2048)
def _version(flow_id: str, version: int) -> dict | None:
    """A version's definition, read once: a version never changes after it is written (callers do not mutate it)."""
    return FlowVersion.definition_of(flow_id, version)


@dataclass
class _Walk:
    """What the steps of one turn look at: the run (a row, or a draft in a dry run), its definition, the channel;
    `answering`: a customer's message is being answered (an assistant step answers it, at `assistant_at` among the
    turn's messages)."""

    turn: actions.Turn
    run: FlowRun
    definition: dict
    channel_kind: str
    timezone: str
    answering: bool = True
    assistant_at: int | None = None
    deferred: dict | None = None  # outside a message: where the run stopped, written once its messages are stored

    @property
    def steps(self) -> dict:
        return {step["id"]: step for step in self.definition["steps"]}


def _walk(turn: actions.Turn, run: FlowRun, definition: dict, channel_kind: str, answering: bool = True) -> _Walk:
    return _Walk(turn, run, definition, channel_kind, _setting(turn.services, "timezone", "UTC"), answering)


def _setting(services, name: str, default):
    """A setting of the running appliance (a dry run without one, as in a test box call: the default)."""
    return services.settings.get(name, default) if services is not None else default


def _save(walk: _Walk, step: str, status: str, **changes) -> None:
    """Write where the run stopped (in a dry run only on the draft)."""
    run = walk.run
    run.step, run.status = step, status
    for name, value in changes.items():
        setattr(run, name, value)
    if walk.turn.dry_run:
        return
    if status not in FlowRun.ACTIVE:
        changes.setdefault("ended_at", utcnow())
    if walk.deferred is not None:
        walk.deferred.update(step=step, status=status, **changes)
        return
    FlowRun.move(run.id, FlowRun.ACTIVE, step=step, status=status, **changes)


def _execute(walk: _Walk, step_id: str | None) -> None:
    """Take steps from `step_id` until the run waits on an ask or a delay, or ends."""
    steps = walk.steps
    for _ in range(STEP_BUDGET):
        step = steps.get(step_id) if step_id is not None else None
        if step is None:
            return _save(walk, walk.run.step, "done")
        _reached(walk, step)
        kind = step["type"]
        if kind == "ask":
            _say(walk.turn, step["text"], step.get("buttons"))
            return _save(walk, step_id, "waiting", tries=0)
        if kind == "delay":
            return _delay(walk, step)
        if kind in ("handoff", "end"):
            if kind == "handoff":
                actions.apply(walk.turn, {"type": "handoff", "reason": step.get("reason") or "flow"})
            return _save(walk, step_id, "done")
        walk.run.step = step_id
        step_id = _next(walk, step)
    log.warning("flow %s took %d steps without waiting; the run ends", walk.run.flow_id, STEP_BUDGET)
    _save(walk, walk.run.step, "failed", error=f"The flow took {STEP_BUDGET} steps without waiting for the customer.")


def _next(walk: _Walk, step: dict) -> str | None:
    """Do a step that neither waits nor ends; the id of the step after it."""
    kind, turn = step["type"], walk.turn
    if kind == "send":
        text = "\n".join(part for part in (step.get("text"), step.get("media_url")) if part)
        if step.get("template"):
            actions.apply(turn, {"type": "template", "text": text, **step["template"]})
        else:
            _say(turn, text, step.get("buttons"))
    elif kind in ("tag", "untag", "set_field"):
        actions.apply(turn, step)
    elif kind == "webhook":
        _webhook(turn, step)
    elif kind == "assistant":
        _assistant(walk)
    elif kind == "jump":
        return step["to"]
    elif kind == "condition":
        return next((b["next"] for b in step["branches"] if _holds(walk, b["if"])), step["default"])
    elif kind == "ab":
        return _variant(walk, step).get("next")
    return step.get("next")


def _assistant(walk: _Walk) -> None:
    """The assistant answers the customer's message here, after the messages so far (once per turn; outside a
    message, as after a delay, there is nothing to answer)."""
    if walk.answering and walk.assistant_at is None:
        walk.assistant_at = len(walk.turn.outbounds)
        walk.turn.assistant = True


def _say(turn: actions.Turn, text: str, buttons) -> None:
    actions.apply(turn, {"type": "reply", "text": text, "buttons": list(buttons or [])})


def _delay(walk: _Walk, step: dict) -> None:
    """Stop until the delay is over; the step after it runs then (rung by huey, swept every minute)."""
    if step.get("next") is None:
        return _save(walk, step["id"], "done")
    seconds = step["seconds"]
    _save(walk, step["next"], "delayed", resume_at=utcnow() + timedelta(seconds=seconds))
    if not walk.turn.dry_run:
        from appliance import tasks

        tasks.resume_flow.schedule(args=(walk.run.id,), delay=seconds)


def _webhook(turn: actions.Turn, step: dict) -> None:
    actions.apply(turn, {"type": "webhook", "url": step["url"], "secret_sealed": step.get("secret_sealed")})


def _holds(walk: _Walk, condition: dict) -> bool:
    """Whether a condition step's branch applies: a rule's condition (conditions.why_not), or "reply": the rules'
    field test on the last answer."""
    customer = walk.turn.customer
    if condition["type"] == "reply":
        test = {"type": "field", "field": "reply", "op": condition["op"], "value": condition.get("value")}
        return conditions.why_not([test], Facts(fields={"reply": walk.run.answer})) is None
    facts = Facts(walk.channel_kind, list(customer.tags or []), dict(customer.custom_fields or {}), walk.timezone)
    return conditions.why_not([condition], facts) is None


def _local_now(zone: str) -> datetime:
    return datetime.now(timezone.utc).astimezone(ZoneInfo(zone)).replace(tzinfo=None)


def _variant(walk: _Walk, step: dict) -> dict:
    """The customer's variant of an ab step: sticky, stored unless a dry run (ab.variant_for)."""
    return ab.variant_for(walk.turn, ab.experiment_key(f"flow:{walk.run.flow_id}", step["experiment"]),
                          step["variants"])


def _reached(walk: _Walk, step: dict) -> None:
    """Tell the A/B goals a step was reached (goal {"type": "step", "flow", "step"})."""
    if not walk.turn.dry_run:
        ab.observe(walk.turn.customer.id, "step", {"flow": walk.run.flow_id, "step": step["id"]})


def _answer(walk: _Walk, step: dict, text: str, payload: str | None) -> bool:
    """Take the customer's answer to an ask: store it and go on, re-ask, or go to the fallback; False when the run
    ended without an answer (the message then goes to the rest of the chain)."""
    kind, buttons = step.get("validate", "text"), step.get("buttons") or []
    value = answers.parse(kind, payload if payload and kind == "choice" else text, buttons)
    if value is not None:
        if step.get("field"):
            actions.set_field(walk.turn, step["field"], value)
        walk.run.answer, walk.run.tries = str(value), 0
        if not walk.turn.dry_run:
            FlowRun.update(answer=walk.run.answer, tries=0).where(FlowRun.id == walk.run.id).execute()
        _execute(walk, step.get("next"))
        # a delay next: the answer was the flow's, nobody else answers it (a flow that ended lets the chain answer)
        walk.turn.taken = walk.run.status == "delayed"
        return True
    tries = walk.run.tries + 1
    if tries <= step.get("retries", 2):
        _say(walk.turn, step.get("retry_text") or answers.retry_text(kind, prompts.language_of(step["text"])), buttons)
        _save(walk, step["id"], "waiting", tries=tries)
        return True
    if step.get("fallback"):
        walk.run.tries = 0
        _execute(walk, step["fallback"])
        return True
    _save(walk, step["id"], "failed", error="The customer gave no valid answer.")
    return False


# --- the responder: the customer's run continues, else a trigger starts one --------------------------------------

def responder(context):
    """The customer's active flow takes the message (an answer, or a stop word); else a flow whose trigger matches
    starts. None: no flow has anything to do with it.

    A turn's rows (the run's step, what it said) are written in one transaction; a crash before its reply was stored
    leaves the message pending, and answering it again gives the same messages (`_replay`), not a second step."""
    customer = context.conversation.customer
    done = FlowRun.answered(customer.id, context.message.id)
    if done is not None:
        return _replay(done, context)
    payload = (context.message.payload or {}).get("button_id")
    if payload and context.message.kind == "button":
        ab.observe(customer.id, "button", payload)  # a tap may be an A/B goal, whoever answers it
    if FlowRun.active_of(customer.id) is None and not Flow.any_active(context.tenant.id):
        return None  # most messages: no write lock taken, two indexed reads
    with database.atomic("IMMEDIATE"):
        taken = _take(context)
    if taken is None:
        return None
    turn, assistant_at = taken
    return _response(turn, context, assistant_at=assistant_at)


def _take(context) -> tuple[actions.Turn, int | None] | None:
    """This message's turn of a flow (its rows written, its messages in the turn), or None."""
    text = context.message.text or ""
    payload = (context.message.payload or {}).get("button_id")
    run = FlowRun.active_of(context.conversation.customer_id)
    if run is not None:
        language = stop_word(match.words(text))
        if language:
            _end(run, "stopped", "The customer asked to stop.")
            turn = _turn(context, run.flow_id)
            turn.outbounds.append(Outbound(to="", text=STOPPED[_stop_language(run, language)]))
            return _remember(run, context, turn, None)
        if run.status != "waiting":
            return None  # delayed, or its delay is being resumed: the chain answers meanwhile
        if not _expired(context.services, run):
            return _continue(context, run, text, payload)
        _end(run, "timed_out", "The customer did not answer in time.")
    return _triggered(context, text, payload)


def stop_word(folded: str) -> str | None:
    """The language of the stop word a folded message is ("hủy", or a stop word with a few words around it that
    change nothing: "thôi hủy đi", "cancel my booking"), else None; a longer sentence is an answer, not a stop."""
    words = folded.split()
    said = [STOP_WORDS[w] for w in words if w in STOP_WORDS]
    if not said or len(words) > 5 or any(w not in STOP_WORDS and w not in _STOP_COMPANY for w in words):
        return None
    return said[0]


def _stop_language(run: FlowRun, word_language: str) -> str:
    """The language of the stop confirmation: Vietnamese for "hủy"/"thoát"; "stop" and "cancel" are typed by
    Vietnamese customers too, so for them the language of the question the run waits on decides."""
    if word_language != "en":
        return word_language
    step = {s["id"]: s for s in _version(run.flow_id, run.version)["steps"]}.get(run.step) or {}
    return "vi" if prompts.language_of(step.get("text") or "") == "vi" else "en"


def _continue(context, run: FlowRun, text: str, payload: str | None):
    """The customer's answer to the ask their run waits on."""
    if not FlowRun.move(run.id, ("waiting",), status="running"):
        return None  # timed out or stopped meanwhile
    definition = _version(run.flow_id, run.version) or {"steps": []}
    step = {s["id"]: s for s in definition["steps"]}.get(run.step)
    if step is None or step["type"] != "ask":
        _end(run, "failed", "The step it waited on is gone.")
        return None
    turn = _turn(context, run.flow_id)
    walk = _walk(turn, run, definition, context.channel.kind)
    if not _answer(walk, step, text, payload):
        return None
    return _remember(run, context, turn, walk.assistant_at)


def _triggered(context, text: str, payload: str | None):
    """Start the first active flow whose trigger matches the message."""
    flows = Flow.current(context.tenant.id)
    if not flows:
        return None
    message = match.Message.of(text, payload)
    events: dict[str, bool] = {}
    for flow, definition in flows:
        for trigger in definition.get("triggers", ()):
            if trigger["type"] in ("keyword", "payload"):
                hit = match.why(trigger, message)
            elif trigger["type"] == "event" and trigger["event"] in ("first_message", "reopened"):
                if trigger["event"] not in events:
                    events[trigger["event"]] = _message_event(context, trigger["event"])
                hit = f"event {trigger['event']}" if events[trigger["event"]] else None
            else:
                hit = None
            if hit:
                turn = _turn(context, flow.id)
                turn.note(f"flow '{flow.name}': {hit}")
                walk = _begin(turn, flow, definition, context.conversation, context.channel.kind)
                return _remember(walk.run, context, turn, walk.assistant_at)
    return None


def _remember(run: FlowRun, context, turn: actions.Turn, assistant_at: int | None):
    """Note on the run which message this turn answered and what it said (in the turn's transaction)."""
    said = {"replies": [{"text": o.text, "buttons": o.buttons, "template": o.template} for o in turn.outbounds],
            "handoff": turn.handoff, "assistant": turn.assistant, "assistant_at": assistant_at, "taken": turn.taken}
    FlowRun.update(turn_message=context.message.id, turn_said=said).where(FlowRun.id == run.id).execute()
    return turn, assistant_at


def _replay(run: FlowRun, context):
    """The reply of a turn whose rows were written before a crash and whose reply was not stored."""
    said = run.turn_said or {}
    turn = _turn(context, run.flow_id)
    turn.outbounds = [Outbound(to="", text=r["text"], buttons=r.get("buttons") or [], template=r.get("template"))
                      for r in said.get("replies", ())]
    turn.handoff, turn.assistant = said.get("handoff"), bool(said.get("assistant"))
    turn.taken = bool(said.get("taken"))
    log.info("flow run %d: message %d is answered again as before", run.id, context.message.id)
    return _response(turn, context, assistant_at=said.get("assistant_at"))


def _message_event(context, event: str) -> bool:
    """Whether the message is the customer's first ever ("first_message"), or the first of a conversation after a
    closed one ("reopened")."""
    conversation = context.conversation
    if event == "first_message":
        return (Message.select().join(Conversation).where((Conversation.customer == conversation.customer_id)
                                                          & (Message.direction == "in")).count()) == 1
    earlier = Message.select().where((Message.conversation == conversation.id) & (Message.direction == "in")
                                     & (Message.id < context.message.id))
    return not earlier.exists() and Conversation.closed_before(conversation.customer_id, conversation.id)


def start(turn: actions.Turn, flow_id: str, context) -> str | None:
    """A rule's start_flow action: start the tenant's active flow for the turn's customer (a run of theirs in
    progress is stopped) and add its first messages to the turn; the run's status (None: no such flow)."""
    flow = Flow.get_or_none((Flow.id == flow_id) & (Flow.tenant == turn.tenant_id)
                            & (Flow.active == True))  # noqa: E712
    if flow is None:
        turn.note(f"flow {flow_id} is not an active flow of this shop")
        return None
    if not turn.dry_run:
        old = FlowRun.active_of(turn.customer.id)
        if old is not None:
            _end(old, "stopped", "Another flow started.")
    walk = _begin(turn, flow, _version(flow.id, flow.version), context.conversation, context.channel.kind)
    if not turn.dry_run:
        _remember(walk.run, context, turn, walk.assistant_at)  # the rule's turn so far and the flow's first steps
    return walk.run.status


def _begin(turn: actions.Turn, flow: Flow, definition: dict, conversation: Conversation, kind: str,
           answering: bool = True) -> _Walk:
    """A new run of the flow's current version, taken as far as it goes in this turn."""
    values = dict(tenant=flow.tenant_id, customer=turn.customer.id, conversation=conversation.id, flow=flow.id,
                  version=flow.version, step=definition["start"], status="running")
    run = FlowRun(**values) if turn.dry_run else FlowRun.create(**values)
    turn.source = turn.source or f"flow:{flow.id}"
    walk = _walk(turn, run, definition, kind, answering)
    walk.deferred = None if answering else {}
    _execute(walk, definition["start"])
    return walk


def _turn(context, flow_id: str) -> actions.Turn:
    return actions.Turn(context.services, context.tenant.id, context.conversation.customer, source=f"flow:{flow_id}",
                        conversation_id=context.conversation.id, text=context.message.text or "")


def _response(turn: actions.Turn, context, outbounds: list[Outbound] | None = None, assistant_at: int | None = None):
    """The turn as one reply: its first message, the others in `more`, the assistant's answer where its step was.
    None when the flow said and did nothing this turn (a tag, then a delay): the rest of the chain answers; but an
    answer the flow took before a delay is answered by nobody (action "done"), or the assistant would answer "1"."""
    from appliance.responders import Response, assistant_responder

    outs = list(turn.outbounds if outbounds is None else outbounds)
    meta, action, reason = {"sender": "automation", "path": "automation"}, None, ""
    if turn.assistant and not turn.handoff:
        answer = assistant_responder(context)
        if answer is not None and answer.outbound() is not None:
            outs.insert(len(outs) if assistant_at is None else assistant_at, answer.outbound())
            meta = {**answer.meta, "sender": "automation"} if len(outs) > 1 else answer.meta
        if answer is not None:
            action, reason = answer.action, answer.reason
    if turn.handoff:
        action, reason = "handoff", turn.handoff
    if not outs and action is None:
        return Response(action="done", reason="the flow took the answer") if turn.taken else None
    first = outs[0] if outs else Outbound(to="")
    return Response(first.text, action, reason, buttons=list(first.buttons), meta=meta, more=tuple(outs[1:]),
                    template=first.template)


def on_handoff(event) -> None:
    """A person took the conversation (conversation.handoff / .assigned): the question the customer's flow waits on
    is ended, so their next message to the bot, after staff resume it, is not taken as its answer (a delay goes on)."""
    customer_id = (event.data.get("customer") or {}).get("id")
    run = FlowRun.active_of(customer_id) if customer_id is not None else None
    if run is not None and run.status == "waiting":
        _end(run, "stopped", "A person took over the conversation.")


def _end(run: FlowRun, status: str, why: str) -> None:
    if FlowRun.move(run.id, FlowRun.ACTIVE, status=status, error=why, ended_at=utcnow()):
        log.info("flow run %d of %s: %s", run.id, run.flow_id, status)


def _timeout(services, definition: dict | None) -> timedelta:
    minutes = (definition or {}).get("timeout_minutes") or _setting(services, "flow_timeout_minutes", 60)
    return timedelta(minutes=minutes)


def _expired(services, run: FlowRun) -> bool:
    if run.status != "waiting":
        return False
    return utcnow() - run.updated_at > _timeout(services, _version(run.flow_id, run.version))


# --- the test box: what a flow would do with a message (a dry run) ----------------------------------------------

def explain(tenant, message: match.Message, facts: Facts, customer: Customer | None = None) -> dict | None:
    """What the flows would answer (rules.explain asks them first), changing nothing: {"answered_by": "flow",
    "flow": {"id", "name"}, "why", "replies"}, or None when no flow takes the message."""
    person = customer or Customer(tenant=tenant.id, tags=[], custom_fields={})
    turn = actions.Turn(None, tenant.id, person, dry_run=True, text=message.text)
    run = FlowRun.active_of(customer.id) if customer is not None else None
    if run is not None and run.status == "waiting" and not _expired(None, run):
        flow = Flow.get_by_id(run.flow_id)
        language = stop_word(message.folded)
        if language:
            turn.outbounds.append(Outbound(to="", text=STOPPED[_stop_language(run, language)]))
            return _explained(flow, turn, f"'{message.text}' leaves flow '{flow.name}'")
        definition = _version(run.flow_id, run.version)
        step = {s["id"]: s for s in definition["steps"]}.get(run.step)
        walk = _Walk(turn, run, definition, facts.channel_kind or "", facts.zone)
        if step is None or step["type"] != "ask" or not _answer(walk, step, message.text, message.payload):
            return None
        return _explained(flow, turn, f"the customer is in flow '{flow.name}', which waits on step '{step['id']}'")
    return _explain_trigger(turn, tenant.id, message, facts, first=customer is None)


def _explain_trigger(turn: actions.Turn, tenant_id: str, message: match.Message, facts: Facts,
                     first: bool) -> dict | None:
    """The flow whose trigger the message matches, run as far as it goes (a draft run, nothing stored)."""
    for flow, definition in Flow.current(tenant_id):
        for trigger in definition.get("triggers", ()):
            if trigger["type"] in ("keyword", "payload"):
                hit = match.why(trigger, message)
            else:
                hit = "event first_message" if first and trigger.get("event") == "first_message" else None
            if hit:
                run = FlowRun(tenant=tenant_id, flow=flow.id, version=flow.version, step=definition["start"],
                              status="running")
                _execute(_Walk(turn, run, definition, facts.channel_kind or "", facts.zone), definition["start"])
                return _explained(flow, turn, f"flow '{flow.name}' starts: {hit}")
    return None


def _explained(flow: Flow, turn: actions.Turn, why: str) -> dict:
    replies = [{"text": o.text, **({"buttons": o.buttons} if o.buttons else {})} for o in turn.outbounds]
    return {"answered_by": "flow", "flow": {"id": flow.id, "name": flow.name}, "why": [why] + turn.why,
            "replies": replies, **({"handoff": turn.handoff} if turn.handoff else {})}


# --- outside a message: delays, time-outs, schedules, crash recovery (tasks.py rings these) -------------------

def resume(services, run_id: int) -> bool:
    """A delayed run whose delay is over takes its next steps and sends their messages; whether it did."""
    run = FlowRun.get_or_none(FlowRun.id == run_id)
    if run is None or run.status != "delayed" or run.resume_at > utcnow() + timedelta(seconds=1):
        return False
    if not FlowRun.move(run.id, ("delayed",), status="running"):
        return False  # another worker took it
    conversation = Conversation.get_by_id(run.conversation_id)
    if conversation.status != "open":
        _end(run, "stopped", "A person has the conversation.")
        return False
    turn = actions.Turn(services, run.tenant_id, conversation.customer, source=f"flow:{run.flow_id}",
                        conversation_id=conversation.id)
    walk = _walk(turn, run, _version(run.flow_id, run.version), conversation.channel.kind,
                 answering=False)
    walk.deferred = {}
    _execute(walk, run.step)
    _deliver(services, conversation, walk)
    return True


def _deliver(services, conversation: Conversation, walk: _Walk) -> None:
    """Send what a turn outside a message said (a resumed delay, a schedule), do its hand-off, then write where the
    run stopped: a crash before that leaves it "running" at the step it began with, and `recover` takes that step
    again (a message may go twice, none is lost)."""
    from appliance import conversations

    turn = walk.turn
    outs = turn.outbounds
    try:
        if outs:
            conversations.reply(services, conversation, outs[0], "automation", inline=True, more=tuple(outs[1:]),
                                path="automation")
        if turn.handoff:
            conversations.handoff(services, conversation, reason=turn.handoff)
    except AppError as exc:  # the window closed or the channel went: the flow cannot reach the customer
        log.info("a flow's messages to conversation %d were not sent: %s", conversation.id, exc.code)
        walk.deferred.update(status="failed", error=f"Its messages could not be sent: {exc.message}",
                             ended_at=utcnow())
    FlowRun.move(walk.run.id, ("running",), **walk.deferred)


def resume_due(services) -> int:
    """Resume every delayed run whose delay is over (the minutely sweep and the start-up); how many."""
    return sum(resume(services, run_id) for run_id in FlowRun.due(utcnow()))


def recover(services, grace: timedelta = CRASH_GRACE) -> int:
    """Runs a crash left "running" outside a message (a resumed delay, a scheduled start: for longer than `grace`;
    at start-up all) are due again at the step their row names. (A turn answering a message is one transaction:
    it never leaves a run "running".) How many."""
    return sum(FlowRun.move(run.id, ("running",), status="delayed", resume_at=utcnow())
               for run in FlowRun.idle(("running",), utcnow() - grace))


def time_out(services) -> int:
    """End runs left unanswered longer than their time-out; the conversation answers normally again. How many."""
    ended = 0
    for run in FlowRun.idle(("waiting",), utcnow() - timedelta(seconds=30)):
        if _expired(services, run):
            _end(run, "timed_out", "The customer did not answer in time.")
            ended += 1
    return ended


def run_schedules(services, now: datetime | None = None) -> int:
    """Start flows whose schedule trigger is due this minute (in the `timezone` setting) for the customers with the
    trigger's tag; the flow row keeps the minute, so a restart or a second worker never repeats it. How many runs."""
    local = now or _local_now(_setting(services, "timezone", "UTC"))
    minute = local.strftime("%Y-%m-%dT%H:%M")
    started = 0
    for flow, definition in Flow.current():
        due = [t for t in definition.get("triggers", ()) if t["type"] == "schedule" and _cron(t["cron"])(local)]
        if not due or flow.schedule_mark == minute or not Flow.mark_schedule(flow.id, flow.schedule_mark, minute):
            continue
        for tag in dict.fromkeys(t["tag"] for t in due):
            started += sum(_scheduled(services, flow, definition, c) for c in Customer.tagged(flow.tenant_id, tag))
    return started


def on_event(services, event, kind: str, customer: Customer) -> bool:
    """A platform event (follow, opt_in) starts the first active flow with that event trigger for the customer (not
    already in a flow), in their conversation; whether one started (the event's rules then stay silent)."""
    from appliance import conversations

    if kind == "unfollow" or FlowRun.active_of(customer.id) is not None:
        return False  # nobody to talk to after an unfollow
    for flow, definition in Flow.current(event.tenant_id):
        if any(t["type"] == "event" and t["event"] == kind for t in definition.get("triggers", ())):
            conversation = conversations.open_conversation(services, event.tenant_id, event.channel, customer)
            if conversation.status != "open":
                return False
            turn = actions.Turn(services, flow.tenant_id, customer, source=f"flow:{flow.id}",
                                conversation_id=conversation.id)
            _deliver(services, conversation, _begin(turn, flow, definition, conversation, conversation.channel.kind,
                                                    answering=False))
            return True
    return False


def _cron(text: str):
    minute, hour, day, month, weekday = text.split()
    return crontab(minute, hour, day, month, weekday, strict=True)


def _scheduled(services, flow: Flow, definition: dict, customer: Customer) -> bool:
    """Start the flow for one customer in their conversation (a new one if theirs was closed); skipped while a person
    has it or another flow runs for them."""
    from appliance import conversations

    if FlowRun.active_of(customer.id) is not None:
        return False
    conversation = conversations.open_conversation(services, flow.tenant_id, customer.channel, customer)
    if conversation.status != "open":
        return False
    turn = actions.Turn(services, flow.tenant_id, customer, source=f"flow:{flow.id}", conversation_id=conversation.id)
    walk = _begin(turn, flow, definition, conversation, conversation.channel.kind, answering=False)
    _deliver(services, conversation, walk)
    return True


__all__ = ["FlowInvalid", "check_flow", "create", "update", "activate", "deactivate",
           "delete", "export", "import_flow", "flow_json", "responder", "start", "resume", "resume_due", "recover",
           "time_out", "run_schedules"]
