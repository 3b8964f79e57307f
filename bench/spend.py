"""Return-on-spend benchmark: the spend page's queries at 500,000 leads and 200 dealers on
PostgreSQL. Run by hand, not by the test suite; figures in docs/benchmarks.md ("Spend").

    .venv/bin/python -m bench.spend                 # generate once, then time
    .venv/bin/python -m bench.spend --regenerate    # throw the data away, generate again

(As a module: run as a script, bench/ingest.py would hide the `ingest` package from the app.)

The database (default `cdp_bench_spend` on 127.0.0.1:5432; --database-url) is created when
missing and migrated; its name must contain "bench". Data, made in SQL (generate_series): 200
dealers, --leads leads over the last two years (one profile each), channels and stages at
realistic shares, 70% with a last and first touch naming one of 40 campaigns, a stage history
(reached for every lead past "new", sold for the sales, some sold then lost), 12 months of spend
per channel and campaign for the network and for 50 dealers, margins for the network and 50
dealers. Then each lead's progress from its history (`cdp.leads.progress.refresh_all`: the SQL
writes around the ORM) and VACUUM ANALYZE.

What it times, --runs times each after two untimed runs: `cdp.spend.returns.spend_return` for
the current year, the whole network (last touch and first touch) and one dealer; and the page
itself (`GET /showroom/spend`, and its CSV) through the app in-process, signed in as an importer
manager. p50 and p95 in ms.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from cdp.app import create_app
from cdp.auth.staff import create_user
from cdp.config import Settings
from cdp.db import make_engine, make_sessionmaker
from cdp.dealers.visibility import NETWORK, DealerScope
from cdp.leads import progress
from cdp.migrate import upgrade
from cdp.models import utcnow
from cdp.spend import periods
from cdp.spend.returns import spend_return

ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PASSWORD = "bench-password-long-enough"

GENERATE = """
INSERT INTO dealer (code, name, country, postal_areas, active, sla_first_contact_minutes,
                    sla_warning_minutes, created_at)
SELECT 'BD-' || n, 'Bench dealer ' || n, CASE WHEN n % 3 = 0 THEN 'BE' ELSE 'NL' END, '[]', true,
       30, 15, now()
FROM generate_series(1, 200) AS n;

CREATE TEMP TABLE bench_p AS
SELECT n, gen_random_uuid() AS id,
       now() - (random() * interval '730 days') AS at
FROM generate_series(1, :leads) AS n;

INSERT INTO profile (id, created_at, first_seen_at, last_seen_at)
SELECT id, at, at, at FROM bench_p;

INSERT INTO lead (dealer_id, profile_id, channel, stage, created_at, updated_at, first_touch,
                  last_touch)
SELECT (SELECT min(id) FROM dealer) + (n % 200),
       id,
       (ARRAY['website','website','website','importer','importer','marketplace','marketplace',
              'phone','walk_in','be_back','referral','direct_mail','event','dealer_website'])
           [1 + floor(random() * 14)::int],
       (ARRAY['new','attempted','reached','appointment','test_drive','quote','sold','sold',
              'delivered','lost','lost','lost','lost','invalid','duplicate'])
           [1 + floor(random() * 15)::int],
       at, at,
       CASE WHEN random() < 0.7 THEN jsonb_build_object('source', 'google', 'medium', 'cpc',
            'name', 'campaign-' || floor(random() * 40)::int) END,
       CASE WHEN random() < 0.7 THEN jsonb_build_object('source', 'meta', 'medium', 'social',
            'name', 'campaign-' || floor(random() * 40)::int) END
FROM bench_p;

INSERT INTO lead_stage_change (lead_id, from_stage, to_stage, changed_at)
SELECT id, 'new', 'reached', created_at + interval '1 day' FROM lead
WHERE stage NOT IN ('new', 'attempted', 'invalid', 'duplicate');
INSERT INTO lead_stage_change (lead_id, from_stage, to_stage, changed_at)
SELECT id, 'quote', 'sold', created_at + interval '9 days' FROM lead
WHERE stage IN ('sold', 'delivered') OR (stage = 'lost' AND id % 10 = 0);

INSERT INTO spend_entry (month, channel, campaign, dealer_id, amount, created_at, updated_at)
SELECT make_date(extract(year FROM now())::int, m, 1), c, 'campaign-' || k, NULL,
       round((200 + random() * 5000)::numeric, 2), now(), now()
FROM generate_series(1, 12) AS m, unnest(ARRAY['website','importer','marketplace','direct_mail'])
     AS c, generate_series(0, 39) AS k;
