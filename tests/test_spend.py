"""The return on spend through its page and CSV: leads (stored as routing and the pages leave
them, with the touches attribution gives) and spend entered on the spend page, read back per
channel, campaign and month, and checked against arithmetic done here over the same leads and
spend. Dealer scoping and who may see it. Runs on both databases."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from bs4 import BeautifulSoup, Tag
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from cdp.models import Lead, LeadStageChange, Profile
from tests.helpers import StaffClient, make_dealer, make_staff, sign_in, soup

AMSTERDAM = ZoneInfo("Europe/Amsterdam")


@dataclass(frozen=True)
class L:
    """A lead as the test makes it: created at a UTC moment, at a stage, with the stages it
    passed through, and the utm campaign of its first and last touch."""

    channel: str
    at: datetime
    stage: str = "new"
    passed: tuple[str, ...] = ()
    last: str | None = None
    first: str | None = None
    dealer: str = "SA"


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


# Q2 2025. Two leads sit on the period's edges in the showroom's time (CEST, UTC+2): the first
# is 1 April at 00:30 in Amsterdam (in), the last 1 July at 00:30 (out).
LEADS = [
    L("website", utc(2025, 3, 31, 22, 30), "sold", ("reached", "quote"), "Spring-Sale"),
    L("website", utc(2025, 4, 3, 9), "delivered", ("sold",), "spring-sale", "brand-awareness"),
    L("website", utc(2025, 4, 4, 9), "invalid", (), "spring-sale"),
    L("website", utc(2025, 4, 5, 9), "new", (), "spring-sale", "brand-awareness"),
    # Sold, then the sale fell through: a sale in the cohort (the furthest stage it reached).
    L("website", utc(2025, 4, 6, 9), "lost", ("quote", "sold"), "spring-sale"),
    L("website", utc(2025, 5, 2, 9), "sold", (), None),
    L("website", utc(2025, 5, 3, 9), "quote", ("reached",), None, "brand-awareness"),
    L("marketplace", utc(2025, 5, 10, 9), "sold", (), "autotrack-top"),
    L("marketplace", utc(2025, 5, 11, 9), "duplicate", (), "autotrack-top"),
    L("marketplace", utc(2025, 5, 12, 9), "reached", (), "autotrack-top"),
    L("marketplace", utc(2025, 6, 1, 9), "sold", (), "autotrack-top", dealer="SB"),
    L("phone", utc(2025, 6, 15, 9), "sold", (), None, dealer="SB"),
    L("website", utc(2025, 6, 30, 22, 30), "sold", (), "spring-sale"),  # July in Amsterdam
    L("website", utc(2024, 5, 3, 9), "sold", (), "spring-sale"),  # a year before: another period
]


@dataclass(frozen=True)
class S:
    month: str
    channel: str
    campaign: str
    dealer: str  # "" for the importer's network spend
    amount: str  # as typed
    value: Decimal  # what it means


SPEND = [
    S("2025-04", "website", "Spring-Sale", "", "1.500,00", Decimal("1500.00")),
    S("05-2025", "website", "", "", "800", Decimal("800.00")),
    S("2025-05", "marketplace", "autotrack-top", "SA", "450.50", Decimal("450.50")),
    S("2025-06", "marketplace", "autotrack-top", "SB", "1.234,56", Decimal("1234.56")),
    S("2025-06", "website", "brand-awareness", "", "99,9", Decimal("99.90")),
    S("2025-07", "website", "spring-sale", "", "5000", Decimal("5000.00")),  # outside Q2
]
MARGINS = {"": Decimal("2000.00"), "SA": Decimal("2500.00")}  # network, and SA's own


def make_leads(factory: sessionmaker[Session], leads: list[L], dealers: dict[str, int]) -> None:
    with factory() as session:
        for spec in leads:
            profile = Profile(first_seen_at=spec.at, last_seen_at=spec.at)
            session.add(profile)
            session.flush()
            lead = Lead(
                profile_id=profile.id,
                dealer_id=dealers[spec.dealer],
                channel=spec.channel,
                stage=spec.stage,
                created_at=spec.at,
                updated_at=spec.at,
                last_touch={"source": "google", "name": spec.last} if spec.last else None,
                first_touch={"source": "meta", "name": spec.first or spec.last}
                if (spec.first or spec.last)
                else None,
            )
            session.add(lead)
            session.flush()
            before = None
            for stage in (*spec.passed, spec.stage):
                change = LeadStageChange(lead_id=lead.id, from_stage=before, to_stage=stage,
                                         changed_by_user_id=None, changed_at=spec.at)  # fmt: skip
                session.add(change)
                before = stage
        session.commit()


@dataclass
class Expected:
    leads: int = 0
    valid: int = 0
    sales: int = 0
    spend: Decimal = Decimal("0")
    earned: Decimal = Decimal("0")


def month_of(moment: datetime) -> str:
    return moment.astimezone(AMSTERDAM).strftime("%Y-%m")


def expected(
    *, months: set[str], touch: str = "last", dealers: set[str] | None = None,
    network_spend: bool = True,
) -> dict[tuple[str, str, str], Expected]:  # fmt: skip
    """(month, channel, campaign) -> figures, worked out here from LEADS and SPEND alone."""
    found: dict[tuple[str, str, str], Expected] = defaultdict(Expected)
    for spec in LEADS:
        month = month_of(spec.at)
        if month not in months or (dealers is not None and spec.dealer not in dealers):
            continue
        name = spec.last if touch == "last" else (spec.first or spec.last)
        cell = found[(month, spec.channel, (name or "").lower())]
        cell.leads += 1
        if spec.stage in ("invalid", "duplicate"):
            continue
        cell.valid += 1
        if {"sold", "delivered"} & {spec.stage, *spec.passed}:
            cell.sales += 1
            cell.earned += MARGINS.get(spec.dealer, MARGINS[""])
    for entry in SPEND:
        month = entry.month if entry.month[:4] == "2025" else f"{entry.month[3:]}-{entry.month[:2]}"
        if month not in months:
            continue
        if entry.dealer == "" and not network_spend:
            continue
        if dealers is not None and entry.dealer and entry.dealer not in dealers:
            continue
        found[(month, entry.channel, entry.campaign.lower())].spend += entry.value
    return found


def per(spend: Decimal, count: int) -> str:
    return f"{(spend / count).quantize(Decimal('0.01')):.2f}" if count and spend else ""


def ros(cell: Expected) -> str:
    return f"{float((cell.earned - cell.spend) / cell.spend):.4f}" if cell.spend else ""


def as_csv_line(cell: Expected) -> list[str]:
    """A cell's CSV figures; the return counts only the sales of cells with spend (a total's
    `earned` holds only those already, see `total`)."""
    paid = cell.earned if cell.spend else Decimal("0")
    return [str(cell.leads), str(cell.valid), str(cell.sales),
            f"{cell.spend:.2f}", per(cell.spend, cell.leads), per(cell.spend, cell.valid),
            per(cell.spend, cell.sales), f"{paid:.2f}", ros(cell)]  # fmt: skip


def total(cells: list[Expected]) -> Expected:
    out = Expected()
    for cell in cells:
        out.leads += cell.leads
        out.valid += cell.valid
        out.sales += cell.sales
        out.spend += cell.spend
        out.earned += cell.earned if cell.spend else Decimal("0")
    return out


def enter_spend(staff: StaffClient, entries: list[S]) -> None:
    for entry in entries:
        response = staff.post(
            "/showroom/spend/entries",
            {"month": entry.month, "channel": entry.channel, "campaign": entry.campaign,
             "dealer": entry.dealer, "amount": entry.amount, "note": ""},
        )  # fmt: skip
        assert response.status_code == 303, response.text  # type: ignore[attr-defined]
    for code, amount in MARGINS.items():
        response = staff.post("/showroom/spend/margins", {"dealer": code, "margin": f"{amount}"})
        assert response.status_code == 303, response.text  # type: ignore[attr-defined]


def csv_rows(client: TestClient, **params: str) -> dict[tuple[str, str, str], list[str]]:
    response = client.get("/showroom/spend.csv", params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0][:4] == ["month", "channel", "campaign", "leads"]
    return {(r[0], r[1], r[2]): r[3:] for r in rows[1:]}


def money(text: str) -> Decimal | None:
    """ "€ 1.234,56" as the page shows it, read back; "–" is None."""
    text = text.strip()
    if text in ("–", ""):
        return None
    return Decimal(text.replace("€", "").strip().replace(".", "").replace(",", "."))


def table_row(page: BeautifulSoup, channel: str, campaign: str | None = None) -> list[str]:
    body = page.select_one(f'.spend-table tbody[data-channel="{channel}"]')
    assert isinstance(body, Tag), channel
    row = body.select_one(
        "tr.channel-total" if campaign is None else f'tr.campaign[data-campaign="{campaign}"]'
    )
    assert isinstance(row, Tag), (channel, campaign)
    return [" ".join(td.get_text(" ").split()) for td in row.select("td")]


def network(factory: sessionmaker[Session]) -> dict[str, int]:
    return {"SA": make_dealer(factory, "SA"), "SB": make_dealer(factory, "SB")}


def test_the_return_per_channel_campaign_and_month_is_the_arithmetic_of_leads_and_spend(
    staff_client: Callable[[str], StaffClient], session_factory: sessionmaker[Session]
) -> None:
    make_leads(session_factory, LEADS, network(session_factory))
    manager = staff_client("manager")
    enter_spend(manager, SPEND)
    q2 = {"2025-04", "2025-05", "2025-06"}

    for touch in ("last", "first"):
        want = expected(months=q2, touch=touch)
        rows = csv_rows(manager.client, period="2025-Q2", touch=touch)
        per_month = {key: value for key, value in rows.items() if key[0] != "2025-Q2"}
        assert per_month == {key: as_csv_line(cell) for key, cell in want.items()}, touch
        for channel in {key[1] for key in want}:
            cells = [cell for key, cell in want.items() if key[1] == channel]
            assert rows[("2025-Q2", channel, "(all)")] == as_csv_line(total(cells))
        assert rows[("2025-Q2", "(all)", "(all)")] == as_csv_line(total(list(want.values())))

    # The page shows the same figures: the website's total and its campaign rows.
    want = expected(months=q2)
    page = soup(manager.client.get("/showroom/spend", params={"period": "2025-Q2"}).text)
    website = total([cell for key, cell in want.items() if key[1] == "website"])
    shown = table_row(page, "website")
    assert [int(x) for x in shown[:3]] == [website.leads, website.valid, website.sales]
    assert money(shown[3]) == website.spend
    assert money(shown[6]) == (website.spend / website.sales).quantize(Decimal("0.01"))
    spring = want[("2025-04", "website", "spring-sale")]
    assert table_row(page, "website", "spring-sale")[:3] == [
        str(spring.leads), str(spring.valid), str(spring.sales)]  # fmt: skip
    # Return on spend, rounded to a whole percent, with its sign.
    overall = total(list(want.values()))
    percent = round(float((overall.earned - overall.spend) / overall.spend) * 100)
    summary = page.select_one(".spend-summary")
    assert summary is not None
    assert f"{'+' if percent >= 0 else '−'}{abs(percent)}%" in summary.get_text()
    # Every month of the quarter has a line, and the chart a bar per channel with a sale.
    months = [tr["data-month"] for tr in page.select(".months-table tbody tr")]
    assert months == ["2025-04", "2025-05", "2025-06"]
    bars = {li.select_one(".label").get_text() for li in page.select(".cost-chart li")}  # type: ignore[union-attr]
    assert bars == {"Brand website", "Marketplace"}

    # A single month: the CSV for May holds only May.
    may = csv_rows(manager.client, period="2025-05")
    assert {key[0] for key in may} == {"2025-05"}
    assert may[("2025-05", "(all)", "(all)")] == as_csv_line(
        total(list(expected(months={"2025-05"}).values()))
    )


def test_a_sale_without_any_margin_shows_no_return(
    staff_client: Callable[[str], StaffClient], session_factory: sessionmaker[Session]
) -> None:
    make_leads(session_factory, LEADS[:2], network(session_factory))
    manager = staff_client("manager")
    assert manager.post("/showroom/spend/entries", {"month": "2025-04", "channel": "website",
        "campaign": "spring-sale", "amount": "1000"}).status_code == 303  # type: ignore[attr-defined]  # fmt: skip
    rows = csv_rows(manager.client, period="2025-04")
    cells = rows[("2025-04", "website", "spring-sale")]
    assert cells[:4] == ["2", "2", "2", "1000.00"]
    assert cells[-2:] == ["", ""]  # no margin, no return
    page = manager.client.get("/showroom/spend", params={"period": "2025-04"}).text
    assert "Some sales have no margin per sale" in page


def test_a_dealer_manager_sees_their_dealers_leads_and_own_spend_only(
    app_client: TestClient, staff_client: Callable[[str], StaffClient],
    session_factory: sessionmaker[Session],
) -> None:  # fmt: skip
    make_leads(session_factory, LEADS, network(session_factory))
    enter_spend(staff_client("manager"), SPEND)
    q2 = {"2025-04", "2025-05", "2025-06"}
    email = make_staff(session_factory, role="manager", dealers=("SB",))
    app_client.cookies.clear()
    sign_in(app_client, email)
    rows = csv_rows(app_client, period="2025-Q2")
    want = expected(months=q2, dealers={"SB"}, network_spend=False)
    assert {k: v for k, v in rows.items() if k[0] != "2025-Q2"} == {
        key: as_csv_line(cell) for key, cell in want.items()
    }
    page = app_client.get("/showroom/spend", params={"period": "2025-Q2"}).text
    assert "network spend is not split over dealers" in page
    # Another dealer's code is refused, not shown.
    assert (
        app_client.get("/showroom/spend", params={"period": "2025-Q2", "dealer": "SA"}).status_code
        == 404
    )

    # Importer staff narrow the network to one dealer: its leads and its own spend.
    importer = staff_client("manager")
    rows = csv_rows(importer.client, period="2025-Q2", dealer="SA")
    want = expected(months=q2, dealers={"SA"}, network_spend=False)
    assert {k: v for k, v in rows.items() if k[0] != "2025-Q2"} == {
        key: as_csv_line(cell) for key, cell in want.items()
    }


def test_who_sees_the_return(
    staff_client: Callable[[str], StaffClient],
) -> None:
    for role in ("sales", "reception", "delivery"):
        client = staff_client(role).client
        assert client.get("/showroom/spend").status_code == 403
        assert client.get("/showroom/spend.csv").status_code == 403
        assert 'href="/showroom/spend"' not in client.get("/account").text
    for role in ("marketing", "manager", "admin"):
        client = staff_client(role).client
        page = client.get("/showroom/spend", params={"period": "2025"})
        assert page.status_code == 200
        assert 'href="/showroom/spend"' in page.text
        assert "No leads came in and no spend was entered for 2025" in page.text
    client.cookies.clear()
    assert client.get("/showroom/spend", follow_redirects=False).status_code in (302, 303, 307)


def test_a_period_or_touch_that_is_not_one_is_said(
    staff_client: Callable[[str], StaffClient],
) -> None:
    manager = staff_client("manager")
    for params in ({"period": "2025-13"}, {"period": "last year"}, {"touch": "middle"}):
        response = manager.client.get("/showroom/spend", params=params)
        assert response.status_code == 400
        assert soup(response.text).select_one('p.error[role="alert"]') is not None
        assert manager.client.get("/showroom/spend.csv", params=params).status_code == 400


def test_campaign_names_that_look_like_formulas_are_text_in_the_csv(
    staff_client: Callable[[str], StaffClient], session_factory: sessionmaker[Session]
) -> None:
    make_leads(session_factory, [L("website", utc(2025, 4, 3, 9), last="=HYPERLINK(1)")],
               network(session_factory))  # fmt: skip
    rows = csv_rows(staff_client("manager").client, period="2025-04")
    assert ("2025-04", "website", "'=hyperlink(1)") in rows
