"""Alerts: who is told what, and the tray's reads. Every function takes a session and flushes;
the caller commits, and only then do the open pages hear of it (cdp.alerts.delivery).

The producers, one per kind (cdp.models.alert.ALERT_KINDS):
- `lead_assigned`: the one call of every path that gives a lead to someone;
- `customer_activity`: ingest's hook, once per transaction (configurator pages and saves,
  quotes and test drive requests of customers with an open lead assigned to someone);
- `test_drive_booked` and `checked_in`: staff planning a test drive, reception checking in;
- `sla_warning`: the SLA job, for a dealer's managers.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from cdp.alerts import repository as repo
from cdp.dealers.visibility import DealerScope
from cdp.errors import NotFound
from cdp.leads.norms import own_names
from cdp.local_time import to_local
from cdp.models import ALERT_KINDS, Alert, Appointment, Lead, utcnow
from cdp.taxonomy import CONFIGURATION_SAVED, QUOTE_REQUESTED, TEST_DRIVE_REQUESTED
from cdp.text import plural

# One `customer_back` alert per customer per salesperson in this window: a customer browsing
# sends dozens of events a minute, and the salesperson needs to hear it once, not dozens.
CUSTOMER_BACK_QUIET = timedelta(minutes=30)
TRAY_SIZE = 10
PER_PAGE = 50

# What a configurator event says, strongest first: the alert names the strongest of a batch.
_ACTIVITY = (
    (QUOTE_REQUESTED, "requested a quote"),
    (CONFIGURATION_SAVED, "saved a configuration"),
)
_BROWSING = "is back on the configurator"
_APPOINTMENT_WORDS = {"visit": "visit", "test_drive": "test drive", "delivery": "delivery"}


@dataclass(frozen=True, slots=True)
class TrayItem:
    alert: Alert
    customer: str  # the name to show: the customer's, or a stand-in when none is known
    unread: bool


@dataclass(frozen=True, slots=True)
class Tray:
    unread: int
    items: list[TrayItem]
    newest_id: int  # the newest unread alert listed: "mark all read" stops there


def notify(
    session: Session,
    *,
    user_id: int,
    kind: str,
    text: str,
    dealer_id: int | None = None,
    profile_id: uuid.UUID | None = None,
    lead_id: int | None = None,
    appointment_id: int | None = None,
    now: datetime | None = None,
) -> None:
    """Store one alert for one staff member; their open pages show it once this commits."""
    notify_many(
        session,
        [
            _row(
                user_id=user_id,
                kind=kind,
                text=text,
                dealer_id=dealer_id,
                profile_id=profile_id,
                lead_id=lead_id,
                appointment_id=appointment_id,
                now=now or utcnow(),
            )
        ],
    )


def notify_many(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Store alerts (rows made by `_row`) in one statement and announce them once."""
    if not rows:
        return
    for row in rows:
        if row["kind"] not in ALERT_KINDS:
            raise ValueError(f"unknown alert kind {row['kind']!r}")
    repo.insert_alerts(session, rows)
    repo.signal(session, {row["user_id"] for row in rows})
    session.flush()


def _row(
    *,
    user_id: int,
    kind: str,
    text: str,
    now: datetime,
    dealer_id: int | None = None,
    profile_id: uuid.UUID | None = None,
    lead_id: int | None = None,
    appointment_id: int | None = None,
) -> dict[str, Any]:
    return {
        "user_id": user_id,
        "dealer_id": dealer_id,
        "kind": kind,
        "profile_id": profile_id,
        "lead_id": lead_id,
        "appointment_id": appointment_id,
        "text": text[:300],
        "created_at": now,
        "read_at": None,
    }


# --- the producers ---------------------------------------------------------------------------
def lead_assigned(
    session: Session,
    lead: Lead,
    user_id: int | None,
    *,
    by_user_id: int | None = None,
    now: datetime | None = None,
    channel_names: dict[str, str] | None = None,
) -> None:
    """A lead was given to `user_id` (nobody is told of a lead they took themselves).
    `channel_names`: the importer's names for channels (cdp.leads.norms.own_names)."""
    if user_id is None or user_id == by_user_id:
        return
    channel = (channel_names or {}).get(lead.channel) or lead.channel.replace("_", " ")
    what = f"new {channel} lead assigned to you"
    notify(
        session,
        user_id=user_id,
        kind="lead_assigned",
        text=f"{what}: {lead.model}" if lead.model else what,
        dealer_id=lead.dealer_id,
        profile_id=lead.profile_id,
        lead_id=lead.id,
        now=now,
    )


