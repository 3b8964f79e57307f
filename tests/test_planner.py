"""The planner backwards, through its pages: a sales target to leads per channel and month
(numbers checked against arithmetic done here, with the holiday calendars read here), the
history of leads shaping the months, plans saved, listed, compared with leads made here and
deleted, dealer scoping, and bad input marked field by field. Runs on both databases."""

from __future__ import annotations

import calendar
import csv
import io
import math
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest
from bs4 import BeautifulSoup, Tag
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from cdp.models import Lead, LeadStageChange, Profile, SalesPlan
from tests.helpers import StaffClient, count, make_dealer, make_staff, post, sign_in, soup

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
MONTHS = ["", *calendar.month_name[1:]]
# The field's lead-to-sale norms (../shared/DOMAIN.md): website 20%, phone 22%, marketplace 15%.
NORM = {"website": 0.20, "phone": 0.22, "marketplace": 0.15}


def add_lead(
    factory: sessionmaker[Session],
    *,
    channel: str,
    at: datetime,
    dealer_id: int | None = None,
    sold_at: datetime | None = None,
    stage: str = "attempted",
) -> None:
    with factory() as session:
        profile = Profile(first_seen_at=at, last_seen_at=at)
        session.add(profile)
        session.flush()
        lead = Lead(
            dealer_id=dealer_id,
            profile_id=profile.id,
            channel=channel,
            stage="sold" if sold_at else stage,
            created_at=at,
            updated_at=at,
        )
        session.add(lead)
        session.flush()
        if sold_at:
            session.add(
                LeadStageChange(
                    lead_id=lead.id, from_stage="quote", to_stage="sold", changed_at=sold_at
                )
            )
        session.commit()


def showroom_days(year: int, month: int, country: str = "NL", school: float = 1.0) -> float:
    """Mondays to Saturdays that are no public holiday; Belgian school-holiday days at `school`."""
    public = holidays.country_holidays(country, years=year)
    breaks = (
        holidays.country_holidays("BE", subdiv="Flemish", years=year, categories=("school",))
        if country == "BE"
        else {}
    )
    total = 0.0
    for day in range(1, calendar.monthrange(year, month)[1] + 1):
        d = date(year, month, day)
        if d.weekday() == 6 or d in public:
            continue
        total += school if d in breaks else 1.0
    return total


def largest_remainder(total: int, weights: list[float]) -> list[int]:
    shares = [total * w / sum(weights) for w in weights]
    whole = [math.floor(s) for s in shares]
    for i in sorted(range(3), key=lambda i: (whole[i] - shares[i], i))[: total - sum(whole)]:
        whole[i] += 1
    return whole


def reverse_rows(page: BeautifulSoup) -> dict[str, list[str]]:
    return {
        str(tr["data-channel"]): [td.get_text(" ", strip=True) for td in tr.select("td")]
        for tr in page.select(".reverse-table tbody tr")
    }


def target(year: int, quarter: int, **extra: str) -> dict[str, str]:
    fields = {
        "year": str(year),
        "quarter": str(quarter),
        "country": "NL",
        "basis": "norm",
        "target_new": "30",
        "target_used": "12",
        "mix-website": "50",
        "mix-phone": "30",
        "mix-marketplace": "20",
    }
    return fields | extra


def test_a_target_becomes_leads_per_channel_and_month_by_showroom_days(
    staff_client: Callable[[str], StaffClient],
) -> None:
    manager = staff_client("manager")
    # Q4 2031 is years ahead: no history of its months, so showroom days decide the spread.
    response = manager.client.get("/showroom/planner/reverse", params=target(2031, 4))
    assert response.status_code == 200, response.text
    page = soup(response.text)
    days = [showroom_days(2031, m) for m in (10, 11, 12)]
    # December's two Christmas days make it lighter than October, a month of equal length.
    assert days[2] < days[0]
    cars = 30 + 12
    rows = reverse_rows(page)
    assert set(rows) == {"website", "phone", "marketplace"}
    for channel, share in (("website", 50), ("phone", 30), ("marketplace", 20)):
        leads = math.ceil(round(cars * share / 100 / NORM[channel], 9))
        per_month = largest_remainder(leads, days)
        assert rows[channel][3:] == [*(str(n) for n in per_month), str(leads)], channel
    assert int(rows["website"][3]) > int(rows["website"][5])  # October over December
    heading = page.select_one("#result-h")
    assert heading is not None
    assert heading.get_text() == f"{105 + 58 + 56} leads for 42 cars in Q4 2031"
    assert "showroom days" in page.get_text()


