"""`cdp export --audience NAME | --segment NAME -o FILE`: the CSV for e-mail tools, from the
command line. cdp.cli mounts it as a command:

    @app.command("export")
    def export(...) -> None:
        from segmentation.export_cli import export_command
        export_command(audience, segment, output)

Errors are CdpError (unknown name, neither or both of --audience and --segment, an output that
cannot be written), which `cdp.cli.main` prints as one line with a non-zero exit. The export is
recorded in the export log with exported_by "cli". The file is written next to its destination
and moved into place when complete and logged, so a failed export leaves no half-written file
behind; like any file of personal data it is readable by its owner only (mode 600).
"""

from __future__ import annotations

import os
from pathlib import Path

import typer

from cdp.errors import InvalidInput
from cdp.output import cannot_write, check_output, private_partial
from cdp.text import counted

EXPORTED_BY = "cli"


def export_command(audience: str | None, segment: str | None, output: Path) -> None:
    """Export the contactable profiles of a saved audience or a current segment to `output`."""
    from cdp.config import get_settings
    from cdp.db import make_engine, make_sessionmaker, session_scope
    from cdp.migrate import upgrade
    from segmentation import audiences, export

    if (audience is None) == (segment is None):
        raise InvalidInput("give one of --audience NAME or --segment NAME")
    check_output(output)  # before the database: an output we cannot write fails at once
    handle, partial = private_partial(output)  # mode 600
    settings = get_settings()
    engine = make_engine(settings.database_url, pool_size=settings.db_pool_size)
    out = os.fdopen(handle, "w", encoding="utf-8", newline="")
    try:
        upgrade(engine)
        # The log entry is committed before the file appears: no export goes unrecorded.
        with session_scope(make_sessionmaker(engine)) as session:
            if audience is not None:
                target = export.audience_target(session, audiences.find_audience(session, audience))
            else:
                target = export.segment_target(session, export.find_segment(session, segment or ""))
            rows = export.export_to_file(session, target, out, exported_by=EXPORTED_BY)
            out.close()
        os.replace(partial, output)
    except BaseException as error:
        out.close()
        partial.unlink(missing_ok=True)
        if isinstance(error, OSError):  # the disk filled up, the file could not be moved in
            raise cannot_write(output, error) from None
        raise
    finally:
        engine.dispose()
    for note in target.notes:
        typer.echo(f"note: {note}", err=True)
    typer.echo(f"exported {counted(rows, 'rows')} to {output}")
