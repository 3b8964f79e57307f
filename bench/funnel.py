"""Funnel benchmark: the funnel and network pages at 200 dealers and 500,000 leads on PostgreSQL.

Run by hand, not by the test suite. Everything stays on this machine (127.0.0.1).
Figures: docs/benchmarks.md, section "Funnel and network". Target (issue 11): both pages render
in under 300 ms at p95.

How to run it
-------------
    .venv/bin/python bench/funnel.py                      # 200 dealers, 500,000 leads
    .venv/bin/python bench/funnel.py --dealers 20 --leads 20000 --requests 20   # a quick look
    .venv/bin/python bench/funnel.py --keep               # keep the database for the next run
    .venv/bin/python bench/funnel.py --explain            # EXPLAIN ANALYZE the network queries

The database (default `cdp_bench_funnel` on 127.0.0.1:5432, user postgres; --database-url or
CDP_BENCH_FUNNEL_URL; its name must contain "bench") is created through the admin database `test`,
migrated with `cdp.migrate.upgrade`, filled, measured and dropped at the end, unless --keep. A
kept database whose data matches --dealers/--leads/--seed is measured again without generating.

Data (deterministic for --seed)
-------------------------------
--dealers dealers in the Netherlands and Belgium with their opening hours and speed-to-lead
figures, each with --staff salespeople, a manager, a receptionist and a delivery specialist;
an importer manager (the whole network). --leads leads over the two years before now, with the
seasons car retail has (a spring peak, fewer in the summer holidays and December; fewer at
weekends), dealers of very different sizes (the largest about 8 times the smallest), every
channel of `cdp.models.LEAD_CHANNELS` and utm campaigns on first and last touch for online
leads. Each lead is followed through its course, cut off at now: contact attempts (a speed to
lead typical of its dealer: minutes at some, hours at others), reached or not, appointments
that showed or not (about 65% show), test drives, quotes, sales a few weeks later (handed over:
"delivered"), or lost with a reason typical of its channel; every stage with its dated row in
`lead_stage_change`. One profile per lead. Rows are written with COPY ... FREEZE, secondary
indexes dropped during the load and rebuilt from their own definitions (checked identical),
foreign-key triggers off (session_replication_role); then each lead's progress is worked out from
its history (`cdp.leads.progress.refresh_all`, as every writer around the ORM does), the leads
put back in arrival order (CLUSTER: that UPDATE wrote them anew in its join's order), then
VACUUM ANALYZE (autovacuum is off).

What it measures
----------------
A real `cdp serve --workers N` (bench/lookup_http.py's server) and one keep-alive httpx client per
signed-in account (the importer's manager, and the manager of a large dealer), signed in through
the login form. Every page of PAGES below --requests times (after --warmup untimed calls each),
in a shuffled order so a noisy neighbour hits every page alike, one request at a time. Per page:
wall-clock p50/p95/max, the server's CPU per request (its processes and their PostgreSQL
backends, from /proc: what a request costs whatever the neighbours do), the p95 as a multiple of
the baseline's p95 (a small signed-in page measured in the same run), and the target met or not.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import re
import shutil
import socket
import subprocess
import sys
import time
import uuid
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lookup_http import ServerClock  # beside this script

from cdp.auth.staff import _hasher  # one hash for every bench account: hashing is slow on purpose
from cdp.db import make_engine, make_sessionmaker
from cdp.leads import sla_due, tally
from cdp.leads.progress import refresh_all
from cdp.local_time import local_today
from cdp.migrate import upgrade

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/cdp_bench_funnel"
ADMIN_DATABASE = "test"
PASSWORD = "bench-funnel-password"
TARGET_MS = 300.0

# The pages timed, per account: (name, address). Adjust here when the pages' parameters change.
# {dealer}: the code of the dealer whose manager signs in (the importer filters on it too);
# {quarter}: the last full quarter as "2026-Q3"; {quarter_start}/{quarter_end}: its dates.
PAGES: dict[str, list[tuple[str, str]]] = {
    "importer": [
        ("funnel", "/showroom/funnel"),
        ("funnel dealer", "/showroom/funnel?dealer={dealer}"),
        ("funnel channel", "/showroom/funnel?channel=marketplace"),
        ("funnel quarter", "/showroom/funnel?period={quarter}"),
        ("funnel 365 days", "/showroom/funnel?period=last365"),
        ("network", "/showroom/network"),
        ("network 30 days", "/showroom/network?period=30d"),
        ("network quarter", "/showroom/network?period=quarter"),
    ],
    "dealer": [
        ("funnel", "/showroom/funnel"),
        ("funnel channel", "/showroom/funnel?channel=marketplace"),
        ("funnel quarter", "/showroom/funnel?period={quarter}"),
        ("network", "/showroom/network"),
        ("network quarter", "/showroom/network?period=quarter"),
    ],
}
BASELINE = ("baseline", "/showroom")  # the lookup page, no query: sign-in, layout, nothing else

# ------------------------------------------------------------------------------------------
# The generated network
# ------------------------------------------------------------------------------------------

# Channel mix (share of leads) and how each channel's leads end; near the norms of
# docs/DOMAIN (website and importer 20%, marketplaces 15%, phone 22%, direct mail 5%).
CHANNELS = (("website", 30), ("dealer_website", 10), ("importer", 14), ("marketplace", 18),
            ("phone", 10), ("walk_in", 7), ("be_back", 3), ("referral", 3),
            ("direct_mail", 3), ("event", 2))  # fmt: skip
SALE_RATE = {"website": 0.18, "dealer_website": 0.21, "importer": 0.19, "marketplace": 0.13,
             "phone": 0.23, "walk_in": 0.30, "be_back": 0.40, "referral": 0.35,
             "direct_mail": 0.05, "event": 0.12}  # fmt: skip
LOST_BY_CHANNEL = {
    "marketplace": (("price", 5), ("bought_elsewhere", 4), ("not_reachable", 3),
                    ("no_longer_interested", 2), ("stock_or_delivery_time", 1)),
    "direct_mail": (("no_longer_interested", 6), ("not_reachable", 3), ("price", 1)),
    "walk_in": (("price", 3), ("stock_or_delivery_time", 3), ("bought_elsewhere", 2),
                ("process_or_experience", 1)),
}  # fmt: skip
LOST_DEFAULT = (("bought_elsewhere", 3), ("price", 3), ("no_longer_interested", 3),
                ("not_reachable", 2), ("stock_or_delivery_time", 2), ("process_or_experience", 1),
                ("other", 1))  # fmt: skip
# Online channels carry utm campaigns (first and last touch) for most leads.
CAMPAIGNS = (
    {"source": "google", "medium": "cpc", "name": "spring-launch"},
    {"source": "meta", "medium": "paid_social", "name": "ev-weeks"},
    {"source": "newsletter", "medium": "email", "name": "private-lease"},
    {"source": "google", "medium": "cpc", "name": "brand-search"},
    {"source": "youtube", "medium": "video", "name": "new-model-teaser"},
)
MARKETPLACES = ("marktplaats", "autotrack", "autoscout24", "2dehands")
ONLINE = ("website", "dealer_website", "importer")
# Leads per month (index 0: January), a spring peak, summer holidays and December low.
SEASON = (1.10, 1.05, 1.25, 1.20, 1.10, 1.00, 0.70, 0.75, 1.05, 1.00, 0.95, 0.65)
WEEKDAY = (1.20, 1.10, 1.05, 1.05, 1.00, 0.95, 0.45)
HOURS = [0.1] * 7 + [0.5, 1.2, 1.8, 2.0, 1.9, 1.5, 1.6, 1.7, 1.6, 1.4, 1.2, 1.1, 1.4, 1.5, 1.2, 0.6,
                     0.2]  # fmt: skip
# The tables the generator writes (and empties first).
TABLES = ("dealer", "staff_user", "staff_dealer", "profile", "lead", "lead_stage_change",
          "contact_attempt", "appointment")  # fmt: skip


@dataclass(frozen=True, slots=True)
class DealerSpec:
    id: int
    code: str
    size: float  # relative share of the network's leads
    first_contact_min: float  # the dealer's median minutes to first contact
    reach: float  # chance a call reaches the customer
    appointment: float  # reached leads that get an appointment
    show: float  # appointments that show
    close: float  # multiplies each channel's sale rate
    sellers: tuple[int, ...] = ()


@dataclass(slots=True)
class Rows:
    """Text COPY lines per table."""

    lines: dict[str, list[str]] = field(default_factory=lambda: {t: [] for t in TABLES})
    ids: Counter[str] = field(default_factory=Counter)

    def add(self, table: str, *values: object) -> int:
        self.ids[table] += 1
        self.lines[table].append("\t".join(_c(v) for v in values) + "\n")
        return self.ids[table]


def _c(value: object) -> str:
    """A COPY text field (generated values hold no tab, newline or backslash)."""
    if value is None:
        return "\\N"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def dealer_specs(n: int, rng: random.Random, staff: int) -> list[DealerSpec]:
    specs = []
    for k in range(n):
        fast = rng.random()
        specs.append(
            DealerSpec(
                id=k + 1,
                code=f"BD{k + 1:03d}",
                size=rng.uniform(0.35, 2.8),
                first_contact_min=round(3 + 240 * fast**2.5, 1),  # most in minutes, a few hours
                reach=rng.uniform(0.62, 0.9),
                appointment=rng.uniform(0.35, 0.6),
                show=rng.uniform(0.5, 0.8),
                close=rng.uniform(0.7, 1.3),
                sellers=tuple(range(1, staff + 1)),  # replaced by staff ids when written
            )
        )
    return specs


def _cumulative(weights: Sequence[float]) -> list[float]:
    return list(accumulate(weights))


def _pick(rng: random.Random, items: Sequence[Any], cum: Sequence[float]) -> Any:
    return items[bisect_right(cum, rng.random() * cum[-1])]


def lead_times(n: int, rng: random.Random, now: datetime) -> list[datetime]:
    """n moments over the two years before now, in the seasons, week and day of car retail."""
    start = (now - timedelta(days=730)).replace(hour=0, minute=0, second=0, microsecond=0)
    days = [start + timedelta(days=d) for d in range(730)]
    day_cum = _cumulative([SEASON[d.month - 1] * WEEKDAY[d.weekday()] for d in days])
    hour_cum = _cumulative(HOURS)
    found = []
    for day in rng.choices(days, cum_weights=day_cum, k=n):
        hour = bisect_right(hour_cum, rng.random() * hour_cum[-1])
        moment = day + timedelta(hours=hour, seconds=rng.randrange(3600))
        found.append(min(moment, now - timedelta(minutes=1)))
    found.sort()
    return found


def simulate(
    rows: Rows,
    rng: random.Random,
    *,
    lead_id: int,
    profile_id: str,
    dealer: DealerSpec | None,
    channel: str,
    at: datetime,
    now: datetime,
    lost_cum: dict[str, tuple[list[str], list[float]]],
) -> None:
    """One lead's course, cut off at now: its row, stage changes, contacts and appointments."""
    events: list[tuple[datetime, str, str | None]] = []  # (when, to stage, lost reason)
    attempts: list[tuple[datetime, str, str]] = []
    appointments: list[tuple[datetime, str, str]] = []
    dealer_id = dealer.id if dealer else None
    seller = rng.choice(dealer.sellers) if dealer else None
    roll = rng.random()
    stage_at = at
    if roll < 0.03 or (roll < 0.05 and channel in ("marketplace", "website")):
        events.append((at + timedelta(minutes=rng.randint(5, 600)), "invalid", None))
    elif dealer is not None:
        walk_in = channel in ("walk_in", "be_back")
        if walk_in:  # met on the floor: reached at once
            events.append((at, "reached", None))
            when = at
        else:
            delay = dealer.first_contact_min * rng.lognormvariate(0, 0.9)
            when = at + timedelta(minutes=delay)
            reached = False
            for tries in range(rng.choice((1, 2, 2, 3, 4))):
                got = rng.random() < dealer.reach
                method = rng.choice(("call", "call", "call", "whatsapp", "email"))
                outcome = "reached" if got else rng.choice(("no_answer", "voicemail"))
                attempts.append((when, method, outcome))
                if got:
                    reached = True
                    break
                if tries == 0:
                    events.append((when, "attempted", None))
                when += timedelta(hours=rng.uniform(3, 48))
            if reached:
                events.append((when, "reached", None))
            else:
                events.append((when + timedelta(days=rng.randint(3, 10)), "lost", "not_reachable"))
        stage_at = when
        sale_rate = SALE_RATE[channel] * dealer.close
        if events[-1][1] == "reached":
            # Each step's chance given the one before, so that lead to sale lands near the
            # channel's rate: reached (about 85%), appointment, show, then the close.
            chain = 1.0 if walk_in else 0.85 * dealer.appointment * dealer.show
            close = min(0.95, sale_rate / chain)
            if walk_in or rng.random() < dealer.appointment:
                start = stage_at + timedelta(days=0 if walk_in else rng.uniform(1, 9))
                kind = "test_drive" if rng.random() < 0.55 else "visit"
                showed = walk_in or rng.random() < dealer.show
                if not walk_in:
                    events.append((stage_at + timedelta(minutes=rng.randint(1, 30)),
                                   "appointment", None))  # fmt: skip
                    appointments.append((start, kind, "showed" if showed else "no_show"))
                if showed:
                    stage_at = start + timedelta(minutes=rng.randint(20, 90))
                    if kind == "test_drive" or rng.random() < 0.45:
                        events.append((stage_at, "test_drive", None))
                    closes = rng.random() < close
                    if closes or rng.random() < 0.4:
                        stage_at += timedelta(days=rng.uniform(0, 6))
                        events.append((stage_at, "quote", None))
                        if closes:
                            stage_at += timedelta(days=rng.lognormvariate(math.log(16), 0.6))
                            events.append((stage_at, "sold", None))
                            stage_at += timedelta(days=rng.uniform(10, 45))
                            events.append((stage_at, "delivered", None))
            last = events[-1][0]
            if events[-1][1] not in ("sold", "delivered"):
                reasons, cum = lost_cum.get(channel, lost_cum[""])
                reason = _pick(rng, reasons, cum)
                events.append((last + timedelta(days=rng.uniform(2, 30)), "lost", reason))
    stage, lost_reason, previous, updated = "new", None, None, at
    assigned = None
    for when, to_stage, reason in events:
        if when > now:
            break
        rows.add("lead_stage_change", lead_id, previous, to_stage, reason, seller, when)
        previous, stage, lost_reason, updated = to_stage, to_stage, reason, when
    if dealer is not None and (stage != "new" or rng.random() < 0.9):
        assigned = seller
    for when, method, outcome in attempts:
        if when <= now:
            rows.add("contact_attempt", dealer_id, lead_id, profile_id, seller, method, outcome,
                     when)  # fmt: skip
    for starts, kind, status in appointments:
        status = status if starts <= now else "planned"
        booked = starts - timedelta(days=2)
        rows.add("appointment", dealer_id, profile_id, lead_id, seller, kind, status, starts,
                 booked)  # fmt: skip
    touch: dict[str, str] | None = None
    first: dict[str, str] | None = None
    if channel in ONLINE and rng.random() < 0.7:
        touch = dict(rng.choice(CAMPAIGNS))
        touch["name"] = f"{touch['name']}-{at.year}"
        first = touch if rng.random() < 0.6 else dict(rng.choice(CAMPAIGNS), name="brand-search")
    elif channel == "marketplace":
        site = rng.choice(MARKETPLACES)
        touch = first = {"source": site, "medium": "listing", "referrer": f"www.{site}.nl"}
    elif channel == "direct_mail":
        touch = first = {"source": "mail", "medium": "print", "name": "service-reactivation"}
    model = rng.choice(("Aster", "Brio", "Cirrus", "Delta EV"))
    fields = (lead_id, dealer_id, profile_id, channel, stage, lost_reason, model, assigned, at,
              updated, first, touch)  # fmt: skip
    rows.lines["lead"].append("\t".join(_c(v) for v in fields) + "\n")


