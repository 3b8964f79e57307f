"""Property: identity resolution does not depend on the order messages arrive in.

A generated "world" of a few customers, each with an email, maybe a userId, one to three
devices and maybe a saved configuration (loaded again on another device), produces a set of
page, identify and track messages. Some anonymous page views also carry a placeholder userId
shared by everybody. Whatever the arrival order (any permutation, split over batches and single
calls), every customer must end as exactly one profile owning exactly their identifiers, and
every event must sit in its customer's profile.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from cdp.models import Event, Identity
from tests.helpers import SourceKey

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
PLACEHOLDER_USER_IDS = ["null", "undefined", "0", "anonymous", "[object Object]", "-1", ""]

Ident = tuple[str, str]


@dataclass(frozen=True)
class Customer:
    email: str
    user_id: str | None
    devices: tuple[str, ...]
    code: str | None

    def identifiers(self) -> frozenset[Ident]:
        found: set[Ident] = {("email", self.email)}
        found.update(("anonymous_id", d) for d in self.devices)
        if self.user_id:
            found.add(("user_id", self.user_id))
        if self.code:
            found.add(("config_code", self.code))
        return frozenset(found)


@st.composite
def worlds(draw: st.DrawFn) -> tuple[list[Customer], list[dict[str, Any]]]:
    """Customers and the messages their visits produce, in the order they happened."""
    run = uuid.uuid4().hex[:10]  # every example gets fresh identifiers
    customers = []
    for n in range(draw(st.integers(1, 3))):
        devices = tuple(f"{run}-c{n}-d{d}" for d in range(draw(st.integers(1, 3))))
        customers.append(
            Customer(
                email=f"c{n}.{run}@example.nl",
                user_id=f"{run}-user-{n}" if draw(st.booleans()) else None,
                devices=devices,
                code=f"{run}-CFG{n}".upper() if draw(st.booleans()) else None,
            )
        )
    messages: list[dict[str, Any]] = []

    def add(customer: Customer, kind: str, **fields: Any) -> None:
        moment = T0 + timedelta(minutes=len(messages))
        messages.append(
            {
                "type": kind,
                "messageId": f"{run}-m{len(messages)}",
                "timestamp": moment.isoformat(),
                "_customer": customer,
                **fields,
            }
        )

    for customer in customers:
        for device in customer.devices:
            page: dict[str, Any] = {"anonymousId": device, "name": "Home"}
            if draw(st.booleans()):
                page["userId"] = draw(st.sampled_from(PLACEHOLDER_USER_IDS))
            add(customer, "page", **page)
            traits = {"email": customer.email}
            ids = {"userId": customer.user_id} if customer.user_id else {}
            add(customer, "identify", anonymousId=device, traits=traits, **ids)
            add(
                customer,
                "track",
                anonymousId=device,
                event="Option Selected",
                properties={"category": "colour"},
            )
        if customer.code:
            add(
                customer,
                "track",
                anonymousId=customer.devices[0],
                event="Configuration Saved",
                properties={"configuration_code": customer.code.lower(), "model": "Aurora"},
            )
            add(
                customer,
                "track",
                anonymousId=customer.devices[-1],
                event="Configuration Loaded",
                properties={"configuration_code": customer.code},
            )
    return customers, messages


@st.composite
def deliveries(draw: st.DrawFn, messages: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The messages in any order, cut into requests of any size."""
    shuffled = draw(st.permutations(messages))
    chunks: list[list[dict[str, Any]]] = []
    i = 0
    while i < len(shuffled):
        size = draw(st.integers(1, 5))
        chunks.append(list(shuffled[i : i + size]))
        i += size
    return chunks


def deliver(
    client: TestClient, source: SourceKey, chunk: list[dict[str, Any]], single: bool
) -> None:
    wire = [{k: v for k, v in m.items() if k != "_customer"} for m in chunk]
    if single and len(wire) == 1:
        body = dict(wire[0])
        response = client.post(f"/v1/{body.pop('type')}", json=body, headers=source.auth)
    else:
        response = client.post("/v1/batch", json={"batch": wire}, headers=source.auth)
    assert response.status_code == 200, response.text
    assert response.json()["rejected"] == []


def partition(db: Session, identifiers: set[Ident]) -> set[frozenset[Ident]]:
    db.expire_all()
    values = {value for _, value in identifiers}
    owners: dict[uuid.UUID, set[Ident]] = {}
    for kind, value, pid in db.execute(
        select(Identity.kind, Identity.value, Identity.profile_id).where(Identity.value.in_(values))
    ):
        if (kind, value) in identifiers:
            owners.setdefault(pid, set()).add((kind, value))
    return {frozenset(idents) for idents in owners.values()}


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_every_arrival_order_gives_the_same_profiles(
    app_client: TestClient, web_source: SourceKey, db: Session, data: st.DataObject
) -> None:
    customers, messages = data.draw(worlds())
    chunks = data.draw(deliveries(messages))
    for chunk in chunks:
        deliver(app_client, web_source, chunk, single=data.draw(st.booleans()))

    expected = {c.identifiers() for c in customers}
    all_identifiers = set().union(*expected)
    assert partition(db, set(all_identifiers)) == expected

    owner_of = {}
    db.expire_all()
    for customer in customers:
        [pid] = {
            pid
            for pid in db.scalars(
                select(Identity.profile_id).where(Identity.value == customer.email)
            )
        }
        owner_of[customer] = pid
    stored = dict(
        db.execute(
            select(Event.message_id, Event.profile_id).where(
                Event.message_id.in_([m["messageId"] for m in messages])
            )
        ).all()
    )
    assert len(stored) == len(messages)
    for m in messages:
        assert stored[m["messageId"]] == owner_of[m["_customer"]], m
