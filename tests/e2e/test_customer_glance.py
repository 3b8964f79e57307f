"""The customer page at a glance, in a real browser: at desk size (1280x800) and on a tablet
(768x1024 portrait, 1024x768 landscape) a salesperson sees, without scrolling, the customer's name
and contact details, their car (drawn, its colour, model and price), the latest note, the open
lead and its next action. Each size is photographed to be looked at by hand.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.e2e.helpers import LiveServer

sync_api = pytest.importorskip("playwright.sync_api", reason="end-to-end tests need Playwright")
expect = sync_api.expect
Page = sync_api.Page
NewPage = Callable[..., "sync_api.Page"]

SHOTS = Path(tempfile.gettempdir()) / "cdp-e2e-screenshots"
SIZES = {"desk": (1280, 800), "portrait": (768, 1024), "landscape": (1024, 768)}
NOTE = "Wants the tow bar quoted; comes back Saturday with his partner"
NEXT = "Send the quote with winter tyres"


def online_customer(live_server: LiveServer, taken: int) -> str:
    """A demo customer whose latest configuration was saved online, with no lead yet; each
    size gets its own, so every page is set up from nothing."""
    rows = live_server.query(
        """
        SELECT c.profile_id FROM configuration AS c
        JOIN profile AS p ON p.id = c.profile_id
        WHERE c.channel = 'web' AND p.merged_into_id IS NULL AND c.colour_hex IS NOT NULL
          AND c.saved_at = (SELECT max(saved_at) FROM configuration WHERE profile_id = p.id)
          AND NOT EXISTS (SELECT 1 FROM lead WHERE lead.profile_id = p.id)
        ORDER BY c.saved_at DESC
        LIMIT 10
        """
    )
    if len(rows) <= taken:
        pytest.fail("the demo has too few online customers without a lead")
    return str(uuid.UUID(str(rows[taken][0])))


def set_up_the_deal(page: Page) -> None:
    """A lead, its next action and a note, through the page's own forms."""
    deal = page.locator("#deal")
    deal.get_by_label("Came in through").select_option(index=1)
    deal.get_by_role("button", name="Create lead").click()
    page.wait_for_load_state("load")
    page.locator("#deal").get_by_label("Next action").fill(NEXT)
    page.locator("#deal").get_by_role("button", name="Save next action").click()
    page.wait_for_load_state("load")
    deal = page.locator("#deal")
    deal.locator("summary", has_text="Add a note").click()
    deal.locator("label.choice", has_text="Warm").click()
    deal.get_by_label("Anything else").fill(NOTE)
    deal.get_by_role("button", name="Save note").click()
    page.wait_for_load_state("load")


def assert_in_first_screen(page: Page, selector: str, height: int) -> None:
    box = page.locator(selector).first.bounding_box()
    assert box is not None, f"{selector} is not shown"
    assert box["y"] >= 0 and box["y"] + box["height"] <= height, (selector, box, height)


@pytest.mark.parametrize("size", list(SIZES))
def test_a_salesperson_sees_the_essentials_without_scrolling(
    new_page: NewPage, live_server: LiveServer, size: str
) -> None:
    width, height = SIZES[size]
    profile_id = online_customer(live_server, list(SIZES).index(size))
    page = new_page("sales")
    page.set_viewport_size({"width": width, "height": height})
    page.goto(f"/showroom/customers/{profile_id}")
    set_up_the_deal(page)
    page.goto(f"/showroom/customers/{profile_id}")  # as it opens: at the top
    head = page.locator("section.customer-head")

    colour_hex = live_server.query(
        "SELECT colour_hex FROM configuration WHERE profile_id = ? ORDER BY saved_at DESC LIMIT 1",
        (uuid.UUID(profile_id).hex,),
    )[0][0]
    drawing = head.locator(".glance-car svg.car-drawing")
    expect(drawing).to_have_attribute("style", f"--car: {colour_hex}")
    expect(head.locator(".glance-model .price")).to_contain_text("€")
    expect(head.locator(".latest-note")).to_contain_text(NOTE)
    expect(head.locator(".deal-state")).to_contain_text(NEXT)

    for selector in (
        "h1",
        ".customer-head .contact",
        ".glance-car svg.car-drawing",
        ".glance-model",  # model, trim and price
        ".glance-colour",
        ".latest-note .note-meta",
        ".latest-note .note-text",
        ".deal-state .pill",  # the open lead's stage
        ".deal-state p:has-text('Next:')",
    ):
        assert_in_first_screen(page, selector, height)

    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"customer-glance-{size}.png"), animations="disabled")
