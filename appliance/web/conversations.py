"""/api/v1/conversations: the inbox. List and read conversations, and change who answers them.

| method | path                               | does                                                        |
|--------|------------------------------------|-------------------------------------------------------------|
| GET    | /conversations                     | newest first; status, channel, q, assigned, unread; paged    |
| GET    | /conversations/<id>                | one conversation with its messages and delivery statuses    |
| POST   | /conversations/<id>/handoff        | {"reason"?}: a human takes over, the bot stays silent       |
| POST   | /conversations/<id>/assign         | {"user_id"}: give it to a user of this tenant               |
| POST   | /conversations/<id>/resume-bot     | the bot answers again                                       |
| POST   | /conversations/<id>/close          | done; the customer's next message opens a new one           |

Every state change goes through appliance.conversations (the one write path), which refuses a wrong transition with
a 409 and emits the event the admin stream shows. Agents' replies are POST /conversations/<id>/messages (web/api.py).
"""
from __future__ import annotations

import re
from datetime import datetime
from typing import Callable, Mapping

from flask import Blueprint, g, request

from appliance import conversations
from appliance.auth import api_auth, tenant_id_required
from appliance.errors import AppError
from appliance.records import Conversation, Customer, Message, User
from appliance.web import MAX_ROW_ID, services
from appliance.web.api import ANY_ROLE, accepts, json_body

blueprint = Blueprint("conversations", __name__, url_prefix="/api/v1/conversations")
PAGE_SIZE, MAX_PAGE_SIZE = 50, 200
MAX_QUERY = 200
CURSOR = re.compile(r"([0-9]{1,17})-([0-9]{1,19})")  # last_message_at in microseconds since 1970, then the id
ASSIGNED = re.compile(r"me|none|[0-9]{1,19}")
EPOCH = datetime(1970, 1, 1)


def _cursor(c: Conversation) -> str:
    """Where the next page starts: after this conversation in the list's order (newest message first)."""
    micros = (c.last_message_at - EPOCH) // datetime.resolution if c.last_message_at else 0
    return f"{micros}-{c.id}"


def _after_cursor(raw: str):
    """The list's order continued past `before` (a cursor from the previous page's `next`)."""
    match = CURSOR.fullmatch(raw)
    if match is None or int(match[2]) > MAX_ROW_ID:
        raise AppError(422, "invalid_before", "'before' must be the 'next' value of the previous page.")
    at = EPOCH + int(match[1]) * datetime.resolution
    return (Conversation.last_message_at < at) | ((Conversation.last_message_at == at) & (Conversation.id < int(match[2])))


def _limit(args: Mapping[str, str]) -> int:
    raw = args.get("limit", str(PAGE_SIZE))
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE_SIZE:
        raise AppError(422, "invalid_limit", f"'limit' must be a whole number from 1 to {MAX_PAGE_SIZE}.")
    return int(raw)


def _token_user_id() -> int:
    """The user behind the calling token, for `assigned=me`."""
    if g.token.user_id is None:
        raise AppError(422, "no_user", "This API token belongs to no user, so 'assigned=me' names nobody; "
                                       "use assigned=<user_id>.")
    return g.token.user_id


def _assigned(raw: str, me: Callable[[], int]):
    if not ASSIGNED.fullmatch(raw) or (raw.isdigit() and int(raw) > MAX_ROW_ID):
        raise AppError(422, "invalid_assigned", "'assigned' must be 'me', 'none' or a user id.")
    if raw == "none":
        return Conversation.assigned_user.is_null()
    return Conversation.assigned_user == (me() if raw == "me" else int(raw))


def _filtered(tenant_id: str, args: Mapping[str, str], me: Callable[[], int]):
    query = Conversation.select(Conversation, Customer).join(Customer).where(Conversation.tenant == tenant_id)
    if args.get("status"):
        if args["status"] not in conversations.STATUSES:
            raise AppError(422, "invalid_status", f"'status' must be one of {', '.join(conversations.STATUSES)}.")
        query = query.where(Conversation.status == args["status"])
    if args.get("channel"):
        query = query.where(Conversation.channel == args["channel"])
    if args.get("assigned"):
        query = query.where(_assigned(args["assigned"], me))
    if args.get("unread") not in (None, "", "true", "false"):
        raise AppError(422, "invalid_unread", "'unread' must be true or false.")
    if args.get("unread") == "true":
        query = query.where(Conversation.id.in_(Message.unread_conversations(tenant_id)))
    if args.get("q"):
        text = args["q"][:MAX_QUERY]
        hits = Message.select(Message.conversation).where((Message.tenant == tenant_id) & Message.text.contains(text))
        query = query.where(Conversation.id.in_(hits) | Customer.name.contains(text))
    if args.get("before"):
        query = query.where(_after_cursor(args["before"]))
    return query


