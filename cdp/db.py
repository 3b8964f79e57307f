"""Engine and sessions. The engine is built by the app's lifespan or the CLI, never at import."""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import orjson
import psycopg
from psycopg.types.json import set_json_dumps
from sqlalchemy import Dialect, Engine, Table, create_engine, event, insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from cdp import json_exact

# A pooled connection older than this is replaced at checkout. This, and not a ping per
# checkout, is how stale connections are avoided; a connection found dead anyway (the server
# restarted) invalidates the whole pool, and the ingest routes retry on a fresh one.
POOL_RECYCLE_SECONDS = 1800

# orjson for JSON columns, wherever it gives exactly what json.dumps / json.loads give.
_ORJSON_DUMPS_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
# 19 digits in a row may be an integer past 64 bits, which orjson.loads turns into a float.
_LONG_DIGITS_BYTES = re.compile(rb"[0-9]{19}")
_LONG_DIGITS_STR = re.compile(r"[0-9]{19}")


def json_dumps(value: Any) -> str:
    """A value as JSON text, as `json.dumps(value)` would store it (the spacing may differ).

    orjson does the work unless its result could differ: what it cannot serialize (Decimal,
    datetime, dataclasses, integers past 64 bits, non-string keys, numpy scalars, ...) goes to
    json.dumps, which serializes or refuses it as before; so does a value holding NaN or an
    infinity, which orjson writes as null where json.dumps writes NaN and Infinity (which
    PostgreSQL refuses, and SQLite stores).
    """
    data = _by_orjson(value)
    return json.dumps(value) if data is None else data.decode()


def json_bytes(value: Any) -> bytes:
    """`json_dumps` as UTF-8 bytes, what psycopg sends (no round trip through str)."""
    data = _by_orjson(value)
    return json.dumps(value).encode() if data is None else data


def _by_orjson(value: Any) -> bytes | None:
    """orjson's JSON of the value where it is exactly what json.dumps would write, else None."""
    try:
        data = orjson.dumps(value, option=_ORJSON_DUMPS_OPTIONS)
    except TypeError:  # orjson.JSONEncodeError
        return None
    # Only a null in the output can stand for a NaN or an infinity: look for one only then.
    if b"null" in data and _holds_non_finite(value):
        return None
    return data


def _holds_non_finite(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_holds_non_finite(item) for item in value.values())
    if isinstance(value, (list, tuple)):
        return any(_holds_non_finite(item) for item in value)
    return False


def _sqlite_json_dumps(value: Any) -> str | bytes:
    """`json_dumps`, but an integer past 64 bits as the whole value (a trait's) goes as bytes.

    SQLite gives a column declared JSON numeric affinity: the text of such a number would be
    stored as a REAL, rounded. A BLOB is stored as it comes, and `json_loads` reads it the same.
    """
    text = json_dumps(value)
    if isinstance(value, int) and not -(2**63) <= value < 2**63:
        return text.encode()
    return text


