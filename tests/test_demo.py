"""The demo data: catalogue, generated customers, and loading them through the real ingest path."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import time, timedelta
from pathlib import Path
from typing import Any

import phonenumbers
import pytest
from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.orm import Session

from cdp import catalogue
from cdp.db import make_engine, make_sessionmaker, session_scope
from cdp.demo.generator import GROUPS, HISTORY_DAYS, DemoData, generate
from cdp.demo.loader import demo_needed, load_demo
from cdp.demo.showroom import demo_staff_missing, seed_showroom
from cdp.identity.identifiers import normalise_email
from cdp.ingestion.schemas import Message
from cdp.local_time import local_start, local_today
from cdp.migrate import upgrade
from cdp.models import (
    Appointment,
    Configuration,
    Consent,
    Event,
    Identity,
    Profile,
    ProfileTrait,
    QuarantinedMessage,
    utcnow,
)
from cdp.taxonomy import INTERESTS, interest_of
from tests.helpers import PG_ADMIN_URL, fresh_database_url

CUSTOMERS = 60
SEED = 11
# The interest each planted group should show most.
GROUP_INTEREST = {
    "design": "design",
    "performance": "performance",
    "family": "comfort_safety",
    "price": "price_finance",
}


# --- the catalogue ---------------------------------------------------------------------------
def test_catalogue_offers_five_body_types_and_two_electric_models() -> None:
    bodies = {model.body for model in catalogue.MODELS}
    assert bodies == {"hatchback", "estate", "sedan", "suv", "compact_suv"}
    assert sum(model.fully_electric for model in catalogue.MODELS) >= 2
    assert any(model.max_seats == 7 for model in catalogue.MODELS)
    for model in catalogue.MODELS:
        assert 2 <= len(model.trims) <= 4
        assert 2 <= len(model.engines) <= 4
        assert 6 <= len(model.colours) <= 10
        assert 3 <= len(model.wheels) <= 4
        assert 2 <= len(model.interiors) <= 3
        assert all(re.fullmatch(r"#[0-9A-F]{6}", colour.hex) for colour in model.colours)
        assert {pack.interest for pack in model.packs} <= set(INTERESTS)
        kinds = (model.trims, model.engines, model.colours, model.wheels, model.interiors)
        for items in (*kinds, model.packs):
            codes = [item.code for item in items]
            assert len(codes) == len(set(codes)), f"{model.name}: duplicate code in {codes}"


def test_the_starting_configuration_costs_the_from_price() -> None:
    for model in catalogue.MODELS:
        assert catalogue.price(catalogue.base_selection(model)) == model.base_price


def test_price_adds_up_every_choice() -> None:
    selection = catalogue.Selection(
        model="sterna",
        trim="dynamic",
        engine="lr-awd310",
        colour="aurora-red",
        wheels="20-diamond",
        interior="cognac-leather",
        packs=("sport", "safety"),
    )
    # 51990 trim + 8500 engine + 1490 paint + 1290 wheels + 1950 leather + 1950 + 1290 packs
    assert catalogue.price(selection) == 68460


def test_unknown_codes_are_refused_by_name() -> None:
    with pytest.raises(KeyError, match="no model 'aurora'"):
        catalogue.model_by_code("aurora")
    start = catalogue.base_selection(catalogue.model_by_code("vela"))
    with pytest.raises(KeyError, match="Vela has no option pack 'third-row'"):
        catalogue.price(replace(start, packs=("third-row",)))
    with pytest.raises(ValueError, match="not one of"):
        start.choose("packs", "sport")


# --- the generated customers -----------------------------------------------------------------
@pytest.fixture(scope="module")
def crowd() -> DemoData:
    """Enough customers for rare things (accents, withdrawals, walk-ins) to show up."""
    return generate(400, seed=3)


def test_same_seed_gives_the_same_messages() -> None:
    first, again = generate(CUSTOMERS, SEED), generate(CUSTOMERS, SEED)
    assert [out.message for out in first.messages()] == [out.message for out in again.messages()]
    other = generate(CUSTOMERS, SEED + 1)
    assert [c.person.email for c in other.customers] != [c.person.email for c in first.customers]


def test_messages_are_valid_segment_messages_within_the_history(crowd: DemoData) -> None:
    messages = crowd.messages()
    ids = [out.message["messageId"] for out in messages]
    assert len(ids) == len(set(ids))
    start = crowd.reference - timedelta(days=HISTORY_DAYS)
    for out in messages:
        message = Message.model_validate(out.message)
        assert message.timestamp is not None
        assert start <= message.timestamp < crowd.reference


def test_every_group_is_planted_and_sent_as_a_demo_trait(crowd: DemoData) -> None:
    assert {customer.group for customer in crowd.customers} == set(GROUPS)
    for customer in crowd.customers:
        identifies = [o.message for o in customer.messages if o.message["type"] == "identify"]
        assert any(m["traits"].get("demo_group") == customer.group for m in identifies)


def test_groups_show_plainly_different_interests(crowd: DemoData) -> None:
    """Summed per group, each customer's share of configurator attention per interest."""
    shares: dict[str, dict[str, float]] = defaultdict(lambda: dict.fromkeys(INTERESTS, 0.0))
    for customer in crowd.customers:
        counts: Counter[str] = Counter()
        for out in customer.messages:
            message = out.message
            if message["type"] == "track":
                interest = interest_of(message["event"], message["properties"])
                counts.update([interest] if interest else [])
        total = sum(counts.values())
        for interest, count in counts.items():
            shares[customer.group][interest] += count / total
    for group, interest in GROUP_INTEREST.items():
        ranked = sorted(shares[group].items(), key=lambda item: item[1], reverse=True)
        assert ranked[0][0] == interest, f"{group} customers show {ranked}"
        assert ranked[0][1] > 1.5 * ranked[1][1], f"{group} is not plainly {interest}: {ranked}"


