"""Lead follow-up rules: stages and who changed them, contact attempts, next actions,
appointments, structured notes, and the handover of a sold car to the delivery team.

Every function takes a session and flushes; the caller commits. Each checks all of its input
before it changes anything, so a refused request leaves the database as it was.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy.orm import Session

from cdp.auth.permissions import ROLE_PERMISSIONS, Permission, allows
from cdp.errors import InvalidInput, NotFound
from cdp.identity.repository import upsert_traits
from cdp.leads import repository as repo
from cdp.leads.schemas import (
    BUDGET_BANDS,
    INTEREST_LEVELS,
    MODEL_DIRECTIONS,
    OPTIONS,
    SHOWROOM_TZ,
    TIMEFRAMES,
    ConfigurationGlance,
    DeliveryRow,
    LeadList,
    LeadRow,
    Visitor,
    VisitorDay,
    format_age,
    local_start,
    local_today,
    to_local,
)
from cdp.models import (
    APPOINTMENT_KINDS,
    APPOINTMENT_STATUSES,
    CONTACT_METHODS,
    CONTACT_OUTCOMES,
    LEAD_CHANNELS,
    LEAD_STAGES,
    LOST_REASONS,
    OPEN_STAGES,
    Appointment,
    Configuration,
    ContactAttempt,
    Delivery,
    Lead,
    LeadStageChange,
    Note,
    Profile,
    StaffUser,
    utcnow,
)
from cdp.profiles import repository as profiles_repo
from cdp.profiles.projection import refresh_search
from cdp.taxonomy import QUOTE_REQUESTED, TEST_DRIVE_REQUESTED
from cdp.text import search_text

CLOSED_STAGES = ("lost", "invalid", "duplicate")
FINAL_STAGES = ("sold", "delivered")
DELIVERY_STATUSES = ("scheduled", "delivered", "cancelled")
# A lost reason whose whole value is in the detail: which brand or dealer, or what happened.
LOST_REASONS_NEEDING_DETAIL = ("bought_elsewhere", "other")
NOT_REACHED_OUTCOMES = ("no_answer", "voicemail")
REACHED_OUTCOMES = ("reached", "replied")
# A typed time may lie a little in the past (the customer is at the desk right now).
PAST_SLACK = timedelta(hours=1)
PLAN_HORIZON = timedelta(days=366)
DEFAULT_VISIT_TIME = time(10, 0)
PREFERRED_TIMES = {"morning": time(10, 0), "afternoon": time(14, 0), "evening": time(17, 0)}
EARLIEST_PREFERRED = datetime(2000, 1, 1, tzinfo=UTC)  # as for event times (ingest.prepare)
PER_PAGE = 50
LEAD_EVENTS = (QUOTE_REQUESTED, TEST_DRIVE_REQUESTED)

# (event id, profile id, event name, properties, occurred at): what ingest hands the hooks.
LeadEvent = tuple[int, uuid.UUID, str | None, dict[str, Any], datetime]

# The same signals as the customer page (showroom.customer_view.intent_signals), from counts.
INTENT_EVENTS = (
    ("Finance Calculated", "Finance calculated"),
    ("Trade-In Valued", "Trade-in valued"),
    (QUOTE_REQUESTED, "Quote requested"),
    (TEST_DRIVE_REQUESTED, "Test drive requested"),
    ("Configuration Loaded", "Reopened a saved configuration"),
)


# --- small checks -----------------------------------------------------------------------------
def _roles_with(*permissions: Permission) -> list[str]:
    return [
        role
        for role, granted in ROLE_PERMISSIONS.items()
        if any(permission in granted for permission in permissions)
    ]


def _text(value: str | None, *, limit: int, field: str, label: str) -> str | None:
    text = (value or "").strip()
    if not text:
        return None
    if len(text) > limit:
        raise InvalidInput(f"{label} is too long: at most {limit} characters.", field=field)
    return text


def _choice(value: str | None, allowed: Sequence[str], *, field: str, message: str) -> str | None:
    if value is None or value == "":
        return None
    if value not in allowed:
        raise InvalidInput(message, field=field)
    return value


def _live_profile(session: Session, profile_id: uuid.UUID) -> Profile:
    profile = profiles_repo.live_profile(session, profile_id)
    if profile is None:
        raise NotFound("There is no customer with this link.", field="profile_id")
    return profile


def _staff_member(
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
    return [(u.id, u.name) for u in repo.active_staff(session, _roles_with(Permission.LEADS))]


def delivery_specialists(session: Session) -> list[tuple[int, str]]:
    return [(u.id, u.name) for u in repo.active_staff(session, _roles_with(Permission.DELIVERIES))]


def hosts(session: Session) -> list[tuple[int, str]]:
    """Staff who receive visitors: salespeople and the delivery team."""
    return [
        (u.id, u.name)
        for u in repo.active_staff(session, _roles_with(Permission.LEADS, Permission.DELIVERIES))
    ]


def _check_time(starts_at: datetime, *, now: datetime, field: str) -> None:
    if starts_at.tzinfo is None:
        raise InvalidInput("The time has no time zone.", field=field)
    if starts_at < now - PAST_SLACK:
        raise InvalidInput("That time has passed. Pick a time from now on.", field=field)
    if starts_at > now + PLAN_HORIZON:
        raise InvalidInput("That is more than a year ahead. Check the date.", field=field)


# --- stages -----------------------------------------------------------------------------------
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
    detail = _text(lost_detail, limit=2000, field="lost_detail", label="The explanation")
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
    if to_stage == "sold":
        _queue_delivery(session, lead, now=now)
    elif to_stage == "delivered":
        for delivery in repo.scheduled_deliveries_of_lead(session, lead.id):
            _finish_delivery(session, delivery, now=now)
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


# --- leads ------------------------------------------------------------------------------------
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
) -> Lead:
    lead = Lead(
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
    now: datetime | None = None,
) -> Lead:
    """A new lead for a customer (an absorbed profile's id is followed to the survivor)."""
    now = now or utcnow()
    profile = _live_profile(session, profile_id)
    if channel not in LEAD_CHANNELS:
        raise InvalidInput("Choose the channel the lead came in through.", field="channel")
    clean_model = _text(model, limit=200, field="model", label="The model")
    if assigned_user_id is not None:
        _staff_member(
            session,
            assigned_user_id,
            Permission.LEADS,
            field="assigned_user_id",
            what="a salesperson",
        )
    lead = _new_lead(
        session,
        profile_id=profile.id,
        channel=channel,
        model=clean_model,
        assigned_user_id=assigned_user_id,
        created_by_user_id=created_by_user_id,
        source_event_id=None,
        at=now,
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
    now: datetime | None = None,
) -> Lead:
    """Give an open lead to a salesperson (None: back to the unassigned pool)."""
    now = now or utcnow()
    if lead.stage not in OPEN_STAGES:
        raise InvalidInput(
            f"This lead is {OPTIONS.label('stage', lead.stage).lower()}; only open leads are "
            "assigned.",
            field="assigned_user_id",
        )
    if user_id is not None:
        _staff_member(
            session, user_id, Permission.LEADS, field="assigned_user_id", what="a salesperson"
        )
    lead.assigned_user_id = user_id
    lead.updated_at = now
    session.flush()
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
    clean_note = _text(note, limit=2000, field="note", label="The note")
    if lead.stage not in OPEN_STAGES:
        raise InvalidInput(
            f"This lead is {OPTIONS.label('stage', lead.stage).lower()}. Reopen it (change its "
            "stage) before logging contact.",
            field="outcome",
        )
    attempt = ContactAttempt(
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
    lead.updated_at = now
    session.flush()
    if lead.stage == "new" and outcome in NOT_REACHED_OUTCOMES:
        change_stage(session, lead=lead, to_stage="attempted", by_user_id=by_user_id, now=now)
    elif lead.stage in ("new", "attempted") and outcome in REACHED_OUTCOMES:
        change_stage(session, lead=lead, to_stage="reached", by_user_id=by_user_id, now=now)
    return attempt


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
    text = _text(action, limit=200, field="next_action", label="The next action")
    if text is None and due_at is not None:
        raise InvalidInput("Say what the next action is.", field="next_action")
    if due_at is not None:
        _check_time(due_at, now=now, field="next_action_at")
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
) -> LeadList:
    """Open leads sorted by what needs action (see repository.open_lead_page).

    scope: mine (assigned to `user_id`), unassigned, all, or user (assigned to `salesperson_id`).
    Whether the caller may see `all` or another `user` is the page's business (LEADS_ALL).
    """
    if scope not in ("mine", "unassigned", "all", "user"):
        raise InvalidInput("Unknown filter.", field="who")
    filters: dict[str, Any] = {"scope": scope, "user_id": user_id, "salesperson_id": salesperson_id}
    total = repo.count_open_leads(session, **filters)
    pages = max(1, math.ceil(total / per_page))
    page = min(max(1, page), pages)
    rows = repo.open_lead_page(
        session, now=now, offset=(page - 1) * per_page, limit=per_page, **filters
    )
    names = repo.staff_names(
        session, {lead.assigned_user_id for lead, *_ in rows if lead.assigned_user_id}
    )
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
            total if scope == "unassigned" else repo.count_open_leads(session, scope="unassigned")
        ),
    )


