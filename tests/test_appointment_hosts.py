"""Who may receive an appointment's visitor: the appointment form (on the customer page and on
its own page) offers only the hosts of the dealer the appointment will belong to (salespeople,
delivery staff, managers and admins who work there; staff at several dealers at each), tells two
people of one name apart, and the server refuses anyone else (400, the field marked, the refused
choice kept and said not to qualify, nothing saved). All through HTTP, on both databases."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

import httpx
from bs4 import BeautifulSoup
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cdp.local_time import local_today
from cdp.models import Appointment, Lead, StaffUser, utcnow
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
class Staff:
    """The floor of two dealers; each member as (id, e-mail)."""

    sam: tuple[int, str]  # sales at A
    lotte: tuple[int, str]  # sales at A
    other_lotte: tuple[int, str]  # delivery at A, the same name
    manager_a: tuple[int, str]
    reception_a: tuple[int, str]  # receives no visitors of their own
    both: tuple[int, str]  # sales at A and at B
    wout: tuple[int, str]  # sales at B
    delivery_b: tuple[int, str]
    manager_b: tuple[int, str]
    importer: tuple[int, str]  # a manager at no dealer: the network's
    admin: tuple[int, str]  # at no dealer
    gone: tuple[int, str]  # sales at A, deactivated

    @property
    def hosts_a(self) -> set[int]:
        ids = (self.sam, self.lotte, self.other_lotte, self.manager_a, self.both)
        return {person[0] for person in ids}

    @property
    def hosts_b(self) -> set[int]:
        return {person[0] for person in (self.both, self.wout, self.delivery_b, self.manager_b)}


def two_dealers(factory: sessionmaker[Session]) -> Staff:
    make_dealer(factory, A)
    make_dealer(factory, B)

    def member(role: str, name: str, *dealers: str) -> tuple[int, str]:
        email = make_staff(factory, role=role, name=name, dealers=dealers)
        return user_id(factory, email), email

    people = Staff(
        sam=member("sales", "Sam Seller", A),
        lotte=member("sales", "Lotte Jansen", A),
        other_lotte=member("delivery", "lotte  jansen", A),
        manager_a=member("manager", "Mila Peeters", A),
        reception_a=member("reception", "Rosa Receptie", A),
        both=member("sales", "Ruben Claes", A, B),
        wout=member("sales", "Wout Maes", B),
        delivery_b=member("delivery", "Dirk Dubois", B),
        manager_b=member("manager", "Thijs Lambert", B),
        importer=member("manager", "Iris Importer"),
        admin=member("admin", "Ada Admin"),
        gone=member("sales", "Gert Gone", A),
    )
    with factory() as session:
        gone = session.get(StaffUser, people.gone[0])
        assert gone is not None
        gone.active = False
        session.commit()
    return people


def browser(app_client: TestClient, person: tuple[int, str]) -> StaffClient:
    """A browser of their own, signed in."""
    app = app_client.app
    assert isinstance(app, FastAPI)
    client = TestClient(app)
    return StaffClient(client=client, email=person[1], csrf=sign_in(client, person[1]))


def customer_with_lead(
    app_client: TestClient, source: SourceKey, factory: sessionmaker[Session], seller: StaffClient
) -> uuid.UUID:
    """A customer with an open lead the seller made: at the seller's dealer."""
    pid = make_customer(app_client, source, factory, first_name="Eva", last_name="van Wijk")
    assert post(seller, f"/showroom/customers/{pid}/leads", {"channel": "phone"}).status_code == 303
    return pid


def sams_customer(
    app_client: TestClient, source: SourceKey, factory: sessionmaker[Session]
) -> tuple[Staff, StaffClient, uuid.UUID]:
    """The two dealers' staff, Sam (sales at A) signed in, and a customer with Sam's lead."""
    people = two_dealers(factory)
    sam = browser(app_client, people.sam)
    return people, sam, customer_with_lead(app_client, source, factory, sam)


