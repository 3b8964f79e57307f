"""JSON that keeps every integer exact, read and written at any depth the parser accepts.

orjson does the work wherever it gives the exact result, which is nearly always. It has two
limits that would otherwise lose data or fail a request: it reads an integer past 64 bits as a
float (123456789012345678901234 and ...235 both become 1.2345678901234569e+23, so two people's
userIds would be one), and it writes no integer past 64 bits and nothing nested more than
WRITER_MAX_DEPTH levels. Past those, the slower paths here take over, without recursion, for
values nested as deep as the parser reads (PARSER_MAX_DEPTH levels).
"""

from __future__ import annotations

import re
import secrets
import sys
from dataclasses import dataclass
from typing import Any

import orjson

PARSER_MAX_DEPTH = 1024  # orjson.loads refuses deeper text ("depth limit exceeded")
WRITER_MAX_DEPTH = 254  # orjson.dumps writes values nested at most this deep

# Digits stay, every other byte becomes a space: 19 digits in a row are then one `in` away
# (bytes.translate and a substring search cost a tenth of a regex search).
_DIGITS_AS_ZEROS = bytes(0x30 if 0x30 <= byte <= 0x39 else 0x20 for byte in range(256))
_NINETEEN_DIGITS = b"0" * 19
# An integer of 19 digits or more, as a JSON number (not part of a float, no leading zero).
_LONG_INTEGER = re.compile(rb"(?<![0-9.eE+-])-?[1-9][0-9]{18,}(?![0-9.eE])")


class OversizeInteger:
    """An integer with more digits than Python converts (sys.get_int_max_str_digits(), 4300):
    kept as written, for the caller to refuse. Only `write` writes it (a plain class, not a
    dataclass, which orjson would write as an object)."""

    __slots__ = ("digits",)

    def __init__(self, digits: str) -> None:
        self.digits = digits

    def __repr__(self) -> str:
        return f"OversizeInteger({self.digits[:20]}...)"


def has_long_digits(data: bytes) -> bool:
    """Whether the text holds 19 digits in a row: the only way to write an integer that orjson
    would read as a float (a negative one past 64 bits has 19). Digits inside a string or a
    float also count; the exact path then merely costs more."""
    return _NINETEEN_DIGITS in data.translate(_DIGITS_AS_ZEROS)


def loads(data: bytes) -> Any:
    """The value of JSON text, every integer exact. Raises orjson.JSONDecodeError as
    orjson.loads does (malformed text, NaN, or nesting deeper than PARSER_MAX_DEPTH)."""
    if not has_long_digits(data):
        return orjson.loads(data)
    return _loads_long_integers(data)


def _loads_long_integers(data: bytes) -> Any:
    # Each long integer outside a string is written as a string that starts with a random tag,
    # read by orjson, then turned back into the integer. Whether a match is inside a string is
    # told by the number of quotes before it, once escaped backslashes and escaped quotes are
    # blanked out (same length, so positions stay).
    plain = data.replace(b"\\\\", b"__").replace(b'\\"', b"__")
    tag = secrets.token_hex(8)
    pieces: list[bytes] = []
    start = at = quotes = 0
    for match in _LONG_INTEGER.finditer(plain):
        quotes += plain.count(b'"', at, match.start())
        at = match.start()
        if quotes % 2:
            continue
        pieces += (data[start : match.start()], b'"', tag.encode(), match.group(), b'"')
        start = match.end()
    if not pieces:
        return orjson.loads(data)
    pieces.append(data[start:])
    value = orjson.loads(b"".join(pieces))
    if isinstance(value, str):
        return _integer(value, tag)
    stack: list[Any] = [value]
    while stack:
        container = stack.pop()
        entries = container.items() if isinstance(container, dict) else enumerate(container)
        for key, item in entries:
            if isinstance(item, str):
                if item.startswith(tag):
                    container[key] = _integer(item, tag)  # same key: the dict keeps its size
            elif isinstance(item, dict | list):
                stack.append(item)
    return value


def _integer(text: str, tag: str) -> Any:
    if not text.startswith(tag):
        return text
    digits = text[len(tag) :]
    limit = sys.get_int_max_str_digits()
    if limit and len(digits.lstrip("-")) > limit:
        return OversizeInteger(digits)
    return int(digits)


@dataclass(frozen=True, slots=True)
class Written:
    text: str
    depth: int  # objects and arrays nested, the outermost counting as 1 (0 for a scalar)
    oversize: bool  # holds an OversizeInteger


def dumps(value: Any) -> str:
    """JSON text of a parsed value, whatever its depth or integers (others become strings)."""
    try:
        return orjson.dumps(value, default=_as_text).decode()
    except TypeError:  # nested too deep, or an integer past 64 bits or oversize
        return write(value).text


def _as_text(value: Any) -> str:
    if isinstance(value, OversizeInteger):
        raise TypeError("an oversize integer")  # written by `write`, as digits
    return str(value)


def write(value: Any) -> Written:
    """JSON text of a value, as orjson would write it, with its depth; without recursion."""
    out: list[str] = []
    deepest = 0
    oversize = False
    # (True, text) to write as is, (False, value, depth of the value) to write as JSON.
    pending: list[tuple[Any, ...]] = [(False, value, 1)]
    while pending:
        entry = pending.pop()
        if entry[0]:
            out.append(entry[1])
            continue
        item, level = entry[1], entry[2]
        if isinstance(item, dict | list | tuple):
            deepest = max(deepest, level)
            parts: list[tuple[Any, ...]] = []
            if isinstance(item, dict):
                parts.append((True, "{"))
                for position, (key, member) in enumerate(item.items()):
                    comma = "," if position else ""
                    parts.append((True, comma + orjson.dumps(str(key)).decode() + ":"))
                    parts.append((False, member, level + 1))
                parts.append((True, "}"))
            else:
                parts.append((True, "["))
                for position, member in enumerate(item):
                    if position:
                        parts.append((True, ","))
                    parts.append((False, member, level + 1))
                parts.append((True, "]"))
            pending.extend(reversed(parts))
        elif isinstance(item, OversizeInteger):
            oversize = True
            out.append(item.digits)
        elif isinstance(item, int) and not isinstance(item, bool):
            out.append(str(item))
        else:
            out.append(orjson.dumps(item, default=_as_text).decode())
    return Written("".join(out), deepest, oversize)