# --- appointments -----------------------------------------------------------------------------
def _move_forward(
    session: Session,
    lead: Lead | None,
    *,
    to_stage: str,
    before: Sequence[str],
    by_user_id: int | None,
    now: datetime,
) -> None:
    """Advance a lead along the funnel when what happened implies it; never move it back."""
    if lead is not None and lead.stage in before:
        change_stage(session, lead=lead, to_stage=to_stage, by_user_id=by_user_id, now=now)


def create_appointment(
    session: Session,
    *,
    profile_id: uuid.UUID,
    kind: str,
    starts_at: datetime | None,
    user_id: int | None,
    created_by_user_id: int | None,
    model: str | None = None,
    note: str | None = None,
    lead_id: int | None = None,
    now: datetime | None = None,
) -> Appointment:
    """Plan a visit, test drive or delivery. A planned visit or test drive moves the customer's
    open lead (new, attempted or reached) to appointment."""
    now = now or utcnow()
    profile = _live_profile(session, profile_id)
    if kind not in APPOINTMENT_KINDS:
        raise InvalidInput("Choose a visit, a test drive or a delivery.", field="kind")
    if starts_at is None:
        raise InvalidInput("Pick the day of the appointment.", field="starts_at")
    _check_time(starts_at, now=now, field="starts_at")
    if user_id is not None:
        _staff_member(
            session,
            user_id,
            Permission.LEADS,
            Permission.DELIVERIES,
            field="user_id",
            what="who receives them",
        )
    clean_model = _text(model, limit=200, field="model", label="The model")
    clean_note = _text(note, limit=2000, field="note", label="The note")
    lead: Lead | None
    if lead_id is not None:
        lead = repo.lead(session, lead_id)
        if lead is None or lead.profile_id != profile.id:
            raise InvalidInput("That lead is not this customer's.", field="lead_id")
    else:
        lead = repo.open_leads_by_profile(session, [profile.id]).get(profile.id)
    appointment = Appointment(
        profile_id=profile.id,
        lead_id=lead.id if lead else None,
        user_id=user_id,
        kind=kind,
        status="planned",
        starts_at=starts_at,
        model=clean_model or (lead.model if lead else None),
        note=clean_note,
        created_by_user_id=created_by_user_id,
        created_at=now,
    )
    session.add(appointment)
    session.flush()
    if kind in ("visit", "test_drive"):
        _move_forward(
            session,
            lead,
            to_stage="appointment",
            before=("new", "attempted", "reached"),
            by_user_id=created_by_user_id,
            now=now,
        )
    return appointment


