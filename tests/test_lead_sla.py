"""Speed to lead: the first contact a lead is due counts only the dealer's opening hours; a lead
not contacted by its warning time warns (once), one not contacted by its due time is a breach;
the manager's leads page lists them with the reassign action. The clock is passed in."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cdp.errors import InvalidInput
from cdp.leads import service, sla
from cdp.leads.sla_alerts import warned_now
from cdp.leads.stages import change_stage
from cdp.models import Alert, Dealer, Lead
from tests.helpers import (
    SourceKey,
    StaffClient,
    drop_database,
    fresh_database_url,
    make_customer,
    make_dealer,
    make_staff,
    run_cdp,
    soup,
    user_id,
)

AMS = ZoneInfo("Europe/Amsterdam")
HOURS = "Mon-Fri 9:00-18:00, Sat 10-17"


def local(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment in December 2026 in Amsterdam (the 12th is a Saturday, the 14th a Monday)."""
    return datetime(2026, 12, day, hour, minute, tzinfo=AMS).astimezone(UTC)


def test_opening_hours_count_and_nothing_else() -> None:
    dealer = Dealer(
        code="NL-EIN1",
        name="Eindhoven",
        opening_hours=HOURS,
        time_zone="Europe/Amsterdam",
        sla_first_contact_minutes=30,
        sla_warning_minutes=15,
    )
    saturday_evening = local(12, 19, 30)
    assert sla.sla_warning_at(dealer, saturday_evening) == local(14, 9, 15)
    assert sla.sla_due_at(dealer, saturday_evening) == local(14, 9, 30)
    assert sla.business_minutes_between(dealer, saturday_evening, local(14, 9, 30)) == 30
    # Friday 17:50: ten minutes on Friday, twenty on Saturday from 10:00.
    assert sla.sla_due_at(dealer, local(11, 17, 50)) == local(12, 10, 20)
    assert sla.business_minutes_between(dealer, local(11, 12), local(12, 12)) == 6 * 60 + 2 * 60
    # Without opening hours every minute counts; a lunch break does not.
    always = Dealer(code="X", name="X", sla_first_contact_minutes=30, sla_warning_minutes=15)
    assert sla.sla_due_at(always, saturday_evening) == saturday_evening + timedelta(minutes=30)
    lunch = Dealer(
        code="Y",
        name="Y",
        opening_hours="ma t/m vr 9-12:30, 13:30-18",
        time_zone="Europe/Amsterdam",
        sla_first_contact_minutes=30,
        sla_warning_minutes=15,
    )
    assert sla.sla_due_at(lunch, local(14, 12, 20)) == local(14, 13, 50)


def test_public_holidays_of_the_dealers_country_are_closed_unless_named() -> None:
    def dealer(country: str, hours: str = HOURS) -> Dealer:
        return Dealer(
            code=f"{country}-X",
            name="X",
            country=country,
            opening_hours=hours,
            time_zone="Europe/Amsterdam",
            sla_first_contact_minutes=30,
            sla_warning_minutes=15,
        )

    christmas_eve = local(24, 17, 50)  # a Thursday: ten minutes before closing
    # The Netherlands: Christmas Day (Friday) and Boxing Day (Saturday) are closed: Monday 9:20.
    assert sla.sla_due_at(dealer("NL"), christmas_eve) == local(28, 9, 20)
    # Belgium has no Boxing Day holiday: Saturday at 10:20.
    assert sla.sla_due_at(dealer("BE"), christmas_eve) == local(26, 10, 20)
    # A dealer open on holidays says so: Christmas Day 10:00 + 20 minutes.
    assert sla.sla_due_at(dealer("NL", HOURS + ", Holidays 10-14"), christmas_eve) == local(
        25, 10, 20
    )
    assert sla.business_minutes_between(dealer("NL"), local(24, 12), local(28, 12)) == 9 * 60


