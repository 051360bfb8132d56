"""flow_check.problems: every problem kind is found and names its step; a good flow has none; any JSON never raises."""
import copy
import statistics
import time

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from appliance.automation.flow_check import MAX_STEPS, check_condition, check_trigger, problems

QUICK = hsettings(derandomize=True, max_examples=200, deadline=None, database=None)
ALL_KINDS = ["whatsapp", "messenger", "zalo", "telegram", "web"]


def good_flow() -> dict:
    """A booking flow that uses every step type and every kind of reference."""
    return {
        "name": "Đặt lịch",
        "triggers": [{"type": "keyword", "mode": "contains", "keywords": ["đặt lịch", "book"]},
                     {"type": "payload", "payload": "BOOK"}, {"type": "event", "event": "first_message"},
                     {"type": "schedule", "cron": "0 9 * * 1", "tag": "vip"}],
        "start": "hello",
        "timeout_minutes": 60,
        "steps": [
            {"id": "hello", "type": "send", "text": "Chào bạn!", "media_url": "https://shop.example/a.jpg",
             "buttons": [{"id": "book", "title": "Đặt lịch"}, {"id": "price", "title": "Bảng giá"}],
             "next": "ask_date"},
            {"id": "ask_date", "type": "ask", "text": "Bạn muốn ngày nào?", "validate": "date", "field": "date",
             "retries": 2, "retry_text": "Ví dụ: 5/3", "fallback": "human", "next": "ask_size"},
            {"id": "ask_size", "type": "ask", "text": "Mấy người?", "validate": "choice", "field": "size",
             "buttons": [{"id": "1", "title": "Một"}, {"id": "2", "title": "Hai"}], "next": "check"},
            {"id": "check", "type": "condition", "default": "wait", "branches": [
                {"if": {"type": "reply", "op": "equals", "value": "2"}, "next": "vip"},
                {"if": {"type": "channel", "channels": ["zalo", "web"]}, "next": "field"},
                {"if": {"type": "tag", "tag": "vip", "present": False}, "next": "unvip"},
                {"if": {"type": "field", "field": "city", "op": "exists"}, "next": "hook"},
                {"if": {"type": "time", "days": [0, 1, 2], "from": "08:00", "to": "21:00", "inside": True},
                 "next": "assistant"}]},
            {"id": "vip", "type": "tag", "tag": "vip", "next": "wait"},
            {"id": "unvip", "type": "untag", "tag": "vip", "next": "wait"},
            {"id": "field", "type": "set_field", "field": "source", "value": "flow", "next": "wait"},
            {"id": "hook", "type": "webhook", "url": "https://crm.example/hook", "secret": "s3cret", "next": "wait"},
            {"id": "assistant", "type": "assistant", "next": "wait"},
            {"id": "wait", "type": "delay", "seconds": 3600, "next": "test"},
            {"id": "test", "type": "ab", "experiment": "reminder", "goal": {"type": "step", "step": "bye"},
             "variants": [{"name": "short", "weight": 1, "next": "remind"},
                          {"name": "none", "weight": 0, "next": "bye"}]},
            {"id": "remind", "type": "send", "template": {"name": "reminder", "language": "vi", "params": ["5/3", 2]},
             "next": "bye"},
            {"id": "human", "type": "handoff", "reason": "no date"},
            {"id": "bye", "type": "jump", "to": "end"},
            {"id": "end", "type": "end"},
        ],
    }


def step(flow: dict, step_id: str) -> dict:
    return next(s for s in flow["steps"] if s.get("id") == step_id)


def with_change(change) -> dict:
    flow = good_flow()
    change(flow)
    return flow


def found_once(found: list, step_id, fragment: str) -> None:
    hits = [p for p in found if p["step"] == step_id and fragment in p["message"]]
    assert len(hits) == 1, found


def test_a_good_flow_has_no_problem_on_any_channel():
    assert problems(good_flow(), ALL_KINDS) == []
    assert problems(good_flow(), []) == []


# --- one case per problem kind: (what changes, the step named, part of the sentence) --------------------

def set_in(step_id, key, value):
    return lambda flow: step(flow, step_id).__setitem__(key, value)


def drop(step_id, key):
    return lambda flow: step(flow, step_id).pop(key)


def add_step(new):
    return lambda flow: flow["steps"].append(new)


