"""Postal-code areas between dealers on the dealers admin page, through the real pages on both
databases (cdp/dealers/areas.py): an area another active dealer serves is refused with the field
marked and the dealer named; an area inside another dealer's area is asked about on the form
before it is saved; a CSV file is refused for the first and shows the second before importing;
reactivating a dealer whose area is now served is refused."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cdp.models import Dealer
from tests.helpers import StaffClient, make_dealer, post, soup, text_at

EINDHOVEN = {"code": "NW-EHV", "name": "Nordwind Eindhoven", "postal_areas": "561 562"}
NEW = {"code": "NL-TST", "name": "Autohuis Test", "country": "NL", "postal_areas": "5611"}


def areas_of(factory: sessionmaker[Session], code: str) -> list[str] | None:
    with factory() as session:
        found = session.scalar(select(Dealer).where(Dealer.code == code))
        return None if found is None else list(found.postal_areas)


def add(admin: StaffClient, fields: dict[str, str]) -> None:
    added = post(admin, "/admin/dealers", fields)
    assert added.status_code == 303, added.text


def upload(admin: StaffClient, body: str) -> object:
    return admin.client.post(
        "/admin/dealers/import",
        data={"csrf_token": admin.csrf},
        files={"file": ("dealers.csv", body.encode(), "text/csv")},
        follow_redirects=False,
    )


def test_an_area_another_active_dealer_serves_is_refused_naming_it(
    staff_client: Callable[[str], StaffClient], session_factory: sessionmaker[Session]
) -> None:
    admin = staff_client("admin")
    add(admin, EINDHOVEN)
    refused = post(admin, "/admin/dealers", {**NEW, "postal_areas": "5699, 561"})
    assert refused.status_code == 400
    page = soup(refused.text)
    assert page.select_one('#dealer-postal_areas[aria-invalid="true"]') is not None
    error = text_at(page, "#dealer-postal_areas-error")
    assert "561 is already served by NW-EHV (Nordwind Eindhoven)" in error
    assert "1 problem" in text_at(page, "#dealer-problems")
    assert page.select_one("#dealer-postal_areas")["value"] == "5699, 561"  # type: ignore[index]
    assert areas_of(session_factory, "NL-TST") is None

    # An edit is refused the same way, and changes nothing.
    make_dealer(session_factory, "NL-UTR", postal_areas="351")
    edit = post(admin, "/admin/dealers/NL-UTR/edit", {"name": "Utrecht", "postal_areas": "351 562"})
    assert edit.status_code == 400
    assert "562 is already served by NW-EHV" in text_at(
        soup(edit.text), "#dealer-postal_areas-error"
    )
    assert areas_of(session_factory, "NL-UTR") == ["351"]

    # A Belgian dealer may hold the digits of a Dutch one (routing tells "5610 AB" from "5610"
    # by its form), and an inactive dealer's areas hold nothing.
    belgian = post(
        admin, "/admin/dealers", {**NEW, "code": "BE-X", "country": "BE", "postal_areas": "561"}
    )
    assert belgian.status_code == 303, belgian.text
    make_dealer(session_factory, "NL-OLD", postal_areas="7011", active=False)
    taken_over = post(admin, "/admin/dealers", {**NEW, "code": "NL-NEW", "postal_areas": "7011"})
    assert taken_over.status_code == 303, taken_over.text

    # ... and reactivating that dealer now is refused, naming who serves its area.
    again = post(admin, "/admin/dealers/NL-OLD/reactivate", {"confirm": "yes"})
    assert again.status_code == 409
    assert "7011 is already served by NL-NEW (Autohuis Test)" in text_at(
        soup(again.text), "#dealer-refusal"
    )
    with session_factory() as session:
        assert session.scalar(select(Dealer.active).where(Dealer.code == "NL-OLD")) is False


def test_an_area_inside_another_dealers_area_is_asked_about_before_saving(
    staff_client: Callable[[str], StaffClient], session_factory: sessionmaker[Session]
) -> None:
    admin = staff_client("admin")
    add(admin, EINDHOVEN)
    asked = post(admin, "/admin/dealers", NEW)
    assert asked.status_code == 200
    page = soup(asked.text)
    assert (
        "5611 is inside NW-EHV's 561: leads from 5611 will come to this dealer instead"
        in text_at(page, "#dealer-takeovers")
    )
    assert page.select_one("#dealer-name")["value"] == "Autohuis Test"  # type: ignore[index]
    confirm = page.select_one('button[name="takeover"]')
    assert confirm is not None and confirm["value"] == "5611"
    assert areas_of(session_factory, "NL-TST") is None  # nothing saved before the answer

    # An area typed after the question was answered is asked about again.
    more = post(admin, "/admin/dealers", {**NEW, "postal_areas": "5611 5621", "takeover": "5611"})
    assert more.status_code == 200
    assert "5621 is inside NW-EHV's 562" in text_at(soup(more.text), "#dealer-takeovers")
    assert areas_of(session_factory, "NL-TST") is None

    saved = post(admin, "/admin/dealers", {**NEW, "takeover": "5611"})
    assert saved.status_code == 303, saved.text
    assert areas_of(session_factory, "NL-TST") == ["5611"]

    # Editing: only areas the dealer does not serve yet are asked about.
    unchanged = post(admin, "/admin/dealers/NL-TST/edit", {**NEW, "city": "Eindhoven"})
    assert unchanged.status_code == 303
    wider = post(admin, "/admin/dealers/NL-TST/edit", {**NEW, "postal_areas": "5611 5612"})
    assert wider.status_code == 200
    assert "5612 is inside NW-EHV's 561" in text_at(soup(wider.text), "#dealer-takeovers")
    assert areas_of(session_factory, "NL-TST") == ["5611"]
    edited = post(
        admin,
        "/admin/dealers/NL-TST/edit",
        {**NEW, "postal_areas": "5611 5612", "takeover": "5612"},
    )
    assert edited.status_code == 303
    assert areas_of(session_factory, "NL-TST") == ["5611", "5612"]
    # A wider area takes nothing: the longer area keeps its leads.
    assert (
        post(admin, "/admin/dealers", {**NEW, "code": "NL-WIDE", "postal_areas": "56"}).status_code
        == 303
    )

    # Reactivating a dealer says which leads it takes back.
    make_dealer(session_factory, "NL-OLD", postal_areas="5631", active=False)
    question = post(admin, "/admin/dealers/NL-OLD/reactivate")
    assert question.status_code == 200
    assert "5631 is inside NL-WIDE's 56: leads from 5631 will come to it instead" in text_at(
        soup(question.text), ".confirm-step"
    )


def test_a_csv_file_refuses_shared_areas_and_shows_overlaps_before_importing(
    staff_client: Callable[[str], StaffClient], session_factory: sessionmaker[Session]
) -> None:
    admin = staff_client("admin")
    add(admin, EINDHOVEN)
    header = "code,name,country,postal_areas,active\n"
    shared = (
        header
        + "NL-A,Autohuis A,NL,562 3511,yes\n"  # 562 is Eindhoven's
        + "NL-B,Autohuis B,NL,3511,yes\n"  # 3511 is NL-A's in the same file
        + "NL-C,Autohuis C,NL,562,no\n"  # inactive: holds nothing
        + "BE-A,Garage A,BE,3511,yes\n"  # Belgian codes are told apart
    )
    refused = upload(admin, shared)
    assert refused.status_code == 400  # type: ignore[attr-defined]
    problems = [li.get_text() for li in soup(refused.text).select("#upload-problems li")]  # type: ignore[attr-defined]
    assert problems == [
        "line 2: postal-code area 562 is already served by NW-EHV (Nordwind Eindhoven): a "
        "postal code's leads go to one dealer",
        "line 3: postal-code area 3511 is also NL-A's on line 2: a postal code's leads go to "
        "one dealer",
    ]
    assert areas_of(session_factory, "NL-A") is None

    # A file may move an area from one dealer to another: checked as it leaves the network.
    moved = header + "NL-A,Autohuis A,NL,562,yes\nNW-EHV,Nordwind Eindhoven,NL,561,yes\n"
    assert upload(admin, moved).status_code == 303  # type: ignore[attr-defined]
    assert areas_of(session_factory, "NW-EHV") == ["561"]

    asked = upload(admin, header + "NL-D,Autohuis D,NL,5621 5611,yes\n")
    assert asked.status_code == 200  # type: ignore[attr-defined]
    page = soup(asked.text)  # type: ignore[attr-defined]
    assert [li.get_text() for li in page.select("#import-takeovers li")] == [
        "NL-D's 5611 is inside NW-EHV's 561: leads from 5611 go to NL-D.",
        "NL-D's 5621 is inside NL-A's 562: leads from 5621 go to NL-D.",
    ]
    assert areas_of(session_factory, "NL-D") is None  # nothing imported before the answer
    carried = page.select_one("textarea[name=csv_text]")
    assert carried is not None
    answer = {"csv_text": carried.get_text(), "filename": "dealers.csv"}
    assert post(admin, "/admin/dealers/import/confirm", answer).status_code == 200
    assert areas_of(session_factory, "NL-D") is None
    done = post(admin, "/admin/dealers/import/confirm", {**answer, "confirm": "yes"})
    assert done.status_code == 303
    assert "1 added, 0 updated" in admin.client.get(done.headers["location"]).text
    assert areas_of(session_factory, "NL-D") == ["5611", "5621"]
