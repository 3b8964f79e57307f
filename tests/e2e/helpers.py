"""What the browser tests share besides fixtures: the live server, staff logins, the cdp command."""

from __future__ import annotations

import os
import sqlite3
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.sync_api import Page


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


# The demo's own accounts (manager@demo.example, manager.antwerpen@demo.example, ...) and the two
# sizes every new page is looked at; screenshots go to docs/ only when asked.
DEMO_PASSWORD = "demo-password"
SIZES = {"desk": (1280, 800), "tablet": (768, 1024)}
SCREENSHOTS = (
    Path(__file__).resolve().parents[2] / "docs" / "screenshots"
    if os.environ.get("CDP_UPDATE_SCREENSHOTS")
    else Path(tempfile.gettempdir()) / "cdp-e2e-screenshots"
)


def signed_in_demo(
    new_page: Callable[..., Page], sign_in_form: Callable[..., None], email: str
) -> Page:
    """A fresh browser page signed in as one of the demo's accounts."""
    page = new_page()
    sign_in_form(page, email, DEMO_PASSWORD)
    page.wait_for_url("**/showroom")
    return page


def fits_every_size(page: Page, name: str) -> None:
    """At each size: the page itself never scrolls sideways (a wide table scrolls in its box)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for label, (width, height) in SIZES.items():
        page.set_viewport_size({"width": width, "height": height})
        assert page.evaluate("document.documentElement.scrollWidth") <= width, label
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{label}.png"), full_page=True)