CASES = {
    "flow not an object": (lambda f: None, None, "JSON object"),  # replaced below
    "no steps": (lambda f: f.__setitem__("steps", []), None, "at least one step"),
    "steps not a list": (lambda f: f.__setitem__("steps", {"a": 1}), None, "at least one step"),
    "step not an object": (add_step(["end"]), None, "Step 16 is not an object"),
    "step without id": (add_step({"type": "end"}), None, "Step 16 needs an 'id'"),
    "id with a space": (add_step({"id": "a b", "type": "end"}), "a b", "Step 16 needs an 'id'"),
    "id too long": (add_step({"id": "x" * 65, "type": "end"}), "x" * 65, "1 to 64 letters"),
    "duplicate id": (add_step({"id": "bye", "type": "end"}), "bye", "Step 16 has the id 'bye' of step 14"),
    "unknown step type": (set_in("end", "type", "stop"), "end", "unknown type 'stop'; use one of send, ask"),
    "step type not a text": (set_in("end", "type", ["end"]), "end", "unknown type a list"),
    "step without type": (drop("end", "type"), "end", "Step 'end' has no type"),
    "unknown field": (set_in("hello", "colour", "red"), "hello", "unknown field 'colour'"),
    "next on a condition": (set_in("check", "next", "bye"), "check", "goes on by its branches"),
    "next on an end step": (set_in("end", "next", "hello"), "end", "(end) has the unknown field 'next'"),
    "start missing": (lambda f: f.pop("start"), None, "Set 'start' to the id of the first step"),
    "start unknown": (lambda f: f.__setitem__("start", "hi"), None, "'start' is 'hi', but no step has that id"),
    "start not a text": (lambda f: f.__setitem__("start", 3), None, "'start' is 3"),
    "unknown next": (set_in("remind", "next", "byee"), "remind", "goes to 'byee' ('next'), but no step"),
    "unknown fallback": (set_in("ask_date", "fallback", "people"), "ask_date", "goes to 'people' ('fallback')"),
    "unknown default": (set_in("check", "default", "later"), "check", "goes to 'later' ('default')"),
    "unknown branch next": (lambda f: step(f, "check")["branches"][0].__setitem__("next", "vpi"), "check",
                            "goes to 'vpi' (branch 1's 'next')"),
    "unknown jump": (set_in("bye", "to", "fin"), "bye", "goes to 'fin' ('to')"),
    "jump without to": (drop("bye", "to"), "bye", "'to' must be the id of a step"),
    "unknown variant next": (lambda f: step(f, "test")["variants"][1].__setitem__("next", "by"), "test",
                             "goes to 'by' (variant 2's 'next')"),
    "next not a text": (set_in("vip", "next", {"id": "wait"}), "vip", "'next' must be the id of a step"),
    "unreachable step": (add_step({"id": "orphan", "type": "end"}), "orphan",
                         "never reached from the start step 'hello'"),
    "self loop": (set_in("vip", "next", "vip"), "vip", "Steps 'vip' → 'vip' go round without an ask or a delay"),
    "loop through a jump": (set_in("remind", "next", "test"), "test", "Steps 'test' → 'remind' → 'test' go round"),
    "condition without default": (drop("check", "default"), "check", "has no 'default'"),
    "condition without branches": (set_in("check", "branches", []), "check", "needs 'branches'"),
    "branch without next": (lambda f: step(f, "check")["branches"][0].pop("next"), "check",
                            "branch 1 must be an object with 'if' and 'next'"),
    "branch with an extra field": (lambda f: step(f, "check")["branches"][0].__setitem__("else", "x"), "check",
                                   "branch 1 has the unknown field 'else'"),
    "choice without buttons": (drop("ask_size", "buttons"), "ask_size", "asks for a choice but has no buttons"),
    "unknown validate": (set_in("ask_date", "validate", "datetime"), "ask_date", "'validate' must be one of text"),
    "retries out of range": (set_in("ask_date", "retries", 11), "ask_date", "'retries' must be a whole number"),
    "retries as text": (set_in("ask_date", "retries", "2"), "ask_date", "'retries' must be a whole number"),
    "ask without text": (drop("ask_date", "text"), "ask_date", "needs 'text'"),
    "text not a text": (set_in("hello", "text", 5), "hello", "needs 'text'"),
    "retry_text too long": (set_in("ask_date", "retry_text", "x" * 4097), "ask_date",
                            "'retry_text' has 4097 characters"),
    "send sends nothing": (lambda f: [step(f, "remind").pop("template")], "remind", "sends nothing"),
    "buttons without text": (drop("hello", "text"), "hello", "has buttons but no 'text'"),
    "buttons not a list": (set_in("hello", "buttons", {"id": "a"}), "hello", "give 'buttons' as a list"),
    "button not an object": (set_in("hello", "buttons", ["Đặt lịch"]), "hello", "button 1 must be an object"),
    "button without title": (set_in("hello", "buttons", [{"id": "a"}]), "hello",
                             "button 1 needs a 'title' as a text of 1 to 200"),
    "button id too long": (set_in("hello", "buttons", [{"id": "i" * 1001, "title": "A"}]), "hello",
                           "button 1 needs an 'id' as a text of 1 to 1000 characters: it has 1001 characters"),
    "duplicate buttons": (set_in("hello", "buttons", [{"id": "a", "title": "A"}, {"id": "b", "title": "a"}]), "hello",
                          "button 2 ('a') repeats the id or the title"),
    "buttons the same when typed": (set_in("hello", "buttons", [{"id": "a", "title": "Có"},
                                                                {"id": "b", "title": "CO!"}]),
                                    "hello", "button 2 ('CO!') repeats the id or the title"),
    "more than 13 buttons": (set_in("hello", "buttons", [{"id": f"b{i}", "title": f"B{i}"} for i in range(14)]),
                             "hello", "has 14 buttons; a step can have at most 13"),
    "text too long": (set_in("hello", "text", "x" * 4097), "hello", "'text' has 4097 characters; the most is 4096"),
    "lone surrogate": (set_in("hello", "text", "Chào \ud800"), "hello", "lone surrogate"),
    "control character": (set_in("hello", "text", "Chào\x00"), "hello", "control character"),
    "media_url not http": (set_in("hello", "media_url", "ftp://shop/a.jpg"), "hello", "'media_url' as an http://"),
    "template not an object": (set_in("remind", "template", "reminder"), "remind", "'template' must be an object"),
    "template without name": (lambda f: step(f, "remind")["template"].pop("name"), "remind", "needs the 'name'"),
    "template language": (lambda f: step(f, "remind")["template"].__setitem__("language", "Vietnamese"), "remind",
                          "'language' must be a code"),
    "template params": (lambda f: step(f, "remind")["template"].__setitem__("params", [{"a": 1}]), "remind",
                        "'params' must be a list"),
    "delay zero": (set_in("wait", "seconds", 0), "wait", "'seconds' must be a number from 1 to 2592000"),
    "delay negative": (set_in("wait", "seconds", -5), "wait", "not -5"),
    "delay over 30 days": (set_in("wait", "seconds", 2592001), "wait", "'seconds' must be a number"),
    "delay huge": (set_in("wait", "seconds", 10**400), "wait", "'seconds' must be a number"),
    "delay not a number": (set_in("wait", "seconds", "60"), "wait", "not '60'"),
    "delay true": (set_in("wait", "seconds", True), "wait", "not True"),
    "delay nan": (set_in("wait", "seconds", float("nan")), "wait", "'seconds' must be a number"),
    "delay missing": (drop("wait", "seconds"), "wait", "not None"),
    "tag missing": (drop("vip", "tag"), "vip", "needs 'tag'"),
    "untag empty": (set_in("unvip", "tag", "  "), "unvip", "needs 'tag'"),
    "field name a list": (set_in("field", "field", ["city"]), "field", "needs 'field'"),
    "field value an object": (set_in("field", "value", {"a": 1}), "field", "'value' must be a text, a number"),
    "ask field too long": (set_in("ask_date", "field", "f" * 201), "ask_date", "it has 201 characters"),
    "webhook without url": (drop("hook", "url"), "hook", "needs 'url' as an http://"),
    "webhook url javascript": (set_in("hook", "url", "javascript:alert(1)"), "hook", "needs 'url'"),
    "handoff reason a number": (set_in("human", "reason", 5), "human", "needs 'reason'"),
    "ab without experiment": (drop("test", "experiment"), "test", "needs 'experiment'"),
    "ab without variants": (set_in("test", "variants", []), "test", "needs 'variants'"),
    "ab with one variant": (lambda f: step(f, "test")["variants"].pop(), "test", "a list of 2 to 10"),
    "ab negative weight": (lambda f: step(f, "test")["variants"][0].__setitem__("weight", -1), "test",
                           "variant 1's 'weight' must be a number from 0"),
    "ab weight a text": (lambda f: step(f, "test")["variants"][0].__setitem__("weight", "50%"), "test",
                         "variant 1's 'weight'"),
    "ab weights sum to zero": (lambda f: step(f, "test")["variants"][0].__setitem__("weight", 0), "test",
                               "weights add up to 0"),
    "ab duplicate names": (lambda f: step(f, "test")["variants"][1].__setitem__("name", "short"), "test",
                           "two variants are named 'short'"),
    "ab variant extra field": (lambda f: step(f, "test")["variants"][1].__setitem__("actions", []), "test",
                               "variant 2 has the unknown field 'actions'"),
    "ab variant not an object": (lambda f: step(f, "test")["variants"].append("third"), "test",
                                 "variant 3 must be an object"),
    "ab goal unknown type": (set_in("test", "goal", {"type": "sale"}), "test", "the 'goal' must be an object"),
    "ab goal step unknown": (set_in("test", "goal", {"type": "step", "step": "paid"}), "test",
                             "the goal's step 'paid' is not a step of this flow"),
    "ab goal hours": (set_in("test", "goal", {"type": "no_handoff", "hours": 0}), "test",
                      "'hours' must be a number above 0 and at most 2160"),
    "webhook sealed secret not a text": (set_in("hook", "secret_sealed", 5), "hook", "give the 'secret' again"),
    "handoff reason too long": (set_in("human", "reason", "r" * 501), "human", "it has 501 characters"),
    "ab goal without payload": (set_in("test", "goal", {"type": "button"}), "test", "the button goal needs 'payload'"),
    "flow name empty": (lambda f: f.__setitem__("name", ""), None, "Give the flow a 'name'"),
    "timeout out of range": (lambda f: f.__setitem__("timeout_minutes", 0), None, "'timeout_minutes'"),
    "triggers not a list": (lambda f: f.__setitem__("triggers", {"type": "keyword"}), None, "'triggers' as a list"),
    "unknown trigger type": (lambda f: f["triggers"].append({"type": "regex", "pattern": "x"}), None,
                             "Trigger 5: The trigger type 'regex' is unknown"),
    "keyword trigger without keywords": (lambda f: f["triggers"][0].__setitem__("keywords", []), None,
                                         "Trigger 1: The keyword trigger needs 'keywords'"),
    "keyword trigger mode": (lambda f: f["triggers"][0].__setitem__("mode", "fuzzy"), None, "'mode' must be one of"),
    "payload trigger empty": (lambda f: f["triggers"][1].__setitem__("payload", ""), None,
                              "needs the button's 'payload'"),
    "event trigger unknown": (lambda f: f["triggers"][2].__setitem__("event", "birthday"), None,
                              "'event' must be one of first_message"),
    "schedule minute 61": (lambda f: f["triggers"][3].__setitem__("cron", "61 9 * * 1"), None, "needs 'cron'"),
    "schedule four fields": (lambda f: f["triggers"][3].__setitem__("cron", "0 9 * *"), None, "needs 'cron'"),
    "schedule step zero": (lambda f: f["triggers"][3].__setitem__("cron", "*/0 9 * * 1"), None, "needs 'cron'"),
    "schedule without tag": (lambda f: f["triggers"][3].pop("tag"), None,
                             "Trigger 4: The schedule trigger needs 'tag' (the customers with this tag receive"),
    "trigger unknown field": (lambda f: f["triggers"][2].__setitem__("when", "now"), None,
                              "The event trigger has the unknown field 'when'"),
}
CASES["flow not an object"] = (None, None, "Send the flow as a JSON object")


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_problem_kind_is_found_and_names_its_step(case):
    change, step_id, fragment = CASES[case]
    flow = ["not", "a", "flow"] if change is None else with_change(change)
    found = problems(flow, ALL_KINDS)
    found_once(found, step_id, fragment)
    assert all(set(p) == {"step", "message"} and p["message"].endswith((".", ")")) for p in found)


