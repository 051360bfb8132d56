"""answers.parse: the answers a flow's ask step accepts, normalized, and the ones it refuses; no text ever raises."""
import datetime

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from appliance.automation.answers import KINDS, MAX_TEXT, parse, retry_text

QUICK = hsettings(derandomize=True, max_examples=300, deadline=None, database=None)
TODAY = datetime.date(2026, 11, 29)  # a Sunday


@pytest.mark.parametrize("text, value", [
    ("42", 42), ("  7 ", 7), ("-3", -3), ("+3", 3), ("0", 0),
    ("1.500.000", 1500000), ("1,500,000", 1500000), ("1 500 000", 1500000), ("1.500", 1500), ("1,500", 1500),
    ("1,5", 1.5), ("1.5", 1.5), ("0,25", 0.25), ("0.500", 0.5), ("1.500,5", 1500.5), ("1,500.5", 1500.5),
    ("12.50", 12.5), ("2 triệu", 2000000), ("2 TRIỆU", 2000000), ("1,5tr", 1500000), ("1.5 triệu", 1500000),
    ("500k", 500000), ("500 nghìn", 500000), ("300 ngàn", 300000), ("2 tỷ", 2000000000), ("3 tỉ", 3000000000),
    ("2 million", 2000000), ("5 thousand", 5000), ("1.500.000đ", 1500000), ("1.500.000 VNĐ", 1500000),
    ("200.000 đồng", 200000), ("$500", 500), ("500$", 500), ("50 USD", 50), ("4 người", 4), ("tầm 3 người ạ", 3),
    ("１２", 12), ("50%", 50), ("1tr5", 1500000), ("1 triệu 5", 1500000), ("1 triệu rưỡi", 1500000),
    ("2k5", 2500), ("2tr350", 2350000), ("1 triệu 200 nghìn", 1200000), ("5 triệu/tháng", 5000000),
    ("300k/người", 300000), ("2.000.000đ/tháng", 2000000),
])
def test_numbers_in_vietnamese_and_english_formats(text, value):
    result = parse("number", text)
    assert result == value and type(result) is type(value)


@pytest.mark.parametrize("text", [
    "", "   ", "abc", "hai", "5/3", "10:30", "1.5.3", "1,500,5", "2 con 3 tuổi", "từ 2 đến 3 triệu", "1 5",
    "1" * 17, "0912345678a", "v2", "1e5", "∞", "NaN", "1.5tr5", "9999999 tỷ",
])
def test_what_is_not_one_number(text):
    assert parse("number", text) is None


@pytest.mark.parametrize("text, value", [
    ("an@shop.vn", "an@shop.vn"), ("  An.Nguyen+tag@GMail.COM ", "An.Nguyen+tag@gmail.com"),
    ("Email: an@shop.vn.", "an@shop.vn"), ("email em là an@shop.vn ạ", "an@shop.vn"), ("<an@shop.vn>", "an@shop.vn"),
    ("mailto:an@shop.vn", "an@shop.vn"), ("an＠shop.vn", "an@shop.vn"), ("a_b-c@mail.co.uk", "a_b-c@mail.co.uk"),
])
def test_emails(text, value):
    assert parse("email", text) == value


@pytest.mark.parametrize("text", [
    "an", "an@", "@shop.vn", "an@shop", "an@@shop.vn", "a@b@shop.vn", "an@shop..vn", "an@-shop.vn", "an@shop.v",
    "an@shop.123", "an.@shop.vn", ".an@shop.vn", "nguyễn@shop.vn", "an@shop.vn bình@shop.vn", "a" * 65 + "@shop.vn",
    "an@" + "a" * 64 + ".vn",
])
def test_what_is_not_an_email(text):
    assert parse("email", text) is None


