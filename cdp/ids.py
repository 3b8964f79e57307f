"""Whole numbers typed into page addresses, query strings and forms: ids, page numbers, counts.

Read here, once, because `str.isdigit()` is not the test it looks like: it is true for "²" and
"٣", which `int()` then refuses (a 500) or reads as a digit nobody typed. And an id too large for
its column is not "no such row" to PostgreSQL but an error that fails the request.
"""

from __future__ import annotations

import re

# The largest id of the tables with integer keys (leads, appointments, deliveries, notes, staff
# users, segments, segment runs, audiences, tablet sessions): PostgreSQL's 32-bit `integer`.
MAX_ROW_ID = 2**31 - 1

_ASCII_DIGITS = re.compile(r"[0-9]+")


def whole_number(text: str, *, most: int) -> int | None:
    """`text` as a whole number from 0 to `most` if it is ASCII digits only, else None."""
    if not _ASCII_DIGITS.fullmatch(text):
        return None
    # Compare lengths first: int() of thousands of digits is slow, and refused past 4300.
    if len(text.lstrip("0")) > len(str(most)):
        return None
    value = int(text)
    return value if value <= most else None


def row_id(text: str) -> int | None:
    """An id that can name a row of an integer-keyed table, or None: no such row can exist."""
    return whole_number(text, most=MAX_ROW_ID)
