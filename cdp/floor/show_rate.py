"""The floor's daily figures per dealer, from the traffic log and the appointments: how many of
the day's appointments showed, walk-ins and be-backs, and how long visits lasted."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from sqlalchemy.orm import Session

from cdp.floor import repository
from cdp.floor.schemas import DayFigures
from cdp.local_time import local_start, local_today

DAYS = 14


def daily_figures(
    session: Session, *, dealer_id: int, now: datetime, days: int = DAYS
) -> list[DayFigures]:
    """The last `days` days (showroom time), today first. An appointment counts on the day it
    was planned for; cancelled ones do not count; a visit counts on the day it arrived, and its
    length (arrival to end) once it has ended."""
    today = local_today(now)
    first = today - timedelta(days=days - 1)
    start = local_start(first, time(0, 0))
    end = local_start(today + timedelta(days=1), time(0, 0))
    figures = {
        first + timedelta(days=n): DayFigures(day=first + timedelta(days=n)) for n in range(days)
    }

    def day_of(moment: datetime) -> DayFigures | None:
        return figures.get(local_today(moment))

    for starts_at, status in repository.floor_appointments_between(session, dealer_id, start, end):
        day = day_of(starts_at)
        if day is None or status == "cancelled":
            continue
        day.appointments += 1
        day.showed += status == "showed"
        day.no_show += status == "no_show"
    for visit in repository.visits_between(session, dealer_id, start, end):
        day = day_of(visit.arrived_at)
        if day is None:
            continue
        day.walk_ins += visit.kind == "walk_in"
        day.be_backs += visit.kind == "be_back"
        if visit.ended_at is not None:
            day.ended_minutes.append(int((visit.ended_at - visit.arrived_at).total_seconds() // 60))
    return [figures[day] for day in sorted(figures, reverse=True)]


def busiest(figures: list[DayFigures]) -> int:
    """The largest day's traffic and appointments, the scale of the page's bars (at least 1)."""
    return max([1, *(max(day.traffic, day.appointments) for day in figures)])


def day_label(day: date, today: date) -> str:
    if day == today:
        return "Today"
    if day == today - timedelta(days=1):
        return "Yesterday"
    return f"{day:%a %d-%m}"
