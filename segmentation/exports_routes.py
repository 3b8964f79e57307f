"""Contact data leaving the CDP: an audience's or a segment's e-mail-consented contacts as CSV,
how many a segment may e-mail, and the export log of every download. Permissions as in
`segmentation.routes`.
"""

from __future__ import annotations

import re
import unicodedata

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from sqlalchemy.orm import Session

from cdp.auth.staff import StaffContext
from cdp.deps import DbSession
from cdp.errors import CdpError, NotFound
from cdp.models import utcnow
from cdp.web import id_or_404, not_found, render
from segmentation import audiences, export, targeting
from segmentation.routes import SegmentsStaff
from segmentation.schemas import EXPORT_COLUMNS

router = APIRouter(include_in_schema=False)

EXPORT_LOG_LIMIT = 200


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:60] or "export"


def _download(
    request: Request,
    session: Session,
    staff: StaffContext,
    target: export.ExportTarget,
    filename: str,
) -> Response:
    # The rows are read while the body is sent, in a session of the stream's own; this one ends
    # now (on SQLite it would otherwise hold the write lock the export log needs).
    session.commit()
    stream = export.stream_export(
        request.app.state.sessionmaker,
        target,
        exported_by=staff.email,
        exported_by_user_id=staff.user_id,
    )
    stamp = utcnow().strftime("%Y%m%d-%H%M")
    return StreamingResponse(
        stream,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}-{stamp}.csv"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


def _refused(request: Request, error: CdpError) -> Response:
    return render(
        request,
        "error.html",
        {"status": error.status_code, "detail": error.message},
        status_code=error.status_code,
    )


@router.get("/segments/audiences/{audience_id}/export.csv")
def export_audience(
    request: Request, session: DbSession, staff: SegmentsStaff, audience_id: str
) -> Response:
    """The audience's e-mail-consented contacts as CSV (recorded in the export log)."""
    try:
        audience = audiences.get_audience(session, id_or_404(audience_id, "audience"))
    except NotFound as error:
        raise not_found("audience") from error
    try:
        target = export.audience_target(session, audience)
    except CdpError as error:
        return _refused(request, error)
    return _download(request, session, staff, target, f"audience-{_slug(audience.name)}")


@router.get("/segments/{segment_id}/export.csv")
def export_segment(
    request: Request, session: DbSession, staff: SegmentsStaff, segment_id: str
) -> Response:
    """The segment's e-mail-consented members as CSV (recorded in the export log)."""
    try:
        segment = export.get_segment(session, id_or_404(segment_id, "segment"))
    except NotFound as error:
        raise not_found("segment") from error
    target = export.segment_target(session, segment)
    return _download(request, session, staff, target, f"segment-{_slug(segment.display_name)}")


@router.get("/segments/{segment_id}/count", response_class=HTMLResponse)
def segment_count(
    request: Request, session: DbSession, staff: SegmentsStaff, segment_id: str
) -> Response:
    """A segment's members now, and how many may be e-mailed (loaded into its card)."""
    segment_number = id_or_404(segment_id, "segment")
    try:
        export.get_segment(session, segment_number)
    except NotFound as error:
        raise not_found("segment") from error
    count = targeting.count_segment(session, segment_number)
    return render(request, "segmentation/_audience_count.html", {"count": count, "compact": True})


@router.get("/segments/exports", response_class=HTMLResponse)
def export_log(request: Request, session: DbSession, staff: SegmentsStaff) -> Response:
    """Every export of contact data: who, when, what, how many rows."""
    exports = export.list_exports(session, limit=EXPORT_LOG_LIMIT)
    return render(
        request,
        "segmentation/exports.html",
        {
            "exports": exports,
            "rules": export.rules_in_words(session, exports),
            "limit": EXPORT_LOG_LIMIT,
            "columns": EXPORT_COLUMNS,
        },
    )
