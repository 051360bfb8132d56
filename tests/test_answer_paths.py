"""Every answer path (extract, model/cloud rewrite, smalltalk, handoff, fallback), the faithfulness check, the reply
language and the absence of markup, with the real embedder and model; a scripted OpenAI-compatible server on
loopback plays the cloud model that rewrites."""
from __future__ import annotations

import logging
import re

import pytest

from appliance.assistant import faithful, prompts
from appliance.assistant.answer import answer
from appliance.assistant.compose import sentences
from appliance.assistant.rows import format_price, local_prices
from appliance.assistant.ingest import process, store_upload
from appliance.conversations import message_json
from appliance.db import database, migrate, schema_version
from appliance.records import AnswerCache, Conversation, Document, Message, Tenant, Usage
from conftest import post_json
from test_cloud import Scripted
from test_knowledge_answers import configure

PRODUCTS = """Mã SP,Tên sản phẩm,Giá,Tồn kho,Màu sắc,Bảo hành
OP15,Ốp lưng iPhone 15 Spigen,690000,12,"đen, trong suốt",6 tháng
SAC20,Sạc nhanh Anker 20W,450000,0,trắng,18 tháng
CAP1,Cáp USB-C Baseus 1m,150000,40,đen,12 tháng
GD,Giá đỡ điện thoại Ugreen,120000,5,bạc,6 tháng
"""
FAQ = """# Câu hỏi thường gặp

## Cửa hàng mở cửa lúc mấy giờ?
Cửa hàng mở cửa từ 8 giờ sáng đến 9 giờ tối, tất cả các ngày trong tuần.

## Thanh toán bằng cách nào?
Chúng tôi nhận tiền mặt, chuyển khoản và ví MoMo. Chúng tôi không nhận thẻ tín dụng.
"""
POLICY = ("Chính sách đổi trả của cửa hàng. Khách hàng được đổi sản phẩm trong vòng 7 ngày kể từ ngày mua nếu sản "
          "phẩm còn nguyên tem và hộp. Sản phẩm bị lỗi do nhà sản xuất được bảo hành miễn phí tại cửa hàng. Cửa hàng "
          "có bãi đỗ xe máy miễn phí phía trước. Mọi thắc mắc xin gọi số 0901 234 567.")
QA = """Hỏi: Shop có xuất hóa đơn VAT không?
Đáp: Có, shop xuất hóa đơn VAT cho mọi đơn hàng khi khách yêu cầu.

Hỏi: Shop có cho thuê máy chiếu không?
Đáp: Shop chỉ bán phụ kiện điện thoại, không cho thuê thiết bị.
"""
PRICE_QUESTION_VI = "Ốp lưng iPhone 15 Spigen giá bao nhiêu?"
PRICE_QUESTION_EN = "How much is the Spigen iPhone 15 case?"
ROW_VI = "Ốp lưng iPhone 15 Spigen có giá 690.000đ. Còn 12 sản phẩm. Màu: đen, trong suốt. Bảo hành: 6 tháng."
ROW_EN = "Ốp lưng iPhone 15 Spigen costs 690,000 VND. 12 in stock. Colours: đen, trong suốt. Warranty: 6 tháng."
OPENING_VI = "Cửa hàng mở cửa từ 8 giờ sáng đến 9 giờ tối, tất cả các ngày trong tuần."
OFF_TOPIC = "Who won the football world cup in 1998?"
MARKUP = re.compile(r"\.(csv|md|txt|pdf)\b|##|\brow \d|\bsku\b|Mã SP|Tên sản phẩm|\(|\*\*", re.I)


def plain(text: str) -> bool:
    """No file names, headings, row references or column labels in customer-facing text."""
    return MARKUP.search(text) is None


def upload(services, tenant_id: str, name: str, text: str) -> Document:
    document, _ = store_upload(services.settings, tenant_id, name, text.encode())
    document = process(services, document.id)
    assert document.status == "ready", document.error
    return document


