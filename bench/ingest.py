"""Ingest benchmark: realistic configurator traffic over HTTP, against a raw COPY of the same rows.

Run by hand, not by the test suite. Everything stays on this machine (127.0.0.1).

How to run it
-------------
1. A database of its own, and the server on it (migrations are applied on start):

    psql -h 127.0.0.1 -U postgres -d test -c 'CREATE DATABASE cdp_bench'
    export CDP_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/cdp_bench
    .venv/bin/cdp serve --host 127.0.0.1 --port 18080 --workers 2 &

2. The benchmark (it registers a fresh web source itself when given --database-url; pass
   --write-key to reuse one, the database is then still needed to check durability):

    .venv/bin/python bench/ingest.py --url http://127.0.0.1:18080 \\
        --database-url "$CDP_DATABASE_URL" --mode both --events 100000 --profiles 5000

   `--mode batch` sends /v1/batch requests of --batch-size messages (100, as the issue asks);
   `--mode track` sends one message per request (/v1/track, and /v1/identify and /v1/page for
   those calls, as analytics.js does); `--mode both` runs the two phases one after the other.
   `--json FILE` writes every figure as JSON as well.

What it measures
----------------
- Durable events/s: requests are only counted once the server answered 2xx, and the server
  only answers after COMMIT (synchronous_commit decides what that means; see the report). At
  the end the events stored for the source are counted in the database and must equal the
  events sent minus those rejected; the run says so, or says by how much it is off.
- Requests/s and the latency of each request (p50, p95, p99, max), measured by the client.
- CPU used meanwhile by the client, the server processes (found through the listening socket),
  the PostgreSQL backends connected to the bench database and the rest of the machine, from
  /proc; and from these the CPU milliseconds per stored event and the rate the machine could
  carry if it were CPU-bound and idle otherwise (useful on a shared, noisy machine).
- In the same run, a raw COPY (psycopg) of as many equivalent rows into a scratch table shaped
  like `event` (same columns and indexes, logged), in one transaction and again committed every
  --batch-size rows, and the ratio of the HTTP rate to the COPY rate. The table is dropped after.

Traffic model
-------------
--profiles visitors, each with a stable anonymousId per device (derived from --seed, so a
second run with the same seed meets them again as returning visitors; message ids are always
new). Sessions of 10-40 events: page views, Configuration Started, Configuration Step Viewed,
Option Selected / Removed (category, code, label, price_delta), Finance Calculated, Configuration
Saved (with a configuration code), sometimes Configuration Loaded, identify with an e-mail (and
consent) for about a third of the sessions, Dealer Selected, Test Drive / Quote Requested. Some
sessions are on a second device of a known visitor who then identifies, so profiles merge.
--live-sessions sessions are interleaved, as a collecting relay would see them, so one batch
holds events of many visitors. All payloads are built before the clock starts. After
--warmup requests (not counted) the bench runs ANALYZE, as autovacuum would (it is off on the
shared dev machine; with stale statistics the dedupe query degrades): --no-analyze skips it.

Client
------
asyncio with --concurrency keep-alive connections, on a minimal HTTP/1.1 client over asyncio
streams (uses uvloop when installed): about 0.1 ms of client CPU per request, where
httpx.AsyncClient took about 4 ms and became the bottleneck of /v1/track on 2 cores.
`--processes N` splits the connections over N forked client processes, for when one client
process is the bottleneck (see the CPU line of the report).

See docs/benchmarks.md for the figures, bench/compare.sh for A/B runs of two commits, and
bench/profile_ingest.py and bench/pyspy_summary.py for finding where the time goes.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import json
import multiprocessing
import os
import random
import resource
import socket
import statistics
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

# `python bench/ingest.py` puts bench/ first on sys.path, where this file would shadow the
# product's `ingest` package: take it off.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

# --------------------------------------------------------------------------------------------
# Traffic: a configurator's events
# --------------------------------------------------------------------------------------------

MODELS = {
    "Vento": (32990, "hatchback"),
    "Aria": (38490, "estate"),
    "Cortex": (45990, "suv"),
    "Lumo EV": (51990, "suv"),
}
TRIMS = [("Base", 0), ("Comfort", 2200), ("Sport", 4100), ("Premium", 6900)]
ENGINES = [
    ("1.5 TSI 150hp", 0),
    ("2.0 TSI 204hp", 3900),
    ("2.0 TDI 150hp", 2100),
    ("e-Hybrid 245hp", 6500),
    ("e-Drive 77kWh", 9800),
]
COLOURS = [
    ("Glacier White", "#F2F4F5", 0),
    ("Lava Red", "#B3261E", 790),
    ("Midnight Blue", "#1B2A49", 790),
    ("Graphite Grey", "#4A4F55", 790),
    ("Deep Black Pearl", "#0B0B0C", 1090),
    ("Kings Green", "#2E5E4E", 1090),
]
WHEELS = [('17" Aero', 0), ('18" Gemini', 650), ('19" Sebring', 1250), ('20" Misano', 1950)]
INTERIORS = [
    ("Cloth Anthracite", 0),
    ("Microfleece Titanium", 890),
    ("Vienna Leather Black", 2450),
    ("Nappa Leather Cognac", 3350),
]
PACKS = [
    ("PK-WINTER", "Winter Pack", 590, "comfort_safety"),
    ("PK-ASSIST", "Driver Assistance Pack", 1490, "comfort_safety"),
    ("PK-TECH", "Technology Pack", 1890, "comfort_safety"),
    ("PK-RLINE", "R-Line Design Pack", 2750, "design"),
    ("PK-PERF", "Performance Pack", 3200, "performance"),
]
OPTIONS = [
    ("OPT-PANO", "Panoramic sunroof", 1150),
    ("OPT-TOW", "Electrically folding tow bar", 890),
    ("OPT-HUD", "Head-up display", 690),
    ("OPT-HSW", "Heated steering wheel", 190),
    ("OPT-HK", "Harman Kardon sound system", 790),
    ("OPT-MATRIX", "IQ.Light LED matrix headlights", 1290),
    ("OPT-KEYLESS", "Keyless entry", 390),
]
STEPS = ["model", "trim", "engine", "colour", "wheels", "interior", "packs", "options", "summary"]
DEALERS = ["Autohaus Utrecht", "Autohaus Amersfoort", "Car Centre Zwolle", "Autohaus Breda"]
FIRST = ["Sanne", "Daan", "Emma", "Lucas", "Julia", "Sem", "Mila", "Finn", "Noah", "Tess"]
LAST = ["de Vries", "Jansen", "Bakker", "Visser", "Smit", "Meijer", "de Boer", "Mulder"]
CITIES = [("Utrecht", "3511"), ("Amsterdam", "1012"), ("Rotterdam", "3011"), ("Zwolle", "8011")]
USER_AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.0 Safari/605.1.15",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.0.0 Mobile Safari/537.36",
]
SITE = "https://www.example-motors.nl"


def _iso(at: datetime) -> str:
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Visitor:
    index: int
    first: str
    last: str
    email: str
    phone: str | None
    city: tuple[str, str]
    devices: list[str]
    saved_codes: list[str] = field(default_factory=list)
    identified: bool = False


class Traffic:
    """Interleaved configurator sessions of a pool of visitors, as Segment messages (dicts)."""

    def __init__(self, *, profiles: int, seed: int, live_sessions: int, start: datetime) -> None:
        self.rng = random.Random(seed)
        self.seed = seed
        self.pool_size = profiles
        self.visitors: dict[int, Visitor] = {}
        self.clock = start
        self.live: list[list[dict[str, Any]]] = []
        self.live_sessions = live_sessions
        self.sessions = 0
        self.visitors_seen: set[int] = set()
        self.returning_sessions = 0

    def visitor(self, index: int) -> Visitor:
        found = self.visitors.get(index)
        if found is None:
            # Derived from (seed, index) alone: the same visitor in every run with this seed.
            vr = random.Random(f"{self.seed}:{index}")
            first, last = vr.choice(FIRST), vr.choice(LAST)
            slug = f"{first}.{last}".lower().replace(" ", "")
            found = Visitor(
                index=index,
                first=first,
                last=last,
                email=f"{slug}.{self.seed}.{index}@example.nl",
                phone=f"06{vr.randrange(10_000_000, 99_999_999)}" if vr.random() < 0.4 else None,
                city=vr.choice(CITIES),
                devices=[str(uuid.UUID(int=vr.getrandbits(128), version=4))],
            )
            self.visitors[index] = found
        return found

    def _context(self, anon: str, ua: str, path: str, title: str) -> dict[str, Any]:
        rng = self.rng
        context: dict[str, Any] = {
            "library": {"name": "analytics.js", "version": "next-1.72.0"},
            "page": {
                "path": path,
                "url": f"{SITE}{path}",
                "title": title,
                "referrer": rng.choice(
                    ["https://www.google.com/", "", f"{SITE}/", "https://www.bing.com/"]
                ),
                "search": "",
            },
            "userAgent": ua,
            "locale": "nl-NL",
            "timezone": "Europe/Amsterdam",
            "screen": {"width": rng.choice([390, 1440, 1920]), "height": 900, "density": 2},
            "ip": f"198.51.100.{rng.randrange(1, 255)}",
        }
        if rng.random() < 0.3:
            context["campaign"] = {
                "source": "google",
                "medium": "cpc",
                "name": "configurator_autumn",
                "term": "suv lease",
            }
        return context

    def _session(self) -> list[dict[str, Any]]:
        rng = self.rng
        index = rng.randrange(self.pool_size)
        visitor = self.visitor(index)
        self.sessions += 1
        returning = index in self.visitors_seen
        self.returning_sessions += returning
        self.visitors_seen.add(index)
        second_device = returning and rng.random() < 0.08
        if second_device:
            vr = random.Random(f"{self.seed}:{index}:{len(visitor.devices)}")
            visitor.devices.append(str(uuid.UUID(int=vr.getrandbits(128), version=4)))
        anon = visitor.devices[-1] if second_device else rng.choice(visitor.devices)
        ua = rng.choice(USER_AGENTS)
        at = self.clock + timedelta(seconds=rng.uniform(0, 600))
        model = rng.choice(list(MODELS))
        base_price, body = MODELS[model]
        slug = model.lower().replace(" ", "-")
        path = f"/configurator/{slug}"
        messages: list[dict[str, Any]] = []

        def emit(kind: str, **fields: Any) -> None:
            nonlocal at
            at += timedelta(seconds=rng.uniform(2, 45))
            page = fields.pop("_path", path)
            message = {
                "type": kind,
                "anonymousId": anon,
                "messageId": f"ajs-next-{uuid.uuid4().hex}",
                "timestamp": _iso(at),
                "context": self._context(anon, ua, page, f"{model} configurator"),
                **fields,
            }
            if visitor.identified and rng.random() < 0.5:
                message["context"]["traits"] = {"email": visitor.email}
            messages.append(message)

        def track(event: str, properties: dict[str, Any]) -> None:
            emit("track", event=event, properties=properties)

        emit(
            "page",
            name="Configurator",
            category="Configurator",
            properties={
                "path": path,
                "url": f"{SITE}{path}",
                "title": f"{model} configurator",
                "model": model,
            },
        )
        if visitor.saved_codes and rng.random() < 0.3:
            track(
                "Configuration Loaded",
                {"configuration_code": rng.choice(visitor.saved_codes), "model": model},
            )
        track(
            "Configuration Started",
            {
                "model": model,
                "body_style": body,
                "market": "NL",
                "configurator_version": "4.12.0",
                "base_price": base_price,
                "currency": "EUR",
            },
        )
        chosen: dict[str, Any] = {"model": model}
        total = base_price
        options: list[str] = []
        depth = rng.randint(3, len(STEPS))
        for step_index, step in enumerate(STEPS[:depth]):
            track(
                "Configuration Step Viewed",
                {"step": step, "step_index": step_index, "model": model},
            )
            picks = rng.randint(1, 3)
            for _ in range(picks):
                if step == "model":
                    code, label, delta, category = f"MDL-{slug.upper()}", model, 0, "model"
                elif step == "trim":
                    label, delta = rng.choice(TRIMS)
                    code, category = f"TRM-{label.upper()}", "trim"
                elif step == "engine":
                    number = rng.randrange(len(ENGINES))
                    label, delta = ENGINES[number]
                    code, category = f"ENG-{number + 1:02d}", "engine"
                elif step == "colour":
                    label, hex_value, delta = rng.choice(COLOURS)
                    code, category = f"COL-{hex_value[1:]}", "colour"
                    chosen["colour_hex"] = hex_value
                elif step == "wheels":
                    label, delta = rng.choice(WHEELS)
                    code, category = f"WHL-{label[:2]}", "wheels"
                elif step == "interior":
                    label, delta = rng.choice(INTERIORS)
                    code, category = f"INT-{label.split()[0].upper()}", "interior"
                elif step == "packs":
                    code, label, delta, interest = rng.choice(PACKS)
                    category = "pack"
                elif step == "options":
                    code, label, delta = rng.choice(OPTIONS)
                    category = "option"
                else:
                    break
                props = {
                    "category": category,
                    "code": code,
                    "label": label,
                    "price_delta": delta,
                    "currency": "EUR",
                    "model": model,
                    "step": step,
                }
                if category == "pack":
                    props["interest"] = interest
                track("Option Selected", props)
                if category in ("pack", "option"):
                    if rng.random() < 0.15:
                        track("Option Removed", props)
                        continue
                    options.append(label)
                else:
                    chosen[category] = label
                total += delta
            if step == "summary" and rng.random() < 0.6:
                track(
                    "Finance Calculated",
                    {
                        "model": model,
                        "product": "private_lease",
                        "term_months": rng.choice([24, 36, 48, 60]),
                        "mileage_km": rng.choice([10000, 15000, 20000]),
                        "monthly_payment": round(total / 70, 2),
                        "currency": "EUR",
                    },
                )
        saved = depth >= 6 and rng.random() < 0.6
        if saved:
            code = f"{slug[:3].upper()}-{rng.getrandbits(32):08X}"
            visitor.saved_codes.append(code)
            track(
                "Configuration Saved",
                {
                    "configuration_code": code,
                    "model": model,
                    "trim": chosen.get("trim"),
                    "engine": chosen.get("engine"),
                    "colour": chosen.get("colour"),
                    "colour_hex": chosen.get("colour_hex"),
                    "wheels": chosen.get("wheels"),
                    "interior": chosen.get("interior"),
                    "options": options,
                    "total_price": total,
                    "currency": "EUR",
                    "url": f"{SITE}/configurator/saved/{code}",
                },
            )
        if rng.random() < (0.9 if second_device else 0.33):
            traits: dict[str, Any] = {
                "email": visitor.email if rng.random() < 0.9 else visitor.email.upper(),
                "firstName": visitor.first,
                "lastName": visitor.last,
                "address": {
                    "city": visitor.city[0],
                    "postalCode": visitor.city[1] + " AB",
                    "country": "NL",
                },
                "consent": {"email_marketing": rng.random() < 0.6, "tracking": True},
            }
            if visitor.phone:
                traits["phone"] = visitor.phone
            emit("identify", traits=traits)
            visitor.identified = True
            if rng.random() < 0.5:
                track("Dealer Selected", {"dealer": rng.choice(DEALERS), "model": model})
                track(
                    rng.choice(["Test Drive Requested", "Quote Requested"]),
                    {
                        "model": model,
                        "dealer": rng.choice(DEALERS),
                        "configuration_code": visitor.saved_codes[-1] if saved else None,
                    },
                )
        emit("page", name="Thank you", _path=f"{path}/done", properties={"path": f"{path}/done"})
        return messages

    def messages(self, count: int) -> list[dict[str, Any]]:
        """The next `count` messages, drawn from --live-sessions interleaved sessions."""
        out: list[dict[str, Any]] = []
        rng = self.rng
        while len(out) < count:
            while len(self.live) < self.live_sessions:
                self.live.append(self._session())
                self.clock += timedelta(milliseconds=rng.uniform(0, 200))
            slot = rng.randrange(len(self.live))
            session = self.live[slot]
            out.append(session.pop(0))
            if not session:
                self.live[slot] = self.live[-1]
                self.live.pop()
        return out


# --------------------------------------------------------------------------------------------
# Requests
# --------------------------------------------------------------------------------------------


@dataclass
class Work:
    path: str
    body: bytes
    messages: int


def build_batches(messages: list[dict[str, Any]], batch_size: int, sent_at: str) -> list[Work]:
    work = []
    for start in range(0, len(messages), batch_size):
        chunk = messages[start : start + batch_size]
        body = orjson.dumps({"batch": chunk, "sentAt": sent_at})
        work.append(Work("/v1/batch", body, len(chunk)))
    return work


def build_singles(messages: list[dict[str, Any]], sent_at: str) -> list[Work]:
    work = []
    for message in messages:
        body = {key: value for key, value in message.items() if key != "type"}
        body["sentAt"] = sent_at
        work.append(Work(f"/v1/{message['type']}", orjson.dumps(body), 1))
    return work


@dataclass
class Outcome:
    requests: int = 0
    ok: int = 0
    failed: int = 0  # non-2xx other than 400, or a transport error
    messages_ok: int = 0  # messages in 2xx responses
    messages_failed: int = 0  # messages in requests that failed
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    latencies: list[float] = field(default_factory=list)
    by_path: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)

    def add(self, other: Outcome) -> None:
        for name in (
            "requests",
            "ok",
            "failed",
            "messages_ok",
            "messages_failed",
            "accepted",
            "duplicates",
            "rejected",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.latencies.extend(other.latencies)
        for path, values in other.by_path.items():
            self.by_path.setdefault(path, []).extend(values)
        for error, count in other.errors.items():
            self.errors[error] = self.errors.get(error, 0) + count


def _record(outcome: Outcome, work: Work, status: int, body: bytes, elapsed: float) -> None:
    outcome.requests += 1
    outcome.latencies.append(elapsed)
    outcome.by_path.setdefault(work.path, []).append(elapsed)
    if 200 <= status < 300 or status == 400:
        try:
            answer = orjson.loads(body)
        except orjson.JSONDecodeError:
            answer = {}
        accepted = int(answer.get("accepted", 0))
        rejected = len(answer.get("rejected") or [])
        outcome.accepted += accepted
        outcome.duplicates += int(answer.get("duplicates", 0))
        outcome.rejected += rejected
        if status == 400 and not rejected:  # a request-level refusal: nothing was stored
            outcome.failed += 1
            outcome.messages_failed += work.messages
            key = f"HTTP 400 {answer.get('error')}"
            outcome.errors[key] = outcome.errors.get(key, 0) + 1
        else:
            outcome.ok += 1
            outcome.messages_ok += work.messages
        return
    outcome.failed += 1
    outcome.messages_failed += work.messages
    key = f"HTTP {status}" if status else body.decode(errors="replace")[:80]
    outcome.errors[key] = outcome.errors.get(key, 0) + 1


class RawConnection:
    """HTTP/1.1 keep-alive on asyncio streams: just enough for POST + Content-Length answers."""

    def __init__(self, host: str, port: int, auth: str) -> None:
        self.host, self.port, self.auth = host, port, auth
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes, timeout: float) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
            sock = self.writer.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        assert self.reader is not None and self.writer is not None
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Authorization: Basic {self.auth}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        self.writer.write(head + body)
        return await asyncio.wait_for(self._response(), timeout)

    async def _response(self) -> tuple[int, bytes]:
        assert self.reader is not None
        header = await self.reader.readuntil(b"\r\n\r\n")
        lines = header.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length = 0
        close = False
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value.strip())
            elif name == "transfer-encoding":
                raise RuntimeError("chunked answers are not supported by the raw client")
            elif name == "connection" and value.strip().lower() == "close":
                close = True
        body = await self.reader.readexactly(length) if length else b""
        if close:
            await self.close()
        return status, body

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()
        self.reader = self.writer = None


async def _run_client(
    base_url: str,
    write_key: str,
    work: list[Work],
    concurrency: int,
    deadline: float,
    timeout: float,
) -> Outcome:
    outcome = Outcome()
    parts = urlsplit(base_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    auth = base64.b64encode(f"{write_key}:".encode()).decode()
    queue_position = 0

    def next_work() -> Work | None:
        nonlocal queue_position
        if queue_position >= len(work) or time.monotonic() > deadline:
            return None
        item = work[queue_position]
        queue_position += 1
        return item

    async def worker() -> None:
        conn = RawConnection(host, port, auth)
        try:
            while (item := next_work()) is not None:
                started = time.perf_counter()
                try:
                    status, body = await conn.post(item.path, item.body, timeout)
                except (
                    TimeoutError,
                    OSError,
                    asyncio.IncompleteReadError,
                    RuntimeError,
                    ValueError,
                ) as error:
                    await conn.close()
                    status, body = 0, f"{type(error).__name__}: {error}".encode()
                _record(outcome, item, status, body, time.perf_counter() - started)
        finally:
            await conn.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return outcome


def _event_loop_policy() -> None:
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def _child(conn: Any, start_at: float, args: tuple[Any, ...]) -> None:
    _event_loop_policy()
    while time.monotonic() < start_at:  # all client processes start together
        time.sleep(0.001)
    cpu0 = _own_cpu()
    outcome = asyncio.run(_run_client(*args))
    conn.send((outcome, _own_cpu() - cpu0))
    conn.close()


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def send(
    base_url: str,
    write_key: str,
    work: list[Work],
    *,
    concurrency: int,
    processes: int,
    max_seconds: float,
    timeout: float,
) -> tuple[Outcome, float, float]:
    """Send all of `work`; returns the outcome, the wall time and the client CPU seconds."""
    if processes <= 1:
        _event_loop_policy()
        cpu0 = _own_cpu()
        started = time.perf_counter()
        outcome = asyncio.run(
            _run_client(
                base_url,
                write_key,
                work,
                concurrency,
                time.monotonic() + max_seconds,
                timeout,
            )
        )
        return outcome, time.perf_counter() - started, _own_cpu() - cpu0
    ctx = multiprocessing.get_context("fork")
    start_at = time.monotonic() + 0.5
    deadline = start_at + max_seconds
    children = []
    per_proc = [
        concurrency // processes + (1 if i < concurrency % processes else 0)
        for i in range(processes)
    ]
    for i in range(processes):
        parent_end, child_end = ctx.Pipe(duplex=False)
        args = (
            base_url,
            write_key,
            work[i::processes],
            max(1, per_proc[i]),
            deadline,
            timeout,
        )
        proc = ctx.Process(target=_child, args=(child_end, start_at, args), daemon=True)
        proc.start()
        child_end.close()
        children.append((proc, parent_end))
    while time.monotonic() < start_at:
        time.sleep(0.001)
    started = time.perf_counter()
    outcome = Outcome()
    cpu = 0.0
    for proc, pipe in children:
        child_outcome, child_cpu = pipe.recv()
        outcome.add(child_outcome)
        cpu += child_cpu
        proc.join(timeout=30)
    return outcome, time.perf_counter() - started, cpu


# --------------------------------------------------------------------------------------------
# CPU accounting from /proc
# --------------------------------------------------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK")


def _proc_cpu(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime
    except (OSError, IndexError, ValueError):
        return 0.0


def _listening_pids(port: int) -> set[int]:
    """Every process holding the listening socket of `port` (uvicorn's workers share it)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as handle:
            for line in list(handle)[1:]:
                cols = line.split()
                if cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(cols[9])
    pids = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{entry}/fd"):
                with contextlib.suppress(OSError):
                    link = os.readlink(f"/proc/{entry}/fd/{fd}")
                    if link.startswith("socket:[") and link[8:-1] in inodes:
                        pids.add(int(entry))
                        break
    return pids


def _postgres_pids(database_url: str | None) -> set[int]:
    """Backends connected to the bench database (others' databases on the server are left out)."""
    if database_url is None:
        return set()
    import psycopg

    with psycopg.connect(_psycopg_url(database_url)) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        ).fetchall()
    return {int(row[0]) for row in rows}


