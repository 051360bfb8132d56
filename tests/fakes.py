"""Small fake platform APIs on 127.0.0.1 (threads) that record requests, check their shape, and fail on demand.

Also: a scripted OpenAI-compatible server (the cloud model failing on demand), signers for webhook samples, a channel-connecting helper, and a real huey consumer fixture for tests
where the order of tasks matters (retries scheduled in the future).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable
from urllib.parse import parse_qs

import pytest

from appliance import tasks
from appliance.records import Channel, Conversation, Customer, Message
from tests.conftest import wait_until

DATA = Path(__file__).resolve().parent / "data"

CREDENTIALS = {
    "whatsapp": {"phone_number_id": "106540352242922", "access_token": "EAAG-wa-token", "app_secret": "wa-app-secret",
                 "verify_token": "wa-verify-me"},
    "messenger": {"page_id": "109876543210", "page_access_token": "EAAG-page-token", "app_secret": "fb-app-secret",
                  "verify_token": "fb-verify-me"},
    "zalo": {"oa_id": "579745863508352884", "app_id": "3603941853372462891", "access_token": "zalo-access-1",
             "oa_secret_key": "zalo-oa-secret", "refresh_token": "zalo-refresh-1", "app_secret": "zalo-app-secret"},
    "telegram": {"bot_token": "123456:ABC-telegram", "secret_token": "tg-secret-token"},
}
# the customer of each platform's text sample (tests/data/<platform>/)
USERS = {"whatsapp": "84901234567", "messenger": "7021234567890123", "zalo": "2512523625412515", "telegram": "123456789"}


def sample(platform: str, name: str) -> bytes:
    """The raw bytes of a payload sample in tests/data/<platform>/."""
    return (DATA / platform / name).read_bytes()


def signed_headers(platform: str, raw: bytes, credentials: dict | None = None) -> dict:
    """The headers the platform would send with these exact bytes."""
    creds = credentials or CREDENTIALS[platform]
    if platform in ("whatsapp", "messenger"):
        digest = hmac.new(creds["app_secret"].encode(), raw, hashlib.sha256).hexdigest()
        return {"X-Hub-Signature-256": f"sha256={digest}", "Content-Type": "application/json"}
    if platform == "zalo":
        mac = hashlib.sha256(creds["app_id"].encode() + raw + _zalo_timestamp(raw) + creds["oa_secret_key"].encode())
        return {"X-ZEvent-Signature": f"mac={mac.hexdigest()}", "Content-Type": "application/json"}
    return {"X-Telegram-Bot-Api-Secret-Token": creds["secret_token"], "Content-Type": "application/json"}


def _zalo_timestamp(raw: bytes) -> bytes:
    """The body's "timestamp" as Zalo signs it; "" when the body is not a JSON object or has none."""
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):  # hostile bodies in tests: not JSON, or nested too deep to parse
        return b""
    value = body.get("timestamp") if isinstance(body, dict) else None
    return b"" if value is None else str(value).encode("utf-8", "surrogatepass")


@dataclass
class Failure:
    """One canned failure: an HTTP status and body, or a delay longer than the client's timeout."""

    status: int = 500
    body: dict = field(default_factory=dict)
    headers: dict = field(default_factory=dict)
    delay: float = 0.0
    when: Callable[[dict], bool] | None = None


@dataclass
class Request:
    path: str
    headers: dict
    body: dict
    answered: int = 0
    accepted: bool = False  # answered with a message id the client received
    taken: bool = False  # the platform took the message (the customer gets it), whether or not the client heard so
    message_id: str = ""  # the id the platform gave it
    received_at: float = field(default_factory=time.perf_counter)


