"""The settings analytics.js fetches before it sends anything.

analytics.js (Segment's browser library, `@segment/analytics-next`) first loads
`{cdnURL}/v1/projects/{writeKey}/settings`. With `cdnURL` pointed at this server, a website needs
nothing from Segment: the answer tells the library to deliver every event here, and to send no
usage metrics anywhere.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from cdp.api_answers import error_responses
from ingest.answers import CollectionError, error_answer

router = APIRouter(prefix="/v1", tags=["collection (Segment Tracking API)"])

# The settings are as public as the write key they are fetched with: any page may read them.
_CORS = {"Access-Control-Allow-Origin": "*", "Cache-Control": "max-age=60"}


def browser_settings(write_key: str, api_host: str, protocol: str) -> dict[str, Any]:
    """Deliver to `protocol://api_host/...`; no destinations, no usage metrics."""
    return {
        "integrations": {
            "Segment.io": {
                "apiKey": write_key,
                "apiHost": api_host,
                "protocol": protocol,
                "unbundledIntegrations": [],
                "addBundledMetadata": True,
                "maybeBundledConfigIds": {},
            }
        },
        "plan": {
            "track": {"__default": {"enabled": True, "integrations": {}}},
            "identify": {"__default": {"enabled": True}},
            "group": {"__default": {"enabled": True}},
        },
        "edgeFunction": {},
        "analyticsNextEnabled": True,
        "middlewareSettings": {},
        "enabledMiddleware": {},
        "metrics": {"sampleRate": 0},
        "legacyVideoPluginsEnabled": False,
        "remotePlugins": [],
    }


@router.get(
    "/projects/{write_key}/settings",
    summary="Settings for analytics.js",
    responses=error_responses(404, model=CollectionError),
)
async def settings_for_analytics_js(request: Request, write_key: str) -> Response:
    """Point analytics.js at this server: `AnalyticsBrowser.load({writeKey, cdnURL: "<this
    server>"})`. 404 for a write key that belongs to no active source."""
    state = request.app.state
    source = await run_in_threadpool(state.sources.lookup, state.sessionmaker, write_key)
    if source is None:
        return error_answer(
            404, "not found", "no active source has this write key", "writeKey", _CORS
        )
    base = str(request.base_url).rstrip("/")
    protocol, _, host = base.partition("://")
    answer = browser_settings(write_key, f"{host}/v1", protocol)
    return Response(orjson.dumps(answer), 200, headers=_CORS, media_type="application/json")
