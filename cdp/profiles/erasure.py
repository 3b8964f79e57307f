"""The right to erasure (GDPR art. 17): everything about one person, gone in one transaction.

The person is the live profile and every profile it absorbed. Deleted: their events and saved
configurations, identifiers, traits, consent statements, search row, segment memberships, leads
(with stage changes, contact attempts and deliveries), appointments, notes, tablet sessions,
the record of who viewed them, and the refused messages in the quarantine that carry one of
their identifiers (cdp.profiles.quarantine). Kept: one `erasure` row that says when, by whom
and why, with counts and no personal data, so the erasure itself can be shown; and keyed
hashes of their identifiers, so their messages stay out (cdp.profiles.suppression). What stays
outside this database (an email tool, a dealer system) must be erased there too.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Delete, delete, or_, select, update
from sqlalchemy.orm import Session

from cdp.audit.service import record as audit
from cdp.errors import InvalidInput, NotFound
from cdp.identity.identifiers import normalise_email
from cdp.identity.merge_rows import forget_moved_rows
from cdp.identity.repository import lock_profiles
from cdp.models import (
    AdfDelivery,
    Alert,
    Appointment,
    Configuration,
    Consent,
    ContactAttempt,
    Delivery,
    Erasure,
    Event,
    Identity,
    IdentityWarning,
    Lead,
    LeadAssignment,
    LeadStageChange,
    Note,
    Profile,
    ProfileMerge,
    ProfileTrait,
    ProfileView,
    SegmentMembership,
    ShowroomVisit,
    TabletSession,
    utcnow,
)
from cdp.profiles.projection import remove_search_rows
from cdp.profiles.quarantine import delete_messages, quarantined_messages
from cdp.profiles.repository import absorbed_ids, live_profile
from cdp.profiles.suppression import SUPPRESSED_KINDS, record_suppression
from cdp.text import counted


@dataclass(frozen=True)
class Person:
    """A live profile and the profiles it absorbed: one person."""

    profile_id: uuid.UUID
    absorbed: tuple[uuid.UUID, ...]

    @property
    def ids(self) -> list[uuid.UUID]:
        return [self.profile_id, *self.absorbed]


def find_person(session: Session, who: str) -> Person:
    """A profile id (an absorbed one answers for its survivor) or an e-mail address."""
    text = who.strip()
    profile: Profile | None = None
    try:
        profile = live_profile(session, uuid.UUID(text))
    except ValueError:
        email = normalise_email(text)
        if email is None:
            raise InvalidInput(
                f"{text!r} is neither a profile id nor an e-mail address", field="profile"
            ) from None
        owner = session.scalar(
            select(Identity.profile_id).where(Identity.kind == "email", Identity.value == email)
        )
        profile = live_profile(session, owner) if owner is not None else None
    if profile is None:
        raise NotFound(f"no profile matches {text!r}", field="profile")
    return Person(profile.id, tuple(absorbed_ids(session, profile.id)))


def erase(
    session: Session,
    person: Person,
    *,
    erased_by: str,
    reason: str,
    staff_user_id: int | None = None,
    api_token_id: int | None = None,
) -> Erasure:
    """Delete everything about the person; the caller commits (or rolls back: all or nothing).
    The audit trail keeps who erased which profile id (never the reason: it may name them)."""
    reason = reason.strip()
    if not reason:
        raise InvalidInput("say why (e.g. 'request by e-mail of 2026-11-20')", field="reason")
    ids = person.ids
    # First, so a concurrent ingest that wrote to these profiles either committed before (its
    # events are deleted below) or finds them gone at its last step and starts over: events
    # have no foreign key to hold them back (see touch_written_profiles).
    lock_profiles(session, ids)
    # Found by the person's identifiers, so before those are deleted.
    rejected = quarantined_messages(session, ids)
    identifiers = session.execute(
        select(Identity.kind, Identity.value).where(
            Identity.profile_id.in_(ids), Identity.kind.in_(sorted(SUPPRESSED_KINDS))
        )
    ).all()
    leads = select(Lead.id).where(Lead.profile_id.in_(ids)).scalar_subquery()
    tablets = select(TabletSession.id).where(TabletSession.profile_id.in_(ids)).scalar_subquery()
    appointments = (
        select(Appointment.id)
        .where(or_(Appointment.profile_id.in_(ids), Appointment.lead_id.in_(leads)))
        .scalar_subquery()
    )
    # Children before parents: every foreign key points at a row deleted later.
    steps: list[tuple[str, Delete]] = [
        ("showroom visits", delete(ShowroomVisit).where(or_(
            ShowroomVisit.profile_id.in_(ids), ShowroomVisit.lead_id.in_(leads),
            ShowroomVisit.appointment_id.in_(appointments)))),
        ("segment memberships", delete(SegmentMembership).where(
            SegmentMembership.profile_id.in_(ids))),
        ("views", delete(ProfileView).where(ProfileView.profile_id.in_(ids))),
        ("alerts", delete(Alert).where(Alert.profile_id.in_(ids))),
        ("contact attempts", delete(ContactAttempt).where(
            or_(ContactAttempt.profile_id.in_(ids), ContactAttempt.lead_id.in_(leads)))),
        ("lead stage changes", delete(LeadStageChange).where(LeadStageChange.lead_id.in_(leads))),
        ("ADF deliveries", delete(AdfDelivery).where(AdfDelivery.lead_id.in_(leads))),
        ("lead assignments", delete(LeadAssignment).where(LeadAssignment.lead_id.in_(leads))),
        ("deliveries", delete(Delivery).where(
            or_(Delivery.profile_id.in_(ids), Delivery.lead_id.in_(leads)))),
        ("appointments", delete(Appointment).where(
            or_(Appointment.profile_id.in_(ids), Appointment.lead_id.in_(leads)))),
        ("notes", delete(Note).where(
            or_(Note.profile_id.in_(ids), Note.tablet_session_id.in_(tablets)))),
        ("leads", delete(Lead).where(Lead.profile_id.in_(ids))),
        ("tablet sessions", delete(TabletSession).where(TabletSession.profile_id.in_(ids))),
        ("configurations", delete(Configuration).where(Configuration.profile_id.in_(ids))),
        ("events", delete(Event).where(Event.profile_id.in_(ids))),
        ("consent statements", delete(Consent).where(Consent.profile_id.in_(ids))),
        ("traits", delete(ProfileTrait).where(ProfileTrait.profile_id.in_(ids))),
        ("identifiers", delete(Identity).where(Identity.profile_id.in_(ids))),
        ("identity warnings", delete(IdentityWarning).where(
            or_(IdentityWarning.profile_id.in_(ids), IdentityWarning.other_profile_id.in_(ids)))),
        ("merges", delete(ProfileMerge).where(
            or_(ProfileMerge.survivor_id.in_(ids), ProfileMerge.absorbed_id.in_(ids)))),
    ]  # fmt: skip
    # The search rows, and the words of the name dictionary that only this person's name held.
    counts: dict[str, int] = {"search rows": remove_search_rows(session, ids)}
    # Which rows their merges moved (ids only, not counted: the merges are).
    forget_moved_rows(
        session,
        select(ProfileMerge.id).where(
            or_(ProfileMerge.survivor_id.in_(ids), ProfileMerge.absorbed_id.in_(ids))
        ),
    )
    for label, statement in steps:
        counts[label] = session.execute(statement).rowcount or 0  # type: ignore[attr-defined]
    counts["quarantined messages"] = delete_messages(session, rejected)
    # Absorbed profiles point at the survivor: unlink them, then delete all in one statement.
    session.execute(update(Profile).where(Profile.id.in_(ids)).values(merged_into_id=None))
    counts["profiles"] = session.execute(delete(Profile).where(Profile.id.in_(ids))).rowcount or 0  # type: ignore[attr-defined]
    record = Erasure(
        profile_id=person.profile_id,
        erased_at=utcnow(),
        erased_by=erased_by,
        reason=reason,
        counts={label: n for label, n in counts.items() if n},
    )
    session.add(record)
    session.flush()
    # So that they stay erased: their identifiers, as keyed hashes, keep their messages out.
    record_suppression(session, record, [(kind, value) for kind, value in identifiers])
    audit(
        session,
        "erasure",
        actor=erased_by,
        profile_id=person.profile_id,
        staff_user_id=staff_user_id,
        api_token_id=api_token_id,
        detail=f"{counts['profiles']} profiles, {sum(counts.values())} rows",
    )
    return record


def erasure_of(session: Session, profile_id: uuid.UUID) -> Erasure | None:
    """The erasure of the person whose (surviving) profile had this id, if they were erased."""
    return session.scalar(select(Erasure).where(Erasure.profile_id == profile_id))


def erasures(session: Session, *, limit: int = 100) -> Sequence[Erasure]:
    return session.scalars(select(Erasure).order_by(Erasure.erased_at.desc()).limit(limit)).all()


def describe(record: Erasure) -> str:
    what = ", ".join(counted(n, label) for label, n in record.counts.items()) or "nothing stored"
    when: datetime = record.erased_at
    return f"erased {when:%Y-%m-%d %H:%M} UTC by {record.erased_by}: {what}"
