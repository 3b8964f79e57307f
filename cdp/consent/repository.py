"""Every query of consent as staff see and record it (ingest stores its own: cdp.ingestion)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cdp.models import Consent, Dealer, Identity, Profile, Source, StaffUser


@dataclass(frozen=True, slots=True)
class StatementRow:
    """A stored statement with the names of who and where it came from."""

    id: int
    purpose: str
    status: str
    address: str | None
    stated_at: datetime
    recorded_at: datetime
    wording: str | None
    reason: str | None
    recorded_via: str | None
    source_name: str | None
    source_kind: str | None
    staff_name: str | None
    dealer_name: str | None


def profile_ids(session: Session, profile_id: uuid.UUID) -> list[uuid.UUID]:
    """The live profile and those it absorbed: a statement a racing writer left on an absorbed
    id is the person's too."""
    absorbed = session.scalars(select(Profile.id).where(Profile.merged_into_id == profile_id))
    return [profile_id, *absorbed]


def contact_identifiers(session: Session, ids: Sequence[uuid.UUID]) -> list[tuple[str, str]]:
    """The e-mail addresses and phone numbers these profiles hold, as (kind, value), oldest
    first."""
    rows = session.execute(
        select(Identity.kind, Identity.value)
        .where(Identity.profile_id.in_(ids), Identity.kind.in_(("email", "phone")))
        .order_by(Identity.id)
    )
    return [(kind, value) for kind, value in rows]


def statements(session: Session, ids: Sequence[uuid.UUID]) -> list[StatementRow]:
    """Every statement of these profiles, newest first (by when they were stated). A history
    holds changes only (ingest stores no repeats), so a person has few."""
    query = (
        select(
            Consent.id,
            Consent.purpose,
            Consent.status,
            Consent.address,
            Consent.stated_at,
            Consent.recorded_at,
            Consent.wording,
            Consent.reason,
            Consent.recorded_via,
            Source.name.label("source_name"),
            Source.kind.label("source_kind"),
            func.coalesce(StaffUser.name, StaffUser.email).label("staff_name"),
            Dealer.name.label("dealer_name"),
        )
        .outerjoin(Source, Source.id == Consent.source_id)
        .outerjoin(StaffUser, StaffUser.id == Consent.recorded_by_user_id)
        .outerjoin(Dealer, Dealer.id == Consent.dealer_id)
        .where(Consent.profile_id.in_(ids))
        .order_by(Consent.stated_at.desc(), Consent.id.desc())
    )
    return [StatementRow(**row._asdict()) for row in session.execute(query)]
