"""The tables the migrations make are the tables the models describe, on SQLite and PostgreSQL:
a column added to a model without its migration (or the reverse) fails here, not in production."""

from __future__ import annotations

import warnings

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine

from cdp.models import Base

# Made in raw SQL by PostgreSQL-only migrations (trigram and expression indexes, the name-word
# dictionary), outside the models on purpose.
RAW_SQL_OBJECTS = {"name_word", "ix_name_word_trgm", "ix_profile_search_name_words",
                   "ix_profile_search_town"}  # fmt: skip


def _name(difference: object) -> str:
    if isinstance(difference, tuple) and len(difference) > 1:
        return str(getattr(difference[1], "name", ""))
    return ""


def test_the_migrated_schema_matches_the_models(engine: Engine) -> None:
    with engine.connect() as connection, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # expression indexes cannot be reflected: said above
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    unexplained = [d for d in differences if _name(d) not in RAW_SQL_OBJECTS]
    assert unexplained == []
