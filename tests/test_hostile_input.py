"""Hostile input never gives a 500: the JSON reader, every parser, the API (schemathesis) and the webhooks.

Property-based tests are derandomized with modest example counts so CI is stable and the file stays quick.
"""
import json

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from appliance import jsonbody
from appliance.channels import Inbound, messenger, telegram, web, whatsapp, zalo
from appliance.channels.platform import PayloadError
from appliance.errors import AppError
from appliance.records import Channel, Conversation, Customer, InboundEvent, Message, utcnow
from tests.conftest import assert_error, post_json
from tests.fakes import (  # noqa: F401  (fixtures)
    CREDENTIALS, connect, fake_messenger, fake_telegram, fake_whatsapp, fake_zalo, fakes, sample, signed_headers,
)

PARSERS = {"whatsapp": whatsapp, "messenger": messenger, "zalo": zalo, "telegram": telegram}
QUICK = hsettings(derandomize=True, max_examples=150, deadline=None, database=None)
HTTP = hsettings(derandomize=True, max_examples=25, deadline=None, database=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
DEEP = 5000  # far past MAX_DEPTH and past Python's recursion limit


def nested(depth: int, inner: str = "1") -> bytes:
    return ("[" * depth + inner + "]" * depth).encode()


# --- strategies ----------------------------------------------------------------------------------------

# keys and names the parsers look for, so generated objects reach their branches, not just the first check
KEYS = ["object", "entry", "changes", "field", "value", "messages", "statuses", "contacts", "messaging", "sender",
        "recipient", "id", "from", "type", "text", "body", "timestamp", "watermark", "read", "delivery", "mids", "mid",
        "update_id", "message", "callback_query", "my_chat_member", "message_reaction", "chat", "date", "data",
        "new_chat_member", "new_reaction", "emoji", "event_name", "msg_id", "msg_ids", "follower", "attachments",
        "payload", "coordinates", "quick_reply", "postback", "reaction", "errors", "profile", "wa_id", "interactive",
        "button_reply", "list_reply", "location", "photo", "caption", "status", "is_echo", "url", "session"]
NAMES = ["page", "whatsapp_business_account", "messages", "text", "image", "interactive", "button", "location",
         "reaction", "contacts", "user_send_text", "user_send_image", "user_send_location", "follow", "unfollow",
         "user_seen_message", "user_reacted_message", "oa_send_text", "kicked", "member", "sent", "read"]
LONE_SURROGATES = ["\ud800", "a\udfff", "\udbff\udbff", "\udc00\ud800"]
HUGE = st.one_of(st.integers(min_value=2**63 - 2, max_value=2**80), st.integers(max_value=-(2**63) + 2, min_value=-(2**80)))
CLEAN_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), HUGE, st.floats(allow_nan=False, allow_infinity=False),
                          st.text(max_size=12), st.sampled_from(NAMES))


def json_values(scalars):
    return st.recursive(scalars, lambda kids: st.one_of(
        st.lists(kids, max_size=4), st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), kids, max_size=6),
    ), max_leaves=25)


VALUES = json_values(CLEAN_SCALARS | st.sampled_from(LONE_SURROGATES))
CLEAN = json_values(CLEAN_SCALARS)  # inside platform outlines: a surrogate would stop the body at the reader
OBJECTS = st.dictionaries(st.sampled_from(KEYS), CLEAN, max_size=6)


def skeleton(kind: str):
    """Bodies in the platform's outline with hostile values inside, so parsing gets past the envelope."""
    if kind == "whatsapp":
        value = st.fixed_dictionaries({}, optional={"messages": st.lists(OBJECTS, max_size=3),
                                                    "statuses": st.lists(OBJECTS, max_size=3),
                                                    "contacts": st.lists(OBJECTS, max_size=2) | CLEAN})
        return st.builds(lambda v: {"object": "whatsapp_business_account",
                                    "entry": [{"changes": [{"field": "messages", "value": v}]}]}, value)
    if kind == "messenger":
        item = st.fixed_dictionaries({"sender": CLEAN, "timestamp": CLEAN}, optional={
            name: OBJECTS | CLEAN for name in ("message", "postback", "delivery", "read", "reaction")})
        return st.builds(lambda items: {"object": "page", "entry": [{"messaging": items}]}, st.lists(item, max_size=3))
    if kind == "zalo":
        return st.fixed_dictionaries({"event_name": st.sampled_from(NAMES) | CLEAN}, optional={
            "sender": CLEAN, "message": OBJECTS | CLEAN, "timestamp": st.text(max_size=13), "follower": CLEAN})
    return st.fixed_dictionaries({"update_id": st.integers(min_value=0, max_value=2**63 - 1) | CLEAN}, optional={
        name: OBJECTS | CLEAN for name in ("message", "callback_query", "my_chat_member", "message_reaction")})


