"""Refuse NUL characters in query strings and request bodies of the staff pages and read API.

PostgreSQL stores a NUL neither in text nor in JSON, and psycopg refuses it as a parameter,
so a `%00` typed into a search or a form would otherwise end as a 500. No field of ours has
a use for it. The collection API checks its messages one by one instead (a batch keeps its
valid messages), and is answered before this middleware.

The refusal names the field, in the form its asker reads: the API (`/api`, `/v1`) and other
programs get JSON; htmx's partial requests a fragment of HTML to swap in, answered 200 as htmx
swaps nothing else (the search box would keep the results of before); a browser asking for a
page of ours the app's error page, with the way back to the form and, for an ordinary form, the
choice to send it again without the character, the field shown as it would then be sent.
Nothing is stripped unasked: a name or an address quietly changed is worse than one refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import escape
from urllib.parse import parse_qsl, urlencode, urlsplit

import orjson
from fastapi.templating import Jinja2Templates
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cdp.forms import safe_next
from cdp.text import nul_character_at
from cdp.web import SESSION_COOKIE

_XML_TYPES = (b"application/xml", b"text/xml", b"application/x-adf+xml")
MAX_CHECKED_BODY = 1024 * 1024  # staff forms and API bodies are small; larger ones pass through
MAX_RESENT = 64 * 1024  # a form offered to be sent again, as hidden fields of the error page


def _field_with_nul(pairs: list[tuple[str, str]]) -> str | None:
    for name, value in pairs:
        if "\x00" in name or "\x00" in value:
            return name.replace("\x00", "") or "?"
    return None


@dataclass(frozen=True)
class Refused:
    """The first field holding a NUL; `form`, a form's fields as sent (query or urlencoded body),
    or None for a body of another kind."""

    field: str
    form: list[tuple[str, str]] | None = None
    filename: str | None = None  # the field is a file chosen for upload


def _form_refused(pairs: list[tuple[str, str]]) -> Refused | None:
    field = _field_with_nul(pairs)
    return Refused(field, pairs) if field is not None else None


class NulGuard:
    """`templates` renders the error page for browsers; without it every refusal is JSON."""

    def __init__(self, app: ASGIApp, templates: Jinja2Templates | None = None) -> None:
        self.app = app
        self.templates = templates

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query: bytes = scope.get("query_string", b"")
        if b"%00" in query:
            refused = _form_refused(parse_qsl(query.decode("latin-1"), keep_blank_values=True))
            if refused is not None:
                await self._refuse(scope, receive, send, refused)
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
        if size <= MAX_CHECKED_BODY and (refused := _body_refused(scope, body)):
            await self._refuse(scope, receive, send, refused)
            return

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, refused: Refused) -> None:
        headers = Headers(scope=scope)
        field = refused.field[:200]
        if self.templates is None or scope["path"].startswith(("/api", "/v1")):
            await _send(send, 400, b"application/json", _json_body(field))
        elif headers.get("hx-request") == "true":
            problem = _problem(field, page=False, filename=refused.filename)
            fragment = f'<p class="error" role="alert">{escape(problem)}</p>'
            await _send(send, 200, b"text/html; charset=utf-8", fragment.encode())
        elif "text/html" in headers.get("accept", ""):
            resend = _resend(scope, refused)
            request = Request(scope)
            page = self.templates.TemplateResponse(
                request,
                "error.html",
                {
                    # Who it is is not known here: with a session, the page offers no Sign in.
                    "maybe_signed_in": SESSION_COOKIE in request.cookies,
                    "status": 400,
                    "detail": _problem(
                        field, page=True, resend=resend is not None, filename=refused.filename
                    ),
                    "back_url": _back_url(headers),
                    "resend": resend,
                },
                status_code=400,
            )
            await page(scope, receive, send)
        else:
            await _send(send, 400, b"application/json", _json_body(field))


def _body_refused(scope: Scope, body: bytes) -> Refused | None:
    if b"%00" not in body and b"\\u0000" not in body and b"\x00" not in body:
        return None
    content_type = b""
    for name, value in scope.get("headers", []):
        if name == b"content-type":
            content_type = value.split(b";")[0].strip().lower()
    if content_type == b"application/x-www-form-urlencoded":
        return _form_refused(parse_qsl(body.decode("latin-1"), keep_blank_values=True))
    if content_type == b"application/json":
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None  # the route says what is wrong with it
        field = nul_character_at(data)
        return Refused(field) if field is not None else None
    if content_type in _XML_TYPES:
        return None  # XML holds no NUL character; a UTF-16 document's bytes do, legitimately
    if content_type == b"multipart/form-data" and b"\x00" in body:
        return _part_refused(body)
    return Refused("body") if b"\x00" in body else None


_DISPOSITION = re.compile(
    rb'content-disposition:[^\r\n]*?\bname="([^"]*)"(?:[^\r\n]*?\bfilename="([^"]*)")?', re.I
)


def _part_refused(body: bytes) -> Refused:
    """The part of a multipart form holding the NUL: a file (an .xlsx chosen instead of its CSV
    is all NUL bytes) is told apart from a typed field, whose advice is to type it again."""
    at = body.index(b"\x00")
    headers_end = body.rfind(b"\r\n\r\n", 0, at)
    parts = list(_DISPOSITION.finditer(body, 0, headers_end if headers_end >= 0 else at))
    found = parts[-1] if parts else None  # the last part that begins before the NUL
    if found is None:
        return Refused("body")
    field = found.group(1).decode("utf-8", "replace") or "body"
    filename = found.group(2)
    if filename is None:
        return Refused(field)
    return Refused(field, filename=filename.decode("utf-8", "replace") or "the file")


@dataclass(frozen=True)
class Resend:
    """The refused form, to send again without its NUL characters once the person has seen
    the fields that held them as they would be sent."""

    method: str
    action: str
    fields: list[tuple[str, str]]
    changed: list[tuple[str, str]]  # (label, value without NUL) of each field that held one


def _resend(scope: Scope, refused: Refused) -> Resend | None:
    """None where it is not offered: a body other than a form's, a big one, one holding a
    password (never written into a page), or an address that is not plainly one of ours."""
    path = safe_next(scope.get("root_path", "") + scope["path"], "", within="/")
    if not path or refused.form is None or scope["method"] not in ("GET", "POST"):
        return None
    if any("password" in name.lower() for name, _ in refused.form):
        return None
    if sum(len(name) + len(value) for name, value in refused.form) > MAX_RESENT:
        return None
    fields = [(name.replace("\x00", ""), value.replace("\x00", "")) for name, value in refused.form]
    changed = [
        (_label(clean[0]), clean[1])
        for (name, value), clean in zip(refused.form, fields, strict=True)
        if "\x00" in name or "\x00" in value
    ]
    if scope["method"] == "GET":
        return Resend("get", f"{path}?{urlencode(fields)}", [], changed)
    return Resend("post", path, fields, changed)


def _json_body(field: str) -> bytes:
    return orjson.dumps(
        {
            "error": "invalid input",
            "field": field,
            "detail": "contains a NUL character (%00), which is not allowed",
        }
    )


# Field names as people read them; any other name is read with its underscores as spaces.
_LABELS = {"q": "search", "text": "note"}


def _label(field: str) -> str:
    return _LABELS.get(field, field.replace("_", " ").strip() or "?")


def _problem(field: str, *, page: bool, resend: bool = False, filename: str | None = None) -> str:
    if filename is not None:
        return (
            f"The file {filename} is not a text file: it holds NUL bytes, as a spreadsheet "
            "(.xlsx) or another binary file does. Save it as CSV (comma-separated values) and "
            "choose that file."
        )
    what = (
        f"The {_label(field)} field holds an invisible control character (NUL, U+0000), which "
        "often comes along with text pasted from another program, so it was not accepted."
    )
    if not page:
        return what + " Type that text again instead of pasting it."
    if resend:
        return what + (
            " Go back and type that text again instead of pasting it, or send the form again"
            " without the character."
        )
    return what + " Go back and type that text again instead of pasting it."


def _back_url(headers: Headers) -> str:
    """The page the form was on (the Referer, when it is one of ours), else the start page."""
    referer = urlsplit(headers.get("referer", ""))
    if not referer.netloc or referer.netloc != headers.get("host"):
        return "/"
    return safe_next(referer.path + (f"?{referer.query}" if referer.query else ""), "/", within="/")


async def _send(send: Send, status: int, content_type: bytes, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
