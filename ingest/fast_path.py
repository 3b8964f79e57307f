"""The hot path: POST /v1/... goes straight to the collection handler, past FastAPI's routing."""

from __future__ import annotations

from fastapi import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from cdp.ingestion.schemas import (
    MESSAGE_TYPES,
)
from ingest.routes import collect

# POST paths of the collection API (long and one-letter forms) and their endpoint.
COLLECTION_PATHS = {
    path: endpoint
    for endpoint in (*MESSAGE_TYPES, "batch")
    for path in (f"/v1/{endpoint}", f"/v1/{endpoint[0]}")
}


class CollectionFastPath:
    """Pure ASGI middleware: POST /v1/... goes straight to the collection handler, past
    FastAPI's routing, dependency and exception layers, the hottest path of the product (they
    took a third of a worker's CPU for single messages). The routes stay registered for the
    OpenAPI docs; preflights (OPTIONS) and anything else go through the app as usual."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = None
        if scope["type"] == "http" and scope["method"] == "POST":
            endpoint = COLLECTION_PATHS.get(scope["path"])
        if endpoint is None:
            await self.app(scope, receive, send)
            return
        response = await collect(Request(scope, receive), endpoint)
        await response(scope, receive, send)
