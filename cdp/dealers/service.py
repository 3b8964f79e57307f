"""The rules of the dealer network: what a dealer must hold, and which dealers staff work at.

Staff who serve customers (sales, reception, delivery) work at one or more dealers; managers and
admins may, and without a dealer they are the importer's and see the whole network, as marketing
does. With one active dealer (a single showroom, or an installation just upgraded to the default
dealer) floor staff join it without being told.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.orm import Session

from cdp.audit.service import record
from cdp.config import get_settings
from cdp.dealers import areas as area_rules
from cdp.dealers import repository
from cdp.dealers.areas import Clash, Takeover
from cdp.dealers.opening_hours import parse_opening_hours
from cdp.dealers.schemas import DealerFields
from cdp.errors import Conflict, InvalidInput, NotFound
from cdp.identity.identifiers import normalise_phone
from cdp.models import DEFAULT_DEALER_CODE, Dealer

CODE_PATTERN = re.compile(r"[A-Z0-9][A-Z0-9_-]{0,19}")
AREA_PATTERN = re.compile(r"[A-Z0-9]{1,10}")
COUNTRY_PATTERN = re.compile(r"[A-Z]{2}")
DEFAULT_SLA_MINUTES = 30
DEFAULT_SLA_WARNING_MINUTES = 15
MAX_SLA_MINUTES = 7 * 24 * 60
# Roles that serve customers at a location, and so always work at a dealer.
FLOOR_ROLES = frozenset({"sales", "reception", "delivery"})
# The audit trail's action for the network's dealers added, changed, (de)activated, imported.
AUDIT_ACTION = "dealer"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who changes a dealer, as the audit trail shows it: a staff member's e-mail address and
    id, or what the command line was given."""

    name: str
    user_id: int | None = None


COMMAND_LINE = Actor("command line")


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


def _phone(fields: DealerFields, regions: str | None) -> str | None:
    """The number as typed, if the phonenumbers library reads it as a phone number as cdp reads
    customers' numbers (cdp/identity/identifiers.py): in the dealer's country first, then the
    installation's regions (CDP_DEFAULT_PHONE_REGION) for a number without its country code."""
    text = fields.phone.strip()
    if not text:
        return None
    _limited("phone", text, 32)
    country = fields.country.strip().upper()
    tried = ",".join(
        part
        for part in (country if COUNTRY_PATTERN.fullmatch(country) else "", regions or "")
        if part
    )
    if normalise_phone(text, tried or "NL") is None:
        raise InvalidInput(
            f"phone {text[:40]!r} is not a phone number: give it as it is dialled, such as "
            "+31 40 123 4567 or 040 123 4567",
            field="phone",
        )
    return text


def _default_regions() -> str:
    return get_settings().default_phone_region


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


def _sla_minutes(fields: DealerFields) -> int:
    return _minutes(fields.sla_minutes, DEFAULT_SLA_MINUTES, field="sla_minutes")


def _warning_minutes(fields: DealerFields) -> int:
    """Minutes to the warning, which comes before first contact is due (compared only when the
    first-contact minutes are right: their own problem is said at their own field)."""
    warning = _minutes(
        fields.sla_warning_minutes, DEFAULT_SLA_WARNING_MINUTES, field="sla_warning_minutes"
    )
    try:
        sla = _sla_minutes(fields)
    except InvalidInput:
        return warning
    if warning > sla:
        raise InvalidInput(
            f"the SLA warning ({warning} minutes) must come before first contact is due "
            f"({sla} minutes)",
            field="sla_warning_minutes",
        )
    return warning


def _checks(phone_region: str | None) -> dict[str, Callable[[DealerFields], object]]:
    """Each column of a dealer and the check that gives its stored value (or InvalidInput);
    `phone_region`: the installation's regions for phone numbers (None: the settings')."""
    return {
        "name": _name,
        "address": _optional("address", 300),
        "postal_code": _optional("postal_code", 20),
        "city": _optional("city", 100),
        "country": _country,
        "phone": partial(_phone, regions=phone_region or _default_regions()),
        "time_zone": _time_zone,
        "opening_hours": _opening_hours,
        "postal_areas": lambda fields: postal_areas(fields.postal_areas),
        "active": lambda fields: fields.active,
        "sla_first_contact_minutes": _sla_minutes,
        "sla_warning_minutes": _warning_minutes,
    }


