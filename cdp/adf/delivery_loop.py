"""The server's own delivery run: `deliver_due` every few seconds in each server process (on
PostgreSQL SKIP LOCKED keeps processes from sending one lead at the same moment), so leads
reach dealers' CRMs without a scheduled `cdp leads deliver`."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from cdp.adf.delivery import deliver_due
from cdp.db import session_scope

log = logging.getLogger(__name__)
EVERY_SECONDS = 20.0


def _run_once(factory: sessionmaker[Session]) -> None:
    with session_scope(factory) as session:
        run = deliver_due(session)
    if run.delivered or run.failed or run.retrying:
        log.info(
            "ADF deliveries: %d delivered, %d to retry, %d failed",
            run.delivered,
            run.retrying,
            run.failed,
        )


class DeliveryLoop:
    def __init__(self, factory: sessionmaker[Session], every: float = EVERY_SECONDS) -> None:
        self.factory = factory
        self.every = every
        self.stopping = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        self.stopping.set()
        if self.task is not None:
            await self.task

    async def _run(self) -> None:
        while not self.stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), self.every)
                return
            try:
                await asyncio.to_thread(_run_once, self.factory)
            except SQLAlchemyError as error:  # the database is away: try again next time
                log.warning("could not deliver ADF leads: %s", error)