@blueprint.get("")
@accepts(query={"status": {"type": "string", "enum": list(conversations.STATUSES)}, "channel": {"type": "string"},
                "q": {"type": "string", "maxLength": MAX_QUERY},
                "assigned": {"type": "string", "pattern": "^(me|none|[0-9]{1,18})$"},
                "unread": {"type": "string", "enum": ["true", "false"]},
                "before": {"type": "string", "pattern": "^[0-9]{1,17}-[0-9]{1,18}$"},
                "limit": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE}})
@api_auth(*ANY_ROLE)
def list_conversations():
    """The tenant's conversations, newest message first, with unread counts; `next` pages on (as `before`)."""
    page, unread, after = conversation_page(tenant_id_required(), request.args, _token_user_id)
    return {"conversations": [{**conversations.conversation_json(c), "unread": unread.get(c.id, 0)} for c in page],
            "next": after}


def conversation_page(tenant_id: str, args: Mapping[str, str], me: Callable[[], int]):
    """One page of the inbox filtered by `args` (the query string of GET /conversations; `me()` is the user for
    assigned=me): (conversations, unread counts by id, the cursor of the next page or None). The admin Inbox page
    calls it too."""
    limit = _limit(args)
    rows = list(_filtered(tenant_id, args, me).order_by(Conversation.last_message_at.desc(), Conversation.id.desc())
                .limit(limit + 1))
    page = rows[:limit]
    return page, Message.unread_counts([c.id for c in page]), _cursor(page[-1]) if len(rows) > limit else None


@blueprint.get("/<int:conversation_id>")
@api_auth(*ANY_ROLE)
def get_conversation(conversation_id: int):
    """One conversation with its messages: delivery status and failure reason, and for bot replies sources and path."""
    conversation = _conversation(conversation_id)
    return {**conversations.conversation_json(conversation, with_messages=True),
            "unread": Message.unread_counts([conversation.id]).get(conversation.id, 0)}


def _conversation(conversation_id: int) -> Conversation:
    return Conversation.get_for_tenant(tenant_id_required(), conversation_id, "conversation")


def _acting_user() -> User | None:
    """Who does it, for the event: the user the token belongs to (tokens made on the command line have none)."""
    return g.token.user if g.token.user_id is not None else None


# Why a change did not happen, by the state the conversation is in (the write path leaves it as it was)
NOT_NOW = {"open": "the bot has it", "handoff": "it is waiting for a person",
           "assigned": "a person has it already; assign it to someone else, or resume the bot first",
           "closed": "it is closed; it starts again when the customer writes"}
DONE = {"handoff": "handed off", "assigned": "assigned", "open": "given back to the bot", "closed": "closed"}


def _moved(conversation: Conversation, wanted: str) -> dict:
    """The conversation's API shape once the write path has moved it to `wanted` (or found it there already); a 409
    saying why when it is somewhere else (a wrong transition, or another request got there first)."""
    if conversation.status != wanted:
        raise AppError(409, "wrong_state", f"The conversation was not {DONE[wanted]}: {NOT_NOW[conversation.status]}.")
    return conversations.conversation_json(conversation)


@blueprint.post("/<int:conversation_id>/handoff")
@accepts({"reason": {"type": "string", "maxLength": 500}})
@api_auth(*ANY_ROLE)
def handoff(conversation_id: int):
    """A human takes the conversation over: the bot stays silent until resume-bot."""
    conversation = _conversation(conversation_id)
    body = json_body() if request.content_length else {}
    reason = body.get("reason", "")
    if not isinstance(reason, str) or len(reason) > 500:
        raise AppError(422, "invalid_reason", "'reason' must be a text of at most 500 characters.")
    return _moved(conversations.handoff(services(), conversation, reason=reason.strip(), by_user=_acting_user()),
                  "handoff")


@blueprint.post("/<int:conversation_id>/assign")
@accepts({"user_id": {"type": "integer", "minimum": 1, "maximum": MAX_ROW_ID}}, required=("user_id",))
@api_auth(*ANY_ROLE)
def assign(conversation_id: int):
    """Give the conversation to a user (tenant admin or agent) of this tenant; the bot stays silent."""
    conversation = _conversation(conversation_id)
    user_id = json_body().get("user_id")
    if not isinstance(user_id, int) or isinstance(user_id, bool) or not 0 < user_id <= MAX_ROW_ID:
        raise AppError(422, "invalid_user_id", "Give 'user_id' as the id of a user of this tenant.")
    user = User.get_or_none(User.id == user_id)  # the write path refuses (404) a user of another tenant
    return _moved(conversations.assign(services(), conversation, user, by_user=_acting_user()), "assigned")


@blueprint.post("/<int:conversation_id>/resume-bot")
@api_auth(*ANY_ROLE)
def resume_bot(conversation_id: int):
    """Give the conversation back to the bot: it answers the customer's next message."""
    return _moved(conversations.resume_bot(services(), _conversation(conversation_id), by_user=_acting_user()), "open")


@blueprint.post("/<int:conversation_id>/close")
@api_auth(*ANY_ROLE)
def close(conversation_id: int):
    """Close the conversation; the customer's next message opens a new one."""
    return _moved(conversations.close(services(), _conversation(conversation_id), by_user=_acting_user()), "closed")
