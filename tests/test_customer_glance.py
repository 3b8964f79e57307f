"""The customer page at a glance: the car drawn in its colour, every option priced (online
configurations too), the latest note near the top, the segment's description out of the way.

Lotte saved two Tundras in the brand's configurator, which sends options as bare names and, the
second time, no price at all; a salesperson then wrote two notes about her.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from bs4 import BeautifulSoup, Tag
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cdp.models import Identity, StaffUser, utcnow
from tests.helpers import (
    SourceKey,
    StaffClient,
    add_lead,
    iso,
    make_run,
    post,
    send,
    soup,
    text_at,
)

FIRST = {
    "configuration_code": "NW-GLNC01",
    "model": "Tundra",
    "trim": "Comfort",
    "engine": "Electric AWD 250 kW",
    "colour": "Polar Blue",
    "colour_hex": "#24507A",
    "wheels": '20" Turbine',
    "interior": "Cognac Leather",
    # As a website sends them: names; the spoiler is not in the catalogue; the rest is noise
    # anyone with the public write key could send.
    "options": [
        "Comfort Pack",
        "Tow bar",
        "Rear spoiler",
        None,
        {"label": "Roof box", "price": "1e999"},
    ],
    "total_price": 72830,
}
# Saved later, without a price and without a colour code: the catalogue supplies both.
SECOND = {
    "configuration_code": "NW-GLNC02",
    "model": "Tundra",
    "trim": "Signature",
    "engine": "2.5 Hybrid AWD 180 kW",
    "colour": "Moss Green",
    "wheels": '19" Aero',
    "interior": "Slate Recycled Knit",
    "options": ["Winter Pack", "7 Seats (third row)"],
}
MOSS_GREEN = "#4B5E3C"
SECOND_TOTAL = 67990 + 890 + 690 + 1750  # trim, metallic paint, Winter Pack, third row


@dataclass(frozen=True)
class Lotte:
    profile_id: uuid.UUID
    url: str


@pytest.fixture()
def lotte(app_client: TestClient, web_source: SourceKey, db: Session) -> Lotte:
    browser = f"glance-{uuid.uuid4().hex[:8]}"
    email = f"lotte.{uuid.uuid4().hex[:6]}@example.nl"
    now = utcnow()
    send(
        app_client,
        web_source,
        "identify",
        {
            "anonymousId": browser,
            "timestamp": iso(now - timedelta(days=3)),
            "traits": {"firstName": "Lotte", "lastName": "Visser", "email": email},
        },
    )
    for properties, days_ago in ((FIRST, 3), (SECOND, 1)):
        send(
            app_client,
            web_source,
            "track",
            {
                "anonymousId": browser,
                "timestamp": iso(now - timedelta(days=days_ago)),
                "event": "Configuration Saved",
                "properties": properties,
            },
        )
    profile_id = db.scalars(select(Identity.profile_id).where(Identity.value == email)).one()
    return Lotte(profile_id, f"/showroom/customers/{profile_id}")


def page_of(staff: StaffClient, url: str) -> BeautifulSoup:
    response = staff.client.get(url)
    assert response.status_code == 200, response.text
    return soup(response.text)


def card(page: BeautifulSoup, code: str) -> Tag:
    found = page.select_one(f'article.config-card[aria-label="Configuration {code}"]')
    assert found is not None, code
    return found


def priced_options(article: Tag) -> list[tuple[str, str]]:
    return [(text_at(li, "span"), text_at(li, ".sub")) for li in article.select("ul.options li")]


def test_an_online_configuration_prices_every_option_from_the_catalogue(
    lotte: Lotte, staff_client: Callable[[str], StaffClient]
) -> None:
    page = page_of(staff_client("sales"), lotte.url)
    first = card(page, "NW-GLNC01")
    assert priced_options(first) == [
        ("Comfort Pack", "€ 1.490"),
        ("Tow bar", "€ 950"),
        ("Rear spoiler", "price not known"),  # kept, not dropped
        ("Roof box", "price not known"),
    ]
    # The price the configurator sent; with an unknown option there is no catalogue total.
    assert text_at(first, "header .price") == "€ 72.830"
    assert text_at(first, ".options-total") == "Total price € 72.830"
    assert first.select_one(".repriced") is None
    assert "+ € 6.500" in text_at(first, "dl.choices")  # the electric engine's surcharge

    second = card(page, "NW-GLNC02")
    assert second.get("class") == ["config-card", "primary"]
    assert priced_options(second) == [("Winter Pack", "€ 690"), ("7 Seats (third row)", "€ 1.750")]
    total = f"€ {SECOND_TOTAL:,}".replace(",", ".")
    assert text_at(second, "header .price") == total
    assert text_at(second, ".options-total") == f"Total price {total}"
    assert "today's catalogue" in text_at(second, ".repriced")


def test_the_car_is_drawn_in_the_configurations_colour_at_the_top(
    lotte: Lotte, staff_client: Callable[[str], StaffClient]
) -> None:
    page = page_of(staff_client("sales"), lotte.url)
    head = page.select_one("section.customer-head")
    assert head is not None
    drawing = head.select_one(".glance-car svg.car-drawing")
    assert drawing is not None
    # The latest configuration sent no colour code: the catalogue's Moss Green paints it.
    assert f"--car: {MOSS_GREEN}" in str(drawing["style"])
    assert drawing["aria-label"] == "Tundra in Moss Green"
    glance = text_at(head, ".glance-car")
    assert "Tundra Signature" in glance and "Moss Green" in glance
    assert f"€ {SECOND_TOTAL:,}".replace(",", ".") in glance
    assert "Saved online" in glance and "NW-GLNC02" in glance


def test_a_showroom_configuration_is_drawn_and_priced_too(
    app_client: TestClient,
    showroom_source: SourceKey,
    staff_client: Callable[[str], StaffClient],
    db: Session,
) -> None:
    """The tablet's shape: options with codes and prices, and the catalogue codes."""
    tablet, email = f"tablet-{uuid.uuid4().hex[:8]}", f"mees.{uuid.uuid4().hex[:6]}@example.nl"
    send(
        app_client,
        showroom_source,
        "track",
        {
            "anonymousId": tablet,
            "event": "Configuration Saved",
            "context": {"traits": {"email": email, "firstName": "Mees"}},
            "properties": {
                "configuration_code": "NW-GLNC03",
                "model": "Vela",
                "trim": "Dynamic",
                "engine": "1.5 Turbo 110 kW",
                "colour": "Aurora Red",
                "colour_hex": "#9C1C2E",
                "wheels": '17" Turbine',
                "interior": "Charcoal Cloth",
                "options": [{"code": "sport", "label": "Sport Pack", "price": 1950}],
                "total_price": 32490 + 1900 + 1490 + 590 + 1950,
                "selection": {
                    "model": "vela",
                    "trim": "dynamic",
                    "engine": "1.5-t110",
                    "colour": "aurora-red",
                    "wheels": "17-turbine",
                    "interior": "charcoal-cloth",
                    "packs": ["sport"],
                },
            },
        },
    )
    pid = db.scalars(select(Identity.profile_id).where(Identity.value == email)).one()
    page = page_of(staff_client("sales"), f"/showroom/customers/{pid}")
    drawing = page.select_one("section.customer-head svg.car-drawing")
    assert drawing is not None and "--car: #9C1C2E" in str(drawing["style"])
    showroom = card(page, "NW-GLNC03")
    assert priced_options(showroom) == [("Sport Pack", "€ 1.950")]
    assert showroom.select_one(".repriced") is None  # the catalogue agrees with what was sent