@pytest.mark.parametrize("text, value", [
    ("0912345678", "+84912345678"), ("0912 345 678", "+84912345678"), ("091.234.5678", "+84912345678"),
    ("0912-345-678", "+84912345678"), ("(091) 234 5678", "+84912345678"), ("+84 912 345 678", "+84912345678"),
    ("+84912345678", "+84912345678"), ("84912345678", "+84912345678"), ("0084 912 345 678", "+84912345678"),
    ("+84 (0) 912 345 678", "+84912345678"), ("0387654321", "+84387654321"), ("0567654321", "+84567654321"),
    ("0787654321", "+84787654321"), ("0887654321", "+84887654321"), ("02438123456", "+842438123456"),
    ("028 3823 4567", "+842838234567"), ("0236 3123 456", "+842363123456"), ("842838234567", "+842838234567"),
    ("sđt 0912 345 678 ạ", "+84912345678"), ("Số của em: 0912.345.678", "+84912345678"),
    ("+1 415 555 2671", "+14155552671"), ("+44 20 7946 0958", "+442079460958"), ("0044 20 7946 0958", "+442079460958"),
    ("０９１２３４５６７８", "+84912345678"), ("(+84) 912 345 678", "+84912345678"), ("+84 0912 345 678", "+84912345678"),
    ("ngày 5/3 0912 345 678", "+84912345678"),
    ("mã đơn 12345678, sđt 0912345678", "+84912345678"), ("0912345678 0912 345 678", "+84912345678"),
])
def test_phones_in_vietnamese_and_international_formats(text, value):
    assert parse("phone", text) == value


@pytest.mark.parametrize("text", [
    "091234567",  # 9 digits
    "09123456789",  # 11 digits, mobile prefix
    "0212345678",  # a landline needs 11 digits
    "01234567890",  # old 11-digit mobile, renumbered in 2018
    "0112345678", "0412345678", "0612345678",  # no such prefixes
    "912345678",  # no 0 or country code
    "+84 12345",  "8491234567", "+0912345678", "19001234", "1800 1234", "0912345678 hoặc 0987654321",
    "0912 345 678 0987 654 321",
    "0912abc345678", "+123", "+1234567890123456", "phone", "", "12/03/2026",
])
def test_what_is_not_a_phone(text):
    assert parse("phone", text) is None


@pytest.mark.parametrize("text, value", [
    ("31/12/2026", "2026-12-31"), ("05/03/2027", "2027-03-05"), ("5/3/2027", "2027-03-05"), ("5-3-2027", "2027-03-05"),
    ("05.03.2027", "2027-03-05"), ("5/3/27", "2027-03-05"), ("2027-03-05", "2027-03-05"), ("2027/3/5", "2027-03-05"),
    ("5/3", "2027-03-05"),  # without a year: the next 5 March on or after today
    ("30/12", "2026-12-30"), ("29/11", "2026-11-29"), ("28/11", "2027-11-28"),
    ("ngày 5/3", "2027-03-05"), ("5 tháng 3", "2027-03-05"), ("ngày 5 tháng 3 năm 2028", "2028-03-05"),
    ("Ngày 05 Tháng 03", "2027-03-05"), ("5 thg 3", "2027-03-05"), ("ngày 5/3 nhé", "2027-03-05"),
    ("5 March", "2027-03-05"), ("5th of March 2028", "2028-03-05"), ("March 5, 2027", "2027-03-05"),
    ("Mar 5", "2027-03-05"), ("December 1", "2026-12-01"),
    ("hôm nay", "2026-11-29"), ("HÔM NAY", "2026-11-29"), ("today", "2026-11-29"), ("ngày mai", "2026-11-30"),
    ("mai", "2026-11-30"), ("tomorrow", "2026-11-30"), ("ngày kia", "2026-12-01"), ("ngày mốt", "2026-12-01"),
    ("day after tomorrow", "2026-12-01"), ("hôm qua", "2026-11-28"), ("thứ 2", "2026-11-30"),
    ("thứ hai", "2026-11-30"), ("thứ 7", "2026-12-05"), ("chủ nhật", "2026-12-06"), ("friday", "2026-12-04"),
    ("T7", "2026-12-05"), ("t2 nhé", "2026-11-30"), ("CN", "2026-12-06"), ("20-11", "2027-11-20"),
    ("29/02/2028", "2028-02-29"), ("ngày mai 30/11", "2026-11-30"), ("1.5", "2027-05-01"),
    ("ngày 5", "2026-12-05"), ("mùng 5", "2026-12-05"), ("ngày 30", "2026-11-30"), ("ngày 29", "2026-11-29"),
    ("ngày 28", "2026-12-28"), ("ngày 31", "2026-12-31"), ("ngày 5 lúc 10h", "2026-12-05"),
])
def test_dates_become_iso_relative_to_today(text, value):
    assert parse("date", text, today=TODAY) == value