COLUMNS = {
    "profile": "id, created_at, first_seen_at, last_seen_at",
    "lead": "id, dealer_id, profile_id, channel, stage, lost_reason, model, assigned_user_id, "
    "created_at, updated_at, first_touch, last_touch",
    "lead_stage_change": "lead_id, from_stage, to_stage, lost_reason, changed_by_user_id, "
    "changed_at",
    "contact_attempt": "dealer_id, lead_id, profile_id, user_id, method, outcome, attempted_at",
    "appointment": "dealer_id, profile_id, lead_id, user_id, kind, status, starts_at, created_at",
}


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def write_people(
    cur: psycopg.Cursor[Any], specs: list[DealerSpec], staff: int, password_hash: str
) -> tuple[list[DealerSpec], dict[str, str]]:
    """Dealers, their staff and the importer's manager; the specs with their sellers' ids and
    the e-mail addresses to sign in as."""
    dealers, users, links = [], [], []
    user_id = 0
    with_sellers = []
    for spec in specs:
        belgian = spec.id % 3 == 0
        dealers.append((spec.id, spec.code, f"Bench dealer {spec.id}", "BE" if belgian else "NL",
                        "Europe/Brussels" if belgian else "Europe/Amsterdam",
                        "Mon-Fri 9-18, Sat 10-17" if spec.id % 4 else "Mon-Fri 8:30-18, Sat 9-16",
                        [], True, 30, 15))  # fmt: skip
        sellers = []
        roles = [("sales", f"sales{k}") for k in range(1, staff + 1)]
        roles += [("manager", "manager"), ("reception", "reception"), ("delivery", "delivery")]
        for role, local in roles:
            user_id += 1
            users.append((user_id, f"{local}.{spec.code.lower()}@bench.example",
                          f"{local.title()} {spec.code}", role, password_hash, True))  # fmt: skip
            links.append((user_id, spec.id))
            if role == "sales":
                sellers.append(user_id)
        with_sellers.append(DealerSpec(**{**_fields(spec), "sellers": tuple(sellers)}))
    user_id += 1
    users.append((user_id, "importer.manager@bench.example", "Importer Manager", "manager",
                  password_hash, True))  # fmt: skip
    now = datetime.now(UTC)
    with cur.copy(
        "COPY dealer (id, code, name, country, time_zone, opening_hours, postal_areas, active, "
        "sla_first_contact_minutes, sla_warning_minutes, created_at) FROM STDIN WITH (FREEZE)"
    ) as copy:
        copy.write("".join("\t".join(_c(v) for v in (*d, now)) + "\n" for d in dealers))
    with cur.copy(
        "COPY staff_user (id, email, name, role, password_hash, active, created_at) "
        "FROM STDIN WITH (FREEZE)"
    ) as copy:
        copy.write("".join("\t".join(_c(v) for v in (*u, now)) + "\n" for u in users))
    with cur.copy("COPY staff_dealer (user_id, dealer_id) FROM STDIN WITH (FREEZE)") as copy:
        copy.write("".join(f"{u}\t{d}\n" for u, d in links))
    for table, top in (("dealer", len(dealers)), ("staff_user", user_id)):
        cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {top})")
    biggest = max(with_sellers, key=lambda s: s.size)
    return with_sellers, {
        "importer": "importer.manager@bench.example",
        "dealer": f"manager.{biggest.code.lower()}@bench.example",
        "dealer_code": biggest.code,
    }