def _machine_busy() -> tuple[float, float]:
    with open("/proc/stat") as handle:
        values = [int(v) for v in handle.readline().split()[1:]]
    idle = values[3] + values[4]
    return (sum(values) - idle) / _TICK, sum(values) / _TICK


class CpuMeter:
    def __init__(self, port: int, database_url: str | None = None) -> None:
        self.port = port
        self.database_url = database_url

    def __enter__(self) -> CpuMeter:
        self.server = _listening_pids(self.port)
        self.server0 = {pid: _proc_cpu(pid) for pid in self.server}
        self.pg0 = {pid: _proc_cpu(pid) for pid in _postgres_pids(self.database_url)}
        self.machine0 = _machine_busy()
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server_cpu = sum(_proc_cpu(pid) - c for pid, c in self.server0.items())
        pg_now = {pid: _proc_cpu(pid) for pid in _postgres_pids(self.database_url) | set(self.pg0)}
        # Backends that ended meanwhile are lost; new ones count from zero. WAL writer and
        # checkpointer serve every database and are left out.
        self.pg_cpu = sum(max(0.0, cpu - self.pg0.get(pid, 0.0)) for pid, cpu in pg_now.items())
        self.elapsed = time.perf_counter() - self.started
        busy1, total1 = _machine_busy()
        self.machine_busy = busy1 - self.machine0[0]
        self.machine_total = total1 - self.machine0[1]


