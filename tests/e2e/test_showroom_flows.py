"""The staff pages in a real browser, against a real server loaded with the demo.

Covers: signing in and finding a demo customer by name with a typo (htmx search as you type,
keyboard navigation) down to their saved configuration; a showroom tablet session end to end (new
customer with consents, configuration, save, structured note) and its result on the customer
page; hostile input (markup and SQL in the search box, a wrong password, an open redirect, a role
without the tablet); every main navigation link opens; later days' visitors cannot be marked
arrived; the lead funnel's table fits a laptop and scrolls under its channel column on a tablet;
screenshots of the main pages for docs/pages.md (CDP_UPDATE_SCREENSHOTS=1 writes them
to docs/screenshots/).
"""

from __future__ import annotations

import os
import re
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

import pytest

if TYPE_CHECKING:
    from tests.e2e.helpers import LiveServer, StaffLogin

sync_api = pytest.importorskip("playwright.sync_api", reason="end-to-end tests need Playwright")
expect = sync_api.expect
Page = sync_api.Page

# Refreshing the committed screenshots is opt-in (CDP_UPDATE_SCREENSHOTS=1), so a test run
# leaves the work tree clean; otherwise they go to a scratch folder and are still looked at.
SCREENSHOTS = (
    Path(__file__).resolve().parents[2] / "docs" / "screenshots"
    if os.environ.get("CDP_UPDATE_SCREENSHOTS")
    else Path(tempfile.gettempdir()) / "cdp-e2e-screenshots"
)
NewPage = Callable[..., "sync_api.Page"]
SignIn = Callable[..., None]
Staff = dict[str, "StaffLogin"]


@dataclass(frozen=True)
class KnownCustomer:
    profile_id: str
    name: str
    typo: str
    model: str
    colour: str
    code: str

    @property
    def url(self) -> str:
        return f"/showroom/customers/{self.profile_id}"


def misspell(name: str) -> str:
    """Double a letter in the middle of the last name: 'Jeroen Smit' -> 'Jeroen Smiit'."""
    first, _, last = name.rpartition(" ")
    at = len(last) // 2
    return f"{first} {last[: at + 1]}{last[at:]}"


@pytest.fixture(scope="module")
def known_customer(live_server: LiveServer) -> KnownCustomer:
    """A real demo customer with a saved configuration and a name nobody else has."""
    rows = live_server.query(
        """
        SELECT s.profile_id, s.name, c.model, c.colour, c.code
        FROM profile_search AS s
        JOIN configuration AS c ON c.profile_id = s.profile_id
        WHERE s.name IS NOT NULL AND c.model IS NOT NULL AND c.colour IS NOT NULL
          AND (SELECT count(*) FROM profile_search AS o WHERE o.name = s.name) = 1
          AND c.saved_at = (SELECT max(saved_at) FROM configuration WHERE profile_id = s.profile_id)
        ORDER BY s.name
        """
    )
    for profile_id, name, model, colour, code in rows:
        last = name.rpartition(" ")[2]
        if name.isascii() and " " in name and len(last) >= 5 and last.isalpha():
            return KnownCustomer(
                profile_id=str(uuid.UUID(str(profile_id))),
                name=name,
                typo=misspell(name),
                model=model,
                colour=colour,
                code=code,
            )
    pytest.fail("the demo has no customer with a plain name and a saved configuration")


def search(page: Page, text: str) -> None:
    """Type into the lookup box as a person does, one key at a time."""
    box = page.get_by_role("searchbox")
    box.fill("")
    box.press_sequentially(text, delay=15)


