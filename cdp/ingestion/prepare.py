"""From a validated Segment message to what the store needs: time, identifiers, traits, consent."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from cdp import taxonomy
from cdp.identity.identifiers import (
    KIND_RANK,
    MAX_IDENTIFIER_LENGTH,
    Identifier,
    normalise_code,
    normalise_email,
    normalise_id,
    normalise_phone,
    placeholder_reason,
)
from cdp.identity.rules import DEFAULT_CONSENT_CATEGORIES
from cdp.ingestion.schemas import Message, aware
from cdp.text import hex_colour_or_none, web_address

# Segment's reserved traits, stored under our snake_case names.
_TRAIT_ALIASES = {
    "firstName": "first_name",
    "firstname": "first_name",
    "lastName": "last_name",
    "lastname": "last_name",
    "postalCode": "postal_code",
    "zip": "postal_code",
    "zipcode": "postal_code",
    "locale": "language",
    "createdAt": "created_at",
}
_ADDRESS_TRAITS = {
    "city": "city",
    "postalCode": "postal_code",
    "postal_code": "postal_code",
    "country": "country",
    "street": "street",
}

# The names our own `traits.consent` takes for each purpose (the collection API's format);
# Segment's consent categories go through the operator's table (Settings.consent_categories).
CONSENT_ALIASES = DEFAULT_CONSENT_CATEGORIES  # the same words, for our own format too
_GRANTED = {"granted", "true", "yes", "opt-in", "opt_in", "optin", "given", "1"}
_WITHDRAWN = {"withdrawn", "false", "no", "opt-out", "opt_out", "optout", "denied", "revoked", "0"}


@dataclass(slots=True)
class ConsentStatement:
    purpose: str
    status: str
    wording: str | None
    # The e-mail address (purpose email) or phone number (phone) of the message the statement
    # came with, normalised: consent to be e-mailed is given for one address, not for whatever
    # address the profile holds later. None when the message named none.
    address: str | None = None


@dataclass(slots=True)
class SavedConfiguration:
    code: str
    model: str | None
    trim: str | None
    engine: str | None
    colour: str | None
    colour_hex: str | None
    wheels: str | None
    interior: str | None
    body_type: str | None
    fuel: str | None
    options: list[Any]
    total_price: Decimal | None
    currency: str | None
    url: str | None


@dataclass(slots=True)
class PreparedMessage:
    index: int
    message: Message
    message_id: str
    occurred_at: datetime
    identifiers: list[Identifier]  # strongest first
    traits: dict[str, Any]
    consents: list[ConsentStatement]
    configuration: SavedConfiguration | None
    warnings: list[str] = field(default_factory=list)
    # Identifiers that find a profile but are never added to one (an alias's earlier userId).
    also_matches: list[Identifier] = field(default_factory=list)

    @property
    def explicit_link(self) -> bool:
        """An alias call states outright that two ids are one person."""
        return self.message.type == "alias"

    @property
    def name(self) -> str | None:
        return self.message.event if self.message.type == "track" else self.message.name


# Event times we accept: history imports go back years, but not before this; a device clock
# that runs ahead is corrected by sentAt, so more than this ahead of receipt is a wrong value.
EARLIEST_EVENT = datetime(2000, 1, 1, tzinfo=UTC)
LATEST_AHEAD = timedelta(days=1)


class EventTimeOutOfRange(ValueError):
    """The message's time cannot be right; the message is refused with this reason."""


def event_time(message: Message, received_at: datetime) -> datetime:
    """receivedAt - (sentAt - timestamp): corrects the sender's clock, as Segment does."""
    stamp = message.timestamp or message.originalTimestamp
    if stamp is None:
        return received_at
    stamp = aware(stamp)
    try:
        moment = (
            received_at - (aware(message.sentAt) - stamp)
            if message.sentAt is not None
            else stamp.astimezone(UTC)
        )
    except OverflowError:
        raise EventTimeOutOfRange("timestamp and sentAt are centuries apart") from None
    if moment < EARLIEST_EVENT:
        raise EventTimeOutOfRange(f"the event time {moment:%Y-%m-%d} is before 2000")
    if moment > received_at + LATEST_AHEAD:
        raise EventTimeOutOfRange(
            f"the event time {moment:%Y-%m-%d %H:%M} UTC is more than a day ahead of now; "
            "send sentAt with it so the device's clock can be corrected"
        )
    return moment


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    text = str(value).strip()
    return text or None


