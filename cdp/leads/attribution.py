"""Which campaign brought a lead: the first and the last touch before it (issue 11 §1).

A touch is what Segment's libraries put in an event's context: `context.campaign` (the utm
source, medium, name, content and term of the landing page) and the referrer
(`context.page.referrer`, or `context.referrer.url`). A lead made from an event carries the
earliest touch of its customer's events up to the lead (first touch) and the latest (last
touch); a lead with none came direct. Read once, when the lead is made: only new leads pay.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from typing import Any
from urllib.parse import urlsplit

import orjson
from sqlalchemy import Text, cast, or_, select, update
from sqlalchemy.orm import Session

from cdp.models import Event, Lead

CAMPAIGN_FIELDS = ("source", "medium", "name", "content", "term")


def _text(value: Any, limit: int = 200) -> str | None:
    if value is None or isinstance(value, (dict, list, bool)):
        return None
    text = str(value).strip()
    return text[:limit] or None


def _host(url: Any) -> str | None:
    text = _text(url, 500)
    return urlsplit(text).netloc.lower() or None if text else None


def _referrer(context: dict[str, Any]) -> str | None:
    """The referring site, unless it is the site itself (a click from page to page)."""
    page = context.get("page")
    url = page.get("referrer") if isinstance(page, dict) else None
    referrer = context.get("referrer")
    if not url and isinstance(referrer, dict):
        url = referrer.get("url") or referrer.get("link")
    host = _host(url)
    if host is None or (isinstance(page, dict) and host == _host(page.get("url"))):
        return None
    return host


def touch_of(context: Any) -> dict[str, str] | None:
    """The campaign and referring site an event's context names, or None (direct)."""
    if isinstance(context, str):
        try:
            context = orjson.loads(context)
        except orjson.JSONDecodeError:
            return None
    if not isinstance(context, dict):
        return None
    found: dict[str, str] = {}
    campaign = context.get("campaign")
    if isinstance(campaign, dict):
        for key in CAMPAIGN_FIELDS:
            if (value := _text(campaign.get(key))) is not None:
                found[key] = value
    referrer = _referrer(context)
    if referrer is not None:
        found["referrer"] = referrer
    return found or None


def attribute_new_leads(session: Session, profile_ids: Collection[uuid.UUID]) -> None:
    """First and last touch for the leads just made from events of these profiles."""
    if not profile_ids:
        return
    leads = session.execute(
        select(Lead.id, Lead.profile_id, Lead.created_at).where(
            Lead.profile_id.in_(list(profile_ids)),
            Lead.source_event_id.is_not(None),
            Lead.first_touch.is_(None),
        )
    ).all()
    for lead_id, profile_id, created_at in leads:
        text = cast(Event.context, Text)
        rows = session.execute(
            select(Event.context)
            .where(
                Event.profile_id == profile_id,
                Event.occurred_at <= created_at,
                or_(text.like('%"campaign"%'), text.like('%"referrer"%')),
            )
            .order_by(Event.occurred_at, Event.id)
        ).scalars()
        touches = [touch for context in rows if (touch := touch_of(context)) is not None]
        if touches:
            session.execute(
                update(Lead)
                .where(Lead.id == lead_id)
                .values(first_touch=touches[0], last_touch=touches[-1])
            )
