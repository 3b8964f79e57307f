"""`cdp segments build`, run as a real subprocess against a fresh SQLite file with demo data.

Covers: a build with the number of segments chosen automatically exits 0, draws a progress bar
on stderr and prints the run, its segments and how many objecting profiles were left out; the
same data and seed give the same segments, with --k fixing their number; a bad --k and a
database with nothing to cluster are one-line errors with a non-zero exit and no traceback.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func, select

from cdp.db import make_engine, make_sessionmaker
from cdp.demo.loader import load_demo
from cdp.migrate import upgrade
from cdp.models import SegmentMembership, SegmentRun

ROOT = Path(__file__).resolve().parents[1]
CDP = Path(sys.executable).parent / "cdp"
CUSTOMERS = 150
SEGMENT_LINE = re.compile(r"^ +\d+\. (.+): (\d+) \(\d+%\)$", re.MULTILINE)


@dataclass
class Result:
    code: int
    out: str
    err: str


def run_cdp(*args: str, database_url: str, cwd: Path) -> Result:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDP_")}
    env["CDP_DATABASE_URL"] = database_url
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    done = subprocess.run(
        [str(CDP), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=180
    )
    return Result(done.returncode, done.stdout, done.stderr)


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('segments_cli') / 'demo.sqlite3'}"
    engine = make_engine(url)
    upgrade(engine)
    load_demo(engine, customers=CUSTOMERS, seed=3)
    engine.dispose()
    return url


def test_build_chooses_the_number_of_segments_and_reports_progress(
    demo_url: str, tmp_path: Path
) -> None:
    result = run_cdp("segments", "build", "--seed", "4", database_url=demo_url, cwd=tmp_path)
    assert result.code == 0, result.err
    assert "Traceback" not in result.err
    assert re.search(r"\[#{30}\] 100%", result.err), result.err
    assert "aggregating configurator events" in result.err
    summary = re.search(
        r"^run (\d+): (\d+) profiles in (\d+) segments \(chosen automatically\), "
        r"silhouette 0\.\d\d$",
        result.out,
        flags=re.MULTILINE,
    )
    assert summary, result.out
    run_id, profiles, segments = (int(group) for group in summary.groups())
    listed = SEGMENT_LINE.findall(result.out)
    assert 3 <= segments <= 10 and len(listed) == segments
    assert sum(int(size) for _, size in listed) == profiles
    assert len({name for name, _ in listed}) == segments

    engine = make_engine(demo_url)
    with make_sessionmaker(engine)() as session:
        run = session.get(SegmentRun, run_id)
        assert run is not None and run.status == "done" and run.created_by == "cli"
        stored = session.scalar(select(func.count()).where(SegmentMembership.run_id == run_id))
        assert stored == profiles
        left_out = run.quality["objecting_left_out"]
    engine.dispose()
    if left_out:
        assert f"{left_out} profiles that objected to profiling were left out" in result.out


def test_the_same_seed_and_k_give_the_same_segments(demo_url: str, tmp_path: Path) -> None:
    first = run_cdp("segments", "build", "--k", "4", "--seed", "11", database_url=demo_url,
                    cwd=tmp_path)  # fmt: skip
    again = run_cdp("segments", "build", "--k", "4", "--seed", "11", database_url=demo_url,
                    cwd=tmp_path)  # fmt: skip
    assert first.code == again.code == 0, first.err + again.err
    assert "in 4 segments (fixed)" in first.out
    assert SEGMENT_LINE.findall(first.out) == SEGMENT_LINE.findall(again.out)


@pytest.mark.parametrize("k", ["1", "21"])
def test_a_bad_k_is_a_one_line_error(demo_url: str, tmp_path: Path, k: str) -> None:
    result = run_cdp("segments", "build", "--k", k, database_url=demo_url, cwd=tmp_path)
    assert result.code != 0
    assert result.err.strip() == f"error: the number of segments must be between 2 and 20, not {k}"
    assert result.out == ""


def test_nothing_to_cluster_is_a_one_line_error(tmp_path: Path) -> None:
    empty = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    result = run_cdp("segments", "build", database_url=empty, cwd=tmp_path)
    assert result.code != 0
    last = result.err.strip().splitlines()[-1]  # after the progress bar
    assert last == "error: only 0 profiles have enough behaviour to cluster; at least 30 are needed"
    assert "Traceback" not in result.err
