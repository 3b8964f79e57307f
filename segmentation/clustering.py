"""Clustering a feature matrix into segments: pure scikit-learn and numpy, no database.

The pipeline: log1p on heavy-tailed count columns, StandardScaler, optional feature weights,
then KMeans (MiniBatchKMeans above `MINIBATCH_ABOVE` rows, where full KMeans gets slow). The
number of segments is either fixed by the caller or chosen automatically: KMeans is fitted on a
seeded sample for every k in `k_range`, and the k with the best silhouette (itself measured on
a sample) wins. Everything random takes the seed, so the same data and seed give the same
segments.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.metrics import silhouette_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

K_RANGE = (3, 10)
K_LIMITS = (2, 20)  # what a marketer may fix
MINIBATCH_ABOVE = 50_000
SELECTION_SAMPLE = 10_000  # rows KMeans is fitted on for each k tried
SILHOUETTE_SAMPLE = 5_000  # rows the silhouette is measured on (it is quadratic)
# Clustering runs on one thread. OpenMP threads that wait for each other at every iteration
# are at the mercy of a busy, shared machine: with two threads a 1,000-row KMeans ran seventy
# times slower than with one, and a million rows three times slower.
THREADS = 1

Progress = Callable[[float, str], None]
Matrix = npt.NDArray[np.floating[Any]]


@dataclass(frozen=True)
class ClusteringResult:
    labels: npt.NDArray[np.int32]  # segment number (0-based) per row, largest segment first
    centroids: npt.NDArray[np.float64]  # (k, features): mean of each segment, original units
    overall_mean: npt.NDArray[np.float64]
    overall_std: npt.NDArray[np.float64]
    k: int
    k_chosen_automatically: bool
    algorithm: str  # "kmeans" or "minibatch_kmeans"
    silhouette: float | None  # on a sample of the final segments; None when undefined
    inertia: float  # within-segment sum of squares, in the scaled space
    sizes: list[int]
    scores: dict[int, float] = field(default_factory=dict)  # silhouette per k tried

    def quality(self) -> dict[str, Any]:
        """The measures worth storing with a run (JSON-friendly)."""
        return {
            "k": self.k,
            "k_chosen_automatically": self.k_chosen_automatically,
            "algorithm": self.algorithm,
            "silhouette": self.silhouette,
            "inertia": self.inertia,
            "sizes": self.sizes,
            "silhouette_by_k": {str(k): score for k, score in self.scores.items()},
        }


def _log_columns(columns: Sequence[int]) -> Callable[[Matrix], Matrix]:
    chosen = list(columns)

    def transform(x: Matrix) -> Matrix:
        out = np.array(x, dtype=np.float32, copy=True)
        if chosen:
            out[:, chosen] = np.log1p(np.maximum(out[:, chosen], 0))
        return out

    return transform


def _weights(weights: Sequence[float] | None) -> Callable[[Matrix], Matrix]:
    factors = None if weights is None else np.asarray(weights, dtype=np.float32)

    def transform(x: Matrix) -> Matrix:
        return x if factors is None else x * factors

    return transform


def make_pipeline(
    k: int,
    *,
    seed: int,
    n_rows: int,
    log_columns: Sequence[int] = (),
    weights: Sequence[float] | None = None,
    n_init: int = 4,
) -> Pipeline:
    """The preprocessing and clustering steps for k segments on n_rows rows."""
    model: KMeans | MiniBatchKMeans
    if n_rows > MINIBATCH_ABOVE:
        # Batches of 10,000: with sklearn's default 1,024 (or 4,096) a million demo-like
        # profiles ended in a poor optimum (adjusted Rand index 0.47 against 0.66).
        model = MiniBatchKMeans(
            n_clusters=k,
            random_state=seed,
            batch_size=10_000,
            n_init=3,
            max_no_improvement=20,
        )
    else:
        model = KMeans(n_clusters=k, random_state=seed, n_init=n_init)
    return Pipeline(
        [
            ("log", FunctionTransformer(_log_columns(log_columns))),
            ("scale", StandardScaler()),
            ("weight", FunctionTransformer(_weights(weights))),
            ("cluster", model),
        ]
    )


def check_k(k: int) -> None:
    low, high = K_LIMITS
    if not low <= k <= high:
        raise ValueError(f"the number of segments must be between {low} and {high}, not {k}")


def cluster(
    values: Matrix,
    *,
    k: int | None = None,
    seed: int = 0,
    k_range: tuple[int, int] = K_RANGE,
    log_columns: Sequence[int] = (),
    weights: Sequence[float] | None = None,
    progress: Progress | None = None,
) -> ClusteringResult:
    """Segments for the rows of `values` (profiles x features, original units).

    `k` fixes the number of segments; None chooses it within `k_range` by silhouette. Labels
    are renumbered so that segment 0 is the largest (ties: the lower centroid index first).
    """
    with threadpool_limits(limits=THREADS):
        return _cluster(
            values,
            k=k,
            seed=seed,
            k_range=k_range,
            log_columns=log_columns,
            weights=weights,
            progress=progress,
        )


def _cluster(
    values: Matrix,
    *,
    k: int | None = None,
    seed: int = 0,
    k_range: tuple[int, int] = K_RANGE,
    log_columns: Sequence[int] = (),
    weights: Sequence[float] | None = None,
    progress: Progress | None = None,
) -> ClusteringResult:
    report = progress or (lambda _fraction, _stage: None)
    n = len(values)
    if k is not None:
        check_k(k)
    low, high = k_range
    if n < max(k or low, 2) + 1:
        raise ValueError(f"{n} profiles are too few to cluster")
    rng = np.random.default_rng(seed)
    scores: dict[int, float] = {}
    chosen_automatically = k is None
    if k is None:
        sample = _sample(values, SELECTION_SAMPLE, rng)
        tried = [c for c in range(low, high + 1) if c < len(sample)]
        for step, candidate in enumerate(tried):
            report(step / (len(tried) + 1), f"trying {candidate} segments")
            pipeline = make_pipeline(
                candidate,
                seed=seed,
                n_rows=len(sample),
                log_columns=log_columns,
                weights=weights,
                n_init=2,
            )
            labels = pipeline.fit_predict(sample)
            score = _silhouette(pipeline, sample, labels, seed)
            scores[candidate] = score if score is not None else -1.0
        k = max(scores, key=lambda c: (scores[c], -c))
        report(len(tried) / (len(tried) + 1), f"clustering into {k} segments")
    else:
        report(0.0, f"clustering into {k} segments")

    pipeline = make_pipeline(k, seed=seed, n_rows=n, log_columns=log_columns, weights=weights)
    raw_labels = pipeline.fit_predict(values).astype(np.int32)
    model = pipeline.named_steps["cluster"]
    # Largest segment first: numbers a marketer reads are stable in meaning within a run.
    counts = np.bincount(raw_labels, minlength=k)
    order = np.argsort(-counts, kind="stable")
    renumber = np.empty(k, dtype=np.int32)
    renumber[order] = np.arange(k, dtype=np.int32)
    labels = renumber[raw_labels]
    sizes = np.bincount(labels, minlength=k)

    centroids = np.zeros((k, values.shape[1]), dtype=np.float64)
    np.add.at(centroids, labels, values.astype(np.float64))
    centroids /= np.maximum(sizes, 1)[:, None]

    sample_rows = rng.choice(n, size=min(n, SILHOUETTE_SAMPLE), replace=False)
    silhouette = _silhouette(pipeline, values[sample_rows], labels[sample_rows], seed)
    report(1.0, "segments ready")
    return ClusteringResult(
        labels=labels,
        centroids=centroids,
        overall_mean=values.mean(axis=0, dtype=np.float64),
        overall_std=values.std(axis=0, dtype=np.float64),
        k=k,
        k_chosen_automatically=chosen_automatically,
        algorithm="minibatch_kmeans" if isinstance(model, MiniBatchKMeans) else "kmeans",
        silhouette=silhouette,
        inertia=float(model.inertia_),
        sizes=[int(size) for size in sizes],
        scores=scores,
    )


def _sample(values: Matrix, size: int, rng: np.random.Generator) -> Matrix:
    if len(values) <= size:
        return values
    return values[np.sort(rng.choice(len(values), size=size, replace=False))]


def _silhouette(
    pipeline: Pipeline, rows: Matrix, labels: npt.NDArray[Any], seed: int
) -> float | None:
    """The silhouette of labelled rows, in the pipeline's scaled (and weighted) space."""
    if len(set(labels.tolist())) < 2 or len(rows) < 3:
        return None
    scaled = pipeline[:-1].transform(rows)
    size = min(len(rows), SILHOUETTE_SAMPLE)
    return float(silhouette_score(scaled, labels, sample_size=size, random_state=seed))