class FakePlatform:
    """One platform's send API. `fail(...)` queues failures; `requests` / `delivered` record what came."""

    def __init__(self, kind: str):
        self.kind = kind
        self.credentials = dict(CREDENTIALS[kind])
        self.requests: list[Request] = []
        self.problems: list[str] = []
        self._failures: deque[Failure] = deque()
        self._lock = threading.Lock()
        self._counter = 0
        self.refreshes = 0
        self._hangs = 0
        self._released = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                fake._handle(self)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()

    def fail(self, times: int = 1, status: int = 500, body: dict | None = None, headers: dict | None = None,
             delay: float = 0.0, when: Callable[[dict], bool] | None = None) -> None:
        """Answer the next `times` matching send requests with this failure."""
        for _ in range(times):
            self._failures.append(Failure(status, body or {}, headers or {}, delay, when))

    def hang(self, times: int = 1) -> None:
        """Take the next `times` sends (the customer gets them) but answer nothing until `release()`, then drop the
        connection: what a client sees when its process is killed mid-send."""
        with self._lock:
            self._hangs += times
            self._released.clear()

    def release(self) -> None:
        """End the hung sends (their connections are dropped without an answer)."""
        self._released.set()

    @property
    def taken(self) -> list[Request]:
        """Sends that reached the customer: accepted, answered too late, or hung."""
        return [r for r in self.sends if r.taken]

    @property
    def sends(self) -> list[Request]:
        """Message sends (not token refreshes or callback answers), in arrival order."""
        return [r for r in self.requests if self._is_send(r.path)]

    @property
    def delivered(self) -> list[Request]:
        """Sends the fake accepted (answered 200 with a message id)."""
        return [r for r in self.sends if r.accepted]

    def wait_for(self, count: int, seconds: float = 60.0) -> list[Request]:
        """Block until `count` sends were accepted; the accepted sends."""
        try:
            return wait_until(lambda: len(self.delivered) >= count and self.delivered, seconds, 0.02)
        except AssertionError:
            raise AssertionError(f"{self.kind}: expected {count} delivered sends, got {len(self.delivered)}: "
                                 f"{self.requests}") from None

    # --- the server side ---------------------------------------------------------------------------------

    def _is_send(self, path: str) -> bool:
        return path.endswith(("/messages", "/message/cs", "/message/template", "/sendMessage"))

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length)
        form = handler.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded")
        try:
            body = {k: v[0] for k, v in parse_qs(raw.decode()).items()} if form else json.loads(raw or b"{}")
        except ValueError:
            body = {}
        request = Request(handler.path, dict(handler.headers), body)
        with self._lock:
            self.requests.append(request)
            failure, hang = None, False
            if self._is_send(handler.path):
                failure = next((f for f in self._failures if f.when is None or f.when(body)), None)
                if failure is not None:
                    self._failures.remove(failure)
                elif self._hangs:
                    self._hangs, hang = self._hangs - 1, True
        if hang:
            self._success(request)
            self._released.wait()
            request.answered = -1
            handler.close_connection = True
            return
        if failure is not None and failure.delay:  # a timeout: the client gives up before this late answer
            answer = self._success(request)
            time.sleep(failure.delay)
            request.answered = -1
            return self._reply(handler, 200, answer)
        if failure is not None:
            request.answered = failure.status
            return self._reply(handler, failure.status, failure.body, failure.headers)
        status, answer = self._route(request)
        request.answered = status
        request.accepted = status == 200 and self._is_send(request.path)
        self._reply(handler, status, answer)

    def _reply(self, handler, status: int, body: dict, headers: dict | None = None) -> None:
        data = json.dumps(body).encode()
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                handler.send_header(key, value)
            handler.end_headers()
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _next_id(self) -> int:
        with self._lock:
            self._counter += 1
            return self._counter

    def _route(self, request: Request) -> tuple[int, dict]:
        problems = SHAPES[self.kind](self, request)
        if problems:
            self.problems += problems
            body = ERROR_BODIES[self.kind](problems)
            return (401 if body.get("error_code") == 401 else 400), body
        if not self._is_send(request.path):
            return AUX[self.kind](self, request)
        return 200, self._success(request)

    def _success(self, request: Request) -> dict:
        """The platform takes the message: its success body (the customer gets it whether or not this is answered)."""
        n = self._next_id()
        request.taken = self._is_send(request.path)
        if self.kind == "whatsapp":
            request.message_id = f"wamid.FAKE{n}"
            return {"messaging_product": "whatsapp", "contacts": [{"input": request.body.get("to"), "wa_id": request.body.get("to")}],
                    "messages": [{"id": request.message_id}]}
        if self.kind == "messenger":
            request.message_id = f"m_FAKE{n}"
            return {"recipient_id": (request.body.get("recipient") or {}).get("id"), "message_id": request.message_id}
        if self.kind == "zalo":
            key = "msg_id" if request.path.endswith("/template") else "message_id"
            request.message_id = f"zmsg.FAKE{n}"
            return {"error": 0, "message": "Success", "data": {key: request.message_id, "user_id": "2512523625412515"}}
        request.message_id = str(1000 + n)
        return {"ok": True, "result": {"message_id": 1000 + n, "chat": {"id": request.body.get("chat_id")}, "text": request.body.get("text")}}


