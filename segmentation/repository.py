"""Every query segmentation makes: the feature aggregates, and storing and reading runs.

The feature queries are set-based: each is one GROUP BY over a whole table, keyed by the raw
`profile_id` of the rows (folding absorbed profiles into their survivors is done afterwards in
numpy, which is cheaper than joining every event to its profile). They are written in
SQLAlchemy Core for both databases; where PostgreSQL needs another form to be fast at a million
profiles (lookups in a constant jsonb object, day bitmaps, COPY to stream rows) or has other
functions (a JSON value's type, epoch seconds), a small helper chooses by dialect.

The events are not read by every run: their per-profile aggregates are kept in
`segment_event_state` and a run recomputes only the profiles whose events changed since the
previous one (`event_state`). The aggregates are tuned for PostgreSQL's costs: see
`_aggregate_columns` and docs/segments.md.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import psycopg
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
    delete,
    exists,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session, aliased

from cdp import catalogue, taxonomy
from cdp.models import (
    Appointment,
    Configuration,
    Consent,
    Event,
    Lead,
    Note,
    Profile,
    Segment,
    SegmentEventChange,
    SegmentEventState,
    SegmentEventStateInfo,
    SegmentMembership,
    SegmentRun,
    utcnow,
)
from cdp.sql import dialect_of
from segmentation import pgcopy

# --- the feature queries ---------------------------------------------------------------------

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
STATE_KINDS: tuple[pgcopy.Kind, ...] = ("uuid",) + ("float8",) * 8 + ("int8", "int8", "int4")
# Bump when what the state holds changes in a way its SQL does not show.
STATE_FORMAT = 1
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
# A run that finds more changed profiles than this share of the state (and more than
# REBUILD_ABOVE_PROFILES) rebuilds it from every event in one pass, instead of recomputing them
# one by one (about 0.2 ms each at a million profiles, against 1.5 µs per event for the pass).
REBUILD_ABOVE_SHARE = 0.2
REBUILD_ABOVE_PROFILES = 50_000


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


def _aggregate_columns(dialect: str, start: date) -> list[ColumnElement[Any]]:
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


def _counted_events() -> tuple[ColumnElement[bool], ...]:
    return Event.type == "track", Event.name.in_(taxonomy.KNOWN_EVENTS)


def event_aggregates(dialect: str, *, start: date) -> Select[Any]:
    """`segment_event_state`'s rows computed from the events, for every profile with a
    configurator event (track events named in the taxonomy), for the window from `start`."""
    return (
        select(Event.profile_id, *_aggregate_columns(dialect, start))
        .where(*_counted_events())
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


# --- reading rows into numpy -------------------------------------------------------------------
Ids = npt.NDArray[np.bytes_]  # profile ids as 16-byte strings (sorted: uuid order)


def _sql(session: Session, statement: Any) -> str:
    # Only constants of this module are rendered inline: no user input reaches this SQL.
    return str(
        statement.compile(
            dialect=session.get_bind().dialect, compile_kwargs={"literal_binds": True}
        )
    )


def _raw(session: Session) -> psycopg.Connection[Any]:
    raw = session.connection().connection.driver_connection
    assert isinstance(raw, psycopg.Connection)
    return raw


def _ids_of(values: Sequence[uuid.UUID]) -> Ids:
    return np.frombuffer(b"".join(value.bytes for value in values), dtype="S16").copy()


def as_uuids(ids: Ids) -> list[uuid.UUID]:
    raw = np.ascontiguousarray(ids, dtype="S16").tobytes()
    return [uuid.UUID(bytes=raw[i : i + 16]) for i in range(0, len(raw), 16)]


def read_columns(
    session: Session, statement: Any, kinds: Sequence[pgcopy.Kind]
) -> list[npt.NDArray[Any]]:
    """A query's columns as numpy arrays: ids as 16-byte strings, float8 as float64, integers as
    int64. The query selects no NULLs (NULL numbers become NaN on SQLite).

    On PostgreSQL through `COPY (query) TO STDOUT` in the binary format, parsed with one numpy
    structured dtype (`segmentation.pgcopy`): it streams like a server-side cursor, but unlike a
    cursor it may use a parallel plan, and it is not planned for the first rows (a cursor made
    the event aggregate walk the event index, 15 times slower).
    """
    if dialect_of(session) == "postgresql":
        with _raw(session).cursor() as cursor:
            rows = pgcopy.copy_out(cursor, _sql(session, statement), kinds)
        return [pgcopy.column(rows, i, kind) for i, kind in enumerate(kinds)]
    result = session.execute(statement).all()
    columns: list[npt.NDArray[Any]] = []
    for i, kind in enumerate(kinds):
        values = [row[i] for row in result]
        if kind == "uuid":
            columns.append(_ids_of(values))
        elif kind == "float8":
            columns.append(np.array(values, dtype=np.float64).reshape(-1))
        else:
            columns.append(np.array(values, dtype=np.int64).reshape(-1))
    return columns


def read_ids(session: Session, statement: Any) -> Ids:
    ids: Ids = read_columns(session, statement, ("uuid",))[0]
    return ids


Coded = tuple[npt.NDArray[np.int64], list[str]]  # per row an index into the names, -1: none


def read_configurations(session: Session) -> tuple[Ids, Coded, Coded, Coded]:
    """`configurations()`: the profile ids, and the models, colours and body values coded (the
    same value, the same index; NULL and empty: -1)."""
    if dialect_of(session) != "postgresql":
        found = session.execute(configurations()).all()
        model, colour, body = (_coded([row[i] for row in found]) for i in (1, 2, 3))
        return _ids_of([row[0] for row in found]), model, colour, body
    # Strings have no fixed width, and a Python object per row costs more than reading it: the
    # values are coded on the server, by their position among a snapshot's distinct values
    # (a temporary copy, so the names read and the codes agree).
    names = ("model", "colour", "body")
    session.execute(text("DROP TABLE IF EXISTS segment_configured"))
    session.execute(
        text(f"CREATE TEMPORARY TABLE segment_configured AS {_sql(session, configurations())}")
    )

    def distinct(name: str) -> str:
        return f"SELECT DISTINCT {name} FROM segment_configured WHERE {name} IS NOT NULL ORDER BY 1"

    values = [list(session.scalars(text(distinct(name)))) for name in names]
    codes = ", ".join(
        f"coalesce(array_position(ARRAY({distinct(name)}), {name}), 0)::int4" for name in names
    )
    with _raw(session).cursor() as cursor:
        rows = pgcopy.copy_out(
            cursor,
            f"SELECT profile_id, {codes} FROM segment_configured",
            ("uuid", "int4", "int4", "int4"),
        )
    session.execute(text("DROP TABLE segment_configured"))
    coded: list[Coded] = []
    for i, known in enumerate(values, 1):
        index = pgcopy.column(rows, i, "int4") - 1
        empty = [position for position, value in enumerate(known) if not value]
        if empty:
            index[np.isin(index, empty)] = -1
        coded.append((index, known))
    return pgcopy.column(rows, 0, "uuid"), coded[0], coded[1], coded[2]


def _coded(values: Sequence[str | None]) -> Coded:
    index: dict[str, int] = {}
    codes = np.fromiter(
        (-1 if not value else index.setdefault(value, len(index)) for value in values),
        dtype=np.int64,
        count=len(values),
    )
    return codes, list(index)


# --- the per-profile event aggregates ----------------------------------------------------------
@dataclass(frozen=True)
class EventState:
    """`segment_event_state`'s rows, in profile id order."""

    ids: Ids
    floats: npt.NDArray[np.float64]  # (n, 8): STATE_FLOATS
    days_low: npt.NDArray[np.int64]
    days_high: npt.NDArray[np.int64]
    window_start: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def of(cls, columns: Sequence[npt.NDArray[Any]]) -> EventState:
        ids = columns[0]
        order = np.argsort(ids, kind="stable")
        return cls(
            ids=ids[order],
            floats=np.stack([column[order] for column in columns[1:9]], axis=1).astype(np.float64)
            if len(ids)
            else np.zeros((0, len(STATE_FLOATS))),
            days_low=columns[9][order].astype(np.int64),
            days_high=columns[10][order].astype(np.int64),
            window_start=columns[11][order].astype(np.int64),
        )


