"""FastAPI dependencies: the request's session, the settings, the API caller."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from cdp.auth.service import token_role
from cdp.config import Settings
from cdp.errors import NotAuthenticated
from cdp.models import ApiToken


def get_session(request: Request) -> Iterator[Session]:
    """One session per request: committed if the handler returns, rolled back if it raises."""
    session: Session = request.app.state.sessionmaker()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


DbSession = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]


# Declared as a security scheme, so the API documentation (/docs) can send a token.
_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="apiToken",
    description="An API token for staff apps: `cdp token create NAME --role ROLE` prints one.",
)


def api_caller(
    session: DbSession,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> ApiToken:
    secret = credentials.credentials.strip() if credentials is not None else ""
    if not secret:
        raise NotAuthenticated(
            "send an API token: Authorization: Bearer <token>", field="Authorization"
        )
    token = token_role(session, secret)
    if token is None:
        raise NotAuthenticated("unknown or revoked API token", field="Authorization")
    return token


ApiCaller = Annotated[ApiToken, Depends(api_caller)]
