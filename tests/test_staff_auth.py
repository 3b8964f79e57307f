"""Staff sign-in, sessions, CSRF and roles, through the real pages."""

from collections.abc import Callable

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from cdp.models import LoginAttempt, StaffSession
from tests.helpers import STAFF_PASSWORD, StaffClient, make_staff, sign_in


def test_pages_require_sign_in(app_client: TestClient) -> None:
    for path in ("/showroom", "/showroom/search?q=jan", "/account"):
        response = app_client.get(path, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login?next=")
    htmx = app_client.get(
        "/showroom/search?q=x", headers={"HX-Request": "true"}, follow_redirects=False
    )
    assert htmx.headers["HX-Redirect"].startswith("/login")


def test_an_action_after_the_session_ended_returns_to_its_page_after_sign_in(
    app_client: TestClient,
) -> None:
    """A tap on the tablet after sign-out elsewhere: back to the configurator, not to the
    POST-only address of the tap."""
    page = "http://testserver/showroom/tablet/3/configure?step=colour"
    htmx = app_client.post(
        "/showroom/tablet/3/choose",
        data={"step": "colour", "code": "RED"},
        headers={"HX-Request": "true", "HX-Current-URL": page},
        follow_redirects=False,
    )
    assert htmx.headers["HX-Redirect"] == "/login?next=/showroom/tablet/3/configure?step=colour"
    form = app_client.post(
        "/showroom/tablet/3/choose",
        data={"step": "colour"},
        headers={"Referer": "http://testserver/showroom/tablet/3/configure"},
        follow_redirects=False,
    )
    assert form.headers["location"] == "/login?next=/showroom/tablet/3/configure"
    elsewhere = app_client.post(
        "/showroom/tablet/3/choose",
        headers={"Referer": "https://evil.example/showroom"},
        follow_redirects=False,
    )
    assert elsewhere.headers["location"] == "/login?next=/showroom"


@pytest.mark.parametrize("came_from", ["http://[::1", "http://testserver:99999/showroom/today"])
@pytest.mark.parametrize("header", ["Referer", "HX-Current-URL"])
def test_a_malformed_page_address_after_the_session_ended_goes_to_the_start_page(
    app_client: TestClient, header: str, came_from: str
) -> None:
    response = app_client.post(
        "/showroom/tablet/3/choose",
        headers={header: came_from, "HX-Request": "true" if header.startswith("HX") else ""},
        follow_redirects=False,
    )
    where = response.headers.get("HX-Redirect") or response.headers["location"]
    assert where == "/login?next=/showroom"


def test_sign_in_sets_a_safe_cookie_and_sign_out_ends_the_session(
    app_client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    email = make_staff(session_factory, role="sales")
    csrf = sign_in(app_client, email)
    assert app_client.get("/showroom").status_code == 200
    cookie = next(c for c in app_client.cookies.jar if c.name == "cdp_session")
    assert cookie.has_nonstandard_attr("HttpOnly")
    response = app_client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert response.status_code == 303
    assert app_client.get("/showroom", follow_redirects=False).status_code == 303


def test_wrong_password_is_refused_and_repeated_failures_are_throttled(
    app_client: TestClient, session_factory: sessionmaker[Session], db: Session
) -> None:
    email = make_staff(session_factory, role="sales")
    for _ in range(5):
        page = BeautifulSoup(app_client.get("/login").text, "html.parser")
        token = page.find("input", attrs={"name": "csrf_token"})["value"]  # type: ignore[index]
        response = app_client.post(
            "/login", data={"email": email, "password": "wrong-password!", "csrf_token": token}
        )
        assert response.status_code == 401
        assert "wrong" in response.text
    failures = db.scalar(
        select(func.count()).select_from(LoginAttempt).where(LoginAttempt.email == email)
    )
    assert failures == 5
    page = BeautifulSoup(app_client.get("/login").text, "html.parser")
    token = page.find("input", attrs={"name": "csrf_token"})["value"]  # type: ignore[index]
    response = app_client.post(
        "/login", data={"email": email, "password": STAFF_PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 401
    assert "too many failed sign-ins" in response.text


def test_sign_in_form_without_its_csrf_token_changes_nothing(
    app_client: TestClient, session_factory: sessionmaker[Session], db: Session
) -> None:
    email = make_staff(session_factory, role="sales")
    response = app_client.post("/login", data={"email": email, "password": STAFF_PASSWORD})
    assert response.status_code == 403
    assert db.scalar(select(func.count()).select_from(StaffSession)) == 0


def test_logout_without_csrf_token_is_refused(
    staff_client: Callable[[str], StaffClient],
) -> None:
    staff = staff_client("sales")
    response = staff.client.post("/logout", data={}, follow_redirects=False)
    assert response.status_code == 403
    assert staff.client.get("/showroom").status_code == 200


def test_roles_decide_what_each_person_sees(staff_client: Callable[[str], StaffClient]) -> None:
    marketing = staff_client("marketing")
    response = marketing.client.get("/showroom")
    assert response.status_code == 403
    assert "does not give access" in response.text
    sales = staff_client("sales")
    nav = BeautifulSoup(sales.client.get("/showroom").text, "html.parser").find("nav")
    assert nav is not None
    links = {a.get_text(strip=True) for a in nav.find_all("a")}
    assert "Find customer" in links
    assert "Staff" not in links


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example/phish",
        "/\\evil.example/",  # browsers read a backslash as a slash
        "/\t/evil.example/",  # and drop tabs and newlines
        "https://evil.example/",
        "evil.example",
        "http://[::1",  # malformed: urlsplit raises on these
        "http://[::1]:99999/",
        "http://[evil.example]/",
        "http://x:99999/",
    ],
)
def test_open_redirects_are_not_followed(
    app_client: TestClient, session_factory: sessionmaker[Session], target: str
) -> None:
    email = make_staff(session_factory, role="sales")
    page = BeautifulSoup(app_client.get("/login").text, "html.parser")
    token = page.find("input", attrs={"name": "csrf_token"})["value"]  # type: ignore[index]
    response = app_client.post(
        "/login",
        data={"email": email, "password": STAFF_PASSWORD, "csrf_token": token, "next": target},
        follow_redirects=False,
    )
    assert response.headers["location"] == "/showroom"
    form = app_client.get("/login", params={"next": target})
    assert form.status_code == 200
    kept = BeautifulSoup(form.text, "html.parser").find("input", attrs={"name": "next"})
    assert kept is not None and kept["value"] == "/showroom"


@pytest.mark.parametrize("htmx", [False, True])
def test_a_next_page_with_any_character_signs_in_and_goes_there(
    app_client: TestClient, session_factory: sessionmaker[Session], htmx: bool
) -> None:
    """A header holds Latin-1 only: a euro sign in `next` made the sign-in a 500."""
    email = make_staff(session_factory, role="sales")
    form = app_client.get("/login?next=/customers/%E2%82%AC")
    assert form.status_code == 200
    page = BeautifulSoup(form.text, "html.parser")
    kept = page.find("input", attrs={"name": "next"})
    assert kept is not None and kept["value"] == "/customers/€"
    token = page.find("input", attrs={"name": "csrf_token"})["value"]  # type: ignore[index]
    response = app_client.post(
        "/login",
        data={
            "email": email,
            "password": STAFF_PASSWORD,
            "csrf_token": token,
            "next": "/customers/€ x",
        },
        headers={"HX-Request": "true"} if htmx else {},
        follow_redirects=False,
    )
    where = response.headers["HX-Redirect" if htmx else "location"]
    assert where == "/customers/%E2%82%AC%20x"
    assert app_client.get("/account").status_code == 200
