"""Every query segmentation makes: the feature aggregates, and storing and reading runs.

The feature queries are set-based: each is one GROUP BY over a whole table, keyed by the raw
`profile_id` of the rows (folding absorbed profiles into their survivors is done afterwards in
numpy, which is cheaper than joining every event to its profile). They are written in
SQLAlchemy Core for both databases; where PostgreSQL needs another form to be fast at a million
profiles (lookups in a constant jsonb object, day bitmaps, COPY to stream rows) or has other
functions (a JSON value's type, epoch seconds), a small helper chooses by dialect. The event
pass is tuned for PostgreSQL's costs: see `event_aggregates` and docs/segments.md.
"""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta
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
    delete,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import BIT, JSONB
from sqlalchemy.orm import Session, aliased

from cdp.demo import catalogue
from cdp.models import (
    Appointment,
    Configuration,
    Consent,
    Event,
    Lead,
    Note,
    Profile,
    Segment,
    SegmentMembership,
    SegmentRun,
)
from ingest import taxonomy

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
# Column order of `event_aggregates`, after profile_id.
EVENT_COLUMNS = (
    "activity_pack",
    "interest_pack",
    "body_pack",
    "action_pack",
    "price_pack",
    "steps_reached",
    "visits",
    "first_at",
    "last_at",
)
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
# Visits are distinct UTC days with configurator events within this many days before the run:
# on PostgreSQL two 63-bit day bitmaps per profile (bit_or), because a DISTINCT aggregate, or
# grouping by day, makes it sort or hash every event (3-4 times slower).
VISIT_WINDOW_DAYS = 126


def unpack(packed: npt.NDArray[np.float64], fields: int = PACK_FIELDS) -> npt.NDArray[np.float64]:
    """The counts in packed sums: (n,) -> (n, fields)."""
    out = np.empty((len(packed), fields), dtype=np.float64)
    rest = np.floor(packed)
    for i in range(fields):
        out[:, i] = np.mod(rest, 2**PACK_BITS)
        rest = np.floor(rest / 2**PACK_BITS)
    return out


def unpack_price(packed: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.float64], ...]:
    """(sum of prices, number of priced events) from the price pack."""
    count = np.floor(packed / PRICE_COUNT)
    return packed - count * PRICE_COUNT, count


def dialect_name(session: Session) -> str:
    return session.get_bind().dialect.name


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
    """The interest one event counts towards: `ingest.taxonomy.interest_of`, in SQL."""
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


def _visit_days(dialect: str, window_start: date) -> ColumnElement[Any]:
    """How many distinct UTC days in the window have an event."""
    in_window = Event.occurred_at >= datetime.combine(window_start, time(), UTC)
    if dialect != "postgresql":
        return func.count(func.distinct(case((in_window, func.date(Event.occurred_at)))))
    # The session's time zone is UTC (tune_for_aggregates), so ::date is the UTC day.
    offset = cast(Event.occurred_at, Date) - cast(literal(window_start), Date)
    half = VISIT_WINDOW_DAYS // 2
    one = cast(literal(1), BigInteger)
    low = case((and_(in_window, offset < half), one.op("<<")(offset)), else_=0)
    high = case((and_(in_window, offset >= half), one.op("<<")(offset - half)), else_=0)

    def days(bits: ColumnElement[Any]) -> ColumnElement[Any]:
        return func.bit_count(cast(func.bit_or(bits), BIT(64)))

    return days(low) + days(high)