# --------------------------------------------------------------------------------------------
# Database: source, durability check, COPY baseline
# --------------------------------------------------------------------------------------------


def _psycopg_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def create_source(database_url: str) -> tuple[str, int]:
    from sqlalchemy import create_engine

    from cdp.auth.service import create_source as make
    from cdp.db import make_sessionmaker, session_scope
    from cdp.migrate import upgrade

    engine = create_engine(database_url)
    try:
        upgrade(engine)
    except ValueError as error:  # cdp.migrate before f6bd7e3's successor: a '%' in the URL
        print(f"note: migrations not applied from here ({error}); the server applies them")
    with session_scope(make_sessionmaker(engine)) as session:
        source, key = make(
            session, name=f"bench {datetime.now(UTC):%Y-%m-%d %H:%M:%S.%f}", kind="web", origins=[]
        )
        source_id = source.id
    engine.dispose()
    return key, source_id


def source_id_of(database_url: str, write_key: str) -> int:
    import psycopg

    key_hash = hashlib.sha256(write_key.encode()).hexdigest()  # as cdp.auth.keys.digest
    with psycopg.connect(_psycopg_url(database_url)) as conn:
        row = conn.execute(
            "SELECT id FROM source WHERE write_key_hash = %s", (key_hash,)
        ).fetchone()
    if row is None:
        raise SystemExit("the write key is unknown to that database")
    return int(row[0])


