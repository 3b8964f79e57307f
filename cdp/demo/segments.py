"""The demo's segments: built as the last step of loading it (`cdp demo`, `cdp serve --demo`), so
the segments pages, the audience builder and every customer page have them from the first start.

It is an ordinary segmentation run (as `cdp segments build` makes), created by "demo"; loading the
demo again builds a new one from what is there now. Too few customers to cluster, or a run under
way elsewhere, is said in one line and the demo is loaded without segments.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from sqlalchemy import Engine

from cdp.db import make_sessionmaker, session_scope
from cdp.errors import CdpError
from cdp.text import counted
from segmentation import job, service


def segments_missing(engine: Engine) -> bool:
    """True when no segmentation run has finished yet (a demo loaded before segments were)."""
    with session_scope(make_sessionmaker(engine)) as session:
        return service.current_run(session) is None


class _StageLines:
    """Progress as a line per stage (`segments  50%  clustering into 4 segments`): readable in a
    terminal and in a log alike, unlike a bar redrawn in place."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.last = ""

    def __call__(self, progress: float, stage: str) -> None:
        if stage == self.last:
            return
        self.last = stage
        self.stream.write(f"segments {100 * progress:4.0f}%  {stage}\n")
        self.stream.flush()


def build_demo_segments(engine: Engine, *, progress: bool = False, seed: int = 0) -> str:
    """Cluster the loaded customers into segments; a one-line summary of what was built."""
    started = time.perf_counter()
    factory = make_sessionmaker(engine)
    lines = _StageLines(sys.stderr) if progress else None
    if lines:
        lines.stream.write("building behavioural segments of the demo customers\n")
    try:
        status = job.run_now(factory, created_by="demo", seed=seed, progress=lines)
    except CdpError as error:
        return f"segments not built: {error.message}"
    return (
        f"segments: {counted(status.profiles, 'profiles')} in "
        f"{counted(status.segments, 'segments')} in {time.perf_counter() - started:.1f} s "
        f"(run {status.id}, see /segments)"
    )