def test_belgian_school_holidays_weigh_less_than_other_days(
    staff_client: Callable[[str], StaffClient],
) -> None:
    manager = staff_client("manager")
    fields = target(2031, 3, country="BE", target_new="100", target_used="0")
    page = soup(manager.client.get("/showroom/planner/reverse", params=fields).text)
    days = [showroom_days(2031, m, "BE", school=0.8) for m in (7, 8, 9)]
    leads = math.ceil(round(100 * 0.5 / 0.2, 9))
    assert reverse_rows(page)["website"][3:6] == [str(n) for n in largest_remainder(leads, days)]
    # July and August are the summer break: September, at school, takes the most.
    nl = soup(manager.client.get("/showroom/planner/reverse", params=target(2031, 3)).text)
    assert int(reverse_rows(page)["website"][5]) > int(reverse_rows(nl)["website"][5])


def test_the_history_of_leads_shapes_the_months_when_there_is_enough(
    staff_client: Callable[[str], StaffClient], session_factory: sessionmaker[Session]
) -> None:
    manager = staff_client("manager")  # the importer's: plans for the network
    past = {(2025, 1): 10, (2025, 2): 30, (2025, 3): 20, (2026, 1): 12, (2026, 2): 28}
    for (year, month), n in past.items():
        for i in range(n):
            add_lead(session_factory, channel="website", at=_noon(year, month, 10 + i % 10))
    fields = target(
        2027, 1, target_new="40", target_used="0", **{"mix-phone": "", "mix-marketplace": ""}
    )
    fields["mix-website"] = "100"
    # March 2026 has no leads: that year is left out, and 2025's 60 leads are just enough.
    page = soup(manager.client.get("/showroom/planner/reverse", params=fields).text)
    per_day = [past[(2025, m)] / showroom_days(2025, m) for m in (1, 2, 3)]
    weights = [rate * showroom_days(2027, m) for rate, m in zip(per_day, (1, 2, 3), strict=True)]
    leads = math.ceil(round(40 / 0.2, 9))
    expected = largest_remainder(leads, weights)
    assert reverse_rows(page)["website"][3:6] == [str(n) for n in expected]
    assert expected[1] > expected[2] > expected[0]  # February busiest, as in the history
    assert "60 leads" in page.get_text()


def _noon(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, 12, tzinfo=AMSTERDAM).astimezone(UTC)


def _plan_id(response: object) -> int:
    location = response.headers["location"]  # type: ignore[attr-defined]
    assert location.startswith("/showroom/planner/plans/")
    return int(location.rsplit("/", 1)[1])


