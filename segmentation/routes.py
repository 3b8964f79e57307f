"""The marketer pages: segments overview (with the background run and its progress), rename, the
audience builder with its live count, CSV downloads and the export log.

Every page needs the SEGMENTS permission (marketing, managers, admins); every POST carries the
session's CSRF token. A refused form is shown again with status 400 (409 for a name already
taken or a run already under way) and its message; the session is rolled back, so nothing of it
is stored. After a successful POST: a redirect (HX-Redirect for htmx), except the inline rename,
which answers an htmx request with the renamed heading.

Mounted by cdp.app through `segmentation.routes.router`.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from sqlalchemy.orm import Session

from cdp.auth.permissions import Permission
from cdp.auth.staff import StaffContext
from cdp.deps import DbSession
from cdp.errors import CdpError, InvalidInput, NotFound
from cdp.ids import row_id, whole_number
from cdp.models import utcnow
from cdp.text import plural
from cdp.web import (
    id_or_404,
    is_htmx,
    not_found,
    posting,
    redirect,
    render,
    require,
)
from segmentation import audiences, export, job, service
from segmentation.schemas import (
    CONSENT_LABELS,
    EXPORT_COLUMNS,
    VISIT_LABELS,
    AudienceCount,
    AudienceRules,
    rules_from_form,
)

router = APIRouter(include_in_schema=False)

SegmentsStaff = Annotated[StaffContext, Depends(require(Permission.SEGMENTS))]
Short = Annotated[str, Form(max_length=400)]
Many = Annotated[list[str], Form()]
ManyQuery = Annotated[list[str], Query()]

RUN_HISTORY = 10
EXPORT_LOG_LIMIT = 200
DEFAULT_RULE_VALUES: dict[str, Any] = {
    "segment": [],
    "model": [],
    "body_type": [],
    "colour": [],
    "lead_stage": [],
    "active_within_days": "",
    "channel": [],
    "consent": "any",
    "showroom_visit": "any",
}


SegmentsPoster = Annotated[StaffContext, Depends(posting(Permission.SEGMENTS))]


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:60] or "export"


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
    name: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """The marketer's own name for a segment; an empty name goes back to the generated one."""
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


# --- audiences ----------------------------------------------------------------------------------
def _form_values(**values: Any) -> dict[str, Any]:
    return {**DEFAULT_RULE_VALUES, **values}


def _values_of(rules: AudienceRules) -> dict[str, Any]:
    """The builder's field values for stored rules."""
    return _form_values(
        segment=[str(s) for s in rules.segments],
        model=list(rules.models),
        body_type=list(rules.body_types),
        colour=list(rules.colours),
        lead_stage=list(rules.lead_stages),
        active_within_days=str(rules.active_within_days or ""),
        channel=list(rules.channels),
        consent=rules.consent,
        showroom_visit=rules.showroom_visit,
    )


def _rules(values: dict[str, Any]) -> AudienceRules:
    return rules_from_form(
        segment=values["segment"],
        model=values["model"],
        body_type=values["body_type"],
        colour=values["colour"],
        lead_stage=values["lead_stage"],
        active_within_days=values["active_within_days"],
        channel=values["channel"],
        consent=values["consent"],
        showroom_visit=values["showroom_visit"],
    )


def _count_or_error(
    session: Session, values: dict[str, Any]
) -> tuple[AudienceCount | None, CdpError | None]:
    try:
        return audiences.count(session, _rules(values)), None
    except CdpError as error:
        return None, error


def _builder(
    request: Request,
    session: Session,
    *,
    values: dict[str, Any],
    name: str = "",
    editing: int | None = None,
    error: CdpError | None = None,
    status_code: int = 200,
    saved: int | None = None,
) -> Response:
    count, count_error = _count_or_error(session, values)
    current = service.current_run(session)
    return render(
        request,
        "segmentation/audiences.html",
        {
            "options": audiences.builder_options(session),
            "values": values,
            "name": name,
            "editing": editing,
            "error": error,
            "count": count,
            "count_error": count_error,
            "saved_audiences": audiences.list_audiences(session),
            "segments": service.list_segments(session) if current else [],
            "consent_labels": CONSENT_LABELS,
            "visit_labels": VISIT_LABELS,
            "saved": saved,
        },
        status_code=status_code,
    )


@router.get("/segments/audiences", response_class=HTMLResponse)
def audience_builder(
    request: Request,
    session: DbSession,
    staff: SegmentsStaff,
    edit: str = "",
    saved: str = "",
    segment: ManyQuery = [],  # noqa: B006 - FastAPI copies defaults
    model: ManyQuery = [],  # noqa: B006
    body_type: ManyQuery = [],  # noqa: B006
    colour: ManyQuery = [],  # noqa: B006
    lead_stage: ManyQuery = [],  # noqa: B006
    channel: ManyQuery = [],  # noqa: B006
    active_within_days: str = "",
    consent: str = "any",
    showroom_visit: str = "any",
) -> Response:
    """The builder (empty, with rules from the link, or with a saved audience's rules to
    change) and the saved audiences."""
    if edit:
        try:
            audience = audiences.get_audience(session, id_or_404(edit, "audience"))
        except NotFound as error:
            raise not_found("audience") from error
        try:
            values = _values_of(audiences.rules_of(audience))
        except InvalidInput:
            values = _form_values()
        return _builder(request, session, values=values, name=audience.name, editing=audience.id)
    values = _form_values(
        segment=segment,
        model=model,
        body_type=body_type,
        colour=colour,
        lead_stage=lead_stage,
        channel=channel,
        active_within_days=active_within_days[:20],
        consent=consent[:20],
        showroom_visit=showroom_visit[:20],
    )
    saved_id = row_id(saved)
    return _builder(request, session, values=values, saved=saved_id)


