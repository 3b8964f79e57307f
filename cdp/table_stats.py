"""Planner statistics for a new installation, before autovacuum has gathered any (PostgreSQL).

Without statistics the planner takes `source_id = ?` to match 0.5 % of the events, when one
source sends nearly all of them: on a small table it then reads all of that source's events
and filters them against the batch's messageIds, rather than looking each one up in the
unique index. Worse, psycopg prepares a statement after a few executions, and PostgreSQL keeps
the generic plan it made then, while the tables were empty, until the statistics of a table
it reads change. Measured on a fresh database (never analyzed): the stored-messageId lookup
of 500 ids took 71 ms at 5,000 events and 3.1 s at 200,000 with the plan made on the empty
table, against 0.8 ms once the table was analyzed, which also replaces the cached plan.

So statistics are gathered right after migrations, after the demo is loaded, and whenever a
table has grown to GROWTH times the rows its statistics describe (from MIN_ROWS rows): a few
ANALYZEs per table in its life (each samples at most 30,000 rows), where autovacuum, when it
runs, analyzes far more often and so leaves nothing to do here. SQLite is left alone: it has
no cached plans, and statistics of empty tables would mislead its planner later.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy import Connection, Engine, TextClause, text
from sqlalchemy.exc import SQLAlchemyError

MIN_ROWS = 1_000
GROWTH = 2
# How often a running server looks for grown tables: one cheap query on the statistics views.
# A new installation under load stores thousands of events a second, so it must be soon.
CHECK_SECONDS = 2.0
# Only one process analyzes at a time (a second ANALYZE of a table would wait, then redo it).
_LOCK_KEY = 0x63647073_74617473  # "cdpstats"

_GROWN = text(
    "SELECT s.relname FROM pg_stat_user_tables AS s JOIN pg_class AS c ON c.oid = s.relid "
    "WHERE s.schemaname = current_schema() AND s.n_live_tup >= :min_rows "
    "AND s.n_live_tup >= :growth * greatest(c.reltuples, 0) ORDER BY s.relname"
)
_ALL = text(
    "SELECT relname FROM pg_stat_user_tables WHERE schemaname = current_schema() ORDER BY 1"
)

log = logging.getLogger(__name__)


def analyze_all(engine: Engine) -> list[str]:
    """ANALYZE every table of the schema (a new installation's are empty: milliseconds)."""
    return _analyze(engine, _ALL, {})


def analyze_grown(engine: Engine) -> list[str]:
    """ANALYZE the tables that have grown to GROWTH times the rows of their statistics (or
    have MIN_ROWS and none); their names. Nothing while another process is at it."""
    return _analyze(engine, _GROWN, {"min_rows": MIN_ROWS, "growth": GROWTH})


def _analyze(engine: Engine, which: TextClause, params: dict[str, int]) -> list[str]:
    if engine.dialect.name != "postgresql":
        return []
    with engine.connect() as connection:
        connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        if not connection.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": _LOCK_KEY}):
            return []
        try:
            tables = list(connection.scalars(which, params))
            for table in tables:
                _analyze_table(connection, table)
            return tables
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _LOCK_KEY})


def _analyze_table(connection: Connection, table: str) -> None:
    quoted = connection.dialect.identifier_preparer.quote(table)
    connection.exec_driver_sql(f"ANALYZE {quoted}")


class StatisticsKeeper:
    """A server process's background task: `analyze_grown` every CHECK_SECONDS."""

    def __init__(self, engine: Engine, every: float = CHECK_SECONDS) -> None:
        self.engine = engine
        self.every = every
        self.stopping = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.engine.dialect.name == "postgresql":
            self.task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Lets a running ANALYZE finish (a thread cannot be cancelled), before the engine goes."""
        self.stopping.set()
        if self.task is not None:
            await self.task

    async def _run(self) -> None:
        while not self.stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), self.every)
                return
            try:
                analyzed = await asyncio.to_thread(analyze_grown, self.engine)
            except SQLAlchemyError as error:  # the database is away: ingest reports that
                log.warning("could not gather planner statistics: %s", error)
                continue
            if analyzed:
                log.info("planner statistics gathered for %s", ", ".join(analyzed))
