"""Finding a customer in seconds: by e-mail, phone, configuration code, postal code or name.

Names are matched typo- and accent-tolerantly and in any order: on PostgreSQL with trigram
similarity (pg_trgm, indexed); on SQLite by scoring the projection's names with rapidfuzz.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime

from rapidfuzz import fuzz
from sqlalchemy import func, literal, or_, select
from sqlalchemy.orm import Session

from cdp.identity.identifiers import normalise_code, normalise_email, normalise_phone
from cdp.identity.repository import dialect_of
from cdp.models import Identity, Profile, ProfileSearch
from cdp.text import fold, postal_code

_POSTAL_CODE = re.compile(r"^(\d{4}\s?[a-z]{2}|\d{4})$")  # NL "1234 AB", BE "1000"
_CODE_LIKE = re.compile(r"^[A-Z0-9][A-Z0-9\-]{3,}$")
_MIN_TOKEN_SCORE = 75.0


@dataclass(frozen=True, slots=True)
class LookupResult:
    profile_id: uuid.UUID
    name: str | None
    email: str | None
    phone: str | None
    postal_code: str | None
    city: str | None
    latest_model: str | None
    latest_colour: str | None
    latest_colour_hex: str | None
    lead_stage: str | None
    last_seen_at: datetime


@dataclass(frozen=True, slots=True)
class Lookup:
    query: str
    matched_by: str | None
    results: list[LookupResult]


def _by_identifier(session: Session, kind: str, value: str) -> list[uuid.UUID]:
    return list(
        session.scalars(
            select(Identity.profile_id).where(Identity.value == value, Identity.kind == kind)
        )
    )


def _by_postal_code(session: Session, folded: str, limit: int) -> list[uuid.UUID]:
    return list(
        session.scalars(
            select(ProfileSearch.profile_id)
            .where(ProfileSearch.postal_code == postal_code(folded))
            .limit(limit)
        )
    )


def _name_score(query_tokens: list[str], name: str) -> float:
    """Every query token must match some name token (prefix, or a close spelling)."""
    name_tokens = name.split()
    worst = 100.0
    for token in query_tokens:
        best = 0.0
        for candidate in name_tokens:
            if candidate.startswith(token):
                best = 100.0
                break
            best = max(best, fuzz.ratio(token, candidate))
        worst = min(worst, best)
    return worst


def _by_name_sqlite(session: Session, folded: str, limit: int) -> list[uuid.UUID]:
    tokens = [t for t in re.split(r"[\s,]+", folded) if t]
    scored = []
    for pid, name in session.execute(
        select(ProfileSearch.profile_id, ProfileSearch.name_folded).where(
            ProfileSearch.name_folded.is_not(None)
        )
    ):
        score = _name_score(tokens, name or "")
        if score >= _MIN_TOKEN_SCORE:
            scored.append((score, pid))
    scored.sort(key=lambda pair: -pair[0])
    return [pid for _, pid in scored[:limit]]


def _by_name_postgres(session: Session, folded: str, limit: int) -> list[uuid.UUID]:
    if len(folded) < 3:  # too few trigrams to be selective: a plain prefix match
        return list(
            session.scalars(
                select(ProfileSearch.profile_id)
                .where(ProfileSearch.name_folded.startswith(folded, autoescape=True))
                .limit(limit)
            )
        )
    q = literal(folded)
    name = ProfileSearch.name_folded
    score = func.greatest(func.similarity(name, q), func.word_similarity(q, name))
    return list(
        session.scalars(
            select(ProfileSearch.profile_id)
            .where(or_(name.op("%")(q), q.op("<%")(name)))
            .order_by(score.desc())
            .limit(limit)
        )
    )


def lookup(session: Session, query: str, *, phone_region: str, limit: int = 20) -> Lookup:
    q = query.strip()[:200]
    folded = fold(q)
    ids: list[uuid.UUID] = []
    matched_by: str | None = None
    if "@" in q:
        email = normalise_email(q)
        if email:
            ids, matched_by = _by_identifier(session, "email", email), "email"
    if not ids and sum(ch.isdigit() for ch in q) >= 6:
        phone = normalise_phone(q, phone_region)
        if phone:
            ids, matched_by = _by_identifier(session, "phone", phone), "phone"
    if not ids and _CODE_LIKE.match(normalise_code(q)):
        ids = _by_identifier(session, "config_code", normalise_code(q))
        matched_by = "configuration code"
    if not ids and _POSTAL_CODE.match(folded):
        ids, matched_by = _by_postal_code(session, folded, limit), "postal code"
    if not ids and "@" not in q and any(ch.isalpha() for ch in folded):
        finder = _by_name_postgres if dialect_of(session) == "postgresql" else _by_name_sqlite
        ids, matched_by = finder(session, folded, limit), "name"
    ids = list(dict.fromkeys(ids))[:limit]
    return Lookup(query=q, matched_by=matched_by if ids else None, results=_results(session, ids))


def _results(session: Session, ids: list[uuid.UUID]) -> list[LookupResult]:
    if not ids:
        return []
    rows = {
        search.profile_id: (search, last_seen)
        for search, last_seen in session.execute(
            select(ProfileSearch, Profile.last_seen_at)
            .join(Profile, Profile.id == ProfileSearch.profile_id)
            .where(ProfileSearch.profile_id.in_(ids))
        )
    }
    missing = [pid for pid in ids if pid not in rows]
    last_seen_only = {
        pid: seen
        for pid, seen in session.execute(
            select(Profile.id, Profile.last_seen_at).where(Profile.id.in_(missing))
        )
    }
    results = []
    for pid in ids:
        if pid in rows:
            s, last_seen = rows[pid]
            results.append(
                LookupResult(
                    profile_id=pid,
                    name=s.name,
                    email=s.email,
                    phone=s.phone,
                    postal_code=s.postal_code,
                    city=s.city,
                    latest_model=s.latest_model,
                    latest_colour=s.latest_colour,
                    latest_colour_hex=s.latest_colour_hex,
                    lead_stage=s.lead_stage,
                    last_seen_at=last_seen,
                )
            )
        elif pid in last_seen_only:  # an anonymous profile found by its configuration code
            results.append(
                LookupResult(
                    profile_id=pid,
                    name=None,
                    email=None,
                    phone=None,
                    postal_code=None,
                    city=None,
                    latest_model=None,
                    latest_colour=None,
                    latest_colour_hex=None,
                    lead_stage=None,
                    last_seen_at=last_seen_only[pid],
                )
            )
    return results
