"""The ingest rules: validate, de-duplicate, resolve identities, store events and their effects.

Takes a session and flushes; the caller commits, so a 2xx is only sent once all of it is durable.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from cdp import json_exact
from cdp.alerts.service import customer_activity
from cdp.auth.service import SourceInfo
from cdp.identity.repository import (
    insert_warnings,
    touch_written_profiles,
)
from cdp.identity.rules import DEFAULT_RULES, IdentityRules
from cdp.identity.service import ConcurrentMerge, resolve_profiles
from cdp.ingestion import repository as repo
from cdp.ingestion import suppression
from cdp.ingestion.effects import (
    store_configurations,
    store_consents,
    store_identifier_warnings,
    store_traits,
)
from cdp.ingestion.prepare import EventTimeOutOfRange, PreparedMessage, prepare
from cdp.ingestion.schemas import Rejection
from cdp.ingestion.validation import (
    validate_message,
)
from cdp.leads.attribution import attribute_new_leads
from cdp.leads.ingest_hooks import LEAD_EVENTS, handle_lead_events
from cdp.models import SOURCE_CHANNELS, event_channel
from cdp.profiles.projection import refresh_search
from cdp.profiles.suppression import Screened, any_entries, count_dropped, screen
from cdp.sql import dialect_of
from cdp.taxonomy import TEST_DRIVE_REQUESTED

# Committing identities early costs a commit of its own; it pays where the rest of the
# transaction is long enough for others to queue behind its identity locks (a batch's hundred
# messages and more), not for a few single messages, whose latency it would only add to.
# Measured (batch phase, 3 rounds): from 1 message 20,657-23,560 events/s, from 100
# 21,112-23,659, from 200 only 17,821-19,931 (smaller flushes then held their locks).
EARLY_COMMIT_FROM = 100


class StoredBefore(Exception):
    """A message of the transaction was stored before, found only as identities were about to
    be committed (the first attempt does not look): roll back and start over, looking first."""


@dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    profile_ids: list[uuid.UUID] = field(default_factory=list)
    # Positions (in the messages given) of the accepted messages that were already stored, or
    # repeated earlier in the same call: `duplicates` of them.
    duplicate_indices: list[int] = field(default_factory=list)
    # Messages dropped because they carry an identifier of an erased person (answered as
    # accepted: a public write key must not tell who was erased). Refused ones included.
    suppressed: int = 0


@dataclass(frozen=True, slots=True)
class Call:
    """The messages of one request (a batch, or one single message), as it arrived."""

    messages: Sequence[Any]
    endpoint: str
    check_size: bool = True
    defaults: dict[str, Any] | None = None
    # False only when the body is known to hold no "\u0000" (the scan costs CPU per message).
    check_nul: bool = True
    # False only when no message can be too deep (see validate_message).
    check_depth: bool = True


def ingest(
    session: Session,
    raw_messages: Sequence[Any],
    *,
    source: SourceInfo,
    endpoint: str,
    received_at: datetime,
    phone_region: str,
    check_size: bool = True,
    defaults: dict[str, Any] | None = None,
    rules: IdentityRules = DEFAULT_RULES,
) -> IngestResult:
    """Store the messages of one call."""
    call = Call(raw_messages, endpoint, check_size, defaults)
    return ingest_calls(
        session,
        [call],
        source=source,
        received_at=received_at,
        phone_region=phone_region,
        rules=rules,
    )[0]


def ingest_calls(
    session: Session,
    calls: Sequence[Call],
    *,
    source: SourceInfo,
    received_at: datetime,
    phone_region: str,
    check_stored: bool = True,
    commit_locked: Callable[[], None] | None = None,
    rules: IdentityRules = DEFAULT_RULES,
) -> list[IngestResult]:
    """Store the messages of several calls of one source in one go (group commit), with one
    result per call, as if each had been stored on its own: indices are positions in the call,
    and a message repeated by a later call counts as that call's duplicate.

    `check_stored=False` skips looking up which messageIds are stored already (a query that
    cost about a tenth of a transaction's database time): on PostgreSQL a message stored before
    then fails the event COPY with a unique violation, and the caller must run the whole
    transaction again with the check, as the /v1 routes do. Retries are rare, so this is the
    cheaper way in bulk; on SQLite the insert skips stored messages by itself, but without the
    check they would be resolved again, so there it is always done.

    `commit_locked` (the caller's commit) lets identity resolution commit the profiles and
    identifiers it wrote under identity locks in a short transaction of their own, and the
    rest go on in a new one (see `resolve_profiles`), for EARLY_COMMIT_FROM messages or more.
    Without `check_stored`, the messages that
    took locks are looked up first: one stored before (a client reusing a messageId for another
    message) must change no profile, so `StoredBefore` is raised and the caller starts over
    with the check.
    """
    results = [IngestResult() for _ in calls]
    prepared: list[tuple[int, PreparedMessage]] = []  # (call number, message)
    quarantined: list[dict[str, Any]] = []
    refused: list[tuple[int, Screened]] = []  # (call number, what suppression reads of it)

    def reject(number: int, raw: Any, rejection: Rejection) -> None:
        results[number].rejected.append(rejection)
        refused.append((number, suppression.refused(raw, phone_region=phone_region)))
        reason = f"{rejection.field}: {rejection.reason}" if rejection.field else rejection.reason
        quarantined.append(
            {
                "source_id": source.id,
                "received_at": received_at,
                "endpoint": calls[number].endpoint,
                "batch_index": rejection.index,
                "reason": reason,
                "raw": json_exact.dumps(raw),  # at any depth, with exact integers
                "message_id": _refused_message_id(raw),
            }
        )

    for number, call in enumerate(calls):
        for index, raw in enumerate(call.messages):
            checked = validate_message(
                raw,
                index=index,
                check_size=call.check_size,
                defaults=call.defaults,
                check_nul=call.check_nul,
                check_depth=call.check_depth,
            )
            if isinstance(checked, Rejection):
                reject(number, raw, checked)
                continue
            try:
                item = prepare(
                    checked,
                    index=index,
                    received_at=received_at,
                    phone_region=phone_region,
                    consent_categories=rules.consent_categories,
                )
            except EventTimeOutOfRange as error:
                reject(number, raw, Rejection(index=index, field="timestamp", reason=str(error)))
                continue
            if not item.identifiers:
                why = "; ".join(item.warnings) or "no identifier given"
                reason = f"no usable identifier ({why})"
                reject(number, raw, Rejection(index=index, field="userId", reason=reason))
                continue
            prepared.append((number, item))
            results[number].accepted += 1

    # De-duplicate on messageId: within the calls, then against what is stored.
    unique: dict[str, tuple[int, PreparedMessage]] = {}
    for number, item in prepared:
        if item.message_id in unique:
            results[number].duplicate_indices.append(item.index)
        else:
            unique[item.message_id] = (number, item)
    known = (
        repo.known_message_ids(session, source.id, list(unique))
        if check_stored or dialect_of(session) != "postgresql"
        else set()
    )
    fresh = [entry for mid, entry in unique.items() if mid not in known]
    for mid, (number, item) in unique.items():
        if mid in known:
            results[number].duplicate_indices.append(item.index)
    fresh, quarantined = _without_suppressed(
        session, fresh, quarantined, refused, results, source, received_at
    )
    commit_checked = None
    if commit_locked is not None and len(fresh) >= EARLY_COMMIT_FROM:
        commit = commit_locked

        def commit_checked(message_ids: list[str]) -> None:
            if not check_stored and repo.known_message_ids(session, source.id, message_ids):
                raise StoredBefore("a message of this transaction was stored before")
            commit()

    if fresh:
        _store_fresh(session, fresh, results, source, received_at, commit_checked, rules)
    # Last, with the events: resolution may have committed on the way (see commit_locked), and a
    # retry of what follows must not quarantine these twice.
    repo.quarantine(session, _not_quarantined_before(session, source.id, quarantined))
    # Here, not as they are found: identities may have been committed early on the way, and a
    # retry of what follows must not count them twice.
    count_dropped(
        session,
        source_id=source.id,
        day=received_at,
        messages=sum(result.suppressed for result in results),
    )
    for result in results:
        result.duplicate_indices.sort()
        result.duplicates = len(result.duplicate_indices)
    return results


def _without_suppressed(
    session: Session,
    fresh: list[tuple[int, PreparedMessage]],
    quarantined: list[dict[str, Any]],
    refused: list[tuple[int, Screened]],
    results: list[IngestResult],
    source: SourceInfo,
    received_at: datetime,
) -> tuple[list[tuple[int, PreparedMessage]], list[dict[str, Any]]]:
    """The messages to store and to quarantine, less those of erased people: nothing of them is
    kept but a count (cdp.profiles.suppression). One lookup for the whole transaction."""
    if not (fresh or refused) or not any_entries(session):
        return fresh, quarantined
    screened = [
        *((number, suppression.screened(item)) for number, item in fresh),
        *refused,
    ]
    if not screened:
        return fresh, quarantined
    dropped = screen(
        session, [message for _, message in screened], source_name=source.name, now=received_at
    )
    if not dropped:
        return fresh, quarantined
    for position in dropped:
        results[screened[position][0]].suppressed += 1
    kept = [entry for n, entry in enumerate(fresh) if n not in dropped]
    kept_refused = [row for n, row in enumerate(quarantined, len(fresh)) if n not in dropped]
    return kept, kept_refused


def _refused_message_id(raw: Any) -> str | None:
    """The messageId of a refused message, as an accepted one would have it (numbers as
    text), when it has a usable one."""
    message_id = raw.get("messageId") if isinstance(raw, dict) else None
    if isinstance(message_id, int) and not isinstance(message_id, bool):
        message_id = str(message_id)
    if not isinstance(message_id, str) or not 0 < len(message_id) <= 200 or "\x00" in message_id:
        return None
    return message_id


def _not_quarantined_before(
    session: Session, source_id: int, rows: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The refused messages not kept yet: a retry (same source and messageId) is kept once."""
    message_ids = {row["message_id"] for row in rows if row["message_id"] is not None}
    if not message_ids:
        return rows
    seen = repo.quarantined_message_ids(session, source_id, sorted(message_ids))
    kept = []
    for row in rows:
        if row["message_id"] is not None:
            if row["message_id"] in seen:
                continue
            seen.add(row["message_id"])
        kept.append(row)
    return kept


def _store_fresh(
    session: Session,
    fresh: list[tuple[int, PreparedMessage]],
    results: list[IngestResult],
    source: SourceInfo,
    received_at: datetime,
    commit_locked: Callable[[list[str]], None] | None,
    rules: IdentityRules = DEFAULT_RULES,
) -> None:
    resolution = resolve_profiles(
        session,
        [item for _, item in fresh],
        source_id=source.id,
        channel=event_channel(source.kind),
        now=received_at,
        commit_locked=commit_locked,
        limits=rules.limits,
    )
    # An address the profile does not hold (refused, or another person's) is not its trait.
    for position, kinds in resolution.foreign_contacts.items():
        for kind in kinds:
            fresh[position][1].traits.pop(kind, None)
    for (number, _item), pid in zip(fresh, resolution.profile_ids, strict=True):
        results[number].profile_ids.append(pid)
    stored = repo.insert_events(
        session,
        [
            _event_row(item, pid, source, received_at)
            for (_, item), pid in zip(fresh, resolution.profile_ids, strict=True)
        ],
    )
    # A concurrent retry may have stored some of them between our check and our insert.
    for number, item in fresh:
        if item.message_id not in stored:
            results[number].duplicate_indices.append(item.index)
    effects = [
        (item, pid)
        for (_, item), pid in zip(fresh, resolution.profile_ids, strict=True)
        if item.message_id in stored
    ]
    store_configurations(session, effects, stored, source, received_at)
    search_changed = store_traits(session, effects)
    given_leads = handle_lead_events(
        session,
        [
            (
                stored[item.message_id],
                pid,
                item.name,
                dict(item.message.properties or {}),
                item.occurred_at,
            )
            for item, pid in effects
            if item.message.type == "track" and item.name in LEAD_EVENTS
        ],
        channel=SOURCE_CHANNELS.get(source.kind, "website"),
        now=received_at,
    )
    attribute_new_leads(session, given_leads)
    if source.kind != "showroom":  # the tablet is the salesperson's own doing
        customer_activity(
            session,
            [
                (pid, item.name, item.configuration is not None)
                for item, pid in effects
                if item.message.type in ("track", "page")
                # A customer given a lead just now: its salesperson was told of the lead
                # (a test drive they asked for is still said on its own).
                and (pid not in given_leads or item.name == TEST_DRIVE_REQUESTED)
            ],
            now=received_at,
        )
    refresh_search(
        session,
        {pid for item, pid in effects if item.configuration is not None}
        | search_changed
        | given_leads
        | resolution.merged,
    )
    store_consents(session, effects, source, received_at)
    insert_warnings(session, resolution.warnings)
    store_identifier_warnings(session, effects, source, received_at)
    absorbed = touch_written_profiles(session, resolution.touches)
    if absorbed:
        raise ConcurrentMerge(f"profile {absorbed[0]} was merged away or erased while storing")


def _event_row(
    item: PreparedMessage, pid: uuid.UUID, source: SourceInfo, received_at: datetime
) -> dict[str, Any]:
    msg = item.message
    properties = msg.properties or {}
    # The message's own dict is only copied where something is added (most are stored as sent).
    if msg.type == "alias":
        properties = {**properties, "previousId": msg.previousId}
    elif msg.type == "group":
        properties = {**properties, "groupId": msg.groupId}
    elif msg.category is not None and "category" not in properties:
        properties = {**properties, "category": msg.category}
    return {
        "source_id": source.id,
        "message_id": item.message_id,
        "type": msg.type,
        "name": item.name,
        "channel": event_channel(source.kind),
        "profile_id": pid,
        "anonymous_id": msg.anonymousId,
        "user_id": msg.userId,
        "occurred_at": item.occurred_at,
        "received_at": received_at,
        "properties": properties,
        "traits": msg.traits or {},
        "context": msg.context or {},
    }
