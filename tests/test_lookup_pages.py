"""Finding a customer on the lookup page, with customers sent in through the collection API.

A salesperson types what the customer tells them: a misspelt name, names in either order, a
phone number in whatever format, a postal code with or without its space, a configuration code
in lower case, an e-mail address in capitals. Each query must find that customer, and only them.
Both the full page (no JavaScript) and the htmx partial are checked, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from bs4 import BeautifulSoup, Tag
from fastapi.testclient import TestClient

from tests.helpers import SourceKey, StaffClient


@dataclass(frozen=True)
class Customer:
    first_name: str
    last_name: str
    email: str
    phone: str
    postal_code: str
    city: str
    code: str | None = None
    model: str | None = None
    colour: str | None = None
    colour_hex: str | None = None

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}"


JAN = Customer(
    "Jan",
    "Jansen",
    "jan.jansen@example.nl",
    "06-12345678",
    "1234 AB",
    "Amsterdam",
    "AUR-77X",
    "Aurora",
    "Lava Red",
    "#b3261e",
)
ANNA = Customer(
    "Anna",
    "Müller",
    "anna.mueller@example.de",
    "+31 6 9876 5432",
    "3511 AA",
    "Utrecht",
    "NOV-12B",
    "Nova",
    "Glacier White",
    "#f2f4f5",
)
SOFIE = Customer(
    "Sofie",
    "Peeters",
    "sofie.peeters@example.be",
    "+32 470 12 34 56",
    "1000",
    "Brussel",
    "ZEP-3QQ",
    "Zephyr",
    "Deep Blue",
    "#1f3a93",
)
PIETER = Customer(
    "Pieter", "de Vries", "pieter.devries@example.nl", "010-7654321", "9711 AB", "Groningen"
)
EVERYONE = (JAN, ANNA, SOFIE, PIETER)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def send(client: TestClient, source: SourceKey, endpoint: str, body: dict[str, Any]) -> None:
    response = client.post(
        f"/v1/{endpoint}", json={"messageId": str(uuid.uuid4()), **body}, headers=source.auth
    )
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 1, response.text


def send_customer(
    client: TestClient, source: SourceKey, customer: Customer, *, days_ago: int
) -> None:
    """An identify from the configurator, then (if they have one) a saved configuration."""
    visitor = str(uuid.uuid4())
    at = datetime.now(UTC) - timedelta(days=days_ago)
    send(
        client,
        source,
        "identify",
        {
            "anonymousId": visitor,
            "timestamp": iso(at),
            "traits": {
                "firstName": customer.first_name,
                "lastName": customer.last_name,
                "email": customer.email,
                "phone": customer.phone,
                "address": {"postalCode": customer.postal_code, "city": customer.city},
            },
        },
    )
    if customer.code:
        send(
            client,
            source,
            "track",
            {
                "anonymousId": visitor,
                "event": "Configuration Saved",
                "timestamp": iso(at + timedelta(minutes=12)),
                "properties": {
                    "configuration_code": customer.code,
                    "model": customer.model,
                    "colour": customer.colour,
                    "colour_hex": customer.colour_hex,
                    "total_price": 41990,
                },
            },
        )


@pytest.fixture()
def sales(
    staff_client: Callable[[str], StaffClient], app_client: TestClient, web_source: SourceKey
) -> StaffClient:
    """A signed-in salesperson, with four customers in the platform."""
    for days_ago, customer in enumerate(EVERYONE, start=2):
        send_customer(app_client, web_source, customer, days_ago=days_ago)
    return staff_client("sales")


@dataclass(frozen=True)
class Line:
    href: str
    name: str
    sub: str
    car: str
    swatch_style: str | None
    swatch_label: str | None
    seen: str


def parse_lines(container: Tag | BeautifulSoup) -> list[Line]:
    lines = []
    for link in container.select("ul.results a.result"):
        who, car, seen = (link.select_one(s) for s in (".who strong", ".car", ".seen"))
        sub = link.select_one(".who .sub")
        assert who is not None and car is not None and seen is not None and sub is not None
        swatch = car.select_one(".swatch")
        lines.append(
            Line(
                href=str(link["href"]),
                name=who.get_text(strip=True),
                sub=sub.get_text(" ", strip=True),
                car=car.get_text(" ", strip=True),
                swatch_style=str(swatch["style"]) if swatch else None,
                swatch_label=str(swatch["aria-label"]) if swatch else None,
                seen=seen.get_text(" ", strip=True),
            )
        )
    return lines


def full_page(client: TestClient, q: str) -> tuple[httpx.Response, BeautifulSoup]:
    """What a browser without JavaScript gets after pressing Search."""
    response = client.get("/showroom", params={"q": q})
    assert response.status_code == 200
    return response, BeautifulSoup(response.text, "html.parser")


def partial(client: TestClient, q: str) -> tuple[httpx.Response, BeautifulSoup]:
    """What htmx swaps into #results while the salesperson types."""
    response = client.get("/showroom/search", params={"q": q}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    return response, BeautifulSoup(response.text, "html.parser")


def found_names(client: TestClient, q: str) -> list[str]:
    """The names listed for a query; the full page and the htmx partial must agree."""
    _, page = full_page(client, q)
    results = page.select_one("#results")
    assert results is not None
    from_page = [line.name for line in parse_lines(results)]
    _, fragment = partial(client, q)
    from_partial = [line.name for line in parse_lines(fragment)]
    assert from_page == from_partial, q
    return from_page


@pytest.mark.parametrize(
    ("query", "who"),
    [
        ("Janssen", JAN),  # a misspelling
        ("jansen", JAN),
        ("Jansen Jan", JAN),  # surname first
        ("Jan Jansen", JAN),
        ("Muller", ANNA),  # no umlaut on the keyboard
        ("Müller", ANNA),
        ("Mueller", ANNA),
        ("Sofie Peters", SOFIE),  # a typo and a first name
        ("de Vries", PIETER),
        ("06-12345678", JAN),  # the phone number as written
        ("+31 6 1234 5678", JAN),  # as it was said
        ("0031612345678", JAN),  # international from a Dutch phone
        ("0612345678", JAN),
        ("0032 470 12 34 56", SOFIE),  # a Belgian mobile
        ("+32470123456", SOFIE),
        ("1234 ab", JAN),  # postal code, lower case, with space
        ("1234AB", JAN),
        ("1000", SOFIE),  # a Belgian postal code
        ("aur-77x", JAN),  # configuration code, lower case
        (" ZEP-3QQ ", SOFIE),
        ("JAN.JANSEN@EXAMPLE.NL", JAN),  # e-mail in capitals
        ("Anna.Mueller@Example.DE", ANNA),
    ],
)
def test_each_way_of_asking_finds_that_customer_and_nobody_else(
    sales: StaffClient, query: str, who: Customer
) -> None:
    assert found_names(sales.client, query) == [who.name]


def test_a_result_line_shows_who_where_which_car_and_when(sales: StaffClient) -> None:
    _, page = full_page(sales.client, "Jansen")
    results = page.select_one("#results")
    assert results is not None
    meta = results.select_one(".meta")
    assert meta is not None and meta.get_text(" ", strip=True) == "1 customer matched by name"
    (line,) = parse_lines(results)
    assert line.name == "Jan Jansen"
    assert "Amsterdam" in line.sub
    assert "jan.jansen@example.nl" in line.sub
    assert line.car.startswith("Aurora")
    assert "Lava Red" in line.car
    assert line.swatch_style is not None and "#b3261e" in line.swatch_style
    assert line.swatch_label == "colour Lava Red"
    assert re.fullmatch(r"seen [12] days? ago", line.seen)  # saved 2 days ago, minus 12 min

    profile_page = sales.client.get(line.href)
    assert profile_page.status_code == 200
    heading = BeautifulSoup(profile_page.text, "html.parser").find("h1")
    assert heading is not None and heading.get_text(strip=True) == "Jan Jansen"


def test_a_customer_without_a_configuration_says_so(sales: StaffClient) -> None:
    _, fragment = partial(sales.client, "Pieter de Vries")
    (line,) = parse_lines(fragment)
    assert line.swatch_style is None
    assert line.car == "no saved configuration"
    assert "Groningen" in line.sub


def test_the_match_is_named_for_each_kind_of_query(sales: StaffClient) -> None:
    for query, kind in (
        ("Jansen", "name"),
        ("06-12345678", "phone"),
        ("1234 AB", "postal code"),
        ("aur-77x", "configuration code"),
        ("JAN.JANSEN@EXAMPLE.NL", "email"),
    ):
        _, fragment = partial(sales.client, query)
        meta = fragment.select_one(".meta")
        assert meta is not None and meta.get_text(" ", strip=True).endswith(f"matched by {kind}")


def test_no_match_shows_an_empty_state_that_helps(sales: StaffClient) -> None:
    for query in ("Zwartjes", "nobody@example.org", "+31 20 999 9999", "XYZ-000"):
        response, fragment = partial(sales.client, query)
        assert parse_lines(fragment) == []
        empty = fragment.select_one(".empty")
        assert empty is not None, query
        assert f"No customer matches {query.strip()}" in empty.get_text(" ", strip=True)
        for other in EVERYONE:
            assert other.name not in response.text
            assert other.email not in response.text


def test_an_empty_query_shows_the_hint_and_lists_nobody(sales: StaffClient) -> None:
    for response, page in (full_page(sales.client, ""), partial(sales.client, "   ")):
        assert page.select_one(".hint") is not None
        assert parse_lines(page) == []
        assert "Jansen" not in response.text


def test_the_page_works_without_javascript(sales: StaffClient) -> None:
    _, page = full_page(sales.client, "Janssen")
    assert page.find("html") is not None and page.find("nav") is not None
    form = page.select_one("form[role=search]")
    assert form is not None
    assert form.get("method") == "get" and form.get("action") == "/showroom"
    box = form.select_one("input[name=q]")
    assert box is not None and box.get("value") == "Janssen"  # the query stays in the box
    assert form.select_one("button[type=submit]") is not None
    assert [line.name for line in parse_lines(page)] == ["Jan Jansen"]
    # No inline scripts: every <script> loads a static file.
    assert all(script.get("src") for script in page.find_all("script"))


def test_the_partial_is_only_the_results(sales: StaffClient) -> None:
    _, fragment = partial(sales.client, "Janssen")
    assert fragment.find("html") is None
    assert fragment.find("nav") is None
    assert fragment.find("form") is None


def test_a_customer_who_changed_their_number_is_found_by_the_new_one(
    sales: StaffClient, app_client: TestClient, web_source: SourceKey
) -> None:
    send(
        app_client,
        web_source,
        "identify",
        {"userId": JAN.email, "traits": {"email": JAN.email, "phone": "06 11 22 33 44"}},
    )
    assert found_names(sales.client, "0611223344") == [JAN.name]


def test_lookup_needs_a_role_that_may_look_customers_up(
    staff_client: Callable[[str], StaffClient], app_client: TestClient, web_source: SourceKey
) -> None:
    send_customer(app_client, web_source, JAN, days_ago=1)
    marketing = staff_client("marketing")
    for path in ("/showroom?q=Jansen", "/showroom/search?q=Jansen"):
        response = marketing.client.get(path)
        assert response.status_code == 403
        assert "Jansen" not in response.text
    for role in ("reception", "delivery", "manager", "admin"):
        person = staff_client(role)
        assert found_names(person.client, "Jansen") == [JAN.name]


@pytest.mark.parametrize("query", ["%e", "_a", "%%", "j%n"])
def test_wildcard_characters_are_taken_literally(sales: StaffClient, query: str) -> None:
    """A query is text, not a pattern: '%e' must not list every name with an e in it."""
    assert found_names(sales.client, query) == []


def test_an_anonymous_visitor_is_found_by_their_configuration_code(
    sales: StaffClient, app_client: TestClient, web_source: SourceKey
) -> None:
    send(
        app_client,
        web_source,
        "track",
        {
            "anonymousId": str(uuid.uuid4()),
            "event": "Configuration Saved",
            "properties": {"configuration_code": "ANO-4711", "model": "Aurora"},
        },
    )
    _, fragment = partial(sales.client, "ano-4711")
    (line,) = parse_lines(fragment)
    assert line.name == "Anonymous visitor"


def test_a_full_list_says_there_may_be_more_and_how_to_narrow_it(
    staff_client: Callable[[str], StaffClient], app_client: TestClient, web_source: SourceKey
) -> None:
    surname = "Vlietstra" + "".join(chr(ord("a") + int(c, 16)) for c in uuid.uuid4().hex[:4])
    for n in range(21):
        send(app_client, web_source, "identify", {"anonymousId": str(uuid.uuid4()), "traits": {
            "first_name": f"Kees{chr(ord('a') + n)}", "last_name": surname,
            "email": f"kees{n}.{surname.lower()}@example.test"}})  # fmt: skip
    sales = staff_client("sales")
    _, page = partial(sales.client, surname)
    assert len(page.select("a.result")) == 20
    meta = page.select_one(".meta")
    assert meta is not None and "there may be more" in meta.get_text()
    _, one = partial(sales.client, f"kees0.{surname.lower()}@example.test")
    meta = one.select_one(".meta")
    assert meta is not None and meta.get_text() == "1 customer matched by email"


def test_a_query_longer_than_the_box_takes_says_so_in_place_of_the_results(
    sales: StaffClient,
) -> None:
    """The box takes 200 characters, as the profile API: a longer query (pasted, or typed by
    a browser that ignores maxlength) is answered where the results go, not with a JSON 422
    that htmx leaves unswapped (the results of the shorter query stayed on screen)."""
    _, page = full_page(sales.client, "Jansen")
    box = page.select_one("form[role=search] input[name=q]")
    assert box is not None and box.get("maxlength") == "200"

    fits = "Jansen" + " " * 194
    assert found_names(sales.client, fits) == [JAN.name]

    too_long = "Jansen" + "x" * 195
    response, fragment = partial(sales.client, too_long)
    assert response.headers["content-type"].startswith("text/html")
    assert parse_lines(fragment) == []
    message = fragment.select_one("#q-too-long")
    assert message is not None and message.get("role") == "alert"
    assert "Type at most 200 characters" in message.get_text()

    full = sales.client.get("/showroom", params={"q": too_long})
    assert full.status_code == 400 and full.headers["content-type"].startswith("text/html")
    page = BeautifulSoup(full.text, "html.parser")
    box = page.select_one("form[role=search] input[name=q]")
    assert box is not None and box.get("value") == too_long  # the search page, the query kept
    assert box.get("aria-invalid") == "true" and box.get("aria-describedby") == "q-too-long"
    results = page.select_one("#results")
    assert results is not None and parse_lines(results) == []
    assert "Type at most 200 characters" in results.get_text()


def test_a_place_where_nobody_of_that_name_is_says_so(sales: StaffClient) -> None:
    # "jansen 9999": no Jansen there; the Jansens of elsewhere are shown, and the page says so
    # (it asked to add a postal code, which was typed already).
    _, fragment = partial(sales.client, "jansen 9999")
    said = fragment.select_one(".place-not-found")
    assert said is not None and "Nobody of that name in 9999" in said.get_text(" ", strip=True)
    assert "Jan Jansen" in [line.name for line in parse_lines(fragment)]
    _, fragment = partial(sales.client, f"jansen {JAN.postal_code[:4]}")
    assert fragment.select_one(".place-not-found") is None
