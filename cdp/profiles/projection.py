"""The search projection (profile_search), rebuilt for profiles whose searchable facts changed."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Collection
from typing import Any, cast

from sqlalchemy import Table, and_, delete, func, select, text
from sqlalchemy.orm import Session

from cdp.db import insert_rows
from cdp.licence_plates import normalise_plate
from cdp.models import Configuration, Lead, Profile, ProfileSearch, ProfileTrait
from cdp.sql import among, any_of, dialect_of
from cdp.text import fold, postal_code

# The traits that may hold the customer's licence plate (identify calls, a tablet or customer
# page note): the latest valid one is searched. Not an identity: see cdp/licence_plates.py.
PLATE_TRAITS = ("licence_plate", "license_plate", "licencePlate", "licensePlate", "plate")
SEARCH_TRAITS = frozenset(
    {"first_name", "last_name", "name", "email", "phone", "postal_code", "city", *PLATE_TRAITS}
)


def _display_name(traits: dict[str, Any]) -> str | None:
    parts = [
        str(traits[key]).strip()
        for key in ("first_name", "last_name")
        if isinstance(traits.get(key), str) and str(traits[key]).strip()
    ]
    if parts:
        return " ".join(parts)
    name = traits.get("name")
    return name.strip() if isinstance(name, str) and name.strip() else None


def _plate(traits: dict[str, Any], written: dict[str, Any]) -> str | None:
    """The most recently written plate trait that is a Dutch or Belgian plate."""
    plates = [
        (written[name], plate)
        for name in PLATE_TRAITS
        if (plate := normalise_plate(traits.get(name))) is not None
    ]
    return max(plates)[1] if plates else None


def _text(value: Any, limit: int) -> str | None:
    return (
        str(value).strip()[:limit] if isinstance(value, (str, int)) and str(value).strip() else None
    )


@functools.cache
def _refresh_statements(dialect: str) -> dict[str, Any]:
    """The statements of `refresh_search`, built once per dialect (see `any_of`)."""
    traits = (
        select(Profile.id, ProfileTrait.name, ProfileTrait.value, ProfileTrait.value_at)
        .outerjoin(
            ProfileTrait,
            and_(
                ProfileTrait.profile_id == Profile.id,
                ProfileTrait.name.in_(sorted(SEARCH_TRAITS)),
            ),
        )
        .where(any_of(Profile.id, "ids", dialect), Profile.merged_into_id.is_(None))
    )
    removed: Any = delete(ProfileSearch).where(any_of(ProfileSearch.profile_id, "ids", dialect))
    latest = (
        select(Configuration.profile_id, func.max(Configuration.saved_at).label("saved_at"))
        .where(any_of(Configuration.profile_id, "ids", dialect))
        .group_by(Configuration.profile_id)
        .subquery()
    )
    configs = select(
        Configuration.profile_id,
        Configuration.model,
        Configuration.colour,
        Configuration.colour_hex,
    ).join(
        latest,
        and_(
            latest.c.profile_id == Configuration.profile_id,
            latest.c.saved_at == Configuration.saved_at,
        ),
    )
    stages = (
        select(Lead.profile_id, Lead.stage)
        .where(any_of(Lead.profile_id, "ids", dialect))
        .order_by(Lead.updated_at, Lead.id)
    )
    if dialect == "postgresql":  # the names taken away, for the word dictionary
        removed = removed.returning(ProfileSearch.profile_id, ProfileSearch.name_folded)
    return {"traits": traits, "removed": removed, "configs": configs, "stages": stages}


def refresh_search(session: Session, profile_ids: Collection[uuid.UUID]) -> None:
    """Rewrite the search rows of these profiles (absorbed or anonymous ones get none)."""
    ids = list(set(profile_ids))
    if not ids:
        return
    postgres = dialect_of(session) == "postgresql"
    statements = _refresh_statements(dialect_of(session))
    connection = session.connection()
    live: set[uuid.UUID] = set()
    traits: dict[uuid.UUID, dict[str, Any]] = {}
    written: dict[uuid.UUID, dict[str, Any]] = {}
    for pid, name, value, value_at in connection.execute(statements["traits"], {"ids": ids}):
        live.add(pid)
        if name is not None:
            traits.setdefault(pid, {})[name] = value
            written.setdefault(pid, {})[name] = value_at
    # Only live profiles with search traits have a row (a merge takes the absorbed profile's
    # traits away), so what may need deleting is the rows of absorbed profiles and the rows
    # about to be rewritten: nothing for a live anonymous profile that saved a configuration.
    stale = [pid for pid in ids if pid not in live or pid in traits]
    old_names: dict[uuid.UUID, str | None] = {}
    if stale:
        removed = connection.execute(statements["removed"], {"ids": stale})
        if postgres:
            for pid, name in removed:
                old_names[pid] = name
    if not traits:
        if old_names:
            _update_name_words(session, old_names, {})
        return
    with_traits = {"ids": list(traits)}
    configs = {
        pid: (model, colour, hex_)
        for pid, model, colour, hex_ in connection.execute(statements["configs"], with_traits)
    }
    stages: dict[uuid.UUID, str] = {}
    for pid, stage in connection.execute(statements["stages"], with_traits):
        stages[pid] = stage  # the most recently updated lead wins
    rows = []
    new_names: dict[uuid.UUID, str | None] = {}
    for pid, t in traits.items():
        name = _display_name(t)
        new_names[pid] = fold(name)[:200] if name else None
        model, colour, hex_ = configs.get(pid, (None, None, None))
        rows.append(
            {
                "profile_id": pid,
                "name": name[:200] if name else None,
                "name_folded": new_names[pid],
                "email": _text(t.get("email"), 320),
                "phone": _text(t.get("phone"), 32),
                "postal_code": postal_code(str(t["postal_code"]))
                if _text(t.get("postal_code"), 20)
                else None,
                "city": _text(t.get("city"), 100),
                "latest_model": model,
                "latest_colour": colour,
                "latest_colour_hex": hex_,
                "lead_stage": stages.get(pid),
                "plate": _plate(t, written[pid]),
            }
        )
    insert_rows(session, cast(Table, ProfileSearch.__table__), rows)
    if postgres:
        _update_name_words(session, old_names, new_names)


def remove_search_rows(session: Session, profile_ids: Collection[uuid.UUID]) -> int:
    """Delete the search rows of these profiles, and from the word dictionary the words no other
    name holds (an erasure must not leave a rare surname behind). Returns the rows deleted."""
    ids = list(set(profile_ids))
    if not ids:
        return 0
    removed = delete(ProfileSearch).where(among(session, ProfileSearch.profile_id, ids))
    if dialect_of(session) != "postgresql":
        return int(session.execute(removed).rowcount or 0)  # type: ignore[attr-defined]
    old_names: dict[uuid.UUID, str | None] = {}
    for pid, name in session.execute(
        removed.returning(ProfileSearch.profile_id, ProfileSearch.name_folded)
    ):
        old_names[pid] = name
    _update_name_words(session, old_names, {})
    return len(old_names)


# The words of a folded name: exactly the expression of the index ix_profile_search_name_words.
NAME_WORDS_SQL = r"regexp_split_to_array(name_folded, '[\s,-]+')"
_ADD_WORDS = text(
    "INSERT INTO name_word (word) SELECT DISTINCT w "
    "FROM unnest(CAST(:names AS text[])) AS n(name_folded), unnest("
    + NAME_WORDS_SQL
    + ") AS w WHERE w <> '' ORDER BY w ON CONFLICT DO NOTHING"
)
_DROP_UNUSED_WORDS = text(
    "DELETE FROM name_word WHERE word IN ("
    " SELECT w FROM unnest(CAST(:old AS text[])) AS n(name_folded), unnest("
    + NAME_WORDS_SQL
    + ") AS w EXCEPT SELECT w FROM unnest(CAST(:new AS text[])) AS n(name_folded), unnest("
    + NAME_WORDS_SQL
    + ")"
    " AS w) AND NOT EXISTS (SELECT FROM profile_search WHERE "
    + NAME_WORDS_SQL
    + " @> ARRAY[name_word.word])"
)


def _update_name_words(
    session: Session,
    old: dict[uuid.UUID, str | None],
    new: dict[uuid.UUID, str | None],
) -> None:
    """Keep name_word (PostgreSQL) the set of words of the names in profile_search.

    Only names that changed cost anything: their new words are added (in sorted order, so two
    writers adding the same new words queue rather than deadlock), and those of their old words
    no name holds any more are removed (renames, merges, names taken away). A writer adding a
    name with a word that a concurrent writer is removing can leave that word out of the
    dictionary until a name with it is written again; lookup still finds it typed exactly, just
    not misspelt.
    """
    changed = [pid for pid in old.keys() | new.keys() if old.get(pid) != new.get(pid)]
    added = sorted({name for pid in changed if (name := new.get(pid))})
    removed = sorted({name for pid in changed if (name := old.get(pid))})
    if added:
        session.execute(_ADD_WORDS, {"names": added})
    if removed:
        session.execute(_DROP_UNUSED_WORDS, {"old": removed, "new": added})
