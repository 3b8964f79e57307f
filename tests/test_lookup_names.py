"""Finding customers by name and phone through the search API (/api/profiles), as a salesperson
types them: every kind of typo, letters a Dutch keyboard does not have (ø, ł, ß, æ, þ, the
dotless i, ...), names that change (a new surname, two profiles merged), a Belgian mobile typed
without its country code; and a database made before migration 0004 is found the same way once
upgraded. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from fastapi.testclient import TestClient

from cdp.app import create_app
from cdp.config import Settings
from cdp.db import make_engine, make_sessionmaker
from cdp.migrate import alembic_config, upgrade
from cdp.models.base import UtcDateTime
from cdp.profiles.lookup import frequent_words
from tests.helpers import SourceKey, drop_database, fresh_database_url, make_token

NOW = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
_SECONDS = itertools.count()


def identify(client: TestClient, source: SourceKey, device: str, **traits: Any) -> None:
    """An identify call, a second after the one before: the later one's traits win."""
    at = (NOW + timedelta(seconds=next(_SECONDS))).isoformat().replace("+00:00", "Z")
    body = {"messageId": str(uuid.uuid4()), "anonymousId": device, "timestamp": at}
    response = client.post("/v1/identify", json={**body, "traits": traits}, headers=source.auth)
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 1, response.text


def found(client: TestClient, auth: dict[str, str], q: str) -> list[str]:
    response = client.get("/api/profiles", params={"q": q}, headers=auth)
    assert response.status_code == 200, response.text
    return [r["name"] for r in response.json()["results"]]


CUSTOMERS = (
    ("Jan", "Jansen"),
    ("Piet", "Janssen"),
    ("Sanne", "Meijer"),
    ("Bram", "Hendrickx"),
    ("Søren", "Ødegård"),
    ("Łukasz", "Kowalski"),
    ("Ayşe", "Y\u0131ld\u0131z"),
    ("Claudia", "Weiß"),
    ("Þórunn", "Ægisdóttir"),
    ("Anne-Marie", "van 't Hof"),
    ("Daan", "de Jong"),
    ("Lien", "Claes"),
    ("Koen", "De Smedt"),
    ("Femke", "van den Berg"),
    ("Philip", "Schouten"),
    ("Joke", "Vandenberghe"),
    ("Gert-Jan", "Bruijn"),
)


@pytest.fixture()
def customers(app_client: TestClient, web_source: SourceKey) -> TestClient:
    for first, last in CUSTOMERS:
        identify(
            app_client, web_source, f"device-{uuid.uuid4().hex}", firstName=first, lastName=last
        )
    return app_client


@pytest.mark.parametrize(
    ("query", "who"),
    [
        ("Jan Jasnen", "Jan Jansen"),  # transposed letters
        ("jan jansn", "Jan Jansen"),  # a dropped letter
        ("Jaan Jansen", "Jan Jansen"),  # a doubled letter
        ("Jansen, Jan", "Jan Jansen"),  # surname first
        ("sanne meyer", "Sanne Meijer"),  # ij typed as y
        ("Bram Hendrikx", "Bram Hendrickx"),  # what one hears
        ("sanne mei", "Sanne Meijer"),  # still typing the last word
        ("Soren Odegard", "Søren Ødegård"),  # ø on a keyboard without it
        ("ødegård søren", "Søren Ødegård"),
        ("Lukasz Kowalski", "Łukasz Kowalski"),
        ("ayse yildiz", "Ayşe Y\u0131ld\u0131z"),  # Turkish dotless i
        ("YILDIZ", "Ayşe Y\u0131ld\u0131z"),
        ("Claudia Weiss", "Claudia Weiß"),  # ß as ss
        ("thorunn aegisdottir", "Þórunn Ægisdóttir"),
        ("anne marie hof", "Anne-Marie van 't Hof"),  # hyphen, particles left out
        ("Anne-Marie van t Hof", "Anne-Marie van 't Hof"),
        ("de jong", "Daan de Jong"),
        ("Daan de Jonk", "Daan de Jong"),
        ("lien klaes", "Lien Claes"),  # c/k
        ("Koen de Smet", "Koen De Smedt"),  # dt/t
        ("koen desmedt", "Koen De Smedt"),  # particle run together
        ("femke vandenberg", "Femke van den Berg"),
        ("Femke Van Den Berg", "Femke van den Berg"),
        ("femke berg", "Femke van den Berg"),
        ("filip souten", "Philip Schouten"),  # ph/f, sch/s
        ("joke van den berghe", "Joke Vandenberghe"),
        ("gert bruyn", "Gert-Jan Bruijn"),  # ij/y, half a double first name
        ("bruin gert-jan", "Gert-Jan Bruijn"),
        ("jna jansen", "Jan Jansen"),  # a slip in a short first name
        ("jansen ja", "Jan Jansen"),  # the first name begun, after the surname
    ],
)
def test_a_misspelt_or_plainly_typed_name_finds_that_customer_first(
    customers: TestClient, api_auth: dict[str, str], query: str, who: str
) -> None:
    names = found(customers, api_auth, query)
    assert names and names[0] == who, (query, names)