@pytest.mark.parametrize("hours", [HOURS, "ma t/m vr 9-12:30, 13:30-18", "Sat 10-12", None])
def test_due_times_of_many_leads_are_the_same_as_one_by_one(hours: str | None) -> None:
    """The network view's clock (a dealer's open periods worked out once for a window) gives
    every lead the due time `sla_due_at` gives it: across weekends, lunch breaks, a week-long
    closure and the change to winter time (25 October 2026)."""
    dealer = Dealer(
        code="NL-EIN1",
        name="Eindhoven",
        opening_hours=hours,
        time_zone="Europe/Amsterdam",
        sla_first_contact_minutes=45,
        sla_warning_minutes=15,
    )
    since = datetime(2026, 10, 20, 22, tzinfo=UTC)
    until = since + timedelta(days=9)
    clock = sla.DueClock(dealer, since, until)
    moment = since
    while moment < until:
        assert clock.due_at(moment) == sla.sla_due_at(dealer, moment), moment
        moment += timedelta(minutes=13)
    earlier = since - timedelta(days=3)  # outside the window: still right
    assert clock.due_at(earlier) == sla.sla_due_at(dealer, earlier)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("Mon-Fri 9-18, Sta 10-17", "'sta' is not a day"),
        ("Mon 18-9", "closes before it opens"),
        ("Mon 9-25", "not on the clock"),
        ("9-18", "no day is named"),
        ("Sun closed", "never open"),
        ("Holidays 10-16", "never open"),
        ("Mon-Holidays 9-17", "not part of a range"),
    ],
)
def test_unreadable_opening_hours_are_refused(text: str, fragment: str) -> None:
    from cdp.dealers.opening_hours import parse_opening_hours

    with pytest.raises(InvalidInput) as refused:
        parse_opening_hours(text)
    assert fragment in refused.value.message and refused.value.field == "opening_hours"


def test_the_cli_refuses_bad_opening_hours_in_one_line(db_kind: str, tmp_path: Path) -> None:
    url = fresh_database_url(db_kind, tmp_path, "sla_cli")
    try:
        bad = run_cdp(
            "dealer",
            "create",
            "NL-EIN1",
            "--name",
            "Eindhoven",
            "--opening-hours",
            "Mon-Fri 9-1800",
            database_url=url,
            cwd=tmp_path,
        )
        lines = bad.err.strip().splitlines()
        assert bad.code == 1 and len(lines) == 1 and "opening hours" in lines[0], bad.err
        assert "Traceback" not in bad.err
        good = run_cdp(
            "dealer",
            "create",
            "NL-EIN1",
            "--name",
            "Eindhoven",
            "--opening-hours",
            HOURS,
            "--sla-minutes",
            "20",
            "--sla-warning-minutes",
            "10",
            database_url=url,
            cwd=tmp_path,
        )
        assert good.code == 0, good.err
        csv_file = tmp_path / "dealers.csv"
        csv_file.write_text(
            "code,name,opening_hours\n"
            "NL-UTR,Utrecht,Mon-Fri 9-18\n"
            "BE-ANT,Antwerpen,Mon-Sat 9-18 Sun\n"
        )
        imported = run_cdp("dealer", "import", str(csv_file), database_url=url, cwd=tmp_path)
        assert imported.code == 1 and imported.err.startswith("error: line 3: opening hours")
        warned = run_cdp(
            "dealer",
            "create",
            "NL-AMS",
            "--name",
            "A",
            "--sla-minutes",
            "10",
            "--sla-warning-minutes",
            "20",
            database_url=url,
            cwd=tmp_path,
        )
        assert warned.code == 1 and "must come before" in warned.err
        checked = run_cdp("leads", "sla-check", database_url=url, cwd=tmp_path)
        assert checked.code == 0 and checked.out.strip() == "0 leads warned about", checked.err
    finally:
        drop_database(url)


