"""A salesperson who leaves a dealer, stops working leads or is deactivated leaves no open lead
behind (docs/dealers.md, "Staff and tokens"): the staff admin says how many open leads at which
dealers before saving, and on confirming they go back to their dealer's unassigned queue (or to
a colleague chosen there), each move in the lead's history with why. Through the real pages, on
both databases.
"""

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

from cdp.leads.service import create_lead
from cdp.leads.sla_alerts import warned_now
from cdp.models import Alert, Lead, LeadAssignment, StaffUser, utcnow
from tests.helpers import (
    SourceKey,
    StaffClient,
    audit_rows,
    make_customer,
    make_dealer,
    make_staff,
    post,
    sign_in,
    soup,
    text_at,
    user_id,
)

A, B = "NL-LEAVE-A", "NL-LEAVE-B"


@dataclass
class Showroom:
    app: FastAPI
    factory: sessionmaker[Session]
    admin: StaffClient
    seller: int  # the salesperson at A whose leads are at stake
    colleague: int  # another salesperson at A
    outsider: int  # a salesperson at B
    manager: StaffClient  # A's manager
    manager_id: int
    dealer_a: int
    customers: list[uuid.UUID]
    open_leads: list[int]  # the seller's open leads at A
    won: int  # the seller's sold lead at A: not open, stays theirs


def person(app: FastAPI, factory: sessionmaker[Session], role: str, *dealers: str) -> StaffClient:
    email = make_staff(factory, role=role, dealers=dealers)
    client = TestClient(app)
    return StaffClient(client=client, email=email, csrf=sign_in(client, email))


def leads_of(factory: sessionmaker[Session], lead_ids: list[int]) -> dict[int, Lead]:
    with factory() as session:
        return {
            lead.id: lead for lead in session.scalars(select(Lead).where(Lead.id.in_(lead_ids)))
        }


def question(response: httpx.Response, action: str) -> tuple[BeautifulSoup, dict[str, list[str]]]:
    """The confirmation page and the hidden fields its form sends again."""
    assert response.status_code == 200, response.text
    page = soup(response.text)
    form = page.select_one(f".confirm-step form[action='{action}']")
    assert form is not None, response.text
    fields: dict[str, list[str]] = {}
    for hidden in form.select("input[type=hidden]"):
        fields.setdefault(str(hidden["name"]), []).append(str(hidden["value"]))
    assert fields["confirm"] == ["yes"]
    return page, fields


def flash(client: TestClient, response: httpx.Response) -> str:
    assert response.status_code == 303, response.text
    page = soup(client.get(response.headers["location"]).text)
    said = page.select_one(".flash")
    assert said is not None
    return said.get_text(" ", strip=True)


def showroom(
    app_client: TestClient, factory: sessionmaker[Session], web_source: SourceKey, *, age: timedelta
) -> Showroom:
    dealer_a = make_dealer(factory, A)
    make_dealer(factory, B)
    app = app_client.app
    assert isinstance(app, FastAPI)
    admin = person(app, factory, "admin")
    seller_email = make_staff(factory, role="sales", name="Sem Verlaat", dealers=(A,))
    colleague = user_id(
        factory, make_staff(factory, role="sales", name="Cor Collega", dealers=(A,))
    )
    outsider = user_id(factory, make_staff(factory, role="sales", name="Bas Buiten", dealers=(B,)))
    manager = person(app, factory, "manager", A)
    seller = user_id(factory, seller_email)
    customers = [
        make_customer(app_client, web_source, factory, first_name=name, last_name="Klant")
        for name in ("Anna", "Bert", "Carla")
    ]
    when = utcnow() - age
    with factory() as session:
        made = [
            create_lead(
                session, profile_id=pid, channel="website", created_by_user_id=None,
                assigned_user_id=seller, dealer_id=dealer_a, now=when,
            )
            for pid in customers
        ]  # fmt: skip
        made[2].stage = "sold"
        session.commit()
        ids = [lead.id for lead in made]
    return Showroom(
        app=app,
        factory=factory,
        admin=admin,
        seller=seller,
        colleague=colleague,
        outsider=outsider,
        manager=manager,
        manager_id=user_id(factory, manager.email),
        dealer_a=dealer_a,
        customers=customers,
        open_leads=ids[:2],
        won=ids[2],
    )


def test_moving_a_salesperson_to_another_dealer_sends_their_open_leads_back_to_the_queue(
    app_client: TestClient, session_factory: sessionmaker[Session], web_source: SourceKey
) -> None:
    shop = showroom(app_client, session_factory, web_source, age=timedelta(hours=1))
    admin, url = shop.admin, f"/admin/users/{shop.seller}/dealers"

    # Saving asks first, saying how many open leads at which dealer; nothing changes yet.
    page, fields = question(post(admin, url, {"dealer": B}), url)
    said = text_at(page, ".confirm-step")
    assert f"Sem Verlaat has 2 open leads at {A} ({A}) that they can no longer work there" in said
    assert f"{A}'s unassigned queue" in said
    assert fields["dealer"] == [B]
    leads = leads_of(session_factory, [*shop.open_leads, shop.won])
    assert {lead.assigned_user_id for lead in leads.values()} == {shop.seller}

    # Confirmed: the open leads are the dealer's unassigned queue's, the sold one stays theirs.
    done = admin.client.post(url, data={**fields, "csrf_token": admin.csrf}, follow_redirects=False)
    assert f"2 open leads went back to {A}'s unassigned queue." in flash(admin.client, done)
    leads = leads_of(session_factory, [*shop.open_leads, shop.won])
    assert [leads[i].assigned_user_id for i in shop.open_leads] == [None, None]
    assert leads[shop.won].assigned_user_id == shop.seller

    # The lead's history says it was unassigned, from whom, by whom and why.
    with session_factory() as session:
        moved = session.scalars(
            select(LeadAssignment).where(LeadAssignment.lead_id == shop.open_leads[0])
            .order_by(LeadAssignment.id.desc())
        ).first()  # fmt: skip
        assert moved is not None
        assert (moved.from_user_id, moved.to_user_id, moved.rule) == (
            shop.seller, None, "staff_left"
        )  # fmt: skip
        assert moved.reason == "Sem Verlaat no longer works at this dealer"
    customer = soup(shop.manager.client.get(f"/showroom/customers/{shop.customers[0]}").text)
    history = text_at(customer, "ol.assignment-history")
    assert f"unassigned at {A}, from Sem Verlaat" in history
    assert "their salesperson can no longer work it" in history

    # A's manager sees them to assign; the seller no longer has them.
    queue = soup(shop.manager.client.get("/showroom/leads?who=unassigned").text)
    listed = {str(row["id"]) for row in queue.select("li.lead-row")}
    assert {f"lead-{i}" for i in shop.open_leads} <= listed

    # The audit trail has the change with the leads it moved.
    rows = audit_rows(admin.client, "action=staff")
    assert rows[0]["actor"] == admin.email
    assert rows[0]["detail"].endswith(
        f": dealers {A} → {B}; 2 open leads went back to {A}'s unassigned queue"
    )


