"""Alerts benchmark: how soon an alert reaches an open page, and what open pages cost ingest.

Run by hand, not by the test suite. Everything stays on this machine (127.0.0.1).

How to run it
-------------
    psql -h 127.0.0.1 -U postgres -d test -c 'CREATE DATABASE cdp_bench_alerts'
    export CDP_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/cdp_bench_alerts
    .venv/bin/cdp serve --host 127.0.0.1 --port 18081 --workers 2 &
    .venv/bin/python bench/alerts.py --url http://127.0.0.1:18081 --database-url "$CDP_DATABASE_URL"

What it does
------------
1. Setup, straight in the database: --staff salespeople, each signed in (a session of its
   own), and --samples x --rounds customers (sent through /v1/identify), each with an open
   lead assigned to one of the salespeople, round robin.
2. Each round:
   a. ingest alone: --events configurator messages (bench/ingest.py's traffic model) in
      /v1/batch requests of --batch-size over --concurrency connections; durable events/s.
   b. a separate client process opens one alert stream (GET /alerts/stream, what each staff
      page opens) per salesperson and keeps them open: --staff connections, spread by the
      kernel over the server's workers;
   c. the same ingest again, with those connections open;
   d. latency: --samples times, a Quote Requested to /v1/track for one of the round's
      customers (each once: a customer's return is news once per half hour), one every
      --gap seconds; the time from sending it to the stream of their salesperson receiving the
      alert that names them. The salesperson's stream may be on the other worker: the
      notification then goes through PostgreSQL (LISTEN/NOTIFY).
   The streams close after each round.
3. Report: latency p50/p95/max over every sample, and the ingest rate with the connections
   open as a share of the rate without, per round (the two are measured back to back, so the
   machine's load varies little between them).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import multiprocessing
import os
import platform
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

_HERE = Path(__file__).resolve().parent
# bench/ingest.py's traffic, client and CPU meter (its module name would shadow ingest/).
_spec = importlib.util.spec_from_file_location("bench_ingest", _HERE / "ingest.py")
assert _spec is not None and _spec.loader is not None
ingest_bench: Any = importlib.util.module_from_spec(_spec)
sys.modules["bench_ingest"] = ingest_bench  # its dataclasses look themselves up there
_spec.loader.exec_module(ingest_bench)


@dataclass
class Setup:
    write_key: str
    cookies: list[str]  # one signed-in session per salesperson
    customers: list[tuple[int, str, str]]  # (salesperson index, device, name)
    after_id: int  # the newest alert before the run: streams send only what comes later


def setup(database_url: str, base_url: str, *, staff: int, customers: int) -> Setup:
    from sqlalchemy import create_engine, func, select

    from cdp.auth.staff import create_user, start_session
    from cdp.db import make_sessionmaker
    from cdp.leads.service import create_lead
    from cdp.models import Alert, Identity

    write_key, _source_id = ingest_bench.create_source(database_url)
    engine = create_engine(database_url)
    factory = make_sessionmaker(engine)
    run = uuid.uuid4().hex[:6]
    cookies, user_ids = [], []
    with factory() as session:
        for n in range(staff):
            user = create_user(
                session,
                email=f"bench.{run}.{n}@dealer.example",
                role="sales",
                name=f"Seller {n}",
                password="bench password 123",
            )
            cookies.append(start_session(session, user))
            user_ids.append(user.id)
        session.commit()
    people = []
    with httpx.Client(base_url=base_url, timeout=30, auth=(write_key, "")) as client:
        batch = []
        for n in range(customers):
            device, name = f"bench-{run}-{n}", f"Customer{run}x{n}"
            email = f"{name.lower()}@example.nl"
            batch.append(
                {
                    "type": "identify",
                    "anonymousId": device,
                    "traits": {"email": email, "firstName": name, "lastName": "Bench"},
                }
            )
            people.append((n % staff, device, f"{name} Bench", email))
        for start in range(0, len(batch), 100):
            answer = client.post("/v1/batch", json={"batch": batch[start : start + 100]})
            answer.raise_for_status()
    with factory() as session:
        emails = {email: index for index, (_s, _d, _n, email) in enumerate(people)}
        found = session.execute(
            select(Identity.value, Identity.profile_id).where(Identity.value.in_(list(emails)))
        ).all()
        for email, pid in found:
            create_lead(
                session,
                profile_id=pid,
                channel="website",
                created_by_user_id=None,
                assigned_user_id=user_ids[people[emails[email]][0]],
            )
        session.commit()
        after_id = session.scalar(select(func.max(Alert.id))) or 0
    engine.dispose()
    ingest_bench.analyze(database_url)
    return Setup(write_key, cookies, [(s, d, n) for s, d, n, _e in people], after_id)


# --- the stream client, in a process of its own ---------------------------------------------
def _streams(base_url: str, cookies: list[str], after_id: int, conn: Any) -> None:
    """Hold one alert stream per cookie; report (salesperson, arrival, data) of each alert
    event when the parent says stop."""
    arrivals: list[tuple[int, float, str]] = []

    async def hold(
        client: httpx.AsyncClient, index: int, ready: asyncio.Event, opened: list[int]
    ) -> None:
        headers = {"Cookie": f"cdp_session={cookies[index]}", "Accept": "text/event-stream"}
        async with client.stream("GET", f"/alerts/stream?after={after_id}", headers=headers) as r:
            r.raise_for_status()
            opened.append(index)
            if len(opened) == len(cookies):
                ready.set()
            event, data = "", []
            async for line in r.aiter_lines():
                if line == "":
                    if event == "alerts":
                        arrivals.append((index, time.monotonic(), "\n".join(data)))
                    event, data = "", []
                elif line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].strip())

    async def main() -> None:
        limits = httpx.Limits(max_connections=len(cookies) + 10)
        timeout = httpx.Timeout(30.0, read=None)
        async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=timeout) as client:
            ready, opened = asyncio.Event(), []
            tasks = [
                asyncio.create_task(hold(client, n, ready, opened)) for n in range(len(cookies))
            ]
            await asyncio.wait_for(ready.wait(), 120)
            conn.send("ready")
            while not conn.poll():
                await asyncio.sleep(0.1)
                if any(task.done() and task.exception() for task in tasks):
                    failed = next(t for t in tasks if t.done() and t.exception())
                    raise RuntimeError(f"a stream failed: {failed.exception()!r}")
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(main())
    conn.send(arrivals)


def ingest_rate(
    base_url: str,
    write_key: str,
    traffic: Any,
    args: argparse.Namespace,
    port: int,
    database_url: str,
) -> tuple[float, float]:
    """Durable events/s of one ingest phase, and the server's CPU ms per event."""
    sent_at = ingest_bench._iso(datetime.now(UTC))
    work = ingest_bench.build_batches(traffic.messages(args.events), args.batch_size, sent_at)
    with ingest_bench.CpuMeter(port, database_url) as meter:
        outcome, wall, _client_cpu = ingest_bench.send(
            base_url,
            write_key,
            work,
            concurrency=args.concurrency,
            processes=1,
            max_seconds=600,
            timeout=60,
        )
    if outcome.failed:
        raise SystemExit(f"{outcome.failed} ingest requests failed: {outcome.errors}")
    return outcome.messages_ok / wall, 1000 * meter.server_cpu / max(1, outcome.messages_ok)


