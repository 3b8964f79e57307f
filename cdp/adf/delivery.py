"""New leads delivered to dealers' own CRMs: each POSTed as an ADF document to the address the
dealer set, retried with growing pauses when the CRM does not take it, every attempt logged.

A run (`cdp leads deliver`, scheduled every minute or so, or the server's own loop) first queues
the leads of dealers with an address that came in since it was set, then sends what is due. On
PostgreSQL the due rows are locked with SKIP LOCKED, so runs in several processes never send one
lead twice at the same moment.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import httpx
from sqlalchemy import exists, func, insert, literal, select, update
from sqlalchemy.orm import Session

from cdp.adf.export import lead_as_adf
from cdp.errors import InvalidInput
from cdp.models import AdfDelivery, Dealer, Event, Lead, utcnow
from cdp.sql import dialect_of

# The pause after each failed attempt; after the last, the delivery is given up (failed) and
# shows so in the dealer's log, where it can be sent again by hand.
BACKOFF = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=15),
    timedelta(hours=1),
    timedelta(hours=3),
    timedelta(hours=6),
    timedelta(hours=12),
    timedelta(hours=24),
)
TIMEOUT_SECONDS = 10.0
BATCH = 50

# (HTTP status or None when no answer came, error text or None)
Sender = Callable[[str, bytes], tuple[int | None, str | None]]


@dataclass
class DeliveryRun:
    queued: int = 0
    delivered: int = 0
    retrying: int = 0
    failed: int = 0


def checked_address(raw: str) -> str:
    url = raw.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or len(url) > 500:
        raise InvalidInput(
            "the CRM address must be an http:// or https:// address of up to 500 characters",
            field="url",
        )
    return url


def set_address(session: Session, dealer: Dealer, url: str | None, *, now: datetime) -> None:
    """Deliver the dealer's new leads to `url` from now on (None: stop delivering)."""
    if url is None:
        dealer.adf_url = None
        dealer.adf_since = None
        # What waits to be sent stops too: the dealer no longer wants its leads there.
        session.execute(
            update(AdfDelivery)
            .where(AdfDelivery.dealer_id == dealer.id, AdfDelivery.status == "pending")
            .values(status="failed", last_error="delivery to the CRM was turned off")
        )
    else:
        if dealer.adf_url is None:
            dealer.adf_since = now  # leads from before were never meant for this CRM
        dealer.adf_url = checked_address(url)
    session.flush()


def post_adf(url: str, document: bytes) -> tuple[int | None, str | None]:
    try:
        answer = httpx.post(
            url,
            content=document,
            headers={"Content-Type": "application/x-adf+xml"},
            timeout=TIMEOUT_SECONDS,
            follow_redirects=False,
        )
    except httpx.HTTPError as error:
        return None, f"{type(error).__name__}: {error}"[:500]
    if 200 <= answer.status_code < 300:
        return answer.status_code, None
    return answer.status_code, f"the CRM answered {answer.status_code}: {answer.text[:300]}"


def queue_new_leads(session: Session, *, now: datetime) -> int:
    """A delivery for every lead of a dealer with an address, made since it was set."""
    pending = (
        select(
            Lead.id,
            Lead.dealer_id,
            Dealer.adf_url,
            literal("pending"),
            literal(0),
            literal(now, AdfDelivery.next_attempt_at.type),
            literal(now, AdfDelivery.created_at.type),
        )
        .join(Dealer, Dealer.id == Lead.dealer_id)
        # A lead made from an event is dated by the event (perhaps days before it arrived, as
        # an ADF lead's request date): "new" is when it arrived here.
        .outerjoin(Event, Event.id == Lead.source_event_id)
        .where(
            Dealer.adf_url.is_not(None),
            Dealer.active.is_(True),
            func.coalesce(Event.received_at, Lead.created_at) >= Dealer.adf_since,
            ~exists().where(AdfDelivery.lead_id == Lead.id),
        )
    )
    columns = ["lead_id", "dealer_id", "url", "status", "attempts", "next_attempt_at", "created_at"]
    made = session.scalars(
        insert(AdfDelivery).from_select(columns, pending).returning(AdfDelivery.id)
    )
    return len(made.all())


def _due(session: Session, *, now: datetime, limit: int) -> list[AdfDelivery]:
    query = (
        select(AdfDelivery)
        .where(AdfDelivery.status == "pending", AdfDelivery.next_attempt_at <= now)
        .order_by(AdfDelivery.next_attempt_at, AdfDelivery.id)
        .limit(limit)
    )
    if dialect_of(session) == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(session.scalars(query))


def attempt(session: Session, delivery: AdfDelivery, *, now: datetime, send: Sender) -> None:
    lead = session.get(Lead, delivery.lead_id)
    assert lead is not None  # a lead is deleted together with its delivery
    code, error = send(delivery.url, lead_as_adf(session, lead))
    delivery.attempts += 1
    delivery.last_status_code = code
    delivery.last_error = error
    if error is None:
        delivery.status = "delivered"
        delivery.delivered_at = now
    elif delivery.attempts > len(BACKOFF):
        delivery.status = "failed"
    else:
        delivery.next_attempt_at = now + BACKOFF[delivery.attempts - 1]
    session.flush()


def deliver_due(
    session: Session, *, now: datetime | None = None, send: Sender = post_adf, limit: int = BATCH
) -> DeliveryRun:
    """Queue new leads, then send what is due (at most `limit`). Flushes; the caller commits."""
    now = now or utcnow()
    run = DeliveryRun(queued=queue_new_leads(session, now=now))
    for delivery in _due(session, now=now, limit=limit):
        attempt(session, delivery, now=now, send=send)
        if delivery.status == "delivered":
            run.delivered += 1
        elif delivery.status == "failed":
            run.failed += 1
        else:
            run.retrying += 1
    return run


def send_again(session: Session, delivery: AdfDelivery, *, now: datetime) -> None:
    """A failed or waiting delivery sent at the next run, with its attempts counted afresh."""
    if delivery.status == "delivered":
        raise InvalidInput("this lead has reached the CRM already", field="delivery")
    delivery.status = "pending"
    delivery.attempts = 0
    delivery.next_attempt_at = now
    session.flush()
