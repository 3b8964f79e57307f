"""The showroom floor through its pages: reception checks in an appointment, a walk-in and a
be-back, the salesperson proposed (their own, else the one who is up), ending a visit, a walk-in
made a lead, the daily show rate, and one dealer's floor invisible to another dealer's staff."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, time, timedelta

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cdp.local_time import local_start, local_today
from cdp.models import Appointment, Lead, ShowroomVisit, utcnow
from tests.helpers import (
    HOSTILE_IDS,
    SourceKey,
    StaffClient,
    make_customer,
    make_dealer,
    make_staff,
    make_token,
    post,
    sign_in,
    soup,
    text_at,
    user_id,
)


@dataclass
class Floor:
    dealer: int
    other_dealer: int
    reception: StaffClient
    people: dict[str, int]  # salesperson name -> user id


def signed_in(
    client: TestClient, factory: sessionmaker[Session], role: str, *dealers: str
) -> StaffClient:
    email = make_staff(factory, role=role, dealers=dealers)
    client.cookies.clear()
    return StaffClient(client=client, email=email, csrf=sign_in(client, email))


def salesperson(factory: sessionmaker[Session], name: str, dealer: str) -> int:
    return user_id(factory, make_staff(factory, role="sales", name=name, dealers=(dealer,)))


def floor_of(client: TestClient, factory: sessionmaker[Session]) -> Floor:
    """Dealer NL-A with Anna, Bart and Cees on the floor and a receptionist; dealer BE-B with
    its own salesperson (never proposed at A)."""
    dealer = make_dealer(factory, "NL-A")
    other = make_dealer(factory, "BE-B")
    people = {name: salesperson(factory, name, "NL-A") for name in ("Anna", "Bart", "Cees")}
    salesperson(factory, "Bea of B", "BE-B")
    return Floor(dealer, other, signed_in(client, factory, "reception", "NL-A"), people)


def appointment(
    factory: sessionmaker[Session],
    *,
    profile_id: uuid.UUID,
    dealer_id: int,
    starts_at: datetime | None = None,
    user: int | None = None,
    kind: str = "visit",
    status: str = "planned",
    lead_id: int | None = None,
) -> int:
    with factory() as session:
        row = Appointment(
            dealer_id=dealer_id,
            profile_id=profile_id,
            lead_id=lead_id,
            user_id=user,
            kind=kind,
            status=status,
            starts_at=starts_at or utcnow(),
        )
        session.add(row)
        session.commit()
        return row.id


def lead(factory: sessionmaker[Session], profile_id: uuid.UUID, dealer_id: int, user: int) -> int:
    with factory() as session:
        row = Lead(
            dealer_id=dealer_id,
            profile_id=profile_id,
            channel="website",
            stage="new",
            assigned_user_id=user,
        )
        session.add(row)
        session.commit()
        return row.id


def proposed(response: httpx.Response) -> str:
    """The salesperson ticked on the check-in step, and why (the proposal line)."""
    page = soup(response.text)
    ticked = page.select_one("input[name=salesperson][checked]")
    assert ticked is not None, response.text
    label = ticked.find_parent("label")
    assert label is not None
    return text_at(label, ".name")


def check_in(
    staff: StaffClient, dealer: int, kind: str, salesperson: int, **fields: str
) -> httpx.Response:
    data = {"dealer": str(dealer), "kind": kind, "salesperson": str(salesperson), **fields}
    return post(staff, "/showroom/floor/visits", data)


def visits(factory: sessionmaker[Session]) -> list[ShowroomVisit]:
    with factory() as session:
        return list(session.scalars(select(ShowroomVisit).order_by(ShowroomVisit.id)))


def step(staff: StaffClient, dealer: int, **query: str) -> httpx.Response:
    return staff.client.get("/showroom/floor/check-in", params={"dealer": dealer, **query})


# --- checking in ---------------------------------------------------------------------------
def test_an_appointment_is_checked_in_with_its_own_salesperson_and_marked_showed(
    app_client: TestClient, web_source: SourceKey, session_factory: sessionmaker[Session]
) -> None:
    floor = floor_of(app_client, session_factory)
    pid = make_customer(app_client, web_source, session_factory, first_name="Noor")
    lead_id = lead(session_factory, pid, floor.dealer, floor.people["Cees"])
    booked = appointment(
        session_factory,
        profile_id=pid,
        dealer_id=floor.dealer,
        user=floor.people["Bart"],
        lead_id=lead_id,
    )
    page = soup(floor.reception.client.get("/showroom/floor").text)
    assert "Noor de Vries" in text_at(page, f"#expected-{booked}")

    offer = step(floor.reception, floor.dealer, kind="appointment", appointment=str(booked))
    assert offer.status_code == 200
    assert proposed(offer) == "Bart"  # the appointment's salesperson, before the lead's or Anna
    assert "their own salesperson" in text_at(soup(offer.text), ".proposal")

    answer = check_in(
        floor.reception, floor.dealer, "appointment", floor.people["Bart"], appointment=str(booked)
    )
    assert answer.status_code == 303
    [visit] = visits(session_factory)
    assert (visit.kind, visit.profile_id, visit.appointment_id, visit.lead_id) == (
        "appointment",
        pid,
        booked,
        lead_id,
    )
    assert visit.salesperson_user_id == floor.people["Bart"] and visit.ended_at is None
    assert visit.checked_in_by_user_id == user_id(session_factory, floor.reception.email)
    with session_factory() as session:
        marked = session.get(Appointment, booked)
        moved = session.get(Lead, lead_id)
        assert marked is not None and marked.status == "showed"
        assert moved is not None and moved.stage == "appointment"  # through the appointment rules

    page = soup(floor.reception.client.get(answer.headers["location"]).text)
    assert f"#expected-{booked}" not in str(page) and page.select_one(f"#expected-{booked}") is None
    now = text_at(page, f"#visit-{visit.id}")
    assert "Noor de Vries" in now and "with Bart" in now and "min" in now
    # Checked in once: the same appointment again is refused, with the reason.
    again = check_in(
        floor.reception, floor.dealer, "appointment", floor.people["Anna"], appointment=str(booked)
    )
    assert again.status_code == 400
    assert "has arrived already" in text_at(soup(again.text), ".error")
    assert len(visits(session_factory)) == 1


def test_a_walk_in_is_checked_in_anonymously_with_a_name_and_later_linked_to_the_customer(
    app_client: TestClient, web_source: SourceKey, session_factory: sessionmaker[Session]
) -> None:
    floor = floor_of(app_client, session_factory)
    pid = make_customer(app_client, web_source, session_factory, first_name="Jorn")
    offer = step(floor.reception, floor.dealer, kind="walk_in", visitor_name="  Mr Jansen ")
    assert offer.status_code == 200 and proposed(offer) == "Anna"
    assert "next up" in text_at(soup(offer.text), ".proposal")
    answer = check_in(
        floor.reception, floor.dealer, "walk_in", floor.people["Anna"], visitor_name="Mr Jansen"
    )
    assert answer.status_code == 303
    [visit] = visits(session_factory)
    assert (visit.kind, visit.profile_id, visit.visitor_name) == ("walk_in", None, "Mr Jansen")

    page = soup(floor.reception.client.get("/showroom/floor").text)
    assert "Mr Jansen" in text_at(page, f"#visit-{visit.id}")
    asking = floor.reception.client.get(
        "/showroom/floor/search", params={"dealer": floor.dealer, "q": "Jorn", "link": visit.id}
    )
    assert "This is them" in asking.text
    linked = post(
        floor.reception, f"/showroom/floor/visits/{visit.id}/customer", {"profile": str(pid)}
    )
    assert linked.status_code == 303
    assert visits(session_factory)[0].profile_id == pid


def test_a_be_back_is_found_by_the_search_and_gets_the_salesperson_of_their_open_lead(
    app_client: TestClient, web_source: SourceKey, session_factory: sessionmaker[Session]
) -> None:
    floor = floor_of(app_client, session_factory)
    pid = make_customer(app_client, web_source, session_factory, first_name="Fenna")
    lead_id = lead(session_factory, pid, floor.dealer, floor.people["Cees"])
    found = floor.reception.client.get(
        "/showroom/floor/search", params={"dealer": floor.dealer, "q": "Fenna de Vries"}
    )
    links = [a["href"] for a in soup(found.text).select(".floor-results a.tap")]
    assert f"/showroom/floor/check-in?dealer={floor.dealer}&kind=be_back&profile={pid}" in links
    offer = step(floor.reception, floor.dealer, kind="be_back", profile=str(pid))
    assert proposed(offer) == "Cees"
    answer = check_in(
        floor.reception, floor.dealer, "be_back", floor.people["Cees"], profile=str(pid)
    )
    assert answer.status_code == 303
    [visit] = visits(session_factory)
    assert (visit.kind, visit.profile_id, visit.lead_id) == ("be_back", pid, lead_id)
    # On the floor already: a second check-in of the same customer is refused.
    twice = step(floor.reception, floor.dealer, kind="be_back", profile=str(pid))
    assert twice.status_code == 409 and "on the floor already" in twice.text


def test_a_lead_at_another_dealer_does_not_choose_the_salesperson(
    app_client: TestClient, web_source: SourceKey, session_factory: sessionmaker[Session]
) -> None:
    floor = floor_of(app_client, session_factory)
    pid = make_customer(app_client, web_source, session_factory)
    elsewhere = salesperson(session_factory, "Bob of B", "BE-B")
    lead(session_factory, pid, floor.other_dealer, elsewhere)
    offer = step(floor.reception, floor.dealer, kind="be_back", profile=str(pid))
    assert proposed(offer) == "Anna"
    names = [n.get_text(strip=True) for n in soup(offer.text).select(".salespeople .name")]
    assert names == ["Anna", "Bart", "Cees"]  # only this dealer's staff are offered


def test_the_rotation_proposes_who_has_waited_longest_and_skips_who_is_busy(
    app_client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    floor = floor_of(app_client, session_factory)
    anna, bart, cees = (floor.people[n] for n in ("Anna", "Bart", "Cees"))

    def next_up() -> str:
        return proposed(step(floor.reception, floor.dealer, kind="walk_in"))

    def take(who: int) -> int:
        assert check_in(floor.reception, floor.dealer, "walk_in", who).status_code == 303
        return visits(session_factory)[-1].id

    def end(visit_id: int) -> None:
        done = post(floor.reception, f"/showroom/floor/visits/{visit_id}/end", {"confirm": "yes"})
        assert done.status_code == 303

    assert next_up() == "Anna"  # nobody has had a visit: by name
    first = take(anna)
    assert next_up() == "Bart"  # Anna is busy
    second = take(bart)
    assert next_up() == "Cees"
    end(first)
    assert next_up() == "Cees"  # never had a visit: waited longest
    take(cees)
    assert next_up() == "Anna"  # Bart and Cees busy
    end(second)
    assert next_up() == "Anna"  # her last visit began before Bart's
    take(anna)
    assert next_up() == "Bart"
    take(bart)  # everyone busy: nobody proposed, reception chooses
    page = soup(step(floor.reception, floor.dealer, kind="walk_in").text)
    assert page.select_one("input[name=salesperson][checked]") is None
    assert "Every salesperson is with a customer" in text_at(page, ".proposal")
    subs = [s.get_text(" ", strip=True) for s in page.select(".salespeople .sub")]
    assert all("with a customer since" in s for s in subs)
    with session_factory() as session:
        rows = session.scalars(select(ShowroomVisit).order_by(ShowroomVisit.id)).all()
        assert [r.salesperson_user_id for r in rows] == [anna, bart, cees, anna, bart]


# --- ending a visit, and a walk-in lead ---------------------------------------------------------
def test_ending_a_visit_asks_first_then_stops_its_time_with_the_outcome(
    app_client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    floor = floor_of(app_client, session_factory)
    check_in(floor.reception, floor.dealer, "walk_in", floor.people["Anna"], visitor_name="Eva")
    [visit] = visits(session_factory)
    url = f"/showroom/floor/visits/{visit.id}/end"
    asked = post(floor.reception, url, {"outcome": "test_drive", "note": "Liked the estate"})
    assert asked.status_code == 200
    page = soup(asked.text)
    assert text_at(page, "h1") == "End the visit of Eva?"
    hidden = {i["name"]: i["value"] for i in page.select("form input[type=hidden]")}
    assert hidden["confirm"] == "yes" and hidden["outcome"] == "test_drive"
    assert visits(session_factory)[0].ended_at is None  # nothing changed yet

    done = post(floor.reception, url, {k: str(v) for k, v in hidden.items() if k != "csrf_token"})
    assert done.status_code == 303
    [ended] = visits(session_factory)
    assert ended.ended_at is not None and ended.outcome == "test_drive"
    assert ended.note == "Liked the estate"
    assert ended.ended_by_user_id == user_id(session_factory, floor.reception.email)
    page = soup(floor.reception.client.get("/showroom/floor").text)
    assert page.select_one(f"#visit-{visit.id}") is None
    assert "Test drive taken" in text_at(page, f"#visit-row-{visit.id}")
    again = post(floor.reception, url, {"confirm": "yes"})
    assert again.status_code == 400 and "ended at" in again.text


def test_a_walk_in_becomes_a_walk_in_lead_of_their_salesperson_in_one_step(
    app_client: TestClient, web_source: SourceKey, session_factory: sessionmaker[Session]
) -> None:
    floor = floor_of(app_client, session_factory)
    pid = make_customer(app_client, web_source, session_factory)
    check_in(floor.reception, floor.dealer, "walk_in", floor.people["Bart"], profile=str(pid))
    [visit] = visits(session_factory)
    page = soup(floor.reception.client.get("/showroom/floor").text)
    assert "Make a walk-in lead" in text_at(page, f"#visit-{visit.id}")
    made = post(floor.reception, f"/showroom/floor/visits/{visit.id}/lead")
    assert made.status_code == 303
    with session_factory() as session:
        lead_row = session.scalars(select(Lead).where(Lead.profile_id == pid)).one()
    assert (lead_row.channel, lead_row.dealer_id, lead_row.assigned_user_id, lead_row.stage) == (
        "walk_in",
        floor.dealer,
        floor.people["Bart"],
        "new",
    )
    assert visits(session_factory)[0].lead_id == lead_row.id
    page = soup(floor.reception.client.get("/showroom/floor").text)
    assert "Make a walk-in lead" not in text_at(page, f"#visit-{visit.id}")
    twice = post(floor.reception, f"/showroom/floor/visits/{visit.id}/lead")
    assert twice.status_code == 409 and "open lead" in twice.text


def test_a_be_back_without_an_open_lead_becomes_a_be_back_lead(
    app_client: TestClient, web_source: SourceKey, session_factory: sessionmaker[Session]
) -> None:
    floor = floor_of(app_client, session_factory)
    pid = make_customer(app_client, web_source, session_factory)
    check_in(floor.reception, floor.dealer, "be_back", floor.people["Cees"], profile=str(pid))
    [visit] = visits(session_factory)
    page = soup(floor.reception.client.get("/showroom/floor").text)
    assert "Make a be-back lead" in text_at(page, f"#visit-{visit.id}")
    made = post(floor.reception, f"/showroom/floor/visits/{visit.id}/lead")
    assert made.status_code == 303
    with session_factory() as session:
        lead_row = session.scalars(select(Lead).where(Lead.profile_id == pid)).one()
    assert (lead_row.channel, lead_row.dealer_id, lead_row.assigned_user_id) == (
        "be_back",
        floor.dealer,
        floor.people["Cees"],
    )


def test_an_anonymous_walk_in_cannot_become_a_lead_before_it_is_known(
    app_client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    floor = floor_of(app_client, session_factory)
    check_in(floor.reception, floor.dealer, "walk_in", floor.people["Anna"])
    [visit] = visits(session_factory)
    refused = post(floor.reception, f"/showroom/floor/visits/{visit.id}/lead")
    assert refused.status_code == 400
    assert "not a known customer yet" in text_at(
        soup(refused.text), f"#visit-{visit.id} .field-error"
    )


# --- the daily figures ---------------------------------------------------------------------
def test_the_daily_show_rate_counts_a_hand_made_day_exactly(
    app_client: TestClient, web_source: SourceKey, session_factory: sessionmaker[Session]
) -> None:
    floor = floor_of(app_client, session_factory)
    pid = make_customer(app_client, web_source, session_factory)
    today = local_today(utcnow())
    yesterday = today - timedelta(days=1)

    def at(day: object, hour: int, minute: int = 0) -> datetime:
        return local_start(day, time(hour, minute))  # type: ignore[arg-type]

    def plan(day: object, status: str, kind: str = "visit", dealer: int = floor.dealer) -> int:
        return appointment(
            session_factory,
            profile_id=pid,
            dealer_id=dealer,
            starts_at=at(day, 9),
            kind=kind,
            status=status,
        )

    showed = plan(today, "showed")
    plan(today, "no_show")
    plan(today, "planned", kind="test_drive")
    plan(today, "cancelled")  # not counted
    plan(today, "planned", kind="delivery")  # the handover team's, not the floor's
    plan(yesterday, "showed")
    plan(yesterday, "showed")
    plan(today, "no_show", dealer=floor.other_dealer)  # another dealer's
    with session_factory() as session:

        def visit(kind: str, arrived: datetime, minutes: int | None, **extra: object) -> None:
            session.add(
                ShowroomVisit(
                    dealer_id=extra.pop("dealer", floor.dealer),
                    kind=kind,
                    arrived_at=arrived,
                    started_with_salesperson_at=arrived,
                    ended_at=arrived + timedelta(minutes=minutes) if minutes is not None else None,
                    **extra,
                )
            )

        visit("appointment", at(today, 9, 5), 20, appointment_id=showed, profile_id=pid)
        visit("walk_in", at(today, 10), 30)
        visit("walk_in", at(today, 11), 45)
        visit("be_back", at(today, 0, 1), None)  # still on the floor: no length yet
        visit("walk_in", at(yesterday, 23, 59), 90)  # counts on the day it arrived
        visit("walk_in", at(today, 12), 10, dealer=floor.other_dealer)
        session.commit()

    page = soup(floor.reception.client.get("/showroom/floor").text)

    def row(day: object) -> list[str]:
        cells = page.select(f"#day-{day.isoformat()} td.n")  # type: ignore[attr-defined]
        return [cell.get_text(strip=True) for cell in cells]

    # appointments, showed, no show, show rate, walk-ins, be-backs, average visit
    assert row(today) == ["3", "1", "1", "33%", "2", "1", "32 min"]  # (20 + 30 + 45) / 3
    assert row(yesterday) == ["2", "2", "0", "100%", "1", "0", "90 min"]
    assert row(today - timedelta(days=2)) == ["0", "0", "0", "–", "0", "0", "–"]
    assert len(page.select(".figures tbody tr")) == 14


# --- dealers ---------------------------------------------------------------------------------
def test_another_dealers_floor_visits_and_appointments_are_invisible(
    app_client: TestClient, web_source: SourceKey, session_factory: sessionmaker[Session]
) -> None:
    floor = floor_of(app_client, session_factory)
    pid = make_customer(app_client, web_source, session_factory, first_name="Merel")
    booked = appointment(session_factory, profile_id=pid, dealer_id=floor.dealer)
    check_in(floor.reception, floor.dealer, "walk_in", floor.people["Anna"], visitor_name="Piet")
    [visit] = visits(session_factory)

    other = signed_in(app_client, session_factory, "sales", "BE-B")
    own_page = other.client.get("/showroom/floor")
    assert own_page.status_code == 200
    page = soup(own_page.text)
    assert "Piet" not in own_page.text and "Merel" not in own_page.text
    assert page.select(".floor-visit") == [] and page.select(".expected li") == []
    assert [
        cell.get_text(strip=True) for cell in page.select(f"#day-{local_today(utcnow())} td.n")
    ][4] == "0"
    for response in (
        other.client.get("/showroom/floor", params={"dealer": floor.dealer}),
        other.client.get("/showroom/floor/now", params={"dealer": floor.dealer}),
        step(other, floor.dealer, kind="walk_in"),
        step(other, floor.other_dealer, kind="appointment", appointment=str(booked)),
        other.client.get(
            "/showroom/floor/search", params={"dealer": floor.other_dealer, "link": visit.id}
        ),
        post(other, f"/showroom/floor/visits/{visit.id}/end", {"confirm": "yes"}),
        post(other, f"/showroom/floor/visits/{visit.id}/lead"),
        post(other, f"/showroom/floor/visits/{visit.id}/customer", {"profile": str(pid)}),
        post(other, "/showroom/floor/visits", {"dealer": str(floor.dealer), "kind": "walk_in"}),
        check_in(
            other,
            floor.other_dealer,
            "appointment",
            floor.people["Anna"],
            appointment=str(booked),
        ),
    ):
        assert response.status_code == 404, response.text
    assert visits(session_factory)[0].ended_at is None
    with session_factory() as session:
        untouched = session.get(Appointment, booked)
        assert untouched is not None and untouched.status == "planned"


def test_network_staff_choose_the_dealer_whose_floor_they_run(
    app_client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    floor = floor_of(app_client, session_factory)
    manager = signed_in(app_client, session_factory, "manager")  # no dealer: the network
    page = soup(manager.client.get("/showroom/floor", params={"dealer": floor.other_dealer}).text)
    options = [o.get_text(strip=True) for o in page.select("#floor-dealer option")]
    assert "NL-A · NL-A" in options and "BE-B · BE-B" in options
    assert page.select_one("#floor-dealer option[selected]")["value"] == str(floor.other_dealer)  # type: ignore[index]


# --- bad input and who may use the page ----------------------------------------------------
def test_bad_input_re_renders_with_the_problem_marked(
    app_client: TestClient, web_source: SourceKey, session_factory: sessionmaker[Session]
) -> None:
    floor = floor_of(app_client, session_factory)
    long_name = step(floor.reception, floor.dealer, kind="walk_in", visitor_name="x" * 250)
    assert long_name.status_code == 400
    page = soup(long_name.text)
    assert page.select_one("#visitor-name")["aria-invalid"] == "true"  # type: ignore[index]
    assert "too long" in text_at(page, "#visitor-name-error")

    stranger = salesperson(session_factory, "Bea too", "BE-B")
    wrong = check_in(floor.reception, floor.dealer, "walk_in", stranger, visitor_name="Eva")
    assert wrong.status_code == 400
    page = soup(wrong.text)
    assert page.select_one("fieldset")["aria-invalid"] == "true"  # type: ignore[index]
    assert "salesperson of this dealer" in text_at(page, "#check-in-error")
    nobody = check_in(floor.reception, floor.dealer, "walk_in", 0)
    assert nobody.status_code == 400

    assert step(floor.reception, floor.dealer, kind="be_back").status_code == 400
    assert step(floor.reception, floor.dealer, kind="sideways").status_code == 400
    assert visits(session_factory) == []

    pid = make_customer(app_client, web_source, session_factory)
    later = appointment(
        session_factory,
        profile_id=pid,
        dealer_id=floor.dealer,
        starts_at=utcnow() + timedelta(days=2),
    )
    refused = step(floor.reception, floor.dealer, kind="appointment", appointment=str(later))
    assert refused.status_code == 400 and "not today" in text_at(soup(refused.text), ".error")

    check_in(floor.reception, floor.dealer, "walk_in", floor.people["Anna"])
    [visit] = visits(session_factory)
    bad = post(floor.reception, f"/showroom/floor/visits/{visit.id}/end", {"outcome": "teleported"})
    assert bad.status_code == 400
    page = soup(bad.text)
    assert page.select_one(f"#outcome-{visit.id}")["aria-invalid"] == "true"  # type: ignore[index]
    assert visits(session_factory)[0].ended_at is None


@pytest.mark.parametrize("hostile", HOSTILE_IDS)
def test_ids_that_name_nothing_are_404(
    app_client: TestClient, session_factory: sessionmaker[Session], hostile: str
) -> None:
    floor = floor_of(app_client, session_factory)
    assert (
        floor.reception.client.get("/showroom/floor", params={"dealer": hostile}).status_code == 404
    )
    assert post(floor.reception, f"/showroom/floor/visits/{hostile}/end").status_code == 404
    assert post(floor.reception, f"/showroom/floor/visits/{hostile}/lead").status_code == 404
    assert (
        check_in(
            floor.reception,
            floor.dealer,
            "walk_in",
            floor.people["Anna"],
            **{"appointment": hostile},
        ).status_code
        == 400
    )
    assert (
        step(floor.reception, floor.dealer, kind="be_back", profile="not-a-uuid").status_code == 404
    )


def test_the_floor_is_for_staff_who_receive_visitors(
    app_client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    floor = floor_of(app_client, session_factory)
    page = soup(floor.reception.client.get("/showroom/floor").text)
    assert page.select_one('nav a[href="/showroom/floor"]') is not None
    delivery = signed_in(app_client, session_factory, "delivery", "NL-A")
    assert delivery.client.get("/showroom/floor").status_code == 403
    home = soup(delivery.client.get("/showroom/deliveries").text)
    assert home.select_one('nav a[href="/showroom/floor"]') is None
    assert post(delivery, "/showroom/floor/visits", {"kind": "walk_in"}).status_code == 403
    app_client.cookies.clear()
    signed_out = app_client.get("/showroom/floor", follow_redirects=False)
    assert signed_out.status_code == 303


def test_a_customers_visits_are_in_their_data_copy_and_go_with_their_erasure(
    app_client: TestClient, web_source: SourceKey, session_factory: sessionmaker[Session]
) -> None:
    floor = floor_of(app_client, session_factory)
    pid = make_customer(app_client, web_source, session_factory)
    booked = appointment(session_factory, profile_id=pid, dealer_id=floor.dealer)
    check_in(
        floor.reception, floor.dealer, "appointment", floor.people["Anna"], appointment=str(booked)
    )
    admin = make_token(session_factory, role="admin")
    data = app_client.get(f"/api/profiles/{pid}/data", headers=admin).json()
    assert [v["kind"] for v in data["showroom_visits"]] == ["appointment"]
    erased = app_client.post(
        f"/api/profiles/{pid}/erasure", json={"reason": "asked at the desk"}, headers=admin
    )
    assert erased.status_code == 200, erased.text
    assert erased.json()["deleted"]["showroom visits"] == 1
    assert visits(session_factory) == []
