"""The demo showroom: staff to sign in as, and leads, appointments and handovers at work.

Runs after the demo customers are loaded. The leads themselves come from the customers' Quote
Requested and Test Drive Requested events (the ingest path makes them); this assigns them to
salespeople and moves them along the funnel through the same service functions staff use, with
today's appointments and handovers planned relative to `now` so the day's pages have content.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from cdp.auth.staff import create_user
from cdp.db import make_sessionmaker, session_scope
from cdp.dealers.service import FLOOR_ROLES
from cdp.demo import lead_year
from cdp.demo.dealers import (
    DEALER_ROLES,
    DEMO_DEALERS,
    AreaMap,
    ensure_dealers,
    staff_email,
    staff_name,
)
from cdp.demo.lead_course import habits_of
from cdp.demo.spend import seed_spend
from cdp.leads import appointments as appointment_service
from cdp.leads import deliveries as delivery_service
from cdp.leads import service as leads
from cdp.leads import stages as lead_stages
from cdp.leads import tally
from cdp.local_time import local_start, local_today
from cdp.models import (
    DEFAULT_DEALER_CODE,
    Appointment,
    Dealer,
    Delivery,
    Lead,
    ProfileSearch,
    StaffUser,
)

DEMO_PASSWORD = "demo-password"
# The README's accounts. Sales, reception and delivery work at the first dealer (Eindhoven);
# admin, manager and marketing at none: the importer's, they see the whole network.
# The reason the demo gives as it hands leads to the salespeople of its planned course.
DEMO_REASON = "Demo data: the planned course of this lead"
DEMO_STAFF = (
    ("admin@demo.example", "Anouk Admin", "admin"),
    ("manager@demo.example", "Marco Manager", "manager"),
    ("sales@demo.example", "Sanne Verkoop", "sales"),
    ("sales2@demo.example", "Daan Verkoop", "sales"),
    ("reception@demo.example", "Rik Receptie", "reception"),
    ("delivery@demo.example", "Dewi Aflevering", "delivery"),
    ("marketing@demo.example", "Mila Marketing", "marketing"),
)


def demo_staff_lines() -> list[str]:
    """How to sign in, for the console."""
    lines = [
        f"  {email:<26} {role:<10} password: {DEMO_PASSWORD}" for email, _name, role in DEMO_STAFF
    ]
    towns = ", ".join(demo.slug for demo in DEMO_DEALERS)
    lines.append(
        "  and at each dealer: manager.TOWN@, sales.TOWN@, sales2.TOWN@, reception.TOWN@, "
        f"delivery.TOWN@demo.example (TOWN: {towns}; in {DEMO_DEALERS[0].slug}, the accounts "
        "above and manager.eindhoven@)"
    )
    return lines


def _wanted_staff() -> list[tuple[str, str, str, tuple[str, ...]]]:
    """(e-mail, name, role, dealer codes) of every demo account."""
    first = DEMO_DEALERS[0].code
    wanted: list[tuple[str, str, str, tuple[str, ...]]] = [
        (email, name, role, (first,) if role in FLOOR_ROLES else ())
        for email, name, role in DEMO_STAFF
    ]
    for index, demo in enumerate(DEMO_DEALERS):
        for number, (local_part, role) in enumerate(DEALER_ROLES):
            if index == 0 and local_part != "manager":
                continue  # the first dealer's floor staff are the README's accounts
            email = staff_email(demo, local_part)
            wanted.append((email, staff_name(index, number), role, (demo.code,)))
    return wanted


def _staff(session: Session) -> dict[str, StaffUser]:
    users = {u.email: u for u in session.scalars(select(StaffUser))}
    # One password hash for all: hashing is slow on purpose, and the password is the same.
    password_hash = next((u.password_hash for u in users.values() if u.password_hash), None)
    for email, name, role, dealers in _wanted_staff():
        if email in users:
            continue
        user = create_user(
            session,
            email=email,
            role=role,
            name=name,
            password=None if password_hash else DEMO_PASSWORD,
            dealers=dealers,
        )
        password_hash = password_hash or user.password_hash
        user.password_hash = password_hash
        users[email] = user
    session.flush()
    return users


@dataclass
class _Floor:
    """Who works each dealer's leads: its salespeople in turn, and its delivery specialist."""

    sellers: dict[int, list[int]]
    specialists: dict[int, int]
    turns: dict[int, int] = field(default_factory=dict)

    @classmethod
    def of(cls, session: Session, users: dict[str, StaffUser]) -> _Floor:
        sellers: dict[int, list[int]] = {}
        specialists: dict[int, int] = {}
        dealer_ids = {d.code: d.id for d in session.scalars(select(Dealer))}
        for email, _name, role, codes in _wanted_staff():
            if not codes:
                continue
            dealer_id = dealer_ids[codes[0]]
            if role == "sales":
                sellers.setdefault(dealer_id, []).append(users[email].id)
            elif role == "delivery":
                specialists.setdefault(dealer_id, users[email].id)
        return cls(sellers=sellers, specialists=specialists)

    def seller(self, lead: Lead) -> int:
        assert lead.dealer_id is not None
        turn = self.turns.get(lead.dealer_id, 0)
        self.turns[lead.dealer_id] = turn + 1
        team = self.sellers[lead.dealer_id]
        return team[turn % len(team)]

    def specialist(self, lead: Lead) -> int:
        assert lead.dealer_id is not None
        return self.specialists[lead.dealer_id]


