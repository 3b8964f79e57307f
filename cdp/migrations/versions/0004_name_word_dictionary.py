"""name search by words: the name_word dictionary and a GIN index on the words of each name
(PostgreSQL); stored folded text refolded for the letters fold() now spells in ASCII

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 09:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# cdp.text.FOLDED_LETTERS as of this revision. fold() replaces them after removing accents, so
# the new folded form of any value is its old folded form with just these letters replaced.
_LETTERS = (
    ("\u0131", "i"),  # dotless i
    ("ø", "o"),
    ("ł", "l"),
    ("đ", "d"),
    ("ð", "d"),
    ("þ", "th"),
    ("ß", "ss"),
    ("æ", "ae"),
    ("œ", "oe"),
    ("ħ", "h"),
    ("ŧ", "t"),
)
# The words of a folded name, as cdp.profiles.lookup and cdp.profiles.projection spell it: the
# index below is only used by queries written with exactly this expression.
_WORDS = r"regexp_split_to_array(name_folded, '[\s,-]+')"


def _refolded(column: str) -> str:
    expression = column
    for letter, plain in _LETTERS:
        expression = f"replace({expression}, '{letter}', '{plain}')"
    return f"substr({expression}, 1, 200)"  # both columns are String(200); "ß" -> "ss" grows


def upgrade() -> None:
    # Both databases: stored folded text as fold() now makes it ("straße" -> "strasse").
    for table, column in (("profile_search", "name_folded"), ("profile_trait", "search_text")):
        refolded = _refolded(column)
        op.execute(f"UPDATE {table} SET {column} = {refolded} WHERE {column} <> {refolded}")

    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite (demo scale) scores every name in Python: nothing to add
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    # Every distinct word of the names in profile_search, kept by refresh_search: what a typed
    # word is corrected against (trigram GIN for similar words and prefixes). Both GIN indexes
    # without fastupdate: a pending list of new entries is read through by every search that
    # uses the index (up to 4 MB of it, until a vacuum), which would make searches slow while
    # ingest writes. Written to directly instead, at a small cost per new name.
    op.execute(
        "CREATE TABLE name_word (word text NOT NULL, CONSTRAINT pk_name_word PRIMARY KEY (word))"
    )
    op.execute(
        "CREATE INDEX ix_name_word_trgm ON name_word USING gin (word gin_trgm_ops) "
        "WITH (fastupdate = off)"
    )
    # The names holding given words.
    op.execute(
        f"CREATE INDEX ix_profile_search_name_words ON profile_search USING gin ({_WORDS}) "
        "WITH (fastupdate = off)"
    )
    op.execute(
        "INSERT INTO name_word (word) SELECT DISTINCT w "
        f"FROM profile_search, unnest({_WORDS}) AS w WHERE w <> ''"
    )
    # Name search no longer uses trigrams of whole names; the index only cost writes.
    op.execute("DROP INDEX IF EXISTS ix_profile_search_name_trgm")


def downgrade() -> None:
    # The refolded text stays: the fold it came from is not recoverable, and harmless to keep.
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "CREATE INDEX ix_profile_search_name_trgm ON profile_search "
        "USING gin (name_folded gin_trgm_ops)"
    )
    op.execute("DROP INDEX ix_profile_search_name_words")
    op.execute("DROP TABLE name_word")
