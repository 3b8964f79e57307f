"""A lead downloaded as an ADF document, for a dealer's own CRM (docs/adf.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from cdp.adf.export import lead_as_adf
from cdp.auth.permissions import Permission
from cdp.auth.staff import StaffContext
from cdp.deps import DbSession
from cdp.web import lead_or_404, require

router = APIRouter(include_in_schema=False)
LeadStaff = Annotated[StaffContext, Depends(require(Permission.LEADS))]


@router.get("/showroom/leads/{lead_id}/adf")
def lead_adf(lead_id: str, session: DbSession, staff: LeadStaff) -> Response:
    lead = lead_or_404(session, lead_id, staff.scope)
    return Response(
        lead_as_adf(session, lead),
        media_type="application/x-adf+xml",
        headers={"Content-Disposition": f'attachment; filename="lead-{lead.id}.adf.xml"'},
    )