def latencies(
    base_url: str,
    write_key: str,
    people: list[tuple[int, str, str]],
    gap: float,
) -> list[tuple[int, str, float]]:
    """Send one Quote Requested per customer; (salesperson, name, sent at) of each."""
    sent = []
    with httpx.Client(base_url=base_url, timeout=30, auth=(write_key, "")) as client:
        for staff_index, device, name in people:
            body = {"anonymousId": device, "event": "Quote Requested", "properties": {}}
            at = time.monotonic()
            client.post("/v1/track", json=body).raise_for_status()
            sent.append((staff_index, name, at))
            time.sleep(gap)
    return sent


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:18081")
    parser.add_argument("--database-url", default=os.environ.get("CDP_DATABASE_URL"))
    parser.add_argument("--staff", type=int, default=200, help="open staff pages (streams)")
    parser.add_argument("--samples", type=int, default=100, help="alerts timed per round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--gap", type=float, default=0.1, help="seconds between timed alerts")
    parser.add_argument("--events", type=int, default=20_000, help="messages per ingest phase")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    parts = urlsplit(args.url)
    if parts.hostname not in ("127.0.0.1", "localhost") or not args.database_url:
        parser.error("--url must be on this machine, and --database-url is needed")
    port = parts.port or 80

    print(f"setup: {args.staff} salespeople, {args.samples * args.rounds} customers with leads")
    run = setup(args.database_url, args.url, staff=args.staff, customers=args.samples * args.rounds)
    traffic = ingest_bench.Traffic(
        profiles=5000, seed=7, live_sessions=300, start=datetime.now(UTC) - timedelta(hours=2)
    )
    warm_up = argparse.Namespace(events=2000, batch_size=args.batch_size, concurrency=8)
    ingest_rate(args.url, run.write_key, traffic, warm_up, port, args.database_url)

    all_latencies: list[float] = []
    missing = 0
    for round_no in range(args.rounds):
        alone, alone_cpu = ingest_rate(
            args.url, run.write_key, traffic, args, port, args.database_url
        )
        parent, child = multiprocessing.get_context("fork").Pipe()
        streams = multiprocessing.get_context("fork").Process(
            target=_streams, args=(args.url, run.cookies, run.after_id, child), daemon=True
        )
        streams.start()
        if not parent.poll(180) or parent.recv() != "ready":
            raise SystemExit("the streams did not open")
        time.sleep(1.0)
        with_streams, with_cpu = ingest_rate(
            args.url, run.write_key, traffic, args, port, args.database_url
        )
        people = run.customers[round_no * args.samples : (round_no + 1) * args.samples]
        sent = latencies(args.url, run.write_key, people, args.gap)
        time.sleep(2.0)  # the last alerts' time to arrive
        parent.send("stop")
        arrivals: list[tuple[int, float, str]] = parent.recv()
        streams.join(30)
        round_latencies = []
        for staff_index, name, at in sent:
            said = f"{name}</strong> requested a quote"
            times = [t for i, t, data in arrivals if i == staff_index and t >= at and said in data]
            if times:
                round_latencies.append(min(times) - at)
            else:
                missing += 1
        all_latencies.extend(round_latencies)
        p50, p95 = (1000 * pct(round_latencies, q) for q in (0.5, 0.95))
        print(
            f"round {round_no + 1}: ingest alone {alone:,.0f} events/s ({alone_cpu:.3f} server "
            f"CPU ms/event); with {args.staff} streams open {with_streams:,.0f} events/s "
            f"({with_cpu:.3f}); ratio {with_streams / alone:.1%}; alert latency p50 "
            f"{p50:.0f} ms, p95 {p95:.0f} ms"
        )
    ms = [1000 * value for value in all_latencies]
    print(
        f"alerts timed: {len(ms)} (missing: {missing}); p50 {pct(ms, 0.5):.0f} ms, p95 "
        f"{pct(ms, 0.95):.0f} ms, max {max(ms):.0f} ms; target p95 < 1000 ms: "
        f"{'met' if pct(ms, 0.95) < 1000 and not missing else 'NOT met'}"
    )
    load = os.getloadavg()
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
