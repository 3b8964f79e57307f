"""How a demo lead runs its course: contact attempts, appointment, test drive, quote, sale or loss.

Pure planning (no database): `plan_course` turns a lead (its channel, when it came in, the habits
of its dealer) into dated steps, cut off at `now`, that `cdp.demo.lead_year` writes. The figures
are near what dealers plan with (docs/funnel.md, ../shared/DOMAIN.md): about 35% of leads get an
appointment, 65% of appointments show, lead to sale near each channel's norm; a sale a few weeks
after the lead. Each dealer has its own habits, so comparing dealers tells a story: Antwerpen and
Eindhoven call within minutes, Zwolle and Liège take hours and lose more leads unreached.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from cdp.demo.campaigns import DEMO_CAMPAIGNS
from cdp.local_time import local_start, to_local


@dataclass(frozen=True, slots=True)
class Habits:
    """How a dealer works its leads."""

    first_contact_minutes: float  # typical (median) minutes to the first call, in opening hours
    reach: float  # chance one attempt reaches the customer
    appointment: float  # reached leads that get an appointment
    show: float  # appointments that show
    close: float  # multiplies each channel's lead-to-sale rate
    late: bool = False  # a lead desk calls back until 21:00, Sundays too


# Per demo dealer code; other dealers work as the network's middle.
HABITS = {
    "NW-EHV": Habits(6, 0.72, 0.42, 0.70, 1.05, late=True),
    "NW-AMS": Habits(95, 0.58, 0.34, 0.58, 0.85),  # big and busy: slow, and it shows
    "NW-UTR": Habits(12, 0.70, 0.42, 0.68, 1.0),
    "NW-RTM": Habits(45, 0.62, 0.38, 0.52, 0.9),  # many no-shows
    "NW-DHG": Habits(20, 0.68, 0.4, 0.66, 0.95),
    "NW-ARN": Habits(8, 0.74, 0.44, 0.72, 1.2, late=True),  # small and sharp
    "NW-ZWO": Habits(150, 0.55, 0.36, 0.64, 0.9),  # calls the next day
    "NW-GRO": Habits(30, 0.66, 0.4, 0.66, 1.0),
    "NW-ANT": Habits(4, 0.78, 0.46, 0.74, 1.15, late=True),  # the network's best
    "NW-GNT": Habits(25, 0.68, 0.42, 0.65, 1.0),
    "NW-BRU": Habits(70, 0.56, 0.38, 0.60, 0.9),
    "NW-HAS": Habits(15, 0.70, 0.43, 0.68, 1.05),
    "NW-LGE": Habits(110, 0.60, 0.35, 0.62, 0.85),
    "NW-CHA": Habits(40, 0.64, 0.38, 0.60, 0.75),  # sells least of what it gets
}
NETWORK_HABITS = Habits(30, 0.66, 0.4, 0.65, 1.0)

# Where leads come from (shares) and how each channel's leads end: lead to sale near the norms
# dealers plan with (cdp/leads/norms.py), walk-ins, be-backs and referrals above them.
CHANNEL_MIX = (("website", 30), ("dealer_website", 10), ("importer", 14), ("marketplace", 17),
               ("phone", 10), ("walk_in", 7), ("be_back", 3), ("referral", 3),
               ("direct_mail", 4), ("event", 2))  # fmt: skip
SALE_RATE = {"website": 0.17, "dealer_website": 0.21, "importer": 0.19, "marketplace": 0.13,
             "phone": 0.23, "walk_in": 0.30, "be_back": 0.42, "referral": 0.35,
             "direct_mail": 0.05, "event": 0.12}  # fmt: skip
# Why leads are lost, by channel (weights): marketplace shoppers compare prices, direct mail
# reaches people who were not looking, the floor loses on stock and delivery times.
LOST_REASONS = {
    "marketplace": (("price", 5), ("bought_elsewhere", 4), ("no_longer_interested", 2),
                    ("stock_or_delivery_time", 2)),
    "direct_mail": (("no_longer_interested", 8), ("price", 1), ("other", 1)),
    "walk_in": (("price", 4), ("stock_or_delivery_time", 3), ("bought_elsewhere", 2),
                ("process_or_experience", 1)),
    "be_back": (("price", 3), ("stock_or_delivery_time", 2), ("bought_elsewhere", 2)),
    "phone": (("price", 3), ("stock_or_delivery_time", 3), ("bought_elsewhere", 2),
              ("no_longer_interested", 1)),
    "event": (("no_longer_interested", 4), ("price", 2), ("bought_elsewhere", 2)),
}  # fmt: skip
ONLINE_LOST = (("no_longer_interested", 4), ("bought_elsewhere", 3), ("price", 3),
               ("stock_or_delivery_time", 2), ("process_or_experience", 1),
               ("other", 1))  # fmt: skip
LOST_DETAIL = {
    "bought_elsewhere": ("Bought a competitor's car", "Bought at another dealer",
                         "Went for a used car elsewhere"),
    "other": ("Moving abroad", "Company car after all", "Postponed: no budget this year"),
}  # fmt: skip
# Leads per month of the year (January first): a spring peak, the summer holidays and December
# quiet; and per day of the week (Monday first).
SEASON = (1.05, 1.0, 1.25, 1.2, 1.1, 0.95, 0.65, 0.75, 1.05, 1.0, 0.9, 0.6)
WEEKDAY = (1.2, 1.1, 1.05, 1.05, 1.0, 0.95, 0.45)
# Channels met in person: reached at once, no appointment to make.
IN_PERSON = ("walk_in", "be_back")
OPENS, CLOSES = 9, 18  # the showroom's day, for calls and appointments


@dataclass
class Course:
    """A lead's steps, each dated; only those up to `now` are kept."""

    stages: list[tuple[datetime, str, str | None]] = field(default_factory=list)
    attempts: list[tuple[datetime, str, str]] = field(default_factory=list)  # method, outcome
    # (starts, kind, status, booked at)
    appointments: list[tuple[datetime, str, str, datetime]] = field(default_factory=list)
    lost_detail: str | None = None
    handover: datetime | None = None  # when a sold car is (to be) handed over

    @property
    def stage(self) -> str:
        return self.stages[-1][1] if self.stages else "new"

    @property
    def lost_reason(self) -> str | None:
        return self.stages[-1][2] if self.stages else None

    @property
    def updated_at(self) -> datetime | None:
        return self.stages[-1][0] if self.stages else None


