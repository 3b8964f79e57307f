"""Clustering, naming, and segmentation runs end to end.

Covers: the scikit-learn pipeline (same seed, same segments; k chosen by silhouette within
3..10 or fixed; segments numbered largest first; centroids in original units; k out of range and
too few rows refused); names in plain language from what sets a segment apart, unique within a
run; and on the demo data, loaded through the real ingest path into a fresh database of each
kind, a run executed like the CLI does: the planted behavioural groups are recovered (adjusted
Rand index >= 0.6, computed from the stored memberships and the `demo_group` trait), objecting
profiles have no segment, summaries and quality are stored, the customer page's current segment,
renaming, growth against the previous run, a run in a background thread, progress as a page
polls it, one run at a time, and a failed run recording its error and nothing else.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from cdp.db import make_engine, make_sessionmaker, session_scope
from cdp.demo.loader import load_demo
from cdp.errors import Conflict, InvalidInput
from cdp.migrate import upgrade
from cdp.models import Consent, ProfileTrait, Segment, SegmentMembership, SegmentRun
from segmentation import job, service
from segmentation.clustering import K_RANGE, cluster
from segmentation.features import COLUMNS
from segmentation.naming import name_segments
from tests.helpers import drop_database, fresh_database_url

DEMO_CUSTOMERS = 400
DEMO_SEED = 7


# --- the pipeline ------------------------------------------------------------------------------
def blobs(centers: int = 5, n: int = 1500, seed: int = 3) -> np.ndarray:
    values, _ = make_blobs(
        n_samples=n, centers=centers, n_features=6, cluster_std=0.6, random_state=seed
    )
    return values.astype(np.float32)


def test_the_same_seed_gives_the_same_segments() -> None:
    values = blobs()
    first = cluster(values, seed=42)
    again = cluster(values, seed=42)
    assert np.array_equal(first.labels, again.labels)
    assert np.allclose(first.centroids, again.centroids)
    assert first.scores == again.scores
    other_seed = cluster(values, seed=7)
    assert adjusted_rand_score(first.labels, other_seed.labels) > 0.99  # clear blobs: same split


def test_k_is_chosen_by_silhouette_within_the_range() -> None:
    values = blobs(centers=5)
    result = cluster(values, seed=1)
    assert result.k_chosen_automatically
    assert sorted(result.scores) == list(range(K_RANGE[0], K_RANGE[1] + 1))
    assert result.k == max(result.scores, key=lambda k: result.scores[k]) == 5
    assert result.silhouette is not None and result.silhouette > 0.5
    assert result.quality()["silhouette_by_k"]["5"] == result.scores[5]


def test_a_fixed_k_is_kept_and_segments_are_numbered_largest_first() -> None:
    values = np.concatenate([blobs(centers=1, n=n, seed=s) + 10 * s for s, n in ((1, 500),
                             (2, 120), (3, 300))])  # fmt: skip
    result = cluster(values, k=3, seed=0)
    assert not result.k_chosen_automatically and result.scores == {}
    assert result.sizes == [500, 300, 120]
    assert result.algorithm == "kmeans"
    for segment in range(3):
        members = values[result.labels == segment]
        assert np.allclose(result.centroids[segment], members.mean(axis=0), atol=1e-3)
    assert np.allclose(result.overall_mean, values.mean(axis=0), atol=1e-3)


def test_bad_k_and_too_few_rows_are_refused() -> None:
    with pytest.raises(ValueError, match="between 2 and 20"):
        cluster(blobs(), k=1)
    with pytest.raises(ValueError, match="between 2 and 20"):
        cluster(blobs(), k=21)
    with pytest.raises(ValueError, match="too few"):
        cluster(blobs(n=3), k=3)


def test_log_columns_and_weights_shape_the_segments() -> None:
    rng = np.random.default_rng(0)
    group = rng.integers(0, 2, 400)
    informative = group + rng.normal(0, 0.1, 400)
    noise = rng.normal(0, 1, 400) * 3
    values = np.column_stack([informative, noise]).astype(np.float32)
    weighted = cluster(values, k=2, seed=0, weights=[1.0, 0.05])
    assert adjusted_rand_score(group, weighted.labels) == 1.0
    counts = np.column_stack([np.where(group, 1000, 1) * rng.uniform(1, 2, 400)])
    logged = cluster(counts.astype(np.float32), k=2, seed=0, log_columns=[0])
    assert adjusted_rand_score(group, logged.labels) == 1.0


# --- names ---------------------------------------------------------------------------------------
def centroid(**values: float) -> np.ndarray:
    return np.array([values.get(name, 0.0) for name in COLUMNS], dtype=np.float64)


def test_names_say_what_sets_a_segment_apart() -> None:
    mean = centroid(
        design_share=0.3, performance_share=0.25, comfort_safety_share=0.2,
        price_finance_share=0.25, price_k=45, suv_share=0.35, estate_share=0.2, sedan_share=0.2,
        hatchback_share=0.25, electric_share=0.4, sessions=2, recency_days=30,
    )  # fmt: skip
    std = (
        centroid(**dict.fromkeys(COLUMNS, 0.1))
        + np.where(np.array(COLUMNS) == "price_k", 10, 0)
        + np.where(np.array(COLUMNS) == "sessions", 1, 0)
    )
    design_suv = mean + centroid(design_share=0.3, suv_share=0.3, price_k=10, sessions=1)
    price_hatch = mean + centroid(
        price_finance_share=0.3, hatchback_share=0.3, price_k=-12, finance_interest=0.2
    )
    plain = mean.copy()
    texts = name_segments(
        np.stack([design_suv, price_hatch, plain]), mean, std, COLUMNS, [300, 200, 100]
    )
    assert texts[0].name == "Design-focused SUV shoppers, high budget, returning"
    assert texts[1].name == "Price-conscious hatchback shoppers, exploring finance, tight budget"
    assert texts[2].name == "All-round shoppers"
    assert texts[0].description.startswith("300 profiles (50% of those clustered).")
    assert "60% of their configurator attention on design (all: 30%)" in texts[0].description
    assert "€55k" in texts[0].description
    assert texts[2].description.endswith("Close to the average on every feature.")
    assert texts[0].z["design_share"] == pytest.approx(3.0)


def test_names_are_unique_within_a_run() -> None:
    mean = centroid(design_share=0.3, sessions=2, price_k=45)
    std = centroid(**dict.fromkeys(COLUMNS, 0.1))
    quiet = mean + centroid(design_share=0.3, price_k=0.3, sessions=0.2, recency_days=0.1)
    active = mean + centroid(design_share=0.3, price_k=0.3, sessions=0.2, recency_days=-0.1)
    texts = name_segments(np.stack([quiet, active, quiet]), mean, std, COLUMNS, [1, 1, 1])
    base = "Design-focused shoppers, high budget, returning"
    assert [text.name for text in texts] == [
        f"{base}, gone quiet (1)",
        f"{base}, recently active",  # a third qualifier tells it apart
        f"{base}, gone quiet (2)",  # nothing does: numbered
    ]


def test_a_description_of_one_reads_in_the_singular() -> None:
    """The description is shown on the segment cards: "1 profile", "last seen 1 day ago"."""
    mean = centroid(recency_days=30, configurator_events=20, sessions=2)
    std = centroid(**dict.fromkeys(COLUMNS, 1.0)) + 5
    recent = centroid(recency_days=1.2, configurator_events=1, sessions=2)
    [text] = name_segments(np.stack([recent]), mean, std, COLUMNS, [1])
    assert text.description.startswith("1 profile (100% of those clustered).")
    assert "last seen 1 day ago on average (all: 30)" in text.description
    assert "1 configurator click each (all: 20)" in text.description


# --- runs on the demo data ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def demo_engine(db_kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A fresh database with the demo customers, loaded through the real ingest path."""
    url = fresh_database_url(db_kind, tmp_path_factory.mktemp("segments"), "segments_demo")
    engine = make_engine(url)
    try:
        upgrade(engine)
        load_demo(engine, customers=DEMO_CUSTOMERS, seed=DEMO_SEED)
        yield engine
    finally:
        engine.dispose()
        drop_database(url)


