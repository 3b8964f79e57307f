"""Jobs the server runs every so often in each worker, such as the SLA check that warns a
dealer's managers (`cdp.alerts.service.sla_warning`). A job is a plain function of a session
and the time; it runs in a thread, in a transaction of its own, committed when it returns.

With several workers (or several servers) each would run every job; on PostgreSQL a
transaction-scoped advisory lock lets only one of them run a job at a time, and the others
skip that round. A job must still be safe to run twice (sla_warning tells each manager once
per lead).

Wiring a job (in cdp/app.py, which builds the server):

    jobs = PeriodicJobs([PeriodicJob("sla warnings", 60, warn_about_slas)])

where `warn_about_slas(session, now)` asks `due_warnings(session, now)` and calls
`sla_warning(session, lead, manager_ids)` for each.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from cdp.models import utcnow
from cdp.sql import dialect_of

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PeriodicJob:
    name: str
    every_seconds: float
    run: Callable[[Session, datetime], None]

    @property
    def lock_key(self) -> int:
        return zlib.crc32(f"cdp job {self.name}".encode())


def run_once(sessions: sessionmaker[Session], job: PeriodicJob, *, now: datetime) -> bool:
    """Run the job now unless another process is running it; whether it ran."""
    with sessions() as session, session.begin():
        if dialect_of(session) == "postgresql":
            taken = session.scalar(
                text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": job.lock_key}
            )
            if not taken:
                return False
        job.run(session, now)
    return True


class PeriodicJobs:
    def __init__(self, jobs: Sequence[PeriodicJob] = ()) -> None:
        self.jobs = list(jobs)
        self._tasks: list[asyncio.Task[None]] = []

    def start(self, sessions: sessionmaker[Session]) -> None:
        self._tasks = [asyncio.create_task(self._every(sessions, job)) for job in self.jobs]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def _every(self, sessions: sessionmaker[Session], job: PeriodicJob) -> None:
        while True:
            await asyncio.sleep(job.every_seconds)
            try:
                await asyncio.to_thread(run_once, sessions, job, now=utcnow())
            except Exception:  # the next round tries again; the server goes on
                log.exception("periodic job %s failed", job.name)
