"""Refuse NUL characters in query strings and request bodies of the staff pages and read API.

PostgreSQL stores a NUL neither in text nor in JSON, and psycopg refuses it as a parameter,
so a `%00` typed into a search or a form would otherwise end as a 500. No field of ours has
a use for it. The collection API checks its messages one by one instead (a batch keeps its
valid messages), and is answered before this middleware.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cdp.text import nul_character_at

_XML_TYPES = (b"application/xml", b"text/xml", b"application/x-adf+xml")
MAX_CHECKED_BODY = 1024 * 1024  # staff forms and API bodies are small; larger ones pass through


def _field_with_nul(pairs: list[tuple[str, str]]) -> str | None:
    for name, value in pairs:
        if "\x00" in name or "\x00" in value:
            return name.replace("\x00", "") or "?"
    return None


class NulGuard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query: bytes = scope.get("query_string", b"")
        if b"%00" in query:
            field = _field_with_nul(parse_qsl(query.decode("latin-1"), keep_blank_values=True))
            if field is not None:
                await _refuse(send, field)
                return
        if scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        # Read the body (small), check it, then hand it on as it came.
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            size += len(message.get("body", b""))
            if message["type"] != "http.request" or not message.get("more_body"):
                break
            if size > MAX_CHECKED_BODY:
                break
        body = b"".join(m.get("body", b"") for m in messages)
        if size <= MAX_CHECKED_BODY and (field := _body_field_with_nul(scope, body)):
            await _refuse(send, field)
            return

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)


def _body_field_with_nul(scope: Scope, body: bytes) -> str | None:
    if b"%00" not in body and b"\\u0000" not in body and b"\x00" not in body:
        return None
    content_type = b""
    for name, value in scope.get("headers", []):
        if name == b"content-type":
            content_type = value.split(b";")[0].strip().lower()
    if content_type == b"application/x-www-form-urlencoded":
        return _field_with_nul(parse_qsl(body.decode("latin-1"), keep_blank_values=True))
    if content_type == b"application/json":
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None  # the route says what is wrong with it
        return nul_character_at(data)
    if content_type in _XML_TYPES:
        return None  # XML holds no NUL character; a UTF-16 document's bytes do, legitimately
    return "body" if b"\x00" in body else None


async def _refuse(send: Send, field: str) -> None:
    body = orjson.dumps(
        {
            "error": "invalid input",
            "field": field[:200],
            "detail": "contains a NUL character (%00), which is not allowed",
        }
    )
    await send(
        {
            "type": "http.response.start",
            "status": 400,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