def state_version(session: Session) -> str:
    """Which definition of the aggregates: a hash of their SQL on this database."""
    sql = _sql(session, event_aggregates(dialect_of(session), start=EPOCH))
    return hashlib.sha256(f"{STATE_FORMAT}\n{sql}".encode()).hexdigest()


StateWriter = Callable[[Session], None]


def event_state(
    session: Session, *, start: date, rebuild: bool = False
) -> tuple[EventState, dict[str, Any], StateWriter | None]:
    """The per-profile event aggregates, brought up to date for a run whose visit window starts
    at `start`, what it took, and what is left to write. Commits (the caller's session goes on
    in a new transaction).

    While the state is complete and of this version, only the profiles whose events changed
    since (`segment_event_change`, written by ingest and by triggers on `event`) and the rows
    that cannot be shifted to this window (computed for a later window, or with events after
    theirs) are recomputed from their events, in one statement; else (when many changed, see
    REBUILD_ABOVE_SHARE, or when asked to) the state is rebuilt from every event. A rebuild on
    PostgreSQL returns the writing of the state as a function of a session of its own, for the
    caller to run (and commit) while it does something else: until it is done, the state is
    marked incomplete, and nothing else reads it.
    """
    tune_for_aggregates(session)
    version = state_version(session)
    info = session.get(SegmentEventStateInfo, 1)
    if info is not None and info.version == version and not rebuild:
        changed = (
            session.scalar(select(func.count(func.distinct(SegmentEventChange.profile_id)))) or 0
        )
        if changed <= max(REBUILD_ABOVE_SHARE * info.profiles, REBUILD_ABOVE_PROFILES):
            recomputed = _refresh_state(session, start)
            state = EventState.of(read_columns(session, _state_rows(), STATE_KINDS))
            session.commit()
            return state, {"rebuilt": False, "changed": changed, "recomputed": recomputed}, None
    state, write = _rebuild_state(session, start, version)
    session.commit()
    return state, {"rebuilt": True, "changed": None, "recomputed": len(state)}, write


