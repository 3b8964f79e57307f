"""An installation on SQLite (the embedded default): lookups only read, and never wait for the
write lock. Every other request takes it up front (BEGIN IMMEDIATE, cdp/db.py); a search did
too, so searches queued behind each other and behind every write, and under load failed after
the 30 s busy timeout with a 500."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from fastapi.testclient import TestClient

from cdp.app import create_app
from cdp.config import Settings
from cdp.db import make_engine, make_sessionmaker
from cdp.migrate import upgrade
from tests.helpers import make_token


def test_a_lookup_answers_while_a_writer_holds_the_write_lock(tmp_path: Path) -> None:
    database = tmp_path / "reads.sqlite3"
    url = f"sqlite:///{database}"
    engine = make_engine(url)
    upgrade(engine)
    auth = make_token(make_sessionmaker(engine), role="sales")
    engine.dispose()

    app = create_app(Settings(database_url=url))  # its own engine, as `cdp serve` has
    with TestClient(app) as client:
        writer = sqlite3.connect(database, timeout=0)
        try:
            writer.execute("BEGIN IMMEDIATE")  # a long write, e.g. the demo loading
            response = client.get("/api/profiles", params={"q": "jansen"}, headers=auth)
            assert response.status_code == 200, response.text
            assert response.json()["results"] == []
        finally:
            writer.rollback()
            writer.close()
