"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-23 05:20:18.775383
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import cdp.models.base

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", cdp.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_token")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_token_token_hash")),
    )
    op.create_table(
        "profile",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", cdp.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("first_seen_at", cdp.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", cdp.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("merged_into_id", sa.Uuid(), nullable=True),
        sa.Column("merged_at", cdp.models.base.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["merged_into_id"], ["profile.id"], name=op.f("fk_profile_merged_into_id_profile")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_profile")),
    )
    with op.batch_alter_table("profile", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_profile_merged_into_id"), ["merged_into_id"], unique=False
        )

    op.create_table(
        "source",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("write_key_hash", sa.String(length=64), nullable=False),
        sa.Column(
            "origins",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", cdp.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_source")),
        sa.UniqueConstraint("name", name=op.f("uq_source_name")),
        sa.UniqueConstraint("write_key_hash", name=op.f("uq_source_write_key_hash")),
    )
    op.create_table(
        "consent",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("profile_id", sa.Uuid(), nullable=False),
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("stated_at", cdp.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("wording", sa.Text(), nullable=True),
        sa.Column("source_id", sa.Integer(), nullable=True),
        sa.Column("message_id", sa.String(length=200), nullable=True),
        sa.Column("recorded_at", cdp.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["profile_id"], ["profile.id"], name=op.f("fk_consent_profile_id_profile")
        ),
        sa.ForeignKeyConstraint(
            ["source_id"], ["source.id"], name=op.f("fk_consent_source_id_source")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent")),
    )
    with op.batch_alter_table("consent", schema=None) as batch_op:
        batch_op.create_index(
            "ix_consent_profile_purpose", ["profile_id", "purpose", "stated_at"], unique=False
        )

    op.create_table(
        "event",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(length=200), nullable=False),
        sa.Column("type", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("profile_id", sa.Uuid(), nullable=False),
        sa.Column("anonymous_id", sa.String(length=400), nullable=True),
        sa.Column("user_id", sa.String(length=400), nullable=True),
        sa.Column("occurred_at", cdp.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("received_at", cdp.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column(
            "properties",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "traits",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "context",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["profile_id"], ["profile.id"], name=op.f("fk_event_profile_id_profile")
        ),
        sa.ForeignKeyConstraint(
            ["source_id"], ["source.id"], name=op.f("fk_event_source_id_source")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event")),
        sa.UniqueConstraint("source_id", "message_id", name=op.f("uq_event_source_id")),
    )
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.create_index(
            "ix_event_profile_occurred", ["profile_id", "occurred_at"], unique=False
        )

    op.create_table(
        "identity",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("value", sa.String(length=400), nullable=False),
        sa.Column("profile_id", sa.Uuid(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=True),
        sa.Column("first_seen_at", cdp.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["profile_id"], ["profile.id"], name=op.f("fk_identity_profile_id_profile")
        ),
        sa.ForeignKeyConstraint(
            ["source_id"], ["source.id"], name=op.f("fk_identity_source_id_source")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity")),
        sa.UniqueConstraint("value", "kind", name=op.f("uq_identity_value")),
    )
    with op.batch_alter_table("identity", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_identity_profile_id"), ["profile_id"], unique=False)

    op.create_table(
        "identity_warning",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("profile_id", sa.Uuid(), nullable=True),
        sa.Column("other_profile_id", sa.Uuid(), nullable=True),
        sa.Column("source_id", sa.Integer(), nullable=True),
        sa.Column("message_id", sa.String(length=200), nullable=True),
        sa.Column("created_at", cdp.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["other_profile_id"],
            ["profile.id"],
            name=op.f("fk_identity_warning_other_profile_id_profile"),
        ),
        sa.ForeignKeyConstraint(
            ["profile_id"], ["profile.id"], name=op.f("fk_identity_warning_profile_id_profile")
        ),
        sa.ForeignKeyConstraint(
            ["source_id"], ["source.id"], name=op.f("fk_identity_warning_source_id_source")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_warning")),
    )
    with op.batch_alter_table("identity_warning", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_identity_warning_kind"), ["kind"], unique=False)

    op.create_table(
        "profile_merge",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("survivor_id", sa.Uuid(), nullable=False),
        sa.Column("absorbed_id", sa.Uuid(), nullable=False),
        sa.Column("merged_at", cdp.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=True),
        sa.Column("message_id", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["absorbed_id"], ["profile.id"], name=op.f("fk_profile_merge_absorbed_id_profile")
        ),
        sa.ForeignKeyConstraint(
            ["source_id"], ["source.id"], name=op.f("fk_profile_merge_source_id_source")
        ),
        sa.ForeignKeyConstraint(
            ["survivor_id"], ["profile.id"], name=op.f("fk_profile_merge_survivor_id_profile")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_profile_merge")),
    )
    with op.batch_alter_table("profile_merge", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_profile_merge_absorbed_id"), ["absorbed_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_profile_merge_survivor_id"), ["survivor_id"], unique=False
        )

    op.create_table(
        "profile_trait",
        sa.Column("profile_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column(
            "value",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("value_at", cdp.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column(
            "first_value",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("first_at", cdp.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("search_text", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["profile_id"], ["profile.id"], name=op.f("fk_profile_trait_profile_id_profile")
        ),
        sa.PrimaryKeyConstraint("profile_id", "name", name=op.f("pk_profile_trait")),
    )
    with op.batch_alter_table("profile_trait", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_profile_trait_search_text"), ["search_text"], unique=False
        )

    op.create_table(
        "quarantined_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=True),
        sa.Column("received_at", cdp.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("endpoint", sa.String(length=40), nullable=False),
        sa.Column("batch_index", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["source_id"], ["source.id"], name=op.f("fk_quarantined_message_source_id_source")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quarantined_message")),
    )
    with op.batch_alter_table("quarantined_message", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_quarantined_message_received_at"), ["received_at"], unique=False
        )

    op.create_table(
        "configuration",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("profile_id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("code", sa.String(length=100), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("saved_at", cdp.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=True),
        sa.Column("trim", sa.String(length=200), nullable=True),
        sa.Column("engine", sa.String(length=200), nullable=True),
        sa.Column("colour", sa.String(length=200), nullable=True),
        sa.Column("colour_hex", sa.String(length=7), nullable=True),
        sa.Column("wheels", sa.String(length=200), nullable=True),
        sa.Column("interior", sa.String(length=200), nullable=True),
        sa.Column(
            "options",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("total_price", sa.Numeric(precision=12, scale=2), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("recorded_at", cdp.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"], ["event.id"], name=op.f("fk_configuration_event_id_event")
        ),
        sa.ForeignKeyConstraint(
            ["profile_id"], ["profile.id"], name=op.f("fk_configuration_profile_id_profile")
        ),
        sa.ForeignKeyConstraint(
            ["source_id"], ["source.id"], name=op.f("fk_configuration_source_id_source")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_configuration")),
        sa.UniqueConstraint("event_id", name=op.f("uq_configuration_event_id")),
    )
    with op.batch_alter_table("configuration", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_configuration_code"), ["code"], unique=False)
        batch_op.create_index(
            "ix_configuration_profile_saved", ["profile_id", "saved_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("configuration", schema=None) as batch_op:
        batch_op.drop_index("ix_configuration_profile_saved")
        batch_op.drop_index(batch_op.f("ix_configuration_code"))

    op.drop_table("configuration")
    with op.batch_alter_table("quarantined_message", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_quarantined_message_received_at"))

    op.drop_table("quarantined_message")
    with op.batch_alter_table("profile_trait", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_profile_trait_search_text"))

    op.drop_table("profile_trait")
    with op.batch_alter_table("profile_merge", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_profile_merge_survivor_id"))
        batch_op.drop_index(batch_op.f("ix_profile_merge_absorbed_id"))

    op.drop_table("profile_merge")
    with op.batch_alter_table("identity_warning", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_identity_warning_kind"))

    op.drop_table("identity_warning")
    with op.batch_alter_table("identity", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_identity_profile_id"))

    op.drop_table("identity")
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.drop_index("ix_event_profile_occurred")

    op.drop_table("event")
    with op.batch_alter_table("consent", schema=None) as batch_op:
        batch_op.drop_index("ix_consent_profile_purpose")

    op.drop_table("consent")
    op.drop_table("source")
    with op.batch_alter_table("profile", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_profile_merged_into_id"))

    op.drop_table("profile")
    op.drop_table("api_token")
