"""CSV exports of an audience or a segment for e-mail tools, and the log of every export.

Only contactable profiles are exported (`segmentation.marketing_consent.contactable`): they
have not objected to profiling (tracking withdrawn), and they hold an address with its own e-mail
consent in force; that address is the one written (`marketing_consent.export_addresses`),
whatever other address the profile holds. The columns are `EXPORT_COLUMNS`; docs/export.md
describes them for marketers.

Rows are read with one statement, streamed (`yield_per`: a server-side cursor on PostgreSQL),
and written as CSV a few hundred rows at a time, so an export of a hundred thousand profiles
never holds the whole file in memory. Each export is recorded in `export_log` with who, what,
the rules and the number of rows written.
"""

from __future__ import annotations

import csv
import io
import re
import tempfile
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

from sqlalchemy import ColumnElement, Select, and_, func, literal, select
from sqlalchemy.orm import Session, aliased, sessionmaker

from cdp.audit.service import record as audit
from cdp.csv_cells import neutralise
from cdp.errors import InvalidInput, NotFound
from cdp.models import Audience, ExportLog, Profile, ProfileTrait, Segment, utcnow
from cdp.text import web_address
from segmentation import audiences, marketing_consent, targeting
from segmentation.schemas import (
    EXPORT_COLUMNS,
    AudienceCount,
    AudienceRules,
    ExportRow,
    rules_from,
    same_name,
)

STREAM_CHUNK = 2_000  # rows fetched at a time
FLUSH_EVERY = 500  # rows per piece of CSV handed to the response
SPOOL_IN_MEMORY = 1 << 20  # SQLite: an export is spooled to disk beyond this many characters
SPOOL_PIECE = 64 * 1024


@dataclass(frozen=True)
class ExportTarget:
    """What to export: a condition on live profiles, and how the export log names it."""

    what: str  # "audience: Name" or "segment: Name (run 3)"
    rules: dict[str, Any]  # recorded in the log
    condition: ColumnElement[bool]
    run_id: int | None  # the run whose segment names fill the segment column
    segment_name: str | None = None  # a segment export names its own segment on every row
    notes: tuple[str, ...] = field(default=())


# --- what to export -----------------------------------------------------------------------------
def audience_target(
    session: Session, audience: Audience, *, now: datetime | None = None
) -> ExportTarget:
    rules = audiences.rules_of(audience)
    target = rules_target(session, rules, what=f"audience: {audience.name}", now=now)
    return ExportTarget(
        what=target.what,
        rules={"audience_id": audience.id, **target.rules},
        condition=target.condition,
        run_id=target.run_id,
        notes=target.notes,
    )


def rules_target(
    session: Session, rules: AudienceRules, *, what: str, now: datetime | None = None
) -> ExportTarget:
    selection = targeting.select_profiles(session, rules, now=now)
    return ExportTarget(
        what=what[:300],
        rules={"rules": rules.stored()},
        condition=selection.condition,
        run_id=targeting.current_run_id(session),
        notes=selection.notes,
    )


def segment_target(session: Session, segment: Segment) -> ExportTarget:
    condition = and_(
        Profile.merged_into_id.is_(None),
        Profile.id.in_(targeting.segment_members([segment.id])),
    )
    return ExportTarget(
        what=f"segment: {segment.display_name} (run {segment.run_id})"[:300],
        rules={"segment_id": segment.id, "run_id": segment.run_id, "number": segment.number},
        condition=condition,
        run_id=segment.run_id,
        segment_name=segment.display_name,
    )


def get_segment(session: Session, segment_id: int) -> Segment:
    segment = session.get(Segment, segment_id)
    if segment is None:
        raise NotFound(f"no segment {segment_id}", field="segment_id")
    return segment


def find_segment(session: Session, name: str) -> Segment:
    """A segment of the current run by its number, or its name (the marketer's or the generated
    one, case and extra spaces ignored). A name more than one segment answers to (names saved
    before renames were checked) is refused with the numbers to choose from, never guessed."""
    run_id = targeting.current_run_id(session)
    if run_id is None:
        raise NotFound("there are no segments yet: build them first (cdp segments build)")
    wanted = " ".join(name.split())
    segments = list(
        session.scalars(select(Segment).where(Segment.run_id == run_id).order_by(Segment.number))
    )
    number = re.fullmatch(r"#?(\d{1,4})", wanted)
    by_number = [s for s in segments if number and s.number == int(number.group(1))]
    # The name shown first; a generated name still finds a segment the marketer renamed.
    shown = [s for s in segments if same_name(s.display_name, wanted)]
    generated = [s for s in segments if same_name(s.name, wanted)]
    for found in (by_number, shown, generated):
        if not found:
            continue
        answering = {s.number for s in found}
        if found is by_number:  # a segment named as another's number (saved before the check)
            answering |= {s.number for s in shown}
        if len(answering) > 1:
            listed = " and ".join(str(n) for n in sorted(answering))
            raise InvalidInput(
                f"{len(answering)} segments of the current run {run_id} answer to {wanted!r} "
                f"(numbers {listed}): give the number of the one you mean",
                field="segment",
            )
        return found[0]
    raise NotFound(f"there is no segment named {wanted!r} in the current run {run_id}")