INSERT INTO spend_entry (month, channel, campaign, dealer_id, amount, created_at, updated_at)
SELECT make_date(extract(year FROM now())::int, m, 1), 'marketplace', 'campaign-' || (d % 40),
       (SELECT min(id) FROM dealer) + d, round((50 + random() * 500)::numeric, 2), now(), now()
FROM generate_series(1, 12) AS m, generate_series(0, 49) AS d;

INSERT INTO sale_margin (dealer_id, amount, updated_at) VALUES (NULL, 1850, now());
INSERT INTO sale_margin (dealer_id, amount, updated_at)
SELECT (SELECT min(id) FROM dealer) + d, 2100, now() FROM generate_series(0, 49) AS d;
"""


def ensure_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    assert "bench" in name, "the benchmark database's name must contain 'bench'"
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
        ).first():
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()


def generate(url: str, leads: int, regenerate: bool) -> None:
    engine = make_engine(url)
    upgrade(engine)
    with engine.begin() as conn:
        have = conn.execute(text("SELECT count(*) FROM lead")).scalar_one()
        if have and not regenerate:
            print(f"{have} leads there already: generation skipped")
            return
        started = time.perf_counter()
        conn.execute(text("TRUNCATE lead, lead_stage_change, profile, dealer, spend_entry, "
                          "sale_margin, staff_user CASCADE"))  # fmt: skip
        for statement in GENERATE.split(";\n"):
            if statement.strip():
                conn.execute(text(statement), {"leads": leads})
        # The SQL above writes around the ORM, so the leads' progress (what the return
        # counts sales from) is worked out from their histories here, as the demo's loader does.
        refreshed = time.perf_counter()
        progress.refresh_all(conn)
        print(f"progress of {leads} leads refreshed in {time.perf_counter() - refreshed:.0f} s")
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    print(f"generated {leads} leads in {time.perf_counter() - started:.0f} s")
    engine.dispose()


def timed(label: str, runs: int, call: Callable[[], object]) -> None:
    for _ in range(2):
        call()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    p95 = times[min(len(times) - 1, round(0.95 * len(times)) - 1)]
    print(f"{label:<44} p50 {statistics.median(times):7.1f} ms   p95 {p95:7.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--database-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/cdp_bench_spend"
    )
    parser.add_argument("--leads", type=int, default=500_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--regenerate", action="store_true")
    args = parser.parse_args()
    ensure_database(args.database_url)
    generate(args.database_url, args.leads, args.regenerate)

    engine = make_engine(args.database_url)
    factory = make_sessionmaker(engine)
    year = periods.current_year(utcnow())
    with factory() as session:
        dealer_id = session.execute(text("SELECT min(id) FROM dealer")).scalar_one()
        counted = session.execute(text("SELECT count(*) FROM lead")).scalar_one()
        in_year = spend_return(session, period=year, scope=NETWORK)
    print(f"{counted} leads; {in_year.total.leads} created in {year.label}, "
          f"{in_year.total.sales} sales, spend {in_year.total.spend}")  # fmt: skip

    def call(scope: DealerScope, touch: str) -> Callable[[], object]:
        def run() -> object:
            with factory() as session:
                return spend_return(session, period=year, scope=scope, touch=touch)

        return run

    timed(f"spend_return {year.label}, network, last touch", args.runs, call(NETWORK, "last"))
    timed(f"spend_return {year.label}, network, first touch", args.runs, call(NETWORK, "first"))
    timed(f"spend_return {year.label}, one dealer", args.runs,
          call(DealerScope(frozenset({dealer_id})), "last"))  # fmt: skip
    quarter = periods.period_of(f"{year.key}-Q1")

    def q1() -> object:
        with factory() as session:
            return spend_return(session, period=quarter, scope=NETWORK)

    timed(f"spend_return {quarter.label}, network", args.runs, q1)

    with factory() as session:
        email = f"bench.{time.time_ns()}@example.test"
        create_user(session, email=email, role="manager", name="Bench", password=PASSWORD)
        session.commit()
    app = create_app(
        Settings(database_url=args.database_url, adf_delivery_seconds=0), engine=engine
    )
    with TestClient(app) as client:
        form = client.get("/login").text
        token = form.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token,
                                    "next": "/showroom"}, follow_redirects=False)  # fmt: skip
        page = client.get("/showroom/spend")
        assert page.status_code == 200, page.status_code
        timed("GET /showroom/spend (page, in-process)", args.runs,
              lambda: client.get("/showroom/spend"))  # fmt: skip
        timed("GET /showroom/spend.csv", args.runs, lambda: client.get("/showroom/spend.csv"))
    engine.dispose()


if __name__ == "__main__":
    main()
