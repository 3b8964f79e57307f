"""Applying migrations from code (cdp.migrate): the Alembic configuration built from an engine."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine

from cdp.db import make_engine
from cdp.migrate import alembic_config, pending, upgrade


def test_a_url_with_percent_signs_survives_the_alembic_configuration() -> None:
    # A percent-encoded password and a Unix-socket directory: both hold '%'.
    url = "postgresql+psycopg://cdp:p%25ss%40word@/cdp?host=%2Fvar%2Frun%2Fpostgresql"
    engine = create_engine(url)
    try:
        config = alembic_config(engine)
        assert config.get_main_option("sqlalchemy.url") == url
    finally:
        engine.dispose()


def test_a_database_whose_url_holds_a_percent_sign_can_be_migrated(tmp_path: Path) -> None:
    directory = tmp_path / "100%"
    directory.mkdir()
    engine = make_engine(f"sqlite:///{directory / 'cdp.sqlite3'}")
    try:
        assert pending(engine)
        upgrade(engine)
        assert not pending(engine)
    finally:
        engine.dispose()
