"""Alerts: each producer stores one for the right person, the tray counts and reads them, and
nobody sees another person's or another dealer's (docs/alerts.md). Both databases."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from cdp.alerts import service as alerts
from cdp.alerts.jobs import PeriodicJob, run_once
from cdp.db import make_engine, make_sessionmaker
from cdp.dealers.visibility import DealerScope
from cdp.leads import service as leads
from cdp.migrate import upgrade
from cdp.models import Alert, Appointment, utcnow
from tests.helpers import (
    HTMX,
    SourceKey,
    StaffClient,
    drop_database,
    fresh_database_url,
    make_customer,
    make_dealer,
    make_staff,
    only_lead,
    post,
    post_v1,
    sign_in,
    soup,
    user_id,
)


def alerts_of(factory: sessionmaker[Session], person: int) -> list[Alert]:
    with factory() as session:
        return list(
            session.scalars(select(Alert).where(Alert.user_id == person).order_by(Alert.id))
        )


def give_lead(factory: sessionmaker[Session], pid: uuid.UUID, to: int) -> int:
    """A phone lead for the customer, assigned to `to` (as a manager's form would)."""
    with factory() as session:
        lead = leads.create_lead(
            session, profile_id=pid, channel="phone", created_by_user_id=None, assigned_user_id=to
        )
        session.commit()
        return lead.id


def track(client: TestClient, source: SourceKey, pid: uuid.UUID, factory: sessionmaker[Session],
          event: str, properties: dict[str, object] | None = None) -> None:  # fmt: skip
    """A configurator event for a known customer, from a new device, with their e-mail."""
    from cdp.models import Identity

    with factory() as session:
        email = session.scalars(
            select(Identity.value).where(Identity.profile_id == pid, Identity.kind == "email")
        ).one()
    body = {
        "anonymousId": str(uuid.uuid4()),
        "event": event,
        "properties": properties or {},
        "context": {"traits": {"email": email}},
    }
    response = post_v1(client, source, "track", body)
    assert response.status_code == 200, response.text


def tray_count(client: TestClient) -> str:
    page = soup(client.get("/alerts/tray", headers=HTMX).text)
    count = page.select_one("#alert-count")
    assert count is not None
    return count.get_text(" ", strip=True)


def test_a_lead_given_to_a_salesperson_tells_them_but_not_one_they_took_themselves(
    staff_client: Callable[[str], StaffClient],
    web_source: SourceKey,
    session_factory: sessionmaker[Session],
) -> None:
    seller_email = make_staff(session_factory, role="sales", name="Sam Seller")
    seller = user_id(session_factory, seller_email)
    manager = staff_client("manager")
    pid = make_customer(manager.client, web_source, session_factory, first_name="Noor")
    post_v1(manager.client, web_source, "track", {"anonymousId": "x", "event": "Page"})
    response = post(
        manager,
        f"/showroom/customers/{pid}/leads",
        {"channel": "phone", "assigned_user_id": "none"},
    )
    assert response.status_code == 303
    lead = only_lead(session_factory, pid)
    assert alerts_of(session_factory, seller) == []

    response = post(manager, f"/showroom/leads/{lead.id}/assign",
                    {"assigned_user_id": str(seller)})  # fmt: skip
    assert response.status_code == 303
    [alert] = alerts_of(session_factory, seller)
    assert (alert.kind, alert.profile_id, alert.lead_id) == ("lead_assigned", pid, lead.id)
    assert "phone lead assigned to you" in alert.text

    # A salesperson entering a lead works it: nobody needs telling.
    sales = staff_client("sales")
    me = user_id(session_factory, sales.email)
    other = make_customer(sales.client, web_source, session_factory, first_name="Bram")
    assert (
        post(sales, f"/showroom/customers/{other}/leads", {"channel": "phone"}).status_code == 303
    )
    assert only_lead(session_factory, other).assigned_user_id == me
    assert alerts_of(session_factory, me) == []

    # The function routing calls when it assigns a lead.
    with session_factory() as session:
        routed = leads.get_lead(session, only_lead(session_factory, other).id)
        alerts.lead_assigned(session, routed, seller)
        session.commit()
    assert [a.kind for a in alerts_of(session_factory, seller)] == ["lead_assigned"] * 2


def test_a_customer_back_on_the_configurator_tells_their_salesperson_once_in_half_an_hour(
    app_client: TestClient,
    web_source: SourceKey,
    showroom_source: SourceKey,
    session_factory: sessionmaker[Session],
) -> None:
    seller = user_id(session_factory, make_staff(session_factory, role="sales"))
    pid = make_customer(app_client, web_source, session_factory, first_name="Eva")
    nobody = make_customer(app_client, web_source, session_factory, first_name="Piet")
    lead_id = give_lead(session_factory, pid, seller)
    before = len(alerts_of(session_factory, seller))  # the lead_assigned one

    track(app_client, web_source, pid, session_factory, "Configuration Started")
    track(app_client, web_source, pid, session_factory, "Option Selected", {"category": "colour"})
    track(app_client, web_source, nobody, session_factory, "Configuration Started")  # no lead
    track(app_client, showroom_source, pid, session_factory, "Configuration Started")  # tablet
    new = alerts_of(session_factory, seller)[before:]
    assert [(a.kind, a.text, a.profile_id, a.lead_id) for a in new] == [
        ("customer_back", "is back on the configurator", pid, lead_id)
    ]

    # Half an hour later the next visit is news again; a save says what they did.
    with session_factory() as session:
        for alert in session.scalars(select(Alert).where(Alert.kind == "customer_back")):
            alert.created_at -= timedelta(minutes=31)
        session.commit()
    track(app_client, web_source, pid, session_factory, "Configuration Saved",
          {"configuration_code": "AUR-BACK1", "model": "Aurora"})  # fmt: skip
    latest = alerts_of(session_factory, seller)[-1]
    assert (latest.kind, latest.text) == ("customer_back", "saved a configuration")


def test_a_quote_in_the_same_batch_as_browsing_is_what_the_alert_says(
    app_client: TestClient, web_source: SourceKey, session_factory: sessionmaker[Session]
) -> None:
    seller = user_id(session_factory, make_staff(session_factory, role="sales"))
    pid = make_customer(app_client, web_source, session_factory, first_name="Lotte")
    give_lead(session_factory, pid, seller)
    with session_factory() as session:
        from cdp.models import Identity

        email = session.scalars(
            select(Identity.value).where(Identity.profile_id == pid, Identity.kind == "email")
        ).one()
    batch = {
        "batch": [
            {
                "type": "page",
                "anonymousId": "lotte-1",
                "name": "Configurator",
                "context": {"traits": {"email": email}},
            },
            {
                "type": "track",
                "anonymousId": "lotte-1",
                "event": "Quote Requested",
                "context": {"traits": {"email": email}},
            },
        ]
    }
    assert post_v1(app_client, web_source, "batch", batch).status_code == 200
    back = [a for a in alerts_of(session_factory, seller) if a.kind == "customer_back"]
    assert [a.text for a in back] == ["requested a quote"]


def test_test_drives_booked_and_appointments_checked_in_tell_the_salesperson(
    staff_client: Callable[[str], StaffClient],
    web_source: SourceKey,
    session_factory: sessionmaker[Session],
    app_client: TestClient,
) -> None:
    seller_email = make_staff(session_factory, role="sales", name="Sam Seller")
    seller = user_id(session_factory, seller_email)
    reception = staff_client("reception")
    pid = make_customer(reception.client, web_source, session_factory, first_name="Fleur")
    give_lead(session_factory, pid, seller)

    # Online: a Test Drive Requested of a customer whose lead is theirs.
    in_three_days = (datetime.now(UTC) + timedelta(days=3)).date().isoformat()
    track(app_client, web_source, pid, session_factory, "Test Drive Requested",
          {"preferred_date": in_three_days})  # fmt: skip
    assert alerts_of(session_factory, seller)[-1].text == "requested a test drive"

    # Reception plans one for the salesperson.
    reception = staff_client("reception")
    day = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
    response = post(reception, f"/showroom/customers/{pid}/appointments",
                    {"kind": "test_drive", "starts_date": day, "starts_time": "11:30",
                     "user_id": str(seller)})  # fmt: skip
    assert response.status_code == 303, response.text
    booked = alerts_of(session_factory, seller)[-1]
    assert booked.kind == "test_drive" and booked.text.startswith("test drive booked for ")
    assert booked.appointment_id is not None

    # On the day, reception marks it arrived.
    with session_factory() as session:
        appointment = session.get(Appointment, booked.appointment_id)
        assert appointment is not None
        appointment.starts_at = utcnow()
        session.commit()
    response = post(reception, f"/showroom/appointments/{booked.appointment_id}/status",
                    {"status": "showed"})  # fmt: skip
    assert response.status_code == 303, response.text
    arrived = alerts_of(session_factory, seller)[-1]
    assert (arrived.kind, arrived.appointment_id) == ("checked_in", booked.appointment_id)
    assert arrived.text == "has arrived at reception for their test drive"

    # What they do themselves is no news to them.
    csrf = sign_in(app_client, seller_email)
    mine = StaffClient(client=app_client, email=seller_email, csrf=csrf)
    count = len(alerts_of(session_factory, seller))
    response = post(mine, f"/showroom/customers/{pid}/appointments",
                    {"kind": "test_drive", "starts_date": day, "starts_time": "15:00",
                     "user_id": str(seller)})  # fmt: skip
    assert response.status_code == 303
    assert len(alerts_of(session_factory, seller)) == count


def test_an_sla_warning_reaches_each_manager_once_per_lead(
    app_client: TestClient, web_source: SourceKey, session_factory: sessionmaker[Session]
) -> None:
    managers = [user_id(session_factory, make_staff(session_factory, role="manager"))
                for _ in range(2)]  # fmt: skip
    pid = make_customer(app_client, web_source, session_factory)
    post_v1(app_client, web_source, "track",
            {"anonymousId": "nobody", "event": "Quote Requested"})  # fmt: skip
    lead_id = give_lead(session_factory, pid, user_id(session_factory, make_staff(session_factory)))
    for _ in range(2):  # the SLA job runs every minute and finds the lead each time
        with session_factory() as session:
            alerts.sla_warning(session, leads.get_lead(session, lead_id), managers)
            session.commit()
    for manager in managers:
        [alert] = alerts_of(session_factory, manager)
        assert (alert.kind, alert.lead_id) == ("sla_warning", lead_id)


def test_the_tray_counts_unread_alerts_and_marks_them_read(
    app_client: TestClient, web_source: SourceKey, session_factory: sessionmaker[Session]
) -> None:
    email = make_staff(session_factory, role="sales")
    seller = user_id(session_factory, email)
    pid = make_customer(app_client, web_source, session_factory, first_name="Iris",
                        last_name="Bakker")  # fmt: skip
    give_lead(session_factory, pid, seller)
    track(app_client, web_source, pid, session_factory, "Quote Requested")
    csrf = sign_in(app_client, email)
    me = StaffClient(client=app_client, email=email, csrf=csrf)

    assert tray_count(app_client) == "2 unread"
    tray = soup(app_client.get("/alerts/tray", headers=HTMX).text)
    items = tray.select("li.alert-item")
    assert [li.get_text(" ", strip=True).split(" Mark read")[0][:-12] for li in items] == [
        "Iris Bakker requested a quote",
        "Iris Bakker new phone lead assigned to you",
    ]
    link = items[0].select_one("a")
    assert link is not None
    # Opening an alert reads it and leads to the customer.
    opened = app_client.get(str(link["href"]), follow_redirects=False)
    assert opened.status_code == 303
    assert opened.headers["location"] == f"/showroom/customers/{pid}"
    assert tray_count(app_client) == "1 unread"

    # Mark read (htmx: the tray comes back), then mark all read up to what was listed.
    [first, _second] = alerts_of(session_factory, seller)
    answer = app_client.post(f"/alerts/{first.id}/read", data={"csrf_token": csrf}, headers=HTMX)
    assert answer.status_code == 200 and "No new alerts" in answer.text
    assert tray_count(app_client) == ""
    with session_factory() as session:
        alerts.notify(session, user_id=seller, kind="checked_in", text="has arrived",
                      profile_id=pid)  # fmt: skip
        alerts.notify(session, user_id=seller, kind="checked_in", text="later", profile_id=pid)
        session.commit()
    newest = alerts_of(session_factory, seller)[-1].id
    response = post(me, "/alerts/read", {"up_to": str(newest - 1)})
    assert response.status_code == 303
    assert tray_count(app_client) == "1 unread"  # the one that came after stays unread

    page = soup(app_client.get("/alerts").text)
    assert len(page.select("li.alert-item")) == 4 and len(page.select("li.unread")) == 1
    assert "4 alerts" in page.get_text(" ", strip=True)


def test_nobody_reads_or_opens_another_persons_or_another_dealers_alerts(
    app_client: TestClient, web_source: SourceKey, session_factory: sessionmaker[Session]
) -> None:
    north, south = make_dealer(session_factory, "NORTH"), make_dealer(session_factory, "SOUTH")
    email = make_staff(session_factory, role="sales", dealers=("SOUTH",))
    seller = user_id(session_factory, email)
    other = user_id(session_factory, make_staff(session_factory, role="sales", dealers=("SOUTH",)))
    pid = make_customer(app_client, web_source, session_factory)
    with session_factory() as session:
        alerts.notify(session, user_id=seller, kind="lead_assigned", text="north's",
                      dealer_id=north, profile_id=pid)  # fmt: skip
        alerts.notify(session, user_id=seller, kind="lead_assigned", text="south's",
                      dealer_id=south, profile_id=pid)  # fmt: skip
        alerts.notify(session, user_id=other, kind="lead_assigned", text="theirs", profile_id=pid)
        session.commit()
        tray = alerts.tray(session, user_id=seller, scope=DealerScope(frozenset({south})))
    assert [item.alert.text for item in tray.items] == ["south's"] and tray.unread == 1

    csrf = sign_in(app_client, email)
    assert tray_count(app_client) == "1 unread"
    north_alert, _south_alert, theirs = (
        alerts_of(session_factory, seller)[0],
        alerts_of(session_factory, seller)[1],
        alerts_of(session_factory, other)[0],
    )
    for alert in (north_alert, theirs):
        assert app_client.get(f"/alerts/{alert.id}/open", follow_redirects=False).status_code == 404
        answer = app_client.post(f"/alerts/{alert.id}/read", data={"csrf_token": csrf})
        assert answer.status_code == 404
    for junk in ("abc", "0", "99999999999999999999", "-1"):
        assert app_client.get(f"/alerts/{junk}/open").status_code == 404
    assert app_client.post(f"/alerts/{theirs.id}/read").status_code == 403  # no CSRF token
    assert app_client.get("/alerts?page=zz").status_code == 200
    assert all(a.read_at is None for a in alerts_of(session_factory, other))


def test_alert_pages_and_the_stream_need_a_sign_in(app_client: TestClient) -> None:
    assert app_client.get("/alerts", follow_redirects=False).status_code == 303
    assert app_client.get("/alerts/stream").status_code == 401
    assert app_client.get("/static/vendor/htmx-ext-sse/sse.js").status_code == 200


def test_a_periodic_job_runs_in_its_own_transaction_and_one_process_at_a_time(
    db_kind: str, tmp_path: Path
) -> None:
    url = fresh_database_url(db_kind, tmp_path, f"alerts_jobs_{uuid.uuid4().hex[:6]}")
    engine = make_engine(url)
    try:
        upgrade(engine)
        factory = make_sessionmaker(engine)
        manager = user_id(factory, make_staff(factory, role="manager"))
        runs: list[datetime] = []

        def warn(session: Session, now: datetime) -> None:
            runs.append(now)
            alerts.notify(session, user_id=manager, kind="sla_warning", text="due", now=now)

        job = PeriodicJob("sla warnings", 60, warn)
        assert run_once(factory, job, now=utcnow())
        assert len(alerts_of(factory, manager)) == 1  # committed
        if db_kind == "postgresql":  # another worker holds the job: this one skips the round
            with factory() as other, other.begin():
                other.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": job.lock_key})
                assert not run_once(factory, job, now=utcnow())
            assert len(runs) == 1
    finally:
        engine.dispose()
        drop_database(url)