def _postal_codes(session: Session) -> dict[uuid.UUID, str | None]:
    rows = session.execute(select(ProfileSearch.profile_id, ProfileSearch.postal_code))
    return {profile_id: postal_code for profile_id, postal_code in rows}


def _route_by_postal_code(session: Session, leads: list[Lead], areas: AreaMap) -> list[Lead]:
    """Each new lead to the dealer serving its customer's postal code; the leads of customers
    without one (or outside every area) wait in the network's unassigned queue. Returns the
    leads that have a dealer."""
    postal = _postal_codes(session)
    for lead in leads:
        lead.dealer_id = areas.dealer_for(postal.get(lead.profile_id))
    session.flush()
    return [lead for lead in leads if lead.dealer_id is not None]


def _appointments_to_their_dealer(session: Session, areas: AreaMap) -> None:
    """Test drives requested online belong to their lead's dealer (or the customer's)."""
    lead_dealers = {
        lead_id: dealer for lead_id, dealer in session.execute(select(Lead.id, Lead.dealer_id))
    }
    postal = _postal_codes(session)
    for appointment in session.scalars(select(Appointment)):
        if appointment.lead_id is not None:
            appointment.dealer_id = lead_dealers.get(appointment.lead_id)
        else:
            appointment.dealer_id = areas.dealer_for(postal.get(appointment.profile_id))


def _retire_default_dealer(session: Session) -> None:
    """The default dealer every installation starts with holds nothing in the demo: it goes,
    so the network is the demo's dealers only (kept, if anything belongs to it)."""
    main = session.scalar(select(Dealer).where(Dealer.code == DEFAULT_DEALER_CODE))
    if main is None:
        return
    for table in Dealer.metadata.sorted_tables:
        column = table.c.get("dealer_id")
        if column is None:
            continue
        if session.execute(select(column).where(column == main.id).limit(1)).first():
            return
    session.delete(main)
    session.flush()


def _upcoming(day: date, at: time, now: datetime) -> datetime:
    """`at` on `day`, or on the first later day when that has passed: the demo is loaded at
    any time of day, and times in the past are refused (or would look stale)."""
    start = local_start(day, at)
    while start < now + timedelta(minutes=30):
        day += timedelta(days=1)
        start = local_start(day, at)
    return start


