"""Which kind of query was typed, and the lookup that answers it (see the package's docstring)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Collection
from string import capwords

from sqlalchemy.orm import Session

from cdp.identity.identifiers import normalise_code, normalise_email
from cdp.licence_plates import normalise_plate
from cdp.profiles.lookup.identifiers import (
    active_only,
    by_identifier,
    by_plate,
    by_postal_code,
    code_spellings,
    phone_values,
)
from cdp.profiles.lookup.names_postgres import by_name_postgres
from cdp.profiles.lookup.names_sqlite import by_name_sqlite
from cdp.profiles.lookup.places import place_in
from cdp.profiles.lookup.results import Lookup, LookupResult, result_lines
from cdp.sql import dialect_of
from cdp.text import fold

_POSTAL_CODE = re.compile(r"^(\d{4}\s?[a-z]{2}|\d{4})$")  # NL "1234 AB", BE "1000"
_CODE_LIKE = re.compile(r"^[A-Z0-9][A-Z0-9\-]{3,}$")


def lookup(
    session: Session,
    query: str,
    *,
    phone_region: str,
    limit: int = 20,
    active_at: Collection[int] | None = None,
) -> Lookup:
    """`active_at`: only people with activity at these dealers (customers not shared across
    dealers, cdp/dealers/visibility.py); None finds everyone, at no extra cost."""
    q = query.strip()[:200]
    dealers = frozenset(active_at) if active_at is not None else None
    folded = fold(q)
    ids: list[uuid.UUID] = []
    results: list[LookupResult] | None = None
    matched_by: str | None = None
    place_not_found: str | None = None
    if "@" in q:
        email = normalise_email(q)
        if email:
            ids, matched_by = by_identifier(session, "email", [email]), "email"
    if not ids and sum(ch.isdigit() for ch in q) >= 6:
        phones = phone_values(q, phone_region)
        if phones:
            ids, matched_by = by_identifier(session, "phone", phones), "phone"
    code_like = _CODE_LIKE.match(normalise_code(q)) or (
        any(ch.isdigit() for ch in q) and _CODE_LIKE.match(re.sub(r"\s+", "", normalise_code(q)))
    )
    if not ids and code_like:
        ids = by_identifier(session, "config_code", code_spellings(q))
        matched_by = "configuration code"
    plate = normalise_plate(q)
    if not ids and plate:  # before postal codes: "1234 AB" may be a plate of sidecode 2
        ids, matched_by = by_plate(session, plate, limit), "licence plate"
    if not ids and _POSTAL_CODE.match(folded):
        ids, matched_by = by_postal_code(session, folded, limit, dealers), "postal code"
    if not ids and "@" not in q and any(ch.isalpha() for ch in folded):
        matched_by = "name"
        name, place = place_in(session, folded, q.lower())
        # A place typed after the name: its last word was typed whole, not still being typed.
        open_ended = place is None or not place.last
        for where in [place, None] if place else [None]:  # a place that narrows to nobody
            if dialect_of(session) == "postgresql":  # was no place (a house number, ...)
                results = by_name_postgres(
                    session, name, limit, where, dealers, open_ended=open_ended
                )
            else:
                ids = by_name_sqlite(session, name, limit, where, dealers, open_ended=open_ended)
            if results or ids:
                if where is None and place is not None:
                    place_not_found = place.postal or capwords(place.towns[0])
                break
    if results is None:
        wanted = list(dict.fromkeys(ids))
        if dealers is not None and matched_by not in ("postal code", "name"):
            wanted = active_only(session, wanted, dealers)  # the few an identifier found
        results = result_lines(session, wanted[:limit])
    return Lookup(
        query=q,
        matched_by=matched_by if results else None,
        results=results,
        place_not_found=place_not_found if results else None,
    )