def _checked(fields: DealerFields, phone_region: str | None) -> dict[str, object]:
    """The columns of a valid dealer, or InvalidInput naming the first field that is wrong."""
    return {key: check(fields) for key, check in _checks(phone_region).items()}


def clash_message(clashes: Sequence[Clash]) -> str:
    """Areas another active dealer serves too, each with that dealer named."""
    if len(clashes) == 1:
        return clashes[0].message
    listed = ", ".join(f"{c.area} ({c.holder.label})" for c in clashes)
    return (
        f"postal-code areas {listed} are already served by other dealers: a postal code's "
        "leads go to one dealer, so remove them here or there first"
    )


def dealer_problems(
    fields: DealerFields,
    *,
    with_code: bool = True,
    phone_region: str | None = None,
    session: Session | None = None,
) -> dict[str, str]:
    """Every field that is wrong and what is wrong with it, so a form marks them all at once
    (the code too, unless it is an existing dealer's, which does not change). With a session,
    an active dealer's postal-code areas that another active dealer serves too are one of them
    (cdp/dealers/areas.py)."""
    problems: dict[str, str] = {}
    checks: dict[str, Callable[[DealerFields], object]] = {}
    if with_code:
        checks["code"] = lambda f: normal_code(f.code)
    checks.update(_checks(phone_region))
    for key, check in checks.items():
        try:
            check(fields)
        except InvalidInput as error:
            problems.setdefault(error.field or key, error.message)
    if session is not None and fields.active and not {"postal_areas", "country"} & problems.keys():
        code = fields.code.strip().upper()
        found = area_rules.clashes(
            postal_areas(fields.postal_areas),
            _country(fields),
            repository.active_holders(session, besides=code),
        )
        if found:
            problems["postal_areas"] = clash_message(found)
    return problems


def area_takeovers(
    session: Session, fields: DealerFields, *, dealer: Dealer | None = None
) -> list[Takeover]:
    """The areas of an active dealer about to be saved (a new one, or `dealer` changed) that lie
    inside another active dealer's area, so their leads would come to it instead; only areas
    it does not serve already. Empty for an inactive dealer, or fields that are wrong (their
    problems are said first)."""
    if not fields.active:
        return []
    try:
        code = dealer.code if dealer is not None else normal_code(fields.code)
        country = _country(fields)
        wanted = postal_areas(fields.postal_areas)
    except InvalidInput:
        return []
    served = set(dealer.postal_areas) if dealer is not None and dealer.active else set()
    return area_rules.takeovers(
        [area for area in wanted if area not in served],
        country=country,
        own_areas=wanted,
        others=repository.active_holders(session, besides=code),
    )


def reactivation_clashes(session: Session, dealer: Dealer) -> list[Clash]:
    """The areas of an inactive dealer another active dealer serves now: its reactivation is
    refused until one of them lets go."""
    if dealer.active:
        return []
    others = repository.active_holders(session, besides=dealer.code)
    return area_rules.clashes(dealer.postal_areas, dealer.country, others)


def reactivation_takeovers(session: Session, dealer: Dealer) -> list[Takeover]:
    """What reactivating an inactive dealer takes from the active ones."""
    if dealer.active:
        return []
    return area_rules.takeovers(
        dealer.postal_areas,
        country=dealer.country,
        own_areas=dealer.postal_areas,
        others=repository.active_holders(session, besides=dealer.code),
    )


def _refuse_clashes(session: Session, code: str, country: str, areas: Sequence[str]) -> None:
    found = area_rules.clashes(areas, country, repository.active_holders(session, besides=code))
    if found:
        raise Conflict(clash_message(found), field="postal_areas")


