"""Months and euro amounts as people type them on the page and in spreadsheets.

A month is "2026-03" (ISO), "03-2026" or "3/2026" (as Dutch and Belgian spreadsheets write it),
or a first day "2026-03-01". An amount is euros with at most two decimals, written either way:
"1.234,56" (Dutch) or "1,234.56" / "1234.56" (English). Where both separators appear, the last
is the decimal one. A lone separator followed by exactly three digits ("1.234", "1,234") is
refused as ambiguous (a thousand euros, or one euro?) rather than guessed.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation

from cdp.errors import InvalidInput

MAX_AMOUNT = Decimal("100000000")  # a hundred million: beyond it, a typing mistake
_YEAR_FIRST = re.compile(r"(\d{4})[-/.](\d{1,2})(?:[-/.](\d{1,2}))?")
_MONTH_FIRST = re.compile(r"(\d{1,2})[-/.](\d{4})")
_THOUSANDS = re.compile(r"\d{1,3}(?:[.,]\d{3})+")


def parse_month(raw: str, *, field: str = "month") -> date:
    """The first day of the month written in `raw`, or InvalidInput naming the field."""
    text = raw.strip()
    day = None
    if match := _YEAR_FIRST.fullmatch(text):
        year, month, day = int(match[1]), int(match[2]), match[3]
    elif match := _MONTH_FIRST.fullmatch(text):
        year, month = int(match[2]), int(match[1])
    else:
        raise InvalidInput(
            f"{text!r} is not a month: write it as 2026-03 or 03-2026."
            if text
            else "Give the month, as 2026-03 or 03-2026.",
            field=field,
        )
    if not 1 <= month <= 12:
        raise InvalidInput(f"{text!r} is not a month: write it as 2026-03 or 03-2026.", field=field)
    if not 2000 <= year <= 2100:
        raise InvalidInput(f"{text!r} is not a month between 2000 and 2100.", field=field)
    if day is not None and int(day) != 1:
        raise InvalidInput(
            f"{text!r}: spend is per month; give the month (2026-03) or its first day.",
            field=field,
        )
    return date(year, month, 1)


def parse_amount(raw: str, *, field: str = "amount") -> Decimal:
    """Euros as a Decimal with two places, or InvalidInput saying how to write it."""
    text = raw.strip().replace("€", "").replace("EUR", "").replace(" ", "").replace("\u00a0", "")
    if not text:
        raise InvalidInput("Give the amount in euros, e.g. 1234,56.", field=field)
    if text.startswith("-"):
        raise InvalidInput("An amount spent cannot be negative.", field=field)
    number = _plain_number(text, field)
    try:
        value = Decimal(number)
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite():
        raise InvalidInput(
            f"{raw.strip()!r} is not an amount: write euros as 1234,56 or 1.234,56.", field=field
        )
    if value >= MAX_AMOUNT:
        raise InvalidInput("That amount is too large for one month's spend.", field=field)
    return value.quantize(Decimal("0.01"))


def _plain_number(text: str, field: str) -> str:
    """`text` with its thousands separators dropped and a '.' as decimal point."""
    commas, dots = text.count(","), text.count(".")
    if commas and dots:
        decimal_mark = "," if text.rfind(",") > text.rfind(".") else "."
        whole, _, cents = text.rpartition(decimal_mark)
        if not _THOUSANDS.fullmatch(whole) or len(cents) > 2:
            raise _bad(text, field)
        return whole.replace(",", "").replace(".", "") + "." + cents
    mark = "," if commas else "." if dots else ""
    if not mark:
        if not text.isdigit():
            raise _bad(text, field)
        return text
    if commas + dots > 1:  # "1.234.567": thousands only
        if not _THOUSANDS.fullmatch(text):
            raise _bad(text, field)
        return text.replace(mark, "")
    whole, _, cents = text.partition(mark)
    if len(cents) == 3:
        raise InvalidInput(
            f"{text!r} is ambiguous: write 1234 or 1.234,00 for a thousand euros, 1,23 for one.",
            field=field,
        )
    if not whole.isdigit() or not cents.isdigit() or len(cents) > 2:
        raise _bad(text, field)
    return f"{whole}.{cents}"


def _bad(text: str, field: str) -> InvalidInput:
    return InvalidInput(
        f"{text!r} is not an amount: write euros as 1234,56 or 1.234,56, at most two decimals.",
        field=field,
    )


def euros(value: Decimal | None) -> str:
    """An amount as the pages show it: "€ 1.234,56" (Dutch grouping); "–" for none."""
    if value is None:
        return "–"
    whole, _, cents = f"{value:,.2f}".partition(".")
    return f"€ {whole.replace(',', '.')},{cents}"


def euros_plain(value: Decimal | None) -> str:
    """An amount for a CSV cell: "1234.56" (a spreadsheet reads it either way round)."""
    return "" if value is None else f"{value:.2f}"
