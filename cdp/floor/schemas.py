"""What the floor page shows: visits with names, the salesperson proposed, the daily figures."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime

from cdp.models import Appointment, ShowroomVisit


@dataclass(frozen=True, slots=True)
class Choice:
    """A salesperson reception may hand the customer to, and what they are doing now."""

    user_id: int
    name: str
    busy_since: datetime | None  # with another customer since then
    up_rank: int | None  # 1: next up in the rotation; None: busy or not in the rotation


@dataclass(frozen=True, slots=True)
class Proposal:
    """Who takes the customer: their own salesperson, else whoever is up, and why."""

    user_id: int | None
    reason: str  # "own" (their appointment's or lead's salesperson), "up", or "none"
    choices: list[Choice]


@dataclass(frozen=True, slots=True)
class Arrival:
    """Who reception is checking in, before a salesperson is chosen."""

    kind: str
    profile_id: uuid.UUID | None
    name: str | None
    appointment: Appointment | None = None
    visitor_name: str | None = None


@dataclass(frozen=True, slots=True)
class VisitLine:
    visit: ShowroomVisit
    name: str | None  # the customer's name, or what a walk-in said, or None
    salesperson: str | None
    minutes: int  # on the floor so far, or in all once ended
    has_open_lead: bool = False


@dataclass
class DayFigures:
    """One day of one dealer's floor: appointments kept and missed, walk-ins, be-backs."""

    day: date
    appointments: int = 0  # visits and test drives planned for the day, not cancelled
    showed: int = 0
    no_show: int = 0
    walk_ins: int = 0
    be_backs: int = 0
    ended_minutes: list[int] = field(default_factory=list)

    @property
    def not_marked(self) -> int:
        return self.appointments - self.showed - self.no_show

    @property
    def show_rate(self) -> int | None:
        """Showed of appointments, in whole percent (None without appointments)."""
        if not self.appointments:
            return None
        return round(100 * self.showed / self.appointments)

    @property
    def average_minutes(self) -> int | None:
        if not self.ended_minutes:
            return None
        return round(sum(self.ended_minutes) / len(self.ended_minutes))

    @property
    def traffic(self) -> int:
        return self.showed + self.walk_ins + self.be_backs
