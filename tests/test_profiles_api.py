"""The read API (/api/profiles) that staff apps use: auth, search, and the profile document.

Covers: Bearer token required (missing, unknown, wrong scheme, revoked); search by email in any
case, phone in any usual format, name in either order without accents, postal code and
configuration code; the profile JSON (identifiers, traits, consents, first/last seen, sessions,
channels, models considered, configurations latest first, interest shares, merges, timeline with
pagination); unknown and malformed ids answered with JSON errors.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from cdp.models import ApiToken, Identity
from tests.helpers import SourceKey, make_token

DAY1 = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)


def uid(prefix: str = "a") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def at(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def minutes(n: float, day: int = 0) -> datetime:
    return DAY1 + timedelta(days=day, minutes=n)


def message(kind: str, anonymous_id: str, moment: datetime, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "anonymousId": anonymous_id, "timestamp": at(moment), **fields}


def option(anonymous_id: str, moment: datetime, category: str, **props: Any) -> dict[str, Any]:
    properties = {"category": category, "code": category.upper(), **props}
    return message("track", anonymous_id, moment, event="Option Selected", properties=properties)


def send_batch(client: TestClient, source: SourceKey, messages: list[dict[str, Any]]) -> None:
    response = client.post("/v1/batch", json={"batch": messages}, headers=source.auth)
    assert response.status_code == 200, response.text
    assert response.json()["rejected"] == []


def owner(db: Session, kind: str, value: str) -> uuid.UUID:
    db.expire_all()
    pid = db.scalar(
        select(Identity.profile_id).where(Identity.kind == kind, Identity.value == value)
    )
    assert pid is not None
    return pid


def search(client: TestClient, auth: dict[str, str], q: str) -> Any:
    response = client.get("/api/profiles", params={"q": q}, headers=auth)
    assert response.status_code == 200, response.text
    return response.json()


def read(client: TestClient, auth: dict[str, str], pid: uuid.UUID | str, **params: Any) -> Any:
    response = client.get(f"/api/profiles/{pid}", params=params, headers=auth)
    assert response.status_code == 200, response.text
    return response.json()


@dataclass
class Customer:
    profile_id: uuid.UUID
    email: str
    phone_digits: str  # Dutch mobile number without the leading 0, e.g. "612345678"
    codes: tuple[str, str]  # first saved, last saved
    events: int


def make_customer(client: TestClient, web: SourceKey, showroom: SourceKey, db: Session) -> Customer:
    """Sören Müller: two web sessions, a showroom visit, two saved configurations."""
    laptop, tablet = uid("laptop"), uid("tablet")
    email = f"soren.muller.{uuid.uuid4().hex[:6]}@example.de"
    phone_digits = f"6{uuid.uuid4().int % 10**8:08d}"
    first_code, last_code = uid("aur").upper(), uid("bor").upper()
    day1 = [
        message("page", laptop, minutes(0), name="Home"),
        message(
            "track",
            laptop,
            minutes(5),
            event="Configuration Started",
            properties={"model": "Aurora"},
        ),
        option(laptop, minutes(6), "colour", model="Aurora"),
        option(laptop, minutes(7), "wheels"),
        option(laptop, minutes(8), "engine"),
        option(laptop, minutes(9), "pack"),
        message(
            "track", laptop, minutes(10), event="Finance Calculated", properties={"monthly": 499}
        ),
        message(
            "identify",
            laptop,
            minutes(12),
            traits={
                "email": email,
                "firstName": "Sören",
                "lastName": "Müller",
                "phone": f"+31 {phone_digits}",
                "address": {"postalCode": "3511 AB", "city": "Utrecht"},
                "consent": {"email": True},
            },
        ),
        message(
            "track",
            laptop,
            minutes(15),
            event="Configuration Saved",
            properties={
                "configuration_code": first_code,
                "model": "Aurora",
                "colour": "Lava Red",
                "total_price": 45990,
            },
        ),
    ]
    day2 = [
        message(
            "track",
            laptop,
            minutes(0, day=1) + timedelta(hours=9),
            event="Configuration Started",
            properties={"model": "Borealis"},
        ),
        message(
            "track",
            laptop,
            minutes(10, day=1) + timedelta(hours=9),
            event="Configuration Saved",
            properties={
                "configuration_code": last_code,
                "model": "Borealis",
                "colour": "Glacier White",
                "total_price": 52100,
            },
        ),
    ]
    day3 = [
        message("identify", tablet, minutes(0, day=2), traits={"email": email}),
        message(
            "track",
            tablet,
            minutes(20, day=2),
            event="Test Drive Requested",
            properties={"dealer": "Utrecht"},
        ),
    ]
    send_batch(client, web, day2)  # the later configuration arrives first
    send_batch(client, web, day1)
    send_batch(client, showroom, day3)
    return Customer(
        profile_id=owner(db, "email", email),
        email=email,
        phone_digits=phone_digits,
        codes=(first_code, last_code),
        events=len(day1) + len(day2) + len(day3),
    )


@pytest.fixture()
def customer(
    app_client: TestClient, web_source: SourceKey, showroom_source: SourceKey, db: Session
) -> Customer:
    return make_customer(app_client, web_source, showroom_source, db)


# --- auth -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer cdp_not-a-real-token"},
        {"Authorization": "Token cdp_not-a-real-token"},
    ],
    ids=["missing", "empty", "unknown", "wrong-scheme"],
)
@pytest.mark.parametrize(
    "path", ["/api/profiles?q=someone", "/api/profiles/6f1c1d9e-3b0a-4d5e-9a43-0c8f5a2b7e11"]
)
def test_read_api_needs_a_valid_bearer_token(
    app_client: TestClient, headers: dict[str, str], path: str
) -> None:
    response = app_client.get(path, headers=headers)
    assert response.status_code == 401
    error = response.json()
    assert error["field"] == "Authorization"
    assert error["detail"]


def test_a_write_key_is_not_an_api_token(app_client: TestClient, web_source: SourceKey) -> None:
    headers = {"Authorization": f"Bearer {web_source.key}"}
    assert app_client.get("/api/profiles?q=x", headers=headers).status_code == 401
    assert app_client.get("/api/profiles?q=x", headers=web_source.auth).status_code == 401


def revoke_all(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as session:
        session.execute(update(ApiToken).values(active=False))
        session.commit()


def test_a_revoked_token_is_refused_at_once_for_reads_and_changes(
    app_client: TestClient, session_factory: sessionmaker[Session], customer: Customer
) -> None:
    auth = make_token(session_factory, role="admin")
    path = f"/api/profiles/{customer.profile_id}"
    assert app_client.get("/api/profiles?q=x", headers=auth).status_code == 200
    revoke_all(session_factory)
    assert app_client.get("/api/profiles?q=x", headers=auth).status_code == 401
    assert app_client.get(path, headers=auth).status_code == 401
    erasure = app_client.post(f"{path}/erasure", json={"reason": "asked"}, headers=auth)
    assert erasure.status_code == 401


# --- search ---------------------------------------------------------------------------------


def test_search_by_email_in_any_case(
    app_client: TestClient, api_auth: dict[str, str], customer: Customer
) -> None:
    for q in (customer.email, customer.email.upper(), f"  {customer.email.title()} "):
        found = search(app_client, api_auth, q)
        assert found["matched_by"] == "email"
        [result] = found["results"]
        assert result["id"] == str(customer.profile_id)
    assert result["name"] == "Sören Müller"
    assert result["email"] == customer.email
    assert result["phone"] == f"+31{customer.phone_digits}"
    assert result["postal_code"] == "3511 AB"
    assert (result["latest_model"], result["latest_colour"]) == ("Borealis", "Glacier White")


def test_search_by_phone_in_any_usual_format(
    app_client: TestClient, api_auth: dict[str, str], customer: Customer
) -> None:
    d = customer.phone_digits
    for q in (f"0{d}", f"0{d[0]}-{d[1:]}", f"+31 {d[0]} {d[1:5]} {d[5:]}", f"0031{d}", f"+31{d}"):
        found = search(app_client, api_auth, q)
        assert found["matched_by"] == "phone", q
        assert [r["id"] for r in found["results"]] == [str(customer.profile_id)], q


@pytest.mark.parametrize(
    "q",
    [
        "Sören Müller",
        "Müller Sören",
        "muller soren",
        "MULLER",
        "Soren",
        "müller, sören",
        "sör",
        "Soren Muler",
    ],
)
def test_search_by_name_in_either_order_without_accents(
    app_client: TestClient, api_auth: dict[str, str], customer: Customer, q: str
) -> None:
    found = search(app_client, api_auth, q)
    assert found["matched_by"] == "name"
    assert str(customer.profile_id) in [r["id"] for r in found["results"]]


@pytest.mark.parametrize("q", ["Bakker", "Pieter de Vries", "Utrecht"])
def test_search_by_name_does_not_return_other_names(
    app_client: TestClient, api_auth: dict[str, str], customer: Customer, q: str
) -> None:
    found = search(app_client, api_auth, q)["results"]
    assert str(customer.profile_id) not in [r["id"] for r in found]


def test_search_by_name_ranks_the_closest_name_first(
    app_client: TestClient, web_source: SourceKey, api_auth: dict[str, str], db: Session
) -> None:
    people = {"jan": ("Jan", "Müller"), "soren": ("Sören", "Müller"), "sanne": ("Sanne", "Visser")}
    ids = {}
    for key, (first, last) in people.items():
        device = uid(key)
        traits = {"firstName": first, "lastName": last}
        send_batch(app_client, web_source, [message("identify", device, minutes(0), traits=traits)])
        ids[key] = str(owner(db, "anonymous_id", device))

    def ranked(q: str) -> list[str]:
        return [r["id"] for r in search(app_client, api_auth, q)["results"]]

    assert ranked("Jan Müller")[0] == ids["jan"]
    assert ranked("muller soren")[0] == ids["soren"]
    assert set(ranked("Müller")) == {ids["jan"], ids["soren"]}
    assert ids["sanne"] not in ranked("Müller")


@pytest.mark.parametrize("q", ["3511 AB", "3511ab", "3511 ab"])
def test_search_by_postal_code(
    app_client: TestClient, api_auth: dict[str, str], customer: Customer, q: str
) -> None:
    found = search(app_client, api_auth, q)
    assert found["matched_by"] == "postal code"
    assert [r["id"] for r in found["results"]] == [str(customer.profile_id)]


def test_search_by_configuration_code(
    app_client: TestClient, api_auth: dict[str, str], customer: Customer
) -> None:
    for code in customer.codes:
        found = search(app_client, api_auth, f" {code.lower()} ")
        assert found["matched_by"] == "configuration code"
        assert [r["id"] for r in found["results"]] == [str(customer.profile_id)]


def test_a_configuration_code_typed_without_its_hyphen_is_found(
    app_client: TestClient, api_auth: dict[str, str], customer: Customer
) -> None:
    code = next(c for c in customer.codes if "-" in c)
    prefix, rest = code.split("-", 1)
    for typed in (f"{prefix}{rest}".lower(), f"{prefix} {rest}", f"{prefix} - {rest}".lower()):
        found = search(app_client, api_auth, typed)
        assert found["matched_by"] == "configuration code", typed
        assert [r["id"] for r in found["results"]] == [str(customer.profile_id)]


def test_search_without_a_match_is_an_empty_list(
    app_client: TestClient, api_auth: dict[str, str], customer: Customer
) -> None:
    for q in ("Nobody Nowhere", "nobody@example.org", "0687654321", "ZZZ-999-ZZZ"):
        found = search(app_client, api_auth, q)
        assert found["results"] == []
        assert found["matched_by"] is None


def test_search_needs_a_query(app_client: TestClient, api_auth: dict[str, str]) -> None:
    blank = app_client.get("/api/profiles", params={"q": "   "}, headers=api_auth)
    assert blank.status_code == 400
    assert blank.json()["field"] == "q"
    missing = app_client.get("/api/profiles", headers=api_auth)
    assert missing.status_code == 422
    assert missing.json()["field"] == "q"


def test_search_finds_the_survivor_not_an_absorbed_profile(
    app_client: TestClient, web_source: SourceKey, api_auth: dict[str, str], db: Session
) -> None:
    first, second = uid(), uid()
    email = f"merge.{uuid.uuid4().hex[:6]}@example.nl"
    send_batch(
        app_client,
        web_source,
        [
            message(
                "identify", first, minutes(0), traits={"firstName": "Quirijn", "lastName": "Zeeman"}
            )
        ],
    )
    send_batch(
        app_client,
        web_source,
        [message("identify", second, minutes(5), traits={"email": email, "lastName": "Zeeman"})],
    )
    send_batch(
        app_client, web_source, [message("identify", first, minutes(9), traits={"email": email})]
    )
    survivor = owner(db, "email", email)
    found = search(app_client, api_auth, "Zeeman")
    assert [r["id"] for r in found["results"]] == [str(survivor)]


# --- the profile document -------------------------------------------------------------------


def test_profile_document(
    app_client: TestClient,
    api_auth: dict[str, str],
    customer: Customer,
    web_source: SourceKey,
    showroom_source: SourceKey,
) -> None:
    profile = read(app_client, api_auth, customer.profile_id)

    assert profile["id"] == str(customer.profile_id)
    assert profile["name"] == "Sören Müller"
    assert sorted(i["kind"] for i in profile["identifiers"]) == [
        "anonymous_id",
        "anonymous_id",
        "config_code",
        "config_code",
        "email",
        "phone",
    ]
    assert {i["value"] for i in profile["identifiers"]} >= {
        customer.email,
        f"+31{customer.phone_digits}",
        *customer.codes,
    }
    traits = profile["traits"]
    assert traits["email"] == customer.email
    assert (traits["first_name"], traits["last_name"]) == ("Sören", "Müller")
    assert (traits["postal_code"], traits["city"]) == ("3511 AB", "Utrecht")
    assert profile["consents"]["email"]["status"] == "granted"
    assert profile["consents"]["email"]["source"] == web_source.name

    assert profile["first_seen_at"].startswith("2026-05-04T10:00:00")
    assert profile["last_seen_at"].startswith("2026-05-06T10:20:00")
    assert profile["channels"] == ["web", "showroom"]
    assert profile["session_count"] == 3
    sessions = profile["sessions"]  # latest first
    assert [(s["channel"], s["events"]) for s in sessions] == [
        ("showroom", 2),
        ("web", 2),
        ("web", 9),
    ]
    assert sessions[1]["models"] == ["Borealis"]
    assert sessions[2]["started_at"].startswith("2026-05-04T10:00:00")
    assert sessions[2]["ended_at"].startswith("2026-05-04T10:15:00")
    assert profile["models_considered"] == [
        {"model": "Aurora", "events": 3},
        {"model": "Borealis", "events": 2},
    ]

    configurations = profile["configurations"]
    assert [c["code"] for c in configurations] == [customer.codes[1], customer.codes[0]]
    latest = configurations[0]
    assert (latest["model"], latest["colour"], latest["channel"]) == (
        "Borealis",
        "Glacier White",
        "web",
    )
    assert float(latest["total_price"]) == 52100
    assert latest["source"] == web_source.name
    assert latest["saved_at"].startswith("2026-05-05T19:10:00")

    assert profile["interest_shares"] == {
        "design": 0.4,
        "performance": 0.2,
        "comfort_safety": 0.2,
        "price_finance": 0.2,
    }
    assert profile["merges"] == []
    assert len(profile["timeline"]) == customer.events
    assert profile["timeline_next_offset"] is None
    assert profile["timeline"][0]["name"] == "Test Drive Requested"
    assert profile["timeline"][0]["channel"] == "showroom"


def test_interest_shares_follow_the_option_categories(
    app_client: TestClient, web_source: SourceKey, api_auth: dict[str, str], db: Session
) -> None:
    device = uid()
    clicks = ["engine", "engine", "trim", "colour", "pack", "option"]
    batch = [option(device, minutes(i), c) for i, c in enumerate(clicks)]
    batch.append(option(device, minutes(7), "option", interest="design"))  # declared interest
    batch.append(message("track", device, minutes(8), event="Trade-In Valued"))
    batch.append(message("track", device, minutes(9), event="Brochure Downloaded"))  # no interest
    send_batch(app_client, web_source, batch)
    shares = read(app_client, api_auth, owner(db, "anonymous_id", device))["interest_shares"]
    assert shares == {
        "performance": 0.375,
        "design": 0.25,
        "comfort_safety": 0.25,
        "price_finance": 0.125,
    }


def test_profile_without_configurator_clicks_has_zero_shares(
    app_client: TestClient, web_source: SourceKey, api_auth: dict[str, str], db: Session
) -> None:
    device = uid()
    send_batch(app_client, web_source, [message("page", device, minutes(0), name="Home")])
    profile = read(app_client, api_auth, owner(db, "anonymous_id", device))
    assert set(profile["interest_shares"].values()) == {0.0}
    assert profile["configurations"] == []
    assert profile["name"] is None


def test_timeline_pages_latest_first(
    app_client: TestClient, api_auth: dict[str, str], customer: Customer
) -> None:
    seen: list[dict[str, Any]] = []
    offset: int | None = 0
    pages = 0
    while offset is not None and pages < 10:
        page = read(
            app_client, api_auth, customer.profile_id, timeline_offset=offset, timeline_limit=4
        )
        assert len(page["timeline"]) <= 4
        seen.extend(page["timeline"])
        offset = page["timeline_next_offset"]
        pages += 1
    assert pages == 4  # 13 events in pages of 4
    assert len(seen) == customer.events
    assert len({e["id"] for e in seen}) == customer.events
    times = [e["occurred_at"] for e in seen]
    assert times == sorted(times, reverse=True)


def test_profile_lists_its_merges(
    app_client: TestClient, web_source: SourceKey, api_auth: dict[str, str], db: Session
) -> None:
    first, second = uid(), uid()
    email = f"m.{uuid.uuid4().hex[:6]}@example.nl"
    send_batch(app_client, web_source, [message("page", first, minutes(0))])
    send_batch(
        app_client, web_source, [message("identify", second, minutes(1), traits={"email": email})]
    )
    absorbed = owner(db, "anonymous_id", second)
    link = {
        **message("identify", first, minutes(2), traits={"email": email}),
        "messageId": uid("m"),
    }
    send_batch(app_client, web_source, [link])
    survivor = owner(db, "email", email)
    assert survivor != absorbed
    for pid in (survivor, absorbed):
        profile = read(app_client, api_auth, pid)
        assert profile["id"] == str(survivor)
        assert profile["absorbed_ids"] == [str(absorbed)]
        [merge] = profile["merges"]
        assert (merge["survivor_id"], merge["absorbed_id"]) == (str(survivor), str(absorbed))
        assert merge["message_id"] == link["messageId"]
        assert merge["reason"]


# --- errors ---------------------------------------------------------------------------------


def test_unknown_profile_is_a_404_naming_it(
    app_client: TestClient, api_auth: dict[str, str]
) -> None:
    missing = uuid.uuid4()
    response = app_client.get(f"/api/profiles/{missing}", headers=api_auth)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()
    assert str(missing) in error["detail"]
    assert error["field"] == "profile_id"
    assert error["error"] == "not found"


@pytest.mark.parametrize(
    ("q", "detail"),
    [("", "must not be empty"), ("x" * 201, "at most 200 characters"), ("a\x00b", "NUL")],
    ids=["empty", "too-long", "nul"],
)
def test_a_refused_query_says_so_in_one_shape(
    app_client: TestClient, api_auth: dict[str, str], q: str, detail: str
) -> None:
    """Our own refusals and FastAPI's read the same: a client branches on `error` alone."""
    response = app_client.get("/api/profiles", params={"q": q}, headers=api_auth)
    assert 400 <= response.status_code < 500
    error = response.json()
    assert error["error"] == "invalid input"
    assert error["field"] == "q"
    assert detail in error["detail"]


