"""Reading the audit trail: filtered, newest first, a page at a time or all of it for a CSV."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, time, timedelta

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session

from cdp.local_time import local_start
from cdp.models import AuditRecord, StaffUser


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """What the admin narrowed the trail to; None is "any". Days are the showroom's days."""

    staff_user_id: int | None = None
    action: str | None = None
    profile_id: uuid.UUID | None = None
    since: date | None = None
    until: date | None = None  # included


def _where(chosen: AuditFilter) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if chosen.staff_user_id is not None:
        where.append(AuditRecord.staff_user_id == chosen.staff_user_id)
    if chosen.action is not None:
        where.append(AuditRecord.action == chosen.action)
    if chosen.profile_id is not None:
        where.append(AuditRecord.profile_id == chosen.profile_id)
    if chosen.since is not None:
        where.append(AuditRecord.at >= local_start(chosen.since, time.min))
    if chosen.until is not None:
        where.append(AuditRecord.at < local_start(chosen.until + timedelta(days=1), time.min))
    return where


def _newest_first(chosen: AuditFilter) -> Select[AuditRecord]:
    return (
        select(AuditRecord)
        .where(*_where(chosen))
        .order_by(AuditRecord.at.desc(), AuditRecord.id.desc())
    )


def count(session: Session, chosen: AuditFilter) -> int:
    statement = select(func.count()).select_from(AuditRecord).where(*_where(chosen))
    return session.scalar(statement) or 0


def page_of(
    session: Session, chosen: AuditFilter, *, offset: int, limit: int
) -> Sequence[AuditRecord]:
    return session.scalars(_newest_first(chosen).offset(offset).limit(limit)).all()


def every(session: Session, chosen: AuditFilter) -> Iterator[AuditRecord]:
    """All matching records, read in batches (a year of a busy showroom is many rows)."""
    yield from session.scalars(_newest_first(chosen).execution_options(yield_per=1000))


def staff_members(session: Session) -> Sequence[tuple[int, str, str]]:
    """Every staff account (id, name, e-mail), for the filter."""
    rows = session.execute(
        select(StaffUser.id, StaffUser.name, StaffUser.email).order_by(
            func.lower(StaffUser.name), StaffUser.id
        )
    ).all()
    return [(row.id, row.name, row.email) for row in rows]
