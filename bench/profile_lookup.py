"""Where a lookup's time goes, per kind of query, on the bench database of bench/lookup.py.

    .venv/bin/python bench/profile_lookup.py [--kinds name_typo,email] [--queries 100] [--http]

Runs `cdp.profiles.lookup.lookup` under cProfile for each kind of query bench/lookup.py asks
(one session per call, as a request has it), or with --http the whole request, in this process,
through the ASGI app (`GET /api/profiles?q=`, httpx's ASGI transport, so no socket), and prints
the functions with the most time of their own and the cumulative time of the product's steps.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from lookup import DEFAULT_URL, LIMIT, PHONE_REGION, sample_queries

from cdp.app import create_app
from cdp.auth.service import create_token
from cdp.config import Settings
from cdp.db import make_engine, make_sessionmaker
from cdp.profiles.lookup import lookup


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--database-url", default=os.environ.get("CDP_BENCH_LOOKUP_URL", DEFAULT_URL))
    ap.add_argument("--kinds", default="")
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--http", action="store_true")
    args = ap.parse_args()
    engine = make_engine(args.database_url, pool_size=2)
    factory = make_sessionmaker(engine)
    by_kind = defaultdict(list)
    for q in sample_queries(factory, args.queries, 7):
        by_kind[q.kind].append(q.text)
    kinds = [k for k in (args.kinds.split(",") if args.kinds else by_kind) if k != "baseline"]
    client = None
    if args.http:
        with factory() as session:
            _, token = create_token(session, name="bench-profile", role="sales")
            session.commit()
        settings = Settings(database_url=args.database_url, api_token_rate_limit=0)
        app = create_app(settings)
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://bench",
            headers={"Authorization": f"Bearer {token}"},
        )  # fmt: skip
    loop = asyncio.new_event_loop()

    def one(text: str) -> None:
        if client is not None:
            response = loop.run_until_complete(
                client.get("/api/profiles", params={"q": text, "limit": LIMIT})
            )
            response.raise_for_status()
            return
        with factory() as session:
            lookup(session, text, phone_region=PHONE_REGION, limit=LIMIT)
            session.commit()

    if client is not None:
        lifespan = app.router.lifespan_context(app)  # the engine, as `cdp serve` starts it
        loop.run_until_complete(lifespan.__aenter__())
    for kind in kinds:
        for text in by_kind[kind][:10]:  # warm caches and the pool
            one(text)
        profiler = cProfile.Profile(time.thread_time)  # CPU: the machine is shared
        profiler.enable()
        for text in by_kind[kind]:
            one(text)
        profiler.disable()
        stats = pstats.Stats(profiler)
        total = stats.total_tt  # type: ignore[attr-defined]
        n = len(by_kind[kind])
        each = 1000 * total / n
        print(f"\n=== {kind}: {n} queries, {each:.2f} ms of CPU each (this process) ===")
        stats.sort_stats("tottime").print_stats(args.top)
        stats.sort_stats("cumulative").print_stats(r"cdp/|showroom/|fastapi/routing|starlette", 30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