def test_deactivating_a_salesperson_hands_their_open_leads_to_a_chosen_colleague(
    app_client: TestClient, session_factory: sessionmaker[Session], web_source: SourceKey
) -> None:
    shop = showroom(app_client, session_factory, web_source, age=timedelta(hours=1))
    admin, url = shop.admin, f"/admin/users/{shop.seller}/deactivate"

    page, fields = question(post(admin, url), url)
    assert f"2 open leads at {A} ({A})" in text_at(page, ".confirm-step")
    choice = page.select_one(f"select[name=to_{shop.dealer_a}]")
    assert choice is not None
    offered = {str(option["value"]) for option in choice.select("option")}
    assert offered == {"", str(shop.colleague), str(shop.manager_id)}

    # Someone of another dealer is refused, and nothing changes.
    sent = {k: v[0] for k, v in fields.items()}
    forged = post(admin, url, {**sent, f"to_{shop.dealer_a}": str(shop.outsider)})
    assert forged.status_code == 400
    assert f"works leads at {A}" in text_at(soup(forged.text), "[role=alert]")
    with session_factory() as session:
        assert session.get(StaffUser, shop.seller).active is True  # type: ignore[union-attr]

    chosen = {**sent, f"to_{shop.dealer_a}": str(shop.colleague)}
    said = flash(admin.client, post(admin, url, chosen))
    assert "account deactivated" in said and f"2 open leads at {A} went to Cor Collega." in said
    leads = leads_of(session_factory, [*shop.open_leads, shop.won])
    assert [leads[i].assigned_user_id for i in shop.open_leads] == [shop.colleague] * 2
    assert leads[shop.won].assigned_user_id == shop.seller
    with session_factory() as session:
        told = session.scalars(
            select(Alert.lead_id).where(
                Alert.user_id == shop.colleague, Alert.kind == "lead_assigned"
            )
        ).all()
        assert set(shop.open_leads) <= set(told)
    detail = audit_rows(admin.client, "action=staff")[0]["detail"]
    assert detail.endswith(f": deactivated; 2 open leads at {A} went to Cor Collega")


def test_an_uncontacted_lead_back_in_the_queue_alerts_the_dealers_manager(
    app_client: TestClient, session_factory: sessionmaker[Session], web_source: SourceKey
) -> None:
    """Past its warning time with nobody having called: once back in the queue, the
    speed-to-lead check tells A's manager it is unassigned and not contacted yet."""
    shop = showroom(app_client, session_factory, web_source, age=timedelta(days=2))
    url = f"/admin/users/{shop.seller}/role"
    _page, fields = question(post(shop.admin, url, {"role": "reception"}), url)
    done = post(shop.admin, url, {k: v[0] for k, v in fields.items()})
    assert f"2 open leads went back to {A}'s unassigned queue." in flash(shop.admin.client, done)

    manager = shop.manager_id
    with session_factory() as session:
        warned = {state.lead.id for state in warned_now(session, utcnow())}
        session.commit()
        assert set(shop.open_leads) <= warned
        alerts = session.execute(
            select(Alert.lead_id, Alert.text).where(
                Alert.user_id == manager, Alert.kind == "sla_warning"
            )
        ).all()
    texts = {lead_id: text for lead_id, text in alerts}
    for lead_id in shop.open_leads:
        assert texts[lead_id].startswith("unassigned lead not contacted yet")
    detail = audit_rows(shop.admin.client, "action=staff")[0]["detail"]
    assert ": role sales → reception; 2 open leads went back" in detail


def test_a_change_that_strands_no_lead_is_saved_without_asking(
    app_client: TestClient, session_factory: sessionmaker[Session], web_source: SourceKey
) -> None:
    shop = showroom(app_client, session_factory, web_source, age=timedelta(hours=1))
    # Working at A and B: A's leads are still theirs to work.
    both = shop.admin.client.post(
        f"/admin/users/{shop.seller}/dealers",
        data={"csrf_token": shop.admin.csrf, "dealer": [A, B]},
        follow_redirects=False,
    )
    assert both.status_code == 303
    # A salesperson becoming A's manager keeps their leads.
    assert (
        post(shop.admin, f"/admin/users/{shop.seller}/role", {"role": "manager"}).status_code == 303
    )
    leads = leads_of(session_factory, shop.open_leads)
    assert {lead.assigned_user_id for lead in leads.values()} == {shop.seller}