def encoded(values) -> st.SearchStrategy[bytes]:
    """JSON text of generated values (lone surrogates become \\ud800 escapes, as an attacker would send them)."""
    return values.map(lambda v: json.dumps(v).encode())


DEEP_BODIES = st.one_of(
    st.integers(min_value=33, max_value=DEEP).map(nested),
    st.integers(min_value=33, max_value=DEEP).map(lambda n: ('{"entry":' * n + "1" + "}" * n).encode()),
    st.integers(min_value=33, max_value=DEEP).map(lambda n: b'{"update_id": 1, "message": ' + nested(n) + b"}"),
)
ODD_LITERALS = st.sampled_from([b"NaN", b'{"update_id": Infinity}', b'{"a": -Infinity}', b'{"update_id": 1e400}',
                                b'{"update_id": ' + b"9" * 5000 + b"}", b'{"text": "\\ud800"}', b'{"\\udfff": 1}',
                                b"\xff\xfe{}", b"\xed\xa0\x80", b""])


def bodies(kind: str | None = None) -> st.SearchStrategy[bytes]:
    """Every kind of hostile body: bytes, JSON of any shape, deep nesting, odd literals, platform outlines."""
    options = [st.binary(max_size=200), encoded(VALUES), DEEP_BODIES, ODD_LITERALS]
    if kind:
        options.append(encoded(skeleton(kind)))
    return st.one_of(*options)


def storable(event: Inbound) -> None:
    """What store_events needs of an event: string ids and JSON that encodes as UTF-8."""
    assert isinstance(event.platform_id, str) and isinstance(event.user_id, str) and isinstance(event.kind, str)
    json.dumps(event.as_json(), ensure_ascii=False).encode("utf-8")


# --- the JSON reader -----------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, status, code", [
    (nested(33), 400, "too_deep"),
    (nested(DEEP), 400, "too_deep"),  # far past Python's recursion limit: an answer, not a RecursionError
    (('{"a":' * DEEP + "1" + "}" * DEEP).encode(), 400, "too_deep"),
    (b'"\\ud800"', 400, "invalid_text"),
    (b'{"ok": ["x", {"\\udc00": 1}]}', 400, "invalid_text"),  # in a key, deep inside
    (b'"\\udc00\\ud800"', 400, "invalid_text"),  # a pair in the wrong order is two lone halves
    (b"NaN", 400, "invalid_number"),
    (b'{"timeout": Infinity}', 400, "invalid_number"),
    (b"[-Infinity]", 400, "invalid_number"),
    (b'{"timeout": 1e400}', 400, "invalid_number"),  # parses as infinity: would be answered as `Infinity`
    (b"9" * 5000, 400, "invalid_number"),
    (b"\xff\xfe{}", 400, "invalid_encoding"),
    (b"\xed\xa0\x80", 400, "invalid_encoding"),  # a surrogate encoded as UTF-8 bytes
    (b'{"a": ', 400, "invalid_json"),
    (b"x" * 100_001 + b"\xff", 413, "too_large"),  # the size is checked first: not even decoded
])
def test_json_reader_refuses_hostile_bodies_with_one_error(raw, status, code):
    with pytest.raises(jsonbody.JsonBodyError) as caught:
        jsonbody.loads(raw, max_bytes=100_000)
    assert (caught.value.status, caught.value.code) == (status, code)
    assert caught.value.message.endswith(".")


@pytest.mark.parametrize("raw, value", [
    (nested(31), json.loads(nested(31))),
    (b'{"emoji": "\\ud83d\\ude00", "n": 18446744073709551616, "f": 1.5e300}',
     {"emoji": "😀", "n": 2**64, "f": 1.5e300}),
    ('"Xin chào 🌸"'.encode(), "Xin chào 🌸"),
])
def test_json_reader_accepts_deep_enough_json_surrogate_pairs_and_big_numbers(raw, value):
    assert jsonbody.loads(raw, max_bytes=10_000) == value


def test_json_reader_depth_limit_is_a_parameter():
    assert jsonbody.loads(nested(3), max_bytes=100, max_depth=3) == [[[1]]]
    with pytest.raises(jsonbody.JsonBodyError):
        jsonbody.loads(nested(4), max_bytes=100, max_depth=3)