# --- 1. sign in, search with a typo, open the customer, see the configuration ---------------------
def test_lookup_with_a_typo_finds_the_customer_and_their_configuration(
    new_page: NewPage, sign_in_form: SignIn, staff: Staff, known_customer: KnownCustomer
) -> None:
    page = new_page()
    sign_in_form(page, staff["sales"].email, staff["sales"].password)
    page.wait_for_url("**/showroom")
    expect(page.get_by_role("heading", name="Find a customer")).to_be_visible()
    expect(page.get_by_role("searchbox")).to_be_focused()  # autofocus: type straight away
    assert page.evaluate("typeof htmx") == "object", "htmx did not load"

    search(page, known_customer.typo)
    results = page.locator("#results a.result")
    target = page.locator(f'#results a.result[href^="{known_customer.url}?q="]')
    expect(target).to_be_visible()
    expect(target).to_contain_text(known_customer.name)
    expect(target).to_contain_text(known_customer.model)
    # best match first
    expect(results.first).to_have_attribute("href", re.compile(re.escape(known_customer.url)))
    assert urlsplit(page.url).path == "/showroom", "the results must come in without a page load"
    # The address keeps the search, for Back from the customer page.
    expect(page).to_have_url(re.compile(r"/showroom\?q="))

    page.keyboard.press("ArrowDown")
    expect(results.first).to_be_focused()
    page.keyboard.press("Enter")
    page.wait_for_url(f"**{known_customer.url}?q=*")

    expect(page.get_by_role("heading", level=1)).to_have_text(known_customer.name)
    card = page.get_by_role("article", name=f"Configuration {known_customer.code}")
    expect(card).to_have_class(re.compile(r"\bprimary\b"))
    expect(card.get_by_role("heading", level=3)).to_contain_text(known_customer.model)
    expect(card.locator(".choices")).to_contain_text(known_customer.colour)
    expect(card.locator("footer")).to_contain_text(known_customer.code)

    # The intent signal names the same day as the card: both in the showroom's time zone.
    saved_on = re.search(r"saved (\d{2}-\d{2}-\d{4})", card.locator("footer").inner_text())
    assert saved_on is not None
    signal = page.locator(".signals li", has_text="Saved configuration")
    expect(signal).to_contain_text(f"saved {saved_on.group(1)} ({known_customer.code})")

    # Back (the page's link, or the browser's) returns to the search with its text and results.
    page.locator("nav.back-to-search a").click()
    expect(page.get_by_role("searchbox")).to_have_value(known_customer.typo)
    expect(target).to_be_visible()
    target.click()
    page.wait_for_url(f"**{known_customer.url}?q=*")
    page.go_back()
    expect(page.get_by_role("searchbox")).to_have_value(known_customer.typo)
    expect(target).to_be_visible()


# --- 2. a tablet session end to end, then the customer page ---------------------------------------
def choose_tile(page: Page, text: str) -> None:
    """Tap a tile in the configurator and wait until htmx has swapped in the choice."""
    page.locator(".t-choices button.t-tile", has_text=text).click()
    expect(page.locator(".t-choices button.t-tile", has_text=text)).to_have_attribute(
        "aria-pressed", "true"
    )


def next_step(page: Page, step: str) -> None:
    page.locator(".t-nav .t-btn-primary").click()
    expect(page.locator("#configurator")).to_have_attribute("data-step", step)


