"""API tokens as a request checks them: the secret's active token, read for every request, so
a revoked token (`cdp token revoke`, another process) is refused at once by every worker."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cdp.auth.keys import digest
from cdp.models import ApiToken


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


def read_token(factory: sessionmaker[Session], secret: str) -> TokenInfo | None:
    """The active token with this secret, read now in a session of its own (blocking: call it
    from a worker thread)."""
    with factory() as session:
        return active_token(session, secret)