def _fields(spec: DealerSpec) -> dict[str, Any]:
    return {name: getattr(spec, name) for name in DealerSpec.__slots__}


def lead_rows(
    specs: list[DealerSpec], n: int, seed: int, now: datetime, chunk: int
) -> Iterator[Rows]:
    rng = random.Random(seed)
    times = lead_times(n, rng, now)
    dealer_cum = _cumulative([s.size for s in specs])
    channels = [c for c, _ in CHANNELS]
    channel_cum = _cumulative([w for _, w in CHANNELS])
    lost_cum = {
        key: ([r for r, _ in table], _cumulative([w for _, w in table]))
        for key, table in (*LOST_BY_CHANNEL.items(), ("", LOST_DEFAULT))
    }
    rows = Rows()
    for number, at in enumerate(times, start=1):
        dealer = None if rng.random() < 0.01 else _pick(rng, specs, dealer_cum)
        profile_id = _uuid(rng)
        rows.add("profile", profile_id, at, at - timedelta(days=rng.randint(0, 60)), at)
        simulate(rows, rng, lead_id=number, profile_id=profile_id, dealer=dealer,
                 channel=_pick(rng, channels, channel_cum), at=at, now=now,
                 lost_cum=lost_cum)  # fmt: skip
        if number % chunk == 0:
            yield rows
            rows = Rows(ids=rows.ids)
            rows.lines = {t: [] for t in TABLES}
    yield rows