def test_a_saved_plan_is_listed_compared_with_what_happened_and_deleted(
    staff_client: Callable[[str], StaffClient], session_factory: sessionmaker[Session]
) -> None:
    pa, pb = make_dealer(session_factory, "PA"), make_dealer(session_factory, "PB")
    manager = staff_client("manager")
    assert "No plans saved yet" in manager.client.get("/showroom/planner").text
    fields = target(2026, 4, dealer="PA", name="PA autumn push")
    response = post(manager, "/showroom/planner/plans", fields)
    assert response.status_code == 303, response.text
    plan_id = _plan_id(response)
    # What happened at PA: website leads in October (one sold in November), phone in
    # November; a lead of PB and an invalid lead of PA are not PA's leads.
    for day in (3, 10, 17):
        add_lead(session_factory, channel="website", at=_noon(2026, 10, day), dealer_id=pa)
    add_lead(
        session_factory,
        channel="website",
        at=_noon(2026, 10, 20),
        dealer_id=pa,
        sold_at=_noon(2026, 11, 4),
    )
    for day in (5, 6):
        add_lead(session_factory, channel="phone", at=_noon(2026, 11, day), dealer_id=pa)
    add_lead(session_factory, channel="phone", at=_noon(2026, 11, 7), dealer_id=pb)
    add_lead(session_factory, channel="phone", at=_noon(2026, 11, 8), dealer_id=pa, stage="invalid")

    listing = soup(manager.client.get("/showroom/planner").text)
    row = listing.select_one(f'tr[data-plan="{plan_id}"]')
    assert isinstance(row, Tag)
    assert [td.get_text(" ", strip=True) for td in row.select("td")][:5] == [
        "PA (PA)", "Q4 2026", "30", "12", str(105 + 58 + 56),
    ]  # fmt: skip

    page = soup(manager.client.get(f"/showroom/planner/plans/{plan_id}").text)
    planned = {
        channel: largest_remainder(leads, [showroom_days(2026, m) for m in (10, 11, 12)])
        for channel, leads in (("website", 105), ("phone", 58), ("marketplace", 56))
    }
    web = page.select_one('.compare-table tr[data-channel="website"]')
    assert isinstance(web, Tag)
    assert [td.get_text(" ", strip=True) for td in web.select("td")] == [
        f"4 of {planned['website'][0]}", "0 of " + _sales(planned["website"][0], 0.2),
        f"0 of {planned['website'][1]}", "1 of " + _sales(planned["website"][1], 0.2),
        f"0 of {planned['website'][2]}", "0 of " + _sales(planned["website"][2], 0.2),
    ]  # fmt: skip
    chart = page.select_one('.compare-chart li[data-month="11"]')
    assert isinstance(chart, Tag)
    total_nov = sum(p[1] for p in planned.values())
    assert f"2 of {total_nov} leads" in chart.get_text(" ", strip=True)

    download = manager.client.get(f"/showroom/planner/plans/{plan_id}/comparison.csv")
    assert download.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(download.text)))
    by = {(r["month"], r["channel"]): r for r in rows}
    assert by[("11", "Phone")]["actual_leads"] == "2"
    assert by[("11", "Phone")]["planned_leads"] == str(planned["phone"][1])
    assert by[("11", "all")]["actual_sales"] == "1"
    assert by[("10", "all")]["actual_leads"] == "4"
    assert len(rows) == 3 * 4  # three channels and the total, for each month

    # Deleting asks first; only the answer deletes.
    asked = post(manager, f"/showroom/planner/plans/{plan_id}/delete")
    assert asked.status_code == 200 and "Delete the plan" in asked.text
    assert count(session_factory, SalesPlan, SalesPlan.id == plan_id) == 1
    done = post(manager, f"/showroom/planner/plans/{plan_id}/delete", {"confirm": "yes"})
    assert done.status_code == 303 and done.headers["location"] == "/showroom/planner"
    assert count(session_factory, SalesPlan, SalesPlan.id == plan_id) == 0
    assert manager.client.get(f"/showroom/planner/plans/{plan_id}").status_code == 404


def _sales(leads: int, rate: float) -> str:
    return str(round(leads * rate, 1))


def test_a_dealer_manager_plans_for_their_dealer_only(
    app_client: TestClient,
    staff_client: Callable[[str], StaffClient],
    session_factory: sessionmaker[Session],
) -> None:
    make_dealer(session_factory, "PA")
    make_dealer(session_factory, "PB")
    importer = staff_client("manager")
    ids = {
        who: _plan_id(
            post(importer, "/showroom/planner/plans", target(2026, 4, dealer=code, name=who))
        )
        for who, code in (("pb-plan", "PB"), ("network-plan", ""))
    }
    app_client.cookies.clear()
    email = make_staff(session_factory, role="manager", dealers=("PA",))
    dealer = StaffClient(app_client, email, sign_in(app_client, email))
    form = soup(dealer.client.get("/showroom/planner/reverse").text)
    assert form.select_one("#dealer") is None  # one dealer: nothing to choose
    saved = post(dealer, "/showroom/planner/plans", target(2026, 4, name="mine"))
    assert saved.status_code == 303
    mine = _plan_id(saved)
    with session_factory() as session:
        plan = session.get(SalesPlan, mine)
        assert plan is not None and plan.dealer_id is not None
    listing = soup(dealer.client.get("/showroom/planner").text)
    assert [str(tr["data-plan"]) for tr in listing.select("tr[data-plan]")] == [str(mine)]
    for other in ids.values():
        assert dealer.client.get(f"/showroom/planner/plans/{other}").status_code == 404
        assert (
            dealer.client.get(f"/showroom/planner/plans/{other}/comparison.csv").status_code == 404
        )
        assert (
            post(dealer, f"/showroom/planner/plans/{other}/delete", {"confirm": "yes"}).status_code
            == 404
        )
    refused = post(dealer, "/showroom/planner/plans", target(2026, 4, dealer="PB", name="theirs"))
    assert refused.status_code == 400
    assert "no dealer with the code PB" in _problem(refused.text, "dealer")
    for role in ("sales", "reception"):
        app_client.cookies.clear()
        sign_in(app_client, make_staff(session_factory, role=role, dealers=("PA",)))
        assert app_client.get("/showroom/planner").status_code == 403
        assert 'href="/showroom/planner"' not in app_client.get("/account").text


