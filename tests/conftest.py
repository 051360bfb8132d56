"""Shared fixtures: a temp data folder, the real app and database, the real tiny model (loaded once)."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
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
from appliance.records import Channel  # noqa: E402
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


@pytest.fixture
def live_server(app):
    """The app under real waitress on a free loopback port; yields its base URL."""
    import waitress

    server = waitress.create_server(app, host="127.0.0.1", port=0, threads=8)
    thread = threading.Thread(target=server.run, daemon=True)
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