def test_too_many_steps_is_one_problem_and_the_steps_are_still_checked():
    steps = [{"id": f"s{i}", "type": "send", "text": "hi", "next": f"s{i + 1}"} for i in range(MAX_STEPS + 1)]
    steps.append({"id": f"s{MAX_STEPS + 1}", "type": "end", "next": "x"})
    found = problems({"start": "s0", "steps": steps}, [])
    assert found[0] == {"step": None, "message": "The flow has 202 steps; a flow can have at most 200. "
                                                 "Split it into smaller flows started by a start_flow action."}
    found_once(found, "s201", "(end) has the unknown field 'next'")


@pytest.mark.parametrize("condition, fragment", [
    ("vip", "the condition must be an object"),
    ({"type": "weather"}, "the condition type 'weather' is unknown"),
    ({"type": "channel", "channels": ["sms"]}, "'channels': a list of whatsapp"),
    ({"type": "channel", "channels": []}, "'channels'"),
    ({"type": "tag"}, "the tag condition needs a 'tag'"),
    ({"type": "tag", "tag": "vip", "present": "yes"}, "'present' must be true or false"),
    ({"type": "field", "op": "exists"}, "the field condition needs a 'field'"),
    ({"type": "field", "field": "city", "op": "equals"}, "with op 'equals' needs a 'value'"),
    ({"type": "field", "field": "city", "op": "equals", "value": ["Hà Nội"]}, "needs a 'value'"),
    ({"type": "time", "days": [7]}, "'days' must be a list of day numbers from 0 (Monday) to 6"),
    ({"type": "time", "days": [True]}, "'days' must be a list"),
    ({"type": "time", "from": "08:00", "to": "08:00"}, "the time condition's range ends where it starts"),
    ({"type": "time", "from": "24:00"}, "'from' must be a time like \"08:00\" (24-hour clock)."),
    ({"type": "field", "field": "city", "value": True}, "needs a 'value': a text of at most 1000 characters"),
    ({"type": "field", "field": "city", "value": "x" * 1001}, "needs a 'value'"),
    ({"type": "time", "from": "8h", "to": "21:00"}, "'from' must be a time like \"08:00\""),
    ({"type": "time", "from": "08:00", "to": "25:00"}, "'to' must be a time"),
    ({"type": "time", "days": [1], "inside": 1}, "'inside' must be true or false"),
    ({"type": "reply", "op": "like", "value": "a"}, "the reply condition's 'op' must be one of"),
    ({"type": "reply", "value": "a", "case": True}, "unknown field 'case'"),
])
def test_every_condition_shape_problem_is_named(condition, fragment):
    found = check_condition(condition)
    assert len([m for m in found if fragment in m]) == 1, found
    flow = with_change(lambda f: step(f, "check")["branches"].__setitem__(0, {"if": condition, "next": "vip"}))
    in_flow = problems(flow, [])
    found_once(in_flow, "check", fragment)
    assert all(p["message"].startswith("Step 'check': branch 1: the ") for p in in_flow)


