"""API tokens as a request checks them: the secret's active token, read for every request (a
revoked token is refused at once, by every worker). `TokenCache.kept` can keep a checked token a
few seconds; the API does not use it, as `cdp token revoke` runs in another process."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cdp.auth.keys import digest
from cdp.models import ApiToken

TOKEN_TTL_SECONDS = 3.0
_MAX_KEPT = 10_000  # tokens in use are a few dozen; this only bounds the memory


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """An active API token, as routes use it: who calls (for the audit trail), with which
    role, for which dealer (None: the whole network)."""

    id: int
    name: str
    role: str
    dealer_id: int | None


def active_token(session: Session, secret: str) -> TokenInfo | None:
    """The active token with this secret, read now."""
    row = session.execute(
        select(ApiToken.id, ApiToken.name, ApiToken.role, ApiToken.dealer_id).where(
            ApiToken.token_hash == digest(secret), ApiToken.active.is_(True)
        )
    ).first()
    return TokenInfo(row.id, row.name, row.role, row.dealer_id) if row else None


class TokenCache:
    """One app's recently checked tokens, each kept `ttl_seconds` from when it was read."""

    def __init__(
        self,
        ttl_seconds: float = TOKEN_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._kept: dict[str, tuple[float, TokenInfo]] = {}

    def kept(self, secret: str) -> TokenInfo | None:
        """The token if it was read less than `ttl_seconds` ago (no statement), else None."""
        with self._lock:
            hit = self._kept.get(digest(secret))
        return hit[1] if hit is not None and self._clock() - hit[0] < self.ttl else None

    def read(self, factory: sessionmaker[Session], secret: str) -> TokenInfo | None:
        """The token read now, in a session of its own, and kept (blocking: call it from a
        worker thread)."""
        read_at = self._clock()
        with factory() as session:
            token = active_token(session, secret)
        key = digest(secret)
        with self._lock:
            if token is None:
                self._kept.pop(key, None)
            else:
                if len(self._kept) >= _MAX_KEPT:
                    self._kept.clear()
                self._kept[key] = (read_at, token)
        return token
