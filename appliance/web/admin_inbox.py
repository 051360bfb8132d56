"""Admin console, Inbox: the tenant's conversations (the query of GET /api/v1/conversations), one conversation with
its customer, messages and the bot's reasons, and the staff's reply, take over, hand back, assign and close; every
change goes through appliance.conversations. The page follows the tenant's event stream (GET /t/<tenant>/events,
the one of web/events.py read with the session cookie: EventSource cannot send the API's bearer token)."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for

from appliance import conversations
from appliance.channels import Outbound
from appliance.errors import AppError
from appliance.records import Channel, Conversation, Message, Tenant, User
from appliance.web import services
from appliance.web.admin import blueprint, tenant_page
from appliance.web.conversations import conversation_page
from appliance.web.events import tenant_stream
from appliance.web.i18n import error_text, gettext

STAFF = ("platform-admin", "tenant-admin", "agent")
MAX_REPLY = 4096


def _not_now(status: str) -> str:
    """Why a button did nothing, by the state the conversation is in."""
    return {"open": gettext("the bot has it"), "handoff": gettext("it is waiting for a person"),
            "assigned": gettext("a person has it already"),
            "closed": gettext("it is closed; it starts again when the customer writes")}[status]


def _conversation(tenant: Tenant, conversation_id: int) -> Conversation:
    return Conversation.get_for_tenant(tenant.id, conversation_id, "conversation")


def _back(tenant: Tenant, conversation: Conversation):
    return redirect(url_for("admin.conversation", tenant_id=tenant.id, conversation_id=conversation.id))


@blueprint.get("/t/<tenant_id>/inbox")
@tenant_page(*STAFF)
def inbox(user: User, tenant: Tenant):
    """Conversations, newest message first, with unread counts; filters: channel, status, assigned to me."""
    args = {k: request.args[k] for k in ("channel", "status", "before") if request.args.get(k)}
    if request.args.get("mine"):
        args["assigned"] = "me"
    try:
        page, unread, after = conversation_page(tenant.id, args, lambda: user.id)
    except AppError as exc:  # a hand-edited filter: the unfiltered list, and why
        flash(error_text(exc.code, exc.message), "error")
        page, unread, after = conversation_page(tenant.id, {}, lambda: user.id)
    last = Message.last_of([c.id for c in page])
    return render_template("inbox.html", tenant=tenant, conversations=page, unread=unread, last=last, after=after,
                           channels=Channel.live_of(tenant.id), statuses=conversations.STATUSES, filters=request.args)


def _window(conversation: Conversation) -> dict:
    """Whether free text may go now and, if not, the channel's template that goes instead (None: none set up)."""
    channel, customer = conversation.channel, conversation.customer
    if conversations.window_open(channel.kind, customer.last_inbound_at):
        return {"open": True, "template": None}
    credentials = (services().vault.open_credentials(channel.id, channel.credentials)
                   if channel.credentials else {})
    return {"open": False, "template": credentials.get("window_template") or None}


@blueprint.get("/t/<tenant_id>/inbox/<int:conversation_id>")
@tenant_page(*STAFF)
def conversation(user: User, tenant: Tenant, conversation_id: int):
    """One conversation: the customer card, messages with delivery status and the bot's sources, and the actions."""
    c = _conversation(tenant, conversation_id)
    first_seen = c.customer.created_at
    return render_template("conversation.html", tenant=tenant, c=c, messages=list(c.messages.order_by(Message.id)),
                           window=_window(c), staff=User.of_tenant(tenant.id), first_seen=first_seen)


@blueprint.get("/t/<tenant_id>/inbox/<int:conversation_id>/actions")
@tenant_page(*STAFF)
def actions(user: User, tenant: Tenant, conversation_id: int):
    """The conversation's buttons for its state now (the open page redraws them after a live state change)."""
    c = _conversation(tenant, conversation_id)
    return render_template("conversation_actions.html", tenant=tenant, c=c, staff=User.of_tenant(tenant.id))


