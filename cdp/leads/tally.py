"""The funnel's tally (`cdp.models.FunnelTally`, migration 0035): the network's leads counted per
day, kept by a trigger on `lead` on PostgreSQL, so the network's funnel reads a few thousand
rows however many leads its period holds (a year is a quarter of a million).

Every write of a lead, by the ORM or not, adds +1 rows for what it counts for now and -1 rows
for what it counted for before; rows are only ever inserted, so two transactions never wait for
one shared counter. `settle` (a periodic job of the server) sums each day's rows into one per
key. The leads stay the truth: `rebuild` counts them afresh (after a bulk load with triggers
off), and the funnel reads the leads themselves wherever the tally has no key for a filter (a
dealer, a campaign, a salesperson) or on SQLite, whose small data sets need no tally.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, func, or_, select, text
from sqlalchemy.orm import Session

from cdp.leads.funnel_filters import FunnelFilters
from cdp.local_time import to_local
from cdp.models import FunnelTally
from cdp.sql import dialect_of

T = FunnelTally.__table__.c
# How often a server settles the tally: a busy network adds a few dozen rows meanwhile, and
# a run with nothing to settle is one probe of an empty partial index.
SETTLE_SECONDS = 60
# First contact classes of the "k" rows.
NOT_CONTACTED, WITHIN_5_MIN, WITHIN_1_HOUR, LATER = 0, 1, 2, 3


def serves(session: Session, filters: FunnelFilters) -> bool:
    """Whether the tally answers these filters: the whole network, by channel or not, over
    any days, on PostgreSQL (whose trigger keeps it)."""
    return (
        dialect_of(session) == "postgresql"
        and filters.scope.network
        and not filters.campaign
        and filters.salesperson_id is None
    )


def _full_months(since: date, until: date) -> tuple[date, date]:
    """[first, after) of the calendar months wholly inside the days since..until (inclusive);
    first == after when there is none."""
    first = since if since.day == 1 else _next_month(since)
    after = (
        _next_month(until)
        if _next_month(until) - timedelta(days=1) == until
        else date(until.year, until.month, 1)
    )
    return (first, after) if first < after else (first, first)


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def _where(
    filters: FunnelFilters, kind: str, since: date, until: date
) -> list[ColumnElement[bool]]:
    """The rows of one kind that add up to the days since..until (inclusive): the month rows
    (`kind` in capitals) of the months wholly inside, and the day rows of the days outside
    them, and of the days inside not yet settled into their month's rows."""
    first, after = _full_months(since, until)
    # Each part a range of an index: (kind, day), or the unsettled rows' own (by day).
    where = [
        or_(
            and_(T.kind == kind.upper(), T.day >= first, T.day < after),
            and_(T.kind == kind, T.day >= since, T.day < first),
            and_(T.kind == kind, T.day >= after, T.day <= until),
            and_(~T.settled, T.kind == kind, T.day >= first, T.day < after),
        )
    ]
    if filters.channel:
        where.append(T.channel == filters.channel)
    return where


def _summed(
    session: Session, filters: FunnelFilters, kind: str, keys: Sequence[ColumnElement[Any]]
) -> list[tuple[Any, ...]]:
    """(channel, *keys, leads) of the period's rows of one kind, the keys that add up to none
    left out."""
    period = filters.period
    total = func.sum(T.n)
    rows = session.execute(
        select(T.channel, *keys, total)
        .where(*_where(filters, kind, period.start, period.end))
        .group_by(T.channel, *keys)
        .having(total != 0)
    )
    return [tuple(row) for row in rows]


@dataclass(frozen=True)
class CohortTally:
    """The period's leads as the cohort counts them, per channel."""

    stages: list[tuple[str, str, int | None, int]]  # channel, stage, furthest step, leads
    lost: list[tuple[str, str, int]]  # channel, reason, leads
    attempts: dict[int, int]  # valid leads reached, by the attempts it took
    contacts: dict[int, int]  # valid leads by first-contact class
    sold_dated: int  # valid leads sold, with the time it took


def cohort(session: Session, filters: FunnelFilters) -> CohortTally:
    stages = _summed(session, filters, "c", [T.stage, T.step])
    lost = _summed(session, filters, "r", [T.label])
    attempts: dict[int, int] = {}
    for _channel, tries, n in _summed(session, filters, "a", [T.step]):
        attempts[int(tries)] = attempts.get(int(tries), 0) + int(n)
    contacts: dict[int, int] = {}
    sold = 0
    for _channel, contact, dated, n in _summed(session, filters, "k", [T.step, T.sold_dated]):
        contacts[int(contact)] = contacts.get(int(contact), 0) + int(n)
        sold += int(n) if dated else 0
    return CohortTally(
        stages=[(c, s, None if f is None else int(f), int(n)) for c, s, f, n in stages],
        lost=[(c, r, int(n)) for c, r, n in lost],
        attempts=attempts,
        contacts=contacts,
        sold_dated=sold,
    )


