"""Structured notes on a customer: what the salesperson learned, whose fields become traits
marketing can use. Every function flushes; the caller commits."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from cdp.dealers.service import acting_dealer_id
from cdp.errors import InvalidInput
from cdp.identity.repository import upsert_traits
from cdp.leads.checks import (
    checked_choice,
    checked_text,
    live_profile_or_not_found,
)
from cdp.leads.labels import BUDGET_BANDS, INTEREST_LEVELS, MODEL_DIRECTIONS, TIMEFRAMES
from cdp.licence_plates import normalise_plate
from cdp.models import Note, TabletSession, utcnow
from cdp.profiles.projection import refresh_search
from cdp.text import search_text


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
    licence_plate: str | None = None,
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
    the free text stays in the note. A licence plate (the trade-in's or the current car's) is
    stored in its canonical spelling and as the trait licence_plate, which lookup finds it by;
    it is never an identity (cdp/licence_plates.py)."""
    now = now or utcnow()
    profile = live_profile_or_not_found(session, profile_id)
    level = checked_choice(
        interest_level, INTEREST_LEVELS, field="interest_level", message="Choose hot, warm or cold."
    )
    band = checked_choice(
        budget_band, BUDGET_BANDS, field="budget_band", message="Choose a budget from the list."
    )
    when = checked_choice(
        timeframe,
        TIMEFRAMES,
        field="timeframe",
        message="Choose when they want to buy from the list.",
    )
    direction = checked_choice(
        model_direction,
        MODEL_DIRECTIONS,
        field="model_direction",
        message="Choose a higher or a lower model.",
    )
    make = checked_text(trade_in_make, limit=100, field="trade_in_make", label="The trade-in make")
    trade_model = checked_text(
        trade_in_model, limit=100, field="trade_in_model", label="The trade-in model"
    )
    if trade_in_year is not None and not 1950 <= trade_in_year <= now.year + 1:
        raise InvalidInput(
            f"The trade-in year must be between 1950 and {now.year + 1}.", field="trade_in_year"
        )
    if trade_in_km is not None and not 0 <= trade_in_km <= 2_000_000:
        raise InvalidInput("The mileage must be between 0 and 2.000.000 km.", field="trade_in_km")
    plate = _checked_plate(licence_plate)
    rival = checked_text(competitor, limit=200, field="competitor", label="The competitor")
    free = checked_text(text, limit=5000, field="text", label="The note")
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
    if free is None and plate is None and all(value is None for value in structured.values()):
        raise InvalidInput("The note is empty: fill in at least one field.", field="text")
    tablet = session.get(TabletSession, tablet_session_id) if tablet_session_id else None
    note = Note(
        dealer_id=tablet.dealer_id if tablet else acting_dealer_id(session, user_id),
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
        licence_plate=plate,
        financing_interest=financing_interest,
        competitor=rival,
        model_direction=direction,
        text=free,
        created_at=now,
    )
    session.add(note)
    session.flush()
    if plate is not None:
        structured["licence_plate"] = plate
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
    if plate is not None:
        refresh_search(session, [profile.id])
    return note


def _checked_plate(raw: str | None) -> str | None:
    if raw is None or not raw.strip():
        return None
    plate = normalise_plate(raw)
    if plate is None:
        raise InvalidInput(
            "That is not a Dutch or Belgian licence plate: type it as on the car, "
            "e.g. 12-ABC-3, AB-12-CD or 1-ABC-123.",
            field="licence_plate",
        )
    return plate
