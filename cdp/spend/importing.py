"""Spend from a CSV file: one entry per line under a header naming the columns month, channel,
campaign, dealer_code, amount (and optionally note). Every line is checked before any is stored
and every problem is reported by its line, so a file with a mistake changes nothing. A line for
a month, channel, campaign and dealer already entered replaces that amount, so a corrected file
can be imported again. Commas or semicolons separate the columns (a Dutch spreadsheet writes
semicolons, its amounts holding the decimal comma)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy.orm import Session

from cdp.dealers.visibility import DealerScope
from cdp.errors import InvalidInput
from cdp.leads.norms import channel_labels
from cdp.models import SpendEntry
from cdp.spend import repository, service
from cdp.spend.amounts import euros
from cdp.spend.audit import note_spend
from cdp.spend.service import SpendForm, SpendValues

COLUMNS = ("month", "channel", "campaign", "dealer_code", "amount", "note")
REQUIRED = ("month", "channel", "amount")
ALIASES = {"dealer": "dealer_code", "campaign_name": "campaign", "utm_campaign": "campaign"}
MAX_LINES = 20_000


@dataclass(frozen=True, slots=True)
class PlannedLine:
    line: int
    values: SpendValues
    replaces: SpendEntry | None  # the entry whose amount this line replaces


@dataclass(frozen=True, slots=True)
class ImportPlan:
    lines: list[PlannedLine]
    problems: list[str]

    @property
    def added(self) -> int:
        return sum(1 for line in self.lines if line.replaces is None)

    @property
    def replaced(self) -> int:
        return len(self.lines) - self.added

    @property
    def total(self) -> Decimal:
        return sum((line.values.amount for line in self.lines), Decimal("0.00"))


def _header(raw: list[str]) -> list[str]:
    names = [ALIASES.get(name, name) for name in (h.strip().lower() for h in raw)]
    unknown = [name for name in names if name not in COLUMNS]
    if unknown:
        raise InvalidInput(
            f"line 1: unknown column {unknown[0]!r} (columns: {', '.join(COLUMNS)})", field="file"
        )
    for needed in REQUIRED:
        if needed not in names:
            raise InvalidInput(f"line 1: the header has no {needed!r} column", field="file")
    repeated = [name for name in names if names.count(name) > 1]
    if repeated:
        raise InvalidInput(f"line 1: column {repeated[0]!r} appears twice", field="file")
    return names


def read_lines(text: str) -> list[tuple[int, SpendForm]]:
    """The file's lines as typed, with their numbers; InvalidInput for a file that cannot be
    read at all (no header, unknown columns, broken quoting)."""
    first = text.lstrip("\ufeff").split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""), delimiter=delimiter)
    found: list[tuple[int, SpendForm]] = []
    try:
        header = next(reader, None)
        if header is None or not any(cell.strip() for cell in header):
            raise InvalidInput("the file is empty (line 1 should name the columns)", field="file")
        names = _header(header)
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(names):
                raise InvalidInput(
                    f"line {reader.line_num}: {len(row)} values where the header names "
                    f"{len(names)} (amounts with a decimal comma need quotes, or semicolons "
                    "between the columns)",
                    field="file",
                )
            if len(found) >= MAX_LINES:
                raise InvalidInput(f"the file has more than {MAX_LINES} lines", field="file")
            cells = dict(zip(names, row, strict=True))
            dealer = cells.pop("dealer_code", "")
            found.append((reader.line_num, SpendForm(dealer=dealer, **cells)))
    except csv.Error as error:
        raise InvalidInput(f"line {reader.line_num}: {error}", field="file") from None
    if not found:
        raise InvalidInput("the file holds no spend, only a header", field="file")
    return found


def plan_import(session: Session, text: str, *, scope: DealerScope) -> ImportPlan:
    """What importing `text` would do, line by line, and every problem by its line."""
    lines = read_lines(text)
    planned: list[PlannedLine] = []
    problems: list[str] = []
    seen: dict[tuple[object, ...], int] = {}
    labels = channel_labels(session)
    for number, form in lines:
        values, wrong = service.check(session, form, scope=scope, labels=labels)
        problems.extend(f"line {number}: {message}" for message in wrong.values())
        if values is None:
            continue
        key = (values.month, values.channel, values.campaign, values.dealer_id)
        if key in seen:
            problems.append(
                f"line {number}: the same month, channel, campaign and dealer as line {seen[key]}"
            )
            continue
        seen[key] = number
        existing = repository.entry_with_key(
            session,
            month=values.month,
            channel=values.channel,
            campaign=values.campaign,
            dealer_id=values.dealer_id,
        )
        planned.append(PlannedLine(number, values, existing))
    return ImportPlan(planned, problems)


def apply_import(
    session: Session, plan: ImportPlan, *, by_user_id: int | None, actor: str, name: str
) -> None:
    """Store a plan without problems: new entries added, known ones given the file's amount;
    one record in the audit trail for the file."""
    if plan.problems:
        raise InvalidInput(plan.problems[0], field="file")
    for line in plan.lines:
        if line.replaces is None:
            service.add_entry(session, line.values, by_user_id=by_user_id, actor=actor, audit=False)
        else:
            service.update_entry(
                session, line.replaces, line.values, by_user_id=by_user_id, actor=actor,
                audit=False,
            )  # fmt: skip
    note_spend(
        session,
        "imported",
        f"{name[:80]}: {plan.added} added, {plan.replaced} replaced, {euros(plan.total)} in all",
        actor=actor,
        by=by_user_id,
    )
