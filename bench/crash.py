"""Crash benchmark: retrying clients against `cdp serve --workers 2`, the server killed mid-load.

Run by hand, not by the test suite. Everything stays on this machine (127.0.0.1).

    .venv/bin/python bench/crash.py \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/cdp_crash \\
        --events 40000 --clients 4 --kills 2

What it does
------------
1. Makes the database afresh (dropped if it exists), migrates it, registers a web source.
2. Starts `cdp serve --workers 2` in a session of its own.
3. --clients clients, each Segment's own Python library (`segment-analytics-python`, a dev
   dependency) with its consumer thread: batches of up to 100 messages to /v1/batch, a
   messageId fixed when a message is queued, retried with the library's backoff on a network
   error or a 5xx. Each client queues its share of --events at --rate messages/s: tracks of
   configurator events (with properties) and, one in ten, an identify with an e-mail address,
   for --profiles users, so identity resolution and merges run as in real traffic.
4. When --kill-at of the events are acknowledged (default 30% and 65%; `--kill-on queued`
   counts those queued instead, which on a slow machine may all be queued before the server
   has stored much), kills the server: SIGKILL to
   every process group of its session (each worker has a group of its own, then the
   supervisor's: nothing shuts down gracefully), checks that no process of it is left, waits
   --down seconds, and starts it again.
5. When every client has flushed (each batch answered 2xx or given up), counts:
   - acknowledged: messageIds of batches answered 2xx (seen by wrapping the library's `post`);
   - stored: events of the source in the database, and distinct messageIds among them;
   - lost: acknowledged but not stored (must be 0);
   - duplicated: messageIds stored more than once (must be 0);
   - given up: messages whose batch the library dropped after its retries (on_error);
   - sent again after a failure: messages of a request that failed (refused connection, reset,
     timeout, 5xx), which the library sent again with the same messageId;
   - answered as duplicates: what the server's answers counted as stored already, i.e. stored
     by a request whose answer the kill cut off (de-duplication by messageId at work);
   - stored, not acknowledged: the server committed, the answer never arrived (the kill), and
     the retry was answered by then or given up. Not a loss; shown for completeness.
Prints a report and, with --json FILE, writes it as JSON.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from segment.analytics import Client
from segment.analytics import consumer as segment_consumer
from sqlalchemy import create_engine, make_url, text

from cdp.auth.service import create_source
from cdp.db import make_engine, make_sessionmaker
from cdp.migrate import upgrade

ROOT = Path(__file__).resolve().parent.parent
EVENTS = (
    ("Configuration Step Viewed", {"step": "colour"}),
    ("Option Selected", {"category": "colour", "code": "LR", "label": "Lava Red"}),
    ("Option Selected", {"category": "wheels", "code": "W19", "label": "19-inch"}),
    ("Finance Calculated", {"monthly": 499, "term_months": 48}),
    ("Configuration Saved", {"model": "Aurora", "trim": "GT Line", "total_price": 45990}),
)


@dataclass
class Tally:
    """What the clients saw, shared by their threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    queued: set[str] = field(default_factory=set)
    not_queued: int = 0  # the library's queue was full
    acknowledged: set[str] = field(default_factory=set)
    given_up: set[str] = field(default_factory=set)
    attempts: int = 0
    failed_attempts: int = 0
    retried: set[str] = field(default_factory=set)  # sent in a request that failed
    # Messages the server answered as duplicates: stored by a request whose answer was lost.
    answered_duplicate: int = 0


def instrument(tally: Tally) -> None:
    """Count what the library's consumer sends and what comes back 2xx, without changing it:
    its `post` raises on anything else, and the consumer retries."""
    original = segment_consumer.post

    def counted_post(*args: Any, **kwargs: Any) -> Any:
        ids = [m["messageId"] for m in kwargs.get("batch", [])]
        try:
            response = original(*args, **kwargs)
        except Exception:
            with tally.lock:
                tally.attempts += 1
                tally.failed_attempts += 1
                tally.retried.update(ids)
            raise
        try:
            duplicates = int(response.json().get("duplicates", 0))
        except (ValueError, AttributeError):
            duplicates = 0
        with tally.lock:
            tally.attempts += 1
            tally.acknowledged.update(ids)
            tally.answered_duplicate += duplicates
        return response

    segment_consumer.post = counted_post  # type: ignore[attr-defined]


def fresh_database(url: str) -> None:
    """Drop and create the database, and migrate it."""
    parsed = make_url(url)
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()


