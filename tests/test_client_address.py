"""Whose network address a request has: X-Forwarded-For counts only from CDP_TRUSTED_PROXIES,
in the app and as `cdp serve` runs it (uvicorn alone believes it from 127.0.0.1)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from cdp.app import create_app
from cdp.config import Settings
from cdp.db import make_engine
from cdp.models import LoginAttempt
from tests.helpers import CDP, cdp_env

CLIENT = "203.0.113.9"  # what a client writes in X-Forwarded-For


def failed_sign_in(client: httpx.Client, email: str, headers: dict[str, str]) -> None:
    form = BeautifulSoup(client.get("/login").text, "html.parser")
    token = form.find("input", attrs={"name": "csrf_token"})
    assert token is not None
    response = client.post(
        "/login",
        data={"email": email, "password": "wrong-password!", "csrf_token": str(token["value"])},
        headers=headers,
        follow_redirects=False,
    )
    assert response.status_code == 401


def recorded_address(session: Session, email: str) -> str | None:
    return session.scalars(select(LoginAttempt.ip).where(LoginAttempt.email == email)).one()


@pytest.mark.parametrize(
    ("trusted", "peer", "counted"),
    [
        ("", "127.0.0.1", "127.0.0.1"),  # nothing trusted (the default): not even this machine
        ("127.0.0.1", "127.0.0.1", CLIENT),
        ("10.0.0.0/8, 127.0.0.1", "10.1.2.3", CLIENT),
        ("127.0.0.1", "192.0.2.50", "192.0.2.50"),  # a client that is not the proxy
    ],
)
def test_forwarded_addresses_count_only_from_trusted_proxies(
    engine: Engine,
    session_factory: sessionmaker[Session],
    migrated_url: str,
    db: Session,
    trusted: str,
    peer: str,
    counted: str,
) -> None:
    settings = Settings(database_url=migrated_url, trusted_proxies=trusted)
    app = create_app(settings, engine=engine, session_factory=session_factory)
    email = f"nobody.{peer}@dealer.example"
    failed_sign_in(TestClient(app, client=(peer, 50000)), email, {"X-Forwarded-For": CLIENT})
    assert recorded_address(db, email) == counted


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a served process")
@pytest.mark.parametrize(("trusted", "counted"), [(None, "127.0.0.1"), ("127.0.0.1", CLIENT)])
def test_cdp_serve_believes_forwarded_addresses_only_from_trusted_proxies(
    tmp_path: Path, trusted: str | None, counted: str
) -> None:
    url = f"sqlite:///{tmp_path / 'served.sqlite3'}"
    port = _free_port()
    env = cdp_env(url) | ({"CDP_TRUSTED_PROXIES": trusted} if trusted else {})
    server = subprocess.Popen(
        [str(CDP), "serve", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            deadline = time.monotonic() + 60
            while True:
                assert server.poll() is None, server.stderr.read() if server.stderr else ""
                assert time.monotonic() < deadline, "cdp serve did not start"
                try:
                    if client.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.2)
            failed_sign_in(client, "someone@dealer.example", {"X-Forwarded-For": CLIENT})
    finally:
        server.terminate()
        server.wait(timeout=30)
    engine = make_engine(url)
    with Session(engine) as session:
        assert recorded_address(session, "someone@dealer.example") == counted
    engine.dispose()
