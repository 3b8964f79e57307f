"""The handover queue: a sold car waits for a delivery specialist, who plans and records the
handover; the salesperson's list stays about selling."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cdp.local_time import local_today, to_local
from cdp.models import Appointment, Delivery, LeadStageChange, utcnow
from tests.helpers import (
    HOSTILE_IDS,
    SourceKey,
    StaffClient,
    field_error_text,
    get_lead,
    make_customer,
    only_lead,
    post,
    sign_in,
    soup,
    user_id,
)


def sold_lead(
    client: StaffClient, source: SourceKey, factory: sessionmaker[Session]
) -> tuple[int, int]:
    pid = make_customer(
        client.client, source, factory, first_name="Daan", last_name="Bakker", code="AUR-DLV01"
    )
    post(client, f"/showroom/customers/{pid}/leads", {"channel": "importer", "model": "Aurora"})
    lead = only_lead(factory, pid)
    response = post(client, f"/showroom/leads/{lead.id}/stage", {"stage": "sold"})
    assert response.status_code == 303
    with factory() as session:
        delivery_id = session.scalars(select(Delivery.id).where(Delivery.lead_id == lead.id)).one()
    return lead.id, delivery_id


def test_the_delivery_team_plans_and_records_the_handover(
    staff_client: Callable[[str], StaffClient],
    web_source: SourceKey,
    session_factory: sessionmaker[Session],
    app_client: TestClient,
) -> None:
    sales = staff_client("sales")
    lead_id, delivery_id = sold_lead(sales, web_source, session_factory)
    specialist = staff_client("delivery")
    me = user_id(session_factory, specialist.email)

    queue = soup(specialist.client.get("/showroom/deliveries").text)
    row = queue.select_one(f"#delivery-{delivery_id}")
    assert row is not None and "needs-date" in row["class"]
    assert "sold by" in row.get_text(" ") and "AUR-DLV01" in row.get_text(" ")
    options = [o["value"] for o in row.select("select[name=specialist_user_id] option")]
    assert str(me) in options

    day = local_today(utcnow()) + timedelta(days=2)
    response = post(
        specialist,
        f"/showroom/deliveries/{delivery_id}/plan",
        {"delivery_date": day.isoformat(), "delivery_time": "16:00", "specialist_user_id": str(me)},
    )
    assert response.status_code == 303
    with session_factory() as session:
        delivery = session.get(Delivery, delivery_id)
        handover = session.scalars(
            select(Appointment).where(
                Appointment.lead_id == lead_id, Appointment.kind == "delivery"
            )
        ).one()
    assert delivery is not None
    assert (delivery.delivery_date, delivery.specialist_user_id) == (day, me)
    assert (handover.user_id, to_local(handover.starts_at).strftime("%H:%M")) == (
        me,
        "16:00",
    )
    mine = soup(specialist.client.get("/showroom/deliveries?mine=1").text)
    assert mine.select_one(f"#delivery-{delivery_id}") is not None

    # The handover is on the visitor list for the delivery specialist.
    manager = staff_client("manager")
    visitors = soup(manager.client.get("/showroom/today").text).select("li.visitor")
    assert any("Delivery" in v.get_text(" ") and "Daan Bakker" in v.get_text(" ") for v in visitors)

    csrf = sign_in(app_client, specialist.email)
    response = app_client.post(
        f"/showroom/deliveries/{delivery_id}/delivered",
        data={"csrf_token": csrf},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert get_lead(session_factory, lead_id).stage == "delivered"
    with session_factory() as session:
        delivered = session.get(Delivery, delivery_id)
        last = session.scalars(
            select(LeadStageChange)
            .where(LeadStageChange.lead_id == lead_id)
            .order_by(LeadStageChange.id.desc())
        ).first()
        handover_status = session.scalars(
            select(Appointment.status).where(Appointment.lead_id == lead_id)
        ).all()
    assert delivered is not None and delivered.status == "delivered"
    assert delivered.delivered_at is not None
    assert last is not None and (last.to_stage, last.changed_by_user_id) == ("delivered", me)
    assert list(handover_status) == ["showed"]
    after = soup(app_client.get("/showroom/deliveries").text)
    assert after.select_one(f"#delivery-{delivery_id}") is None
    assert "No cars waiting" in after.get_text(" ")

    again = app_client.post(
        f"/showroom/deliveries/{delivery_id}/delivered",
        data={"csrf_token": csrf},
        follow_redirects=False,
    )
    assert again.status_code == 400  # delivered once, not twice
    assert "already delivered" in again.text
    assert get_lead(session_factory, lead_id).stage == "delivered"


def test_a_wrong_handover_date_is_refused_and_changes_nothing(
    staff_client: Callable[[str], StaffClient],
    web_source: SourceKey,
    session_factory: sessionmaker[Session],
) -> None:
    sales = staff_client("sales")
    sales_id = user_id(session_factory, sales.email)
    _lead_id, delivery_id = sold_lead(sales, web_source, session_factory)
    specialist = staff_client("delivery")
    for data, message in (
        ({"delivery_date": "2001-02-03"}, "That day has passed"),
        ({"delivery_date": "3 feb"}, "is not a date"),
        ({"delivery_date": "", "delivery_time": "10:00"}, "Pick a day"),
        ({"specialist_user_id": str(sales_id)}, "Choose a delivery specialist"),
    ):
        response = post(specialist, f"/showroom/deliveries/{delivery_id}/plan", data)
        assert response.status_code == 400, data
        html = response.text
        assert message in field_error_text(html) or message in html, data
        row = soup(html).select_one(f"#delivery-{delivery_id}")
        assert row is not None
    with session_factory() as session:
        delivery = session.get(Delivery, delivery_id)
        assert delivery is not None
        assert (delivery.delivery_date, delivery.specialist_user_id) == (None, None)
        assert (
            session.scalars(select(Appointment).where(Appointment.kind == "delivery")).all() == []
        )
    assert (
        specialist.client.post(
            f"/showroom/deliveries/{delivery_id}/delivered", follow_redirects=False
        ).status_code
        == 403
    )  # no CSRF token
    assert specialist.client.get("/showroom/deliveries/999999/plan").status_code in (404, 405)


@pytest.mark.parametrize("bad", HOSTILE_IDS)
def test_impossible_delivery_and_specialist_ids_are_a_404_or_refused(
    staff_client: Callable[[str], StaffClient],
    web_source: SourceKey,
    session_factory: sessionmaker[Session],
    bad: str,
) -> None:
    sales = staff_client("sales")
    _lead_id, delivery_id = sold_lead(sales, web_source, session_factory)
    specialist = staff_client("delivery")
    day = (local_today(utcnow()) + timedelta(days=2)).isoformat()
    for action in ("plan", "delivered"):
        response = post(specialist, f"/showroom/deliveries/{bad}/{action}", {"delivery_date": day})
        assert response.status_code == 404, action
        assert "There is no delivery" in response.text, action
    refused = post(
        specialist,
        f"/showroom/deliveries/{delivery_id}/plan",
        {"delivery_date": day, "specialist_user_id": bad},
    )
    assert refused.status_code == 400
    assert "Choose a delivery specialist from the list" in field_error_text(refused.text)
    with session_factory() as session:
        delivery = session.get(Delivery, delivery_id)
        assert delivery is not None and delivery.delivery_date is None


def test_a_deal_that_falls_through_leaves_the_queue(
    staff_client: Callable[[str], StaffClient],
    web_source: SourceKey,
    session_factory: sessionmaker[Session],
) -> None:
    sales = staff_client("sales")
    lead_id, delivery_id = sold_lead(sales, web_source, session_factory)
    response = post(
        sales,
        f"/showroom/leads/{lead_id}/stage",
        {"stage": "lost", "lost_reason": "price", "confirm": "yes"},
    )
    assert response.status_code == 303
    with session_factory() as session:
        delivery = session.get(Delivery, delivery_id)
        assert delivery is not None and delivery.status == "cancelled"
    refused = post(sales, f"/showroom/leads/{lead_id}/stage", {"stage": "delivered"})
    assert refused.status_code == 400
    assert "cannot move to delivered" in refused.text or "sold first" in refused.text
    specialist = staff_client("delivery")
    assert soup(specialist.client.get("/showroom/deliveries").text).select("li.delivery") == []
