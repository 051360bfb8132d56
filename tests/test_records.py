"""records.py: JSON columns through playhouse's JSONField, and the raw SQL of the webhook path behind classmethods."""
from appliance.db import database
from appliance.records import Channel, InboundEvent, Tenant


def test_rows_written_by_the_earlier_json_column_read_back_unchanged(services, tenant):
    # the hand-written field stored json.dumps(value, ensure_ascii=False): spaces after separators, text as itself
    database.execute_sql('UPDATE tenant SET assistant = ? WHERE id = ?',
                         ('{"persona": "Cửa hàng hoa Lan", "history_length": 6, "cloud": {"model": "x"}}', tenant.id))
    assert Tenant.get_by_id(tenant.id).assistant == {"persona": "Cửa hàng hoa Lan", "history_length": 6,
                                                     "cloud": {"model": "x"}}


def test_json_columns_store_compact_text_without_escapes(services, tenant):
    Tenant.update(assistant={"persona": "Cửa hàng hoa Lan", "tags": ["vip"]}).where(Tenant.id == tenant.id).execute()
    raw = database.execute_sql("SELECT assistant FROM tenant WHERE id = ?", (tenant.id,)).fetchone()[0]
    assert raw == '{"persona":"Cửa hàng hoa Lan","tags":["vip"]}'


def test_store_new_ignores_redeliveries_and_returns_only_new_ids(services, web_channel):
    first = InboundEvent.store_new(web_channel.tenant_id, web_channel.id,
                                   [("m1", "text", '{"user_id":"s1"}'), ("m2", "text", '{"user_id":"s1"}')])
    again = InboundEvent.store_new(web_channel.tenant_id, web_channel.id,
                                   [("m2", "text", '{"user_id":"s1"}'), ("m3", "text", '{"user_id":"s2"}')])
    assert len(first) == 2 and len(again) == 1 and again[0] > max(first)
    assert [e.platform_id for e in InboundEvent.select().order_by(InboundEvent.id)] == ["m1", "m2", "m3"]
    assert InboundEvent.get_by_id(again[0]).payload == {"user_id": "s2"}


def test_status_events_are_found_by_json_path(services, web_channel):
    status = '{"status":{"message_id":"wamid.9","ref":"appliance:7"}}'
    [event_id] = InboundEvent.store_new(web_channel.tenant_id, web_channel.id, [("st1", "status", status)])
    assert [e.id for e in InboundEvent.waiting_status(web_channel.id, "appliance:7")] == [event_id]
    assert InboundEvent.waiting_status(web_channel.id, "appliance:8") == []
    InboundEvent.update(status="waiting").where(InboundEvent.id == event_id).execute()
    assert [e.id for e in InboundEvent.waiting_for(web_channel.id, "wamid.9")] == [event_id]
    assert InboundEvent.waiting_for(web_channel.id, "wamid.10") == []


def test_the_webhook_target_is_a_connected_channel_of_that_kind(services, tenant):
    channel = Channel.create(tenant=tenant.id, kind="telegram", credentials="sealed")
    found = Channel.webhook_target(channel.id, "telegram")
    assert (found.id, found.tenant_id, found.credentials) == (channel.id, tenant.id, "sealed")
    assert Channel.webhook_target(channel.id, "whatsapp") is None
    Channel.update(deleted=True).where(Channel.id == channel.id).execute()
    assert Channel.webhook_target(channel.id, "telegram") is None and Channel.live(channel.id) is None
