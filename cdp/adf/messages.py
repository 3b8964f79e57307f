"""An ADF lead as the Segment messages our collection API stores, so it meets the same identity
rules, suppression and lead hooks as any identify and track (docs/adf.md).

Each prospect becomes an identify (the customer's name, contact details and address, and their
trade-in's licence plate), a Configuration Saved for the car asked about (so it shows as a
configuration, with a code of its own), and a Quote Requested (a Test Drive Requested when the
vehicle's interest is a test drive) carrying the vehicle, trade-in, timeframe, comments, vendor
(as the dealer) and provider. Their messageIds come from the prospect's ids, so a resend of the
same lead is a duplicate.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import Any

from cdp.adf.parse import AdfLead, AdfVehicle
from cdp.taxonomy import CONFIGURATION_SAVED, QUOTE_REQUESTED, TEST_DRIVE_REQUESTED


def lead_key(lead: AdfLead) -> str:
    """What makes two documents the same lead: the prospect's ids with their sources, else the
    contact details, the car and the request date."""
    if lead.ids:
        basis = "ids|" + "|".join(
            f"{source or ''}:{value}" for source, value in sorted((s or "", v) for s, v in lead.ids)
        )
        basis += f"|{(lead.provider.name or '').lower()}"
    else:
        wanted = lead.wanted
        contact = sorted(e.lower() for e in lead.customer.emails) + sorted(
            "".join(ch for ch in p.number if ch.isdigit()) for p in lead.customer.phones
        )
        car = f"{wanted.make}|{wanted.model}" if wanted else ""
        moment = lead.request_date.isoformat() if lead.request_date else ""
        basis = "content|" + "|".join(contact) + f"|{car}|{moment}"
    return hashlib.sha256(basis.encode()).hexdigest()[:32]


def configuration_code(key: str) -> str:
    return f"ADF-{key[:10].upper()}"


def _money(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _vehicle_properties(vehicle: AdfVehicle) -> dict[str, Any]:
    found: dict[str, Any] = {
        "make": vehicle.make,
        "model": vehicle.model,
        "year": vehicle.year,
        "trim": vehicle.trim,
        "vin": vehicle.vin,
        "colour": vehicle.exterior_colour,
        "interior": vehicle.interior_colour,
        "odometer": vehicle.odometer,
        "condition": vehicle.status,
        "price": _money(vehicle.price),
        "price_type": vehicle.price_type,
        "currency": vehicle.currency,
        "comments": vehicle.comments,
        "plate": vehicle.plate,
    }
    if vehicle.options:
        found["options"] = [
            {"name": o.name, "code": o.code, "price": _money(o.price)} for o in vehicle.options
        ]
    return {key: value for key, value in found.items() if value not in (None, "", [])}


def _dealer_properties(lead: AdfLead) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for source, value in lead.vendor.ids:
        if source in (None, "dealer", "dealer_code", "dealercode", "code"):
            found["dealer_code"] = value
            break
    if lead.vendor.name:
        found["dealer_name"] = lead.vendor.name
    return found


def to_messages(lead: AdfLead, *, received_at: str) -> list[dict[str, Any]]:
    """The identify and tracks for one prospect, in the collection API's message format."""
    key = lead_key(lead)
    customer = lead.customer
    anonymous_id = f"adf-{key}"
    timestamp = lead.request_date.isoformat() if lead.request_date else received_at
    traits: dict[str, Any] = {
        "first_name": customer.first_name,
        "last_name": customer.last_name,
        "name": customer.name,
        "email": customer.emails[0] if customer.emails else None,
        "phone": customer.phones[0].number if customer.phones else None,
    }
    address = {
        "street": customer.street,
        "city": customer.city,
        "postalCode": customer.postal_code,
        "country": customer.country,
    }
    if any(address.values()):
        traits["address"] = {k: v for k, v in address.items() if v}
    if lead.trade_in is not None and lead.trade_in.plate:
        # The customer's car: found by its plate in the search box (cdp.licence_plates; a
        # plate is searched, never an identity). The car they ask about is the dealer's.
        traits["licence_plate"] = lead.trade_in.plate
    common = {"anonymousId": anonymous_id, "timestamp": timestamp}
    messages: list[dict[str, Any]] = [
        {
            **common,
            "type": "identify",
            "messageId": f"adf-{key}-identify",
            "traits": {k: v for k, v in traits.items() if v},
        }
    ]
    wanted = lead.wanted
    properties: dict[str, Any] = {
        "source_format": "adf",
        "adf_status": lead.status,
        "adf_ids": [{"source": s, "id": v} for s, v in lead.ids],
        "provider": lead.provider.name,
        "provider_service": lead.provider.service,
        "timeframe": customer.timeframe,
        "earliest_date": customer.earliest_date,
        "latest_date": customer.latest_date,
        "comments": customer.comments,
        **_dealer_properties(lead),
    }
    if wanted is not None:
        properties.update(_vehicle_properties(wanted))
        if wanted.model:
            code = configuration_code(key)
            properties["configuration_code"] = code
            messages.append(
                {
                    **common,
                    "type": "track",
                    "event": CONFIGURATION_SAVED,
                    "messageId": f"adf-{key}-configuration",
                    "properties": {
                        "configuration_code": code,
                        "model": " ".join(p for p in (wanted.make, wanted.model) if p),
                        "trim": wanted.trim,
                        "colour": wanted.exterior_colour,
                        "interior": wanted.interior_colour,
                        "options": [o.name for o in wanted.options],
                        "price": _money(wanted.price),
                        "currency": wanted.currency,
                    },
                }
            )
    if (trade_in := lead.trade_in) is not None:
        properties["trade_in"] = _vehicle_properties(trade_in)
    if wanted is not None and wanted.make and wanted.model:
        properties["model"] = f"{wanted.make} {wanted.model}"
    event = TEST_DRIVE_REQUESTED if wanted is not None and wanted.interest == "test-drive" else None
    messages.append(
        {
            **common,
            "type": "track",
            "event": event or QUOTE_REQUESTED,
            "messageId": f"adf-{key}-lead",
            "properties": {k: v for k, v in properties.items() if v not in (None, "", [])},
        }
    )
    return messages
