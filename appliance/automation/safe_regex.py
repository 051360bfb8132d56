"""The one regex engine of the automation: patterns are checked when saved and run with a time budget per message.

Engine: the PyPI `regex` module (a C extension, already installed as a dependency of transformers; PyInstaller
bundles it through this module's import, no hook needed; pinned in requirements.txt because we import it). Why: its
searches take `timeout=`, checked inside the C matching loop, so a pattern that backtracks too long is stopped at its
budget and the worker goes on. Python's `re` cannot be interrupted (only a killed process would stop it), and
`google-re2`, though linear-time, is not installed here, lacks lookarounds and backreferences and would be a second
C++ library in the binary. Searches keep the GIL (no `concurrent=True`): a message runs dozens of microsecond
searches, and handing the GIL to another thread at each would make this thread wait for it again each time; a slow
pattern holds it at most its budget, once, before its rule is disabled.

Syntax: Python's `re` syntax (also `\\p{L}`-style Unicode properties), always case-insensitive. Refused at save
(RegexRefused, 422 invalid_pattern, a sentence naming the problem): longer than MAX_PATTERN characters, invalid,
a repeat count over MAX_COUNT, engine-specific features (fuzzy matching, recursion, verbose mode...), a pattern
that can match an empty text (it would answer every message), and the shapes that backtrack catastrophically:
- a repeat inside a repeat where both can take the same characters: `(a+)+$`, `(a*)*`, `(\\w+\\s?)+`, `(.*a){20}`;
- alternatives inside a repeat that can start with the same character: `(a|a)*`, `(\\w|\\d)+`, `(ab|ac)*`;
- two unbounded repeats that can take the same characters, at most 2 such characters apart, where the pattern may
  start almost anywhere (fewer than 2 fixed characters before them): `a+a+b`, `\\w+\\w+\\d`, `x.*@.*\\.com`;
- three or more unbounded repeats in a row that can take the same characters: `giá.*bao.*nhiêu.*ship.*nhé`.
The check is an analysis of the pattern's tree over a sample alphabet (ASCII, Vietnamese letters and the pattern's
own characters); it errs on the side of refusing, and the time budget catches whatever it misses.

Matching: text and pattern are NFC-normalized (Vietnamese typed on some keyboards arrives decomposed), only the
first MAX_TEXT characters are searched (rules answer short questions; this also bounds the polynomial shapes the
checker lets through, so a customer cannot get a sound rule disabled by sending a very long message; on a longer
message `$` and `\\Z` do not match where it was cut: its end is further on), and when the text itself does not
match, its folded form is searched too (lower case, no accents, đ as d, as keyword rules compare): so the pattern
`gia` matches "GIÁ" while `giá` still needs the accent. The matched text reported is always the customer's own
(the span of the folded match mapped back).

Budget: one search of one pattern on one message (the text and its folded form together) may take `budget_ms`
(the `regex_budget_ms` setting, DEFAULT_BUDGET_MS if not given); past it RegexSlow is raised and the caller disables
the rule with the exception's sentence as the reason."""
from __future__ import annotations

import functools
import time
import unicodedata
from dataclasses import dataclass

import regex

from appliance.errors import AppError

MAX_PATTERN = 500
MAX_COUNT = 1000
MAX_TEXT = 1000
DEFAULT_BUDGET_MS = 20.0
FLAGS = regex.IGNORECASE | regex.UNICODE | regex.VERSION0
INF = float("inf")
_SHARE = 8  # a thread of a busy process may get 1/8 of its CPU time; past that a search counts as slow
_ATTEMPTS = 8  # searches of one text stopped early by other threads' CPU time before it counts as too slow


class RegexRefused(AppError):
    """A pattern that may not be saved; the message names the problem."""

    status, code = 422, "invalid_pattern"


class RegexSlow(AppError):
    """A pattern that ran over its time budget on a message; `pattern`, and `key` when an Index raised it."""

    status, code = 422, "slow_pattern"

    def __init__(self, pattern: str, budget_ms: float, key=None):
        super().__init__(f"The pattern /{pattern}/ took longer than {budget_ms:g} ms (its time budget) on a customer's "
                         f"message and was stopped; simplify it (fewer repeats of .* or \\w+) and enable the rule again.")
        self.pattern, self.key = pattern, key


