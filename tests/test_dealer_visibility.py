"""Who sees what in a dealer network (docs/dealers.md): staff of dealer B never see dealer A's
leads, notes, appointments, contacts, deliveries or tablet sessions (404, as if they did not
exist; lists and counts leave them out); a salesperson changes only their own leads, their
manager any of the dealer's; the person is the brand's (lookup finds them at any dealer) unless
CDP_SHARE_CUSTOMERS_ACROSS_DEALERS is off. All through HTTP, on both databases."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from bs4 import BeautifulSoup
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from cdp.app import create_app
from cdp.config import Settings
from cdp.local_time import local_today
from cdp.models import Appointment, Delivery, Lead, utcnow
from tests.helpers import (
    SourceKey,
    StaffClient,
    make_customer,
    make_dealer,
    make_staff,
    make_token,
    post,
    sign_in,
    soup,
    start,
    user_id,
)

A, B = "NL-AAA", "BE-BBB"


def person(app: FastAPI, factory: sessionmaker[Session], role: str, *dealers: str) -> StaffClient:
    """A staff member signed in on a browser of their own."""
    email = make_staff(factory, role=role, dealers=dealers)
    client = TestClient(app)
    return StaffClient(client=client, email=email, csrf=sign_in(client, email))


@dataclass
class Network:
    app: FastAPI
    sales_a: StaffClient
    colleague_a: StaffClient
    manager_a: StaffClient
    sales_b: StaffClient
    manager_b: StaffClient
    network: StaffClient
    customer: uuid.UUID  # a customer of A: lead, note, contact, appointment
    email: str
    lead: int
    appointment: int
    sold: uuid.UUID  # another customer of A, sold: a delivery in A's queue
    delivery: int
    tablet: int


def build(
    app: FastAPI, client: TestClient, source: SourceKey, factory: sessionmaker[Session]
) -> Network:
    make_dealer(factory, A)
    make_dealer(factory, B)
    sales_a = person(app, factory, "sales", A)
    net = Network(
        app=app,
        sales_a=sales_a,
        colleague_a=person(app, factory, "sales", A),
        manager_a=person(app, factory, "manager", A),
        sales_b=person(app, factory, "sales", B),
        manager_b=person(app, factory, "manager", B),
        network=person(app, factory, "manager"),
        customer=make_customer(client, source, factory, last_name="Zwaneveld"),
        email="",
        lead=0,
        appointment=0,
        sold=make_customer(client, source, factory, first_name="Joost", last_name="Ophelders"),
        delivery=0,
        tablet=0,
    )
    pid = net.customer
    assert (
        post(sales_a, f"/showroom/customers/{pid}/leads", {"channel": "phone"}).status_code == 303
    )
    note = {"interest_level": "hot", "text": "Secret trade-in price 4200"}
    assert post(sales_a, f"/showroom/customers/{pid}/notes", note).status_code == 303
    tomorrow = (local_today(utcnow()) + timedelta(days=1)).isoformat()
    visit = {"kind": "visit", "starts_date": tomorrow, "starts_time": "10:00", "model": ""}
    assert post(sales_a, f"/showroom/customers/{pid}/appointments", visit).status_code == 303
    sold = net.sold
    assert (
        post(sales_a, f"/showroom/customers/{sold}/leads", {"channel": "website"}).status_code
        == 303
    )
    with factory() as session:
        net.lead = session.scalars(select(Lead.id).where(Lead.profile_id == pid)).one()
        net.appointment = session.scalars(
            select(Appointment.id).where(Appointment.profile_id == pid)
        ).one()
        sold_lead = session.scalars(select(Lead.id).where(Lead.profile_id == sold)).one()
        from cdp.models import Identity

        net.email = session.scalars(
            select(Identity.value).where(Identity.profile_id == pid, Identity.kind == "email")
        ).one()
    contact = {"method": "call", "outcome": "no_answer", "note": "Left a voicemail"}
    assert post(sales_a, f"/showroom/leads/{net.lead}/contact", contact).status_code == 303
    stage = {"stage": "sold"}
    assert post(sales_a, f"/showroom/leads/{sold_lead}/stage", stage).status_code == 303
    with factory() as session:
        net.delivery = session.scalars(select(Delivery.id).where(Delivery.profile_id == sold)).one()
    net.tablet = start(sales_a)
    return net


def get(staff: StaffClient, url: str) -> httpx.Response:
    response: httpx.Response = staff.client.get(url, follow_redirects=False)
    return response


def test_another_dealers_records_answer_as_if_they_did_not_exist(
    app_client: TestClient, web_source: SourceKey, session_factory: sessionmaker[Session]
) -> None:
    net = build(app_client.app, app_client, web_source, session_factory)  # type: ignore[arg-type]
    lead, b = net.lead, net.sales_b
    for url in (
        f"/showroom/leads/{lead}/contact",
        f"/showroom/leads/{lead}/contact?method=call",
        f"/showroom/leads/{lead}/contact/logged?attempt=1",
        f"/showroom/tablet/{net.tablet}",
        f"/showroom/tablet/{net.tablet}/customer",
    ):
        assert get(b, url).status_code == 404, url
    for url, data in (
        (f"/showroom/leads/{lead}/contact", {"method": "call", "outcome": "reached"}),
        (f"/showroom/leads/{lead}/stage", {"stage": "reached"}),
        (f"/showroom/leads/{lead}/next-action", {"done": "1"}),
        (f"/showroom/leads/{lead}/assign", {"assigned_user_id": ""}),
        (f"/showroom/appointments/{net.appointment}/status", {"status": "cancelled"}),
        (f"/showroom/tablet/{net.tablet}/end", {}),
    ):
        assert post(b, url, data).status_code == 404, url
    for url, data in (
        (f"/showroom/deliveries/{net.delivery}/plan", {"delivery_date": ""}),
        (f"/showroom/deliveries/{net.delivery}/delivered", {}),
        (f"/showroom/deliveries/{net.delivery}/undo-delivered", {}),
    ):
        assert post(net.manager_b, url, data).status_code == 404, url
    # The customer is the brand's: B finds them, with their car, and that A has a lead, but
    # not A's notes, contacts or appointments.
    for staff in (b, net.manager_b):
        page = get(staff, f"/showroom/customers/{net.customer}")
        assert page.status_code == 200
        assert "Zwaneveld" in page.text
        assert f"Has a lead at {A}" in page.text
        for secret in ("Secret trade-in", "Left a voicemail", "Expected:"):
            assert secret not in page.text, secret
        deal = get(staff, f"/showroom/customers/{net.customer}/deal")
        assert deal.status_code == 200 and "Secret trade-in" not in deal.text
    own = get(net.sales_a, f"/showroom/customers/{net.customer}")
    assert "Secret trade-in" in own.text and "Left a voicemail" in own.text
    assert "Has a lead at" not in own.text
    assert "Secret trade-in" in get(net.network, f"/showroom/customers/{net.customer}").text


def _names(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text[:300]
    return BeautifulSoup(response.text, "html.parser").get_text(" ")


def test_lists_and_counts_leave_other_dealers_out(
    app_client: TestClient, web_source: SourceKey, session_factory: sessionmaker[Session]
) -> None:
    net = build(app_client.app, app_client, web_source, session_factory)  # type: ignore[arg-type]
    b_views = {
        "/showroom/leads?who=all": net.manager_b,
        "/showroom/leads?who=unassigned": net.sales_b,
        "/showroom/today": net.manager_b,
        "/showroom/deliveries": net.manager_b,
    }
    for url, staff in b_views.items():
        text = _names(get(staff, url))
        assert "Zwaneveld" not in text and "Ophelders" not in text, url
    a_text = _names(get(net.manager_a, "/showroom/leads?who=all"))
    assert "Zwaneveld" in a_text
    assert "Zwaneveld" in _names(get(net.manager_a, "/showroom/today"))
    assert "Ophelders" in _names(get(net.manager_a, "/showroom/deliveries"))
    funnel_b = BeautifulSoup(get(net.manager_b, "/showroom/funnel").text, "html.parser")
    funnel_a = BeautifulSoup(get(net.manager_a, "/showroom/funnel").text, "html.parser")
    assert "No leads" in funnel_b.get_text(" ") or "no leads" in funnel_b.get_text(" ")
    assert "No leads" not in funnel_a.get_text(" ")
    # The importer's manager sees both dealers, and narrows to one with ?dealer=CODE.
    everyone = _names(get(net.network, "/showroom/leads?who=all"))
    assert "Zwaneveld" in everyone and "Ophelders" not in everyone  # sold: not open
    assert "Zwaneveld" in _names(get(net.network, f"/showroom/leads?who=all&dealer={A}"))
    assert "Zwaneveld" not in _names(get(net.network, f"/showroom/leads?who=all&dealer={B}"))
    assert "Zwaneveld" not in _names(get(net.network, f"/showroom/today?dealer={B}"))
    assert "Zwaneveld" in _names(get(net.network, f"/showroom/today?dealer={A.lower()}"))
    for url in ("/showroom/leads?dealer=NOPE", "/showroom/today?dealer=NOPE",
                "/showroom/funnel?dealer=NOPE"):  # fmt: skip
        unknown = get(net.network, url)
        assert unknown.status_code == 404, url
        assert "There is no dealer with the code NOPE" in unknown.text
    # A dealer's staff cannot reach another dealer's list by its code either.
    assert "There is no dealer" in get(net.manager_b, f"/showroom/funnel?dealer={A}").text


def test_a_salesperson_changes_only_their_own_leads_and_their_manager_any(
    app_client: TestClient, web_source: SourceKey, session_factory: sessionmaker[Session]
) -> None:
    net = build(app_client.app, app_client, web_source, session_factory)  # type: ignore[arg-type]
    lead, colleague = net.lead, net.colleague_a
    # They see the colleague's customer and lead, without its forms; a change is refused.
    assert get(colleague, f"/showroom/customers/{net.customer}").status_code == 200
    panel = get(colleague, f"/showroom/customers/{net.customer}/deal").text
    assert "only they or a sales manager change this lead" in panel
    assert f"/showroom/leads/{lead}/stage" not in panel
    assert (
        f"/showroom/leads/{lead}/stage"
        in get(net.sales_a, f"/showroom/customers/{net.customer}/deal").text
    )
    for url, data in (
        (f"/showroom/leads/{lead}/stage", {"stage": "reached"}),
        (f"/showroom/leads/{lead}/next-action", {"done": "1"}),
        (f"/showroom/leads/{lead}/contact", {"method": "call", "outcome": "reached"}),
        (f"/showroom/leads/{lead}/assign", {"assigned_user_id": ""}),
    ):
        refused = post(colleague, url, data)
        assert refused.status_code == 403, url
        assert "assigned to a colleague" in refused.text or "Only sales managers" in refused.text
    with session_factory() as session:
        assert session.get(Lead, lead).stage == "appointment"  # type: ignore[union-attr]
    assert (
        post(net.manager_a, f"/showroom/leads/{lead}/stage", {"stage": "reached"}).status_code
        == 303
    )
    assert post(net.network, f"/showroom/leads/{lead}/stage", {"stage": "quote"}).status_code == 303
    # An unassigned lead of their own dealer: they may take it; working it takes it too.
    from tests.helpers import user_id

    me = user_id(session_factory, colleague.email)
    unassigned = {"channel": "phone", "assigned_user_id": "none"}
    leads = []
    for name in ("Terpstra", "Hoekstra"):
        pid = make_customer(app_client, web_source, session_factory, last_name=name)
        assert (
            post(net.manager_a, f"/showroom/customers/{pid}/leads", unassigned).status_code == 303
        )
        with session_factory() as session:
            leads.append(session.scalars(select(Lead).where(Lead.profile_id == pid)).one())
    taken, worked = leads
    assert taken.assigned_user_id is None and worked.assigned_user_id is None
    assert (
        post(
            net.sales_b, f"/showroom/leads/{taken.id}/assign", {"assigned_user_id": ""}
        ).status_code
        == 404
    )
    take = {"assigned_user_id": str(me)}
    assert post(colleague, f"/showroom/leads/{taken.id}/assign", take).status_code == 303
    reached = {"stage": "reached"}
    assert post(colleague, f"/showroom/leads/{worked.id}/stage", reached).status_code == 303
    with session_factory() as session:
        for lead_id in (taken.id, worked.id):
            assert session.scalar(select(Lead.assigned_user_id).where(Lead.id == lead_id)) == me
    # Now theirs: the first salesperson is refused.
    assert (
        post(net.sales_a, f"/showroom/leads/{worked.id}/stage", {"stage": "quote"}).status_code
        == 403
    )
    # A's manager cannot hand A's lead to B's salesperson (they would not even see it).
    other = {"assigned_user_id": str(user_id(session_factory, net.sales_b.email)), "reason": "x"}
    refused = post(net.manager_a, f"/showroom/leads/{worked.id}/assign", other)
    assert refused.status_code == 400 and "works at another dealer" in refused.text
    with session_factory() as session:
        assert session.scalar(select(Lead.assigned_user_id).where(Lead.id == worked.id)) == me


def _api(client: TestClient, headers: dict[str, str], **params: Any) -> httpx.Response:
    return client.get("/api/leads", params=params, headers=headers)


def test_the_leads_api_lists_what_the_token_may_see(
    app_client: TestClient, web_source: SourceKey, session_factory: sessionmaker[Session]
) -> None:
    net = build(app_client.app, app_client, web_source, session_factory)  # type: ignore[arg-type]
    token_a = make_token(session_factory, role="sales", dealer=A)
    token_b = make_token(session_factory, role="sales", dealer=B)
    network = make_token(session_factory, role="manager")
    body_b = _api(app_client, token_b).json()
    assert body_b == {"leads": [], "next_cursor": None, "next": None}
    leads_a = _api(app_client, token_a).json()["leads"]
    assert {row["profile_id"] for row in leads_a} == {str(net.customer), str(net.sold)}
    first = next(row for row in leads_a if row["id"] == net.lead)
    assert first["dealer"] == A and first["channel"] == "phone" and first["stage"] == "appointment"
    assert first["assigned_to"] == net.sales_a.email
    assert first["configuration_code"].startswith("AUR-")
    assert {"created_at", "updated_at", "model"} <= set(first)
    everything = _api(app_client, network).json()["leads"]
    assert {row["id"] for row in leads_a} <= {row["id"] for row in everything}
    # Filters
    assert [r["id"] for r in _api(app_client, network, dealer=A, stage="sold").json()["leads"]] == [
        r["id"] for r in leads_a if r["stage"] == "sold"
    ]
    mine = _api(app_client, token_a, assigned=net.sales_a.email.upper()).json()["leads"]
    assert len(mine) == 2
    assert _api(app_client, token_a, assigned="none").json()["leads"] == []
    later = (utcnow() + timedelta(hours=1)).isoformat()
    assert _api(app_client, token_a, since=later).json()["leads"] == []
    # Pages: one at a time, following `next`, gives every lead once.
    seen, url = [], "/api/leads?limit=1"
    while url:
        page = app_client.get(url, headers=token_a).json()
        seen += [row["id"] for row in page["leads"]]
        url = page["next"]
    assert sorted(seen) == sorted(row["id"] for row in leads_a)
    # Bad filters name the field; another dealer's code is as unknown as a made-up one.
    for params, field in (
        ({"dealer": A}, "dealer"),
        ({"dealer": "NOPE"}, "dealer"),
        ({"stage": "maybe"}, "stage"),
        ({"assigned": "nobody@example.com"}, "assigned"),
        ({"since": "yesterday"}, "since"),
        ({"since": "0001-01-01T00:00:00+01:00"}, "since"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"limit": "0"}, "limit"),
    ):
        refused = _api(app_client, token_b, **params)
        assert refused.status_code in (400, 422), params
        assert refused.json()["field"] == field, (params, refused.json())
    marketing = make_token(session_factory, role="marketing")
    assert _api(app_client, marketing).status_code == 403
    assert app_client.get("/api/leads").status_code == 401


def test_with_sharing_off_a_dealer_finds_only_its_own_customers(
    app_client: TestClient,
    engine: Engine,
    session_factory: sessionmaker[Session],
    migrated_url: str,
    web_source: SourceKey,
) -> None:
    """The same records, served by an installation whose dealers do not share customers."""
    net = build(app_client.app, app_client, web_source, session_factory)  # type: ignore[arg-type]
    settings = Settings(database_url=migrated_url, share_customers_across_dealers=False)
    app = create_app(settings, engine=engine, session_factory=session_factory)
    with TestClient(app) as client:

        def on_this_app(staff: StaffClient) -> StaffClient:
            moved = TestClient(app, cookies=dict(staff.client.cookies))
            return StaffClient(client=moved, email=staff.email, csrf=staff.csrf)

        a, b = on_this_app(net.sales_a), on_this_app(net.sales_b)
        network = on_this_app(net.network)
        for query in (net.email, "Zwaneveld"):
            assert str(net.customer) not in get(b, f"/showroom?q={query}").text, query
            assert str(net.customer) not in get(b, f"/showroom/search?q={query}").text, query
            assert str(net.customer) in get(a, f"/showroom?q={query}").text, query
            assert str(net.customer) in get(network, f"/showroom?q={query}").text, query
        assert get(b, f"/showroom/customers/{net.customer}").status_code == 404
        assert get(b, f"/showroom/customers/{net.customer}/deal").status_code == 404
        assert get(b, f"/showroom/customers/{net.customer}/appointments/new").status_code == 404
        note = {"interest_level": "warm", "text": "x"}
        assert post(b, f"/showroom/customers/{net.customer}/notes", note).status_code == 404
        assert get(a, f"/showroom/customers/{net.customer}").status_code == 200
        token_b = make_token(session_factory, role="sales", dealer=B)
        token_a = make_token(session_factory, role="sales", dealer=A)
        for query in (net.email, "Zwaneveld"):
            found_b = client.get("/api/profiles", params={"q": query}, headers=token_b).json()
            assert found_b["results"] == [], query
            found_a = client.get("/api/profiles", params={"q": query}, headers=token_a).json()
            assert [r["id"] for r in found_a["results"]] == [str(net.customer)], query
        assert client.get(f"/api/profiles/{net.customer}", headers=token_b).status_code == 404
        assert client.get(f"/api/profiles/{net.customer}", headers=token_a).status_code == 200
        # Once B has worked with them (here: B's salesperson took them on a tablet), B finds
        # them too.
        sid = start(b)
        with session_factory() as session:
            from cdp.models import TabletSession

            tablet = session.get(TabletSession, sid)
            assert tablet is not None
            tablet.profile_id = net.customer
            session.commit()
        assert str(net.customer) in get(b, f"/showroom/search?q={net.email}").text
        assert get(b, f"/showroom/customers/{net.customer}").status_code == 200


def test_the_assign_choices_offer_only_the_leads_own_dealers_people(
    app_client: TestClient, web_source: SourceKey, session_factory: sessionmaker[Session]
) -> None:
    net = build(app_client.app, app_client, web_source, session_factory)  # type: ignore[arg-type]
    ids = {
        staff.email: user_id(session_factory, staff.email)
        for staff in (net.sales_a, net.colleague_a, net.sales_b)
    }

    def offered(staff: StaffClient, url: str, select_name: str) -> set[int]:
        page = soup(get(staff, url).text)
        form = page.select_one(f"form[action='/showroom/leads/{net.lead}/assign']")
        assert form is not None, url
        chosen = form.select_one(f"select[name='{select_name}']")
        assert chosen is not None
        return {int(o["value"]) for o in chosen.select("option") if o.get("value")}

    a_people = {ids[net.sales_a.email], ids[net.colleague_a.email]}
    # The importer's manager sees every dealer's lead, yet is offered only the lead's dealer's.
    for url in (f"/showroom/customers/{net.customer}/deal", "/showroom/leads?who=all"):
        choices = offered(net.network, url, "assigned_user_id")
        assert a_people <= choices, url
        assert ids[net.sales_b.email] not in choices, url
    assert ids[net.sales_b.email] not in offered(
        net.manager_a, f"/showroom/customers/{net.customer}/deal", "assigned_user_id"
    )
