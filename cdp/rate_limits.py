"""Rate limits per write key and per API token: a token bucket per key, in this worker's memory.

Decided from the request's headers alone, before its body is read or the database is asked, so
a caller over its limit costs a dictionary look-up and a few float operations. Each worker
process keeps its own buckets: with N workers a key may send up to N times the rate (the limits
are meant to stop a runaway or hostile client, far above real traffic, not to meter it).

A small token bucket rather than the `limits` package: that one has fixed and moving windows
(no bucket with a burst), and its in-memory store keeps one timestamp per hit in a moving window
and expires keys from a timer thread.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import time
from collections.abc import Callable

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

# Most keys whose buckets are kept: every string sent as a key gets one (unknown keys too, as
# telling them apart needs the database), so a flood of made-up keys must not fill the memory.
# When full, the least recently used bucket goes; a forgotten bucket starts full again.
MAX_KEYS = 10_000


class RateLimiter:
    """`rate` requests per second per key, in bursts of up to `burst`; a rate of 0 is no limit."""

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        max_keys: int = MAX_KEYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.burst = max(burst, 1)
        self.max_keys = max_keys
        self.clock = clock
        # key -> (tokens left, when they were counted); insertion order is recency of use.
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, key: str) -> int | None:
        """Spends one request of `key`: None if allowed, else the seconds to wait (Retry-After)."""
        if self.rate <= 0:
            return None
        now = self.clock()
        tokens, then = self._buckets.pop(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - then) * self.rate)
        if tokens >= 1.0:
            tokens -= 1.0
            wait = None
        else:
            wait = max(1, math.ceil((1.0 - tokens) / self.rate))
        self._buckets[key] = (tokens, now)
        if len(self._buckets) > self.max_keys:
            del self._buckets[next(iter(self._buckets))]
        return wait


def basic_user(authorization: str) -> str | None:
    """The user name of an HTTP Basic `Authorization` header (a write key), or None."""
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    return decoded.partition(":")[0] or None


def bearer_key(authorization: str) -> str | None:
    """A bucket key for a Bearer token: a digest, so secrets are not kept in memory as keys."""
    scheme, _, value = authorization.partition(" ")
    secret = value.strip()
    if scheme.lower() != "bearer" or not secret:
        return None
    return hashlib.blake2b(secret.encode(), digest_size=16).hexdigest()


def header(scope_headers: list[tuple[bytes, bytes]], name: bytes) -> str:
    """One request header from an ASGI scope ('' when absent), without building a Headers."""
    for key, value in scope_headers:
        if key == name:
            return value.decode("latin-1")
    return ""


class ApiRateLimit:
    """Pure ASGI middleware: a request to /api/... over its token's limit is answered 429 with
    Retry-After, before its body is read (it sits outside the NUL guard, which reads bodies).
    Requests without a Bearer token pass: they are answered 401 further in."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/api/"):
            key = bearer_key(header(scope["headers"], b"authorization"))
            wait = self.limiter.take(key) if key is not None else None
            if wait is not None:
                await too_many(send, wait, self.limiter.rate, "API token", "Authorization")
                return
        await self.app(scope, receive, send)


def refusal_detail(wait: int, rate: float, what: str) -> str:
    return f"more than {rate:g} requests per second for this {what}; retry in {wait} s"


async def too_many(send: Send, wait: int, rate: float, what: str, field: str) -> None:
    """The 429 of the read API, in its error shape (`error`, `field`, `detail`)."""
    body = orjson.dumps(
        {"error": "rate limited", "field": field, "detail": refusal_detail(wait, rate, what)}
    )
    await send(
        {
            "type": "http.response.start",
            "status": 429,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", str(wait).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