def get_appointment(session: Session, appointment_id: int) -> Appointment:
    appointment = repo.appointment(session, appointment_id)
    if appointment is None:
        raise NotFound("There is no appointment with this link.", field="appointment_id")
    return appointment


def set_appointment_status(
    session: Session,
    *,
    appointment: Appointment,
    status: str,
    by_user_id: int | None,
    now: datetime | None = None,
) -> Appointment:
    """Arrived (showed), no show, cancelled, or back to planned. A customer who showed up for a
    test drive moves their lead to test drive."""
    now = now or utcnow()
    if status not in APPOINTMENT_STATUSES:
        raise InvalidInput("Choose arrived, no show or cancelled.", field="status")
    if status == appointment.status:
        raise InvalidInput(
            f"The appointment is already {OPTIONS.label('status', status).lower()}.",
            field="status",
        )
    if status in ("showed", "no_show") and local_today(appointment.starts_at) > local_today(now):
        raise InvalidInput(
            "This visit is on a later day: mark it arrived or no show on the day itself.",
            field="status",
        )
    appointment.status = status
    session.flush()
    if status == "showed" and appointment.lead_id is not None:
        lead = repo.lead(session, appointment.lead_id)
        if appointment.kind == "test_drive":
            _move_forward(
                session,
                lead,
                to_stage="test_drive",
                before=("new", "attempted", "reached", "appointment"),
                by_user_id=by_user_id,
                now=now,
            )
        elif appointment.kind == "visit":
            _move_forward(
                session,
                lead,
                to_stage="appointment",
                before=("new", "attempted", "reached"),
                by_user_id=by_user_id,
                now=now,
            )
    return appointment


