"""A table row as an answer: which column means what (guessed from the header, editable), prices and units written
the customer's way, the attribute a question asks about stated first, several rows for a question asking what the
shop has, and the row whose name the question names chosen across Vietnamese and English."""
from __future__ import annotations

import re

from appliance.assistant import glossary
from appliance.assistant.faithful import canonical_number
from appliance.assistant.prompts import fold
from appliance.errors import AppError
from appliance.records import Chunk, Document

# --- a table's columns by meaning ------------------------------------------------------------------

ROLES = ("code", "name", "price", "stock", "colour", "size", "warranty", "description", "duration", "brand",
         "category", "unit")
# Header words (lower case, accents folded) per role; "^word" is a whole header. Roles are tried in _GUESS_ORDER,
# so "Mã sản phẩm" is a code, "Brand name" a brand and "Thời gian bảo hành" a warranty.
_HEADER_WORDS = {
    "code": ("ma", "sku", "code", "id", "ma sp", "barcode"),
    "brand": ("thuong hieu", "hang sx", "hang san xuat", "nha san xuat", "brand", "manufacturer", "make", "^hang"),
    "category": ("danh muc", "category", "nhom", "loai", "phan loai", "type", "department"),
    "name": ("ten", "san pham", "name", "product", "item", "title", "mat hang", "model", "dich vu", "service"),
    "price": ("gia", "price", "don gia", "cost", "amount"),
    "unit": ("don vi", "dvt", "unit", "uom"),
    "stock": ("ton kho", "con hang", "het hang", "stock", "so luong", "qty", "quantity", "inventory", "kho",
              "tinh trang", "trang thai", "con het", "status", "availability", "available"),
    "colour": ("mau", "mau sac", "colour", "color", "colours", "colors"),
    "size": ("size", "kich thuoc", "kich co", "dung tich", "capacity", "dimensions", "volume"),
    "warranty": ("bao hanh", "warranty", "guarantee"),
    "duration": ("thoi gian", "thoi luong", "duration", "time", "minutes", "mins", "phut"),
    "description": ("mo ta", "description", "ghi chu", "details", "note", "notes", "dac diem"),
}
_GUESS_ORDER = ("code", "brand", "category", "name", "price", "unit", "stock", "colour", "size", "warranty",
                "duration", "description")


def tokens(text: str) -> list[str]:
    """Lower-case words without accents (đ as d), punctuation dropped."""
    return re.sub(r"[^0-9a-z]+", " ", fold(text)).split()


def _header_matches(header: str, words: tuple[str, ...]) -> bool:
    found = tokens(header)
    for phrase in words:
        if phrase.startswith("^"):
            if found == phrase[1:].split():
                return True
            continue
        wanted = phrase.split()
        if any(found[i:i + len(wanted)] == wanted for i in range(len(found) - len(wanted) + 1)):
            return True
    return False


def guess_fields(header: list[str], samples: list[dict] = ()) -> dict:
    """Which column is the product name, price, stock... guessed from Vietnamese or English header names, and the
    stock column also from its values ("Còn hàng", "Hết hàng", "Có lại sau 2 tuần") in `samples` (some rows)."""
    fields: dict[str, str] = {}
    for column in header:
        for role in _GUESS_ORDER:
            if role not in fields and _header_matches(column, _HEADER_WORDS[role]):
                fields[role] = column
                break
    if "stock" not in fields:
        stock = [c for c in header if c not in fields.values() and _says_stock(samples, c)]
        if stock:
            fields["stock"] = stock[0]
    return fields


# A cell saying whether an item can be bought (folded), and one saying it cannot now ("Có lại sau 2 tuần" too).
_STOCK_VALUE = re.compile(r"^(con|het|con hang|het hang|tam het( hang)?|sap (ve|co)( hang)?|co lai sau\b.*|con it|"
                          r"ngung (kinh doanh|ban)|dat truoc|order|pre ?order|in stock|out of stock|sold out|"
                          r"available|unavailable|not available|back (in|on)\b.*|discontinued|low stock)$")
