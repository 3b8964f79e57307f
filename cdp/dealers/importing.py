"""Dealers from a CSV file (one dealer per line, a header naming the columns): every line is
checked before any is stored, and every mistake of every line is said at once (per line, per
field), so a file with a mistake changes nothing. A code already known updates that dealer, so
a corrected file can be imported again.

Postal-code areas are checked as the file leaves the network (cdp/dealers/areas.py): an area two
active dealers would serve is refused, whether the other is in the file or not; an area inside
another dealer's is imported and said (its leads now go to the file's dealer)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from typing import TextIO

from sqlalchemy.orm import Session

from cdp.dealers import areas as area_rules
from cdp.dealers import repository, service
from cdp.dealers.areas import Holder
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
    # Areas of the file's dealers inside another dealer's area, said after the import:
    # "NL-X's 5611 is inside NW-EHV's 561: leads from 5611 now go to NL-X".
    takeovers: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Line:
    """A line of the file: its number, the dealer as typed, and what reading it found wrong
    (its `active` word, or the number of its values)."""

    number: int
    fields: DealerFields
    problems: dict[str, str]


class FileProblems(InvalidInput):
    """Every mistake of a file, in line order: nothing was imported."""

    def __init__(self, problems: list[str]) -> None:
        if len(problems) == 1:
            message = problems[0]
        else:
            message = f"nothing imported, {len(problems)} problems:\n" + "\n".join(
                f"  {problem}" for problem in problems
            )
        super().__init__(message, field="file")
        self.problems = problems


def _header(raw: list[str]) -> list[str]:
    names = [ALIASES.get(name, name) for name in (h.strip().lower() for h in raw)]
    problems: list[str] = []
    unknown = [name for name in names if name not in COLUMNS]
    for name in unknown:
        problems.append(f"line 1: unknown column {name!r} (columns: {', '.join(COLUMNS)})")
    for needed in ("code", "name"):
        if needed not in names:
            problems.append(f"line 1: the header has no {needed!r} column")
    for name in dict.fromkeys(name for name in names if names.count(name) > 1):
        problems.append(f"line 1: column {name!r} appears twice")
    if problems:
        raise FileProblems(problems)
    return names


def _active(raw: str) -> bool | None:
    word = raw.strip().lower()
    if word in TRUE:
        return True
    if word in FALSE:
        return False
    return None


def read_dealers(stream: TextIO) -> list[Line]:
    """The file's lines, each with what reading it found wrong; FileProblems when the file
    cannot be read as dealers at all (empty, a wrong header, broken CSV, not UTF-8)."""
    reader = csv.reader(stream)
    try:
        header = next(reader, None)
        if header is None:
            raise InvalidInput("the file is empty (line 1 should name the columns)", field="file")
        names = _header(header)
        found: list[Line] = []
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(names):
                message = f"{len(row)} values where the header names {len(names)}"
                found.append(Line(line, DealerFields(code="", name=""), {"file": message}))
                continue
            cells = dict(zip(names, row, strict=True))
            typed = cells.pop("active", "")
            active = _active(typed)
            problems = {}
            if active is None:
                problems["active"] = f"active must be yes or no, not {typed!r}"
            fields = DealerFields(**cells, active=True if active is None else active)
            found.append(Line(line, fields, problems))
    except csv.Error as error:
        raise InvalidInput(f"line {reader.line_num}: {error}", field="file") from None
    except UnicodeDecodeError:
        raise InvalidInput(
            "the file is not UTF-8 text (save it as CSV UTF-8)", field="file"
        ) from None
    if not found:
        raise InvalidInput("the file holds no dealers, only a header", field="file")
    return found


# The order a line's problems are said in: the file's columns, then the areas between dealers.
_ORDER = {name: index for index, name in enumerate(("file", *COLUMNS))}


@dataclass(frozen=True, slots=True)
class _Planned:
    """A line whose code, country and areas are right: the dealer as it will be."""

    line: int
    holder: Holder
    active: bool

    @property
    def code(self) -> str:
        return self.holder.code


def _planned(line: Line) -> _Planned | None:
    fields = line.fields
    try:
        code = service.normal_code(fields.code)
        holder = Holder(
            code=code,
            name=fields.name.strip() or code,
            country=fields.country.strip().upper() or "NL",
            areas=tuple(service.postal_areas(fields.postal_areas)),
        )
    except InvalidInput:
        return None
    return _Planned(line=line.number, holder=holder, active=fields.active)


def _area_problems(planned: list[_Planned], known: dict[str, Holder]) -> dict[int, str]:
    """Per line: the areas another active dealer would serve too once the file is imported
    (a dealer of the network the file leaves as it is, or another of the file's own dealers:
    said once, on the later line)."""
    found: dict[int, str] = {}
    for row in planned:
        if not row.active:
            continue
        country = row.holder.country
        clashes: list[str] = []
        for area in row.holder.areas:
            for other in planned:
                if (
                    other.line < row.line
                    and other.active
                    and other.code != row.code
                    and area in other.holder.areas
                    and not area_rules.told_apart(country, other.holder.country)
                ):
                    clashes.append(f"{area} is also {other.code}'s on line {other.line}")
                    break
            for holder in known.values():
                if area in holder.areas and not area_rules.told_apart(country, holder.country):
                    clashes.append(f"{area} is already served by {holder.label}")
                    break
        if clashes:
            found[row.line] = (
                f"postal-code area {'; '.join(clashes)}: a postal code's leads go to one dealer"
            )
    return found


@dataclass(frozen=True, slots=True)
class Checked:
    """A file without mistakes: its lines, and its areas inside another active dealer's area
    ("NL-X's 5611 is inside NW-EHV's 561: leads from 5611 will go to NL-X")."""

    lines: list[Line]
    takeovers: tuple[str, ...]


def check_file(session: Session, stream: TextIO, *, phone_region: str | None = None) -> Checked:
    """Every mistake in every line ("line 3: country 'Holland' must be ..."), in line order and
    each line's in the order of its columns, so a person correcting a file sees them all at
    once, not one per upload: FileProblems (or InvalidInput for a file that cannot be read as
    dealers at all). Nothing is stored."""
    lines = read_dealers(stream)
    per_line: dict[int, dict[str, str]] = {}
    seen: dict[str, int] = {}
    for line in lines:
        problems = dict(line.problems)
        if "file" not in problems:
            checked = service.dealer_problems(line.fields, phone_region=phone_region)
            for key, message in checked.items():
                problems.setdefault(key, message)
            code = line.fields.code.strip().upper()
            if code and "code" not in problems:
                if code in seen:
                    problems["code"] = f"dealer {code} is on line {seen[code]} already"
                seen.setdefault(code, line.number)
        per_line[line.number] = problems
    planned = [
        row
        for line in lines
        if not per_line[line.number].keys() & {"file", "code", "country", "postal_areas"}
        and (row := _planned(line)) is not None
    ]
    in_file = {row.code for row in planned}
    active = repository.active_holders(session)
    # The network's active dealers the file does not change (a dealer the file names is as
    # the file has it).
    kept = {h.code: h for h in active if h.code not in in_file}
    for number, message in _area_problems(planned, kept).items():
        per_line[number].setdefault("postal_areas", message)
    found: list[str] = []
    for number, problems in sorted(per_line.items()):
        for key in sorted(problems, key=lambda key: _ORDER.get(key, len(_ORDER))):
            found.append(f"line {number}: {problems[key]}")
    if found:
        raise FileProblems(found)
    before = {h.code: h for h in active}
    after = list(kept.values()) + [row.holder for row in planned if row.active]
    return Checked(lines=lines, takeovers=tuple(_takeovers(planned, before, after)))


def _takeovers(
    planned: list[_Planned], before: dict[str, Holder], after: list[Holder]
) -> list[str]:
    """The file's active dealers' areas (new to them: not served before the import) inside
    another dealer's area as the file leaves the network."""
    found: list[str] = []
    for row in planned:
        if not row.active:
            continue
        served = set(before[row.code].areas) if row.code in before else set()
        for taken in area_rules.takeovers(
            [area for area in row.holder.areas if area not in served],
            country=row.holder.country,
            own_areas=row.holder.areas,
            others=[h for h in after if h.code != row.code],
        ):
            found.append(
                f"{row.code}'s {taken.area} is inside {taken.holder.code}'s "
                f"{taken.holder_area}: leads from {taken.area} go to {row.code}"
            )
    return found


