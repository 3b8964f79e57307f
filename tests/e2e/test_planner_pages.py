"""The planner in a real browser, on the demo's dealer network: the importer's manager plans the
next quarter from a target, saves it and opens the comparison; a Belgian dealer's manager plans
with Belgian holidays; the what-if page; every page at a desk (1280x800) and on a tablet
(768x1024), with screenshots looked at."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from tests.e2e.helpers import fits_every_size, signed_in_demo

sync_api = pytest.importorskip("playwright.sync_api", reason="end-to-end tests need Playwright")
expect = sync_api.expect
Page = sync_api.Page


def test_the_importer_manager_plans_a_quarter_saves_it_and_compares(
    new_page: Callable[..., Page], sign_in_form: Callable[..., None]
) -> None:
    page = signed_in_demo(new_page, sign_in_form, "manager@demo.example")
    page.get_by_role("link", name="Planner").click()
    page.wait_for_url("**/showroom/planner")
    fits_every_size(page, "planner")
    page.get_by_role("link", name="From a sales target to leads").click()
    page.wait_for_url("**/showroom/planner/reverse")
    # The demo's year of sales gives the mix; a target typed, then calculated by keyboard.
    # The quarter under way, so the demo's leads of its first months are there to compare.
    today = datetime.now(ZoneInfo("Europe/Amsterdam")).date()
    page.get_by_label("Year").fill(str(today.year))
    page.get_by_label("Quarter").select_option(str((today.month - 1) // 3 + 1))
    page.get_by_label("New cars").fill("120")
    page.get_by_label("Used cars").fill("40")
    page.get_by_label("Used cars").press("Enter")
    page.wait_for_url("**target_new=120**")
    expect(page.locator("#result-h")).to_contain_text("for 160 cars")
    fits_every_size(page, "planner-reverse")
    page.get_by_label("Save as").fill("Network spring")
    page.get_by_role("button", name="Save the plan").click()
    page.wait_for_url("**/showroom/planner/plans/*")
    expect(page.locator("h1")).to_have_text("Network spring")
    expect(page.locator(".compare-chart li")).to_have_count(3)
    actual = page.locator(".compare-chart li").first.locator(".value").first.inner_text()
    assert int(actual.split(" of ")[0]) > 0, actual  # the demo's leads of the first month
    fits_every_size(page, "planner-plan")
    page.get_by_role("link", name="What if… (from these leads)").click()
    page.wait_for_url("**/showroom/planner/forward?plan=*")
    page.locator("#plan-test_drive").fill("70")
    page.locator("#plan-test_drive").press("Enter")
    page.wait_for_url("**plan-test_drive=70**")
    expect(page.locator("#outlook-h")).to_contain_text("with the what-ifs")
    fits_every_size(page, "planner-forward")


def test_a_belgian_dealers_manager_plans_with_belgian_holidays(
    new_page: Callable[..., Page], sign_in_form: Callable[..., None]
) -> None:
    page = signed_in_demo(new_page, sign_in_form, "manager.antwerpen@demo.example")
    page.goto("/showroom/planner/reverse")
    expect(page.locator("#dealer")).to_have_count(0)  # their one dealer: nothing to choose
    expect(page.locator("#country")).to_have_value("BE")
    page.get_by_label("New cars").fill("abc")
    page.get_by_role("button", name="Calculate").click()
    expect(page.locator("#target_new")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#planner-problems")).to_contain_text("not a number")
    fits_every_size(page, "planner-reverse-problem")