def json_loads(text: str | bytes) -> Any:
    """`json.loads(text)`, by orjson when that gives the same (it always does but for huge
    integers, which orjson makes floats and json_exact reads exactly, and NaN/Infinity, which
    it refuses)."""
    long_digits = (
        _LONG_DIGITS_STR.search(text) if isinstance(text, str) else _LONG_DIGITS_BYTES.search(text)
    )
    try:
        if long_digits is None:
            return orjson.loads(text)
        # Without recursion (json.loads recurses): a value may be nested deep.
        return json_exact.loads(text.encode() if isinstance(text, str) else text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def is_sqlite(url_or_engine: str | Engine) -> bool:
    url = url_or_engine if isinstance(url_or_engine, str) else str(url_or_engine.url)
    return url.startswith("sqlite")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers run while a writer commits; foreign keys are off by default in SQLite.
    # isolation_level=None hands transaction control to the "begin" hook below.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # FULL: a commit is on disk before we answer (in WAL mode NORMAL may lose the last commits
    # to a power cut, though an acknowledged event must be durable). Measured: /v1/track went
    # from 875-1,068 to 593-781 requests/s (wrk -c20, alternating; docs/benchmarks.md).
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


# An execution option of the engine that only reads (`read_only_engine`).
_READS_ONLY = "cdp_reads_only"


def _sqlite_begin(conn: Any) -> None:
    # BEGIN IMMEDIATE takes the write lock up front, so two writers never read a snapshot and then
    # fail to upgrade it (SQLITE_BUSY), which deferred transactions do under concurrency. What
    # only reads needs no lock: in WAL mode its snapshot waits for nobody and nobody for it.
    reads_only = conn.get_execution_options().get(_READS_ONLY, False)
    conn.exec_driver_sql("BEGIN" if reads_only else "BEGIN IMMEDIATE")


def read_only_engine(engine: Engine) -> Engine:
    """The engine for requests that only read (lookups, API tokens): the same pool. On
    PostgreSQL in autocommit, no BEGIN and COMMIT around them; on SQLite a deferred BEGIN, so
    searches run side by side instead of queueing for the write lock behind each other and
    every write (busy for up to 30 s under load, then failing)."""
    if engine.dialect.name == "postgresql":
        return engine.execution_options(isolation_level="AUTOCOMMIT")
    return engine.execution_options(**{_READS_ONLY: True})


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    # Every session over our database keeps its leads' progress in step with their history,
    # and each lead's speed-to-lead due time. Imported late: they need the models.
    from cdp.leads import progress, sla_due

    progress.watch_sessions()
    sla_due.watch_sessions()
    if is_sqlite(url):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            json_serializer=_sqlite_json_dumps,
            json_deserializer=json_loads,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    engine = create_engine(
        url,
        # Sessions in UTC, as every timestamp of the product is: psycopg then hands back
        # datetimes in datetime.UTC, which UtcDateTime passes through without converting (a
        # server in "Etc/UTC" or a local zone costs a conversion per value: 85,000 of them for
        # the network view of a quarter at 200 dealers). Absolute times do not change.
        connect_args={"options": "-c timezone=UTC"},
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=False,  # a round trip per checkout; see POOL_RECYCLE_SECONDS
        pool_recycle=POOL_RECYCLE_SECONDS,
        json_serializer=json_dumps,
        json_deserializer=json_loads,
    )
    event.listen(engine, "connect", _postgresql_json)
    return engine


def _postgresql_json(dbapi_connection: Any, _record: Any) -> None:
    # What psycopg itself serialises (the event COPY hands it dicts) as SQLAlchemy does.
    set_json_dumps(json_bytes, dbapi_connection)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A unit of work: commits when the block ends, rolls back if it raises."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def insert_rows(session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """INSERT rows that all carry the same columns (every column without a database default).

    PostgreSQL: one COPY, whatever the number of rows: an executemany sends one statement per
    row, each with its own round of work on both sides (measured: the ingest hot path spent more
    on these than on the statements' own work). Values go through the columns' types as an
    INSERT would send them (JSON serialised, times checked). SQLite: an executemany.
    """
    if not rows:
        return
    dialect = session.get_bind().dialect
    if dialect.name != "postgresql":
        session.execute(insert(table), rows)
        return
    columns = tuple(rows[0])
    processors = _bind_processors(table, columns, dialect)
    statement = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"
    raw = session.connection().connection.driver_connection
    assert isinstance(raw, psycopg.Connection)
    try:
        with raw.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(
                    [
                        value if process is None or value is None else process(value)
                        for value, process in zip(
                            (row[column] for column in columns), processors, strict=True
                        )
                    ]
                )
    except psycopg.Error as error:  # as SQLAlchemy raises driver errors (the routes retry some)
        raise DBAPIError.instance(statement, None, error, psycopg.Error) from error


@functools.cache
def _bind_processors(
    table: Table, columns: tuple[str, ...], dialect: Dialect
) -> tuple[Callable[[Any], Any] | None, ...]:
    return tuple(
        table.c[column].type.dialect_impl(dialect).bind_processor(dialect) for column in columns
    )
