"""Nothing lost by a tap: "Mark delivered" says what happened and offers an undo for a short
while, which puts the car back in the handover queue as it was, recorded on the lead."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cdp.local_time import local_today
from cdp.models import Appointment, Delivery, LeadStageChange, utcnow
from tests.helpers import (
    HOSTILE_IDS,
    SourceKey,
    StaffClient,
    get_lead,
    make_customer,
    only_lead,
    post,
    soup,
    user_id,
)


def _sold(
    sales: StaffClient, source: SourceKey, factory: sessionmaker[Session], code: str
) -> tuple[int, int]:
    pid = make_customer(
        sales.client, source, factory, first_name="Lotte", last_name="Visser", code=code
    )
    post(sales, f"/showroom/customers/{pid}/leads", {"channel": "importer", "model": "Aurora"})
    lead = only_lead(factory, pid)
    assert post(sales, f"/showroom/leads/{lead.id}/stage", {"stage": "sold"}).status_code == 303
    with factory() as session:
        delivery_id = session.scalars(select(Delivery.id).where(Delivery.lead_id == lead.id)).one()
    return lead.id, delivery_id


def _delivery(factory: sessionmaker[Session], delivery_id: int) -> Delivery:
    with factory() as session:
        delivery = session.get(Delivery, delivery_id)
        assert delivery is not None
        return delivery


def test_mark_delivered_can_be_undone_at_once(
    staff_client: Callable[[str], StaffClient],
    web_source: SourceKey,
    session_factory: sessionmaker[Session],
) -> None:
    lead_id, delivery_id = _sold(staff_client("sales"), web_source, session_factory, "AUR-UND01")
    specialist = staff_client("delivery")
    me = user_id(session_factory, specialist.email)

    response = post(specialist, f"/showroom/deliveries/{delivery_id}/delivered")
    assert response.status_code == 303
    assert response.headers["location"] == f"/showroom/deliveries?done={delivery_id}"
    page = soup(specialist.client.get(response.headers["location"]).text)
    offer = page.select_one("[data-undo-seconds]")
    assert offer is not None and "Delivered:" in offer.get_text(" ")
    assert "Lotte Visser" in offer.get_text(" ")
    undo = offer.select_one(f"form[action='/showroom/deliveries/{delivery_id}/undo-delivered']")
    assert undo is not None and undo.select_one("input[name=csrf_token]") is not None
    assert page.select_one(f"#delivery-{delivery_id}") is None
    assert page.find("script", src="/static/js/undo.js") is not None

    response = post(specialist, f"/showroom/deliveries/{delivery_id}/undo-delivered")
    assert response.status_code == 303
    assert response.headers["location"] == f"/showroom/deliveries?undone={delivery_id}"
    delivery = _delivery(session_factory, delivery_id)
    assert (delivery.status, delivery.delivered_at, delivery.delivery_date) == (
        "scheduled",
        None,
        None,
    )
    assert get_lead(session_factory, lead_id).stage == "sold"
    with session_factory() as session:
        steps = session.execute(
            select(
                LeadStageChange.from_stage,
                LeadStageChange.to_stage,
                LeadStageChange.changed_by_user_id,
            )
            .where(LeadStageChange.lead_id == lead_id)
            .order_by(LeadStageChange.id)
        ).all()
    assert [tuple(s) for s in steps[-2:]] == [("sold", "delivered", me), ("delivered", "sold", me)]
    page = soup(specialist.client.get(response.headers["location"]).text)
    assert page.select_one(f"#delivery-{delivery_id}") is not None
    assert "Undone:" in page.get_text(" ") and page.select_one("[data-undo-seconds]") is None

    # Undone once: a second undo is refused, and the car can be delivered again.
    again = post(specialist, f"/showroom/deliveries/{delivery_id}/undo-delivered")
    assert again.status_code == 409 and "can no longer be undone" in again.text
    assert post(specialist, f"/showroom/deliveries/{delivery_id}/delivered").status_code == 303
    assert get_lead(session_factory, lead_id).stage == "delivered"


def test_undo_puts_a_planned_handover_back_as_planned(
    staff_client: Callable[[str], StaffClient],
    web_source: SourceKey,
    session_factory: sessionmaker[Session],
) -> None:
    lead_id, delivery_id = _sold(staff_client("sales"), web_source, session_factory, "AUR-UND02")
    specialist = staff_client("delivery")
    day = local_today(utcnow()) + timedelta(days=1)
    planned = {"delivery_date": day.isoformat(), "delivery_time": "10:30"}
    assert post(specialist, f"/showroom/deliveries/{delivery_id}/plan", planned).status_code == 303
    assert post(specialist, f"/showroom/deliveries/{delivery_id}/delivered").status_code == 303
    assert post(specialist, f"/showroom/deliveries/{delivery_id}/undo-delivered").status_code == 303
    delivery = _delivery(session_factory, delivery_id)
    assert (delivery.status, delivery.delivery_date) == ("scheduled", day)
    with session_factory() as session:
        statuses = session.scalars(
            select(Appointment.status).where(Appointment.lead_id == lead_id)
        ).all()
    assert list(statuses) == ["planned"]


def test_undo_is_refused_after_its_window_or_without_the_form_token(
    staff_client: Callable[[str], StaffClient],
    web_source: SourceKey,
    session_factory: sessionmaker[Session],
) -> None:
    lead_id, delivery_id = _sold(staff_client("sales"), web_source, session_factory, "AUR-UND03")
    specialist = staff_client("delivery")
    early = post(specialist, f"/showroom/deliveries/{delivery_id}/undo-delivered")
    assert early.status_code == 409  # nothing to undo yet
    assert post(specialist, f"/showroom/deliveries/{delivery_id}/delivered").status_code == 303

    forged = specialist.client.post(
        f"/showroom/deliveries/{delivery_id}/undo-delivered", follow_redirects=False
    )
    assert forged.status_code == 403

    with session_factory() as session:
        delivery = session.get(Delivery, delivery_id)
        assert delivery is not None and delivery.delivered_at is not None
        delivery.delivered_at -= timedelta(minutes=3)
        session.commit()
    page = soup(specialist.client.get(f"/showroom/deliveries?done={delivery_id}").text)
    assert page.select_one("[data-undo-seconds]") is None  # no offer past the window
    late = post(specialist, f"/showroom/deliveries/{delivery_id}/undo-delivered")
    assert late.status_code == 409
    assert "can no longer be undone" in soup(late.text).select_one("[role=alert]").get_text()  # type: ignore[union-attr]
    assert _delivery(session_factory, delivery_id).status == "delivered"
    assert get_lead(session_factory, lead_id).stage == "delivered"


def test_odd_ids_in_the_queue_address_are_ignored(
    staff_client: Callable[[str], StaffClient],
) -> None:
    specialist = staff_client("delivery")
    for bad in ("abc", "0", "-1", *HOSTILE_IDS):
        for name in ("done", "undone"):
            response = specialist.client.get("/showroom/deliveries", params={name: bad})
            assert response.status_code == 200, (name, bad)
            assert soup(response.text).select_one("[role=status]") is None
