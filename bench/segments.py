"""Segmentation benchmark: features, clustering and storing for 1,000,000 profiles on PostgreSQL.

Run by hand, not by the test suite. Everything stays on this machine (127.0.0.1).

How to run it
-------------
    .venv/bin/python bench/segments.py all --profiles 1000000

`generate` makes a fresh database (default `cdp_bench_segments`, dropped first), migrates it and
loads generated profiles with their events; `run` executes one segmentation run on it, exactly as
`cdp segments build` does (`segmentation.job.run_now`), and reports (`--rebuild` first drops the
kept event aggregates, as before a deployment's first run); `day` adds a day of activity the way
the app writes it (new and returning visitors, a COPY per visit, foreign keys checked and the
changed profiles noted, as ingest notes them); `all` runs `generate`, a first `run` (which
builds the kept aggregates from every event) and `day` in child processes, then the measured
`run` in this one, so the peak memory reported is that run's alone, and after it (not timed,
`--verify` for `run`) checks that the features from the kept aggregates equal those rebuilt
from every event. `--json FILE` writes the figures as JSON as well.

What a run costs depends on what changed since the previous one (docs/segments.md, "Kept event
aggregates"): the measured run is a daily run as a deployment has it, after the previous day's
run and a day of activity (1/120 of the profiles new, 1/240 returning: about 12,500 changed
profiles and 200,000 events). The first run, which reads every event, is reported too.

What is generated
-----------------
Profiles behave like the demo customers (`cdp.demo.generator.BEHAVIOURS`: the four planted
groups design, performance, family and price, with their model preferences, how many choices
they click per step, their taste, packs, finance, trade-in, quote and test-drive habits), but
most are anonymous one-time visitors, as on a real configurator site:
- 35% identified (an identify call with an e-mail address and consent), 65% anonymous;
- visits: identified 1-5 (the demo's weights), anonymous 1-3 (70/22/8%); a visit is a
  Configurator page view, Configuration Started, the steps viewed up to where they stop (40% of
  anonymous visits reach the summary, 80% of identified ones), every option clicked on the way,
  packs, then finance, trade-in, quote, test-drive and save events by the group's habits (about
  30 events per profile on average, as in bench/ingest.py's sessions of 10-40 events);
- showroom visits (a tablet session with its own anonymous id) for identified profiles;
- saved configurations, consents (tracking and e-mail; 3% of identified withdraw tracking
  later), leads (5% of profiles, any stage), notes (2%), test-drive appointments (1%);
- 2% extra profiles absorbed by merges (their rows moved to the survivor, as merges do);
- the planted group as the trait `demo_group`, to check the segments at this scale.

Rows go in with COPY from two worker processes. Like a restore, the event, configuration and
trait tables get their secondary indexes after the load (then VACUUM ANALYZE), and foreign keys
are not checked during it (session_replication_role = replica): the end state is the same
schema as `cdp db upgrade` makes.

What it measures
----------------
Wall time per stage as the run records it (features, clustering, storing memberships, segment
summaries) and end to end; peak memory of this process (resource.getrusage ru_maxrss, and a
sampler of /proc/self/status VmRSS per stage); the adjusted Rand index of the segments against
the planted groups; table sizes. The machine is shared and noisy: the load average at start and
end is printed with the figures.
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing
import os
import platform
import random
import resource
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cdp import catalogue  # noqa: E402
from cdp.demo.generator import BEHAVIOURS, GROUPS, Behaviour  # noqa: E402

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_DB = "cdp_bench_segments"
REFERENCE = datetime(2026, 9, 1, 6, 0, tzinfo=UTC)
HISTORY_DAYS = 120
STEPS = ("model", "trim", "engine", "colour", "wheels", "interior", "packs", "summary")
CHOICE_STEPS = ("trim", "engine", "colour", "wheels", "interior")
CATEGORY_INTEREST = {
    "colour": "design",
    "wheels": "design",
    "interior": "design",
    "engine": "performance",
    "trim": "performance",
}
LEAD_STAGES = ("new", "attempted", "reached", "appointment", "test_drive", "quote", "sold", "lost")
# Tables whose secondary indexes are built after the load.
INDEXED_LATER = ("event", "configuration", "profile_trait", "consent", "profile")

EVENT_COLUMNS = (
    "source_id, message_id, type, name, channel, profile_id, anonymous_id, user_id, "
    "occurred_at, received_at, properties, traits, context"
)


def pg_url(database: str) -> str:
    return ADMIN_URL.rsplit("/", 1)[0] + f"/{database}"


def sqlalchemy_url(database: str) -> str:
    return pg_url(database).replace("postgresql://", "postgresql+psycopg://", 1)


# --- generating --------------------------------------------------------------------------------
@dataclass
class Choice:
    code: str
    label: str
    delta: int
    extra: dict[str, Any]


def _choices(model: catalogue.Model) -> dict[str, list[Choice]]:
    """Each choice step's choices, cheapest first (as the demo generator orders them)."""
    base = model.base_price
    steps = {
        "trim": [Choice(t.code, t.name, t.price - base, {}) for t in model.trims],
        "engine": [
            Choice(e.code, e.name, e.price_delta, {"fuel": e.fuel, "power_kw": e.power_kw})
            for e in model.engines
        ],
        "colour": [
            Choice(c.code, c.name, c.price_delta, {"colour_hex": c.hex}) for c in model.colours
        ],
        "wheels": [Choice(w.code, w.name, w.price_delta, {}) for w in model.wheels],
        "interior": [Choice(i.code, i.name, i.price_delta, {}) for i in model.interiors],
    }
    return {step: sorted(items, key=lambda c: c.delta) for step, items in steps.items()}


