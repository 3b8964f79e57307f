"""The channels page (/showroom/channels): every lead channel's name, whether lead forms offer
it, and its norm per funnel step in percent, each beside its default.

Importer managers change them (the NORMS permission at no dealer: a manager or admin of the
importer); a dealer's managers read them (FUNNEL), since the funnel they are judged on uses
them; anyone else is refused. The form comes back with every problem marked (status 400) and
nothing saved; after a save the page lists what changed, and so does the audit trail.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from cdp.auth.permissions import Permission
from cdp.auth.staff import StaffContext
from cdp.deps import DbSession
from cdp.leads import norms_edit
from cdp.leads.norms_edit import ChannelsForm
from cdp.web import CsrfStaff, PageForbidden, redirect, render, require

router = APIRouter(include_in_schema=False)
ViewStaff = Annotated[StaffContext, Depends(require(Permission.FUNNEL))]

CHANNELS_URL = "/showroom/channels"
RECENT = 10  # changes listed under "Recent changes"
MAX_CONFIRMED = 200  # a save changes at most 10 channels x 8 values


def may_edit(staff: StaffContext) -> bool:
    """The importer's managers: the permission, at no dealer (a dealer's manager has the role
    but not the network)."""
    return staff.can(Permission.NORMS) and staff.scope.network


def _editor_with_csrf(staff: ViewStaff, _checked: CsrfStaff) -> StaffContext:
    """Permission first (a clear "no access" page), then the form's CSRF token."""
    if not may_edit(staff):
        raise PageForbidden(
            "Only the importer's managers change channel names and norms; "
            "a dealer's managers see them here."
        )
    return staff


EditorStaff = Annotated[StaffContext, Depends(_editor_with_csrf)]


async def _sent_form(request: Request) -> FormData:
    return await request.form()  # read once (the CSRF check read it too); the handler is sync


SentForm = Annotated[FormData, Depends(_sent_form)]


def _page(
    request: Request,
    session: Session,
    staff: StaffContext,
    form: ChannelsForm,
    *,
    saved: int | None = None,
    status_code: int = 200,
) -> Response:
    editable = may_edit(staff)
    confirmed = (
        norms_edit.recent_changes(session, limit=saved, by_user_id=staff.user_id)
        if saved and editable
        else []
    )
    return render(
        request,
        "showroom/channels/page.html",
        {
            "form": form,
            "editable": editable,
            "saved": saved,
            "confirmed": confirmed,
            "recent": norms_edit.recent_changes(session, limit=RECENT) if editable else [],
            "steps": norms_edit.STEP_LABELS,
            "shown": norms_edit.shown,
        },
        status_code=status_code,
        staff=staff,
    )


@router.get(CHANNELS_URL, response_class=HTMLResponse)
def channels_page(
    request: Request,
    session: DbSession,
    staff: ViewStaff,
    saved: Annotated[int | None, Query(ge=0, le=MAX_CONFIRMED)] = None,
) -> Response:
    return _page(request, session, staff, norms_edit.current_form(session), saved=saved)


@router.post(CHANNELS_URL, response_class=HTMLResponse)
def save_channels(
    request: Request, session: DbSession, staff: EditorStaff, sent: SentForm
) -> Response:
    reset = sent.get("reset")
    form = norms_edit.read_form(
        session,
        lambda name: [value for value in sent.getlist(name) if isinstance(value, str)],
        reset=reset if isinstance(reset, str) else "",
    )
    if form.problems:
        return _page(request, session, staff, form, status_code=400)
    changes = norms_edit.save(session, form, actor=staff.email, by_user_id=staff.user_id)
    # This worker's pages show the new names at once; the others within a few seconds.
    request.app.state.channel_options.forget()
    return redirect(request, f"{CHANNELS_URL}?saved={len(changes)}")