_OUT_OF_STOCK = re.compile(r"\b(het|tam het|sap (ve|co)|co lai sau|ngung (kinh doanh|ban)|out of stock|sold out|"
                           r"unavailable|not available|back (in|on)|discontinued|dat truoc|pre ?order|order)\b")


def _says_stock(samples: list[dict], column: str) -> bool:
    """Whether most filled cells of a column say in or out of stock."""
    values = [" ".join(tokens(str(row.get(column) or ""))) for row in samples]
    values = [v for v in values if v]
    return bool(values) and sum(bool(_STOCK_VALUE.match(v)) for v in values) * 2 > len(values)


def _sold_out_cell(value: str) -> bool:
    """Whether a cell of no known role reads as out of stock ("Hết hàng", "Có lại sau 2 tuần", "Sold out")."""
    words = " ".join(tokens(value))
    return bool(words) and amount(value) is None and bool(_STOCK_VALUE.match(words)) and out_of_stock(value)


def out_of_stock(value: str) -> bool:
    """Whether a stock cell says the item cannot be bought now ("Hết hàng", "Có lại sau 2 tuần", "0", "sold out")."""
    count = amount(value) if value.strip() else None
    if count is not None:
        return count <= 0
    return bool(_OUT_OF_STOCK.search(" ".join(tokens(value))))


def check_fields(given, columns: list[str], current: dict | None = None) -> dict:
    """`current` changed by a mapping a shop owner sent, checked against the table's columns (empty or null unsets)."""
    if not isinstance(given, dict):
        raise AppError(422, "invalid_fields", "'fields' must be an object such as {\"name\": \"Tên sản phẩm\", "
                       "\"price\": \"Giá\"}.")
    fields = dict(current or {})
    for role, column in given.items():
        if role not in ROLES:
            raise AppError(422, "unknown_field_role", f"'{role}' is not a field; use {', '.join(ROLES)}.")
        if column in (None, ""):
            fields.pop(role, None)
            continue
        if not isinstance(column, str) or column not in columns:
            raise AppError(422, "unknown_column", f"The table has no column {column!r} for '{role}'; its columns are "
                           f"{', '.join(columns)}.")
        fields[role] = column
    return fields


def columns_of(document: Document) -> list[str]:
    """A table document's column names (from its first stored row)."""
    first = (Chunk.select(Chunk.cells).where((Chunk.document == document.id) & Chunk.cells.is_null(False))
             .order_by(Chunk.ordinal).first())
    return list(first.cells) if first is not None else []


# --- prices ----------------------------------------------------------------------------------------

_THOUSANDS_K = re.compile(r"^(\d+(?:[.,]\d+)?)\s*k$", re.I)


def amount(raw: str) -> float | None:
    """The number in a price or count cell ("690k", "690.000đ", "12"), or None when it is not one."""
    text = re.sub(r"(?i)(vnd|vnđ|usd|đồng|dong|đ|₫|\$|\s)", "", raw)
    short = _THOUSANDS_K.match(text)
    if short:  # "690k" is how shops write 690.000đ
        return float(canonical_number(short.group(1))) * 1000
    if not re.fullmatch(r"\d+(?:[.,]\d+)*", text):
        return None
    return float(canonical_number(text))


def _currency(raw: str, column: str, value: float) -> str:
    hint = fold(f"{raw} {column}")
    if "usd" in hint or "$" in hint:
        return "USD"
    if re.search(r"vnd|dong|₫|\d\s*d\b", hint) or hint.rstrip().endswith("d") or value >= 1000:
        return "VND"
    return ""