def test_good_conditions_and_triggers_have_no_problem():
    assert check_condition({"type": "time", "from": "22:00", "to": "24:00"}) == []
    assert check_condition({"type": "time", "from": "22:00"}) == []  # until the end of the day, as conditions.py
    assert check_condition({"type": "time"}) == []
    assert check_condition({"type": "reply", "op": "equals", "value": True}) == []
    assert check_condition({"type": "reply", "op": "absent"}) == []
    assert check_condition({"type": "field", "field": "n", "value": 3}) == []
    assert check_trigger({"type": "schedule", "cron": "*/15 8-17 1,15 * 1-5", "tag": "vip"}) == []
    assert check_trigger({"type": "keyword", "keywords": ["giá"]}) == []
    assert check_trigger(None) == ["Each trigger must be an object with a 'type'."]


# --- channel limits: each kind and its figure named ------------------------------------------------------

def buttons(count: int, first_title: str = "B", first_id: str = "b") -> list:
    """`count` buttons; the first one with the title and id given (to test one over a limit)."""
    return [{"id": first_id, "title": first_title}] + [{"id": f"b{i}", "title": f"B{i}"} for i in range(1, count)]


@pytest.mark.parametrize("kind, step_buttons, text, message", [
    ("whatsapp", buttons(11), "Chọn", "11 buttons, but WhatsApp shows at most 10 (as a list). Remove 1 or split "
                                      "them over two steps."),
    ("whatsapp", buttons(3, "x" * 21), "Chọn", "the button title 'xxxxxxxxxxxxxxxxxxxxx' has 21 characters; "
                                               "WhatsApp shows at most 20 on a button. Shorten it."),
    ("whatsapp", buttons(4, "x" * 25), "Chọn", "the button title 'xxxxxxxxxxxxxxxxxxxxxxxxx' has 25 characters; "
                                               "WhatsApp shows at most 24 on a list row. Shorten it."),
    ("whatsapp", buttons(2), "x" * 1025, "'text' has 1025 characters; WhatsApp shows at most 1024 with buttons. "
                                         "Shorten it."),
    ("whatsapp", [], "x" * 4096, None),
    ("whatsapp", buttons(4, "x" * 24), "Chọn", None),
    ("whatsapp", buttons(3, "x" * 20, "i" * 256), "Chọn", None),
    ("whatsapp", buttons(3, "B", "i" * 257), "Chọn", "the button id 'iiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiii…' has 257 "
                                                   "characters; WhatsApp takes at most 256. Shorten it."),
    ("whatsapp", buttons(4, "B", "i" * 201), "Chọn", "the button id 'iiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiii…' has 201 "
                                                   "characters; WhatsApp takes at most 200. Shorten it."),
    ("whatsapp", buttons(4) + [{"id": "d", "title": "D", "description": "d" * 73}], "Chọn",
     "the description of the button 'D' has 73 characters; WhatsApp shows at most 72 on a list row. Shorten it."),
    ("whatsapp", buttons(4) + [{"id": "d", "title": "D", "description": "d" * 72}], "Chọn", None),
    ("messenger", buttons(13, "x" * 20), "Chọn", None),
    ("messenger", buttons(2, "x" * 21), "Chọn", "the button title 'xxxxxxxxxxxxxxxxxxxxx' has 21 characters; "
                                                "Messenger shows at most 20 on a button. Shorten it."),
    ("messenger", [], "x" * 2001, "'text' has 2001 characters; Messenger shows at most 2000. Shorten it."),
    ("zalo", buttons(6), "Chọn", "6 buttons, but Zalo shows at most 5. Remove 1 or split them over two steps."),
    ("zalo", buttons(5, "x" * 100), "Chọn", None),
    ("zalo", buttons(5, "x" * 101), "Chọn", "the button title '" + "x" * 101 + "' has 101 characters; Zalo shows at "
                                            "most 100 on a button. Shorten it."),
    ("zalo", [], "x" * 2001, "'text' has 2001 characters; Zalo shows at most 2000. Shorten it."),
    ("telegram", buttons(1, first_id="đ" * 32 + "x"), "Chọn", "the button id '" + "đ" * 32 + "x' has 65 bytes; "
                                                              "Telegram takes at most 64. Shorten it."),
    ("telegram", buttons(13, "x" * 64, "đ" * 32), "x" * 4096, None),
    ("web", buttons(13, "x" * 200), "x" * 4096, None),
])
def test_buttons_and_texts_over_a_channel_limit_name_the_channel_and_the_limit(kind, step_buttons, text, message):
    flow = with_change(lambda f: step(f, "hello").update(text=text, buttons=step_buttons))
    found = problems(flow, [kind])
    assert found == ([] if message is None else [{"step": "hello", "message": f"Step 'hello': {message}"}])


