"""A flow interrupted by kill -9 of a real `appliance serve` continues where it stopped after the next start: a
customer waiting on an ask answers it, and a delayed run sends its next message (rows are the ledger)."""
from __future__ import annotations

import requests

from appliance.app import create_services
from appliance.auth import create_tenant
from appliance.automation import flows
from appliance.config import store_setting
from appliance.db import database
from appliance.records import Channel
from tests.conftest import free_port, health_of, make_settings, start_server, wait_until

BOOKING = {"name": "Booking", "triggers": [{"type": "keyword", "keywords": ["book"]}], "start": "hi", "steps": [
    {"id": "hi", "type": "send", "text": "Let's book.", "next": "phone"},
    {"id": "phone", "type": "ask", "text": "Your phone?", "validate": "phone", "field": "phone", "next": "day"},
    {"id": "day", "type": "ask", "text": "Which day?", "validate": "date", "field": "day", "next": "done"},
    {"id": "done", "type": "send", "text": "Booked."}]}
REMINDER = {"name": "Reminder", "triggers": [{"type": "keyword", "keywords": ["remind"]}], "start": "ok", "steps": [
    {"id": "ok", "type": "send", "text": "A reminder comes in a moment.", "next": "wait"},
    {"id": "wait", "type": "delay", "seconds": 5, "next": "remind"},
    {"id": "remind", "type": "send", "text": "Reminder: your roses are ready."}]}


class Shop:
    """A data folder with a tenant, a web channel and the two flows; `serve()` starts `appliance serve` on it."""

    def __init__(self, tmp_path):
        self.data = tmp_path / "data"
        create_services(make_settings(self.data, load_models=False))
        tenant, self.token = create_tenant("Restart Flowers")
        self.channel = Channel.create(tenant=tenant, kind="web", name="chat").id
        for body in (BOOKING, REMINDER):
            flows.create(tenant.id, body, active=True)
        database.close()
        store_setting(self.data, "load_models", False)  # flows need no model: the server is up in seconds
        self.server = None

    def serve(self):
        self.port = free_port()
        self.server = start_server(self.data, self.port)
        wait_until(lambda: health_of(self.port), 60, 0.2)

    def kill(self) -> None:
        self.server.kill()  # SIGKILL: no clean-up of any kind
        self.server.communicate(timeout=30)

    def stop(self) -> None:
        if self.server is not None and self.server.poll() is None:
            self.server.terminate()
            self.server.communicate(timeout=60)

    def says(self, session: str, text: str) -> None:
        response = requests.post(f"http://127.0.0.1:{self.port}/widget/{self.channel}/messages",
                                 json={"session": session, "text": text}, timeout=10)
        assert response.status_code == 202, response.text

    def replies(self) -> list[str]:
        base, headers = f"http://127.0.0.1:{self.port}/api/v1", {"Authorization": f"Bearer {self.token}"}
        out = []
        for conversation in requests.get(f"{base}/conversations", headers=headers, timeout=10).json()["conversations"]:
            detail = requests.get(f"{base}/conversations/{conversation['id']}", headers=headers, timeout=10).json()
            out += [m["text"] for m in detail["messages"] if m["direction"] == "out"]
        return out

    def running(self) -> int:
        """Customers in a flow now (GET /flows)."""
        listed = requests.get(f"http://127.0.0.1:{self.port}/api/v1/flows",
                              headers={"Authorization": f"Bearer {self.token}"}, timeout=10).json()["flows"]
        return sum(flow["running"] for flow in listed)


def test_a_customer_waiting_on_an_ask_answers_after_a_kill_9(tmp_path):
    shop = Shop(tmp_path)
    try:
        shop.serve()
        shop.says("s1", "I want to book")
        wait_until(lambda: shop.replies() == ["Let's book.", "Your phone?"], 60, 0.2)
        shop.kill()
        shop.serve()
        shop.says("s1", "0912 345 678")
        wait_until(lambda: len(shop.replies()) == 3, 60, 0.2)
        assert shop.replies()[-1] == "Which day?"  # the same run, at the step after the one it waited on
        shop.says("s1", "5/3/2027")
        wait_until(lambda: len(shop.replies()) == 4, 60, 0.2)
        assert shop.replies()[-1] == "Booked." and shop.running() == 0
    finally:
        shop.stop()


def test_a_delayed_run_sends_its_next_message_after_a_kill_9(tmp_path):
    shop = Shop(tmp_path)
    try:
        shop.serve()
        shop.says("s2", "remind me please")
        wait_until(lambda: shop.replies() == ["A reminder comes in a moment."], 60, 0.1)
        shop.kill()  # within the 5 s delay: the run row says "delayed", the ring may be lost with the process
        shop.serve()
        wait_until(lambda: shop.running() == 0, 90, 0.2)
        assert shop.replies() == ["A reminder comes in a moment.", "Reminder: your roses are ready."]
    finally:
        shop.stop()
