"""What people type fits the screen, in a real browser: a 100-letter name with no space (the
forms allow it) on the customer page, in the search results and on the tablet's start page; the
tablet note's licence plate as wide as a plate; the staff list's actions on screen at laptop and
tablet width; the header's links clear of the alert tray; a NUL character pasted into a form
answered with a page to go back from (what was typed kept) or to send the form again without it.
Each screen is photographed (looked at by hand) and measured."""

from __future__ import annotations

import re
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.e2e.helpers import signed_in_demo

if TYPE_CHECKING:
    from tests.e2e.helpers import LiveServer

sync_api = pytest.importorskip("playwright.sync_api", reason="end-to-end tests need Playwright")
expect = sync_api.expect
Page = sync_api.Page
NewPage = Callable[..., "sync_api.Page"]

SHOTS = Path(tempfile.gettempdir()) / "cdp-e2e-screenshots"
DESK, LAPTOP, PORTRAIT = (1280, 900), (1024, 768), (768, 1024)
PLATE_WIDTH = 150  # px: "12-ABC-3" (or Belgian "1-ABC-123") whole, at the tablet's font size
HEADER_GAP = 8  # px: the least room between two things side by side in the header


def shoot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.wait_for_load_state("load")
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True, animations="disabled")


def at(page: Page, size: tuple[int, int]) -> None:
    page.set_viewport_size({"width": size[0], "height": size[1]})


def fits(page: Page, what: str) -> None:
    """The page does not scroll sideways."""
    width, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width <= inner, f"{what}: the page is {width} px wide in a {inner} px window"


def box(page: Page, selector: str) -> dict[str, float]:
    found = page.locator(selector).first.bounding_box()
    assert found is not None, selector
    return found


def apart(a: dict[str, float], b: dict[str, float]) -> bool:
    """Two boxes that do not overlap."""
    return (
        a["x"] + a["width"] <= b["x"]
        or b["x"] + b["width"] <= a["x"]
        or a["y"] + a["height"] <= b["y"]
        or b["y"] + b["height"] <= a["y"]
    )


def letters(n: int) -> str:
    return "".join(chr(ord("a") + int(c, 16)) for c in uuid.uuid4().hex[:n])