def _upcoming_slot(index: int, *, today: date, now: datetime) -> datetime:
    """The index-th demo appointment: spread over the next days in showroom hours."""
    at = time(9 + (index * 2) % 8, 30 if index % 3 else 0)
    return _upcoming(today + timedelta(days=index % 4), at, now)


def demo_staff_missing(engine: Engine) -> bool:
    """True until the showroom part of the demo is in (it is one transaction: all or nothing)."""
    with session_scope(make_sessionmaker(engine)) as session:
        email = DEMO_STAFF[0][0]
        return session.scalar(select(StaffUser.id).where(StaffUser.email == email)) is None


def seed_showroom(engine: Engine, *, seed: int, now: datetime) -> str:
    """Staff accounts and a working funnel; safe to run again (it only fills what is empty)."""
    rng = random.Random(seed)
    with session_scope(make_sessionmaker(engine)) as session:
        areas = AreaMap.of(ensure_dealers(session))
        users = _staff(session)
        floor = _Floor.of(session, users)
        waiting = list(
            session.scalars(
                select(Lead)
                .where(Lead.assigned_user_id.is_(None), Lead.stage == "new")
                .order_by(Lead.id)
            )
        )
        fresh = _route_by_postal_code(session, waiting, areas)
        queued = len(waiting) - len(fresh)
        today = local_today(now)
        codes = {d.id: d.code for d in session.scalars(select(Dealer))}
        lead_year.give_channels(rng, fresh)
        # Leads older than three weeks have had their course (up to now), and the months before
        # the customers' web history get theirs: the funnel and network pages show a year. The
        # recent ones are today's work.
        settled = [lead for lead in fresh if lead.created_at < now - SETTLED_AFTER]
        # In the order they came in, so both databases build the same demo from one seed.
        fresh = sorted(
            (lead for lead in fresh if lead.created_at >= now - SETTLED_AFTER),
            key=lambda lead: (lead.created_at, lead.id),
        )
        earlier = _earlier_leads(session, rng, areas, settled + fresh, now=now)
        closed = lead_year.follow(
            session, earlier + settled, rng, codes=codes, floor=floor, reason=DEMO_REASON, now=now
        )
        planned_at: dict[int | None, int] = {}
        sold_at: dict[int | None, int] = {}
        for lead in fresh:
            seller = floor.seller(lead)
            planned = planned_at.get(lead.dealer_id, 0)
            leads.assign_lead(
                session, lead=lead, user_id=seller, by_user_id=None, reason=DEMO_REASON, now=now
            )
            roll = rng.random()
            if lead.dealer_id not in planned_at:
                roll = 0.6  # each dealer's first: an appointment ahead, so Today has a visitor
            if roll < 0.35:
                continue  # still new: the top of "my leads"
            leads.log_contact_attempt(
                session,
                lead=lead,
                method=rng.choice(("call", "call", "whatsapp", "email")),
                outcome="no_answer" if roll < 0.5 else "reached",
                by_user_id=seller,
                now=_first_call(lead, rng, now, codes),
            )
            if roll < 0.5:
                continue
            if roll < 0.75 and planned < PLANNED_PER_DEALER:
                appointment_service.create_appointment(
                    session,
                    profile_id=lead.profile_id,
                    kind="test_drive" if planned % 2 else "visit",
                    starts_at=_upcoming_slot(planned, today=today, now=now),
                    user_id=seller,
                    created_by_user_id=seller,
                    model=lead.model,
                    lead_id=lead.id,
                    now=now,
                )
                planned_at[lead.dealer_id] = planned + 1
            elif roll < 0.85:
                lead_stages.change_stage(
                    session, lead=lead, to_stage="quote", by_user_id=seller, now=now
                )
            elif roll < 0.93 and sold_at.get(lead.dealer_id, 0) < SOLD_PER_DEALER:
                lead_stages.change_stage(
                    session, lead=lead, to_stage="sold", by_user_id=seller, now=now
                )
                sold_at[lead.dealer_id] = sold_at.get(lead.dealer_id, 0) + 1
            else:
                lead_stages.change_stage(
                    session,
                    lead=lead,
                    to_stage="lost",
                    by_user_id=seller,
                    lost_reason=rng.choice(
                        ("price", "stock_or_delivery_time", "no_longer_interested")
                    ),
                    now=now,
                )
        _appointments_to_their_dealer(session, areas)
        _close_past_appointments(session, rng, now=now)
        for offset, delivery in enumerate(
            session.scalars(select(Delivery).where(Delivery.delivery_date.is_(None)))
        ):
            sold_lead = session.get(Lead, delivery.lead_id)
            assert sold_lead is not None
            handover = _upcoming(today + timedelta(days=offset % 5), time(10 + offset % 6), now)
            delivery_service.schedule_delivery(
                session,
                delivery=delivery,
                delivery_date=local_today(handover),
                at=time(10 + offset % 6),
                specialist_user_id=floor.specialist(sold_lead),
                by_user_id=floor.specialist(sold_lead),
                now=now,
            )
        seed_spend(session, seed=seed, now=now)  # cdp/demo/spend.py: a year of it, and margins
        _retire_default_dealer(session)
        session.flush()
        # The year of leads just written, counted into the funnel's tally's day and month rows
        # now, not at the server's first periodic run (PostgreSQL).
        tally.settle(session)
    return (
        f"showroom: {len(DEMO_DEALERS)} dealers, {len(users)} staff accounts, {len(fresh)} open "
        f"leads assigned ({queued} without a dealer's postal code wait in the network's queue), "
        f"{sum(planned_at.values())} appointments planned, {sum(sold_at.values())} cars sold; "
        f"{closed} earlier leads over the year followed up to now"
    )


