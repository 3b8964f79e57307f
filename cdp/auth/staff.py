"""Staff accounts and sign-in: argon2 password hashes, server-side sessions, throttling."""

from __future__ import annotations

import hashlib
import logging
import secrets
import struct
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import (
    ColumnElement,
    Connection,
    Executable,
    and_,
    bindparam,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from cdp.audit.service import record
from cdp.auth.keys import digest
from cdp.auth.permissions import Permission, allows
from cdp.dealers.service import FLOOR_ROLES, all_dealers, dealers_for_staff, set_staff_dealers
from cdp.dealers.visibility import DealerScope, scope_of_staff
from cdp.errors import Conflict, InvalidInput, NotAuthenticated
from cdp.identity.identifiers import normalise_email
from cdp.models import ROLES, LoginAttempt, StaffDealer, StaffSession, StaffUser, utcnow

log = logging.getLogger(__name__)

_hasher = PasswordHasher()
# A hash to verify against when the e-mail is unknown, so timing does not reveal accounts.
_DUMMY_HASH = _hasher.hash("not-a-real-password")

MIN_PASSWORD_LENGTH = 10
THROTTLE_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_ACCOUNT_AND_IP = 5
MAX_FAILURES_PER_IP = 20  # over all accounts
MAX_FAILURES_PER_ACCOUNT = 20  # from all addresses: slows a guess from many places
KNOWN_ADDRESS_WINDOW = timedelta(days=30)  # past the account's ceiling, these addresses may try


@dataclass(frozen=True, slots=True)
class StaffContext:
    """The signed-in person, as pages see them."""

    user_id: int
    email: str
    name: str
    role: str
    csrf_token: str
    session_id: int
    # Whose leads, notes and appointments they see (cdp/dealers/visibility.py).
    scope: DealerScope

    def can(self, permission: Permission) -> bool:
        return allows(self.role, permission, network=self.scope.network)


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            f"password must be at least {MIN_PASSWORD_LENGTH} characters", field="password"
        )


def _valid_email(raw: str) -> str:
    """The address as stored (see normalise_email), or InvalidInput.

    An invisible character (a zero-width space or joiner, a byte-order mark: what a copy from a
    chat or a document brings along) or a control character is refused, not stripped, as
    customer e-mail addresses keep theirs: the account would otherwise have an address that
    looks like the person's and is not, and nobody could type it to sign in.
    """
    for character in raw:
        kind = {"Cf": "an invisible", "Cc": "a control"}.get(unicodedata.category(character))
        if kind is not None and character not in " \t\r\n":  # spaces around it are trimmed
            name = unicodedata.name(character, "")
            described = f"U+{ord(character):04X} {name}".strip()
            raise InvalidInput(
                f"the e-mail address holds {kind} character ({described}): type it in again",
                field="email",
            )
    email = normalise_email(raw)
    if email is None:
        raise InvalidInput(f"{raw!r} is not an e-mail address", field="email")
    return email


def create_user(
    session: Session,
    *,
    email: str,
    role: str,
    name: str | None = None,
    password: str | None = None,
    dealers: Sequence[str] = (),
) -> StaffUser:
    """A staff account working at the dealers with these codes (the rule for none given is
    in cdp/dealers/service.py)."""
    address = _valid_email(email)
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}", field="role")
    works_at = dealers_for_staff(session, role=role, codes=dealers)
    if session.scalar(select(StaffUser.id).where(StaffUser.email == address)) is not None:
        raise Conflict(f"a staff user {address} already exists", field="email")
    if password is not None:
        check_password_strength(password)
    user = StaffUser(
        email=address,
        name=(name or address.split("@")[0].replace(".", " ").title()).strip()[:200],
        role=role,
        password_hash=_hasher.hash(password) if password is not None else None,
    )
    session.add(user)
    session.flush()
    set_staff_dealers(session, user.id, works_at)
    return user


def dealer_needed(session: Session, role: str, codes: Sequence[str]) -> str | None:
    """Why staff of this role cannot be saved with no dealer ticked, in the staff pages' words
    (None: they can). The rule is cdp/dealers/service.dealers_for_staff's, whose message speaks
    to the command line ("give the dealer's code"): floor staff work at a dealer, and with one
    active dealer they join it."""
    if codes or role not in FLOOR_ROLES:
        return None
    active = [dealer for dealer in all_dealers(session) if dealer.active]
    if len(active) == 1:
        return None
    if not active:
        return f"{role} staff work at a dealer, and there is no active dealer: add one first"
    return f"tick the dealer they work at ({role} staff work at a dealer)"


def invite_user(
    session: Session, *, email: str, role: str, name: str | None, dealers: Sequence[str] = ()
) -> tuple[StaffUser, str]:
    """A user without a password, and a one-time token (7 days) to set one."""
    user = create_user(session, email=email, role=role, name=name, dealers=dealers)
    token = secrets.token_urlsafe(32)
    user.invite_token_hash = digest(token)
    user.invite_expires_at = utcnow() + timedelta(days=7)
    session.flush()
    return user, token


