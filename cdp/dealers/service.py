"""The rules of the dealer network: what a dealer must hold, and which dealers staff work at.

Staff who serve customers (sales, reception, delivery) work at one or more dealers; managers and
admins may, and without a dealer they are the importer's and see the whole network, as marketing
does. With one active dealer (a single showroom, or an installation just upgraded to the default
dealer) floor staff join it without being told.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.orm import Session

from cdp.dealers import repository
from cdp.dealers.opening_hours import parse_opening_hours
from cdp.dealers.schemas import DealerFields
from cdp.errors import Conflict, InvalidInput, NotFound
from cdp.models import DEFAULT_DEALER_CODE, Dealer

CODE_PATTERN = re.compile(r"[A-Z0-9][A-Z0-9_-]{0,19}")
AREA_PATTERN = re.compile(r"[A-Z0-9]{1,10}")
COUNTRY_PATTERN = re.compile(r"[A-Z]{2}")
DEFAULT_SLA_MINUTES = 30
DEFAULT_SLA_WARNING_MINUTES = 15
MAX_SLA_MINUTES = 7 * 24 * 60
# Roles that serve customers at a location, and so always work at a dealer.
FLOOR_ROLES = frozenset({"sales", "reception", "delivery"})


def normal_code(raw: str, *, field: str = "code") -> str:
    code = raw.strip().upper()
    if not CODE_PATTERN.fullmatch(code):
        raise InvalidInput(
            f"dealer code {raw.strip()!r} must be 1 to 20 letters, digits, '-' or '_'",
            field=field,
        )
    return code


def postal_areas(raw: str) -> list[str]:
    """'5611, 5612 3000' -> ['3000', '5611', '5612']: the postal-code prefixes served."""
    areas = set()
    for part in re.split(r"[,;\s]+", raw.strip()):
        if not part:
            continue
        area = part.upper()
        if not AREA_PATTERN.fullmatch(area):
            raise InvalidInput(
                f"postal-code area {part!r} must be letters and digits, such as 5611",
                field="postal_areas",
            )
        areas.add(area)
    return sorted(areas)


def _name(fields: DealerFields) -> str:
    name = fields.name.strip()
    if not name:
        raise InvalidInput("a dealer needs a name", field="name")
    return _limited("name", name, 200)


def _country(fields: DealerFields) -> str:
    country = fields.country.strip().upper() or "NL"
    if not COUNTRY_PATTERN.fullmatch(country):
        raise InvalidInput(
            f"country {fields.country.strip()!r} must be a two-letter code such as NL or BE",
            field="country",
        )
    return country


def _time_zone(fields: DealerFields) -> str | None:
    zone = fields.time_zone.strip()
    if zone:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise InvalidInput(
                f"time zone {zone!r} is unknown: use a name such as Europe/Brussels",
                field="time_zone",
            ) from None
    return zone or None


def _limited(key: str, value: str, limit: int) -> str:
    if len(value) > limit:
        raise InvalidInput(f"{key.replace('_', ' ')} is longer than {limit}", field=key)
    return value


def _optional(key: str, limit: int) -> Callable[[DealerFields], str | None]:
    def check(fields: DealerFields) -> str | None:
        value = str(getattr(fields, key)).strip()
        if key == "postal_code":
            value = value.upper()
        return _limited(key, value, limit) or None

    return check


def _opening_hours(fields: DealerFields) -> str | None:
    parse_opening_hours(fields.opening_hours)  # refused here, with what part is wrong
    return fields.opening_hours.strip() or None


def _minutes(raw: str, default: int, *, field: str) -> int:
    text = raw.strip()
    if not text:
        return default
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= MAX_SLA_MINUTES:
        raise InvalidInput(
            f"{field.replace('_', ' ')} must be a whole number of minutes from 1 to "
            f"{MAX_SLA_MINUTES}, not {text[:20]!r}",
            field=field,
        )
    return int(text)


def _sla(fields: DealerFields) -> tuple[int, int]:
    """Minutes to first contact and to the warning; the warning comes first."""
    sla = _minutes(fields.sla_minutes, DEFAULT_SLA_MINUTES, field="sla_minutes")
    warning = _minutes(
        fields.sla_warning_minutes, DEFAULT_SLA_WARNING_MINUTES, field="sla_warning_minutes"
    )
    if warning > sla:
        raise InvalidInput(
            f"the SLA warning ({warning} minutes) must come before first contact is due "
            f"({sla} minutes)",
            field="sla_warning_minutes",
        )
    return sla, warning


# Each column of a dealer and the check that gives its stored value (or InvalidInput).
_CHECKS: dict[str, Callable[[DealerFields], object]] = {
    "name": _name,
    "address": _optional("address", 300),
    "postal_code": _optional("postal_code", 20),
    "city": _optional("city", 100),
    "country": _country,
    "phone": _optional("phone", 32),
    "time_zone": _time_zone,
    "opening_hours": _opening_hours,
    "postal_areas": lambda fields: postal_areas(fields.postal_areas),
    "active": lambda fields: fields.active,
    "sla_first_contact_minutes": lambda fields: _sla(fields)[0],
    "sla_warning_minutes": lambda fields: _sla(fields)[1],
}


def _checked(fields: DealerFields) -> dict[str, object]:
    """The columns of a valid dealer, or InvalidInput naming the first field that is wrong."""
    return {key: check(fields) for key, check in _CHECKS.items()}


def dealer_problems(fields: DealerFields, *, with_code: bool = True) -> dict[str, str]:
    """Every field that is wrong and what is wrong with it, so a form marks them all at once
    (the code too, unless it is an existing dealer's, which does not change)."""
    problems: dict[str, str] = {}
    checks: dict[str, Callable[[DealerFields], object]] = {}
    if with_code:
        checks["code"] = lambda f: normal_code(f.code)
    checks.update(_CHECKS)
    for key, check in checks.items():
        try:
            check(fields)
        except InvalidInput as error:
            problems[error.field or key] = error.message
    return problems


def create_dealer(session: Session, fields: DealerFields) -> Dealer:
    code = normal_code(fields.code)
    values = _checked(fields)
    if repository.dealers_by_code(session, [code]):
        raise Conflict(f"a dealer {code} already exists", field="code")
    dealer = Dealer(code=code, **values)
    session.add(dealer)
    session.flush()
    return dealer


def update_dealer(session: Session, dealer: Dealer, fields: DealerFields) -> Dealer:
    """Changes everything but the code (which other systems and the CSV know it by)."""
    for key, value in _checked(fields).items():
        setattr(dealer, key, value)
    session.flush()
    return dealer


def dealer_by_code(session: Session, code: str) -> Dealer:
    wanted = normal_code(code, field="dealer")
    found = repository.dealers_by_code(session, [wanted]).get(wanted)
    if found is None:
        raise NotFound(f"no dealer has code {wanted} (see: cdp dealer list)", field="dealer")
    return found


def all_dealers(session: Session) -> list[Dealer]:
    return repository.all_dealers(session)


def staff_counts(session: Session) -> dict[int, int]:
    return repository.staff_counts(session)


def dealers_for_staff(session: Session, *, role: str, codes: Sequence[str]) -> list[Dealer]:
    """The dealers a staff member of this role works at, from the codes given (none: see the
    module's rule), or InvalidInput/NotFound naming the code that is wrong."""
    if codes:
        return [dealer_by_code(session, code) for code in dict.fromkeys(codes)]
    if role not in FLOOR_ROLES:
        return []
    only = repository.active_dealer_ids(session)
    if len(only) == 1:
        found = session.get(Dealer, only[0])
        return [found] if found is not None else []
    raise InvalidInput(
        f"staff with role {role} work at a dealer: give the dealer's code (see: cdp dealer list)",
        field="dealer",
    )


def set_staff_dealers(session: Session, user_id: int, dealers: Sequence[Dealer]) -> None:
    repository.replace_memberships(session, user_id, [dealer.id for dealer in dealers])


def dealer_ids_of(session: Session, user_id: int) -> list[int]:
    return repository.dealer_ids_of(session, user_id)


def dealer_codes_by_user(session: Session, user_ids: Sequence[int]) -> dict[int, list[str]]:
    return repository.dealer_codes_by_user(session, user_ids)


def acting_dealer_id(session: Session, user_id: int | None) -> int | None:
    """The dealer a new lead, note, appointment or tablet session belongs to when nothing it
    hangs off (a lead, a tablet session) says: the acting staff member's dealer (the first, for
    staff at several), else the network's default dealer (MAIN, or the oldest active one), so a
    lead from the website or made by importer staff lands somewhere a dealer's staff see it."""
    if user_id is not None:
        own = repository.first_dealer_of(session, user_id)
        if own is not None:
            return own
    return repository.default_dealer_id(session, DEFAULT_DEALER_CODE)
