"""Nothing lost by a tap on the tablet: ending a session whose car is not saved asks once, and the
car is kept as a draft the salesperson can resume in a new session for the same customer."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from bs4 import BeautifulSoup
from sqlalchemy.orm import Session

from tests.helpers import (
    StaffClient,
    add_customer,
    choose,
    save,
    start,
    tablet_page,
    tablet_post,
    tablet_row,
)


@pytest.fixture()
def tablet(staff_client: Callable[[str], StaffClient]) -> Callable[[str], StaffClient]:
    return staff_client


def _session_with_a_car(staff: StaffClient, email: str) -> int:
    sid = start(staff)
    assert add_customer(staff, sid, first_name="Noor", email=email).status_code == 303
    assert choose(staff, sid, "model", "vela").status_code == 303
    assert choose(staff, sid, "colour", "granite-grey").status_code == 303
    return sid


def _forms_have_csrf(page: BeautifulSoup) -> None:
    for form in page.find_all("form", method="post"):
        assert form.find("input", attrs={"name": "csrf_token"}) is not None


def test_ending_with_an_unsaved_car_asks_once_and_keeps_a_draft(
    tablet: Callable[[str], StaffClient], db: Session
) -> None:
    staff = tablet("sales")
    sid = _session_with_a_car(staff, "noor.draft@example.nl")
    car = {k: tablet_row(db, sid).selection.get(k) for k in ("model", "colour", "trim")}

    asked = tablet_post(staff, f"/showroom/tablet/{sid}/end")
    assert asked.status_code == 200
    page = tablet_page(asked)
    assert "not saved" in page.get_text()
    _forms_have_csrf(page)
    assert page.find("input", attrs={"name": "confirm", "value": "yes"}) is not None
    assert page.find("form", action=f"/showroom/tablet/{sid}/save") is not None
    assert tablet_row(db, sid).ended_at is None  # asking changed nothing

    ended = tablet_post(staff, f"/showroom/tablet/{sid}/end", {"confirm": "yes"})
    assert ended.status_code == 303
    row = tablet_row(db, sid)
    assert row.ended_at is not None and row.selection["draft"] is True
    done = tablet_page(staff.client.get(f"/showroom/tablet/{sid}/done"))
    assert "kept as a draft" in done.get_text()
    assert done.find("form", action=f"/showroom/tablet/{sid}/resume") is not None

    start_page = tablet_page(staff.client.get("/showroom/tablet"))
    drafts = start_page.select(".t-drafts li")
    assert len(drafts) == 1 and "Noor" in drafts[0].get_text()
    _forms_have_csrf(start_page)

    resumed = tablet_post(staff, f"/showroom/tablet/{sid}/resume")
    assert resumed.status_code == 303
    new_sid = int(resumed.headers["location"].split("/")[3])
    assert resumed.headers["location"] == f"/showroom/tablet/{new_sid}/configure"
    new = tablet_row(db, new_sid)
    assert new_sid != sid and new.ended_at is None
    assert new.profile_id == row.profile_id
    assert {k: new.selection.get(k) for k in car} == car
    configure = tablet_page(staff.client.get(f"/showroom/tablet/{new_sid}/configure"))
    assert "car that was not saved" in configure.get_text()
    # Resumed once: it leaves the start page, and a second resume says why it cannot.
    assert not tablet_page(staff.client.get("/showroom/tablet")).select(".t-drafts li")
    again = tablet_post(staff, f"/showroom/tablet/{sid}/resume")
    assert again.status_code == 409 and "resumed already" in again.text

    save(staff, new_sid)  # saved now: ending asks nothing and keeps no draft
    assert tablet_post(staff, f"/showroom/tablet/{new_sid}/end").status_code == 303
    assert tablet_row(db, new_sid).selection.get("draft") is None


def test_a_saved_car_changed_afterwards_is_unsaved_again(
    tablet: Callable[[str], StaffClient], db: Session
) -> None:
    staff = tablet("sales")
    sid = _session_with_a_car(staff, "noor.changed@example.nl")
    save(staff, sid)
    assert "not saved" not in tablet_page(staff.client.get(f"/showroom/tablet/{sid}/note")).text
    assert choose(staff, sid, "model", "fjord").status_code == 303
    note = tablet_page(staff.client.get(f"/showroom/tablet/{sid}/note"))
    assert "The car is not saved" in note.get_text()
    # The closing note ends the session too, and keeps the changed car as a draft.
    response = tablet_post(staff, f"/showroom/tablet/{sid}/note", {"interest_level": "warm"})
    assert response.status_code == 303
    row = tablet_row(db, sid)
    assert row.ended_at is not None and row.selection["draft"] is True


def test_ending_without_a_car_asks_nothing(
    tablet: Callable[[str], StaffClient], db: Session
) -> None:
    staff = tablet("sales")
    sid = start(staff)
    assert tablet_post(staff, f"/showroom/tablet/{sid}/end").status_code == 303
    assert tablet_row(db, sid).ended_at is not None
    assert tablet_post(staff, f"/showroom/tablet/{sid}/resume").status_code == 409


def test_a_colleagues_draft_cannot_be_resumed(
    tablet: Callable[[str], StaffClient], db: Session
) -> None:
    first = tablet("sales")
    sid = _session_with_a_car(first, "noor.colleague@example.nl")
    assert tablet_post(first, f"/showroom/tablet/{sid}/end", {"confirm": "yes"}).status_code == 303
    other = tablet("sales")
    assert tablet_post(other, f"/showroom/tablet/{sid}/resume").status_code == 403
    assert not tablet_page(other.client.get("/showroom/tablet")).select(".t-drafts li")
    assert tablet_row(db, sid).selection["draft"] is True
