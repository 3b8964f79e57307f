"""Audiences: saved rules (create, change, delete, list in words) and what the builder offers
for each rule. Which profiles rules select, and the live count: `segmentation.targeting`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Subquery, func, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cdp.errors import Conflict, InvalidInput, NotFound
from cdp.ids import row_id
from cdp.models import Audience, Segment, StaffUser, utcnow
from cdp.text import plural
from segmentation.schemas import (
    CHANNEL_LABELS,
    CHANNELS,
    CONSENT_LABELS,
    LEAD_STAGE_CHOICES,
    LEAD_STAGE_LABELS,
    VISIT_LABELS,
    AudienceRow,
    AudienceRules,
    BuilderOptions,
    Choice,
    clean_name,
    rules_from,
)
from segmentation.targeting import (
    carry_over,
    current_run_id,
    latest_configurations,
    resolve_segments,
)

OPTION_LIMIT = 60  # values offered per rule in the builder, most common first


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
    """Segments' names as a rule shows them; a segment of an earlier run says its run (the
    rule then stands for the current run's nearest segment)."""
    ids = [sid for sid in segment_ids if isinstance(sid, int)]
    if not ids:
        return {}
    run_id = current_run_id(session)
    return {
        segment.id: segment.display_name
        if segment.run_id == run_id
        else f"{segment.display_name} (run {segment.run_id})"
        for segment in session.scalars(select(Segment).where(Segment.id.in_(ids)))
    }


def summary_of(session: Session, audience: Audience) -> list[str]:
    """One audience's rules in words (as the list shows them)."""
    try:
        rules = rules_of(audience)
    except InvalidInput:
        return ["These rules cannot be read"]
    return describe(rules, segment_names(session, set(rules.segments)))


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


# --- the builder's form for rules as they stand -------------------------------------------------
@dataclass(frozen=True, slots=True)
class BuilderForm:
    """What the builder shows for rules (a saved audience's, a link's, a refused form's):
    every value of the rules ticked among the choices, so that saving the form untouched
    keeps the rules as they are, never fewer of them."""

    options: BuilderOptions
    values: dict[str, Any]
    notes: list[str]  # segments carried over to the current run, or that cannot be


def _key(value: str) -> str:
    return " ".join(value.split()).lower()


def _offered(
    choices: list[Choice], wanted: Sequence[str], label: Callable[[str], str] = str
) -> tuple[list[Choice], list[str]]:
    """The choices with every wanted value among them, and the values to tick. Rules match
    without regard to case, so a value offered in another spelling ticks the one offered; a
    value not offered now (no one's latest configuration has it, or it is beyond the most
    common) is added to the choices, so the form still holds it."""
    offered = {_key(choice.value): choice.value for choice in choices}
    extra: list[Choice] = []
    ticked: list[str] = []
    for value in wanted:
        key = _key(value)
        if not key:
            continue
        if key not in offered:
            offered[key] = value
            extra.append(Choice(value, label(value)))
        ticked.append(offered[key])
    return [*choices, *extra], list(dict.fromkeys(ticked))


def _segments(session: Session, wanted: Sequence[str]) -> tuple[list[Choice], list[str], list[str]]:
    """The segment rule in the builder: segments of an earlier run ticked as the current run's
    segment they stand for (as counts and exports read them), with a note; a segment that
    cannot be carried over (it no longer exists, or there is no current run) offered and
    ticked as it is, with a note: saving refuses it rather than drop the rule."""
    ids: list[int] = []
    ticked: list[str] = []
    for raw in wanted:
        text = raw.strip()
        segment_id = row_id(text)
        if segment_id is not None:
            ids.append(segment_id)
        elif text:
            ticked.append(text)  # not an id: refused by the count and on saving
    unavailable: list[Choice] = []
    notes: list[str] = []
    for item in carry_over(session, ids):
        if item.current is not None:
            ticked.append(str(item.current.id))
            if item.note:
                notes.append(f"{item.note}: ticked below in its place.")
            continue
        ticked.append(str(item.segment_id))
        if item.segment is None:
            label = f"Segment {item.segment_id}, which no longer exists"
        else:
            label = f"{item.segment.display_name} (run {item.segment.run_id})"
        unavailable.append(Choice(str(item.segment_id), label))
        notes.append(
            f"“{label}” has no segment in a current run to stand for: untick it and choose "
            "segments again before saving."
        )
    return unavailable, list(dict.fromkeys(ticked)), notes


def builder_form(session: Session, values: dict[str, Any]) -> BuilderForm:
    """The builder's choices and ticked values for rules as they stand (`values`: the form's
    fields, as `segmentation.audiences_routes` keeps them)."""
    options = builder_options(session)
    unavailable, segments, notes = _segments(session, values["segment"])
    models, model_values = _offered(options.models, values["model"])
    bodies, body_values = _offered(
        options.body_types, values["body_type"], lambda v: v.replace("_", " ")
    )
    colours, colour_values = _offered(options.colours, values["colour"])
    return BuilderForm(
        options=replace(
            options,
            segments=[*options.segments, *unavailable],
            models=models,
            body_types=bodies,
            colours=colours,
        ),
        values={
            **values,
            "segment": segments,
            "model": model_values,
            "body_type": body_values,
            "colour": colour_values,
        },
        notes=notes,
    )