def habits_of(code: str | None) -> Habits:
    return HABITS.get(code or "", NETWORK_HABITS)


def pick_channel(rng: random.Random) -> str:
    return rng.choices([c for c, _ in CHANNEL_MIX], [w for _, w in CHANNEL_MIX])[0]


def touches(
    rng: random.Random, channel: str, day: date
) -> tuple[dict[str, str] | None, dict[str, str] | None]:
    """(first touch, last touch) of a lead of this channel on this day: the campaign that
    brought it, and for some online leads an earlier one they first came through."""
    running = [c for c in DEMO_CAMPAIGNS if c.channel == channel and c.runs_in(day)]
    if not running or (channel in ("website", "dealer_website", "importer") and rng.random() < 0.3):
        return None, None  # came direct, or typed the address
    last = rng.choices(running, [c.weight for c in running])[0]
    first = last
    if channel == "website" and rng.random() < 0.35:
        earlier = day - timedelta(days=rng.randint(7, 60))
        before = [c for c in DEMO_CAMPAIGNS if c.channel == "website" and c.runs_in(earlier)]
        first = rng.choice(before) if before else last
        return first.touch(earlier), last.touch(day)
    return first.touch(day), last.touch(day)


def _in_hours(moment: datetime, late: bool = False) -> datetime:
    """The moment, or the next time someone calls (showroom hours, closed on Sundays; a lead
    desk until 21:00 every day) if nobody does now."""
    local = to_local(moment)
    day = local.date()
    if local.hour >= (21 if late else CLOSES):
        day += timedelta(days=1)
    elif local.hour >= OPENS and (late or local.weekday() != 6):
        return moment
    while day.weekday() == 6 and not late:
        day += timedelta(days=1)
    return max(moment, local_start(day, time(OPENS)))


def _slot(rng: random.Random, after: datetime, days: tuple[int, int]) -> datetime:
    """An appointment in showroom hours some days after `after` (not on a Sunday)."""
    day = to_local(after).date() + timedelta(days=rng.randint(*days))
    if day.weekday() == 6:
        day += timedelta(days=1)
    return local_start(day, time(rng.randint(OPENS, CLOSES - 2), rng.choice((0, 15, 30, 45))))


