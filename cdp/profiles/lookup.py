"""Finding a customer in seconds: by e-mail, phone, configuration code, postal code or name.

Names are matched word by word, typo- and accent-tolerantly and in any order. Each typed word is
corrected against the words that stored names are made of: a word that is spelt close enough
(rapidfuzz ratio of at least 75, "ij" and "y" taken as one letter) counts, and the last word
typed may also be the start of a word (the search runs as the salesperson types). A name matches
when it holds, for every typed word that could be corrected, one of its corrections; particles
("van", "de", ...) need not match when other words were typed. Names holding the typed words
exactly come first, then the rest by trigram similarity to the whole query.

On PostgreSQL that is two statements at any size: the typed words against the dictionary of name
words (`name_word`, kept by cdp.profiles.projection), then the names holding the corrections
(a GIN index on the words of `profile_search.name_folded`, migration 0004) ranked and fetched
with everything a result line shows. On SQLite (the embedded default, demo scale) the same rules
run in Python over every stored name.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import phonenumbers
from rapidfuzz import fuzz
from sqlalchemy import TextClause, select, text
from sqlalchemy.orm import Session

from cdp.identity.identifiers import normalise_code, normalise_email, normalise_phone
from cdp.models import Identity, Profile, ProfileSearch
from cdp.profiles.projection import NAME_WORDS_SQL
from cdp.sql import among, dialect_of
from cdp.text import fold, postal_code

_POSTAL_CODE = re.compile(r"^(\d{4}\s?[a-z]{2}|\d{4})$")  # NL "1234 AB", BE "1000"
_CODE_LIKE = re.compile(r"^[A-Z0-9][A-Z0-9\-]{3,}$")

# Name search. The words of a folded name, as NAME_WORDS_SQL splits them in PostgreSQL.
_WORD_SPLIT = re.compile(r"[\s,\-]+")
_MAX_WORDS = 6
_MIN_WORD_SCORE = 75.0  # rapidfuzz ratio of a typed word and a stored word it may stand for
_MIN_PREFIX = 3  # the last word typed also matches the words it starts, from 3 letters on
_TRIGRAM_THRESHOLD = 0.3  # pg_trgm's default similarity_threshold (the `%` operator)
# Names ranked at most: more only when a query names thousands anyway ("jansen", "daan de
# jong"), where the 20 shown are then the best of the first ones found. Names holding every
# typed word exactly are all equally right, so fewer of those need ranking than of the names
# holding corrections, among which the one meant has to be.
_EXACT_CAP = 500
_CLOSE_CAP = 1000
# Particles of surnames: "van", "de" and "der" are in half the names and say little about whom
# the customer is, so a name need not hold them when other words were typed (they still count
# in the ranking). No first names here ("Ben", "Al"): those must match.
_PARTICLES = frozenset(
    {"van", "de", "der", "den", "het", "'t", "t", "ter", "ten", "te", "op", "in", "aan",
     "von", "vom", "zu", "du", "le", "la", "les", "des", "d'", "di", "da", "del", "dos", "el"}
)  # fmt: skip


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


def lookup(session: Session, query: str, *, phone_region: str, limit: int = 20) -> Lookup:
    q = query.strip()[:200]
    folded = fold(q)
    ids: list[uuid.UUID] = []
    results: list[LookupResult] | None = None
    matched_by: str | None = None
    if "@" in q:
        email = normalise_email(q)
        if email:
            ids, matched_by = _by_identifier(session, "email", [email]), "email"
    if not ids and sum(ch.isdigit() for ch in q) >= 6:
        phones = _phone_values(q, phone_region)
        if phones:
            ids, matched_by = _by_identifier(session, "phone", phones), "phone"
    code_like = _CODE_LIKE.match(normalise_code(q)) or (
        any(ch.isdigit() for ch in q) and _CODE_LIKE.match(re.sub(r"\s+", "", normalise_code(q)))
    )
    if not ids and code_like:
        ids = _by_identifier(session, "config_code", _code_spellings(q))
        matched_by = "configuration code"
    if not ids and _POSTAL_CODE.match(folded):
        ids, matched_by = _by_postal_code(session, folded, limit), "postal code"
    if not ids and "@" not in q and any(ch.isalpha() for ch in folded):
        matched_by = "name"
        if dialect_of(session) == "postgresql":
            results = _by_name_postgres(session, folded, limit)
        else:
            ids = _by_name_sqlite(session, folded, limit)
    if results is None:
        results = _results(session, list(dict.fromkeys(ids))[:limit])
    return Lookup(query=q, matched_by=matched_by if results else None, results=results)


# --- identifiers ----------------------------------------------------------------------------
def _code_spellings(query: str) -> list[str]:
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


def _phone_values(raw: str, regions: str) -> list[str]:
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


def _by_identifier(session: Session, kind: str, values: list[str]) -> list[uuid.UUID]:
    if len(values) == 1:
        match = Identity.value == values[0]
    else:  # several: the first value's profiles first
        match = among(session, Identity.value, values)
    found = session.execute(
        select(Identity.value, Identity.profile_id).where(match, Identity.kind == kind)
    ).all()
    return [pid for _, pid in sorted(found, key=lambda row: values.index(row[0]))]


def _by_postal_code(session: Session, folded: str, limit: int) -> list[uuid.UUID]:
    return list(
        session.scalars(
            select(ProfileSearch.profile_id)
            .where(ProfileSearch.postal_code == postal_code(folded))
            .limit(limit)
        )
    )


# --- names: the rules, shared by both databases --------------------------------------------


def _name_words(folded: str) -> list[str]:
    """The words of a folded name or query, each once, in order."""
    return list(dict.fromkeys(w for w in _WORD_SPLIT.split(folded) if w))


@lru_cache(maxsize=65536)
def _word_set(folded_name: str) -> frozenset[str]:
    return frozenset(_name_words(folded_name))


def _spelling(word: str) -> str:
    """Dutch "ij" and "y" are one sound, and often one letter to whoever types: Wijk, Wyk."""
    return word.replace("ij", "y")


def _corrects(typed: str, word: str, last: bool) -> bool:
    """Whether a stored word may be what this typed word stands for."""
    if word == typed or (last and len(typed) >= _MIN_PREFIX and word.startswith(typed)):
        return True
    return fuzz.ratio(_spelling(typed), _spelling(word)) >= _MIN_WORD_SCORE


def _considered(typed: str, word: str, last: bool) -> bool:
    """The stored words the dictionary query (_DICTIONARY) returns for a typed word."""
    return (
        (word[:1] == typed[:1] and abs(len(word) - len(typed)) <= 1)
        or (last and len(typed) >= _MIN_PREFIX and word.startswith(typed))
        or _similarity(typed, word) >= _TRIGRAM_THRESHOLD
    )


_TRIGRAM_WORD = re.compile(r"[^\W_]+")


def _trigrams(s: str) -> set[str]:
    out: set[str] = set()
    for word in _TRIGRAM_WORD.findall(s.lower()):
        padded = f"  {word} "
        out.update(padded[i : i + 3] for i in range(len(padded) - 2))
    return out


def _similarity(a: str, b: str) -> float:
    """pg_trgm's similarity(): shared trigrams of the words, over all their trigrams."""
    ta, tb = _trigrams(a), _trigrams(b)
    if not ta or not tb:
        return 0.0
    common = len(ta & tb)
    return common / (len(ta) + len(tb) - common)


