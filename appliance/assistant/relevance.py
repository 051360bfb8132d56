"""How much of a question a passage covers: the gate between "a source says this" and the tenant's fallback.

The embedder finds similar-sounding text for anything (and reads no Vietnamese), so a passage answers a question only
when it covers most of what the question names, weighed by how rare each word is in the tenant's documents:
- Vietnamese words are mostly two syllables and one syllable means many things ("điện" in "điện thoại" and
  "điện tử"): a syllable counts only inside a shared pair of syllables, unless it stands alone between stop
  syllables, is a code (128GB) or is not Vietnamese-shaped (croissant, MoMo);
- the glossary's other words for a term (the other language, synonyms) count for that term, but weigh as much as the
  word found is rare in the tenant's documents: "phone" found as "điện thoại" in a phone shop proves little;
- words the question names that the passage does not say count against it, the more so when no document has them
  (a question about bike rental is not answered by the repairs section because both say "bike");
- a passage headed by a shop topic the question names (opening hours, parking, deposit...) says that topic whatever
  its words, and the question's asking words and numbers for it do not count against it (_TOPICS)."""
from __future__ import annotations

import math
import re
import threading
import unicodedata
from dataclasses import dataclass
from typing import Callable

from appliance.assistant import glossary
from appliance.assistant.prompts import fold, language_of

ABOUT = 0.5  # share of the question's weight a passage must cover to be about it

# Syllables and words that carry no subject, as typed (toned Vietnamese; the folded form is used for a question typed
# without tone marks). The shop itself ("tiệm", "cửa hàng", "shop") is not a subject either: every document says it.
_STOP_VI = set("có không ko là của tôi bạn mình em anh chị cho và với nào gì thế như thì được bao nhiêu trong các "
               "những một này đó ở tại để vậy à ạ ơi nhé nha hả hay hoặc bị rất nhất làm đi đến từ ra vào khi nếu ai "
               "sao đâu còn rồi chưa về muốn cần hỏi xin mấy nhiêu lúc đã sẽ đang cũng thể phải nên giúp dạ vâng nhỉ "
               "chứ cái chiếc loại bán mua shop tiệm quán xưởng salon hiện nay dùng số tới chắc xong".split())
_STOP_VI_PHRASES = ("cửa hàng", "cửa tiệm", "có thể", "vui lòng", "cho mình", "cho em", "cho tôi", "bên mình", "bên em",
                    "bên shop", "bên bạn")
_STOP_EN = set(
    "the a an is are am was were be been being you your yours what how do does did done can could i and when much "
    "of to for in on at it its my me we our us have has had there here any this that these those with or about which "
    "who whom will would shall should may might must please tell many from if then than so up out get got give "
    "offer sell sells buy need want know like also just still yet some all one let see make go im ive dont more most "
    "less other same such very only really after before happen happens happened don doesn didn isn aren wasn won "
    "couldn shouldn wouldn haven hasn by as into onto per via take takes taking took now right currently something "
    "anything worth but never ever even already "
    "shop store workshop salon bakery restaurant cafe hi hello thanks thank".split())

# glossary terms that ask for an amount, a period or a time rather than name a subject
_ASKS_AMOUNT = {"how much", "how long", "how many", "bao nhieu tien", "bao lau", "gio", "hours"}
_ABSENT = 2.0  # a Vietnamese word the question names that no document says weighs this much more
_HEADED = 0.5  # a word the passage does not say but its heading's topic stands for weighs this much
_ASKING = 0.5  # what kind of answer is wanted says less about which passage answers than what it is about
_SYLLABLE = re.compile(r"[^\W_]+")

