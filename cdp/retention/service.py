"""Retention: what is kept how long, and the run that deletes what has outlived its period
(`cdp retention run`, daily; docs/privacy.md, "Retention").

Each kind is deleted in batches, each committed on its own: a long first run holds no lock for
minutes, and one stopped half-way has done part of the work, never half a batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select
from sqlalchemy.orm import Session, sessionmaker

from cdp.config import Settings
from cdp.retention import repository as repo

BATCH = 2000  # rows per transaction


@dataclass(frozen=True, slots=True)
class Kind:
    name: str  # as the command prints it
    setting: str  # the Settings field holding its period in days; 0 keeps forever
    rows: Callable[[datetime], Select[int]]
    delete: Callable[[Session, Sequence[int]], int]


KINDS = (
    Kind("anonymous events", "retention_anonymous_event_days", repo.anonymous_events,
         repo.delete_events),
    Kind("idle leads", "retention_idle_lead_days", repo.idle_leads, repo.delete_leads),
    Kind("refused messages", "retention_refused_message_days", repo.refused_messages,
         repo.delete_refused),
    Kind("audit records", "retention_audit_days", repo.audit_records, repo.delete_audit),
    Kind("alerts", "retention_alert_days", repo.alerts, repo.delete_alerts),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Outcome:
    kind: str
    days: int  # 0: kept forever, nothing looked at
    due: int  # older than the period when the run began
    deleted: int


Progress = Callable[[str, int, int], None]  # kind, deleted so far, due


def run(
    factory: sessionmaker[Session],
    settings: Settings,
    *,
    now: datetime,
    dry_run: bool,
    batch: int = BATCH,
    progress: Progress | None = None,
) -> list[Outcome]:
    """Count, and unless dry_run delete, every row past its kind's period."""
    outcomes = []
    for kind in KINDS:
        days: int = getattr(settings, kind.setting)
        if days == 0:
            outcomes.append(Outcome(kind.name, 0, 0, 0))
            continue
        rows = kind.rows(now - timedelta(days=days))
        with factory() as session:
            due = repo.count(session, rows)
        deleted = 0
        while not dry_run and deleted < due:
            with factory() as session, session.begin():
                ids = repo.batch(session, rows, batch)
                if not ids:  # fewer than counted: something else deleted some meanwhile
                    break
                deleted += kind.delete(session, ids)
            if progress is not None:
                progress(kind.name, deleted, due)
        outcomes.append(Outcome(kind.name, days, due, deleted))
    return outcomes
