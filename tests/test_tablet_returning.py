"""A returning customer on the showroom tablet, through its pages (parsed HTML).

Entered as new with their known e-mail, their name is never replaced by what was typed until the
salesperson says which is right; found by lookup, or so, they are asked for consent in the words
new customers read (next to what is on record now) and the session can continue from any car they
saved, whose differences then show on the customer page.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cdp import catalogue
from cdp.models import Configuration, Consent, Event, Identity, ProfileSearch, ProfileTrait
from cdp.tablet.service import CONSENT_WORDING
from showroom.tablet_routes import router as tablet_router
from tests.helpers import (
    HTMX,
    SourceKey,
    StaffClient,
    add_customer,
    choose,
    event_count,
    go,
    save,
    start,
    tablet_page,
    tablet_post,
    tablet_row,
)

Tablet = Callable[[str], StaffClient]


@pytest.fixture()
def tablet(app_client: TestClient, staff_client: Tablet) -> Iterator[Tablet]:
    """`staff_client`, on an app that serves the tablet pages."""
    app = app_client.app
    if not any(getattr(route, "path", "") == "/showroom/tablet" for route in app.routes):  # type: ignore[attr-defined]
        app.include_router(tablet_router)  # type: ignore[attr-defined]
    yield staff_client


def identify_online(
    app_client: TestClient,
    source: SourceKey,
    *,
    traits: dict[str, Any],
    saved: list[dict[str, Any]],
) -> None:
    """A customer known from the brand's configurator: identified, with saved configurations."""
    browser = f"web-{uuid.uuid4().hex[:10]}"
    batch: list[dict[str, Any]] = [
        {
            "type": "identify",
            "anonymousId": browser,
            "messageId": str(uuid.uuid4()),
            "timestamp": "2026-01-10T10:00:00Z",
            "traits": traits,
        }
    ]
    for index, properties in enumerate(saved):
        batch.append(
            {
                "type": "track",
                "anonymousId": browser,
                "messageId": str(uuid.uuid4()),
                "timestamp": f"2026-01-1{index + 1}T11:00:00Z",
                "event": "Configuration Saved",
                "properties": properties,
            }
        )
    response = app_client.post("/v1/batch", json={"batch": batch}, headers=source.auth)
    assert response.status_code == 200, response.text


def owner(db: Session, value: str) -> uuid.UUID:
    db.expire_all()
    pid = db.scalar(select(Identity.profile_id).where(Identity.value == value))
    assert pid is not None, value
    return pid


def traits_of(db: Session, pid: uuid.UUID) -> dict[str, Any]:
    db.expire_all()
    return {
        t.name: t.value
        for t in db.scalars(select(ProfileTrait).where(ProfileTrait.profile_id == pid))
    }


def search_name(db: Session, pid: uuid.UUID) -> str | None:
    db.expire_all()
    row = db.get(ProfileSearch, pid)
    return row.name if row else None


def ruben(app_client: TestClient, source: SourceKey, db: Session) -> tuple[uuid.UUID, str]:
    email = f"ruben.{uuid.uuid4().hex[:6]}@example.nl"
    identify_online(
        app_client,
        source,
        traits={"email": email, "firstName": "Ruben", "lastName": "de Jong", "phone": "0612345678"},
        saved=[],
    )
    return owner(db, email), email


def asked(response: Any) -> dict[str, str]:
    """The hidden fields of the question on the page: who it is about, what it showed."""
    question = tablet_page(response).select_one(".t-question")
    assert question is not None
    return {i["name"]: i["value"] for i in question.select("input[type=hidden]")}  # type: ignore[misc]


