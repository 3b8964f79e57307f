"""A lead carries the campaign that brought it (issue 11 §1): the utm fields and referrer of the
customer's first and last touch before it, sent as Segment's libraries send them, on SQLite and
PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cdp.models import Identity, Lead
from tests.helpers import SourceKey, post_v1, uid


def at(minutes: int) -> str:
    return (datetime(2026, 11, 2, 9, 0, tzinfo=UTC) + timedelta(minutes=minutes)).isoformat()


def lead_of(db: Session, email: str) -> Lead:
    db.expire_all()
    profile = db.scalar(select(Identity.profile_id).where(Identity.value == email))
    lead = db.scalar(select(Lead).where(Lead.profile_id == profile))
    assert lead is not None
    return lead


def test_a_lead_carries_its_first_and_last_touch(
    app_client: TestClient, web_source: SourceKey, db: Session
) -> None:
    device = uid("device")
    email = f"{uid('touch')}@example.nl"
    calls = [
        {"type": "page", "name": "Home", "timestamp": at(0), "context": {
            "campaign": {"source": "google", "medium": "cpc", "name": "winter-suv"},
            "page": {"referrer": "https://www.google.com/search?q=suv"}}},
        {"type": "page", "name": "Configurator", "timestamp": at(5), "context": {"page": {
            "url": "https://configurator.example.com/aurelia",
            "referrer": "https://configurator.example.com/"}}},  # from page to page: no touch
        {"type": "page", "name": "Home", "timestamp": at(60 * 24), "context": {
            "campaign": {"source": "newsletter", "medium": "email", "name": "december",
                         "content": "hero", "term": "aurelia"}}},
        {"type": "identify", "timestamp": at(60 * 24 + 1), "traits": {"email": email}},
        {"type": "page", "name": "Summary", "timestamp": at(60 * 24 + 1), "context": {"page": {
            "url": "https://configurator.example.com/summary",
            "referrer": "https://configurator.example.com/aurelia"}}},
        {"type": "track", "event": "Quote Requested", "timestamp": at(60 * 24 + 2),
         "properties": {"model": "Aurelia"}},
    ]  # fmt: skip
    batch = [{**call, "anonymousId": device} for call in calls]
    assert post_v1(app_client, web_source, "batch", {"batch": batch}).status_code == 200

    lead = lead_of(db, email)
    assert lead.first_touch == {
        "source": "google", "medium": "cpc", "name": "winter-suv", "referrer": "www.google.com"
    }  # fmt: skip
    assert lead.last_touch == {
        "source": "newsletter", "medium": "email", "name": "december", "content": "hero",
        "term": "aurelia",
    }  # fmt: skip


def test_a_direct_lead_has_no_touch(
    app_client: TestClient, web_source: SourceKey, db: Session
) -> None:
    device = uid("device")
    email = f"{uid('direct')}@example.nl"
    calls = [
        {"type": "identify", "timestamp": at(0), "traits": {"email": email}},
        {"type": "track", "event": "Quote Requested", "timestamp": at(1), "context": {
            "campaign": "not an object", "page": {"referrer": ""}}},
    ]  # fmt: skip
    batch = [{**call, "anonymousId": device} for call in calls]
    assert post_v1(app_client, web_source, "batch", {"batch": batch}).status_code == 200
    lead = lead_of(db, email)
    assert lead.first_touch is None and lead.last_touch is None