@QUICK
@given(bodies())
def test_json_reader_returns_clean_json_or_its_one_error(raw):
    try:
        value = jsonbody.loads(raw, max_bytes=100_000)
    except jsonbody.JsonBodyError as exc:
        assert exc.status == (413 if len(raw) > 100_000 else 400) and exc.message
        return
    json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8")  # storable and answerable as is


# --- every platform parser -----------------------------------------------------------------------------

@pytest.mark.parametrize("kind", PARSERS)
def test_parsers_survive_every_kind_of_hostile_body(kind):
    @QUICK
    @given(bodies(kind))
    def check(raw):
        try:
            events = PARSERS[kind].parse(raw)
        except PayloadError:
            return
        assert isinstance(events, list)
        for event in events:
            assert isinstance(event, Inbound)
            storable(event)

    check()


@pytest.mark.parametrize("watermark", ["abc", 1.5, 10**30, -1, True, [1], {"a": 1}, "1763790000000"])
@pytest.mark.parametrize("name", ["read", "delivery"])
def test_messenger_odd_watermark_is_an_unknown_event_at_parse_time(name, watermark):
    raw = json.dumps({"object": "page", "entry": [{"messaging": [
        {"sender": {"id": "7021"}, "timestamp": 1763790000000, name: {"watermark": watermark}}]}]}).encode()
    [event] = messenger.parse(raw)
    assert event.kind == "unknown" and event.status is None


@pytest.mark.parametrize("name", ["read", "delivery"])
def test_messenger_watermark_in_milliseconds_is_kept(name):
    raw = json.dumps({"object": "page", "entry": [{"messaging": [
        {"sender": {"id": "7021"}, "timestamp": 1763790000000, name: {"watermark": 1763790000000}}]}]}).encode()
    [event] = messenger.parse(raw)
    assert event.kind == "status" and event.status["watermark"] == 1763790000000


@pytest.mark.parametrize("update_id", ["abc", "17", 1.5, -1, 2**63, True, None, [1], {"id": 1}])
def test_telegram_update_id_must_be_a_whole_number(update_id):
    raw = json.dumps({"update_id": update_id, "message": {"text": "hi", "chat": {"id": 1}}}).encode()
    with pytest.raises(PayloadError, match="update_id"):
        telegram.parse(raw)


def test_telegram_largest_update_id_is_accepted():
    [event] = telegram.parse(json.dumps({"update_id": 2**63 - 1, "message": {"text": "hi", "chat": {"id": 1}}}).encode())
    assert (event.kind, event.platform_id, event.text) == ("text", str(2**63 - 1), "hi")


@pytest.mark.parametrize("kind, raw", [
    ("whatsapp", {"entry": [{"changes": [{"value": {"messages": [{"id": "w1", "type": ["text"]}],
                                                     "contacts": [{"wa_id": "1", "profile": ["x"]}],
                                                     "statuses": [{"id": "s1", "status": "failed", "errors": {"a": 1}}]}}]}]}),
    ("messenger", {"entry": [{"messaging": [{"sender": ["x"], "timestamp": 1, "message": {"mid": "m", "text": "hi"}}]}]}),
    ("zalo", {"event_name": "user_send_text", "sender": "x", "timestamp": "1", "message": {"text": "hi", "msg_id": "z"}}),
])
def test_objects_of_the_wrong_type_do_not_stop_parsing(kind, raw):
    events = PARSERS[kind].parse(json.dumps(raw).encode())
    assert events and all(isinstance(e, Inbound) for e in events)


# --- the widget's message reader -----------------------------------------------------------------------

@QUICK
@given(bodies() | encoded(st.fixed_dictionaries({"session": st.text(max_size=10) | VALUES, "text": VALUES},
                                                 optional={"id": VALUES})))
def test_widget_parse_message_gives_an_event_or_an_app_error(raw):
    try:
        event = web.parse_message(raw, max_chars=4000)
    except AppError as exc:
        assert 400 <= exc.status < 500 and exc.message.endswith(".")
        return
    storable(event)


@pytest.mark.parametrize("raw, status, code", [
    (json.dumps({"session": "s1", "text": "hi", "pad": json.loads(nested(40))}).encode(), 400, "too_deep"),
    (nested(DEEP), 400, "too_deep"),
    (b'{"session": "s1", "text": "\\ud800"}', 400, "invalid_text"),
    (b'{"session": "s1", "text": NaN}', 400, "invalid_number"),
    (b'{"session": "s1", "text": "hi"', 400, "invalid_json"),
])
def test_widget_post_refuses_hostile_json_with_4xx(raw, status, code, client, web_channel):
    response = client.post(f"/widget/{web_channel.id}/messages", data=raw, headers={"Content-Type": "application/json"})
    assert_error(response, status, code)
    assert InboundEvent.select().count() == 0


