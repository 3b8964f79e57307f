"""The OpenAPI description matches what the API answers: schemathesis sends generated requests
(valid and invalid) to every operation of the in-process app, on each database, with a real
write key (/v1, HTTP Basic) and a real API token (/api, Bearer): no server error, and every
status code, header, content type and body as the description states."""

from __future__ import annotations

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from cdp.app import create_app
from cdp.config import Settings
from tests.helpers import make_source, make_token

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture()
def app(engine: Engine, session_factory: sessionmaker[Session], settings: Settings) -> FastAPI:
    return create_app(settings, engine=engine, session_factory=session_factory)


@pytest.fixture()
def credentials(session_factory: sessionmaker[Session]) -> dict[str, dict[str, str]]:
    """The Authorization header for each way in: the write key, and an administrator's token."""
    return {
        "/v1/": make_source(session_factory, kind="showroom").auth,
        "/api/": make_token(session_factory, role="admin"),
    }


# The description as /openapi.json serves it; each test sends its cases to an app on its own
# database (schemathesis's lazy fixture loader does not run on this pytest).
schema = schemathesis.openapi.from_dict(create_app(Settings()).openapi())
# Bounded to about a minute for both databases: fuzzing (valid and invalid requests) and the
# given examples; the coverage phase's hundreds of boundary cases per call are left out.
schema.config.phases.coverage.enabled = False


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_the_api_answers_as_its_openapi_description_says(
    case: schemathesis.Case, app: FastAPI, credentials: dict[str, dict[str, str]]
) -> None:
    prefix = "/v1/" if case.path.startswith("/v1/") else "/api/"
    case.call_and_validate(headers=credentials[prefix], checks=CHECKS, app=app)
