"""A customer's consent as staff read it: what is in force now for each purpose and address,
and every statement with who made it, where and why.

What is in force follows the rule every export applies (segmentation/marketing_consent.py,
docs/export.md): for an e-mail address (a phone number), the latest statement made for it, or a
later withdrawal made for no address, which covers them all; for tracking, the latest statement.
When two share a time, the withdrawal wins. A grant made for no address is history only.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeVar

from sqlalchemy.orm import Session

from cdp.consent import repository as repo
from cdp.consent.repository import StatementRow

PURPOSE_LABELS = {"email": "E-mail", "phone": "Phone and SMS", "tracking": "Tracking"}
SOURCE_PLACES = {"web": "website", "dealer_web": "dealer's website", "showroom": "showroom"}


@dataclass(frozen=True, slots=True)
class Standing:
    """One purpose (for one address or number) and the statement in force for it, if any."""

    purpose: str
    address: str | None
    in_force: StatementRow | None

    @property
    def status(self) -> str | None:
        return self.in_force.status if self.in_force else None


@dataclass(frozen=True, slots=True)
class Statement:
    row: StatementRow
    who: str  # the staff member, or the source
    where: str
    in_force: bool  # in force now for the purpose (and an address the customer holds)


@dataclass(frozen=True, slots=True)
class ConsentHistory:
    standings: list[Standing]  # tracking, then each e-mail address, then each phone number
    statements: list[Statement]  # newest first
    per_purpose: dict[str, StatementRow]  # in_force_per_purpose: the page's badges


class Stated(Protocol):
    """A consent statement as stored (a `Consent` row, a StatementRow)."""

    @property
    def id(self) -> int: ...
    @property
    def purpose(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def address(self) -> str | None: ...
    @property
    def stated_at(self) -> datetime: ...


S = TypeVar("S", bound=Stated)


def _wins(row: Stated) -> tuple[object, ...]:
    # The latest; on a tie the withdrawal (leaving out is the safe side), then the last stored.
    return (row.stated_at, row.status != "granted", row.id)


def in_force(rows: Sequence[S], purpose: str, address: str | None) -> S | None:
    """The statement in force for this purpose and address (None for tracking)."""
    if purpose == "tracking":
        covering = [r for r in rows if r.purpose == "tracking"]
    else:
        covering = [
            r
            for r in rows
            if r.purpose == purpose
            and (r.address == address or (r.address is None and r.status != "granted"))
        ]
    return max(covering, key=_wins, default=None)


def in_force_per_purpose(rows: Sequence[S], held: Iterable[tuple[str, str]]) -> dict[str, S]:
    """What a customer's consent comes to per purpose, as one badge shows it: for e-mail (phone)
    a grant in force for an address (number) they hold, else what is in force for one of them
    (a withdrawal); for tracking the statement in force. A purpose with none is left out, so a
    grant made for no address, which is history only, shows as never given."""
    found: dict[str, S] = {}
    tracking = in_force(rows, "tracking", None)
    if tracking is not None:
        found["tracking"] = tracking
    for purpose in ("email", "phone"):
        standing = [
            row
            for kind, value in held
            if kind == purpose and (row := in_force(rows, purpose, value)) is not None
        ]
        if standing:
            granted = [row for row in standing if row.status == "granted"]
            found[purpose] = max(granted or standing, key=_wins)
    return found


def _who(row: StatementRow) -> str:
    if row.staff_name:
        return row.staff_name
    return row.source_name or "unknown source"


def _where(row: StatementRow) -> str:
    if row.recorded_via:
        return " · ".join(part for part in (row.recorded_via, row.dealer_name) if part)
    return SOURCE_PLACES.get(row.source_kind or "", row.source_kind or "")


def consent_history(session: Session, profile_id: uuid.UUID) -> ConsentHistory:
    """The consent of a live profile (and the profiles it absorbed)."""
    ids = repo.profile_ids(session, profile_id)
    rows = repo.statements(session, ids)
    held = repo.contact_identifiers(session, ids)
    standings = [Standing("tracking", None, in_force(rows, "tracking", None))]
    for purpose in ("email", "phone"):
        standings += [
            Standing(purpose, value, in_force(rows, purpose, value))
            for kind, value in held
            if kind == purpose
        ]
    current = {s.in_force.id for s in standings if s.in_force is not None}
    return ConsentHistory(
        standings=standings,
        statements=[Statement(r, _who(r), _where(r), r.id in current) for r in rows],
        per_purpose=in_force_per_purpose(rows, held),
    )
