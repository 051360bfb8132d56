"""Safe regex: catastrophic shapes refused at save with the problem named, a CPU-time budget per message that stops
whatever slips through, accent-folded matching, and match.Index giving the same answers as why() rule by rule."""
import hashlib
import re
import threading
import time

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from appliance.automation import safe_regex
from appliance.automation.match import Index, Message, why
from appliance.config import ConfigError, load_settings
from tests.conftest import run_benchmark

QUICK = hsettings(derandomize=True, max_examples=200, deadline=None, database=None)
LONE_SURROGATES = ["\ud800", "a\udfff", "\udbff\udbff", "\udc00\ud800"]


def refusal(pattern: str) -> str:
    with pytest.raises(safe_regex.RegexRefused) as info:
        safe_regex.check(pattern)
    assert (info.value.status, info.value.code) == (422, "invalid_pattern")
    return info.value.message


@pytest.mark.parametrize("pattern,named", [
    (r"(a+)+$", "repeats 'a+' inside the repeated '(a+)+' and both can take the same characters (nested quantifiers)"),
    (r"(a*)*", "repeats 'a*' inside the repeated '(a*)*'"),
    (r"(.*a){20}", "repeats '.*' inside the repeated '(.*a){20}'"),
    (r"(\w+\s?)+$", r"repeats '\w+' inside the repeated '(\w+\s?)+'"),
    (r"(x+x+)+y", "repeats 'x+' inside the repeated '(x+x+)+'"),
    (r"(a|a)*", "alternatives 'a' and 'a' inside the repeated '(a|a)*' can start with the same character "
                "(overlapping alternation)"),
    (r"^(a|aa)+$", "alternatives 'a' and 'aa' inside the repeated '(a|aa)+'"),
    (r"(\w|\d)+", r"alternatives '\w' and '\d' inside the repeated '(\w|\d)+'"),
    (r"(?:ab|ac)*x", "alternatives 'ab' and 'ac'"),
    (r"a+a+b", "The repeats 'a+' and 'a+' come one after the other (0 characters between them) and can take the same "
               "characters"),
    (r"\w+\w+\d", r"The repeats '\w+' and '\w+' come one after the other"),
    (r"x.*@.*\.com", "The repeats '.*' and '.*' come one after the other (1 character between them)"),
    (r"\s*\s*\s*\s*$", r"The repeats '\s*' and '\s*' come one after the other"),
    (r"giá.*bao.*nhiêu.*ship.*nhé", "4 unbounded repeats in a row that can take the same characters (.*, .*, .*, .*)"),
])
def test_catastrophic_shapes_are_refused_naming_the_problem(pattern, named):
    assert named in refusal(pattern)


@pytest.mark.parametrize("pattern,named", [
    ("", "Give the pattern as a non-empty string."),
    ("a" * 501, "at most 500 characters"),
    ("(giá", "not a valid regular expression: missing )"),
    ("a{2000}", "The repeat count 2000 in 'a{2000}' is over 1000"),
    ("a*", "can match an empty text, so it would answer every message"),
    ("(?=giá)", "can match an empty text"),
    ("(?x)gi á", "'(?x)' (the only flags allowed are i, m, s and u)"),
    ("(?R)", "'(?R)'"),
    ("giá{e<=1}", "a '{' that is not a repeat count"),
    (r"a\Kb", r"the escape '\K'"),
    ("(" * 200 + "a" + ")" * 200, ""),  # deep nesting: a sentence, never a RecursionError
])
def test_other_refusals_name_the_problem(pattern, named):
    assert named in refusal(pattern)