def test_people_look_dutch_and_belgian(crowd: DemoData) -> None:
    people = [customer.person for customer in crowd.customers]
    assert {p.country for p in people} == {"NL", "BE"}
    assert {p.language for p in people} == {"nl", "fr", "en"}
    for p in people:
        pattern = r"[1-9]\d{3} [A-Z]{2}" if p.country == "NL" else r"[1-9]\d{3}"
        assert re.fullmatch(pattern, p.postal_code), p
        number = phonenumbers.parse(p.phone, p.country)
        assert phonenumbers.is_valid_number(number), p.phone
        assert phonenumbers.region_code_for_number(number) == p.country
        assert normalise_email(p.email) == p.email
    emails = [p.email for p in people]
    assert len(set(emails)) == len(emails)
    names = " ".join(f"{p.first_name} {p.last_name}" for p in people)
    assert names != names.encode("ascii", "ignore").decode()  # accents: Zoë, Müller, Françoise
    assert any(p.last_name.startswith(("van ", "de ", "Van ", "De ")) for p in people)


def test_consent_is_mostly_granted_and_sometimes_withdrawn(crowd: DemoData) -> None:
    statements: Counter[tuple[str, str]] = Counter()
    for out in crowd.messages():
        consent = out.message.get("traits", {}).get("consent", {})
        for purpose, value in consent.items():
            status = value["status"] if isinstance(value, dict) else value
            statements[(purpose, status)] += 1
    people = len(crowd.customers)
    assert statements[("tracking", "granted")] > 0.85 * people
    assert 0.45 * people < statements[("email", "granted")] < 0.75 * people
    assert statements[("email", "withdrawn")] > 0


def test_showroom_visits_start_identified_on_a_fresh_tablet_id(crowd: DemoData) -> None:
    web_ids = {o.message["anonymousId"] for o in crowd.messages() if o.channel == "web"}
    visits = 0
    for customer in crowd.customers:
        showroom = [o.message for o in customer.messages if o.channel == "showroom"]
        first_of_visit: dict[str, dict[str, Any]] = {}
        for message in showroom:
            first_of_visit.setdefault(message["anonymousId"], message)
        for tablet_id, first in first_of_visit.items():
            assert tablet_id not in web_ids
            assert first["type"] == "identify" and first["traits"]["email"]
        visits += len(first_of_visit)
    assert visits > 0.1 * len(crowd.customers)


def test_configuration_codes_are_unique_and_readable(crowd: DemoData) -> None:
    codes = [code for customer in crowd.customers for code in customer.saved_codes]
    assert len(codes) == len(set(codes)) > len(crowd.customers)
    assert all(re.fullmatch(r"NW-[A-HJ-NP-Z2-9]{6}", code) for code in codes)


# --- loading through ingest ------------------------------------------------------------------
@contextmanager
def _fresh_engine(kind: str, tmp_dir: Path, name: str) -> Iterator[Engine]:
    """A new, migrated database; dropped afterwards when it is a PostgreSQL one."""
    url = fresh_database_url(kind, tmp_dir, name)
    engine = make_engine(url)
    upgrade(engine)
    try:
        yield engine
    finally:
        engine.dispose()
        if kind == "postgresql":
            admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                database = url.rsplit("/", 1)[1]
                conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
            admin.dispose()


