"""A small Vietnamese/English glossary of what customers ask a shop about, so a question in one language finds
sources written in the other (the embedder, all-MiniLM-L6-v2, reads English only) and a question finds a passage
that says the same thing in other words ("phone number" and "call us")."""
from __future__ import annotations

import re
import unicodedata

from appliance.assistant.prompts import fold, language_of

# Each group is one meaning: its Vietnamese and English ways of saying it. Only words that name what a question is
# about (not "shop", "have", "sell"), so an expansion does not make every passage look relevant.
GROUPS: tuple[tuple[str, ...], ...] = (
    ("giá", "bao nhiêu tiền", "price", "cost", "costs", "how much"),
    ("mở cửa", "giờ mở cửa", "đóng cửa", "open", "opening hours", "close"),
    # the days of the week, also by number as Vietnamese customers type them ("thứ 7", "CN")
    ("thứ hai", "thứ 2", "monday"), ("thứ ba", "thứ 3", "tuesday"), ("thứ tư", "thứ 4", "wednesday"),
    ("thứ năm", "thứ 5", "thursday"), ("thứ sáu", "thứ 6", "friday"), ("thứ bảy", "thứ 7", "saturday"),
    ("chủ nhật", "cn", "sunday"), ("cuối tuần", "weekend"), ("ngày lễ", "tết", "holiday"),
    ("số điện thoại", "sđt", "điện thoại", "hotline", "gọi", "liên hệ", "phone", "phone number", "telephone", "call",
     "contact"),
    ("email", "e-mail", "thư điện tử", "email"),
    ("địa chỉ", "ở đâu", "address", "where", "located"),
    ("giao hàng", "giao", "giao tận nhà", "vận chuyển", "ship", "shipping", "delivery", "deliver", "courier"),
    ("phí", "fee", "fees", "charge", "cost"),
    ("nội thành", "trong thành phố", "khu vực", "inside the city", "local", "locally"),
    ("tỉnh", "tỉnh thành", "toàn quốc", "province", "provinces", "nationwide", "another city"),
    ("đổi", "đổi hàng", "đổi trả", "exchange", "swap"),
    ("trả hàng", "trả lại", "hoàn trả", "return", "returns", "send back"),
    ("hoàn tiền", "hoàn lại", "refund", "refunded", "money back"),
    ("bảo hành", "warranty", "guarantee"),
    ("thanh toán", "trả tiền", "pay", "payment", "payment methods"),
    ("tiền mặt", "cash"), ("chuyển khoản", "ck", "bank transfer", "transfer"),
    # payment brands and means by their short and long names, as customers and shops write them
    ("american express", "amex"), ("mastercard", "master card"),
    ("ví điện tử", "e-wallet", "ewallet", "digital wallet"),
    ("thẻ ghi nợ", "thẻ atm", "thẻ nội địa", "debit card", "atm card"),
    ("thanh toán khi nhận hàng", "cod", "cash on delivery"),
    ("thẻ tín dụng", "quẹt thẻ", "thẻ", "card", "cards"), ("nhận", "chấp nhận", "accept", "accepts", "accepted"), ("trả góp", "installment", "instalment", "instalments"),
    ("giảm giá", "khuyến mãi", "discount", "promotion"),
    ("còn hàng", "hết hàng", "tồn kho", "in stock", "out of stock", "available", "availability"),
    ("màu", "màu sắc", "colour", "color", "colours", "colors"),
    ("kích thước", "kích cỡ", "dung tích", "size", "big", "how big", "dimensions", "capacity"),
    ("hủy", "hủy đơn", "cancel", "cancellation"),
    ("hóa đơn", "hoá đơn", "invoice", "invoices", "receipt", "bill"),
    ("báo giá", "quote", "quotation", "estimate"),
    ("sửa", "sửa chữa", "repair", "repairs", "fix", "fixing"),
    ("đặt lịch", "lịch hẹn", "đặt chỗ", "appointment", "appointments", "booking", "book", "reservation"),
    ("đặt cọc", "tiền cọc", "cọc", "deposit", "deposits"),
    ("trễ", "muộn", "late"), ("phụ tùng", "linh kiện", "part", "parts", "spare parts"),
    ("thành viên", "hội viên", "member", "members", "membership"),
    ("phiếu quà tặng", "thẻ quà tặng", "gift voucher", "voucher", "gift card"),
    ("trẻ em", "children", "child", "kids"), ("sinh viên", "học sinh", "student", "students"),
    ("chỗ để xe", "gửi xe", "đỗ xe", "đậu xe", "parking", "park"),
    ("tuần", "week", "weeks"), ("phút", "minutes"),
    ("kiện hàng", "gói hàng", "bưu kiện", "parcel", "package"),
    ("pin", "battery", "batteries"), ("thay", "thay thế", "replace", "replacement", "replaced"), ("màn hình", "screen", "display"),
    ("giao đến", "nhận được", "nhận hàng", "arrive", "arrived", "arrives", "received"),
    ("đơn hàng", "đơn", "đặt hàng", "order", "orders"),
    ("vỡ", "nứt", "hỏng", "bị lỗi", "broken", "cracked", "damaged", "faulty", "defective"),
    ("kiểm tra", "check", "inspect"),
    ("miễn phí", "free", "free of charge"),
    ("ngày", "days"), ("tháng", "months"), ("năm", "years"), ("giờ", "hours"),
    ("bao lâu", "how long"),
    ("dụng cụ", "tools", "tool"), ("sản phẩm", "product", "products", "item", "items"),
    ("ốp lưng", "ốp", "case", "cases", "phone case"), ("kính cường lực", "dán kính", "screen protector",
                                                       "tempered glass"),
    ("sạc", "củ sạc", "charger", "chargers"), ("cáp", "cáp sạc", "cable", "cables"),
    ("sạc dự phòng", "pin dự phòng", "power bank"), ("tai nghe", "headphones", "earphones", "earbuds"),
    ("thẻ nhớ", "memory card", "sd card"), ("loa", "speaker", "speakers"),
    ("đồng hồ", "watch", "smartwatch"), ("dữ liệu", "thông tin cá nhân", "personal data", "data", "privacy"),
)


