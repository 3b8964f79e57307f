"""The queries segmentation's features are computed from: the per-profile aggregates of the
configurator events, and one query per other table (configurations, leads, notes, appointments,
consents, merges).

The feature queries are set-based: each is one GROUP BY over a whole table, keyed by the raw
`profile_id` of the rows (folding absorbed profiles into their survivors is done afterwards in
numpy, which is cheaper than joining every event to its profile). They are written in
SQLAlchemy Core for both databases; where PostgreSQL needs another form to be fast at a million
profiles (lookups in a constant jsonb object, day bitmaps) or has other functions (a JSON
value's type, epoch seconds), a small helper chooses by dialect.

The event aggregates are tuned for PostgreSQL's costs: see `aggregate_columns` and
docs/segments.md. They are kept between runs by `segmentation.event_state`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Date,
    Float,
    Integer,
    Select,
    String,
    and_,
    case,
    cast,
    exists,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import aliased

from cdp import catalogue, taxonomy
from cdp.models import Appointment, Configuration, Consent, Event, Lead, Note, Profile

# Events that show someone used the configurator; a profile needs one to be clustered.
CONFIGURATOR_EVENTS = (
    taxonomy.CONFIGURATION_STARTED,
    taxonomy.CONFIGURATION_STEP_VIEWED,
    taxonomy.OPTION_SELECTED,
    taxonomy.OPTION_REMOVED,
    taxonomy.CONFIGURATION_SAVED,
)
# The configurator's steps in order (docs/events.md); "finance" is a tool of its own, counted
# under finance interest, not as depth.
STEP_ORDER = ("model", "trim", "engine", "colour", "wheels", "interior", "packs", "summary")
BODY_GROUPS = ("suv", "estate", "sedan", "hatchback")
# Body types as configurators name them, to the group a feature counts them in.
_BODY_GROUP_OF = {
    "suv": "suv",
    "compact_suv": "suv",
    "crossover": "suv",
    "estate": "estate",
    "wagon": "estate",
    "sedan": "sedan",
    "saloon": "sedan",
    "hatchback": "hatchback",
}
# Fuels as engine choices name them: battery-electric (1) or with a combustion engine (0).
_ELECTRIC_FUEL = {
    "electric": 1,
    "bev": 1,
    "petrol": 0,
    "gasoline": 0,
    "diesel": 0,
    "hybrid": 0,
    "mild_hybrid": 0,
    "plug_in_hybrid": 0,
    "plug-in hybrid": 0,
    "phev": 0,
    "lpg": 0,
    "cng": 0,
}
# Lead stages by how far they got; lost, invalid and duplicate leads count as no lead.
LEAD_STAGE_RANK = {
    "new": 1,
    "attempted": 1,
    "reached": 2,
    "appointment": 3,
    "test_drive": 4,
    "quote": 5,
    "sold": 6,
    "delivered": 6,
}
# Several small counts travel packed in one float8 sum: count i of a pack adds 2**(13*i) per
# event, so one CASE per event feeds four counts. PostgreSQL evaluates an aggregate's argument
# once per aggregate, not once per row, and every CASE over a JSON property costs about as much
# as scanning the row: packing made the event pass four times faster. Sums stay exact up to
# 2**53, so each count is exact up to 8,191 events of one kind per profile (a person makes a
# few hundred at most; a bot beyond that gets wrong shares, never an error). `unpack` decodes.
PACK_BITS = 13
PACK_FIELDS = 4
INTEREST_PACK = taxonomy.INTERESTS  # design, performance, comfort_safety, price_finance
BODY_PACK = BODY_GROUPS
ACTIVITY_PACK = ("configurator_events", "showroom_visits", "electric", "fuel_known")
ACTION_PACK = (
    taxonomy.FINANCE_CALCULATED,
    taxonomy.TRADE_IN_VALUED,
    taxonomy.QUOTE_REQUESTED,
    taxonomy.TEST_DRIVE_REQUESTED,
)
PRICE_COUNT = 2**40  # added per priced event: a price sum below it, the count above
# The columns of `segment_event_state` after profile_id, in order: what `event_aggregates`
# selects per profile. The first eight are floats, then the two day bitmaps and their window.
STATE_COLUMNS = (
    "activity_pack",
    "interest_pack",
    "body_pack",
    "action_pack",
    "price_pack",
    "steps_reached",
    "first_at",
    "last_at",
    "days_low",
    "days_high",
    "window_start",
)
STATE_FLOATS = STATE_COLUMNS[:8]
# Events that carry the configured car's running price.
PRICED_EVENTS = (
    taxonomy.CONFIGURATION_STARTED,
    taxonomy.OPTION_SELECTED,
    taxonomy.OPTION_REMOVED,
    taxonomy.CONFIGURATION_SAVED,
    taxonomy.CONFIGURATION_LOADED,
)
# A showroom visit is a tablet session, which starts a configuration or loads a saved one.
VISIT_STARTS = (taxonomy.CONFIGURATION_STARTED, taxonomy.CONFIGURATION_LOADED)
# Visits are distinct UTC days with configurator events in the VISIT_WINDOW_DAYS days up to the
# run's: per profile two 63-bit day bitmaps (days_low: the window's first 63 days, days_high:
# the next 63), so a later run can shift them to its own window (`visit_days`). On PostgreSQL
# bit_or, because a DISTINCT aggregate, or grouping by day, makes it sort or hash every event
# (3-4 times slower); on SQLite sum(DISTINCT power of two), which is the same.
VISIT_WINDOW_DAYS = 126
HALF_WINDOW = VISIT_WINDOW_DAYS // 2
EPOCH = date(1970, 1, 1)


def unpack(packed: npt.NDArray[np.float64], fields: int = PACK_FIELDS) -> npt.NDArray[np.float64]:
    """The counts in packed sums: (n,) -> (n, fields)."""
    out = np.empty((len(packed), fields), dtype=np.float64)
    whole = np.floor(packed).astype(np.int64)  # exact: the sums are integers below 2**63
    for i in range(fields):
        out[:, i] = (whole >> (PACK_BITS * i)) & (2**PACK_BITS - 1)
    return out


def unpack_price(packed: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.float64], ...]:
    """(sum of prices, number of priced events) from the price pack."""
    count = np.floor(packed / PRICE_COUNT)
    return packed - count * PRICE_COUNT, count


def _json_text(key: str) -> ColumnElement[str]:
    text_value: ColumnElement[str] = Event.properties[key].as_string()
    return text_value


def _spellings(mapping: dict[str, Any]) -> dict[str, Any]:
    """The mapping's keys as sent in lower case, Capitalised and UPPER case."""
    spelled: dict[str, Any] = {}
    for key, value in mapping.items():
        for variant in (key, key.lower(), key.capitalize(), key.upper()):
            spelled.setdefault(variant, value)
    return spelled


