"""Where the time of one ingest request goes, in-process: no HTTP, no concurrency.

Run by hand (a database of its own; the schema is migrated here):

    .venv/bin/python bench/profile_ingest.py \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/cdp_bench \\
        --batches 100 --batch-size 100 [--profiler cprofile|pyinstrument]

It builds the same traffic as bench/ingest.py and feeds it, request by request, to the code the
/v1 routes run in their worker thread (`ingest.storing.store`: source lookup, session, `ingest`,
commit), after the same `orjson.loads` of the body. Each step of
`cdp.ingestion.service.ingest` and of
identity resolution is timed by wrapping the module attributes it calls (the product code is
not changed), and every SQL statement's time inside the driver (execute + network + server) is
charged to the step that ran it. The table shows, per request: wall ms, of which SQL ms, and
the number of statements. --batch-size 1 measures the single-message (/v1/track) path.
"""

from __future__ import annotations

import argparse
import cProfile
import importlib.util
import io
import json
import os
import pstats
import sys
import time
from collections import defaultdict
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


class Clock:
    """Exclusive wall time per step (a stack), SQL time charged to the step on top, and the CPU
    time of this thread and of the PostgreSQL backends (`backends`) each step used itself."""

    def __init__(self, backends: set[int] | None = None) -> None:
        # [name, wall at start, children's wall, (thread CPU, backend CPU) at start, children's]
        self.stack: list[list[Any]] = []
        self.wall: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)
        self.pg_cpu: dict[str, float] = defaultdict(float)
        self.sql: dict[str, float] = defaultdict(float)
        self.statements: dict[str, int] = defaultdict(int)
        self.calls: dict[str, int] = defaultdict(int)
        self.sql_started = 0.0
        self.backends = backends if backends is not None else set()

    def current(self) -> str:
        return self.stack[-1][0] if self.stack else "(outside ingest)"

    def _cpus(self, sql: bool) -> tuple[float, float]:
        pg = sum(_backend_cpu(pid) for pid in self.backends) if sql else 0.0
        return time.thread_time(), pg

    def wrap(self, name: str, fn: Callable[..., Any], *, sql: bool = True) -> Callable[..., Any]:
        """`sql=False` for steps that send no SQL, called per message: the backends' CPU is
        not read around them (a /proc read per call would add more than they cost)."""

        def timed(*args: Any, **kwargs: Any) -> Any:
            self.stack.append([name, time.perf_counter(), 0.0, self._cpus(sql), [0.0, 0.0]])
            try:
                return fn(*args, **kwargs)
            finally:
                _, started, child, (cpu0, pg0), (child_cpu, child_pg) = self.stack.pop()
                spent = time.perf_counter() - started
                cpu1, pg1 = self._cpus(sql)
                self.wall[name] += spent - child
                self.cpu[name] += (cpu1 - cpu0) - child_cpu
                self.pg_cpu[name] += (pg1 - pg0) - child_pg
                self.calls[name] += 1
                if self.stack:
                    parent = self.stack[-1]
                    parent[2] += spent
                    parent[4][0] += cpu1 - cpu0
                    parent[4][1] += pg1 - pg0

        return timed

    def before_sql(self, *_: Any) -> None:
        self.sql_started = time.perf_counter()

    def after_sql(self, *_: Any) -> None:
        name = self.current()
        self.sql[name] += time.perf_counter() - self.sql_started
        self.statements[name] += 1


