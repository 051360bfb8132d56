"""A/B experiments (appliance/automation/ab.py): sticky weighted variants stored per customer, dry runs that store
nothing, conversions per goal type, results with a two-proportion z-test, and GET /api/v1/automation/experiments."""
import threading

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from appliance import conversations
from appliance.automation import ab, actions
from appliance.automation.actions import Turn
from appliance.errors import AppError
from appliance.records import Assignment, Conversation, Customer, Message, Rule, utcnow
from tests.conftest import assert_error, post_json, run_benchmark, wait_until

VARIANTS = [{"name": "short", "weight": 1, "actions": [{"type": "reply", "text": "50.000đ"}]},
            {"name": "long", "weight": 1, "actions": [{"type": "reply", "text": "Hoa hồng 50.000đ một bông, giao trong 2 giờ."}]}]


def ab_action(goal, variants=VARIANTS, experiment="price"):
    return {"type": "ab", "experiment": experiment, "goal": goal, "variants": variants}


@pytest.fixture
def customers(tenant, web_channel):
    rows = [{"tenant": tenant.id, "channel": web_channel.id, "external_id": f"s{n}", "name": f"Khách {n}"}
            for n in range(400)]
    Customer.insert_many(rows).execute()
    return list(Customer.select().where(Customer.tenant == tenant.id).order_by(Customer.id))


def turn_for(services, tenant, customer, dry_run=False, source="rule:rul_a"):
    return Turn(services, tenant.id, customer, dry_run=dry_run, source=source)


def test_a_customer_keeps_their_variant_and_it_is_stored_once(services, tenant, customers):
    goal = {"type": "tag", "tag": "ordered"}
    firsts = {}
    for customer in customers[:50]:
        turn = turn_for(services, tenant, customer)
        actions.apply(turn, ab_action(goal))
        firsts[customer.id] = turn.outbounds[0].text
    for customer in customers[:50]:  # asked again: the same answer
        turn = turn_for(services, tenant, customer)
        actions.apply(turn, ab_action(goal))
        assert turn.outbounds[0].text == firsts[customer.id]
    stored = {a.customer_id: a.variant for a in Assignment.select()}
    assert len(stored) == 50 and {a.experiment for a in Assignment.select()} == {"rule:rul_a:price"}
    texts = {v["name"]: v["actions"][0]["text"] for v in VARIANTS}
    assert all(texts[stored[c]] == text for c, text in firsts.items())
    assert set(stored.values()) == {"short", "long"}


def test_the_stored_variant_wins_over_the_pick(services, tenant, customers):
    customer = customers[0]
    picked = ab.pick("rule:rul_a:price", customer.id, VARIANTS)["name"]
    other = next(v["name"] for v in VARIANTS if v["name"] != picked)
    Assignment.assign(tenant.id, "rule:rul_a:price", customer.id, other, None)  # assigned earlier (other weights)
    for dry_run in (True, False):
        chosen = ab.variant_for(turn_for(services, tenant, customer, dry_run), "rule:rul_a:price", VARIANTS)
        assert chosen["name"] == other


def test_weights_split_customers_and_a_zero_weight_gets_nobody(services, tenant, customers):
    weighted = [{"name": "a", "weight": 1, "actions": []}, {"name": "b", "weight": 3, "actions": []}]
    counts = {"a": 0, "b": 0}
    for customer in customers:
        counts[ab.variant_for(turn_for(services, tenant, customer), "rule:rul_a:w", weighted)["name"]] += 1
    assert abs(counts["b"] / len(customers) - 0.75) <= 0.06, counts  # 400 customers: a few points either way
    paused = [{"name": "a", "weight": 0, "actions": []}, {"name": "b", "weight": 2, "actions": []}]
    assert {ab.variant_for(turn_for(services, tenant, c), "rule:rul_a:z", paused)["name"] for c in customers} == {"b"}


def test_a_dry_run_says_the_variant_and_stores_nothing(services, tenant, customers):
    customer = customers[3]
    dry = turn_for(services, tenant, customer, dry_run=True)
    actions.apply(dry, ab_action({"type": "tag", "tag": "x"}))
    assert Assignment.select().count() == 0 and dry.why[1].startswith("A/B rule:rul_a:price: variant ")
    real = turn_for(services, tenant, customer)
    actions.apply(real, ab_action({"type": "tag", "tag": "x"}))
    assert real.outbounds[0].text == dry.outbounds[0].text and Assignment.select().count() == 1