def format_price(raw: str, column: str, language: str) -> str:
    """A price cell for the customer: 690.000đ in Vietnamese, 690,000 VND in English; $34.00 / 34,00 USD."""
    value = amount(raw.strip())
    if value is None:
        return raw.strip()
    currency = _currency(raw, column, value)
    if currency == "USD":
        text = f"{value:,.2f}"
        return f"${text}" if language != "vi" else _vietnamese_separators(text) + " USD"
    if currency == "VND":
        text = f"{round(value):,}"
        return f"{text} VND" if language != "vi" else _vietnamese_separators(text) + "đ"
    text = f"{value:,.2f}".rstrip("0").rstrip(".") if not value.is_integer() else f"{int(value):,}"
    return text if language != "vi" else _vietnamese_separators(text)


_VND_IN_TEXT = re.compile(r"(?<![\w.,])(\d{1,3}(?:[.,]\d{3})+|\d+(?:k)?)\s?(đồng|vnđ|vnd|đ|₫)(?!\w)", re.I)


def local_prices(text: str, language: str) -> str:
    """Dong amounts in a passage written the customer's way (500.000đ becomes 500,000 VND for English)."""
    if language == "vi":
        return text
    return _VND_IN_TEXT.sub(lambda m: format_price(m.group(0), "VND", language), text)


def _vietnamese_separators(text: str) -> str:
    return text.replace(",", "\0").replace(".", ",").replace("\0", ".")


# --- units: a header's unit carried onto a bare number ---------------------------------------------

# Header word (folded) -> (English singular, English plural, Vietnamese); single letters only end a header
# ("weight_g", "Khối lượng (g)").
_UNITS = {}
for _words, _unit in (
        (("month", "months", "thang"), ("month", "months", "tháng")),
        (("day", "days", "ngay"), ("day", "days", "ngày")),
        (("week", "weeks", "tuan"), ("week", "weeks", "tuần")),
        (("year", "years"), ("year", "years", "năm")),  # "nam" is also "men's" (Size nam)
        (("minute", "minutes", "min", "mins", "phut"), ("minute", "minutes", "phút")),
        (("hour", "hours", "hr", "hrs", "gio", "tieng"), ("hour", "hours", "giờ")),
        (("kg", "kgs", "kilogram", "kilograms"), ("kg", "kg", "kg")),
        (("gram", "grams", "gr"), ("g", "g", "g")),
        (("cm",), ("cm", "cm", "cm")), (("mm",), ("mm", "mm", "mm")),
        (("ml",), ("ml", "ml", "ml")), (("litre", "litres", "liter", "liters", "lit"), ("l", "l", "l")),
        (("mah",), ("mAh", "mAh", "mAh")), (("watt", "watts"), ("W", "W", "W")),
        (("gb",), ("GB", "GB", "GB")), (("tb",), ("TB", "TB", "TB")),
        (("inch", "inches"), ("inch", "inches", "inch")),
        (("percent", "pct"), ("%", "%", "%"))):
    _UNITS.update(dict.fromkeys(_words, _unit))
_LAST_ONLY = {"g": ("g", "g", "g"), "l": ("l", "l", "l"), "w": ("W", "W", "W"), "m": ("m", "m", "m")}
_BARE_NUMBER = re.compile(r"^\d+(?:[.,]\d+)?$")


def header_unit(column: str) -> tuple[str, str, str] | None:
    """The unit a column's header names (warranty_months, Thời gian (phút), weight_kg, Giảm giá (%)), if any."""
    if "%" in column:
        return ("%", "%", "%")
    words = tokens(column)
    for word in words:
        if word in _UNITS:
            return _UNITS[word]
    return _LAST_ONLY.get(words[-1]) if len(words) > 1 else None


def with_unit(value: str, column: str, language: str) -> str:
    """A bare number with the unit its header names ("60" in warranty_months: "60 months" / "60 tháng")."""
    unit = header_unit(column)
    if unit is None or not _BARE_NUMBER.match(value):
        return value
    if unit[0] == "%":
        return f"{value}%"
    if language == "vi":
        return f"{value} {unit[2]}"
    return f"{value} {unit[0] if float(value.replace(',', '.')) == 1 else unit[1]}"


