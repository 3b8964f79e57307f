"""The `cdp` command: serve, load demo data, migrate, create sources and tokens."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from cdp.config import Settings, get_settings
from cdp.db import make_engine, make_sessionmaker, session_scope
from cdp.errors import CdpError

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
app.add_typer(user_app, name="user")


def _mount_segments() -> None:
    from segmentation.cli import segments_app

    app.add_typer(segments_app, name="segments")


_mount_segments()
app.add_typer(source_app, name="source")
app.add_typer(token_app, name="token")


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


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Argument(help="Who uses it, e.g. 'Showroom app Utrecht'")],
    role: Annotated[
        str, typer.Option(help="sales, reception, delivery, marketing, manager or admin")
    ],
) -> None:
    """Create an API token for the read API and print it (shown once; only a hash is stored)."""
    from cdp.auth.service import create_token

    engine = _migrated_engine(get_settings())
    with session_scope(make_sessionmaker(engine)) as session:
        token, secret = create_token(session, name=name, role=role)
        typer.echo(f"token {token.name!r} with role {token.role} created")
    typer.echo(f"API token (shown once, send as 'Authorization: Bearer ...'): {secret}")
    engine.dispose()


@user_app.command("create")
def user_create(
    email: Annotated[str, typer.Argument(help="The staff member's e-mail address (their login)")],
    role: Annotated[
        str, typer.Option(help="sales, reception, delivery, marketing, manager or admin")
    ],
    name: Annotated[str | None, typer.Option(help="Full name shown in the app")] = None,
) -> None:
    """Create a staff account. The password is asked for (or read from standard input)."""
    from cdp.auth.staff import create_user

    if sys.stdin.isatty():
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    engine = _migrated_engine(get_settings())
    with session_scope(make_sessionmaker(engine)) as session:
        user = create_user(session, email=email, role=role, name=name, password=password)
        typer.echo(f"staff user {user.email} ({user.role}) created")
    engine.dispose()


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

    settings = get_settings()
    engine = _migrated_engine(settings)
    if demo_data:
        from cdp.demo.loader import demo_needed

        if demo_needed(engine):
            _load_demo(engine, customers=3000, seed=7)
        else:
            from cdp.demo.showroom import demo_staff_lines

            typer.echo("demo data already loaded; demo accounts:")
            for line in demo_staff_lines():
                typer.echo(line)
    is_sqlite = engine.dialect.name == "sqlite"
    engine.dispose()
    if workers > 1 and is_sqlite:
        raise _fail("--workers above 1 needs PostgreSQL (SQLite has one writer at a time)")
    typer.echo(f"serving on http://{host}:{port}/  (API docs: http://{host}:{port}/docs)")
    uvicorn.run(
        "cdp.asgi:app",
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
    )


def main() -> None:
    try:
        app()  # typer reports usage errors itself and exits non-zero
    except CdpError as error:
        typer.echo(f"error: {error.message}", err=True)
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
