"""A lead's assignment history as people read it: who got it, from whom, by whom (or routing),
by which rule, why, and any warning routing left (an unknown dealer code in the event)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from cdp.dealers import repository as dealers_repo
from cdp.leads import repository as leads_repo
from cdp.leads import routing_queries as q
from cdp.leads.routing import rule_label
from cdp.leads.schemas import AssignmentLine
from cdp.local_time import to_local


def histories(session: Session, lead_ids: Sequence[int]) -> dict[int, list[AssignmentLine]]:
    """Each lead's assignments, oldest first, in three statements for any number of leads."""
    rows = q.assignments_of(session, lead_ids)
    people = {
        user_id
        for row in rows
        for user_id in (row.to_user_id, row.from_user_id, row.by_user_id)
        if user_id is not None
    }
    names = leads_repo.staff_names(session, people)
    codes = {dealer.id: dealer.code for dealer in dealers_repo.all_dealers(session)} if rows else {}
    found: dict[int, list[AssignmentLine]] = {}
    for row in rows:
        found.setdefault(row.lead_id, []).append(
            AssignmentLine(
                at=to_local(row.assigned_at),
                to_name=names.get(row.to_user_id) if row.to_user_id else None,
                from_name=names.get(row.from_user_id) if row.from_user_id else None,
                by_name=names.get(row.by_user_id) if row.by_user_id else None,
                dealer_code=codes.get(row.dealer_id) if row.dealer_id else None,
                rule=rule_label(row.rule),
                reason=row.reason,
                warning=row.warning,
            )
        )
    return found
