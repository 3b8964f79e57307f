"""`cdp user create`, run as an operator runs it: a subprocess, the password on standard input.

Each test gets a fresh SQLite file through CDP_DATABASE_URL, so the command also migrates it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cdp.app import create_app
from cdp.config import Settings
from cdp.db import make_engine
from cdp.models import StaffUser
from tests.helpers import drop_database, fresh_database_url, sign_in

CDP = Path(sys.executable).parent / "cdp"
PASSWORD = "a-long-enough-passphrase"


def cdp(
    tmp_path: Path, *args: str, stdin: str = "", url: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("CDP_")}
    env["CDP_DATABASE_URL"] = url or database_url(tmp_path)
    return subprocess.run(
        [str(CDP), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,  # no stray .env file is read
        timeout=120,
        check=False,
    )


def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cdp.sqlite3'}"


def staff_emails(tmp_path: Path) -> list[str]:
    engine = make_engine(database_url(tmp_path))
    try:
        with Session(engine) as session:
            return list(session.scalars(select(StaffUser.email).order_by(StaffUser.email)))
    finally:
        engine.dispose()


def assert_one_line_error(result: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert fragment in lines[0]
    assert "Traceback" not in result.stderr + result.stdout


def test_the_command_is_installed() -> None:
    assert CDP.exists(), f"{CDP} missing: pip install -e . in the virtualenv"


def test_create_a_user_then_sign_in_with_that_password(tmp_path: Path, db_kind: str) -> None:
    """On a fresh SQLite file (as the operator's first run), and on an empty PostgreSQL."""
    url = fresh_database_url(db_kind, tmp_path, "cli")
    try:
        create_then_sign_in(tmp_path, url)
    finally:
        drop_database(url)


def create_then_sign_in(tmp_path: Path, url: str) -> None:
    result = cdp(
        tmp_path,
        "user",
        "create",
        "Eva.Smit@Dealer.example",
        "--role",
        "manager",
        "--name",
        "Eva Smit",
        stdin=PASSWORD + "\n",
        url=url,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == (
        "staff user eva.smit@dealer.example (manager) created, working for the whole network"
    )
    assert PASSWORD not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr

    app = create_app(Settings(database_url=url))
    with TestClient(app) as client:
        sign_in(client, "eva.smit@dealer.example", PASSWORD)
        account = client.get("/account")
        assert account.status_code == 200
        assert "Eva Smit" in account.text
        assert "manager" in account.text
        assert client.get("/showroom").status_code == 200


def test_a_password_with_spaces_is_kept_whole(tmp_path: Path) -> None:
    passphrase = "  correct horse battery staple "
    result = cdp(
        tmp_path,
        "user",
        "create",
        "ruimte@dealer.example",
        "--role",
        "sales",
        stdin=passphrase + "\n",
    )
    assert result.returncode == 0, result.stderr
    app = create_app(Settings(database_url=database_url(tmp_path)))
    with TestClient(app) as client:
        sign_in(client, "ruimte@dealer.example", passphrase)


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (("kort@dealer.example", "--role", "sales"), "short\n", "at least 10 characters"),
        (("leeg@dealer.example", "--role", "sales"), "", "at least 10 characters"),
        (("rol@dealer.example", "--role", "owner"), PASSWORD + "\n", "role must be one of"),
        (("not-an-address", "--role", "sales"), PASSWORD + "\n", "is not an e-mail address"),
        (
            ("an\u200bna@dealer.example", "--role", "sales"),
            PASSWORD + "\n",
            "invisible character (U+200B ZERO WIDTH SPACE)",
        ),
        (
            ("anna@dealer.example\ufeff", "--role", "sales"),
            PASSWORD + "\n",
            "invisible character (U+FEFF ZERO WIDTH NO-BREAK SPACE)",
        ),
    ],
)
def test_invalid_input_is_one_line_on_stderr(
    tmp_path: Path, args: tuple[str, ...], stdin: str, message: str
) -> None:
    result = cdp(tmp_path, "user", "create", *args, stdin=stdin)
    assert_one_line_error(result, message)
    assert staff_emails(tmp_path) == []


def test_a_duplicate_address_is_refused(tmp_path: Path) -> None:
    first = cdp(
        tmp_path,
        "user",
        "create",
        "dubbel@dealer.example",
        "--role",
        "sales",
        stdin=PASSWORD + "\n",
    )
    assert first.returncode == 0, first.stderr
    again = cdp(
        tmp_path,
        "user",
        "create",
        "DUBBEL@dealer.example",
        "--role",
        "admin",
        stdin="another-long-password\n",
    )
    assert_one_line_error(again, "already exists")
    assert staff_emails(tmp_path) == ["dubbel@dealer.example"]

    app = create_app(Settings(database_url=database_url(tmp_path)))
    with TestClient(app) as client:  # the first account is untouched
        sign_in(client, "dubbel@dealer.example", PASSWORD)
        assert "sales" in client.get("/account").text


def test_a_missing_role_is_a_usage_error_without_traceback(tmp_path: Path) -> None:
    result = cdp(tmp_path, "user", "create", "geenrol@dealer.example", stdin=PASSWORD + "\n")
    assert result.returncode != 0
    assert "--role" in result.stderr
    assert "Traceback" not in result.stderr
