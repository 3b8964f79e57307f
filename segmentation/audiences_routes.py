"""The audience builder: rules with their live count, saved audiences (create, change, delete)
and each one's count as it is now. Permissions, CSRF and refused forms as in
`segmentation.routes`.

The builder shows rules as they stand (`audiences.builder_form`): every value ticked, so saving
a form untouched keeps its rules. Two changes ask once first (`confirm_step`, no JavaScript
needed): saving an audience that had rules with none (it would hold everyone), and deleting one.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from cdp.auth.staff import StaffContext
from cdp.deps import DbSession
from cdp.errors import CdpError, InvalidInput, NotFound
from cdp.ids import row_id
from cdp.models import Audience
from cdp.text import plural
from cdp.web import confirm_step, id_or_404, not_found, redirect, render
from segmentation import audiences, service, targeting
from segmentation.routes import SegmentsPoster, SegmentsStaff, Short
from segmentation.schemas import (
    CONSENT_LABELS,
    VISIT_LABELS,
    AudienceCount,
    AudienceRules,
    clean_name,
    rules_from_form,
)

router = APIRouter(include_in_schema=False)

Many = Annotated[list[str], Form()]
ManyQuery = Annotated[list[str], Query()]
# Far beyond the 200 characters a name may have: a longer name is refused by the rules (the
# field marked, what was typed kept), not cut short or answered with a bare error page.
NameField = Annotated[str, Form(max_length=20_000)]
Confirm = Annotated[str, Form(max_length=10)]

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
        return targeting.count(session, _rules(values)), None
    except CdpError as error:
        return None, error


def _builder(
    request: Request,
    session: Session,
    *,
    values: dict[str, Any],
    name: str = "",
    editing: int | None = None,
    editing_name: str = "",
    error: CdpError | None = None,
    problem: str | None = None,
    status_code: int = 200,
    saved: int | None = None,
) -> Response:
    form = audiences.builder_form(session, values)
    count, count_error = _count_or_error(session, form.values)
    current = service.current_run(session)
    return render(
        request,
        "segmentation/audiences.html",
        {
            "options": form.options,
            "values": form.values,
            "segment_notes": form.notes,
            "name": name,
            "editing": editing,
            "editing_name": editing_name,
            "error": error,
            "problem": problem,
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
        problem = None
        try:
            values = _values_of(audiences.rules_of(audience))
        except InvalidInput as unreadable:
            values = _form_values()
            problem = (
                f"The rules saved with this audience cannot be read ({unreadable.message}): "
                "the form starts empty. Set its rules again; saving it without any asks first."
            )
        return _builder(
            request,
            session,
            values=values,
            name=audience.name,
            editing=audience.id,
            editing_name=audience.name,
            problem=problem,
        )
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
        count = targeting.count(session, audiences.rules_of(audience))
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
    confirm: str = "",
) -> Response:
    before = None
    try:
        if audience_id is not None:
            before = audiences.get_audience(session, audience_id)
        rules = _rules(values)
        if before is not None and before.rules and rules.is_empty and confirm != "yes":
            clean_name(name)  # a refused name is said before anything is asked
            return _confirm_everyone(request, session, before, name)
        audience = audiences.save_audience(
            session,
            name=name,
            rules=rules,
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
            editing_name=before.name if before is not None else "",
            error=error,
            status_code=error.status_code,
        )
    return redirect(request, f"/segments/audiences?saved={audience.id}#audience-{audience.id}")


def _number(n: int) -> str:
    return f"{n:,}".replace(",", ".")  # as the pages write numbers: 3.220


def _confirm_everyone(
    request: Request, session: Session, audience: Audience, name: str
) -> Response:
    """Saving an audience that had rules with none makes it everyone: asked once."""
    everyone = targeting.count(session, AudienceRules())
    return confirm_step(
        request,
        question=f"Save “{audience.name}” for everyone?",
        details=[
            "With no rules, this audience holds every profile: "
            f"{_number(everyone.total)} {plural(everyone.total, 'profile')} now, "
            f"{_number(everyone.exportable)} of whom can be e-mailed.",
            "Its rules until now: " + "; ".join(audiences.summary_of(session, audience)) + ".",
        ],
        action=f"/segments/audiences/{audience.id}",
        fields={"name": name, **{k: v for k, v in _form_values().items() if isinstance(v, str)}},
        yes="Save it for everyone",
        back_url=f"/segments/audiences?edit={audience.id}",
        back_label="No, keep its rules",
    )


@router.post("/segments/audiences", response_class=HTMLResponse)
def create_audience(
    request: Request,
    session: DbSession,
    staff: SegmentsPoster,
    name: NameField = "",
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
    name: NameField = "",
    segment: Many = [],  # noqa: B006
    model: Many = [],  # noqa: B006
    body_type: Many = [],  # noqa: B006
    colour: Many = [],  # noqa: B006
    lead_stage: Many = [],  # noqa: B006
    channel: Many = [],  # noqa: B006
    active_within_days: Short = "",
    consent: Short = "any",
    showroom_visit: Short = "any",
    confirm: Confirm = "",
) -> Response:
    """Change a saved audience's name or rules (to none: asked first)."""
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
        confirm=confirm,
    )


@router.post("/segments/audiences/{audience_id}/delete", response_class=HTMLResponse)
def delete_audience(
    request: Request,
    session: DbSession,
    staff: SegmentsPoster,
    audience_id: str,
    confirm: Confirm = "",
) -> Response:
    """Delete a saved audience, asked once first; its exports stay in the log."""
    try:
        audience = audiences.get_audience(session, id_or_404(audience_id, "audience"))
    except NotFound as error:
        raise not_found("audience") from error
    if confirm != "yes":
        return confirm_step(
            request,
            question=f"Delete the audience “{audience.name}”?",
            details=[
                "Its rules: " + "; ".join(audiences.summary_of(session, audience)) + ".",
                "Its exports stay in the export log. A deleted audience cannot be brought back: "
                "you would build and save its rules again.",
            ],
            action=f"/segments/audiences/{audience.id}/delete",
            fields={},
            yes="Delete the audience",
            back_url=f"/segments/audiences#audience-{audience.id}",
            back_label="No, keep it",
        )
    name = audiences.delete_audience(session, audience.id)
    return redirect(
        request,
        "/segments/audiences",
        done=f"The audience “{name}” was deleted; its exports stay in the export log.",
    )
