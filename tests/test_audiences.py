"""Audiences: which live profiles each rule selects, the live count (everyone and the exportable
ones), saving and reusing audiences, and what is refused. Runs on SQLite and PostgreSQL.

Customers are made through the collection API (identify with traits and consent, Configuration
Saved, events on the web and showroom sources); leads and segmentation runs, which the showroom
and the clustering job make, are written through the models.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cdp.errors import Conflict, InvalidInput, NotFound
from cdp.models import Identity, Lead, Profile, Segment, SegmentMembership, SegmentRun, utcnow
from segmentation import audiences
from segmentation.schemas import AudienceRules, rules_from, rules_from_form
from tests.conftest import SourceKey


# --- factories shared with test_export.py and test_segments_pages.py ----------------------------
def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def send(client: TestClient, source: SourceKey, endpoint: str, body: dict[str, Any]) -> None:
    response = client.post(f"/v1/{endpoint}", json=body, headers=source.auth)
    assert response.status_code == 200, response.text


def customer(
    client: TestClient,
    source: SourceKey,
    factory: sessionmaker[Session],
    *,
    first_name: str | None = "Anna",
    last_name: str | None = "de Vries",
    email: bool = True,
    language: str | None = "nl",
    consent: dict[str, Any] | None = None,
    model: str | None = "Tundra",
    trim: str = "Summit",
    colour: str = "Lava Red",
    colour_hex: str = "#b3261e",
    body_type: str | None = None,
    url: str | None = "auto",
    at: datetime | None = None,
    showroom: SourceKey | None = None,
    consent_later: list[tuple[timedelta, dict[str, Any]]] | None = None,
) -> uuid.UUID:
    """A customer sent through the collection API: identify (traits, consent), then a saved
    configuration; optionally a showroom tablet event and later consent statements."""
    device = str(uuid.uuid4())
    moment = at or utcnow() - timedelta(hours=1)
    address = f"{(first_name or 'x').lower()}.{uuid.uuid4().hex[:8]}@example.nl"
    traits: dict[str, Any] = {}
    if email:
        traits["email"] = address
    if first_name is not None:
        traits["firstName"] = first_name
    if last_name is not None:
        traits["lastName"] = last_name
    if language is not None:
        traits["language"] = language
    if consent is not None:
        traits["consent"] = consent
    send(
        client,
        source,
        "identify",
        {"anonymousId": device, "traits": traits, "timestamp": iso(moment)},
    )
    if model is not None:
        code = f"NW-{uuid.uuid4().hex[:6].upper()}"
        properties: dict[str, Any] = {
            "configuration_code": code,
            "model": model,
            "trim": trim,
            "colour": colour,
            "colour_hex": colour_hex,
            "total_price": 45990,
        }
        if body_type is not None:
            properties["body_type"] = body_type
        if url == "auto":
            properties["url"] = f"https://configurator.example.com/c/{code}"
        elif url is not None:
            properties["url"] = url
        send(
            client,
            source,
            "track",
            {
                "anonymousId": device,
                "event": "Configuration Saved",
                "properties": properties,
                "timestamp": iso(moment + timedelta(minutes=1)),
            },
        )
    for delay, statement in consent_later or []:
        # With the address, as analytics.js sends the traits it keeps: consent is given for one.
        later = {"consent": statement, **({"email": address} if email else {})}
        send(
            client,
            source,
            "identify",
            {
                "anonymousId": device,
                "traits": later,
                "timestamp": iso(moment + delay),
            },
        )
    if showroom is not None:
        send(
            client,
            showroom,
            "track",
            {
                "anonymousId": device,
                "event": "Configuration Started",
                "properties": {"model": model or "Vela"},
                "timestamp": iso(moment + timedelta(minutes=2)),
            },
        )
    with factory() as session:
        return session.scalars(
            select(Identity.profile_id).where(
                Identity.kind == "anonymous_id", Identity.value == device
            )
        ).one()


def add_lead(
    factory: sessionmaker[Session], profile_id: uuid.UUID, stage: str, *, age: timedelta
) -> None:
    """A lead as the showroom leaves it (lead stages are the showroom's, not ours)."""
    when = utcnow() - age
    with factory() as session:
        session.add(
            Lead(
                profile_id=profile_id,
                channel="website",
                stage=stage,
                created_at=when,
                updated_at=when,
            )
        )
        session.commit()


@dataclass
class Run:
    id: int
    segments: list[int]


def make_run(
    factory: sessionmaker[Session],
    members: list[list[uuid.UUID]],
    *,
    names: list[str] | None = None,
    design: list[float] | None = None,
    created_by: str = "cli",
) -> Run:
    """A finished segmentation run with these members per segment, as the clustering job
    stores it (feature means, summary, sizes)."""
    now = utcnow()
    with factory() as session:
        run = SegmentRun(
            status="done",
            progress=1.0,
            stage="done",
            parameters={"k": len(members), "seed": 0},
            quality={
                "k": len(members),
                "silhouette": 0.41,
                "sizes": [len(m) for m in members],
                "feature_stds": {"design_share": 0.2, "price_k": 10.0},
            },
            profiles=sum(len(m) for m in members),
            segments=len(members),
            created_by=created_by,
            created_at=now,
            finished_at=now,
        )
        session.add(run)
        session.flush()
        ids = []
        for number, profile_ids in enumerate(members, 1):
            share = (design or [0.7, 0.1, 0.4, 0.2])[number - 1]
            segment = Segment(
                run_id=run.id,
                number=number,
                name=(names or [])[number - 1] if names else f"Segment {number}",
                description=f"Description of segment {number}",
                size=len(profile_ids),
                profile={
                    "features": {
                        "design_share": {
                            "label": "design",
                            "unit": "share",
                            "group": "interest",
                            "segment": share,
                            "overall": 0.35,
                            "z": round((share - 0.35) / 0.2, 2),
                        },
                        "price_k": {
                            "label": "configured price",
                            "unit": "k€",
                            "group": "car",
                            "segment": 40.0 + number,
                            "overall": 42.0,
                            "z": round((number - 2) / 10, 2),
                        },
                    }
                },
                summary={
                    "models": [{"name": "Tundra", "profiles": len(profile_ids), "share": 1.0}],
                    "colours": [
                        {
                            "name": "Lava Red",
                            "hex": "#b3261e",
                            "profiles": len(profile_ids),
                            "share": 1.0,
                        }
                    ],
                    "body_types": [],
                    "email_consent": {"profiles": 1, "share": 0.5},
                },
            )
            session.add(segment)
            session.flush()
            ids.append(segment.id)
            session.add_all(
                SegmentMembership(run_id=run.id, segment_id=segment.id, profile_id=pid)
                for pid in profile_ids
            )
        session.commit()
        return Run(id=run.id, segments=ids)


def selected(session: Session, rules: AudienceRules, among: list[uuid.UUID]) -> set[uuid.UUID]:
    """Which of `among` the rules select."""
    selection = audiences.select_profiles(session, rules)
    found = session.scalars(select(Profile.id).where(selection.condition, Profile.id.in_(among)))
    return set(found)


# --- the people of these tests ------------------------------------------------------------------
@dataclass
class People:
    anna: uuid.UUID  # e-mail granted; Tundra (SUV) in Lava Red; lead at quote; web
    bram: uuid.UUID  # e-mail granted, then withdrawn; Vela (hatchback); seen 100 days ago
    chris: uuid.UUID  # no consent; Lumo (compact SUV) in lava red; visited the showroom; new lead
    dana: uuid.UUID  # e-mail granted, objected to profiling; Tundra in white; phone granted
    eve: uuid.UUID  # anonymous, no e-mail: a Tundra saved
    finn: uuid.UUID  # e-mail granted; no configuration

    @property
    def everyone(self) -> list[uuid.UUID]:
        return [self.anna, self.bram, self.chris, self.dana, self.eve, self.finn]


def make_people(
    client: TestClient, web: SourceKey, showroom: SourceKey, factory: sessionmaker[Session]
) -> People:
    now = utcnow()
    anna = customer(client, web, factory, first_name="Anna", consent={"email": True})
    bram = customer(
        client,
        web,
        factory,
        first_name="Bram",
        consent={"email": True},
        model="Vela",
        colour="Glacier White",
        at=now - timedelta(days=100),
        consent_later=[(timedelta(days=1), {"email": False})],
    )
    chris = customer(
        client, web, factory, first_name="Chris", model="Lumo", colour="lava red",
        showroom=showroom,
    )  # fmt: skip
    dana = customer(
        client,
        web,
        factory,
        first_name="Dana",
        consent={"email": True, "tracking": False, "phone": True},
        colour="Glacier White",
    )
    eve = customer(client, web, factory, first_name=None, last_name=None, email=False)
    finn = customer(client, web, factory, first_name="Finn", consent={"email": True}, model=None)
    add_lead(factory, anna, "quote", age=timedelta(days=1))
    add_lead(factory, anna, "lost", age=timedelta(days=30))  # older: not the latest
    add_lead(factory, chris, "new", age=timedelta(hours=2))
    return People(anna, bram, chris, dana, eve, finn)


@pytest.fixture()
def people(
    app_client: TestClient,
    web_source: SourceKey,
    showroom_source: SourceKey,
    session_factory: sessionmaker[Session],
) -> People:
    return make_people(app_client, web_source, showroom_source, session_factory)


# --- rules --------------------------------------------------------------------------------------
def test_no_rules_select_every_live_profile(db: Session, people: People) -> None:
    assert selected(db, AudienceRules(), people.everyone) == set(people.everyone)


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        ({"models": ["Tundra"]}, {"anna", "dana", "eve"}),
        ({"models": ["tundra ", "VELA"]}, {"anna", "dana", "eve", "bram"}),
        ({"body_types": ["suv"]}, {"anna", "dana", "eve"}),
        ({"body_types": ["suv", "compact_suv"]}, {"anna", "chris", "dana", "eve"}),
        ({"colours": ["Lava Red"]}, {"anna", "chris", "eve"}),
        ({"models": ["Tundra"], "colours": ["lava red"]}, {"anna", "eve"}),
        ({"lead_stages": ["quote"]}, {"anna"}),
        ({"lead_stages": ["lost"]}, set()),
        ({"lead_stages": ["new", "none"]}, {"chris", "bram", "dana", "eve", "finn"}),
        ({"active_within_days": 30}, {"anna", "chris", "dana", "eve", "finn"}),
        ({"channels": ["showroom"]}, {"chris"}),
        ({"channels": ["web", "showroom"]}, {"anna", "bram", "chris", "dana", "eve", "finn"}),
        ({"consent": "email"}, {"anna", "dana", "finn"}),
        ({"consent": "phone"}, {"dana"}),
        ({"showroom_visit": "yes"}, {"chris"}),
        ({"showroom_visit": "no"}, {"anna", "bram", "dana", "eve", "finn"}),
        ({"models": ["Tundra"], "consent": "email", "active_within_days": 7}, {"anna", "dana"}),
    ],
)
def test_each_rule_selects_the_right_profiles(
    db: Session, people: People, rules: dict[str, Any], expected: set[str]
) -> None:
    names = {
        getattr(people, name): name for name in ("anna", "bram", "chris", "dana", "eve", "finn")
    }
    found = selected(db, rules_from(rules), people.everyone)
    assert {names[pid] for pid in found} == expected


