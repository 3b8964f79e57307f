"""Text folding shared by storage and lookup, so both sides compare the same form."""

import re
import unicodedata
from typing import Any


def fold(text: str) -> str:
    """'  Müller-Lüdenscheidt ' -> 'muller-ludenscheidt': lower-case, accents removed."""
    decomposed = unicodedata.normalize("NFKD", text.strip().lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def search_text(value: Any) -> str | None:
    """The searchable form of a trait value: strings only, at most 200 characters."""
    if isinstance(value, str) and value.strip():
        return fold(value)[:200]
    return None


_NL_POSTAL = re.compile(r"^(\d{4})([A-Z]{2})$")


def postal_code(raw: str) -> str:
    """One spelling for display and matching: "3511ab" and "3511 AB" -> "3511 AB"; BE "1000"."""
    compact = re.sub(r"\s+", "", raw).upper()[:20]
    match = _NL_POSTAL.match(compact)
    return f"{match.group(1)} {match.group(2)}" if match else compact