def leads_assigned(
    session: Session, assignments: Sequence[tuple[int, int | None, int | None]], *, now: datetime
) -> None:
    """Routing's and people's assignments, (lead id, to user, by user) each: every salesperson
    given a lead is told (cdp.leads.routing.record_assignment calls this, whatever assigned)."""
    wanted = [(lead_id, to) for lead_id, to, by in assignments if to is not None and to != by]
    if not wanted:
        return
    leads = {lead.id: lead for lead in repo.leads_by_id(session, [i for i, _ in wanted])}
    names = own_names(session)
    for lead_id, user_id in wanted:
        if (lead := leads.get(lead_id)) is not None:
            lead_assigned(session, lead, user_id, now=now, channel_names=names)


# (profile id, event name or None for a page, whether it saved a configuration)
Activity = tuple[uuid.UUID, str | None, bool]


def customer_activity(session: Session, activity: Sequence[Activity], *, now: datetime) -> None:
    """Ingest's hook, once per transaction: tell each salesperson whose open lead's customer
    was on the configurator. Costs one indexed query when none of the customers has such a
    lead (nearly every transaction), and two more when one has.

    A Test Drive Requested is its own alert (`test_drive`), never rate-limited; the rest is
    `customer_back`, at most once per customer and salesperson in CUSTOMER_BACK_QUIET.
    """
    if not activity:
        return
    leads = repo.assigned_open_leads(session, {pid for pid, _, _ in activity})
    if not leads:
        return
    told = repo.recently_told(session, leads, since=now - CUSTOMER_BACK_QUIET)
    said: dict[uuid.UUID, str] = {}
    rows: list[dict[str, Any]] = []
    for pid, name, saved in activity:
        lead = leads.get(pid)
        if lead is None:
            continue
        lead_id, user_id, dealer_id = lead
        if name == TEST_DRIVE_REQUESTED:
            rows.append(
                _row(
                    kind="test_drive",
                    text="requested a test drive",
                    now=now,
                    user_id=user_id,
                    dealer_id=dealer_id,
                    profile_id=pid,
                    lead_id=lead_id,
                )
            )
            continue
        if (pid, user_id) in told:
            continue
        text = _what_they_did(name, saved)
        if pid not in said or _strength(text) > _strength(said[pid]):
            said[pid] = text
    for pid, text in said.items():
        lead_id, user_id, dealer_id = leads[pid]
        rows.append(
            _row(
                kind="customer_back",
                text=text,
                now=now,
                user_id=user_id,
                dealer_id=dealer_id,
                profile_id=pid,
                lead_id=lead_id,
            )
        )
    notify_many(session, rows)


def _what_they_did(name: str | None, saved: bool) -> str:
    if saved:
        return "saved a configuration"
    for event, words in _ACTIVITY:
        if name == event:
            return words
    return _BROWSING


def _strength(text: str) -> int:
    for rank, (_event, words) in enumerate(_ACTIVITY):
        if text == words:
            return len(_ACTIVITY) - rank
    return 0


def test_drive_booked(
    session: Session, appointment: Appointment, *, lead: Lead | None, by_user_id: int | None
) -> None:
    """A test drive planned by staff: its salesperson hears of it, unless they planned it."""
    user_id = appointment.user_id or (lead.assigned_user_id if lead else None)
    if appointment.kind != "test_drive" or user_id is None or user_id == by_user_id:
        return
    notify(
        session,
        user_id=user_id,
        kind="test_drive",
        text=f"test drive booked for {to_local(appointment.starts_at):%d-%m %H:%M}",
        dealer_id=appointment.dealer_id,
        profile_id=appointment.profile_id,
        lead_id=appointment.lead_id,
        appointment_id=appointment.id,
    )


def checked_in(
    session: Session, appointment: Appointment, *, lead: Lead | None, by_user_id: int | None
) -> None:
    """Reception marked an appointment arrived: its salesperson is told the customer is here."""
    user_id = appointment.user_id or (lead.assigned_user_id if lead else None)
    if user_id is None or user_id == by_user_id:
        return
    what = _APPOINTMENT_WORDS.get(appointment.kind, "appointment")
    notify(
        session,
        user_id=user_id,
        kind="checked_in",
        text=f"has arrived at reception for their {what}",
        dealer_id=appointment.dealer_id,
        profile_id=appointment.profile_id,
        lead_id=appointment.lead_id,
        appointment_id=appointment.id,
    )


