"""Finding a customer in seconds: by e-mail, phone, configuration code, licence plate (in any
spelling, cdp.licence_plates), postal code or name.

Names are matched word by word, typo- and accent-tolerantly and in any order. Each typed word is
corrected against the words that stored names are made of: a stored word counts when it is one
slip of a finger away (rapidfuzz's OSA distance: a letter inserted, dropped, replaced or two
swapped; two in a long word), sounds the same in Dutch (cdp.text.dutch_spelling: ij/y/ei, ou/au,
c/k, ph/f, dt/d/t, sch/s, doubled letters) or is close to it (rapidfuzz ratio of at least 75),
and the last word typed may also be the start of a word (the search runs as the salesperson
types). Particles run into a surname are looked up without them ("vandenberg" -> "berg"). A
name matches when it holds, for every typed word that could be corrected, one of its
corrections; particles ("van", "de", ...) need not match when other words were typed. A postal
code or a town at either end of the query narrows the names to the customers there. Names holding
the typed words exactly come first, then the rest, each tier ranked by how well each typed word
fits its best word of the name (_Ranker).

On PostgreSQL that is a few indexed statements at any size: a town typed with the name (an index
on lower(city), migration 0012), the typed words against the dictionary of name words
(`name_word`, kept by cdp.profiles.projection), the names holding the corrections (a GIN index on
the words of `profile_search.name_folded`, migration 0004; at most 1,500 candidates, ranked
here), and the result lines of the first ones. On SQLite (the embedded default, demo scale) the
same rules run in Python over every stored name.
"""

from __future__ import annotations

import itertools
import re
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import phonenumbers
from rapidfuzz import fuzz
from rapidfuzz.distance import OSA
from sqlalchemy import TextClause, func, select, text
from sqlalchemy.orm import Session

from cdp.dealers.visibility import activity_at, activity_sql
from cdp.identity.identifiers import normalise_code, normalise_email, normalise_phone
from cdp.licence_plates import normalise_plate
from cdp.models import Identity, Profile, ProfileSearch
from cdp.profiles.projection import NAME_WORDS_SQL
from cdp.sql import among, dialect_of
from cdp.text import dutch_spelling, fold, postal_code

_POSTAL_CODE = re.compile(r"^(\d{4}\s?[a-z]{2}|\d{4})$")  # NL "1234 AB", BE "1000"
_CODE_LIKE = re.compile(r"^[A-Z0-9][A-Z0-9\-]{3,}$")

# Name search. The words of a folded name, as NAME_WORDS_SQL splits them in PostgreSQL.
_WORD_SPLIT = re.compile(r"[\s,\-]+")
_MAX_WORDS = 6
_MIN_WORD_SCORE = 75.0  # rapidfuzz ratio of a typed word and a stored word it may stand for
_MIN_PREFIX = 2  # the last word typed also matches the words it starts, from 2 letters on
_MAX_PROBES = 4
# Spellings of the start of a word that sound the same (the dictionary looks words up by
# their first letter): Claes/Klaes, Philip/Filip, Ijzer/Yzer, Schouten/Souten.
_START_SPELLINGS = (
    ("c", "k"), ("k", "c"), ("ph", "f"), ("f", "ph"), ("ij", "y"), ("y", "ij"), ("ei", "ij"),
    ("sch", "s"), ("s", "sch"),
)  # fmt: skip
# Particles as people run them into the surname: "vandenberg", "vdberg", "devries", "terhorst".
_JOINED_PARTICLES = ("van", "den", "der", "de", "ter", "ten", "vd")
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
    plate: str | None = None


@dataclass(frozen=True, slots=True)
class Lookup:
    query: str
    matched_by: str | None
    results: list[LookupResult]


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
    plate = normalise_plate(q)
    if not ids and plate:  # before postal codes: "1234 AB" may be a plate of sidecode 2
        ids, matched_by = _by_plate(session, plate, limit), "licence plate"
    if not ids and _POSTAL_CODE.match(folded):
        ids, matched_by = _by_postal_code(session, folded, limit, dealers), "postal code"
    if not ids and "@" not in q and any(ch.isalpha() for ch in folded):
        matched_by = "name"
        name, place = _place_in(session, folded, q.lower())
        for where in [place, None] if place else [None]:  # a place that narrows to nobody
            if dialect_of(session) == "postgresql":  # was no place (a house number, ...)
                results = _by_name_postgres(session, name, limit, where, dealers)
            else:
                ids = _by_name_sqlite(session, name, limit, where, dealers)
            if results or ids:
                break
    if results is None:
        wanted = list(dict.fromkeys(ids))
        if dealers is not None and matched_by not in ("postal code", "name"):
            wanted = _active_only(session, wanted, dealers)  # the few an identifier found
        results = _results(session, wanted[:limit])
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


