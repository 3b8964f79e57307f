"""Queries for what happens around a customer in the showroom: leads, notes, contacts, visits."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Row, Table, case, func, insert, select
from sqlalchemy.orm import Session

from cdp import db
from cdp.dealers.visibility import NETWORK, DealerScope
from cdp.leads import sla_due
from cdp.models import (
    OPEN_STAGES,
    Appointment,
    Configuration,
    ContactAttempt,
    Dealer,
    Delivery,
    Event,
    Lead,
    LeadStageChange,
    Note,
    ProfileSearch,
    StaffDealer,
    StaffUser,
)
from cdp.sql import any_of, dialect_of


def leads_of(
    session: Session, ids: Sequence[uuid.UUID], scope: DealerScope = NETWORK
) -> Sequence[Lead]:
    """Latest first."""
    return session.scalars(
        select(Lead)
        .where(Lead.profile_id.in_(ids), scope.where(Lead.dealer_id))
        .order_by(Lead.updated_at.desc(), Lead.id.desc())
    ).all()


def leads_elsewhere(
    session: Session, ids: Sequence[uuid.UUID], scope: DealerScope
) -> list[tuple[str | None, str]]:
    """(dealer name, stage) of these people's leads outside `scope`, latest first: what the
    customer page says of other dealers' leads (no notes, no contacts)."""
    if scope.network:
        return []
    rows = session.execute(
        select(Dealer.name, Lead.stage)
        .outerjoin(Dealer, Dealer.id == Lead.dealer_id)
        .where(Lead.profile_id.in_(ids), ~scope.where(Lead.dealer_id) | Lead.dealer_id.is_(None))
        .order_by(Lead.updated_at.desc(), Lead.id.desc())
    )
    return [(name, stage) for name, stage in rows]


def stage_changes_of(session: Session, lead_ids: Sequence[int]) -> Sequence[LeadStageChange]:
    return session.scalars(
        select(LeadStageChange)
        .where(LeadStageChange.lead_id.in_(lead_ids))
        .order_by(LeadStageChange.changed_at)
    ).all()


def notes_of(
    session: Session, ids: Sequence[uuid.UUID], scope: DealerScope = NETWORK
) -> Sequence[Note]:
    return session.scalars(
        select(Note)
        .where(Note.profile_id.in_(ids), scope.where(Note.dealer_id))
        .order_by(Note.created_at.desc())
    ).all()


def contact_attempt(session: Session, attempt_id: int) -> ContactAttempt | None:
    return session.get(ContactAttempt, attempt_id)


def contacts_of(
    session: Session, ids: Sequence[uuid.UUID], scope: DealerScope = NETWORK
) -> Sequence[ContactAttempt]:
    return session.scalars(
        select(ContactAttempt)
        .where(ContactAttempt.profile_id.in_(ids), scope.where(ContactAttempt.dealer_id))
        .order_by(ContactAttempt.attempted_at.desc())
    ).all()


def appointments_of(
    session: Session, ids: Sequence[uuid.UUID], scope: DealerScope = NETWORK
) -> Sequence[Appointment]:
    return session.scalars(
        select(Appointment)
        .where(Appointment.profile_id.in_(ids), scope.where(Appointment.dealer_id))
        .order_by(Appointment.starts_at.desc())
    ).all()


def deliveries_of(
    session: Session, ids: Sequence[uuid.UUID], scope: DealerScope = NETWORK
) -> Sequence[Delivery]:
    return session.scalars(
        select(Delivery)
        .where(Delivery.profile_id.in_(ids), scope.where(Delivery.dealer_id))
        .order_by(Delivery.created_at.desc())
    ).all()


def staff_names(session: Session, user_ids: set[int]) -> dict[int, str]:
    if not user_ids:
        return {}
    rows = session.execute(select(StaffUser.id, StaffUser.name).where(StaffUser.id.in_(user_ids)))
    return {user_id: name for user_id, name in rows}


# --- lead follow-up ---------------------------------------------------------------------------
def lead(session: Session, lead_id: int, *, for_update: bool = False) -> Lead | None:
    """One lead; `for_update` locks its row (PostgreSQL) so two people cannot race a change."""
    stmt = select(Lead).where(Lead.id == lead_id)
    if for_update:
        stmt = stmt.with_for_update()
    return session.scalars(stmt).first()


def open_leads_by_profile(
    session: Session, profile_ids: Collection[uuid.UUID], scope: DealerScope = NETWORK
) -> dict[uuid.UUID, Lead]:
    """The most recently updated open lead of each profile that has one."""
    if not profile_ids:
        return {}
    found: dict[uuid.UUID, Lead] = {}
    for row in session.scalars(
        select(Lead)
        .where(
            Lead.profile_id.in_(list(profile_ids)),
            Lead.stage.in_(OPEN_STAGES),
            scope.where(Lead.dealer_id),
        )
        .order_by(Lead.updated_at, Lead.id)
    ):
        found[row.profile_id] = row  # the last one wins
    return found


