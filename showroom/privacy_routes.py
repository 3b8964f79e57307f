"""A person's data from the admin pages: find them, download the same JSON copy as
`cdp profile export` and the API (GDPR art. 15), or erase them (art. 17) with a reason and a
typed confirmation. Admins only (the PRIVACY permission); every POST carries the CSRF token."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from cdp.auth.permissions import Permission
from cdp.auth.staff import StaffContext
from cdp.deps import DbSession
from cdp.errors import CdpError
from cdp.ids import row_id
from cdp.models import Erasure, Identity, ProfileTrait, ProfileView, utcnow
from cdp.profiles.erasure import Person, describe, erase, erasures, find_person
from cdp.profiles.subject_access import person_data
from cdp.web import audit, posting, redirect, render, require

router = APIRouter(include_in_schema=False)
PrivacyStaff = Annotated[StaffContext, Depends(require(Permission.PRIVACY))]
PrivacyPosting = Annotated[StaffContext, Depends(posting(Permission.PRIVACY))]
PRIVACY_URL = "/admin/privacy"
CONFIRM_WORD = "ERASE"


def _summary(session: Session, person: Person) -> dict[str, object]:
    """What lets the admin check it is the right person: name and contact identifiers."""
    rows = session.execute(
        select(ProfileTrait.name, ProfileTrait.value).where(
            ProfileTrait.profile_id == person.profile_id,
            ProfileTrait.name.in_(("first_name", "last_name", "name")),
        )
    )
    traits: dict[str, Any] = {trait: value for trait, value in rows}
    name = traits.get("name") or " ".join(
        str(traits[key]) for key in ("first_name", "last_name") if traits.get(key)
    )
    contacts = session.execute(
        select(Identity.kind, Identity.value)
        .where(Identity.profile_id.in_(person.ids), Identity.kind.in_(("email", "phone")))
        .order_by(Identity.kind, Identity.value)
    ).all()
    return {"person": person, "name": name or None, "contacts": contacts}


def _page(
    request: Request,
    session: Session,
    *,
    who: str = "",
    reason: str = "",
    errors: dict[str, str] | None = None,
    erased: Erasure | None = None,
    status_code: int = 200,
) -> Response:
    errors = dict(errors or {})
    found: dict[str, object] | None = None
    if who.strip():
        try:
            found = _summary(session, find_person(session, who))
        except CdpError as problem:
            errors["who"] = problem.message
            status_code = max(status_code, problem.status_code)
    response = render(
        request,
        "admin/privacy.html",
        {
            "who": who,
            "found": found,
            "reason": reason,
            "errors": errors,
            "erased": erased,
            "erased_text": describe(erased) if erased else None,
            "recent": [(record, describe(record)) for record in erasures(session, limit=20)],
            "confirm_word": CONFIRM_WORD,
        },
        status_code=status_code,
    )
    response.headers["Cache-Control"] = "no-store"  # names and contact details
    return response


@router.get(PRIVACY_URL, response_class=HTMLResponse)
def privacy_page(
    request: Request, session: DbSession, _staff: PrivacyStaff, who: str = ""
) -> Response:
    erasure_id = row_id(request.query_params.get("erased", ""))
    erased = session.get(Erasure, erasure_id) if erasure_id is not None else None
    return _page(request, session, who=who[:400], erased=erased)


@router.post(f"{PRIVACY_URL}/copy")
def download_copy(
    request: Request,
    session: DbSession,
    staff: PrivacyPosting,
    who: Annotated[str, Form(max_length=400)] = "",
) -> Response:
    """The JSON of `cdp profile export`, as a download; recorded as a view and in the audit trail
    (`subject_access`), like the API's."""
    try:
        person = find_person(session, who)
    except CdpError:
        session.rollback()
        return _page(request, session, who=who)
    data = person_data(session, person, now=utcnow())
    session.add(ProfileView(profile_id=person.profile_id, user_id=staff.user_id, via="page"))
    # The same audit record as the API's and `cdp profile export`'s, in the same transaction.
    audit(session, staff, "subject_access", person.profile_id, "admin page")
    return Response(
        json.dumps(data, indent=2, ensure_ascii=False),
        media_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="profile-{person.profile_id}.json"',
            "Cache-Control": "no-store",
        },
    )


@router.post(f"{PRIVACY_URL}/erase", response_class=HTMLResponse)
def erase_person(
    request: Request,
    session: DbSession,
    staff: PrivacyPosting,
    who: Annotated[str, Form(max_length=400)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
    confirm: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    errors: dict[str, str] = {}
    if not reason.strip():
        errors["reason"] = "Say why, for the record (e.g. 'request by e-mail of 2026-11-20')."
    if confirm.strip() != CONFIRM_WORD:
        errors["confirm"] = f"Type {CONFIRM_WORD} to confirm: the erasure cannot be undone."
    try:
        person = find_person(session, who)
    except CdpError:
        session.rollback()
        return _page(request, session, who=who, reason=reason, errors=errors, status_code=400)
    if errors:
        return _page(request, session, who=who, reason=reason, errors=errors, status_code=400)
    record = erase(session, person, erased_by=f"{staff.name} <{staff.email}>", reason=reason)
    return redirect(request, f"{PRIVACY_URL}?erased={record.id}")
