"""The feature matrix segmentation clusters: one row per live profile, one column per feature.

Who is in it: every live profile (not absorbed by a merge) with at least one configurator
event (`CONFIGURATOR_EVENTS`: they used the configurator, on the web or on a showroom tablet),
except profiles that objected to profiling (tracking consent withdrawn). Events and other rows
left on an absorbed profile count for the profile that absorbed it.

How: a handful of set-based GROUP BY queries (`segmentation.repository`), each streamed in
chunks, then numpy. No query per profile. Every feature is documented in docs/segments.md;
`FEATURES` below is the same list in code, in column order.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from sqlalchemy import Select
from sqlalchemy.orm import Session, sessionmaker

from cdp.db import session_scope
from cdp.models import utcnow
from ingest import taxonomy
from segmentation import repository as repo

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
class FeatureMatrix:
    """Profiles (row order) and their features (float32, columns named by `columns`)."""

    profile_ids: list[uuid.UUID]
    values: FloatMatrix
    columns: tuple[str, ...] = COLUMNS
    as_of: datetime = field(default_factory=utcnow)
    objecting: int = 0  # profiles with behaviour left out because they objected to profiling
    # Per feature: rows that had nothing to compute it from and got the overall mean.
    imputed: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.profile_ids)

    def column(self, name: str) -> FloatMatrix:
        return self.values[:, self.columns.index(name)]

    def row(self, profile_id: uuid.UUID) -> dict[str, float]:
        """One profile's features by name (a linear search: for tests and checks)."""
        index = self.profile_ids.index(profile_id)
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
) -> FeatureMatrix:
    """The feature matrix of every profile that can be clustered (see the module docstring).

    Each query runs in a short session of its own, so a caller can record progress between
    them (on SQLite a long read would hold the write lock). `as_of` is "now" for recency.
    """
    as_of = as_of or utcnow()
    report = progress or (lambda _fraction, _stage: None)

    report(0.0, "reading merges and objections")
    with session_scope(factory) as session:
        dialect = repo.dialect_name(session)
        absorbed: dict[uuid.UUID, uuid.UUID] = {
            pid: survivor
            for pid, survivor in session.execute(repo.absorbed_profiles())
            if survivor is not None
        }
        objecting = {absorbed.get(pid, pid) for pid in session.scalars(repo.objecting_profiles())}

    report(0.05, "aggregating configurator events")
    event_ids, events = _fetch(
        factory, repo.event_aggregates(dialect, as_of=as_of), len(repo.EVENT_COLUMNS)
    )
    fold = {name: "sum" for name in repo.EVENT_COLUMNS}
    fold.update(steps_reached="max", first_at="min", last_at="max")
    event_ids, events = _fold(event_ids, events, absorbed, [fold[n] for n in repo.EVENT_COLUMNS])
    ev = {name: events[:, i] for i, name in enumerate(repo.EVENT_COLUMNS)}
    for pack, fields in (
        ("activity_pack", repo.ACTIVITY_PACK),
        ("interest_pack", repo.INTEREST_PACK),
        ("body_pack", repo.BODY_PACK),
        ("action_pack", repo.ACTION_PACK),
    ):
        counts = repo.unpack(ev.pop(pack))
        ev.update({field: counts[:, i] for i, field in enumerate(fields)})
    ev["price_sum"], ev["price_n"] = repo.unpack_price(ev.pop("price_pack"))
    active = ev["configurator_events"] > 0
    objected = np.fromiter((pid in objecting for pid in event_ids), bool, len(event_ids))
    keep = active & ~objected
    profile_ids = [pid for pid, kept in zip(event_ids, keep.tolist(), strict=True) if kept]
    ev = {name: column[keep] for name, column in ev.items()}
    del events, counts
    position = {pid: i for i, pid in enumerate(profile_ids)}
    n = len(profile_ids)

    report(0.8, "reading configurations, leads, notes and appointments")
    saved = _aligned(factory, repo.configuration_counts(), ["sum"], absorbed, position)
    stage = _aligned(factory, repo.lead_stages(), ["max"], absorbed, position)
    notes = _aligned(factory, repo.note_flags(), ["max", "max"], absorbed, position)
    drives = _aligned(factory, repo.test_drive_appointments(), ["sum"], absorbed, position)

    imputed: dict[str, int] = {}
    columns: dict[str, npt.NDArray[np.float64]] = {}
    interest_total = np.sum([ev[name] for name in taxonomy.INTERESTS], axis=0)
    for column, name in zip(
        INTEREST_COLUMNS, ("design", "performance", "comfort_safety", "price_finance"), strict=True
    ):
        columns[column] = _ratio(ev[name], interest_total)
    columns["price_k"] = _ratio(ev["price_sum"], ev["price_n"]) / 1000.0
    body_known = np.sum([ev[group] for group in repo.BODY_GROUPS], axis=0)
    for column, group in zip(BODY_COLUMNS, repo.BODY_GROUPS, strict=True):
        columns[column] = _ratio(ev[group], body_known)
    columns["electric_share"] = _ratio(ev["electric"], ev["fuel_known"])
    columns["steps_reached"] = ev["steps_reached"]
    columns["configurator_events"] = ev["configurator_events"]
    columns["saved_configurations"] = saved[:, 0]
    visits = np.maximum(ev["visits"], 1.0)
    first, last = ev["first_at"], ev["last_at"]
    columns["sessions"] = visits
    columns["recency_days"] = np.maximum(as_of.timestamp() - last, 0.0) / _DAY
    columns["frequency_per_week"] = visits / np.maximum((last - first) / _WEEK, 1.0)
    columns["showroom_visits"] = ev["showroom_visits"]
    columns["test_drive"] = _yes(ev[taxonomy.TEST_DRIVE_REQUESTED] + drives[:, 0])
    columns["finance_interest"] = _yes(ev[taxonomy.FINANCE_CALCULATED] + notes[:, 0])
    columns["trade_in_interest"] = _yes(ev[taxonomy.TRADE_IN_VALUED] + notes[:, 1])
    columns["quote_requested"] = _yes(ev[taxonomy.QUOTE_REQUESTED])
    columns["lead_stage"] = stage[:, 0]

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
        profile_ids=profile_ids,
        values=values,
        as_of=as_of,
        objecting=int((active & objected).sum()),
        imputed=imputed,
    )


