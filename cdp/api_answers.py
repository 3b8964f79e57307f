"""The HTTP APIs' refusals as their OpenAPI description states them (/openapi.json, /docs).

Every refusal of the read API is `{"error": ..., "field": ..., "detail": ...}` (cdp/app.py's
handlers, the NUL guard, the rate limit); the collection API adds what Segment's libraries read
(ingest/answers.py). Documented here, the description matches what is sent: CI checks it by
fuzzing the API with schemathesis (tests/test_openapi_fuzz.py).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, Field


class ErrorOut(BaseModel):
    error: str = Field(description="The kind of problem, e.g. `invalid input`, `not found`")
    field: str | None = Field(description="The field, parameter or header at fault, if one is")
    detail: str = Field(description="What is wrong, said for people")


WHY = {
    400: "Invalid input (e.g. a NUL character), the field named",
    401: "No credentials, or unknown or revoked ones",
    403: "The credentials may not do this",
    404: "No such resource",
    413: "The body is over its size limit, the limit named",
    422: "A parameter or body field is invalid, the field named",
    429: "Over the rate limit of these credentials: wait Retry-After seconds and send again",
    503: "Too busy to store it now: wait Retry-After seconds and send again",
}
RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before sending again",
        "schema": {"type": "integer", "minimum": 1},
    }
}


def error_responses(
    *codes: int, model: type[BaseModel] = ErrorOut
) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route or router: each refusal it may send, in `model`'s shape."""
    return {
        code: {
            "model": model,
            "description": WHY[code],
            **({"headers": RETRY_AFTER} if code in (429, 503) else {}),
        }
        for code in codes
    }


_FASTAPI_422 = "#/components/schemas/HTTPValidationError"


def install_openapi(app: FastAPI) -> None:
    """FastAPI describes every 422 as its own `{"detail": [...]}`; ours is an ErrorOut (the
    validation handler in cdp/app.py), so the description says that instead."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            schemas = schema.setdefault("components", {}).setdefault("schemas", {})
            for path in schema.get("paths", {}).values():
                for operation in path.values():
                    answer = operation.get("responses", {}).get("422")
                    content = (answer or {}).get("content", {}).get("application/json", {})
                    if content.get("schema", {}).get("$ref") == _FASTAPI_422:
                        answer["description"] = WHY[422]
                        content["schema"] = {"$ref": "#/components/schemas/ErrorOut"}
                        schemas.setdefault(
                            "ErrorOut", ErrorOut.model_json_schema(ref_template="{model}")
                        )
            schemas.pop("HTTPValidationError", None)
            schemas.pop("ValidationError", None)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
