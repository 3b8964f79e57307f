"""What a stored message does to its profile besides the event: the configuration it saved, the
traits it set (the first and the latest value kept), the consent it stated, and warnings about
identifiers that were refused."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from cdp.auth.service import SourceInfo
from cdp.identity.repository import (
    current_trait_values,
    insert_warnings,
    upsert_traits,
)
from cdp.ingestion import repository as repo
from cdp.ingestion.prepare import PreparedMessage
from cdp.models import event_channel
from cdp.profiles.projection import SEARCH_TRAITS
from cdp.text import search_text

_MAX_TRAIT_NAME = 100


_MISSING = object()


def store_configurations(
    session: Session,
    effects: list[tuple[PreparedMessage, uuid.UUID]],
    event_ids: dict[str, int],
    source: SourceInfo,
    received_at: datetime,
) -> None:
    rows = []
    for item, pid in effects:
        conf = item.configuration
        if conf is None:
            continue
        rows.append(
            {
                "profile_id": pid,
                "event_id": event_ids[item.message_id],
                "code": conf.code,
                "channel": event_channel(source.kind),
                "source_id": source.id,
                "saved_at": item.occurred_at,
                "model": conf.model,
                "trim": conf.trim,
                "engine": conf.engine,
                "colour": conf.colour,
                "colour_hex": conf.colour_hex,
                "wheels": conf.wheels,
                "interior": conf.interior,
                "body_type": conf.body_type,
                "fuel": conf.fuel,
                "options": conf.options,
                "total_price": conf.total_price,
                "currency": conf.currency,
                "url": conf.url,
                "recorded_at": received_at,
            }
        )
    repo.insert_configurations(session, rows)


def store_traits(
    session: Session, effects: list[tuple[PreparedMessage, uuid.UUID]]
) -> set[uuid.UUID]:
    """Upsert the traits; returns the profiles whose searchable traits may have changed value.

    A profile whose incoming search traits equal the stored values keeps its search row (most
    messages repeat `context.traits.email`): whichever of the two wins by time, the value stays.
    """
    merged: dict[tuple[uuid.UUID, str], dict[str, Any]] = {}
    for item, pid in effects:
        for name, value in item.traits.items():
            if not name or len(name) > _MAX_TRAIT_NAME:
                continue
            row = merged.get((pid, name))
            at = item.occurred_at
            if row is None:
                merged[(pid, name)] = {
                    "profile_id": pid,
                    "name": name,
                    "value": value,
                    "value_at": at,
                    "first_value": value,
                    "first_at": at,
                    "search_text": search_text(value),
                }
                continue
            if at >= row["value_at"]:
                row["value"], row["value_at"] = value, at
                row["search_text"] = search_text(value)
            if at < row["first_at"]:
                row["first_value"], row["first_at"] = value, at
    searchable = [key for key in merged if key[1] in SEARCH_TRAITS]
    stored = current_trait_values(session, searchable, lock=True)
    changed = {
        pid
        for pid, name in searchable
        if not _same_value(stored.get((pid, name), _MISSING), merged[(pid, name)]["value"])
    }
    # In key order, so concurrent batches lock the rows they share in the same order.
    upsert_traits(session, [merged[key] for key in sorted(merged)])
    return changed


def _same_value(stored: Any, incoming: Any) -> bool:
    """Equal JSON values of the same type (1, 1.0 and true are equal in Python, not here)."""
    return type(stored) is type(incoming) and bool(stored == incoming)


def store_consents(
    session: Session,
    effects: list[tuple[PreparedMessage, uuid.UUID]],
    source: SourceInfo,
    received_at: datetime,
) -> None:
    """Keep each purpose's history as its changes only, whatever order statements arrive in.

    A statement that repeats the one before it (same status, no new wording) is not stored; a
    stored statement that now repeats a new, earlier one is replaced by it. Each address (e-mail
    or phone number the statement was made with) has its own history: a grant for one address
    is not a repeat of the grant for another. A statement recorded by staff is never replaced.
    """
    stated = [(item, pid) for item, pid in effects if item.consents]
    if not stated:
        return
    history = repo.consent_history(session, {pid for _, pid in stated})
    removed: list[int] = []
    for item, pid in sorted(stated, key=lambda pair: pair[0].occurred_at):
        for statement in item.consents:
            timeline = history.setdefault((pid, statement.purpose, statement.address), [])
            at = item.occurred_at
            before = [c for c in timeline if c.stated_at <= at]
            if before and _repeats(statement.status, statement.wording, before[-1]):
                continue
            new = repo.ConsentStatement(
                None,
                statement.status,
                statement.wording,
                at,
                {
                    "profile_id": pid,
                    "purpose": statement.purpose,
                    "status": statement.status,
                    "stated_at": at,
                    "wording": statement.wording,
                    "source_id": source.id,
                    "message_id": item.message_id,
                    "recorded_at": received_at,
                    "address": statement.address,
                },
            )
            timeline.insert(len(before), new)
            after = timeline[len(before) + 1 :]
            # A statement staff recorded stays, with its reason, even when it now repeats.
            if after and not after[0].by_staff and _repeats(after[0].status, after[0].wording, new):
                repeat = timeline.pop(len(before) + 1)
                if repeat.id is not None:  # stored before; one added just now is simply dropped
                    removed.append(repeat.id)
    repo.write_consents(
        session,
        [c.row for timeline in history.values() for c in timeline if c.row is not None],
        removed,
    )


def _repeats(status: str, wording: str | None, earlier: repo.ConsentStatement) -> bool:
    return status == earlier.status and (wording is None or wording == earlier.wording)


def store_identifier_warnings(
    session: Session,
    effects: list[tuple[PreparedMessage, uuid.UUID]],
    source: SourceInfo,
    received_at: datetime,
) -> None:
    insert_warnings(
        session,
        [
            {
                "kind": "ignored_identifier",
                "detail": warning,
                "profile_id": pid,
                "other_profile_id": None,
                "source_id": source.id,
                "message_id": item.message_id,
                "created_at": received_at,
            }
            for item, pid in effects
            for warning in item.warnings
        ],
    )
