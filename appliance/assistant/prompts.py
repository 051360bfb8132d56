"""Prompts per model profile. Stable parts first (persona, instructions), so llama.cpp reuses the cached prefix."""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Callable

DEFAULT_ASSISTANT = {
    "enabled": True,
    "persona": "You are the friendly assistant of {shop}.",
    "tone": "friendly",
    "language": "auto",
    "instructions": "Answer the customer's question in one or two short sentences.",
    "model": "local",  # local | cloud
    "local_model": "",  # a GGUF in the models folder; empty = the appliance default
    "cloud": {"base_url": "", "model": ""},
    "cloud_policy": "never",  # never | on_failure | always
    "fallback": "dont_know",  # dont_know | handoff | cloud: when the knowledge base has nothing relevant
    "history_length": None,  # None = the history_length setting
    "min_similarity": None,  # None = the rag_min_similarity setting
    "rewrite": "auto",  # auto | always | never: let a model reword the extract (auto: instruct or cloud models only)
    "allow_free_form": False,  # answer questions without a source from the persona (instruct models only)
    "smalltalk": {},  # {"vi": {"greeting": ..., "thanks": ..., "goodbye": ...}, "en": {...}} over SMALLTALK
}

SMALLTALK = {
    "en": {"greeting": "Hello! How can I help you today?",
           "thanks": "You're welcome! Is there anything else I can help you with?",
           "goodbye": "Goodbye, and thank you for visiting us!"},
    "vi": {"greeting": "Xin chào! Tôi có thể giúp gì cho bạn?",
           "thanks": "Không có gì ạ! Bạn cần hỗ trợ thêm gì không?",
           "goodbye": "Tạm biệt, cảm ơn bạn đã ghé thăm!"},
}


@dataclass
class Turn:
    """One earlier message of the conversation."""

    role: str  # customer | assistant
    text: str


def system_text(config: dict, shop: str) -> str:
    """Persona, tone and instructions as one paragraph."""
    persona = (config.get("persona") or DEFAULT_ASSISTANT["persona"]).replace("{shop}", shop)
    parts = [persona.strip()]
    if config.get("tone"):
        parts.append(f"Your tone is {config['tone']}.")
    if config.get("language") and config["language"] != "auto":
        parts.append(f"Always answer in {config['language']}.")
    if config.get("instructions"):
        parts.append(config["instructions"].strip())
    return " ".join(p for p in parts if p)


def completion_prompt(system: str, context: list[str], history: list[Turn], question: str) -> str:
    """Completion-style prompt for base models (they loop on chat role markers)."""
    lines = [system]
    if context:
        lines.append("Information:")
        lines.extend(context)
    if history:
        lines.append("Conversation:")
        lines.extend(f"{'Customer' if t.role == 'customer' else 'Assistant'}: {_one_line(t.text)}" for t in history)
    lines.append(f"Customer: {_one_line(question)}")
    lines.append("Assistant:")
    return "\n".join(lines)


COMPLETION_STOP = ["\n", "Customer:", "Assistant:"]


def chat_messages(system: str, context: list[str], history: list[Turn], question: str) -> list[dict]:
    """Chat messages for instruct models, rendered by the GGUF's own template."""
    content = system
    if context:
        content += "\n\nUse this information:\n" + "\n".join(context)
    messages = [{"role": "system", "content": content}]
    messages += [{"role": "user" if t.role == "customer" else "assistant", "content": t.text} for t in history]
    messages.append({"role": "user", "content": question})
    return messages


def _one_line(text: str) -> str:
    return " ".join(text.split())


def build(profile: str, system: str, context: list[str], history: list[Turn], question: str,
          count_tokens: Callable[[str], int], budget: int):
    """The prompt for `profile`, dropping the oldest history, then the weakest context, until it fits `budget` tokens."""
    history, context = list(history), list(context)
    while True:
        if profile == "chat":
            prompt = chat_messages(system, context, history, question)
            size = count_tokens("\n".join(m["content"] for m in prompt)) + 8 * len(prompt)
        else:
            prompt = completion_prompt(system, context, history, question)
            size = count_tokens(prompt)
        if size <= budget or (not history and not context):
            return prompt
        if history:
            history.pop(0)
        else:
            context.pop()


