"""Realistic, fictional Dutch and Belgian buyers: names, addresses, phone numbers, e-mail addresses.

Every person is drawn from the `random.Random` passed in, so a seed always gives the same people.
Contact details are unique across the people of one run (see `Registry`): two demo customers who
shared an e-mail address or phone number would rightly be merged into one profile.
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass, field
from typing import Literal

Country = Literal["NL", "BE"]
Language = Literal["nl", "fr", "en"]


@dataclass(frozen=True, slots=True)
class Dealer:
    id: str
    name: str
    city: str


@dataclass(frozen=True, slots=True)
class Place:
    """A town and its postal codes (NL: the 4-digit range; BE: the codes themselves)."""

    country: Country
    names: dict[Language, str]  # by the language its inhabitants use; Brussels has two
    postal_codes: tuple[int, ...]
    dealer: Dealer
    weight: float  # roughly its share of buyers

    def name_in(self, language: Language) -> str:
        return self.names.get(language) or next(iter(self.names.values()))


@dataclass(frozen=True, slots=True)
class Person:
    country: Country
    language: Language
    locale: str  # e.g. "nl-BE": what the browser sends
    first_name: str
    last_name: str
    email: str  # as the person types it, lower case
    phone: str  # as the person types it: formats vary
    postal_code: str
    city: str
    dealer: Dealer


_AMS = Dealer("nw-ams", "Nordwind Amsterdam Zuidas", "Amsterdam")
_RTM = Dealer("nw-rtm", "Nordwind Rotterdam Alexander", "Rotterdam")
_DHG = Dealer("nw-dhg", "Nordwind Den Haag Forepark", "Den Haag")
_UTR = Dealer("nw-utr", "Nordwind Utrecht Papendorp", "Utrecht")
_EHV = Dealer("nw-ehv", "Nordwind Eindhoven", "Eindhoven")
_ARN = Dealer("nw-arn", "Nordwind Arnhem", "Arnhem")
_ZWO = Dealer("nw-zwo", "Nordwind Zwolle", "Zwolle")
_GRO = Dealer("nw-gro", "Nordwind Groningen", "Groningen")
_ANT = Dealer("nw-ant", "Nordwind Antwerpen", "Antwerpen")
_GNT = Dealer("nw-gnt", "Nordwind Gent", "Gent")
_BRU = Dealer("nw-bru", "Nordwind Brussel / Bruxelles", "Brussel")
_HAS = Dealer("nw-has", "Nordwind Hasselt", "Hasselt")
_LGE = Dealer("nw-lge", "Nordwind Liège", "Liège")
_CHA = Dealer("nw-cha", "Nordwind Charleroi", "Charleroi")

DEALERS = (_AMS, _RTM, _DHG, _UTR, _EHV, _ARN, _ZWO, _GRO, _ANT, _GNT, _BRU, _HAS, _LGE, _CHA)


def _nl(name: str, low: int, high: int, dealer: Dealer, weight: float) -> Place:
    return Place("NL", {"nl": name}, tuple(range(low, high + 1)), dealer, weight)


def _be(names: dict[Language, str], codes: tuple[int, ...], dealer: Dealer, w: float) -> Place:
    return Place("BE", names, codes, dealer, w)


NL_PLACES = (
    _nl("Amsterdam", 1011, 1109, _AMS, 9),
    _nl("Amstelveen", 1181, 1189, _AMS, 1.5),
    _nl("Haarlem", 2011, 2037, _AMS, 2),
    _nl("Almere", 1311, 1364, _AMS, 2.5),
    _nl("Rotterdam", 3011, 3089, _RTM, 7),
    _nl("Dordrecht", 3311, 3329, _RTM, 1.5),
    _nl("Den Haag", 2491, 2599, _DHG, 6),
    _nl("Delft", 2611, 2629, _DHG, 1.3),
    _nl("Leiden", 2311, 2334, _DHG, 1.5),
    _nl("Zoetermeer", 2711, 2729, _DHG, 1.5),
    _nl("Utrecht", 3511, 3585, _UTR, 4),
    _nl("Amersfoort", 3811, 3829, _UTR, 1.8),
    _nl("Hilversum", 1211, 1223, _UTR, 1),
    _nl("Eindhoven", 5611, 5658, _EHV, 3.4),
    _nl("Tilburg", 5011, 5049, _EHV, 2.5),
    _nl("'s-Hertogenbosch", 5211, 5237, _EHV, 1.8),
    _nl("Breda", 4811, 4839, _EHV, 2),
    _nl("Maastricht", 6211, 6229, _EHV, 1.5),
    _nl("Arnhem", 6811, 6846, _ARN, 2),
    _nl("Nijmegen", 6511, 6546, _ARN, 2.2),
    _nl("Apeldoorn", 7311, 7339, _ZWO, 2),
    _nl("Zwolle", 8011, 8043, _ZWO, 1.6),
    _nl("Enschede", 7511, 7548, _ZWO, 2),
    _nl("Deventer", 7411, 7439, _ZWO, 1.2),
    _nl("Groningen", 9711, 9747, _GRO, 3),
    _nl("Leeuwarden", 8911, 8941, _GRO, 1.5),
)
BE_PLACES = (
    _be({"nl": "Brussel", "fr": "Bruxelles", "en": "Brussels"}, (1000, 1020), _BRU, 3),
    _be({"nl": "Elsene", "fr": "Ixelles", "en": "Ixelles"}, (1050,), _BRU, 1.5),
    _be({"nl": "Ukkel", "fr": "Uccle", "en": "Uccle"}, (1180,), _BRU, 1.3),
    _be({"nl": "Vilvoorde"}, (1800,), _BRU, 0.8),
    _be({"nl": "Leuven"}, (3000, 3001, 3010), _BRU, 1.8),
    _be({"fr": "Wavre"}, (1300,), _BRU, 0.6),
    _be({"fr": "Ottignies-Louvain-la-Neuve"}, (1340, 1348), _BRU, 0.6),
    _be({"fr": "Waterloo"}, (1410,), _BRU, 0.6),
    _be({"nl": "Antwerpen"}, (2000, 2018, 2020, 2060), _ANT, 4),
    _be({"nl": "Berchem"}, (2600,), _ANT, 0.8),
    _be({"nl": "Mechelen"}, (2800,), _ANT, 1.2),
    _be({"nl": "Turnhout"}, (2300,), _ANT, 0.6),
    _be({"nl": "Gent"}, (9000, 9030, 9040, 9050), _GNT, 3),
    _be({"nl": "Aalst"}, (9300,), _GNT, 1),
    _be({"nl": "Sint-Niklaas"}, (9100,), _GNT, 0.9),
    _be({"nl": "Brugge"}, (8000, 8200), _GNT, 1.4),
    _be({"nl": "Oostende"}, (8400,), _GNT, 0.8),
    _be({"nl": "Kortrijk"}, (8500,), _GNT, 1),
    _be({"nl": "Hasselt"}, (3500,), _HAS, 1),
    _be({"nl": "Genk"}, (3600,), _HAS, 0.8),
    _be({"fr": "Liège"}, (4000, 4020, 4030), _LGE, 2),
    _be({"fr": "Verviers"}, (4800,), _LGE, 0.6),
    _be({"fr": "Namur"}, (5000,), _LGE, 1.2),
    _be({"fr": "Charleroi"}, (6000, 6001, 6010), _CHA, 1.8),
    _be({"fr": "Mons"}, (7000,), _CHA, 1),
    _be({"fr": "Tournai"}, (7500,), _CHA, 0.7),
)

# (first names of women, of men, last names) per name culture.
_DUTCH = (
    "Sanne Lotte Emma Anouk Femke Iris Lieke Esther Marieke Ingrid Annelies Renée Zoë Noor Fleur "
    "Sophie Julia Eva Mirjam Petra Yvonne Naomi Floor Linda Daphne Charlotte Fatima Sevda Loes",
    "Daan Bram Thijs Jeroen Martijn Sander Pieter Joost Ruben Lars Bas Niels Wouter Stijn Daniël "
    "Jan Kees Henk Gert-Jan Jan-Willem Mohamed Youssef Emre Koen Tim Rik Sem Luuk Michiel Erik",
    "de Jong|Jansen|de Vries|van den Berg|van Dijk|Bakker|Janssen|Visser|Smit|Meijer|de Boer|"
    "Mulder|de Groot|Bos|Vos|Peters|Hendriks|van Leeuwen|Dekker|Brouwer|de Wit|Dijkstra|Smits|"
    "de Graaf|van der Meer|van der Linden|Kok|Jacobs|de Haan|Vermeulen|van den Heuvel|van der Veen|"
    "van den Broek|de Bruijn|van 't Hof|ter Horst|Müller|Öztürk|El Amrani|Postma|Schouten|Koster|"
    "Kuipers|van Beek|Prins|Verhoeven|Hoekstra|Willemsen|van Wijk|Çelik",
)
_FLEMISH = (
    "Lien Elke Ann Katrien Sofie An Nele Griet Hanne Lore Marie Fien Jolien Inge Els Femke "
    "Ellen Lotte Eline Joke",
    "Pieter Wouter Jens Tom Koen Bart Stijn Jonas Thomas Bram Dries Kobe Lander Wim Geert Jef "
    "Filip Gert Toon Senne",
    "Peeters|Janssens|Maes|Jacobs|Mertens|Willems|Claes|Goossens|Wouters|De Smet|Van den Broeck|"
    "Vermeulen|De Clercq|Van Damme|De Backer|Verhoeven|Desmet|Lemmens|Vandenberghe|Coppens|"
    "Van de Velde|D'Hondt|Verstraete|Declercq|Van Acker|Martens|Hermans|De Vos|Aerts|Michiels",
)
_FRENCH = (
    "Françoise Marie Camille Chloé Hélène Élise Manon Julie Aurélie Gaëlle Anaïs Céline Léa "
    "Nathalie Isabelle Sophie Amélie Noémie Pauline Océane",
    "François Luc Olivier Nicolas Julien Mathieu Benoît Jérôme Loïc Cédric Thibault Maxime Quentin "
    "Sébastien Antoine Frédéric Rémi Arnaud Grégory Hugo",
    "Dubois|Lambert|Dupont|Martin|Leroy|Lejeune|Lefèvre|Renard|Delvaux|Gérard|Simon|Laurent|"
    "Leclercq|François|Mathieu|Collard|Denis|Fontaine|Piron|Lemaire|Dumont|Mercier|Wéry|Lecomte|"
    "Dethier|Goffin|Henrard|Noël|Mahieu|Delhaye",
)
_INTERNATIONAL = (
    "Emily Hannah Olivia Priya Anna Sofia Laura Maria Aisha Chloe Yuki Elena",
    "James Oliver Thomas Rahul Lukas Marco Daniel Pablo Arjun Matteo Kenji Stefan",
    "Smith|Brown|Taylor|Wilson|Sharma|Patel|Müller|Schmidt|Kowalski|Rossi|García|Nowak|O'Brien|"
    "Fischer|Tanaka|Papadopoulos|Novák|Larsen",
)

_PROVIDERS = {
    "NL": (
        ("gmail.com", 30),
        ("hotmail.com", 14),
        ("outlook.com", 10),
        ("live.nl", 6),
        ("ziggo.nl", 10),
        ("kpnmail.nl", 8),
        ("xs4all.nl", 3),
        ("icloud.com", 8),
        ("planet.nl", 3),
        ("home.nl", 2),
    ),
    "BE": (
        ("gmail.com", 32),
        ("hotmail.com", 12),
        ("outlook.com", 8),
        ("telenet.be", 16),
        ("skynet.be", 6),
        ("proximus.be", 5),
        ("icloud.com", 7),
        ("hotmail.be", 5),
        ("yahoo.fr", 3),
        ("live.be", 4),
    ),
}
_BE_MOBILE_PREFIXES = tuple(str(n) for n in (460, 468, *range(470, 480), *range(483, 500)))
# Letter pairs Dutch postal codes never use.
_NL_POSTAL_LETTERS = "ABCDEGHJKLMNPRSTVWXZ"
_NL_POSTAL_UNUSED = frozenset({"SA", "SD", "SS"})


@dataclass
class Registry:
    """Contact details already handed out in this run, so no two people share one."""

    emails: set[str] = field(default_factory=set)
    phones: set[str] = field(default_factory=set)


def _weighted(rng: random.Random, places: tuple[Place, ...]) -> Place:
    return rng.choices(places, weights=[p.weight for p in places])[0]


def _language_for(rng: random.Random, place: Place) -> Language:
    if place.country == "NL":
        return "en" if rng.random() < 0.08 else "nl"
    if len(place.names) > 1:  # Brussels: mostly French, then Dutch, many expats
        return rng.choices(("fr", "nl", "en"), weights=(55, 25, 20))[0]
    only: Language = next(iter(place.names))
    return "en" if rng.random() < 0.04 else only


def _name_culture(country: Country, language: Language) -> tuple[str, str, str]:
    if language == "en":
        return _INTERNATIONAL
    if language == "fr":
        return _FRENCH
    return _DUTCH if country == "NL" else _FLEMISH


def _names(rng: random.Random, country: Country, language: Language) -> tuple[str, str]:
    women, men, last = _name_culture(country, language)
    first = rng.choice((women if rng.random() < 0.5 else men).split())
    return first, rng.choice(last.split("|"))


def ascii_fold(text: str) -> str:
    """'Daniël Öztürk' -> 'Daniel Ozturk': what people type in an e-mail address."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _email(rng: random.Random, first: str, last: str, country: Country, reg: Registry) -> str:
    f = "".join(c for c in ascii_fold(first).lower() if c.isalnum())
    surname = "".join(c for c in ascii_fold(last).lower() if c.isalnum())
    pattern = rng.randrange(6)
    local = [
        f"{f}.{surname}",
        f"{f[0]}.{surname}",
        f"{f}{surname}",
        f"{f}_{surname}",
        f"{f}{surname}{rng.randrange(60, 100):02d}",
        f"{surname}.{f}",
    ][pattern]
    providers = _PROVIDERS[country]
    domain = rng.choices([p for p, _ in providers], weights=[w for _, w in providers])[0]
    email = f"{local}@{domain}"
    while email in reg.emails:  # a namesake got there first, as in real life: add digits
        email = f"{local}{rng.randrange(1, 1000)}@{domain}"
    reg.emails.add(email)
    return email