def _by_plate(session: Session, plate: str, limit: int) -> list[uuid.UUID]:
    """The customers whose car has this plate (canonical); more than one when it changed hands."""
    return list(
        session.scalars(
            select(ProfileSearch.profile_id).where(ProfileSearch.plate == plate).limit(limit)
        )
    )


def _active_only(
    session: Session, ids: list[uuid.UUID], dealers: frozenset[int]
) -> list[uuid.UUID]:
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


def _dealer_filter(dealers: frozenset[int] | None) -> list[Any]:
    return [] if dealers is None else [activity_at(ProfileSearch.profile_id, dealers)]


def _by_postal_code(
    session: Session, folded: str, limit: int, dealers: frozenset[int] | None = None
) -> list[uuid.UUID]:
    return list(
        session.scalars(
            select(ProfileSearch.profile_id)
            .where(ProfileSearch.postal_code == postal_code(folded), *_dealer_filter(dealers))
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


def _corrects(typed: str, word: str, last: bool) -> bool:
    """Whether a stored word may be what this typed word stands for: the start of it (the last
    word, still being typed), one slip of a finger away (two in a long word), or spelt the
    same way in Dutch (dutch_spelling: Meyer, Meijer; Claes, Klaas) or nearly so."""
    if word == typed or (last and len(typed) >= _MIN_PREFIX and word.startswith(typed)):
        return True
    if not typed.isalpha():  # "j%n": a slip of the finger is a letter for a letter
        return fuzz.ratio(typed, word) >= _MIN_WORD_SCORE
    if min(len(typed), len(word)) >= 3 and OSA.distance(
        typed, word, score_cutoff=2
    ) <= _slips_allowed(typed):
        return True
    typed_key, word_key = _sounds(typed), _sounds(word)
    return typed_key == word_key or fuzz.ratio(typed_key, word_key) >= _MIN_WORD_SCORE


# dutch_spelling of the ~10,000 distinct words names are made of, each worked out once.
_sounds = lru_cache(maxsize=65536)(dutch_spelling)


def _slips_allowed(typed: str) -> int:
    return 1 if len(typed) < 8 else 2


def _probes(typed: str) -> list[str]:
    """What the dictionary is asked for a typed word: the word, its other Dutch spellings at
    its start (the first letter finds the words of about its length: "Klaes" -> "claes"), and
    the surname in particles run together with it ("vandenberg" -> "berg")."""
    out = [typed]
    for a, b in _START_SPELLINGS:
        if typed.startswith(a) and len(typed) > len(a) + 1:
            out.append(b + typed[len(a) :])
    rest = typed
    while len(rest) > 3:
        particle = next((p for p in _JOINED_PARTICLES if rest.startswith(p)), None)
        if particle is None or len(rest) - len(particle) < 3:
            break
        rest = rest[len(particle) :]
        out.append(rest)
    return list(dict.fromkeys(out))[:_MAX_PROBES]


def _considered(typed: str, word: str, last: bool) -> bool:
    """The stored words the dictionary query (_DICTIONARY) returns for a probe."""
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
class _Place:
    """Where the customer lives, typed with the name: "jansen 5612", "jansen eindhoven"."""

    postal: str | None  # the four digits of a postal code
    towns: tuple[str, ...]  # lower-cased town names, as profile_search.city lower-cased holds


_POSTAL_PART = re.compile(r"^(\d{4})([a-z]{2})?$")


def _place_in(session: Session, folded: str, lower: str) -> tuple[str, _Place | None]:
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
        known = {  # one index probe each: a DISTINCT would read every customer of a big town
            end
            for end in sorted(ends)
            if session.scalar(select(town_of).where(town_of == end).limit(1)) is not None
        }
        if known:  # the longest town named at an end
            town = max(known, key=lambda t: (abs(ends[t]), t))
            towns = (town,)
            n = ends[town]
            words = words[n:] if n > 0 else words[:n]
    if postal is None and not towns:
        return folded, None
    return " ".join(words), _Place(postal, towns)


@dataclass(frozen=True, slots=True)
class _NamePlan:
    typed: list[str]  # the words of the query
    required: list[str]  # the ones a name must hold (particles only if nothing else was typed)
    probes: list[tuple[str, str]]  # (required word, what the dictionary is asked for it)

    @classmethod
    def of(cls, folded: str) -> _NamePlan:
        typed = _name_words(folded)[:_MAX_WORDS]
        required = [w for w in typed if w not in _PARTICLES] or typed
        probes = []
        for word in required:
            probes += [(word, p) for p in _probes(word)]
            i = typed.index(word)
            before = list(itertools.takewhile(lambda w: w in _PARTICLES, typed[:i][::-1]))
            if before:  # "van den berghe" may be stored as "Vandenberghe"
                probes.append((word, "".join(before[::-1]) + word))
        return cls(typed, required, probes)

    def is_last(self, word: str) -> bool:
        return word == self.typed[-1]

    def groups(self, corrections: dict[str, set[str]]) -> list[list[str]]:
        """For each required word with at least one correction, its corrections."""
        return [sorted(corrections[w]) for w in self.required if corrections.get(w)]


class _Ranker:
    """How well a name fits what was typed: each typed word by the best of the name's words
    for it (exact, then the same Dutch spelling, then fewer slips), and the name's words that
    nothing typed stands for counting a little against it; the trigram similarity of the whole
    name breaks ties.

    One per query: the up to 1,500 candidate names share a few hundred words and many share
    the whole name ("daan de jong" 1,154 times at 1,000,000 customers), so each (typed word,
    stored word) fit and each name's score is worked out once.
    """

    __slots__ = ("_corrections", "_fits", "_names", "_plan")

    def __init__(self, plan: _NamePlan, corrections: dict[str, set[str]]) -> None:
        self._plan = plan
        self._corrections = corrections
        self._fits: dict[tuple[str, str], float] = {}
        self._names: dict[str, float] = {}

    def _fit(self, typed: str, word: str) -> float:
        key = (typed, word)
        fit = self._fits.get(key)
        if fit is None:
            if word == typed:
                fit = 1.0
            elif self._plan.is_last(typed) and word.startswith(typed):
                fit = 0.95
            elif word in self._corrections.get(typed, ()):
                fit = 0.9 if _sounds(word) == _sounds(typed) else 0.85
                fit -= 0.001 * OSA.distance(typed, word)
            else:
                fit = 0.0
            self._fits[key] = fit
        return fit

    def rank(self, name: str, similarity: float) -> float:
        """The score of a name (higher fits better); similarity: pg_trgm's of name and query."""
        score = self._names.get(name)
        if score is None:
            words = _word_set(name)
            score = 0.0
            used: set[str] = set()
            for typed in self._plan.typed:
                best, which = 0.0, ""
                for word in words:
                    fit = self._fit(typed, word)
                    if fit > best:
                        best, which = fit, word
                score += best if typed not in _PARTICLES else best * 0.2
                used.add(which)
            score -= 0.05 * sum(1 for w in words if w not in used and w not in _PARTICLES)
            self._names[name] = score
        return score + 0.01 * similarity


# --- names on SQLite ------------------------------------------------------------------------


def _place_filter(place: _Place | None) -> list[Any]:
    if place is None:
        return []
    where: list[Any] = []
    if place.postal:  # a range, so that the btree index serves it whatever the collation
        upper = str(int(place.postal) + 1).zfill(4)
        where += [ProfileSearch.postal_code >= place.postal, ProfileSearch.postal_code < upper]
    if place.towns:
        where.append(func.lower(ProfileSearch.city).in_(place.towns))
    return where


def _by_name_sqlite(
    session: Session,
    folded: str,
    limit: int,
    place: _Place | None,
    dealers: frozenset[int] | None = None,
) -> list[uuid.UUID]:
    plan = _NamePlan.of(folded)
    if not plan.typed:
        return []
    names = [
        name
        for name in session.scalars(
            select(ProfileSearch.name_folded)
            .where(
                ProfileSearch.name_folded.is_not(None),
                *_place_filter(place),
                *_dealer_filter(dealers),
            )
            .distinct()
        )
        if name
    ]
    words_of = {name: _word_set(name) for name in names}
    vocabulary: set[str] = set().union(*words_of.values())
    corrections: dict[str, set[str]] = {}
    for typed, probe in plan.probes:
        last = plan.is_last(typed)
        corrections.setdefault(typed, set()).update(
            w for w in vocabulary if _considered(probe, w, last) and _corrects(probe, w, last)
        )
    groups = [set(g) for g in plan.groups(corrections)]
    exact = set(plan.required)
    ranker = _Ranker(plan, corrections)
    ranked = []
    for name, words in words_of.items():
        if exact <= words:
            tier = 0
        elif groups and all(words & g for g in groups):
            tier = 1
        else:
            continue
        ranked.append((tier, -ranker.rank(name, _similarity(name, folded)), name))
    ranked.sort()
    top = {name: k for k, (*_, name) in enumerate(ranked[:limit])}  # each is someone's name
    if not top:
        return []
    found = sorted(
        session.execute(
            select(ProfileSearch.profile_id, ProfileSearch.name_folded).where(
                ProfileSearch.name_folded.in_(list(top)),
                *_place_filter(place),
                *_dealer_filter(dealers),
            )
        ),
        key=lambda row: (top[row[1] or ""], row[0]),
    )
    return [pid for pid, _ in found[:limit]]


# --- names on PostgreSQL --------------------------------------------------------------------

# Candidate corrections of each probe, checked with _corrects afterwards: trigram-similar
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


_PLACE_SQL = {
    "postal": "postal_code >= :postal AND postal_code < :postal_next",
    "towns": "lower(city) = ANY(CAST(:towns AS text[]))",
    "dealers": activity_sql("profile_search.profile_id", "dealers"),
}


@lru_cache(maxsize=4 * (_MAX_WORDS + 1))
def _names_statement(groups: int, place: tuple[str, ...] = ()) -> TextClause:
    """The candidates for a query: names holding every required word exactly (tier 0), then,
    unless those already fill the page, names holding a correction of each (tier 1), in the
    place typed if one was, each with its trigram similarity to the query (pg_trgm's C, not
    Python's). _Ranker orders them.

    Each tier is a MATERIALIZED CTE without a LIMIT of its own: PostgreSQL plans it for all its
    rows (the word index, unless a word is in a large share of the names), and the LIMIT
    where it is read stops the scan early. A LIMIT inside would make a sequential scan look
    cheap for a frequent first name ("daan"), evaluating the word split on tens of thousands of
    rows to find the first 1,000.
    """
    where_place = "".join(f" AND {_PLACE_SQL[p]}" for p in place)
    close = " AND ".join(f"{NAME_WORDS_SQL} && CAST(:g{k} AS text[])" for k in range(groups))
    tiers = "(SELECT profile_id, name_folded, 0 AS tier FROM exact LIMIT :exact_cap)"
    with_close = ""
    if groups:
        with_close = (
            ", close AS MATERIALIZED (SELECT profile_id, name_folded FROM profile_search "
            "WHERE (SELECT count(*) FROM (SELECT FROM exact LIMIT :limit) AS e) < :limit "
            f"AND {close}{where_place})"
        )
        tiers += " UNION ALL (SELECT profile_id, name_folded, 1 FROM close LIMIT :close_cap)"
    return text(
        "WITH exact AS MATERIALIZED (SELECT profile_id, name_folded FROM profile_search "
        f"WHERE {NAME_WORDS_SQL} @> CAST(:exact AS text[]){where_place}){with_close} "
        "SELECT profile_id, min(tier), name_folded, similarity(name_folded, :folded) "
        f"FROM ({tiers}) AS c GROUP BY profile_id, name_folded"
    )


def name_query(
    session: Session,
    folded: str,
    limit: int,
    place: _Place | None = None,
    dealers: frozenset[int] | None = None,
) -> tuple[TextClause, dict[str, Any], dict[str, set[str]]]:
    """The statement that finds the candidate names for a folded query on PostgreSQL, its
    parameters, and the corrections of each typed word (the bench EXPLAINs it)."""
    plan = _NamePlan.of(folded)
    probes = plan.probes
    corrections: dict[str, set[str]] = {}
    for i, word in session.execute(
        _DICTIONARY,
        {
            "typed": [p for _, p in probes],
            "first": [_like_prefix(p[:1]) for _, p in probes],
            "prefix": [
                _like_prefix(p) if plan.is_last(t) and len(p) >= _MIN_PREFIX else None
                for t, p in probes
            ],
        },
    ):
        typed, probe = probes[i - 1]
        if _corrects(probe, word, plan.is_last(typed)):
            corrections.setdefault(typed, set()).add(word)
    groups = plan.groups(corrections)
    params: dict[str, Any] = {"exact": plan.required, "limit": limit, "folded": folded}
    params.update(exact_cap=_EXACT_CAP, close_cap=_CLOSE_CAP)
    params.update({f"g{k}": group for k, group in enumerate(groups)})
    where: tuple[str, ...] = ()
    if place and place.postal:
        where += ("postal",)
        params.update(postal=place.postal, postal_next=str(int(place.postal) + 1).zfill(4))
    if place and place.towns:
        where += ("towns",)
        params["towns"] = list(place.towns)
    if dealers is not None:
        where += ("dealers",)
        params["dealers"] = sorted(dealers)
    return _names_statement(len(groups), where), params, corrections


def _by_name_postgres(
    session: Session,
    folded: str,
    limit: int,
    place: _Place | None,
    dealers: frozenset[int] | None = None,
) -> list[LookupResult]:
    plan = _NamePlan.of(folded)
    if not plan.typed:
        return []
    statement, params, corrections = name_query(session, folded, limit, place, dealers)
    candidates = session.execute(statement, params).all()
    ranker = _Ranker(plan, corrections)
    ranked = sorted(candidates, key=lambda row: (row[1], -ranker.rank(row[2], row[3]), row[0]))
    return _results(session, [pid for pid, *_ in ranked[:limit]])


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
                ProfileSearch.plate,
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