def test_the_exact_spelling_comes_before_a_close_one(
    customers: TestClient, api_auth: dict[str, str]
) -> None:
    assert found(customers, api_auth, "Janssen") == ["Piet Janssen", "Jan Jansen"]
    assert found(customers, api_auth, "jansen") == ["Jan Jansen", "Piet Janssen"]
    assert found(customers, api_auth, "Piet Jansen") == ["Piet Janssen"]  # nobody else is Piet


@pytest.mark.parametrize("query", ["Zwartjes", "Kees Zwartjes", "Weißbier", "xq"])
def test_a_name_nobody_has_finds_nobody(
    customers: TestClient, api_auth: dict[str, str], query: str
) -> None:
    assert found(customers, api_auth, query) == []


def test_a_postal_code_or_town_typed_with_the_name_narrows_to_the_customers_there(
    app_client: TestClient, web_source: SourceKey, api_auth: dict[str, str]
) -> None:
    for first, code, town in (
        ("Kees", "5612 AB", "Eindhoven"),
        ("Anna", "3511 CD", "Utrecht"),
        ("Rik", "1000", "Brussel"),
        ("Lore", "4000", "Liège"),
    ):
        address = {"postalCode": code, "city": town}
        identify(app_client, web_source, f"device-{uuid.uuid4().hex}", firstName=first,
                 lastName="Jansen", address=address)  # fmt: skip
    assert found(app_client, api_auth, "jansen 5612") == ["Kees Jansen"]
    assert found(app_client, api_auth, "Jansen 5612ab") == ["Kees Jansen"]
    # A Dutch postal code with its space: its two letters are no name word ("ab", "abe").
    identify(app_client, web_source, f"device-{uuid.uuid4().hex}", firstName="Abe",
             lastName="Smit", address={"postalCode": "5612 AB", "city": "Eindhoven"})  # fmt: skip
    assert found(app_client, api_auth, "Kees Jansen 5612 AB") == ["Kees Jansen"]
    assert found(app_client, api_auth, "5612 ab, kees jansen") == ["Kees Jansen"]
    assert found(app_client, api_auth, "jansen eindhoven") == ["Kees Jansen"]
    assert found(app_client, api_auth, "Utrecht, Jansen") == ["Anna Jansen"]
    assert found(app_client, api_auth, "jansn brussel") == ["Rik Jansen"]
    assert found(app_client, api_auth, "jansen liège") == ["Lore Jansen"]
    # A town is matched as stored, accents and all: without them it only ranks (no folded town).
    assert found(app_client, api_auth, "jansen liege")[0] == "Lore Jansen"
    assert len(found(app_client, api_auth, "jansen 9999")) == 4  # no such place: everyone
    answer = app_client.get("/api/profiles", params={"q": "jansen 9999"}, headers=api_auth).json()
    assert answer["place_not_found"] == "9999"  # and says so
    answer = app_client.get("/api/profiles", params={"q": "jansen 5612"}, headers=api_auth).json()
    assert answer["place_not_found"] is None


def test_a_name_typed_before_its_town_is_taken_as_typed_whole(
    app_client: TestClient, web_source: SourceKey, api_auth: dict[str, str]
) -> None:
    # While the name is still being typed, its last word may be the start of a longer one; a
    # town or postal code typed after it says the word was finished.
    for last in ("de Meer", "Meerman"):
        address = {"postalCode": "1011 AB", "city": "Amsterdam"}
        identify(app_client, web_source, f"device-{uuid.uuid4().hex}", firstName="Wouter",
                 lastName=last, address=address)  # fmt: skip
    assert found(app_client, api_auth, "wouter de meer") == ["Wouter de Meer", "Wouter Meerman"]
    assert found(app_client, api_auth, "wouter de meer amsterdam") == ["Wouter de Meer"]
    assert found(app_client, api_auth, "wouter meer 1011") == ["Wouter de Meer"]
    assert found(app_client, api_auth, "amsterdam wouter meer") == [
        "Wouter de Meer",
        "Wouter Meerman",
    ]


