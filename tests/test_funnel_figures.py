"""The funnel's figures on generated data, checked against counts computed in the test over the
rows it made (tests/funnel_data.py), per dealer, channel, campaign, salesperson and period, for
both definitions; the why next to the network's; every drill-down counting what its cell says;
the CSV the same as the page. Runs on both databases."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from cdp.local_time import local_today
from cdp.models import utcnow
from tests.funnel_data import (
    CELL_KINDS,
    CHANNEL_LABELS,
    MadeLead,
    Network,
    days_bounds,
    expected_counts,
    expected_why,
    funnel_csv,
    make_network,
    month_bounds,
)
from tests.helpers import StaffClient, make_staff, sign_in, soup


def _steps(client: StaffClient, params: dict[str, str]) -> dict[str, dict[str, int]]:
    rows = funnel_csv(client, "steps", params)
    return {
        row["channel"]: {
            kind: int(row["valid_leads" if kind == "valid" else kind]) for kind in CELL_KINDS
        }
        for row in rows
    }


def _as(client: StaffClient, factory: sessionmaker[Session], email: str) -> StaffClient:
    client.client.cookies.clear()
    csrf = sign_in(client.client, email)
    return StaffClient(client.client, email, csrf)


@pytest.fixture()
def network(session_factory: sessionmaker[Session]) -> Network:
    return make_network(session_factory)


def _periods() -> list[tuple[dict[str, str], tuple]]:
    today = local_today(utcnow())
    last_month = today.replace(day=1) - timedelta(days=1)
    start = today - timedelta(days=89)
    return [
        ({"period": "last90"}, days_bounds(start, today)),
        ({"period": f"{last_month:%Y-%m}"}, month_bounds(last_month)),
        (
            {"period": "range", "from": (today - timedelta(days=150)).isoformat(),
             "to": (today - timedelta(days=20)).isoformat()},
            days_bounds(today - timedelta(days=150), today - timedelta(days=20)),
        ),
    ]  # fmt: skip


@pytest.mark.parametrize("definition", ["cohort", "activity"])
def test_the_steps_per_channel_and_period_match_the_rows_made(
    staff_client: Callable[[str], StaffClient], network: Network, definition: str
) -> None:
    manager = staff_client("manager")  # the importer's: the whole network
    for params, (since, until) in _periods():
        params = {**params, "definition": definition}
        found = _steps(manager, params)
        for channel, label in CHANNEL_LABELS.items():
            mine = [lead for lead in network.leads if lead.channel == channel]
            assert found[label] == expected_counts(mine, since, until, definition), (params, label)
        assert found["All channels"] == expected_counts(network.leads, since, until, definition)
        # Per dealer, per salesperson and per campaign (last and first touch).
        code = next(iter(network.dealers))
        at_dealer = [lead for lead in network.leads if lead.dealer == code]
        assert _steps(manager, {**params, "dealer": code})["All channels"] == expected_counts(
            at_dealer, since, until, definition
        )
        seller = network.sellers[code][0]
        theirs = [lead for lead in network.leads if lead.seller == seller]
        assert _steps(manager, {**params, "salesperson": str(seller)})[
            "All channels"
        ] == expected_counts(theirs, since, until, definition)
        for touch in ("last", "first"):
            attr = f"{touch}_campaign"
            spring = [lead for lead in network.leads if getattr(lead, attr) == "spring"]
            got = _steps(manager, {**params, "campaign": "spring", "touch": touch})
            assert got["All channels"] == expected_counts(spring, since, until, definition)


def test_the_page_shows_the_same_figures_and_every_cell_drills_down_to_its_leads(
    staff_client: Callable[[str], StaffClient], network: Network
) -> None:
    manager = staff_client("manager")
    for definition in ("cohort", "activity"):
        params = {"period": "last90", "definition": definition}
        response = manager.client.get("/showroom/funnel", params=params)
        assert response.status_code == 200
        page = soup(response.text)
        expected = _steps(manager, params)["All channels"]
        total = page.select_one('tfoot tr[data-channel="all"]')
        assert total is not None
        links = total.select("a[data-cell]")
        assert {a["data-cell"] for a in links} == {k for k in CELL_KINDS if expected[k]}
        for a in links:
            kind = str(a["data-cell"])
            assert int(a.get_text().replace(",", "")) == expected[kind]
            drill = manager.client.get(str(a["href"]))
            assert drill.status_code == 200, a["href"]
            listed = soup(drill.text)
            assert int(listed.select_one(".count").get_text().replace(",", "")) == expected[kind]  # type: ignore[union-attr]
            shown = len(listed.select("tr[data-lead]"))
            assert shown == min(expected[kind], 50)
        # A channel's row drills down to that channel's leads only.
        phone = page.select_one('tr[data-channel="phone"] td[data-step="reached"] a')
        if phone is not None:
            listed = soup(manager.client.get(str(phone["href"])).text)
            ids = {int(str(tr["data-lead"])) for tr in listed.select("tr[data-lead]")}
            channels = {lead.channel for lead in network.leads if lead.id in ids}
            assert channels == {"phone"}


def test_the_drill_down_pages_through_every_lead_of_a_cell(
    staff_client: Callable[[str], StaffClient], session_factory: sessionmaker[Session]
) -> None:
    network = make_network(session_factory, seed=5, per_dealer=70)
    manager = staff_client("manager")
    params = {"period": "last365", "cell": "leads"}
    first = soup(manager.client.get("/showroom/funnel/leads", params=params).text)
    total = int(first.select_one(".count").get_text().replace(",", ""))  # type: ignore[union-attr]
    assert total == len(network.leads) > 50
    seen: list[int] = []
    url: str | None = "/showroom/funnel/leads?period=last365&cell=leads"
    while url:
        page = soup(manager.client.get(url).text)
        seen += [int(str(tr["data-lead"])) for tr in page.select("tr[data-lead]")]
        nxt = page.select_one('a[rel="next"]')
        url = str(nxt["href"]) if nxt is not None else None
    assert sorted(seen) == sorted(lead.id for lead in network.leads)


def _close(a: str, b: float | None, digits: int) -> bool:
    if b is None:
        return a == ""
    return math.isclose(float(a), round(b, digits), abs_tol=10**-digits * 1.01)


def test_the_why_next_to_the_network(
    staff_client: Callable[[str], StaffClient],
    session_factory: sessionmaker[Session],
    network: Network,
) -> None:
    code = next(iter(network.dealers))
    dealer_manager = make_staff(session_factory, role="manager", dealers=(code,))
    client = _as(staff_client("manager"), session_factory, dealer_manager)
    today = local_today(utcnow())
    since, until = days_bounds(today - timedelta(days=364), today)
    rows = {row["figure"]: row for row in funnel_csv(client, "why", {"period": "last365"})}
    mine = expected_why([lead for lead in network.leads if lead.dealer == code], since, until)
    everyone = expected_why(network.leads, since, until)
    digits = {"median seconds to first contact": 0, "mean attempts to reach": 2,
              "median attempts to reach": 1, "median days lead to sale": 1}  # fmt: skip
    for figure, value in mine.items():
        d = digits.get(figure, 4)
        assert _close(rows[figure]["value"], value, d), (figure, rows[figure], value)
        assert _close(rows[figure]["network"], everyone[figure], d), (figure, everyone[figure])


def test_lost_reasons_by_share_per_channel(
    staff_client: Callable[[str], StaffClient], network: Network
) -> None:
    manager = staff_client("manager")
    today = local_today(utcnow())
    since, until = days_bounds(today - timedelta(days=364), today)
    rows = funnel_csv(manager, "lost", {"period": "last365"})
    for channel, label in CHANNEL_LABELS.items():
        lost = [
            lead.lost_reason or "other"
            for lead in network.leads
            if lead.channel == channel and lead.stage == "lost" and since <= lead.created_at < until
        ]
        found = {r["lost_reason"]: r for r in rows if r["channel"] == label}
        assert {reason: int(r["leads"]) for reason, r in found.items()} == {
            reason: lost.count(reason) for reason in set(lost)
        }
        for reason, r in found.items():
            assert _close(r["share"], lost.count(reason) / len(lost), 4)
    assert all(r["network_share"] == "" for r in rows)  # the network is what the page shows


def test_the_monthly_trend(staff_client: Callable[[str], StaffClient], network: Network) -> None:
    manager = staff_client("manager")
    rows = funnel_csv(manager, "trend", {"period": "last90"})
    assert len(rows) == 12
    for row in rows:
        year, month = map(int, row["month"].split("-"))
        from datetime import date

        since, until = month_bounds(date(year, month, 1))
        leads = sum(lead.valid and since <= lead.created_at < until for lead in network.leads)
        sold = sum(
            lead.valid and (at := lead.first_at(6)) is not None and since <= at < until
            for lead in network.leads
        )
        assert (int(row["leads"]), int(row["sales"])) == (leads, sold), row


def _drilled_ids(client: StaffClient, url: str) -> set[int]:
    """Every lead a drill-down lists, over all its pages."""
    ids: set[int] = set()
    next_url: str | None = url
    while next_url:
        response = client.client.get(next_url)
        assert response.status_code == 200, next_url
        page = soup(response.text)
        ids |= {int(str(tr["data-lead"])) for tr in page.select("tr[data-lead]")}
        nxt = page.select_one('a[rel="next"]')
        next_url = str(nxt["href"]) if nxt is not None else None
    return ids


def test_every_count_of_the_why_drills_down_to_its_leads(
    staff_client: Callable[[str], StaffClient], network: Network
) -> None:
    manager = staff_client("manager")
    today = local_today(utcnow())
    since, until = days_bounds(today - timedelta(days=89), today)
    came = [lead for lead in network.leads if since <= lead.created_at < until and lead.valid]

    def delay(lead: MadeLead) -> float | None:
        first = min((at for at, _ in lead.attempts), default=None)
        return None if first is None else (first - lead.created_at).total_seconds()

    def reached(lead: MadeLead) -> bool:
        return any(outcome in ("reached", "replied") for _, outcome in lead.attempts)

    expected = {
        "valid": {lead.id for lead in came},
        "contacted": {lead.id for lead in came if delay(lead) is not None},
        "not_contacted": {lead.id for lead in came if delay(lead) is None},
        "within_5_min": {lead.id for lead in came if (d := delay(lead)) is not None and d <= 300},
        "within_1_hour": {lead.id for lead in came if (d := delay(lead)) is not None and d <= 3600},
        "reached_by_contact": {lead.id for lead in came if reached(lead)},
        "sold_dated": {lead.id for lead in came if lead.first_at(6) is not None},
        # The why's show rate and test-drive rate are over the period's leads (the cohort),
        # whichever definition the page shows.
        "appointment": {lead.id for lead in came if lead.rank() >= 2},
        "show": {lead.id for lead in came if lead.rank() >= 3},
        "test_drive": {lead.id for lead in came if lead.rank() >= 4},
    }
    assert all(expected[kind] for kind in ("contacted", "within_5_min", "sold_dated")), expected
    page = soup(
        manager.client.get(
            "/showroom/funnel", params={"period": "last90", "definition": "activity"}
        ).text
    )
    links = page.select(".why-table a[data-cell]")
    assert {str(a["data-cell"]) for a in links} == {k for k, ids in expected.items() if ids}
    for a in links:
        kind = str(a["data-cell"])
        assert int(a.get_text().replace(",", "")) == len(expected[kind]), kind
        assert _drilled_ids(manager, str(a["href"])) == expected[kind], kind


def test_a_figure_the_funnel_does_not_have_is_refused(
    staff_client: Callable[[str], StaffClient],
) -> None:
    response = staff_client("manager").client.get(
        "/showroom/funnel/leads", params={"cell": "within_2_min"}
    )
    assert response.status_code == 400
    assert soup(response.text).select_one('[data-field="cell"]') is not None
