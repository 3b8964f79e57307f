"""A person's rights over their data, through the API and the command line, on both databases.

Covers: the full copy of a person's data (GDPR art. 15) holds what they did on two devices
merged into one profile; erasure (art. 17) deletes every row about them, absorbed profiles
included, keeps a record without personal data, leaves other customers untouched, and is shown
for old links; refused messages in the quarantine that carry the person's identifiers are part
of both, and nobody else's are; only a token whose role has the privacy permission may do
either; the CLI asks before it erases and reports bad input in one line.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import inspect, select, text
from sqlalchemy.orm import Session, sessionmaker

from cdp.app import create_app
from cdp.config import Settings
from cdp.db import make_engine, make_sessionmaker
from cdp.migrate import upgrade
from cdp.models import AuditRecord
from tests.helpers import (
    SourceKey,
    StaffClient,
    drop_database,
    fresh_database_url,
    make_source,
    make_token,
    run_cdp,
)

NOW = datetime.now(UTC).replace(microsecond=0)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Customer:
    profile_id: uuid.UUID
    email: str
    code: str
    devices: tuple[str, str]


def make_customer(
    client: TestClient, source: SourceKey, first_name: str, last_name: str = "Privacy"
) -> Customer:
    """Browses on a laptop, leaves their details, saves a car, asks for a test drive; later
    signs in on a phone: two profiles merged into one."""
    laptop, phone = (f"{first_name}-{uuid.uuid4().hex[:8]}" for _ in range(2))
    email = f"{first_name.lower()}.{uuid.uuid4().hex[:6]}@example.test"
    code = f"NW-{uuid.uuid4().hex[:6].upper()}"
    phone_number = f"+31 6 {uuid.uuid4().int % 10**8:08d}"  # a phone of their own: no merge
    at = NOW - timedelta(days=2)

    def msg(kind: str, anonymous_id: str, minute: int, **fields: Any) -> dict[str, Any]:
        return {
            "type": kind,
            "anonymousId": anonymous_id,
            "messageId": uuid.uuid4().hex,
            "timestamp": iso(at + timedelta(minutes=minute)),
            **fields,
        }

    batch = [
        msg("track", laptop, 0, event="Configuration Started", properties={"model": "Aurora"}),
        msg("identify", laptop, 1, traits={"email": email, "first_name": first_name,
            "last_name": last_name, "phone": phone_number},
            context={"consent": {"categoryPreferences": {"email": True}}}),
        msg("track", laptop, 2, event="Configuration Saved", properties={
            "configuration_code": code, "model": "Aurora", "colour": "Lava Red"}),
        msg("track", laptop, 3, event="Test Drive Requested", properties={
            "model": "Aurora", "preferred_date": (NOW + timedelta(days=3)).date().isoformat()}),
    ]  # fmt: skip
    # The phone is a stranger until it identifies: then its profile merges into the laptop's.
    for messages in (
        batch,
        [msg("page", phone, 60, name="Configurator")],
        [msg("identify", phone, 61, traits={"email": email})],
    ):
        response = client.post("/v1/batch", json={"batch": messages}, headers=source.auth)
        assert response.status_code == 200 and response.json()["accepted"] == len(messages)
    api = make_token_headers(client)
    found = client.get("/api/profiles", params={"q": email}, headers=api).json()["results"]
    assert len(found) == 1
    return Customer(uuid.UUID(found[0]["id"]), email, code, (laptop, phone))


def make_token_headers(client: TestClient) -> dict[str, str]:
    factory: sessionmaker[Session] = client.app.state.sessionmaker  # type: ignore[attr-defined]
    return make_token(factory, role="sales")


def rows_about(db: Session, ids: list[str], anonymous_ids: tuple[str, ...]) -> dict[str, int]:
    """Rows of every table with a profile column pointing at these ids, and events by device."""
    counts: dict[str, int] = {}
    placeholders = ", ".join(f":p{n}" for n in range(len(ids)))
    params = {f"p{n}": value for n, value in enumerate(ids)}
    conn = db.connection()  # the test's own transaction (see tests/conftest.py)
    inspector = inspect(conn)
    for table in inspector.get_table_names():
        columns = {c["name"] for c in inspector.get_columns(table)}
        for column in sorted(
            columns & {"profile_id", "other_profile_id", "survivor_id", "absorbed_id", "id"}
        ):
            if column == "id" and table != "profile":
                continue
            if table == "erasure":
                continue  # the record of the erasure itself
            sql = f"SELECT COUNT(*) FROM {table} WHERE CAST({column} AS TEXT) IN ({placeholders})"
            if conn.dialect.name == "sqlite":  # UUIDs are stored as 32 hex characters
                sql = f"SELECT COUNT(*) FROM {table} WHERE {column} IN ({placeholders})"
                found = conn.execute(text(sql), {k: v.replace("-", "") for k, v in params.items()})
            else:
                found = conn.execute(text(sql), params)
            counts[f"{table}.{column}"] = found.scalar_one()
    devices = conn.execute(
        text("SELECT COUNT(*) FROM event WHERE anonymous_id IN (:a, :b)"),
        {"a": anonymous_ids[0], "b": anonymous_ids[1]},
    ).scalar_one()
    counts["event.anonymous_id"] = devices
    return counts


@pytest.fixture()
def admin_api(session_factory: sessionmaker[Session]) -> dict[str, str]:
    return make_token(session_factory, role="admin")


def test_a_copy_of_everything_about_the_person(
    app_client: TestClient, web_source: SourceKey, admin_api: dict[str, str]
) -> None:
    anna = make_customer(app_client, web_source, "Anna")
    response = app_client.get(f"/api/profiles/{anna.profile_id}/data", headers=admin_api)
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["profile_id"] == str(anna.profile_id)
    assert len(data["merged_profile_ids"]) == 1  # the phone's profile
    identifiers = {(i["kind"], i["value"]) for i in data["identifiers"]}
    assert ("email", anna.email) in identifiers
    assert any(kind == "phone" for kind, _ in identifiers)
    assert {("anonymous_id", device) for device in anna.devices} <= identifiers
    assert len(data["events"]) == 6
    assert [c["code"] for c in data["saved_configurations"]] == [anna.code]
    assert [s["purpose"] for s in data["consent_statements"]] == ["email"]
    assert data["traits"] and {t["name"] for t in data["traits"]} >= {"email", "first_name"}
    assert len(data["appointments"]) == 1 and len(data["leads"]) == 1
    assert data["viewed_by"] == []  # this copy is recorded as a view from now on
    again = app_client.get(f"/api/profiles/{anna.profile_id}/data", headers=admin_api).json()
    assert [v["via"] for v in again["viewed_by"]] == ["api"]


def test_erasure_deletes_every_row_about_the_person_and_nothing_else(
    app_client: TestClient,
    web_source: SourceKey,
    admin_api: dict[str, str],
    db: Session,
    staff_client: Callable[[str], StaffClient],
) -> None:
    rare = "Zw" + "".join(chr(ord("a") + int(c, 16)) for c in uuid.uuid4().hex[:8])
    bert = make_customer(app_client, web_source, "Bert", last_name=rare)
    carla = make_customer(app_client, web_source, "Carla")  # must stay exactly as she is
    sales = staff_client("sales")
    assert sales.client.get(f"/showroom/customers/{bert.profile_id}").status_code == 200
    data = app_client.get(f"/api/profiles/{bert.profile_id}/data", headers=admin_api).json()
    ids = [data["profile_id"], *data["merged_profile_ids"]]
    carla_ids = [str(carla.profile_id)]
    before = rows_about(db, ids, bert.devices)
    carla_before = rows_about(db, carla_ids, carla.devices)
    assert before["event.profile_id"] == 6 and before["profile.id"] == 2
    on_postgresql = db.get_bind().dialect.name == "postgresql"
    words = text("SELECT COUNT(*) FROM name_word WHERE word = :w")  # the dictionary (0004)
    if on_postgresql:
        assert db.execute(words, {"w": rare.lower()}).scalar_one() == 1
    assert before["profile_view.profile_id"] >= 2  # the page view and the data copy

    response = app_client.post(  # an absorbed id erases the whole person too
        f"/api/profiles/{data['merged_profile_ids'][0]}/erasure",
        json={"reason": "request by e-mail of 2026-11-20"},
        headers=admin_api,
    )
    assert response.status_code == 200, response.text
    erased = response.json()
    assert erased["profile_id"] == str(bert.profile_id)
    assert erased["deleted"]["events"] == 6 and erased["deleted"]["profiles"] == 2

    if on_postgresql:
        assert db.execute(words, {"w": rare.lower()}).scalar_one() == 0
    after = rows_about(db, ids, bert.devices)
    # The audit trail keeps who viewed, copied and erased them, by profile id alone
    # (tests/test_audit.py checks it holds nothing else about them).
    assert after.pop("audit_record.profile_id") == 3
    assert {name: n for name, n in after.items() if n} == {}
    assert rows_about(db, carla_ids, carla.devices) == carla_before

    api = make_token_headers(app_client)
    gone = app_client.get(f"/api/profiles/{bert.profile_id}", headers=api)
    assert gone.status_code == 404 and "erased" in gone.json()["detail"]
    found = app_client.get("/api/profiles", params={"q": bert.email}, headers=api).json()
    assert found["results"] == []
    assert (
        app_client.get("/api/profiles", params={"q": bert.code}, headers=api).json()["results"]
        == []
    )
    page = sales.client.get(f"/showroom/customers/{bert.profile_id}")
    assert page.status_code == 404 and "erased on" in page.text

    # They come back later and agree again: a new, empty profile, nothing of the old one
    # (without a consent grant the message is dropped: tests/test_suppression.py).
    later = {"userId": None, "anonymousId": bert.devices[0], "traits": {"email": bert.email},
             "context": {"consent": {"categoryPreferences": {"email": True}}},
             "messageId": uuid.uuid4().hex}  # fmt: skip
    assert app_client.post("/v1/identify", json=later, headers=web_source.auth).status_code == 200
    [fresh] = app_client.get("/api/profiles", params={"q": bert.email}, headers=api).json()[
        "results"
    ]
    assert fresh["id"] not in ids
    fresh_profile = app_client.get(f"/api/profiles/{fresh['id']}", headers=api).json()
    assert fresh_profile["configurations"] == []


@pytest.mark.parametrize("role", ["sales", "manager", "marketing"])
def test_only_the_privacy_permission_may_copy_or_erase(
    app_client: TestClient,
    web_source: SourceKey,
    session_factory: sessionmaker[Session],
    role: str,
) -> None:
    dora = make_customer(app_client, web_source, "Dora")
    token = make_token(session_factory, role=role)
    copy = app_client.get(f"/api/profiles/{dora.profile_id}/data", headers=token)
    erase = app_client.post(
        f"/api/profiles/{dora.profile_id}/erasure", json={"reason": "x"}, headers=token
    )
    assert (copy.status_code, erase.status_code) == (403, 403)
    assert erase.json()["field"] == "Authorization"
    still = app_client.get(
        f"/api/profiles/{dora.profile_id}", headers=make_token_headers(app_client)
    )
    assert still.status_code == 200


def test_marketing_tokens_may_not_read_profiles(
    app_client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    token = make_token(session_factory, role="marketing")
    response = app_client.get("/api/profiles", params={"q": "jansen"}, headers=token)
    assert response.status_code == 403


def test_erasure_needs_a_reason_and_an_existing_person(
    app_client: TestClient, admin_api: dict[str, str]
) -> None:
    missing = app_client.post(
        f"/api/profiles/{uuid.uuid4()}/erasure", json={"reason": "asked"}, headers=admin_api
    )
    assert missing.status_code == 404
    no_reason = app_client.post(
        f"/api/profiles/{uuid.uuid4()}/erasure", json={"reason": ""}, headers=admin_api
    )
    assert no_reason.status_code in (400, 422)
    assert "reason" in no_reason.text


def test_the_command_line_copies_then_erases_after_asking(db_kind: str, tmp_path: Path) -> None:
    url = fresh_database_url(db_kind, tmp_path, f"privacy_{uuid.uuid4().hex[:6]}")
    engine = make_engine(url)
    try:
        upgrade(engine)
        factory = make_sessionmaker(engine)
        source = make_source(factory)
        with TestClient(create_app(Settings(database_url=url), engine=engine)) as client:
            emma = make_customer(client, source, "Emma")
            api = make_token(factory, role="sales")
            cli_erases(client, url, tmp_path, emma, api, source)
    finally:
        engine.dispose()
        if db_kind == "postgresql":
            drop_database(url)


def cli_erases(
    client: TestClient,
    url: str,
    tmp_path: Path,
    emma: Customer,
    api: dict[str, str],
    source: SourceKey,
) -> None:
    out = tmp_path / "emma.json"
    out.write_text("an older copy", encoding="utf-8")
    out.chmod(0o644)
    copied = run_cdp("profile", "export", emma.email.upper(), "-o", str(out), database_url=url,
                 cwd=tmp_path)  # fmt: skip
    assert copied.code == 0, copied.err
    assert json.loads(out.read_text("utf-8"))["profile_id"] == str(emma.profile_id)
    assert "6 events" in copied.out
    # All of a person's data: readable by its owner only, as `cdp export` writes its CSV.
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    folder = tmp_path / "copies"
    folder.mkdir()
    into_folder = run_cdp("profile", "export", emma.email, "-o", str(folder), database_url=url,
                      cwd=tmp_path)  # fmt: skip
    assert into_folder.code == 1 and "Traceback" not in into_folder.err
    assert into_folder.err.strip() == f"error: {folder} is a directory; give a file name with -o"
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".") or "part" in p.name]
    assert leftovers == []  # nothing half-written left behind

    # One of a kind reads in the singular: "1 profile", "1 event", not "1 profiles".
    solo = {"anonymousId": f"solo-{uuid.uuid4().hex[:6]}", "traits": {"email": "solo@example.test"},
            "messageId": uuid.uuid4().hex}  # fmt: skip
    assert client.post("/v1/identify", json=solo, headers=source.auth).status_code == 200
    single = run_cdp("profile", "export", "solo@example.test", "-o", str(tmp_path / "solo.json"),
                 database_url=url, cwd=tmp_path)  # fmt: skip
    assert single.code == 0, single.err
    assert "(1 profile, 2 identifiers, 1 trait, 1 event)" in single.out, single.out
    gone = run_cdp("profile", "erase", "solo@example.test", "--reason", "asked", "--yes",
               database_url=url, cwd=tmp_path)  # fmt: skip
    assert gone.code == 0, gone.err
    assert ": 1 search row, 1 event, 1 trait, 2 identifiers, 1 profile" in gone.out, gone.out

    refused = run_cdp("profile", "erase", emma.email, "--reason", "asked", database_url=url,
                  cwd=tmp_path)  # fmt: skip
    assert refused.code != 0 and len(refused.err.strip().splitlines()) == 1
    assert "--yes" in refused.err
    assert client.get(f"/api/profiles/{emma.profile_id}", headers=api).status_code == 200

    erased = run_cdp("profile", "erase", str(emma.profile_id), "--reason", "asked by phone",
                 "--yes", "--by", "dpo@dealer.example", database_url=url, cwd=tmp_path)  # fmt: skip
    assert erased.code == 0, erased.err
    assert "erased" in erased.out and "dpo@dealer.example" in erased.out
    assert client.get(f"/api/profiles/{emma.profile_id}", headers=api).status_code == 404

    again = run_cdp("profile", "erase", str(emma.profile_id), "--reason", "x", "--yes",
                database_url=url, cwd=tmp_path)  # fmt: skip
    assert again.code == 1 and again.err.startswith("error: no profile matches")
    nonsense = run_cdp("profile", "export", "not an id", "-o", str(out), database_url=url,
                   cwd=tmp_path)  # fmt: skip
    assert nonsense.code == 1 and "neither a profile id nor an e-mail" in nonsense.err

    # The copy and the erasure from the command line are in the audit trail, by profile id.
    engine = make_engine(url)
    with make_sessionmaker(engine)() as session:
        trail = session.execute(
            select(AuditRecord.action, AuditRecord.actor)
            .where(
                AuditRecord.profile_id == emma.profile_id,
                AuditRecord.action.in_(["subject_access", "erasure"]),
            )
            .order_by(AuditRecord.id)
        ).all()
    engine.dispose()
    assert [tuple(row) for row in trail] == [
        ("subject_access", "command line"),
        ("erasure", "dpo@dealer.example"),
    ]


def test_rejected_messages_carrying_the_persons_identifiers_are_copied_and_erased(
    app_client: TestClient, web_source: SourceKey, admin_api: dict[str, str], db: Session
) -> None:
    """The quarantine keeps refused messages raw and without a profile; a message that carries
    one of the person's identifiers is theirs: in the copy (art. 15) and erased (art. 17)."""
    fay = make_customer(app_client, web_source, "Fay")
    gus = make_customer(app_client, web_source, "Gus")
    tag = uuid.uuid4().hex[:8]
    # A userId with LIKE wildcards, a quote and a backslash (stored JSON-escaped: \" and \\).
    odd_id = f'fay_%"\\{tag}'
    signed_in = {"type": "identify", "userId": odd_id, "anonymousId": fay.devices[0],
                 "messageId": uuid.uuid4().hex}  # fmt: skip
    accepted = app_client.post("/v1/identify", json=signed_in, headers=web_source.auth)
    assert accepted.status_code == 200, accepted.text
    copy = app_client.get(f"/api/profiles/{fay.profile_id}/data", headers=admin_api).json()
    [phone] = [i["value"] for i in copy["identifiers"] if i["kind"] == "phone"]
    assert copy["quarantined_messages"] == []

    bad_time = "yesterday"  # refused: the whole message goes to the quarantine
    hers: list[dict[str, Any]] = [
        {"type": "track", "anonymousId": fay.devices[0]},  # no event name
        {"type": "identify", "anonymousId": f"new-{tag}", "timestamp": bad_time,
         "traits": {"email": f"  {fay.email.upper()} "}},
        {"type": "track", "anonymousId": f"new-{tag}", "event": "Quote Requested",
         "timestamp": bad_time, "properties": {"comment": f"Please mail me ({fay.email})."}},
        {"type": "track", "userId": odd_id, "timestamp": bad_time, "event": "Option Selected"},
        {"type": "identify", "anonymousId": f"new-{tag}", "timestamp": bad_time,
         "traits": {"phone": phone}},
        {"type": "track", "anonymousId": f"new-{tag}", "timestamp": bad_time,
         "event": "Configuration Loaded", "properties": {"configuration_code": fay.code.lower()}},
    ]  # fmt: skip
    others: list[dict[str, Any]] = [
        {"type": "identify", "anonymousId": f"jo-{tag}", "timestamp": bad_time,
         "traits": {"email": "jo" + fay.email}},  # another address that ends in hers
        {"type": "track", "userId": f'fayX"\\{tag}', "timestamp": bad_time, "event": "X"},
        {"type": "track", "anonymousId": gus.devices[1]},  # Gus's, no event name
    ]  # fmt: skip
    response = app_client.post("/v1/batch", json={"batch": hers + others}, headers=web_source.auth)
    assert response.status_code == 400 and len(response.json()["rejected"]) == 9, response.text

    def raw_of(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [json.loads(m["raw"]) for m in messages]

    copy = app_client.get(f"/api/profiles/{fay.profile_id}/data", headers=admin_api).json()
    assert raw_of(copy["quarantined_messages"]) == hers
    assert {m["endpoint"] for m in copy["quarantined_messages"]} == {"batch"}
    gus_copy = app_client.get(f"/api/profiles/{gus.profile_id}/data", headers=admin_api).json()
    assert raw_of(gus_copy["quarantined_messages"]) == [others[2]]

    erased = app_client.post(
        f"/api/profiles/{fay.profile_id}/erasure", json={"reason": "asked"}, headers=admin_api
    )
    assert erased.status_code == 200, erased.text
    assert erased.json()["deleted"]["quarantined messages"] == len(hers)
    left = db.execute(
        text("SELECT raw FROM quarantined_message WHERE source_id = :s ORDER BY id"),
        {"s": web_source.id},
    ).scalars()
    assert [json.loads(raw) for raw in left] == others
    gus_copy = app_client.get(f"/api/profiles/{gus.profile_id}/data", headers=admin_api).json()
    assert raw_of(gus_copy["quarantined_messages"]) == [others[2]]
