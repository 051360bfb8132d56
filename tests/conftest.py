"""Shared fixtures and helpers: a temp data folder, the real app and database, the real tiny model (loaded once),
the sample shops, the admin page, the command line, a headless browser and the outbox's rows. Test modules import
helpers from here (and the fake platforms from fakes.py), never from each other."""
from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import textwrap
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from appliance import tasks  # noqa: E402
from appliance.app import Services, create_app  # noqa: E402
from appliance.assistant.llm import Models  # noqa: E402
from appliance.auth import create_tenant, issue_token  # noqa: E402
from appliance.config import load_settings  # noqa: E402
from appliance.db import database, open_database  # noqa: E402
from appliance.records import Channel, Conversation, Customer, InboundEvent, Message  # noqa: E402
from appliance.vault import Vault  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
MODELS_DIR = REPO / "models"  # the default GGUF is assembled here once and shared by all tests


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: builds or runs something big (the binary); still runs in CI")


def make_settings(data: Path, **overrides):
    """Settings for a test: temp data folder, shared models folder, small replies."""
    values = {"data": data, "models": MODELS_DIR, "llm_max_tokens": 24, "port": 0}
    values.update(overrides)
    return load_settings(values, environ={})


@pytest.fixture(scope="session")
def shared_models():
    """The real default model, loaded once for the whole run."""
    models = Models(make_settings(Path("/nonexistent-unused")))
    models.load()
    assert models.status == "ready", models.error
    yield models
    models.close()


@pytest.fixture
def settings(tmp_path):
    return make_settings(tmp_path / "data")


@pytest.fixture
def services(settings, shared_models):
    """Opened data folder with the shared model; tasks run immediately (in the caller's thread)."""
    settings.data.mkdir(parents=True, exist_ok=True)
    open_database(settings.data / "appliance.db")
    shared_models.stopping.clear()  # the models are shared by every test: one test's "stop" must not reach the next
    svc = Services(settings=settings, vault=Vault.open(settings.data), models=shared_models)
    tasks.bind(svc)
    tasks.use_queue_file(None)
    yield svc
    database.close()


@pytest.fixture
def app(settings, services):
    flask_app = create_app(settings, services)
    flask_app.testing = True
    return flask_app


@pytest.fixture
def client(app):
    return app.test_client()


class TenantHandle:
    """A tenant with its API token and ready-made auth headers."""

    def __init__(self, tenant, token):
        self.tenant, self.id, self.token = tenant, tenant.id, token
        self.headers = {"Authorization": f"Bearer {token}"}


@pytest.fixture
def tenant(services):
    return TenantHandle(*create_tenant("Lan's Flower Shop"))


@pytest.fixture
def other_tenant(services):
    return TenantHandle(*create_tenant("Other Shop"))


@pytest.fixture
def admin_headers(services):
    return {"Authorization": f"Bearer {issue_token('platform-admin', None)}"}


@pytest.fixture
def web_channel(tenant):
    return Channel.create(tenant=tenant.id, kind="web", name="Shop chat")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve(server) -> None:
    """Run a waitress server until it is closed (its sockets closed under the loop by a fixture's teardown)."""
    try:
        server.run()
    except OSError:
        pass


@pytest.fixture
def live_server(app):
    """The app under real waitress on a free loopback port; yields its base URL."""
    import waitress

    server = waitress.create_server(app, host="127.0.0.1", port=0, threads=8)
    thread = threading.Thread(target=serve, args=(server,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.effective_port}"
    server.close()


def post_json(client, url, body, headers=None):
    return client.post(url, data=json.dumps(body), headers={"Content-Type": "application/json", **(headers or {})})


def assert_error(response, status, code):
    """The one error shape, with this status and code (a Flask test response or a requests one)."""
    assert response.status_code == status
    body = response.get_json() if hasattr(response, "get_json") else response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert body["error"]["code"] == code
    assert body["error"]["message"].endswith(".") and "Traceback" not in body["error"]["message"]


def wait_until(predicate, seconds: float = 60.0, every: float = 0.05):
    """Poll until predicate() is truthy; its value."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError("condition not reached in time")


def run_benchmark(script: str, *args: str) -> str:
    """Run a benchmark script in --quick mode (plus `args`); its output (it must exit 0)."""
    result = subprocess.run([sys.executable, f"tests/benchmarks/{script}", "--quick", *args], cwd=REPO,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


# --- the admin page and the command line --------------------------------------------------------------------

def csrf(page: bytes) -> str:
    """The CSRF token of an admin page's form."""
    return re.search(rb'name="csrf" value="([^"]+)"', page).group(1).decode()


def admin_login(client, email, password):
    """Sign in on the admin page like a browser: the form's CSRF token, then the POST."""
    token = csrf(client.get("/admin/login").data)
    return client.post("/admin/login", data={"email": email, "password": password, "csrf": token})


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\ssrc=)[^>]*>|\son[a-z]+\s*=", re.IGNORECASE)