def test_the_latest_configuration_counts(
    app_client: TestClient,
    web_source: SourceKey,
    session_factory: sessionmaker[Session],
    db: Session,
) -> None:
    device = str(uuid.uuid4())
    then = utcnow() - timedelta(days=2)
    for minutes, model in ((0, "Tundra"), (60, "Vela")):
        send(
            app_client,
            web_source,
            "track",
            {
                "anonymousId": device,
                "event": "Configuration Saved",
                "properties": {"configuration_code": f"NW-{uuid.uuid4().hex[:6]}", "model": model},
                "timestamp": iso(then + timedelta(minutes=minutes)),
            },
        )
    pid = db.scalars(select(Identity.profile_id).where(Identity.value == device)).one()
    assert selected(db, rules_from({"models": ["Vela"]}), [pid]) == {pid}
    assert selected(db, rules_from({"models": ["Tundra"]}), [pid]) == set()
    # The body type comes from the catalogue when the configurator sends none.
    assert selected(db, rules_from({"body_types": ["hatchback"]}), [pid]) == {pid}


def test_absorbed_profiles_are_never_selected(
    people: People, session_factory: sessionmaker[Session], db: Session
) -> None:
    with session_factory() as session:
        absorbed = session.get(Profile, people.eve)
        assert absorbed is not None
        absorbed.merged_into_id = people.anna
        session.commit()
    db.expire_all()
    assert people.eve not in selected(db, AudienceRules(), people.everyone)


