"""The admin pages' accountability (docs/privacy.md, "Audit"): a copy of a person's data made on
/admin/privacy is a `subject_access` record as the API's and the CLI's are, and every change to a
staff account (an invitation, a new invitation link, a role, dealers, deactivating and
reactivating) is a `staff` record naming the admin, the account and what changed, listed and
filtered on /admin/audit. And the staff page itself: an invitation's refusal is said where the
admin looks, in the page's words, and the list is filtered and paged. Through HTTP, on both
databases.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cdp.auth.staff import create_user
from cdp.models import StaffUser
from tests.helpers import (
    STAFF_PASSWORD,
    SourceKey,
    StaffClient,
    audit_rows,
    fresh_database_url,
    make_customer,
    make_dealer,
    make_staff,
    post,
    run_cdp,
    soup,
    text_at,
    user_id,
)


def many_staff(
    factory: sessionmaker[Session], count: int, name: str, *, dealers: tuple[str, ...]
) -> None:
    """`count` salespeople named "NAME 00", "NAME 01", ...: invited, no password to hash."""
    with factory() as session:
        for n in range(count):
            create_user(
                session, email=f"{name.replace(' ', '.').lower()}.{n:02}@list.example",
                role="sales", name=f"{name} {n:02}", dealers=dealers,
            )  # fmt: skip
        session.commit()


def staff_records(admin: StaffClient, query: str = "") -> list[str]:
    """The details of the `staff` records the audit page lists, newest first."""
    rows = audit_rows(admin.client, f"action=staff&{query}")
    assert all(row["kind"] == "staff" for row in rows)
    assert all(
        row["action"] == "Invited staff or changed an account (role, dealers, active)"
        for row in rows
    )
    return [row["detail"] for row in rows]


# --- a copy of a person's data ---------------------------------------------------------------


def test_a_copy_downloaded_on_the_privacy_page_is_in_the_audit_trail(
    app_client: TestClient,
    staff_client: Callable[[str], StaffClient],
    session_factory: sessionmaker[Session],
    web_source: SourceKey,
) -> None:
    pid = make_customer(app_client, web_source, session_factory, first_name="Vera")
    admin = staff_client("admin")
    copy = post(admin, "/admin/privacy/copy", {"who": str(pid)})
    assert copy.status_code == 200
    assert json.loads(copy.text)

    rows = audit_rows(admin.client, "action=subject_access")
    assert [(r["actor"], r["profile"], r["detail"]) for r in rows] == [
        (admin.email, str(pid), "admin page")
    ]
    # The person's own trail (the profile filter) shows it too, and a person not found leaves
    # no record.
    assert "subject_access" in {r["kind"] for r in audit_rows(admin.client, f"profile={pid}")}
    assert post(admin, "/admin/privacy/copy", {"who": "nobody@example.invalid"}).status_code != 200
    assert len(audit_rows(admin.client, "action=subject_access")) == 1


# --- staff account changes -------------------------------------------------------------------


def test_every_change_to_a_staff_account_is_in_the_audit_trail(
    staff_client: Callable[[str], StaffClient], session_factory: sessionmaker[Session]
) -> None:
    make_dealer(session_factory, "NL-AUD1")
    make_dealer(session_factory, "NL-AUD2")
    colleague = make_staff(session_factory, role="marketing")
    cid = user_id(session_factory, colleague)
    admin = staff_client("admin")

    form = {"email": "nieuw@dealer.example", "name": "Nina", "role": "sales", "dealer": "NL-AUD1"}
    invited = post(admin, "/admin/users/invite", form)
    assert invited.status_code == 200
    nid = user_id(session_factory, "nieuw@dealer.example")
    assert post(admin, f"/admin/users/{nid}/invite").status_code == 200
    assert post(admin, f"/admin/users/{cid}/role", {"role": "admin"}).status_code == 303
    moved = admin.client.post(
        f"/admin/users/{nid}/dealers",
        data={"csrf_token": admin.csrf, "dealer": ["NL-AUD1", "NL-AUD2"]},
        follow_redirects=False,
    )
    assert moved.status_code == 303
    assert post(admin, f"/admin/users/{cid}/deactivate", {"confirm": "yes"}).status_code == 303
    assert post(admin, f"/admin/users/{cid}/reactivate").status_code == 303

    assert staff_records(admin) == [
        f"{colleague}: reactivated",
        f"{colleague}: deactivated",
        "nieuw@dealer.example: dealers NL-AUD1 → NL-AUD1, NL-AUD2",
        f"{colleague}: role marketing → admin",
        "nieuw@dealer.example: new invitation link",
        "nieuw@dealer.example: invited as sales at NL-AUD1",
    ]
    rows = audit_rows(admin.client, "action=staff")
    assert {row["actor"] for row in rows} == {admin.email}
    assert {row["profile"] for row in rows} == {""}  # about no customer

    # The page's filters: by who did it (another admin did nothing), and in the CSV.
    admin_id = user_id(session_factory, admin.email)
    assert len(staff_records(admin, f"staff={admin_id}")) == 6
    other = make_staff(session_factory, role="admin")
    assert staff_records(admin, f"staff={user_id(session_factory, other)}") == []
    options = soup(admin.client.get("/admin/audit").text).select("select[name=action] option")
    assert "staff" in {str(option["value"]) for option in options}
    exported = admin.client.get("/admin/audit.csv?action=staff")
    assert exported.status_code == 200
    lines = list(csv.DictReader(io.StringIO(exported.text)))
    assert [line["detail"] for line in lines][
        -1
    ] == "nieuw@dealer.example: invited as sales at NL-AUD1"
    assert {line["staff_user_id"] for line in lines} == {str(admin_id)}


def test_a_refused_or_unchanged_staff_change_leaves_no_record(
    staff_client: Callable[[str], StaffClient], session_factory: sessionmaker[Session]
) -> None:
    colleague = make_staff(session_factory, role="delivery", dealers=("MAIN",))
    cid = user_id(session_factory, colleague)
    admin = staff_client("admin")
    assert post(admin, f"/admin/users/{cid}/role", {"role": "owner"}).status_code == 400
    assert (
        post(admin, "/admin/users/invite", {"email": "not an address", "role": "sales"}).status_code
        == 400
    )
    assert post(admin, f"/admin/users/{cid}/role", {"role": "delivery"}).status_code == 303
    assert staff_records(admin) == []


# --- the staff page: an invitation refused, the list ------------------------------------------


def test_an_invitation_without_a_dealer_is_refused_at_the_top_in_the_pages_words(
    staff_client: Callable[[str], StaffClient], session_factory: sessionmaker[Session]
) -> None:
    make_dealer(session_factory, "NL-INV1")
    many_staff(
        session_factory, 60, "Lange Lijst", dealers=("MAIN",)
    )  # the refusal must not sit below it
    admin = staff_client("admin")
    refused = post(admin, "/admin/users/invite", {"email": "s@inv.example", "role": "sales"})
    assert refused.status_code == 400
    page = soup(refused.text)
    said = text_at(page, "#invite-error")
    assert "tick the dealer they work at" in said
    assert "cdp dealer list" not in refused.text and "dealer's code" not in said
    # Where the eye is: before the list of staff, its link leading to the first dealer box,
    # which has the focus.
    assert refused.text.index('id="invite-error"') < refused.text.index('class="staff-table"')
    link = page.select_one("#invite-error a")
    assert link is not None and link["href"] == "#invite-dealer"
    first_box = page.select_one("#invite-dealer")
    assert first_box is not None and first_box.get("name") == "dealer"
    assert first_box.has_attr("autofocus")
    assert page.select("[autofocus]") == [first_box]
    assert page.select_one("form.invite-form input[name=email]")["value"] == "s@inv.example"  # type: ignore[index]

    # A wrong address: its field has the focus instead.
    wrong = soup(post(admin, "/admin/users/invite", {"email": "nope", "role": "manager"}).text)
    focused = wrong.select("[autofocus]")
    assert [tag.get("id") for tag in focused] == ["invite-email"]


def test_the_command_line_keeps_its_own_wording(tmp_path: Path) -> None:
    url = fresh_database_url("sqlite", tmp_path, "cli_wording")
    for code in ("NL-CLI1", "NL-CLI2"):
        assert (
            run_cdp("dealer", "create", code, "--name", code, database_url=url, cwd=tmp_path).code
            == 0
        )
    made = run_cdp(
        "user", "create", "s@cli.example", "--role", "sales",
        database_url=url, cwd=tmp_path, stdin=STAFF_PASSWORD + "\n",
    )  # fmt: skip
    assert made.code != 0
    assert "give the dealer's code (see: cdp dealer list)" in made.err


def test_the_staff_list_is_filtered_and_paged(
    staff_client: Callable[[str], StaffClient], session_factory: sessionmaker[Session]
) -> None:
    make_dealer(session_factory, "NL-LST1")
    many_staff(session_factory, 55, "Pagina Persoon", dealers=("NL-LST1",))
    make_staff(session_factory, role="delivery", name="Pagina Bezorger", dealers=("MAIN",))
    make_staff(session_factory, role="manager", name="Pagina Chef")  # the whole network
    admin = staff_client("admin")

    def emails(query: str) -> tuple[list[str], httpx.Response]:
        response = admin.client.get(f"/admin/users?{query}")
        assert response.status_code == 200
        rows = soup(response.text).select("table.staff-table tbody tr td.name")
        return [row.get_text(" ", strip=True) for row in rows], response

    first, response = emails("q=pagina+persoon")
    assert len(first) == 50 and first[0] == "Pagina Persoon 00"
    page = soup(response.text)
    assert "55 staff accounts" in text_at(page, ".staff-total")
    following = page.select_one("nav.pages a[rel=next]")
    assert following is not None
    second, _ = emails(str(following["href"]).split("?", 1)[1])
    assert second == [f"Pagina Persoon {n}" for n in range(50, 55)]

    assert emails("q=PAGINA&role=delivery")[0] == ["Pagina Bezorger"]
    assert emails("q=pagina&dealer=MAIN")[0] == ["Pagina Bezorger"]
    assert len(emails("q=pagina&dealer=nl-lst1&page=2")[0]) == 5
    by_email, _ = emails(f"q={admin.email.split('@')[0]}")
    assert len(by_email) == 1
    assert emails("q=pagina&dealer=-none")[0] == ["Pagina Chef"]
    nobody, response = emails("q=%25_nobody")  # LIKE's wildcards are plain characters
    assert nobody == [] and "No staff account matches" in response.text

    # A form on page 2 brings the admin back to page 2 of the same filter.
    with session_factory() as session:
        person = session.scalars(
            select(StaffUser).where(StaffUser.name == "Pagina Persoon 52")
        ).one()
    form = soup(emails("q=pagina+persoon&page=2")[1].text).select_one(
        f"form[action='/admin/users/{person.id}/role']"
    )
    assert form is not None
    kept = form.select_one("input[name=list]")
    assert kept is not None and kept["value"] == "q=pagina+persoon&page=2"
    changed = post(
        admin, f"/admin/users/{person.id}/role", {"role": "manager", "list": str(kept["value"])}
    )
    assert changed.headers["location"] == "/admin/users?q=pagina+persoon&page=2&done=role"
