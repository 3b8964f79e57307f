"""The network's funnel follows every change of its leads, whatever writes it: the ORM, a
statement around it, a deletion. On PostgreSQL those figures come from the tally a trigger keeps
(cdp/leads/tally.py), and settling it changes nothing but its number of rows; on SQLite from the
leads. Each figure is checked against counts made here over the rows (tests/funnel_data.py)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, delete, func, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from cdp.leads import tally
from cdp.local_time import local_today
from cdp.models import (
    Appointment,
    ContactAttempt,
    FunnelTally,
    Lead,
    LeadStageChange,
    Profile,
    ShowroomVisit,
    utcnow,
)
from cdp.models.funnel_tally import DAY_KINDS
from tests.funnel_data import (
    CELL_KINDS,
    CHANNEL_LABELS,
    MadeLead,
    Network,
    days_bounds,
    expected_counts,
    expected_why,
    funnel_csv,
    make_network,
    month_bounds,
)
from tests.helpers import StaffClient, database_at


def _assert_network_figures(manager: StaffClient, leads: list[MadeLead]) -> None:
    """Steps per channel, the why's counts, lost reasons and the trend of the whole network."""
    today = local_today(utcnow())
    since, until = days_bounds(today - timedelta(days=364), today)
    steps = {row["channel"]: row for row in funnel_csv(manager, "steps", {"period": "last365"})}
    for channel, label in CHANNEL_LABELS.items():
        mine = [lead for lead in leads if lead.channel == channel]
        want = expected_counts(mine, since, until, "cohort")
        got = {
            kind: int(steps[label]["valid_leads" if kind == "valid" else kind])
            for kind in CELL_KINDS
        }
        assert got == want, label
    why = {row["figure"]: row["value"] for row in funnel_csv(manager, "why", {"period": "last365"})}
    expected = expected_why(leads, since, until)
    for figure in ("valid leads", "contacted"):
        assert int(why[figure]) == expected[figure], figure
    lost = funnel_csv(manager, "lost", {"period": "last365"})
    counted: dict[tuple[str, str], int] = {}
    for lead in leads:
        if lead.stage == "lost" and since <= lead.created_at < until:
            key = (CHANNEL_LABELS[lead.channel], lead.lost_reason or "other")
            counted[key] = counted.get(key, 0) + 1
    shown = {
        (row["channel"], row["lost_reason"]): int(row["leads"])
        for row in lost
        if row["channel"] != "All channels"
    }
    assert shown == counted
    for row in funnel_csv(manager, "trend", {"period": "last90"}):
        year, month = map(int, row["month"].split("-"))
        start, end = month_bounds(date(year, month, 1))
        made = sum(lead.valid and start <= lead.created_at < end for lead in leads)
        sold = sum(
            lead.valid and (at := lead.first_at(6)) is not None and start <= at < end
            for lead in leads
        )
        assert (int(row["leads"]), int(row["sales"])) == (made, sold), row


def _tally_rows(factory: sessionmaker[Session], *where: Any) -> int:
    with factory() as session:
        query = select(func.count()).select_from(FunnelTally).where(*where)
        return int(session.scalar(query) or 0)


