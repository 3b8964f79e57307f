"""Checking arrivals in on the showroom floor, handing each to a salesperson, ending visits, and
making a walk-in a lead. Every function checks all of its input before it changes anything,
flushes, and leaves the commit to the caller. A visit or appointment of a dealer the caller
does not work at is NotFound, as if it did not exist (cdp/dealers/visibility.py)."""

from __future__ import annotations

import uuid
from datetime import datetime, time, timedelta

from sqlalchemy.orm import Session

from cdp.auth.permissions import Permission
from cdp.dealers.visibility import DealerScope
from cdp.errors import Conflict, InvalidInput, NotFound
from cdp.floor import repository
from cdp.floor.rotation import salespeople_up
from cdp.floor.schemas import Arrival, Choice, Proposal, VisitLine
from cdp.ids import MAX_ROW_ID
from cdp.leads import appointments as appointment_service
from cdp.leads import repository as leads_repo
from cdp.leads.checks import checked_text, live_profile_or_not_found, roles_with
from cdp.leads.service import create_lead
from cdp.local_time import local_start, local_today, to_local
from cdp.models import (
    VISIT_KINDS,
    VISIT_OUTCOMES,
    Appointment,
    Dealer,
    ShowroomVisit,
    utcnow,
)

MAX_VISITOR_NAME = 200


# --- which dealer's floor -------------------------------------------------------------------
def floor_dealers(session: Session, scope: DealerScope) -> list[Dealer]:
    """The active dealers whose floor the caller may run: their own, or any for the network."""
    return list(repository.active_dealers(session, scope.dealer_ids))


def dealer_of_floor(session: Session, scope: DealerScope, dealer_id: int | None) -> Dealer:
    """The dealer asked for (None: the caller's first), if the caller may run its floor."""
    dealers = floor_dealers(session, scope)
    if not dealers:
        raise NotFound("You work at no active dealer, so there is no floor to show.")
    if dealer_id is None:
        return dealers[0]
    for dealer in dealers:
        if dealer.id == dealer_id:
            return dealer
    raise NotFound("There is no dealer with this link.", field="dealer")


def visit_in_scope(session: Session, scope: DealerScope, visit_id: int) -> ShowroomVisit:
    found = repository.visit(session, visit_id, for_update=True) if visit_id <= MAX_ROW_ID else None
    if found is None or not scope.sees(found.dealer_id):
        raise NotFound("There is no visit with this link.", field="visit_id")
    return found


def appointment_in_scope(session: Session, scope: DealerScope, appointment_id: int) -> Appointment:
    found = (
        leads_repo.appointment(session, appointment_id) if appointment_id <= MAX_ROW_ID else None
    )
    if found is None or not scope.sees(found.dealer_id):
        raise NotFound("There is no appointment with this link.", field="appointment_id")
    return found


# --- who arrives, and who takes them ----------------------------------------------------------
def _today_bounds(now: datetime) -> tuple[datetime, datetime]:
    today = local_today(now)
    return local_start(today, time(0, 0)), local_start(today + timedelta(days=1), time(0, 0))


def expected_today(session: Session, *, dealer_id: int, now: datetime) -> list[Arrival]:
    """The dealer's visits and test drives of today (showroom time) not yet arrived."""
    start, end = _today_bounds(now)
    planned = repository.planned_floor_appointments(session, dealer_id, start, end)
    names = leads_repo.profile_names(session, {a.profile_id for a in planned})
    return [
        Arrival(
            kind="appointment",
            profile_id=appointment.profile_id,
            name=names.get(appointment.profile_id),
            appointment=appointment,
        )
        for appointment in planned
    ]


def arrival(
    session: Session,
    *,
    dealer: Dealer,
    kind: str,
    appointment_id: int | None,
    profile_id: uuid.UUID | None,
    visitor_name: str | None,
    now: datetime,
) -> Arrival:
    """Who is being checked in, checked: InvalidInput or NotFound naming what is wrong."""
    if kind not in VISIT_KINDS:
        raise InvalidInput("Choose appointment, walk-in or be-back.", field="kind")
    if kind == "appointment":
        if appointment_id is None:
            raise InvalidInput("Choose the appointment from today's list.", field="appointment_id")
        appointment = leads_repo.appointment(session, appointment_id)
        if appointment is None or appointment.dealer_id != dealer.id:
            raise NotFound("There is no appointment with this link.", field="appointment_id")
        _check_arrivable(appointment, now=now)
        name = leads_repo.profile_names(session, {appointment.profile_id}).get(
            appointment.profile_id
        )
        _not_on_floor(session, dealer.id, appointment.profile_id)
        return Arrival(kind, appointment.profile_id, name, appointment=appointment)
    clean_name = checked_text(
        visitor_name, limit=MAX_VISITOR_NAME, field="visitor_name", label="The name"
    )
    if profile_id is None:
        if kind == "be_back":
            raise InvalidInput(
                "A be-back is a known customer: find them with the search first.",
                field="profile_id",
            )
        return Arrival(kind, None, clean_name, visitor_name=clean_name)
    profile = live_profile_or_not_found(session, profile_id)
    _not_on_floor(session, dealer.id, profile.id)
    name = leads_repo.profile_names(session, {profile.id}).get(profile.id)
    return Arrival(kind, profile.id, name or clean_name, visitor_name=clean_name)


