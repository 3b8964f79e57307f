"""Dealers from a CSV file (one dealer per line, a header naming the columns): every line is
checked before any is stored, so a file with a mistake changes nothing. A code already known
updates that dealer, so a corrected file can be imported again."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from typing import TextIO

from sqlalchemy.orm import Session

from cdp.dealers import repository, service
from cdp.dealers.schemas import DealerFields
from cdp.errors import InvalidInput

COLUMNS = (
    "code",
    "name",
    "address",
    "postal_code",
    "city",
    "country",
    "phone",
    "time_zone",
    "opening_hours",
    "postal_areas",
    "active",
    "sla_minutes",
    "sla_warning_minutes",
)
# Other names people give the columns (the command line says --postal-codes).
ALIASES = {"postal_codes": "postal_areas", "zip": "postal_code", "timezone": "time_zone"}
TRUE = {"", "1", "yes", "y", "true", "active"}
FALSE = {"0", "no", "n", "false", "inactive"}


@dataclass(frozen=True, slots=True)
class ImportResult:
    created: int
    updated: int


def _header(raw: list[str]) -> list[str]:
    names = [ALIASES.get(name, name) for name in (h.strip().lower() for h in raw)]
    unknown = [name for name in names if name not in COLUMNS]
    if unknown:
        raise InvalidInput(
            f"line 1: unknown column {unknown[0]!r} (columns: {', '.join(COLUMNS)})",
            field="file",
        )
    for needed in ("code", "name"):
        if needed not in names:
            raise InvalidInput(f"line 1: the header has no {needed!r} column", field="file")
    repeated = [name for name in names if names.count(name) > 1]
    if repeated:
        raise InvalidInput(f"line 1: column {repeated[0]!r} appears twice", field="file")
    return names


def _active(raw: str, line: int) -> bool:
    word = raw.strip().lower()
    if word in TRUE:
        return True
    if word in FALSE:
        return False
    raise InvalidInput(f"line {line}: active must be yes or no, not {raw!r}", field="active")


def read_dealers(stream: TextIO) -> list[tuple[int, DealerFields]]:
    """The file's dealers with their line numbers, or InvalidInput naming the line."""
    reader = csv.reader(stream)
    try:
        header = next(reader, None)
        if header is None:
            raise InvalidInput("the file is empty (line 1 should name the columns)", field="file")
        names = _header(header)
        found: list[tuple[int, DealerFields]] = []
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(names):
                raise InvalidInput(
                    f"line {line}: {len(row)} values where the header names {len(names)}",
                    field="file",
                )
            cells = dict(zip(names, row, strict=True))
            active = _active(cells.pop("active", ""), line)
            found.append((line, DealerFields(**cells, active=active)))
    except csv.Error as error:
        raise InvalidInput(f"line {reader.line_num}: {error}", field="file") from None
    except UnicodeDecodeError:
        raise InvalidInput(
            "the file is not UTF-8 text (save it as CSV UTF-8)", field="file"
        ) from None
    if not found:
        raise InvalidInput("the file holds no dealers, only a header", field="file")
    return found


def problems_by_line(rows: list[tuple[int, DealerFields]]) -> list[str]:
    """Every mistake in every line ("line 3: country 'Holland' must be ..."), so a person
    correcting a file sees them all at once, not one per upload."""
    found: list[str] = []
    seen: dict[str, int] = {}
    for line, fields in rows:
        for message in service.dealer_problems(fields).values():
            found.append(f"line {line}: {message}")
        code = fields.code.strip().upper()
        if code in seen:
            found.append(f"line {line}: dealer {code} is on line {seen[code]} already")
        seen.setdefault(code, line)
    return found


def import_dealers(session: Session, stream: TextIO) -> ImportResult:
    rows = read_dealers(stream)
    seen: dict[str, int] = {}
    for line, fields in rows:
        try:
            code = service.normal_code(fields.code)
            service.postal_areas(fields.postal_areas)
        except InvalidInput as error:
            raise InvalidInput(f"line {line}: {error.message}", field=error.field) from None
        if code in seen:
            raise InvalidInput(
                f"line {line}: dealer {code} is on line {seen[code]} already", field="code"
            )
        seen[code] = line
    known = repository.dealers_by_code(session, seen)
    created = updated = 0
    for line, fields in rows:
        code = service.normal_code(fields.code)
        try:
            if code in known:
                service.update_dealer(session, known[code], fields)
                updated += 1
            else:
                service.create_dealer(session, fields)
                created += 1
        except InvalidInput as error:
            raise InvalidInput(f"line {line}: {error.message}", field=error.field) from None
    return ImportResult(created=created, updated=updated)
