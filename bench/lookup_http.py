"""Lookup over HTTP, for bench/lookup.py: a real `cdp serve` process on a loopback port against
the bench database, and clients that time `GET /api/profiles?q=` and the search partial
(`GET /showroom/search?q=`, as the search box asks for it with htmx).

The sequential client is one httpx.Client (keep-alive, one thread) timing one request at a time,
so the figure is a request's latency, not the client's: it spends well under a millisecond of
CPU on a request. The concurrent run has several threads, each with its own keep-alive client,
for a bounded number of requests. Everything stays on 127.0.0.1.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
from sqlalchemy.orm import Session, sessionmaker

from cdp.auth.service import create_token
from cdp.auth.staff import create_user
from cdp.dealers.repository import all_dealers

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_PASSWORD = "bench-lookup-" + uuid.uuid4().hex[:12]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LookupServer:
    """`cdp serve --workers N` on a free port, an API token and a signed-in staff member."""

    def __init__(
        self, database_url: str, factory: sessionmaker[Session], *, workers: int, log: Path
    ) -> None:
        self.database_url = database_url
        self.factory = factory
        self.workers = workers
        self.log = log
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.token = ""
        self.staff_email = ""

    def __enter__(self) -> LookupServer:
        tag = uuid.uuid4().hex[:8]
        with self.factory() as session:
            _, self.token = create_token(session, name=f"bench-lookup-{tag}", role="sales")
            self.staff_email = f"bench.lookup.{tag}@dealer.example"
            # A salesperson works at a dealer: without one, a network of several refuses them.
            # Any dealer will do, customers being shared across dealers (set below).
            dealer = next((d.code for d in all_dealers(session) if d.active), None)
            create_user(
                session, email=self.staff_email, role="sales", password=_PASSWORD,
                dealers=[dealer] if dealer else [],
            )  # fmt: skip
            session.commit()
        cdp = shutil.which("cdp", path=str(Path(sys.executable).parent)) or "cdp"
        env = {
            **os.environ,
            "CDP_DATABASE_URL": self.database_url,
            "CDP_API_TOKEN_RATE_LIMIT": "0",  # the bench measures lookup, not the rate limit
            # Everyone is found, as by the in-process lookup (active_at=None) it is timed next to.
            "CDP_SHARE_CUSTOMERS_ACROSS_DEALERS": "true",
        }
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [cdp, "serve", "--host", "127.0.0.1", "--port", str(self.port),
                 "--workers", str(self.workers)],
                env=env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + 300
        while True:
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.__exit__(None, None, None)  # never leave a server behind
                raise RuntimeError(f"cdp serve did not start; see {self.log}")
            time.sleep(0.3)
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def api_client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=30,
        )

    def staff_client(self) -> httpx.Client:
        """Signed in through the real form, as a salesperson's browser is."""
        client = httpx.Client(base_url=self.base_url, timeout=30)
        page = client.get("/login")
        match = _CSRF.search(page.text)
        if match is None:
            raise RuntimeError("no CSRF token on /login")
        response = client.post(
            "/login",
            data={
                "email": self.staff_email,
                "password": _PASSWORD,
                "csrf_token": match.group(1),
                "next": "/showroom",
            },
        )
        if response.status_code != 303 or "/login" in response.headers.get("location", ""):
            raise RuntimeError(f"sign-in failed: {response.status_code}")
        return client


def _descendants(root: int) -> set[int]:
    """The process and every process under it (uvicorn's workers), from /proc."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found = {root}
    grew = True
    while grew:
        grew = False
        for pid, parent in parents.items():
            if parent in found and pid not in found:
                found.add(pid)
                grew = True
    return found


def _cpu_ns(pid: int, threads: bool) -> int:
    """ns on CPU of a process (all its threads) or of a single-threaded one (/proc schedstat)."""
    paths = Path(f"/proc/{pid}/task").glob("*/schedstat") if threads else [
        Path(f"/proc/{pid}/schedstat")
    ]  # fmt: skip
    total = 0
    for path in paths:
        try:
            total += int(path.read_text().split()[0])
        except (OSError, IndexError, ValueError):
            continue
    return total


class ServerClock:
    """CPU the server spends on a request: its processes' threads and their PostgreSQL backends.

    On a machine shared with other work, wall-clock latency mostly measures waiting for a core;
    this is what a request costs, whatever the neighbours do. (The backends are the database's
    client connections other than the benchmark's own, found after the warm-up.)
    """

    def __init__(self, server: LookupServer, engine: Any, own_backends: set[int]) -> None:
        assert server.process is not None
        self.processes = _descendants(server.process.pid)
        with engine.connect() as c:
            rows = c.exec_driver_sql(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
            ).all()
        self.backends = {int(r[0]) for r in rows} - own_backends

    def read(self) -> int:
        return sum(_cpu_ns(p, threads=True) for p in self.processes) + sum(
            _cpu_ns(p, threads=False) for p in self.backends
        )


def time_api(client: httpx.Client, q: str, limit: int) -> tuple[float, list[uuid.UUID]]:
    """(wall ms, the result ids) of one GET /api/profiles?q=."""
    t0 = time.perf_counter_ns()
    response = client.get("/api/profiles", params={"q": q, "limit": limit})
    ms = (time.perf_counter_ns() - t0) / 1e6
    response.raise_for_status()
    return ms, [uuid.UUID(r["id"]) for r in response.json()["results"]]


def time_partial(client: httpx.Client, q: str) -> float:
    """Wall ms of the search partial, as htmx asks for it while the salesperson types."""
    t0 = time.perf_counter_ns()
    response = client.get("/showroom/search", params={"q": q}, headers={"HX-Request": "true"})
    ms = (time.perf_counter_ns() - t0) / 1e6
    response.raise_for_status()
    return ms


def concurrent_run(
    server: LookupServer, queries: list[str], *, threads: int, limit: int
) -> dict[str, Any]:
    """The queries shared out over `threads` keep-alive clients at once: latencies and rate."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()

    def work(share: list[str]) -> None:
        nonlocal errors
        with server.api_client() as client:
            for q in share:
                try:
                    ms, _ = time_api(client, q, limit)
                except httpx.HTTPError:
                    with lock:
                        errors += 1
                    continue
                with lock:
                    latencies.append(ms)

    shares = [queries[k::threads] for k in range(threads)]
    workers = [threading.Thread(target=work, args=(share,)) for share in shares]
    t0 = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    seconds = time.perf_counter() - t0
    return {
        "threads": threads,
        "requests": len(latencies),
        "errors": errors,
        "seconds": round(seconds, 2),
        "per_second": round(len(latencies) / seconds, 1) if seconds else 0.0,
        "latencies": latencies,
    }