def _state_rows() -> Select[Any]:
    return select(
        SegmentEventState.profile_id,
        *(getattr(SegmentEventState, name) for name in STATE_COLUMNS),
    )


def _stale_rows(start: date) -> ColumnElement[bool]:
    """Rows a run with this window cannot shift: computed for a later window, or with an event
    after their window's end (its day is in no bitmap)."""
    state = SegmentEventState
    return or_(
        state.window_start > day_number(start),
        state.last_at >= cast(state.window_start + VISIT_WINDOW_DAYS, Float) * 86400,
    )


def _rebuild_state(
    session: Session, start: date, version: str
) -> tuple[EventState, StateWriter | None]:
    """Every profile's aggregates from every event. First, in a transaction of its own: the
    state is marked incomplete (no info row: if this run dies, the next one rebuilds) and the
    changes noted so far are dropped (what changes from here on is noted again, and recomputing
    a profile twice is harmless). Then the events are read, in a plain read; only the writing
    holds the table (merges and erasures never wait for the read)."""
    session.execute(delete(SegmentEventStateInfo))
    session.execute(delete(SegmentEventChange))
    names = ["profile_id", *STATE_COLUMNS]
    if dialect_of(session) != "postgresql":  # one writer at a time: all in one transaction
        session.execute(delete(SegmentEventState))
        session.execute(
            insert(SegmentEventState).from_select(names, event_aggregates("sqlite", start=start))
        )
        _state_complete(session, version)
        return EventState.of(read_columns(session, _state_rows(), STATE_KINDS)), None
    session.commit()
    tune_for_aggregates(session)
    with _raw(session).cursor() as cursor:
        rows = pgcopy.copy_out(
            cursor, _sql(session, event_aggregates("postgresql", start=start)), STATE_KINDS
        )
    rows = rows[np.argsort(rows["c0"], kind="stable")]  # the primary key's order
    state = EventState.of([pgcopy.column(rows, i, kind) for i, kind in enumerate(STATE_KINDS)])

    def write(writer: Session) -> None:
        writer.execute(text("TRUNCATE segment_event_state"))
        with _raw(writer).cursor() as cursor:
            pgcopy.copy_in(cursor, SegmentEventState.__tablename__, names, rows)
        _state_complete(writer, version)

    return state, write


def _state_complete(session: Session, version: str) -> None:
    profiles = session.scalar(select(func.count()).select_from(SegmentEventState)) or 0
    session.execute(delete(SegmentEventStateInfo))
    session.add(SegmentEventStateInfo(id=1, version=version, built_at=utcnow(), profiles=profiles))
    session.flush()