@pytest.fixture(scope="module")
def demo_run(demo_engine: Engine) -> service.RunStatus:
    """A run with the number of segments chosen automatically, as `cdp segments build` does."""
    seen: list[tuple[float, str]] = []
    status = job.run_now(
        make_sessionmaker(demo_engine),
        created_by="cli",
        seed=5,
        progress=lambda fraction, stage: seen.append((fraction, stage)),
    )
    fractions = [fraction for fraction, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert {"aggregating configurator events", "clustering into 4 segments"} <= {s for _, s in seen}
    return status


def planted_groups(session: Session, run_id: int) -> tuple[list[str], list[int]]:
    """The planted group and the segment of every clustered demo customer, from the database."""
    rows = session.execute(
        select(ProfileTrait.value, Segment.number)
        .join(SegmentMembership, SegmentMembership.profile_id == ProfileTrait.profile_id)
        .join(Segment, Segment.id == SegmentMembership.segment_id)
        .where(SegmentMembership.run_id == run_id, ProfileTrait.name == "demo_group")
    ).all()
    return [str(group) for group, _ in rows], [number for _, number in rows]


def test_the_planted_groups_are_recovered(demo_engine: Engine, demo_run: service.RunStatus) -> None:
    assert demo_run.status == "done" and demo_run.progress == 1.0
    with make_sessionmaker(demo_engine)() as session:
        groups, segments = planted_groups(session, demo_run.id)
        memberships = session.scalar(
            select(func.count()).where(SegmentMembership.run_id == demo_run.id)
        )
    assert len(groups) > 0.85 * DEMO_CUSTOMERS  # nearly every customer is clustered
    ari = adjusted_rand_score(groups, segments)
    print(f"adjusted Rand index against the planted groups: {ari:.3f}")
    assert ari >= 0.6
    assert K_RANGE[0] <= demo_run.segments <= K_RANGE[1]
    assert demo_run.quality["k_chosen_automatically"] is True
    assert memberships == demo_run.profiles == sum(demo_run.quality["sizes"])


def test_a_run_stores_segments_quality_and_summaries(
    demo_engine: Engine, demo_run: service.RunStatus
) -> None:
    quality = demo_run.quality
    assert quality["silhouette"] > 0
    assert set(quality["silhouette_by_k"]) == {str(k) for k in range(3, 11)}
    assert set(quality["feature_means"]) == set(COLUMNS)
    assert set(quality["timings"]) == {"features_s", "clustering_s", "storing_s", "summaries_s"}
    assert demo_run.parameters["seed"] == 5 and demo_run.parameters["k"] is None
    assert demo_run.created_by == "cli" and demo_run.finished_at is not None
    with make_sessionmaker(demo_engine)() as session:
        segments = service.list_segments(session, demo_run.id)
    assert [s.number for s in segments] == list(range(1, demo_run.segments + 1))
    assert len({s.name for s in segments}) == len(segments)
    assert sorted((s.size for s in segments), reverse=True) == [s.size for s in segments]
    focuses = {s.name.split(" ")[0] for s in segments}
    assert focuses == {"Design-focused", "Performance-focused", "Comfort-and-safety-minded",
                       "Price-conscious"}  # fmt: skip
    for segment in segments:
        assert segment.description.startswith(f"{segment.size} profiles")
        features = segment.profile["features"]
        assert set(features) == set(COLUMNS)
        assert features["design_share"]["overall"] == pytest.approx(
            quality["feature_means"]["design_share"], abs=1e-3
        )
        summary = segment.summary
        assert summary["models"] and summary["colours"] and summary["body_types"]
        assert all(colour["hex"].startswith("#") for colour in summary["colours"])
        assert 0 < summary["email_consent"]["share"] < 1
        assert segment.growth is None  # the first run has nothing to compare with


def test_objecting_profiles_have_no_segment(
    demo_engine: Engine, demo_run: service.RunStatus
) -> None:
    with make_sessionmaker(demo_engine)() as session:
        withdrawn = set(
            session.scalars(
                select(Consent.profile_id).where(
                    Consent.purpose == "tracking", Consent.status == "withdrawn"
                )
            )
        )
        assert withdrawn, "the demo has customers who switch tracking off"
        assert demo_run.quality["objecting_left_out"] == len(withdrawn)
        for profile_id in withdrawn:
            assert service.current_segment(session, profile_id) is None


def test_the_customer_page_shows_the_current_segment_and_renames_stick(
    demo_engine: Engine, demo_run: service.RunStatus
) -> None:
    factory = make_sessionmaker(demo_engine)
    with session_scope(factory) as session:
        member = session.execute(
            select(SegmentMembership.profile_id, Segment)
            .join(Segment, Segment.id == SegmentMembership.segment_id)
            .where(SegmentMembership.run_id == demo_run.id)
            .limit(1)
        ).one()
        profile_id, segment = member[0], member[1]
        shown = service.current_segment(session, profile_id)
        assert shown is not None
        assert (shown.run_id, shown.segment_id, shown.name) == (
            demo_run.id,
            segment.id,
            segment.name,
        )
        renamed = service.rename_segment(session, segment.id, "  Our  weekend   browsers ")
        assert renamed.name == "Our weekend browsers" and renamed.generated_name == segment.name
    with session_scope(factory) as session:
        shown = service.current_segment(session, profile_id)
        assert shown is not None and shown.name == "Our weekend browsers"
        with pytest.raises(InvalidInput):
            service.rename_segment(session, segment.id, "x" * 201)
        assert service.rename_segment(session, segment.id, "").name == segment.name
        assert service.current_segment(session, uuid.uuid4()) is None


def test_a_run_in_the_background_becomes_current_and_reports_growth(
    demo_engine: Engine, demo_run: service.RunStatus
) -> None:
    factory = make_sessionmaker(demo_engine)
    run_id = job.start_run(factory, created_by="Mara Jansen", k=5, seed=9)
    polled: list[service.RunStatus] = []
    while not job.wait(run_id, timeout=0.05):
        with factory() as session:
            polled.append(service.run_status(session, run_id))
    with factory() as session:
        status = service.run_status(session, run_id)
        assert status.status == "done", status.error
        assert status.segments == 5 and status.parameters["k"] == 5
        assert all(0 <= p.progress <= 1 for p in polled)
        assert {p.status for p in polled} <= {"queued", "running", "done"}
        current = service.current_run(session)
        assert current is not None and current.id == run_id
        segments = service.list_segments(session)
        assert {s.run_id for s in segments} == {run_id}
        previous_ids = {s.id for s in service.list_segments(session, demo_run.id)}
        for segment in segments:
            assert segment.growth is not None
            assert segment.growth.previous_run_id == demo_run.id
            assert segment.growth.previous_segment_id in previous_ids
            assert segment.growth.change == segment.size - segment.growth.previous_size
        assert [r.id for r in service.list_runs(session)][:2] == [run_id, demo_run.id]


def test_one_run_at_a_time(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as session:
        first = service.create_run(session, created_by="cli")
        with pytest.raises(Conflict, match=f"run {first.id} is still queued"):
            service.create_run(session, created_by="cli")
        with pytest.raises(InvalidInput, match="between 2 and 20"):
            service.create_run(session, created_by="cli", k=1)


def test_a_failed_run_records_its_error_and_stores_nothing(
    session_factory: sessionmaker[Session],
) -> None:
    # The test database holds no behaviour at all: too few profiles to cluster.
    with pytest.raises(InvalidInput, match="only 0 profiles"):
        job.run_now(session_factory, created_by="cli", k=3)
    with session_factory() as session:
        run = session.scalars(select(SegmentRun).order_by(SegmentRun.id.desc())).first()
        assert run is not None and run.status == "failed"
        assert run.error is not None and run.error.startswith("only 0 profiles")
        assert run.finished_at is not None
        assert session.scalar(select(func.count()).where(Segment.run_id == run.id)) == 0
        assert service.current_run(session) is None
