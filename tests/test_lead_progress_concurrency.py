"""A lead's kept progress stays true when two transactions add to its history at once: one
moves the lead along while another logs a contact attempt. The second waits for the first and
then works the progress out from both (PostgreSQL; SQLite lets one writer in at a time)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from cdp.db import make_engine
from cdp.migrate import upgrade
from cdp.models import ContactAttempt, Lead, LeadStageChange, Profile
from tests.helpers import drop_database, fresh_database_url

T0 = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)


@pytest.fixture()
def engine(db_kind: str, tmp_path: Path) -> Iterator[Engine]:
    if db_kind != "postgresql":
        pytest.skip("SQLite lets one writer in at a time: nothing runs at once")
    url = fresh_database_url(db_kind, tmp_path, "progress_race")
    made = make_engine(url)
    upgrade(made)
    try:
        yield made
    finally:
        made.dispose()
        drop_database(url)


def test_a_contact_logged_while_the_lead_moves_counts_in_its_progress(engine: Engine) -> None:
    with Session(engine) as session:
        profile = Profile(id=uuid.uuid4(), first_seen_at=T0, last_seen_at=T0)
        session.add(profile)
        session.flush()
        lead = Lead(profile_id=profile.id, channel="website", created_at=T0)
        session.add(lead)
        session.commit()
        lead_id, profile_id = lead.id, profile.id

    mover = Session(engine)
    # The first transaction moves the lead to a quote and keeps its transaction open.
    mover.add(
        LeadStageChange(lead_id=lead_id, to_stage="quote", changed_at=T0 + timedelta(hours=2))
    )
    mover.get_one(Lead, lead_id).stage = "quote"
    mover.flush()

    def log_contact() -> None:
        with Session(engine) as caller:
            caller.add(
                ContactAttempt(
                    lead_id=lead_id,
                    profile_id=profile_id,
                    method="call",
                    outcome="reached",
                    attempted_at=T0 + timedelta(minutes=3),
                )
            )
            caller.commit()  # its flush waits for the mover's lock on the lead

    caller = threading.Thread(target=log_contact)
    caller.start()
    caller.join(timeout=1.0)
    assert caller.is_alive()  # waiting, not storing progress worked out without the quote
    mover.commit()
    mover.close()
    caller.join(timeout=30)
    assert not caller.is_alive()

    with Session(engine) as session:
        stored = session.execute(
            select(Lead.furthest_step, Lead.first_contact_s, Lead.attempts_to_reach).where(
                Lead.id == lead_id
            )
        ).one()
    assert tuple(stored) == (5, 180.0, 1)  # the quote and the call, both
