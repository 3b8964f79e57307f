"""A shared home computer, identity limits, and consent bound to the address it was given for,
through the collection API and the marketer's CSV download (docs/identity.md, docs/export.md).

Covers: a second person identifying on a browser whose profile names someone else gets a new
profile (recorded), the browser's anonymousId follows whoever identified last, the first
person's e-mail trait stays; limits per identifier kind (defaults and settings), for new
identifiers and for merges; an export writes only an address with its own grant, whatever else
the profile holds; Segment's categoryPreferences through the configurable category table.
Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from cdp.app import create_app
from cdp.config import Settings, SettingsError, get_settings
from cdp.models import Consent, Event, Identity, IdentityWarning, ProfileTrait
from tests.helpers import SourceKey, StaffClient, make_run

T0 = datetime(2026, 5, 4, 19, 0, tzinfo=UTC)


def uid(prefix: str = "a") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def email_for(name: str) -> str:
    return f"{name}.{uuid.uuid4().hex[:8]}@example.nl"


def at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def send(client: TestClient, source: SourceKey, endpoint: str, **body: Any) -> str:
    """Post one call, which must be accepted; its messageId."""
    body.setdefault("messageId", uid("msg"))
    response = client.post(f"/v1/{endpoint}", json=body, headers=source.auth)
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 1
    return str(body["messageId"])


def identify(
    client: TestClient,
    source: SourceKey,
    minute: float,
    *,
    context: dict[str, Any] | None = None,
    **fields: Any,
) -> str:
    ids = {k: fields.pop(k) for k in ("anonymousId", "userId") if k in fields}
    extra = {"context": context} if context else {}
    return send(client, source, "identify", timestamp=at(minute), traits=fields, **ids, **extra)


def owner(db: Session, kind: str, value: str) -> uuid.UUID | None:
    db.expire_all()
    return db.scalar(
        select(Identity.profile_id).where(Identity.kind == kind, Identity.value == value)
    )


def owned(db: Session, kind: str, value: str) -> uuid.UUID:
    pid = owner(db, kind, value)
    assert pid is not None, f"{kind} {value} belongs to nobody"
    return pid


def trait(db: Session, pid: uuid.UUID, name: str) -> Any:
    db.expire_all()
    return db.scalar(
        select(ProfileTrait.value).where(ProfileTrait.profile_id == pid, ProfileTrait.name == name)
    )


def warnings_for(db: Session, message_id: str) -> list[IdentityWarning]:
    db.expire_all()
    return list(db.scalars(select(IdentityWarning).where(IdentityWarning.message_id == message_id)))


def profile_of_event(db: Session, message_id: str) -> uuid.UUID:
    db.expire_all()
    pid = db.scalar(select(Event.profile_id).where(Event.message_id == message_id))
    assert pid is not None
    return pid


def read_profile(client: TestClient, auth: dict[str, str], pid: uuid.UUID) -> Any:
    response = client.get(f"/api/profiles/{pid}", headers=auth)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture()
def marketer(app_client: TestClient, staff_client: Callable[[str], StaffClient]) -> StaffClient:
    return staff_client("marketing")


def downloaded(
    marketer: StaffClient, factory: sessionmaker[Session], members: list[uuid.UUID]
) -> list[dict[str, str]]:
    """The rows of the marketer's CSV download of a segment holding exactly these profiles."""
    run = make_run(factory, [members])
    response = marketer.client.get(f"/segments/{run.segments[0]}/export.csv")
    assert response.status_code == 200, response.text
    return list(csv.DictReader(io.StringIO(response.text)))


