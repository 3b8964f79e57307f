"""A returning customer on the tablet: what they agreed to, and the cars they saved before.

The session can continue from any saved configuration (online or an earlier showroom one): its
choices become the tablet's selection, and a save afterwards records which configuration it was
based on, so the customer page shows what changed ("colour: Lava Red → Glacier White"). Consent
is asked again in the words new customers read, next to what is on record now.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy.orm import Session

from cdp import catalogue, taxonomy
from cdp.catalogue import Model, Selection
from cdp.consent import repository as consent_repo
from cdp.consent.history import consent_history
from cdp.errors import InvalidInput
from cdp.models import TabletSession
from cdp.profiles import repository as profiles_repo
from cdp.tablet import configuring
from cdp.tablet import service as svc

Answer = Literal["yes", "no", ""]
ANSWERS: tuple[Answer, ...] = ("yes", "no", "")


@dataclass(frozen=True, slots=True)
class StartingPoint:
    """A saved configuration as the tablet offers it to start from."""

    code: str
    model: str | None
    trim: str | None
    colour: str | None
    colour_hex: str | None
    total_price: float | None
    saved_at: datetime
    channel: str  # web | showroom
    source: str | None
    selection: Selection | None  # None: not in today's catalogue, so it cannot be loaded


def _ids(session: Session, profile_id: uuid.UUID) -> list[uuid.UUID]:
    return [profile_id, *profiles_repo.absorbed_ids(session, profile_id)]


def _by_name(items: Any, name: object) -> str | None:
    for item in items:
        if isinstance(name, str) and item.name.casefold() == name.strip().casefold():
            return str(item.code)
    return None


def _valid(model: Model, codes: dict[str, Any]) -> Selection | None:
    try:
        selection = Selection(
            model=model.code,
            trim=model.trim(str(codes["trim"])).code,
            engine=model.engine(str(codes["engine"])).code,
            colour=model.colour(str(codes["colour"])).code,
            wheels=model.wheel(str(codes["wheels"])).code,
            interior=model.interior(str(codes["interior"])).code,
            packs=tuple(model.pack(str(p)).code for p in codes.get("packs") or ()),
        )
    except (KeyError, TypeError):
        return None
    return selection


def selection_of_saved(properties: dict[str, Any]) -> Selection | None:
    """The catalogue choices of a saved configuration: from the codes it was saved with (the
    configurator and the tablet send them), else matched by name; what cannot be matched falls
    back to the model's base choice, and an unknown model gives None."""
    codes = properties.get("selection")
    if isinstance(codes, dict) and isinstance(codes.get("model"), str):
        try:
            model = catalogue.model_by_code(codes["model"])
        except KeyError:
            model = None
        if model is not None and (found := _valid(model, codes)) is not None:
            return found
    model_code = _by_name(catalogue.MODELS, properties.get("model"))
    if model_code is None:
        return None
    model = catalogue.model_by_code(model_code)
    base = catalogue.base_selection(model)
    options = properties.get("options")
    wanted = [o for o in options if isinstance(o, dict)] if isinstance(options, list) else []
    packs = tuple(
        code
        for option in wanted
        if (
            code := _pack_code(model, option.get("code"))
            or _by_name(model.packs, option.get("label"))
        )
    )
    return Selection(
        model=model.code,
        trim=_by_name(model.trims, properties.get("trim")) or base.trim,
        engine=_by_name(model.engines, properties.get("engine")) or base.engine,
        colour=_by_name(model.colours, properties.get("colour")) or base.colour,
        wheels=_by_name(model.wheels, properties.get("wheels")) or base.wheels,
        interior=_by_name(model.interiors, properties.get("interior")) or base.interior,
        packs=tuple(dict.fromkeys(packs)),
    )


def _pack_code(model: Model, code: object) -> str | None:
    try:
        return model.pack(str(code)).code
    except KeyError:
        return None


def starting_points(session: Session, profile_id: uuid.UUID) -> list[StartingPoint]:
    """The customer's saved configurations, the latest first, each with what the tablet loads."""
    ids = _ids(session, profile_id)
    properties = profiles_repo.configuration_properties(session, ids)
    points = []
    for configuration, source in profiles_repo.configurations(session, ids):
        points.append(
            StartingPoint(
                code=configuration.code,
                model=configuration.model,
                trim=configuration.trim,
                colour=configuration.colour,
                colour_hex=configuration.colour_hex,
                total_price=float(configuration.total_price)
                if configuration.total_price is not None
                else None,
                saved_at=configuration.saved_at,
                channel=configuration.channel,
                source=source,
                selection=selection_of_saved(properties.get(configuration.code, {})),
            )
        )
    return points