# --- the pattern's tree (for the check and for the literal every match needs) -----------------------------------

@dataclass(frozen=True)
class _Node:
    """One part of a pattern: kind char | empty | look | seq | alt | repeat, with its source span."""

    kind: str
    start: int
    end: int
    children: tuple = ()
    low: int = 1
    high: float = 1
    source: str = ""   # an atom's own text (char): compiled alone to learn which characters it takes
    literal: str = ""  # a char node that stands for exactly this character


_FLAG_LETTERS = set("imsu")
_CLASS_ESCAPES = set("dDwWsS")
_ZERO_WIDTH_ESCAPES = set("bBAZGmM")
_QUANTIFIER = regex.compile(r"\{(\d*)(?:(,)(\d*))?\}")


class _Parser:
    """A recursive-descent reader of a pattern the engine compiled: enough structure to judge its shape."""

    def __init__(self, pattern: str):
        self.p, self.i = pattern, 0
        self.ends, self.multiline = [], False  # spans of $ and \Z; whether (?m) makes $ an end of line too

    def refuse(self, what: str):
        raise RegexRefused(f"The pattern uses {what}, which rules do not support; write it with plain re syntax.")

    def peek(self, k: int = 0) -> str:
        return self.p[self.i + k] if self.i + k < len(self.p) else ""

    def parse(self) -> _Node:
        node = self.alternation()
        if self.i != len(self.p):
            raise RegexRefused(f"The pattern has an unmatched ')' at position {self.i + 1}.")
        return node

    def alternation(self) -> _Node:
        start, branches = self.i, [self.sequence()]
        while self.peek() == "|":
            self.i += 1
            branches.append(self.sequence())
        return branches[0] if len(branches) == 1 else _Node("alt", start, self.i, tuple(branches))

    def sequence(self) -> _Node:
        start, items = self.i, []
        while self.peek() not in ("", "|", ")"):
            atom = self.atom()
            if atom is not None:
                items.append(self.quantified(atom))
        return _Node("seq", start, self.i, tuple(items))

    def quantified(self, atom: _Node) -> _Node:
        c = self.peek()
        if c in ("*", "+", "?"):
            low, high = {"*": (0, INF), "+": (1, INF), "?": (0, 1)}[c]
            self.i += 1
        elif c == "{":
            found = _QUANTIFIER.match(self.p, self.i)
            if not found or (not found.group(1) and not found.group(2)):
                self.refuse("a '{' that is not a repeat count (write a literal { as \\{)")
            low = int(found.group(1) or 0)
            high = low if not found.group(2) else (int(found.group(3)) if found.group(3) else INF)
            for count in (low, high):
                if count != INF and count > MAX_COUNT:
                    raise RegexRefused(f"The repeat count {count} in '{self.p[atom.start:found.end()]}' is over "
                                       f"{MAX_COUNT}; use a smaller count.")
            self.i = found.end()
        else:
            return atom
        if self.peek() in ("?", "+"):  # lazy or possessive: same shape for the check
            self.i += 1
        return _Node("repeat", atom.start, self.i, (atom,), low, high)

    def atom(self) -> _Node | None:
        start, c = self.i, self.peek()
        if c == "(":
            return self.group()
        if c == "[":
            return self.char_class()
        if c == "\\":
            return self.escape()
        self.i += 1
        if c in ("^", "$"):
            if c == "$":
                self.ends.append((start, self.i))
            return _Node("empty", start, self.i)
        if c == ".":
            return _Node("char", start, self.i, source="(?s:.)")
        if c in ("*", "+", "?", "{"):
            raise RegexRefused(f"The pattern has '{c}' at position {start + 1} with nothing before it to repeat.")
        return _Node("char", start, self.i, source=regex.escape(c), literal=c)

    def group(self) -> _Node | None:
        start = self.i
        self.i += 1
        if self.peek() != "?":
            return self.group_body(start, "seq")
        self.i += 1
        head = self.p[self.i:self.i + 3]
        if head.startswith(":") or head.startswith(">"):
            self.i += 1
            return self.group_body(start, "seq")
        if head.startswith("P<") or (head.startswith("<") and head[1:2] not in ("=", "!")):
            self.i = self.p.index(">", self.i) + 1
            return self.group_body(start, "seq")
        for look in ("=", "!", "<=", "<!"):
            if head.startswith(look):
                self.i += len(look)
                return self.group_body(start, "look")
        if head.startswith("#"):
            self.i = self.p.index(")", self.i) + 1
            return None
        if head.startswith("P="):
            self.i = self.p.index(")", self.i) + 1
            return self.backreference(start)
        flags = regex.match(r"([a-zA-Z]*)(?:-([a-zA-Z]*))?([:)])", self.p[self.i:])
        if not flags:
            self.refuse(f"the group '{self.p[start:start + 4]}'")
        unknown = set(flags.group(1) + (flags.group(2) or "")) - _FLAG_LETTERS
        if unknown:
            self.refuse(f"'{self.p[start:self.i + flags.end()]}' (the only flags allowed are i, m, s and u)")
        self.i += flags.end()
        self.multiline = self.multiline or "m" in flags.group(1)
        if flags.group(3) == ")":
            return None  # a global flag: the check treats every pattern as case-insensitive and '.' as any character
        return self.group_body(start, "seq", opened=True)

    def group_body(self, start: int, kind: str, opened: bool = False) -> _Node:
        body = self.alternation()
        if self.peek() != ")":
            raise RegexRefused(f"The group opened at position {start + 1} is not closed.")
        self.i += 1
        if kind == "look":
            return _Node("look", start, self.i, (body,))
        return _Node("seq", start, self.i, (body,))

    def backreference(self, start: int) -> _Node:
        """What a group took before may come again: for the shape, any text of any length."""
        anything = _Node("char", start, self.i, source="(?s:.)")
        return _Node("repeat", start, self.i, (anything,), 0, INF)

    def char_class(self) -> _Node:
        start = self.i
        self.i += 1
        if self.peek() == "^":
            self.i += 1
        if self.peek() == "]":
            self.i += 1
        while self.peek() not in ("", "]"):
            if self.peek() == "\\":
                self.i += 2
                if self.p[self.i - 1] in "pPN" and self.peek() == "{":
                    self.i = self.p.index("}", self.i) + 1
            elif self.peek() == "[" and self.peek(1) == ":":
                self.i = self.p.index(":]", self.i) + 2
            elif self.peek() == "[":
                self.refuse("a set inside a set")
            else:
                self.i += 1
        self.i += 1
        return _Node("char", start, self.i, source=self.p[start:self.i])

    def escape(self) -> _Node:
        start = self.i
        node = self.escaped(self.peek(1))
        if self.i > len(self.p):
            raise RegexRefused(f"The pattern ends in the middle of the escape '{self.p[start:]}'; complete or remove it.")
        return node

    def escaped(self, c: str) -> _Node:
        start = self.i
        self.i += 2
        if c.isdigit() and c != "0":
            while self.peek().isdigit() and self.i - start < 3:
                self.i += 1
            return self.backreference(start)
        if c == "g":
            self.i = self.p.index(">", self.i) + 1
            return self.backreference(start)
        if c in _ZERO_WIDTH_ESCAPES:
            if c == "Z":
                self.ends.append((start, self.i))
            return _Node("empty", start, self.i)
        if c in "pPN":
            if self.peek() == "{":
                self.i = self.p.index("}", self.i) + 1
            elif c != "N":
                self.i += 1
            return _Node("char", start, self.i, source=self.p[start:self.i])
        widths = {"x": 2, "u": 4, "U": 8, "0": 2}
        if c in widths:
            self.i += widths[c]
            return _Node("char", start, self.i, source=self.p[start:self.i])
        if c in _CLASS_ESCAPES or c == "X":
            return _Node("char", start, self.i, source=self.p[start:self.i])
        if c.isascii() and c.isalpha():
            self.refuse(f"the escape '\\{c}'")
        literal = {"t": "\t", "n": "\n", "r": "\r", "f": "\f", "v": "\v"}.get(c, c)
        return _Node("char", start, self.i, source=self.p[start:self.i], literal=literal)


