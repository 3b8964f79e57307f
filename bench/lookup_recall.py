"""Lookup recall report: recall@1 and recall@5 per kind of typo (cdp/demo/typos.py) for
generated Dutch and Belgian customers, through GET /api/profiles?q=.

    .venv/bin/python bench/lookup_recall.py --people 5000 --per-kind 200
    .venv/bin/python bench/lookup_recall.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/cdp_bench_recall

Without --database-url it uses a new SQLite file in a temporary folder. A PostgreSQL database
(its name must contain "bench") is emptied and migrated first.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cdp.app import create_app
from cdp.config import Settings
from cdp.db import make_engine, make_sessionmaker
from cdp.demo import typos
from cdp.migrate import upgrade
from tests.helpers import make_source, make_token, send_people


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=5000)
    parser.add_argument("--per-kind", type=int, default=200)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    url = args.database_url or f"sqlite:///{tempfile.mkdtemp()}/recall.db"
    if url.startswith("postgresql"):
        name = make_url(url).database or ""
        if "bench" not in name:
            print("the database name must contain 'bench'", file=sys.stderr)
            return 2
        admin = make_engine(str(make_url(url).set(database="test")))
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            c.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
    engine = make_engine(url)
    upgrade(engine)
    factory = make_sessionmaker(engine)
    source, auth = make_source(factory), make_token(factory)
    with TestClient(create_app(Settings(database_url=url), engine=engine)) as client:
        people = send_people(client, source, args.people, args.seed)

        def search(q: str) -> list[str]:
            response = client.get("/api/profiles", params={"q": q}, headers=auth)
            return [r["email"] or "" for r in response.json()["results"]]

        asked = typos.queries(people, args.per_kind, seed=args.seed + 4)
        report = typos.recall(people, asked, search)
    print(f"{args.people} people, {url.split(':')[0]}")
    print(f"{'kind':<18} {'recall@1':>8} {'recall@5':>8} {'queries':>8}")
    for kind, (r1, r5, n) in report.items():
        print(f"{kind:<18} {r1:>8.3f} {r5:>8.3f} {n:>8}")
    engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