def new_source(url: str) -> tuple[int, str]:
    """A web source to send with: its id and write key."""
    engine = make_engine(url)
    with make_sessionmaker(engine)() as session:
        source, key = create_source(session, name="crash bench", kind="web", origins=[])
        session.commit()
        source_id = source.id
    engine.dispose()
    return source_id, key


class Server:
    """`cdp serve --workers N` in a session of its own, killed whole."""

    def __init__(self, url: str, port: int, workers: int, log: Path, patience: float) -> None:
        self.url, self.port, self.workers, self.log = url, port, workers, log
        self.patience = patience
        self.process: subprocess.Popen[bytes] | None = None
        self.starts: list[float] = []
        self.kills: list[dict[str, Any]] = []

    def start(self) -> None:
        env = {**os.environ, "CDP_DATABASE_URL": self.url}
        cdp = str(Path(sys.executable).with_name("cdp"))
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [cdp, "serve", "--port", str(self.port), "--workers", str(self.workers)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a session of its own: the kill finds every process
            )
        began = time.monotonic()
        while not self._answers():
            if self.process.poll() is not None:
                raise RuntimeError(f"the server stopped at start; see {self.log}")
            if time.monotonic() - began > self.patience:
                raise RuntimeError(f"the server did not answer within {self.patience:.0f} s")
            time.sleep(0.05)
        self.starts.append(time.monotonic() - began)

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                return sock.recv(64).startswith(b"HTTP/1.1 200")
        except OSError:
            return False

    def members(self) -> dict[int, int]:
        """Every live process of the server's session, by pid, with its process group. The
        workers of `cdp serve --workers N` each have a group of their own (cdp/serving.py: a
        Ctrl-C reaches the supervisor only), so the supervisor's group alone is not the server."""
        assert self.process is not None
        session = self.process.pid
        found = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == session and fields[0] != "Z":
                found[int(entry.name)] = int(fields[2])
        return found

    def kill(self) -> None:
        """SIGKILL to every process group of the server, the workers' first: a worker outliving
        its supervisor would get SIGTERM (cdp/serving.py) and stop gracefully, which is not a
        crash."""
        assert self.process is not None
        members = self.members()
        groups = sorted(set(members.values()), key=lambda group: group == self.process.pid)
        for group in groups:
            os.killpg(group, signal.SIGKILL)
        self.process.wait()
        deadline = time.monotonic() + 10
        while self.members() and time.monotonic() < deadline:
            time.sleep(0.05)
        left = self.members()
        if left:
            raise RuntimeError(f"processes of the killed server still running: {sorted(left)}")
        self.kills.append({"processes_killed": len(members), "process_groups": len(groups)})

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=30)


def run_client(
    n: int,
    *,
    host: str,
    key: str,
    count: int,
    rate: float,
    profiles: int,
    seed: int,
    tally: Tally,
    progress: list[int],
) -> None:
    rng = random.Random(seed * 1000 + n)

    def on_error(_error: Exception, batch: list[dict[str, Any]]) -> None:
        with tally.lock:
            tally.given_up.update(m["messageId"] for m in batch)

    client = Client(
        write_key=key,
        host=host,
        upload_size=100,
        upload_interval=0.2,
        max_queue_size=200_000,
        max_retries=12,  # backoff up to 60 s a wait: outlasts a restart
        on_error=on_error,
        timeout=15,
        thread=1,
    )
    began = time.monotonic()
    for i in range(count):
        user = f"user-{rng.randrange(profiles)}"
        if rng.random() < 0.1:
            ok, message = client.identify(
                user_id=user, traits={"email": f"{user}@example.com", "firstName": "Crash"}
            )
        else:
            name, properties = rng.choice(EVENTS)
            ok, message = client.track(user_id=user, event=name, properties=dict(properties))
        with tally.lock:
            if ok:
                tally.queued.add(message["messageId"])
            else:
                tally.not_queued += 1
            progress[n] = i + 1
        ahead = (i + 1) / rate - (time.monotonic() - began)
        if ahead > 0:
            time.sleep(ahead)
    client.flush()
    client.join()


def count_stored(url: str, source_id: int) -> tuple[int, dict[str, int]]:
    engine = make_engine(url)
    with engine.connect() as conn:
        total = conn.execute(
            text("SELECT count(*) FROM event WHERE source_id = :s"), {"s": source_id}
        ).scalar_one()
        twice = dict(
            conn.execute(
                text(
                    "SELECT message_id, count(*) FROM event WHERE source_id = :s "
                    "GROUP BY message_id HAVING count(*) > 1"
                ),
                {"s": source_id},
            ).all()
        )
    engine.dispose()
    return int(total), {str(k): int(v) for k, v in twice.items()}


