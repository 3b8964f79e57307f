"""Lead routing: every lead made from an event lands with a dealer and a salesperson at once, by
the rules of cdp/leads/routing.py, its assignment recorded; managers reassign with a reason.
Events go in through the collection API, staff act through the pages."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cdp.leads import service
from cdp.leads.availability import set_availability
from cdp.models import Event, Lead, LeadAssignment
from tests.helpers import (
    SourceKey,
    StaffClient,
    add_customer,
    make_dealer,
    make_staff,
    only_lead,
    post,
    send,
    sign_in,
    soup,
    start,
    tablet_post,
    user_id,
)


def lead_from_event(
    client: TestClient,
    source: SourceKey,
    *,
    event: str = "Quote Requested",
    properties: dict[str, Any] | None = None,
    postal_code: str | None = None,
    selected: dict[str, Any] | None = None,
) -> str:
    """A visitor (with a postal code, and a Dealer Selected before, if given) whose event makes
    a lead; returns their anonymous id."""
    device = str(uuid.uuid4())
    traits: dict[str, Any] = {"email": f"buyer.{device[:8]}@example.nl", "firstName": "Bo"}
    if postal_code is not None:
        traits["address"] = {"postalCode": postal_code}
    send(client, source, "identify", {"anonymousId": device, "traits": traits})
    if selected is not None:
        send(
            client,
            source,
            "track",
            {"anonymousId": device, "event": "Dealer Selected", "properties": selected},
        )
    send(
        client,
        source,
        "track",
        {"anonymousId": device, "event": event, "properties": properties or {"model": "Aurora"}},
    )
    return device


def routed(factory: sessionmaker[Session], device: str) -> tuple[Lead, LeadAssignment]:
    """The lead the visitor's event made, and its (routing's) assignment."""
    with factory() as session:
        pid = session.scalars(select(Event.profile_id).where(Event.anonymous_id == device)).first()
        lead = session.scalars(select(Lead).where(Lead.profile_id == pid)).one()
        assignment = session.scalars(
            select(LeadAssignment).where(LeadAssignment.lead_id == lead.id)
        ).one()
        return lead, assignment


def test_the_dealer_comes_from_the_event_the_choice_the_postal_code_or_the_queue(
    app_client: TestClient, web_source: SourceKey, session_factory: sessionmaker[Session]
) -> None:
    ein = make_dealer(session_factory, "NL-EIN1", postal_areas="5611")
    utr = make_dealer(session_factory, "NL-UTR", postal_areas="56 35")
    ant = make_dealer(session_factory, "BE-ANT", postal_areas="2000", country="BE")
    make_dealer(session_factory, "NL-OLD", active=False)
    sellers = {
        dealer: user_id(session_factory, make_staff(session_factory, dealers=(code,)))
        for dealer, code in ((ein, "NL-EIN1"), (utr, "NL-UTR"), (ant, "BE-ANT"))
    }

    def check(device: str, dealer: int | None, rule: str, warning: str | None = None) -> None:
        lead, assignment = routed(session_factory, device)
        assert (lead.dealer_id, assignment.rule) == (dealer, rule), assignment.warning
        assert lead.assigned_user_id == sellers.get(dealer or 0)
        assert assignment.to_user_id == lead.assigned_user_id and assignment.by_user_id is None
        if warning is None:
            assert assignment.warning is None
        else:
            assert assignment.warning is not None and warning in assignment.warning

    client, source = app_client, web_source
    # 1. The dealer the event names, by code (any case) or by number, before all else.
    check(
        lead_from_event(client, source, properties={"dealer_code": "be-ant"}, postal_code="5611"),
        ant,
        "event_dealer/round_robin",
    )
    check(
        lead_from_event(
            client, source, event="Test Drive Requested", properties={"dealer_id": utr}
        ),
        utr,
        "event_dealer/round_robin",
    )
    # 2. The customer's latest Dealer Selected.
    check(
        lead_from_event(client, source, selected={"dealer_code": "NL-UTR"}, postal_code="2000"),
        utr,
        "dealer_selected/round_robin",
    )
    # 3. The postal code: the longest area wins (5611 before 56); Belgian codes too.
    check(lead_from_event(client, source, postal_code="5611 ab"), ein, "postal_area/round_robin")
    check(lead_from_event(client, source, postal_code="5620XY"), utr, "postal_area/round_robin")
    check(lead_from_event(client, source, postal_code="2000"), ant, "postal_area/round_robin")
    # A Dutch code (Haarlem's 2000 AB) is no Belgian dealer's, whatever its digits.
    check(lead_from_event(client, source, postal_code="2000 AB"), None, "unassigned_queue")
    # 4. Nothing says: the network's unassigned queue.
    check(lead_from_event(client, source, postal_code="9999 ZZ"), None, "unassigned_queue")
    check(lead_from_event(client, source), None, "unassigned_queue")
    # An unknown or inactive dealer is warned about and the next rule decides; the event
    # keeps what it said.
    unknown = lead_from_event(
        client, source, properties={"dealer_code": "NL-NOPE"}, postal_code="2000"
    )
    check(unknown, ant, "postal_area/round_robin", "'NL-NOPE', which is unknown")
    with session_factory() as session:
        kept = session.scalars(
            select(Event.properties).where(
                Event.anonymous_id == unknown, Event.name == "Quote Requested"
            )
        ).one()
    assert kept["dealer_code"] == "NL-NOPE"
    check(
        lead_from_event(
            client, source, properties={"dealer_id": "NL-OLD"}, selected={"dealer_code": "nl-utr"}
        ),
        utr,
        "dealer_selected/round_robin",
        "NL-OLD, which is inactive",
    )


def test_a_single_showroom_keeps_its_leads(
    app_client: TestClient, web_source: SourceKey, session_factory: sessionmaker[Session]
) -> None:
    """One active dealer (the upgraded default, MAIN): every lead is its own."""
    seller = user_id(session_factory, make_staff(session_factory))  # joins MAIN
    lead, assignment = routed(session_factory, lead_from_event(app_client, web_source))
    assert assignment.rule == "only_dealer/round_robin"
    assert lead.dealer_id is not None and lead.assigned_user_id == seller


def test_round_robin_is_fair_and_skips_who_is_busy_or_off(
    app_client: TestClient, web_source: SourceKey, session_factory: sessionmaker[Session]
) -> None:
    make_dealer(session_factory, "NL-EIN1")
    make_dealer(session_factory, "NL-UTR")
    people = [make_staff(session_factory, dealers=("NL-EIN1",)) for _ in range(3)]
    ids = [user_id(session_factory, email) for email in people]
    client = app_client

    def send_leads(count: int, per_call: int) -> list[str]:
        devices = [str(uuid.uuid4()) for _ in range(count)]
        for first in range(0, count, per_call):
            batch = [
                {
                    "type": "track",
                    "anonymousId": device,
                    "event": "Quote Requested",
                    "properties": {"dealer_code": "NL-EIN1"},
                }
                for device in devices[first : first + per_call]
            ]
            send(client, web_source, "batch", {"batch": batch})
        return devices

    # 100 leads, some one by one and some ten to a transaction: 33 or 34 each.
    devices = send_leads(40, 1) + send_leads(60, 10)
    owners = Counter(routed(session_factory, device)[0].assigned_user_id for device in devices)
    assert sorted(owners) == sorted(ids)
    assert sorted(owners.values()) == [33, 33, 34]

    # Busy and off (each said on their own leads page) get no new leads.
    for email, state in ((people[0], "busy"), (people[1], "off")):
        staff = StaffClient(client, email, sign_in(client, email))
        page = soup(client.get("/showroom/leads").text)
        assert page.select_one("form.availability button[aria-pressed=true]") is not None
        assert post(staff, "/showroom/availability", {"availability": state}).status_code == 303
        pressed = soup(client.get("/showroom/leads").text).select_one(
            "form.availability button[aria-pressed=true]"
        )
        assert pressed is not None and pressed["value"] == state
        assert post(staff, "/showroom/availability", {"availability": "asleep"}).status_code == 400
    later = send_leads(5, 5)
    assert {routed(session_factory, d)[0].assigned_user_id for d in later} == {ids[2]}

    # Nobody available: the lead waits at the dealer, unassigned, with a warning.
    with session_factory() as session:
        set_availability(session, ids[2], "off")
        session.commit()
    lead, assignment = routed(session_factory, send_leads(1, 1)[0])
    assert lead.dealer_id is not None and lead.assigned_user_id is None
    assert assignment.rule == "event_dealer/nobody_available"
    assert assignment.warning == "no salesperson of NL-EIN1 is available"


def test_ties_go_to_fewer_open_leads_and_a_customer_keeps_their_salesperson(
    app_client: TestClient, web_source: SourceKey, session_factory: sessionmaker[Session]
) -> None:
    make_dealer(session_factory, "NL-EIN1")
    dealer = make_dealer(session_factory, "NL-UTR")
    ids = [
        user_id(session_factory, make_staff(session_factory, dealers=("NL-UTR",))) for _ in range(3)
    ]
    customers = [
        routed(session_factory, lead_from_event(app_client, web_source))[0].profile_id
        for _ in range(3)
    ]  # the network's queue: nobody routed yet at NL-UTR
    with session_factory() as session:
        # Open leads chosen by staff: the first salesperson holds two, the third one.
        for holder, customer in (
            (ids[0], customers[0]),
            (ids[0], customers[1]),
            (ids[2], customers[2]),
        ):
            service.create_lead(
                session,
                profile_id=customer,
                channel="phone",
                created_by_user_id=holder,
                assigned_user_id=holder,
                dealer_id=dealer,
            )
        session.commit()
    order = [
        routed(
            session_factory,
            lead_from_event(app_client, web_source, properties={"dealer_code": "NL-UTR"}),
        )[0].assigned_user_id
        for _ in range(3)
    ]
    assert order == [ids[1], ids[2], ids[0]]

    # A customer with an open lead at the dealer keeps its salesperson for a new one
    # (a walk-in taken by reception is routed like any lead).
    with session_factory() as session:
        walk_in = service.create_lead(
            session,
            profile_id=customers[2],
            channel="walk_in",
            created_by_user_id=None,
            route=True,
            dealer_id=dealer,
        )
        session.commit()
        assert walk_in.assigned_user_id == ids[2]
        rules = session.scalars(
            select(LeadAssignment.rule).where(LeadAssignment.lead_id == walk_in.id)
        ).all()
    assert rules == ["walk_in/existing_salesperson"]


def test_a_manager_reassigns_with_a_reason_and_the_history_shows_it(
    staff_client: Callable[[str], StaffClient],
    app_client: TestClient,
    web_source: SourceKey,
    session_factory: sessionmaker[Session],
) -> None:
    make_dealer(session_factory, "NL-EIN1")
    first, second = (make_staff(session_factory, name=n, dealers=("NL-EIN1",)) for n in "AB")
    device = lead_from_event(
        app_client, web_source, properties={"dealer_code": "NL-EIN1", "model": "Aurora"}
    )
    lead, _ = routed(session_factory, device)
    assert lead.assigned_user_id == user_id(session_factory, first)
    target = str(user_id(session_factory, second))
    manager = staff_client("manager")
    leads_page = soup(manager.client.get("/showroom/leads").text)
    assert leads_page.select_one(f"#lead-{lead.id} input[name=reason]") is not None

    refused = post(manager, f"/showroom/leads/{lead.id}/assign", {"assigned_user_id": target})
    assert refused.status_code == 400
    assert "Say why" in soup(refused.text).get_text(" ")
    assert only_lead(session_factory, lead.profile_id).assigned_user_id == lead.assigned_user_id

    page = f"/showroom/customers/{lead.profile_id}"
    on_page = post(
        manager,
        f"/showroom/leads/{lead.id}/assign",
        {"assigned_user_id": target, "reason": "  ", "next": page},
    )
    assert on_page.status_code == 400
    assert soup(on_page.text).select_one(f"#lead-{lead.id} input[name=reason][aria-invalid]")

    done = post(
        manager,
        f"/showroom/leads/{lead.id}/assign",
        {"assigned_user_id": target, "reason": "A is on holiday", "next": page},
    )
    assert done.status_code == 303
    with session_factory() as session:
        rows = session.scalars(
            select(LeadAssignment)
            .where(LeadAssignment.lead_id == lead.id)
            .order_by(LeadAssignment.id)
        ).all()
        manager_id = user_id(session_factory, manager.email)
        assert [(r.rule, r.by_user_id, r.to_user_id, r.reason) for r in rows] == [
            ("event_dealer/round_robin", None, lead.assigned_user_id, None),
            ("reassigned", manager_id, int(target), "A is on holiday"),
        ]
        assert rows[1].from_user_id == lead.assigned_user_id
    history = soup(manager.client.get(f"{page}/deal").text).select(
        f"#lead-{lead.id} .assignment-history li"
    )
    texts = [item.get_text(" ", strip=True) for item in history]
    assert len(texts) == 2
    assert "routed" in texts[0] and "the dealer named in the request, round robin" in texts[0]
    assert "B at NL-EIN1" in texts[1] and "from A" in texts[1] and "A is on holiday" in texts[1]


def test_an_unknown_dealer_code_is_warned_about_on_the_lead(
    staff_client: Callable[[str], StaffClient],
    app_client: TestClient,
    web_source: SourceKey,
    session_factory: sessionmaker[Session],
) -> None:
    make_dealer(session_factory, "NL-EIN1", postal_areas="5611")
    make_dealer(session_factory, "NL-UTR")
    lead, _ = routed(
        session_factory,
        lead_from_event(
            app_client, web_source, properties={"dealer_code": "XX-1"}, postal_code="5611AB"
        ),
    )
    manager = staff_client("manager")
    deal = soup(manager.client.get(f"/showroom/customers/{lead.profile_id}/deal").text)
    warning = deal.select_one(f"#lead-{lead.id} .assignment-history .warning")
    assert warning is not None and "'XX-1', which is unknown" in warning.get_text()


def test_a_walk_in_goes_to_who_served_them_or_is_routed_when_reception_ends_it(
    staff_client: Callable[[str], StaffClient], session_factory: sessionmaker[Session]
) -> None:
    """One showroom (the default dealer): a salesperson's walk-in is theirs; reception's is
    routed among the showroom's available salespeople."""
    seller = user_id(session_factory, make_staff(session_factory, name="Sam"))

    def walk_in(staff: StaffClient, first_name: str) -> tuple[Lead, LeadAssignment]:
        sid = start(staff)
        added = add_customer(
            staff,
            sid,
            first_name=first_name,
            last_name="Visser",
            email=f"{first_name.lower()}.{uuid.uuid4().hex[:6]}@example.nl",
            consent=["tracking"],
        )
        assert added.status_code == 303, added.text
        noted = tablet_post(staff, f"/showroom/tablet/{sid}/note", {"interest_level": "warm"})
        assert noted.status_code == 303, noted.text
        with session_factory() as session:
            lead = session.scalars(
                select(Lead).where(Lead.channel == "walk_in").order_by(Lead.id.desc()).limit(1)
            ).one()
            assignment = session.scalars(
                select(LeadAssignment).where(LeadAssignment.lead_id == lead.id)
            ).one()
            return lead, assignment

    reception = staff_client("reception")
    lead, assignment = walk_in(reception, "Rosa")
    assert lead.assigned_user_id == seller and lead.dealer_id is not None
    assert assignment.rule == "walk_in/round_robin" and assignment.by_user_id is None

    sales = staff_client("sales")
    lead, assignment = walk_in(sales, "Stijn")
    assert lead.assigned_user_id == user_id(session_factory, sales.email)
    assert (assignment.rule, assignment.by_user_id) == ("walk_in_host", lead.assigned_user_id)


def test_a_lead_made_from_an_event_knows_when_its_first_contact_is_due(
    app_client: TestClient, web_source: SourceKey, session_factory: sessionmaker[Session]
) -> None:
    # The network view judges speed to lead by each lead's due time (cdp/leads/sla_due.py):
    # a lead that ingest writes in one statement gets it too, by its dealer's SLA minutes.
    make_dealer(session_factory, "NL-EIN1", postal_areas="5611", sla_minutes="45")
    at_dealer = lead_from_event(app_client, web_source, postal_code="5611 AB")
    in_queue = lead_from_event(app_client, web_source, postal_code="9999 ZZ")
    assert routed(session_factory, at_dealer)[0].sla_due_s == 45 * 60  # open around the clock
    assert routed(session_factory, in_queue)[0].sla_due_s == 30 * 60  # the queue: the default
