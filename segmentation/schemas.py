"""What the marketer pages and the export accept and show: audience rules, counts, CSV columns.

An audience is a set of rules over live profiles (`AudienceRules`). The rules are stored as
JSON on `audience.rules` and read back through the same model, so a saved audience and one
typed into the builder are checked alike. Empty lists and "any" mean "no condition".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from cdp.errors import InvalidInput
from cdp.ids import MAX_ROW_ID, row_id, whole_number
from cdp.leads.labels import LABELS
from cdp.models import LEAD_STAGES

CHANNELS = ("web", "showroom")
CHANNEL_LABELS = {"web": "Website (configurator)", "showroom": "Showroom (tablet)"}
NO_LEAD = "none"  # the lead-stage choice for profiles without any lead
LEAD_STAGE_CHOICES = (*LEAD_STAGES, NO_LEAD)
LEAD_STAGE_LABELS = {**LABELS["stage"], NO_LEAD: "No lead"}
ConsentRule = Literal["any", "email", "phone"]
CONSENT_LABELS = {
    "any": "Any",
    "email": "E-mail marketing granted",
    "phone": "Phone/SMS marketing granted",
}
VisitRule = Literal["any", "yes", "no"]
VISIT_LABELS = {"any": "Any", "yes": "Visited the showroom", "no": "Never visited"}
MAX_DAYS = 3650
MAX_VALUES = 200  # values per rule: more than any catalogue has
MAX_NAME = 200

# The CSV columns, in this order, exactly (docs/export.md).
EXPORT_COLUMNS = (
    "email",
    "first_name",
    "last_name",
    "language",
    "segment",
    "model",
    "trim",
    "colour",
    "configuration_code",
    "configuration_url",
    "last_seen",
)


def _clean_values(values: Iterable[Any]) -> list[str]:
    """Strip, drop empties and repeats, keep the order given."""
    seen: dict[str, None] = {}
    for value in values:
        text = " ".join(str(value).split())
        if text:
            seen.setdefault(text[:200], None)
    return list(seen)


class AudienceRules(BaseModel):
    """Which live profiles an audience holds. Every rule given must match (AND); within one
    rule, any of its values may match (OR)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Segment ids; segments of an earlier run are carried over to the current run's nearest
    # segment (segmentation.targeting.resolve_segments).
    segments: list[Annotated[int, Field(ge=0, le=MAX_ROW_ID)]] = Field(
        default_factory=list, max_length=MAX_VALUES
    )
    # Of the profile's latest saved configuration; matched without regard to case.
    models: list[str] = Field(default_factory=list, max_length=MAX_VALUES)
    body_types: list[str] = Field(default_factory=list, max_length=MAX_VALUES)
    colours: list[str] = Field(default_factory=list, max_length=MAX_VALUES)
    # Of the profile's latest lead (most recently updated); "none": no lead at all.
    lead_stages: list[str] = Field(default_factory=list, max_length=MAX_VALUES)
    # Seen (any event) within this many days.
    active_within_days: int | None = Field(default=None, ge=1, le=MAX_DAYS)
    # Any event on one of these channels.
    channels: list[str] = Field(default_factory=list, max_length=len(CHANNELS))
    consent: ConsentRule = "any"
    showroom_visit: VisitRule = "any"

    @field_validator("models", "body_types", "colours", mode="before")
    @classmethod
    def _texts(cls, value: Any) -> Any:
        return _clean_values(value) if isinstance(value, list | tuple) else value

    @field_validator("body_types", mode="after")
    @classmethod
    def _lower(cls, value: list[str]) -> list[str]:
        return _clean_values(v.lower() for v in value)

    @field_validator("segments", mode="after")
    @classmethod
    def _unique_ids(cls, value: list[int]) -> list[int]:
        return list(dict.fromkeys(value))

    @field_validator("lead_stages", mode="after")
    @classmethod
    def _stages(cls, value: list[str]) -> list[str]:
        unknown = [v for v in value if v not in LEAD_STAGE_CHOICES]
        if unknown:
            raise ValueError(f"unknown lead stage {unknown[0]!r}")
        return list(dict.fromkeys(value))

    @field_validator("channels", mode="after")
    @classmethod
    def _channels(cls, value: list[str]) -> list[str]:
        unknown = [v for v in value if v not in CHANNELS]
        if unknown:
            raise ValueError(f"unknown channel {unknown[0]!r}: choose web or showroom")
        return list(dict.fromkeys(value))

    @property
    def is_empty(self) -> bool:
        return self == AudienceRules()

    def stored(self) -> dict[str, Any]:
        """What `audience.rules` keeps: the rules given, without the empty ones."""
        return self.model_dump(exclude_defaults=True)


