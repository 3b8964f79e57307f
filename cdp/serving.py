"""Several worker processes behind one port, with connections spread evenly between them.

uvicorn's own `--workers` lets every worker accept from one shared socket. Tracking relays and
load balancers keep few connections open for long, and whichever worker wakes first takes
them in a burst: measured, 30 of 32 connections landed on one of two workers, which left the
other idle. Here each worker listens on a socket of its own with SO_REUSEPORT, and the kernel
spreads new connections over the sockets.
"""

from __future__ import annotations

import ctypes
import gc
import multiprocessing
import os
import signal
import socket
import sys
from multiprocessing.connection import wait as wait_for_any
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any

APP = "cdp.asgi:app"

# Young objects allocated before the cyclic garbage collector runs (CPython's default is 700).
# Ingest holds tens of thousands of objects per flush; with the default, they were scanned
# again and again and promoted to the oldest generation, whose collections then re-scanned the
# whole heap: about a quarter of a worker's CPU.
GC_YOUNG_THRESHOLD = 50_000


# uvicorn believes X-Forwarded-For from 127.0.0.1 unless told otherwise: anything on this
# machine, or a local proxy passing on what a client wrote, could then pick the address that
# sign-in limits count. The app believes only CDP_TRUSTED_PROXIES (cdp/app.py).
UVICORN_OPTIONS: dict[str, Any] = {
    "log_level": "warning",
    "access_log": False,
    "proxy_headers": False,
    # A stopping worker waits this long for open requests, then ends the rest: the alert
    # streams (cdp/alerts/delivery.py) never end by themselves, and their browsers reconnect.
    "timeout_graceful_shutdown": 5,
}


def tune_garbage_collector() -> None:
    """For a server process, once its app is built: the objects alive now (modules, the app)
    live as long as the process, so the collector stops scanning them (`gc.freeze`), and it
    runs less often. Reference counting still frees almost everything at once; this only
    concerns reference cycles, which are rare on the request path."""
    gc.collect()
    gc.freeze()
    _young, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)


def can_spread() -> bool:
    return hasattr(socket, "SO_REUSEPORT") and sys.platform.startswith("linux")


def listening_socket(host: str, port: int) -> socket.socket:
    family, kind, proto, _name, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(address)
    sock.set_inheritable(True)
    return sock


_PR_SET_PDEATHSIG = 1  # prctl(2) option: the signal this process gets when its parent dies


def _end_with_parent(parent: int) -> None:
    """A worker must not outlive its supervisor (killed with SIGKILL, or its terminal gone):
    left behind, it keeps the port and serves on. Linux sends it SIGTERM, uvicorn's graceful
    stop, when the supervisor dies; if it died already, the worker ends now."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: supervisors are stopped with a signal
        return
    if os.getppid() != parent:
        sys.exit(0)


def _worker(host: str, port: int, parent: int) -> None:
    import uvicorn

    # A process group of its own: Ctrl-C in a terminal reaches the supervisor only, which
    # then stops each worker once, gracefully (a second signal would make uvicorn hurry).
    os.setpgrp()
    _end_with_parent(parent)

    sock = listening_socket(host, port)
    config = uvicorn.Config(APP, **UVICORN_OPTIONS)
    uvicorn.Server(config).run(sockets=[sock])


def serve_spread(host: str, port: int, workers: int) -> int:
    """Run `workers` processes until SIGINT/SIGTERM (stopped gracefully) or until one of them
    ends by itself (the others are then stopped too, and the exit code says so)."""
    context = multiprocessing.get_context("spawn")
    processes: list[BaseProcess] = [
        context.Process(target=_worker, args=(host, port, os.getpid()), name=f"cdp-worker-{n}")
        for n in range(workers)
    ]
    stopping = False

    def stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for process in processes:
            if process.is_alive() and process.pid is not None:
                process.terminate()  # SIGTERM: uvicorn finishes open requests first

    # SIGHUP: the terminal went away, which reaches only this group (see _worker).
    previous = {
        sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    }
    try:
        for process in processes:
            process.start()
        wait_for_any([p.sentinel for p in processes])
        if not stopping:  # a worker died by itself: do not serve with fewer silently
            stop(signal.SIGTERM, None)
        for process in processes:
            process.join()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0 if stopping else 1
