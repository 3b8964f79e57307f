"""Who is "up": the order in which salespeople take the next customer without a salesperson of
their own. The one function the rule lives in, so a later rule (say, "and available") is added
in one place."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from cdp.floor import repository

# The roles that take turns on the floor; managers step in by being chosen, not by rotation.
ROTATION_ROLES = ("sales",)
_NEVER = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Up:
    user_id: int
    name: str
    last_started_at: datetime | None  # None: no visit yet, so they have waited longest


def salespeople_up(session: Session, *, dealer_id: int) -> list[Up]:
    """The dealer's active salespeople who are available (not busy or off: they say so on their
    leads page) and with no visit in progress, the one whose last visit began longest ago first
    (no visit yet: first of all); ties go by name, then id."""
    people = repository.staff_at_dealer(session, dealer_id, ROTATION_ROLES)
    ids = [person.id for person in people]
    busy = repository.busy_with(session, ids)
    last = repository.last_visit_started(session, ids)
    free = [
        Up(user_id=person.id, name=person.name, last_started_at=last.get(person.id))
        for person in people
        if person.id not in busy and person.availability == "available"
    ]
    return sorted(free, key=lambda up: (up.last_started_at or _NEVER, up.name, up.user_id))