def _is_zero(value: str) -> bool:
    return bool(_BARE_NUMBER.match(value)) and float(value.replace(",", ".")) == 0


# --- what a question asks about a row ----------------------------------------------------------------

# Attribute -> how a question asks for it, in priority order ("what colours is it available in?" asks for colours): a
# specific attribute before "how long" and "how much" ("bảo hành bao lâu" asks for the warranty). Vietnamese keeps
# its tone marks: a one-syllable word is only compared when the customer typed tone marks ("màu" is a colour, "mẫu" a
# model, "cỡ" a size and "có" yes).
_ASKED = {
    "warranty": ("bảo hành", "warranty", "guarantee", "guaranteed", "guarantees"),
    "colour": ("màu", "màu sắc", "colour", "color", "colours", "colors"),
    "size": ("kích thước", "kích cỡ", "cỡ", "size", "sizes", "dimensions", "how big", "dung tích", "capacity"),
    "brand": ("hãng", "thương hiệu", "brand", "brands", "who makes", "made by", "manufacturer", "what make"),
    "code": ("mã sản phẩm", "mã sp", "sku", "product code", "item code"),
    "stock": ("còn hàng", "hết hàng", "tồn kho", "còn không", "còn bao nhiêu", "còn mấy", "in stock",
              "out of stock", "stock", "available", "availability", "sold out", "have left"),
    "unit": ("đơn vị tính", "tính theo", "sold by", "per unit"),
    "weight": ("nặng", "cân nặng", "khối lượng", "trọng lượng", "weigh", "weighs", "weight", "heavy"),
    "material": ("chất liệu", "làm bằng", "material", "made of"),
    "origin": ("xuất xứ", "sản xuất ở đâu", "made in", "origin", "where is it made"),
    "description": ("mô tả", "chi tiết", "lưu ý", "details", "describe", "description", "tell me about"),
    "duration": ("bao lâu", "thời gian", "mấy tiếng", "mấy phút", "bao nhiêu phút", "bao nhiêu tiếng", "how long",
                 "duration", "how many minutes", "how many hours", "how much time"),
    "price": ("giá", "bao nhiêu tiền", "mấy tiền", "price", "prices", "cost", "costs", "how much", "phí", "fee"),
}
# Attributes without a role: the header words of their column and their label in each language.
_OTHER_COLUMNS = {
    "weight": (("weight", "can nang", "khoi luong", "trong luong"), ("Weight", "Trọng lượng")),
    "material": (("chat lieu", "material"), ("Material", "Chất liệu")),
    "origin": (("xuat xu", "origin", "country", "made in", "noi san xuat"), ("Origin", "Xuất xứ")),
}
_WORD = re.compile(r"[^\W_]+")


def _words_of(text: str, plain: bool) -> str:
    return f" {' '.join(_WORD.findall(fold(text) if plain else text.lower()))} "


def _says(question: str, phrase: str) -> bool:
    plain = fold(question) == question.casefold()
    if plain and fold(phrase) != phrase and " " not in phrase:
        return False  # one Vietnamese syllable without its tone marks means too many things
    return _words_of(phrase, plain) in _words_of(question, plain)


def asked_columns(question: str, fields: dict, columns: list[str]) -> list[tuple[str, str]]:
    """(attribute, column) for what the question asks about the row, most specific first: a role's column, a known
    attribute's column (weight, material, origin), or a column the question names by its header."""
    found: list[tuple[str, str]] = []
    used = set(fields.values())
    for attribute, phrases in _ASKED.items():
        if not any(_says(question, p) for p in phrases):
            continue
        column = fields.get(attribute)
        if column is None:
            words = _HEADER_WORDS.get(attribute) or _OTHER_COLUMNS.get(attribute, ((),))[0]
            column = next((c for c in columns if c not in used and _header_matches(c, words)), None)
        if column is not None and column not in {c for _, c in found}:
            found.append((attribute, column))
    asked = set(tokens(question)) - _ASKING
    named = [c for c in columns if c not in used and c not in {c for _, c in found}
             and any(len(w) >= 3 and w in asked for w in _label_words(c))]
    specific = [(a, c) for a, c in found if a not in _GENERAL] + [("other", c) for c in named]
    # "bảo hành bao lâu" and "how long is the warranty" ask for the warranty, not for how long the service takes
    return specific or [(a, c) for a, c in found if a in _GENERAL]