CHOICES = {model.code: _choices(model) for model in catalogue.MODELS}
MODELS = {model.code: model for model in catalogue.MODELS}


class Writer:
    """Rows for one worker, as COPY text: events streamed, the other tables at the end."""

    def __init__(self, conn: psycopg.Connection[Any], sources: dict[str, int]) -> None:
        self.conn = conn
        self.sources = sources
        self.events = io.StringIO()
        self.event_count = 0
        self.message = 0
        self.tables: dict[str, io.StringIO] = {}

    def row(self, table: str, *values: object) -> None:
        buffer = self.tables.setdefault(table, io.StringIO())
        buffer.write("\t".join(r"\N" if v is None else str(v) for v in values) + "\n")

    def event(
        self,
        channel: str,
        kind: str,
        name: str,
        pid: str,
        anon: str,
        at: float,
        properties: dict[str, Any],
        prefix: str,
    ) -> None:
        self.message += 1
        props = orjson.dumps(properties).decode()
        if "\\" in props:
            props = props.replace("\\", "\\\\")
        stamp = timestamp(at)
        name = name or "\\N"
        self.events.write(
            f"{self.sources[channel]}\t{prefix}{self.message}\t{kind}\t{name}\t{channel}\t{pid}\t"
            f"{anon}\t\\N\t{stamp}\t{stamp}\t{props}\t{{}}\t{{}}\n"
        )
        self.event_count += 1


_STAMPS: dict[int, str] = {}


