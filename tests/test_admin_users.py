"""The staff admin page (/admin/users), through the real pages: invite, accept, roles, deactivate.

Every test runs on SQLite and on PostgreSQL. Two browsers are two TestClients on one app: the
admin's, and the colleague's whose account the admin changes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from urllib.parse import urlsplit

import httpx
import pytest
from bs4 import BeautifulSoup, Tag
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from cdp.models import StaffSession, StaffUser, utcnow
from tests.helpers import STAFF_PASSWORD, StaffClient, make_staff, sign_in

NEW_PASSWORD = "a-long-enough-passphrase"


# --- helpers ---------------------------------------------------------------------------------


def html(response: httpx.Response) -> BeautifulSoup:
    return BeautifulSoup(response.text, "html.parser")


def post(client: TestClient, url: str, csrf: str | None, **data: str) -> httpx.Response:
    """A form post as the browser sends it; csrf=None leaves the token out."""
    body = dict(data)
    if csrf is not None:
        body["csrf_token"] = csrf
    response: httpx.Response = client.post(url, data=body, follow_redirects=False)
    return response


def user_by_email(db: Session, email: str) -> StaffUser | None:
    db.expire_all()
    return db.scalar(select(StaffUser).where(StaffUser.email == email))


def user_id(db: Session, email: str) -> int:
    user = user_by_email(db, email)
    assert user is not None
    return user.id


def staff_count(db: Session) -> int:
    db.expire_all()
    return db.scalar(select(func.count()).select_from(StaffUser)) or 0


def row_of(page: BeautifulSoup, email: str) -> Tag:
    for row in page.select("table.staff-table tbody tr"):
        cell = row.select_one("td.email")
        if cell is not None and cell.get_text(strip=True) == email:
            return row
    raise AssertionError(f"no row for {email}")


def alert(page: BeautifulSoup) -> str:
    found = page.select_one("[role=alert]")
    assert found is not None, "expected an error message"
    return found.get_text(" ", strip=True)


def invite(admin: StaffClient, email: str, name: str = "", role: str = "sales") -> str:
    """Invite through the form; returns the one-time link the page shows."""
    response = post(
        admin.client, "/admin/users/invite", admin.csrf, email=email, name=name, role=role
    )
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    link = html(response).select_one("input#invite-link")
    assert link is not None
    return str(link["value"])


def second_browser(client: TestClient) -> TestClient:
    return TestClient(client.app)


def accept(
    client: TestClient, link: str, password: str, again: str | None = None
) -> httpx.Response:
    path = urlsplit(link).path
    form = client.get(path)
    assert form.status_code == 200
    assert html(form).select_one("input[name=password]") is not None
    response: httpx.Response = client.post(
        path,
        data={"password": password, "password_again": password if again is None else again},
        follow_redirects=False,
    )
    return response


# --- the list ----------------------------------------------------------------------------------


def test_the_admin_page_lists_every_staff_member(
    staff_client: Callable[[str], StaffClient], session_factory: sessionmaker[Session]
) -> None:
    colleague = make_staff(session_factory, role="delivery", name="Dirk Bakker")
    admin = staff_client("admin")
    response = admin.client.get("/admin/users")
    assert response.status_code == 200
    page = html(response)
    heading = page.find("h1")
    assert heading is not None and heading.get_text(strip=True) == "Staff"

    row = row_of(page, colleague)
    assert row.select_one("td.name").get_text(strip=True) == "Dirk Bakker"  # type: ignore[union-attr]
    selected = row.select_one("td.role select option[selected]")
    assert selected is not None and selected["value"] == "delivery"
    assert row.select_one("td.status").get_text(" ", strip=True) == "Active"  # type: ignore[union-attr]
    assert row.select_one("td.last-login").get_text(strip=True) == "never"  # type: ignore[union-attr]
    assert row.select_one("form[action$='/deactivate']") is not None

    me = row_of(page, admin.email)
    assert "(you)" in me.get_text()
    assert me.select_one("td.last-login time") is not None  # they just signed in
    assert me.select_one("form[action$='/deactivate']") is None  # no way to lock yourself out
    assert me.select_one("form[action$='/role']") is None

    for form in page.select("main form[method=post]"):
        token = form.select_one("input[name=csrf_token]")
        assert token is not None and token["value"] == admin.csrf

    nav = page.find("nav")
    assert nav is not None and "Staff" in {a.get_text(strip=True) for a in nav.find_all("a")}


def test_htmx_requests_get_the_page_without_its_frame(
    staff_client: Callable[[str], StaffClient],
) -> None:
    admin = staff_client("admin")
    partial = admin.client.get("/admin/users", headers={"HX-Request": "true"})
    assert partial.status_code == 200
    page = html(partial)
    assert page.find("html") is None and page.find("nav") is None
    assert page.select_one("table.staff-table") is not None


def test_signed_out_visitors_are_sent_to_sign_in(app_client: TestClient) -> None:
    response = app_client.get("/admin/users", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=/admin/users")


# --- invitations -------------------------------------------------------------------------------


def test_invite_then_accept_with_a_password_then_sign_in(
    staff_client: Callable[[str], StaffClient], db: Session
) -> None:
    admin = staff_client("admin")
    link = invite(admin, "Nieuwe.Collega@Dealer.example", name="Nina de Wit", role="sales")
    assert urlsplit(link).scheme in ("http", "https")
    token = urlsplit(link).path.removeprefix("/invite/")
    assert len(token) >= 40

    user = user_by_email(db, "nieuwe.collega@dealer.example")  # stored normalised
    assert user is not None
    assert (user.name, user.role, user.active) == ("Nina de Wit", "sales", True)
    assert user.password_hash is None
    assert user.invite_token_hash is not None and token not in user.invite_token_hash
    assert user.invite_expires_at is not None
    assert timedelta(days=6) < user.invite_expires_at - utcnow() <= timedelta(days=7)

    listed = row_of(html(admin.client.get("/admin/users")), "nieuwe.collega@dealer.example")
    assert listed.select_one("td.status").get_text(" ", strip=True).startswith("Invited")  # type: ignore[union-attr]
    assert "/invite/" not in admin.client.get("/admin/users").text  # the link is shown once

    newcomer = second_browser(admin.client)
    response = accept(newcomer, link, NEW_PASSWORD)
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    csrf = sign_in(newcomer, "nieuwe.collega@dealer.example", NEW_PASSWORD)
    assert csrf
    assert newcomer.get("/showroom").status_code == 200
    assert newcomer.get("/admin/users").status_code == 403

    again = accept(second_browser(admin.client), link, "another-long-password")
    assert again.status_code == 400
    assert "invalid or has expired" in alert(html(again))


def test_a_weak_or_mistyped_password_is_refused_and_the_link_still_works(
    staff_client: Callable[[str], StaffClient], db: Session
) -> None:
    admin = staff_client("admin")
    link = invite(admin, "kort@dealer.example")
    newcomer = second_browser(admin.client)

    weak = accept(newcomer, link, "short")
    assert weak.status_code == 400
    assert "at least 10 characters" in alert(html(weak))
    mistyped = accept(newcomer, link, NEW_PASSWORD, again=NEW_PASSWORD + "x")
    assert mistyped.status_code == 400
    assert "differ" in alert(html(mistyped))
    user = user_by_email(db, "kort@dealer.example")
    assert user is not None and user.password_hash is None

    assert accept(newcomer, link, NEW_PASSWORD).status_code == 303
    sign_in(newcomer, "kort@dealer.example", NEW_PASSWORD)


def test_an_unknown_or_expired_invitation_is_refused(
    staff_client: Callable[[str], StaffClient],
    session_factory: sessionmaker[Session],
    db: Session,
) -> None:
    admin = staff_client("admin")
    browser = second_browser(admin.client)
    unknown = accept(browser, "/invite/not-a-real-token", NEW_PASSWORD)
    assert unknown.status_code == 400
    assert "invalid or has expired" in alert(html(unknown))

    link = invite(admin, "te.laat@dealer.example")
    with session_factory() as session:
        session.execute(
            update(StaffUser)
            .where(StaffUser.email == "te.laat@dealer.example")
            .values(invite_expires_at=utcnow() - timedelta(minutes=1))
        )
        session.commit()
    expired = accept(browser, link, NEW_PASSWORD)
    assert expired.status_code == 400
    assert "invalid or has expired" in alert(html(expired))
    user = user_by_email(db, "te.laat@dealer.example")
    assert user is not None and user.password_hash is None

    # The admin sees it expired and makes a new link; the old one stays dead.
    page = html(admin.client.get("/admin/users"))
    row = row_of(page, "te.laat@dealer.example")
    assert row.select_one("td.status").get_text(" ", strip=True) == "Invitation expired"  # type: ignore[union-attr]
    reissued = post(admin.client, f"/admin/users/{user.id}/invite", admin.csrf)
    assert reissued.status_code == 200
    new_link = html(reissued).select_one("input#invite-link")
    assert new_link is not None and new_link["value"] != link
    assert accept(browser, link, NEW_PASSWORD).status_code == 400
    assert accept(browser, str(new_link["value"]), NEW_PASSWORD).status_code == 303
    sign_in(browser, "te.laat@dealer.example", NEW_PASSWORD)


@pytest.mark.parametrize(
    ("email", "role", "message"),
    [
        ("not-an-address", "sales", "is not an e-mail address"),
        ("", "sales", "Enter the e-mail address"),
        ("x" * 330 + "@dealer.example", "sales", "too long"),
        ("ok@dealer.example", "owner", "Choose a role"),
        ("ok@dealer.example", "", "Choose a role"),
        # Pasted from a chat or a document: looks right, yet is another address.
        ("an\u200bna@dealer.example", "sales", "invisible character (U+200B ZERO WIDTH SPACE)"),
        ("anna@dealer.example\ufeff", "sales", "invisible character (U+FEFF"),
        ("anna@deal\u200cer.example", "sales", "invisible character (U+200C"),
        ("\u200danna@dealer.example", "sales", "invisible character (U+200D"),
        ("anna@dealer\u2060.example", "sales", "invisible character (U+2060"),
        ("anna\x07@dealer.example", "sales", "control character (U+0007)"),
    ],
)
def test_invalid_invitations_are_refused_with_a_clear_message(
    staff_client: Callable[[str], StaffClient],
    db: Session,
    email: str,
    role: str,
    message: str,
) -> None:
    admin = staff_client("admin")
    before = staff_count(db)
    response = post(
        admin.client, "/admin/users/invite", admin.csrf, email=email, name="Test", role=role
    )
    assert response.status_code == 400
    page = html(response)
    assert message in alert(page)
    invite_section = page.select_one("section[aria-labelledby=invite-h]")
    assert invite_section is not None
    assert invite_section.select_one("[role=alert]") is not None  # next to the form
    field = "role" if "role" in message else "email"
    marked = invite_section.select_one(f"[name={field}][aria-invalid=true]")
    assert marked is not None and marked.get("aria-describedby") == "invite-error"
    assert page.select_one("input#invite-link") is None
    assert staff_count(db) == before
    # The form keeps what was typed, so it can be corrected.
    typed = page.select_one("form.invite-form input[name=email]")
    assert typed is not None and typed["value"] == email
    assert page.select_one("form.invite-form input[name=name]")["value"] == "Test"  # type: ignore[index]


def test_a_second_invitation_for_the_same_address_is_refused(
    staff_client: Callable[[str], StaffClient],
    session_factory: sessionmaker[Session],
    db: Session,
) -> None:
    existing = make_staff(session_factory, role="sales")
    admin = staff_client("admin")
    before = staff_count(db)
    response = post(
        admin.client, "/admin/users/invite", admin.csrf, email=existing.upper(), role="manager"
    )
    assert response.status_code == 400
    assert "already exists" in alert(html(response))
    assert staff_count(db) == before
    user = user_by_email(db, existing)
    assert user is not None and user.role == "sales" and user.invite_token_hash is None


# --- roles -------------------------------------------------------------------------------------


def test_a_role_change_takes_effect_on_the_next_request(
    staff_client: Callable[[str], StaffClient],
    session_factory: sessionmaker[Session],
    db: Session,
) -> None:
    email = make_staff(session_factory, role="marketing")
    admin = staff_client("admin")
    colleague = second_browser(admin.client)
    sign_in(colleague, email)
    assert colleague.get("/showroom").status_code == 403

    response = post(
        admin.client, f"/admin/users/{user_id(db, email)}/role", admin.csrf, role="sales"
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/users?done=role"
    confirmation = html(admin.client.get(response.headers["location"]))
    assert confirmation.select_one("[role=status]") is not None
    assert row_of(confirmation, email).select_one("option[selected]")["value"] == "sales"  # type: ignore[index]

    assert colleague.get("/showroom").status_code == 200  # no new sign-in needed
    user = user_by_email(db, email)
    assert user is not None and user.role == "sales"


def test_an_unknown_role_changes_nothing(
    staff_client: Callable[[str], StaffClient],
    session_factory: sessionmaker[Session],
    db: Session,
) -> None:
    email = make_staff(session_factory, role="reception")
    admin = staff_client("admin")
    response = post(
        admin.client, f"/admin/users/{user_id(db, email)}/role", admin.csrf, role="superuser"
    )
    assert response.status_code == 400
    assert "choose one of" in alert(html(response))
    user = user_by_email(db, email)
    assert user is not None and user.role == "reception"


def test_htmx_role_change_redirects_with_hx_redirect(
    staff_client: Callable[[str], StaffClient],
    session_factory: sessionmaker[Session],
    db: Session,
) -> None:
    email = make_staff(session_factory, role="reception")
    admin = staff_client("admin")
    response = admin.client.post(
        f"/admin/users/{user_id(db, email)}/role",
        data={"role": "delivery"},
        headers={"HX-Request": "true", "X-CSRF-Token": admin.csrf},
        follow_redirects=False,
    )
    assert response.status_code == 204
    assert response.headers["HX-Redirect"] == "/admin/users?done=role"
    user = user_by_email(db, email)
    assert user is not None and user.role == "delivery"


def test_an_admin_cannot_demote_or_deactivate_themselves(
    staff_client: Callable[[str], StaffClient], db: Session
) -> None:
    admin = staff_client("admin")
    me = user_id(db, admin.email)

    demote = post(admin.client, f"/admin/users/{me}/role", admin.csrf, role="sales")
    assert demote.status_code == 400
    assert "cannot change your own role" in alert(html(demote))
    deactivate = post(admin.client, f"/admin/users/{me}/deactivate", admin.csrf)
    assert deactivate.status_code == 400
    assert "cannot deactivate your own account" in alert(html(deactivate))

    user = user_by_email(db, admin.email)
    assert user is not None and (user.role, user.active) == ("admin", True)
    assert admin.client.get("/admin/users").status_code == 200  # still signed in
    # Choosing the role they already have is not a demotion.
    assert (
        post(admin.client, f"/admin/users/{me}/role", admin.csrf, role="admin").status_code == 303
    )


def test_another_admin_can_be_demoted(
    staff_client: Callable[[str], StaffClient],
    session_factory: sessionmaker[Session],
    db: Session,
) -> None:
    other_admin = make_staff(session_factory, role="admin")
    admin = staff_client("admin")
    response = post(
        admin.client, f"/admin/users/{user_id(db, other_admin)}/role", admin.csrf, role="manager"
    )
    assert response.status_code == 303
    user = user_by_email(db, other_admin)
    assert user is not None and user.role == "manager"


# --- deactivating ----------------------------------------------------------------------------


def test_deactivating_ends_their_sessions_and_reactivating_lets_them_back(
    staff_client: Callable[[str], StaffClient],
    session_factory: sessionmaker[Session],
    db: Session,
) -> None:
    email = make_staff(session_factory, role="sales")
    admin = staff_client("admin")
    laptop, tablet = second_browser(admin.client), second_browser(admin.client)
    sign_in(laptop, email)
    sign_in(tablet, email)
    assert laptop.get("/showroom").status_code == 200
    uid = user_id(db, email)

    response = post(admin.client, f"/admin/users/{uid}/deactivate", admin.csrf, confirm="yes")
    assert response.status_code == 303
    page = html(admin.client.get(response.headers["location"]))
    assert "signed out everywhere" in page.select_one("[role=status]").get_text()  # type: ignore[union-attr]
    row = row_of(page, email)
    assert row.select_one("td.status").get_text(" ", strip=True) == "Deactivated"  # type: ignore[union-attr]
    assert row.select_one("form[action$='/reactivate']") is not None

    db.expire_all()
    sessions = db.scalars(select(StaffSession).where(StaffSession.user_id == uid)).all()
    assert len(sessions) == 2
    assert all(s.ended_at is not None for s in sessions)
    for browser in (laptop, tablet):
        kicked = browser.get("/showroom", follow_redirects=False)
        assert kicked.status_code == 303
        assert kicked.headers["location"].startswith("/login")

    refused = second_browser(admin.client)
    form = html(refused.get("/login")).select_one("input[name=csrf_token]")
    assert form is not None
    attempt = refused.post(
        "/login",
        data={"email": email, "password": STAFF_PASSWORD, "csrf_token": str(form["value"])},
        follow_redirects=False,
    )
    assert attempt.status_code == 401

    assert post(admin.client, f"/admin/users/{uid}/reactivate", admin.csrf).status_code == 303
    user = user_by_email(db, email)
    assert user is not None and user.active
    sign_in(laptop, email)
    assert laptop.get("/showroom").status_code == 200


def test_deactivating_an_invited_person_voids_their_link(
    staff_client: Callable[[str], StaffClient], db: Session
) -> None:
    admin = staff_client("admin")
    link = invite(admin, "vertrokken@dealer.example")
    uid = user_id(db, "vertrokken@dealer.example")
    assert (
        post(admin.client, f"/admin/users/{uid}/deactivate", admin.csrf, confirm="yes").status_code
        == 303
    )
    assert accept(second_browser(admin.client), link, NEW_PASSWORD).status_code == 400


def test_an_unknown_staff_member_is_a_404_page(
    staff_client: Callable[[str], StaffClient],
) -> None:
    admin = staff_client("admin")
    for path in (
        "/admin/users/999999/deactivate",
        "/admin/users/not-a-number/role",
        "/admin/users/99999999999999999999999/role",  # beyond the integer column
        "/admin/users/2147483648/role",  # just beyond it
        "/admin/users/%D9%A3/role",  # an Arabic-Indic three, which int() would read as 3
        "/admin/users/%C2%B2/reactivate",  # a superscript two: a digit, but not a number
    ):
        response = post(admin.client, path, admin.csrf, role="sales")
        assert response.status_code == 404
        assert "no staff member" in response.text


# --- who may do it -----------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["sales", "reception", "delivery", "marketing", "manager"])
def test_only_admins_may_open_or_use_the_page(
    staff_client: Callable[[str], StaffClient],
    session_factory: sessionmaker[Session],
    db: Session,
    role: str,
) -> None:
    target = make_staff(session_factory, role="sales")
    uid = user_id(db, target)
    person = staff_client(role)
    page = person.client.get("/admin/users")
    assert page.status_code == 403
    assert "does not give access" in page.text
    before = staff_count(db)
    attempts = [
        post(
            person.client,
            "/admin/users/invite",
            person.csrf,
            email="x@dealer.example",
            role="admin",
        ),
        post(person.client, f"/admin/users/{uid}/role", person.csrf, role="admin"),
        post(person.client, f"/admin/users/{uid}/deactivate", person.csrf),
    ]
    assert [r.status_code for r in attempts] == [403, 403, 403]
    assert staff_count(db) == before
    user = user_by_email(db, target)
    assert user is not None and (user.role, user.active) == ("sales", True)
    nav = html(person.client.get("/account")).find("nav")
    assert nav is not None and "Staff" not in {a.get_text(strip=True) for a in nav.find_all("a")}


def test_forms_without_the_csrf_token_change_nothing(
    staff_client: Callable[[str], StaffClient],
    session_factory: sessionmaker[Session],
    db: Session,
) -> None:
    target = make_staff(session_factory, role="sales")
    uid = user_id(db, target)
    admin = staff_client("admin")
    before = staff_count(db)
    for csrf in (None, "", "forged-token"):
        attempts = [
            post(
                admin.client,
                "/admin/users/invite",
                csrf,
                email="sneaky@dealer.example",
                role="admin",
            ),
            post(admin.client, f"/admin/users/{uid}/role", csrf, role="admin"),
            post(admin.client, f"/admin/users/{uid}/deactivate", csrf),
        ]
        assert [r.status_code for r in attempts] == [403, 403, 403]
        assert "did not come from this site" in attempts[0].text
    assert staff_count(db) == before
    user = user_by_email(db, target)
    assert user is not None and (user.role, user.active) == ("sales", True)
    assert user_by_email(db, "sneaky@dealer.example") is None
