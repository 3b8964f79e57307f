"""Leads: making one, assigning it, contact attempts, next actions, and each salesperson's list.
Stages, appointments, notes, deliveries and the leads events make live beside this module
(docs/architecture.md).

Every function takes a session and flushes; the caller commits. Each checks all of its input
before it changes anything, so a refused request leaves the database as it was.
"""

from __future__ import annotations

import math
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from cdp.auth.permissions import Permission, allows
from cdp.dealers import repository as dealers_repo
from cdp.dealers.service import acting_dealer_id
from cdp.dealers.visibility import NETWORK, DealerScope
from cdp.errors import InvalidInput, NotFound
from cdp.ids import MAX_ROW_ID
from cdp.leads import repository as repo
from cdp.leads import sla
from cdp.leads.checks import (
    check_time,
    checked_text,
    live_profile_or_not_found,
    staff_member,
)
from cdp.leads.labels import OPTIONS
from cdp.leads.routing import NewAssignment, RouteRequest, record_assignment, route_one
from cdp.leads.schemas import LeadList, LeadRow
from cdp.leads.stages import (
    change_stage,
)
from cdp.local_time import format_age, to_local
from cdp.models import (
    CONTACT_METHODS,
    CONTACT_OUTCOMES,
    LEAD_CHANNELS,
    OPEN_STAGES,
    ContactAttempt,
    Lead,
    LeadStageChange,
    utcnow,
)
from cdp.profiles.projection import refresh_search

NOT_REACHED_OUTCOMES = ("no_answer", "voicemail")
REACHED_OUTCOMES = ("reached", "replied")
PER_PAGE = 50


def _new_lead(
    session: Session,
    *,
    profile_id: uuid.UUID,
    channel: str,
    model: str | None,
    assigned_user_id: int | None,
    created_by_user_id: int | None,
    source_event_id: int | None,
    at: datetime,
    dealer_id: int | None,
) -> Lead:
    lead = Lead(
        dealer_id=dealer_id,
        profile_id=profile_id,
        channel=channel,
        stage="new",
        model=model,
        assigned_user_id=assigned_user_id,
        source_event_id=source_event_id,
        created_at=at,
        updated_at=at,
    )
    session.add(lead)
    session.flush()
    session.add(
        LeadStageChange(
            lead_id=lead.id,
            from_stage=None,
            to_stage="new",
            changed_by_user_id=created_by_user_id,
            changed_at=at,
        )
    )
    session.flush()
    return lead


def create_lead(
    session: Session,
    *,
    profile_id: uuid.UUID,
    channel: str,
    created_by_user_id: int | None,
    model: str | None = None,
    assigned_user_id: int | None = None,
    route: bool = False,
    dealer_id: int | None = None,
    assignment_rule: str = "chosen",
    now: datetime | None = None,
) -> Lead:
    """A new lead for a customer (an absorbed profile's id is followed to the survivor).

    With a salesperson it is theirs (its assignment recorded as `assignment_rule`, by the
    creator). Without one it stays unassigned, or with `route` goes where routing sends it
    (routing.py). Its dealer: `dealer_id` if given (a walk-in's showroom), else routing's, else
    the assignee's or creator's dealer (cdp/dealers/service.acting_dealer_id).
    """
    now = now or utcnow()
    profile = live_profile_or_not_found(session, profile_id)
    if channel not in LEAD_CHANNELS:
        raise InvalidInput("Choose the channel the lead came in through.", field="channel")
    clean_model = checked_text(model, limit=200, field="model", label="The model")
    if assigned_user_id is not None:
        staff_member(
            session,
            assigned_user_id,
            Permission.LEADS,
            field="assigned_user_id",
            what="a salesperson",
        )
    routed = None
    if assigned_user_id is None and route:
        routed = route_one(session, RouteRequest(profile_id=profile.id, dealer_id=dealer_id))
        assigned_user_id = routed.user_id
        dealer_id = routed.dealer_id
    elif dealer_id is None:
        dealer_id = acting_dealer_id(session, assigned_user_id or created_by_user_id)
    lead = _new_lead(
        session,
        profile_id=profile.id,
        channel=channel,
        model=clean_model,
        assigned_user_id=assigned_user_id,
        created_by_user_id=created_by_user_id,
        source_event_id=None,
        at=now,
        dealer_id=dealer_id,
    )
    if routed is not None:
        record_assignment(
            session,
            [
                NewAssignment(
                    lead_id=lead.id,
                    dealer_id=routed.dealer_id,
                    to_user_id=routed.user_id,
                    rule=routed.rule,
                    warning=routed.warning,
                    at=now,
                    profile_id=lead.profile_id,
                )
            ],
        )
    elif assigned_user_id is not None:
        record_assignment(
            session,
            [
                NewAssignment(
                    lead_id=lead.id,
                    dealer_id=lead.dealer_id,
                    to_user_id=assigned_user_id,
                    by_user_id=created_by_user_id,
                    rule=assignment_rule,
                    at=now,
                    profile_id=lead.profile_id,
                )
            ],
        )
    refresh_search(session, [profile.id])
    return lead


