"""Who may be sent marketing e-mail: the consent in force, and what keeps a profile out of every
export whatever it consented to. Every export, and every count of exportable profiles, goes
through here.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, exists, or_
from sqlalchemy.orm import aliased

from cdp.models import Consent, ProfileTrait


def in_force(purpose: str, status: str, profile_id: Any) -> ColumnElement[bool]:
    """The profile's consent statement in force for `purpose` has `status`.

    The latest statement by `stated_at` is in force. When two statements share a time, the
    withdrawal wins: leaving someone out is the safe side.
    """
    statement = aliased(Consent)
    later = aliased(Consent)
    if status == "granted":
        overruled = or_(
            later.stated_at > statement.stated_at,
            and_(later.stated_at == statement.stated_at, later.status != "granted"),
        )
    else:
        overruled = later.stated_at > statement.stated_at
    return exists().where(
        statement.profile_id == profile_id,
        statement.purpose == purpose,
        statement.status == status,
        ~exists().where(
            later.profile_id == statement.profile_id,
            later.purpose == purpose,
            overruled,
        ),
    )


def never_contact(profile_id: Any) -> list[ColumnElement[bool]]:
    """Conditions that each keep a profile out of every export, whatever else it consented to.

    - Objected to profiling and direct marketing (GDPR art. 21, absolute): the tracking consent
      in force is withdrawn.
    An erased profile (art. 17) joins this list the day erasure is recorded, as one more
    condition; everything that exports or counts exportable profiles goes through here.
    """
    return [in_force("tracking", "withdrawn", profile_id)]


def contactable(profile_id: Any, *, require_email: bool = True) -> list[ColumnElement[bool]]:
    """May be sent marketing e-mail: e-mail consent in force is granted, nothing in
    `never_contact` applies, and (unless the caller joins the address itself) an address."""
    conditions = [
        in_force("email", "granted", profile_id),
        *(~condition for condition in never_contact(profile_id)),
    ]
    if require_email:
        conditions.append(
            exists().where(ProfileTrait.profile_id == profile_id, ProfileTrait.name == "email")
        )
    return conditions
