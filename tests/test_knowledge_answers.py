"""Grounded answers: sources, token counts, the answer cache, and the fallbacks (no context, local model error).
The local model only rewords a composed answer when the tenant asks for it (`rewrite: always`, the default model is a
base model); tests of the model's mechanics ask for it."""
from __future__ import annotations

import pytest

from appliance.assistant import prompts
from appliance.assistant.answer import answer
from appliance.assistant.ingest import process, store_upload
from appliance.assistant.llm import ModelError
from appliance.assistant.prompts import Turn
from appliance.records import AnswerCache, Conversation, Message, Tenant, Usage
from tests.conftest import OFF_TOPIC, SHOP, configure, free_port, post_json


def usage_rows(tenant_id: str) -> int:
    return Usage.select().where(Usage.tenant == tenant_id).count()


def test_a_grounded_reply_carries_its_sources_and_costs(services, shop):
    tokens = []
    tenant = configure(shop.id, rewrite="always")
    reply = answer(services, tenant, [], "What are your opening hours?", on_token=tokens.append)
    assert reply.action == "reply" and reply.text and not reply.cached
    assert reply.model == services.models.local().name
    assert reply.prompt_tokens > 50 and reply.completion_tokens > 0
    assert "".join(tokens).strip() == reply.text
    assert reply.sources and reply.sources[0]["document"] == "faq.md"
    assert {"document_id", "document", "page", "row", "score"} <= set(reply.sources[0])
    usage = Usage.get(Usage.tenant == shop.id)
    assert usage.provider == "local" and usage.prompt_tokens == reply.prompt_tokens


def test_the_rewrite_prompt_holds_persona_then_the_extract_then_history_then_question(services, shop):
    model = services.models.local()
    seen = {}
    original = model.generate

    def spy(prompt, **kwargs):
        seen["prompt"] = prompt
        return original(prompt, **kwargs)

    model.generate = spy
    try:
        answer(services, configure(shop.id, rewrite="always"),
               [Turn("customer", "Hi there"), Turn("assistant", "Hello!")], "How much is the monstera?")
    finally:
        del model.generate
    prompt = seen["prompt"]
    persona, chunk, history, question = (prompt.index("friendly assistant of Lan's Flower Shop"),
                                         prompt.index("Monstera Deliciosa costs $34.00."),
                                         prompt.index("Customer: Hi there"),
                                         prompt.index("Customer: How much is the monstera?"))
    assert persona < chunk < history < question
    assert "products.csv" not in prompt and "sku:" not in prompt  # no markup for the model to copy
    assert model.count_tokens(prompt) <= model.n_ctx - model.max_tokens


def test_a_pdf_source_names_its_page(services, shop):
    reply = answer(services, Tenant.get_by_id(shop.id), [], "What warranty do your garden tools have?")
    assert {"document": "policy.pdf", "page": 2} in [{"document": s["document"], "page": s["page"]} for s in reply.sources]


def test_the_same_question_is_answered_from_the_cache_until_the_knowledge_changes(services, shop):
    tenant = configure(shop.id, rewrite="always")
    first = answer(services, tenant, [], "What are your opening hours?")
    spent = usage_rows(shop.id)
    streamed = []
    again = answer(services, tenant, [], "  what are your OPENING hours ", on_token=streamed.append)
    assert again.cached and again.text == first.text and again.sources == first.sources and again.path == first.path
    assert again.prompt_tokens == again.completion_tokens == 0 and streamed == [first.text]
    assert usage_rows(shop.id) == spent  # no model was called
    assert AnswerCache.get(AnswerCache.tenant == shop.id).hits == 1
    # a follow-up inside a conversation is not the bare question: no cache
    assert not answer(services, tenant, [Turn("customer", "hi")], "What are your opening hours?").cached
    # a changed knowledge base makes every cached reply stale
    path = SHOP / "extra.txt"
    document, _ = store_upload(services.settings, shop.id, path.name, b"We also open on public holidays 10am-2pm.")
    assert process(services, document.id).status == "ready"
    assert not answer(services, tenant, [], "What are your opening hours?").cached
    # and so does a changed persona
    tenant = configure(shop.id, persona="You are the gardener of Green Leaf.")
    assert not answer(services, tenant, [], "What are your opening hours?").cached


@pytest.mark.parametrize("question, configured, language", [
    (OFF_TOPIC, "auto", "en"),
    ("Qui a gagné la coupe du monde de football en 1998 ?", "auto", "fr"),
    (OFF_TOPIC, "Vietnamese", "vi"),
])
def test_nothing_relevant_means_a_polite_dont_know_in_the_customers_language(services, shop, question, configured,
                                                                             language):
    tokens = []
    reply = answer(services, configure(shop.id, language=configured), [], question, on_token=tokens.append)
    assert reply.text == prompts.DONT_KNOW[language] and tokens == [reply.text]
    assert reply.action == "reply" and reply.model == "fallback" and reply.sources == [] and reply.path == "fallback"
    assert usage_rows(shop.id) == 0 and AnswerCache.select().count() == 0