@pytest.fixture
def shop(services, tenant):
    """A Vietnamese phone-accessory shop: a products table, an FAQ, a returns policy and a Q/A sheet."""
    for name, text in (("san-pham.csv", PRODUCTS), ("hoi-dap.md", FAQ), ("chinh-sach.txt", POLICY),
                       ("hoa-don.txt", QA)):
        upload(services, tenant.id, name, text)
    return tenant


def ask(services, tenant_id: str, question: str):
    return answer(services, Tenant.get_by_id(tenant_id), [], question)


@pytest.fixture
def cloud_says(services):
    """Point a tenant's cloud model at a loopback server that answers `text`; the server is returned."""
    servers = []

    services.settings["outbound_allow_hosts"] = "127.0.0.1"  # the platform admin allows the loopback fake

    def make(tenant_id: str, text: str, failures: int = 0, **assistant) -> Scripted:
        body = {"model": "scripted-cloud", "choices": [{"message": {"role": "assistant", "content": text}}],
                "usage": {"prompt_tokens": 40, "completion_tokens": 20}}
        refused = (400, {}, {"error": {"message": "bad request"}})  # not retried: one refusal per question
        servers.append(Scripted([refused] * failures + [(200, {}, body)]))
        tenant = configure(tenant_id, cloud={"base_url": servers[-1].base, "model": "scripted-cloud"},
                           cloud_policy="always", **assistant)
        tenant.assistant_secret = services.vault.encrypt("sk-test", f"assistant:{tenant.id}")
        tenant.save()
        return servers[-1]

    yield make
    for server in servers:
        server.close()


# --- extract: the sources themselves ------------------------------------------------------------------

def test_a_product_row_answers_from_its_fields_in_vietnamese(services, shop):
    reply = ask(services, shop.id, PRICE_QUESTION_VI)
    assert (reply.path, reply.text, reply.rejected) == ("extract", ROW_VI, None)
    assert reply.sources[0]["document"] == "san-pham.csv" and reply.sources[0]["row"] == 1
    assert Usage.select().count() == 0  # no model was asked


def test_an_english_question_on_vietnamese_sources_gets_english_labels_and_price(services, shop):
    reply = ask(services, shop.id, PRICE_QUESTION_EN)
    assert (reply.path, reply.text) == ("extract", ROW_EN)


def test_a_markdown_section_answers_with_its_body(services, shop):
    reply = ask(services, shop.id, "Cửa hàng mở cửa lúc mấy giờ?")
    assert (reply.path, reply.text) == ("extract", OPENING_VI)
    assert reply.sources[0]["document"] == "hoi-dap.md"


def test_prose_answers_with_its_sentences_closest_to_the_question(services, shop):
    reply = ask(services, shop.id, "Đổi trả trong bao nhiêu ngày?")
    said = sentences(reply.text)
    assert reply.path == "extract" and 1 <= len(said) <= 3
    assert set(said) <= set(sentences(POLICY)) and "7 ngày" in reply.text and reply.text != POLICY


def test_a_question_and_answer_pair_answers_with_its_answer(services, shop):
    reply = ask(services, shop.id, "Shop có xuất hóa đơn VAT không?")
    assert (reply.path, reply.text) == ("extract", "Có, shop xuất hóa đơn VAT cho mọi đơn hàng khi khách yêu cầu.")


@pytest.mark.parametrize("question", [PRICE_QUESTION_VI, PRICE_QUESTION_EN, "Cửa hàng mở cửa lúc mấy giờ?",
                                      "Thanh toán bằng cách nào?", "Shop có xuất hóa đơn VAT không?"])
def test_no_markup_reaches_the_customer(services, shop, question):
    reply = ask(services, shop.id, question)
    assert reply.path == "extract" and plain(reply.text), reply.text


# --- a model's rewrite: kept only when faithful -----------------------------------------------------

FAITHFUL_EN = ("Ốp lưng iPhone 15 Spigen is 690,000 VND and we have 12 of them, in black or clear, "
               "with a 6-month warranty.")


