"""The lookup page: one search box, results as you type."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from cdp.auth.permissions import Permission
from cdp.auth.staff import StaffContext
from cdp.deps import DbSession, ReadSession, SettingsDep
from cdp.profiles.lookup import lookup
from cdp.web import lookup_dealers, render, require, require_reading

router = APIRouter(include_in_schema=False)
LookupStaff = Annotated[StaffContext, Depends(require(Permission.LOOKUP))]
# The partial only reads: its session runs without BEGIN and COMMIT (cdp/deps.py).
ReadingLookupStaff = Annotated[StaffContext, Depends(require_reading(Permission.LOOKUP))]
# The search box takes up to MAX_QUERY characters (as the profile API); a longer query is
# answered on the page, with the box, not refused as the API refuses it.
MAX_QUERY = 200
Q = Annotated[str, Query()]
RESULTS = 20  # one screen; when it is full, the page asks for a narrower search


@router.get("/showroom", response_class=HTMLResponse)
def lookup_page(
    request: Request, session: DbSession, settings: SettingsDep, staff: LookupStaff, q: Q = ""
) -> Response:
    if len(q) > MAX_QUERY:
        return render(request, "showroom/lookup.html", _too_long(q), status_code=400)
    found = (
        lookup(
            session,
            q,
            phone_region=settings.default_phone_region,
            limit=RESULTS,
            active_at=lookup_dealers(request, staff),
        )
        if q.strip()
        else None
    )
    return render(
        request,
        "showroom/lookup.html",
        {"q": q, "found": found, "limit": RESULTS, "max_query": MAX_QUERY},
    )


@router.get("/showroom/search", response_class=HTMLResponse)
def lookup_results(
    request: Request,
    session: ReadSession,
    settings: SettingsDep,
    staff: ReadingLookupStaff,
    q: Q = "",
) -> Response:
    """The results partial that the search box swaps in as the user types. A query too long is
    answered 200 too: htmx swaps in no other answer (the results of before would stay)."""
    if len(q) > MAX_QUERY:
        return render(request, "showroom/_lookup_results.html", _too_long(q))
    found = (
        lookup(
            session,
            q,
            phone_region=settings.default_phone_region,
            limit=RESULTS,
            active_at=lookup_dealers(request, staff),
        )
        if q.strip()
        else None
    )
    response = render(
        request,
        "showroom/_lookup_results.html",
        {"q": q, "found": found, "limit": RESULTS, "max_query": MAX_QUERY},
    )
    # The address keeps the search, so Back from a customer page finds it (and its results).
    response.headers["HX-Replace-Url"] = search_url(q)
    return response


def _too_long(q: str) -> dict[str, object]:
    """No search, and the box says why: longer than any name, address, number or code."""
    return {"q": q, "found": None, "limit": RESULTS, "max_query": MAX_QUERY, "too_long": True}


def search_url(q: str) -> str:
    return f"/showroom?{urlencode({'q': q})}" if q.strip() else "/showroom"
