"""The first-run wizard (issue 11): shown on the overview until finished, resumable, each step doing its job through
the same functions as the full pages."""
import re

from appliance.records import Channel, Document, Tenant
from tests.test_admin_console import SHOP, field_error, owner, post, signed_in, upload  # noqa: F401 (fixture)

BANNER = "Finish setting up this shop"


def test_the_wizard_is_offered_until_finished_and_resumes_where_it_was_left(client, tenant, owner):  # noqa: F811
    assert BANNER in client.get("/admin/").get_data(as_text=True)
    start = client.get(f"/admin/t/{tenant.id}/setup")
    assert start.headers["Location"] == f"/admin/t/{tenant.id}/setup/channel"
    assert client.get(f"/admin/t/{tenant.id}/setup/model").status_code == 200
    assert Tenant.get_by_id(tenant.id).setup_step == "model"
    assert client.get(f"/admin/t/{tenant.id}/setup").headers["Location"] == f"/admin/t/{tenant.id}/setup/model"
    assert client.get(f"/admin/t/{tenant.id}/setup/nowhere").status_code == 404


def test_the_wizard_end_to_end(client, tenant, owner):  # noqa: F811
    base = f"/admin/t/{tenant.id}/setup"
    step1 = client.get(f"{base}/channel").get_data(as_text=True)
    assert f"/admin/t/{tenant.id}/channels/new/whatsapp?setup=documents" in step1
    connected = post(client, f"/admin/t/{tenant.id}/channels/new/web?setup=documents", {"name": "Site chat"})
    assert f'href="{base}/documents"' in connected.get_data(as_text=True)

    assert upload(client, tenant.id, "faq.md", (SHOP / "faq.md").read_bytes(), url=f"{base}/documents").status_code == 302
    step2 = client.get(f"{base}/documents").get_data(as_text=True)
    assert Document.get(Document.tenant == tenant.id).status == "ready" and "faq.md" in step2 and "Ready" in step2
    refused = upload(client, tenant.id, "empty.txt", b"", url=f"{base}/documents")
    assert refused.status_code == 422 and field_error(refused.data, "file")

    wrong = post(client, f"{base}/model", {"model": "local", "local_model": "../x.gguf", "cloud_policy": "never"})
    assert wrong.status_code == 422 and field_error(wrong.data, "local_model")
    chosen = post(client, f"{base}/model", {"model": "local", "local_model": "gemma-3-270m-q4_k_m.gguf",
                                             "cloud_policy": "never", "cloud_base_url": "", "cloud_model": ""})
    assert chosen.headers["Location"] == f"{base}/test"
    assert Tenant.get_by_id(tenant.id).assistant["local_model"] == "gemma-3-270m-q4_k_m.gguf"

    trial = post(client, f"{base}/test", {"text": "What are your opening hours?"}).get_data(as_text=True)
    assert "Made by: extract" in trial and "<li>faq.md" in trial

    done = client.get(f"{base}/done").get_data(as_text=True)
    channel = Channel.get(Channel.tenant == tenant.id)
    assert f"/widget/{channel.id}.js" in done
    finished = post(client, f"{base}/done")
    assert finished.status_code == 302 and Tenant.get_by_id(tenant.id).setup_step == "done"
    overview = client.get(finished.headers["Location"]).get_data(as_text=True)
    assert "is set up" in overview and BANNER not in overview
    assert client.get(f"{base}/channel").status_code == 200 and Tenant.get_by_id(tenant.id).setup_step == "done"


def test_agents_and_other_tenants_cannot_use_the_wizard(app, client, tenant, other_tenant, owner):  # noqa: F811
    agent = signed_in(app, "agent@lan.vn", "agent", tenant.tenant)
    assert BANNER not in agent.get("/admin/").get_data(as_text=True)
    assert agent.get(f"/admin/t/{tenant.id}/setup/channel").status_code == 403
    assert client.get(f"/admin/t/{other_tenant.id}/setup/channel").status_code == 404
    assert post(client, f"/admin/t/{other_tenant.id}/setup/done").status_code == 404
    assert Tenant.get_by_id(other_tenant.id).setup_step == ""
    assert post(client, f"/admin/t/{tenant.id}/setup/channel").status_code == 405
    assert client.post(f"/admin/t/{tenant.id}/setup/done").status_code == 400  # no CSRF token
    assert Tenant.get_by_id(tenant.id).setup_step == ""


def test_the_wizard_in_vietnamese(client, tenant, owner):  # noqa: F811
    page = client.get(f"/admin/t/{tenant.id}/setup/documents", headers={"Accept-Language": "vi"})
    text = page.get_data(as_text=True)
    assert "Tải tài liệu lên" in text and re.search(r"Bước 2 trên 5", text)


def test_migration_11_counts_shops_already_answering_as_set_up(tmp_path):
    from appliance.auth import create_tenant
    from appliance.db import database, open_database

    path = tmp_path / "old.db"
    open_database(path)
    answering, _ = create_tenant("Answering shop")
    Document.create(tenant=answering.id, name="faq.md", content_hash="x", kind="md")
    fresh, _ = create_tenant("Demo shop")
    Channel.create(tenant=fresh.id, kind="web", name="Chat")
    database.execute_sql('ALTER TABLE "tenant" DROP COLUMN "setup_step"')  # as a version 10 file had it
    database.execute_sql("PRAGMA user_version = 10")
    open_database(path)
    try:
        assert Tenant.get_by_id(answering.id).setup_step == "done"
        assert Tenant.get_by_id(fresh.id).setup_step == ""
    finally:
        database.close()