# --- the shape analysis -------------------------------------------------------------------------------------------

_SAMPLE = ("".join(chr(code) for code in range(128)) + "àáảãạăằắẳẵặâầấẩẫậèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợ"
           "ùúủũụưừứửữựỳýỷỹỵđ\u00a0\u2028\u00df\u0130\u212a中😀")


class _Shape:
    """first/nullable of each part over a sample alphabet, and the walk that finds the catastrophic shapes."""

    def __init__(self, pattern: str):
        letters = set(_SAMPLE + _SAMPLE.upper()) | set(pattern) | set(pattern.upper()) | set(pattern.lower())
        self.pattern, self.alphabet = pattern, "".join(sorted(letters))
        self.everything = frozenset(self.alphabet)
        self.seen: dict = {}  # (question, id(node) or source) -> answer: each part judged once
        self.alike: dict = {}  # a character's lower, upper and folded forms -> the sample characters that have it
        for c in self.alphabet:
            for form in {c, c.lower(), c.upper(), c.casefold()}:
                self.alike.setdefault(form, set()).add(c)

    def text(self, node: _Node) -> str:
        return self.pattern[node.start:node.end]

    def takes(self, source: str) -> frozenset:
        """The sample characters an atom matches (case-insensitively, '.' included newline: over- rather than under-)."""
        if ("takes", source) not in self.seen:
            try:
                engine = regex.compile(source, FLAGS | regex.DOTALL)
            except regex.error:  # a part read wrongly: assume it takes anything (refuse rather than miss)
                self.seen["takes", source] = self.everything
            else:
                self.seen["takes", source] = frozenset(c for c in self.alphabet if engine.fullmatch(c))
        return self.seen["takes", source]

    def takes_literal(self, c: str) -> frozenset:
        """The sample characters equal to c but for case (a superset: what the engine's case folding may pair)."""
        return frozenset({c}.union(*(self.alike.get(form, ()) for form in {c.lower(), c.upper(), c.casefold()})))

    def nullable(self, node: _Node) -> bool:
        """Whether the part can match an empty text."""
        if ("nullable", id(node)) not in self.seen:
            self.seen["nullable", id(node)] = self._nullable(node)
        return self.seen["nullable", id(node)]

    def _nullable(self, node: _Node) -> bool:
        if node.kind == "char":
            return False
        if node.kind in ("empty", "look"):
            return True
        if node.kind == "seq":
            return all(self.nullable(child) for child in node.children)
        if node.kind == "alt":
            return any(self.nullable(child) for child in node.children)
        return node.low == 0 or self.nullable(node.children[0])

    def first(self, node: _Node) -> frozenset:
        """The sample characters a non-empty match of the part can start with."""
        if ("first", id(node)) not in self.seen:
            self.seen["first", id(node)] = self._first(node)
        return self.seen["first", id(node)]

    def _first(self, node: _Node) -> frozenset:
        if node.kind == "char":
            return self.takes_literal(node.literal) if node.literal else self.takes(node.source)
        if node.kind in ("empty", "look"):
            return frozenset()
        if node.kind == "alt":
            return frozenset().union(*(self.first(child) for child in node.children))
        if node.kind == "repeat":
            return self.first(node.children[0])
        found = frozenset()
        for child in node.children:
            found |= self.first(child)
            if not self.nullable(child):
                break
        return found

    def walk(self, node: _Node, after: frozenset, loop: _Node | None) -> list:
        """Refuse a nested or alternation shape inside `loop`; the overlapping unbounded repeats along the worst path."""
        if node.kind == "look":
            self.walk(node.children[0], self.everything, loop)
            return []  # zero-width: it adds no characters to a chain
        if node.kind == "seq":
            follows, following = [], after
            for child in reversed(node.children):
                follows.append(following)
                following = self.first(child) | (following if self.nullable(child) else frozenset())
            chain = []
            for child, child_after in zip(node.children, reversed(follows)):
                chain += self.walk(child, child_after, loop)
            self.refuse_neighbour_repeats(node.children)
            return chain
        if node.kind == "alt":
            if loop is not None:
                self.refuse_overlapping_alternatives(node, after, loop)
            return max((self.walk(child, after, loop) for child in node.children), key=len)
        if node.kind == "repeat":
            body = node.children[0]
            inner_after = after | (self.first(body) if node.high > 1 else frozenset())
            ambiguous = node.low < node.high and self.first(body) & after
            if loop is not None and ambiguous:
                raise RegexRefused(
                    f"The pattern repeats '{self.text(node)}' inside the repeated '{self.text(loop)}' and both can "
                    f"take the same characters (nested quantifiers), so a message that almost matches can take "
                    f"exponential time; make the inner part unambiguous, e.g. (\\w+\\s)+ instead of (\\w+\\s?)+.")
            chain = self.walk(body, inner_after, node if node.high > 1 else loop)
            return ([node] if ambiguous and node.high == INF else []) + chain
        return []

    def refuse_neighbour_repeats(self, items: tuple):
        """Two unbounded repeats that can take the same characters, at most 2 such characters apart, where the pattern
        may start almost anywhere (fewer than 2 fixed characters before them): every split of a long run of those
        characters is tried from every start (`a+a+b`, `\\w+\\w+\\d`, `x.*@.*\\.com` take ~0.1-1 s on 1,000)."""
        items, fixed = _flat(items), 0
        for number, first in enumerate(items):
            if fixed < 2 and _unbounded(first):
                taken, between = self.first(first.children[0]), 0
                for later in items[number + 1:]:
                    if _unbounded(later) and taken & self.first(later.children[0]):
                        if between <= 2:
                            raise RegexRefused(
                                f"The repeats '{self.text(first)}' and '{self.text(later)}' come one after the other "
                                f"({between} character{'' if between == 1 else 's'} between them) and can take the "
                                f"same characters, so a message that almost matches can take very long (every way of "
                                f"splitting it is tried); merge them, make one narrower (e.g. [^@]* instead of .* "
                                f"before @) or start the pattern with a word it needs.")
                        break
                    if later.kind in ("empty", "look"):
                        continue
                    if later.kind not in ("char", "alt", "repeat") or not self.first(later) & taken:
                        break
                    if later.kind == "repeat" and (later.high == INF or later.children[0].kind != "char"):
                        break
                    between += later.low if later.kind == "repeat" else 1
            fixed += self.fixed(first)

    def fixed(self, node: _Node) -> int:
        """How many literal characters every match of the part has (a lower bound)."""
        if node.kind == "char":
            return 1 if node.literal else 0
        if node.kind == "seq":
            return sum(self.fixed(child) for child in node.children)
        if node.kind == "alt":
            return min(self.fixed(child) for child in node.children)
        if node.kind == "repeat":
            return node.low * self.fixed(node.children[0]) if node.low < INF else 0
        return 0

    def refuse_overlapping_alternatives(self, node: _Node, after: frozenset, loop: _Node):
        starts = [self.first(b) | (after if self.nullable(b) else frozenset()) for b in node.children]
        for i, one in enumerate(starts):
            for j in range(i + 1, len(starts)):
                if one & starts[j]:
                    raise RegexRefused(
                        f"The alternatives '{self.text(node.children[i])}' and '{self.text(node.children[j])}' inside "
                        f"the repeated '{self.text(loop)}' can start with the same character (overlapping "
                        f"alternation), so a message that almost matches can take exponential time; make each "
                        f"alternative start differently, e.g. a(?:b|c) instead of ab|ac.")


