"""The application factory: routes, error handling, static files, templates."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from importlib.resources import files
from pathlib import Path

import phonenumbers
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.exceptions import HTTPException as StarletteHTTPException
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from cdp import api_answers, web_security
from cdp.alerts.delivery import AlertHub
from cdp.alerts.jobs import PeriodicJob, PeriodicJobs
from cdp.auth.service import SourceCache
from cdp.config import Settings, get_settings
from cdp.db import make_engine, make_sessionmaker, read_only_engine
from cdp.errors import CdpError
from cdp.leads import tally
from cdp.leads.channel_options import ChannelOptionsCache
from cdp.leads.sla_alerts import warn_about_slas
from cdp.local_time import to_local
from cdp.nul_guard import NulGuard
from cdp.rate_limits import ApiRateLimit, RateLimiter
from cdp.table_stats import StatisticsKeeper
from cdp.text import HEX_COLOUR, plural
from cdp.web import SESSION_COOKIE, LoginRequired, PageForbidden, is_htmx, render

TEMPLATES_DIR = Path(str(files("templates")))
STATIC_DIR = Path(__file__).parent / "static"
HTMX_DIR = Path(str(files("js_lib_htmx"))) / "static" / "htmx"


def local_format(moment: datetime, fmt: str = "%d-%m-%Y %H:%M") -> str:
    return to_local(moment).strftime(fmt)


def count_display(value: float | None, decimals: int | None = None) -> str:
    """A count as people read it, thousands separated: with `decimals` always that many (an
    expected 12.0 sales beside 6.5), else a tenth only where there is one."""
    if value is None:
        return "–"
    if decimals is not None:
        return f"{float(value):,.{decimals}f}"
    rounded = round(float(value), 1)
    return f"{rounded:,.0f}" if rounded.is_integer() else f"{rounded:,.1f}"


def _error_body(error: str, detail: object, field: str | None = None) -> dict[str, object]:
    return {"error": error, "field": field, "detail": detail}


def _wants_page(request: Request) -> bool:
    """A browser asking for a page (not the API, not htmx's partial requests)."""
    return (
        not request.url.path.startswith(("/api", "/v1"))
        and "text/html" in request.headers.get("accept", "")
        and not is_htmx(request)
    )


def phone_display(value: object) -> str:
    """+31612345678 -> +31 6 12345678: readable to call; anything unparseable as it is."""
    text = str(value or "")
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        return text
    if not phonenumbers.is_possible_number(number):
        return text
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def hex_colour(value: object, default: str = "#cccccc") -> str:
    """A CSS colour from data people can send: `#rrggbb` or the default, nothing else."""
    return value if isinstance(value, str) and HEX_COLOUR.fullmatch(value) else default


def create_app(
    settings: Settings | None = None,
    *,
    engine: Engine | None = None,
    session_factory: sessionmaker[Session] | None = None,
) -> FastAPI:
    """The app. Tests hand in an engine, or a session factory bound to a rolled-back connection."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own_engine = engine is None
        app.state.engine = engine or make_engine(
            settings.database_url, pool_size=settings.db_pool_size
        )
        app.state.sessionmaker = session_factory or make_sessionmaker(app.state.engine)
        app.state.read_sessionmaker = app.state.sessionmaker
        if own_engine:
            # Lookups only read (cdp/deps.py). The same pool; a connection is put back in its
            # transactions when it returns to it.
            app.state.read_sessionmaker = make_sessionmaker(read_only_engine(app.state.engine))
        # A server on its own database keeps the planner's statistics up with a new
        # installation's growth (tests hand in their engine, and their data is rolled back).
        keeper = StatisticsKeeper(app.state.engine)
        if own_engine:
            keeper.start()
            # Alerts reach open pages; jobs (the SLA check) run. Tests that hand in their
            # engine read alerts from their own rolled-back transaction instead.
            app.state.alert_hub.start(app.state.engine, app.state.sessionmaker)
            app.state.jobs.start(app.state.sessionmaker)
        yield
        await app.state.jobs.stop()
        await app.state.alert_hub.stop()
        await keeper.stop()
        if own_engine:
            app.state.engine.dispose()

    app = FastAPI(
        title="Car retail CDP",
        version="0.1.0",
        description=(
            "Collects configurator and showroom events (Segment Tracking API at /v1), "
            "resolves them to one profile per customer, and serves profiles to staff apps "
            "(/api, Bearer API token)."
        ),
        lifespan=lifespan,
        docs_url=None,  # served by cdp.web_security from a pinned package, not a CDN
        redoc_url=None,
    )
    templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
    # Times are stored in UTC and shown in the showroom's time zone.
    templates.env.filters["local"] = local_format
    templates.env.filters["hex_colour"] = hex_colour
    templates.env.filters["phone"] = phone_display
    templates.env.filters["count"] = count_display  # 1036667 -> 1,036,667
    templates.env.globals["plural"] = plural  # {{ n }} {{ plural(n, 'day') }}
    from ingest.fast_path import CollectionFastPath

    # Outermost last: security headers > collection fast path > API rate limit > NUL guard >
    # the app. The rate limits answer before anything reads a body.
    app.state.write_key_limits = RateLimiter(
        settings.write_key_rate_limit, settings.write_key_burst
    )
    app.add_middleware(NulGuard, templates=templates)  # a browser's refusal is a page
    app.add_middleware(
        ApiRateLimit,
        limiter=RateLimiter(settings.api_token_rate_limit, settings.api_token_burst),
    )
    app.add_middleware(CollectionFastPath)
    web_security.install(app)
    if settings.trusted_proxies:  # outermost: every part of the app sees the client's address
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)
    app.state.settings = settings
    app.state.sources = SourceCache()
    app.state.channel_options = ChannelOptionsCache()
    app.state.alert_hub = AlertHub()
    # Each worker checks speed to lead every minute (one at a time on PostgreSQL),
    # and sums the funnel's tally of the last minutes' changes (cdp/leads/tally.py).
    app.state.jobs = PeriodicJobs(
        [
            PeriodicJob("sla warnings", 60, warn_about_slas),
            PeriodicJob("funnel tally", tally.SETTLE_SECONDS, tally.settle_job),
        ]
    )
    app.state.templates = templates
    if engine is not None:  # the lifespan may not run in tests: make the state usable now
        app.state.engine = engine
        app.state.sessionmaker = session_factory or make_sessionmaker(engine)
        app.state.read_sessionmaker = app.state.sessionmaker

    @app.exception_handler(CdpError)
    async def cdp_error(_request: Request, exc: CdpError) -> JSONResponse:
        return JSONResponse(
            _error_body(exc.kind, exc.message, exc.field), status_code=exc.status_code
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        loc = [str(part) for part in first.get("loc", ()) if part not in ("query", "path", "body")]
        if _wants_page(request):  # a mistyped page address: a page, not JSON
            in_path = tuple(first.get("loc", ()))[:1] == ("path",)
            return render(
                request,
                "error.html",
                {
                    "status": 404 if in_path else 400,
                    "detail": "There is no such page. The link may be mistyped."
                    if in_path
                    else f"{'.'.join(loc) or 'The form'}: {first.get('msg')}",
                },
                status_code=404 if in_path else 400,
            )
        return JSONResponse(
            _error_body("invalid input", first.get("msg"), ".".join(loc) or None),
            status_code=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if not _wants_page(request):
            return JSONResponse(
                _error_body("not found" if exc.status_code == 404 else "error", exc.detail),
                status_code=exc.status_code,
            )
        templates: Jinja2Templates = request.app.state.templates
        return templates.TemplateResponse(
            request,
            "error.html",
            {"status": exc.status_code, "detail": exc.detail},
            status_code=exc.status_code,
        )

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> Response:
        target = f"/login?next={exc.next_url}"
        if is_htmx(request):
            return Response(status_code=204, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(PageForbidden)
    async def page_forbidden(request: Request, exc: PageForbidden) -> Response:
        return render(
            request,
            "error.html",
            {"status": exc.status_code, "detail": exc.message},
            status_code=exc.status_code,
        )

    # Every router of every area, mounted here and nowhere else (docs/architecture.md).
    from cdp.leads.routes import router as leads_api_router
    from cdp.profiles.routes import router as profiles_router
    from ingest.adf_routes import router as adf_router
    from ingest.browser_settings import router as browser_settings_router
    from ingest.routes import router as ingest_router
    from segmentation.audiences_routes import router as audiences_router
    from segmentation.exports_routes import router as exports_router
    from segmentation.routes import router as segments_router
    from showroom.admin_routes import router as admin_router
    from showroom.alerts_routes import router as alerts_router
    from showroom.audit_routes import router as audit_router
    from showroom.auth_routes import router as auth_router
    from showroom.channels_routes import router as channels_router
    from showroom.consent_routes import router as consent_router
    from showroom.crm_routes import router as crm_router
    from showroom.customer_routes import router as customer_router
    from showroom.deal_routes import router as deal_router
    from showroom.dealers_admin_routes import router as dealers_admin_router
    from showroom.deliveries_routes import router as deliveries_router
    from showroom.floor_routes import router as floor_router
    from showroom.funnel_routes import router as funnel_router
    from showroom.lead_export_routes import router as lead_export_router
    from showroom.leads_routes import router as leads_router
    from showroom.lookup_routes import router as lookup_router
    from showroom.merge_routes import router as merge_router
    from showroom.network_routes import router as network_router
    from showroom.planner_routes import router as planner_router
    from showroom.privacy_routes import router as privacy_router
    from showroom.routing_routes import router as routing_router
    from showroom.spend_entries_routes import router as spend_entries_router
    from showroom.spend_routes import router as spend_router
    from showroom.tablet_configure_routes import router as tablet_configure_router
    from showroom.tablet_routes import router as tablet_router
    from showroom.today_routes import router as today_router

    for router in (
        ingest_router,
        adf_router,
        browser_settings_router,
        profiles_router,
        leads_api_router,
        auth_router,
        lookup_router,
        customer_router,
        merge_router,
        consent_router,
        tablet_router,
        tablet_configure_router,
        admin_router,
        dealers_admin_router,
        privacy_router,
        audit_router,
        today_router,
        floor_router,
        leads_router,
        lead_export_router,
        crm_router,
        routing_router,
        deal_router,
        deliveries_router,
        funnel_router,
        planner_router,
        spend_router,
        spend_entries_router,
        alerts_router,
        network_router,
        channels_router,
        # The segments pages' three routers in this order: /segments/audiences/count must
        # match before /segments/{segment_id}/count.
        segments_router,
        audiences_router,
        exports_router,
    ):
        app.include_router(router)
    api_answers.install_openapi(app)
    app.mount("/static/vendor/htmx", StaticFiles(directory=HTMX_DIR), name="htmx")
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def home(request: Request) -> Response:
        if request.cookies.get(SESSION_COOKIE):
            return RedirectResponse("/start", status_code=303)
        return render(request, "home.html")

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
