"""Creating sources and API tokens, and checking the secrets they hand out."""

from __future__ import annotations

import dataclasses
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, sessionmaker

from cdp.auth.keys import digest, new_secret
from cdp.dealers.service import dealer_by_code
from cdp.errors import Conflict, InvalidInput, NotFound
from cdp.models import ROLES, SOURCE_KINDS, ApiToken, Source

_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """A source as a write-key check finds it: what every message it sends is recorded under."""

    id: int
    name: str
    kind: str  # web | showroom: the channel of everything this source sends
    origins: tuple[str, ...] = ()


def normalise_origin(origin: str) -> str:
    """'https://Shop.example.com/' -> 'https://shop.example.com': an origin as a browser sends it
    in its Origin header (scheme://host[:port], no default port, no trailing slash).

    Anything a browser never sends (a path, a query, a fragment, a user name) is refused: such an
    entry could never match, and CORS would fail without saying why.
    """
    text = origin.strip()
    invalid = InvalidInput(
        f"origin {text!r} must look like https://www.example.com", field="origin"
    )
    try:  # urlsplit raises ValueError for a bad port or IPv6 literal ("x:99999", "http://[::1")
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise invalid from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise invalid
    host = parts.hostname.lower()
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    if port is not None and port != _DEFAULT_PORTS[parts.scheme]:
        host = f"{host}:{port}"
    normalised = f"{parts.scheme}://{host}"
    if parts.username is not None or parts.password is not None:
        # Not repeated in the message: it may hold a password.
        problem = "an origin has a user name or password"
    elif parts.path not in ("", "/"):
        problem = f"origin {text!r} has a path ({parts.path})"
    elif parts.query or "?" in text:
        problem = f"origin {text!r} has a query (?{parts.query})"
    elif parts.fragment or "#" in text:
        problem = f"origin {text!r} has a fragment (#{parts.fragment})"
    else:
        return normalised
    raise InvalidInput(
        f"{problem}, which a browser never sends, so it could never match: give {normalised}",
        field="origin",
    )


def create_source(
    session: Session, *, name: str, kind: str, origins: list[str]
) -> tuple[Source, str]:
    """A new event source and its write key (returned once, stored hashed)."""
    name = name.strip()
    if not name:
        raise InvalidInput("name must not be empty", field="name")
    if kind not in SOURCE_KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(SOURCE_KINDS)}", field="kind")
    if session.scalar(select(Source.id).where(Source.name == name)) is not None:
        raise Conflict(f"a source named {name!r} already exists", field="name")
    key = new_secret("wk")
    source = Source(
        name=name,
        kind=kind,
        write_key_hash=digest(key),
        origins=sorted({normalise_origin(o) for o in origins}),
    )
    session.add(source)
    session.flush()
    return source, key


def all_sources(session: Session) -> list[Source]:
    return list(session.scalars(select(Source).order_by(Source.name)))


def source_named(session: Session, name: str) -> Source:
    source = session.scalar(select(Source).where(Source.name == name.strip()))
    if source is None:
        raise NotFound(f"no source is named {name.strip()!r} (see: cdp source list)", field="name")
    return source


def set_source_active(session: Session, name: str, *, active: bool) -> Source:
    source = source_named(session, name)
    source.active = active
    return source


def rotate_write_key(session: Session, name: str) -> tuple[Source, str]:
    """A new write key for the source; the old one stops working."""
    source = source_named(session, name)
    key = new_secret("wk")
    source.write_key_hash = digest(key)
    return source, key


def set_source_origins(session: Session, name: str, origins: list[str]) -> Source:
    source = source_named(session, name)
    source.origins = sorted({normalise_origin(o) for o in origins})
    return source


def all_tokens(session: Session) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).order_by(ApiToken.id)))


def revoke_token(session: Session, token_id: int) -> ApiToken:
    token = session.get(ApiToken, token_id)
    if token is None:
        raise NotFound(f"no API token has id {token_id} (see: cdp token list)", field="id")
    token.active = False
    return token


def create_token(
    session: Session, *, name: str, role: str, dealer: str | None = None
) -> tuple[ApiToken, str]:
    """A token reading one dealer's data, or the whole network's when no dealer is given."""
    name = name.strip()
    if not name:
        raise InvalidInput("name must not be empty", field="name")
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}", field="role")
    dealer_id = dealer_by_code(session, dealer).id if dealer else None
    secret = new_secret("cdp")
    token = ApiToken(name=name, role=role, token_hash=digest(secret), dealer_id=dealer_id)
    session.add(token)
    session.flush()
    return token, secret


_SOURCE_NOW = select(Source.active, Source.write_key_hash, Source.origins).where(
    Source.id == bindparam("id")
)


class SourceCache:
    """Write key -> source, cached briefly: every ingest request needs it, keys rarely change.

    The cache is per worker process, so it alone would let a deactivated or rotated-away key
    go on working for up to `ttl_seconds`: whoever stores with a cached source confirms it
    with `current`, in the transaction that stores (one query for a whole group commit)."""

    def __init__(self, ttl_seconds: float = 30.0) -> None:
        self.ttl = ttl_seconds
        self._entries: dict[str, tuple[float, SourceInfo | None]] = {}
        self._lock = threading.Lock()

    def lookup(self, factory: sessionmaker[Session], write_key: str) -> SourceInfo | None:
        """The active source with this write key; opens a session only on a cache miss."""
        key_hash = digest(write_key)
        now = time.monotonic()
        with self._lock:
            hit = self._entries.get(key_hash)
        if hit is not None and hit[0] > now:
            return hit[1]
        with factory() as session:
            row = session.scalar(
                select(Source).where(Source.write_key_hash == key_hash, Source.active.is_(True))
            )
            info = (
                SourceInfo(id=row.id, name=row.name, kind=row.kind, origins=tuple(row.origins))
                if row
                else None
            )
        with self._lock:
            if len(self._entries) > 10_000:
                self._entries.clear()  # unknown keys must not grow this without bound
            self._entries[key_hash] = (now + self.ttl, info)
        return info

    def current(self, session: Session, write_key: str, source: SourceInfo) -> SourceInfo | None:
        """The source as it is now, read in the caller's transaction: None if it was
        deactivated or its key rotated since it was cached (then forgotten here too)."""
        key_hash = digest(write_key)
        row = session.connection().execute(_SOURCE_NOW, {"id": source.id}).one_or_none()
        if row is None or not row.active or row.write_key_hash != key_hash:
            with self._lock:
                self._entries.pop(key_hash, None)
            return None
        origins = tuple(row.origins)
        if origins == source.origins:
            return source
        info = dataclasses.replace(source, origins=origins)  # changed meanwhile: cached anew
        with self._lock:
            self._entries[key_hash] = (time.monotonic() + self.ttl, info)
        return info

    def all_origins(self, session: Session) -> set[str]:
        rows = session.scalars(select(Source.origins).where(Source.active.is_(True)))
        return {origin for origins in rows for origin in origins}