def _tree(pattern: str) -> _Node:
    return _read(pattern)[0]


def _flat(items: tuple) -> list:
    """A sequence's parts with its groups opened (a group's parts follow each other as the sequence's do)."""
    return [part for item in items for part in (_flat(item.children) if item.kind == "seq" else [item])]


def _unbounded(node: _Node) -> bool:
    """An unbounded repeat of one character class (`.*`, `\\w+`, `[ab]*`): what can split a run of characters."""
    return node.kind == "repeat" and node.high == INF and node.low < node.high and node.children[0].kind == "char"


@functools.lru_cache(maxsize=4096)
def _read(pattern: str) -> tuple[_Node, "_Parser"]:
    """The pattern's tree and the parser that read it (which knows its end anchors)."""
    parser = _Parser(pattern)
    try:
        return parser.parse(), parser
    except ValueError:  # str.index found no closing character: the engine accepted something we cannot read
        raise RegexRefused("The pattern uses syntax rules do not support; write it with plain re syntax.") from None


def check(pattern: str) -> str:
    """The pattern if it may be saved, else RegexRefused with a sentence naming the problem."""
    if not isinstance(pattern, str) or not pattern:
        raise RegexRefused("Give the pattern as a non-empty string.")
    if len(pattern) > MAX_PATTERN:
        raise RegexRefused(f"The pattern can be at most {MAX_PATTERN} characters.")
    compiled(pattern)
    try:
        _judge(_normal(pattern))
    except RecursionError:
        raise RegexRefused("The pattern nests too many groups; flatten it.") from None
    return pattern


