"""Sign in, sign out, and accepting an invitation."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from cdp.auth import staff as staff_service
from cdp.auth.permissions import home_for
from cdp.dealers.visibility import scope_of_staff
from cdp.deps import DbSession
from cdp.errors import CdpError
from cdp.forms import safe_next
from cdp.web import SESSION_COOKIE, Staff, check_csrf, redirect, render

router = APIRouter(include_in_schema=False)
LOGIN_CSRF_COOKIE = "cdp_login_csrf"


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _login_page(
    request: Request,
    *,
    next_url: str,
    error: str | None = None,
    email: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    token = secrets.token_urlsafe(24)
    response = render(
        request,
        "showroom/login.html",
        {"login_csrf": token, "next": next_url, "error": error, "email": email},
        status_code=status_code,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        max_age=3600,
    )
    return response


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str | None = None) -> Response:
    return _login_page(request, next_url=safe_next(next, "/showroom", within="/"))


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    session: DbSession,
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/showroom",
) -> Response:
    next_url = safe_next(next, "/showroom", within="/")
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie or not secrets.compare_digest(cookie, csrf_token):
        return _login_page(
            request,
            next_url=next_url,
            email=email,
            status_code=403,
            error="The sign-in form expired. Please try again.",
        )
    if not email.strip() or not password:
        return _login_page(
            request,
            next_url=next_url,
            email=email,
            status_code=400,
            error="Enter your e-mail address and password.",
        )
    ip = request.client.host if request.client else None
    try:
        user = staff_service.authenticate(session, email=email, password=password, ip=ip)
    except CdpError as error:
        session.commit()  # the failed attempt must be recorded for throttling
        return _login_page(
            request, next_url=next_url, email=email, status_code=401, error=error.message
        )
    token = staff_service.start_session(session, user)
    if not next or next_url == "/showroom":  # no particular page asked for: the role's home
        scope = scope_of_staff(session, user_id=user.id, role=user.role)
        next_url = home_for(user.role, network=scope.network)
    response = redirect(request, next_url)
    response.set_cookie(
        SESSION_COOKIE, token, httponly=True, samesite="lax", secure=_secure(request)
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE)
    return response


@router.post("/logout")
async def logout(request: Request, session: DbSession, staff: Staff) -> Response:
    await check_csrf(request, staff)
    staff_service.end_session(session, staff.session_id)
    response = redirect(request, "/login")
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/invite/{token}", response_class=HTMLResponse)
def invite_form(request: Request, token: str) -> Response:
    return render(request, "showroom/invite.html", {"token": token, "error": None})


@router.post("/invite/{token}", response_class=HTMLResponse)
def accept_invite(
    request: Request,
    session: DbSession,
    token: str,
    password: Annotated[str, Form(max_length=1000)] = "",
    password_again: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    if password != password_again:
        return render(
            request,
            "showroom/invite.html",
            {"token": token, "error": "The two passwords differ."},
            status_code=400,
        )
    try:
        staff_service.accept_invite(session, token=token, password=password)
    except CdpError as error:
        return render(
            request,
            "showroom/invite.html",
            {"token": token, "error": error.message},
            status_code=400,
        )
    return redirect(request, "/login")


@router.get("/start")
def start(staff: Staff) -> Response:
    """Where "/" sends a signed-in person: the first page their role can use."""
    return Response(
        status_code=303,
        headers={"Location": home_for(staff.role, network=staff.scope.network)},
    )


@router.get("/account", response_class=HTMLResponse)
def account(request: Request, staff: Staff) -> Response:
    """Who is signed in, with what role; the place to sign out."""
    return render(request, "showroom/account.html", {})
