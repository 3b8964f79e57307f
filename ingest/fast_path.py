"""The hot path: POST /v1/... goes straight to the collection handler, past FastAPI's routing."""

from __future__ import annotations

import logging

from fastapi import Request
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Receive, Scope, Send

from cdp.ingestion.schemas import (
    MESSAGE_TYPES,
)
from ingest.routes import collect

log = logging.getLogger(__name__)

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
        try:
            response = await collect(Request(scope, receive), endpoint)
        except ClientDisconnect:
            # Gone before its body arrived (a phone losing its signal): nothing was read, so
            # nothing stored, and nobody to answer. A line, not an error with a traceback.
            log.info("a client of %s disconnected before sending its whole body", scope["path"])
            return
        await response(scope, receive, send)