def _taken(takeovers: Sequence[Takeover]) -> str:
    """For the audit trail: "; takes 5611 from NW-EHV's 561"."""
    if not takeovers:
        return ""
    return "; takes " + ", ".join(
        f"{t.area} from {t.holder.code}'s {t.holder_area}" for t in takeovers
    )


def _shown(value: object) -> str:
    if isinstance(value, list):
        return ", ".join(value) or "none"
    if value is None or value == "":
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


# How the audit trail names each column that changed.
_LABELS = {
    "name": "name",
    "address": "address",
    "postal_code": "postal code",
    "city": "city",
    "country": "country",
    "phone": "phone",
    "time_zone": "time zone",
    "opening_hours": "opening hours",
    "postal_areas": "postal-code areas",
    "active": "active",
    "sla_first_contact_minutes": "SLA minutes",
    "sla_warning_minutes": "SLA warning minutes",
}


def note(session: Session, actor: Actor, detail: str) -> None:
    """One record in the audit trail (action "dealer"): dealers' codes and business details,
    never a customer's."""
    record(session, AUDIT_ACTION, actor=actor.name, staff_user_id=actor.user_id, detail=detail)


def create_dealer(
    session: Session,
    fields: DealerFields,
    *,
    phone_region: str | None = None,
    actor: Actor | None = None,
    check_areas: bool = True,
) -> Dealer:
    """A new dealer, or InvalidInput/Conflict naming the first field that is wrong (an area
    another active dealer serves is refused: `check_areas=False` only where the caller checked
    them all at once, as an import does). With an `actor`, recorded in the audit trail."""
    code = normal_code(fields.code)
    values = _checked(fields, phone_region)
    if repository.dealers_by_code(session, [code]):
        raise Conflict(f"a dealer {code} already exists", field="code")
    areas: list[str] = values["postal_areas"]  # type: ignore[assignment]
    country = str(values["country"])
    if check_areas and fields.active:
        _refuse_clashes(session, code, country, areas)
    taken = area_takeovers(session, fields) if actor is not None else []
    dealer = Dealer(code=code, **values)
    session.add(dealer)
    session.flush()
    if actor is not None:
        state = "" if dealer.active else ", inactive"
        note(
            session,
            actor,
            f"dealer {code} added ({dealer.name}, {country}{state}; postal-code areas "
            f"{_shown(areas)}){_taken(taken)}",
        )
    return dealer


def update_dealer(
    session: Session,
    dealer: Dealer,
    fields: DealerFields,
    *,
    phone_region: str | None = None,
    actor: Actor | None = None,
    check_areas: bool = True,
) -> Dealer:
    """Changes everything but the code (which other systems and the CSV know it by); areas as
    in `create_dealer`. With an `actor`, what changed is recorded in the audit trail."""
    values = _checked(fields, phone_region)
    if check_areas and fields.active:
        areas: list[str] = values["postal_areas"]  # type: ignore[assignment]
        _refuse_clashes(session, dealer.code, str(values["country"]), areas)
    taken = area_takeovers(session, fields, dealer=dealer) if actor is not None else []
    changes = [
        f"{_LABELS[key]} {_shown(getattr(dealer, key))} → {_shown(value)}"
        for key, value in values.items()
        if getattr(dealer, key) != value
    ]
    for key, value in values.items():
        setattr(dealer, key, value)
    session.flush()
    if actor is not None and changes:
        note(session, actor, f"dealer {dealer.code} changed: {'; '.join(changes)}{_taken(taken)}")
    return dealer


def set_active(session: Session, dealer: Dealer, active: bool, *, actor: Actor) -> bool:
    """Deactivate or reactivate a dealer; False when it already was. Reactivating one whose
    postal-code area another active dealer now serves is refused (Conflict, naming it)."""
    if dealer.active == active:
        return False
    taken: list[Takeover] = []
    if active:
        _refuse_clashes(session, dealer.code, dealer.country, dealer.postal_areas)
        taken = reactivation_takeovers(session, dealer)
    dealer.active = active
    session.flush()
    note(
        session,
        actor,
        f"dealer {dealer.code} {'reactivated' if active else 'deactivated'}{_taken(taken)}",
    )
    return True


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
