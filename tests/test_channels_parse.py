"""Every payload sample parses into the right Inbound events; outbound renders stay within each platform's limits."""
import dataclasses

import pytest

from appliance.channels import Inbound, Outbound
from appliance.channels import messenger, telegram, whatsapp, zalo
from appliance.channels.platform import PayloadError, SignatureError
from tests.fakes import CREDENTIALS, sample, signed_headers

MODULES = {"whatsapp": whatsapp, "messenger": messenger, "zalo": zalo, "telegram": telegram}

CASES = [
    # platform, sample, kind, expected fields
    ("whatsapp", "text.json", "text", {"text": "Xin chào, do you sell roses?", "user_id": "84901234567", "user_name": "Lan Nguyễn"}),
    ("whatsapp", "image.json", "media", {"media": {"type": "image", "id": "1003383421387256", "mime_type": "image/jpeg"}, "text": "this one"}),
    ("whatsapp", "interactive_button.json", "button", {"button_id": "opening_hours", "text": "Opening hours"}),
    ("whatsapp", "list_reply.json", "button", {"button_id": "roses_red", "text": "Red roses"}),
    ("whatsapp", "template_button.json", "button", {"button_id": "reorder", "text": "Order again"}),
    ("whatsapp", "location.json", "location", {"location": {"latitude": 10.7769, "longitude": 106.7009, "name": "Ben Thanh", "address": "Lê Lợi, Q1"}}),
    ("whatsapp", "reaction.json", "reaction", {"reaction": {"message_id": "wamid.OUT1", "emoji": "\U0001F44D"}}),
    ("whatsapp", "unreaction.json", "reaction", {"reaction": {"message_id": "wamid.OUT1", "emoji": ""}}),
    ("whatsapp", "contacts.json", "media", {"media": {"type": "contacts", "count": 1}}),
    ("whatsapp", "unsupported.json", "unknown", {"platform_id": "wamid.UNS1"}),
    ("whatsapp", "status_read.json", "status", {"platform_id": "wamid.OUT1:read", "status": {"message_id": "wamid.OUT1", "status": "read", "error": None}}),
    ("whatsapp", "status_failed.json", "status", {"status": {"message_id": "wamid.OUT1", "status": "failed", "error": "131026: Message undeliverable"}}),
    ("messenger", "text.json", "text", {"platform_id": "m_AbCdEf123", "user_id": "7021234567890123"}),
    ("messenger", "quick_reply.json", "button", {"button_id": "opening_hours", "text": "Opening hours"}),
    ("messenger", "postback.json", "button", {"button_id": "GET_STARTED", "platform_id": "m_PB1"}),
    ("messenger", "image.json", "media", {"media": {"type": "image", "url": "https://scontent.example/photo.jpg"}}),
    ("messenger", "delivery.json", "status", {"status": {"message_id": None, "message_ids": ["m_OUT1"], "status": "delivered", "watermark": 1763790009000}}),
    ("messenger", "read.json", "status", {"status": {"message_id": None, "status": "read", "watermark": 1763790009000}}),
    ("messenger", "reaction.json", "reaction", {"reaction": {"message_id": "m_OUT1", "emoji": "\u2764\uFE0F"}}),
    ("zalo", "user_send_text.json", "text", {"platform_id": "96d3cdf3af150460909", "user_id": "2512523625412515", "text": "Shop mở cửa lúc mấy giờ?"}),
    ("zalo", "user_send_image.json", "media", {"media": {"type": "image", "url": "https://zalo.example/i.jpg", "thumbnail": "https://zalo.example/t.jpg"}}),
    ("zalo", "user_send_sticker.json", "media", {"media": {"type": "sticker", "url": "https://zalo.example/s.png", "thumbnail": None}}),
    ("zalo", "user_send_location.json", "location", {"location": {"latitude": "10.7769", "longitude": "106.7009"}}),
    ("zalo", "follow.json", "follow", {"user_id": "2512523625412515"}),
    ("zalo", "unfollow.json", "unfollow", {"user_id": "2512523625412515"}),
    ("zalo", "user_seen_message.json", "status", {"status": {"message_id": None, "message_ids": ["zmsg.OUT1"], "status": "read"}}),
    ("zalo", "user_submit_info.json", "unknown", {}),
    ("telegram", "text.json", "text", {"platform_id": "871234501", "user_id": "123456789", "user_name": "Lan", "text": "Do you have tulips?"}),
    ("telegram", "photo.json", "media", {"media": {"type": "image", "id": "AgAD-large"}, "text": "like this"}),
    ("telegram", "location.json", "location", {"location": {"latitude": 10.7769, "longitude": 106.7009}}),
    ("telegram", "callback_query.json", "button", {"button_id": "opening_hours", "user_id": "123456789"}),
    ("telegram", "my_chat_member_blocked.json", "unfollow", {"user_id": "123456789"}),
    ("telegram", "edited_message.json", "unknown", {"platform_id": "871234506"}),
]