def count_target(session: Session, target: ExportTarget) -> AudienceCount:
    return targeting.count_selection(
        session, targeting.Selection(condition=target.condition, notes=target.notes)
    )


# --- the rows -----------------------------------------------------------------------------------
def export_statement(target: ExportTarget) -> Select[Any]:
    """One statement for every row of the export, most recently seen first."""
    traits = {name: aliased(ProfileTrait, name=f"trait_{name}") for name in EXPORT_TRAITS}
    address = marketing_consent.export_addresses()
    latest = targeting.latest_configurations()
    by_membership = target.segment_name is None and target.run_id is not None
    segment_name: ColumnElement[Any] = (
        func.coalesce(Segment.custom_name, Segment.name)
        if by_membership
        else literal(target.segment_name or "")
    )
    statement = select(
        address.c.address,
        *(traits[name].value for name in EXPORT_TRAITS),
        segment_name,
        latest.c.model,
        latest.c.trim,
        latest.c.colour,
        latest.c.code,
        latest.c.url,
        Profile.last_seen_at,
    ).select_from(Profile)
    # The consented address is required: it is what the file is for. Never the `email` trait:
    # that is the address seen last, which may not be the one consent was given for.
    statement = statement.join(address, address.c.profile_id == Profile.id)
    for name, trait in traits.items():
        statement = statement.outerjoin(
            trait, and_(trait.profile_id == Profile.id, trait.name == name)
        )
    statement = statement.outerjoin(latest, latest.c.profile_id == Profile.id)
    if by_membership and target.run_id is not None:
        membership = targeting.current_memberships(target.run_id)
        statement = statement.outerjoin(
            membership, membership.c.profile_id == Profile.id
        ).outerjoin(Segment, Segment.id == membership.c.segment_id)
    return statement.where(
        Profile.merged_into_id.is_(None),
        target.condition,
        *marketing_consent.contactable(Profile.id, require_email=False),
    ).order_by(Profile.last_seen_at.desc(), Profile.id)


EXPORT_TRAITS = ("first_name", "last_name", "language")


def _text(value: Any) -> str:
    if value is None or isinstance(value, dict | list | bool):
        return ""
    return " ".join(str(value).split()) if isinstance(value, str) else str(value)


def _url(value: Any) -> str:
    """The saved configuration's own link; only web addresses (no javascript:, no paths)."""
    return web_address(_text(value)) or ""