_FIELD_LABELS = {
    "segments": "Segment",
    "models": "Model",
    "body_types": "Body type",
    "colours": "Colour",
    "lead_stages": "Lead stage",
    "active_within_days": "Last active",
    "channels": "Channel",
    "consent": "Consent",
    "showroom_visit": "Showroom visit",
}


def rules_from(data: dict[str, Any]) -> AudienceRules:
    """Rules from JSON or a form; InvalidInput naming the first rule that is wrong."""
    try:
        return AudienceRules.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        field = str(first["loc"][0]) if first.get("loc") else None
        label = _FIELD_LABELS.get(field or "", field or "rules")
        message = str(first.get("msg", "is invalid")).removeprefix("Value error, ")
        if field == "active_within_days":
            message = f"give a number of days between 1 and {MAX_DAYS}"
        elif field == "segments":
            message = "choose segments from the list"
        elif field in ("consent", "showroom_visit"):
            message = "choose one of the options"
        raise InvalidInput(f"{label}: {message}", field=field) from error


def rules_from_form(
    *,
    segment: Sequence[str] = (),
    model: Sequence[str] = (),
    body_type: Sequence[str] = (),
    colour: Sequence[str] = (),
    lead_stage: Sequence[str] = (),
    active_within_days: str = "",
    channel: Sequence[str] = (),
    consent: str = "any",
    showroom_visit: str = "any",
) -> AudienceRules:
    """The builder form's fields (repeated checkboxes, text) as rules."""
    segments: list[Any] = []
    for raw in segment:
        text = raw.strip()
        if not text:
            continue
        segment_id = row_id(text)
        if segment_id is None:
            raise InvalidInput("Segment: choose segments from the list", field="segments")
        segments.append(segment_id)
    days_text = active_within_days.strip()
    days: Any = None
    if days_text:
        days = whole_number(days_text, most=999_999)
        if days is None:
            raise InvalidInput(
                f"Last active: give a number of days between 1 and {MAX_DAYS}",
                field="active_within_days",
            )
    return rules_from(
        {
            "segments": segments,
            "models": list(model),
            "body_types": list(body_type),
            "colours": list(colour),
            "lead_stages": [s.strip() for s in lead_stage if s.strip()],
            "active_within_days": days,
            "channels": [c.strip() for c in channel if c.strip()],
            "consent": consent.strip() or "any",
            "showroom_visit": showroom_visit.strip() or "any",
        }
    )


def clean_name(raw: str) -> str:
    """An audience name: whitespace collapsed, 1-200 characters."""
    name = " ".join(raw.split())
    if not name:
        raise InvalidInput("give the audience a name", field="name")
    if len(name) > MAX_NAME:
        raise InvalidInput(f"an audience name has at most {MAX_NAME} characters", field="name")
    return name


def same_name(a: str, b: str) -> bool:
    """Two segment names are one name whatever their case and spacing."""
    return " ".join(a.split()).lower() == " ".join(b.split()).lower()


# --- what the pages show ------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class AudienceCount:
    """How many live profiles the rules select, and how many of them an export would hold."""

    total: int
    exportable: int  # e-mail consent in force, not objecting, with an address
    notes: tuple[str, ...] = ()  # e.g. segments carried over from an earlier run


@dataclass(frozen=True, slots=True)
class Choice:
    value: str
    label: str
    count: int = 0
    hex: str | None = None


@dataclass(frozen=True, slots=True)
class BuilderOptions:
    """The values the builder offers, most common first."""

    segments: list[Choice]
    models: list[Choice]
    body_types: list[Choice]
    colours: list[Choice]
    lead_stages: list[Choice]
    channels: list[Choice]
    run_id: int | None


@dataclass(frozen=True, slots=True)
class AudienceRow:
    id: int
    name: str
    rules: AudienceRules | None  # None: stored rules this version cannot read
    summary: list[str]
    created_at: datetime
    updated_at: datetime
    created_by: str | None


@dataclass(frozen=True, slots=True)
class ExportRow:
    """One CSV line (EXPORT_COLUMNS, in order)."""

    email: str
    first_name: str
    last_name: str
    language: str
    segment: str
    model: str
    trim: str
    colour: str
    configuration_code: str
    configuration_url: str
    last_seen: str

    def cells(self) -> tuple[str, ...]:
        return (
            self.email,
            self.first_name,
            self.last_name,
            self.language,
            self.segment,
            self.model,
            self.trim,
            self.colour,
            self.configuration_code,
            self.configuration_url,
            self.last_seen,
        )