# The topics nearly every shop's FAQ or policy has a section on. Per topic: the words that name it and the words that
# only say how it is asked ("what time", "làm tới", "where", "kẹt xe" for being late), folded, English by their stem.
# A question naming a topic is about a passage whose heading or label ("## Giờ mở cửa", "Đến trễ: ...") names the
# same topic, whatever words the body uses ("Thứ Hai đến Thứ Bảy: 9:00 – 20:30" says no "close" nor "weekdays"); its
# other words still weigh, so a question naming something no document has is still refused.
_TOPICS: dict[str, tuple[str, str]] = {
    "hours": ("gio mo cua|mo cua|dong cua|gio lam viec|gio|open|opening|close|closing|hour|weekday|weekend|monday|"
              "tuesday|wednesday|thursday|friday|saturday|sunday|holiday|chu nhat|thu hai|thu ba|thu tu|thu nam|"
              "thu sau|thu bay|cuoi tuan|ngay le|tet|le tet", "time|what time|until|late|today|tonight|lam"),
    "contact": ("hotline|so dien thoai|dien thoai|sdt|phone|phone number|call|contact|lien he|zalo|email|e mail|"
                "fanpage|facebook", "number|reach|goi|nhan tin|message|text"),
    "address": ("address|dia chi|located|location|branch|chi nhanh|co so|ban do|map|directions|chi duong",
                "where|find|o dau|cho nao|near|nearby"),
    "parking": ("park|parking|gui xe|do xe|dau xe|bai xe|car|o to|oto|xe may|motorbike|scooter|xe hoi",
                "where|near|nearby|leave|free|mien phi"),
    # a card alone is no payment topic: "Thẻ quà tặng (gift card)" is a product
    "payment": ("pay|payment|thanh toan|tra tien|credit|debit|the tin dung|quet the|cash|tien mat|transfer|"
                "chuyen khoan|bank|surcharge|phu thu|installment|instalment|tra gop|visa|mastercard|momo|zalopay|qr|"
                "vi dien tu|e wallet", "card|the|accept|take|nhan|chap nhan|use|dung|fee|phi|extra|percent"),
    "delivery": ("delivery|deliver|ship|shipping|giao hang|giao|van chuyen|courier|cod|ship cod|freight",
                 "how long|bao lau|send|gui|nhanh|fast|arrive"),  # a fee is what is asked, not how
    "returns": ("return|refund|exchange|doi|doi tra|tra hang|tra lai|hoan tien|hoan tra|doi hang|money back",
                "cash|tien mat|get|back|lai"),
    "warranty": ("warranty|guarantee|bao hanh", "how long|bao lau|cover|free|mien phi"),
    "booking": ("book|booking|appointment|reserve|reservation|dat lich|lich hen|dat cho|dat truoc|walk in",
                "need|advance|truoc|group|nhom|nguoi|people|person"),
    "deposit": ("deposit|coc|dat coc|tien coc|prepay|prepayment|upfront",
                "need|phai|mat|lose|group|nhom|nguoi|people|person|lich|dat lich|book|booking"),
    "cancellation": ("cancel|cancellation|huy|huy lich|doi lich|reschedule|no show",
                     "before|truoc|tieng|hour|mat|lose|coc|deposit"),
    "late": ("late|tre|den tre|toi tre|delay", "ket xe|traffic|jam|giu|giu lich|hold|keep|minute|phut|wait|doi"),
    "discount": ("discount|giam gia|khuyen mai|uu dai|promotion|voucher|loyalty|than thiet|thanh vien|member|"
                 "membership|contractor|wholesale|si|gia si",
                 "get|duoc|price|gia|chuong trinh|program|programme|scheme"),
}


def _phrases(spec: str) -> set[str]:
    return {" ".join(stem(w) for w in phrase.split()) for phrase in spec.split("|")}


_TOPIC_WORDS: dict[str, tuple[set[str], set[str]]] = {}


def _topic_words() -> dict[str, tuple[set[str], set[str]]]:
    if not _TOPIC_WORDS:
        _TOPIC_WORDS.update({topic: (_phrases(words), _phrases(glue)) for topic, (words, glue) in _TOPICS.items()})
    return _TOPIC_WORDS


def _unit_keys(unit: _Unit) -> set[str]:
    """The unit's folded, stemmed forms: its own words and its syllable pairs."""
    return {" ".join(stem(fold(t)) for t in form) for form in (unit.own, *unit.neighbours)}


def _topics_named(unit: _Unit) -> set[str]:
    keys = _unit_keys(unit)
    return {topic for topic, (words, _) in _topic_words().items() if keys & words}


def _topic_glue(unit: _Unit, topics: set[str]) -> bool:
    keys = _unit_keys(unit)
    return any(keys & _topic_words()[topic][1] for topic in topics)