def offered(page: BeautifulSoup) -> dict[int, str]:
    """The "Who receives them" choices of the appointment form (not "Anyone")."""
    form = page.select_one("form.plan-form")
    assert form is not None
    return {
        int(str(option["value"])): option.get_text(strip=True)
        for option in form.select("select[name=user_id] option")
        if option["value"]
    }


def selected(page: BeautifulSoup) -> str | None:
    chosen = page.select_one("form.plan-form select[name=user_id] option[selected]")
    return None if chosen is None else str(chosen["value"])


def page_at(viewer: StaffClient, url: str) -> BeautifulSoup:
    response = viewer.client.get(url)
    assert response.status_code == 200, url
    return soup(response.text)


def plan(viewer: StaffClient, pid: uuid.UUID, host: int, **headers: str) -> httpx.Response:
    day = (local_today(utcnow()) + timedelta(days=2)).isoformat()
    return viewer.client.post(
        f"/showroom/customers/{pid}/appointments",
        data={
            "csrf_token": viewer.csrf,
            "kind": "visit",
            "starts_date": day,
            "starts_time": "14:00",
            "user_id": str(host),
        },
        headers=headers,
        follow_redirects=False,
    )


def appointments(factory: sessionmaker[Session], pid: uuid.UUID) -> list[tuple[int | None, int]]:
    """(dealer id, host) of the customer's appointments."""
    with factory() as session:
        return [
            (a.dealer_id, a.user_id or 0)
            for a in session.scalars(select(Appointment).where(Appointment.profile_id == pid))
        ]


def test_the_host_list_offers_only_the_appointments_dealers_staff(
    app_client: TestClient, web_source: SourceKey, session_factory: sessionmaker[Session]
) -> None:
    people, sam, pid = sams_customer(app_client, web_source, session_factory)

    # The customer page's form: A's hosts (the lead is at A), not B's, not the importer's, not
    # reception (who receives nobody of their own), not a deactivated account.
    customer_page = page_at(sam, f"/showroom/customers/{pid}")
    choices = offered(customer_page)
    assert set(choices) == people.hosts_a
    # Two people of one name are told apart by their e-mail address; the others need not be.
    assert choices[people.lotte[0]] == f"Lotte Jansen ({people.lotte[1]})"
    assert choices[people.other_lotte[0]] == f"lotte  jansen ({people.other_lotte[1]})"
    assert choices[people.sam[0]] == "Sam Seller"
    assert choices[people.both[0]] == "Ruben Claes"
    assert selected(customer_page) == str(people.sam[0])  # the planner receives by default

    # The plan page (reception's) and the lead page offer the same; reception is not chosen.
    reception = browser(app_client, people.reception_a)
    plan_page = page_at(reception, f"/showroom/customers/{pid}/appointments/new")
    assert set(offered(plan_page)) == people.hosts_a
    assert selected(plan_page) is None
    assert set(offered(page_at(sam, f"/showroom/customers/{pid}/deal"))) == people.hosts_a

    # The importer's manager plans it at the lead's dealer too: A's hosts, not themselves.
    importer = browser(app_client, people.importer)
    assert set(offered(page_at(importer, f"/showroom/customers/{pid}"))) == people.hosts_a

    # Someone at two dealers, for a customer whose lead is at B: B's hosts.
    at_b = customer_with_lead(
        app_client, web_source, session_factory, browser(app_client, people.wout)
    )
    both = browser(app_client, people.both)
    assert set(offered(page_at(both, f"/showroom/customers/{at_b}"))) == people.hosts_b

    # A customer with no lead: the appointment is the planner's dealer's, so are its hosts.
    nobody = make_customer(app_client, web_source, session_factory, first_name="Noor")
    wout = browser(app_client, people.wout)
    assert set(offered(page_at(wout, f"/showroom/customers/{nobody}"))) == people.hosts_b


