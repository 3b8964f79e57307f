"""What happens in the showroom: leads and their stages, contact attempts, appointments, notes,
tablet sessions, handovers to delivery, and the search projection that finds customers fast."""

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Double,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    SmallInteger,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from cdp.models.base import Base, JsonType, UtcDateTime, utcnow

# JSON whose None is SQL NULL (not the JSON value null), so "not set" is one thing to ask for.
NullableJson = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")

# "website" is the brand's (or importer's) configurator site; a dealer's own site is its own
# channel. "be_back": a known customer walking in again. Labels and norms per channel are the
# importer's to name and set (cdp/leads/norms.py, table channel_setting and stage_norm).
LEAD_CHANNELS = (
    "website",
    "dealer_website",
    "importer",
    "marketplace",
    "phone",
    "walk_in",
    "be_back",
    "referral",
    "direct_mail",
    "event",
)
LEAD_STAGES = (
    "new",
    "attempted",
    "reached",
    "appointment",
    "test_drive",
    "quote",
    "sold",
    "delivered",
    "lost",
    "invalid",
    "duplicate",
)
OPEN_STAGES = ("new", "attempted", "reached", "appointment", "test_drive", "quote")
LOST_REASONS = (
    "bought_elsewhere",
    "price",
    "stock_or_delivery_time",
    "not_reachable",
    "no_longer_interested",
    "process_or_experience",
    "other",
)
CONTACT_METHODS = ("call", "email", "whatsapp", "sms")
CONTACT_OUTCOMES = ("reached", "no_answer", "voicemail", "wrong_number", "replied")
APPOINTMENT_KINDS = ("visit", "test_drive", "delivery")
APPOINTMENT_STATUSES = ("planned", "showed", "no_show", "cancelled")


# Leads that are no leads (invalid, duplicate): the funnel's monthly trend counts every lead of
# a month from the index alone and takes these off, found by their own small indexes (0034).
NOT_A_LEAD = "stage IN ('invalid', 'duplicate')"


class Lead(Base):
    __tablename__ = "lead"
    __table_args__ = (
        Index("ix_lead_assigned_stage", "assigned_user_id", "stage"),
        *(
            Index(
                f"ix_lead_not_a_lead_{column}",
                column,
                postgresql_where=text(NOT_A_LEAD),
                sqlite_where=text(NOT_A_LEAD),
            )
            for column in ("created_at", "step_sold_at")
        ),
        # The why's two medians of a network's period read from this index alone (0035).
        Index(
            "ix_lead_valid_created_why",
            "created_at",
            postgresql_include=["first_contact_s", "sold_after_s", "channel"],
            postgresql_where=text(f"NOT ({NOT_A_LEAD})"),
            sqlite_where=text(f"NOT ({NOT_A_LEAD})"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    dealer_id: Mapped[int | None] = mapped_column(ForeignKey("dealer.id"), default=None, index=True)
    profile_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("profile.id"), index=True)
    channel: Mapped[str] = mapped_column(String(20))
    stage: Mapped[str] = mapped_column(String(20), default="new")
    lost_reason: Mapped[str | None] = mapped_column(String(40), default=None)
    lost_detail: Mapped[str | None] = mapped_column(Text, default=None)
    model: Mapped[str | None] = mapped_column(String(200), default=None)
    assigned_user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"), default=None)
    next_action: Mapped[str | None] = mapped_column(String(200), default=None)
    next_action_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    # Indexed: ingest asks per transaction whether its events made leads already, and deleting
    # events (an erasure) checks this foreign key per event (migration 0007).
    source_event_id: Mapped[int | None] = mapped_column(
        ForeignKey("event.id"), default=None, index=True
    )
    # Indexed: the funnel and the network view read a period's leads (migration 0030).
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    # The campaign (utm fields) and referring site of the customer's first and last visit
    # before the lead (cdp/leads/attribution.py); None: direct, or made by staff.
    first_touch: Mapped[dict[str, str] | None] = mapped_column(NullableJson, default=None)
    last_touch: Mapped[dict[str, str] | None] = mapped_column(NullableJson, default=None)
    # Speed to lead (cdp/leads/sla.py): when the manager was warned that nobody had contacted
    # it yet (once), and the moment its first contact fell due, set when found missed.
    sla_warned_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    sla_breached_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    # Seconds from the lead's arrival to its first contact's due time under its dealer's SLA
    # when it came in (cdp/leads/sla_due.py, migration 0037): the network view judges speed
    # to lead in SQL with it.
    sla_due_s: Mapped[float | None] = mapped_column(Double, default=None)
    # The lead's progress, worked out from its history whenever that changes
    # (cdp/leads/progress.py, migration 0033), so the funnel and the network read one row a lead
    # instead of every lead's stage changes, appointments, visits and contact attempts.
    # furthest_step: 0 (none) to 6 (sold), by cdp.leads.progress.STEPS; step_*_at: when the lead
    # first reached that step or a later one (a show, by a showed appointment or a floor visit,
    # also counts for reached and appointment); last_step_at: the latest of them.
    furthest_step: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    step_reached_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    step_appointment_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    step_show_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    step_test_drive_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    step_quote_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    step_sold_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None, index=True)
    last_step_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None, index=True)
    # Seconds from the lead to its first contact attempt; attempts up to the first that reached
    # the customer (None: never reached); seconds from the lead to its first sale.
    first_contact_s: Mapped[float | None] = mapped_column(Double, default=None)
    attempts_to_reach: Mapped[int | None] = mapped_column(SmallInteger, default=None)
    sold_after_s: Mapped[float | None] = mapped_column(Double, default=None)