@pytest.mark.parametrize("pattern", [
    "giá", r"\bgiá\b", r"(\w+\s)+", r"(\d+,)*\d+", r"(\d{3}[- ]?){2}\d{4}", r"giá.*bao\s+nhiêu", r"\b0\d{9}\b",
    r"(?i)đặt\s+lịch", r"\p{L}+ ơi", r"(https?://)?www\.\w+\.com", r"(?P<n>a)b(?P=n)", r"(?:a|b)+c", r"[[:alpha:]]+",
    r"(?=.*giá)gi", r"giá.*\d+k", r"[^@\s]+@[^@\s]+\.com", r"\w+\s\w+\d", r"[\]\[]x", r"\N{LATIN SMALL LETTER A}b", r"^(?:hi|hello|xin chào)\b",
])
def test_everyday_patterns_are_accepted(pattern):
    assert safe_regex.check(pattern) == pattern


@pytest.mark.parametrize("pattern,text,found", [
    ("gia", "Cho hỏi GIÁ bao nhiêu", "GIÁ"),  # the folded text matches; the customer's own words are reported
    ("giá", "GIÁ", "GIÁ"),
    ("giá", "gia", None),  # an accented pattern asks for the accent
    ("dat lich", "Em muốn Đặt Lịch chiều mai", "Đặt Lịch"),
    ("giá", "gia\u0301 bao nhiêu", "giá"),  # decomposed input (some keyboards) is NFC-normalized first
    (r"\bsize\s*\d+", "SIZE 40 còn không", "SIZE 40"),
    ("ss", "straße", "ß"),
    ("x", "\ud800x", "x"),  # a lone surrogate is just a character
    ("tail", "a" * 1000 + "tail", None),  # only the first MAX_TEXT characters are searched
    (r"\d+$", "x" * 995 + " 12345678", None),  # ... and the end of a cut message is not where it was cut
    (r"\d+", "x" * 995 + " 12345678", "1234"),
    (r"\d+$", "x" * 990 + " 12345678", "12345678"),
])
def test_matching_is_case_insensitive_accent_folding_and_reports_the_customers_words(pattern, text, found):
    assert safe_regex.search(pattern, text) == found


def test_the_budget_is_a_setting():
    assert load_settings({"load_models": False}, environ={}).regex_budget_ms == safe_regex.DEFAULT_BUDGET_MS == 20
    with pytest.raises(ConfigError, match="regex_budget_ms"):
        load_settings({"regex_budget_ms": 0}, environ={})


@pytest.mark.parametrize("pattern,text", [
    (r"(a+)+$", "a" * 300 + "!"),  # ASCII: one search
    (r"^(a|aa)+$", "á" * 60 + "!"),  # the text does not match at once; its folded form backtracks: one budget for both
])
def test_a_pattern_that_slips_past_the_checker_costs_at_most_its_budget(pattern, text):
    refusal(pattern)  # the checker refuses it; stored before the check (or a shape it misses), it still runs safely
    budget_ms = 20.0
    wall, cpu = time.perf_counter(), time.thread_time()
    with pytest.raises(safe_regex.RegexSlow) as info:
        safe_regex.search(pattern, text, budget_ms)
    cpu_ms, wall_ms = (time.thread_time() - cpu) * 1000, (time.perf_counter() - wall) * 1000
    # unbounded, these searches take 2^300 (resp. Fibonacci(60)) steps: minutes to ages, not milliseconds
    assert cpu_ms < 2 * budget_ms and wall_ms < 3000, (cpu_ms, wall_ms)
    assert (info.value.status, info.value.code) == (422, "slow_pattern")
    assert f"/{pattern}/ took longer than 20 ms (its time budget)" in info.value.message


