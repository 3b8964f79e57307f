"""A lead's progress, kept on the lead: how far along the funnel it got, when it first reached
each step, how fast it was first contacted, how many attempts it took to reach, how long the
sale took.

The history (stage changes, showed appointments, floor visits, contact attempts) stays the
truth; these columns are worked out from it again for every lead whose history a flush touched
(`watch_sessions`), so the funnel, the network view, spend and the planner read one row a lead
(a network's year is half a million) instead of joining four histories. Rows written around the
ORM (the demo's bulk inserts, the benchmark's COPY) call `refresh` themselves; migration 0033
filled the leads that existed before.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, fields
from datetime import datetime
from itertools import chain, islice
from typing import Any, cast

from sqlalchemy import (
    Connection,
    Double,
    Subquery,
    Table,
    bindparam,
    case,
    event,
    extract,
    func,
    select,
    union_all,
    update,
)
from sqlalchemy import cast as sa_cast
from sqlalchemy.orm import Session, UOWTransaction, attributes
from sqlalchemy.orm.attributes import set_committed_value

from cdp.leads.norms import NORM_STEPS
from cdp.models import Appointment, ContactAttempt, Lead, LeadStageChange, ShowroomVisit

STEPS = NORM_STEPS  # reached, appointment, show, test_drive, quote, sold
# How far each stage is along the funnel (1: reached ... 6: sold); a show is 3, between the
# appointment and the test drive, and only the appointments and the floor tell it.
STAGE_RANK = {
    "reached": 1,
    "appointment": 2,
    "test_drive": 4,
    "quote": 5,
    "sold": 6,
    "delivered": 6,
}
SHOW_RANK = STEPS.index("show") + 1
SOLD_STAGES = tuple(stage for stage, rank in STAGE_RANK.items() if rank == len(STEPS))
REACHING_OUTCOMES = ("reached", "replied")
# The lead's column holding when it first reached each step, in the order of STEPS.
STEP_AT = {
    "reached": Lead.step_reached_at,
    "appointment": Lead.step_appointment_at,
    "show": Lead.step_show_at,
    "test_drive": Lead.step_test_drive_at,
    "quote": Lead.step_quote_at,
    "sold": Lead.step_sold_at,
}
CHUNK = 2000  # leads per round trip when many are refreshed at once


@dataclass(frozen=True)
class Progress:
    furthest_step: int = 0
    step_reached_at: datetime | None = None
    step_appointment_at: datetime | None = None
    step_show_at: datetime | None = None
    step_test_drive_at: datetime | None = None
    step_quote_at: datetime | None = None
    step_sold_at: datetime | None = None
    last_step_at: datetime | None = None
    first_contact_s: float | None = None
    attempts_to_reach: int | None = None
    sold_after_s: float | None = None


PROGRESS_COLUMNS = tuple(f.name for f in fields(Progress))


@dataclass
class _History:
    stage: str
    created_at: datetime
    changes: list[tuple[str, datetime]]
    shows: list[datetime]
    attempts: list[tuple[str, datetime]]


def _earliest(*moments: datetime | None) -> datetime | None:
    known = [m for m in moments if m is not None]
    return min(known) if known else None


def progress_of(history: _History) -> Progress:
    """The progress a lead's history says (pure: the same rules the docs give)."""
    shown = _earliest(*history.shows)
    rank = max(
        [STAGE_RANK.get(history.stage, 0), SHOW_RANK if shown else 0]
        + [STAGE_RANK.get(stage, 0) for stage, _ in history.changes]
    )
    reached: list[datetime | None] = []
    for step in range(1, len(STEPS) + 1):
        changed = _earliest(
            *(at for stage, at in history.changes if STAGE_RANK.get(stage, 0) >= step)
        )
        reached.append(_earliest(changed, shown) if step <= SHOW_RANK else changed)
    known = [at for at in reached if at is not None]
    first_contact = _earliest(*(at for _, at in history.attempts))
    reaching = _earliest(*(at for outcome, at in history.attempts if outcome in REACHING_OUTCOMES))
    sold = reached[-1]
    return Progress(
        furthest_step=rank,
        step_reached_at=reached[0],
        step_appointment_at=reached[1],
        step_show_at=reached[2],
        step_test_drive_at=reached[3],
        step_quote_at=reached[4],
        step_sold_at=reached[5],
        last_step_at=max(known) if known else None,
        first_contact_s=_seconds(history.created_at, first_contact),
        attempts_to_reach=None
        if reaching is None
        else sum(1 for _, at in history.attempts if at <= reaching),
        sold_after_s=_seconds(history.created_at, sold),
    )


def _seconds(start: datetime, end: datetime | None) -> float | None:
    return None if end is None else (end - start).total_seconds()


