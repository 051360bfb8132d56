"""A table row as an answer: roles guessed from the header, the attribute asked about stated first, units carried
from the header, zero values said in words, lists for "which X do you have", and the row the question names chosen
across Vietnamese and English (real embedder and ingest; the rows are composed without a model)."""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from appliance.assistant.rows import asks_for_list, guess_fields, list_answer, name_overlaps, row_answer, with_unit
from appliance.records import Document
from tests.conftest import ask, upload_text

SPA = """ma_dv,ten_dich_vu,nhom,gia,duration_min,bao_hanh_ngay,ghi_chu
S1,Gội đầu thảo dược,Tóc,90000,35,0,Có massage đầu.
S2,Cắt tóc nữ,Tóc,160000,50,0,
S3,Cắt tóc nam,Tóc,70000,25,0,
S4,Sơn gel tay,Móng,110000,40,5,Sơn lại miễn phí nếu bong.
S5,Sơn gel chân,Móng,130000,55,5,
S6,Tháo gel,Móng,25000,10,0,
S7,Chăm sóc da mặt,Da mặt,280000,70,0,
"""
GADGETS = """sku,name,brand,category,price_usd,warranty_months,stock,colour,weight_kg
G1,Studio Pro Headphones,Beats,Headphones,299.00,12,5,Black; sand,0.26
G2,HD 450BT Headphones,Sennheiser,Headphones,149.00,24,0,Black,0.24
G3,Tune 510BT Headphones,JBL,Headphones,49.00,6,12,Blue,0.16
G4,Zenbook 14 Laptop,Asus,Laptops,899.00,24,3,Grey,1.2
G5,Braided USB-C Cable,Ugreen,Accessories,9.00,0,80,Black,0.05
"""
SPA_HEADER = ["ma_dv", "ten_dich_vu", "nhom", "gia", "duration_min", "bao_hanh_ngay", "ghi_chu"]
GADGET_HEADER = GADGETS.splitlines()[0].split(",")


def cells(table: str, row: int) -> dict:
    lines = table.splitlines()
    return dict(zip(lines[0].split(","), lines[row].split(",")))


@pytest.fixture
def spa(services, tenant):
    upload_text(services, tenant.id, "dich-vu.csv", SPA)
    return tenant


@pytest.fixture
def gadgets(services, tenant):
    upload_text(services, tenant.id, "products.csv", GADGETS)
    return tenant


@pytest.mark.parametrize("header, expected", [
    (SPA_HEADER, {"code": "ma_dv", "name": "ten_dich_vu", "category": "nhom", "price": "gia",
                  "duration": "duration_min", "warranty": "bao_hanh_ngay", "description": "ghi_chu"}),
    (GADGET_HEADER, {"code": "sku", "name": "name", "brand": "brand", "category": "category", "price": "price_usd",
                     "warranty": "warranty_months", "stock": "stock", "colour": "colour"}),
    (["Mã SP", "Tên hàng", "Hãng", "Đơn giá", "Đơn vị tính", "Còn hàng", "Thời gian (phút)"],
     {"code": "Mã SP", "name": "Tên hàng", "brand": "Hãng", "price": "Đơn giá", "unit": "Đơn vị tính",
      "stock": "Còn hàng", "duration": "Thời gian (phút)"}),
    (["Product", "Brand name", "Unit price", "Thời gian bảo hành"],
     {"name": "Product", "brand": "Brand name", "price": "Unit price", "warranty": "Thời gian bảo hành"}),
])
def test_the_header_tells_each_columns_role(header, expected):
    assert guess_fields(header) == expected


@pytest.mark.parametrize("question, language, expected", [
    ("How long does it take?", "en", "Sơn gel tay takes 40 minutes. Price: 110,000 VND. Warranty: 5 days. "
                                     "Sơn lại miễn phí nếu bong."),
    ("Sơn gel tay làm mất bao lâu?", "vi", "Sơn gel tay mất 40 phút. Giá: 110.000đ. Bảo hành: 5 ngày. "
                                          "Sơn lại miễn phí nếu bong."),
    ("Sơn gel tay bảo hành bao lâu?", "vi", "Sơn gel tay được bảo hành 5 ngày. Giá: 110.000đ. Thời gian: 40 phút. "
                                           "Sơn lại miễn phí nếu bong."),
    ("Sơn gel tay giá bao nhiêu?", "vi", "Sơn gel tay có giá 110.000đ. Bảo hành: 5 ngày. Thời gian: 40 phút. "
                                        "Sơn lại miễn phí nếu bong."),
])
def test_a_row_states_the_attribute_asked_about_first_and_names_the_item(question, language, expected):
    assert row_answer(cells(SPA, 4), guess_fields(SPA_HEADER), language, question) == expected


