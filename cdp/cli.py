"""The `cdp` command: serve, load demo data, migrate, create sources and tokens."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError, SQLAlchemyError

# typer (pinned) carries its own copy of click; its usage errors are only importable from here.
from typer._click.exceptions import NoArgsIsHelpError, UsageError

from cdp.adf.cli import leads_app
from cdp.cli_support import fail, migrated_engine
from cdp.config import SettingsError, get_settings
from cdp.db import make_sessionmaker, session_scope
from cdp.dealers.cli import dealer_app
from cdp.errors import CdpError
from cdp.leads.cli import sla_check
from cdp.privacy_cli import (
    profile_app,
    retention_app,
    secret_app,
    suppression_app,
)
from cdp.spend.cli import spend_app

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
app.add_typer(db_app, name="db")
app.add_typer(dealer_app, name="dealer")
leads_app.command("sla-check")(sla_check)
app.add_typer(leads_app, name="leads")
app.add_typer(retention_app, name="retention")
app.add_typer(spend_app, name="spend")
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


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply pending migrations to CDP_DATABASE_URL (creates an SQLite file if needed)."""
    settings = get_settings()
    migrated_engine(settings).dispose()
    typer.echo("database is up to date")


@source_app.command("create")
def source_create(
    name: Annotated[str, typer.Argument(help="A name people recognise, e.g. 'Brand configurator'")],
    kind: Annotated[
        str,
        typer.Option(
            help="web (the brand's website), dealer_web (a dealer's own website), showroom "
            "(tablets in a dealership), importer or marketplace: the channel its leads arrive "
            "with (website, dealer_website, walk_in, importer, marketplace; e.g. ADF from "
            "Marktplaats)"
        ),
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

    engine = migrated_engine(get_settings())
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

    engine = migrated_engine(get_settings())
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

    engine = migrated_engine(get_settings())
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

    engine = migrated_engine(get_settings())
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

    engine = migrated_engine(get_settings())
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

    engine = migrated_engine(get_settings())
    with session_scope(make_sessionmaker(engine)) as session:
        source = set_source_origins(session, name, origin or [])
        allowed = ", ".join(source.origins) or "no browser origins"
        typer.echo(f"source {source.name!r} now allows {allowed}; {_SOURCE_CACHE_NOTE}")
    engine.dispose()


@token_app.command("list")
def token_list() -> None:
    """List the API tokens: id, name, role, whether active (the secrets are not stored)."""
    from cdp.auth.service import all_tokens

    engine = migrated_engine(get_settings())
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

    engine = migrated_engine(get_settings())
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

    engine = migrated_engine(get_settings())
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
    engine = migrated_engine(get_settings())
    with session_scope(make_sessionmaker(engine)) as session:
        user = create_user(
            session, email=email, role=role, name=name, password=password, dealers=dealer or []
        )
        codes = dealer_codes_by_user(session, [user.id])[user.id]
        where = f"at {', '.join(codes)}" if codes else "for the whole network"
        typer.echo(f"staff user {user.email} ({user.role}) created, working {where}")
    engine.dispose()


def _load_demo(engine: Engine, *, customers: int, seed: int) -> None:
    from cdp.demo.loader import load_demo
    from cdp.demo.segments import build_demo_segments
    from cdp.demo.showroom import demo_staff_lines, seed_showroom
    from cdp.models import utcnow

    now = utcnow()
    typer.echo(load_demo(engine, customers=customers, seed=seed, progress=True, reference=now))
    typer.echo(seed_showroom(engine, seed=seed, now=now))
    typer.echo(build_demo_segments(engine, progress=True))
    typer.echo("sign in to the staff pages as (demo accounts):")
    for line in demo_staff_lines():
        typer.echo(line)


def _ensure_demo(engine: Engine) -> None:
    """Load what of the demo is missing: customers when there are none, then the showroom
    (staff and a working funnel, one transaction and so either fully in or not), then segments."""
    from cdp.demo.loader import demo_needed
    from cdp.demo.segments import build_demo_segments, segments_missing
    from cdp.demo.showroom import demo_staff_lines, demo_staff_missing, seed_showroom
    from cdp.models import utcnow

    if demo_needed(engine):
        _load_demo(engine, customers=3000, seed=7)
        return
    if demo_staff_missing(engine):
        typer.echo(seed_showroom(engine, seed=7, now=utcnow()))
    if segments_missing(engine):  # a demo loaded before the demo built segments
        typer.echo(build_demo_segments(engine, progress=True))
    typer.echo("demo data loaded; sign in to the staff pages as (demo accounts):")
    for line in demo_staff_lines():
        typer.echo(line)


def _check_port_free(host: str, port: int) -> None:
    import socket

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise fail(
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
    engine = migrated_engine(get_settings())
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
    engine = migrated_engine(settings)
    is_sqlite = engine.dialect.name == "sqlite"
    if workers > 1 and is_sqlite:
        engine.dispose()
        raise fail("--workers above 1 needs PostgreSQL (SQLite has one writer at a time)")
    _check_port_free(host, port)  # before minutes of demo loading, not after
    if demo_data:
        _ensure_demo(engine)
    engine.dispose()
    typer.echo(f"serving on http://{host}:{port}/  (API docs: http://{host}:{port}/docs)")
    if workers > 1 and can_spread():
        code = serve_spread(host, port, workers)
        if code:
            raise fail("a worker process stopped unexpectedly; the server was stopped")
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