def _judge(pattern: str) -> None:
    """RegexRefused if the pattern can match an empty text or has a catastrophic shape."""
    tree, shape = _tree(pattern), _Shape(pattern)
    chain = shape.walk(tree, frozenset(), None)
    if len(chain) >= 3:
        parts = ", ".join(shape.text(node) for node in chain)
        raise RegexRefused(f"The pattern has {len(chain)} unbounded repeats in a row that can take the same characters "
                           f"({parts}), so a long message can take very long; use fewer of them or narrower ones "
                           f"([^,]* instead of .*).")
    if shape.nullable(tree):
        raise RegexRefused("The pattern can match an empty text, so it would answer every message; make at least one "
                           "character required (a+ instead of a*).")


def _required(node: _Node) -> list[str]:
    """Texts every match contains (literal runs of mandatory parts)."""
    if node.kind == "char":
        return [node.literal] if node.literal else []
    if node.kind == "repeat":
        return _required(node.children[0]) if node.low >= 1 else []
    if node.kind != "seq":
        return []
    found, run = [], ""
    for child in node.children:
        if child.kind == "char" and child.literal:
            run += child.literal
            continue
        found += [run] if run else []
        run = ""
        found += _required(child)
    return found + ([run] if run else [])


# --- running a pattern ------------------------------------------------------------------------------------------

