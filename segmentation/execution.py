"""Executing a segmentation run: features, clustering, names, memberships, summaries.

Executing a run is the one long job in the app: `execute_run` takes a session factory, not a
session, because it commits its progress (stage and 0..1) in short transactions of its own so a
page can poll it (`segmentation.service.run_status`), and it stores memberships in chunks. A
failed run's partial results are deleted.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from cdp.db import session_scope
from cdp.errors import Conflict, InvalidInput, NotFound
from cdp.models import utcnow
from cdp.text import counted
from segmentation import repository as repo
from segmentation.clustering import K_RANGE, ClusteringResult, cluster
from segmentation.features import FEATURE_BY_NAME, FeatureMatrix, build_features
from segmentation.naming import SegmentText, name_segments
from segmentation.service import RunStatus, run_status
from segmentation.summaries import store_summaries

Progress = Callable[[float, str], None]
# Clustering fewer profiles than this per segment finds noise, not segments.
MIN_PROFILES_PER_SEGMENT = 10
MEMBERSHIP_CHUNK = 100_000
# PostgreSQL checks two foreign keys per membership, one row at a time: two connections write
# chunks side by side (a transaction each, as one would), so both cores do it.
MEMBERSHIP_WRITERS = 2
# Where each stage's progress falls within the run's 0..1.
_STAGES = {
    "features": (0.0, 0.5),
    "clustering": (0.5, 0.75),
    "storing": (0.75, 0.95),
    "summaries": (0.95, 1.0),
}


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
        store_summaries(session, matrix, result.labels, numbers)
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


def _record_failure(factory: sessionmaker[Session], run_id: int, error: BaseException) -> None:
    message = error.message if isinstance(error, InvalidInput) else _one_line(error)
    with session_scope(factory) as session:
        repo.delete_run_results(session, run_id)
        repo.finish_run(session, run_id, status="failed", error=message, finished_at=utcnow())


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else 'no detail'}"[:500]
