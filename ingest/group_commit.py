"""Group commit: calls waiting in one worker process share a transaction (up to GROUP_MAX_MESSAGES),
so a busy server commits thousands of messages at a time instead of one call at a time, and
refuses with 503 before its queue grows past GROUP_MAX_WAITING."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from cdp.ingestion.service import (
    Call,
    IngestResult,
)
from ingest.storing import store

# Group commit of every call (batches and single messages): see GroupCommit.
GROUP_COMMIT = True


GROUP_MAX_MESSAGES = 2000  # per transaction (a larger call goes alone)


GROUP_MAX_FLUSHES = 1  # transactions in flight per worker process (1 beat 2: larger groups)


GROUP_MAX_WAITING = 5000  # messages waiting for a transaction; more are refused with a 503


@dataclass
class Waiting:
    write_key: str
    origin: str | None
    call: Call
    answer: asyncio.Future[Response | IngestResult]


class GroupCommit:
    """The calls of one worker process, stored together: group commit.

    A call (a batch, or one single message) is queued, and a flush stores queued calls, up to
    GROUP_MAX_MESSAGES messages, through `store` in one transaction; each request is answered
    once that transaction committed, with its own outcome (accepted, duplicates, its own 400s).
    Fewer, larger transactions are what makes ingest fast: statements, identity locks and
    commits are shared, and with one flush per process, concurrent requests no longer wait on
    each other's identity locks. A flush starts as soon as a call waits and fewer than
    GROUP_MAX_FLUSHES run, so a lone call is stored at once, and under load the calls that
    arrive during a flush share the next one; there is no timer. If a transaction fails, its
    calls are stored one by one, so only the failing one fails. At most GROUP_MAX_WAITING
    messages wait; beyond that the request is refused (503, Retry-After), which Segment
    libraries retry. On shutdown the queue is drained before the engine closes.
    """

    def __init__(self, state: Any) -> None:
        self.state = state
        self.loop = asyncio.get_running_loop()
        self.waiting: list[Waiting] = []
        self.waiting_messages = 0
        self.flushes: set[asyncio.Task[None]] = set()

    def submit(
        self, write_key: str, origin: str | None, call: Call
    ) -> asyncio.Future[Response | IngestResult] | None:
        size = len(call.messages)
        if self.waiting and self.waiting_messages + size > GROUP_MAX_WAITING:
            return None
        answer: asyncio.Future[Response | IngestResult] = self.loop.create_future()
        self.waiting.append(Waiting(write_key, origin, call, answer))
        self.waiting_messages += size
        self._start()
        return answer

    async def drain(self) -> None:
        while self.waiting or self.flushes:
            self._start()
            await asyncio.gather(*self.flushes, return_exceptions=True)

    def _start(self) -> None:
        while self.waiting and len(self.flushes) < GROUP_MAX_FLUSHES:
            count, size = 0, 0
            for waiting in self.waiting:
                calls_size = len(waiting.call.messages)
                if count and size + calls_size > GROUP_MAX_MESSAGES:
                    break
                count, size = count + 1, size + calls_size
            taken = self.waiting[:count]
            del self.waiting[:count]
            self.waiting_messages -= size
            flush = self.loop.create_task(self._flush(taken))
            self.flushes.add(flush)
            flush.add_done_callback(self._finished)

    def _finished(self, flush: asyncio.Task[None]) -> None:
        self.flushes.discard(flush)
        self._start()

    async def _flush(self, taken: list[Waiting]) -> None:
        groups: dict[tuple[str, str | None], list[Waiting]] = {}
        for waiting in taken:
            groups.setdefault((waiting.write_key, waiting.origin), []).append(waiting)
        try:
            for items in groups.values():
                await self.store(items)
        finally:  # never leave a request waiting, whatever happened
            for waiting in taken:
                if not waiting.answer.done():
                    waiting.answer.set_exception(RuntimeError("the message was not stored"))

    async def store(self, items: list[Waiting]) -> None:
        first = items[0]
        try:
            outcome = await run_in_threadpool(
                store,
                self.state.sessionmaker,
                self.state.sources,
                self.state.settings,
                write_key=first.write_key,
                origin=first.origin,
                calls=[waiting.call for waiting in items],
            )
        except Exception as error:
            if len(items) > 1:  # one by one: only the call at fault fails
                for waiting in items:
                    await self.store([waiting])
            elif not first.answer.done():
                first.answer.set_exception(error)
            return
        for index, waiting in enumerate(items):
            if waiting.answer.done():  # the request went away
                continue
            if isinstance(outcome, Response):  # refused for the write key or origin: all alike
                waiting.answer.set_result(
                    Response(
                        outcome.body, status_code=outcome.status_code, media_type="application/json"
                    )
                )
            else:
                waiting.answer.set_result(outcome[index])


def committer_of(app: Any) -> GroupCommit:
    committer: GroupCommit | None = getattr(app.state, "group_commit", None)
    if committer is None or committer.loop is not asyncio.get_running_loop():
        committer = GroupCommit(app.state)
        app.state.group_commit = committer
    return committer
