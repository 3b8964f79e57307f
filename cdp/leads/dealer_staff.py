"""Who may be chosen for a dealer's record (a handover's specialist, an appointment's host):
active staff of the right roles who work at its dealer, so the record is in their lists. Staff
at several dealers count at each; a record with no dealer (the network's) is seen only by the
importer's staff, so only they are chosen for it. The rule, the check the services make, and the
choice lists the forms offer (two people of one name told apart by e-mail, a choice made before
who no longer qualifies said to be so)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Hashable, Iterable, Sequence
from typing import TypeVar

from sqlalchemy.orm import Session

from cdp.dealers import repository as dealers_repo
from cdp.dealers.service import FLOOR_ROLES
from cdp.errors import InvalidInput
from cdp.leads import repository as repo
from cdp.models import Dealer, StaffUser

Key = TypeVar("Key", bound=Hashable)
Choices = list[tuple[int, str]]


def works_for(role: str, works_at: Collection[int], dealer_id: int | None) -> bool:
    """Whether a staff member (of this role, working at `works_at`) may be chosen for a record
    of this dealer: they work there (at one of their dealers, for staff at several). A record
    with no dealer is seen only by the importer's staff (no dealer, not a floor role)."""
    if dealer_id is None:
        return not works_at and role not in FLOOR_ROLES
    return dealer_id in works_at


def check_works_for(
    session: Session,
    member: StaffUser,
    dealer_id: int | None,
    *,
    field: str,
    refusal: Callable[[Dealer | None], str],
) -> StaffUser:
    """`member` (already checked for their role) if they work for this dealer (works_for's
    rule), else InvalidInput on `field` with `refusal`'s message for the dealer (None: the
    record is the network's)."""
    works_at = dealers_repo.dealer_ids_of(session, member.id)
    if works_for(member.role, works_at, dealer_id):
        return member
    dealer = session.get(Dealer, dealer_id) if dealer_id is not None else None
    raise InvalidInput(refusal(dealer), field=field)


def _same_name(name: str) -> str:
    return " ".join(name.split()).casefold()


def _labelled(people: Sequence[StaffUser]) -> Choices:
    """(id, label) per person: the name, with the e-mail address when another on the same list
    has the same name (two Lotte Jansens are told apart)."""
    names = Counter(_same_name(person.name) for person in people)
    return [
        (
            person.id,
            f"{person.name} ({person.email})"
            if names[_same_name(person.name)] > 1
            else person.name,
        )
        for person in people
    ]


def _choices_at(
    session: Session, roles: Collection[str], dealer_ids: Iterable[int | None]
) -> dict[int | None, Choices]:
    """The choices for a record of each dealer: its active staff of these roles, by name."""
    at_dealer: dict[int | None, list[StaffUser]] = {dealer_id: [] for dealer_id in dealer_ids}
    for user, works_at in repo.active_staff_with_dealers(session, roles):
        where: list[int | None] = [*works_at] or [None]  # no dealer: the network's records
        for dealer_id in where:
            if dealer_id in at_dealer and works_for(user.role, works_at, dealer_id):
                at_dealer[dealer_id].append(user)
    return {dealer_id: _labelled(people) for dealer_id, people in at_dealer.items()}


def choice_lists(
    session: Session,
    roles: Collection[str],
    records: Iterable[tuple[Key, int | None, int | None]],
    *,
    unfit: str,
) -> dict[Key, Choices]:
    """The choices of each record, given as (key, its dealer, whom it has or was given): the
    active staff of `roles` who work for its dealer (check_works_for's rule), by name. Someone
    chosen before who does not qualify (another dealer's, deactivated, of another role) stays
    on that record's list with `unfit` after their name and e-mail address, so a form neither
    hides nor silently drops them."""
    records = list(records)
    lists = _choices_at(session, roles, {dealer_id for _, dealer_id, _ in records})
    offered = {
        dealer_id: {user_id for user_id, _ in choices} for dealer_id, choices in lists.items()
    }
    stale = {
        chosen
        for _, dealer_id, chosen in records
        if chosen is not None and chosen not in offered[dealer_id]
    }
    earlier = {  # rare: a wrong or outdated choice, read one by one
        user.id: user
        for user in (repo.staff_user(session, user_id) for user_id in sorted(stale))
        if user is not None
    }
    found: dict[Key, Choices] = {}
    for key, dealer_id, chosen in records:
        own = lists[dealer_id]
        former = earlier.get(chosen) if chosen is not None else None
        if former is not None and former.id not in offered[dealer_id]:
            own = [*own, (former.id, f"{former.name} ({former.email}): {unfit}")]
        found[key] = own
    return found