def _words(text: str) -> str:
    return f" {' '.join(re.sub(r'[^0-9a-z]+', ' ', fold(text)).split())} "


def _vietnamese(term: str) -> bool:
    return term in _VIETNAMESE_TERMS  # every call asks about a glossary term


def _is_vietnamese(term: str) -> bool:
    return _words(term).strip() != term.lower()  # tone marks or đ: every Vietnamese term here has one


_FOLDED = [[_words(term).strip() for term in group] for group in GROUPS]
# Worked out once: expand() asks these of every term for every question.
_VIETNAMESE_TERMS = frozenset(term for group in GROUPS for term in group if _is_vietnamese(term))


def expand(question: str, across: bool = False) -> str:
    """The other words for what the question names, or "" when it names nothing listed; with `across`, no Vietnamese
    synonyms of Vietnamese words (in a keyword search one syllable of them matches unrelated words)."""
    asked, toned = _words(question), _toned_words(question)
    english = language_of(question) != "vi"  # "don't" is not "đơn"
    typed_plain = toned == asked  # Vietnamese typed without tone marks compares folded
    extra: list[str] = []
    for group, folded in zip(GROUPS, _FOLDED):
        matched = [term for term, plain in zip(group, folded)
                   if _says(term, plain, asked, toned, english, typed_plain)]
        if not matched:
            continue
        from_vietnamese = any(_vietnamese(term) for term in matched)
        extra += [term for term, plain in zip(group, folded)
                  if f" {plain} " not in asked and term not in extra
                  and not (across and from_vietnamese and _vietnamese(term))]
    return " ".join(extra)


_SYLLABLE = re.compile(r"[^\W_]+")


def _toned_words(text: str) -> str:
    return f" {' '.join(_SYLLABLE.findall(unicodedata.normalize('NFC', text.lower())))} "


_TONED = {term: _toned_words(term).strip() for term in _VIETNAMESE_TERMS}


def _says(term: str, plain: str, asked: str, toned: str, english: bool, typed_plain: bool) -> bool:
    """Whether the question says the term: English terms folded; Vietnamese terms with their tone marks ("sữa" is
    not "sửa"), folded when the customer typed none, never in an English question."""
    if not _vietnamese(term):
        return f" {plain} " in asked
    if english:
        return False
    return f" {plain} " in asked if typed_plain else f" {_TONED[term]} " in toned


def wordings(question: str, language: str) -> list[str]:
    """The question as the embedder should read it: itself, and with the glossary's words (a Vietnamese question
    by its English words alone, since the embedder reads English)."""
    extra = expand(question)
    if not extra:
        return [question]
    gist = expand(question, across=True) if language == "vi" and _covered(question) else ""
    return [question, gist or f"{question} {extra}"]


# Vietnamese words that carry no subject (a question of only these and glossary terms is all translated).
_FILLER = set("toi ban minh em anh chi shop cua hang cho co khong ko la gi the nao duoc bao nhieu may luc trong "
              "thi va voi o tai de vay a oi nhe nha ha hay hoac bi rat lam di den tu ra vao khi neu ai sao dau con "
              "roi chua ve muon can hoi xin nhu nay do mot cac nhung".split())