def test_nothing_relevant_with_the_handoff_fallback_hands_the_conversation_over(client, services, shop, web_channel):
    configure(shop.id, fallback="handoff")
    response = post_json(client, f"/widget/{web_channel.id}/messages", {"session": "s-handoff-1", "text": OFF_TOPIC})
    assert response.status_code == 202
    reply = Message.get((Message.tenant == shop.id) & (Message.direction == "out"))
    assert reply.text == prompts.HANDOFF["en"] and reply.sources == []
    assert Conversation.get_by_id(reply.conversation_id).status == "handoff"


def test_a_widget_reply_carries_its_sources(client, services, shop, web_channel):
    response = post_json(client, f"/widget/{web_channel.id}/messages",
                         {"session": "s-sources-1", "text": "How much is the olive tree?"})
    assert response.status_code == 202
    reply = Message.get((Message.tenant == shop.id) & (Message.direction == "out"))
    assert reply.path == "extract" and reply.text == "Olive Tree costs $89.00. Availability: In stock. " \
        "Size: Pot diameter 30 cm; height 150 cm. Mediterranean tree for patios; frost tolerant to -7 C."
    assert reply.sources and reply.sources[0]["document"] == "products.csv" and reply.sources[0]["row"] == 6
    conversation = client.get(f"/api/v1/conversations/{reply.conversation_id}", headers=shop.headers).get_json()
    bot = [m for m in conversation["messages"] if m["direction"] == "out"][0]
    assert bot["sources"][0]["document"] == "products.csv"


def test_the_assistant_test_endpoint_returns_sources(client, shop):
    response = post_json(client, "/api/v1/assistant/test", {"text": "Which payment methods do you accept?"}, shop.headers)
    body = response.get_json()
    assert response.status_code == 200 and body["path"] == "extract" and body["rejected"] is None
    assert body["reply"].startswith("We accept cash, Visa, Mastercard")
    assert body["sources"][0]["document"] == "faq.md"
    assert body["tokens"] == {"prompt": 0, "completion": 0}  # composed from the source, no model asked


def test_a_tenant_without_documents_answers_with_its_fallback(services, tenant):
    reply = answer(services, Tenant.get_by_id(tenant.id), [], "Hello, who are you?")
    assert (reply.path, reply.text, reply.completion_tokens) == ("fallback", prompts.DONT_KNOW["en"], 0)


def test_a_local_model_error_leaves_the_composed_answer(services, shop):
    tenant = configure(shop.id, rewrite="always", local_model="missing-model.gguf")
    reply = answer(services, tenant, [], "What are your opening hours?")
    assert reply.path == "extract" and reply.text.startswith("We are open Monday to Saturday from 9am to 7pm")
    assert "missing-model.gguf" in reply.rejected


def test_a_free_form_model_error_follows_the_fallback(client, services, tenant):
    down = f"http://127.0.0.1:{free_port()}/v1"
    services.settings.update(cloud_retries=0, outbound_allow_hosts="127.0.0.1")  # a loopback port nobody listens on
    stored = configure(tenant.id, model="cloud", allow_free_form=True, cloud={"base_url": down, "model": "m"})
    stored.assistant_secret = services.vault.encrypt("sk-test", f"assistant:{tenant.id}")
    stored.save()
    with pytest.raises(ModelError, match="cannot be reached"):
        answer(services, Tenant.get_by_id(tenant.id), [], "Tell me about your shop")
    response = post_json(client, "/api/v1/assistant/test", {"text": "Tell me about your shop"}, tenant.headers)
    assert response.status_code == 503 and response.get_json()["error"]["code"] == "model_unavailable"
    reply = answer(services, configure(tenant.id, fallback="handoff"), [], "Tell me about your shop")
    assert reply.action == "handoff" and reply.text == prompts.HANDOFF["en"] and reply.path == "handoff"


def test_a_local_timeout_leaves_the_composed_answer(services, shop):
    services.settings["llm_timeout"] = 0.000001
    reply = answer(services, configure(shop.id, rewrite="always"), [], "What are your opening hours?")
    assert reply.path == "extract" and "setting llm_timeout" in reply.rejected


@pytest.mark.parametrize("text, configured, expected", [
    ("When do you open?", "auto", "en"),
    ("Cửa hàng mở cửa lúc mấy giờ?", "auto", "vi"),
    ("Quelle est votre adresse ?", "auto", "fr"),
    ("¿Cuánto cuesta el ramo?", "auto", "es"),
    ("Wann haben Sie geöffnet?", "auto", "de"),
    ("营业时间是什么？", "auto", "zh"),
    ("営業時間はいつですか", "auto", "ja"),
    ("hi", "auto", "en"),
    ("When do you open?", "Vietnamese", "vi"),
])
def test_the_customers_language_is_recognised(text, configured, expected):
    assert prompts.language_of(text, configured) == expected