def _glance(configuration: Configuration | None) -> ConfigurationGlance | None:
    if configuration is None:
        return None
    return ConfigurationGlance(
        code=configuration.code,
        model=configuration.model,
        trim=configuration.trim,
        colour=configuration.colour,
        colour_hex=configuration.colour_hex,
        total_price=configuration.total_price,
    )


def _signals(
    configuration: Configuration | None, counts: dict[str, int], showroom: bool
) -> list[tuple[str, str]]:
    signals: list[tuple[str, str]] = []
    if configuration is not None:
        signals.append(
            (
                "Saved configuration",
                f"{configuration.model or 'a car'} saved "
                f"{to_local(configuration.saved_at):%d-%m-%Y} ({configuration.code})",
            )
        )
    for event, label in INTENT_EVENTS:
        if counts.get(event):
            times = "once" if counts[event] == 1 else f"{counts[event]} times"
            signals.append((label, f"{times} in the configurator"))
    if showroom:
        signals.append(("Visited the showroom", "configured on a showroom tablet"))
    return signals


def expected_visitors(
    session: Session, *, now: datetime, days: int = 7, user_id: int | None = None
) -> list[VisitorDay]:
    """Appointments from the start of today (showroom time) for `days` days, grouped by day,
    each with the customer's latest configuration and intent signals: a few queries in all."""
    today = local_today(now)
    start = local_start(today, time(0, 0))
    end = local_start(today + timedelta(days=days), time(0, 0))
    appointments = repo.appointments_between(session, start, end, user_id=user_id)
    ids = {a.profile_id for a in appointments}
    names = repo.profile_names(session, ids)
    configurations = repo.latest_configurations(session, ids)
    counts = repo.event_counts(session, ids, [event for event, _ in INTENT_EVENTS])
    showroom = repo.profiles_seen_in(session, ids, "showroom")
    people = repo.staff_names(session, {a.user_id for a in appointments if a.user_id})
    leads = repo.leads_by_id(session, {a.lead_id for a in appointments if a.lead_id})
    grouped = [
        VisitorDay(
            day=today + timedelta(days=offset),
            label="Today" if offset == 0 else "Tomorrow" if offset == 1 else "",
        )
        for offset in range(days)
    ]
    for day in grouped:
        if not day.label:
            day.label = f"{day.day:%A}"
    by_day = {day.day: day for day in grouped}
    for appointment in appointments:
        local = to_local(appointment.starts_at)
        configuration = configurations.get(appointment.profile_id)
        by_day[local.date()].visitors.append(
            Visitor(
                appointment=appointment,
                starts_local=local,
                name=names.get(appointment.profile_id),
                person=people.get(appointment.user_id or 0),
                configuration=_glance(configuration),
                signals=_signals(
                    configuration,
                    counts.get(appointment.profile_id, {}),
                    appointment.profile_id in showroom,
                ),
                lead=leads.get(appointment.lead_id or 0),
            )
        )
    return grouped