def open_lead_refs(
    session: Session, profile_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, tuple[int, int | None]]:
    """(lead id, assigned salesperson) of the most recently updated open lead of each profile
    that has one: what the ingest hooks need, without loading leads."""
    if not profile_ids:
        return {}
    found: dict[uuid.UUID, tuple[int, int | None]] = {}
    statement = _hook_statements(dialect_of(session))["open_leads"]
    for pid, lead_id, user_id in session.connection().execute(
        statement, {"ids": list(profile_ids)}
    ):
        found[pid] = (lead_id, user_id)  # the last one wins
    return found


@functools.cache
def _hook_statements(dialect: str) -> dict[str, Any]:
    """The ingest hooks' queries, built once per dialect (see `any_of`)."""
    return {
        "open_leads": select(Lead.profile_id, Lead.id, Lead.assigned_user_id)
        .where(any_of(Lead.profile_id, "ids", dialect), Lead.stage.in_(OPEN_STAGES))
        .order_by(Lead.updated_at, Lead.id),
        "lead_events": select(Lead.source_event_id).where(
            any_of(Lead.source_event_id, "ids", dialect)
        ),
        "appointment_events": select(Appointment.source_event_id).where(
            any_of(Appointment.source_event_id, "ids", dialect)
        ),
    }


def _source_events(session: Session, which: str, event_ids: Collection[int]) -> set[int]:
    if not event_ids:
        return set()
    statement = _hook_statements(dialect_of(session))[which]
    rows = session.connection().execute(statement, {"ids": list(event_ids)})
    return {event_id for (event_id,) in rows if event_id is not None}


def lead_source_events(session: Session, event_ids: Collection[int]) -> set[int]:
    return _source_events(session, "lead_events", event_ids)


def appointment_source_events(session: Session, event_ids: Collection[int]) -> set[int]:
    return _source_events(session, "appointment_events", event_ids)


def insert_leads(session: Session, rows: list[dict[str, Any]]) -> list[int]:
    """New leads (rows with every column but the id and their SLA due time) in one
    statement; their ids, in order. Each gets its speed-to-lead due time as it is written
    (`cdp.leads.sla_due`: the ORM's flushes get theirs from a session event)."""
    if not rows:
        return []
    due = sla_due.seconds_for(
        session.connection(), [(row["dealer_id"], row["created_at"]) for row in rows]
    )
    rows = [{**row, "sla_due_s": seconds} for row, seconds in zip(rows, due, strict=True)]
    stmt = insert(cast(Table, Lead.__table__)).returning(
        Lead.__table__.c.id, sort_by_parameter_order=True
    )
    return [lead_id for (lead_id,) in session.execute(stmt, rows)]


def insert_rows(session: Session, model: Any, rows: list[dict[str, Any]]) -> None:
    """Rows with the same columns into `model`'s table, in one statement (not the ORM's unit
    of work)."""
    db.insert_rows(session, cast(Table, model.__table__), rows)


