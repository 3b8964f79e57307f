"""The demo showroom: staff to sign in as, and leads, appointments and handovers at work.

Runs after the demo customers are loaded. The leads themselves come from the customers' Quote
Requested and Test Drive Requested events (the ingest path makes them); this assigns them to
salespeople and moves them along the funnel through the same service functions staff use, with
today's appointments and handovers planned relative to `now` so the day's pages have content.
"""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from cdp.auth.staff import create_user
from cdp.db import make_sessionmaker, session_scope
from cdp.leads import appointments as appointment_service
from cdp.leads import deliveries as delivery_service
from cdp.leads import service as leads
from cdp.leads import stages as lead_stages
from cdp.local_time import local_start, local_today
from cdp.models import Appointment, Delivery, Lead, StaffUser

DEMO_PASSWORD = "demo-password"
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
    return [
        f"  {email:<26} {role:<10} password: {DEMO_PASSWORD}" for email, _name, role in DEMO_STAFF
    ]


def _staff(session: Session) -> dict[str, StaffUser]:
    users = {u.email: u for u in session.scalars(select(StaffUser))}
    for email, name, role in DEMO_STAFF:
        if email not in users:
            users[email] = create_user(
                session, email=email, role=role, name=name, password=DEMO_PASSWORD
            )
    return users


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
        users = _staff(session)
        sellers = [users["sales@demo.example"].id, users["sales2@demo.example"].id]
        specialist = users["delivery@demo.example"].id
        fresh = list(
            session.scalars(
                select(Lead)
                .where(Lead.assigned_user_id.is_(None), Lead.stage == "new")
                .order_by(Lead.id)
            )
        )
        today = local_today(now)
        # Leads older than three weeks have had their course: the funnel page shows how each
        # channel converted. The recent ones are today's work.
        settled = [lead for lead in fresh if lead.created_at < now - SETTLED_AFTER]
        fresh = [lead for lead in fresh if lead.created_at >= now - SETTLED_AFTER]
        closed = _settle(session, settled, rng, sellers=sellers, specialist=specialist, now=now)
        planned = sold = 0
        for index, lead in enumerate(fresh):
            seller = sellers[index % len(sellers)]
            leads.assign_lead(
                session, lead=lead, user_id=seller, by_user_id=None, reason=DEMO_REASON, now=now
            )
            roll = rng.random()
            if roll < 0.35:
                continue  # still new: the top of "my leads"
            leads.log_contact_attempt(
                session,
                lead=lead,
                method=rng.choice(("call", "call", "whatsapp", "email")),
                outcome="no_answer" if roll < 0.5 else "reached",
                by_user_id=seller,
                now=now,
            )
            if roll < 0.5:
                continue
            if roll < 0.75 and planned < 12:
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
                planned += 1
            elif roll < 0.85:
                lead_stages.change_stage(
                    session, lead=lead, to_stage="quote", by_user_id=seller, now=now
                )
            elif roll < 0.93 and sold < 6:
                lead_stages.change_stage(
                    session, lead=lead, to_stage="sold", by_user_id=seller, now=now
                )
                sold += 1
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
        _close_past_appointments(session, rng, now=now)
        for offset, delivery in enumerate(
            session.scalars(select(Delivery).where(Delivery.delivery_date.is_(None)))
        ):
            handover = _upcoming(today + timedelta(days=offset % 5), time(10 + offset % 6), now)
            delivery_service.schedule_delivery(
                session,
                delivery=delivery,
                delivery_date=local_today(handover),
                at=time(10 + offset % 6),
                specialist_user_id=specialist,
                by_user_id=specialist,
                now=now,
            )
    return (
        f"showroom: {len(DEMO_STAFF)} staff accounts, {len(fresh)} open leads assigned, "
        f"{planned} appointments planned, {sold} cars sold; {closed} earlier leads "
        "followed to their end"
    )


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
# Where online leads come from besides the brand's own site (the events only say "website"),
# and how each channel's leads end, near the norms dealers plan with (cdp.leads.funnel).
CHANNEL_MIX = (("website", 40), ("importer", 22), ("marketplace", 20), ("phone", 10),
               ("direct_mail", 4), ("referral", 4))  # fmt: skip
SALE_RATE = {"website": 0.21, "importer": 0.19, "marketplace": 0.12, "phone": 0.25,
             "direct_mail": 0.06, "referral": 0.35, "walk_in": 0.3}  # fmt: skip
LOST_REASONS_SEEN = (("bought_elsewhere", 3), ("price", 3), ("no_longer_interested", 3),
                     ("not_reachable", 2), ("stock_or_delivery_time", 2))  # fmt: skip


def _settle(
    session: Session,
    settled: list[Lead],
    rng: random.Random,
    *,
    sellers: list[int],
    specialist: int,
    now: datetime,
) -> int:
    """Follow each older lead to its end (sold and delivered, or lost), dated in its past."""
    channels = [channel for channel, _ in CHANNEL_MIX]
    weights = [weight for _, weight in CHANNEL_MIX]
    reasons = [reason for reason, _ in LOST_REASONS_SEEN]
    reason_weights = [weight for _, weight in LOST_REASONS_SEEN]
    for index, lead in enumerate(settled):
        seller = sellers[index % len(sellers)]
        if lead.channel == "website":
            lead.channel = rng.choices(channels, weights)[0]
        at = lead.created_at + timedelta(hours=rng.randint(1, 30))
        leads.assign_lead(
            session, lead=lead, user_id=seller, by_user_id=None, reason=DEMO_REASON, now=at
        )
        wins = rng.random() < SALE_RATE.get(lead.channel, 0.15)
        path = ["reached", "appointment", "test_drive", "quote"]
        if not wins:  # lost somewhere along the way, most often early
            path = [] if rng.random() < 0.3 else path[: rng.choice((1, 1, 2, 3, 4))]
        for stage in path:
            at += timedelta(days=rng.randint(1, 4))
            lead_stages.change_stage(session, lead=lead, to_stage=stage, by_user_id=seller, now=at)
        at += timedelta(days=rng.randint(1, 5))
        if wins:
            lead_stages.change_stage(session, lead=lead, to_stage="sold", by_user_id=seller, now=at)
            delivery = session.scalars(select(Delivery).where(Delivery.lead_id == lead.id)).one()
            handover = at + timedelta(days=rng.randint(7, 14))
            delivery_service.schedule_delivery(
                session,
                delivery=delivery,
                delivery_date=local_today(handover),
                at=time(11),
                specialist_user_id=specialist,
                by_user_id=specialist,
                now=at,
            )
            if handover < now:
                delivery_service.mark_delivered(
                    session, delivery=delivery, by_user_id=specialist, now=handover
                )
        else:
            reason = rng.choices(reasons, reason_weights)[0]
            detail = "Bought a competitor's car" if reason == "bought_elsewhere" else None
            lead_stages.change_stage(session, lead=lead, to_stage="lost", by_user_id=seller,
                               lost_reason=reason, lost_detail=detail, now=at)  # fmt: skip
    return len(settled)