def test_the_latest_note_is_near_the_top_with_a_link_to_all_notes(
    lotte: Lotte,
    session_factory: sessionmaker[Session],
    staff_client: Callable[[str], StaffClient],
) -> None:
    sales = staff_client("sales")
    page = page_of(sales, lotte.url)
    assert "No notes yet" in text_at(page, "section.customer-head .latest-note")

    older = {"interest_level": "cold", "text": "Only looking for now"}
    assert post(sales, f"{lotte.url}/notes", older).status_code == 303
    newer = {
        "interest_level": "warm",
        "budget_band": "60k_80k",
        "timeframe": "within_3_months",
        "trade_in_make": "Volvo",
        "trade_in_model": "XC60",
        "text": "Wants the third row; comes back Saturday",
    }
    assert post(sales, f"{lotte.url}/notes", newer).status_code == 303

    page = page_of(sales, lotte.url)
    head = page.select_one("section.customer-head")
    assert head is not None
    latest = head.select_one(".latest-note")
    assert latest is not None
    meta = text_at(latest, ".note-meta")
    with session_factory() as session:
        author = session.scalars(select(StaffUser.name).where(StaffUser.email == sales.email))
        assert meta.startswith(f"{author.one()} ")  # who ...
    assert utcnow().strftime("%Y") in meta  # ... when ...
    for fact in ("interest Warm", "budget € 60.000 – 80.000", "buying within 3 months"):
        assert fact in meta  # ... and the fields that matter, in words
    assert "trade-in Volvo XC60" in meta
    assert text_at(latest, ".note-text") == "Wants the third row; comes back Saturday"
    assert "Only looking for now" not in latest.get_text()
    link = latest.select_one("a[href='#notes']")
    assert link is not None and "All 2 notes" in link.get_text()
    notes = page.find(id="notes")
    assert notes is not None and notes.find_parent("section", id="deal") is not None

    # The head comes before everything else the page shows of the customer.
    sections = page.select("main section")
    assert sections[0] is head


def test_staff_who_may_not_read_notes_see_no_note_block(
    lotte: Lotte, staff_client: Callable[[str], StaffClient]
) -> None:
    page = page_of(staff_client("reception"), lotte.url)
    assert page.select_one(".latest-note") is None


def test_the_segment_name_is_at_the_top_and_its_description_further_down(
    lotte: Lotte,
    session_factory: sessionmaker[Session],
    staff_client: Callable[[str], StaffClient],
) -> None:
    make_run(session_factory, [[lotte.profile_id]], names=["Family SUV planners"])
    page = page_of(staff_client("sales"), lotte.url)
    head = page.select_one("section.customer-head")
    assert head is not None
    assert "Family SUV planners" in text_at(head, ".segment-line")
    assert "Description of segment 1" not in head.get_text()

    cell = page.select_one("dd.segment")
    assert cell is not None
    about = cell.select_one("details.segment-about")
    assert about is not None and about.get("open") is None  # closed until asked for
    assert "Description of segment 1" in about.get_text()


def test_a_customer_without_a_configuration_says_so_where_the_car_would_be(
    app_client: TestClient,
    web_source: SourceKey,
    session_factory: sessionmaker[Session],
    staff_client: Callable[[str], StaffClient],
    db: Session,
) -> None:
    email = f"nina.{uuid.uuid4().hex[:6]}@example.nl"
    send(
        app_client,
        web_source,
        "identify",
        {"anonymousId": f"n-{uuid.uuid4().hex[:8]}", "traits": {"email": email}},
    )
    pid = db.scalars(select(Identity.profile_id).where(Identity.value == email)).one()
    add_lead(session_factory, pid, "new", age=timedelta(hours=1))
    page = page_of(staff_client("sales"), f"/showroom/customers/{pid}")
    glance = page.select_one("section.customer-head .glance-car")
    assert glance is not None and glance.select_one("svg") is None
    assert "No saved configuration yet." in glance.get_text()