@pytest.fixture(scope="module")
def loaded(db_kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    with _fresh_engine(db_kind, tmp_path_factory.mktemp("demo"), "demo_loaded") as engine:
        load_demo(engine, customers=CUSTOMERS, seed=SEED)
        yield engine


def _count(session: Session, model: Any, *where: Any) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def _counts(engine: Engine) -> dict[str, int]:
    with session_scope(make_sessionmaker(engine)) as session:
        return {
            "events": _count(session, Event),
            "live profiles": _count(session, Profile, Profile.merged_into_id.is_(None)),
            "identities": _count(session, Identity),
            "configurations": _count(session, Configuration),
            "consents": _count(session, Consent),
            "traits": _count(session, ProfileTrait),
        }


def test_loading_the_same_seed_twice_gives_the_same_database(
    loaded: Engine, db_kind: str, tmp_path: Path
) -> None:
    with _fresh_engine(db_kind, tmp_path, "demo_again") as engine:
        assert demo_needed(engine)
        summary = load_demo(engine, customers=CUSTOMERS, seed=SEED)
        assert not demo_needed(engine)
        assert _counts(engine) == _counts(loaded)
    expected = len(generate(CUSTOMERS, SEED).messages())
    pattern = rf"loaded {CUSTOMERS} customers, {expected} events, \d+ saved configurations in .+ s"
    assert re.fullmatch(pattern, summary)


def test_loading_again_into_the_same_database_stores_nothing_new(loaded: Engine) -> None:
    before = _counts(loaded)
    summary = load_demo(loaded, customers=CUSTOMERS, seed=SEED)
    assert summary.startswith(f"loaded {CUSTOMERS} customers, 0 events, 0 saved configurations")
    assert "already loaded" in summary
    assert _counts(loaded) == before


def test_each_customer_resolves_to_one_identified_profile(loaded: Engine) -> None:
    data = generate(CUSTOMERS, SEED)
    with session_scope(make_sessionmaker(loaded)) as session:
        live = _count(session, Profile, Profile.merged_into_id.is_(None))
        emails = {
            email: pid
            for email, pid in session.execute(
                select(Identity.value, Identity.profile_id).where(Identity.kind == "email")
            )
        }
        assert _count(session, QuarantinedMessage) == 0
    assert set(emails) == {customer.person.email for customer in data.customers}
    assert len(set(emails.values())) == CUSTOMERS  # one profile per address, none merged wrongly
    # Second devices that never identify nor open a saved configuration stay anonymous.
    assert CUSTOMERS <= live <= CUSTOMERS * 1.25


def test_every_planted_group_is_stored_as_a_trait(loaded: Engine) -> None:
    with session_scope(make_sessionmaker(loaded)) as session:
        groups = Counter(
            session.scalars(select(ProfileTrait.value).where(ProfileTrait.name == "demo_group"))
        )
    assert set(groups) == set(GROUPS)
    assert sum(groups.values()) == CUSTOMERS


def test_saved_configurations_are_stored_on_the_customers_profile(loaded: Engine) -> None:
    data = generate(CUSTOMERS, SEED)
    with session_scope(make_sessionmaker(loaded)) as session:
        rows = session.execute(
            select(Configuration.code, Configuration.channel, Identity.value)
            .join(Identity, Identity.profile_id == Configuration.profile_id)
            .where(Identity.kind == "email")
        )
        stored = {code: (channel, email) for code, channel, email in rows}
    expected = {code: c.person.email for c in data.customers for code in c.saved_codes}
    assert {code: email for code, (_, email) in stored.items()} == expected
    assert {channel for channel, _ in stored.values()} == {"web", "showroom"}


def test_cdp_demo_command_loads_a_fresh_sqlite_file(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("cdp")
    fallback = [sys.executable, "-c", "from cdp.cli import main; main()"]
    command = [str(script)] if script.exists() else fallback
    env = {**os.environ, "CDP_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.sqlite3'}"}
    result = subprocess.run(
        [*command, "demo", "--customers", "40"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("loaded 40 customers, ")
    assert "100%" in result.stderr  # the progress bar
    # Segments are built as part of loading, each stage on a line of its own.
    assert re.search(r"^segments: \d+ profiles in \d+ segments in ", result.stdout, re.M)
    assert re.search(r"^segments +100%  done$", result.stderr, re.M)


@pytest.mark.parametrize("local_hour", [6, 23])
def test_the_demo_showroom_loads_at_any_time_of_day(
    db_kind: str, tmp_path: Path, local_hour: int
) -> None:
    """Early in the morning and late at night: its appointments are all still ahead."""
    now = local_start(local_today(utcnow()), time(local_hour, 45))
    with _fresh_engine(db_kind, tmp_path, f"demo_{local_hour}") as engine:
        load_demo(engine, customers=CUSTOMERS, seed=SEED, reference=now)
        assert demo_staff_missing(engine)
        summary = seed_showroom(engine, seed=SEED, now=now)
        assert not demo_staff_missing(engine)
        with session_scope(make_sessionmaker(engine)) as session:
            starts = session.scalars(
                select(Appointment.starts_at).where(Appointment.status == "planned")
            ).all()
    planned = int(re.search(r"(\d+) appointments planned", summary).group(1))  # type: ignore[union-attr]
    assert planned > 0 and len(starts) >= planned
    assert min(starts) > now