# a Markdown heading, or a label before a colon opening a paragraph or sentence ("Đến trễ: Tiệm giữ lịch...")
_LABEL = re.compile(r"(?m)^\s{0,3}#{1,6}\s*([^\n]+)|(?:^|(?<=[.!?])\s|\n)\s*([^\n:.!?#]{2,40}):\s")
_LABEL_WORDS = 6  # a heading joined to its body ("## Giờ mở cửa Thứ Hai...") is named by its first words


_TITLE_LINE = re.compile(r"\A\s*([^\n.!?:]{2,80})\n")  # "Saigon Tool House - Returns and refunds policy"


def labelled_topics(text: str) -> set[str]:
    """The shop topics the passage's headings, title line or labels name."""
    found = heading_topics(text)
    for match in _LABEL.finditer(text[:4000]):
        if match.group(2):
            found |= _topics_in(match.group(2), 5)
    return found


_OPENING_LABEL = re.compile(r"\A\s*([^\n:.!?#]{2,40}):\s")


def paragraph_topics(found: list[str], headed: frozenset[str] = frozenset()) -> list[frozenset[str]]:
    """Per sentence, the topics heading it: `headed` and those of the last label opening a sentence ("Hủy lịch và
    tiền cọc: ...") up to the next label, since a label heads its paragraph."""
    out, current = [], frozenset()
    for sentence in found:
        label = _OPENING_LABEL.match(sentence)
        if label:
            current = frozenset(_topics_in(label.group(1), 5))
        out.append(headed | current)
    return out


def heading_topics(text: str) -> set[str]:
    """The shop topics the passage's Markdown headings or its title line name (they head all its sentences)."""
    found: set[str] = set()
    for match in _LABEL.finditer(text[:4000]):
        if match.group(1):
            found |= _topics_in(match.group(1), _LABEL_WORDS, cut=True)
    title = _TITLE_LINE.match(text)
    if title and not title.group(1).lstrip().startswith("#"):
        found |= _topics_in(title.group(1), 10)
    return found


def _topics_in(label: str, most: int, cut: bool = False) -> set[str]:
    words = [stem(fold(t)) for t in _SYLLABLE.findall(unicodedata.normalize("NFC", label.lower()))]
    if len(words) > most and not cut:
        return set()  # a sentence, not a label
    line = f" {' '.join(words[:most])} "
    return {topic for topic, (named, _) in _topic_words().items() if any(f" {w} " in line for w in named)}

# a folded Vietnamese syllable: onset, vowels, coda; words of another shape are names or foreign words (croissant)
_VIETNAMESE_SHAPE = re.compile(r"(ngh|ng|nh|ch|gh|gi|kh|ph|qu|th|tr|[bcdghklmnprstvx])?[aeiouy]{1,3}"
                               r"(ng|nh|ch|[cmnpt])?")


def script_language(text: str) -> str:
    """vi or en: how the text is written (other languages are read like English)."""
    return "vi" if language_of(text) == "vi" else "en"


@dataclass
class _Unit:
    """One thing the question names: its own forms, the glossary's other forms, and how it may match."""

    own: tuple[str, ...]  # the question's tokens (toned when the question has tone marks)
    alternatives: tuple[tuple[str, ...], ...] = ()  # glossary terms, toned
    neighbours: tuple[tuple[str, ...], ...] = ()  # syllable pairs it may match inside (Vietnamese)
    alone: bool = True  # matches by itself (a word, a lone syllable, a code, a foreign word)


class _Text:
    """A passage tokenised both ways: as typed (lower case) and accent-folded."""

    def __init__(self, text: str):
        self.toned = _SYLLABLE.findall(unicodedata.normalize("NFC", text.lower()))
        self.folded = [fold(t) for t in self.toned]
        self.toned_line = f" {' '.join(self.toned)} "
        self.folded_line = f" {' '.join(self.folded)} "
        self.folded_set = set(self.folded)
        self.stemmed_set = {stem(t) for t in self.folded}
        self.stemmed_line = f" {' '.join(stem(t) for t in self.folded)} "
        self.toned_set = set(self.toned)
        self.digits = any(c.isdigit() for c in text)

    def has(self, phrase: tuple[str, ...], toned: bool) -> bool:
        """Whether the passage says this phrase. A lone syllable compares with its tone marks when it has them
        ("nhánh" is not "nhanh"); a pair of syllables compares folded (it is rarely ambiguous, and "hoá đơn" is
        "hóa đơn"); English words also by their stem ("opening" and "open")."""
        if len(phrase) == 1 and toned:
            return phrase[0] in self.toned_set
        folded = tuple(fold(t) for t in phrase)
        if f" {' '.join(folded)} " in self.folded_line:
            return True
        stems = [stem(t) for t in folded]
        if f" {' '.join(stems)} " in self.stemmed_line:
            return True
        # "replaced" and "replace": one stem starts the other (4 letters or more, English words only)
        return len(stems) == 1 and len(stems[0]) >= 4 and not _vietnamese_shaped(stems[0]) and any(
            len(other) >= 4 and (other.startswith(stems[0]) or stems[0].startswith(other))
            for other in self.stemmed_set)


