"""Times as the showroom sees them: stored in UTC, shown and typed in the showroom's zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

SHOWROOM_TZ = ZoneInfo("Europe/Amsterdam")


def to_local(moment: datetime) -> datetime:
    """A stored time in the showroom's time zone. Never fails a page: a time that cannot be
    moved into the zone (within an hour of the calendar's end, 9999-12-31) is shown in UTC."""
    try:
        return moment.astimezone(SHOWROOM_TZ)
    except OverflowError:
        return moment


def local_today(now: datetime) -> date:
    return to_local(now).date()


def local_start(day: date, at: time) -> datetime:
    """A wall-clock time in the showroom, as an aware UTC datetime (DST handled by zoneinfo)."""
    return datetime.combine(day, at, tzinfo=SHOWROOM_TZ).astimezone(UTC)


def format_age(delta: timedelta) -> str:
    """How long ago a lead came in, as people say it: '12 min', '3 h', '2 days'."""
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 3600:
        return f"{max(1, seconds // 60)} min"
    if seconds < 48 * 3600:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"
