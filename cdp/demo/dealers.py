"""The demo's dealer network: the generator's fourteen Nordwind dealers in the Netherlands and
Belgium as dealers of the installation (address, phone, time zone, opening hours, the postal-code
areas their towns make up), the staff who work at each, and which dealer serves a postal code.

Eindhoven comes first: the README's floor accounts (sales@, reception@, delivery@) work there.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from cdp.dealers.schemas import DealerFields
from cdp.dealers.service import create_dealer
from cdp.demo import people
from cdp.models import Dealer


@dataclass(frozen=True, slots=True)
class DemoDealer:
    generator: people.Dealer  # the dealer the generator's customers choose (its id: our code)
    slug: str  # in the staff's e-mail addresses: manager.antwerpen@demo.example
    address: str
    postal_code: str
    phone: str
    opening_hours: str

    @property
    def code(self) -> str:
        return self.generator.id.upper()

    @property
    def country(self) -> people.Country:
        return next(p.country for p in _places() if p.dealer == self.generator)


WEEK = "Mon-Fri 9-18, Sat 10-17"
_GENERATOR = {dealer.id: dealer for dealer in people.DEALERS}
DEMO_DEALERS = (
    DemoDealer(
        _GENERATOR["nw-ehv"], "eindhoven", "Hastelweg 260", "5652 CM", "+31 40 250 6600", WEEK
    ),
    DemoDealer(
        _GENERATOR["nw-ams"],
        "amsterdam",
        "Gustav Mahlerlaan 1210",
        "1081 LA",
        "+31 20 301 5500",
        "Mon-Fri 9-19, Sat 10-17",
    ),
    DemoDealer(
        _GENERATOR["nw-utr"], "utrecht", "Papendorpseweg 90", "3528 BJ", "+31 30 280 7700", WEEK
    ),
    DemoDealer(
        _GENERATOR["nw-rtm"], "rotterdam", "Hoofdweg 100", "3067 GH", "+31 10 420 3300", WEEK
    ),
    DemoDealer(_GENERATOR["nw-dhg"], "denhaag", "Donau 120", "2491 BC", "+31 70 310 4400", WEEK),
    DemoDealer(
        _GENERATOR["nw-arn"], "arnhem", "Westervoortsedijk 71", "6827 AV", "+31 26 360 2200", WEEK
    ),
    DemoDealer(
        _GENERATOR["nw-zwo"], "zwolle", "Ceintuurbaan 52", "8024 AA", "+31 38 460 1100", WEEK
    ),
    DemoDealer(
        _GENERATOR["nw-gro"], "groningen", "Rijksweg 160", "9731 AN", "+31 50 540 8800", WEEK
    ),
    DemoDealer(
        _GENERATOR["nw-ant"],
        "antwerpen",
        "Boomsesteenweg 41",
        "2020",
        "+32 3 240 55 00",
        "Mon-Fri 9-18, Sat 9-16",
    ),
    DemoDealer(
        _GENERATOR["nw-gnt"],
        "gent",
        "Brusselsesteenweg 500",
        "9050",
        "+32 9 230 44 00",
        "Mon-Fri 9-18, Sat 9-16",
    ),
    DemoDealer(
        _GENERATOR["nw-bru"],
        "brussel",
        "Havenlaan 86",
        "1000",
        "+32 2 210 66 00",
        "Mon-Fri 9-18, Sat 10-16",
    ),
    DemoDealer(
        _GENERATOR["nw-has"],
        "hasselt",
        "Kempische Steenweg 300",
        "3500",
        "+32 11 26 03 00",
        "Mon-Fri 9-18, Sat 9-16",
    ),
    DemoDealer(
        _GENERATOR["nw-lge"],
        "liege",
        "Quai des Vennes 100",
        "4020",
        "+32 4 340 22 00",
        "Mon-Fri 9-18, Sat 10-16",
    ),
    DemoDealer(
        _GENERATOR["nw-cha"],
        "charleroi",
        "Chaussée de Bruxelles 200",
        "6000",
        "+32 71 30 40 00",
        "Mon-Fri 9-18, Sat 10-16",
    ),
)
TIME_ZONES = {"NL": "Europe/Amsterdam", "BE": "Europe/Brussels"}
# The roles at every dealer, and the local part of their e-mail addresses.
DEALER_ROLES = (
    ("manager", "manager"),
    ("sales", "sales"),
    ("sales2", "sales"),
    ("reception", "reception"),
    ("delivery", "delivery"),
)
_FIRST = (
    "Lotte",
    "Bram",
    "Femke",
    "Joris",
    "Iris",
    "Thijs",
    "Noor",
    "Ruben",
    "Eline",
    "Wout",
    "Fien",
    "Jens",
    "Amélie",
    "Lucas",
    "Sara",
    "Pieter",
    "Lien",
    "Sem",
    "Julie",
    "Arne",
    "Elise",
    "Tom",
    "Marie",
    "Hugo",
    "Anke",
    "Dries",
    "Chloé",
    "Nathan",
    "Ilse",
    "Koen",
)
_LAST = (
    "Jansen",
    "Peeters",
    "Bakker",
    "Maes",
    "Visser",
    "Claes",
    "Smit",
    "Willems",
    "Meijer",
    "Goossens",
    "Mulder",
    "Wouters",
    "Bos",
    "Dubois",
    "Vos",
    "Lambert",
    "Dekker",
    "Mertens",
    "Hendriks",
    "Lemaire",
)


def _places() -> tuple[people.Place, ...]:
    return people.NL_PLACES + people.BE_PLACES


def postal_areas(dealer: people.Dealer) -> list[str]:
    """The postal-code beginnings of the dealer's towns: the Dutch 4-digit ranges as 3-digit
    beginnings (5611-5658: 561 to 565), a whole hundred as 2 digits; Belgian codes whole."""
    areas: set[str] = set()
    for place in _places():
        if place.dealer != dealer:
            continue
        if place.country == "BE":
            areas.update(str(code) for code in place.postal_codes)
        else:
            areas.update(str(code)[:3] for code in place.postal_codes)
    for hundred in {area[:2] for area in areas if len(area) == 3}:
        tens = {f"{hundred}{digit}" for digit in range(10)}
        if tens <= areas:
            areas = (areas - tens) | {hundred}
    return sorted(areas)


def staff_name(dealer_index: int, role_index: int) -> str:
    number = dealer_index * len(DEALER_ROLES) + role_index
    return f"{_FIRST[number % len(_FIRST)]} {_LAST[(number * 7) % len(_LAST)]}"


def staff_email(dealer: DemoDealer, local_part: str) -> str:
    return f"{local_part}.{dealer.slug}@demo.example"


def ensure_dealers(session: Session) -> dict[str, Dealer]:
    """The demo's dealers by code, created where missing (safe to run again)."""
    known = {d.code: d for d in session.scalars(select(Dealer))}
    for demo in DEMO_DEALERS:
        if demo.code in known:
            continue
        known[demo.code] = create_dealer(
            session,
            DealerFields(
                code=demo.code,
                name=demo.generator.name,
                address=demo.address,
                postal_code=demo.postal_code,
                city=demo.generator.city,
                country=demo.country,
                phone=demo.phone,
                time_zone=TIME_ZONES[demo.country],
                opening_hours=demo.opening_hours,
                postal_areas=" ".join(postal_areas(demo.generator)),
            ),
        )
    return known


def country_of(postal_code: str) -> people.Country:
    """Dutch postal codes end in two letters ("5611 AB"); Belgian ones are four digits."""
    return "NL" if postal_code.strip()[-1:].isalpha() else "BE"


@dataclass(frozen=True, slots=True)
class AreaMap:
    """Which demo dealer serves a postal code: the longest matching area among the dealers of
    the code's country (the two countries' codes overlap: NL 2018 AB is Haarlem, BE 2018 is
    Antwerpen)."""

    areas: dict[tuple[str, str], int]  # (country, area) -> dealer id

    @classmethod
    def of(cls, dealers: dict[str, Dealer]) -> AreaMap:
        areas: dict[tuple[str, str], int] = {}
        for demo in DEMO_DEALERS:
            dealer = dealers[demo.code]
            for area in dealer.postal_areas:
                areas[(dealer.country, area)] = dealer.id
        return cls(areas)

    def dealer_for(self, postal_code: str | None) -> int | None:
        if not postal_code:
            return None
        compact = postal_code.replace(" ", "").upper()
        country = country_of(compact)
        for length in range(len(compact), 0, -1):
            found = self.areas.get((country, compact[:length]))
            if found is not None:
                return found
        return None