def _lower(value: Any, limit: int) -> str | None:
    text = _text(value)
    return text.lower()[:limit] if text else None


def _label(value: Any) -> str | None:
    """A configuration choice as shown to staff, cut to its column's width (200)."""
    text = _text(value)
    return text[:200] if text else None


def _traits_of(message: Message) -> dict[str, Any]:
    traits: dict[str, Any] = {}
    sources = []
    if message.context and isinstance(message.context.get("traits"), dict):
        sources.append(message.context["traits"])
    if message.type == "identify" and message.traits:
        sources.append(message.traits)  # the call's own traits win over context traits
    for source in sources:
        for key, value in source.items():
            if key == "consent":
                continue
            if key == "address" and isinstance(value, dict):
                for sub, name in _ADDRESS_TRAITS.items():
                    if sub in value and value[sub] is not None:
                        traits[name] = value[sub]
                continue
            traits[_TRAIT_ALIASES.get(key, key)] = value
    return traits


def _consent_status(value: Any) -> tuple[str, str | None] | None:
    wording = None
    if isinstance(value, dict):
        wording = _text(value.get("wording") or value.get("text"))
        value = value.get("status", value.get("granted"))
    if isinstance(value, bool):
        return ("granted" if value else "withdrawn"), wording
    text = str(value).strip().lower() if value is not None else ""
    if text in _GRANTED:
        return "granted", wording
    if text in _WITHDRAWN:
        return "withdrawn", wording
    return None


def _consents_of(
    message: Message, identifiers: list[Identifier], categories: Mapping[str, str]
) -> list[ConsentStatement]:
    found: dict[str, ConsentStatement] = {}
    context_consent = (message.context or {}).get("consent")
    if isinstance(context_consent, dict):
        prefs = context_consent.get("categoryPreferences")
        if isinstance(prefs, dict):
            for category, value in prefs.items():
                purpose = categories.get(str(category).strip().lower())
                status = _consent_status(value)
                if purpose and status:
                    found[purpose] = ConsentStatement(purpose, status[0], status[1])
    trait_consent = (message.traits or {}).get("consent") if message.type == "identify" else None
    if isinstance(trait_consent, dict):
        for key, value in trait_consent.items():
            purpose = CONSENT_ALIASES.get(str(key).strip().lower())
            status = _consent_status(value)
            if purpose and status:
                found[purpose] = ConsentStatement(purpose, status[0], status[1])
    if found:
        contacts = {i.kind: i.value for i in identifiers if i.kind in ("email", "phone")}
        for statement in found.values():
            statement.address = contacts.get(statement.purpose)
    return list(found.values())