# --- the JSON API --------------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, code", [
    (nested(DEEP), "too_deep"),
    (b'{"name": "\\ud800 shop"}', "invalid_text"),
    (b'{"name": "shop", "x": NaN}', "invalid_number"),
    (b'{"name": "shop", "x": 1e999}', "invalid_number"),
    (b"\xff", "invalid_encoding"),
    (b"[1]", "invalid_json"),
])
@pytest.mark.parametrize("url", ["/api/v1/tenants", "/api/v1/channels"])
def test_api_refuses_hostile_json_with_400(url, raw, code, client, tenant, admin_headers):
    headers = {**(admin_headers if url.endswith("tenants") else tenant.headers), "Content-Type": "application/json"}
    assert_error(client.post(url, data=raw, headers=headers), 400, code)


@pytest.mark.parametrize("method, url", [
    ("get", "/api/v1/conversations/{}"),
    ("post", "/api/v1/conversations/{}/messages"),
    ("post", "/api/v1/conversations/{}/handoff"),
    ("post", "/api/v1/conversations/{}/assign"),
    ("post", "/api/v1/conversations/{}/resume-bot"),
    ("post", "/api/v1/conversations/{}/close"),
    ("get", "/api/v1/knowledge/documents/{}"),
    ("delete", "/api/v1/knowledge/documents/{}"),
])
@pytest.mark.parametrize("row_id", [2**63, 2**63 - 1, 10**40])
def test_ids_sqlite_cannot_hold_are_404(method, url, row_id, client, tenant):
    response = getattr(client, method)(url.format(row_id), json={"text": "hi"}, headers=tenant.headers)
    assert_error(response, 404, "not_found")


@pytest.mark.parametrize("body, code", [
    ({"kind": []}, "invalid_kind"),
    ({"kind": {"web": 1}}, "invalid_kind"),
    ({"kind": "web", "name": 5}, "invalid_name"),
    ({"kind": "web", "api_base": ["http://x"]}, "invalid_api_base"),
    ({"kind": "telegram", "credentials": ["bot_token"]}, "invalid_credentials"),
    ({"kind": "telegram", "credentials": {"bot_token": 123, "secret_token": "ok"}}, "invalid_credentials"),
])
def test_channel_fields_of_the_wrong_type_are_422(body, code, client, tenant):
    assert_error(post_json(client, "/api/v1/channels", body, tenant.headers), 422, code)


def _conversation(tenant, channel) -> Conversation:
    customer = Customer.create(tenant=tenant.id, channel=channel.id, external_id="s1", name="Lan", last_inbound_at=utcnow())
    return Conversation.create(tenant=tenant.id, channel=channel.id, customer=customer)


@pytest.mark.parametrize("body, code", [
    ({"text": 5}, "invalid_text"),
    ({"text": ["hi"]}, "invalid_text"),
    ({"text": "hi", "buttons": "yes"}, "invalid_buttons"),
    ({"text": "hi", "buttons": [{"id": 1, "title": "x"}]}, "invalid_buttons"),
    ({"template": ["t"]}, "invalid_template"),
    ({"template": "t", "params": "p"}, "invalid_template"),
    ({"template": "t", "language": ["vi"]}, "invalid_template"),
    ({"template": "t", "phone": 84901234567}, "invalid_template"),
])
def test_message_fields_of_the_wrong_type_are_422(body, code, client, tenant, web_channel):
    conversation = _conversation(tenant, web_channel)
    url = f"/api/v1/conversations/{conversation.id}/messages"
    assert_error(post_json(client, url, body, tenant.headers), 422, code)
    assert Message.select().count() == 0


@pytest.mark.parametrize("body, code", [({"name": 5}, "invalid_name"), ({"credentials": {"x": 5}}, "invalid_credentials"),
                                        ({"credentials": "x"}, "invalid_credentials"), ({"api_base": 5}, "invalid_api_base")])
def test_channel_patch_fields_of_the_wrong_type_are_422(body, code, client, tenant, web_channel):
    response = client.patch(f"/api/v1/channels/{web_channel.id}", json=body, headers=tenant.headers)
    assert_error(response, 422, code)
    assert Channel.get_by_id(web_channel.id).name == "Shop chat"


