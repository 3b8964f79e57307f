"""`cdp segments ...`: build segments from the command line. Mounted by cdp.cli as

    from segmentation.cli import segments_app
    app.add_typer(segments_app, name="segments")

Errors (CdpError) are raised, and `cdp.cli.main` prints them as one line with a non-zero exit.
"""

from __future__ import annotations

import sys
import time
from typing import Annotated, TextIO

import typer

from cdp.text import counted, plural

segments_app = typer.Typer(help="Behavioural segments of customers.", no_args_is_help=True)

_BAR_WIDTH = 30


class _ProgressBar:
    """A one-line bar on stderr, redrawn in place: `[#####.....]  48%  clustering ...`."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.started = time.perf_counter()
        self.width = 0

    def __call__(self, progress: float, stage: str) -> None:
        filled = int(_BAR_WIDTH * min(max(progress, 0.0), 1.0))
        line = f"\r[{'#' * filled}{'.' * (_BAR_WIDTH - filled)}] {100 * progress:3.0f}%  {stage}"
        self.stream.write(line.ljust(self.width))
        self.width = len(line)
        self.stream.flush()

    def finish(self) -> None:
        self.stream.write("\n")
        self.stream.flush()


@segments_app.command("build")
def build(
    k: Annotated[
        int | None,
        typer.Option("--k", help="Number of segments (2-20); chosen automatically if omitted"),
    ] = None,
    seed: Annotated[
        int, typer.Option(help="Random seed: the same data and seed give the same segments")
    ] = 0,
) -> None:
    """Cluster the profiles into behavioural segments and store them as a new run."""
    from cdp.config import get_settings
    from cdp.db import make_engine, make_sessionmaker
    from cdp.migrate import upgrade
    from segmentation import job, service

    service.check_parameters(k=k, seed=seed)  # before connecting: a typo fails at once
    settings = get_settings()
    engine = make_engine(settings.database_url, pool_size=settings.db_pool_size)
    upgrade(engine)
    bar = _ProgressBar(sys.stderr)
    try:
        status = job.run_now(
            make_sessionmaker(engine), created_by="cli", k=k, seed=seed, progress=bar
        )
    finally:
        bar.finish()
    quality = status.quality
    silhouette = quality.get("silhouette")
    how = "chosen automatically" if quality.get("k_chosen_automatically") else "fixed"
    profiles = f"{status.profiles} {plural(status.profiles, 'profile')}"
    summary = f"run {status.id}: {profiles} in {counted(status.segments, 'segments')} ({how})"
    if silhouette is not None:
        summary += f", silhouette {silhouette:.2f}"
    typer.echo(summary)
    with make_sessionmaker(engine)() as session:
        for segment in service.list_segments(session, status.id):
            share = f"{segment.share:.0%}"
            typer.echo(f"  {segment.number:2d}. {segment.name}: {segment.size} ({share})")
    left_out = quality.get("objecting_left_out", 0)
    if left_out:
        were = "was" if left_out == 1 else "were"
        typer.echo(f"{counted(left_out, 'profiles')} that objected to profiling {were} left out")
    engine.dispose()