@pytest.mark.parametrize("bad", ["not-a-uuid", "123", "' OR 1=1 --"])
def test_malformed_profile_id_is_a_json_4xx(
    app_client: TestClient, api_auth: dict[str, str], bad: str
) -> None:
    response = app_client.get(f"/api/profiles/{bad}", headers=api_auth)
    assert 400 <= response.status_code < 500
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["field"] == "profile_id"


@pytest.mark.parametrize(
    "params",
    [
        {"timeline_limit": 0},
        {"timeline_limit": 501},
        {"timeline_offset": -1},
        {"timeline_offset": 2**31},
        {"timeline_offset": 2**63},  # beyond the databases' 64-bit OFFSET
        {"timeline_offset": 10**30},
    ],
)
def test_timeline_bounds_are_checked(
    app_client: TestClient, api_auth: dict[str, str], customer: Customer, params: dict[str, int]
) -> None:
    response = app_client.get(
        f"/api/profiles/{customer.profile_id}", params=params, headers=api_auth
    )
    assert response.status_code == 422
    assert response.json()["field"] in params


def test_the_largest_timeline_offset_is_an_empty_page(
    app_client: TestClient, api_auth: dict[str, str], customer: Customer
) -> None:
    profile = read(app_client, api_auth, customer.profile_id, timeline_offset=2**31 - 1)
    assert profile["timeline"] == []
    assert profile["timeline_next_offset"] is None