@pytest.mark.parametrize("body, code", [({"query": 5}, "invalid_query"), ({"query": "x", "k": "5"}, "invalid_k"),
                                        ({"query": "x", "k": 10**30}, "invalid_k"), ({"query": "x", "k": True}, "invalid_k")])
def test_knowledge_search_fields_of_the_wrong_type_are_422(body, code, client, tenant):
    assert_error(post_json(client, "/api/v1/knowledge/search", body, tenant.headers), 422, code)


def test_openapi_describes_request_bodies_and_path_parameters(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    post_channel = spec["paths"]["/channels"]["post"]
    schema = post_channel["requestBody"]["content"]["application/json"]["schema"]
    assert schema["required"] == ["kind"] and schema["properties"]["kind"]["enum"] == list(CREDENTIALS) + ["web"]
    message = spec["paths"]["/conversations/{conversation_id}/messages"]["post"]
    assert message["parameters"][0] == {"name": "conversation_id", "in": "path", "required": True,
                                        "schema": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1}}
    assert "multipart/form-data" in spec["paths"]["/knowledge/documents"]["post"]["requestBody"]["content"]
    with_body = {(path, method) for path, ops in spec["paths"].items() for method, op in ops.items() if "requestBody" in op}
    assert with_body == {("/tenants", "post"), ("/channels", "post"), ("/channels/{channel_id}", "patch"),
                         ("/assistant", "put"), ("/assistant/test", "post"), ("/conversations/{conversation_id}/messages", "post"),
                         ("/conversations/{conversation_id}/handoff", "post"), ("/conversations/{conversation_id}/assign", "post"),
                         ("/knowledge/documents", "post"), ("/knowledge/documents/{document_id}", "patch"),
                         ("/knowledge/search", "post"),
                         # automation (issue 12): rules, the test box, flows, starter packs
                         ("/rules", "post"), ("/rules/reorder", "post"), ("/rules/{rule_id}", "patch"),
                         ("/rules/{rule_id}", "put"), ("/automation/test", "post"), ("/flows", "post"),
                         ("/flows/import", "post"), ("/flows/{flow_id}", "put"), ("/automation/packs/{name}", "post")}


@QUICK
@given(mark=st.text(st.characters(blacklist_characters="\r\n"), max_size=24)  # no HTTP header holds a line break
       | st.integers(min_value=-(2**70), max_value=2**70).map(str))
def test_event_stream_marks_are_an_event_id_or_a_422(mark):
    from flask import Flask

    from appliance.web.sse import resume_after

    for request in ({"headers": {"Last-Event-ID": mark}}, {"query_string": {"since": mark}}):
        with Flask(__name__).test_request_context("/api/v1/events", **request):
            try:
                after = resume_after()
            except AppError as exc:
                assert (exc.status, exc.code) == (422, "invalid_since")
                continue
        assert after is None if mark == "" else after == int(mark) and 0 <= after < 2**63


@pytest.mark.parametrize("query, found", [
    ({"q": "%_\\'\""}, False), ({"q": "x" * 5000}, False), ({"channel": "' OR 1=1 --"}, False),
    ({"assigned": "0"}, False), ({"before": "9" * 17 + "-1"}, True), ({"q": "Lan"}, True),  # the customer's name
])
def test_conversation_list_takes_odd_but_valid_queries_literally(query, found, client, tenant, web_channel):
    conversation = _conversation(tenant, web_channel)
    response = client.get("/api/v1/conversations", query_string=query, headers=tenant.headers)
    assert [c["id"] for c in response.get_json()["conversations"]] == ([conversation.id] if found else [])


# --- the webhooks, signed, through the real app --------------------------------------------------------

@pytest.mark.parametrize("kind", PARSERS)
def test_signed_hostile_webhooks_answer_4xx_or_200_and_never_fail_later(kind, client, tenant, fakes):
    channel_id = connect(client, tenant, fakes[kind])

    @HTTP
    @given(st.booleans().flatmap(lambda outline: encoded(skeleton(kind)) if outline else bodies()))  # half outlines
    def check(raw):
        response = client.post(f"/webhooks/{kind}/{channel_id}", data=raw, headers=signed_headers(kind, raw))
        assert response.status_code == 200 or 400 <= response.status_code < 500, response.get_data(as_text=True)

    check()
    assert list(InboundEvent.select(InboundEvent.kind, InboundEvent.error).where(InboundEvent.error.is_null(False))
                .tuples()) == []


