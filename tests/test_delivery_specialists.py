"""Who may hand a car over: the handover queue offers, per handover, only the staff who can act on
it (those of its dealer whose role does handovers; staff at several dealers at each), tells two
people of one name apart, and refuses anyone else (400, the field marked, nothing changed). All
through HTTP, on both databases."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import httpx
from bs4 import BeautifulSoup
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cdp.local_time import local_today
from cdp.models import Appointment, Delivery, StaffUser, utcnow
from tests.helpers import (
    SourceKey,
    StaffClient,
    field_error_text,
    make_customer,
    make_dealer,
    make_staff,
    only_lead,
    post,
    sign_in,
    soup,
    user_id,
)

A, B = "NL-EHV", "BE-CRL"


@dataclass
class Person:
    id: int
    email: str


def staff(
    factory: sessionmaker[Session], role: str, *dealers: str, name: str | None = None
) -> Person:
    email = make_staff(factory, role=role, name=name, dealers=dealers)
    return Person(user_id(factory, email), email)


def signed_in(app: FastAPI, person: Person) -> StaffClient:
    """A browser of their own, signed in."""
    client = TestClient(app)
    return StaffClient(client=client, email=person.email, csrf=sign_in(client, person.email))


@dataclass
class Floor:
    lotte: Person  # delivery at A
    other_lotte: Person  # delivery at A, the same name
    manager_a: Person
    both: Person  # delivery at A and at B
    wout: Person  # delivery at B
    manager_b: Person
    importer: Person  # a manager at no dealer: the network's
    admin: Person  # at no dealer
    gone: Person  # delivery at A, deactivated
    sales_a: Person


def floor(factory: sessionmaker[Session]) -> Floor:
    make_dealer(factory, A)
    make_dealer(factory, B)
    people = Floor(
        lotte=staff(factory, "delivery", A, name="Lotte Jansen"),
        other_lotte=staff(factory, "delivery", A, name="lotte  jansen"),
        manager_a=staff(factory, "manager", A, name="Mila Peeters"),
        both=staff(factory, "delivery", A, B, name="Ruben Claes"),
        wout=staff(factory, "delivery", B, name="Wout Maes"),
        manager_b=staff(factory, "manager", B, name="Thijs Lambert"),
        importer=staff(factory, "manager", name="Iris Importer"),
        admin=staff(factory, "admin", name="Ada Admin"),
        gone=staff(factory, "delivery", A, name="Gert Gone"),
        sales_a=staff(factory, "sales", A, name="Sam Seller"),
    )
    with factory() as session:
        gone = session.get(StaffUser, people.gone.id)
        assert gone is not None
        gone.active = False
        session.commit()
    return people


def sold_at(
    app: FastAPI, seller: Person, source: SourceKey, factory: sessionmaker[Session], last: str
) -> int:
    """A customer sold by `seller`: the handover is at the seller's dealer; its delivery id."""
    sales = signed_in(app, seller)
    pid = make_customer(sales.client, source, factory, first_name="Eva", last_name=last)
    assert post(sales, f"/showroom/customers/{pid}/leads", {"channel": "phone"}).status_code == 303
    lead = only_lead(factory, pid)
    assert post(sales, f"/showroom/leads/{lead.id}/stage", {"stage": "sold"}).status_code == 303
    with factory() as session:
        return session.scalars(select(Delivery.id).where(Delivery.lead_id == lead.id)).one()


def choices(page: BeautifulSoup, delivery_id: int) -> dict[int, str]:
    """The specialist choices the page offers for one handover (not "Nobody yet")."""
    row = page.select_one(f"#delivery-{delivery_id}")
    assert row is not None, delivery_id
    return {
        int(str(option["value"])): option.get_text(strip=True)
        for option in row.select("select[name=specialist_user_id] option")
        if option["value"]
    }


def queue(viewer: StaffClient, query: str = "") -> BeautifulSoup:
    response = viewer.client.get("/showroom/deliveries" + query)
    assert response.status_code == 200
    return soup(response.text)


