"""The demo's year of leads: channels, campaigns, seasons, and each dealer's own way of working
its leads, counted here from the stored rows (and from many planned courses), not through the
funnel's queries."""

from __future__ import annotations

import random
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, select, text

from cdp.db import make_engine, make_sessionmaker, session_scope
from cdp.demo.campaigns import DEMO_CAMPAIGNS
from cdp.demo.lead_course import HABITS, SALE_RATE, Course, plan_course
from cdp.demo.loader import load_demo
from cdp.demo.showroom import seed_showroom
from cdp.local_time import to_local
from cdp.migrate import upgrade
from cdp.models import (
    LEAD_CHANNELS,
    Appointment,
    ContactAttempt,
    Dealer,
    Delivery,
    Lead,
    LeadStageChange,
    utcnow,
)
from tests.helpers import PG_ADMIN_URL, fresh_database_url

CUSTOMERS = 150
SEED = 5
NOW = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)


def _planned(code: str, channel: str, count: int = 4000) -> list[tuple[datetime, Course]]:
    """(created at, course) of `count` leads of a dealer and channel, in the 300 days before
    the last 100 (so every course has ended)."""
    rng = random.Random(f"{code}-{channel}")
    start = NOW - timedelta(days=400)
    found = []
    for _ in range(count):
        created_at = start + timedelta(minutes=rng.randrange(300 * 24 * 60))
        course = plan_course(
            rng, channel=channel, created_at=created_at, habits=HABITS[code], now=NOW
        )
        found.append((created_at, course))
    return found


def _courses(code: str, channel: str, count: int = 4000) -> list[Course]:
    return [course for _, course in _planned(code, channel, count)]


@pytest.mark.parametrize("channel", ["website", "marketplace", "phone", "direct_mail", "walk_in"])
def test_each_channel_sells_near_its_rate_a_few_weeks_after_the_lead(channel: str) -> None:
    sold = total = 0
    cycles = []
    for code in ("NW-EHV", "NW-AMS", "NW-GRO"):
        for course in _courses(code, channel, 2000):
            total += 1
            if any(stage == "sold" for _, stage, _ in course.stages):
                sold += 1
                sold_at = next(at for at, stage, _ in course.stages if stage == "sold")
                first = course.attempts[0][0] if course.attempts else course.stages[0][0]
                cycles.append((sold_at - first).days)
    expected = SALE_RATE[channel] * statistics.mean(
        HABITS[c].close for c in ("NW-EHV", "NW-AMS", "NW-GRO")
    )
    assert 0.75 * expected < sold / total < 1.25 * expected, (sold / total, expected)
    assert 14 <= statistics.median(cycles) <= 45  # weeks, not days nor months


def test_about_a_third_get_an_appointment_and_two_thirds_of_those_show() -> None:
    leads = appointments = showed = seen = 0
    for code in HABITS:
        for course in _courses(code, "website", 800):
            leads += 1
            appointments += any(stage == "appointment" for _, stage, _ in course.stages)
            statuses = [status for _, _, status, _ in course.appointments]
            assert set(statuses) <= {"showed", "no_show"}  # all in the past here
            showed += statuses.count("showed")
            seen += len(statuses)
    assert 0.28 < appointments / leads < 0.45
    assert 0.58 < showed / seen < 0.72


def test_fast_and_slow_dealers_take_minutes_or_hours_to_call() -> None:
    def figures(code: str) -> tuple[float, float]:
        planned = _planned(code, "importer")
        delays = [
            (course.attempts[0][0] - created_at).total_seconds() / 60
            for created_at, course in planned
            if course.attempts
        ]
        courses = [course for _, course in planned]
        unreached = sum(c.lost_reason == "not_reachable" for c in courses) / len(courses)
        return statistics.median(delays), unreached

    fast, fast_lost = figures("NW-ANT")
    slow, slow_lost = figures("NW-ZWO")
    assert fast < 0.25 * slow
    assert fast_lost < slow_lost


def test_lost_reasons_follow_the_channel() -> None:
    def top(channel: str) -> str:
        reasons = Counter(
            c.lost_reason
            for c in _courses("NW-UTR", channel)
            if c.lost_reason and c.lost_reason != "not_reachable"
        )
        return reasons.most_common(1)[0][0]

    assert top("marketplace") == "price"
    assert top("direct_mail") == "no_longer_interested"
    assert top("walk_in") == "price"


# --- the loaded demo -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def demo(db_kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    tmp: Path = tmp_path_factory.mktemp("demo_year")
    url = fresh_database_url(db_kind, tmp, "demo_year")
    engine = make_engine(url)
    upgrade(engine)
    now = utcnow().replace(microsecond=0)
    load_demo(engine, customers=CUSTOMERS, seed=SEED, reference=now)
    seed_showroom(engine, seed=SEED, now=now)
    try:
        yield engine
    finally:
        engine.dispose()
        if db_kind == "postgresql":
            admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                database = url.rsplit("/", 1)[1]
                conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
            admin.dispose()


