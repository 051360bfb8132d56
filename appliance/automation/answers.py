"""What a customer answered to a flow's ask step, checked and normalized: `parse(kind, text, buttons, today)`.

Every parser returns the normalized value, or None when the answer does not fit (the ask step then re-asks). They
are pure (no database, no clock unless `today` is left out) and never raise on any text.

Decisions, so a shop owner's flow behaves the same everywhere:
- The answer may have words around the value ("sđt 0912 345 678 ạ", "2 người", "ngày 5/3 nhé"); when it holds two
  values ("0912345678 hoặc 0987654321", "từ 2 đến 3 triệu", "5/3 hoặc 6/3") it is None: asking again beats guessing.
- number: digits (number words like "hai" are not read). A dot, comma or space followed by exactly three digits
  groups thousands, so "1.500.000", "1,500,000" and "1 500 000" are 1500000 and "1.500" is 1500; any other dot or
  comma is the decimal mark ("1,5" and "1.5" are 1.5, "1.500,5" and "1,500.5" are 1500.5). Units multiply:
  k / nghìn / ngàn / thousand (10^3), tr / triệu / million (10^6), tỷ / tỉ / billion (10^9), so "2 triệu" is
  2000000 and "1,5tr", "1tr5", "1 triệu 5" and "1 triệu rưỡi" are 1500000; currency marks (đ, vnd, vnđ, đồng, $,
  usd) and a "/tháng" after them are dropped. Whole values are ints, others floats; magnitudes above 10^15 are
  refused.
- email: one address; the domain is lower-cased, the local part kept as typed.
- phone: Vietnamese mobiles (10 digits: 03, 05, 07, 08, 09...) and landlines (11 digits: 02...), written with
  spaces, dots, dashes or brackets, after 0, 84, +84, 0084 or "+84 (0)", all become "+84xxxxxxxxx". Other countries
  need "+" or "00" and 8 to 15 digits. Old 11-digit mobiles (01xx, renumbered in 2018) and 1800/1900 lines are
  refused. Other digits beside the number (an order number, a date) are not a second phone number.
- date: the day before the month always (Vietnamese order: "3/5" is 3 May), as dd/mm/yyyy, dd-mm-yyyy, dd.mm.yyyy,
  d/m, d/m/yy, yyyy-mm-dd, "5 tháng 3 (năm 2027)", "ngày 5/3", "5 March", "March 5, 2027", "ngày 5" / "mùng 5" (the
  next 5th of a month), hôm nay / today, ngày mai / mai / tomorrow, ngày kia / ngày mốt / day after tomorrow,
  hôm qua / yesterday, or a weekday ("thứ 7", "T7", "chủ nhật", "CN", "friday": the next one after today). A date
  without a year is the next one on or after `today`. Impossible dates (31/02) are None. The value is ISO "yyyy-mm-dd".
- choice: one of the buttons, by id, by title (case and accents folded), by its number ("2", "số 2") or by a title
  named alone in the answer ("có ạ"); returns the button's id.
- text: any non-empty answer, trimmed, without control characters, at most MAX_TEXT characters.
"""
from __future__ import annotations

import datetime
import re
import unicodedata
from fractions import Fraction

from appliance.assistant.prompts import fold
from appliance.automation.match import words

KINDS = ("text", "number", "email", "phone", "date", "choice")
MAX_TEXT = 1000  # characters of a free-text answer stored in a custom field
MAX_INPUT = 4000  # longer answers are not parsed at all: nobody types a phone number in a page of text
MAX_NUMBER = 10**15


def parse(kind: str, text, buttons=(), today: datetime.date | None = None):
    """The normalized answer of `kind` (one of KINDS) in `text`, or None when it does not fit."""
    if kind not in KINDS:
        raise ValueError(f"unknown answer kind {kind!r}")
    if not isinstance(text, str) or len(text) > MAX_INPUT or not _encodable(text):
        return None
    text = unicodedata.normalize("NFKC", text).strip()
    if not text or len(text) > MAX_INPUT:  # NFKC can lengthen a text ("⑳" is "20")
        return None
    if kind == "choice":
        return _choice(text, buttons)
    if kind == "date":
        return _date(text, today or datetime.date.today())
    return PARSERS[kind](text)