def _covered(question: str) -> bool:
    """Whether the glossary's terms cover every word of a Vietnamese question that names something (else the
    English words alone would lose its subject: "kéo cắt cành giá" is not just "price")."""
    asked = _words(question)
    for folded in _FOLDED:
        for term in sorted(folded, key=len, reverse=True):
            asked = asked.replace(f" {term} ", "  ")
    return all(word in _FILLER for word in asked.split())


# What shops sell and do, by the parts of its names, for telling which row a question names across languages ("gel
# manicure" is "sơn gel tay", not "tháo gel"). Not used by search: only to choose among rows already found.
ITEM_WORDS: tuple[tuple[str, ...], ...] = (
    ("tay", "móng tay", "manicure", "hand", "hands", "fingernails"),
    ("chân", "móng chân", "pedicure", "foot", "feet", "toenails", "toe"),
    ("móng", "nail", "nails"), ("sơn", "polish", "paint", "painted"), ("tháo", "gỡ", "removal", "remove", "removing"),
    ("đắp", "extension", "extensions", "acrylic"),
    ("tóc", "hair", "haircut"), ("cắt", "cut", "haircut", "trim"), ("gội", "gội đầu", "wash", "shampoo", "hair wash"),
    ("nhuộm", "dye", "dyeing", "colouring", "coloring", "hair colour", "hair color"),
    ("uốn", "perm", "perming", "curl", "curling"), ("duỗi", "straighten", "straightening", "straightener"),
    ("phủ bạc", "grey coverage", "gray coverage", "grey hair", "gray hair"),
    ("nam", "men", "man", "male", "gents"), ("nữ", "women", "woman", "female", "ladies", "lady"),
    ("da mặt", "mặt", "facial", "face"), ("da", "skin"), ("mụn", "acne", "pimple", "pimples", "blackheads"),
    ("massage", "mát xa", "xoa bóp"), ("wax", "waxing", "tẩy lông"), ("lông mi", "mi", "eyelash", "eyelashes", "lash"),
    ("lông mày", "chân mày", "eyebrow", "eyebrows", "brow"),
    ("máy tính xách tay", "laptop", "laptops", "notebook"), ("máy tính", "computer", "pc"),
    ("điện thoại", "phone", "smartphone", "mobile"), ("máy tính bảng", "tablet", "ipad"),
    ("tivi", "ti vi", "tv", "tvs", "television", "televisions"), ("màn hình", "monitor", "screen", "display"),
    ("bàn phím", "keyboard", "keyboards"), ("chuột", "mouse", "mice"), ("máy ảnh", "camera", "cameras"),
    ("tủ lạnh", "fridge", "refrigerator"), ("máy giặt", "washing machine", "washer"), ("quạt", "fan", "fans"),
    ("nồi cơm điện", "rice cooker"), ("máy lạnh", "điều hòa", "air conditioner", "aircon"),
    ("áo", "shirt", "shirts", "top", "tops"), ("quần", "trousers", "pants", "jeans", "shorts"),
    ("váy", "đầm", "dress", "dresses", "skirt"), ("giày", "shoes", "shoe", "sneakers"), ("dép", "sandals", "slippers"),
    ("túi", "bag", "bags", "handbag"), ("mũ", "nón", "hat", "cap"),
    ("cà phê", "coffee"), ("trà", "tea"), ("sữa", "milk"), ("bánh", "cake", "cakes", "bread", "pastry"),
    ("nước", "drink", "drinks", "water"), ("kem", "cream", "ice cream"),
    ("son môi", "lipstick"), ("sữa rửa mặt", "cleanser", "face wash"), ("kem chống nắng", "sunscreen", "sunblock"),
    ("nước hoa", "perfume", "fragrance"), ("dầu gội", "shampoo"), ("không dây", "wireless", "bluetooth"),
)
_MEANINGS: dict[str, set[str]] = {}  # a term (folded words) -> the keys of the meanings it has
for _key, _group in enumerate(GROUPS + ITEM_WORDS):
    for _term in _group:
        _MEANINGS.setdefault(_words(_term).strip(), set()).add(f"#{_key}")
LONGEST_TERM = max(len(term.split()) for term in _MEANINGS)  # words


def meanings_of(phrase: str) -> set[str]:
    """The glossary's meanings (as opaque keys) of a word or phrase in either language; empty when it has none."""
    return _MEANINGS.get(_words(phrase).strip(), set())
