"""What the lead pages show: list rows, today's visitors, the delivery queue and the customer
page's lead panel."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from cdp.forms import (
    FormError,
)
from cdp.leads.labels import (
    OPTIONS,
    Options,
)
from cdp.local_time import to_local
from cdp.models import (
    Appointment,
    Delivery,
    Lead,
    Note,
)

if TYPE_CHECKING:
    from cdp.leads.checks import Assignees


@dataclass
class LeadRow:
    lead: Lead
    name: str | None
    latest_model: str | None
    latest_colour: str | None
    latest_colour_hex: str | None
    salesperson: str | None
    age: str
    overdue: bool
    next_action_local: datetime | None
    email: str | None = None
    phone: str | None = None


@dataclass
class LeadList:
    rows: list[LeadRow]
    total: int
    page: int
    pages: int
    per_page: int
    scope: str  # mine | unassigned | all | user
    salesperson_id: int | None
    unassigned_open: int


@dataclass
class ConfigurationGlance:
    code: str
    model: str | None
    trim: str | None
    colour: str | None
    colour_hex: str | None
    total_price: Decimal | None


@dataclass
class Visitor:
    appointment: Appointment
    starts_local: datetime
    name: str | None
    person: str | None
    configuration: ConfigurationGlance | None
    signals: list[tuple[str, str]]
    lead: Lead | None


@dataclass
class VisitorDay:
    day: date
    label: str  # Today, Tomorrow, or the weekday
    visitors: list[Visitor] = field(default_factory=list)


@dataclass
class DeliveryRow:
    delivery: Delivery
    name: str | None
    salesperson: str | None
    specialist: str | None
    appointment_local: datetime | None


@dataclass
class AssignmentLine:
    """One line of a lead's assignment history, as the customer page shows it."""

    at: datetime
    to_name: str | None
    from_name: str | None
    by_name: str | None  # None: routing
    dealer_code: str | None
    rule: str
    reason: str | None
    warning: str | None


@dataclass
class LeadPanel:
    """One lead on the customer page, with the stages it may move to."""

    lead: Lead
    transitions: list[str]
    salesperson: str | None
    is_open: bool
    # Whether the viewer may change it (a salesperson: theirs, or unassigned at their dealer,
    # which working makes theirs), and is offered "Take this lead": cdp/dealers/visibility.py.
    can_change: bool = True
    can_take: bool = False
    # Its assignments, oldest first (cdp/leads/assignments.py).
    history: list[AssignmentLine] = field(default_factory=list)


@dataclass
class DealPanel:
    """Everything the lead actions on a customer page need."""

    profile_id: uuid.UUID
    name: str | None
    leads: list[LeadPanel]
    default_model: str | None
    upcoming: list[tuple[Appointment, datetime]]
    notes: list[Note]
    names: dict[int, str]  # staff names by id, for salespeople and note authors
    salespeople: list[tuple[int, str]]  # whom a new lead may go to (the caller's dealers')
    assignees: Assignees | None  # whom each existing lead may go to, by its dealer
    people: list[tuple[int, str]]  # who may receive an appointment planned now (its dealer's)
    default_person: int | None  # the signed-in person, if they receive visitors
    can_deal: bool
    can_assign: bool
    can_plan: bool
    next_url: str
    error: FormError | None = None
    values: dict[str, str] = field(default_factory=dict)
    options: Options = OPTIONS

    def local(self, moment: datetime) -> datetime:
        return to_local(moment)

    def values_for(self, form: str, target_id: int | None = None) -> dict[str, str]:
        """What was typed into this form, if it is the one that was refused."""
        error = self.error
        if error is not None and error.form == form and error.target_id == target_id:
            return self.values
        return {}
