"""Measured alternatives for the hot statements of the ingest path (see docs/benchmarks.md).

Run by hand against a scratch database (every experiment rolls back; nothing is kept):

    .venv/bin/python bench/experiments.py \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/cdp_bench [--rounds 40]

For 100 realistic configurator events it times, per call (median of --rounds, wall and CPU of
this process, statements sent, CPU of the PostgreSQL backend):
- writing the events: what the product does now (`cdp.ingestion.repository.insert_events`: ids from
  the sequence, then COPY), the ORM bulk INSERT .. ON CONFLICT DO NOTHING RETURNING it did
  before (which skips None values and so splits the rows into several statements), the same
  with render_nulls=True, through Core, with orjson as the JSON serializer, as one
  INSERT .. SELECT FROM unnest(arrays) statement, and COPY into a temporary staging table
  followed by INSERT .. SELECT .. ON CONFLICT DO NOTHING RETURNING;
- known_message_ids and the identity lookup as `IN (100 parameters)` (the product's form
  before) and as `= ANY(one array parameter)` (its form now);
- the fixed cost of one single-message transaction: pool checkout with and without pre-ping,
  and COMMIT.
The product code is imported, never changed.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import orjson  # noqa: E402

_spec = importlib.util.spec_from_file_location("bench_ingest", _HERE / "ingest.py")
assert _spec and _spec.loader
bench = importlib.util.module_from_spec(_spec)
sys.modules["bench_ingest"] = bench
_spec.loader.exec_module(bench)


_COUNTS = {"n": 0}


def statements_sent() -> int:
    return _COUNTS["n"]


def _backend_cpu_ns(pid: int | None) -> int:
    """CPU time of a PostgreSQL backend, in ns (/proc/PID/schedstat), or 0 when unknown."""
    if pid is None:
        return 0
    try:
        with open(f"/proc/{pid}/schedstat") as handle:
            return int(handle.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def _backend_pid(state: Any) -> int | None:
    session = state[0] if isinstance(state, tuple) else None
    if session is None:
        return None
    return int(session.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar_one())


class Bench:
    """Runs every variant once per round, in turn, so machine noise hits them alike.

    Reports the median wall time and CPU time of this process per call, and the mean CPU time
    of the PostgreSQL backend that served it (from /proc/PID/schedstat).
    """

    def __init__(self, title: str, rounds: int) -> None:
        self.title, self.rounds = title, rounds
        self.variants: list[
            tuple[str, Callable[[], Any], Callable[[Any], int], Callable[[Any], None]]
        ] = []

    def add(
        self,
        label: str,
        setup: Callable[[], Any],
        run: Callable[[Any], int],
        teardown: Callable[[Any], None],
    ) -> None:
        self.variants.append((label, setup, run, teardown))

    def run(self) -> dict[str, dict[str, float]]:
        print(f"{self.title} (median of {self.rounds} interleaved rounds)")
        samples: dict[str, list[tuple[float, float, int, float]]] = {
            v[0]: [] for v in self.variants
        }
        for _round in range(self.rounds):
            for label, setup, run, teardown in self.variants:
                state = setup()
                try:
                    pid = _backend_pid(state)
                    counts_before = statements_sent()
                    p0 = _backend_cpu_ns(pid)
                    w0, c0 = time.perf_counter(), time.process_time()
                    stmts = run(state) - counts_before
                    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
                    pg = (_backend_cpu_ns(pid) - p0) / 1e9 if pid else 0.0
                    samples[label].append((wall, cpu, stmts, pg))
                finally:
                    teardown(state)
        results = {}
        for label, values in samples.items():
            result = {
                "wall_ms": statistics.median(v[0] for v in values) * 1000,
                "cpu_ms": statistics.median(v[1] for v in values) * 1000,
                "statements": statistics.mean(v[2] for v in values),
                "pg_cpu_ms": statistics.mean(v[3] for v in values) * 1000,
            }
            results[label] = result
            print(
                f"  {label:<54} wall {result['wall_ms']:6.2f}  Python CPU {result['cpu_ms']:6.2f}"
                f"  PG CPU {result['pg_cpu_ms']:6.2f} ms  statements {result['statements']:.1f}"
            )
        print()
        return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--rows", type=int, default=100)
    args = parser.parse_args()

    from sqlalchemy import String, any_, bindparam, create_engine, event, select, text
    from sqlalchemy.dialects import postgresql
    from sqlalchemy.orm import Session

    from cdp.db import make_engine, make_sessionmaker
    from cdp.ingestion import repository as ingest_repo
    from cdp.models import Event, Identity, Profile

    _, source_id = bench.create_source(args.database_url)
    traffic = bench.Traffic(
        profiles=5000, seed=4242, live_sessions=300, start=datetime.now(UTC) - timedelta(hours=1)
    )
    traffic.messages(args.rows * 20)  # past the first sessions' starts: a steady mix
    messages = traffic.messages(args.rows * 20)

    # SQLAlchemy's defaults (json.dumps, a ping per checkout), as the product had them before.
    engines = {
        "stdlib json": create_engine(args.database_url, pool_size=2, pool_pre_ping=True),
    }
    plain = make_engine(args.database_url, pool_size=2)  # the product's engine now: no ping
    engines["orjson"] = create_engine(
        args.database_url,
        pool_size=2,
        pool_pre_ping=True,
        json_serializer=lambda obj: orjson.dumps(obj).decode(),
    )
    counts = _COUNTS

    def count(*_: Any) -> None:
        counts["n"] += 1

    for engine in (*engines.values(), plain):
        event.listen(engine, "before_cursor_execute", count)

    def rows_for(batch: list[dict[str, Any]], pids: list[uuid.UUID]) -> list[dict[str, Any]]:
        now = datetime.now(UTC)
        out = []
        for message, pid in zip(batch, pids, strict=True):
            out.append(
                {
                    "source_id": source_id,
                    "message_id": f"exp-{uuid.uuid4().hex}",
                    "type": message["type"],
                    "name": message.get("event") or message.get("name"),
                    "channel": "web",
                    "profile_id": pid,
                    "anonymous_id": message.get("anonymousId"),
                    "user_id": message.get("userId"),
                    "occurred_at": datetime.fromisoformat(message["timestamp"]),
                    "received_at": now,
                    "properties": message.get("properties") or {},
                    "traits": message.get("traits") or {},
                    "context": message.get("context") or {},
                }
            )
        return out

    position = {"i": 0}

    def setup_for(engine: Any) -> Callable[[], Any]:
        factory = make_sessionmaker(engine)

        def setup() -> Any:
            session: Session = factory()
            position["i"] = (position["i"] + 1) % (len(messages) // args.rows)
            start = position["i"] * args.rows
            batch = messages[start : start + args.rows]
            pids = [uuid.uuid4() for _ in batch]
            now = datetime.now(UTC)
            session.execute(
                postgresql.insert(Profile),
                [
                    {"id": p, "created_at": now, "first_seen_at": now, "last_seen_at": now}
                    for p in pids
                ],
            )
            session.flush()
            return session, rows_for(batch, pids)

        return setup

    def teardown(state: Any) -> None:
        state[0].rollback()
        state[0].close()

    def statements() -> int:
        return counts["n"]  # Bench subtracts the count before the call

    def current(state: Any) -> int:
        ingest_repo.insert_events(state[0], state[1])
        return statements() + 2  # the COPY path's raw cursor bypasses the SQLAlchemy event

    def orm_bulk(state: Any) -> int:
        stmt = (
            postgresql.insert(Event)
            .on_conflict_do_nothing(index_elements=[Event.source_id, Event.message_id])
            .returning(Event.message_id, Event.id)
        )
        state[0].execute(stmt, state[1]).all()
        return statements()

    def render_nulls(state: Any) -> int:
        stmt = (
            postgresql.insert(Event)
            .on_conflict_do_nothing(index_elements=[Event.source_id, Event.message_id])
            .returning(Event.message_id, Event.id)
        )
        state[0].execute(stmt, state[1], execution_options={"render_nulls": True}).all()
        return statements()

    def core(state: Any) -> int:
        table = Event.__table__
        stmt = (
            postgresql.insert(table)
            .on_conflict_do_nothing(index_elements=[table.c.source_id, table.c.message_id])
            .returning(table.c.message_id, table.c.id)
        )
        state[0].connection().execute(stmt, state[1]).all()
        return statements()

    unnest_sql = (
        "INSERT INTO event (source_id, message_id, type, name, channel, profile_id, "
        "anonymous_id, user_id, occurred_at, received_at, properties, traits, context) "
        "SELECT * FROM unnest(%s::int[], %s::varchar[], %s::varchar[], %s::varchar[], "
        "%s::varchar[], %s::uuid[], %s::varchar[], %s::varchar[], %s::timestamptz[], "
        "%s::timestamptz[], %s::jsonb[], %s::jsonb[], %s::jsonb[]) "
        "ON CONFLICT (source_id, message_id) DO NOTHING RETURNING message_id, id"
    )
    columns = (
        "source_id",
        "message_id",
        "type",
        "name",
        "channel",
        "profile_id",
        "anonymous_id",
        "user_id",
        "occurred_at",
        "received_at",
        "properties",
        "traits",
        "context",
    )
    json_columns = {"properties", "traits", "context"}

    def unnest(state: Any) -> int:
        rows = state[1]
        params = [
            [orjson.dumps(r[c]).decode() for r in rows]
            if c in json_columns
            else [r[c] for r in rows]
            for c in columns
        ]
        raw = state[0].connection().connection.driver_connection
        with raw.cursor() as cur:
            cur.execute(unnest_sql, params)
            cur.fetchall()
        return statements() + 1  # the raw cursor bypasses the SQLAlchemy event

    def unnest_binary(state: Any) -> int:
        rows = state[1]
        params = [
            [orjson.dumps(r[c]).decode() for r in rows]
            if c in json_columns
            else [r[c] for r in rows]
            for c in columns
        ]
        raw = state[0].connection().connection.driver_connection
        with raw.cursor(binary=True) as cur:
            cur.execute(unnest_sql, params)
            cur.fetchall()
        return statements() + 1

    def copy_direct(state: Any) -> int:
        rows = state[1]
        raw = state[0].connection().connection.driver_connection
        with raw.cursor() as cur, cur.copy(f"COPY event ({', '.join(columns)}) FROM STDIN") as copy:
            for r in rows:
                copy.write_row(
                    tuple(
                        orjson.dumps(r[c]).decode() if c in json_columns else r[c] for c in columns
                    )
                )
        return statements() + 1

    def copy_with_ids(state: Any) -> int:
        """COPY with ids taken from the sequence first (configurations need the event ids)."""
        rows = state[1]
        raw = state[0].connection().connection.driver_connection
        with raw.cursor() as cur:
            cur.execute("SELECT nextval('event_id_seq') FROM generate_series(1, %s)", (len(rows),))
            ids = [row[0] for row in cur.fetchall()]
            with cur.copy(f"COPY event (id, {', '.join(columns)}) FROM STDIN") as copy:
                for event_id, r in zip(ids, rows, strict=True):
                    copy.write_row(
                        (
                            event_id,
                            *(
                                orjson.dumps(r[c]).decode() if c in json_columns else r[c]
                                for c in columns
                            ),
                        )
                    )
        return statements() + 2

    stage_cols = ", ".join(columns)
    stage_ddl = (
        "CREATE TEMP TABLE IF NOT EXISTS exp_event_stage (source_id int, message_id varchar, "
        "type varchar, name varchar, channel varchar, profile_id uuid, anonymous_id varchar, "
        "user_id varchar, occurred_at timestamptz, received_at timestamptz, properties jsonb, "
        "traits jsonb, context jsonb)"
    )
    stage_insert = (
        f"WITH staged AS (DELETE FROM exp_event_stage RETURNING {stage_cols}) "
        f"INSERT INTO event ({stage_cols}) SELECT {stage_cols} FROM staged "
        "ON CONFLICT (source_id, message_id) DO NOTHING RETURNING message_id, id"
    )

    def copy_staged(create_each_time: bool) -> Callable[[Any], int]:
        def run(state: Any) -> int:
            rows = state[1]
            raw = state[0].connection().connection.driver_connection
            with raw.cursor() as cur:
                if create_each_time:
                    cur.execute(stage_ddl)
                with cur.copy(f"COPY exp_event_stage ({stage_cols}) FROM STDIN") as copy:
                    for r in rows:
                        copy.write_row(
                            tuple(
                                orjson.dumps(r[c]).decode() if c in json_columns else r[c]
                                for c in columns
                            )
                        )
                cur.execute(stage_insert)
                cur.fetchall()
            return statements() + 2 + create_each_time

        return run

    def setup_with_stage(base: Callable[[], Any]) -> Callable[[], Any]:
        def setup() -> Any:
            state = base()
            raw = state[0].connection().connection.driver_connection
            with raw.cursor() as cur:
                cur.execute(stage_ddl)
            return state

        return setup

    setup = setup_for(engines["stdlib json"])
    inserts = Bench(f"insert_events, {args.rows} events (rolled back)", args.rounds)
    inserts.add("product now: insert_events (nextval, then COPY)", setup, current, teardown)
    inserts.add("before: ORM bulk insert (None values split rows)", setup, orm_bulk, teardown)
    inserts.add("ORM bulk insert + render_nulls=True", setup, render_nulls, teardown)
    inserts.add("Core insert on the Table (insertmanyvalues)", setup, core, teardown)
    inserts.add(
        "Core insert + engine json_serializer=orjson", setup_for(engines["orjson"]), core, teardown
    )
    inserts.add("one INSERT .. SELECT FROM unnest(13 arrays), text", setup, unnest, teardown)
    inserts.add(
        "one INSERT .. SELECT FROM unnest(13 arrays), binary", setup, unnest_binary, teardown
    )
    inserts.add(
        "COPY into event, ids from nextval() first (2 round trips)", setup, copy_with_ids, teardown
    )
    inserts.add(
        "COPY into a temp stage + INSERT..SELECT ON CONFLICT RETURNING",
        setup_with_stage(setup),
        copy_staged(False),
        teardown,
    )
    inserts.add(
        "the same + CREATE TEMP TABLE IF NOT EXISTS each time",
        setup,
        copy_staged(True),
        teardown,
    )
    inserts.add("floor: COPY the rows into event (no ids back)", setup, copy_direct, teardown)
    inserts.run()

    values = [m["anonymousId"] for m in messages[: args.rows]]

    def dedupe_in(state: Any) -> int:
        set(
            state[0].scalars(
                select(Event.message_id).where(
                    Event.source_id == source_id,
                    Event.message_id.in_([r["message_id"] for r in state[1]]),
                )
            )
        )
        return statements()

    any_stmt = select(Event.message_id).where(
        Event.source_id == bindparam("sid"),
        Event.message_id == any_(bindparam("ids", type_=postgresql.ARRAY(String))),
    )

    def dedupe_any(state: Any) -> int:
        set(
            state[0].scalars(
                any_stmt, {"sid": source_id, "ids": [r["message_id"] for r in state[1]]}
            )
        )
        return statements()

    def owners_in(state: Any) -> int:
        list(
            state[0].execute(
                select(Identity.kind, Identity.value, Identity.profile_id).where(
                    Identity.value.in_(values)
                )
            )
        )
        return statements()

    owners_any_stmt = select(Identity.kind, Identity.value, Identity.profile_id).where(
        Identity.value == any_(bindparam("vals", type_=postgresql.ARRAY(String)))
    )

    def owners_any(state: Any) -> int:
        list(state[0].execute(owners_any_stmt, {"vals": values}))
        return statements()

    lookups = Bench(f"lookups of {args.rows} message ids / identifiers", args.rounds)
    lookups.add("before: known_message_ids, IN (100 params)", setup, dedupe_in, teardown)
    lookups.add("now: known_message_ids as = ANY(:ids array)", setup, dedupe_any, teardown)
    lookups.add("before: identity lookup, value IN (100 params)", setup, owners_in, teardown)
    lookups.add("now: identity lookup as value = ANY(:values array)", setup, owners_any, teardown)
    lookups.run()

    factory_ping = make_sessionmaker(engines["stdlib json"])
    factory_plain = make_sessionmaker(plain)

    def checkout(factory: Any) -> Callable[[Any], int]:
        def run(_: Any) -> int:
            with factory() as session:
                session.execute(text("SELECT 1"))
                session.commit()
            return statements()  # the pre-ping goes around the event hooks

        return run

    def nothing() -> Any:
        return None

    def commit_one(_: Any) -> int:
        with factory_ping() as session:
            session.execute(text(f"INSERT INTO {scratch} VALUES (1)"))
            c0 = time.perf_counter()
            session.commit()
            commit_times.append(time.perf_counter() - c0)
        return statements()

    commit_times: list[float] = []
    scratch = f"exp_commit_{uuid.uuid4().hex[:8]}"  # logged, so COMMIT waits for the WAL flush
    with plain.begin() as conn:
        conn.execute(text(f"CREATE TABLE {scratch} (x int)"))
    fixed = Bench("fixed cost of one transaction (single-message path)", args.rounds * 5)
    fixed.add(
        "checkout (pool_pre_ping=True, as before) + SELECT 1 + commit",
        nothing,
        checkout(factory_ping),
        lambda _: None,
    )
    fixed.add(
        "checkout without pre-ping (now) + SELECT 1 + commit",
        nothing,
        checkout(factory_plain),
        lambda _: None,
    )
    fixed.add("INSERT one row + COMMIT (WAL flush)", nothing, commit_one, lambda _: None)
    fixed.run()
    print(f"  of which the COMMIT alone: median {statistics.median(commit_times) * 1000:.2f} ms")
    with plain.begin() as conn:
        conn.execute(text(f"DROP TABLE {scratch}"))
    for engine in (*engines.values(), plain):
        engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
