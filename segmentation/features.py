"""The feature matrix segmentation clusters: one row per live profile, one column per feature.

Who is in it: every live profile (not absorbed by a merge) with at least one configurator
event (`CONFIGURATOR_EVENTS`: they used the configurator, on the web or on a showroom tablet),
except profiles that objected to profiling (tracking consent withdrawn). Events and other rows
left on an absorbed profile count for the profile that absorbed it.

How: the per-profile aggregates of the events, kept in `segment_event_state` and brought up
to date for the profiles whose events changed since the previous run (`event_state`), a
handful of set-based GROUP BY queries for the rest (`segmentation.feature_queries`), then numpy.
No query per profile, and no Python object per profile: ids travel as 16-byte strings in uuid
order. Every feature is documented in docs/segments.md; `FEATURES` below is the same list in
code, in column order.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cached_property
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from cdp import taxonomy
from cdp.db import session_scope
from cdp.models import utcnow
from segmentation.columns import Coded, Ids, as_uuids, read_columns, read_configurations, read_ids
from segmentation.event_state import EventState, StateWriter, event_state, visit_days
from segmentation.feature_queries import (
    ACTION_PACK,
    ACTIVITY_PACK,
    BODY_GROUPS,
    BODY_PACK,
    INTEREST_PACK,
    STATE_FLOATS,
    absorbed_profiles,
    email_consent_granted,
    lead_stages,
    note_flags,
    objecting_profiles,
    test_drive_appointments,
    unpack,
    unpack_price,
    window_start,
)

Progress = Callable[[float, str], None]
Unit = Literal["share", "k€", "rank", "count", "days", "per week", "yes/no"]
Group = Literal["interest", "car", "engagement", "intent"]
FloatMatrix = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class Feature:
    name: str
    label: str  # short, for charts and segment descriptions
    unit: Unit
    group: Group
    # Heavy-tailed counts are log-transformed before scaling, so a few very busy profiles do
    # not become segments of their own.
    log: bool = False


FEATURES: tuple[Feature, ...] = (
    Feature("design_share", "design", "share", "interest"),
    Feature("performance_share", "performance", "share", "interest"),
    Feature("comfort_safety_share", "comfort and safety", "share", "interest"),
    Feature("price_finance_share", "price and finance", "share", "interest"),
    Feature("price_k", "configured price", "k€", "car"),
    Feature("suv_share", "SUVs", "share", "car"),
    Feature("estate_share", "estates", "share", "car"),
    Feature("sedan_share", "sedans", "share", "car"),
    Feature("hatchback_share", "hatchbacks", "share", "car"),
    Feature("electric_share", "electric", "share", "car"),
    Feature("steps_reached", "configurator steps reached", "rank", "engagement"),
    Feature("configurator_events", "configurator clicks", "count", "engagement", log=True),
    Feature("saved_configurations", "saved configurations", "count", "engagement", log=True),
    Feature("sessions", "visits", "count", "engagement", log=True),
    Feature("recency_days", "days since last visit", "days", "engagement", log=True),
    Feature("frequency_per_week", "visits per week", "per week", "engagement", log=True),
    Feature("showroom_visits", "showroom visits", "count", "engagement", log=True),
    Feature("test_drive", "test drive", "yes/no", "intent"),
    Feature("finance_interest", "finance interest", "yes/no", "intent"),
    Feature("trade_in_interest", "trade-in interest", "yes/no", "intent"),
    Feature("quote_requested", "quote requested", "yes/no", "intent"),
    Feature("lead_stage", "lead stage", "rank", "intent"),
)
# How much each group of features weighs in clustering, in total: a feature's weight is its
# group's divided by the square root of the group's size, so a group of six near one-hot body
# type shares cannot outvote the four interest shares. What buyers spend their configurator
# attention on sets them apart most (docs/segments.md), so that group weighs double.
GROUP_WEIGHTS: dict[Group, float] = {
    "interest": 2.0,
    "car": 1.0,
    "engagement": 1.0,
    "intent": 1.0,
}
COLUMNS: tuple[str, ...] = tuple(feature.name for feature in FEATURES)
FEATURE_BY_NAME = {feature.name: feature for feature in FEATURES}
INTEREST_COLUMNS = (
    "design_share",
    "performance_share",
    "comfort_safety_share",
    "price_finance_share",
)
BODY_COLUMNS = ("suv_share", "estate_share", "sedan_share", "hatchback_share")

_DAY = 86_400.0
_WEEK = 7 * _DAY


@dataclass(frozen=True)
class MemberFacts:
    """What segment summaries count, per matrix row, read with the features: saved
    configurations (their row, and the index of their model, colour and body value in the lists
    beside; -1 for none) and the rows whose e-mail consent in force is granted."""

    configuration_rows: npt.NDArray[np.int64]
    models: npt.NDArray[np.int64]
    colours: npt.NDArray[np.int64]
    bodies: npt.NDArray[np.int64]
    model_names: list[str]
    colour_names: list[str]
    body_values: list[str]
    email_rows: npt.NDArray[np.int64]


@dataclass(frozen=True)
class FeatureMatrix:
    """Profiles (row order: `ids`, 16-byte profile ids in uuid order) and their features
    (float32, columns named by `columns`)."""

    ids: Ids
    values: FloatMatrix
    columns: tuple[str, ...] = COLUMNS
    as_of: datetime = field(default_factory=utcnow)
    objecting: int = 0  # profiles with behaviour left out because they objected to profiling
    # Per feature: rows that had nothing to compute it from and got the overall mean.
    imputed: dict[str, int] = field(default_factory=dict)
    facts: MemberFacts | None = None
    # How the per-profile event aggregates were brought up to date (repository.event_state).
    event_state: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)

    @cached_property
    def profile_ids(self) -> list[uuid.UUID]:
        return as_uuids(self.ids)

    def column(self, name: str) -> FloatMatrix:
        return self.values[:, self.columns.index(name)]

    def row(self, profile_id: uuid.UUID) -> dict[str, float]:
        """One profile's features by name."""
        key = np.array([profile_id.bytes], dtype="S16")
        index = int(np.searchsorted(self.ids, key)[0])
        if index >= len(self.ids) or self.ids[index] != key[0]:
            raise ValueError(f"{profile_id} is not in the matrix")
        row = self.values[index].tolist()
        return dict(zip(self.columns, row, strict=True))

    @property
    def log_columns(self) -> tuple[int, ...]:
        return tuple(i for i, name in enumerate(self.columns) if FEATURE_BY_NAME[name].log)

    @property
    def weights(self) -> list[float]:
        return feature_weights(self.columns)


