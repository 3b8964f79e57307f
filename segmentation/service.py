"""Segmentation runs: create one, execute it, read what it found, rename its segments.

A run goes queued -> running -> done (or failed, with the error). Executing a run is the one
long job in the app: `execute_run` takes a session factory, not a session, because it commits
its progress (stage and 0..1) in short transactions of its own so a page can poll it, and it
stores memberships in chunks. Only a run that is done counts: the current run is the latest
one done, and a failed run's partial results are deleted.

Everything else here takes the caller's session and only flushes, as services do.

For the marketer pages:
- `create_run` then `segmentation.job.start_run_in_background` (or `job.start_run`, which does
  both) for the button; `run_status` to poll it.
- `current_run`, `list_segments` (with growth against the previous run), `rename_segment`.
- `current_segment` for the customer page.
- `member_ids` to build audiences and exports on a segment.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Engine, Select
from sqlalchemy.orm import Session, sessionmaker

from cdp import catalogue
from cdp.db import session_scope
from cdp.errors import Conflict, InvalidInput, NotFound
from cdp.models import Segment, SegmentRun, utcnow
from cdp.text import counted
from segmentation import repository as repo
from segmentation.clustering import K_LIMITS, K_RANGE, ClusteringResult, cluster
from segmentation.features import (
    COLUMNS,
    FEATURE_BY_NAME,
    FeatureMatrix,
    build_features,
    feature_weights,
)
from segmentation.naming import SegmentText, name_segments

Progress = Callable[[float, str], None]

# Clustering fewer profiles than this per segment finds noise, not segments.
MIN_PROFILES_PER_SEGMENT = 10
# A run still queued or running this long after it was created is taken as abandoned (its
# process died): it no longer blocks a new run, and is marked failed when one starts.
STALE_AFTER = timedelta(hours=1)
MEMBERSHIP_CHUNK = 100_000
# PostgreSQL checks two foreign keys per membership, one row at a time: two connections write
# chunks side by side (a transaction each, as one would), so both cores do it.
MEMBERSHIP_WRITERS = 2
MAX_NAME = 200

# Where each stage's progress falls within the run's 0..1.
_STAGES = {
    "features": (0.0, 0.5),
    "clustering": (0.5, 0.75),
    "storing": (0.75, 0.95),
    "summaries": (0.95, 1.0),
}


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


# --- creating and executing runs -------------------------------------------------------------
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


class _Reporter:
    """Records a run's progress in short transactions (at most a few a second) and passes it
    on to the caller's callback (the CLI's progress bar)."""

    def __init__(
        self, factory: sessionmaker[Session], run_id: int, callback: Progress | None
    ) -> None:
        self.factory = factory
        self.run_id = run_id
        self.callback = callback
        self.last_write = 0.0
        self.last_stage = ""

    def stage(self, name: str) -> Progress:
        low, high = _STAGES[name]

        def report(fraction: float, detail: str) -> None:
            self(low + (high - low) * min(max(fraction, 0.0), 1.0), detail)

        return report

    def __call__(self, progress: float, stage: str, *, session: Session | None = None) -> None:
        if self.callback is not None:
            self.callback(progress, stage)
        now = time.monotonic()
        if stage == self.last_stage and now - self.last_write < 0.5:
            return
        self.last_stage, self.last_write = stage, now
        if session is not None:
            repo.set_progress(session, self.run_id, progress=progress, stage=stage)
            return
        with session_scope(self.factory) as own:
            repo.set_progress(own, self.run_id, progress=progress, stage=stage)


def execute_run(
    factory: sessionmaker[Session], run_id: int, *, progress: Progress | None = None
) -> RunStatus:
    """Run a queued run to the end: features, clustering, names, memberships, summaries.

    Commits as it goes (see the module docstring). On failure the run is marked failed with a
    one-line error, what it stored is deleted, and the exception is raised again.
    """
    with session_scope(factory) as session:
        run = repo.get_run(session, run_id)
        if run is None:
            raise NotFound(f"no segmentation run {run_id}", field="run_id")
        if run.status != "queued":
            raise Conflict(f"segmentation run {run_id} is {run.status}, not queued")
        repo.set_progress(session, run_id, progress=0.0, stage="starting")
        parameters = dict(run.parameters)
        as_of = run.created_at
    reporter = _Reporter(factory, run_id, progress)
    try:
        _execute(factory, run_id, parameters, as_of, reporter)
    except BaseException as error:
        _record_failure(factory, run_id, error)
        raise
    with session_scope(factory) as session:
        return run_status(session, run_id)


def _execute(
    factory: sessionmaker[Session],
    run_id: int,
    parameters: dict[str, Any],
    as_of: datetime,
    reporter: _Reporter,
) -> None:
    k: int | None = parameters.get("k")
    seed = int(parameters.get("seed", 0))
    started = time.perf_counter()
    timings: dict[str, float] = {}

    matrix = build_features(factory, as_of=as_of, progress=reporter.stage("features"))
    timings["features_s"] = time.perf_counter() - started
    needed = MIN_PROFILES_PER_SEGMENT * (k or K_RANGE[0])
    if len(matrix) < needed:
        raise InvalidInput(
            f"only {counted(len(matrix), 'profiles')} "
            f"{'has' if len(matrix) == 1 else 'have'} enough behaviour to cluster; "
            f"at least {needed} are needed" + (f" for {k} segments" if k else "")
        )

    mark = time.perf_counter()
    result = cluster(
        matrix.values,
        k=k,
        seed=seed,
        log_columns=matrix.log_columns,
        weights=matrix.weights,
        progress=reporter.stage("clustering"),
    )
    texts = name_segments(
        result.centroids, result.overall_mean, result.overall_std, matrix.columns, result.sizes
    )
    timings["clustering_s"] = time.perf_counter() - mark

    mark = time.perf_counter()
    numbers = _store(factory, run_id, matrix, result, texts, reporter.stage("storing"))
    timings["storing_s"] = time.perf_counter() - mark

    mark = time.perf_counter()
    reporter.stage("summaries")(0.0, "summarising segments")
    with session_scope(factory) as session:
        _store_summaries(session, matrix, result.labels, numbers)
    timings["summaries_s"] = time.perf_counter() - mark

    quality = result.quality()
    quality.update(
        feature_means=dict(zip(matrix.columns, result.overall_mean.tolist(), strict=True)),
        feature_stds=dict(zip(matrix.columns, result.overall_std.tolist(), strict=True)),
        objecting_left_out=matrix.objecting,
        imputed=matrix.imputed,
        event_state=matrix.event_state,
        timings={name: round(seconds, 2) for name, seconds in timings.items()},
    )
    with session_scope(factory) as session:
        repo.finish_run(
            session,
            run_id,
            status="done",
            progress=1.0,
            stage="done",
            profiles=len(matrix),
            segments=result.k,
            quality=quality,
            finished_at=utcnow(),
        )
    if reporter.callback is not None:
        reporter.callback(1.0, "done")


def _store(
    factory: sessionmaker[Session],
    run_id: int,
    matrix: FeatureMatrix,
    result: ClusteringResult,
    texts: list[SegmentText],
    report: Progress,
) -> dict[int, int]:
    """Store the segments and every membership; the segments' ids by number."""
    report(0.0, "storing segments")
    with session_scope(factory) as session:
        numbers = repo.insert_segments(
            session,
            [
                {
                    "run_id": run_id,
                    "number": number + 1,
                    "name": text.name,
                    "description": text.description,
                    "size": result.sizes[number],
                    "profile": _segment_profile(result, number, text, matrix.columns),
                    "summary": {},
                }
                for number, text in enumerate(texts)
            ],
        )
    segment_of_label = np.array([numbers[label + 1] for label in range(result.k)], np.int64)
    # The matrix is in profile id order, the primary key's (run, profile): inserting in its
    # order touches each index page once instead of at random (10x less work at 1M).
    segment_ids = segment_of_label[result.labels]
    total = len(matrix)
    chunks = [
        (start, min(start + MEMBERSHIP_CHUNK, total)) for start in range(0, total, MEMBERSHIP_CHUNK)
    ]

    def write(chunk: tuple[int, int]) -> int:
        start, end = chunk
        with session_scope(factory) as session:
            repo.insert_memberships(
                session,
                run_id=run_id,
                segment_ids=segment_ids[start:end],
                profile_ids=matrix.ids[start:end],
            )
        return end - start

    # Side by side only with sessions of their own (a pool), and not on SQLite (one writer).
    bind = factory.kw.get("bind")
    writers = (
        MEMBERSHIP_WRITERS if isinstance(bind, Engine) and bind.dialect.name == "postgresql" else 1
    )
    written = 0
    if writers == 1:
        for chunk in chunks:
            written += write(chunk)
            # After the commit: on SQLite a second writer would wait for this one.
            report(written / total, f"storing memberships ({written:,} of {total:,})")
        return numbers
    with ThreadPoolExecutor(max_workers=writers, thread_name_prefix="memberships") as pool:
        futures = [pool.submit(write, chunk) for chunk in chunks]
        try:
            for done in as_completed(futures):
                written += done.result()
                report(written / total, f"storing memberships ({written:,} of {total:,})")
        except BaseException:
            for future in futures:
                future.cancel()  # what has not started; the run's rows are deleted on failure
            raise
    return numbers


