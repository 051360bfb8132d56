"""The one reader for JSON that comes in from outside (webhooks, the widget, the API).

Checks happen in the order that keeps hostile bodies cheap: size before decoding, UTF-8 before parsing, then a parse
that cannot recurse without bound, then one walk over the result for depth and lone surrogates (which SQLite and
every UTF-8 encoder refuse later, far from the request that brought them).
"""
from __future__ import annotations

import json
import math
import re
from typing import Any

from appliance.errors import AppError

MAX_DEPTH = 32  # platform payloads nest about 8 deep; 32 leaves room and stays far below Python's recursion limit
_SURROGATE = re.compile("[\ud800-\udfff]")  # after parsing, valid pairs are one code point: any left is lone


class JsonBodyError(AppError, ValueError):
    """A body that is not acceptable JSON; `status` (400 or 413), `code` and a sentence for the sender."""

    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(status, code, message)


def _no_constant(name: str):
    raise JsonBodyError("invalid_number", f"The JSON contains {name}, which is not a number JSON allows.")


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):  # 1e400 parses as infinity; it would be stored and answered as the non-JSON `Infinity`
        raise JsonBodyError("invalid_number", "The JSON contains a number too large to store; send a smaller one.")
    return value


def loads(raw: bytes, max_bytes: int, max_depth: int = MAX_DEPTH) -> Any:
    """Parse an incoming JSON body or raise JsonBodyError: size, UTF-8, syntax, depth, numbers and surrogates checked."""
    if len(raw) > max_bytes:
        raise JsonBodyError("too_large", f"The body can be at most {max_bytes} bytes.", 413)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise JsonBodyError("invalid_encoding", "Send the body as UTF-8 encoded JSON.") from None
    try:
        value = json.loads(text, parse_constant=_no_constant, parse_float=_finite)
    except RecursionError:
        raise _too_deep(max_depth) from None
    except JsonBodyError:
        raise
    except json.JSONDecodeError as exc:
        raise JsonBodyError("invalid_json", f"The body is not valid JSON ({exc.msg} at line {exc.lineno} "
                                            f"column {exc.colno}).") from None
    except ValueError:  # an integer longer than Python's 4300-digit conversion limit
        raise JsonBodyError("invalid_number", "The JSON contains a number with too many digits.") from None
    _check(value, max_depth)
    return value


def loads_object(raw: bytes, max_bytes: int, hint: str = "Send a JSON object.") -> dict:
    """`loads` for a body that must be a JSON object; `hint` is the sentence for a body that is another JSON value."""
    value = loads(raw, max_bytes)
    if not isinstance(value, dict):
        raise JsonBodyError("invalid_json", hint)
    return value


def _too_deep(max_depth: int) -> JsonBodyError:
    return JsonBodyError("too_deep", f"The JSON is nested more than {max_depth} levels deep.")


def _check(value: Any, max_depth: int) -> None:
    """Walk the parsed value without recursion: no container deeper than max_depth, no lone surrogate anywhere."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                raise JsonBodyError("invalid_text", "The JSON contains a broken character (a lone UTF-16 surrogate).")
            continue
        if not isinstance(item, (dict, list)):
            continue
        if depth > max_depth:
            raise _too_deep(max_depth)
        if isinstance(item, dict):
            stack.extend((key, depth) for key in item)
            stack.extend((child, depth + 1) for child in item.values())
        else:
            stack.extend((child, depth + 1) for child in item)