# --- notes ------------------------------------------------------------------------------------
def add_note(
    session: Session,
    *,
    profile_id: uuid.UUID,
    user_id: int | None,
    interest_level: str | None = None,
    budget_band: str | None = None,
    timeframe: str | None = None,
    trade_in_make: str | None = None,
    trade_in_model: str | None = None,
    trade_in_year: int | None = None,
    trade_in_km: int | None = None,
    financing_interest: bool | None = None,
    competitor: str | None = None,
    model_direction: str | None = None,
    text: str | None = None,
    tablet_session_id: int | None = None,
    now: datetime | None = None,
) -> Note:
    """A structured conversation note. Its structured fields also become profile traits
    (note_interest_level, note_budget_band, note_timeframe, note_trade_in,
    note_financing_interest, note_competitor, note_model_direction) that marketing can use;
    the free text stays in the note."""
    now = now or utcnow()
    profile = _live_profile(session, profile_id)
    level = _choice(
        interest_level, INTEREST_LEVELS, field="interest_level", message="Choose hot, warm or cold."
    )
    band = _choice(
        budget_band, BUDGET_BANDS, field="budget_band", message="Choose a budget from the list."
    )
    when = _choice(
        timeframe,
        TIMEFRAMES,
        field="timeframe",
        message="Choose when they want to buy from the list.",
    )
    direction = _choice(
        model_direction,
        MODEL_DIRECTIONS,
        field="model_direction",
        message="Choose a higher or a lower model.",
    )
    make = _text(trade_in_make, limit=100, field="trade_in_make", label="The trade-in make")
    trade_model = _text(
        trade_in_model, limit=100, field="trade_in_model", label="The trade-in model"
    )
    if trade_in_year is not None and not 1950 <= trade_in_year <= now.year + 1:
        raise InvalidInput(
            f"The trade-in year must be between 1950 and {now.year + 1}.", field="trade_in_year"
        )
    if trade_in_km is not None and not 0 <= trade_in_km <= 2_000_000:
        raise InvalidInput("The mileage must be between 0 and 2.000.000 km.", field="trade_in_km")
    rival = _text(competitor, limit=200, field="competitor", label="The competitor")
    free = _text(text, limit=5000, field="text", label="The note")
    trade_in = {
        key: value
        for key, value in (
            ("make", make),
            ("model", trade_model),
            ("year", trade_in_year),
            ("km", trade_in_km),
        )
        if value is not None
    }
    structured: dict[str, Any] = {
        "note_interest_level": level,
        "note_budget_band": band,
        "note_timeframe": when,
        "note_trade_in": trade_in or None,
        "note_financing_interest": financing_interest,
        "note_competitor": rival,
        "note_model_direction": direction,
    }
    if free is None and all(value is None for value in structured.values()):
        raise InvalidInput("The note is empty: fill in at least one field.", field="text")
    note = Note(
        profile_id=profile.id,
        user_id=user_id,
        tablet_session_id=tablet_session_id,
        interest_level=level,
        budget_band=band,
        timeframe=when,
        trade_in_make=make,
        trade_in_model=trade_model,
        trade_in_year=trade_in_year,
        trade_in_km=trade_in_km,
        financing_interest=financing_interest,
        competitor=rival,
        model_direction=direction,
        text=free,
        created_at=now,
    )
    session.add(note)
    session.flush()
    upsert_traits(
        session,
        [
            {
                "profile_id": profile.id,
                "name": name,
                "value": value,
                "value_at": now,
                "first_value": value,
                "first_at": now,
                "search_text": search_text(value),
            }
            for name, value in structured.items()
            if value is not None
        ],
    )
    return note


# --- deliveries -------------------------------------------------------------------------------
def describe_car(configuration: Configuration | None, model: str | None) -> str | None:
    if configuration is None:
        return model
    parts = [
        configuration.model or model,
        configuration.trim,
        configuration.engine,
        configuration.colour,
    ]
    return " · ".join(p for p in parts if p)[:300] or model


def _queue_delivery(session: Session, lead: Lead, *, now: datetime) -> Delivery:
    existing = repo.scheduled_deliveries_of_lead(session, lead.id)
    if existing:
        return existing[0]
    configuration = repo.configuration_for_sale(session, lead.profile_id, lead.model)
    delivery = Delivery(
        profile_id=lead.profile_id,
        lead_id=lead.id,
        car=describe_car(configuration, lead.model),
        configuration_code=configuration.code if configuration else None,
        price=configuration.total_price if configuration else None,
        status="scheduled",
        created_at=now,
    )
    session.add(delivery)
    session.flush()
    return delivery


def _finish_delivery(session: Session, delivery: Delivery, *, now: datetime) -> None:
    delivery.status = "delivered"
    delivery.delivered_at = now
    delivery.delivery_date = delivery.delivery_date or local_today(now)
    planned = repo.planned_delivery_appointment(
        session, profile_id=delivery.profile_id, lead_id=delivery.lead_id
    )
    if planned is not None:
        planned.status = "showed"


def get_delivery(session: Session, delivery_id: int) -> Delivery:
    delivery = repo.delivery(session, delivery_id)
    if delivery is None:
        raise NotFound("There is no delivery with this link.", field="delivery_id")
    return delivery