# ------------------------------------------------------------------------------------------
# The database
# ------------------------------------------------------------------------------------------


def conninfo(url: str, database: str | None = None) -> str:
    u = make_url(url).set(drivername="postgresql")
    if database is not None:
        u = u.set(database=database)
    return u.render_as_string(hide_password=False)


def database_name(url: str) -> str:
    name = make_url(url).database or ""
    if "bench" not in name:
        raise SystemExit(f"refusing to use database {name!r}: its name must contain 'bench'")
    return name


def create_database(url: str) -> bool:
    """Create the database when missing; True if it existed."""
    name = database_name(url)
    with psycopg.connect(conninfo(url, ADMIN_DATABASE), autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            return True
        conn.execute(f'CREATE DATABASE "{name}"')
        return False


def drop_database(url: str) -> None:
    name = database_name(url)
    with psycopg.connect(conninfo(url, ADMIN_DATABASE), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def secondary_indexes(cur: psycopg.Cursor[Any]) -> list[tuple[str, str, str | None, str]]:
    """(index, table, unique-constraint name or None, definition) of non-PK indexes."""
    rows = cur.execute(
        """
        SELECT ic.relname, t.relname, con.conname,
               coalesce(pg_get_constraintdef(con.oid), pg_get_indexdef(i.indexrelid))
        FROM pg_index i
        JOIN pg_class ic ON ic.oid = i.indexrelid
        JOIN pg_class t ON t.oid = i.indrelid
        JOIN pg_namespace n ON n.oid = t.relnamespace AND n.nspname = current_schema()
        LEFT JOIN pg_constraint con
            ON con.conindid = i.indexrelid AND con.conrelid = t.oid AND con.contype = 'u'
        WHERE t.relname = ANY(%s) AND NOT i.indisprimary
        ORDER BY t.relname, ic.relname
        """,
        (list(TABLES),),
    ).fetchall()
    return [(r[0], r[1], r[2], r[3]) for r in rows]


def _signature(cur: psycopg.Cursor[Any]) -> list[str]:
    """The indexes by name and table (a partial index's condition reads back differently
    spelled once rebuilt from its own definition: same meaning, other text)."""
    rows = cur.execute(
        "SELECT tablename || '.' || indexname FROM pg_indexes WHERE schemaname = current_schema() "
        "AND tablename = ANY(%s) ORDER BY indexname",
        (list(TABLES),),
    ).fetchall()
    return [r[0] for r in rows]


def generate(url: str, args: argparse.Namespace, now: datetime) -> dict[str, str]:
    """Every row, in one transaction (all or nothing); the accounts to sign in as."""
    t0 = time.perf_counter()
    rng = random.Random(args.seed)
    specs = dealer_specs(args.dealers, rng, args.staff)
    password_hash = _hasher.hash(PASSWORD)
    written: Counter[str] = Counter()
    with psycopg.connect(conninfo(url), autocommit=True) as conn:
        with conn.transaction():
            cur = conn.cursor()
            before = _signature(cur)
            cur.execute("SET LOCAL session_replication_role = replica")  # no FK triggers
            cur.execute("SET LOCAL maintenance_work_mem = '256MB'")
            indexes = secondary_indexes(cur)
            for index, table, constraint, _ in indexes:
                if constraint:
                    cur.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT "{constraint}"')
                else:
                    cur.execute(f'DROP INDEX "{index}"')
            # CASCADE: the tables that reference these hold nothing in this database.
            cur.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
            specs, accounts = write_people(cur, specs, args.staff, password_hash)
            for rows in lead_rows(specs, args.leads, args.seed, now, chunk=50_000):
                for table, columns in COLUMNS.items():
                    lines = rows.lines[table]
                    with cur.copy(f"COPY {table} ({columns}) FROM STDIN WITH (FREEZE)") as copy:
                        copy.write("".join(lines))
                    written[table] += len(lines)
                print(f"  {written['lead']:>9,} leads ({time.perf_counter() - t0:5.1f} s)",
                      flush=True)  # fmt: skip
            for table in ("lead", "lead_stage_change", "contact_attempt", "appointment"):
                cur.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT coalesce(max(id), 1) FROM {table}))"
                )
            t1 = time.perf_counter()
            for _index, table, constraint, definition in indexes:
                if constraint:
                    cur.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT "{constraint}" {definition}')
                else:
                    cur.execute(definition)
            after = _signature(cur)
            if after != before:
                raise RuntimeError(f"indexes differ after the load: {set(before) ^ set(after)}")
            cur.execute("CREATE TABLE IF NOT EXISTS bench_funnel_meta (key text PRIMARY KEY, "
                        "value text)")  # fmt: skip
            cur.execute("TRUNCATE bench_funnel_meta")  # kept data: only once complete
        t2 = time.perf_counter()
        # Each lead's progress, worked out from the history just written around the ORM (as
        # every bulk writer does).
        engine = make_engine(url)
        with engine.begin() as connection:
            # The funnel's tally counted from the leads once, as after any load with triggers
            # off (its trigger would otherwise take off counts the COPY never added).
            connection.exec_driver_sql("SET LOCAL session_replication_role = replica")
            refresh_all(connection)
            tally.rebuild(connection)
            sla_due.fill(connection)  # each lead's speed-to-lead due time
        engine.dispose()
        # That UPDATE wrote every lead anew in the order of its join, not of arrival: back in
        # arrival order (as COPY wrote them, and as a live table roughly keeps them: a lead
        # moves mostly in its first weeks), compact again.
        conn.execute("CLUSTER lead USING ix_lead_created_at")
        t3 = time.perf_counter()
        meta = {**accounts, "shape": _shape(args), "now": now.isoformat()}
        with conn.transaction():
            for key, value in meta.items():
                conn.execute("INSERT INTO bench_funnel_meta VALUES (%s, %s)", (key, value))
        for table in TABLES:
            conn.execute(f"VACUUM (ANALYZE) {table}")
    print(
        f"generated in {time.perf_counter() - t0:.1f} s (rows and COPY {t1 - t0:.1f} s, indexes "
        f"{t2 - t1:.1f} s, progress and cluster {t3 - t2:.1f} s, vacuum analyze "
        f"{time.perf_counter() - t3:.1f} s): {dict(written)}"
    )
    return meta