def _segment_profile(
    result: ClusteringResult, number: int, text: SegmentText, columns: Sequence[str]
) -> dict[str, Any]:
    features = {}
    for i, name in enumerate(columns):
        feature = FEATURE_BY_NAME[name]
        features[name] = {
            "label": feature.label,
            "unit": feature.unit,
            "group": feature.group,
            "segment": round(float(result.centroids[number, i]), 4),
            "overall": round(float(result.overall_mean[i]), 4),
            "z": text.z[name],
        }
    return {"features": features}


def _store_summaries(
    session: Session, matrix: FeatureMatrix, labels: npt.NDArray[np.int32], numbers: dict[int, int]
) -> None:
    """Per segment: the top models, colours and body types of members' saved configurations
    (a member counts once per value) and how many have e-mail consent in force. Counted from
    what the features read (`FeatureMatrix.facts`), not from the stored memberships."""
    facts = matrix.facts
    assert facts is not None
    k = len(numbers)
    rows = facts.configuration_rows
    models = _top_per_segment(labels, k, rows, facts.models, facts.model_names)
    colours = _top_per_segment(labels, k, rows, facts.colours, facts.colour_names)
    values = _top_per_segment(labels, k, rows, facts.bodies, facts.body_values, limit=None)
    consent = np.bincount(labels[facts.email_rows], minlength=k)
    colour_hex = _colour_hexes(session, colours)
    for label in range(k):
        segment = session.get(Segment, numbers[label + 1])
        assert segment is not None
        size = max(segment.size, 1)

        def share(count: int, size: int = size) -> float:
            return round(count / size, 4)

        body_counts: dict[str, int] = {}
        for value, count in values[label]:
            body = _body_type(value)
            if body:
                body_counts[body] = body_counts.get(body, 0) + count
        consented = int(consent[label])
        segment.summary = {
            "models": [
                {"name": name, "profiles": count, "share": share(count)}
                for name, count in models[label]
            ],
            "colours": [
                {
                    "name": name,
                    "hex": colour_hex.get(name),
                    "profiles": count,
                    "share": share(count),
                }
                for name, count in colours[label]
            ],
            "body_types": [
                {"name": body, "profiles": count, "share": share(count)}
                for body, count in sorted(body_counts.items(), key=lambda item: -item[1])
            ],
            "email_consent": {"profiles": consented, "share": share(consented)},
        }
    session.flush()


