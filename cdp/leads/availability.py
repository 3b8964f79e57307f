"""A salesperson's availability for new leads: available (the default), busy or off. Routing
gives new leads only to those available; their own customers' leads still reach them."""

from __future__ import annotations

from sqlalchemy.orm import Session

from cdp.errors import InvalidInput, NotFound
from cdp.models import AVAILABILITIES, StaffUser

LABELS = {"available": "Available", "busy": "Busy", "off": "Off"}


def availability_of(session: Session, user_id: int) -> str:
    user = session.get(StaffUser, user_id)
    return user.availability if user is not None else "off"


def set_availability(session: Session, user_id: int, availability: str) -> None:
    wanted = availability.strip().lower()
    if wanted not in AVAILABILITIES:
        raise InvalidInput("Choose available, busy or off.", field="availability")
    user = session.get(StaffUser, user_id)
    if user is None:
        raise NotFound("There is no such staff member.", field="user_id")
    user.availability = wanted
    session.flush()