# --- the rename question ----------------------------------------------------------------------
def test_a_known_email_typed_with_another_name_asks_and_keeps_the_name_until_answered(
    tablet: Tablet, app_client: TestClient, web_source: SourceKey, db: Session
) -> None:
    pid, email = ruben(app_client, web_source, db)
    staff = tablet("sales")
    sid = start(staff)
    before = event_count(db)
    typed = {"first_name": "Rubin", "last_name": "Jong", "email": email, "consent": ["email"]}

    response = add_customer(staff, sid, **typed)
    assert response.status_code == 409, response.text
    shown = asked(response)
    assert shown == {
        "answering": str(pid), "shown_name": "Ruben de Jong", "shown_typed_name": "Rubin Jong"
    }  # fmt: skip
    html = tablet_page(response)
    question = html.select_one(".t-question")
    assert question is not None
    assert "We already know Ruben de Jong" in question.get_text(" ", strip=True)
    choices = {
        i["value"]: i.find_parent("label").get_text(" ", strip=True)  # type: ignore[union-attr]
        for i in question.select('input[name="answer_name"]')
    }
    assert "Ruben de Jong" in choices["ours"] and "Rubin Jong" in choices["typed"]
    assert html.find("input", attrs={"name": "first_name"})["value"] == "Rubin"  # type: ignore[index]
    assert html.find("input", attrs={"name": "consent", "value": "email"}).has_attr("checked")  # type: ignore[union-attr]
    # Nothing changed anywhere: not the name, not the search row, no event, no session customer.
    assert (traits_of(db, pid)["first_name"], traits_of(db, pid)["last_name"]) == (
        "Ruben",
        "de Jong",
    )
    assert search_name(db, pid) == "Ruben de Jong"
    assert event_count(db) == before and tablet_row(db, sid).profile_id is None

    # Sent back without a choice: the question is marked, still nothing changes.
    response = add_customer(staff, sid, **typed, **shown)
    assert response.status_code == 400
    fieldset = tablet_page(response).select_one("fieldset.t-choose")
    assert fieldset is not None and fieldset.get("aria-invalid") == "true"
    assert "Choose which name is right" in fieldset.get_text()
    assert search_name(db, pid) == "Ruben de Jong" and event_count(db) == before

    # Keep ours: the session is Ruben's, his name stays; the consent he gave is recorded.
    response = add_customer(staff, sid, **typed, **shown, answer_name="ours")
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"/showroom/tablet/{sid}/welcome"
    assert tablet_row(db, sid).profile_id == pid
    assert (traits_of(db, pid)["first_name"], traits_of(db, pid)["last_name"]) == (
        "Ruben",
        "de Jong",
    )
    assert search_name(db, pid) == "Ruben de Jong"
    customer = tablet_page(staff.client.get(f"/showroom/customers/{pid}"))
    assert customer.find("h1").get_text(strip=True) == "Ruben de Jong"  # type: ignore[union-attr]
    [consent] = db.scalars(select(Consent).where(Consent.profile_id == pid)).all()
    assert (consent.purpose, consent.status, consent.wording) == (
        "email",
        "granted",
        CONSENT_WORDING["email"],
    )
    welcome = tablet_page(staff.client.get(f"/showroom/tablet/{sid}/welcome"))
    assert "Ruben de Jong" in welcome.select_one(".t-bar").get_text()  # type: ignore[union-attr]


def test_a_confirmed_new_name_replaces_the_old_one(
    tablet: Tablet, app_client: TestClient, web_source: SourceKey, db: Session
) -> None:
    pid, email = ruben(app_client, web_source, db)
    staff = tablet("sales")
    sid = start(staff)
    typed = {"first_name": "Rubin", "last_name": "Jong", "email": email}
    response = add_customer(staff, sid, **typed)
    assert response.status_code == 409
    shown = asked(response)
    # An answer to a question about another name than the one held now counts for nothing.
    response = add_customer(
        staff, sid, **typed, **shown | {"shown_name": "R."}, answer_name="typed"
    )
    assert response.status_code == 400
    assert search_name(db, pid) == "Ruben de Jong"

    response = add_customer(staff, sid, **typed, **shown, answer_name="typed")
    assert response.status_code == 303, response.text
    assert tablet_row(db, sid).profile_id == pid
    assert (traits_of(db, pid)["first_name"], traits_of(db, pid)["last_name"]) == ("Rubin", "Jong")
    assert search_name(db, pid) == "Rubin Jong"


