"""Settings, read once from the environment (prefix CDP_)."""

import ipaddress
from functools import lru_cache

import phonenumbers
from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from cdp.identity.rules import (
    DEFAULT_CONSENT_CATEGORIES,
    DEFAULT_IDENTITY_LIMITS,
    IdentityRules,
    checked_consent_categories,
    checked_limits,
)

# What people paste from hosting dashboards, and the driver this product uses for it.
_POSTGRESQL_ALIASES = ("postgres://", "postgresql://", "postgresql+psycopg://")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CDP_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default="sqlite:///cdp.sqlite3",
        description="SQLAlchemy URL: sqlite:///file.db or postgresql+psycopg://user@host/db",
    )
    default_phone_region: str = Field(
        default="NL,BE",
        description="Regions tried in order for phone numbers written without a country code",
    )
    public_url: str = Field(
        default="http://127.0.0.1:8000", description="Base URL used in exported links"
    )
    db_pool_size: int = 10
    adf_delivery_seconds: float = Field(
        default=20.0,
        ge=0,
        description="How often each server process sends new leads to dealers' CRMs (0: never; "
        "then schedule `cdp leads deliver`)",
    )

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, url: str) -> str:
        url = url.strip()
        if url.startswith("sqlite:"):
            return url
        for alias in _POSTGRESQL_ALIASES:
            if url.startswith(alias):
                return "postgresql+psycopg://" + url.removeprefix(alias)
        scheme = url.partition(":")[0] or repr(url[:20])  # never echo a password
        raise ValueError(
            f"{scheme} is not a database this product runs on: use sqlite:///FILE "
            "or postgresql+psycopg://USER@HOST/DATABASE"
        )

    @field_validator("default_phone_region")
    @classmethod
    def _known_regions(cls, value: str) -> str:
        regions = [part.strip().upper() for part in value.split(",") if part.strip()]
        unknown = [region for region in regions if region not in phonenumbers.SUPPORTED_REGIONS]
        if not regions or unknown:
            raise ValueError(
                f"{', '.join(unknown) or 'nothing'} is not a region: give two-letter country "
                "codes, first the one most numbers are from (e.g. NL,BE)"
            )
        return ",".join(regions)

    share_customers_across_dealers: bool = Field(
        default=True,
        description=(
            "Staff of one dealer find customers of every dealer (the person is the brand's); "
            "false: only people with activity at their own dealers (docs/dealers.md)"
        ),
    )
    session_idle_minutes: int = Field(
        default=120, ge=5, description="Staff are signed out after this long without a request"
    )
    trusted_proxies: str = Field(
        default="",
        description=(
            "Reverse proxies (addresses or networks, comma-separated) whose X-Forwarded-For and "
            "X-Forwarded-Proto are believed; from anyone else they are ignored"
        ),
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_addresses(cls, value: str) -> str:
        proxies = []
        for proxy in (part.strip() for part in value.split(",")):
            try:
                if "/" in proxy:  # a network, written as the proxy code reads it (no host bits)
                    proxies.append(str(ipaddress.ip_network(proxy, strict=False)))
                elif proxy:
                    proxies.append(str(ipaddress.ip_address(proxy)))
            except ValueError:
                raise ValueError(
                    f"{proxy!r} is not an IP address or network: give the proxies' addresses, "
                    "comma-separated (e.g. 127.0.0.1,10.0.0.0/8)"
                ) from None
        return ",".join(proxies)

    # Rate limits (cdp/rate_limits.py): far above a busy brand's traffic, they stop a runaway
    # or hostile client before it costs the database anything. Counted per worker process.
    write_key_rate_limit: float = Field(
        default=2000,
        ge=0,
        description="Collection API (/v1) requests per second per write key, per worker "
        "process (a batch counts once); 0 is no limit",
    )
    write_key_burst: int = Field(
        default=4000, ge=1, description="Collection API requests a write key may send at once"
    )
    api_token_rate_limit: float = Field(
        default=100,
        ge=0,
        description="Profile API (/api) requests per second per API token, per worker process; "
        "0 is no limit",
    )
    api_token_burst: int = Field(
        default=200, ge=1, description="Profile API requests an API token may send at once"
    )

    identity_limits: dict[str, int] = Field(
        default_factory=lambda: dict(DEFAULT_IDENTITY_LIMITS),
        description='Most identifiers of a kind one profile holds, JSON: {"email": 3}; kinds '
        "not given keep their default (user_id 1, email 3, phone 3)",
    )
    consent_categories: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_CONSENT_CATEGORIES),
        description="Segment consent categories (context.consent.categoryPreferences) and the "
        'purpose each one is, JSON: {"C0002": "tracking", "newsletter": "email"}; replaces '
        "the default table",
    )

    # Retention (cdp.retention, `cdp retention run`): days each kind is kept; 0 keeps it forever.
    retention_anonymous_event_days: int = Field(
        default=395,
        ge=0,
        description="Events of visitors never linked to a person (no e-mail, phone or user id), "
        "by when they happened; 0 keeps them",
    )
    retention_idle_lead_days: int = Field(
        default=730,
        ge=0,
        description="Leads nobody changed for this long, with their stage changes and contact "
        "attempts; 0 keeps them",
    )
    retention_refused_message_days: int = Field(
        default=90, ge=0, description="Refused (quarantined) messages; 0 keeps them"
    )
    retention_audit_days: int = Field(
        default=1095,
        ge=0,
        description="Audit records (who did what to which profile); 0 keeps them",
    )
    retention_alert_days: int = Field(
        default=90,
        ge=0,
        description="Staff alerts (read or not), by when they were made; 0 keeps them",
    )

    @field_validator("identity_limits")
    @classmethod
    def _known_limits(cls, value: dict[str, int]) -> dict[str, int]:
        return checked_limits(value)

    @field_validator("consent_categories")
    @classmethod
    def _known_purposes(cls, value: dict[str, str]) -> dict[str, str]:
        return checked_consent_categories(value)

    def identity_rules(self) -> IdentityRules:
        return IdentityRules(
            limits=self.identity_limits, consent_categories=self.consent_categories
        )


class SettingsError(ValueError):
    """A setting from the environment (or .env) that cannot be used, said in one line."""


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        name = "CDP_" + str(first["loc"][0]).upper() if first["loc"] else "a CDP_ setting"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise SettingsError(f"{name}: {message}") from None
