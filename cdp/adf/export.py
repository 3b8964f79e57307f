"""A lead of ours as an ADF document: the customer's contact details, the car they configured,
their trade-in (with its licence plate) and timeframe from the latest note, and the dealer it
belongs to."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cdp.adf.write import OutLead, OutOption, OutVehicle, document
from cdp.leads.repository import configuration_for_sale
from cdp.licence_plates import normalise_plate
from cdp.models import Configuration, Dealer, Event, Lead, Note, ProfileSearch, ProfileTrait

ID_SOURCE = "car-retail-cdp"


def _text(value: Any, limit: int = 200) -> str | None:
    if value is None or isinstance(value, (dict, list, bool)):
        return None
    text = str(value).strip()
    return text[:limit] or None


def _price(value: Any) -> Decimal | None:
    if isinstance(value, dict):
        value = value.get("price")
    try:
        price = Decimal(str(value)) if value is not None and not isinstance(value, bool) else None
    except InvalidOperation:
        return None
    return price if price is not None and price.is_finite() else None


def _options(configuration: Configuration) -> tuple[OutOption, ...]:
    found = []
    for option in configuration.options or []:
        name = (
            _text(option.get("name") or option.get("label"))
            if isinstance(option, dict)
            else _text(option)
        )
        if name:
            found.append(OutOption(name=name, price=_price(option)))
    return tuple(found)


def _split_model(model: str | None) -> tuple[str | None, str | None]:
    """'Veltra Aurelia' -> ('Veltra', 'Aurelia'): the catalogue's models carry the make first."""
    if not model:
        return None, None
    make, _, rest = model.partition(" ")
    return (make, rest) if rest else (None, make)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _trade_in(
    session: Session, lead: Lead, note: Note | None, customer_plate: str | None
) -> OutVehicle | None:
    """The customer's car, as the latest note of the conversation has it, else as the lead
    arrived with it (an ADF lead's trade-in, kept in its event), with its licence plate: the
    one given with it, else the customer's (their latest plate trait, as lookup finds them). A
    plate alone is written as a trade-in of unknown make: the CRM finds the car by it."""
    if note is not None and (note.trade_in_make or note.trade_in_model):
        return OutVehicle(
            interest="trade-in",
            status="used",
            year=note.trade_in_year,
            make=note.trade_in_make,
            model=note.trade_in_model,
            odometer=note.trade_in_km,
            plate=note.licence_plate or customer_plate,
        )
    arrived: dict[str, Any] = {}
    if lead.source_event_id is not None:
        properties = session.scalar(
            select(Event.properties).where(Event.id == lead.source_event_id)
        )
        found = properties.get("trade_in") if isinstance(properties, dict) else None
        arrived = found if isinstance(found, dict) else {}
    plate = normalise_plate(_text(arrived.get("plate"), 40)) or customer_plate
    if not (arrived.get("make") or arrived.get("model") or plate):
        return None
    return OutVehicle(
        interest="trade-in",
        status="used",
        year=_int(arrived.get("year")),
        make=_text(arrived.get("make")),
        model=_text(arrived.get("model")),
        odometer=_int(arrived.get("odometer")),
        plate=plate,
    )


def lead_as_adf(session: Session, lead: Lead) -> bytes:
    traits = {
        t.name: t.value
        for t in session.scalars(
            select(ProfileTrait).where(ProfileTrait.profile_id == lead.profile_id)
        )
    }
    search = session.get(ProfileSearch, lead.profile_id)
    dealer = session.get(Dealer, lead.dealer_id) if lead.dealer_id is not None else None
    note = session.scalars(
        select(Note)
        .where(Note.profile_id == lead.profile_id)
        .order_by(Note.created_at.desc(), Note.id.desc())
        .limit(1)
    ).first()
    if (
        note is not None
        and lead.dealer_id is not None
        and note.dealer_id not in (None, lead.dealer_id)
    ):
        note = None  # another dealer's conversation is not passed on
    vehicles = []
    configuration = configuration_for_sale(session, lead.profile_id, lead.model)
    if configuration is not None:
        make, model = _split_model(configuration.model)
        vehicles.append(
            OutVehicle(
                make=make,
                model=model,
                trim=configuration.trim,
                exterior_colour=configuration.colour,
                interior_colour=configuration.interior,
                price=configuration.total_price,
                currency=configuration.currency,
                options=_options(configuration),
            )
        )
    elif lead.model:
        make, model = _split_model(lead.model)
        vehicles.append(OutVehicle(make=make, model=model))
    trade_in = _trade_in(session, lead, note, search.plate if search else None)
    if trade_in is not None:
        vehicles.append(trade_in)
    return document(
        OutLead(
            lead_id=lead.id,
            id_source=ID_SOURCE,
            requested_at=lead.created_at,
            first_name=_text(traits.get("first_name")),
            last_name=_text(traits.get("last_name")),
            full_name=_text(traits.get("name")) or (search.name if search else None),
            email=search.email if search else _text(traits.get("email")),
            phone=search.phone if search else _text(traits.get("phone")),
            street=_text(traits.get("street"), 300),
            city=_text(traits.get("city")),
            postal_code=_text(traits.get("postal_code"), 20),
            country=_text(traits.get("country"), 60),
            timeframe=note.timeframe if note else None,
            comments=note.text[:2000] if note is not None and note.text else None,
            vehicles=tuple(vehicles),
            vendor_name=dealer.name if dealer else None,
            vendor_code=dealer.code if dealer else None,
            provider_service=f"{lead.channel} lead",
        )
    )
