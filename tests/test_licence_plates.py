"""Licence plates: normalised for Dutch and Belgian formats, found by the search box in any
spelling, shown on the customer page, and never a reason to merge two profiles.

Plates come from identify traits (licence_plate, license_plate, plate) and from notes (the
customer page's and the tablet's); both through the public edges, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from cdp.licence_plates import normalise_plate, parse_plate
from cdp.models import Identity, Note, Profile, ProfileSearch
from tests.helpers import (
    SourceKey,
    StaffClient,
    add_customer,
    make_customer,
    post,
    send,
    soup,
    start,
    tablet_page,
    tablet_post,
)

# (typed, canonical, country): every Dutch sidecode 1-14 and the Belgian formats, in the
# spellings people type them.
VALID = [
    ("ab-12-34", "AB-12-34", "NL"),  # sidecode 1
    ("12 34 AB", "12-34-AB", "NL"),  # 2
    ("12ab34", "12-AB-34", "NL"),  # 3
    ("AB12CD", "AB-12-CD", "NL"),  # 4
    ("ab.cd.12", "AB-CD-12", "NL"),  # 5
    ("12-AB-CD", "12-AB-CD", "NL"),  # 6
    ("12abc3", "12-ABC-3", "NL"),  # 7
    ("1 ABC 23", "1-ABC-23", "NL"),  # 8
    ("ab123c", "AB-123-C", "NL"),  # 9
    ("A-123-BC", "A-123-BC", "NL"),  # 10
    ("abc12d", "ABC-12-D", "NL"),  # 11
    ("a12bcd", "A-12-BCD", "NL"),  # 12
    ("1ab234", "1-AB-234", "NL"),  # 13
    ("123ab4", "123-AB-4", "NL"),  # 14
    ("  12-abc-3 ", "12-ABC-3", "NL"),
    ("1-abc-123", "1-ABC-123", "BE"),
    ("1abc123", "1-ABC-123", "BE"),
    ("ABC 123", "ABC-123", "BE"),
    ("123abc", "123-ABC", "BE"),
]
JUNK = ["", "   ", "ABCDEF", "123456", "12-ABC", "12-ABC-345-6", "12-ÄBC-3", "AB!12CD", "1234567"]


@pytest.mark.parametrize(("typed", "canonical", "country"), VALID)
def test_valid_plates_have_one_spelling(typed: str, canonical: str, country: str) -> None:
    plate = parse_plate(typed)
    assert plate is not None and (plate.text, plate.country) == (canonical, country)
    assert normalise_plate(canonical) == canonical  # the canonical form is a fixed point


@pytest.mark.parametrize("typed", JUNK)
def test_junk_is_no_plate(typed: str) -> None:
    assert normalise_plate(typed) is None


def _identify(client: TestClient, source: SourceKey, traits: dict[str, object]) -> None:
    send(client, source, "identify", {"anonymousId": str(uuid.uuid4()), "traits": traits})


def _search_ids(client: TestClient, auth: dict[str, str], q: str) -> tuple[str | None, list[str]]:
    response = client.get("/api/profiles", params={"q": q}, headers=auth)
    assert response.status_code == 200, response.text
    body = response.json()
    return body["matched_by"], [r["id"] for r in body["results"]]


def _profile_of(factory: sessionmaker[Session], email: str) -> uuid.UUID:
    with factory() as session:
        return session.scalars(
            select(Identity.profile_id).where(Identity.kind == "email", Identity.value == email)
        ).one()


def test_a_plate_from_traits_is_found_in_any_spelling(
    app_client: TestClient,
    web_source: SourceKey,
    session_factory: sessionmaker[Session],
    api_auth: dict[str, str],
    staff_client: Callable[[str], StaffClient],
) -> None:
    _identify(
        app_client,
        web_source,
        {"email": "femke@example.nl", "name": "Femke Bos", "licence_plate": "12abc3"},
    )
    _identify(  # another customer whose name holds nothing like the plate
        app_client,
        web_source,
        {"email": "ruben@example.be", "name": "Ruben Peeters", "license_plate": "1 abc 123"},
    )
    femke = str(_profile_of(session_factory, "femke@example.nl"))
    ruben = str(_profile_of(session_factory, "ruben@example.be"))
    for typed in ("12-ABC-3", "12abc3", "12 abc 3", "12.ABC.3"):
        assert _search_ids(app_client, api_auth, typed) == ("licence plate", [femke])
    for typed in ("1-ABC-123", "1abc123"):
        assert _search_ids(app_client, api_auth, typed) == ("licence plate", [ruben])
    body = app_client.get("/api/profiles", params={"q": "12abc3"}, headers=api_auth).json()
    assert body["results"][0]["plate"] == "12-ABC-3"

    # The search page and the partial the box swaps in find the owner too, and say how.
    staff = staff_client("sales")
    for url in ("/showroom", "/showroom/search"):
        page = soup(staff.client.get(url, params={"q": "12 Abc 3"}).text)
        links = [a["href"] for a in page.select("a.result")]
        assert links and str(links[0]).startswith(f"/showroom/customers/{femke}")
        assert "matched by licence plate" in page.get_text()
        assert "12-ABC-3" in page.get_text()

    # The customer page shows the plate.
    page = soup(staff.client.get(f"/showroom/customers/{femke}").text)
    assert "12-ABC-3" in page.select_one(".customer-head .contact").get_text()  # type: ignore[union-attr]


def test_a_later_plate_trait_replaces_the_earlier_and_junk_is_ignored(
    app_client: TestClient,
    web_source: SourceKey,
    session_factory: sessionmaker[Session],
    api_auth: dict[str, str],
) -> None:
    traits: dict[str, object] = {"email": "sem@example.nl", "name": "Sem Kok", "plate": "AB-12-CD"}
    _identify(app_client, web_source, traits)
    sem = str(_profile_of(session_factory, "sem@example.nl"))
    assert _search_ids(app_client, api_auth, "ab12cd") == ("licence plate", [sem])
    _identify(app_client, web_source, {**traits, "plate": "XY-34-ZZ"})
    assert _search_ids(app_client, api_auth, "xy34zz") == ("licence plate", [sem])
    assert _search_ids(app_client, api_auth, "ab12cd")[1] == []
    _identify(app_client, web_source, {**traits, "plate": "not a plate"})  # stored, not searched
    with session_factory() as session:
        row = session.get(ProfileSearch, uuid.UUID(sem))
        assert row is not None and row.plate is None


def test_one_plate_on_two_profiles_never_merges_them(
    app_client: TestClient,
    web_source: SourceKey,
    session_factory: sessionmaker[Session],
    api_auth: dict[str, str],
) -> None:
    """The car was sold on: the old and the new owner both have its plate, and stay two people."""
    old_owner = {"email": "old@example.nl", "name": "Piet Smit", "licence_plate": "99-XX-99"}
    new_owner = {"email": "new@example.nl", "name": "Lotte Maas", "licencePlate": "99xx99"}
    _identify(app_client, web_source, dict(old_owner))
    _identify(app_client, web_source, dict(new_owner))
    old = _profile_of(session_factory, "old@example.nl")
    new = _profile_of(session_factory, "new@example.nl")
    assert old != new
    with session_factory() as session:
        for pid in (old, new):
            profile = session.get(Profile, pid)
            assert profile is not None and profile.merged_into_id is None
        assert session.scalar(
            select(func.count()).select_from(Identity).where(Identity.value.ilike("%99%xx%99%"))
        ) == 0  # fmt: skip
    matched_by, ids = _search_ids(app_client, api_auth, "99-XX-99")
    assert matched_by == "licence plate" and sorted(ids) == sorted([str(old), str(new)])


def test_a_note_with_a_plate_updates_the_search(
    app_client: TestClient,
    web_source: SourceKey,
    session_factory: sessionmaker[Session],
    api_auth: dict[str, str],
    staff_client: Callable[[str], StaffClient],
) -> None:
    pid = make_customer(
        app_client, web_source, session_factory, first_name="Iris", last_name="Prins"
    )
    sales = staff_client("sales")
    assert _search_ids(app_client, api_auth, "ab123c")[1] == []
    response = post(
        sales,
        f"/showroom/customers/{pid}/notes",
        {"trade_in_make": "Volvo", "licence_plate": "ab 123 c"},
    )
    assert response.status_code == 303, response.text
    assert _search_ids(app_client, api_auth, "AB-123-C") == ("licence plate", [str(pid)])
    with session_factory() as session:
        note = session.scalars(select(Note).where(Note.profile_id == pid)).one()
        assert note.licence_plate == "AB-123-C"
    page = soup(sales.client.get(f"/showroom/customers/{pid}").text)
    assert "plate AB-123-C" in page.get_text()  # in the note and in the head


def test_a_note_with_junk_for_a_plate_is_refused_field_by_field(
    app_client: TestClient,
    web_source: SourceKey,
    session_factory: sessionmaker[Session],
    staff_client: Callable[[str], StaffClient],
) -> None:
    pid = make_customer(app_client, web_source, session_factory, first_name="Bas", last_name="Vos")
    sales = staff_client("sales")
    response = post(
        sales,
        f"/showroom/customers/{pid}/notes",
        {"trade_in_make": "Opel", "licence_plate": "ABCDEFG"},
    )
    assert response.status_code == 400
    page = soup(response.text)
    plate_input = page.find("input", attrs={"name": "licence_plate"})
    assert plate_input is not None and plate_input.has_attr("aria-invalid")
    assert plate_input["value"] == "ABCDEFG"  # what was typed is kept to correct
    assert "not a Dutch or Belgian licence plate" in page.get_text()
    with session_factory() as session:
        notes = select(func.count()).select_from(Note).where(Note.profile_id == pid)
        assert session.scalar(notes) == 0


@pytest.fixture()
def tablet(staff_client: Callable[[str], StaffClient]) -> Callable[[str], StaffClient]:
    return staff_client


def test_the_tablet_note_takes_a_plate_and_refuses_junk(
    tablet: Callable[[str], StaffClient],
    app_client: TestClient,
    api_auth: dict[str, str],
    db: Session,
) -> None:
    staff = tablet("sales")
    sid = start(staff)
    added = add_customer(staff, sid, first_name="Noor", email="noor.plate@example.nl")
    assert added.status_code == 303
    form = tablet_page(staff.client.get(f"/showroom/tablet/{sid}/note"))
    assert form.find("input", attrs={"name": "licence_plate"}) is not None
    response = tablet_post(
        staff, f"/showroom/tablet/{sid}/note", {"interest_level": "warm", "licence_plate": "12-34"}
    )
    assert response.status_code == 400
    page = tablet_page(response)
    plate_input = page.find("input", attrs={"name": "licence_plate"})
    assert plate_input is not None and plate_input.has_attr("aria-invalid")
    assert "not a Dutch or Belgian licence plate" in page.get_text()
    response = tablet_post(
        staff, f"/showroom/tablet/{sid}/note", {"interest_level": "warm", "licence_plate": "1abc23"}
    )
    assert response.status_code == 303, response.text
    pid = db.scalar(select(Note.profile_id).where(Note.tablet_session_id == sid))
    assert _search_ids(app_client, api_auth, "1 ABC 23") == ("licence plate", [str(pid)])
