"""Who sees which leads in the funnel, and what bad filters get: a salesperson only their own
leads, a dealer's manager never another dealer's, typed-in nonsense a page with the problem
marked (or a 4xx), never a server error; CSV cells a spreadsheet will not run. Both databases."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from cdp.local_time import local_today
from cdp.models import ChannelSetting, utcnow
from tests.funnel_data import Network, days_bounds, expected_counts, make_network
from tests.helpers import StaffClient, make_staff, sign_in, soup

YEAR = {"period": "last365"}


@pytest.fixture()
def network(session_factory: sessionmaker[Session]) -> Network:
    return make_network(session_factory, seed=3, per_dealer=30)


def _year() -> tuple:
    today = local_today(utcnow())
    return days_bounds(today - timedelta(days=364), today)


def _signed_in(staff_client: Callable[[str], StaffClient], email: str) -> StaffClient:
    client = staff_client("manager").client  # a client; then signed in as `email`
    client.cookies.clear()
    return StaffClient(client, email, sign_in(client, email))


def _total(client: StaffClient, params: dict[str, str]) -> dict[str, str]:
    response = client.client.get("/showroom/funnel.csv", params={**params, "table": "steps"})
    assert response.status_code == 200, response.text
    rows = list(csv.DictReader(io.StringIO(response.text)))
    return rows[-1]


def test_a_salesperson_sees_only_their_own_leads(
    staff_client: Callable[[str], StaffClient], network: Network
) -> None:
    code = next(iter(network.dealers))
    me, colleague = network.sellers[code]
    sales = _signed_in(staff_client, network.seller_emails[me])
    since, until = _year()
    mine = [lead for lead in network.leads if lead.seller == me]
    expected = expected_counts(mine, since, until, "cohort")
    assert int(_total(sales, YEAR)["leads"]) == expected["leads"]
    assert int(_total(sales, YEAR)["sold"]) == expected["sold"]
    page = soup(sales.client.get("/showroom/funnel", params=YEAR).text)
    assert page.select_one("#salesperson") is None  # nobody else to choose
    assert "My lead funnel" in page.get_text()
    # Asking for a colleague's is refused, on the page, the CSV and the drill-down.
    for path in ("/showroom/funnel", "/showroom/funnel.csv", "/showroom/funnel/leads"):
        response = sales.client.get(path, params={**YEAR, "salesperson": str(colleague)})
        assert response.status_code == 403, path
    drill = soup(sales.client.get("/showroom/funnel/leads", params=YEAR).text)
    ids = {int(str(tr["data-lead"])) for tr in drill.select("tr[data-lead]")}
    assert ids and ids <= {lead.id for lead in mine}


def test_a_dealers_manager_never_counts_another_dealers_leads(
    staff_client: Callable[[str], StaffClient],
    session_factory: sessionmaker[Session],
    network: Network,
) -> None:
    mine, theirs = list(network.dealers)
    manager = _signed_in(staff_client, make_staff(session_factory, role="manager", dealers=(mine,)))
    since, until = _year()
    own = [lead for lead in network.leads if lead.dealer == mine]
    assert (
        int(_total(manager, YEAR)["leads"]) == expected_counts(own, since, until, "cohort")["leads"]
    )
    # The other dealer's code, or one of its salespeople: refused, and only their own counted.
    response = manager.client.get("/showroom/funnel", params={**YEAR, "dealer": theirs})
    assert response.status_code == 404
    other_seller = network.sellers[theirs][0]
    response = manager.client.get(
        "/showroom/funnel", params={**YEAR, "salesperson": str(other_seller)}
    )
    assert response.status_code == 400
    page = soup(response.text)
    assert page.select_one("#salesperson[aria-invalid=true]") is not None
    assert page.select_one("#salesperson-error") is not None
    offered = {str(o["value"]) for o in page.select("#salesperson option")[1:]}
    assert {str(uid) for uid in network.sellers[mine]} <= offered
    assert not offered & {str(uid) for uid in network.sellers[theirs]}
    drill = soup(
        manager.client.get("/showroom/funnel/leads", params={**YEAR, "cell": "leads"}).text
    )
    ids = {int(str(tr["data-lead"])) for tr in drill.select("tr[data-lead]")}
    assert ids <= {lead.id for lead in own}
    # The network's figures sit next to theirs: the why has a network column.
    why = list(csv.DictReader(io.StringIO(
        manager.client.get("/showroom/funnel.csv", params={**YEAR, "table": "why"}).text
    )))  # fmt: skip
    valid = next(row for row in why if row["figure"] == "valid leads")
    everyone = expected_counts(network.leads, since, until, "cohort")["valid"]
    assert int(valid["network"]) == everyone > int(valid["value"])


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"period": "2026-13"}, "period"),
        ({"period": "whenever"}, "period"),
        ({"period": "range", "from": "2026-02-30", "to": "2026-03-01"}, "from"),
        ({"period": "range", "from": "2026-03-01", "to": "2026-02-01"}, "to"),
        ({"period": "range", "from": "", "to": "2026-02-01"}, "from"),
        ({"definition": "vibes"}, "definition"),
        ({"channel": "carrier_pigeon"}, "channel"),
        ({"touch": "middle"}, "touch"),
        ({"salesperson": "abc"}, "salesperson"),
        ({"salesperson": "99999999999999999999999"}, "salesperson"),
    ],
)
def test_bad_filters_are_marked_never_a_server_error(
    staff_client: Callable[[str], StaffClient], params: dict[str, str], field: str
) -> None:
    manager = staff_client("manager")
    response = manager.client.get("/showroom/funnel", params=params)
    assert response.status_code == 400, response.text[:300]
    page = soup(response.text)
    marked = page.select_one(f"#{field}")
    assert marked is not None and marked.get("aria-invalid") == "true", field
    assert page.select_one(f"#{field}-error") is not None
    assert page.select_one(".steps-table, .empty") is not None  # the page is still shown
    csv_answer = manager.client.get("/showroom/funnel.csv", params=params)
    assert csv_answer.status_code == 400 and field in csv_answer.text
    drill = manager.client.get("/showroom/funnel/leads", params=params)
    assert drill.status_code == 400


def test_bad_drill_down_and_csv_requests_are_4xx(
    staff_client: Callable[[str], StaffClient],
) -> None:
    manager = staff_client("manager")
    response = manager.client.get("/showroom/funnel/leads", params={"cell": "everything"})
    assert response.status_code == 400
    assert (
        "There is no such figure"
        in soup(response.text).select_one('[data-field="cell"]').get_text()
    )  # type: ignore[union-attr]
    response = manager.client.get(
        "/showroom/funnel/leads", params={"cell": "lost", "reason": "<b>x"}
    )
    assert response.status_code == 400 and "<b>x" not in response.text
    # A page number that is no page shows the first.
    for page in ("-1", "0", "x" * 10):
        response = manager.client.get("/showroom/funnel/leads", params={"page": page})
        assert response.status_code == 200, page
    assert manager.client.get("/showroom/funnel.csv", params={"table": "x"}).status_code == 400
    assert manager.client.get("/showroom/funnel", params={"period": "x" * 300}).status_code == 422


def test_csv_cells_cannot_run_as_formulas(
    staff_client: Callable[[str], StaffClient],
    session_factory: sessionmaker[Session],
    network: Network,
) -> None:
    """A channel named like a formula by the importer is written as text in every CSV."""
    with session_factory() as session:
        session.add(ChannelSetting(channel="phone", label="=HYPERLINK(1)", offered=True))
        session.commit()
    manager = staff_client("manager")
    steps = manager.client.get("/showroom/funnel.csv", params={**YEAR, "table": "steps"}).text
    assert "'=HYPERLINK(1)" in steps
    for table in ("steps", "why", "lost", "trend"):
        response = manager.client.get("/showroom/funnel.csv", params={**YEAR, "table": table})
        assert response.status_code == 200
        for row in csv.reader(io.StringIO(response.text)):
            assert not any(cell.startswith(("=", "+", "@")) for cell in row), row
    page = soup(manager.client.get("/showroom/funnel", params=YEAR).text)
    assert "=HYPERLINK(1)" in [o.get_text() for o in page.select("#campaign option")]
