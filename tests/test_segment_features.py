"""The feature matrix segmentation clusters, for hand-made profiles sent through the collection API.

Covers: every feature of a web profile computed as docs/segments.md says (interest shares as
`cdp.taxonomy.interest_of` counts them, configured price with a non-numeric total_price
ignored, body type and electric from the catalogue, steps reached, saved configurations,
sessions split on 30-minute gaps, recency, frequency, test drive, finance, trade-in, quote,
lead stage); showroom visits counted per tablet session; notes and appointments counting
towards finance interest and test drive; who is in the matrix (at least one configurator event;
not objecting: the tracking consent in force is withdrawn; a later grant brings them back);
merged profiles counted once, with events a racing writer left on the absorbed id; the kept
per-profile event aggregates staying exact as events arrive after a run, as merges move them,
as the visit window moves on (or back) and for events dated after the run, always equal to a
rebuild from every event; and every feature documented in docs/segments.md.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cdp.models import Appointment, Event, Identity, Lead, Note, Profile
from cdp.taxonomy import INTERESTS, interest_of
from segmentation.features import COLUMNS, FEATURES, FeatureMatrix, build_features
from tests.helpers import SourceKey

T0 = datetime(2026, 4, 1, 18, 0, tzinfo=UTC)
DOCS = Path(__file__).resolve().parents[1] / "docs" / "segments.md"


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def track(anon: str, minute: float, event: str, **properties: Any) -> dict[str, Any]:
    return {
        "type": "track",
        "anonymousId": anon,
        "messageId": uid("msg"),
        "timestamp": at(minute),
        "event": event,
        "properties": properties,
    }


def page(anon: str, minute: float, name: str) -> dict[str, Any]:
    return {
        "type": "page",
        "anonymousId": anon,
        "messageId": uid("msg"),
        "timestamp": at(minute),
        "name": name,
        "properties": {"path": "/"},
    }


def identify(anon: str, minute: float, **traits: Any) -> dict[str, Any]:
    return {
        "type": "identify",
        "anonymousId": anon,
        "messageId": uid("msg"),
        "timestamp": at(minute),
        "traits": traits,
    }


def send(client: TestClient, source: SourceKey, messages: list[dict[str, Any]]) -> None:
    response = client.post("/v1/batch", json={"batch": messages}, headers=source.auth)
    assert response.status_code == 200, response.text
    assert response.json()["rejected"] == []


def profile_of(db: Session, anon: str) -> uuid.UUID:
    db.expire_all()
    pid = db.scalar(
        select(Identity.profile_id).where(Identity.kind == "anonymous_id", Identity.value == anon)
    )
    assert pid is not None
    profile = db.get(Profile, pid)
    assert profile is not None
    return profile.merged_into_id or pid


def features(factory: sessionmaker[Session], *, days_after: float = 3) -> FeatureMatrix:
    return build_features(factory, as_of=T0 + timedelta(days=days_after))


def sterna_buyer(anon: str) -> list[dict[str, Any]]:
    """A web visitor configuring the (electric) Sterna sedan over two sessions two days apart."""
    day2 = 2 * 24 * 60
    return [
        page(anon, 0, "Home"),
        track(anon, 1, "Configuration Started", model="Sterna", total_price=50000),
        track(anon, 2, "Configuration Step Viewed", step="model", model="Sterna"),
        track(anon, 3, "Configuration Step Viewed", step="trim", model="Sterna"),
        track(anon, 4, "Configuration Step Viewed", step="engine", model="Sterna"),
        track(
            anon, 5, "Option Selected", category="engine", model="Sterna", fuel="electric",
            total_price=54000,
        ),
        track(anon, 6, "Configuration Step Viewed", step="colour", model="Sterna"),
        track(anon, 7, "Option Selected", category="colour", model="Sterna", total_price="abc"),
        track(anon, 8, "Option Selected", category="colour", model="Sterna"),
        track(anon, 9, "Option Selected", category="colour", model="Sterna", total_price=52000),
        track(anon, 10, "Configuration Step Viewed", step="wheels", model="Sterna"),
        track(anon, 11, "Option Selected", category="wheels", model="Sterna"),
        # Two days later: a second session.
        track(anon, day2, "Finance Calculated", model="Sterna", monthly_payment=699),
        track(
            anon, day2 + 1, "Configuration Saved", configuration_code=f"NW-{anon[-6:].upper()}",
            model="Sterna", colour="Polar Blue", total_price=52000,
        ),
        track(anon, day2 + 2, "Test Drive Requested", model="Sterna"),
    ]  # fmt: skip


def test_a_web_profile_gets_every_feature_as_documented(
    app_client: TestClient,
    web_source: SourceKey,
    session_factory: sessionmaker[Session],
    db: Session,
) -> None:
    anon = uid("sterna")
    send(app_client, web_source, sterna_buyer(anon))
    pid = profile_of(db, anon)
    db.add(Lead(profile_id=pid, channel="website", stage="quote"))
    db.add(Lead(profile_id=pid, channel="phone", stage="lost", lost_reason="price"))
    db.commit()

    matrix = features(session_factory)
    assert matrix.columns == COLUMNS
    assert matrix.values.dtype.name == "float32"
    assert matrix.profile_ids == [pid]
    row = matrix.row(pid)
    # Interest: steps trim, engine -> performance; colour, wheels -> design; options: engine ->
    # performance, 3 colours + wheels -> design; Finance Calculated -> price and finance.
    assert row["design_share"] == pytest.approx(6 / 10)
    assert row["performance_share"] == pytest.approx(3 / 10)
    assert row["comfort_safety_share"] == 0
    assert row["price_finance_share"] == pytest.approx(1 / 10)
    # total_price 50000, 54000, 52000 and 52000 (saved); "abc" is not a number and is ignored.
    assert row["price_k"] == pytest.approx(52.0)
    assert row["sedan_share"] == 1 and row["suv_share"] == 0 and row["hatchback_share"] == 0
    assert row["electric_share"] == 1
    assert row["steps_reached"] == 5  # wheels: model, trim, engine, colour, wheels
    assert row["configurator_events"] == 12  # started, 5 steps, 5 options, saved
    assert row["saved_configurations"] == 1
    assert row["sessions"] == 2
    assert row["recency_days"] == pytest.approx(1 - 2 / (24 * 60))  # last event: day 2 + 2 min
    assert row["frequency_per_week"] == 2  # two visits within a week
    assert row["showroom_visits"] == 0
    assert row["test_drive"] == 1
    assert row["finance_interest"] == 1
    assert row["trade_in_interest"] == 0
    assert row["quote_requested"] == 0
    assert row["lead_stage"] == 5  # quote; the lost lead counts for nothing
    assert matrix.imputed == {}


def test_showroom_visits_notes_and_appointments(
    app_client: TestClient,
    showroom_source: SourceKey,
    session_factory: sessionmaker[Session],
    db: Session,
) -> None:
    email = f"{uid('family')}@example.com"
    first, second = uid("tablet"), uid("tablet")
    day3 = 3 * 24 * 60
    send(
        app_client,
        showroom_source,
        [
            identify(first, 0, email=email),
            track(first, 1, "Configuration Started", model="Tundra"),
            track(first, 2, "Option Selected", category="pack", code="safety", model="Tundra",
                  interest="comfort_safety"),
            track(first, 3, "Option Selected", category="pack", code="third-row",
                  model="Tundra"),
            identify(second, day3, email=email),
            track(second, day3 + 1, "Configuration Loaded", configuration_code="NW-X"),
            track(second, day3 + 2, "Option Selected", category="option", model="Tundra",
                  interest="design", code="panoramic-roof"),
            track(second, day3 + 3, "Trade-In Valued", trade_in_make="Volvo"),
        ],
    )  # fmt: skip
    pid = profile_of(db, first)
    assert profile_of(db, second) == pid
    db.add(Note(profile_id=pid, user_id=None, financing_interest=True))
    db.add(Appointment(profile_id=pid, kind="test_drive", starts_at=T0 + timedelta(days=5)))
    db.commit()

    matrix = features(session_factory, days_after=10)
    row = matrix.row(pid)
    assert row["showroom_visits"] == 2  # two tablet sessions, each its own anonymous id
    assert row["sessions"] == 2
    assert row["suv_share"] == 1  # every event with a model is about the Tundra
    # The Tundra is offered as hybrid and as electric and nothing says which: imputed.
    assert matrix.imputed == {"electric_share": 1, "price_k": 1}  # and no price was shown
    assert row["comfort_safety_share"] == pytest.approx(2 / 4)
    assert row["design_share"] == pytest.approx(1 / 4)
    assert row["price_finance_share"] == pytest.approx(1 / 4)
    assert row["finance_interest"] == 1  # from the note
    assert row["trade_in_interest"] == 1
    assert row["test_drive"] == 1  # from the appointment
    assert row["steps_reached"] == 0


def test_who_is_clustered(
    app_client: TestClient,
    web_source: SourceKey,
    session_factory: sessionmaker[Session],
    db: Session,
) -> None:
    kept, objecting, changed_mind, pages_only = (uid(p) for p in ("kept", "obj", "back", "pg"))
    messages = []
    for anon in (kept, objecting, changed_mind):
        messages += [
            identify(anon, 0, email=f"{anon}@example.com", consent={"tracking": "granted"}),
            track(anon, 1, "Configuration Started", model="Vela"),
        ]
    messages += [
        identify(objecting, 30, consent={"tracking": "withdrawn"}),
        identify(changed_mind, 30, consent={"tracking": "withdrawn"}),
        identify(changed_mind, 60, consent={"tracking": "granted"}),
        page(pages_only, 0, "Home"),
        track(pages_only, 1, "Dealer Selected", dealer_id="d1"),
    ]
    send(app_client, web_source, messages)

    matrix = features(session_factory)
    clustered = set(matrix.profile_ids)
    assert profile_of(db, kept) in clustered
    assert profile_of(db, changed_mind) in clustered
    assert profile_of(db, objecting) not in clustered
    assert profile_of(db, pages_only) not in clustered
    assert matrix.objecting == 1
    assert len(matrix) == 2


def test_merged_profiles_are_counted_once(
    app_client: TestClient,
    web_source: SourceKey,
    session_factory: sessionmaker[Session],
    db: Session,
) -> None:
    phone, laptop = uid("phone"), uid("laptop")
    email = f"{uid('merge')}@example.com"
    send(
        app_client,
        web_source,
        [
            track(phone, 0, "Configuration Started", model="Lumo"),
            track(phone, 1, "Option Selected", category="colour", model="Lumo"),
            track(laptop, 120, "Configuration Started", model="Lumo"),
            track(laptop, 121, "Option Selected", category="engine", model="Lumo"),
        ],
    )
    before = features(session_factory)
    assert len(before) == 2
    send(
        app_client,
        web_source,
        [identify(phone, 122, email=email), identify(laptop, 123, email=email)],
    )
    survivor = profile_of(db, phone)
    assert profile_of(db, laptop) == survivor
    absorbed = db.scalar(select(Profile.id).where(Profile.merged_into_id == survivor))
    assert absorbed is not None
    # A writer that resolved the absorbed id just before the merge stores one more event there.
    db.add(
        Event(
            source_id=web_source.id,
            message_id=uid("late"),
            type="track",
            name="Option Selected",
            channel="web",
            profile_id=absorbed,
            anonymous_id=laptop,
            user_id=None,
            occurred_at=T0 + timedelta(days=1),
            received_at=T0 + timedelta(minutes=300),
            properties={"category": "wheels", "model": "Lumo"},
            traits={},
            context={},
        )
    )
    db.commit()

    matrix = features(session_factory)
    assert matrix.profile_ids == [survivor]
    row = matrix.row(survivor)
    assert row["configurator_events"] == 5
    assert row["design_share"] == pytest.approx(2 / 3)  # colour and the late wheels
    assert row["performance_share"] == pytest.approx(1 / 3)
    assert row["sessions"] == 2  # days with configurator events: day 0 (both devices), day 1
    assert row["suv_share"] == 1 and row["electric_share"] == 1  # Lumo: compact SUV, electric


def assert_same_as_a_rebuild(factory: sessionmaker[Session], matrix: FeatureMatrix) -> None:
    """The matrix equals one computed from every event (the kept aggregates are exact)."""
    rebuilt = build_features(factory, as_of=matrix.as_of, rebuild=True)
    assert rebuilt.event_state["rebuilt"] is True
    assert matrix.profile_ids == rebuilt.profile_ids
    assert np.array_equal(matrix.values, rebuilt.values)
    assert matrix.objecting == rebuilt.objecting and matrix.imputed == rebuilt.imputed


def test_kept_event_aggregates_follow_new_events_merges_and_the_window(
    app_client: TestClient,
    web_source: SourceKey,
    session_factory: sessionmaker[Session],
    db: Session,
) -> None:
    buyer, browser, phone, laptop, early = (uid(name) for name in ("buyer", "browser", "phone",
                                                                   "laptop", "early"))  # fmt: skip
    day = 24 * 60
    send(
        app_client,
        web_source,
        [
            *sterna_buyer(buyer),  # days 0 and 2
            track(browser, 30, "Configuration Started", model="Vela", total_price=41000),
            track(phone, 40, "Option Selected", category="colour", model="Lumo"),
            track(laptop, 50, "Option Selected", category="engine", model="Lumo"),
            # Dated ten days on (a client clock ahead): after the first run's window ends.
            track(early, 10 * day, "Configuration Started", model="Lumo"),
        ],
    )
    first = features(session_factory, days_after=3)
    assert first.event_state["rebuilt"] is True  # nothing kept yet: built from every event
    assert first.row(profile_of(db, buyer))["sessions"] == 2
    assert first.row(profile_of(db, early))["sessions"] == 1  # at least 1; day 10 not counted

    # After the run: the buyer comes back on day 5, a new visitor arrives, and the
    # phone and laptop turn out to be one person (the merge moves the laptop's events).
    email = f"{uid('merge')}@example.com"
    send(
        app_client,
        web_source,
        [
            track(buyer, 5 * day, "Option Selected", category="wheels", model="Sterna"),
            track(uid("new"), 5 * day, "Configuration Started", model="Kestrel"),
            identify(phone, 5 * day + 1, email=email),
            identify(laptop, 5 * day + 2, email=email),
        ],
    )
    second = features(session_factory, days_after=6)
    assert second.event_state["rebuilt"] is False
    assert second.event_state["recomputed"] >= 4  # buyer, new visitor, phone, laptop
    assert len(second) == len(first)  # one more visitor, two profiles became one
    buyer_row = second.row(profile_of(db, buyer))
    assert buyer_row["sessions"] == 3 and buyer_row["configurator_events"] == 13
    assert second.row(profile_of(db, phone))["configurator_events"] == 2
    assert_same_as_a_rebuild(session_factory, second)

    # 129 days on, nothing new: the window (days 4 to 129) keeps only the buyer's day 5, and the
    # early event's day 10 is in it now.
    later = features(session_factory, days_after=129)
    assert later.event_state["rebuilt"] is False
    assert later.row(profile_of(db, buyer))["sessions"] == 1
    assert later.row(profile_of(db, early))["sessions"] == 1
    assert_same_as_a_rebuild(session_factory, later)

    # A run for an earlier moment (its window starts before the kept rows'): recomputed.
    earlier = features(session_factory, days_after=4)
    assert earlier.event_state["rebuilt"] is False
    assert earlier.row(profile_of(db, buyer))["sessions"] == 2
    assert_same_as_a_rebuild(session_factory, earlier)


def test_interest_shares_agree_with_the_taxonomy(
    app_client: TestClient,
    web_source: SourceKey,
    session_factory: sessionmaker[Session],
    db: Session,
) -> None:
    anon = uid("mix")
    cases: list[tuple[str, dict[str, Any]]] = [
        ("Option Selected", {"category": "pack", "interest": "design"}),
        ("Option Selected", {"category": "pack", "interest": "nonsense"}),
        ("Option Removed", {"category": "COLOUR"}),
        ("Option Selected", {"category": "option"}),
        ("Option Selected", {"category": "model"}),
        ("Option Selected", {"interest": "performance"}),
        ("Configuration Step Viewed", {"step": "Summary"}),
        ("Configuration Step Viewed", {"step": "packs"}),
        ("Configuration Step Viewed", {"step": "model"}),
        ("Configuration Step Viewed", {}),
        ("Quote Requested", {"model": "Vela"}),
        ("Trade-In Valued", {}),
        ("Dealer Selected", {"dealer_id": "x"}),
        ("Option Selected", {"category": "trim", "interest": 7}),
    ]
    send(
        app_client,
        web_source,
        [track(anon, i, name, **props) for i, (name, props) in enumerate(cases)],
    )
    counted = [interest_of(name, props) for name, props in cases]
    total = sum(1 for interest in counted if interest)
    row = features(session_factory).row(profile_of(db, anon))
    for interest in INTERESTS:
        expected = sum(1 for found in counted if found == interest) / total
        assert row[f"{interest}_share"] == pytest.approx(expected), interest


def test_every_feature_is_documented() -> None:
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", DOCS.read_text(), flags=re.MULTILINE))
    assert documented == {feature.name for feature in FEATURES}