def get_lead(session: Session, lead_id: int, *, for_update: bool = False) -> Lead:
    lead = repo.lead(session, lead_id, for_update=for_update)
    if lead is None:
        raise NotFound("There is no lead with this link.", field="lead_id")
    return lead


def assign_lead(
    session: Session,
    *,
    lead: Lead,
    user_id: int | None,
    by_user_id: int | None,
    reason: str | None = None,
    now: datetime | None = None,
) -> Lead:
    """Give an open lead to a salesperson (None: back to the unassigned pool), recorded in its
    history. Taking a lead from someone (or back to the pool) needs a reason."""
    now = now or utcnow()
    clean_reason = checked_text(reason, limit=500, field="reason", label="The reason")
    if lead.stage not in OPEN_STAGES:
        raise InvalidInput(
            f"This lead is {OPTIONS.label('stage', lead.stage).lower()}; only open leads are "
            "assigned.",
            field="assigned_user_id",
        )
    if user_id is not None:
        member = staff_member(
            session, user_id, Permission.LEADS, field="assigned_user_id", what="a salesperson"
        )
        works_at = dealers_repo.dealer_ids_of(session, user_id)
        if lead.dealer_id is not None and works_at and lead.dealer_id not in works_at:
            # They would not even see it: a dealer's leads are its own staff's.
            raise InvalidInput(
                f"{member.name} works at another dealer: choose someone of this lead's dealer.",
                field="assigned_user_id",
            )
    previous = lead.assigned_user_id
    if previous == user_id:
        return lead
    if previous is not None and clean_reason is None:
        raise InvalidInput(
            "Say why this lead moves from its salesperson (they will see it in its history).",
            field="reason",
        )
    lead.assigned_user_id = user_id
    lead.updated_at = now
    session.flush()
    record_assignment(
        session,
        [
            NewAssignment(
                lead_id=lead.id,
                dealer_id=lead.dealer_id,
                from_user_id=previous,
                to_user_id=user_id,
                by_user_id=by_user_id,
                rule="reassigned"
                if previous is not None
                else "taken"
                if user_id == by_user_id
                else "chosen",
                reason=clean_reason,
                at=now,
                profile_id=lead.profile_id,
            )
        ],
    )
    return lead


def log_contact_attempt(
    session: Session,
    *,
    lead: Lead,
    method: str,
    outcome: str,
    by_user_id: int | None,
    note: str | None = None,
    now: datetime | None = None,
) -> ContactAttempt:
    """Record a call, e-mail, WhatsApp or SMS and its outcome.

    A new lead that did not answer moves to attempted; a new or attempted lead that was reached
    (or replied) moves to reached. An unassigned lead goes to the salesperson who worked it.
    """
    now = now or utcnow()
    if method not in CONTACT_METHODS:
        raise InvalidInput(
            "Choose how you contacted them: call, e-mail, WhatsApp or SMS.", field="method"
        )
    if outcome not in CONTACT_OUTCOMES:
        raise InvalidInput("Choose what came of it.", field="outcome")
    clean_note = checked_text(note, limit=2000, field="note", label="The note")
    if lead.stage not in OPEN_STAGES:
        raise InvalidInput(
            f"This lead is {OPTIONS.label('stage', lead.stage).lower()}. Reopen it (change its "
            "stage) before logging contact.",
            field="outcome",
        )
    sla.note_first_contact(session, lead, now)
    attempt = ContactAttempt(
        dealer_id=lead.dealer_id,
        lead_id=lead.id,
        profile_id=lead.profile_id,
        user_id=by_user_id,
        method=method,
        outcome=outcome,
        note=clean_note,
        attempted_at=now,
    )
    session.add(attempt)
    if lead.assigned_user_id is None and by_user_id is not None:
        worker = repo.staff_user(session, by_user_id)
        if worker is not None and worker.active and allows(worker.role, Permission.LEADS):
            lead.assigned_user_id = worker.id
            record_assignment(
                session,
                [
                    NewAssignment(
                        lead_id=lead.id,
                        dealer_id=lead.dealer_id,
                        to_user_id=worker.id,
                        by_user_id=worker.id,
                        rule="contact",
                        at=now,
                        profile_id=lead.profile_id,
                    )
                ],
            )
    lead.updated_at = now
    session.flush()
    if lead.stage == "new" and outcome in NOT_REACHED_OUTCOMES:
        change_stage(session, lead=lead, to_stage="attempted", by_user_id=by_user_id, now=now)
    elif lead.stage in ("new", "attempted") and outcome in REACHED_OUTCOMES:
        change_stage(session, lead=lead, to_stage="reached", by_user_id=by_user_id, now=now)
    return attempt