@dataclass(frozen=True, slots=True)
class StaffFilter:
    """What the staff list is narrowed to; empty is "any"."""

    text: str = ""  # part of the name or e-mail address, any case
    role: str | None = None
    dealer_id: int | None = None  # works at this dealer
    no_dealer: bool = False  # works at no dealer (the importer's, or floor staff not placed yet)


def _staff_where(chosen: StaffFilter) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    typed = chosen.text.strip().lower()
    if typed:
        where.append(
            or_(
                func.lower(StaffUser.name).contains(typed, autoescape=True),
                StaffUser.email.contains(typed, autoescape=True),
            )
        )
    if chosen.role is not None:
        where.append(StaffUser.role == chosen.role)
    works_at = select(StaffDealer.user_id).where(StaffDealer.user_id == StaffUser.id)
    if chosen.dealer_id is not None:
        where.append(works_at.where(StaffDealer.dealer_id == chosen.dealer_id).exists())
    if chosen.no_dealer:
        where.append(~works_at.exists())
    return where


def count_staff(session: Session, chosen: StaffFilter) -> int:
    statement = select(func.count()).select_from(StaffUser).where(*_staff_where(chosen))
    return session.scalar(statement) or 0


def staff_page(
    session: Session, chosen: StaffFilter, *, offset: int, limit: int
) -> Sequence[StaffUser]:
    """One page of the staff accounts that match, by name (the admin's list)."""
    return session.scalars(
        select(StaffUser)
        .where(*_staff_where(chosen))
        .order_by(func.lower(StaffUser.name), StaffUser.id)
        .offset(offset)
        .limit(limit)
    ).all()


def accept_invite(session: Session, *, token: str, password: str) -> StaffUser:
    user = session.scalar(select(StaffUser).where(StaffUser.invite_token_hash == digest(token)))
    if user is None or user.invite_expires_at is None or user.invite_expires_at < utcnow():
        raise InvalidInput("this invitation link is invalid or has expired", field="token")
    check_password_strength(password)
    user.password_hash = _hasher.hash(password)
    user.invite_token_hash = None
    user.invite_expires_at = None
    session.flush()
    return user


def _lock_key(kind: str, value: str) -> int:
    digest = hashlib.blake2b(f"sign-in\x00{kind}\x00{value}".encode(), digest_size=8).digest()
    return int(struct.unpack(">q", digest)[0])


