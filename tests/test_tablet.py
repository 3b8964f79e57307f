"""The showroom tablet session, through its pages, as a salesperson uses it.

A session starts with a fresh anonymous id, identifies its customer explicitly (found by lookup or
added with their consent in the words shown), records every configurator choice as the same
Segment events the website sends (channel showroom), saves the configuration onto the customer
page at once, and ends with a structured note whose fields become profile traits.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cdp import catalogue
from cdp.models import (
    Configuration,
    Consent,
    Identity,
    Lead,
    Note,
    ProfileTrait,
    TabletSession,
)
from cdp.profiles.service import get_profile
from cdp.tablet.service import CONSENT_WORDING
from showroom.tablet_routes import router as tablet_router
from tests.helpers import (
    HTMX,
    SourceKey,
    StaffClient,
    add_customer,
    choose,
    configure_a_car,
    event_count,
    events_of,
    go,
    make_token,
    pack,
    save,
    start,
    tablet_page,
    tablet_post,
    tablet_row,
)


@pytest.fixture()
def tablet(
    app_client: TestClient, staff_client: Callable[[str], StaffClient]
) -> Iterator[Callable[[str], StaffClient]]:
    """`staff_client`, on an app that serves the tablet pages."""
    app = app_client.app
    if not any(getattr(route, "path", "") == "/showroom/tablet" for route in app.routes):  # type: ignore[attr-defined]
        app.include_router(tablet_router)  # type: ignore[attr-defined]
    yield staff_client


STERNA_SELECTION = catalogue.Selection(
    model="sterna",
    trim="dynamic",
    engine="lr-rwd220",
    colour="polar-blue",
    wheels="20-diamond",
    interior="black-nappa",
    packs=("safety",),
)


# --- the whole visit --------------------------------------------------------------------------
@pytest.mark.parametrize("htmx", [False, True], ids=["plain-forms", "htmx"])
def test_a_full_session_for_a_new_customer(
    tablet: Callable[[str], StaffClient], db: Session, htmx: bool
) -> None:
    staff = tablet("sales")
    start_page = tablet_page(staff.client.get("/showroom/tablet"))
    assert start_page.find("form", action="/showroom/tablet/sessions") is not None
    sid = start(staff)

    form = tablet_page(staff.client.get(f"/showroom/tablet/{sid}/customer"))
    shown = {label.get_text(" ", strip=True) for label in form.select(".t-consents label")}
    assert CONSENT_WORDING["email"] in shown and CONSENT_WORDING["tracking"] in shown
    for f in form.find_all("form", method="post"):
        assert f.find("input", attrs={"name": "csrf_token"}) is not None

    before = datetime.now(UTC)
    response = add_customer(
        staff,
        sid,
        first_name="Sanne",
        last_name="de Vries",
        email="Sanne.deVries@Example.nl",
        phone="06 12345678",
        consent=["email", "tracking"],
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"/showroom/tablet/{sid}/configure"
    row = tablet_row(db, sid)
    pid = row.profile_id
    assert pid is not None

    consents = {c.purpose: c for c in db.scalars(select(Consent).where(Consent.profile_id == pid))}
    assert set(consents) == {"email", "tracking"}  # phone was not ticked: nothing recorded
    assert consents["email"].status == "granted"
    assert consents["email"].wording == CONSENT_WORDING["email"]
    assert consents["tracking"].wording == CONSENT_WORDING["tracking"]
    assert before - timedelta(seconds=1) <= consents["email"].stated_at <= datetime.now(UTC)

    configure = tablet_page(staff.client.get(f"/showroom/tablet/{sid}/configure"))
    assert "Sanne de Vries" in configure.get_text()
    assert len(configure.select(".t-tile-model")) == len(catalogue.MODELS)
    configure_a_car(staff, sid, htmx=htmx)

    summary = tablet_page(staff.client.get(f"/showroom/tablet/{sid}/configure"))
    total = catalogue.price(STERNA_SELECTION)
    total_text = summary.select_one(".t-total output")
    assert total_text is not None
    assert total_text.get_text(strip=True) == f"€ {total:,}".replace(",", ".")
    code = save(staff, sid)

    # Every choice went in as the website's events, from the showroom, on the session's id.
    events = events_of(db, row.anonymous_id)
    assert {e.channel for e in events} == {"showroom"}
    assert {e.profile_id for e in events} == {pid}
    names = [e.name for e in events]
    assert events[0].type == "identify"
    assert names.count("Configuration Started") == 1
    assert names.count("Configuration Saved") == 1
    assert names.count("Option Removed") == 1
    steps = [e.properties["step"] for e in events if e.name == "Configuration Step Viewed"]
    assert steps == ["trim", "engine", "colour", "wheels", "interior", "packs", "summary"]
    selected = [e.properties for e in events if e.name == "Option Selected"]
    assert [p["category"] for p in selected] == [
        "model",
        "trim",
        "engine",
        "colour",
        "wheels",
        "interior",
        "pack",
        "pack",
    ]
    colour = next(p for p in selected if p["category"] == "colour")
    assert colour == {
        **colour,
        "code": "polar-blue",
        "label": "Polar Blue",
        "price_delta": 890,
        "model": "Sterna",
        "interest": "design",
        "colour_hex": "#24507A",
    }
    safety = next(p for p in selected if p["code"] == "safety")
    assert safety["interest"] == "comfort_safety" and safety["price_delta"] == 1290
    for p in selected:
        assert {"category", "code", "label", "price_delta", "total_price", "model"} <= set(p)
    assert selected[-1]["total_price"] == total + 690  # Winter Pack added on top
    removed = next(e.properties for e in events if e.name == "Option Removed")
    assert removed["code"] == "winter" and removed["total_price"] == total

    saved_event = next(e for e in events if e.name == "Configuration Saved")
    assert saved_event.properties["configuration_code"] == code
    assert saved_event.properties["options"] == [
        {"code": "safety", "label": "Safety Pack", "price": 1290}
    ]
    configuration = db.scalar(select(Configuration).where(Configuration.code == code))
    assert configuration is not None
    assert configuration.profile_id == pid and configuration.channel == "showroom"
    assert (configuration.model, configuration.trim, configuration.colour) == (
        "Sterna",
        "Dynamic",
        "Polar Blue",
    )
    assert configuration.colour_hex == "#24507A"
    assert configuration.total_price == total

    # ... and it is on the customer page at once.
    customer = tablet_page(staff.client.get(f"/showroom/customers/{pid}"))
    card = customer.find("article", attrs={"aria-label": f"Configuration {code}"})
    assert card is not None
    assert "Polar Blue" in card.get_text() and "Safety Pack" in card.get_text()
    assert "in the showroom" in card.get_text()

    # The note: under 30 seconds of tapping, and marketing can use it.
    note_form = tablet_page(staff.client.get(f"/showroom/tablet/{sid}/note"))
    assert {i["value"] for i in note_form.find_all("input", attrs={"name": "interest_level"})} == {
        "hot",
        "warm",
        "cold",
    }
    response = tablet_post(
        staff,
        f"/showroom/tablet/{sid}/note",
        {
            "interest_level": "hot",
            "budget_band": "60k_80k",
            "timeframe": "within_3_months",
            "financing": "yes",
            "model_direction": "higher",
            "trade_in_make": "Volkswagen",
            "trade_in_model": "Golf",
            "trade_in_year": "2018",
            "trade_in_km": "84.000",
            "competitor": "Polestar 2",
            "text": "Wants to test drive the Performance AWD.",
        },
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"/showroom/tablet/{sid}/done"
    note = db.scalar(select(Note).where(Note.profile_id == pid))
    assert note is not None
    assert note.tablet_session_id == sid
    assert (note.interest_level, note.trade_in_km, note.financing_interest) == ("hot", 84000, True)
    traits = {
        t.name: t.value
        for t in db.scalars(select(ProfileTrait).where(ProfileTrait.profile_id == pid))
    }
    assert traits["note_interest_level"] == "hot"
    assert traits["note_budget_band"] == "60k_80k"
    assert traits["note_model_direction"] == "higher"
    assert traits["note_competitor"] == "Polestar 2"
    assert traits["note_trade_in"] == {
        "make": "Volkswagen",
        "model": "Golf",
        "year": 2018,
        "km": 84000,
    }
    assert traits["first_name"] == "Sanne" and traits["email"] == "sanne.devries@example.nl"
    assert tablet_row(db, sid).ended_at is not None
    # A hot walk-in is a lead, in the salesperson's own list.
    [lead] = db.scalars(select(Lead).where(Lead.profile_id == pid)).all()
    assert (lead.channel, lead.stage, lead.assigned_user_id) == ("walk_in", "new", note.user_id)

    done = tablet_page(staff.client.get(f"/showroom/tablet/{sid}/done"))
    assert done.find("form", action="/showroom/tablet/sessions") is not None  # next customer
    assert code in done.get_text()


def test_a_customer_who_configured_online_ends_on_the_same_profile(
    tablet: Callable[[str], StaffClient],
    app_client: TestClient,
    web_source: SourceKey,
    db: Session,
) -> None:
    browser = f"web-{uuid.uuid4().hex[:10]}"
    email = f"pieter.{uuid.uuid4().hex[:6]}@example.nl"
    batch = [
        {
            "type": "identify",
            "anonymousId": browser,
            "messageId": str(uuid.uuid4()),
            "traits": {"email": email, "firstName": "Pieter", "lastName": "Bakker"},
        },
        {
            "type": "track",
            "anonymousId": browser,
            "messageId": str(uuid.uuid4()),
            "event": "Configuration Started",
            "properties": {"model": "Lumo"},
        },
        {
            "type": "track",
            "anonymousId": browser,
            "messageId": str(uuid.uuid4()),
            "event": "Configuration Saved",
            "properties": {
                "configuration_code": "NW-WEB234",
                "model": "Lumo",
                "trim": "Core",
                "colour": "Moss Green",
                "colour_hex": "#4B5E3C",
                "total_price": 36490,
            },
        },
    ]
    response = app_client.post("/v1/batch", json={"batch": batch}, headers=web_source.auth)
    assert response.status_code == 200, response.text
    web_profile = db.scalar(select(Identity.profile_id).where(Identity.value == browser))
    assert web_profile is not None

    staff = tablet("sales")
    sid = start(staff)
    found = tablet_page(staff.client.get(f"/showroom/tablet/{sid}/customer", params={"q": email}))
    chooser = found.find("input", attrs={"name": "profile_id", "value": str(web_profile)})
    assert chooser is not None, found.get_text()
    partial = staff.client.get(
        f"/showroom/tablet/{sid}/customer/search", params={"q": "Pieter Baker"}, headers=HTMX
    )
    assert str(web_profile) in partial.text and "<html" not in partial.text  # typo-tolerant

    response = tablet_post(
        staff, f"/showroom/tablet/{sid}/customer/existing", {"profile_id": str(web_profile)}
    )
    assert response.status_code == 303, response.text
    row = tablet_row(db, sid)
    assert row.anonymous_id != browser
    assert row.profile_id == web_profile

    assert choose(staff, sid, "model", "lumo").status_code == 303
    assert go(staff, sid, "colour").status_code == 303
    assert choose(staff, sid, "colour", "sandstone").status_code == 303
    code = save(staff, sid)

    events = events_of(db, row.anonymous_id)
    assert events and {e.profile_id for e in events} == {web_profile}
    profile = get_profile(db, web_profile)
    assert set(profile.channels) == {"web", "showroom"}
    assert {c.code for c in profile.configurations} == {"NW-WEB234", code}
    customer = tablet_page(staff.client.get(f"/showroom/customers/{web_profile}"))
    assert customer.find("article", attrs={"aria-label": f"Configuration {code}"}) is not None
    assert "Pieter Bakker" in customer.get_text()

    # A session is for one customer: its customer cannot be swapped for another afterwards.
    response = add_customer(staff, sid, first_name="Other", email="other@example.nl")
    assert response.status_code == 409
    assert "one customer" in response.text


def test_start_tapped_again_reuses_the_untouched_session(
    tablet: Callable[[str], StaffClient], db: Session
) -> None:
    # Each tap on Start (and each form sent back) left an empty open session behind.
    staff = tablet("sales")
    first = start(staff)
    assert start(staff) == first  # nothing happened in it yet
    assert add_customer(staff, first, first_name="Anna", email="not-an-address").status_code == 400
    assert start(staff) == first  # a refused form changes nothing
    page = tablet_page(staff.client.get("/showroom/tablet"))
    assert len(page.select(f'a[href="/showroom/tablet/{first}"]')) == 1
    assert add_customer(staff, first, first_name="Anna", email="anna@example.nl").status_code == 303
    second = start(staff)  # the first has a customer now: a new one
    assert second != first
    assert tablet_row(db, second).anonymous_id != tablet_row(db, first).anonymous_id


def test_two_customers_on_the_same_tablet_get_two_profiles(
    tablet: Callable[[str], StaffClient], db: Session
) -> None:
    staff = tablet("sales")
    first = start(staff)
    assert add_customer(staff, first, first_name="Anna", email="anna@example.nl").status_code == 303
    assert choose(staff, first, "model", "vela", htmx=True).status_code == 200
    save(staff, first)
    assert tablet_post(staff, f"/showroom/tablet/{first}/end").status_code == 303

    second = start(staff)  # "Next customer" on the done page
    assert (
        add_customer(staff, second, first_name="Bram", phone="+32 470 12 34 56").status_code == 303
    )
    assert choose(staff, second, "model", "tundra", htmx=True).status_code == 200
    save(staff, second)

    a, b = tablet_row(db, first), tablet_row(db, second)
    assert a.anonymous_id != b.anonymous_id
    assert a.profile_id is not None and b.profile_id is not None
    assert a.profile_id != b.profile_id
    assert {e.profile_id for e in events_of(db, b.anonymous_id)} == {b.profile_id}
    assert get_profile(db, a.profile_id).traits["first_name"] == "Anna"
    assert get_profile(db, b.profile_id).traits["first_name"] == "Bram"
    assert [c.model for c in get_profile(db, a.profile_id).configurations] == ["Vela"]


# --- refusals ---------------------------------------------------------------------------------
@pytest.mark.parametrize("htmx", [False, True], ids=["plain-forms", "htmx"])
def test_unknown_choices_are_refused_and_nothing_is_recorded(
    tablet: Callable[[str], StaffClient], db: Session, htmx: bool
) -> None:
    staff = tablet("sales")
    sid = start(staff)
    assert add_customer(staff, sid, first_name="Cor", email="cor@example.nl").status_code == 303
    before = event_count(db)

    response = choose(staff, sid, "model", "model-t", htmx)
    assert response.status_code == 400
    assert "no model 'model-t'" in tablet_page(response).get_text()
    assert tablet_page(response).find(id="configurator") is not None
    assert event_count(db) == before

    assert choose(staff, sid, "model", "fjord").status_code == 303
    before = event_count(db)
    selection = dict(tablet_row(db, sid).selection)
    for step, code in (("colour", "hot-pink"), ("wheels", "30-gold"), ("step", "x")):
        response = choose(staff, sid, step, code, htmx)
        assert response.status_code == 400, (step, response.text)
        error = tablet_page(response).find(class_="error")
        assert error is not None and error.get_text(strip=True)
    response = pack(staff, sid, "jetpack", htmx=htmx)
    assert response.status_code == 400
    assert "no option pack 'jetpack'" in tablet_page(response).get_text()
    assert go(staff, sid, "teleport", htmx).status_code == 400
    assert event_count(db) == before
    assert tablet_row(db, sid).selection == selection


def test_the_new_customer_form_explains_what_is_missing(
    tablet: Callable[[str], StaffClient], db: Session
) -> None:
    staff = tablet("sales")
    sid = start(staff)
    before = event_count(db)
    response = add_customer(staff, sid, first_name="", email="", consent=["email"])
    assert response.status_code == 400
    text = tablet_page(response).get_text()
    assert "Enter the customer's name" in text and "e-mail address or a phone number" in text
    response = add_customer(staff, sid, first_name="Dirk", email="dirk-at-example", phone="12")
    assert response.status_code == 400
    form = tablet_page(response)
    assert "is not an e-mail address" in form.get_text()
    assert form.find("input", attrs={"name": "first_name"})["value"] == "Dirk"  # type: ignore[index]
    assert event_count(db) == before
    assert tablet_row(db, sid).profile_id is None


def test_forms_without_the_csrf_token_are_refused(
    tablet: Callable[[str], StaffClient], db: Session
) -> None:
    staff = tablet("sales")
    count = db.scalar(select(func.count()).select_from(TabletSession))
    response = staff.client.post("/showroom/tablet/sessions", data={}, follow_redirects=False)
    assert response.status_code == 403
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(TabletSession)) == count

    sid = start(staff)
    assert add_customer(staff, sid, first_name="Eva", email="eva@example.nl").status_code == 303
    before = event_count(db)
    response = staff.client.post(
        f"/showroom/tablet/{sid}/choose",
        data={"step": "model", "code": "vela"},
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert event_count(db) == before


def test_a_delivery_specialist_cannot_open_the_tablet(tablet: Callable[[str], StaffClient]) -> None:
    staff = tablet("delivery")
    response = staff.client.get("/showroom/tablet")
    assert response.status_code == 403
    assert "does not give access" in response.text
    assert tablet_post(staff, "/showroom/tablet/sessions").status_code == 403


def test_an_ended_or_someone_elses_session_cannot_be_changed(
    tablet: Callable[[str], StaffClient], db: Session
) -> None:
    first = tablet("sales")
    sid = start(first)
    assert add_customer(first, sid, first_name="Fleur", email="fleur@example.nl").status_code == 303
    assert choose(first, sid, "model", "vela").status_code == 303
    assert tablet_post(first, f"/showroom/tablet/{sid}/end", {"confirm": "yes"}).status_code == 303
    before = event_count(db)
    response = choose(first, sid, "model", "fjord")
    assert response.status_code == 409
    assert "has ended" in response.text
    response = tablet_post(first, f"/showroom/tablet/{sid}/note", {"interest_level": "hot"})
    assert response.status_code == 409
    assert (
        first.client.get(f"/showroom/tablet/{sid}/configure", follow_redirects=False).headers[
            "location"
        ]
        == f"/showroom/tablet/{sid}"
    )

    other = tablet("sales")  # signs the shared client in as a colleague
    sid2 = start(other)
    response = choose(other, sid, "model", "fjord")
    assert response.status_code == 403
    assert "belongs to another salesperson" in response.text
    assert other.client.get(f"/showroom/tablet/{sid}/configure").status_code == 403
    assert event_count(db) == before
    assert sid2 != sid


def test_an_empty_note_is_refused_with_a_message(
    tablet: Callable[[str], StaffClient], db: Session
) -> None:
    staff = tablet("sales")
    sid = start(staff)
    assert add_customer(staff, sid, first_name="Gijs", email="gijs@example.nl").status_code == 303
    response = tablet_post(staff, f"/showroom/tablet/{sid}/note", {})
    assert response.status_code == 400
    assert "The note is empty" in response.text
    response = tablet_post(
        staff, f"/showroom/tablet/{sid}/note", {"interest_level": "warm", "trade_in_year": "1890"}
    )
    assert response.status_code == 400
    assert "trade-in year" in response.text
    assert (
        tablet_page(response)
        .find("input", attrs={"name": "interest_level", "value": "warm"})
        .has_attr(  # type: ignore[union-attr]
            "checked"
        )
    )
    assert tablet_row(db, sid).ended_at is None
    assert (
        db.scalar(select(func.count()).select_from(Note).where(Note.tablet_session_id == sid)) == 0
    )


def test_an_erased_customer_is_added_again_only_with_their_consent(
    tablet: Callable[[str], StaffClient], app_client: TestClient, web_source: SourceKey, db: Session
) -> None:
    email = f"erased.{uuid.uuid4().hex[:6]}@example.nl"
    known = {"anonymousId": uuid.uuid4().hex, "traits": {"email": email}}
    assert app_client.post("/v1/identify", json=known, headers=web_source.auth).status_code == 200
    factory = app_client.app.state.sessionmaker  # type: ignore[attr-defined]
    search = app_client.get("/api/profiles", params={"q": email}, headers=make_token(factory))
    [found] = search.json()["results"]
    erased = app_client.post(
        f"/api/profiles/{found['id']}/erasure",
        json={"reason": "asked"},
        headers=make_token(factory, role="admin"),
    )
    assert erased.status_code == 200, erased.text

    staff = tablet("sales")
    sid = start(staff)
    response = add_customer(staff, sid, first_name="Erik", email=email)
    assert response.status_code == 400
    assert "erased at their request" in tablet_page(response).get_text()
    assert tablet_row(db, sid).profile_id is None
    response = add_customer(staff, sid, first_name="Erik", email=email, consent=["email"])
    assert response.status_code == 303, response.text
    assert tablet_row(db, sid).profile_id not in (None, uuid.UUID(found["id"]))
