"""Which live profiles an audience's rules select, as one condition on `profile.id`, and the
live count (how many, and how many may be e-mailed).

Every rule is one set-based condition on `profile.id` (an IN or EXISTS subquery over a whole
table), in portable SQLAlchemy Core: the same statement counts on the builder page and selects
the rows of an export, on SQLite and PostgreSQL, with no query per profile.

"Latest" means: the saved configuration with the latest `saved_at` (then the highest id), and
the lead updated last (as the lookup projection shows it). Merges move a profile's rows to the
survivor, so those conditions read rows of live profiles directly; segment memberships stay with
the profile that was clustered, and are folded into its survivor here.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, Subquery, and_, case, exists, func, not_, or_, select
from sqlalchemy.orm import Session, aliased

from cdp import catalogue
from cdp.errors import InvalidInput
from cdp.models import (
    Appointment,
    Configuration,
    Event,
    Lead,
    Profile,
    Segment,
    SegmentMembership,
    SegmentRun,
    TabletSession,
    utcnow,
)
from segmentation.marketing_consent import contactable, in_force
from segmentation.schemas import NO_LEAD, AudienceCount, AudienceRules


# --- the pieces rules are made of ---------------------------------------------------------------
def current_run_id(session: Session) -> int | None:
    """The current run: the latest one done (segmentation.service.current_run)."""
    return session.scalar(
        select(SegmentRun.id)
        .where(SegmentRun.status == "done")
        .order_by(SegmentRun.id.desc())
        .limit(1)
    )


def _body_type(configuration: Any) -> ColumnElement[str]:
    """A configuration's body type (lower case), else its model's in the brand catalogue."""
    by_model: dict[str, str] = {}
    for model in catalogue.MODELS:
        by_model[model.name.lower()] = model.body
        by_model[model.code] = model.body
    return func.coalesce(
        func.lower(configuration.body_type),
        case(by_model, value=func.lower(func.trim(configuration.model)), else_=None),
    )


def latest_configurations() -> Subquery:
    """Each profile's latest saved configuration (one row per profile that saved one)."""
    order = func.row_number().over(
        partition_by=Configuration.profile_id,
        order_by=(Configuration.saved_at.desc(), Configuration.id.desc()),
    )
    ranked = select(
        Configuration.profile_id.label("profile_id"),
        Configuration.model.label("model"),
        Configuration.trim.label("trim"),
        Configuration.colour.label("colour"),
        Configuration.colour_hex.label("colour_hex"),
        Configuration.code.label("code"),
        Configuration.url.label("url"),
        _body_type(Configuration).label("body_type"),
        order.label("rank"),
    ).subquery("ranked_configuration")
    return (
        select(*(column for column in ranked.c if column.name != "rank"))
        .where(ranked.c.rank == 1)
        .subquery("latest_configuration")
    )


def latest_leads() -> Subquery:
    """Each profile's latest lead: the one updated last."""
    order = func.row_number().over(
        partition_by=Lead.profile_id, order_by=(Lead.updated_at.desc(), Lead.id.desc())
    )
    ranked = select(
        Lead.profile_id.label("profile_id"), Lead.stage.label("stage"), order.label("rank")
    ).subquery("ranked_lead")
    return (
        select(ranked.c.profile_id, ranked.c.stage)
        .where(ranked.c.rank == 1)
        .subquery("latest_lead")
    )


def _live(profile: Any) -> ColumnElement[uuid.UUID]:
    return func.coalesce(profile.merged_into_id, profile.id)


def segment_members(segment_ids: Sequence[int]) -> Select[uuid.UUID]:
    """The live profiles in any of these segments (a member absorbed since counts as its
    survivor)."""
    member = aliased(Profile)
    return (
        select(_live(member))
        .select_from(SegmentMembership)
        .join(member, member.id == SegmentMembership.profile_id)
        .where(SegmentMembership.segment_id.in_(list(segment_ids)))
    )


def current_memberships(run_id: int) -> Subquery:
    """Each live profile's segment in a run: one row per profile. A survivor whose absorbed
    profile was clustered too keeps its own segment."""
    member = aliased(Profile)
    live = _live(member)
    order = func.row_number().over(
        partition_by=live,
        order_by=(
            case((SegmentMembership.profile_id == live, 0), else_=1),
            SegmentMembership.segment_id,
        ),
    )
    ranked = (
        select(
            live.label("profile_id"),
            SegmentMembership.segment_id.label("segment_id"),
            order.label("rank"),
        )
        .select_from(SegmentMembership)
        .join(member, member.id == SegmentMembership.profile_id)
        .where(SegmentMembership.run_id == run_id)
        .subquery("ranked_membership")
    )
    return (
        select(ranked.c.profile_id, ranked.c.segment_id)
        .where(ranked.c.rank == 1)
        .subquery("current_membership")
    )