def test_a_lead_on_saturday_evening_warns_on_monday_once_and_then_breaches(
    app_client: TestClient, web_source: SourceKey, session_factory: sessionmaker[Session]
) -> None:
    dealer = make_dealer(
        session_factory, "NL-EIN1", opening_hours=HOURS, time_zone="Europe/Amsterdam"
    )
    make_dealer(session_factory, "NL-UTR")
    seller = user_id(session_factory, make_staff(session_factory, dealers=("NL-EIN1",)))
    quiet = make_customer(app_client, web_source, session_factory, first_name="Quinty")
    called = make_customer(app_client, web_source, session_factory, first_name="Carla")
    saturday_evening = local(12, 19, 30)
    with session_factory() as session:
        leads = [
            service.create_lead(
                session,
                profile_id=pid,
                channel="website",
                created_by_user_id=None,
                route=True,
                dealer_id=dealer,
                now=saturday_evening,
            )
            for pid in (quiet, called)
        ]
        assert [lead.assigned_user_id for lead in leads] == [seller, seller]
        ids = [lead.id for lead in leads]
        session.commit()

    def warned(now: datetime) -> list[int]:
        with session_factory() as session:
            found = [state.lead.id for state in sla.due_warnings(session, now)]
            session.commit()
            return found

    assert warned(local(13, 23, 0)) == []  # Sunday: closed, the clock waits
    assert warned(local(14, 9, 14)) == []
    with session_factory() as session:  # Carla is called at 9:10: in time, never warned
        lead = session.get(Lead, ids[1])
        assert lead is not None
        service.log_contact_attempt(
            session,
            lead=lead,
            method="call",
            outcome="reached",
            by_user_id=seller,
            now=local(14, 9, 10),
        )
        session.commit()
    assert warned(local(14, 9, 16)) == [ids[0]]
    assert warned(local(14, 9, 20)) == []  # once
    assert warned(local(14, 10, 0)) == []
    with session_factory() as session:
        quiet_lead, called_lead = (session.get(Lead, lead_id) for lead_id in ids)
        assert quiet_lead is not None and called_lead is not None
        assert quiet_lead.sla_warned_at == local(14, 9, 16)
        assert quiet_lead.sla_breached_at == local(14, 9, 30)  # counted when found
        assert called_lead.sla_warned_at is None and called_lead.sla_breached_at is None
        assert sla.breaches_since(session, local(1, 0)) == 1


def test_a_late_first_contact_counts_as_a_breach(
    app_client: TestClient, web_source: SourceKey, session_factory: sessionmaker[Session]
) -> None:
    dealer = make_dealer(session_factory, "NL-EIN1", sla_minutes="10", sla_warning_minutes="5")
    make_dealer(session_factory, "NL-UTR")
    pid = make_customer(app_client, web_source, session_factory)
    start = datetime(2026, 12, 14, 12, tzinfo=UTC)
    with session_factory() as session:
        lead = service.create_lead(
            session,
            profile_id=pid,
            channel="phone",
            created_by_user_id=None,
            route=True,
            dealer_id=dealer,
            now=start,
        )
        service.log_contact_attempt(
            session,
            lead=lead,
            method="call",
            outcome="no_answer",
            by_user_id=None,
            now=start + timedelta(minutes=25),
        )
        assert lead.sla_breached_at == start + timedelta(minutes=10)
        assert sla.due_warnings(session, start + timedelta(hours=1)) == []