@pytest.mark.parametrize("question, language, first", [
    ("What is the warranty on it?", "en", "Warranty for Sennheiser HD 450BT Headphones: 24 months."),
    ("Is it in stock?", "en", "Sennheiser HD 450BT Headphones is currently out of stock."),
    ("Có màu gì?", "vi", "Sennheiser HD 450BT Headphones có màu Black."),
    ("Who makes the HD 450BT?", "en", "Sennheiser HD 450BT Headphones is made by Sennheiser."),
    ("How heavy is it?", "en", "Weight of Sennheiser HD 450BT Headphones: 0.24 kg."),
    ("Nặng bao nhiêu?", "vi", "Trọng lượng của Sennheiser HD 450BT Headphones: 0.24 kg."),
    ("What is the product code?", "en", "The product code of Sennheiser HD 450BT Headphones is G2."),
    ("How much is it?", "en", "Sennheiser HD 450BT Headphones costs $149.00."),
])
def test_each_attribute_a_customer_asks_about_leads_the_answer(question, language, first):
    answer = row_answer(cells(GADGETS, 2), guess_fields(GADGET_HEADER), language, question)
    assert answer.startswith(first + " "), answer
    assert answer.count(first) == 1


@pytest.mark.parametrize("value, column, language, expected", [
    ("60", "warranty_months", "en", "60 months"), ("60", "warranty_months", "vi", "60 tháng"),
    ("1", "warranty_months", "en", "1 month"), ("45", "duration_min", "en", "45 minutes"),
    ("45", "duration_min", "vi", "45 phút"), ("2", "Thời gian (giờ)", "en", "2 hours"),
    ("7", "bao_hanh_ngay", "vi", "7 ngày"), ("1.19", "weight_kg", "en", "1.19 kg"), ("250", "weight_g", "vi", "250 g"),
    ("30", "Chiều dài (cm)", "en", "30 cm"), ("15", "Giảm giá (%)", "vi", "15%"),
    ("6 tháng", "Bảo hành", "en", "6 tháng"),  # a unit already written stays as written
    ("40", "Size nam", "en", "40"),  # "nam" is men's here, not years
    ("12", "stock", "en", "12"),
])
def test_a_unit_in_the_header_is_carried_onto_a_bare_number(value, column, language, expected):
    assert with_unit(value, column, language) == expected


def test_a_zero_warranty_is_no_warranty_and_a_zero_price_is_free():
    fields = guess_fields(GADGET_HEADER)
    cable = cells(GADGETS, 5)
    assert row_answer(cable, fields, "en", "Does the cable have a warranty?").startswith(
        "Ugreen Braided USB-C Cable has no warranty. Price: $9.00.")
    assert row_answer(cable, fields, "vi", "Cáp có bảo hành không?").startswith(
        "Ugreen Braided USB-C Cable không bảo hành.")
    assert "Không bảo hành." in row_answer(cable, fields, "vi", "Cáp giá bao nhiêu?")
    free = {**cable, "price_usd": "0"}
    assert row_answer(free, fields, "en", "How much is the cable?").startswith("Ugreen Braided USB-C Cable is free")
    assert row_answer(free, fields, "vi", "Cáp giá bao nhiêu?").startswith("Ugreen Braided USB-C Cable miễn phí.")


@pytest.mark.parametrize("question, expected", [
    ("Which brands of headphones do you carry?", True), ("What laptops do you have?", True),
    ("What nail services do you offer?", True), ("Bên mình có những loại tai nghe nào?", True),
    ("Tiệm có những dịch vụ làm móng nào?", True), ("Shop có các loại cáp gì?", True),
    ("How much is the Zenbook 14?", False), ("Is the HD 450BT in stock?", False),
    ("Sơn gel tay giá bao nhiêu?", False), ("What is the warranty on the Zenbook?", False),
])
def test_a_question_asking_what_the_shop_has_is_told_from_one_about_an_item(question, expected):
    assert asks_for_list(question) is expected


def test_which_brands_of_x_lists_the_matching_rows_with_their_brands(services, gadgets):
    reply = ask(services, gadgets.id, "Which brands of headphones do you carry?")
    assert reply.path == "extract"
    assert reply.text.startswith("Brands: Beats, Sennheiser, JBL. We have: "), reply.text  # in the table's order
    for name in ("Studio Pro Headphones ($299.00)", "HD 450BT Headphones ($149.00; Currently out of stock)",
                 "Tune 510BT Headphones ($49.00)"):
        assert name in reply.text
    assert "Zenbook" not in reply.text and "Cable" not in reply.text