def _normal(text: str) -> str:
    return unicodedata.normalize("NFC", text)


@functools.lru_cache(maxsize=8192)
def _fold_char(c: str) -> str:
    """One character folded as keyword rules fold text: lower case, no accents, đ as d."""
    decomposed = unicodedata.normalize("NFD", c.casefold().replace("đ", "d"))
    return "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")


@dataclass(frozen=True)
class Subject:
    """A message's text as patterns see it: NFC, its first MAX_TEXT characters, and that folded (with the position
    in `text` of each folded character, to report the customer's own words)."""

    text: str
    folded: str
    origin: tuple | None  # None: ASCII text, whose folded form a case-insensitive search need not look at
    cut: bool = False  # the message went on past MAX_TEXT: its end is not here

    @classmethod
    def of(cls, text: str) -> "Subject":
        whole = _normal(text)
        text, cut = whole[:MAX_TEXT], len(whole) > MAX_TEXT
        if text.isascii():
            return cls(text, text.lower(), None, cut)
        folded, origin = [], []
        for position, c in enumerate(text):
            piece = _fold_char(c)
            folded.append(piece)
            origin += [position] * len(piece)
        return cls(text, "".join(folded), tuple(origin), cut)

    def original(self, start: int, end: int) -> str:
        """The customer's text under the folded span [start, end)."""
        if start == end:
            return ""
        return self.text[self.origin[start]:self.origin[end - 1] + 1]