@dataclass(frozen=True, slots=True)
class _NamePlan:
    typed: list[str]  # the words of the query
    required: list[str]  # the ones a name must hold (particles only if nothing else was typed)

    @classmethod
    def of(cls, folded: str) -> _NamePlan:
        typed = _name_words(folded)[:_MAX_WORDS]
        required = [w for w in typed if w not in _PARTICLES] or typed
        return cls(typed, required)

    def groups(self, corrections: dict[str, set[str]]) -> list[list[str]]:
        """For each required word with at least one correction, its corrections."""
        return [sorted(corrections[w]) for w in self.required if corrections.get(w)]


# --- names on SQLite ------------------------------------------------------------------------


def _by_name_sqlite(session: Session, folded: str, limit: int) -> list[uuid.UUID]:
    plan = _NamePlan.of(folded)
    if not plan.typed:
        return []
    names = [
        name
        for name in session.scalars(
            select(ProfileSearch.name_folded)
            .where(ProfileSearch.name_folded.is_not(None))
            .distinct()
        )
        if name
    ]
    words_of = {name: _word_set(name) for name in names}
    vocabulary: set[str] = set().union(*words_of.values())
    last = plan.typed[-1]
    corrections = {
        typed: {
            w
            for w in vocabulary
            if _corrects(typed, w, typed == last) and _considered(typed, w, typed == last)
        }
        for typed in plan.required
    }
    groups = [set(g) for g in plan.groups(corrections)]
    exact = set(plan.required)
    ranked = []
    for name, words in words_of.items():
        if exact <= words:
            tier = 0
        elif groups and all(words & g for g in groups):
            tier = 1
        else:
            continue
        ranked.append((tier, -_similarity(name, folded), name))
    ranked.sort()
    top = {name: k for k, (*_, name) in enumerate(ranked[:limit])}  # each is someone's name
    if not top:
        return []
    found = sorted(
        session.execute(
            select(ProfileSearch.profile_id, ProfileSearch.name_folded).where(
                ProfileSearch.name_folded.in_(list(top))
            )
        ),
        key=lambda row: (top[row[1] or ""], row[0]),
    )
    return [pid for pid, _ in found[:limit]]


