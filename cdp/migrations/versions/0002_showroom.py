"""showroom: staff accounts and sessions, leads, appointments, notes, tablet sessions, deliveries,
and the profile search projection (with a trigram index on PostgreSQL)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 05:31:35.014091
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import cdp.models.base

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "login_attempt",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("succeeded", sa.Boolean(), nullable=False),
        sa.Column("attempted_at", cdp.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_attempt")),
    )
    with op.batch_alter_table("login_attempt", schema=None) as batch_op:
        batch_op.create_index("ix_login_attempt_email_at", ["email", "attempted_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_login_attempt_ip"), ["ip"], unique=False)

    op.create_table(
        "staff_user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", cdp.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("last_login_at", cdp.models.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("invite_token_hash", sa.String(length=64), nullable=True),
        sa.Column("invite_expires_at", cdp.models.base.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_user")),
        sa.UniqueConstraint("email", name=op.f("uq_staff_user_email")),
        sa.UniqueConstraint("invite_token_hash", name=op.f("uq_staff_user_invite_token_hash")),
    )
    op.create_table(
        "profile_search",
        sa.Column("profile_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("name_folded", sa.String(length=200), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("postal_code", sa.String(length=20), nullable=True),
        sa.Column("city", sa.String(length=100), nullable=True),
        sa.Column("latest_model", sa.String(length=200), nullable=True),
        sa.Column("latest_colour", sa.String(length=200), nullable=True),
        sa.Column("latest_colour_hex", sa.String(length=7), nullable=True),
        sa.Column("lead_stage", sa.String(length=20), nullable=True),
        sa.ForeignKeyConstraint(
            ["profile_id"], ["profile.id"], name=op.f("fk_profile_search_profile_id_profile")
        ),
        sa.PrimaryKeyConstraint("profile_id", name=op.f("pk_profile_search")),
    )
    with op.batch_alter_table("profile_search", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_profile_search_email"), ["email"], unique=False)
        batch_op.create_index(batch_op.f("ix_profile_search_phone"), ["phone"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_profile_search_postal_code"), ["postal_code"], unique=False
        )

    op.create_table(
        "profile_view",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("profile_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("api_token_id", sa.Integer(), nullable=True),
        sa.Column("viewed_at", cdp.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("via", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(
            ["api_token_id"], ["api_token.id"], name=op.f("fk_profile_view_api_token_id_api_token")
        ),
        sa.ForeignKeyConstraint(
            ["profile_id"], ["profile.id"], name=op.f("fk_profile_view_profile_id_profile")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["staff_user.id"], name=op.f("fk_profile_view_user_id_staff_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_profile_view")),
    )
    with op.batch_alter_table("profile_view", schema=None) as batch_op:
        batch_op.create_index(
            "ix_profile_view_profile_at", ["profile_id", "viewed_at"], unique=False
        )

    op.create_table(
        "staff_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", cdp.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", cdp.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", cdp.models.base.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["staff_user.id"], name=op.f("fk_staff_session_user_id_staff_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_session")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_staff_session_token_hash")),
    )
    with op.batch_alter_table("staff_session", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_staff_session_user_id"), ["user_id"], unique=False)

    op.create_table(
        "tablet_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("profile_id", sa.Uuid(), nullable=True),
        sa.Column("anonymous_id", sa.String(length=64), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=True),
        sa.Column(
            "selection",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("started_at", cdp.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", cdp.models.base.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["profile_id"], ["profile.id"], name=op.f("fk_tablet_session_profile_id_profile")
        ),
        sa.ForeignKeyConstraint(
            ["source_id"], ["source.id"], name=op.f("fk_tablet_session_source_id_source")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["staff_user.id"], name=op.f("fk_tablet_session_user_id_staff_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tablet_session")),
        sa.UniqueConstraint("anonymous_id", name=op.f("uq_tablet_session_anonymous_id")),
    )
    with op.batch_alter_table("tablet_session", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_tablet_session_profile_id"), ["profile_id"], unique=False
        )

    op.create_table(
        "lead",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("profile_id", sa.Uuid(), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("stage", sa.String(length=20), nullable=False),
        sa.Column("lost_reason", sa.String(length=40), nullable=True),
        sa.Column("lost_detail", sa.Text(), nullable=True),
        sa.Column("model", sa.String(length=200), nullable=True),
        sa.Column("assigned_user_id", sa.Integer(), nullable=True),
        sa.Column("next_action", sa.String(length=200), nullable=True),
        sa.Column("next_action_at", cdp.models.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column(
            "source_event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("created_at", cdp.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", cdp.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["assigned_user_id"],
            ["staff_user.id"],
            name=op.f("fk_lead_assigned_user_id_staff_user"),
        ),
        sa.ForeignKeyConstraint(
            ["profile_id"], ["profile.id"], name=op.f("fk_lead_profile_id_profile")
        ),
        sa.ForeignKeyConstraint(
            ["source_event_id"], ["event.id"], name=op.f("fk_lead_source_event_id_event")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lead")),
    )
    with op.batch_alter_table("lead", schema=None) as batch_op:
        batch_op.create_index("ix_lead_assigned_stage", ["assigned_user_id", "stage"], unique=False)
        batch_op.create_index(batch_op.f("ix_lead_profile_id"), ["profile_id"], unique=False)

    op.create_table(
        "note",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("profile_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("tablet_session_id", sa.Integer(), nullable=True),
        sa.Column("interest_level", sa.String(length=20), nullable=True),
        sa.Column("budget_band", sa.String(length=40), nullable=True),
        sa.Column("timeframe", sa.String(length=40), nullable=True),
        sa.Column("trade_in_make", sa.String(length=100), nullable=True),
        sa.Column("trade_in_model", sa.String(length=100), nullable=True),
        sa.Column("trade_in_year", sa.Integer(), nullable=True),
        sa.Column("trade_in_km", sa.Integer(), nullable=True),
        sa.Column("financing_interest", sa.Boolean(), nullable=True),
        sa.Column("competitor", sa.String(length=200), nullable=True),
        sa.Column("model_direction", sa.String(length=20), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("created_at", cdp.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["profile_id"], ["profile.id"], name=op.f("fk_note_profile_id_profile")
        ),
        sa.ForeignKeyConstraint(
            ["tablet_session_id"],
            ["tablet_session.id"],
            name=op.f("fk_note_tablet_session_id_tablet_session"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["staff_user.id"], name=op.f("fk_note_user_id_staff_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_note")),
    )
    with op.batch_alter_table("note", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_note_profile_id"), ["profile_id"], unique=False)

    op.create_table(
        "appointment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("profile_id", sa.Uuid(), nullable=False),
        sa.Column("lead_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("starts_at", cdp.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column(
            "source_event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("created_by_user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", cdp.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_user_id"],
            ["staff_user.id"],
            name=op.f("fk_appointment_created_by_user_id_staff_user"),
        ),
        sa.ForeignKeyConstraint(["lead_id"], ["lead.id"], name=op.f("fk_appointment_lead_id_lead")),
        sa.ForeignKeyConstraint(
            ["profile_id"], ["profile.id"], name=op.f("fk_appointment_profile_id_profile")
        ),
        sa.ForeignKeyConstraint(
            ["source_event_id"], ["event.id"], name=op.f("fk_appointment_source_event_id_event")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["staff_user.id"], name=op.f("fk_appointment_user_id_staff_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appointment")),
        sa.UniqueConstraint("source_event_id", name=op.f("uq_appointment_source_event_id")),
    )
    with op.batch_alter_table("appointment", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_appointment_profile_id"), ["profile_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_appointment_starts_at"), ["starts_at"], unique=False)

    op.create_table(
        "contact_attempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lead_id", sa.Integer(), nullable=False),
        sa.Column("profile_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("method", sa.String(length=20), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("attempted_at", cdp.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["lead_id"], ["lead.id"], name=op.f("fk_contact_attempt_lead_id_lead")
        ),
        sa.ForeignKeyConstraint(
            ["profile_id"], ["profile.id"], name=op.f("fk_contact_attempt_profile_id_profile")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["staff_user.id"], name=op.f("fk_contact_attempt_user_id_staff_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_attempt")),
    )
    with op.batch_alter_table("contact_attempt", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_contact_attempt_lead_id"), ["lead_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_contact_attempt_profile_id"), ["profile_id"], unique=False
        )

    op.create_table(
        "delivery",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("profile_id", sa.Uuid(), nullable=False),
        sa.Column("lead_id", sa.Integer(), nullable=True),
        sa.Column("specialist_user_id", sa.Integer(), nullable=True),
        sa.Column("delivery_date", sa.Date(), nullable=True),
        sa.Column("car", sa.String(length=300), nullable=True),
        sa.Column("configuration_code", sa.String(length=100), nullable=True),
        sa.Column("price", sa.Numeric(precision=12, scale=2), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", cdp.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", cdp.models.base.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["lead_id"], ["lead.id"], name=op.f("fk_delivery_lead_id_lead")),
        sa.ForeignKeyConstraint(
            ["profile_id"], ["profile.id"], name=op.f("fk_delivery_profile_id_profile")
        ),
        sa.ForeignKeyConstraint(
            ["specialist_user_id"],
            ["staff_user.id"],
            name=op.f("fk_delivery_specialist_user_id_staff_user"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery")),
    )
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_delivery_profile_id"), ["profile_id"], unique=False)

    op.create_table(
        "lead_stage_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lead_id", sa.Integer(), nullable=False),
        sa.Column("from_stage", sa.String(length=20), nullable=True),
        sa.Column("to_stage", sa.String(length=20), nullable=False),
        sa.Column("lost_reason", sa.String(length=40), nullable=True),
        sa.Column("changed_by_user_id", sa.Integer(), nullable=True),
        sa.Column("changed_at", cdp.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["changed_by_user_id"],
            ["staff_user.id"],
            name=op.f("fk_lead_stage_change_changed_by_user_id_staff_user"),
        ),
        sa.ForeignKeyConstraint(
            ["lead_id"], ["lead.id"], name=op.f("fk_lead_stage_change_lead_id_lead")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lead_stage_change")),
    )
    with op.batch_alter_table("lead_stage_change", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_lead_stage_change_lead_id"), ["lead_id"], unique=False)

    if op.get_bind().dialect.name == "postgresql":
        # Typo-tolerant name lookup at a million profiles: a trigram GIN index.
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute(
            "CREATE INDEX ix_profile_search_name_trgm ON profile_search "
            "USING gin (name_folded gin_trgm_ops)"
        )


def downgrade() -> None:
    with op.batch_alter_table("lead_stage_change", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lead_stage_change_lead_id"))

    op.drop_table("lead_stage_change")
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_delivery_profile_id"))

    op.drop_table("delivery")
    with op.batch_alter_table("contact_attempt", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contact_attempt_profile_id"))
        batch_op.drop_index(batch_op.f("ix_contact_attempt_lead_id"))

    op.drop_table("contact_attempt")
    with op.batch_alter_table("appointment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_appointment_starts_at"))
        batch_op.drop_index(batch_op.f("ix_appointment_profile_id"))

    op.drop_table("appointment")
    with op.batch_alter_table("note", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_note_profile_id"))

    op.drop_table("note")
    with op.batch_alter_table("lead", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lead_profile_id"))
        batch_op.drop_index("ix_lead_assigned_stage")

    op.drop_table("lead")
    with op.batch_alter_table("tablet_session", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tablet_session_profile_id"))

    op.drop_table("tablet_session")
    with op.batch_alter_table("staff_session", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_staff_session_user_id"))

    op.drop_table("staff_session")
    with op.batch_alter_table("profile_view", schema=None) as batch_op:
        batch_op.drop_index("ix_profile_view_profile_at")

    op.drop_table("profile_view")
    with op.batch_alter_table("profile_search", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_profile_search_postal_code"))
        batch_op.drop_index(batch_op.f("ix_profile_search_phone"))
        batch_op.drop_index(batch_op.f("ix_profile_search_email"))

    op.drop_table("profile_search")
    op.drop_table("staff_user")
    with op.batch_alter_table("login_attempt", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_login_attempt_ip"))
        batch_op.drop_index("ix_login_attempt_email_at")

    op.drop_table("login_attempt")