def _lookup(key: str, mapping: dict[str, Any], dialect: str) -> ColumnElement[Any]:
    """A JSON property through a mapping; keys match as given, in lower case, Capitalised or in
    UPPER case (lower() on every row costs too much).

    PostgreSQL looks the value up in a constant jsonb object (a binary search); a CASE would
    compare it with every key in turn, which cost a microsecond per event for the models.
    SQLite, with small data, uses `CASE value WHEN ... END`.
    """
    spelled = _spellings(mapping)
    numeric = all(isinstance(value, int) for value in mapping.values())
    if dialect == "postgresql":
        table = cast(literal(json.dumps(spelled, sort_keys=True)), JSONB)
        found: ColumnElement[Any] = table.op("->>")(_json_text(key))
        return cast(found, Integer) if numeric else found
    return case(spelled, value=_json_text(key), else_=None)


def _when(names: Sequence[str] | str, then: ColumnElement[Any]) -> ColumnElement[Any]:
    """`then` for events with these names only: other rows never read their properties."""
    test = Event.name == names if isinstance(names, str) else Event.name.in_(names)
    return case((test, then), else_=None)


def _pack(value: Any, fields: Sequence[Any]) -> ColumnElement[int]:
    """0, or 2**(13*i) when `value` is fields[i]: summed into one packed count.

    Integers: a constant like 8192.0 is numeric in PostgreSQL, and numeric sums are slow.
    """
    return case(
        {field: 2 ** (PACK_BITS * i) for i, field in enumerate(fields)}, value=value, else_=0
    )


def _json_number(key: str, dialect: str) -> ColumnElement[float]:
    """A numeric property as a float, NULL when it is missing or not a JSON number.

    Clients send anything: a plain CAST would make one "abc" fail the whole run on PostgreSQL.
    """
    if dialect == "postgresql":
        is_number = func.jsonb_typeof(Event.properties[key]) == "number"
    else:
        is_number = func.json_type(Event.properties, f'$."{key}"').in_(("integer", "real"))
    return case((is_number, Event.properties[key].as_float()), else_=None)


def _epoch(column: Any, dialect: str) -> ColumnElement[float]:
    """A timestamp as seconds since 1970 (UTC)."""
    if dialect == "postgresql":
        return cast(func.extract("epoch", column), Float)
    # SQLite keeps UTC text; julianday reads it (and an offset, if one is written).
    return (func.julianday(column) - 2440587.5) * 86400.0


def _model_mapping(value_of: Callable[[catalogue.Model], Any]) -> dict[str, Any]:
    """Catalogue models by name and code (as sent, and lower-case) to a value."""
    mapping: dict[str, Any] = {}
    for model in catalogue.MODELS:
        value = value_of(model)
        if value is not None:
            mapping[model.name] = mapping[model.name.lower()] = mapping[model.code] = value
    return mapping


