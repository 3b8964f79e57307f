"""Loading the demo: generated messages go through `cdp.ingestion.service.ingest`, like real events.

Messages are sent in batches, as a busy source would, each batch in its own transaction. Loading
the same seed again stores nothing new: the messageIds are the same, so ingest drops them as
duplicates.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TextIO

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from cdp.auth.service import SourceInfo, create_source
from cdp.db import make_sessionmaker, session_scope
from cdp.demo.dealers import ensure_dealers
from cdp.demo.generator import SITE, Outgoing, generate
from cdp.errors import Conflict
from cdp.ingestion.service import ingest
from cdp.models import Configuration, Profile, Source
from cdp.table_stats import analyze_all, analyze_grown

WEB_SOURCE = "Demo configurator"
SHOWROOM_SOURCE = "Demo showroom"
BATCH_SIZE = 500
# Batches between two looks for tables grown enough to need new planner statistics: the
# database may be new, and is then filled from nothing (cdp.table_stats).
STATISTICS_EVERY = 10
_BAR_WIDTH = 30


def demo_needed(engine: Engine) -> bool:
    """True when the database holds no profile at all (a fresh install)."""
    with session_scope(make_sessionmaker(engine)) as session:
        return session.scalar(select(Profile.id).limit(1)) is None


def load_demo(
    engine: Engine,
    *,
    customers: int = 3000,
    seed: int = 7,
    progress: bool = False,
    reference: datetime | None = None,
) -> str:
    """Generate `customers` demo customers from `seed` and ingest their messages; a summary.

    Their history ends just before `reference` (default: a date derived from the seed, so the
    same seed gives the same database; `cdp demo` passes today, so the demo looks current)."""
    started = time.perf_counter()
    if progress:
        print(f"generating {customers} demo customers (seed {seed})", file=sys.stderr)
    messages = generate(customers, seed, reference).messages()
    factory = make_sessionmaker(engine)
    with session_scope(factory) as session:  # before the leads come in, so they can be routed
        ensure_dealers(session)
    sources = {
        "web": _source(factory, WEB_SOURCE, "web", [SITE]),
        "showroom": _source(factory, SHOWROOM_SOURCE, "showroom", []),
    }
    configurations_before = _configuration_count(factory)
    bar = _ProgressBar(len(messages), sys.stderr) if progress else None
    totals = _send_all(engine, factory, sources, messages, bar)
    analyze_all(engine)
    configurations = _configuration_count(factory) - configurations_before
    summary = (
        f"loaded {customers} customers, {totals.stored} events, {configurations} saved "
        f"configurations in {time.perf_counter() - started:.1f} s"
    )
    if totals.duplicates:
        summary += f" ({totals.duplicates} events were already loaded)"
    if totals.rejected:
        summary += f" ({totals.rejected} messages rejected: see the quarantine)"
    return summary


@dataclass
class _Totals:
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0


def _send_all(
    engine: Engine,
    factory: sessionmaker[Session],
    sources: dict[str, SourceInfo],
    messages: list[Outgoing],
    bar: _ProgressBar | None,
) -> _Totals:
    totals, sent = _Totals(), 0
    for number, batch in enumerate(_batches(messages, BATCH_SIZE), start=1):
        if number % STATISTICS_EVERY == 0:
            analyze_grown(engine)
        first = batch[0]
        with session_scope(factory) as session:
            result = ingest(
                session,
                [out.message for out in batch],
                source=sources[first.channel],
                endpoint="batch",
                # As if each batch arrived right after its last message: reproducible, unlike now.
                received_at=batch[-1].at + timedelta(seconds=2),
                phone_region=first.country,  # Belgians write their numbers the Belgian way
                check_size=False,
            )
        totals.stored += result.accepted - result.duplicates
        totals.duplicates += result.duplicates
        totals.rejected += len(result.rejected)
        sent += len(batch)
        if bar:
            bar.show(sent)
    if bar:
        bar.finish()
    return totals


def _source(factory: sessionmaker[Session], name: str, kind: str, origins: list[str]) -> SourceInfo:
    """The demo source by name, created on first use (its write key is not needed here)."""
    with session_scope(factory) as session:
        source = session.scalar(select(Source).where(Source.name == name))
        if source is None:
            source, _key = create_source(session, name=name, kind=kind, origins=origins)
        elif source.kind != kind:
            raise Conflict(f"source {name!r} exists but is a {source.kind} source, not {kind}")
        return SourceInfo(
            id=source.id, name=source.name, kind=source.kind, origins=tuple(source.origins)
        )


def _configuration_count(factory: sessionmaker[Session]) -> int:
    with session_scope(factory) as session:
        return session.scalar(select(func.count()).select_from(Configuration)) or 0


def _batches(messages: Iterable[Outgoing], size: int) -> Iterator[list[Outgoing]]:
    """Batches of one channel and one country (ingest takes one source and one phone region).

    Messages come in time order. A batch is sent when it is full, and every `4 * size` messages
    all pending batches are sent, so a quiet channel (the showroom) never lags far behind.
    """
    pending: dict[tuple[str, str], list[Outgoing]] = {}
    since_flush = 0
    for out in messages:
        key = (out.channel, out.country)
        batch = pending.setdefault(key, [])
        batch.append(out)
        since_flush += 1
        if len(batch) >= size:
            yield pending.pop(key)
        if since_flush >= 4 * size:
            yield from sorted(pending.values(), key=lambda b: b[0].at)
            pending.clear()
            since_flush = 0
    yield from sorted(pending.values(), key=lambda b: b[0].at)


class _ProgressBar:
    """A one-line text bar, redrawn in place: `[#######.......]  48%  115000/239251 messages`."""

    def __init__(self, total: int, stream: TextIO) -> None:
        self.total = max(total, 1)
        self.stream = stream
        # In a log (not a terminal) redraws pile up: write a line per tenth instead.
        self.interactive = stream.isatty()
        self.last_tenth = -1

    def show(self, done: int) -> None:
        if not self.interactive:
            tenth = 10 * done // self.total
            if tenth != self.last_tenth:
                self.last_tenth = tenth
                self.stream.write(f"{10 * tenth}%  {done}/{self.total} messages\n")
                self.stream.flush()
            return
        filled = _BAR_WIDTH * done // self.total
        bar = "#" * filled + "." * (_BAR_WIDTH - filled)
        percent = 100 * done // self.total
        self.stream.write(f"\r[{bar}] {percent:3d}%  {done}/{self.total} messages")
        self.stream.flush()

    def finish(self) -> None:
        if self.interactive:
            self.stream.write("\n")
            self.stream.flush()