def _serialise_attempts(session: Session, *, email: str, ip: str | None) -> None:
    """One sign-in at a time per account and per address, held until the attempt is committed.

    The failures are counted before the password is checked and written after it: without
    this, attempts sent at once all counted the same few failures (reported: fifty at once got
    about 40 password checks where 5 were allowed). PostgreSQL: transaction-level advisory
    locks, taken in sorted order so two attempts never wait on each other in a cycle; they also
    cover unknown e-mail addresses, which have no row to lock. SQLite needs nothing: BEGIN
    IMMEDIATE already lets one writer in at a time.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    keys = {_lock_key("account", email)}
    if ip:
        keys.add(_lock_key("address", ip))
    for key in sorted(keys):
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def throttled(session: Session, *, email: str, ip: str | None) -> bool:
    """Whether this attempt is refused unchecked (the rule is in docs/pages.md, "Sign in").

    Failures count per account and address, so failures from elsewhere never lock the staff
    member out; an address gets MAX_FAILURES_PER_IP over all accounts; and an account gets
    MAX_FAILURES_PER_ACCOUNT from all addresses together, past which only an address it
    signed in from within KNOWN_ADDRESS_WINDOW may still try.
    """
    now = utcnow()
    recent = and_(
        LoginAttempt.succeeded.is_(False), LoginAttempt.attempted_at >= now - THROTTLE_WINDOW
    )
    same_address = LoginAttempt.ip == ip if ip else LoginAttempt.ip.is_(None)
    by_email = LoginAttempt.email == email
    counts = session.execute(
        select(
            func.count().filter(by_email),
            func.count().filter(by_email, same_address),
            func.count().filter(same_address),
        ).where(recent, or_(by_email, same_address))
    ).one()
    for_account, for_account_here, from_here = (count or 0 for count in counts)
    if for_account_here >= MAX_FAILURES_PER_ACCOUNT_AND_IP:
        return True
    if ip and from_here >= MAX_FAILURES_PER_IP:
        return True
    if for_account < MAX_FAILURES_PER_ACCOUNT:
        return False
    if not ip:
        return True
    known_address = session.scalar(
        select(LoginAttempt.id)
        .where(
            by_email,
            same_address,
            LoginAttempt.succeeded.is_(True),
            LoginAttempt.attempted_at >= now - KNOWN_ADDRESS_WINDOW,
        )
        .limit(1)
    )
    return known_address is None


def authenticate(session: Session, *, email: str, password: str, ip: str | None) -> StaffUser:
    """The user, or NotAuthenticated. Every attempt is recorded; failures are throttled."""
    address = (normalise_email(email) or email.strip().lower())[:320]
    _serialise_attempts(session, email=address, ip=ip)
    if throttled(session, email=address, ip=ip):
        raise NotAuthenticated(
            "too many failed sign-ins: wait 15 minutes and try again", field="email"
        )
    user = session.scalar(select(StaffUser).where(StaffUser.email == address))
    ok = False
    try:
        ok = _hasher.verify(
            user.password_hash if user and user.password_hash else _DUMMY_HASH, password
        )
    except (VerificationError, InvalidHashError):
        ok = False
    ok = ok and user is not None and user.active and user.password_hash is not None
    session.add(LoginAttempt(email=address, ip=ip, succeeded=ok))
    record(
        session,
        "sign_in" if ok else "sign_in_failed",
        actor=address,
        staff_user_id=user.id if user is not None else None,
        detail=f"from {ip}" if ip else "",
    )
    session.flush()
    if not ok or user is None:
        raise NotAuthenticated("e-mail address or password is wrong", field="password")
    if _hasher.check_needs_rehash(user.password_hash or ""):
        user.password_hash = _hasher.hash(password)
    user.last_login_at = utcnow()
    return user


def start_session(session: Session, user: StaffUser) -> str:
    """A new signed-in session; returns the cookie value (only its digest is stored)."""
    token = secrets.token_urlsafe(32)
    session.add(
        StaffSession(
            token_hash=digest(token), user_id=user.id, csrf_token=secrets.token_urlsafe(32)
        )
    )
    session.flush()
    return token


# Every staff page reads this: one statement built once, run past the ORM (no entities loaded).
_SIGNED_IN = (
    select(
        StaffSession.id,
        StaffSession.csrf_token,
        StaffSession.last_seen_at,
        StaffSession.ended_at,
        StaffUser.id.label("user_id"),
        StaffUser.email,
        StaffUser.name,
        StaffUser.role,
        StaffUser.active,
    )
    .join(StaffUser, StaffUser.id == StaffSession.user_id)
    .where(StaffSession.token_hash == bindparam("token_hash"))
)
_SEEN = (
    update(StaffSession)
    .where(StaffSession.id == bindparam("session_id"))
    .values(last_seen_at=bindparam("at"))
)
_ENDED = (
    update(StaffSession)
    .where(StaffSession.id == bindparam("session_id"))
    .values(ended_at=bindparam("at"))
)


def resolve_session(
    session: Session, token: str, *, idle: timedelta, now: datetime | None = None
) -> StaffContext | None:
    """The signed-in staff member for a cookie, or None if unknown, ended, idle or deactivated."""
    now = now or utcnow()
    session.flush()  # as the ORM's autoflush would (nothing to do on a page's first read)
    connection = session.connection()
    row = connection.execute(_SIGNED_IN, {"token_hash": digest(token)}).first()
    if row is None or row.ended_at is not None or not row.active:
        return None
    if now - row.last_seen_at > idle:
        _note(connection, _ENDED, {"session_id": row.id, "at": now})
        return None
    if now - row.last_seen_at > timedelta(minutes=1):  # not a write per request
        _note(connection, _SEEN, {"session_id": row.id, "at": now})
    return StaffContext(
        user_id=row.user_id,
        email=row.email,
        name=row.name,
        role=row.role,
        csrf_token=row.csrf_token,
        session_id=row.id,
        scope=scope_of_staff(session, user_id=row.user_id, role=row.role),
    )


def _note(connection: Connection, statement: Executable, params: dict[str, object]) -> None:
    """Note a staff session's last sight of its user, or its end. A request that only reads runs
    on SQLite in a deferred transaction (cdp.db.read_only_engine), whose read cannot become a
    write once another connection has written since: SQLite refuses at once (SQLITE_BUSY). The
    note is advisory (the idle check is made again on every request), so it is left to the next
    request rather than failing this one."""
    if connection.dialect.name != "sqlite":
        connection.execute(statement, params)
        return
    try:
        connection.execute(statement, params)
    except OperationalError:
        log.info("staff session %s: last seen not noted (database busy)", params["session_id"])


def end_session(session: Session, session_id: int) -> None:
    session.execute(
        update(StaffSession).where(StaffSession.id == session_id).values(ended_at=utcnow())
    )


def end_sessions_of(session: Session, user_id: int) -> None:
    session.execute(
        update(StaffSession)
        .where(StaffSession.user_id == user_id, StaffSession.ended_at.is_(None))
        .values(ended_at=utcnow())
    )
