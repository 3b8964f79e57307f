"""The channels page's form (showroom/channels_routes.py): every channel's name, whether lead
forms offer it, and its norm per funnel step in percent, read and checked as one form. Nothing
is stored while any value is wrong; a later step above an earlier one is only a warning (a
planner may mean it, but it usually is a typo). Every change is named, for the confirmation and
the audit trail.

Form fields, one set per channel KEY: `name.KEY`; `offered.KEY` (a hidden "no" and a checkbox
"yes"); `norm.KEY.STEP` (a percentage, empty: no norm). A field missing from the form leaves its
value as it is. `reset` names one field to put back to its default while the rest is saved.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from cdp.audit import repository as audit_repo
from cdp.audit.repository import AuditFilter
from cdp.audit.service import record
from cdp.leads.labels import LABELS
from cdp.leads.norms import (
    MAX_LABEL,
    NORM_STEPS,
    channels,
    default_norms,
    load_norms,
    reset_norm,
    set_channel,
    set_norm,
)
from cdp.models import AuditRecord

AUDIT_ACTION = "norms"
STEP_LABELS = {
    "reached": "Reached",
    "appointment": "Appointment",
    "show": "Showed",
    "test_drive": "Test drive",
    "quote": "Quote",
    "sold": "Sold (lead to sale)",
}
_PERCENT = re.compile(r"^(-?\d{1,6})(?:[.,](\d{1,6}))?\s*%?$")
_SAME = 1e-9


def percent(share: float | None) -> str:
    """0.2275 -> "22.75", 0.2 -> "20"; None -> ""."""
    if share is None:
        return ""
    return f"{share * 100:.2f}".rstrip("0").rstrip(".")


def shown(share: float | None) -> str:
    return "no norm" if share is None else f"{percent(share)}%"


def _same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) < _SAME


@dataclass
class NormCell:
    channel: str
    step: str
    typed: str  # what the field shows
    default: float | None
    share: float | None  # as read (the current one where the field had a problem)
    before: float | None
    problem: str | None = None
    short_problem: str | None = None  # beside the field; `problem` in the list above the form
    warning: str | None = None

    @property
    def name(self) -> str:
        return f"norm.{self.channel}.{self.step}"

    @property
    def id(self) -> str:
        return f"norm-{self.channel}-{self.step}"

    @property
    def label(self) -> str:
        return STEP_LABELS[self.step]

    @property
    def is_default(self) -> bool:
        return self.problem is None and _same(self.share, self.default)


@dataclass
class ChannelRow:
    key: str
    builtin: str  # the built-in name
    name: str  # as typed (or stored)
    name_before: str
    offered: bool
    offered_before: bool
    cells: list[NormCell]
    name_problem: str | None = None

    @property
    def name_field(self) -> str:
        return f"name.{self.key}"

    @property
    def name_id(self) -> str:
        return f"name-{self.key}"

    @property
    def shown_name(self) -> str:
        return self.name.strip() or self.builtin


@dataclass
class ChannelsForm:
    rows: list[ChannelRow]
    problems: dict[str, str] = field(default_factory=dict)  # field id -> message, page order

    @property
    def warnings(self) -> list[tuple[str, str]]:
        return [(c.id, c.warning) for r in self.rows for c in r.cells if c.warning]

    def changes(self) -> list[str]:
        """Every change this form makes, in words (no personal data: fit for the audit)."""
        found: list[str] = []
        for row in self.rows:
            if row.shown_name != row.name_before:
                found.append(f"{row.builtin}: name “{row.name_before}” → “{row.shown_name}”")
            if row.offered != row.offered_before:
                offered = "offered" if row.offered else "no longer offered"
                found.append(f"{row.shown_name}: {offered} on lead forms")
            for cell in row.cells:
                if cell.problem is None and not _same(cell.share, cell.before):
                    values = f"{shown(cell.before)} → {shown(cell.share)}"
                    found.append(f"{row.shown_name} · {cell.label}: {values}")
        return found


def current_form(session: Session) -> ChannelsForm:
    """The form as stored: every channel's name, whether it is offered, its norms."""
    return read_form(session, lambda _name: [], reset="")


