"""Planner statistics on a new installation (cdp.table_stats): gathered after migrations, after
the demo is loaded, and by a running server as its tables grow, so that a fresh database is
not planned blind, nor with plans cached while its tables were empty (issue 14)."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from cdp.app import create_app
from cdp.auth.service import create_source
from cdp.config import Settings
from cdp.db import make_engine, make_sessionmaker, session_scope
from cdp.demo.loader import load_demo
from cdp.migrate import upgrade
from cdp.table_stats import MIN_ROWS, analyze_grown
from tests.helpers import PG_AVAILABLE, drop_database, fresh_database_url

ROOT = Path(__file__).resolve().parents[1]
CDP = Path(sys.executable).parent / "cdp"
# The stored-messageId lookup as ingest runs it (cdp.ingestion.repository.known_message_ids).
LOOKUP = (
    "SELECT event.message_id FROM event WHERE event.source_id = $1::integer AND event.message_id"
    " = ANY (array((SELECT CAST(json_array_elements_text(CAST($2::varchar AS json))"
    " AS varchar(200)))))"
)


@pytest.fixture()
def database_url(db_kind: str, tmp_path: Path) -> Iterator[str]:
    url = fresh_database_url(db_kind, tmp_path, f"stats_{uuid.uuid4().hex[:6]}")
    yield url
    drop_database(url)


@pytest.fixture()
def pg_engine(tmp_path: Path) -> Iterator[Engine]:
    """A new PostgreSQL database, migrated."""
    url = fresh_database_url("postgresql", tmp_path, f"stats_{uuid.uuid4().hex[:6]}")
    engine = make_engine(url)
    upgrade(engine)
    yield engine
    engine.dispose()
    drop_database(url)


def _analyzed(engine: Engine) -> dict[str, tuple[bool, float]]:
    """Per table: whether it was ever analyzed, and the rows its statistics describe."""
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT s.relname, s.last_analyze IS NOT NULL, c.reltuples"
                " FROM pg_stat_user_tables AS s JOIN pg_class AS c ON c.oid = s.relid"
            )
        )
        return {name: (analyzed, reltuples) for name, analyzed, reltuples in rows}


def test_cdp_db_upgrade_leaves_a_new_postgresql_database_analyzed_and_sqlite_alone(
    database_url: str, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDP_")}
    env["CDP_DATABASE_URL"] = database_url
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    done = subprocess.run(
        [str(CDP), "db", "upgrade"], env=env, cwd=tmp_path, capture_output=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    engine = make_engine(database_url)
    try:
        if database_url.startswith("sqlite"):
            # Statistics of empty tables would steer SQLite's planner wrong once they fill.
            with engine.connect() as connection:
                names = connection.scalars(text("SELECT name FROM sqlite_master")).all()
            assert "sqlite_stat1" not in names
            return
        tables = _analyzed(engine)
        assert {"event", "identity", "profile"} <= set(tables)
        assert all(analyzed for analyzed, _rows in tables.values()), tables
    finally:
        engine.dispose()


@pytest.mark.postgresql
@pytest.mark.skipif(not PG_AVAILABLE, reason="PostgreSQL is not reachable")
def test_the_demo_leaves_statistics_of_what_it_loaded(pg_engine: Engine) -> None:
    load_demo(pg_engine, customers=40, seed=3)
    tables = _analyzed(pg_engine)
    with pg_engine.connect() as connection:
        events = connection.scalar(text("SELECT count(*) FROM event"))
    assert events
    assert tables["event"] == (True, events)  # a table this small is read whole


@pytest.mark.postgresql
@pytest.mark.skipif(not PG_AVAILABLE, reason="PostgreSQL is not reachable")
def test_a_plan_cached_on_the_empty_table_is_replaced_once_the_table_has_grown(
    pg_engine: Engine,
) -> None:
    url = pg_engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    ids = '["m-1", "m-2"]'
    with psycopg.connect(url, autocommit=True, cursor_factory=psycopg.ClientCursor) as conn:
        conn.execute(f"PREPARE known(int, varchar) AS {LOOKUP}")
        conn.execute("SET plan_cache_mode = force_generic_plan")  # as after a few executions
        conn.execute("EXECUTE known(1, %s)", (ids,)).fetchall()  # planned on the empty table
        conn.execute(
            "INSERT INTO event (source_id, message_id, type, channel, profile_id, occurred_at,"
            " received_at, properties, traits, context) SELECT 1, 'm-' || g, 'track', 'web',"
            " gen_random_uuid(), now(), now(), '{}', '{}', '{}'"
            " FROM generate_series(1, %s) AS g",
            (MIN_ROWS * 3,),
        )
        _wait_for(lambda: "event" in analyze_grown(pg_engine))
        plan = "\n".join(row[0] for row in conn.execute("EXPLAIN EXECUTE known(1, %s)", (ids,)))
    # Each messageId is looked up in the unique index, not filtered from the source's events.
    assert "message_id = ANY" in plan.split("Index Cond:")[1].split("\n")[0], plan


@pytest.mark.postgresql
@pytest.mark.skipif(not PG_AVAILABLE, reason="PostgreSQL is not reachable")
def test_a_server_on_a_new_database_analyzes_its_tables_as_they_fill(pg_engine: Engine) -> None:
    assert _analyzed(pg_engine)["event"] == (True, 0)  # analyzed empty, right after migrations
    with session_scope(make_sessionmaker(pg_engine)) as session:
        _source, key = create_source(session, name="stats", kind="web", origins=[])
    auth = {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}
    url = pg_engine.url.render_as_string(hide_password=False)
    app = create_app(Settings(database_url=url))  # its own engine, as `cdp serve` runs it
    sent = 0
    with TestClient(app) as client:
        while sent < MIN_ROWS * 2:
            batch = [
                {
                    "type": "track",
                    "event": "Configuration Started",
                    "anonymousId": f"visitor-{(sent + n) // 10}",
                    "messageId": f"msg-{sent + n}",
                    "timestamp": datetime.now(UTC).isoformat(),
                }
                for n in range(100)
            ]
            assert client.post("/v1/batch", json={"batch": batch}, headers=auth).status_code == 200
            sent += len(batch)
        _wait_for(lambda: _analyzed(pg_engine)["event"][1] >= MIN_ROWS)
    assert _analyzed(pg_engine)["event"] == (True, sent)


def _wait_for(condition: Callable[[], bool], seconds: float = 60) -> None:
    """Statistics counters reach the views up to a second or so after a commit."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "not within a minute"
        time.sleep(0.2)