class LeadAssignment(Base):
    """One assignment of a lead: routing's (by_user_id None) or a person's, with the rule that
    decided, the reason given and any warning (an unknown dealer code in the event, ...)."""

    __tablename__ = "lead_assignment"
    __table_args__ = (Index("ix_lead_assignment_to_user_at", "to_user_id", "assigned_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("lead.id"), index=True)
    dealer_id: Mapped[int | None] = mapped_column(ForeignKey("dealer.id"), default=None)
    from_user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"), default=None)
    to_user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"), default=None)
    by_user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"), default=None)
    rule: Mapped[str] = mapped_column(String(60))
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    warning: Mapped[str | None] = mapped_column(Text, default=None)
    assigned_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class LeadStageChange(Base):
    __tablename__ = "lead_stage_change"

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("lead.id"), index=True)
    from_stage: Mapped[str | None] = mapped_column(String(20))
    to_stage: Mapped[str] = mapped_column(String(20))
    lost_reason: Mapped[str | None] = mapped_column(String(40), default=None)
    changed_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
    # Indexed: the funnel's activity view reads the stage changes of a period (migration 0032).
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)


class ContactAttempt(Base):
    __tablename__ = "contact_attempt"

    id: Mapped[int] = mapped_column(primary_key=True)
    dealer_id: Mapped[int | None] = mapped_column(ForeignKey("dealer.id"), default=None, index=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("lead.id"), index=True)
    profile_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("profile.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
    method: Mapped[str] = mapped_column(String(20))
    outcome: Mapped[str] = mapped_column(String(20))
    note: Mapped[str | None] = mapped_column(Text, default=None)
    attempted_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Appointment(Base):
    __tablename__ = "appointment"

    id: Mapped[int] = mapped_column(primary_key=True)
    dealer_id: Mapped[int | None] = mapped_column(ForeignKey("dealer.id"), default=None, index=True)
    profile_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("profile.id"), index=True)
    # Indexed: the funnel reads a lead's shows from its appointments (migration 0032).
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("lead.id"), default=None, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"), default=None)
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="planned")
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    model: Mapped[str | None] = mapped_column(String(200), default=None)
    note: Mapped[str | None] = mapped_column(Text, default=None)
    # Set when a Test Drive Requested event made it, so a replayed event makes no second one.
    source_event_id: Mapped[int | None] = mapped_column(
        ForeignKey("event.id"), default=None, unique=True
    )
    created_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_user.id"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class TabletSession(Base):
    """A salesperson and a customer at a showroom tablet, with the session's own anonymous id."""

    __tablename__ = "tablet_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    dealer_id: Mapped[int | None] = mapped_column(ForeignKey("dealer.id"), default=None, index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id"))
    profile_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("profile.id"), default=None, index=True
    )
    anonymous_id: Mapped[str] = mapped_column(String(64), unique=True)
    # The showroom source its events are recorded under, and the car as configured so far.
    source_id: Mapped[int | None] = mapped_column(ForeignKey("source.id"), default=None)
    selection: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)


