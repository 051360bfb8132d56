"""Which messages need no knowledge: a request for a person (hand-off) told apart from a question about the staff,
in Vietnamese and English, with and without tone marks."""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from appliance.assistant.smalltalk import intent

ASKS_FOR_A_PERSON = [
    # Vietnamese
    "Cho em nói chuyện trực tiếp với chủ tiệm",
    "gặp chủ quán",
    "Tôi muốn nói chuyện với nhân viên",
    "cho mình gặp quản lý",
    "Cho tôi gặp quản lý cửa hàng",
    "em cần nhân viên tư vấn",
    "nhân viên ơi",
    "chủ shop đâu rồi",
    "kết nối em với người thật được không",
    "tôi muốn gặp người thật",
    "chuyển máy cho nhân viên giúp em",
    "xin gặp ông chủ",
    "cho em nói chuyện với chị chủ nhé",
    "liên hệ trực tiếp với người quản lý",
    "noi chuyen voi nhan vien",
    "gap chu shop",
    "em muốn trao đổi với tư vấn viên",
    "nhắn tin với admin",
    # English
    "can I speak to the owner",
    "I want a human",
    "Can I talk to a real person?",
    "I'd like to speak with the manager please",
    "put me through to someone",
    "transfer me to an agent",
    "connect me with customer service",
    "human please",
    "agent",
    "let me talk to your boss",
    "get me a human",
    "I need to speak to a staff member",
    "Is there a person I can talk to?",
    "I want to chat with someone",
    "How can I reach the owner?",
]

ABOUT_THE_STAFF_OR_SOMETHING_ELSE = [
    # Vietnamese
    "Nhân viên có nói tiếng Anh không?",
    "Cho em hỏi nhân viên có nói tiếng Anh không?",
    "Shop có bao nhiêu nhân viên?",
    "Chủ tiệm tên gì?",
    "Nhân viên giao hàng có gọi trước không?",
    "Shop có tuyển nhân viên không?",
    "Tư vấn giúp em ốp lưng iPhone 15",
    "Gọi cho tôi khi có hàng nhé",
    "Chuyển khoản cho chủ tiệm được không?",
    "Hẹn gặp lại shop nhé",
    "Liên hệ shop qua số nào?",
    "Chủ nhật tiệm có mở cửa không?",
    "Xin chữ ký của chủ tiệm trên hóa đơn",
    "ad ơi",
    # English
    "How many staff do you have?",
    "Do your staff speak English?",
    "Is it human hair?",
    "Can I get a staff discount?",
    "Who is the owner?",
    "Is the owner Vietnamese?",
    "Can I talk about my order?",
    "Can I speak English here?",
    "I like the staff here",
    "Does the manager approve refunds?",
    "How do I contact the manufacturer?",
    "Can staff gift wrap it?",
    "Is it made by real people?",
    "What time does the manager come in?",
]


@pytest.mark.parametrize("text", ASKS_FOR_A_PERSON)
def test_a_request_to_speak_to_a_person_is_a_hand_off(text):
    assert intent(text) == "handoff"


@pytest.mark.parametrize("text", ABOUT_THE_STAFF_OR_SOMETHING_ELSE)
def test_a_question_about_the_staff_is_not_a_hand_off(text):
    assert intent(text) != "handoff"


@pytest.mark.parametrize("text, kind", [("Hẹn gặp lại shop nhé", "goodbye"), ("xin chào shop", "greeting"),
                                        ("thanks a lot", "thanks"), ("Chào shop, cho em gặp nhân viên", "handoff")])
def test_small_talk_is_still_told_from_a_hand_off(text, kind):
    assert intent(text) == kind


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_any_text_gets_a_known_intent_or_none(text):
    assert intent(text) in (None, "handoff", "greeting", "thanks", "goodbye")