def test_limits_apply_only_to_the_channels_given():
    flow = with_change(lambda f: step(f, "hello").update(buttons=buttons(6)))
    assert problems(flow, ["web", "whatsapp", "telegram"]) == []
    assert [p["message"] for p in problems(flow, ["zalo", "unknown-kind", 7, ["x"]])] == [
        "Step 'hello': 6 buttons, but Zalo shows at most 5. Remove 1 or split them over two steps."]


def test_ask_and_retry_text_use_the_limits_with_buttons():
    flow = with_change(lambda f: step(f, "ask_size").update(retry_text="y" * 1100))
    assert problems(flow, ["whatsapp"]) == [{"step": "ask_size", "message": "Step 'ask_size': 'retry_text' has 1100 "
                                             "characters; WhatsApp shows at most 1024 with buttons. Shorten it."}]


# --- loops, reachability and order ----------------------------------------------------------------------

def test_loops_that_pass_an_ask_or_a_delay_are_allowed():
    through_delay = with_change(set_in("remind", "next", "wait"))  # wait -> test -> remind -> wait
    through_ask = with_change(set_in("vip", "next", "ask_date"))
    assert problems(through_delay, ALL_KINDS) == []
    assert problems(through_ask, ALL_KINDS) == []


def test_two_separate_loops_are_two_problems_each_on_its_first_step():
    flow = with_change(lambda f: (set_in("vip", "next", "vip")(f), set_in("remind", "next", "test")(f)))
    found = problems(flow, [])
    assert [(p["step"], p["message"].split(" go round")[0]) for p in found] == [
        ("vip", "Steps 'vip' → 'vip'"), ("test", "Steps 'test' → 'remind' → 'test'")]


