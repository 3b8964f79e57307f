"""Everything the customer page shows, assembled from the profile and the showroom records."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import Any

from sqlalchemy.orm import Session

from cdp.audit.service import record
from cdp.auth.permissions import Permission
from cdp.auth.staff import StaffContext
from cdp.leads import repository as leads_repo
from cdp.leads.labels import OPTIONS
from cdp.local_time import to_local
from cdp.models import OPEN_STAGES, Appointment, Lead, Note, ProfileView
from cdp.profiles import repository as profiles_repo
from cdp.profiles.configuration_prices import ConfigurationPrices, price_configuration
from cdp.profiles.schemas import ConfigurationOut, ProfileOut
from cdp.profiles.service import get_profile

CONFIG_FIELDS = ("model", "trim", "engine", "colour", "wheels", "interior")
RETURN_WINDOW = timedelta(days=14)


@dataclass
class TimelineEntry:
    at: datetime
    kind: str  # web_session | showroom_visit | note | stage | contact | appointment | merge
    title: str
    detail: str = ""
    merge_id: int | None = None  # a merge that may still be split


@dataclass
class ConfigurationCard:
    configuration: ConfigurationOut
    changes: list[str] = field(
        default_factory=list
    )  # what changed since `based_on` or the one before
    # The configuration this one was made from (a tablet session that started from it).
    based_on: ConfigurationOut | None = None
    # Each option's price and the totals, from the catalogue (online ones too).
    prices: ConfigurationPrices = field(default_factory=ConfigurationPrices)


@dataclass
class LatestNote:
    """The newest note, as the top of the customer page shows it."""

    note: Note
    author: str
    facts: list[str]  # its structured fields in words ("budget € 40.000 – 60.000", ...)
    count: int  # all the notes this person may read


@dataclass
class CustomerPage:
    profile: ProfileOut
    cards: list[ConfigurationCard]
    signals: list[tuple[str, str]]
    price_range: tuple[Decimal, Decimal] | None
    timeline: list[TimelineEntry]
    lead: Lead | None
    leads: list[Lead]
    notes: list[Note]
    upcoming: list[Appointment]
    staff_names: dict[int, str]
    show_deal: bool
    latest_note: LatestNote | None = None
    plate: str | None = None  # the car's licence plate, as lookup finds it
    # Leads at dealers outside the viewer's scope: (dealer name, stage label), never their notes.
    elsewhere: list[tuple[str, str]] = field(default_factory=list)


def _option_labels(options: list[Any]) -> set[str]:
    labels = set()
    for option in options:
        if isinstance(option, dict):
            labels.add(str(option.get("label") or option.get("code") or ""))
        else:
            labels.add(str(option))
    return {label for label in labels if label}


def configuration_changes(newer: ConfigurationOut, older: ConfigurationOut) -> list[str]:
    changes = []
    for name in CONFIG_FIELDS:
        before, after = getattr(older, name), getattr(newer, name)
        if before != after:
            changes.append(f"{name}: {before or '–'} → {after or '–'}")
    added = _option_labels(newer.options) - _option_labels(older.options)
    removed = _option_labels(older.options) - _option_labels(newer.options)
    changes += [f"added {label}" for label in sorted(added)]
    changes += [f"removed {label}" for label in sorted(removed)]
    if newer.total_price is not None and older.total_price is not None:
        delta = newer.total_price - older.total_price
        if delta:
            changes.append(
                f"price {'+' if delta > 0 else '−'}€ {abs(delta):,.0f}".replace(",", ".")
            )
    return changes


def note_facts(note: Note) -> list[str]:
    """A note's structured fields in the words staff read, in the order they were asked."""
    trade_in = " ".join(
        str(part) for part in (note.trade_in_make, note.trade_in_model, note.trade_in_year) if part
    )
    if trade_in and note.trade_in_km is not None:
        trade_in += f", {note.trade_in_km:,} km".replace(",", ".")
    facts = (
        note.interest_level and f"interest {OPTIONS.label('interest_level', note.interest_level)}",
        note.budget_band and f"budget {OPTIONS.label('budget_band', note.budget_band)}",
        note.timeframe and f"buying {OPTIONS.label('timeframe', note.timeframe)}",
        trade_in and f"trade-in {trade_in}",
        note.financing_interest is not None
        and f"financing: {'yes' if note.financing_interest else 'no'}",
        note.model_direction
        and f"considering {OPTIONS.label('model_direction', note.model_direction)}",
        note.competitor and f"also looking at {note.competitor}",
    )
    return [fact for fact in facts if fact]


