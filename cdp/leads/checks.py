"""The checks every lead rule shares: text and choice fields, the customer and staff member a
request names, planned times, and who may be chosen for what. Each raises InvalidInput or NotFound
before anything changes."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from sqlalchemy.orm import Session

from cdp.auth.permissions import ROLE_PERMISSIONS, Permission, allows
from cdp.dealers.visibility import DealerScope
from cdp.errors import InvalidInput, NotFound
from cdp.leads import repository as repo
from cdp.models import (
    Profile,
    StaffUser,
)
from cdp.profiles import repository as profiles_repo

# A typed time may lie a little in the past (the customer is at the desk right now).
PAST_SLACK = timedelta(hours=1)


PLAN_HORIZON = timedelta(days=366)


DEFAULT_VISIT_TIME = time(10, 0)


def roles_with(*permissions: Permission) -> list[str]:
    return [
        role
        for role, granted in ROLE_PERMISSIONS.items()
        if any(permission in granted for permission in permissions)
    ]


def checked_text(value: str | None, *, limit: int, field: str, label: str) -> str | None:
    text = (value or "").strip()
    if not text:
        return None
    if len(text) > limit:
        raise InvalidInput(f"{label} is too long: at most {limit} characters.", field=field)
    return text


def checked_choice(
    value: str | None, allowed: Sequence[str], *, field: str, message: str
) -> str | None:
    if value is None or value == "":
        return None
    if value not in allowed:
        raise InvalidInput(message, field=field)
    return value


def live_profile_or_not_found(session: Session, profile_id: uuid.UUID) -> Profile:
    profile = profiles_repo.live_profile(session, profile_id)
    if profile is None:
        raise NotFound("There is no customer with this link.", field="profile_id")
    return profile


def staff_member(
    session: Session,
    user_id: int,
    *permissions: Permission,
    field: str,
    what: str,
) -> StaffUser:
    user = repo.staff_user(session, user_id)
    if (
        user is None
        or not user.active
        or not any(allows(user.role, permission) for permission in permissions)
    ):
        raise InvalidInput(f"Choose {what} from the list.", field=field)
    return user


def salespeople(session: Session) -> list[tuple[int, str]]:
    """Staff who can be given leads."""
    return [(u.id, u.name) for u in repo.active_staff(session, roles_with(Permission.LEADS))]


@dataclass(frozen=True)
class Assignees:
    """Whom a lead may be given to, as a choice list per dealer: the dealer's own salespeople
    and those of the network (no dealer), never another dealer's (assign_lead refuses them)."""

    everyone: list[tuple[int, str]]  # every salesperson the caller's dealers may see
    by_dealer: dict[int, list[tuple[int, str]]]
    network_wide: list[tuple[int, str]]

    def for_dealer(self, dealer_id: int | None) -> list[tuple[int, str]]:
        if dealer_id is None:
            return self.everyone
        return sorted(
            self.by_dealer.get(dealer_id, []) + self.network_wide, key=lambda p: (p[1], p[0])
        )


def assignees(session: Session, scope: DealerScope) -> Assignees:
    people = repo.active_staff_with_dealers(session, roles_with(Permission.LEADS))
    by_dealer: dict[int, list[tuple[int, str]]] = {}
    network_wide: list[tuple[int, str]] = []
    everyone: list[tuple[int, str]] = []
    for user, dealer_ids in people:
        entry = (user.id, user.name)
        if not dealer_ids:
            network_wide.append(entry)
            everyone.append(entry)
            continue
        visible = [dealer_id for dealer_id in dealer_ids if scope.sees(dealer_id)]
        for dealer_id in visible:
            by_dealer.setdefault(dealer_id, []).append(entry)
        if visible:
            everyone.append(entry)
    return Assignees(everyone=everyone, by_dealer=by_dealer, network_wide=network_wide)


def check_time(starts_at: datetime, *, now: datetime, field: str) -> None:
    if starts_at.tzinfo is None:
        raise InvalidInput("The time has no time zone.", field=field)
    if starts_at < now - PAST_SLACK:
        raise InvalidInput("That time has passed. Pick a time from now on.", field=field)
    if starts_at > now + PLAN_HORIZON:
        raise InvalidInput("That is more than a year ahead. Check the date.", field=field)
