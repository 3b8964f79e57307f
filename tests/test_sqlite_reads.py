"""An installation on SQLite (the embedded default): lookups only read, and never wait for the
write lock. Every other request takes it up front (BEGIN IMMEDIATE, cdp/db.py); a search did
too, so searches queued behind each other and behind every write, and under load failed after
the 30 s busy timeout with a 500."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from cdp.app import create_app
from cdp.auth.staff import create_user, resolve_session, start_session
from cdp.config import Settings
from cdp.db import make_engine, make_sessionmaker, read_only_engine
from cdp.migrate import upgrade
from cdp.models import StaffSession, StaffUser, utcnow
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
        # The app's own jobs may be writing as it starts: the writer waits its turn for the lock.
        writer = sqlite3.connect(database, timeout=30)
        try:
            writer.execute("BEGIN IMMEDIATE")  # a long write, e.g. the demo loading
            response = client.get("/api/profiles", params={"q": "jansen"}, headers=auth)
            assert response.status_code == 200, response.text
            assert response.json()["results"] == []
        finally:
            writer.rollback()
            writer.close()


def test_a_read_overtaken_by_a_write_still_signs_its_staff_member_in(tmp_path: Path) -> None:
    # A staff page that only reads notes its user's last sight once a minute. In a deferred
    # transaction that another connection wrote past, SQLite refuses the note at once
    # (SQLITE_BUSY): the page must still open, the note left to the next request.
    database = tmp_path / "overtaken.sqlite3"
    engine = make_engine(f"sqlite:///{database}")
    upgrade(engine)
    with make_sessionmaker(engine)() as session:
        user = create_user(session, email="anna@dealer.example", role="sales",
                           password="correct-horse-battery")  # fmt: skip
        token = start_session(session, user)
        session.execute(update(StaffSession).values(last_seen_at=utcnow() - timedelta(minutes=5)))
        session.commit()

    reads = make_sessionmaker(read_only_engine(engine))()
    try:
        reads.execute(select(func.count()).select_from(StaffUser)).scalar_one()  # the snapshot
        writer = sqlite3.connect(database)
        writer.execute("UPDATE staff_user SET name = 'Anna B.'")  # committed past it
        writer.commit()
        writer.close()
        staff = resolve_session(reads, token, idle=timedelta(hours=8))
        assert staff is not None and staff.email == "anna@dealer.example"
    finally:
        reads.close()
        engine.dispose()


def test_every_connection_writes_a_commit_to_disk_before_it_returns(tmp_path: Path) -> None:
    """An acknowledged event must survive a power cut: in WAL mode SQLite's NORMAL syncs only
    at checkpoints, FULL at every commit (PRAGMA synchronous 2)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'durable.sqlite3'}")
    for read_only in (False, True):
        used = read_only_engine(engine) if read_only else engine
        with used.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2
    engine.dispose()
