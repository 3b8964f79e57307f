"""The norms a marketer plans with, per channel and funnel step, and the channels' names.

A norm is the share of a channel's valid leads expected to reach a step (so the lead-to-sale
norm is the norm at "sold", and a step's conversion norm is its share over the previous step's).
The built-in defaults are the field's (docs/funnel.md, ../shared/DOMAIN.md): lead-to-sale 20%
for the brand's and dealers' own websites and the importer, 15% for marketplaces, 22% for
phone, 5% for direct mail; 35% of leads to an appointment and 65% of those showing. Importer
managers override any of them (table stage_norm); walk-ins, be-backs, referrals and events are
channels of their own, without a lead-to-sale norm unless one is set.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from cdp.leads.labels import LABELS
from cdp.models import LEAD_CHANNELS, ChannelSetting, StageNorm, utcnow

# The funnel's steps after "lead", in order: each implies every earlier one.
NORM_STEPS = ("reached", "appointment", "show", "test_drive", "quote", "sold")

ONLINE_CHANNELS = ("website", "dealer_website", "importer", "marketplace")
ONLINE_FLOOR = 0.13  # the minimum base for any online lead, not the goal

APPOINTMENT_NORM = 0.35  # of leads
SHOW_NORM = round(APPOINTMENT_NORM * 0.65, 4)  # 65% of appointments show
LEAD_TO_SALE: dict[str, float] = {
    "website": 0.20,
    "dealer_website": 0.20,
    "importer": 0.20,
    "marketplace": 0.15,
    "phone": 0.22,
    "direct_mail": 0.05,
}
OWN_CHANNELS = ("walk_in", "be_back", "referral", "event")  # no appointment norm either


def default_norms() -> dict[str, dict[str, float]]:
    """The built-in norms: channel -> step -> share of leads."""
    norms: dict[str, dict[str, float]] = {}
    for channel in LEAD_CHANNELS:
        steps: dict[str, float] = {}
        if channel not in OWN_CHANNELS:
            steps["appointment"] = APPOINTMENT_NORM
            steps["show"] = SHOW_NORM
        if channel in LEAD_TO_SALE:
            steps["sold"] = LEAD_TO_SALE[channel]
        norms[channel] = steps
    return norms


@dataclass(frozen=True)
class Norms:
    """Every channel's norms after the importer's changes (channel -> step -> share)."""

    shares: dict[str, dict[str, float]]

    def share(self, channel: str, step: str) -> float | None:
        """The share of the channel's leads expected to reach `step`, None without a norm."""
        return self.shares.get(channel, {}).get(step)

    def lead_to_sale(self, channel: str) -> float | None:
        return self.share(channel, "sold")

    def step_rate(self, channel: str, step: str) -> float | None:
        """The norm for the conversion into `step` from the step before it (from the lead for
        the first step); None when either end has no norm."""
        here = self.share(channel, step)
        index = NORM_STEPS.index(step)
        if here is None:
            return None
        if index == 0:
            return here
        before = self.share(channel, NORM_STEPS[index - 1])
        return here / before if before else None

    def floor(self, channel: str) -> float | None:
        return ONLINE_FLOOR if channel in ONLINE_CHANNELS else None


def load_norms(session: Session) -> Norms:
    shares = default_norms()
    for row in session.scalars(select(StageNorm)):
        steps = shares.setdefault(row.channel, {})
        if row.share is None:
            steps.pop(row.step, None)
        else:
            steps[row.step] = float(row.share)
    return Norms(shares)


class NormError(ValueError):
    """A norm that cannot be stored; `field` names what was wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def set_norm(
    session: Session, *, channel: str, step: str, share: float | None, by_user_id: int | None
) -> None:
    """Store one norm (None: no norm for that step). Shares run from 0 to 1 and may not fall as
    the funnel goes on is not enforced here: the page shows steps out of order as a warning."""
    if channel not in LEAD_CHANNELS:
        raise NormError("channel", f"unknown channel {channel!r}")
    if step not in NORM_STEPS:
        raise NormError("step", f"unknown step {step!r}; one of {', '.join(NORM_STEPS)}")
    if share is not None and not 0 <= share <= 1:
        raise NormError("share", "a norm is a share of leads between 0% and 100%")
    row = session.get(StageNorm, (channel, step))
    value = None if share is None else Decimal(str(round(share, 4)))
    if row is None:
        session.add(
            StageNorm(
                channel=channel,
                step=step,
                share=value,
                updated_at=utcnow(),
                updated_by_user_id=by_user_id,
            )
        )
    else:
        row.share = value
        row.updated_at = utcnow()
        row.updated_by_user_id = by_user_id


def reset_norm(session: Session, *, channel: str, step: str) -> None:
    """Back to the built-in default: the stored norm, if any, is removed."""
    row = session.get(StageNorm, (channel, step))
    if row is not None:
        session.delete(row)


def stored_norms(session: Session) -> dict[tuple[str, str], float | None]:
    """The importer's own norms, (channel, step) -> share (None: "no norm")."""
    return {
        (row.channel, row.step): None if row.share is None else float(row.share)
        for row in session.scalars(select(StageNorm))
    }


MAX_LABEL = 60  # channel_setting.label


def set_channel(
    session: Session, *, channel: str, label: str | None, offered: bool, by_user_id: int | None
) -> None:
    """Name a channel (None or the built-in name: the built-in one) and say whether lead forms
    offer it. Leads keep their channel whatever its name."""
    if channel not in LEAD_CHANNELS:
        raise NormError("channel", f"unknown channel {channel!r}")
    label = (label or "").strip() or None
    if label is not None and len(label) > MAX_LABEL:
        raise NormError("label", f"a channel's name is at most {MAX_LABEL} characters")
    if label == LABELS["channel"][channel]:
        label = None
    row = session.get(ChannelSetting, channel)
    if row is None:
        if label is None and offered:
            return  # the built-in name, offered: nothing to store
        session.add(
            ChannelSetting(
                channel=channel,
                label=label,
                offered=offered,
                updated_at=utcnow(),
                updated_by_user_id=by_user_id,
            )
        )
    elif (row.label, row.offered) != (label, offered):
        row.label = label
        row.offered = offered
        row.updated_at = utcnow()
        row.updated_by_user_id = by_user_id


@dataclass(frozen=True)
class Channel:
    key: str
    label: str
    offered: bool


def channels(session: Session) -> list[Channel]:
    """Every channel in the built-in order, with the importer's name for it."""
    stored = {row.channel: row for row in session.scalars(select(ChannelSetting))}
    result = []
    for key in LEAD_CHANNELS:
        row = stored.get(key)
        label = (row.label if row is not None else None) or LABELS["channel"][key]
        result.append(Channel(key, label, row.offered if row is not None else True))
    return result


def own_names(session: Session) -> dict[str, str]:
    """Only the names the importer gave (channel -> name); the rest keep the built-in one."""
    return {row.channel: row.label for row in session.scalars(select(ChannelSetting)) if row.label}


def channel_labels(session: Session) -> dict[str, str]:
    return {channel.key: channel.label for channel in channels(session)}


def offered_channels(session: Session, keep: Iterable[str] = ()) -> list[Channel]:
    """The channels a lead form offers (and `keep`: a lead's own, even if no longer offered)."""
    kept = set(keep)
    return [c for c in channels(session) if c.offered or c.key in kept]
