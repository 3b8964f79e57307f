"""Reception's floor in a real browser, at tablet (768x1024) and desk (1280x800) size: an
appointment planned for today is checked in (its salesperson proposed, the appointment marked
showed), then a walk-in; both run on the floor until the visit is ended. The screens are
photographed to be looked at."""

from __future__ import annotations

import re
import tempfile
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import pytest

if TYPE_CHECKING:
    from tests.e2e.helpers import LiveServer

sync_api = pytest.importorskip("playwright.sync_api", reason="end-to-end tests need Playwright")
expect = sync_api.expect
Page = sync_api.Page
NewPage = Callable[..., "sync_api.Page"]

SHOTS = Path(tempfile.gettempdir()) / "cdp-e2e-screenshots"
SIZES = {"tablet": {"width": 768, "height": 1024}, "desk": {"width": 1280, "height": 800}}


def shoot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.wait_for_load_state("load")
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True, animations="disabled")


def a_customer_without_appointments(live_server: LiveServer, skip: int) -> tuple[str, str]:
    rows = live_server.query(
        """
        SELECT s.profile_id, s.name FROM profile_search AS s
        WHERE s.name IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM appointment AS a WHERE a.profile_id = s.profile_id)
        ORDER BY s.name LIMIT 1 OFFSET ?
        """,
        (skip,),
    )
    if not rows:
        pytest.fail("the demo has no named customer without an appointment")
    return str(uuid.UUID(str(rows[0][0]))), str(rows[0][1])


@pytest.mark.parametrize("size", list(SIZES))
def test_reception_checks_in_an_appointment_and_a_walk_in(
    new_page: NewPage, live_server: LiveServer, size: str
) -> None:
    now = datetime.now(ZoneInfo("Europe/Amsterdam"))
    if now.hour == 23 and now.minute > 50:
        pytest.skip("an appointment planned now would fall on tomorrow")
    profile_id, name = a_customer_without_appointments(live_server, skip=list(SIZES).index(size))
    page = new_page("sales")
    page.set_viewport_size(SIZES[size])  # type: ignore[arg-type]

    # Planned for today, this hour, with the signed-in salesperson.
    page.goto(f"/showroom/customers/{profile_id}/appointments/new")
    form = page.locator("form.plan-form")
    form.get_by_label("Day").fill(now.date().isoformat())
    form.get_by_label("Time").fill(f"{now.hour:02d}:00")
    form.get_by_label("Who receives them").select_option(label="Sanne Showroom")
    form.get_by_role("button", name="Plan appointment").click()
    page.wait_for_url(re.compile(r"/showroom/customers/"))
    appointment_id = live_server.query(
        "SELECT id FROM appointment WHERE profile_id = ? OR profile_id = ?",
        (profile_id, profile_id.replace("-", "")),
    )[0][0]

    page.get_by_role("link", name="Floor", exact=True).click()
    expected = page.locator(f"#expected-{appointment_id}")
    expect(expected).to_contain_text(name)
    shoot(page, f"floor-{size}")
    expected.get_by_role("link", name="Arrived").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Check in {name}")
    expect(page.locator(".proposal")).to_contain_text("Sanne Showroom, their own salesperson")
    shoot(page, f"floor-check-in-appointment-{size}")
    page.get_by_role("button", name="Check in", exact=True).click()
    expect(page.get_by_role("status")).to_have_text("Checked in.")
    on_floor = page.locator(".floor-visit", has_text=name)
    expect(on_floor).to_contain_text("with Sanne Showroom")
    expect(page.locator(f"#expected-{appointment_id}")).to_have_count(0)
    assert live_server.query("SELECT status FROM appointment WHERE id = ?", (appointment_id,)) == [
        ("showed",)
    ]

    walk_in = f"Walk-in {uuid.uuid4().hex[:4]}"
    page.locator("#visitor-name").fill(walk_in)
    page.get_by_role("button", name="Check in walk-in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Check in {walk_in}")
    shoot(page, f"floor-check-in-walk-in-{size}")
    choices = page.locator("label.salesperson")
    expect(choices.first).to_be_visible()
    if page.locator("input[name=salesperson]:checked").count() == 0:
        choices.first.click()  # everyone busy: reception chooses
    page.get_by_role("button", name="Check in", exact=True).click()
    expect(page.locator(".floor-visit", has_text=walk_in)).to_be_visible()
    shoot(page, f"floor-two-on-the-floor-{size}")

    # Ended after its question; it stays in today's visits with its outcome.
    visit = page.locator(".floor-visit", has_text=walk_in)
    visit.get_by_label("Outcome").select_option(label="Just looking")
    visit.get_by_role("button", name="End visit").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"End the visit of {walk_in}?")
    page.get_by_role("button", name="End the visit").click()
    expect(page.get_by_role("status")).to_have_text("Visit ended.")
    expect(page.locator(".floor-visit", has_text=walk_in)).to_have_count(0)
    expect(page.locator(".visits-table")).to_contain_text("Just looking")
    shoot(page, f"floor-after-{size}")