def _moment(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else ""


def export_rows(
    session: Session, target: ExportTarget, *, chunk: int = STREAM_CHUNK
) -> Generator[ExportRow]:
    """The export's rows, fetched `chunk` at a time."""
    result = session.execute(export_statement(target), execution_options={"yield_per": chunk})
    try:
        for email, first, last, language, segment, model, trim, colour, code, url, seen in result:
            # `email` is the consented address, normalised by identity resolution.
            address = _text(email)
            if not address:
                continue
            yield ExportRow(
                email=address,
                first_name=_text(first),
                last_name=_text(last),
                language=_text(language),
                segment=_text(segment),
                model=_text(model),
                trim=_text(trim),
                colour=_text(colour),
                configuration_code=_text(code),
                configuration_url=_url(url),
                last_seen=_moment(seen),
            )
    finally:
        result.close()


# --- CSV ----------------------------------------------------------------------------------------
class CsvWriter:
    """CSV text (header row first) in pieces of `flush_every` rows; counts the rows written."""

    def __init__(self, rows: Iterable[ExportRow], *, flush_every: int = FLUSH_EVERY) -> None:
        self.rows = rows
        self.flush_every = flush_every
        self.written = 0  # rows handed out so far

    def __iter__(self) -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(EXPORT_COLUMNS)
        pending = 0
        for row in self.rows:
            writer.writerow([neutralise(cell) for cell in row.cells()])
            pending += 1
            if pending >= self.flush_every:
                piece = buffer.getvalue()
                buffer.seek(0)
                buffer.truncate(0)
                # Counted when handed out: a download broken off is logged with what may
                # have reached the browser, never less.
                self.written += pending
                pending = 0
                yield piece
        self.written += pending
        yield buffer.getvalue()


def write_csv(rows: Iterable[ExportRow], out: TextIO) -> int:
    """Write the CSV to an open text file (UTF-8, newline=""); the number of rows."""
    writer = CsvWriter(rows)
    for piece in writer:
        out.write(piece)
    return writer.written


# --- the log ------------------------------------------------------------------------------------
def record_export(
    session: Session,
    *,
    target: ExportTarget,
    rows: int,
    exported_by: str,
    exported_by_user_id: int | None,
    interrupted: bool = False,
) -> ExportLog:
    what = target.what + (" (interrupted)" if interrupted else "")
    entry = ExportLog(
        exported_by=exported_by[:200],
        exported_by_user_id=exported_by_user_id,
        what=what[:300],
        rules=target.rules,
        rows=rows,
        exported_at=utcnow(),
    )
    session.add(entry)
    audit(
        session,
        "export",
        actor=exported_by,
        staff_user_id=exported_by_user_id,
        detail=f"{what}: {rows} rows",
    )
    session.flush()
    return entry


def stream_export(
    factory: sessionmaker[Session],
    target: ExportTarget,
    *,
    exported_by: str,
    exported_by_user_id: int | None,
) -> Generator[str]:
    """The CSV in pieces, for a streaming response, read in a session of its own (the request's
    has ended by the time the body is sent). The export is logged when the stream ends, with
    the rows sent; a download broken off is logged too, as interrupted, with the rows sent.

    On SQLite every transaction holds the database's one write lock (cdp.db begins them
    IMMEDIATE), so a slow download must not keep one open: the file is written to a spooled
    temporary file first (on disk beyond a megabyte), logged, and then sent.
    """
    session = factory()
    if session.get_bind().dialect.name == "sqlite":
        yield from _spooled(session, target, exported_by, exported_by_user_id)
        return
    rows = export_rows(session, target)
    writer = CsvWriter(rows)
    finished = False
    try:
        yield from writer
        finished = True
    finally:
        rows.close()
        try:
            record_export(
                session,
                target=target,
                rows=writer.written,
                exported_by=exported_by,
                exported_by_user_id=exported_by_user_id,
                interrupted=not finished,
            )
            session.commit()
        finally:
            session.close()


def _spooled(
    session: Session, target: ExportTarget, exported_by: str, exported_by_user_id: int | None
) -> Generator[str]:
    with tempfile.SpooledTemporaryFile(
        max_size=SPOOL_IN_MEMORY, mode="w+", encoding="utf-8", newline=""
    ) as spool:
        try:
            export_to_file(
                session,
                target,
                spool,  # type: ignore[arg-type]
                exported_by=exported_by,
                exported_by_user_id=exported_by_user_id,
            )
            session.commit()
        finally:
            session.close()
        spool.seek(0)
        while piece := spool.read(SPOOL_PIECE):
            yield piece


def export_to_file(
    session: Session,
    target: ExportTarget,
    out: TextIO,
    *,
    exported_by: str,
    exported_by_user_id: int | None = None,
) -> int:
    """Write the CSV to a file and log the export in the caller's session; the rows written."""
    rows = write_csv(export_rows(session, target), out)
    record_export(
        session,
        target=target,
        rows=rows,
        exported_by=exported_by,
        exported_by_user_id=exported_by_user_id,
    )
    return rows


def rules_in_words(session: Session, entries: Iterable[ExportLog]) -> dict[int, list[str]]:
    """Each logged export's rules in words, by entry id: an audience's (or rules') as the
    audience list words them, a segment's as its number and run."""
    entries = list(entries)
    read: dict[int, AudienceRules | None] = {}
    for entry in entries:
        logged = entry.rules or {}
        if isinstance(logged.get("rules"), dict):
            try:
                read[entry.id] = rules_from(dict(logged["rules"]))
            except InvalidInput:
                read[entry.id] = None
    names = audiences.segment_names(
        session, {sid for rules in read.values() if rules for sid in rules.segments}
    )
    words: dict[int, list[str]] = {}
    for entry in entries:
        logged = entry.rules or {}
        if entry.id in read:
            rules = read[entry.id]
            words[entry.id] = (
                audiences.describe(rules, names) if rules else ["These rules cannot be read"]
            )
        elif isinstance(logged.get("number"), int) and isinstance(logged.get("run_id"), int):
            number, run_id = logged["number"], logged["run_id"]
            words[entry.id] = [f"Every member of segment {number} of run {run_id}"]
        else:
            words[entry.id] = ["These rules cannot be read"]
    return words


def list_exports(session: Session, *, limit: int = 200) -> list[ExportLog]:
    return list(
        session.scalars(
            select(ExportLog)
            .order_by(ExportLog.exported_at.desc(), ExportLog.id.desc())
            .limit(limit)
        )
    )
