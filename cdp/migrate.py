"""Applying migrations from code: `cdp db upgrade`, `cdp serve` on start, and the tests."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from cdp.table_stats import analyze_all

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # Options are ConfigParser values, where % starts an interpolation: a URL may hold a
    # percent-encoded password or ?host=%2Fvar%2Frun%2Fpostgresql, so each % is doubled.
    url = engine.url.render_as_string(hide_password=False)
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(engine: Engine) -> None:
    """Apply pending migrations; then, if any ran, gather planner statistics (cdp.table_stats:
    a new installation's plans are then made for the tables as they are, not guessed)."""
    config = alembic_config(engine)
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        driver = connection.connection.driver_connection
        assert driver is not None
        if sqlite:
            # SQLite changes a table's constraints by copying it to a new table, dropping the
            # old one and renaming the copy; with foreign keys on, dropping a table that other
            # rows point at fails. So they are off while migrating (only possible outside a
            # transaction), and everything is checked once at the end instead.
            driver.execute("PRAGMA foreign_keys = OFF")
        try:
            with connection.begin():
                config.attributes["connection"] = connection
                before = MigrationContext.configure(connection).get_current_revision()
                command.upgrade(config, "head")
                migrated = MigrationContext.configure(connection).get_current_revision() != before
                if sqlite:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").first()
                    if broken is not None:
                        raise RuntimeError(f"migrating broke a foreign key: {tuple(broken)}")
        finally:
            if sqlite:
                driver.execute("PRAGMA foreign_keys = ON")
    if migrated:
        analyze_all(engine)


def pending(engine: Engine) -> bool:
    head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    return current != head