# --- names on PostgreSQL --------------------------------------------------------------------

# Candidate corrections of each typed word, checked with _corrects afterwards: trigram-similar
# words (the `%` operator, GIN), words of about its length with the same first letter (whatever
# trigrams say: "jasnen" / "jansen") and, for the last word typed, the words it starts.
_DICTIONARY = text(
    "SELECT t.i, w.word FROM unnest(CAST(:typed AS text[]), CAST(:first AS text[]), "
    "CAST(:prefix AS text[])) WITH ORDINALITY AS t(typed, first, prefix, i) "
    "CROSS JOIN LATERAL ("
    " (SELECT word FROM name_word WHERE word % t.typed"
    "  ORDER BY similarity(word, t.typed) DESC LIMIT 200)"
    " UNION"
    " (SELECT word FROM name_word WHERE word LIKE t.first"
    "  AND length(word) BETWEEN length(t.typed) - 1 AND length(t.typed) + 1 LIMIT 1000)"
    " UNION"
    " (SELECT word FROM name_word WHERE word LIKE t.prefix LIMIT 1000)"
    ") AS w"
)


def _like_prefix(s: str) -> str:
    return s.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


@lru_cache(maxsize=_MAX_WORDS + 1)
def _names_statement(groups: int) -> TextClause:
    """Names holding every required word exactly (tier 0), then, unless those already fill the
    page, names holding a correction of each (tier 1); ranked, with what a result line shows.

    Each tier is a MATERIALIZED CTE without a LIMIT of its own: PostgreSQL plans it for all its
    rows (the word index, unless a word is in a large share of the names), and the LIMIT
    where it is read stops the scan early. A LIMIT inside would make a sequential scan look
    cheap for a frequent first name ("daan"), evaluating the word split on tens of thousands of
    rows to find the first 1,000.
    """
    close = " AND ".join(f"{NAME_WORDS_SQL} && CAST(:g{k} AS text[])" for k in range(groups))
    tiers = "(SELECT profile_id, name_folded, 0 AS tier FROM exact LIMIT :exact_cap)"
    with_close = ""
    if groups:
        with_close = (
            ", close AS MATERIALIZED (SELECT profile_id, name_folded FROM profile_search "
            "WHERE (SELECT count(*) FROM (SELECT FROM exact LIMIT :limit) AS e) < :limit "
            f"AND {close})"
        )
        tiers += " UNION ALL (SELECT profile_id, name_folded, 1 FROM close LIMIT :close_cap)"
    return text(
        "WITH exact AS MATERIALIZED (SELECT profile_id, name_folded FROM profile_search "
        f"WHERE {NAME_WORDS_SQL} @> CAST(:exact AS text[])){with_close}, "
        "ranked AS (SELECT profile_id, min(tier) AS tier, "
        "similarity(name_folded, :q) AS score, name_folded "
        f"FROM ({tiers}) AS c GROUP BY profile_id, name_folded "
        "ORDER BY 2, 3 DESC, 4, 1 LIMIT :limit) "
        "SELECT s.profile_id, s.name, s.email, s.phone, s.postal_code, s.city, s.latest_model, "
        "s.latest_colour, s.latest_colour_hex, s.lead_stage, p.last_seen_at "
        "FROM ranked AS r JOIN profile_search AS s ON s.profile_id = r.profile_id "
        "JOIN profile AS p ON p.id = r.profile_id "
        "ORDER BY r.tier, r.score DESC, r.name_folded, r.profile_id"
    )


