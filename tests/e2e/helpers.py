"""What the browser tests share besides fixtures: the live server, staff logins, the cdp command."""

from __future__ import annotations

import os
import sqlite3
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class StaffLogin:
    email: str
    password: str
    name: str
    role: str


@dataclass(frozen=True)
class LiveServer:
    base_url: str
    database: Path
    log: Path

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Read the server's database directly (read-only), e.g. to pick a real demo customer."""
        with sqlite3.connect(f"file:{self.database}?mode=ro", uri=True, timeout=10) as conn:
            return list(conn.execute(sql, params))

    def log_tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def cdp_command() -> list[str]:
    """The installed `cdp` command of this virtualenv (or the same entry point through python)."""
    script = Path(sys.executable).with_name("cdp")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from cdp.cli import main; main()"]


def server_environment(database_url: str) -> dict[str, str]:
    """This process's environment without any CDP_ setting of the developer's own."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("CDP_")}
    env["CDP_DATABASE_URL"] = database_url
    env["PYTHONUNBUFFERED"] = "1"
    return env
