"""The funnel's tally: how many leads of each kind came in per day (or were first sold that day),
kept by a trigger on `lead` on PostgreSQL (cdp/leads/tally.py, migration 0035).

A ledger, not counters: every change of a lead adds rows of +1 and -1 (never an UPDATE of a
shared row, so leads written at once never wait for each other), and a periodic job settles each
day's rows into one per key. A network's period is then a few thousand rows of this table, not
every lead of it. SQLite (tests, the demo: small data) reads the leads and leaves it empty.
"""

from datetime import date

from sqlalchemy import BigInteger, Boolean, Date, Index, Integer, SmallInteger, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from cdp.models.base import Base

# Kinds of row, each a count of leads by day and channel and one more key, so that a day has a
# few rows of each kind (one kind keyed by all of them at once had a row for nearly every lead):
# "c" by stage and furthest step (the cohort's cells), "r" lost leads by reason, "a" valid leads
# a contact attempt reached by the attempts it took, "k" valid leads by their first contact (0
# none yet, 1 within 5 minutes, 2 within an hour, 3 later) and whether sold with a date; "v"
# valid leads and "s" valid leads by the day they were first sold (the monthly trend); "f" and
# "l" leads by their first- and last-touch campaign. Each kind in capitals: a month's rows (day
# the month's first), summed from its days when they are settled.
DAY_KINDS = ("c", "r", "a", "k", "v", "s", "f", "l")
TALLY_KINDS = (*DAY_KINDS, *(kind.upper() for kind in DAY_KINDS))


class FunnelTally(Base):
    __tablename__ = "funnel_tally"
    __table_args__ = (
        Index("ix_funnel_tally_kind_day", "kind", "day"),
        Index(
            "ix_funnel_tally_unsettled",
            "day",
            postgresql_where=text("NOT settled"),
            sqlite_where=text("NOT settled"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(1))
    day: Mapped[date] = mapped_column(Date)  # in the showroom's time zone
    channel: Mapped[str] = mapped_column(String(20))
    stage: Mapped[str | None] = mapped_column(String(20), default=None)  # "c"
    step: Mapped[int | None] = mapped_column(SmallInteger, default=None)  # "c", "a", "k"
    sold_dated: Mapped[bool | None] = mapped_column(Boolean, default=None)  # "k"
    label: Mapped[str | None] = mapped_column(Text, default=None)  # "r", "f", "l"
    n: Mapped[int] = mapped_column(Integer)
    settled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
