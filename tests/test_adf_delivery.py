"""New leads delivered to a dealer's own CRM as ADF (issue 11 §1), against a real HTTP receiver,
on SQLite and PostgreSQL: sent once taken, retried with growing pauses (an injected clock), given
up after the last pause, sent again from the dealer manager's log; only the dealers in scope."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cdp.adf.delivery import BACKOFF, deliver_due, post_adf, set_address
from cdp.adf.parse import parse
from cdp.db import make_engine
from cdp.models import AdfDelivery, Dealer, Identity, Lead, Profile, utcnow
from tests.helpers import (
    StaffClient,
    crm_receiver,
    drop_database,
    fresh_database_url,
    make_customer,
    make_dealer,
    make_source,
    make_staff,
    run_cdp,
    sign_in,
    soup,
    uid,
)


def lead_at(
    factory: sessionmaker[Session],
    client: TestClient,
    dealer_id: int,
    *,
    age: timedelta = timedelta(),
) -> int:
    profile = make_customer(client, make_source(factory), factory, model="Veltra Aurelia")
    with factory() as session:
        lead = Lead(
            profile_id=profile,
            dealer_id=dealer_id,
            channel="website",
            model="Veltra Aurelia",
            created_at=utcnow() - age,
            updated_at=utcnow() - age,
        )
        session.add(lead)
        session.commit()
        return lead.id


def delivery_of(session: Session, lead_id: int) -> AdfDelivery | None:
    session.expire_all()
    return session.scalar(select(AdfDelivery).where(AdfDelivery.lead_id == lead_id))


def run_at(factory: sessionmaker[Session], offset: timedelta) -> None:
    with factory() as session:
        deliver_due(session, now=utcnow() + offset, send=post_adf)
        session.commit()


def point_at(factory: sessionmaker[Session], dealer_id: int, url: str | None) -> None:
    with factory() as session:
        dealer = session.get(Dealer, dealer_id)
        assert dealer is not None
        set_address(session, dealer, url, now=utcnow() - timedelta(seconds=1))
        session.commit()


def test_new_leads_reach_the_crm_with_retries(
    app_client: TestClient, session_factory: sessionmaker[Session], db: Session
) -> None:
    code = uid("D").upper()[:12]
    dealer_id = make_dealer(session_factory, code)
    old = lead_at(session_factory, app_client, dealer_id, age=timedelta(days=1))
    with crm_receiver(failures=2) as crm:
        point_at(session_factory, dealer_id, crm.url)
        lead_id = lead_at(session_factory, app_client, dealer_id)

        run_at(session_factory, timedelta())  # first attempt: the CRM is busy
        delivery = delivery_of(db, lead_id)
        assert delivery is not None and delivery.status == "pending" and delivery.attempts == 1
        assert delivery.last_status_code == 503 and "503" in (delivery.last_error or "")
        run_at(session_factory, BACKOFF[0] / 2)  # not due yet
        assert len(crm.received) == 1
        run_at(session_factory, BACKOFF[0])  # second attempt: busy again
        run_at(session_factory, BACKOFF[0] + BACKOFF[1])  # third: taken
        delivery = delivery_of(db, lead_id)
        assert delivery is not None and delivery.status == "delivered" and delivery.attempts == 3
        assert len(crm.received) == 3
        content_type, body = crm.received[-1]
        assert content_type == "application/x-adf+xml"
        [read] = parse(body)
        assert read.ids[0][1] == str(lead_id) and read.vendor.ids == (("dealer", code),)

        # Taken once: later runs send nothing more; the older lead was never meant for the CRM.
        run_at(session_factory, timedelta(days=2))
        assert len(crm.received) == 3
        assert delivery_of(db, old) is None
    point_at(session_factory, dealer_id, None)


def test_given_up_after_the_last_pause_and_sent_again_from_the_log(
    app_client: TestClient,
    session_factory: sessionmaker[Session],
    db: Session,
) -> None:
    codes = (uid("A").upper()[:12], uid("B").upper()[:12])
    ours, theirs = (make_dealer(session_factory, code) for code in codes)
    with crm_receiver(failures=len(BACKOFF) + 1) as crm, crm_receiver(failures=99) as other_crm:
        point_at(session_factory, ours, crm.url)
        point_at(session_factory, theirs, other_crm.url)
        lead_id = lead_at(session_factory, app_client, ours)
        other_lead = lead_at(session_factory, app_client, theirs)
        offset = timedelta()
        run_at(session_factory, offset)
        for pause in BACKOFF:
            offset += pause
            run_at(session_factory, offset)
        delivery = delivery_of(db, lead_id)
        assert delivery is not None and delivery.status == "failed"
        assert delivery.attempts == len(BACKOFF) + 1

        # The dealer's manager sees their deliveries, not another dealer's.
        email = make_staff(session_factory, role="manager", dealers=(codes[0],))
        app_client.cookies.clear()
        csrf = sign_in(app_client, email)
        manager = StaffClient(client=app_client, email=email, csrf=csrf)
        page = soup(manager.client.get("/showroom/crm-deliveries").text)
        statuses = {row.find("a").text: row["data-status"] for row in page.select("tr.crm-row")}
        assert statuses == {f"#{lead_id}": "failed"}
        assert "Given up" in page.select_one("tr.crm-row .status").text
        assert crm.url in page.select_one(".crm-addresses").text

        other = delivery_of(db, other_lead)
        assert other is not None
        assert manager.post(f"/showroom/crm-deliveries/{other.id}/again").status_code == 404
        answer = manager.post(f"/showroom/crm-deliveries/{delivery.id}/again")
        assert answer.status_code == 303
        again = delivery_of(db, lead_id)
        assert again is not None and (again.status, again.attempts) == ("pending", 0)
        run_at(session_factory, offset + timedelta(minutes=1))
        assert delivery_of(db, lead_id).status == "delivered"  # type: ignore[union-attr]

    # Turning delivery off stops what waits to be sent.
    other = delivery_of(db, other_lead)
    assert other is not None and other.status == "failed"
    manager.post(f"/showroom/crm-deliveries/{other.id}/again")  # 404 above: still failed
    point_at(session_factory, ours, None)
    point_at(session_factory, theirs, None)

    app_client.cookies.clear()
    sign_in(app_client, make_staff(session_factory, role="sales", dealers=(codes[0],)))
    assert app_client.get("/showroom/crm-deliveries").status_code == 403


def test_cdp_leads_crm_and_deliver(tmp_path: Path, db_kind: str) -> None:
    url = fresh_database_url(db_kind, tmp_path, "adf_deliver")
    try:
        assert run_cdp("dealer", "create", "NL-EIN", "--name", "Eindhoven", database_url=url,
                       cwd=tmp_path).code == 0  # fmt: skip
        wrong = run_cdp("leads", "crm", "NL-EIN", "ftp://crm", database_url=url, cwd=tmp_path)
        assert wrong.code == 1 and wrong.err.startswith("error: the CRM address must be")
        neither = run_cdp("leads", "crm", "NL-EIN", database_url=url, cwd=tmp_path)
        assert neither.code == 1 and "--off" in neither.err
        with crm_receiver() as crm:
            said = run_cdp("leads", "crm", "NL-EIN", crm.url, database_url=url, cwd=tmp_path)
            assert said.code == 0 and crm.url in said.out, said.err
            engine = make_engine(url)
            try:
                with Session(engine) as session:
                    dealer = session.scalar(select(Dealer).where(Dealer.code == "NL-EIN"))
                    assert dealer is not None
                    profile = Profile(first_seen_at=utcnow(), last_seen_at=utcnow())
                    session.add(profile)
                    session.flush()
                    session.add(Lead(profile_id=profile.id, dealer_id=dealer.id, channel="phone"))
                    session.commit()
            finally:
                engine.dispose()
            done = run_cdp("leads", "deliver", database_url=url, cwd=tmp_path)
            assert done.code == 0, done.err
            assert done.out.strip() == "1 queued, 1 delivered, 0 to retry, 0 given up"
            assert len(crm.received) == 1
        off = run_cdp("leads", "crm", "NL-EIN", "--off", database_url=url, cwd=tmp_path)
        assert off.code == 0 and "no more" in off.out
    finally:
        drop_database(url)


ADF_FOR_DEALER = """<adf><prospect><id source="AutoTrack">{lead_id}</id>
<requestdate>2026-11-20T10:00:00+01:00</requestdate>
<vehicle interest="buy"><make>Veltra</make><model>Aurelia</model></vehicle>
<customer><contact><name part="first">Ruben</name><name part="last">de Jong</name>
<email>{email}</email></contact></customer>
<vendor><id source="dealer">{code}</id></vendor></prospect></adf>"""


def test_an_adf_lead_is_routed_to_its_dealer_and_reaches_its_crm(
    app_client: TestClient, session_factory: sessionmaker[Session], db: Session
) -> None:
    """Routed by the vendor's code; new although its request date is weeks before the CRM
    address was set: it arrived after."""
    code = uid("V").upper()[:12]
    dealer_id = make_dealer(session_factory, code)
    source = make_source(session_factory, kind="marketplace")
    email = f"{uid('routed')}@example.nl"
    with crm_receiver() as crm:
        point_at(session_factory, dealer_id, crm.url)
        body = ADF_FOR_DEALER.format(lead_id=uid("AT"), email=email, code=code)
        headers = {"Content-Type": "application/xml", **source.auth}
        answer = app_client.post("/v1/leads/adf", content=body.encode(), headers=headers)
        assert answer.status_code == 200, answer.text
        db.expire_all()
        lead = db.scalar(
            select(Lead)
            .join(Identity, Identity.profile_id == Lead.profile_id)
            .where(Identity.value == email)
        )
        assert lead is not None and lead.dealer_id == dealer_id
        assert lead.created_at < utcnow() - timedelta(days=1)  # dated by the request
        run_at(session_factory, timedelta())
        delivery = delivery_of(db, lead.id)
        assert delivery is not None and delivery.status == "delivered"
        assert len(crm.received) == 1
    point_at(session_factory, dealer_id, None)
