"""The right of access (GDPR art. 15): everything stored about one person, as one JSON document."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cdp.models import (
    Appointment,
    Base,
    Configuration,
    Consent,
    ContactAttempt,
    Delivery,
    Event,
    Identity,
    Lead,
    LeadStageChange,
    Note,
    Profile,
    ProfileMerge,
    ProfileTrait,
    ProfileView,
    Segment,
    SegmentMembership,
    SegmentRun,
    ShowroomVisit,
    StaffUser,
    TabletSession,
)
from cdp.profiles.erasure import Person
from cdp.profiles.quarantine import quarantined_messages

# Internal bookkeeping that says nothing about the person.
_LEFT_OUT = {"write_key_hash", "token_hash", "password_hash"}


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Decimal):
        return str(value)
    return value


def _row(row: Base) -> dict[str, Any]:
    return {
        column.key: _plain(getattr(row, column.key))
        for column in row.__table__.columns
        if column.key not in _LEFT_OUT
    }


def person_data(session: Session, person: Person, *, now: datetime) -> dict[str, Any]:
    """Every row about the person, table by table, with the staff who handled them by name."""
    ids = person.ids
    leads = session.scalars(select(Lead).where(Lead.profile_id.in_(ids)).order_by(Lead.id)).all()
    lead_ids = [lead.id for lead in leads]
    staff = {user.id: user.name or user.email for user in session.scalars(select(StaffUser))}

    def rows(model: type[Base], *where: Any, order: Any = None) -> list[dict[str, Any]]:
        statement = select(model).where(*where)
        if order is not None:
            statement = statement.order_by(order)
        return [_row(row) for row in session.scalars(statement)]

    memberships = session.execute(
        select(SegmentRun.finished_at, Segment.name, Segment.custom_name, Segment.description)
        .select_from(SegmentMembership)
        .join(Segment, Segment.id == SegmentMembership.segment_id)
        .join(SegmentRun, SegmentRun.id == SegmentMembership.run_id)
        .where(SegmentMembership.profile_id.in_(ids))
        .order_by(SegmentRun.id)
    ).all()
    views = session.execute(
        select(ProfileView.viewed_at, ProfileView.via, ProfileView.user_id)
        .where(ProfileView.profile_id.in_(ids))
        .order_by(ProfileView.viewed_at)
    ).all()
    return {
        "generated_at": _plain(now),
        "profile_id": str(person.profile_id),
        "merged_profile_ids": [str(pid) for pid in person.absorbed],
        "profiles": rows(Profile, Profile.id.in_(ids), order=Profile.created_at),
        "identifiers": rows(Identity, Identity.profile_id.in_(ids), order=Identity.id),
        "traits": rows(ProfileTrait, ProfileTrait.profile_id.in_(ids), order=ProfileTrait.name),
        "consent_statements": rows(Consent, Consent.profile_id.in_(ids), order=Consent.stated_at),
        "events": rows(Event, Event.profile_id.in_(ids), order=Event.occurred_at),
        "saved_configurations": rows(
            Configuration, Configuration.profile_id.in_(ids), order=Configuration.saved_at
        ),
        "merges": [
            # A split merge was two people: its traits from before are the other one's too.
            {k: v for k, v in merge.items() if k != "traits_before" or not merge["split_at"]}
            for merge in rows(
                ProfileMerge,
                ProfileMerge.survivor_id.in_(ids) | ProfileMerge.absorbed_id.in_(ids),
                order=ProfileMerge.merged_at,
            )
        ],
        "leads": [_row(lead) for lead in leads],
        "lead_stage_changes": rows(
            LeadStageChange, LeadStageChange.lead_id.in_(lead_ids), order=LeadStageChange.id
        ),
        "contact_attempts": rows(
            ContactAttempt, ContactAttempt.profile_id.in_(ids), order=ContactAttempt.attempted_at
        ),
        "appointments": rows(Appointment, Appointment.profile_id.in_(ids), order=Appointment.id),
        "notes": rows(Note, Note.profile_id.in_(ids), order=Note.created_at),
        "deliveries": rows(Delivery, Delivery.profile_id.in_(ids), order=Delivery.id),
        "showroom_visits": rows(
            ShowroomVisit, ShowroomVisit.profile_id.in_(ids), order=ShowroomVisit.arrived_at
        ),
        "tablet_sessions": rows(
            TabletSession, TabletSession.profile_id.in_(ids), order=TabletSession.started_at
        ),
        "segments": [
            {"as_of": _plain(at), "segment": custom or name, "description": description}
            for at, name, custom, description in memberships
        ],
        "viewed_by": [
            {"at": _plain(at), "via": via, "staff": staff.get(user_id) if user_id else None}
            for at, via, user_id in views
        ],
        # Refused messages that carry their identifiers, raw as they arrived (erased with them).
        "quarantined_messages": [_row(row) for row in quarantined_messages(session, ids)],
    }