def test_the_network_figures_follow_every_change_of_a_lead(
    staff_client: Callable[[str], StaffClient],
    session_factory: sessionmaker[Session],
    db_kind: str,
) -> None:
    network: Network = make_network(session_factory, seed=5)
    manager = staff_client("manager")  # the importer's: the whole network
    _assert_network_figures(manager, network.leads)
    now = utcnow()
    recent = [lead for lead in network.leads if now - lead.created_at < timedelta(days=300)]
    valid = [lead for lead in recent if lead.valid and lead.stage != "lost"]
    untouched = [lead for lead in recent if not lead.attempts and lead.valid]
    with session_factory() as session:
        # The ORM: a lead found to be no lead, and a first call to another.
        invalid = valid[0]
        row = session.get(Lead, invalid.id)
        assert row is not None
        session.add(LeadStageChange(lead_id=row.id, from_stage=row.stage, to_stage="invalid"))
        row.stage = invalid.stage = "invalid"
        called = untouched[0]
        at = called.created_at + timedelta(minutes=3)
        session.add(
            ContactAttempt(
                dealer_id=network.dealers[called.dealer], lead_id=called.id,
                profile_id=session.get(Lead, called.id).profile_id,  # type: ignore[union-attr]
                method="call", outcome="reached", attempted_at=at,
            )
        )  # fmt: skip
        called.attempts.append((at, "reached"))
        # A statement around the ORM: a lead put in another channel.
        moved = valid[1]
        target = "phone" if moved.channel != "phone" else "website"
        session.execute(update(Lead).where(Lead.id == moved.id).values(channel=target))
        moved.channel = target
        # A lead deleted with its history (as an erasure does).
        gone = valid[2]
        for table in (LeadStageChange, ContactAttempt, Appointment, ShowroomVisit):
            session.execute(delete(table).where(table.lead_id == gone.id))
        session.execute(delete(Lead).where(Lead.id == gone.id))
        network.leads.remove(gone)
        session.commit()
    _assert_network_figures(manager, network.leads)
    if db_kind != "postgresql":
        assert _tally_rows(session_factory) == 0  # SQLite reads the leads themselves
        return
    day_rows = FunnelTally.kind.in_(DAY_KINDS)
    before = _tally_rows(session_factory, day_rows)
    with session_factory() as session:
        written = tally.settle(session)
        session.commit()
    # The +1 and -1 rows of each change summed away, each month's rows summed from its days.
    assert 0 < written == _tally_rows(session_factory, day_rows) < before
    assert _tally_rows(session_factory, FunnelTally.settled.is_(False)) == 0
    assert _tally_rows(session_factory, FunnelTally.kind.not_in(DAY_KINDS)) > 0
    _assert_network_figures(manager, network.leads)
    with session_factory() as session:  # nothing left to settle
        assert tally.settle(session) == 0
        session.commit()


@pytest.mark.parametrize("db_kind", ["postgresql"], indirect=True)
def test_a_rebuild_counts_the_same_as_the_trigger_kept(
    session_factory: sessionmaker[Session], db_kind: str
) -> None:
    make_network(session_factory, seed=6)

    def rows(kinds: tuple[str, ...] = DAY_KINDS) -> list[tuple[object, ...]]:
        with session_factory() as session:
            t = FunnelTally.__table__.c
            total = func.sum(t.n)
            keys = (t.kind, t.day, t.channel, t.stage, t.step, t.sold_dated, t.label)
            query = (
                select(*keys, total)
                .where(t.kind.in_(kinds))
                .group_by(*keys)
                .having(total != 0)
                .order_by(*keys)
            )
            return [tuple(row) for row in session.execute(query)]

    kept = rows()
    assert kept
    with session_factory() as session:
        assert tally.rebuild(session.connection()) > 0
        session.commit()
    assert rows() == kept
    months: dict[tuple[object, ...], int] = {}  # each month's rows: its days' rows summed
    for kind, day, *keys, n in kept:
        key = (str(kind).upper(), day.replace(day=1), *keys)  # type: ignore[attr-defined]
        months[key] = months.get(key, 0) + int(n)  # type: ignore[call-overload]
    capitals = tuple(kind.upper() for kind in DAY_KINDS)
    assert sorted(map(repr, rows(capitals))) == sorted(
        repr((*key, n)) for key, n in months.items() if n
    )


@pytest.fixture()
def own_engine(db_kind: str, tmp_path: Path) -> Iterator[Engine]:
    if db_kind != "postgresql":
        pytest.skip("the tally is PostgreSQL's; SQLite lets one writer in at a time")
    with database_at(db_kind, tmp_path, "tally_race", "head") as engine:
        yield engine


def _new_lead(session: Session) -> None:
    profile = Profile(id=uuid.uuid4(), first_seen_at=utcnow(), last_seen_at=utcnow())
    session.add(profile)
    session.flush()
    session.add(Lead(profile_id=profile.id, channel="website", stage="new"))
    session.flush()


def test_leads_stored_at_once_never_wait_for_each_other(own_engine: Engine) -> None:
    # The same day and channel, so the same counts: each transaction only adds rows of its own.
    first, second = Session(own_engine), Session(own_engine)
    try:
        _new_lead(first)  # its transaction stays open
        second.execute(text("SET LOCAL lock_timeout = '1s'"))
        _new_lead(second)  # would fail after a second if it had to wait for the first
        second.commit()
        first.commit()
    finally:
        first.close()
        second.close()
    with Session(own_engine) as session:
        t = FunnelTally.__table__.c
        made = session.scalar(select(func.sum(t.n)).where(t.kind == "c"))
        assert made == 2