@pytest.fixture()
def statistics_read_afresh() -> Iterator[None]:
    frequent_words.forget()
    yield
    frequent_words.forget()  # the next test's database has other statistics


@pytest.mark.parametrize("db_kind", ["postgresql"], indirect=True)
def test_a_frequent_first_name_alone_finds_the_same_customers_either_way(
    app_client: TestClient,
    web_source: SourceKey,
    api_auth: dict[str, str],
    session_factory: sa.orm.sessionmaker[sa.orm.Session],
    monkeypatch: pytest.MonkeyPatch,
    statistics_read_afresh: None,
    db_kind: str,
) -> None:
    # A first name many customers share is read in table order up to the first holders (a
    # scan that stops), others through the word index: both find the same customers.
    for i in range(60):
        first = "Daan" if i % 2 else ("Emma", "Bram", "Lotte")[i % 3]
        identify(app_client, web_source, f"device-{uuid.uuid4().hex}", firstName=first,
                 lastName=f"Veld{i:02d}", address={"city": "Tilburg"})  # fmt: skip
    with session_factory() as session:
        session.execute(sa.text("ANALYZE profile_search"))  # as the server does after growth
        session.commit()
    monkeypatch.setattr(frequent_words, "MIN_HOLDERS", 10)
    monkeypatch.setattr(frequent_words, "MIN_SHARE", 0.2)
    with session_factory() as session:
        words = frequent_words.frequent_words(session)
    # Every customer's town is in the same index (its second column): no name word.
    assert "daan" in words and "tilburg" not in words
    by_scan = found(app_client, api_auth, "daan")
    monkeypatch.setattr(frequent_words, "MIN_SHARE", 1.1)  # nothing is that common
    frequent_words.forget()
    with session_factory() as session:
        assert not frequent_words.frequent_words(session)
    by_index = found(app_client, api_auth, "daan")
    assert by_scan == by_index
    assert len(by_scan) == 20 and all(name.startswith("Daan ") for name in by_scan)


def test_a_new_surname_is_found_misspelt_and_the_old_one_no_longer(
    app_client: TestClient, web_source: SourceKey, api_auth: dict[str, str]
) -> None:
    device = f"device-{uuid.uuid4().hex}"
    identify(app_client, web_source, device, firstName="Quirine", lastName="Zeeman")
    assert found(app_client, api_auth, "Quirine Zeemann") == ["Quirine Zeeman"]
    identify(app_client, web_source, device, lastName="Vlasbloem")
    assert found(app_client, api_auth, "Quirine Vlasblom") == ["Quirine Vlasbloem"]
    assert found(app_client, api_auth, "Zeemann") == []
    assert found(app_client, api_auth, "Zeeman") == []


def test_after_a_merge_the_names_find_only_the_surviving_profile(
    app_client: TestClient, web_source: SourceKey, api_auth: dict[str, str]
) -> None:
    first, second = f"device-{uuid.uuid4().hex}", f"device-{uuid.uuid4().hex}"
    email = f"merge.{uuid.uuid4().hex[:6]}@example.nl"
    identify(app_client, web_source, first, firstName="Ólafur", lastName="Þorvaldsson")
    identify(app_client, web_source, second, email=email, firstName="Óli")
    assert found(app_client, api_auth, "Olafur Thorvaldson") == ["Ólafur Þorvaldsson"]
    assert found(app_client, api_auth, "oli") == ["Óli"]
    identify(app_client, web_source, first, email=email)  # the same person: one profile now
    response = app_client.get("/api/profiles", params={"q": email}, headers=api_auth)
    [survivor] = response.json()["results"]
    for query in ("Thorvaldsson", "thorvaldson", "Óli Þorvaldsson", "oli thorvaldsen"):
        response = app_client.get("/api/profiles", params={"q": query}, headers=api_auth)
        assert [r["id"] for r in response.json()["results"]] == [survivor["id"]], query