RETRY_TEXTS = {
    "vi": {"text": "Bạn vui lòng nhập câu trả lời.",
           "number": "Bạn vui lòng gửi một con số, ví dụ 2 hoặc 1.500.000.",
           "email": "Bạn vui lòng gửi địa chỉ email, ví dụ ten@gmail.com.",
           "phone": "Bạn vui lòng gửi số điện thoại, ví dụ 0912 345 678.",
           "date": "Bạn vui lòng gửi ngày, ví dụ 25/12 hoặc \"ngày mai\".",
           "choice": "Bạn vui lòng bấm một nút, hoặc gõ số thứ tự của nút."},
    "en": {"text": "Please type your answer.",
           "number": "Please send a number, for example 2 or 1,500,000.",
           "email": "Please send an e-mail address like name@example.com.",
           "phone": "Please send a phone number like 0912 345 678.",
           "date": "Please send a date like 25/12 or \"tomorrow\".",
           "choice": "Please tap one of the buttons, or type its number."},
}


def retry_text(kind: str, language: str = "vi") -> str:
    """What to say when an answer does not fit and the ask step has no retry_text of its own (vi or en)."""
    return RETRY_TEXTS.get(language, RETRY_TEXTS["en"])[kind]


def _encodable(text: str) -> bool:
    """False for a lone surrogate: such text cannot be stored or sent."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# --- text -----------------------------------------------------------------------------------------------

def _text(text: str) -> str | None:
    text = "".join(c for c in text if c in "\n\t" or unicodedata.category(c) != "Cc").strip()
    return text if 0 < len(text) <= MAX_TEXT else None


# --- number ---------------------------------------------------------------------------------------------

UNITS = {"k": 10**3, "nghin": 10**3, "ngan": 10**3, "thousand": 10**3, "tr": 10**6, "trieu": 10**6,
         "million": 10**6, "millions": 10**6, "ty": 10**9, "ti": 10**9, "billion": 10**9, "billions": 10**9}
CURRENCY = ("d", "vnd", "dong", "usd", "$")
# a number token on folded text: sign, digits with separators, then an optional unit and currency mark
_NUMBER = re.compile(
    r"(?<![\w.,/:-])([-+]?)(\d[\d., ]*\d|\d)"
    r"(?:\s*(" + "|".join(sorted(UNITS, key=len, reverse=True)) + r")(?:\s*(\d{1,3})(?![\d.,])|\s+(ruoi))?)?"
    r"(?:\s*(?:" + "|".join(re.escape(c) for c in CURRENCY) + r"))?(?![\w:-]|/\d)")
_GROUPED = re.compile(r"[1-9]\d{0,2}(?:([., ])\d{3})(?:\1\d{3})*")


def _number(text: str) -> int | float | None:
    found = list(_NUMBER.finditer(fold(text).replace("$", " $ ")))
    if len(found) != 1:
        return None
    sign, digits, unit, tail, half = found[0].groups()
    value = _decimal(digits.strip())
    if value is None:
        return None
    if unit:
        # "1tr5" and "1 triệu 5" are 1.5 million, "2k5" 2500, "1 triệu rưỡi" 1.5 million
        if (tail or half) and value != int(value):
            return None
        value = (value + (Fraction(int(tail), 10 ** len(tail)) if tail else Fraction(1, 2) if half else 0))
        value *= UNITS[unit]
    if sign == "-":
        value = -value
    if abs(value) > MAX_NUMBER:
        return None
    return int(value) if value == int(value) else float(value)


def _decimal(digits: str) -> Fraction | None:
    """"1.500.000" -> 1500000, "1,5" -> 1.5, "1.500,5" -> 1500.5 (see the module's docstring), or None."""
    whole, fraction = digits, ""
    last = max(digits.rfind("."), digits.rfind(","))
    if last >= 0 and not _GROUPED.fullmatch(digits):
        whole, fraction = digits[:last], digits[last + 1:]
        if not fraction.isdigit() or digits[last] in whole.replace(" ", ""):
            return None  # "1,5,3" or "1.5.3" without thousands groups
    if whole and not (whole.isdigit() or _GROUPED.fullmatch(whole)):
        return None
    value = Fraction(int(re.sub(r"\D", "", whole) or "0"))
    if fraction:
        value += Fraction(int(fraction), 10 ** len(fraction))
    return value


# --- email ----------------------------------------------------------------------------------------------

_EMAIL_GAP = re.compile(r"[\s<>()\[\],;:\"']+")  # what cannot be in an address: the words are split on it
_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_TLD = re.compile(r"[a-z]{2,63}|xn--[a-z0-9-]+")


def _email(text: str) -> str | None:
    found = [word for word in _EMAIL_GAP.split(text) if "@" in word]  # a split, not a search: linear on any text
    if len(found) != 1:
        return None
    address = found[0].rstrip(".")
    local, _, domain = address.rpartition("@")
    domain = domain.lower()
    labels = domain.split(".")
    if (len(address) > 254 or not 0 < len(local) <= 64 or not _LOCAL.fullmatch(local) or len(labels) < 2
            or not all(_LABEL.fullmatch(label) for label in labels) or not _TLD.fullmatch(labels[-1])):
        return None
    return f"{local}@{domain}"


# --- phone ----------------------------------------------------------------------------------------------

# a run of digits with the separators people type: "+84 (0) 912.345-678"
_PHONE_RUN = re.compile(r"(?<![\w+])\+?\(?\d[\d\s.()\-]*\d(?!\w)")
_VN_MOBILE = re.compile(r"[35789]\d{8}")  # after the leading 0 / 84
_VN_LANDLINE = re.compile(r"2\d{9}")


def _phone(text: str) -> str | None:
    found = set()
    for run in _PHONE_RUN.findall(text):
        value = _e164(run)
        if value is None:  # "5/3 0912 345 678" runs "3 0912 345 678" together: try the run's parts
            parts = run.split()
            found.update(filter(None, (_e164(" ".join(side)) for i in range(1, min(len(parts), 12))
                                       for side in (parts[:i], parts[i:]))))
        else:
            found.add(value)
    return found.pop() if len(found) == 1 else None


def _e164(run: str) -> str | None:
    international = run.startswith("+") or re.sub(r"[\s()]", "", run).startswith("00")
    digits = re.sub(r"\D", "", run)
    if international and not run.startswith("+"):
        digits = digits[2:]
    if digits.startswith("84") and (international or len(digits) in (11, 12)):
        national = digits[2:]
        if national.startswith("0"):  # "+84 (0) 912 345 678"
            national = national[1:]
        return _vietnamese(national)
    if international:
        return f"+{digits}" if 8 <= len(digits) <= 15 and digits[0] != "0" else None
    if digits.startswith("0"):
        return _vietnamese(digits[1:])
    return None


def _vietnamese(national: str) -> str | None:
    """+84 and the national number without its 0, when it is a mobile or a landline of the right length."""
    if _VN_MOBILE.fullmatch(national) or _VN_LANDLINE.fullmatch(national):
        return "+84" + national
    return None


# --- date -----------------------------------------------------------------------------------------------

MONTHS = {"january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6, "july": 7, "august": 8,
          "september": 9, "october": 10, "november": 11, "december": 12, "jan": 1, "feb": 2, "mar": 3, "apr": 4,
          "jun": 6, "jul": 7, "aug": 8, "sep": 9, "sept": 9, "oct": 10, "nov": 11, "dec": 12}
RELATIVE = {"hom nay": 0, "today": 0, "bua nay": 0, "ngay mai": 1, "mai": 1, "tomorrow": 1, "ngay kia": 2,
            "ngay mot": 2, "day after tomorrow": 2, "hom qua": -1, "yesterday": -1}
WEEKDAYS = {"thu 2": 0, "thu hai": 0, "thu 3": 1, "thu ba": 1, "thu 4": 2, "thu tu": 2, "thu 5": 3, "thu nam": 3,
            "thu 6": 4, "thu sau": 4, "thu 7": 5, "thu bay": 5, "chu nhat": 6, "cn": 6, "t2": 0, "t3": 1, "t4": 2,
            "t5": 3, "t6": 4, "t7": 5, "monday": 0, "tuesday": 1,
            "wednesday": 2, "thursday": 3, "friday": 4, "saturday": 5, "sunday": 6}
_MONTH_NAMES = "|".join(sorted(MONTHS, key=len, reverse=True))
_DATE_PATTERNS = (  # (pattern on folded text, the order of its groups)
    (re.compile(r"(?<!\d)(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?!\d)"), "ymd"),
    (re.compile(r"(?<![\d/.-])(\d{1,2})[/.-](\d{1,2})(?:[/.-](\d{4}|\d{2}))?(?![\d/-]|\.\d)"), "dmy"),
    (re.compile(r"(?<!\d)(\d{1,2})\s*(?:thang|thg|th)\s*(\d{1,2})(?:\s*(?:nam|,)?\s*(\d{4}))?(?!\d)"), "dmy"),
    (re.compile(r"(?<!\d)(\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?(" + _MONTH_NAMES + r")\.?(?:,?\s+(\d{4}))?\b"), "dMy"),
    (re.compile(r"\b(" + _MONTH_NAMES + r")\.?\s+(\d{1,2})(?:st|nd|rd|th)?(?:,?\s+(\d{4}))?(?!\d)"), "Mdy"),
    (re.compile(r"\b(?:ngay|mung|mong)\s+(\d{1,2})(?![\d/.-])"), "d"),  # "ngày 5", "mùng 5": a day of the month
)
_RELATIVE = re.compile(r"\b(" + "|".join(sorted(RELATIVE, key=len, reverse=True)) + r")\b")
_WEEKDAY = re.compile(r"\b(" + "|".join(sorted(WEEKDAYS, key=len, reverse=True)) + r")\b")


def _date(text: str, today: datetime.date) -> str | None:
    folded = " ".join(fold(text).split())
    found: dict[tuple[int, int], datetime.date | None] = {}  # span -> date; overlapping matches keep the first
    for pattern, order in _DATE_PATTERNS:
        for m in pattern.finditer(folded):
            if not any(a < m.end() and m.start() < b for a, b in found):
                found[m.span()] = _calendar(order, m.groups(), today)
    if not found:
        for m in _RELATIVE.finditer(folded):
            found[m.span()] = _after(today, RELATIVE[m.group(1)])
        for m in _WEEKDAY.finditer(folded):
            found[m.span()] = _after(today, (WEEKDAYS[m.group(1)] - today.weekday() - 1) % 7 + 1)
    dates = set(found.values())
    return dates.pop().isoformat() if len(dates) == 1 and None not in dates else None


def _after(today: datetime.date, days: int) -> datetime.date | None:
    try:
        return today + datetime.timedelta(days=days)
    except OverflowError:  # past year 9999
        return None


def _next_day_of_month(today: datetime.date, day: int) -> datetime.date | None:
    """The next date on or after today that is the `day`th of its month ("ngày 31" in November: 31 December)."""
    month = today.replace(day=1)
    for _ in range(12):
        if day <= 31 and (day >= today.day or month != today.replace(day=1)):
            try:
                return month.replace(day=day)
            except ValueError:
                pass  # the 31st of a 30-day month: try the next month
        month = datetime.date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return None


def _calendar(order: str, groups: tuple, today: datetime.date) -> datetime.date | None:
    """The date of a match's groups in `order` (d day, m month number, M month name, y year), or None if impossible."""
    parts = dict(zip(order.lower(), groups))
    day, year = int(parts["d"]), parts.get("y")
    try:
        if "m" not in parts:
            return _next_day_of_month(today, day)
        month = MONTHS[parts["m"]] if "M" in order else int(parts["m"])
        if year is None:
            date = datetime.date(today.year, month, day)
            return date if date >= today else datetime.date(today.year + 1, month, day)
        return datetime.date(int(year) + (2000 if len(year) == 2 else 0), month, day)
    except ValueError:
        return None  # 31/02, month 13, or 29/02 in a year without it


# --- choice ---------------------------------------------------------------------------------------------

def _choice(text: str, buttons) -> str | None:
    options = [(str(b["id"]), words(str(b.get("title") or "")), words(str(b["id"]))) for b in _buttons(buttons)]
    if any(button_id == text for button_id, _, _ in options):
        return text  # a tap: the button's id itself
    said = words(text)
    if not said:
        return None
    for column in (1, 2):  # the title as typed, then the id as typed
        hits = [option[0] for option in options if option[column] == said]
        if len(hits) == 1:
            return hits[0]
    number = re.fullmatch(r"(?:so|number|no)?\s*(\d{1,3})", said)
    if number and 1 <= int(number.group(1)) <= len(options):
        return options[int(number.group(1)) - 1][0]
    named = [button_id for button_id, title, _ in options if title and f" {title} " in f" {said} "]
    return named[0] if len(named) == 1 else None


def _buttons(buttons):
    """The well-formed buttons ({"id", "title"} with an id); anything else is skipped, never a crash."""
    if not isinstance(buttons, (list, tuple)):
        return []
    return [b for b in buttons if isinstance(b, dict) and isinstance(b.get("id"), (str, int))
            and not isinstance(b.get("id"), bool) and str(b["id"])]


PARSERS = {"text": _text, "number": _number, "email": _email, "phone": _phone}  # date and choice take more
