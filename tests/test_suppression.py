"""Erasure that stays erased, through the collection API, the profiles API and the CLI, on both
databases.

Covers: after an erasure no table holds the person's name, e-mail or phone in any spelling;
replaying their old messages (the same messageIds, or new ones with the old dates) and sending
new ones without consent brings nothing back, leaving only a count; refused messages holding
their phone in any spelling are erased with them, and later ones are not kept; a new message
that grants consent brings them back as a new profile and lifts the suppression with a record
that holds no personal data, while old messages stay out; the CLI erasure leaves suppression
too, staff can lift it, and the secret key rotates without losing the entries made before.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import inspect, text
from sqlalchemy.orm import Session

from cdp.app import create_app
from cdp.config import Settings
from cdp.db import make_engine, make_sessionmaker
from cdp.migrate import upgrade
from tests.helpers import (
    SourceKey,
    drop_database,
    fresh_database_url,
    make_source,
    make_token,
    run_cdp,
)

NOW = datetime.now(UTC).replace(microsecond=0)
CONSENT = {"consent": {"categoryPreferences": {"email": True}}}


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Person:
    first_name: str
    last_name: str
    email: str
    phone_digits: str  # the 8 digits after +316
    browser: str
    batches: list[list[dict[str, Any]]]

    @property
    def spellings(self) -> list[str]:
        """Every way their name, e-mail and phone might be written in a row of any table."""
        d = self.phone_digits
        return [
            self.first_name,
            self.first_name.lower(),
            self.last_name,
            self.last_name.lower(),
            self.email,
            self.email.upper(),
            f"+316{d}",
            f"06{d}",
            f"06-{d}",
            f"06 {d[:4]} {d[4:]}",
            f"0{6}{d[:2]} {d[2:5]} {d[5:]}",
            f"316{d}",
        ]


def rare_word() -> str:
    return "Zq" + "".join(chr(ord("a") + int(c, 16)) for c in uuid.uuid4().hex[:8])


def make_person(client: TestClient, source: SourceKey) -> Person:
    """Browses anonymously, leaves their details with e-mail consent, saves a car, asks for a
    test drive: everything sent to the collection API, as it was sent."""
    first, last = rare_word(), rare_word()
    email = f"{first.lower()}.{uuid.uuid4().hex[:6]}@example.test"
    digits = f"{uuid.uuid4().int % 10**8:08d}"
    browser = f"browser-{uuid.uuid4().hex[:8]}"
    at = NOW - timedelta(days=3)

    def msg(kind: str, minute: int, **fields: Any) -> dict[str, Any]:
        return {"type": kind, "anonymousId": browser, "messageId": uuid.uuid4().hex,
                "timestamp": iso(at + timedelta(minutes=minute)), **fields}  # fmt: skip

    batches = [
        [msg("page", 0, name="Configurator")],
        [
            msg("identify", 1, traits={"email": email, "firstName": first, "lastName": last,
                "phone": f"06-{digits}"}, context=CONSENT),
            msg("track", 2, event="Configuration Saved",
                properties={"configuration_code": f"NW-{digits[:6]}", "model": "Aurora"}),
            msg("track", 3, event="Test Drive Requested", properties={"model": "Aurora"}),
        ],
    ]  # fmt: skip
    for batch in batches:
        answer = client.post("/v1/batch", json={"batch": batch}, headers=source.auth)
        assert answer.status_code == 200 and answer.json()["accepted"] == len(batch)
    return Person(first, last, email, digits, browser, batches)


def every_row_as_text(db: Session) -> str:
    """Every row of every table, as text: what an erasure must leave nothing of them in."""
    conn = db.connection()
    dump = []
    for table in inspect(conn).get_table_names():
        for row in conn.execute(text(f'SELECT * FROM "{table}"')):
            dump.append(f"{table}: {tuple(row)!r}")
    return "\n".join(dump)


def traces(db: Session, person: Person) -> list[str]:
    dump = every_row_as_text(db).lower()
    return [spelling for spelling in person.spellings if spelling.lower() in dump]


def count(db: Session, sql: str, **params: Any) -> int:
    return int(db.execute(text(sql), params).scalar_one())


def events_of(db: Session, person: Person) -> int:
    return count(db, "SELECT COUNT(*) FROM event WHERE anonymous_id = :a", a=person.browser)


def test_an_erased_person_stays_erased_until_they_agree_again(
    app_client: TestClient, web_source: SourceKey, db: Session
) -> None:
    admin = make_token(app_client.app.state.sessionmaker, role="admin")  # type: ignore[attr-defined]
    sales = make_token(app_client.app.state.sessionmaker, role="sales")  # type: ignore[attr-defined]
    ida = make_person(app_client, web_source)
    d = ida.phone_digits
    # Refused messages (no event name) holding her phone, each spelt another way, and one
    # holding a number one digit off, which is not hers.
    phones = [f"+316{d}", f"06-{d}", f"0{6}{d[:2]} {d[2:5]} {d[5:]}", f"(06) {d[:4]} {d[4:]}"]
    refused = [{"type": "track", "anonymousId": f"x-{n}", "properties": {"phone": p}}
               for n, p in enumerate(phones)]  # fmt: skip
    refused.append(
        {
            "type": "track",
            "anonymousId": "x-text",
            "properties": {"note": f"bel me op 06 {d[:2]} {d[2:4]} {d[4:6]} {d[6:]} svp"},
        }
    )
    other = f"06-{d[:7]}{(int(d[7]) + 1) % 10}"
    refused.append({"type": "track", "anonymousId": "x-other", "properties": {"phone": other}})
    answer = app_client.post("/v1/batch", json={"batch": refused}, headers=web_source.auth)
    assert answer.status_code == 400 and len(answer.json()["rejected"]) == len(refused)
    assert traces(db, ida), "the test data is not found before the erasure"

    [found] = app_client.get("/api/profiles", params={"q": ida.email}, headers=sales).json()[
        "results"
    ]
    erased = app_client.post(
        f"/api/profiles/{found['id']}/erasure", json={"reason": "asked"}, headers=admin
    )
    assert erased.status_code == 200, erased.text
    assert erased.json()["deleted"]["quarantined messages"] == len(refused) - 1
    assert traces(db, ida) == []
    left = db.execute(text("SELECT raw FROM quarantined_message WHERE source_id = :s"),
                      {"s": web_source.id}).scalars().all()  # fmt: skip
    assert [json.loads(raw)["properties"] for raw in left] == [{"phone": other}]
    profiles = count(db, "SELECT COUNT(*) FROM profile")
    # One entry per identifier: e-mail, phone, anonymousId (userId: none); hashes only.
    entries = db.execute(text("SELECT kind, digest, lifted_at FROM suppression")).all()
    assert sorted(kind for kind, _, _ in entries) == ["anonymous_id", "email", "phone"]
    assert all(len(digest) == 64 and lifted is None for _, digest, lifted in entries)

    # Replayed as they were (same messageIds), with new messageIds and the old dates, and with
    # the old dates but a sentAt of then (their event time then reads as now).
    replays = [
        *ida.batches,
        *([{**m, "messageId": uuid.uuid4().hex} for m in b] for b in ida.batches),
        *(
            [{**m, "messageId": uuid.uuid4().hex, "sentAt": m["timestamp"]} for m in b]
            for b in ida.batches
        ),
    ]
    # New messages without consent: her e-mail, her phone in another spelling.
    new = [
        [{"type": "identify", "anonymousId": "new-device", "messageId": uuid.uuid4().hex,
          "traits": {"email": ida.email.upper(), "firstName": ida.first_name}}],
        [{"type": "identify", "anonymousId": "new-device-2", "messageId": uuid.uuid4().hex,
          "traits": {"phone": f"+31 6 {d}", "lastName": ida.last_name}}],
        [{"type": "track", "event": "Configuration Started",  # refused: a bad time
          "timestamp": "yesterday", "userId": "u1", "traits": {"email": ida.email}},
         {"type": "track", "anonymousId": "new-device", "event": "Brochure Requested",
          "messageId": uuid.uuid4().hex, "context": {"traits": {"email": ida.email}}}],
    ]  # fmt: skip
    for batch in [*replays, *new]:
        answer = app_client.post("/v1/batch", json={"batch": batch}, headers=web_source.auth)
        assert answer.status_code in (200, 400), answer.text  # as if stored: nothing tells
    assert traces(db, ida) == []
    assert count(db, "SELECT COUNT(*) FROM profile") == profiles
    assert events_of(db, ida) == 0
    dropped = count(db, "SELECT messages FROM suppressed_count WHERE source_id = :s",
                    s=web_source.id)  # fmt: skip
    assert dropped == sum(len(b) for b in [*replays, *new])

    # She comes back and agrees again: a new profile, the suppression lifted with a record.
    back = {"type": "identify", "anonymousId": "new-device", "messageId": uuid.uuid4().hex,
            "traits": {"email": ida.email, "firstName": ida.first_name},
            "context": CONSENT}  # fmt: skip
    assert app_client.post("/v1/identify", json=back, headers=web_source.auth).status_code == 200
    [fresh] = app_client.get("/api/profiles", params={"q": ida.email}, headers=sales).json()[
        "results"
    ]
    assert fresh["id"] != found["id"]
    lifted = db.execute(
        text("SELECT kind, lifted_by, lift_reason FROM suppression WHERE lifted_at IS NOT NULL")
    ).all()
    assert sorted(kind for kind, _, _ in lifted) == ["email", "phone"]
    for _, by, reason in lifted:
        assert by == "ingest" and reason.startswith("email consent granted in message")
        assert back["messageId"] in reason
        assert not any(s.lower() in reason.lower() for s in ida.spellings)
    # Now her new messages are kept; her old ones still are not.
    later = {"type": "track", "anonymousId": "new-device", "event": "Brochure Requested",
             "messageId": uuid.uuid4().hex, "context": {"traits": {"phone": f"06{d}"}}}  # fmt: skip
    assert app_client.post("/v1/track", json=later, headers=web_source.auth).status_code == 200
    for batch in replays[2:]:
        app_client.post("/v1/batch", json={"batch": batch}, headers=web_source.auth)
    assert events_of(db, ida) == 0
    data = app_client.get(f"/api/profiles/{fresh['id']}/data", headers=admin).json()
    assert [e["message_id"] for e in data["events"]] == [back["messageId"], later["messageId"]]
    assert data["saved_configurations"] == [] and data["leads"] == []


def test_erasure_on_the_command_line_leaves_suppression_and_the_key_rotates(
    db_kind: str, tmp_path: Path
) -> None:
    url = fresh_database_url(db_kind, tmp_path, f"suppress_{uuid.uuid4().hex[:6]}")
    engine = make_engine(url)
    try:
        upgrade(engine)
        factory = make_sessionmaker(engine)
        source = make_source(factory)
        with TestClient(create_app(Settings(database_url=url), engine=engine)) as client:
            jan = make_person(client, source)
            kim = make_person(client, source)
            erased = run_cdp("profile", "erase", jan.email, "--reason", "asked", "--yes",
                         database_url=url, cwd=tmp_path)  # fmt: skip
            assert erased.code == 0, erased.err

            def replay(person: Person) -> None:
                for batch in person.batches:
                    fresh = [{**m, "messageId": uuid.uuid4().hex} for m in batch]
                    client.post("/v1/batch", json={"batch": fresh}, headers=source.auth)

            def stored(person: Person) -> int:
                with factory() as session:
                    return int(
                        session.execute(
                            text("SELECT COUNT(*) FROM event WHERE anonymous_id = :a"),
                            {"a": person.browser},
                        ).scalar_one()
                    )

            replay(jan)
            assert stored(jan) == 0

            with factory() as session:
                first_key = session.execute(text("SELECT secret FROM secret_key")).scalar_one()
            rotated = run_cdp("secret", "rotate", database_url=url, cwd=tmp_path)
            assert rotated.code == 0, rotated.err
            assert rotated.out.strip() == (
                "secret key version 2 is current; kept version 1 (3 suppression entries)"
            )
            assert first_key not in rotated.out + rotated.err
            # Jan's entries were hashed with version 1: they still match. Kim is erased by
            # this (already running) app after the rotation: with version 2, which the app
            # had not read yet.
            replay(jan)
            admin = make_token(factory, role="admin")
            [kim_id] = [
                r["id"]
                for r in client.get(
                    "/api/profiles", params={"q": kim.email}, headers=make_token(factory)
                ).json()["results"]
            ]
            assert (
                client.post(
                    f"/api/profiles/{kim_id}/erasure", json={"reason": "asked"}, headers=admin
                ).status_code
                == 200
            )
            replay(kim)
            replay(jan)  # now that this app knows version 2, Jan's entries are hashed anew
            assert (stored(jan), stored(kim)) == (0, 0)
            with factory() as session:
                versions = session.execute(
                    text("SELECT key_version, COUNT(*) FROM suppression GROUP BY key_version")
                ).all()
                dump = every_row_as_text(session).lower()
            assert sorted(versions) == [(2, 6)]
            assert not [s for p in (jan, kim) for s in p.spellings if s.lower() in dump]
            pruned = run_cdp("secret", "rotate", database_url=url, cwd=tmp_path)
            assert pruned.out.strip() == (
                "secret key version 3 is current; kept version 2 (6 suppression entries); "
                "deleted 1 unused version"
            )

            # Staff record that Jan agreed again (on paper): new messages are stored again.
            no_reason = run_cdp("suppression", "lift", jan.email, "--reason", " ",
                            database_url=url, cwd=tmp_path)  # fmt: skip
            assert no_reason.code == 1 and no_reason.err.startswith("error: say why")
            nobody = run_cdp("suppression", "lift", "nobody@example.test", "--reason", "x",
                         database_url=url, cwd=tmp_path)  # fmt: skip
            assert nobody.code == 1 and "no erased person" in nobody.err
            lifted = run_cdp("suppression", "lift", f"+316{jan.phone_digits}", "--reason",
                         "consent form signed 2026-12-01", "--by", "dpo@dealer.example",
                         database_url=url, cwd=tmp_path)  # fmt: skip
            assert lifted.code == 0, lifted.err
            assert "2 identifiers" in lifted.out
            replay(jan)  # old dates: still out
            assert stored(jan) == 0
            new = {"type": "identify", "anonymousId": jan.browser, "messageId": uuid.uuid4().hex,
                   "traits": {"email": jan.email}}  # fmt: skip
            assert client.post("/v1/identify", json=new, headers=source.auth).status_code == 200
            assert stored(jan) == 1
    finally:
        engine.dispose()
        if db_kind == "postgresql":
            drop_database(url)
