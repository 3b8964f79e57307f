"""What every `cdp` command module shares: the one-line failure, and the engine (migrated first
where the command writes)."""

from __future__ import annotations

import typer
from sqlalchemy import Engine

from cdp.config import Settings
from cdp.db import make_engine


def fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=1)


def engine_for(settings: Settings) -> Engine:
    return make_engine(settings.database_url, pool_size=settings.db_pool_size)


def migrated_engine(settings: Settings) -> Engine:
    from cdp.migrate import upgrade

    engine = engine_for(settings)
    upgrade(engine)
    return engine