def test_concurrent_first_assignments_make_one_row(services, tenant, customers):
    customer, errors, chosen = customers[5], [], []

    def ask():
        try:
            chosen.append(ab.variant_for(turn_for(services, tenant, customer), "rule:rul_a:race", VARIANTS)["name"])
        except Exception as exc:  # an IntegrityError here would be the bug
            errors.append(exc)

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(set(chosen)) == 1 and len(chosen) == 8
    assert Assignment.select().where(Assignment.experiment == "rule:rul_a:race").count() == 1


def test_a_removed_variant_puts_its_customers_on_a_current_one(services, tenant, customers):
    customer = customers[7]
    Assignment.assign(tenant.id, "rule:rul_a:price", customer.id, "old", None)
    chosen = ab.variant_for(turn_for(services, tenant, customer), "rule:rul_a:price", VARIANTS)
    assert chosen["name"] in ("short", "long")
    assert Assignment.get(Assignment.customer == customer.id).variant == chosen["name"]


# --- goals -----------------------------------------------------------------------------------------------

def assign(services, tenant, customer, goal, key="rule:rul_a:price"):
    return ab.variant_for(turn_for(services, tenant, customer), key, VARIANTS, goal)


def converted(customer) -> bool:
    return Assignment.get(Assignment.customer == customer.id).converted_at is not None


def test_a_button_goal_converts_on_its_payload_only(services, tenant, customers):
    one, two = customers[:2]
    for customer in (one, two):
        assign(services, tenant, customer, {"type": "button", "payload": "BOOK"})
    assert ab.observe(one.id, "button", "MENU") == 0 and ab.observe(one.id, "tag", "BOOK") == 0
    assert ab.observe(one.id, "button", "BOOK") == 1
    assert ab.observe(one.id, "button", "BOOK") == 0  # converted once
    assert converted(one) and not converted(two)


def test_a_tag_goal_converts_when_an_action_sets_the_tag(services, tenant, customers):
    one, two = customers[:2]
    for customer in (one, two):
        assign(services, tenant, customer, {"type": "tag", "tag": "ordered"})
    actions.apply(turn_for(services, tenant, one), {"type": "tag", "tag": "other"})
    assert not converted(one)
    actions.apply(turn_for(services, tenant, one), {"type": "tag", "tag": "ordered"})
    actions.apply(turn_for(services, tenant, two, dry_run=True), {"type": "tag", "tag": "ordered"})  # nothing happens
    assert converted(one) and not converted(two)


def test_a_tag_set_before_the_experiment_is_no_conversion(services, tenant, customers):
    customer = customers[0]
    actions.apply(turn_for(services, tenant, customer), {"type": "tag", "tag": "ordered"})
    assign(services, tenant, customer, {"type": "tag", "tag": "ordered"})
    actions.apply(turn_for(services, tenant, customer), {"type": "tag", "tag": "ordered"})  # already there: not "set"
    assert not converted(customer)


def test_a_step_goal_converts_when_the_flow_step_is_reached(services, tenant, customers):
    customer = customers[0]
    assign(services, tenant, customer, {"type": "step", "flow": "flw_1", "step": "done"}, key="flow:flw_1:greeting")
    assert ab.observe(customer.id, "step", "flw_1:ask_date") == 0 and ab.observe(customer.id, "step", "flw_2:done") == 0
    assert ab.observe(customer.id, "step", "flw_1:done") == 1 and converted(customer)


