"""A returning customer on the showroom tablet, in a real browser, in both orientations.

Found by name: consent asked next to what is on record, the car they saved tapped to continue from,
a colour changed and saved, and the customer page saying what changed. Entered as new with their
known e-mail and a misspelt name: the tablet asks which name is right and keeps theirs. Every
screen is photographed at 1024x768 and 768x1024 (looked at by hand) and its buttons measured.
"""

from __future__ import annotations

import re
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
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
ORIENTATIONS = {"landscape": (1024, 768), "portrait": (768, 1024)}
MIN_TOUCH = 44  # px: the smallest comfortable touch target


@dataclass(frozen=True)
class Returning:
    profile_id: str
    name: str
    email: str
    code: str
    colour: str


def returning_customers(live_server: LiveServer) -> list[Returning]:
    # From the end of the alphabet: these tests save configurations, and test_showroom_flows.py
    # takes its customer (one whose latest configuration is the demo's) from the start.
    rows = live_server.query(
        """
        SELECT s.profile_id, s.name, s.email, c.code, c.colour
        FROM profile_search AS s
        JOIN configuration AS c ON c.profile_id = s.profile_id
        WHERE s.name IS NOT NULL AND s.email IS NOT NULL AND c.colour IS NOT NULL
          AND (SELECT count(*) FROM profile_search AS o WHERE o.name = s.name) = 1
          AND c.saved_at = (SELECT max(saved_at) FROM configuration WHERE profile_id = s.profile_id)
        ORDER BY s.name DESC
        """
    )
    found = [
        Returning(str(uuid.UUID(str(pid))), name, email, code, colour)
        for pid, name, email, code, colour in rows
        if name.isascii() and " " in name and name.replace(" ", "").isalpha()
    ]
    if len(found) < 4:
        pytest.fail("the demo has too few customers with a plain name, an e-mail and a car")
    return found


def shoot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.wait_for_load_state("load")
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True, animations="disabled")


def assert_touchable(page: Page, selector: str) -> None:
    """Every visible button or choice under `selector` is at least MIN_TOUCH px high, and the
    page does not scroll sideways."""
    for element in page.locator(selector).all():
        if not element.is_visible():
            continue
        box = element.bounding_box()
        assert box is not None
        assert box["height"] >= MIN_TOUCH, (element.inner_text(), box)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"the page is {width} px wide"  # type: ignore[index]


def start_session(page: Page) -> None:
    page.goto("/showroom/tablet")
    page.get_by_role("button", name="Start a session with a customer").click()
    page.wait_for_url(re.compile(r"/showroom/tablet/\d+/customer$"))


@pytest.mark.parametrize("orientation", list(ORIENTATIONS))
def test_a_returning_customer_continues_from_their_saved_car(
    new_page: NewPage, live_server: LiveServer, orientation: str
) -> None:
    customer = returning_customers(live_server)[0 if orientation == "landscape" else 1]
    width, height = ORIENTATIONS[orientation]
    page = new_page("sales")
    page.set_viewport_size({"width": width, "height": height})
    start_session(page)
    search = page.get_by_role("searchbox")
    search.press_sequentially(customer.name, delay=10)
    result = page.locator("#t-results button.t-result", has_text=customer.name).first
    expect(result).to_be_visible()
    result.click()

    page.wait_for_url(re.compile(r"/welcome$"))
    expect(page.locator(".t-bar")).to_contain_text(customer.name)
    consent = page.locator("fieldset.t-consent-q", has_text="e-mail me offers")
    expect(consent.locator(".t-on-record")).to_contain_text(f"{customer.email}:")
    card = page.locator(f'button.t-start-card[value="{customer.code}"]')
    expect(card).to_contain_text(customer.colour)
    expect(card).to_contain_text("Saved")
    assert_touchable(page, ".t-welcome button, .t-welcome .t-seg span")
    shoot(page, f"tablet-welcome-{orientation}")

    consent.locator("label", has_text="Yes").click()
    card.click()
    page.wait_for_url(re.compile(r"/configure$"))
    expect(page.locator("#configurator")).to_have_attribute("data-step", "summary")
    expect(page.locator(".t-summary-table")).to_contain_text(customer.colour)
    shoot(page, f"tablet-loaded-{orientation}")

    page.locator(".t-steps button", has_text="Colour").click()
    expect(page.locator("#configurator")).to_have_attribute("data-step", "colour")
    other = page.locator(".t-choices button.t-tile[aria-pressed='false']").first
    new_colour = other.locator(".t-tile-title").inner_text().strip()
    other.click()
    expect(page.locator(".t-choices button.t-tile", has_text=new_colour)).to_have_attribute(
        "aria-pressed", "true"
    )
    page.locator(".t-steps button", has_text="Summary").click()
    page.get_by_role("button", name="Save configuration").click()
    page.wait_for_url(re.compile(r"/saved$"))
    code = page.locator("p.t-code").inner_text().strip()

    page.goto(f"/showroom/customers/{customer.profile_id}")
    changes = page.get_by_role("article", name=f"Configuration {code}").locator(".changes")
    expect(changes).to_contain_text(f"Made from {customer.code}")
    expect(changes).to_contain_text(f"colour: {customer.colour} → {new_colour}")
    expect(page.locator(".customer-head")).to_contain_text("email: granted")


@pytest.mark.parametrize("orientation", list(ORIENTATIONS))
def test_a_known_email_with_a_misspelt_name_asks_and_keeps_the_name(
    new_page: NewPage, live_server: LiveServer, orientation: str
) -> None:
    customer = returning_customers(live_server)[2 if orientation == "landscape" else 3]
    first, _, last = customer.name.partition(" ")
    width, height = ORIENTATIONS[orientation]
    page = new_page("sales")
    page.set_viewport_size({"width": width, "height": height})
    start_session(page)
    form = page.locator("form.t-form")
    form.get_by_label("First name", exact=True).fill(first[:-1] + "i" + first[-1:])
    form.get_by_label("Last name", exact=True).fill(last.split(" ")[-1])
    form.get_by_label("E-mail", exact=True).fill(customer.email.upper())
    form.get_by_role("button", name="Add customer and configure").click()

    question = page.locator(".t-question")
    expect(question).to_contain_text(f"We already know {customer.name}")
    expect(question.locator("label.t-choice").first).to_contain_text(customer.name)
    assert_touchable(page, ".t-question button, .t-question label.t-choice")
    question.scroll_into_view_if_needed()
    shoot(page, f"tablet-rename-question-{orientation}")

    # Without a choice the question is marked; with "keep ours" the name stays.
    question.get_by_role("button", name=re.compile("Continue with")).click()
    expect(page.locator("fieldset.t-choose[aria-invalid='true']")).to_contain_text(
        "Choose which name is right"
    )
    page.locator(".t-question label.t-choice", has_text="Keep ours").click()
    page.locator(".t-question").get_by_role("button", name=re.compile("Continue with")).click()
    page.wait_for_url(re.compile(r"/welcome$"))
    expect(page.locator(".t-bar")).to_contain_text(customer.name)
    page.goto(f"/showroom/customers/{customer.profile_id}")
    expect(page.get_by_role("heading", level=1)).to_have_text(customer.name)