def _price(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        price = Decimal(str(value))
    except InvalidOperation:
        return None
    return price.quantize(Decimal("0.01")) if price.is_finite() and abs(price) < 10**10 else None


# A configuration code is short ("NW-7K3Q9P"); one longer than its column is not one: it is
# neither an identifier nor a saved configuration (a warning says so).
MAX_CODE_LENGTH = 100


def configuration_code(properties: dict[str, Any]) -> str | None:
    for key in ("configuration_code", "configurationCode", "code"):
        text = _text(properties.get(key))
        if text:
            return text
    return None


def _configuration_of(message: Message) -> SavedConfiguration | None:
    if message.type != "track" or message.event != taxonomy.CONFIGURATION_SAVED:
        return None
    props = message.properties or {}
    code = configuration_code(props)
    if code is None or len(normalise_code(code)) > MAX_CODE_LENGTH:
        return None
    options = props.get("options")
    hex_value = _text(props.get("colour_hex") or props.get("color_hex"))
    url = _text(props.get("url"))
    return SavedConfiguration(
        code=normalise_code(code),
        model=_label(props.get("model")),
        trim=_label(props.get("trim")),
        engine=_label(props.get("engine")),
        colour=_label(props.get("colour") or props.get("color")),
        colour_hex=hex_colour_or_none(hex_value),
        wheels=_label(props.get("wheels")),
        interior=_label(props.get("interior")),
        body_type=_lower(props.get("body_type"), 40),
        fuel=_lower(props.get("fuel"), 20),
        options=options if isinstance(options, list) else [],
        total_price=_price(props.get("total_price", props.get("price"))),
        currency=(_text(props.get("currency")) or "EUR")[:3].upper(),
        url=(web_address(url) or "")[:2000] or None,
    )


def prepare(
    message: Message,
    *,
    index: int,
    received_at: datetime,
    phone_region: str,
    consent_categories: Mapping[str, str] = DEFAULT_CONSENT_CATEGORIES,
) -> PreparedMessage:
    """Interpret one message: identifiers normalised, placeholders dropped with a warning."""
    warnings: list[str] = []
    identifiers: list[Identifier] = []

    def add(kind: str, raw: Any, normalised: str | None) -> None:
        if raw is None:
            return
        reason = placeholder_reason(str(raw))
        if reason:
            warnings.append(f"{kind} ignored: {reason}")
            return
        if normalised is None:
            warnings.append(f"{kind} ignored: {str(raw)[:60]!r} is not a valid {kind}")
            return
        if len(normalised) > MAX_IDENTIFIER_LENGTH:
            warnings.append(f"{kind} ignored: longer than {MAX_IDENTIFIER_LENGTH} characters")
            return
        ident = Identifier(kind, normalised)
        if ident not in identifiers:
            identifiers.append(ident)

    traits = _traits_of(message)
    if message.userId is not None:
        add("user_id", message.userId, normalise_id(message.userId))
    also_matches: list[Identifier] = []
    if message.type == "alias" and message.previousId is not None:
        # previousId names the earlier user: usually an anonymousId, sometimes an older userId.
        add("anonymous_id", message.previousId, normalise_id(message.previousId))
        if placeholder_reason(message.previousId) is None:
            also_matches.append(Identifier("user_id", normalise_id(message.previousId)))
    email = _text(traits.get("email"))
    if email is not None:
        add("email", email, normalise_email(email))
    phone = _text(traits.get("phone"))
    if phone is not None:
        add("phone", phone, normalise_phone(phone, phone_region))
    if message.anonymousId is not None:
        add("anonymous_id", message.anonymousId, normalise_id(message.anonymousId))
    if message.type == "track" and message.event in (
        taxonomy.CONFIGURATION_SAVED,
        taxonomy.CONFIGURATION_LOADED,
    ):
        code = configuration_code(message.properties or {})
        if code is not None and len(normalise_code(code)) > MAX_CODE_LENGTH:
            warnings.append(f"config_code ignored: longer than {MAX_CODE_LENGTH} characters")
        elif code is not None:
            add("config_code", code, normalise_code(code))

    identifiers.sort(key=lambda ident: KIND_RANK[ident.kind])
    # Stored traits carry the normalised contact details, so profiles show what matching uses.
    for ident in identifiers:
        if ident.kind in ("email", "phone"):
            traits[ident.kind] = ident.value
    if "email" in traits and not any(i.kind == "email" for i in identifiers):
        del traits["email"]
    if "phone" in traits and not any(i.kind == "phone" for i in identifiers):
        del traits["phone"]

    return PreparedMessage(
        index=index,
        message=message,
        message_id=message.messageId or f"cdp-{uuid.uuid4()}",
        occurred_at=event_time(message, received_at),
        identifiers=identifiers,
        traits=traits,
        consents=_consents_of(message, identifiers, consent_categories),
        configuration=_configuration_of(message),
        warnings=warnings,
        also_matches=also_matches,
    )
