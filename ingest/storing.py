"""Storing one group of calls in one transaction: the write key checked again inside it, and the
retries a concurrent writer makes necessary (serialization failures, deadlocks, unique races)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.responses import Response
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from cdp.auth.service import SourceCache
from cdp.config import Settings
from cdp.db import session_scope
from cdp.identity.service import ConcurrentMerge
from cdp.ingestion.service import (
    Call,
    IngestResult,
    StoredBefore,
    ingest_calls,
)
from ingest.answers import unauthorized, unregistered

# Serialization failure, deadlock, a unique race (a message stored meanwhile), and a foreign key
# race: a profile written to was deleted meanwhile (an erasure), and the retry resolves afresh.
RETRYABLE_SQLSTATES = {"40001", "40P01", "23505", "23503"}


def retryable(error: DBAPIError, *, committing: bool) -> bool:
    code = getattr(error.orig, "sqlstate", None)
    if code in RETRYABLE_SQLSTATES or "database is locked" in str(error.orig):
        return True
    # A pooled connection found dead (the database restarted; checkouts are not pinged): nothing
    # was written, so try again on a fresh one. Not if COMMIT itself failed so: it may have
    # committed, and a message without a messageId would then be stored twice.
    return error.connection_invalidated and not committing


def store(
    factory: sessionmaker[Session],
    cache: SourceCache,
    settings: Settings,
    *,
    write_key: str,
    origin: str | None,
    calls: list[Call],
) -> Response | list[IngestResult]:
    """Store the calls of one write key and origin in one transaction: one result per call.

    The source comes from the cache, and is confirmed in the storing transaction itself: a key
    deactivated or rotated away in any worker process stores nothing from then on."""
    cached = cache.lookup(factory, write_key)
    if cached is None:
        return unauthorized()
    if origin is not None and origin not in cached.origins:
        return unregistered(origin)
    for attempt in range(5):
        committing = False
        try:
            with session_scope(factory) as session:
                source = cache.current(session, write_key, cached)
                if source is None:
                    return unauthorized()
                if origin is not None and origin not in source.origins:
                    return unregistered(origin)
                results = ingest_calls(
                    session,
                    calls,
                    source=source,
                    received_at=datetime.now(UTC),
                    phone_region=settings.default_phone_region,
                    rules=settings.identity_rules(),
                    # A stored message shows as a unique violation, and the retry checks.
                    check_stored=attempt > 0,
                    commit_locked=session.commit,
                )
                committing = True  # session_scope commits as the block ends
            return results
        except DBAPIError as error:
            if attempt == 4 or not retryable(error, committing=committing):
                raise
        except (ConcurrentMerge, StoredBefore):
            if attempt == 4:
                raise
    raise AssertionError("unreachable")