def test_a_host_of_another_dealer_is_refused_and_nothing_is_saved(
    app_client: TestClient, web_source: SourceKey, session_factory: sessionmaker[Session]
) -> None:
    people, sam, pid = sams_customer(app_client, web_source, session_factory)

    for outsider in (
        people.wout,
        people.delivery_b,
        people.manager_b,
        people.importer,
        people.admin,
    ):
        refused = plan(sam, pid, outsider[0])
        assert refused.status_code == 400, outsider
        assert f"does not work at {A}" in field_error_text(refused.text), outsider
        page = soup(refused.text)
        box = page.select_one("form.plan-form select[name=user_id]")
        assert box is not None and box.get("aria-invalid") == "true"
        # The refused choice stays chosen, said not to qualify, rather than becoming "Anyone".
        assert selected(page) == str(outsider[0])
        label = offered(page)[outsider[0]]
        assert outsider[1] in label and "cannot receive this appointment" in label
        assert set(offered(page)) == people.hosts_a | {outsider[0]}
        day = page.select_one("form.plan-form input[name=starts_date]")
        assert day is not None and day.get("value")  # what was typed is kept
        assert appointments(session_factory, pid) == [], outsider
    assert only_lead(session_factory, pid).stage == "new"  # the lead did not move either

    # An htmx request is answered the same way: the page's content, the problem marked.
    htmx = plan(sam, pid, people.wout[0], **{"HX-Request": "true"})
    assert htmx.status_code == 400
    assert "<html" not in htmx.text
    assert "does not work at" in field_error_text(htmx.text)
    assert appointments(session_factory, pid) == []

    # Deactivated or not a host at all: refused as not on the list, and shown as such.
    for nobody in (people.gone, people.reception_a):
        refused = plan(sam, pid, nobody[0])
        assert refused.status_code == 400
        assert "Choose who receives them from the list" in field_error_text(refused.text)
        assert "cannot receive this appointment" in offered(soup(refused.text))[nobody[0]]
    assert appointments(session_factory, pid) == []

    # One of A's, including a colleague at two dealers, is taken, and has the visitor in their
    # own list; B's salesperson never had it.
    assert plan(sam, pid, people.both[0]).status_code == 303
    with session_factory() as session:
        dealer_a = session.scalars(select(Lead.dealer_id).where(Lead.profile_id == pid)).one()
    assert appointments(session_factory, pid) == [(dealer_a, people.both[0])]
    both = browser(app_client, people.both)
    assert len(page_at(both, "/showroom/today?mine=1").select("li.visitor")) == 1
    wout = browser(app_client, people.wout)
    assert page_at(wout, "/showroom/today").select("li.visitor") == []


def test_an_appointment_of_the_networks_queue_goes_to_the_importers_staff(
    app_client: TestClient, web_source: SourceKey, session_factory: sessionmaker[Session]
) -> None:
    """A lead in the network's unassigned queue (no dealer): its appointment belongs to no
    dealer, which only the importer's staff see, so only they receive it."""
    people = two_dealers(session_factory)
    pid = customer_with_lead(
        app_client, web_source, session_factory, browser(app_client, people.sam)
    )
    with session_factory() as session:
        lead = session.get(Lead, only_lead(session_factory, pid).id)
        assert lead is not None
        lead.dealer_id = None
        session.commit()

    importer = browser(app_client, people.importer)
    page = page_at(importer, f"/showroom/customers/{pid}/appointments/new")
    assert set(offered(page)) == {people.importer[0], people.admin[0]}
    assert selected(page) == str(people.importer[0])
    refused = plan(importer, pid, people.sam[0])
    assert refused.status_code == 400
    assert "belongs to no dealer" in field_error_text(refused.text)
    assert appointments(session_factory, pid) == []
    assert plan(importer, pid, people.admin[0]).status_code == 303
    assert appointments(session_factory, pid) == [(None, people.admin[0])]
