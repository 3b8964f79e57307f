"""Every query of the dealer network: dealers by code, and which dealers staff work at."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import bindparam, delete, func, select
from sqlalchemy.orm import Session

from cdp.dealers.areas import Holder
from cdp.models import Dealer, StaffDealer


def all_dealers(session: Session) -> list[Dealer]:
    return list(session.scalars(select(Dealer).order_by(Dealer.code)))


def active_holders(session: Session, *, besides: str | None = None) -> list[Holder]:
    """Every active dealer but `besides` (a code), with the postal-code areas it serves."""
    query = select(Dealer.code, Dealer.name, Dealer.country, Dealer.postal_areas).where(
        Dealer.active.is_(True)
    )
    if besides is not None:
        query = query.where(Dealer.code != besides)
    return [
        Holder(code=code, name=name, country=country, areas=tuple(areas or ()))
        for code, name, country, areas in session.execute(query.order_by(Dealer.code))
    ]


def dealers_by_code(session: Session, codes: Iterable[str]) -> dict[str, Dealer]:
    wanted = sorted(set(codes))
    if not wanted:
        return {}
    rows = session.scalars(select(Dealer).where(Dealer.code.in_(wanted)))
    return {dealer.code: dealer for dealer in rows}


def active_dealer_ids(session: Session) -> list[int]:
    return list(session.scalars(select(Dealer.id).where(Dealer.active.is_(True)).limit(2)))


# Read on every staff page (cdp/auth/staff.py): built once, run past the ORM.
_DEALER_IDS_OF = (
    select(StaffDealer.dealer_id)
    .where(StaffDealer.user_id == bindparam("user_id"))
    .order_by(StaffDealer.dealer_id)
)


def dealer_ids_of(session: Session, user_id: int) -> list[int]:
    session.flush()  # as the ORM's autoflush would (nothing to do on a page's first read)
    return list(session.connection().scalars(_DEALER_IDS_OF, {"user_id": user_id}))


def dealer_codes_by_user(session: Session, user_ids: Iterable[int]) -> dict[int, list[str]]:
    wanted = sorted(set(user_ids))
    found: dict[int, list[str]] = {user_id: [] for user_id in wanted}
    if not wanted:
        return found
    rows = session.execute(
        select(StaffDealer.user_id, Dealer.code)
        .join(Dealer, Dealer.id == StaffDealer.dealer_id)
        .where(StaffDealer.user_id.in_(wanted))
        .order_by(Dealer.code)
    )
    for user_id, code in rows:
        found[user_id].append(code)
    return found


def staff_counts(session: Session) -> dict[int, int]:
    rows = session.execute(
        select(StaffDealer.dealer_id, func.count()).group_by(StaffDealer.dealer_id)
    )
    return {dealer_id: count for dealer_id, count in rows}


def replace_memberships(session: Session, user_id: int, dealer_ids: Iterable[int]) -> None:
    session.execute(delete(StaffDealer).where(StaffDealer.user_id == user_id))
    session.add_all(
        StaffDealer(user_id=user_id, dealer_id=dealer_id) for dealer_id in sorted(set(dealer_ids))
    )
    session.flush()


def first_dealer_of(session: Session, user_id: int) -> int | None:
    return session.scalar(
        select(func.min(StaffDealer.dealer_id)).where(StaffDealer.user_id == user_id)
    )


def default_dealer_id(session: Session, code: str) -> int | None:
    """The dealer with this code if active, else the oldest active dealer."""
    found = session.scalar(select(Dealer.id).where(Dealer.code == code, Dealer.active.is_(True)))
    if found is not None:
        return found
    return session.scalar(
        select(Dealer.id).where(Dealer.active.is_(True)).order_by(Dealer.id).limit(1)
    )