def plan_course(
    rng: random.Random, *, channel: str, created_at: datetime, habits: Habits, now: datetime
) -> Course:
    """The lead's course as it happened up to `now` (later steps are left out: still open)."""
    course = Course()
    steps = course.stages
    roll = rng.random()
    if roll < 0.035:
        steps.append((created_at + timedelta(hours=rng.uniform(1, 30)), "invalid", None))
        return _cut(course, now)
    if roll < 0.05:
        steps.append((created_at + timedelta(hours=rng.uniform(1, 30)), "duplicate", None))
        return _cut(course, now)
    at = created_at
    if channel in IN_PERSON:
        steps.append((at + timedelta(minutes=rng.randint(1, 5)), "reached", None))
    elif channel == "phone":  # they called: reached on that call
        at += timedelta(minutes=rng.randint(1, 4))
        course.attempts.append((at, "call", "reached"))
        steps.append((at, "reached", None))
    elif not _contact(rng, course, habits, created_at):
        return _cut(course, now)
    at = steps[-1][0]
    # The chance to close once they showed, such that lead to sale comes out near the channel's
    # rate: reached (after up to four calls) x appointment x showed (a no-show is rebooked now
    # and then) x close.
    reached = 1.0 if channel in (*IN_PERSON, "phone") else 1 - (1 - habits.reach) ** 3
    show = habits.show * (1 + 0.4 * (1 - habits.show))
    chain = 1.0 if channel in IN_PERSON else reached * habits.appointment * show
    close = min(0.95, SALE_RATE.get(channel, 0.15) * habits.close / chain)
    showed_at = _meet(rng, course, channel, habits, at)
    if showed_at is None:  # no appointment, or never came
        _lose(rng, course, channel, steps[-1][0] + timedelta(days=rng.uniform(3, 20)))
        return _cut(course, now)
    at = showed_at
    sells = rng.random() < close
    if sells or rng.random() < 0.5:
        at += timedelta(days=rng.uniform(0, 5), hours=rng.uniform(1, 4))
        steps.append((at, "quote", None))
    if sells:
        at += timedelta(days=rng.lognormvariate(math.log(14), 0.55))
        steps.append((at, "sold", None))
        course.handover = local_start(
            to_local(at).date() + timedelta(days=rng.randint(12, 40)), time(rng.randint(10, 16))
        )
        steps.append((course.handover, "delivered", None))
        return _cut(course, now)
    _lose(rng, course, channel, at + timedelta(days=rng.uniform(2, 25)))
    return _cut(course, now)


def _contact(rng: random.Random, course: Course, habits: Habits, created_at: datetime) -> bool:
    """Calls until someone answers (up to four); False when the lead was lost unreached."""
    at = _in_hours(created_at, habits.late) + timedelta(
        minutes=habits.first_contact_minutes * rng.lognormvariate(0, 0.8)
    )
    for number in range(rng.choice((2, 3, 3, 4))):
        if rng.random() < habits.reach:
            method = rng.choice(("call", "call", "call", "whatsapp"))
            course.attempts.append((at, method, "replied" if method == "whatsapp" else "reached"))
            course.stages.append((at, "reached", None))
            return True
        course.attempts.append((at, rng.choice(("call", "call", "email", "sms")), "no_answer"))
        if number == 0:
            course.stages.append((at, "attempted", None))
        at = _in_hours(at + timedelta(hours=rng.uniform(3, 30)), habits.late)
    course.stages.append((at + timedelta(days=rng.uniform(2, 7)), "lost", "not_reachable"))
    return False


def _meet(
    rng: random.Random, course: Course, channel: str, habits: Habits, reached_at: datetime
) -> datetime | None:
    """The appointment (walk-ins are there already): when they showed, or None if they never
    did. A no-show is rebooked now and then."""
    if channel in IN_PERSON:
        if rng.random() < 0.55:
            course.stages.append((reached_at + timedelta(minutes=20), "test_drive", None))
        return reached_at + timedelta(hours=1)
    if rng.random() >= habits.appointment:
        return None
    booked = reached_at + timedelta(minutes=rng.randint(1, 10))
    course.stages.append((booked, "appointment", None))
    for tries in range(2):
        kind = "test_drive" if rng.random() < 0.55 else "visit"
        starts = _slot(rng, booked, (1, 8))
        showed = rng.random() < habits.show
        course.appointments.append((starts, kind, "showed" if showed else "no_show", booked))
        if showed:
            if kind == "test_drive" or rng.random() < 0.35:
                course.stages.append((starts + timedelta(minutes=30), "test_drive", None))
            return starts + timedelta(hours=1)
        if tries or rng.random() < 0.6:
            return None
        booked = starts + timedelta(hours=rng.uniform(2, 48))
    return None


def _lose(rng: random.Random, course: Course, channel: str, at: datetime) -> None:
    table = LOST_REASONS.get(channel, ONLINE_LOST)
    reason = rng.choices([r for r, _ in table], [w for _, w in table])[0]
    if reason in LOST_DETAIL:
        course.lost_detail = rng.choice(LOST_DETAIL[reason])
    course.stages.append((at, "lost", reason))


def _cut(course: Course, now: datetime) -> Course:
    """What had happened by `now`: an appointment booked by then and still ahead is planned."""
    course.stages = [step for step in course.stages if step[0] <= now]
    course.attempts = [attempt for attempt in course.attempts if attempt[0] <= now]
    course.appointments = [
        (starts, kind, status if starts <= now else "planned", booked)
        for starts, kind, status, booked in course.appointments
        if booked <= now and (starts <= now or starts > now + timedelta(minutes=30))
    ]
    if course.lost_reason is None:
        course.lost_detail = None
    return course