def test_a_different_phone_is_asked_too_and_a_chosen_one_stays_on_the_same_customer(
    tablet: Tablet, app_client: TestClient, web_source: SourceKey, db: Session
) -> None:
    pid, email = ruben(app_client, web_source, db)
    staff = tablet("sales")
    typed = {"first_name": "Ruben", "last_name": "de Jong", "email": email, "phone": "0687654321"}

    sid = start(staff)
    response = add_customer(staff, sid, **typed)
    assert response.status_code == 409
    assert tablet_page(response).select('input[name="answer_phone"]')
    assert not tablet_page(response).select('input[name="answer_name"]')  # the name is the same
    shown = asked(response)
    assert shown["shown_phone"] == "+31612345678" and shown["shown_typed_phone"] == "+31687654321"
    response = add_customer(staff, sid, **typed, **shown, answer_phone="ours")
    assert response.status_code == 303, response.text
    assert traits_of(db, pid)["phone"] == "+31612345678"
    db.expire_all()
    assert db.scalar(select(Identity).where(Identity.value == "+31687654321")) is None

    sid = start(staff)
    response = add_customer(staff, sid, **typed, **shown, answer_phone="typed")
    assert response.status_code == 303, response.text
    assert tablet_row(db, sid).profile_id == pid  # not a new profile (identity rule 7)
    assert traits_of(db, pid)["phone"] == "+31687654321"
    assert owner(db, "+31687654321") == pid


def test_an_answer_holds_only_for_what_the_question_showed(
    tablet: Tablet, app_client: TestClient, web_source: SourceKey, db: Session
) -> None:
    # Asked about "Rubin Jong", the salesperson edits the first name and chooses "use the typed
    # one": the choice was for a name never shown, so it counts for nothing and is asked again.
    pid, email = ruben(app_client, web_source, db)
    staff = tablet("sales")
    sid = start(staff)
    before = event_count(db)
    typed = {"first_name": "Rubin", "last_name": "Jong", "email": email}
    shown = asked(add_customer(staff, sid, **typed))
    edited = typed | {"first_name": "Mallory"}
    response = add_customer(staff, sid, **edited, **shown, answer_name="typed")
    assert response.status_code == 400
    fieldset = tablet_page(response).select_one("fieldset.t-choose")
    assert fieldset is not None and "changed since you chose" in fieldset.get_text()
    assert not fieldset.select("input[checked]")  # nothing chosen for the new question
    assert asked(response)["shown_typed_name"] == "Mallory Jong"
    assert search_name(db, pid) == "Ruben de Jong" and event_count(db) == before

    # The e-mail edited to one nobody has: no new customer made on the old question's answer.
    profiles = db.scalar(select(func.count()).select_from(ProfileSearch))
    new_email = f"henk.{uuid.uuid4().hex[:6]}@example.nl"
    response = add_customer(staff, sid, **typed | {"email": new_email}, **shown, answer_name="ours")
    assert response.status_code == 400
    assert "changed since you were asked" in tablet_page(response).get_text()
    assert not tablet_page(response).select(".t-question")
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(ProfileSearch)) == profiles
    assert event_count(db) == before and tablet_row(db, sid).profile_id is None
    # Added again knowingly, without the question: a new customer.
    response = add_customer(staff, sid, **typed | {"email": new_email})
    assert response.status_code == 303, response.text
    assert owner(db, new_email) != pid


