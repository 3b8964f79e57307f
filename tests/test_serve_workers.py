"""`cdp serve --workers N`: connections spread over the workers, and a clean stop."""

from __future__ import annotations

import base64
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from cdp.auth.service import create_source
from cdp.db import make_engine, make_sessionmaker
from cdp.migrate import upgrade
from cdp.models import Event
from tests.helpers import drop_database, fresh_database_url

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads /proc; SO_REUSEPORT spreading is Linux"
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def _tcp_sockets(port: int, state: str) -> set[str]:
    """Inodes of the IPv4 sockets on local `port` in `state` (0A listening, 01 established)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port and fields[3] == state:
            found.add(fields[9])
    return found


def _children(pid: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                children.append(int(entry.name))
    return children


@pytest.fixture()
def database(db_kind: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    if db_kind != "postgresql":
        pytest.skip("--workers above 1 needs PostgreSQL")
    url = fresh_database_url("postgresql", tmp_path, f"serve_{uuid.uuid4().hex[:6]}")
    engine = make_engine(url)
    upgrade(engine)
    with make_sessionmaker(engine)() as session:
        _source, key = create_source(session, name="site", kind="web", origins=[])
        session.commit()
    engine.dispose()
    yield url, key
    drop_database(url)


def _serve(url: str, port: int, cwd: Path) -> subprocess.Popen[bytes]:
    """`cdp serve --workers 2`, in a session of its own (as from a terminal of its own)."""
    command = ["serve", "--port", str(port), "--workers", "2"]
    return subprocess.Popen(
        [sys.executable, "-c", "from cdp.cli import main; main()", *command],
        env={**os.environ, "CDP_DATABASE_URL": url},
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def _wait_listening(server: subprocess.Popen[bytes], port: int) -> list[int]:
    """The two workers, once each listens on a socket of its own."""
    deadline = time.monotonic() + 60
    while len(_tcp_sockets(port, "0A")) < 2:
        assert server.poll() is None, server.stderr.read() if server.stderr else ""
        assert time.monotonic() < deadline, "the workers did not start listening"
        time.sleep(0.1)
    listening = _tcp_sockets(port, "0A")
    return [pid for pid in _children(server.pid) if _socket_inodes(pid) & listening]


def _gone(pids: list[int], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        alive = [pid for pid in pids if Path(f"/proc/{pid}").exists()]
        if not alive or all(
            Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
            for pid in alive
        ):
            return True
        time.sleep(0.1)
    return False


@pytest.fixture()
def serving(
    database: tuple[str, str], tmp_path: Path
) -> Iterator[tuple[subprocess.Popen[bytes], int, list[int]]]:
    """A running `cdp serve --workers 2`: the server, its port and its two workers; whatever
    the test did to it, nothing of it is left running afterwards."""
    port = _free_port()
    server = _serve(database[0], port, tmp_path)
    workers: list[int] = []
    try:
        workers = _wait_listening(server, port)
        assert len(workers) == 2
        yield server, port, workers
    finally:
        if server.poll() is None:
            server.kill()
        for pid in workers:
            if Path(f"/proc/{pid}").exists():
                os.kill(pid, signal.SIGKILL)


def test_workers_do_not_outlive_a_killed_server(
    serving: tuple[subprocess.Popen[bytes], int, list[int]],
) -> None:
    server, port, workers = serving
    server.send_signal(signal.SIGKILL)  # no chance to stop them itself
    server.wait(10)
    assert _gone(workers, 30), "a worker kept running after the server was killed"
    assert not _tcp_sockets(port, "0A")  # the port is free for the next start


def test_a_closed_terminal_stops_the_server_gracefully(
    serving: tuple[subprocess.Popen[bytes], int, list[int]],
) -> None:
    server, _port, workers = serving
    os.killpg(server.pid, signal.SIGHUP)  # what a terminal sends its group as it closes
    assert server.wait(30) == 0
    assert _gone(workers, 10)


def test_two_workers_share_the_connections_and_stop_cleanly(
    database: tuple[str, str], tmp_path: Path
) -> None:
    url, key = database
    port = _free_port()
    server = _serve(url, port, tmp_path)
    connections: list[http.client.HTTPConnection] = []
    try:
        _wait_listening(server, port)
        # Kept-alive connections, as a relay opens them: each worker must get some.
        for _ in range(24):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            connection.request("GET", "/healthz")
            assert connection.getresponse().read() is not None
            connections.append(connection)
        established = _tcp_sockets(port, "01")
        workers = [pid for pid in _children(server.pid) if _socket_inodes(pid) & established]
        per_worker = [len(_socket_inodes(pid) & established) for pid in workers]
        assert len(workers) == 2 and sum(per_worker) == 24, per_worker

        auth = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
        message = {"anonymousId": "served-visitor", "event": "Configuration Started"}
        connections[0].request(
            "POST",
            "/v1/track",
            body=json.dumps(message),
            headers={"Authorization": auth, "Content-Type": "application/json"},
        )
        answer = connections[0].getresponse()
        assert answer.status == 200, answer.read()
        answer.read()
    finally:
        for connection in connections:
            connection.close()
        server.send_signal(signal.SIGTERM)
        code = server.wait(30)
    assert code == 0
    assert not [pid for pid in _children(server.pid) if Path(f"/proc/{pid}").exists()]
    engine = make_engine(url)
    with make_sessionmaker(engine)() as session:
        assert session.scalar(select(func.count()).select_from(Event)) == 1
    engine.dispose()
