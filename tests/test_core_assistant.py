"""Prompts per model profile, history within the context window, and the database's pragmas."""
from appliance.assistant import prompts
from appliance.assistant.prompts import Turn
from appliance.db import database
from appliance.pipeline import history_of, store_events, handle_event
from appliance.channels import Inbound
from appliance.records import Message, Tenant, Usage
from tests.conftest import ingest_files, shop_files


def rewording_shop(services, tenant_id: str) -> None:
    """The sample shop, with the local model asked to reword every answer (so it sees the history)."""
    ingest_files(services, tenant_id, shop_files())
    tenant = Tenant.get_by_id(tenant_id)
    tenant.assistant = {**(tenant.assistant or {}), "rewrite": "always"}
    tenant.save()


def words(text):
    return len(text.split())


def test_completion_prompt_puts_stable_parts_first():
    prompt = prompts.completion_prompt("You help Lan's shop.", ["Roses: 50,000 VND."],
                                       [Turn("customer", "hi"), Turn("assistant", "Hello!")], "price of roses?")
    assert prompt.index("You help") < prompt.index("Roses") < prompt.index("Customer: hi") < prompt.index("price of roses")
    assert prompt.endswith("Customer: price of roses?\nAssistant:")


def test_chat_profile_uses_roles():
    messages = prompts.chat_messages("system text", [], [Turn("customer", "hi"), Turn("assistant", "hello")], "q")
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]


def test_build_drops_oldest_history_to_fit_the_budget():
    history = [Turn("customer", f"message number {i} " + "word " * 20) for i in range(10)]
    prompt = prompts.build("completion", "sys", [], history, "final question", words, budget=80)
    assert words(prompt) <= 80 and "final question" in prompt
    assert "message number 9" in prompt and "message number 0" not in prompt


def test_persona_language_and_instructions_shape_the_system_text():
    text = prompts.system_text({"persona": "You are the helper of {shop}.", "tone": "warm", "language": "Vietnamese",
                                "instructions": "Never promise discounts."}, "Pho 24")
    assert text == "You are the helper of Pho 24. Your tone is warm. Always answer in Vietnamese. Never promise discounts."


def test_second_message_sees_the_first_as_history_and_usage_is_recorded(services, tenant, web_channel):
    rewording_shop(services, tenant.id)
    for n, text in enumerate(["What are your opening hours?", "What are your opening hours today?"]):
        [event_id] = store_events(web_channel, [Inbound(kind="text", platform_id=f"s:{n}", user_id="s", text=text)])
        handle_event(services, event_id)
    second = Message.select().where(Message.text == "What are your opening hours today?").get()
    history = history_of(second, 10)
    assert [t.text for t in history][0] == "What are your opening hours?" and history[1].role == "assistant"
    replies = list(Message.select().where(Message.direction == "out"))
    assert len(replies) == 2 and replies[1].tokens_prompt > replies[0].tokens_prompt
    assert Usage.select().count() == 2 and sum(u.completion_tokens for u in Usage.select()) > 0


def test_history_length_zero_sends_no_history(client, tenant, services, web_channel):
    rewording_shop(services, tenant.id)
    client.put("/api/v1/assistant", json={"history_length": 0}, headers=tenant.headers)
    for n, text in enumerate(["What are your opening hours?", "What are your opening hours today?"]):
        [event_id] = store_events(web_channel, [Inbound(kind="text", platform_id=f"s:{n}", user_id="s", text=text)])
        handle_event(services, event_id)
    first, second = Message.select().where(Message.direction == "out").order_by(Message.id)
    assert abs(second.tokens_prompt - first.tokens_prompt) <= 3  # only the question differs


def test_database_pragmas(services):
    pragma = lambda name: database.execute_sql(f"PRAGMA {name}").fetchone()[0]  # noqa: E731
    assert pragma("journal_mode") == "wal" and pragma("foreign_keys") == 1
    assert pragma("busy_timeout") == 5000 and pragma("synchronous") == 1