def test_a_belgian_mobile_typed_without_country_code_is_found(
    app_client: TestClient, web_source: SourceKey, api_auth: dict[str, str]
) -> None:
    """0475 is a Belgian mobile prefix and also a Dutch area code (Roermond): with the regions
    "NL,BE", "0475 12 34 56" may be either, and both customers are shown, the Dutch one first."""
    be, nl = f"device-{uuid.uuid4().hex}", f"device-{uuid.uuid4().hex}"
    identify(app_client, web_source, be, firstName="Lien", lastName="Peeters", phone="+32475123456")
    identify(app_client, web_source, nl, firstName="Kees", lastName="Smit", phone="+31 475 123456")
    for query in ("0475 12 34 56", "0475/12.34.56", "0475123456"):
        response = app_client.get("/api/profiles", params={"q": query}, headers=api_auth)
        assert response.json()["matched_by"] == "phone", query
        assert [r["name"] for r in response.json()["results"]] == ["Kees Smit", "Lien Peeters"]
    assert found(app_client, api_auth, "+32 475 12 34 56") == ["Lien Peeters"]
    assert found(app_client, api_auth, "0032475123456") == ["Lien Peeters"]
    assert found(app_client, api_auth, "+31 475 123456") == ["Kees Smit"]


@pytest.fixture()
def database_at_0003(db_kind: str, tmp_path: Path) -> Iterator[str]:
    """A new database migrated up to 0003 only, as one made before the word dictionary."""
    url = fresh_database_url(db_kind, tmp_path, "at0003")
    engine = make_engine(url)
    try:
        config = alembic_config(engine)
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "0003")
    finally:
        engine.dispose()
    yield url
    drop_database(url)


def test_a_database_from_before_0004_is_refolded_and_searchable_once_upgraded(
    database_at_0003: str,
) -> None:
    # Rows as 0003's code stored them: fold() then kept the dotless i, ø and ß as they were.
    people = [
        ("Ali Y\u0131ld\u0131z", "ali y\u0131ld\u0131z"),
        ("Søren Ødegård", "søren ødegard"),
        ("Claudia Weiß", "claudia weiß"),
        ("Jan Jansen", "jan jansen"),
    ]
    profile = sa.table(
        "profile",
        *(sa.column(c, UtcDateTime()) for c in ("created_at", "first_seen_at", "last_seen_at")),
        sa.column("id", sa.Uuid()),
    )
    search = sa.table(
        "profile_search",
        sa.column("profile_id", sa.Uuid()),
        sa.column("name", sa.String()),
        sa.column("name_folded", sa.String()),
    )
    engine = make_engine(database_at_0003)
    try:
        with engine.begin() as connection:
            for name, folded in people:
                pid = uuid.uuid4()
                connection.execute(
                    profile.insert().values(
                        id=pid, created_at=NOW, first_seen_at=NOW, last_seen_at=NOW
                    )
                )
                connection.execute(
                    search.insert().values(profile_id=pid, name=name, name_folded=folded)
                )
        upgrade(engine)
        factory = make_sessionmaker(engine)
        auth = make_token(factory)
        app = create_app(Settings(database_url=database_at_0003), engine=engine)
        with TestClient(app) as client:
            assert found(client, auth, "yildiz") == ["Ali Y\u0131ld\u0131z"]
            assert found(client, auth, "Ali Yildis") == ["Ali Y\u0131ld\u0131z"]
            assert found(client, auth, "soren odegard") == ["Søren Ødegård"]
            assert found(client, auth, "Weiss") == ["Claudia Weiß"]
            assert found(client, auth, "Claudia Weis") == ["Claudia Weiß"]
            assert found(client, auth, "jan jasnen") == ["Jan Jansen"]
    finally:
        engine.dispose()


def test_the_customers_of_a_postal_code_come_in_name_order(
    app_client: TestClient, web_source: SourceKey, api_auth: dict[str, str]
) -> None:
    # The same first page every time, on either database (it was any of them).
    for first, last in (("Zoë", "Bakker"), ("Anna", "Visser"), ("Mark", "de Boer")):
        identify(app_client, web_source, f"device-{uuid.uuid4().hex}", firstName=first,
                 lastName=last, address={"postalCode": "2060", "city": "Antwerpen"})  # fmt: skip
    assert found(app_client, api_auth, "2060") == ["Anna Visser", "Mark de Boer", "Zoë Bakker"]
