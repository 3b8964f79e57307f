"""Appointments (visits, test drives, deliveries) and today's expected visitors with what they
configured and how keen they look. Every function flushes; the caller commits."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, time, timedelta

from sqlalchemy.orm import Session

from cdp.alerts import service as alerts
from cdp.auth.permissions import Permission
from cdp.dealers.service import acting_dealer_id
from cdp.dealers.visibility import NETWORK, DealerScope
from cdp.errors import InvalidInput, NotFound
from cdp.leads import repository as repo
from cdp.leads.checks import (
    check_time,
    checked_text,
    live_profile_or_not_found,
    roles_with,
    staff_member,
)
from cdp.leads.dealer_staff import check_works_for, choice_lists
from cdp.leads.labels import OPTIONS
from cdp.leads.schemas import ConfigurationGlance, Visitor, VisitorDay
from cdp.leads.stages import (
    change_stage,
)
from cdp.local_time import local_start, local_today, to_local
from cdp.models import (
    APPOINTMENT_KINDS,
    APPOINTMENT_STATUSES,
    Appointment,
    Configuration,
    Dealer,
    Lead,
    StaffUser,
    utcnow,
)
from cdp.taxonomy import (
    CONFIGURATION_LOADED,
    FINANCE_CALCULATED,
    QUOTE_REQUESTED,
    TEST_DRIVE_REQUESTED,
    TRADE_IN_VALUED,
)

# The same signals as the customer page (showroom.customer_view.intent_signals), from counts.
INTENT_EVENTS = (
    (FINANCE_CALCULATED, "Finance calculated"),
    (TRADE_IN_VALUED, "Trade-in valued"),
    (QUOTE_REQUESTED, "Quote requested"),
    (TEST_DRIVE_REQUESTED, "Test drive requested"),
    (CONFIGURATION_LOADED, "Reopened a saved configuration"),
)

# Who receives visitors: salespeople and the delivery team (and managers, admins).
HOST_PERMISSIONS = (Permission.LEADS, Permission.DELIVERIES)


def _move_forward(
    session: Session,
    lead: Lead | None,
    *,
    to_stage: str,
    before: Sequence[str],
    by_user_id: int | None,
    now: datetime,
) -> None:
    """Advance a lead along the funnel when what happened implies it; never move it back."""
    if lead is not None and lead.stage in before:
        change_stage(session, lead=lead, to_stage=to_stage, by_user_id=by_user_id, now=now)


def _open_lead(session: Session, profile_id: uuid.UUID, scope: DealerScope) -> Lead | None:
    """The open lead a new appointment of this customer attaches to: at the planner's dealers."""
    return repo.open_leads_by_profile(session, [profile_id], scope).get(profile_id)


def _dealer_of(session: Session, lead: Lead | None, planner_id: int | None) -> int | None:
    """A new appointment's dealer: its lead's (None: the network's unassigned queue), else the
    planner's (cdp/dealers/service.py acting_dealer_id)."""
    return lead.dealer_id if lead else acting_dealer_id(session, planner_id)


def _not_their_appointment(dealer: Dealer | None) -> str:
    if dealer is None:  # the network's: its lead is in the unassigned queue
        return (
            "This appointment belongs to no dealer (it is the network's), and only the "
            "importer's staff see those: choose one of them from the list."
        )
    return (
        f"That person does not work at {dealer.name}, so they would not see this "
        f"appointment: choose someone of {dealer.name} from the list."
    )


def check_host(session: Session, user_id: int, dealer_id: int | None) -> StaffUser:
    """Who receives the visitor of an appointment of this dealer: an active staff member whose
    role hosts appointments (salespeople, the delivery team, managers, admins) and who works at
    that dealer (cdp/leads/dealer_staff), else InvalidInput. Staff of another dealer would not
    see the appointment."""
    member = staff_member(
        session, user_id, *HOST_PERMISSIONS, field="user_id", what="who receives them"
    )
    return check_works_for(
        session, member, dealer_id, field="user_id", refusal=_not_their_appointment
    )