def _first_call(lead: Lead, rng: random.Random, now: datetime, codes: dict[int, str]) -> datetime:
    """When the lead was first called: some dealers call within minutes, others take hours
    (the network view's speed to lead differs per dealer: cdp.demo.lead_course.HABITS)."""
    typical = habits_of(codes.get(lead.dealer_id or 0)).first_contact_minutes
    delay = timedelta(minutes=rng.expovariate(1 / typical))
    return min(now, lead.created_at + delay)


def _close_past_appointments(session: Session, rng: random.Random, *, now: datetime) -> None:
    """Requested test drives whose day has passed happened, or did not: none stays planned."""
    past = session.scalars(
        select(Appointment).where(
            Appointment.status == "planned", Appointment.starts_at < now - timedelta(hours=2)
        )
    )
    for appointment in past:
        appointment.status = "showed" if rng.random() < 0.75 else "no_show"


SETTLED_AFTER = timedelta(days=21)
# Today's work at each dealer: appointments planned ahead and cars sold.
PLANNED_PER_DEALER = 4
SOLD_PER_DEALER = 2
# The demo's leads span this much time: the customers' web history, and before it, leads of
# the same customers in the seasons of car retail (cdp.demo.lead_year).
YEAR = timedelta(days=365)


def _earlier_leads(
    session: Session, rng: random.Random, areas: AreaMap, recent: list[Lead], *, now: datetime
) -> list[Lead]:
    """Leads of the year before the customers' first web visits, as many a day as came in
    since (on an average day), among the customers a dealer serves."""
    if not recent:
        return []
    history_starts = min(lead.created_at for lead in recent)
    days = max(1.0, (now - history_starts) / timedelta(days=1))
    customers = [
        (profile_id, dealer_id)
        for profile_id, postal_code in sorted(_postal_codes(session).items())
        if (dealer_id := areas.dealer_for(postal_code)) is not None
    ]
    return lead_year.earlier_leads(
        session,
        rng,
        customers=customers,
        start=now - YEAR,
        end=history_starts,
        per_day=len(recent) / days,
    )
