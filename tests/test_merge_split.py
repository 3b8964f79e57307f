"""Undoing a wrong merge, through the customer page and the command line, on both databases.

Anna and Bram are two people; each left events, identifiers, a saved configuration, e-mail
consent, a lead and a staff note. Anna then typed the family landline, which was Bram's, and
the two profiles merged. A manager splits them again: each has their own data back, the search
finds both, their next messages land on the right one, and the landline does not merge them
again. Only managers and admins may split; a merge from before splits were recorded cannot be.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from cdp.app import create_app
from cdp.config import Settings
from cdp.db import make_engine, make_sessionmaker
from cdp.migrate import upgrade
from cdp.models import Event, IdentityWarning, Lead, Note, ProfileMerge
from tests.helpers import (
    SourceKey,
    StaffClient,
    count,
    drop_database,
    fresh_database_url,
    make_source,
    make_token,
    post,
    run_cdp,
    soup,
    text_at,
)

NOW = datetime.now(UTC).replace(microsecond=0)
LANDLINE = "+31 20 555 0100"


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@dataclass
class Person:
    name: str
    email: str
    device: str
    code: str
    profile_id: uuid.UUID | None = None


def message(kind: str, person: Person, minutes: int, **fields: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "anonymousId": person.device,
        "messageId": uuid.uuid4().hex,
        "timestamp": iso(NOW - timedelta(days=1) + timedelta(minutes=minutes)),
        **fields,
    }


def batch(client: TestClient, source: SourceKey, messages: list[dict[str, Any]]) -> None:
    response = client.post("/v1/batch", json={"batch": messages}, headers=source.auth)
    assert response.status_code == 200 and response.json()["accepted"] == len(messages)


def person(name: str) -> Person:
    tag = uuid.uuid4().hex[:6]
    return Person(name, f"{name.lower()}.{tag}@example.test", f"{name}-{tag}", f"NW-{tag.upper()}")


def arrive(
    client: TestClient, source: SourceKey, who: Person, start: int, traits: dict[str, Any]
) -> None:
    """Identifies with consent to e-mail, saves a car, asks for a test drive: a lead."""
    batch(
        client,
        source,
        [
            message("identify", who, start, traits={"email": who.email, "first_name": who.name,
                    "last_name": "Split", **traits},
                    context={"consent": {"categoryPreferences": {"email": True}}}),
            message("track", who, start + 1, event="Configuration Saved", properties={
                "configuration_code": who.code, "model": "Aurora", "colour": "Lava Red"}),
            message("track", who, start + 2, event="Test Drive Requested",
                    properties={"model": "Aurora"}),
        ],
    )  # fmt: skip


def found(client: TestClient, api: dict[str, str], query: str) -> list[str]:
    answer = client.get("/api/profiles", params={"q": query}, headers=api)
    assert answer.status_code == 200, answer.text
    return [row["id"] for row in answer.json()["results"]]


def profile(client: TestClient, api: dict[str, str], pid: uuid.UUID) -> dict[str, Any]:
    answer = client.get(f"/api/profiles/{pid}", headers=api)
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()
    return data


def merge_two(
    client: TestClient, source: SourceKey, api: dict[str, str]
) -> tuple[Person, Person, int]:
    """Anna and Bram, then Anna's message with Bram's landline: one profile (Anna's)."""
    anna, bram = person("Anna"), person("Bram")
    arrive(client, source, anna, 0, {})
    arrive(client, source, bram, 10, {"phone": LANDLINE})
    anna.profile_id = uuid.UUID(found(client, api, anna.email)[0])
    bram.profile_id = uuid.UUID(found(client, api, bram.email)[0])
    assert anna.profile_id != bram.profile_id
    batch(client, source, [message("identify", anna, 20,
                                   traits={"email": anna.email, "phone": LANDLINE})])  # fmt: skip
    assert found(client, api, bram.email) == [str(anna.profile_id)]
    merged = profile(client, api, anna.profile_id)
    assert merged["absorbed_ids"] == [str(bram.profile_id)]
    return anna, bram, merged["merges"][0]["id"]


def own_data_again(
    client: TestClient,
    source: SourceKey,
    api: dict[str, str],
    factory: sessionmaker[Session],
    anna: Person,
    bram: Person,
) -> None:
    """Each has their own events, identifiers, configuration, consent, lead and note again;
    the search finds both; their next messages land on the right one."""
    assert anna.profile_id and bram.profile_id
    a, b = profile(client, api, anna.profile_id), profile(client, api, bram.profile_id)
    assert a["absorbed_ids"] == [] and b["absorbed_ids"] == []
    ids_a = {(i["kind"], i["value"]) for i in a["identifiers"]}
    ids_b = {(i["kind"], i["value"]) for i in b["identifiers"]}
    assert ids_a == {("email", anna.email), ("anonymous_id", anna.device),
                     ("config_code", anna.code)}  # fmt: skip
    assert ids_b == {("email", bram.email), ("anonymous_id", bram.device),
                     ("config_code", bram.code), ("phone", "+31205550100")}  # fmt: skip
    assert [c["code"] for c in a["configurations"]] == [anna.code]
    assert [c["code"] for c in b["configurations"]] == [bram.code]
    assert a["consents"]["email"]["status"] == "granted"
    assert b["consents"]["email"]["status"] == "granted"
    assert b["consents"]["email"]["address"] == bram.email
    assert a["traits"]["first_name"] == "Anna" and b["traits"]["first_name"] == "Bram"
    assert a["traits"]["email"] == anna.email and b["traits"]["email"] == bram.email
    # Anna's four messages (the merging one included) and Bram's three.
    assert count(factory, Event, Event.profile_id == anna.profile_id) == 4
    assert count(factory, Event, Event.profile_id == bram.profile_id) == 3
    assert a["merges"][0]["split_at"] is not None
    for who in (anna, bram):
        assert count(factory, Lead, Lead.profile_id == who.profile_id) == 1
        assert count(factory, Note, Note.profile_id == who.profile_id) == 1
        assert found(client, api, who.email) == [str(who.profile_id)]
    assert set(found(client, api, "Split")) == {str(anna.profile_id), str(bram.profile_id)}

    # Bram on a new phone: his e-mail address finds his own profile.
    new_phone = Person(bram.name, bram.email, f"phone-{uuid.uuid4().hex[:6]}", bram.code)
    batch(client, source, [message("identify", new_phone, 30, traits={"email": bram.email})])
    batch(client, source, [message("identify", anna, 31, traits={"email": anna.email})])
    # The landline beside Anna's e-mail again: they were split, so no merge this time.
    batch(client, source, [message("identify", anna, 32,
                                   traits={"email": anna.email, "phone": LANDLINE})])  # fmt: skip
    a, b = profile(client, api, anna.profile_id), profile(client, api, bram.profile_id)
    assert count(factory, Event, Event.profile_id == bram.profile_id) == 4
    assert count(factory, Event, Event.profile_id == anna.profile_id) == 6
    assert a["absorbed_ids"] == [] and b["absorbed_ids"] == []
    with factory() as session:
        kinds = session.scalars(
            select(IdentityWarning.kind).where(IdentityWarning.profile_id == anna.profile_id)
        ).all()
    assert "split_refused" in kinds


def add_note(staff: StaffClient, pid: uuid.UUID, text: str) -> None:
    response = post(staff, f"/showroom/customers/{pid}/notes", {"text": text})
    assert response.status_code in (200, 303), response.text


def test_a_manager_splits_a_wrong_merge_from_the_customer_page(
    app_client: TestClient,
    web_source: SourceKey,
    session_factory: sessionmaker[Session],
    staff_client: Callable[..., StaffClient],
) -> None:
    api = make_token(session_factory, role="sales")
    anna, bram = person("Anna"), person("Bram")
    arrive(app_client, web_source, anna, 0, {})
    arrive(app_client, web_source, bram, 10, {"phone": LANDLINE})
    anna.profile_id = uuid.UUID(found(app_client, api, anna.email)[0])
    bram.profile_id = uuid.UUID(found(app_client, api, bram.email)[0])
    manager = staff_client("manager")
    add_note(manager, anna.profile_id, "Anna wants a hybrid")
    add_note(manager, bram.profile_id, "Bram trades in his van")
    batch(app_client, web_source, [message("identify", anna, 20,
          traits={"email": anna.email, "phone": LANDLINE})])  # fmt: skip
    merged = profile(app_client, api, anna.profile_id)
    assert merged["absorbed_ids"] == [str(bram.profile_id)]
    assert merged["traits"]["first_name"] == "Bram"  # the later value won: the merge was wrong
    merge_id = merged["merges"][0]["id"]
    split_url = f"/showroom/customers/{anna.profile_id}/merges/{merge_id}/split"

    # Sales staff see no button and cannot split.
    sales = staff_client("sales")
    page = soup(sales.client.get(f"/showroom/customers/{anna.profile_id}").text)
    assert page.select(".split-link") == []
    assert sales.client.get(split_url).status_code == 403
    assert post(sales, split_url, {"reason": "wrong", "confirm": "yes"}).status_code == 403

    manager = staff_client("manager")
    page = soup(manager.client.get(f"/showroom/customers/{anna.profile_id}").text)
    [link] = page.select(".split-link")
    assert link["href"] == split_url
    confirm = soup(manager.client.get(split_url).text)
    assert bram.email in text_at(confirm, ".split-identifiers")
    plan = text_at(confirm, ".split-plan")
    for part in ("3 events", "1 configurations", "1 consent statements", "1 leads", "1 notes"):
        assert part in plan, plan
    form = confirm.select_one("form")
    assert form is not None and form.select_one("input[name=csrf_token]") is not None

    # Without the tick or a reason: the form again, the problem named, nothing split.
    unticked = post(manager, split_url, {"reason": "two people"})
    assert unticked.status_code == 400
    assert "tick the box" in text_at(soup(unticked.text), "#split-error")
    no_reason = post(manager, split_url, {"reason": "  ", "confirm": "yes"})
    assert no_reason.status_code == 400
    assert "say why" in text_at(soup(no_reason.text), "#split-error")
    assert profile(app_client, api, anna.profile_id)["absorbed_ids"] == [str(bram.profile_id)]
    no_token = manager.client.post(split_url, data={"reason": "x", "confirm": "yes"})
    assert no_token.status_code == 403

    done = post(manager, split_url, {"reason": "the landline is Bram's", "confirm": "yes"})
    assert done.status_code == 303 and done.headers["location"] == (
        f"/showroom/customers/{anna.profile_id}"
    )
    own_data_again(app_client, web_source, api, session_factory, anna, bram)
    # Anna's copy of her data keeps the merge, not Bram's traits from before it.
    admin = make_token(session_factory, role="admin")
    copy = app_client.get(f"/api/profiles/{anna.profile_id}/data", headers=admin).json()
    assert copy["merges"][0]["split_reason"] == "the landline is Bram's"
    assert "traits_before" not in copy["merges"][0]
    page = soup(manager.client.get(f"/showroom/customers/{bram.profile_id}").text)
    assert "Merge undone" in page.get_text() and page.select(".split-link") == []
    again = manager.client.get(split_url)
    assert again.status_code == 409 and "already split" in text_at(soup(again.text), ".error")


def test_the_command_line_splits_and_refuses_merges_it_cannot(db_kind: str, tmp_path: Path) -> None:
    url = fresh_database_url(db_kind, tmp_path, f"split_{uuid.uuid4().hex[:6]}")
    engine = make_engine(url)
    try:
        upgrade(engine)
        factory = make_sessionmaker(engine)
        source = make_source(factory)
        api = make_token(factory, role="sales")
        with TestClient(create_app(Settings(database_url=url), engine=engine)) as client:
            anna, bram, merge_id = merge_two(client, source, api)
            assert anna.profile_id and bram.profile_id

            def split(*args: str) -> Any:
                return run_cdp("profile", "split", *args, database_url=url, cwd=tmp_path)

            bad = split(str(anna.profile_id), "999999", "--reason", "wrong")
            assert bad.code == 1 and "Traceback" not in bad.err
            assert bad.err.strip() == f"error: profile {anna.profile_id} has no merge 999999"
            assert split("not-a-profile", str(merge_id), "--reason", "x").code == 1
            # A merge recorded before splits were possible: which rows moved is unknown.
            with factory() as session:
                session.execute(update(ProfileMerge).values(rows_recorded=False))
                session.commit()
            old = split(str(anna.profile_id), str(merge_id), "--reason", "wrong")
            assert old.code == 1 and "cannot be split" in old.err
            with factory() as session:
                session.execute(update(ProfileMerge).values(rows_recorded=True))
                session.commit()

            done = split(str(bram.profile_id), str(merge_id), "--reason", "two people")
            assert done.code == 0, done.err
            assert done.out.startswith(f"merge {merge_id} split: 3 event rows"), done.out
            a, b = profile(client, api, anna.profile_id), profile(client, api, bram.profile_id)
            assert {i["value"] for i in b["identifiers"]} >= {bram.email, "+31205550100"}
            assert bram.email not in {i["value"] for i in a["identifiers"]}
            assert [c["code"] for c in b["configurations"]] == [bram.code]
            assert found(client, api, bram.email) == [str(bram.profile_id)]
            twice = split(str(anna.profile_id), str(merge_id), "--reason", "again")
            assert twice.code == 1 and "already split" in twice.err
    finally:
        engine.dispose()
        if db_kind == "postgresql":
            drop_database(url)
