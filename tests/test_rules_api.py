"""/api/v1/rules and /api/v1/automation/test: CRUD, order, checks naming the field, roles, other tenants' rules
(404), hostile bodies (never a 5xx), the OpenAPI description, and the test box's dry run."""
from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from appliance.auth import issue_token
from appliance.automation import rules
from appliance.records import Conversation, Customer, Flow, Message, Rule
from tests.conftest import assert_error, post_json
from tests.fakes import allow_fakes

HTTP = hsettings(derandomize=True, max_examples=60, deadline=None, database=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
PRICES = {"name": "prices", "match": {"type": "keyword", "keywords": ["giá", "price"]},
          "actions": [{"type": "reply", "text": "Roses 50.000đ."}]}


def create(client, tenant, body=None, **fields):
    response = post_json(client, "/api/v1/rules", {**(body or PRICES), **fields}, tenant.headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


# --- CRUD ----------------------------------------------------------------------------------------------------

def test_rule_crud_round_trip(client, tenant):
    created = create(client, tenant, priority=20, conditions=[{"type": "channel", "channels": ["web", "zalo"]}])
    assert created["id"].startswith("rul_") and created["matches"] == 0 and created["last_matched_at"] is None
    assert (created["enabled"], created["continue"], created["disabled_reason"]) == (True, False, None)
    assert created["match"] == {"type": "keyword", "mode": "contains", "keywords": ["giá", "price"]}
    url = f"/api/v1/rules/{created['id']}"
    assert client.get(url, headers=tenant.headers).get_json() == created

    patched = client.patch(url, json={"name": "Prices", "continue": True}, headers=tenant.headers).get_json()
    assert (patched["name"], patched["continue"], patched["priority"]) == ("Prices", True, 20)

    whole = {**PRICES, "name": "replaced", "actions": [{"type": "handoff"}]}
    put = client.put(url, json={**patched, **whole}, headers=tenant.headers)  # a GET's fields come back as they are
    assert put.status_code == 200, put.get_json()
    put = put.get_json()
    assert (put["id"], put["name"], put["priority"], put["continue"], put["conditions"]) == (
        created["id"], "replaced", 20, True, [{"type": "channel", "channels": ["web", "zalo"]}])
    bare = client.put(url, json=whole, headers=tenant.headers).get_json()  # unnamed fields take their defaults
    assert (bare["priority"], bare["continue"], bare["conditions"]) == (100, False, [])

    assert client.delete(url, headers=tenant.headers).status_code == 204
    assert_error(client.get(url, headers=tenant.headers), 404, "not_found")
    assert Rule.select().count() == 0


def test_list_is_in_running_order_with_counts(client, tenant, services, web_channel):
    late = create(client, tenant, name="late", priority=50)
    early = create(client, tenant, name="early", priority=5)
    tie = create(client, tenant, name="tie", priority=50)  # ties run in creation order
    post_json(client, f"/widget/{web_channel.id}/messages", {"session": "s1", "text": "giá?"})
    listed = client.get("/api/v1/rules", headers=tenant.headers).get_json()["rules"]
    assert [r["id"] for r in listed] == [early["id"], late["id"], tie["id"]]
    assert [r["matches"] for r in listed] == [1, 0, 0] and listed[0]["last_matched_at"].endswith("Z")


def test_reorder_sets_priorities_from_the_list(client, tenant):
    ids = [create(client, tenant, name=n)["id"] for n in ("a", "b", "c")]
    response = post_json(client, "/api/v1/rules/reorder", {"ids": [ids[2], ids[0], ids[1]]}, tenant.headers)
    assert response.status_code == 200
    assert [(r["name"], r["priority"]) for r in response.get_json()["rules"]] == [("c", 10), ("a", 20), ("b", 30)]
    for ids_sent, fragment in [([ids[0], ids[1]], "missing"), ([ids[0], ids[0], ids[1], ids[2]], "twice"),
                               ([*ids, "rul_0000"], "rul_0000"), ("abc", "ids:"), ([1, 2], "ids:")]:
        response = post_json(client, "/api/v1/rules/reorder", {"ids": ids_sent}, tenant.headers)
        assert_error(response, 422, "invalid_rule")
        assert fragment in response.get_json()["error"]["message"]
    assert_error(post_json(client, "/api/v1/rules/reorder", {"ids": ids, "x": 1}, tenant.headers), 422,
                 "unknown_field")


def test_enabling_again_clears_the_appliances_reason(client, tenant):
    created = create(client, tenant)
    Rule.disable(created["id"], "The pattern took too long.")
    rules.changed(tenant.id)
    url = f"/api/v1/rules/{created['id']}"
    assert client.get(url, headers=tenant.headers).get_json()["disabled_reason"] == "The pattern took too long."
    enabled = client.patch(url, json={"enabled": True}, headers=tenant.headers).get_json()
    assert (enabled["enabled"], enabled["disabled_reason"]) == (True, None)


def test_webhook_secret_is_write_only_sealed_and_kept_for_the_same_url(client, tenant):
    allow_fakes(client)
    hook = {"type": "webhook", "url": "http://127.0.0.1:9/hook", "secret": "s3cret-value"}
    created = create(client, tenant, actions=[hook])
    assert created["actions"] == [{"type": "webhook", "url": "http://127.0.0.1:9/hook", "secret_set": True}]
    assert "s3cret-value" not in client.get("/api/v1/rules", headers=tenant.headers).get_data(as_text=True)
    stored = Rule.get_by_id(created["id"]).actions[0]
    assert set(stored) == {"type", "url", "secret_sealed"} and "s3cret-value" not in stored["secret_sealed"]
    url = f"/api/v1/rules/{created['id']}"
    again = client.put(url, json={**PRICES, "actions": created["actions"]}, headers=tenant.headers)  # a GET sent back
    assert again.status_code == 200 and Rule.get_by_id(created["id"]).actions[0] == stored
    moved = client.patch(url, json={"actions": [{"type": "webhook", "url": "http://127.0.0.1:9/other"}]},
                         headers=tenant.headers)
    assert_error(moved, 422, "secret_required")  # a stored secret never follows a new URL
    assert moved.get_json()["error"]["message"].startswith("actions[0]:")


# --- checks naming the field ------------------------------------------------------------------------------------

REPLY = {"type": "reply", "text": "ok"}


@pytest.mark.parametrize("change, code, where", [
    ({"name": ""}, "invalid_rule", "name:"),
    ({"name": "x" * 201}, "invalid_rule", "name:"),
    ({"priority": -1}, "invalid_rule", "priority:"),
    ({"priority": True}, "invalid_rule", "priority:"),
    ({"priority": 10**30}, "invalid_rule", "priority:"),
    ({"enabled": "yes"}, "invalid_rule", "enabled:"),
    ({"continue": 1}, "invalid_rule", "continue:"),
    ({"colour": "red"}, "unknown_field", "colour:"),
    ({"match": {"type": "keyword", "keywords": []}}, "invalid_match", "match.keywords:"),
    ({"match": {"type": "keyword", "keywords": ["?!"]}}, "invalid_match", "match.keywords[0]:"),
    ({"match": {"type": "keyword", "keywords": ["x" * 101]}}, "invalid_match", "match.keywords[0]:"),
    ({"match": {"type": "keyword", "mode": "fuzzy", "keywords": ["a"]}}, "invalid_match", "match.mode:"),
    ({"match": {"type": "keyword", "keywords": ["a"], "flags": "i"}}, "invalid_match", "match.flags:"),
    ({"match": {"type": "regex", "pattern": "(unclosed"}}, "invalid_pattern", "match.pattern:"),
    ({"match": {"type": "regex", "pattern": "a" * 501}}, "invalid_pattern", "match.pattern:"),
    ({"match": {"type": "payload", "payload": ""}}, "invalid_match", "match.payload:"),
    ({"match": {"type": "event", "event": "birthday"}}, "invalid_match", "match.event:"),
    ({"match": "giá"}, "invalid_match", "match.type:"),
    ({"conditions": {"type": "tag"}}, "invalid_condition", "conditions:"),
    ({"conditions": [{"type": "tag", "tag": "vip"}, {"type": "time", "from": "8am"}]}, "invalid_condition",
     "conditions[1].from:"),
    ({"actions": []}, "invalid_action", "actions:"),
    ({"actions": [REPLY] * 21}, "invalid_action", "actions:"),
    ({"actions": [REPLY, REPLY, {"type": "reply", "text": ""}]}, "invalid_action", "actions[2].text:"),
    ({"actions": [{"type": "reply", "text": "x" * 4097}]}, "invalid_action", "actions[0].text:"),
    ({"actions": [{"type": "reply", "text": "a", "buttons": [{"id": "A", "title": "x" * 81}]}]}, "invalid_action",
     "actions[0].buttons[0].title:"),
    ({"actions": [{"type": "reply", "text": "a", "buttons": [{"id": "A", "title": "A"}] * 7,
                   "quick_replies": [{"id": "B", "title": "B"}] * 7}]}, "invalid_action", "actions[0].quick_replies:"),
    ({"actions": [{"type": "reply", "text": "a", "emoji": "x"}]}, "invalid_action", "actions[0].emoji:"),
    ({"actions": [{"type": "dance"}]}, "invalid_action", "actions[0].type:"),
    ({"actions": [{"type": "template", "name": "t", "params": [{"a": 1}]}]}, "invalid_action",
     "actions[0].params[0]:"),
    ({"actions": [{"type": "tag"}]}, "invalid_action", "actions[0].tag:"),
    ({"actions": [{"type": "set_field", "field": "city", "value": [1]}]}, "invalid_action", "actions[0].value:"),
    ({"actions": [{"type": "start_flow", "flow": "booking"}]}, "invalid_action", "actions[0].flow:"),
    ({"actions": [{"type": "start_flow", "flow": "flw_0123456789abcdef"}]}, "invalid_action", "actions[0].flow:"),
    ({"actions": [{"type": "webhook", "url": "ftp://x"}]}, "invalid_action", "actions[0].url:"),
    ({"actions": [{"type": "webhook", "url": "https://127.0.0.1/hook", "secret": "long-enough"}]}, "invalid_url",
     "actions[0]:"),  # a private address needs the platform admin's leave
    ({"actions": [{"type": "ab", "experiment": "e", "goal": {"type": "tag", "tag": "buyer"},
                   "variants": [{"name": "a", "actions": [REPLY]}]}]}, "invalid_variants", "actions[0]:"),
    ({"actions": [{"type": "ab", "experiment": "e", "goal": {"type": "tag", "tag": "buyer"},
                   "variants": [{"name": "a", "actions": [REPLY]},
                                {"name": "b", "weight": -1, "actions": [REPLY]}]}]}, "invalid_variants",
     "actions[0]:"),
    ({"actions": [{"type": "ab", "experiment": "e", "goal": {"type": "tag", "tag": "buyer"},
                   "variants": [{"name": "a", "actions": [REPLY]},
                                {"name": "b", "actions": [REPLY, {"type": "reply"}]}]}]}, "invalid_action",
     "actions[0].variants[1].actions[1].text:"),
    ({"actions": [{"type": "ab", "experiment": "e", "goal": {"type": "win"}, "variants": []}]}, "invalid_goal",
     "actions[0]:"),
    ({"match": {"type": "event", "event": "unfollow"}}, "invalid_action", "actions[0].type:"),
])
def test_bad_rules_are_422_naming_the_field(client, tenant, change, code, where):
    response = post_json(client, "/api/v1/rules", {**PRICES, **change}, tenant.headers)
    assert_error(response, 422, code)
    assert response.get_json()["error"]["message"].startswith(where), response.get_json()
    assert Rule.select().count() == 0


@pytest.mark.parametrize("missing", ["name", "match", "actions"])
def test_a_new_rule_needs_name_match_and_actions(client, tenant, missing):
    body = {k: v for k, v in PRICES.items() if k != missing}
    response = post_json(client, "/api/v1/rules", body, tenant.headers)
    assert_error(response, 422, "invalid_rule")
    assert response.get_json()["error"]["message"].startswith(f"{missing}:")


def test_a_valid_ab_rule_and_a_flow_of_this_tenant_are_accepted(client, tenant):
    flow = Flow.create(tenant=tenant.id, name="booking")
    created = create(client, tenant, actions=[{"type": "ab", "experiment": "greeting", "goal": {
        "type": "button", "payload": "BOOK"}, "variants": [
        {"name": "short", "weight": 1, "actions": [REPLY]},
        {"name": "flow", "weight": 3, "actions": [{"type": "start_flow", "flow": flow.id}]}]}])
    assert created["actions"][0]["variants"][1]["actions"] == [{"type": "start_flow", "flow": flow.id}]


# --- tenants and roles --------------------------------------------------------------------------------------------

def test_another_tenants_rule_is_404_everywhere(client, tenant, other_tenant):
    theirs = create(client, other_tenant)["id"]
    flow = Flow.create(tenant=other_tenant.id, name="theirs")
    url = f"/api/v1/rules/{theirs}"
    assert_error(client.get(url, headers=tenant.headers), 404, "not_found")
    assert_error(client.patch(url, json={"name": "mine"}, headers=tenant.headers), 404, "not_found")
    assert_error(client.put(url, json=PRICES, headers=tenant.headers), 404, "not_found")
    assert_error(client.delete(url, headers=tenant.headers), 404, "not_found")
    assert client.get("/api/v1/rules", headers=tenant.headers).get_json() == {"rules": []}
    response = post_json(client, "/api/v1/rules/reorder", {"ids": [theirs]}, tenant.headers)
    assert_error(response, 422, "invalid_rule")
    response = post_json(client, "/api/v1/rules", {**PRICES, "actions": [{"type": "start_flow", "flow": flow.id}]},
                         tenant.headers)
    assert_error(response, 422, "invalid_action")  # their flow does not exist for us
    assert Rule.get_by_id(theirs).name == "prices"


def test_agents_read_rules_and_use_the_test_box_but_do_not_change_rules(client, tenant):
    created = create(client, tenant)
    agent = {"Authorization": f"Bearer {issue_token('agent', tenant.tenant)}"}
    assert client.get("/api/v1/rules", headers=agent).status_code == 200
    assert post_json(client, "/api/v1/automation/test", {"text": "giá"}, agent).status_code == 200
    assert_error(post_json(client, "/api/v1/rules", PRICES, agent), 403, "forbidden")
    assert_error(client.patch(f"/api/v1/rules/{created['id']}", json={"name": "x"}, headers=agent), 403, "forbidden")
    assert_error(client.delete(f"/api/v1/rules/{created['id']}", headers=agent), 403, "forbidden")
    assert_error(client.get("/api/v1/rules"), 401, "unauthorized")


# --- hostile input: never a 5xx -------------------------------------------------------------------------------------

LONE = st.sampled_from(["\ud800", "a\udfff"])
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(min_value=2**63, max_value=2**80),
                    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12),
                    st.sampled_from(["keyword", "regex", "payload", "event", "reply", "tag", "ab", "time", "field",
                                     "channel", "first_message", "(a+)+$", "web", "flw_0123456789abcdef"]))