# --- request shape checks, per platform (what the real API would refuse) ------------------------------------

def _whatsapp_shape(fake: FakePlatform, r: Request) -> list[str]:
    creds, body, problems = fake.credentials, r.body, []
    if r.path != f"/{creds['phone_number_id']}/messages":
        problems.append(f"path {r.path}")
    if r.headers.get("Authorization") != f"Bearer {creds['access_token']}":
        problems.append("bearer token")
    if body.get("messaging_product") != "whatsapp" or not body.get("to"):
        problems.append("messaging_product/to")
    kind = body.get("type")
    if kind == "text":
        if not 0 < len((body.get("text") or {}).get("body") or "") <= 4096:
            problems.append("text.body length")
    elif kind == "interactive":
        inter = body["interactive"]
        if len(inter["body"]["text"]) > 1024:
            problems.append("interactive body")
        if inter["type"] == "button":
            buttons = inter["action"]["buttons"]
            titles = [b["reply"]["title"] for b in buttons]
            if not 1 <= len(buttons) <= 3 or any(len(t) > 20 for t in titles) or len(set(titles)) != len(titles):
                problems.append("reply buttons")
        elif inter["type"] == "list":
            rows = [row for s in inter["action"]["sections"] for row in s["rows"]]
            if len(inter["action"]["button"]) > 20 or not 1 <= len(rows) <= 10 or any(
                    len(row["title"]) > 24 or len(row.get("description", "")) > 72 for row in rows):
                problems.append("list")
        else:
            problems.append("interactive type")
    elif kind == "template":
        template = body["template"]
        if not template.get("name") or not (template.get("language") or {}).get("code"):
            problems.append("template name/language")
    else:
        problems.append(f"type {kind}")
    return problems


def _messenger_shape(fake: FakePlatform, r: Request) -> list[str]:
    body, problems = r.body, []
    if r.path != "/me/messages" or r.headers.get("Authorization") != f"Bearer {fake.credentials['page_access_token']}":
        problems.append("path/token")
    if not (body.get("recipient") or {}).get("id") or body.get("messaging_type") not in ("RESPONSE", "UPDATE", "MESSAGE_TAG"):
        problems.append("recipient/messaging_type")
    if body.get("messaging_type") == "MESSAGE_TAG" and not body.get("tag"):
        problems.append("tag")
    message = body.get("message") or {}
    if not 0 < len(message.get("text") or "") <= 2000:
        problems.append("text length")
    quick = message.get("quick_replies") or []
    if len(quick) > 13 or any(q.get("content_type") != "text" or len(q["title"]) > 20 or not q.get("payload") for q in quick):
        problems.append("quick replies")
    return problems


