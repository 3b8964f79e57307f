"""The audit trail (/admin/audit), through HTTP on both databases.

Covers: opening a customer page, writing a note, creating and moving a lead, reading a profile
and copying a person's data through the API, erasing them, and sign-ins (good and failed) each
leave a record; the page filters by staff member, action, profile and day and pages through
many records; the CSV holds what the filters select; only admins see either; after an
erasure the person's records stay, holding their profile id and none of their details.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Callable
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from cdp.audit.service import record
from cdp.local_time import local_today
from cdp.models import utcnow
from tests.helpers import (
    SourceKey,
    StaffClient,
    audit_rows,
    make_customer,
    make_token,
    post,
    soup,
    user_id,
)


def csv_rows(client: TestClient, query: str = "") -> list[dict[str, str]]:
    response = client.get(f"/admin/audit.csv?{query}")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    return list(csv.DictReader(io.StringIO(response.text)))


def test_staff_actions_and_sign_ins_are_recorded_and_filtered(
    app_client: TestClient,
    web_source: SourceKey,
    session_factory: sessionmaker[Session],
    staff_client: Callable[[str], StaffClient],
) -> None:
    customer = make_customer(app_client, web_source, session_factory, first_name="Noor")
    other = make_customer(app_client, web_source, session_factory, first_name="Bram")
    sales = staff_client("sales")
    assert app_client.get(f"/showroom/customers/{customer}").status_code == 200
    assert app_client.get(f"/showroom/customers/{other}").status_code == 200
    noted = post(sales, f"/showroom/customers/{customer}/notes", {"text": "Wants a tow bar"})
    assert noted.status_code == 303, noted.text
    lead = post(sales, f"/showroom/customers/{customer}/leads", {"channel": "walk_in"})
    assert lead.status_code == 303, lead.text
    app_client.cookies.clear()
    form = soup(app_client.get("/login").text).select_one("input[name=csrf_token]")
    assert form is not None
    failed = app_client.post(
        "/login",
        data={"email": sales.email, "password": "wrong-one!!", "csrf_token": str(form["value"])},
    )
    assert failed.status_code == 401
    token = make_token(session_factory, role="sales")
    assert app_client.get(f"/api/profiles/{other}", headers=token).status_code == 200

    admin = staff_client("admin")
    sales_id = user_id(session_factory, sales.email)
    everything = audit_rows(admin.client)
    kinds = [row["kind"] for row in everything]
    assert kinds[0] == "sign_in" and everything[0]["actor"] == admin.email  # newest first
    for kind in ("view", "note", "lead_edit", "sign_in", "sign_in_failed", "api_read"):
        assert kind in kinds, kind

    mine = audit_rows(admin.client, f"staff={sales_id}")
    assert {row["actor"] for row in mine} == {sales.email}
    assert sorted(row["kind"] for row in mine) == sorted(
        ["sign_in", "view", "view", "note", "lead_edit", "sign_in_failed"]
    )
    views = audit_rows(admin.client, f"staff={sales_id}&action=view")
    assert sorted(row["profile"] for row in views) == sorted([str(customer), str(other)])
    about = audit_rows(admin.client, f"profile={customer}")
    assert sorted(row["kind"] for row in about) == ["lead_edit", "note", "view"]
    api = audit_rows(admin.client, f"profile={other}&action=api_read")
    assert len(api) == 1 and api[0]["actor"].startswith("API token ")

    today = local_today(utcnow())
    tomorrow = today + timedelta(days=1)
    assert len(audit_rows(admin.client, f"since={today}&until={today}")) == len(everything)
    assert audit_rows(admin.client, f"since={tomorrow}") == []
    assert audit_rows(admin.client, f"until={today - timedelta(days=1)}") == []

    # The CSV holds exactly what the filters select.
    download = csv_rows(admin.client, f"profile={customer}")
    assert sorted(row["action"] for row in download) == ["lead_edit", "note", "view"]
    assert {row["profile_id"] for row in download} == {str(customer)}
    assert {row["staff_user_id"] for row in download} == {str(sales_id)}
    assert len(csv_rows(admin.client)) == len(everything)


def test_bad_filters_are_named_and_nothing_is_listed(
    staff_client: Callable[[str], StaffClient],
) -> None:
    admin = staff_client("admin")
    for query, field in (
        ("profile=not-an-id", "profile"),
        ("action=delete_everything", "action"),
        ("since=31-12-2026", "since"),
        ("since=2026-12-07&until=2026-12-01", "until"),
        ("staff=abc", "staff"),
    ):
        response = admin.client.get(f"/admin/audit?{query}")
        assert response.status_code == 400, query
        page = soup(response.text)
        assert page.select_one("#filter-error") is not None, query
        marked = page.select_one(f'[name="{field}"][aria-invalid="true"]')
        assert marked is not None, query
        assert admin.client.get(f"/admin/audit.csv?{query}").status_code == 400


def test_many_records_page_by_fifty(
    session_factory: sessionmaker[Session], staff_client: Callable[[str], StaffClient]
) -> None:
    profile = uuid.uuid4()
    with session_factory() as session:
        for number in range(120):
            record(session, "view", actor="someone@dealer.example", profile_id=profile,
                   detail=f"n{number}")  # fmt: skip
        session.commit()
    admin = staff_client("admin")
    first = audit_rows(admin.client, f"profile={profile}")
    third = audit_rows(admin.client, f"profile={profile}&page=3")
    assert len(first) == 50 and len(third) == 20
    page = soup(admin.client.get(f"/admin/audit?profile={profile}&page=2").text)
    assert page.select_one("a[rel=prev]") is not None and page.select_one("a[rel=next]")
    assert "Page 2 of 3" in page.get_text()
    assert len(csv_rows(admin.client, f"profile={profile}")) == 120  # every page


def test_only_admins_see_the_audit(
    staff_client: Callable[[str], StaffClient], session_factory: sessionmaker[Session]
) -> None:
    for role in ("sales", "manager", "marketing", "reception", "delivery"):
        person = staff_client(role)
        assert person.client.get("/admin/audit").status_code == 403, role
        assert person.client.get("/admin/audit.csv").status_code == 403, role
    admin = staff_client("admin")
    assert admin.client.get("/admin/audit").status_code == 200
    assert soup(admin.client.get("/admin/users").text).select_one('nav a[href="/admin/audit"]')


def test_erasure_leaves_the_records_without_personal_data(
    app_client: TestClient,
    web_source: SourceKey,
    session_factory: sessionmaker[Session],
    staff_client: Callable[[str], StaffClient],
) -> None:
    customer = make_customer(
        app_client, web_source, session_factory, first_name="Femke", last_name="Zwaanswijk"
    )
    sales = staff_client("sales")
    assert app_client.get(f"/showroom/customers/{customer}").status_code == 200
    post(sales, f"/showroom/customers/{customer}/notes", {"text": "Call Femke back"})
    privacy = make_token(session_factory, role="admin")
    copy = app_client.get(f"/api/profiles/{customer}/data", headers=privacy)
    assert copy.status_code == 200
    email = next(i["value"] for i in copy.json()["identifiers"] if i["kind"] == "email")
    erased = app_client.post(
        f"/api/profiles/{customer}/erasure",
        json={"reason": "asked by Femke Zwaanswijk"},
        headers=privacy,
    )
    assert erased.status_code == 200, erased.text

    admin = staff_client("admin")
    about = audit_rows(admin.client, f"profile={customer}")
    assert sorted(row["kind"] for row in about) == ["erasure", "note", "subject_access", "view"]
    download = admin.client.get(f"/admin/audit.csv?profile={customer}").text
    listing = admin.client.get(f"/admin/audit?profile={customer}").text
    for personal in ("Femke", "Zwaanswijk", email, email.split("@")[0]):
        assert personal not in download and personal not in listing, personal