@pytest.mark.parametrize("text", [
    "31/02/2027", "29/02/2027", "32/1", "0/5", "5/13", "5/0/2027", "2027-02-30", "2027-13-01", "31 tháng 4",
    "tháng 3", "5/3 hoặc 6/3", "ngày mai hoặc thứ 7", "ngày 32", "ngày 0", "ngày 5 hoặc ngày 6", "sometime", "",
    "5/3/202", "12345", "1.5.2027.1", "11/20", "tuần sau", "cuối tuần",
])
def test_what_is_not_a_date(text):
    assert parse("date", text, today=TODAY) is None


def test_a_date_at_the_end_of_the_calendar_is_none_not_an_error():
    assert parse("date", "ngày mai", today=datetime.date(9999, 12, 31)) is None
    assert parse("date", "5/3", today=datetime.date(9999, 12, 31)) is None
    assert parse("date", "31/12", today=datetime.date(9999, 12, 31)) == "9999-12-31"
    assert parse("date", "ngày 5", today=datetime.date(9999, 12, 31)) is None
    assert parse("date", "hôm qua", today=datetime.date.min) is None
    assert parse("date", "thứ 7", today=datetime.date.max) is None


def test_a_day_of_the_month_skips_months_without_it():
    assert parse("date", "ngày 30", today=datetime.date(2027, 1, 31)) == "2027-03-30"
    assert parse("date", "ngày 5", today=datetime.date(2026, 12, 20)) == "2027-01-05"


def test_today_defaults_to_the_clock():
    assert parse("date", "hôm nay") == datetime.date.today().isoformat()


BUTTONS = [{"id": "yes", "title": "Có"}, {"id": "no", "title": "Không"}, {"id": "later", "title": "Để sau"}]


@pytest.mark.parametrize("text, value", [
    ("yes", "yes"), ("later", "later"), ("Có", "yes"), ("có", "yes"), ("CO", "yes"), ("  không  ", "no"),
    ("Khong!", "no"), ("để sau", "later"), ("de sau", "later"), ("LATER", "later"), ("1", "yes"), ("2", "no"),
    ("3", "later"), ("số 2", "no"), ("#3", "later"), ("có ạ", "yes"), ("chắc là để sau nhé", "later"),
])
def test_choices_by_id_title_number_or_named(text, value):
    assert parse("choice", text, BUTTONS) == value


@pytest.mark.parametrize("text", ["không có", "4", "0", "maybe", "có không", ""])
def test_what_is_not_one_choice(text):
    assert parse("choice", text, BUTTONS) is None


def test_a_choice_needs_buttons_and_skips_broken_ones():
    assert parse("choice", "1", ()) is None
    assert parse("choice", "1", "yes") is None
    broken = [None, "x", {"title": "No id"}, {"id": True, "title": "Bool"}, {"id": "", "title": "Empty"},
              {"id": 7, "title": "Bảy"}]
    assert parse("choice", "bảy", broken) == "7"
    assert parse("choice", "1", broken) == "7"