# --- the shared home computer -------------------------------------------------------------------
def test_a_second_person_on_a_shared_computer_gets_a_profile_of_their_own_and_no_mail(
    app_client: TestClient,
    web_source: SourceKey,
    db: Session,
    marketer: StaffClient,
    session_factory: sessionmaker[Session],
) -> None:
    """The defect: Bram's address joined Anna's profile, became its e-mail, and the export sent
    to Bram under Anna's consent."""
    laptop, anna, bram = uid("laptop"), email_for("anna"), email_for("bram")
    identify(
        app_client, web_source, 0, anonymousId=laptop, email=anna, firstName="Anna",
        consent={"email": True},
    )  # fmt: skip
    message_id = identify(
        app_client, web_source, 60, anonymousId=laptop, email=bram, firstName="Bram"
    )

    p_anna, p_bram = owned(db, "email", anna), owned(db, "email", bram)
    assert p_anna != p_bram
    assert profile_of_event(db, message_id) == p_bram
    # Anna's profile is untouched: her e-mail and name stay hers.
    assert trait(db, p_anna, "email") == anna
    assert trait(db, p_anna, "first_name") == "Anna"
    assert trait(db, p_bram, "email") == bram
    [warning] = warnings_for(db, message_id)
    assert warning.kind == "shared_device"
    assert (warning.profile_id, warning.other_profile_id) == (p_bram, p_anna)
    assert anna not in warning.detail  # shown on Bram's profile: never Anna's address
    # The browser now belongs to the person identified on it last.
    assert owner(db, "anonymous_id", laptop) == p_bram
    browsing = send(
        app_client, web_source, "track", anonymousId=laptop, event="Model Viewed", timestamp=at(61)
    )
    assert profile_of_event(db, browsing) == p_bram

    rows = downloaded(marketer, session_factory, [p_anna, p_bram])
    assert [(row["email"], row["first_name"]) for row in rows] == [(anna, "Anna")]


def test_the_anonymous_id_follows_whoever_identified_last_on_the_browser(
    app_client: TestClient, web_source: SourceKey, db: Session
) -> None:
    laptop, anna, bram = uid("laptop"), email_for("anna"), email_for("bram")
    identify(app_client, web_source, 0, anonymousId=laptop, email=anna)
    identify(app_client, web_source, 10, anonymousId=laptop, email=bram)
    p_anna, p_bram = owned(db, "email", anna), owned(db, "email", bram)

    back = identify(app_client, web_source, 20, anonymousId=laptop, email=anna)
    assert profile_of_event(db, back) == p_anna
    assert [w.kind for w in warnings_for(db, back)] == ["weak_link_refused"]
    assert owner(db, "anonymous_id", laptop) == p_anna
    browsing = send(
        app_client, web_source, "page", anonymousId=laptop, name="Home", timestamp=at(21)
    )
    assert profile_of_event(db, browsing) == p_anna
    assert owner(db, "email", bram) == p_bram


def test_a_second_account_signed_in_on_the_browser_is_a_new_profile(
    app_client: TestClient, web_source: SourceKey, db: Session
) -> None:
    laptop, first, second = uid("laptop"), uid("cust"), uid("cust")
    identify(app_client, web_source, 0, anonymousId=laptop, userId=first)
    message_id = identify(app_client, web_source, 5, anonymousId=laptop, userId=second)
    p1, p2 = owned(db, "user_id", first), owned(db, "user_id", second)
    assert p1 != p2 and profile_of_event(db, message_id) == p2
    assert [w.kind for w in warnings_for(db, message_id)] == ["shared_device"]


def test_the_shared_computer_rule_handles_both_people_in_one_batch(
    app_client: TestClient, web_source: SourceKey, db: Session
) -> None:
    laptop, anna, bram = uid("laptop"), email_for("anna"), email_for("bram")
    batch = [
        {"type": "identify", "anonymousId": laptop, "traits": {"email": anna}, "timestamp": at(0)},
        {"type": "identify", "anonymousId": laptop, "traits": {"email": bram}, "timestamp": at(1)},
        {"type": "track", "anonymousId": laptop, "event": "Model Viewed", "timestamp": at(2)},
    ]
    for message in batch:
        message["messageId"] = uid("msg")
    response = app_client.post("/v1/batch", json={"batch": batch}, headers=web_source.auth)
    assert response.status_code == 200, response.text
    p_anna, p_bram = owned(db, "email", anna), owned(db, "email", bram)
    assert p_anna != p_bram
    assert owner(db, "anonymous_id", laptop) == p_bram
    assert profile_of_event(db, batch[2]["messageId"]) == p_bram
    [warning] = warnings_for(db, batch[1]["messageId"])
    assert (warning.profile_id, warning.other_profile_id) == (p_bram, p_anna)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ({}, {"email": "new"}),  # an anonymous visitor identifying for the first time
        ({"email": "own"}, {"userId": "new"}),  # signing up for an account after a newsletter
        ({"email": "own"}, {"email": "own", "phone": "0612345678"}),  # the same person again
        ({"phone": "0612345678"}, {"email": "new"}),  # a phone number names no one for this rule
    ],
)
def test_the_same_person_on_their_own_browser_stays_one_profile(
    app_client: TestClient,
    web_source: SourceKey,
    db: Session,
    first: dict[str, str],
    second: dict[str, str],
) -> None:
    laptop, own = uid("laptop"), email_for("own")
    values = {"own": own, "new": email_for("new")}

    def fields(given: dict[str, str]) -> dict[str, str]:
        """ "own" is the person's address, "new" a value nobody has yet."""
        out = {}
        for kind, value in given.items():
            if kind == "email":
                value = values[value]
            elif value == "new":
                value = uid("cust")
            out[kind] = value
        return out

    send(app_client, web_source, "page", anonymousId=laptop, name="Home", timestamp=at(0))
    identify(app_client, web_source, 1, anonymousId=laptop, **fields(first))
    message_id = identify(app_client, web_source, 2, anonymousId=laptop, **fields(second))
    assert profile_of_event(db, message_id) == owned(db, "anonymous_id", laptop)
    assert [w.kind for w in warnings_for(db, message_id)] == []


