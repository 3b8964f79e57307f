"""Names on PostgreSQL: a few indexed statements at any size. The typed words against the
dictionary of name words (`name_word`, kept by cdp.profiles.projection), the names holding the
corrections (a GIN index on the words of `profile_search.name_folded`, migration 0004), in the
place typed (the town as that index's second column, migration 0039), ranked by
name_rules.Ranker."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from sqlalchemy import TextClause, text
from sqlalchemy.orm import Session

from cdp.dealers.visibility import activity_sql
from cdp.profiles.lookup.frequent_words import frequent_words
from cdp.profiles.lookup.name_rules import (
    MAX_WORDS,
    MIN_PREFIX,
    NamePlan,
    Ranker,
    corrections_among,
)
from cdp.profiles.lookup.places import Place
from cdp.profiles.lookup.results import LookupResult, result_lines
from cdp.profiles.projection import NAME_WORDS_SQL

# Names ranked at most: more only when a query names thousands anyway ("jansen", "daan de
# jong"), where the 20 shown are then the best of the first ones found. Names holding every
# typed word exactly are all equally right, so fewer of those need ranking than of the names
# holding corrections, among which the one meant has to be.
EXACT_CAP = 500
CLOSE_CAP = 1000
# One word typed (a first name, while the rest is still to come: "daan", 47,000 customers at
# 1,000,000) and found exactly: every such name fits it alike but for its other words and its
# length, so the 20 shown are ranked from the first 100 found instead of 500. The statement
# reads and sends a fifth of the rows and Ranker ranks a fifth of the names, for the same kind
# of answer (only names holding that word).
ONE_WORD_EXACT_CAP = 100

# Candidate corrections of each probe, checked with corrections_among afterwards: trigram-similar
# words (the `%` operator, GIN), words of about its length with the same first letter (whatever
# trigrams say: "jasnen" / "jansen") and, for the last word typed, the words it starts.
_DICTIONARY = text(
    "SELECT t.i, array_agg(w.word) FROM unnest(CAST(:typed AS text[]), CAST(:first AS text[]), "
    "CAST(:prefix AS text[])) WITH ORDINALITY AS t(typed, first, prefix, i) "
    "CROSS JOIN LATERAL ("
    " (SELECT word FROM name_word WHERE word % t.typed"
    "  ORDER BY similarity(word, t.typed) DESC LIMIT 200)"
    " UNION"
    " (SELECT word FROM name_word WHERE word LIKE t.first"
    "  AND length(word) BETWEEN length(t.typed) - 1 AND length(t.typed) + 1 LIMIT 1000)"
    " UNION"
    " (SELECT word FROM name_word WHERE word LIKE t.prefix LIMIT 1000)"
    ") AS w GROUP BY t.i"
)


def _like_prefix(s: str) -> str:
    return s.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


_PLACE_SQL = {
    "postal": "postal_code >= :postal AND postal_code < :postal_next",
    # The town as the name-word index's second column holds it (migration 0039): the names in
    # a town are found in one scan of that index, not by intersecting every row of a big town.
    "towns": "ARRAY[lower(city)] && CAST(:towns AS text[])",
    "dealers": activity_sql("profile_search.profile_id", "dealers"),
}


# The exact tier of one frequent word alone (`frequent_words`): the first customers holding it in
# table order, as the word index's bitmap would give them, but stopping there. The TID range
# (from the first row) reads the table in order from its start, never in parallel, where a plain
# sequential scan starts wherever the last one stopped (synchronised scans) and would find other
# customers each time; `|| ''` keeps the planner off the word index, which gathers every holder
# before the first row; the LIKE spares most rows the word split.
_UNINDEXED_WORDS = NAME_WORDS_SQL.replace("name_folded", "(name_folded || '')")
_EXACT_BY_SCAN = (
    "SELECT profile_id, name_folded FROM profile_search "
    "WHERE ctid >= CAST('(0,0)' AS tid) AND (name_folded || '') LIKE :like "
    f"AND {_UNINDEXED_WORDS} @> CAST(:exact AS text[]) LIMIT :exact_cap"
)


@lru_cache(maxsize=8 * (MAX_WORDS + 1))
def _names_statement(groups: int, place: tuple[str, ...] = (), scan: bool = False) -> TextClause:
    """The candidates for a query: names holding every required word exactly (tier 0), then,
    unless those already fill the page, names holding a correction of each (tier 1), in the
    place typed if one was. One row per name: its tier, its trigram similarity to the query
    (pg_trgm's C, not Python's) and the first `limit` of its customers by id. Ranker orders the
    names; "daan de jong" is one row, not 1,111, so the rows sent and ranked are a few hundred
    at most, and the similarity is worked out once per name.

    Each tier is a MATERIALIZED CTE without a LIMIT of its own: PostgreSQL plans it for all its
    rows (the word index, unless a word is in a large share of the names), and the LIMIT
    where it is read stops the scan early. A LIMIT inside would make a sequential scan look
    cheap for a frequent first name ("daan"), evaluating the word split on tens of thousands of
    rows to find the first 1,000.

    `scan`: one frequent word alone, no place (`frequent_words`): the exact tier reads the table
    in order with a cheap LIKE before the split, stopping at its first `exact_cap` holders.
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
    exact = (
        _EXACT_BY_SCAN
        if scan
        else "SELECT profile_id, name_folded FROM profile_search "
        f"WHERE {NAME_WORDS_SQL} @> CAST(:exact AS text[]){where_place}"
    )
    return text(
        f"WITH exact AS MATERIALIZED ({exact}){with_close} "
        "SELECT min(tier), name_folded, similarity(name_folded, :folded), "
        "(array_agg(DISTINCT profile_id ORDER BY profile_id))[1:CAST(:limit AS int)] "
        f"FROM ({tiers}) AS c GROUP BY name_folded"
    )


