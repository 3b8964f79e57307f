"""Undoing a wrong merge: a split gives the absorbed profile back what the merge took.

What moves back is what the merge recorded (cdp.identity.merge_rows): the absorbed profile's
events, identifiers, configurations, consent statements, leads (with their appointments,
contact attempts, deliveries), notes, tablet sessions, views and warnings, and the profiles it
had absorbed itself. Rows added to the survivor after the merge stay with it, even when a
message carried the absorbed person's identifier then: it named the merged profile. Traits
come back as they were before the merge, the survivor's with what the absorbed one brought
taken out where a later message has not changed them. The two profiles are then never merged
again by ingest (a `split_refused` warning instead). Merges recorded before migration 0013
kept no list of moved rows: they cannot be split.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cdp.errors import Conflict, InvalidInput, NotFound
from cdp.identity import merge_rows
from cdp.identity.repository import lock_profiles, profile_owned_tables
from cdp.models import Profile, ProfileMerge, ProfileMergeRow
from cdp.profiles.projection import refresh_search

# Table names in the words staff read.
_LABELS = {
    "event": "events",
    "identity": "identifiers",
    "configuration": "configurations",
    "consent": "consent statements",
    "lead": "leads",
    "note": "notes",
    "appointment": "appointments",
    "contact_attempt": "contact attempts",
    "delivery": "deliveries",
    "tablet_session": "tablet sessions",
    "profile_view": "views",
    "identity_warning": "identity warnings",
}


@dataclass
class SplitPlan:
    """What a split of one merge would give back, for staff to confirm."""

    merge: ProfileMerge
    counts: dict[str, int] = field(default_factory=dict)  # label -> rows still on the survivor
    identifiers: list[tuple[str, str]] = field(default_factory=list)
    profiles: int = 0  # profiles the absorbed one had absorbed, that go back with it


def _merge_to_split(session: Session, profile_id: uuid.UUID, merge_id: int) -> ProfileMerge:
    merge = session.get(ProfileMerge, merge_id)
    if merge is None or profile_id not in (merge.survivor_id, merge.absorbed_id):
        raise NotFound(f"profile {profile_id} has no merge {merge_id}", field="merge_id")
    if merge.split_at is not None:
        raise Conflict(
            f"merge {merge_id} was already split on {merge.split_at:%Y-%m-%d %H:%M} UTC",
            field="merge_id",
        )
    if not merge.rows_recorded:
        raise Conflict(
            f"merge {merge_id} was recorded before splits were possible (migration 0013): "
            "which rows it moved was not kept, so it cannot be split",
            field="merge_id",
        )
    survivor = session.get(Profile, merge.survivor_id)
    absorbed = session.get(Profile, merge.absorbed_id)
    if survivor is None or absorbed is None:  # erased since (an erasure deletes its merges too)
        raise NotFound(f"the profiles of merge {merge_id} are gone", field="merge_id")
    if survivor.merged_into_id is not None:
        raise Conflict(
            f"profile {survivor.id} was merged into {survivor.merged_into_id} since: "
            "split that later merge first",
            field="merge_id",
        )
    if absorbed.merged_into_id != survivor.id:
        raise Conflict(f"merge {merge_id} no longer holds: nothing to split", field="merge_id")
    return merge


def plan_split(session: Session, profile_id: uuid.UUID, merge_id: int) -> SplitPlan:
    """What splitting this merge would move back (or why it cannot be split)."""
    merge = _merge_to_split(session, profile_id, merge_id)
    plan = SplitPlan(merge)
    for table in profile_owned_tables():
        if table.name not in _LABELS:
            continue
        moved = select(ProfileMergeRow.row_id).where(
            ProfileMergeRow.merge_id == merge.id, ProfileMergeRow.table_name == table.name
        )
        still = select(func.count()).where(
            table.c.profile_id == merge.survivor_id, table.c.id.in_(moved)
        )
        if table.name == "identity":
            plan.identifiers = [
                (kind, value)
                for kind, value in session.execute(
                    select(table.c.kind, table.c.value)
                    .where(table.c.profile_id == merge.survivor_id, table.c.id.in_(moved))
                    .order_by(table.c.kind, table.c.value)
                )
            ]
        count = session.scalar(still) or 0
        if count:
            plan.counts[_LABELS[table.name]] = count
    plan.profiles = len(merge_rows.merged_before(session, merge.absorbed_id))
    return plan


def split_merge(
    session: Session,
    profile_id: uuid.UUID,
    merge_id: int,
    *,
    split_by: str,
    reason: str,
    now: datetime,
) -> dict[str, int]:
    """Undo the merge; the caller commits. Returns the rows moved back, per table."""
    reason = reason.strip()
    if not reason:
        raise InvalidInput("say why the merge was wrong", field="reason")
    merge = _merge_to_split(session, profile_id, merge_id)
    survivor, absorbed = merge.survivor_id, merge.absorbed_id
    lock_profiles(session, [survivor, absorbed])
    counts = merge_rows.move_rows_back(
        session, merge_id=merge.id, survivor=survivor, absorbed=absorbed
    )
    # The absorbed profile lives again, and the profiles it had absorbed resolve to it again.
    merge_rows.point_profiles(session, {absorbed}, at=None, now=None)
    merge_rows.point_profiles(
        session, merge_rows.merged_before(session, absorbed), at=absorbed, now=now
    )
    before: dict[str, Any] = merge.traits_before or {}
    _restore_traits(session, merge, before)
    if seen := before.get("survivor_seen"):
        profile = session.get(Profile, survivor)
        assert profile is not None
        profile.first_seen_at = datetime.fromisoformat(seen[0])
    merge.split_at = now
    merge.split_by = split_by
    merge.split_reason = reason
    session.flush()
    refresh_search(session, [survivor, absorbed])
    return counts


def _restore_traits(session: Session, merge: ProfileMerge, before: dict[str, Any]) -> None:
    """The absorbed profile gets its traits back; the survivor loses what only they brought."""
    absorbed = merge_rows.read_snapshot(before.get("absorbed", []))
    survivor_then = merge_rows.read_snapshot(before.get("survivor", []))
    survivor_now = merge_rows.read_snapshot(merge_rows.traits_snapshot(session, merge.survivor_id))

    def same(a: dict[str, Any] | None, b: dict[str, Any] | None, value: str, at: str) -> bool:
        return a is not None and b is not None and a[value] == b[value] and a[at] == b[at]

    kept: list[dict[str, Any]] = []
    for name, now_ in survivor_now.items():
        theirs, ours = absorbed.get(name), survivor_then.get(name)
        trait = dict(now_)
        if same(trait, theirs, "value", "value_at") and not same(trait, ours, "value", "value_at"):
            if ours is None:
                continue  # the whole trait came with the absorbed profile
            for key in ("value", "value_at", "search_text"):
                trait[key] = ours[key]
        if same(trait, theirs, "first_value", "first_at") and not same(
            trait, ours, "first_value", "first_at"
        ):
            source = ours or trait
            trait["first_value"], trait["first_at"] = (
                (ours["first_value"], ours["first_at"])
                if ours
                else (source["value"], source["value_at"])
            )
        kept.append(trait)
    merge_rows.replace_traits(session, merge.survivor_id, kept)
    merge_rows.replace_traits(session, merge.absorbed_id, list(absorbed.values()))