def start_from(
    session: Session, tablet: TabletSession, *, code: str, now: datetime, phone_region: str
) -> None:
    """Continue the session from one of the customer's saved configurations (an empty code: a
    new one from the first step)."""
    svc.require_customer(tablet)
    profile_id = svc.live_profile_id(session, tablet)
    assert profile_id is not None
    if not code:
        tablet.selection = {
            key: value
            for key, value in tablet.selection.items()
            if key not in (*configuring.SELECTION_KEYS, "based_on")
        } | {"step": "model", "welcomed": True}
        session.flush()
        return
    point = next((p for p in starting_points(session, profile_id) if p.code == code), None)
    if point is None:
        raise InvalidInput(
            f"{code[:40]!r} is not one of this customer's configurations.", field="start_from"
        )
    if point.selection is None:
        raise InvalidInput(
            f"The {point.model or 'car'} of {code} is no longer in the catalogue: "
            "start a new configuration instead.",
            field="start_from",
        )
    configuring.store_selection(
        tablet, point.selection, step="summary", based_on=code, welcomed=True
    )
    # The car as loaded is saved already (as `code`): only a change makes it unsaved.
    tablet.selection = {**tablet.selection, "saved_car": configuring.car_of(tablet)}
    model = catalogue.model_by_code(point.selection.model)
    svc.send(
        session,
        tablet,
        [
            {
                "type": "track",
                "event": taxonomy.CONFIGURATION_LOADED,
                "properties": {
                    "configuration_code": code,
                    "model": model.name,
                    "total_price": catalogue.price(point.selection),
                    "currency": catalogue.CURRENCY,
                },
            }
        ],
        now=now,
        phone_region=phone_region,
    )


# --- consent ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class OnRecord:
    """What is in force for one purpose at one of the customer's addresses (None: tracking,
    which is about the person)."""

    address: str | None
    status: str | None  # granted | withdrawn | None: never asked
    stated_at: datetime | None
    source: str | None


def consent_on_record(session: Session, profile_id: uuid.UUID) -> dict[str, list[OnRecord]]:
    """Per purpose, what is in force now as every export reads it (cdp.consent.history): one
    line for tracking, one per e-mail address (phone number) the customer holds, the latest
    first; none where they hold none."""
    history = consent_history(session, profile_id)
    who = {statement.row.id: statement.who for statement in history.statements}
    found: dict[str, list[OnRecord]] = {purpose: [] for purpose in svc.CONSENT_PURPOSES}
    for standing in reversed(history.standings):  # held addresses come oldest first
        row = standing.in_force
        if standing.purpose in found:
            found[standing.purpose].append(
                OnRecord(
                    address=standing.address,
                    status=row.status if row else None,
                    stated_at=row.stated_at if row else None,
                    source=who.get(row.id) if row else None,
                )
            )
    return found


def _held(session: Session, profile_id: uuid.UUID, purpose: str) -> list[str]:
    """The customer's e-mail addresses (phone numbers), the latest first."""
    ids = consent_repo.profile_ids(session, profile_id)
    held = consent_repo.contact_identifiers(session, ids)
    return [value for kind, value in reversed(held) if kind == purpose]


def check_consent(
    session: Session,
    profile_id: uuid.UUID,
    answers: dict[str, str],
    addresses: dict[str, str] | None = None,
) -> tuple[dict[str, str], dict[str, str]]:
    """The address each e-mail or phone grant is for, and what is wrong, per field
    (`consent_<purpose>`, `consent_<purpose>_address`). A grant is for one address the customer
    holds: the one chosen, or their only one."""
    problems: dict[str, str] = {}
    chosen: dict[str, str] = {}
    for purpose, answer in answers.items():
        field = f"consent_{purpose}"
        if purpose not in svc.CONSENT_PURPOSES:
            problems["consent"] = f"Unknown consent {purpose[:40]!r}."
        elif answer not in ANSWERS:
            problems[field] = "Choose yes, no or not asked."
        elif answer == "yes" and purpose in ("email", "phone"):
            what = "e-mail address" if purpose == "email" else "phone number"
            held = _held(session, profile_id, purpose)
            typed = (addresses or {}).get(purpose, "").strip()
            if not held:
                problems[field] = f"We have no {what} for this customer: add it first."
            elif typed in held:
                chosen[purpose] = typed
            elif not typed and len(held) == 1:
                chosen[purpose] = held[0]
            else:
                problems[f"{field}_address"] = (
                    f"Choose the {what} they agree to for “Yes”: one of theirs."
                )
    return chosen, problems


def record_consent(
    session: Session,
    tablet: TabletSession,
    answers: dict[str, str],
    *,
    addresses: dict[str, str] | None = None,
    now: datetime,
    phone_region: str,
) -> None:
    """Record what the customer said, in the words they read; a purpose not asked records
    nothing. A yes to e-mail (phone) is for one address (number) they hold, sent with it, so it
    is in force for it (a grant made for no address is history only); a no is made for none,
    which withdraws it for all of them. A statement that repeats the one in force is not stored
    twice (ingest)."""
    svc.require_customer(tablet)
    profile_id = svc.live_profile_id(session, tablet)
    assert profile_id is not None
    chosen, problems = check_consent(session, profile_id, answers, addresses)
    if problems:
        field, message = next(iter(problems.items()))
        raise InvalidInput(message, field=field)
    consent = {
        purpose: {
            "status": "granted" if answer == "yes" else "withdrawn",
            "wording": svc.CONSENT_WORDING[purpose],
        }
        for purpose, answer in answers.items()
        if answer
    }
    if consent:
        # The addresses are the customer's own (checked above): they find the same profile.
        svc.send(
            session,
            tablet,
            [{"type": "identify", "traits": {**chosen, "consent": consent}}],
            now=now,
            phone_region=phone_region,
        )
