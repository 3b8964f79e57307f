"""The return on spend and the spend page in a real browser, on the demo's year of spend: the
importer's manager reads cost per sale per channel, enters spend with the keyboard (a mistake
marked, then corrected) and imports a file after its preview; a dealer's manager (a demo
account) enters only their own dealer's spend. Both sizes, screenshots looked at."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.helpers import fits_every_size, signed_in_demo

sync_api = pytest.importorskip("playwright.sync_api", reason="end-to-end tests need Playwright")
expect = sync_api.expect
Page = sync_api.Page


def test_the_importer_manager_reads_the_return_and_enters_spend(
    new_page: Callable[..., Page], sign_in_form: Callable[..., None], tmp_path: Path
) -> None:
    page = signed_in_demo(new_page, sign_in_form, "manager@demo.example")
    page.get_by_role("link", name="Spend", exact=True).click()
    page.wait_for_url("**/showroom/spend")
    expect(page.get_by_role("heading", name="Return on spend")).to_be_visible()
    assert page.locator(".cost-chart .bar").count() >= 2
    expect(page.locator(".spend-table tbody.channel").first).to_be_visible()
    fits_every_size(page, "spend-return")

    page.get_by_role("link", name="Enter or import spend, set the margin per sale").click()
    page.wait_for_url("**/showroom/spend/entries")
    campaign = f"e2e-{uuid.uuid4().hex[:6]}"
    page.locator("#spend-month").fill("2026-13")
    page.locator("#spend-channel").select_option("event")
    page.locator("#spend-campaign").fill(campaign)
    page.locator("#spend-amount").fill("1.234")
    page.locator("#spend-amount").press("Enter")
    expect(page.locator("#spend-problems")).to_contain_text("2 problems")
    expect(page.locator("#spend-month")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#spend-month")).to_be_focused()
    fits_every_size(page, "spend-entries-problems")
    page.locator("#spend-month").fill("2026-11")
    page.locator("#spend-amount").fill("1.234,50")
    page.locator("#spend-amount").press("Enter")
    expect(page.locator(".notice")).to_have_text("Spend added.")
    page.goto(page.url.split("?")[0] + "?year=2026")

    csv_file = tmp_path / "spend.csv"
    csv_file.write_text(
        f'month;channel;campaign;dealer_code;amount\n2026-11;event;{campaign};;"1.500,00"\n'
        f"2026-10;event;{campaign};NW-EHV;250\n",
        encoding="utf-8",
    )
    page.locator("#spend-file").set_input_files(str(csv_file))
    page.get_by_role("button", name="Check the file").click()
    expect(page.get_by_role("heading", name="Import spend.csv?")).to_be_visible()
    expect(page.locator(".replaced")).to_have_text("1")
    fits_every_size(page, "spend-import-preview")
    page.get_by_role("button", name="Import 2 lines").click()
    expect(page.locator(".notice")).to_have_text("Spend imported: 1 added, 1 replaced.")


def test_a_dealer_manager_enters_only_their_dealers_spend(
    new_page: Callable[..., Page], sign_in_form: Callable[..., None]
) -> None:
    page = signed_in_demo(new_page, sign_in_form, "manager.antwerpen@demo.example")
    page.goto(page.url.replace("/showroom", "/showroom/spend/entries"))
    options = page.locator("#spend-dealer option")
    expect(options).to_have_count(1)
    expect(options.first).to_have_attribute("value", "NW-ANT")
    expect(page.locator("tr[data-entry]").first).to_contain_text("NW-ANT")
    page.goto(page.url.replace("/showroom/spend/entries", "/showroom/spend"))
    expect(page.locator(".meta").first).to_contain_text("Leads that came in")
    fits_every_size(page, "spend-return-dealer")
