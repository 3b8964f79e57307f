"""Running a segmentation run: in a background thread (the segments page's button), or in the
foreground with a progress callback (`cdp segments build`).

The thread gets the app's session factory (`request.app.state.sessionmaker`), never a request's
session: the request ends long before the run does. Progress is in the database
(`service.run_status`), so any worker process can answer a page that polls it.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy.orm import Session, sessionmaker

from cdp.db import session_scope
from segmentation import execution, service
from segmentation.execution import Progress
from segmentation.service import RunStatus

log = logging.getLogger(__name__)

_threads: dict[int, threading.Thread] = {}
_threads_lock = threading.Lock()


def start_run(
    factory: sessionmaker[Session],
    *,
    created_by: str,
    created_by_user_id: int | None = None,
    k: int | None = None,
    seed: int = 0,
) -> int:
    """Create a run (committed at once) and execute it in a background thread; its id.

    Raises InvalidInput or Conflict from `service.create_run` before any thread starts.
    """
    with session_scope(factory) as session:
        run = service.create_run(
            session,
            created_by=created_by,
            created_by_user_id=created_by_user_id,
            k=k,
            seed=seed,
        )
        run_id = run.id
    start_run_in_background(factory, run_id)
    return run_id


def start_run_in_background(factory: sessionmaker[Session], run_id: int) -> threading.Thread:
    """Execute an already committed, queued run in a daemon thread."""
    thread = threading.Thread(
        target=_execute_logged, args=(factory, run_id), name=f"segment-run-{run_id}", daemon=True
    )
    with _threads_lock:
        _threads[run_id] = thread
    thread.start()
    return thread


def _execute_logged(factory: sessionmaker[Session], run_id: int) -> None:
    try:
        execution.execute_run(factory, run_id)
    except Exception:
        # Recorded on the run (status failed, error) by execute_run; logged here for operators.
        log.exception("segmentation run %s failed", run_id)
    finally:
        with _threads_lock:
            _threads.pop(run_id, None)


def wait(run_id: int, timeout: float | None = None) -> bool:
    """Wait for a run started in this process; True when it is no longer running here."""
    with _threads_lock:
        thread = _threads.get(run_id)
    if thread is None:
        return True
    thread.join(timeout)
    return not thread.is_alive()


def run_now(
    factory: sessionmaker[Session],
    *,
    created_by: str,
    created_by_user_id: int | None = None,
    k: int | None = None,
    seed: int = 0,
    progress: Progress | None = None,
) -> RunStatus:
    """Create a run and execute it here, reporting progress (0..1, stage) to `progress`.

    Errors propagate (the run is marked failed first, when it got that far).
    """
    with session_scope(factory) as session:
        run = service.create_run(
            session,
            created_by=created_by,
            created_by_user_id=created_by_user_id,
            k=k,
            seed=seed,
        )
        run_id = run.id
    return execution.execute_run(factory, run_id, progress=progress)