def assert_page_policies(response):
    """An HTML page's security headers (CSP without inline script, no framing, nosniff) and no inline script."""
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]
    assert "frame-ancestors 'none'" in policy and "default-src 'self'" in policy
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert not INLINE_SCRIPT.search(response.get_data(as_text=True)), "inline script would be blocked by the CSP"


OWNER_PASSWORD = "flowers-4-all"


@pytest.fixture
def owner(client, tenant):
    """The tenant's admin, signed in on `client`."""
    from appliance.auth import create_user

    user = create_user("owner@lan.vn", OWNER_PASSWORD, "tenant-admin", tenant.tenant)
    assert admin_login(client, "owner@lan.vn", OWNER_PASSWORD).status_code == 302
    return user


def signed_in(app, email: str, role: str, tenant=None):
    """Another browser with its own user signed in."""
    from appliance.auth import create_user

    create_user(email, OWNER_PASSWORD, role, tenant)
    browser = app.test_client()
    assert admin_login(browser, email, OWNER_PASSWORD).status_code == 302
    return browser


def form_token(client, url: str = "/admin/account") -> str:
    """The session's CSRF token, read from an admin page."""
    return csrf(client.get(url).data)


def form_post(client, url: str, data: dict | None = None, **kwargs):
    """An admin form POST with the session's CSRF token."""
    return client.post(url, data={**(data or {}), "csrf": form_token(client)}, **kwargs)


def form_upload(client, tenant_id: str, name: str, data: bytes, url: str | None = None):
    """A document uploaded through the admin page's knowledge form (or the form at `url`)."""
    import io

    return client.post(url or f"/admin/t/{tenant_id}/knowledge", content_type="multipart/form-data",
                       data={"csrf": form_token(client), "file": (io.BytesIO(data), name)})


def field_error(page: bytes, name: str) -> str:
    """The error shown right under form field `name` (linked to it by aria-describedby), or ''."""
    html = page.decode()
    control = re.search(rf'<(?:input|select|textarea) id="f-{name}"[^>]*>', html)
    assert control, f"no field {name}"
    if 'aria-invalid="true"' not in control.group(0) or f"e-{name}" not in control.group(0):
        return ""
    return re.search(rf'<p class="error" id="e-{name}">([^<]*)</p>', html).group(1)


def run_cli(data, *args, stdin=None, env=None):
    """`python -m appliance --data DATA ...` as a real subprocess, as a reseller would run it."""
    environ = {**os.environ, "APPLIANCE_MODELS": str(MODELS_DIR), "APPLIANCE_LLM_MAX_TOKENS": "16", **(env or {})}
    return subprocess.run([sys.executable, "-m", "appliance", "--data", str(data), *args], cwd=REPO, input=stdin,
                          capture_output=True, text=True, env=environ, timeout=300)


def start_server(data, port):
    """`appliance serve` on the data folder and port, as a subprocess (stdout and stderr together)."""
    env = {**os.environ, "APPLIANCE_MODELS": str(MODELS_DIR), "APPLIANCE_LLM_MAX_TOKENS": "16"}
    return subprocess.Popen([sys.executable, "-m", "appliance", "serve", "--data", str(data), "--port", str(port)],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def health_of(port):
    """A running server's /healthz body, or None while it does not answer."""
    import requests

    try:
        return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).json()
    except requests.RequestException:
        return None


def read_events(lines, until="message", limit=400):
    """Parse SSE frames from an iterator of lines until an event named `until`."""
    events, current = [], {}
    for line in lines:
        if line.startswith("event: "):
            current["event"] = line[7:]
        elif line.startswith("data: "):
            current["data"] = json.loads(line[6:])
        elif line == "" and current:
            events.append(current)
            if current.get("event") == until or len(events) > limit:
                break
            current = {}
    return events


# --- a real headless Chromium -------------------------------------------------------------------------------

