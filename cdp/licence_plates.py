"""Dutch and Belgian licence plates: one spelling for whatever was typed.

No maintained library validates these formats (PyPI has plate *recognition* from images and an
RDW lookup client, which needs the network), so this is a small table of shapes. A plate is
upper-cased, stripped of spaces, dashes and dots, and matched against the shapes below; the
canonical form puts the dashes back where the plate has them: "12abc3", "12 ABC 3" and
"12-abc-3" are all "12-ABC-3".

Shapes (L a letter, D a digit), each with the length of its groups:
- the Netherlands, sidecodes 1 to 14 of the RDW: six characters in three groups
  (XX-99-99 ... 999-XX-9). Only the shape is checked, not the letters the RDW leaves out
  (vowels, C, Q): old and special plates use them, and a customer's plate is not refused for it.
- Belgium: 1-ABC-123 (since 2010), and the older ABC-123 (1973-2008) and 123-ABC (2008-2010),
  still on cars because a Belgian plate follows its owner, not the car.
No two shapes have the same sequence of letters and digits, so the compact form decides the
groups; a plate of seven characters is Belgian, of six Dutch unless it is one of the two older
Belgian shapes (three letters and three digits, which no Dutch sidecode has).

A plate is not an identity: plates change hands (a trade-in is sold on; a Belgian plate moves
with its owner to the next car), so lookup finds by plate but nothing is ever merged by it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# (country, groups): each group a letter (L) or digit (D) run of that length.
_SHAPES: tuple[tuple[str, str], ...] = (
    ("NL", "LL-DD-DD"),  # sidecode 1
    ("NL", "DD-DD-LL"),  # 2
    ("NL", "DD-LL-DD"),  # 3
    ("NL", "LL-DD-LL"),  # 4
    ("NL", "LL-LL-DD"),  # 5
    ("NL", "DD-LL-LL"),  # 6
    ("NL", "DD-LLL-D"),  # 7
    ("NL", "D-LLL-DD"),  # 8
    ("NL", "LL-DDD-L"),  # 9
    ("NL", "L-DDD-LL"),  # 10
    ("NL", "LLL-DD-L"),  # 11
    ("NL", "L-DD-LLL"),  # 12
    ("NL", "D-LL-DDD"),  # 13
    ("NL", "DDD-LL-D"),  # 14
    ("BE", "D-LLL-DDD"),
    ("BE", "LLL-DDD"),
    ("BE", "DDD-LLL"),
)
_SEPARATORS = re.compile(r"[\s.\-_/]+")
_PLATE_CHARS = re.compile(r"^[A-Z0-9]{6,7}$")


@dataclass(frozen=True, slots=True)
class Plate:
    country: str  # "NL" or "BE"
    text: str  # the canonical, dashed form: "12-ABC-3"


def _signature(compact: str) -> str:
    return "".join("D" if ch.isdigit() else "L" for ch in compact)


_BY_SIGNATURE = {shape.replace("-", ""): (country, shape) for country, shape in _SHAPES}


def parse_plate(raw: str | None) -> Plate | None:
    """The plate typed, in its canonical form, or None when it is not a Dutch or Belgian one."""
    if not isinstance(raw, str):
        return None
    compact = _SEPARATORS.sub("", raw.strip().upper())
    if not _PLATE_CHARS.match(compact):
        return None
    found = _BY_SIGNATURE.get(_signature(compact))
    if found is None:
        return None
    country, shape = found
    parts, at = [], 0
    for group in shape.split("-"):
        parts.append(compact[at : at + len(group)])
        at += len(group)
    return Plate(country, "-".join(parts))


def normalise_plate(raw: str | None) -> str | None:
    """The canonical form of a Dutch or Belgian plate ("12abc3" -> "12-ABC-3"), else None."""
    plate = parse_plate(raw)
    return plate.text if plate else None
