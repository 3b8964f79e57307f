"""Binary COPY to and from numpy (`segmentation.pgcopy`), which segmentation reads and writes a
million rows with, on PostgreSQL.

Covers: rows read in many blocks equal what a plain query returns (ids, floats, 64- and 32-bit
integers, negative and large values); a NULL or a column of another width is refused, never
misread; rows written back (in wire or native byte order) arrive unchanged; uuid texts parse.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from sqlalchemy.orm import Session

from segmentation import pgcopy

QUERY = """
SELECT md5(i::text)::uuid, i / 7.0::float8, (i - 2500)::int8 * 3000000000, (i % 1000 - 500)::int4
FROM generate_series(1, 5000) AS i
"""
KINDS: tuple[pgcopy.Kind, ...] = ("uuid", "float8", "int8", "int4")


@pytest.fixture()
def raw(db: Session, db_kind: str) -> Iterator[psycopg.Connection[Any]]:
    if db_kind != "postgresql":
        pytest.skip("binary COPY is PostgreSQL's")
    connection = db.connection().connection.driver_connection
    assert isinstance(connection, psycopg.Connection)
    yield connection


def test_rows_read_in_blocks_equal_a_plain_query(raw: psycopg.Connection[Any]) -> None:
    with raw.cursor() as cursor:
        rows = pgcopy.copy_out(cursor, QUERY, KINDS, block=1000)  # about 25 blocks
        expected = cursor.execute(QUERY).fetchall()
    assert len(rows) == len(expected) == 5000
    ids, floats, bigs, smalls = (pgcopy.column(rows, i, kind) for i, kind in enumerate(KINDS))
    assert [uuid.UUID(bytes=bytes(value).ljust(16, b"\0")) for value in ids] == [
        row[0] for row in expected
    ]
    assert floats.tolist() == [row[1] for row in expected]
    assert bigs.tolist() == [row[2] for row in expected]
    assert smalls.tolist() == [row[3] for row in expected]


def test_a_null_or_another_width_is_refused(raw: psycopg.Connection[Any]) -> None:
    with raw.cursor() as cursor:
        with pytest.raises(ValueError):
            pgcopy.copy_out(cursor, "SELECT 1.5::float8 UNION ALL SELECT NULL", ("float8",))
        with pytest.raises(ValueError):
            pgcopy.copy_out(cursor, "SELECT 1::int4", ("int8",))


def test_rows_written_back_arrive_unchanged(raw: psycopg.Connection[Any]) -> None:
    with raw.cursor() as cursor:
        rows = pgcopy.copy_out(cursor, QUERY, KINDS, block=1000)
        cursor.execute("CREATE TEMPORARY TABLE copied (a uuid, b float8, c int8, d int4)")
        pgcopy.copy_in(cursor, "copied", ("a", "b", "c", "d"), rows, block=1000)
        native = rows.astype(rows.dtype.newbyteorder("<"))
        pgcopy.copy_in(cursor, "copied", ("a", "b", "c", "d"), native)
        packed = pgcopy.pack(KINDS, [pgcopy.column(rows, i, kind) for i, kind in enumerate(KINDS)])
        pgcopy.copy_in(cursor, "copied", ("a", "b", "c", "d"), packed)
        differing = cursor.execute(
            f"SELECT count(*) FROM (SELECT * FROM copied EXCEPT ALL ({QUERY}) "
            f"EXCEPT ALL ({QUERY}) EXCEPT ALL ({QUERY})) AS extra"
        ).fetchone()
        total = cursor.execute("SELECT count(*) FROM copied").fetchone()
    assert differing == (0,) and total == (15000,)


def test_uuid_texts_parse() -> None:
    values = [uuid.uuid4() for _ in range(50)] + [uuid.UUID(int=0), uuid.UUID(int=2**128 - 1)]
    ids = pgcopy.uuids_from_text(str(value).encode() for value in values)
    assert ids.tobytes() == b"".join(value.bytes for value in values)
    with pytest.raises(ValueError):
        pgcopy.uuids_from_text([b"not-a-uuid-but-thirty-six-characters"])