def feature_weights(columns: Sequence[str] = COLUMNS) -> list[float]:
    """Each feature's weight in clustering (see `GROUP_WEIGHTS`)."""
    groups = [FEATURE_BY_NAME[name].group for name in columns]
    return [GROUP_WEIGHTS[group] / math.sqrt(groups.count(group)) for group in groups]


def build_features(
    factory: sessionmaker[Session],
    *,
    as_of: datetime | None = None,
    progress: Progress | None = None,
    rebuild: bool = False,
) -> FeatureMatrix:
    """The feature matrix of every profile that can be clustered (see the module docstring).

    Each step runs in a short session of its own, so a caller can record progress between
    them (on SQLite a session holds the write lock). `as_of` is "now" for recency and visits.
    `rebuild` recomputes the kept event aggregates from every event, as the first run does.
    """
    as_of = as_of or utcnow()
    report = progress or (lambda _fraction, _stage: None)
    start = window_start(as_of)

    report(0.0, "reading merges and objections")
    with session_scope(factory) as session:
        absorbed_ids, survivors = read_columns(session, absorbed_profiles(), ("uuid", "uuid"))
        objecting_ids = read_ids(session, objecting_profiles())
    merges = _Merges(absorbed_ids, survivors)

    report(0.05, "aggregating configurator events")
    with session_scope(factory) as session:
        state, how, write_state = event_state(session, start=start, rebuild=rebuild)
    writing = _in_background(factory, write_state)
    try:
        report(0.7, "reading configurations, leads, notes, appointments and consents")
        with session_scope(factory) as session:
            configured = read_configurations(session)
            leads = read_columns(session, lead_stages(), ("uuid", "float8"))
            notes = read_columns(session, note_flags(), ("uuid", "float8", "float8"))
            drives = read_columns(session, test_drive_appointments(), ("uuid", "float8"))
            emails = read_ids(session, email_consent_granted())
        matrix = _matrix(
            as_of, state, merges, objecting_ids, configured, leads, notes, drives, emails, report
        )
    except BaseException:
        if writing is not None:
            wait([writing])  # not left behind; its own error, if any, comes second
        raise
    if writing is not None:
        writing.result()  # the state written (or its error raised) before the run goes on
    return replace(matrix, event_state=how)