def schedule_delivery(
    session: Session,
    *,
    delivery: Delivery,
    delivery_date: date | None,
    at: time | None,
    specialist_user_id: int | None,
    by_user_id: int | None,
    now: datetime | None = None,
) -> Delivery:
    """Set the handover day (and time) and the specialist. A dated handover is also a delivery
    appointment, so it shows on the day's visitor list."""
    now = now or utcnow()
    if delivery.status != "scheduled":
        raise InvalidInput(
            f"This delivery is {delivery.status}; it can no longer be planned.",
            field="delivery_date",
        )
    if delivery_date is not None and delivery_date < local_today(now):
        raise InvalidInput("That day has passed. Pick today or a later day.", field="delivery_date")
    if delivery_date is not None and delivery_date > local_today(now + PLAN_HORIZON):
        raise InvalidInput("That is more than a year ahead. Check the date.", field="delivery_date")
    if at is not None and delivery_date is None:
        raise InvalidInput("Pick a day for this time.", field="delivery_date")
    if specialist_user_id is not None:
        _staff_member(
            session,
            specialist_user_id,
            Permission.DELIVERIES,
            field="specialist_user_id",
            what="a delivery specialist",
        )
    delivery.delivery_date = delivery_date
    delivery.specialist_user_id = specialist_user_id
    planned = repo.planned_delivery_appointment(
        session, profile_id=delivery.profile_id, lead_id=delivery.lead_id
    )
    if delivery_date is None:
        if planned is not None:
            planned.status = "cancelled"
    else:
        starts_at = local_start(delivery_date, at or DEFAULT_VISIT_TIME)
        if planned is None:
            planned = Appointment(
                profile_id=delivery.profile_id,
                lead_id=delivery.lead_id,
                kind="delivery",
                status="planned",
                model=(delivery.car or "")[:200] or None,
                note=f"Handover of {delivery.car}" if delivery.car else "Handover",
                created_by_user_id=by_user_id,
                created_at=now,
                starts_at=starts_at,
            )
            session.add(planned)
        planned.starts_at = starts_at
        planned.user_id = specialist_user_id
    session.flush()
    return delivery


def mark_delivered(
    session: Session, *, delivery: Delivery, by_user_id: int | None, now: datetime | None = None
) -> Delivery:
    """The car is handed over: the delivery is done and its lead moves to delivered."""
    now = now or utcnow()
    if delivery.status != "scheduled":
        raise InvalidInput(f"This delivery is already {delivery.status}.", field="status")
    lead = repo.lead(session, delivery.lead_id) if delivery.lead_id else None
    if lead is not None and lead.stage == "sold":
        change_stage(session, lead=lead, to_stage="delivered", by_user_id=by_user_id, now=now)
    if delivery.status == "scheduled":  # a delivery without a sold lead
        _finish_delivery(session, delivery, now=now)
    session.flush()
    return delivery


def delivery_queue(session: Session, *, specialist_id: int | None = None) -> list[DeliveryRow]:
    deliveries = repo.scheduled_deliveries(session, specialist_id=specialist_id)
    names = repo.profile_names(session, {d.profile_id for d in deliveries})
    lead_ids = {d.lead_id for d in deliveries if d.lead_id}
    leads = repo.leads_by_id(session, lead_ids)
    planned = repo.planned_delivery_appointments(session, lead_ids)
    people = repo.staff_names(
        session,
        {d.specialist_user_id for d in deliveries if d.specialist_user_id}
        | {lead.assigned_user_id for lead in leads.values() if lead.assigned_user_id},
    )
    rows = []
    for delivery in deliveries:
        lead = leads.get(delivery.lead_id or 0)
        appointment = planned.get(delivery.lead_id or 0) if delivery.delivery_date else None
        rows.append(
            DeliveryRow(
                delivery=delivery,
                name=names.get(delivery.profile_id),
                salesperson=people.get(lead.assigned_user_id or 0) if lead else None,
                specialist=people.get(delivery.specialist_user_id or 0),
                appointment_local=to_local(appointment.starts_at) if appointment else None,
            )
        )
    return rows


