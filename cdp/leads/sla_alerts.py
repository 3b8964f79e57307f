"""The speed-to-lead check that tells managers: the leads `due_warnings` finds, each sent as an
SLA alert to the managers of its dealer (the importer's managers for the unassigned queue).
Run every minute by each server (cdp/app.py's periodic jobs) and by `cdp leads sla-check`."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from cdp.alerts import service as alerts
from cdp.leads import sla
from cdp.models import StaffDealer, StaffUser


def _managers(session: Session) -> tuple[dict[int, list[int]], list[int]]:
    """Active managers by dealer, and those of the network (no dealer)."""
    rows = session.execute(
        select(StaffUser.id, StaffDealer.dealer_id)
        .outerjoin(StaffDealer, StaffDealer.user_id == StaffUser.id)
        .where(StaffUser.role == "manager", StaffUser.active.is_(True))
    ).all()
    by_dealer: dict[int, list[int]] = defaultdict(list)
    network: list[int] = []
    for user_id, dealer_id in rows:
        if dealer_id is None:
            network.append(user_id)
        else:
            by_dealer[dealer_id].append(user_id)
    return by_dealer, network


def warn_about_slas(session: Session, now: datetime) -> None:
    warned_now(session, now)


def warned_now(session: Session, now: datetime) -> list[sla.SlaState]:
    """The leads warned about now, each sent to its managers."""
    states = sla.due_warnings(session, now)
    if not states:
        return states
    by_dealer, network = _managers(session)
    for state in states:
        dealer_id = state.lead.dealer_id
        # A dealer without a manager of its own: the importer's managers are told instead.
        managers = by_dealer.get(dealer_id, []) if dealer_id is not None else network
        alerts.sla_warning(session, state.lead, managers or network, now=now, due_at=state.due_at)
    return states