def intent_signals(profile: ProfileOut) -> list[tuple[str, str]]:
    """Signals with published backing (saved configuration, return visits, finance, ...)."""
    signals: list[tuple[str, str]] = []
    if profile.configurations:
        latest = profile.configurations[0]
        signals.append(
            (
                "Saved configuration",
                f"{latest.model or 'a car'} saved "
                f"{to_local(latest.saved_at):%d-%m-%Y} ({latest.code})",
            )
        )
    web = sorted(s.started_at for s in profile.sessions if s.channel == "web")
    for earlier, later in pairwise(web):
        gap = later - earlier
        if timedelta(hours=12) < gap <= RETURN_WINDOW:
            days = max(1, gap.days)
            signals.append(
                ("Returned within 14 days", f"came back after {days} day{'s' if days > 1 else ''}")
            )
            break
    counts = profile.event_counts
    for event, label in (
        ("Finance Calculated", "Finance calculated"),
        ("Trade-In Valued", "Trade-in valued"),
        ("Quote Requested", "Quote requested"),
        ("Test Drive Requested", "Test drive requested"),
        ("Configuration Loaded", "Reopened a saved configuration"),
    ):
        if counts.get(event):
            times = "once" if counts[event] == 1 else f"{counts[event]} times"
            signals.append((label, f"{times} in the configurator"))
    if "showroom" in profile.channels:
        signals.append(("Visited the showroom", "configured on a showroom tablet"))
    return signals