def timestamp(at: float) -> str:
    day = int(at // 86400)
    text = _STAMPS.get(day)
    if text is None:
        text = _STAMPS[day] = datetime.fromtimestamp(day * 86400, UTC).strftime("%Y-%m-%d")
    seconds = int(at - day * 86400)
    return f"{text} {seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}+00"


class Visitor:
    """One generated profile's behaviour, written as events and rows."""

    def __init__(self, rng: random.Random, out: Writer, number: int, prefix: str) -> None:
        self.rng = rng
        self.out = out
        self.prefix = prefix
        self.group = rng.choices(GROUPS, weights=[BEHAVIOURS[g].share for g in GROUPS])[0]
        self.b: Behaviour = BEHAVIOURS[self.group]
        self.pid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        self.device = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        self.identified = rng.random() < 0.35
        self.number = number
        self.model = self._favourite()
        self.price = 0
        self.saved = 0

    def _favourite(self) -> str:
        codes, weights = zip(*self.b.models.items(), strict=True)
        return self.rng.choices(codes, weights=weights)[0]

    def run(self) -> None:
        rng = self.rng
        if self.identified:
            visits = rng.choices(range(1, 6), weights=self.b.visits)[0]
        else:
            visits = rng.choices((1, 2, 3), weights=(70, 22, 8))[0]
        days = [0]
        for _ in range(visits - 1):
            days.append(days[-1] + rng.randint(1, 21))
        first_day = rng.randint(0, HISTORY_DAYS - 2 - days[-1])
        start = REFERENCE.timestamp() - HISTORY_DAYS * 86400
        showroom_at = rng.randrange(visits) if rng.random() < self.b.showroom else -1
        first_at = last_at = 0.0
        for index, day in enumerate(days):
            at = start + (first_day + day) * 86400 + rng.randint(7, 22) * 3600
            first_at = first_at or at
            at = self._web_visit(at, identify=self.identified and index == 0)
            if index == showroom_at and self.identified:
                at = self._showroom_visit(at + rng.randint(1, 5) * 86400)
            last_at = at
        self._rows(first_at, last_at)

    def one_visit(self, day_start: float, *, new: bool) -> None:
        """One web visit on the day starting at `day_start`; a new visitor's rows too."""
        at = day_start + self.rng.randint(7, 22) * 3600
        last_at = self._web_visit(at, identify=self.identified and new)
        if new:
            self._rows(at, last_at)

    def _rows(self, first_at: float, last_at: float) -> None:
        created = timestamp(first_at)
        self.out.row("profile", self.pid, created, created, timestamp(last_at), None, None)
        self.out.row(
            "profile_trait",
            self.pid,
            "demo_group",
            f'"{self.group}"',
            created,
            f'"{self.group}"',
            created,
            self.group,
        )
        if self.identified:
            self._consents(first_at, last_at)
        self._crm(last_at)

    def _track(self, channel: str, anon: str, at: float, name: str, **props: Any) -> float:
        self.out.event(channel, "track", name, self.pid, anon, at, props, self.prefix)
        return at + self.rng.randint(4, 75)

    def _web_visit(self, at: float, *, identify: bool) -> float:
        rng, b = self.rng, self.b
        if rng.random() >= 0.75:
            self.model = self._favourite()
        model = MODELS[self.model]
        self.out.event(
            "web", "page", "Configurator", self.pid, self.device, at,
            {"path": f"/configurator/{model.code}"}, self.prefix,
        )  # fmt: skip
        at += rng.randint(4, 30)
        self.price = model.base_price
        at = self._track("web", self.device, at, "Configuration Started", model=model.name,
                         total_price=self.price)  # fmt: skip
        reaches_summary = rng.random() < (0.8 if self.identified else 0.4)
        depth = len(STEPS) if reaches_summary else rng.randint(2, len(STEPS) - 1)
        for number, step in enumerate(STEPS[:depth], 1):
            at = self._track("web", self.device, at, "Configuration Step Viewed", step=step,
                             step_number=number, model=model.name)  # fmt: skip
            if step in CHOICE_STEPS:
                at = self._choose(model, step, at)
            elif step == "packs":
                at = self._packs(model, at)
        if identify:
            self.out.event(
                "web", "identify", "", self.pid, self.device, at,
                {}, self.prefix,
            )  # fmt: skip
            at += rng.randint(4, 30)
        if rng.random() < b.finance:
            for _ in range(rng.randint(1, 3 if self.group == "price" else 1)):
                at = self._track("web", self.device, at, "Finance Calculated", model=model.name,
                                 total_price=self.price,
                                 monthly_payment=round(self.price * 0.015, 2))  # fmt: skip
        if rng.random() < b.trade_in:
            at = self._track("web", self.device, at, "Trade-In Valued", trade_in_make="Volvo",
                             mileage_km=rng.randrange(20000, 200000, 1000))  # fmt: skip
        if self.identified:
            if rng.random() < b.quote:
                at = self._track("web", self.device, at, "Quote Requested", model=model.name,
                                 total_price=self.price)  # fmt: skip
            if rng.random() < b.test_drive:
                at = self._track("web", self.device, at, "Test Drive Requested", model=model.name)
            if rng.random() < b.save:
                at = self._save("web", self.device, model, at)
        return at

    def _choose(self, model: catalogue.Model, step: str, at: float) -> float:
        choices = CHOICES[model.code][step]
        tries = self.rng.randint(*self.b.tries[step])
        low, high = self.b.taste[step]
        for n in range(tries):
            if n == tries - 1:
                choice = choices[round(self.rng.uniform(low, high) * (len(choices) - 1))]
            else:
                choice = self.rng.choice(choices)
            self.price = model.base_price + choice.delta + (self.price - model.base_price) // 2
            at = self._track("web", self.device, at, "Option Selected", category=step,
                             code=choice.code, label=choice.label, model=model.name,
                             price_delta=choice.delta, total_price=self.price,
                             interest=CATEGORY_INTEREST[step], **choice.extra)  # fmt: skip
        return at

    def _packs(self, model: catalogue.Model, at: float) -> float:
        for pack in model.packs:
            chance = self.b.seven_seats if pack.adds_seats else self.b.packs[pack.interest]
            if self.rng.random() < chance:
                self.price += pack.price
                at = self._track("web", self.device, at, "Option Selected",
                                 category=pack.category, code=pack.code, label=pack.name,
                                 model=model.name, price_delta=pack.price,
                                 total_price=self.price, interest=pack.interest)  # fmt: skip
        return at

    def _save(self, channel: str, anon: str, model: catalogue.Model, at: float) -> float:
        self.saved += 1
        code = f"B{self.prefix}{self.number}-{self.saved}"
        colour = self.rng.choice(model.colours)
        return self._track(channel, anon, at, "Configuration Saved", configuration_code=code,
                           model=model.name, colour=colour.name, colour_hex=colour.hex,
                           total_price=self.price)  # fmt: skip

    def _showroom_visit(self, at: float) -> float:
        tablet = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        model = MODELS[self.model]
        self.out.event("showroom", "identify", "", self.pid, tablet, at, {}, self.prefix)
        at = self._track("showroom", tablet, at + 20, "Configuration Started", model=model.name,
                         total_price=self.price)  # fmt: skip
        for step in ("colour", "packs"):
            at = self._track("showroom", tablet, at, "Configuration Step Viewed", step=step,
                             model=model.name)  # fmt: skip
        if self.rng.random() < 0.85:
            at = self._save("showroom", tablet, model, at)
        return at

    def _consents(self, first_at: float, last_at: float) -> None:
        stated = timestamp(first_at)
        self.out.row("consent", self.pid, "tracking", "granted", stated, None, None, None, stated)
        if self.rng.random() < 0.6:
            self.out.row("consent", self.pid, "email", "granted", stated, "Yes", None, None, stated)
        if self.rng.random() < 0.03:
            later = timestamp(last_at + 86400)
            self.out.row("consent", self.pid, "tracking", "withdrawn", later, None, None, None,
                         later)  # fmt: skip

    def _crm(self, last_at: float) -> None:
        rng = self.rng
        when = timestamp(last_at)
        if rng.random() < 0.05:
            stage = rng.choice(LEAD_STAGES)
            self.out.row("lead", self.pid, "website", stage, when, when)
        if rng.random() < 0.02:
            self.out.row("note", self.pid, "t" if rng.random() < 0.5 else "f",
                         "Volvo" if rng.random() < 0.3 else None, when)  # fmt: skip
        if rng.random() < 0.01:
            self.out.row("appointment", self.pid, "test_drive", "planned", when, when)


TABLE_COLUMNS = {
    "profile": "id, created_at, first_seen_at, last_seen_at, merged_into_id, merged_at",
    "profile_trait": "profile_id, name, value, value_at, first_value, first_at, search_text",
    "consent": (
        "profile_id, purpose, status, stated_at, wording, source_id, message_id, recorded_at"
    ),
    "lead": "profile_id, channel, stage, created_at, updated_at",
    "note": "profile_id, financing_interest, trade_in_make, created_at",
    "appointment": "profile_id, kind, status, starts_at, created_at",
}
# Rows that reference others go in after them.
TABLE_ORDER = ("profile", "profile_trait", "consent", "lead", "note", "appointment")
# Saved configurations are made from the Configuration Saved events, as ingest makes them.
CONFIGURATIONS_FROM_EVENTS = """
INSERT INTO configuration (profile_id, event_id, code, channel, source_id, saved_at, model,
    colour, colour_hex, options, total_price, currency, recorded_at)
SELECT profile_id, id, properties ->> 'configuration_code', channel, source_id, occurred_at,
    properties ->> 'model', properties ->> 'colour', properties ->> 'colour_hex', '[]',
    (properties ->> 'total_price')::numeric, 'EUR', received_at
FROM event WHERE type = 'track' AND name = 'Configuration Saved'
"""


def _worker(args: tuple[str, int, int, int, dict[str, int], int]) -> tuple[int, int, int]:
    database, worker, start, end, sources, seed = args
    rng = random.Random(f"{seed}-{worker}")
    prefix = f"w{worker}-"
    with psycopg.connect(pg_url(database), autocommit=False) as conn:
        conn.execute("SET session_replication_role = replica")
        out = Writer(conn, sources)
        survivors: list[str] = []
        with conn.cursor() as cursor, cursor.copy(f"COPY event ({EVENT_COLUMNS}) FROM STDIN") as cp:
            for number in range(start, end):
                visitor = Visitor(rng, out, number, prefix)
                visitor.run()
                if rng.random() < 0.02:
                    survivors.append(visitor.pid)
                if out.events.tell() > 4_000_000:
                    cp.write(out.events.getvalue())
                    out.events = io.StringIO()
            cp.write(out.events.getvalue())
        stamp = timestamp(REFERENCE.timestamp() - 86400)
        for survivor in survivors:  # absorbed profiles: their rows were moved to the survivor
            absorbed = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            out.row("profile", absorbed, stamp, stamp, stamp, survivor, stamp)
        with conn.cursor() as cursor:
            for table in TABLE_ORDER:
                buffer = out.tables.get(table)
                if buffer is None:
                    continue
                with cursor.copy(f"COPY {table} ({TABLE_COLUMNS[table]}) FROM STDIN") as cp:
                    cp.write(buffer.getvalue())
        conn.commit()
        return end - start + len(survivors), out.event_count, len(survivors)


def generate(database: str, profiles: int, seed: int, workers: int) -> dict[str, Any]:
    from sqlalchemy import create_engine

    from cdp.db import make_engine
    from cdp.migrate import upgrade

    started = time.perf_counter()
    admin = create_engine(ADMIN_URL.replace("postgresql://", "postgresql+psycopg://"),
                          isolation_level="AUTOCOMMIT")  # fmt: skip
    from sqlalchemy import text

    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{database}"'))
    admin.dispose()
    engine = make_engine(sqlalchemy_url(database))
    upgrade(engine)
    engine.dispose()

    with psycopg.connect(pg_url(database), autocommit=True) as conn:
        sources = {}
        for kind in ("web", "showroom"):
            row = conn.execute(
                "INSERT INTO source (name, kind, write_key_hash, origins, active, created_at)"
                " VALUES (%s, %s, %s, '[]', true, now()) RETURNING id",
                (f"Bench {kind}", kind, uuid.uuid4().hex),
            ).fetchone()
            assert row is not None
            sources[kind] = int(row[0])
        later = _drop_secondary_indexes(conn)

    print(f"generating {profiles:,} profiles with {workers} workers ...", file=sys.stderr)
    per = -(-profiles // workers)
    jobs = [
        (database, w, w * per, min(profiles, (w + 1) * per), sources, seed) for w in range(workers)
    ]
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        done = pool.map(_worker, jobs)
    loaded = time.perf_counter()
    print(f"loaded in {loaded - started:.0f} s; building indexes ...", file=sys.stderr)
    with psycopg.connect(pg_url(database), autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '1GB'")
        conn.execute("SET session_replication_role = replica")
        conn.execute(CONFIGURATIONS_FROM_EVENTS)
        conn.execute("SET session_replication_role = DEFAULT")
        for statement in later:
            conn.execute(statement)
        conn.execute("VACUUM ANALYZE")
        sizes = {
            table: conn.execute(
                "SELECT pg_size_pretty(pg_total_relation_size(%s::regclass))", (table,)
            ).fetchone()[0]  # type: ignore[index]
            for table in ("event", "profile", "configuration")
        }
    summary = {
        "profiles": sum(d[0] for d in done),
        "absorbed_profiles": sum(d[2] for d in done),
        "events": sum(d[1] for d in done),
        "generate_s": round(time.perf_counter() - started, 1),
        "load_s": round(loaded - started, 1),
        "sizes": sizes,
    }
    print(json.dumps(summary), file=sys.stderr)
    return summary


def day(database: str, new_profiles: int, returning: int, seed: int) -> dict[str, Any]:
    """A day of activity after a run, written as the app writes it: new visitors (profile,
    trait, consents, CRM rows) and returning ones, each visit's events in a COPY of its own with
    foreign keys checked and the changed profiles noted (unlike `generate`, a restore)."""
    started = time.perf_counter()
    rng = random.Random(f"{seed}-day-{time.time()}")
    prefix = f"day{int(time.time())}-"
    day_start = (datetime.now(UTC) - timedelta(days=1)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    with psycopg.connect(pg_url(database), autocommit=False) as conn:
        sources: dict[str, int] = {
            kind: source_id
            for kind, source_id in conn.execute(
                "SELECT kind, id FROM source WHERE name LIKE 'Bench %%'"
            ).fetchall()
        }
        last_event = conn.execute("SELECT max(id) FROM event").fetchone()[0]  # type: ignore[index]
        regulars = conn.execute(
            "SELECT t.profile_id, t.search_text FROM profile_trait t JOIN profile p "
            "ON p.id = t.profile_id WHERE t.name = 'demo_group' AND p.merged_into_id IS NULL "
            "ORDER BY random() LIMIT %s",
            (returning,),
        ).fetchall()
        out = Writer(conn, sources)
        visits: list[str] = []
        for number in range(new_profiles + len(regulars)):
            visitor = Visitor(rng, out, number, prefix)
            if number >= new_profiles:
                pid, group = regulars[number - new_profiles]
                visitor.pid, visitor.group = str(pid), group
                visitor.b, visitor.identified = BEHAVIOURS[group], False
                visitor.model = visitor._favourite()
            visitor.one_visit(day_start.timestamp(), new=number < new_profiles)
            visits.append(out.events.getvalue())
            out.events = io.StringIO()
        with conn.cursor() as cursor:
            for table in TABLE_ORDER[:3]:  # profiles, traits, consents: before their events
                _copy_table(cursor, out, table)
            for text_rows in visits:
                with cursor.copy(f"COPY event ({EVENT_COLUMNS}) FROM STDIN") as cp:
                    cp.write(text_rows)
            for table in TABLE_ORDER[3:]:
                _copy_table(cursor, out, table)
            # As ingest does when it stores events: the next run recomputes these profiles.
            cursor.execute(
                "INSERT INTO segment_event_change (profile_id) "
                "SELECT DISTINCT profile_id FROM event WHERE id > %s",
                (last_event,),
            )
            cursor.execute(CONFIGURATIONS_FROM_EVENTS + " AND id > %s", (last_event,))
            changed = cursor.execute(
                "SELECT count(DISTINCT profile_id) FROM segment_event_change"
            ).fetchone()[0]  # type: ignore[index]
        conn.commit()
    summary = {
        "new_profiles": new_profiles,
        "returning_profiles": len(regulars),
        "events": out.event_count,
        "day": day_start.date().isoformat(),
        "profiles_noted_changed": changed,
        "day_s": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(summary), file=sys.stderr)
    return summary


def _copy_table(cursor: psycopg.Cursor[Any], out: Writer, table: str) -> None:
    buffer = out.tables.get(table)
    if buffer is not None:
        with cursor.copy(f"COPY {table} ({TABLE_COLUMNS[table]}) FROM STDIN") as cp:
            cp.write(buffer.getvalue())
        out.tables.pop(table)


def _drop_secondary_indexes(conn: psycopg.Connection[Any]) -> list[str]:
    """Drop the non-primary-key indexes and unique constraints of the big tables; the
    statements that make them again."""
    later: list[str] = []
    for table in INDEXED_LATER:
        for name, definition in conn.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = %s::regclass AND contype = 'u'",
            (table,),
        ).fetchall():
            conn.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"')
            later.append(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}')
        for name, definition in conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s "
            "AND indexname NOT LIKE 'pk_%%'",
            (table,),
        ).fetchall():
            conn.execute(f'DROP INDEX "{name}"')
            later.append(definition)
    return later


# --- running -----------------------------------------------------------------------------------
class RssSampler:
    """Peak resident memory of this process per stage, sampled every 50 ms."""

    def __init__(self) -> None:
        self.stage = "start"
        self.peaks: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    @staticmethod
    def rss() -> int:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            current = self.rss()
            self.peaks[self.stage] = max(self.peaks.get(self.stage, 0), current)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _stage_of(progress: float) -> str:
    if progress < 0.5:
        return "features"
    if progress < 0.75:
        return "clustering"
    if progress < 0.95:
        return "storing"
    return "summaries"


def run(
    database: str, k: int | None, seed: int, *, rebuild: bool = False, verify: bool = False
) -> dict[str, Any]:
    from sklearn.metrics import adjusted_rand_score
    from sqlalchemy import delete, select

    from cdp.db import make_engine, make_sessionmaker
    from cdp.migrate import upgrade
    from cdp.models import ProfileTrait, Segment, SegmentEventStateInfo, SegmentMembership
    from segmentation import job

    engine = make_engine(sqlalchemy_url(database))
    upgrade(engine)  # as `cdp segments build` does
    factory = make_sessionmaker(engine)
    if rebuild:  # as a deployment's first run after the upgrade: nothing kept yet
        with factory.begin() as session:
            session.execute(delete(SegmentEventStateInfo))
    baseline = RssSampler.rss()
    load_before = os.getloadavg()
    stages: dict[str, float] = {}
    steps: dict[str, float] = {}  # when each step began, seconds into the run
    with RssSampler() as sampler:
        started = time.perf_counter()

        def progress(fraction: float, detail: str) -> None:
            stage = _stage_of(fraction) if fraction < 1.0 else "summaries"
            now = time.perf_counter() - started
            stages.setdefault(stage, now)
            step = detail.split(" (")[0]  # "storing memberships (100,000 of ...)" once
            if step not in steps:
                steps[step] = round(now, 1)
                print(f"[{now:6.1f} s] {stage}: {step}", file=sys.stderr)
            sampler.stage = stage

        status = job.run_now(factory, created_by="bench", k=k, seed=seed, progress=progress)
        total = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    with factory() as session:  # a check, not part of the timed run
        rows = session.execute(
            select(ProfileTrait.value, Segment.number)
            .join(SegmentMembership, SegmentMembership.profile_id == ProfileTrait.profile_id)
            .join(Segment, Segment.id == SegmentMembership.segment_id)
            .where(SegmentMembership.run_id == status.id, ProfileTrait.name == "demo_group")
        ).all()
        segments = session.scalars(
            select(Segment).where(Segment.run_id == status.id).order_by(Segment.number)
        )
        names = [(s.number, s.name, s.size) for s in segments]
    ari = adjusted_rand_score([str(g) for g, _ in rows], [n for _, n in rows])
    verified = _verify(factory, status.created_at) if verify else None
    engine.dispose()
    quality = status.quality
    report = {
        "status": status.status,
        "profiles_clustered": status.profiles,
        "segments": status.segments,
        "k_chosen_automatically": quality["k_chosen_automatically"],
        "algorithm": quality["algorithm"],
        "silhouette": quality["silhouette"],
        "objecting_left_out": quality["objecting_left_out"],
        "event_state": quality["event_state"],
        "timings_s": quality["timings"],
        "steps_started_at_s": steps,
        "end_to_end_s": round(total, 1),
        "peak_rss_mb": round(peak / 2**20),
        "baseline_rss_mb": round(baseline / 2**20),
        "peak_rss_by_stage_mb": {s: round(v / 2**20) for s, v in sampler.peaks.items()},
        "adjusted_rand_index": round(ari, 3),
        "kept_aggregates_equal_a_rebuild": verified,
        "segment_names": names,
        "load_average_before": [round(x, 1) for x in load_before],
        "load_average_after": [round(x, 1) for x in os.getloadavg()],
    }
    return report


def _verify(factory: Any, as_of: datetime) -> bool:
    """After the run (not timed): the features from the kept event aggregates, as the run read
    them, equal the features rebuilt from every event (which also rewrites the kept rows)."""
    import numpy as np

    from segmentation.features import build_features

    kept = build_features(factory, as_of=as_of)
    rebuilt = build_features(factory, as_of=as_of, rebuild=True)
    return bool(
        np.array_equal(kept.ids, rebuilt.ids)
        and np.array_equal(kept.values, rebuilt.values)
        and kept.objecting == rebuilt.objecting
    )


def machine() -> str:
    cpu = "?"
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    with psycopg.connect(ADMIN_URL) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
    return (
        f"{os.cpu_count()} cores ({cpu}), {memory:.0f} GiB RAM, Python {platform.python_version()}"
        f", PostgreSQL {version}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("command", choices=("generate", "run", "day", "all"))
    parser.add_argument("--database", default=DEFAULT_DB)
    parser.add_argument("--profiles", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--k", type=int, default=None, help="fix the number of segments")
    parser.add_argument(
        "--rebuild", action="store_true", help="run: rebuild the kept event aggregates first"
    )
    parser.add_argument(
        "--verify",
        action="store_true",
        help="run: afterwards, check the kept aggregates against a rebuild (not timed)",
    )
    parser.add_argument(
        "--new-profiles", type=int, default=None, help="day: new visitors (default profiles/120)"
    )
    parser.add_argument(
        "--returning", type=int, default=None, help="day: returning visitors (profiles/240)"
    )
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)

    figures: dict[str, Any] = {"machine": machine()}
    me = [sys.executable, __file__, "--database", args.database, "--seed", str(args.seed)]
    if args.command == "generate":
        figures["generated"] = generate(args.database, args.profiles, args.seed, args.workers)
    elif args.command == "day":
        figures["day"] = day(
            args.database,
            args.profiles // 120 if args.new_profiles is None else args.new_profiles,
            args.profiles // 240 if args.returning is None else args.returning,
            args.seed,
        )
    elif args.command == "all":
        # Each step in a child process, the measured run in this one (its peak memory alone).
        subprocess.run([*me, "generate", "--profiles", str(args.profiles),
                        "--workers", str(args.workers)], check=True)  # fmt: skip
        first = Path(f"/tmp/{args.database}-first-run.json")
        subprocess.run([*me, "run", "--json", str(first)], check=True)
        figures["first_run"] = json.loads(first.read_text())["run"]
        subprocess.run([*me, "day", "--profiles", str(args.profiles)], check=True)
    if args.command in ("run", "all"):
        figures["run"] = run(
            args.database,
            args.k,
            args.seed,
            rebuild=args.rebuild,
            verify=args.verify or args.command == "all",
        )
    print(json.dumps(figures, indent=2, default=str))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, default=str))


if __name__ == "__main__":
    main()