_GENERAL = ("duration", "price")  # asked with words ("how long", "how much") that other attributes use too


def _label_words(column: str) -> list[str]:
    """A header's words without its unit ("weight_kg" -> weight)."""
    return [w for w in tokens(column) if w not in _UNITS and not (w in _LAST_ONLY and len(w) == 1)]


def _label(attribute: str, column: str, language: str) -> str:
    if attribute in _OTHER_COLUMNS:
        return _OTHER_COLUMNS[attribute][1][language == "vi"]
    words = re.sub(r"\s*\([^)]*\)\s*", " ", column).replace("_", " ").split()
    words = [w for w in words if fold(w) not in _UNITS and not (len(w) == 1 and fold(w) in _LAST_ONLY)] or words
    text = " ".join(words)
    return text[:1].upper() + text[1:]


# Words of asking, not of what is asked about (folded): never a product's name nor a column's.
_ASKING = set("what which how much many does do is are the a an of for your you have has can i me my there any this "
              "that it in on to with and or bao nhieu gi nao co khong la cua ban shop minh em toi may duoc vay a oi "
              "nhe nha the cho hang tiem cac nhung loai long take takes cost costs price much lau tien gia sell carry "
              "offer services service products product dich vu san pham mau come comes get need want buy order "
              "book".split())
_ASKING |= {word for phrases in _ASKED.values() for phrase in phrases for word in tokens(phrase)}


# --- one row as sentences ----------------------------------------------------------------------------

# A sentence per attribute: named ("{name} costs ...") when it answers the question, labelled otherwise.
_NAMED = {
    "en": {"price": "{name} costs {value}.", "free": "{name} is free of charge.",
           "duration": "{name} takes {value}.", "warranty": "Warranty for {name}: {value}.",
           "no_warranty": "{name} has no warranty.", "in_stock": "{name}: {n} in stock.",
           "out": "{name} is currently out of stock.", "stock": "{name}: {value}.",
           "colour": "{name} comes in {value}.", "size": "Size of {name}: {value}.", "brand": "{name} is made by {value}.",
           "code": "The product code of {name} is {value}.", "unit": "{name} is sold per {value}.",
           "description": "{name}: {value}", "other": "{label} of {name}: {value}."},
    "vi": {"price": "{name} có giá {value}.", "free": "{name} miễn phí.", "duration": "{name} mất {value}.",
           "warranty": "{name} được bảo hành {value}.", "no_warranty": "{name} không bảo hành.",
           "in_stock": "{name} còn {n} sản phẩm.", "out": "{name} hiện đã hết hàng.", "stock": "{name}: {value}.",
           "colour": "{name} có màu {value}.", "size": "Kích thước của {name}: {value}.",
           "brand": "{name} của thương hiệu {value}.", "code": "Mã sản phẩm của {name} là {value}.",
           "unit": "{name} tính theo {value}.", "description": "{name}: {value}",
           "other": "{label} của {name}: {value}."},
}
_LABELLED = {
    "en": {"price": "Price: {value}.", "free": "Free of charge.", "duration": "Takes {value}.",
           "warranty": "Warranty: {value}.", "no_warranty": "No warranty.", "in_stock": "{n} in stock.",
           "out": "Currently out of stock.", "stock": "Availability: {value}.", "colour": "Colours: {value}.",
           "size": "Size: {value}.", "brand": "Brand: {value}.", "code": "Product code: {value}.",
           "unit": "Sold per {value}.", "description": "{value}", "other": "{label}: {value}."},
    "vi": {"price": "Giá: {value}.", "free": "Miễn phí.", "duration": "Thời gian: {value}.",
           "warranty": "Bảo hành: {value}.", "no_warranty": "Không bảo hành.", "in_stock": "Còn {n} sản phẩm.",
           "out": "Hiện đã hết hàng.", "stock": "Tình trạng: {value}.", "colour": "Màu: {value}.",
           "size": "Kích thước: {value}.", "brand": "Thương hiệu: {value}.", "code": "Mã sản phẩm: {value}.",
           "unit": "Tính theo {value}.", "description": "{value}", "other": "{label}: {value}."},
}
# What a row says without being asked, in this order (the name leads with the price).
_TOLD = ("price", "stock", "colour", "size", "warranty", "duration", "description")


