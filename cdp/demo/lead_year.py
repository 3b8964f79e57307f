"""The demo's year of leads: every lead older than a few weeks followed to where it got by now,
and the months before the customers' web history filled with the leads a dealer network has.

The customers' messages (cdp.demo.generator) cover the last months; their leads are the recent
part of the year. Before that, each month gets leads of the demo's customers in the seasons of
car retail (cdp.demo.lead_course.SEASON): a customer who enquired last spring and bought, or did
not, and is back configuring now. Every lead gets a channel, its campaigns (first and last touch)
and its course (`plan_course`), written in bulk: stage history, contact attempts, appointments,
assignments, and for sold cars the handover. Nothing here alerts anyone: it is history.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from datetime import datetime, time, timedelta
from typing import Any, Protocol

from sqlalchemy import insert
from sqlalchemy.orm import Session

from cdp.demo.lead_course import (
    SEASON,
    WEEKDAY,
    Course,
    habits_of,
    pick_channel,
    plan_course,
    touches,
)
from cdp.leads import progress
from cdp.leads import repository as lead_repo
from cdp.leads.handover import describe_car
from cdp.local_time import local_start, local_today, to_local
from cdp.models import Appointment, ContactAttempt, Delivery, Lead, LeadAssignment, LeadStageChange
from cdp.profiles.projection import refresh_search

MODELS = ("Aster", "Brio", "Cirrus", "Delta EV", "Estrel")


class Staffing(Protocol):
    """Who works a dealer's leads (cdp.demo.showroom's floor)."""

    def seller(self, lead: Lead) -> int: ...

    def specialist(self, lead: Lead) -> int: ...


def give_channels(rng: random.Random, leads: Sequence[Lead]) -> None:
    """Online leads from the events all say "website": give them the network's channel mix and
    the campaigns that brought them (walk-ins made on the floor stay walk-ins)."""
    for lead in leads:
        if lead.channel == "website":
            lead.channel = pick_channel(rng)
        lead.first_touch, lead.last_touch = touches(rng, lead.channel, local_today(lead.created_at))


def earlier_leads(
    session: Session,
    rng: random.Random,
    *,
    customers: Sequence[tuple[uuid.UUID, int]],
    start: datetime,
    end: datetime,
    per_day: float,
) -> list[Lead]:
    """Leads of the customers (profile, dealer) between start and end: `per_day` on an average
    day, more in spring, fewer in the summer holidays, December and at weekends."""
    if not customers or per_day <= 0:
        return []
    mean = sum(SEASON) / 12 * sum(WEEKDAY) / 7
    made: list[Lead] = []
    day = local_today(start)
    while (moment := local_start(day, time(0))) < end:
        expected = per_day * SEASON[day.month - 1] * WEEKDAY[day.weekday()] / mean
        count = int(expected) + (rng.random() < expected % 1)
        for _ in range(count):
            hour = rng.choice((8, 9, 10, 11, 12, 13, 14, 15, 16, 19, 20, 21))
            at = moment + timedelta(hours=hour, seconds=rng.randrange(3600))
            if not start <= at < end:
                continue
            profile_id, dealer_id = rng.choice(customers)
            channel = pick_channel(rng)
            first, last = touches(rng, channel, day)
            made.append(
                Lead(
                    dealer_id=dealer_id,
                    profile_id=profile_id,
                    channel=channel,
                    stage="new",
                    model=rng.choice(MODELS),
                    created_at=at,
                    updated_at=at,
                    first_touch=first,
                    last_touch=last,
                )
            )
        day += timedelta(days=1)
    session.add_all(made)
    session.flush()
    return made


def follow(
    session: Session,
    leads: Sequence[Lead],
    rng: random.Random,
    *,
    codes: dict[int, str],
    floor: Staffing,
    reason: str,
    now: datetime,
) -> int:
    """Each lead's course up to now (`plan_course`, with its dealer's habits), written in bulk.
    `codes`: dealer codes by id. Returns how many leads were followed."""
    stages: list[dict[str, Any]] = []
    attempts: list[dict[str, Any]] = []
    appointments: list[dict[str, Any]] = []
    assignments: list[dict[str, Any]] = []
    sold: list[tuple[Lead, Course, int]] = []
    courses: list[tuple[Lead, Course]] = []
    for lead in leads:
        assert lead.dealer_id is not None
        course = plan_course(
            rng,
            channel=lead.channel,
            created_at=lead.created_at,
            habits=habits_of(codes.get(lead.dealer_id)),
            now=now,
        )
        courses.append((lead, course))
    _car_waiting_at_each_dealer(courses, now)
    for lead, course in courses:
        seller = floor.seller(lead)
        assigned_at = lead.created_at + timedelta(seconds=rng.randint(5, 90))
        assignments.append(
            {"lead_id": lead.id, "dealer_id": lead.dealer_id, "from_user_id": None,
             "to_user_id": seller, "by_user_id": None, "rule": "chosen", "reason": reason,
             "warning": None, "assigned_at": assigned_at}
        )  # fmt: skip
        previous = "new"
        for at, to_stage, lost_reason in course.stages:
            stages.append(
                {"lead_id": lead.id, "from_stage": previous, "to_stage": to_stage,
                 "lost_reason": lost_reason, "changed_by_user_id": seller, "changed_at": at}
            )  # fmt: skip
            previous = to_stage
        for at, method, outcome in course.attempts:
            attempts.append(
                {"dealer_id": lead.dealer_id, "lead_id": lead.id, "profile_id": lead.profile_id,
                 "user_id": seller, "method": method, "outcome": outcome, "attempted_at": at}
            )  # fmt: skip
        for starts, kind, status, booked in course.appointments:
            appointments.append(
                {"dealer_id": lead.dealer_id, "profile_id": lead.profile_id, "lead_id": lead.id,
                 "user_id": seller, "kind": kind, "status": status, "starts_at": starts,
                 "model": lead.model, "created_by_user_id": seller,
                 "created_at": booked}
            )  # fmt: skip
        lead.stage = course.stage
        lead.lost_reason = course.lost_reason
        lead.lost_detail = course.lost_detail
        lead.assigned_user_id = seller
        lead.updated_at = course.updated_at or assigned_at
        if course.stage in ("sold", "delivered"):
            sold.append((lead, course, floor.specialist(lead)))
    session.flush()
    for model, rows in ((LeadAssignment, assignments), (LeadStageChange, stages),
                        (ContactAttempt, attempts), (Appointment, appointments)):  # fmt: skip
        if rows:
            session.execute(insert(model), rows)
    _handovers(session, sold, now)
    progress.refresh_leads(session, [lead.id for lead in leads])
    refresh_search(session, {lead.profile_id for lead in leads})
    return len(leads)


def _car_waiting_at_each_dealer(courses: list[tuple[Lead, Course]], now: datetime) -> None:
    """Every dealer that sold a car has one waiting for its handover (Delivery has work on the
    first start, whatever the hour the demo is loaded): where none is ahead, the latest car
    handed over is handed over the next working day at 11:00 instead."""
    waiting = {lead.dealer_id for lead, course in courses if course.stage == "sold"}
    latest: dict[int, Course] = {}
    for lead, course in courses:
        if lead.dealer_id in waiting or course.stage != "delivered" or lead.dealer_id is None:
            continue
        handed = latest.get(lead.dealer_id)
        if handed is None or (course.handover or now) > (handed.handover or now):
            latest[lead.dealer_id] = course
    day = to_local(now).date() + timedelta(days=1)
    while day.weekday() >= 5:  # the showroom hands over on weekdays
        day += timedelta(days=1)
    for course in latest.values():
        course.stages = course.stages[:-1]  # sold, not yet delivered
        course.handover = local_start(day, time(11))


def _handovers(session: Session, sold: list[tuple[Lead, Course, int]], now: datetime) -> None:
    """The delivery of each car sold: handed over (its appointment showed), or planned."""
    deliveries: list[dict[str, Any]] = []
    appointments: list[dict[str, Any]] = []
    for lead, course, specialist in sold:
        assert course.handover is not None
        sold_at = next(at for at, stage, _ in course.stages if stage == "sold")
        configuration = lead_repo.configuration_for_sale(session, lead.profile_id, lead.model)
        car = describe_car(configuration, lead.model)
        done = course.handover <= now
        deliveries.append(
            {"dealer_id": lead.dealer_id, "profile_id": lead.profile_id, "lead_id": lead.id,
             "specialist_user_id": specialist, "delivery_date": to_local(course.handover).date(),
             "car": car, "configuration_code": configuration.code if configuration else None,
             "price": configuration.total_price if configuration else None,
             "status": "delivered" if done else "scheduled", "created_at": sold_at,
             "delivered_at": course.handover if done else None}
        )  # fmt: skip
        appointments.append(
            {"dealer_id": lead.dealer_id, "profile_id": lead.profile_id, "lead_id": lead.id,
             "user_id": specialist, "kind": "delivery", "status": "showed" if done else "planned",
             "starts_at": course.handover, "model": (car or "")[:200] or None,
             "note": f"Handover of {car}" if car else "Handover",
             "created_by_user_id": specialist, "created_at": sold_at}
        )  # fmt: skip
    if deliveries:
        session.execute(insert(Delivery), deliveries)
        session.execute(insert(Appointment), appointments)
