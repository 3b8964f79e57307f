"""What staff make belongs to a dealer: a lead, note, appointment or tablet session to the
acting staff member's dealer, what hangs off a lead (contact attempts, a delivery's appointment)
to the lead's, and what importer staff or the website make to the default dealer."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cdp.local_time import local_today
from cdp.models import (
    Appointment,
    ContactAttempt,
    Dealer,
    Lead,
    Note,
    TabletSession,
    utcnow,
)
from tests.helpers import (
    SourceKey,
    StaffClient,
    make_customer,
    make_dealer,
    make_staff,
    post,
    sign_in,
    start,
)


def signed_in(
    client: TestClient, factory: sessionmaker[Session], role: str, *dealers: str
) -> StaffClient:
    email = make_staff(factory, role=role, dealers=dealers)
    client.cookies.clear()
    return StaffClient(client=client, email=email, csrf=sign_in(client, email))


def dealers_of(factory: sessionmaker[Session], model: type[object], pid: object) -> set[int]:
    with factory() as session:
        column = model.dealer_id  # type: ignore[attr-defined]
        return set(session.scalars(select(column).where(model.profile_id == pid)))  # type: ignore[attr-defined]


def test_what_a_dealers_salesperson_makes_belongs_to_that_dealer(
    app_client: TestClient, web_source: SourceKey, session_factory: sessionmaker[Session]
) -> None:
    eindhoven = make_dealer(session_factory, "NL-EIN1")
    make_dealer(session_factory, "BE-ANT")
    sales = signed_in(app_client, session_factory, "sales", "NL-EIN1")
    pid = make_customer(sales.client, web_source, session_factory)
    assert post(sales, f"/showroom/customers/{pid}/leads", {"channel": "phone"}).status_code == 303
    with session_factory() as session:
        lead_id = session.scalar(select(Lead.id).where(Lead.profile_id == pid))
    contact = {"method": "call", "outcome": "no_answer"}
    assert post(sales, f"/showroom/leads/{lead_id}/contact", contact).status_code == 303
    note = {"interest_level": "hot", "text": "Wants the estate"}
    assert post(sales, f"/showroom/customers/{pid}/notes", note).status_code == 303
    tomorrow = (local_today(utcnow()) + timedelta(days=1)).isoformat()
    visit = {"kind": "visit", "starts_date": tomorrow, "starts_time": "10:00", "model": ""}
    assert post(sales, f"/showroom/customers/{pid}/appointments", visit).status_code == 303
    sid = start(sales)
    for model in (Lead, ContactAttempt, Note, Appointment):
        assert dealers_of(session_factory, model, pid) == {eindhoven}, model
    with session_factory() as session:
        tablet = session.get(TabletSession, sid)
        assert tablet is not None and tablet.dealer_id == eindhoven


def test_what_importer_staff_make_lands_with_the_default_dealer(
    app_client: TestClient, web_source: SourceKey, session_factory: sessionmaker[Session]
) -> None:
    make_dealer(session_factory, "NL-EIN1")
    manager = signed_in(app_client, session_factory, "manager")  # no dealer: the network
    pid = make_customer(manager.client, web_source, session_factory)
    assert (
        post(manager, f"/showroom/customers/{pid}/leads", {"channel": "phone"}).status_code == 303
    )
    with session_factory() as session:
        main = session.scalar(select(Dealer.id).where(Dealer.code == "MAIN"))
    assert dealers_of(session_factory, Lead, pid) == {main}