def host_choices(
    session: Session,
    *,
    profile_id: uuid.UUID,
    planner_id: int | None,
    scope: DealerScope,
    chosen: int | None = None,
) -> list[tuple[int, str]]:
    """Who may receive the visitor of an appointment `planner_id` plans for this customer now:
    the hosts who work at the dealer it would belong to (check_host's rule), by name. `chosen`
    (what a refused form asked for) stays on the list, said not to qualify, if it does not."""
    dealer_id = _dealer_of(session, _open_lead(session, profile_id, scope), planner_id)
    return choice_lists(
        session,
        roles_with(*HOST_PERMISSIONS),
        [(profile_id, dealer_id, chosen)],
        unfit="cannot receive this appointment",
    )[profile_id]


def create_appointment(
    session: Session,
    *,
    profile_id: uuid.UUID,
    kind: str,
    starts_at: datetime | None,
    user_id: int | None,
    created_by_user_id: int | None,
    model: str | None = None,
    note: str | None = None,
    lead_id: int | None = None,
    now: datetime | None = None,
    scope: DealerScope = NETWORK,
) -> Appointment:
    """Plan a visit, test drive or delivery. A planned visit or test drive moves the customer's
    open lead (new, attempted or reached) at the planner's dealers (`scope`) to appointment."""
    now = now or utcnow()
    profile = live_profile_or_not_found(session, profile_id)
    if kind not in APPOINTMENT_KINDS:
        raise InvalidInput("Choose a visit, a test drive or a delivery.", field="kind")
    if starts_at is None:
        raise InvalidInput("Pick the day of the appointment.", field="starts_at")
    check_time(starts_at, now=now, field="starts_at")
    lead: Lead | None
    if lead_id is not None:
        lead = repo.lead(session, lead_id)
        if lead is None or lead.profile_id != profile.id or not scope.sees(lead.dealer_id):
            raise InvalidInput("That lead is not this customer's.", field="lead_id")
    else:
        lead = _open_lead(session, profile.id, scope)
    dealer_id = _dealer_of(session, lead, created_by_user_id)
    if user_id is not None:
        check_host(session, user_id, dealer_id)
    clean_model = checked_text(model, limit=200, field="model", label="The model")
    clean_note = checked_text(note, limit=2000, field="note", label="The note")
    appointment = Appointment(
        dealer_id=dealer_id,
        profile_id=profile.id,
        lead_id=lead.id if lead else None,
        user_id=user_id,
        kind=kind,
        status="planned",
        starts_at=starts_at,
        model=clean_model or (lead.model if lead else None),
        note=clean_note,
        created_by_user_id=created_by_user_id,
        created_at=now,
    )
    session.add(appointment)
    session.flush()
    alerts.test_drive_booked(session, appointment, lead=lead, by_user_id=created_by_user_id)
    if kind in ("visit", "test_drive"):
        _move_forward(
            session,
            lead,
            to_stage="appointment",
            before=("new", "attempted", "reached"),
            by_user_id=created_by_user_id,
            now=now,
        )
    return appointment


def get_appointment(session: Session, appointment_id: int) -> Appointment:
    appointment = repo.appointment(session, appointment_id)
    if appointment is None:
        raise NotFound("There is no appointment with this link.", field="appointment_id")
    return appointment


def customer_name(session: Session, appointment: Appointment) -> str | None:
    return repo.profile_names(session, {appointment.profile_id}).get(appointment.profile_id)