def _zalo_shape(fake: FakePlatform, r: Request) -> list[str]:
    body, problems = r.body, []
    if r.path == "/v4/oa/access_token":
        return [] if r.headers.get("secret_key") == fake.credentials["app_secret"] else ["oauth secret_key"]
    if r.path == "/v3.0/oa/message/cs":
        if not (body.get("recipient") or {}).get("user_id") or not 0 < len((body.get("message") or {}).get("text") or "") <= 2000:
            problems.append("cs shape")
    elif r.path == "/message/template":
        if not body.get("phone") or not body.get("template_id") or not isinstance(body.get("template_data"), dict):
            problems.append("zns shape")
    else:
        problems.append(f"path {r.path}")
    return problems


def _telegram_shape(fake: FakePlatform, r: Request) -> list[str]:
    body, problems = r.body, []
    prefix = f"/bot{fake.credentials['bot_token']}/"
    if not r.path.startswith(prefix):
        return ["__token__"]  # Telegram answers an unknown bot token with 401 Unauthorized
    method = r.path[len(prefix):]
    if method == "sendMessage":
        if not body.get("chat_id") or not 0 < len(body.get("text") or "") <= 4096:
            problems.append("sendMessage shape")
        for row in (body.get("reply_markup") or {}).get("inline_keyboard") or []:
            for button in row:
                if not button.get("text") or len(button.get("callback_data", "").encode()) > 64:
                    problems.append("inline button")
    elif method == "answerCallbackQuery":
        if not body.get("callback_query_id"):
            problems.append("callback_query_id")
    elif method == "deleteWebhook":
        pass
    elif method == "setWebhook":
        if not body.get("url", "").startswith("https://") or body.get("secret_token") != fake.credentials["secret_token"]:
            problems.append("setWebhook shape")
    else:
        problems.append(f"method {method}")
    return problems


def _zalo_tokens(fake: FakePlatform, r: Request) -> list[str]:
    """Zalo refuses a stale access token with -220 (HTTP 200), like the real API."""
    if r.path != "/v4/oa/access_token" and r.headers.get("access_token") != fake.credentials["access_token"]:
        return ["__token__"]
    return _zalo_shape(fake, r)


SHAPES = {"whatsapp": _whatsapp_shape, "messenger": _messenger_shape, "zalo": _zalo_tokens, "telegram": _telegram_shape}


def _zalo_error(problems):
    if problems == ["__token__"]:
        return {"error": -220, "message": "Access token has expired"}
    return {"error": -201, "message": "; ".join(problems)}


ERROR_BODIES = {
    "whatsapp": lambda p: {"error": {"message": "; ".join(p), "type": "OAuthException", "code": 100}},
    "messenger": lambda p: {"error": {"message": "; ".join(p), "type": "OAuthException", "code": 100}},
    "zalo": _zalo_error,
    "telegram": lambda p: ({"ok": False, "error_code": 401, "description": "Unauthorized"} if p == ["__token__"]
                           else {"ok": False, "error_code": 400, "description": "; ".join(p)}),
}


def _zalo_refresh(fake: FakePlatform, r: Request) -> tuple[int, dict]:
    if r.body.get("refresh_token") != fake.credentials["refresh_token"] or r.body.get("grant_type") != "refresh_token":
        return 200, {"error": -14014, "error_name": "Invalid refresh token", "error_description": "refresh token is used"}
    fake.refreshes += 1
    fake.credentials["access_token"] = f"zalo-access-{fake.refreshes + 1}"
    fake.credentials["refresh_token"] = f"zalo-refresh-{fake.refreshes + 1}"  # single use
    return 200, {"access_token": fake.credentials["access_token"], "refresh_token": fake.credentials["refresh_token"],
                 "expires_in": "90000"}


AUX = {
    "zalo": _zalo_refresh,
    "telegram": lambda fake, r: (200, {"ok": True, "result": True}),
    "whatsapp": lambda fake, r: (404, {}),
    "messenger": lambda fake, r: (404, {}),
}


# --- fixtures --------------------------------------------------------------------------------------------

def _fake(kind):
    fake = FakePlatform(kind)
    yield fake
    fake.close()