def read_form(
    session: Session, values: Callable[[str], Sequence[str]], *, reset: str
) -> ChannelsForm:
    """The form as sent (`values(name)`: a field's values), checked; `reset` names a field to
    put back to its default."""
    norms = load_norms(session).shares
    defaults = default_norms()
    rows: list[ChannelRow] = []
    problems: dict[str, str] = {}
    for channel in channels(session):
        builtin = LABELS["channel"][channel.key]
        row = ChannelRow(
            key=channel.key,
            builtin=builtin,
            name=channel.label,
            name_before=channel.label,
            offered=channel.offered,
            offered_before=channel.offered,
            cells=[],
        )
        typed_name = values(row.name_field)
        if reset == row.name_field:
            row.name = builtin
        elif typed_name:
            row.name = typed_name[0].strip()
            if len(row.name) > MAX_LABEL:
                row.name_problem = (
                    f"{builtin}: a name is at most {MAX_LABEL} characters "
                    f"(this one has {len(row.name)})."
                )
        offered = values(f"offered.{channel.key}")
        if offered:
            row.offered = "yes" in offered
        for step in NORM_STEPS:
            current = norms.get(channel.key, {}).get(step)
            default = defaults.get(channel.key, {}).get(step)
            cell = NormCell(
                channel=channel.key,
                step=step,
                typed=percent(current),
                default=default,
                share=current,
                before=current,
            )
            typed = values(cell.name)
            if reset == cell.name:
                cell.share, cell.typed = default, percent(default)
            elif typed:
                cell.typed = typed[0].strip()[:40]
                read = _read_percent(cell.typed, builtin, cell.label)
                cell.share, cell.problem, cell.short_problem = read
                if cell.problem is not None:
                    cell.share = current
            row.cells.append(cell)
        rows.append(row)
    _check_names(rows)
    for row in rows:
        if row.name_problem:
            problems[row.name_id] = row.name_problem
        for cell in row.cells:
            if cell.problem:
                problems[cell.id] = cell.problem
        _warn_out_of_order(row)
    return ChannelsForm(rows, problems)


def _read_percent(
    typed: str, channel: str, step: str
) -> tuple[float | None, str | None, str | None]:
    """(share, problem, short problem) of a typed percentage: "12.5", "12,5" or "12.5 %"."""
    if not typed:
        return None, None, None
    match = _PERCENT.match(typed)
    if match is None:
        return (
            None,
            f"{channel}, {step}: “{typed}” is not a number. Type a percentage such as 20 or "
            "12.5, or leave it empty for no norm.",
            "Not a number",
        )
    whole, fraction = match.groups()
    value = float(f"{whole}.{fraction or 0}")
    if not 0 <= value <= 100:
        return (
            None,
            f"{channel}, {step}: {typed} is outside 0 to 100: a norm is a share of leads.",
            "Only 0 to 100",
        )
    return round(value / 100, 4), None, None


def _check_names(rows: list[ChannelRow]) -> None:
    """Two channels of one name could not be told apart on any page: the one renamed just now
    is marked (of two untouched ones, the later)."""
    groups: dict[str, list[ChannelRow]] = {}
    for row in rows:
        if not row.name_problem:
            groups.setdefault(row.shown_name.casefold(), []).append(row)
    for group in groups.values():
        if len(group) < 2:
            continue
        renamed = [row for row in group if row.shown_name != row.name_before]
        kept = next((row for row in group if row not in renamed), group[0])
        for row in group:
            if row is not kept:
                row.name_problem = (
                    f"{row.builtin}: “{row.shown_name}” is the name of {kept.builtin} already; "
                    "two channels with one name cannot be told apart."
                )


def _warn_out_of_order(row: ChannelRow) -> None:
    """A step's norm above an earlier step's: every lead that gets to a step got to the earlier
    ones first, so it cannot be met as it stands."""
    earlier: list[NormCell] = []
    for cell in row.cells:
        if cell.share is None or cell.problem:
            continue
        lower = next((e for e in earlier if e.share is not None and e.share < cell.share), None)
        if lower is not None:
            cell.warning = (
                f"{row.shown_name}, {cell.label} ({shown(cell.share)}) is above "
                f"{lower.label.lower()} ({shown(lower.share)}): a lead gets to "
                f"{cell.label.lower()} only after {lower.label.lower()}."
            )
        earlier.append(cell)


def save(session: Session, form: ChannelsForm, *, actor: str, by_user_id: int) -> list[str]:
    """Store a form without problems; each change is one audit record. Returns the changes."""
    if form.problems:
        raise ValueError("a form with problems is never saved")  # a programming error
    changes = form.changes()
    for row in form.rows:
        if row.shown_name != row.name_before or row.offered != row.offered_before:
            set_channel(
                session,
                channel=row.key,
                label=row.shown_name,
                offered=row.offered,
                by_user_id=by_user_id,
            )
        for cell in row.cells:
            if _same(cell.share, cell.before):
                continue
            if _same(cell.share, cell.default):
                reset_norm(session, channel=row.key, step=cell.step)
            else:
                set_norm(
                    session,
                    channel=row.key,
                    step=cell.step,
                    share=cell.share,
                    by_user_id=by_user_id,
                )
    for change in changes:
        record(session, AUDIT_ACTION, actor=actor, staff_user_id=by_user_id, detail=change)
    session.flush()
    return changes


def recent_changes(
    session: Session, *, limit: int, by_user_id: int | None = None
) -> list[AuditRecord]:
    """The latest changes to names and norms (of one staff member), newest first."""
    chosen = AuditFilter(staff_user_id=by_user_id, action=AUDIT_ACTION)
    return list(audit_repo.page_of(session, chosen, offset=0, limit=limit))