def _problem(html: str, field: str) -> str:
    page = soup(html)
    marked = page.select_one(f"#{field}[aria-invalid=true]")
    assert marked is not None, field
    error = page.select_one(f"#{field}-error")
    assert error is not None, field
    return error.get_text(" ", strip=True)


def test_bad_input_is_marked_field_by_field(staff_client: Callable[[str], StaffClient]) -> None:
    manager = staff_client("manager")
    bad = target(2031, 4, target_new="-3", **{"mix-website": "fifty", "mix-phone": "30.5"})
    bad["year"] = "20x1"
    response = manager.client.get("/showroom/planner/reverse", params=bad)
    assert response.status_code == 400
    assert "not a number" in _problem(response.text, "year")
    assert "between 0 and" in _problem(response.text, "target_new")
    assert "not a number" in _problem(response.text, "mix-website")
    assert soup(response.text).select_one(".reverse-table") is None
    summary = soup(response.text).select("#planner-problems li a")
    assert [a["href"] for a in summary] == ["#year", "#target_new", "#mix-website"]

    uneven = manager.client.get(
        "/showroom/planner/reverse", params=target(2031, 4, **{"mix-phone": "40"})
    )
    assert uneven.status_code == 400
    mix = soup(uneven.text).select_one("p.field-error#mix")
    assert mix is not None and "110%" in mix.get_text()

    nothing = manager.client.get(
        "/showroom/planner/reverse", params=target(2031, 4, target_new="0", target_used="")
    )
    assert "at least one car" in _problem(nothing.text, "target_new")

    no_norm = manager.client.get(
        "/showroom/planner/reverse",
        params=target(2031, 4, **{"mix-phone": "20", "mix-walk_in": "10"}),
    )
    assert no_norm.status_code == 400
    assert "no lead-to-sale norm" in _problem(no_norm.text, "mix-walk_in")

    unnamed = post(manager, "/showroom/planner/plans", target(2031, 4, name="  "))
    assert unnamed.status_code == 400
    assert "Name: required" in _problem(unnamed.text, "name")
    assert soup(unnamed.text).select_one(".reverse-table") is not None  # the result stays
    assert count_plans(manager) == 0


def count_plans(staff: StaffClient) -> int:
    return len(soup(staff.client.get("/showroom/planner").text).select("tr[data-plan]"))


def test_the_planner_sits_next_to_the_funnel_and_starts_from_the_next_quarter(
    staff_client: Callable[[str], StaffClient],
) -> None:
    manager = staff_client("manager")
    page = soup(manager.client.get("/showroom/planner/reverse").text)
    nav = [a.get_text() for a in page.select("nav a")]
    assert nav[nav.index("Funnel") + 1] == "Planner"
    today = datetime.now(AMSTERDAM).date()
    quarter = (today.month - 1) // 3 + 1
    year, nxt = (today.year, quarter + 1) if quarter < 4 else (today.year + 1, 1)
    year_field = page.select_one("#year")
    assert year_field is not None and year_field["value"] == str(year)
    chosen = page.select_one("#quarter option[selected]")
    assert chosen is not None and chosen["value"] == str(nxt)
    # Without sales in the last year, the mix is an equal share for every channel with a norm.
    shares = {
        str(i["id"]): float(str(i["value"]))
        for i in page.select("input[id^=mix-]")
        if i.get("value")
    }
    assert math.isclose(sum(shares.values()), 100)
    assert len(shares) == 6 and max(shares.values()) - min(shares.values()) <= 0.21