def _in_background(factory: sessionmaker[Session], work: StateWriter | None) -> Future[None] | None:
    """Run `work` in a session of its own: in a thread when the factory's sessions have their
    own connections (a pool), else here and now."""
    if work is None:
        return None

    def run() -> None:
        with session_scope(factory) as session:
            work(session)

    if not isinstance(factory.kw.get("bind"), Engine):
        run()
        return None
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="event-state") as pool:
        future = pool.submit(run)
        pool.shutdown(wait=False)
    return future


def _matrix(
    as_of: datetime,
    state: EventState,
    merges: _Merges,
    objecting_ids: Ids,
    configured: tuple[Ids, Coded, Coded, Coded],
    leads: Sequence[npt.NDArray[Any]],
    notes: Sequence[npt.NDArray[Any]],
    drives: Sequence[npt.NDArray[Any]],
    emails: Ids,
    report: Progress,
) -> FeatureMatrix:
    start = window_start(as_of)

    report(0.9, "computing features")
    days_low, days_high = visit_days(state, start)
    fold = ["sum"] * 5 + ["max", "min", "max"]
    ids, folded = merges.fold(
        state.ids,
        [*(state.floats[:, i] for i in range(len(STATE_FLOATS))), days_low, days_high],
        [*fold, "or", "or"],
    )
    ev = dict(zip(STATE_FLOATS, folded[: len(STATE_FLOATS)], strict=True))
    visits = np.bitwise_count(folded[-2]).astype(np.float64) + np.bitwise_count(folded[-1])
    for pack, fields in (
        ("activity_pack", ACTIVITY_PACK),
        ("interest_pack", INTEREST_PACK),
        ("body_pack", BODY_PACK),
        ("action_pack", ACTION_PACK),
    ):
        counts = unpack(ev.pop(pack))
        ev.update({name: counts[:, i] for i, name in enumerate(fields)})
    ev["price_sum"], ev["price_n"] = unpack_price(ev.pop("price_pack"))
    active = ev["configurator_events"] > 0
    objected = np.isin(ids, merges.live(objecting_ids))
    keep = active & ~objected
    ids = ids[keep]
    ev = {name: column[keep] for name, column in ev.items()}
    visits = visits[keep]
    n = len(ids)

    config_ids = merges.live(configured[0])
    saved = _aligned(ids, config_ids, [np.ones(len(config_ids))], ["sum"])
    stage = _aligned(ids, merges.live(leads[0]), leads[1:], ["max"])
    flags = _aligned(ids, merges.live(notes[0]), notes[1:], ["max", "max"])
    booked = _aligned(ids, merges.live(drives[0]), drives[1:], ["sum"])

    imputed: dict[str, int] = {}
    columns: dict[str, npt.NDArray[np.float64]] = {}
    interest_total = np.sum([ev[name] for name in taxonomy.INTERESTS], axis=0)
    for column, name in zip(
        INTEREST_COLUMNS, ("design", "performance", "comfort_safety", "price_finance"), strict=True
    ):
        columns[column] = _ratio(ev[name], interest_total)
    columns["price_k"] = _ratio(ev["price_sum"], ev["price_n"]) / 1000.0
    body_known = np.sum([ev[group] for group in BODY_GROUPS], axis=0)
    for column, group in zip(BODY_COLUMNS, BODY_GROUPS, strict=True):
        columns[column] = _ratio(ev[group], body_known)
    columns["electric_share"] = _ratio(ev["electric"], ev["fuel_known"])
    columns["steps_reached"] = ev["steps_reached"]
    columns["configurator_events"] = ev["configurator_events"]
    columns["saved_configurations"] = saved[0]
    sessions = np.maximum(visits, 1.0)
    first, last = ev["first_at"], ev["last_at"]
    columns["sessions"] = sessions
    columns["recency_days"] = np.maximum(as_of.timestamp() - last, 0.0) / _DAY
    columns["frequency_per_week"] = sessions / np.maximum((last - first) / _WEEK, 1.0)
    columns["showroom_visits"] = ev["showroom_visits"]
    columns["test_drive"] = _yes(ev[taxonomy.TEST_DRIVE_REQUESTED] + booked[0])
    columns["finance_interest"] = _yes(ev[taxonomy.FINANCE_CALCULATED] + flags[0])
    columns["trade_in_interest"] = _yes(ev[taxonomy.TRADE_IN_VALUED] + flags[1])
    columns["quote_requested"] = _yes(ev[taxonomy.QUOTE_REQUESTED])
    columns["lead_stage"] = stage[0]

    values = np.empty((n, len(COLUMNS)), dtype=np.float32)
    for i, name in enumerate(COLUMNS):
        feature = columns[name]
        missing = np.isnan(feature)
        if missing.any():
            imputed[name] = int(missing.sum())
            fill = float(np.nanmean(feature)) if not missing.all() else 0.0
            feature = np.where(missing, fill, feature)
        values[:, i] = feature
    report(1.0, "features ready")
    return FeatureMatrix(
        ids=ids,
        values=values,
        as_of=as_of,
        objecting=int((active & objected).sum()),
        imputed=imputed,
        facts=_member_facts(ids, config_ids, configured[1:], merges.live(emails)),
    )


