"""Who may be sent marketing e-mail: the consent in force, and what keeps a profile out of every
export whatever it consented to. Every export, and every count of exportable profiles, goes
through here.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, Subquery, and_, exists, func, or_, select
from sqlalchemy.orm import aliased

from cdp.models import Consent, Identity


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
    """May be sent marketing e-mail: nothing in `never_contact` applies, and (unless the caller
    joins `consented_addresses` itself) the profile holds an address with its own grant."""
    conditions = [~condition for condition in never_contact(profile_id)]
    if require_email:
        conditions.append(consented_addresses(of=profile_id).exists())
    return conditions


def consented_addresses(
    purpose: str = "email", *, of: Any = None
) -> Select[uuid.UUID, str | None, datetime]:
    """Each address (phone number for "phone") a live profile holds whose own consent in force
    is granted: (profile_id, address, granted_at).

    Consent belongs to the address it was given for. A grant counts for its address only; what
    is in force for an address is the latest statement made for it, or a later withdrawal made
    for no address (one that names none covers every address: leaving out is the safe side).
    The address must still be the profile's own identifier: a grant recorded with an address
    that identity resolution did not give the profile (another person's) never counts for it.
    `of`: only that profile's (a correlated condition), else every profile's.
    """
    grant = aliased(Consent, name="address_grant")
    later = aliased(Consent, name="later_statement")
    overruled = exists().where(
        later.profile_id == grant.profile_id,
        later.purpose == purpose,
        or_(
            later.address == grant.address,
            and_(later.address.is_(None), later.status != "granted"),
        ),
        or_(
            later.stated_at > grant.stated_at,
            and_(later.stated_at == grant.stated_at, later.status != "granted"),
        ),
    )
    statement = (
        select(
            grant.profile_id.label("profile_id"),
            grant.address.label("address"),
            grant.stated_at.label("granted_at"),
        )
        .join(
            Identity,
            and_(
                Identity.profile_id == grant.profile_id,
                Identity.kind == purpose,
                Identity.value == grant.address,
            ),
        )
        .where(grant.purpose == purpose, grant.status == "granted", ~overruled)
    )
    return statement if of is None else statement.where(grant.profile_id == of)


def export_addresses() -> Subquery:
    """The one address an export writes for each profile that has a consented one: the one
    granted last (then the first in alphabetical order), so nobody gets the mailing twice."""
    consented = consented_addresses().subquery("consented_address")
    rank = func.row_number().over(
        partition_by=consented.c.profile_id,
        order_by=(consented.c.granted_at.desc(), consented.c.address),
    )
    ranked = select(consented.c.profile_id, consented.c.address, rank.label("rank")).subquery(
        "ranked_address"
    )
    return (
        select(ranked.c.profile_id, ranked.c.address)
        .where(ranked.c.rank == 1)
        .subquery("export_address")
    )
