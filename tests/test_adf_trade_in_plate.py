"""An ADF lead's trade-in plate makes the customer findable by it (issue 12 §3): POST
/v1/leads/adf, then GET /api/profiles?q= with the plate in another spelling. ADF 1.0 has no
element for a plate, so senders put it where they can; each place docs/adf.md names is read.
On SQLite and PostgreSQL."""

from __future__ import annotations

import random
import string

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from tests.helpers import make_source, uid

_LETTERS = "BDFGHJKLNPRSTVXZ"


def nl_plate() -> tuple[str, str]:
    """A random Dutch plate of sidecode 7 ("12-KBN-3"), and the same typed as "12kbn3"."""
    digits = random.randint(10, 99)
    letters = "".join(random.choice(_LETTERS) for _ in range(3))
    last = random.choice(string.digits)
    return f"{digits}-{letters}-{last}", f"{digits}{letters.lower()}{last}"


def document(email: str, trade_in: str, wanted: str = "") -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<?adf version="1.0"?>
<adf>
 <prospect status="new">
  <requestdate>2026-12-01T10:15:00+01:00</requestdate>
  <vehicle interest="buy" status="used">
   <year>2024</year><make>Veltra</make><model>Aurelia</model>{wanted}
  </vehicle>
  <vehicle interest="trade-in" status="used">
   <year>2017</year><make>Volkswagen</make><model>Golf</model>{trade_in}
  </vehicle>
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