def test_every_unreachable_step_is_named_when_start_skips_them():
    flow = good_flow()
    flow["start"] = "bye"
    found = problems(flow, [])
    assert [p["step"] for p in found] == ["hello", "ask_date", "ask_size", "check", "vip", "unvip", "field", "hook",
                                          "assistant", "wait", "test", "remind", "human"]
    assert all("never reached from the start step 'bye'" in p["message"] for p in found)


def test_all_problems_are_returned_flow_first_then_in_step_order():
    flow = good_flow()
    flow["timeout_minutes"] = -1
    step(flow, "end")["colour"] = "red"
    step(flow, "hello")["text"] = 5
    step(flow, "wait")["seconds"] = 0
    flow["triggers"][0]["keywords"] = "giá"
    found = problems(flow, [])
    assert [p["step"] for p in found] == [None, None, "hello", "wait", "end"], found
    assert found[1]["message"].startswith("Trigger 1: The keyword trigger needs 'keywords'")


def test_a_step_with_a_broken_id_is_named_by_its_number():
    flow = with_change(add_step({"id": "\ud800", "type": "sms"}))
    found = problems(flow, [])
    assert [p["message"] for p in found] == [
        "Step 16 needs an 'id' of 1 to 64 letters, digits, '_', '-' or '.'.",
        "Step 16 has the unknown type 'sms'; use one of send, ask, condition, delay, tag, untag, set_field, "
        "webhook, handoff, assistant, jump, end or ab.",
        "Step 16 is never reached from the start step 'hello'; link to it from another step or remove it."]