def _check_arrivable(appointment: Appointment, *, now: datetime) -> None:
    if appointment.kind not in repository.FLOOR_APPOINTMENT_KINDS:
        raise InvalidInput(
            "A delivery is received by the handover team, not checked in on the floor.",
            field="appointment_id",
        )
    if appointment.status != "planned":
        status = {"showed": "has arrived already", "no_show": "was marked no show"}.get(
            appointment.status, "was cancelled"
        )
        raise InvalidInput(f"This appointment {status}.", field="appointment_id")
    if local_today(appointment.starts_at) != local_today(now):
        raise InvalidInput(
            f"This appointment is on {to_local(appointment.starts_at):%d-%m-%Y}, not today: "
            "check them in as a be-back.",
            field="appointment_id",
        )


def _not_on_floor(session: Session, dealer_id: int, profile_id: uuid.UUID) -> None:
    on_floor = repository.visit_in_progress_of(session, dealer_id, profile_id)
    if on_floor is not None:
        raise Conflict(
            f"This customer is on the floor already (since "
            f"{to_local(on_floor.arrived_at):%H:%M}): end that visit first.",
            field="profile_id",
        )


def salesperson_choices(session: Session, *, dealer_id: int) -> list[Choice]:
    """Everyone at the dealer who may take a customer: the rotation first, in its order, then
    those busy or outside it."""
    up = salespeople_up(session, dealer_id=dealer_id)
    rank = {person.user_id: index for index, person in enumerate(up, start=1)}
    people = repository.staff_at_dealer(session, dealer_id, roles_with(Permission.LEADS))
    busy = repository.busy_with(session, [person.id for person in people])
    choices = [
        Choice(
            user_id=person.id,
            name=person.name,
            busy_since=(
                busy[person.id].started_with_salesperson_at or busy[person.id].arrived_at
                if person.id in busy
                else None
            ),
            up_rank=rank.get(person.id),
        )
        for person in people
    ]
    return sorted(choices, key=lambda c: (c.up_rank is None, c.up_rank or 0, c.name, c.user_id))


def propose(session: Session, *, dealer_id: int, arrival: Arrival) -> Proposal:
    """The customer's own salesperson (their appointment's, else the assignee of their open lead
    at this dealer) if they still work here; otherwise the salesperson who is up."""
    choices = salesperson_choices(session, dealer_id=dealer_id)
    here = {choice.user_id for choice in choices}
    own: int | None = None
    if arrival.appointment is not None and arrival.appointment.user_id in here:
        own = arrival.appointment.user_id
    elif arrival.profile_id is not None:
        lead = repository.open_lead_at_dealer(session, dealer_id, arrival.profile_id)
        if lead is not None and lead.assigned_user_id in here:
            own = lead.assigned_user_id
    if own is not None:
        return Proposal(user_id=own, reason="own", choices=choices)
    first_up = next((choice.user_id for choice in choices if choice.up_rank == 1), None)
    return Proposal(
        user_id=first_up, reason="up" if first_up is not None else "none", choices=choices
    )


# --- checking in, ending, a lead ---------------------------------------------------------------
def check_in(
    session: Session,
    *,
    dealer: Dealer,
    arrival: Arrival,
    salesperson_user_id: int | None,
    by_user_id: int,
    now: datetime | None = None,
) -> ShowroomVisit:
    """Log the arrival and hand it to the salesperson; an appointment is marked showed through
    the appointment rules (its lead moves on, and whoever listens to the change hears it)."""
    now = now or utcnow()
    if salesperson_user_id is None:
        raise InvalidInput("Choose the salesperson who takes the customer.", field="salesperson")
    if salesperson_user_id not in {
        choice.user_id for choice in salesperson_choices(session, dealer_id=dealer.id)
    }:
        raise InvalidInput(
            "Choose a salesperson of this dealer from the list.", field="salesperson"
        )
    lead_id: int | None = None
    if arrival.appointment is not None:
        appointment_service.set_appointment_status(
            session,
            appointment=arrival.appointment,
            status="showed",
            by_user_id=by_user_id,
            now=now,
        )
        lead_id = arrival.appointment.lead_id
    elif arrival.profile_id is not None:
        lead = repository.open_lead_at_dealer(session, dealer.id, arrival.profile_id)
        lead_id = lead.id if lead is not None else None
    visit = ShowroomVisit(
        dealer_id=dealer.id,
        profile_id=arrival.profile_id,
        visitor_name=arrival.visitor_name,
        appointment_id=arrival.appointment.id if arrival.appointment is not None else None,
        lead_id=lead_id,
        kind=arrival.kind,
        salesperson_user_id=salesperson_user_id,
        checked_in_by_user_id=by_user_id,
        arrived_at=now,
        started_with_salesperson_at=now,
    )
    session.add(visit)
    session.flush()
    return visit


