"""Lookup by what identifies a customer exactly: e-mail, phone (in any usual format, in each of
the configured regions), configuration code (its hyphen optional), licence plate (canonical,
cdp.licence_plates) and postal code; and keeping only the people active at the caller's
dealers."""

from __future__ import annotations

import re
import uuid
from functools import cache, lru_cache
from typing import Any

import phonenumbers
from sqlalchemy import Executable, bindparam, select
from sqlalchemy.orm import Session

from cdp.dealers.visibility import activity_at
from cdp.identity.identifiers import normalise_code, normalise_phone
from cdp.models import Identity, Profile, ProfileSearch
from cdp.sql import among, any_of, dialect_of
from cdp.text import postal_code


def code_spellings(query: str) -> list[str]:
    """A code as typed, and with its hyphen wherever it may have been left out: "nw3cz8ra"
    and "NW 3CZ8RA" also try "NW-3CZ8RA" (a handful of values for one unique index)."""
    typed = normalise_code(query)
    compact = re.sub(r"[\s\-]+", "", typed)
    spellings = [typed, compact]
    if len(compact) <= 24:
        spellings += [f"{compact[:cut]}-{compact[cut:]}" for cut in range(1, len(compact))]
    return list(dict.fromkeys(spellings))


@lru_cache(maxsize=4096)
def _valid_in_regions(raw: str, regions: str) -> tuple[str, ...]:
    found = []
    for region in [r.strip().upper() for r in regions.split(",") if r.strip()] or ["NL"]:
        try:
            number = phonenumbers.parse(raw, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            found.append(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
    return tuple(dict.fromkeys(found))


def phone_values(raw: str, regions: str) -> list[str]:
    """The E.164 numbers a typed phone number may be, most likely first.

    A number written without a country code is looked up in every configured region where it
    is valid, in the regions' order: "0475 12 34 56" is a Belgian mobile and, read as Dutch, a
    valid number in Roermond, and ingest stored it as whichever the first valid region made of
    it (a Belgian mobile typed on a Dutch site) or as typed with its country code.
    """
    values = list(_valid_in_regions(raw.strip(), regions))
    if not values:
        fallback = normalise_phone(raw, regions)  # possible, if not valid, in the first region
        values = [fallback] if fallback else []
    return values


# The statements of the identifiers, built once per dialect and run on the connection, past
# the ORM's execution layer: a few hundred µs of Python less per search (cdp/sql.py's any_of).
@cache
def _identifier_statement(dialect: str) -> Executable:
    return select(Identity.value, Identity.profile_id).where(
        any_of(Identity.value, "values", dialect), Identity.kind == bindparam("kind")
    )


@cache
def _plate_statement() -> Executable:
    return (
        select(ProfileSearch.profile_id)
        .where(ProfileSearch.plate == bindparam("plate"))
        .limit(bindparam("limit"))
    )


def by_identifier(session: Session, kind: str, values: list[str]) -> list[uuid.UUID]:
    """The profiles with these values of a kind, the first value's first."""
    found = session.connection().execute(
        _identifier_statement(dialect_of(session)), {"values": values, "kind": kind}
    )
    return [pid for _, pid in sorted(found, key=lambda row: values.index(row[0]))]


def by_plate(session: Session, plate: str, limit: int) -> list[uuid.UUID]:
    """The customers whose car has this plate (canonical); more than one when it changed hands."""
    found = session.connection().execute(_plate_statement(), {"plate": plate, "limit": limit})
    return list(found.scalars())


def active_only(session: Session, ids: list[uuid.UUID], dealers: frozenset[int]) -> list[uuid.UUID]:
    if not ids:
        return []
    kept = set(
        session.scalars(
            select(Profile.id).where(
                among(session, Profile.id, ids), activity_at(Profile.id, dealers)
            )
        )
    )
    return [pid for pid in ids if pid in kept]


def dealer_filter(dealers: frozenset[int] | None) -> list[Any]:
    return [] if dealers is None else [activity_at(ProfileSearch.profile_id, dealers)]


def by_postal_code(
    session: Session, folded: str, limit: int, dealers: frozenset[int] | None = None
) -> list[uuid.UUID]:
    return list(
        session.scalars(
            select(ProfileSearch.profile_id)
            .where(ProfileSearch.postal_code == postal_code(folded), *dealer_filter(dealers))
            # By name: the same first page every time, on either database (was any 20).
            .order_by(ProfileSearch.name_folded, ProfileSearch.profile_id)
            .limit(limit)
        )
    )
