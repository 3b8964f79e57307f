"""Leads made from events as they are ingested: a Quote Requested or Test Drive Requested opens a
lead (with the preferred test-drive time) unless the customer already has an open one, routed
at once to a dealer and a salesperson (routing.py), all of a transaction's leads together."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy.orm import Session

from cdp.errors import InvalidInput
from cdp.leads import repository as repo
from cdp.leads.checks import (
    DEFAULT_VISIT_TIME,
    PLAN_HORIZON,
)
from cdp.leads.routing import NewAssignment, RouteRequest, record_assignment, route_leads
from cdp.local_time import SHOWROOM_TZ, local_start
from cdp.models import (
    LEAD_CHANNELS,
    Appointment,
    LeadStageChange,
    utcnow,
)
from cdp.taxonomy import QUOTE_REQUESTED, TEST_DRIVE_REQUESTED

PREFERRED_TIMES = {"morning": time(10, 0), "afternoon": time(14, 0), "evening": time(17, 0)}


EARLIEST_PREFERRED = datetime(2000, 1, 1, tzinfo=UTC)  # as for event times (cdp.ingestion.prepare)


LEAD_EVENTS = (QUOTE_REQUESTED, TEST_DRIVE_REQUESTED)


# (event id, profile id, event name, properties, occurred at): what ingest hands the hooks.
LeadEvent = tuple[int, uuid.UUID, str | None, dict[str, Any], datetime]


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

    - Quote Requested and Test Drive Requested make a lead for a profile without an open one,
      routed to a dealer and a salesperson (routing.py; its assignment recorded). An event that
      already made a lead never makes another, even if that lead has since closed.
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
    requests: list[RouteRequest] = []
    for event_id, pid, _name, properties, occurred_at in sorted(wanted, key=lambda e: e[4]):
        if pid in open_leads or pid in new_leads or event_id in made:
            continue
        at = min(occurred_at, now)
        requests.append(RouteRequest(profile_id=pid, properties=properties))
        new_leads[pid] = {
            "dealer_id": None,
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
    # These customers have no open lead, so none has a salesperson to keep (owners={}).
    routes = route_leads(session, requests, owners={})
    for row, route in zip(new_leads.values(), routes, strict=True):
        row["dealer_id"] = route.dealer_id
        row["assigned_user_id"] = route.user_id
    lead_ids = repo.insert_leads(session, list(new_leads.values()))
    record_assignment(
        session,
        [
            NewAssignment(
                lead_id=lead_id,
                dealer_id=route.dealer_id,
                to_user_id=route.user_id,
                rule=route.rule,
                warning=route.warning,
                at=now,
                profile_id=row["profile_id"],
            )
            for lead_id, row, route in zip(lead_ids, new_leads.values(), routes, strict=True)
        ],
    )
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
    dealer_of: dict[int, int | None] = {}
    for lead_id, (pid, row) in zip(lead_ids, new_leads.items(), strict=True):
        open_leads[pid] = (lead_id, row["assigned_user_id"])
        dealer_of[lead_id] = row["dealer_id"]

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
                "dealer_id": dealer_of.get(lead[0]) if lead else None,
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