def _top_per_segment(
    labels: npt.NDArray[np.int32],
    k: int,
    rows: npt.NDArray[np.int64],
    codes: npt.NDArray[np.int64],
    names: Sequence[str],
    *,
    limit: int | None = 5,
) -> dict[int, list[tuple[str, int]]]:
    """Per segment (by label): the values its members have (`codes` index `names`; -1: none),
    each with how many members have it (a member counts once per value), most first, then by
    value; the first `limit`."""
    width = max(len(names), 1)
    known = codes >= 0
    pairs = np.unique(rows[known] * width + codes[known])  # one per member and value
    segment = labels[pairs // width].astype(np.int64)
    counts = np.bincount(segment * width + pairs % width, minlength=k * width).reshape(k, width)
    top: dict[int, list[tuple[str, int]]] = {}
    for label in range(k):
        found = [(names[int(c)], int(counts[label, c])) for c in np.flatnonzero(counts[label])]
        found.sort(key=lambda item: (-item[1], item[0]))
        top[label] = found[:limit] if limit is not None else found
    return top


def _colour_hexes(session: Session, colours: dict[int, list[tuple[str, int]]]) -> dict[str, str]:
    """A swatch per colour name: as configurations recorded it, else from the catalogue."""
    names = {name for values in colours.values() for name, _count in values}
    found = {
        colour.name: colour.hex
        for model in catalogue.MODELS
        for colour in model.colours
        if colour.name in names
    }
    found.update(repo.colour_swatches(session, sorted(names)))
    return found


def _body_type(value: str) -> str | None:
    """A configuration's body type, or its model's in the catalogue."""
    if value in ("suv", "compact_suv", "estate", "sedan", "hatchback"):
        return value
    for model in catalogue.MODELS:
        if value in (model.code, model.name.lower()):
            return model.body
    return None


def _record_failure(factory: sessionmaker[Session], run_id: int, error: BaseException) -> None:
    message = error.message if isinstance(error, InvalidInput) else _one_line(error)
    with session_scope(factory) as session:
        repo.delete_run_results(session, run_id)
        repo.finish_run(session, run_id, status="failed", error=message, finished_at=utcnow())


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else 'no detail'}"[:500]


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


def rename_segment(session: Session, segment_id: int, name: str | None) -> SegmentView:
    """Give a segment the marketer's own name; an empty name goes back to the generated one."""
    cleaned = " ".join((name or "").split())
    if len(cleaned) > MAX_NAME:
        raise InvalidInput(f"a segment name has at most {MAX_NAME} characters", field="name")
    segment = repo.rename_segment(session, segment_id, cleaned or None)
    if segment is None:
        raise NotFound(f"no segment {segment_id}", field="segment_id")
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