def logged_attempt(session: Session, *, lead: Lead, attempt_id: int) -> ContactAttempt | None:
    """A contact attempt of this lead (the confirmation after logging it shows it)."""
    attempt = repo.contact_attempt(session, attempt_id) if 0 < attempt_id <= MAX_ROW_ID else None
    return attempt if attempt is not None and attempt.lead_id == lead.id else None


def suggested_next_action(attempt: ContactAttempt) -> str:
    """What usually comes next, to prefill the question after a contact is logged."""
    if attempt.outcome == "wrong_number":
        return "Find the right number"
    if attempt.outcome in NOT_REACHED_OUTCOMES:
        return "Try again" if attempt.method == "call" else "Call them"
    return "Follow up"


def set_next_action(
    session: Session,
    *,
    lead: Lead,
    action: str | None,
    due_at: datetime | None,
    now: datetime | None = None,
) -> Lead:
    """What happens next on a lead, and by when. No action and no time: the action is done."""
    now = now or utcnow()
    if lead.stage not in OPEN_STAGES:
        raise InvalidInput(
            f"This lead is {OPTIONS.label('stage', lead.stage).lower()}; it has no next action.",
            field="next_action",
        )
    text = checked_text(action, limit=200, field="next_action", label="The next action")
    if text is None and due_at is not None:
        raise InvalidInput("Say what the next action is.", field="next_action")
    if due_at is not None:
        check_time(due_at, now=now, field="next_action_at")
    lead.next_action = text
    lead.next_action_at = due_at
    lead.updated_at = now
    session.flush()
    return lead


def my_leads(
    session: Session,
    *,
    user_id: int,
    now: datetime,
    scope: str = "mine",
    salesperson_id: int | None = None,
    page: int = 1,
    per_page: int = PER_PAGE,
    dealers: DealerScope = NETWORK,
) -> LeadList:
    """Open leads sorted by what needs action (see repository.open_lead_page).

    scope: mine (assigned to `user_id`), unassigned, all, or user (assigned to `salesperson_id`).
    Whether the caller may see `all` or another `user` is the page's business (LEADS_ALL);
    `dealers` keeps every count and row to the caller's dealers.
    """
    if scope not in ("mine", "unassigned", "all", "user"):
        raise InvalidInput("Unknown filter.", field="who")
    filters: dict[str, Any] = {
        "scope": scope,
        "user_id": user_id,
        "salesperson_id": salesperson_id,
        "dealers": dealers,
    }
    total = repo.count_open_leads(session, **filters)
    pages = max(1, math.ceil(total / per_page))
    page = min(max(1, page), pages)
    rows = repo.open_lead_page(
        session, now=now, offset=(page - 1) * per_page, limit=per_page, **filters
    )
    names = repo.staff_names(
        session, {lead.assigned_user_id for lead, *_ in rows if lead.assigned_user_id}
    )
    contacts = repo.profile_contacts(session, {lead.profile_id for lead, *_ in rows})
    return LeadList(
        rows=[
            LeadRow(
                lead=lead,
                name=name,
                latest_model=model,
                latest_colour=colour,
                latest_colour_hex=hex_,
                salesperson=names.get(lead.assigned_user_id or 0),
                age=format_age(now - lead.created_at),
                overdue=lead.next_action_at is not None and lead.next_action_at < now,
                next_action_local=to_local(lead.next_action_at) if lead.next_action_at else None,
                email=contacts.get(lead.profile_id, (None, None))[0],
                phone=contacts.get(lead.profile_id, (None, None))[1],
            )
            for lead, name, model, colour, hex_ in rows
        ],
        total=total,
        page=page,
        pages=pages,
        per_page=per_page,
        scope=scope,
        salesperson_id=salesperson_id,
        unassigned_open=(
            total
            if scope == "unassigned"
            else repo.count_open_leads(session, scope="unassigned", dealers=dealers)
        ),
    )
