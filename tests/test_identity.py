"""Identity resolution through the collection API: who ends up in which profile, and why.

Covers: placeholder identifiers (never link, warned, quarantined when nothing else is left);
email, phone and userId normalisation; the "done means" scenario (anonymous visitor, email,
second device saving a configuration); merges (everything moves, the merge is recorded, the
absorbed id keeps resolving, trait rules); userId conflicts; weak identifiers; the reused
showroom tablet; alias; unknown events; saved and loaded configurations.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cdp.models import (
    Configuration,
    Consent,
    Event,
    Identity,
    IdentityWarning,
    Profile,
    ProfileMerge,
    ProfileTrait,
    QuarantinedMessage,
)
from tests.helpers import SourceKey

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


# --- small factories -------------------------------------------------------------------------


def uid(prefix: str = "a") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def email_for(name: str = "klant") -> str:
    return f"{name}.{uuid.uuid4().hex[:8]}@example.nl"


def at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def send(client: TestClient, source: SourceKey, endpoint: str, **body: Any) -> dict[str, Any]:
    """Post one call; it must be accepted."""
    body.setdefault("messageId", uid("msg"))
    response = client.post(f"/v1/{endpoint}", json=body, headers=source.auth)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    assert result["success"] is True
    return result


def identify(client: TestClient, source: SourceKey, minute: float, **fields: Any) -> dict[str, Any]:
    """identify with anonymousId/userId/messageId as keywords and everything else as traits."""
    ids = {k: fields.pop(k) for k in ("anonymousId", "userId", "messageId") if k in fields}
    return send(client, source, "identify", timestamp=at(minute), traits=fields, **ids)


def track(
    client: TestClient, source: SourceKey, minute: float, event: str, **fields: Any
) -> dict[str, Any]:
    return send(client, source, "track", event=event, timestamp=at(minute), **fields)


def owner(db: Session, kind: str, value: str) -> uuid.UUID | None:
    """The profile that owns an identifier (identities always point at live profiles)."""
    db.expire_all()
    return db.scalar(
        select(Identity.profile_id).where(Identity.kind == kind, Identity.value == value)
    )


def live(db: Session, profile_id: uuid.UUID) -> uuid.UUID:
    db.expire_all()
    merged_into = db.scalar(select(Profile.merged_into_id).where(Profile.id == profile_id))
    return merged_into or profile_id


def identifiers_of(db: Session, profile_id: uuid.UUID) -> set[tuple[str, str]]:
    db.expire_all()
    rows = db.execute(
        select(Identity.kind, Identity.value).where(Identity.profile_id == profile_id)
    )
    return {(kind, value) for kind, value in rows}


def events_of(db: Session, profile_id: uuid.UUID) -> list[Event]:
    db.expire_all()
    return list(
        db.scalars(select(Event).where(Event.profile_id == profile_id).order_by(Event.occurred_at))
    )


def warnings_for(db: Session, message_id: str) -> list[IdentityWarning]:
    db.expire_all()
    return list(db.scalars(select(IdentityWarning).where(IdentityWarning.message_id == message_id)))


def trait(db: Session, profile_id: uuid.UUID, name: str) -> ProfileTrait | None:
    db.expire_all()
    return db.scalar(
        select(ProfileTrait).where(ProfileTrait.profile_id == profile_id, ProfileTrait.name == name)
    )


def read_profile(client: TestClient, auth: dict[str, str], profile_id: uuid.UUID) -> Any:
    response = client.get(f"/api/profiles/{profile_id}", headers=auth)
    assert response.status_code == 200, response.text
    return response.json()


# --- placeholders ---------------------------------------------------------------------------

PLACEHOLDERS = [
    "",
    "   ",
    "null",
    "NULL",
    "undefined",
    "0",
    "anonymous",
    "Anonymous",
    "[object Object]",
    "NaN",
    "none",
    "None",
    "-1",
    "00000",
    "0-0-0",
    '"null"',
    "'undefined'",
    "guest",
    "true",
    "false",
    "distinct_id",
]


@pytest.mark.parametrize("placeholder", PLACEHOLDERS)
def test_placeholder_user_id_never_links_two_people(
    app_client: TestClient, web_source: SourceKey, db: Session, placeholder: str
) -> None:
    first, second = uid(), uid()
    message_id = uid("msg")
    track(app_client, web_source, 0, "Configuration Started", anonymousId=first, userId=placeholder)
    track(
        app_client,
        web_source,
        1,
        "Configuration Started",
        anonymousId=second,
        userId=placeholder,
        messageId=message_id,
    )

    a, b = owner(db, "anonymous_id", first), owner(db, "anonymous_id", second)
    assert a is not None and b is not None
    assert a != b
    assert ("user_id", placeholder.strip()) not in identifiers_of(db, a) | identifiers_of(db, b)
    [warning] = warnings_for(db, message_id)
    assert warning.kind == "ignored_identifier"
    assert "user_id" in warning.detail
    assert warning.profile_id == b


def test_numeric_zero_user_id_is_a_placeholder(
    app_client: TestClient, web_source: SourceKey, db: Session
) -> None:
    first, second = uid(), uid()
    track(app_client, web_source, 0, "Viewed", anonymousId=first, userId=0)
    track(app_client, web_source, 1, "Viewed", anonymousId=second, userId=0)
    assert owner(db, "anonymous_id", first) != owner(db, "anonymous_id", second)


@pytest.mark.parametrize("placeholder", ["undefined", "null", "email", "[object Object]", " "])
def test_placeholder_email_never_links_two_people(
    app_client: TestClient, web_source: SourceKey, db: Session, placeholder: str
) -> None:
    first, second = uid(), uid()
    message_id = uid("msg")
    identify(app_client, web_source, 0, anonymousId=first, email=placeholder)
    identify(app_client, web_source, 1, anonymousId=second, email=placeholder, messageId=message_id)
    a, b = owner(db, "anonymous_id", first), owner(db, "anonymous_id", second)
    assert a is not None and a != b
    assert trait(db, a, "email") is None
    if placeholder.strip():  # a blank form field is simply no email; a placeholder is warned
        assert [w.kind for w in warnings_for(db, message_id)] == ["ignored_identifier"]


@pytest.mark.parametrize("placeholder", ["0", "undefined", "00000000"])
def test_placeholder_phone_never_links_two_people(
    app_client: TestClient, web_source: SourceKey, db: Session, placeholder: str
) -> None:
    first, second = uid(), uid()
    identify(app_client, web_source, 0, anonymousId=first, phone=placeholder)
    identify(app_client, web_source, 1, anonymousId=second, phone=placeholder)
    assert owner(db, "anonymous_id", first) != owner(db, "anonymous_id", second)


@pytest.mark.parametrize(
    "ids",
    [
        {"anonymousId": "undefined"},
        {"userId": "null", "anonymousId": "anonymous"},
        {"userId": "[object Object]"},
        {"anonymousId": "00000000-0000-0000-0000-000000000000"},
    ],
)
def test_message_whose_only_ids_are_placeholders_is_rejected_and_quarantined(
    app_client: TestClient, web_source: SourceKey, db: Session, ids: dict[str, str]
) -> None:
    response = app_client.post(
        "/v1/track", json={"event": "Configuration Started", **ids}, headers=web_source.auth
    )
    assert response.status_code == 400
    error = response.json()
    assert error["success"] is False
    assert "placeholder" in error["detail"]
    db.expire_all()
    [row] = db.scalars(
        select(QuarantinedMessage).where(QuarantinedMessage.source_id == web_source.id)
    ).all()
    assert "placeholder" in row.reason
    assert row.endpoint == "track"


def test_placeholder_only_message_in_a_batch_is_rejected_with_its_index(
    app_client: TestClient, web_source: SourceKey, db: Session
) -> None:
    good = uid()
    batch = [
        {"type": "page", "anonymousId": good},
        {"type": "page", "anonymousId": "undefined"},
        {"type": "page", "anonymousId": "NaN"},
    ]
    response = app_client.post("/v1/batch", json={"batch": batch}, headers=web_source.auth)
    assert response.status_code == 200
    rejected = response.json()["rejected"]
    assert [r["index"] for r in rejected] == [1, 2]
    assert all("placeholder" in r["reason"] for r in rejected)
    db.expire_all()
    assert db.scalar(select(Identity.id).where(Identity.value.in_(["undefined", "NaN"]))) is None


# --- normalisation --------------------------------------------------------------------------


def test_email_case_and_spaces_do_not_split_a_person(
    app_client: TestClient, web_source: SourceKey, db: Session
) -> None:
    email = email_for("sanne")
    devices = [uid(), uid(), uid()]
    for minute, (device, written) in enumerate(
        zip(devices, [f"  {email.upper()} ", email, f"mailto:{email.title()}"], strict=True)
    ):
        identify(app_client, web_source, minute, anonymousId=device, email=written)

    pid = owner(db, "email", email)
    assert pid is not None
    assert {owner(db, "anonymous_id", d) for d in devices} == {pid}
    stored = trait(db, pid, "email")
    assert stored is not None and stored.value == email


def test_pasted_or_full_width_addresses_are_one_person_and_control_characters_no_address(
    app_client: TestClient, web_source: SourceKey, db: Session
) -> None:
    email = email_for("zoe")
    name, domain = email.split("@")
    plain, pasted, typed_wide, broken = uid(), uid(), uid(), uid()
    identify(app_client, web_source, 0, anonymousId=plain, email=email)
    identify(app_client, web_source, 1, anonymousId=pasted, email=f"\ufeff{name}\u200b@{domain}.")
    wide = "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in email)
    identify(app_client, web_source, 1, anonymousId=typed_wide, email=wide)  # full-width forms
    message_id = uid("msg")
    identify(
        app_client,
        web_source,
        2,
        anonymousId=broken,
        email=f"{name}\x01@{domain}",
        messageId=message_id,
    )
    pid = owner(db, "email", email)
    assert pid is not None
    assert owner(db, "anonymous_id", pasted) == pid  # the same person, as they typed it
    assert owner(db, "anonymous_id", typed_wide) == pid
    assert owner(db, "anonymous_id", broken) != pid  # not an address: no link
    assert [w.kind for w in warnings_for(db, message_id)] == ["ignored_identifier"]


def test_phone_formats_are_one_person_in_e164(
    app_client: TestClient, web_source: SourceKey, db: Session
) -> None:
    number = f"6{uuid.uuid4().int % 10**8:08d}"  # a Dutch mobile number without the leading 0
    e164 = f"+31{number}"
    formats = [
        f"0{number[0]}-{number[1:]}",
        f"+31 {number[0]} {number[1:5]} {number[5:]}",
        f"0031{number}",
        f"(0{number[0]}) {number[1:5]} {number[5:]}",
    ]
    devices = [uid() for _ in formats]
    for minute, (device, written) in enumerate(zip(devices, formats, strict=True)):
        identify(app_client, web_source, minute, anonymousId=device, phone=written)

    pid = owner(db, "phone", e164)
    assert pid is not None
    assert {owner(db, "anonymous_id", d) for d in devices} == {pid}
    stored = trait(db, pid, "phone")
    assert stored is not None and stored.value == e164


def test_invalid_phone_is_ignored_with_a_warning(
    app_client: TestClient, web_source: SourceKey, db: Session
) -> None:
    device, message_id = uid(), uid("msg")
    identify(app_client, web_source, 0, anonymousId=device, phone="call me", messageId=message_id)
    pid = owner(db, "anonymous_id", device)
    assert pid is not None
    assert not any(kind == "phone" for kind, _ in identifiers_of(db, pid))
    assert [w.kind for w in warnings_for(db, message_id)] == ["ignored_identifier"]


def test_user_id_is_trimmed(app_client: TestClient, web_source: SourceKey, db: Session) -> None:
    user = uid("cust")
    first, second = uid(), uid()
    track(app_client, web_source, 0, "Viewed", anonymousId=first, userId=f"  {user}\t")
    track(app_client, web_source, 1, "Viewed", anonymousId=second, userId=user)
    pid = owner(db, "user_id", user)
    assert pid is not None
    assert owner(db, "anonymous_id", first) == owner(db, "anonymous_id", second) == pid


# --- the "done means" scenario --------------------------------------------------------------


def test_anonymous_visitor_then_email_then_second_device_saving_a_configuration_is_one_profile(
    app_client: TestClient, web_source: SourceKey, db: Session, api_auth: dict[str, str]
) -> None:
    laptop, phone_browser = uid(), uid()
    email = email_for("joost")
    code = uid("cfg").upper()
    # Day 1, laptop: browses anonymously, then leaves an email for a brochure.
    send(app_client, web_source, "page", anonymousId=laptop, name="Home", timestamp=at(0))
    track(
        app_client,
        web_source,
        2,
        "Configuration Started",
        anonymousId=laptop,
        properties={"model": "Aurora"},
    )
    identify(app_client, web_source, 5, anonymousId=laptop, email=email, firstName="Joost")
    # Day 3, another device: configures anonymously, saves with the same email.
    track(
        app_client,
        web_source,
        3 * 1440,
        "Configuration Started",
        anonymousId=phone_browser,
        properties={"model": "Aurora"},
    )
    track(
        app_client,
        web_source,
        3 * 1440 + 20,
        "Configuration Saved",
        anonymousId=phone_browser,
        context={"traits": {"email": email.upper()}},
        properties={"configuration_code": code, "model": "Aurora", "colour": "Lava Red"},
    )

    pid = owner(db, "email", email)
    assert pid is not None
    assert identifiers_of(db, pid) == {
        ("email", email),
        ("anonymous_id", laptop),
        ("anonymous_id", phone_browser),
        ("config_code", code),
    }
    assert len(events_of(db, pid)) == 5
    profile = read_profile(app_client, api_auth, pid)
    assert profile["session_count"] == 2
    assert [c["code"] for c in profile["configurations"]] == [code]
    assert profile["traits"]["first_name"] == "Joost"
    found = app_client.get("/api/profiles", params={"q": email}, headers=api_auth).json()
    assert [r["id"] for r in found["results"]] == [str(pid)]


# --- merges ---------------------------------------------------------------------------------


def _anonymous_shopper(
    client: TestClient, source: SourceKey, device: str, code: str, start: float
) -> None:
    send(client, source, "page", anonymousId=device, name="Home", timestamp=at(start))
    track(
        client,
        source,
        start + 1,
        "Option Selected",
        anonymousId=device,
        properties={"category": "colour", "code": "red"},
    )
    track(
        client,
        source,
        start + 2,
        "Configuration Saved",
        anonymousId=device,
        properties={"configuration_code": code, "model": "Borealis", "total_price": "52100"},
    )


def test_link_between_two_profiles_merges_everything_into_the_survivor(
    app_client: TestClient, web_source: SourceKey, db: Session, api_auth: dict[str, str]
) -> None:
    device_a, device_b = uid(), uid()
    email = email_for("fatima")
    code = uid("cfg").upper()
    # Profile A: anonymous, seen first, has events and a saved configuration.
    _anonymous_shopper(app_client, web_source, device_a, code, start=0)
    # Profile B: identified on another device, with traits and consent.
    identify(
        app_client,
        web_source,
        60,
        anonymousId=device_b,
        email=email,
        firstName="Fatima",
        city="Utrecht",
        consent={"email": {"status": "granted", "wording": "Ja"}},
    )
    a, b = owner(db, "anonymous_id", device_a), owner(db, "email", email)
    assert a is not None and b is not None and a != b

    link_id = uid("msg")
    identify(app_client, web_source, 120, anonymousId=device_a, email=email, messageId=link_id)

    survivor = owner(db, "email", email)
    assert survivor == a  # no userId on either: the profile seen first survives
    assert owner(db, "anonymous_id", device_a) == owner(db, "anonymous_id", device_b) == a
    assert identifiers_of(db, b) == set()
    assert identifiers_of(db, a) == {
        ("anonymous_id", device_a),
        ("anonymous_id", device_b),
        ("email", email),
        ("config_code", code),
    }
    assert len(events_of(db, a)) == 5
    assert events_of(db, b) == []
    db.expire_all()
    assert [
        c.profile_id for c in db.scalars(select(Configuration).where(Configuration.code == code))
    ] == [a]
    assert [
        (c.purpose, c.status) for c in db.scalars(select(Consent).where(Consent.profile_id == a))
    ] == [("email", "granted")]
    first_name, city = trait(db, a, "first_name"), trait(db, a, "city")
    assert first_name is not None and first_name.value == "Fatima"
    assert city is not None and city.value == "Utrecht"
    assert trait(db, b, "first_name") is None

    [merge] = db.scalars(select(ProfileMerge).where(ProfileMerge.absorbed_id == b)).all()
    assert merge.survivor_id == a
    assert merge.message_id == link_id
    assert merge.source_id == web_source.id
    # What linked them, both of it: the message gave the e-mail and the other device's id.
    assert email in merge.reason and device_a in merge.reason and "one message" in merge.reason
    assert live(db, b) == a

    # The absorbed id still answers, with the survivor.
    profile = read_profile(app_client, api_auth, b)
    assert profile["id"] == str(a)
    assert str(b) in profile["absorbed_ids"]
    assert [(m["survivor_id"], m["absorbed_id"], m["message_id"]) for m in profile["merges"]] == [
        (str(a), str(b), link_id)
    ]
    assert profile["first_seen_at"].startswith("2026-03-01T09:00:00")
    assert profile["consents"]["email"]["status"] == "granted"
    assert [c["code"] for c in profile["configurations"]] == [code]


def test_profile_with_a_user_id_survives_even_when_seen_later(
    app_client: TestClient, web_source: SourceKey, db: Session
) -> None:
    early, late = uid(), uid()
    user, email = uid("cust"), email_for()
    send(app_client, web_source, "page", anonymousId=early, timestamp=at(0))
    identify(app_client, web_source, 0.5, anonymousId=early, email=email)
    identify(app_client, web_source, 30, anonymousId=late, userId=user)
    with_user = owner(db, "user_id", user)
    # userId ranks above email, so the message goes to the userId's profile; both merge.
    identify(app_client, web_source, 60, userId=user, email=email)
    assert owner(db, "email", email) == owner(db, "anonymous_id", early) == with_user


def test_absorbed_id_resolves_to_the_final_survivor_after_a_chain_of_merges(
    app_client: TestClient, web_source: SourceKey, db: Session, api_auth: dict[str, str]
) -> None:
    x1, x2, x3 = uid(), uid(), uid()
    email = email_for()
    send(app_client, web_source, "page", anonymousId=x1, timestamp=at(0))
    send(app_client, web_source, "page", anonymousId=x2, timestamp=at(10))
    send(app_client, web_source, "page", anonymousId=x3, timestamp=at(20))
    p1, p3 = owner(db, "anonymous_id", x1), owner(db, "anonymous_id", x3)
    identify(app_client, web_source, 30, anonymousId=x2, email=email)  # p2 gets the email
    identify(app_client, web_source, 40, anonymousId=x3, email=email)  # p3 -> p2
    identify(app_client, web_source, 50, anonymousId=x1, email=email)  # p2 -> p1
    assert p1 is not None and p3 is not None
    assert owner(db, "email", email) == p1
    assert live(db, p3) == p1
    assert read_profile(app_client, api_auth, p3)["id"] == str(p1)
    assert len(events_of(db, p1)) == 6


def test_traits_keep_the_latest_value_by_event_time_and_the_first_value_seen(
    app_client: TestClient, web_source: SourceKey, db: Session
) -> None:
    device = uid()
    # Sent out of order: the newest statement arrives first, the oldest last.
    identify(app_client, web_source, 20, anonymousId=device, lastName="Jansen-de Boer")
    identify(app_client, web_source, 10, anonymousId=device, lastName="Jansen")
    identify(app_client, web_source, 0, anonymousId=device, lastName="Janssen")
    pid = owner(db, "anonymous_id", device)
    assert pid is not None
    row = trait(db, pid, "last_name")
    assert row is not None
    assert row.value == "Jansen-de Boer"
    assert row.first_value == "Janssen"
    assert row.value_at == T0 + timedelta(minutes=20)
    assert row.first_at == T0


def test_trait_order_rule_holds_within_one_batch(
    app_client: TestClient, web_source: SourceKey, db: Session
) -> None:
    device = uid()
    batch = [
        {"type": "identify", "anonymousId": device, "timestamp": at(m), "traits": {"city": c}}
        for m, c in [(5, "Delft"), (9, "Gouda"), (1, "Leiden")]
    ]
    response = app_client.post("/v1/batch", json={"batch": batch}, headers=web_source.auth)
    assert response.status_code == 200
    pid = owner(db, "anonymous_id", device)
    assert pid is not None
    row = trait(db, pid, "city")
    assert row is not None
    assert (row.value, row.first_value) == ("Gouda", "Leiden")


def test_merge_keeps_the_later_trait_value_and_the_earlier_first_value(
    app_client: TestClient, web_source: SourceKey, db: Session
) -> None:
    """cdp/identity/repository.py: later value wins (ties go to the survivor), earlier first."""
    old_device, new_device = uid(), uid()
    email = email_for()
    # Survivor (seen first) has an older city; the absorbed profile has a newer one.
    identify(app_client, web_source, 0, anonymousId=old_device, city="Amersfoort", plan="buy")
    identify(app_client, web_source, 50, anonymousId=new_device, email=email, city="Zwolle")
    identify(app_client, web_source, 1, anonymousId=old_device, plan="lease")
    survivor = owner(db, "anonymous_id", old_device)
    identify(app_client, web_source, 100, anonymousId=old_device, email=email)
    assert owner(db, "email", email) == survivor
    assert survivor is not None
    city = trait(db, survivor, "city")
    assert city is not None
    assert (city.value, city.first_value) == ("Zwolle", "Amersfoort")
    plan = trait(db, survivor, "plan")
    assert plan is not None
    assert (plan.value, plan.first_value) == ("lease", "buy")


def test_merge_trait_tie_goes_to_the_survivor(
    app_client: TestClient, web_source: SourceKey, db: Session
) -> None:
    first_device, second_device = uid(), uid()
    email = email_for()
    send(app_client, web_source, "page", anonymousId=first_device, timestamp=at(0))
    identify(app_client, web_source, 10, anonymousId=first_device, interest="suv")
    identify(app_client, web_source, 10, anonymousId=second_device, email=email, interest="estate")
    survivor = owner(db, "anonymous_id", first_device)
    identify(app_client, web_source, 20, anonymousId=first_device, email=email)
    assert survivor is not None and owner(db, "email", email) == survivor
    row = trait(db, survivor, "interest")
    assert row is not None and row.value == "suv"


# --- what must never merge ------------------------------------------------------------------


def test_two_profiles_with_different_user_ids_never_merge(
    app_client: TestClient, web_source: SourceKey, db: Session
) -> None:
    u1, u2 = uid("cust"), uid("cust")
    e1, e2 = email_for("piet"), email_for("anna")
    identify(app_client, web_source, 0, userId=u1, email=e1)
    identify(app_client, web_source, 1, userId=u2, email=e2)
    p1, p2 = owner(db, "user_id", u1), owner(db, "user_id", u2)
    assert p1 is not None and p2 is not None and p1 != p2

    message_id = uid("msg")
    identify(app_client, web_source, 2, userId=u1, email=e2, messageId=message_id)

    assert owner(db, "user_id", u1) == owner(db, "email", e1) == p1
    assert owner(db, "user_id", u2) == owner(db, "email", e2) == p2
    assert live(db, p1) == p1 and live(db, p2) == p2
    [warning] = warnings_for(db, message_id)
    assert warning.kind == "user_id_conflict"
    assert {warning.profile_id, warning.other_profile_id} == {p1, p2}
    db.expire_all()
    assert db.scalar(select(ProfileMerge.id).where(ProfileMerge.absorbed_id.in_([p1, p2]))) is None


@pytest.mark.parametrize("shared", ["email", "phone"])
def test_a_new_account_with_anothers_address_or_phone_gets_its_own_profile(
    app_client: TestClient,
    web_source: SourceKey,
    db: Session,
    api_auth: dict[str, str],
    shared: str,
) -> None:
    """A household: the mother's account holds the family address (or landline); the son signs
    up with his own account and types it too. Left with her profile, his identify would rename
    her and his userId would land nowhere, so his lead would reach nobody."""
    mother, son = uid("cust"), uid("cust")
    address, landline = email_for("familie"), "+31 40 212 3456"
    identify(app_client, web_source, 0, userId=mother, email=address, phone=landline,
             firstName="Carla", lastName="Smit")  # fmt: skip
    hers = owner(db, "user_id", mother)
    assert hers is not None

    message_id = uid("msg")
    his_details: dict[str, Any] = (
        {"email": address} if shared == "email" else {"email": email_for("dirk"), "phone": landline}
    )
    identify(app_client, web_source, 1, userId=son, messageId=message_id,
             firstName="Dirk", lastName="Dekker", **his_details)  # fmt: skip
    track(app_client, web_source, 2, "Quote Requested", userId=son, properties={"model": "Vela"})

    his = owner(db, "user_id", son)
    assert his is not None and his != hers
    assert live(db, hers) == hers and live(db, his) == his
    # Her profile is as it was: her name, her address and landline, her identifiers.
    assert (hers_read := read_profile(app_client, api_auth, hers))["name"] == "Carla Smit"
    assert hers_read["traits"]["email"] == address
    assert owner(db, "email", address) == owner(db, "phone", "+31402123456") == hers
    assert ("user_id", son) not in identifiers_of(db, hers)
    # His: his name, his userId, his quote; the shared identifier is not written as his trait.
    assert (his_read := read_profile(app_client, api_auth, his))["name"] == "Dirk Dekker"
    assert [(e.type, e.name) for e in events_of(db, his)] == [
        ("identify", None),
        ("track", "Quote Requested"),
    ]
    stored = trait(db, his, shared)
    assert stored is None or stored.value != (address if shared == "email" else landline)
    if shared == "phone":
        assert his_read["traits"]["email"] == his_details["email"]
    [warning] = warnings_for(db, message_id)
    assert warning.kind == "user_id_conflict"
    assert (warning.profile_id, warning.other_profile_id) == (his, hers)
    assert address not in warning.detail and landline not in warning.detail


def test_anonymous_id_never_merges_two_identified_profiles(
    app_client: TestClient, web_source: SourceKey, db: Session
) -> None:
    """A shared family laptop: two people, each identified, one browser."""
    laptop, other = uid(), uid()
    e1, e2 = email_for("vader"), email_for("dochter")
    identify(app_client, web_source, 0, anonymousId=laptop, email=e1)
    identify(app_client, web_source, 5, anonymousId=other, email=e2)
    p1, p2 = owner(db, "email", e1), owner(db, "email", e2)

    message_id = uid("msg")
    identify(app_client, web_source, 10, anonymousId=laptop, email=e2, messageId=message_id)

    assert p1 is not None and p2 is not None and p1 != p2
    assert owner(db, "email", e1) == p1 and owner(db, "email", e2) == p2
    assert [w.kind for w in warnings_for(db, message_id)] == ["weak_link_refused"]


def test_configuration_code_never_merges_two_identified_profiles(
    app_client: TestClient, web_source: SourceKey, db: Session
) -> None:
    """A code forwarded to a friend: loading it does not make them one person."""
    saver, friend = uid(), uid()
    e1, e2 = email_for("saver"), email_for("friend")
    code = uid("cfg").upper()
    identify(app_client, web_source, 0, anonymousId=saver, email=e1)
    track(
        app_client,
        web_source,
        1,
        "Configuration Saved",
        anonymousId=saver,
        properties={"configuration_code": code, "model": "Aurora"},
    )
    identify(app_client, web_source, 2, anonymousId=friend, email=e2)

    message_id = uid("msg")
    track(
        app_client,
        web_source,
        3,
        "Configuration Loaded",
        anonymousId=friend,
        messageId=message_id,
        properties={"configuration_code": code.lower()},
    )

    p1, p2 = owner(db, "email", e1), owner(db, "email", e2)
    assert p1 is not None and p2 is not None and p1 != p2
    assert owner(db, "config_code", code) == p1
    assert [e.message_id for e in events_of(db, p2)][-1] == message_id
    assert [w.kind for w in warnings_for(db, message_id)] == ["weak_link_refused"]


def test_configuration_loaded_by_an_anonymous_visitor_links_to_the_saver(
    app_client: TestClient, web_source: SourceKey, db: Session
) -> None:
    saver, loader = uid(), uid()
    email, code = email_for(), uid("cfg").upper()
    identify(app_client, web_source, 0, anonymousId=saver, email=email)
    track(
        app_client,
        web_source,
        1,
        "Configuration Saved",
        anonymousId=saver,
        properties={"configuration_code": code, "model": "Aurora"},
    )
    track(
        app_client,
        web_source,
        60,
        "Configuration Loaded",
        anonymousId=loader,
        properties={"configuration_code": f" {code.lower()} "},
    )
    track(
        app_client,
        web_source,
        61,
        "Option Selected",
        anonymousId=loader,
        properties={"category": "wheels", "code": "20-inch"},
    )
    pid = owner(db, "email", email)
    assert owner(db, "anonymous_id", loader) == pid
    assert pid is not None and len(events_of(db, pid)) == 4


def test_configuration_loaded_on_a_device_with_anonymous_history_merges_it_into_the_saver(
    app_client: TestClient, web_source: SourceKey, db: Session
) -> None:
    saver, loader = uid(), uid()
    email, code = email_for(), uid("cfg").upper()
    send(app_client, web_source, "page", anonymousId=loader, timestamp=at(0))
    identify(app_client, web_source, 5, anonymousId=saver, email=email)
    track(
        app_client,
        web_source,
        6,
        "Configuration Saved",
        anonymousId=saver,
        properties={"configuration_code": code},
    )
    track(
        app_client,
        web_source,
        60,
        "Configuration Loaded",
        anonymousId=loader,
        properties={"configuration_code": code},
    )
    pid = owner(db, "email", email)
    assert pid is not None
    assert owner(db, "anonymous_id", loader) == pid
    assert len(events_of(db, pid)) == 4


# --- the showroom tablet --------------------------------------------------------------------


def test_reused_showroom_tablet_id_does_not_merge_two_customers(
    app_client: TestClient, showroom_source: SourceKey, db: Session
) -> None:
    tablet = uid("tablet")
    first, second = email_for("eerste"), email_for("tweede")
    identify(app_client, showroom_source, 0, anonymousId=tablet, email=first, firstName="Eva")
    track(
        app_client,
        showroom_source,
        10,
        "Option Selected",
        anonymousId=tablet,
        properties={"category": "colour"},
    )

    message_id = uid("msg")
    identify(
        app_client,
        showroom_source,
        120,
        anonymousId=tablet,
        email=second,
        firstName="Bram",
        messageId=message_id,
    )

    p1, p2 = owner(db, "email", first), owner(db, "email", second)
    assert p1 is not None and p2 is not None and p1 != p2
    assert ("email", second) not in identifiers_of(db, p1)
    first_name = trait(db, p1, "first_name")
    assert first_name is not None and first_name.value == "Eva"
    [warning] = warnings_for(db, message_id)
    assert warning.kind == "showroom_id_reused"
    assert warning.other_profile_id == p1
    assert [e.message_id for e in events_of(db, p2)] == [message_id]


def test_fresh_showroom_session_per_customer_works_normally(
    app_client: TestClient, showroom_source: SourceKey, db: Session
) -> None:
    sessions = [uid("tablet"), uid("tablet")]
    emails = [email_for("eerste"), email_for("tweede")]
    for minute, (session, email) in enumerate(zip(sessions, emails, strict=True)):
        identify(app_client, showroom_source, minute * 60, anonymousId=session, email=email)
        track(
            app_client,
            showroom_source,
            minute * 60 + 5,
            "Option Selected",
            anonymousId=session,
            properties={"category": "engine"},
        )
    profiles = [owner(db, "email", e) for e in emails]
    assert profiles[0] != profiles[1]
    for session, pid in zip(sessions, profiles, strict=True):
        assert owner(db, "anonymous_id", session) == pid
        assert pid is not None
        assert [e.channel for e in events_of(db, pid)] == ["showroom", "showroom"]
    db.expire_all()
    assert (
        db.scalar(
            select(IdentityWarning.id).where(
                IdentityWarning.source_id == showroom_source.id,
                IdentityWarning.kind == "showroom_id_reused",
            )
        )
        is None
    )


def test_same_customer_returning_to_the_tablet_session_stays_one_profile(
    app_client: TestClient, showroom_source: SourceKey, db: Session
) -> None:
    tablet, email = uid("tablet"), email_for()
    identify(app_client, showroom_source, 0, anonymousId=tablet, email=email)
    identify(
        app_client, showroom_source, 5, anonymousId=tablet, email=email.upper(), phone="0612345678"
    )
    pid = owner(db, "email", email)
    assert pid is not None and owner(db, "phone", "+31612345678") == pid


# --- alias, unknown events, configurations --------------------------------------------------


def test_alias_links_the_previous_anonymous_id_to_the_user_id(
    app_client: TestClient, web_source: SourceKey, db: Session
) -> None:
    device, user, email = uid(), uid("cust"), email_for()
    send(app_client, web_source, "page", anonymousId=device, timestamp=at(0))
    send(app_client, web_source, "alias", previousId=device, userId=user, timestamp=at(1))
    identify(app_client, web_source, 2, userId=user, email=email)
    pid = owner(db, "anonymous_id", device)
    assert pid is not None
    assert owner(db, "user_id", user) == owner(db, "email", email) == pid
    assert [e.type for e in events_of(db, pid)] == ["page", "alias", "identify"]


def test_alias_from_an_earlier_user_id_links_to_that_users_profile(
    app_client: TestClient, web_source: SourceKey, db: Session
) -> None:
    """Segment: previousId is "an Anonymous ID ... or a User ID you previously identified"."""
    old_user, new_user, email = uid("old"), uid("new"), email_for()
    identify(app_client, web_source, 0, userId=old_user, email=email)
    send(app_client, web_source, "alias", previousId=old_user, userId=new_user, timestamp=at(1))
    track(app_client, web_source, 2, "Configuration Started", userId=new_user)
    pid = owner(db, "user_id", old_user)
    assert pid is not None
    assert len(events_of(db, pid)) == 3


def test_unknown_event_names_are_stored_and_shown_in_the_timeline(
    app_client: TestClient, web_source: SourceKey, db: Session, api_auth: dict[str, str]
) -> None:
    device = uid()
    names = ["Brochure Downloaded", "Winter Tyres Quiz Finished ✓", "x"]
    for minute, name in enumerate(names):
        track(app_client, web_source, minute, name, anonymousId=device, properties={"n": minute})
    pid = owner(db, "anonymous_id", device)
    assert pid is not None
    timeline = read_profile(app_client, api_auth, pid)["timeline"]
    assert [(e["name"], e["properties"]["n"]) for e in timeline] == [
        (name, n) for n, name in reversed(list(enumerate(names)))
    ]


SAVED = {
    "configuration_code": "placeholder",
    "model": "Aurora",
    "trim": "GT Line",
    "engine": "2.0 Hybrid 184 pk",
    "colour": "Lava Red",
    "colour_hex": "#B22222",
    "wheels": "19-inch Aero",
    "interior": "Cognac leather",
    "options": [{"code": "PANO", "label": "Panoramic roof", "price": 1250}, "TOWBAR"],
    "total_price": 45990.5,
    "currency": "eur",
    "url": "https://configurator.example.com/c/placeholder",
}


@pytest.mark.parametrize("channel", ["web", "showroom"])
def test_saved_configuration_is_a_first_class_record_with_every_choice(
    app_client: TestClient,
    web_source: SourceKey,
    showroom_source: SourceKey,
    db: Session,
    channel: str,
) -> None:
    source = web_source if channel == "web" else showroom_source
    device, code = uid(), uid("aur").lower()
    message_id = uid("msg")
    properties = {**SAVED, "configuration_code": code}
    track(
        app_client,
        source,
        42,
        "Configuration Saved",
        anonymousId=device,
        messageId=message_id,
        properties=properties,
    )

    pid = owner(db, "anonymous_id", device)
    db.expire_all()
    [saved] = db.scalars(select(Configuration).where(Configuration.profile_id == pid)).all()
    [event] = events_of(db, saved.profile_id)
    assert saved.event_id == event.id and event.message_id == message_id
    assert saved.code == code.upper()
    assert saved.channel == channel
    assert saved.source_id == source.id
    assert saved.saved_at == T0 + timedelta(minutes=42)
    assert (saved.model, saved.trim, saved.engine) == ("Aurora", "GT Line", "2.0 Hybrid 184 pk")
    assert (saved.colour, saved.colour_hex) == ("Lava Red", "#B22222")
    assert (saved.wheels, saved.interior) == ("19-inch Aero", "Cognac leather")
    assert saved.options == SAVED["options"]
    assert saved.total_price == Decimal("45990.50")
    assert saved.currency == "EUR"
    assert saved.url == SAVED["url"]
    assert owner(db, "config_code", code.upper()) == pid


def test_configuration_saved_without_a_code_is_stored_as_an_event_only(
    app_client: TestClient, web_source: SourceKey, db: Session
) -> None:
    device = uid()
    track(
        app_client,
        web_source,
        0,
        "Configuration Saved",
        anonymousId=device,
        properties={"model": "Aurora"},
    )
    pid = owner(db, "anonymous_id", device)
    assert pid is not None and len(events_of(db, pid)) == 1
    db.expire_all()
    assert db.scalar(select(Configuration.id).where(Configuration.profile_id == pid)) is None