def _timeline(
    profile: ProfileOut,
    notes: list[Note],
    leads: list[Lead],
    session: Session,
    names: dict[int, str],
    show_deal: bool,
    staff: StaffContext,
) -> list[TimelineEntry]:
    entries: list[TimelineEntry] = []
    for s in profile.sessions:
        models = ", ".join(s.models) if s.models else "no model chosen"
        kind = "showroom_visit" if s.channel == "showroom" else "web_session"
        title = "Showroom tablet session" if s.channel == "showroom" else "Configurator session"
        minutes = max(1, int((s.ended_at - s.started_at).total_seconds() // 60))
        entries.append(
            TimelineEntry(
                s.started_at,
                kind,
                title,
                f"{s.events} event{'s' if s.events != 1 else ''} over {minutes} min · {models}",
            )
        )
    for c in profile.configurations:
        entries.append(
            TimelineEntry(
                c.saved_at,
                "configuration",
                f"Saved configuration {c.code}",
                f"{c.model or ''} {c.colour or ''}".strip(),
            )
        )
    for m in profile.merges:
        if m.split_at is None:
            entries.append(TimelineEntry(m.merged_at, "merge", "Profiles merged", m.reason, m.id))
            continue
        entries.append(TimelineEntry(m.merged_at, "merge", "Profiles merged (undone)", m.reason))
        other = m.absorbed_id if m.survivor_id == profile.id else m.survivor_id
        entries.append(
            TimelineEntry(
                m.split_at, "split", "Merge undone", f"{m.split_reason} · other profile {other}"
            )
        )
    if show_deal:
        for note in notes:
            who = names.get(note.user_id or 0, "someone")
            summary = ", ".join(note_facts(note))
            entries.append(
                TimelineEntry(
                    note.created_at,
                    "note",
                    f"Note by {who}",
                    " · ".join(p for p in (summary, note.text or "") if p),
                )
            )
        lead_ids = [lead.id for lead in leads]
        for change in leads_repo.stage_changes_of(session, lead_ids):
            who = names.get(change.changed_by_user_id or 0, "system")
            reason = f" ({change.lost_reason.replace('_', ' ')})" if change.lost_reason else ""
            entries.append(
                TimelineEntry(
                    change.changed_at,
                    "stage",
                    f"Lead {change.from_stage or 'created'} → {change.to_stage}{reason}",
                    f"by {who}",
                )
            )
        for contact in leads_repo.contacts_of(session, [profile.id], staff.scope):
            who = names.get(contact.user_id or 0, "someone")
            entries.append(
                TimelineEntry(
                    contact.attempted_at,
                    "contact",
                    f"{contact.method.title()}: {contact.outcome.replace('_', ' ')}",
                    f"by {who}" + (f" · {contact.note}" if contact.note else ""),
                )
            )
    for appointment in leads_repo.appointments_of(session, [profile.id], staff.scope):
        entries.append(
            TimelineEntry(
                appointment.starts_at,
                "appointment",
                f"{appointment.kind.replace('_', ' ').title()} "
                f"({appointment.status.replace('_', ' ')})",
                appointment.model or "",
            )
        )
    entries.sort(key=lambda e: e.at, reverse=True)
    return entries


def customer_page(
    session: Session, profile_id: uuid.UUID, *, staff: StaffContext, now: datetime
) -> CustomerPage:
    profile = get_profile(session, profile_id, timeline_limit=0)
    session.add(
        ProfileView(profile_id=profile.id, user_id=staff.user_id, via="page", viewed_at=now)
    )
    record(session, "view", actor=staff.email, staff_user_id=staff.user_id, profile_id=profile.id)
    show_deal = staff.can(Permission.CUSTOMER_DEAL)
    ids = [profile.id, *profile.absorbed_ids]
    # Only what belongs to the viewer's dealers (cdp/dealers/visibility.py); other dealers'
    # leads are named, without their notes, contacts or appointments.
    leads = list(leads_repo.leads_of(session, ids, staff.scope))
    notes = list(leads_repo.notes_of(session, ids, staff.scope)) if show_deal else []
    appointments = leads_repo.appointments_of(session, ids, staff.scope)
    user_ids = {lead.assigned_user_id for lead in leads if lead.assigned_user_id}
    user_ids |= {note.user_id for note in notes if note.user_id}
    user_ids |= {a.user_id for a in appointments if a.user_id}
    names = leads_repo.staff_names(session, user_ids)
    open_leads = [lead for lead in leads if lead.stage in OPEN_STAGES]
    cards = []
    by_code = {c.code: c for c in profile.configurations}
    saved_with = profiles_repo.configuration_properties(session, ids)
    for index, configuration in enumerate(profile.configurations):
        base_code = saved_with.get(configuration.code, {}).get("based_on_code")
        base = by_code.get(base_code) if isinstance(base_code, str) else None
        if base is configuration:
            base = None
        older = base or (
            profile.configurations[index + 1] if index + 1 < len(profile.configurations) else None
        )
        cards.append(
            ConfigurationCard(
                configuration,
                configuration_changes(configuration, older) if older else [],
                based_on=base,
                prices=price_configuration(configuration, saved_with.get(configuration.code, {})),
            )
        )
    prices = [c.total_price for c in profile.configurations if c.total_price is not None]
    if show_deal:
        names |= leads_repo.staff_names(
            session,
            {
                c.changed_by_user_id
                for c in leads_repo.stage_changes_of(session, [x.id for x in leads])
                if c.changed_by_user_id
            }
            | {c.user_id for c in leads_repo.contacts_of(session, ids, staff.scope) if c.user_id},
        )
    return CustomerPage(
        profile=profile,
        cards=cards,
        signals=intent_signals(profile),
        price_range=(min(prices), max(prices)) if prices else None,
        timeline=_timeline(profile, notes, leads, session, names, show_deal, staff),
        lead=(open_leads or leads)[0] if leads else None,
        leads=leads if show_deal else [],
        notes=notes,
        upcoming=[a for a in appointments if a.starts_at >= now and a.status == "planned"],
        staff_names=names,
        show_deal=show_deal,
        latest_note=LatestNote(
            notes[0], names.get(notes[0].user_id or 0, "someone"), note_facts(notes[0]), len(notes)
        )
        if notes
        else None,
        plate=profiles_repo.plate_of(session, profile.id),
        elsewhere=[
            (dealer or "the network's queue", OPTIONS.label("stage", stage))
            for dealer, stage in leads_repo.leads_elsewhere(session, ids, staff.scope)
        ],
    )
