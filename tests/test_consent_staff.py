"""Consent recorded by staff on the customer page: a grant or a withdrawal for one address the
customer holds (or tracking), with a required reason and the wording, asked to confirm before
a withdrawal; shown in the history with who, where and why; in force at once for exports;
audited; lifting an erasure's suppression of the address it grants. Runs on SQLite and
PostgreSQL, through HTTP and parsed HTML."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Callable
from datetime import timedelta

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cdp.models import AuditRecord, Consent, Erasure, Identity, Profile, Suppression, utcnow
from cdp.profiles.suppression import record_suppression
from segmentation import export
from tests.helpers import SourceKey, StaffClient, customer, iso, post, send, soup, text_at

# The dealer a sales member works at when the network has one (cdp/dealers/service.py).
DEALER = "Main showroom"


def address_of(factory: sessionmaker[Session], pid: uuid.UUID) -> str:
    with factory() as session:
        return session.scalars(
            select(Identity.value).where(Identity.profile_id == pid, Identity.kind == "email")
        ).one()


def statements(factory: sessionmaker[Session], pid: uuid.UUID) -> list[Consent]:
    with factory() as session:
        return list(
            session.scalars(select(Consent).where(Consent.profile_id == pid).order_by(Consent.id))
        )


def exported(db: Session, pid: uuid.UUID) -> list[str]:
    """The addresses an export writes for this profile (segmentation/export.py)."""
    db.expire_all()
    out = io.StringIO(newline="")
    target = export.ExportTarget(what="test", rules={}, condition=Profile.id == pid, run_id=None)
    export.export_to_file(db, target, out, exported_by="test")
    return [row["email"] for row in csv.DictReader(io.StringIO(out.getvalue()))]


def grant(staff: StaffClient, pid: uuid.UUID, address: str, **fields: str) -> httpx.Response:
    return post(
        staff,
        f"/showroom/customers/{pid}/consent",
        {
            "purpose": "email",
            "status": "granted",
            "address": address,
            "reason": "signed paper form",
            "wording": "Yes, e-mail me offers.",
            **fields,
        },
    )


def withdraw(staff: StaffClient, pid: uuid.UUID, address: str, **fields: str) -> httpx.Response:
    return post(
        staff,
        f"/showroom/customers/{pid}/consent",
        {
            "purpose": "email",
            "status": "withdrawn",
            "address": address,
            "reason": "customer asked by phone",
            "wording": "",
            "confirm": "yes",
            **fields,
        },
    )


def test_staff_grant_then_withdrawal_are_recorded_with_reason_and_shown_in_history(
    app_client: TestClient,
    web_source: SourceKey,
    session_factory: sessionmaker[Session],
    staff_client: Callable[[str], StaffClient],
) -> None:
    pid = customer(app_client, web_source, session_factory)
    address = address_of(session_factory, pid)
    staff = staff_client("sales")

    page = soup(staff.client.get(f"/showroom/customers/{pid}").text)
    email_row = page.select_one("tr.standing-email")
    assert email_row is not None and address in email_row.get_text()
    assert "not asked" in email_row.get_text()
    assert text_at(page, "#consent-h + table + h3 + .empty") == "No consent statements yet."
    link = email_row.select_one("a.consent-change")
    assert link is not None and link.get_text(strip=True) == "Record consent"

    form = soup(staff.client.get(str(link["href"])).text)
    chosen = form.select_one("select[name=address] option[selected]")
    assert chosen is not None and chosen["value"] == address
    wording = form.select_one("textarea[name=wording]")
    assert wording is not None and "may e-mail me offers" in wording.get_text()  # the default

    answer = grant(staff, pid, address, wording="Yes, e-mail me about the Tundra.")
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/showroom/customers/{pid}#consent-h"
    [granted] = statements(session_factory, pid)
    assert (granted.status, granted.address, granted.reason, granted.recorded_via) == (
        "granted",
        address,
        "signed paper form",
        "staff page",
    )
    assert granted.wording == "Yes, e-mail me about the Tundra."
    assert granted.recorded_by_user_id is not None and granted.source_id is None

    # Withdrawing asks first, and records nothing until confirmed.
    asked = withdraw(staff, pid, address, confirm="")
    assert asked.status_code == 200
    question = soup(asked.text)
    assert text_at(question, "h1") == f"Withdraw e-mail consent to {address}?"
    assert len(statements(session_factory, pid)) == 1
    fields = {str(i["name"]): str(i["value"]) for i in question.select("form input[type=hidden]")}
    assert fields["confirm"] == "yes" and fields["reason"] == "customer asked by phone"
    done = staff.client.post(
        f"/showroom/customers/{pid}/consent", data=fields, follow_redirects=False
    )
    assert done.status_code == 303
    first, second = statements(session_factory, pid)
    assert (second.status, second.address, second.reason) == (
        "withdrawn",
        address,
        "customer asked by phone",
    )

    page = soup(staff.client.get(f"/showroom/customers/{pid}").text)
    items = page.select(".consent-history .consent-statement")
    assert [i["id"] for i in items] == [f"consent-{second.id}", f"consent-{first.id}"]
    newest, oldest = items
    assert "in-force" in newest["class"] and "in-force" not in oldest["class"]
    assert text_at(newest, ".in-force-badge") == "in force"
    assert "customer asked by phone" in text_at(newest, ".reason")
    assert text_at(newest, ".where") == f"staff page · {DEALER}"
    assert text_at(oldest, ".wording") == "Yes, e-mail me about the Tundra."
    assert text_at(oldest, ".who")  # the staff member's name
    email_row = page.select_one("tr.standing-email")
    assert email_row is not None and "withdrawn" in email_row.get_text()
    assert text_at(email_row, "a.consent-change") == "Record consent"

    with session_factory() as session:
        details = session.scalars(
            select(AuditRecord.detail)
            .where(AuditRecord.profile_id == pid, AuditRecord.action == "consent")
            .order_by(AuditRecord.id)
        ).all()
    assert details == [
        f"email consent granted (statement {first.id})",
        f"email consent withdrawn (statement {second.id})",
    ]
    assert all(address not in d for d in details)


def test_tracking_consent_is_recorded_for_the_person(
    app_client: TestClient,
    web_source: SourceKey,
    session_factory: sessionmaker[Session],
    staff_client: Callable[[str], StaffClient],
) -> None:
    pid = customer(app_client, web_source, session_factory, consent={"tracking": True})
    staff = staff_client("manager")
    page = soup(staff.client.get(f"/showroom/customers/{pid}").text)
    assert text_at(page, "tr.standing-tracking a.consent-change") == "Record withdrawal"
    answer = post(
        staff,
        f"/showroom/customers/{pid}/consent",
        {
            "purpose": "tracking",
            "status": "withdrawn",
            "reason": "customer asked in the showroom",
            "confirm": "yes",
        },
    )
    assert answer.status_code == 303
    latest = statements(session_factory, pid)[-1]
    assert (latest.purpose, latest.status, latest.address) == ("tracking", "withdrawn", None)
    page = soup(staff.client.get(f"/showroom/customers/{pid}").text)
    newest = page.select_one(".consent-history .consent-statement")
    assert newest is not None and "in-force" in newest["class"]
    # The web source's grant stays in the history, no longer in force, named by its source.
    oldest = page.select(".consent-history .consent-statement")[-1]
    assert "in-force" not in oldest["class"]
    assert text_at(oldest, ".who") == web_source.name
    assert text_at(oldest, ".where") == "website"


def test_a_reason_is_required_and_every_problem_is_marked(
    app_client: TestClient,
    web_source: SourceKey,
    session_factory: sessionmaker[Session],
    staff_client: Callable[[str], StaffClient],
) -> None:
    pid = customer(app_client, web_source, session_factory)
    address = address_of(session_factory, pid)
    staff = staff_client("sales")
    answer = grant(staff, pid, address, reason="   ", wording="")
    assert answer.status_code == 400
    form = soup(answer.text)
    assert form.select_one("#consent-problems") is not None
    reason = form.select_one("input[name=reason]")
    assert reason is not None and reason.get("aria-invalid") == "true"
    assert "Say why you record this" in text_at(form, "#reason-error")
    assert "words the customer agreed to" in text_at(form, "#wording-error")
    chosen = form.select_one("select[name=address] option[selected]")
    assert chosen is not None and chosen["value"] == address  # kept as chosen
    # Fields a form never sends (a hand-made request) are named too.
    odd = grant(staff, pid, address, purpose="advertising", status="maybe")
    assert odd.status_code == 400
    assert text_at(soup(odd.text), "#purpose-error") == "Choose e-mail, phone or tracking."
    assert text_at(soup(odd.text), "#status-error")
    # A withdrawal without a reason is refused before any confirmation.
    refused = withdraw(staff, pid, address, reason="", confirm="")
    assert refused.status_code == 400 and soup(refused.text).select_one("#reason-error")
    assert statements(session_factory, pid) == []


@pytest.mark.parametrize("typed", ["someone.else@example.nl", "", "+31 6 12345678"])
def test_the_address_must_be_one_the_customer_holds(
    app_client: TestClient,
    web_source: SourceKey,
    session_factory: sessionmaker[Session],
    staff_client: Callable[[str], StaffClient],
    typed: str,
) -> None:
    pid = customer(app_client, web_source, session_factory)
    other = customer(app_client, web_source, session_factory, first_name="Bram")
    staff = staff_client("sales")
    for address in (typed, address_of(session_factory, other)):
        answer = grant(staff, pid, address)
        assert answer.status_code == 400
        assert soup(answer.text).select_one("select[name=address][aria-invalid=true]")
        assert text_at(soup(answer.text), "#address-error")
    assert statements(session_factory, pid) == []
    # The address as typed with capitals and spaces is the one they hold.
    assert grant(staff, pid, f"  {address_of(session_factory, pid).upper()} ").status_code == 303


def test_export_leaves_out_an_address_at_once_after_a_staff_withdrawal_and_takes_it_after_a_grant(
    app_client: TestClient,
    web_source: SourceKey,
    session_factory: sessionmaker[Session],
    staff_client: Callable[[str], StaffClient],
    db: Session,
) -> None:
    pid = customer(app_client, web_source, session_factory, consent={"email": True})
    address = address_of(session_factory, pid)
    assert exported(db, pid) == [address]
    staff = staff_client("sales")
    assert withdraw(staff, pid, address).status_code == 303
    assert exported(db, pid) == []
    assert grant(staff, pid, address).status_code == 303
    assert exported(db, pid) == [address]


def test_a_later_repeat_from_ingest_keeps_the_staff_statement(
    app_client: TestClient,
    web_source: SourceKey,
    session_factory: sessionmaker[Session],
    staff_client: Callable[[str], StaffClient],
) -> None:
    """Ingest stores changes only and drops a stored statement that a new, earlier one makes a
    repeat: never one staff recorded, with its reason."""
    pid = customer(app_client, web_source, session_factory)
    address = address_of(session_factory, pid)
    staff = staff_client("sales")
    assert grant(staff, pid, address).status_code == 303
    with session_factory() as session:
        device = session.scalars(
            select(Identity.value).where(
                Identity.profile_id == pid, Identity.kind == "anonymous_id"
            )
        ).one()
    send(
        app_client,
        web_source,
        "identify",
        {
            "anonymousId": device,
            "traits": {"email": address, "consent": {"email": "granted"}},
            "timestamp": iso(utcnow() - timedelta(minutes=5)),
        },
    )
    kept = [c for c in statements(session_factory, pid) if c.reason == "signed paper form"]
    assert len(kept) == 1 and len(statements(session_factory, pid)) == 2


@pytest.mark.parametrize("role", ["reception", "delivery", "marketing"])
def test_a_role_without_customer_deal_cannot_record_consent(
    app_client: TestClient,
    web_source: SourceKey,
    session_factory: sessionmaker[Session],
    staff_client: Callable[[str], StaffClient],
    role: str,
) -> None:
    pid = customer(app_client, web_source, session_factory, consent={"email": True})
    address = address_of(session_factory, pid)
    staff = staff_client(role)
    assert staff.client.get(f"/showroom/customers/{pid}/consent/new").status_code == 403
    assert withdraw(staff, pid, address).status_code == 403
    assert grant(staff, pid, address).status_code == 403
    assert len(statements(session_factory, pid)) == 1
    if role != "marketing":  # they see the consent, without the links to change it
        page = soup(staff.client.get(f"/showroom/customers/{pid}").text)
        assert page.select(".consent-history .consent-statement")
        assert page.select("a.consent-change") == []


def test_history_shows_ten_on_the_customer_page_and_every_statement_on_its_own_pages(
    app_client: TestClient,
    web_source: SourceKey,
    session_factory: sessionmaker[Session],
    staff_client: Callable[[str], StaffClient],
) -> None:
    pid = customer(app_client, web_source, session_factory)
    address = address_of(session_factory, pid)
    staff = staff_client("sales")
    for n in range(12):
        answer = (withdraw if n % 2 else grant)(staff, pid, address, reason=f"call {n}")
        assert answer.status_code == 303
    page = soup(staff.client.get(f"/showroom/customers/{pid}").text)
    items = page.select(".consent .consent-history .consent-statement")
    assert len(items) == 10 and "call 11" in text_at(items[0], ".reason")
    more = page.select_one(f"a[href='/showroom/customers/{pid}/consent']")
    assert more is not None and more.get_text(strip=True) == "All 12 statements"
    full = soup(staff.client.get(f"/showroom/customers/{pid}/consent").text)
    listed = full.select(".consent-statement")
    assert len(listed) == 12 and "call 0" in text_at(listed[-1], ".reason")
    assert [i for i in listed if "in-force" in i["class"]] == [listed[0]]
    for odd in ("0", "2", "99999999999999", "²", "x"):  # the nearest page, never an error
        shown = soup(staff.client.get(f"/showroom/customers/{pid}/consent?page={odd}").text)
        assert len(shown.select(".consent-statement")) == 12
    missing = staff.client.get(f"/showroom/customers/{uuid.uuid4()}/consent")
    assert missing.status_code == 404


def test_a_staff_grant_lifts_an_erasure_suppression_of_that_address(
    app_client: TestClient,
    web_source: SourceKey,
    session_factory: sessionmaker[Session],
    staff_client: Callable[[str], StaffClient],
) -> None:
    """An address an erasure suppressed (here recorded directly: an earlier holder of it) is
    held back until the person agrees again: a staff grant is that agreement, recorded with
    who and why; a withdrawal lifts nothing."""
    pid = customer(app_client, web_source, session_factory)
    address = address_of(session_factory, pid)
    staff = staff_client("sales")
    with session_factory() as session:
        erasure = Erasure(
            profile_id=uuid.uuid4(), erased_by="test", reason="asked", erased_at=utcnow()
        )
        session.add(erasure)
        session.flush()
        record_suppression(session, erasure, [("email", address)])
        session.commit()
        erasure_id = erasure.id

    def entry() -> Suppression:
        with session_factory() as session:
            return session.scalars(
                select(Suppression).where(Suppression.erasure_id == erasure_id)
            ).one()

    assert withdraw(staff, pid, address).status_code == 303
    assert entry().lifted_at is None
    assert grant(staff, pid, address).status_code == 303
    lifted = entry()
    assert lifted.lifted_at is not None and lifted.lifted_by == staff.email
    assert lifted.lift_reason is not None and "signed paper form" in lifted.lift_reason
    assert address not in lifted.lift_reason