@blueprint.post("/t/<tenant_id>/inbox/<int:conversation_id>/reply")
@tenant_page(*STAFF)
def reply(user: User, tenant: Tenant, conversation_id: int):
    """Send the staff's text to the customer (as the channel's template once the free window has closed)."""
    c = _conversation(tenant, conversation_id)
    text = request.form.get("text", "").strip()
    if not text or len(text) > MAX_REPLY:
        flash(gettext("Write a reply of 1 to %(n)s characters.", n=MAX_REPLY), "error")
        return _back(tenant, c)
    try:
        conversations.reply(services(), c, Outbound(to="", text=text), "agent")
    except AppError as exc:
        flash(gettext("The reply was not sent: %(reason)s", reason=error_text(exc.code, exc.message)), "error")
    return _back(tenant, c)


def _moved(tenant: Tenant, before: Conversation, after: Conversation, wanted: str, done: str):
    """Flash what happened: `done`, or why nothing did (a page older than the conversation's state, or a refusal)."""
    changed = (after.status, after.assigned_user_id) != (before.status, before.assigned_user_id)
    if changed and after.status == wanted:
        flash(done, "ok")
    else:
        flash(gettext("Nothing changed: %(reason)s.", reason=_not_now(after.status)), "error")
    return _back(tenant, before)


@blueprint.post("/t/<tenant_id>/inbox/<int:conversation_id>/take")
@tenant_page(*STAFF)
def take_over(user: User, tenant: Tenant, conversation_id: int):
    """Assign the conversation to the signed-in user: the bot stays silent."""
    c = _conversation(tenant, conversation_id)
    if user.tenant_id != tenant.id:  # the platform admin belongs to no shop: only its staff answer its customers
        flash(gettext("Only the shop's staff can take a conversation over; assign it to one of them."), "error")
        return _back(tenant, c)
    after = _run(lambda: conversations.assign(services(), c, user, by_user=user), c)
    return _moved(tenant, c, after, "assigned", gettext("You have this conversation now; the bot stays silent."))


@blueprint.post("/t/<tenant_id>/inbox/<int:conversation_id>/assign")
@tenant_page(*STAFF)
def assign(user: User, tenant: Tenant, conversation_id: int):
    """Give the conversation to a user of this tenant."""
    c = _conversation(tenant, conversation_id)
    raw = request.form.get("user_id", "")
    member = User.get_or_none(User.id == int(raw)) if raw.isdigit() and len(raw) < 19 else None
    if member is None or member.tenant_id != tenant.id:
        flash(gettext("Choose a user of this shop."), "error")
        return _back(tenant, c)
    after = _run(lambda: conversations.assign(services(), c, member, by_user=user), c)
    return _moved(tenant, c, after, "assigned", gettext("%(email)s has this conversation now.", email=member.email))


@blueprint.post("/t/<tenant_id>/inbox/<int:conversation_id>/resume")
@tenant_page(*STAFF)
def resume_bot(user: User, tenant: Tenant, conversation_id: int):
    """Hand the conversation back to the bot."""
    c = _conversation(tenant, conversation_id)
    after = _run(lambda: conversations.resume_bot(services(), c, by_user=user), c)
    return _moved(tenant, c, after, "open", gettext("The bot answers this customer again."))


@blueprint.post("/t/<tenant_id>/inbox/<int:conversation_id>/close")
@tenant_page(*STAFF)
def close(user: User, tenant: Tenant, conversation_id: int):
    """Close the conversation; the customer's next message opens a new one."""
    c = _conversation(tenant, conversation_id)
    after = _run(lambda: conversations.close(services(), c, by_user=user), c)
    return _moved(tenant, c, after, "closed", gettext("The conversation is closed."))


def _run(change, c: Conversation) -> Conversation:
    """The conversation after `change`; as it is when the write path refused (a closed one cannot move)."""
    try:
        return change()
    except AppError:
        return Conversation.get_by_id(c.id)


@blueprint.get("/t/<tenant_id>/events")
@tenant_page(*STAFF)
def events(user: User, tenant: Tenant):
    """The tenant's conversation events for the Inbox page (SSE, the API's stream and caps, by session cookie)."""
    return tenant_stream(tenant.id)