def analyze(database_url: str) -> None:
    """Fresh statistics: autovacuum may be off (it is on the shared dev machine)."""
    import psycopg

    with psycopg.connect(_psycopg_url(database_url), autocommit=True) as conn:
        conn.execute("ANALYZE")


def count_events(database_url: str, source_id: int) -> int:
    import psycopg

    with psycopg.connect(_psycopg_url(database_url)) as conn:
        row = conn.execute("SELECT count(*) FROM event WHERE source_id = %s", (source_id,))
        return int(row.fetchone()[0])  # type: ignore[index]


def db_counters(database_url: str) -> dict[str, int]:
    """Transactions committed / rolled back (server-side retries show here) and deadlocks."""
    import psycopg

    with psycopg.connect(_psycopg_url(database_url)) as conn:
        row = conn.execute(
            "SELECT xact_commit, xact_rollback, deadlocks FROM pg_stat_database "
            "WHERE datname = current_database()"
        ).fetchone()
    assert row is not None
    return {"xact_commit": int(row[0]), "xact_rollback": int(row[1]), "deadlocks": int(row[2])}


def database_facts(database_url: str) -> dict[str, Any]:
    import psycopg

    with psycopg.connect(_psycopg_url(database_url)) as conn:
        settings = dict(
            conn.execute(
                "SELECT name, setting FROM pg_settings WHERE name IN ('synchronous_commit',"
                " 'fsync', 'shared_buffers', 'wal_level', 'max_connections', 'autovacuum')"
            ).fetchall()
        )
        settings["server_version"] = conn.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
        sizes = dict(
            conn.execute(
                "SELECT relname, reltuples::bigint FROM pg_class WHERE relname IN "
                "('event', 'identity', 'profile', 'profile_trait')"
            ).fetchall()
        )
    return {"settings": settings, "approx_rows": sizes}