KEYS = st.sampled_from(["type", "name", "match", "keywords", "mode", "pattern", "payload", "event", "conditions",
                        "actions", "text", "buttons", "quick_replies", "id", "title", "tag", "present", "field", "op",
                        "value", "days", "from", "to", "inside", "channels", "priority", "enabled", "continue",
                        "variants", "weight", "goal", "experiment", "flow", "url", "secret", "params"])
VALUES = st.recursive(SCALARS | LONE, lambda kids: st.one_of(
    st.lists(kids, max_size=4), st.dictionaries(KEYS | st.text(max_size=5), kids, max_size=6)), max_leaves=30)
RULE_BODIES = st.one_of(VALUES, st.dictionaries(KEYS, VALUES, max_size=8),
                        st.builds(lambda extra: {**PRICES, **extra}, st.dictionaries(KEYS, VALUES, max_size=3)))


def _raw(value) -> bytes:
    return json.dumps(value).encode()  # lone surrogates become \ud800 escapes, as an attacker would send them


@pytest.mark.parametrize("method, url", [("post", "/api/v1/rules"), ("patch", "/api/v1/rules/{id}"),
                                         ("put", "/api/v1/rules/{id}"), ("post", "/api/v1/rules/reorder"),
                                         ("post", "/api/v1/automation/test")])
