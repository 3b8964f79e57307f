"""A place typed with a name ("jansen 5612", "jansen eindhoven"): found in the query, and the
filter that narrows names to the customers there."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists, func, literal, select, union_all
from sqlalchemy.orm import Session

from cdp.models import ProfileSearch


@dataclass(frozen=True, slots=True)
class Place:
    """Where the customer lives, typed with the name: "jansen 5612", "jansen eindhoven"."""

    postal: str | None  # the four digits of a postal code
    towns: tuple[str, ...]  # lower-cased town names, as profile_search.city lower-cased holds


_POSTAL_PART = re.compile(r"^(\d{4})([a-z]{2})?$")


def place_in(session: Session, folded: str, lower: str) -> tuple[str, Place | None]:
    """The name part of a query and the place typed with it, if any: a postal code (its four
    digits), or one or two words at either end that are a stored town (lower(city), indexed),
    as typed or without accents ("liège", "liege")."""
    words = [w for w in re.split(r"[\s,]+", folded) if w]
    postal = next((m.group(1) for w in words if (m := _POSTAL_PART.match(w))), None)
    words = [w for w in words if not _POSTAL_PART.match(w)]
    typed = [w for w in re.split(r"[\s,]+", lower) if w and not _POSTAL_PART.match(w)]
    towns: tuple[str, ...] = ()
    if len(words) >= 2:
        ends: dict[str, int] = {}  # a town as it may be stored: how many words it takes
        for ws in (words, typed) if len(typed) == len(words) else (words,):
            for n in (1, 2):
                if n < len(ws):
                    ends[" ".join(ws[-n:])] = -n
                    ends[" ".join(ws[:n])] = n
        town_of = func.lower(ProfileSearch.city)
        # One statement, an index probe per end: a DISTINCT would read every customer of a big
        # town, and a statement per end costs a round trip each.
        probes = [
            select(literal(end)).where(exists().where(town_of == end)) for end in sorted(ends)
        ]
        known = set(session.scalars(union_all(*probes)))
        if known:  # the longest town named at an end
            town = max(known, key=lambda t: (abs(ends[t]), t))
            towns = (town,)
            n = ends[town]
            words = words[n:] if n > 0 else words[:n]
    if postal is None and not towns:
        return folded, None
    return " ".join(words), Place(postal, towns)


def place_filter(place: Place | None) -> list[Any]:
    if place is None:
        return []
    where: list[Any] = []
    if place.postal:  # a range, so that the btree index serves it whatever the collation
        upper = str(int(place.postal) + 1).zfill(4)
        where += [ProfileSearch.postal_code >= place.postal, ProfileSearch.postal_code < upper]
    if place.towns:
        where.append(func.lower(ProfileSearch.city).in_(place.towns))
    return where