def test_tablet_session_end_to_end_lands_on_the_customer_page(new_page: NewPage) -> None:
    page = new_page("sales")
    page.get_by_role("link", name="Tablet session").click()
    page.get_by_role("button", name="Start a session with a customer").click()
    page.wait_for_url(re.compile(r"/showroom/tablet/\d+/customer$"))

    form = page.locator("form.t-form")
    form.get_by_label("First name", exact=True).fill("Fenna")
    form.get_by_label("Last name", exact=True).fill("Oosterveld")
    form.get_by_label("E-mail", exact=True).fill("fenna.oosterveld@example.nl")
    form.get_by_label("Phone", exact=True).fill("06 4821 7730")
    consents = form.locator('input[name="consent"]')
    assert consents.count() >= 2
    for box in consents.all():
        box.check()
    form.get_by_role("button", name="Add customer and configure").click()
    page.wait_for_url(re.compile(r"/configure$"))
    expect(page.locator(".t-bar")).to_contain_text("Fenna Oosterveld")

    choose_tile(page, "Fjord")
    expect(page.locator(".t-summary-model")).to_contain_text("Fjord")
    for step, choice in (
        ("trim", "Signature"),
        ("engine", "2.0 Hybrid 145 kW"),
        ("colour", "Moss Green"),
        ("wheels", '18" Turbine'),
        ("interior", "Cognac Leather"),
    ):
        next_step(page, step)
        choose_tile(page, choice)
    next_step(page, "packs")
    choose_tile(page, "Winter Pack")
    next_step(page, "summary")
    summary = page.locator(".t-summary-table")
    for text in ("Fjord Signature", "2.0 Hybrid 145 kW", "Moss Green", "Cognac Leather", "Winter"):
        expect(summary).to_contain_text(text)
    page.get_by_role("button", name="Save configuration").click()

    page.wait_for_url(re.compile(r"/saved$"))
    code = page.locator("p.t-code").inner_text().strip()
    assert re.fullmatch(r"[A-Z]{2}-[A-Z0-9]{6}", code), code
    page.get_by_role("link", name="Finish with a note").click()

    page.wait_for_url(re.compile(r"/note$"))
    note = page.locator("section.t-note")
    for choice in ("Warm", "€ 40.000 – 60.000", "within 3 months", "A higher model"):
        note.locator("label", has_text=choice).click()
    note.locator("fieldset", has_text="Financing").locator("label", has_text="Yes").click()
    note.get_by_label("Make", exact=True).fill("Volkswagen")
    note.get_by_label("Model", exact=True).fill("Golf")
    note.get_by_label("Year", exact=True).fill("2016")
    note.get_by_label("Km", exact=True).fill("145000")
    note.get_by_label("Competitor considered", exact=True).fill("Volvo V60 at Van Dijk")
    note.get_by_label("Anything else", exact=True).fill("Tows a caravan; wants the tow bar quoted")
    note.get_by_role("button", name="Save note and end session").click()

    page.wait_for_url(re.compile(r"/done$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Fenna Oosterveld")
    expect(page.locator("main")).to_contain_text(code)
    page.get_by_role("link", name="Open Fenna Oosterveld's page").click()

    page.wait_for_url(re.compile(r"/showroom/customers/[0-9a-f-]{36}$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Fenna Oosterveld")
    head = page.locator(".customer-head")
    expect(head).to_contain_text("fenna.oosterveld@example.nl")
    expect(head).to_contain_text("+31 6 48217730")  # stored +31648217730, shown readable
    expect(head).to_contain_text("email: granted")
    card = page.get_by_role("article", name=f"Configuration {code}")
    expect(card).to_have_class(re.compile(r"\bprimary\b"))
    for text in ("Fjord", "Signature", "2.0 Hybrid 145 kW", "Moss Green", "Cognac Leather"):
        expect(card).to_contain_text(text)
    expect(card.locator(".options")).to_contain_text("Winter Pack")
    expect(card.locator("footer")).to_contain_text("in the showroom")
    notes = page.locator("#deal")
    expect(notes).to_contain_text("Tows a caravan; wants the tow bar quoted")
    expect(notes).to_contain_text("trade-in Volkswagen Golf 2016")
    expect(notes).to_contain_text("Volvo V60 at Van Dijk")

    # The timeline tells the same note in words people read, not in stored codes.
    timeline_note = page.locator(".timeline li.t-note").first
    expect(timeline_note).to_contain_text("buying within 3 months")
    expect(timeline_note).to_contain_text("budget € 40.000 – 60.000")
    expect(timeline_note).not_to_contain_text("_")


# --- 3. hostile input -----------------------------------------------------------------------------
HOSTILE_QUERIES = (
    "<script>alert(1)</script>",
    "%' OR 1=1 --",
    '"><img src=x onerror=alert(2)>',
)


def test_hostile_lookup_shows_an_empty_state_and_runs_nothing(new_page: NewPage) -> None:
    page = new_page("sales")
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    for query in HOSTILE_QUERIES:  # typed: the htmx partial
        search(page, query)
        empty = page.locator("#results p.empty")
        expect(empty).to_contain_text(query)
        expect(page.locator("#results a.result")).to_have_count(0)
    for query in HOSTILE_QUERIES:  # submitted: the whole page, query echoed in the box
        page.goto(f"/showroom?q={quote(query)}")
        expect(page.locator("#results p.empty")).to_contain_text(query)
        expect(page.get_by_role("searchbox")).to_have_value(query)
    page.wait_for_timeout(200)  # time for anything injected to run, if it could
    assert page.locator("#results img, #results script").count() == 0
    assert dialogs == []


def test_wrong_password_shows_the_error_and_keeps_the_email(
    new_page: NewPage, sign_in_form: SignIn, staff: Staff
) -> None:
    page = new_page()
    sign_in_form(page, staff["sales"].email, "not the password at all")
    expect(page.get_by_role("alert")).to_have_text("e-mail address or password is wrong")
    assert urlsplit(page.url).path == "/login"
    expect(page.get_by_label("E-mail address")).to_have_value(staff["sales"].email)
    expect(page.get_by_label("Password")).to_have_value("")


def test_delivery_cannot_open_the_tablet_and_sign_in_never_leaves_the_site(
    new_page: NewPage, sign_in_form: SignIn, staff: Staff, live_server: LiveServer
) -> None:
    page = new_page()
    who = staff["delivery"]
    phishing = "/login?next=" + quote("https://evil.example/phish", safe="")
    sign_in_form(page, who.email, who.password, path=phishing)
    page.wait_for_url("**/showroom")
    assert page.url.startswith(live_server.base_url)

    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Deliveries")).to_be_visible()
    expect(nav.get_by_role("link", name="Tablet session")).to_have_count(0)
    response = page.goto("/showroom/tablet")
    assert response is not None and response.status == 403
    expect(page.locator("main")).to_contain_text("does not give access")


def test_every_link_in_the_main_navigation_opens_a_page(new_page: NewPage) -> None:
    page = new_page("admin")  # an administrator may do everything: every link is shown
    links = page.get_by_role("navigation", name="Main").get_by_role("link")
    targets = [(link.inner_text(), link.get_attribute("href")) for link in links.all()]
    assert len(targets) >= 6, targets
    broken = []
    for label, href in targets:
        response = page.goto(str(href))
        if response is None or response.status != 200:
            broken.append(f"{label} ({href}): {response.status if response else 'no answer'}")
    assert broken == [], f"main navigation links that do not open: {broken}"


def test_visitors_of_later_days_cannot_be_marked_arrived_yet(new_page: NewPage) -> None:
    """Arrived and no show are facts of the day itself; a later visit can only be cancelled."""
    page = new_page("sales")
    page.goto("/showroom/today")
    expect(page.get_by_role("heading", name="Expected visitors")).to_be_visible()
    later_days = page.locator("section.day").filter(
        has_not=page.get_by_role("heading", name=re.compile(r"^Today\b"))
    )
    if later_days.count() == 0:
        pytest.skip("the demo plans no visitors after today")
    for day in later_days.all():
        title = day.get_by_role("heading", level=2).inner_text()
        for button in ("Arrived", "No show"):
            expect(day.get_by_role("button", name=button), f"{button} on {title}").to_have_count(0)


def test_the_funnel_table_fits_a_laptop_and_scrolls_under_its_channel_on_a_tablet(
    new_page: NewPage,
) -> None:
    """Thirteen columns (each step with its conversion and norm): at 1280 px they fit their box;
    on a 768 px tablet the table scrolls inside its box and the channel column stays in view."""
    page = new_page("admin")  # an administrator sees the manager's pages
    page.goto("/showroom/funnel?period=last365")
    wrap = page.locator(".table-wrap").first
    expect(wrap.locator(".funnel-table tbody th").first).to_be_visible()
    page.set_viewport_size({"width": 1280, "height": 800})
    table, box = wrap.evaluate("w => [w.scrollWidth, w.clientWidth]")
    assert table <= box, f"at 1280 px the table is {table} px wide in a {box} px box"
    last = page.locator(".steps-table thead th").last
    expect(last).to_have_text("Lost")
    assert last.evaluate("th => th.scrollWidth <= th.clientWidth"), "the header is cut off"

    page.set_viewport_size({"width": 768, "height": 1024})
    assert page.evaluate("document.documentElement.scrollWidth") <= 768, "the page scrolls"
    channel = page.locator(".steps-table tbody th").first
    before = channel.bounding_box()
    wrap.evaluate("w => { w.scrollLeft = w.scrollWidth; }")
    after = channel.bounding_box()
    assert before is not None and after is not None
    assert after["x"] == before["x"], "the channel column scrolled away with the numbers"


# --- 4. screenshots of the main pages -------------------------------------------------------------
def shoot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.wait_for_load_state("load")
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True, animations="disabled")


def test_screenshots_of_the_main_pages(
    new_page: NewPage, staff: Staff, known_customer: KnownCustomer
) -> None:
    page = new_page()
    page.goto("/login")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    shoot(page, "login")

    page = new_page("sales")
    search(page, known_customer.typo.rpartition(" ")[2])  # the misspelt last name alone
    expect(page.locator("#results a.result").first).to_be_visible()
    shoot(page, "lookup")

    page.goto(known_customer.url)
    expect(page.get_by_role("article", name=f"Configuration {known_customer.code}")).to_be_visible()
    # A walk-in lead made on the customer page is the salesperson's own: it is on "My leads".
    # (Open already when the customer has no lead at this salesperson's dealer.)
    new_lead = page.locator("#deal details.action").filter(
        has=page.locator("summary", has_text="New lead")
    )
    if new_lead.get_attribute("open") is None:
        new_lead.locator("summary").click()
    page.locator("#deal").get_by_label("Came in through").select_option(label="Walk-in")
    page.locator("#deal").get_by_role("button", name="Create lead").click()
    expect(page.locator("#deal")).to_contain_text("Walk-in")
    shoot(page, "customer")

    page.get_by_role("link", name="Today").click()
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    shoot(page, "today")

    page.get_by_role("link", name="My leads").click()
    expect(page.get_by_role("heading", name="My leads")).to_be_visible()
    expect(page.get_by_role("link", name=known_customer.name)).to_be_visible()
    shoot(page, "leads")

    page = new_page("delivery")
    page.get_by_role("link", name="Deliveries").click()
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    shoot(page, "deliveries")

    page = new_page("admin")
    page.get_by_role("link", name="Staff").click()
    expect(page.locator(".staff-table")).to_be_visible()
    # 50 accounts a page: the salesperson found by the list's filter, as an admin would.
    page.goto(f"/admin/users?q={staff['sales'].email}")
    expect(page.get_by_role("cell", name=staff["sales"].email)).to_be_visible()
    shoot(page, "admin-users")

    page.goto("/showroom/funnel?period=last365")
    expect(page.locator(".steps-table")).to_be_visible()
    expect(page.locator("svg").first).to_be_visible()  # the charts, drawn on the server
    shoot(page, "funnel")