@pytest.fixture
def fake_whatsapp():
    yield from _fake("whatsapp")


@pytest.fixture
def fake_messenger():
    yield from _fake("messenger")


@pytest.fixture
def fake_zalo():
    yield from _fake("zalo")


@pytest.fixture
def fake_telegram():
    yield from _fake("telegram")


@pytest.fixture
def fakes(fake_whatsapp, fake_messenger, fake_zalo, fake_telegram):
    return {"whatsapp": fake_whatsapp, "messenger": fake_messenger, "zalo": fake_zalo, "telegram": fake_telegram}


def allow_fakes(client) -> None:
    """Let tenants point api_base/base_url at the fakes on 127.0.0.1, as a platform admin would allow a proxy."""
    client.application.extensions["appliance"].settings["outbound_allow_hosts"] = "127.0.0.1"


def connect(client, tenant, fake: FakePlatform, **credentials) -> str:
    """Connect a channel through the API, pointed at the fake; returns its id."""
    allow_fakes(client)
    body = {"kind": fake.kind, "name": f"{fake.kind} test", "credentials": {**CREDENTIALS[fake.kind], **credentials},
            "api_base": fake.base_url}
    response = client.post("/api/v1/channels", json=body, headers=tenant.headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


@pytest.fixture
def consumer(services, settings):
    """A real huey consumer (threads) on a queue file, for tests where scheduled retries must run."""
    yield from real_consumer(settings, workers=2)


def start_consumer(workers: int):
    """A started huey consumer of `workers` threads on the current queue file (as a (re)started appliance runs)."""
    worker = tasks.huey.create_consumer(workers=workers, worker_type="thread", periodic=False, initial_delay=0.01,
                                        backoff=1.05, max_delay=0.05, scheduler_interval=1)
    worker._set_signal_handlers = lambda: None  # huey's own hook: pytest keeps its signal handlers
    worker.start()
    return worker


def real_consumer(settings, workers: int):
    """Start a huey consumer of `workers` threads on the data folder's queue file; yield it, then stop it."""
    tasks.use_queue_file(settings.data / "queue.db")
    worker = start_consumer(workers)
    yield worker
    worker.stop(graceful=True)
    tasks.huey.storage.close()
    tasks.use_queue_file(None)


class Scripted:
    """A loopback HTTP server answering POSTs from a list of (status, headers, body); records the requests."""

    def __init__(self, script):
        self.script, self.requests = list(script), []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                outer.requests.append((self.path, dict(self.headers), json.loads(self.rfile.read(length))))
                status, headers, body = outer.script.pop(0) if len(outer.script) > 1 else outer.script[0]
                data = json.dumps(body).encode() if not isinstance(body, bytes) else body
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True).start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    @classmethod
    def answering(cls, status: int, body: dict) -> "Scripted":
        """A server answering every POST with one status and JSON body."""
        return cls([(status, {}, body)])

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class HookReceiver:
    """A loopback receiver of the automation's outgoing webhooks: records each POST's headers and exact body bytes.

    Answers 200, or from `answer(...)`'s queue (a status, or a delay longer than the caller's time-out); `hold()` keeps
    every answer back until `release()` (a slow receiver)."""

    def __init__(self):
        self.calls: list[tuple[dict, bytes]] = []
        self.answered: list[int] = []  # statuses answered, in order (a held or delayed answer counts when sent)
        self._script: deque[tuple[int, float]] = deque()
        self._open = threading.Event()
        self._open.set()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    receiver.calls.append((dict(self.headers), raw))
                    status, delay = receiver._script.popleft() if receiver._script else (200, 0.0)
                receiver._open.wait(30)
                time.sleep(delay)
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"{}")
                except (BrokenPipeError, ConnectionResetError):
                    pass
                receiver.answered.append(status)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True).start()
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        self.url = f"http://{self.host}/hooks/shop"

    def answer(self, status: int = 500, times: int = 1, delay: float = 0.0) -> None:
        """Answer the next `times` calls with `status`, after `delay` seconds."""
        with self._lock:
            self._script.extend([(status, delay)] * times)

    def hold(self) -> None:
        """Keep answers back until release()."""
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    def wait_for(self, count: int, seconds: float = 30.0) -> list[tuple[dict, bytes]]:
        """Block until `count` calls arrived; the calls."""
        return wait_until(lambda: len(self.calls) >= count and self.calls, seconds, 0.01)

    def close(self) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook_receiver():
    receiver = HookReceiver()
    yield receiver
    receiver.close()


