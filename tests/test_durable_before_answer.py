"""A change is stored before the answer that says so leaves the server: the request's session
is committed when the handler returns, not after the response is sent (FastAPI's default for a
`yield` dependency). Seen from a second connection at the moment the response starts, on a
database of its own (the shared test connection would see its own uncommitted rows)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from cdp.app import create_app
from cdp.config import Settings
from cdp.db import make_engine, make_sessionmaker
from cdp.migrate import upgrade
from cdp.models import StaffSession
from tests.helpers import drop_database, fresh_database_url, make_staff, sign_in


@pytest.fixture()
def own_database(db_kind: str, tmp_path: Path) -> Iterator[tuple[str, Engine]]:
    url = fresh_database_url(db_kind, tmp_path, "durable_answer")
    engine = make_engine(url)
    upgrade(engine)
    try:
        yield url, engine
    finally:
        engine.dispose()
        drop_database(url)


def test_a_sign_in_is_stored_when_its_answer_starts(own_database: tuple[str, Engine]) -> None:
    url, engine = own_database
    factory: sessionmaker[Session] = make_sessionmaker(engine)
    email = make_staff(factory, role="sales")
    app = create_app(Settings(database_url=url, adf_delivery_seconds=0), engine=engine)
    seen: list[tuple[str, int, int]] = []

    async def watched(scope: dict[str, Any], receive: Any, send: Any) -> None:
        async def send_and_look(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start" and scope["method"] == "POST":
                with Session(engine) as other:  # another connection: committed rows only
                    stored = other.scalar(select(func.count()).select_from(StaffSession)) or 0
                seen.append((scope["path"], message["status"], stored))
            await send(message)

        await app(scope, receive, send_and_look)

    with TestClient(watched) as client:
        sign_in(client, email)
    assert seen == [("/login", 303, 1)]
