"""An ADF lead's trade-in plate makes the customer findable by it (issue 12 §3): POST
/v1/leads/adf, then GET /api/profiles?q= with the plate in another spelling. ADF 1.0 has no
element for a plate, so senders put it where they can; each place docs/adf.md names is read.
The ADF we write for a lead gives the trade-in back with its plate (or the customer's).
On SQLite and PostgreSQL."""

from __future__ import annotations

import random
import string
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from cdp.adf.parse import AdfLead, parse
from tests.helpers import SourceKey, StaffClient, make_source, only_lead, uid

_LETTERS = "BDFGHJKLNPRSTVXZ"


def nl_plate() -> tuple[str, str]:
    """A random Dutch plate of sidecode 7 ("12-KBN-3"), and the same typed as "12kbn3"."""
    digits = random.randint(10, 99)
    letters = "".join(random.choice(_LETTERS) for _ in range(3))
    last = random.choice(string.digits)
    return f"{digits}-{letters}-{last}", f"{digits}{letters.lower()}{last}"


def document(email: str, trade_in: str | None, wanted: str = "") -> str:
    """A lead for a Veltra Aurelia; with a trade-in Golf of 2017 unless trade_in is None."""
    vehicle = (
        f"""<vehicle interest="trade-in" status="used">
   <year>2017</year><make>Volkswagen</make><model>Golf</model>{trade_in}
  </vehicle>"""
        if trade_in is not None
        else ""
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<?adf version="1.0"?>
<adf>
 <prospect status="new">
  <requestdate>2026-12-01T10:15:00+01:00</requestdate>
  <vehicle interest="buy" status="used">
   <year>2024</year><make>Veltra</make><model>Aurelia</model>{wanted}
  </vehicle>
  {vehicle}
  <customer>
   <contact>
    <name part="first">Fenna</name><name part="last">Wiersma</name>
    <email>{email}</email>
   </contact>
  </customer>
  <vendor><vendorname>Autohuis Eindhoven</vendorname></vendor>
 </prospect>
</adf>"""


def post(client: TestClient, auth: dict[str, str], body: str) -> httpx.Response:
    response: httpx.Response = client.post(
        "/v1/leads/adf",
        content=body.encode(),
        headers={"Content-Type": "application/xml", **auth},
    )
    return response


def find(client: TestClient, api_auth: dict[str, str], q: str) -> tuple[str | None, list[str]]:
    response = client.get("/api/profiles", params={"q": q}, headers=api_auth)
    assert response.status_code == 200, response.text
    body = response.json()
    return body["matched_by"], [r["id"] for r in body["results"]]


@pytest.mark.parametrize(
    "where",
    [
        '<id source="licenseplate">{plate}</id>',
        '<id source="Kenteken">{plate}</id>',
        "<licenseplate>{plate}</licenseplate>",
        "<LicencePlate>{plate}</LicencePlate>",
        "<plate>{spaced}</plate>",
        "<vin>{plate}</vin>",
        "<comments>Kenteken: {spaced}, APK tot 2027</comments>",
        "<comments>Good state. License plate {plate}.</comments>",
    ],
)
def test_the_trade_in_plate_finds_the_customer_in_any_spelling(
    app_client: TestClient,
    session_factory: sessionmaker[Session],
    api_auth: dict[str, str],
    where: str,
) -> None:
    source = make_source(session_factory, kind="marketplace")
    plate, compact = nl_plate()
    spaced = plate.replace("-", " ").lower()
    answer = post(
        app_client,
        source.auth,
        document(f"{uid('fenna')}@example.nl", where.format(plate=plate, spaced=spaced)),
    )
    assert answer.status_code == 200, answer.text
    [prospect] = answer.json()["prospects"]

    for typed in (compact, spaced, plate.replace("-", ".")):
        matched_by, found = find(app_client, api_auth, typed)
        assert (matched_by, found) == ("licence plate", [prospect["profile_id"]]), typed
    customer = app_client.get("/api/profiles", params={"q": compact}, headers=api_auth).json()[
        "results"
    ][0]
    assert customer["plate"] == plate and customer["name"] == "Fenna Wiersma"


def test_the_car_asked_about_and_a_real_vin_are_not_the_customers_plate(
    app_client: TestClient,
    session_factory: sessionmaker[Session],
    api_auth: dict[str, str],
) -> None:
    """The wanted car is the dealer's (its plate stays with the car asked about); a VIN is no
    plate, nor is a year after "registered"."""
    source = make_source(session_factory, kind="marketplace")
    dealer_plate, dealer_compact = nl_plate()
    answer = post(
        app_client,
        source.auth,
        document(
            f"{uid('fenna')}@example.nl",
            "<vin>WVWZZZ1KZ7W123456</vin><comments>Registered in 2017</comments>",
            wanted=f'<id source="licenseplate">{dealer_plate}</id>',
        ),
    )
    assert answer.status_code == 200, answer.text
    assert find(app_client, api_auth, dealer_compact) == (None, [])
    assert find(app_client, api_auth, "IN-20-17") == (None, [])


def download(
    staff: StaffClient, factory: sessionmaker[Session], prospect: dict[str, Any]
) -> AdfLead:
    """The prospect's lead as its dealer's CRM gets it (GET /showroom/leads/ID/adf), read back
    by our own ADF import."""
    lead = only_lead(factory, uuid.UUID(prospect["profile_id"]))
    answer = staff.client.get(f"/showroom/leads/{lead.id}/adf")
    assert answer.status_code == 200, answer.text
    [read] = parse(answer.content)
    return read


def send_lead(client: TestClient, source: SourceKey, body: str) -> dict[str, Any]:
    answer = post(client, source.auth, body)
    assert answer.status_code == 200, answer.text
    [prospect] = answer.json()["prospects"]
    assert prospect["status"] == "created", prospect
    return dict(prospect)


def identify(client: TestClient, source: SourceKey, email: str, plate: str) -> None:
    """The configurator tells us the customer's plate (a licence_plate trait)."""
    body = {"anonymousId": uid("anon"), "traits": {"email": email, "licence_plate": plate}}
    assert client.post("/v1/identify", json=body, headers=source.auth).status_code == 200


def test_the_trade_in_goes_back_out_with_its_plate(
    app_client: TestClient,
    session_factory: sessionmaker[Session],
    staff_client: Callable[[str], StaffClient],
) -> None:
    """ADF in, ADF out: the trade-in the lead arrived with, plate included, reaches the CRM."""
    source = make_source(session_factory, kind="marketplace")
    plate, _ = nl_plate()
    where = f"<odometer>84000</odometer><comments>Kenteken {plate}</comments>"
    prospect = send_lead(app_client, source, document(f"{uid('fenna')}@example.nl", where))

    read = download(staff_client("manager"), session_factory, prospect)
    trade_in = read.trade_in
    assert trade_in is not None
    assert (trade_in.make, trade_in.model, trade_in.year) == ("Volkswagen", "Golf", 2017)
    assert (trade_in.plate, trade_in.odometer) == (plate, 84000)
    assert read.wanted is not None and read.wanted.plate is None  # the dealer's car has none


def test_the_customers_plate_goes_out_as_their_trade_in(
    app_client: TestClient,
    session_factory: sessionmaker[Session],
    web_source: SourceKey,
    staff_client: Callable[[str], StaffClient],
) -> None:
    """A customer whose plate we hold (a licence_plate trait from the configurator): it goes out
    with the trade-in the lead gave without one, and as a trade-in of unknown make and model
    when the lead named none."""
    source = make_source(session_factory, kind="marketplace")
    manager = staff_client("manager")
    plate, compact = nl_plate()
    email = f"{uid('fenna')}@example.nl"
    identify(app_client, web_source, email, compact)
    with_golf = send_lead(app_client, source, document(email, "<comments>Good state</comments>"))
    trade_in = download(manager, session_factory, with_golf).trade_in
    assert trade_in is not None
    assert (trade_in.make, trade_in.model, trade_in.plate) == ("Volkswagen", "Golf", plate)

    other_plate, _ = nl_plate()
    other = f"{uid('daan')}@example.nl"
    identify(app_client, web_source, other, other_plate.lower())
    without = send_lead(app_client, source, document(other, None))
    trade_in = download(manager, session_factory, without).trade_in
    assert trade_in is not None
    assert (trade_in.make, trade_in.model, trade_in.plate) == ("unknown", "unknown", other_plate)

    nothing = send_lead(app_client, source, document(f"{uid('ruben')}@example.nl", None))
    assert download(manager, session_factory, nothing).trade_in is None
