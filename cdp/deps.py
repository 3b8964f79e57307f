"""FastAPI dependencies: the request's session, the settings, the API caller.

FastAPI runs a plain `def` dependency in its thread pool, a hand-off each (about 0.1 ms of CPU
per request and dependency); those here that do no I/O are `async def`, run on the event loop."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated

import anyio.to_thread
from anyio import CapacityLimiter
from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from cdp.auth.tokens import TokenInfo, read_token
from cdp.config import Settings
from cdp.errors import NotAuthenticated


def _request_session(factory: str) -> Callable[[Request], AsyncIterator[Session]]:
    """A dependency: one session per request from `app.state.<factory>`, committed if the
    handler returns, rolled back if it raises (before the response is sent: see DbSession).

    Made here without I/O (it connects at its first statement, in the handler's thread); only
    its end, which talks to the database, is handed to the thread pool."""

    async def dependency(request: Request) -> AsyncIterator[Session]:
        session: Session = getattr(request.app.state, factory)()
        try:
            yield session
        except BaseException:
            await _in_thread(_discard, session)
            raise
        await _in_thread(_keep, session)

    return dependency


get_session = _request_session("sessionmaker")
# For a request that only reads (a lookup): on PostgreSQL its connection is in autocommit
# (cdp/app.py), so no BEGIN goes before its first statement nor COMMIT after its last, two round
# trips of a lookup's four or five. Each statement sees what was committed when it began, as in
# a READ COMMITTED transaction; a write in it (a staff session's last-seen time, once a minute)
# is committed as it runs.
get_read_session = _request_session("read_sessionmaker")


async def _in_thread(end: Callable[[Session], None], session: Session) -> None:
    """A session's end in a worker thread, outside the thread pool's capacity limit (as FastAPI
    ends a `def` dependency): with every thread busy in handlers waiting for a pooled
    connection, the end that gives one back must not wait for a thread in turn."""
    await anyio.to_thread.run_sync(end, session, limiter=CapacityLimiter(1))


def _keep(session: Session) -> None:
    try:
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def _discard(session: Session) -> None:
    try:
        session.rollback()
    finally:
        session.close()


async def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


# scope="function": the session is committed (or rolled back) when the handler returns, before
# the response goes out, so a client told "saved" (and the page it is sent to next) finds the
# change stored. FastAPI's default ends a `yield` dependency after the response is sent.
DbSession = Annotated[Session, Depends(get_session, scope="function")]
ReadSession = Annotated[Session, Depends(get_read_session, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]


# Declared as a security scheme, so the API documentation (/docs) can send a token.
_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="apiToken",
    description="An API token for staff apps: `cdp token create NAME --role ROLE` prints one.",
)


async def api_caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> TokenInfo:
    """The calling token, read afresh for every request."""
    secret = credentials.credentials.strip() if credentials is not None else ""
    if not secret:
        raise NotAuthenticated(
            "send an API token: Authorization: Bearer <token>", field="Authorization"
        )
    # Read afresh on every request: a token revoked (`cdp token revoke`, another process) is
    # refused at once, reads included. (Keeping it a few seconds saved one statement a request.)
    token = await run_in_threadpool(read_token, request.app.state.read_sessionmaker, secret)
    if token is None:
        raise NotAuthenticated("unknown or revoked API token", field="Authorization")
    return token


ApiCaller = Annotated[TokenInfo, Depends(api_caller)]
