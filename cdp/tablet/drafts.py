"""Unsaved cars are never lost: a session ended with a car configured but not saved keeps it as a
draft, which the salesperson can resume later in a new session for the same customer.

Functions take a session and flush; the request commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from cdp.errors import Conflict, NotFound
from cdp.models import TabletSession
from cdp.tablet import service as svc
from cdp.tablet.configuring import car_of

# How long a draft is offered on the tablet's start page (the session itself is kept anyway).
DRAFT_DAYS = 30
_MAX_SHOWN = 20


def has_unsaved_car(tablet: TabletSession) -> bool:
    """A car is configured and differs from the last one saved in this session."""
    if tablet.profile_id is None or not tablet.selection.get("model"):
        return False
    saved = tablet.selection.get("saved_car")
    if saved is None:  # sessions from before saved_car was recorded: any save counts
        return not tablet.selection.get("saved")
    return bool(saved != car_of(tablet))


def end_keeping_draft(session: Session, tablet: TabletSession, *, now: datetime) -> bool:
    """End the session; an unsaved car stays as a draft. True when a draft was kept."""
    if tablet.ended_at is not None:
        return bool(tablet.selection.get("draft"))
    draft = has_unsaved_car(tablet)
    if draft:
        tablet.selection = {**tablet.selection, "draft": True}
    svc.end_session(session, tablet, now=now)
    return draft


def finish_with_note_keeping_draft(
    session: Session, tablet: TabletSession, note: svc.NoteInput, *, user_id: int, now: datetime
) -> bool:
    """The closing note ends the session too: an unsaved car stays a draft. True when kept."""
    draft = has_unsaved_car(tablet)
    svc.finish_with_note(session, tablet, note, user_id=user_id, now=now)
    if draft:
        tablet.selection = {**tablet.selection, "draft": True}
        session.flush()
    return draft


def drafts(session: Session, *, user_id: int, now: datetime) -> Sequence[TabletSession]:
    """This salesperson's drafts of the last DRAFT_DAYS days, newest first."""
    ended = session.scalars(
        select(TabletSession)
        .where(
            TabletSession.user_id == user_id,
            TabletSession.ended_at.is_not(None),
            TabletSession.ended_at >= now - timedelta(days=DRAFT_DAYS),
            TabletSession.profile_id.is_not(None),
        )
        .order_by(TabletSession.ended_at.desc())
        .limit(200)
    ).all()
    return [t for t in ended if t.selection.get("draft") is True][:_MAX_SHOWN]


def resume_draft(
    session: Session, draft: TabletSession, *, user_id: int, now: datetime
) -> TabletSession:
    """A new session for the draft's customer, with the draft's car, at its summary."""
    if draft.selection.get("draft") is not True or draft.profile_id is None:
        raise Conflict(
            "This session has no unsaved car to resume"
            + (
                " (it was resumed already)."
                if draft.selection.get("resumed_into")
                else ". Start a new session instead."
            )
        )
    profile_id = svc.live_profile_id(session, draft)
    if profile_id is None:
        raise NotFound("The customer of this draft is no longer on record.")
    tablet = svc.start_session(session, user_id=user_id, now=now)
    svc.choose_existing_customer(session, tablet, profile_id=profile_id, now=now)
    car = car_of(draft)
    tablet.selection = {
        **tablet.selection,
        **car,
        "step": "summary",
        "welcomed": True,
        "resumed_from": draft.id,
        **({"based_on": draft.selection["based_on"]} if draft.selection.get("based_on") else {}),
    }
    draft.selection = {**draft.selection, "draft": False, "resumed_into": tablet.id}
    session.flush()
    return tablet