# --- ingest hooks -----------------------------------------------------------------------------
def preferred_start(properties: dict[str, Any], *, now: datetime | None = None) -> datetime | None:
    """When a Test Drive Requested event asks to come, as UTC; None if it names no usable date.

    A bare date means 10:00 showroom time (14:00 for "afternoon", 17:00 for "evening" in
    `preferred_time`); a datetime without an offset is showroom time. A date before 2000, or
    further ahead of `now` than staff may plan (PLAN_HORIZON), is a mistyped year or mischief
    (0001-01-01, 9999-12-31), not a wish: the request still makes a lead, but no appointment.
    """
    raw = properties.get("preferred_date")
    if not isinstance(raw, str) or not raw.strip():
        return None
    try:
        starts_at = _preferred_moment(raw.strip()[:40], properties.get("preferred_time"))
    except OverflowError:  # 0001-01-01 or 9999-12-31 moved past the calendar's end
        return None
    if starts_at is None or not EARLIEST_PREFERRED <= starts_at <= (now or utcnow()) + PLAN_HORIZON:
        return None
    return starts_at


def _preferred_moment(text: str, wanted: object) -> datetime | None:
    try:
        day = date.fromisoformat(text)
    except ValueError:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=SHOWROOM_TZ)
        return moment.astimezone(UTC)
    at = PREFERRED_TIMES.get(wanted, DEFAULT_VISIT_TIME) if isinstance(wanted, str) else None
    return local_start(day, at or DEFAULT_VISIT_TIME)


def _event_model(properties: dict[str, Any]) -> str | None:
    model = properties.get("model")
    return model.strip()[:200] or None if isinstance(model, str) else None


def handle_lead_events(
    session: Session,
    events: Sequence[LeadEvent],
    *,
    channel: str = "website",
    now: datetime | None = None,
) -> set[uuid.UUID]:
    """The ingest hooks, a few statements for any number of events (they run inside ingest):

    - Quote Requested and Test Drive Requested make a lead (unassigned) for a profile without
      an open one. An event that already made a lead never makes another, even if that lead
      has since closed.
    - Each Test Drive Requested with a preferred date makes a planned test drive appointment,
      on the profile's open lead. The appointment remembers its event, so a replayed event
      makes none; a date that cannot be read makes only the lead.

    Takes plain data (the events as stored) and returns the profiles given a new lead, whose
    search rows must show its stage: the caller refreshes them.
    """
    if channel not in LEAD_CHANNELS:
        raise InvalidInput("unknown lead channel", field="channel")
    wanted = [e for e in events if e[2] in LEAD_EVENTS]
    if not wanted:
        return set()
    now = now or utcnow()
    open_leads = repo.open_lead_refs(session, {pid for _, pid, *_ in wanted})
    made = repo.lead_source_events(session, [event_id for event_id, *_ in wanted])
    new_leads: dict[uuid.UUID, dict[str, Any]] = {}
    for event_id, pid, _name, properties, occurred_at in sorted(wanted, key=lambda e: e[4]):
        if pid in open_leads or pid in new_leads or event_id in made:
            continue
        at = min(occurred_at, now)
        new_leads[pid] = {
            "profile_id": pid,
            "channel": channel,
            "stage": "new",
            "lost_reason": None,
            "lost_detail": None,
            "model": _event_model(properties),
            "assigned_user_id": None,
            "next_action": None,
            "next_action_at": None,
            "source_event_id": event_id,
            "created_at": at,
            "updated_at": at,
        }
    lead_ids = repo.insert_leads(session, list(new_leads.values()))
    repo.insert_rows(
        session,
        LeadStageChange,
        [
            {
                "lead_id": lead_id,
                "from_stage": None,
                "to_stage": "new",
                "lost_reason": None,
                "changed_by_user_id": None,
                "changed_at": row["created_at"],
            }
            for lead_id, row in zip(lead_ids, new_leads.values(), strict=True)
        ],
    )
    for lead_id, pid in zip(lead_ids, new_leads, strict=True):
        open_leads[pid] = (lead_id, None)

    drives = [e for e in wanted if e[2] == TEST_DRIVE_REQUESTED]
    known = repo.appointment_source_events(session, [event_id for event_id, *_ in drives])
    appointments = []
    for event_id, pid, _name, properties, _occurred_at in drives:
        starts_at = preferred_start(properties, now=now)
        if starts_at is None or event_id in known:
            continue
        lead = open_leads.get(pid)
        appointments.append(
            {
                "profile_id": pid,
                "lead_id": lead[0] if lead else None,
                "user_id": lead[1] if lead else None,
                "kind": "test_drive",
                "status": "planned",
                "starts_at": starts_at,
                "model": _event_model(properties),
                "note": "Requested online",
                "source_event_id": event_id,
                "created_by_user_id": None,
                "created_at": now,
            }
        )
        known.add(event_id)
    repo.insert_rows(session, Appointment, appointments)
    return set(new_leads)