def _nl_phone(rng: random.Random, digits: str) -> str:
    """'06' + 8 digits, written the ways Dutch people write it."""
    d = digits
    return rng.choice(
        (
            f"06-{d}",
            f"06{d}",
            f"06 {d[:2]} {d[2:4]} {d[4:6]} {d[6:]}",
            f"06 {d[:4]} {d[4:]}",
            f"+31 6 {d}",
            f"+316{d}",
            f"+31 6 {d[:2]} {d[2:4]} {d[4:6]} {d[6:]}",
            f"+31 (0)6 {d[:4]} {d[4:]}",
            f"0031 6 {d}",
        )
    )


def _be_phone(rng: random.Random, prefix: str, d: str) -> str:
    """'04xx' + 6 digits, written the ways Belgians write it."""
    return rng.choice(
        (
            f"0{prefix} {d[:2]} {d[2:4]} {d[4:]}",
            f"0{prefix}/{d[:2]}.{d[2:4]}.{d[4:]}",
            f"0{prefix}{d}",
            f"0{prefix} {d[:3]} {d[3:]}",
            f"+32 {prefix} {d[:2]} {d[2:4]} {d[4:]}",
            f"+32{prefix}{d}",
            f"0032 {prefix} {d[:2]} {d[2:4]} {d[4:]}",
        )
    )


