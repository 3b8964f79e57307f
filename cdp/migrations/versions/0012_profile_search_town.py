"""profile_search: an index on the lower-cased town, for lookups that name one ("jansen eindhoven")

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 06:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("CREATE INDEX ix_profile_search_town ON profile_search (lower(city))")


def downgrade() -> None:
    op.execute("DROP INDEX ix_profile_search_town")