# --- hostile input: problems() always answers with a list ------------------------------------------------

KEYS = ["id", "type", "next", "start", "steps", "text", "buttons", "title", "fallback", "default", "branches", "if",
        "to", "variants", "weight", "seconds", "validate", "triggers", "cron", "goal", "template", "params", "days",
        "from", "channels", "op", "value", "keywords", "mode", "tag", "field", "url", "experiment", "name"]
NAMES = ["send", "ask", "condition", "delay", "tag", "untag", "set_field", "webhook", "handoff", "assistant", "jump",
         "end", "ab", "a", "b", "choice", "channel", "time", "reply", "keyword", "schedule", "step", "0 9 * * 1"]
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(min_value=2**63, max_value=2**600),
                    st.floats(), st.text(max_size=8), st.sampled_from(NAMES), st.sampled_from(["\ud800", "a\udfff"]))
VALUES = st.recursive(SCALARS, lambda kids: st.one_of(
    st.lists(kids, max_size=5), st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=4), kids, max_size=6)),
    max_leaves=40)
SMALL = st.recursive(SCALARS, lambda kids: st.lists(kids, max_size=3) | st.dictionaries(
    st.sampled_from(KEYS), kids, max_size=3), max_leaves=6)
REF = st.sampled_from(["a", "b", "c"])
STEPS = st.lists(st.dictionaries(st.sampled_from(KEYS), SMALL, max_size=5) | st.fixed_dictionaries(
    {"id": REF, "type": st.sampled_from(NAMES)},
    optional={"next": REF | SMALL, "default": REF, "to": REF, "buttons": SMALL, "text": SMALL, "seconds": SMALL,
              "branches": st.lists(st.fixed_dictionaries({"if": SMALL, "next": REF}), max_size=3),
              "variants": st.lists(st.fixed_dictionaries({"name": SMALL, "weight": SMALL, "next": REF}),
                                   max_size=3)}), max_size=6)


@QUICK
@given(definition=VALUES, kinds=VALUES)
def test_any_json_value_gives_a_list_of_problems(definition, kinds):
    assert_problems(problems(definition, kinds if isinstance(kinds, list) else ALL_KINDS))


@QUICK
@given(steps=STEPS, start=st.sampled_from(["a", "b", None]) | VALUES, triggers=VALUES)
def test_any_steps_give_a_list_of_problems(steps, start, triggers):
    assert_problems(problems({"start": start, "steps": steps, "triggers": triggers}, ALL_KINDS))


@QUICK
@given(path=st.lists(st.integers(min_value=0, max_value=30), min_size=1, max_size=4), value=VALUES)
def test_a_good_flow_with_any_part_replaced_gives_a_list_of_problems(path, value):
    flow = good_flow()
    replace(flow, path, value)
    assert_problems(problems(flow, ALL_KINDS))


def replace(node, path, value):
    """Replace the part of `node` that `path` picks (indexes wrap around keys and items)."""
    for n, index in enumerate(path):
        keys = list(node) if isinstance(node, dict) else list(range(len(node))) if isinstance(node, list) else []
        if not keys:
            return
        key = keys[index % len(keys)]
        if n == len(path) - 1 or not isinstance(node[key], (dict, list)):
            node[key] = value
            return
        node = node[key]


def test_deep_nesting_gives_problems_not_a_recursion_error():
    deep = "end"
    for _ in range(5000):
        deep = {"if": deep, "next": [deep]}
    flow = with_change(lambda f: step(f, "check")["branches"].append(deep))
    assert problems(flow, ALL_KINDS) == [
        {"step": "check", "message": "Step 'check': branch 6: the condition type None is unknown; use one of channel, "
                                     "tag, field, time or reply."},
        {"step": "check", "message": "Step 'check': branch 6's 'next' must be the id of a step."}]


