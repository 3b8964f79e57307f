"""Browser-facing hardening: security headers on every answer, and API docs served from here.

The staff pages hold personal data, so a page of ours may not be framed, sniffed into another
type, made to run script from elsewhere or kept in a cache; `/docs` (Swagger UI) comes from a
pinned PyPI package instead of a CDN, so it works offline and under the same policy.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from swagger_ui_bundle import swagger_ui_path

SWAGGER_STATIC = "/static/vendor/swagger-ui"

# Our pages load scripts and styles only from here; style attributes carry chart widths and
# colour swatches (checked values), hence 'unsafe-inline' for styles only.
PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
# Swagger UI starts itself with one inline script.
DOCS_POLICY = PAGE_POLICY.replace("script-src 'self'", "script-src 'self' 'unsafe-inline'")

ALWAYS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}
# Staff pages, the profile API and downloads hold personal data: no browser cache (a shared
# showroom computer) or proxy may keep a copy. These paths hold nobody's: static files, and
# the collection API's answers.
STORABLE = ("/static/", "/v1/")


def install(app: FastAPI) -> None:
    """Add the headers middleware and the offline `/docs` page (create the app with
    docs_url=None and redoc_url=None)."""
    app.mount(SWAGGER_STATIC, StaticFiles(directory=str(swagger_ui_path)), name="swagger-ui")

    @app.get("/docs", include_in_schema=False)
    async def api_docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} API",
            swagger_js_url=f"{SWAGGER_STATIC}/swagger-ui-bundle.js",
            swagger_css_url=f"{SWAGGER_STATIC}/swagger-ui.css",
            swagger_favicon_url=f"{SWAGGER_STATIC}/favicon-32x32.png",
        )

    app.add_middleware(SecurityHeaders)


class SecurityHeaders:
    """Pure ASGI, not `@app.middleware("http")`: that one streams every response through a
    task group and memory channels, which cost the collection API a fifth of its CPU."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = DOCS_POLICY if scope["path"] == "/docs" else PAGE_POLICY
        storable = scope["path"].startswith(STORABLE)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in ALWAYS.items():
                    headers.setdefault(name, value)
                if not storable:
                    headers.setdefault("Cache-Control", "no-store")
                if headers.get("content-type", "").startswith("text/html"):
                    headers.setdefault("Content-Security-Policy", policy)
            await send(message)

        await self.app(scope, receive, send_with_headers)
