"""Audiences: saved rules over live profiles, the live count, and who may be e-mailed.

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

from sqlalchemy import (
    ColumnElement,
    Select,
    Subquery,
    and_,
    case,
    exists,
    func,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from cdp.demo import catalogue
from cdp.errors import Conflict, InvalidInput, NotFound
from cdp.models import (
    Appointment,
    Audience,
    Configuration,
    Consent,
    Event,
    Identity,
    Lead,
    Profile,
    Segment,
    SegmentMembership,
    SegmentRun,
    StaffUser,
    TabletSession,
    utcnow,
)
from cdp.text import plural
from segmentation.schemas import (
    CHANNEL_LABELS,
    CHANNELS,
    CONSENT_LABELS,
    LEAD_STAGE_CHOICES,
    LEAD_STAGE_LABELS,
    NO_LEAD,
    VISIT_LABELS,
    AudienceCount,
    AudienceRow,
    AudienceRules,
    BuilderOptions,
    Choice,
    clean_name,
    rules_from,
)

OPTION_LIMIT = 60  # values offered per rule in the builder, most common first


# --- who may be e-mailed ------------------------------------------------------------------------
def in_force(purpose: str, status: str, profile_id: Any) -> ColumnElement[bool]:
    """The profile's consent statement in force for `purpose` has `status`.

    The latest statement by `stated_at` is in force. When two statements share a time, the
    withdrawal wins: leaving someone out is the safe side.
    """
    statement = aliased(Consent)
    later = aliased(Consent)
    if status == "granted":
        overruled = or_(
            later.stated_at > statement.stated_at,
            and_(later.stated_at == statement.stated_at, later.status != "granted"),
        )
    else:
        overruled = later.stated_at > statement.stated_at
    return exists().where(
        statement.profile_id == profile_id,
        statement.purpose == purpose,
        statement.status == status,
        ~exists().where(
            later.profile_id == statement.profile_id,
            later.purpose == purpose,
            overruled,
        ),
    )


def never_contact(profile_id: Any) -> list[ColumnElement[bool]]:
    """Conditions that each keep a profile out of every export, whatever else it consented to.

    - Objected to profiling and direct marketing (GDPR art. 21, absolute): the tracking consent
      in force is withdrawn.
    An erased profile (art. 17) joins this list the day erasure is recorded, as one more
    condition; everything that exports or counts exportable profiles goes through here.
    """
    return [in_force("tracking", "withdrawn", profile_id)]


def contactable(profile_id: Any, *, require_email: bool = True) -> list[ColumnElement[bool]]:
    """May be sent marketing e-mail: nothing in `never_contact` applies, and (unless the caller
    joins `consented_addresses` itself) the profile holds an address with its own grant."""
    conditions = [~condition for condition in never_contact(profile_id)]
    if require_email:
        conditions.append(consented_addresses(of=profile_id).exists())
    return conditions


def consented_addresses(
    purpose: str = "email", *, of: Any = None
) -> Select[uuid.UUID, str | None, datetime]:
    """Each address (phone number for "phone") a live profile holds whose own consent in force
    is granted: (profile_id, address, granted_at).

    Consent belongs to the address it was given for. A grant counts for its address only; what
    is in force for an address is the latest statement made for it, or a later withdrawal made
    for no address (one that names none covers every address: leaving out is the safe side).
    The address must still be the profile's own identifier: a grant recorded with an address
    that identity resolution did not give the profile (another person's) never counts for it.
    `of`: only that profile's (a correlated condition), else every profile's.
    """
    grant = aliased(Consent, name="address_grant")
    later = aliased(Consent, name="later_statement")
    overruled = exists().where(
        later.profile_id == grant.profile_id,
        later.purpose == purpose,
        or_(
            later.address == grant.address,
            and_(later.address.is_(None), later.status != "granted"),
        ),
        or_(
            later.stated_at > grant.stated_at,
            and_(later.stated_at == grant.stated_at, later.status != "granted"),
        ),
    )
    statement = (
        select(
            grant.profile_id.label("profile_id"),
            grant.address.label("address"),
            grant.stated_at.label("granted_at"),
        )
        .join(
            Identity,
            and_(
                Identity.profile_id == grant.profile_id,
                Identity.kind == purpose,
                Identity.value == grant.address,
            ),
        )
        .where(grant.purpose == purpose, grant.status == "granted", ~overruled)
    )
    return statement if of is None else statement.where(grant.profile_id == of)


def export_addresses() -> Subquery:
    """The one address an export writes for each profile that has a consented one: the one
    granted last (then the first in alphabetical order), so nobody gets the mailing twice."""
    consented = consented_addresses().subquery("consented_address")
    rank = func.row_number().over(
        partition_by=consented.c.profile_id,
        order_by=(consented.c.granted_at.desc(), consented.c.address),
    )
    ranked = select(consented.c.profile_id, consented.c.address, rank.label("rank")).subquery(
        "ranked_address"
    )
    return (
        select(ranked.c.profile_id, ranked.c.address)
        .where(ranked.c.rank == 1)
        .subquery("export_address")
    )


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


def resolve_segments(session: Session, segment_ids: Sequence[int]) -> ResolvedSegments:
    """The current run's segments for segment ids a rule names.

    A segment of an earlier run is carried over to the current run's segment nearest to it in
    what characterises it (the same measure as growth between runs), and a note says so.
    InvalidInput when there is no finished run, or a segment does not exist.
    """
    run_id = current_run_id(session)
    if run_id is None:
        raise InvalidInput(
            "Segment: there are no segments yet; build segments first", field="segments"
        )
    wanted = list(dict.fromkeys(segment_ids))
    found = {s.id: s for s in session.scalars(select(Segment).where(Segment.id.in_(wanted)))}
    missing = [sid for sid in wanted if sid not in found]
    if missing:
        raise InvalidInput(
            f"Segment: segment {missing[0]} does not exist (any more); choose segments again",
            field="segments",
        )
    current: list[Segment] = []
    spread: dict[str, Any] = {}
    if any(found[sid].run_id != run_id for sid in wanted):
        current = list(
            session.scalars(
                select(Segment).where(Segment.run_id == run_id).order_by(Segment.number)
            )
        )
        if not current:
            raise InvalidInput("Segment: the current run has no segments", field="segments")
        run = session.get(SegmentRun, run_id)
        spread = dict((run.quality or {}).get("feature_stds") or {}) if run else {}
    ids: list[int] = []
    notes: list[str] = []
    for sid in wanted:
        segment = found[sid]
        if segment.run_id == run_id:
            ids.append(segment.id)
            continue
        nearest = _nearest(segment, current, spread)
        ids.append(nearest.id)
        notes.append(
            f"“{segment.display_name}” (run {segment.run_id}) is now "
            f"“{nearest.display_name}” in the current run {run_id}"
        )
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


# --- saved audiences ----------------------------------------------------------------------------
def get_audience(session: Session, audience_id: int) -> Audience:
    audience = session.get(Audience, audience_id)
    if audience is None:
        raise NotFound(f"no audience {audience_id}", field="audience_id")
    return audience


def find_audience(session: Session, name: str) -> Audience:
    """An audience by name (case and extra spaces do not matter)."""
    wanted = " ".join(name.split())
    audience = session.scalar(
        select(Audience).where(func.lower(Audience.name) == wanted.lower()).limit(1)
    )
    if audience is None:
        raise NotFound(f"there is no audience named {wanted!r}", field="audience")
    return audience


def rules_of(audience: Audience) -> AudienceRules:
    """An audience's stored rules; InvalidInput when they no longer read as rules."""
    return rules_from(dict(audience.rules or {}))


def save_audience(
    session: Session,
    *,
    name: str,
    rules: AudienceRules,
    user_id: int | None,
    audience_id: int | None = None,
) -> Audience:
    """Create an audience, or update one (`audience_id`). Names are unique regardless of case:
    Conflict when another audience has it."""
    cleaned = clean_name(name)
    if rules.segments:
        resolve_segments(session, rules.segments)  # refuse unknown segments now, not at export
    taken = session.scalar(
        select(Audience.id).where(
            func.lower(Audience.name) == cleaned.lower(),
            Audience.id != audience_id if audience_id is not None else true(),
        )
    )
    if taken is not None:
        raise Conflict(f"an audience named “{cleaned}” already exists", field="name")
    now = utcnow()
    if audience_id is None:
        audience = Audience(
            name=cleaned,
            rules=rules.stored(),
            created_by_user_id=user_id,
            created_at=now,
            updated_at=now,
        )
        session.add(audience)
    else:
        audience = get_audience(session, audience_id)
        audience.name, audience.rules, audience.updated_at = cleaned, rules.stored(), now
    try:
        with session.begin_nested():  # a racing save of the same name
            session.flush()
    except IntegrityError as error:
        raise Conflict(f"an audience named “{cleaned}” already exists", field="name") from error
    return audience


def delete_audience(session: Session, audience_id: int) -> str:
    """Delete an audience (its export log stays); its name."""
    audience = get_audience(session, audience_id)
    name = audience.name
    session.delete(audience)
    session.flush()
    return name


def list_audiences(session: Session) -> list[AudienceRow]:
    """Every saved audience by name, its rules in words and who made it."""
    rows = session.execute(
        select(Audience, StaffUser.name)
        .outerjoin(StaffUser, StaffUser.id == Audience.created_by_user_id)
        .order_by(func.lower(Audience.name))
    ).all()
    stored_ids = {sid for audience, _ in rows for sid in (audience.rules or {}).get("segments", [])}
    names = segment_names(session, stored_ids)
    found: list[AudienceRow] = []
    for audience, creator in rows:
        try:
            rules: AudienceRules | None = rules_of(audience)
        except InvalidInput:
            rules = None
        found.append(
            AudienceRow(
                id=audience.id,
                name=audience.name,
                rules=rules,
                summary=describe(rules, names) if rules else ["These rules cannot be read"],
                created_at=audience.created_at,
                updated_at=audience.updated_at,
                created_by=creator,
            )
        )
    return found


def segment_names(session: Session, segment_ids: set[Any]) -> dict[int, str]:
    ids = [sid for sid in segment_ids if isinstance(sid, int)]
    if not ids:
        return {}
    return {
        segment.id: segment.display_name
        for segment in session.scalars(select(Segment).where(Segment.id.in_(ids)))
    }


def describe(rules: AudienceRules, segment_names: dict[int, str]) -> list[str]:
    """The rules in words, one line per rule: "Model: Tundra or Lumo"."""
    lines: list[str] = []
    if rules.segments:
        lines.append(
            "Segment: " + " or ".join(segment_names.get(s, f"#{s}") for s in rules.segments)
        )
    if rules.models:
        lines.append("Model: " + " or ".join(rules.models))
    if rules.body_types:
        lines.append("Body type: " + " or ".join(b.replace("_", " ") for b in rules.body_types))
    if rules.colours:
        lines.append("Colour: " + " or ".join(rules.colours))
    if rules.lead_stages:
        lines.append(
            "Lead stage: " + " or ".join(LEAD_STAGE_LABELS.get(s, s) for s in rules.lead_stages)
        )
    if rules.active_within_days is not None:
        days = rules.active_within_days
        lines.append(f"Last active: within {days} {plural(days, 'day')}")
    if rules.channels:
        lines.append("Channel: " + " or ".join(CHANNEL_LABELS[c] for c in rules.channels))
    if rules.consent != "any":
        lines.append("Consent: " + CONSENT_LABELS[rules.consent])
    if rules.showroom_visit != "any":
        lines.append("Showroom: " + VISIT_LABELS[rules.showroom_visit])
    return lines or ["Everyone"]


# --- what the builder offers --------------------------------------------------------------------
def _value_counts(
    session: Session, latest: Subquery, name: str
) -> list[tuple[str, int, str | None]]:
    """Distinct values of a column of people's latest saved configuration (the one the rules
    look at), ignoring case, with how many people have it, most first, and a colour swatch
    (for colours). Of the spellings of one value the first in code-point order is shown:
    "Lava Red" before "lava red"."""
    column = latest.c[name]
    key = func.lower(func.trim(column))
    rows = session.execute(
        select(func.min(func.trim(column)), func.count(), func.max(latest.c.colour_hex))
        .where(column.is_not(None), key != "")
        .group_by(key)
        .order_by(func.count().desc(), key)
        .limit(OPTION_LIMIT)
    )
    return [(str(label), int(n), hex_) for label, n, hex_ in rows]


def builder_options(session: Session) -> BuilderOptions:
    """What each rule offers: the current run's segments, and the models, body types and
    colours of people's latest saved configurations, each with how many people have it."""
    latest = latest_configurations()
    models = _value_counts(session, latest, "model")
    colours = _value_counts(session, latest, "colour")
    bodies = [
        (str(value), int(n))
        for value, n in session.execute(
            select(latest.c.body_type, func.count())
            .where(latest.c.body_type.is_not(None))
            .group_by(latest.c.body_type)
            .order_by(func.count().desc(), latest.c.body_type)
            .limit(OPTION_LIMIT)
        )
    ]
    run_id = current_run_id(session)
    segments = (
        list(
            session.scalars(
                select(Segment).where(Segment.run_id == run_id).order_by(Segment.number)
            )
        )
        if run_id is not None
        else []
    )
    return BuilderOptions(
        segments=[Choice(str(s.id), s.display_name, s.size) for s in segments],
        models=[Choice(label, label, n) for label, n, _ in models],
        body_types=[Choice(value, value.replace("_", " "), n) for value, n in bodies],
        colours=[Choice(label, label, n, hex_ or None) for label, n, hex_ in colours],
        lead_stages=[Choice(stage, LEAD_STAGE_LABELS[stage]) for stage in LEAD_STAGE_CHOICES],
        channels=[Choice(channel, CHANNEL_LABELS[channel]) for channel in CHANNELS],
        run_id=run_id,
    )
