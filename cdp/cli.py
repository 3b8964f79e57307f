"""The `cdp` command: serve, load demo data, migrate, create sources and tokens."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError, SQLAlchemyError

# typer (pinned) carries its own copy of click; its usage errors are only importable from here.
from typer._click.exceptions import NoArgsIsHelpError, UsageError

from cdp.config import Settings, SettingsError, get_settings
from cdp.db import make_engine, make_sessionmaker, session_scope
from cdp.dealers.cli import dealer_app
from cdp.errors import CdpError
from cdp.output import cannot_write, check_output, private_partial
from cdp.text import counted

app = typer.Typer(
    help="Customer data platform for car retail: configurator and showroom events, one profile.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
source_app = typer.Typer(
    help="Event sources (websites, showroom tablets) and their write keys.", no_args_is_help=True
)
token_app = typer.Typer(help="API tokens for staff apps reading profiles.", no_args_is_help=True)
user_app = typer.Typer(help="Staff accounts for the showroom pages.", no_args_is_help=True)
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
app.add_typer(db_app, name="db")
app.add_typer(dealer_app, name="dealer")
app.add_typer(retention_app, name="retention")
app.add_typer(secret_app, name="secret")
app.add_typer(suppression_app, name="suppression")
app.add_typer(user_app, name="user")


def _mount_segments() -> None:
    from segmentation.cli import segments_app

    app.add_typer(segments_app, name="segments")


_mount_segments()
app.add_typer(source_app, name="source")
app.add_typer(token_app, name="token")
app.add_typer(profile_app, name="profile")


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=1)


def _engine(settings: Settings) -> Engine:
    return make_engine(settings.database_url, pool_size=settings.db_pool_size)


def _migrated_engine(settings: Settings) -> Engine:
    from cdp.migrate import upgrade

    engine = _engine(settings)
    upgrade(engine)
    return engine


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply pending migrations to CDP_DATABASE_URL (creates an SQLite file if needed)."""
    settings = get_settings()
    _migrated_engine(settings).dispose()
    typer.echo("database is up to date")


@source_app.command("create")
def source_create(
    name: Annotated[str, typer.Argument(help="A name people recognise, e.g. 'Brand configurator'")],
    kind: Annotated[
        str, typer.Option(help="web (a website) or showroom (tablets in a dealership)")
    ],
    origin: Annotated[
        list[str] | None,
        typer.Option(
            help="Browser origin allowed to send (CORS), e.g. https://www.example.com; "
            "repeat for several"
        ),
    ] = None,
) -> None:
    """Register a source and print its write key (shown once; only a hash is stored)."""
    from cdp.auth.service import create_source

    engine = _migrated_engine(get_settings())
    with session_scope(make_sessionmaker(engine)) as session:
        source, key = create_source(session, name=name, kind=kind, origins=origin or [])
        typer.echo(f"source {source.name!r} ({source.kind}) created")
    typer.echo(f"write key (shown once, keep it safe): {key}")
    engine.dispose()


# Running servers keep a source for up to this long after it changes (cdp.auth.service).
_SOURCE_CACHE_NOTE = "running servers follow within 30 seconds"


@source_app.command("list")
def source_list() -> None:
    """List the sources: name, kind, whether active, allowed browser origins."""
    from cdp.auth.service import all_sources

    engine = _migrated_engine(get_settings())
    with session_scope(make_sessionmaker(engine)) as session:
        sources = all_sources(session)
        if not sources:
            typer.echo("no sources yet (create one: cdp source create NAME --kind web)")
        for source in sources:
            state = "active" if source.active else "deactivated"
            origins = ", ".join(source.origins) or "no browser origins"
            typer.echo(
                f"{source.name}  ({source.kind}, {state}, created "
                f"{source.created_at:%Y-%m-%d})  {origins}"
            )
    engine.dispose()


@source_app.command("deactivate")
def source_deactivate(
    name: Annotated[str, typer.Argument(help="The source's name (see: cdp source list)")],
) -> None:
    """Stop accepting events with this source's write key (its stored events stay)."""
    from cdp.auth.service import set_source_active

    engine = _migrated_engine(get_settings())
    with session_scope(make_sessionmaker(engine)) as session:
        source = set_source_active(session, name, active=False)
        typer.echo(f"source {source.name!r} deactivated; running servers refuse its key at once")
    engine.dispose()


@source_app.command("activate")
def source_activate(
    name: Annotated[str, typer.Argument(help="The source's name (see: cdp source list)")],
) -> None:
    """Accept events with this source's write key again."""
    from cdp.auth.service import set_source_active

    engine = _migrated_engine(get_settings())
    with session_scope(make_sessionmaker(engine)) as session:
        source = set_source_active(session, name, active=True)
        typer.echo(f"source {source.name!r} activated; {_SOURCE_CACHE_NOTE}")
    engine.dispose()


