"""The collection API's answers: JSON bodies, and refusals in the shape Segment's libraries read
(error, detail, field, and code and message for the libraries that log those)."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import Response
from pydantic import BaseModel, Field

from cdp.ingestion.schemas import Rejection
from cdp.rate_limits import refusal_detail


class CollectionError(BaseModel):
    """A refusal of the collection API, as error_body writes it."""

    success: bool = Field(description="Always false")
    error: str = Field(description="The kind of problem, e.g. `unauthorized`")
    field: str | None = Field(description="The field or header at fault, if one is")
    detail: str = Field(description="What is wrong, said for people")
    code: str = Field(description="The same as `error`, for the libraries that log `code`")
    message: str = Field(description="`field: detail`, for the libraries that log `message`")
    rejected: list[Rejection] | None = Field(
        default=None, description="With 400 for invalid messages: each one and why"
    )


def json_answer(
    status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> Response:
    return Response(
        orjson.dumps(body), status_code=status, media_type="application/json", headers=headers
    )


def error_body(error: str, detail: str, field: str | None) -> dict[str, Any]:
    # `code` and `message` too: Segment's libraries read those to report a refusal.
    return {
        "success": False,
        "error": error,
        "field": field,
        "detail": detail,
        "code": error,
        "message": f"{field}: {detail}" if field else detail,
    }


def error_answer(
    status: int,
    error: str,
    detail: str,
    field: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    return json_answer(status, error_body(error, detail, field), headers)


def unauthorized() -> Response:
    return error_answer(401, "unauthorized", "unknown or inactive write key", "writeKey")


def unregistered(origin: str) -> Response:
    return error_answer(
        403, "forbidden", f"origin {origin} is not registered for this source", "Origin"
    )


def rate_limited(wait: int, rate: float, cors: dict[str, str] | None) -> Response:
    """429 with Retry-After: Segment's libraries wait that long and send the call again."""
    detail = refusal_detail(wait, rate, "write key")
    return error_answer(
        429, "rate limited", detail, "writeKey", {**(cors or {}), "Retry-After": str(wait)}
    )