def test_an_email_of_one_customer_and_a_phone_of_another_are_refused(
    tablet: Tablet, app_client: TestClient, web_source: SourceKey, db: Session
) -> None:
    pid, email = ruben(app_client, web_source, db)
    other = f"anna.{uuid.uuid4().hex[:6]}@example.nl"
    identify_online(
        app_client,
        web_source,
        traits={"email": other, "firstName": "Anna", "lastName": "Smit", "phone": "0611112222"},
        saved=[],
    )
    anna = owner(db, other)
    staff = tablet("sales")
    sid = start(staff)
    before = event_count(db)
    response = add_customer(
        staff, sid, first_name="Ruben", last_name="de Jong", email=email, phone="06 1111 2222"
    )
    assert response.status_code == 400
    html = tablet_page(response)
    assert "two customers" in html.get_text()
    assert html.find("input", attrs={"name": "phone"}).get("aria-invalid") == "true"  # type: ignore[union-attr]
    assert event_count(db) == before
    assert owner(db, email) == pid and owner(db, "+31611112222") == anna  # nobody merged


# --- welcome back: consent and the cars saved before ------------------------------------------
ONLINE_VELA = {
    "configuration_code": "NW-VELA2R",
    "model": "Vela",
    "trim": "Dynamic",
    "engine": "1.5 T 110 kW",
    "colour": "Aurora Red",
    "colour_hex": "#9C1C2E",
    "wheels": '17" Turbine',
    "interior": "Ash Knit",
    "options": [{"code": "winter", "label": "Winter Pack", "price": 690}],
    "total_price": 33990,
    "selection": {
        "model": "vela",
        "trim": "dynamic",
        "engine": "1.5-t110",
        "colour": "aurora-red",
        "wheels": "17-turbine",
        "interior": "ash-knit",
        "packs": ["winter"],
    },
}
# An older save whose configurator sent names only: matched to the catalogue by name.
ONLINE_LUMO = {
    "configuration_code": "NW-LUMO3K",
    "model": "Lumo",
    "trim": "Core",
    "colour": "Moss Green",
    "colour_hex": "#4B5E3C",
    "total_price": 36490,
}


