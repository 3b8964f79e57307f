"""Lead stages: which moves are allowed from where, and the stage change that records who moved
it, with a lost reason where one is needed. Every function flushes; the caller commits."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from cdp.alerts.repository import settle_sla_warnings
from cdp.errors import InvalidInput
from cdp.leads import repository as repo
from cdp.leads.checks import (
    checked_text,
)
from cdp.leads.handover import finish_delivery, queue_delivery
from cdp.leads.labels import OPTIONS
from cdp.models import (
    LEAD_STAGES,
    LOST_REASONS,
    OPEN_STAGES,
    Lead,
    LeadStageChange,
    utcnow,
)
from cdp.profiles.projection import refresh_search

CLOSED_STAGES = ("lost", "invalid", "duplicate")


FINAL_STAGES = ("sold", "delivered")


# A lost reason whose whole value is in the detail: which brand or dealer, or what happened.
LOST_REASONS_NEEDING_DETAIL = ("bought_elsewhere", "other")


def allowed_stages(current: str) -> list[str]:
    """The stages a person may move a lead to from `current`, in funnel order.

    Open leads move freely between the open stages (people correct mistakes), never back to
    new, and may be sold or closed. A sold lead can only fall through (lost); the delivery team
    marks it delivered. A lost, invalid or duplicate lead can be reopened. Delivered is final.
    """
    if current in OPEN_STAGES:
        return [s for s in OPEN_STAGES if s not in ("new", current)] + ["sold", *CLOSED_STAGES]
    if current == "sold":
        return ["lost"]
    if current in CLOSED_STAGES:
        return [s for s in OPEN_STAGES if s != "new"] + [s for s in CLOSED_STAGES if s != current]
    return []


def _refusal(current: str, to_stage: str) -> str:
    if current == "delivered":
        return (
            "This car has been delivered; the lead is finished. Create a new lead for a new sale."
        )
    if to_stage == "new":
        return "A lead cannot go back to new once someone has worked it."
    if to_stage == "delivered":
        return "Mark the lead sold first; the delivery team records the handover."
    if current == "sold":
        return "A sold lead can only be marked lost (the deal fell through)."
    return f"A {OPTIONS.label('stage', current).lower()} lead cannot move to {to_stage}."


def change_stage(
    session: Session,
    *,
    lead: Lead,
    to_stage: str,
    by_user_id: int | None,
    lost_reason: str | None = None,
    lost_detail: str | None = None,
    now: datetime | None = None,
) -> LeadStageChange:
    """Move a lead to another stage, recorded with who and when.

    Lost needs a reason (and, for "bought elsewhere" and "other", a word on which or what).
    Sold puts the car in the delivery team's queue; lost, invalid, duplicate and sold take the
    lead off the salesperson's list.
    """
    now = now or utcnow()
    if to_stage not in LEAD_STAGES:
        raise InvalidInput("Choose a stage from the list.", field="stage")
    if to_stage == lead.stage:
        raise InvalidInput(
            f"The lead is already at {OPTIONS.label('stage', to_stage).lower()}.", field="stage"
        )
    if to_stage not in allowed_stages(lead.stage) and not (
        lead.stage == "sold" and to_stage == "delivered"
    ):
        raise InvalidInput(_refusal(lead.stage, to_stage), field="stage")
    detail = checked_text(lost_detail, limit=2000, field="lost_detail", label="The explanation")
    if to_stage == "lost":
        if lost_reason not in LOST_REASONS:
            raise InvalidInput("Say why the lead was lost: choose a reason.", field="lost_reason")
        if lost_reason in LOST_REASONS_NEEDING_DETAIL and not detail:
            what = (
                "which brand or dealer they bought from"
                if lost_reason == "bought_elsewhere"
                else "what happened"
            )
            raise InvalidInput(f"Say {what}.", field="lost_detail")
    else:
        lost_reason, detail = None, None

    from_stage = lead.stage
    lead.stage = to_stage
    lead.lost_reason = lost_reason
    lead.lost_detail = detail
    lead.updated_at = now
    if to_stage not in OPEN_STAGES:
        lead.next_action, lead.next_action_at = None, None
        settle_sla_warnings(session, lead_id=lead.id, now=now)  # closed: nobody to call
    if to_stage == "sold":
        queue_delivery(session, lead, now=now)
    elif to_stage == "delivered":
        for delivery in repo.scheduled_deliveries_of_lead(session, lead.id):
            finish_delivery(session, delivery, now=now)
    elif from_stage == "sold":  # the deal fell through: nothing to hand over
        for delivery in repo.scheduled_deliveries_of_lead(session, lead.id):
            delivery.status = "cancelled"
            planned = repo.planned_delivery_appointment(
                session, profile_id=delivery.profile_id, lead_id=lead.id
            )
            if planned is not None:
                planned.status = "cancelled"
    change = LeadStageChange(
        lead_id=lead.id,
        from_stage=from_stage,
        to_stage=to_stage,
        lost_reason=lost_reason,
        changed_by_user_id=by_user_id,
        changed_at=now,
    )
    session.add(change)
    session.flush()
    refresh_search(session, [lead.profile_id])
    return change