def test_a_faithful_cloud_rewrite_is_sent(services, shop, cloud_says):
    server = cloud_says(shop.id, FAITHFUL_EN)
    reply = ask(services, shop.id, PRICE_QUESTION_EN)
    assert (reply.path, reply.text, reply.rejected, reply.model) == ("cloud", FAITHFUL_EN, None, "scripted-cloud")
    assert (reply.prompt_tokens, reply.completion_tokens) == (40, 20)
    sent = server.requests[0][2]["messages"]
    assert ROW_EN in sent[0]["content"] and "English" in sent[0]["content"]  # the extract, not raw chunks
    assert ".csv" not in sent[0]["content"] and sent[-1] == {"role": "user", "content": PRICE_QUESTION_EN}
    usage = Usage.get(Usage.tenant == shop.id)
    assert (usage.provider, usage.prompt_tokens) == ("cloud", 40)


def test_an_extract_sent_because_the_cloud_failed_is_not_cached_as_the_answer(services, shop, cloud_says):
    server = cloud_says(shop.id, FAITHFUL_EN, failures=1)
    first = ask(services, shop.id, PRICE_QUESTION_EN)
    assert (first.path, first.text, first.cached) == ("extract", ROW_EN, False)
    assert "the cloud model failed" in first.rejected
    second = ask(services, shop.id, PRICE_QUESTION_EN)  # the cloud is back: the same question gets its rewrite
    assert (second.path, second.text, second.cached) == ("cloud", FAITHFUL_EN, False)
    third = ask(services, shop.id, PRICE_QUESTION_EN)
    assert (third.path, third.text, third.cached) == ("cloud", FAITHFUL_EN, True)
    assert len(server.requests) == 2


@pytest.mark.parametrize("rewrite, why", [
    ("Ốp lưng iPhone 15 Spigen costs 3,450,000 VND, 12 in stock, black or clear, 6-month warranty.",
     "numbers that are in no source: 3450000"),
    ("Ốp lưng iPhone 15 Spigen costs 690,000 VND, 12 in stock, 6-month warranty. Call 0987 654 321 to order.",
     "numbers that are in no source: 0987654321"),
    ("Ốp lưng iPhone 15 Spigen (model X12) costs 690,000 VND, 12 in stock, 6-month warranty.",
     "a product code that is in no source: X12"),
    ("Hello, I'm sorry to bother you.", "leaves out numbers of the sources"),
    ("Write to sales@shop.example: Ốp lưng iPhone 15 Spigen, 690,000 VND, 12 in stock, 6 months.",
     "an e-mail address that is in no source: sales@shop.example"),
])
def test_an_unfaithful_rewrite_is_replaced_by_the_extract(services, shop, cloud_says, rewrite, why):
    cloud_says(shop.id, rewrite)
    reply = ask(services, shop.id, PRICE_QUESTION_EN)
    assert (reply.path, reply.text) == ("extract", ROW_EN)
    assert why in reply.rejected


def test_a_rejected_rewrite_keeps_phone_numbers_and_text_out_of_info_logs(services, shop, cloud_says, caplog):
    caplog.set_level(logging.INFO)
    cloud_says(shop.id, "Ốp lưng iPhone 15 Spigen costs 690,000 VND, 12 in stock, 6 months. Call 0987 654 321.")
    reply = ask(services, shop.id, PRICE_QUESTION_EN)
    assert "0987654321" in reply.rejected
    info = " ".join(r.getMessage() for r in caplog.records if r.levelno >= logging.INFO)
    assert "rewrite for" in info and "0987" not in info and "Spigen" not in info


def test_a_rewrite_that_flips_a_not_is_rejected(services, shop, cloud_says):
    cloud_says(shop.id, "We accept cash, bank transfer, MoMo and credit cards.")
    reply = ask(services, shop.id, "Thanh toán bằng cách nào?")
    assert reply.path == "extract" and "không nhận thẻ tín dụng" in reply.text
    assert "opposite" in reply.rejected


