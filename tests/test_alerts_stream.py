"""The alert stream through HTTP from a real `cdp serve` (two workers on PostgreSQL, where
the event and the stream may be on different workers): what is unread is sent at once, a new
alert as it is stored, and after a reconnect what came since the Last-Event-ID."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx

from cdp.db import make_engine, make_sessionmaker
from cdp.leads import service as leads
from cdp.migrate import upgrade
from cdp.models import Identity
from tests.helpers import (
    drop_database,
    fresh_database_url,
    http_sign_in,
    make_source,
    make_staff,
    next_sse_event,
    served,
    user_id,
)

STREAM_TIMEOUT = httpx.Timeout(10.0)  # an alert (or a keepalive) comes sooner, or it failed


def test_the_stream_sends_unread_alerts_then_new_ones_and_resends_after_a_reconnect(
    db_kind: str, tmp_path: Path
) -> None:
    url = fresh_database_url(db_kind, tmp_path, f"alerts_stream_{uuid.uuid4().hex[:6]}")
    engine = make_engine(url)
    try:
        upgrade(engine)
        factory = make_sessionmaker(engine)
        source = make_source(factory)
        email = make_staff(factory, role="sales", name="Sam Seller")
        seller = user_id(factory, email)
        customer = f"mila.{uuid.uuid4().hex[:6]}@example.nl"
        with served(url, tmp_path, workers=2 if db_kind == "postgresql" else 1) as base:
            site = httpx.Client(base_url=base, timeout=10, headers=source.auth)
            traits = {"email": customer, "firstName": "Mila", "lastName": "Visser"}
            assert site.post(
                "/v1/identify", json={"anonymousId": "d1", "traits": traits}
            ).is_success
            with factory() as session:
                pid = session.query(Identity.profile_id).filter(Identity.value == customer).scalar()
                leads.create_lead(session, profile_id=pid, channel="phone",
                                  created_by_user_id=None, assigned_user_id=seller)  # fmt: skip
                session.commit()

            staff = httpx.Client(base_url=base, timeout=STREAM_TIMEOUT)
            http_sign_in(staff, email)
            with staff.stream("GET", "/alerts/stream") as stream:
                assert stream.status_code == 200
                assert stream.headers["content-type"].startswith("text/event-stream")
                lines = stream.iter_lines()
                missed = next_sse_event(lines, named="alerts")
                assert "Mila Visser" in missed.data and "phone lead assigned to you" in missed.data
                assert 'id="alert-count"' in missed.data and "1<span" in missed.data

                quote = {"anonymousId": "d1", "event": "Quote Requested", "properties": {}}
                assert site.post("/v1/track", json=quote).is_success
                new = next_sse_event(lines, named="alerts")
                assert "requested a quote" in new.data and "2<span" in new.data
                assert missed.id is not None and new.id is not None
                assert int(new.id) > int(missed.id)

            # The browser reconnects (a worker restarted) with the last id it had seen.
            with staff.stream(
                "GET", "/alerts/stream", headers={"Last-Event-ID": missed.id}
            ) as again:
                resent = next_sse_event(again.iter_lines(), named="alerts")
                assert resent.id == new.id and "requested a quote" in resent.data

            staff.post("/logout", data={"csrf_token": http_sign_in(staff, email)})
            assert staff.get("/alerts/stream").status_code == 401
    finally:
        engine.dispose()
        drop_database(url)
