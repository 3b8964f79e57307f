"""Lead cards for the phone: tap to call or e-mail, and logging a contact says what was recorded
and asks for the next action straight away (skipping it is one link)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from cdp.local_time import local_today, to_local
from cdp.models import utcnow
from tests.helpers import (
    HOSTILE_IDS,
    SourceKey,
    StaffClient,
    get_lead,
    make_customer,
    only_lead,
    post,
    soup,
)


def test_lead_cards_call_and_mail_with_one_tap(
    staff_client: Callable[[str], StaffClient],
    web_source: SourceKey,
    session_factory: sessionmaker[Session],
) -> None:
    sales = staff_client("sales")
    pid = make_customer(sales.client, web_source, session_factory, first_name="Tessa")
    post(sales, f"/showroom/customers/{pid}/leads", {"channel": "website"})
    lead = only_lead(session_factory, pid)
    post(sales, f"/showroom/leads/{lead.id}/assign", {"assigned_user_id": ""})
    card = soup(sales.client.get("/showroom/leads?who=unassigned").text).select_one(
        f"#lead-{lead.id}"
    )
    if card is None:  # creating it on the customer page made it ours
        card = soup(sales.client.get("/showroom/leads").text).select_one(f"#lead-{lead.id}")
    assert card is not None
    mail = card.select_one("a.mail")
    assert mail is not None and str(mail["href"]).startswith("mailto:tessa.")
    assert str(mail["href"]).endswith("@example.nl")
    customer = soup(sales.client.get(f"/showroom/customers/{pid}").text)
    tel = customer.select_one("a[href^='tel:']")
    if tel is not None:  # the builder's customer has a phone: the card offers it too
        call = card.select_one("a.tel")
        assert call is not None and call["href"] == tel["href"]


def test_logging_a_contact_confirms_and_asks_for_the_next_action(
    staff_client: Callable[[str], StaffClient],
    web_source: SourceKey,
    session_factory: sessionmaker[Session],
) -> None:
    sales = staff_client("sales")
    pid = make_customer(sales.client, web_source, session_factory, first_name="Ruben")
    post(sales, f"/showroom/customers/{pid}/leads", {"channel": "phone", "model": "Aurora"})
    lead = only_lead(session_factory, pid)

    logged = post(
        sales,
        f"/showroom/leads/{lead.id}/contact",
        {"method": "call", "outcome": "no_answer", "next": "/showroom/leads?who=mine"},
    )
    assert logged.status_code == 303
    page = soup(sales.client.get(logged.headers["location"]).text)
    status = page.select_one("[role=status]")
    assert status is not None
    assert "Call: no answer" in status.get_text(" ") and "Attempted" in status.get_text(" ")
    form = page.select_one(f"form[action='/showroom/leads/{lead.id}/next-action']")
    assert form is not None
    hidden = {str(i["name"]): str(i["value"]) for i in form.select("input[type=hidden]")}
    assert hidden["csrf_token"] == sales.csrf and hidden["next"] == "/showroom/leads?who=mine"
    action = form.select_one("input[name=next_action]")
    assert action is not None and action["value"] == "Try again"
    tomorrow = local_today(utcnow()) + timedelta(days=1)
    day = form.select_one("input[name=next_action_date]")
    assert day is not None and day["value"] == tomorrow.isoformat()
    skip = page.find("a", string="Skip")
    assert skip is not None and skip["href"] == "/showroom/leads?who=mine"

    response = post(
        sales,
        f"/showroom/leads/{lead.id}/next-action",
        {
            **hidden,
            "next_action": "Try again after 17:00",
            "next_action_date": str(tomorrow),
            "next_action_time": "17:15",
        },
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/showroom/leads?who=mine"
    updated = get_lead(session_factory, lead.id)
    assert updated.next_action == "Try again after 17:00"
    assert updated.next_action_at is not None
    assert to_local(updated.next_action_at).strftime("%Y-%m-%d %H:%M") == f"{tomorrow} 17:15"


def test_the_confirmation_only_shows_this_leads_attempts(
    staff_client: Callable[[str], StaffClient],
    web_source: SourceKey,
    session_factory: sessionmaker[Session],
) -> None:
    sales = staff_client("sales")
    first = make_customer(sales.client, web_source, session_factory, first_name="Anna")
    second = make_customer(sales.client, web_source, session_factory, first_name="Bram")
    for pid in (first, second):
        post(sales, f"/showroom/customers/{pid}/leads", {"channel": "website"})
    lead_a, lead_b = only_lead(session_factory, first), only_lead(session_factory, second)
    logged = post(
        sales, f"/showroom/leads/{lead_a.id}/contact", {"method": "sms", "outcome": "replied"}
    )
    attempt = logged.headers["location"].split("attempt=")[1].split("&")[0]
    other = sales.client.get(
        f"/showroom/leads/{lead_b.id}/contact/logged?attempt={attempt}", follow_redirects=False
    )
    assert other.status_code == 303 and other.headers["location"] == "/showroom/leads"
    for bad in ("", "abc", "0", *HOSTILE_IDS):
        response = sales.client.get(
            f"/showroom/leads/{lead_a.id}/contact/logged",
            params={"attempt": bad},
            follow_redirects=False,
        )
        assert response.status_code in (303, 422), (bad, response.status_code)