def test_a_rewrite_naming_another_product_of_the_shop_is_rejected(services, shop, cloud_says):
    cloud_says(shop.id, "Ốp lưng iPhone 15 Spigen: 690,000 VND, 12 left, 6 months warranty; see also Giá đỡ điện thoại Ugreen.")
    reply = ask(services, shop.id, PRICE_QUESTION_EN)
    assert reply.path == "extract" and "names a product the sources do not: Giá đỡ điện thoại Ugreen" in reply.rejected


def test_the_reply_message_and_the_test_endpoint_record_the_path(client, services, shop, web_channel, cloud_says):
    cloud_says(shop.id, "Ốp lưng iPhone 15 Spigen costs 99,000 VND.")
    response = post_json(client, f"/widget/{web_channel.id}/messages", {"session": "s-path", "text": PRICE_QUESTION_EN})
    assert response.status_code == 202
    reply = Message.get((Message.tenant == shop.id) & (Message.direction == "out"))
    assert (reply.path, reply.text) == ("extract", ROW_EN) and "99000" in reply.rejected
    staff = client.get(f"/api/v1/conversations/{reply.conversation_id}", headers=shop.headers).get_json()
    bot = [m for m in staff["messages"] if m["direction"] == "out"][0]
    assert bot["path"] == "extract" and "99000" in bot["rejected"] and bot["sources"][0]["document"] == "san-pham.csv"
    assert {"sources", "path", "rejected", "model"}.isdisjoint(message_json(reply, for_customer=True))
    body = post_json(client, "/api/v1/assistant/test", {"text": PRICE_QUESTION_VI}, shop.headers).get_json()
    assert body["path"] == "extract" and "99000" in body["rejected"] and body["reply"] == ROW_VI


def test_a_cached_reply_keeps_its_path_and_a_changed_policy_misses_the_cache(services, shop, cloud_says):
    cloud_says(shop.id, FAITHFUL_EN)
    first = ask(services, shop.id, PRICE_QUESTION_EN)
    again = ask(services, shop.id, PRICE_QUESTION_EN)
    assert again.cached and (again.path, again.text, again.model) == ("cloud", first.text, "scripted-cloud")
    configure(shop.id, rewrite="never")
    fresh = ask(services, shop.id, PRICE_QUESTION_EN)
    assert not fresh.cached and (fresh.path, fresh.text) == ("extract", ROW_EN)
    assert AnswerCache.select().where(AnswerCache.tenant == shop.id).count() == 2


def test_the_local_model_rewrites_when_asked_to_and_is_checked(services, shop):
    configure(shop.id, rewrite="always")
    reply = ask(services, shop.id, PRICE_QUESTION_VI)
    local = services.models.local().name
    assert reply.model == local and reply.prompt_tokens > 0 and reply.completion_tokens > 0
    assert Usage.get(Usage.tenant == shop.id).provider == "local"
    # whatever the tiny model wrote, what the customer gets passes the check, and a rejection names its reason
    grounding = PRODUCTS + " " + PRICE_QUESTION_VI
    assert faithful.problems(reply.text, ROW_VI, grounding, []) is None and plain(reply.text)
    assert (reply.path == "model") == (reply.rejected is None)


def test_a_failing_local_model_leaves_the_extract(services, shop):
    configure(shop.id, rewrite="always", local_model="missing-model.gguf")
    reply = ask(services, shop.id, PRICE_QUESTION_VI)
    assert (reply.path, reply.text) == ("extract", ROW_VI) and "missing-model.gguf" in reply.rejected


# --- nothing ungrounded: small talk, hand-off, fallback ------------------------------------------------

@pytest.mark.parametrize("text, language, kind", [
    ("Xin chào shop", "vi", "greeting"), ("hello!", "en", "greeting"), ("Cảm ơn nhiều nha", "vi", "thanks"),
    ("Thank you so much", "en", "thanks"), ("Tạm biệt", "vi", "goodbye"), ("bye", "en", "goodbye"),
])
def test_greetings_thanks_and_goodbyes_get_built_in_replies(services, shop, text, language, kind):
    reply = ask(services, shop.id, text)
    assert (reply.path, reply.text, reply.sources) == ("smalltalk", prompts.SMALLTALK[language][kind], [])
    assert Usage.select().count() == 0


