"""Planner benchmark: what the planner's pages ask the database, for a network of 200 dealers
and 500,000 leads a year on PostgreSQL.

Run by hand, not by the test suite. Everything stays on this machine (127.0.0.1).

    .venv/bin/python bench/planner.py generate --leads 1000000   # two years: 500,000 a year
    .venv/bin/python bench/planner.py run

`generate` makes a fresh database (default `cdp_bench_planner`, dropped first), migrates it and
loads 200 dealers and leads spread over the last two years (channels in the demo's proportions,
60% reached, 35% an appointment, 15% sold, 70% with a first contact, half of those within five
minutes) with COPY, then works out each lead's progress from its history
(`cdp.leads.progress.refresh_all`: COPY writes around the ORM) and runs VACUUM ANALYZE.
`run` times, five times each, what the pages call (cdp/planner/service.py): the starting
figures (the last twelve months' conversions and speed to lead), the reverse plan (with the
history of the quarter's months two years back) and a plan's comparison with what happened, for
the network and for one dealer; median and worst, in ms.
"""

from __future__ import annotations

import argparse
import io
import random
import statistics
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import psycopg

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_DB = "cdp_bench_planner"
DEALERS = 200
CHANNELS = [
    ("website", 30), ("dealer_website", 10), ("importer", 12), ("marketplace", 18),
    ("phone", 10), ("walk_in", 10), ("be_back", 2), ("referral", 4), ("direct_mail", 2),
    ("event", 2),
]  # fmt: skip


def pg_url(database: str) -> str:
    return ADMIN_URL.rsplit("/", 1)[0] + f"/{database}"