def test_a_vietnamese_list_question_lists_the_rows_in_vietnamese(services, spa):
    reply = ask(services, spa.id, "Tiệm có những dịch vụ làm móng nào?")
    assert reply.text == ("Chúng tôi có: Sơn gel tay (110.000đ); Sơn gel chân (130.000đ); Tháo gel (25.000đ)."), \
        reply.text


def test_a_vietnamese_list_question_about_english_rows_lists_them(services, gadgets):
    reply = ask(services, gadgets.id, "Shop có những loại tai nghe nào?")
    assert reply.path == "extract" and reply.text.startswith(
        "Chúng tôi có: Beats Studio Pro Headphones (299,00 USD); Sennheiser HD 450BT Headphones (149,00 USD; "
        "Hiện đã hết hàng)"), reply.text


@pytest.mark.parametrize("question, expected", [
    ("How long does a gel manicure take?", "Sơn gel tay takes 40 minutes."),
    ("How much is a gel pedicure?", "Sơn gel chân costs 130,000 VND."),
    ("Tháo gel bao nhiêu tiền?", "Tháo gel có giá 25.000đ."),
])
def test_the_row_the_question_names_is_chosen_across_languages(services, spa, question, expected):
    reply = ask(services, spa.id, question)
    assert reply.path == "extract" and reply.text.startswith(expected), reply.text
    assert reply.sources[0]["document"] == "dich-vu.csv"


@pytest.mark.parametrize("question, header, table, expected", [
    ("How long does a gel manicure take?", SPA_HEADER, SPA, {"Sơn gel tay": 2, "Tháo gel": 1, "Sơn gel chân": 1}),
    ("men's haircut", SPA_HEADER, SPA, {"Cắt tóc nam": 3, "Cắt tóc nữ": 2}),
    ("Tai nghe Sennheiser bảo hành bao lâu?", GADGET_HEADER, GADGETS, {"HD 450BT Headphones": 2,
                                                                        "Tune 510BT Headphones": 1}),
    ("Do you repair Asus laptops?", GADGET_HEADER, GADGETS, {"Zenbook 14 Laptop": 2, "Braided USB-C Cable": 0}),
])
def test_what_a_question_names_is_matched_to_row_names_across_languages(question, header, table, expected):
    fields = guess_fields(header)
    table_rows = {cells(table, i)[fields["name"]]: cells(table, i) for i in range(1, len(table.splitlines()))}
    overlaps = name_overlaps(question, table_rows, fields)
    assert {name: overlaps[name] for name in expected} == expected


def test_a_vietnamese_question_names_an_english_row(services, gadgets):
    reply = ask(services, gadgets.id, "Tai nghe Sennheiser bảo hành bao lâu?")
    assert reply.text.startswith("Sennheiser HD 450BT Headphones được bảo hành 24 tháng."), reply.text


_CELL = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(_CELL, _CELL, min_size=1, max_size=8), st.text(max_size=80), st.sampled_from(["vi", "en"]))
def test_any_row_and_question_compose_to_text_without_error(row, question, language):
    text = row_answer(row, guess_fields(list(row)), language, question)
    assert isinstance(text, str)
    assert asks_for_list(question) in (True, False)


def test_an_owner_maps_a_new_role_and_the_answer_follows(client, services, spa):
    spa_table = Document.get((Document.tenant == spa.id) & (Document.kind == "csv"))
    url = f"/api/v1/knowledge/documents/{spa_table.id}"
    response = client.patch(url, json={"fields": {"duration": None}}, headers=spa.headers)
    assert response.status_code == 200 and "duration" not in response.get_json()["fields"]
    # unmapped, the column still answers a question about it: its header says what it holds
    assert ask(services, spa.id, "Sơn gel tay làm mất bao lâu?").text.startswith("Sơn gel tay mất 40 phút.")
    assert "Thời gian" not in ask(services, spa.id, "Sơn gel tay giá bao nhiêu?").text
    response = client.patch(url, json={"fields": {"duration": "duration_min", "brand": "nhom"}}, headers=spa.headers)
    assert response.status_code == 200 and response.get_json()["fields"]["brand"] == "nhom"
    assert ask(services, spa.id, "Sơn gel tay giá bao nhiêu?").text.startswith("Móng Sơn gel tay có giá 110.000đ.")


