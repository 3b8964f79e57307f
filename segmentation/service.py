"""Segmentation runs: create one, read what it found, rename its segments.

A run goes queued -> running -> done (or failed, with the error); `segmentation.execution`
executes it. Only a run that is done counts: the current run is the latest one done.

Everything here takes the caller's session and only flushes, as services do.

For the marketer pages:
- `create_run` then `segmentation.job.start_run_in_background` (or `job.start_run`, which does
  both) for the button; `run_status` to poll it.
- `current_run`, `list_segments` (with growth against the previous run), `rename_segment`.
- `current_segment` for the customer page.
- `member_ids` to build audiences and exports on a segment.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Select
from sqlalchemy.orm import Session

from cdp.errors import Conflict, InvalidInput, NotFound
from cdp.models import Segment, SegmentRun, utcnow
from segmentation import repository as repo
from segmentation.clustering import K_LIMITS, K_RANGE
from segmentation.features import COLUMNS, feature_weights
from segmentation.schemas import same_name

# A run still queued or running this long after it was created is taken as abandoned (its
# process died): it no longer blocks a new run, and is marked failed when one starts.
STALE_AFTER = timedelta(hours=1)
MAX_NAME = 200


@dataclass(frozen=True, slots=True)
class RunStatus:
    """What a page shows of a run, and polls while it works."""

    id: int
    status: str  # queued | running | done | failed
    progress: float  # 0..1
    stage: str | None
    error: str | None
    profiles: int
    segments: int
    parameters: dict[str, Any]
    quality: dict[str, Any]
    created_by: str
    created_at: datetime
    finished_at: datetime | None

    @property
    def finished(self) -> bool:
        return self.status in ("done", "failed")


@dataclass(frozen=True, slots=True)
class Growth:
    """A segment against the most similar segment of the previous run."""

    previous_run_id: int
    previous_segment_id: int
    previous_name: str
    previous_size: int
    change: int  # size now minus size then
    change_share: float | None  # change / size then


@dataclass(frozen=True, slots=True)
class SegmentView:
    id: int
    run_id: int
    number: int
    name: str  # what to show: the marketer's name, else the generated one
    generated_name: str
    custom_name: str | None
    description: str
    size: int
    share: float  # of the profiles clustered in the run
    profile: dict[str, Any]  # feature means: {"features": {name: {segment, overall, z, ...}}}
    summary: dict[str, Any]  # models, colours, body types, e-mail consent
    growth: Growth | None


@dataclass(frozen=True, slots=True)
class ProfileSegment:
    """A profile's segment in the current run, for the customer page."""

    run_id: int
    segment_id: int
    number: int
    name: str
    description: str
    run_finished_at: datetime | None


# --- creating runs ----------------------------------------------------------------------------
def check_parameters(*, k: int | None, seed: int) -> None:
    """InvalidInput for a number of segments or a seed a run cannot take."""
    if k is not None and not K_LIMITS[0] <= k <= K_LIMITS[1]:
        raise InvalidInput(
            f"the number of segments must be between {K_LIMITS[0]} and {K_LIMITS[1]}, not {k}",
            field="k",
        )
    if not 0 <= seed < 2**32:
        raise InvalidInput("the seed must be between 0 and 4294967295", field="seed")


def create_run(
    session: Session,
    *,
    created_by: str,
    created_by_user_id: int | None = None,
    k: int | None = None,
    seed: int = 0,
) -> SegmentRun:
    """A queued run. `k` fixes the number of segments; None chooses it automatically.

    Raises InvalidInput for a k out of range, Conflict while another run is under way.
    """
    check_parameters(k=k, seed=seed)
    repo.lock_runs(session)
    now = utcnow()
    for other in repo.unfinished_runs(session):
        if now - other.created_at < STALE_AFTER:
            raise Conflict(f"segmentation run {other.id} is still {other.status}; wait for it")
        other.status, other.error, other.finished_at = "failed", "abandoned", now
    run = SegmentRun(
        status="queued",
        progress=0.0,
        stage="queued",
        parameters={
            "k": k,
            "k_range": None if k is not None else list(K_RANGE),
            "seed": seed,
            "features": list(COLUMNS),
            "weights": [round(w, 4) for w in feature_weights()],
        },
        quality={},
        created_by=created_by,
        created_by_user_id=created_by_user_id,
        created_at=now,
    )
    session.add(run)
    session.flush()
    return run


# --- reading runs and segments -----------------------------------------------------------------
def _status(run: SegmentRun) -> RunStatus:
    return RunStatus(
        id=run.id,
        status=run.status,
        progress=run.progress,
        stage=run.stage,
        error=run.error,
        profiles=run.profiles,
        segments=run.segments,
        parameters=dict(run.parameters),
        quality=dict(run.quality),
        created_by=run.created_by,
        created_at=run.created_at,
        finished_at=run.finished_at,
    )


def run_status(session: Session, run_id: int) -> RunStatus:
    """A run's status and progress (what a page polls while it runs)."""
    run = repo.get_run(session, run_id)
    if run is None:
        raise NotFound(f"no segmentation run {run_id}", field="run_id")
    session.refresh(run)  # progress is written by another session
    return _status(run)


def list_runs(session: Session, *, limit: int = 20) -> list[RunStatus]:
    """The latest runs, newest first, whatever their status."""
    return [_status(run) for run in repo.runs(session, limit=limit)]


def current_run(session: Session) -> RunStatus | None:
    """The latest run that is done: the segments marketers see."""
    run = repo.latest_done_run(session)
    return _status(run) if run is not None else None