def test_a_numeric_title_wins_over_a_position():
    buttons = [{"id": "p1", "title": "2"}, {"id": "p2", "title": "1"}]
    assert parse("choice", "1", buttons) == "p2"


@pytest.mark.parametrize("text, value", [
    ("  Nguyễn Văn An  ", "Nguyễn Văn An"), ("a", "a"), ("dòng 1\ndòng 2", "dòng 1\ndòng 2"),
    ("x" * MAX_TEXT, "x" * MAX_TEXT), ("bell\x07 sound\x00", "bell sound"),
])
def test_text_is_trimmed(text, value):
    assert parse("text", text) == value


@pytest.mark.parametrize("text", ["", "   ", "\n\t", "x" * (MAX_TEXT + 1), "a\ud800", "\x00\x01"])
def test_what_is_not_a_text_answer(text):
    assert parse("text", text) is None


@pytest.mark.parametrize("kind", KINDS)
def test_non_text_input_is_none(kind):
    for value in (None, 5, ["0912345678"], {"text": "x"}, b"0912345678"):
        assert parse(kind, value, BUTTONS, today=TODAY) is None


def test_an_unknown_kind_is_a_programming_error():
    with pytest.raises(ValueError):
        parse("postcode", "10000")


HOSTILE = st.one_of(st.text(max_size=60), st.text(alphabet="0123456789.,/- +()@đĐtháng⑳", max_size=40),
                    st.sampled_from(["\ud800", "a\udfff0912345678", "9" * 5000, "1" * 3999, "ngày " * 800,
                                     "⑳" * 3000]))


@pytest.mark.parametrize("kind", KINDS)
def test_an_answer_that_normalizing_makes_too_long_is_none(kind):
    assert parse(kind, "⑳" * 3000, BUTTONS, today=TODAY) is None  # 6,000 digits once "⑳" is "20"
    assert parse("number", "⑳") == 20


@QUICK
@given(kind=st.sampled_from(KINDS), text=HOSTILE, buttons=st.lists(
    st.one_of(st.none(), st.text(max_size=4), st.fixed_dictionaries({"id": st.text(max_size=4) | st.integers(),
                                                                     "title": st.text(max_size=8) | st.none()})),
    max_size=4), today=st.dates() | st.sampled_from([datetime.date.min, datetime.date.max]))
def test_parse_never_raises_and_answers_none_or_a_plain_value(kind, text, buttons, today):
    value = parse(kind, text, buttons, today=today)
    assert value is None or type(value) in (str, int, float)
    if isinstance(value, str):
        value.encode("utf-8")  # storable and sendable


def test_long_hostile_answers_are_quick():
    import time

    started = time.perf_counter()
    for kind in KINDS:
        for text in ("1 " * 1999, "1." * 1999, "0" * 3999, "a@" * 1999, "5/" * 1999, "ngày " * 799):
            parse(kind, text, BUTTONS, today=TODAY)
    elapsed = time.perf_counter() - started
    print(f"\n36 parses of 4,000-character hostile answers: {elapsed * 1000:.1f} ms")
    assert elapsed < 5  # only catches a catastrophic (quadratic or worse) pattern, not noise


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_has_a_default_retry_text_in_both_languages(kind):
    vi, en = retry_text(kind, "vi"), retry_text(kind, "en")
    assert vi.startswith("Bạn vui lòng") and en.startswith("Please") and vi.endswith(".") and en.endswith(".")
    assert retry_text(kind, "fr") == en


@pytest.mark.parametrize("kind, example", [
    ("number", "1.500.000"), ("number", "1,500,000"), ("email", "ten@gmail.com"), ("email", "name@example.com"),
    ("phone", "0912 345 678"), ("date", "25/12"), ("date", "ngày mai"), ("date", "tomorrow")])
def test_the_examples_in_the_retry_texts_are_accepted(kind, example):
    assert example in retry_text(kind, "vi") + retry_text(kind, "en")
    assert parse(kind, example, today=TODAY) is not None