def test_no_handoff_is_lost_by_a_handoff_within_the_hours_and_won_after_them(services, tenant, web_channel, customers):
    kept, handed, inside = customers[:3]
    goal = {"type": "no_handoff", "hours": 0.0003}  # about a second
    for customer in (kept, handed):
        assign(services, tenant, customer, goal)
    assign(services, tenant, inside, {"type": "no_handoff", "hours": 1}, key="rule:rul_b:day")
    conversation = Conversation.create(tenant=tenant.id, channel=web_channel, customer=handed)
    conversations.handoff(services, conversation, reason="asked for a person")
    assert Assignment.get(Assignment.customer == handed.id).lost_at is not None

    def tally(key):
        found = {r["experiment"]: r for r in ab.results(tenant.id)}[key]
        return {v["name"]: v for v in found["variants"]}

    # inside its hours and not handed off: waiting, not yet counted as reached
    assert [(v["reached"], v["waiting"]) for v in tally("rule:rul_b:day").values() if v["waiting"] or v["reached"]] \
        == [(0, 1)]
    won = wait_until(lambda: sum(v["converted"] for v in tally("rule:rul_a:price").values()) == 1
                     and tally("rule:rul_a:price"), 10)
    assert sum(v["reached"] for v in won.values()) == 2 and sum(v["waiting"] for v in won.values()) == 0
    assert won[Assignment.get(Assignment.customer == kept.id).variant]["converted"] == 1


def test_a_handoff_after_the_hours_changes_nothing(services, tenant, web_channel, customers):
    customer = customers[0]
    assign(services, tenant, customer, {"type": "no_handoff", "hours": 1})
    Assignment.update(reached_at=utcnow().replace(year=2020)).execute()  # reached long ago
    conversation = Conversation.create(tenant=tenant.id, channel=web_channel, customer=customer)
    conversations.handoff(services, conversation)
    assert Assignment.get().lost_at is None
    variants = ab.results(tenant.id)[0]["variants"]
    assert sum(v["converted"] for v in variants) == 1


# --- results ---------------------------------------------------------------------------------------------

def test_two_proportion_z_test_matches_the_formula_by_hand():
    # A: 40 of 200 (0.20), B: 60 of 200 (0.30). Pooled 100/400 = 0.25; standard error
    # sqrt(0.25 * 0.75 * (1/200 + 1/200)) = sqrt(0.001875) = 0.0433013; z = 0.10 / 0.0433013 = 2.3094;
    # two-sided p = 2 * (1 - Phi(2.3094)) = 2 * 0.010461 = 0.02092 (normal table).
    z, p = ab.two_proportion(40, 200, 60, 200)
    assert z == pytest.approx(2.3094, abs=1e-4) and p == pytest.approx(0.02092, abs=2e-5)
    z, p = ab.two_proportion(60, 200, 40, 200)
    assert z == pytest.approx(-2.3094, abs=1e-4)
    assert ab.two_proportion(0, 0, 5, 10) == (None, None) and ab.two_proportion(0, 10, 0, 10) == (None, None)


def make_rule(tenant, goal, variants=VARIANTS):
    return Rule.create(tenant=tenant.id, name="price test", match={"type": "keyword", "keywords": ["giá"]},
                       actions=[ab_action(goal, variants)])


def fill(tenant, customers, key, counts):
    """Assign customers per variant and convert the first `converted` of each: {variant: (reached, converted)}."""
    rest = iter(customers)
    for variant, (reached, won) in counts.items():
        for n in range(reached):
            customer = next(rest)
            Assignment.assign(tenant.id, key, customer.id, variant, {"type": "button", "payload": "BUY"})
            if n < won:
                ab.observe(customer.id, "button", "BUY")


def test_results_per_variant_with_the_z_test(services, tenant, customers):
    rule = make_rule(tenant, {"type": "button", "payload": "BUY"},
                     [{"name": "long", "weight": 3, "actions": []}, {"name": "short", "weight": 1, "actions": []}])
    key = f"rule:{rule.id}:price"
    fill(tenant, customers, key, {"long": (200, 40), "short": (200, 60)})
    [result] = ab.results(tenant.id)
    assert (result["experiment"], result["source"], result["name"]) == (key, f"rule:{rule.id}", "price")
    assert result["goal"] == {"type": "button", "payload": "BUY"}
    first, second = result["variants"]
    assert (first["name"], first["weight"], first["reached"], first["converted"], first["rate"]) == ("long", 3, 200, 40, 0.2)
    assert (second["name"], second["weight"], second["reached"], second["converted"], second["rate"]) == ("short", 1, 200, 60, 0.3)
    assert first["z"] is None and second["z"] == pytest.approx(2.3094, abs=1e-4)
    assert result["z"] == second["z"] and result["p"] == pytest.approx(0.02092, abs=2e-5) and result["compared"] == "short"