def test_a_tenant_changes_its_small_talk(client, services, shop):
    response = client.put("/api/v1/assistant", json={"smalltalk": {"vi": {"greeting": "Chào bạn, shop Minh đây!"}}},
                          headers=shop.headers)
    assert response.status_code == 200
    assert ask(services, shop.id, "xin chao").text == "Chào bạn, shop Minh đây!"
    assert ask(services, shop.id, "hi").text == prompts.SMALLTALK["en"]["greeting"]
    for bad in ({"fr": {"greeting": "Salut"}}, {"vi": {"hello": "x"}}, {"vi": {"greeting": "x" * 501}}, {"vi": "x"}):
        response = client.put("/api/v1/assistant", json={"smalltalk": bad}, headers=shop.headers)
        assert response.status_code == 422 and response.get_json()["error"]["code"] == "invalid_smalltalk"


@pytest.mark.parametrize("text, language", [
    ("Tôi muốn nói chuyện với nhân viên", "vi"), ("gặp nhân viên", "vi"), ("toi muon noi chuyen voi nhan vien", "vi"),
    ("Can I talk to a person?", "en"), ("human", "en"), ("agent", "en"),
])
def test_a_request_for_a_person_hands_the_conversation_off(client, services, shop, web_channel, text, language):
    response = post_json(client, f"/widget/{web_channel.id}/messages", {"session": "s-human", "text": text})
    assert response.status_code == 202
    reply = Message.get((Message.tenant == shop.id) & (Message.direction == "out"))
    assert (reply.path, reply.text) == ("handoff", prompts.HANDOFF[language])
    assert Conversation.get_by_id(reply.conversation_id).status == "handoff"


def test_no_relevant_source_gets_the_fallback_never_free_text(services, shop, tenant):
    reply = ask(services, shop.id, OFF_TOPIC)
    assert (reply.path, reply.text, reply.model) == ("fallback", prompts.DONT_KNOW["en"], "fallback")
    for question in ("Ai vô địch bóng đá thế giới năm 1998?", "Thời tiết Hà Nội hôm nay thế nào?"):
        # the embedder finds these close to the shop's Vietnamese documents; no shared word means not about them
        reply = ask(services, shop.id, question)
        assert (reply.path, reply.text) == ("fallback", prompts.DONT_KNOW["vi"])
    assert Usage.select().count() == 0


def test_a_shop_without_documents_answers_with_its_fallback(services, tenant):
    reply = ask(services, tenant.id, "Do you sell phone cases?")
    assert (reply.path, reply.text) == ("fallback", prompts.DONT_KNOW["en"])


def test_free_form_needs_an_instruct_model(client, services, tenant, cloud_says):
    response = client.put("/api/v1/assistant", json={"allow_free_form": True}, headers=tenant.headers)
    assert response.status_code == 422 and response.get_json()["error"]["code"] == "invalid_allow_free_form"
    assert services.models.local().name in response.get_json()["error"]["message"]
    assert not Tenant.get_by_id(tenant.id).assistant.get("allow_free_form")
    cloud_says(tenant.id, "We are a small phone accessory shop in Hanoi.", model="cloud")
    response = client.put("/api/v1/assistant", json={"allow_free_form": True}, headers=tenant.headers)
    assert response.status_code == 200 and response.get_json()["allow_free_form"] is True
    reply = ask(services, tenant.id, "Tell me about your shop")
    assert (reply.path, reply.model) == ("cloud", "scripted-cloud")


# --- language, prices, the table's fields ----------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("gia bao nhieu", "vi"), ("op lung iphone 15 con hang khong", "vi"), ("shop oi ship cod duoc khong", "vi"),
    ("Giá bao nhiêu?", "vi"), ("How much is it?", "en"), ("Do you sell phone cases?", "en"), ("hi", "en"),
    ("Can I pay with MoMo?", "en"),
])
def test_the_customers_language_includes_unaccented_vietnamese(text, expected):
    assert prompts.language_of(text) == expected