def import_dealers(
    session: Session,
    stream: TextIO,
    *,
    actor: service.Actor = service.COMMAND_LINE,
    name: str = "",
    phone_region: str | None = None,
) -> ImportResult:
    """Check every line (`check_file`), then store them all; one record in the audit trail
    for the file, with the areas that took another dealer's leads."""
    checked = check_file(session, stream, phone_region=phone_region)
    lines = checked.lines
    known = repository.dealers_by_code(
        session, [service.normal_code(line.fields.code) for line in lines]
    )
    created: list[str] = []
    updated: list[str] = []
    for line in lines:
        code = service.normal_code(line.fields.code)
        if code in known:
            service.update_dealer(
                session, known[code], line.fields, phone_region=phone_region, check_areas=False
            )
            updated.append(code)
        else:
            service.create_dealer(
                session, line.fields, phone_region=phone_region, check_areas=False
            )
            created.append(code)
    what = f"dealers imported{f' from {name[:80]}' if name else ''}: {len(created)} added"
    what += f" ({', '.join(created)})" if created else ""
    what += f", {len(updated)} updated" + (f" ({', '.join(updated)})" if updated else "")
    moved = "; ".join(checked.takeovers)
    service.note(session, actor, what + (f"; {moved}" if moved else ""))
    return ImportResult(created=len(created), updated=len(updated), takeovers=checked.takeovers)