def plan(viewer: StaffClient, delivery_id: int, specialist: int, **headers: str) -> httpx.Response:
    day = (local_today(utcnow()) + timedelta(days=3)).isoformat()
    response = viewer.client.post(
        f"/showroom/deliveries/{delivery_id}/plan",
        data={
            "csrf_token": viewer.csrf,
            "delivery_date": day,
            "delivery_time": "11:00",
            "specialist_user_id": str(specialist),
        },
        headers=headers,
        follow_redirects=False,
    )
    return response


def planned(factory: sessionmaker[Session], delivery_id: int) -> tuple[object, int | None, int]:
    with factory() as session:
        delivery = session.get(Delivery, delivery_id)
        assert delivery is not None
        appointments = session.scalars(
            select(Appointment.id).where(
                Appointment.lead_id == delivery.lead_id, Appointment.kind == "delivery"
            )
        ).all()
        return delivery.delivery_date, delivery.specialist_user_id, len(appointments)


def test_a_handover_offers_only_its_dealers_delivery_staff_and_managers(
    app_client: TestClient, web_source: SourceKey, session_factory: sessionmaker[Session]
) -> None:
    people = floor(session_factory)
    app = app_client.app
    assert isinstance(app, FastAPI)
    at_a = sold_at(app, people.sales_a, web_source, session_factory, "van Wijk")
    seller_b = staff(session_factory, "sales", B)
    at_b = sold_at(app, seller_b, web_source, session_factory, "Dubois")

    offered = choices(queue(signed_in(app, people.lotte)), at_a)
    # Those of A whose role does handovers; not B's, not the importer's, not the seller, not
    # a deactivated account.
    assert set(offered) == {
        people.lotte.id,
        people.other_lotte.id,
        people.manager_a.id,
        people.both.id,
    }
    # Two people of one name are told apart by their e-mail address; the others need not be.
    assert offered[people.lotte.id] == f"Lotte Jansen ({people.lotte.email})"
    assert offered[people.other_lotte.id] == f"lotte  jansen ({people.other_lotte.email})"
    assert offered[people.manager_a.id] == "Mila Peeters"
    assert offered[people.both.id] == "Ruben Claes"

    # Someone at two dealers sees both queues, and each handover offers its own dealer's staff.
    page = queue(signed_in(app, people.both))
    assert set(choices(page, at_b)) == {people.wout.id, people.manager_b.id, people.both.id}
    assert set(choices(page, at_a)) == set(offered)

    # The importer's manager sees every handover; each still offers only its dealer's staff.
    network = queue(signed_in(app, people.importer))
    assert set(choices(network, at_a)) == set(offered)
    assert set(choices(network, at_b)) == {people.wout.id, people.manager_b.id, people.both.id}


def test_a_specialist_of_another_dealer_is_refused_and_nothing_changes(
    app_client: TestClient, web_source: SourceKey, session_factory: sessionmaker[Session]
) -> None:
    people = floor(session_factory)
    app = app_client.app
    assert isinstance(app, FastAPI)
    at_a = sold_at(app, people.sales_a, web_source, session_factory, "van Wijk")
    lotte = signed_in(app, people.lotte)

    for outsider in (people.wout, people.manager_b, people.importer, people.admin):
        refused = plan(lotte, at_a, outsider.id)
        assert refused.status_code == 400, outsider
        message = field_error_text(refused.text)
        assert f"does not work at {A}" in message, outsider
        row = soup(refused.text).select_one(f"#delivery-{at_a}")
        assert row is not None
        select_box = row.select_one("select[name=specialist_user_id]")
        assert select_box is not None and select_box.get("aria-invalid") == "true"
        assert outsider.id not in choices(soup(refused.text), at_a)
        # The day typed is kept for another try.
        day = row.select_one("input[name=delivery_date]")
        assert day is not None and day.get("value")
        assert planned(session_factory, at_a) == (None, None, 0), outsider

    # An htmx request is answered the same way: the page's content, the problem marked.
    htmx = plan(lotte, at_a, people.wout.id, **{"HX-Request": "true"})
    assert htmx.status_code == 400
    assert "<html" not in htmx.text
    assert "does not work at" in field_error_text(htmx.text)
    assert planned(session_factory, at_a) == (None, None, 0)

    # Wout (at B) never has it, in his own list or the whole of it.
    wout = signed_in(app, people.wout)
    assert queue(wout, "?mine=1").select_one(f"#delivery-{at_a}") is None
    assert queue(wout).select_one(f"#delivery-{at_a}") is None

    # One of A's, including a colleague at two dealers, is taken, and has it in "Mine only".
    assert plan(lotte, at_a, people.both.id).status_code == 303
    _day, specialist, appointments = planned(session_factory, at_a)
    assert (specialist, appointments) == (people.both.id, 1)
    both = signed_in(app, people.both)
    assert queue(both, "?mine=1").select_one(f"#delivery-{at_a}") is not None


