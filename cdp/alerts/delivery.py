"""Alerts to open pages within a second, with several workers: each worker keeps its open
alert streams (one per page a signed-in person has open) and wakes those of a staff member
when their alerts change.

How a worker hears of a new alert, whichever worker (or the CLI) stored it:
- PostgreSQL: one LISTEN connection per worker (not one per browser) on the channel that
  `cdp.alerts.repository.signal` notifies when an alert's transaction commits;
- SQLite (one worker): a poll of the alert table every POLL_SECONDS.

A woken stream reads the person's unread alerts from the database and sends what is new, so a
lost wake-up costs a delay, never an alert; a stream that reconnects (a worker restarted) sends
what arrived after the Last-Event-ID the browser gives back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass

import psycopg
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from cdp.alerts import repository as repo

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5
KEEPALIVE_SECONDS = 15.0  # a comment now and then: proxies keep the stream, dead ones are found
RETRY_MILLISECONDS = 1000  # how soon a browser reconnects after the stream ends
RECONNECT_SECONDS = 1.0  # the listener after losing its database connection


class AlertHub:
    """One per worker: which streams wait for which staff member, and the listener that wakes
    them."""

    def __init__(self) -> None:
        self._waiting: dict[int, set[asyncio.Event]] = {}
        self._task: asyncio.Task[None] | None = None
        self.closing = False

    @contextlib.contextmanager
    def subscription(self, user_id: int) -> Iterator[asyncio.Event]:
        wake = asyncio.Event()
        self._waiting.setdefault(user_id, set()).add(wake)
        try:
            yield wake
        finally:
            streams = self._waiting.get(user_id)
            if streams is not None:
                streams.discard(wake)
                if not streams:
                    del self._waiting[user_id]

    @property
    def open_streams(self) -> int:
        return sum(len(streams) for streams in self._waiting.values())

    def wake(self, user_ids: set[int] | None) -> None:
        """Wake the streams of these staff members (None: everyone's)."""
        for user_id, streams in list(self._waiting.items()):
            if user_ids is None or user_id in user_ids:
                for wake in streams:
                    wake.set()

    def start(self, engine: Engine, sessions: sessionmaker[Session]) -> None:
        if engine.dialect.name == "postgresql":
            conninfo = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
            self._task = asyncio.create_task(self._listen(conninfo))
        else:
            self._task = asyncio.create_task(self._poll(sessions))

    async def stop(self) -> None:
        self.closing = True
        self.wake(None)  # open streams end, and their browsers reconnect elsewhere
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _listen(self, conninfo: str) -> None:
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {repo.CHANNEL}")
                    self.wake(None)  # anything missed while not listening is read now
                    async for note in conn.notifies():
                        self.wake(_user_ids(note.payload))
            except (psycopg.Error, OSError) as error:
                log.warning("alert listener lost its connection (%s); reconnecting", error)
                await asyncio.sleep(RECONNECT_SECONDS)

    async def _poll(self, sessions: sessionmaker[Session]) -> None:
        def newest() -> int:
            with sessions() as session:
                return repo.newest_alert_id(session)

        def owners(after: int) -> tuple[int, set[int]]:
            with sessions() as session:
                return repo.new_alert_owners(session, after_id=after)

        after = await asyncio.to_thread(newest)
        while True:
            await asyncio.sleep(POLL_SECONDS)
            if not self._waiting:
                continue
            try:
                after, user_ids = await asyncio.to_thread(owners, after)
            except Exception:  # a locked or busy database: the next poll tries again
                log.exception("alert poll failed")
                continue
            if user_ids:
                self.wake(user_ids)


def _user_ids(payload: str) -> set[int]:
    return {int(part) for part in payload.split(",") if part.isdigit()}


@dataclass(frozen=True, slots=True)
class Snapshot:
    newest_id: int  # the newest unread alert: the event's id, what Last-Event-ID gives back
    html: str


def sse_event(name: str, data: str, *, event_id: int | None = None) -> str:
    lines = [f"event: {name}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.extend(f"data: {line}" for line in data.splitlines() or [""])
    return "\n".join(lines) + "\n\n"


async def alert_stream(
    hub: AlertHub,
    *,
    user_id: int,
    after_id: int,
    load: Callable[[int], Awaitable[Snapshot | None]],
) -> AsyncIterator[str]:
    """The event stream of one open page: the tray again whenever an unread alert newer than
    the last one sent exists. `load(after)` reads it (None: nothing newer, or the sign-in has
    ended, which `load` tells by raising StreamEnded)."""
    yield f"retry: {RETRY_MILLISECONDS}\n\n"
    last = after_id
    with hub.subscription(user_id) as wake:
        wake.set()  # read once at the start: what the page missed
        while not hub.closing:
            # The database is read only when woken: an idle stream costs a timer, no query
            # (measured: reading at every keepalive, 200 idle streams took 5% of a core).
            try:
                await asyncio.wait_for(wake.wait(), KEEPALIVE_SECONDS)
            except TimeoutError:
                yield ": keepalive\n\n"
                continue
            wake.clear()
            if hub.closing:
                return
            try:
                snapshot = await load(last)
            except StreamEnded:
                return
            if snapshot is not None:
                last = snapshot.newest_id
                yield sse_event("alerts", snapshot.html, event_id=last)


class StreamEnded(Exception):
    """The person signed out (or their session expired): their stream stops."""
