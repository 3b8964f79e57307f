"""Text folding shared by storage and lookup, so both sides compare the same form; and the
few helpers that write numbers with their nouns in what people read."""

import re
import unicodedata
from typing import Any

# Letters that Unicode does not decompose into a base letter and an accent, spelt as someone
# without them on their keyboard would: "Søren Ødegård" -> "soren odegard", "Straße" ->
# "strasse", "Łukasz" -> "lukasz". Applied after decomposition, so that a stored value folded
# before these were added is refolded by replacing just these letters (migration 0004).
FOLDED_LETTERS = {
    "\u0131": "i",  # Turkish dotless i (the dotted capital decomposes to i and a dot)
    "ø": "o",
    "ł": "l",
    "đ": "d",
    "ð": "d",
    "þ": "th",
    "ß": "ss",
    "æ": "ae",
    "œ": "oe",
    "ħ": "h",
    "ŧ": "t",
}
_FOLDED_LETTERS = str.maketrans(FOLDED_LETTERS)


def fold(text: str) -> str:
    """'  Müller-Lüdenscheidt ' -> 'muller-ludenscheidt': lower-case, accents removed, and the
    letters of FOLDED_LETTERS spelt in plain ASCII ('Łukasz Øster' -> 'lukasz oster')."""
    decomposed = unicodedata.normalize("NFKD", text.strip().lower())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return plain.translate(_FOLDED_LETTERS)


# One spelling for the sounds Dutch and Flemish write several ways, in this order: "sch" before
# "ch", "ck" before "c", "dt" before a final "d".
_DUTCH_SOUNDS = (
    ("sch", "s"), ("ch", "g"), ("ph", "f"), ("th", "t"), ("ck", "k"), ("qu", "kw"), ("c", "k"),
    ("x", "ks"), ("dt", "t"), ("ae", "a"), ("uij", "ui"), ("uy", "ui"), ("ij", "ei"),
    ("y", "ei"), ("ou", "au"),
)  # fmt: skip
_DOUBLED = re.compile(r"(.)\1+")


def dutch_spelling(word: str) -> str:
    """A folded word as it sounds in Dutch, so that its spellings compare equal: "meijer",
    "meyer" and "meier"; "claes" and "klaas"; "hendrickx" and "hendriks"; "de smedt" and
    "de smet"; "philips" and "filips"; "schouten" and "souten"; "goossens" and "gosens"."""
    for written, sound in _DUTCH_SOUNDS:
        word = word.replace(written, sound)
    if word.endswith("d"):
        word = word[:-1] + "t"
    return _DOUBLED.sub(r"\1", word)


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


def nul_character_at(value: Any, path: str = "") -> str | None:
    """Where a NUL character (\\u0000, valid JSON) sits in a message, or None. PostgreSQL
    stores it neither in text nor in JSON, so it would fail the whole transaction.

    Walked with a stack of its own, not by recursion: a document nested up to the parser's
    1,024 levels would exhaust Python's call stack (a 500 instead of a 400)."""
    # (kind, value, path): "key" entries are checked before the value they name, in order.
    pending: list[tuple[str, Any, str]] = [("value", value, path)]
    while pending:
        kind, current, where = pending.pop()
        if kind == "key":
            if "\x00" in str(current):
                return where.replace("\x00", "\\u0000")
        elif isinstance(current, str):
            if "\x00" in current:
                return where or "message"
        elif isinstance(current, dict):
            for key, item in reversed(current.items()):
                name = f"{where}.{key}" if where else str(key)
                pending.append(("value", item, name))
                pending.append(("key", key, name))
        elif isinstance(current, list):
            for position in range(len(current) - 1, -1, -1):
                pending.append(("value", current[position], f"{where}[{position}]"))
    return None


def plural(count: float, singular: str, plural_form: str | None = None) -> str:
    """The noun that goes with `count`, as written after the number: one day, 0 days, 3 days,
    1.5 days. `plural_form` where adding an s is wrong (plural(2, "delivery", "deliveries")).
    Give the number as shown: for a value shown rounded, the rounded value."""
    if count == 1:
        return singular
    return plural_form if plural_form is not None else singular + "s"


def counted(count: int, label: str) -> str:
    """'1 delivery', '2 search rows': `count` with a label written in the plural (the keys of
    a person's data, the counts of an erasure), made singular for one."""
    if count != 1:
        return f"{count} {label}"
    if label.endswith("ies"):
        return f"1 {label[:-3]}y"
    return f"1 {label[:-1] if label.endswith('s') else label}"


# Text rules for values that staff pages render from what anyone with a public write key sent.
HEX_COLOUR = re.compile(r"#[0-9A-Fa-f]{6}")


def web_address(value: str | None) -> str | None:
    """The value if it is an http(s) address, else None: staff pages link to addresses that
    anyone with the public write key can send, so never javascript: or data:."""
    ok = value is not None and value.strip().lower().startswith(("https://", "http://"))
    return value.strip() if ok and value is not None else None


def hex_colour_or_none(value: str | None) -> str | None:
    return value if value is not None and HEX_COLOUR.fullmatch(value) else None
