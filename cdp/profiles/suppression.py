"""Erasure that stays erased: the identifiers of erased people, as keyed hashes, keep them out.

An erasure leaves one `suppression` entry per identifier of the person (e-mail, phone, userId,
anonymousId, normalised as identity matching normalises them): an HMAC-SHA256 under the
installation's secret key (cdp.secret_keys), never the value. A message that carries one is
dropped before identity resolution, leaving only a count per source and day:
- dated before the erasure (a replay, a late import): always, whatever happened since;
- dated after it, by an e-mail, phone or userId entry: until the person comes back and agrees
  again. A message that grants consent for any purpose lifts the suppression of that person
  (every entry of their erasure), with a record of when and why; so does staff, by
  `cdp suppression lift`. A browser's anonymousId is no person: its entries only ever drop
  messages dated before the erasure.

The cost on the ingest path is one indexed query per transaction, for the distinct identifiers
the transaction carries (a few keyed hashes each), whether the table is empty or not.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cdp.errors import NotFound
from cdp.identity.identifiers import Identifier
from cdp.models import Erasure, SuppressedCount, Suppression
from cdp.secret_keys import KeyRing, key_ring
from cdp.sql import any_of, dialect_of

SUPPRESSED_KINDS = frozenset({"user_id", "email", "phone", "anonymous_id"})
# The kinds that stand for a person: their entries hold back newer messages too, until lifted.
PERSON_KINDS = frozenset({"user_id", "email", "phone"})


@dataclass(frozen=True, slots=True)
class Screened:
    """What suppression needs to know about one message."""

    message_id: str | None  # None for a refused message
    identifiers: Sequence[Identifier]
    # The earliest time the message states (event time, timestamp, sentAt): a replay keeps its
    # old dates. None when unknown (a refused message): treated as possibly old.
    dated: datetime | None
    granted: str | None = None  # a consent purpose the message grants, if any


@dataclass(frozen=True, slots=True)
class _Entry:
    id: int
    erasure_id: int
    kind: str
    digest: str
    key_version: int
    erased_at: datetime
    lifted_at: datetime | None


def record_suppression(
    session: Session, erasure: Erasure, identifiers: Iterable[tuple[str, str]]
) -> int:
    """Suppress these identifiers of an erased person; how many entries were written.

    An entry of the same identifier left by an earlier erasure, under any key version, gives way
    to the new one: so nothing is suppressed twice, and old key versions fall out of use."""
    ring = key_ring(session, reload=True)  # rare: read afresh, in case a rotation pruned ours
    wanted = sorted({(kind, value) for kind, value in identifiers if kind in SUPPRESSED_KINDS})
    earlier = [d for kind, value in wanted for d in ring.digests(kind, value).values()]
    for start in range(0, len(earlier), 500):
        session.execute(
            delete(Suppression).where(Suppression.digest.in_(earlier[start : start + 500]))
        )
    session.add_all(
        Suppression(
            erasure_id=erasure.id,
            kind=kind,
            digest=ring.digest(kind, value),
            key_version=ring.newest,
            erased_at=erasure.erased_at,
        )
        for kind, value in wanted
    )
    session.flush()
    return len(wanted)


_ANY_ENTRY = text("SELECT EXISTS (SELECT 1 FROM suppression)")


def any_entries(session: Session) -> bool:
    """Whether anyone is suppressed at all: until the first erasure (and on most days after),
    ingest skips hashing every identifier it is sent. Read live, so every worker sees an
    erasure committed elsewhere at once."""
    return bool(session.connection().execute(_ANY_ENTRY).scalar())


def screen(
    session: Session,
    messages: Sequence[Screened],
    *,
    source_name: str,
    now: datetime,
) -> set[int]:
    """The positions of the messages to drop because they carry an erased person's identifier
    (the caller counts them: `count_dropped`), lifting the suppressions that a message granting
    consent ends (flushed, not committed)."""
    found = _entries(session, {i for m in messages for i in m.identifiers})
    if not found:
        return set()
    dropped: set[int] = set()
    lifts: dict[int, str] = {}  # erasure id: why
    # In time order (undated first): a message after the one that agreed again is kept.
    order = sorted(
        range(len(messages)),
        key=lambda n: (messages[n].dated is not None, messages[n].dated or now),
    )
    for position in order:
        message = messages[position]
        entries = [entry for ident in message.identifiers for entry in found.get(ident, ())]
        if not entries:
            continue
        if message.dated is None:  # refused, time unknown: kept only if they agreed again
            if any(e.lifted_at is None and e.erasure_id not in lifts for e in entries):
                dropped.add(position)
            continue
        if any(message.dated < e.erased_at for e in entries):
            dropped.add(position)  # a replay, or older: always
            continue
        waiting = [
            e
            for e in entries
            if e.kind in PERSON_KINDS and e.lifted_at is None and e.erasure_id not in lifts
        ]
        if not waiting:
            continue
        if message.granted is None:
            dropped.add(position)
            continue
        for entry in waiting:  # they came back and agreed again
            lifts[entry.erasure_id] = (
                f"{message.granted} consent granted in message {message.message_id!r} "
                f"from source {source_name!r}"
            )
    for erasure_id, reason in lifts.items():
        _lift(session, erasure_id, now=now, by="ingest", reason=reason)
    _rekey(session, found)
    return dropped


def _entries(session: Session, identifiers: set[Identifier]) -> dict[Identifier, list[_Entry]]:
    """The suppression entries of these identifiers, under whichever key version made them."""
    wanted = [i for i in identifiers if i.kind in SUPPRESSED_KINDS]
    if not wanted:
        return {}
    ring = key_ring(session)
    statement = _lookup_statement(dialect_of(session))
    while True:
        by_digest = _digests(ring, wanted)
        rows = [
            _Entry(*row)
            for row in session.connection().execute(
                statement, {"digests": list(by_digest), "newest": ring.newest}
            )
        ]
        if all(row.key_version <= ring.newest for row in rows):
            break
        # Someone rotated the key since this process read it: entries made with the new
        # version are hashed with a key we do not have yet.
        ring = key_ring(session, reload=True)
    found: dict[Identifier, list[_Entry]] = {}
    for row in rows:
        found.setdefault(by_digest[row.digest], []).append(row)
    return found


def _digests(ring: KeyRing, identifiers: Iterable[Identifier]) -> dict[str, Identifier]:
    return {
        digest: ident
        for ident in identifiers
        for digest in ring.digests(ident.kind, ident.value).values()
    }


@functools.cache
def _lookup_statement(dialect: str) -> Any:
    table = cast(Table, Suppression.__table__)
    c = table.c
    return select(
        c.id, c.erasure_id, c.kind, c.digest, c.key_version, c.erased_at, c.lifted_at
    ).where(or_(any_of(c.digest, "digests", dialect), c.key_version > bindparam("newest")))


def _rekey(session: Session, found: dict[Identifier, list[_Entry]]) -> None:
    """Entries made with an older key version, seen again with their plain identifier: hashed
    again with the newest key, so the old version can go at the next rotation."""
    ring = key_ring(session)
    for ident, entries in found.items():
        for entry in entries:
            if entry.key_version < ring.newest:
                session.execute(
                    update(Suppression)
                    .where(Suppression.id == entry.id, Suppression.key_version == entry.key_version)
                    .values(digest=ring.digest(ident.kind, ident.value), key_version=ring.newest)
                )


def _lift(session: Session, erasure_id: int, *, now: datetime, by: str, reason: str) -> int:
    result = session.execute(
        update(Suppression)
        .where(
            Suppression.erasure_id == erasure_id,
            Suppression.kind.in_(sorted(PERSON_KINDS)),
            Suppression.lifted_at.is_(None),
        )
        .values(lifted_at=now, lifted_by=by, lift_reason=reason)
    )
    return result.rowcount or 0  # type: ignore[attr-defined]


def lift(
    session: Session, identifiers: Sequence[Identifier], *, now: datetime, by: str, reason: str
) -> int:
    """Staff recorded that the person agreed again: lift the suppression of every erased person
    one of these identifiers belonged to; how many entries were lifted. Messages dated before
    their erasure stay out."""
    found = _entries(session, set(identifiers))
    erasures = sorted({e.erasure_id for entries in found.values() for e in entries})
    if not erasures:
        raise NotFound("no erased person has this identifier", field="identifier")
    return sum(_lift(session, e, now=now, by=by, reason=reason) for e in erasures)


def count_dropped(session: Session, *, source_id: int, day: datetime, messages: int) -> None:
    if not messages:
        return
    table = cast(Table, SuppressedCount.__table__)
    insert: Any = postgresql.insert if dialect_of(session) == "postgresql" else sqlite.insert
    statement = insert(table).values(source_id=source_id, day=day.date(), messages=messages)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[table.c.source_id, table.c.day],
            set_={"messages": table.c.messages + statement.excluded.messages},
        )
    )


def entries_of(session: Session, erasure_id: int) -> Sequence[Suppression]:
    return session.scalars(
        select(Suppression).where(Suppression.erasure_id == erasure_id).order_by(Suppression.id)
    ).all()