def _fetch(
    factory: sessionmaker[Session], statement: Select[Any], width: int
) -> tuple[list[uuid.UUID], npt.NDArray[np.float64]]:
    """A (profile_id, number, ...) query's ids, and its numbers as one float64 block."""
    ids: list[uuid.UUID] = []
    blocks: list[npt.NDArray[np.float64]] = []
    with session_scope(factory) as session:
        repo.tune_for_aggregates(session)
        for rows in repo.stream(session, statement):
            ids.extend(row[0] for row in rows)
            blocks.append(np.array([row[1:] for row in rows], dtype=np.float64))
    if not blocks:
        return ids, np.zeros((0, width))
    return ids, np.concatenate(blocks)


def _fold(
    ids: list[uuid.UUID],
    values: npt.NDArray[np.float64],
    absorbed: dict[uuid.UUID, uuid.UUID],
    how: Sequence[str],
) -> tuple[list[uuid.UUID], npt.NDArray[np.float64]]:
    """Rows of absorbed profiles added into their survivor's row ("sum", "min" or "max")."""
    if not absorbed or not any(pid in absorbed for pid in ids):
        return ids, values
    live = [absorbed.get(pid, pid) for pid in ids]
    first: dict[uuid.UUID, int] = {}
    duplicates: list[tuple[int, int]] = []
    for i, pid in enumerate(live):
        at = first.setdefault(pid, i)
        if at != i:
            duplicates.append((at, i))
    for into, row in duplicates:
        for column, rule in enumerate(how):
            a, b = values[into, column], values[row, column]
            values[into, column] = a + b if rule == "sum" else (min if rule == "min" else max)(a, b)
    if not duplicates:
        return live, values
    dropped = np.zeros(len(live), dtype=bool)
    dropped[[row for _into, row in duplicates]] = True
    return [pid for pid, gone in zip(live, dropped.tolist(), strict=True) if not gone], values[
        ~dropped
    ]


def _aligned(
    factory: sessionmaker[Session],
    statement: Select[Any],
    how: Sequence[str],
    absorbed: dict[uuid.UUID, uuid.UUID],
    position: dict[uuid.UUID, int],
) -> npt.NDArray[np.float64]:
    """A per-profile query's numbers in the matrix's row order (zeros where it has no row)."""
    ids, values = _fetch(factory, statement, len(how))
    ids, values = _fold(ids, values, absorbed, how)
    aligned = np.zeros((len(position), len(how)), dtype=np.float64)
    rows = np.fromiter((position.get(pid, -1) for pid in ids), np.int64, len(ids))
    found = rows >= 0
    aligned[rows[found]] = values[found]
    return aligned


def _ratio(
    part: npt.NDArray[np.float64], whole: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """part / whole, NaN where whole is 0 (imputed later)."""
    out = np.full(part.shape, np.nan)
    np.divide(part, whole, out=out, where=whole > 0)
    return out


def _yes(count: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return (count > 0).astype(np.float64)
