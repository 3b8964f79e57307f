"""Each lead's speed-to-lead due time, kept on the lead: `lead.sla_due_s`, the seconds from its
arrival to the first contact its dealer's SLA asks for (`cdp.leads.sla.sla_due_at`: the
dealer's minutes counted in its opening hours, the default figures without a dealer).

Worked out when a lead is stored and whenever it moves to another dealer (a session event, as
for its progress), so a lead keeps the due time of the rules it came in under. The network view
then judges a quarter's leads in SQL (first contact within the due seconds or not) instead of
fetching tens of thousands and walking each dealer's calendar (bench/funnel.py).

Leads written around the ORM in one statement (ingest's) get theirs from `seconds_for` as they
are written; a bulk load (the benchmarks' COPY) calls `fill`; migration 0037 filled the leads
stored before it.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from itertools import chain, islice
from typing import cast

from sqlalchemy import Connection, Table, bindparam, event, select, update
from sqlalchemy.orm import Session, UOWTransaction, attributes
from sqlalchemy.orm.attributes import set_committed_value

from cdp.leads.routing_queries import DealerEntry
from cdp.leads.sla import DueClock, sla_due_at
from cdp.models import Dealer, Lead

CHUNK = 5000
_LEAD = cast(Table, Lead.__table__)
_DEALER = cast(Table, Dealer.__table__)
_STORE = (
    update(_LEAD)
    .where(_LEAD.c.id == bindparam("lead_id"))
    .values(sla_due_s=bindparam("due_s"))
    .execution_options(synchronize_session=False)
)


def _dealers(connection: Connection, ids: Collection[int]) -> dict[int, DealerEntry]:
    """What the SLA needs of these dealers (only the columns it reads: a migration runs this
    on a table that may not have later columns yet)."""
    if not ids:
        return {}
    d = _DEALER.c
    rows = connection.execute(
        select(
            d.id, d.code, d.active, d.country, d.time_zone, d.opening_hours,
            d.sla_first_contact_minutes, d.sla_warning_minutes,
        ).where(d.id.in_(sorted(ids)))
    )  # fmt: skip
    return {
        row.id: DealerEntry(
            id=row.id,
            code=row.code,
            active=bool(row.active),
            postal_areas=(),
            country=row.country,
            time_zone=row.time_zone,
            opening_hours=row.opening_hours,
            sla_minutes=row.sla_first_contact_minutes,
            sla_warning_minutes=row.sla_warning_minutes,
        )
        for row in rows
    }


def seconds_for(
    connection: Connection, leads: Sequence[tuple[int | None, datetime]]
) -> list[float | None]:
    """The due seconds of leads given as (dealer id, arrival), in order (None for a dealer
    that does not exist): for leads written in one statement, around the ORM (ingest)."""
    dealers: dict[int | None, DealerEntry | None] = {None: None}
    for dealer_id, dealer in _dealers(connection, {d for d, _ in leads if d is not None}).items():
        dealers[dealer_id] = dealer
    return [
        _seconds(created_at, sla_due_at(dealers[dealer_id], created_at))
        if dealer_id in dealers
        else None
        for dealer_id, created_at in leads
    ]


def store(connection: Connection, lead_ids: Collection[int]) -> dict[int, float]:
    """Work out and store the due seconds of these leads; returns them."""
    done: dict[int, float] = {}
    it = iter(sorted(set(lead_ids)))
    while chunk := list(islice(it, CHUNK)):
        rows = connection.execute(
            select(_LEAD.c.id, _LEAD.c.dealer_id, _LEAD.c.created_at).where(_LEAD.c.id.in_(chunk))
        ).all()
        found = seconds_for(connection, [(dealer_id, at) for _, dealer_id, at in rows])
        pairs = zip((row[0] for row in rows), found, strict=True)
        known = {lead_id: due for lead_id, due in pairs if due is not None}
        if known:
            connection.execute(_STORE, [{"lead_id": i, "due_s": s} for i, s in known.items()])
        done.update(known)
    return done


def fill(connection: Connection) -> int:
    """Every lead without its due seconds (a migration, a bulk load): one calendar per dealer
    for the span of its leads (`DueClock`), not a walk per lead. Returns the leads filled."""
    missing = select(_LEAD.c.dealer_id).where(_LEAD.c.sla_due_s.is_(None)).distinct()
    dealer_ids = list(connection.scalars(missing))
    dealers = _dealers(connection, {d for d in dealer_ids if d is not None})
    filled = 0
    for dealer_id in dealer_ids:
        dealer = dealers.get(dealer_id) if dealer_id is not None else None
        if dealer_id is not None and dealer is None:
            continue
        at_dealer = (
            _LEAD.c.dealer_id.is_(None) if dealer_id is None else _LEAD.c.dealer_id == dealer_id
        )
        rows = connection.execute(
            select(_LEAD.c.id, _LEAD.c.created_at)
            .where(_LEAD.c.sla_due_s.is_(None), at_dealer)
            .order_by(_LEAD.c.created_at)
        ).all()
        if not rows:
            continue
        clock = DueClock(dealer, rows[0][1], rows[-1][1])
        it = iter(rows)
        while chunk := list(islice(it, CHUNK)):
            connection.execute(
                _STORE,
                [
                    {"lead_id": lead_id, "due_s": _seconds(at, clock.due_at(at))}
                    for lead_id, at in chunk
                ],
            )
        filled += len(rows)
    return filled


def _seconds(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds()


# --- kept in step with every flush ----------------------------------------------------------
def _moved(obj: object) -> bool:
    """A lead that moved to another dealer (or was re-dated)."""
    if not isinstance(obj, Lead) or obj.id is None:
        return False
    return any(
        attributes.get_history(obj, name).has_changes() for name in ("dealer_id", "created_at")
    )


def _after_flush(session: Session, _flush: UOWTransaction) -> None:
    stored = (obj for obj in session.new if isinstance(obj, Lead) and obj.id is not None)
    moved = (obj for obj in session.dirty if _moved(obj))
    touched = {cast(Lead, obj).id for obj in chain(stored, moved)}
    if touched:
        found = store(session.connection(), touched)
        for lead_id, due in found.items():
            lead = session.identity_map.get(session.identity_key(Lead, lead_id))
            if lead is not None:
                set_committed_value(lead, "sla_due_s", due)


def watch_sessions() -> None:
    """Keep every session's new and moved leads' due times (idempotent)."""
    if not event.contains(Session, "after_flush", _after_flush):
        event.listen(Session, "after_flush", _after_flush)
