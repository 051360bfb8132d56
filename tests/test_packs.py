"""Starter packs: each pack's rules and flows validate, install once per tenant (again: only what is missing), take the
shop's values, and answer their sample questions in Vietnamese and English through the real pipeline (widget and a
WhatsApp fake): opening hours, a price question, the order or booking flow to its end with wrong answers on the way,
and a request for a person."""
from __future__ import annotations

import json
import re
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from appliance import conversations
from appliance.auth import issue_token
from appliance.automation import flows, packs, rules
from appliance.db import database, open_database
from appliance.records import Channel, Conversation, Customer, Flow, FlowRun, Message, Rule, Tenant
from tests.conftest import assert_error, make_settings, post_json
from tests.fakes import fake_whatsapp, sample, writer  # noqa: F401  (fixtures)

PACKS = ("restaurant", "shop", "spa")
URL = "/api/v1/automation/packs"


@pytest.fixture
def settings(tmp_path):
    # a sample conversation is a dozen widget messages in a second: above one visitor's usual limit
    return make_settings(tmp_path / "data", widget_session_messages=100)


def install(client, tenant, name: str, values: dict | None = None):
    body = {} if values is None else {"values": values}
    return post_json(client, f"{URL}/{name}", body, tenant.headers)


def installed(tenant_id: str, name: str) -> dict[str, str]:
    """{key in the pack: row id} of the rules and flows this pack installed for the tenant."""
    marked = {**Rule.of_pack(tenant_id, name), **Flow.of_pack(tenant_id, name)}
    return {marker.split(":", 1)[1]: row_id for marker, row_id in marked.items()}


# --- the packs themselves --------------------------------------------------------------------------------

@pytest.mark.parametrize("name", PACKS)
def test_each_pack_validates_as_the_api_would(name):
    pack = packs.load(name)
    declared = set(pack["values"])
    used = set(re.findall(r"\[\[(\w+)\]\]", json.dumps(pack, ensure_ascii=False)))
    assert used == declared  # every value is used, and nothing the installer cannot fill is in a text
    filled = packs.fill(pack, {key: spec["default"] or "Shop" for key, spec in pack["values"].items()})
    keys = [item["key"] for item in filled["rules"] + filled["flows"]]
    assert len(keys) == len(set(keys))
    for rule in filled["rules"]:
        rules.check_rule({k: v for k, v in rule.items() if k != "key"})
    for flow in filled["flows"]:
        flows.check_flow({k: v for k, v in flow.items() if k != "key"}, kinds=None)  # every channel's button limits
    # every part a customer meets comes in both languages, asking for the same fields
    assert {k for k in keys if k.endswith("_vi")} == {k.replace("_en", "_vi") for k in keys if k.endswith("_en")}
    by_key = {flow["key"]: flow for flow in filled["flows"]}
    for key in by_key:
        if key.endswith("_vi"):
            fields = [[step.get("field") for step in by_key[k]["steps"]] for k in (key, key.replace("_vi", "_en"))]
            assert fields[0] == fields[1]
    for language in packs.LANGUAGES:
        assert pack["title"][language] and pack["description"][language]
        assert all(spec["help"][language] for spec in pack["values"].values())


def test_the_packs_are_listed_in_both_languages(client, tenant):
    listed = {}
    for language in packs.LANGUAGES:
        response = client.get(f"{URL}?language={language}", headers=tenant.headers)
        assert response.status_code == 200
        listed[language] = response.get_json()["packs"]
    assert [p["name"] for p in listed["vi"]] == [p["name"] for p in listed["en"]] == list(PACKS)
    spa_vi, spa_en = listed["vi"][2], listed["en"][2]
    assert spa_vi["description"] != spa_en["description"] and (spa_vi["rules"], spa_vi["flows"]) == (7, 2)
    help_en, help_vi = ({v["name"]: v["help"] for v in pack["values"]} for pack in (spa_en, spa_vi))
    assert set(help_en) == {"shop", "hours_vi", "hours_en", "address", "prices_vi", "prices_en"}
    assert all(help_en[name] != help_vi[name] for name in help_en)  # each in the asked language
    assert all(v["default"] for v in spa_en["values"] if v["name"] not in ("shop", "address"))