def test_the_manager_sees_leads_at_risk_and_reassigns_them(
    staff_client: Callable[[str], StaffClient],
    web_source: SourceKey,
    session_factory: sessionmaker[Session],
) -> None:
    dealer = make_dealer(session_factory, "NL-EIN1")
    make_dealer(session_factory, "NL-UTR")
    first = make_staff(session_factory, name="Ferdi", dealers=("NL-EIN1",))
    other = user_id(session_factory, make_staff(session_factory, name="Olga", dealers=("NL-EIN1",)))
    manager = staff_client("manager")
    empty = soup(manager.client.get("/showroom/leads").text)
    assert "Every new lead was contacted in time." in empty.select_one(".at-risk").get_text()  # type: ignore[union-attr]
    pid = make_customer(manager.client, web_source, session_factory, first_name="Rita")
    with session_factory() as session:
        lead = service.create_lead(
            session,
            profile_id=pid,
            channel="website",
            created_by_user_id=None,
            route=True,
            dealer_id=dealer,
            now=datetime.now(UTC) - timedelta(minutes=20),
        )
        assert lead.assigned_user_id == user_id(session_factory, first)
        lead_id = lead.id
        session.commit()
    page = soup(manager.client.get("/showroom/leads").text)
    row = page.select_one(f"#at-risk-{lead_id}")
    assert row is not None and "At risk" in row.get_text() and "Rita" in row.get_text()
    assert "Ferdi" in row.get_text()
    form = row.select_one("form.assign")
    assert form is not None and form["action"] == f"/showroom/leads/{lead_id}/assign"
    csrf = form.select_one("input[name=csrf_token]")
    assert csrf is not None
    moved = manager.client.post(
        f"/showroom/leads/{lead_id}/assign",
        data={
            "csrf_token": manager.csrf,
            "assigned_user_id": str(other),
            "reason": "Not contacted in time",
        },
        follow_redirects=False,
    )
    assert moved.status_code == 303
    with session_factory() as session:
        moved_lead = session.get(Lead, lead_id)
        assert moved_lead is not None and moved_lead.assigned_user_id == other


def test_a_warning_found_late_says_how_late_and_settles_once_the_lead_is_worked(
    app_client: TestClient, web_source: SourceKey, session_factory: sessionmaker[Session]
) -> None:
    """The job found leads weeks past due (the server was down): "deadline near" was wrong.
    Once a lead is contacted or closed, its warnings leave the managers' trays."""
    dealer = make_dealer(session_factory, "NL-LATE", time_zone="Europe/Amsterdam")
    manager = user_id(
        session_factory, make_staff(session_factory, role="manager", dealers=("NL-LATE",))
    )
    seller = user_id(session_factory, make_staff(session_factory, dealers=("NL-LATE",)))
    customers = [
        make_customer(app_client, web_source, session_factory, first_name=name)
        for name in ("Late", "Lost", "Soon")
    ]
    created = local(1, 10, 0)
    with session_factory() as session:
        lead_ids = []
        for pid, at in zip(customers, (created, created, local(15, 8, 40)), strict=True):
            lead = service.create_lead(
                session, profile_id=pid, channel="website", created_by_user_id=None,
                route=True, dealer_id=dealer, now=at,
            )  # fmt: skip
            lead_ids.append(lead.id)
        session.commit()
    late, lost, soon = lead_ids
    with session_factory() as session:
        warned_now(session, local(15, 9, 0))  # late and lost: two weeks; soon: minutes to go
        session.commit()

    def unread() -> dict[int, str]:
        with session_factory() as session:
            rows = session.scalars(
                select(Alert).where(Alert.user_id == manager, Alert.read_at.is_(None))
            )
            return {alert.lead_id or 0: alert.text for alert in rows}

    texts = unread()
    assert set(texts) == {late, lost, soon}
    assert "deadline passed 13 days ago" in texts[late], texts[late]
    assert "near" not in texts[late]
    assert "deadline near (due " in texts[soon], texts[soon]
    with session_factory() as session:
        service.log_contact_attempt(
            session, lead=session.get_one(Lead, late), method="call", outcome="reached",
            by_user_id=seller, now=local(15, 9, 5),
        )  # fmt: skip
        change_stage(
            session, lead=session.get_one(Lead, lost), to_stage="invalid", by_user_id=manager,
            now=local(15, 9, 6),
        )  # fmt: skip
        session.commit()
    assert set(unread()) == {soon}