COPY_COLUMNS = (
    "source_id, message_id, type, name, channel, profile_id, anonymous_id, user_id, "
    "occurred_at, received_at, properties, traits, context"
)


def copy_rows(messages: list[dict[str, Any]], source_id: int) -> list[tuple[Any, ...]]:
    """Rows as the server would store them: one profile id per anonymousId, JSON as text."""
    profile_of: dict[str, uuid.UUID] = {}
    now = datetime.now(UTC)
    rows = []
    for message in messages:
        anon = message.get("anonymousId")
        pid = profile_of.setdefault(anon, uuid.uuid4())
        properties = dict(message.get("properties") or {})
        if message.get("category"):
            properties.setdefault("category", message["category"])
        rows.append(
            (
                source_id,
                f"copy-{uuid.uuid4().hex}",
                message["type"],
                message.get("event") or message.get("name"),
                "web",
                pid,
                anon,
                message.get("userId"),
                datetime.fromisoformat(message["timestamp"]),
                now,
                orjson.dumps(properties).decode(),
                orjson.dumps(message.get("traits") or {}).decode(),
                orjson.dumps(message.get("context") or {}).decode(),
            )
        )
    return rows


def copy_baseline(database_url: str, rows: list[tuple[Any, ...]], chunk: int) -> dict[str, float]:
    """COPY into a logged scratch table with event's columns and indexes: once, then per chunk."""
    import psycopg

    table = f"bench_event_copy_{os.getpid()}"
    results: dict[str, float] = {}
    with psycopg.connect(_psycopg_url(database_url), autocommit=True) as conn:
        try:
            for label, size in (("one_transaction", len(rows)), ("per_batch", chunk)):
                conn.execute(f"DROP TABLE IF EXISTS {table}")
                conn.execute(f"CREATE TABLE {table} (LIKE event INCLUDING INDEXES)")
                conn.execute(
                    f"ALTER TABLE {table} ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY"
                )
                started = time.perf_counter()
                for start in range(0, len(rows), size):
                    with (
                        conn.transaction(),
                        conn.cursor() as cur,
                        cur.copy(f"COPY {table} ({COPY_COLUMNS}) FROM STDIN") as copy,
                    ):
                        for row in rows[start : start + size]:
                            copy.write_row(row)
                elapsed = time.perf_counter() - started
                stored = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # type: ignore[index]
                if stored != len(rows):
                    raise RuntimeError(f"COPY stored {stored} of {len(rows)} rows")
                results[label] = len(rows) / elapsed
                results[f"{label}_seconds"] = elapsed
        finally:
            conn.execute(f"DROP TABLE IF EXISTS {table}")
    return results


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def summarise(
    name: str, outcome: Outcome, wall: float, client_cpu: float, meter: CpuMeter | None
) -> dict[str, Any]:
    stored = outcome.accepted - outcome.duplicates
    summary: dict[str, Any] = {
        "phase": name,
        "seconds": wall,
        "requests": outcome.requests,
        "requests_ok": outcome.ok,
        "requests_failed": outcome.failed,
        "messages_sent": outcome.messages_ok + outcome.messages_failed,
        "messages_in_2xx": outcome.messages_ok,
        "accepted": outcome.accepted,
        "duplicates": outcome.duplicates,
        "rejected": outcome.rejected,
        "events_per_s": stored / wall if wall else 0.0,
        "requests_per_s": outcome.requests / wall if wall else 0.0,
        "latency_ms": {
            "p50": _pct(outcome.latencies, 0.50),
            "p95": _pct(outcome.latencies, 0.95),
            "p99": _pct(outcome.latencies, 0.99),
            "max": max(outcome.latencies, default=float("nan")) * 1000,
            "mean": statistics.fmean(outcome.latencies) * 1000 if outcome.latencies else 0.0,
        },
        "latency_ms_by_path": {
            path: {"n": len(v), "p50": _pct(v, 0.5), "p95": _pct(v, 0.95), "p99": _pct(v, 0.99)}
            for path, v in sorted(outcome.by_path.items())
        },
        "errors": outcome.errors,
        "cpu_cores": {"client": client_cpu / wall if wall else 0.0},
    }
    if meter is not None and wall:
        summary["cpu_cores"].update(
            {
                "server": meter.server_cpu / meter.elapsed,
                "postgres": meter.pg_cpu / meter.elapsed,
                "machine_busy": meter.machine_busy / meter.elapsed,
                "server_processes": len(meter.server),
            }
        )
        if stored:
            # CPU seconds per stored event, and the rate the machine's cores could carry if the
            # path were CPU-bound and had them to itself (a shared machine's noise drops out).
            per_event = {
                "server": meter.server_cpu / stored * 1000,
                "postgres": meter.pg_cpu / stored * 1000,
                "client": client_cpu / stored * 1000,
            }
            total = sum(per_event.values())
            summary["cpu_ms_per_event"] = per_event
            summary["cpu_bound_capacity_events_per_s"] = (os.cpu_count() or 1) * 1000 / total
    return summary