def list_segments(session: Session, run_id: int | None = None) -> list[SegmentView]:
    """A run's segments (the current run's by default), with growth against the previous run."""
    run = repo.latest_done_run(session) if run_id is None else repo.get_run(session, run_id)
    if run is None:
        if run_id is not None:
            raise NotFound(f"no segmentation run {run_id}", field="run_id")
        return []
    growth = segment_growth(session, run.id)
    total = max(run.profiles, 1)
    segments = repo.segments_of(session, run.id)
    return [_view(segment, total, growth.get(segment.id)) for segment in segments]


def _view(segment: Segment, total: int, growth: Growth | None) -> SegmentView:
    return SegmentView(
        id=segment.id,
        run_id=segment.run_id,
        number=segment.number,
        name=segment.display_name,
        generated_name=segment.name,
        custom_name=segment.custom_name,
        description=segment.description,
        size=segment.size,
        share=round(segment.size / total, 4),
        profile=dict(segment.profile),
        summary=dict(segment.summary),
        growth=growth,
    )


def get_segment(session: Session, segment_id: int) -> SegmentView:
    segment = session.get(Segment, segment_id)
    if segment is None:
        raise NotFound(f"no segment {segment_id}", field="segment_id")
    run = repo.get_run(session, segment.run_id)
    total = max(run.profiles if run else segment.size, 1)
    return _view(segment, total, segment_growth(session, segment.run_id).get(segment.id))


# A name that is only a number reads as a segment's number (`cdp export --segment 2`).
NUMBER_LIKE = re.compile(r"#?\d{1,4}")


def rename_segment(session: Session, segment_id: int, name: str | None) -> SegmentView:
    """Give a segment the marketer's own name; an empty name goes back to the generated one.

    Names are unique within a run (what `cdp export --segment NAME` relies on): Conflict when
    another segment of the run shows the name, or was generated with it. InvalidInput for a
    name over MAX_NAME characters, or one that is only a number.
    """
    cleaned = " ".join((name or "").split())
    if len(cleaned) > MAX_NAME:
        raise InvalidInput(f"a segment name has at most {MAX_NAME} characters", field="name")
    if NUMBER_LIKE.fullmatch(cleaned):
        raise InvalidInput(
            "a segment name needs more than a number (a number finds a segment by its number)",
            field="name",
        )
    segment = session.get(Segment, segment_id)
    if segment is None:
        raise NotFound(f"no segment {segment_id}", field="segment_id")
    if cleaned:
        for other in repo.lock_segments_of(session, segment.run_id):
            if other.id == segment.id:
                continue
            if same_name(other.display_name, cleaned):
                raise Conflict(
                    f"segment {other.number} of this run is already called "
                    f"“{other.display_name}”: choose another name",
                    field="name",
                )
            if same_name(other.name, cleaned):
                raise Conflict(
                    f"“{other.name}” is the generated name of segment {other.number} of this "
                    "run: choose another name",
                    field="name",
                )
    repo.rename_segment(session, segment_id, cleaned or None)
    return get_segment(session, segment_id)


def current_segment(session: Session, profile_id: uuid.UUID) -> ProfileSegment | None:
    """The profile's segment in the current run (an absorbed id answers for its survivor).

    None when there is no finished run, or the profile was not clustered (too little
    behaviour, objected to profiling, or new since the run).
    """
    live = repo.live_profile_id(session, profile_id)
    run = repo.latest_done_run(session)
    if live is None or run is None:
        return None
    segment = repo.membership_of(session, run.id, live)
    if segment is None:
        return None
    return ProfileSegment(
        run_id=run.id,
        segment_id=segment.id,
        number=segment.number,
        name=segment.display_name,
        description=segment.description,
        run_finished_at=run.finished_at,
    )


def segment_growth(session: Session, run_id: int) -> dict[int, Growth]:
    """Per segment of the run: the most similar segment of the previous finished run, and how
    the size changed. Similar means nearest feature means, in this run's standard deviations."""
    run = repo.get_run(session, run_id)
    previous = repo.latest_done_run(session, before=run_id)
    if run is None or previous is None:
        return {}
    now_segments = repo.segments_of(session, run_id)
    then_segments = repo.segments_of(session, previous.id)
    stds = run.quality.get("feature_stds") or {}
    columns = [
        name
        for name in stds
        if all(name in s.profile.get("features", {}) for s in (*now_segments, *then_segments))
    ]
    if not columns or not then_segments:
        return {}
    spread = np.array([stds[name] or 1.0 for name in columns])

    def vector(segment: Segment) -> npt.NDArray[np.float64]:
        features = segment.profile["features"]
        means = np.array([features[name]["segment"] for name in columns], dtype=np.float64)
        scaled: npt.NDArray[np.float64] = means / spread
        return scaled

    then = np.stack([vector(s) for s in then_segments])
    growth: dict[int, Growth] = {}
    for segment in now_segments:
        nearest = then_segments[int(np.argmin(((then - vector(segment)) ** 2).sum(axis=1)))]
        change = segment.size - nearest.size
        growth[segment.id] = Growth(
            previous_run_id=previous.id,
            previous_segment_id=nearest.id,
            previous_name=nearest.display_name,
            previous_size=nearest.size,
            change=change,
            change_share=round(change / nearest.size, 4) if nearest.size else None,
        )
    return growth


def member_ids(segment_ids: Sequence[int]) -> Select[uuid.UUID]:
    """A statement selecting the profile ids in these segments, to build audiences on."""
    return repo.member_ids(segment_ids)