def event_aggregates(dialect: str, *, as_of: datetime) -> Select[Any]:
    """Per profile, in one pass over the configurator events: configurator attention, the cars
    looked at, depth, money, visit days, showroom visits, first and last event.

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
    window_start = as_of.astimezone(UTC).date() - timedelta(days=VISIT_WINDOW_DAYS - 1)
    aggregates: dict[str, ColumnElement[Any]] = {
        "activity_pack": func.sum(activity),
        "interest_pack": func.sum(_pack(_interest(dialect), INTEREST_PACK)),
        "body_pack": func.sum(_pack(_body_group(dialect), BODY_PACK)),
        "action_pack": func.sum(_pack(Event.name, ACTION_PACK)),
        "price_pack": func.coalesce(func.sum(price), cast(literal(0), Float)),
        "steps_reached": func.max(_step_rank(dialect)),
        "visits": _visit_days(dialect, window_start),
        "first_at": _epoch(func.min(Event.occurred_at), dialect),
        "last_at": _epoch(func.max(Event.occurred_at), dialect),
    }
    return (
        select(Event.profile_id, *(cast(aggregates[name], Float) for name in EVENT_COLUMNS))
        .where(Event.type == "track", Event.name.in_(taxonomy.KNOWN_EVENTS))
        .group_by(Event.profile_id)
    )


def configuration_counts() -> Select[Any]:
    return select(Configuration.profile_id, cast(func.count(), Float)).group_by(
        Configuration.profile_id
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
        .where(Appointment.kind == "test_drive", Appointment.status != "cancelled")
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


def absorbed_profiles() -> Select[uuid.UUID, uuid.UUID | None]:
    """Every absorbed profile and the live profile it resolves to (merges keep this flat)."""
    return select(Profile.id, Profile.merged_into_id).where(Profile.merged_into_id.is_not(None))


def stream(
    session: Session, statement: Select[Any], *, chunk: int = 20_000
) -> Iterator[list[tuple[Any, ...]]]:
    """A (profile_id, number, ...) query's rows in chunks, with flat memory.

    On PostgreSQL through `COPY (query) TO STDOUT` in the binary format: it streams like a
    server-side cursor, but unlike a cursor it may use a parallel plan, and it is not planned for
    the first rows (a cursor made the event aggregate walk the event index, 15 times slower).
    """
    if dialect_name(session) != "postgresql":
        result = session.execute(statement, execution_options={"yield_per": chunk})
        for partition in result.partitions():
            yield [tuple(row) for row in partition]
        return
    # Only constants of this module are rendered inline: no user input reaches this SQL.
    sql = statement.compile(
        dialect=session.get_bind().dialect, compile_kwargs={"literal_binds": True}
    )
    types = ["uuid"] + ["float8"] * (len(statement.selected_columns) - 1)
    raw = session.connection().connection.driver_connection
    assert raw is not None
    with raw.cursor() as cursor, cursor.copy(f"COPY ({sql}) TO STDOUT (FORMAT BINARY)") as copy:
        copy.set_types(types)
        rows: list[tuple[Any, ...]] = []
        for row in copy.rows():
            rows.append(row)
            if len(rows) >= chunk:
                yield rows
                rows = []
        if rows:
            yield rows


def tune_for_aggregates(session: Session) -> None:
    """PostgreSQL: room for hash aggregates of a million groups, and UTC days."""
    if dialect_name(session) == "postgresql":
        session.execute(text("SET LOCAL work_mem = '256MB'"))
        session.execute(text("SET LOCAL TIME ZONE 'UTC'"))


# --- runs -------------------------------------------------------------------------------------
def get_run(session: Session, run_id: int) -> SegmentRun | None:
    return session.get(SegmentRun, run_id)


def lock_runs(session: Session) -> None:
    """Serialise run creation (PostgreSQL; SQLite's BEGIN IMMEDIATE already does)."""
    if dialect_name(session) == "postgresql":
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
    session: Session,
    *,
    run_id: int,
    segment_ids: npt.NDArray[np.int64],
    profile_ids: Sequence[uuid.UUID],
) -> None:
    """Bulk insert of memberships: COPY on PostgreSQL, executemany on SQLite."""
    if not len(profile_ids):
        return
    if dialect_name(session) == "postgresql":
        _copy_memberships(session, run_id, segment_ids, profile_ids)
        return
    session.execute(
        insert(SegmentMembership),
        [
            {"run_id": run_id, "segment_id": int(segment_id), "profile_id": profile_id}
            for segment_id, profile_id in zip(segment_ids.tolist(), profile_ids, strict=True)
        ],
    )


