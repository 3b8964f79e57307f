"""Nothing lost by a tap: marking a lead lost, cancelling an appointment and deactivating a
colleague ask once first, on a page of their own (no JS needed), and change nothing until the
question is answered; what was filled in goes along with the answer."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import httpx
from bs4 import BeautifulSoup
from sqlalchemy.orm import Session, sessionmaker

from cdp.local_time import local_today
from cdp.models import Appointment, LeadStageChange, StaffUser, utcnow
from tests.helpers import (
    SourceKey,
    StaffClient,
    count,
    get_lead,
    make_customer,
    only_lead,
    post,
    soup,
    user_id,
)


def _question(response: httpx.Response, action: str) -> tuple[BeautifulSoup, dict[str, str]]:
    """The confirm step: its heading and the hidden fields its one form sends again."""
    assert response.status_code == 200, response.text
    page = soup(response.text)
    form = page.select_one(f".confirm-step form[action='{action}']")
    assert form is not None
    fields = {i["name"]: i["value"] for i in form.select("input[type=hidden]")}
    assert fields.pop("csrf_token")
    assert fields["confirm"] == "yes"
    assert form.select_one("button[type=submit]") is not None
    return page, fields


def test_marking_a_lead_lost_asks_once(
    staff_client: Callable[[str], StaffClient],
    web_source: SourceKey,
    session_factory: sessionmaker[Session],
) -> None:
    sales = staff_client("sales")
    pid = make_customer(sales.client, web_source, session_factory)
    post(sales, f"/showroom/customers/{pid}/leads", {"channel": "phone", "model": "Aurora"})
    lead = only_lead(factory := session_factory, pid)
    changes = count(factory, LeadStageChange, LeadStageChange.lead_id == lead.id)
    url = f"/showroom/leads/{lead.id}/stage"
    chosen = {"stage": "lost", "lost_reason": "bought_elsewhere", "lost_detail": "Kia, Noord"}

    # A missing reason is still the form's error, not a question.
    assert post(sales, url, {"stage": "lost", "lost_reason": ""}).status_code == 400

    page, fields = _question(post(sales, url, {**chosen, "next": "/showroom/leads"}), url)
    assert page.select_one("h1").get_text(strip=True) == "Mark the lead of Sanne de Vries lost?"  # type: ignore[union-attr]
    text = page.get_text(" ")
    assert "Aurora" in text and "Kia, Noord" in text
    back = page.select_one(".confirm-step a")
    assert back is not None and back["href"] == "/showroom/leads"
    assert get_lead(factory, lead.id).stage == "new"  # nothing changed yet
    assert count(factory, LeadStageChange, LeadStageChange.lead_id == lead.id) == changes

    response = post(sales, url, fields)
    assert response.status_code == 303 and response.headers["location"] == "/showroom/leads"
    # The page it leads to says what happened, once.
    said = soup(sales.client.get("/showroom/leads").text).select_one(".flash")
    assert said is not None and "marked lost" in said.get_text()
    assert soup(sales.client.get("/showroom/leads").text).select_one(".flash") is None
    lost = get_lead(factory, lead.id)
    assert (lost.stage, lost.lost_reason, lost.lost_detail) == (
        "lost",
        "bought_elsewhere",
        "Kia, Noord",
    )
    assert count(factory, LeadStageChange, LeadStageChange.lead_id == lead.id) == changes + 1


def test_other_stage_changes_ask_nothing(
    staff_client: Callable[[str], StaffClient],
    web_source: SourceKey,
    session_factory: sessionmaker[Session],
) -> None:
    sales = staff_client("sales")
    pid = make_customer(sales.client, web_source, session_factory)
    post(sales, f"/showroom/customers/{pid}/leads", {"channel": "walk_in"})
    lead = only_lead(session_factory, pid)
    response = post(sales, f"/showroom/leads/{lead.id}/stage", {"stage": "reached"})
    assert response.status_code == 303
    assert get_lead(session_factory, lead.id).stage == "reached"


def test_cancelling_an_appointment_asks_once(
    staff_client: Callable[[str], StaffClient],
    web_source: SourceKey,
    session_factory: sessionmaker[Session],
) -> None:
    sales = staff_client("sales")
    pid = make_customer(
        sales.client, web_source, session_factory, first_name="Mila", last_name="Smit"
    )
    day = local_today(utcnow()) + timedelta(days=1)
    made = post(
        sales,
        f"/showroom/customers/{pid}/appointments",
        {"kind": "test_drive", "starts_date": day.isoformat(), "starts_time": "14:30"},
    )
    assert made.status_code == 303, made.text
    with session_factory() as session:
        appointment = session.query(Appointment).filter(Appointment.profile_id == pid).one()
    url = f"/showroom/appointments/{appointment.id}/status"

    page, fields = _question(post(sales, url, {"status": "cancelled"}), url)
    text = page.get_text(" ")
    assert "Cancel the test drive?" in text and "Mila Smit" in text and "14:30" in text
    with session_factory() as session:
        assert session.get(Appointment, appointment.id).status == "planned"  # type: ignore[union-attr]

    response = post(sales, url, fields)
    assert response.status_code == 303
    with session_factory() as session:
        assert session.get(Appointment, appointment.id).status == "cancelled"  # type: ignore[union-attr]
    said = soup(sales.client.get(response.headers["location"]).text).select_one(".flash")
    assert said is not None
    assert f"Test drive with Mila Smit on {day:%d-%m-%Y} 14:30 cancelled." in said.get_text()
    # A refused status is the list's error, not a question.
    assert post(sales, url, {"status": "cancelled"}).status_code == 400


def test_deactivating_a_colleague_asks_once(
    staff_client: Callable[[str], StaffClient], session_factory: sessionmaker[Session]
) -> None:
    colleague = staff_client("sales")
    admin = staff_client("admin")
    uid = user_id(session_factory, colleague.email)
    url = f"/admin/users/{uid}/deactivate"

    page, fields = _question(post(admin, url), url)
    assert "Deactivate" in page.select_one("h1").get_text()  # type: ignore[union-attr]
    assert colleague.email in page.get_text(" ")
    with session_factory() as session:
        assert session.get(StaffUser, uid).active is True  # type: ignore[union-attr]

    # Without the form token the answer is refused too.
    forged = admin.client.post(url, data=fields, follow_redirects=False)
    assert forged.status_code == 403
    response = post(admin, url, fields)
    assert response.status_code == 303
    said = soup(admin.client.get(response.headers["location"]).text).select_one(".flash")
    assert said is not None and f"({colleague.email}): account deactivated" in said.get_text()
    with session_factory() as session:
        assert session.get(StaffUser, uid).active is False  # type: ignore[union-attr]