def _refresh_state(session: Session, start: date) -> int:
    """Recompute the changed and unshiftable profiles; how many."""
    if dialect_of(session) == "postgresql":
        with _raw(session).cursor() as cursor:
            cursor.execute(_refresh_sql_pg(session, start))
            row = cursor.fetchone()
        return int(row[0]) if row else 0
    # SQLite: one writer at a time (BEGIN IMMEDIATE), so these statements see one state.
    state, change = SegmentEventState, SegmentEventChange
    session.execute(
        insert(change).from_select(
            ["profile_id"], select(state.profile_id).where(_stale_rows(start))
        )
    )
    todo = select(change.profile_id)
    recomputed = session.scalar(select(func.count(func.distinct(change.profile_id)))) or 0
    session.execute(delete(state).where(state.profile_id.in_(todo)))
    session.execute(
        insert(state).from_select(
            ["profile_id", *STATE_COLUMNS],
            event_aggregates("sqlite", start=start).where(Event.profile_id.in_(todo)),
        )
    )
    session.execute(delete(change))
    return recomputed


def _refresh_sql_pg(session: Session, start: date) -> str:
    """One statement, so that the changes it takes and the events it reads are one snapshot: a
    change committed meanwhile stays for the next run, with its events. Each profile is
    recomputed by a LATERAL subquery, which walks ix_event_profile_occurred (the planner's
    estimate of events per profile would otherwise pick a scan of every event)."""
    per_profile = select(*_aggregate_columns("postgresql", start)).where(
        *_counted_events(), Event.profile_id == literal_column("todo.profile_id")
    )
    stale = select(SegmentEventState.profile_id).where(_stale_rows(start))
    columns = ", ".join(STATE_COLUMNS)
    updates = ", ".join(f"{name} = excluded.{name}" for name in STATE_COLUMNS)
    return f"""
WITH changed AS (DELETE FROM segment_event_change RETURNING profile_id),
todo AS (SELECT profile_id FROM changed UNION {_sql(session, stale)}),
fresh AS (
    SELECT todo.profile_id, computed.* FROM todo
    CROSS JOIN LATERAL ({_sql(session, per_profile)}) AS computed
    WHERE computed.activity_pack IS NOT NULL
),
gone AS (
    DELETE FROM segment_event_state
    WHERE profile_id IN (SELECT profile_id FROM todo EXCEPT SELECT profile_id FROM fresh)
    RETURNING profile_id
),
written AS (
    INSERT INTO segment_event_state (profile_id, {columns})
    SELECT profile_id, {columns} FROM fresh
    ON CONFLICT (profile_id) DO UPDATE SET {updates}
    RETURNING profile_id
)
SELECT (SELECT count(*) FROM todo), (SELECT count(*) FROM gone), (SELECT count(*) FROM written)
"""


def visit_days(state: EventState, start: date) -> tuple[npt.NDArray[np.uint64], ...]:
    """The day bitmaps shifted to the window from `start` (rows are never of a later window:
    `event_state` recomputes those). Days before the window fall off; after a row's window's
    end it has no events (or it would have been recomputed)."""
    shift = day_number(start) - state.window_start
    assert (shift >= 0).all()
    low = state.days_low.astype(np.uint64)
    high = state.days_high.astype(np.uint64)
    mask = np.uint64(2**HALF_WINDOW - 1)
    within = shift < HALF_WINDOW
    right = np.minimum(shift, HALF_WINDOW).astype(np.uint64)
    left = np.clip(HALF_WINDOW - shift, 0, HALF_WINDOW).astype(np.uint64)
    beyond = np.clip(shift - HALF_WINDOW, 0, HALF_WINDOW).astype(np.uint64)
    new_low = np.where(
        within,
        (low >> right) | ((high << left) & mask),
        np.where(shift < VISIT_WINDOW_DAYS, high >> beyond, np.uint64(0)),
    )
    new_high = np.where(within, high >> right, np.uint64(0))
    return new_low.astype(np.uint64), new_high.astype(np.uint64)


def tune_for_aggregates(session: Session) -> None:
    """PostgreSQL: room for hash aggregates of a million groups, and UTC days."""
    if dialect_of(session) == "postgresql":
        session.execute(text("SET LOCAL work_mem = '256MB'"))
        session.execute(text("SET LOCAL TIME ZONE 'UTC'"))


# --- runs -------------------------------------------------------------------------------------
def get_run(session: Session, run_id: int) -> SegmentRun | None:
    return session.get(SegmentRun, run_id)


def lock_runs(session: Session) -> None:
    """Serialise run creation (PostgreSQL; SQLite's BEGIN IMMEDIATE already does)."""
    if dialect_of(session) == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(7734001)"))


def unfinished_runs(session: Session) -> Sequence[SegmentRun]:
    return session.scalars(
        select(SegmentRun)
        .where(SegmentRun.status.in_(("queued", "running")))
        .order_by(SegmentRun.id)
    ).all()


