"""Text folding shared by storage and lookup, so both sides compare the same form."""

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
