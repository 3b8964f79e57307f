"""The marketer's segments pages: the overview (with the background run and its progress) and
renaming a segment. The audience builder is in `segmentation.audiences_routes`, CSV downloads
and the export log in `segmentation.exports_routes`.

Every page of the three needs the SEGMENTS permission (marketing, managers, admins); every
POST carries the session's CSRF token. A refused form is shown again with status 400 (409 for a
name already taken, an audience's or another segment's of the run, or a run already under way)
and its message; the session is rolled back, so nothing of it is stored. After a successful
POST: a redirect (HX-Redirect for htmx), except the inline rename, which answers an htmx request
with the renamed heading.

Mounted by cdp.app through the three modules' `router`s, this one first.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from cdp.auth.permissions import Permission
from cdp.auth.staff import StaffContext
from cdp.deps import DbSession
from cdp.errors import CdpError, InvalidInput, NotFound
from cdp.ids import whole_number
from cdp.models import utcnow
from cdp.text import plural
from cdp.web import id_or_404, is_htmx, not_found, posting, redirect, render, require
from segmentation import job, service

router = APIRouter(include_in_schema=False)

SegmentsStaff = Annotated[StaffContext, Depends(require(Permission.SEGMENTS))]
SegmentsPoster = Annotated[StaffContext, Depends(posting(Permission.SEGMENTS))]
Short = Annotated[str, Form(max_length=400)]

RUN_HISTORY = 10


# --- segments overview --------------------------------------------------------------------------
def _active_run(runs: list[service.RunStatus]) -> service.RunStatus | None:
    """A run under way that is not abandoned (see service.STALE_AFTER)."""
    now = utcnow()
    for run in runs:
        if not run.finished and now - run.created_at < service.STALE_AFTER:
            return run
    return None


def _fmt(value: Any, unit: Any) -> str:
    """A feature mean as a marketer reads it: shares and yes/no as percentages, prices in k€."""
    if not isinstance(value, int | float):
        return "–"
    if unit in ("share", "yes/no"):
        return f"{value:.0%}"
    if unit == "k€":
        return f"€ {value:,.0f}k".replace(",", ".")
    if unit == "days":
        return f"{value:.0f} {plural(round(value), 'day')}"
    if unit == "per week":
        return f"{value:.1f}/week"
    return f"{value:.1f}"


def _features(segment: service.SegmentView, *, limit: int | None = None) -> list[dict[str, Any]]:
    """The segment's feature means against everyone's, most distinctive first, for the chart."""
    features = segment.profile.get("features", {})
    rows: list[dict[str, Any]] = []
    for name, values in features.items():
        if not isinstance(values, dict):
            continue
        z = values.get("z")
        z = float(z) if isinstance(z, int | float) else 0.0
        rows.append(
            {
                "name": name,
                "label": values.get("label", name),
                "unit": values.get("unit", ""),
                "segment": _fmt(values.get("segment"), values.get("unit")),
                "overall": _fmt(values.get("overall"), values.get("unit")),
                "z": z,
                # Bar length: standard deviations from the average, capped for the chart.
                "width": round(min(abs(z), 2.0) / 2.0 * 100, 1),
            }
        )
    rows.sort(key=lambda row: -abs(row["z"]))
    return rows[:limit] if limit else rows


def _overview(
    request: Request,
    session: Session,
    *,
    error: CdpError | None = None,
    status_code: int = 200,
    k: str = "",
) -> Response:
    runs = service.list_runs(session, limit=RUN_HISTORY)
    current = service.current_run(session)
    segments = service.list_segments(session) if current else []
    return render(
        request,
        "segmentation/overview.html",
        {
            "runs": runs,
            "active": _active_run(runs),
            "current": current,
            "segments": segments,
            "features": {s.id: _features(s) for s in segments},
            "top_features": {s.id: _features(s, limit=6) for s in segments},
            "error": error,
            "k": k,
        },
        status_code=status_code,
    )


@router.get("/segments", response_class=HTMLResponse)
def overview(request: Request, session: DbSession, staff: SegmentsStaff) -> Response:
    """The current run's segments as cards, the run under way, and the run history."""
    return _overview(request, session)