def stored_ids(url: str, source_id: int) -> set[str]:
    engine = make_engine(url)
    with engine.connect() as conn:
        ids = conn.execute(
            text("SELECT message_id FROM event WHERE source_id = :s"), {"s": source_id}
        ).scalars()
        found = set(ids)
    engine.dispose()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", required=True, help="a PostgreSQL database, remade")
    parser.add_argument("--events", type=int, default=40_000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--rate", type=float, default=500.0, help="messages/s queued per client")
    parser.add_argument("--profiles", type=int, default=3_000)
    parser.add_argument("--kills", type=int, default=2)
    parser.add_argument("--kill-at", type=float, nargs="*", default=None)
    parser.add_argument("--kill-on", choices=("acknowledged", "queued"), default="acknowledged")
    parser.add_argument("--down", type=float, default=3.0, help="seconds the server stays down")
    parser.add_argument("--port", type=int, default=18090)
    parser.add_argument(
        "--start-timeout", type=float, default=300.0, help="seconds a (re)start may take"
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    kill_at = args.kill_at or [round(0.3 + 0.35 * k, 2) for k in range(args.kills)]
    logging.getLogger("segment").setLevel(logging.CRITICAL)  # retries are expected here

    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    fresh_database(args.database_url)
    source_id, key = new_source(args.database_url)
    log = Path(f"/tmp/crash-bench-server-{os.getpid()}.log")
    server = Server(args.database_url, args.port, args.workers, log, args.start_timeout)
    server.start()
    tally = Tally()
    instrument(tally)
    progress = [0] * args.clients
    share = [
        args.events // args.clients + (1 if n < args.events % args.clients else 0)
        for n in range(args.clients)
    ]
    clock = time.monotonic()
    threads = [
        threading.Thread(
            target=run_client,
            args=(n,),
            kwargs={
                "host": f"http://127.0.0.1:{args.port}",
                "key": key,
                "count": share[n],
                "rate": args.rate,
                "profiles": args.profiles,
                "seed": args.seed,
                "tally": tally,
                "progress": progress,
            },
        )
        for n in range(args.clients)
    ]
    for thread in threads:
        thread.start()
    downtime = 0.0
    try:
        for fraction in kill_at:
            while (
                sum(progress) if args.kill_on == "queued" else len(tally.acknowledged)
            ) < fraction * args.events:
                time.sleep(0.01)
            with tally.lock:
                acked_then = len(tally.acknowledged)
            server.kill()
            server.kills[-1].update(queued=sum(progress), acknowledged=acked_then)
            print(
                f"killed the server (all {server.kills[-1]['processes_killed']} processes) at "
                f"{sum(progress)} queued, {acked_then} acknowledged",
                flush=True,
            )
            down = time.monotonic()
            time.sleep(args.down)
            server.start()
            downtime += time.monotonic() - down
            print(f"restarted in {server.starts[-1]:.1f} s", flush=True)
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - clock
    finally:
        server.stop()

    total, twice = count_stored(args.database_url, source_id)
    stored = stored_ids(args.database_url, source_id)
    lost = tally.acknowledged - stored
    report = {
        "started": started,
        "command": " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
        "machine": f"{os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()}",
        "events": args.events,
        "clients": args.clients,
        "workers": args.workers,
        "kill_on": args.kill_on,
        "kills": server.kills,
        "restart_seconds": [round(s, 2) for s in server.starts[1:]],
        "downtime_seconds": round(downtime, 1),
        "elapsed_seconds": round(elapsed, 1),
        "queued": len(tally.queued),
        "not_queued": tally.not_queued,
        "requests": tally.attempts,
        "failed_requests": tally.failed_attempts,
        "acknowledged": len(tally.acknowledged),
        "sent_again_after_a_failure": len(tally.retried),
        "answered_as_duplicates": tally.answered_duplicate,
        "given_up": len(tally.given_up - tally.acknowledged),
        "stored_rows": total,
        "stored_distinct": len(stored),
        "lost": len(lost),
        "duplicated": len(twice),
        "stored_not_acknowledged": len(stored - tally.acknowledged),
        "stored_not_queued": len(stored - tally.queued),
        "lost_sample": sorted(lost)[:5],
        "duplicated_sample": sorted(twice)[:5],
    }
    for name, value in report.items():
        print(f"{name:>24}: {value}")
    verdict = "OK" if not lost and not twice else "LOSS OR DUPLICATION"
    print(f"{'verdict':>24}: {verdict}")
    if args.json:
        args.json.write_text(json.dumps({**report, "verdict": verdict}, indent=2))
    sys.exit(0 if verdict == "OK" else 1)


if __name__ == "__main__":
    main()
