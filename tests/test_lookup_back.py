"""Back from a customer page returns to the search: the lookup keeps its query in the address
(also as the results come in while typing), each result carries it to the customer page, and
that page links back to the same search with its results."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session, sessionmaker

from tests.helpers import SourceKey, StaffClient, make_customer, soup

HTMX = {"HX-Request": "true"}


def test_the_search_survives_a_visit_to_a_customer(
    staff_client: Callable[[str], StaffClient],
    web_source: SourceKey,
    session_factory: sessionmaker[Session],
) -> None:
    sales = staff_client("sales")
    pid = make_customer(
        sales.client, web_source, session_factory, first_name="Wessel", last_name="Terpstra"
    )
    query = "Wessel Terpstra"

    typed = sales.client.get("/showroom/search", params={"q": query}, headers=HTMX)
    assert typed.status_code == 200
    assert typed.headers["HX-Replace-Url"] == "/showroom?q=Wessel+Terpstra"
    link = soup(typed.text).select_one(f"a.result[href^='/showroom/customers/{pid}']")
    assert link is not None and link["href"] == f"/showroom/customers/{pid}?q=Wessel%20Terpstra"

    page = soup(sales.client.get(str(link["href"])).text)
    back = page.select_one("nav.back-to-search a")
    assert back is not None and "Wessel Terpstra" in back.get_text()
    search = soup(sales.client.get(str(back["href"])).text)
    box = search.select_one("input#q")
    assert box is not None and box["value"] == query
    assert search.select_one(f"a.result[href^='/showroom/customers/{pid}']") is not None

    # Opened from elsewhere (no search): no back link; an empty search clears the address.
    assert (
        soup(sales.client.get(f"/showroom/customers/{pid}").text).select_one("nav.back-to-search")
        is None
    )
    cleared = sales.client.get("/showroom/search", params={"q": " "}, headers=HTMX)
    assert cleared.headers["HX-Replace-Url"] == "/showroom"


def test_a_hostile_search_is_escaped_on_the_way_back(
    staff_client: Callable[[str], StaffClient],
    web_source: SourceKey,
    session_factory: sessionmaker[Session],
) -> None:
    sales = staff_client("sales")
    pid = make_customer(sales.client, web_source, session_factory)
    query = '"><script>alert(1)</script>&x=1'
    html = sales.client.get(f"/showroom/customers/{pid}", params={"q": query}).text
    assert "<script>alert(1)" not in html
    back = soup(html).select_one("nav.back-to-search a")
    assert back is not None
    assert back["href"] == "/showroom?q=%22%3E%3Cscript%3Ealert%281%29%3C/script%3E%26x%3D1"
    too_long = sales.client.get(f"/showroom/customers/{pid}", params={"q": "x" * 201})
    assert too_long.status_code in (400, 422)
