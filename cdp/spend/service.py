"""The rules of spend entries and margins: what a form or a CSV line must hold, who may enter
spend for whom, and one entry per month, channel, campaign and dealer.

Who enters for whom (cdp/dealers/visibility.py's scope): importer staff (a network-wide scope)
enter the network's own spend (no dealer) or any dealer's; a dealer's manager enters only their
own dealers' spend. The same scope decides which entries and margins a person sees and changes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TypeVar

from sqlalchemy.orm import Session

from cdp.dealers import repository as dealers_repo
from cdp.dealers.visibility import DealerScope
from cdp.errors import Conflict, InvalidInput, NotFound
from cdp.leads.labels import LABELS
from cdp.leads.norms import channel_labels
from cdp.models import LEAD_CHANNELS, SaleMargin, SpendEntry, utcnow
from cdp.spend import repository
from cdp.spend.amounts import parse_amount, parse_month
from cdp.spend.audit import describe, note_margin, note_spend

MAX_CAMPAIGN = 200
_T = TypeVar("_T")
MAX_NOTE = 1000


@dataclass(frozen=True, slots=True)
class SpendForm:
    """An entry as typed: on the page or as a CSV line (dealer: a dealer code, "" = network)."""

    month: str = ""
    channel: str = ""
    campaign: str = ""
    dealer: str = ""
    amount: str = ""
    note: str = ""


@dataclass(frozen=True, slots=True)
class SpendValues:
    month: date
    channel: str
    campaign: str
    dealer_id: int | None
    amount: Decimal
    note: str | None


def normal_campaign(raw: str) -> str:
    """A campaign name as leads carry it and entries store it: trimmed, lower case (utm names
    are matched without regard to case), inner spaces single."""
    return " ".join(raw.split()).lower()


def _channel(raw: str, labels: dict[str, str]) -> str:
    """A channel by its key ("marketplace", "dealer-website"), its built-in name or the name
    the importer gave it on the channels page (`labels`), in any case."""
    typed = raw.strip().lower()
    text = typed.replace("-", "_").replace(" ", "_")
    if text in LEAD_CHANNELS:
        return text
    by_label = {label.lower(): key for key, label in LABELS["channel"].items()}
    by_label |= {" ".join(label.split()).lower(): key for key, label in labels.items()}
    typed = " ".join(typed.split())
    if typed in by_label:
        return by_label[typed]
    raise InvalidInput(
        f"{raw.strip()!r} is not a channel: one of {', '.join(LEAD_CHANNELS)}."
        if raw.strip()
        else "Choose the channel the money went to.",
        field="channel",
    )


def _dealer_id(session: Session, raw: str, scope: DealerScope) -> int | None:
    code = raw.strip().upper()
    if not code:
        if not scope.network:
            raise InvalidInput(
                "Choose your dealer: spend without a dealer is the importer's.", field="dealer"
            )
        return None
    dealer = dealers_repo.dealers_by_code(session, [code]).get(code)
    if dealer is None or not scope.sees(dealer.id):
        raise InvalidInput(f"There is no dealer with the code {code} among yours.", field="dealer")
    return dealer.id


def check(
    session: Session,
    form: SpendForm,
    *,
    scope: DealerScope,
    labels: dict[str, str] | None = None,
) -> tuple[SpendValues | None, dict[str, str]]:
    """The entry's values, or every problem by field (all of them, so a form shows them at once).
    `labels`: the channels' names, when the caller read them already (an import's lines)."""
    names = channel_labels(session) if labels is None else labels
    problems: dict[str, str] = {}

    def read(name: str, reader: Callable[[], _T]) -> _T | None:
        try:
            return reader()
        except InvalidInput as error:
            problems[error.field or name] = error.message
            return None

    month = read("month", lambda: parse_month(form.month))
    channel = read("channel", lambda: _channel(form.channel, names))
    dealer_id = read("dealer", lambda: _dealer_id(session, form.dealer, scope))
    amount = read("amount", lambda: parse_amount(form.amount))
    campaign = normal_campaign(form.campaign)
    if len(campaign) > MAX_CAMPAIGN:
        problems["campaign"] = f"A campaign name has at most {MAX_CAMPAIGN} characters."
    note = form.note.strip()
    if len(note) > MAX_NOTE:
        problems["note"] = f"A note has at most {MAX_NOTE} characters."
    if problems or month is None or channel is None or amount is None:
        return None, problems
    values = SpendValues(month, channel, campaign, dealer_id, amount, note or None)
    return values, {}


def _taken(session: Session, values: SpendValues, *, but: int | None = None) -> bool:
    other = repository.entry_with_key(
        session,
        month=values.month,
        channel=values.channel,
        campaign=values.campaign,
        dealer_id=values.dealer_id,
    )
    return other is not None and other.id != but


DUPLICATE = (
    "There is an entry for this month, channel, campaign and dealer already: change that one."
)


def add_entry(
    session: Session,
    values: SpendValues,
    *,
    by_user_id: int | None,
    actor: str,
    now: datetime | None = None,
    audit: bool = True,
) -> SpendEntry:
    if _taken(session, values):
        raise Conflict(DUPLICATE, field="campaign")
    now = now or utcnow()
    entry = SpendEntry(
        month=values.month,
        channel=values.channel,
        campaign=values.campaign,
        dealer_id=values.dealer_id,
        amount=values.amount,
        note=values.note,
        created_at=now,
        created_by_user_id=by_user_id,
        updated_at=now,
        updated_by_user_id=by_user_id,
    )
    session.add(entry)
    session.flush()
    if audit:
        note_spend(session, "added", describe(session, entry), actor=actor, by=by_user_id)
    return entry


def update_entry(
    session: Session,
    entry: SpendEntry,
    values: SpendValues,
    *,
    by_user_id: int | None,
    actor: str,
    now: datetime | None = None,
    audit: bool = True,
) -> None:
    if _taken(session, values, but=entry.id):
        raise Conflict(DUPLICATE, field="campaign")
    before = describe(session, entry)
    entry.month = values.month
    entry.channel = values.channel
    entry.campaign = values.campaign
    entry.dealer_id = values.dealer_id
    entry.amount = values.amount
    entry.note = values.note
    entry.updated_at = now or utcnow()
    entry.updated_by_user_id = by_user_id
    session.flush()
    after = describe(session, entry)
    if audit and after != before:
        note_spend(session, "changed", f"{before} → {after}", actor=actor, by=by_user_id)


def entry_in_scope(session: Session, entry_id: int, scope: DealerScope) -> SpendEntry:
    """The entry, if the caller's scope sees it (a dealer's staff never see the network's own
    or another dealer's); otherwise NotFound, as if it did not exist."""
    entry = session.get(SpendEntry, entry_id)
    if entry is None or not scope.sees(entry.dealer_id):
        raise NotFound("There is no spend entry with this link.")
    return entry