@pytest.mark.parametrize("raw, column, vi, en", [
    ("690000", "Giá", "690.000đ", "690,000 VND"),
    ("690.000đ", "Price", "690.000đ", "690,000 VND"),
    ("1,290,000", "Giá bán (VNĐ)", "1.290.000đ", "1,290,000 VND"),
    ("690k", "Giá", "690.000đ", "690,000 VND"),
    ("34.00", "price_usd", "34,00 USD", "$34.00"),
    ("Liên hệ", "Giá", "Liên hệ", "Liên hệ"),
])
def test_prices_are_formatted_for_the_customers_language(raw, column, vi, en):
    assert (format_price(raw, column, "vi"), format_price(raw, column, "en")) == (vi, en)


@pytest.mark.parametrize("language, said", [
    ("en", "Free delivery from 500,000 VND; the fee is 30,000 VND."),
    ("vi", "Free delivery from 500.000đ; the fee is 30.000 đồng."),
])
def test_dong_amounts_in_a_passage_follow_the_customers_language(language, said):
    assert local_prices("Free delivery from 500.000đ; the fee is 30.000 đồng.", language) == said


def test_a_tables_fields_are_guessed_from_its_header_and_can_be_changed(client, services, shop):
    table = Document.get((Document.tenant == shop.id) & (Document.kind == "csv"))
    got = client.get(f"/api/v1/knowledge/documents/{table.id}", headers=shop.headers).get_json()
    assert got["fields"] == {"code": "Mã SP", "name": "Tên sản phẩm", "price": "Giá", "stock": "Tồn kho",
                             "colour": "Màu sắc", "warranty": "Bảo hành"}
    url = f"/api/v1/knowledge/documents/{table.id}"
    assert ask(services, shop.id, PRICE_QUESTION_VI).text == ROW_VI  # cached until the mapping changes
    response = client.patch(url, json={"fields": {"colour": None, "warranty": ""}}, headers=shop.headers)
    assert response.status_code == 200 and "colour" not in response.get_json()["fields"]
    assert response.get_json()["columns"] == ["Mã SP", "Tên sản phẩm", "Giá", "Tồn kho", "Màu sắc", "Bảo hành"]
    assert ask(services, shop.id, PRICE_QUESTION_VI).text == "Ốp lưng iPhone 15 Spigen có giá 690.000đ. Còn 12 sản phẩm."


@pytest.mark.parametrize("body, status, code", [
    ({"fields": {"price": "Giá USD"}}, 422, "unknown_column"),
    ({"fields": {"flavour": "Giá"}}, 422, "unknown_field_role"),
    ({"fields": ["Giá"]}, 422, "invalid_fields"),
    ({}, 422, "fields_required"),
])
def test_a_wrong_field_mapping_is_refused(client, shop, body, status, code):
    table = Document.get((Document.tenant == shop.id) & (Document.kind == "csv"))
    response = client.patch(f"/api/v1/knowledge/documents/{table.id}", json=body, headers=shop.headers)
    assert response.status_code == status and response.get_json()["error"]["code"] == code


def test_only_tables_have_fields(client, shop):
    faq = Document.get((Document.tenant == shop.id) & (Document.kind == "md"))
    response = client.patch(f"/api/v1/knowledge/documents/{faq.id}", json={"fields": {}}, headers=shop.headers)
    assert response.status_code == 422 and response.get_json()["error"]["code"] == "not_a_table"


def test_migration_7_adds_its_columns_to_an_older_database(services):
    added = [("document", "fields"), ("chunk", "cells"), ("message", "path"), ("message", "rejected"),
             ("answercache", "path"), ("answercache", "rejected")]
    latest = schema_version(database)
    for table, column in added:
        database.execute_sql(f'ALTER TABLE "{table}" DROP COLUMN "{column}"')
    database.execute_sql("PRAGMA user_version = 6")
    migrate(database)
    assert schema_version(database) == latest
    assert all(column in {c.name for c in database.get_columns(table)} for table, column in added)