# --- counts -------------------------------------------------------------------------------------
def test_count_gives_everyone_matching_and_the_exportable_ones(
    app_client: TestClient,
    web_source: SourceKey,
    showroom_source: SourceKey,
    session_factory: sessionmaker[Session],
    db: Session,
) -> None:
    before_all = audiences.count(db, AudienceRules())
    before_tundra = audiences.count(db, rules_from({"models": ["Tundra"]}))
    make_people(app_client, web_source, showroom_source, session_factory)
    everyone = audiences.count(db, AudienceRules())
    tundra = audiences.count(db, rules_from({"models": ["Tundra"]}))
    # Exportable: e-mail granted and in force, not objecting, with an address: Anna and Finn.
    assert (everyone.total - before_all.total, everyone.exportable - before_all.exportable) == (
        6,
        2,
    )
    assert (tundra.total - before_tundra.total, tundra.exportable - before_tundra.exportable) == (
        3,
        1,
    )
    assert everyone.notes == ()


def test_consent_rule_and_exportable_agree_on_withdrawal_at_the_same_time(
    app_client: TestClient,
    web_source: SourceKey,
    session_factory: sessionmaker[Session],
    db: Session,
) -> None:
    # A grant and a withdrawal stated at the same moment: the withdrawal wins.
    pid = customer(
        app_client,
        web_source,
        session_factory,
        consent={"email": True},
        consent_later=[(timedelta(0), {"email": False})],
    )
    assert selected(db, rules_from({"consent": "email"}), [pid]) == set()
    later = customer(
        app_client,
        web_source,
        session_factory,
        consent={"email": False},
        consent_later=[(timedelta(minutes=5), {"email": True})],
    )
    assert selected(db, rules_from({"consent": "email"}), [later]) == {later}


