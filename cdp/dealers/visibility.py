"""Who sees which dealer's records: the one place that decides it.

Leads, notes, appointments, contact attempts, deliveries and tablet sessions belong to a dealer
(their `dealer_id`). Staff of a dealer see only their dealers' records; importer-level staff
(marketing, a manager or admin with no dealer) and network-wide API tokens see every dealer's,
and the unassigned queue (records with no dealer). A record outside the caller's scope is
answered as if it did not exist (404), never as forbidden, so its existence is not revealed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, false, true
from sqlalchemy.orm import QueryableAttribute, Session

from cdp.dealers import repository
from cdp.dealers.service import FLOOR_ROLES


@dataclass(frozen=True, slots=True)
class DealerScope:
    """The dealers whose records a caller may see; None means the whole network."""

    dealer_ids: frozenset[int] | None

    @property
    def network(self) -> bool:
        return self.dealer_ids is None

    def sees(self, dealer_id: int | None) -> bool:
        if self.dealer_ids is None:
            return True
        return dealer_id is not None and dealer_id in self.dealer_ids

    def where(self, column: ColumnElement[Any] | QueryableAttribute[Any]) -> ColumnElement[bool]:
        """A WHERE clause keeping rows of `column` (a dealer_id column) inside the scope."""
        if self.dealer_ids is None:
            return true()
        if not self.dealer_ids:
            return false()
        return column.in_(sorted(self.dealer_ids))


NETWORK = DealerScope(None)
NOWHERE = DealerScope(frozenset())


def scope_of_staff(session: Session, *, user_id: int, role: str) -> DealerScope:
    """Staff at dealers see those dealers; floor staff without a dealer see none (never the
    network by accident); a manager, admin or marketer without a dealer sees the network."""
    dealer_ids = repository.dealer_ids_of(session, user_id)
    if dealer_ids:
        return DealerScope(frozenset(dealer_ids))
    return NOWHERE if role in FLOOR_ROLES else NETWORK


def scope_of_token(dealer_id: int | None) -> DealerScope:
    """An API token reads one dealer's records, or without a dealer the network's."""
    return NETWORK if dealer_id is None else DealerScope(frozenset({dealer_id}))
