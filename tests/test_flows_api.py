"""/api/v1/flows: create, list, read, edit (new versions), activate, export and import; invalid flows named by
their step; hostile bodies are 4xx; other tenants' flows do not exist for you."""
from __future__ import annotations

import copy

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from appliance.auth import issue_token
from appliance.automation import answers
from appliance.records import Flow, FlowRun, FlowVersion
from tests.conftest import assert_error, post_json
from tests.fakes import connect, fake_whatsapp  # noqa: F401  (fixtures)

FLOW = {"name": "Booking", "triggers": [{"type": "keyword", "keywords": ["book"]}], "start": "ask",
        "steps": [{"id": "ask", "type": "ask", "text": "Your phone?", "validate": "phone", "field": "phone",
                   "next": "thanks"},
                  {"id": "thanks", "type": "send", "text": "Thanks!"}]}
HTTP = hsettings(derandomize=True, max_examples=40, deadline=None, database=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def create(client, tenant, body=FLOW, status=201):
    response = post_json(client, "/api/v1/flows", body, tenant.headers)
    assert response.status_code == status, response.get_json()
    return response.get_json()


def problems_of(response, status=422) -> list[dict]:
    """The invalid_flow error's problems (the one error shape, plus the steps named)."""
    assert response.status_code == status, response.get_json()
    error = response.get_json()["error"]
    assert set(response.get_json()) == {"error"} and error["code"] == "invalid_flow"
    assert error["message"].endswith(".") and all(p["message"].endswith(".") for p in error["problems"])
    return error["problems"]


def test_create_list_read_edit_and_delete(client, tenant):
    created = create(client, tenant)
    assert (created["name"], created["active"], created["version"]) == ("Booking", False, 1)
    definition = created["definition"]
    assert definition["steps"][0]["id"] == "ask" and definition["triggers"][0]["mode"] == "contains"
    flow_id = created["id"]
    listed = client.get("/api/v1/flows", headers=tenant.headers).get_json()["flows"]
    assert [(f["id"], f["version"], f["runs"], f["running"]) for f in listed] == [(flow_id, 1, 0, 0)]
    edited = copy.deepcopy(FLOW)
    edited["steps"][1]["text"] = "Thank you, we will call."
    response = client.put(f"/api/v1/flows/{flow_id}", json=edited, headers=tenant.headers)
    assert response.status_code == 200 and response.get_json()["version"] == 2
    detail = client.get(f"/api/v1/flows/{flow_id}", headers=tenant.headers).get_json()
    assert detail["definition"]["steps"][1]["text"] == "Thank you, we will call."
    assert [v["version"] for v in detail["versions"]] == [2, 1]
    assert FlowVersion.definition_of(flow_id, 1)["steps"][1]["text"] == "Thanks!"  # the old version stays for runs
    assert client.put(f"/api/v1/flows/{flow_id}", json=edited, headers=tenant.headers).get_json()["version"] == 2
    assert client.delete(f"/api/v1/flows/{flow_id}", headers=tenant.headers).get_json() == {"deleted": flow_id}
    assert_error(client.get(f"/api/v1/flows/{flow_id}", headers=tenant.headers), 404, "not_found")
    assert FlowVersion.select().count() == 0


def test_activate_deactivate_and_the_run_counts(client, tenant, web_channel):
    flow_id = create(client, tenant)["id"]
    assert client.post(f"/api/v1/flows/{flow_id}/activate", headers=tenant.headers).get_json()["active"] is True
    assert post_json(client, f"/widget/{web_channel.id}/messages", {"session": "s1", "text": "book"}).status_code == 202
    listed = client.get("/api/v1/flows", headers=tenant.headers).get_json()["flows"]
    assert (listed[0]["runs"], listed[0]["running"]) == (1, 1)
    assert FlowRun.get().status == "waiting"
    assert client.post(f"/api/v1/flows/{flow_id}/deactivate", headers=tenant.headers).get_json()["active"] is False
    assert Flow.get_by_id(flow_id).active is False


def test_export_then_import_makes_an_equal_inactive_flow(client, tenant, other_tenant):
    flow_id = create(client, tenant, {**FLOW, "active": True})["id"]
    exported = client.get(f"/api/v1/flows/{flow_id}/export", headers=tenant.headers).get_json()
    assert exported["format"] == "appliance-flow-1" and exported["flow"]["name"] == "Booking"
    imported = create_import(client, other_tenant, exported)
    assert imported["active"] is False and imported["id"] != flow_id
    assert imported["definition"] == FlowVersion.definition_of(flow_id, 1)
    problems = problems_of(post_json(client, "/api/v1/flows/import", {"flow": FLOW}, tenant.headers))
    assert "appliance-flow-1" in problems[0]["message"]


def create_import(client, tenant, document):
    response = post_json(client, "/api/v1/flows/import", document, tenant.headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def with_steps(*steps, start="a", **extra):
    return {"name": "Bad", "start": start, "steps": list(steps), **extra}


@pytest.mark.parametrize("body,step,words", [
    (with_steps({"id": "a", "type": "send", "text": "hi", "next": "nowhere"}), "a", "nowhere"),
    (with_steps({"id": "a", "type": "send", "text": "hi"}, {"id": "b", "type": "end"}), "b", "never reached"),
    (with_steps({"id": "a", "type": "tag", "tag": "x", "next": "b"}, {"id": "b", "type": "jump", "to": "a"}), None,
     "without an ask or a delay"),
    (with_steps({"id": "a", "type": "condition", "branches": [{"if": {"type": "reply", "op": "exists"}, "next": "b"}]},
                {"id": "b", "type": "end"}), "a", "default"),
    (with_steps({"id": "a", "type": "teleport"}), "a", "unknown type 'teleport'"),
    (with_steps({"id": "a", "type": "ask", "text": "?", "colour": "red"}), "a", "unknown field 'colour'"),
    (with_steps({"id": "a", "type": "ask", "text": "?", "validate": "choice"}), "a", "no buttons"),
    (with_steps({"id": "a", "type": "delay", "seconds": 0}), "a", "'seconds'"),
    (with_steps({"id": "a", "type": "end"}, {"id": "a", "type": "end"}), "a", "give every step its own id"),
    (with_steps({"id": "a", "type": "end"}, start="b"), None, "'start'"),
    (with_steps({"id": "a", "type": "end"}, triggers=[{"type": "schedule", "cron": "every monday", "tag": "x"}]),
     None, "cron"),
    ({"start": "a", "steps": [{"id": "a", "type": "end"}]}, None, "'name'"),
    (with_steps({"id": "a", "type": "webhook", "url": "http://127.0.0.1:9/hook", "secret": "s3cret-s3cret"}), "a",
     "url"),  # the shop's webhook must be https to a public address unless the platform admin allows the host
])
def test_invalid_flows_are_refused_with_the_step_named(client, tenant, body, step, words):
    problems = problems_of(post_json(client, "/api/v1/flows", body, tenant.headers))
    assert any(words in p["message"] and (step is None or p["step"] == step) for p in problems), problems
    assert Flow.select().count() == 0


def test_button_limits_follow_the_tenant_s_channels(client, tenant, fake_whatsapp):
    buttons = [{"id": f"b{n}", "title": f"Option {n}"} for n in range(12)]
    body = with_steps({"id": "a", "type": "ask", "text": "Pick one", "buttons": buttons})
    create(client, tenant, body)  # the widget only: any number of buttons
    connect(client, tenant, fake_whatsapp)
    problems = problems_of(post_json(client, "/api/v1/flows", body, tenant.headers))
    assert problems[0]["step"] == "a" and "WhatsApp shows at most 10" in problems[0]["message"]


def test_the_loop_problem_names_a_step_of_the_loop(client, tenant):
    body = with_steps({"id": "a", "type": "tag", "tag": "x", "next": "b"}, {"id": "b", "type": "jump", "to": "a"})
    [problem] = [p for p in problems_of(post_json(client, "/api/v1/flows", body, tenant.headers))
                 if "without an ask or a delay" in p["message"]]
    assert problem["step"] in ("a", "b")


def test_other_tenants_flows_do_not_exist(client, tenant, other_tenant):
    flow_id = create(client, tenant)["id"]
    for method, path in (("get", ""), ("put", ""), ("delete", ""), ("post", "/activate"), ("post", "/deactivate"),
                         ("get", "/export")):
        response = getattr(client, method)(f"/api/v1/flows/{flow_id}{path}", json=FLOW, headers=other_tenant.headers)
        assert_error(response, 404, "not_found")
    assert client.get("/api/v1/flows", headers=other_tenant.headers).get_json() == {"flows": []}
    assert Flow.get_by_id(flow_id).version == 1


def test_agents_read_but_do_not_change_flows(client, tenant):
    flow_id = create(client, tenant)["id"]
    agent = {"Authorization": f"Bearer {issue_token('agent', tenant.id)}"}
    assert client.get(f"/api/v1/flows/{flow_id}", headers=agent).status_code == 200
    assert_error(post_json(client, "/api/v1/flows", FLOW, agent), 403, "forbidden")
    assert_error(client.post(f"/api/v1/flows/{flow_id}/activate", headers=agent), 403, "forbidden")


def test_the_flow_endpoints_are_in_openapi(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert {"post", "get"} <= set(paths["/flows"]) and "put" in paths["/flows/{flow_id}"]
    assert "requestBody" in paths["/flows"]["post"] and "/flows/import" in paths


def test_unreadable_bodies_are_4xx(client, tenant):
    assert_error(client.post("/api/v1/flows", data="{", headers={**tenant.headers, "Content-Type": "application/json"}),
                 400, "invalid_json")
    assert_error(client.post("/api/v1/flows", data="x", headers=tenant.headers), 400, "invalid_json")
    assert_error(post_json(client, "/api/v1/flows", [FLOW], tenant.headers), 400, "invalid_json")
    huge = {**FLOW, "name": "x" * (client.application.extensions["appliance"].settings.max_body_bytes + 1)}
    assert_error(post_json(client, "/api/v1/flows", huge, tenant.headers), 413, "too_large")
    problems = problems_of(post_json(client, "/api/v1/flows", {**FLOW, "name": "x" * 201}, tenant.headers))
    assert problems == [{"step": None, "message": "Give the flow a 'name' of 1 to 200 characters."}]


SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=8),
                    st.sampled_from(["a", "b", "send", "ask", "condition", "jump", "delay", "ab", "keyword", "end",
                                     "schedule", "* * * * *", "phone", "choice"]))
KEYS = st.sampled_from(["id", "type", "next", "text", "buttons", "to", "default", "branches", "if", "op", "value",
                        "seconds", "variants", "weight", "name", "start", "steps", "triggers", "keywords", "cron",
                        "tag", "validate", "retries", "fallback", "field", "title", "experiment"]) | st.text(max_size=4)
VALUES = st.recursive(SCALARS, lambda kids: st.lists(kids, max_size=4) | st.dictionaries(KEYS, kids, max_size=5),
                      max_leaves=30)
STEP = st.fixed_dictionaries({"id": st.sampled_from(["a", "b", "c"]),
                              "type": st.sampled_from(["send", "ask", "condition", "jump", "delay", "ab", "end"])},
                             optional={k: VALUES for k in ("next", "text", "buttons", "to", "default", "branches",
                                                           "seconds", "variants", "validate")})
BODIES = st.one_of(VALUES, st.fixed_dictionaries({"name": VALUES, "start": st.sampled_from(["a", "b"]) | VALUES,
                                                  "steps": st.lists(STEP, max_size=4) | VALUES},
                                                 optional={"triggers": VALUES, "timeout_minutes": VALUES}))


@pytest.fixture
def existing(client, tenant):
    return create(client, tenant)["id"]


@HTTP
@given(body=BODIES)
def test_hostile_flow_bodies_are_never_a_500(client, tenant, existing, body):
    for response in (post_json(client, "/api/v1/flows", body, tenant.headers),
                     client.put(f"/api/v1/flows/{existing}", json=body, headers=tenant.headers),
                     post_json(client, "/api/v1/flows/import", {"format": "appliance-flow-1", "flow": body},
                               tenant.headers)):
        assert response.status_code in (200, 201, 400, 413, 422), response.get_json()
        if response.status_code == 422:
            assert response.get_json()["error"]["code"] == "invalid_flow"


def test_a_webhook_step_s_secret_is_sealed_and_stays_on_this_appliance(client, tenant):
    client.application.extensions["appliance"].settings["outbound_allow_hosts"] = "127.0.0.1:9"
    body = with_steps({"id": "a", "type": "webhook", "url": "http://127.0.0.1:9/hook", "secret": "s3cret-s3cret"})
    created = create(client, tenant, body)
    step = created["definition"]["steps"][0]
    assert "secret" not in step and step["secret_sealed"] and "s3cret" not in str(created)
    detail = client.get(f"/api/v1/flows/{created['id']}", headers=tenant.headers).get_json()
    again = client.put(f"/api/v1/flows/{created['id']}", json={"name": "Bad", **detail["definition"]},
                       headers=tenant.headers)
    assert again.status_code == 200 and again.get_json()["version"] == 1  # sent back as read: nothing changed
    exported = client.get(f"/api/v1/flows/{created['id']}/export", headers=tenant.headers).get_json()
    assert "secret_sealed" not in exported["flow"]["steps"][0]
    problems = problems_of(post_json(client, "/api/v1/flows/import", exported, tenant.headers))
    assert problems[0]["step"] == "a" and "secret" in problems[0]["message"]


def test_the_test_box_says_what_a_flow_would_do_and_changes_nothing(client, tenant, web_channel):
    flow_id = create(client, tenant, {**FLOW, "active": True})["id"]
    started = post_json(client, "/api/v1/automation/test", {"text": "I want to book"}, tenant.headers).get_json()
    assert (started["answered_by"], started["flow"]["id"], started["replies"]) == ("flow", flow_id,
                                                                                  [{"text": "Your phone?"}])
    assert FlowRun.select().count() == 0
    assert post_json(client, f"/widget/{web_channel.id}/messages", {"session": "s1", "text": "book"}).status_code == 202
    customer = FlowRun.get().customer
    answer = post_json(client, "/api/v1/automation/test", {"text": "0912 345 678", "customer": customer.id},
                       tenant.headers).get_json()
    assert answer["answered_by"] == "flow" and answer["replies"] == [{"text": "Thanks!"}]
    wrong = post_json(client, "/api/v1/automation/test", {"text": "soon", "customer": customer.id},
                      tenant.headers).get_json()
    assert wrong["replies"] == [{"text": answers.retry_text("phone", "en")}]  # re-asked in the question's language
    stop = post_json(client, "/api/v1/automation/test", {"text": "hủy", "customer": customer.id},
                     tenant.headers).get_json()
    assert stop["replies"] == [{"text": "Đã dừng. Bạn cần gì cứ nhắn cho shop nhé."}]
    run = FlowRun.get()
    assert (run.step, run.status, run.tries) == ("ask", "waiting", 0) and "phone" not in run.customer.custom_fields
    other = post_json(client, "/api/v1/automation/test", {"text": "hello"}, tenant.headers).get_json()
    assert other["answered_by"] == "assistant"  # no flow, no rule