def name_query(
    session: Session,
    folded: str,
    limit: int,
    place: Place | None = None,
    dealers: frozenset[int] | None = None,
    *,
    open_ended: bool = True,
) -> tuple[TextClause, dict[str, Any], dict[str, set[str]]]:
    """The statement that finds the candidate names for a folded query on PostgreSQL, its
    parameters, and the corrections of each typed word (the bench EXPLAINs it)."""
    plan = NamePlan.of(folded, open_ended=open_ended)
    probes = plan.probes
    corrections: dict[str, set[str]] = {}
    connection = session.connection()  # past the ORM's execution layer: less Python per search
    rows = connection.execute(
        _DICTIONARY,
        {
            "typed": [p for _, p in probes],
            "first": [_like_prefix(p[:1]) for _, p in probes],
            "prefix": [
                _like_prefix(p) if plan.is_last(t) and len(p) >= MIN_PREFIX else None
                for t, p in probes
            ],
        },
    ).all()
    for i, words in rows:  # one row per probe: its words, checked in one go
        typed, probe = probes[i - 1]
        found = corrections_among(probe, words, plan.is_last(typed))
        if found:
            corrections.setdefault(typed, set()).update(found)
    groups = plan.groups(corrections)
    params: dict[str, Any] = {"exact": plan.required, "limit": limit, "folded": folded}
    exact_cap = ONE_WORD_EXACT_CAP if len(plan.required) == 1 else EXACT_CAP
    params.update(exact_cap=exact_cap, close_cap=CLOSE_CAP)
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
    scan = not where and len(plan.required) == 1 and plan.required[0] in frequent_words(session)
    if scan:
        params["like"] = "%" + _like_prefix(plan.required[0])
    return _names_statement(len(groups), where, scan), params, corrections


def by_name_postgres(
    session: Session,
    folded: str,
    limit: int,
    place: Place | None,
    dealers: frozenset[int] | None = None,
    *,
    open_ended: bool = True,
) -> list[LookupResult]:
    plan = NamePlan.of(folded, open_ended=open_ended)
    if not plan.typed:
        return []
    statement, params, corrections = name_query(
        session, folded, limit, place, dealers, open_ended=open_ended
    )
    names = session.connection().execute(statement, params).all()
    ranker = Ranker(plan, corrections)
    # By tier, then fit, then id: each name holds at most `limit` ids, its first ones, so the
    # first `limit` are those of ranking every candidate customer.
    ranked = sorted(
        (tier, -ranker.rank(name, similarity), pid)
        for tier, name, similarity, ids in names
        for pid in ids
    )
    return result_lines(session, [pid for *_, pid in ranked[:limit]])
