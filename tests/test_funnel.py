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
    assert "No leads came in" in empty.get_text()

    for stages in (
        ["reached", "quote", "sold"],  # skips steps: a quote implies appointment and test drive
        ["test_drive", "sold"],
        ["appointment", "lost"],  # lost after an appointment still had one
        ["invalid"],  # not a lead: left out of the rates
        [],  # still new
    ):
        lead_through(manager, web_source, session_factory, "phone", stages)
    lead_through(manager, web_source, session_factory, "website", ["attempted", "lost"])

    response = manager.client.get("/showroom/funnel", params={"days": 30, "cars": 10})
    assert response.status_code == 200
    page = BeautifulSoup(response.text, "html.parser")
    # Leads, reached, appointment, test drive, quote, sold, norm, verdict, open, lost, lost to
    assert cells(page, "Phone") == [
        "4", "3 75%", "3 75%", "2 50%", "2 50%", "2 50%", "22%", "too few decided", "1", "1",
        "price (1)",
    ]  # fmt: skip
    assert cells(page, "Brand website")[:6] == ["1", "0 0%", "0 0%", "0 0%", "0 0%", "0 0%"]
    assert cells(page, "Walk-in")[0] == "0"
    assert "1 invalid or duplicate" in page.get_text()
    bars = {
        li.select_one(".label").get_text(): li.select_one(".bar")["style"]  # type: ignore[union-attr,index]
        for li in page.select(".conversion-chart li")
    }
    assert bars == {"Phone": "--share: 50.0%", "Brand website": "--share: 0%"}
    # The plan: 10 cars from phone leads at the 22% norm take 46 leads, at our 50% take 20.
    plan = {
        tr.th.get_text(): [" ".join(td.get_text(" ").split()) for td in tr.select("td")]
        for tr in page.select(".plan-table tbody tr")
        if tr.th
    }
    assert plan["Phone"] == ["46 at 22%", "20 at 50%"]
    assert plan["Direct mail"] == ["200 at 5%", "–"]


def test_only_managers_see_the_funnel(staff_client: Callable[[str], StaffClient]) -> None:
    for role, status in (("sales", 403), ("marketing", 403), ("manager", 200), ("admin", 200)):
        who = staff_client(role)
        response = who.client.get("/showroom/funnel", follow_redirects=False)
        assert response.status_code == status, role
        nav = BeautifulSoup(who.client.get("/account").text, "html.parser").select("nav a")
        assert ("Funnel" in [a.get_text() for a in nav]) == (status == 200), role


def test_one_day_and_one_open_lead_read_in_the_singular(
    staff_client: Callable[[str], StaffClient],
    web_source: SourceKey,
    session_factory: sessionmaker[Session],
) -> None:
    manager = staff_client("manager")
    empty = BeautifulSoup(
        manager.client.get("/showroom/funnel", params={"days": 1}).text, "html.parser"
    )
    selected = empty.select_one("#days option[selected]")
    assert selected is not None and selected.get_text() == "1 day"
    assert [o.get_text() for o in empty.select("#days option")][:3] == [
        "30 days", "90 days", "365 days",
    ]  # fmt: skip
    empty_text = " ".join(empty.select_one("p.empty").get_text().split())  # type: ignore[union-attr]
    assert empty_text.startswith("No leads came in over the last 1 day.")

    lead_through(manager, web_source, session_factory, "phone", [])  # one lead, still new
    response = manager.client.get("/showroom/funnel", params={"days": 1, "cars": 1})
    page = BeautifulSoup(response.text, "html.parser")
    meta = " ".join(page.select_one("p.meta").get_text().split())  # type: ignore[union-attr]
    assert meta.startswith("1 lead from ") and "1 is still open" in meta, meta
    headers = [th.get_text() for th in page.select(".plan-table thead th")]
    assert headers[-1] == "At your rate over the last 1 day"