@router.post("/segments/runs", response_class=HTMLResponse)
def start_run(
    request: Request, session: DbSession, staff: SegmentsPoster, k: Short = ""
) -> Response:
    """Start a run in the background; the overview shows its progress."""
    try:
        number = k.strip()
        segments = whole_number(number, most=999) if number else None
        if number and segments is None:
            raise InvalidInput("the number of segments must be a whole number", field="k")
        run = service.create_run(
            session,
            created_by=staff.name,
            created_by_user_id=staff.user_id,
            k=segments,
        )
        run_id = run.id
        # Committed before the thread starts: it reads the run in sessions of its own, and on
        # SQLite this session would otherwise hold the write lock the run needs.
        session.commit()
    except CdpError as error:
        session.rollback()
        return _overview(request, session, error=error, status_code=error.status_code, k=k)
    job.start_run_in_background(request.app.state.sessionmaker, run_id)
    return redirect(request, "/segments")


@router.get("/segments/runs/{run_id}/progress", response_class=HTMLResponse)
def run_progress(
    request: Request, session: DbSession, staff: SegmentsStaff, run_id: str
) -> Response:
    """The progress bar of a run (polled every second while it works)."""
    try:
        run = service.run_status(session, id_or_404(run_id, "segmentation run"))
    except NotFound as error:
        raise not_found("segmentation run") from error
    response = render(request, "segmentation/_run_progress.html", {"run": run})
    if run.status == "done" and is_htmx(request):
        response.headers["HX-Refresh"] = "true"  # the page shows the new segments
    return response


# --- renaming a segment -------------------------------------------------------------------------
def _segment_or_404(session: Session, segment_id: str) -> service.SegmentView:
    try:
        return service.get_segment(session, id_or_404(segment_id, "segment"))
    except NotFound as error:
        raise not_found("segment") from error


@router.get("/segments/{segment_id}/rename", response_class=HTMLResponse)
def rename_form(
    request: Request, session: DbSession, staff: SegmentsStaff, segment_id: str
) -> Response:
    """The rename form: inline in the card (htmx), or a page of its own."""
    segment = _segment_or_404(session, segment_id)
    inline = is_htmx(request)
    template = "segmentation/_rename_form.html" if inline else "segmentation/rename.html"
    return render(
        request,
        template,
        {"segment": segment, "value": segment.custom_name or "", "inline": inline},
    )


@router.get("/segments/{segment_id}/title", response_class=HTMLResponse)
def segment_title(
    request: Request, session: DbSession, staff: SegmentsStaff, segment_id: str
) -> Response:
    """The card's heading (what a cancelled inline rename goes back to)."""
    segment = _segment_or_404(session, segment_id)
    return render(request, "segmentation/_segment_title.html", {"segment": segment})


@router.post("/segments/{segment_id}/rename", response_class=HTMLResponse)
def rename(
    request: Request,
    session: DbSession,
    staff: SegmentsPoster,
    segment_id: str,
    name: Annotated[str, Form(max_length=20_000)] = "",
) -> Response:
    """The marketer's own name for a segment; an empty name goes back to the generated one.
    A name over 200 characters, or another segment's of the run, is refused with the field
    marked and what was typed kept (the field bound is far above it: no bare error page)."""
    segment = _segment_or_404(session, segment_id)
    try:
        renamed = service.rename_segment(session, segment.id, name)
    except CdpError as error:
        session.rollback()
        inline = is_htmx(request)
        template = "segmentation/_rename_form.html" if inline else "segmentation/rename.html"
        return render(
            request,
            template,
            {"segment": segment, "value": name, "error": error, "inline": inline},
            status_code=error.status_code,
        )
    if is_htmx(request):
        return render(request, "segmentation/_segment_title.html", {"segment": renamed})
    return redirect(request, f"/segments#segment-{renamed.id}")