class Note(Base):
    """A structured conversation note: quick to enter, usable by marketing as traits."""

    __tablename__ = "note"

    id: Mapped[int] = mapped_column(primary_key=True)
    dealer_id: Mapped[int | None] = mapped_column(ForeignKey("dealer.id"), default=None, index=True)
    profile_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("profile.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
    tablet_session_id: Mapped[int | None] = mapped_column(
        ForeignKey("tablet_session.id"), default=None
    )
    interest_level: Mapped[str | None] = mapped_column(String(20), default=None)
    budget_band: Mapped[str | None] = mapped_column(String(40), default=None)
    timeframe: Mapped[str | None] = mapped_column(String(40), default=None)
    trade_in_make: Mapped[str | None] = mapped_column(String(100), default=None)
    trade_in_model: Mapped[str | None] = mapped_column(String(100), default=None)
    trade_in_year: Mapped[int | None] = mapped_column(Integer, default=None)
    trade_in_km: Mapped[int | None] = mapped_column(Integer, default=None)
    # The trade-in's or current car's plate, canonical (cdp.licence_plates); migration 0024.
    licence_plate: Mapped[str | None] = mapped_column(String(12), default=None)
    financing_interest: Mapped[bool | None] = mapped_column(Boolean, default=None)
    competitor: Mapped[str | None] = mapped_column(String(200), default=None)
    model_direction: Mapped[str | None] = mapped_column(String(20), default=None)
    text: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Delivery(Base):
    """A sold car's handover, queued for a delivery specialist rather than the salesperson."""

    __tablename__ = "delivery"

    id: Mapped[int] = mapped_column(primary_key=True)
    dealer_id: Mapped[int | None] = mapped_column(ForeignKey("dealer.id"), default=None, index=True)
    profile_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("profile.id"), index=True)
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("lead.id"), default=None)
    specialist_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_user.id"), default=None
    )
    delivery_date: Mapped[date | None] = mapped_column(Date, default=None)
    car: Mapped[str | None] = mapped_column(String(300), default=None)
    configuration_code: Mapped[str | None] = mapped_column(String(100), default=None)
    price: Mapped[Decimal | None] = mapped_column(Numeric(12, 2), default=None)
    status: Mapped[str] = mapped_column(String(20), default="scheduled")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)


class ProfileSearch(Base):
    """What lookup matches and a result line shows, for each live profile with contact details.

    A projection, rebuilt from traits, configurations and leads whenever they change, so a lookup
    at a million profiles is one indexed query. Anonymous profiles have no row: nobody can look
    them up by name. (PostgreSQL adds a trigram index on name_folded in migration 0002.)
    """

    __tablename__ = "profile_search"
    # A postal code's customers in name order, read in that order from the index and stopped at
    # the page's end (a Belgian code holds thousands: sorting them all cost 12 ms). Migration 0040.
    __table_args__ = (
        Index("ix_profile_search_postal_code", "postal_code", "name_folded", "profile_id"),
    )

    profile_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("profile.id"), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200), default=None)
    name_folded: Mapped[str | None] = mapped_column(String(200), default=None)
    email: Mapped[str | None] = mapped_column(String(320), default=None, index=True)
    phone: Mapped[str | None] = mapped_column(String(32), default=None, index=True)
    postal_code: Mapped[str | None] = mapped_column(String(20), default=None)
    city: Mapped[str | None] = mapped_column(String(100), default=None)
    latest_model: Mapped[str | None] = mapped_column(String(200), default=None)
    latest_colour: Mapped[str | None] = mapped_column(String(200), default=None)
    latest_colour_hex: Mapped[str | None] = mapped_column(String(7), default=None)
    lead_stage: Mapped[str | None] = mapped_column(String(20), default=None)
    # The customer's licence plate, canonical (cdp.licence_plates), from the latest plate trait:
    # found by lookup, never an identity (plates change hands). Migration 0024.
    plate: Mapped[str | None] = mapped_column(String(12), default=None, index=True)