def test_values_nested_without_end_or_huge_are_named_not_printed():
    deep = []
    for _ in range(100_000):
        deep = [deep]
    flow = good_flow()
    flow["triggers"].append({"type": deep})
    flow["timeout_minutes"] = 10**5000
    step(flow, "end")["type"] = deep
    step(flow, "wait")["seconds"] = 10**5000
    step(flow, "ask_date")["validate"] = {"kind": deep}
    assert [(p["step"], p["message"]) for p in problems(flow, ALL_KINDS)] == [
        (None, "Set 'timeout_minutes' to a number of minutes from 1 to 43200 (30 days), or leave it out to use the "
               "flow_timeout_minutes setting."),
        (None, "Trigger 5: The trigger type a list is unknown; use one of keyword, payload, event or schedule."),
        ("ask_date", "Step 'ask_date': 'validate' must be one of text, number, email, phone, date or choice, not an "
                     "object."),
        ("wait", "Step 'wait': 'seconds' must be a number from 1 to 2592000 (30 days), not a very large number."),
        ("end", "Step 'end' has the unknown type a list; use one of send, ask, condition, delay, tag, untag, "
                "set_field, webhook, handoff, assistant, jump, end or ab.")]


def assert_problems(found):
    assert isinstance(found, list)
    for problem in found:
        assert set(problem) == {"step", "message"}
        assert problem["step"] is None or isinstance(problem["step"], str)
        assert isinstance(problem["message"], str) and problem["message"]
        problem["message"].encode("utf-8")  # printable in any JSON answer


# --- speed ----------------------------------------------------------------------------------------------

def big_flow(size: int = MAX_STEPS) -> dict:
    """A 200-step flow: asks, conditions, sends with buttons, all reachable, with waits in every loop."""
    steps = []
    for i in range(0, size - 4, 4):
        steps += [
            {"id": f"ask{i}", "type": "ask", "text": "Bạn muốn gì?", "validate": "choice", "next": f"cond{i}",
             "buttons": [{"id": "a", "title": "Một"}, {"id": "b", "title": "Hai"}, {"id": "c", "title": "Ba"}]},
            {"id": f"cond{i}", "type": "condition", "default": f"send{i}",
             "branches": [{"if": {"type": "reply", "op": "equals", "value": "a"}, "next": f"ask{i}"},
                          {"if": {"type": "time", "days": [0, 1], "from": "08:00", "to": "21:00"}, "next": "ask0"}]},
            {"id": f"send{i}", "type": "send", "text": "Cảm ơn " * 50, "next": f"tag{i}",
             "buttons": [{"id": "x", "title": "Xem giá"}, {"id": "y", "title": "Đặt lịch"}]},
            {"id": f"tag{i}", "type": "tag", "tag": "lead", "next": f"ask{i + 4}" if i + 8 < size else "last"},
        ]
    steps += [{"id": "last", "type": "send", "text": "Xong", "next": "wait"},
              {"id": "wait", "type": "delay", "seconds": 60, "next": "hook"},
              {"id": "hook", "type": "webhook", "url": "https://crm.example/done", "next": "end"},
              {"id": "end", "type": "end"}]
    return {"name": "big", "start": "ask0", "triggers": [{"type": "keyword", "keywords": ["x"]}], "steps": steps}


def test_a_200_step_flow_is_checked_in_a_few_milliseconds():
    flow = big_flow()
    assert len(flow["steps"]) == MAX_STEPS and problems(flow, ALL_KINDS) == []
    times = []
    for _ in range(7):
        started = time.perf_counter()
        problems(flow, ALL_KINDS)
        times.append(time.perf_counter() - started)
    median = statistics.median(times)
    print(f"\nproblems() on a {MAX_STEPS}-step flow, 5 channel kinds: median {median * 1000:.2f} ms")
    assert median < 0.25  # the target is ~5 ms; this bound only catches a blow-up (e.g. quadratic), never noise


def test_the_definition_is_not_changed():
    flow = good_flow()
    flow["steps"].append({"id": "x", "type": "sms"})
    before = copy.deepcopy(flow)
    problems(flow, ALL_KINDS)
    assert flow == before


def test_a_webhook_step_as_flows_stores_it_is_fine():
    flow = with_change(lambda f: step(f, "hook").update(secret_sealed="v1:sealed", secret=None))
    step(flow, "hook").pop("secret")
    assert problems(flow, ALL_KINDS) == []


def test_emoji_titles_are_different_buttons():
    flow = with_change(set_in("hello", "buttons", [{"id": "up", "title": "👍"}, {"id": "down", "title": "👎"}]))
    assert problems(flow, ALL_KINDS) == []