class Writer:
    """One customer writing to a tenant: through the widget's POST or signed WhatsApp webhooks (replies go to the
    fake Cloud API). In immediate mode a message is answered when says()/taps() returns; both return the messages
    sent to this customer since the last call."""

    def __init__(self, client, kind: str, channel_id: str, session: str = "visitor-1"):
        self.client, self.kind, self.channel_id, self.session = client, kind, channel_id, session
        self.sent, self.seen = 0, 0

    def says(self, text: str) -> list:
        self.sent += 1
        if self.kind == "web":
            self._widget({"text": text})
        else:
            body = json.loads(sample("whatsapp", "text.json"))
            message = body["entry"][0]["changes"][0]["value"]["messages"][0]
            message["id"], message["text"]["body"] = f"wamid.{self.session}-{self.sent}", text
            self._webhook(body)
        return self._new()

    def taps(self, payload: str, title: str) -> list:
        """A reply-button tap: the widget's POST with "button", or WhatsApp's button reply."""
        self.sent += 1
        if self.kind == "web":
            self._widget({"text": title, "button": payload})
        else:
            body = json.loads(sample("whatsapp", "interactive_button.json"))
            message = body["entry"][0]["changes"][0]["value"]["messages"][0]
            message["id"] = f"wamid.{self.session}-{self.sent}"
            message["interactive"]["button_reply"] = {"id": payload, "title": title}
            self._webhook(body)
        return self._new()

    def _widget(self, fields: dict) -> None:
        response = self.client.post(f"/widget/{self.channel_id}/messages",
                                    json={"session": self.session, "id": f"m{self.sent}", **fields})
        assert response.status_code == 202, response.get_json()

    def _webhook(self, body: dict) -> None:
        raw = json.dumps(body).encode()
        response = self.client.post(f"/webhooks/whatsapp/{self.channel_id}", data=raw,
                                    headers=signed_headers("whatsapp", raw))
        assert response.status_code == 200, response.get_json()

    def _new(self) -> list:
        out = self.replies()
        new, self.seen = out[self.seen:], len(out)
        return new

    @property
    def external_id(self) -> str:
        return self.session if self.kind == "web" else USERS["whatsapp"]

    def replies(self) -> list:
        """The bot's and staff's messages to this customer so far, oldest first."""
        return list(Message.select().join(Conversation).join(Customer).where(
            (Conversation.channel == self.channel_id) & (Customer.external_id == self.external_id)
            & (Message.direction == "out")).order_by(Message.id))

    def texts(self) -> list[str]:
        return [m.text for m in self.replies()]

    def customer(self):
        return Customer.get((Customer.channel == self.channel_id) & (Customer.external_id == self.external_id))

    def conversation(self):
        return (Conversation.select().where((Conversation.channel == self.channel_id)
                                            & (Conversation.customer == self.customer()))
                .order_by(Conversation.id.desc()).get())


@pytest.fixture(params=["web", "whatsapp"])
def writer(request, client, tenant):
    """A customer on the widget, then on WhatsApp (a fake Cloud API on 127.0.0.1)."""
    if request.param == "web":
        return Writer(client, "web", Channel.create(tenant=tenant.id, kind="web", name="Shop chat").id)
    fake = request.getfixturevalue("fake_whatsapp")
    writer = Writer(client, "whatsapp", connect(client, tenant, fake))
    writer.fake = fake
    return writer