def _lead_filter(
    *, scope: str, user_id: int | None, salesperson_id: int | None, dealers: DealerScope
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [
        Lead.stage.in_(OPEN_STAGES),
        dealers.where(Lead.dealer_id),
    ]
    if scope == "mine":
        conditions.append(Lead.assigned_user_id == user_id)
    elif scope == "unassigned":
        conditions.append(Lead.assigned_user_id.is_(None))
    elif scope == "user":
        conditions.append(Lead.assigned_user_id == salesperson_id)
    return conditions


def count_open_leads(
    session: Session,
    *,
    scope: str,
    user_id: int | None = None,
    salesperson_id: int | None = None,
    dealers: DealerScope = NETWORK,
) -> int:
    conditions = _lead_filter(
        scope=scope, user_id=user_id, salesperson_id=salesperson_id, dealers=dealers
    )
    return session.scalar(select(func.count()).select_from(Lead).where(*conditions)) or 0


def open_lead_page(
    session: Session,
    *,
    scope: str,
    now: datetime,
    offset: int,
    limit: int,
    user_id: int | None = None,
    salesperson_id: int | None = None,
    dealers: DealerScope = NETWORK,
) -> Sequence[Row[Lead, str | None, str | None, str | None, str | None]]:
    """Open leads by what needs action: new ones oldest first, then overdue next actions, then
    the rest by next action time (those without one last, oldest lead first)."""
    conditions = _lead_filter(
        scope=scope, user_id=user_id, salesperson_id=salesperson_id, dealers=dealers
    )
    bucket = case(
        (Lead.stage == "new", 0),
        (Lead.next_action_at < now, 1),
        else_=2,
    )
    due = case((Lead.stage == "new", Lead.created_at), else_=Lead.next_action_at)
    return session.execute(
        select(
            Lead,
            ProfileSearch.name,
            ProfileSearch.latest_model,
            ProfileSearch.latest_colour,
            ProfileSearch.latest_colour_hex,
        )
        .outerjoin(ProfileSearch, ProfileSearch.profile_id == Lead.profile_id)
        .where(*conditions)
        .order_by(bucket, due.asc().nulls_last(), Lead.created_at, Lead.id)
        .offset(offset)
        .limit(limit)
    ).all()


def profile_names(session: Session, ids: Collection[uuid.UUID]) -> dict[uuid.UUID, str | None]:
    if not ids:
        return {}
    rows = session.execute(
        select(ProfileSearch.profile_id, ProfileSearch.name).where(
            ProfileSearch.profile_id.in_(list(ids))
        )
    )
    return {profile_id: name for profile_id, name in rows}


def profile_contacts(
    session: Session, ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, tuple[str | None, str | None]]:
    """E-mail address and phone number per profile, as the lookup shows them."""
    if not ids:
        return {}
    rows = session.execute(
        select(ProfileSearch.profile_id, ProfileSearch.email, ProfileSearch.phone).where(
            ProfileSearch.profile_id.in_(list(ids))
        )
    )
    return {profile_id: (email, phone) for profile_id, email, phone in rows}


def latest_configurations(
    session: Session, profile_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, Configuration]:
    if not profile_ids:
        return {}
    latest: dict[uuid.UUID, Configuration] = {}
    for configuration in session.scalars(
        select(Configuration)
        .where(Configuration.profile_id.in_(list(profile_ids)))
        .order_by(Configuration.saved_at, Configuration.id)
    ):
        latest[configuration.profile_id] = configuration  # the last one wins
    return latest


def configuration_for_sale(
    session: Session, profile_id: uuid.UUID, model: str | None
) -> Configuration | None:
    """The latest saved configuration of the lead's model, else the latest of any model."""
    newest = (Configuration.saved_at.desc(), Configuration.id.desc())
    if model:
        same = session.scalars(
            select(Configuration)
            .where(
                Configuration.profile_id == profile_id,
                func.lower(Configuration.model) == model.strip().lower(),
            )
            .order_by(*newest)
            .limit(1)
        ).first()
        if same is not None:
            return same
    return session.scalars(
        select(Configuration)
        .where(Configuration.profile_id == profile_id)
        .order_by(*newest)
        .limit(1)
    ).first()


def event_counts(
    session: Session, profile_ids: Collection[uuid.UUID], names: Collection[str]
) -> dict[uuid.UUID, dict[str, int]]:
    if not profile_ids:
        return {}
    counts: dict[uuid.UUID, dict[str, int]] = {}
    for pid, name, count in session.execute(
        select(Event.profile_id, Event.name, func.count())
        .where(Event.profile_id.in_(list(profile_ids)), Event.name.in_(list(names)))
        .group_by(Event.profile_id, Event.name)
    ):
        if name is not None:
            counts.setdefault(pid, {})[name] = count
    return counts


def profiles_seen_in(
    session: Session, profile_ids: Collection[uuid.UUID], channel: str
) -> set[uuid.UUID]:
    if not profile_ids:
        return set()
    return set(
        session.scalars(
            select(Event.profile_id)
            .where(Event.profile_id.in_(list(profile_ids)), Event.channel == channel)
            .distinct()
        )
    )


def appointment(session: Session, appointment_id: int) -> Appointment | None:
    return session.scalars(
        select(Appointment).where(Appointment.id == appointment_id).with_for_update()
    ).first()


def appointments_between(
    session: Session,
    start: datetime,
    end: datetime,
    *,
    user_id: int | None = None,
    scope: DealerScope = NETWORK,
) -> Sequence[Appointment]:
    stmt = select(Appointment).where(
        Appointment.starts_at >= start,
        Appointment.starts_at < end,
        Appointment.status != "cancelled",
        scope.where(Appointment.dealer_id),
    )
    if user_id is not None:
        stmt = stmt.where(Appointment.user_id == user_id)
    return session.scalars(stmt.order_by(Appointment.starts_at, Appointment.id)).all()


def planned_delivery_appointment(
    session: Session, *, profile_id: uuid.UUID, lead_id: int | None, status: str = "planned"
) -> Appointment | None:
    """The delivery appointment of a handover (`status` "showed" once it was handed over)."""
    stmt = select(Appointment).where(
        Appointment.profile_id == profile_id,
        Appointment.kind == "delivery",
        Appointment.status == status,
    )
    if lead_id is not None:
        stmt = stmt.where(Appointment.lead_id == lead_id)
    return session.scalars(stmt.order_by(Appointment.starts_at.desc()).limit(1)).first()


def delivery(session: Session, delivery_id: int) -> Delivery | None:
    return session.scalars(
        select(Delivery).where(Delivery.id == delivery_id).with_for_update()
    ).first()


def scheduled_deliveries_of_lead(session: Session, lead_id: int) -> Sequence[Delivery]:
    return session.scalars(
        select(Delivery).where(Delivery.lead_id == lead_id, Delivery.status == "scheduled")
    ).all()


def scheduled_deliveries(
    session: Session, *, specialist_id: int | None = None, scope: DealerScope = NETWORK
) -> Sequence[Delivery]:
    """The handover queue: undated ones first (they need a date), then by date."""
    stmt = select(Delivery).where(Delivery.status == "scheduled", scope.where(Delivery.dealer_id))
    if specialist_id is not None:
        stmt = stmt.where(Delivery.specialist_user_id == specialist_id)
    return session.scalars(
        stmt.order_by(Delivery.delivery_date.asc().nulls_first(), Delivery.created_at, Delivery.id)
    ).all()


def staff_user(session: Session, user_id: int) -> StaffUser | None:
    return session.get(StaffUser, user_id)


def active_staff(session: Session, roles: Collection[str]) -> Sequence[StaffUser]:
    if not roles:
        return []
    return session.scalars(
        select(StaffUser)
        .where(StaffUser.active.is_(True), StaffUser.role.in_(list(roles)))
        .order_by(StaffUser.name, StaffUser.id)
    ).all()


def active_staff_with_dealers(
    session: Session, roles: Collection[str]
) -> list[tuple[StaffUser, list[int]]]:
    """Active staff of these roles with the dealers each works at (none: the network's)."""
    people = active_staff(session, roles)
    if not people:
        return []
    dealers: dict[int, list[int]] = {}
    for user_id, dealer_id in session.execute(
        select(StaffDealer.user_id, StaffDealer.dealer_id).where(
            StaffDealer.user_id.in_([user.id for user in people])
        )
    ):
        dealers.setdefault(user_id, []).append(dealer_id)
    return [(user, sorted(dealers.get(user.id, []))) for user in people]


def leads_by_id(session: Session, ids: Collection[int]) -> dict[int, Lead]:
    if not ids:
        return {}
    return {lead.id: lead for lead in session.scalars(select(Lead).where(Lead.id.in_(list(ids))))}


def planned_delivery_appointments(
    session: Session, lead_ids: Collection[int]
) -> dict[int, Appointment]:
    """The planned delivery appointment of each of these leads (the latest if several)."""
    if not lead_ids:
        return {}
    found: dict[int, Appointment] = {}
    for row in session.scalars(
        select(Appointment)
        .where(
            Appointment.lead_id.in_(list(lead_ids)),
            Appointment.kind == "delivery",
            Appointment.status == "planned",
        )
        .order_by(Appointment.starts_at)
    ):
        if row.lead_id is not None:
            found[row.lead_id] = row
    return found


# --- the leads API (GET /api/leads) -----------------------------------------------------------
def lead_feed(
    session: Session,
    *,
    scope: DealerScope,
    conditions: Sequence[ColumnElement[bool]],
    after: tuple[datetime, int] | None,
    limit: int,
) -> Sequence[Row[Lead, str | None, str | None]]:
    """Leads in `scope` matching `conditions`, oldest change first, keyset-paged after
    (updated_at, id): each with its dealer's code and its assignee's e-mail address."""
    stmt = (
        select(Lead, Dealer.code, StaffUser.email)
        .outerjoin(Dealer, Dealer.id == Lead.dealer_id)
        .outerjoin(StaffUser, StaffUser.id == Lead.assigned_user_id)
        .where(scope.where(Lead.dealer_id), *conditions)
    )
    if after is not None:
        at, lead_id = after
        stmt = stmt.where((Lead.updated_at > at) | ((Lead.updated_at == at) & (Lead.id > lead_id)))
    return session.execute(stmt.order_by(Lead.updated_at, Lead.id).limit(limit)).all()


def staff_id_by_email(session: Session, email: str) -> int | None:
    return session.scalar(select(StaffUser.id).where(StaffUser.email == email))


def configurations_of(
    session: Session, profile_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, list[Configuration]]:
    """Each profile's saved configurations, newest first."""
    found: dict[uuid.UUID, list[Configuration]] = {}
    if not profile_ids:
        return found
    for configuration in session.scalars(
        select(Configuration)
        .where(Configuration.profile_id.in_(list(profile_ids)))
        .order_by(Configuration.saved_at.desc(), Configuration.id.desc())
    ):
        found.setdefault(configuration.profile_id, []).append(configuration)
    return found