# --- segments -----------------------------------------------------------------------------------
def test_segment_rule_selects_members_of_the_current_run(
    people: People, session_factory: sessionmaker[Session], db: Session
) -> None:
    run = make_run(session_factory, [[people.anna, people.bram], [people.chris, people.dana]])
    assert selected(db, rules_from({"segments": [run.segments[0]]}), people.everyone) == {
        people.anna,
        people.bram,
    }
    both = rules_from({"segments": run.segments, "consent": "email"})
    assert selected(db, both, people.everyone) == {people.anna, people.dana}
    counted = audiences.count(db, rules_from({"segments": [run.segments[1]]}))
    assert (counted.total, counted.exportable) == (2, 0)
    assert audiences.count_segment(db, run.segments[0]).exportable == 1


def test_a_member_absorbed_since_the_run_counts_as_its_survivor(
    people: People, session_factory: sessionmaker[Session], db: Session
) -> None:
    run = make_run(session_factory, [[people.eve], [people.anna]])
    with session_factory() as session:
        absorbed = session.get(Profile, people.eve)
        assert absorbed is not None
        absorbed.merged_into_id = people.finn
        session.commit()
    db.expire_all()
    assert selected(db, rules_from({"segments": [run.segments[0]]}), people.everyone) == {
        people.finn
    }


def test_segments_of_an_earlier_run_carry_over_to_the_nearest_segment(
    people: People, session_factory: sessionmaker[Session], db: Session
) -> None:
    old = make_run(
        session_factory, [[people.anna], [people.bram]], names=["Design fans", "Bargain hunters"]
    )
    # The next run numbers them the other way round: design now is segment 2.
    new = make_run(
        session_factory,
        [[people.chris], [people.dana]],
        names=["Price-conscious", "Design-focused"],
        design=[0.1, 0.7],
    )
    counted = audiences.count(db, rules_from({"segments": [old.segments[0]]}))
    assert counted.total == 1
    assert counted.notes == (
        f"“Design fans” (run {old.id}) is now “Design-focused” in the current run {new.id}",
    )
    assert selected(db, rules_from({"segments": [old.segments[0]]}), people.everyone) == {
        people.dana
    }


def test_segment_rules_need_a_run_and_known_segments(
    people: People, session_factory: sessionmaker[Session], db: Session
) -> None:
    if audiences.current_run_id(db) is None:
        with pytest.raises(InvalidInput, match="there are no segments yet"):
            audiences.count(db, rules_from({"segments": [1]}))
    make_run(session_factory, [[people.anna]])
    with pytest.raises(InvalidInput, match="segment 987654321 does not exist"):
        audiences.count(db, rules_from({"segments": [987654321]}))


