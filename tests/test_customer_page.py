"""The customer page, with one customer's history sent in through the collection API.

Jan Jansen configured an Aurora on a showroom tablet eight days ago, came back to the brand's
configurator five days ago (choosing colours, wheels, engine, packs, working out finance, then
saving), and returned three days later to save a sportier one. The page must tell a salesperson
all of that at a glance; other roles see less or nothing.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from bs4 import BeautifulSoup, Tag
from fastapi.testclient import TestClient
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from cdp.demo.generator import generate
from cdp.local_time import to_local
from cdp.models import (
    Event,
    Identity,
    ProfileMerge,
    ProfileView,
    Segment,
    SegmentMembership,
    StaffUser,
    utcnow,
)
from segmentation import job
from tests.helpers import SourceKey, StaffClient, make_people

EMAIL = "jan.jansen@example.nl"
NOW = datetime.now(UTC).replace(second=0, microsecond=0)
SHOWROOM_AT = NOW - timedelta(days=8)
FIRST_VISIT = NOW - timedelta(days=5)
SECOND_VISIT = FIRST_VISIT + timedelta(days=3)

CONFIGURATIONS: dict[str, dict[str, Any]] = {
    "AUR-0001": {
        "model": "Aurora",
        "trim": "Comfort",
        "engine": "1.5 Hybrid",
        "colour": "Deep Blue",
        "colour_hex": "#1f3a93",
        "wheels": '18" Aero',
        "interior": "Cloth Grey",
        "options": [],
        "total_price": 39990,
    },
    "AUR-1111": {
        "model": "Aurora",
        "trim": "Comfort",
        "engine": "1.5 Hybrid",
        "colour": "Lava Red",
        "colour_hex": "#b3261e",
        "wheels": '18" Aero',
        "interior": "Cloth Grey",
        "options": [{"code": "WP", "label": "Winter pack", "price": 850}],
        "total_price": 41990,
    },
    "AUR-2222": {
        "model": "Aurora",
        "trim": "Sport",
        "engine": "2.0 Turbo",
        "colour": "Glacier White",
        "colour_hex": "#f2f4f5",
        "wheels": '19" Sport',
        "interior": "Leather Black",
        "options": [
            {"code": "WP", "label": "Winter pack", "price": 850},
            {"code": "TP", "label": "Tech pack", "price": 1450},
        ],
        "total_price": 46490,
    },
}


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def send(
    client: TestClient, source: SourceKey, endpoint: str, at: datetime, body: dict[str, Any]
) -> None:
    response = client.post(
        f"/v1/{endpoint}",
        json={"messageId": str(uuid.uuid4()), "timestamp": iso(at), **body},
        headers=source.auth,
    )
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 1, response.text


@dataclass(frozen=True)
class Jan:
    profile_id: uuid.UUID
    absorbed_id: uuid.UUID
    url: str


@pytest.fixture()
def jan(
    app_client: TestClient, web_source: SourceKey, showroom_source: SourceKey, db: Session
) -> Jan:
    tablet = str(uuid.uuid4())
    send(
        app_client,
        showroom_source,
        "track",
        SHOWROOM_AT,
        {
            "anonymousId": tablet,
            "event": "Configuration Saved",
            "context": {"traits": {"email": EMAIL}},
            "properties": {"configuration_code": "AUR-0001", **CONFIGURATIONS["AUR-0001"]},
        },
    )

    browser = str(uuid.uuid4())
    minute = timedelta(minutes=1)
    first: list[tuple[str, dict[str, Any]]] = [
        ("Configuration Started", {"model": "Aurora"}),
        ("Option Selected", {"category": "colour", "label": "Lava Red", "model": "Aurora"}),
        ("Option Selected", {"category": "colour", "label": "Deep Blue", "model": "Aurora"}),
        ("Option Selected", {"category": "wheels", "label": '18" Aero', "model": "Aurora"}),
        ("Option Selected", {"category": "interior", "label": "Cloth Grey", "model": "Aurora"}),
        ("Option Selected", {"category": "engine", "label": "1.5 Hybrid", "model": "Aurora"}),
        ("Option Selected", {"category": "engine", "label": "2.0 Turbo", "model": "Aurora"}),
        ("Option Selected", {"category": "trim", "label": "Comfort", "model": "Aurora"}),
        ("Option Selected", {"category": "pack", "label": "Winter pack", "model": "Aurora"}),
        ("Option Selected", {"category": "pack", "label": "Tech pack", "model": "Aurora"}),
        ("Finance Calculated", {"monthly_payment": 499, "term_months": 48, "model": "Aurora"}),
    ]
    for index, (event, properties) in enumerate(first):
        send(
            app_client,
            web_source,
            "track",
            FIRST_VISIT + index * minute,
            {"anonymousId": browser, "event": event, "properties": properties},
        )
    send(
        app_client,
        web_source,
        "identify",
        FIRST_VISIT + 11 * minute,
        {
            "anonymousId": browser,
            "traits": {
                "firstName": "Jan",
                "lastName": "Jansen",
                "email": EMAIL,
                "phone": "06-12345678",
                "address": {"postalCode": "1234 AB", "city": "Amsterdam"},
                "consent": {
                    "email": {"status": "granted", "wording": "E-mail me about my car"},
                    "phone": False,
                },
            },
        },
    )
    saves = (("AUR-1111", FIRST_VISIT + 12 * minute), ("AUR-2222", SECOND_VISIT + 8 * minute))
    send(
        app_client,
        web_source,
        "track",
        SECOND_VISIT,
        {
            "anonymousId": browser,
            "event": "Configuration Started",
            "properties": {"model": "Aurora"},
        },
    )
    for code, at in saves:
        send(
            app_client,
            web_source,
            "track",
            at,
            {
                "anonymousId": browser,
                "event": "Configuration Saved",
                "properties": {"configuration_code": code, **CONFIGURATIONS[code]},
            },
        )

    db.expire_all()
    merge = db.scalars(select(ProfileMerge)).one()
    return Jan(
        profile_id=merge.survivor_id,
        absorbed_id=merge.absorbed_id,
        url=f"/showroom/customers/{merge.survivor_id}",
    )


def page_of(response: httpx.Response) -> BeautifulSoup:
    assert response.status_code == 200, response.text
    return BeautifulSoup(response.text, "html.parser")


def section(page: BeautifulSoup, heading_id: str) -> Tag:
    heading = page.find(id=heading_id)
    assert heading is not None, heading_id
    found = heading.find_parent("section")
    assert isinstance(found, Tag)
    return found


def text(tag: Tag | None) -> str:
    assert tag is not None
    return tag.get_text(" ", strip=True)


def choices(card: Tag) -> dict[str, str]:
    terms = [text(dt) for dt in card.select("dl.choices dt")]
    values = [text(dd) for dd in card.select("dl.choices dd")]
    return dict(zip(terms, values, strict=True))


# --- what a salesperson sees -------------------------------------------------------------------


def test_the_lookup_finds_the_survivor(
    jan: Jan, staff_client: Callable[[str], StaffClient]
) -> None:
    sales = staff_client("sales")
    found = BeautifulSoup(
        sales.client.get("/showroom/search", params={"q": EMAIL}).text, "html.parser"
    )
    assert [str(a["href"]).split("?")[0] for a in found.select("a.result")] == [jan.url]


def test_the_head_shows_name_contact_details_and_consent(
    jan: Jan, staff_client: Callable[[str], StaffClient]
) -> None:
    page = page_of(staff_client("sales").client.get(jan.url))
    assert text(page.find("h1")) == "Jan Jansen"
    contact = page.select_one(".customer-head .contact")
    assert contact is not None
    assert contact.select_one(f"a[href='mailto:{EMAIL}']") is not None
    assert contact.select_one("a[href='tel:+31612345678']") is not None
    assert "1234 AB Amsterdam" in text(contact)

    badges = {text(b) for b in page.select(".customer-head .badges .badge")}
    assert badges == {"email: granted", "phone: withdrawn", "tracking: unknown"}
    granted = page.select_one(".badge.consent-granted")
    assert granted is not None and "since" in str(granted.get("title"))


def test_the_saved_configuration_card_tells_the_whole_car(
    jan: Jan, staff_client: Callable[[str], StaffClient]
) -> None:
    page = page_of(staff_client("sales").client.get(jan.url))
    configs = section(page, "config-h")
    card = configs.select_one("article.config-card.primary")
    assert card is not None
    assert card.get("aria-label") == "Configuration AUR-2222"
    assert text(card.select_one("header h3")) == "Aurora Sport"
    assert text(card.select_one("header .price")) == "€ 46.490"
    assert choices(card) == {
        "Engine": "2.0 Turbo",
        "Colour": "Glacier White",
        "Wheels": '19" Sport',
        "Interior": "Leather Black",
    }
    swatch = card.select_one("dl.choices .swatch")
    assert swatch is not None and "#f2f4f5" in str(swatch["style"])
    options = [
        (text(li.select_one("span")), text(li.select_one(".sub")))
        for li in card.select("ul.options li")
    ]
    assert options == [("Winter pack", "€ 850"), ("Tech pack", "€ 1.450")]
    footer = text(card.select_one("footer"))
    assert "Code AUR-2222" in footer
    assert "online" in footer and "in the showroom" not in footer


def test_earlier_configurations_say_what_changed(
    jan: Jan, staff_client: Callable[[str], StaffClient]
) -> None:
    page = page_of(staff_client("sales").client.get(jan.url))
    configs = section(page, "config-h")
    primary = configs.select_one("article.config-card.primary")
    assert primary is not None
    assert text(primary.select_one(".changes")) == (
        "Changed since the one before: trim: Comfort → Sport; engine: 1.5 Hybrid → 2.0 Turbo; "
        'colour: Lava Red → Glacier White; wheels: 18" Aero → 19" Sport; '
        "interior: Cloth Grey → Leather Black; added Tech pack; price +€ 4.500"
    )

    earlier = configs.select_one("details.earlier")
    assert earlier is not None
    assert text(earlier.select_one("summary")) == "2 earlier configurations"
    cards = earlier.select("article.config-card")
    assert [c.get("aria-label") for c in cards] == [
        "Configuration AUR-1111",
        "Configuration AUR-0001",
    ]
    assert text(cards[0].select_one(".changes")) == (
        "Changed since the one before: colour: Deep Blue → Lava Red; added Winter pack; "
        "price +€ 2.000"
    )
    assert cards[1].select_one(".changes") is None  # the first one has nothing before it
    assert "online" in text(cards[0].select_one("footer"))
    assert "in the showroom" in text(cards[1].select_one("footer"))
    assert choices(cards[1])["Colour"] == "Deep Blue"

    facts = section(page, "focus-h").select_one("dl.facts")
    assert facts is not None
    assert "€ 39.990 – € 46.490" in text(facts)


def test_the_interest_chart_shows_where_their_attention_went(
    jan: Jan, staff_client: Callable[[str], StaffClient]
) -> None:
    page = page_of(staff_client("sales").client.get(jan.url))
    bars = section(page, "focus-h").select("ul.bars li")
    shares = {text(li.select_one(".label")): text(li.select_one(".pct")) for li in bars}
    # colour x2, wheels, interior | engine x2, trim | pack x2 | finance: 4 + 3 + 2 + 1 choices.
    assert shares == {
        "Design": "40%",
        "Performance": "30%",
        "Comfort & safety": "20%",
        "Price & finance": "10%",
    }
    design = bars[0].select_one(".bar")
    assert design is not None and "--share: 40.0%" in str(design["style"])


def test_intent_signals_come_with_their_reasons(
    jan: Jan, staff_client: Callable[[str], StaffClient]
) -> None:
    page = page_of(staff_client("sales").client.get(jan.url))
    signals = {
        text(li.select_one("strong")): text(li.select_one(".sub"))
        for li in section(page, "focus-h").select("ul.signals li")
    }
    # The day as the showroom reads it: in the hour before midnight UTC it is already tomorrow.
    saved_on = to_local(SECOND_VISIT + timedelta(minutes=8)).strftime("%d-%m-%Y")
    assert signals == {
        "Saved configuration": f"Aurora saved {saved_on} (AUR-2222)",
        "Returned within 14 days": "came back after 3 days",
        "Finance calculated": "once in the configurator",
        "Visited the showroom": "configured on a showroom tablet",
    }


def test_the_timeline_summarises_sessions(
    jan: Jan, staff_client: Callable[[str], StaffClient]
) -> None:
    page = page_of(staff_client("sales").client.get(jan.url))
    entries = [
        (
            " ".join(li.get_attribute_list("class")),
            text(li.select_one("strong")),
            text(li.select_one(".sub")),
        )
        for li in section(page, "timeline-h").select("ol.timeline li")
    ]
    sessions = [
        (kind, title, detail)
        for kind, title, detail in entries
        if kind in ("t-web_session", "t-showroom_visit")
    ]
    assert [(kind, title) for kind, title, _ in sessions] == [
        ("t-web_session", "Configurator session"),
        ("t-web_session", "Configurator session"),
        ("t-showroom_visit", "Showroom tablet session"),
    ]
    details = [detail for _, _, detail in sessions]
    assert details[:2] == ["2 events over 8 min · Aurora", "13 events over 12 min · Aurora"]
    assert re.fullmatch(r"1 events? over 1 min · Aurora", details[2])
    saved = [title for kind, title, _ in entries if kind == "t-configuration"]
    assert saved == [
        "Saved configuration AUR-2222",
        "Saved configuration AUR-1111",
        "Saved configuration AUR-0001",
    ]
    assert any(kind == "t-merge" for kind, _, _ in entries)
    times = [li.select_one("time") for li in section(page, "timeline-h").select("ol.timeline li")]
    stamps = [datetime.fromisoformat(str(t["datetime"])) for t in times if t is not None]
    assert stamps == sorted(stamps, reverse=True)  # newest first


def test_a_salesperson_sees_leads_and_notes(
    jan: Jan, staff_client: Callable[[str], StaffClient]
) -> None:
    page = page_of(staff_client("sales").client.get(jan.url))
    deal = section(page, "deal-h")
    assert text(deal.find("h2")) == "Leads and notes"
    assert "No leads for this customer." in text(deal)


# --- a customer we know little about ------------------------------------------------------------


def identify_only(
    client: TestClient, source: SourceKey, traits: dict[str, Any], db: Session
) -> uuid.UUID:
    """A newcomer who sent one identify call with these traits and nothing else."""
    anonymous_id = f"new-{uuid.uuid4().hex[:8]}"
    send(client, source, "identify", NOW, {"anonymousId": anonymous_id, "traits": traits})
    return db.scalars(select(Identity.profile_id).where(Identity.value == anonymous_id)).one()


def glitches(page: BeautifulSoup) -> list[str]:
    """Texts that show a value was missing: empty brackets, a dot with nothing on one side."""
    found = []
    for element in page.select("main h1, main p, main dd, main li"):
        words = text(element)
        if re.search(r"\(\s*\)|^·|·$|·\s*·", words):
            found.append(words)
    return found


def test_a_customer_known_only_by_an_email_address_reads_cleanly(
    app_client: TestClient,
    web_source: SourceKey,
    staff_client: Callable[[str], StaffClient],
    db: Session,
) -> None:
    email = f"only.{uuid.uuid4().hex[:6]}@example.test"
    profile_id = identify_only(app_client, web_source, {"email": email}, db)
    url = f"/showroom/customers/{profile_id}"
    sales = staff_client("sales").client
    page = page_of(sales.get(url))
    assert text(page.select_one(".customer-head .contact")) == email
    facts = section(page, "focus-h")
    sessions = dict(zip(map(text, facts.select("dt")), map(text, facts.select("dd")), strict=True))
    assert sessions["Sessions"] == "1 (web)"  # the identify call came from the website
    assert glitches(page) == []

    # Whatever leaves a profile without events, the count is not "0 ()".
    db.execute(delete(Event).where(Event.profile_id == profile_id))
    db.flush()
    page = page_of(sales.get(url))
    facts = section(page, "focus-h")
    sessions = dict(zip(map(text, facts.select("dt")), map(text, facts.select("dd")), strict=True))
    assert sessions["Sessions"] == "No sessions yet"
    assert text(section(page, "timeline-h").select_one("p.empty")) == "Nothing happened yet."
    assert glitches(page) == []


@pytest.mark.parametrize(
    ("traits", "contact"),
    [
        ({"phone": "06-87654321"}, "+31 6 87654321"),
        ({"address": {"city": "Utrecht"}, "language": "nl"}, "Utrecht · speaks nl"),
        ({"address": {"postalCode": "3511 AB"}}, "3511 AB"),
        ({}, "No contact details yet."),
    ],
)
def test_the_contact_line_has_no_dot_before_a_missing_detail(
    app_client: TestClient,
    web_source: SourceKey,
    staff_client: Callable[[str], StaffClient],
    db: Session,
    traits: dict[str, Any],
    contact: str,
) -> None:
    profile_id = identify_only(app_client, web_source, traits, db)
    page = page_of(staff_client("sales").client.get(f"/showroom/customers/{profile_id}"))
    assert text(page.select_one(".customer-head .contact")) == contact
    assert glitches(page) == []


# --- accountability ----------------------------------------------------------------------------


def test_opening_the_page_records_who_looked_when(
    jan: Jan, staff_client: Callable[[str], StaffClient], db: Session
) -> None:
    sales = staff_client("sales")
    before = utcnow()
    page_of(sales.client.get(jan.url))
    db.expire_all()
    viewer = db.scalar(select(StaffUser.id).where(StaffUser.email == sales.email))
    views = db.scalars(select(ProfileView)).all()
    assert [(v.profile_id, v.user_id, v.via, v.api_token_id) for v in views] == [
        (jan.profile_id, viewer, "page", None)
    ]
    assert before - timedelta(seconds=5) <= views[0].viewed_at <= utcnow()

    page_of(sales.client.get(jan.url))
    db.expire_all()
    assert len(db.scalars(select(ProfileView)).all()) == 2  # every opening counts


def test_searching_alone_records_no_view(
    jan: Jan, staff_client: Callable[[str], StaffClient], db: Session
) -> None:
    sales = staff_client("sales")
    sales.client.get("/showroom", params={"q": "Jansen"})
    db.expire_all()
    assert db.scalars(select(ProfileView)).all() == []


# --- links that moved or never existed ----------------------------------------------------------


def test_an_absorbed_profile_id_redirects_to_the_survivor(
    jan: Jan, staff_client: Callable[[str], StaffClient]
) -> None:
    sales = staff_client("sales")
    response = sales.client.get(f"/showroom/customers/{jan.absorbed_id}", follow_redirects=False)
    assert response.status_code == 308
    assert response.headers["location"] == jan.url
    followed = sales.client.get(f"/showroom/customers/{jan.absorbed_id}")
    assert str(followed.url).endswith(jan.url)
    assert text(page_of(followed).find("h1")) == "Jan Jansen"


def test_following_an_old_link_records_one_view_of_the_survivor(
    jan: Jan, staff_client: Callable[[str], StaffClient], db: Session
) -> None:
    sales = staff_client("sales")
    page_of(sales.client.get(f"/showroom/customers/{jan.absorbed_id}"))
    db.expire_all()
    views = db.scalars(select(ProfileView)).all()
    assert [v.profile_id for v in views] == [jan.profile_id]


@pytest.mark.parametrize(
    "profile_id",
    [
        "0b5e7d6c-2f1a-4c3e-9d8b-7a6f5e4d3c2b",  # well-formed, nobody
        "0B5E7D6C-2F1A-4C3E-9D8B-7A6F5E4D3C2B",
        "not-a-profile",
        "12345",
    ],
)
def test_an_unknown_or_invalid_id_is_a_clear_404_page(
    staff_client: Callable[[str], StaffClient], profile_id: str
) -> None:
    sales = staff_client("sales")
    response = sales.client.get(f"/showroom/customers/{profile_id}")
    assert response.status_code == 404
    page = BeautifulSoup(response.text, "html.parser")
    assert text(page.find("h1")) == "Not found"
    assert "There is no customer with this link" in text(page.find("main"))
    assert page.find("nav") is not None  # still the staff frame, with a way onwards


# --- what each role sees -----------------------------------------------------------------------


def test_delivery_sees_the_car_but_not_the_deal(
    jan: Jan, staff_client: Callable[[str], StaffClient]
) -> None:
    page = page_of(staff_client("delivery").client.get(jan.url))
    assert text(page.find("h1")) == "Jan Jansen"
    card = section(page, "config-h").select_one("article.config-card.primary")
    assert card is not None and card.get("aria-label") == "Configuration AUR-2222"
    assert page.find(id="deal-h") is None
    assert page.find(id="deal") is None
    assert "Leads and notes" not in page.get_text()


def test_marketing_may_not_open_a_customer(
    jan: Jan, staff_client: Callable[[str], StaffClient], db: Session
) -> None:
    response = staff_client("marketing").client.get(jan.url)
    assert response.status_code == 403
    assert "Jan Jansen" not in response.text
    assert "does not give access" in response.text
    db.expire_all()
    assert db.scalars(select(ProfileView)).all() == []


def test_signed_out_visitors_are_sent_to_sign_in(jan: Jan, app_client: TestClient) -> None:
    app_client.cookies.clear()
    response = app_client.get(jan.url, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=/showroom/customers/")


def test_the_page_names_the_current_segment(
    app_client: TestClient,
    web_source: SourceKey,
    showroom_source: SourceKey,
    session_factory: sessionmaker[Session],
    staff_client: Callable[[str], StaffClient],
) -> None:
    people = make_people(app_client, web_source, showroom_source, session_factory)
    # Thirty more customers with a configurator history, so that there is something to cluster.
    demo = generate(30, seed=11, reference=utcnow())
    for channel, source in (("web", web_source), ("showroom", showroom_source)):
        messages = [out.message for out in demo.messages() if out.channel == channel]
        for start in range(0, len(messages), 100):
            response = app_client.post(
                "/v1/batch", json={"batch": messages[start : start + 100]}, headers=source.auth
            )
            assert response.status_code == 200, response.text
    sales = staff_client("sales")

    def segment_cell(profile_id: uuid.UUID, who: StaffClient) -> Tag:
        response = who.client.get(f"/showroom/customers/{profile_id}")
        assert response.status_code == 200, response.text
        cell = page_of(response).select_one("dd.segment")
        assert cell is not None
        return cell

    assert "Not in a segment yet" in text(segment_cell(people.anna, sales))

    status = job.run_now(session_factory, created_by="test", k=2, seed=1)
    assert status.status == "done", status
    with session_factory() as session:
        named = {
            profile_id: segment.display_name
            for profile_id, segment in session.execute(
                select(SegmentMembership.profile_id, Segment).join(
                    Segment, Segment.id == SegmentMembership.segment_id
                )
            ).all()
        }
    assert people.anna in named and people.dana not in named  # dana objected to profiling

    cell = segment_cell(people.anna, sales)
    assert named[people.anna] in text(cell)
    assert cell.select_one("a") is None  # sales cannot open the segments pages
    assert "Not in a segment yet" in text(segment_cell(people.dana, sales))
    manager_link = segment_cell(people.anna, staff_client("manager")).select_one("a")
    assert manager_link is not None and manager_link["href"].startswith("/segments#segment-")


def test_links_and_colours_sent_by_anyone_cannot_run_script_on_the_page(
    app_client: TestClient,
    web_source: SourceKey,
    staff_client: Callable[[str], StaffClient],
    api_auth: dict[str, str],
) -> None:
    """The write key is public: a saved configuration's url and colour are attacker input."""
    anonymous_id = f"evil-{uuid.uuid4().hex[:8]}"
    email = f"mallory.{uuid.uuid4().hex[:6]}@example.test"
    send(app_client, web_source, "identify", SHOWROOM_AT, {"anonymousId": anonymous_id,
         "traits": {"email": email, "first_name": "Mallory"}})  # fmt: skip
    send(app_client, web_source, "track", SHOWROOM_AT, {
        "anonymousId": anonymous_id, "event": "Configuration Saved",
        "properties": {"configuration_code": f"EV-{uuid.uuid4().hex[:6]}", "model": "Aurora",
                       "url": " JavaScript:alert(document.cookie)", "colour": "Red",
                       "colour_hex": "#f00;}*{"}})  # fmt: skip
    found = app_client.get("/api/profiles", params={"q": email}, headers=api_auth).json()
    profile_id = found["results"][0]["id"]
    profile = app_client.get(f"/api/profiles/{profile_id}", headers=api_auth).json()
    assert profile["configurations"][0]["url"] is None
    assert profile["configurations"][0]["colour_hex"] is None

    page = staff_client("sales").client.get(f"/showroom/customers/{profile_id}")
    assert page.status_code == 200
    html = page_of(page)
    assert not [a for a in html.select("a[href]") if "script" in str(a["href"]).lower()]
    assert all(
        re.fullmatch(r"--swatch: #[0-9a-f]{6}", str(s["style"]))
        for s in html.select(".swatch[style]")
    )