def _interest(dialect: str) -> ColumnElement[str]:
    """The interest one event counts towards: `cdp.taxonomy.interest_of`, in SQL."""
    declared = case(
        {name: name for name in taxonomy.INTERESTS}, value=_json_text("interest"), else_=None
    )
    return case(
        (Event.name.in_(taxonomy.PRICE_FINANCE_EVENTS), literal("price_finance")),
        (
            Event.name.in_((taxonomy.OPTION_SELECTED, taxonomy.OPTION_REMOVED)),
            func.coalesce(declared, _lookup("category", dict(taxonomy.CATEGORY_INTEREST), dialect)),
        ),
        (
            Event.name == taxonomy.CONFIGURATION_STEP_VIEWED,
            _lookup("step", dict(taxonomy.STEP_INTEREST), dialect),
        ),
        else_=None,
    )


def _body_group(dialect: str) -> ColumnElement[str]:
    """The body group of the car an event is about: a saved configuration's `body_type`,
    else the model's in the catalogue."""
    by_model = _model_mapping(lambda model: _BODY_GROUP_OF[model.body])
    declared = _when(
        taxonomy.CONFIGURATION_SAVED, _lookup("body_type", dict(_BODY_GROUP_OF), dialect)
    )
    return func.coalesce(declared, _lookup("model", by_model, dialect))


def _electric(dialect: str) -> ColumnElement[int]:
    """1 for a battery-electric car, 0 for one with a combustion engine, NULL when unknown.

    An engine choice's `fuel` decides; else the model's, when all its engines share one (a
    hybrid counts as combustion).
    """

    def fuel_of(model: catalogue.Model) -> int | None:
        fuels = {engine.fuel for engine in model.engines}
        return 1 if fuels == {"electric"} else None if "electric" in fuels else 0

    declared = _when(taxonomy.OPTION_SELECTED, _lookup("fuel", dict(_ELECTRIC_FUEL), dialect))
    return func.coalesce(declared, _lookup("model", _model_mapping(fuel_of), dialect))


def _step_rank(dialect: str) -> ColumnElement[int]:
    ranks = {name: rank for rank, name in enumerate(STEP_ORDER, 1)}
    return func.coalesce(
        _when(taxonomy.CONFIGURATION_STEP_VIEWED, _lookup("step", ranks, dialect)), 0
    )


