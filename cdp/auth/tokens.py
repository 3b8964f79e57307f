"""API tokens as a request checks them: the secret's active token, read for every request, so
a revoked token (`cdp token revoke`, another process) is refused at once by every worker."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, select
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


_TOKEN = ApiToken.__table__.c
# Prebuilt Core: compiled once, a row without ORM entities (a read per API request).
_ACTIVE_TOKEN = select(_TOKEN.id, _TOKEN.name, _TOKEN.role, _TOKEN.dealer_id).where(
    _TOKEN.token_hash == bindparam("token_hash"), _TOKEN.active.is_(True)
)


def read_token(factory: sessionmaker[Session], secret: str) -> TokenInfo | None:
    """The active token with this secret, read now in a session of its own (blocking: call it
    from a worker thread). `factory`: the app's read-only sessions (on PostgreSQL in autocommit:
    the one statement, no BEGIN and ROLLBACK around it)."""
    with factory() as session:
        row = session.connection().execute(_ACTIVE_TOKEN, {"token_hash": digest(secret)}).first()
        return TokenInfo(row.id, row.name, row.role, row.dealer_id) if row else None
