"""Reading an ADF (Auto-lead Data Format 1.0) document into a lead, leniently and safely.

Real documents deviate from the DTD (other casing, namespaces, phone types with other names,
HTML around the XML), so elements are matched by their local name in any case and whatever is
missing is left empty. The parser is defusedxml's: entity declarations and external references
are refused, and documents over MAX_BYTES or nested deeper than MAX_DEPTH are refused before or
while being read, so a hostile document costs little.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from io import BytesIO
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse

from cdp.licence_plates import normalise_plate

MAX_BYTES = 512 * 1024  # a real lead is a few KB; an e-mail body holding one, a few more
MAX_DEPTH = 32  # the ADF structure is at most 6 levels deep
MAX_TEXT = 4000  # per comments field; longer text is cut, not refused

_ADF_BLOCK = re.compile(rb"<\?adf[^>]*\?>|<adf[\s>].*?</adf\s*>", re.S | re.I)
_ESCAPED_ADF = re.compile(r"&lt;adf(?:\s|&gt;).*?&lt;/adf\s*&gt;", re.S | re.I)
_SPACE = re.compile(r"\s+")


class NotAdf(Exception):
    """The document cannot be read as a lead; the message says why, for the sender."""


@dataclass(frozen=True, slots=True)
class AdfOption:
    name: str
    code: str | None = None
    price: Decimal | None = None


@dataclass(frozen=True, slots=True)
class AdfVehicle:
    interest: str  # buy, lease, sell, trade-in, test-drive
    status: str  # new or used
    year: int | None = None
    make: str | None = None
    model: str | None = None
    trim: str | None = None
    vin: str | None = None
    exterior_colour: str | None = None
    interior_colour: str | None = None
    odometer: int | None = None
    price: Decimal | None = None
    price_type: str | None = None
    currency: str | None = None
    options: tuple[AdfOption, ...] = ()
    comments: str | None = None
    plate: str | None = None  # canonical (cdp.licence_plates), Dutch or Belgian


@dataclass(frozen=True, slots=True)
class AdfPhone:
    number: str
    kind: str  # voice, fax, cellphone, pager, or whatever the sender wrote


@dataclass(frozen=True, slots=True)
class AdfCustomer:
    first_name: str | None = None
    last_name: str | None = None
    full_name: str | None = None
    emails: tuple[str, ...] = ()
    phones: tuple[AdfPhone, ...] = ()
    street: str | None = None
    city: str | None = None
    postal_code: str | None = None
    country: str | None = None
    timeframe: str | None = None
    earliest_date: str | None = None
    latest_date: str | None = None
    comments: str | None = None

    @property
    def name(self) -> str | None:
        parts = " ".join(p for p in (self.first_name, self.last_name) if p)
        return parts or self.full_name


@dataclass(frozen=True, slots=True)
class AdfParty:
    """The vendor (the dealer the lead is for) or the provider (who sent it)."""

    name: str | None = None
    ids: tuple[tuple[str | None, str], ...] = ()  # (source, id)
    service: str | None = None
    url: str | None = None
    email: str | None = None
    phone: str | None = None


@dataclass(frozen=True, slots=True)
class AdfLead:
    status: str  # new or resend
    request_date: datetime | None
    ids: tuple[tuple[str | None, str], ...]  # the prospect's (source, id) pairs
    customer: AdfCustomer
    vehicles: tuple[AdfVehicle, ...] = ()
    vendor: AdfParty = field(default_factory=AdfParty)
    provider: AdfParty = field(default_factory=AdfParty)

    @property
    def wanted(self) -> AdfVehicle | None:
        """The car the customer asks about: the first vehicle that is not their trade-in."""
        for vehicle in self.vehicles:
            if vehicle.interest not in ("sell", "trade-in"):
                return vehicle
        return None

    @property
    def trade_in(self) -> AdfVehicle | None:
        for vehicle in self.vehicles:
            if vehicle.interest in ("sell", "trade-in"):
                return vehicle
        return None


def extract_documents(raw: bytes) -> list[bytes]:
    """The ADF documents in a body: the XML itself, or one or more held in other text (an
    e-mail body, HTML around it, or HTML-escaped)."""
    blocks = [m.group(0) for m in _ADF_BLOCK.finditer(raw) if not m.group(0).startswith(b"<?")]
    if blocks:
        return blocks
    text = raw.decode("utf-8", errors="replace")
    return [html.unescape(m.group(0)).encode() for m in _ESCAPED_ADF.finditer(text)]


def parse(raw: bytes) -> list[AdfLead]:
    """Every prospect of one ADF document; NotAdf says why a document is no lead."""
    if len(raw) > MAX_BYTES:
        raise NotAdf(f"the document is over {MAX_BYTES} bytes; an ADF lead is a few KB")
    try:
        root = _read_tree(raw)
    except NotAdf:
        if (fixed := _as_declared_utf8(raw)) is None:
            raise
        root = _read_tree(fixed)
    if _local(root.tag) != "adf":
        raise NotAdf(f"the root element is <{_local(root.tag)}>, not <adf>")
    prospects = [child for child in root if _local(child.tag) == "prospect"]
    if not prospects:
        raise NotAdf("the document holds no <prospect>")
    return [_prospect(p) for p in prospects]


_DECLARATION = re.compile(rb"^\s*<\?xml[^>]*\?>")
_DECLARED_UTF8 = re.compile(rb"encoding\s*=\s*[\"']utf-?8[\"']", re.I)


def _as_declared_utf8(raw: bytes) -> bytes | None:
    """A document said (or assumed) to be UTF-8 but written in Windows-1252, as mail systems
    and older CRMs send them: read as what it is. None when that is not the problem."""
    try:
        raw.decode("utf-8")
        return None
    except UnicodeDecodeError:
        pass
    declaration = _DECLARATION.match(raw)
    named = declaration.group(0) if declaration else b""
    if b"encoding" in named and not _DECLARED_UTF8.search(named):
        return None  # it names its own encoding: that one was used
    body = raw[declaration.end() :] if declaration else raw
    return body.decode("cp1252", errors="replace").encode("utf-8")


def _read_tree(raw: bytes) -> Element:
    depth = 0
    root: Element | None = None
    try:
        for event, element in iterparse(
            BytesIO(raw), events=("start", "end"), forbid_dtd=False, forbid_entities=True
        ):
            if event == "start":
                depth += 1
                root = root if root is not None else element
                if depth > MAX_DEPTH:
                    raise NotAdf(f"the document is nested more than {MAX_DEPTH} levels deep")
            else:
                depth -= 1
    except DefusedXmlException as error:
        raise NotAdf(f"the document declares entities or external references ({error})") from None
    except ParseError as error:
        raise NotAdf(f"the document is not well-formed XML: {error}") from None
    if root is None:
        raise NotAdf("the document is empty")
    return root


def _local(tag: object) -> str:
    name = tag if isinstance(tag, str) else ""
    return name.rsplit("}", 1)[-1].lower()


def _children(element: Element, name: str) -> Iterator[Element]:
    return (child for child in element if _local(child.tag) == name)


def _child(element: Element | None, name: str) -> Element | None:
    if element is None:
        return None
    return next(_children(element, name), None)


def _text(element: Element | None, limit: int = 300) -> str | None:
    if element is None:
        return None
    value = _SPACE.sub(" ", "".join(element.itertext())).strip()
    return value[:limit] or None


def _attr(element: Element, name: str) -> str | None:
    for key, value in element.attrib.items():
        if _local(key) == name:
            return value.strip().lower() or None
    return None


def _int(text: str | None) -> int | None:
    digits = re.sub(r"[^\d]", "", text or "")
    return int(digits) if digits and len(digits) <= 9 else None


def _decimal(text: str | None) -> Decimal | None:
    """'38.950,00', '38,950.00', '38950', '1.200' (European thousands) -> a Decimal."""
    if not text:
        return None
    cleaned = re.sub(r"[^\d,.\-]", "", text)
    marks = {mark for mark in ",." if mark in cleaned}
    if len(marks) == 2:  # the last mark is the decimal one
        thousands = "." if cleaned.rfind(",") > cleaned.rfind(".") else ","
        cleaned = cleaned.replace(thousands, "").replace(",", ".")
    elif marks:
        mark = marks.pop()
        groups = cleaned.split(mark)
        if len(groups) > 2 or len(groups[-1]) == 3:  # 1.200 or 1,200,000: thousands
            cleaned = "".join(groups)
        else:
            cleaned = cleaned.replace(mark, ".")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        return None
    return value if value.is_finite() and abs(value) < Decimal(10) ** 10 else None


def _date(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _ids(element: Element) -> tuple[tuple[str | None, str], ...]:
    found = []
    for node in _children(element, "id"):
        value = _text(node, 200)
        if value:
            found.append((_attr(node, "source"), value))
    return tuple(found)


def _prospect(prospect: Element) -> AdfLead:
    customer = _customer(_child(prospect, "customer"))
    if not customer.name and not customer.emails and not customer.phones:
        raise NotAdf("the prospect has no customer contact: no name, e-mail or phone")
    if not customer.emails and not customer.phones:
        raise NotAdf("the customer has neither an e-mail address nor a phone number")
    return AdfLead(
        status=_attr(prospect, "status") or "new",
        request_date=_date(_text(_child(prospect, "requestdate"))),
        ids=_ids(prospect),
        customer=customer,
        vehicles=tuple(_vehicle(v) for v in _children(prospect, "vehicle")),
        vendor=_party(_child(prospect, "vendor"), "vendorname"),
        provider=_party(_child(prospect, "provider"), "name"),
    )


def _name_parts(contact: Element | None) -> dict[str, str | None]:
    parts: dict[str, str | None] = {"first": None, "last": None, "full": None}
    if contact is None:
        return parts
    for node in _children(contact, "name"):
        part = _attr(node, "part") or "full"
        if part in parts and parts[part] is None:
            parts[part] = _text(node, 200)
    return parts


def _customer(customer: Element | None) -> AdfCustomer:
    contact = _child(customer, "contact")
    names = _name_parts(contact)
    address = _child(contact, "address")
    streets = [t for n in _children(address, "street") if (t := _text(n))] if address else []
    timeframe = _child(customer, "timeframe")
    emails = [t for n in _children(contact, "email") if (t := _text(n, 320))] if contact else []
    phones = (
        [
            AdfPhone(number=t, kind=_attr(n, "type") or "voice")
            for n in _children(contact, "phone")
            if (t := _text(n, 40))
        ]
        if contact is not None
        else []
    )
    return AdfCustomer(
        first_name=names["first"],
        last_name=names["last"],
        full_name=names["full"],
        emails=tuple(emails),
        phones=tuple(phones),
        street=", ".join(streets) or None,
        city=_text(_child(address, "city")),
        postal_code=_text(_child(address, "postalcode"), 20),
        country=_text(_child(address, "country"), 60),
        timeframe=_text(_child(timeframe, "description")),
        earliest_date=_text(_child(timeframe, "earliestdate"), 40),
        latest_date=_text(_child(timeframe, "latestdate"), 40),
        comments=_text(_child(customer, "comments"), MAX_TEXT),
    )


# ADF 1.0 has no element for a licence plate. Where senders put one, most standard first: a
# vehicle <id> with a source naming it, an element of its own, a <vin> holding a plate instead
# of a VIN, or the vehicle's comments after a word that says so (not "registration": "registered
# in 2017" would read as plate IN-20-17) (docs/adf.md).
_PLATE_NAMES = frozenset(
    {"licenseplate", "licenceplate", "license_plate", "licence_plate", "license-plate",
     "licence-plate", "plate", "platenumber", "plate_number", "kenteken", "nummerplaat",
     "registration", "registrationnumber", "registration_number", "plaque", "immatriculation"}
)  # fmt: skip
_PLATE_IN_TEXT = re.compile(
    r"\b(?:kenteken|nummerplaat|licen[cs]e\s*plate|plate|plaque"
    r"(?:\s+d'immatriculation)?|immatriculation)\s*(?:n[or]\.?|number|nummer)?\s*[:#=]?\s*"
    r"((?:[a-z0-9]+[\s.\-]?){1,3})",
    re.I,
)


def _plate(vehicle: Element, vin: str | None, comments: str | None) -> str | None:
    for node in _children(vehicle, "id"):
        source = (_attr(node, "source") or "").replace(" ", "")
        if source in _PLATE_NAMES and (plate := normalise_plate(_text(node, 40))):
            return plate
    for node in vehicle:
        if _local(node.tag) in _PLATE_NAMES and (plate := normalise_plate(_text(node, 40))):
            return plate
    if vin and (plate := normalise_plate(vin)):  # a VIN has 17 characters, a plate 6 or 7
        return plate
    for match in _PLATE_IN_TEXT.finditer(comments or ""):
        words = match.group(1).split()
        for n in (1, 2, 3):  # "12-ABC-3", "12ABC3", "12 ABC 3"
            if n <= len(words) and (plate := normalise_plate(" ".join(words[:n]))):
                return plate
    return None


def _vehicle(vehicle: Element) -> AdfVehicle:
    colours = _child(vehicle, "colorcombination")
    price = _child(vehicle, "price")
    options = tuple(
        AdfOption(
            name=name,
            code=_text(_child(option, "manufacturercode"), 60),
            price=_decimal(_text(_child(option, "price"), 40)),
        )
        for option in _children(vehicle, "option")
        if (name := _text(_child(option, "optionname")))
    )
    vin = _text(_child(vehicle, "vin"), 40)
    comments = _text(_child(vehicle, "comments"), MAX_TEXT)
    plate = _plate(vehicle, vin, comments)
    return AdfVehicle(
        interest=_attr(vehicle, "interest") or "buy",
        status=_attr(vehicle, "status") or "new",
        year=_int(_text(_child(vehicle, "year"), 10)),
        make=_text(_child(vehicle, "make"), 100),
        model=_text(_child(vehicle, "model"), 100),
        trim=_text(_child(vehicle, "trim"), 100),
        vin=None if vin and normalise_plate(vin) else vin,  # a plate where the VIN goes
        exterior_colour=_text(_child(colours, "exteriorcolor"), 100),
        interior_colour=_text(_child(colours, "interiorcolor"), 100),
        odometer=_int(_text(_child(vehicle, "odometer"), 20)),
        price=_decimal(_text(price, 40)),
        price_type=_attr(price, "type") if price is not None else None,
        currency=(_attr(price, "currency") or "").upper() or None if price is not None else None,
        options=options,
        comments=comments,
        plate=plate,
    )


def _party(party: Element | None, name_tag: str) -> AdfParty:
    if party is None:
        return AdfParty()
    contact = _child(party, "contact")
    return AdfParty(
        name=_text(_child(party, name_tag), 200) or _text(_child(party, "name"), 200),
        ids=_ids(party),
        service=_text(_child(party, "service"), 200),
        url=_text(_child(party, "url"), 300),
        email=_text(_child(party, "email"), 320) or _text(_child(contact, "email"), 320),
        phone=_text(_child(party, "phone"), 40) or _text(_child(contact, "phone"), 40),
    )