@dataclass(frozen=True)
class Compiled:
    """A pattern ready to run: the engine's object and the folded texts every match contains (longest first)."""

    pattern: str
    engine: object
    literals: tuple
    engine_cut: object  # for a cut text: $ and \Z do not match where the text was cut

    def search(self, subject: Subject, budget_ms: float = DEFAULT_BUDGET_MS) -> str | None:
        """The first match in the subject's text, else in its folded form, else None; RegexSlow past the budget."""
        budget, engine = _Budget(budget_ms / 1000), self.engine_cut if subject.cut else self.engine
        try:
            found = budget.run(engine, subject.text)
            if found is not None:
                return found.group(0)
            if subject.origin is None:
                return None
            found = budget.run(engine, subject.folded)
        except TimeoutError:
            raise RegexSlow(self.pattern, budget_ms) from None
        return subject.original(*found.span()) if found is not None else None


class _Budget:
    """CPU time of this thread left for one pattern on one message.

    The engine's `timeout` counts the whole process's CPU time, so while other threads are busy (the model generating)
    it fires early; a search stopped before this thread used its budget is run again with what is left, scaled by the
    share of the process's CPU time this thread had. This thread's time is what bounds a stuck worker. It is read
    once per search and again only on a time-out (reading it costs more than a typical search): between the two, the
    wall time spent stands for it (never less)."""

    def __init__(self, seconds: float):
        self.seconds, self.left, self.scale = seconds, seconds, 1.0
        self.cpu = time.thread_time()

    def run(self, engine, text: str):
        """engine.search(text) within what is left; TimeoutError when it is used up."""
        for _ in range(_ATTEMPTS):
            if self.left <= 0:  # by wall time: was it this thread's? (a preempted thread used less)
                self.left = self.seconds - (time.thread_time() - self.cpu)
                if self.left <= 0:
                    break
            allowance, started = self.left * self.scale, time.perf_counter()
            try:
                found = engine.search(text, timeout=allowance)
            except TimeoutError:
                used = time.thread_time() - self.cpu
                self.left = self.seconds - used
                # the process's CPU clock ran `allowance` out while this thread used at most `used` of it (if the
                # other threads go idle during the next attempt, it may use up to `scale` times what is left)
                self.scale = min(max(allowance / max(used, 1e-9), 1.0), _SHARE)
                continue
            self.left -= time.perf_counter() - started
            return found
        raise TimeoutError


@functools.lru_cache(maxsize=4096)
def compiled(pattern: str) -> Compiled:
    """The pattern compiled (RegexRefused if the engine cannot read it); its shape is not judged here (see check)."""
    normal = _normal(pattern)
    try:
        engine = regex.compile(normal, FLAGS)
    except (regex.error, TypeError, ValueError, OverflowError, RecursionError) as exc:
        raise RegexRefused(f"The pattern is not a valid regular expression: {exc}.") from None
    try:
        tree, parser = _read(normal)
    except (RegexRefused, RecursionError):  # a stored pattern from before this check: no pre-filter, the budget holds
        return Compiled(pattern, engine, (), engine)
    needed = sorted({folded for text in _required(tree) if (folded := _fold(text)).strip()}, key=len, reverse=True)
    return Compiled(pattern, engine, tuple(needed), _cut_engine(normal, parser, engine))


def _cut_engine(pattern: str, parser: _Parser, engine):
    """The pattern with its end anchors unable to match at the end of a cut text (with (?m), $ only before a line
    break); the pattern's own engine when it has none (or the rewrite does not compile)."""
    if not parser.ends:
        return engine
    never = "(?=\n)" if parser.multiline else "(?!)"
    pieces, last = [], 0
    for start, end in parser.ends:
        pieces += [pattern[last:start], never if pattern[start:end] == "$" else "(?!)"]
        last = end
    try:
        return regex.compile("".join(pieces) + pattern[last:], FLAGS)
    except regex.error:
        return engine


def _fold(text: str) -> str:
    return "".join(_fold_char(c) for c in _normal(text))


def search(pattern: str, text: str, budget_ms: float = DEFAULT_BUDGET_MS) -> str | None:
    """The first match of a checked pattern in the text (or in its folded form), or None; RegexSlow past the budget."""
    return compiled(pattern).search(Subject.of(text), budget_ms)
