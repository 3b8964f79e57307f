"""What the lead pages show and accept: choices with their labels, form parsing, list rows.

Times are stored in UTC and shown, and typed, in the showroom's own time zone.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from cdp.errors import InvalidInput
from cdp.ids import row_id
from cdp.models import (
    APPOINTMENT_KINDS,
    APPOINTMENT_STATUSES,
    CONTACT_METHODS,
    CONTACT_OUTCOMES,
    LEAD_CHANNELS,
    LEAD_STAGES,
    LOST_REASONS,
    Appointment,
    Delivery,
    Lead,
    Note,
)

SHOWROOM_TZ = ZoneInfo("Europe/Amsterdam")

INTEREST_LEVELS = ("hot", "warm", "cold")
BUDGET_BANDS = ("under_25k", "25k_40k", "40k_60k", "60k_80k", "over_80k")
TIMEFRAMES = ("this_month", "within_3_months", "within_6_months", "later")
MODEL_DIRECTIONS = ("higher", "lower")

LABELS: dict[str, dict[str, str]] = {
    "channel": {
        "website": "Website form",
        "importer": "Importer",
        "marketplace": "Marketplace",
        "phone": "Phone",
        "walk_in": "Walk-in",
        "referral": "Referral",
        "direct_mail": "Direct mail",
        "event": "Event",
    },
    "stage": {
        "new": "New",
        "attempted": "Attempted (not reached)",
        "reached": "Reached",
        "appointment": "Appointment",
        "test_drive": "Test drive",
        "quote": "Quote",
        "sold": "Sold",
        "delivered": "Delivered",
        "lost": "Lost",
        "invalid": "Invalid",
        "duplicate": "Duplicate",
    },
    "lost_reason": {
        "bought_elsewhere": "Bought elsewhere (say which brand or dealer)",
        "price": "Price",
        "stock_or_delivery_time": "Stock or delivery time",
        "not_reachable": "Not reachable",
        "no_longer_interested": "No longer interested",
        "process_or_experience": "Process or experience",
        "other": "Other (say what)",
    },
    "method": {"call": "Call", "email": "E-mail", "whatsapp": "WhatsApp", "sms": "SMS"},
    "outcome": {
        "reached": "Reached",
        "no_answer": "No answer",
        "voicemail": "Voicemail",
        "wrong_number": "Wrong number",
        "replied": "Replied",
    },
    "kind": {"visit": "Visit", "test_drive": "Test drive", "delivery": "Delivery"},
    "status": {
        "planned": "Planned",
        "showed": "Arrived",
        "no_show": "No show",
        "cancelled": "Cancelled",
    },
    "interest_level": {"hot": "Hot", "warm": "Warm", "cold": "Cold"},
    "budget_band": {
        "under_25k": "under € 25.000",
        "25k_40k": "€ 25.000 – 40.000",
        "40k_60k": "€ 40.000 – 60.000",
        "60k_80k": "€ 60.000 – 80.000",
        "over_80k": "over € 80.000",
    },
    "timeframe": {
        "this_month": "this month",
        "within_3_months": "within 3 months",
        "within_6_months": "within 6 months",
        "later": "later than 6 months",
    },
    "model_direction": {"higher": "a higher model", "lower": "a lower model"},
}


def _choices(kind: str, values: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    labels = LABELS[kind]
    return tuple((value, labels.get(value, value.replace("_", " "))) for value in values)


@dataclass(frozen=True)
class Options:
    """Every choice a lead form offers, as (value, label) pairs, in the order shown."""

    channels: tuple[tuple[str, str], ...] = _choices("channel", LEAD_CHANNELS)
    stages: tuple[tuple[str, str], ...] = _choices("stage", LEAD_STAGES)
    lost_reasons: tuple[tuple[str, str], ...] = _choices("lost_reason", LOST_REASONS)
    methods: tuple[tuple[str, str], ...] = _choices("method", CONTACT_METHODS)
    outcomes: tuple[tuple[str, str], ...] = _choices("outcome", CONTACT_OUTCOMES)
    kinds: tuple[tuple[str, str], ...] = _choices("kind", APPOINTMENT_KINDS)
    statuses: tuple[tuple[str, str], ...] = _choices("status", APPOINTMENT_STATUSES)
    interest_levels: tuple[tuple[str, str], ...] = _choices("interest_level", INTEREST_LEVELS)
    budget_bands: tuple[tuple[str, str], ...] = _choices("budget_band", BUDGET_BANDS)
    timeframes: tuple[tuple[str, str], ...] = _choices("timeframe", TIMEFRAMES)
    model_directions: tuple[tuple[str, str], ...] = _choices("model_direction", MODEL_DIRECTIONS)

    def label(self, kind: str, value: str | None) -> str:
        if value is None:
            return ""
        return LABELS.get(kind, {}).get(value, value.replace("_", " "))


OPTIONS = Options()


# --- times ------------------------------------------------------------------------------------
def to_local(moment: datetime) -> datetime:
    """A stored time in the showroom's time zone. Never fails a page: a time that cannot be
    moved into the zone (within an hour of the calendar's end, 9999-12-31) is shown in UTC."""
    try:
        return moment.astimezone(SHOWROOM_TZ)
    except OverflowError:
        return moment


def local_today(now: datetime) -> date:
    return to_local(now).date()


def local_start(day: date, at: time) -> datetime:
    """A wall-clock time in the showroom, as an aware UTC datetime (DST handled by zoneinfo)."""
    return datetime.combine(day, at, tzinfo=SHOWROOM_TZ).astimezone(UTC)


def format_age(delta: timedelta) -> str:
    """How long ago a lead came in, as people say it: '12 min', '3 h', '2 days'."""
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 3600:
        return f"{max(1, seconds // 60)} min"
    if seconds < 48 * 3600:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"


def parse_date(raw: str | None, *, field_name: str, label: str = "date") -> date | None:
    text = (raw or "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError as error:
        raise InvalidInput(
            f"{text!r} is not a {label}: use the date picker or type it as 2026-03-14.",
            field=field_name,
        ) from error


def parse_time(raw: str | None, *, field_name: str) -> time | None:
    text = (raw or "").strip()
    if not text:
        return None
    try:
        parsed = time.fromisoformat(text)
    except ValueError as error:
        raise InvalidInput(
            f"{text!r} is not a time of day: type it as 14:30.", field=field_name
        ) from error
    return parsed.replace(second=0, microsecond=0, tzinfo=None)


def parse_local_datetime(
    day: str | None, at: str | None, *, field_name: str, default_time: time
) -> datetime | None:
    """A date and optional time typed in the showroom, as UTC; None when no date was given."""
    parsed_day = parse_date(day, field_name=field_name)
    parsed_time = parse_time(at, field_name=field_name + "_time")
    if parsed_day is None:
        if parsed_time is not None:
            raise InvalidInput("Pick a date for this time.", field=field_name)
        return None
    try:
        return local_start(parsed_day, parsed_time or default_time)
    except OverflowError:  # the first minutes of 0001-01-01 have no UTC time before them
        raise InvalidInput(
            f"{parsed_day.isoformat()} is not a date to plan for: pick a date from now on.",
            field=field_name,
        ) from None


def parse_int(raw: str | None, *, field_name: str, label: str, low: int, high: int) -> int | None:
    text = (raw or "").strip().replace(".", "").replace(" ", "")
    if not text:
        return None
    try:
        value = int(text)
    except ValueError as error:
        raise InvalidInput(f"{label} must be a whole number.", field=field_name) from error
    if not low <= value <= high:
        raise InvalidInput(f"{label} must be between {low} and {high}.", field=field_name)
    return value


def parse_choice_bool(raw: str | None, *, field_name: str) -> bool | None:
    text = (raw or "").strip().lower()
    if text in ("", "unknown"):
        return None
    if text in ("yes", "true", "1"):
        return True
    if text in ("no", "false", "0"):
        return False
    raise InvalidInput("Choose yes, no, or leave it open.", field=field_name)


def parse_id(raw: str | None, *, field_name: str, what: str) -> int | None:
    text = (raw or "").strip()
    if not text:
        return None
    value = row_id(text)
    if value is None:
        raise InvalidInput(f"Choose {what} from the list.", field=field_name)
    return value


def safe_next(raw: str | None, default: str) -> str:
    """Where to go after a form: only a local showroom path (no open redirect)."""
    text = (raw or "").strip()
    if (
        text.startswith("/showroom")
        and "//" not in text
        and "\\" not in text
        and not any(ch in text for ch in "\r\n")
    ):
        return text
    return default


# --- what the pages list ----------------------------------------------------------------------
@dataclass
class FormError:
    """A refused form: which form, on which lead or row, which field, and why."""

    form: str
    message: str
    field: str | None = None
    target_id: int | None = None


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
class LeadPanel:
    """One lead on the customer page, with the stages it may move to."""

    lead: Lead
    transitions: list[str]
    salesperson: str | None
    is_open: bool


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
    salespeople: list[tuple[int, str]]
    people: list[tuple[int, str]]  # who can receive a visitor or hand over a car
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
