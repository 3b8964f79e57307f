"""event: no foreign keys and no insert trigger on the table every message is written to;
traits and context kept as json text


The two foreign keys (profile, source) cost a third of the database's work per stored event:
each row looked up and share-locked its profile and the source's one row (shared by every
concurrent writer). The profile is kept right by ingest itself: a message's profile is created
in the same transaction, or locked and checked live as its last statement (merges and erasures
lock the profiles they change first). Sources are never deleted. The insert trigger that noted
changed profiles for segmentation captured every inserted row; ingest now notes the profiles it
wrote to itself (the update and delete triggers stay: merges and erasures are rare). An event's
traits and context (half a kilobyte of browser details) are only ever read whole, so they are
kept as json, checked but not taken apart: that saves a quarter of the rest (properties stay
jsonb, segmentation queries them). On a large table the type change rewrites it once. And
lead.source_event_id gets the index it lacked: ingest looked leads up by it in every
transaction (a scan of all leads), and an erasure checked it for every event deleted.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 17:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FOREIGN_KEYS = (
    ("fk_event_profile_id_profile", "profile", "profile_id"),
    ("fk_event_source_id_source", "source", "source_id"),
)
_PG_INSERT_TRIGGER = """
CREATE FUNCTION segment_events_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO segment_event_change (profile_id) SELECT DISTINCT profile_id FROM new_events;
    RETURN NULL;
END $$;
CREATE TRIGGER segment_events_inserted AFTER INSERT ON event
    REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION segment_events_inserted();
"""
# SQLite rebuilds the table to change its constraints, which drops its triggers: the ones that
# stay are made again (as migration 0006 made them).
_SQLITE_TRIGGERS = {
    "segment_events_inserted": """CREATE TRIGGER segment_events_inserted AFTER INSERT ON event
    BEGIN
        INSERT INTO segment_event_change (profile_id) VALUES (NEW.profile_id);
    END""",
    "segment_events_updated": """CREATE TRIGGER segment_events_updated AFTER UPDATE ON event
    BEGIN
        INSERT INTO segment_event_change (profile_id) VALUES (OLD.profile_id);
        INSERT INTO segment_event_change (profile_id) VALUES (NEW.profile_id);
    END""",
    "segment_events_deleted": """CREATE TRIGGER segment_events_deleted AFTER DELETE ON event
    BEGIN
        INSERT INTO segment_event_change (profile_id) VALUES (OLD.profile_id);
    END""",
}


def _rebuild_sqlite_event(*, with_foreign_keys: bool, triggers: list[str]) -> None:
    # Rows of configuration, lead and appointment point at events: cdp.migrate turns SQLite's
    # foreign keys off while it migrates, so the old table can be dropped for its copy.
    for name in _SQLITE_TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    with op.batch_alter_table("event", schema=None, recreate="always") as batch_op:
        for name, table, column in _FOREIGN_KEYS:
            if with_foreign_keys:
                batch_op.create_foreign_key(name, table, [column], ["id"])
            else:
                batch_op.drop_constraint(name, type_="foreignkey")
    for name in triggers:
        op.execute(_SQLITE_TRIGGERS[name])


def upgrade() -> None:
    with op.batch_alter_table("lead", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_lead_source_event_id"), ["source_event_id"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS segment_events_inserted ON event")
        op.execute("DROP FUNCTION IF EXISTS segment_events_inserted()")
        for name, _table, _column in _FOREIGN_KEYS:
            op.execute(f"ALTER TABLE event DROP CONSTRAINT IF EXISTS {name}")
        op.execute(
            "ALTER TABLE event ALTER COLUMN traits TYPE json USING traits::json, "
            "ALTER COLUMN context TYPE json USING context::json"
        )
    else:
        _rebuild_sqlite_event(
            with_foreign_keys=False, triggers=["segment_events_updated", "segment_events_deleted"]
        )


def downgrade() -> None:
    with op.batch_alter_table("lead", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lead_source_event_id"))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE event ALTER COLUMN traits TYPE jsonb USING traits::jsonb, "
            "ALTER COLUMN context TYPE jsonb USING context::jsonb"
        )
        for name, table, column in _FOREIGN_KEYS:
            op.execute(
                f"ALTER TABLE event ADD CONSTRAINT {name} "
                f"FOREIGN KEY ({column}) REFERENCES {table} (id)"
            )
        op.execute(_PG_INSERT_TRIGGER)
    else:
        _rebuild_sqlite_event(with_foreign_keys=True, triggers=list(_SQLITE_TRIGGERS))
