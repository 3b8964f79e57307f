"""consent.address: the e-mail address or phone number a consent statement was made for

E-mail consent is given for one address: a profile that later holds a second address (a shared
home computer, before identity limits split such profiles) must not be e-mailed there under the
first person's consent. Existing statements are bound where that is unambiguous:
1. the address or number the statement's own message carried (its traits or context.traits), if
   the profile holds it;
2. else, for grants only, the profile's one e-mail address (or phone number) known when the
   statement was recorded, if it had exactly one then.
The rest stay unbound: a grant without an address lets no address be e-mailed, a withdrawal
without one covers every address of the profile (docs/export.md).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-08 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json_text(column: str, path: str, dialect: str) -> str:
    """The text at `path` ("traits.email") of a JSON column, in the dialect's SQL."""
    if dialect == "postgresql":
        return f"(CAST({column} AS json) #>> '{{{path.replace('.', ',')}}}')"
    return f"json_extract({column}, '$.{path}')"


def upgrade() -> None:
    with op.batch_alter_table("consent", schema=None) as batch_op:
        batch_op.add_column(sa.Column("address", sa.String(length=400), nullable=True))
    dialect = op.get_bind().dialect.name
    for kind in ("email", "phone"):
        # What the statement's own message carried, as ingest read it (phone numbers only
        # when sent in E.164 already: the migration cannot parse them).
        own = [
            f"LOWER(TRIM({_json_text('e.traits', kind, dialect)}))",
            f"LOWER(TRIM({_json_text('e.context', 'traits.' + kind, dialect)}))",
        ]
        op.execute(
            f"""UPDATE consent SET address = (
                SELECT MIN(i.value) FROM event e JOIN identity i
                  ON i.profile_id = consent.profile_id AND i.kind = '{kind}'
                 AND i.value IN ({own[0]}, {own[1]})
                WHERE e.source_id = consent.source_id AND e.message_id = consent.message_id)
            WHERE purpose = '{kind}' AND address IS NULL"""
        )
        known_then = f"""FROM identity i WHERE i.profile_id = consent.profile_id
            AND i.kind = '{kind}' AND i.first_seen_at <= consent.recorded_at"""
        op.execute(
            f"""UPDATE consent SET address = (SELECT MIN(i.value) {known_then})
            WHERE purpose = '{kind}' AND status = 'granted' AND address IS NULL
              AND (SELECT COUNT(*) {known_then}) = 1"""
        )


def downgrade() -> None:
    with op.batch_alter_table("consent", schema=None) as batch_op:
        batch_op.drop_column("address")
