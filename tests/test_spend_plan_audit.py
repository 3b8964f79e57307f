"""Changes to spend, margins and sales plans leave their trail in the audit (/admin/audit,
actions "spend" and "plan"), who and what (the command line's import: tests/test_spend_cli.py);
and spend is entered by a channel's own name as the importer renamed it. Both databases."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from cdp.leads.norms import set_channel
from cdp.models import SpendEntry
from tests.helpers import StaffClient, audit_rows, make_dealer, post

ENTRIES = "/showroom/spend/entries"
GOOD = {"month": "03-2026", "channel": "marketplace", "campaign": " AutoTrack  Top ",
        "dealer": "", "amount": "1.234,56", "note": ""}  # fmt: skip
PLAN = {"year": "2031", "quarter": "2", "country": "NL", "basis": "norm", "target_new": "30",
        "target_used": "12", "mix-website": "50", "mix-phone": "30", "mix-marketplace": "20",
        "name": "Spring push"}  # fmt: skip


def entries(factory: sessionmaker[Session]) -> list[tuple[str, str]]:
    """(channel, campaign) of every spend entry stored."""
    with factory() as session:
        return [(e.channel, e.campaign) for e in session.scalars(select(SpendEntry))]


def entry_id(factory: sessionmaker[Session]) -> int:
    with factory() as session:
        found = session.scalar(select(func.max(SpendEntry.id)))
        assert found is not None
        return found


def test_spend_and_margins_changed_on_the_page_are_in_the_audit(
    staff_client: Callable[[str], StaffClient], session_factory: sessionmaker[Session]
) -> None:
    make_dealer(session_factory, "AU")
    marketing = staff_client("marketing")
    assert post(marketing, ENTRIES, GOOD).status_code == 303
    number = entry_id(session_factory)
    edited = post(marketing, f"{ENTRIES}/{number}/edit", {**GOOD, "amount": "99.5"})
    assert edited.status_code == 303
    assert post(marketing, f"{ENTRIES}/{number}/delete", {"confirm": "yes"}).status_code == 303
    manager = staff_client("manager")
    margins = "/showroom/spend/margins"
    assert post(manager, margins, {"dealer": "", "margin": "1800"}).status_code == 303
    assert post(manager, margins, {"dealer": "au", "margin": "2000"}).status_code == 303
    assert post(manager, margins, {"dealer": "AU", "margin": ""}).status_code == 303

    rows = audit_rows(staff_client("admin").client, "action=spend")
    details = [row["detail"] for row in reversed(rows)]  # oldest first
    entry = "March 2026, marketplace, campaign autotrack top, the network"
    assert details == [
        f"spend added: {entry}: € 1.234,56",
        f"spend changed: {entry}: € 1.234,56 → {entry}: € 99,50",
        f"spend deleted: {entry}: € 99,50",
        "margin of the network: – → € 1.800,00",
        "margin of dealer AU: – → € 2.000,00",
        "margin of dealer AU: removed",
    ]
    assert [row["actor"] for row in reversed(rows)] == [marketing.email] * 3 + [manager.email] * 3
    assert {row["kind"] for row in rows} == {"spend"}


def test_an_import_is_one_record(
    staff_client: Callable[[str], StaffClient], session_factory: sessionmaker[Session]
) -> None:
    manager = staff_client("manager")
    text = "month;channel;campaign;dealer_code;amount\n2026-01;phone;;;10\n2026-02;phone;;;20\n"
    confirmed = {"csv_text": text, "filename": "januari.csv", "confirm": "yes"}
    assert post(manager, "/showroom/spend/import/confirm", confirmed).status_code == 303
    assert len(entries(session_factory)) == 2
    rows = audit_rows(staff_client("admin").client, "action=spend")
    assert [(row["actor"], row["detail"]) for row in rows] == [
        (manager.email, "spend imported: januari.csv: 2 added, 0 replaced, € 30,00 in all")
    ]


def test_saving_and_deleting_a_plan_is_in_the_audit(
    staff_client: Callable[[str], StaffClient],
) -> None:
    manager = staff_client("manager")
    saved = post(manager, "/showroom/planner/plans", PLAN)
    assert saved.status_code == 303
    plan_url = saved.headers["location"]
    assert post(manager, f"{plan_url}/delete", {"confirm": "yes"}).status_code == 303
    rows = audit_rows(staff_client("admin").client, "action=plan")
    assert [(row["actor"], row["detail"]) for row in reversed(rows)] == [
        (manager.email, "plan saved: “Spring push” for the network, Q2 2031, 30 new and 12 used"),
        (manager.email, "plan deleted: “Spring push” for the network, Q2 2031, 30 new and 12 used"),
    ]


def test_spend_is_entered_by_the_name_the_importer_gave_a_channel(
    staff_client: Callable[[str], StaffClient],
    session_factory: sessionmaker[Session],
) -> None:
    with session_factory() as session:  # as the channels page stores a new name
        set_channel(
            session, channel="marketplace", label="Online  marktplaatsen", offered=True,
            by_user_id=None,
        )  # fmt: skip
        session.commit()
    manager = staff_client("manager")
    typed = {**GOOD, "channel": "online marktplaatsen"}
    assert post(manager, ENTRIES, typed).status_code == 303
    text = "month;channel;campaign;dealer_code;amount\n2026-05;ONLINE MARKTPLAATSEN;x;;5\n"
    confirmed = {"csv_text": text, "filename": "s.csv", "confirm": "yes"}
    assert post(manager, "/showroom/spend/import/confirm", confirmed).status_code == 303
    stored = sorted(entries(session_factory))
    assert stored == [("marketplace", "autotrack top"), ("marketplace", "x")]
    wrong = post(manager, ENTRIES, {**GOOD, "channel": "billboards"})
    assert wrong.status_code == 400