def _chunks(ids: Iterable[int], size: int) -> Iterator[list[int]]:
    it = iter(ids)
    while chunk := list(islice(it, size)):
        yield chunk


def _histories(connection: Connection, ids: list[int]) -> dict[int, _History]:
    """The history of each lead of `ids`: four indexed reads by lead id."""
    lead = Lead.__table__.c
    # The leads' rows locked first (PostgreSQL; SQLite has one writer at a time): a transaction
    # adding to the same lead's history at the same moment then waits, and the reads below see
    # what it committed, so the last one to store the progress stored it from the whole history.
    rows = select(lead.id, lead.stage, lead.created_at).where(lead.id.in_(ids)).order_by(lead.id)
    if connection.dialect.name == "postgresql":
        rows = rows.with_for_update()
    found = {
        lead_id: _History(stage, created_at, [], [], [])
        for lead_id, stage, created_at in connection.execute(rows)
    }
    change = LeadStageChange.__table__.c
    ranked = change.to_stage.in_(tuple(STAGE_RANK))
    for lead_id, stage, at in connection.execute(
        select(change.lead_id, change.to_stage, change.changed_at).where(
            change.lead_id.in_(ids), ranked
        )
    ):
        found[lead_id].changes.append((stage, at))
    appointment = Appointment.__table__.c
    visit = ShowroomVisit.__table__.c
    shows = select(appointment.lead_id, appointment.starts_at).where(
        appointment.lead_id.in_(ids), appointment.status == "showed"
    )
    visits = select(visit.lead_id, visit.arrived_at).where(visit.lead_id.in_(ids))
    for lead_id, at in chain(connection.execute(shows), connection.execute(visits)):
        found[lead_id].shows.append(at)
    attempt = ContactAttempt.__table__.c
    for lead_id, outcome, at in connection.execute(
        select(attempt.lead_id, attempt.outcome, attempt.attempted_at).where(
            attempt.lead_id.in_(ids)
        )
    ):
        found[lead_id].attempts.append((outcome, at))
    return found


def refresh(connection: Connection, lead_ids: Collection[int]) -> dict[int, Progress]:
    """Work out the progress of these leads from their history and store it; returns it."""
    table = cast(Table, Lead.__table__)
    statement = (
        update(table)
        .where(table.c.id == bindparam("lead_id"))
        .values({name: bindparam(name) for name in PROGRESS_COLUMNS})
    )
    done: dict[int, Progress] = {}
    for chunk in _chunks(sorted(set(lead_ids)), CHUNK):
        histories = _histories(connection, chunk)
        progress = {lead_id: progress_of(h) for lead_id, h in histories.items()}
        if progress:
            connection.execute(
                statement,
                [{"lead_id": lead_id, **vars(p)} for lead_id, p in progress.items()],
            )
        done.update(progress)
    return done


def refresh_all(connection: Connection) -> int:
    """Every lead's progress (a migration, a bulk load): returns the number of leads.

    On PostgreSQL one UPDATE from the histories grouped by lead (`_progress_of_every_lead`):
    half a million leads in well under a minute, where the per-lead path (`refresh`, whose
    reads by lead id suit a flush's few leads) took minutes. SQLite holds small sets: the
    per-lead path, the rules in Python."""
    if connection.dialect.name != "postgresql":
        ids = connection.scalars(select(Lead.__table__.c.id)).all()
        refresh(connection, ids)
        return len(ids)
    table = cast(Table, Lead.__table__)
    found = _progress_of_every_lead()
    result = connection.execute(
        update(table)
        .where(table.c.id == found.c.id)
        .values({name: found.c[name] for name in PROGRESS_COLUMNS})
    )
    return int(result.rowcount)


