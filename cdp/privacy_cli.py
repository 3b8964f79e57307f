"""`cdp profile export|erase|split`, `cdp suppression lift`, `cdp secret rotate` and `cdp retention
run`: a person's data and its protection, from the command line (docs/privacy.md)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from cdp.cli_support import migrated_engine
from cdp.config import get_settings
from cdp.db import make_sessionmaker, session_scope
from cdp.errors import CdpError
from cdp.output import cannot_write, check_output, private_partial
from cdp.text import counted

profile_app = typer.Typer(
    help="One person's data: a copy of all of it (GDPR art. 15), or its erasure (art. 17); "
    "undoing a wrong merge.",
    no_args_is_help=True,
)


secret_app = typer.Typer(
    help="The installation's secret key (keyed hashes of erased people's identifiers).",
    no_args_is_help=True,
)


suppression_app = typer.Typer(
    help="Erased people stay erased: their identifiers keep their messages out.",
    no_args_is_help=True,
)


retention_app = typer.Typer(
    help="Deleting what has been kept long enough (periods: CDP_RETENTION_* settings).",
    no_args_is_help=True,
)


@profile_app.command("export")
def profile_export(
    who: Annotated[str, typer.Argument(metavar="PROFILE", help=WHO_HELP)],
    output: Annotated[Path, typer.Option("--output", "-o", help="The JSON file to write")],
    by: Annotated[str, typer.Option(help="Who asks for the copy, for the audit trail")] = (
        "command line"
    ),
) -> None:
    """Write everything stored about one person to a JSON file (a subject access request)."""
    import json

    from cdp.audit.service import record
    from cdp.models import utcnow
    from cdp.profiles.erasure import find_person
    from cdp.profiles.subject_access import person_data

    check_output(output)  # before the database: an output we cannot write fails at once
    # Mode 600, like `cdp export`: this is all of one person's data.
    handle, partial = private_partial(output)
    out = os.fdopen(handle, "w", encoding="utf-8")
    try:
        engine = migrated_engine(get_settings())
        try:
            with session_scope(make_sessionmaker(engine)) as session:
                person = find_person(session, who)
                data = person_data(session, person, now=utcnow())
                record(
                    session, "subject_access", actor=by, profile_id=person.profile_id,
                    detail="command line",
                )  # fmt: skip
        finally:
            engine.dispose()
    except BaseException:
        out.close()
        partial.unlink(missing_ok=True)
        raise
    try:
        with out:
            out.write(json.dumps(data, indent=2, ensure_ascii=False))
        os.replace(partial, output)  # a whole file or none
    except OSError as error:  # the disk filled up, the file could not be moved in
        partial.unlink(missing_ok=True)
        raise cannot_write(output, error) from None
    counts = ", ".join(
        counted(len(value), "views" if key == "viewed_by" else key.replace("_", " "))
        for key, value in data.items()
        if isinstance(value, list) and value and key != "merged_profile_ids"
    )
    typer.echo(f"wrote {output}: profile {person.profile_id} ({counts})")


@profile_app.command("erase")
def profile_erase(
    who: Annotated[str, typer.Argument(metavar="PROFILE", help=WHO_HELP)],
    reason: Annotated[
        str, typer.Option(help="Why, for the record, e.g. 'request by e-mail of 2026-11-20'")
    ],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation")] = False,
    by: Annotated[str, typer.Option(help="Who carries it out, for the record")] = "command line",
) -> None:
    """Erase everything stored about one person (events, identifiers, traits, consent, leads,
    notes, ...), keeping only a record that the erasure happened. Cannot be undone."""
    from cdp.profiles.erasure import describe, erase, find_person

    engine = migrated_engine(get_settings())
    with session_scope(make_sessionmaker(engine)) as session:
        person = find_person(session, who)
        if not yes:
            if not sys.stdin.isatty():
                raise CdpError(
                    "add --yes to erase without being asked (standard input is not a terminal)"
                )
            merged = f" and {len(person.absorbed)} merged profiles" if person.absorbed else ""
            if not typer.confirm(f"Erase profile {person.profile_id}{merged} for good?"):
                raise CdpError("nothing erased")
        record = erase(session, person, erased_by=by, reason=reason)
        typer.echo(f"profile {person.profile_id} {describe(record)}")
    engine.dispose()


@profile_app.command("split")
def profile_split(
    profile_id: Annotated[str, typer.Argument(help="The profile id (either side of the merge)")],
    merge_id: Annotated[int, typer.Argument(help="The merge's id (the profile API's merges)")],
    reason: Annotated[str, typer.Option(help="Why the merge was wrong, for the record")],
    by: Annotated[str, typer.Option(help="Who carries it out, for the record")] = "command line",
) -> None:
    """Undo a wrong merge: the absorbed profile gets back its events, identifiers,
    configurations, consent, leads and notes, and is a customer of its own again."""
    import uuid

    from cdp.models import utcnow
    from cdp.profiles.split import split_merge

    try:
        pid = uuid.UUID(profile_id.strip())
    except ValueError:
        raise CdpError(f"{profile_id!r} is not a profile id") from None
    engine = migrated_engine(get_settings())
    with session_scope(make_sessionmaker(engine)) as session:
        counts = split_merge(session, pid, merge_id, split_by=by, reason=reason, now=utcnow())
    engine.dispose()
    moved = ", ".join(f"{n} {table.replace('_', ' ')} rows" for table, n in counts.items())
    typer.echo(f"merge {merge_id} split: {moved or 'no rows moved back'}")


@retention_app.command("run")
def retention_run(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what is due, delete nothing")
    ] = False,
    batch_size: Annotated[
        int, typer.Option(min=1, max=100_000, help="Rows deleted per transaction")
    ] = 2000,
) -> None:
    """Delete anonymous events, idle leads, refused messages and audit records older than their
    retention periods; one line per kind. Meant to run daily (docs/privacy.md)."""
    from cdp.models import utcnow
    from cdp.retention.service import run

    settings = get_settings()
    engine = migrated_engine(settings)

    def progress(kind: str, deleted: int, due: int) -> None:
        if due > batch_size:  # only runs of several batches say how far they are
            typer.echo(f"{kind}: {deleted:,} of {due:,} deleted", err=True)

    try:
        outcomes = run(
            make_sessionmaker(engine),
            settings,
            now=utcnow(),
            dry_run=dry_run,
            batch=batch_size,
            progress=progress,
        )
    finally:
        engine.dispose()
    for outcome in outcomes:
        if outcome.days == 0:
            typer.echo(f"{outcome.kind}: kept forever (retention period 0)")
        elif dry_run:
            typer.echo(
                f"{outcome.kind}: {outcome.due:,} older than {outcome.days} days would be deleted"
            )
        else:
            typer.echo(
                f"{outcome.kind}: {outcome.deleted:,} older than {outcome.days} days deleted"
            )


@secret_app.command("rotate")
def secret_rotate() -> None:
    """Make a new secret key current. Older keys are kept while suppression entries hashed with
    them remain (they are re-hashed when their identifier is seen again), then deleted."""
    from cdp.secret_keys import rotate

    engine = migrated_engine(get_settings())
    with session_scope(make_sessionmaker(engine)) as session:
        done = rotate(session)
    engine.dispose()
    kept = ", ".join(
        f"version {v} ({counted(n, 'suppression entries')})" for v, n in done.still_used.items()
    )
    typer.echo(
        f"secret key version {done.version} is current; "
        + (f"kept {kept}" if kept else "no older version is needed")
        + (f"; deleted {counted(done.pruned, 'unused versions')}" if done.pruned else "")
    )


@suppression_app.command("lift")
def suppression_lift(
    identifier: Annotated[
        str, typer.Argument(help="The person's e-mail address, phone number or userId")
    ],
    reason: Annotated[
        str,
        typer.Option(help="Why, without personal data, e.g. 'consent by signed form 2026-12-01'"),
    ],
    by: Annotated[str, typer.Option(help="Who records it")] = "command line",
) -> None:
    """The erased person came back and agreed again: their new messages are stored again (a
    new profile; messages dated before the erasure stay out)."""
    from cdp.identity.identifiers import Identifier, normalise_email, normalise_id, normalise_phone
    from cdp.models import utcnow
    from cdp.profiles.suppression import lift

    settings = get_settings()
    reason = reason.strip()
    if not reason:
        raise CdpError("say why with --reason (e.g. 'consent by signed form 2026-12-01')")
    text = identifier.strip()
    candidates = [Identifier("user_id", normalise_id(text))]
    if (email := normalise_email(text)) is not None:
        candidates.append(Identifier("email", email))
    if (phone := normalise_phone(text, settings.default_phone_region)) is not None:
        candidates.append(Identifier("phone", phone))
    engine = migrated_engine(settings)
    with session_scope(make_sessionmaker(engine)) as session:
        lifted = lift(session, candidates, now=utcnow(), by=by, reason=reason)
    engine.dispose()
    typer.echo(f"suppression lifted ({counted(lifted, 'identifiers')}): new messages are stored")


WHO_HELP = "The profile id (from the customer page's address) or the person's e-mail address"