def _copy_memberships(
    session: Session,
    run_id: int,
    segment_ids: npt.NDArray[np.int64],
    profile_ids: Sequence[uuid.UUID],
) -> None:
    # The text format, written in large blocks: much faster than a row at a time.
    raw = session.connection().connection.driver_connection
    assert raw is not None
    prefix = f"{run_id}\t"
    with raw.cursor() as cursor:
        copy_sql = "COPY segment_membership (run_id, segment_id, profile_id) FROM STDIN"
        with cursor.copy(copy_sql) as copy:
            block = 50_000
            for start in range(0, len(profile_ids), block):
                buffer = io.StringIO()
                for segment_id, profile_id in zip(
                    segment_ids[start : start + block].tolist(),
                    profile_ids[start : start + block],
                    strict=True,
                ):
                    buffer.write(f"{prefix}{segment_id}\t{profile_id}\n")
                copy.write(buffer.getvalue())


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
def top_values(
    session: Session, run_id: int, column: Any, *, per_segment: int = 5
) -> dict[int, list[tuple[str, int]]]:
    """For each segment: the most frequent values of a configuration column among its members'
    saved configurations, with how many members saved one (a person counts once per value)."""
    value = func.trim(cast(column, String))
    per_person = (
        select(
            SegmentMembership.segment_id.label("segment_id"),
            value.label("value"),
        )
        .join(Configuration, Configuration.profile_id == SegmentMembership.profile_id)
        .where(SegmentMembership.run_id == run_id, column.is_not(None), value != "")
        .group_by(SegmentMembership.segment_id, SegmentMembership.profile_id, value)
        .subquery()
    )
    rows = session.execute(
        select(per_person.c.segment_id, per_person.c.value, func.count())
        .group_by(per_person.c.segment_id, per_person.c.value)
        .order_by(per_person.c.segment_id, func.count().desc(), per_person.c.value)
    ).all()
    top: dict[int, list[tuple[str, int]]] = {}
    for segment_id, name, count in rows:
        values = top.setdefault(segment_id, [])
        if len(values) < per_segment:
            values.append((str(name), int(count)))
    return top


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


def models_by_body(session: Session, run_id: int) -> dict[int, list[tuple[str, int]]]:
    """Saved configurations' models per segment (for body types: looked up in the catalogue
    when the configuration has no body type of its own)."""
    per_person = (
        select(
            SegmentMembership.segment_id.label("segment_id"),
            func.lower(func.coalesce(Configuration.body_type, Configuration.model)).label("v"),
        )
        .join(Configuration, Configuration.profile_id == SegmentMembership.profile_id)
        .where(SegmentMembership.run_id == run_id)
        .group_by(
            SegmentMembership.segment_id,
            SegmentMembership.profile_id,
            func.lower(func.coalesce(Configuration.body_type, Configuration.model)),
        )
        .subquery()
    )
    rows = session.execute(
        select(per_person.c.segment_id, per_person.c.v, func.count())
        .where(per_person.c.v.is_not(None))
        .group_by(per_person.c.segment_id, per_person.c.v)
    ).all()
    found: dict[int, list[tuple[str, int]]] = {}
    for segment_id, value, count in rows:
        found.setdefault(segment_id, []).append((str(value), int(count)))
    return found


def email_consent_counts(session: Session, run_id: int) -> dict[int, int]:
    """Members per segment whose e-mail consent in force is granted."""
    later = aliased(Consent)
    rows = session.execute(
        select(SegmentMembership.segment_id, func.count())
        .join(Consent, Consent.profile_id == SegmentMembership.profile_id)
        .where(
            SegmentMembership.run_id == run_id,
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
        .group_by(SegmentMembership.segment_id)
    ).all()
    return {int(segment_id): int(count) for segment_id, count in rows}


def finish_run(session: Session, run_id: int, **values: Any) -> None:
    session.execute(update(SegmentRun).where(SegmentRun.id == run_id).values(**values))