def test_a_new_plan_starts_from_last_years_sales_of_the_channels_with_a_norm(
    staff_client: Callable[[str], StaffClient], session_factory: sessionmaker[Session]
) -> None:
    recently = datetime.now(UTC) - timedelta(days=60)
    for channel, sold in (("phone", 3), ("website", 1), ("walk_in", 4)):
        for _ in range(sold):
            add_lead(session_factory, channel=channel, at=recently, sold_at=recently)
    add_lead(session_factory, channel="marketplace", at=recently)  # a lead, not a sale
    page = soup(staff_client("manager").client.get("/showroom/planner/reverse").text)
    shares = {
        str(i["id"]): str(i["value"]) for i in page.select("input[id^=mix-]") if i.get("value")
    }
    # Walk-ins have no norm to plan leads with: the mix is phone's and the website's sales.
    assert shares == {"mix-phone": "75", "mix-website": "25"}
    assert page.select_one("#planner-problems") is None  # nothing typed yet: nothing marked


def test_at_the_observed_conversions_a_channel_with_enough_leads_uses_its_own(
    staff_client: Callable[[str], StaffClient], session_factory: sessionmaker[Session]
) -> None:
    recently = datetime.now(UTC) - timedelta(days=90)
    for i in range(25):  # phone: 10 of 25 sold, enough leads to go by (40%)
        add_lead(
            session_factory, channel="phone", at=recently, sold_at=recently if i < 10 else None
        )
    for _ in range(5):  # website: all 5 sold, too few leads: its 20% norm stands in
        add_lead(session_factory, channel="website", at=recently, sold_at=recently)
    fields = target(
        2031, 4, basis="observed", target_new="20", target_used="0",
        **{"mix-website": "50", "mix-phone": "50", "mix-marketplace": ""},
    )  # fmt: skip
    rows = reverse_rows(
        soup(staff_client("manager").client.get("/showroom/planner/reverse", params=fields).text)
    )
    assert rows["phone"][2] == "40.0% observed"
    assert rows["phone"][6] == str(math.ceil(round(20 * 0.5 / (10 / 25), 9)))
    assert rows["website"][2] == "20.0% norm"
    assert rows["website"][6] == str(math.ceil(round(20 * 0.5 / 0.2, 9)))


@pytest.mark.parametrize(
    ("wrong", "field", "says"),
    [
        ({"quarter": "9"}, "quarter", "between 1 and 4"),
        ({"target_new": "-3"}, "target_new", "between 0"),
        ({"basis": "x"}, "basis", "one of"),
        ({"country": "XX"}, "country", "one of"),
        ({"year": ""}, "year", "required"),
        ({"mix-phone": "abc"}, "mix-phone", "not a number"),
    ],
)
def test_a_plan_saved_with_a_wrong_field_is_refused_with_it_marked(
    staff_client: Callable[[str], StaffClient],
    session_factory: sessionmaker[Session],
    wrong: dict[str, str],
    field: str,
    says: str,
) -> None:
    """A form sent past the page (the page offers no Save while a field is wrong): 400 with the
    field marked and nothing saved. The page reads the form twice; it was a 500."""
    manager = staff_client("manager")
    with session_factory() as session:
        before = session.scalar(select(func.count()).select_from(SalesPlan))
    refused = post(manager, "/showroom/planner/plans", target(2026, 4, name="tampered") | wrong)
    assert refused.status_code == 400
    assert says in _problem(refused.text, field)
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(SalesPlan)) == before


def test_large_figures_are_shown_with_thousands_separated(
    staff_client: Callable[[str], StaffClient],
) -> None:
    """A national importer's target: "1036667 leads" was hard to read."""
    manager = staff_client("manager")
    fields = target(2031, 4) | {"target_new": "90000", "target_used": "10000"}
    page = soup(manager.client.get("/showroom/planner/reverse", params=fields).text)
    heading = page.select_one("#result-h")
    assert heading is not None
    assert re.fullmatch(r"\d{1,3}(,\d{3})+ leads for 100,000 cars in Q4 2031", heading.get_text())
    totals = [td.get_text(strip=True) for td in page.select("tfoot td.num")]
    assert totals[0] == "100,000.0"  # sales, to a tenth as beside each channel's
    assert all(re.fullmatch(r"\d{1,3}(,\d{3})+", cell) for cell in totals[1:]), totals