FLOWERS = """Mã,Tên hoa,Giá,Màu,Kích cỡ,{stock}
H1,Bó hồng đỏ,450000,Đỏ,Lớn,Hết hàng
H2,Lẵng cúc họa mi,350000,Trắng,Vừa,Còn hàng
H3,Bó tulip Hà Lan,890000,Vàng,Nhỏ,Có lại sau 2 tuần
"""


@pytest.mark.parametrize("stock", ["Tình trạng", "Trạng thái", "Status", "Availability", "Còn/Hết"])
def test_a_stock_column_headed_the_way_owners_write_it_is_the_stock(stock):
    assert guess_fields(FLOWERS.format(stock=stock).splitlines()[0].split(","))["stock"] == stock


def test_a_stock_column_headed_in_no_known_way_is_told_by_its_values():
    table = FLOWERS.format(stock="Kho?").replace("Kho?", "Ghi")
    rows = [cells(table, i) for i in (1, 2, 3)]
    assert guess_fields(list(rows[0]), rows)["stock"] == "Ghi"
    assert "stock" not in guess_fields(SPA_HEADER, [cells(SPA, i) for i in range(1, 8)])


@pytest.mark.parametrize("question, language, row, expected", [
    ("Bó hồng đỏ còn hàng không?", "vi", 1, "Bó hồng đỏ: Hết hàng. Giá: 450.000đ."),
    ("Is the Bó hồng đỏ in stock?", "en", 1, "Bó hồng đỏ: Hết hàng. Price: 450,000 VND."),
    ("Bó tulip Hà Lan còn không?", "vi", 3, "Bó tulip Hà Lan: Có lại sau 2 tuần. Giá: 890.000đ."),
    ("Bó hồng đỏ giá bao nhiêu?", "vi", 1, "Bó hồng đỏ có giá 450.000đ. Tình trạng: Hết hàng."),
])
def test_a_stock_question_states_the_stock_first(question, language, row, expected):
    table = FLOWERS.format(stock="Trạng thái")
    assert row_answer(cells(table, row), guess_fields(table.splitlines()[0].split(",")), language,
                      question).startswith(expected)


@pytest.mark.parametrize("row, said", [(1, "Hết hàng"), (3, "Có lại sau 2 tuần")])
def test_an_out_of_stock_item_is_never_answered_without_it(row, said):
    table = FLOWERS.format(stock="Ghi")
    owners = {"code": "Mã", "name": "Tên hoa", "price": "Giá", "colour": "Màu"}  # the owner mapped no stock
    assert said in row_answer(cells(table, row), owners, "vi", "Bó hoa này giá bao nhiêu?")
    assert "Còn hàng" not in row_answer(cells(table, 2), owners, "vi", "Lẵng cúc họa mi giá bao nhiêu?")


def test_a_customer_asking_about_an_out_of_stock_item_is_told_so(services, tenant):
    upload_text(services, tenant.id, "hoa.csv", FLOWERS.format(stock="Còn/Hết"))
    reply = ask(services, tenant.id, "Bó hồng đỏ còn hàng không?")
    assert reply.path == "extract" and reply.text.startswith("Bó hồng đỏ: Hết hàng."), reply.text
    assert "Hết hàng" in ask(services, tenant.id, "Is the Bó hồng đỏ in stock?").text


@settings(max_examples=100, deadline=None)
@given(st.lists(st.dictionaries(st.sampled_from(["a", "b", "c"]), _CELL, min_size=3), max_size=5))
def test_any_rows_guess_fields_without_error(samples):
    assert set(guess_fields(["a", "b", "c"], samples).values()) <= {"a", "b", "c"}


@pytest.mark.parametrize("language, listed", [
    ("vi", "Bó hồng đỏ (450.000đ; Tình trạng: Hết hàng); Lẵng cúc họa mi (350.000đ); Bó tulip Hà Lan (890.000đ; "
           "Tình trạng: Có lại sau 2 tuần)"),
    ("en", "Bó hồng đỏ (450,000 VND; Availability: Hết hàng); Lẵng cúc họa mi (350,000 VND)"),
])
def test_a_list_of_what_the_shop_has_says_which_items_are_out_of_stock(language, listed):
    table = FLOWERS.format(stock="Trạng thái")
    fields = guess_fields(table.splitlines()[0].split(","))
    assert listed in list_answer([(cells(table, i), fields) for i in (1, 2, 3)], "Tiệm có những loại hoa nào?",
                                 language)