def showroom_visited(profile_id: Any) -> ColumnElement[bool]:
    """Came to the showroom: an event on the showroom channel (a tablet session), a tablet
    session linked to them, or an appointment they showed up for."""
    return or_(
        exists().where(Event.profile_id == profile_id, Event.channel == "showroom"),
        exists().where(TabletSession.profile_id == profile_id),
        exists().where(Appointment.profile_id == profile_id, Appointment.status == "showed"),
    )


def _lowered(values: Sequence[str]) -> list[str]:
    return [value.strip().lower() for value in values]


# --- segments of earlier runs -------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ResolvedSegments:
    ids: list[int]  # segments of the current run
    notes: list[str]  # what was carried over from an earlier run


def _features(segment: Segment) -> dict[str, float]:
    features = (segment.profile or {}).get("features", {})
    found: dict[str, float] = {}
    for name, values in features.items():
        value = values.get("segment") if isinstance(values, dict) else None
        if isinstance(value, int | float) and math.isfinite(value):
            found[name] = float(value)
    return found


def _nearest(old: Segment, candidates: Sequence[Segment], spread: dict[str, Any]) -> Segment:
    """The candidate whose feature means are nearest the old segment's (in the current run's
    standard deviations); by number when the segments have no feature means to compare."""
    old_features = _features(old)

    def distance(candidate: Segment) -> float:
        theirs = _features(candidate)
        shared = [name for name in old_features if name in theirs]
        if not shared:
            return math.inf
        total = 0.0
        for name in shared:
            scale = spread.get(name)
            scale = float(scale) if isinstance(scale, int | float) and scale > 0 else 1.0
            total += ((old_features[name] - theirs[name]) / scale) ** 2
        return total

    best = min(candidates, key=lambda c: (distance(c), c.number != old.number, c.number))
    return best


@dataclass(frozen=True, slots=True)
class CarriedSegment:
    """A segment a rule names, and the current run's segment it stands for now."""

    segment_id: int
    segment: Segment | None  # None: no such segment (any more)
    current: Segment | None  # None: no current run, or it has no segments

    @property
    def note(self) -> str | None:
        """What was carried over from an earlier run, in words."""
        if self.segment is None or self.current is None or self.current.id == self.segment_id:
            return None
        return (
            f"“{self.segment.display_name}” (run {self.segment.run_id}) is now "
            f"“{self.current.display_name}” in the current run {self.current.run_id}"
        )


def carry_over(session: Session, segment_ids: Sequence[int]) -> list[CarriedSegment]:
    """Each segment id (repeats dropped) with the current run's segment it stands for: itself
    when it is of the current run; for a segment of an earlier run, the current run's segment
    nearest to it in what characterises it (the same measure as growth between runs)."""
    wanted = list(dict.fromkeys(segment_ids))
    if not wanted:
        return []
    found = {s.id: s for s in session.scalars(select(Segment).where(Segment.id.in_(wanted)))}
    run_id = current_run_id(session)
    current: list[Segment] = []
    spread: dict[str, Any] = {}
    if run_id is not None and any(sid in found and found[sid].run_id != run_id for sid in wanted):
        current = list(
            session.scalars(
                select(Segment).where(Segment.run_id == run_id).order_by(Segment.number)
            )
        )
        run = session.get(SegmentRun, run_id)
        spread = dict((run.quality or {}).get("feature_stds") or {}) if run else {}
    carried: list[CarriedSegment] = []
    for sid in wanted:
        segment = found.get(sid)
        if segment is None or run_id is None:
            carried.append(CarriedSegment(sid, segment, None))
        elif segment.run_id == run_id:
            carried.append(CarriedSegment(sid, segment, segment))
        else:
            nearest = _nearest(segment, current, spread) if current else None
            carried.append(CarriedSegment(sid, segment, nearest))
    return carried


