"""The network view and the dealers admin page in a real browser, on the demo's dealer network:
the importer's manager sees every dealer and sorts by keyboard, a dealer's manager (a demo
account) sees only theirs, an admin adds a dealer with a mistake corrected; both pages at a desk
(1280x800) and on a tablet (768x1024), with screenshots looked at."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.e2e.helpers import fits_every_size, signed_in_demo

sync_api = pytest.importorskip("playwright.sync_api", reason="end-to-end tests need Playwright")
expect = sync_api.expect
Page = sync_api.Page


def test_the_importer_manager_compares_every_dealer_and_sorts_by_keyboard(
    new_page: Callable[..., Page], sign_in_form: Callable[..., None]
) -> None:
    page = signed_in_demo(new_page, sign_in_form, "manager@demo.example")
    page.get_by_role("link", name="Network").click()
    page.wait_for_url("**/showroom/network")
    rows = page.locator(".network-table tbody tr")
    # The demo's dealers (another test may add one); MAIN is gone, no lead is unrouted.
    expect(page.locator('.network-table tbody tr[data-dealer^="NW-"]')).to_have_count(14)
    expect(
        page.locator('tr[data-dealer="MAIN"], tr[data-dealer="unassigned-queue"]')
    ).to_have_count(0)
    expect(page.locator('tr[data-dealer="NW-EHV"] th a')).to_have_attribute(
        "href", "/showroom/leads?dealer=NW-EHV"
    )
    page.get_by_label("Period").select_option("30d")
    page.wait_for_url("**period=30d**")
    # Sort by leads with the keyboard alone: focus the heading's link, press Enter.
    page.get_by_role("link", name="Leads", exact=True).focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**sort=-leads**")
    expect(page.locator('th[aria-sort="descending"]')).to_contain_text("Leads")
    counts = [int(text) for text in rows.locator("td:nth-child(2)").all_inner_texts()]
    assert counts == sorted(counts, reverse=True) and counts[0] > 0
    fits_every_size(page, "network")


def test_a_dealer_manager_sees_only_their_dealer(
    new_page: Callable[..., Page], sign_in_form: Callable[..., None]
) -> None:
    page = signed_in_demo(new_page, sign_in_form, "manager.antwerpen@demo.example")
    page.goto("/showroom/network?period=quarter")
    rows = page.locator(".network-table tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Nordwind Antwerpen")
    expect(page.locator(".network-table tfoot")).to_contain_text("Your dealers")


def test_the_demo_floor_accounts_cannot_open_the_network(
    new_page: Callable[..., Page], sign_in_form: Callable[..., None]
) -> None:
    page = signed_in_demo(new_page, sign_in_form, "sales@demo.example")
    expect(page.get_by_role("link", name="Network")).to_have_count(0)
    assert page.goto("/showroom/network").status == 403  # type: ignore[union-attr]


def test_an_admin_adds_a_dealer_after_correcting_a_mistake(
    new_page: Callable[..., Page], sign_in_form: Callable[..., None]
) -> None:
    page = signed_in_demo(new_page, sign_in_form, "admin@demo.example")
    page.get_by_role("link", name="Dealers").click()
    page.wait_for_url("**/admin/dealers")
    expect(page.locator('.dealers-table tbody tr[data-dealer^="NW-"]')).to_have_count(14)
    page.locator("#dealer-code").fill("NL-TST1")
    page.locator("#dealer-name").fill("Nordwind Tilburg")
    page.locator("#dealer-country").fill("N1")  # the field takes two characters
    page.locator("#dealer-postal_areas").fill("505, 50-6")
    page.get_by_role("button", name="Add dealer").click()
    expect(page.locator("#dealer-problems")).to_contain_text("2 problems")
    expect(page.locator("#dealer-name")).to_have_value("Nordwind Tilburg")
    fits_every_size(page, "dealers-problems")
    page.locator("#dealer-country").fill("NL")
    page.locator("#dealer-postal_areas").fill("505, 506")
    page.locator("#dealer-postal_areas").press("Enter")  # the keyboard sends the form
    page.wait_for_url("**/admin/dealers?done=created")
    expect(page.locator('tr[data-dealer="NL-TST1"]')).to_contain_text("505, 506")
    page.get_by_role("button", name="Deactivate Nordwind Tilburg").click()
    expect(
        page.get_by_role("heading", name="Deactivate Nordwind Tilburg (NL-TST1)?")
    ).to_be_visible()
    page.get_by_role("button", name="Deactivate", exact=True).click()
    expect(page.locator('tr[data-dealer="NL-TST1"]')).to_contain_text("Inactive")
    fits_every_size(page, "dealers")