def display_name(cells: dict, fields: dict) -> str:
    """The row's name, with its brand in front when the name does not say it."""
    name = str(cells.get(fields.get("name")) or "").strip() if fields.get("name") else ""
    brand = str(cells.get(fields.get("brand")) or "").strip() if fields.get("brand") else ""
    if brand and name and fold(brand) not in fold(name):
        return f"{brand} {name}"
    return name


def _sentence(attribute: str, column: str, raw: str, fields: dict, cells: dict, name: str, language: str) -> str:
    """One attribute of the row as a sentence, naming the item when `name` is given."""
    words = (_NAMED if name else _LABELLED)["vi" if language == "vi" else "en"]
    value = with_unit(raw, column, language)
    kind = attribute if attribute in words else "other"
    if attribute == "price":
        if _is_zero(raw):
            kind = "free"
        value = format_price(raw, column, language)
        unit = str(cells.get(fields.get("unit")) or "").strip() if fields.get("unit") else ""
        if unit:
            value = f"{value}/{unit}" if language == "vi" else f"{value} per {unit}"
    elif attribute == "warranty" and _is_zero(raw):
        kind = "no_warranty"
    elif attribute == "stock":
        count = amount(raw)
        if count is not None:
            kind = "in_stock" if count > 0 else "out"
            return words[kind].format(name=name, n=int(count))
    elif attribute == "description":
        value = raw.rstrip(".") + "."
    return words[kind].format(name=name, value=value, label=_label(attribute, column, language))


def row_answer(cells: dict, fields: dict, language: str, question: str = "") -> str:
    """A product row as one or a few plain sentences in `language`: what the question asks about first, naming the
    item, then the rest of what the row says (price first), labels, units and price format in that language."""
    fields = {role: column for role, column in fields.items() if column in cells}
    if "stock" not in fields:  # a mapping without the stock column must not hide "Hết hàng" behind a price
        fields.update(("stock", c) for c in cells if c not in fields.values() and _sold_out_cell(str(cells[c] or "")))
    value = {role: str(cells.get(column) or "").strip() for role, column in fields.items()}
    name = display_name(cells, fields)
    parts, said = [], set()
    for attribute, column in asked_columns(question, fields, list(cells)) if question else []:
        raw = str(cells.get(column) or "").strip()
        if raw and column not in said:
            parts.append(_sentence(attribute, column, raw, fields, cells, name if not parts else "", language))
            said.add(column)
    for role in _TOLD:
        if value.get(role) and fields[role] not in said:
            named = name if role == "price" and not parts else ""
            parts.append(_sentence(role, fields[role], value[role], fields, cells, named, language))
    if name and not any(name in part for part in parts):
        parts.insert(0, f"{name}.")
    if not parts:  # no column recognised: the row's values, without the column names
        parts = [", ".join(str(v).strip() for v in cells.values() if str(v).strip()) + "."]
    return " ".join(parts)


# --- several rows: what the shop has, and the row the question names ---------------------------------

