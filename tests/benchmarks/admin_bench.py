"""Admin console benchmark: server time of each page for a tenant holding many conversations and messages.

A temp data folder gets one tenant with 10,000 customers and conversations and 200,000 messages (two channels,
50 documents, 20 staff), plus two small tenants; models are not loaded (the pages do not need them). Each page is
requested through the real app (Flask test client: routing, session cookie, CSRF, database, templates; no network)
by a signed-in shop admin, ROUNDS times, and its p50/p95 printed next to a bare Flask route rendering a one-line
template in the same process. Also prints the JS+CSS the console ships. Targets (issue 11): each admin page p95
<= 100 ms, the inbox list (first page, and filtered) <= 50 ms; JS+CSS <= 150 KB uncompressed.

Run: .venv/bin/python tests/benchmarks/admin_bench.py [--quick]
"""
from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

PASSWORD = "bench-password-1"


def fill(tenant_id: str, conversations: int, messages: int) -> None:
    """Customers, conversations and messages in bulk, in one transaction per table."""
    from appliance.db import database
    from appliance.records import Channel, Conversation, Customer, Document, Message, utcnow

    web = Channel.create(tenant=tenant_id, kind="web", name="Site chat")
    Channel.create(tenant=tenant_id, kind="whatsapp", name="WhatsApp", status="needs_attention",
                   status_reason="WhatsApp refused the access token (190).")
    now = utcnow()
    with database.atomic():
        for start in range(0, conversations, 1000):
            Customer.insert_many([{"tenant": tenant_id, "channel": web.id, "external_id": f"s{i}", "name": f"Khách {i}"}
                                  for i in range(start, min(start + 1000, conversations))]).execute()
    customers = [c.id for c in Customer.select(Customer.id).where(Customer.tenant == tenant_id).order_by(Customer.id)]
    with database.atomic():
        for start in range(0, conversations, 1000):
            Conversation.insert_many([{"tenant": tenant_id, "channel": web.id, "customer": customers[i],
                                       "last_message_at": now - timedelta(minutes=i)}
                                      for i in range(start, min(start + 1000, conversations))]).execute()
    ids = [c.id for c in Conversation.select(Conversation.id).where(Conversation.tenant == tenant_id)]
    per = max(messages // len(ids), 1)
    with database.atomic():
        rows = []
        for conversation in ids:
            for n in range(per):
                rows.append({"tenant": tenant_id, "conversation": conversation, "direction": "in" if n % 2 else "out",
                             "sender": "customer" if n % 2 else "bot", "text": f"Tin nhắn số {n} về giá tai nghe",
                             "status": "received" if n % 2 else "read"})
            if len(rows) >= 5000:
                Message.insert_many(rows).execute()
                rows = []
        if rows:
            Message.insert_many(rows).execute()
        Document.insert_many([{"tenant": tenant_id, "name": f"bảng giá {i}.csv", "content_hash": f"h{i}", "kind": "csv",
                               "status": "ready", "progress": 1.0, "chunks": 40} for i in range(50)]).execute()


def measure(client, url: str, rounds: int) -> list[float]:
    """Milliseconds of each GET (after one warm-up request)."""
    assert client.get(url).status_code == 200, url
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, url
    return times


def bare_ms(rounds: int) -> list[float]:
    """The floor: a bare Flask route rendering a one-line template."""
    from flask import Flask, render_template_string

    app = Flask("bare")
    app.add_url_rule("/", "index", lambda: render_template_string("<p>{{ x }}</p>", x="hello"))
    return measure(app.test_client(), "/", rounds)


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) >= 20 else max(values)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 conversations, 20,000 messages, 20 rounds")
    args = parser.parse_args()
    conversations, messages, rounds = (1000, 20000, 20) if args.quick else (10000, 200000, 100)

    from appliance.app import create_app
    from appliance.auth import create_tenant, create_user
    from appliance.config import load_settings
    from appliance.records import Conversation

    data = Path(tempfile.mkdtemp(prefix="admin-bench-"))
    settings = load_settings({"data": data, "models": REPO / "models", "load_models": False}, environ={})
    app = create_app(settings)
    tenant, _ = create_tenant("Phụ kiện Minh Anh")
    create_tenant("Other shop 1")
    create_tenant("Other shop 2")
    started = time.perf_counter()
    fill(tenant.id, conversations, messages)
    print(f"data: {conversations:,} conversations, {messages:,} messages in {time.perf_counter() - started:.1f} s")
    create_user("owner@bench.vn", PASSWORD, "tenant-admin", tenant)
    for i in range(19):
        create_user(f"agent{i}@bench.vn", PASSWORD, "agent", tenant)

    client = app.test_client()
    token = re.search(rb'name="csrf" value="([^"]+)"', client.get("/admin/login").data).group(1).decode()
    assert client.post("/admin/login", data={"email": "owner@bench.vn", "password": PASSWORD,
                                              "csrf": token}).status_code == 302
    pages = ["/admin/", "/admin/account"] + [f"/admin/t/{tenant.id}/{p}" for p in (
        "knowledge", "knowledge/status", "assistant", "channels", "channels/new/whatsapp", "users",
        "setup/channel", "setup/documents", "setup/model", "setup/done")]
    newest = Conversation.select(Conversation.id).where(Conversation.tenant == tenant.id).order_by(
        Conversation.last_message_at.desc()).first()
    lists = [f"/admin/t/{tenant.id}/inbox{q}" for q in ("", "?status=open", "?mine=1")]
    pages += lists + [f"/admin/t/{tenant.id}/inbox/{newest.id}"]
    floor = bare_ms(rounds)
    print(f"{'page':<46} {'p50 ms':>8} {'p95 ms':>8}")
    print(f"{'(bare Flask + one-line template)':<46} {statistics.median(floor):8.2f} {p95(floor):8.2f}")
    worst, inbox = 0.0, 0.0
    for url in pages:
        times = measure(client, url, rounds)
        worst = max(worst, p95(times))
        if url in lists:
            inbox = max(inbox, p95(times))
        label = url.replace(tenant.id, "<t>").replace(f"/inbox/{newest.id}", "/inbox/<id>")
        print(f"{label:<46} {statistics.median(times):8.2f} {p95(times):8.2f}")
    print(f"slowest page p95: {worst:.1f} ms (target <= 100 ms)")
    print(f"slowest inbox list p95: {inbox:.1f} ms (target <= 50 ms)")
    static = REPO / "appliance" / "web" / "static"
    shipped = sum(p.stat().st_size for p in static.iterdir() if p.suffix in (".js", ".css"))
    print(f"JS+CSS shipped: {shipped / 1024:.1f} KB uncompressed (target <= 150 KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
