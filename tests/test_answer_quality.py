"""What makes composed answers right across languages: the Vietnamese/English glossary in hybrid search and the
relevance gate, tone-aware Vietnamese word matching, and table columns beyond price and stock."""
from __future__ import annotations

import pytest

from appliance.assistant import glossary, prompts
from appliance.assistant.compose import about
from appliance.assistant.rows import guess_fields, row_answer
from test_answer_paths import ask, shop, upload  # noqa: F401  (fixture)

ENGLISH_FAQ = """# Frequently asked questions

## How can I contact you?
Call us on 555-0199 or write to hello@shop.example. We answer within one working day.

## Where is the shop?
We are at 7 Harbour Street, next to the post office.

## Do you deliver?
We deliver in town for 5 dollars; orders over 50 dollars travel free.
"""


@pytest.fixture
def english_shop(services, tenant):
    upload(services, tenant.id, "faq.md", ENGLISH_FAQ)
    return tenant


def test_an_english_question_is_answered_from_a_vietnamese_policy(services, shop):  # noqa: F811
    reply = ask(services, shop.id, "How many days do I have to exchange a product?")
    assert reply.path == "extract" and "7 ngày" in reply.text, reply.text
    assert reply.sources[0]["document"] == "chinh-sach.txt"


def test_a_vietnamese_question_is_answered_from_an_english_faq(services, english_shop):
    reply = ask(services, english_shop.id, "Số điện thoại của cửa hàng là gì?")
    assert reply.path == "extract" and "555-0199" in reply.text, reply.text


def test_a_question_in_other_words_than_the_faq_is_answered(services, english_shop):
    reply = ask(services, english_shop.id, "What is your phone number?")  # the FAQ says "Call us", never "phone"
    assert reply.path == "extract" and "555-0199" in reply.text, reply.text


def test_a_question_the_english_faq_cannot_answer_still_gets_the_fallback(services, english_shop):
    reply = ask(services, english_shop.id, "Kéo cắt cành giá bao nhiêu tiền?")  # only "price" is translatable
    assert (reply.path, reply.text) == ("fallback", prompts.DONT_KNOW["vi"])


@pytest.mark.parametrize("question, text, expected", [
    # one syllable means many things: "nhánh" (branch) is not "Nhanh" (fast), "Nội" in Hà Nội is not "nội thành"
    ("Cửa hàng có chi nhánh ở Hà Nội không?", "Tỉnh khác giao qua Giao Hàng Nhanh; nội thành giao trong ngày.", False),
    ("Phí giao hàng nội thành là bao nhiêu?", "Nội thành giao trong ngày, phí giao hàng 25.000đ.", True),
    ("phi giao hang noi thanh", "Nội thành giao trong ngày, phí giao hàng 25.000đ.", True),  # typed without tones
    ("Thẻ nhớ Samsung 128GB giá bao nhiêu?", "Thẻ nhớ Samsung EVO Plus 128GB, 320000", True),
    ("Cửa hàng có cho thuê máy ảnh không?", "Cửa hàng ở 45 Nguyễn Trãi, có chỗ gửi xe máy.", False),
    ("What is your phone number?", "Call us on 555-0199.", True),  # the glossary's other words count
    ("Do you give a discount to students?", "Members collect one point per dollar and get a voucher.", False),
])
def test_a_passage_is_about_a_question_only_when_they_share_a_word(question, text, expected):
    assert about(question, text) is expected


def test_the_glossary_gives_the_other_language_and_keeps_syllables_out_of_vietnamese_searches():
    assert "số điện thoại" in glossary.expand("What is your phone number?")
    assert "phone" in glossary.expand("Số điện thoại của cửa hàng là gì?", across=True)
    assert "sđt" not in glossary.expand("Số điện thoại của cửa hàng là gì?", across=True)
    assert glossary.expand("Why don't you take the card in the shop?", across=True).split().count("order") == 0
    # a Vietnamese question all in glossary words is read by its English words; one naming something else is not
    assert glossary.wordings("Số điện thoại của cửa hàng là gì?", "vi")[1] == "hotline phone call contact hotline"
    assert glossary.wordings("Kéo cắt cành giá bao nhiêu?", "vi")[1].startswith("Kéo cắt cành giá bao nhiêu?")
    assert glossary.wordings("Hello there", "en") == ["Hello there"]


def test_a_size_column_is_guessed_and_stated():
    fields = guess_fields(["sku", "name", "price_usd", "size", "stock"])
    assert fields["size"] == "size"
    assert guess_fields(["Mã", "Tên sản phẩm", "Giá", "Kích thước"])["size"] == "Kích thước"
    cells = {"sku": "GL-012", "name": "Organic Potting Mix", "price_usd": "12.00", "size": "20 litre bag",
             "stock": "In stock"}
    assert row_answer(cells, fields, "en") == ("Organic Potting Mix costs $12.00. Availability: In stock. "
                                               "Size: 20 litre bag.")