def test_other_threads_cpu_time_does_not_count_against_a_pattern():
    """The engine's clock is the process's CPU time: busy threads (the model generating) must not make a sound
    pattern look slow. Three threads hashing (GIL released) next to a search that needs about a third of its budget."""
    pattern, text = r"(\w+\s)+$", "ab " * 333 + "!"  # quadratic: ~10 ms of CPU, no match
    safe_regex.check(pattern)
    alone = []
    for _ in range(3):
        cpu = time.thread_time()
        assert safe_regex.search(pattern, text, budget_ms=10_000) is None
        alone.append((time.thread_time() - cpu) * 1000)
    budget_ms = 3 * min(alone)
    stop = threading.Event()

    def hash_forever():
        data = b"x" * 4_000_000
        while not stop.is_set():
            hashlib.sha256(data).digest()

    busy = [threading.Thread(target=hash_forever) for _ in range(3)]
    for thread in busy:
        thread.start()
    try:
        for _ in range(3):
            cpu = time.thread_time()
            assert safe_regex.search(pattern, text, budget_ms) is None
            assert (time.thread_time() - cpu) * 1000 < 2 * budget_ms
    finally:
        stop.set()
        for thread in busy:
            thread.join()


def test_the_index_reports_a_slow_regex_and_keeps_matching_the_others():
    rules = [("kw", {"type": "keyword", "mode": "contains", "keywords": ["giá"]}),
             ("slow", {"type": "regex", "pattern": r"(a+)+$"}),
             ("re", {"type": "regex", "pattern": r"gi.\s+a"})]
    index = Index.build(rules, budget_ms=10)
    message = Message.of("giá " + "a" * 300 + "!")
    slow = []
    assert index.hits(message, slow) == [("kw", "keyword 'giá' (contains)"), ("re", "pattern /gi.\\s+a/ matched 'giá a'")]
    assert [key for key, _ in slow] == ["slow"] and "took longer than 10 ms" in slow[0][1]
    with pytest.raises(safe_regex.RegexSlow) as info:
        index.hits(message)
    assert info.value.key == "slow"


def test_the_index_finds_keywords_by_mode_payloads_and_events_in_rule_order():
    rules = [("exact", {"type": "keyword", "mode": "exact", "keywords": ["xin chào"]}),
             ("starts", {"type": "keyword", "mode": "starts_with", "keywords": ["cho hỏi", "shop ơi"]}),
             ("contains", {"type": "keyword", "mode": "contains", "keywords": ["bao nhiêu", "giá"]}),
             ("unaccented", {"type": "keyword", "mode": "contains", "keywords": ["gia"]}),
             ("button", {"type": "payload", "payload": "BOOK"}),
             ("follow", {"type": "event", "event": "follow"})]
    index = Index.build(rules)
    assert index.hits(Message.of("Shop ơi, GIÁ bao nhiêu?")) == [
        ("starts", "keyword 'shop ơi' (starts_with)"), ("contains", "keyword 'bao nhiêu' (contains)"),
        ("unaccented", "keyword 'gia' (contains)")]
    assert index.hits(Message.of("Xin chào!")) == [("exact", "keyword 'xin chào' (exact)")]
    assert index.hits(Message.of("giai đoạn")) == []  # whole words only
    assert index.hits(Message.of("Đặt lịch", payload="BOOK")) == [("button", "payload 'BOOK'")]
    assert index.hits(Message.of(event="follow")) == [("follow", "event follow")]


# --- properties ---------------------------------------------------------------------------------------------------

PATTERN_PIECES = st.sampled_from(list("ab.*+?|()[]^$\\{},-:=!<>P0123dws") + [
    "\\d", "\\w", "\\s", "\\b", "(?:", "(?i)", "(?=", "(?!", "(?<=", "(?P<n>", "(?P=n)", "\\1", "{2}", "{1,3}",
    "{,2}", "[^", "\\p{L}", "giá", "đ", "ơ", "\ud800", "(?#", "{e<=1}", "[[:alpha:]]", "\\N{", "\\p", "\\x4",
    "\\u00", "\\g<", "\\Z", "(?m)", "(?s:", "ſ", "K", "ß"])


@QUICK
@given(st.lists(PATTERN_PIECES, max_size=14).map("".join) | st.text(max_size=20))
def test_random_patterns_are_accepted_or_refused_never_a_crash(pattern):
    try:
        assert safe_regex.check(pattern) == pattern
    except safe_regex.RegexRefused as refused:
        assert refused.message.endswith(".") and refused.status == 422