def generate(database: str, leads: int, seed: int) -> None:
    from sqlalchemy import create_engine, text

    from cdp.db import make_engine
    from cdp.leads import progress, sla_due, tally
    from cdp.migrate import upgrade

    admin = create_engine(
        ADMIN_URL.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{database}"'))
    admin.dispose()
    engine = make_engine(pg_url(database).replace("postgresql://", "postgresql+psycopg://", 1))
    upgrade(engine)
    engine.dispose()

    rng = random.Random(seed)
    now = datetime.now(UTC)
    names = [c for c, _ in CHANNELS]
    weights = [w for _, w in CHANNELS]
    started = time.perf_counter()
    with psycopg.connect(pg_url(database), autocommit=True) as conn:
        for n in range(DEALERS):
            conn.execute(
                "INSERT INTO dealer (code, name, country, postal_areas, active, created_at,"
                " sla_first_contact_minutes, sla_warning_minutes)"
                " VALUES (%s, %s, %s, '[]', true, now(), 30, 15)",
                (f"B{n:03d}", f"Bench dealer {n}", "BE" if n % 4 == 0 else "NL"),
            )
        dealer_ids = [r[0] for r in conn.execute("SELECT id FROM dealer WHERE code LIKE 'B%'")]
        profiles, lead_rows, changes, contacts = io.StringIO(), io.StringIO(), [], []
        for i in range(leads):
            at = now - timedelta(seconds=rng.randrange(730 * 86400))
            pid = uuid.uuid4()
            profiles.write(f"{pid}\t{at.isoformat()}\t{at.isoformat()}\t{at.isoformat()}\n")
            roll = rng.random()
            stage = (
                "sold" if roll < 0.15 else "appointment" if roll < 0.35
                else "reached" if roll < 0.6 else "lost" if roll < 0.9 else "attempted"
            )  # fmt: skip
            dealer = rng.choice(dealer_ids)
            channel = rng.choices(names, weights)[0]
            when = at.isoformat()
            lead_rows.write(f"{i + 1}\t{dealer}\t{pid}\t{channel}\t{stage}\t{when}\t{when}\n")
            if stage == "sold":
                changes.append((i + 1, "sold", at + timedelta(days=rng.randrange(1, 40))))
            if roll < 0.6:
                changes.append((i + 1, "reached", at + timedelta(minutes=rng.randrange(1, 600))))
            if rng.random() < 0.7:
                minutes = rng.randrange(1, 5) if rng.random() < 0.5 else rng.randrange(6, 900)
                contacts.append((i + 1, dealer, pid, at + timedelta(minutes=minutes)))
        with conn.cursor() as cur:
            with cur.copy(
                "COPY profile (id, created_at, first_seen_at, last_seen_at) FROM STDIN"
            ) as copy:
                copy.write(profiles.getvalue())
            with cur.copy(
                "COPY lead (id, dealer_id, profile_id, channel, stage, created_at, updated_at)"
                " FROM STDIN"
            ) as copy:
                copy.write(lead_rows.getvalue())
            with cur.copy(
                "COPY lead_stage_change (lead_id, to_stage, changed_at) FROM STDIN"
            ) as copy:
                for row in changes:
                    copy.write_row(row)
            with cur.copy(
                "COPY contact_attempt (lead_id, dealer_id, profile_id, method, outcome,"
                " attempted_at) FROM STDIN"
            ) as copy:
                for lead_id, dealer, pid, when in contacts:
                    copy.write_row((lead_id, dealer, pid, "call", "no_answer", when))
            cur.execute("SELECT setval('lead_id_seq', %s)", (leads,))
    print(
        f"generated {leads:,} leads for {DEALERS} dealers in {time.perf_counter() - started:.0f} s"
    )
    # COPY writes around the ORM: each lead's progress (what the planner counts from) is worked
    # out from its history here, as the demo's loader does.
    started = time.perf_counter()
    engine = make_engine(pg_url(database).replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as connection:
        # The funnel's tally counted from the leads once, as after any load with triggers off.
        connection.exec_driver_sql("SET LOCAL session_replication_role = replica")
        progress.refresh_all(connection)
        tally.rebuild(connection)
        sla_due.fill(connection)
    engine.dispose()
    print(f"progress refreshed in {time.perf_counter() - started:.0f} s")
    with psycopg.connect(pg_url(database), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def run(database: str) -> None:
    from sqlalchemy.orm import Session

    from cdp.db import make_engine
    from cdp.dealers.visibility import NETWORK, DealerScope
    from cdp.models import SalesPlan, utcnow
    from cdp.planner import plans
    from cdp.planner.comparison import compare
    from cdp.planner.reverse import Target
    from cdp.planner.service import default_mix, plan_backwards, starting

    engine = make_engine(pg_url(database).replace("postgresql://", "postgresql+psycopg://", 1))
    with Session(engine) as session:
        dealer_id = session.execute(
            __import__("sqlalchemy").text("SELECT min(id) FROM dealer WHERE code LIKE 'B%'")
        ).scalar_one()
        now = utcnow()
        for label, scope in (("network", NETWORK), ("dealer", DealerScope(frozenset({dealer_id})))):
            start = starting(session, scope, now)
            year, quarter = (now.year, (now.month - 1) // 3 + 1)
            target = Target(year, quarter, "NL", "observed", 400, 100, default_mix(start))
            result, _ = plan_backwards(session, scope, target, start, now)
            assert result is not None
            plan = plans.save(
                session, result, name="bench", dealer_id=None if scope.network else dealer_id,
                by_user_id=None,  # type: ignore[arg-type]
            )  # fmt: skip
            lines = plans.lines(session, plan.id)
            steps: dict[str, Callable[[], object]] = {
                "starting figures": lambda scope=scope: starting(session, scope, now),
                "reverse plan": lambda scope=scope, start=start, target=target: plan_backwards(
                    session, scope, target, start, now
                ),
                "comparison": lambda plan=plan, lines=lines: compare(session, plan, lines),
            }
            for name, call in steps.items():
                times = []
                for _ in range(5):
                    t0 = time.perf_counter()
                    call()
                    times.append((time.perf_counter() - t0) * 1000)
                print(
                    f"{label:8} {name:17} median {statistics.median(times):7.0f} ms"
                    f"  worst {max(times):7.0f} ms"
                )
            session.rollback()
            assert session.get(SalesPlan, plan.id) is None
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("step", choices=("generate", "run"))
    parser.add_argument("--database", default=DEFAULT_DB)
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    if args.step == "generate":
        generate(args.database, args.leads, args.seed)
    else:
        run(args.database)


if __name__ == "__main__":
    main()