def _shape(args: argparse.Namespace) -> str:
    return f"dealers={args.dealers} leads={args.leads} staff={args.staff} seed={args.seed} v2"


def kept_data(url: str, args: argparse.Namespace) -> dict[str, str] | None:
    """The accounts of a kept database holding this shape of data, else None."""
    with psycopg.connect(conninfo(url), autocommit=True) as conn:
        if not conn.execute("SELECT to_regclass('bench_funnel_meta')").fetchone()[0]:  # type: ignore[index]
            return None
        meta = dict(conn.execute("SELECT key, value FROM bench_funnel_meta").fetchall())
    return meta if meta.get("shape") == _shape(args) else None


# ------------------------------------------------------------------------------------------
# Measuring
# ------------------------------------------------------------------------------------------

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class Server:
    """`cdp serve --workers N` on a free loopback port against the bench database."""

    def __init__(self, database_url: str, *, workers: int, log: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.database_url, self.workers, self.log = database_url, workers, log
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Server:
        cdp = shutil.which("cdp", path=str(Path(sys.executable).parent)) or "cdp"
        env = {**os.environ, "CDP_DATABASE_URL": self.database_url}
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [cdp, "serve", "--host", "127.0.0.1", "--port", str(self.port),
                 "--workers", str(self.workers)],
                env=env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + 300
        while True:
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.__exit__()  # never leave a server behind
                raise RuntimeError(f"cdp serve did not start; see {self.log}")
            time.sleep(0.3)

    def __exit__(self, *_exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def signed_in(base_url: str, email: str) -> httpx.Client:
    client = httpx.Client(base_url=base_url, timeout=60)
    match = _CSRF.search(client.get("/login").text)
    if match is None:
        raise RuntimeError("no CSRF token on /login")
    answer = client.post(
        "/login",
        data={"email": email, "password": PASSWORD, "csrf_token": match.group(1), "next": "/"},
    )
    if answer.status_code != 303 or "/login" in answer.headers.get("location", ""):
        raise RuntimeError(f"sign-in as {email} failed: {answer.status_code}")
    return client


def last_quarter(now: datetime) -> dict[str, str]:
    today = local_today(now)
    q = (today.month - 1) // 3  # this quarter, 0-based; the last full one is q - 1
    year, q = (today.year - 1, 3) if q == 0 else (today.year, q - 1)
    start = datetime(year, 3 * q + 1, 1)
    end = datetime(year + (q == 3), 1 if q == 3 else 3 * q + 4, 1) - timedelta(days=1)
    return {"quarter": f"{year}-Q{q + 1}", "quarter_start": f"{start:%Y-%m-%d}",
            "quarter_end": f"{end:%Y-%m-%d}"}  # fmt: skip


def pct(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * p
    low, high = math.floor(k), math.ceil(k)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


@dataclass
class Timings:
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    status: Counter[int] = field(default_factory=Counter)
    size: int = 0


def pages_of(args: argparse.Namespace) -> list[tuple[str, str, str]]:
    """(account, page, address template) of the pages to time: the baseline and PAGES, or those
    whose name starts with one of --only."""
    wanted = [w.strip() for w in args.only.split(",") if w.strip()] if args.only else []
    return [
        (role, name, path)
        for role, pages in PAGES.items()
        for name, path in [BASELINE, *pages]
        if name == BASELINE[0] or not wanted or any(name.startswith(w) for w in wanted)
    ]


def measure(
    server: Server, engine: Any, meta: dict[str, str], args: argparse.Namespace
) -> dict[tuple[str, str], Timings]:
    fill = {"dealer": meta["dealer_code"], **last_quarter(datetime.fromisoformat(meta["now"]))}
    clients = {role: signed_in(server.base_url, meta[role]) for role in PAGES}
    plan = [(role, name, path.format(**fill)) for role, name, path in pages_of(args)]
    for role, _name, path in plan:  # warm-up: pools, caches, plans
        for _ in range(args.warmup):
            clients[role].get(path)
    with engine.connect() as c:
        own = {int(c.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())}
    clock = ServerClock(server, engine, own)
    order = plan * args.requests
    random.Random(args.seed).shuffle(order)
    found: dict[tuple[str, str], Timings] = {(r, n): Timings() for r, n, _ in plan}
    for number, (role, name, path) in enumerate(order, start=1):
        cpu0 = clock.read()
        t0 = time.perf_counter_ns()
        answer = clients[role].get(path)
        wall = (time.perf_counter_ns() - t0) / 1e6
        timing = found[(role, name)]
        timing.wall.append(wall)
        timing.cpu.append((clock.read() - cpu0) / 1e6)
        timing.status[answer.status_code] += 1
        timing.size = len(answer.content)
        if number % 100 == 0:
            print(f"  {number}/{len(order)} requests (load {loadavg()})", flush=True)
    for client in clients.values():
        client.close()
    return found


def report(
    found: dict[tuple[str, str], Timings], paths: dict[tuple[str, str], str]
) -> list[dict[str, Any]]:
    print(f"\n{'account':<9} {'page':<17} {'p50':>7} {'p95':>7} {'max':>7} {'cpu50':>6} "
          f"{'cpu95':>6} {'x base':>6} {'<300ms':>6}  status  bytes  address")  # fmt: skip
    lines = []
    for (role, name), t in found.items():
        base = found[(role, BASELINE[0])]
        p95 = pct(t.wall, 0.95)
        line = {
            "account": role, "page": name, "address": paths[(role, name)],
            "p50": round(pct(t.wall, 0.5), 1), "p95": round(p95, 1), "max": round(max(t.wall), 1),
            "cpu_p50": round(pct(t.cpu, 0.5), 1), "cpu_p95": round(pct(t.cpu, 0.95), 1),
            "x_baseline": round(p95 / pct(base.wall, 0.95), 1), "met": p95 < TARGET_MS,
            "status": dict(t.status), "bytes": t.size, "n": len(t.wall),
        }  # fmt: skip
        lines.append(line)
        status = ",".join(f"{k}x{v}" for k, v in sorted(t.status.items()))
        print(f"{role:<9} {name:<17} {line['p50']:7.1f} {p95:7.1f} {line['max']:7.1f} "
              f"{line['cpu_p50']:6.1f} {line['cpu_p95']:6.1f} {line['x_baseline']:6.1f} "
              f"{'yes' if line['met'] else 'NO':>6}  {status:<7} {t.size:>6}  "
              f"{paths[(role, name)]}")  # fmt: skip
    return lines


def explain(url: str, meta: dict[str, str]) -> None:
    """EXPLAIN ANALYZE of the network view's queries as the importer's manager runs them."""
    from sqlalchemy import event as sa_event

    from cdp.dealers.network import network_view
    from cdp.dealers.visibility import NETWORK

    engine = make_engine(url)
    statements: list[tuple[str, Any]] = []

    @sa_event.listens_for(engine, "before_cursor_execute")
    def _keep(_conn: Any, _cursor: Any, statement: str, params: Any, *_rest: Any) -> None:
        statements.append((statement, params))

    factory = make_sessionmaker(engine)
    with factory() as session:
        network_view(session, NETWORK, period="quarter", now=datetime.fromisoformat(meta["now"]))
    sa_event.remove(engine, "before_cursor_execute", _keep)
    with engine.connect() as c:
        for statement, params in statements:
            if statement.lstrip().upper().startswith("SET"):  # as the page sets it (SET LOCAL)
                c.exec_driver_sql(statement, params)
            if not statement.lstrip().upper().startswith("SELECT"):
                continue
            plan = c.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, params).all()
            print("\n" + statement.strip()[:300] + "\n" + "\n".join(r[0] for r in plan))
    engine.dispose()


def loadavg() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def revision() -> str:
    root = Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, timeout=10,
                             capture_output=True, text=True, check=True)  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return "?"
    return out.stdout.strip()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--database-url", default=os.environ.get("CDP_BENCH_FUNNEL_URL", DEFAULT_URL))
    ap.add_argument("--dealers", type=int, default=200)
    ap.add_argument("--leads", type=int, default=500_000)
    ap.add_argument("--staff", type=int, default=4, help="salespeople per dealer")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--requests", type=int, default=40, help="timed requests of each page")
    ap.add_argument("--warmup", type=int, default=3, help="untimed requests of each page first")
    ap.add_argument("--workers", type=int, default=2, help="`cdp serve --workers`")
    ap.add_argument("--keep", action="store_true", help="keep the database afterwards")
    ap.add_argument("--regenerate", action="store_true", help="generate even if kept data fits")
    ap.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE the network queries")
    ap.add_argument("--no-http", dest="http", action="store_false", help="skip the HTTP timing")
    ap.add_argument(
        "--only", default="", metavar="NAMES", help="time only pages whose name starts so "
        "(comma-separated: --only network), and the baseline"
    )  # fmt: skip
    ap.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = ap.parse_args(argv)
    if args.dealers < 1 or args.leads < 1 or args.staff < 1 or args.requests < 1:
        ap.error("--dealers, --leads, --staff and --requests must be at least 1")
    url = args.database_url
    print(f"bench/funnel.py at {revision()}, {platform.node()}, {os.cpu_count()} cores, "
          f"load {loadavg()}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")  # fmt: skip
    existed = create_database(url)
    try:
        engine = make_engine(url)
        upgrade(engine)
        meta = None if args.regenerate or not existed else kept_data(url, args)
        if meta is None:
            print(f"generating {args.dealers} dealers, {args.leads:,} leads (seed {args.seed})")
            meta = generate(url, args, datetime.now(UTC).replace(microsecond=0))
        else:
            print(f"using the kept data ({meta['shape']}, generated at {meta['now']})")
        if args.explain:
            explain(url, meta)
        if args.http:
            log = Path(f"/tmp/bench-funnel-serve-{os.getpid()}.log")
            with Server(url, workers=args.workers, log=log) as server:
                found = measure(server, engine, meta, args)
            fill = {"dealer": meta["dealer_code"],
                    **last_quarter(datetime.fromisoformat(meta["now"]))}  # fmt: skip
            paths = {(role, name): path.format(**fill) for role, name, path in pages_of(args)}
            lines = report(found, paths)
            print(f"load average at the end: {loadavg()}")
            if args.json:
                args.json.write_text(json.dumps({"revision": revision(), "pages": lines}, indent=1))
        engine.dispose()
    finally:
        if not args.keep:
            drop_database(url)
            print(f"dropped {database_name(url)} (--keep keeps it)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