def delete_entry(
    session: Session, entry: SpendEntry, *, by_user_id: int | None, actor: str
) -> None:
    note_spend(session, "deleted", describe(session, entry), actor=actor, by=by_user_id)
    session.delete(entry)
    session.flush()


# --- margins ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Margins:
    network: Decimal | None
    dealers: dict[int, Decimal]  # a dealer's own margin, where it has one

    def of(self, dealer_id: int | None) -> Decimal | None:
        if dealer_id is not None and dealer_id in self.dealers:
            return self.dealers[dealer_id]
        return self.network


def margins(session: Session) -> Margins:
    network: Decimal | None = None
    dealers: dict[int, Decimal] = {}
    for row in repository.margin_rows(session):
        if row.dealer_id is None:
            network = network if network is not None else row.amount
        else:
            dealers[row.dealer_id] = row.amount
    return Margins(network, dealers)


def set_margin(
    session: Session,
    *,
    dealer_id: int | None,
    amount: Decimal | None,
    scope: DealerScope,
    by_user_id: int | None,
    actor: str,
    now: datetime | None = None,
) -> None:
    """Store the network's margin per sale (dealer_id None: importer staff only) or a dealer's
    own; amount None removes it (a dealer then falls back to the network's)."""
    if dealer_id is None and not scope.network:
        raise InvalidInput("The network's margin is the importer's to set.", field="dealer")
    if dealer_id is not None and not scope.sees(dealer_id):
        raise InvalidInput("Choose one of your dealers.", field="dealer")
    row = repository.margin_of(session, dealer_id)
    if amount is None:
        if row is not None:
            note_margin(session, dealer_id, row.amount, None, actor=actor, by=by_user_id)
            session.delete(row)
            session.flush()
        return
    if amount <= 0:
        raise InvalidInput("A margin per sale is more than € 0.", field="margin")
    before = None if row is None else row.amount
    if before != amount:
        note_margin(session, dealer_id, before, amount, actor=actor, by=by_user_id)
    if row is None:
        row = SaleMargin(dealer_id=dealer_id, amount=amount)
        session.add(row)
    row.amount = amount
    row.updated_at = now or utcnow()
    row.updated_by_user_id = by_user_id
    session.flush()