# --- identity limits ----------------------------------------------------------------------------
def test_a_fourth_email_address_is_not_added_to_a_profile(
    app_client: TestClient, web_source: SourceKey, db: Session
) -> None:
    user = uid("cust")
    addresses = [email_for(f"adres{n}") for n in range(4)]
    for minute, address in enumerate(addresses[:3]):
        identify(app_client, web_source, minute, userId=user, email=address)
    pid = owned(db, "user_id", user)
    assert all(owner(db, "email", address) == pid for address in addresses[:3])

    message_id = identify(app_client, web_source, 10, userId=user, email=addresses[3])
    assert profile_of_event(db, message_id) == pid
    assert owner(db, "email", addresses[3]) is None
    [warning] = warnings_for(db, message_id)
    assert warning.kind == "identity_limit" and warning.profile_id == pid
    assert "3 e-mail addresses" in warning.detail
    # Never silently overwritten: the refused address is not the profile's e-mail either.
    assert trait(db, pid, "email") == addresses[2]


@pytest.fixture()
def limited_client(
    engine: Engine, session_factory: sessionmaker[Session], migrated_url: str
) -> Iterator[TestClient]:
    """The app with an operator's own limits: one e-mail address and one phone number."""
    settings = Settings(database_url=migrated_url, identity_limits={"email": 1, "phone": 1})
    assert settings.identity_limits == {"user_id": 1, "email": 1, "phone": 1}
    app = create_app(settings, engine=engine, session_factory=session_factory)
    with TestClient(app) as client:
        yield client


def test_limits_come_from_the_settings_and_hold_for_merges_too(
    limited_client: TestClient, web_source: SourceKey, db: Session
) -> None:
    user, first, second = uid("cust"), email_for("een"), email_for("twee")
    identify(limited_client, web_source, 0, userId=user, email=first)
    refused = identify(limited_client, web_source, 1, userId=user, email=second)
    pid = owned(db, "user_id", user)
    assert owner(db, "email", second) is None
    assert [w.kind for w in warnings_for(db, refused)] == ["identity_limit"]

    # A merge that would give one profile two addresses is refused as well.
    other = email_for("ander")
    identify(limited_client, web_source, 2, anonymousId=uid(), email=other, phone="+31612345678")
    linking = identify(limited_client, web_source, 3, userId=user, phone="+31612345678")
    assert owned(db, "email", other) != pid
    [warning] = warnings_for(db, linking)
    assert warning.kind == "identity_limit" and "not merged" in warning.detail


def test_a_limit_setting_that_cannot_be_used_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    for value, problem in [
        ('{"emails": 2}', "'emails' has no limit"),
        ('{"email": 0}', "at least 1"),
    ]:
        monkeypatch.setenv("CDP_IDENTITY_LIMITS", value)
        get_settings.cache_clear()
        with pytest.raises(SettingsError, match=f"CDP_IDENTITY_LIMITS: .*{problem}"):
            get_settings()
    monkeypatch.delenv("CDP_IDENTITY_LIMITS")
    monkeypatch.setenv("CDP_CONSENT_CATEGORIES", '{"C0004": "marketing"}')
    get_settings.cache_clear()
    with pytest.raises(SettingsError, match=r"CDP_CONSENT_CATEGORIES: .*'marketing'"):
        get_settings()
    get_settings.cache_clear()