def _flag(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return case((condition, 1), else_=0)


def window_start(as_of: datetime) -> date:
    """The first day (UTC) of the visit window of a run asked for at `as_of`."""
    return as_of.astimezone(UTC).date() - timedelta(days=VISIT_WINDOW_DAYS - 1)


def day_number(day: date) -> int:
    return (day - EPOCH).days


def _day_bits(dialect: str, start: date) -> tuple[ColumnElement[Any], ColumnElement[Any]]:
    """The two day bitmaps of the window starting at `start` (see VISIT_WINDOW_DAYS)."""
    if dialect == "postgresql":
        # The session's time zone is UTC (tune_for_aggregates), so ::date is the UTC day.
        offset: ColumnElement[Any] = cast(Event.occurred_at, Date) - cast(literal(start), Date)
    else:
        offset = cast(
            func.julianday(func.date(Event.occurred_at)) - func.julianday(start.isoformat()),
            Integer,
        )
    one = cast(literal(1), BigInteger)
    low = case((and_(offset >= 0, offset < HALF_WINDOW), one.op("<<")(offset)), else_=0)
    high = case(
        (
            and_(offset >= HALF_WINDOW, offset < VISIT_WINDOW_DAYS),
            one.op("<<")(offset - HALF_WINDOW),
        ),
        else_=0,
    )
    if dialect == "postgresql":
        return func.bit_or(low), func.bit_or(high)
    return func.sum(low.distinct()), func.sum(high.distinct())


def aggregate_columns(dialect: str, start: date) -> list[ColumnElement[Any]]:
    """Per profile, over its configurator events: configurator attention, the cars looked at,
    depth, money, showroom visits, first and last event, visit days (STATE_COLUMNS order).

    Every aggregate costs about 0.1 µs per event and every JSON property read about as much
    again, so counts are packed (see PACK_BITS) and properties are read only on the events
    that carry them: at 30 million events, each one saved is seconds.
    """
    field = [2 ** (PACK_BITS * i) for i in range(PACK_FIELDS)]
    electric = _electric(dialect)
    showroom_visit = and_(Event.channel == "showroom", Event.name.in_(VISIT_STARTS))
    activity = (
        case((Event.name.in_(CONFIGURATOR_EVENTS), field[0]), else_=0)
        + case((showroom_visit, field[1]), else_=0)
        + case({1: field[2] + field[3], 0: field[3]}, value=electric, else_=0)
    )
    # The price and how many events carried one, in one sum: count * 2**40 + total.
    count_one = cast(literal(PRICE_COUNT), Float)
    price = _when(PRICED_EVENTS, _json_number("total_price", dialect) + count_one)
    days_low, days_high = _day_bits(dialect, start)
    floats: dict[str, ColumnElement[Any]] = {
        "activity_pack": func.sum(activity),
        "interest_pack": func.sum(_pack(_interest(dialect), INTEREST_PACK)),
        "body_pack": func.sum(_pack(_body_group(dialect), BODY_PACK)),
        "action_pack": func.sum(_pack(Event.name, ACTION_PACK)),
        "price_pack": func.coalesce(func.sum(price), cast(literal(0), Float)),
        "steps_reached": func.max(_step_rank(dialect)),
        "first_at": _epoch(func.min(Event.occurred_at), dialect),
        "last_at": _epoch(func.max(Event.occurred_at), dialect),
    }
    return [
        *(cast(floats[name], Float).label(name) for name in STATE_FLOATS),
        cast(days_low, BigInteger).label("days_low"),
        cast(days_high, BigInteger).label("days_high"),
        cast(literal(day_number(start)), Integer).label("window_start"),
    ]


def counted_events() -> tuple[ColumnElement[bool], ...]:
    return Event.type == "track", Event.name.in_(taxonomy.KNOWN_EVENTS)


def event_aggregates(dialect: str, *, start: date) -> Select[Any]:
    """`segment_event_state`'s rows computed from the events, for every profile with a
    configurator event (track events named in the taxonomy), for the window from `start`."""
    return (
        select(Event.profile_id, *aggregate_columns(dialect, start))
        .where(*counted_events())
        .group_by(Event.profile_id)
    )


def configurations() -> Select[Any]:
    """Saved configurations: profile, model and colour (trimmed), and the body type or model in
    lower case (`_body_type` in the service names its body)."""
    return select(
        Configuration.profile_id.label("profile_id"),
        func.trim(cast(Configuration.model, String)).label("model"),
        func.trim(cast(Configuration.colour, String)).label("colour"),
        func.lower(func.coalesce(Configuration.body_type, Configuration.model)).label("body"),
    )


def lead_stages() -> Select[Any]:
    rank = case(*((Lead.stage == stage, rank) for stage, rank in LEAD_STAGE_RANK.items()), else_=0)
    return select(Lead.profile_id, cast(func.max(rank), Float)).group_by(Lead.profile_id)


def note_flags() -> Select[Any]:
    """Per profile: a note says they want financing; a note names a trade-in car."""
    finance = _flag(Note.financing_interest.is_(True))
    trade_in = _flag(or_(Note.trade_in_make.is_not(None), Note.trade_in_model.is_not(None)))
    return select(
        Note.profile_id, cast(func.max(finance), Float), cast(func.max(trade_in), Float)
    ).group_by(Note.profile_id)


def test_drive_appointments() -> Select[Any]:
    return (
        select(Appointment.profile_id, cast(func.count(), Float))
        .where(
            Appointment.profile_id.is_not(None),
            Appointment.kind == "test_drive",
            Appointment.status != "cancelled",
        )
        .group_by(Appointment.profile_id)
    )


def objecting_profiles() -> Select[uuid.UUID]:
    """Profiles whose tracking consent in force is withdrawn: they objected to profiling.

    The latest statement by time is in force; when two share a time, withdrawal wins (leaving
    someone out is the safe side).
    """
    later = aliased(Consent)
    return select(Consent.profile_id).where(
        Consent.purpose == "tracking",
        Consent.status == "withdrawn",
        ~exists().where(
            later.profile_id == Consent.profile_id,
            later.purpose == "tracking",
            later.stated_at > Consent.stated_at,
        ),
    )


def email_consent_granted() -> Select[uuid.UUID]:
    """Profiles whose e-mail consent in force is granted (the latest statement by time; of two
    at the same time, the later recorded)."""
    later = aliased(Consent)
    return select(Consent.profile_id).where(
        Consent.purpose == "email",
        Consent.status == "granted",
        ~exists().where(
            later.profile_id == Consent.profile_id,
            later.purpose == "email",
            or_(
                later.stated_at > Consent.stated_at,
                and_(later.stated_at == Consent.stated_at, later.id > Consent.id),
            ),
        ),
    )


def absorbed_profiles() -> Select[uuid.UUID, uuid.UUID | None]:
    """Every absorbed profile and the live profile it resolves to (merges keep this flat)."""
    return select(Profile.id, Profile.merged_into_id).where(Profile.merged_into_id.is_not(None))