def end_visit(
    session: Session,
    *,
    visit: ShowroomVisit,
    outcome: str | None,
    note: str | None,
    by_user_id: int,
    now: datetime | None = None,
) -> ShowroomVisit:
    now = now or utcnow()
    if visit.ended_at is not None:
        raise InvalidInput(
            f"This visit ended at {to_local(visit.ended_at):%H:%M} already.", field="outcome"
        )
    if outcome and outcome not in VISIT_OUTCOMES:
        raise InvalidInput("Choose how the visit ended from the list.", field="outcome")
    visit.note = checked_text(note, limit=2000, field="note", label="The note")
    visit.outcome = outcome or None
    visit.ended_at = max(now, visit.arrived_at)
    visit.ended_by_user_id = by_user_id
    session.flush()
    return visit


def make_walk_in_lead(
    session: Session, *, visit: ShowroomVisit, by_user_id: int, now: datetime | None = None
) -> int:
    """A lead for the visit's customer at the visit's dealer, assigned to the visit's
    salesperson, through the one lead-making rule; returns its id. Its channel is the visit's:
    be-back for a known customer back without an appointment, else walk-in."""
    now = now or utcnow()
    if visit.profile_id is None:
        raise InvalidInput(
            "This walk-in is not a known customer yet: find them with the search, or take their "
            "details on the tablet, first.",
            field="profile_id",
        )
    existing = repository.open_lead_at_dealer(session, visit.dealer_id, visit.profile_id)
    if existing is not None:
        raise Conflict("This customer has an open lead at this dealer already.", field="lead")
    lead = create_lead(
        session,
        profile_id=visit.profile_id,
        channel="be_back" if visit.kind == "be_back" else "walk_in",
        created_by_user_id=by_user_id,
        assigned_user_id=visit.salesperson_user_id,
        now=now,
    )
    # The lead is this floor's, whichever dealers its salesperson also works at.
    lead.dealer_id = visit.dealer_id
    visit.lead_id = lead.id
    session.flush()
    return lead.id


def link_customer(session: Session, *, visit: ShowroomVisit, profile_id: uuid.UUID) -> None:
    """An anonymous walk-in turns out to be this customer."""
    if visit.profile_id is not None:
        raise InvalidInput("This visit has its customer already.", field="profile_id")
    profile = live_profile_or_not_found(session, profile_id)
    if visit.ended_at is None:
        _not_on_floor(session, visit.dealer_id, profile.id)
    visit.profile_id = profile.id
    session.flush()


# --- what the page lists ---------------------------------------------------------------------
def _lines(session: Session, visits: list[ShowroomVisit], now: datetime) -> list[VisitLine]:
    names = leads_repo.profile_names(session, {v.profile_id for v in visits if v.profile_id})
    people = leads_repo.staff_names(
        session, {v.salesperson_user_id for v in visits if v.salesperson_user_id}
    )
    open_leads = {
        v.id
        for v in visits
        if v.profile_id is not None
        and repository.open_lead_at_dealer(session, v.dealer_id, v.profile_id) is not None
    }
    return [
        VisitLine(
            visit=v,
            name=names.get(v.profile_id) if v.profile_id else v.visitor_name,
            salesperson=people.get(v.salesperson_user_id or 0),
            minutes=max(0, int(((v.ended_at or now) - v.arrived_at).total_seconds() // 60)),
            has_open_lead=v.id in open_leads,
        )
        for v in visits
    ]


def on_the_floor(session: Session, *, dealer_id: int, now: datetime) -> list[VisitLine]:
    return _lines(session, list(repository.visits_in_progress(session, dealer_id)), now)


def visits_today(session: Session, *, dealer_id: int, now: datetime) -> list[VisitLine]:
    start, end = _today_bounds(now)
    return _lines(session, list(repository.visits_between(session, dealer_id, start, end)), now)


def visit_line(session: Session, visit: ShowroomVisit, *, now: datetime) -> VisitLine:
    return _lines(session, [visit], now)[0]