def test_a_hundred_letter_name_wraps_on_every_page_that_shows_it(new_page: NewPage) -> None:
    tag = letters(6)
    first, last = ("Lang" + tag).ljust(100, "a"), ("Naam" + tag).ljust(100, "o")
    email = f"lang.{tag}@example.test"
    page = new_page("sales")
    page.goto("/showroom/tablet")
    page.get_by_role("button", name="Start a session with a customer").click()
    page.wait_for_url(re.compile(r"/showroom/tablet/\d+/customer$"))
    form = page.locator("form.t-form")
    form.get_by_label("First name", exact=True).fill(first)
    form.get_by_label("Last name", exact=True).fill(last)
    form.get_by_label("E-mail", exact=True).fill(email)
    form.get_by_role("button", name="Add customer and configure").click()
    page.wait_for_url(re.compile(r"/configure$"))
    session_url = page.url.removesuffix("/configure")
    page.locator("button.t-tile-model").nth(1).click()
    expect(page.locator("button.t-tile-model[aria-pressed='true']")).to_have_count(1)
    page.locator(".t-steps button", has_text="Summary").click()
    page.get_by_role("button", name="Save configuration").click()
    page.wait_for_url(re.compile(r"/saved$"))

    # The tablet's start page lists the open session by name: beside "Continue" and "End".
    page.goto("/showroom/tablet")
    session = page.locator(".t-open li", has_text=first[:20])
    for size in (PORTRAIT, LAPTOP, DESK):
        at(page, size)
        fits(page, f"tablet start at {size}")
        name = session.locator("strong").bounding_box()
        go = session.locator(".t-open-go").bounding_box()
        end = session.get_by_role("button", name="End").bounding_box()
        assert name and go and end
        assert name["x"] + name["width"] <= go["x"], size
        assert end["x"] + end["width"] <= size[0], size
        shoot(page, f"long-name-tablet-start-{size[0]}")

    # The note's licence plate: as wide as the trade-in's make above it, at every size.
    page.goto(f"{session_url}/note")
    for size in (DESK, LAPTOP, PORTRAIT):
        at(page, size)
        fits(page, f"tablet note at {size}")
        plate = box(page, "input[name=licence_plate]")
        assert plate["width"] >= PLATE_WIDTH, (size, plate)
        shoot(page, f"tablet-note-plate-{size[0]}")

    # The customer page: the name wraps in its column, clear of the car and the lead.
    page.get_by_role("link", name="customer page").click()
    page.wait_for_url(re.compile(r"/showroom/customers/"))
    deal = page.locator("#deal")
    deal.get_by_label("Came in through").select_option(label="Walk-in")
    deal.get_by_role("button", name="Create lead").click()
    expect(page.locator(".customer-head .deal-state")).to_contain_text("Walk-in")
    for size in (DESK, LAPTOP, PORTRAIT):
        at(page, size)
        fits(page, f"customer page at {size}")
        heading = box(page, ".customer-head h1")
        for other in (".customer-head .glance-car", ".customer-head .deal-state"):
            assert apart(heading, box(page, other)), (size, other)
        assert (
            heading["x"] + heading["width"]
            <= box(page, ".customer-head")["x"] + box(page, ".customer-head")["width"]
        )
        shoot(page, f"long-name-customer-{size[0]}")

    # The search results: the line keeps to the list's width.
    page.goto(f"/showroom?q={email}")
    line = page.locator("a.result")
    expect(line).to_have_count(1)
    for size in (DESK, LAPTOP, PORTRAIT):
        at(page, size)
        fits(page, f"search results at {size}")
        found, results = line.bounding_box(), box(page, "#results")
        assert found is not None
        assert found["x"] + found["width"] <= results["x"] + results["width"], size
        shoot(page, f"long-name-search-{size[0]}")


def test_the_staff_list_shows_every_action_without_scrolling_sideways(new_page: NewPage) -> None:
    page = new_page("admin")
    page.goto("/admin/users")
    invite = page.locator("form.invite-form")
    invite.get_by_label("E-mail address").fill(f"invited.{letters(6)}@example.test")
    invite.get_by_label("Name").fill("Invited Person")
    invite.get_by_label("Role").select_option("marketing")
    invite.get_by_role("button", name="Create invitation link").click()
    expect(
        page.get_by_role("button", name="New invitation link for Invited Person")
    ).to_be_visible()
    for size in (DESK, LAPTOP, PORTRAIT):
        at(page, size)
        fits(page, f"staff list at {size}")
        wrap: dict[str, Any] = page.evaluate(
            """() => { const w = document.querySelector('.admin-table-wrap');
                       return {scroll: w.scrollWidth, client: w.clientWidth,
                               right: w.getBoundingClientRect().right}; }"""
        )
        assert wrap["scroll"] <= wrap["client"], (size, wrap)  # nothing hidden in its box
        buttons = page.locator(".staff-table td.actions button")
        assert buttons.count() > 10
        for button in buttons.all():
            found = button.bounding_box()
            assert found is not None
            assert found["x"] >= 0 and found["x"] + found["width"] <= wrap["right"], (
                size,
                button.inner_text(),
                found,
            )
        # A dealer code is never broken at its hyphen ("NW-" / "UTR").
        broken = page.evaluate(
            """() => [...document.querySelectorAll('.staff-table .dealer-code')]
                     .filter(code => code.getClientRects().length > 1)
                     .map(code => code.textContent)"""
        )
        assert broken == [], size
        assert page.locator(".staff-table .dealer-code").count() > 10
        page.screenshot(path=str(SHOTS / f"staff-list-{size[0]}.png"), animations="disabled")


