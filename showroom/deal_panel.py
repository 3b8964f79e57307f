"""The lead section of a customer page: what it shows (the customer's leads and the stages each
may move to, notes, upcoming appointments, who may be chosen for what), who may use it, and how a
refused form on it is shown again. Its forms post to deal_routes.py and leads_routes.py."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from cdp.auth.permissions import Permission
from cdp.auth.staff import StaffContext
from cdp.dealers.visibility import may_change_lead, may_take_lead
from cdp.errors import CdpError, NotFound
from cdp.forms import (
    FormError,
)
from cdp.ids import row_id
from cdp.leads import appointments as appointment_service
from cdp.leads import checks as lead_checks
from cdp.leads import repository as leads_repo
from cdp.leads import stages as lead_stages
from cdp.leads.assignments import histories
from cdp.leads.schemas import DealPanel, LeadPanel
from cdp.local_time import to_local
from cdp.models import OPEN_STAGES, utcnow
from cdp.profiles import repository as profiles_repo
from cdp.profiles.service import display_name
from cdp.web import (
    customer_url,
    posting,
    render,
    require,
)


def _host_asked(error: FormError | None, values: dict[str, str] | None) -> int | None:
    """Whom a refused appointment form asked to receive the visitor, if anyone."""
    if error is None or error.form != "appointment" or not values:
        return None
    return row_id(values.get("user_id", "").strip())


def deal_panel(
    session: Session,
    *,
    profile_id: uuid.UUID,
    staff: StaffContext,
    now: datetime,
    error: FormError | None = None,
    values: dict[str, str] | None = None,
    next_url: str | None = None,
) -> DealPanel:
    """What the lead actions on a customer page need; raises NotFound for an unknown profile.

    The customer page passes this as `deal` to templates/showroom/customer/_deal.html.
    """
    profile = profiles_repo.live_profile(session, profile_id)
    if profile is None:
        raise NotFound("There is no customer with this link.", field="profile_id")
    ids = [profile.id, *profiles_repo.absorbed_ids(session, profile.id)]
    leads = sorted(
        leads_repo.leads_of(session, ids, staff.scope),
        key=lambda lead: lead.stage not in OPEN_STAGES,
    )
    can_deal = staff.can(Permission.CUSTOMER_DEAL)
    leads_all = staff.can(Permission.LEADS_ALL)
    notes = list(leads_repo.notes_of(session, ids, staff.scope)) if can_deal else []
    upcoming = sorted(
        (
            (a, to_local(a.starts_at))
            for a in leads_repo.appointments_of(session, ids, staff.scope)
            if a.status == "planned" and a.starts_at >= now - lead_checks.PAST_SLACK
        ),
        key=lambda pair: pair[0].starts_at,
    )
    names = leads_repo.staff_names(
        session,
        {lead.assigned_user_id for lead in leads if lead.assigned_user_id}
        | {note.user_id for note in notes if note.user_id}
        | {a.user_id for a, _ in upcoming if a.user_id},
    )
    configurations = leads_repo.latest_configurations(session, [profile.id])
    latest = configurations.get(profile.id)
    name = leads_repo.profile_names(session, [profile.id]).get(profile.id)
    if name is None:
        name = display_name({t.name: t.value for t in profiles_repo.traits(session, [profile.id])})
    # Who may receive an appointment planned now: the staff of the dealer it would belong to.
    people = (
        appointment_service.host_choices(
            session,
            profile_id=profile.id,
            planner_id=staff.user_id,
            scope=staff.scope,
            chosen=_host_asked(error, values),
        )
        if staff.can(Permission.APPOINTMENTS)
        else []
    )
    assignable = (
        lead_checks.assignees(session, staff.scope) if staff.can(Permission.LEADS_ALL) else None
    )
    history = histories(session, [lead.id for lead in leads]) if can_deal else {}
    return DealPanel(
        profile_id=profile.id,
        name=name,
        leads=[
            LeadPanel(
                lead=lead,
                transitions=lead_stages.allowed_stages(lead.stage),
                salesperson=names.get(lead.assigned_user_id or 0),
                is_open=lead.stage in OPEN_STAGES,
                can_change=may_change_lead(
                    staff.scope, user_id=staff.user_id, leads_all=leads_all, lead=lead
                )
                or may_take_lead(staff.scope, leads_all=leads_all, lead=lead),
                can_take=lead.stage in OPEN_STAGES
                and not leads_all
                and staff.can(Permission.LEADS)
                and lead.assigned_user_id is None
                and may_take_lead(staff.scope, leads_all=leads_all, lead=lead),
                history=history.get(lead.id, []),
            )
            for lead in leads
        ]
        if can_deal
        else [],
        default_model=(latest.model if latest else None)
        or next((lead.model for lead in leads if lead.model), None),
        upcoming=upcoming,
        notes=notes,
        names=names,
        salespeople=assignable.everyone if assignable else [],
        assignees=assignable,
        people=people,
        default_person=staff.user_id if any(pid == staff.user_id for pid, _ in people) else None,
        can_deal=can_deal,
        can_assign=staff.can(Permission.LEADS_ALL),
        can_plan=staff.can(Permission.APPOINTMENTS),
        next_url=next_url or customer_url(profile.id),
        error=error,
        values=values or {},
    )


DealStaff = Annotated[StaffContext, Depends(require(Permission.CUSTOMER_DEAL))]


DealPoster = Annotated[StaffContext, Depends(posting(Permission.CUSTOMER_DEAL))]


def refuse_on_deal_page(
    request: Request,
    session: Session,
    staff: StaffContext,
    *,
    profile_id: uuid.UUID,
    error: CdpError,
    form: str,
    values: dict[str, str],
    target_id: int | None = None,
    next_url: str | None = None,
) -> Response:
    """Roll back whatever the refused request did, and show its form again with the reason."""
    session.rollback()
    panel = deal_panel(
        session,
        profile_id=profile_id,
        staff=staff,
        now=utcnow(),
        error=FormError(form=form, message=error.message, field=error.field, target_id=target_id),
        values=values,
        next_url=next_url,
    )
    return render(
        request, "showroom/leads/deal.html", {"deal": panel}, status_code=error.status_code
    )