def _progress_of_every_lead() -> Subquery:
    """`progress_of` in SQL for every lead at once: each history grouped by lead, joined to the
    leads. PostgreSQL's least/greatest skip nulls, as `_earliest` and max over the known do."""
    lead = Lead.__table__.c
    change = LeadStageChange.__table__.c
    ranked = (
        select(
            change.lead_id,
            change.changed_at,
            case(STAGE_RANK, value=change.to_stage).label("rank"),
        )
        .where(change.to_stage.in_(tuple(STAGE_RANK)))
        .subquery()
    )
    steps = range(1, len(STEPS) + 1)
    changes = (
        select(
            ranked.c.lead_id,
            func.max(ranked.c.rank).label("rank"),
            *(
                func.min(ranked.c.changed_at).filter(ranked.c.rank >= step).label(f"at{step}")
                for step in steps
            ),
        )
        .group_by(ranked.c.lead_id)
        .subquery()
    )
    appointment = Appointment.__table__.c
    visit = ShowroomVisit.__table__.c
    moments = union_all(
        select(appointment.lead_id, appointment.starts_at.label("at")).where(
            appointment.lead_id.is_not(None), appointment.status == "showed"
        ),
        select(visit.lead_id, visit.arrived_at).where(visit.lead_id.is_not(None)),
    ).subquery()
    shows = (
        select(moments.c.lead_id, func.min(moments.c.at).label("shown"))
        .group_by(moments.c.lead_id)
        .subquery()
    )
    attempt = ContactAttempt.__table__.c
    reaching = attempt.outcome.in_(REACHING_OUTCOMES)
    contacts = (
        select(
            attempt.lead_id,
            func.min(attempt.attempted_at).label("first"),
            func.min(attempt.attempted_at).filter(reaching).label("reaching"),
        )
        .where(attempt.lead_id.is_not(None))
        .group_by(attempt.lead_id)
        .cte("contacts")
    )
    tries = (
        select(attempt.lead_id, func.count().label("attempts"))
        .join(contacts, contacts.c.lead_id == attempt.lead_id)
        .where(attempt.attempted_at <= contacts.c.reaching)
        .group_by(attempt.lead_id)
        .subquery()
    )
    shown = shows.c.shown
    reached = [
        func.least(changes.c[f"at{step}"], shown) if step <= SHOW_RANK else changes.c[f"at{step}"]
        for step in steps
    ]
    rank = func.greatest(
        case(STAGE_RANK, value=lead.stage, else_=0),
        func.coalesce(changes.c.rank, 0),
        case((shown.is_not(None), SHOW_RANK), else_=0),
    )

    def seconds(end: Any) -> Any:
        return sa_cast(extract("epoch", end - lead.created_at), Double)

    return (
        select(
            lead.id,
            rank.label("furthest_step"),
            *(at.label(column.key) for at, column in zip(reached, STEP_AT.values(), strict=True)),
            func.greatest(*reached).label("last_step_at"),
            seconds(contacts.c.first).label("first_contact_s"),
            tries.c.attempts.label("attempts_to_reach"),
            seconds(reached[-1]).label("sold_after_s"),
        )
        .select_from(
            Lead.__table__.outerjoin(changes, changes.c.lead_id == lead.id)
            .outerjoin(shows, shows.c.lead_id == lead.id)
            .outerjoin(contacts, contacts.c.lead_id == lead.id)
            .outerjoin(tries, tries.c.lead_id == lead.id)
        )
        .subquery()
    )


# --- kept in step with every flush ----------------------------------------------------------
_HISTORY_TYPES = (LeadStageChange, ContactAttempt, Appointment, ShowroomVisit)
_PENDING = "lead_progress_refreshed"


def _lead_ids_of(obj: Any) -> set[int]:
    """The leads whose progress this changed object may change: its lead (and the one it was
    moved from); a new lead or one whose stage changed."""
    if isinstance(obj, Lead):
        stage = attributes.get_history(obj, "stage")
        return {obj.id} if obj.id is not None and (stage.added or stage.deleted) else set()
    if not isinstance(obj, _HISTORY_TYPES):
        return set()
    history = attributes.get_history(obj, "lead_id")
    ids = set(chain(history.added, history.unchanged, history.deleted))
    return {lead_id for lead_id in ids if lead_id is not None}


def _after_flush(session: Session, _flush: UOWTransaction) -> None:
    touched = set(
        chain.from_iterable(
            _lead_ids_of(obj) for obj in chain(session.new, session.dirty, session.deleted)
        )
    )
    if touched:
        found = refresh(session.connection(), touched)
        session.info.setdefault(_PENDING, {}).update(found)


def _after_flush_postexec(session: Session, _flush: UOWTransaction) -> None:
    _show(session, session.info.pop(_PENDING, {}))


def refresh_leads(session: Session, lead_ids: Collection[int]) -> None:
    """Refresh these leads after writing their history around the ORM (bulk inserts)."""
    session.flush()
    _show(session, refresh(session.connection(), lead_ids))


def _show(session: Session, found: dict[int, Progress]) -> None:
    """The leads held by this session see the progress just stored, without a reload."""
    for lead_id, progress in found.items():
        lead = session.identity_map.get(session.identity_key(Lead, lead_id))
        if lead is None:
            continue
        for name in PROGRESS_COLUMNS:
            set_committed_value(lead, name, getattr(progress, name))


def watch_sessions() -> None:
    """Keep every session's leads' progress in step with the history it flushes (idempotent)."""
    if not event.contains(Session, "after_flush", _after_flush):
        event.listen(Session, "after_flush", _after_flush)
        event.listen(Session, "after_flush_postexec", _after_flush_postexec)