def test_the_routes_are_in_openapi(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert "get" in paths["/automation/packs"]
    body = paths["/automation/packs/{name}"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert "values" in body["properties"]


# --- installing -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", PACKS)
def test_a_pack_installs_once_and_again_only_what_is_missing(client, tenant, name):
    first = install(client, tenant, name)
    assert first.status_code == 201
    body = first.get_json()
    pack = packs.load(name)
    assert (len(body["rules"]), len(body["flows"])) == (len(pack["rules"]), len(pack["flows"]))
    assert body["kept"] == {"rules": [], "flows": []}
    ids = installed(tenant.id, name)
    assert sorted(ids.values()) == sorted(body["rules"] + body["flows"])
    assert all(Flow.get_by_id(flow_id).active for flow_id in body["flows"])  # they answer as installed

    again = install(client, tenant, name)  # a second click: nothing new
    assert again.status_code == 200
    assert again.get_json() == {"pack": name, "rules": [], "flows": [],
                                "kept": {"rules": body["rules"], "flows": body["flows"]}}
    assert Rule.select().where(Rule.tenant == tenant.id).count() == len(pack["rules"])
    assert Flow.select().where(Flow.tenant == tenant.id).count() == len(pack["flows"])

    # the owner edits one rule and deletes another: the edit stays, the deleted one comes back
    edited, deleted = ids["hours_vi"], ids["human_en"]
    rules.update(Rule.get_by_id(edited), {"name": "Giờ mở cửa của tiệm"})
    rules.delete(Rule.get_by_id(deleted))
    third = install(client, tenant, name)
    assert third.status_code == 201 and len(third.get_json()["rules"]) == 1 and third.get_json()["flows"] == []
    assert Rule.get_by_id(edited).name == "Giờ mở cửa của tiệm"
    assert installed(tenant.id, name)["human_en"] == third.get_json()["rules"][0]


def test_two_installs_at_once_make_one_set(live_server, tenant):
    """A double click: two requests race on the real server; one creates the pack, the other finds it there."""
    barrier = threading.Barrier(2)

    def click():
        barrier.wait()
        return requests.post(f"{live_server}{URL}/restaurant", json={}, headers=tenant.headers, timeout=60)

    with ThreadPoolExecutor(2) as pool:
        statuses = sorted(r.status_code for r in pool.map(lambda _: click(), range(2)))
    assert statuses == [200, 201]
    pack = packs.load("restaurant")
    assert Rule.select().where(Rule.tenant == tenant.id).count() == len(pack["rules"])
    assert Flow.select().where(Flow.tenant == tenant.id).count() == len(pack["flows"])


HOURS_ASKED = ["Shop mở cửa mấy giờ vậy?", "Spa mở cửa lúc mấy giờ?", "Quán mấy giờ đóng cửa?",
               "Mấy giờ mở cửa?", "Shop làm đến mấy giờ?", "shop mo cua may gio", "Giờ làm việc của shop?",
               "What are your opening hours?", "Are you open on Sunday?", "What time do you open?",
               "When do you close?", "What are your hours?", "Are you open now?"]
HOURS_NOT_ASKED = ["Tai nghe này dùng được mấy giờ?", "Mấy giờ thì giao hàng?", "Can I open the box before paying?",
                   "Will it be delivered within 24 hours?", "Is the case closed type?",
                   "Do you sell open-back headphones?", "What time will my order arrive?"]


@pytest.mark.parametrize("name", PACKS)
def test_the_opening_hours_rules_answer_opening_hours_questions_only(client, tenant, name):
    install(client, tenant, name)
    ids = installed(tenant.id, name)
    hours = {ids["hours_vi"], ids["hours_en"]}

    def answered_by(text: str) -> set[str]:
        body = post_json(client, "/api/v1/automation/test", {"text": text}, tenant.headers).get_json()
        return {r["id"] for r in body.get("rules", [])} & hours

    assert [text for text in HOURS_ASKED if not answered_by(text)] == []
    assert [text for text in HOURS_NOT_ASKED if answered_by(text)] == []


def test_the_shops_values_go_into_the_replies(client, tenant):
    values = {"hours_vi": "từ 7:00 đến 22:00, thứ Hai đến thứ Bảy", "address": "12 Lý Thái Tổ, Hà Nội",
              "prices_en": "Massage, 60 minutes: 350,000 VND\nFacial: 400,000 VND"}
    assert install(client, tenant, "spa", values).status_code == 201
    ids = installed(tenant.id, "spa")
    hours_vi = Rule.get_by_id(ids["hours_vi"]).actions[0]["text"]
    assert values["hours_vi"] in hours_vi and values["address"] in hours_vi and tenant.tenant.name in hours_vi
    assert values["prices_en"] in Rule.get_by_id(ids["price_en"]).actions[1]["text"]


def test_an_empty_value_leaves_its_line_out(client, tenant):
    assert install(client, tenant, "shop").status_code == 201  # no address given: the default is empty
    text = Rule.get_by_id(installed(tenant.id, "shop")["hours_en"]).actions[0]["text"]
    assert "[[" not in text and "Address" not in text and text.startswith(tenant.tenant.name + " is open")


@given(st.dictionaries(st.sampled_from(["shop", "hours_vi", "hours_en", "address"]), st.text(max_size=60)))
@hsettings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_values_fill_every_text(given_values):
    """Whatever an owner types, every [[name]] is replaced or its line left out; never a crash."""
    tenant = type("T", (), {"id": "ten_x", "name": "Tiệm Hoa"})()
    pack = packs.load("shop")
    values = packs.chosen_values(pack, tenant, given_values)
    for rule in packs.fill(pack, values)["rules"]:
        for action in rule["actions"]:
            text = action.get("text", "")
            leftover = set(re.findall(r"\[\[(\w+)\]\]", text)) & set(pack["values"])
            assert not leftover - {k for k, v in given_values.items() if "[[" in v}  # only an owner's own brackets


@pytest.mark.parametrize("url,body,status,code", [
    (f"{URL}/bakery", {}, 404, "unknown_pack"),
    (f"{URL}/..%2Fshop", {}, 404, "not_found"),  # no file outside the packs folder is ever named
    (f"{URL}/__init__", {}, 404, "unknown_pack"),
    (f"{URL}/shop", {"values": ["8:00"]}, 422, "invalid_values"),
    (f"{URL}/shop", {"values": {"opening": "8:00"}}, 422, "unknown_value"),
    (f"{URL}/shop", {"values": {"hours_vi": 8}}, 422, "invalid_values"),
    (f"{URL}/shop", {"values": {"address": "x" * (packs.MAX_VALUE + 1)}}, 413, "value_too_long"),
])
def test_bad_install_requests_say_what_is_wrong(client, tenant, url, body, status, code):
    assert_error(post_json(client, url, body, tenant.headers), status, code)
    assert Rule.select().count() == 0 and Flow.select().count() == 0  # nothing half-installed


def test_malformed_and_unauthorised_install_requests(client, tenant):
    raw = client.post(f"{URL}/shop", data=b"{not json", headers={**tenant.headers, "Content-Type": "application/json"})
    assert_error(raw, 400, "invalid_json")
    agent = {"Authorization": f"Bearer {issue_token('agent', tenant.id)}"}
    assert_error(client.post(f"{URL}/shop", headers=agent), 403, "forbidden")
    assert client.get(URL, headers=agent).status_code == 200  # agents may look
    assert client.post(f"{URL}/shop").status_code == 401
    assert Rule.select().count() == 0


def test_packs_are_per_tenant(client, tenant, other_tenant, admin_headers):
    assert install(client, tenant, "shop").status_code == 201
    assert installed(other_tenant.id, "shop") == {}  # the other shop has nothing of it
    assert install(client, other_tenant, "shop").status_code == 201  # and gets its own set, not "already there"
    mine, theirs = installed(tenant.id, "shop"), installed(other_tenant.id, "shop")
    assert mine.keys() == theirs.keys() and not set(mine.values()) & set(theirs.values())
    assert Rule.get_by_id(theirs["greeting"]).tenant_id == other_tenant.id
    # a platform admin installs for the tenant it names, and must name one
    assert_error(client.post(f"{URL}/spa", headers=admin_headers), 400, "tenant_required")
    named = client.post(f"{URL}/spa", headers={**admin_headers, "X-Tenant-Id": other_tenant.id})
    assert named.status_code == 201 and installed(other_tenant.id, "spa") and not installed(tenant.id, "spa")


def test_migration_18_adds_the_pack_markers_to_an_older_database(tmp_path, services):
    path = tmp_path / "old.db"
    database.close()
    db = open_database(path)
    for table in ("rule", "flow"):  # as a version 17 database had them
        db.execute_sql(f'DROP INDEX "{table}_tenant_id_pack"')
        db.execute_sql(f'ALTER TABLE "{table}" DROP COLUMN "pack"')
    db.execute_sql("PRAGMA user_version = 17")
    db.close()
    db = open_database(path)
    assert db.execute_sql("PRAGMA user_version").fetchone()[0] >= 18
    for table in ("rule", "flow"):
        assert "pack" in {c.name for c in db.get_columns(table)}
        assert f"{table}_tenant_id_pack" in {i.name for i in db.get_indexes(table)}


# --- answering its sample questions through the real pipeline ------------------------------------------------

# Per pack and language: the customer's questions, and how its flow goes (the button chosen at each choice, what
# the flow ends with). Wrong answers first at every date, phone and choice question.
SAMPLES = {
    ("shop", "vi"): {"hours": "Shop mở cửa mấy giờ vậy?", "price": "Áo thun trắng giá bao nhiêu?",
                     "start": "Mình muốn đặt hàng", "text": "2 áo thun trắng size M", "human": "Gọi lại cho tôi nhé"},
    ("shop", "en"): {"hours": "What are your opening hours?", "price": "How much is the white T-shirt?",
                     "start": "I would like to place an order", "text": "2 white T-shirts, size M",
                     "human": "Please call me back"},
    ("spa", "vi"): {"hours": "Spa mở cửa lúc mấy giờ?", "price": "Massage giá bao nhiêu ạ?", "start": "tap",
                    "human": "Gọi cho mình với"},
    ("spa", "en"): {"hours": "Are you open on Sunday?", "price": "What are your prices?", "start": "tap",
                    "human": "Can you call me back?"},
    ("restaurant", "vi"): {"hours": "Quán mấy giờ đóng cửa?", "price": "Phở bò giá bao nhiêu tiền?",
                           "start": "Cho mình đặt bàn tối nay", "text": "19:00", "human": "Gọi lại cho tôi"},
    ("restaurant", "en"): {"hours": "What time do you open?", "price": "How much is the beef pho?",
                           "start": "I want to book a table", "text": "7 pm", "human": "call me back please"},
}
FLOW = {"shop": "order", "spa": "booking", "restaurant": "booking"}
PICK = {("restaurant", "vi"): -1}  # 6 or more people: the large-party branch (the others take the first button)
ENDS_WITH_A_PERSON = {("shop", "vi"), ("shop", "en"), ("restaurant", "vi")}
FLOW_TAG = {"shop": "đơn hàng mới", "spa": "đặt lịch", "restaurant": "đặt bàn"}
PRICE_REPLY = {"spa"}  # the spa answers prices itself; the shop and the restaurant let the assistant answer
WRONG = {"date": {"vi": "hôm nào cũng được", "en": "whenever suits you"},
         "phone": {"vi": "số của mình là 123", "en": "my number is 123"},
         "choice": {"vi": "cái nào cũng được", "en": "anything is fine"}}
PHONE = ("0912 345 678", "+84912345678")


@pytest.fixture
def chat(writer):
    """A customer on the widget, then on WhatsApp."""
    return writer


def rules_behind(messages: list[Message]) -> set[str]:
    """The rules a turn's messages name as their source."""
    return {source["rule"] for m in messages for source in (m.sources or []) if "rule" in source}


@pytest.mark.parametrize("name,language", list(SAMPLES))
def test_a_starter_pack_answers_its_sample_questions(client, services, tenant, chat, name, language):
    samples = SAMPLES[(name, language)]
    assert install(client, tenant, name).status_code == 201
    ids = installed(tenant.id, name)

    # the first message: the greeting, then the opening hours (the greeting lets later rules answer too)
    answers = chat.says(samples["hours"])
    assert rules_behind(answers) == {ids["greeting"], ids[f"hours_{language}"]}
    assert len(answers) == 2 and all(m.sender == "automation" and m.status == "sent" for m in answers)
    assert tenant.tenant.name in answers[1].text  # the shop's name went into the reply

    # a price question: the price rule tags the customer; the spa answers with its list and a booking button
    answers = chat.says(samples["price"])
    assert Rule.get_by_id(ids[f"price_{language}"]).matches == 1 and "hỏi giá" in chat.customer().tags
    if name in PRICE_REPLY:
        assert rules_behind(answers) == {ids[f"price_{language}"]}
        [book] = answers[0].payload["buttons"]
    else:  # the assistant answered (from the shop's documents; it has none here), not a rule's reply
        assert len(answers) == 1 and answers[0].sender == "bot" and rules_behind(answers) == set()

    # the order or booking flow, to its end, with a wrong answer first at every date, phone and choice question
    flow_id = ids[f"{FLOW[name]}_{language}"]
    flow = Flow.get_by_id(flow_id)
    steps = {step["id"]: step for step in flows.check_flow(
        {"name": flow.name, **flow.versions.get().definition})["steps"]}
    answers = chat.taps(book["id"], book["title"]) if samples["start"] == "tap" else chat.says(samples["start"])
    run = FlowRun.get(FlowRun.flow == flow_id)
    expected = {}
    while run.status == "waiting":
        step = steps[run.step]
        assert answers[-1].text == step["text"]  # the question was asked
        kind = step["validate"]
        if kind in WRONG:
            answers = chat.says(WRONG[kind][language])
            run = FlowRun.get_by_id(run.id)
            assert (run.step, run.tries, run.status) == (step["id"], 1, "waiting")
            assert [m.text for m in answers] == [step["retry_text"]]  # asked again, nothing stored
            assert step["field"] not in (chat.customer().custom_fields or {})
        if kind == "choice":
            button = step["buttons"][PICK.get((name, language), 0)]
            answers, expected[step["field"]] = chat.taps(button["id"], button["title"]), button["id"]
        elif kind == "date":
            answers, expected[step["field"]] = chat.says("20/12"), re.compile(r"\d{4}-12-20")
        elif kind == "phone":
            answers, expected[step["field"]] = chat.says(PHONE[0]), PHONE[1]
        else:
            answers, expected[step["field"]] = chat.says(samples["text"]), samples["text"]
        run = FlowRun.get_by_id(run.id)
    assert run.status == "done" and answers  # the flow reached its end and confirmed
    customer = chat.customer()
    for field, value in expected.items():
        stored = customer.custom_fields[field]
        assert value.fullmatch(stored) if isinstance(value, re.Pattern) else stored == value, (field, stored)
    assert FLOW_TAG[name] in customer.tags
    conversation = chat.conversation()
    assert conversation.status == ("handoff" if (name, language) in ENDS_WITH_A_PERSON else "open")
    if conversation.status == "handoff":
        conversations.resume_bot(services, conversation)  # staff took the order, and give the chat back

    # asking for a person: the rule's reply, then the hand-off
    answers = chat.says(samples["human"])
    assert rules_behind(answers) == {ids[f"human_{language}"]} and chat.conversation().status == "handoff"
    if chat.kind == "whatsapp":  # the choices went out as reply buttons (the fake checks every send's shape)
        assert any(r.body.get("type") == "interactive" for r in chat.fake.delivered)