# --- knowledge context and the fallback sentences ------------------------------------------------

LANGUAGE_NAMES = {"en": "English", "vi": "Vietnamese", "fr": "French", "es": "Spanish", "de": "German",
                  "pt": "Portuguese", "id": "Indonesian", "th": "Thai", "zh": "Chinese", "ja": "Japanese",
                  "ko": "Korean"}


def rewrite_instruction(language: str) -> str:
    """What a model is asked when it may reword an extract (the reply is checked against the sources after)."""
    name = LANGUAGE_NAMES.get(language, "English")
    return (f"Rewrite the facts below as a short, friendly reply to the customer in {name}. Use only these facts; "
            "keep every name, number and price exactly as given; add nothing.")


def facts_lines(extract: str) -> list[str]:
    """The extract as the only context line of a rewrite prompt."""
    return [_one_line(extract)]


DONT_KNOW = {
    "en": "Sorry, I don't know the answer to that. Could you ask in another way, or contact the shop directly?",
    "vi": "Xin lỗi, tôi không biết câu trả lời cho câu hỏi này. Bạn có thể hỏi cách khác hoặc liên hệ trực tiếp với cửa hàng.",
    "fr": "Désolé, je ne connais pas la réponse. Pouvez-vous reformuler ou contacter directement la boutique ?",
    "es": "Lo siento, no sé la respuesta. ¿Puede preguntarlo de otra forma o contactar directamente con la tienda?",
    "de": "Entschuldigung, das weiß ich leider nicht. Fragen Sie bitte anders oder wenden Sie sich direkt an den Laden.",
    "pt": "Desculpe, não sei a resposta. Pode perguntar de outra forma ou contactar diretamente a loja?",
    "id": "Maaf, saya tidak tahu jawabannya. Silakan tanyakan dengan cara lain atau hubungi toko secara langsung.",
    "th": "ขออภัย ฉันไม่ทราบคำตอบของคำถามนี้ กรุณาถามด้วยวิธีอื่นหรือติดต่อร้านโดยตรง",
    "zh": "抱歉，我不知道这个问题的答案。请换一种方式提问，或直接联系店铺。",
    "ja": "申し訳ありませんが、その答えはわかりません。別の聞き方をするか、店舗に直接お問い合わせください。",
    "ko": "죄송합니다. 그 질문의 답은 모르겠습니다. 다르게 질문하시거나 매장에 직접 문의해 주세요.",
}

HANDOFF = {
    "en": "I'll pass your question to a member of our team; they will reply here soon.",
    "vi": "Tôi sẽ chuyển câu hỏi của bạn cho nhân viên; họ sẽ trả lời bạn tại đây sớm.",
    "fr": "Je transmets votre question à un membre de l'équipe ; il vous répondra ici bientôt.",
    "es": "Paso su pregunta a un miembro del equipo; le responderá aquí pronto.",
    "de": "Ich gebe Ihre Frage an unser Team weiter; es antwortet Ihnen hier bald.",
    "pt": "Vou passar a sua pergunta a um membro da equipa; ele responderá aqui em breve.",
    "id": "Saya akan meneruskan pertanyaan Anda ke tim kami; mereka akan segera membalas di sini.",
    "th": "ฉันจะส่งคำถามของคุณให้ทีมงาน พวกเขาจะตอบกลับที่นี่เร็ว ๆ นี้",
    "zh": "我会把您的问题转给我们的工作人员，他们很快会在这里回复您。",
    "ja": "ご質問を担当者に引き継ぎます。まもなくこちらで返信いたします。",
    "ko": "질문을 담당 직원에게 전달하겠습니다. 곧 여기에서 답변드리겠습니다.",
}

_LANGUAGE_NAMES = {"english": "en", "vietnamese": "vi", "tiếng việt": "vi", "french": "fr", "spanish": "es",
                   "german": "de", "portuguese": "pt", "indonesian": "id", "thai": "th", "chinese": "zh",
                   "japanese": "ja", "korean": "ko"}
