"""Name words held by a large share of the customers ("daan", "de", "jansen"), from PostgreSQL's
own statistics of the name-word index, so a search for one of them alone can read the first
customers holding it in table order and stop (`names_postgres`), instead of having the index
gather all of them first (47,704 for "daan" at 1,000,000 customers: 5 to 6 ms, most of the
search).

ANALYZE keeps the most common elements of the index's word arrays with their share of rows
(`pg_stats.most_common_elems`, up to a thousand); a server reads them once every few minutes.
Stale figures only choose the slower of two plans that find the same customers.
"""

from __future__ import annotations

import threading
import time

from sqlalchemy import text
from sqlalchemy.orm import Session

# A word this common among this many customers is found by a read in table order: the first
# 100 holders are then within the first few thousand rows (daan: 5% of 1,000,000, about 2,000).
MIN_SHARE = 0.02
MIN_HOLDERS = 2_000
REFRESH_SECONDS = 600.0

# The index's first column holds the words; its second the customers' towns (migration 0039),
# whose most common elements ("amsterdam") are no name words.
_COMMON = text(
    "SELECT x.word FROM pg_stats AS s CROSS JOIN LATERAL "
    "unnest(CAST(CAST(s.most_common_elems AS text) AS text[]), s.most_common_elem_freqs) "
    "AS x(word, share) "
    "WHERE s.schemaname = current_schema() AND s.tablename = 'ix_profile_search_name_words' "
    "AND s.attname = (SELECT attname FROM pg_attribute "
    "WHERE attrelid = to_regclass('ix_profile_search_name_words') AND attnum = 1) "
    "AND x.word IS NOT NULL AND x.share >= :share "
    "AND x.share * (SELECT greatest(reltuples, 0) FROM pg_class "
    "WHERE oid = to_regclass('profile_search')) >= :holders"
)


class _Known:
    def __init__(self) -> None:
        self.words: frozenset[str] = frozenset()
        self.read_at = -REFRESH_SECONDS
        self.lock = threading.Lock()


_known = _Known()


def frequent_words(session: Session) -> frozenset[str]:
    """The name words at least MIN_SHARE of at least MIN_HOLDERS customers hold (PostgreSQL;
    read again every REFRESH_SECONDS by one thread while the others use the last set)."""
    now = time.monotonic()
    if now - _known.read_at < REFRESH_SECONDS or not _known.lock.acquire(blocking=False):
        return _known.words
    try:
        rows = session.connection().execute(_COMMON, {"share": MIN_SHARE, "holders": MIN_HOLDERS})
        _known.words = frozenset(str(word) for (word,) in rows)
        _known.read_at = now
    finally:
        _known.lock.release()
    return _known.words


def forget() -> None:
    """Read the statistics again at the next search (after an ANALYZE that matters)."""
    _known.read_at = -REFRESH_SECONDS