def print_phase(s: dict[str, Any]) -> None:
    lat = s["latency_ms"]
    print(f"\n== {s['phase']} ==")
    print(
        f"  {s['messages_sent']} messages in {s['requests']} requests, {s['seconds']:.2f} s; "
        f"failed requests {s['requests_failed']}, rejected messages {s['rejected']}, "
        f"duplicates {s['duplicates']}"
    )
    print(f"  durable events/s  {s['events_per_s']:10.0f}")
    print(f"  requests/s        {s['requests_per_s']:10.0f}")
    print(
        f"  latency ms        p50 {lat['p50']:.1f}  p95 {lat['p95']:.1f}  p99 {lat['p99']:.1f}"
        f"  max {lat['max']:.1f}"
    )
    if len(s["latency_ms_by_path"]) > 1:
        for path, v in s["latency_ms_by_path"].items():
            print(
                f"    {path:<14} n={v['n']:<7} p50 {v['p50']:.1f}  p95 {v['p95']:.1f}  "
                f"p99 {v['p99']:.1f}"
            )
    cpu = s["cpu_cores"]
    line = f"  CPU (cores busy)  client {cpu['client']:.2f}"
    if "server" in cpu:
        others = cpu["machine_busy"] - cpu["client"] - cpu["server"] - cpu["postgres"]
        line += (
            f"  server {cpu['server']:.2f} ({cpu['server_processes']} procs)"
            f"  postgres {cpu['postgres']:.2f}  other processes {max(others, 0):.2f}"
            f"  (whole machine {cpu['machine_busy']:.2f} of {os.cpu_count()})"
        )
    print(line)
    if "cpu_ms_per_event" in s:
        per = s["cpu_ms_per_event"]
        print(
            f"  CPU ms per event  server {per['server']:.3f}  postgres {per['postgres']:.3f}  "
            f"client {per['client']:.3f}  -> CPU-bound capacity on {os.cpu_count()} idle cores "
            f"~{s['cpu_bound_capacity_events_per_s']:.0f} events/s"
        )
    if "db" in s:
        db = s["db"]
        print(
            f"  database          {db['xact_commit']} commits, {db['xact_rollback']} rollbacks, "
            f"{db['deadlocks']} deadlocks (whole database, this phase)"
        )
    if s["errors"]:
        print(f"  errors: {s['errors']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default="http://127.0.0.1:18080", help="a running cdp server")
    parser.add_argument("--write-key", help="an existing web source's write key")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("CDP_DATABASE_URL"),
        help="the server's database (default $CDP_DATABASE_URL): creates the "
        "source, checks durability, runs the COPY baseline",
    )
    parser.add_argument(
        "--events", type=int, default=100_000, help="messages sent through /v1/batch (batch mode)"
    )
    parser.add_argument(
        "--track-events",
        type=int,
        default=20_000,
        help="messages sent one per request (track mode)",
    )
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help="concurrent connections (default 8 for batch, 32 for track)",
    )
    parser.add_argument("--processes", type=int, default=1, help="client processes")
    parser.add_argument("--mode", choices=("batch", "track", "both"), default="batch")
    parser.add_argument("--profiles", type=int, default=5000, help="distinct visitors")
    parser.add_argument(
        "--live-sessions", type=int, default=300, help="sessions interleaved in the stream"
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=1,
        help="visitor pool; the same seed meets the same visitors again",
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=20,
        help="requests sent before the clock starts (not counted in rates)",
    )
    parser.add_argument(
        "--max-seconds", type=float, default=600.0, help="stop sending after this long per phase"
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="per request")
    parser.add_argument("--no-copy", action="store_true", help="skip the COPY baseline")
    parser.add_argument(
        "--no-analyze",
        action="store_true",
        help="skip the ANALYZE of the database after the warm-up (with stale "
        "statistics the dedupe query's generic plan degrades; see docs)",
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)

    parts = urlsplit(args.url)
    if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        parser.error("--url must point at this machine (127.0.0.1)")
    if not args.database_url:
        parser.error("--database-url (or CDP_DATABASE_URL) is needed to check durability")
    if args.write_key:
        write_key, source_id = args.write_key, source_id_of(args.database_url, args.write_key)
    else:
        write_key, source_id = create_source(args.database_url)
        print(f"created source {source_id} for this run")

    traffic = Traffic(
        profiles=args.profiles,
        seed=args.seed,
        live_sessions=args.live_sessions,
        start=datetime.now(UTC) - timedelta(hours=2),
    )
    sent_at = _iso(datetime.now(UTC))
    phases: list[tuple[str, list[Work], int]] = []
    all_messages: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    warm = traffic.messages(args.warmup * (args.batch_size if args.mode != "track" else 1))
    all_messages.extend(warm)
    warm_work = (
        build_batches(warm, args.batch_size, sent_at)
        if args.mode != "track"
        else build_singles(warm, sent_at)
    )
    if args.mode in ("batch", "both"):
        msgs = traffic.messages(args.events)
        all_messages.extend(msgs)
        phases.append(
            ("batch", build_batches(msgs, args.batch_size, sent_at), args.concurrency or 8)
        )
    if args.mode in ("track", "both"):
        msgs = traffic.messages(args.track_events)
        all_messages.extend(msgs)
        phases.append(("track", build_singles(msgs, sent_at), args.concurrency or 32))
    sizes = {
        name: statistics.fmean(len(w.body) for w in work) / 1024 for name, work, _ in phases if work
    }
    kinds: dict[str, int] = {}
    for message in all_messages:
        label = message.get("event") or message["type"]
        kinds[label] = kinds.get(label, 0) + 1
    print(
        f"built {len(all_messages)} messages in {time.perf_counter() - t0:.1f} s: "
        f"{traffic.sessions} sessions of {len(traffic.visitors_seen)} visitors "
        f"({traffic.returning_sessions} returning sessions); mean request body "
        + ", ".join(f"{name} {size:.1f} KiB" for name, size in sizes.items())
    )
    print(
        "  mix: " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items(), key=lambda kv: -kv[1]))
    )

    before = count_events(args.database_url, source_id)
    port = parts.port or 80
    results: dict[str, Any] = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "started": datetime.now(UTC).isoformat(),
        "machine": {"nproc": os.cpu_count()},
        "database": database_facts(args.database_url),
        "phases": [],
    }
    totals = Outcome()
    warm_outcome, _, _ = send(
        args.url,
        write_key,
        warm_work,
        concurrency=4,
        processes=1,
        max_seconds=args.max_seconds,
        timeout=args.timeout,
    )
    totals.add(warm_outcome)
    if warm_outcome.failed:
        print(f"warm-up failures: {warm_outcome.errors}")
    if not args.no_analyze:
        analyze(args.database_url)
    for name, work, concurrency in phases:
        counters0 = db_counters(args.database_url)
        with CpuMeter(port, args.database_url) as meter:
            outcome, wall, client_cpu = send(
                args.url,
                write_key,
                work,
                concurrency=concurrency,
                processes=args.processes,
                max_seconds=args.max_seconds,
                timeout=args.timeout,
            )
        totals.add(outcome)
        summary = summarise(
            f"{name} (concurrency {concurrency}, {args.processes} client process(es))",
            outcome,
            wall,
            client_cpu,
            meter,
        )
        summary["name"] = name
        time.sleep(1.1)  # PostgreSQL flushes its statistics about once a second
        counters1 = db_counters(args.database_url)
        summary["db"] = {k: counters1[k] - counters0[k] for k in counters0}
        results["phases"].append(summary)
        print_phase(summary)

    after = count_events(args.database_url, source_id)
    expected = totals.messages_ok - totals.rejected - totals.duplicates
    durable = after - before
    results["durability"] = {
        "stored": durable,
        "expected": expected,
        "sent": totals.messages_ok + totals.messages_failed,
        "rejected": totals.rejected,
        "duplicates": totals.duplicates,
        "in_failed_requests": totals.messages_failed,
        "ok": durable == expected,
    }
    print(
        f"\ndurability: {durable} events stored for source {source_id}; sent "
        f"{totals.messages_ok + totals.messages_failed}, rejected {totals.rejected}, "
        f"duplicates {totals.duplicates}, in failed requests {totals.messages_failed} -> "
        f"expected {expected}: {'OK' if durable == expected else 'MISMATCH'}"
    )

    if not args.no_copy:
        copied = all_messages[len(warm) :]
        rows = copy_rows(copied, source_id)
        copy = copy_baseline(args.database_url, rows, args.batch_size)
        results["copy"] = {"rows": len(rows), **copy}
        print(f"\n== raw COPY of {len(rows)} equivalent rows (logged table, event's indexes) ==")
        print(f"  one transaction       {copy['one_transaction']:10.0f} rows/s")
        print(f"  commit every {args.batch_size:<5}    {copy['per_batch']:10.0f} rows/s")
        for phase in results["phases"]:
            ratio = phase["events_per_s"] / copy["one_transaction"]
            phase["ratio_to_copy"] = ratio
            print(
                f"  {phase['name']}: {phase['events_per_s']:.0f} events/s = {ratio:.1%} of COPY "
                f"(COPY is {1 / ratio if ratio else float('inf'):.1f}x faster)"
            )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    return 0 if durable == expected else 1


if __name__ == "__main__":
    raise SystemExit(main())
