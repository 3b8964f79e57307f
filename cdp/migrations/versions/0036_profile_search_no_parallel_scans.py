"""profile_search_no_parallel_scans: lookups read profile_search without parallel workers

A search for one frequent first name alone ("daan") reads the first customers holding it in
table order and stops (cdp/profiles/lookup/frequent_words.py): a hundred rows from a couple of
thousand, well under a millisecond. PostgreSQL would hand that read to parallel workers, whose
start alone took 8 ms, and whose rows come back in no set order, so the same search would show
other customers each time. Every other read of this table is an index probe for a few rows.

Revision ID: 0036
Revises: 0035
Create Date: 2026-12-07 18:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0036"
down_revision: str | None = "0035"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE profile_search SET (parallel_workers = 0)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE profile_search RESET (parallel_workers)")
