"""The planner forwards, through its page: the leads expected per channel and month to the sales
they make, what each what-if does to sales and cost per sale (checked against arithmetic done
here), speed to lead observed from contacts made here, a saved plan as the starting point, and
bad input marked field by field. Runs on both databases."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from bs4 import BeautifulSoup, Tag
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from cdp.models import ContactAttempt, Lead, LeadStageChange, Profile, ShowroomVisit, utcnow
from tests.helpers import StaffClient, make_dealer, make_staff, post, sign_in, soup

PHONE, WEBSITE = 0.22, 0.20  # the field's lead-to-sale norms (../shared/DOMAIN.md)
RULE_OF_THUMB = 1.5  # reached 1.5x as often when contacted within 5 minutes (docs/planner.md)


def leads(**per_channel: tuple[int, int, int]) -> dict[str, str]:
    fields = {"year": "2031", "quarter": "2", "basis": "norm"}
    for channel, months in per_channel.items():
        for i, n in enumerate(months):
            fields[f"leads-{channel}-{i}"] = str(n)
    return fields


def text(page: BeautifulSoup, selector: str) -> str:
    found = page.select_one(selector)
    assert isinstance(found, Tag), selector
    return found.get_text(" ", strip=True)


def effect(page: BeautifulSoup, key: str) -> list[str]:
    row = page.select_one(f'.effects-table tr[data-effect="{key}"]')
    assert isinstance(row, Tag), key
    return [td.get_text(" ", strip=True) for td in row.select("td")]


def test_what_ifs_change_sales_and_cost_per_sale_by_the_expected_amount(
    staff_client: Callable[[str], StaffClient],
) -> None:
    manager = staff_client("manager")
    fields = leads(phone=(10, 20, 30), website=(50, 0, 50))
    plain = soup(manager.client.get("/showroom/planner/forward", params=fields).text)
    base = 60 * PHONE + 100 * WEBSITE
    assert text(plain, "#outlook-h") == f"{round(base, 1)} sales expected"
    phone = plain.select_one('.outlook-table tr[data-channel="phone"]')
    assert isinstance(phone, Tag)
    months = [td.get_text(" ", strip=True) for td in phone.select("td")][1:4]
    assert months == [f"{round(n * PHONE, 1)} of {n} leads" for n in (10, 20, 30)]

    # More test drives and faster first contact: both raise sales, and lower cost per sale.
    fields |= {
        "now-test_drive": "50",
        "plan-test_drive": "60",
        "now-speed": "20",
        "plan-speed": "80",
        "spend-phone": "1320",
    }
    response = manager.client.get("/showroom/planner/forward", params=fields)
    assert response.status_code == 200, response.text
    page = soup(response.text)
    drives = 0.60 / 0.50
    speed = (1 + (RULE_OF_THUMB - 1) * 0.80) / (1 + (RULE_OF_THUMB - 1) * 0.20)
    assert effect(page, "test_drive") == [
        "50.0%", "60.0%", str(round(drives, 3)), f"{base * (drives - 1):+.1f}",
    ]  # fmt: skip
    assert effect(page, "speed")[2:] == [str(round(speed, 3)), f"{base * (speed - 1):+.1f}"]
    after = base * drives * speed
    assert text(page, "#outlook-h") == (
        f"{round(base, 1)} sales expected, {round(after, 1)} with the what-ifs"
    )
    cost_before = 1320 / (60 * PHONE)  # spend given for phone only: its sales alone
    cost_after = cost_before / (drives * speed)
    assert text(page, "#cost-per-sale") == f"€ {cost_before:.0f} → € {cost_after:.0f}"

    # A lower reach takes sales down by the same ratio.
    lower = leads(phone=(10, 20, 30), website=(50, 0, 50)) | {
        "now-reached": "60",
        "plan-reached": "45",
    }
    worse = soup(manager.client.get("/showroom/planner/forward", params=lower).text)
    assert effect(worse, "reached")[3] == f"{base * (0.45 / 0.60 - 1):+.1f}"
    assert text(worse, "#outlook-h").endswith(f"{round(base * 0.75, 1)} with the what-ifs")


def _month_old_lead(
    session: Session,
    *,
    stage: str,
    dealer_id: int | None,
    days_ago: int = 30,
    channel: str = "website",
) -> Lead:
    """A lead that came in `days_ago` days ago (a month), at `stage`, with its customer."""
    at = utcnow() - timedelta(days=days_ago)
    profile = Profile(first_seen_at=at, last_seen_at=at)
    session.add(profile)
    session.flush()
    lead = Lead(
        dealer_id=dealer_id,
        profile_id=profile.id,
        channel=channel,
        stage=stage,
        created_at=at,
        updated_at=at,
    )
    session.add(lead)
    session.flush()
    return lead


def _lead_with_contact(
    session: Session, *, minutes: int | None, reached: bool, dealer_id: int | None = None
) -> None:
    lead = _month_old_lead(
        session, stage="reached" if reached else "attempted", dealer_id=dealer_id
    )
    at, profile_id = lead.created_at, lead.profile_id
    if minutes is not None:
        session.add(
            ContactAttempt(
                dealer_id=dealer_id,
                lead_id=lead.id,
                profile_id=profile_id,
                method="call",
                outcome="reached" if reached else "no_answer",
                attempted_at=at + timedelta(minutes=minutes),
            )
        )


def test_speed_to_lead_acts_through_the_reach_observed_for_fast_and_slow_contacts(
    staff_client: Callable[[str], StaffClient], session_factory: sessionmaker[Session]
) -> None:
    with session_factory() as session:
        for i in range(20):  # within 5 minutes: 15 of 20 reached
            _lead_with_contact(session, minutes=3, reached=i < 15)
        for i in range(20):  # after an hour, or never: 5 of 20 reached
            _lead_with_contact(session, minutes=60 if i < 15 else None, reached=i < 5)
        session.commit()
    manager = staff_client("manager")
    fresh = soup(manager.client.get("/showroom/planner/forward").text)
    ratio = (15 / 20) / (5 / 20)
    assert f"reached {round(ratio, 2)}\N{MULTIPLICATION SIGN} as often" in fresh.get_text()
    assert "as observed in the last 12 months" in fresh.get_text()
    now = fresh.select_one("#now-speed")
    assert now is not None and now["value"] == "50.0"  # 20 of 40 leads within 5 minutes
    reach = fresh.select_one("#now-reached")
    assert reach is not None and reach["value"] == "50.0"  # 20 of 40 reached

    fields = leads(website=(10, 0, 0)) | {"now-speed": "50", "plan-speed": "100"}
    page = soup(manager.client.get("/showroom/planner/forward", params=fields).text)
    factor = (1 + (ratio - 1) * 1.0) / (1 + (ratio - 1) * 0.5)
    assert effect(page, "speed")[2] == str(round(factor, 3))
    assert text(page, "#total-sales") == f"{10 * WEBSITE:.1f} → {10 * WEBSITE * factor:.1f}"


def test_a_saved_plan_fills_the_form_and_another_dealers_plan_is_unknown(
    app_client: TestClient,
    staff_client: Callable[[str], StaffClient],
    session_factory: sessionmaker[Session],
) -> None:
    make_dealer(session_factory, "FA")
    make_dealer(session_factory, "FB")
    importer = staff_client("manager")
    target = {
        "year": "2031", "quarter": "4", "country": "NL", "basis": "norm", "target_new": "11",
        "target_used": "0", "mix-phone": "100", "name": "phones",
    }  # fmt: skip
    ids = {}
    for code in ("FA", "FB"):
        saved = post(importer, "/showroom/planner/plans", target | {"dealer": code})
        assert saved.status_code == 303
        ids[code] = saved.headers["location"].rsplit("/", 1)[1]
    app_client.cookies.clear()
    email = make_staff(session_factory, role="manager", dealers=("FA",))
    sign_in(app_client, email)
    page = soup(app_client.get("/showroom/planner/forward", params={"plan": ids["FA"]}).text)
    planned = [int(str(page.select_one(f"#leads-phone-{i}")["value"])) for i in range(3)]  # type: ignore[index]
    assert sum(planned) == 50  # 11 sales at 22%
    assert text(page, "#outlook-h") == f"{50 * PHONE:.1f} sales expected"
    assert (
        app_client.get("/showroom/planner/forward", params={"plan": ids["FB"]}).status_code == 404
    )


def test_bad_forward_input_is_marked_field_by_field(
    staff_client: Callable[[str], StaffClient],
) -> None:
    manager = staff_client("manager")
    fields = leads(phone=(10, 20, 30)) | {
        "leads-website-1": "many",
        "plan-reached": "70",
        "now-quote": "40",
        "plan-quote": "140",
        "spend-phone": "-5",
    }
    response = manager.client.get("/showroom/planner/forward", params=fields)
    assert response.status_code == 400
    page = soup(response.text)
    for field, message in (
        ("leads-website-1", "not a number"),
        ("now-reached", "required"),
        ("plan-quote", "between 0 and 100"),
        ("spend-phone", "between 0 and"),
    ):
        assert page.select_one(f"#{field}[aria-invalid=true]") is not None, field
        assert message in text(page, f"#{field}-error"), field
    assert page.select_one(".outlook-table") is None

    empty = manager.client.get("/showroom/planner/forward", params=leads())
    assert empty.status_code == 400
    assert "at least one lead" in text(soup(empty.text), "p.field-error#leads")

    no_rate = manager.client.get("/showroom/planner/forward", params=leads(walk_in=(5, 0, 0)))
    assert no_rate.status_code == 400
    assert "no lead-to-sale rate" in text(soup(no_rate.text), "#leads-walk_in-0-error")


def test_fast_contact_reaching_fewer_is_not_taken_as_the_effect_of_speed(
    staff_client: Callable[[str], StaffClient], session_factory: sessionmaker[Session]
) -> None:
    with session_factory() as session:
        for i in range(20):  # within 5 minutes: 5 of 20 reached; later: 15 of 20
            _lead_with_contact(session, minutes=2, reached=i < 5)
            _lead_with_contact(session, minutes=90, reached=i < 15)
        session.commit()
    manager = staff_client("manager")
    fields = leads(website=(10, 0, 0)) | {"now-speed": "50", "plan-speed": "100"}
    page = soup(manager.client.get("/showroom/planner/forward", params=fields).text)
    assert "the observation is not used" in page.get_text()
    rule = (1 + (RULE_OF_THUMB - 1) * 1.0) / (1 + (RULE_OF_THUMB - 1) * 0.5)
    assert effect(page, "speed")[2] == str(round(rule, 3))


def _lead_that_showed(
    session: Session, *, stage: str, history: tuple[str, ...], dealer_id: int
) -> None:
    """A website lead of a month ago, checked in on the floor, at `stage` after `history`."""
    lead = _month_old_lead(session, stage=stage, dealer_id=dealer_id)
    at = lead.created_at
    for days, step in enumerate(history, start=1):
        session.add(
            LeadStageChange(lead_id=lead.id, to_stage=step, changed_at=at + timedelta(days=days))
        )
    session.add(
        ShowroomVisit(
            dealer_id=dealer_id,
            profile_id=lead.profile_id,
            lead_id=lead.id,
            kind="walk_in",
            arrived_at=at + timedelta(days=5),
        )
    )


def test_a_show_counts_no_stage_the_lead_did_not_reach(
    staff_client: Callable[[str], StaffClient], session_factory: sessionmaker[Session]
) -> None:
    """The funnel counts a check-in as reached and appointment too; the planner's steps are the
    stages, so a lead that showed counts at the furthest stage it had, now or before."""
    dealer_id = make_dealer(session_factory, "SHOW")
    with session_factory() as session:
        _lead_that_showed(session, stage="new", history=(), dealer_id=dealer_id)
        _lead_that_showed(session, stage="reached", history=("reached",), dealer_id=dealer_id)
        _lead_that_showed(
            session, stage="lost", history=("reached", "appointment"), dealer_id=dealer_id
        )
        _lead_that_showed(session, stage="appointment", history=(), dealer_id=dealer_id)
        _lead_that_showed(
            session, stage="lost", history=("appointment", "test_drive"), dealer_id=dealer_id
        )
        session.commit()
    manager = staff_client("manager")
    page = soup(manager.client.get("/showroom/planner/forward").text)

    def now(step: str) -> str:
        found = page.select_one(f"#now-{step}")
        assert isinstance(found, Tag), step
        return str(found["value"])

    assert now("reached") == "80.0"  # 4 of 5: the lead still new is not reached
    assert now("appointment") == "75.0"  # 3 of those 4
    assert now("test_drive") == "33.3"  # 1 of those 3


def test_no_what_if_counts_past_every_lead(staff_client: Callable[[str], StaffClient]) -> None:
    manager = staff_client("manager")
    # Reach 80% now; every lead contacted within 5 minutes would reach 1.5x as many (the rule
    # of thumb: no contacts here), 120%: counted as 100%, and the field says so.
    fields = leads(website=(10, 0, 0)) | {
        "now-reached": "80",
        "now-speed": "0",
        "plan-speed": "100",
    }
    page = soup(manager.client.get("/showroom/planner/forward", params=fields).text)
    assert effect(page, "speed")[2] == str(round(1 / 0.8, 3))
    assert text(page, "#total-sales") == f"{10 * WEBSITE:.1f} → {10 * WEBSITE / 0.8:.1f}"
    assert "Reach would be 120%" in text(page, "#plan-speed-note")
    field = page.select_one("#plan-speed")
    assert field is not None and field["aria-describedby"] == "plan-speed-note"
    assert page.select_one("#planner-problems") is None  # a note, not a problem

    # Below 120% nothing is capped, and nothing noted.
    fields["now-reached"] = "60"
    page = soup(manager.client.get("/showroom/planner/forward", params=fields).text)
    assert effect(page, "speed")[2] == "1.5"
    assert page.select_one("#plan-speed-note") is None

    # An appointment rate "now" far below the channel's own: ten times the sales would be two
    # sales a lead; a channel sells at most every lead.
    fields = leads(website=(10, 0, 0)) | {"now-appointment": "10", "plan-appointment": "100"}
    page = soup(manager.client.get("/showroom/planner/forward", params=fields).text)
    assert text(page, "#total-sales") == f"{10 * WEBSITE:.1f} → 10.0"
    assert "every lead sold" in text(page, '.outlook-table tr[data-channel="website"]')


def test_sales_fall_in_the_months_after_their_leads_by_the_networks_days_to_sale(
    staff_client: Callable[[str], StaffClient], session_factory: sessionmaker[Session]
) -> None:
    manager = staff_client("manager")
    fields = leads(website=(30, 0, 30))  # April and June 2031: 30 and 30 days
    page = soup(manager.client.get("/showroom/planner/forward", params=fields).text)
    assert "counted in the month it came in" in text(page, "#sale-lag")
    row = page.select_one('.outlook-table tr[data-channel="website"]')
    assert isinstance(row, Tag)
    assert [td.get_text(" ", strip=True) for td in row.select("td")][1:5] == [
        "6.0 of 30 leads",
        "0.0 of 0 leads",
        "6.0 of 30 leads",
        "12.0",
    ]

    with session_factory() as session:  # three sales, each 30 days after its lead
        for days_ago in (100, 150, 200):
            lead = _month_old_lead(
                session, stage="sold", dealer_id=None, days_ago=days_ago, channel="phone"
            )
            session.add(
                LeadStageChange(
                    lead_id=lead.id, to_stage="sold", changed_at=lead.created_at + timedelta(30)
                )
            )
        session.commit()
    page = soup(manager.client.get("/showroom/planner/forward", params=fields).text)
    assert "a median 30.0 days after its lead" in text(page, "#sale-lag")
    row = page.select_one('.outlook-table tr[data-channel="website"]')
    assert isinstance(row, Tag)
    # April's leads, coming in over its 30 days, sell over the 30 days after: all in May; June's
    # after the quarter. The quarter's leads make as many sales as before.
    assert [td.get_text(" ", strip=True) for td in row.select("td")][1:6] == [
        "0.0 30 leads came in",
        "6.0 0 leads came in",
        "0.0 30 leads came in",
        "6.0",
        "12.0",
    ]
    assert text(page, "#later-sales") == "6.0"
    assert text(page, "#outlook-h") == "12.0 sales expected"