TEXTS = st.lists(st.sampled_from(["giá", "GIA", "gia\u0301", "bao", "nhiêu", "Đặt", "lịch", "a", "aa", "0912345678",
                                  "ß", "İ", "K", "ﬀ", "!", " ", "  ", ",", "\n", "😀"] + LONE_SURROGATES),
                 max_size=12).map(" ".join) | st.text(max_size=30)


@QUICK
@given(st.lists(PATTERN_PIECES, min_size=1, max_size=10).map("".join), TEXTS)
def test_random_texts_never_crash_a_search(pattern, text):
    try:
        safe_regex.check(pattern)
    except safe_regex.RegexRefused:
        return
    found = safe_regex.search(pattern, text, budget_ms=1000)
    assert found is None or isinstance(found, str)


KEYWORDS = st.sampled_from(["giá", "gia", "GIÁ", "bao nhiêu", "đặt lịch", "dat", "lịch", "size 40", "a", "hi!", "!!",
                            "xin chào", "ß", "ss", "İ", "k"])
MATCHES = st.one_of(
    st.fixed_dictionaries({"type": st.just("keyword"), "mode": st.sampled_from(["contains", "exact", "starts_with",
                                                                                "fuzzy"]),
                           "keywords": st.lists(KEYWORDS, max_size=3)}),
    st.fixed_dictionaries({"type": st.just("keyword"), "keywords": st.lists(KEYWORDS, max_size=3)}),
    st.fixed_dictionaries({"type": st.just("regex"), "pattern": st.sampled_from([
        "giá", "gia", r"\bgi[aá]\b", r"bao\s+nhi[eê]u", r"\d{9,11}", r"đặt\s*lịch", r"s+\b", "ß", "ss", r"(?-i:GIA)",
        r"i\b", "k", r"(?:hi|xin)\s*\w+", "[à-ỹ]", r"\bsize\s*\d+", "a(?=a)"])}),
    st.fixed_dictionaries({"type": st.just("payload"), "payload": st.sampled_from(["BOOK", "PRICE"])}),
    st.fixed_dictionaries({"type": st.just("event"), "event": st.sampled_from(["follow", "first_message"])}),
    st.fixed_dictionaries({"type": st.just("unknown")}),
)
MESSAGES = st.builds(Message.of, TEXTS | st.lists(KEYWORDS, max_size=4).map(" ".join),
                     st.none() | st.sampled_from(["BOOK", "PRICE"]), st.none() | st.sampled_from(["follow", "opt_in"]))


@QUICK
@given(st.lists(MATCHES, max_size=12), st.lists(MESSAGES, min_size=1, max_size=4))
def test_the_index_answers_as_why_does_rule_by_rule(matches, messages):
    rules = [(f"r{number}", match) for number, match in enumerate(matches)]
    index = Index.build(rules)
    for message in messages:
        expected = [(key, reason) for key, match in rules if (reason := why(match, message)) is not None]
        assert index.hits(message) == expected


def test_automation_benchmark_runs_and_prints_its_figures():
    out = run_benchmark("automation_bench.py", "--only", "matching", "rules", "pathological")
    assert re.search(r"index\.hits\(message\) +\d+\.\d+ ms +\d+\.\d+ ms +\d+\.\d+ ms +\d+\.\d+ ms", out), out
    assert re.search(r"ratio index/bare \(CPU, same run\): p50 \d+\.\d+, p99 \d+\.\d+", out), out
    assert re.search(r"rules: 1,000 stored rules, .* CPU p50 \d+\.\d+ ms p99 \d+\.\d+ ms", out), out
    assert "refused at save: The pattern repeats 'a+' inside the repeated '(a+)+'" in out, out
    assert re.search(r"slipped through: \(a\+\)\+\$ on 301 characters stopped after \d+\.\d ms CPU", out), out
