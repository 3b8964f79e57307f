"""The lead choices every staff page shows, with the importer's names for channels and only the
channels lead forms still offer (cdp/leads/norms.py stores both).

Every page needs them and they change a few times a year, so each app (one per server worker)
keeps them for a few seconds: the worker that saves a change forgets its copy at once, every
other worker reads the names again within REFRESH_SECONDS (one query of at most a dozen rows).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from sqlalchemy.orm import Session

from cdp.leads.labels import OPTIONS, Options
from cdp.leads.norms import channels

REFRESH_SECONDS = 5.0


def load_options(session: Session) -> Options:
    found = channels(session)
    return OPTIONS.with_channels(
        {channel.key: channel.label for channel in found},
        [channel.key for channel in found if channel.offered],
    )


class ChannelOptionsCache:
    """One app's copy of the lead choices, read again once older than `refresh_seconds`."""

    def __init__(
        self,
        refresh_seconds: float = REFRESH_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.refresh_seconds = refresh_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._kept: tuple[float, Options] | None = None

    def get(self, session: Session) -> Options:
        """The current choices, read through `session` (the request's own) when stale."""
        now = self._clock()
        with self._lock:
            kept = self._kept
        if kept is not None and now - kept[0] < self.refresh_seconds:
            return kept[1]
        options = load_options(session)
        with self._lock:
            self._kept = (now, options)
        return options

    def forget(self) -> None:
        """After a change in this worker: the next page reads the names again."""
        with self._lock:
            self._kept = None
