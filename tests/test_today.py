"""Today's visitors: appointments planned by staff or requested online, listed with what each
customer configured and how ready they are to buy."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cdp.leads import ingest_hooks as lead_hooks
from cdp.local_time import local_today, to_local
from cdp.models import Appointment, Event, Identity, Lead, LeadStageChange, ProfileSearch, utcnow
from tests.helpers import (
    CALENDAR_ENDS,
    HOSTILE_IDS,
    SourceKey,
    StaffClient,
    count,
    field_error_text,
    make_customer,
    only_lead,
    post,
    sign_in,
    soup,
    text_at,
    user_id,
)


def tomorrow() -> str:
    return (local_today(utcnow()) + timedelta(days=1)).isoformat()


def stored_events(
    factory: sessionmaker[Session], profile_id: uuid.UUID, name: str
) -> list[tuple[int, uuid.UUID, str | None, dict[str, object], datetime]]:
    with factory() as session:
        return [
            (e.id, e.profile_id, e.name, e.properties, e.occurred_at)
            for e in session.scalars(
                select(Event).where(Event.profile_id == profile_id, Event.name == name)
            )
        ]


def test_a_test_drive_request_makes_one_appointment_and_a_lead_however_often_it_is_replayed(
    app_client: TestClient, web_source: SourceKey, session_factory: sessionmaker[Session]
) -> None:
    wanted = local_today(utcnow()) + timedelta(days=3)
    pid = make_customer(
        app_client,
        web_source,
        session_factory,
        events=[
            ("Test Drive Requested", {"model": "Aurora", "preferred_date": wanted.isoformat()}),
        ],
    )
    events = stored_events(session_factory, pid, "Test Drive Requested")
    assert len(events) == 1
    for _ in range(2):  # ingest may already have called the hook: a replay adds nothing
        with session_factory() as session:
            lead_hooks.handle_lead_events(session, events)
            session.commit()

    with session_factory() as session:
        appointments = session.scalars(
            select(Appointment).where(Appointment.profile_id == pid)
        ).all()
        leads = session.scalars(select(Lead).where(Lead.profile_id == pid)).all()
    assert len(appointments) == 1
    appointment = appointments[0]
    assert (appointment.kind, appointment.status, appointment.model) == (
        "test_drive",
        "planned",
        "Aurora",
    )
    assert appointment.source_event_id == events[0][0]
    local = to_local(appointment.starts_at)
    assert (local.date(), local.strftime("%H:%M")) == (wanted, "10:00")
    assert [(lead.channel, lead.stage, lead.model) for lead in leads] == [
        ("website", "new", "Aurora")
    ]
    assert appointment.lead_id == leads[0].id


def test_a_test_drive_request_with_an_impossible_preferred_date_makes_a_lead_without_a_date(
    app_client: TestClient, web_source: SourceKey, session_factory: sessionmaker[Session]
) -> None:
    today = local_today(utcnow())
    wanted = (today + timedelta(days=3)).isoformat()
    ignored = [
        "0001-01-01",
        "0001-01-01T00:05",  # showroom time: before the first UTC instant
        "9999-12-31",
        "9999-12-31T23:30Z",  # stored, it broke the customer's pages
        "9999-12-31T23:30-14:00",
        "1999-12-31",
        (today + timedelta(days=800)).isoformat(),
    ]
    devices = {preferred: str(uuid.uuid4()) for preferred in [*ignored, wanted]}
    batch = [
        {
            "type": "track",
            "anonymousId": device,
            "event": "Test Drive Requested",
            "properties": {"model": "Aurora", "preferred_date": preferred},
        }
        for preferred, device in devices.items()
    ]
    response = app_client.post("/v1/batch", json={"batch": batch}, headers=web_source.auth)
    assert response.status_code == 200, response.text
    assert (response.json()["accepted"], response.json()["rejected"]) == (len(batch), [])
    with session_factory() as session:
        for preferred, device in devices.items():
            pid = session.scalars(
                select(Identity.profile_id).where(
                    Identity.kind == "anonymous_id", Identity.value == device
                )
            ).one()
            leads = session.scalars(select(Lead).where(Lead.profile_id == pid)).all()
            appointments = session.scalars(
                select(Appointment).where(Appointment.profile_id == pid)
            ).all()
            assert [(lead.channel, lead.model) for lead in leads] == [("website", "Aurora")]
            assert len(appointments) == (1 if preferred == wanted else 0), preferred


def test_a_stored_time_at_the_end_of_the_calendar_does_not_break_the_pages(
    staff_client: Callable[[str], StaffClient],
    web_source: SourceKey,
    session_factory: sessionmaker[Session],
) -> None:
    """Data stored before ingest ignored such dates: shown in UTC, the pages still open."""
    sales = staff_client("sales")
    pid = make_customer(sales.client, web_source, session_factory)
    post(sales, f"/showroom/customers/{pid}/leads", {"channel": "phone"})
    lead = only_lead(session_factory, pid)
    last = datetime(9999, 12, 31, 23, 30, tzinfo=UTC)  # there is no 9999-12-31 00:30 CET+1
    with session_factory() as session:
        session.add(
            Appointment(
                dealer_id=lead.dealer_id,  # what staff see is their dealer's
                profile_id=pid,
                lead_id=lead.id,
                kind="test_drive",
                starts_at=last,
            )
        )
        stored = session.get(Lead, lead.id)
        assert stored is not None
        stored.next_action, stored.next_action_at = "Call", last
        session.commit()
    for url in (
        f"/showroom/customers/{pid}",
        f"/showroom/customers/{pid}/deal",
        f"/showroom/customers/{pid}/appointments/new",
        "/showroom/leads",
        "/showroom/today",
    ):
        response = sales.client.get(url)
        assert response.status_code == 200, url
    page = soup(sales.client.get(f"/showroom/customers/{pid}").text).get_text(" ")
    assert "31-12-9999 23:30" in page


def test_a_quote_request_makes_a_website_lead_only_when_there_is_no_open_one(
    app_client: TestClient, web_source: SourceKey, session_factory: sessionmaker[Session]
) -> None:
    pid = make_customer(
        app_client,
        web_source,
        session_factory,
        events=[("Quote Requested", {"model": "Nova", "configuration_code": "NOV-1"})],
    )
    events = stored_events(session_factory, pid, "Quote Requested")
    with session_factory() as session:
        lead_hooks.handle_lead_events(session, events)
        lead_hooks.handle_lead_events(session, events)
        session.commit()
    lead = only_lead(session_factory, pid)
    assert (lead.channel, lead.model, lead.assigned_user_id, lead.source_event_id) == (
        "website",
        "Nova",
        None,
        events[0][0],
    )
    assert count(session_factory, LeadStageChange, LeadStageChange.lead_id == lead.id) == 1


def test_one_batch_of_requests_gives_each_customer_one_lead_and_each_dated_test_drive_one_visit(
    app_client: TestClient, web_source: SourceKey, session_factory: sessionmaker[Session]
) -> None:
    wanted = local_today(utcnow()) + timedelta(days=4)
    anna, bram = (
        make_customer(app_client, web_source, session_factory, first_name=name, model=None)
        for name in ("Anna", "Bram")
    )
    with session_factory() as session:
        devices = {
            pid: session.scalars(
                select(Event.anonymous_id).where(Event.profile_id == pid).limit(1)
            ).one()
            for pid in (anna, bram)
        }

    def request(pid: uuid.UUID, name: str, minute: int, **properties: object) -> dict[str, object]:
        at = utcnow() - timedelta(minutes=30 - minute)
        return {
            "type": "track",
            "anonymousId": devices[pid],
            "event": name,
            "properties": {"model": "Nova", **properties},
            "timestamp": at.isoformat(),
        }

    batch = [
        request(anna, "Quote Requested", 1),
        request(anna, "Test Drive Requested", 2, preferred_date=wanted.isoformat()),
        request(bram, "Test Drive Requested", 3, preferred_date="whenever suits"),
        request(bram, "Test Drive Requested", 4, preferred_date=wanted.isoformat()),
    ]
    response = app_client.post("/v1/batch", json={"batch": batch}, headers=web_source.auth)
    assert response.status_code == 200, response.text

    for pid, first_event in ((anna, "Quote Requested"), (bram, "Test Drive Requested")):
        lead = only_lead(session_factory, pid)
        with session_factory() as session:
            made_by = session.get(Event, lead.source_event_id)
            visits = session.scalars(select(Appointment).where(Appointment.profile_id == pid)).all()
            search = session.get(ProfileSearch, pid)
        assert made_by is not None and made_by.name == first_event  # the earliest request
        assert (lead.channel, lead.stage, lead.model) == ("website", "new", "Nova")
        assert count(session_factory, LeadStageChange, LeadStageChange.lead_id == lead.id) == 1
        assert [(v.lead_id, v.kind, to_local(v.starts_at).date()) for v in visits] == [
            (lead.id, "test_drive", wanted)
        ]
        assert search is not None and search.lead_stage == "new"  # lookup shows the new lead


def test_preferred_dates_are_read_in_showroom_time() -> None:
    summer = lead_hooks.preferred_start({"preferred_date": "2026-07-14"})
    winter = lead_hooks.preferred_start(
        {"preferred_date": "2026-01-14", "preferred_time": "afternoon"}
    )
    assert summer == datetime(2026, 7, 14, 8, 0, tzinfo=UTC)  # 10:00 CEST
    assert winter == datetime(2026, 1, 14, 13, 0, tzinfo=UTC)  # 14:00 CET
    assert lead_hooks.preferred_start({"preferred_date": "2026-07-14T16:30"}) == datetime(
        2026, 7, 14, 14, 30, tzinfo=UTC
    )
    assert lead_hooks.preferred_start({"preferred_date": "2026-07-14T16:30:00Z"}) == datetime(
        2026, 7, 14, 16, 30, tzinfo=UTC
    )
    for bad in ({}, {"preferred_date": "next week"}, {"preferred_date": 20260714}):
        assert lead_hooks.preferred_start(bad) is None


def test_today_lists_each_visitor_with_their_configuration_and_signals(
    staff_client: Callable[[str], StaffClient],
    web_source: SourceKey,
    session_factory: sessionmaker[Session],
    app_client: TestClient,
) -> None:
    sales = staff_client("sales")
    me = user_id(session_factory, sales.email)
    pid = make_customer(
        sales.client,
        web_source,
        session_factory,
        first_name="Fleur",
        last_name="Jansen",
        code="AUR-TODAY",
        events=[("Finance Calculated", {"monthly_payment": 499})],
    )
    post(sales, f"/showroom/customers/{pid}/leads", {"channel": "phone"})
    response = post(
        sales,
        f"/showroom/customers/{pid}/appointments",
        {
            "kind": "test_drive",
            "starts_date": tomorrow(),
            "starts_time": "11:30",
            "user_id": str(me),
            "model": "",
        },
    )
    assert response.status_code == 303
    lead = only_lead(session_factory, pid)
    assert lead.stage == "appointment"  # planning a test drive moves the lead along

    page = soup(sales.client.get("/showroom/today").text)
    rows = page.select("li.visitor")
    assert len(rows) == 1
    row = rows[0]
    day = row.find_parent("section")
    assert day is not None and "Tomorrow" in text_at(day, "h2")
    text = row.get_text(" ", strip=True)
    assert text_at(row, "time.at") == "11:30"
    assert "Test drive" in text and "Fleur Jansen" in text
    assert "Aurora" in text and "GT Line" in text and "AUR-TODAY" in text and "45.990" in text
    swatch = row.select_one(".swatch")
    assert swatch is not None and "#b3261e" in str(swatch["style"])
    signals = [li.get_text(strip=True) for li in row.select(".signal-list li")]
    assert signals == ["Saved configuration", "Finance calculated"]
    link = row.select_one("a.customer")
    assert link is not None and link["href"] == f"/showroom/customers/{pid}"

    htmx = sales.client.get("/showroom/today?mine=1", headers={"HX-Request": "true"})
    assert "<html" not in htmx.text and len(soup(htmx.text).select("li.visitor")) == 1

    other = staff_client("sales")  # someone else's visitor is not under "mine only"
    assert soup(other.client.get("/showroom/today?mine=1").text).select("li.visitor") == []
    assert len(soup(other.client.get("/showroom/today").text).select("li.visitor")) == 1

    reception = staff_client("reception")  # reception prepares the welcome too
    assert len(soup(reception.client.get("/showroom/today").text).select("li.visitor")) == 1

    # Tomorrow's visitor cannot be marked arrived today: refused, nothing changes.
    csrf = sign_in(app_client, sales.email)
    with session_factory() as session:
        appointment_id = session.scalars(
            select(Appointment.id).where(Appointment.profile_id == pid)
        ).one()
    early = app_client.post(
        f"/showroom/appointments/{appointment_id}/status",
        data={"csrf_token": csrf, "status": "showed"},
        follow_redirects=False,
    )
    assert early.status_code == 400
    assert only_lead(session_factory, pid).stage == "appointment"

    # On the day itself, arrived for the test drive: the lead is at test drive.
    with session_factory() as session:
        appointment = session.get(Appointment, appointment_id)
        assert appointment is not None
        appointment.starts_at = datetime.now(UTC)
        session.commit()
    response = app_client.post(
        f"/showroom/appointments/{appointment_id}/status",
        data={"csrf_token": csrf, "status": "showed"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert only_lead(session_factory, pid).stage == "test_drive"


def test_an_invalid_appointment_is_refused_with_the_reason(
    staff_client: Callable[[str], StaffClient],
    web_source: SourceKey,
    session_factory: sessionmaker[Session],
) -> None:
    sales = staff_client("sales")
    pid = make_customer(sales.client, web_source, session_factory)
    cases = [
        ({"kind": "visit", "starts_date": "2020-05-01"}, "That time has passed"),
        ({"kind": "visit", "starts_date": ""}, "Pick the day"),
        ({"kind": "visit", "starts_date": tomorrow(), "starts_time": "25:99"}, "not a time"),
        ({"kind": "party", "starts_date": tomorrow()}, "Choose a visit"),
        ({"kind": "visit", "starts_date": tomorrow(), "user_id": "999999"}, "Choose who"),
    ]
    for data, message in cases:
        response = post(sales, f"/showroom/customers/{pid}/appointments", data)
        assert response.status_code == 400, data
        assert message in field_error_text(response.text) or message in response.text, data
    assert count(session_factory, Appointment, Appointment.profile_id == pid) == 0
    unknown = post(
        sales,
        f"/showroom/customers/{uuid.uuid4()}/appointments",
        {"kind": "visit", "starts_date": tomorrow()},
    )
    assert unknown.status_code == 404


@pytest.mark.parametrize(("day", "at"), CALENDAR_ENDS)
def test_an_appointment_at_the_ends_of_the_calendar_is_a_form_error(
    staff_client: Callable[[str], StaffClient],
    web_source: SourceKey,
    session_factory: sessionmaker[Session],
    day: str,
    at: str,
) -> None:
    sales = staff_client("sales")
    pid = make_customer(sales.client, web_source, session_factory)
    response = post(
        sales,
        f"/showroom/customers/{pid}/appointments",
        {"kind": "visit", "starts_date": day, "starts_time": at},
    )
    assert response.status_code == 400
    error = soup(response.text).select_one("#appointment-starts_at-x-error")
    assert error is not None and error.get_text(strip=True)
    assert count(session_factory, Appointment, Appointment.profile_id == pid) == 0


@pytest.mark.parametrize("bad", HOSTILE_IDS)
def test_impossible_appointment_and_host_ids_are_a_404_or_refused(
    staff_client: Callable[[str], StaffClient],
    web_source: SourceKey,
    session_factory: sessionmaker[Session],
    bad: str,
) -> None:
    sales = staff_client("sales")
    pid = make_customer(sales.client, web_source, session_factory)
    refused = post(
        sales,
        f"/showroom/customers/{pid}/appointments",
        {"kind": "visit", "starts_date": tomorrow(), "user_id": bad},
    )
    assert refused.status_code == 400
    assert "Choose who" in field_error_text(refused.text)
    assert count(session_factory, Appointment, Appointment.profile_id == pid) == 0
    missing = post(sales, f"/showroom/appointments/{bad}/status", {"status": "showed"})
    assert missing.status_code == 404
    assert "There is no appointment" in missing.text


def test_reception_plans_appointments_on_a_page_of_their_own(
    staff_client: Callable[[str], StaffClient],
    web_source: SourceKey,
    session_factory: sessionmaker[Session],
) -> None:
    reception = staff_client("reception")
    pid = make_customer(reception.client, web_source, session_factory)
    page = soup(reception.client.get(f"/showroom/customers/{pid}/appointments/new").text)
    form = page.select_one("form.plan-form")
    assert form is not None and form["action"] == f"/showroom/customers/{pid}/appointments"
    response = post(
        reception,
        f"/showroom/customers/{pid}/appointments",
        {"kind": "visit", "starts_date": tomorrow(), "starts_time": "09:15"},
    )
    assert response.status_code == 303
    assert count(session_factory, Appointment, Appointment.profile_id == pid) == 1
    # Reception plans visits but does not work leads.
    assert (
        post(reception, f"/showroom/customers/{pid}/leads", {"channel": "walk_in"}).status_code
        == 403
    )


def test_the_visitor_list_is_empty_when_nobody_is_expected(
    staff_client: Callable[[str], StaffClient],
) -> None:
    sales = staff_client("sales")
    page = soup(sales.client.get("/showroom/today").text)
    assert page.select("li.visitor") == []
    assert "No visitors expected" in text_at(page, ".empty-state")
