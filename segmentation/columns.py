"""Reading query rows into numpy: profile ids as 16-byte strings (no Python object per row),
numbers as float64 or int64; on PostgreSQL through binary COPY to stream them (`read_columns`).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import psycopg
from sqlalchemy import text
from sqlalchemy.orm import Session

from cdp.sql import dialect_of
from segmentation import pgcopy
from segmentation.feature_queries import configurations

Ids = npt.NDArray[np.bytes_]  # profile ids as 16-byte strings (sorted: uuid order)


def literal_sql(session: Session, statement: Any) -> str:
    # Only constants of segmentation's queries are rendered inline: no user input reaches this SQL.
    return str(
        statement.compile(
            dialect=session.get_bind().dialect, compile_kwargs={"literal_binds": True}
        )
    )


def raw_connection(session: Session) -> psycopg.Connection[Any]:
    raw = session.connection().connection.driver_connection
    assert isinstance(raw, psycopg.Connection)
    return raw


def ids_of(values: Sequence[uuid.UUID]) -> Ids:
    return np.frombuffer(b"".join(value.bytes for value in values), dtype="S16").copy()


def as_uuids(ids: Ids) -> list[uuid.UUID]:
    raw = np.ascontiguousarray(ids, dtype="S16").tobytes()
    return [uuid.UUID(bytes=raw[i : i + 16]) for i in range(0, len(raw), 16)]


def read_columns(
    session: Session, statement: Any, kinds: Sequence[pgcopy.Kind]
) -> list[npt.NDArray[Any]]:
    """A query's columns as numpy arrays: ids as 16-byte strings, float8 as float64, integers as
    int64. The query selects no NULLs (NULL numbers become NaN on SQLite).

    On PostgreSQL through `COPY (query) TO STDOUT` in the binary format, parsed with one numpy
    structured dtype (`segmentation.pgcopy`): it streams like a server-side cursor, but unlike a
    cursor it may use a parallel plan, and it is not planned for the first rows (a cursor made
    the event aggregate walk the event index, 15 times slower).
    """
    if dialect_of(session) == "postgresql":
        with raw_connection(session).cursor() as cursor:
            rows = pgcopy.copy_out(cursor, literal_sql(session, statement), kinds)
        return [pgcopy.column(rows, i, kind) for i, kind in enumerate(kinds)]
    result = session.execute(statement).all()
    columns: list[npt.NDArray[Any]] = []
    for i, kind in enumerate(kinds):
        values = [row[i] for row in result]
        if kind == "uuid":
            columns.append(ids_of(values))
        elif kind == "float8":
            columns.append(np.array(values, dtype=np.float64).reshape(-1))
        else:
            columns.append(np.array(values, dtype=np.int64).reshape(-1))
    return columns


def read_ids(session: Session, statement: Any) -> Ids:
    ids: Ids = read_columns(session, statement, ("uuid",))[0]
    return ids


Coded = tuple[npt.NDArray[np.int64], list[str]]  # per row an index into the names, -1: none


def read_configurations(session: Session) -> tuple[Ids, Coded, Coded, Coded]:
    """`configurations()`: the profile ids, and the models, colours and body values coded (the
    same value, the same index; NULL and empty: -1)."""
    if dialect_of(session) != "postgresql":
        found = session.execute(configurations()).all()
        model, colour, body = (_coded([row[i] for row in found]) for i in (1, 2, 3))
        return ids_of([row[0] for row in found]), model, colour, body
    # Strings have no fixed width, and a Python object per row costs more than reading it: the
    # values are coded on the server, by their position among a snapshot's distinct values
    # (a temporary copy, so the names read and the codes agree).
    names = ("model", "colour", "body")
    session.execute(text("DROP TABLE IF EXISTS segment_configured"))
    session.execute(
        text(
            f"CREATE TEMPORARY TABLE segment_configured AS {literal_sql(session, configurations())}"
        )
    )

    def distinct(name: str) -> str:
        return f"SELECT DISTINCT {name} FROM segment_configured WHERE {name} IS NOT NULL ORDER BY 1"

    values = [list(session.scalars(text(distinct(name)))) for name in names]
    codes = ", ".join(
        f"coalesce(array_position(ARRAY({distinct(name)}), {name}), 0)::int4" for name in names
    )
    with raw_connection(session).cursor() as cursor:
        rows = pgcopy.copy_out(
            cursor,
            f"SELECT profile_id, {codes} FROM segment_configured",
            ("uuid", "int4", "int4", "int4"),
        )
    session.execute(text("DROP TABLE segment_configured"))
    coded: list[Coded] = []
    for i, known in enumerate(values, 1):
        index = pgcopy.column(rows, i, "int4") - 1
        empty = [position for position, value in enumerate(known) if not value]
        if empty:
            index[np.isin(index, empty)] = -1
        coded.append((index, known))
    return pgcopy.column(rows, 0, "uuid"), coded[0], coded[1], coded[2]


def _coded(values: Sequence[str | None]) -> Coded:
    index: dict[str, int] = {}
    codes = np.fromiter(
        (-1 if not value else index.setdefault(value, len(index)) for value in values),
        dtype=np.int64,
        count=len(values),
    )
    return codes, list(index)
