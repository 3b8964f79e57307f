"""Nothing lost by a tap, in a real browser: "Mark delivered" taken back with its Undo, and a
tablet session ended with an unsaved car (after its question) resumed from the draft. The
screens are photographed at desk (1280x900) and tablet (1024x768) size, to be looked at."""

from __future__ import annotations

import re
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
TABLET = {"width": 1024, "height": 768}
DEMO_DEALER = "NW-EHV"  # where the e2e staff work (tests/e2e/conftest.py)


def shoot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.wait_for_load_state("load")
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True, animations="disabled")


def test_mark_delivered_is_undone_from_the_queue(
    new_page: NewPage, live_server: LiveServer
) -> None:
    # A handover at the delivery specialist's own dealer: they see no other dealer's.
    rows = live_server.query(
        "SELECT delivery.id FROM delivery JOIN dealer ON dealer.id = delivery.dealer_id"
        " WHERE delivery.status = 'scheduled' AND delivery.lead_id IS NOT NULL"
        " AND dealer.code = ? ORDER BY delivery.id",
        (DEMO_DEALER,),
    )
    if not rows:
        pytest.fail("the demo has no car waiting for its handover")
    delivery_id = rows[0][0]
    page = new_page("delivery")
    page.goto("/showroom/deliveries")
    row = page.locator(f"#delivery-{delivery_id}")
    car = row.locator(".car strong").inner_text().strip()
    row.get_by_role("button", name="Mark delivered").click()

    offer = page.locator("[data-undo-seconds]")
    expect(offer).to_contain_text(f"Delivered: {car}")
    expect(page.locator(f"#delivery-{delivery_id}")).to_have_count(0)
    shoot(page, "undo-delivered-desk")
    offer.get_by_role("button", name="Undo").click()

    expect(page.get_by_role("status")).to_contain_text("Undone:")
    expect(page.locator(f"#delivery-{delivery_id}")).to_be_visible()
    assert live_server.query("SELECT status FROM delivery WHERE id = ?", (delivery_id,)) == [
        ("scheduled",)
    ]
    stage = live_server.query(
        "SELECT l.stage FROM lead AS l JOIN delivery AS d ON d.lead_id = l.id WHERE d.id = ?",
        (delivery_id,),
    )
    assert stage == [("sold",)]
    shoot(page, "undo-delivered-undone-desk")

    # The offer is withdrawn after a few seconds; what happened stays said.
    row = page.locator(f"#delivery-{delivery_id}")
    row.get_by_role("button", name="Mark delivered").click()
    offer = page.locator("[data-undo-seconds]")
    expect(offer).to_contain_text("Delivered:")
    expect(offer.get_by_role("button", name="Undo")).to_have_count(0, timeout=15_000)
    expect(offer).to_contain_text("Delivered:")


def test_an_unsaved_car_is_kept_as_a_draft_and_resumed(new_page: NewPage) -> None:
    page = new_page("sales")
    page.set_viewport_size(TABLET)
    page.goto("/showroom/tablet")
    page.get_by_role("button", name="Start a session with a customer").click()
    page.wait_for_url(re.compile(r"/showroom/tablet/\d+/customer$"))
    form = page.locator("form.t-form")
    first = "Draft" + uuid.uuid4().hex[:5]
    form.get_by_label("First name", exact=True).fill(first)
    form.get_by_label("Last name", exact=True).fill("Jansen")
    form.get_by_label("E-mail", exact=True).fill(f"{first.lower()}@example.test")
    form.get_by_role("button", name="Add customer and configure").click()
    page.wait_for_url(re.compile(r"/configure$"))
    model = page.locator("button.t-tile-model").nth(1)
    model_name = model.locator(".t-tile-title").inner_text().strip()
    model.click()
    expect(page.locator("button.t-tile-model[aria-pressed='true']")).to_contain_text(model_name)

    # Ended from the start page, the unsaved car is asked about first.
    page.goto("/showroom/tablet")
    page.get_by_role("button", name=re.compile(f"End the session with {first}")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("The car is not saved yet")
    expect(page.locator(".t-confirm")).to_contain_text(model_name)
    shoot(page, "draft-confirm-tablet")
    page.get_by_role("button", name="End and keep as a draft").click()
    page.wait_for_url(re.compile(r"/done$"))
    expect(page.get_by_role("status")).to_contain_text("kept as a draft")
    shoot(page, "draft-done-tablet")

    page.get_by_role("link", name="Tablet session").click()
    drafts = page.locator(".t-drafts li", has_text=first)
    expect(drafts).to_have_count(1)
    shoot(page, "draft-start-tablet")
    drafts.get_by_role("button", name=re.compile("Resume")).click()
    page.wait_for_url(re.compile(r"/configure$"))
    expect(page.locator(".t-bar")).to_contain_text(first)
    expect(page.locator("#configurator")).to_contain_text("the car that was not saved")
    expect(page.locator("#configurator")).to_contain_text(model_name)
    shoot(page, "draft-resumed-tablet")
    page.get_by_role("button", name="Save configuration").click()
    page.wait_for_url(re.compile(r"/saved$"))
    expect(page.locator("p.t-code")).to_have_text(re.compile(r"NW-\w{6}"))


def test_a_lead_card_is_called_logged_and_lost_after_asking(
    new_page: NewPage, live_server: LiveServer
) -> None:
    rows = live_server.query(
        """
        SELECT s.profile_id, s.name FROM profile_search AS s
        WHERE s.name IS NOT NULL AND s.phone IS NOT NULL AND s.email IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM lead WHERE lead.profile_id = s.profile_id)
        ORDER BY s.name
        """
    )
    if not rows:
        pytest.fail("the demo has no customer with a phone, an e-mail and no lead")
    profile_id, name = str(uuid.UUID(str(rows[0][0]))), rows[0][1]
    page = new_page("sales")
    page.goto(f"/showroom/customers/{profile_id}")
    page.locator("#deal").get_by_label("Came in through").select_option(label="Walk-in")
    page.locator("#deal").get_by_role("button", name="Create lead").click()
    expect(page.locator("#deal")).to_contain_text("Walk-in")

    page.get_by_role("link", name="My leads").click()
    card = page.locator("li.lead-row", has=page.get_by_role("link", name=name, exact=True))
    expect(card.locator("a.tel")).to_have_attribute("href", re.compile(r"^tel:\+?\d+$"))
    expect(card.locator("a.mail")).to_have_attribute("href", re.compile(r"^mailto:.+@.+"))
    shoot(page, "lead-cards-desk")

    card.get_by_role("link", name="Call", exact=True).click()
    page.locator("form.outcomes").get_by_role("button", name="No answer").click()
    page.wait_for_url(re.compile(r"/contact/logged\?"))
    expect(page.get_by_role("status")).to_contain_text("Call: no answer")
    expect(page.get_by_role("textbox", name="Next action")).to_have_value("Try again")
    shoot(page, "contact-logged-desk")
    page.get_by_role("button", name="Set next action").click()
    page.wait_for_url(re.compile(r"/showroom/leads$"))
    expect(card).to_contain_text("Try again")

    page.goto(f"/showroom/customers/{profile_id}")
    form = page.locator("form.stage-form").first
    form.locator("select[name=stage]").select_option("lost")
    form.locator("select[name=lost_reason]").select_option("price")
    form.get_by_role("button", name="Change stage").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Mark the lead of {name} lost?")
    shoot(page, "lost-confirm-desk")
    page.get_by_role("button", name="Mark lost").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(name)
    expect(page.locator(".flash")).to_contain_text(f"of {name} was marked lost")
