"""Entering spend on the spend page: add, edit, delete (asked once), the margin per sale, and a
CSV file imported after a preview, every problem marked or listed by its line and nothing
stored while any remains. Who may enter spend, and for which dealers. Both databases."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cdp.models import SaleMargin, SpendEntry
from tests.helpers import (
    StaffClient,
    field_error_text,
    make_dealer,
    make_staff,
    sign_in,
    soup,
)

ENTRIES = "/showroom/spend/entries"


def entries(factory: sessionmaker[Session]) -> list[tuple[str, str, str, int | None, Decimal]]:
    with factory() as session:
        return [
            (e.month.strftime("%Y-%m"), e.channel, e.campaign, e.dealer_id,
             Decimal(e.amount).quantize(Decimal("0.01")))
            for e in session.scalars(select(SpendEntry).order_by(SpendEntry.id))
        ]  # fmt: skip


def entry_id(factory: sessionmaker[Session]) -> int:
    with factory() as session:
        found = session.scalars(select(SpendEntry.id).order_by(SpendEntry.id.desc())).first()
        assert found is not None
        return found


def post(staff: StaffClient, url: str, data: dict[str, str]) -> httpx.Response:
    response = staff.post(url, data)
    assert isinstance(response, httpx.Response)
    return response


def upload(staff: StaffClient, text: str, name: str = "spend.csv") -> httpx.Response:
    return staff.client.post(
        "/showroom/spend/import",
        data={"csrf_token": staff.csrf},
        files={"file": (name, text.encode("utf-8"), "text/csv")},
        follow_redirects=False,
    )


GOOD = {"month": "03-2026", "channel": "marketplace", "campaign": " AutoTrack  Top ",
        "dealer": "", "amount": "1.234,56", "note": "Featured listings"}  # fmt: skip


def test_spend_is_added_edited_and_deleted_after_one_question(
    staff_client: Callable[[str], StaffClient], session_factory: sessionmaker[Session]
) -> None:
    marketing = staff_client("marketing")
    empty = marketing.client.get(ENTRIES, params={"year": 2026})
    assert empty.status_code == 200
    assert "No spend entered for 2026 yet" in empty.text

    added = post(marketing, ENTRIES, GOOD)
    assert added.status_code == 303
    assert added.headers["location"] == f"{ENTRIES}?done=added&year=2026"
    assert entries(session_factory) == [
        ("2026-03", "marketplace", "autotrack top", None, Decimal("1234.56"))
    ]
    page = soup(marketing.client.get(added.headers["location"]).text)
    assert "Spend added." in page.get_text()
    row = page.select_one(f"tr#entry-{entry_id(session_factory)}")
    assert row is not None
    assert "€ 1.234,56" in row.get_text() and "autotrack top" in row.get_text()

    number = entry_id(session_factory)
    form = soup(marketing.client.get(f"{ENTRIES}/{number}/edit").text)
    assert form.select_one("#spend-amount")["value"] == "1234,56"  # type: ignore[index]
    saved = post(
        marketing, f"{ENTRIES}/{number}/edit", {**GOOD, "amount": "99.5", "month": "2026-04"}
    )
    assert saved.status_code == 303
    assert entries(session_factory) == [
        ("2026-04", "marketplace", "autotrack top", None, Decimal("99.50"))
    ]

    asked = post(marketing, f"{ENTRIES}/{number}/delete", {})
    assert asked.status_code == 200
    assert "Delete € 99,50 of spend?" in asked.text
    assert len(entries(session_factory)) == 1  # asked, not deleted
    gone = post(marketing, f"{ENTRIES}/{number}/delete", {"confirm": "yes"})
    assert gone.status_code == 303
    assert entries(session_factory) == []


def test_a_form_with_mistakes_comes_back_with_every_problem_marked(
    staff_client: Callable[[str], StaffClient], session_factory: sessionmaker[Session]
) -> None:
    manager = staff_client("manager")
    typed = {"month": "2026-13", "channel": "billboards", "campaign": "x", "dealer": "NOPE",
             "amount": "1.234", "note": ""}  # fmt: skip
    response = post(manager, ENTRIES, typed)
    assert response.status_code == 400
    page = soup(response.text)
    for name in ("month", "channel", "dealer", "amount"):
        assert page.select_one(f"#spend-{name}")["aria-invalid"] == "true", name  # type: ignore[index]
    errors = field_error_text(response.text)
    assert "'2026-13' is not a month" in errors
    assert "'billboards' is not a channel" in errors
    assert "no dealer with the code NOPE" in errors
    assert "ambiguous" in errors
    assert page.select_one("#spend-month")["value"] == "2026-13"  # type: ignore[index]
    assert entries(session_factory) == []

    assert post(manager, ENTRIES, GOOD).status_code == 303
    again = post(manager, ENTRIES, {**GOOD, "campaign": "autotrack top", "month": "2026-03"})
    assert again.status_code == 400
    assert (
        "There is an entry for this month, channel, campaign and dealer already"
        in field_error_text(again.text)
    )
    assert len(entries(session_factory)) == 1

    # An edit into another entry's place is refused the same way.
    assert post(manager, ENTRIES, {**GOOD, "campaign": ""}).status_code == 303
    clash = post(manager, f"{ENTRIES}/{entry_id(session_factory)}/edit", GOOD)
    assert clash.status_code == 400
    assert "already" in field_error_text(clash.text)


def test_the_margin_per_sale_of_the_network_and_of_a_dealer(
    staff_client: Callable[[str], StaffClient], session_factory: sessionmaker[Session]
) -> None:
    make_dealer(session_factory, "MA")
    manager = staff_client("manager")
    assert (
        post(manager, "/showroom/spend/margins", {"dealer": "", "margin": "1.800"}).status_code
        == 400
    )
    assert (
        post(manager, "/showroom/spend/margins", {"dealer": "", "margin": "1.800,00"}).status_code
        == 303
    )
    assert (
        post(manager, "/showroom/spend/margins", {"dealer": "MA", "margin": "2100"}).status_code
        == 303
    )
    assert (
        post(manager, "/showroom/spend/margins", {"dealer": "", "margin": "1900"}).status_code
        == 303
    )
    with session_factory() as session:
        rows = {
            (m.dealer_id is None, Decimal(m.amount).quantize(Decimal("1")))
            for m in session.scalars(select(SaleMargin))
        }
    assert rows == {(True, Decimal("1900")), (False, Decimal("2100"))}
    page = soup(manager.client.get(ENTRIES).text)
    assert page.select_one(".network-margin").get_text() == "€ 1.900,00"  # type: ignore[union-attr]
    assert "MA (MA): € 2.100,00" in page.get_text()
    bad = post(manager, "/showroom/spend/margins", {"dealer": "MA", "margin": "lots"})
    assert bad.status_code == 400
    assert "'lots' is not an amount" in soup(bad.text).select_one("#margin-problems").get_text()  # type: ignore[union-attr]
    assert soup(bad.text).select_one("#margin")["value"] == "lots"  # type: ignore[index]
    assert soup(bad.text).select_one("#margin")["aria-invalid"] == "true"  # type: ignore[index]
    # Empty for a dealer: back to the network's.
    assert (
        post(manager, "/showroom/spend/margins", {"dealer": "MA", "margin": ""}).status_code == 303
    )
    with session_factory() as session:
        assert [m.dealer_id for m in session.scalars(select(SaleMargin))] == [None]


def test_a_dealer_manager_enters_only_their_own_dealers_spend(
    app_client: TestClient, staff_client: Callable[[str], StaffClient],
    session_factory: sessionmaker[Session],
) -> None:  # fmt: skip
    own, other = make_dealer(session_factory, "DA"), make_dealer(session_factory, "DB")
    importer = staff_client("manager")
    assert post(importer, ENTRIES, GOOD).status_code == 303  # the network's
    network_entry = entry_id(session_factory)
    assert post(importer, ENTRIES, {**GOOD, "dealer": "DB"}).status_code == 303
    other_entry = entry_id(session_factory)

    email = make_staff(session_factory, role="manager", dealers=("DA",))
    app_client.cookies.clear()
    dealer_manager = StaffClient(app_client, email, sign_in(app_client, email))
    page = soup(app_client.get(ENTRIES, params={"year": 2026}).text)
    assert page.select("tr[data-entry]") == []  # neither the network's nor DB's
    options = [o["value"] for o in page.select("#spend-dealer option")]
    assert options == ["DA"]
    for dealer, message in (
        ("", "spend without a dealer is the importer's"),
        ("DB", "no dealer with the code DB"),
    ):
        refused = post(dealer_manager, ENTRIES, {**GOOD, "dealer": dealer})
        assert refused.status_code == 400 and message in field_error_text(refused.text)
    assert post(dealer_manager, ENTRIES, {**GOOD, "dealer": "DA"}).status_code == 303
    assert entries(session_factory)[-1][3] == own
    for number in (network_entry, other_entry):
        assert app_client.get(f"{ENTRIES}/{number}/edit").status_code == 404
        assert (
            post(dealer_manager, f"{ENTRIES}/{number}/delete", {"confirm": "yes"}).status_code
            == 404
        )
    assert len(entries(session_factory)) == 3
    assert (
        post(dealer_manager, "/showroom/spend/margins", {"dealer": "", "margin": "5"}).status_code
        == 400
    )
    assert (
        post(dealer_manager, "/showroom/spend/margins", {"dealer": "DB", "margin": "5"}).status_code
        == 400
    )
    assert (
        post(
            dealer_manager, "/showroom/spend/margins", {"dealer": "DA", "margin": "2000"}
        ).status_code
        == 303
    )
    with session_factory() as session:
        assert [m.dealer_id for m in session.scalars(select(SaleMargin))] == [own]
    assert other != own


def test_who_may_enter_spend(
    staff_client: Callable[[str], StaffClient], session_factory: sessionmaker[Session]
) -> None:
    for role in ("sales", "reception", "delivery"):
        staff = staff_client(role)
        assert staff.client.get(ENTRIES).status_code == 403
        assert post(staff, ENTRIES, GOOD).status_code == 403
        assert post(staff, "/showroom/spend/margins", {"margin": "100"}).status_code == 403
        assert upload(staff, "month,channel,amount\n2026-03,phone,5\n").status_code == 403
    assert entries(session_factory) == []
    for role in ("marketing", "manager", "admin"):
        staff = staff_client(role)
        assert staff.client.get(ENTRIES).status_code == 200
        assert 'href="/showroom/spend/entries"' in staff.client.get("/showroom/spend").text
    # Without the form's CSRF token nothing is stored.
    refused = staff.client.post(ENTRIES, data=GOOD, follow_redirects=False)
    assert refused.status_code == 403
    assert entries(session_factory) == []


def test_a_csv_file_is_previewed_then_imported(
    staff_client: Callable[[str], StaffClient], session_factory: sessionmaker[Session]
) -> None:
    dealer = make_dealer(session_factory, "CA")
    manager = staff_client("manager")
    assert (
        post(
            manager,
            ENTRIES,
            {**GOOD, "month": "2026-01", "campaign": "", "channel": "phone", "amount": "10"},
        ).status_code
        == 303
    )
    text = (
        "month;channel;campaign;dealer_code;amount\n"
        "2026-01;phone;;;1.234,56\n"  # replaces the 10 entered above
        "02-2026;marketplace;AutoTrack-Top;ca;99,5\n"
        "2026-02-01;Brand website;spring-sale;;2000\n"
    )
    preview = upload(manager, text)
    assert preview.status_code == 200, preview.text
    page = soup(preview.text)
    assert page.select_one(".added").get_text() == "2"  # type: ignore[union-attr]
    assert page.select_one(".replaced").get_text() == "1"  # type: ignore[union-attr]
    assert "€ 3.334,06 in all" in page.get_text()
    assert len(entries(session_factory)) == 1  # a preview stores nothing
    carried = page.select_one("textarea[name=csv_text]")
    assert carried is not None
    confirmed = {"csv_text": carried.get_text(), "filename": "spend.csv", "confirm": "yes"}
    done = post(manager, "/showroom/spend/import/confirm", confirmed)
    assert done.status_code == 303
    assert "added=2&replaced=1" in done.headers["location"]
    assert sorted(entries(session_factory)) == sorted([
        ("2026-01", "phone", "", None, Decimal("1234.56")),
        ("2026-02", "marketplace", "autotrack-top", dealer, Decimal("99.50")),
        ("2026-02", "website", "spring-sale", None, Decimal("2000.00")),
    ])  # fmt: skip
    # Commas between the columns, the Dutch amount in quotes.
    again = upload(
        manager,
        "month,channel,campaign,dealer_code,amount,note\n"
        '2026-03,event,"Auto RAI",,"1.000,00",stand\n',
    )
    assert again.status_code == 200
    carried = soup(again.text).select_one("textarea[name=csv_text]")
    assert carried is not None
    assert (
        post(
            manager,
            "/showroom/spend/import/confirm",
            {"csv_text": carried.get_text(), "confirm": "yes"},
        ).status_code
        == 303
    )
    assert ("2026-03", "event", "auto rai", None, Decimal("1000.00")) in entries(session_factory)


def test_a_csv_file_with_mistakes_lists_them_all_by_line_and_stores_nothing(
    staff_client: Callable[[str], StaffClient], session_factory: sessionmaker[Session]
) -> None:
    make_dealer(session_factory, "CB")
    manager = staff_client("manager")
    text = (
        "month,channel,campaign,dealer_code,amount\n"
        "2026-01,phone,,,100\n"  # fine
        "2026-13,phone,,,100\n"
        "2026-02,billboards,,,100\n"
        "2026-02,phone,,ZZ,100\n"
        "2026-02,phone,,,-5\n"
        "2026-01,phone,,,200\n"  # line 2 again
        "2026-02,website,x,CB,1.234\n"
    )
    response = upload(manager, text)
    assert response.status_code == 400
    problems = [li.get_text() for li in soup(response.text).select("#upload-problems li")]
    assert [p.split(":")[0] for p in problems] == [
        "line 3", "line 4", "line 5", "line 6", "line 7", "line 8"]  # fmt: skip
    assert "same month, channel, campaign and dealer as line 2" in problems[4]
    assert "Nothing was imported: 6 problems" in response.text
    assert entries(session_factory) == []
    # The confirmation step checks the file again: a changed file is refused the same way.
    sneaked = post(manager, "/showroom/spend/import/confirm", {"csv_text": text, "confirm": "yes"})
    assert sneaked.status_code == 400
    assert entries(session_factory) == []
    for bad, message in (
        ("month,channel,amount,colour\n2026-01,phone,5,red\n", "unknown column 'colour'"),
        ("month,amount\n2026-01,5\n", "no 'channel' column"),
        ("month,channel,amount\n", "holds no spend"),
        ("month,channel,amount\n2026-01,phone,1,5\n", "4 values where the header names 3"),
        ("", "the file is empty"),
    ):
        refused = upload(manager, bad)
        assert refused.status_code == 400, bad
        assert message in soup(refused.text).get_text(), bad
    latin_text = "month,channel,campaign,amount\n2026-01,phone,caf\xe9,5\n".encode("latin-1")
    latin = manager.client.post(
        "/showroom/spend/import", data={"csrf_token": manager.csrf},
        files={"file": ("x.csv", latin_text, "text/csv")},
    )  # fmt: skip
    assert latin.status_code == 400 and "not UTF-8" in latin.text
    assert entries(session_factory) == []
