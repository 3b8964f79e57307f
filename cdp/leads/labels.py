"""The words for every lead choice (channels, stages, lost reasons, note fields) and the choice
lists the pages offer: one wording for every page, export and segment filter."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from cdp.models import (
    APPOINTMENT_KINDS,
    APPOINTMENT_STATUSES,
    CONTACT_METHODS,
    CONTACT_OUTCOMES,
    LEAD_CHANNELS,
    LEAD_STAGES,
    LOST_REASONS,
)

INTEREST_LEVELS = ("hot", "warm", "cold")


BUDGET_BANDS = ("under_25k", "25k_40k", "40k_60k", "60k_80k", "over_80k")


TIMEFRAMES = ("this_month", "within_3_months", "within_6_months", "later")


MODEL_DIRECTIONS = ("higher", "lower")


LABELS: dict[str, dict[str, str]] = {
    "channel": {
        "website": "Brand website",
        "dealer_website": "Dealer website",
        "importer": "Importer",
        "marketplace": "Marketplace",
        "phone": "Phone",
        "walk_in": "Walk-in",
        "be_back": "Be-back",
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
    # The importer's own names for channels (cdp/leads/norms.py), over the built-in ones.
    channel_names: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def label(self, kind: str, value: str | None) -> str:
        if value is None:
            return ""
        if kind == "channel" and value in self.channel_names:
            return self.channel_names[value]
        return LABELS.get(kind, {}).get(value, value.replace("_", " "))

    def with_channels(self, names: Mapping[str, str], offered: Sequence[str]) -> Options:
        """These choices with the importer's channel names, lead forms offering only `offered`
        (in the built-in order)."""
        wanted = set(offered)
        return replace(
            self,
            channels=tuple(
                (key, names.get(key) or LABELS["channel"][key])
                for key in LEAD_CHANNELS
                if key in wanted
            ),
            channel_names=MappingProxyType(dict(names)),
        )


OPTIONS = Options()