def name_query(session: Session, folded: str, limit: int) -> tuple[TextClause, dict[str, Any]]:
    """The statement that finds and ranks the names for a folded query on PostgreSQL, and its
    parameters, once the typed words are corrected (the bench EXPLAINs it)."""
    plan = _NamePlan.of(folded)
    last = plan.typed[-1]
    required = plan.required
    corrections: dict[str, set[str]] = {}
    for i, word in session.execute(
        _DICTIONARY,
        {
            "typed": required,
            "first": [_like_prefix(w[:1]) for w in required],
            "prefix": [
                _like_prefix(w) if w == last and len(w) >= _MIN_PREFIX else None for w in required
            ],
        },
    ):
        typed = required[i - 1]
        if _corrects(typed, word, typed == last):
            corrections.setdefault(typed, set()).add(word)
    groups = plan.groups(corrections)
    params: dict[str, Any] = {"exact": required, "q": folded, "limit": limit}
    params.update(exact_cap=_EXACT_CAP, close_cap=_CLOSE_CAP)
    params.update({f"g{k}": group for k, group in enumerate(groups)})
    return _names_statement(len(groups)), params


def _by_name_postgres(session: Session, folded: str, limit: int) -> list[LookupResult]:
    if not _name_words(folded):
        return []
    statement, params = name_query(session, folded, limit)
    return [_result(*row) for row in session.execute(statement, params)]


# --- result lines ---------------------------------------------------------------------------


def _result(pid: uuid.UUID, *fields: Any) -> LookupResult:
    return LookupResult(pid, *fields)


def _results(session: Session, ids: list[uuid.UUID]) -> list[LookupResult]:
    if not ids:
        return []
    rows = {
        row[0]: row
        for row in session.execute(
            select(
                ProfileSearch.profile_id,
                ProfileSearch.name,
                ProfileSearch.email,
                ProfileSearch.phone,
                ProfileSearch.postal_code,
                ProfileSearch.city,
                ProfileSearch.latest_model,
                ProfileSearch.latest_colour,
                ProfileSearch.latest_colour_hex,
                ProfileSearch.lead_stage,
                Profile.last_seen_at,
            )
            .join(Profile, Profile.id == ProfileSearch.profile_id)
            .where(among(session, ProfileSearch.profile_id, ids))
        )
    }
    missing = [pid for pid in ids if pid not in rows]
    last_seen_only: dict[uuid.UUID, datetime] = {}
    if missing:
        for pid, seen in session.execute(
            select(Profile.id, Profile.last_seen_at).where(among(session, Profile.id, missing))
        ):
            last_seen_only[pid] = seen
    results = []
    for pid in ids:
        if pid in rows:
            results.append(_result(*rows[pid]))
        elif pid in last_seen_only:  # an anonymous profile found by its configuration code
            results.append(_result(pid, *([None] * 9), last_seen_only[pid]))
    return results
