"""A place typed with a name ("jansen 5612", "jansen eindhoven"): found in the query, and the
filter that narrows names to the customers there."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists, func, literal, select, union_all
from sqlalchemy.orm import Session

from cdp.models import ProfileSearch
from cdp.sql import dialect_of


@dataclass(frozen=True, slots=True)
class Place:
    """Where the customer lives, typed with the name: "jansen 5612", "jansen eindhoven"."""

    postal: str | None  # the four digits of a postal code
    towns: tuple[str, ...]  # lower-cased town names, as profile_search.city lower-cased holds
    # Typed after the name ("jansen eindhoven", "jansen 5612"): the name's last word is whole.
    last: bool = False


_POSTAL_PART = re.compile(r"^(\d{4})([a-z]{2})?$")


def _postal_joined(words: list[str]) -> list[str]:
    """A Dutch postal code typed with its space ("5627 vn") as one word: its letters are no
    name word (they narrowed "jan janssen 5627 vn" to names holding a correction of "vn")."""
    joined: list[str] = []
    for word in words:
        if joined and re.fullmatch(r"\d{4}", joined[-1]) and re.fullmatch(r"[a-z]{2}", word):
            joined[-1] += word
        else:
            joined.append(word)
    return joined


def place_in(session: Session, folded: str, lower: str) -> tuple[str, Place | None]:
    """The name part of a query and the place typed with it, if any: a postal code (its four
    digits), or one or two words at either end that are a stored town (lower(city), indexed),
    as typed or without accents ("liège", "liege")."""
    words = _postal_joined([w for w in re.split(r"[\s,]+", folded) if w])
    postal = next((m.group(1) for w in words if (m := _POSTAL_PART.match(w))), None)
    last = bool(words) and _POSTAL_PART.match(words[-1]) is not None
    words = [w for w in words if not _POSTAL_PART.match(w)]
    typed = [
        w
        for w in _postal_joined([w for w in re.split(r"[\s,]+", lower) if w])
        if not _POSTAL_PART.match(w)
    ]
    towns: tuple[str, ...] = ()
    if len(words) >= 2:
        ends: dict[str, int] = {}  # a town as it may be stored: how many words it takes
        for ws in (words, typed) if len(typed) == len(words) else (words,):
            for n in (1, 2):
                if n < len(ws):
                    ends[" ".join(ws[-n:])] = -n
                    ends[" ".join(ws[:n])] = n
        known = _towns_among(session, sorted(ends))
        if known:  # the longest town named at an end
            town = max(known, key=lambda t: (abs(ends[t]), t))
            towns = (town,)
            n = ends[town]
            words = words[n:] if n > 0 else words[:n]
            last = last or n < 0
    if postal is None and not towns:
        return folded, None
    return " ".join(words), Place(postal, towns, last)


# One statement, an index probe per end: a DISTINCT would read every customer of a big town, and
# a statement per end costs a round trip each.
_TOWNS_SQL = (
    "SELECT e FROM unnest(%s::text[]) AS e "
    "WHERE EXISTS (SELECT FROM profile_search WHERE lower(city) = e)"
)


def _towns_among(session: Session, ends: list[str]) -> set[str]:
    """The ends that are a stored town (lower-cased).

    On PostgreSQL never as a prepared statement: a generic plan (which psycopg's prepared
    statements get after a few calls) cannot tell a big town from a word that is no town, and
    looks for either with a sequential scan that stops at the first row: at once for
    "eindhoven", after reading all 1,000,000 customers for "jansen". Planned for the words
    typed, each is one probe of the index on lower(city).
    """
    if dialect_of(session) == "postgresql":
        driver = session.connection().connection.driver_connection
        assert driver is not None  # a live connection: the session just checked it out
        with driver.cursor() as cursor:
            cursor.execute(_TOWNS_SQL, [ends], prepare=False)
            return {row[0] for row in cursor.fetchall()}
    town_of = func.lower(ProfileSearch.city)
    probes = [select(literal(end)).where(exists().where(town_of == end)) for end in ends]
    return set(session.scalars(union_all(*probes)))


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