def _backend_cpu(pid: int) -> float:
    """CPU seconds of a PostgreSQL backend on this machine (/proc/PID/schedstat), 0 if unknown."""
    try:
        with open(f"/proc/{pid}/schedstat") as handle:
            return int(handle.read().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        return 0.0


def instrument(clock: Clock, engine: Any) -> None:
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    import cdp.identity.service as identity_service
    import cdp.ingestion.service as service
    import ingest.storing as storing

    for name in ("validate_message", "prepare"):  # per message, no SQL
        setattr(service, name, clock.wrap(name, getattr(service, name), sql=False))
    for name in (
        "resolve_profiles",
        "store_configurations",
        "store_traits",
        "store_consents",
        "store_identifier_warnings",
        "touch_written_profiles",
        "handle_lead_events",
        "customer_activity",
    ):
        if hasattr(service, name):
            setattr(service, name, clock.wrap(name, getattr(service, name)))
    for name in ("refresh_search",):  # in newer trees only
        if hasattr(service, name):
            setattr(service, name, clock.wrap(name, getattr(service, name)))
    for name in ("quarantine", "known_message_ids", "insert_events"):
        setattr(service.repo, name, clock.wrap(name, getattr(service.repo, name)))
    for name in (
        "lock_identifiers",
        "owners_of",
        "profile_facts",
        "insert_profiles",
        "insert_identities",
        "touch_profiles",
        "insert_warnings",
        "lock_profiles",
        "move_profile_rows",
        "record_merge",
    ):
        setattr(identity_service.repo, name, clock.wrap(name, getattr(identity_service.repo, name)))
    own = "ingest_calls"
    setattr(storing, own, clock.wrap("ingest (own code)", getattr(storing, own)))
    engine.dialect.do_ping = clock.wrap("pool pre-ping (SELECT 1)", engine.dialect.do_ping)
    Session.commit = clock.wrap("commit", Session.commit)  # type: ignore[method-assign]
    event.listen(engine, "before_cursor_execute", clock.before_sql)
    event.listen(engine, "after_cursor_execute", clock.after_sql)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--batches", type=int, default=100, help="requests to time")
    parser.add_argument("--warmup", type=int, default=10, help="requests before timing")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--profiles", type=int, default=5000)
    parser.add_argument("--live-sessions", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--profiler", choices=("none", "cprofile", "pyinstrument"), default="none")
    parser.add_argument("--top", type=int, default=35, help="cProfile rows to print")
    parser.add_argument("--output", type=Path, help="pyinstrument HTML / cProfile stats file")
    parser.add_argument("--json", type=Path, help="also write the totals to this file")
    parser.add_argument(
        "--no-steps",
        action="store_true",
        help="no per-step wrappers (their own overhead is a few %%)",
    )
    args = parser.parse_args()

    from sqlalchemy import event

    import cdp.db
    from cdp.auth.service import SourceCache
    from cdp.config import Settings
    from cdp.db import make_sessionmaker
    from cdp.ingestion.schemas import MAX_MESSAGE_BYTES
    from cdp.ingestion.service import IngestResult
    from ingest.storing import store

    try:
        from cdp.ingestion.service import Call
    except ImportError:  # trees before group commit of batches
        Call = None  # type: ignore[assignment,misc]

    write_key, _source_id = bench.create_source(args.database_url)
    engine = cdp.db.make_engine(args.database_url, pool_size=2)  # as the server makes it
    backends: set[int] = set()  # the PostgreSQL backends serving this process, for their CPU

    @event.listens_for(engine, "connect")
    def _backend(dbapi_connection: Any, _record: Any) -> None:
        backends.add(int(dbapi_connection.info.backend_pid))

    factory = make_sessionmaker(engine)
    settings = Settings(database_url=args.database_url)
    cache = SourceCache()
    clock = Clock(backends)

    traffic = bench.Traffic(
        profiles=args.profiles,
        seed=args.seed,
        live_sessions=args.live_sessions,
        start=datetime.now(UTC) - timedelta(hours=2),
    )
    sent_at = bench._iso(datetime.now(UTC))
    total = (args.batches + args.warmup) * args.batch_size
    messages = traffic.messages(total)
    if args.batch_size > 1:
        work = bench.build_batches(messages, args.batch_size, sent_at)
    else:
        work = bench.build_singles(messages, sent_at)
    endpoint_of = {w.path: w.path.rsplit("/", 1)[1] for w in work}
    del messages, traffic
    try:  # as a server process does once its app is built (trees before it have no such step)
        from cdp.serving import tune_garbage_collector
    except ImportError:
        pass
    else:
        tune_garbage_collector()

    def one(item: Any) -> None:
        data = orjson.loads(item.body)
        endpoint = endpoint_of[item.path]
        if endpoint == "batch":
            msgs = data["batch"]
            defaults = {key: data.get(key) for key in ("context", "integrations", "sentAt")}
        else:
            msgs, defaults = [{**data, "type": endpoint}], None
        check_size = endpoint == "batch" and len(item.body) > MAX_MESSAGE_BYTES
        if Call is None:  # trees before group commit of batches
            outcome = store(
                factory,
                cache,
                settings,
                write_key=write_key,
                origin=None,
                messages=msgs,
                endpoint=endpoint,
                check_size=check_size,
                defaults=defaults,
            )
        else:
            stored = store(
                factory,
                cache,
                settings,
                write_key=write_key,
                origin=None,
                calls=[
                    Call(
                        msgs,
                        endpoint,
                        check_size=check_size,
                        defaults=defaults,
                        check_nul=b"\\u0000" in item.body,  # as the route decides
                    )
                ],
            )
            outcome = stored if not isinstance(stored, list) else stored[0]
        assert isinstance(outcome, IngestResult) and not outcome.rejected, outcome

    for item in work[: args.warmup]:
        one(item)
    bench.analyze(args.database_url)  # fresh statistics, as autovacuum would keep them
    timed = work[args.warmup :]
    if not args.no_steps:
        instrument(clock, engine)
        parse = clock.wrap("orjson.loads body", orjson.loads, sql=False)
        one_parse = one

        def one(item: Any) -> None:  # type: ignore[no-redef]
            parse(item.body)  # charged separately; `one` parses again below (cheap, subtracted)
            one_parse(item)

    profiler: Any = None
    if args.profiler == "cprofile":
        profiler = cProfile.Profile()
        profiler.enable()
    elif args.profiler == "pyinstrument":
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0005)
        profiler.start()
    started = time.perf_counter()
    cpu0 = time.process_time()
    pg0 = {pid: _backend_cpu(pid) for pid in backends}
    for item in timed:
        if args.no_steps:
            one(item)
        else:
            clock.wrap("request", one)(item)
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu0
    pg_cpu = sum(_backend_cpu(pid) - pg0.get(pid, 0.0) for pid in backends)
    if profiler is not None and args.profiler == "cprofile":
        profiler.disable()
    elif profiler is not None:
        profiler.stop()

    n = len(timed)
    events = n * args.batch_size
    print(
        f"{n} requests of {args.batch_size} messages in {wall:.2f} s, one thread: "
        f"{events / wall:.0f} events/s, {n / wall:.0f} requests/s, "
        f"{wall / n * 1000:.2f} ms per request ({cpu / n * 1000:.2f} ms CPU in this process, "
        f"{pg_cpu / n * 1000:.2f} ms in its PostgreSQL backends)"
    )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "requests": n,
                    "batch_size": args.batch_size,
                    "wall_ms_per_request": wall / n * 1000,
                    "python_cpu_ms_per_request": cpu / n * 1000,
                    "postgres_cpu_ms_per_request": pg_cpu / n * 1000,
                    "loadavg": os.getloadavg(),
                }
            )
        )
    if not args.no_steps:
        # The body is parsed twice in the instrumented run; the second parse lands in "request".
        clock.wall["request"] -= clock.wall["orjson.loads body"]
        clock.wall["(route glue, session, pool)"] = clock.wall.pop("request")
        total_wall = sum(clock.wall.values())
        sql_total = sum(clock.sql.values())
        print(
            f"\nper request: {total_wall / n * 1000:.2f} ms, of which SQL (driver + network + "
            f"server) {sql_total / n * 1000:.2f} ms in {sum(clock.statements.values()) / n:.1f}"
            f" statements"
        )
        print(
            f"{'step':<32}{'ms/req':>8}{'share':>8}{'SQL ms':>8}{'Python ms':>10}{'stmts':>7}"
            f"{'CPU: py':>9}{'pg':>7}"
        )
        for name, spent in sorted(clock.wall.items(), key=lambda kv: -kv[1]):
            sql = clock.sql.get(name, 0.0)
            print(
                f"{name:<32}{spent / n * 1000:8.2f}{spent / total_wall:8.1%}"
                f"{sql / n * 1000:8.2f}{(spent - sql) / n * 1000:10.2f}"
                f"{clock.statements.get(name, 0) / n:7.1f}"
                f"{clock.cpu.get(name, 0.0) / n * 1000:9.2f}"
                f"{clock.pg_cpu.get(name, 0.0) / n * 1000:7.2f}"
            )
    if profiler is not None and args.profiler == "cprofile":
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        if args.output:
            stats.dump_stats(str(args.output))
        stats.sort_stats("cumulative").print_stats(args.top)
        stats.sort_stats("tottime").print_stats(args.top)
        print(out.getvalue())
    elif profiler is not None:
        if args.output:
            args.output.write_text(profiler.output_html())
        print(profiler.output_text(unicode=False, color=False, show_all=False))
    engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