_LISTING = [re.compile(p) for p in (
    r"\b(which|what)\b(\s+\w+){0,4}\s+(do|does|can)\s+(you|u|the shop|the store|the salon)\s+(have|carry|sell|stock|"
    r"offer|do|make)\b",
    r"\b(which|what)\s+(brands|kinds|types|models|sorts|options|varieties|services|products|items|ones)\b",
    r"\b(list|range of|selection of|what else)\b",
    r"\bnhung\b(\s+\w+){0,5}\s+nao\b", r"\bcac loai\b", r"\bloai nao\b", r"\bnhung gi\b", r"\bco gi\b",
    r"\bdanh sach\b", r"\bgom nhung\b",
)]


def asks_for_list(question: str) -> bool:
    """Whether the question asks what the shop has ("which brands of headphones do you carry?", "bên mình có những
    loại tivi nào?") rather than about one item."""
    text = " ".join(tokens(question))
    return any(p.search(text) for p in _LISTING)


_MOST_LISTED = 5


def list_answer(rows: list[tuple[dict, dict]], question: str, language: str) -> str:
    """Rows (cells, fields) as one sentence: each name with the attribute asked about, or its price; brands first
    when the question asks which brands."""
    vi = language == "vi"
    items, brands = [], []
    for cells, fields in rows[:_MOST_LISTED]:
        fields = {role: column for role, column in fields.items() if column in cells}
        name = display_name(cells, fields)
        if not name:
            continue
        asked = [(a, c) for a, c in asked_columns(question, fields, list(cells)) if a not in ("brand", "price")]
        attribute, column = asked[0] if asked else ("price", fields.get("price"))
        raw = str(cells.get(column) or "").strip() if column else ""
        detail = _sentence(attribute, column, raw, fields, cells, "", language).rstrip(".") if raw else ""
        if attribute == "price" and raw and not _is_zero(raw):
            detail = format_price(raw, column, language)  # "(690.000đ)" says enough in a list
        stock = str(cells.get(fields.get("stock")) or "").strip() if fields.get("stock") else ""
        if stock and attribute != "stock" and out_of_stock(stock):  # a price is never listed without "Hết hàng"
            out = _sentence("stock", fields["stock"], stock, fields, cells, "", language).rstrip(".")
            detail = f"{detail}; {out}" if detail else out
        items.append(f"{name} ({detail})" if detail else name)
        brand = str(cells.get(fields.get("brand")) or "").strip() if fields.get("brand") else ""
        if brand and brand not in brands:
            brands.append(brand)
    text = ("Chúng tôi có: " if vi else "We have: ") + "; ".join(items) + "."
    if brands and any(_says(question, phrase) for phrase in _ASKED["brand"]):
        text = ("Thương hiệu: " if vi else "Brands: ") + ", ".join(brands) + ". " + text
    if len(rows) > _MOST_LISTED:
        text += " Và các sản phẩm khác." if vi else " And more."
    return text


def concepts(text: str) -> set[str]:
    """What a text names: its words, a glossary word or phrase read as its meaning in either language ("gel
    manicure" and "sơn gel tay" both name the gel and the hands), without words of asking ("how long", "giá")."""
    words, found, at = tokens(text), set(), 0
    while at < len(words):
        for end in range(min(len(words), at + glossary.LONGEST_TERM), at, -1):
            meanings = glossary.meanings_of(" ".join(words[at:end]))
            if meanings or end == at + 1:
                break
        if not set(words[at:end]) <= _ASKING:
            found |= meanings or ({words[at]} if len(words[at]) > 1 or words[at].isdigit() else set())
        at = end
    return found


def name_overlaps(question: str, table: dict, fields: dict) -> dict:
    """For each row (key: cells) of a table, how many things the question names are in its name, brand, code or
    category."""
    asked = concepts(question)
    roles = [fields[role] for role in ("name", "brand", "code", "category") if fields.get(role)]
    return {key: len(asked & concepts(" ".join(str(cells.get(column) or "") for column in roles)))
            for key, cells in table.items()}
