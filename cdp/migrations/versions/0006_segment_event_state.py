"""segments: per-profile event aggregates kept for the runs (with the triggers on event that
note changed profiles); memberships keyed by (run, profile), without the run's foreign key

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cdp.models.base

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Every change to a profile's events (inserted, moved by a merge, deleted) notes the profile in
# segment_event_change: the next run recomputes it. PostgreSQL: statement-level triggers with
# transition tables, so a COPY of a thousand events costs one INSERT of its distinct profiles,
# not a thousand. Deleting a profile deletes its rows in both tables (foreign keys).
_PG_TRIGGERS = """
CREATE FUNCTION segment_events_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO segment_event_change (profile_id) SELECT DISTINCT profile_id FROM new_events;
    RETURN NULL;
END $$;
CREATE TRIGGER segment_events_inserted AFTER INSERT ON event
    REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION segment_events_inserted();

CREATE FUNCTION segment_events_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO segment_event_change (profile_id)
    SELECT profile_id FROM old_events UNION SELECT profile_id FROM new_events;
    RETURN NULL;
END $$;
CREATE TRIGGER segment_events_updated AFTER UPDATE ON event
    REFERENCING OLD TABLE AS old_events NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION segment_events_updated();

CREATE FUNCTION segment_events_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO segment_event_change (profile_id) SELECT DISTINCT profile_id FROM old_events;
    RETURN NULL;
END $$;
CREATE TRIGGER segment_events_deleted AFTER DELETE ON event
    REFERENCING OLD TABLE AS old_events
    FOR EACH STATEMENT EXECUTE FUNCTION segment_events_deleted();

CREATE FUNCTION segment_events_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM segment_event_state_info;
    RETURN NULL;
END $$;
CREATE TRIGGER segment_events_truncated AFTER TRUNCATE ON event
    FOR EACH STATEMENT EXECUTE FUNCTION segment_events_truncated();
"""
_PG_DROP_TRIGGERS = """
DROP TRIGGER IF EXISTS segment_events_truncated ON event;
DROP TRIGGER IF EXISTS segment_events_deleted ON event;
DROP TRIGGER IF EXISTS segment_events_updated ON event;
DROP TRIGGER IF EXISTS segment_events_inserted ON event;
DROP FUNCTION IF EXISTS segment_events_truncated();
DROP FUNCTION IF EXISTS segment_events_deleted();
DROP FUNCTION IF EXISTS segment_events_updated();
DROP FUNCTION IF EXISTS segment_events_inserted();
"""
# SQLite: row triggers (it has no others), one statement each.
_SQLITE_TRIGGERS = (
    """CREATE TRIGGER segment_events_inserted AFTER INSERT ON event BEGIN
        INSERT INTO segment_event_change (profile_id) VALUES (NEW.profile_id);
    END""",
    """CREATE TRIGGER segment_events_updated AFTER UPDATE ON event BEGIN
        INSERT INTO segment_event_change (profile_id) VALUES (OLD.profile_id);
        INSERT INTO segment_event_change (profile_id) VALUES (NEW.profile_id);
    END""",
    """CREATE TRIGGER segment_events_deleted AFTER DELETE ON event BEGIN
        INSERT INTO segment_event_change (profile_id) VALUES (OLD.profile_id);
    END""",
)
_SQLITE_DROP_TRIGGERS = (
    "DROP TRIGGER IF EXISTS segment_events_deleted",
    "DROP TRIGGER IF EXISTS segment_events_updated",
    "DROP TRIGGER IF EXISTS segment_events_inserted",
)


def upgrade() -> None:
    op.create_table(
        "segment_event_state",
        sa.Column("profile_id", sa.Uuid(), nullable=False),
        sa.Column("activity_pack", sa.Float(), nullable=False),
        sa.Column("interest_pack", sa.Float(), nullable=False),
        sa.Column("body_pack", sa.Float(), nullable=False),
        sa.Column("action_pack", sa.Float(), nullable=False),
        sa.Column("price_pack", sa.Float(), nullable=False),
        sa.Column("steps_reached", sa.Float(), nullable=False),
        sa.Column("first_at", sa.Float(), nullable=False),
        sa.Column("last_at", sa.Float(), nullable=False),
        sa.Column("days_low", sa.BigInteger(), nullable=False),
        sa.Column("days_high", sa.BigInteger(), nullable=False),
        sa.Column("window_start", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["profile_id"],
            ["profile.id"],
            name=op.f("fk_segment_event_state_profile_id_profile"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("profile_id", name=op.f("pk_segment_event_state")),
    )
    op.create_table(
        "segment_event_change",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("profile_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["profile_id"],
            ["profile.id"],
            name=op.f("fk_segment_event_change_profile_id_profile"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_segment_event_change")),
    )
    with op.batch_alter_table("segment_event_change", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_segment_event_change_profile_id"), ["profile_id"], unique=False
        )
    op.create_table(
        "segment_event_state_info",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("built_at", cdp.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("profiles", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_segment_event_state_info")),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_TRIGGERS)
    else:
        for statement in _SQLITE_TRIGGERS:
            op.execute(statement)

    # Memberships: (run, profile) is the key (it was unique already); the run's foreign key
    # goes (the segment's run is the run), so does the surrogate id.
    with op.batch_alter_table("segment_membership", schema=None, recreate="auto") as batch_op:
        batch_op.drop_constraint("fk_segment_membership_run_id_segment_run", type_="foreignkey")
        batch_op.drop_constraint("uq_segment_membership_run_id", type_="unique")
        batch_op.drop_constraint("pk_segment_membership", type_="primary")
        batch_op.drop_column("id")
        batch_op.create_primary_key("pk_segment_membership", ["run_id", "profile_id"])


def downgrade() -> None:
    with op.batch_alter_table("segment_membership", schema=None) as batch_op:
        batch_op.drop_constraint("pk_segment_membership", type_="primary")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE segment_membership ADD COLUMN id SERIAL")
    else:
        with op.batch_alter_table("segment_membership", schema=None) as batch_op:
            batch_op.add_column(sa.Column("id", sa.Integer(), nullable=True))
        op.execute("UPDATE segment_membership SET id = rowid")
    with op.batch_alter_table("segment_membership", schema=None) as batch_op:
        batch_op.alter_column("id", existing_type=sa.Integer(), nullable=False)
        batch_op.create_primary_key("pk_segment_membership", ["id"])
        batch_op.create_unique_constraint("uq_segment_membership_run_id", ["run_id", "profile_id"])
        batch_op.create_foreign_key(
            "fk_segment_membership_run_id_segment_run", "segment_run", ["run_id"], ["id"]
        )

    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_DROP_TRIGGERS)
    else:
        for statement in _SQLITE_DROP_TRIGGERS:
            op.execute(statement)
    op.drop_table("segment_event_state_info")
    with op.batch_alter_table("segment_event_change", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_segment_event_change_profile_id"))
    op.drop_table("segment_event_change")
    op.drop_table("segment_event_state")
