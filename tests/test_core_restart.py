"""Durability: queued tasks survive a restart, a task lost by kill -9 is re-queued, each answered exactly once."""
import os
import signal
import subprocess
import sys
import time

import requests

from appliance import tasks
from appliance.app import create_app, create_services
from appliance.auth import create_tenant
from appliance.db import database
from appliance.records import Channel, InboundEvent
from tests.conftest import MODELS_DIR, REPO, free_port, make_settings, wait_until


def start_server(data, port):
    env = {**os.environ, "APPLIANCE_MODELS": str(MODELS_DIR), "APPLIANCE_LLM_MAX_TOKENS": "16"}
    return subprocess.Popen([sys.executable, "-m", "appliance", "serve", "--data", str(data), "--port", str(port)],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def replies(base, token):
    headers = {"Authorization": f"Bearer {token}"}
    out = []
    for conversation in requests.get(f"{base}/api/v1/conversations", headers=headers, timeout=10).json()["conversations"]:
        detail = requests.get(f"{base}/api/v1/conversations/{conversation['id']}", headers=headers, timeout=10).json()
        out += [m for m in detail["messages"] if m["direction"] == "out"]
    return out


def test_queued_and_lost_tasks_are_answered_exactly_once_after_restart(tmp_path):
    data = tmp_path / "data"
    settings = make_settings(data, load_models=False)
    services = create_services(settings)
    tasks.use_queue_file(data / "queue.db")
    try:
        tenant, token = create_tenant("Restart Shop")
        channel = Channel.create(tenant=tenant, kind="web", name="chat")
        client = create_app(settings, services).test_client()
        # both messages are stored and rung (one queued task each, up to one per worker); no worker runs here
        assert client.post(f"/widget/{channel.id}/messages", json={"session": "a1", "text": "Are you open today?"}).status_code == 202
        assert client.post(f"/widget/{channel.id}/messages", json={"session": "b2", "text": "Do you deliver?"}).status_code == 202
        assert tasks.huey.pending_count() == 2
        # message a1: huey deletes a task before running it, then kill -9: the task is gone, the row is pending
        assert tasks.huey.dequeue() is not None
        # message b2: the process died mid-answer: the row says processing, a ring is still queued
        InboundEvent.update(status="processing").where(InboundEvent.platform_id.startswith("b2:")).execute()
        assert tasks.huey.pending_count() == 1
    finally:
        tasks.huey.storage.close()
        tasks.use_queue_file(None)
        database.close()

    port = free_port()
    server = start_server(data, port)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: len(replies(base, token)) >= 2 if _up(base) else False, 90, 0.2)
        time.sleep(3)  # b2 is both re-queued at start-up and still queued: the second run must not answer again
        answered = replies(base, token)
        assert len(answered) == 2 and all(m["text"] for m in answered)
        assert len({m["reply_to"] for m in answered}) == 2
        health = requests.get(f"{base}/healthz", timeout=5).json()
        assert health["queue"]["pending_events"] == 0
    finally:
        server.send_signal(signal.SIGTERM)
        output = server.communicate(timeout=60)[0]
    assert server.returncode == 0, output
    assert "stopped" in output


def _up(base):
    try:
        return requests.get(f"{base}/healthz", timeout=2).json()["model"]["status"] == "ready"
    except requests.RequestException:
        return False


def test_healthz_answers_while_models_load_and_sigterm_stops_cleanly(tmp_path):
    data = tmp_path / "data"
    services = create_services(make_settings(data, load_models=False))
    tenant, token = create_tenant("Stop Shop")
    channel = Channel.create(tenant=tenant, kind="web", name="chat")
    database.close()
    del services
    port = free_port()
    started = time.monotonic()
    server = start_server(data, port)
    try:
        first = wait_until(lambda: _health(port), 30, 0.2)
        assert first["status"] in ("loading", "ok") and time.monotonic() - started < 30
        wait_until(lambda: _up(f"http://127.0.0.1:{port}"), 90, 0.2)
        # a customer's open chat stream must not hold up the stop: it is ended, the browser reconnects later
        stream = requests.get(f"http://127.0.0.1:{port}/widget/{channel.id}/events?session=s1", stream=True, timeout=30)
        assert next(stream.iter_lines()) == b": connected"
        admin = requests.get(f"http://127.0.0.1:{port}/api/v1/events", headers={"Authorization": f"Bearer {token}"},
                             stream=True, timeout=30)  # an admin page following the conversations: the same
        admin_lines = admin.iter_lines()
        assert next(admin_lines) == b": connected"
    finally:
        stopping = time.monotonic()
        server.send_signal(signal.SIGTERM)
        output = server.communicate(timeout=60)[0]
    assert server.returncode == 0, output
    assert time.monotonic() - stopping < 3 and "still running" not in output, output
    assert list(stream.iter_lines()) == []  # the server ended the stream cleanly
    assert [line for line in admin_lines if line.startswith(b"event:")] == [b"event: ready"]  # then its end


def _health(port):
    try:
        return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).json()
    except requests.RequestException:
        return None