needs_chromium = pytest.mark.skipif(not shutil.which("chromedriver"), reason="test.sh installs chromium and chromium-driver")


@pytest.fixture
def browser(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1000,800"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    yield driver
    driver.quit()


def ask_bubble(browser, page: str, text: str, seconds: float):
    """Open the page, click the bubble, send `text`; the bot's reply element once it is stored."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(page)
    wait = WebDriverWait(browser, seconds)
    wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, ".apl-bubble"))).click()
    box = wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, ".apl-form input")))
    box.send_keys(text)
    browser.find_element(By.CSS_SELECTOR, ".apl-form button").click()
    return wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".apl-bot[data-message-id]")))


# --- the outbox: conversations and queued replies ------------------------------------------------------------

def conversation_for(channel_id: str, kind: str, last_inbound_hours: float = 0.1):
    """A conversation with the sample user of `kind` (USERS) on the channel, who last wrote that many hours ago."""
    from appliance.records import Conversation, Customer, utcnow
    from tests.fakes import USERS

    channel = Channel.get_by_id(channel_id)
    customer = Customer.create(tenant=channel.tenant_id, channel=channel, external_id=USERS[kind], name="Lan",
                               last_inbound_at=utcnow() - timedelta(hours=last_inbound_hours),
                               custom_fields={"phone": "84901234567"})
    return Conversation.create(tenant=channel.tenant_id, channel=channel, customer=customer)


def queue_reply(services, conversation, text="Hello from the shop", **payload):
    """A bot reply handed to the outbox; the row as it is after the first attempt."""
    from appliance import outbox
    from appliance.records import Message

    message = Message.create(tenant=conversation.tenant_id, conversation=conversation, direction="out", sender="bot",
                             text=text, status="pending", payload=payload or None)
    outbox.hand_over(services, message)
    return Message.get_by_id(message.id)


def make_due(message) -> None:
    """Make a scheduled retry due now."""
    from appliance.records import Message, utcnow

    Message.update(next_attempt_at=utcnow() - timedelta(seconds=1)).where(Message.id == message.id).execute()


def fresh(message):
    """The message's row as stored now."""
    from appliance.records import Message

    return Message.get_by_id(message.id)


# --- the sample shops: documents and their ingestion ---------------------------------------------------------

SHOP = Path(__file__).resolve().parent / "data" / "shop"


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def pdf_bytes(pages: list[list[str]], draw_only: bool = False) -> bytes:
    """A valid PDF 1.4 with one Helvetica text line per list item; `draw_only` pages hold a rectangle and no text."""
    objects: list[bytes] = []
    page_ids = [4 + 2 * i for i in range(len(pages))]
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    kids = " ".join(f"{i} 0 R" for i in page_ids)
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode())
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    for page_id, lines in zip(page_ids, pages):
        if draw_only:
            stream = b"0.5 g 72 500 300 200 re f"
        else:
            body = " T* ".join(f"({_escape(line)}) Tj" for line in lines)
            stream = f"BT /F1 11 Tf 14 TL 60 780 Td {body} ET".encode("cp1252")
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 3 0 R >> >> "
                       f"/Contents {page_id + 1} 0 R >>".encode())
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    return pdf_file(objects, b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")


def pdf_file(objects: list[bytes], header: bytes = b"%PDF-1.4\n") -> bytes:
    """The PDF file holding these objects (numbered from 1; object 1 is the catalog) with its xref table."""
    out = bytearray(header)
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def wrap_paragraphs(paragraphs: list[str], width: int = 90, lines_per_page: int = 50) -> list[list[str]]:
    """Paragraphs as wrapped lines split into pages (a blank line between paragraphs)."""
    lines: list[str] = []
    for paragraph in paragraphs:
        lines.extend(textwrap.wrap(paragraph, width) or [""])
        lines.append("")
    return [lines[i:i + lines_per_page] for i in range(0, len(lines), lines_per_page)]


def shop_files() -> list[Path]:
    """The sample shop's documents."""
    return [SHOP / "products.csv", SHOP / "faq.md", SHOP / "policy.pdf"]


def shop_questions() -> list[dict]:
    """~30 questions, each labelled with the document that answers it."""
    return json.loads((SHOP / "questions.json").read_text(encoding="utf-8"))


ACCESSORY_SHOP = Path(__file__).resolve().parent / "data" / "accessory_shop"
ACCESSORY_FILES = ("san-pham.csv", "hoi-dap.md", "chinh-sach.txt", "hoa-don.txt")
OFF_TOPIC = "Who won the football world cup in 1998?"


def accessory_text(name: str) -> str:
    """One document of the Vietnamese phone-accessory shop."""
    return (ACCESSORY_SHOP / name).read_text(encoding="utf-8")


def ingest_files(services, tenant_id: str, paths) -> None:
    """Store and process documents for the tenant, each ending ready."""
    from appliance.assistant.ingest import process, store_upload

    for path in paths:
        document, _ = store_upload(services.settings, tenant_id, path.name, path.read_bytes())
        assert process(services, document.id).status == "ready"


def upload_text(services, tenant_id: str, name: str, text: str):
    """Store and process one document given as text; the ready Document."""
    from appliance.assistant.ingest import process, store_upload

    document, _ = store_upload(services.settings, tenant_id, name, text.encode())
    document = process(services, document.id)
    assert document.status == "ready", document.error
    return document


def configure(tenant_id: str, **values):
    """Change the tenant's assistant settings."""
    from appliance.records import Tenant

    tenant = Tenant.get_by_id(tenant_id)
    tenant.assistant = {**(tenant.assistant or {}), **values}
    tenant.save()
    return tenant


def ask(services, tenant_id: str, question: str):
    """The tenant's assistant's answer to one question, outside any conversation."""
    from appliance.assistant.answer import answer
    from appliance.records import Tenant

    return answer(services, Tenant.get_by_id(tenant_id), [], question)


@pytest.fixture
def shop(services, tenant):
    """The tenant with the sample shop (tests/data/shop: product CSV, FAQ, policy PDF) ingested."""
    ingest_files(services, tenant.id, shop_files())
    return tenant


@pytest.fixture
def accessory_shop(services, tenant):
    """A Vietnamese phone-accessory shop: a products table, an FAQ, a returns policy and a Q/A sheet."""
    for name in ACCESSORY_FILES:
        upload_text(services, tenant.id, name, accessory_text(name))
    return tenant


# --- the inbox: customers writing, staff signing in (tests/test_inbox_api.py, test_admin_*.py) --------------

HUMAN = "Can I talk to a person?"


def say(client, channel, session, text):
    """A widget customer writes; the conversation it went to."""
    response = post_json(client, f"/widget/{channel.id}/messages", {"session": session, "text": text})
    assert response.status_code == 202, response.get_json()
    return Customer.get(Customer.external_id == session).conversations.order_by(Conversation.id.desc()).first()


def whatsapp_text(n: int, text: str) -> bytes:
    """A signed-ready WhatsApp webhook with one customer text (a new message id per n)."""
    from tests.fakes import CREDENTIALS

    return json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{
        "field": "messages", "value": {
            "messaging_product": "whatsapp", "metadata": {"phone_number_id": CREDENTIALS["whatsapp"]["phone_number_id"]},
            "contacts": [{"profile": {"name": "Lan"}, "wa_id": "84901234567"}],
            "messages": [{"from": "84901234567", "id": f"wamid.handoff.{n}", "timestamp": "1763790000",
                          "type": "text", "text": {"body": text}}]}}]}]}).encode()


def customer_writes(client, channel_id, n, text) -> Message:
    """A WhatsApp customer writes through the signed webhook; the stored message, once it was handled."""
    from tests.fakes import signed_headers

    raw = whatsapp_text(n, text)
    assert client.post(f"/webhooks/whatsapp/{channel_id}", data=raw, headers=signed_headers("whatsapp", raw)).status_code == 200
    assert InboundEvent.get(InboundEvent.platform_id == f"wamid.handoff.{n}").status == "done"  # handled, answered or not
    return Message.get(Message.platform_id == f"wamid.handoff.{n}")


def no_horizontal_scroll(driver) -> bool:
    """Whether the page fits the window's width."""
    return driver.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")


def sign_in(browser, base: str, email: str, password: str) -> None:
    """Fill in the login form and send it; returns once the next page has replaced it."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(base + "/admin/login")
    browser.find_element(By.ID, "email").send_keys(email)
    browser.find_element(By.ID, "password").send_keys(password)
    page = browser.find_element(By.TAG_NAME, "html")
    browser.find_element(By.CSS_SELECTOR, "main button[type=submit]").click()
    WebDriverWait(browser, 30).until(ec.staleness_of(page))