def test_a_defined_experiment_without_customers_is_listed_empty(services, tenant):
    rule = make_rule(tenant, None)
    [result] = ab.results(tenant.id)
    assert result["experiment"] == f"rule:{rule.id}:price" and result["defined"] is True
    assert [(v["name"], v["reached"], v["rate"], v["z"]) for v in result["variants"]] == [
        ("short", 0, None, None), ("long", 0, None, None)]


# --- validation (a flow's ab step; a rule's ab action goes through rules.check_action) --------------------------

def test_goals_and_variants_are_normalized_at_save():
    assert ab.check_goal({"type": "no_handoff"}) == {"type": "no_handoff", "hours": 24}
    assert ab.check_goal({"type": "tag", "tag": " ordered "}) == {"type": "tag", "tag": "ordered"}
    assert ab.check_goal(None) is None
    variants = ab.check_variants([{"name": " a ", "next": "s1"}, {"name": "b", "weight": 2.5, "next": "s2"}])
    assert variants == [{"name": "a", "weight": 1, "next": "s1"}, {"name": "b", "weight": 2.5, "next": "s2"}]


@pytest.mark.parametrize("goal", [{"type": "sale"}, {"type": "no_handoff", "hours": 0}, {"type": "no_handoff",
                                  "hours": True}, {"type": "button"}, {"type": "step", "flow": "flw_1"}, "tag", []])
def test_bad_goals_are_refused(goal):
    with pytest.raises(AppError) as info:
        ab.check_goal(goal)
    assert (info.value.status, info.value.code) == (422, "invalid_goal")


@pytest.mark.parametrize("variants", [
    [VARIANTS[0]], [VARIANTS[0], VARIANTS[0]], [{**VARIANTS[0], "weight": 0}, {**VARIANTS[1], "weight": 0}],
    [{**VARIANTS[0], "weight": -1}, VARIANTS[1]], [{**VARIANTS[0], "weight": True}, VARIANTS[1]],
    [{**VARIANTS[0], "weight": float("nan")}, VARIANTS[1]], [{**VARIANTS[0], "name": ""}, VARIANTS[1]],
    ["a", "b"], {"a": 1}, [VARIANTS[0]] * 11,
])
def test_bad_variants_are_refused(variants):
    with pytest.raises(AppError) as info:
        ab.check_variants(variants)
    assert (info.value.status, info.value.code) == (422, "invalid_variants")


# --- the API ---------------------------------------------------------------------------------------------

def test_the_api_shows_the_tenants_experiments_only(client, services, tenant, other_tenant, customers):
    rule = make_rule(tenant, {"type": "button", "payload": "BUY"})
    key = f"rule:{rule.id}:price"
    fill(tenant, customers, key, {"short": (10, 2), "long": (10, 5)})
    body = client.get("/api/v1/automation/experiments", headers=tenant.headers).get_json()
    [result] = body["experiments"]
    assert result["experiment"] == key and [v["converted"] for v in result["variants"]] == [2, 5]
    assert client.get("/api/v1/automation/experiments", headers=other_tenant.headers).get_json() == {"experiments": []}
    only = client.get("/api/v1/automation/experiments", query_string={"experiment": key}, headers=tenant.headers)
    assert only.get_json()["experiments"] == [result]
    # another tenant naming this tenant's experiment sees nothing of it
    theirs = client.get("/api/v1/automation/experiments", query_string={"experiment": key},
                        headers=other_tenant.headers)
    assert theirs.status_code == 200 and theirs.get_json() == {"experiments": []}


@pytest.mark.parametrize("value,status", [
    ("", 422), ("   ", 422), ("x" * 301, 422), ("rule:../../etc:passwd", 200), ("' OR 1=1 --", 200),
    ("\u0000\u202e", 200), ("giá", 200),
])
def test_hostile_query_parameters(client, tenant, value, status):
    response = client.get("/api/v1/automation/experiments", query_string={"experiment": value}, headers=tenant.headers)
    if status == 422:
        assert_error(response, 422, "invalid_experiment")
    else:
        assert response.status_code == 200 and response.get_json() == {"experiments": []}