def test_hostile_bodies_get_a_4xx_or_a_success_never_a_5xx(client, tenant, method, url):
    target = url.format(id=create(client, tenant)["id"])

    @HTTP
    @given(RULE_BODIES)
    def check(body):
        response = getattr(client, method)(target, data=_raw(body),
                                           headers={**tenant.headers, "Content-Type": "application/json"})
        assert response.status_code < 500, (body, response.get_json())
        if response.status_code >= 400:
            assert response.get_json()["error"]["message"].endswith(".")

    check()


@pytest.mark.parametrize("raw, code", [
    (b"[" * 5000 + b"]" * 5000, "too_deep"),
    (json.dumps({**PRICES, "actions": [{"type": "ab", "variants": json.loads("[" * 40 + "]" * 40)}]}).encode(),
     "too_deep"),
    (b'{"name": "\\ud800", "match": {"type": "keyword", "keywords": ["a"]}, "actions": []}', "invalid_text"),
    (b'{"name": "x", "priority": NaN}', "invalid_number"),
    (b"\xff", "invalid_encoding"),
    (b'"rule"', "invalid_json"),
])
@pytest.mark.parametrize("url", ["/api/v1/rules", "/api/v1/automation/test", "/api/v1/rules/reorder"])
def test_hostile_json_is_400(client, tenant, url, raw, code):
    assert_error(client.post(url, data=raw, headers={**tenant.headers, "Content-Type": "application/json"}), 400, code)


