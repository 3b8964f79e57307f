"""The dealers admin page (/admin/dealers) and the dealers on the staff page, through the real
pages on both databases: add, edit, deactivate and reactivate (asked first), a CSV file imported
(every line checked first, every mistake named by its line), and staff invited to dealers."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cdp.models import Dealer, StaffDealer, StaffUser
from tests.helpers import (
    StaffClient,
    audit_rows,
    make_dealer,
    make_staff,
    post,
    sign_in,
    soup,
    text_at,
)

GOOD = {
    "code": "nl-ein1",
    "name": "Autohuis Eindhoven",
    "address": "Hastelweg 260",
    "postal_code": "5652 CM",
    "city": "Eindhoven",
    "country": "NL",
    "phone": "+31 40 123 4567",
    "time_zone": "Europe/Amsterdam",
    "opening_hours": "Mon-Fri 9-18, Sat 10-17",
    "postal_areas": "5611, 5612 56",
}


def dealer(factory: sessionmaker[Session], code: str) -> Dealer | None:
    with factory() as session:
        return session.scalar(select(Dealer).where(Dealer.code == code))


def signed_in(client: TestClient, factory: sessionmaker[Session], role: str) -> StaffClient:
    """Someone of this role at the default dealer (floor staff need a dealer once there are
    several), signed in."""
    email = make_staff(factory, role=role, dealers=("MAIN",))
    client.cookies.clear()
    return StaffClient(client=client, email=email, csrf=sign_in(client, email))


def upload(admin: StaffClient, body: str, name: str = "dealers.csv") -> object:
    return admin.client.post(
        "/admin/dealers/import",
        data={"csrf_token": admin.csrf},
        files={"file": (name, body.encode(), "text/csv")},
        follow_redirects=False,
    )


def test_an_admin_adds_a_dealer_and_sees_it_listed(
    staff_client: Callable[[str], StaffClient], session_factory: sessionmaker[Session]
) -> None:
    admin = staff_client("admin")
    page = admin.client.get("/admin/dealers")
    assert page.status_code == 200
    assert soup(page.text).select_one('nav a[href="/admin/dealers"][aria-current="page"]')
    response = post(admin, "/admin/dealers", GOOD)
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/dealers?done=created"
    stored = dealer(session_factory, "NL-EIN1")
    assert stored is not None
    assert stored.postal_areas == ["56", "5611", "5612"]
    assert stored.opening_hours == "Mon-Fri 9-18, Sat 10-17"
    make_staff(session_factory, role="sales", dealers=("NL-EIN1",))
    listed = soup(admin.client.get("/admin/dealers?done=created").text)
    assert "Dealer added." in listed.get_text()
    row = listed.select_one('tr[data-dealer="NL-EIN1"]')
    assert row is not None
    for beside_city in row.select(".country-in-city"):  # the country, shown there on a tablet
        beside_city.decompose()
    cells = [td.get_text(" ", strip=True) for td in row("td")]
    assert cells[:7] == [
        "NL-EIN1", "Autohuis Eindhoven", "Eindhoven", "NL", "56, 5611, 5612", "1", "Active",
    ]  # fmt: skip


def test_a_wrong_form_comes_back_with_every_problem_marked(
    staff_client: Callable[[str], StaffClient], session_factory: sessionmaker[Session]
) -> None:
    admin = staff_client("admin")
    bad = {
        **GOOD,
        "code": "no spaces!",
        "name": " ",
        "country": "Holland",
        "time_zone": "Mars/Olympus",
        "postal_areas": "5611, 56-12",
    }
    response = post(admin, "/admin/dealers", bad)
    assert response.status_code == 400
    page = soup(response.text)
    invalid = {str(i["name"]) for i in page.select('form input[aria-invalid="true"]')}
    assert invalid == {"code", "name", "country", "time_zone", "postal_areas"}
    assert "5 problems" in text_at(page, "#dealer-problems")
    assert "'Mars/Olympus' is unknown" in text_at(page, "#dealer-time_zone-error")
    # What was typed is kept, and the first wrong field has the focus.
    assert page.select_one("#dealer-city")["value"] == "Eindhoven"  # type: ignore[index]
    assert page.select_one("#dealer-code").has_attr("autofocus")  # type: ignore[union-attr]
    assert dealer(session_factory, "NL-EIN1") is None

    assert post(admin, "/admin/dealers", GOOD).status_code == 303
    again = post(admin, "/admin/dealers", {**GOOD, "name": "Another"})
    assert again.status_code == 400
    assert "already exists" in text_at(soup(again.text), "#dealer-code-error")


def test_editing_keeps_the_code_and_marks_problems(
    staff_client: Callable[[str], StaffClient], session_factory: sessionmaker[Session]
) -> None:
    admin = staff_client("admin")
    post(admin, "/admin/dealers", GOOD)
    form = soup(admin.client.get("/admin/dealers/nl-ein1/edit").text)
    assert form.select_one("#dealer-name")["value"] == "Autohuis Eindhoven"  # type: ignore[index]
    assert form.select_one("#dealer-code") is None  # the code does not change
    changes = {k: v for k, v in GOOD.items() if k != "code"} | {"city": "Veldhoven"}
    wrong = post(admin, "/admin/dealers/NL-EIN1/edit", {**changes, "country": "N"})
    assert wrong.status_code == 400
    assert "two-letter" in text_at(soup(wrong.text), "#dealer-country-error")
    assert dealer(session_factory, "NL-EIN1").city == "Eindhoven"  # type: ignore[union-attr]
    saved = post(admin, "/admin/dealers/NL-EIN1/edit", changes)
    assert saved.status_code == 303
    assert dealer(session_factory, "NL-EIN1").city == "Veldhoven"  # type: ignore[union-attr]
    assert admin.client.get("/admin/dealers/NOPE/edit").status_code == 404
    assert admin.client.get("/admin/dealers/%3Cscript%3E/edit").status_code == 404
    assert post(admin, "/admin/dealers/NOPE/edit", changes).status_code == 404


def test_deactivating_and_reactivating_ask_first(
    staff_client: Callable[[str], StaffClient], session_factory: sessionmaker[Session]
) -> None:
    admin = staff_client("admin")
    post(admin, "/admin/dealers", GOOD)
    asked = post(admin, "/admin/dealers/NL-EIN1/deactivate")
    assert asked.status_code == 200
    question = soup(asked.text)
    assert "Deactivate Autohuis Eindhoven (NL-EIN1)?" in question.get_text()
    assert question.select_one('input[name="confirm"][value="yes"]') is not None
    assert dealer(session_factory, "NL-EIN1").active  # type: ignore[union-attr]
    done = post(admin, "/admin/dealers/NL-EIN1/deactivate", {"confirm": "yes"})
    assert done.status_code == 303
    assert not dealer(session_factory, "NL-EIN1").active  # type: ignore[union-attr]
    row = soup(admin.client.get("/admin/dealers").text).select_one('tr[data-dealer="NL-EIN1"]')
    assert row is not None and "Inactive" in row.get_text()
    assert "Reactivate" in row.get_text()
    assert post(admin, "/admin/dealers/NL-EIN1/reactivate").status_code == 200
    assert not dealer(session_factory, "NL-EIN1").active  # type: ignore[union-attr]
    assert post(admin, "/admin/dealers/NL-EIN1/reactivate", {"confirm": "yes"}).status_code == 303
    assert dealer(session_factory, "NL-EIN1").active  # type: ignore[union-attr]


def test_a_csv_file_is_imported_whole_or_not_at_all(
    staff_client: Callable[[str], StaffClient], session_factory: sessionmaker[Session]
) -> None:
    admin = staff_client("admin")
    header = "code,name,city,country,time_zone,postal_areas,active\n"
    bad = (
        header
        + "BE-ANT1,Antwerpen,Antwerpen,BE,Europe/Brussels,2000 2018,yes\n"
        + "BE-GNT1,,Gent,Belgium,Europe/Brussels,9000,yes\n"
        + "BE-ANT1,Again,Antwerpen,BE,,2000,maybe\n"
    )
    response = upload(admin, bad)
    assert response.status_code == 400  # type: ignore[attr-defined]
    problems = [li.get_text() for li in soup(response.text).select("#upload-problems li")]  # type: ignore[attr-defined]
    # Every mistake of every line, each line's in the order of its columns.
    assert problems == [
        "line 3: a dealer needs a name",
        "line 3: country 'Belgium' must be a two-letter code such as NL or BE",
        "line 4: dealer BE-ANT1 is on line 2 already",
        "line 4: active must be yes or no, not 'maybe'",
    ]
    assert dealer(session_factory, "BE-ANT1") is None  # nothing was stored

    good = header + "BE-ANT1,Antwerpen,Antwerpen,BE,Europe/Brussels,2000 2018,yes\n"
    good += "BE-GNT1,Gent,Gent,BE,Europe/Brussels,9000,no\n"
    response = upload(admin, good)
    assert response.status_code == 303  # type: ignore[attr-defined]
    listed = soup(admin.client.get(response.headers["location"]).text)  # type: ignore[attr-defined]
    assert "2 added, 0 updated" in listed.get_text()
    assert dealer(session_factory, "BE-GNT1").active is False  # type: ignore[union-attr]
    again = upload(admin, good.replace("Gent,Gent", "Gent Zuid,Gent"))
    assert "0 added, 2 updated" in admin.client.get(again.headers["location"]).text  # type: ignore[attr-defined]

    for body, message in (
        ("", "the file is empty"),
        ("code,name,colour\nX,Y,red\n", "unknown column 'colour'"),
        ("code,name\n", "only a header"),
    ):
        refused = upload(admin, body)
        assert refused.status_code == 400  # type: ignore[attr-defined]
        assert message in soup(refused.text).select_one("#upload-problems").get_text()  # type: ignore[attr-defined,union-attr]
    latin = admin.client.post(
        "/admin/dealers/import",
        data={"csrf_token": admin.csrf},
        files={"file": ("d.csv", "code,name\nX,Café\n".encode("latin-1"), "text/csv")},
    )
    assert latin.status_code == 400 and "not UTF-8" in latin.text
    nothing = admin.client.post("/admin/dealers/import", data={"csrf_token": admin.csrf})
    assert nothing.status_code == 400 and "Choose a CSV file" in nothing.text


def test_only_admins_may_open_or_change_dealers(
    app_client: TestClient,
    staff_client: Callable[[str], StaffClient],
    session_factory: sessionmaker[Session],
) -> None:
    make_dealer(session_factory, "NL-X")
    for role in ("manager", "sales", "marketing", "reception", "delivery"):
        someone = signed_in(app_client, session_factory, role)
        assert someone.client.get("/admin/dealers").status_code == 403
        assert post(someone, "/admin/dealers", GOOD).status_code == 403
        assert (
            post(someone, "/admin/dealers/NL-X/deactivate", {"confirm": "yes"}).status_code == 403
        )
        assert upload(someone, "code,name\nA,B\n").status_code == 403  # type: ignore[attr-defined]
    assert dealer(session_factory, "NL-X").active  # type: ignore[union-attr]
    admin = staff_client("admin")
    no_token = admin.client.post("/admin/dealers", data=GOOD, follow_redirects=False)
    assert no_token.status_code == 403
    assert dealer(session_factory, "NL-EIN1") is None


def _dealers_of(factory: sessionmaker[Session], email: str) -> list[str]:
    with factory() as session:
        return list(
            session.scalars(
                select(Dealer.code)
                .join(StaffDealer, StaffDealer.dealer_id == Dealer.id)
                .join(StaffUser, StaffUser.id == StaffDealer.user_id)
                .where(StaffUser.email == email)
                .order_by(Dealer.code)
            )
        )


def test_staff_are_invited_to_dealers_and_their_dealers_change(
    app_client: TestClient,
    staff_client: Callable[[str], StaffClient],
    session_factory: sessionmaker[Session],
) -> None:
    make_dealer(session_factory, "NL-A")
    make_dealer(session_factory, "NL-B")
    admin = staff_client("admin")
    form = soup(admin.client.get("/admin/users").text)
    choices = {str(i["value"]) for i in form.select('.invite-form input[name="dealer"]')}
    assert {"MAIN", "NL-A", "NL-B"} <= choices

    # Several dealers: a salesperson must be given one.
    refused = post(admin, "/admin/users/invite", {"email": "s@x.example", "role": "sales"})
    assert refused.status_code == 400
    page = soup(refused.text)
    assert "work at a dealer" in text_at(page, "#invite-error")
    assert page.select_one('fieldset.dealer-choices[aria-invalid="true"]') is not None
    unknown = admin.client.post(
        "/admin/users/invite",
        data={"csrf_token": admin.csrf, "email": "s@x.example", "role": "sales", "dealer": "NOPE"},
    )
    assert unknown.status_code == 400 and "no dealer has code NOPE" in unknown.text

    invited = admin.client.post(
        "/admin/users/invite",
        data={
            "csrf_token": admin.csrf,
            "email": "s@x.example",
            "role": "sales",
            "dealer": ["NL-A", "NL-B"],
        },
    )
    assert invited.status_code == 200
    assert _dealers_of(session_factory, "s@x.example") == ["NL-A", "NL-B"]
    manager = post(admin, "/admin/users/invite", {"email": "m@x.example", "role": "manager"})
    assert manager.status_code == 200 and _dealers_of(session_factory, "m@x.example") == []

    listed = soup(admin.client.get("/admin/users").text)
    rows = {
        text_at(tr, "td.email"): text_at(tr, "td.dealers")
        for tr in listed.select("table.staff-table tbody tr")
    }
    assert rows["s@x.example"].startswith("NL-A, NL-B")
    assert rows["m@x.example"].startswith("whole network")

    with session_factory() as session:
        sid = session.scalars(select(StaffUser.id).where(StaffUser.email == "s@x.example")).one()
    edit = soup(admin.client.get(f"/admin/users/{sid}/dealers").text)
    assert {str(i["value"]) for i in edit.select('input[name="dealer"][checked]')} == {
        "NL-A",
        "NL-B",
    }
    emptied = post(admin, f"/admin/users/{sid}/dealers", {})
    assert emptied.status_code == 400 and "work at a dealer" in emptied.text
    assert post(admin, f"/admin/users/{sid}/dealers", {"dealer": "NL-B"}).status_code == 303
    assert _dealers_of(session_factory, "s@x.example") == ["NL-B"]
    # A manager becoming a salesperson needs a dealer first.
    with session_factory() as session:
        mid = session.scalars(select(StaffUser.id).where(StaffUser.email == "m@x.example")).one()
    demoted = post(admin, f"/admin/users/{mid}/role", {"role": "sales"})
    assert demoted.status_code == 400 and "Choose their dealers first" in demoted.text
    assert admin.client.get("/admin/users/999999/dealers").status_code == 404
    sales = signed_in(app_client, session_factory, "sales")
    assert sales.client.get(f"/admin/users/{sid}/dealers").status_code == 403


def test_every_mistake_of_every_line_of_a_file_is_listed(
    staff_client: Callable[[str], StaffClient], session_factory: sessionmaker[Session]
) -> None:
    admin = staff_client("admin")
    body = (
        "code,name,country,phone,active,sla_minutes,sla_warning_minutes\n"
        "NL-A,Autohuis A,NL,,yes,-5,\n"
        "NL-B,Autohuis B,Holland,abc,maybe,abc,10\n"
        ",Autohuis C,NL,,yes,20,x\n"
        "NL-D,Autohuis D,NL\n"
        "NL-E,Autohuis E,NL,,yes,10,20\n"
    )
    response = upload(admin, body)
    assert response.status_code == 400  # type: ignore[attr-defined]
    page = soup(response.text)  # type: ignore[attr-defined]
    problems = [li.get_text() for li in page.select("#upload-problems li")]
    minutes = "must be a whole number of minutes from 1 to 10080, not"
    assert problems == [
        f"line 2: sla minutes {minutes} '-5'",
        "line 3: country 'Holland' must be a two-letter code such as NL or BE",
        "line 3: phone 'abc' is not a phone number: give it as it is dialled, such as "
        "+31 40 123 4567 or 040 123 4567",
        "line 3: active must be yes or no, not 'maybe'",
        f"line 3: sla minutes {minutes} 'abc'",
        "line 4: dealer code '' must be 1 to 20 letters, digits, '-' or '_'",
        f"line 4: sla warning minutes {minutes} 'x'",
        "line 5: 3 values where the header names 7",
        "line 6: the SLA warning (20 minutes) must come before first contact is due (10 minutes)",
    ]
    assert "9 problems" in text_at(page, "#upload-problems")
    assert dealer(session_factory, "NL-A") is None  # nothing was imported


def test_a_phone_number_is_checked_and_kept_as_typed(
    staff_client: Callable[[str], StaffClient], session_factory: sessionmaker[Session]
) -> None:
    admin = staff_client("admin")
    wrong = post(admin, "/admin/dealers", {**GOOD, "phone": "abc"})
    assert wrong.status_code == 400
    page = soup(wrong.text)
    assert "'abc' is not a phone number" in text_at(page, "#dealer-phone-error")
    field = page.select_one("#dealer-phone")
    assert field is not None and field["value"] == "abc" and field["aria-invalid"] == "true"
    assert dealer(session_factory, "NL-EIN1") is None
    for typed in ("12", "+31 40", "040 123 4567 ext"):
        assert post(admin, "/admin/dealers", {**GOOD, "phone": typed}).status_code == 400, typed

    # Read as cdp reads phone numbers: the dealer's country first, then the default regions.
    belgian = {**GOOD, "code": "BE-ANT", "country": "BE", "phone": "03 240 55 00"}
    assert post(admin, "/admin/dealers", {**belgian, "postal_areas": "2000"}).status_code == 303
    assert dealer(session_factory, "BE-ANT").phone == "03 240 55 00"  # type: ignore[union-attr]
    assert post(admin, "/admin/dealers", {**GOOD, "phone": "040-2506600"}).status_code == 303
    changes = {k: v for k, v in GOOD.items() if k != "code"}
    edited = post(admin, "/admin/dealers/NL-EIN1/edit", {**changes, "phone": "call us"})
    assert edited.status_code == 400
    assert "'call us' is not a phone number" in text_at(soup(edited.text), "#dealer-phone-error")
    assert dealer(session_factory, "NL-EIN1").phone == "040-2506600"  # type: ignore[union-attr]


def test_the_list_is_a_table_with_its_column_headings(
    staff_client: Callable[[str], StaffClient], session_factory: sessionmaker[Session]
) -> None:
    """Not the staff list's stacked layout (`staff-table`), which hides the headings at every
    width and left the staff count an unlabelled number."""
    make_dealer(session_factory, "NL-X", city="Tilburg", postal_areas="501")
    make_staff(session_factory, role="sales", dealers=("NL-X",))
    admin = staff_client("admin")
    page = soup(admin.client.get("/admin/dealers").text)
    table = page.select_one("table.dealers-table")
    assert table is not None
    assert "staff-table" not in table.get("class", [])
    headings = [th.get_text(strip=True) for th in table.select("thead th[scope=col]")]
    assert headings == [
        "Code", "Name", "City", "Country", "Postal-code areas", "Staff", "Status", "Actions",
    ]  # fmt: skip
    row = table.select_one('tr[data-dealer="NL-X"]')
    assert row is not None and len(row.select("td")) == len(headings)
    assert text_at(row, "td.staff-count") == "1"


def test_every_change_to_a_dealer_is_in_the_audit_trail(
    staff_client: Callable[[str], StaffClient], session_factory: sessionmaker[Session]
) -> None:
    admin = staff_client("admin")
    assert post(admin, "/admin/dealers", GOOD).status_code == 303
    changes = {k: v for k, v in GOOD.items() if k != "code"} | {"city": "Veldhoven"}
    assert post(admin, "/admin/dealers/NL-EIN1/edit", changes).status_code == 303
    assert post(admin, "/admin/dealers/NL-EIN1/edit", changes).status_code == 303  # no change
    assert post(admin, "/admin/dealers/NL-EIN1/deactivate", {"confirm": "yes"}).status_code == 303
    assert post(admin, "/admin/dealers/NL-EIN1/reactivate", {"confirm": "yes"}).status_code == 303
    body = "code,name,country,postal_areas\nBE-GNT1,Gent,BE,9000\nNL-EIN1,Eindhoven,NL,5611\n"
    assert upload(admin, body).status_code == 303  # type: ignore[attr-defined]
    # Refused forms and files leave no record.
    assert (
        post(admin, "/admin/dealers", {**GOOD, "code": "NL-2", "phone": "abc"}).status_code == 400
    )
    assert upload(admin, "code,name\n,Nameless\n").status_code == 400  # type: ignore[attr-defined]

    rows = audit_rows(admin.client, "action=dealer")
    assert {row["actor"] for row in rows} == {admin.email}
    assert [row["detail"] for row in reversed(rows)] == [
        "dealer NL-EIN1 added (Autohuis Eindhoven, NL; postal-code areas 56, 5611, 5612)",
        "dealer NL-EIN1 changed: city Eindhoven → Veldhoven",
        "dealer NL-EIN1 deactivated",
        "dealer NL-EIN1 reactivated",
        "dealers imported from dealers.csv: 1 added (BE-GNT1), 1 updated (NL-EIN1)",
    ]
    everything = audit_rows(admin.client)
    assert [row["kind"] for row in everything[:5]] == ["dealer"] * 5  # newest first
