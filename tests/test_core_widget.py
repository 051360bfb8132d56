"""The web widget: input validation, 202 + durable storage, the queued answer, and the SSE stream."""
import json
import time

import pytest
import requests

from appliance.records import InboundEvent, Message
from tests.conftest import post_json, read_events


def url(channel, tail):
    return f"/widget/{channel.id}/{tail}"


@pytest.mark.parametrize("body,status,code", [
    ({"session": "s1", "text": ""}, 422, "empty_text"),
    ({"session": "s1", "text": "   "}, 422, "empty_text"),
    ({"session": "s1", "text": "x" * 10_000}, 413, "text_too_long"),
    ({"text": "hello"}, 422, "missing_session"),
    ({"session": "", "text": "hello"}, 422, "missing_session"),
    ({"session": "a b/c", "text": "hello"}, 422, "invalid_session"),
    ({"session": "s" * 200, "text": "hello"}, 422, "invalid_session"),
    ({"session": "s1", "text": 42}, 422, "empty_text"),
    (["session", "text"], 400, "invalid_json"),
    ({"session": "s1", "text": "Book", "button": 5}, 422, "invalid_button"),
    ({"session": "s1", "text": "Book", "button": ""}, 422, "invalid_button"),
    ({"session": "s1", "text": "Book", "button": "B" * 257}, 422, "invalid_button"),
])
def test_widget_rejects_bad_messages(client, web_channel, body, status, code):
    response = post_json(client, url(web_channel, "messages"), body)
    assert response.status_code == status
    assert response.get_json()["error"]["code"] == code
    assert InboundEvent.select().count() == 0


def test_widget_rejects_non_utf8_and_broken_json(client, web_channel):
    raw = '{"session": "s1", "text": "caf\xe9"}'.encode("latin-1")
    response = client.post(url(web_channel, "messages"), data=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid_encoding"
    response = client.post(url(web_channel, "messages"), data=b'{"session": ', headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid_json"
    assert InboundEvent.select().count() == 0


def test_widget_rejects_oversized_body(client, web_channel, settings):
    body = json.dumps({"session": "s1", "text": "y" * (settings.max_body_bytes + 10)})
    response = client.post(url(web_channel, "messages"), data=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 413 and response.get_json()["error"]["code"] == "too_large"


def test_unknown_or_deleted_channel_is_404(client, web_channel, tenant):
    assert post_json(client, "/widget/ch_nope/messages", {"session": "s", "text": "hi"}).status_code == 404
    client.delete(f"/api/v1/channels/{web_channel.id}", headers=tenant.headers)
    assert post_json(client, url(web_channel, "messages"), {"session": "s", "text": "hi"}).status_code == 404
    assert client.get(f"/widget/{web_channel.id}.js").status_code == 404


def test_message_is_stored_and_answered_once(client, web_channel):
    response = post_json(client, url(web_channel, "messages"), {"session": "s1", "text": "Do you sell roses?", "id": "m1"})
    assert response.status_code == 202 and response.get_json()["status"] == "queued"
    again = post_json(client, url(web_channel, "messages"), {"session": "s1", "text": "Do you sell roses?", "id": "m1"})
    assert again.status_code == 202 and again.get_json()["status"] == "duplicate"
    assert InboundEvent.select().count() == 1 and InboundEvent.get().status == "done"
    replies = list(Message.select().where(Message.direction == "out"))
    assert len(replies) == 1 and replies[0].status == "sent" and replies[0].text
    assert replies[0].path == "fallback"  # a shop without documents never gets free text from the tiny model


def test_embed_script_and_demo_page(client, web_channel, settings):
    script = client.get(f"/widget/{web_channel.id}.js")
    assert script.status_code == 200 and script.mimetype == "application/javascript"
    assert b"/widget/" in script.data and b"__CHANNEL_ID__" not in script.data
    assert script.headers["Access-Control-Allow-Origin"] == "*"
    settings["demo_channel"] = web_channel.id  # what `appliance init` records for the demo shop
    page = client.get("/")
    assert page.status_code == 200 and f"/widget/{web_channel.id}.js".encode() in page.data


def test_reply_streams_token_by_token_over_sse(live_server, web_channel):
    stream = requests.get(f"{live_server}/widget/{web_channel.id}/events", params={"session": "s9"}, stream=True, timeout=60)
    assert stream.headers["Content-Type"].startswith("text/event-stream")
    lines = stream.iter_lines(decode_unicode=True)
    assert next(lines) == ": connected"
    posted = requests.post(f"{live_server}/widget/{web_channel.id}/messages", json={"session": "s9", "text": "Hello there"},
                           timeout=60)
    assert posted.status_code == 202
    events = read_events(lines)
    stream.close()
    tokens = [e["data"]["text"] for e in events if e["event"] == "token"]
    final = events[-1]
    assert final["event"] == "message" and len(tokens) >= 1
    assert "".join(tokens).strip() == final["data"]["text"]
    assert events[0]["event"] == "typing"


def test_sse_replays_stored_replies_after_last_event_id(live_server, client, web_channel):
    post_json(client, url(web_channel, "messages"), {"session": "s7", "text": "first"})
    post_json(client, url(web_channel, "messages"), {"session": "s7", "text": "second"})
    replies = [m.id for m in Message.select().where(Message.direction == "out").order_by(Message.id)]
    stream = requests.get(f"{live_server}/widget/{web_channel.id}/events", params={"session": "s7"},
                          headers={"Last-Event-ID": str(replies[0])}, stream=True, timeout=30)
    events = read_events(stream.iter_lines(decode_unicode=True))
    stream.close()
    assert [e["data"]["id"] for e in events if e["event"] == "message"] == [replies[1]]


def test_sse_needs_a_session(client, web_channel):
    response = client.get(url(web_channel, "events"))
    assert response.status_code == 422 and response.get_json()["error"]["code"] == "missing_session"


def post_refusal(client, channel, session) -> str | None:
    """The code the message POST refuses this session with, else None (an empty text keeps the message unstored)."""
    code = post_json(client, url(channel, "messages"), {"session": session, "text": ""}).get_json()["error"]["code"]
    return None if code == "empty_text" else code


def stream_refusal(client, channel, session) -> str | None:
    """The code the event stream refuses this session with, else None; a stream that opened is closed at once."""
    with client.get(url(channel, "events"), query_string={"session": session}) as response:
        return None if response.status_code == 200 else response.get_json()["error"]["code"]


@pytest.mark.parametrize("session, refusal", [
    ("s1", None), ("a" * 128, None), ("a-b_C9", None), ("", "missing_session"), (" ", "missing_session"),
    ("a" * 129, "invalid_session"), ("a b", "invalid_session"), ("é", "invalid_session"), ("١٢٣", "invalid_session"),
    ("ｓ１", "invalid_session"), ("s1\n", "invalid_session"), ("../x", "invalid_session"), ("s\x00", "invalid_session"),
])
def test_the_event_stream_refuses_exactly_the_sessions_the_message_post_refuses(client, web_channel, session, refusal):
    assert post_refusal(client, web_channel, session) == refusal
    assert stream_refusal(client, web_channel, session) == refusal
    assert InboundEvent.select().count() == 0
