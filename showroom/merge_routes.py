"""Undoing a wrong merge from the customer page: a confirmation that shows what the split gives
back, then the split itself (managers and admins: the SPLIT_MERGE permission)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from cdp.auth.permissions import Permission
from cdp.auth.staff import StaffContext
from cdp.deps import DbSession
from cdp.errors import CdpError, InvalidInput
from cdp.models import utcnow
from cdp.profiles.split import SplitPlan, plan_split, split_merge
from cdp.web import customer_url, id_or_404, posting, profile_uuid, redirect, render, require

router = APIRouter(include_in_schema=False)
SplitStaff = Annotated[StaffContext, Depends(require(Permission.SPLIT_MERGE))]
SplitPosting = Annotated[StaffContext, Depends(posting(Permission.SPLIT_MERGE))]
SPLIT_PATH = "/showroom/customers/{profile_id}/merges/{merge_id}/split"


def _page(
    request: Request,
    session: Session,
    pid: uuid.UUID,
    merge_id: int,
    *,
    reason: str = "",
    error: CdpError | None = None,
) -> Response:
    plan: SplitPlan | None = None
    refusal: CdpError | None = None
    try:
        plan = plan_split(session, pid, merge_id)
    except CdpError as problem:  # not splittable: say why, with no form
        refusal = problem
    return render(
        request,
        "showroom/customer/split.html",
        {
            "profile_id": pid,
            "merge_id": merge_id,
            "plan": plan,
            "refusal": refusal,
            "error": error,
            "reason": reason,
        },
        status_code=shown.status_code if (shown := refusal or error) else 200,
    )


@router.get(SPLIT_PATH, response_class=HTMLResponse)
def confirm_split(
    request: Request, session: DbSession, _staff: SplitStaff, profile_id: str, merge_id: str
) -> Response:
    return _page(request, session, profile_uuid(profile_id), id_or_404(merge_id, "merge"))


@router.post(SPLIT_PATH, response_class=HTMLResponse)
def do_split(
    request: Request,
    session: DbSession,
    staff: SplitPosting,
    profile_id: str,
    merge_id: str,
    reason: Annotated[str, Form(max_length=2000)] = "",
    confirm: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    pid = profile_uuid(profile_id)
    mid = id_or_404(merge_id, "merge")
    try:
        if confirm != "yes":
            raise InvalidInput("tick the box to confirm the split", field="confirm")
        split_merge(
            session, pid, mid, split_by=f"{staff.name} <{staff.email}>", reason=reason, now=utcnow()
        )
    except CdpError as problem:
        session.rollback()
        return _page(request, session, pid, mid, reason=reason, error=problem)
    return redirect(request, customer_url(pid))