def test_the_header_keeps_its_links_clear_of_the_alert_tray(
    new_page: NewPage, sign_in_form: Callable[..., None]
) -> None:
    """delivery@'s two links and the tray share the header's line at tablet width: the tray's
    margin was all that kept them apart, and it shrank to nothing."""
    page = signed_in_demo(new_page, sign_in_form, "delivery@demo.example")
    page.goto("/showroom/deliveries")
    for width in range(768, 1281, 8):
        at(page, (width, 1024))
        closest = page.evaluate(
            """() => {
              const header = document.querySelector('header.top');
              const parts = [...header.querySelectorAll(
                '.brand, nav a, .alert-menu > summary, .signout .who, .signout button')];
              let least = Infinity;
              for (const a of parts) for (const b of parts) {
                if (a === b || a.contains(b) || b.contains(a)) continue;
                const p = a.getBoundingClientRect(), q = b.getBoundingClientRect();
                if (p.bottom <= q.top || q.bottom <= p.top || p.right > q.left) continue;
                least = Math.min(least, q.left - p.right);
              }
              return least;
            }"""
        )
        assert closest >= HEADER_GAP, f"{closest} px between two header items at {width} px"
    at(page, PORTRAIT)
    fits(page, "deliveries at 768")
    page.screenshot(
        path=str(SHOTS / "header-delivery-768.png"),
        clip={"x": 0, "y": 0, "width": 768, "height": 160},
    )


def test_a_nul_character_pasted_into_a_form_is_answered_on_a_page_with_the_way_back(
    new_page: NewPage, live_server: LiveServer
) -> None:
    page = new_page("sales")
    page.locator("#q").fill("Jan\x00sen")  # what a paste from some programs brings along
    expect(page.locator("#results [role=alert]")).to_contain_text("The search field holds")
    shoot(page, "nul-search-typing")

    # A note on a customer page: the way back keeps what was typed in the form.
    rows = live_server.query("SELECT profile_id FROM profile_search WHERE name IS NOT NULL")
    customer_url = f"/showroom/customers/{uuid.UUID(str(rows[0][0]))}"
    page.goto(customer_url)
    add_note = page.locator("#deal summary", has_text="Add a note")
    note = page.locator("#deal textarea[name=text]")
    add_note.click()
    text = f"Wants a test drive {letters(6)}"
    note.fill(text.replace("test", "te\x00st"))
    note.locator("xpath=ancestor::form").get_by_role("button", name="Save note").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("That did not work")
    expect(page.locator("main")).to_contain_text("The note field holds an invisible control")
    expect(page.locator(".resend-preview dd")).to_have_text(text)
    shoot(page, "nul-note-refused")
    page.get_by_role("link", name="Go back to the form").click()
    page.wait_for_url(re.compile(re.escape(customer_url) + "$"))
    assert note.input_value() == text.replace("test", "te\x00st")

    # Sent again without the character: the note is saved as shown.
    if not note.is_visible():
        add_note.click()
    note.locator("xpath=ancestor::form").get_by_role("button", name="Save note").click()
    page.get_by_role("button", name="Send it without the character").click()
    page.wait_for_url(re.compile(r"/showroom/customers/"))
    expect(page.locator("#deal")).to_contain_text(text)


BACK_OFFICE = [
    "/showroom/leads?who=all",
    "/showroom/funnel?period=last365",
    "/showroom/network",
    "/showroom/planner",
    "/showroom/spend",
    "/admin/audit",
    "/admin/dealers",
    "/segments",
    "/segments/audiences",
    "/segments/exports",
]


def test_the_back_office_pages_fit_a_laptop_and_a_tablet(new_page: NewPage) -> None:
    """A trial found the leads page's Show button, the audit trail and the export log wider
    than a tablet held upright."""
    page = new_page("admin")
    for url in BACK_OFFICE:
        page.goto(url)
        for size in (DESK, LAPTOP, PORTRAIT):
            at(page, size)
            fits(page, f"{url} at {size}")