class _Merges:
    """Absorbed profiles and the live profiles they resolve to, for folding rows keyed by the
    raw profile id of a table into their live profile."""

    def __init__(self, absorbed: Ids, survivors: Ids) -> None:
        order = np.argsort(absorbed, kind="stable")
        self.absorbed = absorbed[order]
        self.survivors = survivors[order]

    def live(self, ids: Ids) -> Ids:
        """Each id, or the live profile it was absorbed into."""
        if not len(self.absorbed) or not len(ids):
            return ids
        at = np.minimum(np.searchsorted(self.absorbed, ids), len(self.absorbed) - 1)
        found = self.absorbed[at] == ids
        if not found.any():
            return ids
        live = ids.copy()
        live[found] = self.survivors[at[found]]
        return live

    def fold(
        self, ids: Ids, columns: Sequence[npt.NDArray[Any]], how: Sequence[str]
    ) -> tuple[Ids, list[npt.NDArray[Any]]]:
        """Rows resolved to their live profile, in id order, one per profile: rows of the
        same profile combined by "sum", "min", "max" or "or" (bitwise)."""
        live = self.live(ids)
        order = np.argsort(live, kind="stable")
        live = live[order]
        columns = [column[order] for column in columns]
        first = np.ones(len(live), dtype=bool)
        first[1:] = live[1:] != live[:-1]
        if first.all():
            return live, columns
        starts = np.flatnonzero(first)
        reduce = {
            "sum": np.add,
            "min": np.minimum,
            "max": np.maximum,
            "or": np.bitwise_or,
        }
        return live[starts], [
            reduce[rule].reduceat(column, starts) for column, rule in zip(columns, how, strict=True)
        ]


def _aligned(
    ids: Ids, other: Ids, columns: Sequence[npt.NDArray[Any]], how: Sequence[str]
) -> list[npt.NDArray[np.float64]]:
    """Per-profile values (rows keyed by live profile id, any order, repeats combined by `how`)
    in the matrix's row order, zeros where a profile has none."""
    other, columns = _Merges(other[:0], other[:0]).fold(other, columns, how)
    at = np.minimum(np.searchsorted(ids, other), max(len(ids) - 1, 0))
    found = (ids[at] == other) if len(ids) else np.zeros(len(other), dtype=bool)
    aligned = []
    for column in columns:
        out = np.zeros(len(ids), dtype=np.float64)
        out[at[found]] = column[found]
        aligned.append(out)
    return aligned


def _rows_of(ids: Ids, other: Ids) -> npt.NDArray[np.int64]:
    """The matrix row of each id, -1 for ids not in the matrix."""
    if not len(ids):
        return np.full(len(other), -1, dtype=np.int64)
    at = np.minimum(np.searchsorted(ids, other), len(ids) - 1)
    return np.where(ids[at] == other, at, -1).astype(np.int64)


def _member_facts(ids: Ids, config_ids: Ids, coded: Sequence[Coded], email_ids: Ids) -> MemberFacts:
    rows = _rows_of(ids, config_ids)
    member = rows >= 0
    (models, model_names), (colours, colour_names), (bodies, body_values) = coded
    email_rows = _rows_of(ids, email_ids)
    return MemberFacts(
        configuration_rows=rows[member],
        models=models[member],
        colours=colours[member],
        bodies=bodies[member],
        model_names=model_names,
        colour_names=colour_names,
        body_values=body_values,
        email_rows=np.unique(email_rows[email_rows >= 0]),
    )


def _ratio(
    part: npt.NDArray[np.float64], whole: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """part / whole, NaN where whole is 0 (imputed later)."""
    out = np.full(part.shape, np.nan)
    np.divide(part, whole, out=out, where=whole > 0)
    return out


def _yes(count: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return (count > 0).astype(np.float64)