def stem(word: str) -> str:
    """An English word without its plural, past or -ing ending ("chipped" and "chips" are "chip"); Vietnamese
    syllables never end so and stay as they are."""
    for _ in range(2):  # "bookings" -> "booking" -> "book"
        for suffix, instead in (("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
            if suffix == "ed" and word.endswith("ed") and len(word) == 4:
                suffix = "d"  # died, used
            if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
                word = word[:len(word) - len(suffix)] + instead
                if len(word) >= 4 and word[-1] == word[-2] and word[-1] not in "aeiouls":
                    word = word[:-1]  # chipp -> chip
                break
    return word


def _vietnamese_shaped(folded: str) -> bool:
    return _VIETNAMESE_SHAPE.fullmatch(folded) is not None


def _toned(term: str) -> bool:
    return fold(term) != term.lower()


def units(question: str) -> list[_Unit]:
    """What the question names: glossary terms (longest first), then its other words or syllables."""
    language = script_language(question)
    plain = question == fold(question)  # typed without tone marks: compare folded
    tokens = _SYLLABLE.findall(unicodedata.normalize("NFC", question.lower()[:2000]))
    key = [fold(t) for t in tokens] if plain else list(tokens)
    taken = [False] * len(tokens)
    termed = list(taken)  # syllables of a glossary term
    found: list[_Unit] = []
    stems = [stem(fold(t)) for t in tokens]  # "holidays" is the glossary's "holiday"
    for term_tokens, others, vietnamese in _glossary_terms(plain):
        if vietnamese and language != "vi":
            continue  # "don't" is not "đơn"
        where = _positions(key, term_tokens, taken)
        if not vietnamese and not where and language != "vi":  # "dạy" is not "days"
            where = _positions(stems, [stem(t) for t in term_tokens], taken)
        for start in where:
            taken[start:start + len(term_tokens)] = [True] * len(term_tokens)
            termed[start:start + len(term_tokens)] = [True] * len(term_tokens)
            found.append(_Unit(own=tuple(key[start:start + len(term_tokens)]), alternatives=others))
    phrases = [_SYLLABLE.findall((fold(p) if plain else p)) for p in _STOP_VI_PHRASES] if language == "vi" else []
    for phrase in phrases:
        for start in _positions(key, phrase, taken):
            taken[start:start + len(phrase)] = [True] * len(phrase)
    stop = {fold(w) for w in _STOP_VI} if plain else _STOP_VI
    if language != "vi":
        stop = _STOP_EN
        key = [fold(t) for t in tokens]
    content = [not taken[i] and key[i] not in stop and (len(key[i]) > 1 or key[i].isdigit())
               for i in range(len(key))]
    if language != "vi":
        found += [_Unit(own=(key[i],)) for i in range(len(key)) if content[i]]
        return found
    named = [content[i] or termed[i] for i in range(len(key))]  # a glossary term's syllable still pairs ("sửa xe")
    for i in range(len(key)):
        if not content[i]:
            continue
        left = (key[i - 1], key[i]) if i > 0 and named[i - 1] else None
        right = (key[i], key[i + 1]) if i + 1 < len(key) and named[i + 1] else None
        pairs = tuple(p for p in (left, right) if p)
        word = fold(key[i])
        alone = not pairs or any(c.isdigit() for c in word) or not _vietnamese_shaped(word)
        found.append(_Unit(own=(key[i],), neighbours=pairs, alone=alone))
    return found


_TERMS: dict[bool, list] = {}


def _glossary_terms(plain: bool) -> list[tuple[list[str], tuple[tuple[str, ...], ...], bool]]:
    """Every glossary term as tokens (folded for a question typed without tone marks) with its groups' terms and
    whether it is Vietnamese, longest first ("giờ mở cửa" before "mở cửa")."""
    if plain not in _TERMS:
        others: dict[tuple[str, ...], list[tuple[str, ...]]] = {}
        vietnamese: dict[tuple[str, ...], bool] = {}
        for group in glossary.GROUPS:  # a term in two groups ("cost": price and fee) has the words of both
            forms = [tuple(_SYLLABLE.findall(t.lower())) for t in group]
            for form in forms:
                key = tuple(fold(w) for w in form) if plain else form
                others.setdefault(key, [])
                others[key] += [f for f in forms if f not in others[key]]
                vietnamese[key] = vietnamese.get(key, False) or _toned(" ".join(form))
        _TERMS[plain] = sorted(((list(key), tuple(forms), vietnamese[key]) for key, forms in others.items()),
                               key=lambda t: -len(t[0]))
    return _TERMS[plain]


def _positions(tokens: list[str], phrase: list[str], taken: list[bool]) -> list[int]:
    """Starts of the phrase among the tokens where none of its tokens is taken yet."""
    size = len(phrase)
    if not size:
        return []
    starts, i = [], 0
    while i + size <= len(tokens):
        if tokens[i:i + size] == phrase and not any(taken[i:i + size]):
            starts.append(i)
            i += size
        else:
            i += 1
    return starts


Rarity = Callable[[str], float]


def _flat(_: str) -> float:
    return 1.0


def coverage(question: str, text: str, rarity: Rarity | None = None, asked: list[_Unit] | None = None,
             headed: frozenset[str] = frozenset()) -> float:
    """The share (0..1) of what the question names that the passage says, each part weighed by its rarity."""
    said, total = evidence(question, text, rarity, asked, headed)
    return said / total if total else 0.0


def evidence(question: str, text: str, rarity: Rarity | None = None, asked: list[_Unit] | None = None,
             headed: frozenset[str] = frozenset()) -> tuple[float, float]:
    """(weight of what the passage says of the question, weight of all the question names): between passages that
    cover as much, the one saying rarer words ("hotline" rather than the "điện thoại" of the shop's name) says more.
    `headed`: the topics of the heading over the passage (relevance.heading_topics of its section)."""
    asked = units(question) if asked is None else asked
    if not asked:
        return 0.0, 0.0
    rarity = rarity or _flat
    passage = _Text(text)
    toned = question != fold(question)
    named = [_topics_named(unit) for unit in asked]
    shared = set().union(*named) & (labelled_topics(text) | headed) if any(named) else set()
    weighed = rarity is not _flat
    # only Vietnamese syllables can be looked up as they are ("repaired" is not "repair"), and across languages every
    # word is absent
    vietnamese = script_language(question) == "vi" == script_language(text)
    said = total = 0.0
    for unit, topics in zip(asked, named):
        matched = _matched(unit, passage, toned)
        if not matched and shared and not topics & shared and _topic_glue(unit, shared):
            continue  # "what time" of a question about the hours, against the opening-hours section
        headed_only = False
        if not matched and shared and (topics & shared or (_numeric(unit) and passage.digits)):
            matched = unit.own  # the section is on that topic; "trễ 20 phút" is a case of the rule's "15 phút"
            headed_only = True
        asking = _asks_amount(unit) or _numeric(unit)  # "after 3 days" tells the case, the rule says "5 days"
        weight = _weight(matched or unit.own, rarity) * (_ASKING if asking else 1.0)
        if headed_only:
            weight *= _HEADED  # the topic is the heading's, the subject ("students" of a discount) must be said
        if not matched and not asking and weighed and weight >= 1.0 and vietnamese and not unit.alternatives:
            weight *= _ABSENT  # "thuê xe máy": nothing is rented, the parking section is no answer
        total += weight
        if matched:
            said += weight
    return said, total


def _matched(unit: _Unit, passage: _Text, toned: bool) -> tuple[str, ...] | None:
    """The form in which the passage says the unit, or None."""
    if unit.alternatives:
        if _asks_amount(unit) and passage.digits:
            return unit.own  # "how much", "bao lâu": a passage stating an amount or a period answers that part
        if passage.has(unit.own, toned and _toned(" ".join(unit.own))):
            return unit.own
        for term in unit.alternatives:  # the glossary's terms are written with their tone marks
            if passage.has(term, _toned(" ".join(term))):
                return term
        return None
    for pair in unit.neighbours:
        if passage.has(pair, toned):
            return pair
    if unit.alone and passage.has(unit.own, toned and _toned(unit.own[0])):
        return unit.own
    return None


_NUMBER_WORDS = {"million", "millions", "thousand", "thousands", "trieu", "nghin", "ngan", "percent", "phan tram"}


def _numeric(unit: _Unit) -> bool:
    """A number or an amount word ("8 million", "10 tiếng" is a case of the rule, not its subject)."""
    return unit.own[0].isdigit() or " ".join(fold(t) for t in unit.own) in _NUMBER_WORDS


def _asks_amount(unit: _Unit) -> bool:
    return bool(unit.alternatives) and " ".join(fold(t) for t in unit.own) in _ASKS_AMOUNT


def _weight(tokens: tuple[str, ...], rarity: Rarity) -> float:
    """A phrase is as rare as its rarest word."""
    return max(rarity(fold(t)) for t in tokens) if tokens else 0.0


def about(question: str, text: str, rarity: Rarity | None = None) -> bool:
    """Whether the passage covers enough of what the question names to answer it."""
    return coverage(question, text, rarity) >= ABOUT


# --- rarity from the tenant's own documents ----------------------------------------------------------

_TOTALS: dict[str, tuple[int, int]] = {}
_TOTALS_LOCK = threading.Lock()
_LEAST = 0.2  # a word in every chunk still says a little


def rarity_for(tenant_id: str, kb_version: int) -> Rarity:
    """Inverse document frequency of a folded word among the tenant's chunks, scaled to 0.2..1 (1: in no chunk)."""
    from appliance.records import Chunk, ChunkTerms

    with _TOTALS_LOCK:
        cached = _TOTALS.get(tenant_id)
    if cached and cached[0] == kb_version:
        total = cached[1]
    else:
        total = Chunk.select().where((Chunk.tenant == tenant_id) & (Chunk.deleted == False)).count()  # noqa: E712
        with _TOTALS_LOCK:
            _TOTALS[tenant_id] = (kb_version, total)
    if not total or not ChunkTerms.exists(tenant_id):
        return _flat
    seen: dict[str, float] = {}
    scale = math.log(total + 1)
    # a word in this many chunks or fewer is rare: it names the few passages that say it
    few = math.log((total + 1) / (max(_RARE_CHUNKS, _RARE_SHARE * total) + 0.5)) / scale

    def rarity(word: str) -> float:
        if word not in seen:
            frequency = ChunkTerms.doc_freqs(tenant_id, [word])[word]
            value = 1.0 if not frequency else math.log((total + 1) / (frequency + 0.5)) / scale
            seen[word] = min(1.0, max(_LEAST, value))
        return seen[word]

    rarity.rare = min(1.0, max(_LEAST, few))  # the least rarity of a rare word (names_rare_word)
    return rarity


_RARE_CHUNKS = 2
_RARE_SHARE = 0.05


def names_rare_word(question: str, text: str, rarity: Rarity | None, asked: list[_Unit] | None = None) -> bool:
    """Whether the passage says, in the question's own words, a word of the question that is rare in the tenant's
    documents and no shop topic nor asking word ("wifi", "amex"), while (in the same language) every word the
    question names is in some document: the keyword search's best passage saying it is about it, though it covers little else of the question."""
    least = getattr(rarity, "rare", None)
    if least is None:
        return False
    asked = units(question) if asked is None else asked
    # a word no document says: the question is about something else; across languages every word is absent
    same = script_language(question) == script_language(text)
    if same and any(not u.alternatives and not _numeric(u) and rarity(fold(u.own[0])) >= 1.0 for u in asked):
        return False
    passage = _Text(text)
    toned = question != fold(question)
    for unit in asked:
        if unit.alternatives or _numeric(unit) or len(unit.own) != 1 or _topics_named(unit):
            continue
        word = fold(unit.own[0])
        if len(word) > 2 and least <= rarity(word) < 1.0 and _matched(unit, passage, toned) == unit.own:
            return True
    return False