# --- saving and reusing -------------------------------------------------------------------------
def test_save_reuse_update_and_delete_an_audience(
    people: People, session_factory: sessionmaker[Session], db: Session
) -> None:
    rules = rules_from({"models": ["Tundra"], "consent": "email"})
    saved = audiences.save_audience(db, name="  Tundra   prospects ", rules=rules, user_id=None)
    db.commit()
    assert saved.name == "Tundra prospects"
    assert saved.rules == {"models": ["Tundra"], "consent": "email"}

    again = audiences.find_audience(db, "tundra PROSPECTS")
    assert again.id == saved.id
    assert audiences.rules_of(again) == rules
    assert audiences.count(db, audiences.rules_of(again)) == audiences.count(db, rules)

    listed = [row for row in audiences.list_audiences(db) if row.id == saved.id]
    assert listed and listed[0].summary == [
        "Model: Tundra",
        "Consent: E-mail marketing granted",
    ]

    wider = rules_from({"models": ["Tundra", "Lumo"]})
    audiences.save_audience(
        db, name="Tundra and Lumo", rules=wider, user_id=None, audience_id=saved.id
    )
    db.commit()
    assert audiences.rules_of(audiences.get_audience(db, saved.id)) == wider
    with pytest.raises(NotFound):
        audiences.find_audience(db, "Tundra prospects")

    assert audiences.delete_audience(db, saved.id) == "Tundra and Lumo"
    db.commit()
    with pytest.raises(NotFound):
        audiences.get_audience(db, saved.id)


def test_duplicate_names_are_refused_whatever_their_case(db: Session) -> None:
    first = audiences.save_audience(
        db, name="Red SUVs", rules=rules_from({"colours": ["Lava Red"]}), user_id=None
    )
    other = audiences.save_audience(db, name="Estates", rules=AudienceRules(), user_id=None)
    db.commit()
    with pytest.raises(Conflict, match="already exists"):
        audiences.save_audience(db, name="red  suvs", rules=AudienceRules(), user_id=None)
    with pytest.raises(Conflict, match="already exists"):
        audiences.save_audience(
            db, name="RED SUVs", rules=AudienceRules(), user_id=None, audience_id=other.id
        )
    db.rollback()
    # Saving an audience under its own name is no conflict.
    audiences.save_audience(
        db, name="Red SUVs", rules=AudienceRules(), user_id=None, audience_id=first.id
    )
    with pytest.raises(InvalidInput, match="name"):
        audiences.save_audience(db, name="   ", rules=AudienceRules(), user_id=None)
    with pytest.raises(InvalidInput, match="200"):
        audiences.save_audience(db, name="x" * 201, rules=AudienceRules(), user_id=None)


def test_saving_refuses_segments_that_do_not_exist(db: Session) -> None:
    with pytest.raises(InvalidInput, match="Segment"):
        audiences.save_audience(
            db, name="Ghosts", rules=rules_from({"segments": [987654321]}), user_id=None
        )


# --- what the form may send ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"active_within_days": "abc"}, "Last active: give a number of days between 1 and 3650"),
        ({"active_within_days": "0"}, "Last active: give a number of days between 1 and 3650"),
        ({"active_within_days": "99999"}, "Last active: give a number of days between 1 and 3650"),
        ({"lead_stage": ["sold", "maybe"]}, "Lead stage: unknown lead stage 'maybe'"),
        ({"channel": ["email"]}, "Channel: unknown channel 'email': choose web or showroom"),
        ({"consent": "sms"}, "Consent: choose one of the options"),
        ({"showroom_visit": "often"}, "Showroom visit: choose one of the options"),
        ({"segment": ["1; drop table"]}, "Segment: choose segments from the list"),
    ],
)
def test_impossible_rules_are_refused_with_a_clear_message(
    fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        rules_from_form(**fields)
    assert refused.value.message == message


def test_form_values_are_cleaned() -> None:
    rules = rules_from_form(
        segment=["3", "", "3"],
        model=[" Tundra ", "Tundra", ""],
        body_type=["SUV"],
        lead_stage=["none"],
        active_within_days=" 30 ",
        channel=["web"],
    )
    assert rules.stored() == {
        "segments": [3],
        "models": ["Tundra"],
        "body_types": ["suv"],
        "lead_stages": ["none"],
        "active_within_days": 30,
        "channels": ["web"],
    }
    with pytest.raises(InvalidInput):
        rules_from({"models": ["Tundra"], "unknown_rule": 1})