def sla_warning(
    session: Session,
    lead: Lead,
    manager_ids: Collection[int],
    *,
    now: datetime | None = None,
    due_at: datetime | None = None,
) -> None:
    """A lead close to (or past) its first-contact deadline `due_at`: each of `manager_ids` is
    told once per lead, however often the SLA job finds it (so the job may run on every worker,
    every minute)."""
    warned = repo.sla_warned(session, lead_id=lead.id)
    now = now or utcnow()
    who = "lead" if lead.assigned_user_id is not None else "unassigned lead"
    text = f"{who} not contacted yet: {_deadline_words(due_at, now)}"
    notify_many(
        session,
        [
            _row(
                user_id=manager_id,
                kind="sla_warning",
                text=text,
                now=now,
                dealer_id=lead.dealer_id,
                profile_id=lead.profile_id,
                lead_id=lead.id,
            )
            for manager_id in sorted(set(manager_ids) - warned)
        ],
    )


def _deadline_words(due_at: datetime | None, now: datetime) -> str:
    """ "deadline near (due 14:30)", or how long ago it passed: a lead found weeks late (the
    server was down, or the warning time is past the due time) is not "near"."""
    if due_at is None:
        return "first-contact deadline near"
    if due_at > now:
        return f"first-contact deadline near (due {to_local(due_at):%H:%M})"
    late = now - due_at
    minutes = int(late.total_seconds() // 60)
    count, unit = (
        (max(minutes, 1), "minute")
        if minutes < 60
        else (minutes // 60, "hour")
        if minutes < 48 * 60
        else (minutes // (24 * 60), "day")
    )
    ago = f"{count} {plural(count, unit)}"
    return f"first-contact deadline passed {ago} ago (due {to_local(due_at):%d-%m %H:%M})"


# --- the tray --------------------------------------------------------------------------------
def _items(rows: list[tuple[Alert, str | None]]) -> list[TrayItem]:
    return [
        TrayItem(alert=alert, customer=name or "A customer", unread=alert.read_at is None)
        for alert, name in rows
    ]


def tray(session: Session, *, user_id: int, scope: DealerScope) -> Tray:
    """The header's tray: the unread count and the newest unread alerts."""
    rows = repo.alerts_page(
        session, user_id=user_id, scope=scope, unread_only=True, offset=0, limit=TRAY_SIZE
    )
    return Tray(
        unread=repo.unread_count(session, user_id=user_id, scope=scope),
        items=_items(rows),
        newest_id=rows[0][0].id if rows else 0,
    )


def latest_unread_id(session: Session, *, user_id: int, scope: DealerScope) -> int:
    return repo.latest_unread_id(session, user_id=user_id, scope=scope)


@dataclass(frozen=True, slots=True)
class AlertPage:
    items: list[TrayItem]
    total: int
    page: int
    pages: int


def all_alerts(session: Session, *, user_id: int, scope: DealerScope, page: int) -> AlertPage:
    """Every alert of a person, read or not, newest first, PER_PAGE a page."""
    total = repo.count_alerts(session, user_id=user_id, scope=scope)
    pages = max(1, -(-total // PER_PAGE))
    page = min(max(1, page), pages)
    rows = repo.alerts_page(
        session,
        user_id=user_id,
        scope=scope,
        unread_only=False,
        offset=(page - 1) * PER_PAGE,
        limit=PER_PAGE,
    )
    return AlertPage(items=_items(rows), total=total, page=page, pages=pages)


def open_alert(
    session: Session, *, alert_id: int, user_id: int, scope: DealerScope, now: datetime
) -> Alert:
    """One of the person's alerts, marked read (opening it is reading it)."""
    alert = repo.alert_of(session, alert_id=alert_id, user_id=user_id, scope=scope)
    if alert is None:
        raise NotFound("There is no alert of yours with this link.", field="alert_id")
    if alert.read_at is None:
        alert.read_at = now
        session.flush()
    return alert


def mark_all_read(
    session: Session, *, user_id: int, scope: DealerScope, up_to_id: int, now: datetime
) -> int:
    return repo.mark_all_read(session, user_id=user_id, scope=scope, up_to_id=up_to_id, now=now)