@pytest.mark.parametrize("rule_id", ["1" * 40, "rul_" + "f" * 5000, "%ED%A0%80", "..%2F..%2Fetc", str(2**64)])
@pytest.mark.parametrize("method", ["get", "patch", "put", "delete"])
def test_odd_and_huge_rule_ids_are_404(client, tenant, rule_id, method):
    response = getattr(client, method)(f"/api/v1/rules/{rule_id}", json=PRICES, headers=tenant.headers)
    assert_error(response, 404, "not_found")


def test_openapi_describes_the_rules_api(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    post = paths["/rules"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert post["required"] == ["name", "match", "actions"]
    assert "keywords" in post["properties"]["match"]["properties"]
    assert {"get", "patch", "put", "delete"} <= set(paths["/rules/{rule_id}"])
    reorder = paths["/rules/reorder"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert reorder["required"] == ["ids"]
    test = paths["/automation/test"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert set(test["properties"]) == {"text", "channel", "customer", "payload"}


# --- the test box ------------------------------------------------------------------------------------------------

def test_the_test_box_explains_and_changes_nothing(client, tenant, web_channel):
    create(client, tenant, name="vip", priority=1, conditions=[{"type": "tag", "tag": "vip"}],
           actions=[{"type": "reply", "text": "VIP prices"}, {"type": "tag", "tag": "asked"}])
    create(client, tenant, name="prices", priority=2)
    create(client, tenant, name="book", match={"type": "payload", "payload": "BOOK"},
           actions=[{"type": "reply", "text": "Which day?"}])
    customer = Customer.create(tenant=tenant.id, channel=web_channel, external_id="s1", tags=["vip"])
    answer = post_json(client, "/api/v1/automation/test", {"text": "GIA?", "customer": customer.id,
                                                            "channel": web_channel.id}, tenant.headers).get_json()
    assert (answer["answered_by"], answer["rule"]["name"], answer["replies"]) == ("rule", "vip",
                                                                                   [{"text": "VIP prices"}])
    plain = post_json(client, "/api/v1/automation/test", {"text": "gia?"}, tenant.headers).get_json()
    assert plain["rule"]["name"] == "prices"
    assert "rule 'vip' matched (keyword 'giá' (contains)) but the customer lacks the tag 'vip'" in plain["why"]
    tap = post_json(client, "/api/v1/automation/test", {"payload": "BOOK"}, tenant.headers).get_json()
    assert tap["replies"] == [{"text": "Which day?"}]
    human = post_json(client, "/api/v1/automation/test", {"text": "cho mình gặp nhân viên"}, tenant.headers)
    assert human.get_json()["answered_by"] == "handoff"
    assert [r.matches for r in Rule.select()] == [0, 0, 0]  # a dry run counts nothing
    assert Customer.get_by_id(customer.id).tags == ["vip"]  # ... and tags nobody
    assert Message.select().count() == 0 and Conversation.select().count() == 0


@pytest.mark.parametrize("body, status, code", [
    ({}, 422, "invalid_text"),
    ({"text": "  "}, 422, "invalid_text"),
    ({"text": 5}, 422, "invalid_text"),
    ({"text": "x" * 4001}, 422, "invalid_text"),
    ({"text": "hi", "channel": "fax"}, 422, "invalid_channel"),
    ({"text": "hi", "channel": ["web"]}, 422, "invalid_channel"),
    ({"text": "hi", "customer": "1"}, 422, "invalid_customer"),
    ({"text": "hi", "customer": 2**64}, 422, "invalid_customer"),
    ({"text": "hi", "customer": 999999}, 404, "not_found"),
    ({"text": "hi", "payload": 7}, 422, "invalid_payload"),
    ({"text": "hi", "session": "x"}, 422, "unknown_field"),
])
def test_the_test_box_refuses_bad_fields(client, tenant, body, status, code):
    assert_error(post_json(client, "/api/v1/automation/test", body, tenant.headers), status, code)


def test_the_test_box_does_not_see_other_tenants(client, tenant, other_tenant, web_channel):
    from appliance.records import Channel

    theirs = Channel.create(tenant=other_tenant.id, kind="zalo", name="theirs")
    customer = Customer.create(tenant=other_tenant.id, channel=theirs, external_id="u1")
    assert_error(post_json(client, "/api/v1/automation/test", {"text": "hi", "customer": customer.id},
                           tenant.headers), 404, "not_found")
    assert_error(post_json(client, "/api/v1/automation/test", {"text": "hi", "channel": theirs.id}, tenant.headers),
                 422, "invalid_channel")
    create(client, other_tenant)
    answer = post_json(client, "/api/v1/automation/test", {"text": "giá"}, tenant.headers).get_json()
    assert answer["answered_by"] == "assistant"  # their rule is not ours
