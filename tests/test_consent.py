"""Consent statements arriving with events, as the profile and the consent table record them.

Covers: identify traits.consent and Segment's context.consent.categoryPreferences, each recorded
per purpose (tracking, email, phone) with status, source, time and wording; the latest statement
per purpose is in force, also when statements arrive out of order (separately or in one batch);
the history is kept; repeating the status in force adds nothing.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cdp.models import Consent, Identity
from tests.helpers import SourceKey

T0 = datetime(2026, 4, 1, 12, 0, tzinfo=UTC)
EMAIL_WORDING = "Ja, ik ontvang graag aanbiedingen van Autohuis Jansen per e-mail."


def uid(prefix: str = "a") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def identify_consent(anonymous_id: str, minute: float, consent: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "identify",
        "anonymousId": anonymous_id,
        "messageId": uid("msg"),
        "timestamp": at(minute),
        "traits": {"consent": consent},
    }


def send(client: TestClient, source: SourceKey, message: dict[str, Any]) -> None:
    endpoint = message["type"]
    body = {k: v for k, v in message.items() if k != "type"}
    response = client.post(f"/v1/{endpoint}", json=body, headers=source.auth)
    assert response.status_code == 200, response.text


def send_batch(client: TestClient, source: SourceKey, messages: list[dict[str, Any]]) -> None:
    response = client.post("/v1/batch", json={"batch": messages}, headers=source.auth)
    assert response.status_code == 200, response.text
    assert response.json()["rejected"] == []


def profile_id(db: Session, anonymous_id: str) -> uuid.UUID:
    db.expire_all()
    pid = db.scalar(
        select(Identity.profile_id).where(
            Identity.kind == "anonymous_id", Identity.value == anonymous_id
        )
    )
    assert pid is not None
    return pid


def statements(db: Session, pid: uuid.UUID, purpose: str | None = None) -> list[Consent]:
    db.expire_all()
    query = select(Consent).where(Consent.profile_id == pid)
    if purpose:
        query = query.where(Consent.purpose == purpose)
    return list(db.scalars(query.order_by(Consent.stated_at, Consent.id)))


def read_profile(client: TestClient, auth: dict[str, str], pid: uuid.UUID) -> Any:
    response = client.get(f"/api/profiles/{pid}", headers=auth)
    assert response.status_code == 200, response.text
    return response.json()


def in_force(client: TestClient, auth: dict[str, str], pid: uuid.UUID) -> dict[str, str]:
    consents = read_profile(client, auth, pid)["consents"]
    return {purpose: c["status"] for purpose, c in consents.items()}


# --- recording ------------------------------------------------------------------------------


def test_identify_traits_consent_is_recorded_per_purpose_with_status_source_time_and_wording(
    app_client: TestClient, web_source: SourceKey, db: Session, api_auth: dict[str, str]
) -> None:
    device = uid()
    message = identify_consent(
        device,
        5,
        {
            "tracking": True,
            "email": {"status": "granted", "wording": EMAIL_WORDING},
            "phone": "no",
        },
    )
    send(app_client, web_source, message)

    pid = profile_id(db, device)
    rows = {c.purpose: c for c in statements(db, pid)}
    assert {p: c.status for p, c in rows.items()} == {
        "tracking": "granted",
        "email": "granted",
        "phone": "withdrawn",
    }
    assert rows["email"].wording == EMAIL_WORDING
    for row in rows.values():
        assert row.stated_at == T0 + timedelta(minutes=5)
        assert row.source_id == web_source.id
        assert row.message_id == message["messageId"]

    consents = read_profile(app_client, api_auth, pid)["consents"]
    assert consents["email"]["wording"] == EMAIL_WORDING
    assert consents["email"]["source"] == web_source.name
    assert consents["phone"]["status"] == "withdrawn"
    assert consents["tracking"]["stated_at"].startswith("2026-04-01T12:05:00")
    assert "consent" not in read_profile(app_client, api_auth, pid)["traits"]


def test_segment_category_preferences_are_recorded(
    app_client: TestClient, showroom_source: SourceKey, db: Session, api_auth: dict[str, str]
) -> None:
    device = uid()
    message = {
        "type": "track",
        "event": "Consent Updated",
        "anonymousId": device,
        "timestamp": at(1),
        "context": {
            "consent": {
                "categoryPreferences": {
                    "Analytics": True,
                    "email_marketing": False,
                    "sms": True,
                    "Advertising": True,  # not a purpose we record
                }
            }
        },
    }
    send(app_client, showroom_source, message)

    pid = profile_id(db, device)
    assert {c.purpose: c.status for c in statements(db, pid)} == {
        "tracking": "granted",
        "email": "withdrawn",
        "phone": "granted",
    }
    consents = read_profile(app_client, api_auth, pid)["consents"]
    assert {c["source"] for c in consents.values()} == {showroom_source.name}


@pytest.mark.parametrize(
    ("value", "status"),
    [
        (True, "granted"),
        ("yes", "granted"),
        ("opt-in", "granted"),
        ({"granted": True}, "granted"),
        (False, "withdrawn"),
        ("denied", "withdrawn"),
        ({"status": "withdrawn", "text": "Nee"}, "withdrawn"),
    ],
)
def test_usual_ways_of_saying_yes_and_no(
    app_client: TestClient, web_source: SourceKey, db: Session, value: Any, status: str
) -> None:
    device = uid()
    send(app_client, web_source, identify_consent(device, 0, {"email": value}))
    assert [c.status for c in statements(db, profile_id(db, device))] == [status]


@pytest.mark.parametrize("value", ["maybe", None, 7, ["granted"]])
def test_unclear_statements_are_not_recorded(
    app_client: TestClient, web_source: SourceKey, db: Session, value: Any
) -> None:
    device = uid()
    send(app_client, web_source, identify_consent(device, 0, {"email": value, "tracking": True}))
    assert [c.purpose for c in statements(db, profile_id(db, device))] == ["tracking"]


# --- what is in force -----------------------------------------------------------------------


def test_latest_statement_per_purpose_wins(
    app_client: TestClient, web_source: SourceKey, db: Session, api_auth: dict[str, str]
) -> None:
    device = uid()
    send(app_client, web_source, identify_consent(device, 0, {"email": True, "tracking": True}))
    send(app_client, web_source, identify_consent(device, 10, {"email": False}))
    pid = profile_id(db, device)
    assert in_force(app_client, api_auth, pid) == {"email": "withdrawn", "tracking": "granted"}
    assert [c.status for c in statements(db, pid, "email")] == ["granted", "withdrawn"]


def test_latest_statement_wins_when_sent_out_of_order(
    app_client: TestClient, web_source: SourceKey, db: Session, api_auth: dict[str, str]
) -> None:
    device = uid()
    send(app_client, web_source, identify_consent(device, 30, {"email": False}))  # newest first
    send(app_client, web_source, identify_consent(device, 10, {"email": True}))
    send(app_client, web_source, identify_consent(device, 20, {"phone": True}))
    send(app_client, web_source, identify_consent(device, 5, {"phone": False}))
    pid = profile_id(db, device)
    assert in_force(app_client, api_auth, pid) == {"email": "withdrawn", "phone": "granted"}
    history = read_profile(app_client, api_auth, pid)["consent_history"]
    assert [(h["purpose"], h["status"]) for h in history] == [
        ("phone", "withdrawn"),
        ("email", "granted"),
        ("phone", "granted"),
        ("email", "withdrawn"),
    ]


def test_latest_statement_wins_within_one_batch_out_of_order(
    app_client: TestClient, web_source: SourceKey, db: Session, api_auth: dict[str, str]
) -> None:
    device = uid()
    send_batch(
        app_client,
        web_source,
        [
            identify_consent(device, 9, {"tracking": False}),
            identify_consent(device, 1, {"tracking": True}),
            identify_consent(device, 5, {"tracking": True}),
        ],
    )
    pid = profile_id(db, device)
    assert in_force(app_client, api_auth, pid) == {"tracking": "withdrawn"}
    assert [c.status for c in statements(db, pid)] == ["granted", "withdrawn"]


def test_repeating_the_status_in_force_adds_no_statement(
    app_client: TestClient, web_source: SourceKey, db: Session
) -> None:
    device = uid()
    for minute in (0, 10, 20):  # a cookie banner re-sending the same choice on every page
        send(app_client, web_source, identify_consent(device, minute, {"tracking": True}))
    send_batch(
        app_client,
        web_source,
        [identify_consent(device, m, {"tracking": True}) for m in (30, 31)],
    )
    pid = profile_id(db, device)
    assert [(c.status, c.stated_at) for c in statements(db, pid)] == [("granted", T0)]

    send(app_client, web_source, identify_consent(device, 40, {"tracking": False}))
    send(app_client, web_source, identify_consent(device, 50, {"tracking": False}))
    send(app_client, web_source, identify_consent(device, 60, {"tracking": True}))
    assert [c.status for c in statements(db, pid)] == ["granted", "withdrawn", "granted"]


def test_new_wording_for_the_same_status_is_a_new_statement(
    app_client: TestClient, web_source: SourceKey, db: Session
) -> None:
    device = uid()
    first = {"status": "granted", "wording": EMAIL_WORDING}
    second = {"status": "granted", "wording": EMAIL_WORDING + " Ook over onderhoud."}
    send(app_client, web_source, identify_consent(device, 0, {"email": first}))
    send(app_client, web_source, identify_consent(device, 5, {"email": first}))
    send(app_client, web_source, identify_consent(device, 10, {"email": second}))
    rows = statements(db, profile_id(db, device))
    assert [c.wording for c in rows] == [first["wording"], second["wording"]]


def test_history_does_not_depend_on_the_order_statements_arrive_in(
    app_client: TestClient, web_source: SourceKey, db: Session
) -> None:
    """A repeat is a repeat whichever arrives first: both orders keep one 'granted' at t=0."""
    in_order, reversed_order = uid(), uid()
    for minute in (0, 10):
        send(app_client, web_source, identify_consent(in_order, minute, {"email": True}))
    for minute in (10, 0):
        send(app_client, web_source, identify_consent(reversed_order, minute, {"email": True}))

    def history(device: str) -> list[tuple[str, datetime]]:
        return [(c.status, c.stated_at) for c in statements(db, profile_id(db, device))]

    assert history(in_order) == [("granted", T0)]
    assert history(reversed_order) == history(in_order)


def test_consent_given_anonymously_stays_with_the_person_once_identified(
    app_client: TestClient, web_source: SourceKey, db: Session, api_auth: dict[str, str]
) -> None:
    device, email = uid(), f"{uid('c')}@example.be"
    banner = {
        "type": "page",
        "anonymousId": device,
        "timestamp": at(0),
        "context": {"consent": {"categoryPreferences": {"analytics": True}}},
    }
    send(app_client, web_source, banner)
    later = identify_consent(device, 5, {"email": True})
    later["traits"]["email"] = email
    send(app_client, web_source, later)
    found = app_client.get("/api/profiles", params={"q": email}, headers=api_auth).json()
    [result] = found["results"]
    assert in_force(app_client, api_auth, uuid.UUID(result["id"])) == {
        "tracking": "granted",
        "email": "granted",
    }