def test_messenger_read_with_a_text_watermark_is_acknowledged_and_skipped_not_retried(client, tenant, fakes):
    channel_id = connect(client, tenant, fakes["messenger"])
    raw = json.dumps({"object": "page", "entry": [{"messaging": [
        {"sender": {"id": "7021"}, "recipient": {"id": "1"}, "timestamp": 1763790000000,
         "read": {"watermark": "abc"}}]}]}).encode()
    response = client.post(f"/webhooks/messenger/{channel_id}", data=raw, headers=signed_headers("messenger", raw))
    assert response.status_code == 200 and response.get_json()["new"] == 1
    [event] = InboundEvent.select()
    assert (event.kind, event.status, event.attempts, event.error) == ("unknown", "skipped", 1, None)


ZALO_HOSTILE = [nested(DEEP), ('{"a":' * DEEP).encode(), b'{"timestamp": ' + b"9" * 5000 + b"}",
                b'"' + b'\\"' * 200_000, b'{"timestamp": "\\ud800", "event_name": "user_send_text"}']


@pytest.mark.parametrize("raw", ZALO_HOSTILE, ids=["deep", "deep_open", "long_number", "unterminated", "surrogate"])
def test_zalo_checks_the_signature_before_reading_the_body(raw, client, tenant, fakes):
    channel_id = connect(client, tenant, fakes["zalo"])
    headers = {"X-ZEvent-Signature": "mac=" + "0" * 64, "Content-Type": "application/json"}
    assert_error(client.post(f"/webhooks/zalo/{channel_id}", data=raw, headers=headers), 403, "invalid_signature")


@pytest.mark.parametrize("raw", ZALO_HOSTILE[:4], ids=["deep", "deep_open", "long_number", "unterminated"])
def test_zalo_signed_hostile_body_is_400(raw, client, tenant, fakes):
    channel_id = connect(client, tenant, fakes["zalo"])
    response = client.post(f"/webhooks/zalo/{channel_id}", data=raw, headers=signed_headers("zalo", raw))
    assert_error(response, 400, "malformed_payload")


def test_zalo_signature_uses_the_top_level_timestamp_not_a_nested_one(client, tenant, fakes):
    channel_id = connect(client, tenant, fakes["zalo"])
    body = json.loads(sample("zalo", "follow.json"))
    raw = json.dumps({"meta": {"timestamp": "1"}, "list": [{"timestamp": 2}], **body}).encode()
    response = client.post(f"/webhooks/zalo/{channel_id}", data=raw, headers=signed_headers("zalo", raw))
    assert response.status_code == 200 and response.get_json()["received"] == 1


# --- the whole JSON API, generated from openapi.json ---------------------------------------------------

def test_api_answers_generated_requests_without_a_5xx(app, client, tenant, other_tenant, admin_headers, web_channel):
    import schemathesis
    from schemathesis.generation.modes import GenerationMode

    conversation = _conversation(tenant, web_channel)
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    fixed = {("PATCH", "/channels/{channel_id}"): {"channel_id": web_channel.id},  # real rows: bodies get read
             **{("POST", f"/conversations/{{conversation_id}}/{action}"): {"conversation_id": conversation.id}
                for action in ("messages", "handoff", "assign", "resume-bot", "close")},
             ("GET", "/conversations/{conversation_id}"): {"conversation_id": conversation.id}}
    # every admin event stream generated below ends at once, as at a stop, instead of holding on for 25 s
    app.extensions["appliance"].admin_streams.close()
    # random assistant settings go to another tenant, so this tenant's /assistant/test keeps the local model
    tokens = {"/tenants": admin_headers, "/assistant": other_tenant.headers}
    # a valid /assistant/test runs the model (seconds each): its checks are reached by the invalid cases alone
    slow = {("POST", "/assistant/test")}
    failures = []
    for result in schema.get_all_operations():
        operation = result.ok()
        key = (operation.method.upper(), operation.path)
        for mode in [GenerationMode.NEGATIVE] if key in slow else [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]:
            strategy = operation.as_strategy(mode, path_parameters=fixed.get(key))

            @hsettings(derandomize=True, max_examples=12, deadline=None, database=None,
                       suppress_health_check=list(HealthCheck))
            @given(case=strategy)
            def check(case):
                response = case.call(headers=tokens.get(operation.path, tenant.headers))
                if response.status_code >= 500:
                    failures.append((operation.method.upper(), operation.path, mode.value, case.body,
                                     response.status_code, response.text[:200]))

            check()
    assert failures == []
