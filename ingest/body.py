"""Reading a collection request: the write key from HTTP Basic, and the body within its size limit,
gzip or deflate encoded as the tracking libraries send it."""

from __future__ import annotations

import zlib

from fastapi import Request

from cdp.rate_limits import basic_user as basic_user_of


def basic_user(request: Request) -> str | None:
    return basic_user_of(request.headers.get("authorization", ""))


class BadEncoding(ValueError):
    pass


async def read_body(request: Request, limit: int) -> bytes | None:
    """The body, or None as soon as it exceeds `limit` (a huge upload is not buffered).

    A gzip body (Segment's libraries can send one) is inflated as it arrives, and the limit
    applies to what it inflates to: a small bomb cannot fill the memory."""
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("identity", "gzip"):
        raise BadEncoding(f"Content-Encoding {encoding!r} is not supported (use gzip or none)")
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS) if encoding == "gzip" else None
    declared = request.headers.get("content-length")
    if inflater is None and declared and declared.isdigit() and int(declared) > limit:
        return None
    chunks = []
    size = 0
    async for chunk in request.stream():
        if inflater is not None:
            try:
                chunk = inflater.decompress(chunk, limit + 1 - size)
            except zlib.error as error:
                raise BadEncoding(f"the gzip body cannot be read: {error}") from None
            if inflater.unconsumed_tail:  # more output than the limit allows
                return None
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    if inflater is not None and not inflater.eof:
        raise BadEncoding("the gzip body ends before its end")
    return b"".join(chunks)