def test_a_specialist_who_no_longer_qualifies_is_shown_as_such_and_not_kept(
    app_client: TestClient, web_source: SourceKey, session_factory: sessionmaker[Session]
) -> None:
    """A handover given to another dealer's specialist before (or to someone who has since
    moved or left) says so on its form, rather than showing "Nobody yet"; saving it is refused
    until someone of its dealer is chosen."""
    people = floor(session_factory)
    app = app_client.app
    assert isinstance(app, FastAPI)
    at_a = sold_at(app, people.sales_a, web_source, session_factory, "van Wijk")
    with session_factory() as session:
        delivery = session.get(Delivery, at_a)
        assert delivery is not None
        delivery.specialist_user_id = people.wout.id
        session.commit()

    lotte = signed_in(app, people.lotte)
    row = queue(lotte).select_one(f"#delivery-{at_a}")
    assert row is not None
    chosen = row.select_one("select[name=specialist_user_id] option[selected]")
    assert chosen is not None and chosen["value"] == str(people.wout.id)
    assert "Wout Maes" in chosen.get_text() and "cannot take this handover" in chosen.get_text()

    refused = plan(lotte, at_a, people.wout.id)
    assert refused.status_code == 400
    assert "does not work at" in field_error_text(refused.text)
    assert planned(session_factory, at_a) == (None, people.wout.id, 0)


def test_a_handover_in_the_networks_queue_goes_to_the_importers_staff(
    app_client: TestClient, web_source: SourceKey, session_factory: sessionmaker[Session]
) -> None:
    people = floor(session_factory)
    app = app_client.app
    assert isinstance(app, FastAPI)
    delivery_id = sold_at(app, people.sales_a, web_source, session_factory, "Noord")
    with session_factory() as session:  # a lead sold while in the network's unassigned queue
        delivery = session.get(Delivery, delivery_id)
        assert delivery is not None
        delivery.dealer_id = None
        session.commit()

    importer = signed_in(app, people.importer)
    offered = choices(queue(importer), delivery_id)
    assert set(offered) == {people.importer.id, people.admin.id}
    refused = plan(importer, delivery_id, people.lotte.id)
    assert refused.status_code == 400
    assert "network's queue" in field_error_text(refused.text)
    assert planned(session_factory, delivery_id) == (None, None, 0)
    assert plan(importer, delivery_id, people.admin.id).status_code == 303
    assert planned(session_factory, delivery_id)[1:] == (people.admin.id, 1)


def test_unknown_people_are_still_refused_as_not_on_the_list(
    app_client: TestClient, web_source: SourceKey, session_factory: sessionmaker[Session]
) -> None:
    people = floor(session_factory)
    app = app_client.app
    assert isinstance(app, FastAPI)
    at_a = sold_at(app, people.sales_a, web_source, session_factory, "van Wijk")
    lotte = signed_in(app, people.lotte)
    for nobody in (people.gone.id, people.sales_a.id, 2_000_000_000):
        refused = plan(lotte, at_a, nobody)
        assert refused.status_code == 400
        assert "Choose a delivery specialist from the list" in field_error_text(refused.text)
    assert planned(session_factory, at_a) == (None, None, 0)
