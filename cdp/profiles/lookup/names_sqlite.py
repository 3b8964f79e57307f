"""Names on SQLite (the embedded default, demo scale): the rules of name_rules run in Python over
every stored name (in the place typed, at the caller's dealers)."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from cdp.models import ProfileSearch
from cdp.profiles.lookup.identifiers import dealer_filter
from cdp.profiles.lookup.name_rules import (
    NamePlan,
    Ranker,
    considered,
    corrects,
    similarity,
    word_set,
)
from cdp.profiles.lookup.places import Place, place_filter


def by_name_sqlite(
    session: Session,
    folded: str,
    limit: int,
    place: Place | None,
    dealers: frozenset[int] | None = None,
    *,
    open_ended: bool = True,
) -> list[uuid.UUID]:
    plan = NamePlan.of(folded, open_ended=open_ended)
    if not plan.typed:
        return []
    names = [
        name
        for name in session.scalars(
            select(ProfileSearch.name_folded)
            .where(
                ProfileSearch.name_folded.is_not(None),
                *place_filter(place),
                *dealer_filter(dealers),
            )
            .distinct()
        )
        if name
    ]
    words_of = {name: word_set(name) for name in names}
    vocabulary: set[str] = set().union(*words_of.values())
    corrections: dict[str, set[str]] = {}
    for typed, probe in plan.probes:
        last = plan.is_last(typed)
        corrections.setdefault(typed, set()).update(
            w for w in vocabulary if considered(probe, w, last) and corrects(probe, w, last)
        )
    groups = [set(g) for g in plan.groups(corrections)]
    exact = set(plan.required)
    ranker = Ranker(plan, corrections)
    ranked = []
    for name, words in words_of.items():
        if exact <= words:
            tier = 0
        elif groups and all(words & g for g in groups):
            tier = 1
        else:
            continue
        ranked.append((tier, -ranker.rank(name, similarity(name, folded)), name))
    ranked.sort()
    top = {name: k for k, (*_, name) in enumerate(ranked[:limit])}  # each is someone's name
    if not top:
        return []
    found = sorted(
        session.execute(
            select(ProfileSearch.profile_id, ProfileSearch.name_folded).where(
                ProfileSearch.name_folded.in_(list(top)),
                *place_filter(place),
                *dealer_filter(dealers),
            )
        ),
        key=lambda row: (top[row[1] or ""], row[0]),
    )
    return [pid for pid, _ in found[:limit]]