def set_appointment_status(
    session: Session,
    *,
    appointment: Appointment,
    status: str,
    by_user_id: int | None,
    now: datetime | None = None,
) -> Appointment:
    """Arrived (showed), no show, cancelled, or back to planned. A customer who showed up for a
    test drive moves their lead to test drive."""
    now = now or utcnow()
    if status not in APPOINTMENT_STATUSES:
        raise InvalidInput("Choose arrived, no show or cancelled.", field="status")
    if status == appointment.status:
        raise InvalidInput(
            f"The appointment is already {OPTIONS.label('status', status).lower()}.",
            field="status",
        )
    if status in ("showed", "no_show") and local_today(appointment.starts_at) > local_today(now):
        raise InvalidInput(
            "This visit is on a later day: mark it arrived or no show on the day itself.",
            field="status",
        )
    appointment.status = status
    session.flush()
    lead = repo.lead(session, appointment.lead_id) if appointment.lead_id is not None else None
    if status == "showed":
        alerts.checked_in(session, appointment, lead=lead, by_user_id=by_user_id)
    if status == "showed" and lead is not None:
        if appointment.kind == "test_drive":
            _move_forward(
                session,
                lead,
                to_stage="test_drive",
                before=("new", "attempted", "reached", "appointment"),
                by_user_id=by_user_id,
                now=now,
            )
        elif appointment.kind == "visit":
            _move_forward(
                session,
                lead,
                to_stage="appointment",
                before=("new", "attempted", "reached"),
                by_user_id=by_user_id,
                now=now,
            )
    return appointment


def _glance(configuration: Configuration | None) -> ConfigurationGlance | None:
    if configuration is None:
        return None
    return ConfigurationGlance(
        code=configuration.code,
        model=configuration.model,
        trim=configuration.trim,
        colour=configuration.colour,
        colour_hex=configuration.colour_hex,
        total_price=configuration.total_price,
    )


def _signals(
    configuration: Configuration | None, counts: dict[str, int], showroom: bool
) -> list[tuple[str, str]]:
    signals: list[tuple[str, str]] = []
    if configuration is not None:
        signals.append(
            (
                "Saved configuration",
                f"{configuration.model or 'a car'} saved "
                f"{to_local(configuration.saved_at):%d-%m-%Y} ({configuration.code})",
            )
        )
    for event, label in INTENT_EVENTS:
        if counts.get(event):
            times = "once" if counts[event] == 1 else f"{counts[event]} times"
            signals.append((label, f"{times} in the configurator"))
    if showroom:
        signals.append(("Visited the showroom", "configured on a showroom tablet"))
    return signals


def expected_visitors(
    session: Session,
    *,
    now: datetime,
    days: int = 7,
    user_id: int | None = None,
    scope: DealerScope = NETWORK,
) -> list[VisitorDay]:
    """Appointments from the start of today (showroom time) for `days` days, grouped by day,
    each with the customer's latest configuration and intent signals: a few queries in all."""
    today = local_today(now)
    start = local_start(today, time(0, 0))
    end = local_start(today + timedelta(days=days), time(0, 0))
    appointments = repo.appointments_between(session, start, end, user_id=user_id, scope=scope)
    ids = {a.profile_id for a in appointments}
    names = repo.profile_names(session, ids)
    configurations = repo.latest_configurations(session, ids)
    counts = repo.event_counts(session, ids, [event for event, _ in INTENT_EVENTS])
    showroom = repo.profiles_seen_in(session, ids, "showroom")
    people = repo.staff_names(session, {a.user_id for a in appointments if a.user_id})
    leads = repo.leads_by_id(session, {a.lead_id for a in appointments if a.lead_id})
    grouped = [
        VisitorDay(
            day=today + timedelta(days=offset),
            label="Today" if offset == 0 else "Tomorrow" if offset == 1 else "",
        )
        for offset in range(days)
    ]
    for day in grouped:
        if not day.label:
            day.label = f"{day.day:%A}"
    by_day = {day.day: day for day in grouped}
    for appointment in appointments:
        local = to_local(appointment.starts_at)
        configuration = configurations.get(appointment.profile_id)
        by_day[local.date()].visitors.append(
            Visitor(
                appointment=appointment,
                starts_local=local,
                name=names.get(appointment.profile_id),
                person=people.get(appointment.user_id or 0),
                configuration=_glance(configuration),
                signals=_signals(
                    configuration,
                    counts.get(appointment.profile_id, {}),
                    appointment.profile_id in showroom,
                ),
                lead=leads.get(appointment.lead_id or 0),
            )
        )
    return grouped