@hsettings(derandomize=True, max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(value=st.text(max_size=320))
def test_any_experiment_parameter_is_a_list_or_a_422(client, tenant, value):
    response = client.get("/api/v1/automation/experiments", query_string={"experiment": value}, headers=tenant.headers)
    if value.strip() and len(value) <= 300:
        assert response.status_code == 200 and response.get_json() == {"experiments": []}
    else:
        assert_error(response, 422, "invalid_experiment")


def test_the_api_needs_a_token_and_a_tenant(client, admin_headers):
    assert_error(client.get("/api/v1/automation/experiments"), 401, "unauthorized")
    assert_error(client.get("/api/v1/automation/experiments", headers={"Authorization": "Bearer nope"}), 401,
                 "unauthorized")
    assert_error(client.get("/api/v1/automation/experiments", headers=admin_headers), 400, "tenant_required")


def test_openapi_describes_the_endpoint(client):
    operation = client.get("/api/v1/openapi.json").get_json()["paths"]["/automation/experiments"]["get"]
    assert operation["parameters"] == [{"name": "experiment", "in": "query", "required": False,
                                        "schema": {"type": "string", "minLength": 1, "maxLength": 300}}]
    assert operation["summary"].startswith("A/B test results")


def test_schema_17_adds_lost_at_to_an_older_database(services):
    from appliance.db import database, migrate, schema_version

    latest = schema_version(database)
    database.execute_sql('ALTER TABLE "assignment" DROP COLUMN "lost_at"')
    database.execute_sql("PRAGMA user_version = 16")
    migrate(database)
    assert "lost_at" in {c.name for c in database.get_columns("assignment")} and schema_version(database) == latest


def test_split_benchmark_meets_its_targets():
    output = run_benchmark("ab_split.py", "--quick")
    assert "A/B targets met" in output and "sticky 100.00%" in output


def test_a_caller_without_the_goal_gets_the_one_its_rule_defines(services, tenant, customers):
    rule = make_rule(tenant, {"type": "step", "flow": "flw_1", "step": "paid"})
    customer = customers[0]
    ab.variant_for(turn_for(services, tenant, customer, source=f"rule:{rule.id}"), f"rule:{rule.id}:price", VARIANTS)
    assert Assignment.get().goal == {"type": "step", "flow": "flw_1", "step": "paid"}
    assert ab.observe(customer.id, "step", {"flow": "flw_1", "step": "paid"}) == 1  # the flows' way of saying it


def test_an_ab_rule_through_the_pipeline_is_sticky_and_counts_its_tag_goal(client, services, tenant, web_channel):
    price = {"name": "price", "match": {"type": "keyword", "mode": "contains", "keywords": ["giá"]},
             "actions": [ab_action({"type": "tag", "tag": "ordered"})]}
    order = {"name": "order", "match": {"type": "keyword", "mode": "contains", "keywords": ["đặt"]},
             "actions": [{"type": "tag", "tag": "ordered"}, {"type": "reply", "text": "Cảm ơn bạn!"}]}
    for rule in (price, order):
        assert post_json(client, "/api/v1/rules", rule, tenant.headers).status_code == 201

    def says(session, text):
        assert post_json(client, f"/widget/{web_channel.id}/messages", {"session": session, "text": text}).status_code == 202
        return (Message.select().where(Message.direction == "out").order_by(Message.id.desc()).first()).text

    answers = {session: {says(session, "giá?"), says(session, "Giá bao nhiêu vậy?")} for session in ("v1", "v2", "v3")}
    assert all(len(texts) == 1 for texts in answers.values())  # each visitor got the same variant twice
    says("v1", "mình đặt 3 bông")
    [result] = client.get("/api/v1/automation/experiments", headers=tenant.headers).get_json()["experiments"]
    assert sum(v["reached"] for v in result["variants"]) == 3 and sum(v["converted"] for v in result["variants"]) == 1
    ordered = Customer.get(Customer.external_id == "v1")
    won = Assignment.get(Assignment.customer == ordered.id).variant
    assert next(v for v in result["variants"] if v["name"] == won)["converted"] == 1