def latest_done_run(session: Session, *, before: int | None = None) -> SegmentRun | None:
    statement = select(SegmentRun).where(SegmentRun.status == "done")
    if before is not None:
        statement = statement.where(SegmentRun.id < before)
    return session.scalar(statement.order_by(SegmentRun.id.desc()).limit(1))


def runs(session: Session, *, limit: int) -> Sequence[SegmentRun]:
    return session.scalars(select(SegmentRun).order_by(SegmentRun.id.desc()).limit(limit)).all()


def set_progress(session: Session, run_id: int, *, progress: float, stage: str) -> None:
    session.execute(
        update(SegmentRun)
        .where(SegmentRun.id == run_id)
        .values(progress=progress, stage=stage, status="running")
    )


def segments_of(session: Session, run_id: int) -> Sequence[Segment]:
    return session.scalars(
        select(Segment).where(Segment.run_id == run_id).order_by(Segment.number)
    ).all()


def insert_segments(session: Session, rows: list[dict[str, Any]]) -> dict[int, int]:
    """Insert the run's segments; their ids by segment number."""
    segments = [Segment(**row) for row in rows]
    session.add_all(segments)
    session.flush()
    return {segment.number: segment.id for segment in segments}


def insert_memberships(
    session: Session, *, run_id: int, segment_ids: npt.NDArray[np.int64], profile_ids: Ids
) -> None:
    """Bulk insert of memberships (profile ids as 16-byte strings, best in id order: the
    primary key's): binary COPY on PostgreSQL, executemany on SQLite."""
    if not len(profile_ids):
        return
    if dialect_of(session) == "postgresql":
        rows = pgcopy.pack(
            ("int4", "int4", "uuid"),
            [np.full(len(profile_ids), run_id), segment_ids, profile_ids],
        )
        with _raw(session).cursor() as cursor:
            pgcopy.copy_in(
                cursor,
                SegmentMembership.__tablename__,
                ("run_id", "segment_id", "profile_id"),
                rows,
            )
        return
    session.execute(
        insert(SegmentMembership),
        [
            {"run_id": run_id, "segment_id": int(segment_id), "profile_id": profile_id}
            for segment_id, profile_id in zip(
                segment_ids.tolist(), as_uuids(profile_ids), strict=True
            )
        ],
    )


def delete_run_results(session: Session, run_id: int) -> None:
    """Remove what a failed run stored, so only finished runs have segments."""
    session.execute(delete(SegmentMembership).where(SegmentMembership.run_id == run_id))
    session.execute(delete(Segment).where(Segment.run_id == run_id))


def rename_segment(session: Session, segment_id: int, name: str | None) -> Segment | None:
    segment = session.get(Segment, segment_id)
    if segment is not None:
        segment.custom_name = name
        session.flush()
    return segment


def membership_of(session: Session, run_id: int, profile_id: uuid.UUID) -> Segment | None:
    return session.scalar(
        select(Segment)
        .join(SegmentMembership, SegmentMembership.segment_id == Segment.id)
        .where(SegmentMembership.run_id == run_id, SegmentMembership.profile_id == profile_id)
    )


def live_profile_id(session: Session, profile_id: uuid.UUID) -> uuid.UUID | None:
    row = session.execute(
        select(Profile.id, Profile.merged_into_id).where(Profile.id == profile_id)
    ).first()
    if row is None:
        return None
    return row[1] or row[0]


def member_ids(segment_ids: Sequence[int]) -> Select[uuid.UUID]:
    """The profile ids in any of these segments, as a statement to build audiences on."""
    return select(SegmentMembership.profile_id).where(SegmentMembership.segment_id.in_(segment_ids))


# --- segment summaries -------------------------------------------------------------------------
def colour_swatches(session: Session, names: Sequence[str]) -> dict[str, str]:
    """The colour_hex saved configurations most often give each colour name."""
    if not names:
        return {}
    rows = session.execute(
        select(Configuration.colour, Configuration.colour_hex, func.count())
        .where(Configuration.colour.in_(names), Configuration.colour_hex.is_not(None))
        .group_by(Configuration.colour, Configuration.colour_hex)
        .order_by(Configuration.colour, func.count().desc(), Configuration.colour_hex)
    ).all()
    found: dict[str, str] = {}
    for name, colour_hex, _count in rows:
        found.setdefault(str(name), str(colour_hex))
    return found


def finish_run(session: Session, run_id: int, **values: Any) -> None:
    session.execute(update(SegmentRun).where(SegmentRun.id == run_id).values(**values))
