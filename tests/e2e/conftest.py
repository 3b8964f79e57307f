"""A real server and a real browser: `cdp demo` into a fresh SQLite file, staff accounts made
with `cdp user create`, `cdp serve` on a free port, and headless Chromium driven by Playwright.

The demo load is the slow part, so it runs once per test run into a template database; with
pytest-xdist the workers share that template (under a file lock) and each copies it and runs its
own server. Everything is torn down at the end. Without /usr/bin/chromium (or without Playwright)
the end-to-end tests are skipped, not failed.
"""

from __future__ import annotations

import fcntl
import os
import signal
import socket
import sqlite3
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.e2e.helpers import LiveServer, StaffLogin, cdp_command, server_environment

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DEMO_CUSTOMERS = 300
DEMO_DEALER = "NW-EHV"  # the demo's Eindhoven dealer, where sales@demo.example works
SERVER_START_SECONDS = 30
# The demo load (customers, the showroom, then segments) on a busy machine.
COMMAND_SECONDS = 600
VIEWPORT = {"width": 1280, "height": 900}
TIMEOUT_MS = 10_000


# Our own accounts, made through the CLI as an administrator would; the demo's accounts (if the
# demo makes any) have other addresses, so the two never collide.
STAFF = {
    role: StaffLogin(
        email=f"e2e-{role}@example.test",
        password=f"correct horse battery {role}",
        name=name,
        role=role,
    )
    for role, name in (
        ("sales", "Sanne Showroom"),
        ("delivery", "Dirk Delivery"),
        ("admin", "Ada Admin"),
    )
}


def _start(args: list[str], *, env: dict[str, str], cwd: Path, stdin: str = "") -> _Command:
    """Start `cdp ARGS`; `stdin` (e.g. a password line) is ready for it at once, not on finish."""
    with tempfile.TemporaryFile("w+") as given:
        given.write(stdin)
        given.seek(0)
        process = subprocess.Popen(
            [*cdp_command(), *args],
            stdin=given,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=cwd,
        )
    return _Command(args, process)


@dataclass
class _Command:
    """A `cdp` command running in the background; `finish()` waits and fails on an error."""

    args: list[str]
    process: subprocess.Popen[str]

    def finish(self) -> str:
        try:
            out, err = self.process.communicate(timeout=COMMAND_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.communicate()
            pytest.fail(f"`cdp {' '.join(self.args)}` took more than {COMMAND_SECONDS} s")
        if self.process.returncode != 0:
            pytest.fail(
                f"`cdp {' '.join(self.args)}` exited with {self.process.returncode}:\n{out}\n{err}"
            )
        return out


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_until_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(
                f"`cdp serve` exited with {process.returncode}:\n{log.read_text(errors='replace')}"
            )
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    pytest.fail(f"`cdp serve` did not answer /healthz within {SERVER_START_SECONDS} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@pytest.fixture(scope="session")
def staff() -> dict[str, StaffLogin]:
    """The staff accounts by role (sales, delivery, admin), with their passwords."""
    return STAFF


@pytest.fixture(scope="session")
def chromium() -> Path:
    if not CHROMIUM.exists():
        pytest.skip(f"end-to-end tests need Chromium at {CHROMIUM}")
    pytest.importorskip("playwright.sync_api", reason="end-to-end tests need Playwright")
    return CHROMIUM


def _demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo with our staff accounts, made once per run and shared by the xdist workers."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the run's folder, above each worker's own
    template = root / "e2e-template.sqlite3"
    with (root / "e2e-template.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if template.exists():
            return template
        folder = root / "e2e-template-build"
        folder.mkdir(exist_ok=True)
        database = folder / "demo.sqlite3"
        env = server_environment(f"sqlite:///{database}")
        # The demo first (it makes the dealers); then our accounts side by side (SQLite takes
        # turns), the floor staff at the demo's first dealer, as the demo's own sales@ is.
        _start(["demo", "--customers", str(DEMO_CUSTOMERS)], env=env, cwd=folder).finish()
        commands = [
            _start(
                ["user", "create", who.email, "--role", who.role, "--name", who.name]
                + (["--dealer", DEMO_DEALER] if who.role in ("sales", "delivery") else []),
                env=env,
                cwd=folder,
                stdin=who.password + "\n",
            )
            for who in STAFF.values()
        ]
        try:
            for command in commands:
                command.finish()
        finally:  # one failed: stop the others rather than leave them running
            for command in commands:
                if command.process.poll() is None:
                    command.process.kill()
                    command.process.wait(timeout=10)
        _copy_database(database, template)
    return template


def _copy_database(source: Path, target: Path) -> None:
    """A consistent copy (WAL included) through SQLite's backup API, then an atomic rename."""
    partial = target.with_suffix(".partial")
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(partial)) as dst:
        src.backup(dst)
    partial.replace(target)


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory, chromium: Path) -> Iterator[LiveServer]:
    """`cdp serve` on a copy of the demo template, in a fresh temporary folder.

    The commands run in that folder so that a developer's `.env` or `cdp.sqlite3` is never used.
    """
    template = _demo_template(tmp_path_factory)
    folder = tmp_path_factory.mktemp("e2e")
    database = folder / "e2e.sqlite3"
    _copy_database(template, database)
    env = server_environment(f"sqlite:///{database}")
    port = _free_port()
    log = folder / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*cdp_command(), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=folder,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_until_healthy(url, process, log)
        yield LiveServer(base_url=url, database=database, log=log)
    finally:
        _stop(process)


@pytest.fixture(scope="session")
def browser(chromium: Path) -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(chromium), args=CHROMIUM_ARGS, timeout=30_000
        )
        try:
            yield launched
        finally:
            launched.close()


@dataclass
class BrowserProblems:
    """What went wrong in the browser during a test: script errors and server errors."""

    errors: list[str] = field(default_factory=list)


@pytest.fixture
def new_page(browser: Browser, live_server: LiveServer) -> Iterator[Callable[..., Page]]:
    """`new_page()` a signed-out page, `new_page("sales")` one signed in through the form.

    Each page has its own browser context (its own cookies). A JavaScript error or a 5xx answer
    on any of them fails the test.
    """
    contexts = []
    problems = BrowserProblems()

    def make(role: str | None = None) -> Page:
        context = browser.new_context(
            base_url=live_server.base_url,
            viewport=VIEWPORT,  # type: ignore[arg-type]
            locale="en-GB",
            timezone_id="Europe/Amsterdam",
        )
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: problems.errors.append(f"script error: {error}"))
        page.on(
            "response",
            lambda response: (
                problems.errors.append(f"HTTP {response.status} for {response.url}")
                if response.status >= 500
                else None
            ),
        )
        if role is not None:
            sign_in(page, STAFF[role].email, STAFF[role].password)
            page.wait_for_url("**/showroom")
        return page

    yield make
    for context in contexts:
        context.close()
    assert not problems.errors, "\n".join(problems.errors) + "\n" + live_server.log_tail()


def sign_in(page: Page, email: str, password: str, *, path: str = "/login") -> None:
    """Fill in and send the real sign-in form, as a person would (the caller checks the result)."""
    page.goto(path)
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()


@pytest.fixture(scope="session")
def sign_in_form() -> Callable[..., None]:
    """`sign_in_form(page, email, password, path=...)`: the test module's way to the form."""
    return sign_in