def campaigns(session: Session, filters: FunnelFilters, limit: int) -> list[str]:
    """The campaign names of the period's leads (any channel), for the filter's list."""
    period = filters.period
    kind = "f" if filters.touch == "first" else "l"
    where = _where(replace(filters, channel=None), kind, period.start, period.end)
    query = (
        select(T.label)
        .where(*where)
        .group_by(T.label)
        .having(func.sum(T.n) > 0)
        .order_by(T.label)
        .limit(limit)
    )
    return [str(name) for name in session.scalars(query) if name]


def monthly_trend(
    session: Session, filters: FunnelFilters, months: list[tuple[datetime, datetime]]
) -> list[tuple[int, int]]:
    """(valid leads, leads first sold) in each showroom-time calendar month of `months`."""
    firsts = [to_local(start).date() for start, _ in months]
    last = to_local(months[-1][1]).date() - timedelta(days=1)
    month = func.to_char(T.day, "YYYY-MM").label("month")
    found: dict[tuple[str, str], int] = {}
    for kind in ("v", "s"):
        rows = session.execute(
            select(month, func.sum(T.n))
            .where(*_where(filters, kind, firsts[0], last))
            .group_by(month)
        )
        for key, n in rows:
            found[kind, key] = int(n)
    keys = [f"{day:%Y-%m}" for day in firsts]
    return [(found.get(("v", key), 0), found.get(("s", key), 0)) for key in keys]


# --- kept -----------------------------------------------------------------------------------
_KEYS = "channel, stage, step, sold_dated, label"
# Each day with unsettled rows: its rows summed into one per key. Rows other transactions add
# meanwhile are not seen, so not taken (left for the next run). Returns the rows written and
# the months of the days settled, from the one snapshot that settled them (a month read in a
# statement of its own could miss a day settled here, which no month row would then count).
_SETTLE_DAYS = text(
    f"""
    WITH gone AS (
        DELETE FROM funnel_tally
         WHERE kind = lower(kind)
           AND day IN (SELECT DISTINCT day FROM funnel_tally WHERE NOT settled)
        RETURNING kind, day, {_KEYS}, n
    ), summed AS (
        INSERT INTO funnel_tally (kind, day, {_KEYS}, n, settled)
        SELECT kind, day, {_KEYS}, sum(n), true FROM gone
         GROUP BY kind, day, {_KEYS}
        HAVING sum(n) <> 0
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM summed),
           array_agg(DISTINCT CAST(date_trunc('month', day) AS date))
      FROM gone
    """
)
# The month rows (kind in capitals, day the month's first) of these months, summed again from
# their settled day rows.
_SETTLE_MONTHS = (
    text("DELETE FROM funnel_tally WHERE kind = upper(kind) AND day = ANY(:months)"),
    text(
        f"""
        INSERT INTO funnel_tally (kind, day, {_KEYS}, n, settled)
        SELECT upper(kind), CAST(date_trunc('month', day) AS date), {_KEYS}, sum(n), true
          FROM funnel_tally
         WHERE kind = lower(kind) AND settled
           AND CAST(date_trunc('month', day) AS date) = ANY(:months)
         GROUP BY upper(kind), CAST(date_trunc('month', day) AS date), {_KEYS}
        HAVING sum(n) <> 0
        """
    ),
)
_REBUILD = text(
    f"""
    INSERT INTO funnel_tally (kind, day, {_KEYS}, n, settled)
    SELECT k.kind, k.day, k.channel, k.stage, k.step, k.sold_dated, k.label, count(*), true
      FROM lead, funnel_tally_keys(lead) AS k
     GROUP BY k.kind, k.day, k.channel, k.stage, k.step, k.sold_dated, k.label
    """
)
_EVERY_MONTH = text(
    "SELECT DISTINCT CAST(date_trunc('month', day) AS date) FROM funnel_tally "
    "WHERE kind = lower(kind)"
)


def settle(session: Session) -> int:
    """Sum the rows of every day with unsettled ones into one row per key, so the ledger stays
    a few rows per key and day, and their months' rows again from those (a year is then
    twelve months' rows and the days at its ends). Returns the day rows written."""
    if dialect_of(session) != "postgresql":
        return 0
    written, months = session.execute(_SETTLE_DAYS).one()
    _sum_months(session.connection(), list(months or ()))
    return int(written)


def _sum_months(connection: Connection, months: list[date]) -> None:
    if months:
        for statement in _SETTLE_MONTHS:
            connection.execute(statement, {"months": months})


def settle_job(session: Session, _now: datetime) -> None:
    """`settle` as the server's periodic job."""
    settle(session)


def rebuild(connection: Connection) -> int:
    """Count every lead afresh (after rows were written with triggers off); rows written."""
    if connection.dialect.name != "postgresql":
        return 0
    connection.execute(text("DELETE FROM funnel_tally"))
    written = int(connection.execute(_REBUILD).rowcount)
    _sum_months(connection, list(connection.scalars(_EVERY_MONTH)))
    return written
