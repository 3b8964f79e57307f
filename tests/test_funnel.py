"""The manager's lead funnel through the pages: leads entered and moved along by staff, then
read back per channel against the norms, with the plan calculator. Runs on both databases."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from bs4 import BeautifulSoup, Tag
from sqlalchemy.orm import Session, sessionmaker

from tests.helpers import SourceKey, StaffClient, make_customer, only_lead, post


def cells(page: BeautifulSoup, channel: str) -> list[str]:
    row = next(
        (
            tr
            for tr in page.select(".funnel-table tbody tr")
            if tr.th and tr.th.get_text() == channel
        ),
        None,
    )
    assert isinstance(row, Tag), channel
    return [" ".join(td.get_text(" ").split()) for td in row.select("td")]


def lead_through(
    manager: StaffClient,
    source: SourceKey,
    factory: sessionmaker[Session],
    channel: str,
    stages: list[str],
) -> None:
    """A customer, a lead of this channel entered on their page, then moved stage by stage."""
    pid = make_customer(manager.client, source, factory, first_name=f"F{uuid.uuid4().hex[:6]}")
    assert (
        post(manager, f"/showroom/customers/{pid}/leads", {"channel": channel}).status_code == 303
    )
    lead = only_lead(factory, pid)
    for stage in stages:
        data = {"stage": stage}
        if stage == "lost":
            data |= {"lost_reason": "price", "confirm": "yes"}  # the question answered
        response = post(manager, f"/showroom/leads/{lead.id}/stage", data)
        assert response.status_code == 303, response.text


def test_the_funnel_per_channel_counts_the_furthest_stage_against_the_norm(
    staff_client: Callable[[str], StaffClient],
    web_source: SourceKey,
    session_factory: sessionmaker[Session],
) -> None:
    manager = staff_client("manager")
    empty = BeautifulSoup(manager.client.get("/showroom/funnel").text, "html.parser")
    assert "No leads for these filters" in empty.get_text()

    for stages in (
        ["reached", "quote", "sold"],  # skips steps: a quote implies appointment and test drive
        ["test_drive", "sold"],
        ["appointment", "lost"],  # lost after an appointment still had one
        ["invalid"],  # not a lead: left out of the rates
        [],  # still new
    ):
        lead_through(manager, web_source, session_factory, "phone", stages)
    lead_through(manager, web_source, session_factory, "website", ["attempted", "lost"])

    response = manager.client.get("/showroom/funnel", params={"period": "last30"})
    assert response.status_code == 200
    page = BeautifulSoup(response.text, "html.parser")
    # Leads, valid, reached, appointment, show, test drive, quote, sold (each with its
    # conversion from the step before and its norm), lead to sale, verdict, open, lost.
    phone = cells(page, "Phone")
    assert phone[:2] == ["5", "4"]
    assert phone[2:8] == [
        "3 75% · 75%",  # reached: 3 of 4 valid leads
        "3 100% · 75% norm 35%",  # appointment: all 3 reached; 75% of leads against 35%
        "2 67% · 50% norm 23%",  # show: a test drive implies one (65% of the 35%)
        "2 100% · 50%",
        "2 100% · 50%",
        "2 100% · 50% norm 22%",
    ]
    assert phone[8:] == ["50% norm 22% too few decided", "1", "1"]
    assert cells(page, "Brand website")[:3] == ["1", "1", "0 0% · 0%"]
    assert cells(page, "Walk-in")[0] == "0"
    assert "1 invalid or duplicate lead is left out" in " ".join(page.get_text().split())
    # The funnel and conversion charts are SVG drawn on the server, with no script in them.
    charts = page.select(".funnel-charts svg, .trend svg")
    assert len(charts) == 3 and not page.select("svg script")
    assert page.select_one('a[href="/showroom/planner"]') is not None
    assert not page.select(".plan-table")


def test_who_sees_the_funnel(staff_client: Callable[[str], StaffClient]) -> None:
    for role, status in (
        ("sales", 200), ("reception", 403), ("marketing", 403), ("manager", 200), ("admin", 200),
    ):  # fmt: skip
        who = staff_client(role)
        response = who.client.get("/showroom/funnel", follow_redirects=False)
        assert response.status_code == status, role
        nav = BeautifulSoup(who.client.get("/account").text, "html.parser").select("nav a")
        assert ("Funnel" in [a.get_text() for a in nav]) == (status == 200), role


def test_the_cohort_sentence_reads_well_for_a_range_and_an_empty_period(
    staff_client: Callable[[str], StaffClient],
) -> None:
    """ "came in in 01-03-2026 to 31-03-2026 (01-03-2026 to 31-03-2026) … 0 are still open, so
    the rates can still rise", said of no leads at all."""
    manager = staff_client("manager")
    response = manager.client.get(
        "/showroom/funnel", params={"period": "range", "from": "2019-03-01", "to": "2019-03-31"}
    )
    page = BeautifulSoup(response.text, "html.parser")
    meta = page.select_one("p.meta")
    assert meta is not None
    said = " ".join(meta.get_text(" ").split())
    assert "came in from 01-03-2019 to 31-03-2019, each at the furthest step" in said, said
    assert "came in in" not in said and "(01-03-2019" not in said
    assert "still open" not in said and "rates can still rise" not in said