@source_app.command("rotate-key")
def source_rotate_key(
    name: Annotated[str, typer.Argument(help="The source's name (see: cdp source list)")],
) -> None:
    """Give the source a new write key and print it; the old key stops working."""
    from cdp.auth.service import rotate_write_key

    engine = _migrated_engine(get_settings())
    with session_scope(make_sessionmaker(engine)) as session:
        source, key = rotate_write_key(session, name)
        typer.echo(f"source {source.name!r} has a new write key; the old one is refused at once")
    typer.echo(f"write key (shown once, keep it safe): {key}")
    engine.dispose()


@source_app.command("origins")
def source_origins(
    name: Annotated[str, typer.Argument(help="The source's name (see: cdp source list)")],
    origin: Annotated[
        list[str] | None,
        typer.Option(
            help="Browser origin allowed to send, e.g. https://www.example.com; "
            "repeat for several; none: browsers may not send"
        ),
    ] = None,
) -> None:
    """Replace the browser origins allowed to send with this source's write key."""
    from cdp.auth.service import set_source_origins

    engine = _migrated_engine(get_settings())
    with session_scope(make_sessionmaker(engine)) as session:
        source = set_source_origins(session, name, origin or [])
        allowed = ", ".join(source.origins) or "no browser origins"
        typer.echo(f"source {source.name!r} now allows {allowed}; {_SOURCE_CACHE_NOTE}")
    engine.dispose()


@token_app.command("list")
def token_list() -> None:
    """List the API tokens: id, name, role, whether active (the secrets are not stored)."""
    from cdp.auth.service import all_tokens

    engine = _migrated_engine(get_settings())
    with session_scope(make_sessionmaker(engine)) as session:
        tokens = all_tokens(session)
        if not tokens:
            typer.echo("no API tokens yet (create one: cdp token create NAME --role sales)")
        for token in tokens:
            state = "active" if token.active else "revoked"
            typer.echo(
                f"{token.id}  {token.name}  ({token.role}, {state}, created "
                f"{token.created_at:%Y-%m-%d})"
            )
    engine.dispose()


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[
        int, typer.Argument(metavar="ID", help="The token's id (see: cdp token list)")
    ],
) -> None:
    """Revoke an API token at once: requests with it are refused from now on."""
    from cdp.auth.service import revoke_token

    engine = _migrated_engine(get_settings())
    with session_scope(make_sessionmaker(engine)) as session:
        token = revoke_token(session, token_id)
        typer.echo(f"token {token.id} ({token.name!r}) revoked")
    engine.dispose()


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Argument(help="Who uses it, e.g. 'Showroom app Utrecht'")],
    role: Annotated[
        str, typer.Option(help="sales, reception, delivery, marketing, manager or admin")
    ],
    dealer: Annotated[
        str | None,
        typer.Option(help="The dealer whose data it reads (none: the whole network)"),
    ] = None,
) -> None:
    """Create an API token for the read API and print it (shown once; only a hash is stored)."""
    from cdp.auth.service import create_token

    engine = _migrated_engine(get_settings())
    with session_scope(make_sessionmaker(engine)) as session:
        token, secret = create_token(session, name=name, role=role, dealer=dealer)
        scope = f"dealer {dealer.strip().upper()}" if dealer else "the whole network"
        typer.echo(f"token {token.name!r} with role {token.role} for {scope} created")
    typer.echo(f"API token (shown once, send as 'Authorization: Bearer ...'): {secret}")
    engine.dispose()


@user_app.command("create")
def user_create(
    email: Annotated[str, typer.Argument(help="The staff member's e-mail address (their login)")],
    role: Annotated[
        str, typer.Option(help="sales, reception, delivery, marketing, manager or admin")
    ],
    name: Annotated[str | None, typer.Option(help="Full name shown in the app")] = None,
    dealer: Annotated[
        list[str] | None,
        typer.Option(
            help="The code of a dealer they work at; repeat for several. Sales, reception and "
            "delivery need one when the network has several dealers; a manager or admin "
            "without one works for the whole network"
        ),
    ] = None,
) -> None:
    """Create a staff account. The password is asked for (or read from standard input)."""
    from cdp.auth.staff import create_user
    from cdp.dealers.service import dealer_codes_by_user

    if sys.stdin.isatty():
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    engine = _migrated_engine(get_settings())
    with session_scope(make_sessionmaker(engine)) as session:
        user = create_user(
            session, email=email, role=role, name=name, password=password, dealers=dealer or []
        )
        codes = dealer_codes_by_user(session, [user.id])[user.id]
        where = f"at {', '.join(codes)}" if codes else "for the whole network"
        typer.echo(f"staff user {user.email} ({user.role}) created, working {where}")
    engine.dispose()


WHO_HELP = "The profile id (from the customer page's address) or the person's e-mail address"


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
        engine = _migrated_engine(get_settings())
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

    engine = _migrated_engine(get_settings())
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
    engine = _migrated_engine(get_settings())
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
    engine = _migrated_engine(settings)

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

    engine = _migrated_engine(get_settings())
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
    engine = _migrated_engine(settings)
    with session_scope(make_sessionmaker(engine)) as session:
        lifted = lift(session, candidates, now=utcnow(), by=by, reason=reason)
    engine.dispose()
    typer.echo(f"suppression lifted ({counted(lifted, 'identifiers')}): new messages are stored")