@pytest.mark.parametrize("htmx", [False, True], ids=["plain-forms", "htmx"])
def test_a_returning_customer_continues_from_a_saved_car_and_gives_consent(
    tablet: Tablet, app_client: TestClient, web_source: SourceKey, db: Session, htmx: bool
) -> None:
    email = f"marit.{uuid.uuid4().hex[:6]}@example.nl"
    identify_online(
        app_client,
        web_source,
        traits={
            "email": email,
            "firstName": "Marit",
            "lastName": "Visser",
            "consent": {"tracking": "granted"},
        },
        saved=[ONLINE_LUMO, ONLINE_VELA],
    )
    pid = owner(db, email)
    staff = tablet("sales")
    sid = start(staff)
    response = tablet_post(
        staff, f"/showroom/tablet/{sid}/customer/existing", {"profile_id": str(pid)}
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/showroom/tablet/{sid}/welcome"
    assert (
        staff.client.get(f"/showroom/tablet/{sid}", follow_redirects=False).headers["location"]
        == f"/showroom/tablet/{sid}/welcome"
    )

    welcome = tablet_page(staff.client.get(f"/showroom/tablet/{sid}/welcome"))
    form = welcome.find("form", action=f"/showroom/tablet/{sid}/welcome")
    assert form is not None and form.find("input", attrs={"name": "csrf_token"}) is not None
    # Consent: the same words as for new customers, what is on record now, and a question each.
    for purpose, text in CONSENT_WORDING.items():
        fieldset = next(f for f in welcome.select("fieldset.t-consent-q") if text in f.get_text())
        record = fieldset.select_one(".t-on-record").get_text(" ", strip=True)  # type: ignore[union-attr]
        if purpose == "tracking":
            assert "granted since 10-01-2026" in record
        elif purpose == "email":  # per address held, as exports read it
            assert f"{email}: nothing yet" in record
        else:
            assert "No phone number on record" in record
        values = [
            i["value"] for i in fieldset.find_all("input", attrs={"name": f"consent_{purpose}"})
        ]
        assert values == ["yes", "no", ""]
    # The cars: model, colour swatch, price, when and where.
    cards = {b["value"]: b for b in welcome.select("button.t-start-card")}
    assert list(cards) == ["NW-VELA2R", "NW-LUMO3K"]  # the latest first
    vela = cards["NW-VELA2R"].get_text(" ", strip=True)
    for text in ("Vela", "Dynamic", "Aurora Red", "€ 33.990", "Saved 12-01-2026 online"):
        assert text in vela, vela
    assert "#9C1C2E" in cards["NW-VELA2R"].select_one(".t-swatch")["style"]  # type: ignore[index]

    # Phone consent without a phone number: refused and marked, nothing recorded or loaded.
    before = event_count(db)
    response = tablet_post(
        staff,
        f"/showroom/tablet/{sid}/welcome",
        {"consent_email": "yes", "consent_phone": "yes", "start_from": "NW-VELA2R"},
    )
    assert response.status_code == 400
    marked = tablet_page(response).select_one('fieldset[aria-invalid="true"]')
    assert marked is not None and "no phone number" in marked.get_text()
    checked = tablet_page(response).find("input", attrs={"name": "consent_email", "value": "yes"})
    assert checked is not None and checked.has_attr("checked")
    assert event_count(db) == before and not tablet_row(db, sid).selection.get("model")

    at = datetime.now(UTC)
    response = tablet_post(
        staff,
        f"/showroom/tablet/{sid}/welcome",
        {
            "consent_email": "yes",
            "consent_phone": "",
            "consent_tracking": "no",
            "start_from": "NW-VELA2R",
        },
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"/showroom/tablet/{sid}/configure"
    db.expire_all()
    consents = {
        c.purpose: c
        for c in db.scalars(
            select(Consent).where(Consent.profile_id == pid).order_by(Consent.stated_at)
        )
    }
    assert set(consents) == {"email", "tracking"}  # phone not asked: nothing recorded
    assert consents["email"].status == "granted"
    assert consents["email"].wording == CONSENT_WORDING["email"]
    assert at - timedelta(seconds=1) <= consents["email"].stated_at <= datetime.now(UTC)
    assert consents["tracking"].status == "withdrawn"  # the latest, from the tablet
    assert consents["tracking"].wording == CONSENT_WORDING["tracking"]
    # The yes is for the customer's address, so it is in force: on the tablet, on the customer
    # page's badge and in its table of what is in force.
    assert consents["email"].address == email
    record = tablet_page(staff.client.get(f"/showroom/tablet/{sid}/welcome")).select_one(
        ".t-on-record"
    )
    assert record is not None and f"{email}: granted since" in record.get_text(" ", strip=True)
    page = tablet_page(staff.client.get(f"/showroom/customers/{pid}"))
    badges = page.select_one(".badges").get_text(" ", strip=True)  # type: ignore[union-attr]
    assert "email: granted" in badges and "tracking: withdrawn" in badges

    # The car is loaded into the tablet's selection, at its summary.
    selection = tablet_row(db, sid).selection
    assert {k: selection[k] for k in ONLINE_VELA["selection"]} == ONLINE_VELA["selection"]
    assert selection["step"] == "summary" and selection["based_on"] == "NW-VELA2R"
    summary = tablet_page(staff.client.get(f"/showroom/tablet/{sid}/configure"))
    assert "Aurora Red" in summary.select_one(".t-summary-table").get_text()  # type: ignore[union-attr]
    db.expire_all()
    loaded = db.scalars(select(Event).where(Event.name == "Configuration Loaded")).all()
    assert [e.properties["configuration_code"] for e in loaded if e.profile_id == pid] == [
        "NW-VELA2R"
    ]

    # Change the colour and save: a new version, and the customer page says what changed.
    assert go(staff, sid, "colour", htmx).status_code in (200, 303)
    response = choose(staff, sid, "colour", "glacier-white", htmx)
    assert response.status_code in (200, 303)
    code = save(staff, sid)
    saved = db.scalar(select(Configuration).where(Configuration.code == code))
    assert saved is not None and saved.profile_id == pid and saved.colour == "Glacier White"
    customer = tablet_page(staff.client.get(f"/showroom/customers/{pid}"))
    card = customer.find("article", attrs={"aria-label": f"Configuration {code}"})
    assert card is not None
    changes = card.select_one(".changes").get_text(" ", strip=True)  # type: ignore[union-attr]
    assert "Made from NW-VELA2R" in changes and "online" in changes
    assert "colour: Aurora Red → Glacier White" in changes
    assert "Winter Pack" not in changes  # kept: not a difference


def test_a_configuration_saved_with_names_only_loads_by_name(
    tablet: Tablet, app_client: TestClient, web_source: SourceKey, db: Session
) -> None:
    email = f"joost.{uuid.uuid4().hex[:6]}@example.nl"
    identify_online(
        app_client, web_source, traits={"email": email, "firstName": "Joost"}, saved=[ONLINE_LUMO]
    )
    pid = owner(db, email)
    staff = tablet("sales")
    sid = start(staff)
    tablet_post(staff, f"/showroom/tablet/{sid}/customer/existing", {"profile_id": str(pid)})
    response = tablet_post(staff, f"/showroom/tablet/{sid}/welcome", {"start_from": "NW-LUMO3K"})
    assert response.status_code == 303, response.text
    selection = tablet_row(db, sid).selection
    base = catalogue.base_selection(catalogue.model_by_code("lumo"))
    assert (selection["model"], selection["trim"], selection["colour"]) == (
        "lumo",
        "core",
        "moss-green",
    )
    assert selection["engine"] == base.engine  # not in the saved event: the base choice

    # Someone else's code, or none of theirs, is refused on the page.
    sid = start(staff)
    tablet_post(staff, f"/showroom/tablet/{sid}/customer/existing", {"profile_id": str(pid)})
    response = tablet_post(staff, f"/showroom/tablet/{sid}/welcome", {"start_from": "NW-NOPE22"})
    assert response.status_code == 400
    assert "not one of this customer's configurations" in tablet_page(response).get_text()
    # A new configuration instead: from the first step.
    response = tablet_post(
        staff, f"/showroom/tablet/{sid}/welcome", {"start_from": ""}, headers=HTMX
    )
    assert response.headers["HX-Redirect"] == f"/showroom/tablet/{sid}/configure"
    assert tablet_row(db, sid).selection.get("step") == "model"
    assert not tablet_row(db, sid).selection.get("model")


def test_a_yes_is_for_the_address_chosen_and_a_no_withdraws_it_for_all(
    tablet: Tablet, app_client: TestClient, web_source: SourceKey, db: Session
) -> None:
    # A customer with two e-mail addresses: a yes on the tablet is for the one chosen (in force
    # for it, as exports read it), never silently for none; a later no covers both.
    tag = uuid.uuid4().hex[:6]
    home, work = f"joke.{tag}@thuis.example", f"joke.{tag}@werk.example"
    account = f"crm-{tag}"
    for minute, email in enumerate((home, work)):  # the same account, a new address later
        message = {
            "type": "identify", "userId": account, "messageId": str(uuid.uuid4()),
            "timestamp": f"2026-01-10T10:0{minute}:00Z",
            "traits": {"email": email, "firstName": "Joke", "lastName": "Maes"},
        }  # fmt: skip
        response = app_client.post("/v1/identify", json=message, headers=web_source.auth)
        assert response.status_code == 200, response.text
    pid = owner(db, home)
    assert owner(db, work) == pid
    staff = tablet("sales")
    sid = start(staff)
    tablet_post(staff, f"/showroom/tablet/{sid}/customer/existing", {"profile_id": str(pid)})

    welcome = tablet_page(staff.client.get(f"/showroom/tablet/{sid}/welcome"))
    options = [o["value"] for o in welcome.select("select[name=consent_email_address] option")]
    assert options == [work, home]  # the latest first, and chosen unless another is
    selected = welcome.select_one("select[name=consent_email_address] option[selected]")
    assert selected is not None and selected["value"] == work

    # No address chosen with two held: asked which, nothing recorded.
    before = event_count(db)
    response = tablet_post(
        staff, f"/showroom/tablet/{sid}/welcome", {"consent_email": "yes", "start_from": ""}
    )
    assert response.status_code == 400
    assert "Choose the e-mail address" in tablet_page(response).get_text()
    assert event_count(db) == before
    response = tablet_post(
        staff,
        f"/showroom/tablet/{sid}/welcome",
        {"consent_email": "yes", "consent_email_address": "someone@else.example", "start_from": ""},
    )
    assert response.status_code == 400 and event_count(db) == before

    response = tablet_post(
        staff,
        f"/showroom/tablet/{sid}/welcome",
        {"consent_email": "yes", "consent_email_address": home, "start_from": ""},
    )
    assert response.status_code == 303, response.text
    db.expire_all()
    [granted] = db.scalars(select(Consent).where(Consent.profile_id == pid)).all()
    assert (granted.status, granted.address) == ("granted", home)
    record = tablet_page(staff.client.get(f"/showroom/tablet/{sid}/welcome")).select_one(
        ".t-on-record"
    )
    text = record.get_text(" ", strip=True)  # type: ignore[union-attr]
    assert f"{home}: granted since" in text and f"{work}: nothing yet" in text

    # A no is made for no address: it withdraws e-mail for both.
    staff2 = tablet("sales")
    sid2 = start(staff2)
    tablet_post(staff2, f"/showroom/tablet/{sid2}/customer/existing", {"profile_id": str(pid)})
    response = tablet_post(
        staff2, f"/showroom/tablet/{sid2}/welcome", {"consent_email": "no", "start_from": ""}
    )
    assert response.status_code == 303, response.text
    text = (
        tablet_page(staff2.client.get(f"/showroom/tablet/{sid2}/welcome"))
        .select_one(".t-on-record")
        .get_text(" ", strip=True)
    )  # type: ignore[union-attr]
    assert f"{home}: withdrawn" in text and f"{work}: withdrawn" in text
    badges = tablet_page(staff2.client.get(f"/showroom/customers/{pid}")).select_one(".badges")
    assert "email: withdrawn" in badges.get_text(" ", strip=True)  # type: ignore[union-attr]


def test_a_car_started_from_and_left_unchanged_is_not_unsaved(
    tablet: Tablet, app_client: TestClient, web_source: SourceKey, db: Session
) -> None:
    # Loaded from the customer's online save and not changed: it is saved already, so ending
    # asks nothing and keeps no draft identical to it; changed, it is unsaved again.
    email = f"joost.{uuid.uuid4().hex[:6]}@example.nl"
    identify_online(
        app_client, web_source, traits={"email": email, "firstName": "Joost", "lastName": "Prins"},
        saved=[ONLINE_VELA],
    )  # fmt: skip
    pid = owner(db, email)
    staff = tablet("sales")
    for changed in (False, True):
        sid = start(staff)
        tablet_post(staff, f"/showroom/tablet/{sid}/customer/existing", {"profile_id": str(pid)})
        loaded = tablet_post(staff, f"/showroom/tablet/{sid}/welcome", {"start_from": "NW-VELA2R"})
        assert loaded.status_code == 303, loaded.text
        note = tablet_page(staff.client.get(f"/showroom/tablet/{sid}/note")).get_text()
        assert "not saved" not in note
        if changed:
            assert choose(staff, sid, "colour", "glacier-white").status_code in (200, 303)
            asked = tablet_post(staff, f"/showroom/tablet/{sid}/end")
            assert asked.status_code == 200 and "not saved" in tablet_page(asked).get_text()
        else:
            assert tablet_post(staff, f"/showroom/tablet/{sid}/end").status_code == 303
            assert tablet_row(db, sid).selection.get("draft") is None
