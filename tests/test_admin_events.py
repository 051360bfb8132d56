"""GET /api/v1/events: the admin page's live stream of conversation events, under real waitress.

Every event the write path emits is stored by one subscriber and reaches the open streams of its tenant only; a
reconnect with Last-Event-ID (or ?since=) replays what it missed; streams are capped and end after a while.
"""
import json
import re
import queue
import socket
import threading
from datetime import timedelta

import pytest
import requests

from appliance import conversations, tasks
from appliance.auth import create_tenant, create_user, issue_token
from appliance.config import Settings
from appliance.events import NAMES, Event
from appliance.records import Channel, Conversation, ConversationEvent, Message, utcnow
from appliance.web.events import prune
from tests.conftest import assert_error, run_benchmark, wait_until


class Stream:
    """One open GET /api/v1/events on its own socket (HTTP/1.0: the body is the bare event stream), its frames
    parsed by a reader thread as they come."""

    def __init__(self, base: str, token: str, headers: dict | None = None, query: str = ""):
        host, port = base.rsplit("//", 1)[1].split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=30)
        lines = [f"GET /api/v1/events{query} HTTP/1.0", f"Host: {host}", f"Authorization: Bearer {token}"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.file = self.sock.makefile("rb")
        self.status = int(self.file.readline().split()[1])
        while self.file.readline() not in (b"\r\n", b""):
            pass
        self.frames: queue.Queue = queue.Queue()
        if self.status == 200:
            threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        frame: dict = {}
        try:
            for raw in self.file:
                line = raw.decode().rstrip("\n")
                if line == "" and frame:
                    self.frames.put(frame)
                    frame = {}
                elif line and not line.startswith(":"):
                    field, _, value = line.partition(": ")
                    frame[field] = json.loads(value) if field == "data" else value
        except (OSError, ValueError):  # closed by the test
            pass
        self.frames.put(None)  # the stream ended

    def next(self, seconds: float = 30.0) -> dict | None:
        """The next frame (None once the stream ended)."""
        return self.frames.get(timeout=seconds)

    def until(self, name: str) -> list[dict]:
        """Frames up to and including the first called `name`."""
        seen = []
        while True:
            frame = self.next()
            assert frame is not None, f"the stream ended before {name}: {seen}"
            seen.append(frame)
            if frame["event"] == name:
                return seen

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the reader at once
        except OSError:
            pass
        self.sock.close()


def run(server) -> None:
    try:
        server.run()
    except OSError:  # its sockets closed under the loop by the fixture's teardown
        pass


@pytest.fixture
def server(services, settings):
    """The app under waitress; `start(**settings)` serves it (settings first: the stream caps are read at start)."""
    import waitress

    from appliance.app import create_app

    servers = []

    def start(**overrides):
        settings.update(overrides)
        server = waitress.create_server(create_app(settings, services), host="127.0.0.1", port=0, threads=12)
        threading.Thread(target=run, args=(server,), daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.effective_port}"

    yield start
    services.admin_streams.close()  # what SIGTERM does: every open stream ends now
    for server in servers:
        server.close()


def say(base, channel, session, text):
    response = requests.post(f"{base}/widget/{channel.id}/messages", json={"session": session, "text": text}, timeout=60)
    assert response.status_code == 202, response.text


def test_customer_message_and_reply_reach_the_stream_live_with_ids(server, tenant, web_channel):
    base = server()
    stream = Stream(base, tenant.token)
    assert stream.until("ready")[-1]["data"] == {"last_event_id": 0}
    say(base, web_channel, "s1", "Hello")
    came_in, went_out = stream.until("message.in")[-1], stream.until("message.out")[-1]
    conversation = Conversation.get()
    assert came_in["data"]["conversation_id"] == conversation.id and came_in["data"]["data"]["text"] == "Hello"
    assert went_out["data"]["data"]["sender"] == "bot" and went_out["data"]["data"]["reply_to"] == came_in["data"]["data"]["id"]
    assert int(came_in["id"]) == came_in["data"]["id"] < int(went_out["id"]) == went_out["data"]["id"]
    stored = [(row.id, row.name) for row in ConversationEvent.select().order_by(ConversationEvent.id)]
    assert (int(came_in["id"]), "message.in") in stored and (int(went_out["id"]), "message.out") in stored
    stream.close()


@pytest.fixture
def following(server, tenant, web_channel):
    """A served app with one answered conversation and an admin stream that is live: (base URL, conversation, stream)."""
    base = server()
    say(base, web_channel, "s1", "Hello")
    stream = Stream(base, tenant.token)
    stream.until("ready")
    yield base, Conversation.get(), stream
    stream.close()


def test_state_changes_reach_the_stream(following, tenant):
    base, conversation, stream = following
    for name, url, status in [("conversation.handoff", "handoff", "handoff"),
                              ("conversation.resumed", "resume-bot", "open"), ("conversation.closed", "close", "closed")]:
        response = requests.post(f"{base}/api/v1/conversations/{conversation.id}/{url}", headers=tenant.headers,
                                 timeout=10)
        assert response.status_code == 200, response.text
        frame = stream.until(name)[-1]
        assert frame["data"]["conversation_id"] == conversation.id and frame["data"]["data"]["status"] == status


def test_last_event_id_and_since_replay_what_was_missed_in_order(server, tenant, web_channel):
    base = server()
    first = Stream(base, tenant.token)
    mark = first.until("ready")[-1]["id"]
    first.close()
    say(base, web_channel, "s1", "Hello")
    say(base, web_channel, "s2", "Good morning")
    rows = list(ConversationEvent.select().order_by(ConversationEvent.id))
    missed = [row.id for row in rows]
    assert [row.name for row in rows] == ["message.in", "message.out", "message.status"] * 2  # in, reply, reply sent
    for how in ({"headers": {"Last-Event-ID": mark}}, {"query": f"?since={mark}"}):
        again = Stream(base, tenant.token, **how)
        frames = again.until("ready")
        assert [(int(f["id"]), f["event"]) for f in frames[:-1]] == [(row.id, row.name) for row in rows]
        assert frames[-1]["data"] == {"last_event_id": missed[-1]} and frames[-1]["id"] == str(missed[-1])
        again.close()
    up_to_date = Stream(base, tenant.token, headers={"Last-Event-ID": str(missed[-1])})
    assert [f["event"] for f in up_to_date.until("ready")] == ["ready"]
    up_to_date.close()


def test_another_tenants_events_never_reach_the_stream(server, tenant, other_tenant, web_channel):
    base = server()
    theirs = Channel.create(tenant=other_tenant.id, kind="web", name="Their chat")
    mine, spy = Stream(base, tenant.token), Stream(base, other_tenant.token)
    mine.until("ready"), spy.until("ready")
    say(base, theirs, "t1", "Hello")  # the other shop's customer
    say(base, web_channel, "s1", "Hello")  # then ours
    theirs_seen = spy.until("message.out")
    ours_seen = mine.until("message.out")
    mine_ids = {c.id for c in Conversation.select().where(Conversation.tenant == tenant.id)}
    assert {f["data"]["conversation_id"] for f in ours_seen} == mine_ids
    assert {f["data"]["conversation_id"] for f in theirs_seen}.isdisjoint(mine_ids)
    replay = Stream(base, tenant.token, query="?since=0")
    assert {f["data"]["conversation_id"] for f in replay.until("ready")[:-1]} == mine_ids
    for stream in (mine, spy, replay):
        stream.close()


def test_every_event_name_is_stored_and_streamed(following, tenant, services):
    _, conversation, stream = following
    shapes = {"message": conversations.message_json(Message.select().order_by(Message.id).first()),
              "conversation": conversations.conversation_json(conversation)}
    for name in NAMES:  # emitted as the write path does; the one subscriber stores and fans them out
        services.events.emit(Event(name, tenant.id, conversation.id, shapes[name.split(".")[0]]))
    assert [(f["event"], f["data"]["data"]) for f in (stream.next() for _ in NAMES)] == [
        (name, shapes[name.split(".")[0]]) for name in NAMES]


def test_streams_need_a_token_of_the_tenant(server, tenant):
    base = server()
    assert_error(requests.get(f"{base}/api/v1/events", timeout=10), 401, "unauthorized")
    assert_error(requests.get(f"{base}/api/v1/events", headers={"Authorization": "Bearer apl_nope"}, timeout=10),
                 401, "unauthorized")
    user = create_user("agent@shop.example", "correct horse", "agent", tenant.tenant)
    agent = Stream(base, issue_token("agent", tenant.tenant, user))
    assert agent.status == 200 and agent.until("ready")
    agent.close()


@pytest.mark.parametrize("mark", ["abc", "-1", "1.5", str(2**63), "9" * 30, "+1", "0x1"])
def test_marks_that_are_not_event_ids_are_422(server, tenant, mark):
    base = server()
    for how in ({"headers": {"Last-Event-ID": mark}}, {"params": {"since": mark}}):
        response = requests.get(f"{base}/api/v1/events", timeout=10, **{**how, "headers": {
            **tenant.headers, **how.get("headers", {})}})
        assert_error(response, 422, "invalid_since")


def test_a_mark_that_cannot_be_resumed_asks_the_page_to_reload(server, tenant, web_channel, services):
    base = server()
    say(base, web_channel, "s1", "Hello")
    say(base, web_channel, "s2", "Hello")
    last = ConversationEvent.select().order_by(ConversationEvent.id.desc()).first().id
    future = Stream(base, tenant.token, query=f"?since={last + 1000}")  # from another install, or a restored backup
    frames = future.until("ready")
    assert [f["event"] for f in frames] == ["reset", "ready"] and frames[-1]["data"] == {"last_event_id": last}
    future.close()
    assert prune(Settings({**services.settings, "admin_events_keep_rows": 1})) == last - 1
    pruned = Stream(base, tenant.token, query="?since=1")  # events 2..last-1 are gone: the page must reload
    assert [(f["event"], f.get("id")) for f in pruned.until("ready")] == [
        ("reset", None), ("message.status", str(last)), ("ready", str(last))]
    pruned.close()


def test_prune_forgets_old_events_then_the_oldest_and_never_reuses_an_id(tenant, web_channel, services, client):
    for session in ("s1", "s2", "s3"):
        client.post(f"/widget/{web_channel.id}/messages", json={"session": session, "text": "Hello"})
    ids = [row.id for row in ConversationEvent.select().order_by(ConversationEvent.id)]
    assert len(ids) == 9  # per message: in, the reply out, the reply's status
    ConversationEvent.update(created_at=utcnow() - timedelta(days=8)).where(ConversationEvent.id == ids[0]).execute()
    tasks.prune_events()  # the hourly task: events older than admin_events_keep_days (7) go
    assert [row.id for row in ConversationEvent.select().order_by(ConversationEvent.id)] == ids[1:]
    limited = Settings({**services.settings, "admin_events_keep_rows": 2})
    assert prune(limited) == 6
    assert [row.id for row in ConversationEvent.select().order_by(ConversationEvent.id)] == ids[-2:]
    ConversationEvent.delete().execute()
    client.post(f"/widget/{web_channel.id}/messages", json={"session": "s4", "text": "Hello"})
    assert ConversationEvent.select().order_by(ConversationEvent.id).first().id == ids[-1] + 1


def test_events_of_an_erased_conversation_go_with_it(tenant, web_channel, client):
    client.post(f"/widget/{web_channel.id}/messages", json={"session": "s1", "text": "Hello"})
    assert ConversationEvent.select().count() == 3
    Conversation.delete().execute()
    assert ConversationEvent.select().count() == 0


# --- caps: a stream holds a web server thread ------------------------------------------------------------

def test_streams_past_the_tenant_cap_are_429_and_other_tenants_still_connect(server, tenant, other_tenant):
    base = server(admin_streams=3, admin_streams_per_tenant=2)
    held = [Stream(base, tenant.token) for _ in range(2)]
    assert [s.status for s in held] == [200, 200]
    refused = requests.get(f"{base}/api/v1/events", headers=tenant.headers, timeout=10)
    assert_error(refused, 429, "rate_limited")
    assert 10 <= int(refused.headers["Retry-After"]) <= 30
    theirs = Stream(base, other_tenant.token)
    assert theirs.status == 200
    third_tenant = create_tenant("Third Shop")[1]
    assert_error(requests.get(f"{base}/api/v1/events", headers={"Authorization": f"Bearer {third_tenant}"},
                              timeout=10), 429, "rate_limited")  # the total cap (3) is reached
    held[0].close()

    def reconnects() -> bool:
        again = requests.get(f"{base}/api/v1/events", headers=tenant.headers, timeout=10, stream=True)
        again.close()
        return again.status_code == 200

    assert wait_until(reconnects, seconds=60, every=0.5)  # once the server noticed the client went (its next write)
    for stream in held[1:] + [theirs]:
        stream.close()


def test_a_stream_ends_after_admin_stream_seconds_and_on_stop(server, tenant, services):
    base = server(admin_stream_seconds=1)
    short = Stream(base, tenant.token)
    short.until("ready")
    assert short.next(seconds=10) is None  # the server ended it; the page reconnects with Last-Event-ID
    long = Stream(server(admin_stream_seconds=600), tenant.token)
    long.until("ready")
    services.admin_streams.close()  # SIGTERM
    assert long.next(seconds=10) is None


def test_admin_and_widget_streams_together_leave_threads_for_webhooks(tmp_path):
    from appliance.config import ConfigError, load_settings, stream_caps

    assert stream_caps(load_settings({"data": tmp_path}, environ={})) == (12, 6)  # of 24 threads
    assert stream_caps(load_settings({"data": tmp_path, "http_threads": 4}, environ={})) == (2, 0)
    with pytest.raises(ConfigError, match="http_threads - 2"):
        load_settings({"data": tmp_path, "http_threads": 64, "admin_streams": 50}, environ={})  # + 32 widget streams
    fits = load_settings({"data": tmp_path, "http_threads": 64, "admin_streams": 50, "widget_streams": 12}, environ={})
    assert stream_caps(fits) == (12, 50)


def test_admin_events_benchmark_runs_and_every_stream_gets_every_message_across_reconnects():
    out = run_benchmark("admin_events_bench.py", "--streams", "10")
    counts = re.search(r"(\d+) customer messages x (\d+) open admin streams = (\d+) deliveries \((\d+) stream reconnects", out)
    assert counts and int(counts[1]) * int(counts[2]) == int(counts[3]) and int(counts[4]) > 0, out
    assert re.search(r"p95 \d+\.\d+ ms", out), out
