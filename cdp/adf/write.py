"""Writing a lead as an ADF 1.0 document, in the DTD's element order, for a dealer's CRM.

Only elements the DTD defines are written, each in the order its content model lists them
(prospect: id, requestdate, vehicle, customer, vendor, provider), with the attribute values it
allows; values we do not know are left out rather than written empty.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from xml.etree.ElementTree import Element, SubElement, tostring


@dataclass(frozen=True, slots=True)
class OutOption:
    name: str
    price: Decimal | None = None


@dataclass(frozen=True, slots=True)
class OutVehicle:
    interest: str = "buy"  # buy, lease, sell, trade-in, test-drive
    status: str = "new"  # new, used
    year: int | None = None
    make: str | None = None
    model: str | None = None
    trim: str | None = None
    exterior_colour: str | None = None
    interior_colour: str | None = None
    odometer: int | None = None
    price: Decimal | None = None
    currency: str | None = None
    options: tuple[OutOption, ...] = ()
    comments: str | None = None
    plate: str | None = None  # canonical (cdp.licence_plates); the trade-in's, in practice


@dataclass(frozen=True, slots=True)
class OutLead:
    lead_id: int
    id_source: str  # who numbered the lead: this installation
    requested_at: datetime
    first_name: str | None = None
    last_name: str | None = None
    full_name: str | None = None
    email: str | None = None
    phone: str | None = None
    street: str | None = None
    city: str | None = None
    postal_code: str | None = None
    country: str | None = None
    timeframe: str | None = None
    comments: str | None = None
    vehicles: tuple[OutVehicle, ...] = ()
    vendor_name: str | None = None
    vendor_code: str | None = None
    provider_name: str = "Car retail CDP"
    provider_service: str | None = None
    extra_ids: tuple[tuple[str, str], ...] = field(default=())  # (source, id)


def _add(parent: Element, tag: str, text: object, **attributes: str) -> Element | None:
    if text is None or text == "":
        return None
    element = SubElement(parent, tag, attributes)
    element.text = str(text)
    return element


def _money(value: Decimal) -> str:
    return f"{value:.2f}"


def _vehicle(prospect: Element, vehicle: OutVehicle) -> None:
    node = SubElement(prospect, "vehicle", {"interest": vehicle.interest, "status": vehicle.status})
    # ADF 1.0 has no element for a plate: a vehicle <id> whose source names it, the first place
    # our own import (cdp/adf/parse.py) and most senders look (docs/adf.md).
    _add(node, "id", vehicle.plate, sequence="1", source="licenseplate")
    _add(node, "year", vehicle.year)
    _add(node, "make", vehicle.make or "unknown")  # year, make and model are required
    _add(node, "model", vehicle.model or "unknown")
    _add(node, "trim", vehicle.trim)
    if vehicle.odometer is not None:
        _add(node, "odometer", vehicle.odometer, status="original", units="km")
    if vehicle.exterior_colour or vehicle.interior_colour:
        colours = SubElement(node, "colorcombination")
        _add(colours, "interiorcolor", vehicle.interior_colour)
        _add(colours, "exteriorcolor", vehicle.exterior_colour)
        _add(colours, "preference", 1)
    if vehicle.price is not None:
        _add(node, "price", _money(vehicle.price), type="quote", currency=vehicle.currency or "EUR")
    for option in vehicle.options:
        node_option = SubElement(node, "option")
        _add(node_option, "optionname", option.name)
        if option.price is not None:
            _add(node_option, "price", _money(option.price), currency=vehicle.currency or "EUR")
    _add(node, "comments", vehicle.comments)


def _customer(prospect: Element, lead: OutLead) -> None:
    customer = SubElement(prospect, "customer")
    contact = SubElement(customer, "contact")
    if lead.first_name or lead.last_name:
        _add(contact, "name", lead.first_name, part="first")
        _add(contact, "name", lead.last_name, part="last")
    else:
        _add(contact, "name", lead.full_name or "unknown", part="full")
    _add(contact, "email", lead.email)
    _add(contact, "phone", lead.phone, type="voice")
    if lead.street or lead.city or lead.postal_code:
        address = SubElement(contact, "address")
        _add(address, "street", lead.street, line="1")
        _add(address, "city", lead.city)
        _add(address, "postalcode", lead.postal_code)
        _add(address, "country", lead.country)
    if lead.timeframe:
        timeframe = SubElement(customer, "timeframe")
        _add(timeframe, "description", lead.timeframe)
    _add(customer, "comments", lead.comments)


def document(lead: OutLead) -> bytes:
    """The ADF XML of one lead, UTF-8, with the <?adf version="1.0"?> processing instruction."""
    root = Element("adf")
    prospect = SubElement(root, "prospect", {"status": "new"})
    _add(prospect, "id", lead.lead_id, sequence="1", source=lead.id_source)
    for number, (source, value) in enumerate(lead.extra_ids, start=2):
        _add(prospect, "id", value, sequence=str(number), source=source)
    _add(prospect, "requestdate", lead.requested_at.isoformat(timespec="seconds"))
    for vehicle in lead.vehicles:
        _vehicle(prospect, vehicle)
    _customer(prospect, lead)
    vendor = SubElement(prospect, "vendor")
    if lead.vendor_code:
        _add(vendor, "id", lead.vendor_code, source="dealer")
    _add(vendor, "vendorname", lead.vendor_name or lead.vendor_code or "unknown")
    provider = SubElement(prospect, "provider")
    _add(provider, "name", lead.provider_name, part="full")
    _add(provider, "service", lead.provider_service)
    body = tostring(root, encoding="unicode")
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<?adf version="1.0"?>\n{body}\n'.encode()