_VIETNAMESE = set("ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ")
_STOPWORDS = {
    "fr": {"le", "la", "les", "est", "vous", "que", "quel", "quelle", "combien", "pour", "avez", "des", "je", "et"},
    "es": {"el", "los", "las", "es", "usted", "que", "cuánto", "cuanto", "para", "tienen", "hola", "y", "por", "qué"},
    "de": {"der", "die", "das", "ist", "sie", "wie", "was", "haben", "ich", "und", "nicht", "wann", "ihr"},
    "pt": {"o", "os", "as", "você", "vocês", "quanto", "para", "têm", "tem", "olá", "e", "não", "qual"},
    "id": {"apa", "berapa", "yang", "dan", "saya", "anda", "ada", "tidak", "bisa", "kapan", "ini", "itu"},
    "en": {"the", "is", "are", "you", "what", "how", "do", "does", "can", "i", "and", "when", "your", "much"},
}


# Vietnamese typed without accents ("gia bao nhieu") shares no letter with English: these words give it away.
_UNACCENTED_VIETNAMESE = {
    "gia", "bao", "nhieu", "khong", "ko", "cua", "minh", "toi", "hang", "san", "pham", "mau", "nao", "gi", "duoc",
    "la", "va", "cho", "mua", "doi", "tra", "gio", "dau", "nhe", "nha", "oi", "voi", "nay", "thi", "roi", "chua",
    "co", "em", "anh", "chi", "sao", "vay", "shop", "ship", "giao", "con", "hanh", "chao", "cam", "biet", "nhan",
    "vien", "muon", "hoi", "tien", "lau", "ngay", "thang", "bi", "loi", "kho", "hom", "mai", "dia", "xin",
}


def fold(text: str) -> str:
    """Lower case without accents (đ as d), so "Giá" and "gia" compare equal."""
    text = unicodedata.normalize("NFD", text.casefold().replace("đ", "d"))
    if text.isascii():
        return text  # no mark to drop: English text skips the character loop (every search folds its hits' text)
    return "".join(c for c in text if unicodedata.category(c) != "Mn")


def _script(text: str) -> str:
    """The language a non-ASCII text's letters show (Thai, Japanese, Korean, Chinese, Vietnamese marks), or ""."""
    if any("\u0e00" <= c <= "\u0e7f" for c in text):
        return "th"
    if any("\u3040" <= c <= "\u30ff" for c in text):
        return "ja"
    if any("\uac00" <= c <= "\ud7af" for c in text):
        return "ko"
    if any("\u4e00" <= c <= "\u9fff" for c in text):
        return "zh"
    return "vi" if any(c in _VIETNAMESE for c in text.lower()) else ""


def language_of(text: str, configured: str = "auto") -> str:
    """The customer's language as a short code: the configured one, else guessed from the text (default en)."""
    configured = (configured or "auto").strip().lower()
    if configured != "auto":
        return _LANGUAGE_NAMES.get(configured, configured[:2] if configured[:2] in DONT_KNOW else "en")
    if not text.isascii() and (script := _script(text)):
        return script
    lowered = text.lower()
    words = set("".join(c if c.isalpha() else " " for c in lowered).split())
    scores = {lang: len(words & stop) for lang, stop in _STOPWORDS.items()}
    scores["vi"] = len(set(fold(" ".join(words)).split()) & _UNACCENTED_VIETNAMESE) - 1  # one shared word ("co", "la") is not enough
    best = max(scores, key=lambda lang: (scores[lang], lang == "en"))
    return best if scores[best] else "en"


def dont_know(question: str, configured: str = "auto") -> str:
    """A polite 'I don't know' in the customer's language."""
    return DONT_KNOW.get(language_of(question, configured), DONT_KNOW["en"])


def handoff(question: str, configured: str = "auto") -> str:
    """'A person will answer' in the customer's language."""
    return HANDOFF.get(language_of(question, configured), HANDOFF["en"])