# --- consent belongs to the address it was given for --------------------------------------------
def test_an_export_writes_only_the_address_consent_was_given_for(
    app_client: TestClient,
    api_auth: dict[str, str],
    web_source: SourceKey,
    db: Session,
    marketer: StaffClient,
    session_factory: sessionmaker[Session],
) -> None:
    """One signed-in customer, two addresses: consent for the work address covers only it."""
    user, work, private = uid("cust"), email_for("werk"), email_for("prive")
    identify(app_client, web_source, 0, userId=user, email=work, consent={"email": True})
    identify(app_client, web_source, 5, userId=user, email=private, firstName="Sanne")
    pid = owned(db, "user_id", user)
    assert trait(db, pid, "email") == private  # the address seen last
    db.expire_all()
    assert [
        (c.status, c.address) for c in db.scalars(select(Consent).where(Consent.profile_id == pid))
    ] == [("granted", work)]

    assert [row["email"] for row in downloaded(marketer, session_factory, [pid])] == [work]
    history = read_profile(app_client, api_auth, pid)["consent_history"]
    assert [(c["status"], c["address"]) for c in history] == [("granted", work)]

    # Consent given for the private address too: the one granted last is written, once.
    identify(app_client, web_source, 10, userId=user, email=private, consent={"email": True})
    assert [row["email"] for row in downloaded(marketer, session_factory, [pid])] == [private]

    # A withdrawal for one address leaves the other; one that names no address covers all.
    identify(app_client, web_source, 15, userId=user, email=private, consent={"email": False})
    assert [row["email"] for row in downloaded(marketer, session_factory, [pid])] == [work]
    identify(app_client, web_source, 20, userId=user, consent={"email": False})
    assert downloaded(marketer, session_factory, [pid]) == []


def test_a_grant_without_an_address_lets_no_address_be_emailed(
    app_client: TestClient,
    web_source: SourceKey,
    db: Session,
    marketer: StaffClient,
    session_factory: sessionmaker[Session],
) -> None:
    laptop, address = uid("laptop"), email_for("klant")
    identify(app_client, web_source, 0, anonymousId=laptop, email=address)
    send(
        app_client, web_source, "page", anonymousId=laptop, name="Home", timestamp=at(1),
        context={"consent": {"categoryPreferences": {"email": True}}},
    )  # fmt: skip
    pid = owned(db, "email", address)
    assert downloaded(marketer, session_factory, [pid]) == []
    # The consent wrapper sends the preferences with the identify that carries the address.
    identify(
        app_client, web_source, 2, anonymousId=laptop, email=address,
        context={"consent": {"categoryPreferences": {"email": True}}},
    )  # fmt: skip
    assert [row["email"] for row in downloaded(marketer, session_factory, [pid])] == [address]


# --- Segment's consent categories ---------------------------------------------------------------
@pytest.fixture()
def onetrust_client(
    engine: Engine, session_factory: sessionmaker[Session], migrated_url: str
) -> Iterator[TestClient]:
    """A site whose consent tool names categories by OneTrust's ids."""
    settings = Settings(
        database_url=migrated_url,
        consent_categories={"C0002": "tracking", "C0004": "email", "sms-updates": "phone"},
    )
    app = create_app(settings, engine=engine, session_factory=session_factory)
    with TestClient(app) as client:
        yield client


def test_category_preferences_are_read_through_the_configured_table(
    onetrust_client: TestClient, web_source: SourceKey, db: Session
) -> None:
    laptop, address = uid("laptop"), email_for("klant")
    message_id = identify(
        onetrust_client, web_source, 0, anonymousId=laptop, email=address,
        phone="06 12345678",
        context={
            "consent": {
                "categoryPreferences": {
                    "C0002": False,
                    "c0004": True,
                    "SMS-updates": True,
                    "analytics": True,  # in the default table, not in this site's
                }
            }
        },
    )  # fmt: skip
    pid = owned(db, "email", address)
    db.expire_all()
    rows = {
        c.purpose: (c.status, c.address, c.message_id)
        for c in db.scalars(select(Consent).where(Consent.profile_id == pid))
    }
    assert rows == {
        "tracking": ("withdrawn", None, message_id),
        "email": ("granted", address, message_id),
        "phone": ("granted", "+31612345678", message_id),
    }
