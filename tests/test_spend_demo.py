"""The demo's spend (cdp/demo/spend.py): loaded with the showroom, a year of it per channel and
campaign, on campaigns the demo's leads carry, and a return the page can show. Both databases."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from cdp.app import create_app
from cdp.config import Settings
from cdp.db import make_engine, make_sessionmaker, session_scope
from cdp.demo.loader import load_demo
from cdp.demo.showroom import DEMO_PASSWORD, seed_showroom
from cdp.local_time import local_today
from cdp.migrate import upgrade
from cdp.models import Lead, SaleMargin, SpendEntry, utcnow
from tests.helpers import drop_database, fresh_database_url, sign_in

CUSTOMERS = 200
SEED = 5


@pytest.fixture(scope="module")
def demo(db_kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Engine]]:
    url = fresh_database_url(db_kind, tmp_path_factory.mktemp("spend_demo"), "spend_demo")
    engine = make_engine(url)
    upgrade(engine)
    now = utcnow()
    load_demo(engine, customers=CUSTOMERS, seed=SEED, reference=now)
    seed_showroom(engine, seed=SEED, now=now)
    try:
        yield url, engine
    finally:
        engine.dispose()
        drop_database(url)


def test_a_year_of_spend_on_the_campaigns_the_leads_carry(demo: tuple[str, Engine]) -> None:
    _url, engine = demo
    today = local_today(utcnow())
    with session_scope(make_sessionmaker(engine)) as session:
        months = set(session.scalars(select(SpendEntry.month).distinct()))
        assert len(months) == 12 and date(today.year, today.month, 1) in months
        spent_on = {
            tuple(row) for row in session.execute(select(SpendEntry.channel, SpendEntry.campaign))
        }
        carried = {
            (channel, touch["name"])
            for channel, touch in session.execute(select(Lead.channel, Lead.last_touch))
            if touch
        }
        assert carried, "the demo's leads carry campaigns"
        assert {pair for pair in spent_on if pair[1]} <= carried
        assert len({channel for channel, _ in spent_on}) >= 4
        assert session.scalar(select(func.count()).select_from(SaleMargin)) >= 1
        count = session.scalar(select(func.count()).select_from(SpendEntry))
    # Loading the showroom again adds no second year.
    seed_showroom(engine, seed=SEED, now=utcnow())
    with session_scope(make_sessionmaker(engine)) as session:
        assert session.scalar(select(func.count()).select_from(SpendEntry)) == count


def test_the_demo_manager_sees_a_return(demo: tuple[str, Engine]) -> None:
    url, engine = demo
    app = create_app(Settings(database_url=url, adf_delivery_seconds=0), engine=engine)
    with TestClient(app) as client:
        sign_in(client, "manager@demo.example", DEMO_PASSWORD)
        page = client.get("/showroom/spend", params={"period": str(local_today(utcnow()).year)})
        assert page.status_code == 200
        assert "No leads came in and no spend" not in page.text
        assert page.text.count('class="bar"') >= 2  # cost per sale drawn for several channels
        rows = list(csv.reader(io.StringIO(client.get("/showroom/spend.csv").text)))
        total = rows[-1]
        assert total[1:3] == ["(all)", "(all)"]
        leads, sales, spend = int(total[3]), int(total[5]), float(total[6])
        assert leads > 0 and sales > 0 and spend > 0
        assert total[-1] != ""  # a margin is set: the return is shown