def _phone(rng: random.Random, country: Country, reg: Registry) -> str:
    while True:
        if country == "NL":
            digits = f"{rng.randint(1, 5)}{rng.randrange(10**7):07d}"  # 06-1... to 06-5...
            key, written = f"+316{digits}", _nl_phone(rng, digits)
        else:
            prefix, digits = rng.choice(_BE_MOBILE_PREFIXES), f"{rng.randrange(10**6):06d}"
            key, written = f"+32{prefix}{digits}", _be_phone(rng, prefix, digits)
        if key not in reg.phones:
            reg.phones.add(key)
            return written


def _postal_code(rng: random.Random, place: Place) -> str:
    number = rng.choice(place.postal_codes)
    if place.country == "BE":
        return str(number)
    while True:
        letters = rng.choice(_NL_POSTAL_LETTERS) + rng.choice(_NL_POSTAL_LETTERS)
        if letters not in _NL_POSTAL_UNUSED:
            return f"{number} {letters}"


def _locale(country: Country, language: Language) -> str:
    return "en-GB" if language == "en" else f"{language}-{country}"


def make_person(rng: random.Random, registry: Registry) -> Person:
    """One buyer: 70% Dutch, 30% Belgian, with name, language and town that fit together."""
    country: Country = "NL" if rng.random() < 0.7 else "BE"
    place = _weighted(rng, NL_PLACES if country == "NL" else BE_PLACES)
    language = _language_for(rng, place)
    first, last = _names(rng, country, language)
    return Person(
        country=country,
        language=language,
        locale=_locale(country, language),
        first_name=first,
        last_name=last,
        email=_email(rng, first, last, country, registry),
        phone=_phone(rng, country, registry),
        postal_code=_postal_code(rng, place),
        city=place.name_in(language),
        dealer=place.dealer,
    )