def test_the_demo_leads_span_a_year_with_its_seasons(demo: Engine) -> None:
    with session_scope(make_sessionmaker(demo)) as session:
        created = session.scalars(select(Lead.created_at)).all()
    now = utcnow()
    assert min(created) < now - timedelta(days=330)
    per_month = Counter(to_local(at).month for at in created)
    spring = statistics.mean(per_month[m] for m in (3, 4, 5))
    summer = statistics.mean(per_month[m] for m in (7, 8))
    assert summer < 0.85 * spring, per_month


def test_every_channel_comes_in_and_online_leads_carry_the_demo_campaigns(demo: Engine) -> None:
    names = {c.name.replace("{year}", "") for c in DEMO_CAMPAIGNS}
    with session_scope(make_sessionmaker(demo)) as session:
        rows = session.execute(select(Lead.channel, Lead.first_touch, Lead.last_touch)).all()
    assert {channel for channel, _, _ in rows} == set(LEAD_CHANNELS)
    touched = [last for channel, _, last in rows if channel == "marketplace"]
    assert sum(t is not None for t in touched) == len(touched)
    for _, first, last in rows:
        for touch in (first, last):
            if touch is not None:
                assert {"source", "medium", "name"} <= set(touch)
                assert touch["name"].rstrip("0123456789") in names, touch
    assert sum(last is not None for c, _, last in rows if c == "website") > 0.4 * len(rows) / 4


def test_stage_histories_end_where_the_leads_are(demo: Engine) -> None:
    with session_scope(make_sessionmaker(demo)) as session:
        stages = dict(session.execute(select(Lead.id, Lead.stage)).all())
        history: dict[int, list[tuple[datetime, int, str]]] = defaultdict(list)
        for lead_id, at, change_id, to_stage in session.execute(
            select(
                LeadStageChange.lead_id,
                LeadStageChange.changed_at,
                LeadStageChange.id,
                LeadStageChange.to_stage,
            )
        ):
            history[lead_id].append((at, change_id, to_stage))
    for lead_id, stage in stages.items():
        if stage == "new":
            continue
        assert history[lead_id], lead_id
        assert max(history[lead_id])[2] == stage, (lead_id, sorted(history[lead_id]))


def test_in_the_loaded_demo_dealers_call_at_their_own_speed(demo: Engine) -> None:
    with session_scope(make_sessionmaker(demo)) as session:
        codes = dict(session.execute(select(Dealer.id, Dealer.code)).all())
        created = dict(session.execute(select(Lead.id, Lead.created_at)).all())
        first: dict[int, datetime] = {}
        dealer_of: dict[int, int] = {}
        for lead_id, dealer_id, at in session.execute(
            select(ContactAttempt.lead_id, ContactAttempt.dealer_id, ContactAttempt.attempted_at)
        ):
            if lead_id not in first or at < first[lead_id]:
                first[lead_id], dealer_of[lead_id] = at, dealer_id
        statuses = session.execute(
            select(Appointment.status).where(Appointment.kind.in_(("visit", "test_drive")))
        ).scalars()
        shows = Counter(status for status in statuses if status in ("showed", "no_show"))
    delays: dict[str, list[float]] = defaultdict(list)
    fast, slow = ("NW-ANT", "NW-EHV", "NW-ARN"), ("NW-AMS", "NW-ZWO", "NW-LGE")
    for lead_id, at in first.items():
        code = codes[dealer_of[lead_id]]
        group = "fast" if code in fast else "slow" if code in slow else "other"
        delays[group].append((at - created[lead_id]).total_seconds() / 60)
    assert len(delays["fast"]) > 20 and len(delays["slow"]) > 20, delays
    assert statistics.median(delays["fast"]) < statistics.median(delays["slow"]) / 3
    assert 0.55 < shows["showed"] / (shows["showed"] + shows["no_show"]) < 0.8, shows


def test_every_dealer_that_sold_has_a_car_waiting_for_its_handover(demo: Engine) -> None:
    with session_scope(make_sessionmaker(demo)) as session:
        rows = session.execute(
            select(Delivery.dealer_id, Delivery.status, Delivery.delivery_date).where(
                Delivery.lead_id.is_not(None)
            )
        ).all()
    sold_at = {dealer for dealer, _, _ in rows}
    waiting = {dealer for dealer, status, _ in rows if status == "scheduled"}
    assert sold_at and waiting == sold_at
    assert all(day >= to_local(NOW).date() for _, status, day in rows if status == "scheduled")