@pytest.mark.parametrize("platform,name,kind,fields", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_samples_parse(platform, name, kind, fields):
    raw = sample(platform, name)
    MODULES[platform].check_signature(raw, signed_headers(platform, raw), CREDENTIALS[platform])
    events = MODULES[platform].parse(raw)
    assert len(events) == 1
    event = events[0]
    assert event.kind == kind and event.platform_id and event.raw
    for key, value in fields.items():
        assert getattr(event, key) == value, key
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.text = "changed"  # type: ignore[misc]
    assert Inbound.from_json(event.as_json()) == event


def test_media_is_described_to_the_assistant():
    image = whatsapp.parse(sample("whatsapp", "image.json"))[0]
    assert image.describe() == "[image] this one"
    assert telegram.parse(sample("telegram", "location.json"))[0].describe() == "[location]"


def test_batches_and_echoes():
    assert [e.kind for e in whatsapp.parse(sample("whatsapp", "batch.json"))] == ["text", "text", "status"]
    assert [e.platform_id for e in messenger.parse(sample("messenger", "batch.json"))][:2] == ["m_B1", "m_B2"]
    assert messenger.parse(sample("messenger", "echo.json")) == []
    assert zalo.parse(sample("zalo", "oa_send_text.json")) == []


def test_zalo_ids_stay_strings_and_unknown_fields_are_ignored():
    raw = sample("zalo", "user_send_text.json").replace(b'"user_id_by_app"', b'"new_field": {"x": 1}, "user_id_by_app"')
    event = zalo.parse(raw)[0]
    assert event.user_id == "2512523625412515" and isinstance(event.timestamp, str)


def test_zalo_signature_accepts_header_with_or_without_prefix():
    raw = sample("zalo", "user_send_text.json")
    mac = signed_headers("zalo", raw)["X-ZEvent-Signature"]
    zalo.check_signature(raw, {"X-ZEvent-Signature": mac[4:]}, CREDENTIALS["zalo"])
    with pytest.raises(SignatureError):
        zalo.check_signature(raw, {"X-ZEvent-Signature": mac}, {**CREDENTIALS["zalo"], "oa_secret_key": "other"})


def test_meta_signature_is_over_the_raw_bytes_not_reserialised_json():
    raw = sample("whatsapp", "text.json")  # \\u escaped non-ASCII, as Meta sends it
    headers = signed_headers("whatsapp", raw)
    whatsapp.check_signature(raw, headers, CREDENTIALS["whatsapp"])
    import json

    reserialised = json.dumps(json.loads(raw), ensure_ascii=False).encode()
    with pytest.raises(SignatureError):
        whatsapp.check_signature(reserialised, headers, CREDENTIALS["whatsapp"])


@pytest.mark.parametrize("module,raw", [(whatsapp, b'{"object": "page"}'), (messenger, b'{"object": "whatsapp_business_account"}'),
                                        (whatsapp, b'{"entry": [1]}'), (zalo, b'{"message": {}}'), (telegram, b'{"message": {}}')])
def test_wrong_payloads_raise_payload_error(module, raw):
    with pytest.raises(PayloadError):
        module.parse(raw)


BUTTONS = [{"id": f"b{i}", "title": f"Choice number {i} with a long title"} for i in range(15)]


def test_whatsapp_buttons_render_as_reply_buttons_or_a_list():
    three = whatsapp.render(Outbound(to="1", text="Pick", buttons=BUTTONS[:3]))
    assert three["type"] == "interactive" and three["interactive"]["type"] == "button"
    assert [b["reply"]["id"] for b in three["interactive"]["action"]["buttons"]] == ["b0", "b1", "b2"]
    assert all(len(b["reply"]["title"]) <= 20 for b in three["interactive"]["action"]["buttons"])
    many = whatsapp.render(Outbound(to="1", text="Pick", buttons=BUTTONS))
    rows = many["interactive"]["action"]["sections"][0]["rows"]
    assert many["interactive"]["type"] == "list" and len(rows) == 10 and all(len(r["title"]) <= 24 for r in rows)


def test_messenger_telegram_zalo_button_forms():
    quick = messenger.render(Outbound(to="p", text="Pick", buttons=BUTTONS))["message"]["quick_replies"]
    assert len(quick) == 13 and quick[0] == {"content_type": "text", "title": "Choice number 0 wit…", "payload": "b0"}
    keyboard = telegram.render(Outbound(to="5", text="Pick", buttons=[{"id": "x" * 100, "title": "Go"}]))["reply_markup"]
    assert keyboard == {"inline_keyboard": [[{"text": "Go", "callback_data": "x" * 64}]]}
    buttons = zalo.render(Outbound(to="u", text="Pick", buttons=BUTTONS[:2]))["message"]["attachment"]["payload"]["buttons"]
    assert buttons[1] == {"title": "Choice number 1 with a long title", "type": "oa.query.hide", "payload": "b1"}


def test_templates_render():
    body = whatsapp.render(Outbound(to="1", template={"name": "order_update", "language": "vi", "params": ["Lan", "#42"]}))
    assert body["type"] == "template" and body["template"] == {
        "name": "order_update", "language": {"code": "vi"},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": "Lan"}, {"type": "text", "text": "#42"}]}]}
    zns = zalo.render_zns(Outbound(to="u", template={"name": "231", "params": {"name": "Lan"}, "phone": "84901234567"}))
    assert zns == {"phone": "84901234567", "template_id": "231", "template_data": {"name": "Lan"}, "tracking_id": ""}


def test_messenger_template_is_a_message_tag_send():
    body = messenger.render(Outbound(to="p", template={"name": "post_purchase_update", "params": ["Your order shipped"]}))
    assert body == {"recipient": {"id": "p"}, "messaging_type": "MESSAGE_TAG", "tag": "POST_PURCHASE_UPDATE",
                    "message": {"text": "Your order shipped"}}