@router.get("/segments/audiences/count", response_class=HTMLResponse)
def audience_count(
    request: Request,
    session: DbSession,
    staff: SegmentsStaff,
    segment: ManyQuery = [],  # noqa: B006 - FastAPI copies defaults
    model: ManyQuery = [],  # noqa: B006
    body_type: ManyQuery = [],  # noqa: B006
    colour: ManyQuery = [],  # noqa: B006
    lead_stage: ManyQuery = [],  # noqa: B006
    channel: ManyQuery = [],  # noqa: B006
    active_within_days: str = "",
    consent: str = "any",
    showroom_visit: str = "any",
) -> Response:
    """The live count for the rules as they stand in the builder (htmx, on every change)."""
    values = _form_values(
        segment=segment,
        model=model,
        body_type=body_type,
        colour=colour,
        lead_stage=lead_stage,
        channel=channel,
        active_within_days=active_within_days[:20],
        consent=consent[:20],
        showroom_visit=showroom_visit[:20],
    )
    count, error = _count_or_error(session, values)
    return render(
        request,
        "segmentation/_audience_count.html",
        {"count": count, "count_error": error},
        status_code=error.status_code if error else 200,
    )


@router.get("/segments/audiences/{audience_id}/count", response_class=HTMLResponse)
def saved_audience_count(
    request: Request, session: DbSession, staff: SegmentsStaff, audience_id: str
) -> Response:
    """A saved audience's count as it is now (the list loads these one by one)."""
    try:
        audience = audiences.get_audience(session, id_or_404(audience_id, "audience"))
    except NotFound as missing:
        raise not_found("audience") from missing
    count: AudienceCount | None = None
    problem: CdpError | None = None
    try:
        count = audiences.count(session, audiences.rules_of(audience))
    except CdpError as refused:
        problem = refused
    return render(
        request,
        "segmentation/_audience_count.html",
        {"count": count, "count_error": problem, "compact": True},
    )


def _save(
    request: Request,
    session: Session,
    staff: StaffContext,
    *,
    audience_id: int | None,
    name: str,
    values: dict[str, Any],
) -> Response:
    try:
        audience = audiences.save_audience(
            session,
            name=name,
            rules=_rules(values),
            user_id=staff.user_id,
            audience_id=audience_id,
        )
    except NotFound as error:
        raise not_found("audience") from error
    except CdpError as error:
        session.rollback()
        return _builder(
            request,
            session,
            values=values,
            name=name,
            editing=audience_id,
            error=error,
            status_code=error.status_code,
        )
    return redirect(request, f"/segments/audiences?saved={audience.id}#audience-{audience.id}")


@router.post("/segments/audiences", response_class=HTMLResponse)
def create_audience(
    request: Request,
    session: DbSession,
    staff: SegmentsPoster,
    name: Annotated[str, Form(max_length=1000)] = "",
    segment: Many = [],  # noqa: B006
    model: Many = [],  # noqa: B006
    body_type: Many = [],  # noqa: B006
    colour: Many = [],  # noqa: B006
    lead_stage: Many = [],  # noqa: B006
    channel: Many = [],  # noqa: B006
    active_within_days: Short = "",
    consent: Short = "any",
    showroom_visit: Short = "any",
) -> Response:
    """Save the builder's rules as a new audience."""
    values = _form_values(
        segment=segment,
        model=model,
        body_type=body_type,
        colour=colour,
        lead_stage=lead_stage,
        channel=channel,
        active_within_days=active_within_days,
        consent=consent,
        showroom_visit=showroom_visit,
    )
    return _save(request, session, staff, audience_id=None, name=name, values=values)


@router.post("/segments/audiences/{audience_id}", response_class=HTMLResponse)
def update_audience(
    request: Request,
    session: DbSession,
    staff: SegmentsPoster,
    audience_id: str,
    name: Annotated[str, Form(max_length=1000)] = "",
    segment: Many = [],  # noqa: B006
    model: Many = [],  # noqa: B006
    body_type: Many = [],  # noqa: B006
    colour: Many = [],  # noqa: B006
    lead_stage: Many = [],  # noqa: B006
    channel: Many = [],  # noqa: B006
    active_within_days: Short = "",
    consent: Short = "any",
    showroom_visit: Short = "any",
) -> Response:
    """Change a saved audience's name or rules."""
    values = _form_values(
        segment=segment,
        model=model,
        body_type=body_type,
        colour=colour,
        lead_stage=lead_stage,
        channel=channel,
        active_within_days=active_within_days,
        consent=consent,
        showroom_visit=showroom_visit,
    )
    return _save(
        request,
        session,
        staff,
        audience_id=id_or_404(audience_id, "audience"),
        name=name,
        values=values,
    )


@router.post("/segments/audiences/{audience_id}/delete", response_class=HTMLResponse)
def delete_audience(
    request: Request, session: DbSession, staff: SegmentsPoster, audience_id: str
) -> Response:
    try:
        audiences.delete_audience(session, id_or_404(audience_id, "audience"))
    except NotFound as error:
        raise not_found("audience") from error
    return redirect(request, "/segments/audiences")


# --- downloads and the export log ---------------------------------------------------------------
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
    count = audiences.count_segment(session, segment_number)
    return render(request, "segmentation/_audience_count.html", {"count": count, "compact": True})


@router.get("/segments/exports", response_class=HTMLResponse)
def export_log(request: Request, session: DbSession, staff: SegmentsStaff) -> Response:
    """Every export of contact data: who, when, what, how many rows."""
    return render(
        request,
        "segmentation/exports.html",
        {
            "exports": export.list_exports(session, limit=EXPORT_LOG_LIMIT),
            "limit": EXPORT_LOG_LIMIT,
            "columns": EXPORT_COLUMNS,
        },
    )