def resolve_segments(session: Session, segment_ids: Sequence[int]) -> ResolvedSegments:
    """The current run's segments for segment ids a rule names.

    A segment of an earlier run is carried over to the current run's segment nearest to it in
    what characterises it (`carry_over`), and a note says so. InvalidInput when there is no
    finished run, or a segment does not exist.
    """
    if current_run_id(session) is None:
        raise InvalidInput(
            "Segment: there are no segments yet; build segments first", field="segments"
        )
    carried = carry_over(session, segment_ids)
    missing = [c.segment_id for c in carried if c.segment is None]
    if missing:
        raise InvalidInput(
            f"Segment: segment {missing[0]} does not exist (any more); choose segments again",
            field="segments",
        )
    ids: list[int] = []
    notes: list[str] = []
    for item in carried:
        if item.current is None:
            raise InvalidInput("Segment: the current run has no segments", field="segments")
        ids.append(item.current.id)
        if item.note:
            notes.append(item.note)
    return ResolvedSegments(ids=list(dict.fromkeys(ids)), notes=notes)


# --- the audience statement ---------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Selection:
    """Rules turned into one condition on `profile.id` (live profiles only)."""

    condition: ColumnElement[bool]
    notes: tuple[str, ...]


def select_profiles(
    session: Session, rules: AudienceRules, *, now: datetime | None = None
) -> Selection:
    """The condition selecting the live profiles that match every rule."""
    conditions: list[ColumnElement[bool]] = [Profile.merged_into_id.is_(None)]
    notes: tuple[str, ...] = ()
    if rules.segments:
        resolved = resolve_segments(session, rules.segments)
        notes = tuple(resolved.notes)
        conditions.append(Profile.id.in_(segment_members(resolved.ids)))
    if rules.models or rules.body_types or rules.colours:
        latest = latest_configurations()
        car: list[ColumnElement[bool]] = []
        if rules.models:
            car.append(func.lower(func.trim(latest.c.model)).in_(_lowered(rules.models)))
        if rules.body_types:
            car.append(latest.c.body_type.in_(_lowered(rules.body_types)))
        if rules.colours:
            car.append(func.lower(func.trim(latest.c.colour)).in_(_lowered(rules.colours)))
        conditions.append(Profile.id.in_(select(latest.c.profile_id).where(*car)))
    if rules.lead_stages:
        stages = [stage for stage in rules.lead_stages if stage != NO_LEAD]
        options: list[ColumnElement[bool]] = []
        if stages:
            lead = latest_leads()
            options.append(
                Profile.id.in_(select(lead.c.profile_id).where(lead.c.stage.in_(stages)))
            )
        if NO_LEAD in rules.lead_stages:
            options.append(~exists().where(Lead.profile_id == Profile.id))
        conditions.append(or_(*options))
    if rules.active_within_days is not None:
        since = (now or utcnow()) - timedelta(days=rules.active_within_days)
        conditions.append(Profile.last_seen_at >= since)
    if rules.channels:
        conditions.append(
            exists().where(Event.profile_id == Profile.id, Event.channel.in_(rules.channels))
        )
    if rules.consent != "any":
        conditions.append(in_force(rules.consent, "granted", Profile.id))
    if rules.showroom_visit == "yes":
        conditions.append(showroom_visited(Profile.id))
    elif rules.showroom_visit == "no":
        conditions.append(not_(showroom_visited(Profile.id)))
    return Selection(condition=and_(*conditions), notes=notes)


def count_selection(session: Session, selection: Selection) -> AudienceCount:
    """How many live profiles a condition selects, and how many of them may be e-mailed."""
    exportable = case((and_(*contactable(Profile.id)), 1), else_=0)
    total, consented = session.execute(
        select(func.count(), func.coalesce(func.sum(exportable), 0))
        .select_from(Profile)
        .where(selection.condition)
    ).one()
    return AudienceCount(total=int(total), exportable=int(consented), notes=selection.notes)


def count(session: Session, rules: AudienceRules, *, now: datetime | None = None) -> AudienceCount:
    """The live count: profiles matching the rules, and the exportable ones among them."""
    return count_selection(session, select_profiles(session, rules, now=now))


def count_segment(session: Session, segment_id: int) -> AudienceCount:
    """A segment's members as they are now (live, merged ones folded), and the exportable ones."""
    condition = and_(
        Profile.merged_into_id.is_(None), Profile.id.in_(segment_members([segment_id]))
    )
    return count_selection(session, Selection(condition=condition, notes=()))