def _load_demo(engine: Engine, *, customers: int, seed: int) -> None:
    from cdp.demo.loader import load_demo
    from cdp.demo.showroom import demo_staff_lines, seed_showroom
    from cdp.models import utcnow

    now = utcnow()
    typer.echo(load_demo(engine, customers=customers, seed=seed, progress=True, reference=now))
    typer.echo(seed_showroom(engine, seed=seed, now=now))
    typer.echo("sign in to the staff pages as (demo accounts):")
    for line in demo_staff_lines():
        typer.echo(line)


def _ensure_demo(engine: Engine) -> None:
    """Load what of the demo is missing: customers when there are none, then the showroom
    (staff and a working funnel), which is one transaction and so either fully in or not."""
    from cdp.demo.loader import demo_needed
    from cdp.demo.showroom import demo_staff_lines, demo_staff_missing, seed_showroom
    from cdp.models import utcnow

    if demo_needed(engine):
        _load_demo(engine, customers=3000, seed=7)
        return
    if demo_staff_missing(engine):
        typer.echo(seed_showroom(engine, seed=7, now=utcnow()))
        typer.echo("sign in to the staff pages as (demo accounts):")
    else:
        typer.echo("demo data already loaded; demo accounts:")
    for line in demo_staff_lines():
        typer.echo(line)


def _check_port_free(host: str, port: int) -> None:
    import socket

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise _fail(
                f"cannot listen on {host}:{port}: {error.strerror} (choose another with --port)"
            ) from None


@app.command()
def demo(
    customers: Annotated[
        int, typer.Option(help="How many demo customers", min=1, max=200_000)
    ] = 3000,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same data")] = 7,
) -> None:
    """Load the demo brand, realistic customers (through the real ingest path) and demo staff."""
    engine = _migrated_engine(get_settings())
    _load_demo(engine, customers=customers, seed=seed)
    engine.dispose()


@app.command("export")
def export(
    output: Annotated[Path, typer.Option("--output", "-o", help="The CSV file to write")],
    audience: Annotated[str | None, typer.Option(help="A saved audience, by name")] = None,
    segment: Annotated[
        str | None, typer.Option(help="A segment of the current run, by name")
    ] = None,
) -> None:
    """Export the e-mail-consented contacts of an audience or segment as CSV for an email tool."""
    from segmentation.export_cli import export_command

    export_command(audience, segment, output)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on", min=1, max=65535)] = 8000,
    demo_data: Annotated[
        bool, typer.Option("--demo", help="Load demo data first if the database is empty")
    ] = False,
    workers: Annotated[int, typer.Option(help="Worker processes (PostgreSQL only)", min=1)] = 1,
) -> None:
    """Apply pending migrations, then serve the API and staff pages."""
    import uvicorn

    from cdp.serving import APP, UVICORN_OPTIONS, can_spread, serve_spread

    settings = get_settings()
    engine = _migrated_engine(settings)
    is_sqlite = engine.dialect.name == "sqlite"
    if workers > 1 and is_sqlite:
        engine.dispose()
        raise _fail("--workers above 1 needs PostgreSQL (SQLite has one writer at a time)")
    _check_port_free(host, port)  # before minutes of demo loading, not after
    if demo_data:
        _ensure_demo(engine)
    engine.dispose()
    typer.echo(f"serving on http://{host}:{port}/  (API docs: http://{host}:{port}/docs)")
    if workers > 1 and can_spread():
        code = serve_spread(host, port, workers)
        if code:
            raise _fail("a worker process stopped unexpectedly; the server was stopped")
        return
    uvicorn.run(APP, host=host, port=port, workers=workers, **UVICORN_OPTIONS)


def main() -> None:
    try:
        code = app(standalone_mode=False)
    except NoArgsIsHelpError as error:  # `cdp source`: show what it can do
        typer.echo(error.ctx.get_help() if error.ctx else "", err=True)
        sys.exit(2)
    except UsageError as error:  # one line, as every other error here
        command = error.ctx.command_path if error.ctx else "cdp"
        typer.echo(f"error: {error.format_message()} (see: {command} --help)", err=True)
        sys.exit(2)
    except typer.Abort:
        sys.exit(130)
    except CdpError as error:
        typer.echo(f"error: {error.message}", err=True)
        sys.exit(1)
    except SettingsError as error:
        typer.echo(f"error: {error}", err=True)
        sys.exit(1)
    except OperationalError as error:
        typer.echo(
            f"error: cannot use the database: {str(error.orig).strip().splitlines()[0]}", err=True
        )
        sys.exit(1)
    except SQLAlchemyError as error:
        typer.echo(f"error: database: {str(error).splitlines()[0]}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    if isinstance(code, int) and code:
        sys.exit(code)
